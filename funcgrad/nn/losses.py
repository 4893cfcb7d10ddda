"""Loss functions and penalties, as pure functions returning scalars.

Every loss averages over the batch (all leading axes) and is computed in the
floating-point dtype of its first argument (the prediction, logits or
log-probabilities): float64 targets do not promote a float32 loss. Inputs are
checked when the function is called (at trace time under ``grad`` and ``jit``):
wrong shapes raise :class:`funcgrad.ShapeError`, wrong dtypes
:class:`funcgrad.DtypeError`, each naming the function, shapes and dtypes.
Integer labels out of ``[0, num_classes)`` raise :class:`funcgrad.InputError`
when the labels are concrete (NumPy arrays); traced labels (arguments of a
function under ``grad`` or ``jit``) cannot be checked, and an out-of-range
label makes that example's loss NaN instead (as JAX's out-of-bounds gathers do).
"""
from __future__ import annotations

import numpy as np

from .. import numpy as fnp
from .. import tree
from ..errors import DtypeError, InputError, ShapeError
from ._common import as_float, check_number, describe, is_traced
from .activations import _half_shift, _log_sum_exp_shifted

__all__ = ["mse", "cross_entropy", "softmax_cross_entropy", "nll", "binary_cross_entropy_with_logits",
           "l2_penalty"]


def _scores(fn: str, name: str, x):
    """Logits or log-probabilities: a float array with a class axis."""
    x = fnp.asarray(x)
    if x.dtype.kind != "f":
        raise DtypeError(f"nn.{fn}: {name} must be a floating-point array, got {describe(x)} "
                         f"(did you swap {name} and labels?)")
    if x.ndim < 1:
        raise ShapeError(f"nn.{fn}: {name} must have a class axis (shape (batch, num_classes)), "
                         f"got a 0-d array {describe(x)}")
    return x


def _labels(fn: str, name: str, scores, labels):
    """Classify ``labels`` against ``scores`` of shape ``(..., C)``.

    Returns ``("dense", targets)`` for one-hot or probability targets of
    ``scores``' shape (cast to its dtype), or ``("index", labels)`` for integer
    class indices of shape ``scores.shape[:-1]`` (range-checked when concrete).
    """
    labels = fnp.asarray(labels)
    s_shape, l_shape = tuple(scores.shape), tuple(labels.shape)
    num_classes = s_shape[-1]
    shapes = f"{name} {describe(scores)}, labels {describe(labels)}"
    if l_shape == s_shape:
        if labels.dtype.kind not in "biuf":
            raise DtypeError(f"nn.{fn}: one-hot/probability labels must be numeric, got {shapes}")
        return "dense", fnp.astype(labels, scores.dtype)
    if len(l_shape) == len(s_shape) - 1:
        if labels.dtype.kind not in "iu":
            raise DtypeError(
                f"nn.{fn}: class-index labels must have an integer dtype, got {shapes}; "
                f"pass integer labels of shape {s_shape[:-1]} or one-hot/probability targets of shape {s_shape}")
        if l_shape != s_shape[:-1]:
            raise ShapeError(f"nn.{fn}: batch mismatch between {name} and labels: {shapes}; integer labels "
                             f"must have shape {s_shape[:-1]} ({name}.shape[:-1])")
        if not is_traced(labels):
            bad = (labels < 0) | (labels >= num_classes)
            if np.any(bad):
                pos = tuple(int(i) for i in np.argwhere(bad)[0])
                raise InputError(
                    f"nn.{fn}: label {int(labels[pos])} at index {pos if len(pos) != 1 else pos[0]} is out of "
                    f"range [0, {num_classes}) for {num_classes} classes ({shapes})")
        return "index", labels
    raise ShapeError(f"nn.{fn}: labels must be integer class indices of shape {s_shape[:-1]} or "
                     f"one-hot/probability targets of shape {s_shape}; got {shapes}")


def _pick(scores, labels):
    """``scores[..., labels[...]]``: each example's score of its class."""
    picked = fnp.take_along_axis(scores, fnp.expand_dims(labels, -1), axis=-1)
    return fnp.squeeze(picked, -1)


