"""``funcgrad.scipy.special``: SciPy's special functions on traced values.

Every function is a composition of :mod:`funcgrad.numpy` operations (no new
primitives), so ``grad``, ``jvp``, ``vmap``, ``jit`` and every backend handle it
and derivatives come from differentiating the approximation itself. Names and
signatures are SciPy's.

Conventions:

* dtypes: float32 in, float32 out (constants are weak Python floats or 0-d
  arrays of the input's dtype); integer inputs become float64 (NumPy's float
  loops: small integers become float16/float32). No function upcasts internally.
* Piecewise approximations choose their branch with ``where``; every branch
  gets inputs that are safe for it ("double where"), so the branch not taken
  never sends ``nan``/``inf`` into a gradient.
* Accuracy figures are maximum relative errors against ``scipy.special``
  measured by ``tests/test_scipy_special.py`` (float64 unless said).
"""
from __future__ import annotations

import math
import operator

import numpy as np

from .. import numpy as fnp
from .. import primitives as P
from ..core.trace import Tracer
from ..errors import InputError, UnsupportedError
from ..nn import activations as _act
from ..numpy import _core as C
from ..numpy._math import _finish, _floats
from . import _coeffs as K

__all__ = ["erf", "erfc", "erfinv", "erfcx", "gammaln", "digamma", "polygamma", "betaln", "logit", "expit",
           "xlogy", "xlog1py", "entr", "i0e", "i1e", "logsumexp", "softmax", "log_softmax"]

_SQRT_PI = math.sqrt(math.pi)
_HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)
_LOG_PI = math.log(math.pi)
_INF = float("inf")
_NAN = float("nan")


# ----------------------------------------------------------------------------- helpers

def _unary(x):
    (x,), weak = _floats(x)
    return x, weak


def _dt(x):
    return C._dtype(x)


def _is_f32(x):
    return np.dtype(_dt(x)).itemsize <= 4


def _c(value, like):
    """``value`` as a 0-d array of ``like``'s dtype (a ``where`` of two Python scalars would be float64)."""
    return np.asarray(value, dtype=_dt(like))


def _horner(x, coeffs):
    """``c0 x^n + c1 x^(n-1) + ... + cn`` (``coeffs`` highest power first)."""
    p = coeffs[0] * fnp.ones_like(x)
    for c in coeffs[1:]:
        p = p * x + c
    return p


def _horner1(x, coeffs):
    """The monic ``x^n + c0 x^(n-1) + ... + c_(n-1)`` (Cephes' ``p1evl``)."""
    p = x + coeffs[0]
    for c in coeffs[1:]:
        p = p * x + c
    return p


def _clenshaw(y, coeffs):
    """``sum' c_k T_k(y/2)`` by Clenshaw's recurrence (Cephes' ``chbevl`` convention)."""
    b0 = coeffs[0] * fnp.ones_like(y)
    b1 = fnp.zeros_like(y)
    b2 = b1
    for c in coeffs[1:]:
        b2 = b1
        b1 = b0
        b0 = y * b1 - b2 + c
    return 0.5 * (b0 - b2)


def _sgn(x):
    """``-1`` where ``x < 0`` else ``1`` (not ``fnp.sign``: Numba's scalar sign changes float32 to float64)."""
    return fnp.where(x < 0, _c(-1.0, x), _c(1.0, x))


def _abs_sel(x):
    """``|x|`` by a select, whose derivative at 0 is +1 (that of the ``x >= 0`` side), so that
    odd or one-sided formulas in ``|x|`` keep their derivative at 0 (``abs``'s is 0 there)."""
    return fnp.where(x < 0, -x, x)


def _keep_nan(x, out):
    return fnp.where(fnp.isnan(x), x, out)


# ----------------------------------------------------------------------------- error functions

