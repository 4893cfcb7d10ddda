"""Out-of-range integer indices (issue 9): values and gradients.

Semantics (JAX's; ``n`` rows, negative indices in ``[-n, 0)`` count from the end):

- ``x[i]`` with traced ``i`` (JAX's default, ``promise_in_bounds``): an index
  out of range reads the clamped row (each indexed axis clamped on its own)
  and its cotangent is dropped;
- ``take`` / ``take_along_axis``: ``mode="fill"`` (the default for traced
  indices) gives ``fill_value`` (NaN for floats) and a zero gradient there;
  ``"clip"`` and ``"wrap"`` read a row in range, which gets the gradient;
- indices known at trace time are bounds-checked (a ShapeError), unless a mode
  is given.

Every case's expected value and gradient is written by hand from these rules;
the same table is checked on the interpreter, on Numba (one program holding
a case of each lowering, so one compile), and against JAX when it is installed.
"""
import numpy as np
import pytest

import funcgrad as fg
import funcgrad.numpy as fnp
from funcgrad import primitives as P

NAN = np.nan

x5 = np.arange(1.0, 6.0)                          # n = 5
i8 = np.array([0, 4, 5, 7, -1, -5, -6, -9])       # in, in, past, past, -1, -n, -n-1, far below
w8 = np.arange(1.0, 9.0)                          # weights of the 8 results in the loss
X34 = np.arange(12.0).reshape(3, 4)
r4 = np.array([0, 3, -1, 1])                      # rows: in, past, -1, in
c4 = np.array([5, 0, 2, -5])                      # cols: past, in, in, below
w4 = np.arange(1.0, 5.0)
ia = np.array([[0, 5], [-1, -5], [3, 4]])         # take_along_axis(X34, ia, axis=1)
w32 = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
flat4 = np.array([11, 12, -13, -12])              # into X34.ravel() (12 elements)


def _rows(*rows):
    return np.array(rows, dtype=float)


