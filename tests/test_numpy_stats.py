"""funcgrad.numpy's statistics, sorting and searching (funcgrad/numpy/_stats.py).

Each case is written once against a NumPy-like namespace ``xp``: NumPy itself
is the reference; ``funcgrad.numpy`` runs it on concrete arrays, and plain
``np.<name>`` runs it on traced arrays inside ``fg.jit`` (NumPy's dispatch).
Gradients are checked against central finite differences in float64."""
import numpy as np
import pytest

import funcgrad as fg
import funcgrad.numpy as fnp
from funcgrad.errors import FuncgradError, InputError, ShapeError, UnsupportedError

from fd import check_grads

rng = np.random.default_rng(0)


def _distinct(shape, dtype=np.float64, lo=-2.0, hi=2.0):
    """Values without ties (and away from each other), for sorts and gradients."""
    n = int(np.prod(shape))
    v = np.linspace(lo, hi, n) + rng.uniform(-0.1, 0.1, n) * (hi - lo) / max(n, 1) * 0.3
    return rng.permutation(v).reshape(shape).astype(dtype)


A0 = np.asarray(1.5)
A1 = _distinct((7,))
A2 = _distinct((3, 4))
A3 = _distinct((2, 3, 4))
A1x = _distinct((1, 5))
I2 = rng.integers(-5, 6, size=(3, 4))
I8 = rng.integers(0, 9, size=(10,)).astype(np.int8)
F32 = _distinct((3, 5), np.float32)
NAN2 = A2.copy()
NAN2[0, 1] = np.nan
NAN2[2, 3] = np.nan
B2 = rng.normal(size=(3, 4)) > 0
ALLNAN = A2.copy()
ALLNAN[:, 2] = np.nan


# ----------------------------------------------------------------------------- cases: (id, f(xp, x), inputs)

