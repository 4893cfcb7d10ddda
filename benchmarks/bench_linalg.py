"""Linear algebra (issue 12): funcgrad against JAX, measured in the same run.

Parts (``--part``, default all):

1. ``solve``, ``cholesky``, ``slogdet`` at N = 64 and N = 512 (float64), each
   the function alone (``jit(f)``) and its gradient:
   ``jit(grad(lambda a, b: sum(solve(a, b) ** 2), argnums=(0, 1)))`` with
   ``a = randn + sqrt(N) I`` and a (N,) right-hand side,
   ``jit(grad(lambda a: sum(cholesky(a) * W)))`` and
   ``jit(grad(lambda a: slogdet(a)[1]))`` with SPD ``a = G G^T / N + I``.
2. ``gp``: the negative log marginal likelihood of a Gaussian process, 500
   points in 3-D, RBF kernel with 3 hyperparameters (log lengthscale, log
   signal variance, log noise variance):
   ``K = s2 exp(-0.5 sqdist / l^2) + n2 I``, ``L = cholesky(K)``,
   ``alpha = L^-T L^-1 y`` (two ``solve_triangular``),
   ``nll = 0.5 y.alpha + sum(log diag L) + 0.5 N log(2 pi)``;
   ``jit(value_and_grad(nll))`` per call; and in a fresh process per
   library (funcgrad with an empty ``FUNCGRAD_CACHE_DIR``, in ``sync`` mode
   and in the default ``async`` mode) the first call (trace + compile + run)
   and the first 300 calls end to end, best of ``--first-repeats`` processes.

Every steady-state figure is a median over many calls (round-robin between
funcgrad and JAX, so that the shared machine's load hits both alike), with the
load average printed. Steady state runs with ``FUNCGRAD_COMPILE=sync``.
Results are checked against each other (np.allclose) before timing.

LAPACK (potrf, getrf, trsm) runs on OpenBLAS's threads in both libraries
(funcgrad: NumPy's OpenBLAS through LAPACKE; JAX: SciPy's OpenBLAS), and
``FUNCGRAD_BLAS_THREADS`` only governs funcgrad's matrix products: while other
processes keep the cores busy, OpenBLAS's spinning threads can make a 512x512
factorization 20-50x slower in both. ``OPENBLAS_NUM_THREADS=1`` (read at
import, so set it on the command line) makes both single-threaded.

Run:  python benchmarks/bench_linalg.py [--part 1|2] [--repeats N] [--first-repeats N]
      OPENBLAS_NUM_THREADS=1 python benchmarks/bench_linalg.py
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("FUNCGRAD_COMPILE", "sync")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np

import funcgrad as fg
import funcgrad.numpy as fnp
import funcgrad.scipy.linalg as fsl
from _timing import load_average, medians

fg.config.compile_mode = "sync"

try:
    import jax
    import jax.numpy as jnp
    import jax.scipy.linalg as jsl
    jax.config.update("jax_enable_x64", True)
except ImportError:  # pragma: no cover
    jax = None


def _first_call(fn, *args):
    t = time.perf_counter()
    out = fn(*args)
    _block(out)
    return time.perf_counter() - t, out


def _block(out):
    if jax is not None:
        jax.tree_util.tree_map(lambda a: a.block_until_ready() if hasattr(a, "block_until_ready") else a, out)
    return out


def _close(a, b, rtol, what):
    la, lb = fg.tree.leaves(a), jax.tree_util.tree_leaves(b)
    assert len(la) == len(lb), what
    for x, y in zip(la, lb):
        x, y = np.asarray(x), np.asarray(y)
        assert x.shape == y.shape and x.dtype == y.dtype == np.float64, (what, x.shape, y.shape, x.dtype)
        scale = max(1.0, float(np.max(np.abs(y))))
        if not np.allclose(x, y, rtol=rtol, atol=rtol * scale):
            raise AssertionError(f"{what}: funcgrad and JAX disagree, max abs diff "
                                 f"{np.max(np.abs(x - y)):.3g} (scale {scale:.3g})")


def _row(name, ours, ref, extra=""):
    print(f"| {name} | {ours * 1e6:,.0f} us | {ref * 1e6:,.0f} us | {ours / ref:.2f}x |{extra}", flush=True)


# ----------------------------------------------------------------------------- 1. solve, cholesky, slogdet

def _cases(n, rng):
    a_gen = rng.standard_normal((n, n)) + np.sqrt(n) * np.eye(n)
    b = rng.standard_normal(n)
    g = rng.standard_normal((n, n))
    spd = g @ g.T / n + np.eye(n)
    w = rng.standard_normal((n, n))

    def solve_f(a, b):
        return fnp.linalg.solve(a, b)

    def jsolve_f(a, b):
        return jnp.linalg.solve(a, b)

    def solve_loss(a, b):
        return fnp.sum(fnp.linalg.solve(a, b) ** 2)

    def jsolve_loss(a, b):
        return jnp.sum(jnp.linalg.solve(a, b) ** 2)

    def chol_loss(a):
        return fnp.sum(fnp.linalg.cholesky(a) * w)

    def jchol_loss(a):
        return jnp.sum(jnp.linalg.cholesky(a) * w)

    def slogdet_loss(a):
        return fnp.linalg.slogdet(a)[1]

    def jslogdet_loss(a):
        return jnp.linalg.slogdet(a)[1]

    return [      # name, funcgrad, JAX, args, what to compare (of funcgrad's result)
        ("solve", fg.jit(solve_f), jax.jit(jsolve_f), (a_gen, b), None),
        ("grad solve", fg.jit(fg.grad(solve_loss, argnums=(0, 1))),
         jax.jit(jax.grad(jsolve_loss, argnums=(0, 1))), (a_gen, b), None),
        ("cholesky", fg.jit(fnp.linalg.cholesky), jax.jit(jnp.linalg.cholesky), (spd,), None),
        # funcgrad's gradient lives on the lower triangle (the only part cholesky
        # reads), JAX's is symmetrized: the same derivative on symmetric inputs
        ("grad cholesky", fg.jit(fg.grad(chol_loss)), jax.jit(jax.grad(jchol_loss)), (spd,),
         lambda g: 0.5 * (np.asarray(g) + np.asarray(g).T)),
        # funcgrad's jit does not take the SlogdetResult namedtuple as an output
        # (not a registered pytree): both return a plain tuple
        ("slogdet", fg.jit(lambda a: tuple(fnp.linalg.slogdet(a))),
         jax.jit(lambda a: tuple(jnp.linalg.slogdet(a))), (spd,), None),
        ("grad slogdet", fg.jit(fg.grad(slogdet_loss)), jax.jit(jax.grad(jslogdet_loss)), (spd,), None),
    ]


def part_basic(repeats, sizes=(64, 512)):
    rng = np.random.default_rng(0)
    print(f"\n### solve, cholesky, slogdet (float64) — {load_average()}")
    print("| case | funcgrad | JAX | ratio | first call funcgrad / JAX |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for n in sizes:
        for name, ours, theirs, args, compare in _cases(n, rng):
            jargs = tuple(jnp.asarray(x) for x in args)
            t_ours, r = _first_call(ours, *args)
            t_jax, rj = _first_call(theirs, *jargs)
            _close(compare(r) if compare else r, rj, 1e-8, f"{name} N={n}")
            m = medians({"ours": lambda: ours(*args), "jax": lambda: _block(theirs(*jargs))},
                        repeats, min_time=0.01 if n < 512 else 0.02)
            _row(f"{name}, N={n}", m["ours"], m["jax"], f" {t_ours:.2f} s / {t_jax:.2f} s |")


# ----------------------------------------------------------------------------- 2. GP marginal likelihood

GP_N, GP_D = 500, 3


def _gp_data():
    rng = np.random.default_rng(3)
    x = rng.uniform(-3.0, 3.0, (GP_N, GP_D))
    y = np.sin(x).sum(axis=1) + 0.1 * rng.standard_normal(GP_N)
    theta = np.array([np.log(1.2), np.log(0.8), np.log(0.05)])
    return x, y, theta


def _gp_nll(np_, sl, x, y):
    """The NLL over theta = (log l, log s2, log n2), for a numpy-like module
    ``np_`` and a scipy.linalg-like module ``sl``."""
    n = x.shape[0]
    sqdist = np.sum((x[:, None, :] - x[None, :, :]) ** 2, axis=-1)   # data, not traced
    eye = np.eye(n)

    def nll(theta):
        l2 = np_.exp(2.0 * theta[0])
        s2 = np_.exp(theta[1])
        n2 = np_.exp(theta[2])
        K = s2 * np_.exp(-0.5 * sqdist / l2) + n2 * eye
        L = np_.linalg.cholesky(K)
        z = sl.solve_triangular(L, y, lower=True)
        alpha = sl.solve_triangular(L.T, z, lower=False)
        return (0.5 * np_.dot(y, alpha) + np_.sum(np_.log(np_.diagonal(L)))
                + 0.5 * n * np.log(2.0 * np.pi))

    return nll


def _gp_fns(lib):
    x, y, theta = _gp_data()
    if lib == "funcgrad":
        return fg.jit(fg.value_and_grad(_gp_nll(fnp, fsl, x, y))), theta
    return jax.jit(jax.value_and_grad(_gp_nll(jnp, jsl, x, y))), jnp.asarray(theta)


GP_CALLS = 300     # calls each fresh process makes: the first, then GP_CALLS - 1 more


def first_call_child(lib):
    """In a fresh process: the first call of the GP's value_and_grad, then
    ``GP_CALLS - 1`` more (end to end: trace, compile, every call)."""
    fn, theta = _gp_fns(lib)
    t0 = time.perf_counter()
    out = _block(fn(theta))
    first = time.perf_counter() - t0
    for _ in range(GP_CALLS - 1):
        _block(fn(theta))
    total = time.perf_counter() - t0
    v, g = out
    print(json.dumps({"first": first, "total": total, "value": float(v), "grad": [float(u) for u in np.asarray(g)]}))


def _run_child(lib, mode="sync"):
    """``lib`` in a fresh process (funcgrad: an empty cache, ``mode`` its
    FUNCGRAD_COMPILE; in async mode FUNCGRAD_VM=0, so that the vm machine's
    one-time build in a background process, which a cold cache starts, does
    not run on beside the measurements: the interpreter serves the calls
    before the compiled code is ready either way)."""
    env = dict(os.environ)
    env["FUNCGRAD_COMPILE"] = mode
    if mode == "async":
        env["FUNCGRAD_VM"] = "0"
    with tempfile.TemporaryDirectory(prefix="fg_bench_linalg_") as d:
        env["FUNCGRAD_CACHE_DIR"] = d
        out = subprocess.run([sys.executable, os.path.abspath(__file__), "--first-call", lib],
                             env=env, capture_output=True, text=True, timeout=600)
    if out.returncode:
        raise RuntimeError(f"first-call child ({lib}, {mode}) failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def part_gp(repeats, first_repeats):
    ours, theta = _gp_fns("funcgrad")
    theirs, jtheta = _gp_fns("jax")
    t_ours, r = _first_call(ours, theta)
    t_jax, rj = _first_call(theirs, jtheta)
    _close(r, rj, 1e-8, "GP value_and_grad")
    print(f"\n### GP negative log marginal likelihood, N={GP_N}, {GP_D}-D, RBF, "
          f"jit(value_and_grad) over 3 hyperparameters (float64) — {load_average()}")
    print(f"value {float(r[0]):.6f}, grad {np.asarray(r[1])}")
    print("| case | funcgrad | JAX | ratio |")
    print("| --- | ---: | ---: | ---: |")
    m = medians({"ours": lambda: ours(theta), "jax": lambda: _block(theirs(jtheta))}, repeats, min_time=0.02)
    _row("steady state, per call", m["ours"], m["jax"])
    runs = {"funcgrad sync": [], "funcgrad async": [], "jax": []}
    for _ in range(first_repeats):
        for name in runs:                    # alternate, so load hits all alike
            lib, _, mode = name.partition(" ")
            res = _run_child(lib, mode or "sync")
            np.testing.assert_allclose(res["value"], float(r[0]), rtol=1e-8)
            np.testing.assert_allclose(res["grad"], np.asarray(r[1]), rtol=1e-7, atol=1e-9)
            runs[name].append(res)
    best = {name: (min(x["first"] for x in v), min(x["total"] for x in v)) for name, v in runs.items()}
    fj, tj = best["jax"]
    for name in ("funcgrad sync", "funcgrad async"):
        fo, to = best[name]
        print(f"| first call, fresh process (funcgrad: empty cache, {name.split()[1]}), best of {first_repeats} "
              f"| {fo:.2f} s | {fj:.2f} s | {fo / fj:.2f}x |")
        print(f"| first {GP_CALLS} calls end to end, fresh process ({name.split()[1]}) "
              f"| {to:.2f} s | {tj:.2f} s | {to / tj:.2f}x |")
    print(f"(first call in this process, cache as set: funcgrad {t_ours:.2f} s, JAX {t_jax:.2f} s; "
          + "; ".join(f"{name} first calls {[round(x['first'], 2) for x in v]}" for name, v in runs.items())
          + f") — {load_average()}", flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--part", type=int, default=0)
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--first-repeats", type=int, default=2)
    ap.add_argument("--first-call", choices=("funcgrad", "jax"))
    args = ap.parse_args()
    if jax is None:
        sys.exit("JAX is not installed: these benchmarks are ratios against JAX")
    if args.first_call:
        fg.config.compile_mode = os.environ.get("FUNCGRAD_COMPILE", "sync")   # as _run_child set it
        first_call_child(args.first_call)
        return
    print(f"funcgrad {fg.__version__}, JAX {jax.__version__}, cache {os.environ.get('FUNCGRAD_CACHE_DIR', 'default')}, "
          f"FUNCGRAD_BLAS_THREADS={fg.config.blas_threads}, "
          f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', 'unset')}, {os.cpu_count()} cores — "
          f"{load_average()}")
    parts = {1: part_basic, 2: lambda r: part_gp(r, args.first_repeats)}
    for k, fn in parts.items():
        if args.part in (0, k):
            fn(args.repeats)


if __name__ == "__main__":
    main()
