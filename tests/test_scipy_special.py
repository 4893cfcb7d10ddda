"""funcgrad.scipy.special against scipy.special (an independent implementation):
values in float64 and float32 on several shapes, gradients against finite
differences and against the known derivatives, edge values, vmap/jvp/jit, and one
Numba program compared with the interpreter."""
import warnings

import numpy as np
import pytest
import scipy.special as S

import funcgrad as fg
import funcgrad.numpy as fnp
import funcgrad.scipy.special as fs
from funcgrad.errors import UnsupportedError
from fd import check_grads

warnings.filterwarnings("ignore", category=RuntimeWarning)
# branches not taken are evaluated too (on safe inputs, but eager NumPy still warns about inf)
pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")
RNG = np.random.default_rng(1234)


def rel_err(got, ref, atol=0.0):
    """Max ``|got - ref| / (|ref| + atol)``, equal values (infinities, nans) counting as exact."""
    got = np.asarray(got, np.float64)
    ref = np.asarray(ref, np.float64)
    assert got.shape == ref.shape, (got.shape, ref.shape)
    same = (got == ref) | (np.isnan(got) & np.isnan(ref))
    with np.errstate(invalid="ignore", divide="ignore"):
        d = np.where(same, 0.0, np.abs(got - ref) / (np.abs(ref) + atol))
    return float(np.max(d)) if d.size else 0.0


def _erfc_ref(x):
    """SciPy's erfc loses ~x^2 eps for large x (it rounds x^2 before exp): use its
    erfcx (the Faddeeva package) times exp(-x^2) in long double there."""
    x = np.asarray(x, np.float64)
    with np.errstate(over="ignore", under="ignore"):
        far = (S.erfcx(x).astype(np.longdouble) * np.exp(-(x.astype(np.longdouble) ** 2))).astype(np.float64)
    return np.where(x > 1, far, S.erfc(x))


def _erfcx_ref(x):
    """SciPy's erfcx(x < 0) = 2 exp(x^2) - erfcx(-x) rounds x^2 first: long double there."""
    x = np.asarray(x, np.float64)
    with np.errstate(over="ignore"):
        near = (2 * np.exp(x.astype(np.longdouble) ** 2) - S.erfcx(-x)).astype(np.float64)
    return np.where(x < -1, near, S.erfcx(x))


REFS = {"erfc": _erfc_ref, "erfcx": _erfcx_ref}

# (name, sample points, float64 rtol, float32 rtol, absolute floor)
UNARY = [
    ("erf", np.concatenate([RNG.uniform(-7, 7, 400), np.linspace(-1.1, 1.1, 41)]), 4e-16, 3e-7, 0),
    ("erfc", np.concatenate([RNG.uniform(-6, 26, 400), [0.0, 1.0, 8.0, 50.0, -1.0]]), 1.5e-15, 1e-6, 0),
    ("erfcx", np.concatenate([RNG.uniform(-9, 100, 400), 10.0 ** RNG.uniform(0, 300, 50)]), 1.5e-15, 1e-6, 0),
    ("erfinv", np.concatenate([RNG.uniform(-1, 1, 400), 1 - 10.0 ** RNG.uniform(-15.9, 0, 100),
                               -1 + 10.0 ** RNG.uniform(-15.9, 0, 40)]), 1.5e-15, 1e-6, 0),
    ("gammaln", np.concatenate([RNG.uniform(0.5, 30, 300), 10.0 ** RNG.uniform(-300, 300, 100),
                                [1.0, 2.0]]), 5e-15, 1e-5, 1e-3),
    ("digamma", np.concatenate([RNG.uniform(0.01, 30, 300), 10.0 ** RNG.uniform(-300, 300, 100)]), 5e-15, 2e-6, 0.5),
    ("i0e", np.concatenate([RNG.uniform(-30, 30, 400), 10.0 ** RNG.uniform(-10, 300, 50)]), 1e-15, 1e-6, 0),
    ("i1e", np.concatenate([RNG.uniform(-30, 30, 400), 10.0 ** RNG.uniform(-10, 300, 50)]), 1e-15, 3e-6, 0),
    ("logit", np.concatenate([RNG.uniform(0, 1, 400), [0.0, 1.0, 0.5, 1e-300]]), 1e-15, 1e-6, 0),
    ("expit", RNG.uniform(-700, 700, 400), 1e-15, 1e-6, 0),
    ("entr", np.concatenate([RNG.uniform(0, 5, 400), [0.0, -1.0, np.inf]]), 1e-15, 1e-6, 0),
]