CASES = [
    ("cumprod_none", lambda xp, x: xp.cumprod(x), [A1, A2, F32, I2, A0]),
    ("cumprod_ax0", lambda xp, x: xp.cumprod(x, axis=0), [A1, A2, A3, F32, I2, A1x, A0]),
    ("cumprod_ax-1", lambda xp, x: xp.cumprod(x, axis=-1), [A2, A3, A1x]),
    ("diff", lambda xp, x: xp.diff(x), [A1, A2, A3, F32, I2, A1x]),
    ("diff_n2_ax0", lambda xp, x: xp.diff(x, n=2, axis=0), [A2, A3, I2]),
    ("diff_n0", lambda xp, x: xp.diff(x, n=0), [A2]),
    ("diff_prepend", lambda xp, x: xp.diff(x, prepend=0.5, append=xp.ones(x.shape[:-1] + (2,))), [A1, A2]),
    ("ediff1d", lambda xp, x: xp.ediff1d(x), [A1, A2, I2, F32]),
    ("ediff1d_ends", lambda xp, x: xp.ediff1d(x, to_end=[1.0, 2.0], to_begin=-1.0), [A1, A2]),
    ("gradient_1d", lambda xp, x: xp.gradient(x), [A1, I2[0], F32[0]]),
    ("gradient_2d", lambda xp, x: xp.gradient(x, 0.5), [A2, A3, F32]),
    ("gradient_axis", lambda xp, x: xp.gradient(x, 2.0, axis=-1), [A2, A3]),
    ("gradient_o2", lambda xp, x: xp.gradient(x, 0.5, edge_order=2), [A1, A2, F32]),
    ("gradient_coords", lambda xp, x: xp.gradient(x, np.array([0.0, 0.4, 1.0, 1.3, 2.0, 2.2, 3.5])[:x.shape[0]],
                                                  edge_order=1, axis=0), [A1, A2, F32]),
    ("gradient_coords2", lambda xp, x: xp.gradient(x, np.array([0.0, 0.4, 1.0, 1.3, 2.0, 2.2, 3.5])[:x.shape[0]],
                                                   edge_order=2, axis=0), [A1, A2, F32]),
    ("gradient_coords_const", lambda xp, x: xp.gradient(x, np.arange(x.shape[0]) * 3, axis=0), [A2]),
    ("gradient_mixed", lambda xp, x: xp.gradient(x, np.array([0.0, 1.0, 3.0]), 0.7), [A2]),
    ("gradient_axes", lambda xp, x: xp.gradient(x, 2.0, 0.5, axis=(0, 2)), [A3]),
    ("average", lambda xp, x: xp.average(x), [A1, A2, I2, F32]),
    ("average_ax", lambda xp, x: xp.average(x, axis=0, keepdims=True), [A2, A3, I2]),
    ("average_w", lambda xp, x: xp.average(x, weights=xp.abs(x) + 1.0), [A1, A2, F32]),
    ("average_w1d", lambda xp, x: xp.average(x, axis=1, weights=np.arange(1.0, x.shape[1] + 1)), [A2, A3]),
    ("average_ret", lambda xp, x: xp.average(x, axis=-1, weights=np.arange(1.0, x.shape[-1] + 1),
                                             returned=True), [A2, A3]),
    ("average_ret_now", lambda xp, x: xp.average(x, axis=0, returned=True), [A2]),
    ("median", lambda xp, x: xp.median(x), [A0, A1, A2, A3, F32, I2, I8]),
    ("median_ax", lambda xp, x: xp.median(x, axis=0), [A1, A2, A3, F32, I2, A1x]),
    ("median_axes", lambda xp, x: xp.median(x, axis=(0, -1), keepdims=True), [A3]),
    ("median_nan", lambda xp, x: xp.median(x, axis=1), [NAN2]),
    ("quantile", lambda xp, x: xp.quantile(x, 0.3), [A0, A1, A2, F32, I2]),
    ("quantile_arr", lambda xp, x: xp.quantile(x, np.array([0.0, 0.25, 0.6, 1.0]), axis=-1), [A2, A3, F32, I2]),
    ("quantile_keep", lambda xp, x: xp.quantile(x, [0.1, 0.9], axis=1, keepdims=True), [A2, A3]),
    ("percentile", lambda xp, x: xp.percentile(x, 40.0, axis=0), [A1, A2, A3, F32, I2]),
    ("percentile_arr", lambda xp, x: xp.percentile(x, [10, 50, 95]), [A2, F32]),
    ("quantile_lower", lambda xp, x: xp.quantile(x, [0.1, 0.5, 0.77], axis=0, method="lower"), [A2, I2]),
    ("quantile_higher", lambda xp, x: xp.quantile(x, [0.1, 0.5, 0.77], axis=0, method="higher"), [A2]),
    ("quantile_mid", lambda xp, x: xp.quantile(x, [0.1, 0.5, 0.77], axis=0, method="midpoint"), [A2]),
    ("quantile_nearest", lambda xp, x: xp.quantile(x, [0.1, 0.5, 0.77, 1 / 6], method="nearest"), [A1, A2]),
    ("nansum", lambda xp, x: xp.nansum(x), [A2, NAN2, ALLNAN, F32, I2]),
    ("nansum_ax", lambda xp, x: xp.nansum(x, axis=1, keepdims=True), [NAN2, A3]),
    ("nanprod", lambda xp, x: xp.nanprod(x, axis=0), [NAN2, A2, I2]),
    ("nanmean", lambda xp, x: xp.nanmean(x), [NAN2, A2, F32, I2]),
    ("nanmean_ax", lambda xp, x: xp.nanmean(x, axis=(0, 1)), [A3]),
    ("nanmean_ax1", lambda xp, x: xp.nanmean(x, axis=1), [NAN2]),
    ("nanmax", lambda xp, x: xp.nanmax(x, axis=0), [NAN2, ALLNAN, A2, I2, F32]),
    ("nanmin", lambda xp, x: xp.nanmin(x, axis=-1), [NAN2, A2, I2, A3]),
    ("nanmin_all", lambda xp, x: xp.nanmin(x), [NAN2, A0]),
    ("nanvar", lambda xp, x: xp.nanvar(x, axis=1), [NAN2, A2, F32, I2]),
    ("nanvar_ddof", lambda xp, x: xp.nanvar(x, ddof=1, keepdims=True), [NAN2, A3]),
    ("nanstd", lambda xp, x: xp.nanstd(x, axis=0), [NAN2, A2, F32]),
    ("count_nonzero", lambda xp, x: xp.count_nonzero(x), [I2, A2, A0]),
    ("count_nonzero_ax", lambda xp, x: xp.count_nonzero(x, axis=0, keepdims=True), [I2, A3]),
    ("ptp", lambda xp, x: xp.ptp(x), [A1, A2, I2, F32, A0]),
    ("ptp_ax", lambda xp, x: xp.ptp(x, axis=(0, 1)), [A3]),
    ("cov", lambda xp, x: xp.cov(x), [A1, A2, A3[0], F32, I2]),
    ("cov_cols", lambda xp, x: xp.cov(x, rowvar=False, bias=True), [A2, F32]),
    ("cov_y", lambda xp, x: xp.cov(x, x[::-1] ** 2, ddof=0), [A2, A1]),
    ("cov_w", lambda xp, x: xp.cov(x, fweights=np.arange(1, x.shape[-1] + 1),
                                   aweights=np.linspace(0.5, 1.5, x.shape[-1])), [A2]),
    ("corrcoef", lambda xp, x: xp.corrcoef(x), [A2, F32, A3[1], A1]),
    ("corrcoef_y", lambda xp, x: xp.corrcoef(x[0], x[1]), [A2]),
    ("trapezoid", lambda xp, x: xp.trapezoid(x), [A1, A2, F32, I2]),
    ("trapezoid_dx", lambda xp, x: xp.trapezoid(x, dx=0.3, axis=0), [A2, A3]),
    ("trapezoid_x", lambda xp, x: xp.trapezoid(x, x=np.array([0.0, 0.5, 1.5, 1.7])), [A2, A3]),
    ("sort", lambda xp, x: xp.sort(x), [A1, A2, A3, F32, I2, I8, A1x]),
    ("sort_ax0", lambda xp, x: xp.sort(x, axis=0), [A2, A3, I2]),
    ("sort_none", lambda xp, x: xp.sort(x, axis=None), [A0, A2, A3]),
    ("sort_nan", lambda xp, x: xp.sort(x, axis=1), [NAN2]),
    ("argsort", lambda xp, x: xp.argsort(x), [A1, A2, A3, F32, I8]),
    ("argsort_ax", lambda xp, x: xp.argsort(x, axis=0, kind="stable"), [A2, A3, I2]),
    ("argsort_none", lambda xp, x: xp.argsort(x, axis=None), [A2]),
    ("partition", lambda xp, x: xp.sort(xp.partition(x, 2), axis=-1), [A2, A3]),
    ("argpartition", lambda xp, x: xp.take_along_axis(x, xp.argpartition(x, 1, axis=0), axis=0)[1], [A2]),
    ("searchsorted", lambda xp, x: xp.searchsorted(np.array([-1.0, 0.0, 0.5, 0.5, 1.0]), x), [A1, A2, F32]),
    ("searchsorted_r", lambda xp, x: xp.searchsorted(np.array([-1, 0, 1, 1, 3]), x, side="right"), [I2, A2]),
    ("searchsorted_self", lambda xp, x: xp.searchsorted(xp.sort(x), np.array([-3.0, 0.0, 0.1, 5.0])), [A1]),
    ("searchsorted_nan", lambda xp, x: xp.searchsorted(np.array([0.0, 1.0, np.nan]), x), [NAN2]),
    ("searchsorted_scalar", lambda xp, x: xp.searchsorted(x, 0.1), [np.sort(F32[0]), np.sort(A1)]),
    ("searchsorted_sorter", lambda xp, x: xp.searchsorted(x, np.array([-0.5, 0.5]), sorter=xp.argsort(x)), [A1]),
    ("digitize", lambda xp, x: xp.digitize(x, np.array([-1.0, 0.0, 0.5, 1.0])), [A1, A2, F32]),
    ("digitize_right", lambda xp, x: xp.digitize(x, np.array([-2, 0, 1, 4]), right=True), [I2]),
    ("digitize_dec", lambda xp, x: xp.digitize(x, np.array([1.0, 0.5, 0.0, -1.0])), [A2]),
    ("bool_sort", lambda xp, x: (xp.sort(x), xp.argsort(x, axis=0), xp.cumprod(x, axis=1), xp.diff(x),
                                 xp.trapezoid(x), xp.count_nonzero(x, axis=1), xp.nansum(x)), [B2]),
    ("int8_misc", lambda xp, x: (xp.cumprod(x), xp.diff(x, prepend=2.5), xp.nanvar(x), xp.nanprod(x),
                                 xp.ptp(x, axis=-1), xp.median(x, axis=-1, keepdims=True), xp.gradient(x),
                                 xp.ediff1d(x, to_begin=np.int8(3)), xp.digitize(x, np.array([-1, 0, 2])),
                                 xp.histogram(x, 4), xp.trapezoid(x, dx=2)), [I8, I8.reshape(2, 5)]),
    ("f32_misc", lambda xp, x: (xp.average(x, axis=0, weights=np.float32([1, 2, 3])), xp.average(x, returned=True),
                                xp.nanmean(x, axis=0), xp.nanstd(x), xp.cov(x, dtype=np.float32),
                                xp.quantile(x, np.float32(0.3)), xp.quantile(x, np.array(0.3)),
                                xp.percentile(x, 50), xp.gradient(x, np.float64(0.5)),
                                xp.histogram(x, 3, range=(0, 1)), xp.histogram(x, 3, weights=x * 0 + 2)), [F32[:, :4]]),
    ("allclose", lambda xp, x: xp.allclose(x, x + 1e-9), [A2, F32]),
    ("allclose_no", lambda xp, x: xp.allclose(x, x * 1.1), [A2]),
    ("allclose_nan", lambda xp, x: xp.allclose(x, x, equal_nan=True), [NAN2]),
    ("array_equal", lambda xp, x: xp.array_equal(x, x + 0.0), [A2, I2, NAN2]),
    ("array_equal_nan", lambda xp, x: xp.array_equal(x, x * 1.0, equal_nan=True), [NAN2]),
    ("array_equal_shape", lambda xp, x: xp.array_equal(x, x[:1]), [A2]),
]

