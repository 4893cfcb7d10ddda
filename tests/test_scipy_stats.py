"""funcgrad.scipy.stats against scipy.stats (an independent implementation): values on
broadcast shapes (0-d and size-1 axes), outside the support, float32, gradients against
finite differences and known derivatives, vmap/jvp, and one Numba program."""
import numpy as np
import pytest
import scipy.stats as ss

import funcgrad as fg
import funcgrad.numpy as fnp
import funcgrad.scipy.stats as st
from funcgrad import scipy as fsp
from fd import check_grads

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")
RNG = np.random.default_rng(7)
SHAPES = [((), (), ()), ((5,), (), ()), ((3, 1), (1, 4), ()), ((2, 1, 3), (3,), (1, 1))]


def close(got, ref, rtol, atol=0.0):
    got = np.asarray(got)
    ref = np.asarray(ref)
    assert got.shape == ref.shape, (got.shape, ref.shape)
    np.testing.assert_allclose(got, ref, rtol=rtol, atol=atol)


def test_import_forms():
    assert fsp.stats.norm is st.norm
    from funcgrad.scipy import stats
    assert stats.norm.logpdf(0.0) == pytest.approx(ss.norm.logpdf(0.0), rel=1e-15)


@pytest.mark.parametrize("xs,ls,ss_", SHAPES)
def test_norm(xs, ls, ss_):
    x = RNG.normal(0, 3, xs)
    loc = RNG.normal(0, 1, ls)
    scale = RNG.uniform(0.5, 2, ss_)
    for name in ("logpdf", "pdf", "cdf", "sf", "logcdf", "logsf"):
        close(getattr(st.norm, name)(x, loc, scale), getattr(ss.norm, name)(x, loc, scale), 1e-13)
    q = RNG.uniform(0, 1, xs)
    close(st.norm.ppf(q, loc, scale), ss.norm.ppf(q, loc, scale), 1e-13, 1e-15)


def test_norm_tails_and_edges():
    z = np.array([-1e150, -1e5, -300.0, -40.0, -38.5, -10.0, -1.0, 0.0, 3.0, 10.0, 40.0])
    # logcdf stays finite and accurate in the far left tail (SciPy's log_ndtr as reference)
    # (rtol 5e-14: erfc(z / sqrt 2) amplifies the rounding of z / sqrt 2 by z^2, in SciPy too)
    close(st.norm.logcdf(z), ss.norm.logcdf(z), 5e-14)
    close(st.norm.logsf(-z), ss.norm.logsf(-z), 5e-14)
    # cdf in the left tail (SciPy's ndtr loses ~z^2 eps there: its tolerance)
    close(st.norm.cdf(z[3:]), ss.norm.cdf(z[3:]), 5e-13)
    q = np.concatenate([10.0 ** -np.arange(1.0, 300.0, 17), [0.5, 0.9, 1 - 1e-10, 1 - 2 ** -53]])
    close(st.norm.ppf(q), ss.norm.ppf(q), 1e-14)
    np.testing.assert_array_equal(st.norm.ppf(np.array([0.0, 1.0])), [-np.inf, np.inf])
    assert np.all(np.isnan(st.norm.ppf(np.array([-0.1, 1.1]))))
    assert np.isnan(st.norm.logpdf(0.0, 0.0, -1.0))
    # float32 stays float32 (with Python-scalar parameters too)
    x32 = np.float32([-3.0, 0.5, 2.0])
    for name in ("logpdf", "pdf", "cdf", "sf", "logcdf", "logsf"):
        got = getattr(st.norm, name)(x32, 0.5, 2.0)
        assert got.dtype == np.float32, name
        close(got, getattr(ss.norm, name)(x32.astype(np.float64), 0.5, 2.0), 2e-6)
    q32 = np.float32([1e-6, 0.3, 0.99])
    assert st.norm.ppf(q32).dtype == np.float32
    close(st.norm.ppf(q32), ss.norm.ppf(q32.astype(np.float64)), 2e-6)
    assert st.norm.logpdf(np.array([1, 2])).dtype == np.float64


