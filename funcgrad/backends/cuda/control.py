"""Control flow on the CUDA backend: ``control_rules[prim](ctx, eqn)``.

The bodies of ``fori_loop``, ``while_loop``, ``scan`` and ``switch`` are
Programs; each is compiled once for this backend (``ctx.call(body, *args)``
runs it, compiled on first use into its own kernels, as any program) and the loop runs on the host, launching the body's
kernels once per iteration on values that stay on the device: the carries are
device arrays from the first iteration to the last, a scan's ``xs`` are read
as views of their rows and its ``ys`` written into device arrays allocated
once. What the host must know is copied to it, one scalar at a time: the
bounds of a ``fori_loop`` whose bounds are traced, a ``while_loop``'s
condition after each iteration, a ``switch``'s branch index (a host branch on
a device scalar). A whole training epoch written as a ``fori_loop`` or
``scan`` over batches is one call from Python, with one launch of each
kernel of the body per iteration (no CUDA graph yet: issue 13's launch
overhead work).
"""
from __future__ import annotations

import numpy as np

from ...core.ir import Literal
from ...primitives.control import fori_loop_p, scan_p, switch_p, while_loop_p
from .memory import empty

__all__ = ["control_rules"]


def _operand(vals, a):
    """An operand as a sub-program takes it: a literal's value, a device array where the value is on the device,
    the NumPy array otherwise."""
    if type(a) is Literal:
        return np.asarray(a.value, a.aval.dtype)
    return vals.device(a) if vals.on_device_now(a) else vals.host(a)


def _scalar(vals, a) -> int:
    """A scalar operand's value on the host (a copy of one element where it is on the device)."""
    if type(a) is Literal:
        return a.value
    return vals.host(a).reshape(()).item()


def _store(vals, eqn, outs):
    for v, d in zip(eqn.outputs, outs):
        vals.put(v, d)


def _fori(ctx, eqn):
    vals, p = ctx.vals, eqn.params
    nc = p["num_consts"]
    body = p["body"]
    lo, hi = (int(_scalar(vals, a)) for a in eqn.inputs[:2])
    args = [_operand(vals, a) for a in eqn.inputs[2:]]
    consts, carry = args[:nc], args[nc:]
    index_dtype = p["body"].in_vars[nc].aval.dtype
    for i in range(lo, hi):
        carry = ctx.call(body, *consts, np.asarray(i, index_dtype), *carry)
    _store(vals, eqn, carry)
    return True


def _while(ctx, eqn):
    vals, p = ctx.vals, eqn.params
    cond, body = p["cond"], p["body"]
    args = [_operand(vals, a) for a in eqn.inputs]
    cn, bn = p["cond_nconsts"], p["body_nconsts"]
    cond_consts, body_consts, carry = args[:cn], args[cn:cn + bn], args[cn + bn:]
    while bool(ctx.call(cond, *cond_consts, *carry, to_host=True)[0]):
        carry = ctx.call(body, *body_consts, *carry)
    _store(vals, eqn, carry)
    return True


def _rows(d, length, shape):
    """Row views of a device array of shape ``(length,) + shape`` (0-d rows as shape (1,))."""
    return [d[i:i + 1].reshape(shape or (1,)) for i in range(length)]


def _scan(ctx, eqn):
    cuda, vals, p = ctx.cuda, ctx.vals, eqn.params
    nc, nk, length = p["num_consts"], p["num_carry"], p["length"]
    body = p["body"]
    args = [_operand(vals, a) for a in eqn.inputs]
    consts, carry = args[:nc], args[nc:nc + nk]
    xs = [vals.device_or_literal(a) for a in eqn.inputs[nc + nk:]]
    x_rows = [_rows(x, length, tuple(a.aval.shape[1:])) for x, a in zip(xs, eqn.inputs[nc + nk:])]
    y_avals = [v.aval for v in eqn.outputs[nk:]]
    ys = [empty(cuda, a.shape, a.dtype) for a in y_avals]
    y_rows = [_rows(y, length, tuple(a.shape[1:])) for y, a in zip(ys, y_avals)]
    for t in range(length):
        i = length - 1 - t if p["reverse"] else t
        outs = ctx.call(body, *consts, *carry, *[r[i] for r in x_rows])
        carry = outs[:nk]
        for rows, o in zip(y_rows, outs[nk:]):
            rows[i].copy_to_device(o)
    _store(vals, eqn, list(carry) + ys)
    return True


def _switch(ctx, eqn):
    vals, branches = ctx.vals, eqn.params["branches"]
    k = min(max(int(_scalar(vals, eqn.inputs[0])), 0), len(branches) - 1)
    outs = ctx.call(branches[k], *[_operand(vals, a) for a in eqn.inputs[1:]])
    _store(vals, eqn, outs)
    return True


control_rules = {fori_loop_p: _fori, while_loop_p: _while, scan_p: _scan, switch_p: _switch}
