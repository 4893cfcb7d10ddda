"""Custom derivatives and rematerialization: ``custom_jvp``, ``custom_vjp``
and ``checkpoint``, with JAX's signatures.

``custom_jvp(fun)`` with ``.defjvp(jvp)``: ``fun`` computes the value, the
user's ``jvp(primals, tangents) -> (primal_out, tangent_out)`` its
derivatives, in forward mode and (transposed) in reverse mode::

    @fg.custom_jvp
    def log1pexp(x):
        return fnp.log(1.0 + fnp.exp(x))

    @log1pexp.defjvp
    def log1pexp_jvp(primals, tangents):
        (x,), (t,) = primals, tangents
        return log1pexp(x), t * (1.0 - 1.0 / (1.0 + fnp.exp(x)))

``custom_vjp(fun)`` with ``.defvjp(fwd, bwd)``: ``fwd(*args) -> (out,
residuals)`` runs in the forward pass, ``bwd(residuals, g) -> tuple`` (one
cotangent per argument, a pytree like it, ``None`` for zero) in the backward
pass. Reverse mode only: ``jvp``/``jacfwd`` of a ``custom_vjp`` function
raise (``jacfwd(jacrev(f))`` and ``hessian`` work, since they apply forward
mode to the ``fwd``/``bwd`` functions).

With ``nondiff_argnums``, those positional arguments are static (Python
values: callables, ints, strings...) and come first in the rules:
``jvp(*nondiff, primals, tangents)``, ``bwd(*nondiff, residuals, g)``
(``fwd`` takes the arguments as the function does).

Called outside any trace, both simply run ``fun``. Under a trace (``grad``,
``jit``, ``vmap``...), the function is traced into a closed program and
bound as one ``custom_jvp_call`` / ``custom_vjp_call`` equation
(:mod:`funcgrad.primitives.calls`) whose ``rule`` parameter carries the
function, its static arguments and its input and output structures; the
transformations' rules (``funcgrad/transforms/*/custom.py``) call the user's
functions through it. ``rule`` compares by value, so tracing again on the
next call gives an equal program (the program cache hits).

Closed-over values: what ``fun`` closes over is passed to the call as a
leading operand, but the user's rules only give derivatives for the explicit
arguments; differentiating with respect to a closed-over value raises
:class:`CustomRuleError`, telling the user to pass it as an argument (as
JAX does).

``checkpoint(fun)`` (alias ``remat``), as ``jax.checkpoint``: the same
function, whose reverse mode stores only its inputs and recomputes its
intermediate values in the backward pass (one ``checkpoint`` equation
there, whose body is the function's backward pass). Memory for compute.
"""
from __future__ import annotations

import functools
import inspect
import numbers

import numpy as np

from . import tree as tree_util
from .core import trace as _trace
from .core.ir import Program, ShapedArray
from .core.trace import Tracer, aval_of, trace_flat
from .errors import FuncgradError, InputError, LeakedTracerError, UnsupportedError
from .primitives.calls import checkpoint_p, custom_jvp_call_p, custom_vjp_call_p

__all__ = ["custom_jvp", "custom_vjp", "checkpoint", "remat", "CustomRuleError", "closure_error",
           "closure_cotangent"]

_PY_NUMBERS = (bool, int, float)


class CustomRuleError(FuncgradError, TypeError):
    """A custom derivative rule returned values of the wrong structure, shape
    or dtype, or a custom function was differentiated with respect to a value
    it closes over."""


def _name(fun) -> str:
    return getattr(fun, "__name__", None) or type(fun).__name__


# ----------------------------------------------------------------------------- closures

def closure_error(kind: str, name: str) -> CustomRuleError:
    return CustomRuleError(
        f"{kind} function {name} is differentiated with respect to a value it closes over (a "
        f"traced array it reads from an enclosing scope, not an argument). The custom rule gives "
        f"derivatives with respect to the function's arguments only: pass that value to {name} "
        f"as an argument (and adapt the rule to it)")


