"""Every differentiable function of ``funcgrad.numpy`` against finite differences.

Each case is written once as ``fn(m, *args)`` where ``m`` is a NumPy-like
namespace: ``funcgrad.numpy`` for the function under test, plain NumPy (plus
``logsumexp``/``one_hot`` written here) for the reference. Finite differences
(float64, fourth-order central stencil, see ``fd.py``) are taken on the NumPy
reference, so neither the gradients nor the forward values compared come
from funcgrad. Non-differentiable points (ties, kinks, domain edges) are kept
away from the inputs; ties, zeros and other special points are tested
separately against formulas written by hand.
"""
import os
import sys
import zlib

import numpy as np
import pytest

import funcgrad as fg
import funcgrad.numpy as fnp

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fd import check_grads, numerical_grad, rel_error  # noqa: E402


# ----------------------------------------------------------------------------- reference namespace

class _NumpyRef:
    """NumPy, plus the non-NumPy functions of funcgrad.numpy written independently."""

    def __getattr__(self, name):
        return getattr(np, name)

    @staticmethod
    def logsumexp(a, axis=None, keepdims=False):
        m = np.max(a, axis=axis, keepdims=True)
        out = np.log(np.sum(np.exp(a - m), axis=axis, keepdims=True)) + m
        return out if keepdims else np.squeeze(out, axis=axis)

    @staticmethod
    def one_hot(labels, k, dtype=np.float64):
        labels = np.asarray(labels)
        return (labels[..., None] == np.arange(k)).astype(dtype)


NP = _NumpyRef()


def check(fn, *args, argnums=0, **kw):
    """check_grads of ``fn(fnp, ...)`` against finite differences of ``fn(NP, ...)``."""
    return check_grads(lambda *a: fn(fnp, *a), args, argnums,
                       ref=lambda *a: fn(NP, *a), **kw)


def rng_for(*key):
    return np.random.default_rng(zlib.crc32(repr(key).encode()))


def gen(shape, kind="any", key=()):
    """float64 test inputs in a function's domain."""
    rng = rng_for(shape, kind, *key)
    size = int(np.prod(shape, dtype=np.int64))
    if kind == "any":
        x = rng.uniform(-1.5, 1.5, size)
    elif kind == "pos":        # log, sqrt, denominators, power bases
        x = rng.uniform(0.5, 2.0, size)
    elif kind == "unit":       # arcsin, arccos, tan: |x| < 1
        x = rng.uniform(-0.85, 0.85, size)
    elif kind == "sep":        # distinct, >= 0.1 apart, >= 0.025 from 0 (max/min/abs/where): 0.025 mod 0.1
        x = (rng.permutation(np.arange(2 * size + 2))[:size] - (size + 1)) * 0.1 + 0.025
    elif kind == "sep2":       # 0.075 mod 0.1: >= 0.05 from every "sep" value, never a tie with one
        x = (rng.permutation(np.arange(2 * size + 2))[:size] - (size + 1)) * 0.1 + 0.075
    elif kind == "frac":       # away from integers and half-integers (floor, ceil, round)
        x = rng.integers(-3, 3, size) + rng.choice([0.15, 0.3, 0.65, 0.8], size)
    elif kind == "nonzero":    # away from 0, either sign (prod, reciprocal)
        x = rng.uniform(0.5, 1.5, size) * rng.choice([-1.0, 1.0], size)
    else:
        raise ValueError(kind)
    return x.reshape(shape)


# ----------------------------------------------------------------------------- unary elementwise

UNARY = [  # (name, domain)
    ("negative", "any"), ("exp", "any"), ("exp2", "any"), ("log", "pos"), ("log2", "pos"),
    ("log10", "pos"), ("log1p", "pos"), ("expm1", "any"), ("sqrt", "pos"), ("square", "any"),
    ("reciprocal", "nonzero"), ("sin", "any"), ("cos", "any"), ("tan", "unit"), ("arcsin", "unit"),
    ("arccos", "unit"), ("arctan", "any"), ("sinh", "any"), ("cosh", "any"), ("tanh", "any"),
    ("abs", "sep"), ("absolute", "sep"),
]
UNARY_SHAPES = [(), (1,), (5,), (3, 4), (2, 1, 3)]


@pytest.mark.parametrize("shape", UNARY_SHAPES, ids=str)
@pytest.mark.parametrize("name,domain", UNARY, ids=[n for n, _ in UNARY])
def test_unary(name, domain, shape):
    x = gen(shape, domain, (name,))
    check(lambda m, x: getattr(m, name)(x), x)


@pytest.mark.parametrize("name", ["log1p"])
def test_log1p_negative_inputs(name):
    x = np.array([-0.6, -0.3, 0.2, 1.7])
    check(lambda m, x: m.log1p(x), x)


def test_unary_composed():
    """A chain of unary functions (second-order terms in the chain rule)."""
    x = gen((3, 4), "unit")
    check(lambda m, x: m.sin(m.exp(x)) * m.tanh(m.arctan(x)) + m.sqrt(m.cosh(x)) / m.log1p(m.square(x) + 1), x)


@pytest.mark.parametrize("name", ["floor", "ceil", "rint", "round", "sign"])
@pytest.mark.parametrize("shape", [(), (5,), (2, 3)], ids=str)
def test_piecewise_constant_zero_gradient(name, shape):
    x = gen(shape, "frac", (name,))
    fn = getattr(fnp, name)
    g = fg.grad(lambda x: fnp.sum(fn(x)))(x)
    assert g.dtype == x.dtype and g.shape == x.shape
    np.testing.assert_array_equal(g, np.zeros(shape))
    # composed: d/dx [x * floor(x) + x] = floor(x) + 1, by finite differences too
    check(lambda m, x: x * getattr(m, name)(x) + x, x)


