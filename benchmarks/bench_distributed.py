"""Distributed training (issue 15): funcgrad.distributed over MPI on this machine.

Parts, each measured under ``mpiexec -n P`` for P = 1, 2, 4 (loopback,
shared memory; this machine has 2 cores, so P = 4 is oversubscribed):

1. all_reduce throughput: ``dist.all_reduce`` (mean) of (a) the digits MLP's
   gradient pytree (64-128-64-10, float32, 8 leaves, 17,226 values) and (b) a
   10M-value float32 pytree (10 leaves of 1M), against the floor: mpi4py's
   ``Allreduce`` of ONE flat float32 buffer of the same length (MPI's own
   reduction; no packing, no fixed order). Each figure is the median over
   repetitions of the slowest rank's time, the ranks aligned by a barrier
   before each repetition; the ratio is floor time / funcgrad time
   (throughput relative to the floor, >= 0.9 is the target).
2. Weak scaling of the digits training step (``DataParallelStep``, Adam,
   32 examples per rank per step) and of the 784-100-10 step of lecture 004
   (SGD with momentum, 500 per rank): step time split into compute (the two
   compiled calls) and communication (waiting in all_reduce, which includes
   waiting for a slower rank), medians over steps after the first.
3. The alpha-beta model: alpha (latency) from an 8-byte ping-pong, beta
   (seconds per byte) from a 64 MiB ping-pong between two ranks here; then
   the ring all-reduce time ``T(p) = 2 (p - 1) alpha + 2 (p - 1) / p * S * beta``
   of each step's gradient (S bytes) on 8 to 1,024 machines over 25 Gb/s
   Ethernet and 200 Gb/s InfiniBand, and the weak-scaling efficiency
   ``compute / (compute + T(p))`` with the compute measured in part 2 at P = 1.

Run:  python benchmarks/bench_distributed.py [--procs 1,2,4] [--repeats 30] [--steps 60]
(the script launches ``mpiexec`` itself; ``--worker`` is its per-rank mode).
"""
from __future__ import annotations

import argparse
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = pathlib.Path(__file__).resolve()

# the two networks an interconnect is modelled for (alpha: a typical one-way latency
# of the fabric with MPI, an assumption; beta: the line rate)
NETWORKS = {"25 Gb/s Ethernet (TCP)": (25e-6, 8 / 25e9), "200 Gb/s InfiniBand (HDR)": (2e-6, 8 / 200e9)}


def _median_slowest(comm, fn, repeats):
    from mpi4py import MPI

    times = []
    for _ in range(repeats):
        comm.Barrier()
        t0 = time.perf_counter()
        fn()
        dt = time.perf_counter() - t0
        times.append(comm.allreduce(dt, op=MPI.MAX))
    return float(np.median(times))


def digits_params():
    import funcgrad as fg
    from funcgrad import nn

    return nn.mlp_init(fg.random.key(0), [64, 128, 64, 10], dtype=np.float32)