class closure_cotangent:
    """What the VJP rule of a custom call returns for a closed-over operand:
    nothing for an operand that is not differentiated (the reverse pass drops
    it unread), a :class:`CustomRuleError` the moment it is read for one
    that is (its shape is the first thing the reverse pass asks)."""

    __slots__ = ("kind", "name")

    def __init__(self, kind, name):
        self.kind, self.name = kind, name

    def _raise(self, *args, **kwargs):
        raise closure_error(self.kind, self.name)

    shape = property(_raise)
    dtype = property(_raise)
    aval = property(_raise)
    __array__ = _raise
    __add__ = __radd__ = __mul__ = __rmul__ = _raise

    def __repr__(self):
        return f"<cotangent of a value {self.name} closes over>"


def user_call(kind: str, name: str, what: str, fn, *args):
    """``fn(*args)`` (a user's rule), with a clear error for a rule that reads
    a traced value of a trace that has finished (it closes over one)."""
    try:
        return fn(*args)
    except LeakedTracerError as e:
        raise CustomRuleError(
            f"{kind} function {name}: its {what} uses a traced value it closes over (from an "
            f"enclosing function being transformed), which is gone by the time the rule runs. "
            f"Pass such values to {name} as arguments (and to the rule through its primals / "
            f"residuals). ({e.bare_message})") from None


# ----------------------------------------------------------------------------- static arguments

def _static_key(v):
    try:
        hash(v)
    except TypeError:
        return ("id", id(v))
    return (type(v), v)


def _normalize_nondiff(nums, what):
    if isinstance(nums, numbers.Integral):
        nums = (nums,)
    try:
        nums = tuple(int(i) for i in nums)
    except TypeError:
        raise InputError(f"{what}: nondiff_argnums must be an int or a tuple of ints, got {nums!r}") from None
    if len(set(nums)) != len(nums):
        raise InputError(f"{what}: repeated entries in nondiff_argnums={nums!r}")
    return nums


def _resolve_args(fun, args, kwargs, what):
    """Keyword arguments moved to their positions (the rules take positional ones)."""
    if not kwargs:
        return tuple(args)
    try:
        ba = inspect.signature(fun).bind(*args, **kwargs)
    except (TypeError, ValueError) as e:
        raise InputError(f"{what}: {e}") from None
    ba.apply_defaults()
    if ba.kwargs:
        raise InputError(f"{what}: keyword arguments {sorted(ba.kwargs)} could not be resolved to "
                         "positions; pass them positionally")
    return tuple(ba.args)


# ----------------------------------------------------------------------------- leaves

def _as_leaf(x, where, what):
    if isinstance(x, Tracer):
        return x, x.aval.weak_type
    if isinstance(x, (np.ndarray, np.generic, bool, numbers.Number)) and not isinstance(x, complex):
        arr = np.asarray(x)
        if arr.dtype.kind in "biuf":
            return arr, type(x) in _PY_NUMBERS
    raise InputError(f"{what}: {where} is a {type(x).__name__} ({x!r:.60}); the arguments of a custom "
                     "function are pytrees of arrays and numbers (pass other values through "
                     "nondiff_argnums)")


def _flatten_leaves(tree, what, name):
    flat, treedef = tree_util.flatten_with_path(tree)
    leaves, weak = [], []
    for path, x in flat:
        v, w = _as_leaf(x, f"{name}{tree_util.keystr(path)}", what)
        leaves.append(v)
        weak.append(w)
    return leaves, weak, treedef


def _out_leaf(x, where, what):
    if isinstance(x, Tracer):
        return x
    if isinstance(x, (np.ndarray, np.generic, bool, numbers.Number)) and not isinstance(x, complex):
        arr = np.asarray(x)
        if arr.dtype.kind in "biuf":
            return arr
    raise CustomRuleError(f"{what} returned a {type(x).__name__} ({x!r:.60}) as {where}; outputs "
                          "must be pytrees of arrays and numbers")


