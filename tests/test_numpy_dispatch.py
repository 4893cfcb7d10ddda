"""Plain ``numpy`` code differentiates as it is written: NumPy's functions,
ufuncs, operators and array methods dispatch to funcgrad on traced values.

Every function here is ordinary NumPy code, so the reference is the same code
run by NumPy itself: values directly, gradients by central finite differences
in float64 (or formulas derived by hand)."""
import numpy as np
import pytest

import funcgrad as fg


def num_grad(f, args, argnum, eps=1e-6):
    args = [np.array(a, dtype=np.float64) if np.asarray(a).dtype.kind == "f" else a for a in args]
    x = args[argnum]
    g = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        xp, xm = x.copy(), x.copy()
        xp[i] += eps
        xm[i] -= eps
        ap, am = list(args), list(args)
        ap[argnum], am[argnum] = xp, xm
        g[i] = (f(*ap) - f(*am)) / (2 * eps)
    return g


def check(f, *args, argnums=None, rtol=1e-6, atol=1e-8):
    """value_and_grad of ``f`` agrees with NumPy's value and with central
    differences for every floating-point argument."""
    if argnums is None:
        argnums = tuple(i for i, a in enumerate(args) if np.asarray(a).dtype.kind == "f")
    val, grads = fg.value_and_grad(f, argnums=argnums)(*args)
    np.testing.assert_allclose(val, f(*args), rtol=1e-12, atol=1e-14)
    for i, g in zip(argnums, grads):
        assert g.shape == np.shape(args[i])
        np.testing.assert_allclose(g, num_grad(f, args, i), rtol=rtol, atol=atol, err_msg=f"argument {i}")
    return grads


rng = np.random.default_rng(42)
X = rng.normal(size=(5, 3))      # a plain numpy data matrix (not differentiated)
w = rng.normal(size=3)
W = rng.normal(size=(3, 4))
A = rng.normal(size=(2, 3))
B = rng.normal(size=(2, 3))
P = rng.uniform(0.5, 2.0, size=(2, 3))   # positive, for log/sqrt/power


# ----------------------------------------------------------------------------- the named ones, by hand

def test_tanh_sum_hand():
    g = fg.grad(lambda x: np.sum(np.tanh(x)))(A)
    np.testing.assert_allclose(g, 1 - np.tanh(A) ** 2, rtol=1e-12)


def test_exp_mean_hand():
    g = fg.grad(lambda x: np.mean(np.exp(x)))(A)
    np.testing.assert_allclose(g, np.exp(A) / A.size, rtol=1e-12)


def test_maximum_relu_hand():
    g = fg.grad(lambda x: np.sum(np.maximum(x, 0.0) ** 2))(A)
    np.testing.assert_allclose(g, 2 * np.maximum(A, 0.0), rtol=1e-12)


def test_data_matrix_at_traced_weights_hand():
    # X is a numpy array on the left of @: ndarray.__matmul__ hands over to the tracer
    y = rng.normal(size=5)
    g = fg.grad(lambda w: np.sum((X @ w - y) ** 2))(w)
    np.testing.assert_allclose(g, 2 * X.T @ (X @ w - y), rtol=1e-12)
    g = fg.grad(lambda w: np.mean((np.dot(X, w) - y) ** 2))(w)
    np.testing.assert_allclose(g, 2 * X.T @ (X @ w - y) / 5, rtol=1e-12)


def test_where_hand():
    g = fg.grad(lambda x: np.sum(np.where(x > 0, x ** 2, 3 * x)))(A)
    np.testing.assert_allclose(g, np.where(A > 0, 2 * A, 3.0), rtol=1e-12)


def test_transpose_property_hand():
    g = fg.grad(lambda W: np.sum(W.T @ X.T))(W)
    # sum_{j,n} (W^T X^T)_{jn} = sum_{j,n} sum_i W_ij X_ni  ->  d/dW_ij = sum_n X_ni
    np.testing.assert_allclose(g, np.broadcast_to(X.sum(axis=0)[:, None], W.shape), rtol=1e-12)


