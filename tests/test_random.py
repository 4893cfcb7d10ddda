"""funcgrad.random, against references that are not funcgrad:

- the NumPy interpreter against compiled Numba code, bit for bit, for every
  function: called directly, inside ``fg.jit``, with traced arguments, and
  inside ``fori_loop``/``scan`` bodies that split and fold_in keys;
- ``jax.random`` (skipped without JAX) under ``jax_threefry_partitionable``
  and x64, where our construction is designed to match it bit for bit:
  ``key``, ``split``, ``fold_in``, ``bits``, ``uniform`` on [0, 1) (to 1 ulp
  with other bounds: XLA fuses JAX's multiply-add), ``bernoulli``,
  ``randint``, ``permutation``, ``choice`` without ``p`` and with an exactly
  summable ``p``. ``normal`` and weighted ``choice`` without replacement match
  JAX only in distribution, which the statistical tests check;
- statistics: means and variances within 6 standard errors, Kolmogorov–Smirnov
  statistics against exact CDFs (``math.erf`` for the normal), chi-square
  frequency checks, permutations uniform over positions and orderings,
  uncorrelated keys from ``split`` and ``fold_in``;
- the formula of Box–Muller evaluated with NumPy's own ``log`` and ``cos``;
- errors, dtypes, keys left unchanged.

Every Numba program here is compiled once per module (warm runs load them from
Numba's disk cache).
"""
import math
from fractions import Fraction

import numpy as np
import pytest

import funcgrad as fg
import funcgrad.numpy as fnp
from funcgrad.errors import DtypeError, FuncgradError, InputError, ShapeError

R = fg.random
KEY = np.array([0x243F6A88, 0x85A308D3], dtype=np.uint32)   # any key; digits of pi

P_W = np.array([0.1, 0.25, 0.0, 0.4, 0.25])
X3 = np.arange(24.0, dtype=np.float32).reshape(2, 3, 4)
LO_ROWS = np.array([[-1.0], [2.0]], dtype=np.float32)


def equal(a, b):
    a, b = np.asarray(a), np.asarray(b)
    assert a.dtype == b.dtype and a.shape == b.shape, (a.dtype, a.shape, b.dtype, b.shape)
    np.testing.assert_array_equal(a, b)


# ----------------------------------------------------------------------------- cases
# name -> function of a key; grouped into a few programs, each compiled once.

KEYS_AND_FLOATS = {
    "split": lambda k: R.split(k, 5),
    "split_shape": lambda k: R.split(k, (2, 3)),
    "fold_in": lambda k: R.fold_in(k, 2 ** 32 - 1),
    "bits_u8": lambda k: R.bits(k, (3, 5), np.uint8),
    "bits_u16": lambda k: R.bits(k, (7,), np.uint16),
    "bits_u32": lambda k: R.bits(k, (7,)),
    "bits_u64": lambda k: R.bits(k, (2, 4), np.uint64),
    "uniform": lambda k: R.uniform(k, (500,)),
    "uniform_f32_bounds": lambda k: R.uniform(k, (2, 250), np.float32, LO_ROWS, 3.0),
    "normal": lambda k: R.normal(k, (4000,)),
    "normal_f32": lambda k: R.normal(k, (3, 7), np.float32),
    "normal_0d": lambda k: R.normal(k),
    "bernoulli": lambda k: R.bernoulli(k, 0.3, (500,)),
    "bernoulli_p_f32": lambda k: R.bernoulli(k, np.array([0.0, 0.2, 0.9, 1.0], np.float32)),
    "uniform_empty": lambda k: R.uniform(k, (0, 3)),
}
INTEGERS = {
    "randint": lambda k: R.randint(k, (500,), -7, 100),
    "randint_u8_full": lambda k: R.randint(k, (500,), 0, 256, np.uint8),
    "randint_i16": lambda k: R.randint(k, (300,), -300, 1000, np.int16),
    "randint_i32_bounds": lambda k: R.randint(k, (2, 3), np.array([0, 10, -5]), np.array([[30], [100]]),
                                              np.int32),
    "randint_u32_full": lambda k: R.randint(k, (50,), 0, 2 ** 32, np.uint32),
    "randint_u64_full": lambda k: R.randint(k, (50,), 0, 2 ** 64, np.uint64),
    "randint_i64_wide": lambda k: R.randint(k, (50,), -2 ** 62, 2 ** 62 + 12345),
}
SHUFFLES = {
    "permutation": lambda k: R.permutation(k, 10),
    "permutation_axis": lambda k: R.permutation(k, X3, axis=1),
    "permutation_independent": lambda k: R.permutation(k, X3, axis=2, independent=True),
    "choice": lambda k: R.choice(k, 7, (4, 5)),
    "choice_no_replace": lambda k: R.choice(k, X3, (2,), replace=False, axis=2),
    "choice_p": lambda k: R.choice(k, 5, (300,), p=P_W),
    "choice_p_f32": lambda k: R.choice(k, 5, (300,), p=P_W.astype(np.float32)),
    "choice_p_no_replace": lambda k: R.choice(k, X3, (2,), replace=False, p=np.array([0.2, 0.5, 0.3]), axis=1),
}
GROUPS = {"keys_and_floats": KEYS_AND_FLOATS, "integers": INTEGERS, "shuffles": SHUFFLES}
CASES = {name: fn for group in GROUPS.values() for name, fn in group.items()}