def _aval(x, weak=False) -> ShapedArray:
    if isinstance(x, Tracer):
        return x.aval
    return ShapedArray(np.shape(x), np.asarray(x).dtype, weak)


def _trace_closed(fun, in_avals):
    """``fun`` traced into a closed Program: its captured constants become
    leading inputs. Returns ``(program, consts)``."""
    p = trace_flat(fun, in_avals)
    return Program(list(p.const_vars) + list(p.in_vars), [], [], p.eqns, p.out_atoms), list(p.consts)


def check_leaves(what, label, leaves, avals, *, allow_none=False, floats_only=False):
    """Leaves (tracers, arrays, numbers; ``None`` for zero if ``allow_none``)
    checked against ``avals``: the same shapes, and the same dtypes for
    traced values (concrete ones are cast). With ``floats_only``, entries
    whose aval is not floating point are ignored (returned as ``None``)."""
    out = []
    for k, (x, a) in enumerate(zip(leaves, avals)):
        if floats_only and a.dtype.kind != "f":
            out.append(None)
            continue
        if x is None and allow_none:
            out.append(None)
            continue
        where = f"{label} {k}" if len(avals) > 1 else label
        x = _out_leaf(x, where, what)
        got = aval_of(x)
        if got.shape != a.shape:
            raise CustomRuleError(f"{what} returned {got} as {where}, but it must have shape "
                                  f"{a.shape} ({a.dtype}), like the value it stands for")
        if got.dtype != a.dtype:
            if isinstance(x, Tracer) or got.dtype.kind != a.dtype.kind and not (
                    got.dtype.kind in "iub" and a.dtype.kind == "f"):
                raise CustomRuleError(f"{what} returned {got} as {where}, but it must have dtype "
                                      f"{a.dtype} (shape {a.shape}), like the value it stands for")
            x = np.asarray(x, dtype=a.dtype)
        out.append(x)
    return out


def _describe_tree(td) -> str:
    text = str(td)
    text = text[len("PyTreeDef("):-1] if text.startswith("PyTreeDef(") else text
    return "* (one array)" if text == "*" else text


# ----------------------------------------------------------------------------- rules

class _Rule:
    """The ``rule`` parameter of a custom call: the custom function, its
    rules as they were when it was traced, its static arguments, and its
    flat input and output signatures. Compared and hashed by value."""

    kind = ""

    def __init__(self, fn, rules, statics, nargs, in_tree, in_avals, out_tree, out_avals):
        self.fn = fn
        self.rules = tuple(rules)
        self.statics = tuple(statics)          # ((position, value), ...)
        self.nargs = nargs                     # positional arguments, static ones included
        self.in_tree = in_tree                 # treedef of the tuple of non-static arguments
        self.in_avals = tuple(in_avals)        # of its flat leaves
        self.out_tree = out_tree
        self.out_avals = tuple(out_avals)
        self._key = (type(self), id(fn), tuple(id(r) for r in self.rules),
                     tuple((i, _static_key(v)) for i, v in self.statics), nargs, in_tree,
                     self.in_avals, out_tree, self.out_avals)
        self._hash = hash(self._key)

    @property
    def name(self) -> str:
        return _name(self.fn.fun)

    def __eq__(self, other):
        return type(other) is type(self) and other._key == self._key

    def __hash__(self):
        return self._hash

    def __repr__(self):
        return f"{self.kind}({self.name})"

    # helpers
    def full_args(self, dyn):
        """The positional arguments: static ones in their places, ``dyn`` in the others."""
        statics = dict(self.statics)
        it = iter(dyn)
        return [statics[i] if i in statics else next(it) for i in range(self.nargs)]

    @property
    def nondiff(self):
        return [v for _, v in self.statics]

    def arg_trees(self):
        return list(self.in_tree.children) if self.in_tree.node_type is tuple else [self.in_tree]

    def check_out(self, what, primal_out, label="the primal output"):
        leaves, td = tree_util.flatten(primal_out)
        if td != self.out_tree:
            raise CustomRuleError(f"{what} returned {label} with the structure {_describe_tree(td)}, "
                                  f"but {self.name} returns {_describe_tree(self.out_tree)}")
        return check_leaves(what, label, leaves, self.out_avals)


