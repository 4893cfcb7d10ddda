"""The vm backend on branches inside loops, checked against the interpreter.

Regressions: the machine's late constants (a scan's length, a switch's branch
numbers: runs made after the heap's constant region was closed) were
allocated from recycled runs, so a value written earlier in the program (a
forward scan's switch) overwrote the backward scan's length and the gradient
through ``switch``/``cond`` inside ``scan`` came out wrong. And a loop body's
inputs were not counted as live, so an alias of one (a reshape of a scanned
row, of a loop counter) released the body input's run in the middle of the
body, and later values were written over it.
"""
from __future__ import annotations

import numpy as np
import pytest

import funcgrad as fg
import funcgrad.numpy as fnp

pytest.importorskip("numba")

W = np.random.default_rng(0).normal(size=(4, 4)) / 2
X = np.random.default_rng(1).normal(size=(5, 4))
XS = np.random.default_rng(2).normal(size=(3, 5, 4))


def check(fun, calls, rtol=1e-10):
    """``fun`` jitted on the vm and on the interpreter (each compiled once),
    called with each argument tuple of ``calls`` in turn, results equal."""
    vm, ref = fg.jit(fun, backend="vm"), fg.jit(fun, backend="interpret")
    for n, args in enumerate(calls):
        got, want = fg.tree.leaves(vm(*args)), fg.tree.leaves(ref(*args))
        assert len(got) == len(want)
        for i, (g, w) in enumerate(zip(got, want)):
            g, w = np.asarray(g), np.asarray(w)
            assert g.shape == w.shape and g.dtype == w.dtype, (n, i)
            np.testing.assert_allclose(g, w, rtol=rtol, atol=rtol, err_msg=f"call {n}, output {i}")


def value_and_grads(f):
    return fg.value_and_grad(f, argnums=(0, 1))


# ----------------------------------------------------------------------------- switch / cond in scan

def _switch_in_scan(w, x, k):
    h, _ = fg.scan(lambda h, _: (fg.switch(k, [fnp.tanh, fnp.sin], h @ w), None), x, None, length=2)
    return fnp.sum(h ** 2)


def test_switch_in_scan_reproducer():
    # the reported program: the backward scan's length was overwritten
    ks = [(W, X, 0), (W, X, 1), (W, X, 0)]
    check(_switch_in_scan, ks)
    check(fg.grad(_switch_in_scan), ks)
    check(value_and_grads(_switch_in_scan), ks)


def test_cond_in_scan():
    def f(w, x, p):
        def body(h, _):
            return fg.cond(p > 0, lambda v: fnp.tanh(v) * 2.0, lambda v: fnp.sin(v) + v, h @ w), fnp.sum(h)
        h, ys = fg.scan(body, x, None, length=3)
        return fnp.sum(h ** 2) + fnp.sum(ys * ys)
    calls = [(W, X, 1.0), (W, X, -1.0), (W, X, 2.0)]
    check(f, calls)
    check(value_and_grads(f), calls)


def _three_branches(w, x, k):
    branches = [lambda v: fnp.tanh(v), lambda v: fnp.sin(v) * 0.5, lambda v: v * v * 0.1 + 1.0]

    def body(h, xi):
        h = fg.switch(k, branches, h @ w + xi)
        return h, fnp.sum(h)
    h, ys = fg.scan(body, x[0], x[1:])
    return fnp.sum(h ** 2) + fnp.sum(ys)


def test_switch_three_branches_in_scan():
    calls = [(W, X, k) for k in (0, 1, 2, 1, -3, 7)]   # out of range: clamped
    check(_three_branches, calls)
    check(value_and_grads(_three_branches), calls)


def test_switch_index_changes_across_iterations():
    def f(w, x):
        def body(h, i):
            return fg.switch(i % 3, [fnp.tanh, fnp.sin, lambda v: v * 0.5], h @ w), i
        h, ys = fg.scan(body, x, np.arange(5))
        return fnp.sum(h ** 2) + fnp.sum(ys)
    check(f, [(W, X)])
    check(value_and_grads(f), [(W, X)])


def test_switch_in_reverse_scan():
    def f(w, xs, k):
        def body(h, xi):
            h = fg.switch(k, [fnp.tanh, fnp.cos, fnp.sin], h @ w + xi)
            return h, h[0]
        h, ys = fg.scan(body, xs[0], xs, reverse=True)
        return fnp.sum(h ** 2) + fnp.sum(ys * ys)
    calls = [(W, XS, k) for k in (0, 1, 2, 0)]
    check(f, calls)
    check(value_and_grads(f), calls)


