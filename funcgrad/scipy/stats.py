"""``funcgrad.scipy.stats``: densities, mass functions and distribution functions of
SciPy's distributions on traced values (as ``jax.scipy.stats``).

Each distribution is an object with SciPy's method names and signatures
(``stats.norm.logpdf(x, loc=0, scale=1)``...), written with
:mod:`funcgrad.numpy` and :mod:`funcgrad.scipy.special`. Arguments broadcast;
float32 stays float32, integers become float64. Outside the support ``logpdf``
is ``-inf`` and ``pdf`` 0; invalid parameters (``scale <= 0``, ``p`` outside
[0, 1]...) give ``nan``, as SciPy. The distribution functions of ``gamma``, ``beta``,
``t`` and ``poisson`` use :func:`funcgrad.scipy.special.gammainc` /
:func:`~funcgrad.scipy.special.betainc` (see their accuracy); outside the support
``cdf`` is 0 or 1 and ``logcdf`` ``-inf`` or 0.
"""
from __future__ import annotations

import math

import numpy as np

from .. import numpy as fnp
from ..errors import ShapeError, UnsupportedError
from ..numpy import _core as C
from ..numpy._math import _finish, _floats
from . import special as sp

__all__ = ["norm", "multivariate_normal", "t", "gamma", "beta", "bernoulli", "poisson"]

_HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)
_SQRT2 = math.sqrt(2.0)
_INF = float("inf")
_NAN = float("nan")


def _c(value, like):
    return np.asarray(value, dtype=C._dtype(like))


def _nan_unless(ok, out):
    return fnp.where(ok, out, _c(_NAN, out))


def _log_prob(p, ok):
    """``log(p)`` where ``ok`` (``p`` may still underflow to 0 there: ``-inf``), ``-inf`` elsewhere,
    with ``log`` never applied to the 0 of the other side (no ``nan`` in the gradient)."""
    return fnp.where(ok, fnp.log(fnp.where(ok, p, 1.0)), _c(-_INF, p))


def _log_of_pair(p, q, ok):
    """``log(p)`` given ``p`` and its accurate complement ``q = 1 - p``: ``log1p(-q)`` where
    ``p > 1/2`` (``log(1 - tiny)`` keeps its digits), ``log(p)`` elsewhere; ``-inf`` where not ``ok``."""
    near1 = p > 0.5
    v = fnp.where(near1, fnp.log1p(-fnp.where(near1, q, 0.0)), _log_prob(p, p > 0))
    return fnp.where(ok, v, _c(-_INF, p))


class _Distribution:
    name = ""

    def __repr__(self):
        return f"funcgrad.scipy.stats.{self.name}"