def test_methods_sum_axis_mean_reshape_hand():
    c = np.arange(6.0).reshape(3, 2)
    g = fg.grad(lambda a: (a.reshape(3, 2) * c).sum(axis=0).mean())(A)
    np.testing.assert_allclose(g, (c / 2).reshape(2, 3), rtol=1e-12)


def test_concatenate_stack_hand():
    def f(a, b):
        return np.sum(np.concatenate([a, 2 * b], axis=1) ** 2) + np.sum(np.stack([a, b]) * 3.0)

    ga, gb = fg.grad(f, argnums=(0, 1))(A, B)
    np.testing.assert_allclose(ga, 2 * A + 3.0, rtol=1e-12)
    np.testing.assert_allclose(gb, 8 * B + 3.0, rtol=1e-12)


# ----------------------------------------------------------------------------- many functions vs finite differences

UNARY = [
    ("tanh", lambda x: np.sum(np.tanh(x)), A),
    ("exp", lambda x: np.sum(np.exp(x)), A),
    ("log", lambda x: np.sum(np.log(x)), P),
    ("log1p", lambda x: np.sum(np.log1p(x)), P),
    ("expm1", lambda x: np.sum(np.expm1(x)), A),
    ("sqrt", lambda x: np.sum(np.sqrt(x)), P),
    ("sin_cos", lambda x: np.sum(np.sin(x) * np.cos(x)), A),
    ("tan", lambda x: np.sum(np.tan(x * 0.3)), A),
    ("arctan", lambda x: np.sum(np.arctan(x)), A),
    ("arcsin", lambda x: np.sum(np.arcsin(x / 3)), A),
    ("sinh_cosh", lambda x: np.sum(np.sinh(x) + np.cosh(x)), A),
    ("abs", lambda x: np.sum(np.abs(x)), A),
    ("square", lambda x: np.sum(np.square(x)), A),
    ("reciprocal", lambda x: np.sum(np.reciprocal(x)), P),
    ("power_int", lambda x: np.sum(x ** 3), A),
    ("power_float", lambda x: np.sum(x ** 1.7), P),
    ("rpow", lambda x: np.sum(2.0 ** x), A),
    ("negative", lambda x: np.sum(-x * x), A),
    ("sum", lambda x: np.sum(x * x), A),
    ("sum_axis0", lambda x: np.sum(np.sum(x, axis=0) ** 2), A),
    ("sum_axis_neg", lambda x: np.sum(np.sum(x, axis=-1, keepdims=True) * x), A),
    ("sum_axes_tuple", lambda x: np.sum(x.reshape(1, 2, 3), axis=(0, 2)) @ np.array([1.0, -2.0]), A),
    ("mean", lambda x: np.mean(x ** 2), A),
    ("mean_axis", lambda x: np.sum(np.mean(x, axis=1) ** 2), A),
    ("method_mean_keepdims", lambda x: (x - x.mean(axis=0, keepdims=True)).sum() + (x ** 2).mean(), A),
    ("var", lambda x: np.var(x), A),
    ("std_axis", lambda x: np.sum(np.std(x, axis=0)), A),
    ("max", lambda x: np.max(x * np.array([1.0, 2.0, 3.0])), A),
    ("max_axis", lambda x: np.sum(np.max(x, axis=1)), A),
    ("amin_axis", lambda x: np.sum(np.amin(x, axis=0)), A),
    ("method_max_min", lambda x: x.max() - x.min(axis=1).sum(), A),
    ("prod", lambda x: np.prod(x), P),
    ("prod_axis", lambda x: np.sum(np.prod(x, axis=0)), A),
    ("maximum", lambda x: np.sum(np.maximum(x, 0.1)), A),
    ("minimum", lambda x: np.sum(np.minimum(x, 0.1) * x), A),
    ("clip", lambda x: np.sum(np.clip(x, -0.5, 0.5) * x), A),
    ("method_clip", lambda x: np.sum(x.clip(-0.5, 0.5) ** 2), A),
    ("where", lambda x: np.sum(np.where(x > 0.2, np.sin(x), x ** 3)), A),
    ("T", lambda x: np.sum(x.T @ x), A),
    ("transpose_fn", lambda x: np.sum(np.transpose(x) * np.arange(6.0).reshape(3, 2)), A),
    ("reshape_method_tuple", lambda x: np.sum(x.reshape((3, 2)) * np.arange(6.0).reshape(3, 2)), A),
    ("reshape_fn_minus1", lambda x: np.sum(np.reshape(x, (-1,)) * np.arange(6.0)), A),
    ("ravel", lambda x: np.ravel(x) @ np.arange(6.0), A),
    ("flatten_method", lambda x: x.flatten() @ np.arange(6.0), A),
    ("swapaxes", lambda x: np.sum(np.swapaxes(x, 0, 1) @ x), A),
    ("expand_squeeze", lambda x: np.sum(np.squeeze(np.expand_dims(x, 0) * 2.0) ** 2), A),
    ("broadcast_to", lambda x: np.sum(np.broadcast_to(x[0], (4, 3)) * np.arange(12.0).reshape(4, 3)), A),
    ("flip", lambda x: np.sum(np.flip(x, axis=1) * np.arange(6.0).reshape(2, 3)), A),
    ("outer", lambda x: np.sum(np.outer(x[0], x[1]) ** 2), A),
    ("einsum", lambda x: np.einsum("ij,kj->", x, x * x), A),
    ("tensordot", lambda x: np.sum(np.tensordot(x, W, axes=1) ** 2), A),
    ("cumsum", lambda x: np.sum(np.cumsum(x, axis=1) ** 2), A),
    ("take", lambda x: np.sum(np.take(x, [2, 0, 2], axis=1) ** 2), A),
    ("split", lambda x: np.sum(np.split(x, 3, axis=1)[1] ** 2), A),
    ("hstack_vstack", lambda x: np.sum(np.hstack([x, x ** 2]) ** 2) + np.sum(np.vstack([x, x]) * 0.5), A),
    ("moveaxis", lambda x: np.sum(np.moveaxis(x.reshape(1, 2, 3), 0, -1)[..., 0] * np.arange(6.0).reshape(2, 3)), A),
    ("add_reduce", lambda x: np.sum(np.add.reduce(x, axis=0) ** 2), A),
    ("maximum_reduce", lambda x: np.sum(np.maximum.reduce(x, axis=1)), A),
    ("logsumexp_by_hand", lambda x: np.sum(np.log(np.sum(np.exp(x), axis=1))), A),
    ("softmax_by_hand", lambda x: np.sum(np.exp(x) / np.sum(np.exp(x), axis=1, keepdims=True)
                                         * np.arange(6.0).reshape(2, 3)), A),
    ("sigmoid_by_hand", lambda x: np.sum(1.0 / (1.0 + np.exp(-x))), A),
    ("numpy_scalar_mul", lambda x: np.sum(np.float64(2.5) * x * x), A),
    ("true_divide", lambda x: np.sum(np.true_divide(1.0, x)), P),
    ("arctan2", lambda x: np.sum(np.arctan2(x, P)), A),
    ("float_power", lambda x: np.sum(np.float_power(x, 2.5)), P),
    ("trapezoid_like", lambda x: np.sum((x[:, 1:] + x[:, :-1]) / 2), A),
]


