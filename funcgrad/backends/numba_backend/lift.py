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
- every module-level constant ``K<j> = np.<type>(<value>)`` of a float or
  signed/narrow integer type, other than 0, 1, nan and the infinities,
  becomes a local ``K<j> = np.<type>(_F[k])`` (or ``_I[k]``) in each function
  that reads it. Float32 values are exact in float64, so the value is the
  same; ``bool`` and ``uint64`` constants stay as they are.

Each function gets ``_I, _F`` as its first parameters, and the calls between
the functions of a module (the chunks of a large program) pass them on.

Why this is exact: the lifted source with its two arrays *is* the original
source with the numbers substituted back (:func:`unlift` does that, and the
tests check it token by token). A program whose source lifts to the same text
reuses the compiled function with its own arrays; where a size change also
changes a decision the code generator made on the value (an axis that becomes
1, a loop large enough to run in parallel), the lifted text differs as well and the program compiles on its own.

What it costs: loop bounds and constants that LLVM no longer sees as
constants (measured in ``benchmarks/README.md``), and two more arguments per
call.
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
    ints: np.ndarray      # int64, the values of N0, N1, ... (and of integer K constants)
    floats: np.ndarray    # float64, the values of the lifted float K constants

    @property
    def arrays(self) -> list:
        """The two arrays the module's functions take first."""
        return [self.ints, self.floats]


class _Slots:
    def __init__(self):
        self.values: list = []

    def new(self, value) -> int:
        """A slot of its own for ``value``."""
        self.values.append(value)
        return len(self.values) - 1


def lift(source: str) -> Lifted:
    """``source`` (a module written by ``CodeGenerator``) with its sizes and
    constants read from ``_I`` and ``_F`` (see the module's docstring)."""
    ints, floats = _Slots(), _Slots()
    lines = source.split("\n")
    consts: dict[str, str] = {}       # lifted K name -> the statement that defines it in a function
    dropped: set[int] = set()         # lines of the lifted constants' module-level definitions
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
        if kind in _LIFTED_FLOAT and np.isfinite(value) and value not in (0.0, 1.0):
            consts[name] = f"{name} = np.{kind}({FLOAT_NAME}[{floats.new(float(value))}])"
            dropped.add(i)
        elif kind in _LIFTED_INT and value not in (0, 1):
            consts[name] = f"{name} = np.{kind}({INT_NAME}[{ints.new(int(value))}])"
            dropped.add(i)

    functions = {line[4:line.index("(")] for line in lines[body_start:] if line.startswith("def ")}
    edits: dict[int, list] = {}           # line index -> [(col, end, replacement)]
    uses: dict[str, set] = {}             # function -> the lifted locals it reads
    header_of: dict[int, str] = {}        # line index of each def -> its function's name
    current = None
    tokens = list(tokenize.generate_tokens(io.StringIO(source).readline))
    for t, tok in enumerate(tokens):
        row = tok.start[0] - 1
        if row < body_start:
            continue
        if tok.type == tokenize.NAME and tok.string == "def" and tok.start[1] == 0:
            current = tokens[t + 1].string
            header_of[row] = current
            uses[current] = set()
        elif current is None:
            continue
        elif tok.type == tokenize.NUMBER and tok.string.isdigit():
            value = int(tok.string)
            if value >= 2:
                name = f"N{ints.new(value)}"
                uses[current].add(name)
                edits.setdefault(row, []).append((tok.start[1], tok.end[1], name))
        elif tok.type == tokenize.NAME and tokens[t - 1].string != ".":
            if tok.string in consts:
                uses[current].add(tok.string)
            elif (tok.string in functions and tokens[t - 1].string != "def"
                  and tokens[t + 1].string == "("):
                paren = tokens[t + 1]
                more = "" if tokens[t + 2].string == ")" else ", "
                edits.setdefault(paren.end[0] - 1, []).append(
                    (paren.end[1], paren.end[1], f"{INT_NAME}, {FLOAT_NAME}{more}"))

    out = []
    for i, line in enumerate(lines):
        if i in dropped:
            continue
        for col, end, text in sorted(edits.get(i, ()), reverse=True):
            line = line[:col] + text + line[end:]
        out.append(line)
        if i in header_of:
            name = header_of[i]
            more = "" if line.endswith("():") else ", "
            out[-1] = line.replace(f"def {name}(", f"def {name}({INT_NAME}, {FLOAT_NAME}{more}", 1)
            for local in sorted(uses[name], key=lambda n: (n[0], int(n[1:]))):
                out.append("    " + (consts[local] if local in consts
                                     else f"{local} = {INT_NAME}[{local[1:]}]"))
    return Lifted("\n".join(out), np.array(ints.values, np.int64), np.array(floats.values, np.float64))


def unlift(lifted: Lifted) -> str:
    """The source :func:`lift` was given, rebuilt from ``lifted`` by writing
    its numbers back (what the tests compare against the original)."""
    values = {INT_NAME: [str(int(v)) for v in lifted.ints],
              FLOAT_NAME: [repr(float(v)) for v in lifted.floats]}
    prologue = re.compile(rf"^    (?:(N\d+) = {INT_NAME}\[(\d+)\]|(K\d+ = np\.\w+)\(({INT_NAME}|{FLOAT_NAME})\[(\d+)\]\))$")
    lines, consts, named = [], [], {}
    for line in lifted.source.split("\n"):
        m = prologue.match(line)
        if m is None:
            lines.append(line)
        elif m.group(1):
            named[m.group(1)] = values[INT_NAME][int(m.group(2))]
        else:
            consts.append(f"{m.group(3)}({values[m.group(4)][int(m.group(5))]})")
    src = "\n".join(lines).replace(f"({INT_NAME}, {FLOAT_NAME}, ", "(").replace(f"({INT_NAME}, {FLOAT_NAME})", "()")
    src = re.sub(r"\bN\d+\b", lambda m: named[m.group(0)], src)
    # the constants back at module level, in their order
    lines = src.split("\n")
    at = [i for i, line in enumerate(lines) if _CONST.match(line)]
    first = at[0] if at else next(i for i, line in enumerate(lines) if line.startswith(("@", "def ")))
    kept = [lines[i] for i in at]
    everything = sorted(set(kept) | set(consts), key=lambda line: int(line[1:line.index(" ")]))
    lines = [line for i, line in enumerate(lines) if i not in set(at)]
    if not at:
        everything = everything + [""] if everything else []
    return "\n".join(lines[:first] + everything + lines[first:])
