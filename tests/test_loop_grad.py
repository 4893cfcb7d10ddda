"""Reverse mode through loops: ``scan`` and ``fori_loop`` (static bounds).

References are independent of the loop rules: the same function unrolled in
Python (``fg.grad`` of straight-line code) or finite differences on a NumPy
version. Also checked: the residual layout of the forward scan (loop
invariants are not stacked), composition (nested scans, branches and
fori_loops in a scan body, second order, ``fg.vjp``, the Numba backend) and
the errors for ``while_loop`` and traced ``fori_loop`` bounds.
"""
import numpy as np
import pytest

import funcgrad as fg
import funcgrad.numpy as fnp
from funcgrad.errors import UnsupportedError
from funcgrad.primitives.control import scan_p

from fd import numerical_grad, rel_error

H, I, T = 4, 3, 6


def close(actual, expected, rtol=1e-10):
    if isinstance(expected, (tuple, list)):
        assert len(actual) == len(expected)
        for a, e in zip(actual, expected):
            close(a, e, rtol)
        return
    err = rel_error(actual, expected)
    assert err <= rtol, f"relative error {err:.3g} > {rtol:g}\n{np.asarray(actual)}\nvs\n{np.asarray(expected)}"


def rnn_params(dtype=np.float64, seed=0):
    rng = np.random.default_rng(seed)
    W = rng.standard_normal((H, H)) * 0.5
    U = rng.standard_normal((H, I)) * 0.5
    b = rng.standard_normal(H) * 0.1
    h0 = rng.standard_normal(H) * 0.5
    xs = rng.standard_normal((T, I))
    return tuple(a.astype(dtype) for a in (W, U, b, h0, xs))


def rnn_scan(W, U, b, h0, xs):
    def step(h, x):
        h = fnp.tanh(W @ h + U @ x + b)
        return h, h
    hT, hs = fg.scan(step, h0, xs)
    return fnp.sum(hs ** 2) + fnp.sum(hT ** 2)


def rnn_unrolled(W, U, b, h0, xs):
    h, total = h0, 0.0
    for t in range(xs.shape[0]):
        h = fnp.tanh(W @ h + U @ xs[t] + b)
        total = total + fnp.sum(h ** 2)
    return total + fnp.sum(h ** 2)


ALL5 = (0, 1, 2, 3, 4)


# ----------------------------------------------------------------------------- scan: first order

def test_rnn_gradient_matches_the_unrolled_loop_float64():
    args = rnn_params()
    got = fg.grad(rnn_scan, argnums=ALL5)(*args)
    want = fg.grad(rnn_unrolled, argnums=ALL5)(*args)
    for g, a in zip(got, args):
        assert g.shape == a.shape and g.dtype == np.float64
    close(got, want, 1e-12)
    # and the unrolled reference against finite differences (it is independent of scan)
    close(want[0], numerical_grad(rnn_unrolled, args, 0), 1e-7)


def test_rnn_gradient_float32_keeps_the_dtype():
    args32 = rnn_params(np.float32)
    got = fg.grad(rnn_scan, argnums=ALL5)(*args32)
    want = fg.grad(rnn_unrolled, argnums=ALL5)(*[a.astype(np.float64) for a in args32])
    for g in got:
        assert g.dtype == np.float32
    close(got, want, 1e-5)


def test_value_and_grad_and_vjp_through_scan():
    args = rnn_params(seed=1)
    v, g = fg.value_and_grad(rnn_scan, argnums=ALL5)(*args)
    close(v, rnn_unrolled(*args), 1e-13)
    close(g, fg.grad(rnn_unrolled, argnums=ALL5)(*args), 1e-12)

    def hs_of(W, U, b, h0, xs):          # a non-scalar output: all the hidden states
        return fg.scan(lambda h, x: (fnp.tanh(W @ h + U @ x + b),) * 2, h0, xs)[1]

    def hs_unrolled(W, U, b, h0, xs):
        h, out = h0, []
        for t in range(xs.shape[0]):
            h = fnp.tanh(W @ h + U @ xs[t] + b)
            out.append(h)
        return fnp.stack(out)

    ct = np.random.default_rng(2).standard_normal((T, H))
    out, vjp_fn = fg.vjp(hs_of, *args)
    out_r, vjp_r = fg.vjp(hs_unrolled, *args)
    close(out, out_r, 1e-13)
    close(vjp_fn(ct), vjp_r(ct), 1e-12)