class _Norm(_Distribution):
    """The normal distribution ``N(loc, scale**2)``."""
    name = "norm"

    def logpdf(self, x, loc=0, scale=1):
        """``-z^2/2 - log(scale) - log(2 pi)/2`` with ``z = (x - loc) / scale``."""
        (x, loc, scale), weak = _floats(x, loc, scale)
        z = (x - loc) / scale
        return _finish(_nan_unless(scale > 0, -0.5 * z * z - fnp.log(scale) - _HALF_LOG_2PI), weak)

    def pdf(self, x, loc=0, scale=1):
        return fnp.exp(self.logpdf(x, loc, scale))

    def cdf(self, x, loc=0, scale=1):
        """``erfc(-z / sqrt(2)) / 2``: full relative accuracy in the left tail."""
        (x, loc, scale), weak = _floats(x, loc, scale)
        z = (x - loc) / scale
        return _finish(_nan_unless(scale > 0, 0.5 * sp.erfc(-z / _SQRT2)), weak)

    def sf(self, x, loc=0, scale=1):
        """``erfc(z / sqrt(2)) / 2`` (``1 - cdf`` without cancellation)."""
        (x, loc, scale), weak = _floats(x, loc, scale)
        z = (x - loc) / scale
        return _finish(_nan_unless(scale > 0, 0.5 * sp.erfc(z / _SQRT2)), weak)

    @staticmethod
    def _log_ndtr(z):
        """``log Phi(z)``: ``log(erfcx(-z/sqrt2) / 2) - z^2/2`` for ``z < -1`` (no underflow:
        finite down to ``z = -1e150``), ``log1p(-erfc(z/sqrt2) / 2)`` above."""
        left = z < -1.0
        zl = fnp.where(left, z, -2.0)
        zr = fnp.where(left, 0.0, z)
        v_left = fnp.log(0.5 * sp.erfcx(-zl / _SQRT2)) - 0.5 * zl * zl
        v_right = fnp.log1p(-0.5 * sp.erfc(zr / _SQRT2))
        return fnp.where(left, v_left, v_right)

    def logcdf(self, x, loc=0, scale=1):
        (x, loc, scale), weak = _floats(x, loc, scale)
        z = (x - loc) / scale
        return _finish(_nan_unless(scale > 0, self._log_ndtr(z)), weak)

    def logsf(self, x, loc=0, scale=1):
        (x, loc, scale), weak = _floats(x, loc, scale)
        z = (x - loc) / scale
        return _finish(_nan_unless(scale > 0, self._log_ndtr(-z)), weak)

    def ppf(self, q, loc=0, scale=1):
        """``loc - scale sqrt(2) erfcinv(2q)`` (the inverse of ``erfc`` by
        :func:`funcgrad.scipy.special.erfinv`'s method, accurate for tiny ``q``);
        ``-inf`` at 0, ``inf`` at 1, ``nan`` outside [0, 1]."""
        (q, loc, scale), weak = _floats(q, loc, scale)
        inside = (q > 0.0) & (q < 1.0)
        qs = fnp.where(inside, q, 0.5)
        z = -_SQRT2 * sp._erfcinv(2.0 * qs)
        edge = fnp.where(q == 0.0, _c(-_INF, z), fnp.where(q == 1.0, _c(_INF, z), _c(_NAN, z)))
        z = fnp.where(inside, z, edge)
        return _finish(_nan_unless(scale > 0, loc + scale * z), weak)


class _MultivariateNormal(_Distribution):
    """The multivariate normal distribution ``N(mean, cov)`` (``cov`` positive definite)."""
    name = "multivariate_normal"

    def logpdf(self, x, mean=None, cov=1, allow_singular=False):
        """``-(d log(2 pi) + log det(cov) + r^T cov^-1 r) / 2`` with ``r = x - mean``, from the
        Cholesky factor ``L`` of ``cov`` (``log det = 2 sum log diag L``, the quadratic form
        by one triangular solve). ``x``'s last axis is the dimension ``d`` (a vector
        gives a scalar, ``(n, d)`` gives ``(n,)``; size-1 axes of the result are
        squeezed, as SciPy's); ``mean`` a ``d``-vector (default 0),
        ``cov`` a ``d x d`` matrix or a scalar (times the identity).
        ``allow_singular=True`` is not supported."""
        from ..numpy import linalg as la
        from . import linalg as sla
        if allow_singular:
            raise UnsupportedError("scipy.stats.multivariate_normal: allow_singular=True is not supported "
                                   "(the density is computed from a Cholesky factor)")
        if mean is None:
            mean = 0.0
        (x, mean, cov), weak = _floats(x, mean, cov)
        if C.ndim(mean) > 1 or C.ndim(cov) > 2:
            raise ShapeError(f"multivariate_normal: mean must be a vector and cov a matrix, got shapes "
                             f"{C.shape(mean)} and {C.shape(cov)}")
        # the dimension: mean's length, else cov's size, else 1 (as SciPy)
        d = C.shape(mean)[0] if C.ndim(mean) == 1 else C.shape(cov)[0] if C.ndim(cov) >= 1 else 1
        if C.ndim(mean) == 0:
            mean = fnp.broadcast_to(mean, (d,))
        if C.ndim(x) == 0 or (d == 1 and C.shape(x)[-1:] != (1,)):
            x = fnp.expand_dims(x, -1)          # scalars / 1-d data of a 1-dimensional normal
        if C.shape(x)[-1] != d:
            raise ShapeError(f"multivariate_normal: x of shape {C.shape(x)} does not match dimension {d}")
        if C.ndim(cov) == 0:
            cov = cov * fnp.eye(d, dtype=C._dtype(x))
        elif C.ndim(cov) == 1:
            cov = fnp.eye(d, dtype=C._dtype(x)) * cov
        if C.shape(cov) != (d, d):
            raise ShapeError(f"multivariate_normal: cov of shape {C.shape(cov)} does not match dimension {d}")
        batch = C.shape(x)[:-1]
        r = fnp.reshape(x - mean, (-1, d))
        L = la.cholesky(cov)
        y = sla.solve_triangular(L, fnp.transpose(r), lower=True)       # (d, n)
        maha = fnp.sum(y * y, axis=0)
        logdet = 2.0 * fnp.sum(fnp.log(fnp.diagonal(L)))
        out = -0.5 * (maha + logdet) - d * _HALF_LOG_2PI
        # SciPy squeezes the size-1 axes of the result (one point gives a scalar)
        return _finish(fnp.reshape(out, tuple(n for n in batch if n != 1)), weak)

    def pdf(self, x, mean=None, cov=1, allow_singular=False):
        return fnp.exp(self.logpdf(x, mean, cov, allow_singular))


