"""Elementwise functions beyond _core: inverse hyperbolics, logaddexp, hypot, rounding and
sign helpers, angle conversions, NaN handling, complex-number stand-ins on real inputs.

Each function takes NumPy's signature and follows its semantics, written with the
primitives and ``_core``'s functions so that every transformation and backend handles it.

Conventions:

* dtypes are NumPy 2's, Python scalars weak; integer and boolean inputs of the
  float-valued functions take NumPy's loop (``int8``/``uint8``/``bool`` ->
  ``float16``, ``int16``/``uint16`` -> ``float32``, wider -> ``float64``).
* Branches chosen by a ``select`` get safe inputs ("double where"), so that the
  branch not taken never sends ``nan`` into a gradient.
* At non-differentiable points derivatives are JAX's: ``copysign`` has
  ``sign(x1) * sign(result)`` for ``x1`` and zero for ``x2``; ``trunc`` and
  ``signbit`` have zero; ``sinc``'s at ``0`` are its series' (``0``, ``-pi**2/3``...).
"""
from __future__ import annotations

import builtins
import math

import numpy as np

from .. import primitives as P
from ..core.trace import Tracer
from ..errors import DtypeError
from . import _core
from ._core import _dtype, _is_weak, _mark_weak, _promote, asarray, full, result_type

__all__: list = [
    "arcsinh", "arccosh", "arctanh", "asinh", "acosh", "atanh",
    "hypot", "logaddexp", "logaddexp2", "sinc", "cbrt", "copysign", "heaviside", "fmod", "trunc", "fix",
    "deg2rad", "rad2deg", "degrees", "radians", "nan_to_num", "signbit", "isclose",
    "real", "imag", "conj", "conjugate", "angle", "real_if_close",
]

# NumPy ufunc name -> the name of the function here that np.<ufunc>(traced) dispatches to
UFUNCS: dict = {n: n for n in [
    "arcsinh", "arccosh", "arctanh", "hypot", "logaddexp", "logaddexp2", "cbrt", "copysign",
    "heaviside", "fmod", "trunc", "deg2rad", "rad2deg", "degrees", "radians", "signbit", "conjugate"]}

_py_all = builtins.all


# ----------------------------------------------------------------------------- helpers

def _float_dtype(dt):
    """The dtype NumPy's float ufunc loops compute ``dt`` in."""
    dt = np.dtype(dt)
    if dt.kind == "f":
        return dt
    if dt.kind in "biu":
        return np.promote_types(dt, np.float16)
    raise DtypeError(f"unsupported dtype {dt} (complex and other dtypes are not supported)")


def _floats(*xs):
    """``xs`` promoted together (weak scalars as NumPy 2), as floats; and
    whether they were all weak (then so is the result)."""
    weak = _py_all(_is_weak(x) for x in xs)
    dt = result_type(*xs)
    if dt.kind != "f":
        # the first float loop every (strong) input casts to safely: int8 with uint8 is float16
        strong = [_dtype(x) for x in xs if not _is_weak(x)] or [dt]
        dt = np.result_type(*[_float_dtype(d) for d in strong])
    return _promote(*xs, dtype=dt), weak


def _c(value, dt):
    return np.asarray(value, dtype=dt)


def _finish(out, weak):
    return _mark_weak(out) if weak else out


def _signbit_float(x):
    """``x``'s sign bit for float ``x``: ``atan2(x, -1)`` has the sign of ``x``,
    zeros included (``+pi`` at ``+0``, ``-pi`` at ``-0``). ``nan`` counts as positive."""
    return P.lt(P.atan2(x, _c(-1, _dtype(x))), _c(0, _dtype(x)))


def _sym(x, f):
    """An odd function ``f`` (given for ``x >= 0``) at any ``x``: ``-f(-x)`` where the sign
    bit of ``x`` is set (so ``-0.0`` gives ``-0.0``), through a select on both sides so that the derivative at 0 is ``f'(0)``."""
    neg = _signbit_float(x)
    a = P.select(neg, P.neg(x), x)
    y = f(a)
    return P.select(neg, P.neg(y), y)


def _big(dt):
    """Beyond this, ``sqrt(1 + x**2) == x`` to working precision."""
    return 1.0 / math.sqrt(float(np.finfo(dt).eps))


_LN2 = math.log(2.0)


# ----------------------------------------------------------------------------- inverse hyperbolics