@pytest.mark.parametrize("name,f,x", UNARY, ids=[u[0] for u in UNARY])
def test_function_vs_finite_differences(name, f, x):
    check(f, x)


BINARY = [
    ("matmul_data_left", lambda w: np.sum(np.tanh(X @ w)), (w,)),
    ("matmul_both_traced", lambda a, b: np.sum((a @ b.T) ** 2), (A, B)),
    ("matmul_data_right", lambda W: np.sum((X @ W) @ np.ones(4)), (W,)),
    ("dot_2d_1d", lambda W, v: np.sum(np.dot(W, v) ** 2), (W, np.ones(4))),
    ("dot_1d_1d", lambda a, b: np.dot(a, b) ** 2, (w, w * 2)),
    ("dot_method", lambda a, b: np.sum(a.dot(b)), (A, W)),
    ("mul_broadcast", lambda a, b: np.sum(a * b[None, :] + a / (1 + b ** 2)), (A, w)),
    ("sub_div", lambda a, b: np.sum((a - b) / (b * b + 1.0)), (A, B)),
    ("maximum_both", lambda a, b: np.sum(np.maximum(a, b) * a), (A, B)),
    ("where_both", lambda a, b: np.sum(np.where(a > b, a * b, a - b)), (A, B)),
    ("concatenate_axis0", lambda a, b: np.sum(np.concatenate([a, b, a * b]) ** 2), (A, B)),
    ("concatenate_axis_none", lambda a, b: np.concatenate([a, b], axis=None) @ np.arange(12.0), (A, B)),
    ("stack_axis1", lambda a, b: np.sum(np.stack([a, b], axis=1) * np.arange(12.0).reshape(2, 2, 3)), (A, B)),
    ("stack_axis_last", lambda a, b: np.sum(np.stack([a, b, a], axis=-1) ** 2), (A, B)),
    ("power_traced_exponent", lambda a, b: np.sum(np.power(a, b)), (P, B)),
    ("linear_layer", lambda W, b: np.mean(np.maximum(X @ W + b, 0.0) ** 2), (W, np.full(4, 0.1))),
]