@pytest.mark.parametrize("name,x,rtol64,rtol32,atol", UNARY, ids=[u[0] for u in UNARY])
def test_unary_values(name, x, rtol64, rtol32, atol):
    f, ref = getattr(fs, name), REFS.get(name, getattr(S, name))
    got = f(x)
    assert got.dtype == np.float64
    assert rel_err(got, ref(x), atol) <= rtol64
    x32 = x.astype(np.float32)
    got32 = f(x32)
    assert got32.dtype == np.float32, name
    expected32 = ref(x32.astype(np.float64)).astype(np.float32)   # overflow/underflow as float32
    assert rel_err(got32, expected32, max(atol, 1e-30)) <= rtol32


@pytest.mark.parametrize("name", [u[0] for u in UNARY] + ["digamma_neg", "gammaln_neg"])
@pytest.mark.parametrize("shape", [(), (1,), (3, 1), (1, 2, 1)])
def test_shapes_and_ints(name, shape):
    lo, hi = (0.05, 0.95) if name == "logit" else (0.1, 3.0)
    x = RNG.uniform(lo, hi, shape)
    if name.endswith("_neg"):
        name = name[:-4]
        x = -x - 0.05
    got = getattr(fs, name)(x)
    assert np.shape(got) == shape
    np.testing.assert_allclose(got, getattr(S, name)(x), rtol=1e-12, atol=1e-14)
    # integer inputs promote to float64 (the ones that have integers in the domain)
    if name not in ("logit", "erfinv"):
        xi = np.arange(1, 4)
        got_i = getattr(fs, name)(xi)
        assert got_i.dtype == np.float64
        np.testing.assert_allclose(got_i, getattr(S, name)(xi.astype(np.float64)), rtol=1e-14)


def test_gammaln_relative_accuracy_at_its_zeros():
    # lgamma(1 + z) = -gamma z + zeta(2)/2 z^2 + O(z^3), lgamma(2 + z) = (1 - gamma) z + (zeta(2) - 1)/2 z^2 + ...
    # (SciPy's gammaln is only absolutely accurate there)
    z = np.array([1e-12, -3e-11, 2e-9, -1e-8])
    g1 = fs.gammaln(1 + z)
    z1 = (1 + z) - 1
    np.testing.assert_allclose(g1, -np.euler_gamma * z1 + np.pi ** 2 / 12 * z1 ** 2, rtol=1e-14)
    z2 = (2 + z) - 2
    np.testing.assert_allclose(fs.gammaln(2 + z), (1 - np.euler_gamma) * z2 + (np.pi ** 2 / 6 - 1) / 2 * z2 ** 2,
                               rtol=1e-14)


def test_gammaln_digamma_negative():
    x = RNG.uniform(-30, 0, 500)
    x = x[np.abs(x - np.round(x)) > 1e-3]
    # near their zeros on the negative axis the error is absolute (cancellation in the reflection)
    assert rel_err(fs.gammaln(x), S.gammaln(x), atol=1e-3) <= 1e-13
    assert rel_err(fs.digamma(x), S.digamma(x), atol=1e-3) <= 1e-13
    x32 = x.astype(np.float32)
    assert fs.gammaln(x32).dtype == np.float32 and fs.digamma(x32).dtype == np.float32
    assert rel_err(fs.gammaln(x32), S.gammaln(x32.astype(np.float64)), atol=1e-2) <= 5e-5


@pytest.mark.parametrize("n", [0, 1, 2, 3, 6])
def test_polygamma(n):
    x = np.concatenate([RNG.uniform(0.01, 30, 300), 10.0 ** RNG.uniform(-5, 5, 60)])
    # digamma: absolute error (about 1e-15) near its zero 1.4616...
    assert rel_err(fs.polygamma(n, x), S.polygamma(n, x), 0.5 if n == 0 else 1e-15) <= 3e-15
    x32 = x.astype(np.float32)
    got = fs.polygamma(n, x32)
    assert got.dtype == np.float32
    assert rel_err(got, S.polygamma(n, x32.astype(np.float64)).astype(np.float32), 1e-30) <= 3e-6
    # SciPy's array orders (concrete), broadcast
    orders = np.array([[0], [1], [3]])
    np.testing.assert_allclose(fs.polygamma(orders, x[:5]), S.polygamma(orders, x[:5]), rtol=1e-14)
    # documented domain: nan for x <= 0
    assert np.isnan(fs.polygamma(2, np.array(-0.5)))


def test_polygamma_traced_order_raises():
    with pytest.raises(UnsupportedError):
        fg.jit(lambda n, x: fs.polygamma(n, x))(np.int64(1), np.array(2.0))


