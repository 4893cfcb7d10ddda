"""``argsort``: the indices that sort an array along its last axis, stably.

Ties keep their original order (NumPy's ``kind="stable"``) and NaNs sort
last, so the NumPy implementation and compiled backends give the same
indices. Indices are int64; they carry no gradient (the VJP rule, in
:mod:`funcgrad.transforms.vjp.rules`, is zero).
"""
from __future__ import annotations

import numpy as np

from ..core.ir import ShapedArray
from ..core.trace import Primitive, aval_of
from ..errors import DtypeError, ShapeError
from ._common import normalize_axes

__all__ = ["argsort", "argsort_p"]

argsort_p = Primitive("argsort")


@argsort_p.def_abstract_eval
def _argsort_abstract(x):
    if x.ndim == 0:
        raise ShapeError(f"argsort: needs an array of at least one dimension, got {x}")
    if x.dtype.kind not in "biuf":
        raise DtypeError(f"argsort: unsupported dtype {x}")
    return ShapedArray(x.shape, np.int64)


argsort_p.def_impl(lambda x: np.asarray(np.argsort(x, axis=-1, kind="stable"), dtype=np.int64))


def argsort(x, axis=-1):
    """Stable argsort along ``axis`` (moved last for the primitive and back)."""
    from .shape import transpose

    nd = aval_of(x).ndim
    if nd == 0:
        raise ShapeError(f"argsort: needs an array of at least one dimension, got {aval_of(x)}")
    (axis,) = normalize_axes("argsort", (axis,), nd)
    if axis == nd - 1:
        return argsort_p.bind(x)
    perm = tuple(d for d in range(nd) if d != axis) + (axis,)
    inv = tuple(int(i) for i in np.argsort(perm))
    return transpose(argsort_p.bind(transpose(x, perm)), inv)
