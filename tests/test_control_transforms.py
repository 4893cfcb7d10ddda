"""Forward mode (``jvp_program``) and vectorization (``batch_program``) through
the control-flow primitives: fori_loop, while_loop, scan, switch (and cond).

References are independent of the transformations: JVPs against central
finite differences of plain NumPy functions written out here (float64),
batched programs against a Python loop over the batch of ``eval_program``.
Every check runs twice: on concrete arrays (the rules bind on values, which
runs the implementations) and traced (``trace_flat`` of a function calling
the transformation, then ``eval_program`` of the result), as the user API
uses them. Interpreter only.
"""
import numpy as np
import pytest

import funcgrad as fg
import funcgrad.numpy as fnp
from funcgrad.core.evaluate import eval_program
from funcgrad.core.trace import aval_of, trace_flat
from funcgrad.primitives import convert_element_type
from funcgrad.primitives.control import fori_loop_p, scan_p, switch_p, while_loop_p
from funcgrad.transforms.batching import batch_program, move_to
from funcgrad.transforms.jvp import instantiate, jvp_program

RNG = np.random.default_rng(0)


def close(a, b, tol=1e-9):
    np.testing.assert_allclose(np.asarray(a, np.float64), np.asarray(b, np.float64), rtol=tol, atol=tol)


def _prims(program):
    """The primitives of ``program`` and of all its bodies."""
    from funcgrad.core.ir import subprograms

    found = set()
    for eqn in program.eqns:
        found.add(eqn.primitive)
        for sub in subprograms(eqn):
            found |= _prims(sub)
    return found


# ----------------------------------------------------------------------------- jvp helpers

def jvp_concrete(program, primals, tangents):
    return jvp_program(program, list(primals), list(tangents))


def jvp_traced(program, primals, tangents):
    """jvp_program traced into one program (zeros instantiated), then evaluated."""
    box = {}
    nz = [t is not None for t in tangents]

    def fun(*args):
        n = len(primals)
        xs, ts = list(args[:n]), iter(args[n:])
        outs, out_tans = jvp_program(program, xs, [next(ts) if m else None for m in nz])
        box["nz"] = [t is not None for t in out_tans]
        return list(outs) + [instantiate(t, o) for t, o in zip(out_tans, outs)]

    avals = [aval_of(p) for p in primals] + [aval_of(t) for t in tangents if t is not None]
    traced = trace_flat(fun, avals)
    vals = eval_program(traced, list(primals) + [t for t in tangents if t is not None])
    n_out = len(vals) // 2
    return vals[:n_out], vals[n_out:], box["nz"], traced


def fd_jvp(ref, primals, tangents, h=1e-6):
    """Central difference of ``ref`` (a NumPy function) along ``tangents``."""
    plus = [p + h * t if t is not None else p for p, t in zip(primals, tangents)]
    minus = [p - h * t if t is not None else p for p, t in zip(primals, tangents)]
    hi, lo = ref(*plus), ref(*minus)
    hi = hi if isinstance(hi, (tuple, list)) else [hi]
    lo = lo if isinstance(lo, (tuple, list)) else [lo]
    return [(np.asarray(a, np.float64) - np.asarray(b, np.float64)) / (2 * h) for a, b in zip(hi, lo)]


def check_jvp(f, ref, primals, tangents, tol=1e-6, zero_tangent=()):
    """jvp of ``make_ir(f)`` against finite differences of ``ref``, concrete and
    traced. ``zero_tangent``: outputs known to have no tangent (None)."""
    program = fg.make_ir(f)(*primals)
    want = ref(*primals)
    want = list(want) if isinstance(want, (tuple, list)) else [want]
    fd = fd_jvp(ref, primals, tangents)
    outs, tans = jvp_concrete(program, primals, tangents)
    t_outs, t_tans, t_nz, traced = jvp_traced(program, primals, tangents)
    assert len(outs) == len(want)
    for k, (o, w) in enumerate(zip(outs, want)):
        close(o, w, 1e-12)
        close(t_outs[k], w, 1e-12)
        if np.asarray(w).dtype.kind != "f":
            assert tans[k] is None and not t_nz[k], f"output {k} is not float but has a tangent"
            continue
        if k in zero_tangent:
            assert tans[k] is None, f"output {k} should have a symbolic zero tangent"
            close(t_tans[k], np.zeros_like(w))
            continue
        got = np.zeros_like(w) if tans[k] is None else tans[k]
        close(got, fd[k], tol)
        close(t_tans[k], fd[k], tol)
    return program, tans, traced


