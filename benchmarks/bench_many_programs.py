"""Memory of one process that compiles many different programs (issue 10,
part 6: "500 different programs compiled in one process: RSS below 1 GiB").

The programs are ``fg.jit(fg.value_and_grad(f_k))`` for k = 0 .. N-1, each a
different chain of 6 elementwise operations chosen by the digits of k in
base 6 (so no two share a structure and the program cache cannot merge
them), over a float64 vector of 64. Each is called twice (sync compile),
its value and gradient checked against the NumPy interpreter; RSS is read
from /proc/self/statm every 50 programs. One fresh process per variant:

- ``budget 256`` (the default ``FUNCGRAD_MAX_COMPILED_PROGRAMS``): the first
  256 programs compile with Numba, later ones run on the vm backend's machine;
- ``no budget``: every program compiles with Numba (Numba's compiled code is
  never freed in a process: LLVM's MCJIT, numba#5976).

The vm machine comes compiled in the cache (see bench_scalar_graph.py); each
variant starts from a cache holding only it.

Run:  python benchmarks/bench_many_programs.py [--programs 500] [--variants budget,none]
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

CHILD = r'''
import json, os, sys, time
import numpy as np
import funcgrad as fg
import funcgrad.numpy as fnp
fg.config.compile_mode = "sync"
OPS = [fnp.sin, fnp.cos, fnp.tanh, lambda v: v * 1.5 + 0.25, lambda v: fnp.exp(-v * v), lambda v: v / (1 + v * v)]
N = int(sys.argv[1])
page = os.sysconf("SC_PAGE_SIZE")

def rss():
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * page / 2**20

def make(k):
    chain = []
    for _ in range(6):
        chain.append(OPS[k % 6]); k //= 6
    def f(x):
        for op in chain:
            x = op(x)
        return fnp.sum(x)
    return f

x = np.linspace(-1, 1, 64)
marks, tiers = [(0, rss())], {"numba": 0, "vm": 0}
t0 = time.perf_counter()
for k in range(N):
    f = make(k)
    step = fg.jit(fg.value_and_grad(f), backend="numba")
    v, g = step(x)
    v, g = step(x)
    rv, rg = fg.value_and_grad(f, backend="interpret")(x)
    assert np.allclose(v, rv, rtol=1e-12) and np.allclose(g, rg, rtol=1e-12, atol=1e-14), k
    tiers["vm" if hasattr(step.lower(x).compiled, "encoded") else "numba"] += 1
    if (k + 1) % 50 == 0:
        marks.append((k + 1, rss()))
print(json.dumps({"marks": marks, "tiers": tiers, "seconds": time.perf_counter() - t0}))
'''


def machine_cache() -> str:
    path = tempfile.mkdtemp(prefix="fg-machine-")
    subprocess.run([sys.executable, "-c", "from funcgrad.backends.vm import ensure_machine; ensure_machine()"],
                   check=True, env=dict(os.environ, FUNCGRAD_CACHE_DIR=path))
    return path


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--programs", type=int, default=500)
    ap.add_argument("--variants", default="budget,none")
    args = ap.parse_args()
    template = machine_cache()
    print(f"load average {' '.join(f'{v:.2f}' for v in os.getloadavg())}, {os.cpu_count()} cores, "
          f"{args.programs} programs\n")
    print("| variant | programs on Numba / vm | RSS at 0 | at 50 | at 250 | at the end | per program (after 50) | time |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for variant in args.variants.split(","):
        cache = tempfile.mkdtemp(prefix="fg-many-")
        shutil.copytree(template, cache, dirs_exist_ok=True)
        env = dict(os.environ, FUNCGRAD_CACHE_DIR=cache, FUNCGRAD_COMPILE="sync", OPENBLAS_NUM_THREADS="1")
        env["FUNCGRAD_MAX_COMPILED_PROGRAMS"] = "256" if variant == "budget" else str(10**9)
        p = subprocess.run([sys.executable, "-c", CHILD, str(args.programs)], env=env, capture_output=True,
                           text=True, timeout=3600)
        if p.returncode:
            print(f"| {variant} | failed: {p.stderr.strip().splitlines()[-1:]} |")
            continue
        r = json.loads(p.stdout.strip().splitlines()[-1])
        marks = dict((k, v) for k, v in r["marks"])
        end_k = max(marks)
        per = (marks[end_k] - marks[50]) / (end_k - 50) if end_k > 50 else float("nan")
        label = "budget 256 (default)" if variant == "budget" else "no budget"
        print(f"| {label} | {r['tiers']['numba']} / {r['tiers']['vm']} | {marks[0]:.0f} MiB | {marks.get(50, 0):.0f} MiB | "
              f"{marks.get(250, 0):.0f} MiB | {marks[end_k]:.0f} MiB | {per * 1024:.0f} KiB | {r['seconds']:.0f} s |")
        shutil.rmtree(cache, ignore_errors=True)
    shutil.rmtree(template, ignore_errors=True)


if __name__ == "__main__":
    main()