def test_binary_values_broadcast():
    a = RNG.uniform(0.1, 30, (4, 1))
    b = RNG.uniform(0.1, 30, (1, 5))
    np.testing.assert_allclose(fs.betaln(a, b), S.betaln(a, b), rtol=1e-13)
    assert fs.betaln(a.astype(np.float32), np.float32(2.0)).dtype == np.float32
    x = np.array([[0.0], [1.5], [-2.0], [3.0]])
    y = np.array([0.0, 0.5, 2.0, np.inf, -1.0, np.nan])
    np.testing.assert_array_equal(np.isnan(fs.xlogy(x, y)), np.isnan(S.xlogy(x, y)))
    np.testing.assert_allclose(fs.xlogy(x, y), S.xlogy(x, y), rtol=1e-15)
    y1 = np.array([-1.0, -0.5, 0.0, 2.0, np.inf, -2.0])
    np.testing.assert_allclose(fs.xlog1py(x, y1), S.xlog1py(x, y1), rtol=1e-15)
    for f in (fs.xlogy, fs.xlog1py):
        assert f(np.float32([1.0, 0.0]), np.float32(2.0)).dtype == np.float32
        assert f(np.float32([1.0, 0.0]), 2.0).dtype == np.float32
        assert f(np.array([1, 0]), np.array([2, 3])).dtype == np.float64


def test_edge_values():
    inf, nan = np.inf, np.nan
    np.testing.assert_array_equal(fs.erf(np.array([inf, -inf, 0.0, 30.0])), [1.0, -1.0, 0.0, 1.0])
    np.testing.assert_array_equal(fs.erfc(np.array([inf, -inf, 30.0])), [0.0, 2.0, 0.0])
    np.testing.assert_array_equal(fs.erfcx(np.array([inf, -inf])), [0.0, inf])
    assert np.isnan(fs.erf(np.array(nan))) and np.isnan(fs.erfcx(np.array(nan)))
    np.testing.assert_array_equal(fs.erfinv(np.array([1.0, -1.0, 0.0])), [inf, -inf, 0.0])
    assert np.all(np.isnan(fs.erfinv(np.array([1.5, -1.0001, nan]))))
    np.testing.assert_array_equal(fs.erfinv(np.float32([1.0, -1.0])), np.float32([inf, -inf]))
    # gammaln: poles, infinities, large x
    np.testing.assert_array_equal(fs.gammaln(np.array([0.0, -1.0, -7.0, -1e20, inf])), [inf] * 5)
    assert fs.gammaln(np.array(-inf)) == S.gammaln(-inf)
    big = np.array([1e10, 1e100, 1e300])
    np.testing.assert_allclose(fs.gammaln(big), S.gammaln(big), rtol=1e-15)
    assert fs.gammaln(np.array(1e306)) == inf
    np.testing.assert_array_equal(fs.gammaln(np.array([1.0, 2.0])), [0.0, 0.0])
    np.testing.assert_array_equal(fs.digamma(np.array([0.0, inf])), S.digamma(np.array([0.0, inf])))
    assert np.all(np.isnan(fs.digamma(np.array([-1.0, -5.0, -inf]))))
    # xlogy(0, 0) = 0 with finite gradients
    assert fs.xlogy(0.0, 0.0) == 0.0
    gx, gy = fg.grad(lambda x, y: fs.xlogy(x, y), argnums=(0, 1))(0.0, 0.0)
    assert np.isfinite(gx) and gy == 0.0
    gx, gy = fg.grad(lambda x, y: fs.xlog1py(x, y), argnums=(0, 1))(0.0, -1.0)
    assert np.isfinite(gx) and gy == 0.0
    np.testing.assert_array_equal(fs.entr(np.array([0.0, -1.0, inf])), [0.0, -inf, -inf])
    np.testing.assert_array_equal(fs.logit(np.array([0.0, 1.0])), [-inf, inf])
    assert np.all(np.isnan(fs.logit(np.array([-0.1, 1.1]))))
    np.testing.assert_array_equal(fs.i0e(np.array([0.0, inf, -inf])), [1.0, 0.0, 0.0])
    np.testing.assert_array_equal(fs.i1e(np.array([0.0, inf, -inf])), [0.0, 0.0, -0.0])
    # logsumexp of all -inf; softmax with -inf entries
    assert fs.logsumexp(np.array([-inf, -inf])) == -inf
    np.testing.assert_array_equal(fs.logsumexp(np.full((2, 3), -inf), axis=1), [-inf, -inf])
    x = np.array([[-inf, 0.0, 1.0], [2.0, -inf, -inf]])
    np.testing.assert_allclose(fs.softmax(x, axis=1), S.softmax(x, axis=1), rtol=1e-15)
    np.testing.assert_allclose(fs.softmax(x), S.softmax(x), rtol=1e-15)
    np.testing.assert_array_equal(fs.log_softmax(x, axis=1), S.log_softmax(x, axis=1))
    g = fg.grad(lambda v: fnp.sum(fs.softmax(v, axis=1)[:, 1]))(x)
    assert np.all(np.isfinite(g))
    assert fs.logsumexp(np.array([inf, 1.0])) == inf