class _T(_Distribution):
    """Student's t distribution with ``df`` degrees of freedom."""
    name = "t"

    def logpdf(self, x, df, loc=0, scale=1):
        """``gammaln((df+1)/2) - gammaln(df/2) - log(df pi)/2 - log(scale)
        - (df+1)/2 log1p(z^2/df)``."""
        (x, df, loc, scale), weak = _floats(x, df, loc, scale)
        z = (x - loc) / scale
        out = (sp.gammaln(0.5 * (df + 1.0)) - sp.gammaln(0.5 * df) - 0.5 * fnp.log(df * math.pi)
               - fnp.log(scale) - 0.5 * (df + 1.0) * fnp.log1p(z * z / df))
        return _finish(_nan_unless((scale > 0) & (df > 0), out), weak)

    def pdf(self, x, df, loc=0, scale=1):
        return fnp.exp(self.logpdf(x, df, loc, scale))

    @staticmethod
    def _tails(x, df, loc, scale):
        """``(cdf, sf)`` from the upper tail ``P(T > |z|) = I_(df/(df+z^2))(df/2, 1/2) / 2`` for
        ``z^2 >= df``, ``(1 - I_(z^2/(df+z^2))(1/2, df/2)) / 2`` below (one ``betainc`` and its
        accurate complement: no cancellation in ``1 - df/(df+z^2)`` near 0); ``df = inf`` is
        the normal distribution."""
        z = (x - loc) / scale
        fin = fnp.isfinite(z)
        zs = fnp.where(fin, z, 1.0)
        dfin = df < _INF
        dfs = fnp.where(dfin, df, 1.0)
        z2 = zs * zs
        big = z2 >= dfs
        w = dfs / (dfs + z2)
        y = z2 / (dfs + z2)
        i, j = sp._betainc_pair(fnp.where(big, 0.5 * dfs, 0.5), fnp.where(big, 0.5, 0.5 * dfs),
                                fnp.where(big, w, y))
        tail = 0.5 * fnp.where(big, i, j)
        tail = fnp.where(dfin, tail, 0.5 * sp.erfc(fnp.abs(zs) / _SQRT2))
        tail = fnp.where(fin, tail, _c(0.0, tail))
        pos = (z > 0) | (fin & (zs == 0))
        cdf = fnp.where(pos, 1.0 - tail, tail)
        sf = fnp.where(pos, tail, 1.0 - tail)
        ok = (scale > 0) & (df > 0)
        return _nan_unless(ok, _nan_unless(~fnp.isnan(z), cdf)), _nan_unless(ok, _nan_unless(~fnp.isnan(z), sf))

    def cdf(self, x, df, loc=0, scale=1):
        """Via :func:`funcgrad.scipy.special.betainc` (see ``_tails``): full relative
        accuracy in the left tail."""
        (x, df, loc, scale), weak = _floats(x, df, loc, scale)
        return _finish(self._tails(x, df, loc, scale)[0], weak)

    def sf(self, x, df, loc=0, scale=1):
        (x, df, loc, scale), weak = _floats(x, df, loc, scale)
        return _finish(self._tails(x, df, loc, scale)[1], weak)

    def logcdf(self, x, df, loc=0, scale=1):
        (x, df, loc, scale), weak = _floats(x, df, loc, scale)
        c, s_ = self._tails(x, df, loc, scale)
        return _finish(fnp.where(fnp.isnan(c), c, _log_of_pair(c, s_, c > 0)), weak)

    def logsf(self, x, df, loc=0, scale=1):
        (x, df, loc, scale), weak = _floats(x, df, loc, scale)
        c, s_ = self._tails(x, df, loc, scale)
        return _finish(fnp.where(fnp.isnan(s_), s_, _log_of_pair(s_, c, s_ > 0)), weak)


