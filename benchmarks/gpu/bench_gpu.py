"""GPU benchmarks of the CUDA backend (issue 13), each a ratio against a
reference measured in the same run on the same device. Run on a machine with
an NVIDIA GPU (``benchmarks/gpu/run_all.sh`` does, writing the tables to a
folder); ``--smoke`` runs every part at tiny sizes on Numba's CUDA simulator,
to check the script itself (its numbers mean nothing).

Parts:

1. elementwise throughput on 2**24 float32 values: ``tanh``, ``exp`` and a
   fused chain of 10 operations, one kernel each, device arrays in and out
   (``DeviceArray`` results), as a fraction of the device-to-device copy bandwidth
   measured here;
2. one SGD step of the 784-100-10 tanh/softmax MLP in float32, batch 500 and
   8192: ``p = fg.jit(step, backend="cuda")(p, x, y)`` with the parameters
   and data on the device (``fg.device_put`` once, the step's results fed
   back) against PyTorch eager, ``torch.compile`` and JAX on the same GPU
   where installed; with the step's device launches and host steps counted.

Medians of many calls (``--repeats``), synchronizing the device around each.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import numpy as np

SMOKE = "--smoke" in sys.argv
if SMOKE:
    os.environ["NUMBA_ENABLE_CUDASIM"] = "1"

import funcgrad as fg            # noqa: E402
import funcgrad.numpy as fnp     # noqa: E402
from funcgrad.backends import cuda as fcuda   # noqa: E402


def _median(fn, repeats, sync):
    fn()
    sync()
    ts = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        sync()
        ts.append(time.perf_counter() - t)
    return statistics.median(ts)


def part_elementwise(n, repeats):
    from numba import cuda
    x = np.random.default_rng(0).uniform(-2, 2, n).astype(np.float32)
    d = cuda.to_device(x)
    copy = cuda.device_array_like(d)
    t_copy = _median(lambda: copy.copy_to_device(d), repeats, cuda.synchronize)
    bw = 2 * x.nbytes / t_copy

    def chain(x):
        for _ in range(5):
            x = fnp.tanh(x) * 1.01 + 0.1
        return x

    print(f"\n### elementwise, {n:,} float32 values — device-to-device copy {bw / 1e9:.0f} GB/s")
    print("| kernel | time | GB/s (read + write) | fraction of copy bandwidth |")
    print("| --- | ---: | ---: | ---: |")
    for name, f in (("tanh", fnp.tanh), ("exp", fnp.exp), ("chain of 10 ops", chain)):
        run = fcuda.compile_program(fg.make_ir(f)(x))
        assert run.where == ["kernel"], run.where
        np.testing.assert_allclose(run(x)[0], f(x), rtol=2e-5, atol=2e-6)
        t = _median(lambda: run(d), repeats, cuda.synchronize)
        g = 2 * x.nbytes / t
        print(f"| {name} | {t * 1e6:,.0f} us | {g / 1e9:.0f} | {g / bw:.2f} |")


def _mlp(batch, rng, n_in=784, hidden=100):
    params = {"W1": (rng.normal(size=(n_in, hidden)) * 0.05).astype(np.float32), "b1": np.zeros(hidden, np.float32),
              "W2": (rng.normal(size=(hidden, 10)) * 0.1).astype(np.float32), "b2": np.zeros(10, np.float32)}
    x = rng.normal(size=(batch, n_in)).astype(np.float32)
    y = rng.integers(0, 10, batch)
    return params, x, y


def _fg_step(batch):
    def loss(p, x, y):
        h = fnp.tanh(x @ p["W1"] + p["b1"])
        z = h @ p["W2"] + p["b2"]
        m = fnp.max(z, axis=1, keepdims=True)
        logp = z - m - fnp.log(fnp.sum(fnp.exp(z - m), axis=1, keepdims=True))
        return -fnp.mean(logp[fnp.arange(batch), y])

    def step(p, x, y):
        g = fg.grad(loss)(p, x, y)
        return fg.tree.map(lambda w, d: w - 0.1 * d, p, g)
    return step


def part_mlp(batches, repeats, sizes=(784, 100)):
    from numba import cuda
    rng = np.random.default_rng(1)
    print(f"\n### MLP {sizes[0]}-{sizes[1]}-10 SGD step, float32")
    print("| batch | funcgrad (cuda) | PyTorch eager | torch.compile | JAX | funcgrad / eager | / compile | / JAX "
          "| launches per step | device groups, host groups |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
    for batch in batches:
        params, x, y = _mlp(batch, rng, *sizes)
        step = _fg_step(batch)
        jitted = fg.jit(step, backend="cuda")
        ref = fg.jit(step, backend="interpret")(params, x, y)
        got = jitted(params, x, y)
        for k in ref:
            np.testing.assert_allclose(got[k], ref[k], rtol=1e-3, atol=1e-5)
        run = fcuda.compile_program(fg.make_ir(step)(params, x, y))
        where = run.where
        state = {"p": fg.device_put(params)}
        xd, yd = fg.device_put(x), fg.device_put(y)

        def fg_step():
            state["p"] = jitted(state["p"], xd, yd)
        t_fg = _median(fg_step, repeats, cuda.synchronize)
        before = fcuda.launches()
        fg_step()
        launches = fcuda.launches() - before
        t_eager = t_comp = t_jax = None
        try:
            import torch
            dev = "cuda"
            tp = {k: torch.tensor(v, device=dev, requires_grad=True) for k, v in params.items()}
            tx, ty = torch.tensor(x, device=dev), torch.tensor(y, device=dev)

            def t_step(p):
                h = torch.tanh(tx @ p["W1"] + p["b1"])
                loss = torch.nn.functional.cross_entropy(h @ p["W2"] + p["b2"], ty)
                gs = torch.autograd.grad(loss, list(p.values()))
                return {k: (w - 0.1 * g).detach().requires_grad_() for (k, w), g in zip(p.items(), gs)}
            t_eager = _median(lambda: t_step(tp), repeats, torch.cuda.synchronize)
            compiled = torch.compile(t_step)
            compiled(tp)
            t_comp = _median(lambda: compiled(tp), repeats, torch.cuda.synchronize)
        except Exception as e:   # noqa: BLE001 - report and go on
            print(f"(PyTorch not measured: {type(e).__name__}: {str(e)[:200]})")
        try:
            import jax
            import jax.numpy as jnp

            def j_loss(p, x, y):
                h = jnp.tanh(x @ p["W1"] + p["b1"])
                z = h @ p["W2"] + p["b2"]
                return -jnp.mean(jax.nn.log_softmax(z)[jnp.arange(batch), y])
            j_step = jax.jit(lambda p, x, y: jax.tree_util.tree_map(lambda w, g: w - 0.1 * g, p,
                                                                    jax.grad(j_loss)(p, x, y)))
            jp = {k: jnp.asarray(v) for k, v in params.items()}
            jx, jy = jnp.asarray(x), jnp.asarray(y)
            t_jax = _median(lambda: jax.block_until_ready(j_step(jp, jx, jy)), repeats, lambda: None)
        except Exception as e:   # noqa: BLE001
            print(f"(JAX not measured: {type(e).__name__}: {str(e)[:200]})")

        def fmt(t):
            return "-" if t is None else f"{t * 1e3:.3f} ms"

        def ratio(t):
            return "-" if t is None else f"{t_fg / t:.1f}x"
        print(f"| {batch} | {fmt(t_fg)} | {fmt(t_eager)} | {fmt(t_comp)} | {fmt(t_jax)} | {ratio(t_eager)} "
              f"| {ratio(t_comp)} | {ratio(t_jax)} | {launches} | {sum(w != 'host' for w in where)} device, "
              f"{where.count('host')} host |")


def part_launch(repeats):
    """The cost of one kernel launch: a one-element funcgrad program (one kernel) per call, against the same
    kernel launched by Numba directly, and the time per launch of the MLP step's kernels."""
    from numba import cuda
    print("\n### Launch overhead (one-element kernel)")
    x = fg.device_put(np.ones(1, np.float32))
    run = fcuda.compile_program(fg.make_ir(lambda x: x * 2.0 + 1.0)(np.ones(1, np.float32)))

    namespace = {"cuda": cuda}      # a module-level name, as the simulator needs
    exec("def raw(n, a, out):\n    i = cuda.grid(1)\n    if i < n:\n        out[i] = a[i] * 2.0 + 1.0\n", namespace)
    raw = cuda.jit(namespace["raw"])
    out = cuda.device_array(1, np.float32)
    raw[1, 32](1, x.device_array, out)
    t_raw = _median(lambda: raw[1, 32](1, x.device_array, out), repeats, cuda.synchronize)
    t_fg = _median(lambda: run(x), repeats, cuda.synchronize)
    print("| path | time per call | / Numba launch |")
    print("| --- | ---: | ---: |")
    print(f"| Numba kernel[1, 32](...) | {t_raw * 1e6:.1f} us | 1.0x |")
    print(f"| funcgrad compiled program (1 kernel) | {t_fg * 1e6:.1f} us | {t_fg / t_raw:.1f}x |")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--smoke", action="store_true")
    ap.add_argument("--repeats", type=int, default=50)
    args = ap.parse_args()
    from numba import cuda
    print(f"funcgrad {fg.__version__}, device: "
          f"{'simulator' if SMOKE else cuda.get_current_device().name}")
    if SMOKE:
        part_elementwise(64, 2)
        part_mlp([4], 1, sizes=(6, 5))
        part_launch(2)
    else:
        part_elementwise(1 << 24, args.repeats)
        part_mlp([500, 8192], args.repeats)
        part_launch(args.repeats * 20)


if __name__ == "__main__":
    main()