def rand(*shape):
    return RNG.normal(size=shape)


# ----------------------------------------------------------------------------- jvp: fori_loop

def test_jvp_fori_loop_consts_and_carry():
    def f(x, w):
        return fg.fori_loop(0, 5, lambda i, c: fnp.sin(c * w) + c, x)

    def ref(x, w):
        for _ in range(5):
            x = np.sin(x * w) + x
        return x

    x, w = rand(3), rand(3)
    program = fg.make_ir(f)(x, w)
    assert fori_loop_p in _prims(program)
    for tx, tw in [(rand(3), rand(3)), (rand(3), None), (None, rand(3))]:
        _, _, traced = check_jvp(f, ref, [x, w], [tx, tw])
        assert fori_loop_p in _prims(traced)     # still one loop, not unrolled


def test_jvp_fori_loop_tangent_appears_after_iterations():
    """Carries with no tangent at entry: c1 gets one from x at the first
    iteration, c2 from c1 at the second, c3 from c2 at the third (the fixed
    point takes three rounds). k is an integer counter, i the index."""
    def f(x, y):
        def body(i, c):
            c1, c2, c3, k = c
            fi = convert_element_type(i, np.float64)
            return c1 + x * fi, c2 + fnp.sin(c1), c3 + c2 * c2 + y, k + 1
        z = fnp.zeros(2)
        return fg.fori_loop(0, 4, body, (z, z, z, np.int32(0)))

    def ref(x, y):
        c1 = c2 = c3 = np.zeros(2)
        k = 0
        for i in range(4):
            c1, c2, c3, k = c1 + x * i, c2 + np.sin(c1), c3 + c2 * c2 + y, k + 1
        return c1, c2, c3, np.int32(k)

    x, y = rand(2), rand(2)
    check_jvp(f, ref, [x, y], [rand(2), None])
    # only y has a tangent: c3 gets one, c1 and c2 stay symbolic zeros
    _, tans, _ = check_jvp(f, ref, [x, y], [None, rand(2)], zero_tangent=(0, 1))
    assert tans[0] is None and tans[1] is None and tans[2] is not None and tans[3] is None


def test_jvp_fori_loop_carry_reset_to_constant():
    """A carry with a tangent at entry that the body overwrites with a
    constant: its tangent is zero after the loop (instantiated in the body)."""
    def f(x):
        return fg.fori_loop(0, 3, lambda i, c: (c[1] * 0.0 + 1.0, c[1] * 2.0), (x, x))

    def ref(x):
        a, b = x, x
        for _ in range(3):
            a, b = b * 0.0 + 1.0, b * 2.0
        return a, b

    check_jvp(f, ref, [rand(2)], [rand(2)])


def test_jvp_fori_loop_traced_bounds():
    def f(n, x):
        return fg.fori_loop(1, n, lambda i, c: c * fnp.tanh(c) + 0.5, x)

    def ref(n, x):
        for _ in range(1, int(n)):
            x = x * np.tanh(x) + 0.5
        return x

    x = rand(3)
    for n in (0, 1, 4):
        check_jvp(f, ref, [np.int64(n), x], [None, rand(3)])


def test_jvp_nested_fori_loops():
    def f(x, w):
        def outer(i, c):
            return fg.fori_loop(0, 3, lambda j, d: fnp.sin(d) * w + c, c)
        return fg.fori_loop(0, 2, outer, x)

    def ref(x, w):
        for _ in range(2):
            c = x
            d = c
            for _ in range(3):
                d = np.sin(d) * w + c
            x = d
        return x

    x, w = rand(3), rand(3)
    check_jvp(f, ref, [x, w], [rand(3), rand(3)])
    check_jvp(f, ref, [x, w], [None, rand(3)])


# ----------------------------------------------------------------------------- jvp: while_loop

