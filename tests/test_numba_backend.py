"""The Numba backend against the NumPy interpreter (the reference).

Programs are grouped so that each compiles once: Numba's compile time, not
the checks, dominates this module.
"""
import os
import subprocess
import sys
import textwrap
import threading

import numpy as np
import pytest

import funcgrad as fg
import funcgrad.numpy as fnp

pytest.importorskip("numba")

RNG = np.random.default_rng(42)


def both(f, *args, argnums=0, rtol=1e-12, atol=1e-12):
    """value_and_grad of f under both backends; compare, return the numba one."""
    ref_v, ref_g = fg.value_and_grad(f, argnums=argnums, backend="interpret")(*args)
    v, g = fg.value_and_grad(f, argnums=argnums, backend="numba")(*args)
    np.testing.assert_allclose(v, ref_v, rtol=rtol, atol=atol)
    for a, b in zip(g if isinstance(g, tuple) else [g], ref_g if isinstance(ref_g, tuple) else [ref_g]):
        assert np.asarray(a).dtype == np.asarray(b).dtype
        np.testing.assert_allclose(a, b, rtol=rtol, atol=atol)
    return v, g


def _elementwise_loss(x, y, p):
    """Every elementwise primitive, broadcasting (x: (3, 4), y: (4,)), in one program."""
    one = fnp.ones_like(x)
    terms = [
        fnp.exp(x), fnp.log(p), fnp.log1p(p), fnp.expm1(x), fnp.sqrt(p), fnp.sin(x), fnp.cos(x),
        fnp.tan(x * 0.5), fnp.arcsin(x * 0.3), fnp.arccos(x * 0.3), fnp.arctan(x), fnp.sinh(x),
        fnp.cosh(x), fnp.tanh(x), fnp.abs(x), fnp.sign(x) * x, fnp.floor(x) + x, fnp.ceil(x) * x,
        fnp.round(x) - x, x + y, x - y, x * y, x / (p + 1), p ** y, fnp.maximum(x, y), fnp.minimum(x, y),
        fnp.arctan2(x, p), fnp.remainder(x, 0.7), fnp.floor_divide(x, 0.7), x ** 3, x ** -2,
        fnp.where(x > y, x, y), fnp.where((x < 0) | (y > 0.5), x, one), fnp.clip(x, -0.5, 0.5),
        (x >= 0.1).astype(x.dtype) * x, fnp.where(fnp.isfinite(x) & ~(x == y), x, 0.0),
        x.astype(np.float32).astype(x.dtype) if x.dtype == np.float64 else x,
        1.0 / (1.0 + fnp.exp(-x)),
    ]
    return sum(fnp.sum(t * (i + 1) * 0.01) for i, t in enumerate(terms))


@pytest.mark.parametrize("dtype,rtol", [(np.float64, 1e-12), (np.float32, 2e-5)])
def test_elementwise_program(dtype, rtol):
    x = RNG.normal(size=(3, 4)).astype(dtype)
    y = RNG.normal(size=(4,)).astype(dtype)
    p = RNG.uniform(0.5, 2.0, size=(3, 1)).astype(dtype)
    v, g = both(_elementwise_loss, x, y, p, argnums=(0, 1, 2), rtol=rtol, atol=rtol)
    assert np.asarray(v).dtype == dtype
    assert all(gi.dtype == dtype for gi in g)


def _structural_loss(x, w, idx):
    """Reductions, shapes, gathers, matmuls with each transpose flag."""
    a = x.T                                   # transpose
    b = x[1:, ::2]                            # strided slice (pad in the VJP)
    c = fnp.flip(x, axis=1)                   # rev
    d = fnp.concatenate([x, c], axis=0)       # concatenate
    e = x[idx]                                # take / scatter_add
    f = fnp.take_along_axis(x, fnp.argmax(x, axis=1, keepdims=True), axis=1)
    g = fnp.max(x, axis=0) + fnp.min(x, axis=1, keepdims=True).sum() + fnp.prod(x[:2, :2] + 2.0)
    h = x @ w + x.T.T @ w + (w.T @ x.T).T     # matmul, folded transposes
    k = fnp.einsum("bij,bjk->bik", fnp.stack([x, x]), fnp.stack([w, w]))
    m = fnp.logsumexp(h, axis=1) + fnp.var(x, axis=0).sum() + fnp.std(x)
    n = fnp.mean(fnp.cumsum(x, axis=1) * fnp.arange(4.0))
    return (fnp.sum(a ** 2) + fnp.sum(b * 3) + fnp.sum(d * d) + fnp.sum(e ** 2) + fnp.sum(f)
            + fnp.sum(g) + fnp.sum(k) * 0.1 + fnp.sum(m) + n + fnp.argmin(x, axis=0).sum().astype(x.dtype))