PARAMS = [pytest.param(f, x, id=f"{name}-{i}") for name, f, xs in CASES for i, x in enumerate(xs)]


def _flat(out):
    if isinstance(out, (tuple, list)):
        return [o for x in out for o in _flat(x)]
    return [out]


def _same(got, want, rtol=1e-12):
    got, want = _flat(got), _flat(want)
    assert len(got) == len(want)
    for g, w in zip(got, want):
        w = np.asarray(w)
        g = np.asarray(g)
        assert g.shape == w.shape, (g.shape, w.shape)
        assert g.dtype == w.dtype, (g.dtype, w.dtype)
        tol = 1e-5 if w.dtype == np.float32 else rtol
        np.testing.assert_allclose(g, w, rtol=tol, atol=tol)


@pytest.mark.parametrize("f,x", PARAMS)
def test_values_concrete(f, x):
    _same(f(fnp, x), f(np, x))


@pytest.mark.parametrize("f,x", PARAMS)
def test_values_traced_dispatch(f, x):
    """Plain NumPy code on traced values (np.<name> dispatches to funcgrad.numpy)."""
    _same(fg.jit(lambda v: f(np, v), backend="interpret")(x), f(np, x))


# ----------------------------------------------------------------------------- gradients

GRAD_CASES = [
    ("cumprod", lambda xp, x: xp.cumprod(x, axis=1), A2),
    ("cumprod_flat", lambda xp, x: xp.cumprod(x), A1),
    ("diff", lambda xp, x: xp.diff(x, n=2, axis=0, prepend=1.0), A2),
    ("ediff1d", lambda xp, x: xp.ediff1d(x, to_begin=[0.5]), A2),
    ("gradient", lambda xp, x: xp.gradient(x, 0.5)[1], A2),
    ("gradient_o2_coords", lambda xp, x: xp.gradient(x, np.array([0.0, 1.0, 3.0]), 0.7, edge_order=2)[0], A2),
    ("average", lambda xp, x: xp.average(x, axis=0, weights=xp.exp(x)), A2),
    ("average_ret", lambda xp, x: xp.average(x, axis=1, weights=np.arange(1.0, 5.0), returned=True), A2),
    ("median", lambda xp, x: xp.median(x, axis=1), A2),
    ("median_even", lambda xp, x: xp.median(x), A2),
    ("quantile", lambda xp, x: xp.quantile(x, [0.1, 0.37, 0.9], axis=0), A3),
    ("percentile", lambda xp, x: xp.percentile(x, 33.0), A1),
    ("nansum", lambda xp, x: xp.nansum(x * x, axis=0), NAN2),
    ("nanprod", lambda xp, x: xp.nanprod(x, axis=1), NAN2),
    ("nanmean", lambda xp, x: xp.nanmean(x, axis=1), NAN2),
    ("nanmax", lambda xp, x: xp.nanmax(x, axis=0), NAN2),
    ("nanmin", lambda xp, x: xp.nanmin(x), NAN2),
    ("nanvar", lambda xp, x: xp.nanvar(x, axis=0, ddof=1), NAN2),
    ("nanstd", lambda xp, x: xp.nanstd(x, axis=1), NAN2),
    ("ptp", lambda xp, x: xp.ptp(x, axis=1), A2),
    ("cov", lambda xp, x: xp.cov(x), A2),
    ("cov_w", lambda xp, x: xp.cov(x, rowvar=False, aweights=np.linspace(0.5, 1.5, 3)), A2[:3]),
    ("corrcoef", lambda xp, x: xp.corrcoef(x), A2),
    ("trapezoid", lambda xp, x: xp.trapezoid(x, x=np.array([0.0, 0.5, 1.5, 1.7])), A2),
    ("sort", lambda xp, x: xp.sort(x, axis=0), A2),
    ("sort_none", lambda xp, x: xp.sort(x, axis=None)[::2], A3),
    ("partition", lambda xp, x: xp.sort(xp.partition(x, 1)), A2),
]


