"""Numba compile time per construct of generated code.

Each row compiles one small program under ``fg.jit`` (sync compile, empty
cache directory), after a warm-up compile that pays Numba's one-time
initialisation. Reported: seconds to compile, and the ratio to the cheapest
construct measured in the same run (a plain elementwise add).

    python benchmarks/bench_compile_constructs.py
"""
import os
import sys
import tempfile
import time

os.environ["FUNCGRAD_CACHE_DIR"] = tempfile.mkdtemp(prefix="fg_bench_constructs_")
os.environ["FUNCGRAD_COMPILE"] = "sync"

import numpy as np  # noqa: E402

import funcgrad as fg  # noqa: E402
import funcgrad.numpy as fnp  # noqa: E402

rng = np.random.default_rng(0)
A = rng.normal(size=(64, 32)).astype(np.float32)
B = rng.normal(size=(32, 16)).astype(np.float32)
V = rng.normal(size=(64,)).astype(np.float32)
IDX = rng.integers(0, 64, size=20)

CONSTRUCTS = {
    "elementwise add (a + b)": (lambda a: a + 1.5, (A,)),
    "fused chain of 10 elementwise ops": (lambda a: fnp.tanh(fnp.exp(-a * a) * 2.0 + a) * 0.5 - a / 3.0, (A,)),
    "transcendental (tanh, fastmath kernel)": (lambda a: fnp.tanh(a), (A,)),
    "reduction over axis 0 (a.sum(axis=0))": (lambda a: a.sum(axis=0), (A,)),
    "reduction to a scalar (a.sum())": (lambda a: a.sum(), (A,)),
    "matmul (BLAS gemm)": (lambda a, b: a @ b, (A, B)),
    "transposed matmul (a.T @ a, BLAS flags)": (lambda a: a.T @ a, (A,)),
    "transpose copy (a.T + 0)": (lambda a: a.T + 0.0, (A,)),
    "gather (a[idx])": (lambda a, i: a[i], (A, IDX)),
    "strided slice (a[::2, 1::3])": (lambda a: a[::2, 1::3] * 2.0, (A,)),
    "concatenate": (lambda a: fnp.concatenate([a, a * 2.0], axis=0), (A,)),
    "argmax over axis 1": (lambda a: fnp.argmax(a, axis=1), (A,)),
    "gradient of a tanh layer (value_and_grad)": (
        fg.value_and_grad(lambda w, x: fnp.sum(fnp.tanh(x @ w) ** 2)), (B, A)),
}


def main():
    fg.jit(lambda v: v * 2.0)(V)   # warm-up: Numba's one-time initialisation
    rows = []
    for name, (f, args) in CONSTRUCTS.items():
        step = fg.jit(f)
        t0 = time.perf_counter()
        step(*args)
        rows.append((name, time.perf_counter() - t0))
    base = rows[0][1]
    print(f"# compile time per construct (numba {__import__('numba').__version__}, python "
          f"{sys.version.split()[0]}); ratio to '{rows[0][0]}' in the same run")
    print("| construct | compile (s) | vs elementwise add |")
    print("| --- | ---: | ---: |")
    for name, t in rows:
        print(f"| {name} | {t:.2f} | {t / base:.2f}x |")


if __name__ == "__main__":
    main()