def euler_numpy(x0, theta, dt=0.01, n=100):
    x = np.array(x0, dtype=np.float64)
    for _ in range(n):
        x = x + dt * np.array([x[1], -theta[0] * np.sin(x[0]) - theta[1] * x[1]])
    return float(np.sum(x ** 2) + x[0])


def test_euler_integrator_through_fori_loop_matches_finite_differences():
    dt = 0.01

    def f(x, theta):
        return fnp.stack([x[1], -theta[0] * fnp.sin(x[0]) - theta[1] * x[1]])

    def loss(x0, theta):
        xT = fg.fori_loop(0, 100, lambda k, x: x + dt * f(x, theta), x0)
        return fnp.sum(xT ** 2) + xT[0]

    x0, theta = np.array([1.0, -0.3]), np.array([2.0, 0.4])
    close(loss(x0, theta), euler_numpy(x0, theta), 1e-12)
    gx, gth = fg.grad(loss, argnums=(0, 1))(x0, theta)
    close(gx, numerical_grad(euler_numpy, (x0, theta), 0), 1e-8)
    close(gth, numerical_grad(euler_numpy, (x0, theta), 1), 1e-8)


def test_fori_loop_uses_its_index_and_nonzero_lower_bound():
    def loss(w):
        return fg.fori_loop(3, 8, lambda i, c: c * w + fnp.sin(i.astype(w.dtype) * c), 0.5 * w)

    def unrolled(w):
        c = 0.5 * w
        for i in range(3, 8):
            c = c * w + fnp.sin(float(i) * c)
        return c

    w = np.float64(0.7)
    close(fg.grad(loss)(w), fg.grad(unrolled)(w), 1e-12)
    # an empty range: the loop is the identity
    close(fg.grad(lambda w: fg.fori_loop(5, 2, lambda i, c: c * w, w))(w), 1.0, 1e-15)


def test_reverse_scan():
    xs = np.random.default_rng(3).standard_normal((5, 2))
    w = np.array([0.3, -0.8])

    def loss(w, xs):
        c, ys = fg.scan(lambda c, x: (fnp.sin(c * w + x), c * x), np.zeros(2), xs, reverse=True)
        return fnp.sum(c ** 2) + fnp.sum(ys * np.arange(10.0).reshape(5, 2))

    def unrolled(w, xs):
        c, ys = np.zeros(2), [None] * 5
        for t in reversed(range(5)):
            ys[t] = c * xs[t]
            c = fnp.sin(c * w + xs[t])
        return fnp.sum(c ** 2) + fnp.sum(fnp.stack(ys) * np.arange(10.0).reshape(5, 2))

    close(loss(w, xs), unrolled(w, xs), 1e-13)
    close(fg.grad(loss, argnums=(0, 1))(w, xs), fg.grad(unrolled, argnums=(0, 1))(w, xs), 1e-12)


def test_scan_without_xs():
    def loss(w):
        c, ys = fg.scan(lambda c, _: (fnp.cos(c) * w, c * c), w, None, length=4)
        return fnp.sum(c) + fnp.sum(ys)

    def unrolled(w):
        c, total = w, 0.0
        for _ in range(4):
            total = total + fnp.sum(c * c)
            c = fnp.cos(c) * w
        return fnp.sum(c) + total

    w = np.array([0.4, 1.1, -0.2])
    close(fg.grad(loss)(w), fg.grad(unrolled)(w), 1e-12)


def test_scan_with_an_integer_carry():
    """A counter in the carry: no cotangent, but its per-step values are read
    by the backward pass (the power and the select)."""
    xs = np.linspace(-1.0, 1.0, 7)

    def loss(w, xs):
        def step(carry, x):
            k, c = carry
            c = fnp.where(k % 2 == 0, c * w + x, c - w * x * k.astype(np.float64))
            return (k + 1, c), c ** 2
        (k, c), ys = fg.scan(step, (np.int64(0), 1.0), xs)
        return c + fnp.sum(ys)

    def unrolled(w, xs):
        c, total = 1.0, 0.0
        for k in range(7):
            c = c * w + xs[k] if k % 2 == 0 else c - w * xs[k] * float(k)
            total = total + c ** 2
        return c + total

    w = np.float64(0.9)
    close(loss(w, xs), unrolled(w, xs), 1e-13)
    close(fg.grad(loss, argnums=(0, 1))(w, xs), fg.grad(unrolled, argnums=(0, 1))(w, xs), 1e-12)


