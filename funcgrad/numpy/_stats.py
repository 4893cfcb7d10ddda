"""Reductions, statistics, sorting and searching beyond _core.

Each function takes NumPy's signature and follows its semantics, written with the
primitives and ``_core``'s functions so that every transformation and backend handles it.

Notes on what differs from NumPy (as in ``jax.numpy``):

- Functions whose result's shape depends on values (``nonzero``, ``argwhere``,
  ``flatnonzero``, ``unique``, ``bincount``) are NumPy's own on concrete arrays;
  on traced arrays they need a static size (``size=`` or ``length=``).
- ``partition`` and ``argpartition`` sort fully: NumPy allows any order within
  the two partitions, so a full sort is a valid result.
- ``sort`` is differentiable (values gathered with ``argsort``'s indices);
  indices (``argsort``, ``searchsorted``, ``digitize``...) carry no gradient,
  nor do ``histogram``'s counts.
- ``allclose`` and ``array_equal`` give Python bools on concrete arrays and
  traced boolean scalars on traced ones (as ``jnp``'s).
"""
from __future__ import annotations

import builtins
import operator

import numpy as np

from .. import primitives as P
from ..core.trace import Tracer, aval_of
from ..errors import InputError, ShapeError, UnsupportedError
from . import _core as C
from ._core import (_axes, _axes_of, _check_out, _dtype, _int_axis, _is_weak, _promote, _sum_dtype,
                    asarray, ndim, shape)

_py_range, _py_max = builtins.range, builtins.max

__all__ = [
    "cumprod", "diff", "ediff1d", "gradient", "average", "median", "percentile", "quantile",
    "nanmean", "nansum", "nanmax", "nanmin", "nanstd", "nanvar", "nanprod", "count_nonzero", "ptp",
    "cov", "corrcoef", "trapezoid", "allclose", "array_equal",
    "sort", "argsort", "partition", "argpartition", "searchsorted", "digitize", "nonzero", "argwhere",
    "flatnonzero", "unique", "bincount", "histogram",
]

# NumPy ufunc name -> the name of the function here that np.<ufunc>(traced) dispatches to
UFUNCS: dict = {}


# ----------------------------------------------------------------------------- helpers

def _concrete(*xs) -> bool:
    return not builtins.any(isinstance(x, Tracer) or C._has_tracer(x) if isinstance(x, (list, tuple))
                            else isinstance(x, Tracer) for x in xs)


def _slice_axis(a, axis, start, stop):
    s = shape(a)
    starts = [0] * len(s)
    limits = list(s)
    starts[axis], limits[axis] = start, stop
    return P.slice_(a, starts, limits)


def _float_dtype(dt):
    dt = np.dtype(dt)
    return dt if dt.kind == "f" else np.dtype(np.float64)


def _sort_last(a):
    """``a`` sorted along its last axis (differentiable)."""
    idx = P.argsort(a, -1)
    return C.take_along_axis(a, idx, -1, mode="clip")


def _nan_lt(x, y, strict):
    """NumPy's sort order (NaN last): ``x < y`` (``strict``) or ``x <= y``."""
    base = C.less(x, y) if strict else C.less_equal(x, y)
    if _dtype(x).kind == "f" or _dtype(y).kind == "f":
        if strict:
            return C.logical_or(base, C.logical_and(C.isnan(y), C.logical_not(C.isnan(x))))
        return C.logical_or(base, C.isnan(y))
    return base


# ----------------------------------------------------------------------------- cumulative, differences

def cumprod(a, axis=None, dtype=None):
    """Cumulative product, as a product over a triangular mask (O(n^2), as
    ``cumsum``'s matmul). Its gradient is the product rule's, exact at zeros too."""
    a = asarray(a)
    if axis is None:
        a, axis = C.ravel(a), 0
    a, axis = C._view_1d_axis("cumprod", a, _int_axis("cumprod", axis))
    a = _promote(a, dtype=dtype if dtype is not None else _sum_dtype(_dtype(a)))[0]
    (axis,) = _axes_of("cumprod", a, axis)
    n = shape(a)[axis]
    moved = C.moveaxis(a, axis, -1)
    s = shape(moved)
    expanded = C.broadcast_to(C.expand_dims(moved, -2), s[:-1] + (n, n))    # [..., i, j] = a[..., j]
    mask = np.tri(n, n, 0, dtype=bool)                                       # j <= i
    out = P.reduce_prod(C.where(mask, expanded, np.ones((), _dtype(a))), (len(s),), False)
    return C.moveaxis(out, -1, axis)


def diff(a, n=1, axis=-1, prepend=np._NoValue, append=np._NoValue):
    a = asarray(a)
    n = operator.index(n)
    if n < 0:
        raise ShapeError(f"diff: order must be non-negative but got {n}")
    if ndim(a) == 0:
        raise ShapeError("diff: diff requires input that is at least one dimensional (got shape ())")
    (axis,) = _axes_of("diff", a, _int_axis("diff", axis))
    if n == 0:
        return a
    parts = []
    for extra in (prepend, append):
        if extra is np._NoValue:
            parts.append(None)
            continue
        extra = asarray(extra)
        if ndim(extra) == 0:
            s = list(shape(a))
            s[axis] = 1
            extra = C.broadcast_to(extra, tuple(s))
        parts.append(extra)
    if parts[0] is not None or parts[1] is not None:
        a = C.concatenate([p for p in (parts[0], a, parts[1]) if p is not None], axis=axis)
    for _ in _py_range(n):
        m = shape(a)[axis]
        if m == 0:
            break
        hi, lo = _slice_axis(a, axis, 1, m), _slice_axis(a, axis, 0, m - 1)
        a = C.not_equal(hi, lo) if _dtype(a) == bool else P.sub(hi, lo)
    return a