def test_remainder_and_floor_divide():
    """x % y = x - floor(x / y) * y: d/dx = 1, d/dy = -floor(x / y); x // y has zero gradient."""
    x = np.array([[5.3, -2.2, 0.7], [7.9, -6.1, 3.3]])
    y = np.array([2.0, 1.5, -0.9])
    check(lambda m, x, y: m.remainder(x, y), x, y, argnums=(0, 1))
    check(lambda m, x, y: x % y, x, y, argnums=(0, 1))
    check(lambda m, x, y: m.floor_divide(x, y) * x, x, y, argnums=(0, 1))


# ----------------------------------------------------------------------------- binary elementwise

BINARY = [  # (name, domain of x1, domain of x2)
    ("add", "any", "any"), ("subtract", "any", "any"), ("multiply", "any", "any"),
    ("divide", "any", "nonzero"), ("power", "pos", "any"), ("arctan2", "any", "pos"),
    ("arctan2", "nonzero", "any"), ("maximum", "sep", "sep2"), ("minimum", "sep", "sep2"),
]
BINARY_SHAPES = [((3, 4), (3, 4)), ((3, 4), (4,)), ((4,), (3, 4)), ((3, 1), (1, 4)), ((), (3,)),
                 ((2, 3), ()), ((), ()), ((1,), (2, 3)), ((2, 1, 3), (4, 1))]


@pytest.mark.parametrize("shapes", BINARY_SHAPES, ids=str)
@pytest.mark.parametrize("name,d1,d2", BINARY, ids=[f"{n}-{a}-{b}" for n, a, b in BINARY])
def test_binary(name, d1, d2, shapes):
    x = gen(shapes[0], d1, (name, 1))
    y = gen(shapes[1], d2, (name, 2))
    check(lambda m, x, y: getattr(m, name)(x, y), x, y, argnums=(0, 1))


@pytest.mark.parametrize("op", ["+", "-", "*", "/", "**"])
def test_binary_operators(op):
    x = gen((3, 4), "pos", (op,))
    y = gen((4,), "pos", (op, 2))
    fn = eval(f"lambda m, x, y: x {op} y")
    check(fn, x, y, argnums=(0, 1))
    check(eval(f"lambda m, x, y: y {op} x"), x, y, argnums=(0, 1))


SCALAR_EXPRS = [
    "x * 2.0", "2.0 * x", "x + 1", "1 + x", "x - 1.5", "1.5 - x", "x / 3", "3 / x", "-x",
    "x ** 2", "x ** 3", "x ** -1", "x ** -2", "x ** 0.5", "x ** 1.5", "x ** 1", "x ** 2.0",
    "2.0 ** x", "m.power(x, 3)", "m.power(x, 0.5)", "m.power(x, -1)",
]


@pytest.mark.parametrize("shape", [(), (4,), (2, 3)], ids=str)
@pytest.mark.parametrize("expr", SCALAR_EXPRS)
def test_python_scalar_operands(expr, shape):
    domain = "pos" if ("0.5" in expr or "1.5" in expr or "/ x" in expr or "-1" in expr or "-2" in expr) else "any"
    x = gen(shape, domain, (expr,))
    check(eval(f"lambda m, x: {expr}"), x)


@pytest.mark.parametrize("n", [2, 3, -1, -3])
def test_integer_power_negative_base(n):
    """Static integer exponents are differentiable at negative bases (no log)."""
    x = -gen((5,), "pos", (n,))
    check(lambda m, x: x ** n, x)
    check(lambda m, x: m.power(x, n), x)


def test_power_zero_exponent():
    x = gen((4,), "any")
    for fn in (lambda x: fnp.sum(x ** 0), lambda x: fnp.sum(fnp.power(x, 0)), lambda x: fnp.sum(x ** 0.0)):
        g = fg.grad(fn)(x)
        np.testing.assert_array_equal(g, np.zeros(4))
    # and x**0 * x == x: the gradient is exactly one
    np.testing.assert_array_equal(fg.grad(lambda x: fnp.sum(x ** 0 * x))(x), np.ones(4))


def test_power_array_exponent_at_zero():
    """d/dx x**y = y x**(y-1), which is 0 where y == 0 even at x == 0 (not 0 * inf = nan, as JAX);
    d/dy x**y = log(x) x**y, whose limit at x == 0 (y > 0) is 0."""
    x = np.array([0.0, 0.0, 2.0, 0.0, 3.0, -1.5])
    y = np.array([0.0, 1.0, 0.0, 2.0, 0.5, 0.0])
    with np.errstate(divide="ignore", invalid="ignore"):
        gx, gy = fg.grad(lambda x, y: fnp.sum(fnp.power(x, y)), argnums=(0, 1))(x, y)
    np.testing.assert_allclose(gx, [0.0, 1.0, 0.0, 0.0, 0.5 / np.sqrt(3.0), 0.0], rtol=1e-15)
    np.testing.assert_allclose(gy[:5], [0.0, 0.0, np.log(2.0), 0.0, np.log(3.0) * np.sqrt(3.0)], rtol=1e-15)
    with np.errstate(divide="ignore", invalid="ignore"):
        g = fg.grad(lambda x: fnp.sum(fnp.power(x, np.zeros((2, 1)))))(x)
    np.testing.assert_array_equal(g, np.zeros(6))


def test_power_array_exponent_broadcast():
    x = gen((3, 1), "pos")
    y = gen((1, 4), "any")
    check(lambda m, x, y: m.power(x, y), x, y, argnums=(0, 1))
    # a constant array exponent
    e = np.array([0.5, 2.0, -1.5, 3.0])
    check(lambda m, x: m.power(x, e), x)


# ----------------------------------------------------------------------------- ties: formulas

def test_maximum_minimum_ties_split_gradient():
    """At x == y the cotangent is split 0.5 / 0.5 (as in JAX)."""
    x = np.array([1.0, 2.0, 3.0, -1.0, 0.0])
    y = np.array([1.0, 1.0, 4.0, -1.0, 0.5])
    gx, gy = fg.grad(lambda x, y: fnp.sum(fnp.maximum(x, y)), argnums=(0, 1))(x, y)
    np.testing.assert_array_equal(gx, [0.5, 1.0, 0.0, 0.5, 0.0])
    np.testing.assert_array_equal(gy, [0.5, 0.0, 1.0, 0.5, 1.0])
    gx, gy = fg.grad(lambda x, y: fnp.sum(fnp.minimum(x, y)), argnums=(0, 1))(x, y)
    np.testing.assert_array_equal(gx, [0.5, 0.0, 1.0, 0.5, 1.0])
    np.testing.assert_array_equal(gy, [0.5, 1.0, 0.0, 0.5, 0.0])


