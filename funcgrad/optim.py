"""Optimizers as pure functions, in the style of Optax.

Two interfaces over the same objects. Every optimizer (:func:`sgd`,
:func:`rmsprop`, :func:`adagrad`, :func:`adam`, :func:`adamw`, or any
:func:`chain` of transformations) is a :class:`GradientTransformation` with

1. the whole-state interface, one pure function per training step::

       opt = fg.optim.adam(1e-3)
       state = opt.init_state(params)      # TrainState(params, opt_state, step)
       state = opt.step(state, grads)      # new params, moments and step count

   The state is a pytree of NamedTuples and arrays, holding the parameters,
   the step count (an int32 scalar) and the optimizer's moments, so a whole
   step compiles to one program, ``fg.jit(opt.step)`` or
   ``fg.jit(lambda s, x, y: opt.step(s, fg.grad(loss)(s.params, x, y)))``,
   and a state is saved and restored by its leaves (:func:`save_state`,
   :func:`load_state`, or ``fg.tree.flatten`` and ``treedef.unflatten``);

2. Optax's interface, for composing and for code written for Optax::

       opt_state = opt.init(params)
       updates, opt_state = opt.update(grads, opt_state, params)
       params = apply_updates(params, updates)          # p + u, leaf by leaf

Nothing is mutated: every ``step`` and ``update`` returns a new state.

Small transformations are composed with :func:`chain`; the named optimizers
are such chains ending in a scaling by ``-learning_rate``
(:func:`scale_by_learning_rate`). A learning rate is a number or a schedule
``step -> lr`` (:func:`constant_schedule`, :func:`step_decay`,
:func:`exponential_decay`, :func:`cosine_decay`, :func:`warmup`); schedules
are written with ``funcgrad.numpy`` so they accept a traced step count.

The update rules are those of the lecture notes (lecture 001), with the
papers named in each docstring. Where they differ from Optax's defaults:

- ``sgd(..., nesterov=True)`` is the notes' Nesterov momentum,
  ``u = g + v_{t+1}``; ``nesterov_form="sutskever"`` gives Optax's and
  PyTorch's ``u = g + gamma * v_{t+1}`` (see :func:`trace`);
- RMSprop and Adagrad add ``eps`` outside the square root,
  ``g / (sqrt(v) + eps)`` as in the notes and PyTorch; Optax adds it inside
  (``optax.rmsprop(..., eps_in_sqrt=False)`` is ours); Adagrad's accumulator
  starts at ``initial_accumulator_value=0`` (Optax: 0.1);
- ``weight_decay`` of :func:`sgd`, :func:`rmsprop`, :func:`adagrad` and
  :func:`adam` is L2 regularisation, ``g + alpha * w`` fed to the rule
  (with plain SGD: the notes' ``w <- (1 - eta*alpha) w - eta g``);
  :func:`adamw`'s is decoupled, as in Optax.

Bad input raises :class:`funcgrad.InputError` (a hyperparameter that is
negative, NaN or infinite, naming the optimizer and the value),
:class:`funcgrad.TreeError` (gradients whose pytree structure differs from
the parameters' or the moments', naming the first path where they differ) or
:class:`funcgrad.ShapeError` (a gradient leaf of another shape, naming the
path and both shapes). A schedule's values can only be checked when they are
concrete: in an eager ``step`` a negative or non-finite scheduled learning
rate raises ``InputError``; inside ``fg.jit`` the value is traced and is not
checked.

Dtypes are kept: float32 params and gradients give float32 updates and
moments (Python-float hyperparameters are weakly typed; array-valued factors
such as bias corrections and scheduled learning rates are cast to each leaf's
dtype).
"""

from __future__ import annotations

import math
import numbers
from typing import Any, Callable, NamedTuple

import numpy as np

from . import numpy as fnp
from . import tree
from .errors import InputError, ShapeError, TreeError