def ediff1d(ary, to_end=None, to_begin=None):
    ary = C.ravel(asarray(ary))
    dt = _dtype(ary)
    d = diff(ary) if shape(ary)[0] else ary
    parts = []
    for extra in (to_begin, d, to_end):
        if extra is None:
            continue
        if extra is not d:
            extra = C.ravel(asarray(extra))
            if not np.can_cast(_dtype(extra), dt, casting="same_kind"):
                raise InputError(f"ediff1d: dtype of `to_begin`/`to_end` ({_dtype(extra)}) must be "
                                 f"compatible with input ary ({dt}) under the `same_kind` rule")
            extra = _promote(extra, dtype=dt)[0]
        parts.append(extra)
    return parts[0] if len(parts) == 1 else C.concatenate(parts)


def gradient(f, *varargs, axis=None, edge_order=1):
    """``np.gradient``: second-order central differences inside, one-sided
    differences of order ``edge_order`` (1 or 2) at the ends; spacings as
    NumPy's (none, one scalar, or one scalar or 1-d coordinate array per axis).
    The result has ``f``'s dtype (float64 for integers)."""
    f = asarray(f)
    nd = ndim(f)
    axes = _axes(axis, nd, "gradient", shape(f), zero_d=None)
    if len(varargs) == 0:
        dx = [1.0] * len(axes)
    elif len(varargs) == 1 and ndim(varargs[0]) == 0:
        dx = [varargs[0]] * len(axes)
    elif len(varargs) == len(axes):
        dx = []
        for i, h in enumerate(varargs):
            h = asarray(h)
            if ndim(h) == 0:
                dx.append(h)
                continue
            if ndim(h) != 1:
                raise ShapeError(f"gradient: distances must be either scalars or 1d, got shape {shape(h)}")
            if shape(h)[0] != shape(f)[axes[i]]:
                raise ShapeError(f"gradient: when 1d, distances must match the length of the corresponding "
                                 f"dimension ({shape(h)[0]} coordinates for axis {axes[i]} of {aval_of(f)})")
            if _dtype(h).kind != "f":
                h = _promote(h, dtype=np.float64)[0]
            d = diff(h)
            if not isinstance(d, Tracer) and np.all(d == d[0]):
                d = d[0]           # as NumPy: constant spacing is the scalar case
            dx.append(d)
    else:
        raise InputError(f"gradient: invalid number of arguments ({len(varargs)} spacings for "
                         f"{len(axes)} axes)")
    if edge_order not in (1, 2):
        raise InputError(f"gradient: 'edge_order' must be 1 or 2, got {edge_order!r}")
    otype = _dtype(f)
    if otype.kind != "f":
        f = _promote(f, dtype=np.float64)[0]
        otype = np.dtype(np.float64)
    outs = []
    for ax, h in zip(axes, dx):
        n = shape(f)[ax]
        if n < edge_order + 1:
            raise ShapeError(f"gradient: shape of the array too small to calculate a numerical gradient, "
                             f"at least (edge_order + 1) elements are required (axis {ax} of {aval_of(f)})")

        def sl(i):          # f[..., i:i+1, ...] along ax, i from either end
            i = i % n
            return _slice_axis(f, ax, i, i + 1)

        def along(v):      # a 1-d array of spacings, broadcast along ax
            s = [1] * nd
            s[ax] = -1
            return C.reshape(v, tuple(s))

        uniform = ndim(h) == 0
        sub, mul, add_, div = C.subtract, C.multiply, C.add, C.divide
        pieces = []
        if uniform:
            interior = div(sub(_slice_axis(f, ax, 2, n), _slice_axis(f, ax, 0, n - 2)), mul(2.0, h))
        else:
            dx1, dx2 = _slice_axis(h, 0, 0, n - 2), _slice_axis(h, 0, 1, n - 1)
            a = div(C.negative(dx2), mul(dx1, add_(dx1, dx2)))
            b = div(sub(dx2, dx1), mul(dx1, dx2))
            c = div(dx1, mul(dx2, add_(dx1, dx2)))
            interior = add_(add_(mul(along(a), _slice_axis(f, ax, 0, n - 2)),
                                 mul(along(b), _slice_axis(f, ax, 1, n - 1))),
                            mul(along(c), _slice_axis(f, ax, 2, n)))
        if edge_order == 1:
            h0 = h if uniform else h[0]
            hn = h if uniform else h[n - 2]
            first = div(sub(sl(1), sl(0)), h0)
            last = div(sub(sl(-1), sl(-2)), hn)
        else:
            if uniform:
                a, b, c = div(-1.5, h), div(2.0, h), div(-0.5, h)
            else:
                d1, d2 = h[0], h[1]
                a = div(C.negative(add_(mul(2.0, d1), d2)), mul(d1, add_(d1, d2)))
                b = div(add_(d1, d2), mul(d1, d2))
                c = div(C.negative(d1), mul(d2, add_(d1, d2)))
            first = add_(add_(mul(a, sl(0)), mul(b, sl(1))), mul(c, sl(2)))
            if uniform:
                a, b, c = div(0.5, h), div(-2.0, h), div(1.5, h)
            else:
                d1, d2 = h[n - 3], h[n - 2]
                a = div(d2, mul(d1, add_(d1, d2)))
                b = div(C.negative(add_(d2, d1)), mul(d1, d2))
                c = div(add_(mul(2.0, d2), d1), mul(d2, add_(d1, d2)))
            last = add_(add_(mul(a, sl(-3)), mul(b, sl(-2))), mul(c, sl(-1)))
        pieces = [first] + ([interior] if n > 2 else []) + [last]
        pieces = _promote(*pieces, dtype=otype)
        outs.append(C.concatenate(pieces, axis=ax))
    return outs[0] if len(outs) == 1 else tuple(outs)


# ----------------------------------------------------------------------------- averages