def test_norm_grads():
    x = np.array([-30.0, -2.0, 0.3, 4.0])
    check_grads(lambda v, m, s: st.norm.logcdf(v, m, s), (x, np.array(0.2), np.array(1.5)), argnums=(0, 1, 2),
                ref=lambda v, m, s: ss.norm.logcdf(v, m, s), rtol=1e-8, value_rtol=1e-13)
    check_grads(lambda v: st.norm.cdf(v), (x[1:],), ref=ss.norm.cdf, rtol=1e-8, value_rtol=1e-13)
    q = np.array([1e-8, 0.1, 0.5, 0.97])
    # d ppf / dq = 1 / pdf(ppf(q))
    g = fg.grad(lambda v: fnp.sum(st.norm.ppf(v)))(q)
    close(g, 1 / ss.norm.pdf(ss.norm.ppf(q)), 1e-12)
    # d logcdf / dx = pdf / cdf, also in the far tail
    g = fg.grad(lambda v: fnp.sum(st.norm.logcdf(v)))(x)
    close(g, np.exp(ss.norm.logpdf(x) - ss.norm.logcdf(x)), 1e-12)


def _spd(d, rng):
    a = rng.standard_normal((d, d))
    return a @ a.T + d * np.eye(d)


HAVE_CHOLESKY = hasattr(fnp.linalg, "cholesky")
try:
    import funcgrad.scipy.linalg as _sla
    HAVE_SOLVE = hasattr(_sla, "solve_triangular")
except ImportError:
    HAVE_SOLVE = False
needs_linalg = pytest.mark.skipif(not (HAVE_CHOLESKY and HAVE_SOLVE),
                                  reason="funcgrad.numpy.linalg.cholesky / funcgrad.scipy.linalg.solve_triangular missing")


@needs_linalg
@pytest.mark.parametrize("xshape", [(3,), (5, 3), (2, 1, 3)])
def test_multivariate_normal(xshape):
    cov = _spd(3, RNG)
    mean = RNG.standard_normal(3)
    x = RNG.standard_normal(xshape)
    close(st.multivariate_normal.logpdf(x, mean, cov), ss.multivariate_normal.logpdf(x, mean, cov), 1e-13)
    close(st.multivariate_normal.pdf(x, mean, cov), ss.multivariate_normal.pdf(x, mean, cov), 1e-13)
    close(st.multivariate_normal.logpdf(x, cov=cov), ss.multivariate_normal.logpdf(x, cov=cov), 1e-13)


@needs_linalg
def test_multivariate_normal_1d_scalar_cov_and_grads():
    x = np.array([0.3, -1.0, 2.0])
    close(st.multivariate_normal.logpdf(x, 0.5, 2.0), ss.multivariate_normal.logpdf(x, 0.5, 2.0), 1e-14)
    close(st.multivariate_normal.logpdf(x, np.zeros(3), 2.0), ss.multivariate_normal.logpdf(x, np.zeros(3), 2.0),
          1e-14)
    cov = _spd(3, RNG)
    mean = RNG.standard_normal(3)
    X = RNG.standard_normal((4, 3))
    check_grads(lambda v, m, c: fnp.sum(st.multivariate_normal.logpdf(v, m, c)), (X, mean, cov), argnums=(0, 1, 2),
                ref=lambda v, m, c: np.sum(ss.multivariate_normal.logpdf(v, m, c)), rtol=1e-7, value_rtol=1e-12)
    # analytic: d/dx logpdf = -cov^-1 (x - mean)
    g = fg.grad(lambda v: st.multivariate_normal.logpdf(v, mean, cov))(X[0])
    close(g, -np.linalg.solve(cov, X[0] - mean), 1e-12)
    x32 = X.astype(np.float32)
    got = st.multivariate_normal.logpdf(x32, mean.astype(np.float32), cov.astype(np.float32))
    assert got.dtype == np.float32
    close(got, ss.multivariate_normal.logpdf(X, mean, cov), 1e-5)
    with pytest.raises(Exception):
        st.multivariate_normal.logpdf(X, mean, cov, allow_singular=True)