def _exp_neg_sq(a):
    """``exp(-a**2)`` for ``a >= 0`` with ``a = hi + lo`` (``hi`` a multiple of 1/16, so
    ``hi**2`` is exact): the rounding of ``a**2`` is not amplified by the exponential.
    ``floor`` has derivative 0, so the derivative is ``-2 a exp(-a**2)`` as it should."""
    hi = fnp.floor(a * 16.0) * 0.0625
    lo = a - hi
    return fnp.exp(-(hi * hi)) * fnp.exp(-(lo * (a + hi)))


def _exp_sq(a):
    """``exp(a**2)`` for ``a >= 0``, split as :func:`_exp_neg_sq`."""
    hi = fnp.floor(a * 16.0) * 0.0625
    lo = a - hi
    return fnp.exp(hi * hi) * fnp.exp(lo * (a + hi))


def _erf_small(x):
    """Cephes' ``x T(x^2) / U(x^2)``, for ``|x| < 1``."""
    z = x * x
    return x * _horner(z, K.ERF_T) / _horner1(z, K.ERF_U)


def _erfcx_ge1(a):
    """``exp(a^2) erfc(a)`` for ``a >= 1``: Cephes' rationals P/Q on [1, 8) and R/S on
    [8, 50); beyond 50 the asymptotic series ``1/(a sqrt(pi)) sum (-1)^k (2k-1)!! / (2a^2)^k``
    (six terms, below 1e-16 there)."""
    mid = a < 8.0
    far = a >= 50.0
    m = fnp.where(mid, a, 2.0)
    r = fnp.where(mid | far, 10.0, a)
    g = fnp.where(far, a, 100.0)
    v_mid = _horner(m, K.ERFC_P) / _horner1(m, K.ERFC_Q)
    v_r = _horner(r, K.ERFC_R) / _horner1(r, K.ERFC_S)
    u = 1.0 / (2.0 * g * g)
    series = _horner(u, (-945.0, 105.0, -15.0, 3.0, -1.0, 1.0))
    v_far = series / (g * _SQRT_PI)
    return fnp.where(mid, v_mid, fnp.where(far, v_far, v_r))


def _erfc_pos(a):
    """``erfc(a)`` for ``a >= 0``."""
    small = a < 1.0
    s = fnp.where(small, a, 0.5)
    b = fnp.where(small, 1.0, fnp.minimum(a, 40.0))       # erfc(40) = 0: no inf - inf at a = inf
    return fnp.where(small, 1.0 - _erf_small(s), _exp_neg_sq(b) * _erfcx_ge1(b))


def _erfcx_pos(a):
    """``erfcx(a)`` for ``a >= 0`` (no overflow: no exponential of ``a**2`` beyond 1)."""
    small = a < 1.0
    s = fnp.where(small, a, 0.5)
    b = fnp.where(small, 1.0, a)
    return fnp.where(small, fnp.exp(s * s) * (1.0 - _erf_small(s)), _erfcx_ge1(b))


def erf(x):
    """``scipy.special.erf``: the error function ``2/sqrt(pi) int_0^x exp(-t^2) dt``.

    ``|x| < 1``: Cephes' rational ``x T(x^2)/U(x^2)``; otherwise
    ``sign(x) (1 - erfc(|x|))``. Max relative error about 2e-16 (float64),
    2e-7 (float32). ``erf(+-inf) = +-1``."""
    x, weak = _unary(x)
    a = _abs_sel(x)
    small = a < 1.0
    s = fnp.where(small, x, 0.5)
    b = fnp.where(small, 1.0, a)
    out = fnp.where(small, _erf_small(s), _sgn(x) * (1.0 - _erfc_pos(b)))
    return _finish(_keep_nan(x, out), weak)


