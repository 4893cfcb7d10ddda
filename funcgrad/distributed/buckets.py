"""Pytrees of arrays as a few large contiguous buffers ("buckets").

A reduction sends one message per bucket, not one per leaf, as Horovod's
tensor fusion and PyTorch DDP's gradient buckets do. The leaves of one dtype
are copied, in pytree order, into one flat buffer; the buffer is cut into
buckets of at most ``bucket_bytes``; every bucket's length is a multiple of
the number of ranks (the last one is padded with zeros), so that each rank
owns one equal chunk of every bucket.

A :class:`Plan` depends only on the leaves' paths, shapes and dtypes, the
number of ranks and the bucket size, so every rank computes the same plan on
its own; its :attr:`Plan.signature` is what ranks compare to detect
mismatched pytrees.
"""
from __future__ import annotations

import hashlib
from typing import NamedTuple

import numpy as np

from .. import tree as tree_util
from ..errors import DtypeError, InputError

DEFAULT_BUCKET_BYTES = 8 << 20


class Leaf(NamedTuple):
    path: str
    shape: tuple
    dtype: np.dtype
    group: int      # index of its dtype group
    offset: int     # first element in the group's flat buffer


class Bucket(NamedTuple):
    group: int
    start: int      # first element in the group's flat buffer
    length: int     # a multiple of the number of ranks


class Group(NamedTuple):
    dtype: np.dtype
    size: int       # elements of data
    padded: int     # elements with the padding of the last bucket


class Plan:
    """Where each leaf of a pytree lives in the flat buffers, and the buckets.

    Made once per structure (:func:`plan_for` caches them); the arrays of
    each call are passed to :meth:`pack`."""

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
            leaves.append(Leaf(path, arr.shape, arr.dtype, g, sizes[g]))
            sizes[g] += arr.size
        self.leaves = leaves
        self.groups = []
        self.buckets = []
        for g, (dt, n) in enumerate(zip(dtypes, sizes)):
            per_bucket = max(self.nranks, (int(bucket_bytes) // dt.itemsize) // self.nranks * self.nranks)
            padded = -(-n // self.nranks) * self.nranks
            self.groups.append(Group(dt, n, padded))
            for start in range(0, padded, per_bucket):
                self.buckets.append(Bucket(g, start, min(per_bucket, padded - start)))
        text = repr((str(self.treedef), [(lf.path, lf.shape, lf.dtype.str) for lf in leaves],
                     self.nranks, int(bucket_bytes)))
        self.signature = hashlib.blake2b(text.encode(), digest_size=16).digest()
        self._scratch = None

    def scratch(self) -> list[np.ndarray]:
        """Receive buffers, allocated once per plan and reused by every call."""
        if self._scratch is None:
            self._scratch = [np.empty(g.padded, g.dtype) for g in self.groups]
        return self._scratch

    def describe(self) -> list:
        """``(path, shape, dtype)`` of every leaf, for error messages."""
        return [(lf.path, lf.shape, lf.dtype.str) for lf in self.leaves]

    def pack(self, arrays) -> list[np.ndarray]:
        """New flat buffers (one per dtype group) holding the leaves; the
        caller's arrays are only read."""
        flats = self.empty()
        for lf, arr in zip(self.leaves, arrays):
            flats[lf.group][lf.offset:lf.offset + arr.size].reshape(arr.shape)[...] = arr
        return flats

    def empty(self) -> list[np.ndarray]:
        """New flat buffers, zero only in the padding."""
        flats = [np.empty(g.padded, g.dtype) for g in self.groups]
        for f, g in zip(flats, self.groups):
            f[g.size:] = 0
        return flats

    def unpack(self, flats):
        """The pytree whose leaves are views of ``flats`` (fresh buffers, owned by the result)."""
        out = [flats[lf.group][lf.offset:lf.offset + int(np.prod(lf.shape, dtype=np.int64))].reshape(lf.shape)
               for lf in self.leaves]
        return tree_util.unflatten(self.treedef, out)

    def bucket_view(self, flats, b: Bucket) -> np.ndarray:
        return flats[b.group][b.start:b.start + b.length]


_plans: dict = {}


def plan_for(op: str, tree, nranks: int, bucket_bytes: int = DEFAULT_BUCKET_BYTES):
    """``(plan, arrays)`` for ``tree``: the cached plan of its structure, and its leaves as arrays."""
    if int(bucket_bytes) <= 0:
        raise InputError(f"distributed.{op}: bucket_bytes must be positive, got {bucket_bytes}")
    leaves, treedef = tree_util.flatten(tree)
    arrays = [np.asarray(x) for x in leaves]
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