def _nan_if_out_of_range(per_example, labels, num_classes):
    """Traced labels cannot be checked: mark out-of-range ones with NaN."""
    if not is_traced(labels):
        return per_example
    valid = (labels >= 0) & (labels < num_classes)
    return fnp.where(valid, per_example, np.nan)


def mse(pred, target):
    """Mean squared error over all elements:

        mse = mean((pred - target)**2)

    Args:
      pred: predictions, any shape (floating point; its dtype is the loss's).
      target: targets of the same shape (no broadcasting: a mismatch is
        usually a bug, such as ``(N, 1)`` against ``(N,)``).
    """
    pred = as_float(pred)
    target = fnp.asarray(target)
    if tuple(pred.shape) != tuple(target.shape):
        raise ShapeError(f"nn.mse: pred and target must have the same shape, got pred {describe(pred)} "
                         f"and target {describe(target)}")
    d = pred - fnp.astype(target, pred.dtype)
    return fnp.mean(d * d)


def cross_entropy(logits, labels):
    """Softmax cross-entropy between logits and class labels, averaged over the batch.

    With ``logits`` of shape ``(N, C)`` (or ``(..., C)``), for integer labels
    ``y`` of shape ``(N,)``:

        loss = mean_n [ logsumexp(logits[n]) - logits[n, y[n]] ]
             = -mean_n log_softmax(logits)[n, y[n]]

    and for one-hot or probability targets ``t`` of shape ``(N, C)``:

        loss = -mean_n sum_c t[n, c] * log_softmax(logits)[n, c]

    Its gradient with respect to the logits is ``(softmax(logits) - t) / N``
    (``t`` the one-hot of ``y``). Computed stably for any finite logits. This
    is ``torch.nn.functional.cross_entropy`` (mean reduction), or the batch
    mean of ``optax.softmax_cross_entropy[_with_integer_labels]``.

    Args:
      logits: unnormalized log-probabilities, shape ``(..., C)``, floating point.
      labels: integer class indices in ``[0, C)`` of shape ``logits.shape[:-1]``,
        or one-hot/probability targets of shape ``logits.shape``.
    """
    logits = _scores("cross_entropy", "logits", logits)
    kind, labels = _labels("cross_entropy", "logits", logits, labels)
    d, _ = _half_shift(logits, -1)
    if kind == "dense":
        # sum_c t_c (lse - s_c) = lse sum(t) - 2 sum(t d): both terms >= 0. d is
        # floored at -max so that a class of target 0 whose logit is -inf (masked),
        # or whose log-probability is beyond the range, adds 0 and not 0 * inf.
        d_min = -float(np.finfo(logits.dtype).max)
        per = (_log_sum_exp_shifted(d, -1, False) * fnp.sum(labels, axis=-1)
               - 2.0 * fnp.sum(labels * fnp.where(d > d_min, d, d_min), axis=-1))
    else:
        # log(sum(exp(s))) - s[y] with s = logits - max = 2 d: a sum of two
        # non-negative terms (logsumexp(logits) - logits[y] would cancel digits)
        per = _log_sum_exp_shifted(d, -1, False) - 2.0 * _pick(d, labels)
        per = _nan_if_out_of_range(per, labels, logits.shape[-1])
    return fnp.mean(per)


softmax_cross_entropy = cross_entropy


def nll(log_probs, labels):
    """Negative log-likelihood of log-probabilities, averaged over the batch:

        loss = -mean_n log_probs[n, y[n]]                    (integer labels y)
        loss = -mean_n sum_c t[n, c] * log_probs[n, c]       (targets t)

    ``nll(log_softmax(z), y) == cross_entropy(z, y)`` (as PyTorch's
    ``nll_loss``; the log-probabilities are taken as they are).

    Args:
      log_probs: log-probabilities, shape ``(..., C)``, floating point.
      labels: integer class indices in ``[0, C)`` of shape ``log_probs.shape[:-1]``,
        or one-hot/probability targets of shape ``log_probs.shape``.
    """
    log_probs = _scores("nll", "log_probs", log_probs)
    kind, labels = _labels("nll", "log_probs", log_probs, labels)
    if kind == "dense":
        per = -fnp.sum(labels * log_probs, axis=-1)
    else:
        per = _nan_if_out_of_range(-_pick(log_probs, labels), labels, log_probs.shape[-1])
    return fnp.mean(per)