def _program(cases):
    return lambda k: {name: fn(k) for name, fn in cases.items()}


NUMBA_GROUPS = {g: fg.jit(_program(cases), backend="numba") for g, cases in GROUPS.items()}
INTERPRET_GROUPS = {g: fg.jit(_program(cases), backend="interpret") for g, cases in GROUPS.items()}


@pytest.fixture(scope="module")
def compiled_outputs():
    """Every case through compiled Numba code (checked to be compiled, not
    the interpreter fallback for very large programs), and the key after it."""
    out = {}
    for group, fn in NUMBA_GROUPS.items():
        assert fn.lower(KEY).source is not None, f"{group} was not compiled by Numba"
        key = KEY.copy()
        out.update(fn(key))
        equal(key, KEY)
    return out


@pytest.mark.parametrize("name", sorted(CASES))
def test_numba_gives_the_interpreters_bits(name, compiled_outputs):
    eager = CASES[name](KEY)                       # primitives' NumPy implementations, one by one
    equal(compiled_outputs[name], eager)


@pytest.mark.parametrize("group", sorted(GROUPS))
def test_jit_interpret_gives_the_eager_bits(group):
    got = INTERPRET_GROUPS[group](KEY)
    for name, fn in GROUPS[group].items():
        equal(got[name], fn(KEY))


@pytest.mark.parametrize("name", sorted(CASES))
def test_same_key_same_numbers_and_the_key_is_not_written(name):
    key = KEY.copy()
    key.setflags(write=False)                      # an in-place write would raise
    equal(CASES[name](key), CASES[name](key))
    equal(key, KEY)


def test_dtypes_and_shapes_are_kept(compiled_outputs):
    want = {"uniform": (np.float64, (500,)), "uniform_f32_bounds": (np.float32, (2, 250)),
            "normal_f32": (np.float32, (3, 7)), "normal_0d": (np.float64, ()), "bits_u8": (np.uint8, (3, 5)),
            "bits_u64": (np.uint64, (2, 4)), "bernoulli": (np.bool_, (500,)), "randint_i16": (np.int16, (300,)),
            "randint_u8_full": (np.uint8, (500,)), "randint_u64_full": (np.uint64, (50,)),
            "split_shape": (np.uint32, (2, 3, 2)), "permutation_axis": (np.float32, (2, 3, 4)),
            "choice": (np.int64, (4, 5)), "choice_no_replace": (np.float32, (2, 3, 2)),
            "choice_p_no_replace": (np.float32, (2, 2, 4)), "uniform_empty": (np.float64, (0, 3))}
    for name, (dtype, shape) in want.items():
        for got in (CASES[name](KEY), compiled_outputs[name]):
            assert np.asarray(got).dtype == np.dtype(dtype) and np.shape(got) == shape, name


# ----------------------------------------------------------------------------- traced arguments

def _traced(k, seed, seed32, data, lo, hi, p, ilo, ihi, weights):
    out = {
        "key": R.key(seed), "key32": R.key(seed32), "fold_in": R.fold_in(k, data),
        "uniform": R.uniform(k, (100,), np.float32, lo, hi), "bernoulli": R.bernoulli(k, p, (100,)),
        "randint": R.randint(k, (100,), ilo, ihi), "randint_u8": R.randint(k, (100,), ilo, ihi, np.uint8),
        "choice": R.choice(k, 5, (50,), p=weights),
    }
    if not isinstance(ihi, (np.ndarray, np.generic)):
        # traced bounds with maxval <= minval give minval, as JAX (concrete ones are an error)
        out["randint_empty"] = R.randint(k, (5,), ihi, ilo)
    return out


TRACED_ARGS = (KEY, np.int64(-5), np.int32(-5), np.uint32(77), np.float32(-2.0), np.float32(0.5), 0.25,
               np.int64(-20), np.int64(300), P_W)
traced_numba = fg.jit(_traced, backend="numba")
traced_interpret = fg.jit(_traced, backend="interpret")


