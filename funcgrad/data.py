"""Minibatches, in the terms of lecture 003:

- an *epoch* is one complete pass over the N training samples;
- an *iteration* is one gradient step, on a batch of B samples;
- so there are N / B iterations per epoch (N for online SGD, B = 1; one for
  batch gradient descent, B = N).

Two ways to walk an epoch, both shuffling the samples anew each epoch:

- :func:`shuffled_batches` is pure and traceable: ``(key, data) -> batches``
  stacked along a new leading axis, ready for :func:`funcgrad.scan`, so a
  whole epoch (shuffle, gather, every step) is one compiled call.
- :func:`minibatches` is a Python iterator of NumPy batches, for training
  step by step from Python.

``data`` is any pytree of arrays sharing their leading axis (a tuple
``(x, y)``, a dict...). :func:`check_classification_data` validates a
dataset up front, where its values are known, with errors that name the
problem (labels out of range, lengths that differ, non-finite inputs).
"""
from __future__ import annotations

import numbers

import numpy as np

from . import numpy as fnp
from . import tree
from .core.trace import Tracer
from .errors import InputError, ShapeError

__all__ = ["iterations_per_epoch", "shuffled_batches", "minibatches", "check_classification_data"]


def _length(data, what: str) -> int:
    leaves = tree.leaves(data)
    if not leaves:
        raise InputError(f"{what}: data has no arrays")
    lengths = {np.shape(x)[0] if np.ndim(x) else None for x in leaves}
    if None in lengths or len(lengths) != 1:
        shapes = ", ".join(f"{tree.keystr(p) or 'data'}: {np.shape(x)}"
                           for p, x in tree.flatten_with_path(data)[0])
        raise ShapeError(f"{what}: every array of data needs the same leading (sample) axis; got {shapes}")
    return lengths.pop()


def _check_batch_size(batch_size, n: int, what: str) -> int:
    if not isinstance(batch_size, numbers.Integral) or isinstance(batch_size, bool) or batch_size < 1:
        raise InputError(f"{what}: batch_size must be a positive int, got {batch_size!r}")
    if batch_size > n:
        raise InputError(f"{what}: batch_size {batch_size} is larger than the {n} samples")
    return int(batch_size)


def iterations_per_epoch(n: int, batch_size: int, drop_remainder: bool = True) -> int:
    """N / B: gradient steps in one epoch of ``n`` samples (rounded down when
    the last, smaller batch is dropped; up otherwise)."""
    batch_size = _check_batch_size(batch_size, n, "iterations_per_epoch")
    return n // batch_size if drop_remainder else -(-n // batch_size)


def shuffled_batches(key, data, batch_size: int):
    """The samples of ``data`` in a random order (drawn from ``key``), cut
    into ``N // B`` batches of ``B``: each leaf of shape ``(N, ...)`` becomes
    ``(N // B, B, ...)``. The last ``N % B`` samples of the shuffled order are
    left out of this epoch (a different subset each epoch).

    Pure, so it runs inside :func:`funcgrad.jit`: with :func:`funcgrad.scan`
    over the result, one call trains a whole epoch.
    """
    from . import random

    what = "shuffled_batches"
    n = _length(data, what)
    batch_size = _check_batch_size(batch_size, n, what)
    steps = n // batch_size
    order = random.permutation(key, n)[:steps * batch_size]

    def cut(x):
        # a permutation is always in range: no fill for out-of-range indices
        x = fnp.take(x, order, axis=0, mode="promise_in_bounds")
        return fnp.reshape(x, (steps, batch_size) + tuple(np.shape(x)[1:]))
    return tree.map(cut, data)


def minibatches(data, batch_size: int, *, seed=None, shuffle: bool = True, drop_remainder: bool = False):
    """Iterate over the batches of one epoch as NumPy arrays (for training
    step by step from Python). ``seed`` is a NumPy seed or Generator; the
    last batch is smaller when ``B`` does not divide ``N``, unless
    ``drop_remainder``."""
    what = "minibatches"
    n = _length(data, what)
    batch_size = _check_batch_size(batch_size, n, what)
    if any(isinstance(x, Tracer) for x in tree.leaves(data)):
        raise InputError(f"{what}: data must be concrete arrays; inside a traced function use shuffled_batches")
    order = np.random.default_rng(seed).permutation(n) if shuffle else np.arange(n)
    stop = n - n % batch_size if drop_remainder else n
    for start in range(0, stop, batch_size):
        idx = order[start:start + batch_size]
        yield tree.map(lambda x: np.asarray(x)[idx], data)


def check_classification_data(x, labels, num_classes: int, *, name: str = "data"):
    """Validate a classification dataset before training: ``x`` of shape
    ``(N, ...)`` with finite floating-point values, ``labels`` integers of
    shape ``(N,)`` in ``[0, num_classes)``. Raises :class:`InputError` or
    :class:`ShapeError` naming what is wrong; returns ``(x, labels)`` as arrays."""
    what = f"check_classification_data({name})"
    x = np.asarray(x)
    labels = np.asarray(labels)
    if x.dtype.kind != "f":
        raise InputError(f"{what}: inputs must be floating-point, got dtype {x.dtype} (shape {x.shape})")
    if labels.ndim != 1 or labels.shape[0] != (x.shape[0] if x.ndim else -1):
        raise ShapeError(f"{what}: labels must have shape (N,) with N = {x.shape[0] if x.ndim else '?'} "
                         f"samples of inputs {x.shape}; got labels of shape {labels.shape}")
    if labels.dtype.kind not in "iu":
        raise InputError(f"{what}: labels must be integers (class indices), got dtype {labels.dtype}")
    bad = np.flatnonzero((labels < 0) | (labels >= num_classes))
    if bad.size:
        i = int(bad[0])
        raise InputError(f"{what}: {bad.size} label(s) outside [0, {num_classes}): labels[{i}] = "
                         f"{int(labels[i])}")
    finite = np.isfinite(x).reshape(x.shape[0], -1).all(axis=1) if x.size else np.ones(0, bool)
    if not finite.all():
        i = int(np.flatnonzero(~finite)[0])
        raise InputError(f"{what}: inputs contain NaN or inf (first in sample {i})")
    return x, labels
