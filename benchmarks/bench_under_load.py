"""The 784-100-10 MLP step on an oversubscribed machine (issue 10, part 7).

Starts ``--load`` busy processes (alternately a NumPy process multiplying
512x512 float64 matrices with OpenBLAS's default threads, and, when JAX is
installed, a JAX process doing the same under ``jax.jit``), waits for them
to run, then times the step of benchmarks/bench_mlp_step.py under
``fg.jit`` and ``jax.jit`` in this process, round-robin, median of
``--rounds`` rounds of ~50 ms each. The load processes stop when this script
ends (they also stop by themselves after ``--max-seconds``). Run it several
times: under load, single runs vary a lot. ``--load 0`` is the quiet
reference.

Run:  python benchmarks/bench_under_load.py [--load 2] [--batch 4096] [--rounds 21]
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

os.environ["FUNCGRAD_COMPILE"] = "sync"

_LOAD_NUMPY = """
import time, numpy as np
a = np.random.default_rng(0).standard_normal((512, 512)); end = time.time() + {t}
while time.time() < end:
    a = np.tanh(a @ a * 1e-3)
"""
_LOAD_JAX = """
import time, jax, jax.numpy as jnp
f = jax.jit(lambda a: jnp.tanh(a @ a * 1e-3))
a = jnp.ones((512, 512)); end = time.time() + {t}
while time.time() < end:
    a = f(a).block_until_ready()
"""


def start_load(n, max_seconds, with_jax):
    procs = []
    for i in range(n):
        code = (_LOAD_JAX if with_jax and i % 2 else _LOAD_NUMPY).format(t=max_seconds)
        procs.append(subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL))
    return procs


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--load", type=int, default=2)
    ap.add_argument("--batch", type=int, default=4096)
    ap.add_argument("--rounds", type=int, default=21)
    ap.add_argument("--max-seconds", type=float, default=120)
    args = ap.parse_args()

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import numpy as np

    import bench_mlp_step as mlp
    import funcgrad as fg

    fg.config.compile_mode = "sync"
    rng = np.random.default_rng(0)
    params, x, y = mlp.make_problem(args.batch, rng)
    step = fg.jit(mlp.sgd_step, backend="numba")
    mlp.check(step, params, x, y)
    variants = {"funcgrad fg.jit": lambda: step(params, x, y)}
    jstep = mlp.make_jax(params, x, y)   # None without JAX
    with_jax = jstep is not None
    if with_jax:
        variants["JAX jit"] = jstep
    for f in variants.values():
        f()
    load = start_load(args.load, args.max_seconds, with_jax)
    try:
        time.sleep(3 if args.load else 0)   # let the load processes import and start working
        n_calls = {k: max(1, int(0.05 / max(1e-6, timed(f, 1)))) for k, f in variants.items()}
        times = {k: [] for k in variants}
        for _ in range(args.rounds):
            for k, f in variants.items():
                times[k].append(timed(f, n_calls[k]))
    finally:
        for p in load:
            p.kill()
    print(f"{os.cpu_count()} cores, {args.load} competing processes"
          f"{' (NumPy and JAX)' if with_jax and args.load > 1 else ' (NumPy)' if args.load else ''}, "
          f"batch {args.batch}, OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', 'unset')}, "
          f"median of {args.rounds} rounds\n")
    print("| variant | per step | vs JAX |")
    print("| --- | ---: | ---: |")
    med = {k: statistics.median(v) for k, v in times.items()}
    for k, t in med.items():
        ratio = f"{t / med['JAX jit']:.2f}x" if "JAX jit" in med else "-"
        print(f"| {k} | {t * 1e3:.2f} ms | {ratio} |")


def timed(f, n):
    t = time.perf_counter()
    for _ in range(n):
        f()
    return (time.perf_counter() - t) / n


if __name__ == "__main__":
    main()
