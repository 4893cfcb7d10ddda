"""funcgrad.numpy's elementwise functions of funcgrad/numpy/_math.py against NumPy:
values (shapes, broadcasting, dtypes, special values), result dtypes, gradients
against central finite differences, NumPy's own functions on traced values,
vmap, and one Numba program with all of them."""
import numpy as np
import pytest

import funcgrad as fg
import funcgrad.numpy as fnp

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")

rng = np.random.default_rng(1234)


def _signed(lo, hi):
    return lambda shape: rng.choice([-1.0, 1.0], size=shape) * rng.uniform(lo, hi, size=shape)


# name -> (NumPy's function, sampler of smooth points)
UNARY = {
    "arcsinh": (np.arcsinh, lambda s: rng.normal(size=s) * 3),
    "arccosh": (np.arccosh, lambda s: rng.uniform(1.2, 5.0, size=s)),
    "arctanh": (np.arctanh, lambda s: rng.uniform(-0.9, 0.9, size=s)),
    "sinc": (np.sinc, _signed(0.1, 3.0)),
    "cbrt": (np.cbrt, _signed(0.3, 4.0)),
    "trunc": (np.trunc, lambda s: np.floor(rng.normal(size=s) * 4) + rng.uniform(0.2, 0.8, size=s)),
    "fix": (np.fix, lambda s: np.floor(rng.normal(size=s) * 4) + rng.uniform(0.2, 0.8, size=s)),
    "deg2rad": (np.deg2rad, lambda s: rng.normal(size=s) * 90),
    "rad2deg": (np.rad2deg, lambda s: rng.normal(size=s)),
    "degrees": (np.degrees, lambda s: rng.normal(size=s)),
    "radians": (np.radians, lambda s: rng.normal(size=s) * 90),
    "nan_to_num": (np.nan_to_num, lambda s: rng.normal(size=s)),
    "real": (np.real, lambda s: rng.normal(size=s)),
    "imag": (np.imag, lambda s: rng.normal(size=s)),
    "conj": (np.conj, lambda s: rng.normal(size=s)),
    "conjugate": (np.conjugate, lambda s: rng.normal(size=s)),
    "angle": (np.angle, _signed(0.1, 3.0)),
    "real_if_close": (np.real_if_close, lambda s: rng.normal(size=s)),
    "signbit": (np.signbit, lambda s: rng.normal(size=s)),
    "asinh": (np.asinh, lambda s: rng.normal(size=s) * 3),
    "acosh": (np.acosh, lambda s: rng.uniform(1.2, 5.0, size=s)),
    "atanh": (np.atanh, lambda s: rng.uniform(-0.9, 0.9, size=s)),
}

BINARY = {
    "hypot": (np.hypot, lambda s: rng.normal(size=s) * 3, lambda s: rng.normal(size=s) * 3),
    "logaddexp": (np.logaddexp, lambda s: rng.normal(size=s) * 5, lambda s: rng.normal(size=s) * 5),
    "logaddexp2": (np.logaddexp2, lambda s: rng.normal(size=s) * 5, lambda s: rng.normal(size=s) * 5),
    "copysign": (np.copysign, _signed(0.2, 3.0), _signed(0.2, 3.0)),
    "heaviside": (np.heaviside, _signed(0.2, 3.0), lambda s: rng.uniform(0, 1, size=s)),
    "fmod": (np.fmod, lambda s: (np.floor(rng.normal(size=s) * 3) + rng.uniform(0.2, 0.8, size=s)) * 1.5,
             lambda s: rng.choice([-1.5, 1.5], size=s)),
    "isclose": (np.isclose, lambda s: rng.normal(size=s), lambda s: rng.normal(size=s)),
}

NO_GRAD = {"signbit", "isclose"}
SHAPES = [(), (1,), (4,), (2, 3), (3, 1, 2)]
PAIRS = [((), ()), ((3,), ()), ((), (2, 3)), ((2, 3), (3,)), ((2, 1), (1, 4)), ((1,), (3, 1, 2)), ((2, 3), (2, 3))]


def _tol(dt):
    return dict(rtol=2e-6, atol=1e-6) if np.dtype(dt) == np.float32 else dict(rtol=1e-13, atol=1e-13)