def arcsinh(x):
    """``np.arcsinh``: ``log1p(a + a**2 / (1 + sqrt(1 + a**2)))`` for ``a = |x|``,
    ``log(a) + log(2)`` beyond ``1/sqrt(eps)``; odd in ``x``."""
    (x,), weak = _floats(x)
    dt = _dtype(x)

    def f(a):
        big = P.gt(a, _c(_big(dt), dt))
        one = P.broadcast_like(_c(1, dt), a)
        s = P.select(big, P.broadcast_like(_c(0, dt), a), a)
        s2 = P.mul(s, s)
        small = P.log1p(P.add(s, P.div(s2, P.add(_c(1, dt), P.sqrt(P.add(_c(1, dt), s2))))))
        large = P.add(P.log(P.select(big, a, one)), _c(_LN2, dt))
        return P.select(big, large, small)

    return _finish(_sym(x, f), weak)


def arccosh(x):
    """``np.arccosh``: ``log1p(t + sqrt(t * (t + 2)))`` for ``t = x - 1``,
    ``log(x) + log(2)`` beyond ``1/sqrt(eps)``; ``nan`` below 1."""
    (x,), weak = _floats(x)
    dt = _dtype(x)
    big = P.gt(x, _c(_big(dt), dt))
    s = P.select(big, P.broadcast_like(_c(2, dt), x), x)
    t = P.sub(s, _c(1, dt))
    small = P.log1p(P.add(t, P.mul(P.sqrt(t), P.sqrt(P.add(t, _c(2, dt))))))
    large = P.add(P.log(P.select(big, x, P.broadcast_like(_c(2, dt), x))), _c(_LN2, dt))
    return _finish(P.select(big, large, small), weak)


def arctanh(x):
    """``np.arctanh``: ``0.5 * log1p(2a / (1 - a))`` for ``a = |x|``, odd in ``x``
    (accurate near 0 and near +-1); ``+-inf`` at ``+-1``, ``nan`` beyond."""
    (x,), weak = _floats(x)
    dt = _dtype(x)

    def f(a):
        return P.mul(_c(0.5, dt), P.log1p(P.div(P.mul(_c(2, dt), a), P.sub(_c(1, dt), a))))

    return _finish(_sym(x, f), weak)


asinh, acosh, atanh = arcsinh, arccosh, arctanh


# ----------------------------------------------------------------------------- two-argument

def hypot(x1, x2):
    """``np.hypot``: ``m * sqrt(1 + (n/m)**2)`` with ``m, n`` the larger and smaller
    magnitude (no overflow or underflow); ``inf`` if either is infinite, even with ``nan``."""
    (x1, x2), weak = _floats(x1, x2)
    dt = _dtype(x1)
    a1, a2 = P.abs_(x1), P.abs_(x2)
    m, n = P.max_(a1, a2), P.min_(a1, a2)
    zero = P.eq(m, _c(0, dt))
    safe_m = P.select(zero, P.broadcast_like(_c(1, dt), m), m)
    r = P.div(n, safe_m)
    out = P.mul(m, P.sqrt(P.add(_c(1, dt), P.mul(r, r))))
    inf = P.logical_or(P.eq(a1, _c(np.inf, dt)), P.eq(a2, _c(np.inf, dt)))
    out = P.select(inf, P.broadcast_like(_c(np.inf, dt), out), out)
    return _finish(out, weak)


def _logaddexp(x1, x2, log1p_exp_neg):
    (x1, x2), weak = _floats(x1, x2)
    dt = _dtype(x1)
    m = P.max_(x1, x2)
    # where x1 == x2 the difference is 0 (also for equal infinities, where x1 - x2 is nan)
    d = P.select(P.eq(x1, x2), P.broadcast_like(_c(0, dt), m), P.sub(x1, x2))
    return _finish(P.add(m, log1p_exp_neg(P.abs_(d), dt)), weak)


def logaddexp(x1, x2):
    """``np.logaddexp``: ``max + log1p(exp(-|x1 - x2|))``; ``logaddexp(-inf, -inf) = -inf``."""
    return _logaddexp(x1, x2, lambda ad, dt: P.log1p(P.exp(P.neg(ad))))


def logaddexp2(x1, x2):
    """``np.logaddexp2``: ``max + log1p(2**-|x1 - x2|) / log(2)``."""
    return _logaddexp(x1, x2, lambda ad, dt: P.div(
        P.log1p(P.exp(P.mul(P.neg(ad), _c(_LN2, dt)))), _c(_LN2, dt)))


def copysign(x1, x2):
    """``np.copysign``: ``|x1|`` with the sign bit of ``x2``. Derivatives as JAX's:
    ``sign(x1) * (+-1)`` for ``x1``, zero for ``x2``."""
    (x1, x2), weak = _floats(x1, x2)
    a = P.abs_(x1)
    return _finish(P.select(_signbit_float(x2), P.neg(a), a), weak)