def test_jvp_while_loop_float_condition():
    """The trip count depends on the carry's value (piecewise constant: the
    finite differences stay away from the switch points)."""
    def f(x, w):
        def cond(c):
            return fnp.sum(c[0]) < 10.0
        return fg.while_loop(cond, lambda c: (c[0] * 1.5 + w, c[1] + 1), (x, np.int32(0)))

    def ref(x, w):
        k = 0
        while np.sum(x) < 10.0:
            x, k = x * 1.5 + w, k + 1
        return x, np.int32(k)

    x, w = np.array([0.3, 0.4]), np.array([0.1, 0.2])
    program, _, _ = check_jvp(f, ref, [x, w], [rand(2), rand(2)])
    assert while_loop_p in _prims(program)
    check_jvp(f, ref, [x, w], [None, rand(2)])
    check_jvp(f, ref, [x, w], [rand(2), None])


def test_jvp_while_loop_counter_and_late_tangent():
    """cond on an integer counter; b gets its tangent from a after one step;
    cond closes over a value (its constants get no tangent)."""
    def f(x, n):
        def body(c):
            a, b, k = c
            return fnp.tanh(a) * x, b + a * a, k + 1
        return fg.while_loop(lambda c: c[2] < n, body, (x, fnp.zeros(2), np.int64(0)))

    def ref(x, n):
        a, b, k = x, np.zeros(2), 0
        while k < n:
            a, b, k = np.tanh(a) * x, b + a * a, k + 1
        return a, b, np.int64(k)

    x = rand(2)
    check_jvp(f, ref, [x, np.int64(4)], [rand(2), None])


# ----------------------------------------------------------------------------- jvp: scan

@pytest.mark.parametrize("reverse", [False, True])
def test_jvp_scan(reverse):
    def f(c, xs, w):
        def step(c, x):
            c = fnp.tanh(c * w + x)
            return c, (c * x, fnp.sum(c))
        return fg.scan(step, c, xs, reverse=reverse)

    def ref(c, xs, w):
        ys, ss = np.zeros_like(xs), np.zeros(xs.shape[0])
        order = range(xs.shape[0])[::-1] if reverse else range(xs.shape[0])
        for t in order:
            c = np.tanh(c * w + xs[t])
            ys[t], ss[t] = c * xs[t], np.sum(c)
        return c, ys, ss

    c, xs, w = rand(3), rand(5, 3), rand(3)
    program = fg.make_ir(f)(c, xs, w)
    assert scan_p in _prims(program)
    for tans in [(rand(3), rand(5, 3), rand(3)), (None, rand(5, 3), None), (None, None, rand(3)),
                 (rand(3), None, None)]:
        check_jvp(f, ref, [c, xs, w], list(tans))


def test_jvp_scan_zero_and_late_tangents():
    """A carry without a tangent at entry that gets one from xs; a y without
    any tangent (from an unrelated float carry), an integer carry and y."""
    def f(xs, u):
        def step(c, x):
            acc, other, k = c
            acc = acc * 0.9 + fnp.sin(x)
            return (acc, other * 2.0, k + 1), (acc * acc, other + 1.0, k)
        return fg.scan(step, (fnp.zeros(2), u, np.int32(0)), xs)

    def ref(xs, u):
        acc, other, k = np.zeros(2), u, 0
        ys1, ys2, ks = [], [], []
        for x in xs:
            acc = acc * 0.9 + np.sin(x)
            ys1.append(acc * acc)
            ys2.append(other + 1.0)
            ks.append(k)
            other, k = other * 2.0, k + 1
        return acc, other, np.int32(k), np.array(ys1), np.array(ys2), np.array(ks, np.int32)

    xs, u = rand(4, 2), rand(2)
    _, tans, _ = check_jvp(f, ref, [xs, u], [rand(4, 2), None], zero_tangent=(1, 4))
    assert tans[0] is not None and tans[3] is not None
    check_jvp(f, ref, [xs, u], [None, rand(2)], zero_tangent=(0, 3))


def test_jvp_scan_with_inner_fori_loop():
    def f(c, xs):
        def step(c, x):
            c = fg.fori_loop(0, 3, lambda i, d: fnp.sin(d) + x, c)
            return c, c * 2.0
        return fg.scan(step, c, xs)

    def ref(c, xs):
        ys = []
        for x in xs:
            for _ in range(3):
                c = np.sin(c) + x
            ys.append(c * 2.0)
        return c, np.array(ys)

    check_jvp(f, ref, [rand(2), rand(3, 2)], [rand(2), rand(3, 2)])


