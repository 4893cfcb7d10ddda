"""Shapes and construction beyond _core: pad modes, roll, diagonals, triangles, stacking
and splitting helpers, polynomial and signal helpers.

Each function takes NumPy's signature and follows its semantics, written with the
primitives and ``_core``'s functions so that every transformation and backend handles it.

Where NumPy's result is a rearrangement of its inputs' elements chosen by static
arguments (``insert``, ``delete``, the index modes of ``pad``), the rearrangement is
computed once by NumPy itself on an array of element numbers, and the traced values
are then gathered by it: the semantics are NumPy's by construction.
"""
from __future__ import annotations

import builtins
import operator

import numpy as np

from .. import primitives as P
from ..core.trace import Tracer, aval_of
from ..errors import DtypeError, ShapeError, UnsupportedError
from . import _core as c
from ._core import _axes, _axes_of, _has_tracer, _int_axis, _promote, asarray, ndim, shape

__all__ = [
    "pad", "roll", "rollaxis", "rot90", "diag", "diagonal", "diagflat", "trace", "tril", "triu",
    "kron", "cross", "append", "insert", "delete", "select", "piecewise", "column_stack",
    "row_stack", "dstack", "hsplit", "vsplit", "dsplit", "atleast_1d", "atleast_2d", "atleast_3d",
    "meshgrid", "indices", "ix_", "put_along_axis", "interp", "convolve", "correlate", "polyval",
    "r_", "c_",
]

# NumPy ufunc name -> the name of the function here that np.<ufunc>(traced) dispatches to
UFUNCS: dict = {}

_py_min, _py_max = builtins.min, builtins.max


def _static_int(name, what, v):
    if isinstance(v, Tracer):
        raise UnsupportedError(f"{name}: {what} must be a static integer, not a traced value {v.aval} "
                               f"(the result's shape would depend on it)")
    try:
        return operator.index(v)
    except TypeError:
        raise TypeError(f"{name}: {what} must be an integer, got {type(v).__name__} {v!r}") from None


def _ids(s):
    """Element numbers 0..size-1 in the shape ``s``."""
    return np.arange(int(np.prod(s, dtype=np.int64)), dtype=np.int64).reshape(s)


def _gather_flat(flat, idx):
    """``flat[idx]`` for a 1-d ``flat`` and static in-bounds integer indices ``idx``."""
    idx = np.asarray(idx, dtype=np.int64)
    if idx.size == 0:
        return c.reshape(P.slice_(flat, (0,), (0,)), idx.shape) if shape(flat)[0] else \
            c.zeros(idx.shape, c._dtype(flat))
    return P.take(flat, idx, 0)


def _zeros_of(a, s):
    return c.full(s, 0, c._dtype(a))


# ----------------------------------------------------------------------------- pad

def _pairs(name, what, v, nd, integer=True):
    arr = np.asarray(v)
    if arr.dtype == object:
        raise TypeError(f"{name}: {what} must be numbers, got {v!r}")
    if integer and arr.dtype.kind not in "iub":
        raise TypeError(f"{name}: `{what}` must be of integral type, got {v!r}")
    try:
        out = np.broadcast_to(arr, (nd, 2))
    except ValueError:
        raise ShapeError(f"{name}: {what} {v!r} cannot be broadcast to the shape ({nd}, 2) of one "
                         f"(before, after) pair per axis of a {nd}-d array") from None
    return out