def erfc(x):
    """``scipy.special.erfc``: ``1 - erf(x)``, accurate where it is small.

    ``|x| < 1``: ``1 - erf(x)``; ``x >= 1``: ``exp(-x^2) R(x)`` with Cephes'
    rationals (and ``exp(-x^2)`` split so that the rounding of ``x^2`` is not
    amplified, which SciPy's is: up to 6e-14 there); ``x <= -1``: ``2 - erfc(-x)``.
    Max relative error about 1e-15 (float64), 3e-7 (float32) until it becomes
    subnormal (``x > 26.5``)."""
    x, weak = _unary(x)
    a = _abs_sel(x)
    e = _erfc_pos(a)
    out = fnp.where(x < 0, 2.0 - e, e)
    return _finish(_keep_nan(x, out), weak)


def erfcx(x):
    """``scipy.special.erfcx``: the scaled complement ``exp(x^2) erfc(x)``.

    For ``x >= 0`` it never forms ``exp(x^2)`` beyond ``x = 1`` (Cephes' rationals
    for ``erfc / exp(-x^2)`` on [1, 50), the asymptotic series beyond), so it is
    accurate for large ``x`` (``erfcx(1e300) = 5.6e-301``). For ``x < 0``:
    ``2 exp(x^2) - erfcx(-x)`` (``exp(x^2)`` split as in :func:`erfc`), which
    overflows to ``inf`` below about -26.6 as SciPy's. Max relative error about
    1e-15 (float64), 1e-6 (float32)."""
    x, weak = _unary(x)
    a = _abs_sel(x)
    e = _erfcx_pos(a)
    neg = x < 0
    xn = fnp.where(neg, a, 0.0)
    out = fnp.where(neg, 2.0 * _exp_sq(fnp.minimum(xn, 40.0)) - e, e)
    return _finish(_keep_nan(x, out), weak)


def _erfinv_core(a, c):
    """``erfinv(a)`` for ``0 <= a < 1`` given ``c = 1 - a`` accurately (both safe values).

    Giles' single-precision approximation (or, for ``1 - a < 1e-7``, the
    asymptotic inverse of ``erfc``), then Newton steps (one in float32, two in
    float64): on ``erf(x) = a`` where ``a <= 1/2``, and on ``log(erfc(x)) = log(c)``
    (with ``log erfc(x) = log erfcx(x) - x^2``) above, which keeps full relative
    accuracy as ``a -> 1``."""
    w = -fnp.log(c * (1.0 + a))
    central = w < 5.0
    w1 = fnp.where(central, w, 2.5) - 2.5
    w2 = fnp.sqrt(fnp.where(central, 9.0, w)) - 3.0
    x = fnp.where(central, _horner(w1, K.GILES_CENTRAL), _horner(w2, K.GILES_TAIL)) * a
    # Beyond Giles' single-precision range (w > 16, 1 - a < 1e-7) start from the
    # asymptotic inverse of erfc(x) ~ exp(-x^2) / (x sqrt(pi)) (two fixed-point steps),
    # within 1e-4 relative of the root, where the polynomial would be off by 1e-2.
    log_c = fnp.log(c)
    deep = w >= 16.0
    big_l = fnp.where(deep, -log_c, 20.0)
    x0 = fnp.sqrt(big_l - 0.5 * fnp.log(math.pi * big_l))
    x1 = fnp.sqrt(big_l - fnp.log(x0 * _SQRT_PI) + fnp.log1p(-0.5 / (x0 * x0)))
    x = fnp.where(deep, x1, x)
    lin = a <= 0.5
    for _ in range(1 if _is_f32(a) else 2):
        x_lin = x - (erf(x) - a) * (0.5 * _SQRT_PI) * fnp.exp(x * x)
        e = _erfcx_pos(x)
        x_log = x + (fnp.log(e) - x * x - log_c) * (0.5 * _SQRT_PI) * e
        x = fnp.where(lin, x_lin, x_log)
    return x


