"""VJP rules of the call primitives (:mod:`funcgrad.primitives.calls`),
registered in :data:`funcgrad.transforms.vjp.vjp_rules` and
:data:`~funcgrad.transforms.vjp.vjp_forward_rules`.

- ``custom_jvp_call``: the transpose of the user's JVP. The tangent map
  ``t -> jvp(x, t)[1]`` is linear in ``t``; it is traced into a program and
  its backward pass, at ``t = 0``, gives ``J^T ct``. The forward pass binds
  the call as it is.
- ``custom_vjp_call``: the forward rule runs the user's ``fwd`` on the
  primals (its operations land in the trace, so that the forward pass can be
  differentiated again: ``jacfwd(jacrev(f))``); its residuals go to the VJP
  rule, which runs the user's ``bwd``.
- ``checkpoint``: the forward pass binds the checkpoint as it is (its
  intermediate values stay inside it); the gradients come from one new
  ``checkpoint`` equation whose body is the body's backward pass traced over
  ``(operands, cotangents)``: the recomputation is in the backward part, and
  ``split_program`` keeps only the checkpoint's operands as residuals.

A closed-over operand of a custom call (``num_consts`` leading operands) has
no derivative in the user's rule: its cotangent is a
:class:`funcgrad.custom_derivatives.closure_cotangent`, dropped unread when
the operand is not differentiated, an error when it is.
"""
from __future__ import annotations

import numpy as np

from ...core.ir import Program, ShapedArray
from ...core.trace import aval_of, trace_flat
from ...custom_derivatives import closure_cotangent
from ...primitives import broadcast_to
from ...primitives.calls import checkpoint_p, custom_jvp_call_p, custom_vjp_call_p
from . import backward_pass, vjp_forward_rules, vjp_rules

__all__ = []


def _float(aval) -> bool:
    return aval.dtype.kind == "f"


def _zeros(aval):
    return broadcast_to(np.zeros((), aval.dtype), aval.shape)


def _closure_cts(consts, rule):
    return [closure_cotangent(rule.kind, rule.name) if _float(aval_of(c)) else None for c in consts]


def _closed(fun, in_avals):
    p = trace_flat(fun, in_avals)
    return Program(list(p.const_vars) + list(p.in_vars), [], [], p.eqns, p.out_atoms), list(p.consts)


# ----------------------------------------------------------------------------- custom_jvp_call

def _custom_jvp_vjp(cts, *operands, out, call, num_consts, rule):
    consts, xs = list(operands[:num_consts]), list(operands[num_consts:])
    x_avals = [ShapedArray(aval_of(x).shape, aval_of(x).dtype) for x in xs]
    diff = [i for i, a in enumerate(x_avals) if _float(a)]
    out_float = [_float(a) for a in call.out_avals]

    def tangent_map(*ts):
        it = iter(ts)
        tans = [next(it) if _float(a) else np.zeros(a.shape, a.dtype) for a in x_avals]
        _, touts = rule.jvp_flat(xs, tans)
        return [t if t is not None else _zeros(a)
                for t, a, f in zip(touts, call.out_avals, out_float) if f]

    result = _closure_cts(consts, rule) + [None] * len(xs)
    if not diff:
        return tuple(result)
    program = trace_flat(tangent_map, [x_avals[i] for i in diff])
    _, grads = backward_pass(program, [_zeros(x_avals[i]) for i in diff], list(range(len(diff))),
                             [c for c, f in zip(cts, out_float) if f])
    for i, g in zip(diff, grads):
        result[num_consts + i] = g
    return tuple(result)


vjp_rules[custom_jvp_call_p] = _custom_jvp_vjp


# ----------------------------------------------------------------------------- custom_vjp_call

def _custom_vjp_fwd(*operands, call, num_consts, rule):
    outs, res_leaves, res_tree = rule.fwd_flat(list(operands[num_consts:]))
    return outs, (res_leaves, res_tree)


def _custom_vjp_vjp(cts, *operands, out, call, num_consts, rule, residuals=None):
    consts, xs = list(operands[:num_consts]), list(operands[num_consts:])
    if residuals is None:   # a caller that did not run the forward rule: run it now
        _, res_leaves, res_tree = rule.fwd_flat(xs)
    else:
        res_leaves, res_tree = residuals
    x_cts = rule.bwd_flat(res_leaves, res_tree, list(cts))
    return tuple(_closure_cts(consts, rule) + list(x_cts))


vjp_forward_rules[custom_vjp_call_p] = _custom_vjp_fwd
vjp_rules[custom_vjp_call_p] = _custom_vjp_vjp


# ----------------------------------------------------------------------------- checkpoint

def _checkpoint_vjp(cts, *operands, out, body):
    n = len(operands)
    avals = [ShapedArray(aval_of(x).shape, aval_of(x).dtype) for x in operands]
    ct_avals = [ShapedArray(aval_of(c).shape, aval_of(c).dtype) for c in cts]
    wrt = [i for i, a in enumerate(avals) if _float(a)]
    if not wrt:
        return (None,) * n

    def bwd(*args):
        return backward_pass(body, list(args[:n]), wrt, list(args[n:]))[1]

    program, extra = _closed(bwd, avals + ct_avals)
    grads = checkpoint_p.bind(*extra, *operands, *cts, body=program)
    result = [None] * n
    for i, g in zip(wrt, grads):
        result[i] = g
    return tuple(result)


vjp_rules[checkpoint_p] = _checkpoint_vjp