def test_nested_scan_with_switch():
    def f(w, xs, k):
        def inner(h, xi):
            return fg.switch(k, [fnp.tanh, fnp.sin], h @ w + xi), None

        def outer(h, xrow):
            h2, _ = fg.scan(inner, h, xrow[None], length=1)
            h3, _ = fg.scan(lambda c, _: (fg.switch(1 - k, [fnp.tanh, fnp.sin], c @ w), None), h2, None,
                            length=2)
            return h3, fnp.sum(h3)
        h, ys = fg.scan(outer, xs[0], xs)
        return fnp.sum(h ** 2) + fnp.sum(ys)
    calls = [(W, XS, 0), (W, XS, 1), (W, XS, 0)]
    check(f, calls)
    check(value_and_grads(f), calls)


# ----------------------------------------------------------------------------- switch / cond in other loops

def test_switch_in_fori_loop():
    def f(w, x, k):
        def body(i, h):
            return fg.switch(k, [fnp.tanh, fnp.sin, lambda v: v * 0.9], h @ w) + 0.01 * i
        return fnp.sum(fg.fori_loop(0, 3, body, x) ** 2)
    calls = [(W, X, k) for k in (0, 1, 2, 0)]
    check(f, calls)
    check(value_and_grads(f), calls)


def test_switch_in_while_loop():
    def f(x, k):
        def body(c):
            i, h = c
            return i + 1, fg.switch(k, [fnp.tanh, fnp.sin, lambda v: v * 0.9], h @ W)
        return fg.while_loop(lambda c: c[0] < 4, body, (0, x))
    check(f, [(X, k) for k in (0, 1, 2, 1)])


def test_cond_in_while_loop_condition_and_body():
    def f(x, t):
        def cond_fun(c):
            i, h = c
            return fg.cond(t > 0, lambda a: a < 5, lambda a: a < 2, i)

        def body(c):
            i, h = c
            return i + 1, fg.cond(fnp.sum(h) > t, fnp.tanh, lambda v: v * 1.5 + 0.1, h @ W)
        return fg.while_loop(cond_fun, body, (0, x))
    check(f, [(X, 1.0), (X, -1.0), (X, 0.5)])


def test_while_loop_inside_scan_with_switch():
    def f(x, k):
        def body(h, xi):
            n, h = fg.while_loop(lambda c: c[0] < 2,
                                 lambda c: (c[0] + 1, fg.switch(k, [fnp.tanh, fnp.sin], c[1] @ W + xi)), (0, h))
            return h, n
        return fg.scan(body, x[0], x)
    check(f, [(XS, 0), (XS, 1), (XS, 0)])


# ----------------------------------------------------------------------------- aliases of body inputs

def test_alias_of_scanned_row_keeps_the_row():
    def f(xs):
        def body(c, xi):
            r = fnp.reshape(xi, (2, 10))     # names the row's run; dies here
            t = fnp.sum(r * 2.0)
            u = fnp.exp(xi) + 1.0            # was written over the row
            return c + t + fnp.sum(u * xi), fnp.sum(xi * 3.0)
        return fg.scan(body, 0.0, xs)
    check(f, [(XS,)])
    check(fg.grad(lambda xs: fnp.sum(f(xs)[1]) + f(xs)[0]), [(XS,)])


def test_alias_of_loop_counter_keeps_the_counter():
    def f(x):
        def body(i, h):
            j = fnp.reshape(i, (1,))         # names the counter's run
            s = fnp.sum(j) * 3 + 1           # j dies: s must not take the counter's run
            return h * 0.5 + fnp.asarray(s, np.float64) + fnp.asarray(i, np.float64)
        return fg.fori_loop(0, 4, body, x)
    check(f, [(X,)])


def test_alias_of_switch_operand_in_a_branch():
    def f(xs, k):
        def body(c, xi):
            y = fg.switch(k, [lambda v: fnp.sum(fnp.reshape(v, (20,))) + fnp.sum(fnp.exp(v) * v),
                              lambda v: fnp.sum(v)], xi)
            return c + y, y
        return fg.scan(body, 0.0, xs)
    check(f, [(XS, 0), (XS, 1)])