__all__ = [
    "GradientTransformation", "EmptyState", "ScaleByScheduleState", "TraceState", "ScaleByRmsState",
    "ScaleByAdagradState", "ScaleByAdamState", "TrainState",
    "scale", "scale_by_schedule", "scale_by_learning_rate", "trace", "scale_by_rms", "scale_by_adagrad",
    "scale_by_adam", "add_decayed_weights", "clip", "clip_by_global_norm", "chain",
    "sgd", "rmsprop", "adagrad", "adam", "adamw",
    "constant_schedule", "step_decay", "exponential_decay", "cosine_decay", "warmup",
    "apply_updates", "global_norm", "train_state_init", "train_state_step", "save_state", "load_state",
]


class TrainState(NamedTuple):
    """The whole state of an optimizer: parameters, the optimizer's own state
    (its moments, a pytree of NamedTuples) and the number of steps done (an
    int32 scalar)."""

    params: Any
    opt_state: Any
    step: Any


class GradientTransformation(NamedTuple):
    """An optimizer or a piece of one.

    Optax's interface (the two fields): ``init(params) -> opt_state`` and
    ``update(grads, opt_state, params=None) -> (updates, opt_state)``.

    The whole-state interface (methods): ``init_state(params) -> TrainState``
    and ``step(state, grads) -> TrainState``.

    ``name`` (optional) is used in error messages.
    """

    init: Callable
    update: Callable
    name: str = ""

    def init_state(self, params) -> TrainState:
        """``TrainState(params, self.init(params), step=0)``."""
        return TrainState(params=params, opt_state=self.init(params), step=_new_count())

    def step(self, state: TrainState, grads) -> TrainState:
        """One optimizer step: the new ``TrainState`` after applying ``grads``
        (a pytree like ``state.params``). Pure; ``fg.jit`` compiles it."""
        what = f"optim.{self.name or 'GradientTransformation'}.step"
        if not isinstance(state, TrainState):
            raise InputError(f"{what}: state must be the TrainState made by init_state(params) "
                             f"(or a previous step), got {type(state).__name__}")
        _check_match(what, grads, "grads", state.params, "params")
        updates, opt_state = self.update(grads, state.opt_state, state.params)
        params = apply_updates(state.params, updates)
        return TrainState(params=params, opt_state=opt_state, step=state.step + 1)


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


def _shape_of(x):
    shape = getattr(x, "shape", None)
    return tuple(shape) if shape is not None else np.shape(x)


def _cast_like(value, ref):
    """``value`` (number, array or traced scalar) as an array of ``ref``'s dtype."""
    return fnp.asarray(value, dtype=_dtype_of(ref))


def _is_number(x) -> bool:
    return isinstance(x, numbers.Real) and not isinstance(x, bool)


def _is_concrete(x) -> bool:
    return _is_number(x) or isinstance(x, (np.ndarray, np.generic))


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
    """A learning rate is a schedule (callable), a finite number >= 0, or a
    traced scalar (an argument of a compiled function, as Optax accepts a
    traced ``jnp`` scalar: one compiled step serves every rate)."""
    if callable(learning_rate):
        return learning_rate
    from .core.trace import Tracer

    if isinstance(learning_rate, Tracer):
        if learning_rate.ndim != 0 or np.dtype(learning_rate.dtype).kind not in "fiu":
            raise InputError(f"optim.{opt}: a traced learning_rate must be a real scalar, got "
                             f"{learning_rate.aval}")
        return lambda count: learning_rate
    if not _is_number(learning_rate) and not isinstance(learning_rate, np.ndarray):
        raise InputError(f"optim.{opt}: learning_rate must be a number or a schedule step -> lr, "
                         f"got {learning_rate!r}")
    return _check_number(opt, "learning_rate", learning_rate)


