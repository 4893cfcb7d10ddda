"""funcgrad.backends.numba_backend.fastmath against NumPy, in ulp.

Each function runs inside an @njit loop (the way generated code calls it, and
the vectorized path LLVM takes) over:

- a sweep of bit patterns (every 2039th float32 pattern, 600,000 evenly spaced
  float64 patterns), positive and negative: log-spaced from the smallest
  denormal to the largest finite value;
- 2001 consecutive floats around each threshold (exp/expm1 overflow, exp
  underflow to denormals and to 0, log's denormal boundary, the switch points
  of the algorithms, log1p near -1...);
- random values over the domain where the function is not constant.

The reference is NumPy on np.longdouble (x87 80-bit on x86 Linux) rounded to
the target dtype; where long double is only double, the float64 reference is
NumPy's float64 and the bounds get 1 ulp more.  Each result is also compared
with NumPy's own ufunc in the same dtype.  Special values are checked exactly
(signed zeros included).
"""
import re

import numpy as np
import pytest

pytest.importorskip("numba")
from numba import njit  # noqa: E402

from funcgrad.backends.numba_backend import fastmath as fm  # noqa: E402

NAMES = ["exp", "expm1", "log", "log1p", "tanh", "logistic"]
LD = np.longdouble
_EXTENDED = np.finfo(LD).nmant > np.finfo(np.float64).nmant

# max ulp vs the long double reference.  Measured (denser sweeps, see
# fastmath's docstring): 1 everywhere but logistic (2, both dtypes) and float64
# expm1 (2); without FMA float32 expm1 is 2.  One ulp of slack on top.
BOUND = {"exp": 2, "expm1": 3, "log": 2, "log1p": 2, "tanh": 2, "logistic": 3}
# max ulp vs NumPy's own float32/float64 ufunc (NumPy's float32 log is up to 4 ulp off)
BOUND_NUMPY = 5


def _make_kernel(f0, f1, f2, f3, f4, f5):
    # one compiled function per dtype (compile time dominates this module);
    # each loop is a plain elementwise loop, vectorized like generated code
    @njit
    def kernel(x, out):
        for i in range(x.size):
            out[0, i] = f0(x[i])
        for i in range(x.size):
            out[1, i] = f1(x[i])
        for i in range(x.size):
            out[2, i] = f2(x[i])
        for i in range(x.size):
            out[3, i] = f3(x[i])
        for i in range(x.size):
            out[4, i] = f4(x[i])
        for i in range(x.size):
            out[5, i] = f5(x[i])
    return kernel


_KERNELS = {
    np.float32: _make_kernel(*(getattr(fm, f"{n}_f32") for n in NAMES)),
    np.float64: _make_kernel(*(getattr(fm, f"{n}_f64") for n in NAMES)),
}


@njit
def _generic_kernel(x32, x64, xi, o32, o64, oi):
    # the type-generic front ends (a few: each call site costs compile time)
    for i in range(x32.size):
        o32[i] = fm.tanh(x32[i])
    for i in range(x64.size):
        o64[i] = fm.logistic(x64[i])
    for i in range(xi.size):
        oi[i] = fm.exp(xi[i])


def run(dtype, x, kernel=None):
    x = np.ascontiguousarray(x, dtype=dtype)
    out = np.empty((len(NAMES), x.size), dtype=dtype if np.dtype(dtype).kind == "f" else np.float64)
    (kernel or _KERNELS[dtype])(x, out)
    return dict(zip(NAMES, out))


def _logistic(x):
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))


def reference(name, x):
    """Long double result rounded to x.dtype."""
    xl = x.astype(LD)
    with np.errstate(all="ignore"):
        r = _logistic(xl) if name == "logistic" else getattr(np, name)(xl)
        return r.astype(x.dtype)


def numpy_value(name, x):
    with np.errstate(all="ignore"):
        return _logistic(x) if name == "logistic" else getattr(np, name)(x)


def ulp_diff(a, b):
    """|a - b| in units in the last place (counts through 0 and the denormals);
    0 where both are NaN, inf where exactly one is."""
    assert a.dtype == b.dtype
    it = np.int32 if a.dtype == np.float32 else np.int64
    lo = np.iinfo(it).min
    # sign-magnitude bit patterns -> integers in the order of the floats
    oa = np.where(a.view(it) < 0, lo - a.view(it), a.view(it)).astype(np.int64)
    ob = np.where(b.view(it) < 0, lo - b.view(it), b.view(it)).astype(np.int64)
    same = (oa >= 0) == (ob >= 0)  # then oa - ob cannot overflow
    with np.errstate(over="ignore"):
        d = np.where(same, np.abs(oa - ob).astype(np.float64),
                     np.abs(oa.astype(np.float64) - ob.astype(np.float64)))
    na, nb = np.isnan(a), np.isnan(b)
    d[na & nb] = 0
    d[na ^ nb] = np.inf
    return d


