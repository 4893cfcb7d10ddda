"""funcgrad.numpy's shape and construction functions (funcgrad/numpy/_shapes.py):
pad, roll, rot90, diagonals, triangles, kron, cross, insert/delete, select,
piecewise, stacking and splitting helpers, grids, put_along_axis, interp,
convolve/correlate, polyval.

Each case is written once as ``f(xp, *args)``: NumPy (``xp=np``) is the
reference; funcgrad runs it eagerly (``xp=fnp``), traced (``xp=fnp`` under
``fg.jit``) and through NumPy's dispatch (``xp=np`` on traced values).
Gradients are checked against central finite differences in float64.
"""
import warnings

import numpy as np
import pytest

import funcgrad as fg
import funcgrad.numpy as fnp
from fd import check_grads

rng = np.random.default_rng(7)
A34 = rng.normal(size=(3, 4))
A33 = rng.normal(size=(3, 3))
B234 = rng.normal(size=(2, 3, 4))
V5 = rng.normal(size=5)
V1 = rng.normal(size=1)
S0 = np.array(1.3)
C1 = rng.normal(size=(1, 4))       # a size-1 axis


def _np_ref(f, *args):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return f(np, *args)


# (id, f(xp, *args), args, differentiable)
CASES = [
    # pad
    ("pad_int_width", lambda xp, a: xp.pad(a, 2), (A34,), True),
    ("pad_pair", lambda xp, a: xp.pad(a, (1, 3)), (A34,), True),
    ("pad_constant_per_axis", lambda xp, a: xp.pad(a, ((1, 2), (0, 3)), constant_values=((1.5, 2), (3, 4))),
     (A34,), True),
    ("pad_constant_scalar", lambda xp, a: xp.pad(a, ((1,), (2,)), constant_values=-7), (A34,), True),
    ("pad_edge", lambda xp, a: xp.pad(a, (1, 3), mode="edge"), (A34,), True),
    ("pad_edge_size1", lambda xp, a: xp.pad(a, 2, mode="edge"), (C1,), True),
    ("pad_reflect_wide", lambda xp, a: xp.pad(a, (5, 7), mode="reflect"), (A34,), True),
    ("pad_reflect_size1", lambda xp, a: xp.pad(a, 2, mode="reflect"), (C1,), True),
    ("pad_symmetric", lambda xp, a: xp.pad(a, ((2, 1), (6, 1)), mode="symmetric"), (A34,), True),
    ("pad_wrap", lambda xp, a: xp.pad(a, 9, mode="wrap"), (A34,), True),
    ("pad_reflect_odd", lambda xp, a: xp.pad(a, (2, 5), mode="reflect", reflect_type="odd"), (A34,), True),
    ("pad_symmetric_odd", lambda xp, a: xp.pad(a, (4, 1), mode="symmetric", reflect_type="odd"), (V5,), True),
    ("pad_3d", lambda xp, a: xp.pad(a, ((0, 0), (1, 1), (2, 0)), mode="wrap"), (B234,), True),
    ("pad_0d", lambda xp, a: xp.pad(a, 3), (S0,), True),
    # roll, rollaxis, rot90
    ("roll_flat", lambda xp, a: xp.roll(a, 7), (A34,), True),
    ("roll_axis", lambda xp, a: xp.roll(a, -1, axis=1), (A34,), True),
    ("roll_tuple", lambda xp, a: xp.roll(a, (1, -2), axis=(0, 1)), (A34,), True),
    ("roll_repeated_axis", lambda xp, a: xp.roll(a, (1, 2), axis=(1, 1)), (A34,), True),
    ("roll_broadcast_shift", lambda xp, a: xp.roll(a, 1, axis=(0, 2)), (B234,), True),
    ("roll_0d", lambda xp, a: xp.roll(a, 1), (S0,), True),
    ("rollaxis", lambda xp, a: xp.rollaxis(a, 2), (B234,), True),
    ("rollaxis_start", lambda xp, a: xp.rollaxis(a, 0, 3), (B234,), True),
    ("rot90", lambda xp, a: xp.rot90(a), (A34,), True),
    ("rot90_k2", lambda xp, a: xp.rot90(a, 2), (A34,), True),
    ("rot90_k3_axes", lambda xp, a: xp.rot90(a, -1, axes=(2, 0)), (B234,), True),
    # diagonals, triangles
    ("diag_1d", lambda xp, a: xp.diag(a), (V5,), True),
    ("diag_1d_k", lambda xp, a: xp.diag(a, 2), (V5,), True),
    ("diag_1d_negk", lambda xp, a: xp.diag(a, -1), (V1,), True),
    ("diag_2d", lambda xp, a: xp.diag(a), (A34,), True),
    ("diag_2d_k", lambda xp, a: xp.diag(a, -2), (A34,), True),
    ("diag_2d_k_out", lambda xp, a: xp.diag(a, 7), (A34,), True),
    ("diagonal_offset", lambda xp, a: xp.diagonal(a, 1), (A34,), True),
    ("diagonal_batched", lambda xp, a: xp.diagonal(a, -1, axis1=1, axis2=2), (B234,), True),
    ("diagonal_axes", lambda xp, a: xp.diagonal(a, 0, 2, 0), (B234,), True),
    ("diagflat", lambda xp, a: xp.diagflat(a, -1), (A34[:2, :2],), True),
    ("trace", lambda xp, a: xp.trace(a), (A34,), True),
    ("trace_batched", lambda xp, a: xp.trace(a, 1, axis1=1, axis2=2), (B234,), True),
    ("tril", lambda xp, a: xp.tril(a), (A34,), True),
    ("tril_k", lambda xp, a: xp.tril(a, -1), (B234,), True),
    ("triu_k", lambda xp, a: xp.triu(a, 1), (B234,), True),
    ("triu_1d", lambda xp, a: xp.triu(a), (V5,), True),
    # products, polynomials
    ("kron", lambda xp, a, b: xp.kron(a, b), (A34[:2, :3], A33[:2]), True),
    ("kron_ndim", lambda xp, a, b: xp.kron(a, b), (V5[:2], B234), True),
    ("kron_0d", lambda xp, a, b: xp.kron(a, b), (S0, A34), True),
    ("cross3", lambda xp, a, b: xp.cross(a, b), (A33, A33[::-1] + 1), True),
    ("cross3_axis", lambda xp, a, b: xp.cross(a, b, axis=0), (A34[:, :2], A33[:, 1:]), True),
    ("cross3_axes", lambda xp, a, b: xp.cross(a, b, axisa=0, axisb=1, axisc=0), (A34[:, :2], A33[:2]), True),
    ("cross2", lambda xp, a, b: xp.cross(a, b), (A34[:, :2], A34[:, 2:]), True),
    ("cross23", lambda xp, a, b: xp.cross(a, b), (A34[:, :2], A33), True),
    ("cross32_broadcast", lambda xp, a, b: xp.cross(a, b), (A33, V5[:2]), True),
    ("polyval", lambda xp, p, x: xp.polyval(p, x), (V5, A34), True),
    ("polyval_0d", lambda xp, p, x: xp.polyval(p, x), (V5[:3], S0), True),
    # append, insert, delete
    ("append_flat", lambda xp, a, b: xp.append(a, b), (A34, V5), True),
    ("append_axis", lambda xp, a, b: xp.append(a, b, axis=0), (A34, C1), True),
    ("append_0d", lambda xp, a, b: xp.append(a, b), (S0, S0), True),
    ("insert_scalar_value", lambda xp, a: xp.insert(a, 1, 5.0, axis=1), (A34,), True),
    ("insert_flat", lambda xp, a, v: xp.insert(a, 2, v), (A34, V5[:1]), True),
    ("insert_row", lambda xp, a, v: xp.insert(a, -1, v, axis=0), (A34, A34[0] * 2), True),
    ("insert_many", lambda xp, a, v: xp.insert(a, [0, 2, 2], v, axis=1), (A34, A34[:, :1] - 1), True),
    ("insert_slice", lambda xp, a, v: xp.insert(a, slice(0, 4, 2), v, axis=1), (A34, V5[:2]), True),
    ("insert_0d", lambda xp, a, v: xp.insert(a, 0, v), (S0, S0), True),
    ("delete", lambda xp, a: xp.delete(a, [0, 2], axis=1), (A34,), True),
    ("delete_flat_slice", lambda xp, a: xp.delete(a, slice(1, None, 2)), (A34,), True),
    ("delete_negative", lambda xp, a: xp.delete(a, -1, axis=0), (B234,), True),
    ("delete_all", lambda xp, a: xp.delete(a, [0, 1, 2], axis=0), (A34,), False),
    # select, piecewise
    ("select", lambda xp, a: xp.select([a > 0, a < -1], [a, a * 2], default=-1), (A34,), True),
    ("select_broadcast", lambda xp, a, b: xp.select([a > 0.5], [b]), (A34, V5[:4]), True),
    ("piecewise", lambda xp, a: xp.piecewise(a, [a < 0, a > 1], [lambda t: -t, lambda t: t ** 2, 0.5]),
     (A34,), True),
    ("piecewise_one_cond", lambda xp, a: xp.piecewise(a, a > 0, [lambda t: t * 3, lambda t: t]), (V5,), True),
    ("piecewise_0d", lambda xp, a: xp.piecewise(a, [a > 0], [lambda t: 2 * t]), (S0,), True),
    # stacking, splitting
    ("column_stack", lambda xp, a, b: xp.column_stack([a, b]), (V5, V5[::-1]), True),
    ("column_stack_2d", lambda xp, a, b: xp.column_stack((a, b)), (A34[:, :2], A34[:, 0]), True),
    ("dstack", lambda xp, a, b: xp.dstack([a, b]), (A34, A34 * 2), True),
    ("dstack_1d", lambda xp, a, b: xp.dstack((a, b)), (V5, V5), True),
    ("hsplit", lambda xp, a: xp.hsplit(a, 2)[1], (A34,), True),
    ("hsplit_1d", lambda xp, a: xp.hsplit(a, [2])[0], (V5,), True),
    ("vsplit", lambda xp, a: xp.vsplit(a, [1])[1], (A34,), True),
    ("dsplit", lambda xp, a: xp.dsplit(a, 2)[0], (B234,), True),
    ("atleast_3d_0d", lambda xp, a: xp.atleast_3d(a), (S0,), True),
    ("atleast_3d_1d", lambda xp, a: xp.atleast_3d(a), (V5,), True),
    ("atleast_3d_2d", lambda xp, a: xp.atleast_3d(a), (A34,), True),
    ("atleast_3d_many", lambda xp, a, b: xp.atleast_3d(a, b)[1], (S0, V5), True),
    ("atleast_2d_many", lambda xp, a, b: xp.atleast_2d(a, b)[0], (S0, V5), True),
    ("atleast_1d_many", lambda xp, a, b: xp.atleast_1d(a, b)[0], (S0, V5), True),
    # grids
    ("meshgrid_xy", lambda xp, a, b: xp.stack(xp.meshgrid(a, b)), (V5, V5[:3]), True),
    ("meshgrid_ij_3", lambda xp, a, b: xp.meshgrid(a, b, a[:2], indexing="ij")[2], (V5, V5[:3]), True),
    ("meshgrid_sparse", lambda xp, a, b: xp.meshgrid(a, b, sparse=True)[1], (V5, V5[:3]), True),
    ("indices_use", lambda xp, a: a * xp.indices((3, 4))[1], (A34,), True),
    ("indices_sparse", lambda xp, a: a + xp.indices((3, 4), sparse=True)[0], (A34,), True),
    ("ix_", lambda xp, a: a[xp.ix_([0, 2], [3, 1, 1])], (A34,), True),
    ("ix_bool", lambda xp, a: a[xp.ix_(np.array([True, False, True]), [0])], (A34,), True),
    # interp
    ("interp", lambda xp, x: xp.interp(x, [-1.0, 0.0, 0.5, 2.0], [1.0, 3.0, -2.0, 0.0]), (A34,), True),
    ("interp_left_right", lambda xp, x: xp.interp(x, [-1.0, 0.0, 0.5, 1.0], [1.0, 3.0, -2.0, 0.0],
                                                  left=-5, right=7.0), (A34,), True),
    ("interp_traced_fp", lambda xp, x, fp: xp.interp(x, [-0.5, 0.0, 0.3, 1.0, 2.0], fp), (A34, V5), True),
    ("interp_traced_xp", lambda xp, x, xs: xp.interp(x, xs, [0.0, 1.0, 3.0]),
     (A34, np.array([-0.4, 0.2, 0.9])), True),
    ("interp_0d", lambda xp, x: xp.interp(x, [0.0, 1.0, 2.0], [1.0, 0.0, 4.0]), (S0,), True),
    ("interp_one_point", lambda xp, x: xp.interp(x, [0.5], [2.0]), (A34,), False),
    ("interp_period", lambda xp, x: xp.interp(x, [170.0, 10.0, 350.0, 60.0], [1.0, 4.0, 2.0, 0.5],
                                              period=360), (A34 * 200,), True),
    # convolve, correlate
    ("convolve_full", lambda xp, a, v: xp.convolve(a, v), (V5, V5[:3]), True),
    ("convolve_same", lambda xp, a, v: xp.convolve(a, v, "same"), (V5, V5[:4]), True),
    ("convolve_same_short_a", lambda xp, a, v: xp.convolve(a, v, mode="same"), (V5[:2], V5), True),
    ("convolve_valid", lambda xp, a, v: xp.convolve(a, v, "valid"), (V5, V5[:2]), True),
    ("convolve_valid_swapped", lambda xp, a, v: xp.convolve(a, v, "valid"), (V5[:2], V5), True),
    ("convolve_0d", lambda xp, a, v: xp.convolve(a, v), (S0, V5), True),
    ("correlate_valid", lambda xp, a, v: xp.correlate(a, v), (V5, V5[:3]), True),
    ("correlate_full", lambda xp, a, v: xp.correlate(a, v, "full"), (V5[:3], V5), True),
    ("correlate_same", lambda xp, a, v: xp.correlate(a, v, "same"), (V5, V5[:2]), True),
    ("correlate_same_long_v", lambda xp, a, v: xp.correlate(a, v, "same"), (V5[:2], V5), True),
    ("correlate_same_even", lambda xp, a, v: xp.correlate(a, v, "same"), (V5[:4], V5), True),
    ("correlate_valid_long_v", lambda xp, a, v: xp.correlate(a, v, "valid"), (V5[:3], V5), True),
]
IDS = [c[0] for c in CASES]


