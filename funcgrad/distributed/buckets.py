"""Pytrees of arrays as a few large contiguous messages ("buckets").

A reduction sends one message per bucket, not one per leaf, as Horovod's
tensor fusion and PyTorch DDP's gradient buckets do. The leaves of one dtype
are laid out, in pytree order, in one flat result buffer, which is cut into
buckets of at most ``bucket_bytes``:

- a large leaf (a quarter of a bucket or more) gets buckets of its own, which
  are sent straight from the leaf's memory (no copy);
- consecutive small leaves share a bucket, copied into the result buffer
  first and sent from there.

Each bucket of L elements is split into ``size`` chunks of ``L // size`` or
``L // size + 1`` elements (no padding): rank r reduces chunk r. A bucket
of at most ``GATHER_BYTES`` is instead gathered whole by every rank, which
sums all of it: one message round instead of two.

A :class:`Plan` depends only on the leaves' paths, shapes and dtypes, the
number of ranks and the bucket size, so every rank computes the same plan on
its own; its :attr:`Plan.signature` is what ranks compare to detect
mismatched pytrees. Plans are cached by structure (:func:`plan_for`).
"""
from __future__ import annotations

import hashlib
import sys
from typing import NamedTuple

import numpy as np

from .. import tree as tree_util
from ..errors import DtypeError, InputError

DEFAULT_BUCKET_BYTES = 8 << 20
# Below this many bytes a bucket is reduced with ONE allgather (every rank sums every rank's
# bucket) instead of an exchange of chunks and an allgather: latency, not volume, decides there.
GATHER_BYTES = 256 << 10


class Leaf(NamedTuple):
    path: str
    shape: tuple
    dtype: np.dtype
    group: int      # index of its dtype group
    offset: int     # first element in the group's flat buffer
    size: int


class Bucket(NamedTuple):
    group: int
    start: int          # first element in the group's flat buffer
    length: int
    leaf: int | None    # the leaf it is sent from directly, or None (packed)
    leaf_start: int     # first element within that leaf
    counts: tuple       # elements of each rank's chunk
    displs: tuple       # first element of each rank's chunk, from ``start``
    gather: bool        # small: every rank gathers and sums the whole bucket


class Group(NamedTuple):
    dtype: np.dtype
    size: int