@pytest.mark.parametrize("shape,axis", [((), None), ((5,), None), ((5,), 0), ((3, 4), 1), ((3, 4), (0, 1)),
                                        ((2, 1, 3), -1), ((2, 1, 3), 1), ((2, 3, 4), (0, 2))])
@pytest.mark.parametrize("keepdims", [False, True])
def test_logsumexp_softmax(shape, axis, keepdims):
    a = RNG.standard_normal(shape) * 30
    np.testing.assert_allclose(fs.logsumexp(a, axis=axis, keepdims=keepdims),
                               S.logsumexp(a, axis=axis, keepdims=keepdims), rtol=1e-14)
    b = RNG.uniform(-1, 2, shape)
    v, s = fs.logsumexp(a, axis=axis, b=b, keepdims=keepdims, return_sign=True)
    rv, rs = S.logsumexp(a, axis=axis, b=b, keepdims=keepdims, return_sign=True)
    np.testing.assert_allclose(v, rv, rtol=1e-12)
    np.testing.assert_array_equal(s, rs)
    bp = np.abs(b)
    np.testing.assert_allclose(fs.logsumexp(a, axis=axis, b=bp, keepdims=keepdims),
                               S.logsumexp(a, axis=axis, b=bp, keepdims=keepdims), rtol=1e-13)
    if not keepdims and shape != () and isinstance(axis, int):
        np.testing.assert_allclose(fs.softmax(a, axis=axis), S.softmax(a, axis=axis), rtol=1e-13, atol=1e-300)
        np.testing.assert_allclose(fs.log_softmax(a, axis=axis), S.log_softmax(a, axis=axis), rtol=1e-13)
    if not keepdims and axis is None:
        np.testing.assert_allclose(fs.softmax(a), S.softmax(a), rtol=1e-13, atol=1e-300)
        np.testing.assert_allclose(fs.log_softmax(a), S.log_softmax(a), rtol=1e-13)
    a32 = a.astype(np.float32)
    assert fs.logsumexp(a32, axis=axis).dtype == np.float32
    assert fs.softmax(a32).dtype == np.float32 and fs.log_softmax(a32).dtype == np.float32


def test_logsumexp_negative_sum_is_nan():
    assert np.isnan(fs.logsumexp(np.array([1.0, 2.0]), b=np.array([1.0, -1.0])))


# ----------------------------------------------------------------------------- gradients

def _elementwise_grad(f, x):
    return fg.grad(lambda v: fnp.sum(f(v)))(x)


DERIVATIVES = [
    ("erf", lambda x: 2 / np.sqrt(np.pi) * np.exp(-x * x), np.linspace(-5, 5, 41)),
    ("erfc", lambda x: -2 / np.sqrt(np.pi) * np.exp(-x * x), np.linspace(-5, 25, 41)),
    ("erfcx", lambda x: 2 * x * S.erfcx(x) - 2 / np.sqrt(np.pi), np.concatenate([np.linspace(-5, 60, 41), [1e3, 1e6]])),
    ("erfinv", lambda y: np.sqrt(np.pi) / 2 * np.exp(S.erfinv(y) ** 2),
     np.concatenate([np.linspace(-0.999, 0.999, 41), [1 - 1e-10, -1 + 1e-12]])),
    ("gammaln", S.digamma, np.concatenate([np.linspace(0.05, 30, 41), -np.linspace(0.1, 9.9, 15) - 0.013])),
    ("digamma", lambda x: S.polygamma(1, x), np.concatenate([np.linspace(0.05, 30, 41), [-0.5, -3.3]])),
    ("i0e", lambda x: S.i1e(x) - np.sign(x) * S.i0e(x), np.linspace(0.1, 30, 31)),
    ("i1e", lambda x: S.i0e(x) - S.i1e(x) * (np.sign(x) + 1 / x), np.linspace(-30, 30, 30)),
    ("logit", lambda p: 1 / (p * (1 - p)), np.linspace(0.01, 0.99, 31)),
    ("expit", lambda x: S.expit(x) * S.expit(-x), np.linspace(-30, 30, 31)),
    ("entr", lambda x: -np.log(x) - 1, np.linspace(0.01, 5, 31)),
]


