"""Logical shifts of unsigned integers: ``shift_left`` and ``shift_right_logical``.

Both take two operands of one unsigned dtype that broadcast together, as the
other binary primitives do. A shift by the dtype's width or more gives 0 (as
in ``jax.lax``; C and LLVM leave it undefined). The results are integers, so
no gradient flows through them (their VJP, in
:mod:`funcgrad.transforms.vjp.rules`, is zero).
"""
from __future__ import annotations

import numpy as np

from ..core.ir import ShapedArray
from ..core.trace import Primitive
from ..errors import DtypeError
from ._common import broadcast_shapes, describe, same_dtype

__all__ = ["shift_left", "shift_right_logical", "shift_left_p", "shift_right_logical_p"]


def _shift(name, np_fn):
    p = Primitive(name)

    @p.def_abstract_eval
    def _abstract(x, y):
        dtype = same_dtype(name, x, y)
        if dtype.kind != "u":
            raise DtypeError(f"{name}: needs unsigned integer operands, got {describe(x, y)}")
        return ShapedArray(broadcast_shapes(name, x, y), dtype)

    @p.def_impl
    def _impl(x, y):
        x, y = np.asarray(x), np.asarray(y)
        bits = x.dtype.itemsize * 8
        in_range = y < bits
        shifted = np_fn(x, np.where(in_range, y, 0).astype(x.dtype))
        return np.asarray(np.where(in_range, shifted, 0), dtype=x.dtype)

    return p


shift_left_p = _shift("shift_left", np.left_shift)
shift_right_logical_p = _shift("shift_right_logical", np.right_shift)


def shift_left(x, y):
    return shift_left_p.bind(x, y)


def shift_right_logical(x, y):
    return shift_right_logical_p.bind(x, y)
