"""Weight initializers, as in ``jax.nn.initializers``.

Every initializer is a function ``init(key, shape, dtype=float64) -> array``
drawing from ``funcgrad.random`` with a key made by ``fg.random.key(seed)``
(split it for several arrays). Unlike JAX, where ``glorot_normal()`` is a
factory returning such a function, the named initializers here *are* the
init functions (pass ``w_init=nn.glorot_normal``); :func:`variance_scaling`
is the factory for other choices.

Fans. For a 2-d weight of shape ``(fan_in, fan_out)`` (funcgrad's dense
layout ``y = x @ w + b``: inputs along axis 0, outputs along axis 1),
``fan_in = shape[0]`` and ``fan_out = shape[1]``. For more dimensions
(convolution kernels), ``fan_in = shape[in_axis] * receptive`` and
``fan_out = shape[out_axis] * receptive``, ``receptive`` being the product of
the other dimensions (``in_axis=-2``, ``out_axis=-1`` by default, as JAX).

Variances, derived in the notes (seeds 001 and 002) from keeping the variance
of activations (forward) or of gradients (backward) constant across layers:

    glorot (Xavier):   Var[w] = 2 / (fan_in + fan_out)      tanh/sigmoid, compromise of both passes
    he (Kaiming):      Var[w] = 2 / fan_in                  ReLU halves the second moment
    lecun:             Var[w] = 1 / fan_in                  linear / SELU

(the notes' slide writes ``Var[w] = sqrt(2/n)``: that is the standard
deviation). ``*_normal`` draws ``N(0, Var)``; ``*_uniform`` draws
``U(-a, a)`` with ``a = sqrt(3 Var)``, which has that variance. The normal
draws are not truncated (as PyTorch's ``kaiming_normal_``; JAX's defaults
truncate at two standard deviations and rescale to the same variance).
"""
from __future__ import annotations

import math

import numpy as np

from ..errors import DtypeError, InputError, ShapeError, UnsupportedError

__all__ = ["zeros", "ones", "constant", "variance_scaling", "glorot_normal", "glorot_uniform", "he_normal",
           "he_uniform", "lecun_normal", "lecun_uniform", "xavier_normal", "xavier_uniform", "kaiming_normal",
           "kaiming_uniform", "compute_fans"]


def _random():
    from .. import random  # written alongside; imported when first used
    return random


def _shape(name: str, shape) -> tuple:
    if isinstance(shape, (int, np.integer)):
        shape = (shape,)
    try:
        shape = tuple(int(d) for d in shape)
    except TypeError:
        raise ShapeError(f"nn.{name}: shape must be a tuple of ints, got {shape!r}") from None
    if any(d < 0 for d in shape):
        raise ShapeError(f"nn.{name}: negative dimension in shape {shape}")
    return shape


def _float_dtype(name: str, dtype) -> np.dtype:
    try:
        dt = np.dtype(dtype)
    except TypeError:
        raise DtypeError(f"nn.{name}: dtype must be a floating-point dtype, got {dtype!r}") from None
    if dt.kind != "f":
        raise DtypeError(f"nn.{name}: dtype must be a floating-point dtype (float32 or float64), got {dt}")
    return dt


def compute_fans(shape, in_axis: int = -2, out_axis: int = -1) -> tuple[int, int]:
    """``(fan_in, fan_out)`` of a weight of ``shape`` (see the module's docstring).

    Args:
      shape: the weight's shape, at least 2-d, such as ``(n_in, n_out)``.
      in_axis, out_axis: the input and output axes (-2 and -1 by default).
    """
    shape = _shape("compute_fans", shape)
    if len(shape) < 2:
        raise ShapeError(f"nn.compute_fans: cannot tell the fans of a {len(shape)}-d weight of shape {shape}; "
                         "variance-scaling initializers need a weight of 2 or more dimensions "
                         "(initialize biases with nn.zeros)")
    nd = len(shape)
    ia, oa = in_axis % nd, out_axis % nd
    if ia == oa:
        raise ShapeError(f"nn.compute_fans: in_axis {in_axis} and out_axis {out_axis} are the same axis "
                         f"of shape {shape}")
    receptive = math.prod(d for i, d in enumerate(shape) if i not in (ia, oa))
    return shape[ia] * receptive, shape[oa] * receptive


def zeros(key, shape, dtype=np.float64):
    """All zeros (biases). ``key`` is ignored (there for the common signature)."""
    return np.zeros(_shape("zeros", shape), dtype=_float_dtype("zeros", dtype))


def ones(key, shape, dtype=np.float64):
    """All ones. ``key`` is ignored."""
    return np.ones(_shape("ones", shape), dtype=_float_dtype("ones", dtype))


def constant(value, dtype=np.float64):
    """Factory: an initializer filling every entry with ``value``."""
    def init(key, shape, dtype=dtype):
        return np.full(_shape("constant", shape), value, dtype=_float_dtype("constant", dtype))
    return init