def pad(array, pad_width, mode="constant", **kwargs):
    """``np.pad`` with the modes ``constant`` (``constant_values``), ``edge``,
    ``reflect``, ``symmetric`` (both with ``reflect_type`` even or odd), ``wrap``
    and ``empty`` (zeros). ``pad_width`` and ``constant_values`` take NumPy's
    forms (a number, a pair, one pair per axis) and must be static."""
    a = asarray(array)
    nd = ndim(a)
    s = shape(a)
    if callable(mode):
        raise UnsupportedError("pad: a callable mode is not supported on traced arrays")
    modes = {"constant": {"constant_values"}, "edge": set(), "reflect": {"reflect_type"},
             "symmetric": {"reflect_type"}, "wrap": set(), "empty": set()}
    if mode not in modes:
        if mode in ("linear_ramp", "maximum", "mean", "median", "minimum"):
            raise UnsupportedError(f"pad: mode {mode!r} is not supported by funcgrad; use one of "
                                   f"{sorted(modes)}")
        raise ValueError(f"pad: mode {mode!r} is not supported (NumPy's modes: {sorted(modes)})")
    bad = set(kwargs) - modes[mode]
    if bad:
        raise ValueError(f"pad: unsupported keyword arguments for mode {mode!r}: {sorted(bad)}")
    if _has_tracer(pad_width) or isinstance(pad_width, Tracer):
        raise UnsupportedError("pad: pad_width must be static (the result's shape depends on it)")
    widths = _pairs("pad", "pad_width", pad_width, nd).astype(np.int64)
    if (widths < 0).any():
        raise ValueError(f"pad: index can't contain negative values (pad_width={pad_width!r})")
    if mode in ("constant", "empty"):
        cv = kwargs.get("constant_values", 0) if mode == "constant" else 0
        if isinstance(cv, Tracer) or _has_tracer(cv):
            cvs = asarray(cv)
            if ndim(cvs) != 0:
                raise UnsupportedError("pad: traced constant_values must be one scalar")
            cvs = [[cvs, cvs]] * nd
        else:
            cvs = _pairs("pad", "constant_values", cv, nd, integer=False)
            if nd == 0:
                return a
            if (cvs == 0).all():
                return P.pad(a, widths[:, 0], widths[:, 1])
        for ax in range(nd):
            lo, hi = int(widths[ax, 0]), int(widths[ax, 1])
            if not (lo or hi):
                continue
            cur = list(shape(a))
            parts = []
            for w, v in ((lo, cvs[ax][0]), (hi, cvs[ax][1])):
                ps = cur[:ax] + [w] + cur[ax + 1:]
                if isinstance(v, Tracer):
                    parts.append(c.broadcast_to(_promote(v, dtype=c._dtype(a))[0], ps))
                else:
                    parts.append(c.full(ps, np.asarray(v).astype(c._dtype(a)), c._dtype(a)))
            a = P.concatenate([parts[0], a, parts[1]], ax)
        return a
    reflect_type = kwargs.get("reflect_type", "even")
    if reflect_type not in ("even", "odd"):
        raise ValueError(f"pad: reflect_type must be 'even' or 'odd', got {reflect_type!r}")
    for ax in range(nd):
        lo, hi = int(widths[ax, 0]), int(widths[ax, 1])
        if not (lo or hi):
            continue
        n = s[ax]
        if n == 0:
            raise ShapeError(f"pad: can't extend the empty axis {ax} of {aval_of(a)} with mode {mode!r}, "
                             f"only with 'constant' or 'empty'")
        if reflect_type == "odd" and mode in ("reflect", "symmetric"):
            # linear in the values: the padded axis is M @ x for M the padded identity
            m = np.pad(np.eye(n), ((lo, hi), (0, 0)), mode=mode, reflect_type="odd")
            af = c._to_float(a) if c._dtype(a).kind != "f" else a
            moved = c.moveaxis(af, ax, -1)
            a = c.moveaxis(c.matmul(moved, m.T.astype(c._dtype(af))), -1, ax)
            continue
        idx = np.pad(np.arange(n, dtype=np.int64), (lo, hi), mode=mode)
        a = P.take(a, idx, ax)
    return a


# ----------------------------------------------------------------------------- roll, rotations

def roll(a, shift, axis=None):
    """``np.roll``; ``shift`` may be traced (then the rolled array is a gather)."""
    a = asarray(a)
    if axis is None:
        return c.reshape(roll(c.ravel(a), shift, 0), shape(a))
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    if isinstance(shift, Tracer):
        if ndim(shift) != 0:
            raise UnsupportedError(f"roll: a traced shift must be a scalar, got {shift.aval}")
        shifts = [shift] * len(axes)
    else:
        shifts = list(np.broadcast_to(np.asarray(shift), (len(axes),)) if np.ndim(shift) == 0
                      else np.asarray(shift))
        if len(shifts) != len(axes):
            try:
                b = np.broadcast(np.asarray(shift), np.asarray(axes))
            except ValueError:
                raise ShapeError(f"roll: 'shift' and 'axis' should be scalars or 1D sequences of the same "
                                 f"length (shift={shift!r}, axis={axis!r})") from None
            shifts = list(np.broadcast_to(np.asarray(shift), b.shape))
            axes = tuple(np.broadcast_to(np.asarray(axes), b.shape))
    norm = [_axes_of("roll", a, int(ax))[0] for ax in axes]
    total = {}
    for ax, sh in zip(norm, shifts):
        total[ax] = sh if ax not in total else c.add(total[ax], sh)
    s = shape(a)
    for ax, sh in total.items():
        n = s[ax]
        if n == 0:
            continue
        if isinstance(sh, Tracer):
            if sh.dtype.kind not in "iu":
                raise DtypeError(f"roll: the shift must be an integer, got {sh.aval}")
            idx = c.remainder(c.subtract(c.arange(n), sh), n)
            a = P.take(a, _promote(idx, dtype=np.int64)[0], ax)
            continue
        k = int(sh) % n
        if k == 0:
            continue
        st, lim = [0] * len(s), list(s)
        st[ax] = n - k
        tail = P.slice_(a, st, lim)
        st[ax], lim[ax] = 0, n - k
        head = P.slice_(a, st, lim)
        a = P.concatenate([tail, head], ax)
    return a


def rollaxis(a, axis, start=0):
    a = asarray(a)
    n = ndim(a)
    (axis,) = _axes_of("rollaxis", a, _int_axis("rollaxis", axis))
    start = _int_axis("rollaxis", start)
    if start < 0:
        start += n
    if not 0 <= start < n + 1:
        raise ShapeError(f"rollaxis: start {start} is out of bounds for an array of {n} dimensions "
                         f"(it must be in [{-n}, {n}])")
    if axis < start:
        start -= 1
    if axis == start:
        return a
    axes = list(range(n))
    axes.remove(axis)
    axes.insert(start, axis)
    return c.transpose(a, axes)