def test_maximum_ties_with_weights_and_broadcast():
    """Ties against a broadcast scalar: relu(x) = maximum(x, 0) at x == 0 gets 0.5,
    the scalar collects the other halves, and a cotangent scales both."""
    x = np.array([[-1.0, 0.0, 2.0], [0.0, 0.0, -3.0]])
    w = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    gx, gc = fg.grad(lambda x, c: fnp.sum(w * fnp.maximum(x, c)), argnums=(0, 1))(x, 0.0)
    np.testing.assert_array_equal(gx, [[0.0, 1.0, 3.0], [2.0, 2.5, 0.0]])
    assert gc == 1.0 + 0.5 * (2.0 + 4.0 + 5.0) + 6.0
    gx = fg.grad(lambda x: fnp.sum(w * fnp.maximum(x, 0.0)))(x)
    np.testing.assert_array_equal(gx, [[0.0, 1.0, 3.0], [2.0, 2.5, 0.0]])


@pytest.mark.parametrize("red", ["max", "min"])
def test_reduce_max_min_ties(red):
    """Ties share the cotangent evenly: 1/k to each of k extremal elements."""
    s = 1.0 if red == "max" else -1.0
    x = s * np.array([[3.0, 1.0, 3.0, 3.0], [0.0, 2.0, -1.0, 2.0], [5.0, 4.0, 4.0, 1.0]])
    f = getattr(fnp, red)
    g = fg.grad(lambda x: f(x))(x)                    # one tie of 3 over all elements: 5 is unique
    expected = np.zeros_like(x)
    expected[2, 0] = 1.0
    np.testing.assert_array_equal(g, expected)
    w = np.array([10.0, 20.0, 30.0])
    g = fg.grad(lambda x: fnp.sum(w * f(x, axis=1)))(x)
    np.testing.assert_allclose(g, [[10 / 3, 0, 10 / 3, 10 / 3], [0, 10, 0, 10], [30, 0, 0, 0]],
                               rtol=1e-15)
    g = fg.grad(lambda x: fnp.sum(f(x, axis=0, keepdims=True) * np.array([[1.0, 2.0, 3.0, 4.0]])))(x)
    np.testing.assert_array_equal(g, [[0, 0, 0, 4], [0, 0, 0, 0], [1, 2, 3, 0]])
    # all equal: a uniform 1/n
    z = np.full((2, 3), 7.0)
    np.testing.assert_allclose(fg.grad(lambda z: f(z))(z), np.full((2, 3), 1 / 6), rtol=1e-15)


def _prod_others(x, axis):
    """d prod(x, axis) / d x_i as the product of the *other* elements, with no division."""
    x = np.moveaxis(np.asarray(x, dtype=np.float64), axis, -1)
    n = x.shape[-1]
    out = np.empty_like(x)
    for i in range(n):
        out[..., i] = np.prod(np.delete(x, i, axis=-1), axis=-1)
    return np.moveaxis(out, -1, axis)


@pytest.mark.parametrize("row", [
    [2.0, 3.0, -4.0, 0.5],       # no zero
    [2.0, 0.0, -4.0, 0.5],       # one zero
    [0.0, 3.0, 0.0, 0.5],        # two zeros
    [0.0, 0.0, 0.0, 0.0],        # all zero
    [0.0],                       # a single element
])
def test_prod_gradient_with_zeros(row):
    x = np.array(row)
    np.testing.assert_allclose(fg.grad(lambda x: fnp.prod(x))(x), _prod_others(x, 0), rtol=1e-15, atol=0)


def test_prod_gradient_with_zeros_along_axes():
    x = np.array([[2.0, 0.0, 3.0], [0.0, 0.0, 5.0], [1.5, -2.0, 4.0], [0.0, 7.0, 1.0]])
    w = np.array([1.0, -2.0, 3.0, 0.5])
    g = fg.grad(lambda x: fnp.sum(w * fnp.prod(x, axis=1)))(x)
    np.testing.assert_allclose(g, w[:, None] * _prod_others(x, 1), rtol=1e-15, atol=0)
    v = np.array([1.0, 2.0, 3.0])
    g = fg.grad(lambda x: fnp.sum(v * fnp.prod(x, axis=0)))(x)
    np.testing.assert_allclose(g, v[None, :] * _prod_others(x, 0), rtol=1e-15, atol=0)


# ----------------------------------------------------------------------------- where / clip

@pytest.mark.parametrize("shapes", [((3, 4), (3, 4), (3, 4)), ((3, 1), (4,), (3, 4)), ((4,), (3, 4), ()),
                                    ((), (3,), (3,))], ids=str)
def test_where(shapes):
    c = gen(shapes[0], "sep", ("c",))
    x = gen(shapes[1], "any", ("x",))
    y = gen(shapes[2], "any", ("y",))
    check(lambda m, c, x, y: m.where(c > 0, x * c, m.sin(y)), c, x, y, argnums=(0, 1, 2))


def test_where_python_scalar_branch():
    x = gen((3, 4), "sep")
    check(lambda m, x: m.where(x > 0, x, 0.0), x)
    check(lambda m, x: m.where(x > 0, 1.0, x ** 2), x)


@pytest.mark.parametrize("shape", [(), (7,), (3, 4)], ids=str)
def test_clip(shape):
    x = gen(shape, "sep", ("clip",)) * 2.3      # bounds +-0.5 never hit exactly
    check(lambda m, x: m.clip(x, -0.5, 0.5), x)
    check(lambda m, x: m.clip(x, -0.5, None), x)
    check(lambda m, x: m.clip(x, None, 0.5), x)