_MODES = ("fan_in", "fan_out", "fan_avg")
_DISTRIBUTIONS = ("normal", "uniform")


def variance_scaling(scale: float, mode: str, distribution: str, in_axis: int = -2, out_axis: int = -1,
                     dtype=np.float64):
    """Factory: an initializer with ``Var[w] = scale / n``, ``n`` being

    - ``fan_in`` for ``mode="fan_in"``,
    - ``fan_out`` for ``mode="fan_out"``,
    - ``(fan_in + fan_out) / 2`` for ``mode="fan_avg"``,

    drawn from ``N(0, Var)`` (``distribution="normal"``) or ``U(-a, a)`` with
    ``a = sqrt(3 Var)`` (``"uniform"``). As ``jax.nn.initializers.variance_scaling``,
    except that ``"truncated_normal"`` is not available.

    Args:
      scale: the variance's numerator (> 0): 1 for Glorot/LeCun, 2 for He.
      mode: "fan_in", "fan_out" or "fan_avg".
      distribution: "normal" or "uniform".
      in_axis, out_axis: the weight's input and output axes.
      dtype: the default dtype of the returned init function.

    Returns:
      ``init(key, shape, dtype=dtype) -> array``.
    """
    if not isinstance(scale, (int, float, np.number)) or isinstance(scale, bool) or not scale > 0:
        raise InputError(f"nn.variance_scaling: scale must be a number > 0, got {scale!r}")
    if mode not in _MODES:
        raise InputError(f"nn.variance_scaling: mode must be one of {_MODES}, got {mode!r}")
    if distribution == "truncated_normal":
        raise UnsupportedError("nn.variance_scaling: distribution='truncated_normal' is not available; "
                               "use 'normal' (same variance, untruncated) or 'uniform'")
    if distribution not in _DISTRIBUTIONS:
        raise InputError(f"nn.variance_scaling: distribution must be one of {_DISTRIBUTIONS}, "
                         f"got {distribution!r}")
    scale = float(scale)
    default_dtype = dtype

    def init(key, shape, dtype=default_dtype):
        shape = _shape(init.__name__, shape)
        dt = _float_dtype(init.__name__, dtype)
        fan_in, fan_out = compute_fans(shape, in_axis, out_axis)
        n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[mode]
        var = scale / max(n, 1)
        random = _random()
        if distribution == "normal":
            return math.sqrt(var) * random.normal(key, shape, dtype=dt)
        a = math.sqrt(3.0 * var)
        return random.uniform(key, shape, dtype=dt, minval=-a, maxval=a)

    init.__name__ = "variance_scaling"
    init.__qualname__ = "variance_scaling"
    init.scale, init.mode, init.distribution = scale, mode, distribution
    return init


def _named(name, scale, mode, distribution, formula):
    init = variance_scaling(scale, mode, distribution)
    init.__name__ = init.__qualname__ = name
    init.__doc__ = f"""{formula}

    ``{name}(key, shape, dtype=float64)``: ``fan_in = shape[0]`` and
    ``fan_out = shape[1]`` for a 2-d ``(n_in, n_out)`` weight (see
    :mod:`funcgrad.nn.initializers` for more dimensions).

    Args:
      key: a key from ``fg.random.key(seed)`` / ``fg.random.split``.
      shape: the weight's shape, at least 2-d.
      dtype: a floating-point dtype (float64 by default).
    """
    return init


glorot_normal = _named("glorot_normal", 1.0, "fan_avg", "normal",
                       "Glorot (Xavier) normal: ``w ~ N(0, 2 / (fan_in + fan_out))`` (Glorot & Bengio, 2010).")
glorot_uniform = _named("glorot_uniform", 1.0, "fan_avg", "uniform",
                        "Glorot (Xavier) uniform: ``w ~ U(-a, a)``, ``a = sqrt(6 / (fan_in + fan_out))`` "
                        "(variance ``2 / (fan_in + fan_out)``).")
he_normal = _named("he_normal", 2.0, "fan_in", "normal",
                   "He (Kaiming) normal: ``w ~ N(0, 2 / fan_in)`` (He et al., 2015), for ReLU layers.")
he_uniform = _named("he_uniform", 2.0, "fan_in", "uniform",
                    "He (Kaiming) uniform: ``w ~ U(-a, a)``, ``a = sqrt(6 / fan_in)`` (variance ``2 / fan_in``).")
lecun_normal = _named("lecun_normal", 1.0, "fan_in", "normal",
                      "LeCun normal: ``w ~ N(0, 1 / fan_in)``.")
lecun_uniform = _named("lecun_uniform", 1.0, "fan_in", "uniform",
                       "LeCun uniform: ``w ~ U(-a, a)``, ``a = sqrt(3 / fan_in)`` (variance ``1 / fan_in``).")

xavier_normal, xavier_uniform = glorot_normal, glorot_uniform
kaiming_normal, kaiming_uniform = he_normal, he_uniform
