"""Inlining of call equations (``custom_jvp_call``, ``custom_vjp_call``,
``checkpoint``: :mod:`funcgrad.primitives.calls`).

A call equation applies a closed program to its operands. Once a program is
about to be lowered, the transformations are done and the call means no
more than its program: :func:`inline_calls` replaces each call equation by
the equations of its program, with the program's inputs read from the
call's operands and fresh variables for everything it defines (a program
inlined twice defines its values twice), and the call's outputs read from
the program's outputs. Calls inside calls, and inside the bodies of loops
and branches (each body rewritten on its own, its signature kept), are
inlined too.

The backends run it *after* the pass pipeline (which optimizes every call
body on its own, as it does loop bodies), so that nothing merges the
recomputation a ``checkpoint`` puts in a backward pass with the forward
values it replaces.

:func:`inline_custom_calls`, the pipeline's first pass, inlines the calls of
custom derivatives (``custom_jvp_call``, ``custom_vjp_call``) only: after
the transformations they are plain code, and once inlined, CSE merges what
their forward part shares with the backward pass (the LU factorization of
``solve``'s forward pass and the one its transposed JVP computes again).
"""
from __future__ import annotations

from ..core.ir import Eqn, Literal, Program, Var
from ..primitives.calls import CALL_BODY, custom_jvp_call_p, custom_vjp_call_p
from ._util import map_subprograms, subprograms, subst

__all__ = ["inline_calls", "inline_custom_calls"]


def inline_calls(program: Program, kinds=None) -> Program:
    """``program`` without call equations (a new Program; the same object
    when it has none, in it or in its bodies); ``kinds``: only the calls of
    these primitives."""
    return _inline(program, {}, {}, frozenset(CALL_BODY) if kinds is None else frozenset(kinds))


def inline_custom_calls(program: Program) -> Program:
    """``program`` with its ``custom_jvp_call`` and ``custom_vjp_call``
    equations inlined (``checkpoint`` calls stay)."""
    return inline_calls(program, (custom_jvp_call_p, custom_vjp_call_p))


def _has_calls(program: Program, seen: dict, kinds) -> bool:
    key = id(program)
    hit = seen.get(key)
    if hit is not None and hit[0] is program:
        return hit[1]
    found = False
    for e in program.eqns:
        if e.primitive in kinds:
            found = True
            break
        if any(_has_calls(p, seen, kinds) for p in subprograms(e)):
            found = True
            break
    seen[key] = (program, found)   # the program itself is kept: its id stays unique
    return found


def _memo_inline(program: Program, memo: dict, has: dict, kinds) -> Program:
    """``_inline(program)``, once per program object (a body shared by
    several equations, a function called several times)."""
    hit = memo.get(id(program))
    if hit is not None and hit[0] is program:
        return hit[1]
    out = _inline(program, memo, has, kinds)
    memo[id(program)] = (program, out)
    return out


def _inline(program: Program, memo: dict, has: dict, kinds) -> Program:
    """``memo``: the bodies rewritten so far (``map_subprograms``'s memo);
    ``has``: which programs hold calls."""
    if not _has_calls(program, has, kinds):
        return program
    env: dict = {}
    eqns: list = []
    for eqn in program.eqns:
        inputs = [subst(env, a) for a in eqn.inputs]
        param = CALL_BODY.get(eqn.primitive) if eqn.primitive in kinds else None
        if param is None:
            e = eqn if all(a is b for a, b in zip(inputs, eqn.inputs)) else Eqn(
                eqn.primitive, inputs, eqn.outputs, eqn.params, eqn.source)
            eqns.append(map_subprograms(e, lambda p: _inline(p, memo, has, kinds), memo))
            continue
        body = _memo_inline(eqn.params[param], memo, has, kinds)
        if body.const_vars:   # pragma: no cover - call programs are closed
            raise AssertionError(f"inline_calls: the program of a {eqn.primitive.name} equation "
                                 "captures constants")
        outs = _splice(body, inputs, eqns)
        for o, a in zip(eqn.outputs, outs):
            env[o] = a
    return Program(program.in_vars, program.const_vars, program.consts, eqns,
                   [subst(env, a) for a in program.out_atoms])


def _splice(body: Program, inputs, eqns: list) -> list:
    """Append ``body``'s equations to ``eqns``, reading its inputs from
    ``inputs`` and defining fresh variables; returns its output atoms."""
    rename = dict(zip(body.in_vars, inputs))

    def read(a):
        return a if type(a) is Literal else rename[a]

    for e in body.eqns:
        outputs = [Var(v.aval) for v in e.outputs]
        eqns.append(Eqn(e.primitive, [read(a) for a in e.inputs], outputs, e.params, e.source))
        rename.update(zip(e.outputs, outputs))
    return [read(a) for a in body.out_atoms]
