"""Activation functions, as in ``jax.nn``.

Each takes an array (NumPy or traced) and returns one of the same shape and
floating-point dtype: float32 in, float32 out (and float32 gradients). Integer
inputs become float64 (except in :func:`relu`, which keeps them, as JAX's). Every function is written so that neither the value
nor the gradient overflows or turns into NaN for inputs anywhere in the
dtype's finite range (up to about 3.4e38 in float32 and 1.8e308 in float64)
wherever the true value is itself finite: exponentials only ever see
non-positive arguments, and branches that would overflow are never evaluated
on the inputs they do not serve (their gradient would be ``0 * inf = NaN``).
"""
from __future__ import annotations

import math

import numpy as np

from .. import numpy as fnp
from .. import primitives as P
from ..errors import UnsupportedError
from ._common import as_float

__all__ = ["relu", "leaky_relu", "elu", "gelu", "sigmoid", "tanh", "softplus", "silu", "swish",
           "softmax", "log_softmax", "logsumexp"]


def relu(x):
    """Rectified linear unit, ``relu(x) = max(x, 0)``.

    The gradient is 1 for ``x > 0`` and 0 for ``x <= 0`` (0 at ``x == 0``, as in
    JAX; ``np.maximum`` would split it as 1/2).

    Args:
      x: input array.
    """
    x = fnp.asarray(x)
    return fnp.where(x > 0, x, 0)


def leaky_relu(x, negative_slope: float = 0.01):
    """Leaky ReLU, ``x`` for ``x >= 0`` and ``negative_slope * x`` below:

        leaky_relu(x) = where(x >= 0, x, negative_slope * x)

    Args:
      x: input array.
      negative_slope: slope of the negative part (a number; 0.01 by default,
        as in ``jax.nn.leaky_relu``).
    """
    x = as_float(x)
    return fnp.where(x >= 0, x, negative_slope * x)


def elu(x, alpha: float = 1.0):
    """Exponential linear unit (Clevert et al., 2016):

        elu(x) = x                      for x > 0
                 alpha * (exp(x) - 1)   for x <= 0

    computed with ``expm1`` (accurate near 0) on ``min(x, 0)`` only, so that
    large positive ``x`` never reach the exponential.

    Args:
      x: input array.
      alpha: the negative saturation value is ``-alpha`` (1.0 by default).
    """
    x = as_float(x)
    neg = fnp.where(x > 0, 0, x)   # the exponential's branch never sees x > 0
    return fnp.where(x > 0, x, alpha * fnp.expm1(neg))


_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
# Beyond |x| = 30 the GELU gate sigmoid(2 z(x)) is exactly 0 or 1 in float32 and
# float64 (2 z(30) ~ 1974); clipping the gate's argument there keeps x**3 from
# overflowing (its gradient would then be 0 * inf) without changing any value.
_GELU_CLIP = 30.0


def gelu(x, approximate: bool = True):
    """Gaussian error linear unit (Hendrycks & Gimpel, 2016), tanh approximation:

        gelu(x) = x/2 * (1 + tanh(sqrt(2/pi) * (x + 0.044715 x**3)))

    This is ``jax.nn.gelu(x, approximate=True)``. It is evaluated as the equal
    ``x * sigmoid(2 sqrt(2/pi) (x + 0.044715 x**3))``, which keeps its relative
    accuracy for large negative ``x`` (where ``1 + tanh`` would cancel).

    Only the approximate form is available: the exact ``x * Phi(x)`` needs
    ``erf``, which funcgrad has no primitive for; ``approximate=False`` raises
    :class:`funcgrad.UnsupportedError`. The two differ by less than 5e-4.

    Args:
      x: input array.
      approximate: must be True.
    """
    if not approximate:
        raise UnsupportedError("nn.gelu: approximate=False (the exact x * Phi(x)) needs erf, which funcgrad "
                               "does not provide; use approximate=True (the tanh form, |error| < 5e-4)")
    x = as_float(x)
    # clip to [-30, 30], gradient 0 outside (NaN passes through). Not written with
    # sign(x): the Numba backend's scalar sign() returns float64 for float32 input,
    # and that float64 reaching the float32-only logistic_f32 gives wrong values.
    xc = fnp.where(x > _GELU_CLIP, _GELU_CLIP, fnp.where(x < -_GELU_CLIP, -_GELU_CLIP, x))
    inner = xc * ((2.0 * _SQRT_2_OVER_PI) + (2.0 * _SQRT_2_OVER_PI * 0.044715) * (xc * xc))
    return x * sigmoid(inner)


def sigmoid(x):
    """Logistic sigmoid, ``sigmoid(x) = 1 / (1 + exp(-x))``.

    Computed from ``exp(-|x|)``, which never overflows; its gradient is
    ``sigmoid(x) * (1 - sigmoid(x))``, which is 0 (not NaN) where it saturates.

    Args:
      x: input array.
    """
    return P.logistic(as_float(x))


