"""``x[key]`` for traced arrays: NumPy's basic and integer-array indexing.

Basic indexing (ints, slices with steps, ``None``, ``...``) becomes
``slice``, ``rev`` and ``reshape``. Integer-array ("advanced") indexing moves
the indexed axes to the front, folds them into one, and gathers with flat
indices, then puts the result's axes where NumPy puts them. Boolean masks
known at trace time become integer indices; traced masks have a
value-dependent shape and are refused with a pointer to ``where``.
"""
from __future__ import annotations

import operator

import numpy as np

from .. import primitives as P
from ..core.trace import Tracer, aval_of
from ..errors import DtypeError, ShapeError, UnsupportedError
from . import _core as fnp


def _is_array_index(k):
    if isinstance(k, Tracer):
        return True
    if isinstance(k, (list, np.ndarray)):
        return True
    return False


def _is_bool_mask(k):
    return isinstance(k, (np.ndarray, list)) and np.asarray(k).dtype == bool


def _expand_key(key, shape):
    ndim = len(shape)
    if not isinstance(key, tuple):
        key = (key,)
    n_ellipsis = sum(1 for k in key if k is Ellipsis)
    if n_ellipsis > 1:
        raise ShapeError("indexing: an index can only have a single ellipsis ('...')")
    # the axes of x each entry consumes (a boolean mask: as many as it has dimensions)
    consumed = [0 if k is None or k is Ellipsis else np.ndim(k) if _is_bool_mask(k) else 1 for k in key]
    used = sum(consumed)
    if used > ndim:
        raise ShapeError(f"indexing: too many indices for an array of {ndim} dimensions ({used} given)")
    out = []
    axis = 0
    ellipsis_at = None
    for k, n in zip(key, consumed):
        if k is Ellipsis:
            ellipsis_at = len(out)
            out.extend([slice(None)] * (ndim - used))
            axis += ndim - used
            continue
        if _is_bool_mask(k):
            mask = np.asarray(k)
            if mask.ndim == 0:
                raise UnsupportedError("indexing with a 0-d boolean array is not supported")
            if mask.shape != shape[axis:axis + n]:
                raise ShapeError(f"indexing: boolean index of shape {mask.shape} does not match the indexed "
                                 f"array's axes {tuple(range(axis, axis + n))} of shape {shape[axis:axis + n]}")
            out.extend(np.nonzero(mask))  # one integer index per mask axis
        elif isinstance(k, Tracer) and k.dtype == bool:
            raise UnsupportedError(
                f"indexing with a traced boolean mask {k.aval}: the result's shape would depend on the "
                "mask's values. Use funcgrad.numpy.where(mask, x, 0) (or a sum weighted by the mask) instead")
        else:
            out.append(k)
        axis += n
    if not n_ellipsis:
        out += [slice(None)] * (ndim - used)
    return out, ellipsis_at


def getitem(x, key):
    x = fnp.asarray(x)
    shape = aval_of(x).shape
    key, ellipsis_at = _expand_key(key, shape)
    if any(_is_array_index(k) for k in key):
        return _advanced(x, key, ellipsis_at)
    return _basic(x, key)


def _check_int(k, n, axis, aval):
    k = operator.index(k)  # NumPy refuses floats (x[1.5]) with an IndexError
    if not -n <= k < n:
        raise ShapeError(f"indexing {aval}: index {k} is out of bounds for axis {axis} with size {n}")
    return k % n


