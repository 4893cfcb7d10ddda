"""all_reduce, broadcast and barrier over pytrees, reproducible bit for bit.

The reduction never uses MPI's own reductions (``MPI_Allreduce`` may add in
an order that depends on the algorithm MPI picks, the message size and the
number of ranks). Each bucket (``buckets``: a large leaf's own memory, or
small leaves packed together), cut into ``size`` chunks, is instead

1. exchanged with ``MPI_Alltoallv``: rank r receives chunk r of every rank's
   bucket, in rank order (data movement only);
2. summed locally in rank order, ``((g0 + g1) + g2) + ...``, elementwise
   (NumPy's ``+=``, exactly rounded per element, so its bits do not depend
   on SIMD width or alignment), then divided by ``size`` for a mean;
3. gathered with ``MPI_Allgatherv`` into every rank's result (data movement).

A small bucket is gathered whole by every rank (``MPI_Allgather``) and each
rank sums all of it, in the same order: the same bits, one round of messages.

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


def _combine_into(op: str, pieces, n: int, out):
    """Reduce ``pieces[0..n-1]`` in that order into ``out``: the one formula
    that both the distributed and the reference reductions use."""
    ufunc = {"sum": np.add, "mean": np.add, "max": np.maximum, "min": np.minimum}[op]
    if n == 1:
        out[...] = pieces[0]
    else:
        ufunc(pieces[0], pieces[1], out=out)
        for p in pieces[2:]:
            ufunc(out, p, out=out)
    if op == "mean":
        out /= n
    return out


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
    if w.size == 1:
        flats = plan.pack(arrays)
        w.timers.local_s += time.perf_counter() - t0
        return plan.unpack(flats)
    from mpi4py import MPI

    flats = plan.pack(arrays, only_packed=True)   # the results; shared buckets' leaves copied in
    w.timers.local_s += time.perf_counter() - t0
    _check_same_everywhere(w, plan, "all_reduce", (op,))
    w.timers.calls += 1
    n, r = w.size, w.rank
    exchanges = []
    for b, recv in zip(plan.buckets, plan.scratch()):
        send = plan.send_view(flats, arrays, b)
        if b.gather:
            exchanges.append(w.comm.Iallgather(send, recv))
            w.timers.bytes += send.nbytes * (n - 1)
            continue
        mine = b.counts[r]
        exchanges.append(w.comm.Ialltoallv([send, (b.counts, b.displs)],
                                           [recv[:n * mine], ([mine] * n, [q * mine for q in range(n)])]))
        w.timers.bytes += 2 * (send.nbytes - mine * send.itemsize)
    gathers = []
    for b, recv, req in zip(plan.buckets, plan.scratch(), exchanges):
        w.wait([req], "all_reduce")
        t1 = time.perf_counter()
        result = plan.bucket_view(flats, b)
        if b.gather:
            _combine_into(op, recv.reshape(n, b.length), n, result)
        else:
            mine = b.counts[r]
            _combine_into(op, recv[:n * mine].reshape(n, mine), n, result[b.displs[r]:b.displs[r] + mine])
            gathers.append(w.comm.Iallgatherv(MPI.IN_PLACE, [result, (b.counts, b.displs)]))
        w.timers.local_s += time.perf_counter() - t1
    w.wait(gathers, "all_reduce")
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
    out = plans[0].empty()
    for g, res in enumerate(out):
        _combine_into(op, [packed[r][g] for r in range(n)], n, res)
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