@pytest.mark.parametrize("f,x", [pytest.param(f, x, id=n) for n, f, x in GRAD_CASES])
def test_grads(f, x):
    if np.isnan(x).any():
        mask = np.isnan(x)
        fill = np.where(mask, 0.0, x)

        def f_fg(v):
            return f(fnp, fnp.where(mask, np.nan, v))

        def f_np(v):
            return f(np, np.where(mask, np.nan, v))
        check_grads(f_fg, (fill,), ref=f_np, rtol=1e-6, value_rtol=1e-10)
    else:
        check_grads(lambda v: f(fnp, v), (x,), ref=lambda v: f(np, v), rtol=1e-6, value_rtol=1e-10)


def test_grad_interpret_backend_dispatch():
    """fg.grad with backend="interpret" of plain NumPy code."""
    def f(x):
        return np.sum(np.sort(x) * np.arange(1.0, 8.0)) + np.median(x) + np.percentile(x, 30.0)
    g = fg.grad(f, backend="interpret")(A1)
    from fd import numerical_grad
    np.testing.assert_allclose(g, numerical_grad(f, (A1,)), rtol=1e-6, atol=1e-8)


def test_gradient_traced_coordinates():
    x = np.array([0.0, 0.4, 1.0, 1.3, 2.0, 2.2, 3.5])
    for order in (1, 2):
        got = fg.jit(lambda f, x: fnp.gradient(f, x, edge_order=order), backend="interpret")(A1, x)
        np.testing.assert_allclose(got, np.gradient(A1, x, edge_order=order), rtol=1e-12)
    check_grads(lambda x: fnp.gradient(A1, x, edge_order=2), (x,), ref=lambda x: np.gradient(A1, x, edge_order=2),
                rtol=1e-5)


