"""fg.jit: compiled calls agree with the interpreter and with hand formulas."""
import numpy as np
import pytest

import funcgrad as fg
import funcgrad.numpy as fnp

pytest.importorskip("numba")


def toy_loss(phi, x, y):
    """The lecture's toy network (seed 003), least squares."""
    f = phi["b3"] + phi["w3"] * fnp.cos(phi["b2"] + phi["w2"] * fnp.exp(
        phi["b1"] + phi["w1"] * fnp.sin(phi["b0"] + phi["w0"] * x)))
    return fnp.sum((f - y) ** 2)


def sgd_step(phi, x, y, lr):
    value, g = fg.value_and_grad(toy_loss)(phi, x, y)
    return value, fg.tree.map(lambda p, gp: p - lr * gp, phi, g)


PHI = {k: np.float64(v) for k, v in zip(["b0", "w0", "b1", "w1", "b2", "w2", "b3", "w3"],
                                        [0.1, 0.5, -0.2, 0.3, 0.05, 0.4, 0.2, 1.1])}
X = np.linspace(-1.0, 1.0, 7)
Y = np.sin(2 * X)


def hand_grads(phi, x, y):
    f0 = phi["b0"] + phi["w0"] * x
    h1 = np.sin(f0)
    f1 = phi["b1"] + phi["w1"] * h1
    h2 = np.exp(f1)
    f2 = phi["b2"] + phi["w2"] * h2
    h3 = np.cos(f2)
    f3 = phi["b3"] + phi["w3"] * h3
    d3 = 2 * (f3 - y)
    d2 = -np.sin(f2) * phi["w3"] * d3
    d1 = h2 * phi["w2"] * d2
    d0 = np.cos(f0) * phi["w1"] * d1
    return {"b3": d3.sum(), "w3": (h3 * d3).sum(), "b2": d2.sum(), "w2": (h2 * d2).sum(),
            "b1": d1.sum(), "w1": (h1 * d1).sum(), "b0": d0.sum(), "w0": (x * d0).sum()}


def test_jit_sgd_step_matches_hand_gradients_and_interpreter():
    step = fg.jit(sgd_step, static_argnums=3, backend="numba")
    value, new = step(PHI, X, Y, 0.01)
    ref_value, ref_new = fg.jit(sgd_step, static_argnums=3, backend="interpret")(PHI, X, Y, 0.01)
    hand = hand_grads(PHI, X, Y)
    for k in PHI:
        np.testing.assert_allclose(new[k], PHI[k] - 0.01 * hand[k], rtol=1e-12)
        np.testing.assert_allclose(new[k], ref_new[k], rtol=1e-12)
    np.testing.assert_allclose(value, ref_value, rtol=1e-12)
    # a second call with the same signature reuses the compiled function
    assert step.lower(PHI, X, Y, 0.01) is step.lower(PHI, X, Y, 0.01)


def test_lower_shows_ir_and_generated_code():
    step = fg.jit(sgd_step, static_argnums=3, backend="numba")
    text = step.lower(PHI, X, Y, 0.01).as_text()
    assert "cos" in text and "exp" in text          # the IR
    assert "def program(" in text and "@njit" in text  # the generated Numba source


def test_jit_static_argnums_errors():
    with pytest.raises(fg.InputError, match="static"):
        fg.jit(lambda x, n: x * n, static_argnums=1)(np.ones(2), np.ones(2))