class CustomJVPRule(_Rule):
    kind = "custom_jvp"

    def jvp_flat(self, primals, tangents):
        """The user's JVP on flat primals and tangents (every one given,
        zeros where zero): ``(outs, tangent_outs)``, ``None`` for the tangents
        of non-float outputs."""
        (jvp,) = self.rules
        what = f"custom_jvp rule of {self.name}"
        args = tuple(tree_util.unflatten(self.in_tree, list(primals)))
        tans = tuple(tree_util.unflatten(self.in_tree, list(tangents)))
        res = user_call(self.kind, self.name, "JVP rule", jvp, *self.nondiff, args, tans)
        if not isinstance(res, (tuple, list)) or len(res) != 2:
            raise CustomRuleError(f"{what} must return a pair (primal_out, tangent_out), got "
                                  f"{type(res).__name__}" + (f" of length {len(res)}"
                                                             if isinstance(res, (tuple, list)) else ""))
        primal_out, tangent_out = res
        outs = self.check_out(what, primal_out)
        t_leaves, t_def = tree_util.flatten(tangent_out)
        if t_def != self.out_tree:
            raise CustomRuleError(f"{what} returned a tangent output with the structure "
                                  f"{_describe_tree(t_def)}, but {self.name} returns "
                                  f"{_describe_tree(self.out_tree)}: the tangent must have the "
                                  "primal output's structure")
        touts = check_leaves(what, "the tangent output", t_leaves, self.out_avals, floats_only=True)
        return outs, touts


class CustomVJPRule(_Rule):
    kind = "custom_vjp"

    def fwd_flat(self, primals):
        """The user's ``fwd`` on flat primals: ``(outs, residual leaves, residual treedef)``."""
        fwd, _ = self.rules
        what = f"custom_vjp fwd rule of {self.name}"
        dyn = tuple(tree_util.unflatten(self.in_tree, list(primals)))
        res = user_call(self.kind, self.name, "fwd rule", fwd, *self.full_args(dyn))
        if not isinstance(res, (tuple, list)) or len(res) != 2:
            raise CustomRuleError(f"{what} must return a pair (output, residuals), got "
                                  f"{type(res).__name__}" + (f" of length {len(res)}"
                                                             if isinstance(res, (tuple, list)) else ""))
        out, residuals = res
        outs = self.check_out(what, out, "the output")
        flat, res_tree = tree_util.flatten_with_path(residuals)
        res_leaves = [_out_leaf(x, f"residual {tree_util.keystr(p)}".rstrip(), what) for p, x in flat]
        return outs, res_leaves, res_tree

    def bwd_flat(self, res_leaves, res_tree, cts):
        """The user's ``bwd`` on flat residuals and output cotangents: one
        cotangent per flat primal (``None`` for zero or non-float)."""
        _, bwd = self.rules
        what = f"custom_vjp bwd rule of {self.name}"
        residuals = tree_util.unflatten(res_tree, list(res_leaves))
        g = tree_util.unflatten(self.out_tree, list(cts))
        res = user_call(self.kind, self.name, "bwd rule", bwd, *self.nondiff, residuals, g)
        trees = self.arg_trees()
        n = len(trees)
        if isinstance(res, list):
            res = tuple(res)
        if not isinstance(res, tuple):
            got = (f"an array {aval_of(res)}" if isinstance(res, (Tracer, np.ndarray, np.generic))
                   else f"a {type(res).__name__}")
            hint = " (with one argument, return (ct,), a tuple of one)" if n == 1 else ""
            raise CustomRuleError(f"{what} must return a tuple with one cotangent per argument "
                                  f"({n}), got {got}{hint}")
        if len(res) != n:
            raise CustomRuleError(f"{what} returned {len(res)} cotangent{'s' if len(res) != 1 else ''} "
                                  f"but {self.name} has {n} differentiable argument"
                                  f"{'s' if n != 1 else ''}: bwd returns one per argument "
                                  "(None for zero)")
        x_avals = list(self.in_avals)
        out, k = [], 0
        for j, (ct, td) in enumerate(zip(res, trees)):
            n_leaves = td.num_leaves
            avals = x_avals[k:k + n_leaves]
            k += n_leaves
            if ct is None:
                out.extend([None] * n_leaves)
                continue
            leaves, ct_def = tree_util.flatten(ct)
            if ct_def != td:
                leaves, ct_def = tree_util.flatten(ct, is_leaf=lambda x: x is None)
            if ct_def != td:
                raise CustomRuleError(f"{what} returned a cotangent for argument {j} with the structure "
                                      f"{_describe_tree(ct_def)}, but the argument's is "
                                      f"{_describe_tree(td)}")
            out.extend(check_leaves(what, f"the cotangent of argument {j}", leaves, avals,
                                    allow_none=True, floats_only=True))
        return out