def _check_same(got, ref, label):
    got = np.asarray(got)
    assert got.shape == np.shape(ref), f"{label}: shape {got.shape}, NumPy {np.shape(ref)}"
    assert got.dtype == np.asarray(ref).dtype, f"{label}: dtype {got.dtype}, NumPy {np.asarray(ref).dtype}"
    np.testing.assert_allclose(got, ref, rtol=1e-12, atol=1e-12, err_msg=label)


@pytest.mark.parametrize("name,f,args,diff", CASES, ids=IDS)
def test_values_vs_numpy(name, f, args, diff):
    ref = _np_ref(f, *args)
    _check_same(f(fnp, *args), ref, "eager fnp")
    _check_same(fg.jit(lambda *a: f(fnp, *a), backend="interpret")(*args), ref, "jit fnp")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        _check_same(fg.jit(lambda *a: f(np, *a), backend="interpret")(*args), ref, "jit np dispatch")


@pytest.mark.parametrize("name,f,args,diff", [c for c in CASES if c[3]], ids=[c[0] for c in CASES if c[3]])
def test_gradients_vs_finite_differences(name, f, args, diff):
    nums = tuple(i for i, a in enumerate(args) if np.asarray(a).dtype.kind == "f")
    check_grads(lambda *a: f(fnp, *a), args, argnums=nums, ref=lambda *a: _np_ref(f, *a), rtol=1e-6)