# ----------------------------------------------------------------------------- jvp: switch / cond

BRANCHES = [lambda x, w: (fnp.sin(x) * w, x * 0.0 + 3.0),
            lambda x, w: (x * w, fnp.tanh(x)),
            lambda x, w: (x + w, x * x)]
REF_BRANCHES = [lambda x, w: (np.sin(x) * w, x * 0.0 + 3.0),
                lambda x, w: (x * w, np.tanh(x)),
                lambda x, w: (x + w, x * x)]


@pytest.mark.parametrize("index", [-3, 0, 1, 2, 7])
def test_jvp_switch(index):
    def f(k, x, w):
        return fg.switch(k, BRANCHES, x, w)

    def ref(k, x, w):
        return REF_BRANCHES[min(max(int(k), 0), 2)](x, w)

    x, w = rand(3), rand(3)
    program = fg.make_ir(f)(np.int32(index), x, w)
    assert switch_p in _prims(program)
    check_jvp(f, ref, [np.int32(index), x, w], [None, rand(3), rand(3)])
    check_jvp(f, ref, [np.int32(index), x, w], [None, None, rand(3)])


def test_jvp_switch_branch_without_tangent():
    """Branch 0 returns a constant (no tangent) where branch 1 returns x: the
    tangent is instantiated as zeros in branch 0."""
    def f(k, x):
        return fg.switch(k, [lambda x: fnp.zeros(2) + 1.0, lambda x: x * 2.0], x)

    def ref(k, x):
        return np.ones(2) if int(k) <= 0 else x * 2.0

    for k in (0, 1):
        check_jvp(f, ref, [np.int32(k), rand(2)], [None, rand(2)])


@pytest.mark.parametrize("p", [True, False])
def test_jvp_cond(p):
    def f(p, x, y):
        return fg.cond(p, lambda a, b: fnp.sin(a) * b, lambda a, b: a - fnp.tanh(b), x, y)

    def ref(p, x, y):
        return np.sin(x) * y if p else x - np.tanh(y)

    x, y = rand(3), rand(3)
    check_jvp(f, ref, [np.bool_(p), x, y], [None, rand(3), rand(3)])
    check_jvp(f, ref, [np.bool_(p), x, y], [None, rand(3), None])


def test_jvp_switch_inside_fori_loop():
    def f(x):
        def body(i, c):
            return fg.switch(i % 2, [lambda c: fnp.sin(c), lambda c: c * c + 0.1], c)
        return fg.fori_loop(0, 5, body, x)

    def ref(x):
        for i in range(5):
            x = np.sin(x) if i % 2 == 0 else x * x + 0.1
        return x

    check_jvp(f, ref, [rand(3) * 0.5], [rand(3)])


def test_jvp_of_jvp_through_fori_loop():
    """The JVP program of a loop is made of loop primitives: it can be
    differentiated again (second derivative along one direction)."""
    def ref(x):
        for _ in range(3):
            x = np.sin(x) * 1.3
        return x

    program = fg.make_ir(lambda x: fg.fori_loop(0, 3, lambda i, c: fnp.sin(c) * 1.3, x))(np.zeros(2))

    def first(x, t):
        return [jvp_program(program, [x], [t])[1][0]]

    x, t = rand(2), rand(2)
    inner = trace_flat(first, [aval_of(x), aval_of(t)])
    (_, ), (second,) = jvp_program(inner, [x, t], [t, None])
    h = 1e-4
    want = (ref(x + h * t) - 2 * ref(x) + ref(x - h * t)) / h ** 2
    close(second, want, 1e-5)


# ----------------------------------------------------------------------------- vmap helpers

def take(x, d, b):
    return x if d is None else np.take(x, b, axis=d)


def check_vmap(program, args, dims, axis_size, tol=1e-12):
    """batch_program against a Python loop of eval_program, concrete and traced."""
    want = [eval_program(program, [take(a, d, b) for a, d in zip(args, dims)]) for b in range(axis_size)]
    want = [np.stack([w[k] for w in want]) for k in range(len(want[0]))]
    outs, out_dims = batch_program(program, list(args), list(dims), axis_size)
    assert len(outs) == len(want)
    for o, d, w in zip(outs, out_dims, want):
        o = np.asarray(o)
        got = np.broadcast_to(o, (axis_size,) + o.shape) if d is None else np.moveaxis(o, d, 0)
        assert got.dtype == w.dtype
        close(got, w, tol)

    def fun(*a):
        o, ds = batch_program(program, list(a), list(dims), axis_size)
        return [move_to(v, d, 0, axis_size) for v, d in zip(o, ds)]

    traced = trace_flat(fun, [aval_of(a) for a in args])
    for o, w in zip(eval_program(traced, list(args)), want):
        close(o, w, tol)
    return out_dims, traced