# name: (funcgrad f(x, *idx), JAX f(jnp, x, *idx), x, idx, loss weights, expected value, expected gradient)
# where gradient = d sum(f(x, *idx) * weights) / dx.
CASES = {
    # x[i]: values clamped; only the in-range 0 (w1), 4 (w2), -1 -> 4 (w5), -5 -> 0 (w6) get cotangents
    "getitem": (lambda x, i: x[i], lambda jnp, x, i: x[i], x5, (i8,), w8,
                [1, 5, 5, 5, 5, 1, 1, 1], [1 + 6, 0, 0, 0, 2 + 5]),
    # take's default for traced indices is fill (NaN)
    "take_default": (lambda x, i: fnp.take(x, i), lambda jnp, x, i: jnp.take(x, i), x5, (i8,), w8,
                     [1, 5, NAN, NAN, 5, 1, NAN, NAN], [7, 0, 0, 0, 7]),
    "take_fill": (lambda x, i: fnp.take(x, i, mode="fill"), lambda jnp, x, i: jnp.take(x, i, mode="fill"),
                  x5, (i8,), w8, [1, 5, NAN, NAN, 5, 1, NAN, NAN], [7, 0, 0, 0, 7]),
    "take_fill_value": (lambda x, i: fnp.take(x, i, mode="fill", fill_value=-1.0),
                        lambda jnp, x, i: jnp.take(x, i, mode="fill", fill_value=-1.0),
                        x5, (i8,), w8, [1, 5, -1, -1, 5, 1, -1, -1], [7, 0, 0, 0, 7]),
    # clip before any negative wrap (NumPy's clip): every negative index reads row 0
    "take_clip": (lambda x, i: fnp.take(x, i, mode="clip"), lambda jnp, x, i: jnp.take(x, i, mode="clip"),
                  x5, (i8,), w8, [1, 5, 5, 5, 1, 1, 1, 1], [1 + 5 + 6 + 7 + 8, 0, 0, 0, 2 + 3 + 4]),
    # i mod 5 = 0, 4, 0, 2, 4, 0, 4, 1
    "take_wrap": (lambda x, i: fnp.take(x, i, mode="wrap"), lambda jnp, x, i: jnp.take(x, i, mode="wrap"),
                  x5, (i8,), w8, [1, 5, 1, 3, 5, 1, 5, 2], [1 + 3 + 6, 8, 4, 0, 2 + 5 + 7]),
    "take_promise_in_bounds": (lambda x, i: fnp.take(x, i, mode="promise_in_bounds"),
                               lambda jnp, x, i: x.at[i].get(mode="promise_in_bounds"),
                               x5, (i8,), w8, [1, 5, 5, 5, 5, 1, 1, 1], [7, 0, 0, 0, 7]),
    "take_axis1": (lambda X, c: fnp.take(X, c, axis=1), lambda jnp, X, c: jnp.take(X, c, axis=1),
                   X34, (c4,), np.ones((3, 4)),
                   [[NAN, 0, 2, NAN], [NAN, 4, 6, NAN], [NAN, 8, 10, NAN]], [[1, 0, 1, 0]] * 3),
    "take_axis_none": (lambda X, f: fnp.take(X, f), lambda jnp, X, f: jnp.take(X, f), X34, (flat4,),
                       np.ones(4), [11, NAN, NAN, 0], [[1, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 1]]),
    # rows 0, 3 -> 2, -1 -> 2, 1: row 0 gets w[0], row 2 w[2] only, row 1 w[3]
    "getitem_rows": (lambda X, r: X[r], lambda jnp, X, r: X[r], X34, (r4,), np.arange(1.0, 17.0).reshape(4, 4),
                     [[0, 1, 2, 3], [8, 9, 10, 11], [8, 9, 10, 11], [4, 5, 6, 7]],
                     [[1, 2, 3, 4], [13, 14, 15, 16], [9, 10, 11, 12]]),
    "getitem_cols": (lambda X, c: X[:, c], lambda jnp, X, c: X[:, c], X34, (c4,), np.ones((3, 4)),
                     [[3, 0, 2, 0], [7, 4, 6, 4], [11, 8, 10, 8]], [[1, 0, 1, 0]] * 3),
    # each axis clamped on its own: (0, 5) -> X[0, 3], (3, 0) -> X[2, 0], (-1, 2) -> X[2, 2], (1, -5) -> X[1, 0];
    # only (-1, 2) is in range
    "getitem_two_axes": (lambda X, r, c: X[r, c], lambda jnp, X, r, c: X[r, c], X34, (r4, c4), w4,
                         [3, 8, 10, 4], [[0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 3, 0]]),
    "getitem_traced_and_int": (lambda X, r: X[r, 2], lambda jnp, X, r: X[r, 2], X34, (r4,), w4,
                               [2, 10, 10, 6], [[0, 0, 1, 0], [0, 0, 4, 0], [0, 0, 3, 0]]),
    # scalar indices and unit-step slices only (JAX's dynamic_slice): clamped, and the
    # gradient goes to the element read
    "getitem_scalar_past": (lambda x, k: x[k], lambda jnp, x, k: x[k], x5, (np.int64(7),), 1.0, 5, [0, 0, 0, 0, 1]),
    "getitem_scalar_below": (lambda x, k: x[k], lambda jnp, x, k: x[k], x5, (np.int64(-7),), 1.0, 1, [1, 0, 0, 0, 0]),
    "getitem_scalar_neg": (lambda x, k: x[k], lambda jnp, x, k: x[k], x5, (np.int64(-1),), 1.0, 5, [0, 0, 0, 0, 1]),
    "getitem_scalar_row": (lambda X, k: X[k, 1:3], lambda jnp, X, k: X[k, 1:3], X34, (np.int64(5),), w4[:2],
                           [9, 10], [[0, 0, 0, 0], [0, 0, 0, 0], [0, 1, 2, 0]]),
    "getitem_two_scalars": (lambda X, k, j: X[k, j], lambda jnp, X, k, j: X[k, j], X34,
                            (np.int64(-4), np.int64(9)), 1.0, 3, [[0, 0, 0, 1], [0, 0, 0, 0], [0, 0, 0, 0]]),
    "getitem_scalar_reversed": (lambda X, k: X[::-1, k], lambda jnp, X, k: X[::-1, k], X34, (np.int64(-9),),
                                w4[:3], [8, 4, 0], [[3, 0, 0, 0], [2, 0, 0, 0], [1, 0, 0, 0]]),
    # ... but a scalar with a step-2 slice, or with an array, is a gather: cotangent dropped
    "getitem_scalar_step2": (lambda X, k: X[k, ::2], lambda jnp, X, k: X[k, ::2], X34, (np.int64(5),), w4[:2],
                             [8, 10], [[0] * 4] * 3),
    "getitem_scalar_and_array": (lambda X, k: X[k, np.array([0, 1])], lambda jnp, X, k: X[k, np.array([0, 1])],
                                 X34, (np.int64(5),), w4[:2], [8, 9], [[0] * 4] * 3),
    # take_along_axis: fill by default; clip wraps negatives first (as jnp.take_along_axis)
    "take_along_axis_default": (lambda X, j: fnp.take_along_axis(X, j, axis=1),
                                lambda jnp, X, j: jnp.take_along_axis(X, j, axis=1), X34, (ia,), w32,
                                [[0, NAN], [7, NAN], [11, NAN]], [[1, 0, 0, 0], [0, 0, 0, 3], [0, 0, 0, 5]]),
    "take_along_axis_clip": (lambda X, j: fnp.take_along_axis(X, j, axis=1, mode="clip"),
                             lambda jnp, X, j: jnp.take_along_axis(X, j, axis=1, mode="clip"), X34, (ia,), w32,
                             # row 1: -1 -> 3 (w 3), -5 -> -1 -> clipped to 0 (w 4)
                             [[0, 3], [7, 4], [11, 11]], [[1, 0, 0, 2], [4, 0, 0, 3], [0, 0, 0, 5 + 6]]),
}