def _assert_same(got, want, dt=np.float64, dtype=True):
    got = np.asarray(got)
    want = np.asarray(want)
    assert got.shape == want.shape
    if dtype:
        assert got.dtype == want.dtype, (got.dtype, want.dtype)
    if want.dtype == bool:
        np.testing.assert_array_equal(got, want)
    else:
        np.testing.assert_allclose(got, want, equal_nan=True, **_tol(dt))


def _jit(f):
    return fg.jit(f, backend="interpret")


# ----------------------------------------------------------------------------- values and dtypes

@pytest.mark.parametrize("dt", [np.float32, np.float64])
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary_values(name, shape, dt):
    npf, sample = UNARY[name]
    x = np.asarray(sample(shape), dtype=dt)
    f = getattr(fnp, name)
    _assert_same(_jit(f)(x), npf(x), dt)          # traced
    _assert_same(f(x), npf(x), dt)                # concrete


@pytest.mark.parametrize("dt", [np.float32, np.float64])
@pytest.mark.parametrize("shapes", PAIRS)
@pytest.mark.parametrize("name", sorted(BINARY))
def test_binary_values(name, shapes, dt):
    npf, s1, s2 = BINARY[name]
    a, b = np.asarray(s1(shapes[0]), dt), np.asarray(s2(shapes[1]), dt)
    f = getattr(fnp, name)
    _assert_same(_jit(f)(a, b), npf(a, b), dt)
    _assert_same(f(a, b), npf(a, b), dt)


SPECIAL = np.array([-np.inf, -1e300, -3.0, -1.0, -0.5, -0.0, 0.0, 1e-300, 1e-10, 0.5, 1.0, 3.0, 1e10, 1e300,
                    np.inf, np.nan])


def _assert_special(got, want, dt):
    got, want = np.asarray(got), np.asarray(want)
    assert got.dtype == want.dtype
    if want.dtype == bool:
        np.testing.assert_array_equal(got, want)
        return
    rtol = 4 * np.finfo(dt).eps
    np.testing.assert_allclose(got, want, rtol=rtol, atol=0, equal_nan=True)
    ok = ~np.isnan(want)
    np.testing.assert_array_equal(np.signbit(got)[ok], np.signbit(want)[ok])   # signed zeros


@pytest.mark.parametrize("dt", [np.float16, np.float32, np.float64])
@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary_special_values(name, dt):
    x = SPECIAL.astype(dt)
    with np.errstate(all="ignore"):
        want = UNARY[name][0](x)
    _assert_special(_jit(getattr(fnp, name))(x), want, dt)


@pytest.mark.parametrize("dt", [np.float16, np.float32, np.float64])
@pytest.mark.parametrize("name", sorted(BINARY))
def test_binary_special_values(name, dt):
    x = SPECIAL.astype(dt)
    a, b = x[:, None], x[None, :]
    with np.errstate(all="ignore"):
        want = BINARY[name][0](a, b)
    _assert_special(_jit(getattr(fnp, name))(a, b), want, dt)


