"""Structural primitives: reshape, transpose, broadcast_to, slice, pad, rev,
concatenate, iota: shape rule and NumPy implementation of each. Their VJPs
(in :mod:`funcgrad.transforms.vjp.rules`) move cotangents back without
arithmetic."""
from __future__ import annotations

import numpy as np

from ..core.ir import ShapedArray
from ..core.trace import Primitive, aval_of
from ..errors import DtypeError, ShapeError
from ._common import describe, normalize_axes, same_dtype

# ----------------------------------------------------------------------------- reshape

reshape_p = Primitive("reshape")


@reshape_p.def_abstract_eval
def _reshape_abstract(x, *, shape):
    if int(np.prod(shape, dtype=np.int64)) != x.size:
        raise ShapeError(f"reshape: cannot reshape {x} ({x.size} elements) into shape {shape}")
    return ShapedArray(shape, x.dtype)


reshape_p.def_impl(lambda x, *, shape: np.reshape(x, shape))


def reshape(x, shape):
    shape = tuple(int(d) for d in shape)
    if aval_of(x).shape == shape:
        return x
    return reshape_p.bind(x, shape=shape)


# ----------------------------------------------------------------------------- transpose

transpose_p = Primitive("transpose")


@transpose_p.def_abstract_eval
def _transpose_abstract(x, *, permutation):
    if sorted(permutation) != list(range(x.ndim)):
        raise ShapeError(f"transpose: axes {permutation} are not a permutation of the axes of {x}")
    return ShapedArray(tuple(x.shape[p] for p in permutation), x.dtype)


transpose_p.def_impl(lambda x, *, permutation: np.transpose(x, permutation))


def transpose(x, permutation):
    permutation = tuple(int(p) for p in permutation)
    if permutation == tuple(range(len(permutation))):
        return x
    return transpose_p.bind(x, permutation=permutation)


# ----------------------------------------------------------------------------- broadcast_to

broadcast_to_p = Primitive("broadcast_to")


@broadcast_to_p.def_abstract_eval
def _broadcast_to_abstract(x, *, shape):
    ok = len(shape) >= x.ndim and all(
        d == s or d == 1 for d, s in zip(x.shape[::-1], shape[::-1]))
    if not ok:
        raise ShapeError(f"broadcast_to: cannot broadcast {x} to shape {shape}")
    return ShapedArray(shape, x.dtype)


broadcast_to_p.def_impl(lambda x, *, shape: np.broadcast_to(x, shape))


def broadcast_to(x, shape):
    shape = tuple(int(d) for d in shape)
    if aval_of(x).shape == shape:
        return x
    return broadcast_to_p.bind(x, shape=shape)


# ----------------------------------------------------------------------------- slice / pad

slice_p = Primitive("slice")


