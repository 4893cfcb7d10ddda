"""Helpers shared by the primitive rule modules."""
from __future__ import annotations

import numpy as np

from ..core.ir import ShapedArray
from ..core.trace import aval_of
from ..errors import DtypeError, ShapeError


def describe(*avals) -> str:
    return ", ".join(str(a) for a in avals)


def broadcast_shapes(name: str, *avals) -> tuple:
    try:
        return tuple(np.broadcast_shapes(*[a.shape for a in avals]))
    except ValueError:
        raise ShapeError(f"{name}: operand shapes do not broadcast together: {describe(*avals)}") from None


def same_dtype(name: str, *avals) -> np.dtype:
    dtypes = {a.dtype for a in avals}
    if len(dtypes) != 1:
        raise DtypeError(f"{name}: operands must have one dtype (funcgrad.numpy promotes them "
                         f"before calling primitives), got {describe(*avals)}")
    return avals[0].dtype


def require_float(name: str, *avals):
    for a in avals:
        if a.dtype.kind != "f":
            raise DtypeError(f"{name}: needs floating-point operands, got {describe(*avals)}")


def scalar(value, dtype) -> np.ndarray:
    """A typed 0-d constant (inlined as a literal in the IR)."""
    return np.asarray(value, dtype=dtype)


def normalize_axes(name: str, axes, ndim: int) -> tuple:
    """``axes`` as non-negative ints, checked. As NumPy's reductions do, a 0-d
    array takes the axis 0 (or -1), normalized to 0: callers that reduce drop it
    (see :mod:`.reduction`); ``flip`` rejects it."""
    out = []
    for ax in axes:
        ax = int(ax)
        if not (ax in (0, -1) if ndim == 0 else -ndim <= ax < ndim):
            raise ShapeError(f"{name}: axis {ax} is out of bounds for an array of {ndim} dimensions")
        out.append(ax % ndim if ndim else 0)
    if len(set(out)) != len(out):
        raise ShapeError(f"{name}: repeated axis in {tuple(axes)}")
    return tuple(out)


def is_float(x) -> bool:
    return aval_of(x).dtype.kind == "f"


def shaped(shape, dtype) -> ShapedArray:
    return ShapedArray(shape, dtype)
