"""BLAS thread settings (funcgrad/backends/numba_backend/blas.py): matrix products
against NumPy under each setting, for each way a product is cut, and that the
setting is honoured (OpenBLAS single-threaded inside funcgrad's calls, the
pool's threads, the environment variable). No timing assertions."""
import os
import subprocess
import sys
import textwrap
import threading
import time

import numpy as np
import pytest

pytest.importorskip("numba")

from funcgrad.backends.numba_backend import blas  # noqa: E402

pytestmark = pytest.mark.skipif(not blas.HAVE_BLAS, reason="NumPy without OpenBLAS: loop kernels only")
needs_pool = pytest.mark.skipif(not blas.HAVE_POOL, reason="no POSIX threads: OpenBLAS's own threading only")

RNG = np.random.default_rng(7)
SETTINGS = ["openblas", 1, 2, 3]


def openblas_threads():
    return int(blas._found[2]())


@pytest.fixture(autouse=True)
def restore_setting():
    before_threads, before_plan = blas.threads(), blas.set_plan()
    blas.set_plan(**before_plan)
    yield
    blas.set_plan(**before_plan)
    blas._state[blas.TEST_CALLER_IDLE] = 0
    blas.set_threads("openblas" if before_threads == 0 else before_threads)


def wait_for_workers(n, timeout=60.0):
    """Pool threads compile (or load) their function when they start: wait for them to run."""
    end = time.time() + timeout
    while blas.stats()["workers"] < n:
        assert time.time() < end, f"pool threads did not start: {blas.stats()}"
        time.sleep(0.01)


def product(dtype, m, n, k, ta, tb):
    a = RNG.standard_normal((k, m) if ta else (m, k)).astype(dtype)
    b = RNG.standard_normal((n, k) if tb else (k, n)).astype(dtype)
    ref = (a.T if ta else a).astype(np.float64) @ (b.T if tb else b).astype(np.float64)
    return a, b, ref


def gemm(dtype, ta, tb, a, b, m, n):
    c = np.full((m, n), np.nan, dtype)
    (blas.gemm_f32 if dtype == np.float32 else blas.gemm_f64)(ta, tb, a, b, c)
    return c


def check(c, ref, dtype):
    tol = 1e-5 if dtype == np.float32 else 1e-12
    scale = max(1.0, float(np.abs(ref).max()))
    err = float(np.abs(c.astype(np.float64) - ref).max()) / scale
    assert err < tol * 10, err


# small shapes with thresholds lowered (every kind of cut, cheaply), and the default thresholds' shapes
SMALL_PLAN = dict(par_min=1, chunk_work=1, min_rows=4, min_cols=4, min_inner=8)
SMALL_SHAPES = {  # (m, n, k) -> expected kind under SMALL_PLAN
    (64, 8, 16): blas.SPLIT_M, (5, 70, 12): blas.SPLIT_N, (6, 7, 200): blas.SPLIT_K, (3, 2, 5): blas.SINGLE,
    (1, 1, 1): blas.SINGLE, (37, 5, 9): blas.SPLIT_M}
LARGE_SHAPES = {(1024, 100, 200): blas.SPLIT_M, (60, 1024, 200): blas.SPLIT_N, (100, 60, 2048): blas.SPLIT_K,
                (32, 100, 500): blas.SINGLE}


@needs_pool
@pytest.mark.parametrize("shapes,plan", [(SMALL_SHAPES, SMALL_PLAN), (LARGE_SHAPES, {})], ids=["small", "default"])
def test_plan_kinds(shapes, plan):
    if plan:
        blas.set_plan(**plan)
    for (m, n, k), kind in shapes.items():
        got = blas.plan(m, n, k)
        assert got[0] == kind, ((m, n, k), got)
        if kind != blas.SINGLE:
            size = {blas.SPLIT_M: m, blas.SPLIT_N: n, blas.SPLIT_K: k}[kind]
            assert got[1] >= 2 and (got[1] - 1) * got[2] < size <= got[1] * got[2], got


def test_plan_depends_on_shapes_only():
    if not blas.HAVE_POOL:
        pytest.skip("no pool")
    blas.set_threads(2)
    p2 = [blas.plan(*s) for s in LARGE_SHAPES]
    blas.set_threads(3)
    assert [blas.plan(*s) for s in LARGE_SHAPES] == p2


