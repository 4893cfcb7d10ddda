"""A number that changes between calls of an un-jitted ``fg.grad``.

``grad`` traces on every call, and a Python number the function reads (from
a closure or a global: an annealed temperature, a learning rate, a step
count passed as a non-differentiated argument) is a literal of the traced
program. The program cache compiles the first value inline and, once a
second value turns up, one more program with that literal as an input
(``funcgrad.program_cache``). Without that, each new value is a new program
and a new Numba compile.

Measured here, in one process, ``FUNCGRAD_COMPILE=sync``, empty cache
directory: ``--values`` calls of ``fg.grad(loss, backend="numba")`` with a
new temperature each call, after one warm-up call; and the per-call time
once warm, against the same call with an unchanging temperature (the
program with the literal inline). ``--no-lifting`` disables lifting (each
value compiles, as before the cache lifted literals) for the reference.

Run:  python benchmarks/bench_changing_numbers.py [--values N] [--no-lifting]
"""
from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

os.environ["FUNCGRAD_COMPILE"] = "sync"
os.environ.setdefault("FUNCGRAD_CACHE_DIR", tempfile.mkdtemp(prefix="fg-bench-numbers-"))

import numpy as np

import funcgrad as fg
import funcgrad.numpy as fnp
from funcgrad import program_cache

fg.config.compile_mode = "sync"
temperature = 1.0


def loss(w, x):
    logits = (x @ w) / temperature       # `temperature` is read at trace time
    return fnp.mean(fnp.log1p(fnp.exp(logits)))


def main():
    global temperature
    ap = argparse.ArgumentParser()
    ap.add_argument("--values", type=int, default=10)
    ap.add_argument("--no-lifting", action="store_true")
    args = ap.parse_args()
    if args.no_lifting:
        program_cache.ProgramCache._lifted = lambda *a, **k: None

    rng = np.random.default_rng(0)
    w, x = rng.standard_normal(16), rng.standard_normal((64, 16))
    g = fg.grad(loss, backend="numba")
    g(w, x)
    start = time.perf_counter()
    for i in range(args.values):
        temperature = 1.0 + 0.1 * (i + 1)
        got = g(w, x)
        z = (x @ w) / temperature
        ref = x.T @ (1 / (1 + np.exp(-z))) / temperature / len(z)
        assert np.allclose(got, ref, rtol=1e-10)
    changing = time.perf_counter() - start

    def timed(temp):
        global temperature
        temperature = temp
        t = time.perf_counter()
        for _ in range(100):
            g(w, x)
        return (time.perf_counter() - t) / 100

    rounds = {2.0: [], 1.0: []}
    for _ in range(15):   # round-robin, so that load hits both alike
        for temp in rounds:
            rounds[temp].append(timed(temp))
    per_call_changing = statistics.median(rounds[2.0])
    per_call_inline = statistics.median(rounds[1.0])
    print(f"lifting {'off' if args.no_lifting else 'on'}; load average {os.getloadavg()[0]:.2f}")
    print(f"| {args.values} calls, a new temperature each | {changing:.2f} s | {changing / args.values * 1e3:.0f} ms per call |")
    print(f"| warm call, temperature 2.0 ({'its own program' if args.no_lifting else 'the lifted program'}) | "
          f"{per_call_changing * 1e6:.0f} us | {per_call_changing / per_call_inline:.2f}x the inline program |")
    print(f"| warm call, temperature 1.0 (the literal inline) | {per_call_inline * 1e6:.0f} us | 1.00x |")


if __name__ == "__main__":
    main()
