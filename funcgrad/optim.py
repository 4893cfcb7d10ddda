"""Optimizers as pure functions, in the style of Optax.

A :class:`GradientTransformation` is a pair of pure functions::

    state = tx.init(params)
    updates, state = tx.update(grads, state, params)
    params = apply_updates(params, updates)          # p + u, leaf by leaf

States are NamedTuples of arrays (and pytrees of arrays), so a whole training
step, optimizer included, can be traced and compiled by :func:`funcgrad.jit`.
Nothing is mutated: every ``update`` returns a new state.

Small transformations are composed with :func:`chain`; the named optimizers
(:func:`sgd`, :func:`rmsprop`, :func:`adagrad`, :func:`adam`, :func:`adamw`)
are such chains ending in a scaling by ``-learning_rate``. A learning rate is
a number or a schedule ``step -> lr`` (see :func:`exponential_decay` and the
others); schedules are written with ``funcgrad.numpy`` so they accept a traced
step count.

Dtypes are kept: float32 params and gradients give float32 updates and
moments (Python-float hyperparameters are weakly typed; array-valued factors
such as bias corrections and scheduled learning rates are cast to each leaf's
dtype).

:class:`TrainState` bundles params, optimizer state and step count, for the
convenience ``state = train_state_step(tx, state, grads)``.
"""
from __future__ import annotations

import math
import numbers
from typing import Any, Callable, NamedTuple

import numpy as np

from . import numpy as fnp
from . import tree
from .errors import InputError

__all__ = [
    "GradientTransformation", "EmptyState", "ScaleByScheduleState", "TraceState", "ScaleByRmsState",
    "ScaleByAdagradState", "ScaleByAdamState", "TrainState",
    "scale", "scale_by_schedule", "scale_by_learning_rate", "trace", "scale_by_rms", "scale_by_adagrad",
    "scale_by_adam", "add_decayed_weights", "clip", "clip_by_global_norm", "chain",
    "sgd", "rmsprop", "adagrad", "adam", "adamw",
    "constant_schedule", "step_decay", "exponential_decay", "cosine_decay", "warmup",
    "apply_updates", "global_norm", "train_state_init", "train_state_step",
]


class GradientTransformation(NamedTuple):
    """``init(params) -> state`` and ``update(grads, state, params=None) -> (updates, state)``."""

    init: Callable
    update: Callable


class EmptyState(NamedTuple):
    """The state of a stateless transformation."""


class ScaleByScheduleState(NamedTuple):
    count: Any  # int32 scalar: updates done so far


class TraceState(NamedTuple):
    trace: Any  # pytree like params: the momentum buffer v


class ScaleByRmsState(NamedTuple):
    nu: Any  # pytree like params: moving average of g**2


class ScaleByAdagradState(NamedTuple):
    sum_of_squares: Any  # pytree like params: running sum of g**2


class ScaleByAdamState(NamedTuple):
    count: Any  # int32 scalar
    mu: Any     # first moment m
    nu: Any     # second moment v


# ---------------------------------------------------------------- helpers

def _dtype_of(x):
    return x.dtype if hasattr(x, "dtype") else np.asarray(x).dtype


def _cast_like(value, ref):
    """``value`` (number, array or traced scalar) as an array of ``ref``'s dtype."""
    return fnp.asarray(value, dtype=_dtype_of(ref))


def _is_number(x) -> bool:
    return isinstance(x, numbers.Real) and not isinstance(x, bool)


def _check_number(opt: str, name: str, value, *, positive=False, below_one=False):
    """Validate a hyperparameter that must be a finite number (>= 0, or > 0,
    or in [0, 1)); returns it as a Python float (weakly typed in fnp)."""
    if not _is_number(value) and not (isinstance(value, np.ndarray) and value.ndim == 0
                                      and value.dtype.kind in "fiu"):
        raise InputError(f"optim.{opt}: {name} must be a number, got {value!r}")
    v = float(value)
    bad = (math.isnan(v) or math.isinf(v) or v < 0 or (positive and v == 0) or (below_one and v >= 1))
    if bad:
        need = "in [0, 1)" if below_one else ("a finite number > 0" if positive else "a finite number >= 0")
        raise InputError(f"optim.{opt}: {name} must be {need}, got {value!r}")
    return v


def _check_lr(opt: str, learning_rate):
    """A learning rate is a schedule (callable) or a finite number >= 0."""
    if callable(learning_rate):
        return learning_rate
    return _check_number(opt, "learning_rate", learning_rate)


def _check_grads(opt: str, grads, ref, ref_name: str):
    tree.assert_same_structure(grads, ref, what=f"optim.{opt}: grads vs {ref_name}")


