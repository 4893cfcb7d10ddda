"""Layers as pairs of pure functions: ``*_init(key, ...) -> params`` (a pytree
of arrays) and ``apply(params, x)``, plus inverted dropout.

A dense layer's params are ``{"w": (n_in, n_out), "b": (n_out,)}`` and it
computes ``y = x @ w + b`` on a batch ``x`` of shape ``(..., n_in)``; an MLP's
params are the list of its dense layers' params. Everything traces, so a
whole training step compiles with ``fg.jit``.
"""
from __future__ import annotations

import numbers
from typing import Callable, Sequence

import numpy as np

from .. import numpy as fnp
from ..errors import InputError, ShapeError
from ._common import as_float, check_number, describe
from .activations import relu
from .initializers import _float_dtype, he_normal, zeros

__all__ = ["dense_init", "dense", "mlp_init", "mlp_apply", "dropout"]


def _random():
    from .. import random  # written alongside; imported when first used
    return random


def _positive_int(fn: str, name: str, n) -> int:
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 1:
        raise InputError(f"nn.{fn}: {name} must be a positive int, got {n!r}")
    return int(n)


def dense_init(key, n_in: int, n_out: int, w_init: Callable = he_normal, b_init: Callable = zeros,
               dtype=np.float64) -> dict:
    """Parameters of a dense (fully connected) layer ``y = x @ w + b``:

        {"w": w_init(key_w, (n_in, n_out), dtype), "b": b_init(key_b, (n_out,), dtype)}

    Args:
      key: a key from ``fg.random.key(seed)``; split here for ``w`` and ``b``.
      n_in: number of inputs (features of ``x``).
      n_out: number of outputs (units).
      w_init: the weights' initializer, ``init(key, shape, dtype)``
        (:func:`~funcgrad.nn.he_normal` by default, for ReLU layers; use
        :func:`~funcgrad.nn.glorot_normal` for tanh/sigmoid).
      b_init: the biases' initializer (zeros by default).
      dtype: float32 or float64 (the default).
    """
    n_in = _positive_int("dense_init", "n_in", n_in)
    n_out = _positive_int("dense_init", "n_out", n_out)
    dtype = _float_dtype("dense_init", dtype)
    k_w, k_b = _random().split(key, 2)
    return {"w": fnp.asarray(w_init(k_w, (n_in, n_out), dtype)), "b": fnp.asarray(b_init(k_b, (n_out,), dtype))}


def dense(params, x):
    """A dense layer: ``y = x @ w + b``.

    Args:
      params: ``{"w": (n_in, n_out), "b": (n_out,)}`` (from :func:`dense_init`).
      x: inputs of shape ``(..., n_in)``: a batch of examples in rows.

    Returns:
      ``(..., n_out)`` outputs (pre-activations).
    """
    return _dense(params, x, "nn.dense", "x")


def _dense(params, x, where: str, x_name: str):
    """``x @ w + b`` after checking the shapes; errors begin with ``where``
    (``"nn.dense"``, or ``"nn.mlp_apply: layer 1 (params[1])"``) and call the
    input ``x_name``."""
    try:
        w, b = params["w"], params["b"]
    except (TypeError, KeyError, IndexError):
        raise InputError(f"{where}: params must be a dict with 'w' and 'b' (from nn.dense_init), "
                         f"got {type(params).__name__}") from None
    x = fnp.asarray(x)
    w_shape, b_shape = tuple(fnp.shape(w)), tuple(fnp.shape(b))
    if len(w_shape) != 2 or b_shape != w_shape[1:]:
        raise ShapeError(f"{where}: expected w of shape (n_in, n_out) and b of shape (n_out,), got "
                         f"w {describe(w)} and b {describe(b)}")
    if x.ndim < 1 or x.shape[-1] != w_shape[0]:
        raise ShapeError(f"{where}: input features do not match the layer: {x_name} {describe(x)} @ "
                         f"w {describe(w)} ({x_name}.shape[-1] must be n_in = {w_shape[0]})")
    return x @ w + b


