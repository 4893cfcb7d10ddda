"""10,000 SGD steps of the lecture-003 toy network in ONE compiled loop.

    f[x, phi] = beta3 + omega3 cos(beta2 + omega2 exp(beta1 + omega1 sin(beta0 + omega0 x)))
    step i:     phi -= eta * grad_phi (f[x_j, phi] - y_j)^2,   j = i mod N   (online SGD)

Variants, each one call running all 10,000 steps (8 float64 scalar parameters,
N = 200 samples, eta = 0.01):

- funcgrad: ``fg.jit`` of ``fg.fori_loop(0, 10000, body, phi)`` where ``body``
  calls ``fg.grad`` of the loss on sample ``j``: the loop, the forward and
  backward passes and the update compile into one Numba function;
- hand ``@njit``: the same loop with the forward and backward passes written
  out by hand (the lecture's chain rule), the floor for Numba;
- JAX (when installed): ``jax.jit`` of ``jax.lax.fori_loop`` with ``jax.grad``
  inside, float64 (``jax_enable_x64``).
- the same funcgrad and JAX loops with the 8 parameters in ONE array ``p``,
  the loss reading ``p[0]`` ... ``p[7]`` (issue 10's form: the gradient of
  each read is a piece of an 8-array, which the ``accumulate`` pass turns
  into updates of one buffer).

All variants start from the same parameters and are checked to agree (1e-9)
before timing. Timing: best of ``--repeats`` calls after a warm-up, round-robin,
ratios against JAX and against the hand loop from the same run.

Run:  python benchmarks/bench_toy_sgd_loop.py  [--repeats 100]
"""
from __future__ import annotations

import argparse
import os
import platform
import time

os.environ["FUNCGRAD_COMPILE"] = "sync"

import numba
import numpy as np
from numba import njit

import funcgrad as fg
from _timing import best_of
import funcgrad.numpy as fnp

N, STEPS, LR = 200, 10_000, 0.01
NAMES = ["beta0", "omega0", "beta1", "omega1", "beta2", "omega2", "beta3", "omega3"]
START = [0.1, 1.0, 0.0, 1.0, 0.0, 1.0, 0.0, 1.0]


def data():
    rng = np.random.default_rng(0)
    x = rng.uniform(-2.0, 2.0, N)
    return x, np.sin(2.0 * x)


# ----------------------------------------------------------------------------- funcgrad

def f(phi, x):
    return phi["beta3"] + phi["omega3"] * fnp.cos(
        phi["beta2"] + phi["omega2"] * fnp.exp(
            phi["beta1"] + phi["omega1"] * fnp.sin(phi["beta0"] + phi["omega0"] * x)))


def loss(phi, xi, yi):
    return (f(phi, xi) - yi) ** 2


def train_funcgrad(phi, x, y):
    def body(i, phi):
        j = i % N
        g = fg.grad(loss)(phi, x[j], y[j])
        return {k: phi[k] - LR * g[k] for k in phi}
    return fg.fori_loop(0, STEPS, body, phi)


def f_array(p, x):
    return p[6] + p[7] * fnp.cos(p[4] + p[5] * fnp.exp(p[2] + p[3] * fnp.sin(p[0] + p[1] * x)))


def train_funcgrad_array(p, x, y):
    def body(i, p):
        j = i % N
        return p - LR * fg.grad(lambda q, xi, yi: (f_array(q, xi) - yi) ** 2)(p, x[j], y[j])
    return fg.fori_loop(0, STEPS, body, p)


# ----------------------------------------------------------------------------- hand @njit

@njit(cache=True)
def train_hand(p, x, y, steps, lr):
    b0, w0, b1, w1, b2, w2, b3, w3 = p
    n = x.shape[0]
    for i in range(steps):
        xi = x[i % n]
        yi = y[i % n]
        f0 = b0 + w0 * xi
        h1 = np.sin(f0)
        f1 = b1 + w1 * h1
        h2 = np.exp(f1)
        f2 = b2 + w2 * h2
        h3 = np.cos(f2)
        f3 = b3 + w3 * h3
        d3 = 2.0 * (f3 - yi)
        d2 = -np.sin(f2) * w3 * d3
        d1 = h2 * w2 * d2
        d0 = np.cos(f0) * w1 * d1
        b0 -= lr * d0
        w0 -= lr * xi * d0
        b1 -= lr * d1
        w1 -= lr * h1 * d1
        b2 -= lr * d2
        w2 -= lr * h2 * d2
        b3 -= lr * d3
        w3 -= lr * h3 * d3
    return b0, w0, b1, w1, b2, w2, b3, w3