def rot90(m, k=1, axes=(0, 1)):
    m = asarray(m)
    axes = tuple(axes)
    nd = ndim(m)
    if len(axes) != 2:
        raise ShapeError(f"rot90: len(axes) must be 2, got axes={axes}")
    if axes[0] == axes[1] or abs(axes[0] - axes[1]) == nd:
        raise ShapeError(f"rot90: axes must be different, got axes={axes} for an array of {nd} dimensions")
    for ax in axes:
        if not -nd <= ax < nd:
            raise ShapeError(f"rot90: axes={axes} out of range for an array of {nd} dimensions")
    k = _static_int("rot90", "k", k) % 4
    if k == 0:
        return m
    if k == 2:
        return c.flip(c.flip(m, axes[0]), axes[1])
    perm = list(range(nd))
    perm[axes[0]], perm[axes[1]] = perm[axes[1]], perm[axes[0]]
    if k == 1:
        return c.transpose(c.flip(m, axes[1]), perm)
    return c.flip(c.transpose(m, perm), axes[1])


# ----------------------------------------------------------------------------- diagonals, triangles

def diagonal(a, offset=0, axis1=0, axis2=1):
    """``np.diagonal``: the diagonal of the axes ``axis1``, ``axis2`` as the last axis."""
    a = asarray(a)
    if ndim(a) < 2:
        raise ShapeError(f"diagonal: the array must be at least 2-d, got {aval_of(a)}")
    offset = _static_int("diagonal", "offset", offset)
    a1 = _axes_of("diagonal", a, _int_axis("diagonal", axis1))[0]
    a2 = _axes_of("diagonal", a, _int_axis("diagonal", axis2))[0]
    if a1 == a2:
        raise ShapeError(f"diagonal: axis1 and axis2 cannot be the same (both {a1}, array {aval_of(a)})")
    a = c.moveaxis(a, (a1, a2), (-2, -1))
    s = shape(a)
    M, N = s[-2], s[-1]
    lead = s[:-2]
    if offset >= 0:
        start, count = offset, _py_max(0, _py_min(M, N - offset))
    else:
        start, count = -offset * N, _py_max(0, _py_min(M + offset, N))
    flat = c.reshape(a, lead + (M * N,))
    L = len(lead)
    if count == 0:
        return P.slice_(flat, (0,) * (L + 1), lead + (0,))
    return P.slice_(flat, (0,) * L + (start,), lead + (start + (count - 1) * (N + 1) + 1,),
                    (1,) * L + (N + 1,))


def _diag_matrix(v, k):
    """The square matrix with the 1-d ``v`` on its ``k``-th diagonal."""
    m = shape(v)[0]
    n = m + abs(k)
    if m == 0:
        return _zeros_of(v, (n, n))
    start = k if k >= 0 else -k * n
    used = start + (m - 1) * (n + 1) + 1
    flat = P.pad(v, (start,), (n * n - used,), (n,))
    return P.reshape(flat, (n, n))


def diag(v, k=0):
    v = asarray(v)
    k = _static_int("diag", "k", k)
    if ndim(v) == 1:
        return _diag_matrix(v, k)
    if ndim(v) == 2:
        return diagonal(v, k)
    raise ShapeError(f"diag: input must be 1-d or 2-d, got {aval_of(v)}")


def diagflat(v, k=0):
    return _diag_matrix(c.ravel(asarray(v)), _static_int("diagflat", "k", k))


def trace(a, offset=0, axis1=0, axis2=1, dtype=None, out=None):
    c._check_out(out, "trace")
    a = asarray(a)
    if ndim(a) < 2:
        raise ShapeError(f"trace: the array must be at least 2-d, got {aval_of(a)}")
    return c.sum(diagonal(a, offset, axis1, axis2), axis=-1, dtype=dtype)


def _tri_mask(name, m, k, upper):
    m = asarray(m)
    if ndim(m) == 0:
        raise ShapeError(f"{name}: the input must be at least 1-d, got {aval_of(m)}")
    k = _static_int(name, "k", k)
    rows_cols = shape(m)[-2:]
    if len(rows_cols) == 1:         # as NumPy: a 1-d m is a row repeated
        rows_cols = (rows_cols[0], rows_cols[0])
    mask = np.tri(*rows_cols, k=k - 1 if upper else k, dtype=bool)
    if upper:
        mask = ~mask
    out_shape = np.broadcast_shapes(shape(m), mask.shape)
    return P.select(np.broadcast_to(mask, out_shape), c.broadcast_to(m, out_shape),
                    _zeros_of(m, out_shape))


def tril(m, k=0):
    return _tri_mask("tril", m, k, upper=False)


def triu(m, k=0):
    return _tri_mask("triu", m, k, upper=True)


# ----------------------------------------------------------------------------- products

def kron(a, b):
    a, b = asarray(a), asarray(b)
    if ndim(a) == 0 or ndim(b) == 0:
        return c.multiply(a, b)
    nd = _py_max(ndim(a), ndim(b))
    sa = (1,) * (nd - ndim(a)) + shape(a)
    sb = (1,) * (nd - ndim(b)) + shape(b)
    a = c.reshape(a, tuple(x for d in sa for x in (d, 1)))
    b = c.reshape(b, tuple(x for d in sb for x in (1, d)))
    return c.reshape(c.multiply(a, b), tuple(p * q for p, q in zip(sa, sb)))