# ----------------------------------------------------------------------------- dtypes

DTYPE_CASES = [
    ("pad_constant", lambda xp, a: xp.pad(a, 1, constant_values=3)),
    ("pad_reflect", lambda xp, a: xp.pad(a, (2, 1), mode="reflect")),
    ("pad_wrap", lambda xp, a: xp.pad(a, ((1, 0), (0, 5)), mode="wrap")),
    ("roll", lambda xp, a: xp.roll(a, 2, axis=-1)),
    ("rot90", lambda xp, a: xp.rot90(a)),
    ("diag", lambda xp, a: xp.diag(xp.diag(a))),
    ("diagonal", lambda xp, a: xp.diagonal(a, -1)),
    ("trace", lambda xp, a: xp.trace(a)),
    ("tril", lambda xp, a: xp.tril(a, 1)),
    ("triu", lambda xp, a: xp.triu(a)),
    ("kron", lambda xp, a: xp.kron(a, a[:2, :2])),
    ("cross", lambda xp, a: xp.cross(a[:, :3], a[:, 1:])),
    ("insert", lambda xp, a: xp.insert(a, 1, 7, axis=0)),
    ("delete", lambda xp, a: xp.delete(a, 0, axis=1)),
    ("append", lambda xp, a: xp.append(a, a)),
    ("select", lambda xp, a: xp.select([a > 0], [a], default=0)),
    ("piecewise", lambda xp, a: xp.piecewise(a, [a > 0], [lambda t: t * 2, 1])),
    ("column_stack", lambda xp, a: xp.column_stack([a[0], a[1]])),
    ("dstack", lambda xp, a: xp.dstack([a, a])),
    ("polyval", lambda xp, a: xp.polyval(a[0], a[1])),
    ("convolve", lambda xp, a: xp.convolve(a[0], a[1, :2], "same")),
    ("correlate", lambda xp, a: xp.correlate(a[0], a[1, :3], "full")),
    ("interp", lambda xp, a: xp.interp(a, [0, 1, 5], [2, 3, 4])),
    ("meshgrid", lambda xp, a: xp.meshgrid(a[0], a[1, :2])[0]),
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int32, np.int64])
@pytest.mark.parametrize("name,f", DTYPE_CASES, ids=[c[0] for c in DTYPE_CASES])
def test_dtypes_vs_numpy(name, f, dtype):
    a = (rng.normal(size=(3, 4)) * 4).astype(dtype)
    ref = _np_ref(f, a)
    got = fg.jit(lambda x: f(np, x), backend="interpret")(a)
    got = np.asarray(got)
    assert got.dtype == np.asarray(ref).dtype, (got.dtype, np.asarray(ref).dtype)
    assert got.shape == np.shape(ref)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(got, ref, rtol=tol, atol=tol)


