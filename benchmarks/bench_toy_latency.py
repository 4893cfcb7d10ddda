"""Per-call latency of the gradient of the toy network of lecture 003
(examples/toy_network.py): 8 scalar float64 parameters in a dict, one scalar
x and y.

    f[x, phi] = beta3 + omega3 cos(beta2 + omega2 exp(beta1 + omega1 sin(beta0 + omega0 x)))
    loss      = (f[x, phi] - y)^2

Variants, all called from Python with the same arguments (a dict of eight
np.float64 scalars, a float x and a float y) and all returning the 8 partials:

- ``fg.jit(fg.grad(loss))``                 (numba backend); also with x and y
  passed as ``np.float64`` instead of Python floats
- ``fg.grad(loss, backend="numba")``
- ``fg.grad(loss, backend="interpret")``
- hand ``@njit`` gradient: forward + backward written by hand in one Numba
  function returning a tuple; the Python wrapper unpacks the dict and builds
  the result dict (the same work funcgrad's API has to do). Also the bare
  ``@njit`` call on 10 floats, the floor of any Python -> Numba call.
- hand Python/NumPy gradient (examples/toy_network.py's ``grad_by_hand``,
  written out here) using ``np.sin`` etc. on the np.float64 scalars, and the
  same with the ``math`` module.
- JAX ``jax.jit(jax.grad(loss))`` when installed (skipped otherwise).

Every variant's result is checked against the hand gradient first. Timing:
``timeit`` with many calls per repeat, best of the repeats, round-robin, in
microseconds, with ratios against the hand ``@njit`` gradient and the hand
Python gradient of the same run.

Run:  python benchmarks/bench_toy_latency.py  [--repeats N]
"""
from __future__ import annotations

import argparse
import math
import os
import platform
import timeit

# Steady-state timings: compile synchronously, so that no call runs in the
# interpreter while Numba compiles in the background (funcgrad's async mode).
os.environ["FUNCGRAD_COMPILE"] = "sync"

import numba
import numpy as np
from numba import njit

import funcgrad as fg
import funcgrad.numpy as fnp

if hasattr(fg, "config"):
    fg.config.compile_mode = "sync"

NAMES = ["beta0", "omega0", "beta1", "omega1", "beta2", "omega2", "beta3", "omega3"]


def f(phi, x):
    return phi["beta3"] + phi["omega3"] * fnp.cos(
        phi["beta2"] + phi["omega2"] * fnp.exp(
            phi["beta1"] + phi["omega1"] * fnp.sin(phi["beta0"] + phi["omega0"] * x)))


def loss(phi, x, y):
    return (f(phi, x) - y) ** 2


# ----------------------------------------------------------------------------- by hand

def grad_by_hand_numpy(phi, x, y):
    """Forward then backward by hand, with NumPy's ufuncs on np.float64 scalars."""
    b0, w0, b1, w1, b2, w2, b3, w3 = (phi[k] for k in NAMES)
    f0 = b0 + w0 * x
    h1 = np.sin(f0)
    f1 = b1 + w1 * h1
    h2 = np.exp(f1)
    f2 = b2 + w2 * h2
    h3 = np.cos(f2)
    f3 = b3 + w3 * h3
    d3 = 2 * (f3 - y)
    d2 = -np.sin(f2) * (w3 * d3)
    d1 = h2 * (w2 * d2)
    d0 = np.cos(f0) * (w1 * d1)
    return {"beta0": d0, "omega0": x * d0, "beta1": d1, "omega1": h1 * d1,
            "beta2": d2, "omega2": h2 * d2, "beta3": d3, "omega3": h3 * d3}


def grad_by_hand_math(phi, x, y):
    """The same with the math module (plain Python floats: the fastest pure Python)."""
    b0, w0, b1, w1, b2, w2, b3, w3 = (phi[k] for k in NAMES)
    f0 = b0 + w0 * x
    h1 = math.sin(f0)
    f1 = b1 + w1 * h1
    h2 = math.exp(f1)
    f2 = b2 + w2 * h2
    h3 = math.cos(f2)
    f3 = b3 + w3 * h3
    d3 = 2 * (f3 - y)
    d2 = -math.sin(f2) * (w3 * d3)
    d1 = h2 * (w2 * d2)
    d0 = math.cos(f0) * (w1 * d1)
    return {"beta0": d0, "omega0": x * d0, "beta1": d1, "omega1": h1 * d1,
            "beta2": d2, "omega2": h2 * d2, "beta3": d3, "omega3": h3 * d3}


@njit(cache=False, nogil=True)
def _grad_kernel(b0, w0, b1, w1, b2, w2, b3, w3, x, y):
    f0 = b0 + w0 * x
    h1 = math.sin(f0)
    f1 = b1 + w1 * h1
    h2 = math.exp(f1)
    f2 = b2 + w2 * h2
    h3 = math.cos(f2)
    f3 = b3 + w3 * h3
    d3 = 2.0 * (f3 - y)
    d2 = -math.sin(f2) * (w3 * d3)
    d1 = h2 * (w2 * d2)
    d0 = math.cos(f0) * (w1 * d1)
    return (d0, x * d0, d1, h1 * d1, d2, h2 * d2, d3, h3 * d3)


def grad_by_hand_njit(phi, x, y):
    """The hand @njit kernel behind the same dict-in, dict-out interface."""
    g = _grad_kernel(phi["beta0"], phi["omega0"], phi["beta1"], phi["omega1"],
                     phi["beta2"], phi["omega2"], phi["beta3"], phi["omega3"], x, y)
    return dict(zip(NAMES, g))