# ----------------------------------------------------------------------------- binding

def _bind_custom(obj, prim, rule_cls, rules, args, kwargs):
    what = f"{obj.kind} function {_name(obj.fun)}"
    args = _resolve_args(obj.fun, args, kwargs, what)
    nargs = len(args)
    nondiff = []
    for i in obj.nondiff_argnums:
        if not -nargs <= i < nargs:
            raise InputError(f"{what}: nondiff_argnums={obj.nondiff_argnums!r} but it was called "
                             f"with {nargs} positional argument{'s' if nargs != 1 else ''}")
        nondiff.append(i % nargs)
    statics = [(i, args[i]) for i in sorted(nondiff)]
    for i, v in statics:
        if any(isinstance(x, Tracer) for x in tree_util.leaves(v)):
            raise InputError(f"{what}: argument {i} is in nondiff_argnums but is a traced array "
                             f"({tree_util.leaves(v)[0]!r}); nondiff_argnums are for static "
                             "Python values (callables, ints, strings). Pass arrays as ordinary "
                             "arguments (a custom rule may return zero for them)")
    dyn = tuple(a for i, a in enumerate(args) if i not in set(nondiff))
    leaves, weak, in_tree = _flatten_leaves(dyn, what, "its arguments")
    static_map = dict(statics)
    box = {}

    def flat_fun(*xs):
        it = iter(tree_util.unflatten(in_tree, list(xs)))
        full = [static_map[i] if i in static_map else next(it) for i in range(nargs)]
        out = obj.fun(*full)
        flat, out_tree = tree_util.flatten_with_path(out)
        box["tree"] = out_tree
        return [_out_leaf(x, f"output {tree_util.keystr(p)}".rstrip(), what) for p, x in flat]

    in_avals = [_aval(x, w) for x, w in zip(leaves, weak)]
    call, consts = _trace_closed(flat_fun, in_avals)
    rule = rule_cls(obj, rules, statics, nargs, in_tree, in_avals, box["tree"], call.out_avals)
    outs = prim.bind(*consts, *leaves, call=call, num_consts=len(consts), rule=rule)
    return tree_util.unflatten(box["tree"], outs)


