"""Tracing and compiling from several threads at once.

Each thread traces on its own (the trace stack is thread-local, as in JAX),
and the caches that tracing and compilation share (transformed programs,
``jit``'s fast path, Numba's compile queue) are safe under concurrent use.

The deterministic tests hold one thread inside a trace while another calls
funcgrad: before traces were per thread, the second thread's calls recorded
into the first thread's trace (returning Tracers, or raising
LeakedTracerError). The stress test mixes every entry point from 8 threads,
with a thread switch interval of 1 us to shake out races, and checks the type
and value of every result against NumPy formulas written by hand.
"""
import sys
import threading

import numpy as np
import pytest

import funcgrad as fg
import funcgrad.numpy as fnp
from funcgrad.core.ir import Program


def loss(w, x):
    return fnp.sum(fnp.tanh(x @ w) ** 2)


def loss_ref(w, x):
    """Value and gradient of sum(tanh(x @ w)**2), by hand."""
    t = np.tanh(x @ w)
    return np.sum(t ** 2), x.T @ (2 * t * (1 - t ** 2))


def repeated_sin(x, n):
    for _ in range(n):
        x = fnp.sin(x)
    return fnp.sum(x)


def repeated_sin_grad_ref(x, n):
    g = np.ones_like(x)
    for _ in range(n):
        g = g * np.cos(x)
        x = np.sin(x)
    return g


def _inputs(seed, n=5, d=3):
    rng = np.random.default_rng(seed)
    return rng.standard_normal(d), rng.standard_normal((n, d))