def test_clip_array_bounds():
    x = gen((3, 4), "sep") * 2.3
    lo = gen((4,), "sep2", ("lo",)) * 0.5 - 0.3
    hi = lo + 0.77
    check(lambda m, x, lo, hi: m.clip(x, lo, hi), x, lo, hi, argnums=(0, 1, 2))
    check(lambda m, x: x.clip(-0.5, 0.5), x)


# ----------------------------------------------------------------------------- reductions

RED_CASES = [  # (shape, axis, keepdims)
    ((), None, False), ((5,), None, False), ((5,), 0, True), ((3, 4), None, False), ((3, 4), 0, False),
    ((3, 4), 1, False), ((3, 4), -1, True), ((2, 3, 4), (0, 2), False), ((2, 3, 4), (1,), True),
    ((3, 1), 1, False), ((1, 4), 0, True), ((2, 3, 4), None, True),
]


REDUCTIONS = [("sum", "any"), ("mean", "any"), ("max", "sep"), ("min", "sep"), ("prod", "nonzero"),
              ("logsumexp", "any"), ("var", "any"), ("std", "sep")]


def _reduces_one_element(shape, axis):
    axes = range(len(shape)) if axis is None else np.atleast_1d(axis)
    return int(np.prod([shape[a] for a in axes])) == 1


RED_PARAMS = [pytest.param(name, domain, shape, axis, keepdims, id=f"{name}-{shape}-{axis}-{keepdims}")
              for name, domain in REDUCTIONS for shape, axis, keepdims in RED_CASES
              # std over one element is sqrt(0): not differentiable there
              if not (name == "std" and _reduces_one_element(shape, axis))]


@pytest.mark.parametrize("name,domain,shape,axis,keepdims", RED_PARAMS)
def test_reductions(name, domain, shape, axis, keepdims):
    x = gen(shape, domain, (name,))
    check(lambda m, x: getattr(m, name)(x, axis=axis, keepdims=keepdims), x)


@pytest.mark.parametrize("name", ["sum", "mean", "max", "min", "prod", "var", "std"])
def test_reduction_methods(name):
    x = gen((3, 4), "sep", (name,))
    check(lambda m, x: getattr(x, name)(axis=0), x)
    check(lambda m, x: getattr(x, name)(), x)


def test_var_std_ddof():
    x = gen((3, 5), "any")
    check(lambda m, x: m.var(x, axis=1, ddof=1), x)
    check(lambda m, x: m.std(x, axis=0, ddof=1), x)


def test_logsumexp_large_values():
    """Stable at magnitudes where a naive exp overflows."""
    x = gen((3, 4), "any") + np.array([[1000.0], [-1000.0], [0.0]])
    check(lambda m, x: m.logsumexp(x, axis=1), x)
    check(lambda m, x: m.logsumexp(x), x)   # the max dominates; still finite
    g = fg.grad(lambda x: fnp.logsumexp(x, axis=1).sum())(x)
    e = np.exp(x - x.max(axis=1, keepdims=True))
    np.testing.assert_allclose(g, e / e.sum(axis=1, keepdims=True), rtol=1e-13)


@pytest.mark.parametrize("shape,axis", [((5,), None), ((5,), 0), ((5,), -1), ((3, 4), None), ((3, 4), 0),
                                        ((3, 4), 1), ((3, 4), -1), ((1, 4), 0), ((1, 4), 1), ((2, 3, 2), 1)],
                         ids=str)
def test_cumsum(shape, axis):
    x = gen(shape, "any", ("cumsum",))
    check(lambda m, x: m.cumsum(x, axis=axis), x)


def test_cumsum_method():
    x = gen((3, 4), "any")
    check(lambda m, x: x.cumsum(axis=1), x)


# ----------------------------------------------------------------------------- linear algebra

MATMUL_SHAPES = [
    ((3, 4), (4, 5)), ((4,), (4, 5)), ((3, 4), (4,)), ((4,), (4,)), ((1, 4), (4, 1)),
    ((2, 3, 4), (2, 4, 5)), ((2, 3, 4), (4, 5)), ((3, 4), (2, 4, 5)), ((2, 1, 3, 4), (5, 4, 2)),
    ((2, 3, 4), (4,)), ((4,), (2, 4, 3)),
]


@pytest.mark.parametrize("sa,sb", MATMUL_SHAPES, ids=str)
def test_matmul(sa, sb):
    a = gen(sa, "any", ("a",))
    b = gen(sb, "any", ("b",))
    check(lambda m, a, b: m.matmul(a, b), a, b, argnums=(0, 1))
    check(lambda m, a, b: a @ b, a, b, argnums=(0, 1))


@pytest.mark.parametrize("expr", ["a.T @ b", "a @ b.T", "a.T @ b.T", "m.swapaxes(a, -1, -2) @ b"])
def test_matmul_transposed_operands(expr):
    """Transposed operands are folded into matmul's transpose flags."""
    a = gen((4, 3), "any", ("a",))
    b = gen((4, 3), "any", ("b",))
    if expr.startswith("a @"):
        b = gen((5, 3), "any", ("b",))
    if expr == "a.T @ b.T":
        b = gen((5, 4), "any", ("b",))
    check(eval(f"lambda m, a, b: {expr}"), a, b, argnums=(0, 1))


def test_matmul_batched_transposed():
    a = gen((2, 4, 3), "any", ("a",))
    b = gen((2, 4, 5), "any", ("b",))
    check(lambda m, a, b: m.swapaxes(a, -1, -2) @ b, a, b, argnums=(0, 1))
    check(lambda m, a, b: m.matmul(m.transpose(a, (0, 2, 1)), b), a, b, argnums=(0, 1))


@pytest.mark.parametrize("sa,sb", [((4,), (4,)), ((3, 4), (4, 5)), ((3, 4), (4,)), ((4,), (4, 2)),
                                   ((), (3,)), ((3, 2), ()), ((2, 3, 4), (4, 2)), ((2, 3), (4, 3, 5))],
                         ids=str)