def test_bool_triangles_and_pad():
    m = rng.normal(size=(2, 3, 3)) > 0
    for f in (lambda xp, a: xp.tril(a), lambda xp, a: xp.triu(a, -1), lambda xp, a: xp.pad(a, 1, mode="edge"),
              lambda xp, a: xp.diagonal(a, 0, 1, 2), lambda xp, a: xp.roll(a, 1)):
        _check_same(fg.jit(lambda a: f(np, a), backend="interpret")(m), f(np, m), "bool")


# ----------------------------------------------------------------------------- traced static-ish arguments

def test_roll_traced_shift():
    f = fg.jit(lambda a, s: np.roll(a, s, axis=1), backend="interpret")
    for s in (-5, -1, 0, 3, 9):
        np.testing.assert_array_equal(f(A34, np.int64(s)), np.roll(A34, s, axis=1))
    g = fg.grad(lambda a, s: np.sum(np.roll(a, s, axis=1) * A34), backend="interpret")(A34, np.int64(2))
    np.testing.assert_allclose(g, np.roll(A34, -2, axis=1), rtol=1e-12)


def test_pad_traced_constant_value():
    f = lambda a, c: np.sum(fnp.pad(a, (1, 2), constant_values=c) ** 2)
    ref = lambda a, c: np.sum(np.pad(a, (1, 2), constant_values=c) ** 2)
    np.testing.assert_allclose(fg.jit(f, backend="interpret")(A34, 1.5), ref(A34, 1.5))
    check_grads(f, (A34, np.array(1.5)), argnums=(0, 1), ref=ref)