def _zeros_like_tree(params):
    return tree.map(lambda p: fnp.zeros_like(p), params)


def _new_count():
    return np.zeros((), dtype=np.int32)


# ---------------------------------------------------------------- transformations

def scale(step_size) -> GradientTransformation:
    """``u = step_size * g``. Stateless."""
    if not _is_number(step_size):
        raise InputError(f"optim.scale: step_size must be a number, got {step_size!r}")
    step_size = float(step_size)

    def init(params):
        return EmptyState()

    def update(grads, state, params=None):
        return tree.map(lambda g: g * step_size, grads), state

    return GradientTransformation(init, update)


def scale_by_schedule(schedule: Callable) -> GradientTransformation:
    """``u_t = schedule(t) * g_t`` where ``t = 0, 1, 2...`` counts the updates
    done before this one. State: ``ScaleByScheduleState(count)``."""
    if not callable(schedule):
        raise InputError(f"optim.scale_by_schedule: schedule must be callable step -> factor, got {schedule!r}")

    def init(params):
        return ScaleByScheduleState(count=_new_count())

    def update(grads, state, params=None):
        factor = schedule(state.count)
        updates = tree.map(lambda g: g * _cast_like(factor, g), grads)
        return updates, ScaleByScheduleState(count=state.count + 1)

    return GradientTransformation(init, update)


def scale_by_learning_rate(learning_rate, *, flip_sign=True, name="scale_by_learning_rate") -> GradientTransformation:
    """``u = -eta * g`` with ``eta`` a number or a schedule ``step -> eta``."""
    learning_rate = _check_lr(name, learning_rate)
    sign = -1.0 if flip_sign else 1.0
    if callable(learning_rate):
        return scale_by_schedule(lambda count: sign * learning_rate(count))
    return scale(sign * learning_rate)


def trace(decay, nesterov: bool = False) -> GradientTransformation:
    """Momentum (heavy ball), from the lecture notes:

        v_{t+1} = gamma * v_t + g_t,      u_t = v_{t+1}

    With ``nesterov=True`` (Nesterov, 1983; in the form of Sutskever et al.,
    2013, "On the importance of initialization and momentum in deep learning",
    as in PyTorch and Optax):

        v_{t+1} = gamma * v_t + g_t,      u_t = g_t + gamma * v_{t+1}

    (The notes write ``g_t + v_{t+1}``; the factor ``gamma`` makes
    ``gamma = 0`` reduce to plain SGD, and is what PyTorch and Optax use.)
    Scale by ``-eta`` afterwards for ``w_{t+1} = w_t - eta * (...)``.
    State: ``TraceState(trace=v)``, zeros at first.
    """
    decay = _check_number("trace", "decay", decay)

    def init(params):
        return TraceState(trace=_zeros_like_tree(params))

    def update(grads, state, params=None):
        _check_grads("trace", grads, state.trace, "momentum state")
        new_v = tree.map(lambda g, v: decay * v + g, grads, state.trace)
        if nesterov:
            updates = tree.map(lambda g, v: g + decay * v, grads, new_v)
        else:
            updates = new_v
        return updates, TraceState(trace=new_v)

    return GradientTransformation(init, update)


def scale_by_rms(decay: float = 0.9, eps: float = 1e-8) -> GradientTransformation:
    """RMSprop's scaling (Tieleman & Hinton, 2012, Coursera "Neural Networks
    for Machine Learning", lecture 6.5):

        v_{t+1} = alpha * v_t + (1 - alpha) * g_t**2
        u_t = g_t / (sqrt(v_{t+1}) + eps)

    (``eps`` outside the square root, as in the notes and in PyTorch.)
    State: ``ScaleByRmsState(nu=v)``, zeros at first.
    """
    decay = _check_number("scale_by_rms", "decay", decay, below_one=True)
    eps = _check_number("scale_by_rms", "eps", eps)

    def init(params):
        return ScaleByRmsState(nu=_zeros_like_tree(params))

    def update(grads, state, params=None):
        _check_grads("scale_by_rms", grads, state.nu, "RMS state")
        nu = tree.map(lambda g, v: decay * v + (1.0 - decay) * (g * g), grads, state.nu)
        updates = tree.map(lambda g, v: g / (fnp.sqrt(v) + eps), grads, nu)
        return updates, ScaleByRmsState(nu=nu)

    return GradientTransformation(init, update)