def ir(f, *args):
    return fg.make_ir(f)(*args)


# ----------------------------------------------------------------------------- vmap: fori_loop

def _fori_prog():
    def f(x, w):
        def body(i, c):
            a, b, k = c
            return fnp.sin(a) * w, b + a * convert_element_type(i, np.float64), k + 1
        return fg.fori_loop(0, 4, body, (x, fnp.zeros(3) + 1.0, np.int32(0)))
    return ir(f, rand(3), rand(3))


def test_vmap_fori_loop_batched_carry_const_both():
    program = _fori_prog()
    B = 4
    # batched carry only: b is unbatched at entry and batched after one step
    dims, traced = check_vmap(program, [rand(B, 3), rand(3)], [0, None], B)
    assert dims[0] is not None and dims[1] is not None and dims[2] is None
    assert fori_loop_p in _prims(traced)
    # batched const only: a becomes batched after one step, then b
    dims, _ = check_vmap(program, [rand(3), rand(B, 3)], [None, 0], B)
    assert dims[0] is not None and dims[1] is not None and dims[2] is None
    # both, batch dims not 0
    check_vmap(program, [rand(3, B), rand(3, B)], [1, -1], B)


def test_vmap_fori_loop_unbatched_carry_stays_unbatched():
    def f(x, w):
        return fg.fori_loop(0, 3, lambda i, c: (c[0] * w, c[1] + 1.0), (x, fnp.zeros(2)))
    program = ir(f, rand(2), rand(2))
    dims, _ = check_vmap(program, [rand(5, 2), rand(2)], [0, None], 5)
    assert dims == [0, None]


@pytest.mark.parametrize("which", ["hi", "lo", "both"])
def test_vmap_fori_loop_batched_bounds(which):
    """A trip count per example: a while loop on a batched predicate."""
    def f(lo, hi, x):
        def body(i, c):
            return c * 1.5 + convert_element_type(i, np.float64), c[0] + 0.0
        return fg.fori_loop(lo, hi, lambda i, c: (body(i, c[0])[0], c[1] + 1), (x, np.int32(0)))
    program = ir(f, np.int32(0), np.int32(3), rand(2))
    B = 5
    los = np.array([0, 2, 1, 3, 0], np.int32)
    his = np.array([3, 5, 1, 2, 6], np.int32)
    args = {"hi": ([np.int32(1), his, rand(B, 2)], [None, 0, 0]),
            "lo": ([los, np.int32(4), rand(2)], [0, None, None]),
            "both": ([los, his, rand(2, B)], [0, 0, 1])}[which]
    dims, traced = check_vmap(program, *args, B)
    assert while_loop_p in _prims(traced)


def test_vmap_nested_fori_loops():
    def f(x, w):
        def outer(i, c):
            return fg.fori_loop(0, 2, lambda j, d: fnp.tanh(d * w) + c, c)
        return fg.fori_loop(0, 3, outer, x)
    program = ir(f, rand(3), rand(3))
    check_vmap(program, [rand(4, 3), rand(3)], [0, None], 4)
    check_vmap(program, [rand(3), rand(3, 4)], [None, 1], 4)


# ----------------------------------------------------------------------------- vmap: while_loop

def test_vmap_while_loop_unbatched_predicate():
    """The predicate depends on an unbatched counter only: one loop, the
    batched carry updated every step."""
    def f(x, w):
        return fg.while_loop(lambda c: c[1] < 4, lambda c: (fnp.sin(c[0]) * w, c[1] + 1), (x, np.int32(0)))
    program = ir(f, rand(3), rand(3))
    dims, traced = check_vmap(program, [rand(6, 3), rand(3)], [0, None], 6)
    assert dims[1] is None
    dims, _ = check_vmap(program, [rand(3), rand(3, 6)], [None, 1], 6)
    assert dims[1] is None


