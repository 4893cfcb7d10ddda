"""fori_loop, while_loop, scan, cond and switch: results against plain Python
loops written out here, under the interpreter and compiled by Numba; the
carry's rules (structure, shape, dtype, weak Python numbers); gradients
through cond/switch against finite differences; the errors."""
import numpy as np
import pytest

import funcgrad as fg
import funcgrad.numpy as fnp
from funcgrad.errors import DtypeError, ShapeError, TreeError, UnsupportedError

from fd import numerical_grad

BACKENDS = ["interpret", "numba"]


def close(a, b, tol=1e-12):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=tol, atol=tol)


# ----------------------------------------------------------------------------- fori_loop

def _power_iteration(a, v, n):
    def body(i, carry):
        v, norms = carry
        w = a @ v
        nrm = fnp.sqrt(fnp.sum(w * w))
        return w / nrm, norms + nrm * i
    return fg.fori_loop(0, n, body, (v, 0.0))


@pytest.mark.parametrize("backend", BACKENDS)
def test_fori_loop_matches_python_loop(backend):
    rng = np.random.default_rng(0)
    a = rng.normal(size=(4, 4))
    v = rng.normal(size=4)
    got_v, got_s = fg.jit(_power_iteration, static_argnums=2, backend=backend)(a, v, 7)
    want_v, want_s = v.copy(), 0.0
    for i in range(7):
        w = a @ want_v
        want_v, want_s = w / np.linalg.norm(w), want_s + np.linalg.norm(w) * i
    close(got_v, want_v)
    close(got_s, want_s)


@pytest.mark.parametrize("backend", BACKENDS)
def test_fori_loop_traced_bounds_and_zero_trips(backend):
    f = fg.jit(lambda lo, hi, x: fg.fori_loop(lo, hi, lambda i, c: c * 2.0 + i, x), backend=backend)
    x = np.array([1.0, -1.0])
    close(f(2, 5, x), ((x * 2 + 2) * 2 + 3) * 2 + 4)
    out = f(5, 2, x)                    # no iteration: the initial value, as a fresh array
    close(out, x)
    out[0] = 99.0
    assert x[0] == 1.0


def test_fori_loop_eager_and_index_dtype():
    seen = []
    out = fg.fori_loop(np.int32(0), np.int32(4), lambda i, c: (seen.append(i.dtype), c + i)[1], np.int32(0))
    assert int(out) == 6 and seen == [np.dtype(np.int32)]  # the body is traced once


def test_fori_loop_pytree_carry_and_dtype_kept():
    params = {"w": np.ones((2, 3), np.float32), "b": [np.zeros(3, np.float32)]}
    out = fg.jit(lambda p: fg.fori_loop(0, 3, lambda i, p: fg.tree.map(lambda x: x * 0.5 + 1.0, p), p))(params)
    assert fg.tree.structure(out) == fg.tree.structure(params)
    assert out["w"].dtype == np.float32 and out["b"][0].dtype == np.float32
    close(out["w"], np.full((2, 3), 1.875), 1e-6)
    close(out["b"][0], np.full(3, 1.75), 1e-6)


def test_weak_python_number_carry_takes_the_body_dtype():
    x = np.ones(3, np.float32)
    out = fg.fori_loop(0, 2, lambda i, s: s + fnp.sum(x), 0.0)
    assert np.asarray(out).dtype == np.float32 and float(out) == 6.0
    # and a Python number returned by the body takes the carry's dtype
    out = fg.fori_loop(0, 2, lambda i, c: 1.5, np.float32(0))
    assert np.asarray(out).dtype == np.float32


# ----------------------------------------------------------------------------- while_loop