def test_dot(sa, sb):
    a = gen(sa, "any", ("a",))
    b = gen(sb, "any", ("b",))
    check(lambda m, a, b: m.dot(a, b), a, b, argnums=(0, 1))


def test_dot_method():
    a = gen((3, 4), "any", ("a",))
    b = gen((4, 2), "any", ("b",))
    check(lambda m, a, b: a.dot(b), a, b, argnums=(0, 1))


@pytest.mark.parametrize("sa,sb", [((3,), (4,)), ((2, 2), (3,)), ((), (3,)), ((1,), (1,))], ids=str)
def test_outer(sa, sb):
    a = gen(sa, "any", ("a",))
    b = gen(sb, "any", ("b",))
    check(lambda m, a, b: m.outer(a, b), a, b, argnums=(0, 1))


@pytest.mark.parametrize("sa,sb,axes", [
    ((3, 4), (4, 5), 1), ((2, 3, 4), (3, 4, 5), 2), ((3, 4), (3, 4), 2), ((3,), (4,), 0),
    ((3, 4), (5, 3), ([0], [1])), ((2, 3, 4), (4, 2, 5), ([0, 2], [1, 0])), ((3, 4), (4, 3), (1, 0)),
], ids=str)
def test_tensordot(sa, sb, axes):
    a = gen(sa, "any", ("a",))
    b = gen(sb, "any", ("b",))
    check(lambda m, a, b: m.tensordot(a, b, axes=axes), a, b, argnums=(0, 1))


@pytest.mark.parametrize("spec,shapes", [
    ("ij,jk->ik", [(3, 4), (4, 5)]), ("bij,bjk->bik", [(2, 3, 4), (2, 4, 5)]), ("i,i->", [(4,), (4,)]),
    ("ij->ji", [(3, 4)]), ("ij,j->i", [(3, 4), (4,)]), ("ij->", [(3, 4)]), ("ij->j", [(3, 4)]),
    ("i,j->ij", [(3,), (4,)]), ("ij,ij->i", [(3, 4), (3, 4)]), ("ijk,ikl->jl", [(2, 3, 4), (2, 4, 5)]),
    ("ij,jk,kl->il", [(2, 3), (3, 4), (4, 2)]), ("ij,jk", [(3, 4), (4, 2)]), ("ba,bc->ac", [(4, 2), (4, 3)]),
], ids=str)
def test_einsum(spec, shapes):
    args = [gen(s, "any", (spec, i)) for i, s in enumerate(shapes)]
    check(lambda m, *a: m.einsum(spec, *a), *args, argnums=tuple(range(len(args))))


# ----------------------------------------------------------------------------- shapes

@pytest.mark.parametrize("shape,new", [((3, 4), (12,)), ((3, 4), (4, 3)), ((3, 4), (2, -1)), ((), (1, 1)),
                                       ((2, 3, 4), (6, 4)), ((1, 4), (4,)), ((4,), (2, 1, 2))], ids=str)
def test_reshape(shape, new):
    x = gen(shape, "any", ("reshape",))
    check(lambda m, x: m.reshape(x, new), x)
    check(lambda m, x: x.reshape(new), x)


@pytest.mark.parametrize("shape,axes", [((3, 4), None), ((2, 3, 4), None), ((2, 3, 4), (1, 0, 2)),
                                        ((2, 3, 4), (2, 0, 1)), ((5,), None), ((), None), ((1, 3), (1, 0))],
                         ids=str)
def test_transpose(shape, axes):
    x = gen(shape, "any", ("transpose",))
    check(lambda m, x: m.transpose(x, axes), x)
    check(lambda m, x: x.T, x)


@pytest.mark.parametrize("a1,a2", [(0, 1), (0, 2), (-1, 0), (1, 1)])
def test_swapaxes(a1, a2):
    x = gen((2, 3, 4), "any", ("swapaxes",))
    check(lambda m, x: m.swapaxes(x, a1, a2), x)


@pytest.mark.parametrize("src,dst", [(0, -1), (2, 0), ([0, 1], [-1, -2]), (1, 1)], ids=str)
def test_moveaxis(src, dst):
    x = gen((2, 3, 4), "any", ("moveaxis",))
    check(lambda m, x: m.moveaxis(x, src, dst), x)


@pytest.mark.parametrize("shape,axis", [((3, 4), 0), ((3, 4), -1), ((3, 4), (0, 2)), ((), 0), ((4,), 1)],
                         ids=str)
def test_expand_dims(shape, axis):
    x = gen(shape, "any", ("expand_dims",))
    check(lambda m, x: m.expand_dims(x, axis), x)


@pytest.mark.parametrize("shape,axis", [((1, 3, 1), None), ((1, 3, 1), 0), ((1, 3, 1), (0, 2)), ((1,), None),
                                        ((3, 1), -1)], ids=str)
def test_squeeze(shape, axis):
    x = gen(shape, "any", ("squeeze",))
    check(lambda m, x: m.squeeze(x, axis), x)


@pytest.mark.parametrize("shape,target", [((4,), (3, 4)), ((3, 1), (3, 4)), ((3, 1), (2, 3, 5)), ((), (2, 3)),
                                          ((1, 1), (2, 3)), ((2, 1, 3), (2, 4, 3))], ids=str)
def test_broadcast_to(shape, target):
    x = gen(shape, "any", ("broadcast_to",))
    check(lambda m, x: m.broadcast_to(x, target), x)


@pytest.mark.parametrize("shapes,axis", [([(2, 3), (4, 3)], 0), ([(2, 3), (2, 1), (2, 2)], 1),
                                         ([(3,), (1,)], 0), ([(2, 3), (2, 3)], -1), ([(2, 3, 1), (2, 3, 2)], 2)],
                         ids=str)
def test_concatenate(shapes, axis):
    args = [gen(s, "any", ("concatenate", i)) for i, s in enumerate(shapes)]
    check(lambda m, *a: m.concatenate(list(a), axis=axis), *args, argnums=tuple(range(len(args))))