@pytest.mark.parametrize("xs,ls,ss_", SHAPES)
def test_t_gamma_beta(xs, ls, ss_):
    x = RNG.normal(1, 3, xs)
    loc = RNG.normal(0, 0.3, ls)
    scale = RNG.uniform(0.5, 2, ss_)
    df = RNG.uniform(0.5, 30, ls)
    for name in ("logpdf", "pdf"):
        close(getattr(st.t, name)(x, df, loc, scale), getattr(ss.t, name)(x, df, loc, scale), 1e-12)
    a = RNG.uniform(0.3, 6, ls)
    close(st.gamma.logpdf(x, a, loc, scale), ss.gamma.logpdf(x, a, loc, scale), 1e-12)
    close(st.gamma.pdf(x, a, loc, scale), ss.gamma.pdf(x, a, loc, scale), 1e-12)
    b = RNG.uniform(0.3, 6, ss_)
    xb = RNG.uniform(-0.2, 1.2, xs)
    close(st.beta.logpdf(xb, a, b), ss.beta.logpdf(xb, a, b), 1e-12)
    close(st.beta.pdf(xb, a, b, loc, scale), ss.beta.pdf(xb, a, b, loc, scale), 1e-12)


def test_support_edges():
    x = np.array([-1.0, 0.0, 0.5, 1.0, 2.0])
    for a in (0.5, 1.0, 2.0):
        close(st.gamma.logpdf(x, a), ss.gamma.logpdf(x, a), 1e-15)
        np.testing.assert_array_equal(st.gamma.pdf(x, a) == 0, ss.gamma.pdf(x, a) == 0)
        for b in (0.5, 1.0, 3.0):
            close(st.beta.logpdf(x, a, b), ss.beta.logpdf(x, a, b), 1e-14)
            close(st.beta.pdf(x, a, b), ss.beta.pdf(x, a, b), 1e-14)
    assert np.isnan(st.gamma.logpdf(1.0, -1.0)) and np.isnan(st.t.logpdf(1.0, 2.0, 0.0, -1.0))


def test_discrete():
    k = np.array([-1.0, 0.0, 1.0, 2.0, 0.5, 7.0, 30.0])
    p = np.array([[0.0], [0.3], [1.0]])
    for name in ("logpmf", "pmf", "cdf"):
        close(getattr(st.bernoulli, name)(k, p), getattr(ss.bernoulli, name)(k, p), 1e-15)
        close(getattr(st.bernoulli, name)(k, 0.3, 1), getattr(ss.bernoulli, name)(k, 0.3, 1), 1e-15)
    mu = np.array([[0.5], [3.0], [40.0]])
    close(st.poisson.logpmf(k, mu), ss.poisson.logpmf(k, mu), 1e-13)
    close(st.poisson.pmf(k, mu), ss.poisson.pmf(k, mu), 1e-13)
    close(st.poisson.logpmf(k, 2.5, 1), ss.poisson.logpmf(k, 2.5, 1), 1e-13)
    ki = np.arange(5)
    assert st.poisson.logpmf(ki, 2.0).dtype == np.float64
    assert st.poisson.logpmf(ki.astype(np.float32), np.float32(2.0)).dtype == np.float32
    assert st.bernoulli.pmf(np.float32([0, 1]), np.float32(0.25)).dtype == np.float32
    # mu = 0: pmf(0) = 1, with a finite gradient in mu... (d/dmu log pmf(0) = -1)
    assert st.poisson.logpmf(0.0, 0.0) == 0.0
    assert fg.grad(lambda m: st.poisson.logpmf(0.0, m))(0.0) == -1.0
    assert fg.grad(lambda q: st.bernoulli.logpmf(1.0, q))(0.25) == pytest.approx(4.0, rel=1e-15)


