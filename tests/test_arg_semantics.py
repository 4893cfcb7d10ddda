"""JAX's argument semantics.

- ``grad`` / ``value_and_grad`` trace only the ``argnums`` arguments; the
  others, and keyword arguments, reach the function as the caller gave them
  (Python ints for loop counts, strings, callables, NumPy arrays), as
  ``jax.grad`` passes them.
- ``jit``'s ``static_argnums`` / ``static_argnames`` take any hashable value
  and complete each other through the signature; ``donate_argnums`` is
  accepted and changes nothing.

Expected values are NumPy formulas written by hand.
"""
import numpy as np
import pytest

import funcgrad as fg
import funcgrad.numpy as fnp

X = np.linspace(-1.0, 1.5, 5)


def repeated_sin(x, n, reduce="sum"):
    for _ in range(n):
        x = fnp.sin(x)
    return fnp.sum(x) if reduce == "sum" else fnp.mean(x)


def repeated_sin_grad(x, n, reduce="sum"):
    g = np.ones_like(x) / (1 if reduce == "sum" else x.size)
    for _ in range(n):
        g = g * np.cos(x)
        x = np.sin(x)
    return g


@pytest.mark.parametrize("n", [0, 1, 3])
def test_grad_int_argument_used_as_loop_count(n):
    np.testing.assert_allclose(fg.grad(repeated_sin)(X, n), repeated_sin_grad(X, n), rtol=1e-13)


def test_grad_different_values_of_a_non_differentiated_int_are_different_programs():
    g = fg.grad(repeated_sin)
    for n in (2, 1, 2, 3):
        np.testing.assert_allclose(g(X, n), repeated_sin_grad(X, n), rtol=1e-13)


def test_grad_passes_strings_callables_and_keywords_through():
    def f(x, act, reduce):
        return fnp.sum(act(x)) if reduce == "sum" else fnp.mean(act(x))

    np.testing.assert_allclose(fg.grad(f)(X, fnp.sin, "sum"), np.cos(X), rtol=1e-13)
    np.testing.assert_allclose(fg.grad(f)(X, fnp.tanh, "mean"), (1 - np.tanh(X) ** 2) / X.size, rtol=1e-13)
    np.testing.assert_allclose(fg.grad(repeated_sin)(X, n=2, reduce="mean"),
                               repeated_sin_grad(X, 2, "mean"), rtol=1e-13)


def test_grad_non_differentiated_arrays_reach_the_function_as_given():
    labels = np.array([0, 2, 1])
    seen = []

    def f(w, y, weights):
        seen.append((type(y), type(weights)))
        assert int(y.max()) == 2          # concrete: NumPy methods work on it
        return fnp.sum(w[y] * weights)

    w = np.array([1.0, 2.0, 3.0])
    weights = np.array([0.5, 1.0, 2.0])
    g = fg.grad(f)(w, labels, weights)
    ref = np.zeros(3)
    np.add.at(ref, labels, weights)
    np.testing.assert_allclose(g, ref)
    assert seen == [(np.ndarray, np.ndarray)]
    # new values of the same shapes reuse the compiled program and are used
    g2 = fg.grad(f)(w, labels, weights * 3)
    np.testing.assert_allclose(g2, 3 * ref)


def test_grad_non_differentiated_unhashable_arguments():
    def f(x, cfg):
        return fnp.sum(x ** cfg["p"]) * cfg["scale"][0]

    np.testing.assert_allclose(fg.grad(f)(X, {"p": 3, "scale": [2.0]}), 6 * X ** 2, rtol=1e-13)
    np.testing.assert_allclose(fg.grad(f)(X, {"p": 2, "scale": [1.0]}), 2 * X, rtol=1e-13)


def test_grad_argnums_tuple_with_a_static_argument_between():
    def f(a, n, b):
        return fnp.sum(a * b) * n

    ga, gb = fg.grad(f, argnums=(0, 2))(X, 3, X ** 2)
    np.testing.assert_allclose(ga, 3 * X ** 2)
    np.testing.assert_allclose(gb, 3 * X)