def test_grad_quantile_traced_q():
    def f(q):
        return fnp.sum(fnp.quantile(A1, q))
    q = np.array([0.13, 0.55])
    g = fg.grad(f, backend="interpret")(q)
    from fd import numerical_grad
    np.testing.assert_allclose(g, numerical_grad(lambda v: np.sum(np.quantile(A1, v)), (q,)), rtol=1e-6)


def test_bincount_grad_weights():
    x = np.array([0, 2, 2, 3, 0, 1])
    w = rng.normal(size=6)
    ct = rng.normal(size=5)
    g = fg.grad(lambda w: fnp.sum(fnp.bincount(x, w, minlength=5) * ct), backend="interpret")(w)
    np.testing.assert_allclose(g, ct[x])
    g2 = fg.grad(lambda w: fnp.sum(fnp.bincount(fnp.asarray(x) + 0, w, length=5) * ct),
                 backend="interpret")(w)
    np.testing.assert_allclose(g2, ct[x])


# ----------------------------------------------------------------------------- value-dependent shapes

def test_nonzero_concrete_is_numpy():
    for x in (I2, A2 > 0, np.zeros((2, 2))):
        _same(fnp.nonzero(x), np.nonzero(x))
        _same(fnp.argwhere(x), np.argwhere(x))
        _same(fnp.flatnonzero(x), np.flatnonzero(x))
    _same(fnp.unique(I2, return_index=True, return_inverse=True, return_counts=True),
          np.unique(I2, return_index=True, return_inverse=True, return_counts=True))
    _same(fnp.bincount(I8), np.bincount(I8))
    _same(fnp.bincount(I8, minlength=20), np.bincount(I8, minlength=20))


