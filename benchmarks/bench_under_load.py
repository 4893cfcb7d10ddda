"""The 784-100-10 MLP step on an oversubscribed machine (issue 10, part 7).

For each run and each number of competing processes (``--loads``), starts
that many busy processes (alternately a NumPy process multiplying 512x512
float64 matrices with OpenBLAS's default threads, and, when JAX is installed,
a JAX process doing the same under ``jax.jit``), waits until each has done
its first product, then times the step of benchmarks/bench_mlp_step.py under
``fg.jit`` (once per funcgrad BLAS setting in ``--settings``, see
funcgrad/backends/numba_backend/blas.py) and ``jax.jit`` in this process,
in rounds of ~50 ms per variant, the variants in a new random order each
round, and reports medians of ``--rounds`` rounds. (The order matters under
load: the threads of a variant sleep while the others run, and the
scheduler lets threads that slept run first for a while, so in a fixed
order the variant after JAX is favoured.) The load processes stop at the end of each run (they also stop by
themselves after ``--max-seconds``).

The load is stated per run: the 1-minute load average before the run starts
(other users of the machine), the median number of runnable threads on the
machine during it (``/proc/loadavg``, this process's included), the median
of the cores other processes used as funcgrad's ``auto`` setting measures it
(blas.py, a sample every 0.25 s while ``auto`` has been used in this
process), and in how many rounds ``auto`` had chosen OpenBLAS's own threads
(free cores) rather than funcgrad's pool.

After a variant that ran on OpenBLAS's own threads (``openblas``, or
``auto`` while it finds the cores free), the script pauses 0.15 s: OpenBLAS's
idle threads spin that long after a product and would otherwise slow the
next variant down.

Run:  python benchmarks/bench_under_load.py [--loads 0,1,2] [--runs 3] [--settings auto,openblas]
      [--batch 4096] [--rounds 15]
"""
from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import time

os.environ["FUNCGRAD_COMPILE"] = "sync"

_LOAD_NUMPY = """
import time, numpy as np
a = np.random.default_rng(0).standard_normal((512, 512)); end = time.time() + {t}
a = np.tanh(a @ a * 1e-3); print("ready", flush=True)
while time.time() < end:
    a = np.tanh(a @ a * 1e-3)
"""
_LOAD_JAX = """
import time, jax, jax.numpy as jnp
f = jax.jit(lambda a: jnp.tanh(a @ a * 1e-3))
a = jnp.ones((512, 512)); end = time.time() + {t}
a = f(a).block_until_ready(); print("ready", flush=True)
while time.time() < end:
    a = f(a).block_until_ready()
"""


def start_load(n, max_seconds, with_jax, wait=True):
    """Start ``n`` busy processes; with ``wait``, return once each has started working."""
    procs = []
    for i in range(n):
        code = (_LOAD_JAX if with_jax and i % 2 else _LOAD_NUMPY).format(t=max_seconds)
        procs.append(subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE,
                                      stderr=subprocess.DEVNULL, text=True))
    if wait:
        for p in procs:
            p.stdout.readline()
        time.sleep(0.5)
    return procs


def runnable_threads():
    try:
        with open("/proc/loadavg") as f:
            return int(f.read().split()[3].split("/")[0])
    except (OSError, ValueError, IndexError):
        return -1


def timed(f, n):
    t = time.perf_counter()
    for _ in range(n):
        f()
    return (time.perf_counter() - t) / n


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--loads", default="0,1,2", help="numbers of competing processes, one run each")
    ap.add_argument("--load", type=int, default=None, help="a single number of competing processes")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--settings", default="auto",
                    help="funcgrad BLAS settings to time side by side (auto, openblas, or a thread count)")
    ap.add_argument("--batch", type=int, default=4096)
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--max-seconds", type=float, default=120)
    args = ap.parse_args()
    loads = [args.load] if args.load is not None else [int(v) for v in args.loads.split(",")]
    settings = args.settings.split(",")

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import numpy as np

    import bench_mlp_step as mlp
    import funcgrad as fg
    from funcgrad.backends.numba_backend import blas

    fg.config.compile_mode = "sync"
    rng = np.random.default_rng(0)
    params, x, y = mlp.make_problem(args.batch, rng)
    step = fg.jit(mlp.sgd_step, backend="numba")
    mlp.check(step, params, x, y)
    variants = {}
    for s in settings:
        def run_fg(s=s):
            blas.set_threads(s)
            step(params, x, y)
        variants[f"funcgrad [{s}]"] = run_fg
    jstep = mlp.make_jax(params, x, y)   # None without JAX
    with_jax = jstep is not None
    if with_jax:
        variants["JAX jit"] = jstep
    for f in variants.values():
        f()

    print(f"# bench_under_load: 784-100-10 MLP step, batch {args.batch}, {os.cpu_count()} cores, "
          f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', 'unset')}, "
          f"competing processes: NumPy{' and JAX alternately' if with_jax else ''}, "
          f"median of {args.rounds} rounds per run\n")
    names = list(variants)
    fg_names = [k for k in names if k.startswith("funcgrad")]
    head = "| load | run | load avg before | runnable threads | others' cores | auto: OpenBLAS | " + " | ".join(names)
    if with_jax:
        head += " | " + " | ".join(f"{k} / JAX" for k in fg_names)
    print(head + " |")
    print("| ---: " * (head.count("|") - 1) + "|")
    ratios = {(load, k): [] for load in loads for k in fg_names}
    rnd = random.Random(0)
    for run in range(1, args.runs + 1):
        for load in loads:
            la = os.getloadavg()[0]
            procs = start_load(load, args.max_seconds, with_jax)
            try:
                n_calls = {k: max(1, int(0.05 / max(1e-6, timed(f, 1)))) for k, f in variants.items()}
                times = {k: [] for k in variants}
                running, others, auto_ob = [], [], 0
                for _ in range(args.rounds):
                    order = list(variants)
                    rnd.shuffle(order)
                    for k in order:
                        times[k].append(timed(variants[k], n_calls[k]))
                        if k.endswith("[openblas]") or (k.endswith("[auto]") and blas.stats()["auto_uses_openblas"]):
                            time.sleep(0.15)   # OpenBLAS's idle threads spin that long
                    running.append(runnable_threads())
                    st = blas.stats()
                    if st["others_cores"] is not None:
                        others.append(st["others_cores"])
                    auto_ob += st["auto_choice_openblas"]
            finally:
                for p in procs:
                    p.kill()
                for p in procs:
                    p.wait()
            med = {k: statistics.median(v) for k, v in times.items()}
            oc = f"{statistics.median(others):.2f}" if others else "-"
            row = f"| {load} | {run} | {la:.2f} | {statistics.median(running):.0f} | {oc} | {auto_ob}/{args.rounds} | "
            row += " | ".join(f"{med[k] * 1e3:.2f} ms" for k in names)
            if with_jax:
                for k in fg_names:
                    ratios[(load, k)].append(med[k] / med["JAX jit"])
                row += " | " + " | ".join(f"{med[k] / med['JAX jit']:.2f}x" for k in fg_names)
            print(row + " |", flush=True)
            time.sleep(1.0)
    if with_jax:
        print("\n| load | variant | median ratio to JAX | worst run |")
        print("| ---: | --- | ---: | ---: |")
        for (load, k), r in ratios.items():
            print(f"| {load} | {k} | {statistics.median(r):.2f}x | {max(r):.2f}x |")


if __name__ == "__main__":
    main()