@pytest.mark.parametrize("setting", SETTINGS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shapes,plan", [(SMALL_SHAPES, SMALL_PLAN), (LARGE_SHAPES, {})], ids=["small", "default"])
def test_products_match_numpy(setting, dtype, shapes, plan):
    blas.set_threads(setting)
    if plan:
        blas.set_plan(**plan)
    outside = openblas_threads()
    for (m, n, k) in shapes:
        for ta in (False, True):
            for tb in (False, True):
                a, b, ref = product(dtype, m, n, k, ta, tb)
                check(gemm(dtype, ta, tb, a, b, m, n), ref, dtype)
    assert openblas_threads() == outside     # restored after every call


@needs_pool
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_pool_threads_compute_every_chunk(dtype):
    """With the calling thread kept out of the chunks, the pool's threads run all of them."""
    blas.set_threads(3)
    wait_for_workers(2)
    blas.set_plan(**SMALL_PLAN)
    blas._state[blas.TEST_CALLER_IDLE] = 1
    before = blas.stats()
    for (m, n, k), kind in SMALL_SHAPES.items():
        for ta in (False, True):
            for tb in (False, True):
                a, b, ref = product(dtype, m, n, k, ta, tb)
                check(gemm(dtype, ta, tb, a, b, m, n), ref, dtype)
    after = blas.stats()
    split = sum(1 for kind in SMALL_SHAPES.values() if kind != blas.SINGLE)
    assert after["pool_calls"] - before["pool_calls"] == 4 * split
    assert after["worker_chunks"] - before["worker_chunks"] >= 4 * 2 * split


@needs_pool
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_results_do_not_depend_on_threads(dtype):
    """The chunks depend on the shapes only: the same bits with 2 or 3 threads, run by the caller or
    by the pool."""
    blas.set_plan(**SMALL_PLAN)
    results = {}
    for setting, idle in ((2, 0), (3, 0), (3, 1), (2, 1)):
        blas.set_threads(setting)
        wait_for_workers(setting - 1)
        blas._state[blas.TEST_CALLER_IDLE] = idle
        out = []
        rng = np.random.default_rng(3)
        for (m, n, k) in SMALL_SHAPES:
            a = rng.standard_normal((m, k)).astype(dtype)
            b = rng.standard_normal((k, n)).astype(dtype)
            out.append(gemm(dtype, False, False, a, b, m, n))
        results[(setting, idle)] = out
    first = next(iter(results.values()))
    for key, out in results.items():
        for x, y in zip(first, out):
            np.testing.assert_array_equal(x, y, err_msg=str(key))


@needs_pool
@pytest.mark.parametrize("setting", [1, 2, 3])
def test_openblas_single_threaded_inside_calls(setting):
    blas.set_threads(setting)
    wait_for_workers(setting - 1)
    outside = openblas_threads()
    inside, chosen, workers = blas.probe_threads()
    assert (inside, chosen) == (1, setting)
    assert workers >= setting - 1
    assert openblas_threads() == outside


@needs_pool
def test_openblas_setting_leaves_openblas_alone():
    blas.set_threads("openblas")
    inside, chosen, _ = blas.probe_threads()
    assert chosen == 0 and inside == openblas_threads()
    assert blas.threads() == 0


def test_auto_and_invalid_settings():
    blas.set_threads("auto")
    if blas.HAVE_POOL:
        try:
            cores = len(os.sched_getaffinity(0))
        except AttributeError:
            cores = os.cpu_count()
        assert 1 <= blas.threads() <= cores
    for bad in (0, -2, "many"):
        with pytest.raises(ValueError):
            blas.set_threads(bad)


@needs_pool
@pytest.mark.parametrize("value,expected", [("1", 1), ("3", 3), ("openblas", 0)])
def test_environment_variable(value, expected):
    code = "from funcgrad.backends.numba_backend import blas; print(blas.threads())"
    env = dict(os.environ, FUNCGRAD_BLAS_THREADS=value)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert int(out.stdout.split()[-1]) == expected


@needs_pool
def test_auto_follows_openblas_num_threads():
    code = "from funcgrad.backends.numba_backend import blas; print(blas.threads())"
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1")
    env.pop("FUNCGRAD_BLAS_THREADS", None)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert int(out.stdout.split()[-1]) == 1


@needs_pool
def test_concurrent_callers():
    """Compiled programs (which run without the GIL) calling products from several threads: one holds
    the pool, the others run the same chunks themselves; OpenBLAS's thread count comes back."""
    import funcgrad as fg

    blas.set_threads(2)
    outside = openblas_threads()
    f = fg.jit(lambda a, b: a @ b, backend="numba")
    cases = []
    for i in range(4):
        a = RNG.standard_normal((512 + 64 * i, 300)).astype(np.float32)
        b = RNG.standard_normal((300, 96)).astype(np.float32)
        cases.append((a, b, a.astype(np.float64) @ b.astype(np.float64)))
    f(cases[0][0], cases[0][1])
    errors = []

    def run(a, b, ref):
        try:
            for _ in range(20):
                check(np.asarray(f(a, b)), ref, np.float32)
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=run, args=case) for case in cases]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert openblas_threads() == outside


