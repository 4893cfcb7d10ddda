"""all_reduce, broadcast and barrier over pytrees, reproducible bit for bit.

The reduction never uses MPI's own reductions (``MPI_Allreduce`` may add in
an order that depends on the algorithm MPI picks, the message size and the
number of ranks). Each bucket of ``size`` x ``c`` elements is instead

1. exchanged with ``MPI_Alltoall``: rank r receives chunk r of every rank's
   bucket, in rank order (data movement only);
2. summed locally in rank order, ``((g0 + g1) + g2) + ...``, elementwise
   (NumPy's ``+=``, exactly rounded per element, so its bits do not depend
   on SIMD width or alignment), then divided by ``size`` for a mean;
3. gathered with ``MPI_Allgather`` into every rank's result (data movement).

So every rank ends with the same bits, and those bits are the ones
:func:`reference_all_reduce` computes in one process from the ranks' trees.
Each rank sends and receives ``2 (size - 1) / size`` of the data, as in a
ring all-reduce. The buckets are pipelined: all exchanges start at once, and
each bucket is summed as soon as its exchange is done, while later buckets
are still in flight.
"""
from __future__ import annotations

import time

import numpy as np

from .buckets import DEFAULT_BUCKET_BYTES, Plan, first_difference, plan_for
from .world import DistributedError, world

_OPS = ("sum", "mean", "max", "min")


def _check_op(op: str, plan: Plan):
    if op not in _OPS:
        raise DistributedError(f"distributed.all_reduce: op must be one of {_OPS}, got {op!r}")
    if op == "mean":
        for lf in plan.leaves:
            if lf.dtype.kind != "f":
                raise DistributedError(f"distributed.all_reduce: op='mean' of the integer leaf "
                                       f"{lf.path or '<root>'} ({lf.dtype}); use op='sum'")


def _combine(op: str, pieces, n: int):
    """Reduce ``pieces[0..n-1]`` in that order; the one formula both the
    distributed and the reference reductions use."""
    acc = np.array(pieces[0], copy=True)
    for p in pieces[1:]:
        if op in ("sum", "mean"):
            acc += p
        elif op == "max":
            np.maximum(acc, p, out=acc)
        else:
            np.minimum(acc, p, out=acc)
    if op == "mean":
        acc /= n
    return acc


def _check_same_everywhere(w, plan: Plan, what: str, extra=()):
    """Compare the plan's signature across ranks, once per signature; on a
    mismatch, every rank raises naming the rank and the first leaf that differs."""
    key = (plan.signature, tuple(extra))
    if w.size == 1 or key in w.checked:
        return
    mine = np.frombuffer(plan.signature + repr(extra).encode().ljust(16)[:16], np.uint8)
    everyone = np.empty((w.size, mine.size), np.uint8)
    w.wait([w.comm.Iallgather(mine, everyone)], f"{what} (comparing pytrees)")
    if (everyone == everyone[0]).all():
        w.checked.add(key)
        return
    descriptions = w.comm.allgather((plan.describe(), list(extra)))
    lines = []
    for r, (desc, ext) in enumerate(descriptions):
        if r and (desc != descriptions[0][0] or ext != descriptions[0][1]):
            where = (first_difference(descriptions[0][0], desc) if desc != descriptions[0][0]
                     else f"its arguments {ext} differ from rank 0's {descriptions[0][1]}")
            lines.append(f"rank {r}: {where}")
    raise DistributedError(f"distributed.{what}: the ranks passed different pytrees: " + "; ".join(lines))


def all_reduce(tree, op: str = "mean", *, bucket_bytes: int = DEFAULT_BUCKET_BYTES):
    """Reduce a pytree of arrays over all ranks (``op``: ``"mean"``,
    ``"sum"``, ``"max"``, ``"min"``); every rank gets the same result, bit
    for bit, equal to :func:`reference_all_reduce` of the ranks' trees.
    New arrays are returned; the caller's are not modified. The pytrees must
    have the same structure, shapes and dtypes on every rank (checked on the
    first call with each structure)."""
    w = world()
    t0 = time.perf_counter()
    plan, arrays = plan_for("all_reduce", tree, w.size, bucket_bytes)
    _check_op(op, plan)
    flats = plan.pack(arrays)
    w.timers.local_s += time.perf_counter() - t0
    if w.size == 1:
        return plan.unpack(flats)
    _check_same_everywhere(w, plan, "all_reduce", (op,))
    w.timers.calls += 1
    scratch = plan.scratch()
    exchanges = []
    for b in plan.buckets:
        send = plan.bucket_view(flats, b)
        exchanges.append(w.comm.Ialltoall(send, plan.bucket_view(scratch, b)))
        w.timers.bytes += 2 * send.nbytes * (w.size - 1) // w.size
    gathers = []
    for b, req in zip(plan.buckets, exchanges):
        w.wait([req], "all_reduce")
        t1 = time.perf_counter()
        chunks = plan.bucket_view(scratch, b).reshape(w.size, -1)
        mine = _combine(op, chunks, w.size)
        w.timers.local_s += time.perf_counter() - t1
        gathers.append((w.comm.Iallgather(mine, plan.bucket_view(flats, b)), mine))
    w.wait([g for g, _ in gathers], "all_reduce")
    return plan.unpack(flats)


def reference_all_reduce(trees, op: str = "mean"):
    """What :func:`all_reduce` returns on ``len(trees)`` ranks, where rank r
    passes ``trees[r]``, computed in this process: the single-process
    reference of the distributed reduction (same order, same bits)."""
    trees = list(trees)
    if not trees:
        raise DistributedError("distributed.reference_all_reduce: no trees")
    n = len(trees)
    plans, arrays = zip(*(plan_for("reference_all_reduce", t, n) for t in trees))
    for r, p in enumerate(plans[1:], 1):
        if p.signature != plans[0].signature:
            raise DistributedError("distributed.reference_all_reduce: the trees differ: rank "
                                   f"{r}: {first_difference(plans[0].describe(), p.describe())}")
    _check_op(op, plans[0])
    packed = [p.pack(a) for p, a in zip(plans, arrays)]
    out = [_combine(op, [packed[r][g] for r in range(n)], n) for g in range(len(plans[0].groups))]
    return plans[0].unpack(out)


def broadcast(tree, root: int = 0, *, bucket_bytes: int = DEFAULT_BUCKET_BYTES):
    """Rank ``root``'s pytree on every rank (new arrays). The other ranks
    pass a pytree of the same structure, shapes and dtypes (their values are
    ignored), such as their own freshly initialised parameters."""
    w = world()
    if not 0 <= int(root) < w.size:
        raise DistributedError(f"distributed.broadcast: root {root} is not a rank of {w.size}")
    t0 = time.perf_counter()
    plan, arrays = plan_for("broadcast", tree, w.size, bucket_bytes)
    flats = plan.pack(arrays) if w.rank == root else plan.empty()
    w.timers.local_s += time.perf_counter() - t0
    if w.size == 1:
        return plan.unpack(flats)
    _check_same_everywhere(w, plan, "broadcast", (int(root),))
    w.timers.calls += 1
    reqs = [w.comm.Ibcast(plan.bucket_view(flats, b), root=int(root)) for b in plan.buckets]
    w.wait(reqs, "broadcast")
    return plan.unpack(flats)


def barrier():
    """Wait until every rank gets here (with the world's timeout)."""
    w = world()
    if w.size > 1:
        w.wait([w.comm.Ibarrier()], "barrier")
