"""The examples in examples/, run in reduced sizes and checked against
references that do not use funcgrad: NumPy implementations of the same
training or gradients, finite differences, and the lecture's formulas.

Each example is imported from its file (examples/ is not a package) and its
``main(...)`` called with ``verbose=False``; every ``main`` returns a dict of
its results. The examples compile with Numba (cached on disk after the first
run), except where a test asks for the interpreter.
"""
import importlib.util
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import funcgrad as fg
from fd import numerical_grad

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def load_example(name):
    spec = importlib.util.spec_from_file_location(f"examples_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# ----------------------------------------------------------------------------- toy network, SGD

TOY_NAMES = ["beta0", "omega0", "beta1", "omega1", "beta2", "omega2", "beta3", "omega3"]


def toy_grad_numpy(p, x, y):
    """Gradient of mean_i (f[x_i, p] - y_i)^2 for the lecture's toy network,
    from the derivatives of each link of the chain (p a dict of floats)."""
    s0 = p["beta0"] + p["omega0"] * x
    a1 = p["beta1"] + p["omega1"] * np.sin(s0)
    a2 = p["beta2"] + p["omega2"] * np.exp(a1)
    out = p["beta3"] + p["omega3"] * np.cos(a2)
    r = 2.0 * (out - y) / x.size                   # d mean / d out_i
    d_a2 = -r * p["omega3"] * np.sin(a2)
    d_a1 = d_a2 * p["omega2"] * np.exp(a1)
    d_s0 = d_a1 * p["omega1"] * np.cos(s0)
    return {"beta3": r.sum(), "omega3": (r * np.cos(a2)).sum(),
            "beta2": d_a2.sum(), "omega2": (d_a2 * np.exp(a1)).sum(),
            "beta1": d_a1.sum(), "omega1": (d_a1 * np.sin(s0)).sum(),
            "beta0": d_s0.sum(), "omega0": (d_s0 * x).sum()}


def toy_sgd_numpy(phi0, x, y, batches, lr):
    p = {k: float(v) for k, v in phi0.items()}
    for idx in batches:
        g = toy_grad_numpy(p, x[idx], y[idx])
        p = {k: p[k] - lr * g[k] for k in p}
    return p


@pytest.fixture(scope="module")
def toy():
    return load_example("toy_sgd")


@pytest.fixture(scope="module")
def toy_run(toy):
    """The example's default run: N = 200, B = 20, 10,000 steps in one compiled fori_loop."""
    return toy.main(verbose=False)


def test_toy_sgd_equals_numpy_sgd(toy_run):
    run = toy_run
    assert run["batches"].shape == (10_000, 20)
    # each epoch's 10 batches cover 200 distinct samples (one shuffle per epoch)
    first_epoch = np.sort(run["batches"][:10].ravel())
    np.testing.assert_array_equal(first_epoch, np.arange(200))
    expected = toy_sgd_numpy(run["phi0"], run["x"], run["y"], run["batches"], run["lr"])
    for k in TOY_NAMES:
        np.testing.assert_allclose(float(run["phi_compiled"][k]), expected[k], rtol=1e-9, atol=1e-11, err_msg=k)
        np.testing.assert_allclose(float(run["phi_python"][k]), float(run["phi_compiled"][k]), rtol=1e-12, atol=1e-14)


def test_toy_sgd_fits_the_data(toy_run):
    run = toy_run
    assert run["loss_after"] < 0.02                 # the noise variance 0.01 is the floor
    assert run["loss_before"] / run["loss_after"] > 50
    history = run["history"]
    assert history.shape == (10,)
    assert history[-1] < 0.1 * history[0]
    assert history[-1] < 0.02                       # mean mini-batch loss over the last 1,000 steps


def test_toy_first_gradient_matches_lecture_backprop(toy_run):
    run = toy_run
    idx = run["batches"][0]
    expected = toy_grad_numpy(run["phi0"], run["x"][idx], run["y"][idx])
    for k in TOY_NAMES:
        np.testing.assert_allclose(float(run["grad_first_step"][k]), expected[k], rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(run["grad_by_backprop"][k], expected[k], rtol=1e-12, atol=1e-14)


def test_toy_gradient_closed_form_and_finite_differences(toy):
    """The slide's hand-derived dl_i/domega0 (lecture 003, "Calculus by hand
    sucks") and finite differences of all 8 partials, for one example."""
    values = np.array([0.3, 1.1, -0.2, 0.9, 0.4, 1.2, -0.1, 0.8])
    phi = {k: np.float64(v) for k, v in zip(TOY_NAMES, values)}
    x, y = np.array([0.7]), np.array([0.5])
    g = fg.grad(toy.loss)(phi, x, y)

    b0, w0, b1, w1, b2, w2, b3, w3 = values
    inner = b1 + w1 * np.sin(b0 + w0 * x[0])
    fx = b3 + w3 * np.cos(b2 + w2 * np.exp(inner))
    slide = (-2 * (fx - y[0]) * w1 * w2 * w3 * x[0] * np.cos(b0 + w0 * x[0]) * np.exp(inner)
             * np.sin(b2 + w2 * np.exp(inner)))
    np.testing.assert_allclose(float(g["omega0"]), slide, rtol=1e-12)

    def loss_numpy(v):
        b0, w0, b1, w1, b2, w2, b3, w3 = v
        return (b3 + w3 * np.cos(b2 + w2 * np.exp(b1 + w1 * np.sin(b0 + w0 * x[0]))) - y[0]) ** 2

    fd = numerical_grad(loss_numpy, [values])
    np.testing.assert_allclose([float(g[k]) for k in TOY_NAMES], fd, rtol=1e-8, atol=1e-10)


def test_toy_sgd_interpreter_few_steps(toy):
    """A short run on the NumPy interpreter backend: same result as the NumPy SGD."""
    run = toy.main(n=40, batch_size=8, steps=30, lr=0.05, seed=3, blocks=3, backend="interpret", verbose=False)
    assert run["batches"].shape == (30, 8)
    expected = toy_sgd_numpy(run["phi0"], run["x"], run["y"], run["batches"], 0.05)
    for k in TOY_NAMES:
        np.testing.assert_allclose(float(run["phi_compiled"][k]), expected[k], rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(float(run["phi_python"][k]), expected[k], rtol=1e-12, atol=1e-14)
    # the history holds the mean mini-batch loss of steps 0-9, 10-19, 20-29: the first one by NumPy
    p = {k: float(v) for k, v in run["phi0"].items()}
    losses = []
    for idx in run["batches"][:10]:
        xb, yb = run["x"][idx], run["y"][idx]
        out = p["beta3"] + p["omega3"] * np.cos(p["beta2"] + p["omega2"] * np.exp(
            p["beta1"] + p["omega1"] * np.sin(p["beta0"] + p["omega0"] * xb)))
        losses.append(np.mean((out - yb) ** 2))
        g = toy_grad_numpy(p, xb, yb)
        p = {k: p[k] - 0.05 * g[k] for k in p}
    np.testing.assert_allclose(run["history"][0], np.mean(losses), rtol=1e-12)


# ----------------------------------------------------------------------------- universal approximation

@pytest.fixture(scope="module")
def ua():
    return load_example("universal_approximation")


@pytest.fixture(scope="module")
def ua_run(ua):
    return ua.main(hidden=(1, 4, 16), n=60, steps=600, restarts=3, verbose=False)


def lecture_shallow_net(x, W1, b1, W2, b2):
    """Lecture 003's code: W2.T @ relu(W1 * x.T + b1) + b2 with column vectors."""
    return (W2.T @ np.maximum(W1 * x[None, :] + b1, 0.0) + b2).ravel()


def test_ua_network_is_the_lectures(ua):
    rng = np.random.default_rng(5)
    d = 6
    W1, b1, W2 = (rng.normal(size=(d, 1)) for _ in range(3))
    b2 = rng.normal()
    x = np.linspace(-2, 2, 41)
    params = {"w1": W1[:, 0], "b1": b1[:, 0], "w2": W2[:, 0], "b2": np.float64(b2)}
    mask = np.ones(d)
    np.testing.assert_allclose(np.asarray(ua.net(params, mask, x)), lecture_shallow_net(x, W1, b1, W2, b2),
                               rtol=1e-12, atol=1e-12)
    # masking off units 3.. leaves the network of the first 3
    mask3 = (np.arange(d) < 3).astype(float)
    np.testing.assert_allclose(np.asarray(ua.net(params, mask3, x)),
                               lecture_shallow_net(x, W1[:3], b1[:3], W2[:3], b2), rtol=1e-12, atol=1e-12)


def test_ua_error_shrinks_with_hidden_units(ua_run):
    results = {r["D"]: r for r in ua_run["results"]}
    variance = ua_run["y"].var()
    assert results[1]["mse"] > results[4]["mse"] > results[16]["mse"]
    for r in results.values():                      # the best of the starts is kept
        assert r["mse_starts"].shape == (3,)
        assert r["mse"] == r["mse_starts"].min()
    assert results[16]["mse"] < 0.02 * variance
    assert results[16]["test_mse"] < 0.02 * variance
    for r in results.values():
        d = r["D"]
        for k in ("w1", "b1", "w2"):                 # units beyond D never move
            np.testing.assert_array_equal(np.asarray(r["params"][k])[d:], r["params0"][k][d:])
        mse = np.mean((lecture_shallow_net(ua_run["x"], *(np.asarray(r["params"][k])[:d, None] for k in ("w1", "b1", "w2")),
                                           float(r["params"]["b2"])) - ua_run["y"]) ** 2)
        np.testing.assert_allclose(r["mse"], mse, rtol=1e-10)


def test_ua_starts_side_by_side_train_as_separate_runs(ua):
    """R networks on a leading axis, one loss (the sum of their MSEs): each
    ends where it would alone (checked on the interpreter, a few steps)."""
    rng = np.random.default_rng(7)
    d_max, restarts = 5, 3
    params0 = ua.init_params(rng, 4, d_max, restarts)
    mask = (np.arange(d_max) < 4).astype(float)
    x = np.linspace(-2, 2, 30)
    y = ua.target(x)
    fit = fg.jit(ua.train, static_argnums=(4, 5), backend="interpret")
    together = fit(params0, mask, x, y, 25, 0.02)
    for r in range(restarts):
        alone = fit({k: v[r] for k, v in params0.items()}, mask, x, y, 25, 0.02)
        for k in ("w1", "b1", "w2", "b2"):
            np.testing.assert_allclose(np.asarray(together[k])[r], np.asarray(alone[k]), rtol=1e-12, atol=1e-14)


def test_ua_fit_is_piecewise_linear_between_its_joints(ua, ua_run):
    """Each hidden unit adds at most one joint: D units, at most D + 1 linear regions."""
    for r in ua_run["results"]:
        joints = r["joints"]
        assert len(joints) <= r["D"]
        edges = np.concatenate([[-2.0], joints, [2.0]])
        a, b = edges[:-1] + 1e-6, edges[1:] - 1e-6
        keep = b > a
        a, b = a[keep], b[keep]
        fa, fm, fb = (np.asarray(ua.net(r["params"], r["mask"], t)) for t in (a, (a + b) / 2, b))
        np.testing.assert_allclose(fm, (fa + fb) / 2, atol=1e-9)


def test_ua_gradient_against_finite_differences(ua, ua_run):
    r = ua_run["results"][1]                       # D = 4, after training
    mask = r["mask"]
    x = np.random.default_rng(11).uniform(-2, 2, size=40)   # not the training grid, which joints settle on
    y = ua.target(x)
    params = {k: np.asarray(v) for k, v in r["params"].items()}
    at = (-params["b1"] / params["w1"])[:r["D"]]     # no active joint at a data point, where relu has no derivative
    assert np.min(np.abs(at[:, None] - x[None, :])) > 1e-4
    g = fg.grad(ua.mse)(params, mask, x, y)
    keys = ["b1", "b2", "w1", "w2"]
    sizes = [np.size(params[k]) for k in keys]
    flat = np.concatenate([np.ravel(params[k]) for k in keys])

    def mse_numpy(v):
        parts = np.split(v, np.cumsum(sizes)[:-1])
        b1, b2, w1, w2 = parts
        out = np.maximum(x[:, None] * w1 + b1, 0.0) @ (mask * w2) + b2[0]
        return np.mean((out - y) ** 2)

    fd = numerical_grad(mse_numpy, [flat], h=1e-6)
    np.testing.assert_allclose(np.concatenate([np.ravel(g[k]) for k in keys]), fd, rtol=1e-6, atol=1e-9)


# ----------------------------------------------------------------------------- 784-100-10 MLP

@pytest.fixture(scope="module")
def mlp():
    return load_example("mlp_784_100_10")


@pytest.fixture(scope="module")
def mlp_run(mlp):
    return mlp.main(n_train=1000, n_test=500, epochs=4, batch_size=250, verbose=False)


def test_mlp_loss_decreases_and_beats_chance(mlp_run):
    history = mlp_run["history"]
    assert [h["epoch"] for h in history] == [0, 1, 2, 3, 4]
    train_losses = [h["train_loss"] for h in history]
    assert train_losses[-1] < train_losses[0] / 5
    assert train_losses[-1] == min(train_losses)
    assert history[-1]["train_acc"] > 0.9
    assert history[-1]["test_acc"] > 0.3            # chance: 0.1
    assert mlp_run["n_params"] == 784 * 100 + 100 + 100 * 10 + 10
    assert mlp_run["batch_losses"].shape == (4,)    # N/B iterations in the last epoch


def test_mlp_stays_float32(mlp_run):
    assert mlp_run["dtypes"] == ["float32"]
    assert mlp_run["float64_arrays"] == []
    assert all(leaf.dtype == np.float32 for leaf in fg.tree.leaves(mlp_run["params"]))


def test_mlp_gradient_equals_backprop_equations(mlp):
    """The lecture's backprop (BP1-BP4) for tanh hidden units, softmax and
    cross-entropy, in NumPy float64, against fg.grad of the example's loss."""
    rng = np.random.default_rng(2)
    m = 16
    x = rng.normal(size=(m, 784))
    labels = rng.integers(0, 10, size=m)
    params = [{"w": 0.05 * rng.normal(size=(784, 100)), "b": 0.1 * rng.normal(size=100)},
              {"w": 0.3 * rng.normal(size=(100, 10)), "b": 0.1 * rng.normal(size=10)}]
    g = fg.grad(mlp.loss)(params, x, labels)

    a1 = np.tanh(x @ params[0]["w"] + params[0]["b"])
    z2 = a1 @ params[1]["w"] + params[1]["b"]
    p = np.exp(z2 - z2.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    expected_loss = -np.mean(np.log(p[np.arange(m), labels]))
    delta2 = (p - np.eye(10)[labels]) / m               # BP1 for softmax + cross-entropy
    delta1 = (delta2 @ params[1]["w"].T) * (1 - a1 ** 2)  # BP2
    expected = [{"w": x.T @ delta1, "b": delta1.sum(0)},  # BP4, BP3
                {"w": a1.T @ delta2, "b": delta2.sum(0)}]
    np.testing.assert_allclose(float(mlp.loss(params, x, labels)), expected_loss, rtol=1e-12)
    for layer in range(2):
        for k in ("w", "b"):
            np.testing.assert_allclose(np.asarray(g[layer][k]), expected[layer][k], rtol=1e-9, atol=1e-12)


# ----------------------------------------------------------------------------- command lines

@pytest.mark.parametrize("name", ["toy_sgd", "universal_approximation", "mlp_784_100_10"])
def test_example_command_line_help(name):
    done = subprocess.run([sys.executable, str(EXAMPLES / f"{name}.py"), "--help"],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert "usage:" in done.stdout