@slice_p.def_abstract_eval
def _slice_abstract(x, *, starts, limits, strides):
    if not (len(starts) == len(limits) == len(strides) == x.ndim):
        raise ShapeError(f"slice: {x} needs {x.ndim} starts, limits and strides")
    shape = []
    for d, (b, e, s) in enumerate(zip(starts, limits, strides)):
        if s < 1 or not 0 <= b <= e <= x.shape[d]:
            raise ShapeError(f"slice: bad bounds {b}:{e}:{s} on axis {d} of {x}")
        shape.append(max(0, -(-(e - b) // s)))
    return ShapedArray(shape, x.dtype)


slice_p.def_impl(lambda x, *, starts, limits, strides: np.asarray(
    x[tuple(slice(b, e, s) for b, e, s in zip(starts, limits, strides))]))


def slice_(x, starts, limits, strides=None):
    ndim = aval_of(x).ndim
    strides = tuple(strides) if strides is not None else (1,) * ndim
    starts, limits = tuple(int(s) for s in starts), tuple(int(s) for s in limits)
    strides = tuple(int(s) for s in strides)
    if starts == (0,) * ndim and limits == aval_of(x).shape and strides == (1,) * ndim:
        return x
    return slice_p.bind(x, starts=starts, limits=limits, strides=strides)


pad_p = Primitive("pad")


@pad_p.def_abstract_eval
def _pad_abstract(x, *, low, high, interior):
    if not (len(low) == len(high) == len(interior) == x.ndim):
        raise ShapeError(f"pad: {x} needs {x.ndim} low, high and interior paddings")
    shape = []
    for d, l, h, i in zip(x.shape, low, high, interior):
        if l < 0 or h < 0 or i < 0:
            raise ShapeError(f"pad: negative padding {(l, h, i)} of {x}")
        shape.append(l + h + d + max(d - 1, 0) * i)
    return ShapedArray(shape, x.dtype)


@pad_p.def_impl
def _pad_impl(x, *, low, high, interior):
    shape = [l + h + d + max(d - 1, 0) * i for d, l, h, i in zip(x.shape, low, high, interior)]
    out = np.zeros(shape, dtype=x.dtype)
    out[tuple(slice(l, l + max(d - 1, 0) * (i + 1) + 1 if d else l, i + 1)
              for d, l, i in zip(x.shape, low, interior))] = x
    return out


def pad(x, low, high, interior=None):
    ndim = aval_of(x).ndim
    interior = tuple(interior) if interior is not None else (0,) * ndim
    return pad_p.bind(x, low=tuple(int(v) for v in low), high=tuple(int(v) for v in high),
                      interior=tuple(int(v) for v in interior))


# ----------------------------------------------------------------------------- pad_add
# ``pad_add(buf, piece, low, interior) == buf + pad(piece, low, high, interior)``
# with ``high`` what fills ``buf``'s shape: ``piece`` added into ``buf`` at the
# static offsets ``low`` with steps ``interior + 1``. A 0-d ``piece`` is one
# element added at the index ``low``. The cotangent accumulation pass
# (funcgrad.passes.accumulate) writes sums of padded pieces as chains of these
# into one buffer, which the Numba backend updates in place.

pad_add_p = Primitive("pad_add")


def _pad_add_limits(piece_shape, low, interior):
    """Per axis of the buffer, one past the last index ``piece`` lands on."""
    if not piece_shape:   # a 0-d piece: one element at ``low``
        return tuple(l + 1 for l in low)
    return tuple(l + max(d - 1, 0) * (i + 1) + 1 if d else l
                 for d, l, i in zip(piece_shape, low, interior))


@pad_add_p.def_abstract_eval
def _pad_add_abstract(buf, piece, *, low, interior):
    same_dtype("pad_add", buf, piece)
    if buf.dtype == np.bool_:
        raise DtypeError(f"pad_add: boolean arrays are not supported: {describe(buf, piece)}")
    if len(low) != buf.ndim or len(interior) != buf.ndim or piece.ndim not in (0, buf.ndim):
        raise ShapeError(f"pad_add: a piece {piece} into {buf} needs {buf.ndim} offsets and interior "
                         f"paddings, and the buffer's rank or 0")
    if any(v < 0 for v in low) or any(v < 0 for v in interior):
        raise ShapeError(f"pad_add: negative offset {low} or interior padding {interior}")
    limits = _pad_add_limits(piece.shape, low, interior)
    if any(e > n for e, n in zip(limits, buf.shape)):
        raise ShapeError(f"pad_add: the piece {piece} at offsets {low} with interior padding "
                         f"{interior} does not fit in {buf}")
    return ShapedArray(buf.shape, buf.dtype)


@pad_add_p.def_impl
def _pad_add_impl(buf, piece, *, low, interior):
    out = np.array(buf, copy=True)
    piece = np.asarray(piece)
    if piece.ndim == 0 and out.ndim:
        out[tuple(low)] += piece
    else:
        limits = _pad_add_limits(piece.shape, low, interior)
        out[tuple(slice(l, e, i + 1) for l, e, i in zip(low, limits, interior))] += piece
    return out


def pad_add(buf, piece, low, interior=None):
    """``buf + pad(piece, low, high, interior)`` for the ``high`` that fills ``buf``."""
    ndim = aval_of(buf).ndim
    interior = tuple(interior) if interior is not None else (0,) * ndim
    return pad_add_p.bind(buf, piece, low=tuple(int(v) for v in low),
                          interior=tuple(int(v) for v in interior))


# ----------------------------------------------------------------------------- rev

rev_p = Primitive("rev")


def _rev_axes(axes, ndim):
    # unlike the reductions, NumPy's flip takes no axis of a 0-d array
    if ndim == 0 and len(axes):
        raise ShapeError(f"flip: axis {axes[0]} is out of bounds for an array of 0 dimensions")
    return normalize_axes("flip", axes, ndim)


@rev_p.def_abstract_eval
def _rev_abstract(x, *, axes):
    _rev_axes(axes, x.ndim)
    return x


rev_p.def_impl(lambda x, *, axes: np.flip(x, axes) if axes else x)


def rev(x, axes):
    axes = _rev_axes(axes, aval_of(x).ndim)
    if not axes:
        return x
    return rev_p.bind(x, axes=axes)


# ----------------------------------------------------------------------------- concatenate

concatenate_p = Primitive("concatenate")


@concatenate_p.def_abstract_eval
def _concatenate_abstract(*xs, axis):
    if not xs:
        raise ShapeError("concatenate: needs at least one array")
    dtype = same_dtype("concatenate", *xs)
    first = xs[0]
    if first.ndim == 0:
        raise ShapeError("concatenate: zero-dimensional arrays cannot be concatenated")
    for x in xs:
        if x.ndim != first.ndim or any(a != b for i, (a, b) in enumerate(zip(x.shape, first.shape))
                                       if i != axis):
            raise ShapeError(f"concatenate: shapes differ off axis {axis}: {describe(*xs)}")
    shape = list(first.shape)
    shape[axis] = sum(x.shape[axis] for x in xs)
    return ShapedArray(shape, dtype)


concatenate_p.def_impl(lambda *xs, axis: np.concatenate(xs, axis=axis))


def concatenate(xs, axis):
    (axis,) = normalize_axes("concatenate", (axis,), aval_of(xs[0]).ndim)
    if len(xs) == 1:
        return xs[0]
    return concatenate_p.bind(*xs, axis=axis)


# ----------------------------------------------------------------------------- iota

iota_p = Primitive("iota")


@iota_p.def_abstract_eval
def _iota_abstract(*, shape, dimension, dtype):
    if not 0 <= dimension < len(shape):
        raise ShapeError(f"iota: dimension {dimension} out of range for shape {shape}")
    if np.dtype(dtype).kind not in "iuf":
        raise DtypeError(f"iota: unsupported dtype {dtype}")
    return ShapedArray(shape, dtype)


@iota_p.def_impl
def _iota_impl(*, shape, dimension, dtype):
    r = np.arange(shape[dimension], dtype=dtype)
    view = [1] * len(shape)
    view[dimension] = shape[dimension]
    return np.ascontiguousarray(np.broadcast_to(r.reshape(view), shape))


def iota(shape, dimension, dtype):
    return iota_p.bind(shape=tuple(int(d) for d in shape), dimension=int(dimension), dtype=np.dtype(dtype))