def heaviside(x1, x2):
    """``np.heaviside``: 0 below zero, ``x2`` at zero, 1 above; ``nan`` at ``nan``."""
    (x1, x2), weak = _floats(x1, x2)
    dt = _dtype(x1)
    zero = _c(0, dt)
    step = P.select(P.gt(x1, zero), P.broadcast_like(_c(1, dt), x1), P.broadcast_like(_c(0, dt), x1))
    out = P.select(P.eq(x1, zero), x2, step)
    out = P.select(P.ne(x1, x1), P.broadcast_like(_c(np.nan, dt), out), out)
    return _finish(out, weak)


def fmod(x1, x2):
    """``np.fmod``: C's remainder, with the sign of the dividend
    (``sign(x1) * remainder(|x1|, |x2|)``); integers stay integers (``fmod(i, 0) == 0``)."""
    weak = _is_weak(x1) and _is_weak(x2)
    dt = result_type(x1, x2)
    if dt == np.dtype(bool):
        dt = np.dtype(np.int8)
    if dt.kind not in "iuf":
        raise DtypeError(f"fmod: unsupported dtype {dt}")
    x1, x2 = _promote(x1, x2, dtype=dt)
    if dt.kind == "u":
        return _finish(P.rem(x1, x2), weak)
    r = P.rem(P.abs_(x1), P.abs_(x2))
    neg = _signbit_float(x1) if dt.kind == "f" else P.lt(x1, _c(0, dt))
    return _finish(P.select(neg, P.neg(r), r), weak)


# ----------------------------------------------------------------------------- one-argument

def sinc(x):
    """``np.sinc``: ``sin(pi x) / (pi x)``, 1 at 0 (derivative 0 there, second
    derivative ``-pi**2 / 3``)."""
    x = asarray(x)
    weak = _is_weak(x)
    dt = _dtype(x)
    # as NumPy's: where(x == 0, 1e-20, x) is float64 for integer x
    dt = dt if dt.kind == "f" else np.dtype(np.float64)
    (x,) = _promote(x, dtype=dt)
    y = P.mul(x, _c(np.pi, dt))
    # near 0 its Maclaurin series (exact to rounding below 1e-2, and right to every
    # order of derivative at 0); elsewhere sin(y) / y, each on safe inputs
    near = P.lt(P.abs_(y), _c(1e-2, dt))
    ys = P.select(near, P.broadcast_like(_c(1, dt), y), y)
    yn = P.select(near, y, P.broadcast_like(_c(0, dt), y))
    y2 = P.mul(yn, yn)
    series = P.add(_c(1, dt), P.mul(y2, P.add(_c(-1 / 6, dt), P.mul(y2, P.add(
        _c(1 / 120, dt), P.mul(y2, _c(-1 / 5040, dt)))))))
    out = P.select(near, series, P.div(P.sin(ys), ys))
    return _finish(out, weak)


def cbrt(x):
    """``np.cbrt``: ``|x| ** (1/3)`` refined by one Newton step (exact cubes come out
    exact), with ``x``'s sign (``cbrt(-0.0) == -0.0``)."""
    (x,), weak = _floats(x)
    dt = _dtype(x)
    neg = _signbit_float(x)
    a = P.select(neg, P.neg(x), x)
    y0 = P.pow_(a, P.broadcast_like(_c(1.0 / 3.0, dt), a))
    ok = P.logical_and(P.isfinite(y0), P.gt(y0, _c(0, dt)))
    one = P.broadcast_like(_c(1, dt), a)
    ys, as_ = P.select(ok, y0, one), P.select(ok, a, one)
    y1 = P.add(ys, P.div(P.sub(P.div(P.div(as_, ys), ys), ys), _c(3, dt)))
    y = P.select(ok, y1, y0)
    return _finish(P.select(neg, P.neg(y), y), weak)


def trunc(x):
    """``np.trunc``: toward zero; integers stay integers (as NumPy 2); derivative 0."""
    x = asarray(x)
    if _dtype(x).kind in "biu":
        return x
    weak = _is_weak(x)
    (x,) = _promote(x)
    return _finish(P.select(P.lt(x, _c(0, _dtype(x))), P.ceil(x), P.floor(x)), weak)


def fix(x):
    """``np.fix``: round toward zero (``trunc``), floats as NumPy's."""
    x = asarray(x)
    if _dtype(x).kind in "biu":
        return x
    return trunc(x)


def deg2rad(x):
    """``np.deg2rad``: ``x * (pi / 180)``."""
    (x,), weak = _floats(x)
    return _finish(P.mul(x, _c(np.pi / 180.0, _dtype(x))), weak)


def rad2deg(x):
    """``np.rad2deg``: ``x * (180 / pi)``."""
    (x,), weak = _floats(x)
    return _finish(P.mul(x, _c(180.0 / np.pi, _dtype(x))), weak)