@pytest.mark.parametrize("dtype,rtol", [(np.float64, 1e-12), (np.float32, 2e-5)])
def test_structural_program(dtype, rtol):
    x = RNG.normal(size=(3, 4)).astype(dtype)
    w = RNG.normal(size=(4, 2)).astype(dtype)
    idx = np.array([2, 0, 2, 1])
    both(_structural_loss, x, w, idx, argnums=(0, 1), rtol=rtol, atol=rtol)


def mlp_loss(params, x, y):
    h = fnp.tanh(x @ params["W1"] + params["b1"])
    z = h @ params["W2"] + params["b2"]
    logp = z - fnp.logsumexp(z, axis=1, keepdims=True)
    return -fnp.mean(logp[fnp.arange(y.shape[0]), y])


def _mlp(dtype, n=16):
    params = {"W1": RNG.normal(size=(8, 5)).astype(dtype), "b1": np.zeros(5, dtype),
              "W2": RNG.normal(size=(5, 3)).astype(dtype), "b2": np.zeros(3, dtype)}
    return params, RNG.normal(size=(n, 8)).astype(dtype), RNG.integers(0, 3, size=n)


@pytest.mark.parametrize("dtype,rtol", [(np.float64, 1e-12), (np.float32, 1e-5)])
def test_mlp_gradient(dtype, rtol):
    params, x, y = _mlp(dtype)
    v, g = fg.value_and_grad(mlp_loss, backend="numba")(params, x, y)
    rv, rg = fg.value_and_grad(mlp_loss, backend="interpret")(params, x, y)
    np.testing.assert_allclose(v, rv, rtol=rtol)
    for k in params:
        assert g[k].dtype == dtype
        np.testing.assert_allclose(g[k], rg[k], rtol=rtol, atol=rtol)


def test_non_contiguous_zero_d_and_empty_inputs():
    def f(a, s, e):
        return fnp.sum(fnp.tanh(a) * s) + fnp.sum(e * 2.0) + s ** 2

    base = RNG.normal(size=(6, 8))
    views = [base.T, base[::2, 1::3], base[:, 2]]
    for a in views:
        assert not a.flags.c_contiguous or a.ndim == 1
        for s in (np.float64(0.7),):
            both(f, a, s, np.zeros((0, 3)), argnums=(0, 1))


def test_outputs_do_not_alias_inputs():
    x = RNG.normal(size=(3,))
    keep = x.copy()
    out, vjp_fn = fg.vjp(lambda a: a, x, backend="numba")
    out[0] = 99.0
    np.testing.assert_array_equal(x, keep)
    (ct,) = vjp_fn(np.ones(3))
    np.testing.assert_array_equal(ct, np.ones(3))


def test_threads_compile_once_and_agree():
    from funcgrad.backends import numba_backend as nb

    def f(x):
        return fnp.sum(fnp.sin(x) * fnp.cos(x) * 1.2345)

    x = RNG.normal(size=(5,))
    expected = np.cos(2 * x) * 1.2345
    before = len(nb._modules)
    grad_f = fg.grad(f, backend="numba")
    results = [None] * 4

    def work(i):
        results[i] = grad_f(x)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(nb._modules) == before + 1
    for r in results:
        np.testing.assert_allclose(r, expected, rtol=1e-12)