class _Gamma(_Distribution):
    """The gamma distribution with shape ``a``."""
    name = "gamma"

    def logpdf(self, x, a, loc=0, scale=1):
        """``xlogy(a - 1, z) - z - gammaln(a) - log(scale)`` for ``z = (x - loc)/scale >= 0``,
        ``-inf`` below (at ``z = 0``: ``-log(scale)`` for ``a = 1``, ``inf`` for ``a < 1``)."""
        (x, a, loc, scale), weak = _floats(x, a, loc, scale)
        z = (x - loc) / scale
        inside = z >= 0
        zs = fnp.where(inside, z, 1.0)
        out = sp.xlogy(a - 1.0, zs) - zs - sp.gammaln(a) - fnp.log(scale)
        out = fnp.where(inside, out, _c(-_INF, out))
        return _finish(_nan_unless((scale > 0) & (a > 0), out), weak)

    def pdf(self, x, a, loc=0, scale=1):
        return fnp.exp(self.logpdf(x, a, loc, scale))

    @staticmethod
    def _z(x, a, loc, scale):
        z = (x - loc) / scale
        return fnp.where(z > 0, z, _c(0.0, z)), z, (scale > 0) & (a > 0) & ~fnp.isnan(z)

    def cdf(self, x, a, loc=0, scale=1):
        """``gammainc(a, z)`` for ``z = (x - loc)/scale >= 0``, 0 below."""
        (x, a, loc, scale), weak = _floats(x, a, loc, scale)
        zc, _, ok = self._z(x, a, loc, scale)
        return _finish(_nan_unless(ok, sp.gammainc(a, zc)), weak)

    def sf(self, x, a, loc=0, scale=1):
        """``gammaincc(a, z)`` (accurate in the right tail), 1 below 0."""
        (x, a, loc, scale), weak = _floats(x, a, loc, scale)
        zc, _, ok = self._z(x, a, loc, scale)
        return _finish(_nan_unless(ok, sp.gammaincc(a, zc)), weak)

    def logcdf(self, x, a, loc=0, scale=1):
        """``log(gammainc(a, z))``, ``-inf`` for ``z <= 0``."""
        (x, a, loc, scale), weak = _floats(x, a, loc, scale)
        zc, z, ok = self._z(x, a, loc, scale)
        p, q = sp._gammainc_pair(a, zc)
        return _finish(_nan_unless(ok, _log_of_pair(p, q, z > 0)), weak)

    def logsf(self, x, a, loc=0, scale=1):
        """``log(gammaincc(a, z))``, 0 for ``z <= 0``."""
        (x, a, loc, scale), weak = _floats(x, a, loc, scale)
        zc, z, ok = self._z(x, a, loc, scale)
        p, q = sp._gammainc_pair(a, zc)
        return _finish(_nan_unless(ok, fnp.where(z > 0, _log_of_pair(q, p, q > 0), _c(0.0, q))), weak)


