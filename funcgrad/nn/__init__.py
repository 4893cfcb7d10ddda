"""``funcgrad.nn``: neural-network building blocks as pure functions over pytrees.

    import funcgrad as fg
    from funcgrad import nn

    params = nn.mlp_init(fg.random.key(0), [784, 100, 10])       # list of {"w", "b"}
    def loss(params, x, y):
        return nn.cross_entropy(nn.mlp_apply(params, x), y) + nn.l2_penalty(params, 1e-4)
    g = fg.grad(loss)(params, x, y)

- activations (as ``jax.nn``): :func:`relu`, :func:`leaky_relu`, :func:`elu`,
  :func:`gelu`, :func:`sigmoid`, :func:`tanh`, :func:`softplus`, :func:`silu`,
  :func:`softmax`, :func:`log_softmax`, :func:`logsumexp`; stable over the
  whole float32/float64 range, values and gradients;
- losses: :func:`mse`, :func:`cross_entropy`, :func:`nll`,
  :func:`binary_cross_entropy_with_logits`, :func:`l2_penalty`;
- initializers (as ``jax.nn.initializers``): :func:`zeros`, :func:`ones`,
  :func:`glorot_normal`, :func:`glorot_uniform`, :func:`he_normal`,
  :func:`he_uniform`, :func:`lecun_normal`, :func:`lecun_uniform`,
  :func:`variance_scaling` (``init(key, shape, dtype)``; fans of a
  ``(n_in, n_out)`` weight: ``shape[0]``, ``shape[1]``);
- :func:`dropout` (inverted);
- layers: :func:`dense_init`, :func:`dense`, :func:`mlp_init`, :func:`mlp_apply`;
- diagnostics: :func:`layer_grad_norms`, :func:`dead_relu_fraction`, :func:`global_norm`.
"""
from .activations import (elu, gelu, leaky_relu, log_softmax, logsumexp, relu, sigmoid, silu, softmax,
                          softplus, swish, tanh)
from .diagnostics import dead_relu_fraction, global_norm, layer_grad_norms
from .initializers import (compute_fans, constant, glorot_normal, glorot_uniform, he_normal, he_uniform,
                           kaiming_normal, kaiming_uniform, lecun_normal, lecun_uniform, ones,
                           variance_scaling, xavier_normal, xavier_uniform, zeros)
from .layers import dense, dense_init, dropout, mlp_apply, mlp_init
from .losses import (binary_cross_entropy_with_logits, cross_entropy, l2_penalty, mse, nll,
                     softmax_cross_entropy)

__all__ = [
    "relu", "leaky_relu", "elu", "gelu", "sigmoid", "tanh", "softplus", "silu", "swish", "softmax",
    "log_softmax", "logsumexp",
    "mse", "cross_entropy", "softmax_cross_entropy", "nll", "binary_cross_entropy_with_logits", "l2_penalty",
    "zeros", "ones", "constant", "variance_scaling", "compute_fans", "glorot_normal", "glorot_uniform",
    "he_normal", "he_uniform", "lecun_normal", "lecun_uniform", "xavier_normal", "xavier_uniform",
    "kaiming_normal", "kaiming_uniform",
    "dropout", "dense_init", "dense", "mlp_init", "mlp_apply",
    "layer_grad_norms", "dead_relu_fraction", "global_norm",
]
