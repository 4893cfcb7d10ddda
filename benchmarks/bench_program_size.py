"""Compile time and run time against program size under ``fg.jit``.

The program is a chain of N elementwise primitives on a float64 vector of
1,000 elements, cycling through ``sin``, ``* 1.0001``, ``+ 0.1``:

    x = sin(x); x = x * 1.0001; x = x + 0.1; x = sin(x); ...   (N operations)

so the traced program has exactly N equations. For N = 10, 100, 1,000 and
10,000, each size runs in a fresh process with an empty ``FUNCGRAD_CACHE_DIR``
and synchronous compilation (``FUNCGRAD_COMPILE=sync``), and reports:

- trace: ``fg.make_ir(chain)(x)`` (tracing only)
- first call: ``fg.jit(chain)(x)``, i.e. trace + code generation + Numba
  compilation + one run, into an empty cache: the compile time
- per call once compiled, and, measured in the same process as references,
  the same chain run eagerly with NumPy (N ufunc calls) and through
  ``fg.jit(chain, backend="interpret")``

Growth ratios are each size's figure divided by the previous size's (10x more
operations each time). A size whose process does not finish within
``--timeout`` seconds (default 120 s, for the 10,000 chain) is reported as timed
out, with what it printed before then.

Run:  python benchmarks/bench_program_size.py  [--sizes 10,100,1000,10000] [--timeout 120]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time

CHILD = r'''
import json, os, sys, time, timeit
os.environ["FUNCGRAD_COMPILE"] = "sync"
import numpy as np
import funcgrad as fg
import funcgrad.numpy as fnp
if hasattr(fg, "config"):
    fg.config.compile_mode = "sync"
n = int(sys.argv[1])

def chain(x):
    for i in range(n):
        k = i % 3
        if k == 0:
            x = fnp.sin(x)
        elif k == 1:
            x = x * 1.0001
        else:
            x = x + 0.1
    return x

def chain_numpy(x):
    for i in range(n):
        k = i % 3
        if k == 0:
            x = np.sin(x)
        elif k == 1:
            x = x * 1.0001
        else:
            x = x + 0.1
    return x

def emit(**kw):
    print(json.dumps(kw), flush=True)

x = np.linspace(-1.0, 1.0, 1000)
t0 = time.perf_counter()
program = fg.make_ir(chain)(x)
t1 = time.perf_counter()
emit(trace=t1 - t0, eqns=len(program.eqns) if hasattr(program, "eqns") else None)
f = fg.jit(chain)
t0 = time.perf_counter()
out = f(x)
t1 = time.perf_counter()
wait = getattr(f.lower(x).compiled, "wait", None)
assert wait is None or wait()
emit(first_call=t1 - t0)
ref = chain_numpy(x)
np.testing.assert_allclose(out, ref, rtol=1e-9, atol=1e-12)
fi = fg.jit(chain, backend="interpret")
np.testing.assert_allclose(fi(x), ref, rtol=1e-12, atol=1e-12)

def best(fn, target=0.05, repeats=5):
    once = timeit.timeit(fn, number=1)
    number = max(1, int(target / max(once, 1e-7)))
    return min(timeit.timeit(fn, number=number) / number for _ in range(repeats))

runs = {}
for _ in range(2):                    # round-robin, best of both rounds
    for name, fn in (("numba", lambda: f(x)), ("numpy", lambda: chain_numpy(x)),
                     ("interpret", lambda: fi(x))):
        runs[name] = min(runs.get(name, float("inf")), best(fn))
emit(run_numba=runs["numba"], run_numpy=runs["numpy"], run_interpret=runs["interpret"],
     source_lines=(f.lower(x).source or "").count("\n"))
'''


def run_size(n, timeout):
    env = dict(os.environ)
    cache = tempfile.mkdtemp(prefix=f"fg_bench_size_{n}_")
    env["FUNCGRAD_CACHE_DIR"] = cache
    env.pop("NUMBA_CACHE_DIR", None)
    result = {"n": n, "timed_out": False}
    t0 = time.perf_counter()
    try:
        p = subprocess.run([sys.executable, "-c", CHILD, str(n)], env=env, capture_output=True, text=True,
                           timeout=timeout)
        stdout = p.stdout
        if p.returncode != 0:
            result["error"] = p.stderr[-2000:]
    except subprocess.TimeoutExpired as e:
        result["timed_out"] = True
        stdout = e.stdout.decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    result["wall"] = time.perf_counter() - t0
    for line in stdout.splitlines():
        if line.startswith("{"):
            result.update(json.loads(line))
    return result


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="10,100,1000,10000")
    ap.add_argument("--timeout", type=float, default=120.0,
                    help="seconds allowed for each size's process")
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    results = []
    for n in sizes:
        r = run_size(n, args.timeout)
        results.append(r)
        if r.get("error"):
            print(f"size {n} failed:\n{r['error']}", file=sys.stderr)

    print("# bench_program_size: fg.jit of a chain of N elementwise ops (sin, *1.0001, +0.1) on "
          "1000 float64; fresh process and empty cache per size, synchronous compile")
    print(f"python {platform.python_version()}, {os.cpu_count()} CPUs; per-call times best of 2 rounds x 5 "
          f"repeats; timeout {args.timeout:.0f} s per size")
    print()
    print("| N ops | trace | first call (compile) | compile growth vs previous N | compile per op "
          "| marginal compile per op vs smallest N "
          "| per call (numba) | run growth vs previous N | vs NumPy eager | vs interpret | process wall |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    first = next((r for r in results if "first_call" in r), None)
    prev = None
    for r in results:
        n = r["n"]
        if "first_call" not in r:
            why = (f"TIMED OUT after {args.timeout:.0f} s" if r["timed_out"] else "FAILED (see stderr)")
            trace = f"{r['trace']:.3f} s" if "trace" in r else "-"
            print(f"| {n} | {trace} | {why} | - | - | - | - | - | - | - | {r['wall']:.1f} s |")
            prev = None
            continue
        cg = f"{r['first_call'] / prev['first_call']:.2f}x" if prev else "-"
        if "run_numba" in r:
            rg = f"{r['run_numba'] / prev['run_numba']:.2f}x" if prev and "run_numba" in prev else "-"
            run = (f"{r['run_numba'] * 1e6:.1f} us | {rg} | {r['run_numba'] / r['run_numpy']:.3f}x | "
                   f"{r['run_numba'] / r['run_interpret']:.3f}x")
        else:
            run = "timed out while timing | - | - | -"
        marginal = (f"{(r['first_call'] - first['first_call']) / (n - first['n']) * 1e3:.1f} ms"
                    if r is not first and n != first["n"] else "-")
        print(f"| {n} | {r['trace']:.3f} s | {r['first_call']:.2f} s | {cg} | "
              f"{r['first_call'] / n * 1e3:.1f} ms | {marginal} | {run} | {r['wall']:.1f} s |")
        prev = r
    print()
    refs = [r for r in results if "run_numpy" in r]
    if refs:
        print("References measured in the same processes (per call): "
              + "; ".join(f"N={r['n']}: NumPy eager {r['run_numpy'] * 1e6:.0f} us, interpret "
                          f"{r['run_interpret'] * 1e6:.0f} us" for r in refs))


if __name__ == "__main__":
    main()
