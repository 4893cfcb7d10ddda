"""Device rules of the CUDA backend for equations that are not fused:
``device_rules[prim](ctx, eqn) -> bool``, True when the rule ran ``eqn`` on
the device (its outputs stored there), False to leave it to the host.

- ``reshape``: a view of the operand, where it is (on the device or the host).
- ``scatter_add``: the operand copied on the device, then one thread per
  update element adding it with ``cuda.atomic.add`` (out-of-range indices
  dropped, as the interpreter does). Atomic additions land in no fixed
  order: where several updates hit one element, float sums can differ from
  the interpreter's, and from run to run, in the last bits.
"""
from __future__ import annotations

import numpy as np

from ...core.ir import Literal
from .counters import count_launch
from .memory import empty

from ...primitives.indexing import scatter_add_p
from ...primitives.shape import reshape_p

__all__ = ["device_rules"]

_SCATTER = '''
def scatter(out, upd, idx):
    f = cuda.grid(1)
    stride = cuda.gridsize(1)
    m, q_len = upd.shape[1], upd.shape[2]
    total = upd.shape[0] * m * q_len
    n = out.shape[1]
    while f < total:
        q = f % q_len
        r = f // q_len
        j = r % m
        p = r // m
        k = idx[j]
        if k >= 0 and k < n:
            cuda.atomic.add(out, (p, k, q), upd[p, j, q])
        f += stride
'''
_kernels = {}


def _scatter_kernel(cuda):
    fn = _kernels.get("scatter")
    if fn is None:
        namespace = {"cuda": cuda}
        exec(compile(_SCATTER, "<funcgrad cuda scatter_add>", "exec"), namespace)
        fn = _kernels["scatter"] = cuda.jit(namespace["scatter"])
    return fn


def _reshape(ctx, eqn):
    x, out = eqn.inputs[0], eqn.outputs[0]
    if ctx.vals.on_device_now(x):
        ctx.vals.put_device(out, ctx.vals.device(x).reshape(out.aval.shape or (1,)))
    else:               # a value still on the host (an argument, a literal): a view there, copied where needed
        x = np.asarray(x.value, x.aval.dtype) if type(x) is Literal else ctx.vals.host(x)
        ctx.vals.put(out, x.reshape(out.aval.shape))
    return True


def _scatter_add(ctx, eqn):
    operand, idx, updates = eqn.inputs
    out = eqn.outputs[0]
    if out.aval.dtype.kind not in "fi" or out.aval.dtype.itemsize not in (4, 8):
        return False
    cuda, vals, axis = ctx.cuda, ctx.vals, eqn.params["axis"]
    shape = out.aval.shape
    pre, post = int(np.prod(shape[:axis], dtype=np.int64)), int(np.prod(shape[axis + 1:], dtype=np.int64))
    m = int(np.prod(idx.aval.shape, dtype=np.int64))
    dest = empty(cuda, shape, out.aval.dtype)
    dest.copy_to_device(vals.device_or_literal(operand))
    if pre * m * post:
        upd = vals.device_or_literal(updates).reshape((pre, m, post))
        ix = vals.device_or_literal(idx).reshape((m,))
        threads, max_blocks = ctx.limits
        blocks = max(1, min(max_blocks, -(-(pre * m * post) // threads)))
        _scatter_kernel(cuda)[blocks, threads](dest.reshape((pre, shape[axis] if shape else 1, post)), upd, ix)
        count_launch()
    vals.put_device(out, dest)
    return True


device_rules = {reshape_p: _reshape, scatter_add_p: _scatter_add}
