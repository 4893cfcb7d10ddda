"""Kernels of the structural and indexing primitives that move elements
without computing on them: ``cuda_index[prim](eqn, src) -> str``, the
expression of one output element at the loop indices ``i0, i1, ...``, where
``src(k, index)`` reads operand ``k`` at a list of index expressions. One
kernel per equation (a grid-stride loop over its output, as
``kernels.render``): ``transpose``, ``slice``, ``rev``, ``pad``,
``concatenate``, ``take`` (indices clipped, as the interpreter's
``np.take(mode="clip")``), ``pad_add`` (a buffer plus a strided piece: the
transpose of ``slice``); :func:`render_threefry`, one Threefry-2x32
encryption per element (``device.d_threefry2x32``: the CPU's bits); and
:func:`render_argreduction`, ``argmax``/``argmin`` with one thread per output
element scanning the reduced axis in order (NumPy's answer: the first
maximum, the first NaN where there is one); and :func:`render_argsort`,
``argsort`` by ranks (stable, NaNs last, as the interpreter's).
"""
from __future__ import annotations

import numpy as np

from ...primitives.indexing import take_p
from ...primitives.reduction import argmax_p, argmin_p
from ...primitives.shape import concatenate_p, pad_add_p, pad_p, rev_p, slice_p, transpose_p
from ..numba_backend.lowering import ishape
from .kernels import Kernel, _broadcast_index, _literal_of, _unravel

__all__ = ["cuda_index", "render_index", "render_threefry", "render_argreduction", "arg_reductions",
           "render_argsort"]


def _grid_stride(name: str, params: str, body: list) -> str:
    """The source of ``name(n, params)``: a grid-stride loop over ``f < n`` running ``body`` (statements,
    which set the loop indices from ``f`` first) per element."""
    lines = [f"def {name}(n, {params}):",
             "    f = cuda.grid(1)",
             "    stride = cuda.gridsize(1)",
             "    while f < n:"]
    return "\n".join(lines + ["        " + b for b in body + ["f += stride"]]) + "\n"


def _transpose(eqn, src):
    perm = eqn.params["permutation"]
    idx = [None] * len(perm)
    for d, p in enumerate(perm):
        idx[p] = f"i{d}"
    return src(0, idx)


def _slice(eqn, src):
    return src(0, [f"{b} + i{d} * {s}" for d, (b, s) in enumerate(zip(eqn.params["starts"], eqn.params["strides"]))])


def _rev(eqn, src):
    shape = eqn.inputs[0].aval.shape
    return src(0, [f"{shape[d] - 1} - i{d}" if d in eqn.params["axes"] else f"i{d}" for d in range(len(shape))])


def _pad(eqn, src):
    x = eqn.inputs[0]
    conds, idx = [], []
    for d, (n, lo, step) in enumerate(zip(x.aval.shape, eqn.params["low"], eqn.params["interior"])):
        t = f"(i{d} - {lo})"
        conds.append(f"{t} >= 0 and {t} % {step + 1} == 0 and {t} // {step + 1} < {n}")
        idx.append(f"{t} // {step + 1}")
    zero = _literal_of(0, eqn.outputs[0].aval.dtype)
    return f"({src(0, idx)} if {' and '.join(conds) or 'True'} else {zero})"


def _concatenate(eqn, src):
    axis = eqn.params["axis"]
    nd = len(eqn.outputs[0].aval.shape)
    expr, at = None, 0
    pieces = []
    for k, x in enumerate(eqn.inputs):
        n = x.aval.shape[axis]
        idx = [f"i{d}" if d != axis else f"i{d} - {at}" for d in range(nd)]
        pieces.append((at + n, src(k, idx)))
        at += n
    expr = pieces[-1][1]
    for limit, read in reversed(pieces[:-1]):
        expr = f"({read} if i{axis} < {limit} else {expr})"
    return expr


def _take(eqn, src):
    x, ix = eqn.inputs
    axis = eqn.params["axis"]
    k = len(ix.aval.shape)
    n = x.aval.shape[axis]
    inner = src(1, [f"i{axis + j}" for j in range(k)]) if k else src(1, [])
    clipped = f"min(max({inner}, 0), {n - 1})"
    idx = [f"i{d}" for d in range(axis)] + [clipped] + [f"i{d - 1 + k}" for d in range(axis + 1, len(x.aval.shape))]
    return src(0, idx)


def _pad_add(eqn, src):
    buf, piece = eqn.inputs
    nd = len(buf.aval.shape)
    low, interior = eqn.params["low"], eqn.params["interior"]
    here = src(0, [f"i{d}" for d in range(nd)])
    if not piece.aval.shape:           # a 0-d piece lands on one element
        conds, idx = [f"i{d} == {low[d]}" for d in range(nd)], []
    else:
        conds, idx = [], []
        for d, (n, lo, step) in enumerate(zip(piece.aval.shape, low, interior)):
            t = f"(i{d} - {lo})"
            conds.append(f"{t} >= 0 and {t} % {step + 1} == 0 and {t} // {step + 1} < {n}")
            idx.append(f"{t} // {step + 1}")
    zero = _literal_of(0, eqn.outputs[0].aval.dtype)
    return f"({here} + ({src(1, idx)} if {' and '.join(conds) or 'True'} else {zero}))"


