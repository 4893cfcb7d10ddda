"""The main job, examples/train_digits.py, in reduced sizes: it learns, its
compiled epoch equals the same Adam steps driven from Python, and bad input
stops it with a clear message."""
import importlib.util
import pathlib

import numpy as np
import pytest

import funcgrad as fg
from funcgrad import data, nn, optim

pytest.importorskip("sklearn")

PATH = pathlib.Path(__file__).resolve().parents[1] / "examples" / "train_digits.py"


@pytest.fixture(scope="module")
def td():
    spec = importlib.util.spec_from_file_location("train_digits", PATH)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def digits(td):
    return td.load_digits(0)


def test_it_learns_the_digits_in_a_few_epochs(td):
    result = td.main(epochs=5, hidden=(32,), lr=3e-3, verbose=False)
    losses = [h[0] for h in result["history"]]
    assert losses[-1] < 0.5 * losses[0]
    assert result["test_accuracy"] > 0.85        # chance is 0.10
    assert result["params"][0]["w"].dtype == np.float32


def test_the_compiled_epoch_equals_adam_steps_from_python(td, digits):
    # the epoch (shuffle + scan over Adam steps, one compiled call) against the
    # same batches fed one by one to an Adam written in NumPy
    x_train, _, y_train, _ = digits
    x, y = x_train[:96], y_train[:96]
    params = nn.mlp_init(fg.random.key(1), [64, 16, 10], dtype=np.float64)
    x = x.astype(np.float64)
    tx = optim.adam(1e-2)
    _, train_epoch, _ = td.make_trainer(tx, 32)
    key = fg.random.key(5)
    (new_params, _), losses = fg.jit(train_epoch.__wrapped__ if hasattr(train_epoch, "__wrapped__")
                                     else train_epoch, backend="numba")((params, tx.init(params)), key, x, y)

    order = np.asarray(fg.random.permutation(key, 96))
    p = [dict(layer) for layer in params]
    m = [{k: np.zeros_like(v) for k, v in layer.items()} for layer in p]
    v = [{k: np.zeros_like(v) for k, v in layer.items()} for layer in p]
    for t in range(3):
        idx = order[32 * t: 32 * (t + 1)]
        xb, yb = x[idx], y[idx]
        h = np.maximum(xb @ p[0]["w"] + p[0]["b"], 0)
        logits = h @ p[1]["w"] + p[1]["b"]
        z = logits - logits.max(axis=1, keepdims=True)
        logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
        np.testing.assert_allclose(losses[t], -logp[np.arange(32), yb].mean(), rtol=1e-10)
        d = np.exp(logp)
        d[np.arange(32), yb] -= 1
        d /= 32
        g1 = {"w": h.T @ d, "b": d.sum(0)}
        dh = (d @ p[1]["w"].T) * (h > 0)
        g0 = {"w": xb.T @ dh, "b": dh.sum(0)}
        for layer, g in zip(range(2), (g0, g1)):
            for k in ("w", "b"):
                m[layer][k] = 0.9 * m[layer][k] + 0.1 * g[k]
                v[layer][k] = 0.999 * v[layer][k] + 0.001 * g[k] ** 2
                mh = m[layer][k] / (1 - 0.9 ** (t + 1))
                vh = v[layer][k] / (1 - 0.999 ** (t + 1))
                p[layer][k] = p[layer][k] - 1e-2 * mh / (np.sqrt(vh) + 1e-8)
    for layer in range(2):
        for k in ("w", "b"):
            np.testing.assert_allclose(new_params[layer][k], p[layer][k], rtol=1e-9, atol=1e-12)


def test_labels_out_of_range_stop_before_training(td, digits):
    x_train, x_test, y_train, y_test = digits
    bad = y_train.copy()
    bad[17] = 10
    with pytest.raises(fg.InputError, match=r"training set.*labels\[17\] = 10"):
        td.main(epochs=1, verbose=False, dataset=(x_train, x_test, bad, y_test))


def test_a_batch_of_the_wrong_shape_names_the_layer(td, digits):
    x_train, _, y_train, _ = digits
    tx = optim.adam(1e-3)
    params = nn.mlp_init(fg.random.key(0), [64, 16, 10])
    train_step, _, _ = td.make_trainer(tx, 32)
    state = (params, tx.init(params))
    with pytest.raises(fg.ShapeError, match=r"layer 0 .*x f32\[32,63\] @ w f64\[64,16\]"):
        fg.jit(train_step)(state, (x_train[:32, :63].astype(np.float32), y_train[:32]))


def test_a_nan_loss_stops_training_naming_the_step(td):
    losses = np.array([0.5, 0.4, np.nan, np.nan])
    with pytest.raises(td.TrainingDiverged, match=r"at step 10 \(epoch 3, iteration 3 of 4\)"):
        td.check_losses(losses, epoch=2, steps_per_epoch=4)
    td.check_losses(np.array([0.3, 0.2]), 0, 2)           # finite losses pass


def test_a_diverging_run_stops_with_its_step(td, digits):
    # a learning rate far too large: the loss overflows, training stops
    with pytest.raises(td.TrainingDiverged, match=r"at step \d+ \(epoch \d+, iteration \d+ of 42\)"):
        td.main(epochs=3, lr=1e30, hidden=(16,), verbose=False)


def test_bad_learning_rates_are_refused():
    for lr in (-1e-3, float("nan")):
        with pytest.raises(fg.InputError, match="learning"):
            optim.adam(lr)


def test_iterations_per_epoch_of_the_job():
    assert data.iterations_per_epoch(1347, 32) == 42