def scale_by_adagrad(eps: float = 1e-10) -> GradientTransformation:
    """Adagrad's scaling (Duchi, Hazan & Singer, 2011, "Adaptive Subgradient
    Methods for Online Learning and Stochastic Optimization", JMLR 12):

        s_{t+1} = s_t + g_t**2
        u_t = g_t / (sqrt(s_{t+1}) + eps)

    State: ``ScaleByAdagradState(sum_of_squares=s)``, zeros at first.
    """
    eps = _check_number("scale_by_adagrad", "eps", eps)

    def init(params):
        return ScaleByAdagradState(sum_of_squares=_zeros_like_tree(params))

    def update(grads, state, params=None):
        _check_grads("scale_by_adagrad", grads, state.sum_of_squares, "Adagrad state")
        s = tree.map(lambda g, a: a + g * g, grads, state.sum_of_squares)
        updates = tree.map(lambda g, a: g / (fnp.sqrt(a) + eps), grads, s)
        return updates, ScaleByAdagradState(sum_of_squares=s)

    return GradientTransformation(init, update)


def scale_by_adam(b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8) -> GradientTransformation:
    """Adam's scaling with bias correction (Kingma & Ba, 2015, "Adam: A Method
    for Stochastic Optimization", ICLR, arXiv:1412.6980). With ``t`` the
    number of this update (1 at the first):

        m_t = b1 * m_{t-1} + (1 - b1) * g_t
        v_t = b2 * v_{t-1} + (1 - b2) * g_t**2
        m_hat = m_t / (1 - b1**t),    v_hat = v_t / (1 - b2**t)
        u_t = m_hat / (sqrt(v_hat) + eps)

    State: ``ScaleByAdamState(count, mu=m, nu=v)``, zeros at first.
    """
    b1 = _check_number("scale_by_adam", "b1", b1, below_one=True)
    b2 = _check_number("scale_by_adam", "b2", b2, below_one=True)
    eps = _check_number("scale_by_adam", "eps", eps)

    def init(params):
        return ScaleByAdamState(count=_new_count(), mu=_zeros_like_tree(params), nu=_zeros_like_tree(params))

    def update(grads, state, params=None):
        _check_grads("scale_by_adam", grads, state.mu, "Adam state")
        mu = tree.map(lambda g, m: b1 * m + (1.0 - b1) * g, grads, state.mu)
        nu = tree.map(lambda g, v: b2 * v + (1.0 - b2) * (g * g), grads, state.nu)
        count = state.count + 1
        t = fnp.asarray(count, dtype=np.float64)
        bc1 = 1.0 - fnp.power(b1, t)
        bc2 = 1.0 - fnp.power(b2, t)
        updates = tree.map(
            lambda m, v: (m / _cast_like(bc1, m)) / (fnp.sqrt(v / _cast_like(bc2, v)) + eps), mu, nu)
        return updates, ScaleByAdamState(count=count, mu=mu, nu=nu)

    return GradientTransformation(init, update)


def add_decayed_weights(weight_decay: float = 0.0) -> GradientTransformation:
    """``u = g + alpha * w`` (needs ``params``). Followed by a scaling by
    ``-eta`` it gives the notes' weight decay ``w <- (1 - eta*alpha) w - eta g``;
    placed after an adaptive scaling it is the decoupled weight decay of
    AdamW (Loshchilov & Hutter, 2019). Stateless."""
    weight_decay = _check_number("add_decayed_weights", "weight_decay", weight_decay)

    def init(params):
        return EmptyState()

    def update(grads, state, params=None):
        if params is None:
            raise InputError("optim.add_decayed_weights: update needs params (update(grads, state, params))")
        _check_grads("add_decayed_weights", grads, params, "params")
        return tree.map(lambda g, p: g + weight_decay * p, grads, params), state

    return GradientTransformation(init, update)


def clip(max_value: float) -> GradientTransformation:
    """Clipping by value: ``u = clip(g, -max_value, max_value)`` elementwise. Stateless."""
    max_value = _check_number("clip", "max_value", max_value)

    def init(params):
        return EmptyState()

    def update(grads, state, params=None):
        return tree.map(lambda g: fnp.clip(g, -max_value, max_value), grads), state

    return GradientTransformation(init, update)


def global_norm(updates):
    """``sqrt(sum over all leaves of sum(x**2))``."""
    leaves = tree.leaves(updates)
    if not leaves:
        return fnp.asarray(0.0)
    total = fnp.sum(leaves[0] * leaves[0])
    for x in leaves[1:]:
        total = total + fnp.sum(x * x)
    return fnp.sqrt(total)