def _loss(f, w):
    return lambda x, *idx: fnp.sum(f(x, *idx) * w)


def _all_cases(names):
    """One program holding every case: each value and gradient."""
    def run(*leaves):
        out, pos = {}, 0
        for name in names:
            f, _, x, idx, w, _, _ = CASES[name]
            args = leaves[pos:pos + 1 + len(idx)]
            pos += 1 + len(idx)
            out[name] = (f(*args), fg.grad(_loss(f, w))(*args))
        return out
    return run


def _leaves(names):
    return [a for name in names for a in (CASES[name][2],) + CASES[name][3]]


def _check(name, value, grad):
    *_, expected_value, expected_grad = CASES[name]
    np.testing.assert_array_equal(value, np.asarray(expected_value, float), err_msg=f"{name}: value")
    np.testing.assert_array_equal(grad, np.asarray(expected_grad, float), err_msg=f"{name}: gradient")


@pytest.mark.parametrize("name", list(CASES))
def test_interpreter_matches_hand_derived(name):
    f, _, x, idx, w, _, _ = CASES[name]
    value = fg.jit(f, backend="interpret")(x, *idx)          # jit traces the indices
    grad = fg.jit(fg.grad(_loss(f, w)), backend="interpret")(x, *idx)
    _check(name, value, grad)


# one of each lowering: 1-d gather/scatter, fill's select, clip, wrap's remainder, an axis
# after the first, several axes, a scalar index (a scalar local), take_along_axis
NUMBA_CASES = ["getitem", "take_fill", "take_clip", "take_wrap", "getitem_cols", "getitem_two_axes",
               "getitem_scalar_past", "getitem_scalar_row", "take_along_axis_default"]


def test_numba_matches_hand_derived():
    names = NUMBA_CASES
    out = fg.jit(_all_cases(names), backend="numba")(*_leaves(names))
    for name in names:
        _check(name, *out[name])


@pytest.mark.parametrize("name", list(CASES))
def test_jax_gives_the_same(name):
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp

    _, jf, x, idx, w, _, _ = CASES[name]
    f = lambda x, *i: jf(jnp, x, *i)                         # noqa: E731
    value = jax.jit(f)(x, *idx)
    grad = jax.jit(jax.grad(lambda x, *i: jnp.sum(f(x, *i) * w)))(x, *idx)
    _check(name, np.asarray(value), np.asarray(grad))


# ----------------------------------------------------------------------------- beyond the table

def test_known_indices_are_bounds_checked():
    """Indices known at trace time raise by default; an explicit mode applies."""
    with pytest.raises(fg.ShapeError, match="index 7 is out of bounds"):
        fg.grad(lambda x: fnp.sum(x[np.array([0, 7])]))(x5)
    with pytest.raises(fg.ShapeError, match="index -6 is out of bounds"):
        fg.grad(lambda x: fnp.sum(x[-6]))(x5)
    with pytest.raises(fg.ShapeError, match="take: index 5 is out of bounds"):
        fnp.take(x5, [5])
    with pytest.raises(fg.ShapeError, match="take: index 5 is out of bounds"):
        fnp.take(x5, [5], mode="raise")
    with pytest.raises(fg.ShapeError, match="take_along_axis: index 5"):
        fnp.take_along_axis(X34, ia, axis=1)
    np.testing.assert_array_equal(fnp.take(x5, [7, -1], mode="clip"), [5, 1])
    np.testing.assert_array_equal(fnp.take(x5, [7, -6], mode="wrap"), [3, 5])
    np.testing.assert_array_equal(fnp.take(x5, [7, -1], mode="fill"), [NAN, 5])
    np.testing.assert_array_equal(fnp.take_along_axis(X34, ia, axis=1, mode="fill"),
                                  CASES["take_along_axis_default"][5])
    g = fg.grad(lambda x: fnp.sum(fnp.take(x, [7, -1, 1], mode="fill") * np.array([1.0, 2.0, 3.0])))(x5)
    np.testing.assert_array_equal(g, [0, 3, 0, 0, 2])
    # NumPy's own function, dispatched
    np.testing.assert_array_equal(fg.jit(lambda x, i: np.take(x, i, mode="clip"))(x5, i8), CASES["take_clip"][5])