def test_interp_grad_wrt_xp():
    x = np.array([-0.7, 0.1, 0.4, 1.2, 2.0])
    xp_ = np.array([-0.4, 0.2, 0.9])
    fp = np.array([0.5, 1.0, 3.0])
    check_grads(lambda x, xs, fp: fnp.interp(x, xs, fp), (x, xp_, fp), argnums=(0, 1, 2),
                ref=lambda x, xs, fp: np.interp(x, xs, fp))


def test_interp_float32_gives_float64():
    x = A34.astype(np.float32)
    out = fg.jit(lambda x: np.interp(x, np.array([0, 1], np.float32), np.array([1, 2], np.float32)),
                 backend="interpret")(x)
    assert np.asarray(out).dtype == np.float64


# ----------------------------------------------------------------------------- put_along_axis

def _np_put(arr, idx, vals, axis):
    out = np.array(arr, copy=True)
    np.put_along_axis(out, idx, vals, axis)
    return out


PUT_CASES = [
    ("rows", A34, np.array([[0], [3], [1]]), 9.0, 1),
    ("cols_values", A34, np.array([[2, 0, 1, 1]]), rng.normal(size=(1, 4)), 0),
    ("duplicates_last_wins", A34, np.array([[1, 1, 3], [0, 0, 0], [2, 3, 2]]), rng.normal(size=(3, 3)), 1),
    ("negative", B234, -np.ones((2, 3, 1), np.int64), rng.normal(size=(2, 3, 1)), 2),
    ("axis_none", V5, np.array([4, 0, -2]), rng.normal(size=3), None),
]


