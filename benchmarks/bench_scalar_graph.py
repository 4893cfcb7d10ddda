"""A graph of many scalar operations, compiled once and run 10,000 times
(issue 10's target; the benchmark of A. Rogozhnikov's "Fastest autograd in
the West", 2023).

Starting from the 100 entries of a float32 vector ``x``, each of ``N``
operations appends to a list of nodes, cycling through

    softplus(nodes[-10]);  sum(nodes[-30:-10:5]);  nodes[-20] * nodes[-10];
    softmax(stack(nodes[-4:]))  (four new nodes)

and the loss is the last node. Measured: ``value_and_grad(loss)`` compiled
with ``fg.jit`` (``FUNCGRAD_COMPILE=sync``) and with ``jax.jit`` (when JAX
is installed), each in a FRESH process with an EMPTY cache: the first call
(trace + transform + compile + run), then the median per-call time over
rounds of calls, and end to end = first call + 10,000 calls. When 10,000
calls would take longer than the time budget, the per-call median comes from
fewer calls and the 10,000-call total is extrapolated (marked "~"). A
process that runs past its time limit is reported as "> limit". Both
frameworks' values and gradients are checked against each other (rtol 1e-3,
float32) and funcgrad's against its NumPy interpreter at small N.

``--compile-workers 1`` compiles funcgrad's chunk functions in one process
(``FUNCGRAD_COMPILE_WORKERS``; the default is one process per core).

``--mode async`` measures funcgrad's default compile mode instead: a new
program's calls run on the vm backend's machine while Numba compiles it in
the background, and end to end is the wall time of the first call plus
10,000 calls, as they happen (not extrapolated).

The vm backend's machine (one Numba function that runs every program,
compiled once per cache; funcgrad/backends/vm) runs programs over 2,500
equations and, in async mode, first calls. ``--machine cached`` (default)
starts each funcgrad process from a cache that holds only the machine,
compiled once before the runs (it is compiled once per installation, like
Numba's own caches); ``--machine cold`` from an empty cache, so a process that
needs the machine compiles it first (about 25 s here).

Run:  python benchmarks/bench_scalar_graph.py [--sizes 50,200,1000,10000] [--limit 300] [--compile-workers N]
          [--mode sync|async] [--machine cached|cold]
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

CALLS = 10_000


def run_graph(x, n_ops, np_like, softplus, softmax0):
    nodes = [x[i] for i in range(x.shape[0])]
    for op in range(n_ops):
        k = op % 4
        if k == 0:
            nodes.append(softplus(nodes[-10]))
        elif k == 1:
            total = nodes[-30]
            for v in nodes[-25:-10:5]:
                total = total + v
            nodes.append(total)
        elif k == 2:
            nodes.append(nodes[-20] * nodes[-10])
        else:
            s = softmax0(np_like.stack(nodes[-4:]))
            nodes.extend(s[i] for i in range(4))
    return nodes[-1]


def funcgrad_loss(n_ops):
    import funcgrad.numpy as fnp
    from funcgrad import nn

    return lambda x: run_graph(x, n_ops, fnp, nn.softplus, lambda v: nn.softmax(v, axis=0))


def jax_loss(n_ops):
    import jax
    import jax.numpy as jnp

    return lambda x: run_graph(x, n_ops, jnp, jax.nn.softplus, lambda v: jax.nn.softmax(v, axis=0))


def worker(framework, n_ops, budget):
    import numpy as np

    x0 = np.linspace(-2, 2, 100, dtype=np.float32)
    mode = os.environ.get("FUNCGRAD_COMPILE", "sync")
    t0 = time.perf_counter()
    if framework == "funcgrad":
        import funcgrad as fg

        fg.config.compile_mode = mode
        step = fg.jit(fg.value_and_grad(funcgrad_loss(n_ops)), backend="numba")
        call = lambda: step(x0)  # noqa: E731
    else:
        import jax

        step = jax.jit(jax.value_and_grad(jax_loss(n_ops)))
        call = lambda: jax.block_until_ready(step(x0))  # noqa: E731
    import_s = time.perf_counter() - t0
    t = time.perf_counter()
    v, g = call()
    first = time.perf_counter() - t
    if framework == "funcgrad" and mode == "async":
        # the default mode: every call as it comes, whichever tier answers it
        compiled = step.lower(x0).compiled
        tier = "vm" if getattr(compiled, "first_tier", None) and compiled.first_tier.runner else "interpreter"
        if hasattr(compiled, "encoded"):
            tier = "vm"
        t = time.perf_counter()
        for _ in range(CALLS):
            call()
        calls_s = time.perf_counter() - t
        switched = compiled.wait()   # not timed: the background compile, left to finish
        out = {"first_s": first, "import_s": import_s, "per_call_s": calls_s / CALLS, "timed_calls": CALLS,
               "end_to_end_s": first + calls_s, "value": float(v), "grad": [float(a) for a in np.asarray(g)],
               "eqns": len(step.lower(x0).ir.eqns), "tier": f"{tier} (compiled later: {switched})"}
        print(json.dumps(out))
        return
    # per-call median: rounds of calls, as many as the budget allows
    rounds, per_round = [], 1
    spent = 0.0
    while spent < budget and sum(len(r) for r in rounds) < CALLS:
        t = time.perf_counter()
        for _ in range(per_round):
            call()
        dt = time.perf_counter() - t
        rounds.append([dt / per_round] * per_round)
        spent += dt
        per_round = min(per_round * 2, 1000)
    samples = sorted(s for r in rounds for s in r)
    per_call = samples[len(samples) // 2]
    n_timed = len(samples)
    out = {"first_s": first, "import_s": import_s, "per_call_s": per_call, "timed_calls": n_timed,
           "value": float(v), "grad": [float(a) for a in np.asarray(g)]}
    if framework == "funcgrad":
        out["eqns"] = len(step.lower(x0).ir.eqns)
        out["tier"] = "vm" if hasattr(step.lower(x0).compiled, "encoded") else "numba"
        if n_ops <= 200:
            ref_v, ref_g = fg.value_and_grad(funcgrad_loss(n_ops), backend="interpret")(x0)
            out["matches_interpreter"] = bool(np.allclose(v, ref_v, rtol=1e-5) and
                                              np.allclose(g, ref_g, rtol=1e-4, atol=1e-6))
    print(json.dumps(out))


def machine_cache() -> str:
    """A cache directory holding only the vm backend's compiled machine."""
    path = tempfile.mkdtemp(prefix="fg-machine-")
    subprocess.run([sys.executable, "-c", "from funcgrad.backends.vm import ensure_machine; ensure_machine()"],
                   check=True, env=dict(os.environ, FUNCGRAD_CACHE_DIR=path))
    return path