@pytest.mark.parametrize("shape,axis", [((3,), 0), ((3,), 1), ((2, 3), 0), ((2, 3), 1), ((2, 3), -1), ((), 0)],
                         ids=str)
def test_stack(shape, axis):
    args = [gen(shape, "any", ("stack", i)) for i in range(3)]
    check(lambda m, *a: m.stack(list(a), axis=axis), *args, argnums=(0, 1, 2))


@pytest.mark.parametrize("shape,sections,axis", [((6,), 2, 0), ((6,), 3, 0), ((6,), [1, 4], 0),
                                                 ((4, 6), 3, 1), ((4, 6), [1], 0), ((4, 6), [2, 2, 5], 1)],
                         ids=str)
def test_split(shape, sections, axis):
    x = gen(shape, "any", ("split",))
    check(lambda m, x: m.split(x, sections, axis=axis), x)
    # one piece only (the others get no cotangent at all)
    check(lambda m, x: m.split(x, sections, axis=axis)[-1], x)


@pytest.mark.parametrize("shape,axis", [((5,), None), ((3, 4), None), ((3, 4), 0), ((3, 4), 1),
                                        ((2, 3, 4), (0, 2)),
                                        ((), None)], ids=str)
def test_flip(shape, axis):
    x = gen(shape, "any", ("flip",))
    check(lambda m, x: m.flip(x, axis), x)


@pytest.mark.parametrize("shape,reps", [((3,), 2), ((2, 3), (2, 1)), ((2, 3), (1, 2)), ((3,), (2, 2)),
                                        ((2, 1), (1, 3)), ((), 3)], ids=str)
def test_tile(shape, reps):
    x = gen(shape, "any", ("tile",))
    check(lambda m, x: m.tile(x, reps), x)


@pytest.mark.parametrize("shape,reps,axis", [((3,), 2, None), ((2, 3), 2, None), ((2, 3), 3, 0), ((2, 3), 2, 1),
                                             ((2, 3), 1, -1), ((), 3, None)], ids=str)
def test_repeat(shape, reps, axis):
    x = gen(shape, "any", ("repeat",))
    check(lambda m, x: m.repeat(x, reps, axis=axis), x)


# ----------------------------------------------------------------------------- gathers and indexing

@pytest.mark.parametrize("shape,idx,axis", [
    ((5,), [0, 2, 2, 4], None), ((3, 4), [1, 1, 0], 0), ((3, 4), [3, 0, 3, -1], 1),
    ((3, 4), [[0, 5], [11, 5]], None),
    ((3, 4), 2, 1), ((2, 3, 4), [[0, 1], [1, 1]], 1), ((3, 4), [], 0),
], ids=str)
def test_take(shape, idx, axis):
    x = gen(shape, "any", ("take",))
    idx = np.asarray(idx, dtype=np.int64)
    check(lambda m, x: m.take(x, idx, axis=axis), x)


def test_take_method():
    x = gen((3, 4), "any")
    check(lambda m, x: x.take(np.array([2, 0, 2]), axis=1), x)


@pytest.mark.parametrize("shape,axis", [((3, 4), 0), ((3, 4), 1), ((2, 3, 4), 2), ((2, 3, 4), 1), ((5,), 0)],
                         ids=str)
def test_take_along_axis(shape, axis):
    x = gen(shape, "sep", ("take_along_axis",))
    idx = np.argsort(x, axis=axis)                            # a permutation
    check(lambda m, x: m.take_along_axis(x, idx, axis=axis), x)
    # repeated indices accumulate; a size-1 index axis broadcasts against the others
    rep = np.take(np.argsort(x, axis=axis), [0, 0, -1], axis=axis)
    check(lambda m, x: m.take_along_axis(x, rep, axis=axis), x)
    first = np.take(idx, [0], axis=axis)
    check(lambda m, x: m.take_along_axis(x, first, axis=axis), x)


def test_take_along_axis_broadcast_indices():
    x = gen((3, 4), "any")
    idx = np.array([[1, 3, 3]])                             # (1, 3) against (3, 4) on axis 1
    check(lambda m, x: m.take_along_axis(x, idx, axis=1), x)


INDEX_EXPRS = [
    "x[1:5:2]", "x[::-1]", "x[None, :, 0]", "x[..., 1]", "x[1]", "x[-1, 1:]", "x[:, ::2]", "x[1:, None]",
    "x[::-2, 3:0:-1]", "x[..., None]", "x[2:2]", "x[0, 0]", "x[-2:]", "x[:, -1]",
]


@pytest.mark.parametrize("expr", INDEX_EXPRS)
def test_basic_indexing(expr):
    x = gen((6, 4), "any", (expr,))
    check(eval(f"lambda m, x: {expr}"), x)


@pytest.mark.parametrize("expr", ["x[1:5:2]", "x[::-1]", "x[..., 1]", "x[None, 2]", "x[::3, ..., ::-1]"])
def test_basic_indexing_3d(expr):
    x = gen((6, 2, 3), "any", (expr,))
    check(eval(f"lambda m, x: {expr}"), x)


def test_indexing_scalar_0d_and_1d():
    x = gen((), "any")
    check(lambda m, x: x[None], x)
    check(lambda m, x: x[...], x)
    y = gen((1,), "any")
    check(lambda m, y: y[0], y)


LABELS = np.array([2, 0, 3, 3, 1], dtype=np.int64)


@pytest.mark.parametrize("expr", [
    "x[np.arange(5), labels]", "x[m.arange(5), labels]", "x[labels]", "x[:, labels]", "x[labels, 1]",
    "x[[0, 0, 4]]", "x[np.array([[0, 1], [1, 4]])]", "x[labels[:, None], np.array([[0, 1]])]",
    "x[-1, [0, -1]]", "x[np.array([True, False, True, False, True])]",
])
def test_integer_array_gather(expr):
    x = gen((5, 4), "any", (expr,))
    labels = LABELS
    fn = eval(f"lambda m, x: {expr}", {"np": np, "labels": labels})
    check(fn, x)