# ----------------------------------------------------------------------------- JAX

def jax_variant(x, y):
    try:
        import jax
        import jax.numpy as jnp
    except ImportError:
        return None
    jax.config.update("jax_enable_x64", True)

    def jf(phi, xi):
        b0, w0, b1, w1, b2, w2, b3, w3 = phi
        return b3 + w3 * jnp.cos(b2 + w2 * jnp.exp(b1 + w1 * jnp.sin(b0 + w0 * xi)))

    def jloss(phi, xi, yi):
        return (jf(phi, xi) - yi) ** 2

    @jax.jit
    def train(phi, x, y):
        def body(i, phi):
            j = i % N
            g = jax.grad(jloss)(phi, x[j], y[j])
            return tuple(a - LR * b for a, b in zip(phi, g))
        return jax.lax.fori_loop(0, STEPS, body, phi)

    @jax.jit
    def train_array(p, x, y):
        def body(i, p):
            j = i % N
            return p - LR * jax.grad(lambda q, xi, yi: jloss(tuple(q[k] for k in range(8)), xi, yi))(
                p, x[j], y[j])
        return jax.lax.fori_loop(0, STEPS, body, p)

    phi = tuple(jnp.float64(v) for v in START)
    p_array = jnp.asarray(START, dtype=jnp.float64)
    xj, yj = jnp.asarray(x), jnp.asarray(y)

    def run():
        return jax.block_until_ready(train(phi, xj, yj))

    def run_array():
        return jax.block_until_ready(train_array(p_array, xj, yj))
    return run, run_array, jax.__version__


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=100)
    args = parser.parse_args()
    x, y = data()
    phi = {k: np.float64(v) for k, v in zip(NAMES, START)}

    t = time.perf_counter()
    jitted = fg.jit(train_funcgrad)
    ours = jitted(phi, x, y)
    first_call = time.perf_counter() - t
    hand = train_hand(tuple(START), x, y, STEPS, LR)
    ours_flat = np.array([ours[k] for k in NAMES], dtype=np.float64)
    np.testing.assert_allclose(ours_flat, hand, rtol=1e-9, atol=1e-12)

    p0 = np.array(START, dtype=np.float64)
    jitted_array = fg.jit(train_funcgrad_array)
    np.testing.assert_allclose(jitted_array(p0, x, y), hand, rtol=1e-9, atol=1e-12)

    fns = {"funcgrad fg.jit(fori_loop)": lambda: jitted(phi, x, y),
           "hand @njit loop": lambda: train_hand(tuple(START), x, y, STEPS, LR),
           "funcgrad fg.jit(fori_loop), p one array": lambda: jitted_array(p0, x, y)}
    jax_info = jax_variant(x, y)
    if jax_info is not None:
        run, run_array, jax_version = jax_info
        np.testing.assert_allclose(np.array(run(), dtype=np.float64), hand, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(np.asarray(run_array(), dtype=np.float64), hand, rtol=1e-9, atol=1e-12)
        fns["JAX jit(lax.fori_loop)"] = run
        fns["JAX jit(lax.fori_loop), p one array"] = run_array
    best = best_of(fns, args.repeats)

    print(f"# 10,000 SGD steps of the toy network, one call ({platform.machine()}, "
          f"numba {numba.__version__}, numpy {np.__version__}"
          + (f", jax {jax_version}" if jax_info else "") + f", best of {args.repeats})")
    print(f"funcgrad first call (trace + compile, or disk cache): {first_call:.2f} s\n")
    hand_t = best["hand @njit loop"]
    jax_t = best.get("JAX jit(lax.fori_loop)")
    print("| variant | 10,000 steps | per step | vs hand @njit | vs JAX (same form) |")
    print("| --- | ---: | ---: | ---: | ---: |")
    jax_array_t = best.get("JAX jit(lax.fori_loop), p one array")
    for k, v in best.items():
        ref = jax_array_t if "one array" in k else jax_t
        vs_jax = f"{v / ref:.2f}x" if ref else "-"
        print(f"| {k} | {v * 1e3:.3f} ms | {v / STEPS * 1e9:.0f} ns | {v / hand_t:.2f}x | {vs_jax} |")


if __name__ == "__main__":
    main()