def measure(framework, n_ops, limit, budget, compile_workers=0, mode="sync", template=None):
    cache = tempfile.mkdtemp(prefix="fg-graph-")
    if template:
        shutil.copytree(template, cache, dirs_exist_ok=True)
    env = dict(os.environ, FUNCGRAD_COMPILE=mode, FUNCGRAD_CACHE_DIR=cache,
               JAX_PLATFORMS="cpu", FUNCGRAD_COMPILE_WORKERS=str(compile_workers))
    try:
        proc = subprocess.run([sys.executable, __file__, "--worker", framework, str(n_ops), str(budget)],
                              capture_output=True, text=True, timeout=limit, env=env)
    except subprocess.TimeoutExpired:
        return {"timeout": limit}
    if proc.returncode != 0:
        return {"error": (proc.stderr or proc.stdout).strip().splitlines()[-1:]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="50,200,1000,10000")
    ap.add_argument("--limit", type=float, default=300, help="seconds per process")
    ap.add_argument("--budget", type=float, default=20, help="seconds of timed calls per process")
    ap.add_argument("--compile-workers", type=int, default=0, help="funcgrad chunk compile processes (0: one per core)")
    ap.add_argument("--frameworks", default="funcgrad,jax")
    ap.add_argument("--mode", default="sync", choices=["sync", "async"], help="funcgrad's compile mode")
    ap.add_argument("--machine", default="cached", choices=["cached", "cold"],
                    help="whether each funcgrad process starts with the vm machine compiled")
    ap.add_argument("--worker", nargs=3)
    args = ap.parse_args()
    if args.worker:
        worker(args.worker[0], int(args.worker[1]), float(args.worker[2]))
        return
    try:
        import jax  # noqa: F401
        frameworks = args.frameworks.split(",")
    except ImportError:
        frameworks = ["funcgrad"]
        print("JAX not installed: funcgrad only")
    template = machine_cache() if args.machine == "cached" and "funcgrad" in frameworks else None
    print(f"load average {' '.join(f'{v:.2f}' for v in os.getloadavg())}, {os.cpu_count()} cores; "
          f"funcgrad FUNCGRAD_COMPILE={args.mode}, vm machine {args.machine}\n")
    print("| N ops | framework | eqns | tier | first call | per call (timed calls) | 10,000 calls end to end | vs JAX end to end | per call vs JAX |")
    print("| ---: | --- | ---: | --- | ---: | ---: | ---: | ---: | ---: |")
    for n in [int(s) for s in args.sizes.split(",")]:
        res = {f: measure(f, n, args.limit, args.budget, args.compile_workers,
                          args.mode if f == "funcgrad" else "sync", template if f == "funcgrad" else None)
               for f in frameworks}

        def total(r):
            return r.get("end_to_end_s", r["first_s"] + CALLS * r["per_call_s"])

        for f, r in res.items():
            if "timeout" in r or "error" in r:
                why = f"> {r['timeout']:.0f} s (killed)" if "timeout" in r else f"error: {r['error']}"
                print(f"| {n} | {f} | | | {why} | | | | |")
                continue
            approx = "~" if r["timed_calls"] < CALLS else ""
            ratio = ratio_call = ""
            j = res.get("jax", {})
            if f == "funcgrad" and "per_call_s" in j:
                ratio = f"{total(r) / total(j):.2f}x"
                ratio_call = f"{r['per_call_s'] / j['per_call_s']:.2f}x"
                close = (abs(r["value"] - j["value"]) <= 1e-3 * max(1.0, abs(j["value"])) and
                         all(abs(a - b) <= 1e-3 * max(1e-3, abs(b)) + 1e-6 for a, b in zip(r["grad"], j["grad"])))
                if not close:
                    ratio += " (RESULTS DIFFER)"
            elif f == "funcgrad" and "timeout" in j:
                ratio = f"< {total(r) / j['timeout']:.2f}x"
            check = "" if r.get("matches_interpreter", True) else " (DIFFERS FROM INTERPRETER)"
            print(f"| {n} | {f}{check} | {r.get('eqns', '')} | {r.get('tier', '')} | {r['first_s']:.2f} s | "
                  f"{r['per_call_s'] * 1e6:.1f} us ({r['timed_calls']}) | {approx}{total(r):.1f} s | {ratio} | {ratio_call} |")


if __name__ == "__main__":
    main()