@pytest.mark.parametrize("name,f,args", BINARY, ids=[b[0] for b in BINARY])
def test_two_argument_functions_vs_finite_differences(name, f, args):
    check(f, *args)


# ----------------------------------------------------------------------------- dtypes and values

def test_float32_inputs_keep_float32():
    x = A.astype(np.float32)
    val, g = fg.value_and_grad(lambda x: np.sum(np.tanh(x) * 2.0))(x)
    assert np.asarray(val).dtype == np.float32 and g.dtype == np.float32
    np.testing.assert_allclose(g, 2 * (1 - np.tanh(A) ** 2), rtol=1e-5)


def test_float32_with_float64_data_promotes_like_numpy():
    x = A.astype(np.float32)
    f = lambda x: np.sum(x * B)  # noqa: E731  (float32 * float64 -> float64 in NumPy)
    val, g = fg.value_and_grad(f)(x)
    assert np.asarray(val).dtype == np.result_type(np.float32, np.float64)
    assert g.dtype == np.float32  # the gradient has the argument's dtype
    np.testing.assert_allclose(g, B, rtol=1e-6)


def test_integer_data_mixed_with_traced_floats():
    counts = np.array([[1, 2, 3], [4, 5, 6]])
    g = fg.grad(lambda x: np.sum(x * counts) + np.sum(counts @ np.ones(3) * x[:, 0]))(A)
    expect = counts.astype(float)
    expect[:, 0] += counts.sum(axis=1)
    np.testing.assert_allclose(g, expect)


def test_forward_values_match_numpy():
    def f(x):
        h = np.tanh(X @ x + 0.5)
        return np.sum(np.concatenate([h, np.stack([h, h]).mean(axis=0)]) ** 2) + h.reshape(5, 1).T.sum()

    val, _ = fg.value_and_grad(f)(w)
    np.testing.assert_allclose(val, f(w), rtol=1e-13)
    np.testing.assert_allclose(fg.vjp(lambda x: np.tanh(X @ x + 0.5), w)[0], np.tanh(X @ w + 0.5), rtol=1e-13)


def test_comparisons_and_logical_ops_have_no_gradient():
    def f(x):
        mask = np.logical_and(x > -0.5, x < 0.5) | (x > 1.5)
        return np.sum(np.where(mask, x, 0.0)) + np.sum(mask * 1.0)

    g = fg.grad(f)(A)
    mask = ((A > -0.5) & (A < 0.5)) | (A > 1.5)
    np.testing.assert_allclose(g, mask.astype(float))


# ----------------------------------------------------------------------------- more NumPy surface