# ----------------------------------------------------------------------------- harness

def make_jax(phi, x, y):
    try:
        import jax
        import jax.numpy as jnp
    except ImportError:
        return None
    jax.config.update("jax_enable_x64", True)

    def jloss(p, x, y):
        fx = p["beta3"] + p["omega3"] * jnp.cos(p["beta2"] + p["omega2"] * jnp.exp(
            p["beta1"] + p["omega1"] * jnp.sin(p["beta0"] + p["omega0"] * x)))
        return (fx - y) ** 2

    g = jax.jit(jax.grad(jloss))
    jphi = {k: jnp.asarray(v) for k, v in phi.items()}
    jax.block_until_ready(g(jphi, x, y))
    return lambda: jax.block_until_ready(g(jphi, x, y))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=7)
    args = ap.parse_args()
    phi = {k: np.float64(v) for k, v in zip(NAMES, [1.0, 0.1, -0.4, 2.0, -3.0, 2.0, 0.4, 3.0])}
    x, y = 2.3, 2.0                     # Python floats, as in examples/toy_network.py
    x64, y64 = np.float64(x), np.float64(y)

    jit_grad = fg.jit(fg.grad(loss))
    numba_grad = fg.grad(loss, backend="numba")
    interp_grad = fg.grad(loss, backend="interpret")
    variants = {
        "hand @njit kernel, bare call (10 floats in, tuple out)":
            lambda: _grad_kernel(phi["beta0"], phi["omega0"], phi["beta1"], phi["omega1"],
                                 phi["beta2"], phi["omega2"], phi["beta3"], phi["omega3"], x, y),
        "hand @njit gradient (dict in, dict out)": lambda: grad_by_hand_njit(phi, x, y),
        "hand Python gradient (math module)": lambda: grad_by_hand_math(phi, x, y),
        "hand Python/NumPy gradient (np.sin on np.float64)": lambda: grad_by_hand_numpy(phi, x, y),
        "fg.jit(fg.grad(loss))": lambda: jit_grad(phi, x, y),
        "fg.jit(fg.grad(loss)), x and y as np.float64": lambda: jit_grad(phi, x64, y64),
        'fg.grad(loss, backend="numba")': lambda: numba_grad(phi, x, y),
        'fg.grad(loss, backend="interpret")': lambda: interp_grad(phi, x, y),
    }
    jf = make_jax(phi, x, y)
    if jf is not None:
        variants["JAX jax.jit(jax.grad(loss))"] = jf

    # correctness first (this also compiles everything)
    ref = grad_by_hand_numpy(phi, x, y)
    for name, fn in (("jit", jit_grad), ("numba", numba_grad), ("interpret", interp_grad),
                     ("njit", grad_by_hand_njit), ("math", grad_by_hand_math)):
        g = fn(phi, x, y)
        for k in NAMES:
            assert np.asarray(g[k]).dtype == np.float64 if name in ("jit", "numba", "interpret") else True
            np.testing.assert_allclose(float(g[k]), float(ref[k]), rtol=1e-12, atol=1e-12,
                                       err_msg=f"{name} {k}")
    _grad_kernel(*[phi[k] for k in NAMES], x, y)
    for xx, yy in ((x, y), (x64, y64)):
        g = jit_grad(phi, xx, yy)
        assert all(float(g[k]) == float(ref[k]) or abs(g[k] - ref[k]) < 1e-12 for k in NAMES)
        wait = getattr(jit_grad.lower(phi, xx, yy).compiled, "wait", None)
        assert wait is None or wait(), "fg.jit's program is not running compiled code"

    number = {}
    for name, fn in variants.items():
        t = timeit.timeit(fn, number=200) / 200
        number[name] = max(1000, int(0.1 / t))      # about 0.1 s per repeat
    best = {name: float("inf") for name in variants}
    for _ in range(args.repeats):
        for name, fn in variants.items():
            best[name] = min(best[name], timeit.timeit(fn, number=number[name]) / number[name])

    njit_ref = best["hand @njit gradient (dict in, dict out)"]
    py_ref = best["hand Python/NumPy gradient (np.sin on np.float64)"]
    print(f"# bench_toy_latency: gradient of the toy network (8 float64 scalars in a dict), per call")
    print(f"python {platform.python_version()}, numpy {np.__version__}, numba {numba.__version__}; "
          f"best of {args.repeats} repeats (round-robin) of >= 1000 calls each")
    print()
    print("| variant | per call | vs hand @njit (dict in/out) | vs hand Python/NumPy |")
    print("| --- | ---: | ---: | ---: |")
    for name, t in best.items():
        print(f"| {name} | {t * 1e6:.2f} us | {t / njit_ref:.2f}x | {t / py_ref:.2f}x |")
    if jf is None:
        print("| JAX jax.jit(jax.grad(loss)) | not installed, skipped | | |")
    print()
    print("Targets: <= 2 us per call; <= 0.25x JAX.")
    for name in ("fg.jit(fg.grad(loss))", "fg.jit(fg.grad(loss)), x and y as np.float64",
                 'fg.grad(loss, backend="numba")'):
        t = best[name]
        line = f"- {name}: {t * 1e6:.2f} us ({'met' if t <= 2e-6 else f'NOT met, {t / 2e-6:.1f}x the target'})"
        if jf is not None:
            r = t / best["JAX jax.jit(jax.grad(loss))"]
            line += f"; vs JAX {r:.2f}x ({'met' if r <= 0.25 else 'NOT met'})"
        else:
            line += "; JAX not installed (no same-run JAX ratio)"
        print(line)


if __name__ == "__main__":
    main()