@pytest.mark.parametrize("name,deriv,x", DERIVATIVES, ids=[d[0] for d in DERIVATIVES])
def test_derivative_formulas(name, deriv, x):
    g = _elementwise_grad(getattr(fs, name), x)
    # (the reference formulas cancel for some: compare with an absolute floor of 1e-15)
    np.testing.assert_allclose(g, deriv(x), rtol=1e-13 if name != "erfinv" else 1e-12, atol=1e-15)
    g32 = _elementwise_grad(getattr(fs, name), x.astype(np.float32)[np.abs(x) < 1e3])
    assert g32.dtype == np.float32


@pytest.mark.parametrize("n", [1, 2, 4])
def test_polygamma_derivative(n):
    x = np.concatenate([np.linspace(0.05, 40, 31)])
    np.testing.assert_allclose(_elementwise_grad(lambda v: fs.polygamma(n, v), x), S.polygamma(n + 1, x), rtol=1e-13)


@pytest.mark.parametrize("name,x", [
    ("erf", np.array([-2.0, -0.3, 0.0, 0.7, 1.5])), ("erfinv", np.array([-0.9, -0.2, 0.0, 0.4, 0.95])),
    ("erfcx", np.array([-1.5, 0.2, 3.0, 9.0])), ("gammaln", np.array([0.3, 1.0, 2.4, 7.0, -1.5])),
    ("digamma", np.array([0.4, 1.46, 3.0, 12.0])), ("i0e", np.array([-9.0, -1.0, 2.0, 8.5])),
    ("i1e", np.array([-9.0, -1.0, 0.3, 2.0, 8.5])), ("logit", np.array([0.1, 0.5, 0.8])),
])
def test_grads_vs_finite_differences(name, x):
    check_grads(getattr(fs, name), (x,), ref=getattr(S, name), rtol=1e-8, value_rtol=1e-13)


def test_grads_binary_and_reductions():
    a, b = np.array([0.7, 2.5, 11.0]), np.array([[1.3], [4.0]])
    check_grads(fs.betaln, (a, b), argnums=(0, 1), ref=S.betaln, rtol=1e-8, value_rtol=1e-13)
    check_grads(lambda n: fs.polygamma(2, n), (a,), ref=lambda v: S.polygamma(2, v), rtol=1e-8, value_rtol=1e-13)
    x, y = np.array([0.5, 2.0, 3.0]), np.array([[0.3], [2.5]])
    check_grads(fs.xlogy, (x, y), argnums=(0, 1), ref=S.xlogy, rtol=1e-8, value_rtol=1e-14)
    check_grads(fs.xlog1py, (x, y), argnums=(0, 1), ref=S.xlog1py, rtol=1e-8, value_rtol=1e-14)
    m = RNG.standard_normal((3, 4))
    w = RNG.uniform(0.5, 2, (3, 4))
    check_grads(lambda v: fs.logsumexp(v, axis=1), (m,), ref=lambda v: S.logsumexp(v, axis=1), rtol=1e-8)
    check_grads(lambda v, c: fs.logsumexp(v, b=c), (m, w), argnums=(0, 1),
                ref=lambda v, c: S.logsumexp(v, b=c), rtol=1e-8)
    check_grads(lambda v: fs.softmax(v, axis=0), (m,), ref=lambda v: S.softmax(v, axis=0), rtol=1e-8)
    check_grads(fs.log_softmax, (m,), ref=S.log_softmax, rtol=1e-8)


def test_second_derivative_gammaln():
    x = np.array([0.6, 2.0, 9.0])
    g2 = fg.grad(lambda v: fnp.sum(fg.grad(lambda u: fnp.sum(fs.gammaln(u)))(v)))(x)
    np.testing.assert_allclose(g2, S.polygamma(1, x), rtol=1e-12)


# ----------------------------------------------------------------------------- transformations

def test_vmap():
    x = RNG.uniform(0.2, 0.9, (4, 3))

    def f(row):
        return fs.erf(row) + fs.gammaln(row) * fs.erfinv(row) - fs.logsumexp(row) + fs.i1e(row) \
            + fs.polygamma(1, row) + fs.xlogy(row, row + 1)

    def ref(row):
        return S.erf(row) + S.gammaln(row) * S.erfinv(row) - S.logsumexp(row) + S.i1e(row) \
            + S.polygamma(1, row) + S.xlogy(row, row + 1)

    np.testing.assert_allclose(fg.vmap(f)(x), np.stack([ref(r) for r in x]), rtol=1e-13)
    np.testing.assert_allclose(fg.vmap(lambda r: fs.softmax(r))(x), S.softmax(x, axis=1), rtol=1e-14)


