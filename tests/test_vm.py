"""The vm backend: one compiled machine that runs programs encoded as data.

Checked against the NumPy interpreter: every primitive (the programs of
test_lowering_tables.py, which use each one), random programs and their
gradients (hypothesis, float64 and float32, also inside loops), control flow,
dtypes at their edges; and how the Numba backend hands programs to it.
"""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import funcgrad as fg
import funcgrad.numpy as fnp
from funcgrad import primitives as P
from funcgrad.core.trace import primitives

pytest.importorskip("numba")

from funcgrad.backends import interpreter, vm  # noqa: E402
from funcgrad.backends.vm import opcodes as machine  # noqa: E402
from funcgrad.backends.vm.encode import encode, vm_supported  # noqa: E402
from funcgrad.backends.vm.lowering import vm_lowering  # noqa: E402
from test_lowering_tables import CASES, _float_args, _float_terms, _traced, _used  # noqa: E402
from test_passes import OPS, _apply_op  # noqa: E402

RNG = np.random.default_rng(11)


def assert_matches(got, want, rtol, label=""):
    assert len(got) == len(want)
    for i, (g, w) in enumerate(zip(got, want)):
        g, w = np.asarray(g), np.asarray(w)
        where = f"{label}[{i}]"
        assert g.dtype == w.dtype and g.shape == w.shape, f"{where}: {g.dtype}{g.shape} != {w.dtype}{w.shape}"
        if w.dtype.kind == "f":
            np.testing.assert_allclose(g, w, rtol=rtol, atol=rtol, err_msg=where)
        else:
            np.testing.assert_array_equal(g, w, err_msg=where)


def on_vm(program, *args):
    return vm.compile_program(program)(*args)


def on_interpreter(program, *args):
    return interpreter.compile_program(program)(*args)


# ----------------------------------------------------------------------------- the registry

def test_every_primitive_has_a_vm_rule():
    missing = sorted(name for name, prim in primitives.items() if prim not in vm_lowering)
    assert not missing, f"add a rule for {missing} to funcgrad/backends/vm/lowering.py"
    registered = set(primitives.values())
    assert all(p in registered for p in vm_lowering)


# the float32 case of test_lowering_tables leaves out the structural rules (they
# cost Numba compiles there); here nothing compiles, so every rule runs in both widths
VM_CASES = dict(CASES)
VM_CASES["float32"] = (_float_terms, lambda: _float_args(np.float32), 2e-6)


@fg.custom_jvp
def _softplus(x):
    return fnp.log1p(fnp.exp(x))


_softplus.defjvp(lambda primals, tangents: (_softplus(primals[0]), tangents[0] * P.logistic(primals[0])))


@fg.custom_vjp
def _scaled(x, y):
    return fnp.sin(x) * y


_scaled.defvjp(lambda x, y: (fnp.sin(x) * y, (x, y)),
               lambda res, g: (g * fnp.cos(res[0]) * res[1], g * fnp.sin(res[0])))


def _call_terms(x, y):
    """The call primitives, which the vm encodes in place (the Numba backend inlines them)."""
    return [("custom_jvp_call", _softplus(x)), ("custom_vjp_call", _scaled(x, y)),
            ("checkpoint", fg.checkpoint(lambda a, b: fnp.tanh(a @ b.T))(x, x))]


VM_CASES["calls"] = (_call_terms, lambda: (RNG.normal(size=(3, 4)), RNG.normal(size=4)), 1e-13)
_programs = {}


def _case(case):
    if case not in _programs:
        terms_fn, make_args, tol = VM_CASES[case]
        args = make_args()
        program, labels = _traced(terms_fn, *args)
        _programs[case] = (program, labels, args, tol)
    return _programs[case]


def test_the_programs_use_every_primitive():
    used = set()
    for case in VM_CASES:
        used |= _used(_case(case)[0])
    assert not sorted(p.name for p in set(vm_lowering) - used)


@pytest.mark.parametrize("passes", [False, True])
@pytest.mark.parametrize("case", list(VM_CASES))
def test_every_rule_matches_the_interpreter(case, passes):
    program, labels, args, tol = _case(case)
    if passes:
        from funcgrad.passes import default_pipeline
        program = default_pipeline.run(program)
    assert not vm_supported(program)
    got = on_vm(program, *args)
    want = on_interpreter(program, *args)
    for label, g, w in zip(labels, got, want):
        assert_matches([g], [w], tol, label)


# ----------------------------------------------------------------------------- random programs
# test_passes.py's random programs (elementwise, identities, broadcasting,
# reductions, reshapes, transposes, indexing, slices), with matrix products