MORE = [
    ("sum_where_method", lambda x: x.sum(where=x > 0), A),
    ("sum_where_fn", lambda x: np.sum(x ** 2, where=x < 0.5), A),
    ("sum_initial", lambda x: x.sum(axis=0, initial=1.5).prod(), A),
    ("max_initial_method", lambda x: x.max(axis=1, initial=0.0).sum(), A),
    ("min_initial_method", lambda x: x.min(initial=-0.1) * 3.0, A),
    ("round_method", lambda x: np.sum(np.round(x * 10.0) * x + x.round(1) * x), A),
    ("divmod", lambda x: np.sum(divmod(x, 0.7)[1] + divmod(3.0, P)[1] * x), A),
    ("repeat_method", lambda x: np.sum(x.repeat(2, axis=1) * np.arange(12.0).reshape(2, 6)), A),
    ("einsum_matmul", lambda x: np.sum(np.einsum("ij,jk->ik", x, W) ** 2), A),
    ("einsum_implicit", lambda x: np.sum(np.einsum("ij,jk", x, W) ** 2), A),
    ("einsum_rowdot", lambda x: np.sum(np.einsum("ij,ij->i", x, x * B) ** 2), A),
    ("einsum_trace", lambda x: np.einsum("ii", x[:, :2] @ x[:, :2].T), A),
    ("einsum_diag", lambda x: np.sum(np.einsum("ii->i", x.T @ x) ** 2), A),
    ("einsum_ellipsis", lambda x: np.sum(np.einsum("...i,i->...", x, np.arange(3.0)) ** 2), A),
    ("einsum_batch_ellipsis", lambda x: np.sum(np.einsum("...ij,...jk->...ik", x[None] * np.ones((2, 1, 1)),
                                                         np.ones((3, 2))) ** 2), A),
    ("einsum_three", lambda x: np.einsum("ij,jk,ki->", x, W, W.T @ x.T), A),
]


@pytest.mark.parametrize("name,f,x", MORE, ids=[m[0] for m in MORE])
def test_more_numpy_vs_finite_differences(name, f, x):
    check(f, x)


@pytest.mark.parametrize("sub,shapes", [
    ("ii->", [(3, 3)]), ("iij->j", [(2, 2, 3)]), ("iji->j", [(2, 3, 2)]), ("...i,...i", [(2, 3), (3,)]),
    ("i...,i...", [(2, 3), (2, 1)]), ("...,ab", [(5,), (2, 3)]), ("...ij,...jk->...ik", [(1, 2, 3), (4, 3, 5)]),
    ("bij,bjk->bik", [(1, 2, 3), (4, 3, 5)]), ("Ba,aC", [(2, 3), (3, 4)]), ("a...b->...", [(2, 3, 4, 5)]),
    ("iijj->", [(2, 2, 3, 3)]), ("ijk,jil->kl", [(2, 3, 4), (3, 2, 5)]), ("ii,i->i", [(3, 3), (3,)]),
])
def test_einsum_forms_vs_numpy_and_finite_differences(sub, shapes):
    ops = [rng.normal(size=s) for s in shapes]
    ref = np.einsum(sub, *ops)
    out, vjp_fn = fg.vjp(lambda *a: np.einsum(sub, *a), *ops)
    assert np.shape(out) == np.shape(ref)
    np.testing.assert_allclose(out, ref, rtol=1e-12, atol=1e-12)
    ct = rng.normal(size=np.shape(ref))
    grads = vjp_fn(ct)

    def inner(*a):
        return np.sum(ct * np.einsum(sub, *a))

    for k, g in enumerate(grads):
        np.testing.assert_allclose(g, num_grad(inner, ops, k), rtol=1e-6, atol=1e-8)


def test_einsum_errors():
    with pytest.raises(fg.ShapeError, match="einsum"):
        fg.grad(lambda x: np.einsum("...i->i", x).sum())(A)
    with pytest.raises(fg.ShapeError, match="einsum"):
        fg.grad(lambda x: np.einsum("ij,jk->ik", x, np.ones((2, 2))).sum())(A)
    with pytest.raises(fg.ShapeError, match="einsum"):
        fg.grad(lambda x: np.einsum("ij->ii", x).sum())(A)
