"""Gradients at non-differentiable and singular points (issue 9, part 6).

One table: each case has the expression, the point, funcgrad's value and
gradient written by hand from the convention, and JAX's gradient where it
differs (a deliberate difference, with the reason in the note). It is checked
on the interpreter, a selection on Numba (one program), and against JAX when
it is installed (``jax.grad`` of the same expression in ``jax.numpy``).
"""
import warnings

import numpy as np
import pytest

import funcgrad as fg
import funcgrad.numpy as fnp
from funcgrad import nn

inf, nan = np.inf, np.nan
SAME = "same"

# name: (expression, f(m, nn, x), point, value, gradient, JAX's gradient, note)
# f is written once for both libraries: m is funcgrad.numpy or jax.numpy (with
# logsumexp), nn is funcgrad.nn or jax.nn; the gradient is d f / d x at the point.
CASES = {
    "abs_0": ("abs(x)", lambda m, nn, x: m.abs(x), 0.0, 0.0, 0.0, 1.0,
              "deliberate: sign(0) = 0, the smallest subgradient (as PyTorch); JAX takes 1 "
              "(select(x >= 0, g, -g)). funcgrad's softplus and BCE-with-logits rely on it"),
    "abs_minus_0": ("abs(x)", lambda m, nn, x: m.abs(x), -0.0, 0.0, 0.0, 1.0,
                    "deliberate: as at 0 (-0.0 >= 0 in JAX's rule)"),
    "softplus_formula_0": ("maximum(x, 0) + log1p(exp(-abs(x)))",
                           lambda m, nn, x: m.maximum(x, 0.0) + m.log1p(m.exp(-m.abs(x))), 0.0,
                           np.log(2.0), 0.5, 0.0,
                           "why abs'(0) = 0: the tie's 1/2 plus abs's 0 give the true 1/2; JAX's convention gives 0"),
    "sign_0": ("sign(x)", lambda m, nn, x: m.sign(x), 0.0, 0.0, 0.0, SAME, "0 everywhere"),
    "maximum_tie": ("maximum(x0, x1)", lambda m, nn, x: m.maximum(x[0], x[1]), [1.0, 1.0], 1.0, [0.5, 0.5],
                    SAME, "ties split evenly"),
    "minimum_tie": ("minimum(x0, x1)", lambda m, nn, x: m.minimum(x[0], x[1]), [1.0, 1.0], 1.0, [0.5, 0.5],
                    SAME, "ties split evenly"),
    "maximum_0_tie": ("maximum(x, 0)", lambda m, nn, x: m.maximum(x, 0.0), 0.0, 0.0, 0.5, SAME,
                      "not relu's convention: use nn.relu for 0"),
    "maximum_nan": ("maximum(x0, x1)", lambda m, nn, x: m.maximum(x[0], x[1]), [nan, 1.0], nan, [0.0, 0.0],
                    SAME, "a NaN operand: neither gets the cotangent (the result is NaN whatever the other is)"),
    "minimum_nan": ("minimum(x0, x1)", lambda m, nn, x: m.minimum(x[0], x[1]), [1.0, nan], nan, [0.0, 0.0],
                    SAME, "as maximum"),
    "max_ties": ("max(x)", lambda m, nn, x: m.max(x), [1.0, 3.0, 3.0, 2.0], 3.0, [0, 0.5, 0.5, 0], SAME,
                 "split evenly among the maxima"),
    "min_ties3": ("min(x)", lambda m, nn, x: m.min(x), [2.0, 1.0, 1.0, 1.0], 1.0, [0, 1 / 3, 1 / 3, 1 / 3], SAME,
                  "split evenly among the minima"),
    "max_axis_ties": ("sum(max(x, axis=1) * [1, 2])",
                      lambda m, nn, x: m.sum(m.max(x, axis=1) * m.array([1.0, 2.0])),
                      [[1.0, 1.0, 0.0], [0.0, 5.0, 5.0]], 11.0, [[0.5, 0.5, 0], [0, 1, 1]], SAME, "per row"),
    "relu_0": ("nn.relu(x)", lambda m, nn, x: nn.relu(x), 0.0, 0.0, 0.0, SAME, "0 at 0"),
    "leaky_relu_0": ("nn.leaky_relu(x)", lambda m, nn, x: nn.leaky_relu(x), 0.0, 0.0, 1.0, SAME,
                     "where(x >= 0, x, a x): 1 at 0"),
    "elu_0": ("nn.elu(x)", lambda m, nn, x: nn.elu(x), 0.0, 0.0, 1.0, SAME, "alpha exp(0) = 1 from the left branch"),
    "sqrt_0": ("sqrt(x)", lambda m, nn, x: m.sqrt(x), 0.0, 0.0, inf, SAME, "1 / (2 sqrt(0))"),
    "pow_half_0": ("x ** 0.5", lambda m, nn, x: x ** 0.5, 0.0, 0.0, inf, SAME, "as sqrt"),
    "pow_1_5_0": ("x ** 1.5", lambda m, nn, x: x ** 1.5, 0.0, 0.0, 0.0, SAME, ""),
    "square_0": ("x ** 2", lambda m, nn, x: x ** 2, 0.0, 0.0, 0.0, SAME, ""),
    "int_pow_0_at_0": ("x ** 0", lambda m, nn, x: x ** 0, 0.0, 1.0, 0.0, SAME, "integer exponent"),
    "power_0_0": ("power(x0, x1)", lambda m, nn, x: m.power(x[0], x[1]), [0.0, 0.0], 1.0, [0.0, 0.0],
                  [nan, 0.0], "deliberate: d/dx x**y = 0 where y = 0 (the limit); JAX: 0 * inf = nan for a "
                  "float exponent (0 for an integer one)"),
    "power_0_2": ("power(x0, x1)", lambda m, nn, x: m.power(x[0], x[1]), [0.0, 2.0], 0.0, [0.0, 0.0], SAME,
                  "d/dy = log(0) 0**2 taken as 0"),
    "power_0_half": ("power(x0, x1)", lambda m, nn, x: m.power(x[0], x[1]), [0.0, 0.5], 0.0, [inf, 0.0], SAME, ""),
    "norm_0": ("sqrt(sum(x ** 2))", lambda m, nn, x: m.sqrt(m.sum(x ** 2)), [0.0, 0.0], 0.0, [nan, nan], SAME,
               "inf * 0; use sqrt(sum(x**2) + eps) or a double where"),
    "std_1": ("std(x), one element", lambda m, nn, x: m.std(x), [3.0], 0.0, [nan], SAME, "sqrt'(0) * 0"),
    "std_const": ("std(x), all equal", lambda m, nn, x: m.std(x), [2.0, 2.0, 2.0], 0.0, [nan] * 3, SAME,
                  "as std of one element"),
    "std_ddof1_1": ("std(x, ddof=1), one element", lambda m, nn, x: m.std(x, ddof=1), [3.0], nan, [nan], SAME,
                    "0 / 0"),
    "var_1": ("var(x), one element", lambda m, nn, x: m.var(x), [3.0], 0.0, [0.0], SAME, ""),
    "where_gt_0": ("where(x > 0, x, 0)", lambda m, nn, x: m.where(x > 0, x, 0.0), 0.0, 0.0, 0.0, SAME,
                   "the branch taken"),
    "where_ge_0": ("where(x >= 0, x, 0)", lambda m, nn, x: m.where(x >= 0, x, 0.0), 0.0, 0.0, 1.0, SAME,
                   "the branch taken"),
    "where_sqrt_trap": ("where(x > 0, sqrt(x), 0)", lambda m, nn, x: m.where(x > 0, m.sqrt(x), 0.0), 0.0, 0.0,
                        nan, SAME, "0 cotangent * inf in the branch not taken"),
    "double_where": ("where(x > 0, sqrt(where(x > 0, x, 1)), 0)",
                     lambda m, nn, x: m.where(x > 0, m.sqrt(m.where(x > 0, x, 1.0)), 0.0), 0.0, 0.0, 0.0, SAME,
                     "the fix for the trap"),
    "clip_low": ("clip(x, 0, 1)", lambda m, nn, x: m.clip(x, 0.0, 1.0), 0.0, 0.0, 0.5, SAME,
                 "maximum/minimum ties: 1/2 at either bound"),
    "clip_high": ("clip(x, 0, 1)", lambda m, nn, x: m.clip(x, 0.0, 1.0), 1.0, 1.0, 0.5, SAME, ""),
    "log_0": ("log(x)", lambda m, nn, x: m.log(x), 0.0, -inf, inf, SAME, "1 / 0"),
    "logsumexp_one_neg_inf": ("logsumexp(x)", lambda m, nn, x: m.logsumexp(x), [0.0, -inf], 0.0, [1.0, 0.0],
                              SAME, "softmax"),
    "logsumexp_all_neg_inf": ("logsumexp(x)", lambda m, nn, x: m.logsumexp(x), [-inf, -inf], -inf, [nan, nan],
                              SAME, "numpy.logsumexp: 0 / 0"),
    "nn_logsumexp_all_neg_inf": ("nn.logsumexp(x)", lambda m, nn, x: nn.logsumexp(x), [-inf, -inf], -inf,
                                 [0.0, 0.0], [nan, nan],
                                 "deliberate: funcgrad.nn never makes NaN gradients (a fully masked row adds 0)"),
    "nn_softmax_all_neg_inf": ("sum(nn.softmax(x) * [1, 2])",
                               lambda m, nn, x: m.sum(nn.softmax(x) * m.array([1.0, 2.0])),
                               [-inf, -inf], nan, [0.0, 0.0], [nan, nan], "deliberate: as nn.logsumexp"),
    "nn_logsumexp_inf": ("nn.logsumexp(x)", lambda m, nn, x: nn.logsumexp(x), [inf, 0.0], inf, [nan, 0.0], SAME,
                         "inf - inf"),
    "prod_one_zero": ("prod(x)", lambda m, nn, x: m.prod(x), [0.0, 2.0, 3.0], 0.0, [6.0, 0.0, 0.0], SAME,
                      "the product of the others"),
    "prod_two_zeros": ("prod(x)", lambda m, nn, x: m.prod(x), [0.0, 0.0, 3.0], 0.0, [0.0, 0.0, 0.0], SAME, ""),
    "arctan2_0_0": ("arctan2(x0, x1)", lambda m, nn, x: m.arctan2(x[0], x[1]), [0.0, 0.0], 0.0, [nan, nan], SAME,
                    "0 / 0"),
    "arcsin_1": ("arcsin(x)", lambda m, nn, x: m.arcsin(x), 1.0, np.pi / 2, inf, SAME, ""),
    "floor_at_int": ("floor(x)", lambda m, nn, x: m.floor(x), 1.0, 1.0, 0.0, SAME, "0 everywhere (also round, ceil)"),
    "round_half": ("round(x)", lambda m, nn, x: m.round(x), 0.5, 0.0, 0.0, SAME, ""),
    "mod_at_jump": ("mod(x, 1)", lambda m, nn, x: m.mod(x, 1.0), 1.0, 0.0, 1.0, SAME, "1 everywhere"),
    "softplus_0": ("nn.softplus(x)", lambda m, nn, x: nn.softplus(x), 0.0, np.log(2.0), 0.5, SAME, ""),
    "sigmoid_far": ("nn.sigmoid(x)", lambda m, nn, x: nn.sigmoid(x), -800.0, 0.0, 0.0, SAME, "no overflow"),
    "tanh_far": ("tanh(x)", lambda m, nn, x: m.tanh(x), 400.0, 1.0, 0.0, SAME, ""),
}