def test_gather_cross_entropy():
    """The classic loss: -mean(log_softmax(logits)[arange(n), labels])."""
    logits = gen((5, 4), "any")
    labels = LABELS

    def loss(m, z):
        logp = z - m.logsumexp(z, axis=1, keepdims=True)
        return -m.mean(logp[np.arange(5), labels])

    check(loss, logits)
    z = logits
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    expected = (p - np.eye(4)[labels]) / 5
    np.testing.assert_allclose(fg.grad(lambda z: loss(fnp, z))(z), expected, rtol=1e-12, atol=1e-15)


def test_gather_traced_labels():
    """Labels passed as an integer argument (traced, not a constant)."""
    x = gen((5, 4), "any")

    def f(x, labels):
        return fnp.sum(x[fnp.arange(5), labels] ** 2)

    g = fg.grad(f)(x, LABELS)
    expected = np.zeros_like(x)
    expected[np.arange(5), LABELS] = 2 * x[np.arange(5), LABELS]
    np.testing.assert_allclose(g, expected, rtol=1e-15)
    fd = numerical_grad(lambda x: np.sum(x[np.arange(5), LABELS] ** 2), (x,))
    assert rel_error(g, fd) <= 1e-6


# ----------------------------------------------------------------------------- casts, one_hot

def test_astype_float32_to_float64():
    """float32 input, float64 computation: the gradient is float32 and equals 3x^2."""
    x = np.array([[0.5, -1.25, 2.0], [1.5, -0.75, 0.3]], dtype=np.float32)
    g = fg.grad(lambda x: fnp.sum(x.astype(np.float64) ** 3))(x)
    assert g.dtype == np.float32
    np.testing.assert_allclose(g, 3 * x.astype(np.float64) ** 2, rtol=1e-7)
    g = fg.grad(lambda x: fnp.sum(fnp.astype(x, np.float64) * fnp.astype(x, np.float64)))(x)
    assert g.dtype == np.float32
    np.testing.assert_allclose(g, 2 * x.astype(np.float64), rtol=1e-7)


def test_astype_float64_to_float32():
    """float64 input through float32: the cotangent comes back as float64."""
    x = np.array([0.5, -1.25, 2.0])
    c = np.array([1.5, -2.0, 0.25], dtype=np.float32)    # exact in float32
    g = fg.grad(lambda x: fnp.sum(x.astype(np.float32) * c))(x)
    assert g.dtype == np.float64
    np.testing.assert_array_equal(g, c.astype(np.float64))
    # and back up: d/dx sum(float64(float32(x)) * 2)
    g = fg.grad(lambda x: fnp.sum(x.astype(np.float32).astype(np.float64) * 2.0))(x)
    assert g.dtype == np.float64
    np.testing.assert_array_equal(g, np.full(3, 2.0))


def test_astype_float_to_int_cuts_gradient():
    x = np.array([0.5, 1.7, -2.2])
    g = fg.grad(lambda x: fnp.sum(x.astype(np.int64) * 3.0) + fnp.sum(x))(x)
    np.testing.assert_array_equal(g, np.ones(3))


def test_one_hot_has_no_gradient_wrt_labels():
    labels = np.array([1, 0, 2, 2], dtype=np.int64)
    x = gen((4, 3), "any")
    w = np.arange(1.0, 13.0).reshape(4, 3)

    def f(x, labels):
        return fnp.sum(fnp.one_hot(labels, 3) * x * w)

    gx = fg.grad(f)(x, labels)
    np.testing.assert_array_equal(gx, np.eye(3)[labels] * w)
    out, vjp_fn = fg.vjp(f, x, labels)
    gx, gl = vjp_fn(1.0)
    np.testing.assert_array_equal(gx, np.eye(3)[labels] * w)
    assert gl.dtype == labels.dtype and not np.any(gl)
    with pytest.raises(fg.FuncgradError):
        fg.grad(f, argnums=1)(x, labels)
    oh = fnp.one_hot(labels, 3)
    np.testing.assert_array_equal(oh, np.eye(3)[labels])
    check(lambda m, x: m.sum(m.one_hot(labels, 3) * x ** 2, axis=1), x)


# ----------------------------------------------------------------------------- composites

def test_mlp_float64():
    rng = rng_for("mlp")
    X = rng.standard_normal((6, 3))
    y = np.array([0, 1, 2, 1, 0, 2])
    W1 = rng.standard_normal((3, 5)) * 0.5
    b1 = rng.standard_normal(5) * 0.1
    W2 = rng.standard_normal((5, 3)) * 0.5
    b2 = rng.standard_normal(3) * 0.1

    def loss(m, W1, b1, W2, b2):
        h = m.tanh(X @ W1 + b1)
        z = h @ W2 + b2
        return m.mean(m.logsumexp(z, axis=1) - z[np.arange(6), y]) + 1e-2 * m.sum(W1 ** 2)

    check(loss, W1, b1, W2, b2, argnums=(0, 1, 2, 3))


def test_shared_input_used_many_times():
    x = gen((3, 3), "any")
    check(lambda m, x: (x @ x) * x.T + m.exp(x) * x[::-1] - m.sum(x, axis=0) * x, x)


def test_softmax_and_layernorm():
    x = gen((3, 5), "any")

    def softmax(m, x):
        e = m.exp(x - m.max(x, axis=-1, keepdims=True))
        return e / m.sum(e, axis=-1, keepdims=True)

    def layernorm(m, x):
        mu = m.mean(x, axis=-1, keepdims=True)
        return (x - mu) / m.sqrt(m.var(x, axis=-1, keepdims=True) + 1e-5)

    check(softmax, x)
    check(layernorm, x)


def test_non_scalar_vjp_multiple_outputs():
    x = gen((3, 4), "any")
    y = gen((4,), "pos")
    check(lambda m, x, y: (x * y, m.sum(m.log(y)), x[:, 0]), x, y, argnums=(0, 1))


# ----------------------------------------------------------------------------- more of funcgrad.numpy