def test_float32_everywhere():
    x = np.float32([0.2, 0.5, 0.7])
    outs = {
        "t.logpdf": (st.t.logpdf(x, 3.0), ss.t.logpdf(x, 3.0)),
        "t.pdf": (st.t.pdf(x, np.float32(3.0), 0.1, 2.0), ss.t.pdf(x, 3.0, 0.1, 2.0)),
        "gamma.logpdf": (st.gamma.logpdf(x, 2.5), ss.gamma.logpdf(x, 2.5)),
        "gamma.pdf": (st.gamma.pdf(x, 2.5, 0.0, 0.5), ss.gamma.pdf(x, 2.5, 0.0, 0.5)),
        "beta.logpdf": (st.beta.logpdf(x, 2.0, 3.0), ss.beta.logpdf(x, 2.0, 3.0)),
        "beta.pdf": (st.beta.pdf(x, 2.0, 3.0), ss.beta.pdf(x, 2.0, 3.0)),
        "bernoulli.cdf": (st.bernoulli.cdf(x, 0.3), ss.bernoulli.cdf(x, 0.3)),
        "poisson.pmf": (st.poisson.pmf(x, np.float32(2.0)), ss.poisson.pmf(x, 2.0)),
    }
    for name, (got, ref) in outs.items():
        assert got.dtype == np.float32, name
        close(got, ref.astype(np.float32), 2e-6)
    g = fg.grad(lambda v: fnp.sum(st.beta.logpdf(v, 2.0, 3.0) + st.norm.logcdf(v)))(x)
    assert g.dtype == np.float32


def test_continuous_grads():
    x = np.array([0.3, 1.2, 3.5])
    check_grads(lambda v, d, s: st.t.logpdf(v, d, 0.1, s), (x, np.array(3.5), np.array(1.3)), argnums=(0, 1, 2),
                ref=lambda v, d, s: ss.t.logpdf(v, d, 0.1, s), rtol=1e-8, value_rtol=1e-13)
    check_grads(lambda v, a, s: st.gamma.logpdf(v, a, 0.0, s), (x, np.array(2.5), np.array(0.7)), argnums=(0, 1, 2),
                ref=lambda v, a, s: ss.gamma.logpdf(v, a, 0.0, s), rtol=1e-8, value_rtol=1e-13)
    xb = np.array([0.1, 0.5, 0.8])
    check_grads(lambda v, a, b: st.beta.logpdf(v, a, b), (xb, np.array(2.5), np.array(0.7)), argnums=(0, 1, 2),
                ref=lambda v, a, b: ss.beta.logpdf(v, a, b), rtol=1e-8, value_rtol=1e-13)
    k = np.array([0.0, 2.0, 5.0])
    check_grads(lambda m: st.poisson.logpmf(k, m), (np.array(2.5),), ref=lambda m: ss.poisson.logpmf(k, m),
                rtol=1e-8, value_rtol=1e-13)
    # d/dx gamma.logpdf = (a - 1)/x - 1/scale (scale 1)
    g = fg.grad(lambda v: fnp.sum(st.gamma.logpdf(v, 2.5)))(x)
    close(g, 1.5 / x - 1, 1e-14)


def test_vmap_and_jvp():
    X = RNG.normal(0, 2, (4, 3))
    f = lambda row: st.norm.logcdf(row) + st.t.logpdf(row, 4.0) + st.gamma.logpdf(fnp.abs(row), 2.0)  # noqa: E731
    ref = [ss.norm.logcdf(r) + ss.t.logpdf(r, 4.0) + ss.gamma.logpdf(np.abs(r), 2.0) for r in X]
    close(fg.vmap(f)(X), np.stack(ref), 1e-13)
    if HAVE_CHOLESKY and HAVE_SOLVE:
        covs = np.stack([_spd(3, RNG) for _ in range(4)])
        got = fg.vmap(lambda x, c: st.multivariate_normal.logpdf(x, np.zeros(3), c))(X, covs)
        close(got, [ss.multivariate_normal.logpdf(x, np.zeros(3), c) for x, c in zip(X, covs)], 1e-13)
    x = np.array([-5.0, 0.2, 1.5])
    t = np.array([1.0, 0.5, -2.0])
    out, tan = fg.jvp(lambda v: st.norm.logsf(v) + st.norm.pdf(v), (x,), (t,))
    close(out, ss.norm.logsf(x) + ss.norm.pdf(x), 1e-14)
    close(tan, (-ss.norm.pdf(x) / ss.norm.sf(x) - x * ss.norm.pdf(x)) * t, 1e-13)


