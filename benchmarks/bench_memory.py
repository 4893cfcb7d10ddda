"""Peak resident memory and growth over 1,000 SGD steps of the 784-100-10 MLP
(batch 500, float32, integer labels), one fresh process per variant.

Variants (each in its own ``python`` subprocess):

- ``baseline``: imports and data only, no step (what every variant starts from)
- ``hand NumPy``: forward + BP1-BP4 + update by hand
- ``funcgrad jit (numba), warm cache``: ``fg.jit(step)``, the program loaded from
  a ``FUNCGRAD_CACHE_DIR`` filled by an earlier process (compiled synchronously)
- ``funcgrad jit (numba), cold cache``: the same with an empty cache directory,
  so Numba/LLVM compile inside the measured process
- ``funcgrad jit (interpret)``: ``fg.jit(step, backend="interpret")``

Reported per variant: peak RSS (``resource.getrusage(RUSAGE_SELF).ru_maxrss``
at exit), RSS after step 100 and after step 1,000 (from ``/proc/self/statm``),
and their difference (growth over 900 steps). Ratios are against the hand NumPy
process of the same run. Lowest of ``--repeats`` processes (default 1) for the
peaks; the growth figures are from the same process as the reported peak.
A ``Numba floor`` process (baseline + ``import numba`` + compiling and running
a tiny ``@njit`` function) shows what Numba itself costs.

The children run with ``OPENBLAS_NUM_THREADS=1`` (``--blas-threads``): memory
does not depend on it much, and on the shared 2-core machine two BLAS threads
under load made 1,000 steps take 25 s per process instead of ~5 s.

Run:  python benchmarks/bench_memory.py  [--repeats N] [--steps N]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import importlib.util
import subprocess
import sys
import tempfile

CHILD = r'''
import json, os, resource, sys
variant, steps = sys.argv[1], int(sys.argv[2])
os.environ.setdefault("FUNCGRAD_COMPILE", "sync")
import numpy as np
import funcgrad as fg
import funcgrad.numpy as fnp
if hasattr(fg, "config"):
    fg.config.compile_mode = "sync"

PAGE = os.sysconf("SC_PAGE_SIZE")
def rss():
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * PAGE

D, H, K, M = 784, 100, 10, 500
LR = np.float32(0.1)

def loss(params, x, y):
    h = fnp.tanh(x @ params["w1"] + params["b1"])
    z = h @ params["w2"] + params["b2"]
    logp = z - fnp.logsumexp(z, axis=1, keepdims=True)
    return -fnp.mean(logp[fnp.arange(y.shape[0]), y])

def sgd_step(params, x, y):
    value, g = fg.value_and_grad(loss)(params, x, y)
    return value, fg.tree.map(lambda p, gp: p - LR * gp, params, g)

def numpy_step(params, x, y):
    w1, b1, w2, b2 = params["w1"], params["b1"], params["w2"], params["b2"]
    m = x.shape[0]
    rows = np.arange(m)
    a1 = np.tanh(x @ w1 + b1)
    z2 = a1 @ w2 + b2
    zmax = z2.max(axis=1, keepdims=True)
    e = np.exp(z2 - zmax)
    s = e.sum(axis=1, keepdims=True)
    value = -np.mean((z2 - zmax - np.log(s))[rows, y])
    delta2 = e / s
    delta2[rows, y] -= 1
    delta2 /= np.float32(m)
    delta1 = (delta2 @ w2.T) * (1 - a1 * a1)
    return value, {"w1": w1 - LR * (x.T @ delta1), "b1": b1 - LR * delta1.sum(axis=0),
                   "w2": w2 - LR * (a1.T @ delta2), "b2": b2 - LR * delta2.sum(axis=0)}

rng = np.random.default_rng(0)
x = rng.normal(size=(M, D)).astype(np.float32)
y = rng.integers(0, K, size=M)
params = {"w1": (rng.normal(size=(D, H)) / np.sqrt(D)).astype(np.float32),
          "b1": np.zeros(H, np.float32),
          "w2": (rng.normal(size=(H, K)) / np.sqrt(H)).astype(np.float32),
          "b2": np.zeros(K, np.float32)}
if variant == "numpy":
    step = numpy_step
elif variant == "numba":
    step = fg.jit(sgd_step)
elif variant == "interpret":
    step = fg.jit(sgd_step, backend="interpret")
elif variant == "jax":
    import jax
    import jax.numpy as jnp

    def jax_loss(p, x, y):
        h = jnp.tanh(x @ p["w1"] + p["b1"])
        z = h @ p["w2"] + p["b2"]
        logp = z - jax.nn.logsumexp(z, axis=1, keepdims=True)
        return -jnp.mean(logp[jnp.arange(y.shape[0]), y])

    @jax.jit
    def step(p, x, y):
        value, g = jax.value_and_grad(jax_loss)(p, x, y)
        return value, jax.tree_util.tree_map(lambda a, b: a - LR * b, p, g)
elif variant == "numba_floor":   # Numba's own footprint: import it, compile and run a tiny function
    import numba
    @numba.njit
    def tiny(a):
        return a.sum()
    tiny(x)
    step = None
else:
    step = None
rss_start = rss()
out = {"rss_start": rss_start}
losses = []
if step is not None:
    for i in range(1, steps + 1):
        v, params = step(params, x, y)
        if i == 1 and variant == "numba":
            wait = getattr(step.lower(params, x, y).compiled, "wait", None)
            assert wait is None or wait()
        if i == 100:
            out["rss_100"] = rss()
        if i % 100 == 0:
            losses.append(float(v))
    out["rss_end"] = rss()
    if len(losses) >= 2:
        assert losses[-1] < losses[0], losses    # training progresses
        out["loss_first"], out["loss_last"] = losses[0], losses[-1]
out["maxrss"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024   # KiB on Linux
print(json.dumps(out))
'''


def run_child(variant, steps, env_extra, blas_threads):
    env = dict(os.environ)
    env.update(env_extra)
    if blas_threads:
        env["OPENBLAS_NUM_THREADS"] = str(blas_threads)
    p = subprocess.run([sys.executable, "-c", CHILD, variant, str(steps)], env=env, capture_output=True,
                       text=True, timeout=600)
    if p.returncode != 0:
        raise RuntimeError(f"{variant} failed ({p.returncode}):\n{p.stderr[-3000:]}")
    return json.loads(p.stdout.strip().splitlines()[-1])


MB = 1024 * 1024


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--blas-threads", type=int, default=1,
                    help="OPENBLAS_NUM_THREADS for the children (0: leave the environment as it is)")
    args = ap.parse_args()
    if not sys.platform.startswith("linux"):
        sys.exit("bench_memory reads /proc/self/statm: Linux only")
    tmp = tempfile.mkdtemp(prefix="fg_bench_memory_")
    try:
        warm_dir = os.path.join(tmp, "warm")
        run_child("numba", 1, {"FUNCGRAD_CACHE_DIR": warm_dir}, args.blas_threads)        # fill the cache
        variants = {
            "baseline: imports + data, no step": ("none", lambda i: {"FUNCGRAD_CACHE_DIR": warm_dir}),
            "Numba floor: baseline + import numba + compile/run a tiny @njit function":
                ("numba_floor", lambda i: {"FUNCGRAD_CACHE_DIR": warm_dir}),
            "hand NumPy": ("numpy", lambda i: {"FUNCGRAD_CACHE_DIR": warm_dir}),
            "funcgrad jit (numba), warm cache": ("numba", lambda i: {"FUNCGRAD_CACHE_DIR": warm_dir}),
            "funcgrad jit (numba), cold cache (compiles in process)":
                ("numba", lambda i: {"FUNCGRAD_CACHE_DIR": os.path.join(tmp, f"cold{i}")}),
            'funcgrad jit (interpret)': ("interpret", lambda i: {"FUNCGRAD_CACHE_DIR": warm_dir}),
        }
        # find_spec, not import: ru_maxrss survives fork+exec on Linux, so importing JAX here
        # would raise every child's reported peak
        if importlib.util.find_spec("jax") is not None:   # optional reference
            variants["JAX jit (optional reference)"] = ("jax", lambda i: {"FUNCGRAD_CACHE_DIR": warm_dir})
        else:
            print("JAX: not installed, skipped")
        results = {name: [] for name in variants}
        for i in range(args.repeats):
            for name, (variant, env) in variants.items():       # round-robin
                results[name].append(run_child(variant, args.steps, env(i), args.blas_threads))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    best = {name: min(rs, key=lambda r: r["maxrss"]) for name, rs in results.items()}

    ref = best["hand NumPy"]["maxrss"]
    base = best["baseline: imports + data, no step"]["maxrss"]
    print(f"# bench_memory: {args.steps} SGD steps of the 784-100-10 MLP, batch 500, float32; "
          "one fresh process per variant")
    print(f"python {platform.python_version()}, {os.cpu_count()} CPUs; lowest peak of {args.repeats} "
          f"process(es) per variant (round-robin); OPENBLAS_NUM_THREADS="
          f"{args.blas_threads or os.environ.get('OPENBLAS_NUM_THREADS', 'unset')} in the children; "
          "MiB = 2^20 bytes, KiB = 2^10")
    print()
    print("| variant | peak RSS (ru_maxrss) | vs hand NumPy | peak above baseline | RSS at start "
          "| RSS after step 100 | RSS after last step | growth 100 -> last |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name, r in best.items():
        if "rss_100" in r:
            growth = r["rss_end"] - r["rss_100"]
            cols = (f"{r['rss_100'] / MB:.1f} MiB | {r['rss_end'] / MB:.1f} MiB | "
                    f"{growth / 1024:+.0f} KiB ({growth / r['rss_100'] * 100:+.2f}%)")
        else:
            cols = "- | - | -"
        print(f"| {name} | {r['maxrss'] / MB:.1f} MiB | {r['maxrss'] / ref:.2f}x | "
              f"{(r['maxrss'] - base) / MB:+.1f} MiB | {r['rss_start'] / MB:.1f} MiB | {cols} |"
              .replace("-0.0 MiB", "+0.0 MiB"))
    print()
    all_growth = {name: [x["rss_end"] - x["rss_100"] for x in rs] for name, rs in results.items()
                  if "rss_100" in rs[0]}
    print("Growth (RSS after the last step minus after step 100) in every process: "
          + "; ".join(f"{name}: " + ", ".join(f"{g / 1024:+.0f}" for g in gs) + " KiB"
                      for name, gs in all_growth.items()))


if __name__ == "__main__":
    main()
