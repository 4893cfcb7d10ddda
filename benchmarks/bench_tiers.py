"""The three tiers on the same programs (issue 10, part 4): Numba-compiled,
the vm backend's machine, and the NumPy interpreter.

Programs: the 784-100-10 MLP SGD step (batch 500, float32;
bench_mlp_step.py), the digits Adam step and the one-call epoch (a shuffle
and a scan over 42 steps; bench_digits.py), the toy network's 10,000-step
``fori_loop`` with its parameters in one array (bench_toy_sgd_loop.py), and
the 50-op scalar graph's value and gradient (bench_scalar_graph.py).

Part 1, per call (one process, after a warm-up; medians of ``--repeats``
rounds, round-robin): ``fg.jit(f, backend=...)`` on "numba" (compiled, sync),
"vm" and "interpret"; the ratio of each to the compiled code is what the
issue's target "first calls at <= 3x compiled speed" is about. Every tier's
outputs are checked against the interpreter's first.

Part 2, a NEW program's first result in the default async mode, in this
process with the vm machine loaded: ``fg.jit(f)`` of a fresh function
object (so nothing is cached in memory; the disk cache is empty of it too),
timed from the call to its first result, and which tier gave it; then the
background compile is waited for (not timed).

Run:  python benchmarks/bench_tiers.py [--repeats 15]
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

sys.argv.append("--warm-cache")          # bench_digits: do not pick its own cache directory
os.environ.setdefault("FUNCGRAD_CACHE_DIR", tempfile.mkdtemp(prefix="fg-tiers-"))

import numpy as np  # noqa: E402

import funcgrad as fg  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_digits as digits  # noqa: E402
import bench_mlp_step as mlp  # noqa: E402
import bench_scalar_graph as graph  # noqa: E402
import bench_toy_sgd_loop as toy  # noqa: E402

sys.argv.remove("--warm-cache")


def programs():
    rng = np.random.default_rng(0)
    out = []
    params, x, y = mlp.make_problem(500, rng)
    out.append(("MLP step 784-100-10, batch 500", mlp.sgd_step, (params, x, y)))
    x_train, y_train = digits.load()
    dparams = fg.nn.mlp_init(fg.random.key(0), digits.SIZES, dtype=np.float32)
    state = (dparams, digits.TX.init(dparams))
    out.append(("digits Adam step, batch 32", digits.fg_step, (state, x_train[:32], y_train[:32])))
    out.append(("digits epoch (shuffle + scan of 42 steps)", digits.fg_epoch,
                (state, fg.random.key(1), x_train, y_train)))
    tx, ty = toy.data()
    out.append(("toy loop, 10,000 steps, p read by index", toy.train_funcgrad_array,
                (np.array(toy.START, dtype=np.float64), tx, ty)))
    gx = np.linspace(-2, 2, 100, dtype=np.float32)
    out.append(("scalar graph N=50, value and grad", fg.value_and_grad(graph.funcgrad_loss(50)), (gx,)))
    return out


def leaves(tree):
    return [np.asarray(v) for v in fg.tree.leaves(tree)]


def close(a, b):
    return all(u.shape == v.shape and u.dtype == v.dtype and
               np.allclose(u, v, rtol=2e-4, atol=1e-5, equal_nan=True) for u, v in zip(leaves(a), leaves(b)))


def per_call(fns, repeats):
    times = {k: [] for k in fns}
    for _ in range(repeats):
        for k, f in fns.items():
            t = time.perf_counter()
            n = 0
            while True:
                f()
                n += 1
                if time.perf_counter() - t > 0.02 or n >= 200:
                    break
            times[k].append((time.perf_counter() - t) / n)
    return {k: float(np.median(v)) for k, v in times.items()}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=15)
    args = ap.parse_args()
    from funcgrad.backends import vm
    t = time.perf_counter()
    vm.ensure_machine()
    machine_s = time.perf_counter() - t
    print(f"load average {' '.join(f'{v:.2f}' for v in os.getloadavg())}, {os.cpu_count()} cores; "
          f"vm machine ready in {machine_s:.2f} s\n")
    fg.config.compile_mode = "sync"
    rows = []
    for name, f, args_ in programs():
        jitted = {b: fg.jit(f, backend=b) for b in ("numba", "vm", "interpret")}
        ref = jitted["interpret"](*args_)
        for b in ("numba", "vm"):
            assert close(jitted[b](*args_), ref), (name, b)
        fns = {b: (lambda j=j: j(*args_)) for b, j in jitted.items()}
        rows.append((name, per_call(fns, args.repeats)))
    print("| program | Numba (compiled) | vm | vm / Numba | interpreter | interpreter / Numba |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for name, t in rows:
        print(f"| {name} | {fmt(t['numba'])} | {fmt(t['vm'])} | {t['vm'] / t['numba']:.2f}x | "
              f"{fmt(t['interpret'])} | {t['interpret'] / t['numba']:.1f}x |")

    print("\n| new program (async, machine loaded) | first result | from tier | compiled code ready after |")
    print("| --- | ---: | --- | ---: |")
    fg.config.compile_mode = "async"
    for name, f, args_ in programs():
        g = lambda *a, f=f: f(*a)   # noqa: E731  a new function object: nothing cached for it
        step = fg.jit(g)
        t = time.perf_counter()
        step(*args_)
        first = time.perf_counter() - t
        compiled = step.lower(*args_).compiled
        tier = "vm" if getattr(compiled, "first_tier", None) and compiled.first_tier.runner else "interpreter"
        compiled.wait()
        ready = time.perf_counter() - t
        print(f"| {name} | {first * 1e3:.0f} ms | {tier} | {ready:.1f} s |")


def fmt(s):
    return f"{s * 1e6:.1f} us" if s < 1e-3 else f"{s * 1e3:.2f} ms"


if __name__ == "__main__":
    main()