@pytest.mark.parametrize("backend", BACKENDS)
def test_while_loop_collatz(backend):
    def steps(n):
        def body(c):
            n, k = c
            return fnp.where(n % 2 == 0, n // 2, 3 * n + 1), k + 1
        return fg.while_loop(lambda c: c[0] != 1, body, (n, 0))[1]
    f = fg.jit(steps, backend=backend)
    for n in (1, 6, 27, 97):
        m, want = n, 0
        while m != 1:
            m, want = (m // 2 if m % 2 == 0 else 3 * m + 1), want + 1
        assert int(f(n)) == want


@pytest.mark.parametrize("backend", BACKENDS)
def test_while_loop_newton_sqrt_closure(backend):
    target = np.array([2.0, 9.0, 0.25])

    def newton(x0):
        def cond(c):
            x, it = c
            return (fnp.max(fnp.abs(x * x - target)) > 1e-12) & (it < 50)
        return fg.while_loop(cond, lambda c: (0.5 * (c[0] + target / c[0]), c[1] + 1), (x0, 0))
    x, it = fg.jit(newton, backend=backend)(np.ones(3))
    close(x, np.sqrt(target), 1e-12)
    assert 0 < int(it) < 50


# ----------------------------------------------------------------------------- scan

@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("reverse", [False, True])
def test_scan_cumulative_and_stacked_outputs(backend, reverse):
    xs = np.arange(12.0).reshape(4, 3)
    ws = np.array([1.0, -2.0, 0.5, 3.0])

    def f(xs, ws):
        def step(c, x):
            row, w = x
            c = c * 0.9 + row * w
            return c, {"c": c, "norm": fnp.sum(c * c)}
        return fg.scan(step, np.zeros(3), (xs, ws), reverse=reverse)
    carry, ys = fg.jit(f, backend=backend)(xs, ws)
    c, cs, norms = np.zeros(3), np.zeros((4, 3)), np.zeros(4)
    for t in (reversed(range(4)) if reverse else range(4)):
        c = c * 0.9 + xs[t] * ws[t]
        cs[t], norms[t] = c, c @ c
    close(carry, c)
    close(ys["c"], cs)
    close(ys["norm"], norms)


@pytest.mark.parametrize("backend", BACKENDS)
def test_scan_length_without_xs_and_nested_loops(backend):
    def f(x):
        def outer(c, _):
            inner = fg.fori_loop(0, 3, lambda i, a: a + i * c, 0.0 * c)
            return c + 1.0, inner
        return fg.scan(outer, x, None, length=4)
    carry, ys = fg.jit(f, backend=backend)(np.float64(1.0))
    close(carry, 5.0)
    close(ys, [3.0 * c for c in (1.0, 2.0, 3.0, 4.0)])


# ----------------------------------------------------------------------------- cond / switch

@pytest.mark.parametrize("backend", BACKENDS)
def test_cond_and_switch_choose_one_branch(backend):
    def f(x, k):
        a = fg.cond(fnp.sum(x) > 0, lambda x: x * 2.0, lambda x: -x, x)
        b = fg.switch(k, [lambda x: x + 1.0, lambda x: x * x, lambda x: fnp.zeros_like(x)], x)
        return a, b
    g = fg.jit(f, backend=backend)
    x = np.array([1.0, -0.5])
    for k, want_b in [(-3, x + 1), (0, x + 1), (1, x * x), (2, 0 * x), (9, 0 * x)]:
        a, b = g(x, k)
        close(a, 2 * x)
        close(b, want_b)
    close(g(-x, 0)[0], x)


@pytest.mark.parametrize("backend", BACKENDS)
def test_cond_inside_a_loop(backend):
    def f(n):
        return fg.fori_loop(0, n, lambda i, s: fg.cond(i % 3 == 0, lambda s: s + i, lambda s: s - 1, s), 0)
    g = fg.jit(f, backend=backend)
    assert int(g(10)) == sum(i if i % 3 == 0 else -1 for i in range(10))


def test_grad_through_cond_matches_finite_differences():
    c = np.array([0.3, -1.2, 2.0])

    def f(x):
        return fg.cond(fnp.sum(x) > 0, lambda x: fnp.sum(fnp.sin(x) * c),
                       lambda x: fnp.sum(x ** 3) + fnp.prod(x), x)
    for x in (np.array([0.5, 1.0, -0.2]), np.array([-0.5, 0.3, -1.0])):
        close(fg.grad(f)(x), numerical_grad(f, (x,)), 1e-7)
        close(fg.jit(fg.grad(f), backend="numba")(x), numerical_grad(f, (x,)), 1e-7)


def test_grad_inside_a_loop_body_trains():
    """Ten gradient steps on a quadratic, in one compiled loop."""
    target = np.array([1.0, -2.0])

    def train(w):
        return fg.fori_loop(0, 10, lambda i, w: w - 0.1 * fg.grad(lambda w: fnp.sum((w - target) ** 2))(w), w)
    w = np.zeros(2)
    want = w.copy()
    for _ in range(10):
        want = want - 0.1 * 2 * (want - target)
    close(fg.jit(train, backend="numba")(w), want)


# ----------------------------------------------------------------------------- IR and errors

def test_ir_shows_the_body():
    text = str(fg.make_ir(lambda x: fg.fori_loop(0, 3, lambda i, c: c * x, x))(np.ones(2)))
    assert "fori_loop[num_consts=1]" in text and "body:" in text and "mul" in text


def test_carry_errors_name_the_problem():
    x = np.ones(3)
    with pytest.raises(ShapeError, match=r"fori_loop: .*shape \(1,\).*init_val.*shape \(3,\)"):
        fg.fori_loop(0, 2, lambda i, c: c[:1], x)
    with pytest.raises(DtypeError, match=r"fori_loop: .*f32\[3\].*f64\[3\]"):
        fg.fori_loop(0, 2, lambda i, c: c.astype(np.float32), x)
    with pytest.raises(TreeError, match="fori_loop: the body must return the carry's structure"):
        fg.fori_loop(0, 2, lambda i, c: (c, c), x)
    with pytest.raises(DtypeError, match="fori_loop: lower must be an integer scalar"):
        fg.fori_loop(0.5, 2, lambda i, c: c, x)
    with pytest.raises(DtypeError, match="while_loop: cond_fun must return a boolean scalar"):
        fg.while_loop(lambda c: c, lambda c: c, x)
    with pytest.raises(ShapeError, match=r"scan: .*leading length.*\(3,\).*\(4,\)"):
        fg.scan(lambda c, x: (c, x), 0.0, (np.ones(3), np.ones(4)))
    with pytest.raises(TreeError, match="scan: f must return a pair"):
        fg.scan(lambda c, x: c, 0.0, np.ones(3))
    with pytest.raises(ShapeError, match="cond: branches return different shapes"):
        fg.cond(True, lambda x: x, lambda x: x[:2], x)


def test_reverse_mode_through_loops_and_the_while_loop_error():
    def f(w):
        return fg.fori_loop(0, 3, lambda i, c: c * w, 1.0)
    assert fg.grad(f)(2.0) == pytest.approx(12.0)          # d/dw w**3
    assert fg.grad(lambda w: fg.scan(lambda c, x: (c * w, None), 1.0, np.ones(2))[0])(2.0) == pytest.approx(4.0)
    with pytest.raises(UnsupportedError, match="while_loop: reverse-mode differentiation"):
        fg.grad(lambda w: fg.while_loop(lambda c: c < 10.0, lambda c: c * w, 1.0))(2.0)
