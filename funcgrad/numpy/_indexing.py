"""``x[key]`` for traced arrays: NumPy's basic and integer-array indexing.

Basic indexing (ints, slices with steps, ``None``, ``...``) becomes
``slice``, ``rev`` and ``reshape``. Integer-array ("advanced") indexing moves
the indexed axes to the front, folds them into one, and gathers with flat
indices, then puts the result's axes where NumPy puts them. Boolean masks
known at trace time become integer indices; traced masks have a
value-dependent shape and are refused with a pointer to ``where``.

Out-of-range integer indices (JAX's semantics; ``x`` has ``n`` rows):

- Indices known at trace time (Python ints, lists, NumPy arrays) are checked
  there: an index outside ``[-n, n)`` raises :class:`funcgrad.errors.ShapeError`.
- Negative indices in ``[-n, 0)`` count from the end, as in NumPy.
- Traced indices cannot raise. ``x[i]`` then follows JAX's default
  (``mode="promise_in_bounds"``): after the negative wrap, an index outside
  ``[0, n)`` reads the nearest row (clamped, per indexed axis), and its
  cotangent is dropped: it adds nothing to the gradient of ``x``.
  Exception, as in JAX (where such keys are a ``dynamic_slice``): when every
  index is a scalar (0-d) and every slice has step 1 or -1 (``x[t]``,
  ``x[t, 2:5]``), the gradient goes to the clamped element that was read.
- :func:`take` and :func:`take_along_axis` take JAX's ``mode`` (and
  ``fill_value``) for the other semantics: ``"fill"`` (their default for traced
  indices, as in JAX), ``"clip"``, ``"wrap"``.
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
        if empty and not isinstance(k, Tracer) and k.ndim:
            # NumPy reads no element through an empty index set, so checks no
            # bound of an index array (a scalar index it still checks)
            k = np.zeros(k.shape, np.int64)
        idx_arrays.append(wrap_indices(k, shape[i], "indexing"))
    try:
        bshape = tuple(np.broadcast_shapes(*[fnp.shape(k) for k in idx_arrays]))
    except ValueError:
        raise ShapeError("indexing: shape mismatch: index arrays could not be broadcast together with "
                         f"shapes {[fnp.shape(k) for k in idx_arrays]}") from None
    valid = None
    # Traced indices out of range (known ones were checked above), as JAX:
    # - only scalar indices and slices of step 1 or -1 (JAX's dynamic_slice):
    #   each index clamped, and the gradient goes to the element read;
    # - otherwise (JAX's gather): the value of the clamped element, and the
    #   cotangent dropped. With one indexed axis, the take primitive does both;
    #   with several, the flat index would read another row, so each axis's
    #   index is clamped here and the cotangent dropped where any is out of range.
    as_slice = bshape == () and all(k.step in (None, 1, -1) for k in key if isinstance(k, slice))
    if as_slice or len(idx_arrays) > 1:
        for j, (k, n) in enumerate(zip(idx_arrays, [shape[i] for i in adv_axes])):
            if isinstance(k, Tracer):
                if not as_slice:
                    ok = _in_bounds(k, n)
                    valid = ok if valid is None else fnp.logical_and(valid, ok)
                idx_arrays[j] = _clamp(k, n)
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
    if valid is not None:
        valid = P.reshape(fnp.broadcast_to(valid, bshape), bshape + (1,) * len(rest))
        out = fnp.where(valid, out, fnp.stop_gradient(out))
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


# ----------------------------------------------------------------------------- take, modes

def _index_array(indices, name):
    """Integer indices as int64: a Tracer, or a NumPy array when known."""
    if isinstance(indices, Tracer):
        dt = aval_of(indices).dtype
        if dt.kind not in "iu":
            raise DtypeError(f"{name}: indices must be integers, got {aval_of(indices)}")
        # int64 for the arithmetic below (a small dtype could overflow at k + n)
        return indices if dt == np.int64 else P.convert_element_type(indices, np.int64)
    idx = np.asarray(indices)
    if idx.dtype.kind not in "iu":
        if idx.size == 0:
            idx = idx.astype(np.int64)
        else:
            raise DtypeError(f"{name}: indices must be integers, got dtype {idx.dtype}")
    return idx.astype(np.int64)


def _checked(idx, n, name):
    """Known indices: NumPy's bounds check, then negative ones from the end."""
    if idx.size and (idx.max() >= n or idx.min() < -n):
        bad = idx[(idx >= n) | (idx < -n)].flat[0]
        raise ShapeError(f"{name}: index {bad} is out of bounds for an axis of size {n}")
    return np.where(idx < 0, idx + n, idx)