def test_traced_arguments_give_the_numbers_of_concrete_ones():
    concrete = _traced(*TRACED_ARGS)
    for got in (traced_interpret(*TRACED_ARGS), traced_numba(*TRACED_ARGS)):
        for name in concrete:
            equal(got[name], concrete[name])
        equal(got["randint_empty"], np.full(5, 300))
    equal(concrete["key"], R.key(-5))
    equal(concrete["key"], np.array([2 ** 32 - 1, 2 ** 32 - 5], np.uint32))   # 64-bit seed: two words
    equal(concrete["key32"], np.array([0, 2 ** 32 - 5], np.uint32))            # 32-bit seed: (0, seed)
    u8 = concrete["randint_u8"]
    assert u8.dtype == np.uint8 and u8.min() >= 0 and u8.max() <= 255      # bounds clipped to uint8


# ----------------------------------------------------------------------------- inside loops

def epoch_fori(key, x):
    """A compiled 'epoch': each step shuffles the rows, takes a batch, applies
    an inverted-dropout mask; keys are split and fold_in'ed in the body."""
    def body(i, carry):
        key, total = carry
        keys = R.split(key)
        key, sub = keys[0], keys[1]
        perm = R.permutation(R.fold_in(sub, 0), x.shape[0])
        batch = fnp.take(x, perm[:4], axis=0)
        mask = R.bernoulli(R.fold_in(sub, i), 0.75, batch.shape)
        noise = R.normal(R.fold_in(R.key(i), 1), batch.shape, np.float32)
        return key, total + fnp.where(mask, batch / 0.75, 0.0) + 0.01 * noise
    return fg.fori_loop(0, 5, body, (key, fnp.zeros((4, x.shape[1]), x.dtype)))


def epoch_fori_unrolled(key, x):
    total = np.zeros((4, x.shape[1]), x.dtype)
    for i in range(5):
        keys = R.split(key)
        key, sub = keys[0], keys[1]
        batch = x[R.permutation(R.fold_in(sub, 0), x.shape[0])[:4]]
        mask = R.bernoulli(R.fold_in(sub, i), 0.75, batch.shape)
        noise = R.normal(R.fold_in(R.key(i), 1), batch.shape, np.float32)
        total = total + np.where(mask, batch / np.float32(0.75), np.float32(0)) + np.float32(0.01) * noise
    return key, total


def _scan_step(key, x):
    keys = R.split(key)
    key, sub = keys[0], keys[1]
    p = np.array([0.5, 0.25, 0.0, 0.25])
    return key, (R.uniform(sub, (3,), np.float32) + x,
                 R.randint(R.fold_in(sub, 1), (2,), 0, 10),
                 R.choice(R.fold_in(sub, 2), 6, (3,), replace=False),
                 R.choice(R.fold_in(sub, 3), 4, (2,), p=p),
                 R.choice(R.fold_in(sub, 4), 4, (2,), replace=False, p=p),
                 R.bits(R.fold_in(sub, 5), (2,), np.uint64))


def epoch_scan(key, xs):
    return fg.scan(_scan_step, key, xs)


def epoch_scan_unrolled(key, xs):
    ys = []
    for x in xs:
        key, y = _scan_step(key, x)            # called eagerly: concrete keys, NumPy throughout
        ys.append(y)
    return key, tuple(np.stack(col) for col in zip(*ys))


LOOP_X = np.arange(30, dtype=np.float32).reshape(10, 3)
LOOP_XS = np.linspace(0, 1, 15, dtype=np.float32).reshape(5, 3)
LOOPS = {"fori": (epoch_fori, epoch_fori_unrolled, LOOP_X), "scan": (epoch_scan, epoch_scan_unrolled, LOOP_XS)}
LOOPS_NUMBA = {name: fg.jit(fn, backend="numba") for name, (fn, _, _) in LOOPS.items()}


@pytest.mark.parametrize("name", sorted(LOOPS))
def test_keys_split_and_folded_in_loop_bodies(name):
    fn, unrolled, x = LOOPS[name]
    # a Python loop with concrete step numbers, its float32 arithmetic NumPy's: the same bits
    want = unrolled(KEY, x)
    for got in (fn(KEY, x), fg.jit(fn, backend="interpret")(KEY, x), LOOPS_NUMBA[name](KEY, x)):
        assert len(fg.tree.leaves(got)) == len(fg.tree.leaves(want))
        for g, w in zip(fg.tree.leaves(got), fg.tree.leaves(want)):
            equal(g, w)


# ----------------------------------------------------------------------------- construction

