"""Transformations composed with each other and with jit, on both backends.

Each case is a function of arrays built from several transformations (grad of
vmap, vmap of grad, jacfwd of jacrev, vmap of scan, grad through scan of a
custom_vjp function...). Its value is checked against an independent
reference (a Python loop, finite differences or a formula), under the
interpreter, and the Numba backend is checked against the interpreter
(``fg.jit(case, backend="numba")``: one compile per case).
"""
from __future__ import annotations

import numpy as np
import pytest

import funcgrad as fg
import funcgrad.numpy as fnp

I = "interpret"
RNG = np.random.default_rng(11)
W = RNG.standard_normal((3, 4)) * 0.5
XS = RNG.standard_normal((5, 3))
V = RNG.standard_normal(4)


def fd_grad(f, x, eps=1e-6):
    g = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        e = np.zeros_like(x)
        e[idx] = eps
        g[idx] = (f(x + e) - f(x - e)) / (2 * eps)
    return g


def _loss(w, x):
    return fnp.sum(fnp.tanh(x @ w) ** 2)


def _loss_np(w, x):
    return np.sum(np.tanh(x @ w) ** 2)


# ----------------------------------------------------------------------------- cases and references

def grad_of_vmap(w, xs):
    return fg.grad(lambda w: fnp.sum(fg.vmap(lambda x: _loss(w, x))(xs)))(w)


def grad_of_vmap_ref(w, xs):
    return fd_grad(lambda w: sum(_loss_np(w, x) for x in xs), w)


def vmap_of_grad(w, xs):
    return fg.vmap(fg.grad(_loss), in_axes=(None, 0))(w, xs)


def vmap_of_grad_ref(w, xs):
    return np.stack([fd_grad(lambda w: _loss_np(w, x), w) for x in xs])


def jacfwd_of_jacrev(w, xs):
    return fg.jacfwd(fg.jacrev(lambda v: fnp.sum(fnp.sin(xs @ W @ v) * v[0])))(w[0])


def jacfwd_of_jacrev_ref(w, xs):
    A = xs @ W
    f = lambda v: np.sum(np.sin(A @ v) * v[0])
    g = lambda v: fd_grad(f, v, 1e-5)
    v0 = w[0]
    H = np.stack([(g(v0 + e) - g(v0 - e)) / 2e-5 for e in np.eye(4) * 1e-5], axis=1)
    return H


def vmap_of_scan(w, xs):
    def run(x):
        return fg.scan(lambda c, xi: (fnp.tanh(c * xi + 0.1), c * xi), x[0], x)[1]
    return fg.vmap(run)(xs)


def vmap_of_scan_ref(w, xs):
    out = []
    for x in xs:
        c, ys = x[0], []
        for xi in x:
            ys.append(c * xi)
            c = np.tanh(c * xi + 0.1)
        out.append(ys)
    return np.array(out)


@fg.custom_vjp
def _clipped_square(x):
    return x * x


def _cs_fwd(x):
    return x * x, x


def _cs_bwd(x, g):
    return (fnp.clip(2 * x * g, -1.0, 1.0),)


_clipped_square.defvjp(_cs_fwd, _cs_bwd)


def grad_of_custom_vjp_in_scan(w, xs):
    def loss(x):
        return fnp.sum(fg.scan(lambda c, xi: (c + _clipped_square(xi), 0.0), 0.0, x)[0])
    return fg.grad(loss)(xs[:, 0] * 3)


def grad_of_custom_vjp_in_scan_ref(w, xs):
    x = xs[:, 0] * 3
    return np.clip(2 * x, -1, 1)


def vmap_of_jvp_of_grad(w, xs):
    return fg.vmap(lambda v: fg.jvp(fg.grad(lambda w: _loss(w, xs)), (w,), (v,))[1])(
        np.stack([W, 2 * W]))


def _loss_grad_by_hand(w, x):
    t = np.tanh(x @ w)
    return x.T @ (2 * t * (1 - t * t))


def vmap_of_jvp_of_grad_ref(w, xs):
    g = lambda w: _loss_grad_by_hand(w, xs)
    return np.stack([(g(w + 1e-5 * v) - g(w - 1e-5 * v)) / 2e-5 for v in (W, 2 * W)])


def hvp_through_fori_loop(w, xs):
    def f(x):
        return fnp.sum(fg.fori_loop(0, 4, lambda i, c: c + 0.1 * fnp.sin(c) * x, x) ** 2)
    return fg.hvp(f, xs[0], xs[1])


def hvp_through_fori_loop_ref(w, xs):
    def f(x):
        c = x.copy()
        for _ in range(4):
            c = c + 0.1 * np.sin(c) * x
        return np.sum(c ** 2)
    g = lambda x: fd_grad(f, x, 1e-5)
    return (g(xs[0] + 1e-5 * xs[1]) - g(xs[0] - 1e-5 * xs[1])) / 2e-5


def grad_of_checkpoint_in_vmap(w, xs):
    block = fg.checkpoint(lambda w, x: fnp.tanh(x @ w))
    return fg.grad(lambda w: fnp.sum(fg.vmap(lambda x: block(w, x), in_axes=0)(xs) ** 2))(w)


def grad_of_checkpoint_in_vmap_ref(w, xs):
    return fd_grad(lambda w: np.sum(np.tanh(xs @ w) ** 2), w)


CASES = {f.__name__: (f, globals()[f.__name__ + "_ref"]) for f in (
    grad_of_vmap, vmap_of_grad, jacfwd_of_jacrev, vmap_of_scan, grad_of_custom_vjp_in_scan,
    vmap_of_jvp_of_grad, hvp_through_fori_loop, grad_of_checkpoint_in_vmap)}


@pytest.mark.parametrize("name", sorted(CASES))
def test_composition_against_reference(name):
    case, ref = CASES[name]
    got = fg.jit(case, backend=I)(W, XS)
    np.testing.assert_allclose(got, ref(W, XS), rtol=2e-5, atol=1e-7)


@pytest.mark.parametrize("name", sorted(CASES))
def test_numba_agrees_with_the_interpreter(name):
    case, _ = CASES[name]
    want = fg.jit(case, backend=I)(W, XS)
    got = fg.jit(case, backend="numba")(W, XS)
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)
