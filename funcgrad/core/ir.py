"""The intermediate representation: flat SSA equations over typed variables.

A :class:`Program` is plain data, like a jaxpr::

    { lambda c:f64[3] ; a:f32[2,3] b:f32[3]. let
        d:f32[2,3] = add a b
        e:f32[]    = reduce_sum[axes=(0, 1), keepdims=False] d
      in (e,) }

- ``in_vars`` are the inputs, ``const_vars`` the closed-over constants (their
  values are in ``consts``), ``eqns`` a list of :class:`Eqn`, ``out_atoms`` the
  outputs (variables or literals).
- An :class:`Eqn` applies one primitive to atoms with static ``params``.
- Every variable is assigned once. Transformations take a Program and return
  a new Program; backends evaluate or compile one.
"""
from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np

__all__ = ["ShapedArray", "Var", "Literal", "Eqn", "Program", "dead_code_elimination", "subprograms",
           "dtype_short_name"]

_SHORT = {
    "float16": "f16", "float32": "f32", "float64": "f64",
    "int8": "i8", "int16": "i16", "int32": "i32", "int64": "i64",
    "uint8": "u8", "uint16": "u16", "uint32": "u32", "uint64": "u64",
    "bool": "bool", "complex64": "c64", "complex128": "c128",
}


def dtype_short_name(dtype) -> str:
    dtype = np.dtype(dtype)
    return _SHORT.get(dtype.name, dtype.name)


class ShapedArray:
    """Abstract value: what tracing knows of an array (shape and dtype)."""

    __slots__ = ("shape", "dtype", "weak_type", "_hash", "size")

    def __init__(self, shape, dtype, weak_type: bool = False):
        self.shape = tuple(int(d) for d in shape)
        self.dtype = np.dtype(dtype)
        # weak: from a Python number; promotes like one (``x32 * s`` stays float32)
        self.weak_type = bool(weak_type)
        self._hash = hash((self.shape, self.dtype, self.weak_type))
        self.size = math.prod(self.shape)   # the element count

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def __eq__(self, other):
        return (isinstance(other, ShapedArray) and self.shape == other.shape and self.dtype == other.dtype
                and self.weak_type == other.weak_type)

    def __hash__(self):
        return self._hash

    def __repr__(self):
        return f"{dtype_short_name(self.dtype)}[{','.join(map(str, self.shape))}]"

    str_short = __repr__

    @staticmethod
    def of(value) -> "ShapedArray":
        value = np.asarray(value)
        return ShapedArray(value.shape, value.dtype)


_var_ids = itertools.count()


class Var:
    """A variable of the IR. Identity is the object; ``id`` orders them."""

    __slots__ = ("aval", "id")

    def __init__(self, aval: ShapedArray):
        self.aval = aval
        self.id = next(_var_ids)

    def __repr__(self):
        return f"Var({self.id}:{self.aval})"


class Literal:
    """A 0-d constant written inline in the program (e.g. ``mul a 2.0``)."""

    __slots__ = ("value", "aval")

    def __init__(self, value):
        value = np.asarray(value)
        if value.ndim != 0:
            raise ValueError("Literal values are 0-d")
        self.value = value[()]
        self.aval = ShapedArray((), value.dtype)

    def __repr__(self):
        v = self.value
        if self.aval.dtype.kind == "f":
            text = repr(float(v))
        elif self.aval.dtype.kind == "b":
            text = repr(bool(v))
        else:
            text = repr(int(v))
        return f"{text}:{dtype_short_name(self.aval.dtype)}"


Atom = Any  # Var | Literal


class Eqn:
    """``outs = primitive[params](*inputs)``."""

    __slots__ = ("primitive", "inputs", "outputs", "params", "source")

    def __init__(self, primitive, inputs, outputs, params, source=None):
        self.primitive = primitive
        self.inputs = list(inputs)
        self.outputs = list(outputs)
        self.params = params
        self.source = source  # (filename, lineno, function) of the user's code, or None

    def __repr__(self):
        return f"Eqn({self.primitive.name}, {self.inputs} -> {self.outputs})"


class Program:
    """A closed program: ``outs = f(*consts, *ins)``."""

    __slots__ = ("in_vars", "const_vars", "consts", "eqns", "out_atoms")

    def __init__(self, in_vars, const_vars, consts, eqns, out_atoms):
        self.in_vars = list(in_vars)
        self.const_vars = list(const_vars)
        self.consts = list(consts)
        self.eqns = list(eqns)
        self.out_atoms = list(out_atoms)

    @property
    def in_avals(self):
        return [v.aval for v in self.in_vars]

    @property
    def out_avals(self):
        return [a.aval for a in self.out_atoms]

    def __str__(self):
        return pretty_print(self)

    def _repr_pretty_(self, p, cycle):  # IPython
        p.text(str(self))

    def __repr__(self):
        return str(self)


