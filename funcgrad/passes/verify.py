"""A checker for the invariants every pass keeps (used by tests and by
``Pipeline(..., verify=True)``)."""
from __future__ import annotations

from ..core.ir import Literal, Program, Var
from ._util import subprograms

__all__ = ["verify", "IRError"]


class IRError(AssertionError):
    """A Program breaks an invariant of the IR."""


def verify(program: Program, where: str = "program") -> Program:
    """Check that ``program`` is well formed: every variable defined once
    before it is read, literals 0-d, each equation's outputs of the shapes
    and dtypes its primitive's abstract evaluation gives, bodies likewise.
    Returns ``program``; raises :class:`IRError`."""
    defined = set()
    for v in list(program.const_vars) + list(program.in_vars):
        if v in defined:
            raise IRError(f"{where}: input {v} appears twice")
        defined.add(v)
    if len(program.consts) != len(program.const_vars):
        raise IRError(f"{where}: {len(program.const_vars)} constant variables, {len(program.consts)} values")
    for k, eqn in enumerate(program.eqns):
        name = f"{where}, equation {k} ({eqn.primitive.name})"
        for a in eqn.inputs:
            _check_atom(a, defined, name)
        for j, sub in enumerate(subprograms(eqn)):
            verify(sub, f"{name}, body {j}")
        try:
            expected = eqn.primitive.abstract_eval(*[a.aval for a in eqn.inputs], **eqn.params)
        except Exception as e:
            raise IRError(f"{name}: abstract evaluation fails: {type(e).__name__}: {e}") from e
        expected = list(expected) if eqn.primitive.multiple_results else [expected]
        if len(expected) != len(eqn.outputs):
            raise IRError(f"{name}: {len(eqn.outputs)} outputs, the primitive gives {len(expected)}")
        for o, want in zip(eqn.outputs, expected):
            if type(o) is not Var:
                raise IRError(f"{name}: output {o!r} is not a variable")
            if o.aval.shape != want.shape or o.aval.dtype != want.dtype:
                raise IRError(f"{name}: output {o.aval}, the primitive gives {want}")
            if o in defined:
                raise IRError(f"{name}: {o} assigned twice")
            defined.add(o)
    for a in program.out_atoms:
        _check_atom(a, defined, f"{where}, outputs")
    return program


def _check_atom(a, defined, where):
    if type(a) is Literal:
        if a.aval.shape != ():
            raise IRError(f"{where}: literal {a!r} is not 0-d")
    elif type(a) is Var:
        if a not in defined:
            raise IRError(f"{where}: {a} read before it is defined")
    else:
        raise IRError(f"{where}: {a!r} is neither a variable nor a literal")
