"""Calls from several threads: throughput of compiled steps, and the cost of
thread-local tracing.

1. A warm ``fg.jit(fg.value_and_grad(loss))`` of a tanh MLP (784-100-10 on a
   batch), called from 1, 2 and 4 threads, each thread on its own inputs.
   The compiled code runs without the GIL (``nogil=True``), so threads can
   overlap; the reference is the same total number of calls from one thread,
   in the same run. Ratio = (1-thread time) / (N-thread time) for the same
   work: 1.0 means no gain, ~cores means perfect scaling. OpenBLAS is pinned to
   one thread so the matrix products do not fight the Python threads.
2. Un-jitted ``fg.grad`` (traces on every call, so it mostly runs Python
   under the GIL): the same calls from 1 and 2 threads; threads cannot speed
   this up, the figure shows what tracing from two threads costs.

Timings are medians over rounds, round-robin; the load of the machine is printed.

Run:  python benchmarks/bench_threads.py  [--calls N] [--rounds N]
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import threading
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ["FUNCGRAD_COMPILE"] = "sync"

import numpy as np

import funcgrad as fg
import funcgrad.numpy as fnp

fg.config.compile_mode = "sync"


def loss(params, x, y):
    h = fnp.tanh(x @ params["W1"] + params["b1"])
    z = h @ params["W2"] + params["b2"]
    logp = z - fnp.logsumexp(z, axis=1, keepdims=True)
    return -fnp.mean(logp[fnp.arange(y.shape[0]), y])


def make_inputs(seed, batch):
    rng = np.random.default_rng(seed)
    params = {"W1": rng.standard_normal((784, 100)) * 0.05, "b1": np.zeros(100),
              "W2": rng.standard_normal((100, 10)) * 0.1, "b2": np.zeros(10)}
    return params, rng.standard_normal((batch, 784)), rng.integers(0, 10, batch)


def run_threads(fn, inputs, n_threads, calls_per_thread):
    barrier = threading.Barrier(n_threads + 1)

    def work(i):
        args = inputs[i]
        barrier.wait()
        for _ in range(calls_per_thread):
            fn(*args)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(n_threads)]
    for t in threads:
        t.start()
    barrier.wait()
    start = time.perf_counter()
    for t in threads:
        t.join()
    return time.perf_counter() - start


def measure(fn, inputs, thread_counts, total_calls, rounds):
    times = {n: [] for n in thread_counts}
    for _ in range(rounds):
        for n in thread_counts:
            times[n].append(run_threads(fn, inputs, n, total_calls // n))
    return {n: statistics.median(v) for n, v in times.items()}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--calls", type=int, default=400, help="calls per measurement, split over the threads")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--batch", type=int, default=256)
    args = ap.parse_args()

    inputs = [make_inputs(i, args.batch) for i in range(4)]
    step = fg.jit(fg.value_and_grad(loss), backend="numba")
    ref = fg.value_and_grad(loss, backend="interpret")
    for a in inputs:   # warm, and check against the interpreter
        v, g = step(*a)
        rv, rg = ref(*a)
        assert np.allclose(v, rv, rtol=1e-10) and all(np.allclose(g[k], rg[k], rtol=1e-9) for k in g)

    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, load average "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}; OPENBLAS_NUM_THREADS="
          f"{os.environ['OPENBLAS_NUM_THREADS']}\n")
    jit_times = measure(step, inputs, (1, 2, 4), args.calls, args.rounds)
    print(f"1. fg.jit(fg.value_and_grad(loss)), 784-100-10 MLP, batch {args.batch}: "
          f"{args.calls} calls in all, median of {args.rounds} rounds\n")
    print("| threads | wall time | per call | throughput vs 1 thread |")
    print("| ---: | ---: | ---: | ---: |")
    for n, t in jit_times.items():
        print(f"| {n} | {t * 1e3:.1f} ms | {t / args.calls * 1e6:.0f} us | {jit_times[1] / t:.2f}x |")

    small = [make_inputs(10 + i, 8) for i in range(2)]
    grad_fn = fg.grad(loss, backend="numba")
    for a in small:
        grad_fn(*a)
    n_calls = max(20, args.calls // 4)
    grad_times = measure(grad_fn, small, (1, 2), n_calls, args.rounds)
    print(f"\n2. fg.grad(loss) un-jitted (traces every call), batch 8: {n_calls} calls in all\n")
    print("| threads | wall time | per call | throughput vs 1 thread |")
    print("| ---: | ---: | ---: | ---: |")
    for n, t in grad_times.items():
        print(f"| {n} | {t * 1e3:.1f} ms | {t / n_calls * 1e6:.0f} us | {grad_times[1] / t:.2f}x |")


if __name__ == "__main__":
    main()