def test_vmap_while_loop_batched_predicate():
    """Each example stops at its own step: different trip counts."""
    def f(x, limit):
        def body(c):
            return c[0] * 1.7 + 0.1, c[1] + 1
        return fg.while_loop(lambda c: fnp.sum(c[0]) < limit, body, (x, np.int32(0)))
    program = ir(f, rand(2), np.float64(5.0))
    B = 6
    x = np.abs(rand(B, 2)) + 0.1
    limits = np.array([0.0, 1.0, 5.0, 30.0, 2.0, 100.0])
    dims, traced = check_vmap(program, [x, limits], [0, 0], B)
    counts = batch_program(program, [x, limits], [0, 0], B)[0][1]
    assert len(set(np.asarray(counts).tolist())) > 2          # trip counts do differ
    check_vmap(program, [x, np.float64(5.0)], [0, None], B)   # batched through the carry
    check_vmap(program, [np.array([0.5, 0.2]), limits], [None, 0], B)  # through a cond const
    check_vmap(program, [x.T.copy(), limits], [1, 0], B)


def test_vmap_while_loop_batched_predicate_with_inner_loop_and_branch():
    def f(x, n):
        def body(c):
            v, k = c
            v = fg.fori_loop(0, 2, lambda i, v: v * 0.5 + 1.0, v)
            v = fg.cond(fnp.sum(v) > 3.0, lambda v: v * 0.9, lambda v: v + 0.3, v)
            return v, k + 1
        return fg.while_loop(lambda c: c[1] < n, body, (x, np.int32(0)))
    program = ir(f, rand(2), np.int32(3))
    check_vmap(program, [rand(4, 2), np.array([0, 1, 3, 5], np.int32)], [0, 0], 4)


# ----------------------------------------------------------------------------- vmap: scan

@pytest.mark.parametrize("reverse", [False, True])
def test_vmap_scan(reverse):
    def f(c, xs, w):
        def step(c, x):
            c = fnp.tanh(c * w + x)
            return c, (c * x, fnp.sum(c), x * 0.0 + 1.0)
        return fg.scan(step, c, xs, reverse=reverse)
    program = ir(f, rand(3), rand(5, 3), rand(3))
    B = 4
    # batched xs (batch dim 0, then 2): carry and ys become batched
    dims, traced = check_vmap(program, [rand(3), rand(B, 5, 3), rand(3)], [None, 0, None], B)
    assert dims[0] is not None and dims[1] is not None and dims[3] is not None
    assert scan_p in _prims(traced)
    check_vmap(program, [rand(3), rand(5, 3, B), rand(3)], [None, 2, None], B)
    check_vmap(program, [rand(3), rand(5, B, 3), rand(3)], [None, 1, None], B)
    # batched carry only
    check_vmap(program, [rand(B, 3), rand(5, 3), rand(3)], [0, None, None], B)
    # batched const only
    check_vmap(program, [rand(3), rand(5, 3), rand(3, B)], [None, None, 1], B)


def test_vmap_scan_unbatched_parts_stay_unbatched():
    def f(c, xs, u):
        def step(c, x):
            a, k = c
            return (a + x, k + 1), (a * 2.0, u * 1.0)
        return fg.scan(step, (c, np.int32(0)), xs)
    program = ir(f, rand(2), rand(3, 2), rand(2))
    dims, _ = check_vmap(program, [rand(2), rand(3, 2, 5), rand(2)], [None, 2, None], 5)
    assert dims[1] is None and dims[3] is None


def test_vmap_scan_with_inner_fori_loop():
    def f(c, xs):
        def step(c, x):
            c = fg.fori_loop(0, 2, lambda i, d: fnp.sin(d) + x, c)
            return c, c * 2.0
        return fg.scan(step, c, xs)
    program = ir(f, rand(2), rand(3, 2))
    check_vmap(program, [rand(4, 2), rand(3, 2)], [0, None], 4)
    check_vmap(program, [rand(2), rand(3, 4, 2)], [None, 1], 4)


# ----------------------------------------------------------------------------- vmap: switch / cond

def _switch_prog():
    branches = [lambda x, w: (fnp.sin(x) * w, x * 0.0 + 3.0),
                lambda x, w: (x * w, fnp.tanh(x)),
                lambda x, w: (x + w, w * 1.0)]
    return ir(lambda k, x, w: fg.switch(k, branches, x, w), np.int32(0), rand(3), rand(3))