def _wrap_negative(k, n):
    if isinstance(k, Tracer):
        return fnp.where(fnp.less(k, 0), fnp.add(k, n), k)
    return np.where(k < 0, k + n, k)


def _in_bounds(k, n):
    """``0 <= k < n``; None when ``k`` is known and every index is in range."""
    if isinstance(k, Tracer):
        return fnp.logical_and(fnp.greater_equal(k, 0), fnp.less(k, n))
    ok = (k >= 0) & (k < n)
    return None if ok.all() else ok


def _clamp(k, n):
    if isinstance(k, Tracer):
        return fnp.clip(k, 0, n - 1)
    return np.clip(k, 0, n - 1)


def wrap_indices(indices, n, name):
    """Indices for the ``take`` primitive: known ones bounds-checked, and
    negative ones (known or traced) counted from the end. Traced ones out of
    range are left to the primitive (value clamped, cotangent dropped)."""
    k = _index_array(indices, name)
    if isinstance(k, Tracer):
        return _wrap_negative(k, n)
    return _checked(k, n, name)


def _default_fill(dtype):
    """JAX's default ``fill_value``: NaN for inexact dtypes, the most negative
    value for signed integers, the largest for unsigned ones, True for bool."""
    dtype = np.dtype(dtype)
    if dtype.kind in "fc":
        return np.asarray(np.nan, dtype)
    if dtype.kind == "i":
        return np.asarray(np.iinfo(dtype).min, dtype)
    if dtype.kind == "u":
        return np.asarray(np.iinfo(dtype).max, dtype)
    return np.asarray(True, dtype)


def _fill(out, valid, fill_value, lead):
    """``out`` where ``valid``, else the fill value; ``valid`` has the index
    shape, and ``lead`` axes of ``out`` come before it."""
    if valid is None:
        return out
    dtype = aval_of(out).dtype if isinstance(out, Tracer) else np.asarray(out).dtype
    fill = _default_fill(dtype) if fill_value is None else np.asarray(fill_value).astype(dtype)
    nd, vshape = fnp.ndim(out), fnp.shape(valid)
    valid = fnp.reshape(valid, (1,) * lead + tuple(vshape) + (1,) * (nd - lead - len(vshape)))
    return fnp.where(valid, out, fill)


_TAKE_MODES = (None, "fill", "clip", "wrap", "promise_in_bounds", "raise")


def _check_mode(name, mode, modes):
    if mode not in modes:
        raise UnsupportedError(f"{name}: mode={mode!r}; supported modes are "
                               f"{', '.join(repr(m) for m in modes)}")


def take(a, indices, axis=None, mode=None, fill_value=None):
    """``np.take(a, indices, axis)`` with JAX's out-of-range modes.

    ``axis=None`` takes from the flattened ``a``. Negative indices in
    ``[-n, 0)`` count from the end (except with ``mode="clip"``, as in NumPy).
    For an index outside ``[-n, n)`` (``n = a.shape[axis]``):

    - ``mode=None`` (default): an index known at trace time raises
      :class:`~funcgrad.errors.ShapeError` (NumPy's ``"raise"``); a traced one
      gets ``"fill"``, JAX's default for ``jnp.take``.
    - ``"fill"``: the result is ``fill_value`` there (default: NaN for floats,
      the most negative integer for signed ints, the largest for unsigned, True
      for bool), and the gradient there is 0.
    - ``"clip"``: the index is clipped to ``[0, n - 1]`` *before* any negative
      wrap (NumPy's and JAX's ``clip``: -1 reads row 0); the gradient goes to
      the row read.
    - ``"wrap"``: the index is taken modulo ``n``; the gradient goes to the row read.
    - ``"promise_in_bounds"`` (funcgrad's addition; JAX's ``.at[].get`` and
      ``x[i]`` default): the value of the clamped row, and the cotangent dropped,
      as ``x[i]`` does. The cheapest (no select); meant for indices known to be
      in range.
    - ``"raise"``: known indices are checked as with ``None``; traced ones are
      refused (they cannot raise; JAX refuses this mode too).
    """
    a = fnp.asarray(a)
    _check_mode("take", mode, _TAKE_MODES)
    if axis is None:
        a, axis = fnp.ravel(a), 0
    (axis,) = fnp._axes(axis, fnp.ndim(a))
    n = fnp.shape(a)[axis]
    k = _index_array(indices, "take")
    traced = isinstance(k, Tracer)
    if mode in (None, "raise"):
        if not traced:
            return P.take(a, _checked(k, n, "take"), axis)
        if mode == "raise":
            raise UnsupportedError("take: mode='raise' needs indices known at trace time (traced values "
                                   "cannot raise); use mode='fill', 'clip' or 'wrap'")
        mode = "fill"
    if n == 0 and fnp.size(k):
        raise ShapeError(f"take: cannot take from the empty axis {axis} of {aval_of(a)}")
    if mode == "clip":
        return P.take(a, _clamp(k, n), axis)
    if mode == "wrap":
        return P.take(a, fnp.remainder(k, n) if traced else np.remainder(k, n), axis)
    k = _wrap_negative(k, n)
    if mode == "promise_in_bounds":
        return P.take(a, k, axis)
    # the primitive clamps the value and drops the cotangent where out of range
    return _fill(P.take(a, k, axis), _in_bounds(k, n), fill_value, axis)