@needs_pool
@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork")
def test_fork_child_computes():
    """A forked child (no pool threads copied) gets its own pool and computes the same products."""
    code = textwrap.dedent("""
        import os, numpy as np
        from funcgrad.backends.numba_backend import blas
        blas.set_threads(2)
        a = np.arange(600 * 300, dtype=np.float64).reshape(600, 300) % 7
        b = np.arange(300 * 200, dtype=np.float64).reshape(300, 200) % 5
        c = np.empty((600, 200)); blas.gemm_f64(False, False, a, b, c)
        ref = a @ b
        pid = os.fork()
        if pid == 0:
            c2 = np.empty((600, 200)); blas.gemm_f64(False, False, a, b, c2)
            os._exit(0 if np.array_equal(c2, c) and np.allclose(c2, ref) else 3)
        _, status = os.waitpid(pid, 0)
        print("child", os.waitstatus_to_exitcode(status), np.allclose(c, ref))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split()[-2:] == ["0", "True"], out.stdout + out.stderr


@pytest.mark.parametrize("setting", SETTINGS)
def test_jit_mlp_gradient(setting):
    """The products of a jitted value_and_grad (every transpose the backward pass uses) against NumPy."""
    import funcgrad as fg
    import funcgrad.numpy as fnp

    blas.set_threads(setting)
    x = RNG.standard_normal((1024, 300)).astype(np.float32)
    w = (RNG.standard_normal((300, 64)) / 17).astype(np.float32)
    v = (RNG.standard_normal((64, 8)) / 8).astype(np.float32)

    def loss(w, v, x):
        return fnp.sum(fnp.tanh(x @ w) @ v)

    val, (gw, gv) = fg.jit(fg.value_and_grad(loss, argnums=(0, 1)), backend="numba")(w, v, x)
    x64, w64, v64 = (t.astype(np.float64) for t in (x, w, v))
    h = np.tanh(x64 @ w64)
    np.testing.assert_allclose(val, (h @ v64).sum(), rtol=1e-4)
    dz = np.ones((1024, 8))
    np.testing.assert_allclose(gv, h.T @ dz, rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(gw, x64.T @ ((dz @ v64.T) * (1 - h * h)), rtol=1e-4, atol=1e-3)


def test_auto_load_decision():
    """"auto": OpenBLAS's threads after two calm samples in a row, the pool from the first busy one."""
    use, calm = False, 0
    use, calm = blas._decide(0.1, use, calm)
    assert not use                                   # one calm sample is not enough
    use, calm = blas._decide(0.0, use, calm)
    assert use
    use, calm = blas._decide(0.3, use, calm)         # between the thresholds: no change
    assert use
    use, calm = blas._decide(0.9, use, calm)
    assert not use and calm == 0
    use, calm = blas._decide(0.3, use, calm)
    assert not use


@needs_pool
def test_auto_on_free_cores_uses_openblas_threads():
    """While "auto" finds the cores free, funcgrad's calls leave OpenBLAS's threads alone; the products
    are right either way."""
    blas.set_threads(2)
    outside = openblas_threads()
    blas._state[blas.AUTO_OPENBLAS] = 1
    try:
        assert blas.probe_threads()[0] == outside
        for (m, n, k) in LARGE_SHAPES:
            a, b, ref = product(np.float32, m, n, k, False, True)
            check(gemm(np.float32, False, True, a, b, m, n), ref, np.float32)
    finally:
        blas._state[blas.AUTO_OPENBLAS] = 0
    assert blas.probe_threads()[0] == 1
    blas.set_threads(3)
    assert blas._state[blas.AUTO_OPENBLAS] == 0 and not blas._auto   # an explicit count: never