def test_independent_permutation_shuffles_each_slice():
    y = R.permutation(KEY, X3, axis=2, independent=True)
    equal(np.sort(y, axis=2), X3)
    assert len({tuple(row) for row in y.reshape(6, 4).argsort(axis=1)}) > 1   # not one shared order


def test_elements_depend_only_on_key_and_index():
    equal(R.bits(KEY, (10,))[:4], R.bits(KEY, (4,)))
    equal(R.bits(KEY, (2, 3), np.uint64).ravel(), R.bits(KEY, (6,), np.uint64))
    equal(R.normal(KEY, (2, 3)).ravel(), R.normal(KEY, (6,)))
    equal(R.uniform(KEY, (9,))[:5], R.uniform(KEY, (5,)))
    equal(R.split(KEY, 3), np.stack([R.split(KEY, 5)[i] for i in range(3)]))


def test_uniform_is_the_top_mantissa_bits():
    b32 = R.bits(KEY, (100,), np.uint32)
    b64 = R.bits(KEY, (100,), np.uint64)
    equal(R.uniform(KEY, (100,), np.float32), (b32 >> np.uint32(9)).astype(np.float32) * np.float32(2.0 ** -23))
    equal(R.uniform(KEY, (100,)), (b64 >> np.uint64(12)).astype(np.float64) * 2.0 ** -52)
    lo, hi = -3.0, 5.0
    u = R.uniform(KEY, (100,))
    equal(R.uniform(KEY, (100,), minval=lo, maxval=hi), np.maximum(lo, u * (hi - lo) + lo))


def test_normal_is_box_muller_of_its_two_uniforms():
    k1, k2 = R.split(KEY)
    u1 = R.uniform(k1, (20000,))
    u2 = R.uniform(k2, (20000,))
    want = np.sqrt(-2 * np.log1p(-u1)) * np.cos(2 * np.pi * u2)      # NumPy's log and cos
    got = R.normal(KEY, (20000,))
    np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-14)


def test_threefry_known_answer():
    # Salmon et al.'s Random123 known-answer test for Threefry-2x32, 20 rounds
    from funcgrad.primitives import threefry2x32

    y0, y1 = threefry2x32(np.uint32(0x13198a2e), np.uint32(0x03707344),
                          np.uint32(0x243f6a88), np.uint32(0x85a308d3))
    assert (int(y0), int(y1)) == (0xc4923a9c, 0x483df7a0)
    y0, y1 = threefry2x32(np.uint32(0), np.uint32(0), np.uint32(0), np.uint32(0))
    assert (int(y0), int(y1)) == (0x6b200159, 0x99ba4efe)


# ----------------------------------------------------------------------------- JAX

@pytest.fixture(scope="module")
def jr():
    jax = pytest.importorskip("jax")
    old = {name: getattr(jax.config, name) for name in ("jax_enable_x64", "jax_threefry_partitionable")}
    jax.config.update("jax_enable_x64", True)
    jax.config.update("jax_threefry_partitionable", True)
    yield jax.random
    for name, value in old.items():
        jax.config.update(name, value)


SEEDS = [0, 1, 42, 2 ** 32 + 5, -1, 2 ** 63 - 1]


@pytest.mark.parametrize("seed", SEEDS)
def test_key_split_fold_in_bits_match_jax(jr, seed):
    k, jk = R.key(seed), jr.PRNGKey(seed)
    equal(k, np.asarray(jk))
    equal(R.split(k, 5), np.asarray(jr.split(jk, 5)))
    equal(R.split(k, (2, 3)), np.asarray(jr.split(jk, (2, 3))))
    for data in (0, 7, 2 ** 32 - 1):
        equal(R.fold_in(k, data), np.asarray(jr.fold_in(jk, data)))
    for dtype in (np.uint8, np.uint16, np.uint32, np.uint64):
        equal(R.bits(k, (3, 5), dtype), np.asarray(jr.bits(jk, (3, 5), dtype)))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_uniform_and_bernoulli_match_jax(jr, dtype):
    k, jk = R.key(7), jr.PRNGKey(7)
    equal(R.uniform(k, (1000,), dtype), np.asarray(jr.uniform(jk, (1000,), dtype)))
    p = np.asarray(0.3, dtype)
    equal(R.bernoulli(k, p, (1000,)), np.asarray(jr.bernoulli(jk, p, (1000,))))
    # other bounds: u * 5 - 2 rounded twice here, and by JAX on CPU once (XLA fuses the
    # multiply-add): each of JAX's numbers is ours or the once-rounded one, exactly
    u = R.uniform(k, (1000,), dtype)
    got = R.uniform(k, (1000,), dtype, -2.0, 3.0)
    want = np.asarray(jr.uniform(jk, (1000,), dtype, -2.0, 3.0))
    fused = np.array([float(Fraction(float(x)) * 5 - 2) for x in u], dtype)   # exact, then one rounding
    assert got.dtype == want.dtype
    assert np.all((want == got) | (want == fused))