def _run_threads(target, n_threads):
    errors = []

    def wrapped(i):
        try:
            target(i)
        except BaseException as e:  # noqa: BLE001 - reported below, with the thread
            errors.append((i, e))

    threads = [threading.Thread(target=wrapped, args=(i,)) for i in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
        assert not t.is_alive(), "a thread hung"
    if errors:
        i, e = errors[0]
        raise AssertionError(f"{len(errors)} thread(s) failed; thread {i}: {type(e).__name__}: {e}") from e


class _Paused:
    """Runs ``fn`` in a thread that stops inside its trace until released."""

    def __init__(self, transform):
        self.inside = threading.Event()
        self.release = threading.Event()
        self.result = None

        def traced(w, x):
            out = loss(w, x)
            self.inside.set()
            assert self.release.wait(60)
            return out

        def run():
            self.result = transform(traced)(*_inputs(99))

        self.thread = threading.Thread(target=run)

    def __enter__(self):
        self.thread.start()
        assert self.inside.wait(60)
        return self

    def __exit__(self, *exc):
        self.release.set()
        self.thread.join(60)


@pytest.mark.parametrize("backend", ["interpret", "numba"])
def test_warm_jit_while_another_thread_traces(backend):
    w, x = _inputs(1)
    step = fg.jit(fg.value_and_grad(loss), backend=backend)
    step(w, x)  # warm
    with _Paused(fg.make_ir) as paused:
        value, g = step(w, x)
        g2 = fg.grad(loss, backend=backend)(w, x)
    assert isinstance(paused.result, Program)
    ref_v, ref_g = loss_ref(w, x)
    for got in (g, g2):
        assert type(got) is np.ndarray
        np.testing.assert_allclose(got, ref_g, rtol=1e-12)
    assert isinstance(value, (np.ndarray, np.generic))
    np.testing.assert_allclose(value, ref_v, rtol=1e-12)


def test_grad_while_another_thread_traces_grad():
    w, x = _inputs(2)
    with _Paused(fg.grad) as paused:
        g = fg.grad(loss)(w, x)
        prog = fg.make_ir(loss)(w, x)
    np.testing.assert_allclose(g, loss_ref(w, x)[1], rtol=1e-12)
    assert isinstance(prog, Program) and len(prog.in_vars) == 2
    np.testing.assert_allclose(paused.result, loss_ref(*_inputs(99))[1], rtol=1e-12)


def test_tracer_shared_with_another_thread_is_an_error():
    shared = []
    ready, done = threading.Event(), threading.Event()

    def traced(x):
        shared.append(x * 2)
        ready.set()
        assert done.wait(60)
        return fnp.sum(x)

    t = threading.Thread(target=lambda: fg.grad(traced)(np.ones(3)))
    t.start()
    assert ready.wait(60)
    try:
        with pytest.raises(fg.LeakedTracerError, match="another thread"):
            fg.grad(lambda y: fnp.sum(y * shared[0]))(np.ones(3))
        with pytest.raises(fg.LeakedTracerError, match="another thread"):
            fnp.sin(shared[0])
    finally:
        done.set()
        t.join(60)
    with pytest.raises(fg.LeakedTracerError, match="after the function"):
        fnp.sin(shared[0])


@pytest.fixture
def fast_switching():
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(old)


_N_THREADS = 8
_CALLS = 200


@pytest.mark.parametrize("round_", range(2))
def test_stress_mixed_entry_points(fast_switching, round_):
    """8 threads x 200 calls: grad, value_and_grad, vjp, make_ir, jit warm
    and cold, on both backends, each thread on inputs of its own."""
    warm = {b: fg.jit(fg.value_and_grad(loss), backend=b) for b in ("interpret", "numba")}
    warm_static = fg.jit(fg.grad(repeated_sin), static_argnums=1, backend="numba")
    w0, x0 = _inputs(0)
    for f in warm.values():
        f(w0, x0)
    warm_static(w0, 2)
    n_eqns = len(fg.make_ir(loss)(w0, x0).eqns)

    def work(tid):
        rng = np.random.default_rng(1000 * round_ + tid)
        for i in range(_CALLS):
            w, x = _inputs(rng.integers(1 << 30))
            ref_v, ref_g = loss_ref(w, x)
            kind = (tid + i) % 8
            if kind == 0:
                g = fg.grad(loss)(w, x)
            elif kind == 1:
                v, g = warm["interpret"](w, x)
                np.testing.assert_allclose(v, ref_v, rtol=1e-12)
            elif kind == 2:
                v, g = warm["numba"](w, x)
                np.testing.assert_allclose(v, ref_v, rtol=1e-10)
            elif kind == 3:   # cold: a new function, traced and compiled on this call
                v, g = fg.jit(lambda a, b: fg.value_and_grad(loss)(a, b), backend="interpret")(w, x)
                np.testing.assert_allclose(v, ref_v, rtol=1e-12)
            elif kind == 4:
                prog = fg.make_ir(loss)(w, x)
                assert isinstance(prog, Program) and len(prog.eqns) == n_eqns
                continue
            elif kind == 5:
                out, pullback = fg.vjp(loss, w, x)
                np.testing.assert_allclose(out, ref_v, rtol=1e-12)
                g = pullback(1.0)[0]
            elif kind == 6:   # a non-differentiated Python int (a loop count), as in jax.grad
                n = int(rng.integers(1, 4))
                g = fg.grad(repeated_sin)(w, n)
                ref_g = repeated_sin_grad_ref(w, n)
            else:
                g = warm_static(w, 2)
                ref_g = repeated_sin_grad_ref(w, 2)
            assert type(g) is np.ndarray, (kind, type(g))
            np.testing.assert_allclose(g, ref_g, rtol=1e-10, atol=1e-12)

    _run_threads(work, _N_THREADS)


def test_cold_numba_compiles_from_many_threads(fast_switching):
    """Threads that ask for the same new program at once compile it once and
    all get compiled results; different programs compile side by side."""
    scales = [1.5, 2.5]
    fns = [fg.jit(lambda x, s=s: fnp.exp(x) * s + fnp.cos(x), backend="numba") for s in scales]

    def work(tid):
        x = np.linspace(-1, 1, 7) + tid
        for _ in range(20):
            for s, f in zip(scales, fns):
                got = f(x)
                assert type(got) is np.ndarray
                np.testing.assert_allclose(got, np.exp(x) * s + np.cos(x), rtol=1e-12)

    _run_threads(work, _N_THREADS)


def test_async_compile_from_many_threads(monkeypatch):
    """In async mode, calls made while Numba compiles in the background run
    in the interpreter: every call from every thread gets the right value."""
    monkeypatch.setattr(fg.config, "compile_mode", "async")
    step = fg.jit(fg.value_and_grad(loss), backend="numba")
    lowered = []

    def work(tid):
        rng = np.random.default_rng(tid)
        for _ in range(50):
            w, x = _inputs(rng.integers(1 << 30), n=4, d=2)
            v, g = step(w, x)
            ref_v, ref_g = loss_ref(w, x)
            assert type(g) is np.ndarray
            np.testing.assert_allclose(v, ref_v, rtol=1e-10)
            np.testing.assert_allclose(g, ref_g, rtol=1e-10, atol=1e-12)
        lowered.append(step.lower(w, x))

    _run_threads(work, _N_THREADS)
    assert lowered[0].compiled.wait()   # the background compile finished and is in use