def test_jvp():
    x = np.array([0.3, 1.2, 2.5])
    t = np.array([1.0, -2.0, 0.5])
    out, tan = fg.jvp(lambda v: fs.gammaln(v) + fs.erfc(v) + fs.digamma(v), (x,), (t,))
    np.testing.assert_allclose(out, S.gammaln(x) + S.erfc(x) + S.digamma(x), rtol=1e-14)
    np.testing.assert_allclose(tan, (S.digamma(x) - 2 / np.sqrt(np.pi) * np.exp(-x * x) + S.polygamma(1, x)) * t,
                               rtol=1e-13)


def test_jit_interpreter_float32():
    x = np.float32([0.2, 0.5, 0.9])
    f = fg.jit(lambda v: (fs.erfinv(v), fs.digamma(v), fs.erf(v), fs.logit(v)))
    for got, ref in zip(f(x), (S.erfinv, S.digamma, S.erf, S.logit)):
        assert got.dtype == np.float32
        np.testing.assert_allclose(got, ref(x.astype(np.float64)), rtol=2e-6)


def _many(x, y):
    # erf family, gamma family, Bessel, logs and reductions (erfinv and polygamma, the
    # largest programs, are left to the interpreter tests: Numba compiles take seconds)
    a = fs.erf(x) + fs.erfc(x) * fs.expit(x)
    b = fs.gammaln(y) + fs.digamma(y)
    c = fs.i1e(x) + fs.xlogy(y, y) + fs.xlog1py(y, x * x) + fs.entr(y) + fs.logit(fs.expit(x))
    # the incomplete gamma function (a fori_loop; edges at y = 0 and x = 0, y = 1e5 beyond its
    # domain); betainc, whose program is twice as large, is compiled by test_scipy_stats.py's
    # float32 program (with gammaincc): each adds seconds of Numba compile
    d = fs.gammainc(y, x * x)
    return a * b + c, fs.logsumexp(x), fs.softmax(x) * fs.log_softmax(y), d


def test_numba_matches_interpreter():
    # one compiled program calling many of the functions; float32 is checked in the
    # interpreter (test_jit_interpreter_float32 and the dtype tests)
    x = np.concatenate([np.linspace(-3, 3, 6), [-30.0, 0.0]])
    y = np.concatenate([np.linspace(0.2, 12, 6), [1e5, 0.0]])
    outs_n = fg.jit(_many, backend="numba")(x, y)
    outs_i = fg.jit(_many, backend="interpret")(x, y)
    for a, b in zip(outs_n, outs_i):
        assert np.asarray(a).dtype == np.float64
        np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-300)


# ----------------------------------------------------------------------------- incomplete gamma and beta
# (SciPy's own float64 error is up to about 1.5e-13 here, against mpmath: the tolerances
# are ours plus SciPy's; see the accuracy table in funcgrad/scipy/special.py)

INC_RNG = np.random.default_rng(2024)