RANDINT_CASES = [(np.int64, -5, 100), (np.int64, 0, 2 ** 62 + 3), (np.int64, -2 ** 63, 2 ** 63 - 1),
                 (np.int32, -2 ** 31, 2 ** 31), (np.uint32, 0, 2 ** 32), (np.int16, -40000, 40000),
                 (np.uint16, 0, 65536), (np.uint8, 0, 256), (np.uint8, 250, 1000), (np.int8, -5, 100)]


@pytest.mark.parametrize("dtype,lo,hi", RANDINT_CASES)
def test_randint_matches_jax(jr, dtype, lo, hi):
    k, jk = R.key(11), jr.PRNGKey(11)
    equal(R.randint(k, (300,), lo, hi, dtype), np.asarray(jr.randint(jk, (300,), lo, hi, dtype)))


def test_randint_uint64_and_array_bounds_match_jax(jr):
    k, jk = R.key(11), jr.PRNGKey(11)
    for lo, hi in [(np.uint64(5), np.uint64(2 ** 64 - 7)), (np.uint64(0), np.uint64(2 ** 64 - 1))]:
        equal(R.randint(k, (300,), lo, hi, np.uint64), np.asarray(jr.randint(jk, (300,), lo, hi, np.uint64)))
    lo, hi = np.array([0, 10, -5]), np.array([[30], [100]])
    equal(R.randint(k, (2, 3), lo, hi), np.asarray(jr.randint(jk, (2, 3), lo, hi)))


@pytest.mark.parametrize("seed", [0, 3])
def test_permutation_and_choice_match_jax(jr, seed):
    k, jk = R.key(seed), jr.PRNGKey(seed)
    for n in (5, 2000):                  # 1 and 2 rounds of sorting
        equal(R.permutation(k, n), np.asarray(jr.permutation(jk, n)))
    x = np.arange(24).reshape(2, 3, 4)
    for axis in (0, 2):
        equal(R.permutation(k, x, axis), np.asarray(jr.permutation(jk, x, axis)))
    for axis in (1, 2):
        equal(R.permutation(k, x, axis, independent=True),
              np.asarray(jr.permutation(jk, x, axis, independent=True)))
    equal(R.choice(k, 10, (5,)), np.asarray(jr.choice(jk, 10, (5,))))
    equal(R.choice(k, 10, (2, 3), replace=False), np.asarray(jr.choice(jk, 10, (2, 3), replace=False)))
    equal(R.choice(k, x, (2, 2), axis=1), np.asarray(jr.choice(jk, x, (2, 2), axis=1)))
    equal(R.choice(k, x, (3,), replace=False, axis=2), np.asarray(jr.choice(jk, x, (3,), replace=False, axis=2)))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_weighted_choice_matches_jax_when_sums_are_exact(jr, dtype):
    # p of multiples of 2**-3: every cumulative sum is exact, in any order
    p = np.array([0.25, 0.0, 0.125, 0.5, 0.125], dtype)
    k, jk = R.key(5), jr.PRNGKey(5)
    equal(R.choice(k, 5, (2000,), p=p), np.asarray(jr.choice(jk, 5, (2000,), p=p)))


# ----------------------------------------------------------------------------- statistics

N = 100_000


def assert_mean_var(x, mean, var, fourth_central=None):
    """Sample mean and variance within 6 standard errors of the exact ones."""
    n = x.size
    x = np.asarray(x, np.float64)
    assert abs(x.mean() - mean) < 6 * math.sqrt(var / n), (x.mean(), mean)
    if fourth_central is not None:     # Var(s^2) ~ (mu4 - var^2) / n
        assert abs(x.var() - var) < 6 * math.sqrt((fourth_central - var ** 2) / n), (x.var(), var)


def assert_ks(x, cdf):
    """The Kolmogorov-Smirnov statistic, sqrt(n) * D below 1.95 (p = 0.001)."""
    x = np.sort(np.asarray(x, np.float64))
    n = x.size
    c = cdf(x)
    d = max(np.max(np.arange(1, n + 1) / n - c), np.max(c - np.arange(n) / n))
    assert math.sqrt(n) * d < 1.95, math.sqrt(n) * d


