"""Programs that tests/test_distributed.py runs under ``mpiexec``; each rank
writes what it computed to ``<out>/rank<r>.npz``.

    mpiexec -n 4 python tests/mpi_worker.py collectives OUT
    mpiexec -n 4 python tests/mpi_worker.py train OUT --steps 20 [--save-at K CKPT | --resume CKPT]
    mpiexec -n 2 python tests/mpi_worker.py dead OUT | mismatch OUT
    python tests/mpi_worker.py reference OUT --ranks 4 --steps 20     (one process)
"""
from __future__ import annotations

import argparse
import os
import sys

import numpy as np

import funcgrad as fg
from funcgrad import distributed as dist
from funcgrad import nn, optim

LOCAL_BATCH = 16


def rank_tree(r: int):
    """A nested pytree of float32, float64 and int arrays that depends on the rank."""
    rng = np.random.default_rng(100 + r)
    return {
        "w": rng.normal(size=(3, 5)).astype(np.float32),
        "layers": [{"b": rng.normal(size=7), "s": np.float64(r + 0.5)},
                   (rng.normal(size=(2, 2, 2)).astype(np.float32),)],
        "count": np.arange(6, dtype=np.int64) * (r + 1),
    }


def floats(tree):
    return {"w": tree["w"], "layers": tree["layers"]}


def big_tree(r: int):
    """Leaves above the gather threshold (sent in place, in chunks that do
    not divide evenly by the number of ranks), between small ones."""
    rng = np.random.default_rng(200 + r)
    return {"a": rng.normal(size=3).astype(np.float32), "big": rng.normal(size=(317, 331)).astype(np.float32),
            "c": rng.normal(size=(5,)).astype(np.float32), "big64": rng.normal(size=50_001)}


def digits(dtype=np.float32):
    """scikit-learn's digits, read from the file it bundles (importing
    scikit-learn in every rank would cost seconds per launch)."""
    import importlib.util

    folder = importlib.util.find_spec("sklearn").submodule_search_locations[0]
    table = np.loadtxt(os.path.join(folder, "datasets", "data", "digits.csv.gz"), delimiter=",")
    return (table[:, :-1] / 16.0).astype(dtype), table[:, -1].astype(np.int64)


def loss_fn(params, x, y):
    return nn.cross_entropy(nn.mlp_apply(params, x), y)


def make_step():
    return dist.DataParallelStep(loss_fn, optim.adam(1e-2), bucket_bytes=4096)


def initial_params():
    return nn.mlp_init(fg.random.key(0), [64, 32, 10], dtype=np.float32)


_shards = {}


def local_batch(data, rank, size, step, key):
    """Rank ``rank``'s batch at ``step``: a shuffle per pass over the data (one key for all ranks)."""
    n_local = len(data[0]) // size
    per_pass = n_local // LOCAL_BATCH
    epoch, i = divmod(step, per_pass)
    which = (id(data), tuple(np.asarray(key).ravel()), rank, size, epoch)
    if which not in _shards:
        _shards[which] = dist.shard(data, rank, size, key=fg.random.fold_in(key, epoch))
    x, y = _shards[which]
    return x[i * LOCAL_BATCH:(i + 1) * LOCAL_BATCH], y[i * LOCAL_BATCH:(i + 1) * LOCAL_BATCH]


def save(out, **arrays):
    np.savez(os.path.join(out, f"rank{dist.rank()}.npz"), **arrays)


def flat(tree):
    pairs, _ = fg.tree.flatten_with_path(tree)
    return {fg.tree.keystr(p): np.asarray(x) for p, x in pairs}


def collectives(out):
    r = dist.rank()
    mine = rank_tree(r)
    before = flat(mine)
    mean = dist.all_reduce(floats(mine), "mean", bucket_bytes=32)   # several buckets
    big = dist.all_reduce(big_tree(r), "mean", bucket_bytes=1 << 20)     # large leaves in place
    bigsum = dist.all_reduce(big_tree(r), "sum")                         # one packed bucket
    bigmax = dist.all_reduce(big_tree(r), "max", bucket_bytes=160_000)   # leaves cut in pieces
    total = dist.all_reduce({"count": mine["count"]}, "sum")
    top = dist.all_reduce(floats(mine), "max")
    root = 1 if dist.size() > 1 else 0
    got = dist.broadcast(mine, root=root)
    unchanged = all(np.array_equal(before[k], v) for k, v in flat(mine).items())
    arrays = {f"mean{k}": v for k, v in flat(mean).items()}
    arrays.update({f"sum{k}": v for k, v in flat(total).items()})
    arrays.update({f"bigmean{k}": v for k, v in flat(big).items()})
    arrays.update({f"bigsum{k}": v for k, v in flat(bigsum).items()})
    arrays.update({f"bigmax{k}": v for k, v in flat(bigmax).items()})
    arrays.update({f"max{k}": v for k, v in flat(top).items()})
    arrays.update({f"bcast{k}": v for k, v in flat(got).items()})
    save(out, unchanged=np.array(unchanged), root=np.array(root), **arrays)


def train(out, steps, save_at=None, ckpt=None, resume=None):
    data = digits()
    key = fg.random.key(1)
    step = make_step()
    state = step.init(initial_params())
    start = 0
    if resume:
        state = dist.load_checkpoint(resume, state)
        start = int(state.step)
    losses = []
    for s in range(start, steps):
        state, loss = step(state, local_batch(data, dist.rank(), dist.size(), s, key))
        losses.append(float(loss))
        if save_at is not None and s + 1 == save_at:
            dist.save_checkpoint(ckpt, state)
    save(out, losses=np.array(losses), **{f"p{k}": v for k, v in flat(state.params).items()},
         opt=np.concatenate([np.ravel(v).astype(np.float64) for v in fg.tree.leaves(state.opt_state)]))


def reference(out, n, steps):
    """What ``n`` ranks compute in ``train``, in this one process (no MPI):
    ``DataParallelStep.reference``, in the same environment as the ranks."""
    data = digits()
    key = fg.random.key(1)
    step = make_step()
    state = step.tx.init_state(initial_params())
    for s in range(steps):
        state, _ = step.reference(state, [local_batch(data, r, n, s, key) for r in range(n)])
    np.savez(os.path.join(out, "reference.npz"), **{f"p{k}": v for k, v in flat(state.params).items()})


def main(argv=None):
    p = argparse.ArgumentParser()
    p.add_argument("mode")
    p.add_argument("out")
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--save-at", nargs=2)
    p.add_argument("--resume")
    p.add_argument("--ranks", type=int, default=1)
    a = p.parse_args(argv)
    if a.mode == "reference":
        return reference(a.out, a.ranks, a.steps)
    dist.init()
    if a.mode == "collectives":
        collectives(a.out)
    elif a.mode == "train":
        save_at, ckpt = (int(a.save_at[0]), a.save_at[1]) if a.save_at else (None, None)
        train(a.out, a.steps, save_at, ckpt, a.resume)
    elif a.mode == "dead":
        if dist.rank() == 1:
            os._exit(3)                                  # dies without a word
        dist.all_reduce({"g": np.zeros(4)})
    elif a.mode == "mismatch":
        tree = {"params": {"w1": np.zeros((3, 4) if dist.rank() != 1 else (4, 3)), "b1": np.zeros(3)}}
        dist.all_reduce(tree)
    else:
        sys.exit(f"unknown mode {a.mode}")


if __name__ == "__main__":
    main()
