"""Reductions over static axes: sum, max, min, prod, argmax, argmin: shape
rule and NumPy implementation of each (their VJP rules are in
:mod:`funcgrad.transforms.vjp.rules`, with :func:`expand_reduced`)."""
from __future__ import annotations

import numpy as np

from ..core.ir import ShapedArray
from ..core.trace import Primitive, aval_of
from ..errors import DtypeError, ShapeError
from ._common import normalize_axes
from .elementwise import add


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
        if not x.ndim:        # axis 0 of a 0-d array: nothing to reduce (see the impl)
            axes = ()
        if not empty_ok and any(x.shape[a] == 0 for a in axes):
            raise ShapeError(f"{name}: zero-size reduction over axes {axes} of {x}, which has no identity")
        return ShapedArray(_reduced_shape(x.shape, axes, keepdims), x.dtype)

    # a 0-d operand has no axes to reduce (NumPy takes axis=0 or -1 for it: the
    # user-facing functions below bind it with axes=()); the identity
    p.def_impl(lambda x, *, axes, keepdims: np.asarray(
        np_fn(x, axis=axes if np.ndim(x) else (), keepdims=keepdims), dtype=x.dtype))
    return p


reduce_sum_p = _reduction("reduce_sum", np.sum)
reduce_max_p = _reduction("reduce_max", np.max, empty_ok=False)
reduce_min_p = _reduction("reduce_min", np.min, empty_ok=False)
reduce_prod_p = _reduction("reduce_prod", np.prod)


def _make(p):
    def reduce(x, axes, keepdims=False):
        ndim = aval_of(x).ndim
        axes = normalize_axes(p.name, axes, ndim)
        if ndim == 0:         # axis 0 (or -1) of a 0-d array, as NumPy takes it: nothing to reduce
            axes = ()
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


# ----------------------------------------------------------------------------- arg reductions

def _argreduction(name, np_fn):
    p = Primitive(name)

    @p.def_abstract_eval
    def _abstract(x, *, axis, keepdims, index_dtype):
        if x.dtype.kind not in "iufb":
            raise DtypeError(f"{name}: unsupported dtype {x}")
        (axis,) = normalize_axes(name, (axis,), x.ndim)
        if x.ndim == 0:
            return ShapedArray((), index_dtype)
        if x.shape[axis] == 0:
            raise ShapeError(f"{name}: attempt to get {name} of an empty axis {axis} of {x}")
        return ShapedArray(_reduced_shape(x.shape, (axis,), keepdims), index_dtype)

    p.def_impl(lambda x, *, axis, keepdims, index_dtype: np.asarray(
        np_fn(x, axis=axis, keepdims=keepdims), dtype=index_dtype))

    def bind(x, axis, keepdims=False, index_dtype=np.int64):
        ndim = aval_of(x).ndim
        (axis,) = normalize_axes(name, (axis,), ndim)
        if ndim == 0:         # as NumPy: the index 0 (0-d, keepdims or not), of the 1-element view
            from .shape import reshape

            return p.bind(reshape(x, (1,)), axis=0, keepdims=False, index_dtype=np.dtype(index_dtype))
        return p.bind(x, axis=axis, keepdims=bool(keepdims), index_dtype=np.dtype(index_dtype))

    return p, bind


argmax_p, argmax = _argreduction("argmax", np.argmax)
argmin_p, argmin = _argreduction("argmin", np.argmin)

__all__ = ["reduce_sum", "reduce_max", "reduce_min", "reduce_prod", "argmax", "argmin",
           "expand_reduced", "add"]