def test_grad_errors_name_the_argument_position():
    with pytest.raises(fg.InputError, match=r"argument 2\['w'\] is a str"):
        fg.grad(lambda n, s, p: fnp.sum(p["w"]) * n, argnums=2)(2, "x", {"w": "oops"})
    with pytest.raises(fg.InputError, match="argument 1, an array of dtype int64"):
        fg.grad(repeated_sin, argnums=1)(X, 2)


def test_inside_jit_a_non_static_int_is_traced_and_says_what_to_do():
    with pytest.raises(fg.TracerBoolError, match="static_argnums"):
        fg.jit(fg.grad(repeated_sin), backend="interpret")(X, 2)


@pytest.mark.parametrize("backend", ["interpret", "numba"])
def test_jit_value_and_grad_with_int_and_str_static_arguments(backend):
    step = fg.jit(fg.value_and_grad(repeated_sin), static_argnums=(1, 2), backend=backend)
    for n, reduce in [(2, "sum"), (2, "mean"), (1, "sum"), (2, "sum")]:
        v, g = step(X, n, reduce)
        np.testing.assert_allclose(g, repeated_sin_grad(X, n, reduce), rtol=1e-12)
        x = X
        for _ in range(n):
            x = np.sin(x)
        np.testing.assert_allclose(v, x.sum() if reduce == "sum" else x.mean(), rtol=1e-12)


def test_jit_static_argnames_and_signature_completion():
    calls = []

    def f(x, n, reduce="sum"):
        calls.append((n, reduce))
        return repeated_sin(x, n, reduce)

    by_name = fg.jit(f, static_argnames=("n", "reduce"), backend="interpret")
    ref = np.sin(np.sin(X)).sum()
    np.testing.assert_allclose(by_name(X, n=2, reduce="sum"), ref)
    np.testing.assert_allclose(by_name(X, 2, "sum"), ref)         # by position: static too
    np.testing.assert_allclose(by_name(X, n=1, reduce="mean"), np.sin(X).mean())
    by_pos = fg.jit(f, static_argnums=(1,), backend="interpret")
    np.testing.assert_allclose(by_pos(X, n=2), ref)               # by name: static too
    by_pos(X, n=2)
    # traced once per function and call style (by name, by position), not per call
    assert calls.count((2, "sum")) == 3


def test_jit_static_values_of_different_types_are_different_signatures():
    f = fg.jit(lambda x, s: x * 2 if isinstance(s, bool) else x * 3, static_argnums=1, backend="interpret")
    np.testing.assert_allclose(f(X, True), 2 * X)
    np.testing.assert_allclose(f(X, 1), 3 * X)      # 1 == True, but an int is another signature


def test_jit_static_tuple_and_callable():
    f = fg.jit(lambda x, shape, act: act(x.reshape(shape)), static_argnums=(1, 2), backend="interpret")
    out = f(np.arange(6.0), (2, 3), fnp.tanh)
    np.testing.assert_allclose(out, np.tanh(np.arange(6.0).reshape(2, 3)))


def test_jit_unhashable_static_is_a_clear_error():
    with pytest.raises(fg.InputError, match=r"hashable.*argument 1: a list"):
        fg.jit(lambda x, s: x * len(s), static_argnums=1)(X, [1, 2])
    with pytest.raises(fg.InputError, match=r"static_argnums must be an int"):
        fg.jit(lambda x: x, static_argnums="x")


def test_jit_donate_argnums_is_accepted_and_leaves_inputs_unchanged():
    a = X.copy()
    f = fg.jit(lambda x, y: x * 2 + y, donate_argnums=(0,), donate_argnames=("y",), backend="numba")
    out = f(a, X)
    np.testing.assert_allclose(out, 3 * X)
    np.testing.assert_array_equal(a, X)
    out[:] = 0
    np.testing.assert_array_equal(a, X)