def test_vmap_switch_unbatched_index():
    program = _switch_prog()
    B = 4
    for k in (-1, 0, 1, 2, 9):
        dims, traced = check_vmap(program, [np.int32(k), rand(B, 3), rand(3)], [None, 0, None], B)
        assert dims == [0, 0]    # output 1 is batched in branch 1 only: batched in all
        assert switch_p in _prims(traced)
        check_vmap(program, [np.int32(k), rand(3), rand(3, B)], [None, None, 1], B)


def test_vmap_switch_batched_index():
    program = _switch_prog()
    B = 6
    ks = np.array([-2, 0, 1, 2, 5, 1], np.int32)
    check_vmap(program, [ks, rand(B, 3), rand(3)], [0, 0, None], B)
    check_vmap(program, [ks, rand(3), rand(3)], [0, None, None], B)
    check_vmap(program, [ks, rand(3, B), rand(B, 3)], [0, 1, 0], B)


def test_vmap_cond_batched_predicate():
    def f(p, x):
        return fg.cond(p, lambda x: fnp.sin(x), lambda x: x * x - 1.0, x)
    program = ir(f, np.bool_(True), rand(3))
    ps = np.array([True, False, False, True])
    check_vmap(program, [ps, rand(4, 3)], [0, 0], 4)
    check_vmap(program, [ps, rand(3)], [0, None], 4)

    def g(x):    # the predicate computed from the batched value
        return fg.cond(fnp.sum(x) > 0.0, lambda x: fnp.sin(x), lambda x: x * x - 1.0, x)
    check_vmap(ir(g, rand(3)), [rand(3, 8)], [1], 8)


def test_vmap_switch_inside_scan_batched_index():
    def f(xs, ks):
        def step(c, xk):
            x, k = xk
            c = fg.switch(k, [lambda c: c + x, lambda c: c * x, lambda c: fnp.sin(c)], c)
            return c, c
        return fg.scan(step, fnp.zeros(2) + 0.5, (xs, ks))
    program = ir(f, rand(4, 2), np.zeros(4, np.int32))
    ks = RNG.integers(0, 3, size=(4, 3)).astype(np.int32)
    check_vmap(program, [rand(4, 3, 2), ks], [1, 1], 3)
    check_vmap(program, [rand(4, 2), ks.T.copy()], [None, 0], 3)


# ----------------------------------------------------------------------------- compositions

def test_vmap_of_jvp_of_fori_loop():
    """Batch the traced JVP program of a loop (tangents per example)."""
    def ref(x, w):
        for _ in range(3):
            x = np.sin(x * w) + x
        return x
    program = ir(lambda x, w: fg.fori_loop(0, 3, lambda i, c: fnp.sin(c * w) + c, x), rand(2), rand(2))

    def jvp_fun(x, w, tx):
        outs, tans = jvp_program(program, [x, w], [tx, None])
        return [outs[0], tans[0]]

    x, w = rand(2), rand(2)
    jprog = trace_flat(jvp_fun, [aval_of(x), aval_of(w), aval_of(x)])
    B = 3
    tx = rand(B, 2)
    dims, _ = check_vmap(jprog, [x, w, tx], [None, None, 0], B)
    outs, _ = batch_program(jprog, [x, w, tx], [None, None, 0], B)
    for b in range(B):
        close(np.moveaxis(np.asarray(outs[1]), dims[1], 0)[b], fd_jvp(ref, [x, w], [tx[b], None])[0], 1e-6)


def test_jvp_of_batched_while_loop():
    """jvp of the batched program (a while loop on a batched predicate)."""
    def f(x, limit):
        return fg.while_loop(lambda c: fnp.sum(c) < limit, lambda c: c * 1.7 + 0.1, x)

    def ref1(x, limit):
        while np.sum(x) < limit:
            x = x * 1.7 + 0.1
        return x

    x0 = np.abs(rand(2)) + 0.1
    program = ir(f, x0, np.float64(3.0))
    B = 3
    limits = np.array([1.0, 4.0, 20.0])

    def batched(x):
        o, d = batch_program(program, [x, limits], [0, 0], B)
        return [move_to(o[0], d[0], 0, B)]

    xs = np.abs(rand(B, 2)) + 0.1
    bprog = trace_flat(batched, [aval_of(xs)])
    t = rand(B, 2)
    _, (tan,) = jvp_program(bprog, [xs], [t])
    for b in range(B):
        close(tan[b], fd_jvp(lambda x: ref1(x, limits[b]), [xs[b]], [t[b]])[0], 1e-6)


