"""``x[key]`` on traced arrays: forward values equal NumPy's, and gradients
equal the scatter-add of the cotangent into the indexed positions (computed
with ``np.add.at`` on an array of element numbers) and central differences."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import funcgrad as fg

rng = np.random.default_rng(7)
X = rng.normal(size=(4, 5, 6))

i0 = np.array([0, 2, 3])
i1 = np.array([[1, 3], [0, 0]])
i2 = np.array([5, -1, 2])

KEYS = {
    # integers
    "int": 2,
    "neg_int": -1,
    "np_int": np.int64(3),
    "two_ints": (1, 2),
    "three_neg_ints": (-1, -2, -6),
    # slices
    "slice": slice(1, 3),
    "slice_step2": slice(None, None, 2),
    "slice_reverse": slice(None, None, -1),
    "slice_neg_step2": slice(3, 0, -2),
    "slice_neg_step3_from_end": slice(None, None, -3),
    "slice_neg_bounds": slice(-3, -1),
    "slice_step3_stop": slice(None, -1, 3),
    "slice_past_end": slice(2, 100),
    "slice_empty": slice(3, 1),
    "slice_empty_neg": slice(1, 3, -1),
    "mixed_slices": (slice(1, None), slice(None, None, -2), slice(4, 0, -3)),
    "slice_int_slice": (slice(None, None, 2), 3, slice(1, 5, 2)),
    # None, Ellipsis
    "none_front": (None, 1),
    "none_middle": (1, None, slice(None, 3)),
    "none_many": (None, slice(None), None, 0, None),
    "ellipsis": Ellipsis,
    "ellipsis_int": (Ellipsis, 2),
    "int_ellipsis": (1, Ellipsis),
    "ellipsis_middle": (0, Ellipsis, slice(None, None, -1)),
    "none_ellipsis_none": (None, Ellipsis, None),
    "empty_tuple": (),
    # integer arrays
    "int_array": i0,
    "int_list": [3, 0, 0, 1],
    "int_array_2d": i1,
    "neg_int_array": np.array([-1, 0, -4]),
    "repeated_indices": np.array([1, 1, 1, 2]),
    "two_arrays": (i0, np.array([4, 0, 1])),
    "three_arrays": (i0, np.array([4, 0, 1]), i2),
    "broadcast_arrays": (np.array([[0], [3]]), np.array([1, 2, 4])),
    "nonadjacent_arrays": (i0, slice(None), i2),
    "nonadjacent_arrays_step": (i0, slice(None, None, -2), i2),
    "adjacent_not_front": (slice(None), np.array([4, 0, 1]), i2),
    "adjacent_not_front_2d": (slice(1, 3), i1, np.array([[0, 5], [1, 1]])),
    "array_then_int": (i0, 1),
    "int_then_array": (1, slice(None), i2),
    "int_array_int_nonadjacent": (2, slice(None), np.array([0, 3])),
    "array_with_slices": (slice(None, None, -1), slice(1, 4), i2),
    "ellipsis_array": (Ellipsis, i2),
    # NumPy: an ellipsis between integer-array indices separates them, even when it is empty
    "arrays_around_empty_ellipsis": (slice(None), np.array([0, 4]), Ellipsis, np.array([1, 2])),
    "int_array_around_empty_ellipsis": (slice(None, None, 2), 1, Ellipsis, i2),
    "arrays_around_ellipsis": (i0, Ellipsis, i2),
    "array_ellipsis": (np.array([-1, 1]), Ellipsis),
    "scalar_array_index": np.array(2),
    "empty_int_array": np.array([], dtype=np.int64),
    # None with integer arrays
    "none_then_array": (None, i0),
    "array_none_array": (i0, None, np.array([4, 0, 1])),
    "int_none_array": (1, None, np.array([4, 0, -1])),
    "int_none_slice_array": (1, None, slice(None), i2),
    # boolean masks known at trace time
    "mask_axis0": np.array([True, False, True, True]),
    "mask_list": [False, True, False, False],
    "mask_full": X > 0.3,
    "mask_2d_leading": (X[:, :, 0] > 0),
    "mask_axis1_after_slice": (slice(None, None, 2), np.array([True, False, False, True, True])),
    "mask_last2_ellipsis": (Ellipsis, X[0] > 0),
    "mask_all_false": np.zeros(4, dtype=bool),
    "mask_and_array": (np.array([True, False, True, False]), slice(None), np.array([1, 3])),
}


def _positions(shape, key):
    """The element numbers x[key] reads, by NumPy."""
    return np.arange(int(np.prod(shape))).reshape(shape)[key]


def _grad_by_hand(shape, key, c):
    g = np.zeros(int(np.prod(shape)))
    np.add.at(g, _positions(shape, key).ravel(), np.asarray(c).ravel())
    return g.reshape(shape)


@pytest.mark.parametrize("name", list(KEYS))
def test_forward_matches_numpy(name):
    key = KEYS[name]
    expected = X[key]
    out, _ = fg.vjp(lambda x: x[key], X)
    assert out.shape == expected.shape
    np.testing.assert_array_equal(out, expected)
    prog = fg.make_ir(lambda x: x[key])(X)
    assert prog.out_avals[0].shape == expected.shape


@pytest.mark.parametrize("name", list(KEYS))
def test_gradient_is_scatter_add(name):
    key = KEYS[name]
    c = rng.normal(size=X[key].shape)
    g = fg.grad(lambda x: (x[key] * c).sum())(X)
    np.testing.assert_allclose(g, _grad_by_hand(X.shape, key, c), rtol=1e-14, atol=0)


@pytest.mark.parametrize("name", list(KEYS))
def test_vjp_is_scatter_add(name):
    key = KEYS[name]
    ct = rng.normal(size=X[key].shape)
    _, vjp_fn = fg.vjp(lambda x: x[key], X)
    (g,) = vjp_fn(ct)
    np.testing.assert_allclose(g, _grad_by_hand(X.shape, key, ct), rtol=1e-14, atol=0)


def num_grad(f, x, eps=1e-6):
    g = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        xp, xm = x.copy(), x.copy()
        xp[i] += eps
        xm[i] -= eps
        g[i] = (f(xp) - f(xm)) / (2 * eps)
    return g


@pytest.mark.parametrize("name", ["neg_int", "slice_neg_step2", "none_middle", "ellipsis_int",
                                  "repeated_indices", "nonadjacent_arrays", "broadcast_arrays",
                                  "adjacent_not_front_2d", "mask_full", "array_none_array"])
def test_nonlinear_gradient_vs_finite_differences(name):
    key = KEYS[name]
    x = rng.normal(size=X.shape)
    if name == "mask_full":
        key = x > 0.3

    def f(x):
        return np.sum(np.sin(x[key]) * x[key])

    g = fg.grad(f)(x)
    np.testing.assert_allclose(g, num_grad(f, x), rtol=1e-6, atol=1e-8)


# ----------------------------------------------------------------------------- smaller cases

def test_1d_and_0d():
    v = np.arange(5.0)
    for key in [0, -1, slice(None, None, -1), slice(-2, None), np.array([4, 4, 0]), None, Ellipsis,
                (None, slice(1, 3)), np.array([True, False, True, False, True])]:
        out, _ = fg.vjp(lambda x: x[key], v)
        np.testing.assert_array_equal(out, v[key], err_msg=repr(key))
    s = np.asarray(3.0)
    for key in [(), Ellipsis, None]:
        out, vjp_fn = fg.vjp(lambda x: x[key], s)
        np.testing.assert_array_equal(out, s[key])
        np.testing.assert_array_equal(vjp_fn(np.full(s[key].shape, 2.0))[0], 2.0)


def test_traced_integer_indices():
    """Indices that are themselves arguments (integers, not differentiated)."""
    x = rng.normal(size=(4, 3))
    idx = np.array([3, 0, 3, -1])
    c = rng.normal(size=(4, 3))
    g = fg.grad(lambda x, i: np.sum(x[i] * c))(x, idx)
    np.testing.assert_allclose(g, _grad_by_hand(x.shape, idx, c))
    out, _ = fg.vjp(lambda x, i: x[i], x, idx)
    np.testing.assert_array_equal(out, x[idx])
    # the classic cross-entropy gather: x[arange(n), labels]
    labels = np.array([2, 0, 1, 1])
    g = fg.grad(lambda x, y: np.sum(x[np.arange(4), y]))(x, labels)
    np.testing.assert_array_equal(g, np.eye(3)[labels])
    # a traced scalar index
    g = fg.grad(lambda x, i: np.sum(x[i] ** 2))(x, np.int64(2))
    expect = np.zeros_like(x)
    expect[2] = 2 * x[2]
    np.testing.assert_allclose(g, expect)


def test_indexing_results_chain():
    """Indexing an indexed result, and the second derivative through indexing."""
    x = rng.normal(size=(4, 5, 6))

    def f(x):
        y = x[::-1, 1:][i0][:, None, ..., ::2]
        return np.sum(y[..., -1] ** 3)

    out, _ = fg.vjp(lambda x: x[::-1, 1:][i0][:, None, ..., ::2], x)
    np.testing.assert_array_equal(out, x[::-1, 1:][i0][:, None, ..., ::2])
    g = fg.grad(f)(x)
    np.testing.assert_allclose(g, num_grad(f, x), rtol=1e-6, atol=1e-8)
    # d2/dx2 of x[1]**3 summed: 6 x[1] on row 1
    h = fg.grad(lambda x: np.sum(fg.grad(lambda y: np.sum(y[1] ** 3))(x)))(x[:3, :2, 0])
    expect = np.zeros((3, 2))
    expect[1] = 6 * x[1, :2, 0]
    np.testing.assert_allclose(h, expect, rtol=1e-12)


def test_float32_gradient_dtype():
    x = X.astype(np.float32)
    g = fg.grad(lambda x: np.sum(x[i0, :, i2]))(x)
    assert g.dtype == np.float32
    np.testing.assert_array_equal(g, _grad_by_hand(x.shape, (i0, slice(None), i2), np.ones((3, 5))))


# ----------------------------------------------------------------------------- random keys vs NumPy

def _entry(draw, n):
    kind = draw(st.sampled_from(["int", "slice", "none", "array", "mask", "ellipsis"]))
    if kind == "int":
        return draw(st.integers(-n, n - 1))
    if kind == "slice":
        bound = st.one_of(st.none(), st.integers(-n - 2, n + 2))
        return slice(draw(bound), draw(bound), draw(st.sampled_from([None, 1, 2, 3, -1, -2, -3])))
    if kind == "none":
        return None
    if kind == "array":
        shape = draw(st.sampled_from([(), (1,), (3,), (2, 2), (0,)]))
        return np.array(draw(st.lists(st.integers(-n, n - 1), min_size=int(np.prod(shape)),
                                      max_size=int(np.prod(shape)))), dtype=np.int64).reshape(shape)
    if kind == "mask":
        return np.array(draw(st.lists(st.booleans(), min_size=n, max_size=n)), dtype=bool)
    return Ellipsis


@st.composite
def shape_and_key(draw):
    shape = tuple(draw(st.lists(st.integers(1, 4), min_size=1, max_size=4)))
    key, axis, seen_ellipsis = [], 0, False
    for _ in range(draw(st.integers(0, len(shape) + 1))):
        if axis >= len(shape):
            break
        e = _entry(draw, shape[axis])
        if e is Ellipsis:
            if seen_ellipsis:
                continue
            seen_ellipsis = True
        key.append(e)
        if e is not None and e is not Ellipsis:
            axis += 1
    return shape, tuple(key)


@settings(max_examples=150, deadline=None)
@given(shape_and_key())
def test_random_keys_match_numpy(sk):
    shape, key = sk
    x = np.arange(float(np.prod(shape))).reshape(shape) * 0.5 - 1.0
    try:
        expected = x[key]
    except IndexError:  # NumPy refuses the key: so does funcgrad, with its own error
        with pytest.raises(fg.FuncgradError):
            fg.vjp(lambda v: v[key], x)
        return
    out, vjp_fn = fg.vjp(lambda v: v[key], x)
    assert out.shape == expected.shape
    np.testing.assert_array_equal(out, expected)
    ct = np.arange(float(expected.size)).reshape(expected.shape) + 1.0
    (g,) = vjp_fn(ct)
    np.testing.assert_array_equal(g, _grad_by_hand(shape, key, ct))


@pytest.mark.parametrize("key", [(np.array([], np.int64), 5), (np.array([False]), Ellipsis, 0, 1),
                                 (np.array([], np.int64), np.array([5]))])
def test_an_empty_index_set_still_checks_scalar_indices_as_numpy(key):
    x = np.zeros((1, 1, 2, 1))
    try:
        expected = x[key]
    except IndexError:
        with pytest.raises(fg.FuncgradError, match="out of bounds"):
            fg.vjp(lambda v: v[key], x)
        return
    assert fg.vjp(lambda v: v[key], x)[0].shape == expected.shape   # an index array is not checked