class _Beta(_Distribution):
    """The beta distribution with shapes ``a, b`` on [loc, loc + scale]."""
    name = "beta"

    def logpdf(self, x, a, b, loc=0, scale=1):
        """``xlogy(a-1, z) + xlog1py(b-1, -z) - betaln(a, b) - log(scale)`` on ``0 <= z <= 1``,
        ``-inf`` outside."""
        (x, a, b, loc, scale), weak = _floats(x, a, b, loc, scale)
        z = (x - loc) / scale
        inside = (z >= 0) & (z <= 1)
        zs = fnp.where(inside, z, 0.5)
        out = sp.xlogy(a - 1.0, zs) + sp.xlog1py(b - 1.0, -zs) - sp.betaln(a, b) - fnp.log(scale)
        out = fnp.where(inside, out, _c(-_INF, out))
        return _finish(_nan_unless((scale > 0) & (a > 0) & (b > 0), out), weak)

    def pdf(self, x, a, b, loc=0, scale=1):
        return fnp.exp(self.logpdf(x, a, b, loc, scale))

    @staticmethod
    def _z(x, a, b, loc, scale):
        z = (x - loc) / scale
        zc = fnp.where(z > 0, fnp.where(z < 1, z, _c(1.0, z)), _c(0.0, z))
        return zc, z, (scale > 0) & (a > 0) & (b > 0) & ~fnp.isnan(z)

    def cdf(self, x, a, b, loc=0, scale=1):
        """``betainc(a, b, z)`` for ``z = (x - loc)/scale`` in [0, 1], 0 below, 1 above."""
        (x, a, b, loc, scale), weak = _floats(x, a, b, loc, scale)
        zc, _, ok = self._z(x, a, b, loc, scale)
        return _finish(_nan_unless(ok, sp.betainc(a, b, zc)), weak)

    def sf(self, x, a, b, loc=0, scale=1):
        """``1 - betainc(a, b, z)``, computed as ``betainc(b, a, 1 - z)`` where that is small."""
        (x, a, b, loc, scale), weak = _floats(x, a, b, loc, scale)
        zc, _, ok = self._z(x, a, b, loc, scale)
        return _finish(_nan_unless(ok, sp._betainc_pair(a, b, zc)[1]), weak)

    def logcdf(self, x, a, b, loc=0, scale=1):
        (x, a, b, loc, scale), weak = _floats(x, a, b, loc, scale)
        zc, z, ok = self._z(x, a, b, loc, scale)
        i, j = sp._betainc_pair(a, b, zc)
        return _finish(_nan_unless(ok, fnp.where(z >= 1, _c(0.0, zc), _log_of_pair(i, j, z > 0))), weak)

    def logsf(self, x, a, b, loc=0, scale=1):
        (x, a, b, loc, scale), weak = _floats(x, a, b, loc, scale)
        zc, z, ok = self._z(x, a, b, loc, scale)
        i, j = sp._betainc_pair(a, b, zc)
        return _finish(_nan_unless(ok, fnp.where(z <= 0, _c(0.0, zc), _log_of_pair(j, i, z < 1))), weak)


def _is_int(k):
    return k == fnp.round(k)