def average(a, axis=None, weights=None, returned=False, *, keepdims=False):
    a = asarray(a)
    axes = _axes_of("average", a, axis)
    if weights is None:
        avg = C.mean(a, axis=axes, keepdims=keepdims)
        scl = np.asarray(C._count(a, axes), dtype=_dtype(avg))
    else:
        w = asarray(weights)
        if _dtype(a).kind in "biu":
            rdt = np.result_type(_dtype(a), _dtype(w), np.float64)
        else:
            rdt = np.result_type(_dtype(a), _dtype(w))
        if shape(a) != shape(w):
            if axis is None:
                raise ShapeError(f"average: axis must be specified when shapes of a {shape(a)} and "
                                 f"weights {shape(w)} differ")
            if ndim(w) != len(axes) or tuple(shape(a)[i] for i in axes) != shape(w):
                raise ShapeError(f"average: shape of weights {shape(w)} must be consistent with shape "
                                 f"of a {shape(a)} along specified axis {axis}")
            # weights along the axes, broadcast against a
            order = sorted(_py_range(len(axes)), key=lambda k: axes[k])
            w = C.transpose(w, order) if len(axes) > 1 else w
            bshape = tuple(shape(a)[i] if i in axes else 1 for i in _py_range(ndim(a)))
            w = C.reshape(w, bshape)
        a, w = _promote(a, w, dtype=rdt)
        scl = P.reduce_sum(C.broadcast_to(w, shape(a)), axes, keepdims)
        avg = C.divide(P.reduce_sum(P.mul(a, w), axes, keepdims), scl)
    if returned:
        return avg, C.broadcast_to(_promote(scl, dtype=_dtype(avg))[0], shape(avg))
    return avg


def _reduce_axes_last(name, a, axis, zero_d=None):
    """``a`` with ``axis`` (None, int or tuple) merged into one last axis, and
    the axes (for keepdims)."""
    axes = _axes(axis, ndim(a), name, shape(a), zero_d=zero_d)
    s = shape(a)
    keep = [i for i in _py_range(len(s)) if i not in axes]
    moved = C.transpose(a, keep + list(axes)) if s else a
    n = int(np.prod([s[i] for i in axes], dtype=np.int64))
    merged = C.reshape(moved, tuple(s[i] for i in keep) + (n,))
    return merged, axes


def _quantile(name, a, q, axis, method, keepdims):
    a = asarray(a)
    if _dtype(a).kind not in "biuf":
        raise InputError(f"{name}: unsupported dtype {_dtype(a)}")
    methods = ("linear", "lower", "higher", "midpoint", "nearest", "inverted_cdf")
    if method not in methods:
        raise UnsupportedError(f"{name}: method={method!r} is not supported; use one of {methods}")
    out_dt = _result_type_float(a, q)
    if isinstance(q, Tracer):
        qa = _promote(q, dtype=out_dt)[0]
    else:
        qa = np.asarray(q, dtype=out_dt)
        if qa.size and (np.any(qa < 0) or np.any(qa > 1) or np.any(np.isnan(qa))):
            raise InputError(f"{name}: quantiles must be in the range [0, 1]"
                             + (" (percentiles in [0, 100])" if name == "percentile" else ""))
    x = _promote(a, dtype=np.int64)[0] if _dtype(a) == bool else a
    merged, axes = _reduce_axes_last(name, x, axis)
    n = shape(merged)[-1]
    if n == 0:
        raise ShapeError(f"{name}: cannot take a quantile of an empty array (shape {shape(a)}, axis {axis})")
    srt = _sort_last(merged)                                  # (..., n), a's dtype (as NumPy's)
    lead = shape(srt)[:-1]
    qs = shape(qa)
    # NumPy's virtual index n q + (alpha + q (1 - alpha - beta)) - 1, alpha = beta = 1
    virt = C.subtract(C.add(C.multiply(np.asarray(n, out_dt), qa), C.add(np.asarray(1, out_dt), C.negative(qa))),
                      np.asarray(1, out_dt))
    lo_f = C.clip(C.floor(virt), 0, n - 1)
    hi_f = C.clip(C.add(C.floor(virt), 1), 0, n - 1)
    if method == "lower":
        lo_f = hi_f = lo_f
    elif method == "higher":
        lo_f = hi_f = C.clip(C.ceil(virt), 0, n - 1)
    elif method == "nearest":
        lo_f = hi_f = C.clip(C.rint(virt), 0, n - 1)
    elif method == "inverted_cdf":
        k = C.clip(C.subtract(C.ceil(C.multiply(qa, np.asarray(n, out_dt))), 1), 0, n - 1)
        lo_f = hi_f = k
    lo = C.stop_gradient(C.astype(lo_f, np.int64))
    hi = C.stop_gradient(C.astype(hi_f, np.int64))

    def gather(idx):
        # srt[..., idx] for every q: result (qs..., lead...)
        g = P.take(srt, C.reshape(idx, (-1,)), len(lead))       # (lead..., nq)
        g = C.moveaxis(g, -1, 0)                               # (nq, lead...)
        return C.reshape(g, qs + lead)

    v_lo, v_hi = gather(lo), gather(hi)
    if method in ("linear", "midpoint"):
        if method == "linear":
            gamma = C.subtract(virt, C.floor(virt))
            gamma = C.reshape(gamma, qs + (1,) * len(lead))
        else:       # NumPy's midpoint: 0.5, or 0 at a whole virtual index
            gamma = C.where(C.equal(virt, C.floor(virt)), np.asarray(0, out_dt), np.asarray(0.5, out_dt))
            gamma = C.reshape(gamma, qs + (1,) * len(lead))
        # NumPy's lerp: a + (b - a) t below t = 0.5, b - (b - a)(1 - t) above; b - a in a's dtype
        d = P.sub(v_hi, v_lo)
        res = C.where(C.greater_equal(gamma, 0.5), C.subtract(v_hi, C.multiply(d, C.subtract(1, gamma))),
                      C.add(v_lo, C.multiply(d, gamma)))
    else:
        res = v_lo
        out_dt = _dtype(a)          # as NumPy: the discrete methods keep a's dtype
    res = _promote(res, dtype=out_dt)[0]
    if out_dt.kind == "f":    # as NumPy: a NaN in a slice makes its quantiles NaN
        has_nan = C.any(C.isnan(merged), axis=-1)
        res = C.where(has_nan, np.asarray(np.nan, out_dt), res)
    if keepdims:
        s = list(shape(a))
        for i in axes:
            s[i] = 1
        res = C.reshape(res, qs + tuple(s))
    return res


