"""funcgrad.nn: activations, losses, initializers, dropout, layers and
diagnostics against their formulas written out in NumPy (float64), gradients
against finite differences (tests/fd.py), stability at the ends of the
float32/float64 ranges, dtypes kept, and the errors for bad inputs."""
import math

import numpy as np
import pytest

import funcgrad as fg
import funcgrad.numpy as fnp
from funcgrad import nn
from funcgrad import random as fgr

from fd import check_grads, numerical_grad, rel_error

RNG = np.random.default_rng(0)
SQ2PI = math.sqrt(2 / math.pi)


# ----------------------------------------------------------------------------- NumPy references

def np_sigmoid(x):
    return 1 / (1 + np.exp(-x))


def np_softmax(x, axis=-1):
    e = np.exp(x - np.max(x, axis=axis, keepdims=True))
    return e / np.sum(e, axis=axis, keepdims=True)


def np_logsumexp(x, axis=None, keepdims=False):
    m = np.max(x, axis=axis, keepdims=True)
    out = np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True)) + m
    return out if keepdims else np.squeeze(out, axis=axis)


ACTIVATIONS = {
    "relu": (nn.relu, lambda x: np.maximum(x, 0)),
    "leaky_relu": (nn.leaky_relu, lambda x: np.where(x >= 0, x, 0.01 * x)),
    "leaky_relu_0.2": (lambda x: nn.leaky_relu(x, negative_slope=0.2), lambda x: np.where(x >= 0, x, 0.2 * x)),
    "elu": (nn.elu, lambda x: np.where(x > 0, x, np.exp(x) - 1)),
    "elu_1.5": (lambda x: nn.elu(x, alpha=1.5), lambda x: np.where(x > 0, x, 1.5 * (np.exp(x) - 1))),
    "gelu": (nn.gelu, lambda x: 0.5 * x * (1 + np.tanh(SQ2PI * (x + 0.044715 * x ** 3)))),
    "sigmoid": (nn.sigmoid, np_sigmoid),
    "tanh": (nn.tanh, np.tanh),
    "softplus": (nn.softplus, lambda x: np.log1p(np.exp(x))),
    "silu": (nn.silu, lambda x: x / (1 + np.exp(-x))),
    "softmax": (nn.softmax, np_softmax),
    "log_softmax": (nn.log_softmax, lambda x: x - np.log(np.sum(np.exp(x), axis=-1, keepdims=True))),
    "logsumexp": (nn.logsumexp, lambda x: np.log(np.sum(np.exp(x)))),
}


def _away_from_kinks(shape, scale=3.0):
    """Random inputs with |x| >= 0.05, away from ReLU's and ELU's kinks at 0."""
    x = RNG.uniform(-scale, scale, size=shape)
    return np.where(np.abs(x) < 0.05, 0.5, x)


# ----------------------------------------------------------------------------- activations