def _describe(x) -> str:
    kind = tree.structure(x, is_leaf=lambda y: y is not x).node_type
    if kind is None:
        if hasattr(x, "shape") and hasattr(x, "dtype"):
            return f"an array {np.dtype(x.dtype).name}{list(x.shape)}"
        return f"a leaf ({type(x).__name__})"
    if x is None:
        return "None"
    return f"a {kind.__name__}"


def _where(path) -> str:
    return tree.keystr(path) or "the root"


def _difference(a, a_name, b, b_name, path=()):
    """A sentence naming the first pytree path where ``a`` and ``b`` differ
    in structure, or None."""
    pa, ta = tree.flatten_with_path(a, is_leaf=lambda y: y is not a)   # one level: children as leaves
    pb, tb = tree.flatten_with_path(b, is_leaf=lambda y: y is not b)
    if ta.node_type is None and tb.node_type is None:
        return None
    if ta.node_type is not tb.node_type:
        return f"at {_where(path)}: {_describe(a)} in {a_name}, {_describe(b)} in {b_name}"
    keys_a = [p[-1] for p, _ in pa]
    keys_b = [p[-1] for p, _ in pb]
    if keys_a != keys_b:
        missing = [k for k in keys_b if k not in keys_a]
        extra = [k for k in keys_a if k not in keys_b]
        if missing:
            return f"{tree.keystr(path + (missing[0],))} is in {b_name} but not in {a_name}"
        if extra:
            return f"{tree.keystr(path + (extra[0],))} is in {a_name} but not in {b_name}"
        return f"at {_where(path)}: keys {keys_a} in {a_name}, {keys_b} in {b_name}"
    for (p, ca), (_, cb) in zip(pa, pb):
        d = _difference(ca, a_name, cb, b_name, path + (p[-1],))
        if d is not None:
            return d
    if ta != tb:
        return f"at {_where(path)}: {ta} in {a_name}, {tb} in {b_name}"
    return None


def _check_match(what: str, a, a_name: str, b, b_name: str):
    """Raise TreeError (naming the first pytree path where they differ) unless
    ``a`` and ``b`` have the same structure, and ShapeError (naming the path
    and both shapes) unless their leaves have the same shapes."""
    la, ta = tree.flatten(a)
    lb, tb = tree.flatten(b)
    if ta != tb:
        d = _difference(a, a_name, b, b_name) or f"{ta} vs {tb}"
        raise TreeError(f"{what}: the structure of {a_name} does not match {b_name}: {d}\n"
                        f"  {a_name}: {ta}\n  {b_name}: {tb}")
    for i, (x, y) in enumerate(zip(la, lb)):
        if _shape_of(x) != _shape_of(y):
            path = tree.flatten_with_path(a)[0][i][0]
            raise ShapeError(f"{what}: {a_name}{tree.keystr(path)} has shape {_shape_of(x)} but "
                             f"{b_name}{tree.keystr(path)} has shape {_shape_of(y)}")


def _check_state(opt: str, state, cls):
    if not isinstance(state, cls):
        raise InputError(f"optim.{opt}: expected a {cls.__name__} (from this transformation's init), "
                         f"got {type(state).__name__}")


def _zeros_like_tree(params):
    return tree.map(lambda p: fnp.zeros_like(p), params)


def _full_like_tree(params, value):
    return tree.map(lambda p: fnp.zeros_like(p) + value, params)


def _new_count():
    return np.zeros((), dtype=np.int32)


# ---------------------------------------------------------------- transformations

def scale(step_size) -> GradientTransformation:
    """``u = step_size * g``. Stateless."""
    if not _is_number(step_size) or not math.isfinite(step_size):
        raise InputError(f"optim.scale: step_size must be a finite number, got {step_size!r}")
    step_size = float(step_size)

    def init(params):
        return EmptyState()

    def update(grads, state, params=None):
        return tree.map(lambda g: g * step_size, grads), state

    return GradientTransformation(init, update, "scale")