def tanh(x):
    """Hyperbolic tangent, ``tanh(x) = (e^x - e^-x) / (e^x + e^-x)``; its
    gradient is ``1 - tanh(x)**2``.

    Args:
      x: input array.
    """
    return fnp.tanh(as_float(x))


def softplus(x):
    """Softplus, a smooth ReLU: ``softplus(x) = log(1 + exp(x))``, evaluated as

        softplus(x) = max(x, 0) + log1p(exp(-|x|))

    so that the exponential never overflows. Its gradient is ``sigmoid(x)``.

    Args:
      x: input array.
    """
    x = as_float(x)
    return fnp.maximum(x, 0) + fnp.log1p(fnp.exp(-fnp.abs(x)))


def silu(x):
    """Sigmoid linear unit (also called swish), ``silu(x) = x * sigmoid(x)``.

    Args:
      x: input array.
    """
    x = as_float(x)
    return x * sigmoid(x)


swish = silu


# exp(-2 * 1000) is 0 in float32 and float64: exponents below -2000 are clamped there.
_EXP_FLOOR = 1000.0


def _half_shift(x, axis):
    """``(d, m)`` with ``m = max(x, axis)`` and ``d = x/2 - m/2 = (x - m)/2``.

    ``m`` is held constant (it cancels out of softmax, log-softmax and
    logsumexp's gradient) and replaced by 0 where it is not finite. Halving is
    exact, and ``d`` never overflows (``x = -3e38`` against ``m = 3e38`` in
    float32 gives ``d = -3e38``, where ``x - m`` would be ``-inf``); ``2 d``
    overflows only where the true value of ``x - m`` is out of range."""
    m = fnp.stop_gradient(fnp.max(x, axis=axis, keepdims=True))
    m = fnp.where(fnp.isfinite(m), m, 0)
    return 0.5 * x - 0.5 * m, m


def _exp_arg(d):
    """``x - m = 2 d``, floored at -2000 where ``exp`` is 0 anyway (no overflow)."""
    d = fnp.where(d > -_EXP_FLOOR, d, -_EXP_FLOOR)
    return d + d


def _log_sum_exp_shifted(d, axis, keepdims):
    """``log(sum(exp(x - m), axis))`` (between 0 and log(n): always finite)."""
    return fnp.log(fnp.sum(fnp.exp(_exp_arg(d)), axis=axis, keepdims=keepdims))


def softmax(x, axis=-1):
    """Softmax over ``axis``:

        softmax(x)_i = exp(x_i) / sum_j exp(x_j)

    evaluated on ``x - max(x)`` (the same value), so large logits never
    overflow. The result sums to 1 along ``axis``.

    Args:
      x: input array (logits).
      axis: the axis, or tuple of axes, to normalize over (-1 by default).
    """
    x = as_float(x)
    d, _ = _half_shift(x, axis)
    e = fnp.exp(_exp_arg(d))
    return e / fnp.sum(e, axis=axis, keepdims=True)


def log_softmax(x, axis=-1):
    """Log-softmax over ``axis``:

        log_softmax(x)_i = x_i - log(sum_j exp(x_j)) = x_i - logsumexp(x)

    computed from ``x - max(x)``, so it is finite wherever the true value is
    (it is not ``log(softmax(x))``, which underflows to ``-inf``). Its gradient
    against a cotangent ``g`` is ``g - softmax(x) * sum(g)``.

    Args:
      x: input array (logits).
      axis: the axis, or tuple of axes, to normalize over (-1 by default).
    """
    x = as_float(x)
    d, _ = _half_shift(x, axis)
    return (d + d) - _log_sum_exp_shifted(d, axis, keepdims=True)


def logsumexp(x, axis=None, keepdims: bool = False):
    """``log(sum(exp(x), axis))``, computed as ``m + log(sum(exp(x - m)))`` with
    ``m = max(x)``, so that it neither overflows nor underflows to ``-inf``.
    The gradient is ``softmax(x, axis)``. The same value as
    ``funcgrad.numpy.logsumexp`` and ``jax.nn.logsumexp`` (without ``b=``).

    Args:
      x: input array.
      axis: axis or tuple of axes to reduce over; None (the default) reduces all.
      keepdims: keep the reduced axes with size 1.
    """
    x = as_float(x)
    axes = tuple(range(x.ndim)) if axis is None else axis
    d, m = _half_shift(x, axes)
    out = _log_sum_exp_shifted(d, axes, keepdims=True) + m
    if keepdims:
        return out
    return fnp.squeeze(out, axis=axes) if x.ndim else out
