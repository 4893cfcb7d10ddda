"""Numbers lifted out of generated source, so that programs that differ only in
sizes and constants share one compiled function.

The code generator writes a program's shapes and constants into its source
(``range(32)``, ``np.empty((32, 128), ...)``, ``K5 = np.float32(0.03125)``).
Two programs that differ only in the batch size then have different sources,
and each is compiled by Numba from scratch. :func:`lift` rewrites a module so
that those numbers are read at run time from two arrays the caller passes,
``_I`` (int64) and ``_F`` (float64):

- every integer literal of 2 or more in a function's body becomes a local
  ``N<k> = _I[k]``, one slot per occurrence, numbered in order: two sizes
  that happen to be equal (a batch of 64 and a layer of 64) are still two
  slots, so the lifted text does not depend on which sizes coincide; 0 and 1
  stay in the source, since they decide its structure (an axis of length 1
  has no loop, a one-element value is a scalar);
- every use of a module-level constant ``K<j> = np.<type>(<value>)`` of a
  float or signed/narrow integer type, other than 0, 1, nan and the
  infinities, becomes a local ``F<k> = np.<type>(_F[k])`` (or ``N<k> =
  np.<type>(_I[k])``), again one slot per use. Float32 values are exact in
  float64, so the value is the same; ``bool`` and ``uint64`` constants stay as
  they are.

The constants left in the source are renumbered in order (which of them the
code generator made, and so its numbering, can depend on the lifted ones).
Each function gets ``_I, _F`` as its first parameters, and the calls between
the functions of a module (the chunks of a large program) pass them on; a
call of a loop body's own module (``_body_<k>``) passes that body its slices.

Why this is exact: the lifted source with its two arrays *is* the original
source with the numbers substituted back (:func:`unlift` does that, and the
tests check it token by token). A program whose source lifts to the same text
reuses the compiled function with its own arrays; where a size change also
changes a decision the code generator made on the value (an axis that becomes
1, a loop large enough to run in parallel), the lifted text differs as well,
and the program compiles on its own.

What it costs: loop bounds and constants that LLVM no longer sees as
constants, and two more arguments per call: 0-16% per call and 30-50% more
compile time (``benchmarks/bench_shape_generic.py``). So the Numba backend
compiles a program's first sizes as they are, and the lifted module once a
second set of sizes turns up (``FUNCGRAD_SHAPE_GENERIC=auto``,
``numba_backend._generic_variant``).
"""
from __future__ import annotations

import io
import re
import tokenize
from dataclasses import dataclass

import numpy as np

__all__ = ["Lifted", "lift", "unlift"]

INT_NAME, FLOAT_NAME = "_I", "_F"

_CONST = re.compile(r"^(K\d+) = np\.(\w+)\((.*)\)$")
_LIFTED_INT = {"int8", "int16", "int32", "int64", "uint8", "uint16", "uint32"}
_LIFTED_FLOAT = {"float32", "float64"}


@dataclass
class Lifted:
    """A module's source with its numbers lifted out, and the numbers."""
    source: str
    ints: np.ndarray      # int64: the sizes N0, N1, ... and the integer constants, by slot
    floats: np.ndarray    # float64: the float constants F0, F1, ..., by slot
    stands_for: dict      # each lifted local -> the text it replaced (a number, or a K name)
    definitions: list     # (line, text) of the module-level K definitions taken out
    renamed: dict         # the K constants left in the source, renumbered: new name -> old

    @property
    def arrays(self) -> list:
        """The two arrays the module's functions take first."""
        return [self.ints, self.floats]