def assert_frequencies(counts, probs):
    """Pearson's chi-square of observed counts against expected ones, its upper
    tail below 5 standard normal deviations (p = 3e-7) by the Wilson-Hilferty
    approximation (chi2 / df) ** (1/3) ~ N(1 - 2 / (9 df), 2 / (9 df)). Cells
    of probability 0 must be empty."""
    counts, probs = np.asarray(counts, np.float64).ravel(), np.asarray(probs, np.float64).ravel()
    assert np.all(counts[probs == 0] == 0)
    expected = counts.sum() * probs[probs > 0]
    chi2 = np.sum((counts[probs > 0] - expected) ** 2 / expected)
    df = np.count_nonzero(probs) - 1
    if df == 0:
        return
    z = ((chi2 / df) ** (1 / 3) - (1 - 2 / (9 * df))) / math.sqrt(2 / (9 * df))
    assert z < 5, (chi2, df, z)


def normal_cdf(x):
    return 0.5 * (1 + np.vectorize(math.erf)(x / math.sqrt(2)))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_uniform_statistics(dtype):
    u = R.uniform(R.key(1), (N,), dtype)
    assert u.dtype == dtype and u.min() >= 0 and u.max() < 1
    assert_mean_var(u, 0.5, 1 / 12, 1 / 80)
    assert_ks(u, lambda x: x)
    v = R.uniform(R.key(2), (N,), dtype, -3.0, 5.0)
    assert v.min() >= -3 and v.max() < 5
    assert_mean_var(v, 1.0, 64 / 12, 8 ** 4 / 80)
    assert_ks(v, lambda x: (x + 3) / 8)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_normal_statistics(dtype):
    z = R.normal(R.key(3), (N,), dtype)
    assert z.dtype == dtype and np.all(np.isfinite(z))
    assert_mean_var(z, 0.0, 1.0, 3.0)
    assert_ks(z, normal_cdf)
    # tails: P(|z| > 3) = 0.0027, within 6 binomial standard errors
    tail = 2 * (1 - normal_cdf(np.array(3.0)))
    assert abs(np.mean(np.abs(z) > 3) - tail) < 6 * math.sqrt(tail / N)


def test_bits_are_fair_coins():
    for dtype, width in ((np.uint32, 32), (np.uint64, 64), (np.uint8, 8)):
        b = R.bits(R.key(4), (20000,), dtype)
        ones = np.array([np.mean((b >> dtype(i)) & dtype(1)) for i in range(width)])
        assert np.all(np.abs(ones - 0.5) < 6 * math.sqrt(0.25 / b.size)), ones


@pytest.mark.parametrize("p", [0.0, 0.01, 0.3, 0.5, 0.97, 1.0])
def test_bernoulli_frequency(p):
    b = R.bernoulli(R.key(5), p, (N,))
    assert b.dtype == np.bool_
    assert_frequencies([np.sum(~b), np.sum(b)], [1 - p, p])