def test_scan_with_pytree_carry_xs_and_ys():
    rng = np.random.default_rng(4)
    p = {"a": rng.standard_normal(3), "s": np.float64(0.5)}
    xs = {"u": rng.standard_normal((4, 3)), "v": rng.standard_normal(4)}

    def step(p, carry, x):
        h, m = carry["h"], carry["m"]
        h = fnp.tanh(h * p["a"] + x["u"] * x["v"])
        m = m + p["s"] * fnp.sum(h)
        return {"h": h, "m": m}, (h * m, {"z": x["v"] * m})

    def loss(p, h0, xs):
        c, (ya, yb) = fg.scan(lambda c, x: step(p, c, x), {"h": h0, "m": np.float64(0.0)}, xs)
        return fnp.sum(c["h"]) + c["m"] + fnp.sum(ya ** 2) + fnp.sum(fnp.sin(yb["z"]))

    def unrolled(p, h0, xs):
        c, ya, yb = {"h": h0, "m": np.float64(0.0)}, [], []
        for t in range(4):
            c, (a, b) = step(p, c, {"u": xs["u"][t], "v": xs["v"][t]})
            ya.append(a)
            yb.append(b["z"])
        return fnp.sum(c["h"]) + c["m"] + fnp.sum(fnp.stack(ya) ** 2) + fnp.sum(fnp.sin(fnp.stack(yb)))

    h0 = rng.standard_normal(3)
    got = fg.grad(loss, argnums=(0, 1, 2))(p, h0, xs)
    want = fg.grad(unrolled, argnums=(0, 1, 2))(p, h0, xs)
    close(got[0]["a"], want[0]["a"], 1e-12)
    close(got[0]["s"], want[0]["s"], 1e-12)
    close(got[1], want[1], 1e-12)
    close(got[2]["u"], want[2]["u"], 1e-12)
    close(got[2]["v"], want[2]["v"], 1e-12)


def test_scan_with_a_const_that_is_not_differentiated():
    data = np.random.default_rng(5).standard_normal((T, I))
    W, U, b, h0, xs = rnn_params(seed=6)

    def loss(W, U, data):   # data: a float const of the scan, argnums leaves it out
        return rnn_scan(W, U, b, h0, data)

    def unrolled(W, U, data):
        return rnn_unrolled(W, U, b, h0, data)

    close(fg.grad(loss, argnums=(0, 1))(W, U, data), fg.grad(unrolled, argnums=(0, 1))(W, U, data), 1e-12)
    # a closed-over array (a const of the body) and an integer const
    offs = np.arange(H)

    def loss2(W):
        c, _ = fg.scan(lambda h, x: (fnp.tanh(W @ h + U @ x + b + offs[:H] * 0.1), None), h0, data)
        return fnp.sum(c)

    def unrolled2(W):
        h = h0
        for t in range(T):
            h = fnp.tanh(W @ h + U @ data[t] + b + offs[:H] * 0.1)
        return fnp.sum(h)

    close(fg.grad(loss2)(W), fg.grad(unrolled2)(W), 1e-12)


def test_scan_of_length_zero():
    w = np.array([1.0, 2.0])
    g = fg.grad(lambda w, xs: fnp.sum(fg.scan(lambda c, x: (c * w + x, c), w, xs)[0]), argnums=(0, 1))(
        w, np.zeros((0, 2)))
    close(g[0], np.ones(2), 1e-15)
    assert g[1].shape == (0, 2)


# ----------------------------------------------------------------------------- residual layout

def _scans(program):
    return [e for e in program.eqns if e.primitive is scan_p]


def test_rnn_residuals_are_per_step_only():
    args = rnn_params()
    program = fg.make_ir(fg.grad(rnn_scan, argnums=ALL5))(*args)
    forward, backward = _scans(program)
    assert not forward.params["reverse"] and backward.params["reverse"]
    W_var, U_var, _, _, xs_var = program.in_vars
    # one forward scan: its outputs are the carry, the ys and per-step residuals only
    for v in forward.outputs:
        assert v.aval.shape not in ((T, H, H), (T, H, I), (T, I, H), (T, I), (T, I, 1)), forward.outputs
    stacked = forward.outputs[1 + 1:]         # after the carry h and the ys hs
    assert len(stacked) <= 2 and all(v.aval.shape[0] == T for v in stacked)
    # W and U reach the backward scan as consts (not stacked); xs is read as it is
    consts = backward.inputs[:backward.params["num_consts"]]
    assert W_var in consts and U_var in consts
    assert xs_var in backward.inputs[backward.params["num_consts"] + backward.params["num_carry"]:]


