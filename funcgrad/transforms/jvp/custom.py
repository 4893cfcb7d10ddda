"""JVP rules of the call primitives (:mod:`funcgrad.primitives.calls`),
registered in :data:`funcgrad.transforms.jvp.jvp_rules`.

- ``custom_jvp_call``: the user's JVP rule, given every tangent (zeros
  instantiated for symbolic zeros; zeros of their dtype for integer
  arguments); what it returns is checked against the function's output.
  A closed-over operand with a tangent is an error (the rule knows nothing
  of it: pass it as an argument).
- ``custom_vjp_call``: forward mode is not defined by a custom VJP; it
  raises, as in JAX (``jacfwd(jacrev(f))`` and ``hessian`` still work: they
  push tangents through the ``fwd``/``bwd`` functions, not through the call).
- ``checkpoint``: a ``checkpoint`` of the body's JVP (so that reverse mode of
  the JVP recomputes too).
"""
from __future__ import annotations

import numpy as np

from ...core.ir import Program, ShapedArray
from ...core.trace import aval_of, trace_flat
from ...custom_derivatives import closure_error
from ...errors import UnsupportedError
from ...primitives.calls import checkpoint_p, custom_jvp_call_p, custom_vjp_call_p
from ...primitives.elementwise import convert_element_type
from . import instantiate, jvp_program, jvp_rules

__all__ = []


def _float(aval) -> bool:
    return aval.dtype.kind == "f"


def _as_tangent(t, x):
    a = aval_of(x)
    if not _float(a):
        return np.zeros(a.shape, a.dtype)
    t = instantiate(t, ShapedArray(a.shape, a.dtype))
    return t if aval_of(t).dtype == a.dtype else convert_element_type(t, a.dtype)


# ----------------------------------------------------------------------------- custom_jvp_call

def _custom_jvp_jvp(primals, tangents, *, call, num_consts, rule):
    xs = list(primals[num_consts:])
    for c, t in zip(primals[:num_consts], tangents[:num_consts]):
        if t is not None and _float(aval_of(c)):
            raise closure_error(rule.kind, rule.name)
    tans = [_as_tangent(t, x) for t, x in zip(tangents[num_consts:], xs)]
    outs, touts = rule.jvp_flat(xs, tans)
    return list(outs), [t if _float(a) else None for t, a in zip(touts, call.out_avals)]


jvp_rules[custom_jvp_call_p] = _custom_jvp_jvp


# ----------------------------------------------------------------------------- custom_vjp_call

def _custom_vjp_jvp(primals, tangents, *, call, num_consts, rule):
    raise UnsupportedError(
        f"can't apply forward-mode differentiation (jvp, jacfwd, linearize) to a custom_vjp function "
        f"({rule.name}): a custom VJP gives reverse-mode derivatives only. Use custom_jvp to define a "
        "rule that works in both modes (reverse mode transposes it), or differentiate in reverse mode "
        "(grad, vjp, jacrev); jacfwd(jacrev(f)) and hessian of a custom_vjp function work")


jvp_rules[custom_vjp_call_p] = _custom_vjp_jvp


# ----------------------------------------------------------------------------- checkpoint

def _checkpoint_jvp(primals, tangents, *, body):
    n = len(primals)
    avals = [ShapedArray(aval_of(x).shape, aval_of(x).dtype) for x in primals]
    nz = [t is not None and _float(a) for t, a in zip(tangents, avals)]
    box = {}

    def f(*args):
        xs, ts = list(args[:n]), iter(args[n:])
        outs, touts = jvp_program(body, xs, [next(ts) if m else None for m in nz])
        has = [t is not None and _float(o.aval) for t, o in zip(touts, body.out_atoms)]
        box["has"] = has
        return list(outs) + [_as_tangent(t, o) for t, o, h in zip(touts, outs, has) if h]

    p = trace_flat(f, avals + [a for a, m in zip(avals, nz) if m])
    program = Program(list(p.const_vars) + list(p.in_vars), [], [], p.eqns, p.out_atoms)
    t_vals = [_as_tangent(t, x) for t, x, m in zip(tangents, primals, nz) if m]
    res = checkpoint_p.bind(*p.consts, *primals, *t_vals, body=program)
    n_out = len(body.out_atoms)
    outs, t_iter = list(res[:n_out]), iter(res[n_out:])
    return outs, [next(t_iter) if h else None for h in box["has"]]


jvp_rules[checkpoint_p] = _checkpoint_jvp