def _basic(x, key):
    shape = aval_of(x).shape
    starts, limits, strides, flips, new_shape = [], [], [], [], []
    axis = 0
    for k in key:
        if k is None:
            new_shape.append(1)
            continue
        n = shape[axis]
        if isinstance(k, slice):
            start, stop, step = k.indices(n)
            if step > 0:
                length = len(range(start, stop, step))
                starts.append(start)
                limits.append(start + (length - 1) * step + 1 if length else start)
                strides.append(step)
            else:
                length = len(range(start, stop, step))
                # reversed walk: take the ascending slice, then flip the axis
                lo = start + (length - 1) * step if length else 0
                starts.append(lo)
                limits.append(start + 1 if length else 0)
                strides.append(-step)
                flips.append(axis)
            new_shape.append(length)
        else:
            if isinstance(k, (bool, np.bool_)):
                raise UnsupportedError(f"indexing {aval_of(x)} with a Python bool is not supported")
            try:
                i = _check_int(k, n, axis, aval_of(x))
            except TypeError:
                raise DtypeError(f"indexing {aval_of(x)}: only integers, slices (`:`), ellipsis (`...`), None "
                                 "and integer or boolean arrays are valid indices, got "
                                 f"{k!r:.40} of type {type(k).__name__}") from None
            starts.append(i)
            limits.append(i + 1)
            strides.append(1)
        axis += 1
    out = P.slice_(x, starts, limits, strides)
    if flips:
        out = P.rev(out, tuple(flips))
    return P.reshape(out, tuple(new_shape))


def _advanced(x, key, ellipsis_at=None):
    if any(k is None for k in key):
        # a new axis of size 1, then indexed by a full slice: a slice between
        # integer-array indices separates them, exactly as None does in NumPy
        dims = iter(aval_of(x).shape)
        x = P.reshape(x, tuple(1 if k is None else next(dims) for k in key))
        key = [slice(None) if k is None else k for k in key]
    # 1. basic slices on the other axes (kept, not squeezed)
    slice_key = tuple(k if isinstance(k, slice) else slice(None) for k in key)
    x = _basic(x, slice_key)
    shape = aval_of(x).shape
    adv_axes = [i for i, k in enumerate(key) if not isinstance(k, slice)]
    raw = [key[i] if isinstance(key[i], Tracer) else np.asarray(key[i]) for i in adv_axes]
    try:
        empty = int(np.prod(np.broadcast_shapes(*[fnp.shape(k) for k in raw]))) == 0
    except ValueError:
        empty = False  # reported below, with the shapes
    idx_arrays = []
    for i, k in zip(adv_axes, raw):
        if empty and not isinstance(k, Tracer):
            # NumPy reads no element through an empty index set, so checks no bound
            k = np.zeros(k.shape, np.int64)
        idx_arrays.append(fnp._wrap_indices(k, shape[i], "indexing"))
    try:
        bshape = tuple(np.broadcast_shapes(*[fnp.shape(k) for k in idx_arrays]))
    except ValueError:
        raise ShapeError("indexing: shape mismatch: index arrays could not be broadcast together with "
                         f"shapes {[fnp.shape(k) for k in idx_arrays]}") from None
    # 2. flat index over the indexed axes (row-major)
    sizes = [shape[i] for i in adv_axes]
    flat = None
    stride = 1
    for k, n in zip(reversed(idx_arrays), reversed(sizes)):
        term = fnp.multiply(k, stride) if stride != 1 else k
        flat = term if flat is None else fnp.add(flat, term)
        stride *= n
    flat = fnp.broadcast_to(flat, bshape)
    # 3. indexed axes to the front, folded into one, gathered
    rest = [i for i in range(len(shape)) if i not in adv_axes]
    moved = P.transpose(x, tuple(adv_axes + rest))
    folded = P.reshape(moved, (int(np.prod(sizes)),) + tuple(shape[i] for i in rest))
    out = P.take(folded, flat, 0)
    # 4. NumPy keeps the result's index axes in place when the indexed axes are adjacent
    contiguous = adv_axes == list(range(adv_axes[0], adv_axes[0] + len(adv_axes)))
    if ellipsis_at is not None and adv_axes[0] < ellipsis_at <= adv_axes[-1]:
        contiguous = False  # NumPy: an ellipsis between them separates them, even an empty one
    if contiguous and adv_axes[0] > 0:
        nb, first = len(bshape), adv_axes[0]
        nrest = len(rest)
        perm = list(range(nb, nb + first)) + list(range(nb)) + list(range(nb + first, nb + nrest))
        out = P.transpose(out, tuple(perm))
    return out