def binary_cross_entropy_with_logits(logits, targets):
    """Sigmoid binary cross-entropy, averaged over all elements:

        loss = mean[ -t log(sigmoid(x)) - (1 - t) log(1 - sigmoid(x)) ]
             = mean[ max(x, 0) - x t + log1p(exp(-|x|)) ]

    (the second form is the one computed: no overflow for any finite ``x``).
    Its gradient with respect to ``x`` is ``(sigmoid(x) - t) / x.size``.

    Args:
      logits: logits ``x`` (floating point), any shape.
      targets: targets ``t`` in ``[0, 1]`` (probabilities, or 0/1 labels of any
        numeric dtype), the same shape as ``logits``.
    """
    x = fnp.asarray(logits)
    if x.dtype.kind != "f":
        raise DtypeError(f"nn.binary_cross_entropy_with_logits: logits must be a floating-point array, "
                         f"got {describe(x)}")
    t = fnp.asarray(targets)
    if tuple(x.shape) != tuple(t.shape):
        raise ShapeError(f"nn.binary_cross_entropy_with_logits: logits and targets must have the same "
                         f"shape, got logits {describe(x)} and targets {describe(t)}")
    if t.dtype.kind not in "biuf":
        raise DtypeError(f"nn.binary_cross_entropy_with_logits: targets must be numeric, got {describe(t)}")
    if not is_traced(t) and t.size and (np.any(t < 0) or np.any(t > 1) or np.any(np.isnan(t))):
        bad = t[(t < 0) | (t > 1) | np.isnan(t)].flat[0]
        raise InputError(f"nn.binary_cross_entropy_with_logits: targets must lie in [0, 1], found {bad} "
                         f"(logits {describe(x)}, targets {describe(t)})")
    t = fnp.astype(t, x.dtype)
    return fnp.mean(fnp.maximum(x, 0) - x * t + fnp.log1p(fnp.exp(-fnp.abs(x))))


def _is_float_leaf(x) -> bool:
    return fnp.asarray(x).dtype.kind == "f"


def l2_penalty(params, weight, *, only_weights: bool = False, mask=None):
    """L2 regularization (the notes' weight decay term) over a pytree:

        penalty = weight / 2 * sum_leaves sum(p**2)

    so that its gradient is ``weight * p``: adding it to a loss and taking an
    SGD step gives ``p <- (1 - lr * weight) p - lr * grad``. Non-float leaves
    (step counters...) are skipped.

    Args:
      params: a pytree of arrays.
      weight: the coefficient ``alpha`` (a number >= 0, or a traced scalar).
      only_weights: if True, penalize only leaves with 2 or more dimensions
        (dense weights ``(n_in, n_out)``), not biases.
      mask: optional predicate ``mask(path, leaf) -> bool`` choosing the leaves
        to penalize; ``path`` is the leaf's key path string, such as
        ``"[0]['w']"`` (see :func:`funcgrad.tree.keystr`).
    """
    if not is_traced(weight):
        weight = check_number("l2_penalty", "weight", weight, lo=0)
    flat, _ = tree.flatten_with_path(params)
    total = None
    for path, leaf in flat:
        if not _is_float_leaf(leaf):
            continue
        if only_weights and fnp.ndim(leaf) < 2:
            continue
        if mask is not None and not mask(tree.keystr(path), leaf):
            continue
        leaf = fnp.asarray(leaf)
        term = fnp.sum(leaf * leaf)
        total = term if total is None else total + term
    if total is None:
        return fnp.asarray(0.0)
    if is_traced(weight):
        weight = fnp.astype(weight, total.dtype)
    return (0.5 * weight) * total
