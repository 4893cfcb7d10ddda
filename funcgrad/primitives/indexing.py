"""Gather and scatter along one axis: ``take`` and its transpose ``scatter_add``.

Indices are integers in ``[0, n)``; ``funcgrad.numpy`` wraps negative
indices. Out-of-range indices are clamped (as JAX does), since traced values
cannot raise; indices known at trace time are bounds-checked there instead.
"""
from __future__ import annotations

import numpy as np

from ..core.ir import ShapedArray
from ..core.trace import Primitive, aval_of
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


@take_p.def_vjp
def _take_vjp(ct, x, idx, *, out, axis):
    from .shape import broadcast_to

    zeros = broadcast_to(np.zeros((), aval_of(x).dtype), aval_of(x).shape)
    return (scatter_add(zeros, idx, ct, axis), None)


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
    idx = np.clip(idx, 0, max(n - 1, 0))
    moved = np.moveaxis(out, axis, 0)                 # a view into `out`
    upd = np.moveaxis(updates.reshape(operand.shape[:axis] + (idx.size,) + operand.shape[axis + 1:]),
                      axis, 0)
    np.add.at(moved, idx.reshape(-1), upd)
    return out


@scatter_add_p.def_vjp
def _scatter_add_vjp(ct, operand, idx, updates, *, out, axis):
    return (ct, None, take(ct, idx, axis))


def scatter_add(operand, idx, updates, axis):
    return scatter_add_p.bind(operand, idx, updates, axis=int(axis))