def test_special_cases_by_hand():
    assert fnp.logaddexp(-np.inf, -np.inf) == -np.inf
    assert fnp.logaddexp(np.inf, np.inf) == np.inf
    assert fnp.logaddexp2(-np.inf, -np.inf) == -np.inf
    np.testing.assert_allclose(fnp.logaddexp(1000.0, 1000.0), 1000 + np.log(2))
    np.testing.assert_allclose(fnp.logaddexp(-1000.0, -1001.0), np.logaddexp(-1000.0, -1001.0), rtol=1e-15)
    np.testing.assert_allclose(fnp.hypot(1e300, 1e300), np.hypot(1e300, 1e300), rtol=1e-15)
    np.testing.assert_allclose(fnp.hypot(1e-300, 1e-300), np.hypot(1e-300, 1e-300), rtol=1e-15)
    assert fnp.hypot(np.inf, np.nan) == np.inf
    assert fnp.sinc(0.0) == 1.0
    # exact cubes exactly (NumPy 2.4's scalar cbrt(27.0) is 3.0000000000000004; its array path is exact)
    for v, root in ((8.0, 2.0), (27.0, 3.0), (-64.0, -4.0), (1e-300, np.cbrt(np.array([1e-300]))[0]), (125.0, 5.0)):
        assert fnp.cbrt(v) == root
    assert np.signbit(fnp.cbrt(-0.0)) and np.signbit(fnp.arcsinh(-0.0)) and np.signbit(fnp.trunc(-0.5))
    assert np.signbit(fnp.copysign(1.0, -0.0)) and not np.signbit(fnp.copysign(-1.0, 0.0))
    assert fnp.signbit(-0.0) and not fnp.signbit(0.0)
    assert fnp.angle(-0.0) == np.pi and fnp.angle(-2.0, deg=True) == 180.0
    assert fnp.heaviside(0.0, 0.5) == 0.5
    np.testing.assert_allclose(fnp.arctanh(1 - 1e-15), np.arctanh(1 - 1e-15), rtol=1e-13)
    np.testing.assert_allclose(fnp.arccosh(1 + 1e-12), np.arccosh(1 + 1e-12), rtol=1e-10)
    np.testing.assert_allclose(fnp.arcsinh(1e-200), 1e-200, rtol=1e-15)
    assert fnp.fmod(-7, 3) == -1 and fnp.fmod(7, -3) == 1 and fnp.fmod(5, 0) == 0
    x = np.array([np.nan, np.inf, -np.inf, 1.0], np.float32)
    _assert_same(fnp.nan_to_num(x, nan=-1.0, posinf=9.0, neginf=-9.0),
                 np.nan_to_num(x, nan=-1.0, posinf=9.0, neginf=-9.0))
    _assert_same(_jit(fnp.nan_to_num)(x), np.nan_to_num(x))
    a, b = np.array([1.0, np.nan, np.inf, 1e-9, 1.0]), np.array([1.0 + 1e-6, np.nan, np.inf, 0.0, 1.1])
    for kw in ({}, {"equal_nan": True}, {"rtol": 0.2}, {"atol": 1e-8, "rtol": 0.0}):
        _assert_same(_jit(lambda a, b: fnp.isclose(a, b, **kw))(a, b), np.isclose(a, b, **kw))
        _assert_same(fnp.isclose(a, b, **kw), np.isclose(a, b, **kw))
    assert fnp.isclose(1, 1) == np.isclose(1, 1) and type(fnp.isclose(1.0, 2.0)) is type(np.isclose(1.0, 2.0))


INT_UNARY = sorted(set(UNARY) - {"signbit"}) + ["signbit"]


@pytest.mark.parametrize("dt", [np.int8, np.uint8, np.int16, np.int32, np.int64, np.bool_])
@pytest.mark.parametrize("name", INT_UNARY)
def test_unary_integer_inputs(name, dt):
    x = np.array([0, 1, 2, 3], dtype=dt) if dt != np.bool_ else np.array([True, False])
    npf = UNARY[name][0]
    with np.errstate(all="ignore"):
        try:
            want = npf(x)
        except TypeError:
            pytest.skip("NumPy rejects it")
    _assert_special(_jit(getattr(fnp, name))(x), want, want.dtype if want.dtype.kind == "f" else np.float64)
    _assert_special(getattr(fnp, name)(x), want, want.dtype if want.dtype.kind == "f" else np.float64)


@pytest.mark.parametrize("dts", [(np.int32, np.int32), (np.int8, np.int8), (np.int16, np.float32),
                                 (np.int64, np.float32), (np.float32, np.float64), (np.uint8, np.int8)])
@pytest.mark.parametrize("name", sorted(BINARY))
def test_binary_dtype_promotion(name, dts):
    a = np.array([-3, 1, 2, 5], dtype=dts[0]) if np.dtype(dts[0]).kind != "u" else np.array([3, 1, 2, 5], dts[0])
    b = np.array([2, -1, 3, 2], dtype=dts[1])
    with np.errstate(all="ignore"):
        want = BINARY[name][0](a, b)
    got = _jit(getattr(fnp, name))(a, b)
    _assert_special(got, want, want.dtype if want.dtype.kind == "f" else np.float64)