def _gamma_grid(n):
    a = np.concatenate([10.0 ** INC_RNG.uniform(-1, 2, n), INC_RNG.uniform(20, 100, n // 2), [0.1, 1.0, 100.0]])
    x = np.concatenate([INC_RNG.uniform(0, 200, n), a[n:-3] * INC_RNG.uniform(0.8, 1.2, n // 2), [1e-3, 1.1, 200.0]])
    return a, x


def _beta_grid(n):
    a = np.concatenate([10.0 ** INC_RNG.uniform(-1, 2, n), [0.1, 100.0, 2.0, 0.5]])
    b = np.concatenate([10.0 ** INC_RNG.uniform(-1, 2, n), [100.0, 0.1, 3.0, 0.5]])
    x = INC_RNG.uniform(0, 1, n)
    m = n // 3
    x[:m] = np.clip(a[:m] / (a[:m] + b[:m]) * INC_RNG.uniform(0.9, 1.1, m), 0, 1)   # near the mean
    x = np.concatenate([x, [0.3, 0.99, 1e-4, 1 - 1e-4]])
    return a, b, x


def test_gammainc_values():
    a, x = _gamma_grid(1500)
    for f, ref in ((fs.gammainc, S.gammainc), (fs.gammaincc, S.gammaincc)):
        got = f(a, x)
        assert got.dtype == np.float64
        assert rel_err(got, ref(a, x), 1e-300) <= 3e-13, f.__name__
        a32, x32 = a.astype(np.float32), x.astype(np.float32)
        got32 = f(a32, x32)
        assert got32.dtype == np.float32
        ref32 = ref(a32.astype(np.float64), x32.astype(np.float64))
        keep = ref32 > 1e-30
        # float32 arithmetic: ~1e-6 in the bulk, growing as |x - a| eps in the tails (the conditioning)
        d = np.abs(got32[keep] - ref32[keep]) / ref32[keep]
        assert np.max(d) <= 1e-4 and np.quantile(d, 0.99) <= 1e-5, f.__name__


def test_betainc_values():
    a, b, x = _beta_grid(1500)
    got = fs.betainc(a, b, x)
    assert got.dtype == np.float64
    assert rel_err(got, S.betainc(a, b, x), 1e-300) <= 3e-13
    a32, b32, x32 = a.astype(np.float32), b.astype(np.float32), x.astype(np.float32)
    got32 = fs.betainc(a32, b32, x32)
    assert got32.dtype == np.float32
    ref32 = S.betainc(a32.astype(np.float64), b32.astype(np.float64), x32.astype(np.float64))
    keep = ref32 > 1e-30
    d = np.abs(got32[keep] - ref32[keep]) / ref32[keep]
    assert np.max(d) <= 3e-4 and np.quantile(d, 0.99) <= 1e-5


def test_incomplete_edges():
    inf, nan = np.inf, np.nan
    a = np.array([0.0, 0.0, -1.0, 1.0, 1.0, 2.5, 0.5, inf, inf, nan, 1.0, 3.0])
    x = np.array([1.0, 0.0, 1.0, -1.0, 0.0, inf, inf, 1.0, inf, 1.0, nan, 0.0])
    for f, ref in ((fs.gammainc, S.gammainc), (fs.gammaincc, S.gammaincc)):
        np.testing.assert_array_equal(f(a, x), ref(a, x))
    a = np.array([0.0, 1.0, 0.0, 1.0, 1.0, 1.0, 1.0, 0.5, 2.0, inf, 1.0, inf, -1.0, 0.0, 2.0])
    b = np.array([1.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0, 0.5, 3.0, 1.0, inf, inf, 1.0, 1.0, 3.0])
    x = np.array([0.5, 0.5, 0.5, 1.5, -0.1, 0.0, 1.0, 0.0, 1.0, 0.5, 0.5, 0.5, 0.5, 0.0, nan])
    np.testing.assert_array_equal(fs.betainc(a, b, x), S.betainc(a, b, x))
    assert fs.betainc(2.0, 3.0, 0.5) == pytest.approx(0.6875, rel=1e-14)
    assert np.isnan(fs.betainc(-1.0, 2.0, 0.5)) and np.isnan(fs.gammainc(1.0, -0.5))
    # Q keeps its relative accuracy far in the tail (1 - P would be 0)
    np.testing.assert_allclose(fs.gammaincc(np.array([2.0, 30.0]), np.array([600.0, 150.0])),
                               S.gammaincc(np.array([2.0, 30.0]), np.array([600.0, 150.0])), rtol=1e-13)


@pytest.mark.parametrize("shapes", [((), ()), ((5,), ()), ((3, 1), (1, 4)), ((2, 1, 3), (3,))])
def test_incomplete_shapes_and_dtypes(shapes):
    sa, sx = shapes
    a = INC_RNG.uniform(0.2, 8, sa)
    x = INC_RNG.uniform(0.0, 10, sx)
    xb = INC_RNG.uniform(0, 1, sx)
    shape = np.broadcast_shapes(sa, sx)
    for f, ref in ((fs.gammainc, S.gammainc), (fs.gammaincc, S.gammaincc)):
        got = f(a, x)
        assert np.shape(got) == shape
        np.testing.assert_allclose(got, ref(a, x), rtol=1e-13)
    got = fs.betainc(a, 2.5, xb)
    assert np.shape(got) == shape
    np.testing.assert_allclose(got, S.betainc(a, 2.5, xb), rtol=1e-13)
    # integers -> float64; float32 with Python scalars stays float32
    assert fs.gammainc(np.arange(1, 4), np.array([1, 2, 3])).dtype == np.float64
    assert fs.betainc(np.arange(1, 4), 2, np.array([0.5])).dtype == np.float64
    assert fs.gammaincc(np.float32(a), 2.0).dtype == np.float32
    assert fs.betainc(2.0, np.float32(a), 0.5).dtype == np.float32


def _gamma_density(a, x):
    return np.exp((a - 1) * np.log(x) - x - S.gammaln(a))


def test_incomplete_derivatives():
    a = np.array([0.3, 1.0, 2.5, 7.9, 8.5, 30.0, 95.0, 2.0, 50.0])
    x = np.array([0.2, 1.7, 2.0, 9.0, 5.0, 31.0, 90.0, 15.0, 60.0])
    # d/dx: the closed form, to rounding
    np.testing.assert_allclose(_elementwise_grad(lambda v: fs.gammainc(a, v), x), _gamma_density(a, x), rtol=1e-13)
    np.testing.assert_allclose(_elementwise_grad(lambda v: fs.gammaincc(a, v), x), -_gamma_density(a, x),
                               rtol=1e-13)
    # d/da (autodiff through the series / continued fraction) against central differences
    check_grads(fs.gammainc, (a, x), argnums=(0, 1), ref=S.gammainc, rtol=1e-7, value_rtol=3e-13)
    check_grads(fs.gammaincc, (a[:4], x[:4]), argnums=0, ref=S.gammaincc, rtol=1e-7, value_rtol=3e-13)
    a = np.array([0.3, 1.0, 2.5, 9.0, 30.0, 95.0, 0.5, 50.0])
    b = np.array([0.7, 3.0, 2.5, 12.0, 0.2, 80.0, 40.0, 3.0])
    x = np.array([0.2, 0.1, 0.6, 0.4, 0.97, 0.55, 0.01, 0.9])
    dens = np.exp((a - 1) * np.log(x) + (b - 1) * np.log1p(-x) - S.betaln(a, b))
    # (the reference cancels in betaln for large a, b)
    np.testing.assert_allclose(_elementwise_grad(lambda v: fs.betainc(a, b, v), x), dens, rtol=5e-13)
    check_grads(fs.betainc, (a, b, x), argnums=(0, 1, 2), ref=S.betainc, rtol=1e-7, value_rtol=3e-13)
    # edges: the x-derivative at x = 0 (a = 1: the density 1 / B(1, b) = b), finite elsewhere
    g = fg.grad(lambda v: fs.betainc(1.0, 3.0, v))(0.0)
    assert g == pytest.approx(3.0, rel=1e-15)
    assert fg.grad(lambda v: fs.gammainc(1.0, v))(0.0) == pytest.approx(1.0, rel=1e-15)
    ga, gx = fg.grad(lambda u, v: fs.gammainc(u, v), argnums=(0, 1))(2.0, 0.0)
    assert ga == 0.0 and gx == 0.0
    # invalid parameters: nan values, nan gradients (in reverse mode too)
    assert np.all(np.isnan(fg.grad(lambda u, v: fs.gammainc(u, v), argnums=(0, 1))(-1.0, 2.0)))
    assert np.all(np.isnan(fg.grad(lambda u, v: fs.betainc(u, 2.0, v), argnums=(0, 1))(1.0, 1.5)))
    # float32 gradients stay float32
    a32, x32 = np.float32([0.5, 3.0]), np.float32([0.7, 4.0])
    ga, gx = fg.grad(lambda u, v: fnp.sum(fs.gammainc(u, v) + fs.betainc(u, 2.0, v / 5.0)), argnums=(0, 1))(a32, x32)
    assert ga.dtype == np.float32 and gx.dtype == np.float32
    np.testing.assert_allclose(gx, _gamma_density(a32.astype(float), x32.astype(float))
                               + np.exp((a32 - 1.0) * np.log(x32 / 5.0) + np.log1p(-x32 / 5.0)
                                        - S.betaln(a32, 2.0)) / 5.0, rtol=2e-5)


def test_incomplete_vmap_jvp():
    a = INC_RNG.uniform(0.5, 20, (4, 3))
    x = INC_RNG.uniform(0.1, 30, (4, 3))
    got = fg.vmap(lambda u, v: fs.gammaincc(u, v) + fs.betainc(u, v, 0.3))(a, x)
    np.testing.assert_allclose(got, S.gammaincc(a, x) + S.betainc(a, x, 0.3), rtol=1e-13)
    a0, x0 = np.array([0.7, 3.0, 12.0]), np.array([0.4, 2.0, 15.0])
    ta, tx = np.array([0.5, -1.0, 2.0]), np.array([1.0, 0.3, -0.7])
    out, tan = fg.jvp(fs.gammainc, (a0, x0), (ta, tx))
    np.testing.assert_allclose(out, S.gammainc(a0, x0), rtol=1e-13)
    h = 1e-5
    da = (S.gammainc(a0 + h, x0) - S.gammainc(a0 - h, x0)) / (2 * h)
    np.testing.assert_allclose(tan, da * ta + _gamma_density(a0, x0) * tx, rtol=1e-7)