def _dists(x, p):
    out = (st.norm.logpdf(x, 0.3, 1.7) + st.norm.logcdf(x) + st.t.logpdf(x, 3.0),
           st.gamma.logpdf(p * 4, 2.5) + st.beta.logpdf(p, 2.0, 3.0) + st.poisson.logpmf(x * x, p + 1)
           + st.bernoulli.logpmf(0.0, p))
    if x.dtype == np.float32:
        # the distribution functions, through betainc's and gammaincc's fori_loops compiled in
        # float32 (gammainc in float64: test_scipy_special.py's program; each loop adds seconds
        # of Numba compile, so they are not repeated in float64 here)
        out = out + (st.beta.cdf(p, 2.5, x * x + 0.5) + st.poisson.cdf(x * x, p * 10),)
    return out


@pytest.mark.parametrize("dtype,rtol", [(np.float64, 1e-13), (np.float32, 2e-6)])
def test_numba_matches_interpreter(dtype, rtol):
    # one compiled program per dtype (float32 also exercises erfc, erfcx, gammaln and the
    # fori_loops of betainc / gammaincc compiled in float32)
    x = np.array([-40.0, -2.0, 0.0, 1.0, 3.0], dtype)
    p = np.array([0.0, 0.1, 0.5, 0.9, 1.0], dtype)
    outs_n = fg.jit(_dists, backend="numba")(x, p)
    outs_i = fg.jit(_dists, backend="interpret")(x, p)
    for a, b in zip(outs_n, outs_i):
        assert a.dtype == dtype
        np.testing.assert_allclose(a, b, rtol=rtol)


# ----------------------------------------------------------------------------- distribution functions
# (gamma, beta, t, poisson: funcgrad.scipy.special.gammainc / betainc underneath)

CDF_RNG = np.random.default_rng(11)
CDF_METHODS = ("cdf", "sf", "logcdf", "logsf")


@pytest.mark.parametrize("xs,ls,ss_", SHAPES)
def test_cdfs_values(xs, ls, ss_):
    x = CDF_RNG.normal(1, 3, xs)
    loc = CDF_RNG.normal(0, 0.3, ls)
    scale = CDF_RNG.uniform(0.5, 2, ss_)
    a = CDF_RNG.uniform(0.3, 20, ls)
    df = CDF_RNG.uniform(0.5, 30, ls)
    b = CDF_RNG.uniform(0.3, 20, ss_)
    xb = CDF_RNG.uniform(-0.2, 1.2, xs)
    for m in CDF_METHODS:
        close(getattr(st.gamma, m)(x, a, loc, scale), getattr(ss.gamma, m)(x, a, loc, scale), 1e-12, 1e-300)
        close(getattr(st.t, m)(x, df, loc, scale), getattr(ss.t, m)(x, df, loc, scale), 1e-12, 1e-300)
        close(getattr(st.beta, m)(xb, a, b), getattr(ss.beta, m)(xb, a, b), 1e-12, 1e-300)
        close(getattr(st.beta, m)(x, a, b, loc, scale + 3), getattr(ss.beta, m)(x, a, b, loc, scale + 3), 1e-12, 1e-300)
    k = np.floor(CDF_RNG.uniform(-2, 30, xs)) + (CDF_RNG.uniform(0, 1, xs) < 0.3) * 0.5   # some non-integer k
    mu = CDF_RNG.uniform(0, 25, ls)
    for m in ("cdf", "sf"):
        close(getattr(st.poisson, m)(k, mu), getattr(ss.poisson, m)(k, mu), 1e-12, 1e-300)
    # SciPy's poisson.logcdf is log(cdf), which rounds near cdf = 1: log1p(-sf) there
    c = ss.poisson.cdf(k, mu)
    close(st.poisson.logcdf(k, mu), np.where(c > 0.5, np.log1p(-ss.poisson.sf(k, mu)), np.log(c)), 1e-12)