_SCRIPT = textwrap.dedent("""
    import numpy as np, funcgrad as fg, funcgrad.numpy as fnp
    from funcgrad.backends import numba_backend as nb
    g = fg.grad(lambda w: fnp.sum(fnp.tanh(np.arange(6.0).reshape(2, 3) @ w) ** 2), backend="numba")
    w = np.linspace(-1, 1, 3)
    print(repr(g(w).tolist()))
    fn = next(iter(nb._modules.values())).program
    print("hits", sum(fn.stats.cache_hits.values()), "misses", sum(fn.stats.cache_misses.values()))
""")


def _run_script(cache):
    env = dict(os.environ, FUNCGRAD_CACHE_DIR=str(cache), FUNCGRAD_COMPILE="sync")
    out = subprocess.run([sys.executable, "-c", _SCRIPT], env=env, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.strip().splitlines()
    return eval(lines[0]), lines[1]


def _expected_grad():
    X = np.arange(6.0).reshape(2, 3)
    w = np.linspace(-1, 1, 3)
    t = np.tanh(X @ w)
    return X.T @ (2 * t * (1 - t ** 2))


def test_disk_cache_across_processes_and_corruption(tmp_path):
    g1, stats1 = _run_script(tmp_path)
    np.testing.assert_allclose(g1, _expected_grad(), rtol=1e-12)
    assert "misses 1" in stats1
    g2, stats2 = _run_script(tmp_path)
    np.testing.assert_allclose(g2, _expected_grad(), rtol=1e-12)
    assert "hits 1" in stats2 and "misses 0" in stats2
    # corrupt every cache file Numba wrote: the next process must rebuild, not crash
    corrupted = 0
    for root, _, files in os.walk(tmp_path):
        for name in files:
            if name.endswith((".nbi", ".nbc")):
                with open(os.path.join(root, name), "wb") as fh:
                    fh.write(b"garbage")
                corrupted += 1
    assert corrupted >= 1
    g3, _ = _run_script(tmp_path)
    np.testing.assert_allclose(g3, _expected_grad(), rtol=1e-12)


def test_async_compile_answers_at_once_then_switches(monkeypatch):
    monkeypatch.setattr(fg.config, "compile_mode", "async")

    def f(x):
        return fnp.sum(fnp.exp(x) * 0.25)

    x = RNG.normal(size=(7,))
    step = fg.jit(fg.grad(f), backend="numba")
    first = step(x)                       # runs in the interpreter while Numba compiles
    np.testing.assert_allclose(first, 0.25 * np.exp(x), rtol=1e-12)
    compiled = step.lower(x).compiled
    assert compiled.wait()                # the background compile finished and is in use
    np.testing.assert_allclose(step(x), 0.25 * np.exp(x), rtol=1e-12)


def test_async_compile_of_a_large_program_runs_in_another_process(monkeypatch, tmp_path):
    # the compile runs in a child process (its own GIL), which fills Numba's disk
    # cache; this process then loads the compiled code from there
    from funcgrad.backends import numba_backend as nb

    monkeypatch.setattr(fg.config, "compile_mode", "async")
    monkeypatch.setenv("FUNCGRAD_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(nb, "PROCESS_MIN_EQNS", 1)
    results = []
    original = nb._compile_in_process

    def recording(source, flat):
        results.append(original(source, flat))
        return results[-1]
    monkeypatch.setattr(nb, "_compile_in_process", recording)

    def f(x, s):
        return fnp.sum(fnp.tanh(x * s) ** 2)

    x = RNG.normal(size=(3, 4)).astype(np.float32)
    step = fg.jit(fg.value_and_grad(f), backend="numba")
    ref_v, ref_g = fg.value_and_grad(f, backend="interpret")(x, 0.5)
    step(x, 0.5)
    compiled = step.lower(x, 0.5).compiled
    assert compiled.wait()
    assert results == [True]
    v, g = step(x, 0.5)
    assert g.dtype == np.float32
    np.testing.assert_allclose(v, ref_v, rtol=1e-5)
    np.testing.assert_allclose(g, ref_g, rtol=1e-5, atol=1e-7)
    mod = nb._load(compiled.source)
    assert sum(mod.program.stats.cache_hits.values()) == 1     # loaded, not compiled here
    assert not mod.program.stats.cache_misses


def test_argument_specs_rebuild_the_same_numba_types():
    from numba import typeof

    from funcgrad.backends.numba_backend import _arg_spec, _sample

    for a in [np.zeros((2, 3), np.float32), np.zeros(4, np.int64), np.float32(1.5), np.int32(3),
              np.bool_(True), 0.5, 3, True]:
        assert typeof(_sample(_arg_spec(a))) == typeof(a)


def test_large_programs_split_into_chunk_functions(monkeypatch):
    from funcgrad.backends.numba_backend import codegen

    monkeypatch.setattr(codegen, "CHUNK_EQNS", 7)   # force several chunks on a small program
    monkeypatch.setattr(codegen, "MAX_FUSED", 3)
    params, x, y = _mlp(np.float64, n=6)
    step = fg.jit(fg.value_and_grad(mlp_loss), backend="numba")
    v, g = step(params, x, y)
    assert "def program_part1(" in step.lower(params, x, y).source
    rv, rg = fg.value_and_grad(mlp_loss, backend="interpret")(params, x, y)
    np.testing.assert_allclose(v, rv, rtol=1e-12)
    for k in params:
        np.testing.assert_allclose(g[k], rg[k], rtol=1e-12, atol=1e-12)


def test_chunks_compile_ahead_in_other_processes(monkeypatch, tmp_path):
    """On a cold cache in sync mode, the chunk functions of a large program
    compile side by side (this process and one worker per further core); the
    program then loads the workers' chunks from the disk cache, each with the
    argument types the program passes (no second compile)."""
    from funcgrad.backends import numba_backend as nb
    from funcgrad.backends.numba_backend import codegen

    monkeypatch.setenv("FUNCGRAD_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(codegen, "CHUNK_EQNS", 7)
    monkeypatch.setattr(codegen, "MAX_FUSED", 3)
    ran = []
    real = nb.compile_chunks_ahead
    monkeypatch.setattr(nb, "compile_chunks_ahead",
                        lambda mod, sigs, workers=None: ran.append(real(mod, sigs, workers=2)) or ran[-1])
    params, x, y = _mlp(np.float32, n=5)
    step = fg.jit(fg.value_and_grad(lambda p, a, b: mlp_loss(p, a, b) * 1.5), backend="numba")
    v, g = step(params, x, y)
    rv, rg = fg.value_and_grad(lambda p, a, b: mlp_loss(p, a, b) * 1.5, backend="interpret")(params, x, y)
    np.testing.assert_allclose(v, rv, rtol=2e-5)
    for k in params:
        np.testing.assert_allclose(g[k], rg[k], rtol=2e-4, atol=1e-6)
    assert ran == [True]
    mod = nb._load(step.lower(params, x, y).source)
    parts = [getattr(mod, n) for n in dir(mod) if n.startswith("program_part")]
    assert len(parts) >= 2
    assert all(len(p.overloads) == 1 for p in parts)       # the signatures given ahead were the right ones
    assert sum(p.stats.cache_hits.total() for p in parts) >= 1   # the worker's chunks came from the cache


def test_new_closure_values_reuse_the_compiled_program():
    from funcgrad.backends import numba_backend as nb

    def make(c):
        return lambda w: fnp.sum(fnp.tanh(w) * c)

    w = RNG.normal(size=(4,))
    c1, c2 = RNG.normal(size=(4,)), RNG.normal(size=(4,))
    g1 = fg.grad(make(c1), backend="numba")(w)
    n = len(nb._modules)
    g2 = fg.grad(make(c2), backend="numba")(w)
    assert len(nb._modules) == n                    # same structure: no new compile
    np.testing.assert_allclose(g1, c1 * (1 - np.tanh(w) ** 2), rtol=1e-12)
    np.testing.assert_allclose(g2, c2 * (1 - np.tanh(w) ** 2), rtol=1e-12)


def test_very_large_programs_run_on_the_vm_machine(monkeypatch):
    monkeypatch.setattr(fg.config, "max_compiled_eqns", 5)

    def f(x):
        return fnp.sum(fnp.sin(x) * fnp.cos(x) + x * x)

    x = RNG.normal(size=(6,))
    g = fg.jit(fg.grad(f), backend="numba")
    np.testing.assert_allclose(g(x), np.cos(2 * x) + 2 * x, rtol=1e-12)
    assert g.lower(x).source is None          # not compiled: no generated module
    assert hasattr(g.lower(x).compiled, "encoded")   # run by the vm backend's machine


def test_two_processes_compiling_the_same_entry_at_once(tmp_path):
    env = dict(os.environ, FUNCGRAD_CACHE_DIR=str(tmp_path), FUNCGRAD_COMPILE="sync")
    procs = [subprocess.Popen([sys.executable, "-c", _SCRIPT], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
        np.testing.assert_allclose(eval(out.splitlines()[0]), _expected_grad(), rtol=1e-12)
    g, stats = _run_script(tmp_path)      # and the entry they left behind loads
    np.testing.assert_allclose(g, _expected_grad(), rtol=1e-12)
    assert "hits 1" in stats


@pytest.mark.parametrize("parallel", ["0", "1"])
def test_parallel_loops_match_the_interpreter(monkeypatch, parallel):
    from funcgrad.backends.numba_backend import codegen

    monkeypatch.setattr(fg.config, "parallel", parallel)
    monkeypatch.setattr(codegen, "PARALLEL_MIN_ELEMENTS", 64)
    # with the passes on, CSE merges the two `x * w`: fusion keeps the full reduction out of the
    # row reduction's loop nest, which stays parallel

    def f(x, w):
        # a row reduction (keeps axis 0: parallel) and a full reduction (does not)
        return fnp.sum(fnp.tanh(x * w) * fnp.exp(-x * x), axis=1).sum() + fnp.max(x * w)

    x = RNG.normal(size=(16, 12))
    w = np.float64(0.7)
    step = fg.jit(fg.value_and_grad(f, argnums=(0, 1)), backend="numba")
    v, g = step(x, w)
    rv, rg = fg.value_and_grad(f, argnums=(0, 1), backend="interpret")(x, w)
    np.testing.assert_allclose(v, rv, rtol=1e-12)
    for a, b in zip(g, rg):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)
    assert ("in prange(" in step.lower(x, w).source) == (parallel == "1")


def test_weak_python_number_arguments_compiled():
    x = np.array([1.0, -2.0, 0.5], np.float32)
    step = fg.jit(lambda w, s: w * s - fnp.tanh(w) * (s * 2.0), backend="numba")
    out = step(x, 0.25)
    out = step(x, 0.25)                                  # the fast path
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, x * 0.25 - np.tanh(x) * 0.5, rtol=1e-6)


def test_sign_keeps_float32_into_fastmath_kernels():
    # scalar.sign widened float32 to float64, which logistic_f32/exp_f32 then misread
    x = np.array([-3.0, -1.0, -0.0, 0.5, 2.0], np.float32)
    f = fg.jit(lambda x: fg.nn.sigmoid(fnp.sign(x) * x) + fnp.exp(fnp.sign(x)), backend="numba")
    out = f(x)
    s = np.sign(x)
    ref = 1.0 / (1.0 + np.exp(-(s * x).astype(np.float64))) + np.exp(s.astype(np.float64))
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, ref, rtol=1e-6)


def test_division_by_zero_follows_ieee_as_numpy():
    # Numba's default error model raises ZeroDivisionError; NumPy and the interpreter give inf/nan
    x = np.array([1.0, -1.0, 0.0, 5.0])
    y = np.zeros(4)

    def f(x, y):
        return x / y, fnp.remainder(x, y), fnp.floor_divide(x, y), x.astype(np.int64) // y.astype(np.int64)

    with np.errstate(divide="ignore", invalid="ignore"):
        ref = (x / y, np.remainder(x, y), np.floor_divide(x, y), x.astype(np.int64) // y.astype(np.int64))
        for backend in ("interpret", "numba"):
            out = fg.jit(f, backend=backend)(x, y)
            for a, b in zip(out, ref):
                assert a.dtype == b.dtype
                np.testing.assert_array_equal(a, b)