class _Bernoulli(_Distribution):
    """The Bernoulli distribution: 1 with probability ``p``, 0 with ``1 - p``."""
    name = "bernoulli"

    def logpmf(self, k, p, loc=0):
        """``xlogy(k, p) + xlog1py(1 - k, -p)`` for ``k - loc`` in {0, 1}, ``-inf`` otherwise."""
        (k, p, loc), weak = _floats(k, p, loc)
        k = k - loc
        inside = (k == 0) | (k == 1)
        ks = fnp.where(inside, k, 0.0)
        out = sp.xlogy(ks, p) + sp.xlog1py(1.0 - ks, -p)
        out = fnp.where(inside, out, _c(-_INF, out))
        return _finish(_nan_unless((p >= 0) & (p <= 1), out), weak)

    def pmf(self, k, p, loc=0):
        return fnp.exp(self.logpmf(k, p, loc))

    def cdf(self, k, p, loc=0):
        """0 below 0, ``1 - p`` on [0, 1), 1 from 1 (``k - loc``)."""
        (k, p, loc), weak = _floats(k, p, loc)
        k = k - loc
        out = fnp.where(k < 0, _c(0.0, p) * p, fnp.where(k < 1, 1.0 - p, _c(1.0, p) + 0.0 * p))
        return _finish(_nan_unless((p >= 0) & (p <= 1), out), weak)


class _Poisson(_Distribution):
    """The Poisson distribution with mean ``mu``."""
    name = "poisson"

    def logpmf(self, k, mu, loc=0):
        """``xlogy(k, mu) - gammaln(k + 1) - mu`` for non-negative integers ``k - loc``, ``-inf`` otherwise."""
        (k, mu, loc), weak = _floats(k, mu, loc)
        k = k - loc
        inside = (k >= 0) & _is_int(k)
        ks = fnp.where(inside, k, 0.0)
        out = sp.xlogy(ks, mu) - sp.gammaln(ks + 1.0) - mu
        out = fnp.where(inside, out, _c(-_INF, out))
        return _finish(_nan_unless(mu >= 0, out), weak)

    def pmf(self, k, mu, loc=0):
        return fnp.exp(self.logpmf(k, mu, loc))

    @staticmethod
    def _k(k, mu, loc):
        k = fnp.floor(k - loc)
        inside = k >= 0
        return fnp.where(inside, k, _c(0.0, k)) + 1.0, inside, (mu >= 0) & ~fnp.isnan(k)

    def cdf(self, k, mu, loc=0):
        """``gammaincc(floor(k - loc) + 1, mu)`` for ``k - loc >= 0``, 0 below."""
        (k, mu, loc), weak = _floats(k, mu, loc)
        a, inside, ok = self._k(k, mu, loc)
        q = sp.gammaincc(a, mu)
        return _finish(_nan_unless(ok, fnp.where(inside, q, _c(0.0, q))), weak)

    def sf(self, k, mu, loc=0):
        """``gammainc(floor(k - loc) + 1, mu)`` (accurate in the right tail), 1 below 0."""
        (k, mu, loc), weak = _floats(k, mu, loc)
        a, inside, ok = self._k(k, mu, loc)
        p = sp.gammainc(a, mu)
        return _finish(_nan_unless(ok, fnp.where(inside, p, _c(1.0, p))), weak)

    def logcdf(self, k, mu, loc=0):
        (k, mu, loc), weak = _floats(k, mu, loc)
        a, inside, ok = self._k(k, mu, loc)
        p, q = sp._gammainc_pair(a, mu)
        return _finish(_nan_unless(ok, _log_of_pair(q, p, inside)), weak)

    def logsf(self, k, mu, loc=0):
        (k, mu, loc), weak = _floats(k, mu, loc)
        a, inside, ok = self._k(k, mu, loc)
        p, q = sp._gammainc_pair(a, mu)
        return _finish(_nan_unless(ok, fnp.where(inside, _log_of_pair(p, q, p > 0), _c(0.0, p))), weak)


norm = _Norm()
multivariate_normal = _MultivariateNormal()
t = _T()
gamma = _Gamma()
beta = _Beta()
bernoulli = _Bernoulli()
poisson = _Poisson()
