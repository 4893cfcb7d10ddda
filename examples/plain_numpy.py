"""Differentiating plain NumPy code as it is.

The functions below use ``np.tanh``, ``np.sum``, ``X @ w``, ``np.log1p`` ...
from NumPy itself, not ``funcgrad.numpy``: when funcgrad traces them, NumPy
hands the traced arrays back to funcgrad (NumPy's ``__array_ufunc__`` and
``__array_function__`` protocols), so no rewriting is needed.
Each gradient is checked against the gradient derived by hand.

Run:  python examples/plain_numpy.py
"""
import numpy as np

import funcgrad as fg

rng = np.random.default_rng(0)
X = rng.normal(size=(100, 5))
w = rng.normal(size=5)


# 1. f(w) = sum_i tanh(x_i . w)^2, the README's one-liner
def f(w):
    return np.sum(np.tanh(X @ w) ** 2)


def grad_f_by_hand(w):
    # with t = tanh(Xw): df/dt = 2t, dt/d(Xw) = 1 - t^2, d(Xw)/dw = X  =>  grad = X^T (2t (1 - t^2))
    t = np.tanh(X @ w)
    return X.T @ (2 * t * (1 - t ** 2))


g = fg.grad(f)(w)
print("1. f(w) = np.sum(np.tanh(X @ w) ** 2)")
print("   fg.grad :", np.array2string(g, precision=6))
print("   by hand :", np.array2string(grad_f_by_hand(w), precision=6))
print(f"   max |difference| = {np.max(np.abs(g - grad_f_by_hand(w))):.1e}")
assert np.allclose(g, grad_f_by_hand(w), rtol=1e-12, atol=1e-12)


# 2. logistic regression, labels y in {-1, +1}: L(w, b) = mean_i log(1 + exp(-y_i (x_i . w + b)))
y = np.where(X @ np.array([1.0, -2.0, 0.5, 0.0, 1.0]) + 0.3 * rng.normal(size=100) > 0, 1.0, -1.0)


def logistic_loss(w, b, X, y):        # data passed as arguments (see the note at the end)
    margins = y * (X @ w + b)
    return np.mean(np.log1p(np.exp(-margins)))


def logistic_grad_by_hand(w, b, X, y):
    # dL/dm_i = -sigmoid(-m_i) / n, and dm_i/dw = y_i x_i, dm_i/db = y_i
    m = y * (X @ w + b)
    s = 1.0 / (1.0 + np.exp(m))       # sigmoid(-m)
    coef = -s * y / len(y)
    return X.T @ coef, np.sum(coef)


b = 0.1
gw, gb = fg.grad(logistic_loss, argnums=(0, 1))(w, b, X, y)   # gradients w.r.t. w and b only
hw, hb = logistic_grad_by_hand(w, b, X, y)
print("\n2. logistic regression with np.log1p, np.exp, np.mean; argnums=(0, 1)")
print("   dL/dw fg.grad :", np.array2string(gw, precision=6))
print("   dL/dw by hand :", np.array2string(hw, precision=6))
print(f"   dL/db fg.grad : {float(gb):.6f}   by hand : {hb:.6f}")
print(f"   max |difference| = {max(np.max(np.abs(gw - hw)), abs(gb - hb)):.1e}")
assert np.allclose(gw, hw, rtol=1e-12, atol=1e-14) and np.isclose(gb, hb, rtol=1e-12, atol=1e-14)

# a few steps of gradient descent on it, still plain NumPy code
value_and_grad = fg.value_and_grad(logistic_loss, argnums=(0, 1))
w_fit, b_fit = np.zeros(5), 0.0
for step in range(201):
    value, (gw, gb) = value_and_grad(w_fit, b_fit, X, y)
    if step % 50 == 0:
        accuracy = np.mean((X @ w_fit + b_fit > 0) == (y > 0))
        print(f"   step {step:3d}  loss {float(value):.4f}  accuracy {accuracy:.2f}")
    w_fit, b_fit = w_fit - 1.0 * gw, b_fit - 1.0 * gb

# 3. what funcgrad recorded from the NumPy calls
print("\n3. fg.make_ir(f)(w): the traced program of the NumPy function "
      "(a, before ';', is X, captured as a constant; b is w)")
print(fg.make_ir(f)(w))
print("   and of its gradient:")
print(fg.make_ir(fg.grad(f))(w))

# Note: as with jax.jit, a function is traced once per input signature (shapes,
# dtypes) and the trace is reused, so arrays captured from globals or closures
# (like X in f above) are read when it is traced. Pass data that changes as
# arguments, as logistic_loss does.