def mlp_init(key, sizes: Sequence[int], w_init: Callable = he_normal, b_init: Callable = zeros,
             dtype=np.float64) -> list:
    """Parameters of a multi-layer perceptron with layer widths ``sizes``:
    ``sizes = [n_0, n_1, ..., n_L]`` gives ``L`` dense layers, layer ``l``
    mapping ``n_{l-1}`` inputs to ``n_l`` outputs.

    Args:
      key: a key from ``fg.random.key(seed)`` (split into one key per layer).
      sizes: input size, hidden widths and output size (at least two ints).
      w_init: the weights' initializer: :func:`~funcgrad.nn.he_normal` (the
        default) for ReLU networks, :func:`~funcgrad.nn.glorot_normal` for tanh.
      b_init: the biases' initializer (zeros by default).
      dtype: float32 or float64 (the default).

    Returns:
      ``[{"w": (n_0, n_1), "b": (n_1,)}, ..., {"w": (n_{L-1}, n_L), "b": (n_L,)}]``.
    """
    sizes = list(sizes)
    if len(sizes) < 2:
        raise InputError(f"nn.mlp_init: sizes must list the input size and at least one layer width, "
                         f"got {sizes!r}")
    sizes = [_positive_int("mlp_init", f"sizes[{i}]", n) for i, n in enumerate(sizes)]
    keys = _random().split(key, len(sizes) - 1)
    return [dense_init(keys[i], n_in, n_out, w_init=w_init, b_init=b_init, dtype=dtype)
            for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:]))]


def mlp_apply(params, x, activation: Callable = relu, final_activation: Callable | None = None,
              return_hidden: bool = False):
    """Apply an MLP: for each hidden layer ``l = 1 .. L-1``

        z_l = h_{l-1} @ w_l + b_l,    h_l = activation(z_l)       (h_0 = x)

    and for the last layer ``out = z_L = h_{L-1} @ w_L + b_L`` (or
    ``final_activation(z_L)``). The output is usually left linear: logits for
    :func:`~funcgrad.nn.cross_entropy`, predictions for :func:`~funcgrad.nn.mse`.

    Args:
      params: the list of dense params (from :func:`mlp_init`).
      x: inputs of shape ``(..., n_0)``.
      activation: the hidden layers' activation (:func:`~funcgrad.nn.relu`).
      final_activation: applied to the last layer's output; None (default) for none.
      return_hidden: also return the hidden layers' pre-activations
        ``[z_1, ..., z_{L-1}]``, for diagnostics such as
        :func:`~funcgrad.nn.dead_relu_fraction`.

    Returns:
      ``out``, or ``(out, [z_1, ..., z_{L-1}])`` with ``return_hidden=True``.

    Raises:
      ShapeError: a layer's input width is not its ``w.shape[0]``; the message
        names the layer (``layer 1 (params[1])``), its input (``x``, or ``h1``
        the output of layer 0) and both shapes.
    """
    if not isinstance(params, (list, tuple)) or not params:
        raise InputError(f"nn.mlp_apply: params must be a non-empty list of dense params (from nn.mlp_init), "
                         f"got {type(params).__name__}")
    h = x
    hidden = []
    last = len(params) - 1
    for i, layer in enumerate(params):
        # errors name the layer, and its input: x, or the previous layer's output
        z = _dense(layer, h, f"nn.mlp_apply: layer {i} (params[{i}]) of {len(params)}",
                   "x" if i == 0 else f"h{i}")
        if i == last:
            out = z
        else:
            hidden.append(z)
            h = activation(z)
    if final_activation is not None:
        out = final_activation(out)
    return (out, hidden) if return_hidden else out


def dropout(key, x, rate: float, training: bool = True):
    """Inverted dropout (Srivastava et al., 2014): each element is kept with
    probability ``1 - rate`` and scaled up, so that the expectation is unchanged:

        r ~ Bernoulli(1 - rate),    y = r * x / (1 - rate)

    The mask is ``r = funcgrad.random.bernoulli(key, 1 - rate, x.shape)``: the
    same key gives the same mask, on every backend. At evaluation
    (``training=False``), or with ``rate == 0``, it is the identity and ``key``
    is not used: no rescaling is needed at test time. The gradient is
    ``r / (1 - rate)``: dropped units get none.

    Args:
      key: a key from ``fg.random.key`` / ``fg.random.split``; use a fresh one
        for every step and every dropout layer.
      x: the activations, any shape (floating point; the dtype is kept).
      rate: the probability of dropping an element, a number in ``[0, 1)``.
      training: a Python bool; False makes this the identity.
    """
    rate = check_number("dropout", "rate", rate, lo=0.0, hi=1.0, hi_open=True)
    if not isinstance(training, (bool, np.bool_)):
        raise InputError(f"nn.dropout: training must be a Python bool (it decides the program's structure), "
                         f"got {type(training).__name__}")
    if not training or rate == 0.0:
        return x
    x = as_float(x)
    keep = _random().bernoulli(key, 1.0 - rate, tuple(x.shape))
    return fnp.where(keep, x / (1.0 - rate), 0)