def test_bad_modes():
    with pytest.raises(fg.UnsupportedError, match="take: mode='foo'"):
        fnp.take(x5, [1], mode="foo")
    with pytest.raises(fg.UnsupportedError, match="traced values cannot raise"):
        fg.jit(lambda x, i: fnp.take(x, i, mode="raise"))(x5, i8)
    with pytest.raises(fg.UnsupportedError, match="take_along_axis: mode='wrap'"):
        fnp.take_along_axis(X34, ia, axis=1, mode="wrap")


def test_fill_values_by_dtype():
    """JAX's default fill: NaN, the most negative signed integer, the largest unsigned one, True."""
    f = fg.jit(lambda x, i: fnp.take(x, i))
    i = np.array([1, 9], dtype=np.int32)
    for x, fill in [(np.arange(3.0, dtype=np.float32), NAN), (np.arange(3), np.iinfo(np.int64).min),
                    (np.arange(3, dtype=np.uint8), 255), (np.array([False, False, False]), True)]:
        out = f(x, i)
        assert out.dtype == x.dtype
        np.testing.assert_array_equal(out, np.array([x[1], fill], dtype=x.dtype))
    # indices of a small dtype: no overflow at i + n
    out = f(np.arange(300.0), np.array([-1, 100], dtype=np.int8))
    np.testing.assert_array_equal(out, [299, 100])


def test_take_method_takes_the_mode():
    out = fg.jit(lambda x, i: x.take(i, mode="wrap"))(x5, i8)
    np.testing.assert_array_equal(out, CASES["take_wrap"][5])


def test_scatter_add_drops_out_of_range_updates():
    """The primitive under the gradients: updates at indices outside [0, n) are
    dropped (XLA's scatter), so their cotangent is 0 (second derivatives of x[i])."""
    i = np.array([1, 7, -2, 1])
    c = np.arange(1.0, 6.0)

    def f(u, i):
        return fnp.sum(P.scatter_add(fnp.zeros(5), i, u, 0) * c)

    u = np.array([10.0, 20.0, 30.0, 40.0])
    for backend in ["interpret", "numba"]:
        out = fg.jit(lambda u, i: P.scatter_add(fnp.zeros(5), i, u, 0), backend=backend)(u, i)
        np.testing.assert_array_equal(out, [0, 50, 0, 0, 0], err_msg=backend)
    g = fg.jit(fg.grad(f), backend="interpret")(u, i)
    np.testing.assert_array_equal(g, [2, 0, 0, 2])


def test_second_derivative_through_clamped_index():
    """d/dx of the gradient of sum(x[i] ** 3): only the in-range indices count."""
    i = np.array([0, 7, 0, -9])

    def hvp(x, i):
        g = fg.grad(lambda y: fnp.sum(y[i] ** 3))(x)          # 3 x0^2 * 2 at row 0
        return fnp.sum(g * np.arange(1.0, 6.0))

    h = fg.jit(fg.grad(hvp), backend="interpret")(x5, i)
    np.testing.assert_array_equal(h, [2 * 6 * x5[0] * 1, 0, 0, 0, 0])


def test_jax_scatter_and_second_derivative():
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp

    u = jnp.array([10.0, 20.0, 30.0, 40.0])
    g = jax.jit(jax.grad(lambda u, i: jnp.sum(jnp.zeros(5).at[i].add(u) * jnp.arange(1.0, 6.0))))(
        u, jnp.array([1, 7, -7, 1]))                          # -7 + 5 = -2: out of range
    np.testing.assert_array_equal(g, [2, 0, 0, 2])
    i = jnp.array([0, 7, 0, -9])
    h = jax.jit(jax.grad(lambda x, i: jnp.sum(jax.grad(lambda y: jnp.sum(y[i] ** 3))(x) * jnp.arange(1.0, 6.0))))(
        x5, i)
    np.testing.assert_array_equal(h, [12, 0, 0, 0, 0])