def _component(x, i):
    s = shape(x)
    st, lim = [0] * len(s), list(s)
    st[-1], lim[-1] = i, i + 1
    return P.reshape(P.slice_(x, st, lim), s[:-1])


def cross(a, b, axisa=-1, axisb=-1, axisc=-1, axis=None):
    """``np.cross`` of 3-vectors (and 2-vectors, as NumPy: the z component)."""
    a, b = _promote(asarray(a), asarray(b))
    if axis is not None:
        axisa = axisb = axisc = axis
    if ndim(a) == 0 or ndim(b) == 0:
        raise ShapeError(f"cross: inputs must be at least 1-d, got {aval_of(a)} and {aval_of(b)}")
    a = c.moveaxis(a, _axes_of("cross", a, _int_axis("cross", axisa))[0], -1)
    b = c.moveaxis(b, _axes_of("cross", b, _int_axis("cross", axisb))[0], -1)
    na, nb = shape(a)[-1], shape(b)[-1]
    if na not in (2, 3) or nb not in (2, 3):
        raise ShapeError(f"cross: incompatible dimensions for cross product (dimension must be 2 or 3), "
                         f"got vectors of {na} and {nb} components")
    try:
        lead = np.broadcast_shapes(shape(a)[:-1], shape(b)[:-1])
    except ValueError:
        raise ShapeError(f"cross: the leading shapes of {aval_of(a)} and {aval_of(b)} don't broadcast") \
            from None
    a0, a1 = _component(a, 0), _component(a, 1)
    b0, b1 = _component(b, 0), _component(b, 1)
    z = c.subtract(c.multiply(a0, b1), c.multiply(a1, b0))
    if na == 2 and nb == 2:
        return c.broadcast_to(z, lead)
    if na == 3 and nb == 3:
        a2, b2 = _component(a, 2), _component(b, 2)
        x = c.subtract(c.multiply(a1, b2), c.multiply(a2, b1))
        y = c.subtract(c.multiply(a2, b0), c.multiply(a0, b2))
    elif na == 2:
        b2 = _component(b, 2)
        x = c.multiply(a1, b2)
        y = c.negative(c.multiply(a0, b2))
    else:
        a2 = _component(a, 2)
        x = c.negative(c.multiply(a2, b1))
        y = c.multiply(a2, b0)
    out = c.stack([c.broadcast_to(t, lead) for t in (x, y, z)], axis=-1)
    (axc,) = _axes(_int_axis("cross", axisc), len(lead) + 1, "cross",
                   what=f"the result of shape {tuple(lead) + (3,)}")
    return c.moveaxis(out, -1, axc)


def polyval(p, x):
    """``np.polyval``: ``p[0] * x**(N-1) + ... + p[N-1]`` by Horner's scheme."""
    p = asarray(p)
    x = asarray(x)
    if ndim(p) != 1:
        raise ShapeError(f"polyval: the coefficients must be 1-d, got {aval_of(p)}")
    y = c.zeros_like(x)
    for i in range(shape(p)[0]):
        y = c.add(c.multiply(y, x), _component(p, i))
    return y


# ----------------------------------------------------------------------------- insert, delete, append

def append(arr, values, axis=None):
    if axis is None:
        return c.concatenate([c.ravel(arr), c.ravel(values)], axis=0)
    return c.concatenate([arr, values], axis=axis)


def _static_obj(name, obj):
    if isinstance(obj, Tracer) or (isinstance(obj, (list, tuple)) and _has_tracer(obj)):
        raise UnsupportedError(f"{name}: the indices (obj) must be static, not traced "
                               f"(the result's shape would depend on them)")
    return obj


def insert(arr, obj, values, axis=None):
    """``np.insert`` with static ``obj``; ``arr`` and ``values`` may be traced."""
    arr = asarray(arr)
    obj = _static_obj("insert", obj)
    if axis is None:
        arr, axis = c.ravel(arr), 0
    else:
        axis = _int_axis("insert", axis)
        if ndim(arr) == 0:
            raise ShapeError(f"insert: axis {axis} is out of bounds for an array of shape ()")
        _axes_of("insert", arr, axis)
    dt = c._dtype(arr)
    values = asarray(values)
    values = _promote(values, dtype=dt)[0] if c._dtype(values) != dt else values
    sa, sv = shape(arr), shape(values)
    na = int(np.prod(sa, dtype=np.int64))
    try:
        src = np.insert(_ids(sa), obj, _ids(sv) + na, axis=axis)
    except (IndexError, ValueError) as e:
        raise ShapeError(f"insert: {e} (array {aval_of(arr)}, obj={obj!r}, values {aval_of(values)})") \
            from None
    flat = c.concatenate([c.ravel(arr), c.ravel(values)], axis=0)
    return _gather_flat(flat, src)


def delete(arr, obj, axis=None):
    """``np.delete`` with static ``obj``."""
    arr = asarray(arr)
    obj = _static_obj("delete", obj)
    if axis is None:
        arr, axis = c.ravel(arr), 0
    else:
        axis = _int_axis("delete", axis)
        if ndim(arr) == 0:
            raise ShapeError(f"delete: axis {axis} is out of bounds for an array of shape ()")
        _axes_of("delete", arr, axis)
    try:
        src = np.delete(_ids(shape(arr)), obj, axis=axis)
    except (IndexError, ValueError) as e:
        raise ShapeError(f"delete: {e} (array {aval_of(arr)}, obj={obj!r})") from None
    keep = np.delete(np.arange(shape(arr)[axis]), obj)
    return P.take(arr, keep.astype(np.int64), axis) if keep.size else _gather_flat(c.ravel(arr), src)