def _apply(op, a, b, k):
    if op == "matmul":
        if a.ndim == 2 and b.ndim >= 1 and a.shape[1] == b.shape[0]:
            return a @ b
        if a.ndim == 2:
            return a @ a.T
        return a
    return _apply_op(op, a, b, k)


def _random_function(plan, n_out):
    def f(x, y, s):
        pool = [x, y, s]
        for op, i, j, k in plan:
            pool.append(_apply(op, pool[i % len(pool)], pool[j % len(pool)], k))
        return tuple(pool[-n_out:])
    return f


_plans = st.lists(st.tuples(st.sampled_from(OPS + ("matmul",) * 3), st.integers(0, 50), st.integers(0, 50),
                            st.integers(0, 50)), min_size=1, max_size=14)


def _random_case(plan, n_out, dtype, seed, looped):
    """A random program's value and gradient (inside a loop body when ``looped``)
    and its arguments."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(3, 4)).astype(dtype)
    y = rng.normal(size=(4,)).astype(dtype)
    s = dtype(rng.normal())
    f = _random_function(plan, n_out)

    def loss(x, y, s):
        return sum(fnp.sum(fnp.tanh(o)) for o in f(x, y, s))

    def g(x, y, s):
        value_grad = fg.value_and_grad(loss, argnums=(0, 1, 2))
        if not looped:
            return value_grad(x, y, s)
        # the same gradient, twice, inside a loop body: carries, consts, the counter
        def body(i, c):
            v, (gx, gy, gs) = value_grad(x * c[0], y, s)
            return (c[0] * 0.5 + 0.5 + gx * 0.01, c[1] + v + fnp.sum(gy) * 0.1 + gs)
        return fg.fori_loop(0, 2, body, (x * 0 + 1, s * 0))

    return fg.make_ir(g)(x, y, s), (x, y, s)


_case_strategies = dict(plan=_plans, n_out=st.integers(1, 3), dtype=st.sampled_from([np.float64, np.float32]),
                        seed=st.integers(0, 2 ** 16), looped=st.booleans())


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(**_case_strategies)
def test_random_programs_and_their_gradients(plan, n_out, dtype, seed, looped):
    program, args = _random_case(plan, n_out, dtype, seed, looped)
    tol = 1e-10 if dtype == np.float64 else 3e-4
    assert_matches(on_vm(program, *args), on_interpreter(program, *args), tol)


@settings(max_examples=6, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(**_case_strategies)
def test_random_programs_agree_on_all_three_tiers(plan, n_out, dtype, seed, looped):
    """The same, compiled with Numba too (a few examples: each costs a compile)."""
    from funcgrad.backends import numba_backend

    program, args = _random_case(plan, n_out, dtype, seed, looped)
    tol = 1e-10 if dtype == np.float64 else 3e-4
    want = on_interpreter(program, *args)
    assert_matches(on_vm(program, *args), want, tol)
    assert_matches(numba_backend.compile_program(program)(*args), want, tol)


# ----------------------------------------------------------------------------- control flow and dtypes

def _both(f, *args, rtol=1e-12):
    program = fg.make_ir(f)(*args)
    flat = fg.tree.leaves(args)
    got = on_vm(program, *flat)
    assert_matches(got, on_interpreter(program, *flat), rtol)
    return got


def test_loop_carries_that_swap_and_pass_through():
    x, y = RNG.normal(size=3), RNG.normal(size=3)
    _both(lambda x, y: fg.fori_loop(0, 5, lambda i, c: (c[1], c[0] * 2.0, c[2]), (x, y, x)), x, y)
    _both(lambda x, y: fg.while_loop(lambda c: c[2] < 7, lambda c: (c[1] + 1.0, c[0], c[2] + 1), (x, y, 0)),
          x, y)


def test_nested_loops_and_branches():
    x = RNG.normal(size=(4, 3))

    def f(x):
        def row(c, r):
            inner = fg.fori_loop(0, 3, lambda i, a: a * 0.5 + r[i], c)
            out = fg.switch(fnp.argmax(r), [lambda v: v * 2, lambda v: -v, lambda v: v + 1], inner)
            return out, fnp.sum(out)
        return fg.scan(row, x[0], x)
    _both(f, x)
    _both(lambda x: fg.fori_loop(0, 0, lambda i, c: c + 1, x), x)      # no iterations
    _both(lambda x: fg.scan(lambda c, r: (c, r * 2), 1.0, x[:0]), x)    # a scan of length 0


def test_gradient_through_a_loop_free_training_step():
    params = {"w": RNG.normal(size=(5, 3)), "b": np.zeros(3)}
    xb, yb = RNG.normal(size=(8, 5)), RNG.normal(size=(8, 3))

    def loss(p, x, y):
        return fnp.mean((fnp.tanh(x @ p["w"] + p["b"]) - y) ** 2)
    _both(lambda p, x, y: fg.value_and_grad(loss)(p, x, y), params, xb, yb)


def test_integers_wrap_at_their_width():
    a = np.array([2**31 - 1, -2**31, 7], np.int32)
    u = np.array([2**32 - 1, 5, 2**31], np.uint32)
    b8 = np.array([100, -100, 3], np.int8)
    got = _both(lambda a, u, b: (a + a, a * 3, -a, u + u, u * u, u - 7, b * b, ~u, a // 3, a % -3), a, u, b8)
    with np.errstate(over="ignore"):
        np.testing.assert_array_equal(got[0], a + a)       # the interpreter agrees with NumPy itself
        np.testing.assert_array_equal(got[4], u * u)


def test_uint64_bits_and_float64_random_numbers():
    key = fg.random.key(3)
    _both(lambda k: (fg.random.normal(k, (6,), dtype=np.float64), fg.random.uniform(k, (4,), dtype=np.float64),
                     fg.random.randint(k, (5,), 0, 10**12)), key)
    big = np.array([2**63 + 5, 3, 2**64 - 1], np.uint64)
    _both(lambda v: (v > np.uint64(4), v // np.uint64(3), v % np.uint64(7), fnp.maximum(v, np.uint64(2**63)),
                     P.shift_right_logical(v, np.uint64(60)), v.astype(np.float64), v * np.uint64(3)), big)


def test_float32_stays_float32_and_is_rounded_as_it_is_stored():
    x = RNG.normal(size=(16,)).astype(np.float32)
    got = _both(lambda x: (x + np.float32(1e-8), x * x / np.float32(3), fnp.sqrt(fnp.abs(x)),
                           fnp.sum(x * np.float32(0.1))), x, rtol=1e-6)
    assert all(np.asarray(g).dtype == np.float32 for g in got)
    np.testing.assert_array_equal(got[0], x + np.float32(1e-8))    # exact float32 arithmetic
    np.testing.assert_array_equal(got[1], x * x / np.float32(3))


def test_inputs_are_not_mutated_and_outputs_are_fresh():
    x = RNG.normal(size=(3, 4))
    xt = np.asfortranarray(x)
    keep = x.copy()

    def f(x):   # pad_add into the input's buffer at its last use: in the heap, never in x
        return P.pad_add(x, x[0, 0] * 1.0, (1, 1)), x
    program = fg.make_ir(f)(x)
    run = vm.compile_program(program)
    out = run(xt)
    np.testing.assert_array_equal(x, keep)
    assert not np.shares_memory(out[1], xt) and not np.shares_memory(out[0], out[1])
    np.testing.assert_array_equal(out[1], x)
    assert out[0][1, 1] == x[1, 1] + x[0, 0]
    scalar_out = vm.compile_program(fg.make_ir(lambda s: s * 2.0)(1.5))(1.5)[0]
    assert isinstance(scalar_out, np.float64) and scalar_out == 3.0
    empty = vm.compile_program(fg.make_ir(lambda e: fnp.sum(e) + e.shape[0])(np.zeros((0, 3))))
    assert empty(np.zeros((0, 3)))[0] == 0.0


def test_unsupported_dtypes_are_named():
    program = fg.make_ir(lambda x: x * 2)(np.ones(3, np.float16))
    assert vm_supported(program) == {"dtype float16"}
    with pytest.raises(fg.errors.UnsupportedError, match="float16"):
        encode(program)


# ----------------------------------------------------------------------------- the encoding

def test_runs_are_reused_views_cost_nothing_updates_happen_in_place():
    x = RNG.normal(size=(100,))

    def chain(x):
        for _ in range(50):
            x = fnp.sin(x) * 1.5
        return x.reshape(10, 10)
    enc = encode(fg.make_ir(chain)(x))
    assert len(enc.code) == 100                           # sin, mul; the reshape is the same run
    assert enc.f_size < 5 * 100                           # 100 values of 100 in a few recycled runs

    def pieces(x):                                        # p[0] ... p[7]: one buffer updated in place
        return fg.grad(lambda p: sum(p[k] * k for k in range(8)))(x)
    from funcgrad.passes import default_pipeline
    program = default_pipeline.run(fg.make_ir(pieces)(x[:8]))
    enc = encode(program)
    ops = enc.code[:, machine.OP]
    assert (ops == machine.MOVE_F).sum() + (ops == machine.COPY_F).sum() <= 8 + 1
    assert_matches(on_vm(program, x[:8]), on_interpreter(program, x[:8]), 1e-12)


# ----------------------------------------------------------------------------- the Numba backend's tiers

def test_large_programs_run_on_the_machine(monkeypatch):
    from funcgrad.backends import numba_backend

    monkeypatch.setattr(fg.config, "max_compiled_eqns", 10)
    x = RNG.normal(size=(6,))

    def f(x):
        for _ in range(10):
            x = fnp.tanh(x) * 0.9 + 0.1
        return fnp.sum(x)
    run = numba_backend.compile_program(fg.make_ir(fg.value_and_grad(f))(x))
    assert run.source is None and hasattr(run, "encoded")
    assert_matches(run(x), list(fg.jit(fg.value_and_grad(f), backend="interpret")(x)), 1e-12)
    # what the machine cannot hold still runs, on the interpreter
    run16 = numba_backend.compile_program(fg.make_ir(f)(x.astype(np.float16)))
    assert not hasattr(run16, "encoded")
    assert np.isclose(float(run16(x.astype(np.float16))[0]), float(f(x)), rtol=1e-2)


def test_async_first_calls_run_on_the_machine(monkeypatch):
    from funcgrad.backends import numba_backend

    vm.ensure_machine()
    monkeypatch.setattr(fg.config, "compile_mode", "async")
    x = RNG.normal(size=(7,))

    def f(x):
        return fnp.sum(fnp.exp(fnp.sin(x)) * 0.25 + x * 1.125)   # a new program, not yet compiled
    run = numba_backend.compile_program(fg.make_ir(f)(x))
    first = run(x)
    assert run.first_tier.runner is not None           # answered by the machine
    np.testing.assert_allclose(first[0], np.sum(np.exp(np.sin(x)) * 0.25 + x * 1.125), rtol=1e-13)
    assert run.wait()
    np.testing.assert_allclose(run(x)[0], first[0], rtol=1e-13)   # now compiled


def test_async_first_calls_without_the_machine_use_the_interpreter(monkeypatch):
    from funcgrad.backends import numba_backend

    monkeypatch.setattr(fg.config, "compile_mode", "async")
    monkeypatch.setattr(fg.config, "vm_first_calls", False)
    x = RNG.normal(size=(5,))
    run = numba_backend.compile_program(fg.make_ir(lambda x: fnp.cos(x) * 3.5 - 0.75)(x))
    np.testing.assert_allclose(run(x)[0], np.cos(x) * 3.5 - 0.75, rtol=1e-13)
    assert run.first_tier.get() is None
    run.wait()


def test_past_the_compile_budget_new_programs_run_on_the_machine(monkeypatch):
    from funcgrad.backends import numba_backend

    x = RNG.normal(size=(4,))
    monkeypatch.setattr(fg.config, "max_compiled_programs", len(numba_backend._modules))
    run = numba_backend.compile_program(fg.make_ir(lambda x: fnp.sinh(x) * 0.3125 - 2.0)(x))
    assert hasattr(run, "encoded") and run.source is None
    np.testing.assert_allclose(run(x)[0], np.sinh(x) * 0.3125 - 2.0, rtol=1e-13)
    monkeypatch.setattr(fg.config, "max_compiled_programs", 10**9)
    run = numba_backend.compile_program(fg.make_ir(lambda x: fnp.sinh(x) * 0.3125 - 2.0)(x))
    assert run.source is not None


def test_async_large_programs_never_wait_for_the_machine(monkeypatch):
    from funcgrad.backends import numba_backend

    monkeypatch.setattr(fg.config, "compile_mode", "async")
    monkeypatch.setattr(fg.config, "max_compiled_eqns", 3)
    monkeypatch.setattr(vm, "machine_ready", lambda: False)   # as on a cold cache
    x = RNG.normal(size=(5,))
    run = numba_backend.compile_program(fg.make_ir(lambda x: fnp.sin(x) * 2.5 + fnp.cos(x) - 0.5)(x))
    np.testing.assert_allclose(run(x)[0], np.sin(x) * 2.5 + np.cos(x) - 0.5, rtol=1e-13)
    assert run.wait() and run.first_tier.runner is not None
    np.testing.assert_allclose(run(x)[0], np.sin(x) * 2.5 + np.cos(x) - 0.5, rtol=1e-13)
