"""Forward mode: the Jacobian-vector product of a Program.

:func:`jvp_program` is an interpreter, like ``backward_pass``: it walks the
program's equations in order and, for each, binds the primitive on the
primal values and applies the primitive's JVP rule to the tangents. Under a
trace (``funcgrad.jvp`` traces it), it records one program computing the
outputs and their tangents together.

A tangent is ``None`` where it is known to be zero (a "symbolic zero"): an
integer or boolean value, a constant, a ``stop_gradient``, or anything
computed from those only. An equation none of whose inputs has a tangent is
bound as it is, and an equation whose outputs are all integer or boolean
gets no rule at all.

Rules live in :data:`jvp_rules`, keyed by the primitive object::

    jvp_rules[sin_p] = lambda primals, tangents: (sin(x), mul(t, cos(x)))

``rule(primals, tangents, **params) -> (primal_out, tangent_out)``:
``primals`` and ``tangents`` are lists (a tangent may be ``None``, and then
the rule treats it as zero); a rule returns the primitive's output (usually
``prim.bind(*primals, **params)``) and its tangent (``None`` for zero). For
a primitive with ``multiple_results``, both are lists. Rules are written with
primitives, so that they can themselves be traced and transformed again
(``jacfwd(jacfwd(f))``, ``jvp`` of ``grad``).
"""
from __future__ import annotations

import numpy as np

from ...core.ir import Literal, Program, ShapedArray, Var
from ...core.trace import aval_of
from ...errors import FuncgradError, UnsupportedError

__all__ = ["jvp_rules", "jvp_program", "zeros", "instantiate", "linear_rule"]

jvp_rules: dict = {}


class InternalError(FuncgradError, AssertionError):
    """A JVP rule broke its contract (a bug in funcgrad, not in user code)."""


def zeros(aval: ShapedArray):
    """A zero array of ``aval``'s shape and dtype (built with primitives, so a traced value)."""
    from ...primitives import broadcast_to

    return broadcast_to(np.zeros((), aval.dtype), aval.shape)


def instantiate(tangent, like):
    """``tangent``, or zeros shaped like ``like`` (a value or an aval) for a symbolic zero."""
    if tangent is not None:
        return tangent
    return zeros(like if isinstance(like, ShapedArray) else aval_of(like))


def linear_rule(prim):
    """The JVP rule of a primitive linear in all its operands jointly (``neg``,
    ``reshape``, ``reduce_sum``, ``pad`` with a zero padding value...): the tangent is the
    primitive applied to the tangents, zeros instantiated."""
    def rule(primals, tangents, **params):
        out = prim.bind(*primals, **params)
        if all(t is None for t in tangents):
            return out, None
        tans = [instantiate(t, x) for t, x in zip(tangents, primals)]
        return out, prim.bind(*tans, **params)
    return rule


def _has_tangent(aval: ShapedArray) -> bool:
    return aval.dtype.kind == "f"


def jvp_program(program: Program, primals, tangents):
    """Evaluate ``program`` at ``primals`` and push ``tangents`` (one per input,
    ``None`` for zero) forward. Returns ``(outputs, output_tangents)``, the
    latter with ``None`` for outputs whose tangent is zero."""
    env, tan = {}, {}

    def read(a):
        return a.value if type(a) is Literal else env[a]

    def read_tangent(a):
        return None if type(a) is Literal else tan.get(a)

    for v, c in zip(program.const_vars, program.consts):
        env[v] = c
    for v, x, t in zip(program.in_vars, primals, tangents):
        env[v] = x
        if t is not None and _has_tangent(v.aval):
            tan[v] = t

    for eqn in program.eqns:
        prim = eqn.primitive
        invals = [read(a) for a in eqn.inputs]
        tans = [read_tangent(a) for a in eqn.inputs]
        if all(t is None for t in tans) or not any(_has_tangent(v.aval) for v in eqn.outputs):
            outs = prim.bind(*invals, **eqn.params)
            outs = outs if prim.multiple_results else [outs]
            out_tans = [None] * len(outs)
        else:
            rule = jvp_rules.get(prim)
            if rule is None:
                raise UnsupportedError(f"{prim.name}: forward-mode differentiation (jvp) is not "
                                       "implemented for this primitive", location=eqn.source)
            outs, out_tans = rule(invals, tans, **eqn.params)
            if not prim.multiple_results:
                outs, out_tans = [outs], [out_tans]
            _check(prim, eqn, outs, out_tans)
        for v, o, t in zip(eqn.outputs, outs, out_tans):
            env[v] = o
            if t is not None and _has_tangent(v.aval):
                tan[v] = t
    return [read(a) for a in program.out_atoms], [read_tangent(a) for a in program.out_atoms]


def _check(prim, eqn, outs, out_tans):
    if len(outs) != len(eqn.outputs) or len(out_tans) != len(eqn.outputs):
        raise InternalError(f"the JVP rule of {prim.name} returned {len(outs)} outputs and "
                            f"{len(out_tans)} tangents for {len(eqn.outputs)} outputs", location=eqn.source)
    for v, t in zip(eqn.outputs, out_tans):
        if t is None:
            continue
        a = aval_of(t)
        if (a.shape, a.dtype) != (v.aval.shape, v.aval.dtype):
            raise InternalError(f"the JVP rule of {prim.name} returned a tangent {a} for an output "
                                f"{v.aval}", location=eqn.source)


# the rules register themselves in jvp_rules
from . import rules, control, custom, decompositions  # noqa: E402,F401
