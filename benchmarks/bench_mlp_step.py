"""One SGD step of the 784-100-10 MLP (tanh hidden layer, softmax cross-entropy
with integer labels, float32): funcgrad vs references measured in the same run.

    step(params, x, y) = value_and_grad(loss)(params, x, y), then
                         params := tree.map(p - lr * g)

Variants (batch 32, 500, 4096):

- ``funcgrad jit (numba)``: ``fg.jit(step)``, the whole step in one program
- ``funcgrad jit (interpret)``: ``fg.jit(step, backend="interpret")``
- ``hand NumPy``: forward pass + BP1-BP4 by hand + the update, plain NumPy
- ``matmul floor``: the step's five matrix products (forward x@W1, h@W2;
  backward dW2 = h^T dz, dh = dz W2^T, dW1 = x^T dh) as the same ``np.matmul``
  calls on float32 arrays of those shapes, into preallocated outputs. Every
  implementation has to do these FLOPs; everything else is overhead.
- ``JAX jit`` / ``PyTorch``: when installed (they are skipped otherwise).

Before timing, the funcgrad step's loss and new parameters are checked
against the hand NumPy step (``np.testing.assert_allclose``).

Timing: every variant is timed in the same process, interleaved round-robin
(so that load from other users of the machine hits all of them alike), best of
``--repeats`` (default 30) repeats of about 20 ms each: many short repeats
give the minimum more chances to land in a quiet moment of the shared machine.
Figures are reported as ratios against the matmul floor and the hand NumPy
step of the same run.

Run:  python benchmarks/bench_mlp_step.py  [--repeats N] [--batches 32,500,4096]
"""
from __future__ import annotations

import argparse
import os
import platform
import time
import timeit

# Steady-state timings: compile synchronously, so that no call runs in the
# interpreter while Numba compiles in the background (funcgrad's async mode).
os.environ["FUNCGRAD_COMPILE"] = "sync"

import numpy as np

import funcgrad as fg
import funcgrad.numpy as fnp

if hasattr(fg, "config"):
    fg.config.compile_mode = "sync"

D, H, K = 784, 100, 10
LR = np.float32(0.1)


# ----------------------------------------------------------------------------- funcgrad

def loss(params, x, y):
    h = fnp.tanh(x @ params["w1"] + params["b1"])
    z = h @ params["w2"] + params["b2"]
    logp = z - fnp.logsumexp(z, axis=1, keepdims=True)
    return -fnp.mean(logp[fnp.arange(y.shape[0]), y])


def sgd_step(params, x, y):
    value, g = fg.value_and_grad(loss)(params, x, y)
    return value, fg.tree.map(lambda p, gp: p - LR * gp, params, g)


# ----------------------------------------------------------------------------- hand NumPy

def numpy_step(params, x, y):
    """Forward pass, BP1-BP4 by hand, SGD update."""
    w1, b1, w2, b2 = params["w1"], params["b1"], params["w2"], params["b2"]
    m = x.shape[0]
    rows = np.arange(m)
    a1 = np.tanh(x @ w1 + b1)                       # (m, H)
    z2 = a1 @ w2 + b2                               # (m, K)
    zmax = z2.max(axis=1, keepdims=True)
    e = np.exp(z2 - zmax)
    s = e.sum(axis=1, keepdims=True)
    value = -np.mean((z2 - zmax - np.log(s))[rows, y])
    # BP1: delta2 = (softmax(z2) - onehot(y)) / m
    delta2 = e / s
    delta2[rows, y] -= 1
    delta2 /= np.float32(m)
    # BP2: delta1 = delta2 W2^T (.) (1 - a1^2)
    delta1 = (delta2 @ w2.T) * (1 - a1 * a1)
    # BP3/BP4: bias and weight gradients
    new = {"w1": w1 - LR * (x.T @ delta1), "b1": b1 - LR * delta1.sum(axis=0),
           "w2": w2 - LR * (a1.T @ delta2), "b2": b2 - LR * delta2.sum(axis=0)}
    return value, new