def part_all_reduce(comm, repeats):
    from mpi4py import MPI

    from funcgrad import distributed as dist

    rng = np.random.default_rng(comm.Get_rank())
    import funcgrad as fg

    payloads = {
        "digits MLP gradients (17,226 floats)": fg.tree.map(
            lambda p: rng.normal(size=np.shape(p)).astype(np.float32), digits_params()),
        "10M float32 pytree (10 leaves)": [rng.normal(size=1_000_000).astype(np.float32) for _ in range(10)],
    }
    out = {}
    for name, tree in payloads.items():
        n = sum(np.size(x) for x in fg.tree.leaves(tree))
        flat = rng.normal(size=n).astype(np.float32)
        result = np.empty_like(flat)
        dist.all_reduce(tree)                  # the first call compares the pytrees across ranks
        reps = repeats if n < 1e6 else max(5, repeats // 3)
        ours = floor = None
        for _ in range(2):                     # interleave, to spread the load over both
            o = _median_slowest(comm, lambda: dist.all_reduce(tree), reps)
            f = _median_slowest(comm, lambda: comm.Allreduce(flat, result, op=MPI.SUM), reps)
            ours, floor = (o, f) if ours is None else (min(ours, o), min(floor, f))
        out[name] = {"values": n, "funcgrad_s": ours, "floor_s": floor, "ratio": floor / ours}
    return out


def part_steps(comm, steps):
    import funcgrad as fg
    from funcgrad import distributed as dist
    from funcgrad import nn, optim

    rank = comm.Get_rank()
    rng = np.random.default_rng(rank)
    cases = {
        "digits 64-128-64-10, Adam, 32/rank": (
            digits_params(), optim.adam(1e-3), lambda p, x, y: nn.cross_entropy(nn.mlp_apply(p, x), y),
            rng.normal(size=(32, 64)).astype(np.float32), rng.integers(0, 10, 32)),
        "784-100-10 tanh, SGD+momentum, 500/rank": (
            nn.mlp_init(fg.random.key(1), [784, 100, 10], w_init=nn.glorot_normal, dtype=np.float32),
            optim.sgd(0.1, momentum=0.9),
            lambda p, x, y: nn.cross_entropy(nn.mlp_apply(p, x, activation=nn.tanh), y),
            rng.normal(size=(500, 784)).astype(np.float32), rng.integers(0, 10, 500)),
    }
    out = {}
    for name, (params, tx, loss, x, y) in cases.items():
        step = dist.DataParallelStep(loss, tx)
        state = step.init(params)
        state, _ = step(state, (x, y))        # compiles
        comm.Barrier()
        per = {"compute_s": [], "communication_s": [], "local_s": [], "step_s": []}
        for _ in range(steps):
            before = dict(step.timings)
            t0 = time.perf_counter()
            state, _ = step(state, (x, y))
            dt = time.perf_counter() - t0
            after = step.timings
            for k in ("compute_s", "communication_s", "local_s"):
                per[k].append(after[k] - before[k])
            per["step_s"].append(dt)
        med = {k: float(np.median(v)) for k, v in per.items()}
        med["gradient_bytes"] = int(sum(np.asarray(p).nbytes for p in fg.tree.leaves(params)))
        out[name] = comm.gather(med, root=0)
    return out


def part_alpha_beta(comm, repeats):
    if comm.Get_size() < 2:
        return None
    rank = comm.Get_rank()
    res = {}
    for label, nbytes in (("alpha", 8), ("beta", 64 << 20)):
        buf = np.zeros(nbytes, np.uint8)
        reps = repeats * 10 if nbytes == 8 else max(5, repeats // 3)
        times = []
        for _ in range(reps):
            comm.Barrier()
            t0 = time.perf_counter()
            if rank == 0:
                comm.Send(buf, dest=1)
                comm.Recv(buf, source=1)
            elif rank == 1:
                comm.Recv(buf, source=0)
                comm.Send(buf, dest=0)
            times.append((time.perf_counter() - t0) / 2)
        one_way = float(np.median(times))
        res[label] = one_way if label == "alpha" else one_way / nbytes
    return res if rank == 0 else None


def worker(args):
    from mpi4py import MPI

    from funcgrad import distributed as dist

    comm = MPI.COMM_WORLD
    dist.init(comm=comm)
    result = {"procs": comm.Get_size(), "all_reduce": part_all_reduce(comm, args.repeats),
              "steps": part_steps(comm, args.steps), "alpha_beta": part_alpha_beta(comm, args.repeats)}
    if comm.Get_rank() == 0:
        pathlib.Path(args.worker).write_text(json.dumps(result))


def ring_time(p, nbytes, alpha, beta):
    return 2 * (p - 1) * alpha + 2 * (p - 1) / p * nbytes * beta


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--procs", default="1,2,4")
    ap.add_argument("--repeats", type=int, default=30)
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        return worker(args)
    mpiexec = pathlib.Path(sys.executable).with_name("mpiexec")
    env = dict(os.environ, NUMBA_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", FUNCGRAD_COMPILE="sync",
               FUNCGRAD_BLAS_THREADS="1")
    results = {}
    for p in [int(v) for v in args.procs.split(",")]:
        with tempfile.TemporaryDirectory() as tmp:
            path = pathlib.Path(tmp) / "out.json"
            load = os.getloadavg()[0]
            subprocess.run([str(mpiexec), "-n", str(p), sys.executable, str(HERE), "--worker", str(path),
                            "--repeats", str(args.repeats), "--steps", str(args.steps)],
                           env=env, check=True, timeout=1200)
            results[p] = json.loads(path.read_text())
            results[p]["load"] = load
    print(f"# funcgrad.distributed, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
          f"{os.cpu_count()} cores, MPI over shared memory\n")
    print("## all_reduce throughput against mpi4py's Allreduce of one flat buffer (the floor)\n")
    print("| procs | payload | funcgrad all_reduce | floor (flat Allreduce) | throughput vs floor | load |")
    print("| --- | --- | --- | --- | --- | --- |")
    for p, r in results.items():
        for name, v in r["all_reduce"].items():
            print(f"| {p} | {name} | {1e3 * v['funcgrad_s']:.3f} ms | {1e3 * v['floor_s']:.3f} ms | "
                  f"{v['ratio']:.2f}x | {r['load']:.1f} |")
    print("\n## Weak scaling: step time split into compute and communication (rank 0; medians)\n")
    print("| step | procs | step | compute | communication | buffers | efficiency vs 1 proc |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    base = {}
    for p, r in results.items():
        for name, ranks in r["steps"].items():
            m = ranks[0]
            base.setdefault(name, m["step_s"])
            print(f"| {name} | {p} | {1e3 * m['step_s']:.3f} ms | {1e3 * m['compute_s']:.3f} ms | "
                  f"{1e3 * m['communication_s']:.3f} ms | {1e3 * m['local_s']:.3f} ms | "
                  f"{base[name] / m['step_s']:.2f} |")
    ab = next((r["alpha_beta"] for r in results.values() if r["alpha_beta"]), None)
    print("\n## The alpha-beta model of ring all-reduce\n")
    if ab:
        print(f"Measured here (shared memory, 2 ranks): alpha = {1e6 * ab['alpha']:.2f} us, "
              f"beta = {1e12 * ab['beta']:.1f} ps/byte ({1 / ab['beta'] / 1e9:.1f} GB/s).\n")
    one = results.get(1) or next(iter(results.values()))
    print("| step | network | p = 8 | 32 | 128 | 512 | 1024 | comm at 1024 | efficiency < 50% from |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for name, ranks in one["steps"].items():
        compute = ranks[0]["compute_s"] + ranks[0]["local_s"]
        nbytes = ranks[0]["gradient_bytes"]
        nets = dict(NETWORKS)
        if ab:
            nets["this machine's shared memory"] = (ab["alpha"], ab["beta"])
        for net, (alpha, beta) in nets.items():
            eff = {p: compute / (compute + ring_time(p, nbytes, alpha, beta)) for p in (8, 32, 128, 512, 1024)}
            half = next((p for p in (2 ** k for k in range(1, 21))
                         if compute / (compute + ring_time(p, nbytes, alpha, beta)) < 0.5), None)
            print(f"| {name} ({nbytes / 1e3:.0f} kB) | {net} | " + " | ".join(f"{e:.0%}" for e in eff.values())
                  + f" | {1e3 * ring_time(1024, nbytes, alpha, beta):.2f} ms | {half or '> 10^6'} |")
    print("\nEfficiency = compute / (compute + T(p)), compute measured at 1 process; "
          "T(p) = 2(p-1) alpha + 2(p-1)/p S beta.")


if __name__ == "__main__":
    main()