def subprograms(eqn) -> list:
    """The Programs an equation's parameters hold (bodies, branches)."""
    found = []
    for v in eqn.params.values():
        if isinstance(v, Program):
            found.append(v)
        elif isinstance(v, tuple) and v and all(isinstance(p, Program) for p in v):
            found.extend(v)
    return found


# ----------------------------------------------------------------------------- printing

def _names():
    letters = "abcdefghijklmnopqrstuvwxyz"
    for n in itertools.count(1):
        for combo in itertools.product(letters, repeat=n):
            yield "".join(combo)


def _format_param(v):
    if isinstance(v, np.dtype):
        return dtype_short_name(v)
    if isinstance(v, type) and issubclass(v, np.generic):
        return dtype_short_name(v)
    if isinstance(v, Program):
        return "{ program }"
    return repr(v)


def pretty_print(program: Program, indent: int = 0) -> str:
    """The program as text; the bodies of control-flow equations are printed
    nested under their equation, sharing the variable names."""
    names: dict[Var, str] = {}
    gen = _names()

    def name(atom) -> str:
        if isinstance(atom, Literal):
            return repr(atom)
        if atom not in names:
            names[atom] = next(gen)
        return names[atom]

    def decl(v: Var) -> str:
        return f"{name(v)}:{v.aval}"

    def subprograms(params):
        for k, v in params.items():
            if isinstance(v, Program):
                yield k, v
            elif isinstance(v, tuple) and v and all(isinstance(p, Program) for p in v):
                for i, p in enumerate(v):
                    yield f"{k}[{i}]", p

    def block(prog: Program, depth: int) -> list:
        pad = " " * depth
        consts = " ".join(decl(v) for v in prog.const_vars)
        ins = " ".join(decl(v) for v in prog.in_vars)
        lines = [f"{pad}{{ lambda {consts + ' ' if consts else ''}; {ins}. let"]
        rows = []
        for eqn in prog.eqns:
            lhs = " ".join(decl(v) for v in eqn.outputs)
            shown = {k: v for k, v in eqn.params.items()
                     if not isinstance(v, Program) and not (isinstance(v, tuple) and v
                                                            and isinstance(v[0], Program))}
            params = "[" + ", ".join(f"{k}={_format_param(v)}" for k, v in shown.items()) + "]" if shown else ""
            rhs = f"{eqn.primitive.name}{params} " + " ".join(name(a) for a in eqn.inputs)
            nested = [(k, p) for k, p in subprograms(eqn.params)]
            rows.append((lhs, rhs.rstrip(), nested))
        width = max((len(l) for l, _, _ in rows), default=0)
        for lhs, rhs, nested in rows:
            lines.append(f"{pad}    {lhs.ljust(width)} = {rhs}")
            for k, p in nested:
                lines.append(f"{pad}        {k}:")
                lines.extend(block(p, depth + 10))
        outs = ", ".join(name(a) for a in prog.out_atoms)
        if len(prog.out_atoms) == 1:
            outs += ","
        lines.append(f"{pad}  in ({outs}) }}")
        return lines

    return "\n".join(block(program, indent))


# ----------------------------------------------------------------------------- passes

def dead_code_elimination(program: Program, *, has_effect=None, rewrite=None) -> Program:
    """Drop equations whose outputs no output depends on, and unused constants.

    Inputs are kept even when unused: they are the program's signature.
    ``has_effect(eqn)`` decides which equations stay regardless (default: the
    primitive's flag); ``rewrite(eqn)`` replaces each kept equation. (The
    pass ``funcgrad.passes.dce`` walks on its own: it also prunes the unused
    outputs of loops and branches.)
    """
    live = {a for a in program.out_atoms if isinstance(a, Var)}
    kept = []
    for eqn in reversed(program.eqns):
        if any(o in live for o in eqn.outputs) or (
                has_effect(eqn) if has_effect is not None else eqn.primitive.has_effect):
            kept.append(rewrite(eqn) if rewrite is not None else eqn)
            live.update(a for a in eqn.inputs if isinstance(a, Var))
    kept.reverse()
    const_vars, consts = [], []
    for v, c in zip(program.const_vars, program.consts):
        if v in live:
            const_vars.append(v)
            consts.append(c)
    return Program(program.in_vars, const_vars, consts, kept, program.out_atoms)
