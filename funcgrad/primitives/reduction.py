"""Reductions over static axes: sum, max, min, prod, argmax, argmin."""
from __future__ import annotations

import numpy as np

from ..core.ir import ShapedArray
from ..core.trace import Primitive, aval_of
from ..errors import DtypeError, ShapeError
from ._common import normalize_axes, scalar
from .elementwise import (add, broadcast_like, convert_element_type, div, eq, logical_and, mul,
                          select)


def _reduced_shape(shape, axes, keepdims):
    if keepdims:
        return tuple(1 if i in axes else d for i, d in enumerate(shape))
    return tuple(d for i, d in enumerate(shape) if i not in axes)


def _reduction(name, np_fn, *, kinds="iuf", empty_ok=True):
    p = Primitive(name)

    @p.def_abstract_eval
    def _abstract(x, *, axes, keepdims):
        if x.dtype.kind not in kinds:
            raise DtypeError(f"{name}: unsupported dtype {x}")
        axes = normalize_axes(name, axes, x.ndim)
        if not empty_ok and any(x.shape[a] == 0 for a in axes):
            raise ShapeError(f"{name}: zero-size reduction over axes {axes} of {x}, which has no identity")
        return ShapedArray(_reduced_shape(x.shape, axes, keepdims), x.dtype)

    p.def_impl(lambda x, *, axes, keepdims: np.asarray(np_fn(x, axis=axes, keepdims=keepdims),
                                                        dtype=x.dtype))
    return p


reduce_sum_p = _reduction("reduce_sum", np.sum)
reduce_max_p = _reduction("reduce_max", np.max, empty_ok=False)
reduce_min_p = _reduction("reduce_min", np.min, empty_ok=False)
reduce_prod_p = _reduction("reduce_prod", np.prod)


def _make(p):
    def reduce(x, axes, keepdims=False):
        axes = normalize_axes(p.name, axes, aval_of(x).ndim)
        return p.bind(x, axes=axes, keepdims=bool(keepdims))
    reduce.__name__ = p.name
    return reduce


reduce_sum, reduce_max, reduce_min, reduce_prod = map(
    _make, (reduce_sum_p, reduce_max_p, reduce_min_p, reduce_prod_p))


def expand_reduced(ct, x_shape, axes, keepdims):
    """Broadcast a reduction's cotangent back to the operand's shape."""
    from .shape import broadcast_to, reshape

    if not keepdims:
        ct = reshape(ct, _reduced_shape(x_shape, axes, True))
    return broadcast_to(ct, x_shape)


@reduce_sum_p.def_vjp
def _reduce_sum_vjp(ct, x, *, out, axes, keepdims):
    return (expand_reduced(ct, aval_of(x).shape, axes, keepdims),)


def _extremum_vjp(ct, x, *, out, axes, keepdims):
    # The cotangent goes to the extremal elements, split evenly among ties.
    shape = aval_of(x).shape
    dtype = aval_of(x).dtype
    out_b = expand_reduced(out, shape, axes, keepdims)
    mask = convert_element_type(eq(x, out_b), dtype)
    count = reduce_sum(mask, axes, keepdims=True)
    share = div(mask, count)
    return (mul(share, expand_reduced(ct, shape, axes, keepdims)),)


reduce_max_p.def_vjp(_extremum_vjp)
reduce_min_p.def_vjp(_extremum_vjp)


@reduce_prod_p.def_vjp
def _reduce_prod_vjp(ct, x, *, out, axes, keepdims):
    # d prod / d x_i = product of the others. prod / x_i fails at zeros, so:
    # no zero in the slice: prod / x_i; exactly one zero: the product of the
    # nonzero elements at the zero, 0 elsewhere; two or more zeros: 0.
    shape = aval_of(x).shape
    dtype = aval_of(x).dtype
    zero, one = scalar(0, dtype), scalar(1, dtype)
    is_zero = eq(x, zero)
    nonzero_x = select(is_zero, broadcast_like(one, x), x)
    prod_nonzero = expand_reduced(reduce_prod(nonzero_x, axes, keepdims=True), shape, axes, True)
    n_zero = expand_reduced(reduce_sum(convert_element_type(is_zero, dtype), axes, keepdims=True),
                            shape, axes, True)
    no_zero = eq(n_zero, zero)
    one_zero_here = logical_and(eq(n_zero, one), is_zero)
    others = select(no_zero, div(prod_nonzero, nonzero_x),
                    select(one_zero_here, prod_nonzero, broadcast_like(zero, x)))
    return (mul(others, expand_reduced(ct, shape, axes, keepdims)),)


# ----------------------------------------------------------------------------- arg reductions

def _argreduction(name, np_fn):
    p = Primitive(name)

    @p.def_abstract_eval
    def _abstract(x, *, axis, keepdims, index_dtype):
        if x.dtype.kind not in "iufb":
            raise DtypeError(f"{name}: unsupported dtype {x}")
        (axis,) = normalize_axes(name, (axis,), x.ndim)
        if x.shape[axis] == 0:
            raise ShapeError(f"{name}: attempt to get {name} of an empty axis {axis} of {x}")
        return ShapedArray(_reduced_shape(x.shape, (axis,), keepdims), index_dtype)

    p.def_impl(lambda x, *, axis, keepdims, index_dtype: np.asarray(
        np_fn(x, axis=axis, keepdims=keepdims), dtype=index_dtype))
    p.def_vjp(lambda ct, x, *, out, axis, keepdims, index_dtype: (None,))

    def bind(x, axis, keepdims=False, index_dtype=np.int64):
        (axis,) = normalize_axes(name, (axis,), aval_of(x).ndim)
        return p.bind(x, axis=axis, keepdims=bool(keepdims), index_dtype=np.dtype(index_dtype))

    return p, bind


argmax_p, argmax = _argreduction("argmax", np.argmax)
argmin_p, argmin = _argreduction("argmin", np.argmin)

__all__ = ["reduce_sum", "reduce_max", "reduce_min", "reduce_prod", "argmax", "argmin",
           "expand_reduced", "add"]
