"""Common-subexpression elimination.

Two equations are the same computation when they apply the same primitive,
with equal parameters, to the same inputs: variables by identity, literals by
dtype and value bytes (so ``0.0`` and ``-0.0`` differ). The later one goes and
its outputs are read from the earlier one's. Parameters that are programs
(loop bodies, branches) compare by their structure
(:func:`funcgrad.program_cache.structure_key`, literal values included).
Operands of commutative primitives (``add``, ``mul``, ``max``, ``min``,
``and``, ``or``, ``xor``, ``eq``, ``ne``) are compared as a set: ``a + b`` is
``b + a`` (exactly so in IEEE arithmetic).

Never merged: equations with an effect (``Primitive.has_effect``, in them or
in their bodies), and control flow whose bodies capture constants (their
structural key leaves constants' values out). Random numbers are the
stateless ``threefry2x32`` hash of a key and a counter, so equal calls are
equal values and merge.

Bodies are handled one by one, each its own scope (a closed program sees only
its own inputs).
"""
from __future__ import annotations

from ..core.ir import Program, Var
from ..primitives.elementwise import (add_p, and_p, eq_p, max_p, min_p, mul_p, ne_p, or_p, xor_p)
from ..program_cache import _param_key
from ._util import has_effect, literal_key, map_subprograms, rebuild, subprograms, subst, with_inputs

__all__ = ["cse"]

_COMMUTATIVE = frozenset({add_p, mul_p, max_p, min_p, and_p, or_p, xor_p, eq_p, ne_p})


def cse(program: Program) -> Program:
    """``program`` with repeated computations merged (a new Program)."""
    return _cse(program, {})


def _cse(program: Program, memo: dict) -> Program:
    env: dict = {}
    seen: dict = {}
    eqns = []
    for eqn in program.eqns:
        e = with_inputs(eqn, [subst(env, a) for a in eqn.inputs])
        e = map_subprograms(e, lambda p: _cse(p, memo), memo)
        key = _key(e)
        if key is not None:
            first = seen.get(key)
            if first is not None:
                for o, f in zip(e.outputs, first.outputs):
                    env[o] = f
                continue
            seen[key] = e
        eqns.append(e)
    return rebuild(program, eqns, env)


def _atom_key(a):
    return a if type(a) is Var else literal_key(a)


def _order(k):
    return (0, k.id, ()) if type(k) is Var else (1, 0, k)


def _key(eqn):
    if has_effect(eqn) or any(p.consts for p in subprograms(eqn)):
        return None
    inputs = [_atom_key(a) for a in eqn.inputs]
    if eqn.primitive in _COMMUTATIVE:
        inputs.sort(key=_order)
    try:
        params = tuple(sorted((k, type(v), _param_key(v)) for k, v in eqn.params.items()))
        key = (eqn.primitive, params, tuple(inputs))
        hash(key)
    except TypeError:   # an unhashable parameter: never merged
        return None
    return key