def erfinv(y):
    """``scipy.special.erfinv``: the inverse of ``erf`` on [-1, 1].

    Giles' approximation refined by Newton's method (see ``_erfinv_core``);
    ``erfinv(+-1) = +-inf``, ``nan`` outside [-1, 1]. Max relative error about
    1e-15 (float64, also as ``y -> 1``), 4e-7 (float32). The derivative is that of
    the refined composition: ``sqrt(pi)/2 exp(erfinv(y)^2)`` to about 1e-13."""
    y, weak = _unary(y)
    a = _abs_sel(y)
    ok = a < 1.0
    a_s = fnp.where(ok, a, 0.5)
    x = _sgn(y) * _erfinv_core(a_s, 1.0 - a_s)
    edge = fnp.where(a == 1.0, _sgn(y) * _INF, _c(_NAN, y))
    out = fnp.where(ok, x, edge)
    return _finish(_keep_nan(y, out), weak)


def _erfcinv(t):
    """``erfcinv(t)`` for ``t`` in (0, 2), from the exact ``1 - t`` or ``t - 1`` and the
    exact complement, used by ``stats.norm.ppf`` so that tiny ``t`` keeps its relative accuracy."""
    low = t <= 1.0
    a = fnp.where(low, 1.0 - t, t - 1.0)
    c = fnp.where(low, t, 2.0 - t)
    x = _erfinv_core(a, c)
    return fnp.where(low, x, -x)


# ----------------------------------------------------------------------------- gamma family

def _lgamma_pos(u):
    """``log Gamma(u)`` for ``u >= 0.5`` (finite, non-nan ``u``).

    ``u < 8``: the recurrence ``lgamma(u) = log((u-1)...(u-k)) + lgamma(u-k)`` down to
    ``v = u - k`` in [0.5, 2.5) (no cancellation: both terms are >= -0.13), where
    ``lgamma(v) = L2(v - 2)`` on [1.5, 2.5) and ``L2(v - 1) - log(v)`` on [0.5, 1.5), with
    ``L2(z) = lgamma(2 + z)`` the Taylor series in ``zeta(k) - 1`` (30 terms, |z| <= 1/2:
    full relative accuracy at the zeros 1 and 2). ``u >= 8``: Stirling's series (10 terms)."""
    large = u >= 8.0
    v = fnp.where(large, 2.0, u)
    prod = fnp.ones_like(v)
    for _ in range(6):
        step = v >= 2.5
        prod = prod * fnp.where(step, v - 1.0, 1.0)
        v = fnp.where(step, v - 1.0, v)
    near1 = v < 1.5
    l2 = _horner(fnp.where(near1, v - 1.0, v - 2.0), K.LGAMMA2_SERIES)
    v_small = fnp.where(near1, l2 - fnp.log(v), l2) + fnp.log(prod)
    y = fnp.where(large, u, 8.0)
    r = 1.0 / y
    corr = _horner(r * r, K.STIRLING) * r
    v_large = (y - 0.5) * fnp.log(y) - y + _HALF_LOG_2PI + corr
    return fnp.where(large, v_large, v_small)


def _sin_pi_abs(x):
    """``|sin(pi x)|`` with the argument reduced exactly (``x - round(x)``)."""
    r = x - fnp.round(x)
    return fnp.abs(fnp.sin(math.pi * r))