def test_cdfs_edges_and_tails():
    inf = np.inf
    x = np.array([-inf, -1.0, 0.0, 0.5, 1.0, 2.0, inf])
    for a in (0.5, 1.0, 3.0):
        for m in CDF_METHODS:
            np.testing.assert_array_equal(getattr(st.gamma, m)(x[[0, 1, 2, 6]], a), getattr(ss.gamma, m)(x[[0, 1, 2, 6]], a))
            for b in (0.5, 1.0, 4.0):
                close(getattr(st.beta, m)(x, a, b), getattr(ss.beta, m)(x, a, b), 1e-14)
    for df in (0.7, 3.0, inf):
        for m in CDF_METHODS:
            close(getattr(st.t, m)(x, df), getattr(ss.t, m)(x, df), 1e-14)
    # invalid parameters: nan
    for got in (st.gamma.cdf(1.0, -1.0), st.gamma.sf(1.0, 2.0, 0.0, -1.0), st.beta.cdf(0.5, 0.0, 1.0),
                st.beta.logsf(0.5, 1.0, -2.0), st.t.cdf(1.0, 0.0), st.t.logcdf(1.0, 2.0, 0.0, -1.0),
                st.poisson.cdf(1.0, -1.0), st.poisson.logcdf(np.nan, 1.0)):
        assert np.isnan(got)
    # poisson: k < 0, non-integer k, mu = 0, loc
    k = np.array([-1.0, -0.5, 0.0, 0.5, 1.0, 2.7, 7.0, 30.0])
    for mu in (0.0, 0.5, 3.0, 40.0):
        close(st.poisson.cdf(k, mu), ss.poisson.cdf(k, mu), 1e-13)
        close(st.poisson.sf(k, mu), ss.poisson.sf(k, mu), 1e-13, 1e-300)
        close(st.poisson.cdf(k, mu, 2), ss.poisson.cdf(k, mu, 2), 1e-13)
    # the logs keep their digits where the probability is near 1 (SciPy's poisson.logcdf rounds to 0):
    # log(1 - q) with q = sf accurate
    k = np.array([10.0, 30.0, 60.0])
    close(st.poisson.logcdf(k, 2.0), np.log1p(-ss.poisson.sf(k, 2.0)), 1e-13)
    close(st.gamma.logcdf(np.array([40.0, 60.0]), 2.0), np.log1p(-ss.gamma.sf(np.array([40.0, 60.0]), 2.0)), 1e-13)
    close(st.t.logsf(np.array([-30.0, -1e3]), 3.0), np.log1p(-ss.t.cdf(np.array([-30.0, -1e3]), 3.0)), 1e-13)
    # tails: relative accuracy of the small side
    z = np.array([-1e4, -300.0, -30.0, -3.0])
    for df in (1.0, 4.5, 50.0):
        close(st.t.cdf(z, df), ss.t.cdf(z, df), 1e-12)
        close(st.t.logcdf(z, df), ss.t.logcdf(z, df), 1e-13)
    # near the center (no cancellation in 1 - df / (df + t^2))
    close(st.t.cdf(np.array([1e-9, -1e-12, 1e-3]), 5.0) - 0.5, ss.t.cdf(np.array([1e-9, -1e-12, 1e-3]), 5.0) - 0.5,
          1e-12)
    xg = np.array([50.0, 150.0, 400.0])
    close(st.gamma.sf(xg, 3.0), ss.gamma.sf(xg, 3.0), 1e-13)
    close(st.gamma.logsf(xg, 3.0), ss.gamma.logsf(xg, 3.0), 1e-13)
    close(st.beta.sf(np.array([0.999, 0.99999]), 2.0, 30.0), ss.beta.sf(np.array([0.999, 0.99999]), 2.0, 30.0), 1e-12)


def test_cdfs_float32():
    x = np.float32([0.2, 0.5, 0.7, 3.0])
    for m in CDF_METHODS:
        outs = {
            "gamma": (getattr(st.gamma, m)(x, 2.5), getattr(ss.gamma, m)(x, 2.5)),
            "beta": (getattr(st.beta, m)(x, np.float32(2.0), 3.0, 0.0, 4.0), getattr(ss.beta, m)(x, 2.0, 3.0, 0.0, 4.0)),
            "t": (getattr(st.t, m)(x - 1, 3.0), getattr(ss.t, m)(x - 1, 3.0)),
            "poisson": (getattr(st.poisson, m)(x * 3, np.float32(2.0)), getattr(ss.poisson, m)(x * 3, 2.0)),
        }
        for name, (got, ref) in outs.items():
            assert got.dtype == np.float32, (name, m)
            close(got, ref.astype(np.float32), 1e-5)
    g = fg.grad(lambda v: fnp.sum(st.gamma.cdf(v, 2.5) + st.t.logcdf(v, 3.0) + st.beta.sf(v, 2.0, 3.0, 0, 4)))(x)
    assert g.dtype == np.float32