@pytest.mark.parametrize("name", list(ACTIVATIONS))
def test_activation_matches_formula(name):
    f, ref = ACTIVATIONS[name]
    x = np.concatenate([np.linspace(-6, 6, 25), RNG.normal(size=11) * 2]).reshape(4, 9)
    np.testing.assert_allclose(f(x), ref(x), rtol=1e-12, atol=1e-14)
    # also traced (as part of a program), not only on NumPy inputs
    np.testing.assert_allclose(fg.jit(f, backend="interpret")(x), ref(x), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("name", list(ACTIVATIONS))
def test_activation_grad_fd(name):
    f, ref = ACTIVATIONS[name]
    x = _away_from_kinks((3, 5))
    check_grads(f, (x,), ref=ref, rtol=1e-7, value_rtol=1e-12)


@pytest.mark.parametrize("name", list(ACTIVATIONS))
def test_activation_float32(name):
    f, ref = ACTIVATIONS[name]
    x = _away_from_kinks((3, 5)).astype(np.float32)
    out = f(x)
    assert np.asarray(out).dtype == np.float32
    np.testing.assert_allclose(out, ref(x.astype(np.float64)), rtol=2e-6, atol=2e-6)
    g = fg.grad(lambda x: fnp.sum(f(x) * np.float32(0.5)))(x)
    assert g.dtype == np.float32
    g64 = fg.grad(lambda x: fnp.sum(f(x) * 0.5))(x.astype(np.float64))
    np.testing.assert_allclose(g, g64, rtol=1e-5, atol=1e-6)


def test_activation_integer_input_is_float64():
    for name, (f, ref) in ACTIVATIONS.items():
        out = f(np.array([-2, 0, 3]))
        # relu keeps integers, as jax.nn.relu
        assert np.asarray(out).dtype == (np.int64 if name == "relu" else np.float64), name


def test_known_gradients():
    x = np.array([-2.0, -0.5, 0.0, 0.5, 2.0])
    assert np.array_equal(fg.grad(lambda x: fnp.sum(nn.relu(x)))(x), [0, 0, 0, 1, 1])  # 0 at 0, as JAX
    assert np.array_equal(fg.grad(lambda x: fnp.sum(nn.leaky_relu(x, 0.1)))(x), [0.1, 0.1, 1, 1, 1])
    np.testing.assert_allclose(fg.grad(lambda x: fnp.sum(nn.softplus(x)))(x), np_sigmoid(x), rtol=1e-14)
    s = np_sigmoid(x)
    np.testing.assert_allclose(fg.grad(lambda x: fnp.sum(nn.sigmoid(x)))(x), s * (1 - s), rtol=1e-14)
    np.testing.assert_allclose(fg.grad(lambda x: fnp.sum(nn.tanh(x)))(x), 1 - np.tanh(x) ** 2, rtol=1e-14)
    np.testing.assert_allclose(fg.grad(lambda x: nn.logsumexp(x))(x), np_softmax(x), rtol=1e-14)
    # sigmoid's derivative is at most 1/4 (seed 002: the product over layers vanishes)
    g = fg.grad(lambda x: fnp.sum(nn.sigmoid(x)))(np.linspace(-10, 10, 2001))
    assert g.max() == 0.25


@pytest.mark.parametrize("axis", [0, 1, -1, (0, 1)])
def test_softmax_axes(axis):
    x = RNG.normal(size=(4, 5)) * 3
    np.testing.assert_allclose(nn.softmax(x, axis=axis), np_softmax(x, axis=axis), rtol=1e-13)
    np.testing.assert_allclose(np.sum(nn.softmax(x, axis=axis), axis=axis), 1.0, rtol=1e-14)
    np.testing.assert_allclose(nn.log_softmax(x, axis=axis), np.log(np_softmax(x, axis=axis)), rtol=1e-12)
    np.testing.assert_allclose(nn.logsumexp(x, axis=axis), np_logsumexp(x, axis=axis), rtol=1e-14)
    np.testing.assert_allclose(nn.logsumexp(x, axis=axis, keepdims=True),
                               np_logsumexp(x, axis=axis, keepdims=True), rtol=1e-14)
    for f, ref in ((nn.softmax, np_softmax), (nn.log_softmax, lambda x, axis: np.log(np_softmax(x, axis))),
                   (nn.logsumexp, np_logsumexp)):
        check_grads(lambda x: f(x, axis=axis), (x,), ref=lambda x: ref(x, axis=axis), rtol=1e-7,
                    value_rtol=1e-12)


def test_logsumexp_all_axes_and_scalar():
    x = RNG.normal(size=(3, 4))
    np.testing.assert_allclose(nn.logsumexp(x), np_logsumexp(x), rtol=1e-14)
    assert np.ndim(nn.logsumexp(x)) == 0
    np.testing.assert_allclose(nn.logsumexp(np.float64(2.0)), 2.0, rtol=1e-15)


def test_softmax_handles_minus_inf_mask():
    x = np.array([[0.0, -np.inf, 1.0], [-np.inf, 2.0, -np.inf]])
    p = nn.softmax(x)
    np.testing.assert_allclose(p, [[1 / (1 + np.e), 0, np.e / (1 + np.e)], [0, 1, 0]], rtol=1e-14)
    g = fg.grad(lambda x: fnp.sum(nn.softmax(x) * np.array([1.0, 2.0, 3.0])))(x)
    assert np.all(np.isfinite(g))


def test_gelu_exact_is_unsupported():
    with pytest.raises(fg.UnsupportedError, match="gelu"):
        nn.gelu(np.ones(3), approximate=False)


# extreme inputs: (dtype, largest magnitude used)
EXTREMES = [(np.float32, 3e38), (np.float64, 1e308)]


def _extreme_inputs(dtype, big):
    return np.array([-big, -big / 7, -1e4, -100.0, -30.0, -1.0, 0.0, 1.0, 30.0, 100.0, 1e4, big / 7, big],
                    dtype=dtype)


@pytest.mark.parametrize("dtype,big", EXTREMES)
@pytest.mark.parametrize("name", ["relu", "leaky_relu", "elu", "gelu", "sigmoid", "tanh", "softplus", "silu"])
def test_elementwise_stable_at_extremes(name, dtype, big):
    f, ref = ACTIVATIONS[name]
    x = _extreme_inputs(dtype, big)
    with np.errstate(over="ignore", invalid="ignore"):
        expected = ref(x.astype(np.float64))
    out, vjp_fn = fg.vjp(f, x)
    (g,) = vjp_fn(np.ones_like(x))
    assert out.dtype == dtype and g.dtype == dtype
    assert np.all(np.isfinite(out)), out
    assert np.all(np.isfinite(g)), g
    # exact at the extremes (the references are correct there where they are finite)
    ok = np.isfinite(expected)
    np.testing.assert_allclose(out[ok], expected[ok].astype(dtype), rtol=1e-6, atol=1e-30)
    # gradients at the ends of the range: the saturated slopes
    slopes = {"relu": (0, 1), "leaky_relu": (0.01, 1), "elu": (0, 1), "gelu": (0, 1), "sigmoid": (0, 0),
              "tanh": (0, 0), "softplus": (0, 1), "silu": (0, 1)}[name]
    np.testing.assert_allclose(g[[0, 1, 2]], slopes[0], rtol=1e-6)
    np.testing.assert_allclose(g[[-3, -2, -1]], slopes[1], rtol=1e-6)


@pytest.mark.parametrize("dtype,big", EXTREMES)
def test_softmax_family_stable_at_extremes(dtype, big):
    # large logits of both signs in one row: the true softmax and logsumexp are finite
    x = np.array([[big, -big, 0.0, big / 2], [-big, -big / 3, -1e4, -big / 2],
                  [1e4, 1e4 - 1, 1e4 - 2, -1e4]], dtype=dtype)
    with np.errstate(over="raise", invalid="raise"):  # nothing overflows, even in intermediates
        p = nn.softmax(x)
        lse = nn.logsumexp(x, axis=-1)
    assert p.dtype == dtype and lse.dtype == dtype
    np.testing.assert_allclose(p[0], [1, 0, 0, 0], atol=1e-30)
    np.testing.assert_allclose(p[1], [0, 0, 1, 0], atol=1e-30)
    np.testing.assert_allclose(p[2, :3], np_softmax(np.array([2.0, 1.0, 0.0])), rtol=1e-6)
    np.testing.assert_allclose(lse, [big, -1e4, 1e4 + np.log(1 + np.exp(-1) + np.exp(-2))], rtol=1e-6)
    ct = RNG.normal(size=x.shape).astype(dtype)
    for f in (nn.softmax, lambda x: nn.logsumexp(x, axis=-1)):
        out, vjp_fn = fg.vjp(f, x)
        (g,) = vjp_fn(ct if np.ndim(out) == 2 else ct[:, 0])
        assert g.dtype == dtype and np.all(np.isfinite(g)), g
    # d logsumexp / dx = softmax
    np.testing.assert_allclose(fg.grad(lambda x: fnp.sum(nn.logsumexp(x, axis=-1)))(x), p, atol=1e-6)
    # log_softmax where its true value is finite (the spread of each row within the range)
    y = np.array([[big, big / 2, 0.0, -1e4], [-big / 2, -big, -big / 4, -big / 3]], dtype=dtype)
    with np.errstate(over="raise", invalid="raise"):
        lp = nn.log_softmax(y)
    np.testing.assert_allclose(lp, [[0, -big / 2, -big, -big], [-big / 4, -(big / 4) * 3, 0, -big / 12]],
                               rtol=1e-6)
    out, vjp_fn = fg.vjp(nn.log_softmax, y)
    cty = RNG.normal(size=y.shape).astype(dtype)
    (g,) = vjp_fn(cty)
    assert g.dtype == dtype and np.all(np.isfinite(g))
    np.testing.assert_allclose(g, cty - np_softmax(y.astype(np.float64)) * cty.sum(-1, keepdims=True),
                               rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softmax_rows_sum_to_one_and_keep_dtype(dtype):
    x = (RNG.normal(size=(6, 10)) * 50).astype(dtype)
    p = nn.softmax(x)
    assert p.dtype == dtype
    np.testing.assert_allclose(p.sum(-1), 1, rtol=1e-6 if dtype == np.float32 else 1e-14)


# ----------------------------------------------------------------------------- losses

def np_log_softmax(z):
    return z - np_logsumexp(z, axis=-1, keepdims=True)


def _onehot(y, c):
    return np.eye(c)[y]


def test_mse():
    p, t = RNG.normal(size=(5, 3)), RNG.normal(size=(5, 3))
    np.testing.assert_allclose(nn.mse(p, t), np.mean((p - t) ** 2), rtol=1e-14)
    check_grads(nn.mse, (p, t), argnums=(0, 1), ref=lambda p, t: np.mean((p - t) ** 2), rtol=1e-8)
    np.testing.assert_allclose(fg.grad(nn.mse)(p, t), 2 * (p - t) / p.size, rtol=1e-14)
    # float32 predictions with float64 targets: the loss and gradient stay float32
    v, g = fg.value_and_grad(nn.mse)(p.astype(np.float32), t)
    assert v.dtype == np.float32 and g.dtype == np.float32


def test_cross_entropy_integer_labels():
    z = RNG.normal(size=(6, 4)) * 2
    y = np.array([0, 3, 1, 1, 2, 0])

    def ref(z):
        return -np.mean(np_log_softmax(z)[np.arange(6), y])

    np.testing.assert_allclose(nn.cross_entropy(z, y), ref(z), rtol=1e-14)
    check_grads(lambda z: nn.cross_entropy(z, y), (z,), ref=ref, rtol=1e-8)
    # gradient = (softmax - onehot) / batch size
    np.testing.assert_allclose(fg.grad(nn.cross_entropy)(z, y), (np_softmax(z) - _onehot(y, 4)) / 6,
                               rtol=1e-13, atol=1e-16)
    # labels of another integer dtype, and the softmax_cross_entropy alias
    np.testing.assert_allclose(nn.softmax_cross_entropy(z, y.astype(np.int32)), ref(z), rtol=1e-14)
    np.testing.assert_allclose(nn.cross_entropy(z, y.astype(np.uint8)), ref(z), rtol=1e-14)


def test_cross_entropy_probability_and_onehot_targets():
    z = RNG.normal(size=(5, 3))
    t = RNG.dirichlet(np.ones(3), size=5)

    def ref(z, t):
        return -np.mean(np.sum(t * np_log_softmax(z), axis=-1))

    np.testing.assert_allclose(nn.cross_entropy(z, t), ref(z, t), rtol=1e-14)
    check_grads(nn.cross_entropy, (z, t), argnums=(0, 1), ref=ref, rtol=1e-8)
    np.testing.assert_allclose(fg.grad(nn.cross_entropy)(z, t), (np_softmax(z) - t) / 5, rtol=1e-13, atol=1e-16)
    y = np.array([2, 0, 1, 1, 0])
    for onehot in (_onehot(y, 3), _onehot(y, 3).astype(np.int64), _onehot(y, 3).astype(bool)):
        np.testing.assert_allclose(nn.cross_entropy(z, onehot), nn.cross_entropy(z, y), rtol=1e-14)


def test_cross_entropy_leading_axes_and_single_example():
    z = RNG.normal(size=(2, 3, 4))
    y = RNG.integers(0, 4, size=(2, 3))
    ref = -np.mean(np.take_along_axis(np_log_softmax(z), y[..., None], -1))
    np.testing.assert_allclose(nn.cross_entropy(z, y), ref, rtol=1e-14)
    np.testing.assert_allclose(nn.cross_entropy(z[0, 0], y[0, 0]), -np_log_softmax(z[0, 0])[y[0, 0]], rtol=1e-14)


@pytest.mark.parametrize("dtype,big", EXTREMES)
def test_cross_entropy_large_logits(dtype, big):
    z = np.array([[big, -big, 0.0], [1e4, -1e4, 1e4], [0.0, 1.0, 2.0]], dtype=dtype)
    y = np.array([0, 2, 1])
    with np.errstate(over="raise", invalid="raise"):
        v, g = fg.value_and_grad(nn.cross_entropy)(z, y)
    assert v.dtype == dtype and g.dtype == dtype
    expected = (0.0 + np.log(2) + (np_logsumexp(np.array([0.0, 1, 2])) - 1)) / 3
    np.testing.assert_allclose(v, expected, rtol=1e-6)
    onehot = _onehot(y, 3)
    with np.errstate(over="ignore"):
        p = np_softmax(z.astype(np.float64))
    np.testing.assert_allclose(g, (p - onehot) / 3, atol=1e-7)
    # probability targets too (where the target is 0 for a -big logit: 0 * (-2 big) must not be NaN...
    t = np.array([[1.0, 0, 0], [0.5, 0, 0.5], [0.2, 0.3, 0.5]], dtype=dtype)
    v2, g2 = fg.value_and_grad(nn.cross_entropy)(z, t)
    assert np.isfinite(v2) and np.all(np.isfinite(g2))


def test_nll():
    z = RNG.normal(size=(4, 5))
    lp = np_log_softmax(z)
    y = np.array([4, 0, 2, 2])
    np.testing.assert_allclose(nn.nll(lp, y), -np.mean(lp[np.arange(4), y]), rtol=1e-14)
    np.testing.assert_allclose(nn.nll(nn.log_softmax(z), y), nn.cross_entropy(z, y), rtol=1e-14)
    g = fg.grad(nn.nll)(lp, y)
    np.testing.assert_allclose(g, -_onehot(y, 5) / 4, rtol=1e-15)
    np.testing.assert_allclose(nn.nll(lp, _onehot(y, 5)), nn.nll(lp, y), rtol=1e-14)


def test_binary_cross_entropy_with_logits():
    x = RNG.normal(size=(4, 3)) * 3
    t = RNG.uniform(size=(4, 3))

    def ref(x, t):
        s = np_sigmoid(x)
        return np.mean(-t * np.log(s) - (1 - t) * np.log(1 - s))

    np.testing.assert_allclose(nn.binary_cross_entropy_with_logits(x, t), ref(x, t), rtol=1e-12)
    check_grads(nn.binary_cross_entropy_with_logits, (x, t), argnums=(0, 1), ref=ref, rtol=1e-8)
    np.testing.assert_allclose(fg.grad(nn.binary_cross_entropy_with_logits)(x, t), (np_sigmoid(x) - t) / 12,
                               rtol=1e-13)
    labels = (t > 0.5)
    np.testing.assert_allclose(nn.binary_cross_entropy_with_logits(x, labels), ref(x, labels.astype(float)),
                               rtol=1e-12)


@pytest.mark.parametrize("dtype,big", EXTREMES)
def test_binary_cross_entropy_large_logits(dtype, big):
    x = np.array([big, -big, big, -big, 1e4, 0.0], dtype=dtype)
    t = np.array([1.0, 0.0, 0.5, 0.25, 1.0, 1.0], dtype=dtype)
    with np.errstate(over="raise", invalid="raise"):
        v, g = fg.value_and_grad(nn.binary_cross_entropy_with_logits)(x, t)
    assert v.dtype == dtype and g.dtype == dtype
    per = np.array([0, 0, big / 2, big / 4, 0, np.log(2)], dtype=np.float64)
    np.testing.assert_allclose(v, np.mean(per / 6 * 6), rtol=1e-6)
    np.testing.assert_allclose(g, (np.array([1, 0, 1, 0, 1, 0.5]) - t) / 6, rtol=1e-6)


def test_l2_penalty():
    params = [{"w": RNG.normal(size=(3, 4)), "b": RNG.normal(size=4)}, {"w": RNG.normal(size=(4, 2)),
                                                                          "b": RNG.normal(size=2)}]
    total = sum(np.sum(p["w"] ** 2) + np.sum(p["b"] ** 2) for p in params)
    np.testing.assert_allclose(nn.l2_penalty(params, 0.1), 0.05 * total, rtol=1e-14)
    g = fg.grad(nn.l2_penalty)(params, 0.1)
    for gl, pl in zip(g, params):
        for k in pl:
            np.testing.assert_allclose(gl[k], 0.1 * pl[k], rtol=1e-14)
    only_w = sum(np.sum(p["w"] ** 2) for p in params)
    np.testing.assert_allclose(nn.l2_penalty(params, 0.1, only_weights=True), 0.05 * only_w, rtol=1e-14)
    g = fg.grad(lambda p: nn.l2_penalty(p, 0.1, only_weights=True))(params)
    assert np.all(g[0]["b"] == 0) and np.allclose(g[0]["w"], 0.1 * params[0]["w"])
    first = nn.l2_penalty(params, 2.0, mask=lambda path, leaf: path.startswith("[0]"))
    np.testing.assert_allclose(first, np.sum(params[0]["w"] ** 2) + np.sum(params[0]["b"] ** 2), rtol=1e-14)
    # float32 params: float32 penalty; integer leaves are skipped; a traced weight
    p32 = {"w": params[0]["w"].astype(np.float32), "step": np.array(3)}
    assert nn.l2_penalty(p32, 0.5).dtype == np.float32
    gw = fg.grad(lambda lam: nn.l2_penalty(params, lam))(np.float64(0.3))
    np.testing.assert_allclose(gw, 0.5 * total, rtol=1e-14)
    assert nn.l2_penalty({}, 0.1) == 0.0
    with pytest.raises(fg.InputError, match="l2_penalty"):
        nn.l2_penalty(params, -1.0)


# ----------------------------------------------------------------------------- loss errors

def _msg(excinfo):
    return str(excinfo.value)


def test_cross_entropy_label_shape_errors():
    z = np.zeros((4, 3))
    with pytest.raises(fg.ShapeError) as e:
        nn.cross_entropy(z, np.zeros((4, 1), dtype=np.int64))
    assert "nn.cross_entropy" in _msg(e) and "f64[4,3]" in _msg(e) and "i64[4,1]" in _msg(e)
    with pytest.raises(fg.ShapeError) as e:                     # batch mismatch
        nn.cross_entropy(z, np.zeros(5, dtype=np.int64))
    assert "batch mismatch" in _msg(e) and "f64[4,3]" in _msg(e) and "i64[5]" in _msg(e)
    with pytest.raises(fg.ShapeError) as e:                     # targets of the wrong class count
        nn.cross_entropy(z, np.zeros((4, 2)))
    assert "nn.cross_entropy" in _msg(e) and "f64[4,2]" in _msg(e)
    with pytest.raises(fg.ShapeError, match="class axis"):
        nn.cross_entropy(np.float64(1.0), np.int64(0))


def test_cross_entropy_label_dtype_errors():
    z = np.zeros((4, 3))
    with pytest.raises(fg.DtypeError) as e:                     # float class indices
        nn.cross_entropy(z, np.array([0.0, 1.0, 2.0, 1.0]))
    assert "nn.cross_entropy" in _msg(e) and "integer" in _msg(e) and "f64[4]" in _msg(e)
    with pytest.raises(fg.DtypeError) as e:                     # swapped arguments
        nn.cross_entropy(np.array([0, 1, 2, 1]), z)
    assert "logits" in _msg(e) and "i64[4]" in _msg(e)
    with pytest.raises(fg.DtypeError, match="nn.nll"):
        nn.nll(z, np.array([True, False, True, True]))


def test_cross_entropy_out_of_range_labels():
    z = np.zeros((4, 3))
    with pytest.raises(fg.InputError) as e:
        nn.cross_entropy(z, np.array([0, 1, 3, 2]))
    assert "nn.cross_entropy" in _msg(e) and "label 3 at index 2" in _msg(e) and "[0, 3)" in _msg(e)
    with pytest.raises(fg.InputError, match="label -1"):
        nn.nll(z, np.array([0, -1, 1, 2]))
    # grad passes labels through as given (as jax.grad does): still checked
    with pytest.raises(fg.InputError, match="label 3 at index 2"):
        fg.value_and_grad(nn.cross_entropy)(z, np.array([0, 1, 3, 2]))
    # labels traced under jit cannot be checked: the loss is NaN, not a silent wrong value
    v = fg.jit(nn.nll, backend="interpret")(z, np.array([0, -1, 1, 2]))
    assert np.isnan(v)
    v, g = fg.jit(fg.value_and_grad(nn.cross_entropy), backend="interpret")(z, np.array([0, 1, 3, 2]))
    assert np.isnan(v)


def test_loss_errors_at_trace_time_record_user_line():
    z = np.zeros((4, 3))
    with pytest.raises(fg.ShapeError) as e:
        fg.grad(nn.cross_entropy)(z, np.zeros(3, dtype=np.int64))
    assert "test_nn.py" in _msg(e)                              # the user's line, not funcgrad's
    with pytest.raises(fg.ShapeError, match="nn.mse.*f64\\[4,3\\].*f64\\[4\\]"):
        fg.jit(nn.mse, backend="interpret")(z, np.zeros(4))


def test_bce_errors():
    with pytest.raises(fg.ShapeError, match="binary_cross_entropy_with_logits.*f64\\[3\\].*f64\\[3,1\\]"):
        nn.binary_cross_entropy_with_logits(np.zeros(3), np.zeros((3, 1)))
    with pytest.raises(fg.InputError, match="\\[0, 1\\].*2"):
        nn.binary_cross_entropy_with_logits(np.zeros(3), np.array([0.0, 2.0, 1.0]))
    with pytest.raises(fg.DtypeError, match="logits"):
        nn.binary_cross_entropy_with_logits(np.zeros(3, dtype=int), np.zeros(3))


# ----------------------------------------------------------------------------- diagnostics

def test_layer_grad_norms():
    grads = [{"w": RNG.normal(size=(3, 4)), "b": RNG.normal(size=4)}, {"w": RNG.normal(size=(4, 2)),
                                                                         "b": RNG.normal(size=2)}]
    norms = nn.layer_grad_norms(grads)
    assert list(norms) == ["[0]['b']", "[0]['w']", "[1]['b']", "[1]['w']"]
    for i in range(2):
        for k in ("w", "b"):
            np.testing.assert_allclose(norms[f"[{i}]['{k}']"], np.linalg.norm(grads[i][k]), rtol=1e-14)
    np.testing.assert_allclose(nn.global_norm(grads), np.sqrt(sum(v ** 2 for v in norms.values())), rtol=1e-14)
    # inside a traced function (returned as a pytree of scalars)
    traced = fg.jit(nn.layer_grad_norms, backend="interpret")(grads)
    for k in norms:
        np.testing.assert_allclose(traced[k], norms[k], rtol=1e-14)


def test_dead_relu_fraction():
    z1 = np.array([[1.0, -1.0, 0.0, -2.0], [-1.0, -3.0, 0.0, 5.0], [-1.0, -0.5, 0.0, -1.0]])
    # unit 0 alive (1 > 0 once), units 1 and 2 dead (<= 0 throughout), unit 3 alive
    assert nn.dead_relu_fraction(z1) == 0.5
    z2 = np.ones((3, 2))
    assert nn.dead_relu_fraction([z1, z2]) == [0.5, 0.0]
    assert nn.dead_relu_fraction(z1[0]) == 0.75                # one example: units <= 0
    out = fg.jit(nn.dead_relu_fraction, backend="interpret")([z1, -z2])
    assert [float(v) for v in out] == [0.5, 1.0]


# ----------------------------------------------------------------------------- initializers

# name -> (init, Var[w] as a function of (fan_in, fan_out), distribution). The seeds' scales
# (seed 002; seed 001 cites the same papers) are standard deviations: Glorot/Xavier
# sqrt(2 / (n_{l-1} + n_l)), Kaiming/He sqrt(2 / n_{l-1}), and LeCun 1 / sqrt(n_{l-1}) (seed
# 002's forward-pass-only version of Glorot). A uniform U(-a, a) has variance a^2 / 3.
INITS = {
    "glorot_normal": (nn.glorot_normal, lambda i, o: math.sqrt(2 / (i + o)) ** 2, "normal"),
    "glorot_uniform": (nn.glorot_uniform, lambda i, o: math.sqrt(2 / (i + o)) ** 2, "uniform"),
    "he_normal": (nn.he_normal, lambda i, o: math.sqrt(2 / i) ** 2, "normal"),
    "he_uniform": (nn.he_uniform, lambda i, o: math.sqrt(2 / i) ** 2, "uniform"),
    "lecun_normal": (nn.lecun_normal, lambda i, o: (1 / math.sqrt(i)) ** 2, "normal"),
    "lecun_uniform": (nn.lecun_uniform, lambda i, o: (1 / math.sqrt(i)) ** 2, "uniform"),
}
Z = 5.0   # statistical checks allow 5 standard errors (a false failure has probability ~6e-7)


def _check_moments(w, var, dist):
    """Mean 0 and variance ``var`` within Z standard errors of the sample statistics:
    SE(mean) = sigma / sqrt(n); SE(s^2) = sqrt((mu4 - sigma^4) / n), with
    mu4 = 3 sigma^4 (normal) or 9/5 sigma^4 (uniform)."""
    s = np.asarray(w, dtype=np.float64).ravel()
    n = s.size
    assert abs(s.mean()) < Z * math.sqrt(var / n), (s.mean(), var)
    kurt = 3.0 if dist == "normal" else 1.8
    assert abs(s.var() - var) < Z * var * math.sqrt((kurt - 1) / n), (s.var(), var)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", list(INITS))
def test_initializer_statistics(name, dtype):
    init, var_of, dist = INITS[name]
    fan_in, fan_out = 300, 200      # unequal fans: the three variances differ by 20% or more
    w = init(fgr.key(1), (fan_in, fan_out), dtype)
    assert isinstance(w, np.ndarray) and w.shape == (fan_in, fan_out) and w.dtype == dtype
    var = var_of(fan_in, fan_out)
    _check_moments(w, var, dist)
    s = w.astype(np.float64)
    n = s.size
    a = math.sqrt(3 * var)          # the uniform's bound: sqrt(6 / (fan_in + fan_out)) for Glorot...
    if dist == "uniform":
        assert np.all(np.abs(s) <= a * (1 + 1e-6)) and np.abs(s).max() > (1 - 10 / n) * a
        # each tenth of [-a, a] holds a tenth of the draws
        counts, _ = np.histogram(s, bins=10, range=(-a, a))
        assert np.all(np.abs(counts / n - 0.1) < Z * math.sqrt(0.1 * 0.9 / n)), counts
    else:                           # a normal exceeds sqrt(3) sigma with probability erfc(sqrt(3/2))
        p = math.erfc(math.sqrt(1.5))
        assert abs(np.mean(np.abs(s) > a) - p) < Z * math.sqrt(p * (1 - p) / n)
    # the same key gives the same weights; other keys others, uncorrelated with these
    np.testing.assert_array_equal(init(fgr.key(1), (fan_in, fan_out), dtype), w)
    for other in (fgr.key(2), fgr.split(fgr.key(1))[0]):
        w2 = np.asarray(init(other, (fan_in, fan_out), dtype), dtype=np.float64)
        assert abs(np.corrcoef(s.ravel(), w2.ravel())[0, 1]) < Z / math.sqrt(n)


def test_initializer_fans_and_defaults():
    assert nn.compute_fans((3, 5)) == (3, 5)
    assert nn.compute_fans((3, 3, 4, 8)) == (36, 72)         # receptive field 3 * 3, as JAX
    assert nn.compute_fans((4, 6, 2), in_axis=0, out_axis=1) == (8, 12)
    w = nn.he_normal(fgr.key(0), (50, 7))
    assert w.dtype == np.float64                              # default dtype
    # the other modes, and a convolution kernel's fans (receptive field included)
    _check_moments(nn.variance_scaling(2.0, "fan_out", "normal")(fgr.key(3), (100, 400)), 2 / 400, "normal")
    _check_moments(nn.variance_scaling(0.5, "fan_avg", "uniform")(fgr.key(4), (100, 400)), 0.5 / 250, "uniform")
    _check_moments(nn.he_normal(fgr.key(5), (3, 3, 16, 32)), 2 / (3 * 3 * 16), "normal")
    w = nn.variance_scaling(0.5, "fan_out", "uniform")(fgr.key(0), (10, 4000))
    assert np.abs(w).max() <= math.sqrt(3 * 0.5 / 4000)
    # aliases: Xavier is Glorot, Kaiming is He
    for a, b in ((nn.xavier_normal, nn.glorot_normal), (nn.xavier_uniform, nn.glorot_uniform),
                 (nn.kaiming_normal, nn.he_normal), (nn.kaiming_uniform, nn.he_uniform)):
        np.testing.assert_array_equal(a(fgr.key(6), (5, 4)), b(fgr.key(6), (5, 4)))
    # constant initializers ignore the key and keep the dtype
    z32 = nn.zeros(fgr.key(0), (3, 2), np.float32)
    assert z32.dtype == np.float32 and z32.shape == (3, 2) and np.all(z32 == 0)
    assert nn.zeros(None, (3,)).dtype == np.float64
    assert np.all(nn.ones(None, (2, 2)) == 1)
    assert np.all(nn.constant(0.1)(None, (2,)) == 0.1)


def test_initializer_errors():
    with pytest.raises(fg.ShapeError, match="1-d.*\\(5,\\)"):
        nn.glorot_normal(fgr.key(0), (5,))
    with pytest.raises(fg.DtypeError, match="he_uniform.*int32"):
        nn.he_uniform(fgr.key(0), (2, 3), np.int32)
    with pytest.raises(fg.DtypeError, match="zeros.*int64"):
        nn.zeros(None, (2,), np.int64)
    with pytest.raises(fg.ShapeError, match="negative"):
        nn.lecun_normal(fgr.key(0), (3, -1))
    with pytest.raises(fg.InputError, match="mode"):
        nn.variance_scaling(1.0, "fan_sum", "normal")
    with pytest.raises(fg.InputError, match="scale"):
        nn.variance_scaling(0.0, "fan_in", "normal")
    with pytest.raises(fg.UnsupportedError, match="truncated_normal"):
        nn.variance_scaling(1.0, "fan_in", "truncated_normal")


# ----------------------------------------------------------------------------- dropout

def _np_dropout(mask, x, rate):
    """Inverted dropout written out: kept units scaled by 1 / (1 - rate), the others 0."""
    return np.where(mask, x / (1 - rate), 0)


@pytest.mark.parametrize("rate", [0.1, 0.5, 0.8])
def test_dropout_statistics(rate):
    x = np.ones((400, 250))
    y = np.asarray(nn.dropout(fgr.key(3), x, rate))
    kept = y != 0
    n = x.size
    assert abs(1 - kept.mean() - rate) < Z * math.sqrt(rate * (1 - rate) / n)   # fraction dropped ~ rate
    np.testing.assert_allclose(y[kept], 1 / (1 - rate), rtol=1e-15)            # kept units scaled up
    # E[y] = x elementwise: 2000 draws of each of 20 values (Var[y_j] = x_j^2 rate / (1 - rate))
    x0 = RNG.normal(size=20)
    draws = np.asarray(nn.dropout(fgr.key(4), np.tile(x0, (2000, 1)), rate))
    se = np.abs(x0) * math.sqrt(rate / (1 - rate) / 2000)
    assert np.all(np.abs(draws.mean(axis=0) - x0) < Z * se), (draws.mean(axis=0), x0)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_dropout_values_and_mask(dtype):
    """The mask is bernoulli(key, 1 - rate, x.shape) (the documented contract): the
    same key gives the same mask for any x of that shape; other keys other masks."""
    x = RNG.normal(size=(30, 20)).astype(dtype)
    rate = 0.25
    mask = np.asarray(fgr.bernoulli(fgr.key(7), 1 - rate, x.shape))
    y = nn.dropout(fgr.key(7), x, rate)
    assert isinstance(y, np.ndarray) and y.dtype == dtype and y.shape == x.shape
    np.testing.assert_allclose(y, _np_dropout(mask, x, rate), rtol=1e-7 if dtype == np.float32 else 0)
    assert np.all(y[~mask] == 0)
    np.testing.assert_array_equal(nn.dropout(fgr.key(7), x, rate), y)
    assert not np.array_equal(nn.dropout(fgr.key(8), x, rate) != 0, mask)
    # integer activations become float64
    assert nn.dropout(fgr.key(7), np.ones((2, 3), dtype=np.int64), 0.5).dtype == np.float64


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_dropout_gradient_fd(dtype):
    rate, key = 0.4, fgr.key(11)
    x = RNG.normal(size=(5, 6)).astype(dtype)
    c = RNG.normal(size=(5, 6)).astype(dtype)
    mask = np.asarray(fgr.bernoulli(key, 1 - rate, x.shape))
    g = fg.grad(lambda x: fnp.sum(nn.dropout(key, x, rate) * c))(x)
    assert g.dtype == dtype and g.shape == x.shape
    # finite differences of dropout itself (the same key: the same mask at every perturbed x)
    fd = numerical_grad(lambda x: np.sum(np.asarray(nn.dropout(key, x, rate)) * c), (x,))
    tol = 1e-6 if dtype == np.float32 else 1e-9
    assert rel_error(g, fd) < tol, (g, fd)
    # the formula: mask / (1 - rate) times the cotangent; dropped units get exactly 0
    np.testing.assert_allclose(g, mask * c.astype(np.float64) / (1 - rate), rtol=tol)
    assert np.all(g[~mask] == 0)
    if dtype == np.float64:   # against finite differences of the NumPy formula, with fg.vjp too
        check_grads(lambda x: nn.dropout(key, x, rate), (x,), ref=lambda x: _np_dropout(mask, x, rate),
                    rtol=1e-9, value_rtol=1e-15)


def test_dropout_eval_identity_and_errors():
    x = RNG.normal(size=(4, 5))
    assert nn.dropout(fgr.key(0), x, 0.5, training=False) is x
    assert nn.dropout(fgr.key(0), x, 0.0) is x
    assert nn.dropout(None, x, 0.3, training=False) is x         # no key needed at evaluation
    # identity in a traced program too, gradient 1
    np.testing.assert_array_equal(fg.grad(lambda x: fnp.sum(nn.dropout(None, x, 0.5, training=False)))(x), 1)
    for bad in (1.0, 1.5, -0.1, float("nan"), float("inf"), np.float64(-1)):
        with pytest.raises(fg.InputError, match="nn.dropout: rate must be a finite number in \\[0.0, 1.0\\)"):
            nn.dropout(fgr.key(0), x, bad)
    with pytest.raises(fg.InputError, match="nn.dropout: rate must be a Python number"):
        nn.dropout(fgr.key(0), x, "0.5")
    with pytest.raises(fg.InputError, match="nn.dropout: rate must be a Python number.*f64\\[\\]"):
        fg.jit(lambda x, r: nn.dropout(fgr.key(0), x, r), backend="interpret")(x, np.float64(0.5))
    with pytest.raises(fg.InputError, match="training"):
        nn.dropout(fgr.key(0), x, 0.5, training="yes")
    with pytest.raises(fg.DtypeError, match="key"):
        nn.dropout(3, x, 0.5)                                     # an int seed, not a key


# ----------------------------------------------------------------------------- layers

def _mlp_params(sizes, dtype=np.float64, seed=0):
    rng = np.random.default_rng(seed)
    return [{"w": (rng.normal(size=(a, b)) / np.sqrt(a)).astype(dtype), "b": (0.1 * rng.normal(size=b)).astype(dtype)}
            for a, b in zip(sizes[:-1], sizes[1:])]


def _np_mlp(params, x, act=lambda z: np.maximum(z, 0)):
    h, zs = x, []
    for layer in params[:-1]:
        z = h @ layer["w"] + layer["b"]
        zs.append(z)
        h = act(z)
    return h @ params[-1]["w"] + params[-1]["b"], zs


def test_dense_and_mlp_apply():
    params = _mlp_params([5, 8, 6, 3])
    x = RNG.normal(size=(7, 5))
    np.testing.assert_allclose(nn.dense(params[0], x), x @ params[0]["w"] + params[0]["b"], rtol=1e-14)
    out, zs = nn.mlp_apply(params, x, return_hidden=True)
    ref, ref_zs = _np_mlp(params, x)
    assert out.shape == (7, 3)
    np.testing.assert_allclose(out, ref, rtol=1e-13)
    assert len(zs) == 2
    for z, rz in zip(zs, ref_zs):
        np.testing.assert_allclose(z, rz, rtol=1e-13)
    np.testing.assert_allclose(nn.mlp_apply(params, x, activation=nn.tanh, final_activation=nn.softmax),
                               np_softmax(_np_mlp(params, x, np.tanh)[0]), rtol=1e-13)
    # a single example (no batch axis), and more leading axes
    np.testing.assert_allclose(nn.mlp_apply(params, x[0]), ref[0], rtol=1e-13)
    x3 = RNG.normal(size=(2, 4, 5))
    np.testing.assert_allclose(nn.mlp_apply(params, x3), _np_mlp(params, x3)[0], rtol=1e-13)
    # one layer: a linear model
    np.testing.assert_allclose(nn.mlp_apply(params[:1], x), x @ params[0]["w"] + params[0]["b"], rtol=1e-14)


def test_mlp_gradients_fd():
    params = _mlp_params([4, 6, 3])
    x = RNG.normal(size=(5, 4))
    y = np.array([0, 2, 1, 1, 0])

    def loss(w0, b0, w1, b1):
        p = [{"w": w0, "b": b0}, {"w": w1, "b": b1}]
        return nn.cross_entropy(nn.mlp_apply(p, x, activation=nn.tanh), y) + nn.l2_penalty(p, 0.01)

    def ref(w0, b0, w1, b1):
        p = [{"w": w0, "b": b0}, {"w": w1, "b": b1}]
        z = _np_mlp(p, x, np.tanh)[0]
        l2 = sum(np.sum(a ** 2) for a in (w0, b0, w1, b1))
        return -np.mean(np_log_softmax(z)[np.arange(5), y]) + 0.005 * l2

    args = (params[0]["w"], params[0]["b"], params[1]["w"], params[1]["b"])
    check_grads(loss, args, argnums=(0, 1, 2, 3), ref=ref, rtol=1e-8)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_mlp_dtype_kept(dtype):
    params = _mlp_params([3, 4, 2], dtype)
    x = RNG.normal(size=(5, 3)).astype(dtype)
    y = np.array([0, 1, 1, 0, 1])
    out = nn.mlp_apply(params, x, activation=nn.gelu)
    assert out.dtype == dtype
    p64 = [{k: v.astype(np.float64) for k, v in layer.items()} for layer in params]
    np.testing.assert_allclose(out, _np_mlp(p64, x.astype(np.float64), ACTIVATIONS["gelu"][1])[0],
                               rtol=1e-5 if dtype == np.float32 else 1e-13, atol=1e-6 if dtype == np.float32 else 0)
    loss = lambda p, x: nn.cross_entropy(nn.mlp_apply(p, x, activation=nn.gelu), y)
    v, (g, gx) = fg.value_and_grad(loss, argnums=(0, 1))(params, x)
    assert v.dtype == dtype and gx.dtype == dtype
    assert all(leaf.dtype == dtype for leaf in fg.tree.leaves(g))
    assert [tuple(layer["w"].shape) for layer in g] == [(3, 4), (4, 2)]


def test_mlp_init():
    params = nn.mlp_init(fgr.key(0), [784, 100, 10])
    assert [tuple(p["w"].shape) for p in params] == [(784, 100), (100, 10)]
    assert [tuple(p["b"].shape) for p in params] == [(100,), (10,)]
    assert all(np.all(p["b"] == 0) for p in params)
    assert all(leaf.dtype == np.float64 for leaf in fg.tree.leaves(params))
    _check_moments(params[0]["w"], 2 / 784, "normal")              # he_normal by default
    _check_moments(params[1]["w"], 2 / 100, "normal")
    w0 = np.asarray(params[0]["w"])
    assert not np.array_equal(np.asarray(params[1]["w"])[:10, :10], w0[:10, :10])   # one key per layer
    np.testing.assert_array_equal(nn.mlp_init(fgr.key(0), [784, 100, 10])[0]["w"], w0)
    assert not np.array_equal(nn.mlp_init(fgr.key(1), [784, 100, 10])[0]["w"], w0)
    p32 = nn.mlp_init(fgr.key(0), [3, 4, 2], w_init=nn.glorot_uniform, dtype=np.float32)
    assert all(leaf.dtype == np.float32 for leaf in fg.tree.leaves(p32))
    assert np.abs(np.asarray(p32[0]["w"])).max() <= math.sqrt(6 / 7)
    assert nn.mlp_apply(p32, np.ones((2, 3), np.float32)).dtype == np.float32
    d = nn.dense_init(fgr.key(1), 3, 2, w_init=nn.lecun_normal, b_init=nn.ones)
    assert d["w"].shape == (3, 2) and np.all(np.asarray(d["b"]) == 1)


def test_layer_errors():
    params = _mlp_params([5, 8, 3])
    with pytest.raises(fg.ShapeError) as e:
        nn.mlp_apply(params, np.zeros((7, 4)))
    assert "layer 0 (params[0])" in _msg(e) and "x f64[7,4]" in _msg(e) and "w f64[5,8]" in _msg(e), _msg(e)
    # a later layer: its input is the previous layer's output
    bad = params + [{"w": np.zeros((6, 2)), "b": np.zeros(2)}]
    with pytest.raises(fg.ShapeError) as e:
        nn.mlp_apply(bad, np.zeros((7, 5)))
    assert "layer 2 (params[2])" in _msg(e) and "h2 f64[7,3]" in _msg(e) and "w f64[6,2]" in _msg(e), _msg(e)
    with pytest.raises(fg.ShapeError, match="layer 0.*x f32\\[2,4\\]"):           # traced, in a gradient
        fg.grad(lambda p, x: fnp.sum(nn.mlp_apply(p, x)))(_mlp_params([5, 3], np.float32), np.zeros((2, 4), np.float32))
    with pytest.raises(fg.ShapeError, match="nn.dense: input features.*x f64\\[2,4\\] @ w f64\\[5,8\\]"):
        nn.dense(params[0], np.zeros((2, 4)))
    with pytest.raises(fg.ShapeError, match="nn.dense.*b f64\\[7\\]"):
        nn.dense({"w": np.zeros((5, 8)), "b": np.zeros(7)}, np.zeros((2, 5)))
    with pytest.raises(fg.InputError, match="nn.dense.*'w' and 'b'"):
        nn.dense([np.zeros((5, 8))], np.zeros((2, 5)))
    with pytest.raises(fg.InputError, match="mlp_init.*sizes"):
        nn.mlp_init(None, [5])
    with pytest.raises(fg.InputError, match="mlp_init.*sizes\\[1\\]"):
        nn.mlp_init(None, [5, 0, 3])
    with pytest.raises(fg.InputError, match="mlp_apply"):
        nn.mlp_apply({"w": np.zeros((2, 2)), "b": np.zeros(2)}, np.zeros(2))
    with pytest.raises(fg.InputError, match="dense_init.*n_out"):
        nn.dense_init(fgr.key(0), 3, 2.5)


# ----------------------------------------------------------------------------- compiled (Numba)

@pytest.fixture(scope="module")
def compiled_mlp_step():
    """One Numba compile of a float32 MLP training loss's value_and_grad
    (ReLU MLP, cross-entropy, L2 penalty), with the interpreter's twin."""
    def loss(params, x, y):
        logits = nn.mlp_apply(params, x, activation=nn.relu)
        return nn.cross_entropy(logits, y) + nn.l2_penalty(params, 1e-3, only_weights=True)

    return fg.jit(fg.value_and_grad(loss), backend="numba"), fg.jit(fg.value_and_grad(loss), backend="interpret")


@pytest.mark.parametrize("seed", [0, 1])
def test_mlp_numba_matches_interpreter(compiled_mlp_step, seed):
    numba_step, interp_step = compiled_mlp_step
    rng = np.random.default_rng(seed)
    params = _mlp_params([12, 16, 8, 4], np.float32, seed)
    x = rng.normal(size=(32, 12)).astype(np.float32)
    y = rng.integers(0, 4, size=32)
    v_n, g_n = numba_step(params, x, y)
    v_i, g_i = interp_step(params, x, y)
    assert np.asarray(v_n).dtype == np.float32
    np.testing.assert_allclose(v_n, v_i, rtol=2e-6)
    for a, b in zip(fg.tree.leaves(g_n), fg.tree.leaves(g_i)):
        assert a.dtype == np.float32
        np.testing.assert_allclose(a, b, rtol=2e-5, atol=1e-7)


def test_activations_numba_at_extremes():
    """All activations with their gradients, compiled by Numba (whose exp, log, tanh
    and logistic are funcgrad's own vectorized versions) at the ends of float32's range."""
    acts = [ACTIVATIONS[n][0] for n in ("elu", "gelu", "tanh", "softplus", "silu", "softmax")]
    ct = np.float32(1e-3)

    def f(x):
        outs = tuple(a(x) for a in acts) + (nn.logsumexp(x),)
        grads = tuple(fg.grad(lambda x: fnp.sum(a(x)) * ct)(x) for a in acts)
        return outs + grads + (fg.grad(nn.logsumexp)(x),)

    x = _extreme_inputs(np.float32, 3e38)
    compiled = fg.jit(f, backend="numba")(x)
    interpreted = fg.jit(f, backend="interpret")(x)
    for c, i in zip(compiled, interpreted):
        assert np.asarray(c).dtype == np.float32 and np.all(np.isfinite(c))
        np.testing.assert_allclose(c, i, rtol=1e-5, atol=1e-30)


DROPOUT_RATE = 0.3


def _dropout_and_grad(key, x, c):
    """Dropout's output and the gradient of <c, dropout(x)>, one program."""
    y = nn.dropout(key, x, DROPOUT_RATE)
    g = fg.grad(lambda x: fnp.sum(nn.dropout(key, x, DROPOUT_RATE) * c))(x)
    return y, g


@pytest.fixture(scope="module")
def compiled_dropout():
    """One Numba compile of dropout with its gradient (key traced), and the interpreter's twin."""
    return fg.jit(_dropout_and_grad, backend="numba"), fg.jit(_dropout_and_grad, backend="interpret")


def test_dropout_numba_matches_interpreter(compiled_dropout):
    numba_fn, interp_fn = compiled_dropout
    x = RNG.normal(size=(60, 50)).astype(np.float32)
    c = RNG.normal(size=(60, 50)).astype(np.float32)
    masks = []
    for seed in (0, 1):
        key = fgr.key(seed)
        y, g = numba_fn(key, x, c)
        y_i, g_i = interp_fn(key, x, c)
        assert y.dtype == np.float32 and g.dtype == np.float32
        mask = np.asarray(fgr.bernoulli(key, 1 - DROPOUT_RATE, x.shape))   # the same mask as eager code
        np.testing.assert_array_equal(y != 0, mask)
        np.testing.assert_array_equal(y_i != 0, mask)
        np.testing.assert_allclose(y, y_i, rtol=1e-7, atol=0)
        np.testing.assert_allclose(g, g_i, rtol=1e-7, atol=0)
        np.testing.assert_allclose(y, _np_dropout(mask, x.astype(np.float64), DROPOUT_RATE), rtol=1e-6)
        np.testing.assert_allclose(g, mask * c.astype(np.float64) / (1 - DROPOUT_RATE), rtol=1e-6)
        assert abs((~mask).mean() - DROPOUT_RATE) < Z * math.sqrt(DROPOUT_RATE * (1 - DROPOUT_RATE) / x.size)
        masks.append(mask)
    assert not np.array_equal(*masks)                   # a fresh key, a fresh mask (no recompile)


def _train_step(params, key, x, y):
    """A 1-hidden-layer ReLU network with dropout after the hidden layer; returns
    the loss, its gradients and the diagnostics, all computed in one program."""
    def loss(params):
        z1 = nn.dense(params[0], x)
        h1 = nn.dropout(key, nn.relu(z1), 0.25)
        return nn.cross_entropy(nn.dense(params[1], h1), y), z1

    (value, z1), grads = fg.value_and_grad(loss, has_aux=True)(params)
    return value, grads, nn.layer_grad_norms(grads), nn.global_norm(grads), nn.dead_relu_fraction(z1)


@pytest.fixture(scope="module")
def compiled_train_step():
    return fg.jit(_train_step, backend="numba"), fg.jit(_train_step, backend="interpret")


def test_train_step_with_dropout_and_diagnostics(compiled_train_step):
    """Dead units (seed 000/001: a ReLU whose pre-activation is <= 0 on the whole batch)
    get no gradient; gradients through dropout match finite differences of a NumPy
    forward pass with the same mask; the diagnostics match NumPy; Numba matches
    the interpreter."""
    numba_step, interp_step = compiled_train_step
    params = _mlp_params([4, 6, 3], seed=3)
    params[0]["b"][[1, 4]] = -100.0                     # units 1 and 4 of the hidden layer are dead
    x = RNG.normal(size=(8, 4))
    y = RNG.integers(0, 3, size=8)
    key = fgr.key(21)
    mask = np.asarray(fgr.bernoulli(key, 0.75, (8, 6)))

    def np_loss(w0, b0, w1, b1):
        z1 = x @ w0 + b0
        h1 = _np_dropout(mask, np.maximum(z1, 0), 0.25)
        return -np.mean(np_log_softmax(h1 @ w1 + b1)[np.arange(8), y])

    args = (params[0]["w"], params[0]["b"], params[1]["w"], params[1]["b"])
    v, g, norms, gnorm, dead = numba_step(params, key, x, y)
    v_i, g_i, norms_i, gnorm_i, dead_i = interp_step(params, key, x, y)
    np.testing.assert_allclose(v, np_loss(*args), rtol=1e-13)
    fd = numerical_grad(np_loss, args, argnums=(0, 1, 2, 3))
    for got, want in zip((g[0]["w"], g[0]["b"], g[1]["w"], g[1]["b"]), fd):
        assert rel_error(got, want) < 1e-8
    assert np.all(g[0]["w"][:, [1, 4]] == 0) and np.all(g[0]["b"][[1, 4]] == 0)   # dead: exactly 0
    assert np.all(g[1]["w"][[1, 4]] == 0)
    z1 = x @ params[0]["w"] + params[0]["b"]
    assert dead == np.mean(np.all(z1 <= 0, axis=0)) and dead >= 2 / 6
    for path, leaf in (("[0]['w']", g[0]["w"]), ("[0]['b']", g[0]["b"]), ("[1]['w']", g[1]["w"]),
                       ("[1]['b']", g[1]["b"])):
        np.testing.assert_allclose(norms[path], np.linalg.norm(leaf), rtol=1e-13)
    np.testing.assert_allclose(gnorm, np.sqrt(sum(np.sum(l ** 2) for l in fg.tree.leaves(g))), rtol=1e-13)
    # the compiled step is the interpreter's
    np.testing.assert_allclose(v, v_i, rtol=1e-13)
    for a, b in zip(fg.tree.leaves((g, norms, gnorm, dead)), fg.tree.leaves((g_i, norms_i, gnorm_i, dead_i))):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-15)
