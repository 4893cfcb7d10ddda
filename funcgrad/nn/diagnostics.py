"""Training diagnostics motivated by the notes: per-layer gradient norms
(vanishing and exploding gradients) and the fraction of dead ReLU units.

They work on concrete arrays (returning NumPy scalars) and on traced values
(inside a jitted step, returning traced scalars).
"""
from __future__ import annotations

import numpy as np

from .. import numpy as fnp
from .. import tree
from ..errors import ShapeError
from ..optim import global_norm
from ._common import describe

__all__ = ["layer_grad_norms", "dead_relu_fraction", "global_norm"]


def _l2(x):
    x = fnp.asarray(x)
    if x.dtype.kind != "f":
        x = fnp.astype(x, np.float64)
    return fnp.sqrt(fnp.sum(x * x))


def layer_grad_norms(grads) -> dict:
    """The L2 (Frobenius) norm of each leaf of a gradient pytree:

        {keypath: sqrt(sum(g**2))}

    keyed by :func:`funcgrad.tree.keystr` paths, such as ``"[0]['w']"`` for the
    first layer's weights of an MLP (a bare array's key is ``""``). Norms that
    shrink (or grow) geometrically from the last layer to the first are the
    vanishing (exploding) gradients of the notes. The global norm over all
    leaves is :func:`global_norm` (``funcgrad.optim.global_norm``).

    Args:
      grads: a pytree of arrays (usually the output of ``fg.grad``).
    """
    flat, _ = tree.flatten_with_path(grads)
    return {tree.keystr(path): _l2(g) for path, g in flat}


def _dead_fraction(z):
    z = fnp.asarray(z)
    if z.ndim == 0:
        raise ShapeError(f"nn.dead_relu_fraction: pre-activations must have shape (batch, units), "
                         f"got a 0-d array {describe(z)}")
    off = z <= 0
    dead = fnp.all(off, axis=tuple(range(z.ndim - 1))) if z.ndim > 1 else off
    return fnp.mean(fnp.astype(dead, np.float64))


def dead_relu_fraction(pre_activations):
    """The fraction of dead ReLU units: units whose pre-activation is ``<= 0``
    for every example of the batch (so their output and gradient are 0 for all
    of it), per layer:

        dead_fraction = mean_units [ all_batch(z <= 0) ]

    Args:
      pre_activations: an array of shape ``(batch, units)`` (leading axes are
        all batch axes), or a pytree of them, such as the list returned by
        ``mlp_apply(..., return_hidden=True)``.

    Returns:
      A float64 scalar per array, in the same structure (a list of fractions
      for a list of layers).
    """
    return tree.map(_dead_fraction, pre_activations)