@pytest.mark.parametrize("size", [3, 5, 12, 20])
def test_nonzero_size(size):
    x = I2
    nz = np.nonzero(x)
    n = len(nz[0])
    got = fg.jit(lambda v: fnp.nonzero(v, size=size, fill_value=-1), backend="interpret")(x)
    for g, w in zip(got, nz):
        want = np.concatenate([w[:size], np.full(max(size - n, 0), -1)])
        assert g.dtype == np.int64
        np.testing.assert_array_equal(g, want)
    flat = fg.jit(lambda v: fnp.flatnonzero(v, size=size), backend="interpret")(x)
    want = np.flatnonzero(x)
    np.testing.assert_array_equal(flat, np.concatenate([want[:size], np.zeros(max(size - n, 0), int)]))
    aw = fg.jit(lambda v: fnp.argwhere(v, size=size, fill_value=(7, 8)), backend="interpret")(x)
    want = np.argwhere(x)[:size]
    want = np.concatenate([want, np.tile([[7, 8]], (max(size - n, 0), 1))])
    np.testing.assert_array_equal(aw, want)


@pytest.mark.parametrize("x", [I2, A2.round(0), np.array([3.0, np.nan, 1.0, np.nan, 3.0]), I8])
@pytest.mark.parametrize("size", [2, 6, 15])
def test_unique_size(x, size):
    vals, idx, inv, cnt = np.unique(x, return_index=True, return_inverse=True, return_counts=True)
    k = len(vals)
    out = fg.jit(lambda v: fnp.unique(v, return_index=True, return_inverse=True, return_counts=True,
                                      size=size), backend="interpret")(x)
    gv, gi, ginv, gc = out
    m = min(k, size)
    np.testing.assert_array_equal(gv[:m], vals[:m])
    np.testing.assert_array_equal(gv[m:], np.full(size - m, vals[0]))
    np.testing.assert_array_equal(gi[:m], idx[:m])
    np.testing.assert_array_equal(gc[:m], cnt[:m])
    np.testing.assert_array_equal(gc[m:], 0)
    assert ginv.shape == inv.shape
    np.testing.assert_array_equal(ginv, inv)
    assert gv.dtype == vals.dtype
    fv = fg.jit(lambda v: fnp.unique(v, size=size, fill_value=99), backend="interpret")(x)
    np.testing.assert_array_equal(fv[m:], 99)


def test_bincount_length():
    got = fg.jit(lambda v: fnp.bincount(v, length=6), backend="interpret")(I8)
    np.testing.assert_array_equal(got, np.bincount(I8, minlength=9)[:6])
    assert got.dtype == np.int64
    w = rng.normal(size=10).astype(np.float32)
    got = fg.jit(lambda v, w: fnp.bincount(v, w, length=12), backend="interpret")(I8, w)
    want = np.bincount(I8, w, minlength=12)
    np.testing.assert_allclose(got, want, rtol=1e-6)
    assert got.dtype == want.dtype


@pytest.mark.parametrize("name,call", [
    ("nonzero", lambda v: np.nonzero(v)),
    ("argwhere", lambda v: np.argwhere(v)),
    ("flatnonzero", lambda v: np.flatnonzero(v)),
    ("unique", lambda v: np.unique(v)),
    ("bincount", lambda v: np.bincount(v)),
])
def test_size_needed_on_traced(name, call):
    with pytest.raises(UnsupportedError, match=rf"{name}.*(size=|length=)"):
        fg.jit(call, backend="interpret")(I8)


# ----------------------------------------------------------------------------- histogram

@pytest.mark.parametrize("kw", [dict(bins=5), dict(bins=4, range=(-1.0, 1.5)), dict(bins=3, range=(0, 1)),
                                dict(bins=np.array([-2.0, -0.5, 0.0, 0.25, 3.0])),
                                dict(bins=6, density=True), dict(bins=4, weights="w"),
                                dict(bins=[-1, 0, 1], density=True)])