# ----------------------------------------------------------------------------- select, piecewise

def select(condlist, choicelist, default=0):
    condlist, choicelist = list(condlist), list(choicelist)
    if len(condlist) != len(choicelist):
        raise ShapeError(f"select: list of cases must be same length as list of conditions "
                         f"({len(condlist)} conditions, {len(choicelist)} choices)")
    if not condlist:
        raise ShapeError("select: select with an empty condition list is not possible")
    for i, cond in enumerate(condlist):
        if c._dtype(cond) != bool:
            raise DtypeError(f"select: invalid entry {i} in condlist: should be boolean ndarray, got "
                             f"dtype {c._dtype(cond)}")
    choices = [asarray(x) for x in choicelist]
    dt = c.result_type(*choices, default)
    out = _promote(default, dtype=dt)[0]
    for cond, choice in reversed(list(zip(condlist, choices))):
        out = c.where(cond, _promote(choice, dtype=dt)[0], out)
    s = np.broadcast_shapes(*[shape(x) for x in condlist + choices], shape(default))
    return c.broadcast_to(asarray(out), s)


def piecewise(x, condlist, funclist, *args, **kw):
    """``np.piecewise``; each callable is applied to all of ``x`` (elementwise
    functions) and its values kept where its condition holds."""
    x = asarray(x)
    if isinstance(condlist, (np.ndarray, Tracer)) and ndim(condlist) == 0 or np.isscalar(condlist):
        conds = [condlist]
    elif isinstance(condlist, (np.ndarray, Tracer)):
        # as NumPy: the rows of a 2-d (or more) array are the conditions, a 1-d one is one condition
        conds = [condlist[i] for i in range(shape(condlist)[0])] if ndim(condlist) >= 2 or ndim(x) == 0 \
            else [condlist]
    else:
        condlist = list(condlist)
        if condlist and not isinstance(condlist[0], (list, tuple, np.ndarray, Tracer)) and ndim(x) != 0:
            conds = [condlist]
        else:
            conds = condlist
    conds = [c._to_bool(asarray(cc)) for cc in conds]
    funclist = list(funclist)
    if len(conds) == len(funclist) - 1:
        anyc = conds[0]
        for cc in conds[1:]:
            anyc = c.logical_or(anyc, cc)
        conds.append(c.logical_not(anyc))
    elif len(conds) != len(funclist):
        raise ShapeError(f"piecewise: with {len(conds)} condition(s), either {len(conds)} or "
                         f"{len(conds) + 1} functions are expected, got {len(funclist)}")
    dt = c._dtype(x)
    y = c.zeros_like(x)
    for cond, func in zip(conds, funclist):
        val = func(x, *args, **kw) if callable(func) else func
        val = _promote(val, dtype=dt)[0]
        y = c.where(c.broadcast_to(cond, shape(x)), val, y)
    return c.broadcast_to(asarray(y), shape(x))


# ----------------------------------------------------------------------------- stacking, splitting

def _one_or_tuple(out):
    return out[0] if len(out) == 1 else tuple(out)


def atleast_1d(*arys):
    return _one_or_tuple([c.atleast_1d(a) for a in arys])


def atleast_2d(*arys):
    return _one_or_tuple([c.atleast_2d(a) for a in arys])


def _atleast_3d(a):
    a = asarray(a)
    s = shape(a)
    if len(s) == 0:
        return c.reshape(a, (1, 1, 1))
    if len(s) == 1:
        return c.reshape(a, (1,) + s + (1,))
    if len(s) == 2:
        return c.reshape(a, s + (1,))
    return a


def atleast_3d(*arys):
    return _one_or_tuple([_atleast_3d(a) for a in arys])


def column_stack(tup):
    arrays = []
    for v in tup:
        v = asarray(v)
        if ndim(v) < 2:
            v = c.transpose(c.atleast_2d(v))
        arrays.append(v)
    return c.concatenate(arrays, axis=1)


def row_stack(tup):
    return c.vstack(tup)


def dstack(tup):
    return c.concatenate([_atleast_3d(a) for a in tup], axis=2)


def hsplit(ary, indices_or_sections):
    if ndim(ary) == 0:
        raise ShapeError("hsplit: hsplit only works on arrays of 1 or more dimensions")
    return c.split(ary, indices_or_sections, axis=1 if ndim(ary) > 1 else 0)


def vsplit(ary, indices_or_sections):
    if ndim(ary) < 2:
        raise ShapeError(f"vsplit: vsplit only works on arrays of 2 or more dimensions, got shape {shape(ary)}")
    return c.split(ary, indices_or_sections, axis=0)


def dsplit(ary, indices_or_sections):
    if ndim(ary) < 3:
        raise ShapeError(f"dsplit: dsplit only works on arrays of 3 or more dimensions, got shape {shape(ary)}")
    return c.split(ary, indices_or_sections, axis=2)