def scale_by_schedule(schedule: Callable) -> GradientTransformation:
    """``u_t = schedule(t) * g_t`` where ``t = 0, 1, 2...`` counts the updates
    done before this one. State: ``ScaleByScheduleState(count)``."""
    if not callable(schedule):
        raise InputError(f"optim.scale_by_schedule: schedule must be callable step -> factor, got {schedule!r}")

    def init(params):
        return ScaleByScheduleState(count=_new_count())

    def update(grads, state, params=None):
        _check_state("scale_by_schedule", state, ScaleByScheduleState)
        factor = schedule(state.count)
        updates = tree.map(lambda g: g * _cast_like(factor, g), grads)
        return updates, ScaleByScheduleState(count=state.count + 1)

    return GradientTransformation(init, update, "scale_by_schedule")


def _check_scheduled_lr(opt: str, lr, count):
    """A schedule's value, when concrete (an eager step), must be finite and
    >= 0; a traced value (inside fg.jit) cannot be checked."""
    if _is_concrete(lr):
        v = np.asarray(lr)
        if v.dtype.kind in "fiu" and not (np.all(np.isfinite(v)) and np.all(v >= 0)):
            raise InputError(f"optim.{opt}: the learning-rate schedule returned {v.tolist()!r} at step "
                             f"{np.asarray(count).tolist()!r}; a learning rate must be finite and >= 0")


def scale_by_learning_rate(learning_rate, *, flip_sign=True, name="scale_by_learning_rate") -> GradientTransformation:
    """``u = -eta * g`` with ``eta`` a number or a schedule ``step -> eta``."""
    learning_rate = _check_lr(name, learning_rate)
    sign = -1.0 if flip_sign else 1.0
    if callable(learning_rate):
        def factor(count):
            lr = learning_rate(count)
            _check_scheduled_lr(name, lr, count)
            return sign * lr

        return scale_by_schedule(factor)._replace(name=name)
    return scale(sign * learning_rate)._replace(name=name)


def trace(decay, nesterov: bool = False, nesterov_form: str = "notes") -> GradientTransformation:
    """Momentum (heavy ball), from the lecture notes (lecture 001):

        v_{t+1} = gamma * v_t + g_t,      u_t = v_{t+1}

    With ``nesterov=True``, Nesterov's momentum (Nesterov, 1983) exactly as
    the notes write it (``nesterov_form="notes"``, the default):

        v_{t+1} = gamma * v_t + g_t,      u_t = g_t + v_{t+1}

    or, with ``nesterov_form="sutskever"``, in the form of Sutskever et al.
    (2013, "On the importance of initialization and momentum in deep
    learning"), which PyTorch and Optax use (``optax.trace(gamma,
    nesterov=True)``) and which reduces to plain SGD at ``gamma = 0``:

        v_{t+1} = gamma * v_t + g_t,      u_t = g_t + gamma * v_{t+1}

    Scale by ``-eta`` afterwards for ``w_{t+1} = w_t - eta * u_t``.
    State: ``TraceState(trace=v)``, zeros at first.
    """
    decay = _check_number("trace", "decay", decay)
    if nesterov_form not in ("notes", "sutskever"):
        raise InputError(f"optim.trace: nesterov_form must be 'notes' or 'sutskever', got {nesterov_form!r}")
    v_factor = 1.0 if nesterov_form == "notes" else decay

    def init(params):
        return TraceState(trace=_zeros_like_tree(params))

    def update(grads, state, params=None):
        _check_state("trace", state, TraceState)
        _check_match("optim.trace", grads, "grads", state.trace, "the momentum v")
        new_v = tree.map(lambda g, v: decay * v + g, grads, state.trace)
        if nesterov:
            updates = tree.map(lambda g, v: g + v_factor * v, grads, new_v)
        else:
            updates = new_v
        return updates, TraceState(trace=new_v)

    return GradientTransformation(init, update, "trace")