radians, degrees = deg2rad, rad2deg


def signbit(x):
    """``np.signbit``: boolean, True for negatives, ``-0.0`` and ``-inf`` (a ``nan``
    counts as positive: the sign bit of a ``nan`` is out of reach of arithmetic)."""
    x = asarray(x)
    dt = _dtype(x)
    if dt == np.dtype(bool):
        return full(np.shape(x), False, bool) if not isinstance(x, Tracer) else P.ne(x, x)
    if dt.kind in "iu":
        return P.lt(x, _c(0, dt))
    if dt.kind != "f":
        raise DtypeError(f"signbit: unsupported dtype {dt}")
    return _signbit_float(x)


def nan_to_num(x, copy=True, nan=0.0, posinf=None, neginf=None):
    """``np.nan_to_num``: ``nan`` -> ``nan``, ``+-inf`` -> ``posinf``/``neginf`` (by default
    the largest finite values of the dtype); other values (and integers) unchanged."""
    x = asarray(x)
    dt = _dtype(x)
    if dt.kind not in "f":
        return x
    weak = _is_weak(x)
    info = np.finfo(dt)
    posinf = info.max if posinf is None else posinf
    neginf = info.min if neginf is None else neginf
    out = P.select(P.ne(x, x), P.broadcast_like(_c(nan, dt), x), x)
    out = P.select(P.eq(x, _c(np.inf, dt)), P.broadcast_like(_c(posinf, dt), x), out)
    out = P.select(P.eq(x, _c(-np.inf, dt)), P.broadcast_like(_c(neginf, dt), x), out)
    return _finish(out, weak)


def isclose(a, b, rtol=1e-05, atol=1e-08, equal_nan=False):
    """``np.isclose``: ``|a - b| <= atol + rtol * |b|`` with ``b`` finite, or ``a == b``
    (equal infinities); ``nan``s equal where ``equal_nan``."""
    c = _core
    a = a if isinstance(a, (int, float, Tracer)) else asarray(a)
    b = b if isinstance(b, (int, float, Tracer)) else asarray(b)
    if isinstance(b, int) and not isinstance(b, bool):
        b = float(b)
    elif not isinstance(b, (float, bool)) and _dtype(b).kind != "f":
        b = c.asarray(b, _float_dtype(result_type(b, 1.0)))
    if _dtype(a).kind == "b":
        a = c.asarray(a, np.int8) if isinstance(a, Tracer) else np.asarray(a, np.int8)
    tol = c.add(atol, c.multiply(rtol, c.absolute(b)))
    close = c.logical_and(c.less_equal(c.absolute(c.subtract(a, b)), tol), c.isfinite(b))
    out = c.logical_or(close, c.equal(a, b))
    if equal_nan:
        out = c.logical_or(out, c.logical_and(c.isnan(a), c.isnan(b)))
    if not isinstance(out, Tracer):
        out = np.asarray(out)
        return out[()]
    return out


# ----------------------------------------------------------------------------- complex stand-ins

def _real_input(name, x):
    x = asarray(x)
    if _dtype(x).kind not in "biuf":
        raise DtypeError(f"{name}: only real (not complex) arrays are supported, got {_dtype(x)}")
    return x


def real(val):
    """``np.real`` of a real array: itself."""
    return _real_input("real", val)


def imag(val):
    """``np.imag`` of a real array: zeros of its dtype and shape."""
    x = _real_input("imag", val)
    return full(np.shape(x) if not isinstance(x, Tracer) else x.shape, 0, _dtype(x))


def conjugate(x):
    """``np.conjugate`` of a real array: itself (booleans become int8, as NumPy's)."""
    x = _real_input("conjugate", x)
    return _core.asarray(x, np.int8) if _dtype(x) == np.dtype(bool) else x


conj = conjugate


def angle(z, deg=False):
    """``np.angle`` of a real array: ``arctan2(0, z)``: ``pi`` where the sign bit of ``z`` is
    set (``-0.0`` included), 0 elsewhere, ``nan`` at ``nan``; derivative 0."""
    z = _real_input("angle", z)
    weak = _is_weak(z)
    dt = _float_dtype(result_type(0, z))
    (z,) = _promote(z, dtype=dt)
    pi = 180.0 if deg else np.pi
    out = P.select(_signbit_float(z), P.broadcast_like(_c(pi, dt), z), P.broadcast_like(_c(0, dt), z))
    out = P.select(P.ne(z, z), z, out)
    if not isinstance(out, Tracer) and out.ndim == 0:
        out = out[()]
    return _finish(out, weak)


def real_if_close(a, tol=100):
    """``np.real_if_close`` of a real array: itself."""
    return _real_input("real_if_close", a)