@pytest.mark.parametrize("x", [A2, F32, I2, np.full(4, 2.0)])
def test_histogram(kw, x):
    kw = dict(kw)
    if kw.get("weights") == "w":
        kw["weights"] = np.linspace(0.0, 1.0, x.size).reshape(x.shape).astype(x.dtype if x.dtype.kind == "f"
                                                                             else np.float64)
    want = np.histogram(x, **kw)
    _same(fnp.histogram(x, **kw), want)
    _same(fg.jit(lambda v: np.histogram(v, **kw), backend="interpret")(x), want)


def test_histogram_traced_edges_and_no_grad():
    edges = np.array([-2.0, 0.0, 0.5, 2.0])
    got = fg.jit(lambda v, e: fnp.histogram(v, e), backend="interpret")(A2, edges)
    _same(got, np.histogram(A2, edges))
    g = fg.grad(lambda v: fnp.sum(fnp.histogram(v, 3)[1]) + fnp.sum(v))(A2)
    np.testing.assert_allclose(g, np.ones_like(A2))


# ----------------------------------------------------------------------------- traced extras

def test_searchsorted_traced_a_and_digitize_traced_bins():
    a = np.sort(A1)
    v = np.array([[-3.0, a[2]], [0.0, 10.0]])
    for side in ("left", "right"):
        got = fg.jit(lambda a, v: fnp.searchsorted(a, v, side=side), backend="interpret")(a, v)
        np.testing.assert_array_equal(got, np.searchsorted(a, v, side=side))
        assert got.dtype == np.int64
    for bins in (np.array([-1.0, 0.0, 1.0]), np.array([1.0, 0.0, -1.0])):
        for right in (False, True):
            got = fg.jit(lambda x, b: fnp.digitize(x, b, right=right), backend="interpret")(A2, bins)
            np.testing.assert_array_equal(got, np.digitize(A2, bins, right=right))


def test_allclose_array_equal_traced_give_traced_bools():
    out = fg.jit(lambda x, y: (np.allclose(x, y), np.array_equal(x, y)), backend="interpret")(A2, A2 + 1e-12)
    assert out[0].dtype == np.bool_ and bool(out[0]) and not bool(out[1])
    assert fnp.allclose(A2, A2) is True or fnp.allclose(A2, A2) == np.True_


def test_argsort_descending_stable():
    x = np.array([3, 1, 3, 2, 1])
    np.testing.assert_array_equal(fnp.argsort(x, descending=True), np.argsort(-x, kind="stable"))


# ----------------------------------------------------------------------------- errors

@pytest.mark.parametrize("call,err,msg", [
    (lambda: fnp.diff(A0), ShapeError, "diff"),
    (lambda: fnp.diff(A2, n=-1), ShapeError, "diff"),
    (lambda: fnp.diff(A2, axis=2), ShapeError, "diff: axis 2"),
    (lambda: fnp.sort(A0), ShapeError, "sort"),
    (lambda: fnp.sort(A2, axis=3), ShapeError, "sort: axis 3"),
    (lambda: fnp.median(A2, axis=(0, 0)), ShapeError, "median: repeated"),
    (lambda: fnp.quantile(A2, 1.5), InputError, "quantile"),
    (lambda: fnp.percentile(A2, -1), InputError, "percentile"),
    (lambda: fnp.quantile(A2, 0.5, method="weibull"), UnsupportedError, "quantile"),
    (lambda: fnp.gradient(A2, edge_order=3), InputError, "gradient"),
    (lambda: fnp.gradient(A2[:1]), ShapeError, "gradient"),
    (lambda: fnp.gradient(A2[:, :2], edge_order=2), ShapeError, "gradient"),
    (lambda: fnp.gradient(A1, np.arange(6.0)), ShapeError, "gradient"),
    (lambda: fnp.gradient(A1, 1.0, 2.0), InputError, "gradient"),
    (lambda: fnp.average(A2, weights=np.ones(3)), ShapeError, "average"),
    (lambda: fnp.average(A2, axis=0, weights=np.ones(4)), ShapeError, "average"),
    (lambda: fnp.partition(A1, 9), ShapeError, "partition"),
    (lambda: fnp.searchsorted(A2, 0.0), ShapeError, "searchsorted"),
    (lambda: fnp.searchsorted(A1, 0.0, side="middle"), InputError, "searchsorted"),
    (lambda: fnp.digitize(A1, np.array([0.0, 1.0, 0.5])), InputError, "digitize"),
    (lambda: fnp.nonzero(A0), ShapeError, "nonzero"),
    (lambda: fnp.bincount(np.array([-1, 2])), InputError, "bincount"),
    (lambda: fnp.bincount(A2), ShapeError, "bincount"),
    (lambda: fnp.histogram(A2, 3, range=(1.0, 0.0)), InputError, "histogram"),
    (lambda: fnp.cov(A3), ShapeError, "cov"),
    (lambda: fnp.trapezoid(A0), ShapeError, "trapezoid"),
    (lambda: fnp.ptp(A1, axis=1), ShapeError, "ptp: axis 1"),
    (lambda: fnp.nanmax(A1, axis=1), ShapeError, "nanmax: axis 1"),
    (lambda: fnp.nansum(A1, axis=-2), ShapeError, "nansum: axis -2"),
    (lambda: fnp.nanmean(A1, axis=1), ShapeError, "nanmean: axis 1"),
    (lambda: fnp.count_nonzero(A1, axis=1), ShapeError, "count_nonzero: axis 1"),
    (lambda: fnp.quantile(A1, 0.5, axis=1), ShapeError, "quantile: axis 1"),
    (lambda: fnp.average(A1, axis=1), ShapeError, "average: axis 1"),
    (lambda: fnp.cumprod(A1, axis=1), ShapeError, "cumprod: axis 1"),
    (lambda: fnp.cumprod(A1, axis=(0,)), TypeError, "cumprod"),
])
def test_errors(call, err, msg):
    with pytest.raises(err, match=msg):
        call()
    assert issubclass(err, FuncgradError) or err is TypeError    # TypeError: a non-integer axis, as NumPy