def test_cheap_residuals_are_recomputed_not_stacked():
    """1 - tanh(z)**2 is two arithmetic equations away from tanh(z), which is stacked
    anyway: the backward scan recomputes it (transforms.vjp.control._rematerialize)."""
    args = rnn_params()
    program = fg.make_ir(fg.grad(rnn_scan, argnums=ALL5))(*args)
    forward, backward = _scans(program)
    stacked = forward.outputs[2:]
    assert len(stacked) == 1, stacked            # the carry entering each step; h itself is the ys
    body = backward.params["body"]
    assert any(e.primitive.name == "sub" for e in body.eqns)    # 1 - h*h, in the backward step


def test_loop_invariant_residuals_are_computed_once_outside_the_loop():
    """W.T @ W is computed from consts only: hoisted out of the forward loop,
    computed once, and a const of the backward scan."""
    def loss(W, h0):
        def step(h, _):
            M = W.T @ W
            return fnp.tanh(M @ h), None
        return fnp.sum(fg.scan(step, h0, None, length=T)[0])

    def unrolled(W, h0):
        h = h0
        for _ in range(T):
            h = fnp.tanh((W.T @ W) @ h)
        return fnp.sum(h)

    W, _, _, h0, _ = rnn_params(seed=7)
    close(fg.grad(loss, argnums=(0, 1))(W, h0), fg.grad(unrolled, argnums=(0, 1))(W, h0), 1e-12)
    program = fg.make_ir(fg.grad(loss, argnums=(0, 1)))(W, h0)
    forward, backward = _scans(program)
    for v in forward.outputs:
        assert v.aval.shape != (T, H, H)
    body_matmuls = [e for e in forward.params["body"].eqns if e.primitive.name == "matmul"]
    assert len(body_matmuls) == 1     # W.T @ W is not in the loop
    top_matmuls = [e for e in program.eqns if e.primitive.name == "matmul"]
    assert len(top_matmuls) >= 1


# ----------------------------------------------------------------------------- composition

def test_scan_inside_a_scan():
    rng = np.random.default_rng(8)
    xs = rng.standard_normal((3, 4))
    w = np.array([0.5, -0.4, 0.3])

    def loss(w, xs):
        def outer(c, row):
            inner_c, ys = fg.scan(lambda d, x: (fnp.sin(d * w + x), d * x), c, row)
            return inner_c, fnp.sum(ys)
        c, ys = fg.scan(outer, w, xs)
        return fnp.sum(c ** 2) + fnp.sum(ys)

    def unrolled(w, xs):
        c, total = w, 0.0
        for r in range(3):
            d, s = c, 0.0
            for t in range(4):
                s = s + fnp.sum(d * xs[r, t])
                d = fnp.sin(d * w + xs[r, t])
            c = d
            total = total + s
        return fnp.sum(c ** 2) + total

    close(loss(w, xs), unrolled(w, xs), 1e-13)
    close(fg.grad(loss, argnums=(0, 1))(w, xs), fg.grad(unrolled, argnums=(0, 1))(w, xs), 1e-12)


def test_scan_whose_body_has_a_cond_and_a_fori_loop():
    xs_np = np.linspace(-2.0, 2.0, 6)

    def loss(w, xs):
        def step(c, x):
            c = fg.cond(x > 0, lambda c: c * w + x, lambda c: fnp.sin(c) - w * x, c)
            c = fg.fori_loop(0, 3, lambda i, d: d * 0.9 + w * fnp.cos(d), c)
            return c, c * x
        c, ys = fg.scan(step, 0.2, xs)
        return c + fnp.sum(ys ** 2)

    def unrolled(w, xs):
        c, total = 0.2, 0.0
        for t in range(6):
            x = xs[t]
            c = c * w + x if xs_np[t] > 0 else fnp.sin(c) - w * x   # the branch taken: static
            for _ in range(3):
                c = c * 0.9 + w * fnp.cos(c)
            total = total + (c * x) ** 2
        return c + total

    w, xs = np.float64(0.6), xs_np
    close(loss(w, xs), unrolled(w, xs), 1e-13)
    close(fg.grad(loss, argnums=(0, 1))(w, xs), fg.grad(unrolled, argnums=(0, 1))(w, xs), 1e-12)


def _short_scan(w, xs):
    c, ys = fg.scan(lambda c, x: (fnp.sin(c * w) + x * c, fnp.cos(c) * w), w * 0.5, xs)
    return fnp.sum(c ** 2) + fnp.sum(ys)