def _result_type_float(a, q):
    """The dtype of a quantile: NumPy's promotion of ``a`` and ``q`` (a Python ``q`` weak),
    float64 for integer ``a``."""
    if _dtype(a).kind != "f":
        return np.dtype(np.float64)
    return np.dtype(C.result_type(a, np.asarray(q) if isinstance(q, (list, tuple)) else q))


def quantile(a, q, axis=None, out=None, overwrite_input=False, method="linear", keepdims=False, *,
             weights=None, interpolation=None):
    _check_out(out, "quantile")
    if weights is not None:
        raise UnsupportedError("quantile: weights= is not supported")
    if interpolation is not None:
        method = interpolation
    return _quantile("quantile", a, q, axis, method, keepdims)


def percentile(a, q, axis=None, out=None, overwrite_input=False, method="linear", keepdims=False, *,
               weights=None, interpolation=None):
    _check_out(out, "percentile")
    if weights is not None:
        raise UnsupportedError("percentile: weights= is not supported")
    if interpolation is not None:
        method = interpolation
    if isinstance(q, Tracer):
        q = C.divide(q, 100)
    else:
        qn = np.asarray(q)
        if qn.size and (np.any(qn < 0) or np.any(qn > 100)):
            raise InputError("percentile: percentiles must be in the range [0, 100]")
        q = q / 100 if _is_weak(q) else np.true_divide(qn, 100).astype(qn.dtype if qn.dtype.kind == "f" else None)
    return _quantile("percentile", a, q, axis, method, keepdims)


def median(a, axis=None, out=None, overwrite_input=False, keepdims=False):
    _check_out(out, "median")
    return _quantile("median", a, 0.5, axis, "linear", keepdims)


# ----------------------------------------------------------------------------- NaN-ignoring reductions

def _nan_fill(a, value):
    a = asarray(a)
    if _dtype(a).kind != "f":
        return a, None
    mask = C.isnan(a)
    return C.where(mask, np.asarray(value, _dtype(a)), a), mask


def nansum(a, axis=None, dtype=None, out=None, keepdims=False, initial=None, where=None):
    _axes_of("nansum", asarray(a), axis, zero_d="int")
    a, _ = _nan_fill(a, 0)
    return C.sum(a, axis=axis, dtype=dtype, out=out, keepdims=keepdims, initial=initial, where=where)


def nanprod(a, axis=None, dtype=None, out=None, keepdims=False, initial=None, where=None):
    _axes_of("nanprod", asarray(a), axis, zero_d="int")
    a, _ = _nan_fill(a, 1)
    if where is not None:
        a = C.where(where, a, 1)
    r = C.prod(a, axis=axis, dtype=dtype, out=out, keepdims=keepdims)
    return r if initial is None else C.multiply(r, initial)


def _nan_extremum(name, fill, reduce):
    def f(a, axis=None, out=None, keepdims=False, initial=None, where=None):
        _check_out(out, name)
        if where is not None:
            raise UnsupportedError(f"{name}: the where= argument is not supported")
        a = asarray(a)
        _axes_of(name, a, axis, zero_d="int")
        filled, mask = _nan_fill(a, fill)
        r = reduce(filled, axis=axis, keepdims=keepdims)
        if mask is not None:   # an all-NaN slice is NaN, as NumPy (which also warns)
            r = C.where(C.all(mask, axis=axis, keepdims=keepdims), np.asarray(np.nan, _dtype(a)), r)
        if initial is not None:
            r = (C.maximum if name == "nanmax" else C.minimum)(r, initial)
        return r
    f.__name__ = name
    f.__doc__ = f"``np.{name}``: NaNs ignored; an all-NaN slice gives NaN."
    return f


nanmax = _nan_extremum("nanmax", -np.inf, C.max)
nanmin = _nan_extremum("nanmin", np.inf, C.min)


def nanmean(a, axis=None, dtype=None, out=None, keepdims=False, *, where=None):
    _check_out(out, "nanmean")
    a = asarray(a)
    if _dtype(a).kind != "f" and where is None:
        return C.mean(a, axis=axis, dtype=dtype, keepdims=keepdims)
    if dtype is None:
        dtype = _float_dtype(_dtype(a))
    filled, mask = _nan_fill(a, 0)
    valid = C.logical_not(mask) if mask is not None else C.full(shape(a), True)
    if where is not None:
        valid = C.logical_and(valid, where)
        filled = C.where(valid, filled, 0)
    axes = _axes_of("nanmean", a, axis)
    tot = P.reduce_sum(_promote(filled, dtype=dtype)[0], axes, keepdims)
    cnt = P.reduce_sum(_promote(valid, dtype=dtype)[0], axes, keepdims)
    return P.div(tot, cnt)


def nanvar(a, axis=None, dtype=None, out=None, ddof=0, keepdims=False, *, where=None, mean=None,
           correction=None):
    return _nanvar("nanvar", a, axis, dtype, out, ddof, keepdims, where, mean, correction)


def _nanvar(name, a, axis, dtype, out, ddof, keepdims, where, mean_, correction):
    _check_out(out, name)
    if mean_ is not None:
        raise UnsupportedError(f"{name}: mean= is not supported")
    if correction is not None:
        ddof = correction
    a = asarray(a)
    if dtype is None:
        dtype = _float_dtype(_dtype(a))
    a = _promote(a, dtype=dtype)[0]
    filled, mask = _nan_fill(a, 0)
    valid = C.logical_not(mask) if mask is not None else C.full(shape(a), True)
    if where is not None:
        valid = C.logical_and(valid, where)
        filled = C.where(valid, filled, 0)
    axes = _axes_of(name, a, axis)
    vf = _promote(valid, dtype=dtype)[0]
    cnt = P.reduce_sum(vf, axes, True)
    m = P.div(P.reduce_sum(filled, axes, True), cnt)
    dev = C.where(valid, P.sub(filled, m), np.asarray(0, dtype))
    ss = P.reduce_sum(P.integer_pow(dev, 2), axes, keepdims)
    cnt = P.reduce_sum(vf, axes, keepdims)
    denom = C.subtract(cnt, np.asarray(ddof, dtype))
    res = C.divide(ss, C.maximum(denom, 0))
    return C.where(C.less_equal(denom, 0), np.asarray(np.nan, dtype), res)