def gammaln(x):
    """``scipy.special.gammaln``: ``log|Gamma(x)|``.

    ``x >= 0.5``: on [0.5, 8) the recurrence down to [0.5, 2.5) and a Taylor
    series about 2 there (relative accuracy kept at the zeros 1 and 2, where
    SciPy's is only absolute); from 8 Stirling's series. ``0 < x < 0.5``:
    ``gammaln(x + 1) - log(x)``; ``x <= 0``: the reflection
    ``log(pi) - log|sin(pi x)| - gammaln(1 - x)``. ``+inf`` at the poles
    0, -1, -2, ... and at ``+inf``; ``-inf`` at ``-inf`` (as SciPy).
    Max relative error about 2e-15 (float64) and 1e-6 (float32) for ``x > 0`` (it differs
    from SciPy's by up to 5e-16 absolute near 1 and 2, where SciPy's is only absolutely
    accurate); for ``x < 0`` the error is absolute near the zeros of ``gammaln``
    (about 3e-16 in float64; in float32 the rounding of ``1 - x`` gives about 5e-6)."""
    x, weak = _unary(x)
    fin = fnp.isfinite(x)
    xf = fnp.where(fin, x, 1.0)
    pos = xf >= 0.5
    mid = (xf > 0.0) & ~pos
    u = fnp.where(pos, xf, fnp.where(mid, xf + 1.0, 1.0 - xf))
    lu = _lgamma_pos(u)
    xm = fnp.where(mid, xf, 1.0)
    xr = fnp.where(pos | mid, 0.5, xf)
    refl = _LOG_PI - fnp.log(_sin_pi_abs(xr)) - lu
    out = fnp.where(pos, lu, fnp.where(mid, lu - fnp.log(xm), refl))
    out = fnp.where(fin, out, fnp.where(x > 0, _c(_INF, x), _c(-_INF, x)))
    return _finish(_keep_nan(x, out), weak)


def _shift_up(u, target, steps):
    """``(y, terms)``: ``y = u + k`` with the least ``k <= steps`` making ``y >= target``,
    and ``terms`` the ``(taken, u + i)`` of each step (``u + i`` replaced by 1 where not taken)."""
    terms = []
    y = u
    for _ in range(steps):
        step = y < target
        terms.append((step, fnp.where(step, y, 1.0)))
        y = fnp.where(step, y + 1.0, y)
    return y, terms


def _digamma_pos(u):
    """``psi(u)`` for ``u > 0``: recurrence up to ``y >= 10`` then the asymptotic series."""
    y, terms = _shift_up(u, 10.0, 10)
    acc = fnp.zeros_like(u)
    for step, t in terms:
        acc = acc + fnp.where(step, 1.0 / t, 0.0)
    r2 = 1.0 / (y * y)
    return fnp.log(y) - 0.5 / y - _horner(r2, K.DIGAMMA_ASYM) * r2 - acc


def digamma(x):
    """``scipy.special.digamma`` (``psi``): the derivative of ``gammaln``.

    ``x > 0``: the recurrence ``psi(x) = psi(x + 1) - 1/x`` up to ``x >= 10``,
    then the asymptotic series in Bernoulli numbers (9 terms). ``x < 0``: the
    reflection ``psi(1 - x) - pi / tan(pi x)``. ``psi(0) = -inf``, ``nan`` at
    negative integers and ``-inf``, ``inf`` at ``inf`` (as SciPy). Max relative error about
    2e-15 (float64) and 1e-6 (float32), except near its zero 1.4616... and its
    negative zeros, where the error is absolute (about 1e-15 / 1e-7)."""
    x, weak = _unary(x)
    fin = fnp.isfinite(x)
    xf = fnp.where(fin, x, 1.0)
    pos = xf > 0.0
    u = fnp.where(pos, xf, 1.0 - xf)
    pu = _digamma_pos(u)
    xr = fnp.where(pos, 0.25, xf)
    r = xr - fnp.round(xr)
    pole = r == 0.0
    rs = fnp.where(pole, 0.25, r)
    refl = pu - math.pi * fnp.cos(math.pi * rs) / fnp.sin(math.pi * rs)
    out = fnp.where(pos, pu, fnp.where(pole, fnp.where(xf == 0.0, _c(-_INF, x), _c(_NAN, x)), refl))
    out = fnp.where(fin, out, fnp.where(x > 0, _c(_INF, x), _c(_NAN, x)))
    return _finish(_keep_nan(x, out), weak)


def _hurwitz_zeta(s, u):
    """``zeta(s, u) = sum_k (u + k)^-s`` for static integer ``s >= 2`` and ``u > 0``:
    direct terms up to ``y = u + k >= 12 + s``, then Euler-Maclaurin (10 terms)."""
    y, terms = _shift_up(u, 12.0 + s, 12 + s)
    acc = fnp.zeros_like(u)
    for step, t in terms:
        acc = acc + fnp.where(step, 1.0 / t ** s, 0.0)
    r = 1.0 / y
    em = _horner(r * r, K.hurwitz_em_coeffs(s)) * r
    tail = r ** s * (y / (s - 1) + 0.5 + em)
    return acc + tail