@pytest.mark.parametrize("name,arr,idx,vals,axis", PUT_CASES, ids=[c[0] for c in PUT_CASES])
def test_put_along_axis(name, arr, idx, vals, axis):
    ref = _np_put(arr, idx, vals, axis)
    _check_same(fnp.put_along_axis(arr, idx, vals, axis, inplace=False), ref, "eager")
    f = fg.jit(lambda a, v: fnp.put_along_axis(a, idx, v, axis, inplace=False), backend="interpret")
    _check_same(f(arr, np.asarray(vals, np.float64)), ref, "jit")
    vals = np.asarray(vals, np.float64)
    check_grads(lambda a, v: fnp.put_along_axis(a, idx, v, axis, inplace=False), (arr, vals), argnums=(0, 1),
                ref=lambda a, v: _np_put(a, idx, v, axis))


def test_put_along_axis_traced_indices():
    idx = np.array([[0], [3], [1]])
    vals = rng.normal(size=(3, 1))
    f = fg.jit(lambda a, i, v: fnp.put_along_axis(a, i, v, 1, inplace=False), backend="interpret")
    _check_same(f(A34, idx, vals), _np_put(A34, idx, vals, 1), "traced indices")
    _check_same(f(A34, idx - 4, vals), _np_put(A34, idx, vals, 1), "traced negative indices")
    g = fg.grad(lambda a, v: np.sum(fnp.put_along_axis(a, idx, v, 1, inplace=False) * A34 * 3), argnums=(0, 1),
                backend="interpret")(A34, vals)
    mask = np.ones_like(A34)
    np.put_along_axis(mask, idx, 0.0, 1)
    np.testing.assert_allclose(g[0], 3 * A34 * mask)
    np.testing.assert_allclose(g[1], 3 * np.take_along_axis(A34, idx, 1))


def test_put_along_axis_inplace():
    a = A34.copy()
    assert fnp.put_along_axis(a, np.array([[0], [0], [0]]), 5.0, 1) is None      # NumPy's own, in place
    assert (a[:, 0] == 5).all()
    with pytest.raises(fg.UnsupportedError, match="put_along_axis.*inplace=False"):
        fg.jit(lambda x: np.put_along_axis(x, np.array([[0], [0], [0]]), 1.0, 1), backend="interpret")(A34)


# ----------------------------------------------------------------------------- vmap

VMAP_CASES = [
    ("pad_reflect", lambda a: fnp.pad(a, (2, 1), mode="reflect")),
    ("roll", lambda a: fnp.roll(a, 1, axis=0)),
    ("diag", lambda a: fnp.diag(a[0])),
    ("trace", lambda a: fnp.trace(a)),
    ("triu", lambda a: fnp.triu(a, 1)),
    ("kron", lambda a: fnp.kron(a, a[:2])),
    ("cross", lambda a: fnp.cross(a[:, :3], a[:, 1:])),
    ("insert", lambda a: fnp.insert(a, [1, 1], 0.5, axis=1)),
    ("interp", lambda a: fnp.interp(a, a[0] * 0 + np.array([-1.0, 0.0, 1.0, 2.0]), a[1])),
    ("convolve", lambda a: fnp.convolve(a[0], a[1, :2], "same")),
    ("polyval", lambda a: fnp.polyval(a[0], a[1:])),
    ("put_along_axis", lambda a: fnp.put_along_axis(a, np.array([[1], [0], [2]]), a[:, :1] * 2, 1, inplace=False)),
]


