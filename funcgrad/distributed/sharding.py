"""Each rank's part of a dataset, and checkpoints written once and read by all."""
from __future__ import annotations

import os

import numpy as np

from .. import optim
from .. import tree as tree_util
from .collectives import barrier, broadcast
from .world import DistributedError, world


def _length(data) -> int:
    pairs, _ = tree_util.flatten_with_path(data)
    if not pairs:
        raise DistributedError("distributed.shard: data has no arrays")
    lengths = {tree_util.keystr(p) or "<root>": np.shape(x)[0] if np.ndim(x) else None for p, x in pairs}
    if None in lengths.values() or len(set(lengths.values())) != 1:
        raise DistributedError(f"distributed.shard: every array of data needs the same leading "
                               f"length (one row per example); got {lengths}")
    return next(iter(lengths.values()))


def shard(data, rank: int | None = None, size: int | None = None, *, key=None):
    """Rank ``rank``'s rows of ``data`` (a pytree of arrays with one row per
    example), out of ``size`` equal contiguous parts: ``n // size`` rows each,
    the last ``n % size`` rows left out. With ``key`` (a ``fg.random`` key)
    the rows are shuffled first by ``fg.random.permutation(key, n)``: ranks
    that pass the same key (one per epoch, e.g. ``fold_in(key, epoch)``) cut
    the same shuffle, so their parts never overlap. ``rank`` and ``size``
    default to this process's."""
    w = world()
    rank = w.rank if rank is None else int(rank)
    size = w.size if size is None else int(size)
    if size < 1 or not 0 <= rank < size:
        raise DistributedError(f"distributed.shard: rank {rank} is not in range for size {size}")
    n = _length(data)
    per = n // size
    if per == 0:
        raise DistributedError(f"distributed.shard: {n} rows cannot be split into {size} non-empty parts")
    if key is None:
        rows = slice(rank * per, (rank + 1) * per)
        return tree_util.map(lambda x: np.array(np.asarray(x)[rows]), data)
    from .. import random

    order = np.asarray(random.permutation(key, n))[rank * per:(rank + 1) * per]
    return tree_util.map(lambda x: np.take(np.asarray(x), order, axis=0), data)


def save_checkpoint(path, state):
    """Rank 0 writes ``state`` (any pytree of arrays: parameters, optimizer
    state, step counter, random key) with ``optim.save_state``, atomically
    (a temporary file renamed into place); every rank returns once the file
    is complete."""
    w = world()
    path = os.fspath(path)
    if w.rank == 0:
        tmp = f"{path}.tmp-{os.getpid()}"
        with open(tmp, "wb") as f:
            optim.save_state(f, state)
        os.replace(tmp, path)
    barrier()


def load_checkpoint(path, like):
    """The state saved by :func:`save_checkpoint`, on every rank: rank 0
    reads it (``optim.load_state`` checks paths, shapes and dtypes against
    ``like``) and broadcasts it, so only rank 0 needs the file and every rank
    holds the same bits."""
    w = world()
    state = optim.load_state(os.fspath(path), like) if w.rank == 0 else like
    return broadcast(state, root=0)