def test_bernoulli_elementwise_p():
    p = np.array([0.1, 0.5, 0.9], np.float32)
    b = R.bernoulli(R.key(6), p, (N // 3, 3))
    for j in range(3):
        assert_frequencies([np.sum(~b[:, j]), np.sum(b[:, j])], [1 - p[j], p[j]])


@pytest.mark.parametrize("dtype,lo,hi", [(np.int64, -3, 7), (np.int32, 0, 3), (np.uint8, 0, 256),
                                         (np.int16, -1000, -990), (np.int64, 0, 1)])
def test_randint_frequency(dtype, lo, hi):
    r = R.randint(R.key(7), (N,), lo, hi, dtype)
    assert r.dtype == dtype and r.min() == lo and r.max() == hi - 1
    counts = np.bincount((r.astype(np.int64) - lo), minlength=hi - lo)
    assert_frequencies(counts, np.full(hi - lo, 1 / (hi - lo)))


def test_randint_large_span_is_uniform():
    # a span near 2**62: uniform by deciles (the algorithm's bias is about span / 2**128)
    hi = 2 ** 62 + 12345
    r = R.randint(R.key(8), (N,), 0, hi)
    assert r.min() >= 0 and r.max() < hi
    assert_ks(r.astype(np.float64), lambda x: x / hi)


def _many(fn, count, *shape_dtype):
    """``fn(fold_in(KEY, i))`` for i < count, stacked: one compiled scan."""
    run = fg.jit(lambda key: fg.scan(lambda c, i: (c, fn(R.fold_in(key, i))), 0, fnp.arange(count))[1],
                 backend="numba")
    return np.asarray(run(KEY))


def test_permutations_are_permutations_uniform_over_positions_and_orderings():
    perms = _many(lambda k: R.permutation(k, 5), 24000)
    assert np.all(np.sort(perms, axis=1) == np.arange(5))
    # each value equally likely at each position
    counts = np.zeros((5, 5))
    for pos in range(5):
        counts[:, pos] = np.bincount(perms[:, pos], minlength=5)
    for value in range(5):
        assert_frequencies(counts[value], np.full(5, 0.2))
    # each of the 120 orderings equally likely
    codes = perms @ (5 ** np.arange(5))
    _, counts = np.unique(codes, return_counts=True)
    assert counts.size == 120
    assert_frequencies(counts, np.full(120, 1 / 120))


def test_choice_with_replacement_frequency():
    c = R.choice(R.key(9), 6, (N,))
    assert_frequencies(np.bincount(c, minlength=6), np.full(6, 1 / 6))
    for dtype in (np.float64, np.float32):
        c = R.choice(R.key(10), 5, (N,), p=P_W.astype(dtype) * 3)      # weights need not sum to 1
        assert_frequencies(np.bincount(c, minlength=5), P_W)


def test_choice_without_replacement_frequencies():
    # uniform: distinct draws, each entry drawn with probability k / n
    draws = _many(lambda k: R.choice(k, 6, (3,), replace=False), 20000)
    assert np.all(np.diff(np.sort(draws, axis=1), axis=1) > 0)
    assert_frequencies(np.bincount(draws.ravel(), minlength=6), np.full(6, 1 / 6))
    # weighted: the first draw ~ p, the second ~ sum_i p_i p_j / (1 - p_i), never an entry of weight 0
    p = np.array([0.1, 0.2, 0.0, 0.3, 0.4])
    draws = _many(lambda k: R.choice(k, 5, (2,), replace=False, p=p), 20000)
    assert np.all(draws[:, 0] != draws[:, 1])
    assert_frequencies(np.bincount(draws[:, 0], minlength=5), p)
    second = np.array([sum(p[i] * p[j] / (1 - p[i]) for i in range(5) if i != j) for j in range(5)])
    assert_frequencies(np.bincount(draws[:, 1], minlength=5), second)


def test_split_and_fold_in_keys_are_uncorrelated():
    k1, k2 = R.split(R.key(12))
    pairs = [(R.normal(k1, (N,)), R.normal(k2, (N,))),
             (R.normal(R.fold_in(KEY, 0), (N,)), R.normal(R.fold_in(KEY, 1), (N,))),
             (R.uniform(R.key(0), (N,)), R.uniform(R.key(1), (N,)))]
    z = R.normal(KEY, (N + 1,))
    pairs.append((z[:-1], z[1:]))                      # neighbours in one array
    for a, b in pairs:
        assert abs(np.corrcoef(a, b)[0, 1]) < 6 / math.sqrt(N)
    keys = R.split(KEY, 1000)
    assert len({tuple(k) for k in keys}) == 1000


# ----------------------------------------------------------------------------- gradients

def test_gradients_flow_through_bounds_not_bits():
    u = R.uniform(KEY, (5,))
    g_lo, g_hi = fg.grad(lambda lo, hi: R.uniform(KEY, (5,), minval=lo, maxval=hi).sum(), argnums=(0, 1))(0.5, 2.0)
    np.testing.assert_allclose([g_lo, g_hi], [np.sum(1 - u), np.sum(u)], rtol=1e-12)
    g = fg.grad(lambda s: (s * R.normal(KEY, (5,), np.float32)).sum())(np.float32(2.0))
    assert g.dtype == np.float32
    np.testing.assert_allclose(g, R.normal(KEY, (5,), np.float32).sum(), rtol=1e-6)


# ----------------------------------------------------------------------------- errors

BAD = [
    (lambda: R.normal(np.zeros(3, np.uint32)), ShapeError, ["random.normal", "u32[3]"]),
    (lambda: R.split(R.split(KEY, 4)), ShapeError, ["random.split", "u32[4,2]", "keys[0]"]),
    (lambda: R.uniform(np.array([1, 2])), DtypeError, ["random.uniform", "i64[2]"]),
    (lambda: R.bits(0), DtypeError, ["random.bits", "key(seed)"]),
    (lambda: R.fold_in(KEY.astype(np.float32), 1), DtypeError, ["random.fold_in", "f32[2]"]),
    (lambda: R.key(1.5), DtypeError, ["random.key", "float64"]),
    (lambda: R.key(True), DtypeError, ["random.key"]),
    (lambda: R.key(2 ** 64), InputError, ["random.key", "64 bits"]),
    (lambda: R.fold_in(KEY, 1.0), DtypeError, ["random.fold_in", "integer"]),
    (lambda: R.normal(KEY, (3, -1)), ShapeError, ["random.normal", "(3, -1)"]),
    (lambda: R.split(KEY, -2), ShapeError, ["random.split", "negative"]),
    (lambda: R.uniform(KEY, (2.5,)), InputError, ["random.uniform", "2.5"]),
    (lambda: R.uniform(KEY, (3,), np.int32), DtypeError, ["random.uniform", "int32"]),
    (lambda: R.normal(KEY, (3,), np.float16), DtypeError, ["random.normal", "float16"]),
    (lambda: R.bits(KEY, (3,), np.int32), DtypeError, ["random.bits", "int32"]),
    (lambda: R.uniform(KEY, (3,), minval=np.zeros(2)), ShapeError, ["random.uniform", "(2,)", "(3,)"]),
    (lambda: R.randint(KEY, (3,), 5, 5), InputError, ["random.randint", "[5, 5)", "int64"]),
    (lambda: R.randint(KEY, (3,), 7, 2), InputError, ["random.randint", "[7, 2)"]),
    (lambda: R.randint(KEY, (3,), 300, 400, np.uint8), InputError, ["random.randint", "uint8", "[300, 400)"]),
    (lambda: R.randint(KEY, (2,), np.array([0, 4]), 4), InputError, ["random.randint", "[4, 4)", "index 1"]),
    (lambda: R.randint(KEY, (3,), 0.0, 5), DtypeError, ["random.randint", "minval", "float64"]),
    (lambda: R.randint(KEY, (3,), 0, 5, np.float32), DtypeError, ["random.randint", "float32"]),
    (lambda: R.bernoulli(KEY, 1.5), InputError, ["random.bernoulli", "[0, 1]", "1.5"]),
    (lambda: R.bernoulli(KEY, np.array([0.5, -0.1])), InputError, ["random.bernoulli", "-0.1"]),
    (lambda: R.bernoulli(KEY, np.nan), InputError, ["random.bernoulli", "nan"]),
    (lambda: R.bernoulli(KEY, np.full(3, 0.5), (4,)), ShapeError, ["random.bernoulli", "(3,)", "(4,)"]),
    (lambda: R.choice(KEY, 5, (6,), replace=False), ShapeError, ["random.choice", "6 samples", "population of 5"]),
    (lambda: R.choice(KEY, np.zeros((2, 3)), (4,), replace=False, axis=1), ShapeError,
     ["random.choice", "4 samples", "population of 3"]),
    (lambda: R.choice(KEY, 0, (2,)), ShapeError, ["random.choice", "empty population"]),
    (lambda: R.choice(KEY, 5, (2,), p=np.ones(4)), ShapeError, ["random.choice", "(5,)", "f64[4]"]),
    (lambda: R.choice(KEY, 3, (2,), p=np.array([0.5, -0.5, 1.0])), InputError, ["random.choice", "non-negative"]),
    (lambda: R.choice(KEY, 3, (2,), p=np.zeros(3)), InputError, ["random.choice", "positive sum"]),
    (lambda: R.choice(KEY, 3, (2,), replace=False, p=np.array([1.0, 0.0, 0.0])), InputError,
     ["random.choice", "2 samples", "1 of the 3"]),
    (lambda: R.choice(KEY, np.zeros((2, 3)), (1,), axis=2), ShapeError, ["random.choice", "axis 2"]),
    (lambda: R.permutation(KEY, -1), ShapeError, ["random.permutation", "-1"]),
    (lambda: R.permutation(KEY, np.zeros((2, 3)), axis=-3), ShapeError, ["random.permutation", "axis -3"]),
    (lambda: fg.jit(lambda k: R.normal(k, (2,)))(np.zeros(4, np.uint32)), ShapeError,
     ["random.normal", "u32[4]"]),
    (lambda: fg.jit(lambda n: R.permutation(KEY, n))(5), InputError, ["random.permutation", "static"]),
    (lambda: fg.jit(lambda s: R.key(s))(1.0), DtypeError, ["random.key", "f64"]),
]


@pytest.mark.parametrize("i", range(len(BAD)))
def test_errors_name_the_function_and_the_values(i):
    call, exc, words = BAD[i]
    with pytest.raises(exc) as info:
        call()
    assert isinstance(info.value, FuncgradError)
    message = info.value.bare_message
    for word in words:
        assert word in message, (word, message)


def test_empty_requests():
    assert R.normal(KEY, (0,)).shape == (0,)
    assert R.split(KEY, 0).shape == (0, 2)
    assert R.choice(KEY, 0, (0,)).shape == (0,)
    assert R.choice(KEY, X3, (0,), axis=1).shape == (2, 0, 4)
    equal(R.permutation(KEY, np.zeros((0, 3))), np.zeros((0, 3)))
    equal(R.permutation(KEY, 0), np.zeros(0, np.int64))
