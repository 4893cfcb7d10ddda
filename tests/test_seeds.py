"""The lecture notes' worked examples (/work/shared/seeds), with every reference
gradient derived by hand and computed in plain NumPy, never by funcgrad."""
import numpy as np
import pytest

import funcgrad as fg
import funcgrad.numpy as fnp


# ----------------------------------------------------------------------------- seed 004: f(x1, x2)

def f_sin_prod(x1, x2):
    return np.sin(x1) + x1 * x2


@pytest.mark.parametrize("x1,x2", [(0.0, 0.0), (1.0, 2.0), (-0.7, 3.5), (np.pi / 3, -1.25)])
def test_seed004_sin_plus_product_scalar(x1, x2):
    g1, g2 = fg.grad(f_sin_prod, argnums=(0, 1))(x1, x2)
    # adjoints from the lecture: d/dx1 = cos(x1) + x2, d/dx2 = x1
    np.testing.assert_allclose(g1, np.cos(x1) + x2, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(g2, x1, rtol=1e-12, atol=1e-15)
    assert np.shape(g1) == () and np.shape(g2) == ()


def test_seed004_sin_plus_product_value_and_arrays():
    rng = np.random.default_rng(0)
    x1 = rng.normal(size=5)
    x2 = rng.normal(size=5)
    val, (g1, g2) = fg.value_and_grad(lambda a, b: f_sin_prod(a, b).sum(), argnums=(0, 1))(x1, x2)
    np.testing.assert_allclose(val, np.sum(np.sin(x1) + x1 * x2), rtol=1e-12)
    np.testing.assert_allclose(g1, np.cos(x1) + x2, rtol=1e-12)
    np.testing.assert_allclose(g2, x1, rtol=1e-12)


def test_seed004_sin_plus_product_float32_keeps_dtype():
    x1 = np.float32(0.5)
    x2 = np.float32(-2.0)
    g1, g2 = fg.grad(f_sin_prod, argnums=(0, 1))(x1, x2)
    assert g1.dtype == np.float32 and g2.dtype == np.float32
    np.testing.assert_allclose(g1, np.cos(0.5) - 2.0, rtol=1e-6)
    np.testing.assert_allclose(g2, 0.5, rtol=1e-6)


# ----------------------------------------------------------------------------- seed 003: toy network

NAMES = ["b0", "w0", "b1", "w1", "b2", "w2", "b3", "w3"]


def toy_f(p, x):
    return p["b3"] + p["w3"] * np.cos(
        p["b2"] + p["w2"] * np.exp(p["b1"] + p["w1"] * np.sin(p["b0"] + p["w0"] * x)))


def toy_loss(p, x, y):
    """Least squares, summed over the examples: sum_i (f[x_i] - y_i)^2."""
    return np.sum((toy_f(p, x) - y) ** 2)


def toy_grad_by_hand(p, x, y):
    """The lecture's backpropagation, written out step by step (x, y may be
    arrays: the loss is the sum of the per-example losses)."""
    b0, w0, b1, w1, b2, w2, b3, w3 = (p[k] for k in NAMES)
    # forward pass
    f0 = b0 + w0 * x
    h1 = np.sin(f0)
    f1 = b1 + w1 * h1
    h2 = np.exp(f1)
    f2 = b2 + w2 * h2
    h3 = np.cos(f2)
    f3 = b3 + w3 * h3
    # backward pass
    dl_df3 = 2.0 * (f3 - y)
    dl_dh3 = w3 * dl_df3              # df3/dh3 = w3
    dl_df2 = -np.sin(f2) * dl_dh3     # dh3/df2 = -sin f2
    dl_dh2 = w2 * dl_df2              # df2/dh2 = w2
    dl_df1 = np.exp(f1) * dl_dh2      # dh2/df1 = exp f1
    dl_dh1 = w1 * dl_df1              # df1/dh1 = w1
    dl_df0 = np.cos(f0) * dl_dh1      # dh1/df0 = cos f0
    # dl/db_k = dl/df_k, dl/dw_k = h_k dl/df_k with h_0 = x
    h = [x, h1, h2, h3]
    dfs = [dl_df0, dl_df1, dl_df2, dl_df3]
    out = {}
    for k in range(4):
        out[f"b{k}"] = np.sum(dfs[k])
        out[f"w{k}"] = np.sum(h[k] * dfs[k])
    return out


def _toy_params(seed):
    rng = np.random.default_rng(seed)
    return {k: float(v) for k, v in zip(NAMES, rng.normal(scale=0.7, size=8))}


def test_seed003_lecture_closed_form_dl_dw0():
    """The lecture's fully expanded expression for dl/domega0 (one example)."""
    p = _toy_params(1)
    x, y = 0.4, 1.3
    b0, w0, b1, w1, b2, w2, b3, w3 = (p[k] for k in NAMES)
    inner = b1 + w1 * np.sin(b0 + w0 * x)
    expected = (2 * (b3 + w3 * np.cos(b2 + w2 * np.exp(inner)) - y)
                * w1 * w2 * w3 * x * np.cos(b0 + w0 * x) * np.exp(inner)
                * -np.sin(b2 + w2 * np.exp(inner)))
    g = fg.grad(toy_loss)(p, x, y)
    np.testing.assert_allclose(g["w0"], expected, rtol=1e-12)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_seed003_toy_network_scalar_x_all_8_partials(seed):
    p = _toy_params(seed)
    x, y = 0.37 + seed, -0.5 + 0.3 * seed
    g = fg.grad(toy_loss)(p, x, y)
    ref = toy_grad_by_hand(p, x, y)
    assert set(g) == set(NAMES)
    for k in NAMES:
        np.testing.assert_allclose(g[k], ref[k], rtol=1e-10, atol=1e-13, err_msg=k)
        assert np.shape(g[k]) == ()


def test_seed003_toy_network_batch_sum_of_losses():
    p = _toy_params(7)
    rng = np.random.default_rng(8)
    x = rng.uniform(-1, 1, size=32)
    y = np.sin(3 * x) + 0.1 * rng.normal(size=32)
    val, g = fg.value_and_grad(toy_loss)(p, x, y)
    b0, w0, b1, w1, b2, w2, b3, w3 = (p[k] for k in NAMES)
    f3 = b3 + w3 * np.cos(b2 + w2 * np.exp(b1 + w1 * np.sin(b0 + w0 * x)))
    np.testing.assert_allclose(val, np.sum((f3 - y) ** 2), rtol=1e-12)
    ref = toy_grad_by_hand(p, x, y)
    for k in NAMES:
        np.testing.assert_allclose(g[k], ref[k], rtol=1e-10, atol=1e-12, err_msg=k)
    # the batch gradient is the sum of the per-example gradients
    per_example = [toy_grad_by_hand(p, xi, yi) for xi, yi in zip(x, y)]
    for k in NAMES:
        np.testing.assert_allclose(g[k], sum(d[k] for d in per_example), rtol=1e-10, atol=1e-12)


def test_seed003_toy_network_parameters_as_array_arguments():
    """The same network with the 8 parameters as 0-d arrays passed positionally."""
    p = _toy_params(3)
    x = np.linspace(-1, 1, 5)
    y = np.cos(x)

    def loss(b0, w0, b1, w1, b2, w2, b3, w3, x, y):
        return toy_loss(dict(zip(NAMES, (b0, w0, b1, w1, b2, w2, b3, w3))), x, y)

    args = [np.asarray(p[k]) for k in NAMES]
    grads = fg.grad(loss, argnums=tuple(range(8)))(*args, x, y)
    ref = toy_grad_by_hand(p, x, y)
    for k, gk in zip(NAMES, grads):
        np.testing.assert_allclose(gk, ref[k], rtol=1e-10, atol=1e-12, err_msg=k)


# ----------------------------------------------------------------------------- seed 004: tanh/softmax MLP

def mlp_forward(params, X):
    W1, b1, W2, b2 = params["W1"], params["b1"], params["W2"], params["b2"]
    a1 = np.tanh(X @ W1 + b1)
    z2 = a1 @ W2 + b2
    return a1, z2


def log_softmax(z):
    m = fnp.stop_gradient(np.max(z, axis=1, keepdims=True))
    s = z - m
    return s - np.log(np.sum(np.exp(s), axis=1, keepdims=True))


def mlp_loss(params, X, Y):
    _, z2 = mlp_forward(params, X)
    return -np.mean(np.sum(Y * log_softmax(z2), axis=1))


def mlp_grad_by_hand(params, X, Y):
    """BP1-BP4 for a tanh hidden layer and softmax + cross-entropy output, with
    the loss averaged over the batch."""
    W1, b1, W2, b2 = params["W1"], params["b1"], params["W2"], params["b2"]
    n = X.shape[0]
    a0 = X
    a1 = np.tanh(a0 @ W1 + b1)
    z2 = a1 @ W2 + b2
    e = np.exp(z2 - z2.max(axis=1, keepdims=True))
    a2 = e / e.sum(axis=1, keepdims=True)
    delta2 = (a2 - Y) / n                       # BP1 (softmax + cross-entropy)
    delta1 = (delta2 @ W2.T) * (1.0 - a1 ** 2)  # BP2 (tanh' = 1 - tanh^2)
    return {
        "W2": a1.T @ delta2, "b2": delta2.sum(axis=0),   # BP4, BP3
        "W1": a0.T @ delta1, "b1": delta1.sum(axis=0),
    }


def _mlp_setup(n_in, n_hidden, n_out, batch, dtype, seed):
    rng = np.random.default_rng(seed)
    params = {
        "W1": (rng.normal(size=(n_in, n_hidden)) / np.sqrt(n_in)).astype(dtype),
        "b1": (0.1 * rng.normal(size=n_hidden)).astype(dtype),
        "W2": (rng.normal(size=(n_hidden, n_out)) / np.sqrt(n_hidden)).astype(dtype),
        "b2": (0.1 * rng.normal(size=n_out)).astype(dtype),
    }
    X = rng.normal(size=(batch, n_in)).astype(dtype)
    labels = rng.integers(0, n_out, size=batch)
    Y = np.eye(n_out, dtype=dtype)[labels]
    return params, X, Y, labels


@pytest.mark.parametrize("sizes", [(12, 8, 4, 20), (30, 16, 10, 50), (5, 3, 2, 1)])
def test_seed004_mlp_backprop_equations_float64(sizes):
    params, X, Y, _ = _mlp_setup(*sizes, np.float64, seed=sum(sizes))
    val, g = fg.value_and_grad(mlp_loss)(params, X, Y)
    ref = mlp_grad_by_hand(params, X, Y)
    # reference loss by hand
    z2 = np.tanh(X @ params["W1"] + params["b1"]) @ params["W2"] + params["b2"]
    lse = np.log(np.exp(z2).sum(axis=1))
    np.testing.assert_allclose(val, np.mean(lse - np.sum(Y * z2, axis=1)), rtol=1e-12)
    assert set(g) == {"W1", "b1", "W2", "b2"}
    for k in ref:
        assert g[k].shape == params[k].shape and g[k].dtype == np.float64
        np.testing.assert_allclose(g[k], ref[k], rtol=1e-9, atol=1e-12, err_msg=k)


def test_seed004_mlp_backprop_equations_float32():
    params, X, Y, _ = _mlp_setup(20, 10, 5, 40, np.float32, seed=4)
    g = fg.grad(mlp_loss)(params, X, Y)
    ref = mlp_grad_by_hand({k: v.astype(np.float64) for k, v in params.items()},
                           X.astype(np.float64), Y.astype(np.float64))
    for k in ref:
        assert g[k].dtype == np.float32, k
        np.testing.assert_allclose(g[k], ref[k], rtol=2e-4, atol=2e-6, err_msg=k)


def test_seed004_mlp_with_integer_labels_and_one_hot():
    """Labels as an integer argument (not differentiated), one-hot built inside."""
    params, X, Y, labels = _mlp_setup(9, 7, 3, 16, np.float64, seed=11)

    def loss(params, X, labels):
        _, z2 = mlp_forward(params, X)
        return -np.mean(np.sum(fnp.one_hot(labels, 3) * log_softmax(z2), axis=1))

    g = fg.grad(loss)(params, X, labels)
    ref = mlp_grad_by_hand(params, X, Y)
    for k in ref:
        np.testing.assert_allclose(g[k], ref[k], rtol=1e-9, atol=1e-12, err_msg=k)


def test_seed004_mlp_784_100_10_shape_batch():
    """The lecture's architecture (784-100-10, tanh/softmax) on a small batch."""
    params, X, Y, _ = _mlp_setup(784, 100, 10, 8, np.float64, seed=5)
    g = fg.grad(mlp_loss)(params, X, Y)
    ref = mlp_grad_by_hand(params, X, Y)
    for k in ref:
        assert g[k].shape == params[k].shape
        np.testing.assert_allclose(g[k], ref[k], rtol=1e-8, atol=1e-12, err_msg=k)