class _CustomFunction:
    kind = ""

    def __init__(self, fun, nondiff_argnums=()):
        if not callable(fun):
            raise InputError(f"{self.kind}: expected a function, got a {type(fun).__name__}")
        self.fun = fun
        self.nondiff_argnums = _normalize_nondiff(nondiff_argnums, self.kind)
        functools.update_wrapper(self, fun)

    def __get__(self, instance, owner=None):   # a method: bind like a function
        if instance is None:
            return self
        return functools.partial(self, instance)

    def __repr__(self):
        return f"<{self.kind} function {_name(self.fun)}>"


class custom_jvp(_CustomFunction):
    """A function with a custom JVP rule, as ``jax.custom_jvp`` (see the
    module docstring). Use as a decorator, then ``.defjvp(jvp)``::

        @fg.custom_jvp
        def f(x): ...

        @f.defjvp
        def f_jvp(primals, tangents):
            (x,), (t,) = primals, tangents
            return f(x), ...

    ``jvp(primals, tangents)`` gets tuples of the arguments and of their
    tangents (zeros where a tangent is zero; zeros of their dtype for
    integer arguments) and returns ``(primal_out, tangent_out)`` with the
    structure, shapes and dtypes of ``fun``'s output. Reverse mode
    (``grad``, ``vjp``) transposes it: it must be linear in the tangents."""

    kind = "custom_jvp"

    def __new__(cls, fun=None, nondiff_argnums=()):
        if fun is None:   # @custom_jvp(nondiff_argnums=...)
            return functools.partial(cls, nondiff_argnums=nondiff_argnums)
        return super().__new__(cls)

    def __init__(self, fun, nondiff_argnums=()):
        super().__init__(fun, nondiff_argnums)
        self.jvp = None

    def defjvp(self, jvp):
        """Set the JVP rule (returns it, so it works as a decorator)."""
        if not callable(jvp):
            raise InputError(f"custom_jvp function {_name(self.fun)}: defjvp expects a function, "
                             f"got a {type(jvp).__name__}")
        self.jvp = jvp
        return jvp

    def defjvps(self, *jvps):
        """One rule per non-static argument, ``jvps[i](t_i, primal_out, *primals)``
        the contribution of argument ``i``'s tangent (``None`` for an argument
        the output does not depend on), summed, as ``jax.custom_jvp.defjvps``."""
        if self.nondiff_argnums:
            raise UnsupportedError("custom_jvp.defjvps does not support nondiff_argnums; use defjvp")

        def jvp(primals, tangents):
            out = self(*primals)
            if len(jvps) != len(primals):
                raise CustomRuleError(f"custom_jvp function {_name(self.fun)}: defjvps got "
                                      f"{len(jvps)} rules for {len(primals)} arguments")
            total = None
            for rule, t in zip(jvps, tangents):
                if rule is None:
                    continue
                term = rule(t, out, *primals)
                total = term if total is None else tree_util.map(lambda a, b: a + b, total, term)
            if total is None:
                total = tree_util.map(lambda o: o * 0, out)
            return out, total

        self.jvp = jvp
        return jvps

    def __call__(self, *args, **kwargs):
        if not _trace.tracing():
            return self.fun(*args, **kwargs)
        if self.jvp is None:
            raise UnsupportedError(f"custom_jvp function {_name(self.fun)} has no JVP rule: define "
                                   f"one with {_name(self.fun)}.defjvp(...)")
        return _bind_custom(self, custom_jvp_call_p, CustomJVPRule, (self.jvp,), args, kwargs)