def take_along_axis(arr, indices, axis, mode=None, fill_value=None):
    """``np.take_along_axis``: gathers with ``indices`` broadcast against
    ``arr`` on every axis but ``axis``, via flat indices into ``arr``.

    Negative indices in ``[-n, 0)`` count from the end. For an index outside
    ``[-n, n)`` (as ``jnp.take_along_axis``):

    - ``mode=None`` (default): known at trace time, it raises
      :class:`~funcgrad.errors.ShapeError`; traced, it gets ``"fill"``.
    - ``"fill"``: ``fill_value`` there (default as in :func:`take`), gradient 0.
    - ``"clip"``: after the negative wrap, clipped to ``[0, n - 1]`` (JAX's
      ``take_along_axis`` wraps first, unlike :func:`take`'s ``"clip"``); the
      gradient goes to the element read.
    """
    _check_mode("take_along_axis", mode, (None, "fill", "clip"))
    arr = fnp.asarray(arr)
    if axis is None:
        arr, indices, axis = fnp.ravel(arr), fnp.ravel(indices), 0
    nd = fnp.ndim(arr)
    if fnp.ndim(indices) != nd:
        raise ShapeError(f"take_along_axis: indices {aval_of(fnp.asarray(indices))} and arr {aval_of(arr)} "
                         "must have the same number of dimensions")
    (axis,) = fnp._axes(axis, nd)
    s = fnp.shape(arr)
    n = s[axis]
    k = _index_array(indices, "take_along_axis")
    valid = None
    if mode is None and not isinstance(k, Tracer):
        idx = _checked(k, n, "take_along_axis")
    else:
        if n == 0 and fnp.size(k):
            raise ShapeError(f"take_along_axis: cannot take from the empty axis {axis} of {aval_of(arr)}")
        idx = _wrap_negative(k, n)
        if mode in (None, "fill"):
            valid = _in_bounds(idx, n)
        # clamped on this axis: a flat index past the row would read the next row
        idx = _clamp(idx, n)
    ishape = fnp.shape(idx)
    out_shape = tuple(np.broadcast_shapes(
        tuple(d for i, d in enumerate(s) if i != axis),
        tuple(d for i, d in enumerate(ishape) if i != axis)))
    out_shape = out_shape[:axis] + (ishape[axis],) + out_shape[axis:]
    strides = np.cumprod((s[1:] + (1,))[::-1])[::-1]
    flat = None
    for d in range(nd):
        if d == axis:
            term = idx
        else:
            view = [1] * nd
            view[d] = out_shape[d]
            term = fnp.reshape(fnp.arange(out_shape[d]), view)
        term = fnp.multiply(term, int(strides[d])) if strides[d] != 1 else term
        flat = term if flat is None else fnp.add(flat, term)
    flat = fnp.broadcast_to(flat, out_shape)
    return _fill(P.take(fnp.ravel(arr), flat, 0), valid, fill_value, 0)


# the docstrings of funcgrad.numpy's names (defined in _core, which this module imports)
fnp.take.__doc__ = take.__doc__
fnp.take_along_axis.__doc__ = take_along_axis.__doc__