def make_floor(m, rng):
    """The step's five matmuls on float32 arrays of the step's shapes."""
    f32 = np.float32
    x = rng.normal(size=(m, D)).astype(f32)
    w1 = rng.normal(size=(D, H)).astype(f32)
    w2 = rng.normal(size=(H, K)).astype(f32)
    h = rng.normal(size=(m, H)).astype(f32)
    dz = rng.normal(size=(m, K)).astype(f32)
    dh = rng.normal(size=(m, H)).astype(f32)
    o1, o2, o3, o4, o5 = (np.empty(s, f32) for s in [(m, H), (m, K), (H, K), (m, H), (D, H)])
    xT, hT, w2T = x.T, h.T, w2.T
    mm = np.matmul

    def floor():
        mm(x, w1, out=o1)      # forward  x @ W1
        mm(h, w2, out=o2)      # forward  h @ W2
        mm(hT, dz, out=o3)     # backward dW2 = h^T dz
        mm(dz, w2T, out=o4)    # backward dh  = dz W2^T
        mm(xT, dh, out=o5)     # backward dW1 = x^T dh
    return floor


def matmul_flops(m):
    return 2 * m * D * H + 2 * m * H * K + 2 * H * m * K + 2 * m * K * H + 2 * D * m * H


# ----------------------------------------------------------------------------- optional references

def make_jax(params, x, y):
    try:
        import jax
        import jax.numpy as jnp
    except ImportError:
        return None

    def jloss(p, x, y):
        h = jnp.tanh(x @ p["w1"] + p["b1"])
        z = h @ p["w2"] + p["b2"]
        logp = z - jax.nn.logsumexp(z, axis=1, keepdims=True)
        return -jnp.mean(logp[jnp.arange(y.shape[0]), y])

    @jax.jit
    def jstep(p, x, y):
        v, g = jax.value_and_grad(jloss)(p, x, y)
        return v, jax.tree_util.tree_map(lambda a, b: a - 0.1 * b, p, g)

    jp = {k: jnp.asarray(v) for k, v in params.items()}
    jx, jy = jnp.asarray(x), jnp.asarray(y)
    jax.block_until_ready(jstep(jp, jx, jy))
    return lambda: jax.block_until_ready(jstep(jp, jx, jy))


def make_torch(params, x, y):
    try:
        import torch
    except ImportError:
        return None
    tp = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}
    tx, ty = torch.from_numpy(x), torch.from_numpy(y)

    def tstep():
        h = torch.tanh(tx @ tp["w1"] + tp["b1"])
        z = h @ tp["w2"] + tp["b2"]
        v = torch.nn.functional.cross_entropy(z, ty)
        g = torch.autograd.grad(v, [tp["w1"], tp["b1"], tp["w2"], tp["b2"]])
        with torch.no_grad():
            new = [p - 0.1 * gp for p, gp in zip((tp["w1"], tp["b1"], tp["w2"], tp["b2"]), g)]
        return v, new
    tstep()
    return tstep


# ----------------------------------------------------------------------------- harness

def make_problem(m, rng):
    x = rng.normal(size=(m, D)).astype(np.float32)
    y = rng.integers(0, K, size=m)
    params = {"w1": (rng.normal(size=(D, H)) / np.sqrt(D)).astype(np.float32),
              "b1": (0.1 * rng.normal(size=H)).astype(np.float32),
              "w2": (rng.normal(size=(H, K)) / np.sqrt(H)).astype(np.float32),
              "b2": (0.1 * rng.normal(size=K)).astype(np.float32)}
    return params, x, y


def check(fg_step, params, x, y):
    v_fg, p_fg = fg_step(params, x, y)
    v_np, p_np = numpy_step(params, x, y)
    np.testing.assert_allclose(v_fg, v_np, rtol=1e-5, atol=1e-6)
    assert np.asarray(v_fg).dtype == np.float32, np.asarray(v_fg).dtype
    for k in p_np:
        assert p_fg[k].dtype == np.float32 and p_fg[k].shape == params[k].shape, (k, p_fg[k].dtype)
        np.testing.assert_allclose(p_fg[k], p_np[k], rtol=1e-5, atol=1e-6, err_msg=k)
    # the update changed the parameters by the same amount (compare the deltas, not just params)
    for k in p_np:
        d_fg, d_np = p_fg[k] - params[k], p_np[k] - params[k]
        # float32 subtraction p_new - p cancels digits: tolerance relative to the update's size
        np.testing.assert_allclose(d_fg, d_np, rtol=1e-3, atol=1e-3 * float(np.abs(d_np).max()),
                                   err_msg=f"update of {k}")
    return float(v_fg)


