"""The CUDA backend (``backend="cuda"``) against the interpreter, on Numba's
CUDA simulator (``NUMBA_ENABLE_CUDASIM=1``, set by conftest.py unless the
environment says otherwise: on a GPU machine the same tests run on the
device). Small shapes: the simulator runs every GPU thread as a Python thread.
"""
import numpy as np
import pytest

import funcgrad as fg
import funcgrad.numpy as fnp
from funcgrad.backends import cuda as fcuda

pytestmark = pytest.mark.skipif(not fcuda.available(), reason="no CUDA GPU and no simulator")
rng = np.random.default_rng(11)


def both(f, *args, **kw):
    """``f`` on the CUDA backend and on the interpreter."""
    return fg.jit(f, backend="cuda", **kw)(*args), fg.jit(f, backend="interpret", **kw)(*args)


def assert_close(got, want, rtol):
    for g, w in zip(fg.tree.leaves(got), fg.tree.leaves(want)):
        g, w = np.asarray(g), np.asarray(w)
        assert g.dtype == w.dtype and g.shape == w.shape, (g.dtype, g.shape, w.dtype, w.shape)
        np.testing.assert_allclose(g, w, rtol=rtol, atol=rtol)


def _elementwise(x, y, k):
    """Every kind of elementwise rule: transcendental, NaN-aware max/min,
    remainders, rounding, comparisons and select, casts, iota, integers."""
    z = fnp.exp(x) * fnp.log1p(y) - fnp.tanh(x / 3.0) + fnp.sqrt(y) + fnp.sin(x) * fnp.cos(y)
    z = z + fnp.maximum(x, y) - fnp.minimum(x, 0.25) + fnp.remainder(x, 0.7) + fnp.floor_divide(x, 0.3)
    z = z + fnp.rint(4 * x) + fnp.sign(x - 0.5) + fnp.abs(x - y) + fnp.arctan2(x, y) + fnp.expm1(-y)
    z = z + fg.nn.sigmoid(x) + fnp.where(x > y, x, -y) + (x < 0.5).astype(x.dtype) + x ** 3
    i = fnp.arange(x.shape[-1]) * k + fnp.remainder(k, 3) - (k // 2)
    return z, i, fnp.isfinite(z / (x - x[0, 0])), z * 0.0 + 1.5


@pytest.mark.parametrize("dtype,rtol", [(np.float64, 1e-13), (np.float32, 2e-5)])
def test_elementwise_programs_match_the_interpreter(dtype, rtol):
    x = rng.uniform(0.05, 1.0, (3, 5)).astype(dtype)
    y = rng.uniform(0.05, 1.0, (5,)).astype(dtype)       # broadcast against x
    got, want = both(_elementwise, x, y, 7)
    assert_close(got, want, rtol)


def test_one_kernel_per_fused_group():
    x = rng.normal(size=(4, 6))

    def chain(x):
        for _ in range(10):
            x = fnp.tanh(x) * 1.5 + 0.25
        return x

    run = fcuda.compile_program(fg.make_ir(chain)(x))
    assert len(run.kernels) == 1 and run.plan.loop_nests == 1
    src = run.kernels[0].source
    assert "cuda.grid(1)" in src and "cuda.gridsize(1)" in src and src.count("math.tanh") == 10
    np.testing.assert_allclose(run(x)[0], chain(x), rtol=1e-13)


def test_scalars_and_size_one_axes():
    s, v = np.float64(0.3), rng.normal(size=(1, 4))
    got, want = both(lambda s, v: (fnp.exp(s) * 2.0, v * s + 1.0, fnp.sum(v) * s), s, v)
    assert_close(got, want, 1e-13)


def test_gradients_and_an_mlp_step_match_the_interpreter():
    """Reverse mode, reductions and products on the host, elementwise on the
    device: an SGD step of a small tanh/softmax MLP in float32."""
    params = {"W1": rng.normal(size=(6, 8)).astype(np.float32) * 0.3, "b1": np.zeros(8, np.float32),
              "W2": rng.normal(size=(8, 3)).astype(np.float32) * 0.3, "b2": np.zeros(3, np.float32)}
    x = rng.normal(size=(5, 6)).astype(np.float32)
    y = np.array([0, 2, 1, 1, 0])

    def loss(p, x, y):
        h = fnp.tanh(x @ p["W1"] + p["b1"])
        z = h @ p["W2"] + p["b2"]
        logp = z - fnp.log(fnp.sum(fnp.exp(z - fnp.max(z, axis=1, keepdims=True)), axis=1, keepdims=True)) \
            - fnp.max(z, axis=1, keepdims=True)
        return -fnp.mean(logp[fnp.arange(5), y])

    def step(p, x, y):
        g = fg.grad(loss)(p, x, y)
        return fg.tree.map(lambda w, d: w - 0.1 * d, p, g)

    got, want = both(step, params, x, y)
    assert_close(got, want, 2e-5)


def test_missing_gpu_is_a_clear_error(monkeypatch):
    from numba import cuda
    monkeypatch.setattr(cuda, "is_available", lambda: False)
    assert not fcuda.available()
    with pytest.raises(fg.UnsupportedError, match="no CUDA GPU was found.*NUMBA_ENABLE_CUDASIM"):
        fg.jit(lambda x: x + 1, backend="cuda")(np.ones(3))


def test_values_stay_on_the_device_between_kernels(monkeypatch):
    from numba import cuda
    x, w = rng.normal(size=(3, 4)), rng.normal(size=(2, 3, 4))

    def f(x, w):
        y = fnp.tanh(x) + 1.0                          # loop (3, 4)
        return fnp.broadcast_to(y, (2, 3, 4)) * w      # loop (2, 3, 4), reads y where it is

    run = fcuda.compile_program(fg.make_ir(f)(x, w))
    assert len(run.kernels) == 2
    copies = []
    real = cuda.to_device
    monkeypatch.setattr(cuda, "to_device", lambda a, *r, **k: copies.append(a.shape) or real(a, *r, **k))
    np.testing.assert_allclose(run(x, w)[0], f(x, w), rtol=1e-13)
    assert sorted(copies) == [(2, 3, 4), (3, 4)]       # the inputs, once each
    copies.clear()
    on_device = real(w)                               # a device array is read in place
    np.testing.assert_allclose(run(x, on_device)[0], f(x, w), rtol=1e-13)
    assert copies == [(3, 4)]


@pytest.mark.parametrize("dtype,rtol", [(np.float64, 1e-13), (np.float32, 2e-5)])
def test_reductions_run_as_tree_kernels(dtype, rtol):
    # more reduced elements than the simulator's threads a block, more kept ones than its blocks a launch
    x = rng.uniform(0.5, 1.5, (3, 19, 2)).astype(dtype)

    def f(x):
        return (fnp.sum(fnp.exp(x), axis=1), fnp.max(x * 2, axis=(0, 2), keepdims=True), fnp.min(x, axis=2),
                fnp.prod(x, axis=1), fnp.sum(x * x), fnp.mean(fnp.tanh(x), axis=0))

    run = fcuda.compile_program(fg.make_ir(f)(x))
    assert len(run.kernels) == sum(g.fused for g in run.plan.groups)   # every fused group on the device
    got, want = run(x), fg.jit(f, backend="interpret")(x)
    assert_close(got, want, rtol)
    i = rng.integers(-5, 5, (4, 33)).astype(np.int32)
    got, want = both(lambda i: (fnp.sum(i, axis=1), fnp.max(i), (i > 0).any(axis=0)), i)
    assert_close(got, want, 0)


@pytest.mark.parametrize("tiled", [True, False])
@pytest.mark.parametrize("ta,tb", [(False, False), (True, False), (False, True), (True, True)])
def test_matrix_products_run_on_the_device(ta, tb, tiled, monkeypatch):
    from funcgrad import primitives as P
    from funcgrad.backends.cuda import matmul
    monkeypatch.setattr(matmul, "SIM_TILED", tiled)      # the tiled kernel, or the simulator's plain one
    a = rng.normal(size=(2, 5, 7))            # sizes no multiple of the simulator's 4 x 4 tiles
    b = rng.normal(size=(2, 7, 3))
    a_, b_ = (np.swapaxes(a, -1, -2).copy() if ta else a), (np.swapaxes(b, -1, -2).copy() if tb else b)
    f = lambda a, b: P.matmul(a, b, transpose_a=ta, transpose_b=tb)
    run = fcuda.compile_program(fg.make_ir(f)(a_, b_))
    assert run.where == ["matmul"]
    np.testing.assert_allclose(run(a_, b_)[0], a @ b, rtol=1e-12)
    got, want = both(f, a_.astype(np.float32), b_.astype(np.float32))
    assert_close(got, want, 2e-5)
    i, j = rng.integers(-3, 4, (4, 6)), rng.integers(-3, 4, (6, 2))
    got, want = both(lambda i, j: i @ j, i, j)
    assert_close(got, want, 0)


def test_scatter_add_and_reshapes_run_on_the_device(monkeypatch):
    from numba import cuda
    from funcgrad.primitives.indexing import scatter_add
    op = rng.normal(size=(3, 5, 2))
    idx = np.array([4, 0, 4, -1, 7, 2])                  # repeats, and two out of range (dropped)
    upd = rng.normal(size=(3, 6, 2))
    f = lambda op, upd: scatter_add(fnp.tanh(op), idx, upd * 2.0, 1).reshape(15, 2) * 1.5
    run = fcuda.compile_program(fg.make_ir(f)(op, upd))
    assert "host" not in run.where and "device" in run.where
    copies = []
    real = cuda.to_device
    monkeypatch.setattr(cuda, "to_device", lambda a, *r, **k: copies.append(a.shape) or real(a, *r, **k))
    np.testing.assert_allclose(run(op, upd)[0], fg.jit(f, backend="interpret")(op, upd), rtol=1e-13)
    assert sorted(copies) == sorted([op.shape, upd.shape, idx.shape])   # the inputs (idx: a constant)


def test_a_training_loop_keeps_its_state_on_the_device(monkeypatch):
    from numba import cuda
    params = {"w": rng.normal(size=(4, 3)), "b": np.zeros(3)}
    x, y = rng.normal(size=(6, 4)), rng.normal(size=(6, 3))

    def step(p, x, y):
        g = fg.grad(lambda p: fnp.mean((fnp.tanh(x @ p["w"] + p["b"]) - y) ** 2))(p)
        return fg.tree.map(lambda w, d: w - 0.1 * d, p, g)

    jitted = fg.jit(step, backend="cuda")
    p, xd, yd = fg.device_put(params), fg.device_put(x), fg.device_put(y)
    assert isinstance(p["w"], fg.DeviceArray) and p["w"].shape == (4, 3) and p["w"].dtype == np.float64
    p = jitted(p, xd, yd)                     # compiles; copies the program's constants once
    copies = []
    real = cuda.to_device
    monkeypatch.setattr(cuda, "to_device", lambda a, *r, **k: copies.append(a.shape) or real(a, *r, **k))
    for _ in range(3):
        p = jitted(p, xd, yd)
    assert copies == [] and isinstance(p["b"], fg.DeviceArray)
    want = params
    for _ in range(4):
        want = fg.jit(step, backend="interpret")(want, x, y)
    got = fg.device_get(p)
    assert isinstance(got["w"], np.ndarray)
    assert_close(got, want, 1e-12)


def test_structural_and_indexing_kernels():
    from funcgrad import primitives as P
    x = rng.normal(size=(3, 4, 2))
    idx = np.array([[2, 0], [5, -1]])              # out of range: clipped, as np.take(mode="clip")

    def f(x, idx):
        return (fnp.transpose(x, (2, 0, 1)) * 1.0, x[1:, ::2, :1] * 2.0, fnp.flip(x, axis=(0, 2)) + 1.0,
                P.pad(x, (1, 0, 2), (0, 2, 1), (0, 1, 0)) - 1.0, fnp.concatenate([x, x * 3.0], axis=1),
                P.take(x, idx, 1) * 1.0, P.take(x[0, 0], idx[0, 0], 0) * 1.0)

    run = fcuda.compile_program(fg.make_ir(f)(x, idx))
    assert "host" not in run.where, [(w, [e.primitive.name for e in g.eqns])
                                     for w, g in zip(run.where, run.plan.groups) if w == "host"]
    got, want = run(x, idx), fg.jit(f, backend="interpret")(x, idx)
    assert_close(got, want, 1e-13)


def test_random_numbers_have_the_cpus_bits():
    key = fg.random.key(3)

    def f(key):
        k1, k2 = fg.random.split(key)
        return fg.random.normal(k1, (5, 3)), fg.random.uniform(k2, (7,)), fg.random.bits(k2, (4,))

    run = fcuda.compile_program(fg.make_ir(f)(key))
    assert "host" not in run.where
    got, want = run(key), fg.jit(f, backend="interpret")(key)
    for g, w in zip(got, want):
        g = np.asarray(g)
        assert g.dtype == w.dtype
        if g.dtype.kind == "u":
            np.testing.assert_array_equal(g, w)
        else:
            np.testing.assert_allclose(g, w, rtol=1e-12)


def _copies(monkeypatch):
    """The shapes of the host-to-device copies made from now on."""
    from numba import cuda
    copies, real = [], cuda.to_device
    monkeypatch.setattr(cuda, "to_device", lambda a, *r, **k: copies.append(np.shape(a)) or real(a, *r, **k))
    return copies


def test_an_epoch_as_a_fori_loop_runs_on_the_device(monkeypatch):
    """A whole epoch (SGD over 3 batches) in one call: the loop's body is compiled for the device once, and
    the parameters stay there across iterations: only the loop counter (a scalar) goes to the device."""
    params = {"w": rng.normal(size=(4, 3)) * 0.5, "b": np.zeros(3)}
    xs, ys = rng.normal(size=(3, 5, 4)), rng.normal(size=(3, 5, 3))

    def loss(p, x, y):
        return fnp.mean((fnp.tanh(x @ p["w"] + p["b"]) - y) ** 2)

    def epoch(p, xs, ys):
        def body(i, p):
            g = fg.grad(loss)(p, xs[i], ys[i])
            return fg.tree.map(lambda w, d: w - 0.2 * d, p, g)
        return fg.fori_loop(0, xs.shape[0], body, p)

    run = fcuda.compile_program(fg.make_ir(epoch)(params, xs, ys))
    assert run.where == ["device"]
    p, xd, yd = fg.device_put(params), fg.device_put(xs), fg.device_put(ys)
    flat = fg.tree.leaves(p)
    out = run(*flat, xd, yd)                               # compiles the body, copies its constants
    copies = _copies(monkeypatch)
    for _ in range(2):
        out = run(*out, xd, yd)
    assert run.ran_on_host == [] and copies and all(np.prod(c) == 1 for c in copies), copies
    want = params
    for _ in range(3):
        want = fg.jit(epoch, backend="interpret")(want, xs, ys)
    assert_close([np.asarray(o) for o in out], fg.tree.leaves(want), 1e-12)
    assert float(loss(fg.device_get(dict(zip(sorted(params), out))), xs[0], ys[0])) < float(loss(params, xs[0], ys[0]))


@pytest.mark.parametrize("reverse", [False, True])
def test_scan_and_its_gradient_run_on_the_device(reverse):
    """A scan with a carry, xs and ys (0-d and vector rows), and its reverse-mode derivative (a reversed scan
    over the saved residuals), against the interpreter."""
    c0, xs, w = rng.normal(size=3), rng.normal(size=(4, 3)), rng.normal(size=3)
    ks = np.arange(4)

    def f(c0, xs, w):
        def step(c, row):
            x, k = row
            c = fnp.tanh(c * w + x)
            return c, (fnp.sum(c * c), c * k)
        c, (s, ys) = fg.scan(step, c0, (xs, ks), reverse=reverse)
        return c, s, ys

    got, want = both(f, c0, xs, w)
    assert_close(got, want, 1e-12)
    g = lambda c0, xs, w: fg.grad(lambda c0, xs, w: fnp.sum(f(c0, xs, w)[2] ** 2) + fnp.sum(f(c0, xs, w)[1]),
                                  argnums=(0, 1, 2))(c0, xs, w)
    run = fcuda.compile_program(fg.make_ir(g)(c0, xs, w))
    assert "host" not in run.where
    assert_close(run(c0, xs, w), fg.jit(g, backend="interpret")(c0, xs, w), 1e-12)
    assert run.ran_on_host == []


def test_while_loop_and_switch_branch_on_device_scalars():
    x = rng.uniform(0.5, 1.0, (2, 3))

    def f(x, k):
        n, y = fg.while_loop(lambda c: fnp.sum(c[1]) < 40.0, lambda c: (c[0] + 1, c[1] * 1.5 + 0.1),
                             (np.int32(0), x))
        z = fg.switch(k, [lambda y: y * 2.0, lambda y: fnp.sin(y), lambda y: -y], y)
        w = fg.cond(fnp.max(z) > 3.0, lambda z: z - 3.0, lambda z: z + 3.0, z)
        return n, w

    for k in (0, 1, 2, 9):                                 # 9: clamped to the last branch, as lax.switch
        run = fcuda.compile_program(fg.make_ir(f)(x, np.int32(k)))
        assert "host" not in run.where
        assert_close(run(x, np.int32(k)), fg.jit(f, backend="interpret")(x, np.int32(k)), 1e-12)
        assert run.ran_on_host == []


def test_foreign_device_arrays_go_through_jit_and_grad_in_place(monkeypatch):
    """A Numba device array (as a CuPy or PyTorch one would: ``__cuda_array_interface__``) is an argument
    of jit and grad on the cuda backend, read where it is."""
    from numba import cuda
    x = rng.normal(size=(3, 4))
    d = cuda.to_device(x)
    copies = _copies(monkeypatch)
    f = lambda x: fnp.sum(fnp.tanh(x) ** 2)
    got = fg.jit(fg.grad(f), backend="cuda")(d)
    assert isinstance(got, fg.DeviceArray) and (3, 4) not in copies
    np.testing.assert_allclose(np.asarray(got), 2 * np.tanh(x) / np.cosh(x) ** 2, rtol=1e-12)


def test_launches_are_counted_per_step():
    params = {"w": rng.normal(size=(4, 3)), "b": np.zeros(3)}
    x, y = rng.normal(size=(6, 4)), rng.normal(size=(6, 3))

    def step(p, x, y):
        g = fg.grad(lambda p: fnp.mean((fnp.tanh(x @ p["w"] + p["b"]) - y) ** 2))(p)
        return fg.tree.map(lambda w, d: w - 0.1 * d, p, g)

    run = fcuda.compile_program(fg.make_ir(step)(params, x, y))
    args = fg.tree.leaves(params) + [x, y]
    run(*args)
    before = fcuda.launches()
    run(*args)
    expected = sum(w in ("kernel", "matmul") for w in run.where)
    assert fcuda.launches() - before == expected and expected >= 3


def test_the_digits_example_trains_on_the_cuda_backend(monkeypatch):
    """examples/train_digits.py's main (shuffle + scan of Adam steps per epoch, one call each) with
    ``--backend cuda``, on a small subset and network (the simulator's speed), against the interpreter."""
    import importlib.util
    import pathlib
    pytest.importorskip("sklearn")
    path = pathlib.Path(__file__).resolve().parents[1] / "examples" / "train_digits.py"
    spec = importlib.util.spec_from_file_location("train_digits_cuda", path)
    td = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(td)
    x_train, x_test, y_train, y_test = td.load_digits(0)
    small = (x_train[:48], x_test[:24], y_train[:48], y_test[:24])
    results = {}
    for backend in ("cuda", "interpret"):
        monkeypatch.setattr(fg.config, "default_backend", backend)
        results[backend] = td.main(epochs=2, batch_size=16, hidden=(8,), lr=1e-2, verbose=False, dataset=small)
    got, want = results["cuda"], results["interpret"]
    np.testing.assert_allclose(np.array(got["history"]), np.array(want["history"]), rtol=2e-4, atol=2e-5)
    assert got["history"][-1][0] < got["history"][0][0]
    for g, w in zip(fg.tree.leaves(got["params"]), fg.tree.leaves(want["params"])):
        assert np.asarray(g).dtype == np.float32
        np.testing.assert_allclose(np.asarray(g), w, rtol=2e-4, atol=2e-5)


def test_kernels_are_module_files_in_the_cache_and_shared():
    """Each kernel's module is written into funcgrad's cache directory (where ``cuda.jit(cache=True)`` keeps
    its compiled code on a GPU), and a program compiled again reuses the loaded kernels."""
    from funcgrad.backends.cuda import kernel_cache
    from funcgrad.backends.numba_backend import cache_dir
    x = rng.normal(size=(3, 4))
    f = lambda x: (fnp.exp(x) * 3.0 - 1.0, fnp.sum(fnp.sin(x), axis=1))
    first = fcuda.compile_program(fg.make_ir(f)(x))
    paths = [kernel_cache.module_path(k) for k in first.kernels]
    assert paths and all(p is not None and p.startswith(cache_dir()) for p in paths), paths
    assert all(k.source in open(p).read() for k, p in zip(first.kernels, paths))
    again = fcuda.compile_program(fg.make_ir(f)(x))
    assert [kernel_cache.module_path(k) for k in again.kernels] == paths
    assert kernel_cache.load(again.kernels[0], __import__("numba").cuda)[0] is \
        kernel_cache.load(first.kernels[0], __import__("numba").cuda)[0]
    assert_close(again(x), f(x), 1e-12)


def test_argsort_is_stable_with_nans_last_on_the_device():
    x = rng.integers(0, 4, (3, 9)).astype(np.float64)        # many ties
    x[0, 2] = x[1, 5] = x[1, 0] = np.nan
    run = fcuda.compile_program(fg.make_ir(lambda x: (fnp.argsort(x), fnp.argsort(x, axis=0)))(x))
    assert "host" not in run.where
    got = run(x)
    np.testing.assert_array_equal(np.asarray(got[0]), np.argsort(x, axis=-1, kind="stable"))
    np.testing.assert_array_equal(np.asarray(got[1]), np.argsort(x, axis=0, kind="stable"))
    key = fg.random.key(2)
    got, want = both(lambda k: fg.random.permutation(k, 20), key)
    np.testing.assert_array_equal(np.asarray(got), want)


def test_independent_elementwise_kernels_share_one_launch(monkeypatch):
    """The parameter updates at the end of a step (four shapes, no dependence between them) are one
    kernel (horizontal fusion); a kernel that reads another's result is not merged with it."""
    params = {"W1": rng.normal(size=(5, 4)), "b1": np.zeros(4), "W2": rng.normal(size=(4, 3)), "b2": np.zeros(3)}
    x, y = rng.normal(size=(6, 5)), rng.normal(size=(6, 3))

    def step(p, x, y):
        def loss(p):
            h = fnp.tanh(x @ p["W1"] + p["b1"])
            return fnp.mean((h @ p["W2"] + p["b2"] - y) ** 2)
        g = fg.grad(loss)(p)
        return fg.tree.map(lambda w, d: w - 0.1 * d, p, g)

    program = fg.make_ir(step)(params, x, y)
    args = fg.tree.leaves(params) + [x, y]
    merged = fcuda.compile_program(program)
    monkeypatch.setattr(fcuda, "HORIZONTAL", False)
    separate = fcuda.compile_program(program)
    assert len(merged.kernels) < len(separate.kernels)
    assert any("_h" in k.name for k in merged.kernels)
    for a, b in zip(merged(*args), separate(*args)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))      # the same arithmetic, bit for bit
    assert_close(merged(*args), fg.jit(step, backend="interpret")(params, x, y), 1e-12)
