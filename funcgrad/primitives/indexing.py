"""Gather and scatter along one axis: ``take`` and its transpose ``scatter_add``.

Indices are integers meant to be in ``[0, n)``; ``funcgrad.numpy`` wraps
negative indices first and bounds-checks indices known at trace time. Traced
indices cannot raise, so out-of-range ones follow XLA's gather and scatter,
which is what JAX's default indexing (``x[i]``, mode ``"promise_in_bounds"``)
gives:

- ``take`` clamps them into ``[0, n - 1]`` for its value;
- ``scatter_add`` drops the updates at them.

So the gradient of ``take`` (a ``scatter_add`` of the cotangent) drops the
cotangents of out-of-range indices instead of adding them to the clamped
rows, and the gradient of ``scatter_add`` with respect to its updates is 0
there. The other semantics (clip, wrap, fill) are built on these two by
``funcgrad.numpy.take`` from in-range indices.

This module holds the shape rules and NumPy implementations; the VJP rules
are in :mod:`funcgrad.transforms.vjp.rules`.
"""
from __future__ import annotations

import numpy as np

from ..core.ir import ShapedArray
from ..core.trace import Primitive
from ..errors import DtypeError, ShapeError
from ._common import describe, same_dtype

take_p = Primitive("take")


def _take_shape(x, idx, axis):
    return x.shape[:axis] + idx.shape + x.shape[axis + 1:]


@take_p.def_abstract_eval
def _take_abstract(x, idx, *, axis):
    if idx.dtype.kind not in "iu":
        raise DtypeError(f"take: indices must be integers, got {describe(x, idx)}")
    if not 0 <= axis < x.ndim:
        raise ShapeError(f"take: axis {axis} out of range for {x}")
    if x.shape[axis] == 0 and idx.size:
        raise ShapeError(f"take: cannot take from the empty axis {axis} of {x}")
    return ShapedArray(_take_shape(x, idx, axis), x.dtype)


@take_p.def_impl
def _take_impl(x, idx, *, axis):
    return np.take(x, idx, axis=axis, mode="clip")


def take(x, idx, axis):
    return take_p.bind(x, idx, axis=int(axis))


scatter_add_p = Primitive("scatter_add")


@scatter_add_p.def_abstract_eval
def _scatter_add_abstract(operand, idx, updates, *, axis):
    same_dtype("scatter_add", operand, updates)
    if idx.dtype.kind not in "iu":
        raise DtypeError(f"scatter_add: indices must be integers, got {describe(idx)}")
    expected = _take_shape(operand, idx, axis)
    if updates.shape != expected:
        raise ShapeError(f"scatter_add: updates {updates} should have shape {expected} "
                         f"for operand {operand} and indices {idx} on axis {axis}")
    return operand


@scatter_add_p.def_impl
def _scatter_add_impl(operand, idx, updates, *, axis):
    out = np.array(operand, copy=True)
    n = operand.shape[axis]
    moved = np.moveaxis(out, axis, 0)                 # a view into `out`
    upd = np.moveaxis(updates.reshape(operand.shape[:axis] + (idx.size,) + operand.shape[axis + 1:]),
                      axis, 0)
    flat = idx.reshape(-1)
    keep = (flat >= 0) & (flat < n)                   # out-of-range updates are dropped
    np.add.at(moved, flat[keep], upd[keep])
    return out


def scatter_add(operand, idx, updates, axis):
    return scatter_add_p.bind(operand, idx, updates, axis=int(axis))
