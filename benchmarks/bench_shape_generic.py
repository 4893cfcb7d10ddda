"""Shape-generic compiled code (issue 10, part 5): sizes and constants read at
run time (``funcgrad/backends/numba_backend/lift.py``), so that a changed
batch size does not recompile.

Part 1, what the lifted code costs per call: the programs of bench_tiers.py
(MLP step, digits step and epoch, toy loop, scalar graph) and a large
elementwise program, compiled by Numba with ``FUNCGRAD_SHAPE_GENERIC`` =
never (sizes in the code) and always (read at run time), in one process (sync
compile), medians of ``--repeats`` round-robin rounds. Both variants are
checked against the interpreter first. (``auto``, the default, compiles the
first sizes of a program as ``never`` does, and the lifted code once a second
set of sizes turns up.)

Part 2, a changed batch size: in a fresh process with an empty cache for each
setting (auto, always, never), ``fg.jit(step)`` called at one batch size, then at others; the time
from each call to its result (sync compile, so a recompile shows in full).
Digits Adam step (batch 32, 48, 64, 100, 128) and the 784-100-10 MLP step
(batch 500, 250, 1000); each result is checked against the interpreter. JAX
recompiles for each shape too (each new shape is a new XLA compile too: about the cold compile times of
bench_digits.py and bench_mlp_step.py).

Run:  python benchmarks/bench_shape_generic.py [--repeats 15] [--part 1|2]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))

CHILD = r"""
import json, os, sys, time
sys.path.insert(0, HERE)
os.environ["FUNCGRAD_COMPILE"] = "sync"
sys.argv.append("--warm-cache")
import numpy as np
import funcgrad as fg
import bench_digits as digits, bench_mlp_step as mlp
which = sys.argv[1]
if which == "digits":
    x, y = digits.load()
    p = fg.nn.mlp_init(fg.random.key(0), digits.SIZES, dtype=np.float32)
    state = (p, digits.TX.init(p))
    sizes = [32, 48, 64, 100, 128]
    make = lambda b: (state, x[:b], y[:b])
    f = digits.fg_step
else:
    sizes = [500, 250, 1000]
    problems = {b: mlp.make_problem(b, np.random.default_rng(0)) for b in sizes}
    make = lambda b: problems[b]
    f = mlp.sgd_step
step, ref, out = fg.jit(f), fg.jit(f, backend="interpret"), []
for b in sizes:
    a = make(b)
    t = time.perf_counter()
    got = fg.tree.leaves(step(*a))
    out.append((b, time.perf_counter() - t))
    assert all(np.allclose(u, v, rtol=2e-4, atol=1e-5) for u, v in zip(got, fg.tree.leaves(ref(*a))))
print(json.dumps(out))
""".replace("HERE", repr(HERE))


def part2():
    print("\n| program | setting | first size | then each new size (s) |")
    print("| --- | --- | ---: | --- |")
    for which in ("digits", "mlp"):
        for label, generic in [("auto (default)", "auto"), ("always", "always"), ("never", "never")]:
            env = dict(os.environ, FUNCGRAD_CACHE_DIR=tempfile.mkdtemp(prefix="fg-generic-"),
                       FUNCGRAD_SHAPE_GENERIC=generic)
            res = subprocess.run([sys.executable, "-c", CHILD, which], env=env,
                                 capture_output=True, text=True)
            if res.returncode != 0:
                print(res.stderr[-2000:])
                continue
            rows = json.loads(res.stdout.strip().splitlines()[-1])
            (b0, t0), rest = rows[0], rows[1:]
            print(f"| {which} step | {label} | batch {b0}: {t0:.2f} s | "
                  + ", ".join(f"{b}: {t:.3f}" for b, t in rest) + " |")


def part1(repeats):
    os.environ.setdefault("FUNCGRAD_CACHE_DIR", tempfile.mkdtemp(prefix="fg-generic-"))
    sys.path.insert(0, HERE)
    import numpy as np

    import bench_tiers as tiers
    import funcgrad as fg
    import funcgrad.numpy as fnp

    fg.config.compile_mode = "sync"
    progs = tiers.programs()
    xe = np.random.default_rng(0).standard_normal((1000, 1000)).astype(np.float32)
    progs.append(("elementwise tanh(x) * 0.5 + exp(-x * x), 1000x1000 float32",
                  lambda x: fnp.tanh(x) * 0.5 + fnp.exp(-x * x), (xe,)))
    rows = []
    for name, f, args in progs:
        ref = fg.jit(f, backend="interpret")(*args)
        fns = {}
        for generic in (False, True):
            fg.config.shape_generic = "always" if generic else "never"
            j = fg.jit(lambda *a, f=f: f(*a), backend="numba")
            assert tiers.close(j(*args), ref), (name, generic)
            fns[generic] = (lambda j=j: j(*args))
        fg.config.shape_generic = "auto"
        rows.append((name, tiers.per_call(fns, repeats)))
    print("| program | sizes in the code | read at run time | ratio |")
    print("| --- | ---: | ---: | ---: |")
    for name, t in rows:
        print(f"| {name} | {tiers.fmt(t[False])} | {tiers.fmt(t[True])} | {t[True] / t[False]:.2f}x |")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--part", choices=["1", "2", "both"], default="both")
    args = ap.parse_args()
    print(f"load average {' '.join(f'{v:.2f}' for v in os.getloadavg())}, {os.cpu_count()} cores\n")
    if args.part in ("1", "both"):
        part1(args.repeats)
    if args.part in ("2", "both"):
        part2()


if __name__ == "__main__":
    main()