def lift(source: str, bodies=()) -> Lifted:
    """``source`` (a module written by ``CodeGenerator``) with its sizes and
    constants read from ``_I`` and ``_F`` (see the module's docstring).

    ``bodies``: ``(ints, floats)``, the counts of numbers lifted out of each
    module the source calls as ``_body_<k>`` (a loop body of its own); their
    numbers follow this module's own in ``_I`` and ``_F``, and each call
    passes its body its slices (``Lifted.ints`` holds this module's own
    numbers only: the caller appends the bodies')."""
    ints, floats = [], []
    lines = source.split("\n")
    consts: dict[str, tuple] = {}     # lifted K name -> (numpy type, value)
    definitions = []
    body_start = len(lines)
    for i, line in enumerate(lines):
        if line.startswith("@") or line.startswith("def "):
            body_start = i
            break
        m = _CONST.match(line)
        if m is None:
            continue
        name, kind, text = m.groups()
        value = eval(text, {"np": np})    # a number's repr, as the code generator wrote it
        if ((kind in _LIFTED_FLOAT and np.isfinite(value) and value not in (0.0, 1.0))
                or (kind in _LIFTED_INT and value not in (0, 1))):
            consts[name] = (kind, value)
            definitions.append((i, line))
    dropped = {i for i, _ in definitions}
    # the constants left in the source, renumbered in order: which of them
    # exist, and so the code generator's numbering, depends on the lifted ones
    # (two equal by chance are one K)
    kept = {}
    for i, line in enumerate(lines[:body_start]):
        m = _CONST.match(line)
        if m is not None and i not in dropped:
            kept[m.group(1)] = f"K{len(kept)}"
    renamed = {}

    functions = {line[4:line.index("(")] for line in lines[body_start:] if line.startswith("def ")}
    edits: dict[int, list] = {}           # line index -> [(col, end, replacement)]
    prologue: dict[str, list] = {}        # function -> the statements that read its lifted locals
    header_of: dict[int, str] = {}        # line index of each def -> its function's name
    calls = []                            # (name token, "(" token, no arguments) of each body call
    stands_for = {}
    current = None

    def local(tok, row, kind, value):
        """A new slot for ``value`` (an occurrence of ``tok``), and its local in place of it."""
        if kind in _LIFTED_FLOAT:
            name, read = f"F{len(floats)}", f"np.{kind}({FLOAT_NAME}[{len(floats)}])"
            floats.append(float(value))
        else:
            name = f"N{len(ints)}"
            read = f"{INT_NAME}[{len(ints)}]" if kind is None else f"np.{kind}({INT_NAME}[{len(ints)}])"
            ints.append(int(value))
        prologue[current].append(f"{name} = {read}")
        stands_for[name] = tok.string
        edits.setdefault(row, []).append((tok.start[1], tok.end[1], name))

    tokens = list(tokenize.generate_tokens(io.StringIO(source).readline))
    for t, tok in enumerate(tokens):
        row = tok.start[0] - 1
        if row < body_start:
            continue
        if tok.type == tokenize.NAME and tok.string == "def" and tok.start[1] == 0:
            current = tokens[t + 1].string
            header_of[row] = current
            prologue[current] = []
        elif current is None:
            continue
        elif tok.type == tokenize.NUMBER and tok.string.isdigit():
            if int(tok.string) >= 2:
                local(tok, row, None, int(tok.string))
        elif tok.type == tokenize.NAME and tokens[t - 1].string != ".":
            if tok.string.startswith("_body_") and tokens[t + 1].string == "(":
                calls.append((tok, tokens[t + 1], tokens[t + 2].string == ")"))
            elif tok.string in kept:
                if kept[tok.string] != tok.string:
                    renamed[kept[tok.string]] = tok.string
                    edits.setdefault(row, []).append((tok.start[1], tok.end[1], kept[tok.string]))
            elif tok.string in consts:
                # one slot per use too: two constants equal by chance (a mean's 1/10
                # and Adam's 1 - 0.9) are one K in the source, but two slots here
                local(tok, row, *consts[tok.string])
            elif (tok.string in functions and tokens[t - 1].string != "def"
                  and tokens[t + 1].string == "("):
                paren = tokens[t + 1]
                more = "" if tokens[t + 2].string == ")" else ", "
                edits.setdefault(paren.end[0] - 1, []).append(
                    (paren.end[1], paren.end[1], f"{INT_NAME}, {FLOAT_NAME}{more}"))

    # each body's slices of _I and _F, after this module's own numbers
    starts, at_i, at_f = [], len(ints), len(floats)
    for n_i, n_f in bodies:
        starts.append((at_i, at_i + n_i, at_f, at_f + n_f))
        at_i, at_f = at_i + n_i, at_f + n_f
    for tok, paren, empty in calls:
        a, b, c, d = starts[int(tok.string[len("_body_"):])]
        edits.setdefault(paren.end[0] - 1, []).append(
            (paren.end[1], paren.end[1], f"{INT_NAME}[{a}:{b}], {FLOAT_NAME}[{c}:{d}]" + ("" if empty else ", ")))

    out = []
    for i, line in enumerate(lines):
        if i in dropped:
            continue
        m = _CONST.match(line) if i < body_start else None
        if m is not None and kept[m.group(1)] != m.group(1):
            renamed[kept[m.group(1)]] = m.group(1)
            line = kept[m.group(1)] + line[len(m.group(1)):]
        for col, end, text in sorted(edits.get(i, ()), reverse=True):
            line = line[:col] + text + line[end:]
        if i in header_of:
            name = header_of[i]
            more = "" if line.endswith("():") else ", "
            out.append(line.replace(f"def {name}(", f"def {name}({INT_NAME}, {FLOAT_NAME}{more}", 1))
            out.extend("    " + stmt for stmt in prologue[name])
            continue
        out.append(line)
    return Lifted("\n".join(out), np.array(ints, np.int64), np.array(floats, np.float64),
                  stands_for, definitions, renamed)


_PROLOGUE = re.compile(rf"^    ([NF]\d+) = (?:np\.\w+\()?({INT_NAME}|{FLOAT_NAME})\[(\d+)\]\)?$")


def unlift(lifted: Lifted) -> str:
    """The source :func:`lift` was given, rebuilt from ``lifted``: each lifted
    local replaced by what it stood for, after checking that its slot holds
    that number (or that constant's value), and the constants' definitions put
    back. What the tests compare with the original."""
    arrays = {INT_NAME: lifted.ints, FLOAT_NAME: lifted.floats}
    values = {}
    consts = {}
    for _, line in lifted.definitions:
        name, kind, text = _CONST.match(line).groups()
        consts[name] = eval(text, {"np": np})
    lines = []
    for line in lifted.source.split("\n"):
        m = _PROLOGUE.match(line)
        if m is None:
            lines.append(line)
            continue
        local, array, slot = m.group(1), m.group(2), int(m.group(3))
        value = arrays[array][slot]
        text = lifted.stands_for[local]
        expected = consts[text] if text in consts else int(text)
        if value != expected:
            raise AssertionError(f"{local} holds {value}, not {text} = {expected}")
        values[local] = text
    src = "\n".join(lines)
    src = re.sub(rf"{INT_NAME}\[\d+:\d+\], {FLOAT_NAME}\[\d+:\d+\](, )?", "", src)   # body calls
    src = src.replace(f"({INT_NAME}, {FLOAT_NAME}, ", "(").replace(f"({INT_NAME}, {FLOAT_NAME})", "()")
    src = re.sub(r"\bK\d+\b", lambda m: lifted.renamed.get(m.group(0), m.group(0)), src)
    src = re.sub(r"\b[NF]\d+\b", lambda m: values.get(m.group(0), m.group(0)), src)
    lines = src.split("\n")
    for i, line in lifted.definitions:         # in increasing order: each lands where it stood
        lines.insert(i, line)
    return "\n".join(lines)