# ----------------------------------------------------------------------------- more cases

def test_jvp_and_vmap_scan_without_xs():
    def f(c, w):
        return fg.scan(lambda c, _: (fnp.sin(c) * w, c * 2.0), c, None, length=4)

    def ref(c, w):
        ys = []
        for _ in range(4):
            ys.append(c * 2.0)
            c = np.sin(c) * w
        return c, np.array(ys)

    c, w = rand(2), rand(2)
    check_jvp(f, ref, [c, w], [rand(2), rand(2)])
    program = ir(f, c, w)
    dims, _ = check_vmap(program, [rand(2), rand(3, 2)], [None, 0], 3)
    assert dims == [0, 1]    # ys batched at 1, the scanned axis first


def test_jvp_float32_loop_keeps_dtypes():
    def f(x):
        return fg.fori_loop(0, 3, lambda i, c: fnp.sin(c) * np.float32(1.5), x)

    x = rand(3).astype(np.float32)
    program = ir(f, x)
    for outs, tans in [jvp_concrete(program, [x], [rand(3)]),          # a float64 tangent: cast
                       jvp_traced(program, [x], [rand(3).astype(np.float32)])[:2]]:
        assert np.asarray(outs[0]).dtype == np.float32
        assert np.asarray(tans[0]).dtype == np.float32


def test_vmap_switch_batched_index_integer_and_bool_outputs():
    branches = [lambda x, n: (x + 1.0, n + 1, x[0] > 0.0),
                lambda x, n: (x * 2.0, n * 3, x[1] > 0.0)]
    program = ir(lambda k, x, n: fg.switch(k, branches, x, n), np.int32(0), rand(2), np.int32(1))
    ks = np.array([1, 0, 1, 0], np.int32)
    check_vmap(program, [ks, rand(4, 2), np.arange(4, dtype=np.int32)], [0, 0, 0], 4)
    check_vmap(program, [ks, rand(2), np.int32(2)], [0, None, None], 4)


def test_vmap_scan_batched_xs_with_integer_carry_from_xs():
    def f(xs, ns):
        def step(c, xn):
            x, n = xn
            a, k = c
            return (a * x + 1.0, k + n), a
        return fg.scan(step, (fnp.zeros(2) + 1.0, np.int32(0)), (xs, ns))
    program = ir(f, rand(3, 2), np.zeros(3, np.int32))
    ns = np.arange(15, dtype=np.int32).reshape(3, 5)
    dims, _ = check_vmap(program, [rand(3, 2), ns], [None, 1], 5)
    assert dims == [None, 0, None]


def test_user_api_jvp_and_vmap():
    """fg.jvp and fg.vmap (built on the interpreters) through the loops."""
    def f(x, w):
        def body(i, c):
            a, b = c
            return fnp.sin(a) * w, b + a * x
        return fg.fori_loop(0, 4, body, (x, fnp.zeros(3)))[1]

    def ref(x, w):
        a, b = x, np.zeros(3)
        for _ in range(4):
            a, b = np.sin(a) * w, b + a * x
        return b

    x, w, tx = rand(3), rand(3), rand(3)
    out, tan = fg.jvp(f, (x, w), (tx, np.zeros(3)))
    close(out, ref(x, w), 1e-12)
    close(tan, fd_jvp(ref, [x, w], [tx, None])[0], 1e-6)

    def h(x, lim):
        return fg.while_loop(lambda c: fnp.sum(c[0]) < lim, lambda c: (c[0] * 1.5 + 0.1, c[1] + 1),
                             (x, np.int32(0)))

    xs, lims = np.abs(rand(4, 2)) + 0.1, np.array([1.0, 2.0, 5.0, 30.0])
    got_x, got_k = fg.vmap(h)(xs, lims)
    for b in range(4):
        v, k = xs[b], 0
        while np.sum(v) < lims[b]:
            v, k = v * 1.5 + 0.1, k + 1
        close(got_x[b], v, 1e-12)
        assert int(got_k[b]) == k