# ----------------------------------------------------------------------------- grids

def meshgrid(*xi, copy=True, sparse=False, indexing="xy"):
    if indexing not in ("xy", "ij"):
        raise ValueError(f"meshgrid: valid values for `indexing` are 'xy' and 'ij', got {indexing!r}")
    n = len(xi)
    s0 = (1,) * n
    out = [c.reshape(asarray(x), s0[:i] + (-1,) + s0[i + 1:]) for i, x in enumerate(xi)]
    if indexing == "xy" and n > 1:
        out[0] = c.reshape(out[0], (1, -1) + s0[2:])
        out[1] = c.reshape(out[1], (-1, 1) + s0[2:])
    if not sparse:
        out = c.broadcast_arrays(*out)
    return tuple(out)


def indices(dimensions, dtype=int, sparse=False):
    dims = tuple(_static_int("indices", "dimensions", d) for d in dimensions)
    n = len(dims)
    res = []
    for i, d in enumerate(dims):
        idx = c.reshape(c.arange(d, dtype=dtype), (1,) * i + (d,) + (1,) * (n - i - 1))
        res.append(idx if sparse else c.broadcast_to(idx, dims))
    if sparse:
        return tuple(res)
    if not res:
        return np.empty((0,), dtype=dtype)
    return c.stack(res, axis=0)


def ix_(*args):
    out = []
    nd = len(args)
    for k, new in enumerate(args):
        if isinstance(new, Tracer):
            if new.dtype == bool:
                raise UnsupportedError(f"ix_: a traced boolean array {new.aval} has a value-dependent number "
                                       f"of true entries")
            if ndim(new) != 1:
                raise ShapeError(f"ix_: cross index must be 1 dimensional, got {new.aval}")
        else:
            new = np.asarray(new)
            if new.ndim != 1:
                raise ShapeError(f"ix_: cross index must be 1 dimensional, got shape {new.shape}")
            if new.size == 0:
                new = new.astype(np.intp)
            if new.dtype == bool:
                (new,) = new.nonzero()
        out.append(c.reshape(new, (1,) * k + (shape(new)[0],) + (1,) * (nd - k - 1)))
    return tuple(out)


# ----------------------------------------------------------------------------- put_along_axis

def put_along_axis(arr, indices, values, axis, inplace=True, *, mode=None):
    """``np.put_along_axis``, functional as ``jax.numpy.put_along_axis``: pass
    ``inplace=False`` to get the updated array (traced arrays can't be modified
    in place). With ``inplace=True`` (NumPy's form) on concrete NumPy arrays it is
    NumPy's own, in place. Duplicate static indices: the last value wins, as in
    NumPy; duplicate traced indices: the values are summed (JAX leaves it undefined)."""
    if inplace:
        if isinstance(arr, np.ndarray) and not _has_tracer(indices) and not _has_tracer(values) \
                and not isinstance(indices, Tracer) and not isinstance(values, Tracer):
            return np.put_along_axis(arr, indices, values, axis)
        raise UnsupportedError(
            "put_along_axis: traced arrays are immutable and cannot be modified in place; "
            "use funcgrad.numpy.put_along_axis(arr, indices, values, axis, inplace=False), "
            "which returns the updated array")
    if mode is not None:
        raise UnsupportedError(f"put_along_axis: mode={mode!r} is not supported")
    arr = asarray(arr)
    s = shape(arr)
    if axis is None:
        if ndim(indices) != 1:
            raise ShapeError(f"put_along_axis: when axis=None, indices must have a single dimension, "
                             f"got shape {shape(indices)}")
        return c.reshape(put_along_axis(c.ravel(arr), indices, values, 0, inplace=False), s)
    (axis,) = _axes_of("put_along_axis", arr, _int_axis("put_along_axis", axis))
    nd = len(s)
    if ndim(indices) != nd:
        raise ShapeError(f"put_along_axis: indices and arr must have the same number of dimensions "
                         f"(indices {shape(indices)}, arr {s})")
    ishape = shape(indices)
    try:
        bshape = np.broadcast_shapes(ishape, s[:axis] + (1,) + s[axis + 1:])
    except ValueError:
        raise ShapeError(f"put_along_axis: indices of shape {ishape} don't broadcast with arr of "
                         f"shape {s} outside axis {axis}") from None
    strides = [int(np.prod(s[i + 1:], dtype=np.int64)) for i in range(nd)]
    n = s[axis]
    dt = c._dtype(arr)
    vals = c.broadcast_to(_promote(values, dtype=dt)[0], bshape)
    others = np.zeros(bshape, np.int64)
    for d in range(nd):
        if d != axis:
            others = others + np.arange(bshape[d]).reshape((1,) * d + (-1,) + (1,) * (nd - d - 1)) * strides[d]
    size = int(np.prod(s, dtype=np.int64))
    if not isinstance(indices, Tracer):
        idx = np.asarray(indices)
        if idx.dtype.kind not in "iu":
            raise DtypeError(f"put_along_axis: indices must be integers, got dtype {idx.dtype}")
        if ((idx < -n) | (idx >= n)).any():
            raise ShapeError(f"put_along_axis: an index is out of bounds for axis {axis} with size {n}")
        flat_idx = (others + np.broadcast_to(idx % n, bshape) * strides[axis]).reshape(-1)
        if flat_idx.size == 0:
            return arr
        _, first_rev = np.unique(flat_idx[::-1], return_index=True)
        keep = np.sort(flat_idx.size - 1 - first_rev)             # the last write of each place
        target = flat_idx[keep]
        v = P.take(c.ravel(vals), keep.astype(np.int64), 0)
        mask = np.zeros(size, bool)
        mask[target] = True
        upd = P.scatter_add(c.zeros((size,), dt), target.astype(np.int64), v, 0)
        return c.reshape(P.select(mask, upd, c.ravel(arr)), s)
    if indices.dtype.kind not in "iu":
        raise DtypeError(f"put_along_axis: indices must be integers, got {indices.aval}")
    idx = _promote(indices, dtype=np.int64)[0]
    idx = c.where(c.less(idx, 0), c.add(idx, n), idx)
    flat_idx = c.ravel(c.add(c.multiply(c.broadcast_to(idx, bshape), strides[axis]), others))
    upd = P.scatter_add(c.zeros((size,), dt), flat_idx, c.ravel(vals), 0)
    hits = P.scatter_add(c.zeros((size,), np.int64), flat_idx, c.ones(shape(flat_idx), np.int64), 0)
    return c.reshape(P.select(c.greater(hits, 0), upd, c.ravel(arr)), s)