def _chunks(length: int, nranks: int):
    counts = tuple(length // nranks + (1 if r < length % nranks else 0) for r in range(nranks))
    displs = tuple(int(v) for v in np.cumsum((0,) + counts[:-1]))
    return counts, displs


class Plan:
    """Where each leaf of a pytree lives in the flat buffers, and the buckets."""

    def __init__(self, treedef, paths, arrays, nranks: int, bucket_bytes: int):
        self.treedef = treedef
        self.nranks = int(nranks)
        dtypes: list[np.dtype] = []
        sizes: list[int] = []
        leaves = []
        for path, arr in zip(paths, arrays):
            if arr.dtype not in dtypes:
                dtypes.append(arr.dtype)
                sizes.append(0)
            g = dtypes.index(arr.dtype)
            leaves.append(Leaf(path, arr.shape, arr.dtype, g, sizes[g], int(arr.size)))
            sizes[g] += arr.size
        self.leaves = leaves
        self.groups = [Group(dt, n) for dt, n in zip(dtypes, sizes)]
        self.buckets = []
        for g, dt in enumerate(dtypes):
            self._cut(g, [i for i, lf in enumerate(leaves) if lf.group == g],
                      max(1, int(bucket_bytes) // dt.itemsize))
        self.packed = [i for i, lf in enumerate(leaves)
                       if not any(b.leaf == i for b in self.buckets)]   # leaves copied before sending
        self._copy_all = self._runs(range(len(leaves)))
        self._copy_packed = self._runs(self.packed)
        text = repr((str(self.treedef), [(lf.path, lf.shape, lf.dtype.str) for lf in leaves],
                     self.nranks, int(bucket_bytes)))
        self.signature = hashlib.blake2b(text.encode(), digest_size=16).digest()
        self.avals = tuple((a.shape, a.dtype) for a in arrays)
        self.flatten = tree_util.flattener(treedef) or (lambda t: None)
        self._unflatten = tree_util.unflattener(treedef) or (lambda leaves: tree_util.unflatten(treedef, leaves))
        self._scratch = None
        self._last_results = None

    def _bucket(self, g, start, length, leaf=None, leaf_start=0):
        if length:
            small = length * self.groups[g].dtype.itemsize <= GATHER_BYTES
            self.buckets.append(Bucket(g, start, length, leaf, leaf_start, *_chunks(length, self.nranks), small))

    def _cut(self, g, members, per_bucket):
        start = run = 0                       # the bucket of small leaves being filled
        for i in members:
            lf = self.leaves[i]
            if 4 * lf.size >= per_bucket:     # large: buckets of its own, sent in place
                self._bucket(g, start, run)
                for k in range(0, lf.size, per_bucket):
                    self._bucket(g, lf.offset + k, min(per_bucket, lf.size - k), i, k)
                start, run = lf.offset + lf.size, 0
                continue
            if run + lf.size > per_bucket:
                self._bucket(g, start, run)
                start, run = lf.offset, 0
            run += lf.size
        self._bucket(g, start, run)

    def scratch(self) -> list[np.ndarray]:
        """One receive buffer per bucket (``size`` x the largest chunk),
        allocated once per plan and reused by every call."""
        if self._scratch is None:
            self._scratch = [np.empty(self.nranks * (b.length if b.gather else max(b.counts)),
                                      self.groups[b.group].dtype) for b in self.buckets]
        return self._scratch

    def describe(self) -> list:
        """``(path, shape, dtype)`` of every leaf, for error messages."""
        return [(lf.path, lf.shape, lf.dtype.str) for lf in self.leaves]

    def empty(self) -> list[np.ndarray]:
        """Flat buffers for a result, one per dtype group: the previous
        result's buffers if nothing references them any more (no leaf of
        that result is alive), else new ones. Fresh memory costs a page
        fault per 4 KiB on its first write, which is a quarter of a 40 MB
        all_reduce's time on two ranks here."""
        last = self._last_results
        # each buffer is referenced by this list, the loop variable and getrefcount's argument;
        # a leaf still alive (a view) or a list returned before and still held adds one
        if last is None or any(sys.getrefcount(f) != 3 for f in last):
            last = self._last_results = [np.empty(g.size, g.dtype) for g in self.groups]
        return list(last)

    def _runs(self, indices):
        """Leaves that lie one after another in a group's buffer, as
        ``(group, start, end, [leaf indices])``: each run is one copy."""
        runs = []
        for i in indices:
            lf = self.leaves[i]
            if runs and runs[-1][0] == lf.group and runs[-1][2] == lf.offset:
                g, start, _, members = runs[-1]
                runs[-1] = (g, start, lf.offset + lf.size, members + [i])
            else:
                runs.append((lf.group, lf.offset, lf.offset + lf.size, [i]))
        return runs

    def pack(self, arrays, only_packed: bool = False) -> list[np.ndarray]:
        """New flat buffers holding the leaves (with ``only_packed``, just the
        leaves of shared buckets); the caller's arrays are only read."""
        flats = self.empty()
        for g, start, end, members in (self._copy_packed if only_packed else self._copy_all):
            if len(members) == 1:
                flats[g][start:end] = arrays[members[0]].reshape(-1)
            else:
                np.concatenate([arrays[i].reshape(-1) for i in members], out=flats[g][start:end])
        return flats

    def send_view(self, flats, arrays, b: Bucket) -> np.ndarray:
        """What rank sends for bucket ``b``: the leaf itself, or the packed copy."""
        if b.leaf is None:
            return flats[b.group][b.start:b.start + b.length]
        return np.ravel(arrays[b.leaf])[b.leaf_start:b.leaf_start + b.length]

    def bucket_view(self, flats, b: Bucket) -> np.ndarray:
        return flats[b.group][b.start:b.start + b.length]

    def unpack(self, flats):
        """The pytree whose leaves are views of ``flats`` (fresh buffers, owned by the result)."""
        return self._unflatten([flats[lf.group][lf.offset:lf.offset + lf.size].reshape(lf.shape)
                                for lf in self.leaves])


_plans: dict = {}
_last: dict = {}     # (op, nranks, bucket_bytes) -> the plan used last, tried first


def _arrays(leaves):
    arrays = [np.asarray(x) for x in leaves]
    return [a if a.flags.c_contiguous else np.ascontiguousarray(a) for a in arrays]


def plan_for(op: str, tree, nranks: int, bucket_bytes: int = DEFAULT_BUCKET_BYTES):
    """``(plan, arrays)`` for ``tree``: the cached plan of its structure, and
    its leaves as C-contiguous arrays."""
    last = _last.get((op, nranks, bucket_bytes))
    if last is not None:     # the common case, the same structure as last time: no general flatten
        leaves = last.flatten(tree)
        if leaves is not None:
            arrays = _arrays(leaves)
            if all(a.shape == s and a.dtype == d for a, (s, d) in zip(arrays, last.avals)):
                return last, arrays
    if int(bucket_bytes) <= 0:
        raise InputError(f"distributed.{op}: bucket_bytes must be positive, got {bucket_bytes}")
    leaves, treedef = tree_util.flatten(tree)
    arrays = _arrays(leaves)
    key = (treedef, tuple((a.shape, a.dtype) for a in arrays), int(nranks), int(bucket_bytes))
    plan = _plans.get(key)
    if plan is None:
        pairs, _ = tree_util.flatten_with_path(tree)
        paths = [tree_util.keystr(p) for p, _ in pairs]
        for path, arr in zip(paths, arrays):
            if arr.dtype.kind not in "iuf":
                raise DtypeError(f"distributed.{op}: leaf {path or '<root>'} has dtype {arr.dtype}; "
                                 f"only integer and floating-point arrays can be communicated")
        plan = _plans[key] = Plan(treedef, paths, arrays, nranks, bucket_bytes)
    _last[op, nranks, bucket_bytes] = plan
    return plan, arrays


def first_difference(mine: list, theirs: list) -> str:
    """Say where two :meth:`Plan.describe` lists first differ."""
    for i, (a, b) in enumerate(zip(mine, theirs)):
        if a != b:
            if a[0] != b[0]:
                return f"leaf {i} is {b[0] or '<root>'} there but {a[0] or '<root>'} on rank 0"
            return (f"leaf {a[0] or '<root>'} has shape {b[1]} dtype {np.dtype(b[2])} there but "
                    f"shape {a[1]} dtype {np.dtype(a[2])} on rank 0")
    if len(mine) != len(theirs):
        return f"it has {len(theirs)} leaves there but {len(mine)} on rank 0"
    return "the bucket size or the number of ranks differs"
