"""Code generation of the Numba backend (issue 10, part 3): one-element values
(0-d, shape (1,), (1, 1), ...) held in scalar locals, and allocations in loop
bodies made once before the loop (loop carries in two buffers written in
turn).

Each test checks the generated source (loops and ``np.empty`` counted, or
where they stand) AND the values against the NumPy interpreter, in float32
and float64; the caller's arrays are never written and outputs never alias
inputs or each other."""
from __future__ import annotations

import os
import re
import sys

import numpy as np
import pytest

import funcgrad as fg
import funcgrad.numpy as fnp
from funcgrad import nn

pytest.importorskip("numba")

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "benchmarks"))
from bench_scalar_graph import funcgrad_loss  # noqa: E402

RNG = np.random.default_rng(3)
DTYPES = [(np.float32, 2e-5), (np.float64, 1e-12)]


def source(f, *args):
    return fg.jit(f, backend="numba").lower(*args).source


def main_body(src):
    """The lines of the program's own function (not the module's constants)."""
    return src[src.index("\ndef "):]


def n_loops(src):
    return len(re.findall(r"^\s*(for|while) ", main_body(src), re.M))


def n_empty(src):
    return main_body(src).count("np.empty")


def loop_bodies(src):
    """Lines inside ``for it..`` / ``while True`` / ``for t..`` loops of control flow."""
    lines, out, depth = main_body(src).split("\n"), [], None
    for line in lines:
        ind = len(line) - len(line.lstrip())
        if depth is not None and line.strip() and ind <= depth:
            depth = None
        if depth is not None:
            out.append(line)
        elif re.match(r"\s*(for (it|t)\d+_ in|while True:)", line):
            depth = ind
    return out


def same_as_interpreter(f, args, rtol, grad=True):
    """f's values (and value_and_grad's, when ``grad``) on Numba equal the interpreter's."""
    copies = [np.array(a, copy=True) for a in args]
    funs = [(f, fg.jit(f, backend="numba"), fg.jit(f, backend="interpret"))]
    if grad:
        g = fg.value_and_grad(lambda *a: fnp.sum(f(*a)) if not isinstance(f(*a), (tuple, list)) else
                              sum(fnp.sum(o) for o in f(*a)))
        funs.append((g, fg.jit(g, backend="numba"), fg.jit(g, backend="interpret")))
    for _, nb, ref in funs:
        got, want = nb(*args), ref(*args)
        got_l = got if isinstance(got, (tuple, list)) else [got]
        want_l = want if isinstance(want, (tuple, list)) else [want]
        for u, v in zip(got_l, want_l):
            u, v = np.asarray(u), np.asarray(v)
            assert u.shape == v.shape and u.dtype == v.dtype
            np.testing.assert_allclose(u, v, rtol=rtol, atol=rtol)
        arrays = [o for o in got_l if isinstance(o, np.ndarray)]
        for i, o in enumerate(arrays):   # outputs never alias inputs or each other
            assert not any(np.shares_memory(o, a) for a in args if isinstance(a, np.ndarray))
            assert not any(np.shares_memory(o, p) for p in arrays[i + 1:])
    for a, c in zip(args, copies):   # the caller's arrays are never written
        np.testing.assert_array_equal(a, c)


# ----------------------------------------------------------------------------- one-element values

def _softmax_of_scalars(x):
    # the scalar graph's 4-way softmax: stack of 4 scalars, max/sum with keepdims (shape (1,))
    s = nn.softmax(fnp.stack([x[0], x[3] * x[1], fnp.exp(x[2]), x[5]]), axis=0)
    return s[0] * s[1] + s[2] - s[3]


def _size_one_shapes(x, m):
    a = x[2:3]                                     # (1,) slice
    b = fnp.reshape(x[4], (1, 1))                  # 0-d -> (1, 1)
    c = fnp.transpose(b) * a                       # (1, 1) broadcast with (1,)
    d = fnp.sum(c, axis=1, keepdims=True)          # reduction over a size-1 axis
    e = fnp.concatenate([a, fnp.reshape(d, (1,)), x[0:1]])       # (3,) from one-element pieces
    f = fnp.max(e, axis=0, keepdims=True) + fnp.squeeze(b)        # (1,)
    g = fnp.broadcast_to(f, (3,)) * e + fnp.reshape(m @ x[:3], ())   # one element of a product
    return g, fnp.reshape(f, ()), f