def _static_order(n):
    if isinstance(n, Tracer):
        raise UnsupportedError("scipy.special.polygamma: the order n must be a static integer (or a "
                               "concrete array of integers), not a traced value")
    arr = np.asarray(n)
    if arr.dtype.kind not in "biuf" or not np.all(np.isfinite(arr)) or np.any(arr != np.round(arr)) \
            or np.any(arr < 0):
        raise InputError(f"scipy.special.polygamma: the order n must be non-negative integers, got {n!r}")
    return arr.astype(np.int64)


def polygamma(n, x):
    """``scipy.special.polygamma``: the ``n``-th derivative of ``digamma``.

    ``n`` is static: a non-negative Python integer, or a concrete integer array
    (broadcast against ``x``). ``n = 0`` is :func:`digamma`; ``n >= 1`` is
    ``(-1)^(n+1) n! zeta(n + 1, x)`` with the Hurwitz zeta function summed
    directly up to ``x + k >= 13 + n`` and then by Euler-Maclaurin.

    Domain: for ``n >= 1`` only ``x > 0`` is implemented; ``x <= 0`` gives
    ``nan`` (SciPy gives finite values at negative non-integers), ``x = +inf``
    gives 0. Max relative error about 2e-15 (float64), 1e-6 (float32)."""
    orders = _static_order(n)
    if orders.ndim == 0:
        return _polygamma1(int(orders), x)
    (x,), weak = _floats(x)
    out = None
    shape = np.broadcast_shapes(orders.shape, C.shape(x))
    for k in np.unique(orders):
        v = _polygamma1(int(k), x)
        out = fnp.broadcast_to(v, shape) if out is None else fnp.where(orders == k, v, out)
    return _finish(out, weak)


def _polygamma1(n, x):
    n = operator.index(n)
    if n == 0:
        return digamma(x)
    x, weak = _unary(x)
    ok = (x > 0.0) & fnp.isfinite(x)
    u = fnp.where(ok, x, 1.0)
    z = _hurwitz_zeta(n + 1, u)
    out = ((-1.0) ** (n + 1) * math.factorial(n)) * z
    out = fnp.where(ok, out, fnp.where(x == _INF, _c(0.0, x), _c(_NAN, x)))
    return _finish(_keep_nan(x, out), weak)


def betaln(a, b):
    """``scipy.special.betaln``: ``log|B(a, b)| = gammaln(a) + gammaln(b) - gammaln(a + b)``
    (no special treatment of large arguments). The error is about 1e-16 times
    ``max(|gammaln(a)|, |gammaln(b)|, |gammaln(a + b)|)``: relative 1e-15 for moderate
    ``a, b`` away from the zeros of ``betaln`` (``a = b = 1``...), absolute there, and
    growing relatively when ``a + b`` is large against ``|betaln|``."""
    (a, b), weak = _floats(a, b)
    return _finish(gammaln(a) + gammaln(b) - gammaln(a + b), weak)


# ----------------------------------------------------------------------------- logistic, logs

def expit(x):
    """``scipy.special.expit``: the logistic function ``1 / (1 + exp(-x))`` (the
    ``logistic`` primitive, as :func:`funcgrad.nn.sigmoid`)."""
    x, weak = _unary(x)
    return _finish(P.logistic(x), weak)