def scale_by_rms(decay: float = 0.9, eps: float = 1e-8) -> GradientTransformation:
    """RMSprop's scaling (Tieleman & Hinton, 2012, Coursera "Neural Networks
    for Machine Learning", lecture 6.5):

        v_{t+1} = alpha * v_t + (1 - alpha) * g_t**2
        u_t = g_t / (sqrt(v_{t+1}) + eps)

    (``eps`` outside the square root, as in the notes and in PyTorch; Optax's
    ``scale_by_rms(..., eps_in_sqrt=False)``.)
    State: ``ScaleByRmsState(nu=v)``, zeros at first.
    """
    decay = _check_number("scale_by_rms", "decay", decay, below_one=True)
    eps = _check_number("scale_by_rms", "eps", eps)

    def init(params):
        return ScaleByRmsState(nu=_zeros_like_tree(params))

    def update(grads, state, params=None):
        _check_state("scale_by_rms", state, ScaleByRmsState)
        _check_match("optim.scale_by_rms", grads, "grads", state.nu, "the RMS state nu")
        nu = tree.map(lambda g, v: decay * v + (1.0 - decay) * (g * g), grads, state.nu)
        updates = tree.map(lambda g, v: g / (fnp.sqrt(v) + eps), grads, nu)
        return updates, ScaleByRmsState(nu=nu)

    return GradientTransformation(init, update, "scale_by_rms")


def scale_by_adagrad(eps: float = 1e-10, initial_accumulator_value: float = 0.0) -> GradientTransformation:
    """Adagrad's scaling (Duchi, Hazan & Singer, 2011, "Adaptive Subgradient
    Methods for Online Learning and Stochastic Optimization", JMLR 12):

        s_{t+1} = s_t + g_t**2,    s_0 = initial_accumulator_value
        u_t = g_t / (sqrt(s_{t+1}) + eps)

    (As PyTorch; Optax's ``scale_by_rss`` adds ``eps`` inside the square root
    and starts at 0.1, so the two agree at ``eps=0`` with the same start.)
    State: ``ScaleByAdagradState(sum_of_squares=s)``.
    """
    eps = _check_number("scale_by_adagrad", "eps", eps)
    initial = _check_number("scale_by_adagrad", "initial_accumulator_value", initial_accumulator_value)

    def init(params):
        return ScaleByAdagradState(sum_of_squares=_full_like_tree(params, initial))

    def update(grads, state, params=None):
        _check_state("scale_by_adagrad", state, ScaleByAdagradState)
        _check_match("optim.scale_by_adagrad", grads, "grads", state.sum_of_squares, "the Adagrad sum of squares")
        s = tree.map(lambda g, a: a + g * g, grads, state.sum_of_squares)
        updates = tree.map(lambda g, a: g / (fnp.sqrt(a) + eps), grads, s)
        return updates, ScaleByAdagradState(sum_of_squares=s)

    return GradientTransformation(init, update, "scale_by_adagrad")