@pytest.mark.parametrize("dtype,rtol", DTYPES)
def test_softmax_of_scalars_allocates_only_its_vector(dtype, rtol):
    x = RNG.normal(size=6).astype(dtype)
    src = source(_softmax_of_scalars, x)
    # the stacked 4-vector and the softmax's 4-vector results; no one-element arrays, no copy loops
    assert "np.empty((1," not in src
    assert n_empty(src) <= 4 and n_loops(src) <= 3, src
    same_as_interpreter(_softmax_of_scalars, [x], rtol)
    gsrc = source(fg.value_and_grad(_softmax_of_scalars), x)
    assert "np.empty((1," not in gsrc, gsrc


@pytest.mark.parametrize("dtype,rtol", DTYPES)
def test_values_of_shape_1_and_1_1_are_scalar_locals(dtype, rtol):
    x = RNG.normal(size=6).astype(dtype)
    m = RNG.normal(size=(1, 3)).astype(dtype)
    src = source(_size_one_shapes, x, m)
    # one-element arrays: only the product's (1, 1) result and the (1,) output
    assert main_body(src).count("np.empty((1,") == 2, src
    assert n_loops(src) <= 4, src    # max, the broadcast product, the slice x[:3], the add
    same_as_interpreter(_size_one_shapes, [x, m], rtol)


def test_size_one_outputs_are_new_arrays_of_their_shape():
    x = RNG.normal(size=(1, 1))

    def f(x):
        y = x * 2.0
        return y, y, fnp.reshape(x, (1,)), x
    outs = fg.jit(f, backend="numba")(x)
    assert [o.shape for o in outs] == [(1, 1), (1, 1), (1,), (1, 1)]
    same_as_interpreter(f, [x], 1e-15, grad=False)


@pytest.mark.parametrize("dtype,rtol", DTYPES)
def test_scalar_graph_30_ops(dtype, rtol):
    x = np.linspace(-2, 2, 100).astype(dtype)
    loss = funcgrad_loss(30)
    step = fg.value_and_grad(loss)
    src = source(step, x)
    # before one-element values were scalar locals: 62 loops and 77 np.empty at 30 ops (now 24, 35)
    assert n_loops(src) <= 28 and n_empty(src) <= 40, (n_loops(src), n_empty(src))
    assert "np.empty((1," not in src
    v, g = fg.jit(step, backend="numba")(x)
    rv, rg = fg.jit(step, backend="interpret")(x)
    assert np.asarray(v).dtype == np.asarray(rv).dtype and g.dtype == rg.dtype
    np.testing.assert_allclose(v, rv, rtol=rtol)
    np.testing.assert_allclose(g, rg, rtol=rtol, atol=rtol * 1e-2)


# ----------------------------------------------------------------------------- allocations in loop bodies

def _toy(p, xs, ys, steps):
    def f(p, x):
        return p[6] + p[7] * fnp.cos(p[4] + p[5] * fnp.exp(p[2] + p[3] * fnp.sin(p[0] + p[1] * x)))

    def body(i, p):
        j = i % xs.shape[0]
        return p - 0.01 * fg.grad(lambda p: (f(p, xs[j]) - ys[j]) ** 2)(p)
    return fg.fori_loop(0, steps, body, p)


@pytest.mark.parametrize("dtype,rtol", DTYPES)
def test_fori_loop_with_index_reads_allocates_nothing_per_iteration(dtype, rtol):
    xs = RNG.uniform(-2, 2, 20).astype(dtype)
    ys = np.sin(2 * xs).astype(dtype)
    p = np.array([0.1, 1.0, 0.0, 1.0, 0.0, 1.0, 0.0, 1.0], dtype)

    def run(p, xs, ys):
        return _toy(p, xs, ys, 50)
    src = source(run, p, xs, ys)
    assert not any("np.empty" in line for line in loop_bodies(src)), src
    assert "# hoisted" in src and "# carry buffers" in src
    same_as_interpreter(run, [p, xs, ys], rtol * 10, grad=False)