def logit(p):
    """``scipy.special.logit``: ``log(p / (1 - p))``, computed as ``log1p((2p - 1) / (1 - p))``
    on (1/4, 3/4) and ``log(p) - log1p(-p)`` elsewhere;
    ``-inf`` at 0, ``inf`` at 1, ``nan`` outside [0, 1]."""
    p, weak = _unary(p)
    mid = fnp.abs(p - 0.5) < 0.25
    q = fnp.where(mid, p, 0.5)
    # p / (1 - p) = 1 + (2p - 1) / (1 - p), with 2p - 1 exact: no cancellation near 1/2
    return _finish(fnp.where(mid, fnp.log1p((2.0 * q - 1.0) / (1.0 - q)), fnp.log(p) - fnp.log1p(-p)), weak)


def xlogy(x, y):
    """``scipy.special.xlogy``: ``x * log(y)``, and 0 where ``x == 0`` (unless ``y`` is ``nan``).

    Where ``x == 0`` and ``log(y)`` is not finite (``y <= 0`` or ``inf``) the product is
    never formed, so the gradient there is finite: 0 for ``y``; for ``x`` it is
    ``log(y)`` where that is finite and 0 otherwise."""
    (x, y), weak = _floats(x, y)
    bad = (x == 0.0) & ~fnp.isnan(y) & ~((y > 0.0) & (y < _INF))
    ys = fnp.where(bad, 1.0, y)
    return _finish(fnp.where(bad, 0.0, x * fnp.log(ys)), weak)


def xlog1py(x, y):
    """``scipy.special.xlog1py``: ``x * log1p(y)``, and 0 where ``x == 0`` (unless ``y`` is ``nan``);
    gradients as :func:`xlogy`'s."""
    (x, y), weak = _floats(x, y)
    bad = (x == 0.0) & ~fnp.isnan(y) & ~((y > -1.0) & (y < _INF))
    ys = fnp.where(bad, 0.0, y)
    return _finish(fnp.where(bad, 0.0, x * fnp.log1p(ys)), weak)


def entr(x):
    """``scipy.special.entr``: ``-x log(x)`` for ``x > 0``, 0 at 0, ``-inf`` for ``x < 0``.
    The gradient at 0 is taken to be 0 (the true one, ``-log(x) - 1``, tends to ``+inf``)."""
    x, weak = _unary(x)
    pos = x > 0.0
    xs = fnp.where(pos, x, 1.0)
    v = -xs * fnp.log(xs)
    other = fnp.where(x == 0.0, _c(0.0, x), _c(-_INF, x))
    out = fnp.where(pos, v, other)
    return _finish(_keep_nan(x, out), weak)


# ----------------------------------------------------------------------------- Bessel

def i0e(x):
    """``scipy.special.i0e``: ``exp(-|x|) I0(x)``, Cephes' Chebyshev expansions on
    [0, 8] (30 terms) and (8, inf) in ``32/|x|`` (25 terms). Max relative error
    about 1e-15 (float64), 1e-6 (float32). Even; not differentiable at 0
    (the derivative there is taken to be 0)."""
    x, weak = _unary(x)
    a = fnp.abs(x)
    small = a <= 8.0
    s = fnp.where(small, a, 4.0)
    b = fnp.where(small, 16.0, a)
    out = fnp.where(small, _clenshaw(0.5 * s - 2.0, K.I0E_A),
                    _clenshaw(32.0 / b - 2.0, K.I0E_B) / fnp.sqrt(b))
    return _finish(_keep_nan(x, out), weak)


def i1e(x):
    """``scipy.special.i1e``: ``exp(-|x|) I1(x)``, Cephes' Chebyshev expansions on
    [0, 8] (of ``i1e(x)/x``, 29 terms) and (8, inf) (25 terms). Max relative error
    about 1e-15 (float64), 3e-6 (float32). Odd."""
    x, weak = _unary(x)
    a = fnp.abs(x)
    small = a <= 8.0
    s = fnp.where(small, a, 4.0)
    xs = fnp.where(small, x, 4.0)
    b = fnp.where(small, 16.0, a)
    out = fnp.where(small, _clenshaw(0.5 * s - 2.0, K.I1E_A) * xs,
                    _sgn(x) * _clenshaw(32.0 / b - 2.0, K.I1E_B) / fnp.sqrt(b))
    return _finish(_keep_nan(x, out), weak)