MISC_EXPRS = [
    "m.asarray([x[0], x[1] * 2.0, m.sin(x[2])])", "m.array([[x[0], x[1]], [x[2], x[3]]])",
    "m.inner(x, x[::-1])", "m.vdot(x, m.exp(x))", "m.hstack([x, x[:2]])", "m.vstack([x, x * 2.0])",
    "m.ravel(m.outer(x, x))", "m.atleast_2d(x)", "m.fliplr(m.outer(x, x[:2]))", "m.flipud(x)",
    "m.sum(x, where=x > 0)", "m.sum(x ** 2, initial=1.5)", "m.positive(x) * m.fabs(x)",
    "m.true_divide(x, 1.5 + x ** 2)", "m.float_power(x ** 2 + 1, 1.5)", "m.amax(x) * m.amin(x)",
    "m.array_split(m.concatenate([x, x]), 3)",
]


@pytest.mark.parametrize("expr", MISC_EXPRS)
def test_more_functions(expr):
    x = gen((5,), "sep", (expr,))
    check(eval(f"lambda m, x: {expr}"), x)


def test_asarray_of_traced_values_under_grad():
    """fnp.asarray/array of a list holding traced values stacks them (it used to call
    funcgrad.numpy.any on a generator and fail)."""
    x = np.array([1.0, 2.0])
    g = fg.grad(lambda x: fnp.sum(fnp.asarray([x[0], x[1] * 3.0, 4.0]) ** 2))(x)
    np.testing.assert_array_equal(g, [2.0, 18.0 * 2.0])
    np.testing.assert_array_equal(fnp.asarray([1.0, 2.0]), np.array([1.0, 2.0]))


def test_logsumexp_minus_inf_entries():
    x = np.array([[-np.inf, 0.0, 1.0], [2.0, -np.inf, -np.inf]])
    g = fg.grad(lambda x: fnp.sum(fnp.logsumexp(x, axis=1) * np.array([1.0, 3.0])))(x)
    e = np.exp(1.0) + 1.0
    np.testing.assert_allclose(g, [[0.0, 1 / e, np.exp(1.0) / e], [3.0, 0.0, 0.0]], rtol=1e-15)


def test_round_decimals_zero_gradient():
    x = np.array([1.234, -2.87, 0.061])
    np.testing.assert_array_equal(fg.grad(lambda x: fnp.sum(fnp.round(x, 1) * x))(x), np.round(x, 1))


def test_gather_negative_traced_indices():
    x = gen((5, 4), "any")
    lab = np.array([-1, 0, -4, 3, 2])
    w = np.arange(1.0, 6.0)
    g = fg.grad(lambda x, lab: fnp.sum(x[fnp.arange(5), lab] * w))(x, lab)
    e = np.zeros_like(x)
    np.add.at(e, (np.arange(5), lab), w)
    np.testing.assert_array_equal(g, e)
    g = fg.grad(lambda x, lab: fnp.sum(fnp.take(x, lab, axis=1) ** 2))(x, np.array([1, -3, 3]))
    e = np.zeros_like(x)
    e[:, 1] = 4 * x[:, 1]
    e[:, 3] = 2 * x[:, 3]
    np.testing.assert_allclose(g, e, rtol=1e-15)


SECOND_DERIVATIVES = [  # (name, domain, f'' by hand)
    ("exp", "any", np.exp), ("exp2", "any", lambda x: np.log(2) ** 2 * 2 ** x),
    ("log", "pos", lambda x: -1 / x ** 2),
    ("log1p", "pos", lambda x: -1 / (1 + x) ** 2), ("sqrt", "pos", lambda x: -0.25 * x ** -1.5),
    ("reciprocal", "pos", lambda x: 2 / x ** 3), ("sin", "any", lambda x: -np.sin(x)),
    ("cos", "any", lambda x: -np.cos(x)), ("tan", "unit", lambda x: 2 * np.tan(x) / np.cos(x) ** 2),
    ("arcsin", "unit", lambda x: x / (1 - x * x) ** 1.5), ("arccos", "unit", lambda x: -x / (1 - x * x) ** 1.5),
    ("arctan", "any", lambda x: -2 * x / (1 + x * x) ** 2), ("sinh", "any", np.sinh), ("cosh", "any", np.cosh),
    ("tanh", "any", lambda x: -2 * np.tanh(x) / np.cosh(x) ** 2), ("expm1", "any", np.exp),
    ("square", "any", lambda x: np.full_like(x, 2.0)), ("abs", "sep", np.zeros_like),
]


@pytest.mark.parametrize("name,domain,d2", SECOND_DERIVATIVES, ids=[c[0] for c in SECOND_DERIVATIVES])
def test_second_derivative(name, domain, d2):
    """VJP rules are differentiable: grad of grad matches f'' written by hand."""
    x = gen((6,), domain, (name, "d2"))
    f = getattr(fnp, name)
    h = fg.grad(lambda x: fnp.sum(fg.grad(lambda y: fnp.sum(f(y)))(x)))(x)
    np.testing.assert_allclose(h, d2(x), rtol=1e-12, atol=1e-14)


def test_second_derivative_through_gather_and_strided_slice():
    """Second order through take/scatter_add and slice/pad: for
    g(x) = sum(grad(f)(x)**2) with f(x) = sum(x[idx]**3) + sum(x[::2]**3), grad(f) = 3 (c + s) x**2
    (c: how often idx picks an element, s: 1 on even positions), so dg/dx = 36 (c + s)**2 x**3."""
    x = gen((6,), "any", ("d2 gather",))
    idx = np.array([0, 3, 3, 5, 0, 0])
    c = np.bincount(idx, minlength=6).astype(float)
    s = (np.arange(6) % 2 == 0).astype(float)

    def f(y):
        return fnp.sum(y[idx] ** 3) + fnp.sum(y[::2] ** 3)

    np.testing.assert_allclose(fg.grad(f)(x), 3 * (c + s) * x ** 2, rtol=1e-14)
    h = fg.grad(lambda x: fnp.sum(fg.grad(f)(x) ** 2))(x)
    np.testing.assert_allclose(h, 36 * (c + s) ** 2 * x ** 3, rtol=1e-13)
