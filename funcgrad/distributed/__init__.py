"""Data-parallel training over MPI (mpi4py), reproducible bit for bit.

    from funcgrad import distributed as dist

    dist.init()                                   # under mpiexec; one rank without it
    params = dist.broadcast(params)               # rank 0's initial parameters everywhere
    for epoch in range(epochs):
        x, y = dist.shard((x_all, y_all), key=fg.random.fold_in(key, epoch))
        for batch in ...:
            grads = grad_fn(params, *batch)       # compiled, on this rank's rows
            grads = dist.all_reduce(grads)        # mean over ranks, same bits everywhere
            params, opt_state = update(params, opt_state, grads)

Run it with ``mpiexec -n 4 python train.py``. What makes the results
reproducible, and what would break it, is in ``collectives``' docstring and
the README's "Distributed training" section.
"""
from .buckets import DEFAULT_BUCKET_BYTES
from .collectives import all_reduce, barrier, broadcast, reference_all_reduce
from .sharding import load_checkpoint, save_checkpoint, shard
from .training import DataParallelStep
from .world import DistributedError, init, rank, reset_timers, size, timers

DistributedError.__module__ = __name__

__all__ = ["init", "rank", "size", "all_reduce", "broadcast", "barrier", "reference_all_reduce",
           "shard", "DataParallelStep", "save_checkpoint", "load_checkpoint", "timers", "reset_timers",
           "DistributedError", "DEFAULT_BUCKET_BYTES"]