@pytest.mark.parametrize("name", sorted(BINARY))
def test_weak_python_scalars(name):
    x = np.array([0.5, -1.5, 2.0], np.float32)
    f = getattr(fnp, name)
    for args in ((x, 2.0), (3.0, x), (x, 2)):
        want = BINARY[name][0](*args)
        got = _jit(lambda v: f(*[v if a is x else a for a in args]))(x)
        _assert_same(got, want, np.float32)


@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary_python_scalar(name):
    want = UNARY[name][0](0.5)
    got = getattr(fnp, name)(0.5)
    assert np.asarray(got).dtype == np.asarray(want).dtype
    np.testing.assert_allclose(got, want, rtol=1e-14)


# ----------------------------------------------------------------------------- gradients

def _fd(f, x, h=1e-5):
    x = np.array(x, dtype=np.float64)
    g = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        xp, xm = x.copy(), x.copy()
        xp[i] += h
        xm[i] -= h
        g[i] = (np.sum(f(xp)) - np.sum(f(xm))) / (2 * h)
    return g


@pytest.mark.parametrize("shape", [(), (2, 3)])
@pytest.mark.parametrize("name", sorted(set(UNARY) - NO_GRAD))
def test_unary_grad(name, shape):
    npf, sample = UNARY[name]
    x = np.asarray(sample(shape), np.float64)
    f = getattr(fnp, name)
    g = fg.grad(lambda v: fnp.sum(f(v)), backend="interpret")(x)
    assert np.shape(g) == shape
    np.testing.assert_allclose(g, _fd(npf, x), rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("shapes", [((), ()), ((2, 3), (3,)), ((2, 1), (1, 3))])
@pytest.mark.parametrize("name", sorted(set(BINARY) - NO_GRAD))
def test_binary_grad(name, shapes):
    npf, s1, s2 = BINARY[name]
    a, b = np.asarray(s1(shapes[0]), np.float64), np.asarray(s2(shapes[1]), np.float64)
    f = getattr(fnp, name)
    ga, gb = fg.grad(lambda u, v: fnp.sum(f(u, v)), argnums=(0, 1), backend="interpret")(a, b)
    assert np.shape(ga) == shapes[0] and np.shape(gb) == shapes[1]
    np.testing.assert_allclose(ga, _fd(lambda u: npf(u, b), a), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(gb, _fd(lambda v: npf(a, v), b), rtol=1e-6, atol=1e-8)


def _g(f, *args, argnums=0):
    return fg.grad(lambda *a: fnp.sum(f(*a)), argnums=argnums, backend="interpret")(*args)


def test_grads_at_special_points():
    assert _g(fnp.sinc, 0.0) == 0.0
    np.testing.assert_allclose(_g(fnp.sinc, np.array([0.0, 0.5])), [0.0, _fd(np.sinc, 0.5)], rtol=1e-6)
    d2 = fg.grad(fg.grad(fnp.sinc, backend="interpret"), backend="interpret")
    np.testing.assert_allclose(d2(0.0), -np.pi ** 2 / 3, rtol=1e-12)
    np.testing.assert_allclose(d2(0.3), (_fd(np.sinc, 0.3 + 1e-4) - _fd(np.sinc, 0.3 - 1e-4)) / 2e-4, rtol=1e-5)
    x = np.array([-2e-3, -1e-5, 1e-7, 3e-3, 0.00318, 0.0032])     # both sides of the series' switch
    np.testing.assert_allclose(fnp.sinc(x), np.sinc(x), rtol=2e-16, atol=0)
    np.testing.assert_allclose(_g(fnp.sinc, x), _fd(np.sinc, x, h=1e-6), rtol=1e-5, atol=1e-9)
    assert _g(fnp.arcsinh, 0.0) == 1.0 and _g(fnp.arcsinh, -0.0) == 1.0
    assert _g(fnp.arctanh, 0.0) == 1.0 and _g(fnp.arctanh, -0.0) == 1.0
    np.testing.assert_allclose(_g(fnp.arcsinh, np.array([1e200, -1e200])), [1e-200, 1e-200], rtol=1e-12)
    np.testing.assert_allclose(_g(fnp.arccosh, 1e200), 1e-200, rtol=1e-12)
    np.testing.assert_allclose(_g(fnp.hypot, 3e200, 4e200, argnums=(0, 1)), (0.6, 0.8), rtol=1e-12)
    np.testing.assert_allclose(_g(fnp.hypot, 3e-200, 4e-200, argnums=(0, 1)), (0.6, 0.8), rtol=1e-12)
    assert _g(fnp.hypot, 0.0, 0.0, argnums=(0, 1)) == (0.0, 0.0)
    np.testing.assert_allclose(_g(fnp.logaddexp, 2.0, 2.0, argnums=(0, 1)), (0.5, 0.5))
    np.testing.assert_allclose(_g(fnp.logaddexp2, 2.0, 2.0, argnums=(0, 1)), (0.5, 0.5))
    np.testing.assert_allclose(_g(fnp.logaddexp, 1000.0, -1000.0, argnums=(0, 1)), (1.0, 0.0))
    np.testing.assert_allclose(_g(fnp.logaddexp, 0.0, -np.inf, argnums=(0, 1)), (1.0, 0.0))
    # copysign as JAX: d/dx1 = sign(x1) * sign(result), d/dx2 = 0
    assert _g(fnp.copysign, -2.0, 3.0, argnums=(0, 1)) == (-1.0, 0.0)
    assert _g(fnp.copysign, 2.0, -3.0, argnums=(0, 1)) == (-1.0, 0.0)
    assert _g(fnp.copysign, -2.0, -3.0, argnums=(0, 1)) == (1.0, 0.0)
    assert _g(fnp.trunc, 2.5) == 0.0 and _g(fnp.angle, -2.0) == 0.0 and _g(fnp.imag, 2.0) == 0.0
    np.testing.assert_allclose(_g(fnp.cbrt, np.array([8.0, -8.0])), [1 / 12, 1 / 12], rtol=1e-14)
    assert _g(fnp.heaviside, 0.0, 0.3, argnums=(0, 1)) == (0.0, 1.0)
    np.testing.assert_allclose(_g(fnp.nan_to_num, np.array([np.nan, 1.0, np.inf])), [0.0, 1.0, 0.0])
    np.testing.assert_allclose(_g(fnp.fmod, -7.5, 2.0, argnums=(0, 1)), (1.0, 3.0))


# ----------------------------------------------------------------------------- NumPy's functions on traced values

NP_UNARY = ["arcsinh", "arccosh", "arctanh", "asinh", "acosh", "atanh", "cbrt", "trunc", "fix", "deg2rad",
            "rad2deg", "degrees", "radians", "signbit", "sinc", "nan_to_num", "real", "imag", "conj",
            "conjugate", "angle", "real_if_close"]
NP_BINARY = ["hypot", "logaddexp", "logaddexp2", "copysign", "heaviside", "fmod", "isclose"]


@pytest.mark.parametrize("name", NP_UNARY)
def test_numpy_dispatch_unary(name):
    npf, sample = UNARY[name]
    x = np.asarray(sample((2, 3)), np.float32)
    _assert_same(_jit(lambda v: getattr(np, name)(v))(x), npf(x), np.float32)


@pytest.mark.parametrize("name", NP_BINARY)
def test_numpy_dispatch_binary(name):
    npf, s1, s2 = BINARY[name]
    a, b = np.asarray(s1((2, 3)), np.float64), np.asarray(s2((3,)), np.float64)
    _assert_same(_jit(lambda u, v: getattr(np, name)(u, v))(a, b), npf(a, b))
    _assert_same(_jit(lambda u: getattr(np, name)(u, b))(a), npf(a, b))      # traced and NumPy array


def test_numpy_dispatch_keywords_and_grad():
    x = np.array([np.nan, np.inf, -1.0, 2.0])
    _assert_same(_jit(lambda v: np.nan_to_num(v, nan=5.0, posinf=1.0))(x), np.nan_to_num(x, nan=5.0, posinf=1.0))
    a, b = np.array([1.0, np.nan]), np.array([1.05, np.nan])
    _assert_same(_jit(lambda u: np.isclose(u, b, rtol=0.1, equal_nan=True))(a),
                 np.isclose(a, b, rtol=0.1, equal_nan=True))
    _assert_same(_jit(lambda v: np.angle(v, deg=True))(x), np.angle(x, deg=True))
    y = rng.normal(size=(3,))
    g = fg.grad(lambda v: np.sum(np.logaddexp(v, 0.5) + np.arcsinh(v) * np.hypot(v, 2.0)), backend="interpret")(y)
    np.testing.assert_allclose(g, _fd(lambda v: np.logaddexp(v, 0.5) + np.arcsinh(v) * np.hypot(v, 2.0), y),
                               rtol=1e-6)


# ----------------------------------------------------------------------------- vmap

@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary_vmap(name):
    npf, sample = UNARY[name]
    xs = np.asarray(sample((4, 3)), np.float64)
    f = getattr(fnp, name)
    got = fg.vmap(f, backend="interpret")(xs)
    want = np.stack([np.asarray(_jit(f)(x)) for x in xs])
    _assert_same(got, want)
    _assert_same(got, npf(xs))


@pytest.mark.parametrize("name", sorted(BINARY))
def test_binary_vmap(name):
    npf, s1, s2 = BINARY[name]
    a, b = np.asarray(s1((4, 3)), np.float64), np.asarray(s2((4, 3)), np.float64)
    f = getattr(fnp, name)
    got = fg.vmap(f, backend="interpret")(a, b)
    _assert_same(got, np.stack([np.asarray(_jit(f)(u, v)) for u, v in zip(a, b)]))
    got1 = fg.vmap(f, in_axes=(0, None), backend="interpret")(a, b[0])
    _assert_same(got1, np.stack([np.asarray(_jit(f)(u, b[0])) for u in a]))


def test_vmap_of_grad():
    xs = rng.normal(size=(4, 3))
    g = fg.vmap(fg.grad(lambda v: fnp.sum(fnp.logaddexp(v, 0.0) * fnp.sinc(v))), backend="interpret")(xs)
    np.testing.assert_allclose(g, _fd(lambda v: np.logaddexp(v, 0.0) * np.sinc(v), xs), rtol=1e-6, atol=1e-9)


# ----------------------------------------------------------------------------- Numba: one program with everything

def _all_functions(x, y, p, t):
    """Every function of _math.py on float64 inputs: ``x`` any, ``y`` nonzero,
    ``p`` > 1, ``t`` in (-1, 1)."""
    return (fnp.arcsinh(x), fnp.arccosh(p), fnp.arctanh(t), fnp.hypot(x, y), fnp.logaddexp(x, y),
            fnp.logaddexp2(x, y), fnp.sinc(x), fnp.cbrt(x), fnp.copysign(x, y), fnp.heaviside(x, t),
            fnp.fmod(x, y), fnp.trunc(x), fnp.fix(y), fnp.deg2rad(x), fnp.rad2deg(x), fnp.nan_to_num(x),
            fnp.signbit(x), fnp.isclose(x, y, rtol=0.5), fnp.real(x), fnp.imag(x), fnp.conj(x),
            fnp.angle(x), fnp.real_if_close(x),
            fnp.sum(fnp.arcsinh(x) * fnp.hypot(x, y) + fnp.logaddexp(x, y) * fnp.cbrt(y) + fnp.sinc(t)))


def test_numba_all_functions_one_program():
    x = np.array([-np.inf, -3.5, -1.0, -0.0, 0.0, 0.25, 2.0, 1e300, np.inf, np.nan])
    y = np.array([2.0, -1.5, 1e-300, -2.0, 3.0, -0.5, 2.0, 1e300, 1.0, 4.0])
    p = np.array([1.0, 1.5, 2.0, 10.0, 1e10, 1e300, np.inf, 3.0, 1.0 + 1e-9, 7.0])
    t = np.array([-0.999, -0.5, -0.0, 0.0, 1e-10, 0.3, 0.9, 1.0, -1.0, 0.0])
    got = fg.jit(_all_functions, backend="numba")(x, y, p, t)
    want = fg.jit(_all_functions, backend="interpret")(x, y, p, t)
    assert len(got) == len(want)
    for i, (g, w) in enumerate(zip(got, want)):
        g, w = np.asarray(g), np.asarray(w)
        assert g.dtype == w.dtype and g.shape == w.shape, i
        if w.dtype == bool:
            np.testing.assert_array_equal(g, w, err_msg=str(i))
        else:
            np.testing.assert_allclose(g, w, rtol=1e-13, atol=0, equal_nan=True, err_msg=str(i))