class custom_vjp(_CustomFunction):
    """A function with a custom VJP rule, as ``jax.custom_vjp`` (see the
    module docstring). Use as a decorator, then ``.defvjp(fwd, bwd)``:

    - ``fwd(*args) -> (out, residuals)``: ``out`` as ``fun`` returns it,
      ``residuals`` any pytree of arrays for ``bwd``;
    - ``bwd(*nondiff, residuals, g) -> tuple``: one cotangent per non-static
      argument, each a pytree like that argument (``None`` for zero, as a
      whole or for a leaf).

    Reverse mode only: forward mode (``jvp``, ``jacfwd``) raises, as in JAX."""

    kind = "custom_vjp"

    def __new__(cls, fun=None, nondiff_argnums=()):
        if fun is None:   # @custom_vjp(nondiff_argnums=...)
            return functools.partial(cls, nondiff_argnums=nondiff_argnums)
        return super().__new__(cls)

    def __init__(self, fun, nondiff_argnums=()):
        super().__init__(fun, nondiff_argnums)
        self.fwd = None
        self.bwd = None

    def defvjp(self, fwd, bwd):
        """Set the forward and backward rules."""
        for f, nm in ((fwd, "fwd"), (bwd, "bwd")):
            if not callable(f):
                raise InputError(f"custom_vjp function {_name(self.fun)}: defvjp's {nm} must be a "
                                 f"function, got a {type(f).__name__}")
        self.fwd, self.bwd = fwd, bwd

    def __call__(self, *args, **kwargs):
        if not _trace.tracing():
            return self.fun(*args, **kwargs)
        if self.fwd is None:
            raise UnsupportedError(f"custom_vjp function {_name(self.fun)} has no VJP rule: define "
                                   f"one with {_name(self.fun)}.defvjp(fwd, bwd)")
        return _bind_custom(self, custom_vjp_call_p, CustomVJPRule, (self.fwd, self.bwd), args, kwargs)


# ----------------------------------------------------------------------------- checkpoint

def checkpoint(fun=None, *, prevent_cse: bool = True, policy=None, static_argnums=()):
    """``fun`` with rematerialization, as ``jax.checkpoint``: in reverse mode
    only its inputs are kept for the backward pass, which recomputes its
    intermediate values (memory for compute). The values and derivatives are
    those of ``fun``.

    ``static_argnums``: positional arguments passed through as they are
    (Python values). ``prevent_cse`` is accepted for JAX compatibility (the
    recomputation is never merged back: the backends inline checkpoints
    after the optimization passes). Only the default ``policy=None`` (save
    nothing) is supported."""
    if fun is None:
        return functools.partial(checkpoint, prevent_cse=prevent_cse, policy=policy,
                                 static_argnums=static_argnums)
    if not callable(fun):
        raise InputError(f"checkpoint: expected a function, got a {type(fun).__name__}")
    if policy is not None:
        raise UnsupportedError("checkpoint: policies are not supported; every intermediate value "
                               "is recomputed (JAX's default, nothing_saveable)")
    static = _normalize_nondiff(static_argnums, "checkpoint")
    what = f"checkpoint of {_name(fun)}"

    @functools.wraps(fun)
    def remat_f(*args, **kwargs):
        if not _trace.tracing():
            return fun(*args, **kwargs)
        nargs = len(args)
        for i in static:
            if not -nargs <= i < nargs:
                raise InputError(f"{what}: static_argnums={static_argnums!r} but it was called with "
                                 f"{nargs} positional argument{'s' if nargs != 1 else ''}")
        statics = {i % nargs: args[i] for i in static}
        dyn = tuple(a for i, a in enumerate(args) if i not in statics)
        leaves, weak, in_tree = _flatten_leaves((dyn, kwargs), what, "its arguments ")
        box = {}

        def flat_fun(*xs):
            d, kw = tree_util.unflatten(in_tree, list(xs))
            it = iter(d)
            full = [statics[i] if i in statics else next(it) for i in range(nargs)]
            out = fun(*full, **kw)
            flat, out_tree = tree_util.flatten_with_path(out)
            box["tree"] = out_tree
            return [_out_leaf(x, f"output {tree_util.keystr(p)}".rstrip(), what) for p, x in flat]

        body, consts = _trace_closed(flat_fun, [_aval(x, w) for x, w in zip(leaves, weak)])
        outs = checkpoint_p.bind(*consts, *leaves, body=body)
        return tree_util.unflatten(box["tree"], outs)

    return remat_f


remat = checkpoint
