"""Dead-code elimination, bodies of control flow included.

An equation stays when an output of the program (or of a later equation
that stays) reads one of its outputs, or when it has an effect (in it or in
one of its bodies). Unused captured constants go; inputs stay, used or not
(they are the program's signature, and a body's inputs are its operands).
The top-level walk is :func:`funcgrad.core.ir.dead_code_elimination`'s, which
tracing uses; this one also enters the bodies of the equations it keeps.
"""
from __future__ import annotations

from ..core.ir import Program, dead_code_elimination
from ._util import has_effect, map_subprograms

__all__ = ["dce"]


def dce(program: Program) -> Program:
    """``program`` without its dead equations (a new Program)."""
    return _dce(program, {})


def _dce(program: Program, memo: dict) -> Program:
    return dead_code_elimination(program, has_effect=has_effect,
                                 rewrite=lambda eqn: map_subprograms(eqn, lambda p: _dce(p, memo), memo))