def nanstd(a, axis=None, dtype=None, out=None, ddof=0, keepdims=False, *, where=None, mean=None,
           correction=None):
    return C.sqrt(_nanvar("nanstd", a, axis, dtype, out, ddof, keepdims, where, mean, correction))


def count_nonzero(a, axis=None, *, keepdims=False):
    a = asarray(a)
    nz = _promote(C._to_bool(a), dtype=np.int64)[0]
    return P.reduce_sum(nz, _axes_of("count_nonzero", a, axis), keepdims)


def ptp(a, axis=None, out=None, keepdims=False):
    _check_out(out, "ptp")
    a = asarray(a)
    if _dtype(a) == bool:
        raise InputError("ptp: numpy boolean subtract is not supported; use logical_xor, or cast first")
    _axes_of("ptp", a, axis, zero_d="int")
    return C.subtract(C.max(a, axis=axis, keepdims=keepdims), C.min(a, axis=axis, keepdims=keepdims))


# ----------------------------------------------------------------------------- covariance

def _atleast_2d_rows(x, dtype, rowvar):
    x = _promote(asarray(x), dtype=dtype)[0]
    if ndim(x) > 2:
        raise ShapeError(f"cov: m has more than 2 dimensions (shape {shape(x)})")
    x = C.atleast_2d(x)
    if not rowvar and shape(x)[0] != 1:
        x = C.transpose(x)
    return x


def cov(m, y=None, rowvar=True, bias=False, ddof=None, fweights=None, aweights=None, *, dtype=None):
    if ddof is not None and ddof != int(ddof):
        raise InputError("cov: ddof must be integer")
    if dtype is None:
        dtype = np.result_type(_dtype(m), np.float64) if y is None else np.result_type(
            _dtype(m), _dtype(y), np.float64)
    dtype = np.dtype(dtype)
    X = _atleast_2d_rows(m, dtype, rowvar)
    if y is not None:
        X = C.concatenate([X, _atleast_2d_rows(y, dtype, rowvar)], axis=0)
    if ddof is None:
        ddof = 0 if bias else 1
    nobs = shape(X)[1]
    w = None
    if fweights is not None:
        fw = asarray(fweights)
        if ndim(fw) != 1 or shape(fw)[0] != nobs:
            raise ShapeError(f"cov: fweights must be 1-d with {nobs} observations, got shape {shape(fw)}")
        w = _promote(fw, dtype=np.float64)[0]
    if aweights is not None:
        aw = asarray(aweights)
        if ndim(aw) != 1 or shape(aw)[0] != nobs:
            raise ShapeError(f"cov: aweights must be 1-d with {nobs} observations, got shape {shape(aw)}")
        aw = _promote(aw, dtype=np.float64)[0]
        w = aw if w is None else C.multiply(w, aw)
    if w is None:
        avg = C.mean(X, axis=1)
        fact = np.asarray(nobs - ddof, dtype)
    else:
        avg, w_sum = average(X, axis=1, weights=w, returned=True)
        w_sum = w_sum[0]
        if ddof == 0:
            fact = w_sum
        elif aweights is None:
            fact = C.subtract(w_sum, ddof)
        else:
            fact = C.subtract(w_sum, C.divide(C.multiply(ddof, C.sum(C.multiply(w, aw))), w_sum))
    Xc = C.subtract(X, C.reshape(avg, (-1, 1)))
    XT = C.transpose(Xc) if w is None else C.transpose(C.multiply(Xc, _promote(w, dtype=_dtype(Xc))[0]))
    c = C.matmul(Xc, XT)
    c = C.multiply(c, C.divide(1, _promote(fact, dtype=_dtype(c))[0]))
    return C.squeeze(c)


def corrcoef(x, y=None, rowvar=True, *, dtype=None):
    c = cov(x, y, rowvar, dtype=dtype)
    if ndim(c) == 0:
        return C.divide(c, c)
    n = shape(c)[0]
    d = C.take(C.ravel(c), np.arange(n) * (n + 1))
    sd = C.sqrt(d)
    c = C.divide(c, C.reshape(sd, (-1, 1)))
    c = C.divide(c, C.reshape(sd, (1, -1)))
    return C.clip(c, -1, 1)


def trapezoid(y, x=None, dx=1.0, axis=-1):
    y = asarray(y)
    if ndim(y) == 0:
        raise ShapeError("trapezoid: y must be at least 1-d (got shape ())")
    (axis,) = _axes_of("trapezoid", y, _int_axis("trapezoid", axis))
    n = shape(y)[axis]
    if x is None:
        d = dx
    else:
        x = asarray(x)
        if ndim(x) == 1:
            d = diff(x)
            s = [1] * ndim(y)
            s[axis] = shape(d)[0]
            d = C.reshape(d, tuple(s))
        else:
            d = diff(x, axis=axis)
    add = C.logical_or if _dtype(y) == bool else C.add        # NumPy's bool + bool
    hi, lo = (y, y) if n == 0 else (_slice_axis(y, axis, 1, n), _slice_axis(y, axis, 0, n - 1))
    body = C.multiply(d, C.divide(add(hi, lo), 2.0))
    return P.reduce_sum(body, (axis,), False)


# ----------------------------------------------------------------------------- comparisons

def _isclose(a, b, rtol, atol, equal_nan):
    a, b = _promote(a, b)
    if _dtype(a).kind != "f":
        a, b = _promote(a, b, dtype=np.float64)
    dt = _dtype(a)
    fin = C.logical_and(C.isfinite(a), C.isfinite(b))
    ok = C.less_equal(C.absolute(C.subtract(a, b)),
                      C.add(np.asarray(atol, dt), C.multiply(np.asarray(rtol, dt), C.absolute(b))))
    out = C.where(fin, ok, C.equal(a, b))
    if equal_nan:
        out = C.logical_or(out, C.logical_and(C.isnan(a), C.isnan(b)))
    return out


