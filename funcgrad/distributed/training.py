"""A data-parallel training step, and its single-process reference.

    step = dist.DataParallelStep(loss_fn, optim.adam(1e-3))
    state = step.init(params)                     # rank 0's params on every rank
    state, loss = step(state, (x_local, y_local)) # this rank's rows; mean gradient over ranks

Each rank runs the compiled ``value_and_grad(loss_fn)`` on its own batch,
the losses and gradients are averaged by :func:`all_reduce` (one call for
both, bucketed), and each rank applies the same compiled optimizer step to
the same averaged gradients, so the parameters stay bit-identical on every
rank without being sent again.

``step.reference(state, [batch_0, ..., batch_{N-1}])`` does the same in one
process for N ranks: it computes the N gradients in turn and reduces them with
:func:`reference_all_reduce`. Its results are bit-identical to an N-process
run; the tests rely on that.

Why the communication does not overlap the backward pass: the gradient
comes out of ONE compiled call (forward and backward fused into a few loop
nests), so no gradient of a later layer exists before every gradient does.
Splitting the backward pass into per-layer calls to start reductions earlier
would lose that fusion; benchmarks/bench_distributed.py measures the
compute/communication split that bounds what an overlap could save.
"""
from __future__ import annotations

import contextlib
import time

from .. import config, optim
from ..api import value_and_grad
from ..jit import jit
from .buckets import DEFAULT_BUCKET_BYTES
from .collectives import all_reduce, broadcast, reference_all_reduce
from .world import world


class DataParallelStep:
    """One synchronous data-parallel SGD-family step over all ranks.

    ``loss_fn(params, *batch)`` returns a scalar; ``tx`` is any
    ``optim.GradientTransformation``. The state is an ``optim.TrainState``.
    ``timings`` accumulates ``compute_s`` (the compiled gradient and update
    calls) and, from :func:`timers`, the communication."""

    def __init__(self, loss_fn, tx: optim.GradientTransformation, *,
                 bucket_bytes: int = DEFAULT_BUCKET_BYTES):
        self.tx = tx
        self.bucket_bytes = bucket_bytes
        self._value_and_grad = jit(value_and_grad(loss_fn))
        self._apply = jit(tx.step)
        self.compute_s = 0.0

    def init(self, params) -> optim.TrainState:
        """The optimizer state of rank 0's ``params``, on every rank."""
        return self.tx.init_state(broadcast(params, bucket_bytes=self.bucket_bytes))

    @staticmethod
    @contextlib.contextmanager
    def _compiled():
        """Run compiled code from the first call. In the default async mode a
        program's first calls run on the interpreter or the vm while Numba
        compiles, and their roundings differ from the compiled program's:
        ranks (or launches) whose compilers finish at different times would
        then hold different bits."""
        mode, config.compile_mode = config.compile_mode, "sync"
        try:
            yield
        finally:
            config.compile_mode = mode

    def _grads(self, state, batch):
        t0 = time.perf_counter()
        with self._compiled():
            loss, grads = self._value_and_grad(state.params, *batch)
        self.compute_s += time.perf_counter() - t0
        return loss, grads

    def _update(self, state, grads):
        t0 = time.perf_counter()
        with self._compiled():
            state = self._apply(state, grads)
        self.compute_s += time.perf_counter() - t0
        return state

    def __call__(self, state: optim.TrainState, batch):
        """``(new state, mean loss over ranks)`` after one step on this rank's ``batch``."""
        loss, grads = all_reduce(self._grads(state, batch), "mean", bucket_bytes=self.bucket_bytes)
        return self._update(state, grads), loss

    def reference(self, state: optim.TrainState, batches):
        """What ``len(batches)`` ranks compute, where rank r has ``batches[r]``."""
        loss, grads = reference_all_reduce([self._grads(state, b) for b in batches], "mean")
        return self._update(state, grads), loss

    @property
    def timings(self) -> dict:
        t = world().timers.as_dict()
        return {"compute_s": self.compute_s, "communication_s": t["communication_s"],
                "local_s": t["local_s"]}