def scale_by_adam(b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8) -> GradientTransformation:
    """Adam's scaling with bias correction (Kingma & Ba, 2015, "Adam: A Method
    for Stochastic Optimization", ICLR, arXiv:1412.6980). With ``t`` the
    number of this update (1 at the first):

        m_t = b1 * m_{t-1} + (1 - b1) * g_t
        v_t = b2 * v_{t-1} + (1 - b2) * g_t**2
        m_hat = m_t / (1 - b1**t),    v_hat = v_t / (1 - b2**t)
        u_t = m_hat / (sqrt(v_hat) + eps)

    (As Optax's ``scale_by_adam`` with ``eps_root=0``.)
    State: ``ScaleByAdamState(count, mu=m, nu=v)``, zeros at first.
    """
    b1 = _check_number("scale_by_adam", "b1", b1, below_one=True)
    b2 = _check_number("scale_by_adam", "b2", b2, below_one=True)
    eps = _check_number("scale_by_adam", "eps", eps)

    def init(params):
        return ScaleByAdamState(count=_new_count(), mu=_zeros_like_tree(params), nu=_zeros_like_tree(params))

    def update(grads, state, params=None):
        _check_state("scale_by_adam", state, ScaleByAdamState)
        _check_match("optim.scale_by_adam", grads, "grads", state.mu, "the Adam moment mu")
        _check_match("optim.scale_by_adam", grads, "grads", state.nu, "the Adam moment nu")
        mu = tree.map(lambda g, m: b1 * m + (1.0 - b1) * g, grads, state.mu)
        nu = tree.map(lambda g, v: b2 * v + (1.0 - b2) * (g * g), grads, state.nu)
        count = state.count + 1
        t = fnp.asarray(count, dtype=np.float64)
        bc1 = 1.0 - fnp.power(b1, t)
        bc2 = 1.0 - fnp.power(b2, t)
        updates = tree.map(
            lambda m, v: (m / _cast_like(bc1, m)) / (fnp.sqrt(v / _cast_like(bc2, v)) + eps), mu, nu)
        return updates, ScaleByAdamState(count=count, mu=mu, nu=nu)

    return GradientTransformation(init, update, "scale_by_adam")


def add_decayed_weights(weight_decay: float = 0.0) -> GradientTransformation:
    """``u = g + alpha * w`` (needs ``params``). Followed by a scaling by
    ``-eta`` it gives the notes' weight decay (L2 regularisation,
    ``J + alpha/2 ||w||^2``): ``w <- (1 - eta*alpha) w - eta g``; placed
    before an adaptive scaling it is L2 regularisation of that rule, placed
    after one it is the decoupled weight decay of AdamW (Loshchilov & Hutter,
    2019). Stateless."""
    weight_decay = _check_number("add_decayed_weights", "weight_decay", weight_decay)

    def init(params):
        return EmptyState()

    def update(grads, state, params=None):
        if params is None:
            raise InputError("optim.add_decayed_weights: update needs params (update(grads, state, params))")
        _check_match("optim.add_decayed_weights", grads, "grads", params, "params")
        return tree.map(lambda g, p: g + weight_decay * p, grads, params), state

    return GradientTransformation(init, update, "add_decayed_weights")


def clip(max_value: float) -> GradientTransformation:
    """Clipping by value: ``u = clip(g, -max_value, max_value)`` elementwise. Stateless."""
    max_value = _check_number("clip", "max_value", max_value)

    def init(params):
        return EmptyState()

    def update(grads, state, params=None):
        return tree.map(lambda g: fnp.clip(g, -max_value, max_value), grads), state

    return GradientTransformation(init, update, "clip")


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
    """Clipping by norm, over all leaves together (Pascanu et al., 2013,
    arXiv:1211.5063):

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

    return GradientTransformation(init, update, "clip_by_global_norm")


def chain(*transforms: GradientTransformation, name: str = "chain") -> GradientTransformation:
    """Apply ``transforms`` in order, each to the previous one's updates.
    State: a tuple of the transforms' states."""
    for i, t in enumerate(transforms):
        if not isinstance(t, GradientTransformation):
            raise InputError(f"optim.chain: argument {i} is not a GradientTransformation, got {type(t).__name__}")

    def init(params):
        return tuple(t.init(params) for t in transforms)

    def update(grads, state, params=None):
        if type(state) is not tuple or len(state) != len(transforms):
            got = f"a tuple of {len(state)}" if type(state) is tuple else type(state).__name__
            raise InputError(f"optim.{name}: expected the tuple of {len(transforms)} states made by its init "
                             f"(one per transformation), got {got}")
        if params is not None:
            _check_match(f"optim.{name}", grads, "grads", params, "params")
        new_states = []
        for t, s in zip(transforms, state):
            grads, s = t.update(grads, s, params)
            new_states.append(s)
        return grads, tuple(new_states)

    return GradientTransformation(init, update, name)