@pytest.mark.parametrize("name,f", VMAP_CASES, ids=[c[0] for c in VMAP_CASES])
def test_vmap_vs_loop(name, f):
    batch = rng.normal(size=(3, 3, 4))
    got = fg.vmap(f, backend="interpret")(batch)
    ref = np.stack([np.asarray(f(b)) for b in batch])
    np.testing.assert_allclose(got, ref, rtol=1e-12, atol=1e-12)


# ----------------------------------------------------------------------------- errors

@pytest.mark.parametrize("call,err,match", [
    (lambda a: fnp.pad(a, -1), ValueError, "pad"),
    (lambda a: fnp.pad(a, ((1, 2), (3, 4), (5, 6))), fg.ShapeError, "pad"),
    (lambda a: fnp.pad(a, 1, mode="mean"), fg.UnsupportedError, "pad"),
    (lambda a: fnp.pad(a, 1, mode="bogus"), ValueError, "pad"),
    (lambda a: fnp.pad(a, 1, mode="edge", constant_values=2), ValueError, "pad"),
    (lambda a: fnp.pad(a[:, :0], 1, mode="wrap"), fg.ShapeError, "pad"),
    (lambda a: fnp.roll(a, 1, axis=2), fg.ShapeError, "roll"),
    (lambda a: fnp.rot90(a, axes=(0, 0)), fg.ShapeError, "rot90"),
    (lambda a: fnp.diag(a[None]), fg.ShapeError, "diag"),
    (lambda a: fnp.diagonal(a[0]), fg.ShapeError, "diagonal"),
    (lambda a: fnp.diagonal(a, 0, 1, 1), fg.ShapeError, "diagonal"),
    (lambda a: fnp.trace(a[0]), fg.ShapeError, "trace"),
    (lambda a: fnp.tril(a[0, 0]), fg.ShapeError, "tril"),
    (lambda a: fnp.cross(a, a), fg.ShapeError, "cross"),
    (lambda a: fnp.insert(a, 9, 1.0, axis=1), fg.ShapeError, "insert"),
    (lambda a: fnp.delete(a, 9, axis=0), fg.ShapeError, "delete"),
    (lambda a: fnp.select([a > 0], [a, a]), fg.ShapeError, "select"),
    (lambda a: fnp.select([a], [a]), TypeError, "select"),
    (lambda a: fnp.select([], []), fg.ShapeError, "select"),
    (lambda a: fnp.piecewise(a, [a > 0], [1, 2, 3]), fg.ShapeError, "piecewise"),
    (lambda a: fnp.vsplit(a[0], 2), fg.ShapeError, "vsplit"),
    (lambda a: fnp.dsplit(a, 2), fg.ShapeError, "dsplit"),
    (lambda a: fnp.hsplit(a[0, 0], 2), fg.ShapeError, "hsplit"),
    (lambda a: fnp.meshgrid(a[0], indexing="yx"), ValueError, "meshgrid"),
    (lambda a: fnp.interp(a, [0.0, 1.0], [1.0]), fg.ShapeError, "interp"),
    (lambda a: fnp.convolve(a, a[0]), fg.ShapeError, "convolve"),
    (lambda a: fnp.convolve(a[0], a[0], "bogus"), ValueError, "convolve"),
    (lambda a: fnp.correlate(a[0, :0], a[0]), fg.ShapeError, "correlate"),
    (lambda a: fnp.put_along_axis(a, np.array([[5]]), 1.0, 1, inplace=False), fg.ShapeError, "put_along_axis"),
    (lambda a: fnp.ix_(a), fg.ShapeError, "ix_"),
])
def test_errors(call, err, match):
    with pytest.raises(err, match=match):
        fg.jit(call, backend="interpret")(A34)


def test_traced_static_arguments_refused():
    with pytest.raises(fg.UnsupportedError, match="insert"):
        fg.jit(lambda a, i: fnp.insert(a, i, 1.0), backend="interpret")(A34, np.int64(1))
    with pytest.raises(fg.UnsupportedError, match="diag"):
        fg.jit(lambda a, k: fnp.diag(a, k), backend="interpret")(A34, np.int64(1))
    with pytest.raises(fg.UnsupportedError, match="indices"):
        fg.jit(lambda a, n: fnp.indices((n, 2)), backend="interpret")(A34, np.int64(1))