def test_carries_that_pass_buffers_along_keep_their_values():
    # b takes a's array of the previous iteration: two buffers written in turn would be wrong
    x = RNG.normal(size=5)

    def shift(x):
        def body(i, c):
            a, b, s = c
            return a * 0.5 + 1.0, a, s + fnp.sum(b)
        return fg.fori_loop(0, 7, body, (x, x * 2.0, x[0]))

    def swap(x):
        return fg.fori_loop(0, 5, lambda i, c: (c[1] + 1.0, c[0] * 2.0), (x, -x))

    def same_twice(x):
        def body(i, c):
            y = c[0] * 0.9 + c[1]
            return y, y
        return fg.fori_loop(0, 6, body, (x, x))
    for f in (shift, swap, same_twice):
        same_as_interpreter(f, [x], 1e-14, grad=False)


@pytest.mark.parametrize("dtype,rtol", DTYPES)
def test_while_scan_switch_and_nested_loops(dtype, rtol):
    x = RNG.normal(size=4).astype(dtype)

    def f(x):
        def inner(j, c):
            return c * 0.5 + fnp.sin(c + j.astype(c.dtype))

        def outer(i, c):
            z = fnp.concatenate([c[1:], c[:1]]) * 1.5      # private to the iteration
            return fg.fori_loop(0, 3, inner, z - c)

        a = fg.fori_loop(0, 4, outer, x)
        b = fg.while_loop(lambda c: c[1][0] < 5.0, lambda c: (c[0] * 0.9, c[1] + 1.0),
                          (x, fnp.reshape(x[0], (1,)) * 0.0))

        def step(c, xi):   # a (1,) carry, (1,) ys, x read one element at a time
            c2 = c * 0.5 + xi
            return c2, fnp.concatenate([c2, xi * 2.0])
        c, ys = fg.scan(step, fnp.reshape(x[1], (1,)), fnp.reshape(x, (4, 1)))
        s = fg.switch(fnp.argmax(x), [lambda v: v * 2.0, lambda v: v - 1.0, lambda v: fnp.exp(v),
                                      lambda v: v], fnp.reshape(x[2], (1, 1)))
        return a, b[0], b[1], c, ys, s
    src = source(f, x)
    assert not any("np.empty((1," in line for line in loop_bodies(src)), src
    same_as_interpreter(f, [x], rtol, grad=False)



@pytest.mark.parametrize("dtype,rtol", DTYPES)
def test_reductions_in_a_loop_body_allocate_before_the_loop(dtype, rtol):
    m = RNG.normal(size=(3, 4)).astype(dtype)

    def f(m):
        def body(i, c):   # row sums (float32: accumulated in float64, then a float32 array)
            return fnp.tanh(c + fnp.sum(c, axis=1, keepdims=True) * 0.1 - fnp.max(c, axis=0))
        return fg.fori_loop(0, 6, body, m)
    src = source(f, m)
    assert not any("np.empty" in line for line in loop_bodies(src)), src
    same_as_interpreter(f, [m], rtol * 10, grad=False)


@pytest.mark.parametrize("dtype,rtol", DTYPES)
def test_one_element_values_across_chunk_functions(dtype, rtol, monkeypatch):
    from funcgrad.backends.numba_backend import codegen

    monkeypatch.setattr(codegen, "CHUNK_EQNS", 5)   # scalar locals as chunk functions' arguments and results
    y = np.linspace(-2, 2, 40).astype(dtype)
    step = fg.value_and_grad(funcgrad_loss(12))
    assert "def program_part1(" in source(step, y)
    v, g = fg.jit(step, backend="numba")(y)
    rv, rg = fg.jit(step, backend="interpret")(y)
    np.testing.assert_allclose(v, rv, rtol=rtol)
    np.testing.assert_allclose(g, rg, rtol=rtol, atol=rtol * 1e-2)

    def f(x):   # reshapes of one value, a literal padded, one element read: each its own local
        a = fnp.reshape(x[0], (1,))
        b = fnp.reshape(a, (1, 1))
        return b * 2.0, fnp.reshape(b, ()) + a, fnp.squeeze(a)
    same_as_interpreter(f, [y], rtol, grad=False)