cuda_index = {transpose_p: _transpose, slice_p: _slice, rev_p: _rev, pad_p: _pad,
              concatenate_p: _concatenate, take_p: _take, pad_add_p: _pad_add}
arg_reductions = {argmax_p: ">", argmin_p: "<"}


def render_argreduction(eqn, name: str) -> Kernel:
    """The kernel of one ``argmax``/``argmin`` equation: one thread per output element."""
    x, out = eqn.inputs[0], eqn.outputs[0]
    shape, axis = tuple(x.aval.shape), eqn.params["axis"]
    better = arg_reductions[eqn.primitive]
    kept = [d for d in range(len(shape)) if d != axis]
    loop = tuple(shape[d] for d in kept) or (1,)
    keep_at = dict(zip(kept, range(len(kept))))
    read = lambda k: f"in_0[{', '.join(k if d == axis else f'i{keep_at[d]}' for d in range(len(shape)))}]"
    if eqn.params["keepdims"]:
        store = ", ".join("0" if d == axis else f"i{keep_at[d]}" for d in range(len(shape)))
    else:
        store = ", ".join(f"i{j}" for j in range(len(kept))) or "0"
    ix = np.dtype(out.aval.dtype).name
    params = "in_0, out"
    body = _unravel(loop, "f", range(len(kept)), "r")
    body += [f"best = {read('0')}",
             "at = 0",
             f"for k in range(1, {shape[axis]}):",
             f"    v = {read('k')}",
             f"    if best == best and (v {better} best or v != v):",
             "        best = v",
             "        at = k",
             f"out[{store}] = np.{ix}(at)"]
    source = _grid_stride(name, params, body)
    return Kernel(name, source, loop, (x,), (out,))



def render_index(eqn, name: str) -> Kernel:
    """The kernel of one equation of ``cuda_index``."""
    out = eqn.outputs[0]
    loop = ishape(out.aval)

    def src(k, idx):
        a = eqn.inputs[k]
        return f"in_{k}[{', '.join(idx) if a.aval.shape else '0'}]"

    args = [f"in_{k}" for k in range(len(eqn.inputs))]
    params = f"{', '.join(args)}, out"
    body = _unravel(loop, "f", range(len(loop)), "r")
    body.append(f"out[{', '.join(f'i{d}' for d in range(len(loop)))}] = {cuda_index[eqn.primitive](eqn, src)}")
    source = _grid_stride(name, params, body)
    return Kernel(name, source, tuple(loop), tuple(eqn.inputs), (out,))


def render_threefry(eqn, name: str) -> Kernel:
    """The kernel of one ``threefry2x32`` equation (operands broadcast to its outputs' shape)."""
    y0, y1 = eqn.outputs
    loop = ishape(y0.aval)
    args = [f"in_{k}" for k in range(4)]
    reads = [f"in_{k}[{_broadcast_index(ishape(a.aval), loop)}]" for k, a in enumerate(eqn.inputs)]
    idx = ", ".join(f"i{d}" for d in range(len(loop)))
    params = f"{', '.join(args)}, out_0, out_1"
    body = _unravel(loop, "f", range(len(loop)), "r")
    body += [f"y0, y1 = d_threefry2x32({', '.join(reads)})",
             f"out_0[{idx}] = np.uint32(y0)",
             f"out_1[{idx}] = np.uint32(y1)"]
    source = _grid_stride(name, params, body)
    return Kernel(name, source, tuple(loop), tuple(eqn.inputs), (y0, y1))


def render_argsort(eqn, name: str) -> Kernel:
    """The kernel of one ``argsort`` equation (along the last axis, stable, NaNs last): one thread per
    element computes its rank in its row, the number of elements before it in the sorted order (smaller
    ones, and equal ones at a smaller index), and stores its index at that position. O(n^2) work per
    row of n, all of it parallel: right for the rows a shuffle or a top-k sorts (thousands), slow for
    rows of millions."""
    x, out = eqn.inputs[0], eqn.outputs[0]
    shape = tuple(x.aval.shape)
    nd, n = len(shape), shape[-1]
    lead = [f"i{d}" for d in range(nd - 1)]
    at = lambda k: f"in_0[{', '.join(lead + [k])}]"
    params = "in_0, out"
    body = _unravel(shape, "f", range(nd), "r")
    me = f"i{nd - 1}"
    body += [f"a = {at(me)}",
             "rank = 0",
             f"for j in range({n}):",
             f"    b = {at('j')}",
             "    if (b < a or (a != a and b == b)) or ((b == a or (a != a and b != b)) and j < " + me + "):",
             "        rank += 1",
             f"out[{', '.join(lead + ['rank'])}] = np.int64({me})"]
    source = _grid_stride(name, params, body)
    return Kernel(name, source, shape, (x,), (out,))