def test_cdfs_grads():
    x = np.array([0.3, 1.2, 3.5])
    check_grads(lambda v, a, s: st.gamma.cdf(v, a, 0.1, s), (x, np.array(2.5), np.array(0.7)), argnums=(0, 1, 2),
                ref=lambda v, a, s: ss.gamma.cdf(v, a, 0.1, s), rtol=1e-7, value_rtol=1e-13)
    check_grads(lambda v, a: st.gamma.logsf(v, a), (x, np.array(1.7)), argnums=(0, 1),
                ref=lambda v, a: ss.gamma.logsf(v, a), rtol=1e-7, value_rtol=1e-13)
    xb = np.array([0.1, 0.5, 0.8])
    check_grads(lambda v, a, b: st.beta.cdf(v, a, b), (xb, np.array(2.5), np.array(0.7)), argnums=(0, 1, 2),
                ref=lambda v, a, b: ss.beta.cdf(v, a, b), rtol=1e-7, value_rtol=1e-13)
    xt = np.array([-4.0, -0.3, 0.2, 2.5])
    check_grads(lambda v, d: st.t.cdf(v, d, 0.1, 1.3), (xt, np.array(3.5)), argnums=(0, 1),
                ref=lambda v, d: ss.t.cdf(v, d, 0.1, 1.3), rtol=1e-7, value_rtol=1e-13)
    k = np.array([0.0, 2.0, 5.0])
    check_grads(lambda m: st.poisson.cdf(k, m), (np.array(2.5),), ref=lambda m: ss.poisson.cdf(k, m),
                rtol=1e-7, value_rtol=1e-13)
    # d/dx cdf = pdf; d/dmu poisson.cdf(k) = -pmf(k)
    close(fg.grad(lambda v: fnp.sum(st.t.cdf(v, 3.0)))(xt), ss.t.pdf(xt, 3.0), 1e-13)
    close(fg.grad(lambda v: fnp.sum(st.beta.logcdf(v, 2.0, 3.0)))(xb), ss.beta.pdf(xb, 2.0, 3.0) / ss.beta.cdf(xb, 2.0, 3.0),
          1e-13)
    close(fg.grad(lambda m: fnp.sum(st.poisson.cdf(k, m)))(2.5), -np.sum(ss.poisson.pmf(k, 2.5)), 1e-13)
    # outside the support: finite (zero) gradients
    g = fg.grad(lambda v: fnp.sum(st.gamma.logsf(v, 2.0) + st.beta.logcdf(v, 2.0, 3.0) + st.beta.logsf(v + 2.5, 2, 3)
                                  + st.poisson.logcdf(v, 3.0)))(np.array([-1.0, -0.5]))
    np.testing.assert_array_equal(g, [0.0, 0.0])


def test_cdfs_vmap_and_jvp():
    X = CDF_RNG.uniform(0.1, 4, (4, 3))
    f = lambda row: st.gamma.cdf(row, 2.0) + st.t.sf(row, 4.0) + st.beta.logcdf(row / 5, 2.0, 3.0)  # noqa: E731
    ref = [ss.gamma.cdf(r, 2.0) + ss.t.sf(r, 4.0) + ss.beta.logcdf(r / 5, 2.0, 3.0) for r in X]
    close(fg.vmap(f)(X), np.stack(ref), 1e-13)
    x = np.array([-5.0, 0.2, 1.5])
    t_ = np.array([1.0, 0.5, -2.0])
    out, tan = fg.jvp(lambda v: st.t.logcdf(v, 2.5), (x,), (t_,))
    close(out, ss.t.logcdf(x, 2.5), 1e-13)
    close(tan, ss.t.pdf(x, 2.5) / ss.t.cdf(x, 2.5) * t_, 1e-12)