# ----------------------------------------------------------------------------- interp, convolution

def interp(x, xp, fp, left=None, right=None, period=None):
    """``np.interp``: piecewise-linear interpolation, float64 as NumPy's. ``xp``
    (increasing) and ``fp`` may be traced; ``period`` needs a static ``xp``."""
    x = _promote(asarray(x), dtype=np.float64)[0]
    xp = _promote(asarray(xp), dtype=np.float64)[0]
    fp = _promote(asarray(fp), dtype=np.float64)[0]
    if ndim(xp) != 1 or ndim(fp) != 1:
        raise ShapeError(f"interp: xp and fp must be 1-d, got {aval_of(xp)} and {aval_of(fp)}")
    if shape(xp) != shape(fp):
        raise ShapeError(f"interp: fp and xp are not of the same length ({shape(fp)[0]} and {shape(xp)[0]})")
    if shape(xp)[0] == 0:
        raise ShapeError("interp: array of sample points is empty")
    if period is not None:
        if isinstance(xp, Tracer) or isinstance(period, Tracer):
            raise UnsupportedError("interp: period= needs static xp and period")
        if period == 0:
            raise ValueError("interp: period must be a non-zero value")
        period = abs(period)
        left = right = None
        x = c.remainder(x, period)
        xpm = np.asarray(xp) % period
        order = np.argsort(xpm, kind="stable")
        xps = xpm[order]
        fps = P.take(fp, order.astype(np.int64), 0)
        xp = np.concatenate([xps[-1:] - period, xps, xps[0:1] + period])
        fp = c.concatenate([P.take(fps, np.array([shape(fps)[0] - 1]), 0), fps,
                            P.take(fps, np.array([0]), 0)], axis=0)
    n = shape(xp)[0]
    f_first, f_last = _component(fp, 0), _component(fp, n - 1)
    if n == 1:
        y = c.broadcast_to(f_first, shape(x))
    else:
        # the interval of each x: the number of xp <= x, less one, in [0, n-2]
        ge = c.greater_equal(c.expand_dims(c.stop_gradient(x), -1), c.stop_gradient(xp))
        cnt = c.sum(c.astype(ge, np.int64), axis=-1)
        j = _promote(c.clip(c.subtract(cnt, 1), 0, n - 2), dtype=np.int64)[0]
        j1 = c.add(j, np.int64(1))
        x0, x1 = P.take(xp, j, 0), P.take(xp, j1, 0)
        f0, f1 = P.take(fp, j, 0), P.take(fp, j1, 0)
        slope = c.divide(c.subtract(f1, f0), c.subtract(x1, x0))
        y = c.add(c.multiply(slope, c.subtract(x, x0)), f0)
        # as NumPy: x equal to the last sample point gives its value exactly
        y = c.where(c.equal(x, _component(xp, n - 1)), f_last, y)
    left = f_first if left is None else _promote(left, dtype=np.float64)[0]
    right = f_last if right is None else _promote(right, dtype=np.float64)[0]
    y = c.where(c.less(x, _component(xp, 0)), left, y)
    y = c.where(c.greater(x, _component(xp, n - 1)), right, y)
    return y


def _conv_full(a, v):
    """The full 1-d convolution of ``a`` (n) and ``v`` (m <= n): windows of the
    zero-padded ``a`` gathered by static indices, times ``v``."""
    n, m = shape(a)[0], shape(v)[0]
    ap = P.pad(a, (m - 1,), (m - 1,)) if m > 1 else a
    k = np.arange(n + m - 1)[:, None]
    j = np.arange(m)[None, :]
    windows = P.take(ap, (k + m - 1 - j).astype(np.int64), 0)      # (n + m - 1, m)
    return c.matmul(windows, v)


