"""Throughput of elementwise transcendental functions: NumPy vs Numba loops.

For tanh, exp, log and the logistic sigmoid over 10**6 float32 and float64
values, three variants compute ``out[:] = f(x)`` into a preallocated array:

- **NumPy**: the ufunc with ``out=`` (sigmoid: ``scipy.special.expit`` when
  SciPy is installed, else ``1 / (1 + np.exp(-x))`` in three passes);
- **njit libm**: an ``@njit`` loop calling ``np.tanh`` / ``np.exp`` /
  ``np.log`` on scalars, which Numba lowers to libm calls (sigmoid: funcgrad's
  ``scalar.logistic``, the helper the generated code uses today);
- **njit fastmath**: the same loop calling
  ``funcgrad.backends.numba_backend.fastmath`` (``tanh_f32`` ...), which LLVM
  vectorizes.

Inputs: tanh and sigmoid on U(-10, 10), exp on U(-20, 20), log on
U(1e-3, 1e3).  Every variant's result is checked against NumPy first (max
relative difference printed).  Timing: each variant called ``--repeats``
times round-robin, best time kept, in milliseconds; the ratio is time /
NumPy time of the same run (< 1: faster than NumPy).

Run:  python benchmarks/bench_elementwise.py  [--n 1000000] [--repeats 15]
"""
from __future__ import annotations

import argparse
import platform
import time

import numba
import numpy as np
from numba import njit

from funcgrad.backends.numba_backend import fastmath as fm
from funcgrad.backends.numba_backend import scalar

try:
    from scipy.special import expit as _expit
except ImportError:  # pragma: no cover
    _expit = None


def _loop(f):
    @njit(nogil=True)
    def loop(x, out):
        for i in range(x.size):
            out[i] = f(x[i])
    return loop


@njit(inline="always")
def _libm_tanh(v):
    return np.tanh(v)


@njit(inline="always")
def _libm_exp(v):
    return np.exp(v)


@njit(inline="always")
def _libm_log(v):
    return np.log(v)


def _np_sigmoid(x, out):
    if _expit is not None:
        return _expit(x, out=out)
    np.negative(x, out=out)
    np.exp(out, out=out)
    out += 1
    return np.reciprocal(out, out=out)


FUNCS = {
    # name: (numpy(x, out), libm scalar, fastmath f32, fastmath f64, input range)
    "tanh": (lambda x, out: np.tanh(x, out=out), _libm_tanh, fm.tanh_f32, fm.tanh_f64, (-10, 10)),
    "exp": (lambda x, out: np.exp(x, out=out), _libm_exp, fm.exp_f32, fm.exp_f64, (-20, 20)),
    "log": (lambda x, out: np.log(x, out=out), _libm_log, fm.log_f32, fm.log_f64, (1e-3, 1e3)),
    "sigmoid": (_np_sigmoid, scalar.logistic, fm.logistic_f32, fm.logistic_f64, (-10, 10)),
}


def best_times(calls, repeats):
    best = [float("inf")] * len(calls)
    for _ in range(repeats):
        for i, c in enumerate(calls):
            t0 = time.perf_counter()
            c()
            best[i] = min(best[i], time.perf_counter() - t0)
    return best


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=10**6)
    ap.add_argument("--repeats", type=int, default=15)
    args = ap.parse_args()

    import funcgrad as fg
    import funcgrad.numpy as fnp
    from funcgrad import primitives

    fg.config.compile_mode = "sync"   # time the compiled code, not the interpreter
    fg_funcs = {"tanh": fnp.tanh, "exp": fnp.exp, "log": fnp.log, "sigmoid": primitives.logistic}

    rng = np.random.default_rng(0)
    rows = []
    for dtype in (np.float32, np.float64):
        for name, (np_f, libm_f, f32, f64, (lo, hi)) in FUNCS.items():
            x = rng.uniform(lo, hi, args.n).astype(dtype)
            outs = [np.empty_like(x) for _ in range(3)]
            libm_loop = _loop(libm_f)
            fast_loop = _loop(f32 if dtype == np.float32 else f64)
            fg_f = fg.jit(fg_funcs[name])        # the whole funcgrad call: dispatch + loop + output
            calls = [lambda: np_f(x, outs[0]), lambda: libm_loop(x, outs[1]),
                     lambda: fast_loop(x, outs[2]), lambda: fg_f(x)]
            for c in calls:  # compile, warm up
                c()
            ref = outs[0].astype(np.float64)
            diffs = [float(np.max(np.abs(o - ref) / np.maximum(np.abs(ref), np.finfo(dtype).tiny)))
                     for o in outs[1:] + [fg_f(x)]]
            t = best_times(calls, args.repeats)
            rows.append((name, np.dtype(dtype).name, t, diffs))

    print(f"n = {args.n}, best of {args.repeats}; numpy {np.__version__}, numba {numba.__version__}, "
          f"{platform.machine()} {platform.processor() or ''}".rstrip())
    print(f"sigmoid NumPy variant: {'scipy.special.expit' if _expit else '1/(1+np.exp(-x))'}")
    print()
    print("| function | dtype | NumPy (ms) | njit libm (ms) | njit fastmath (ms) | fg.jit (ms) "
          "| libm / NumPy | fastmath / NumPy | fg.jit / NumPy | max rel diff libm, fastmath, fg.jit vs NumPy |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---|")
    for name, dt, (tn, tl, tf, tg), (dl, df, dg) in rows:
        print(f"| {name} | {dt} | {tn * 1e3:.2f} | {tl * 1e3:.2f} | {tf * 1e3:.2f} | {tg * 1e3:.2f} "
              f"| {tl / tn:.2f} | {tf / tn:.2f} | {tg / tn:.2f} | {dl:.1e}, {df:.1e}, {dg:.1e} |")


if __name__ == "__main__":
    main()