def allclose(a, b, rtol=1e-05, atol=1e-08, equal_nan=False):
    """Python bool on concrete arrays (NumPy's); a traced boolean scalar on traced ones (as ``jnp``)."""
    if _concrete(a, b):
        return np.allclose(a, b, rtol=rtol, atol=atol, equal_nan=equal_nan)
    try:
        np.broadcast_shapes(shape(a), shape(b))
    except ValueError:
        raise ShapeError(f"allclose: shapes {shape(a)} and {shape(b)} do not broadcast") from None
    return C.all(_isclose(a, b, rtol, atol, equal_nan))


def array_equal(a1, a2, equal_nan=False):
    """Python bool on concrete arrays (NumPy's); a traced boolean scalar on traced ones (as ``jnp``);
    arrays of different shapes are never equal (a Python ``False``)."""
    if _concrete(a1, a2):
        return np.array_equal(a1, a2, equal_nan=equal_nan)
    a1, a2 = asarray(a1), asarray(a2)
    if shape(a1) != shape(a2):
        return False
    eq = C.equal(a1, a2)
    if equal_nan and (_dtype(a1).kind == "f" or _dtype(a2).kind == "f"):
        eq = C.logical_or(eq, C.logical_and(C.isnan(a1), C.isnan(a2)))
    return C.all(eq)


# ----------------------------------------------------------------------------- sorting

def _sort_axis(name, a, axis):
    a = asarray(a)
    if axis is None:
        return C.ravel(a), 0
    if ndim(a) == 0:
        raise ShapeError(f"{name}: axis {axis} is out of bounds for an array of shape () (0 dimensions); "
                         f"use axis=None to sort it as a 1-d array")
    (axis,) = _axes_of(name, a, _int_axis(name, axis))
    return a, axis


def _check_order(name, order):
    if order is not None:
        raise UnsupportedError(f"{name}: order= (structured arrays) is not supported")


def argsort(a, axis=-1, kind=None, order=None, *, stable=None, descending=False):
    """Stable argsort (every ``kind`` gives the stable order; NaNs last); int64 indices, no gradient."""
    _check_order("argsort", order)
    a, axis = _sort_axis("argsort", a, axis)
    if _dtype(a).kind not in "biuf":
        raise InputError(f"argsort: unsupported dtype {_dtype(a)}")
    if descending:
        n = shape(a)[axis]
        r = P.argsort(C.flip(a, axis), axis)
        return C.flip(P.sub(np.asarray(n - 1, np.int64), r), axis)
    return P.argsort(a, axis)


def sort(a, axis=-1, kind=None, order=None, *, stable=None, descending=False):
    """Sorted values along ``axis`` (``None``: flattened), differentiable: the
    cotangent goes back to each value's position (at ties, the stable order's)."""
    _check_order("sort", order)
    a, axis = _sort_axis("sort", a, axis)
    idx = argsort(a, axis, descending=descending)
    return C.take_along_axis(a, idx, axis, mode="clip")


def _check_kth(name, a, kth, axis):
    n = shape(a)[axis]
    for k in np.atleast_1d(np.asarray(kth)).ravel():
        k = operator.index(k)
        if not -n <= k < n:
            raise ShapeError(f"{name}: kth(={k}) out of bounds ({n}) for axis {axis} of an array of "
                             f"shape {shape(a)}")


def partition(a, kth, axis=-1, kind="introselect", order=None):
    """A full sort: a valid partition (NumPy leaves the order within each side unspecified)."""
    _check_order("partition", order)
    a, ax = _sort_axis("partition", a, axis)
    _check_kth("partition", a, kth, ax)
    return sort(a, ax)


def argpartition(a, kth, axis=-1, kind="introselect", order=None):
    """The indices of a full sort: a valid partition (see :func:`partition`)."""
    _check_order("argpartition", order)
    a, ax = _sort_axis("argpartition", a, axis)
    _check_kth("argpartition", a, kth, ax)
    return argsort(a, ax)


def searchsorted(a, v, side="left", sorter=None):
    """Indices at which ``v`` would be inserted in the sorted 1-d ``a``, by
    counting comparisons (O(len(a) * v.size); NaNs ordered last, as NumPy's sort)."""
    if side not in ("left", "right"):
        raise InputError(f"searchsorted: side must be 'left' or 'right', got {side!r}")
    a = asarray(a)
    if ndim(a) != 1:
        raise ShapeError(f"searchsorted: a must be 1-d, got shape {shape(a)}")
    if sorter is not None:
        a = C.take(a, sorter)
    a, v = _promote(a, v)        # NumPy 2's promotion: a Python number v is weak
    a = C.stop_gradient(a)
    v = C.stop_gradient(v)
    ae = C.reshape(a, (1,) * ndim(v) + shape(a))
    ve = C.expand_dims(v, -1)
    hits = _nan_lt(ae, ve, strict=(side == "left"))
    return P.reduce_sum(_promote(hits, dtype=np.int64)[0], (ndim(v),), False)


def digitize(x, bins, right=False):
    x = asarray(x)
    bins = asarray(bins)
    if ndim(bins) != 1:
        raise ShapeError(f"digitize: bins must be 1-dimensional, got shape {shape(bins)}")
    if _dtype(x).kind not in "biuf":
        raise InputError(f"digitize: x may not be of type {_dtype(x)}")
    n = shape(bins)[0]
    side_inc = "left" if right else "right"
    side_dec = "right" if right else "left"
    inc = searchsorted(bins, x, side=side_inc)
    if n < 2:
        return inc
    dec = P.sub(np.asarray(n, np.int64), searchsorted(C.flip(bins), x, side=side_dec))
    if not isinstance(bins, Tracer):
        d = np.diff(bins)
        if np.all(d >= 0):
            return inc
        if np.all(d <= 0):
            return dec
        raise InputError("digitize: bins must be monotonically increasing or decreasing")
    decreasing = C.less(bins[n - 1], bins[0])
    return C.where(decreasing, dec, inc)