def clip_by_global_norm(max_norm: float) -> GradientTransformation:
    """Clipping by norm, over all leaves together:

        n = ||g||_2 (global norm),   u = g * max_norm / max(n, max_norm)

    i.e. ``g`` unchanged when ``n <= max_norm``, else rescaled to norm
    ``max_norm``. Stateless."""
    max_norm = _check_number("clip_by_global_norm", "max_norm", max_norm, positive=True)

    def init(params):
        return EmptyState()

    def update(grads, state, params=None):
        n = global_norm(grads)
        factor = max_norm / fnp.maximum(n, max_norm)
        return tree.map(lambda g: g * _cast_like(factor, g), grads), state

    return GradientTransformation(init, update)


def chain(*transforms: GradientTransformation) -> GradientTransformation:
    """Apply ``transforms`` in order, each to the previous one's updates.
    State: a tuple of the transforms' states."""
    for i, t in enumerate(transforms):
        if not isinstance(t, GradientTransformation):
            raise InputError(f"optim.chain: argument {i} is not a GradientTransformation, got {type(t).__name__}")

    def init(params):
        return tuple(t.init(params) for t in transforms)

    def update(grads, state, params=None):
        if not isinstance(state, tuple) or len(state) != len(transforms):
            raise InputError(f"optim.chain: expected a state of {len(transforms)} transformation states")
        if params is not None:
            _check_grads("chain", grads, params, "params")
        new_states = []
        for t, s in zip(transforms, state):
            grads, s = t.update(grads, s, params)
            new_states.append(s)
        return grads, tuple(new_states)

    return GradientTransformation(init, update)


# ---------------------------------------------------------------- optimizers

def sgd(learning_rate, momentum: float | None = None, nesterov: bool = False) -> GradientTransformation:
    """Stochastic gradient descent: ``w_{t+1} = w_t - eta * g_t``; with
    ``momentum=gamma`` the update is ``-eta * v_{t+1}`` (or Nesterov's
    ``-eta * (g_t + gamma * v_{t+1})``), see :func:`trace`."""
    learning_rate = _check_lr("sgd", learning_rate)
    parts = []
    if momentum is not None:
        _check_number("sgd", "momentum", momentum)
        parts.append(trace(momentum, nesterov=nesterov))
    elif nesterov:
        raise InputError("optim.sgd: nesterov=True needs a momentum")
    parts.append(scale_by_learning_rate(learning_rate, name="sgd"))
    return chain(*parts)


def rmsprop(learning_rate, decay: float = 0.9, eps: float = 1e-8) -> GradientTransformation:
    """RMSprop (Tieleman & Hinton, 2012):
    ``w_{t+1} = w_t - eta / (sqrt(v_{t+1}) + eps) * g_t``, see :func:`scale_by_rms`."""
    learning_rate = _check_lr("rmsprop", learning_rate)
    return chain(scale_by_rms(decay, eps), scale_by_learning_rate(learning_rate, name="rmsprop"))


def adagrad(learning_rate, eps: float = 1e-10) -> GradientTransformation:
    """Adagrad (Duchi et al., 2011):
    ``w_{t+1} = w_t - eta / (sqrt(s_{t+1}) + eps) * g_t``, see :func:`scale_by_adagrad`."""
    learning_rate = _check_lr("adagrad", learning_rate)
    return chain(scale_by_adagrad(eps), scale_by_learning_rate(learning_rate, name="adagrad"))


def adam(learning_rate, b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8) -> GradientTransformation:
    """Adam (Kingma & Ba, 2015, arXiv:1412.6980):
    ``w_t = w_{t-1} - eta * m_hat / (sqrt(v_hat) + eps)``, see :func:`scale_by_adam`."""
    learning_rate = _check_lr("adam", learning_rate)
    return chain(scale_by_adam(b1, b2, eps), scale_by_learning_rate(learning_rate, name="adam"))


def adamw(learning_rate, b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8,
          weight_decay: float = 1e-4) -> GradientTransformation:
    """AdamW, Adam with decoupled weight decay (Loshchilov & Hutter, 2019,
    "Decoupled Weight Decay Regularization", ICLR, arXiv:1711.05101):

        w_t = w_{t-1} - eta * (m_hat / (sqrt(v_hat) + eps) + alpha * w_{t-1})
            = (1 - eta * alpha) * w_{t-1} - eta * m_hat / (sqrt(v_hat) + eps)

    The decay is not passed through Adam's moments (unlike adding
    ``alpha * w`` to the gradient)."""
    learning_rate = _check_lr("adamw", learning_rate)
    weight_decay = _check_number("adamw", "weight_decay", weight_decay)
    return chain(scale_by_adam(b1, b2, eps), add_decayed_weights(weight_decay),
                 scale_by_learning_rate(learning_rate, name="adamw"))


