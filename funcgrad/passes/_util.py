"""Helpers shared by the passes: substitution, sub-programs, effects."""
from __future__ import annotations

from ..core.ir import Eqn, Literal, Program, Var
from ..core.ir import subprograms  # noqa: F401 (re-exported for the passes)


def subst(env: dict, atom):
    """``atom`` after the replacements recorded in ``env`` (Var -> atom)."""
    if type(atom) is Var:
        return env.get(atom, atom)
    return atom


def with_inputs(eqn: Eqn, inputs) -> Eqn:
    """``eqn`` reading ``inputs``: the same object when nothing changed, else
    a new Eqn (the input Eqn is never modified)."""
    if all(a is b for a, b in zip(inputs, eqn.inputs)):
        return eqn
    return Eqn(eqn.primitive, inputs, eqn.outputs, eqn.params, eqn.source)


def map_subprograms(eqn: Eqn, fn, memo: dict) -> Eqn:
    """``eqn`` with every Program among its parameters (loop bodies, branches)
    replaced by ``fn(program)``; ``memo`` (id -> result) keeps one body shared
    by several equations shared. The same Eqn when nothing changed."""
    params, changed = {}, False
    for k, v in eqn.params.items():
        if isinstance(v, Program):
            new = _mapped(v, fn, memo)
            changed |= new is not v
            params[k] = new
        elif isinstance(v, tuple) and v and all(isinstance(p, Program) for p in v):
            new = tuple(_mapped(p, fn, memo) for p in v)
            changed |= any(a is not b for a, b in zip(new, v))
            params[k] = new
        else:
            params[k] = v
    if not changed:
        return eqn
    return Eqn(eqn.primitive, eqn.inputs, eqn.outputs, params, eqn.source)


def _mapped(program, fn, memo):
    key = id(program)
    hit = memo.get(key)
    if hit is not None and hit[0] is program:
        return hit[1]
    out = fn(program)
    memo[key] = (program, out)   # the program itself is kept: its id stays unique
    return out


def has_effect(eqn: Eqn) -> bool:
    """Whether ``eqn`` or an equation of one of its bodies has an effect."""
    if eqn.primitive.has_effect:
        return True
    return any(has_effect(e) for p in subprograms(eqn) for e in p.eqns)


def literal_key(lit: Literal) -> tuple:
    """Literals are equal when dtype and value bytes are (so -0.0 != 0.0 and
    NaN == NaN of the same bits)."""
    return ("L", lit.aval.dtype.str, lit.value.tobytes())


def rebuild(program: Program, eqns, env: dict) -> Program:
    """A new Program with ``program``'s signature, ``eqns``, and outputs
    substituted through ``env``."""
    return Program(program.in_vars, program.const_vars, program.consts, eqns,
                   [subst(env, a) for a in program.out_atoms])