# ----------------------------------------------------------------------------
# inputs
# ----------------------------------------------------------------------------

def _around(v, dtype, k=1000):
    """k consecutive floats on each side of v."""
    v = dtype(v)
    it = np.int32 if dtype == np.float32 else np.int64
    b = np.array(v, dtype).view(it)
    return (b + np.arange(-k, k + 1, dtype=it)).view(dtype)


def thresholds(dtype):
    fi = np.finfo(dtype)
    ln2 = np.log(2.0)
    bias = 127 if dtype == np.float32 else 1023
    mant = 23 if dtype == np.float32 else 52
    pts = [
        np.log(float(fi.max)),                   # exp / expm1 overflow
        np.log(float(fi.tiny)),                  # exp result leaves the normal range
        (-bias - mant + 1) * ln2,                # exp result = smallest denormal
        (-bias - mant) * ln2,                    # exp underflows to 0
        (bias + 1) * ln2 - ln2 / 2,              # 2**n would overflow in one step
        -(mant + 2) * ln2,                       # expm1 becomes -1
        (mant + 0.5) * ln2, (mant + 1.5) * ln2,  # expm1's switch to (1 + p) 2**n - 1
        ln2 / 2, -ln2 / 2, 1.5 * ln2, -1.5 * ln2,  # reduction boundaries (n = 0 / +-1 / +-2)
        0.4, -0.4, 9.0, 9.5, 19.1, 19.5,         # tanh switch and clamp points
        1.0, np.sqrt(0.5), np.sqrt(2.0), 2.0,    # log: f = 0, m boundaries, log1p's u < 2
        float(fi.tiny), 1.0 - 2.0**-mant,        # log: denormal boundary; log1p(-1 + tiny)
        -1.0, np.sqrt(0.5) - 1, np.sqrt(2.0) - 1,  # log1p
        1e-3, -1e-3,
    ]
    vals = [_around(p, dtype) for p in pts]
    vals.append(_around(np.float64(-1.0), dtype)[:1001])  # log1p near -1 from above
    x = np.concatenate(vals)
    return np.concatenate([x, -x])


def sweep(dtype):
    if dtype == np.float32:
        pos = np.arange(0, 0x7F800000, 2039, dtype=np.int64).astype(np.int32).view(np.float32)
    else:
        pos = np.linspace(0, 0x7FF0000000000000, 600_000, dtype=np.int64).view(np.float64)
    return np.concatenate([pos, -pos])


def random_values(dtype, n=100_000):
    rng = np.random.default_rng(12345)
    big = 110.0 if dtype == np.float32 else 760.0
    return np.concatenate([
        rng.uniform(-big, big, n), rng.uniform(-25, 25, n), rng.uniform(-1, 1, n),
        rng.uniform(0, 1000, n), rng.standard_normal(n) * 1e-4,
    ]).astype(dtype)


def all_inputs(dtype):
    return np.concatenate([sweep(dtype), thresholds(dtype), random_values(dtype)])


@pytest.fixture(scope="module", params=[np.float32, np.float64], ids=["float32", "float64"])
def evaluated(request):
    dtype = request.param
    x = all_inputs(dtype)
    return dtype, x, run(dtype, x)


# ----------------------------------------------------------------------------
# tests
# ----------------------------------------------------------------------------

@pytest.mark.parametrize("name", NAMES)
def test_ulp_error(evaluated, name):
    dtype, x, got = evaluated
    ref = reference(name, x)
    bound = BOUND[name] + (0 if _EXTENDED or dtype == np.float32 else 1)
    d = ulp_diff(got[name], ref)
    worst = int(np.argmax(d))
    assert d.max() <= bound, (
        f"{name}[{np.dtype(dtype).name}]: {d.max()} ulp at x={x[worst]!r}: "
        f"got {got[name][worst]!r}, reference {ref[worst]!r}")
    # and against NumPy's own ufunc in this dtype
    dn = ulp_diff(got[name], numpy_value(name, x).astype(dtype))
    assert dn.max() <= BOUND_NUMPY, (name, x[int(np.argmax(dn))])


