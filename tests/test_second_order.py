"""Second (and higher) derivatives at the special points of ``pow`` and
``reduce_prod``, and reductions over the axis 0 of 0-d arrays.

Hessians are taken both ways, ``jacfwd(grad(f))`` (forward over reverse) and
``jacrev(grad(f))`` (reverse over reverse), and compared with central finite
differences of a gradient written by hand in NumPy (so neither side of the
comparison comes from funcgrad), or, where finite differences would leave the
domain (``pow`` at ``x == 0``), with the Hessian written by hand.
"""
import numpy as np
import pytest

import funcgrad as fg
import funcgrad.numpy as fnp

I = dict(backend="interpret")


def fd_jacobian(g, x, h=1e-4):
    """Jacobian of the NumPy function ``g`` at ``x`` by the fourth-order central
    stencil, one column per element of ``x`` (shape ``g(x).shape + x.shape``)."""
    x = np.array(x, dtype=np.float64)
    flat = x.reshape(-1)
    cols = []
    for k in range(x.size):
        vals = []
        for step in (2, 1, -1, -2):
            xp = flat.copy()
            xp[k] += step * h
            vals.append(np.asarray(g(xp.reshape(x.shape)), dtype=np.float64))
        cols.append((-vals[0] + 8 * vals[1] - 8 * vals[2] + vals[3]) / (12 * h))
    out_shape = np.shape(cols[0])
    return np.moveaxis(np.array(cols), 0, -1).reshape(out_shape + x.shape)


def hessians(f, x):
    """``jacfwd(grad(f))`` and ``jacrev(grad(f))`` at ``x`` (interpreter)."""
    g = fg.grad(f, **I)
    return (np.asarray(fg.jacfwd(g, **I)(x)), np.asarray(fg.jacrev(g, **I)(x)))


