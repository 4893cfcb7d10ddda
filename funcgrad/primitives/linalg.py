"""Matrix multiplication: ``matmul[transpose_a, transpose_b](a, b)``.

Operands have at least two dimensions, the same number of them, and equal
leading (batch) dimensions; ``funcgrad.numpy`` reshapes vectors and
broadcasts batch dimensions before calling it. The transpose flags are the
BLAS ones: ``op(a) @ op(b)`` with ``op`` the identity or the transpose of the
last two axes, so no transposed copy is ever needed, in the VJP either (which
is in :mod:`funcgrad.transforms.vjp.rules`).
"""
from __future__ import annotations

import numpy as np

from ..core.ir import ShapedArray
from ..core.trace import Primitive
from ..errors import DtypeError, ShapeError
from ._common import describe, same_dtype

matmul_p = Primitive("matmul")


def _op_shape(shape, transposed):
    return shape[:-2] + (shape[-1], shape[-2]) if transposed else shape


@matmul_p.def_abstract_eval
def _matmul_abstract(a, b, *, transpose_a, transpose_b):
    dtype = same_dtype("matmul", a, b)
    if dtype.kind not in "iuf":
        raise DtypeError(f"matmul: unsupported dtype for operands {describe(a, b)}")
    if a.ndim < 2 or a.ndim != b.ndim or a.shape[:-2] != b.shape[:-2]:
        raise ShapeError(f"matmul: operands need equal batch dimensions and at least 2 dimensions, "
                         f"got {describe(a, b)}")
    sa, sb = _op_shape(a.shape, transpose_a), _op_shape(b.shape, transpose_b)
    if sa[-1] != sb[-2]:
        raise ShapeError(f"matmul: contracting dimensions differ: {describe(a, b)} "
                         f"({sa[-1]} != {sb[-2]}; transpose_a={transpose_a}, transpose_b={transpose_b})")
    return ShapedArray(sa[:-1] + (sb[-1],), dtype)


def _t(x, flag):
    return np.swapaxes(x, -1, -2) if flag else x


matmul_p.def_impl(lambda a, b, *, transpose_a, transpose_b: np.asarray(
    np.matmul(_t(a, transpose_a), _t(b, transpose_b))))


def matmul(a, b, transpose_a=False, transpose_b=False):
    return matmul_p.bind(a, b, transpose_a=bool(transpose_a), transpose_b=bool(transpose_b))
