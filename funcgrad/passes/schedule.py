"""Scheduling: equations that read only the program's inputs move to their first use.

Tracing records an equation where the user's code computed it. An equation
whose operands are all inputs, captured constants or literals (Adam's
``b1 * m`` of the old moment, a ``1 - b1 ** t``, a reshape of an input) is
often computed long before anything reads it, and sits among unrelated
equations: the fusion planner then fuses it into whatever loop happens to
have the same shape there, a choice that depends on sizes (a batch of 64
meets the 64 x 128 weight's moment) rather than on the computation, and so
changes the generated code when only the batch size changed. Moved to just
before its first consumer, it joins the loop of the values it is combined
with, which is also where its result is needed (less live memory).

Only equations without effects move; one that feeds nothing but the
program's outputs goes to the end, in its original order. Equations are
reordered, never changed; bodies of control flow are scheduled on their own.
"""
from __future__ import annotations

from ..core.ir import Program, Var
from ._util import has_effect, map_subprograms

__all__ = ["schedule"]


def schedule(program: Program) -> Program:
    """``program`` with its input-only equations moved to their first use (a new Program)."""
    return _schedule(program, {})


def _schedule(program: Program, memo: dict) -> Program:
    eqns = [map_subprograms(e, lambda p: _schedule(p, memo), memo) for e in program.eqns]
    computed = set()          # outputs of the equations placed so far
    pending = {}              # output var -> the input-only equation waiting to be placed
    placed = []

    def place(eqn):
        for a in eqn.inputs:
            if type(a) is Var and a in pending:
                place_pending(pending[a])
        placed.append(eqn)
        computed.update(eqn.outputs)

    def place_pending(eqn):
        for o in eqn.outputs:
            pending.pop(o, None)
        place(eqn)

    for eqn in eqns:
        if not has_effect(eqn) and not any(type(a) is Var and (a in computed or a in pending)
                                           for a in eqn.inputs):
            for o in eqn.outputs:      # reads only inputs, constants and literals: wait
                pending[o] = eqn
            continue
        place(eqn)
    rest = []
    for eqn in eqns:                      # what only the outputs read: at the end, in order
        if any(o in pending for o in eqn.outputs):
            for o in eqn.outputs:
                pending.pop(o, None)
            rest.append(eqn)
    placed.extend(rest)
    if all(a is b for a, b in zip(placed, program.eqns)):
        return program
    return Program(program.in_vars, program.const_vars, program.consts, placed, program.out_atoms)