# ----------------------------------------------------------------------------- vmap

@pytest.mark.parametrize("f", [
    lambda x: fnp.sort(x, axis=0),
    lambda x: fnp.median(x, axis=1),
    lambda x: fnp.quantile(x, [0.2, 0.7]),
    lambda x: fnp.cumprod(x, axis=1),
    lambda x: fnp.nanvar(x, axis=0),
    lambda x: fnp.cov(x),
    lambda x: fnp.searchsorted(np.array([-0.5, 0.0, 0.5]), x),
    lambda x: fnp.unique(fnp.round(x), size=4),
    lambda x: fnp.nonzero(x > 0, size=5)[1],
    lambda x: fnp.histogram(x, 3, range=(-2.0, 2.0))[0],
    lambda x: fnp.bincount(fnp.astype(x > 0, np.int64).ravel(), length=3),
])
def test_vmap_matches_loop(f):
    batch = _distinct((4, 3, 4))
    got = fg.vmap(f, backend="interpret")(batch)
    want = np.stack([np.asarray(f(b)) for b in batch])
    np.testing.assert_allclose(np.asarray(got), want, rtol=1e-12)


# ----------------------------------------------------------------------------- one numba program

def test_numba_many_in_one_program():
    edges = np.array([-2.0, -0.5, 0.0, 0.5, 2.0])

    def f(x, w):
        return (np.cumprod(x, axis=1), np.diff(x, axis=0), np.gradient(x, 0.5)[0], np.average(x, weights=w),
                np.median(x, axis=1), np.quantile(x, [0.25, 0.75], axis=0), np.nanmax(x), np.nanstd(x, axis=0),
                np.count_nonzero(x > 0), np.ptp(x, axis=1), np.cov(x), np.corrcoef(x), np.trapezoid(x),
                np.sort(x, axis=0), np.argsort(x), np.searchsorted(edges, x), np.digitize(x, edges),
                fnp.nonzero(x > 0, size=6)[1], fnp.unique(np.round(x), size=5), np.histogram(x, edges)[0],
                fnp.bincount(np.argmax(x, axis=1), w[:, 0], length=4), np.allclose(x, x))

    w = np.abs(A2) + 0.5
    want = fg.jit(f, backend="interpret")(A2, w)
    got = fg.jit(f, backend="numba")(A2, w)
    for g, e in zip(_flat(got), _flat(want)):
        assert np.asarray(g).dtype == np.asarray(e).dtype
        np.testing.assert_allclose(g, e, rtol=1e-12, atol=1e-12)