# ----------------------------------------------------------------------------- log-sum-exp family

def _all_axes(name, a, axis):
    if axis is None:
        return tuple(range(C.ndim(a)))
    return C._axes_of(name, a, axis)


def logsumexp(a, axis=None, b=None, keepdims=False, return_sign=False):
    """``scipy.special.logsumexp``: ``log(sum(b * exp(a), axis))``, stably.

    The maximum ``m`` of ``a`` over ``axis`` (held constant for differentiation,
    and replaced by 0 where it is not finite) is subtracted before exponentiating.
    ``b`` (broadcast against ``a``) may be negative or zero: with
    ``return_sign=True`` the result is ``(log|s|, sign(s))``, otherwise a negative
    sum gives ``nan`` (as SciPy). All ``-inf`` (or an all-zero ``b``) gives ``-inf``.
    A 0-d ``a`` is its own 1-element reduction (result 0-d)."""
    if b is None:
        (a,), weak = _floats(a)
    else:
        (a, b), weak = _floats(a, b)
        shape = np.broadcast_shapes(C.shape(a), C.shape(b))
        a, b = fnp.broadcast_to(a, shape), fnp.broadcast_to(b, shape)
    zero_d = C.ndim(a) == 0
    if zero_d:
        if axis not in (None, 0, -1, (0,), (-1,), ()):
            C._axes_of("logsumexp", a, axis)            # raises SciPy-like axis errors
        a = fnp.reshape(a, (1,))
        b = None if b is None else fnp.reshape(b, (1,))
        axes = (0,)
    else:
        axes = _all_axes("logsumexp", a, axis)
    m = fnp.stop_gradient(fnp.max(a, axis=axes, keepdims=True))
    m = fnp.where(fnp.isfinite(m), m, 0.0)
    e = fnp.exp(a - m)
    if b is not None:
        e = b * e
    s = fnp.sum(e, axis=axes, keepdims=True)
    sign = None
    if return_sign:
        sign = fnp.where(s > 0.0, _c(1.0, s), fnp.where(s < 0.0, _c(-1.0, s), _c(0.0, s)))
        out = fnp.log(fnp.abs(s)) + m
    else:
        out = fnp.log(s) + m
    if zero_d:
        out = fnp.reshape(out, ())
        sign = fnp.reshape(sign, ()) if return_sign else None
    elif not keepdims:
        out = fnp.squeeze(out, axis=axes) if axes else out
        sign = (fnp.squeeze(sign, axis=axes) if axes else sign) if return_sign else None
    out = _finish(out, weak)
    return (out, _finish(sign, weak)) if return_sign else out


def softmax(x, axis=None):
    """``scipy.special.softmax``: ``exp(x) / sum(exp(x), axis)`` from ``x - max(x)``
    (as :func:`funcgrad.nn.softmax`); ``axis=None`` normalizes over all elements.
    ``-inf`` entries get 0; all ``-inf`` gives ``nan`` (as SciPy)."""
    x, weak = _unary(x)
    if C.ndim(x) == 0:
        return _finish(fnp.reshape(_act.softmax(fnp.reshape(x, (1,)), axis=0), ()), weak)
    return _finish(_act.softmax(x, axis=_all_axes("softmax", x, axis)), weak)


def log_softmax(x, axis=None):
    """``scipy.special.log_softmax``: ``x - logsumexp(x, axis)`` from ``x - max(x)``
    (as :func:`funcgrad.nn.log_softmax`), finite wherever the true value is;
    ``axis=None`` normalizes over all elements."""
    x, weak = _unary(x)
    if C.ndim(x) == 0:
        return _finish(fnp.reshape(_act.log_softmax(fnp.reshape(x, (1,)), axis=0), ()), weak)
    return _finish(_act.log_softmax(x, axis=_all_axes("log_softmax", x, axis)), weak)