# ---------------------------------------------------------------- optimizers

def _l2(opt: str, weight_decay):
    weight_decay = _check_number(opt, "weight_decay", weight_decay)
    return [add_decayed_weights(weight_decay)] if weight_decay else []


def sgd(learning_rate, momentum: float | None = None, nesterov: bool = False, *,
        nesterov_form: str = "notes", weight_decay: float = 0.0) -> GradientTransformation:
    """Stochastic gradient descent: ``w_{t+1} = w_t - eta * g_t``.

    With ``momentum=gamma``: ``w_{t+1} = w_t - eta * v_{t+1}``, and with
    ``nesterov=True`` the notes' ``w_{t+1} = w_t - eta * (g_t + v_{t+1})``
    (or ``nesterov_form="sutskever"``: ``- eta * (g_t + gamma * v_{t+1})``, as
    Optax and PyTorch), where ``v_{t+1} = gamma * v_t + g_t``; see :func:`trace`.

    ``weight_decay=alpha``: L2 regularisation, ``g_t + alpha * w_t`` in place
    of ``g_t``; without momentum, the notes' ``w <- (1 - eta*alpha) w - eta g``.
    """
    learning_rate = _check_lr("sgd", learning_rate)
    parts = _l2("sgd", weight_decay)
    if momentum is not None:
        _check_number("sgd", "momentum", momentum)
        parts.append(trace(momentum, nesterov=nesterov, nesterov_form=nesterov_form))
    elif nesterov:
        raise InputError("optim.sgd: nesterov=True needs a momentum")
    parts.append(scale_by_learning_rate(learning_rate, name="sgd"))
    return chain(*parts, name="sgd")


def rmsprop(learning_rate, decay: float = 0.9, eps: float = 1e-8, *,
            weight_decay: float = 0.0) -> GradientTransformation:
    """RMSprop (Tieleman & Hinton, 2012):
    ``w_{t+1} = w_t - eta / (sqrt(v_{t+1}) + eps) * g_t``, see :func:`scale_by_rms`.
    ``weight_decay``: L2, ``g_t + alpha * w_t`` in place of ``g_t``."""
    learning_rate = _check_lr("rmsprop", learning_rate)
    return chain(*_l2("rmsprop", weight_decay), scale_by_rms(decay, eps),
                 scale_by_learning_rate(learning_rate, name="rmsprop"), name="rmsprop")


def adagrad(learning_rate, eps: float = 1e-10, *, initial_accumulator_value: float = 0.0,
            weight_decay: float = 0.0) -> GradientTransformation:
    """Adagrad (Duchi et al., 2011):
    ``w_{t+1} = w_t - eta / (sqrt(s_{t+1}) + eps) * g_t``, see :func:`scale_by_adagrad`.
    ``weight_decay``: L2, ``g_t + alpha * w_t`` in place of ``g_t``."""
    learning_rate = _check_lr("adagrad", learning_rate)
    return chain(*_l2("adagrad", weight_decay), scale_by_adagrad(eps, initial_accumulator_value),
                 scale_by_learning_rate(learning_rate, name="adagrad"), name="adagrad")


def adam(learning_rate, b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8, *,
         weight_decay: float = 0.0) -> GradientTransformation:
    """Adam (Kingma & Ba, 2015, arXiv:1412.6980):
    ``w_t = w_{t-1} - eta * m_hat / (sqrt(v_hat) + eps)``, see :func:`scale_by_adam`.
    ``weight_decay``: L2 regularisation, ``g_t + alpha * w_{t-1}`` fed to the
    moments (as PyTorch's ``Adam(weight_decay=)``); for decoupled weight
    decay use :func:`adamw`."""
    learning_rate = _check_lr("adam", learning_rate)
    return chain(*_l2("adam", weight_decay), scale_by_adam(b1, b2, eps),
                 scale_by_learning_rate(learning_rate, name="adam"), name="adam")