# ----------------------------------------------------------------------------- value-dependent sizes

def _need_size(name, kw="size"):
    raise UnsupportedError(
        f"{name}: the size of the result depends on the values of a traced array; pass a static "
        f"{kw}= (as jax.numpy.{name}), or call it on a concrete NumPy array")


def _check_size(name, size):
    size = operator.index(size)
    if size < 0:
        raise InputError(f"{name}: size must be non-negative, got {size}")
    return size


def _first_true(name, mask, size):
    """Positions (int64, shape (size,)) of the first ``size`` True entries of the 1-d ``mask`` (in
    order), 0 past the count, and a boolean array saying which positions are real."""
    N = shape(mask)[0]
    order = P.argsort(_promote(C.logical_not(mask), dtype=np.int8)[0], -1)   # Trues first, stably
    if size <= N:
        pos = _slice_axis(order, 0, 0, size)
    else:
        pos = C.concatenate([order, C.zeros((size - N,), np.int64)])
    count = P.reduce_sum(_promote(mask, dtype=np.int64)[0], (0,), False)
    valid = C.less(C.arange(size, dtype=np.int64), count)
    return C.where(valid, pos, np.asarray(0, np.int64)), valid


def nonzero(a, *, size=None, fill_value=None):
    """``np.nonzero``; on traced arrays it needs a static ``size=`` (as
    ``jnp.nonzero``): the first ``size`` indices, padded with ``fill_value``
    (default 0; a scalar or one per dimension)."""
    if ndim(a) == 0:
        raise ShapeError("nonzero: calling nonzero on 0d arrays is not allowed; use atleast_1d(a).nonzero()")
    if size is None:
        if _concrete(a):
            return np.nonzero(np.asarray(a))
        _need_size("nonzero")
    a = asarray(a)
    size = _check_size("nonzero", size)
    s = shape(a)
    mask = C.ravel(C._to_bool(a))
    pos, valid = _first_true("nonzero", mask, size)
    if fill_value is None:
        fills = [0] * len(s)
    elif np.ndim(fill_value) == 0 and not isinstance(fill_value, (list, tuple)):
        fills = [fill_value] * len(s)
    else:
        fills = list(fill_value)
        if len(fills) != len(s):
            raise ShapeError(f"nonzero: fill_value must be a scalar or a tuple of length {len(s)}, "
                             f"got {len(fills)} values")
    out = []
    stride = int(np.prod(s, dtype=np.int64))
    for d, fv in zip(s, fills):
        stride //= d
        coord = C.remainder(C.floor_divide(pos, np.asarray(_py_max(stride, 1), np.int64)),
                            np.asarray(_py_max(d, 1), np.int64))
        out.append(C.where(valid, coord, _promote(fv, dtype=np.int64)[0]))
    return tuple(out)


def flatnonzero(a, *, size=None, fill_value=None):
    if size is None:
        if _concrete(a):
            return np.flatnonzero(np.asarray(a))
        _need_size("flatnonzero")
    return nonzero(C.ravel(asarray(a)), size=size, fill_value=fill_value)[0]


def argwhere(a, *, size=None, fill_value=None):
    if size is None:
        if _concrete(a):
            return np.argwhere(np.asarray(a))
        _need_size("argwhere")
    a = asarray(a)
    if ndim(a) == 0:
        r = argwhere(C.atleast_1d(a), size=size, fill_value=fill_value)
        return C.reshape(r, (shape(r)[0], 0))
    return C.stack(nonzero(a, size=size, fill_value=fill_value), axis=-1)


def unique(ar, return_index=False, return_inverse=False, return_counts=False, axis=None, *,
           equal_nan=True, size=None, fill_value=None, sorted=True):  # noqa: A002 - NumPy's names
    """``np.unique``; on traced arrays it needs a static ``size=`` (as
    ``jnp.unique``): the ``size`` smallest unique values, padded with
    ``fill_value`` (default: the smallest value). Indices past the count are 0,
    counts 0. Only ``axis=None`` then."""
    if size is None:
        if _concrete(ar):
            return np.unique(np.asarray(ar), return_index, return_inverse, return_counts, axis,
                             equal_nan=equal_nan)
        _need_size("unique")
    if axis is not None:
        raise UnsupportedError("unique: axis= is not supported with size= on traced arrays")
    size = _check_size("unique", size)
    ar = asarray(ar)
    in_shape = shape(ar)
    flat = C.ravel(ar)
    N = shape(flat)[0]
    if N == 0:
        raise ShapeError("unique: size= needs a non-empty array")
    perm = P.argsort(flat, -1)
    srt = C.take_along_axis(flat, perm, 0, mode="clip")
    if N > 1:
        hi, lo = _slice_axis(srt, 0, 1, N), _slice_axis(srt, 0, 0, N - 1)
        new = C.not_equal(hi, lo)
        if equal_nan and _dtype(srt).kind == "f":
            new = C.logical_and(new, C.logical_not(C.logical_and(C.isnan(hi), C.isnan(lo))))
        is_first = C.concatenate([np.ones((1,), bool), new])
    else:
        is_first = C.full((1,), True)
    pos, valid = _first_true("unique", is_first, size)
    fill = srt[0] if fill_value is None else _promote(fill_value, dtype=_dtype(srt))[0]
    values = C.where(valid, C.take(srt, pos, mode="clip"), fill)
    outs = [values]
    if return_index:
        outs.append(C.where(valid, C.take(perm, pos, mode="clip"), np.asarray(0, np.int64)))
    group = P.sub(C.cumsum(_promote(is_first, dtype=np.int64)[0]), np.asarray(1, np.int64))  # sorted order
    if return_inverse:
        inv = P.scatter_add(C.zeros((N,), np.int64), perm, group, 0)
        outs.append(C.reshape(inv, in_shape))
    if return_counts:
        outs.append(P.scatter_add(C.zeros((size,), np.int64), group, C.ones((N,), np.int64), 0))
    return outs[0] if len(outs) == 1 else tuple(outs)