def _conv_mode(name, a, v, mode, flip_v):
    a, v = _promote(c.atleast_1d(a), c.atleast_1d(v))
    if ndim(a) != 1 or ndim(v) != 1:
        raise ShapeError(f"{name}: object too deep for desired array ({aval_of(a)}, {aval_of(v)}): "
                         f"only 1-d inputs")
    if mode not in ("full", "same", "valid"):
        raise ValueError(f"{name}: mode must be one of 'full', 'same', 'valid', got {mode!r}")
    n, m = shape(a)[0], shape(v)[0]
    if n == 0:
        raise ShapeError(f"{name}: a cannot be empty")
    if m == 0:
        raise ShapeError(f"{name}: v cannot be empty")
    swapped = False
    if flip_v:
        v = c.flip(v, 0)
    if m > n:
        a, v, n, m, swapped = v, a, m, n, True
    if c._dtype(a) == bool:
        a, v = _promote(a, v, dtype=np.int64)
    full = _conv_full(a, v)
    if mode == "full":
        out, lo = full, 0
    elif mode == "same":
        lo = (m - 1) // 2
        out = P.slice_(full, (lo,), (lo + n,))
    else:
        lo = m - 1
        out = P.slice_(full, (lo,), (n,))
    return out, swapped


def convolve(a, v, mode="full"):
    """``np.convolve`` of 1-d arrays, with the modes ``full``, ``same``, ``valid``."""
    out, _ = _conv_mode("convolve", a, v, mode, flip_v=False)
    return out


def correlate(a, v, mode="valid"):
    """``np.correlate`` of real 1-d arrays (``convolve(a, v[::-1])``), with the
    modes ``full``, ``same``, ``valid``."""
    n, m = (shape(a)[0] if ndim(a) else 1), (shape(v)[0] if ndim(v) else 1)
    if m > n:
        # as NumPy: correlate(a, v) is correlate(v, a) reversed when v is the longer
        out, _ = _conv_mode("correlate", v, a, mode, flip_v=True)
        return c.flip(out, 0)
    out, _ = _conv_mode("correlate", a, v, mode, flip_v=True)
    return out


# ----------------------------------------------------------------------------- r_, c_

class _AxisConcatenator:
    """``np.r_`` / ``np.c_``: arrays, scalars and static slices (``a:b:step``,
    or ``a:b:nj`` for ``linspace``) concatenated along an axis, with NumPy's
    leading directive string ``"axis[,ndmin[,trans1d]]"``. The matrix
    directives ``"r"`` and ``"c"`` are not supported."""

    def __init__(self, name, axis=0, ndmin=1, trans1d=-1):
        self._name, self._axis, self._ndmin, self._trans1d = name, axis, ndmin, trans1d

    def __getitem__(self, key):
        key = key if isinstance(key, tuple) else (key,)
        axis, ndmin, trans1d = self._axis, self._ndmin, self._trans1d
        pieces, scalars = [], []
        for k, item in enumerate(key):
            if isinstance(item, str):
                if k != 0:
                    raise ValueError(f"{self._name}: a directive string must be the first entry, got {item!r}")
                if item in ("r", "c"):
                    raise UnsupportedError(f"{self._name}: the matrix directive {item!r} is not supported")
                try:
                    vals = [int(x) for x in item.split(",")]
                except ValueError:
                    raise ValueError(f"{self._name}: unknown special directive {item!r}") from None
                axis = vals[0]
                if len(vals) > 1:
                    ndmin = vals[1]
                if len(vals) > 2:
                    trans1d = vals[2]
                continue
            if isinstance(item, slice):
                for v in (item.start, item.stop, item.step):
                    if isinstance(v, Tracer):
                        raise UnsupportedError(f"{self._name}: slice bounds must be static numbers")
                start = 0 if item.start is None else item.start
                step = 1 if item.step is None else item.step
                if isinstance(step, (complex, np.complexfloating)):
                    new = np.linspace(start, item.stop, num=int(abs(step)))
                else:
                    new = np.arange(start, item.stop, step)
                if ndmin > 1:
                    new = np.array(new, ndmin=ndmin)
                    if trans1d != -1:
                        new = new.swapaxes(-1, trans1d)
                pieces.append(new)
                continue
            is_scalar = not isinstance(item, (Tracer, np.ndarray, list, tuple))
            new = asarray(item)
            if is_scalar:
                scalars.append(len(pieces))
            nd0 = ndim(new)
            if nd0 < ndmin:
                new = c.reshape(new, (1,) * (ndmin - nd0) + shape(new))
                if trans1d != -1 and not is_scalar:
                    k2 = ndmin - nd0
                    k1 = trans1d + k2 + 1 if trans1d < 0 else trans1d
                    d = list(range(ndmin))
                    new = c.transpose(new, d[:k1] + d[k2:] + d[k1:k2])
            pieces.append(new if not is_scalar else (new, item))
        if not pieces:
            return np.array([])
        arrays = [p[0] if isinstance(p, tuple) else p for p in pieces]
        dt = c.result_type(*[p[1] if isinstance(p, tuple) else p for p in pieces])
        arrays = [_promote(x, dtype=dt)[0] for x in arrays]
        return c.concatenate(arrays, axis=axis)

    def __len__(self):
        return 0


r_ = _AxisConcatenator("r_")
c_ = _AxisConcatenator("c_", axis=-1, ndmin=2, trans1d=0)