def adamw(learning_rate, b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8,
          weight_decay: float = 1e-4) -> GradientTransformation:
    """AdamW, Adam with decoupled weight decay (Loshchilov & Hutter, 2019,
    "Decoupled Weight Decay Regularization", ICLR, arXiv:1711.05101):

        w_t = w_{t-1} - eta * (m_hat / (sqrt(v_hat) + eps) + alpha * w_{t-1})
            = (1 - eta * alpha) * w_{t-1} - eta * m_hat / (sqrt(v_hat) + eps)

    The decay is not passed through Adam's moments (unlike adding
    ``alpha * w`` to the gradient). As ``optax.adamw``."""
    learning_rate = _check_lr("adamw", learning_rate)
    weight_decay = _check_number("adamw", "weight_decay", weight_decay)
    return chain(scale_by_adam(b1, b2, eps), add_decayed_weights(weight_decay),
                 scale_by_learning_rate(learning_rate, name="adamw"), name="adamw")


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
    _check_match("optim.apply_updates", updates, "updates", params, "params")
    return tree.map(lambda p, u: fnp.asarray(p + u, dtype=_dtype_of(p)), params, updates)


def train_state_init(tx: GradientTransformation, params) -> TrainState:
    """``tx.init_state(params)``: ``TrainState(params, tx.init(params), step=0)``."""
    return tx.init_state(params)


def train_state_step(tx: GradientTransformation, state: TrainState, grads) -> TrainState:
    """``tx.step(state, grads)``: the new ``TrainState`` after applying ``grads``."""
    return tx.step(state, grads)


# ---------------------------------------------------------------- saving and restoring

_PATHS_KEY = "__pytree_paths__"


def save_state(file, state) -> None:
    """Write the leaves of ``state`` (any pytree of arrays, such as a
    ``TrainState``) to ``file`` (a path or a file object) in NumPy's ``.npz``
    format, with their pytree paths. :func:`load_state` reads it back."""
    pairs, _ = tree.flatten_with_path(state)
    arrays = {f"arr_{i}": np.asarray(leaf) for i, (_, leaf) in enumerate(pairs)}
    arrays[_PATHS_KEY] = np.array([tree.keystr(p) for p, _ in pairs], dtype=np.str_)
    np.savez(file, **arrays)


def load_state(file, like):
    """Read a state written by :func:`save_state` into the structure of
    ``like`` (for example ``opt.init_state(params)``), checking that the saved
    leaves have the same pytree paths, shapes and dtypes."""
    pairs, treedef = tree.flatten_with_path(like)
    with np.load(file, allow_pickle=False) as data:
        if _PATHS_KEY not in data.files:
            raise InputError(f"optim.load_state: {file!r} was not written by optim.save_state")
        saved = [str(p) for p in data[_PATHS_KEY]]
        want = [tree.keystr(p) for p, _ in pairs]
        if saved != want:
            extra = [p for p in saved if p not in want]
            missing = [p for p in want if p not in saved]
            detail = (f"the file lacks {missing[0]}" if missing else
                      f"the file has {extra[0]}, which the target does not" if extra else
                      "the leaves are in another order")
            raise TreeError(f"optim.load_state: the saved state does not match the target's structure: {detail}")
        leaves = []
        for i, ((path, ref), where) in enumerate(zip(pairs, want)):
            x = data[f"arr_{i}"]
            if x.shape != _shape_of(ref) or x.dtype != _dtype_of(ref):
                raise ShapeError(f"optim.load_state: {where or 'the root'} is saved as {x.dtype.name}{list(x.shape)} "
                                 f"but the target has {np.dtype(_dtype_of(ref)).name}{list(_shape_of(ref))}")
            leaves.append(x)
    return treedef.unflatten(leaves)