def test_second_order_through_scan():
    xs = np.array([[0.3, -0.2], [1.0, 0.5], [-0.7, 0.1]])
    w = np.array([0.8, -0.6])
    v = np.array([1.0, 2.0])
    g = fg.grad(_short_scan)

    def hvp(w):                      # grad of <grad f(w), v>: a Hessian-vector product
        return fg.grad(lambda w: fnp.sum(g(w, xs) * v))(w)

    want = numerical_grad(lambda w: float(np.sum(np.asarray(g(w, xs)) * v)), (w,), 0)
    close(hvp(w), want, 1e-8)
    # a scalar: grad of grad, and the first gradient against finite differences too
    s = np.float64(0.7)
    f = lambda s: _short_scan(s, xs[:, 0])   # noqa: E731
    close(fg.grad(f)(s), numerical_grad(lambda s: float(f(s)), (s,), 0), 1e-9)
    close(fg.grad(fg.grad(f))(s), numerical_grad(lambda s: float(fg.grad(f)(s)), (s,), 0), 1e-8)


def test_second_order_through_fori_loop():
    def f(w):
        return fg.fori_loop(0, 5, lambda i, c: fnp.sin(c * w) + 0.1 * c, w)

    w = np.float64(1.3)
    close(fg.grad(fg.grad(f))(w), numerical_grad(lambda w: float(fg.grad(f)(w)), (w,), 0), 1e-8)


def test_grad_inside_a_scan_body_differentiated_again():
    """A scan whose body takes a gradient (a training loop), differentiated
    with respect to the learning rate."""
    target = np.array([1.0, -2.0])

    def train(lr):
        def step(w, _):
            gw = fg.grad(lambda w: fnp.sum((w - target) ** 2))(w)
            return w - lr * gw, None
        w, _ = fg.scan(step, np.zeros(2), None, length=5)
        return fnp.sum(w)

    lr = np.float64(0.1)
    close(fg.grad(train)(lr), numerical_grad(lambda l: float(train(l)), (lr,), 0), 1e-8)


# ----------------------------------------------------------------------------- the Numba backend

def test_jit_grad_through_scan_on_numba():
    args = rnn_params(seed=9)
    want = fg.grad(rnn_scan, argnums=ALL5, backend="interpret")(*args)
    got = fg.jit(fg.grad(rnn_scan, argnums=ALL5))(*args)   # default backend (conftest: the interpreter)
    close(got, want, 1e-12)
    got = fg.jit(fg.grad(rnn_scan, argnums=ALL5), backend="numba")(*args)
    close(got, want, 1e-12)


def test_jit_grad_of_reverse_scan_with_integer_carry_and_fori_on_numba():
    xs = np.linspace(-1.0, 1.0, 5)

    def loss(w, xs):
        def step(carry, x):
            k, c = carry
            c = fg.fori_loop(0, 2, lambda i, d: fnp.sin(d * w) + x, c)
            c = fnp.where(k % 2 == 0, c, c * w)
            return (k + 1, c), c * x
        (k, c), ys = fg.scan(step, (np.int32(0), 0.5), xs, reverse=True)
        return c + fnp.sum(ys)

    w = np.float64(0.8)
    want = fg.grad(loss, argnums=(0, 1), backend="interpret")(w, xs)
    got = fg.jit(fg.grad(loss, argnums=(0, 1)), backend="numba")(w, xs)
    close(got, want, 1e-12)


# ----------------------------------------------------------------------------- errors

def test_grad_through_while_loop_is_a_clear_error():
    def f(w):
        return fg.while_loop(lambda c: c < 10.0, lambda c: c * w, 1.0)   # the line named

    with pytest.raises(UnsupportedError, match="while_loop: reverse-mode differentiation") as info:
        fg.grad(f)(2.0)
    msg = str(info.value)
    assert "fori_loop" in msg and "scan" in msg and "jvp" in msg
    filename, lineno, func = info.value.location
    assert filename == __file__ and func == "f"
    assert "fg.while_loop" in open(__file__).read().splitlines()[lineno - 1]
    # forward mode works
    assert np.isfinite(fg.jvp(f, (2.0,), (1.0,))[1])


def test_fori_loop_with_traced_bounds_is_a_clear_error():
    def f(w, n):
        return fg.fori_loop(0, n, lambda i, c: c * w, 1.0)   # the line named

    @fg.jit
    def g(w, n):
        return fg.grad(f)(w, n)

    with pytest.raises(UnsupportedError, match="fori_loop: the bounds of fori_loop must be static") as info:
        g(2.0, 3)
    filename, lineno, func = info.value.location
    assert filename == __file__ and func == "f"
    # static bounds work under jit
    assert float(fg.jit(lambda w, n: fg.grad(f)(w, n), static_argnums=1)(2.0, 3)) == pytest.approx(12.0)