# ---------------------------------------------------------------- schedules
# Each takes a step count (int, NumPy array or traced value) and uses only
# funcgrad.numpy operations on it, so it can run inside fg.jit.

def _step_float(step):
    return fnp.asarray(step, dtype=np.float64)


def constant_schedule(value) -> Callable:
    """``lr(t) = value``."""
    value = _check_number("constant_schedule", "value", value)

    def schedule(step):
        return fnp.asarray(value + 0.0 * _step_float(step))

    return schedule


def step_decay(init_value, decay_rate, step_size) -> Callable:
    """``lr(t) = init_value * decay_rate ** floor(t / step_size)``."""
    init_value = _check_number("step_decay", "init_value", init_value)
    decay_rate = _check_number("step_decay", "decay_rate", decay_rate)
    step_size = _check_number("step_decay", "step_size", step_size, positive=True)

    def schedule(step):
        k = fnp.floor(_step_float(step) / step_size)
        return init_value * fnp.power(decay_rate, k)

    return schedule


def exponential_decay(init_value, decay_rate, transition_steps) -> Callable:
    """``lr(t) = init_value * decay_rate ** (t / transition_steps)``."""
    init_value = _check_number("exponential_decay", "init_value", init_value)
    decay_rate = _check_number("exponential_decay", "decay_rate", decay_rate)
    transition_steps = _check_number("exponential_decay", "transition_steps", transition_steps, positive=True)

    def schedule(step):
        return init_value * fnp.power(decay_rate, _step_float(step) / transition_steps)

    return schedule


def cosine_decay(init_value, decay_steps, alpha: float = 0.0) -> Callable:
    """Cosine decay (Loshchilov & Hutter, 2017, SGDR, arXiv:1608.03983):

        s = min(t, decay_steps) / decay_steps
        lr(t) = init_value * ((1 - alpha) * 0.5 * (1 + cos(pi * s)) + alpha)

    ``alpha`` is the final value as a fraction of ``init_value``."""
    init_value = _check_number("cosine_decay", "init_value", init_value)
    decay_steps = _check_number("cosine_decay", "decay_steps", decay_steps, positive=True)
    alpha = _check_number("cosine_decay", "alpha", alpha)

    def schedule(step):
        s = fnp.minimum(_step_float(step), decay_steps) / decay_steps
        return init_value * ((1.0 - alpha) * 0.5 * (1.0 + fnp.cos(math.pi * s)) + alpha)

    return schedule


def warmup(init_value, peak_value, warmup_steps, then: Callable | None = None) -> Callable:
    """Linear warmup from ``init_value`` to ``peak_value`` over ``warmup_steps``:

        lr(t) = init_value + (peak_value - init_value) * t / warmup_steps    for t < warmup_steps
        lr(t) = then(t - warmup_steps)  (or peak_value if then is None)      otherwise
    """
    init_value = _check_number("warmup", "init_value", init_value)
    peak_value = _check_number("warmup", "peak_value", peak_value)
    warmup_steps = _check_number("warmup", "warmup_steps", warmup_steps, positive=True)

    def schedule(step):
        t = _step_float(step)
        ramp = init_value + (peak_value - init_value) * fnp.minimum(t, warmup_steps) / warmup_steps
        if then is None:
            after = peak_value + 0.0 * t
        else:
            after = _step_float(then(fnp.maximum(t - warmup_steps, 0.0)))
        return fnp.where(t < warmup_steps, ramp, after)

    return schedule


# ---------------------------------------------------------------- applying updates

def apply_updates(params, updates):
    """``p + u`` leaf by leaf, each result cast back to its param's dtype."""
    tree.assert_same_structure(updates, params, what="optim.apply_updates: updates vs params")
    return tree.map(lambda p, u: fnp.asarray(p + u, dtype=_dtype_of(p)), params, updates)


class TrainState(NamedTuple):
    """Params, optimizer state and number of steps done (an int32 scalar)."""

    params: Any
    opt_state: Any
    step: Any


def train_state_init(tx: GradientTransformation, params) -> TrainState:
    """``TrainState(params, tx.init(params), step=0)``."""
    return TrainState(params=params, opt_state=tx.init(params), step=_new_count())


def train_state_step(tx: GradientTransformation, state: TrainState, grads) -> TrainState:
    """One optimizer step: the new ``TrainState`` after applying ``grads``."""
    tree.assert_same_structure(grads, state.params, what="optim.train_state_step: grads vs params")
    updates, opt_state = tx.update(grads, state.opt_state, state.params)
    params = apply_updates(state.params, updates)
    return TrainState(params=params, opt_state=opt_state, step=state.step + 1)