def bincount(x, weights=None, minlength=0, *, length=None):
    """``np.bincount``; on a traced ``x`` it needs a static ``length=`` (as
    ``jnp.bincount``): values at or past it are dropped. Differentiable in
    ``weights`` (cast to float64, as NumPy's)."""
    if minlength is None:
        minlength = 0
    minlength = operator.index(minlength)
    if minlength < 0:
        raise InputError(f"bincount: minlength must be non-negative, got {minlength}")
    if not isinstance(x, Tracer):
        xn = np.asarray(x)
        if xn.ndim != 1:
            raise ShapeError(f"bincount: x must be 1-d, got shape {xn.shape}")
        if xn.size and xn.dtype.kind not in "biu":
            raise InputError(f"bincount: x must be integers, got {xn.dtype}")
        if xn.size and xn.min() < 0:
            raise InputError("bincount: x must be non-negative")
        if weights is not None and not isinstance(weights, Tracer) and length is None:
            return np.bincount(xn, weights, minlength)
        if weights is None and length is None:
            return np.bincount(xn, minlength=minlength)
        if length is None:
            length = _py_max(int(xn.max()) + 1 if xn.size else 0, minlength)
        x = xn.astype(np.int64)
    else:
        if length is None:
            _need_size("bincount", "length")
        if ndim(x) != 1:
            raise ShapeError(f"bincount: x must be 1-d, got shape {shape(x)}")
        if _dtype(x).kind not in "biu":
            raise InputError(f"bincount: x must be integers, got {_dtype(x)}")
        x = _promote(x, dtype=np.int64)[0]
    length = operator.index(length)
    n = shape(x)[0]
    if weights is None:
        upd = C.ones((n,), np.int64)
        dt = np.int64
    else:
        upd = _promote(asarray(weights), dtype=np.float64)[0]
        if shape(upd) != (n,):
            raise ShapeError(f"bincount: weights {shape(upd)} and x {(n,)} must have the same shape")
        dt = np.float64
    return P.scatter_add(C.zeros((length,), dt), x, upd, 0)


def _np_linspace(start, stop, num, dtype):
    """``np.linspace(start, stop, num, dtype=dtype)`` as NumPy computes it: in the
    promoted dtype of the bounds (Python numbers weak), ``arange * step + start``,
    the last value ``stop`` exactly; then cast to ``dtype``."""
    dt = _float_dtype(C.result_type(start, stop, 1.0))
    start, stop = _promote(start, stop, dtype=dt)
    step = C.divide(P.sub(stop, start), np.asarray(num - 1, dt))
    y = C.add(C.multiply(C.arange(num - 1, dtype=dt), step), start)
    y = C.concatenate([y, C.reshape(stop, (1,))])
    return _promote(y, dtype=dtype)[0]


def histogram(a, bins=10, range=None, density=None, weights=None):  # noqa: A002 - NumPy's name
    """``np.histogram``: ``bins`` an int (edges from ``range``, or the traced
    data's min and max) or explicit increasing edges. No gradient."""
    a = C.stop_gradient(C.ravel(asarray(a)))
    if isinstance(bins, str):
        raise UnsupportedError(f"histogram: bins={bins!r} (an estimator name) is not supported")
    if np.ndim(bins) == 0 and not isinstance(bins, Tracer):
        nb = operator.index(bins)
        if nb < 1:
            raise InputError("histogram: `bins` must be positive, when an integer")
        bin_type = C.result_type(a, 0.0) if range is not None else _float_dtype(_dtype(a))
        if _dtype(a).kind != "f":
            bin_type = np.dtype(np.float64)
        if range is not None:
            lo, hi = range
            if isinstance(lo, Tracer) or isinstance(hi, Tracer):
                pass
            else:
                if lo > hi:
                    raise InputError("histogram: max must be larger than min in range parameter")
                if not (np.isfinite(lo) and np.isfinite(hi)):
                    raise InputError(f"histogram: supplied range of [{lo}, {hi}] is not finite")
                if lo == hi:
                    lo, hi = lo - 0.5, hi + 0.5
        else:
            if shape(a)[0] == 0:
                lo, hi = 0.0, 1.0
            else:
                lo, hi = C.min(a), C.max(a)
                same = C.equal(lo, hi)
                lo = C.where(same, C.subtract(lo, 0.5), lo)
                hi = C.where(same, C.add(hi, 0.5), hi)
        edges = _np_linspace(lo, hi, nb + 1, bin_type)
    else:
        edges = asarray(bins)
        if ndim(edges) != 1:
            raise ShapeError(f"histogram: bins must be 1d, got shape {shape(edges)}")
        if not isinstance(edges, Tracer) and np.any(np.diff(edges) < 0):
            raise InputError("histogram: bins must increase monotonically, when an array")
        nb = shape(edges)[0] - 1
    edges = C.stop_gradient(edges)
    idx = P.sub(searchsorted(edges, a, side="right"), np.asarray(1, np.int64))
    last = edges[nb]
    idx = C.where(C.equal(a, last), np.asarray(nb - 1, np.int64), idx)     # the last bin is closed
    idx = C.where(C.logical_or(C.less(a, edges[0]), C.greater(a, last)), np.asarray(-1, np.int64), idx)
    if weights is None:
        upd, dt = C.ones(shape(a), np.int64), np.dtype(np.int64)
    else:
        upd = C.stop_gradient(C.ravel(asarray(weights)))
        if shape(upd) != shape(a):
            raise ShapeError(f"histogram: weights should have the same shape as a ({shape(a)}), got "
                             f"{shape(upd)}")
        dt = _dtype(upd)
    hist = P.scatter_add(C.zeros((nb,), dt), idx, upd, 0)
    if density:
        db = _promote(diff(edges), dtype=np.float64)[0]
        h = _promote(hist, dtype=np.float64)[0]
        hist = C.divide(C.divide(h, db), C.sum(h))
    return hist, edges