R_CASES = [
    ("r_mixed", lambda xp, x: xp.r_[x, 0, 1:3, x]),
    ("r_linspace", lambda xp, x: xp.r_[x, 0:1:5j]),
    ("r_ndmin", lambda xp, x: xp.r_["0,2", x, x]),
    ("r_trans1d", lambda xp, x: xp.r_["0,2,0", x, x]),
    ("r_3d", lambda xp, x: xp.r_["1,3,1", x, x]),
    ("r_axis", lambda xp, x: xp.r_["-1", xp.stack([x, x]), xp.stack([x, x])]),
    ("r_float32_weak", lambda xp, x: xp.r_[x.astype(np.float32), 2.5]),
    ("c_1d", lambda xp, x: xp.c_[x, x * 2]),
    ("c_2d_1d", lambda xp, x: xp.c_[xp.stack([x, x]).T, x]),
    ("c_slice", lambda xp, x: xp.c_[1:4, x]),
]


@pytest.mark.parametrize("name,f", R_CASES, ids=[c[0] for c in R_CASES])
def test_r_c(name, f):
    x = V5[:3]
    ref = f(np, x)
    _check_same(f(fnp, x), ref, "eager")
    _check_same(fg.jit(lambda x: f(fnp, x), backend="interpret")(x), ref, "jit")
    if ref.dtype == np.float64:
        check_grads(lambda x: f(fnp, x), (x,), ref=lambda x: f(np, x))


def test_indices_dtype_and_values():
    for dt in (int, np.int32, np.float32):
        _check_same(fg.jit(lambda a: fnp.indices((2, 3, 1), dtype=dt), backend="interpret")(A34),
                    np.indices((2, 3, 1), dtype=dt), "indices")
        _check_same(fnp.indices((2, 3), dtype=dt), np.indices((2, 3), dtype=dt), "eager indices")


def test_row_stack_alias():
    _check_same(fnp.row_stack([V5, V5 * 2]), np.vstack([V5, V5 * 2]), "row_stack")


# ----------------------------------------------------------------------------- numba: one program

def test_numba_many_functions_one_program():
    pytest.importorskip("numba")

    def f(a, b, v, s):
        return (
            np.pad(a, ((1, 2), (2, 0)), mode="reflect"),
            np.pad(a, 1, constant_values=2.5),
            np.pad(a, 2, mode="wrap"),
            np.roll(a, (1, -1), axis=(0, 1)),
            np.roll(a, s, axis=1),
            np.rot90(a),
            np.diag(v, 1),
            np.diagonal(b, 1, 1, 2),
            np.trace(b, axis1=1, axis2=2),
            np.tril(b, -1),
            np.triu(a),
            np.kron(a[:2, :2], a[:1]),
            np.cross(a[:, :3], a[:, 1:]),
            np.insert(a, [1, 3], 0.5, axis=1),
            np.delete(a, 1, axis=0),
            np.select([a > 0, a < -0.5], [a, -a], 0.25),
            np.piecewise(a, [a < 0], [lambda t: t * t, lambda t: t]),
            np.column_stack([v, v]),
            np.dstack([a, a]),
            np.interp(a, np.array([-1.0, 0.0, 1.5]), v[:3]),
            np.convolve(v, a[0], "same"),
            np.correlate(v, a[1, :2]),
            np.polyval(v, a),
            fnp.put_along_axis(a, np.array([[0], [2], [1]]), v[:3, None], 1, inplace=False),
            np.meshgrid(v, a[0])[0],
        )

    def loss(a, b, v, s):
        return sum(np.sum(o * 0.5) for o in f(a, b, v, s))

    def program(a, b, v, s):     # the values and their gradients, in one program (one compile)
        return f(a, b, v, s), fg.grad(loss, argnums=(0, 1, 2))(a, b, v, s)

    args = (A34, B234, V5, np.int64(2))
    ref = fg.jit(program, backend="interpret")(*args)
    got = fg.jit(program, backend="numba")(*args)
    ref, got = list(ref[0]) + list(ref[1]), list(got[0]) + list(got[1])
    assert len(got) == len(ref) == 28
    for i, (g, r) in enumerate(zip(got, ref)):
        assert np.asarray(g).dtype == np.asarray(r).dtype, i
        np.testing.assert_allclose(g, r, rtol=1e-10, atol=1e-12, err_msg=f"output {i}")
    np.testing.assert_allclose(ref[5], np.rot90(A34), rtol=1e-12)