def _special_cases(dtype):
    fi = np.finfo(dtype)
    inf, nan = np.inf, np.nan
    tiny, den, big = float(fi.tiny), float(fi.smallest_subnormal), float(fi.max)
    return {
        "exp": [(0.0, 1.0), (-0.0, 1.0), (inf, inf), (-inf, 0.0), (nan, nan), (1000.0, inf),
                (-1000.0, 0.0), (big, inf), (-big, 0.0), (den, 1.0), (-den, 1.0)],
        "expm1": [(0.0, 0.0), (-0.0, -0.0), (inf, inf), (-inf, -1.0), (nan, nan), (1000.0, inf),
                  (-1000.0, -1.0), (den, den), (-den, -den), (tiny, tiny), (-tiny, -tiny)],
        "log": [(0.0, -inf), (-0.0, -inf), (inf, inf), (-inf, nan), (nan, nan), (-1.0, nan),
                (-den, nan), (1.0, 0.0), (big, np.log(big))],
        "log1p": [(0.0, 0.0), (-0.0, -0.0), (inf, inf), (-inf, nan), (nan, nan), (-1.0, -inf),
                  (-2.0, nan), (den, den), (-den, -den), (tiny, tiny), (big, np.log(big))],
        "tanh": [(0.0, 0.0), (-0.0, -0.0), (inf, 1.0), (-inf, -1.0), (nan, nan), (1000.0, 1.0),
                 (-1000.0, -1.0), (big, 1.0), (-big, -1.0), (den, den), (-den, -den)],
        "logistic": [(0.0, 0.5), (-0.0, 0.5), (inf, 1.0), (-inf, 0.0), (nan, nan), (1000.0, 1.0),
                     (-1000.0, 0.0), (big, 1.0), (-big, 0.0), (den, 0.5)],
    }


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
def test_special_values(dtype):
    for name, cases in _special_cases(dtype).items():
        x = np.array([c[0] for c in cases], dtype=dtype)
        want = np.array([c[1] for c in cases], dtype=dtype)
        got = run(dtype, x)[name]
        for xi, g, w in zip(x, got, want):
            ok = (np.isnan(g) and np.isnan(w)) or (g == w and np.signbit(g) == np.signbit(w))
            assert ok, f"{name}[{np.dtype(dtype).name}]({xi!r}) = {g!r}, want {w!r}"
        # same as NumPy's ufunc wherever NumPy has one
        if name != "logistic":
            with np.errstate(all="ignore"):
                np.testing.assert_array_equal(got, getattr(np, name)(x))


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
def test_nan_payload_and_sign_do_not_matter(dtype):
    x = np.array([np.nan, -np.nan], dtype=dtype)
    for name, v in run(dtype, x).items():
        assert np.isnan(v).all(), name


def test_generic_front_ends():
    rng = np.random.default_rng(0)
    x32 = np.concatenate([rng.uniform(-30, 30, 999), [0.0, -0.0, np.inf, -np.inf, np.nan]]).astype(np.float32)
    x64 = x32.astype(np.float64) * 3
    xi = np.arange(-800, 800, dtype=np.int64)
    o32, o64, oi = np.empty_like(x32), np.empty_like(x64), np.empty(xi.size)
    _generic_kernel(x32, x64, xi, o32, o64, oi)
    np.testing.assert_array_equal(o32, run(np.float32, x32)["tanh"])
    np.testing.assert_array_equal(o64, run(np.float64, x64)["logistic"])
    # integers go through float64, like NumPy's ufuncs
    np.testing.assert_array_equal(oi, run(np.float64, xi.astype(np.float64))["exp"])
    with pytest.raises(TypeError):
        fm.exp(1.0)  # the generic names exist only inside jitted code


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
def test_loops_vectorize_without_libm_calls(dtype):
    kernel = _KERNELS[dtype]
    run(dtype, np.ones(4, dtype))
    ir = "\n".join(kernel.inspect_llvm().values())
    scalar = "float" if dtype == np.float32 else "double"
    # every one of the six loops has a vector body working on <N x float/double>
    assert len(re.findall(r"^vector\.body\d*:", ir, flags=re.M)) >= len(NAMES)
    assert re.search(rf"<\d+ x {scalar}>", ir)
    if dtype == np.float32:
        # no float64 anywhere: a float64 constant would have promoted the math
        assert not re.search(r"fpext|(fadd|fsub|fmul|fdiv)( \w+)* double|x double>", ir)
    calls = set(re.findall(r"call [^@\n]*@\"?([\w.$]+)", ir))
    libm = {c for c in calls if re.search(r"(^|\.)(exp|expm1|log|log1p|tanh)(f|\.|$)", c)}
    assert not libm, libm