def check_hessian(f, grad_np, x, atol=1e-7, rtol=1e-7):
    x = np.asarray(x, dtype=np.float64)
    # the hand-written gradient is right: check it against funcgrad's first derivative
    np.testing.assert_allclose(np.asarray(fg.grad(f, **I)(x)), grad_np(x), rtol=1e-12, atol=1e-12)
    ref = fd_jacobian(grad_np, x)
    hf, hr = hessians(f, x)
    n = x.size
    for h in (hf, hr):
        np.testing.assert_allclose(h, ref, rtol=rtol, atol=atol)
        h2 = h.reshape(n, n)
        np.testing.assert_allclose(h2, h2.T, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(hf, hr, rtol=1e-12, atol=1e-12)
    return hf


# ----------------------------------------------------------------------------- pow

def _pow2(v):
    return v[0] ** v[1]


def _pow2_grad(v):
    x, y = v
    return np.array([y * x ** (y - 1), np.log(x) * x ** y])


@pytest.mark.parametrize("v", [(2.0, 0.0), (0.5, 0.0), (1.5, 2.5), (0.7, -1.3), (3.0, 1.0),
                               (1.0, 0.0), (2.0, 2.0)])
def test_pow_hessian(v):
    h = check_hessian(_pow2, _pow2_grad, v)
    if v[1] == 0.0:          # the review's case: d2/dxdy x**y at y == 0 is 1/x
        assert h[0, 1] == pytest.approx(1 / v[0], rel=1e-12)
        assert h[1, 0] == pytest.approx(1 / v[0], rel=1e-12)
        assert h[0, 0] == 0.0


@pytest.mark.parametrize("y, expected", [
    # at x == 0 (y > 1, where the Hessian is defined): f_xx = y (y-1) x**(y-2),
    # f_xy = x**(y-1) (1 + y log x) -> 0, f_yy = log(x)**2 x**y -> 0
    (2.0, [[2.0, 0.0], [0.0, 0.0]]),
    (3.0, [[0.0, 0.0], [0.0, 0.0]]),
    (2.5, [[0.0, 0.0], [0.0, 0.0]]),
])
def test_pow_hessian_at_zero_base(y, expected):
    v = np.array([0.0, y])
    for h in hessians(_pow2, v):
        np.testing.assert_array_equal(h, np.array(expected))


def test_pow_first_derivative_unchanged():
    # y == 0: d/dx = 0 (for x == 0 too, the convention); d/dy = log(x) x**0
    for v, expected in [((2.0, 0.0), [0.0, np.log(2.0)]), ((0.0, 0.0), [0.0, 0.0]),
                        ((0.0, 2.0), [0.0, 0.0]), ((0.0, 1.0), [1.0, 0.0])]:
        v = np.array(v)
        np.testing.assert_array_equal(np.asarray(fg.grad(_pow2, **I)(v)), expected)
        np.testing.assert_array_equal(np.asarray(fg.jacfwd(_pow2, **I)(v)), expected)
        np.testing.assert_array_equal(np.asarray(fg.jacrev(_pow2, **I)(v)), expected)


def test_pow_broadcast_exponent_zero():
    # x ** y with a vector base and a scalar exponent 0 (the select broadcasts)
    def f(v):
        return fnp.sum(v[:3] ** v[3])

    def grad_np(v):
        x, y = v[:3], v[3]
        return np.concatenate([y * x ** (y - 1), [np.sum(np.log(x) * x ** y)]])

    h = check_hessian(f, grad_np, np.array([0.5, 2.0, 1.5, 0.0]))
    np.testing.assert_allclose(h[:3, 3], 1 / np.array([0.5, 2.0, 1.5]), rtol=1e-12)


def test_pow_broadcast_base():
    # a scalar base and a vector exponent, some of it 0
    def f(v):
        return fnp.sum(v[0] ** v[1:])

    def grad_np(v):
        x, y = v[0], v[1:]
        return np.concatenate([[np.sum(y * x ** (y - 1))], np.log(x) * x ** y])

    check_hessian(f, grad_np, np.array([1.7, 0.0, 2.0, -0.5]))


def test_pow_composed():
    # exp(x) ** (x y): both operands depend on both inputs
    def f(v):
        return fnp.exp(v[0]) ** (v[0] * v[1])

    def grad_np(v):
        x, y = v
        val = np.exp(x) ** (x * y)      # = exp(x**2 y)
        return np.array([val * 2 * x * y, val * x * x])

    check_hessian(f, grad_np, np.array([0.4, 0.0]))
    check_hessian(f, grad_np, np.array([0.4, -0.7]))


# ----------------------------------------------------------------------------- reduce_prod

def _others(x, axes):
    """For each element, the product of the other elements of its slice over
    ``axes``, by explicit loops (no division)."""
    x = np.asarray(x, dtype=np.float64)
    axes = tuple(a % x.ndim for a in axes)
    kept = tuple(d for d in range(x.ndim) if d not in axes)
    moved = np.transpose(x, axes + kept)
    n = int(np.prod([x.shape[a] for a in axes]))
    flat = moved.reshape((n, -1))
    out = np.empty_like(flat)
    for i in range(n):
        out[i] = np.prod(np.delete(flat, i, axis=0), axis=0)
    out = out.reshape(moved.shape)
    return np.transpose(out, np.argsort(axes + kept))


def _prod_case(axes, keepdims, w):
    """f(x) = sum(sin(x)) * sum(w * prod(x, axes)) + sum(prod(x, axes)**2) / 2,
    and its gradient by hand."""
    def f(x):
        p = fnp.prod(x, axis=axes, keepdims=keepdims)
        return fnp.sum(fnp.sin(x)) * fnp.sum(w * p) + 0.5 * fnp.sum(p * p)

    def grad_np(x):
        p = np.prod(x, axis=axes, keepdims=True)
        wk = np.reshape(w, p.shape)
        s = np.sum(np.sin(x))
        q = np.sum(wk * p)
        o = _others(x, axes)
        return np.cos(x) * q + (s * wk + p) * o

    return f, grad_np


def test_review_case():
    # f(x) = sum(sin(x)) * prod(x) at (0.3, 0, 1.2): H[0, 1] = 1.817
    def f(x):
        return fnp.sum(fnp.sin(x)) * fnp.prod(x)

    def grad_np(x):
        return np.cos(x) * np.prod(x) + np.sum(np.sin(x)) * _others(x, (0,))

    h = check_hessian(f, grad_np, np.array([0.3, 0.0, 1.2]))
    # cos(x0) dP/dx1 + cos(x1) dP/dx0 + S d2P/dx0dx1, with x1 == 0
    x0, x1, x2 = 0.3, 0.0, 1.2
    expected = np.cos(x0) * x0 * x2 + np.cos(x1) * x1 * x2 + (np.sin(x0) + np.sin(x1) + np.sin(x2)) * x2
    assert expected == pytest.approx(1.817, abs=1e-3)
    assert h[0, 1] == pytest.approx(expected, rel=1e-12)
    assert h[1, 0] == pytest.approx(expected, rel=1e-12)


PROD_CASES = [
    # (x, axes, keepdims)
    (np.array([0.3, -0.8, 1.2, 0.9]), (0,), False),                     # no zero
    (np.array([0.3, 0.0, 1.2, 0.9, -1.1]), (0,), False),                # one zero, odd count
    (np.array([0.3, 0.0, 1.2, 0.0, -1.1]), (0,), False),                # two zeros
    (np.array([0.0, 0.0, 0.0]), (0,), True),                            # all zero
    (np.array([0.7]), (0,), False),                                     # one element
    (np.array([[0.3, 0.0, 1.2], [0.0, 0.0, 0.5], [0.4, -0.6, 0.8]]), (0,), False),
    (np.array([[0.3, 0.0, 1.2], [0.0, 0.0, 0.5], [0.4, -0.6, 0.8]]), (1,), True),
    (np.array([[0.3, 0.0, 1.2], [1.1, 0.0, 0.5]]), (0, 1), False),     # two zeros, all axes
    (np.array([[0.3, 0.0, 1.2], [1.1, 0.9, 0.5]]), (1, 0), True),      # one zero, all axes
    (np.where(np.isin(np.arange(24), [1, 5, 13]), 0.0,
              np.linspace(-1.1, 1.2, 24)).reshape(2, 3, 4), (0, 2), False),   # 0, 1, 2 zeros
    (np.where(np.arange(24).reshape(2, 3, 4) % 7 == 3, 0.0,
              np.linspace(-1.2, 1.3, 24).reshape(2, 3, 4)), (2, 0), True),  # unsorted axes
    (np.where(np.arange(30).reshape(5, 3, 2) % 4 == 1, 0.0,
              np.linspace(0.6, 1.4, 30).reshape(5, 3, 2)), (0,), False),
    (np.where(np.arange(30).reshape(5, 3, 2) % 4 == 1, 0.0,
              np.linspace(0.6, 1.4, 30).reshape(5, 3, 2)), (1,), True),
]


@pytest.mark.parametrize("case", range(len(PROD_CASES)))
def test_prod_hessian(case):
    x, axes, keepdims = PROD_CASES[case]
    out_shape = np.prod(x, axis=axes, keepdims=keepdims).shape
    w = np.linspace(0.5, 1.5, int(np.prod(out_shape))).reshape(out_shape)
    f, grad_np = _prod_case(axes, keepdims, w)
    check_hessian(f, grad_np, x)


def test_prod_hessian_jvp_over_jvp():
    # forward over forward (the JVP rule alone) agrees with the VJP-based Hessians
    x, axes, keepdims = PROD_CASES[10]
    out_shape = np.prod(x, axis=axes, keepdims=keepdims).shape
    w = np.linspace(0.5, 1.5, int(np.prod(out_shape))).reshape(out_shape)
    f, _ = _prod_case(axes, keepdims, w)
    hff = np.asarray(fg.jacfwd(fg.jacfwd(f, **I), **I)(x))
    hf, hr = hessians(f, x)
    np.testing.assert_allclose(hff, hr, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(hf, hr, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("x", [np.array([0.0, 0.0, 2.0, 3.0]), np.array([0.0, 1.5, 2.0, 3.0]),
                               np.array([0.0, 0.0, 0.0, 3.0]), np.array([0.5, 1.5, 2.0, 3.0])])
def test_prod_third_derivative(x):
    # d3 prod / dx_i dx_j dx_k = the product of the elements other than i, j, k if
    # they are distinct, else 0: exact at zeros, by reverse-over-reverse-over-reverse
    # and forward-over-reverse-over-reverse.
    n = x.size
    expected = np.zeros((n, n, n))
    for i in range(n):
        for j in range(n):
            for k in range(n):
                if len({i, j, k}) == 3:
                    expected[i, j, k] = np.prod(np.delete(x, [i, j, k]))

    def f(v):
        return fnp.prod(v)

    g = fg.grad(f, **I)
    t_rrr = np.asarray(fg.jacrev(fg.jacrev(g, **I), **I)(x))
    t_frr = np.asarray(fg.jacfwd(fg.jacrev(g, **I), **I)(x))
    np.testing.assert_array_equal(t_rrr, expected)
    np.testing.assert_array_equal(t_frr, expected)


def test_prod_grad_large():
    # O(n) work and O(log n) equations: a large odd-sized array
    n = 2 ** 17 + 3
    x = 1 + 1e-6 * np.sin(np.arange(n, dtype=np.float64))
    g = np.asarray(fg.grad(lambda v: fnp.prod(v), **I)(x))
    np.testing.assert_allclose(g, np.prod(x) / x, rtol=1e-12)
    ir = fg.make_ir(fg.grad(lambda v: fnp.prod(v)))(x)
    assert len(str(ir).splitlines()) < 20 * np.log2(n)


def test_prod_grad_zero_size():
    x = np.zeros((0, 3))
    g = np.asarray(fg.grad(lambda v: fnp.sum(fnp.prod(v, axis=0)), **I)(x))
    assert g.shape == (0, 3)


# ----------------------------------------------------------------------------- 0-d reductions

SCALAR = np.asarray(2.5)

ZERO_D_CASES = [
    ("sum", lambda m, x: m.sum(x, axis=0)),
    ("sum-1", lambda m, x: m.sum(x, axis=-1)),
    ("sum_keep", lambda m, x: m.sum(x, axis=0, keepdims=True)),
    ("prod", lambda m, x: m.prod(x, axis=0)),
    ("prod_keep", lambda m, x: m.prod(x, axis=-1, keepdims=True)),
    ("max", lambda m, x: m.max(x, axis=0)),
    ("max_keep", lambda m, x: m.max(x, axis=0, keepdims=True)),
    ("min", lambda m, x: m.min(x, axis=-1)),
    ("argmax", lambda m, x: m.argmax(x, axis=0)),
    ("argmax_keep", lambda m, x: m.argmax(x, axis=0, keepdims=True)),
    ("argmin", lambda m, x: m.argmin(x, axis=-1)),
    ("argmax_none", lambda m, x: m.argmax(x)),
    ("any", lambda m, x: m.any(x, axis=0)),
    ("all", lambda m, x: m.all(x, axis=0)),
    ("mean", lambda m, x: m.mean(x)),
    ("mean_keep", lambda m, x: m.mean(x, keepdims=True)),
]


@pytest.mark.parametrize("name, fn", ZERO_D_CASES, ids=[c[0] for c in ZERO_D_CASES])
def test_zero_d_reduction(name, fn):
    expected = np.asarray(fn(np, SCALAR))
    for x in (SCALAR, np.asarray(-1.5), np.asarray(3, dtype=np.int64)):
        expected = np.asarray(fn(np, x))
        got = np.asarray(fg.jit(lambda v: fn(fnp, v), **I)(x))
        assert got.shape == expected.shape == ()
        assert got.dtype == expected.dtype, (got.dtype, expected.dtype)
        np.testing.assert_array_equal(got, expected)
        # eagerly too (outside any trace)
        np.testing.assert_array_equal(np.asarray(fn(fnp, x)), expected)


@pytest.mark.parametrize("name", ["sum", "prod", "max", "min"])
def test_zero_d_reduction_primitive_axes(name):
    # the primitives themselves take axis 0 of a 0-d operand as no axis
    from funcgrad import primitives as P
    prim = getattr(P, "reduce_" + name)
    f = fg.jit(lambda v: prim(v, (0,)), **I)
    assert np.asarray(f(SCALAR)) == SCALAR
    ir = fg.make_ir(lambda v: prim(v, (0,)))(SCALAR)
    assert "axes=(0,)" not in str(ir)


def test_zero_d_reduction_grad_and_vmap():
    # (f, f', (f(v) v)'') at v = 2.5
    for fn, d, d2 in [(lambda v: fnp.sum(v, axis=0), 1.0, 2.0), (lambda v: fnp.prod(v, axis=0), 1.0, 2.0),
                      (lambda v: fnp.max(v, axis=0) * 3, 3.0, 6.0),
                      (lambda v: fnp.min(v, axis=-1) ** 2, 5.0, 15.0)]:
        assert float(fg.grad(fn, **I)(SCALAR)) == d
        assert float(fg.jacfwd(fn, **I)(SCALAR)) == d
        assert float(fg.hessian(lambda v: fn(v) * v, **I)(SCALAR)) == pytest.approx(d2, rel=1e-12)
    xs = np.array([1.0, -2.0, 3.0])
    np.testing.assert_array_equal(np.asarray(fg.vmap(lambda v: fnp.sum(v, axis=0), **I)(xs)), xs)
    np.testing.assert_array_equal(np.asarray(fg.vmap(lambda v: fnp.argmax(v, axis=0), **I)(xs)),
                                  np.zeros(3, np.int64))


def test_zero_d_reduction_numba():
    def f(v):
        return (fnp.sum(v, axis=0) + fnp.max(v, axis=0) * fnp.prod(v, axis=-1)
                + fnp.argmax(v, axis=0) + fnp.argmin(v, axis=0, keepdims=True))

    x = np.asarray(1.5)
    expected = np.sum(x, axis=0) + np.max(x, axis=0) * np.prod(x, axis=-1) + np.argmax(x, axis=0) \
        + np.argmin(x, axis=0, keepdims=True)
    got = fg.jit(f, backend="numba")(x)
    assert np.shape(got) == ()
    np.testing.assert_allclose(np.asarray(got), expected, rtol=1e-15)


def test_zero_d_bad_axis():
    for fn in (lambda m, x: m.sum(x, axis=1), lambda m, x: m.argmax(x, axis=-2)):
        with pytest.raises(np.exceptions.AxisError):
            fn(np, SCALAR)
        with pytest.raises(fg.ShapeError):
            fg.jit(lambda v: fn(fnp, v), **I)(SCALAR)


def test_flip_zero_d():
    with pytest.raises(np.exceptions.AxisError):
        np.flip(SCALAR, 0)
    for axis in (0, -1, (0,)):
        with pytest.raises(fg.ShapeError):
            fg.jit(lambda v: fnp.flip(v, axis), **I)(SCALAR)
    # no axis: the identity, as in NumPy
    assert np.asarray(fg.jit(lambda v: fnp.flip(v), **I)(SCALAR)) == np.flip(SCALAR)
    np.testing.assert_array_equal(np.asarray(fg.jit(lambda v: fnp.flip(v, 0), **I)(np.arange(3.0))),
                                  [2.0, 1.0, 0.0])