def calls_per_repeat(f, target_s=0.02):
    t = timeit.timeit(f, number=1)
    return max(1, int(target_s / max(t, 1e-7)))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=30,
                    help="round-robin repeats of ~20 ms each per variant; the best is kept")
    ap.add_argument("--batches", default="32,500,4096")
    args = ap.parse_args()
    batches = [int(b) for b in args.batches.split(",")]

    print(f"# bench_mlp_step: 784-100-10 MLP, one SGD step (value_and_grad + update), float32")
    print(f"python {platform.python_version()}, numpy {np.__version__}, {os.cpu_count()} CPUs, "
          f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', 'unset')}, "
          f"best of {args.repeats} repeats, round-robin")
    rng = np.random.default_rng(0)
    fg_step = fg.jit(sgd_step)
    fg_interp = fg.jit(sgd_step, backend="interpret")
    rows = []
    for m in batches:
        params, x, y = make_problem(m, rng)
        t0 = time.perf_counter()
        fg_step(params, x, y)
        t_first = time.perf_counter() - t0
        wait = getattr(fg_step.lower(params, x, y).compiled, "wait", None)
        assert wait is None or wait(), "fg.jit's program is not running compiled code"
        v = check(fg_step, params, x, y)
        check(fg_interp, params, x, y)
        print(f"batch {m}: funcgrad == hand NumPy (loss {v:.6f}, params after the update: allclose "
              f"rtol 1e-5); first call (trace+compile or cache load) {t_first:.2f} s")
        funcs = {"matmul floor": make_floor(m, rng),
                 "hand NumPy": lambda: numpy_step(params, x, y),
                 "funcgrad jit (numba)": lambda: fg_step(params, x, y),
                 "funcgrad jit (interpret)": lambda: fg_interp(params, x, y)}
        for name, maker in (("JAX jit", make_jax), ("PyTorch (eager)", make_torch)):
            f = maker(params, x, y)
            if f is not None:
                funcs[name] = f
        numbers = {name: calls_per_repeat(f) for name, f in funcs.items()}
        # one common call count per variant, decided up front; then round-robin repeats
        best = {name: float("inf") for name in funcs}
        for _ in range(args.repeats):
            for name, f in funcs.items():
                n = numbers[name]
                best[name] = min(best[name], timeit.timeit(f, number=n) / n)
        rows.append((m, best))

    print()
    print("| batch | variant | time per step | vs matmul floor | vs hand NumPy |")
    print("| ---: | --- | ---: | ---: | ---: |")
    for m, best in rows:
        floor, hand = best["matmul floor"], best["hand NumPy"]
        for name, t in best.items():
            extra = f" ({matmul_flops(m) / t / 1e9:.1f} GFLOP/s)" if name == "matmul floor" else ""
            print(f"| {m} | {name}{extra} | {t * 1e3:.3f} ms | {t / floor:.2f}x | {t / hand:.2f}x |")
    for name in ("JAX jit", "PyTorch (eager)"):
        if not any(name in best for _, best in rows):
            print(f"| - | {name} | not installed, skipped | | |")
    print()
    print("Targets: funcgrad jit (numba) <= 1.3x the matmul floor; <= 0.7x JAX jit.")
    for m, best in rows:
        r = best["funcgrad jit (numba)"] / best["matmul floor"]
        line = f"- batch {m}: funcgrad/floor = {r:.2f}x ({'met' if r <= 1.3 else 'NOT met'})"
        if "JAX jit" in best:
            rj = best["funcgrad jit (numba)"] / best["JAX jit"]
            line += f"; funcgrad/JAX = {rj:.2f}x ({'met' if rj <= 0.7 else 'NOT met'})"
        else:
            line += "; JAX not installed (no same-run JAX ratio)"
        print(line)


if __name__ == "__main__":
    main()