NUMBA_CASES = ["abs_0", "softplus_formula_0", "maximum_tie", "maximum_nan", "max_ties", "relu_0", "sqrt_0",
               "power_0_0", "norm_0", "std_1", "var_1", "where_sqrt_trap", "clip_low", "nn_logsumexp_all_neg_inf",
               "prod_one_zero"]


def _fg(name):
    f = CASES[name][1]
    return lambda x: f(fnp, nn, x)


def _expected(name):
    _, _, point, value, grad, jax_grad, _ = CASES[name]
    g = np.asarray(grad, float)
    return np.asarray(point, float), float(value), g, g if jax_grad is SAME else np.asarray(jax_grad, float)


def _check(name, value, grad, expected_value, expected_grad, who):
    np.testing.assert_array_equal(np.asarray(value), expected_value, err_msg=f"{name}: {who} value")
    np.testing.assert_array_equal(np.asarray(grad), expected_grad, err_msg=f"{name}: {who} gradient")


@pytest.mark.parametrize("name", list(CASES))
def test_interpreter(name):
    x, value, grad, _ = _expected(name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)   # NumPy's divide by zero, inf - inf
        v, g = fg.value_and_grad(_fg(name))(x)
    _check(name, v, g, value, grad, "funcgrad")


def test_numba_selection():
    fs = [_fg(name) for name in NUMBA_CASES]

    def all_cases(*xs):
        return tuple(fg.value_and_grad(f)(x) for f, x in zip(fs, xs))

    out = fg.jit(all_cases, backend="numba")(*[_expected(name)[0] for name in NUMBA_CASES])
    for name, (v, g) in zip(NUMBA_CASES, out):
        _, value, grad, _ = _expected(name)
        _check(name, v, g, value, grad, "funcgrad numba")


@pytest.mark.parametrize("name", list(CASES))
def test_jax(name):
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp

    class M:   # jax.numpy, with funcgrad.numpy's logsumexp
        logsumexp = staticmethod(jax.nn.logsumexp)

        def __getattr__(self, attr):
            return getattr(jnp, attr)

    f = CASES[name][1]
    x, value, _, jax_grad = _expected(name)
    v, g = jax.value_and_grad(lambda x: f(M(), jax.nn, x))(jnp.asarray(x))
    _check(name, v, g, value, jax_grad, "JAX")


def test_table_is_well_formed():
    for name, (expr, f, point, value, grad, jax_grad, note) in CASES.items():
        assert np.shape(grad) == np.shape(point), name
        # every difference from JAX is explained
        assert jax_grad is SAME or (np.shape(jax_grad) == np.shape(point)
                                    and note.startswith(("deliberate", "why"))), name
