"""The user-facing transformations: grad, value_and_grad, vjp, make_ir.

Each flattens its arguments (pytrees) into leaves, traces the function into a
Program, transforms the Program, and runs it with a backend. As ``jax.grad``,
they trace on every call, so values read from globals and closures are
current; the transformed and compiled program is cached by the traced
program's structure, with those values passed as inputs
(``funcgrad.program_cache``).
``funcgrad.jit`` caches by signature instead and skips tracing.
"""
from __future__ import annotations

import functools
import numbers

import numpy as np

from . import tree as tree_util
from .backends import get_backend
from .core.evaluate import eval_program
from .core import trace as _trace
from .core.ir import Program, ShapedArray, Var
from .core.trace import Tracer, trace_flat
from .device_array import DeviceArray, as_device_array, is_device_array
from .errors import InputError
from .primitives import stop_gradient as _stop_gradient_leaf
from .program_cache import constants_as_inputs, program_cache
from .transforms.vjp import backward_pass, split_program

__all__ = ["grad", "value_and_grad", "vjp", "make_ir", "stop_gradient"]


# ----------------------------------------------------------------------------- arguments

def _as_leaf(x, path, what):
    if isinstance(x, Tracer):
        return x
    where = path or "the argument"
    if not isinstance(x, np.ndarray) and is_device_array(x):   # CuPy, PyTorch, Numba: read in place
        x = as_device_array(x)
    if isinstance(x, (np.ndarray, DeviceArray)):
        if x.dtype.kind not in "biuf":
            raise InputError(f"{what}: {where} is an array of dtype {x.dtype} (shape {x.shape}); "
                             "funcgrad works with boolean, integer and floating-point arrays")
        return x
    if isinstance(x, (np.generic, bool, numbers.Number)):
        arr = np.asarray(x)
        if arr.dtype.kind not in "biuf":
            raise InputError(f"{what}: {where} is a {type(x).__name__} ({x!r:.60}); funcgrad works with "
                             "boolean, integer and floating-point values")
        return arr
    raise InputError(f"{what}: {where} is a {type(x).__name__} ({x!r:.60}), a pytree leaf that is not an "
                     "array or a number; leaves must be arrays or numbers (register containers with "
                     "funcgrad.tree.register, or pass other values through a closure)")


_PY_NUMBERS = (bool, int, float)


def _flatten_args(args, kwargs, what):
    """Leaves as arrays, the treedef, the leaves' paths, and which leaves were
    Python numbers (traced as weakly typed, as in JAX)."""
    flat, treedef = tree_util.flatten_with_path((args, kwargs))
    leaves = [_as_leaf(x, _arg_path(p), what) for p, x in flat]
    weak = tuple(type(x) in _PY_NUMBERS for _, x in flat)
    return leaves, treedef, [p for p, _ in flat], weak


def _flatten_selected(args, positions, what):
    """Leaves of the arguments ``args`` (the caller's positional arguments
    ``positions``), with the treedef of the tuple ``args``, each leaf's path
    named by its position in the call ("argument 1['W']"), and which leaves
    were Python numbers (weakly typed)."""
    flat, treedef = tree_util.flatten_with_path(tuple(args))
    paths = [f"argument {positions[int(p[0][1:-1])]}" + "".join(p[1:]) for p, _ in flat]
    leaves = [_as_leaf(x, path, what) for (_, x), path in zip(flat, paths)]
    weak = tuple(type(x) in _PY_NUMBERS for _, x in flat)
    return leaves, treedef, paths, weak


def _arg_path(path):
    """('[0]', '[1]', "['W']") -> "argument 1['W']" for a path into (args, kwargs)."""
    if not path:
        return ""
    if path[0] == "[0]" and len(path) > 1:
        return f"argument {path[1][1:-1]}" + "".join(path[2:])
    if path[0] == "[1]" and len(path) > 1:
        return f"keyword argument {path[1][1:-1]}" + "".join(path[2:])
    return "".join(path)


def _normalize_argnums(argnums, nargs, what):
    single = isinstance(argnums, numbers.Integral)
    try:
        nums = (argnums,) if single else tuple(argnums)
    except TypeError:
        nums = ()
    if not nums or not all(isinstance(i, numbers.Integral) for i in nums):
        raise InputError(f"{what}: argnums must be an int or a non-empty tuple of ints, got {argnums!r}")
    nums = tuple(int(i) for i in nums)
    norm = []
    for i in nums:
        if not -nargs <= i < nargs:
            raise InputError(f"{what}: argnums={argnums!r} but the function was called with "
                             f"{nargs} positional argument{'s' if nargs != 1 else ''}")
        norm.append(i % nargs)
    if len(set(norm)) != len(norm):
        raise InputError(f"{what}: repeated entries in argnums={argnums!r}")
    return single, tuple(norm)


def _leaf_ranges(args):
    """(start, stop) of each positional argument's leaves in the flat list."""
    ranges, start = [], 0
    for a in args:
        n = tree_util.structure(a).num_leaves
        ranges.append((start, start + n))
        start += n
    return ranges


def _avals(leaves, weak=None):
    weak = weak or (False,) * len(leaves)
    return tuple(x.aval if isinstance(x, Tracer) else ShapedArray(x.shape, x.dtype, w)
                 for x, w in zip(leaves, weak))


# ----------------------------------------------------------------------------- tracing

def _trace_user(fun, treedef, avals, what, positional=False):
    """Trace ``fun`` on abstract leaves; returns ``(program, out_treedef)``.
    ``treedef`` is that of ``(args, kwargs)``, or of ``args`` alone with
    ``positional=True``."""
    out_tree = []

    def flat_fun(*leaves):
        if positional:
            out = fun(*tree_util.unflatten(treedef, leaves))
        else:
            args, kwargs = tree_util.unflatten(treedef, leaves)
            out = fun(*args, **kwargs)
        out_leaves, out_def = tree_util.flatten(out)
        for leaf in out_leaves:
            if not _valid_output(leaf):
                _bad_output(out, what)
        out_tree.append(out_def)
        return out_leaves

    program = trace_flat(flat_fun, avals)
    return program, out_tree[0]


def _valid_output(x) -> bool:
    if isinstance(x, Tracer):
        return True
    if isinstance(x, (np.ndarray, np.generic)):
        return x.dtype.kind in "biuf"
    return isinstance(x, (bool, int, float))


def _bad_output(out, what):
    for path, leaf in tree_util.flatten_with_path(out)[0]:
        if not _valid_output(leaf):
            where = f"output {tree_util.keystr(path)}" if path else "its output"
            desc = (f"an array of dtype {leaf.dtype}" if isinstance(leaf, (np.ndarray, np.generic))
                    else f"a {type(leaf).__name__} ({leaf!r:.60})")
            raise InputError(f"{what}: the function returned {desc} as {where}; outputs (and aux "
                             "values) must be arrays or numbers of boolean, integer or floating-point "
                             "dtype. Return other values outside the transformed function")


def _lazy(compile_fn, program: Program):
    """``compile_fn(program)``, compiled on the first call: a transformation
    applied inside a trace (``jvp`` of ``grad``, ``vmap`` of ``vjp``) inlines its
    program into the enclosing one and never compiles it on its own."""
    compiled = []

    def run(*args):
        if not compiled:
            compiled.append(compile_fn(program))
        return compiled[0](*args)
    return run


def _run(compiled, program: Program, leaves):
    if _trace.tracing() or any(isinstance(x, Tracer) for x in leaves):
        return eval_program(program, leaves)  # inline into the enclosing trace
    return _unaliased(compiled(*leaves), program.consts)


def _unaliased(outs, consts):
    """Copy the outputs that share memory with a captured constant (an array
    from the user's closure or globals, returned as it is), so that writing
    into a result never changes the caller's arrays."""
    arrays = [c for c in consts if isinstance(c, np.ndarray)]
    if not arrays:
        return outs
    return [np.array(o, copy=True) if isinstance(o, np.ndarray)
            and any(np.may_share_memory(o, c) for c in arrays) else o for o in outs]


# ----------------------------------------------------------------------------- grad

class _GradEntry:
    __slots__ = ("program", "compiled", "out_tree")


def _scalar_check(what, aval, has_aux):
    if aval.shape != () or aval.dtype.kind != "f":
        raise InputError(
            f"{what}: the function must return a floating-point scalar{' (first of (value, aux))' if has_aux else ''}"
            f" to be differentiated, got {aval}"
            + (". Reduce it first (e.g. .sum() or .mean())" if aval.shape else
               ". Cast integer and boolean results with .astype(float)" if aval.dtype.kind in "biu" else
               ""))


def value_and_grad(fun, argnums=0, has_aux: bool = False, backend: str | None = None, *,
                   _what: str = "value_and_grad"):
    """Return a function computing ``fun``'s value and its gradient with
    respect to the positional arguments ``argnums``.

    ``fun`` returns a floating-point scalar (or ``(scalar, aux)`` with
    ``has_aux=True``). The gradient has the structure and dtypes of the
    differentiated arguments: a tuple of them when ``argnums`` is a tuple.
    Returns ``(value, grads)`` or ``((value, aux), grads)``.
    """
    what = _what
    compile_fn = get_backend(backend)
    backend_name = backend

    @functools.wraps(fun)
    def value_and_grad_f(*args, **kwargs):
        single, nums = _normalize_argnums(argnums, len(args), what)
        # Only the `argnums` arguments are traced, as in jax.grad; the others
        # (and keyword arguments) reach `fun` as given: Python ints for loop
        # counts, strings, callables, arrays. Their values become constants of
        # the traced program (arrays as inputs of the compiled code, numbers
        # as literals), so the program cache below tells them apart.
        diff_args = tuple(args[i] for i in nums)
        leaves, treedef, paths, weak = _flatten_selected(diff_args, nums, what)
        for j, x in enumerate(leaves):
            if x.dtype.kind != "f":
                raise InputError(f"{what}: cannot differentiate with respect to {paths[j]}, "
                                 f"an array of dtype {x.dtype} (shape {tuple(x.shape)}); "
                                 "only floating-point inputs have gradients. Pass integer inputs "
                                 "through other argnums, or cast them with .astype(float)")

        def call(*diff):
            full = list(args)
            for i, a in zip(nums, diff):
                full[i] = a
            return fun(*full, **kwargs)

        # Trace on every call, as jax.grad does, so that values the function reads
        # from globals and closures are current; the transformed and compiled
        # program is cached by the traced program's structure, with those
        # values passed in as inputs.
        program, out_def = _trace_user(call, treedef, _avals(leaves, weak), what, positional=True)
        wrt = tuple(range(len(leaves)))
        tag = ("vg", out_def, wrt, has_aux, backend_name)
        cached = program_cache.get_traced(
            fun, tag, program, lambda p: _build_grad(p, out_def, wrt, has_aux, compile_fn, what))
        entry = cached.entry
        outs = _run(entry.compiled, entry.program, cached.consts + list(leaves))
        n_out = entry.out_tree.num_leaves
        out = tree_util.unflatten(entry.out_tree, outs[:n_out])
        grads = tree_util.unflatten(treedef, outs[n_out:])
        g = grads[0] if single else tuple(grads)
        return out, g

    return value_and_grad_f


def _build_grad(program, out_def, wrt, has_aux, compile_fn, what):
    if has_aux:
        if out_def.node_type not in (tuple, list) or len(out_def.children) != 2:
            raise InputError(f"{what}: with has_aux=True the function must return a pair (value, aux), "
                             f"got a tree {out_def}")
        value_def = out_def.children[0]
    else:
        value_def = out_def
    if value_def.num_leaves != 1 or value_def.node_type is not None:
        raise InputError(f"{what}: the function must return a scalar, got a tree {value_def}")
    value_aval = program.out_avals[0]
    _scalar_check(what, value_aval, has_aux)

    seed = np.ones((), value_aval.dtype)
    n_out = len(program.out_atoms)
    closed = constants_as_inputs(program)
    n_consts = len(program.const_vars)
    wrt = tuple(n_consts + j for j in wrt)

    def grad_fun(*xs):
        outs, grads = backward_pass(closed, xs, wrt, [seed] + [None] * (n_out - 1))
        return outs + grads

    grad_program = trace_flat(grad_fun, closed.in_avals)
    entry = _GradEntry()
    entry.program = grad_program
    entry.compiled = _lazy(compile_fn, grad_program)
    entry.out_tree = out_def
    return entry


def grad(fun, argnums=0, has_aux: bool = False, backend: str | None = None):
    """Return a function computing the gradient of ``fun`` (see
    :func:`value_and_grad`). With ``has_aux=True`` it returns ``(grads, aux)``."""
    vg = value_and_grad(fun, argnums, has_aux, backend, _what="grad")

    @functools.wraps(fun)
    def grad_f(*args, **kwargs):
        out, g = vg(*args, **kwargs)
        if has_aux:
            return g, out[1]
        return g

    return grad_f


# ----------------------------------------------------------------------------- vjp

def vjp(fun, *primals, has_aux: bool = False, backend: str | None = None):
    """``(out, vjp_fn)`` with ``vjp_fn(cotangent) -> tuple of cotangents``, one
    per primal, in the primals' structures. The forward pass runs now; the
    backward pass reuses its residuals. With ``has_aux=True``, ``fun`` returns
    ``(out, aux)`` and this returns ``(out, vjp_fn, aux)``."""
    what = "vjp"
    compile_fn = get_backend(backend)
    leaves, treedef, paths, weak = _flatten_args(primals, {}, what)
    ranges = _leaf_ranges(primals)
    wrt = tuple(j for j, x in enumerate(leaves) if x.dtype.kind == "f")
    traced, out_def = _trace_user(fun, treedef, _avals(leaves, weak), what)

    def build(traced):
        n_consts = len(traced.consts)
        program = constants_as_inputs(traced)
        wrt_c = tuple(n_consts + j for j in wrt)
        if has_aux:
            if out_def.node_type not in (tuple, list) or len(out_def.children) != 2:
                raise InputError(f"{what}: with has_aux=True the function must return (out, aux)")
            n_main = out_def.children[0].num_leaves
        else:
            n_main = out_def.num_leaves
        n_in = len(program.in_vars)
        ct_avals = program.out_avals[:n_main]

        def joint(*xs):
            prim, cts = xs[:n_in], xs[n_in:]
            ct_list = [c if a.dtype.kind == "f" else None for c, a in zip(cts, ct_avals)]
            outs, grads = backward_pass(program, prim, wrt_c, ct_list + [None] * (len(program.out_atoms) - n_main))
            return outs + grads

        joint_program = trace_flat(joint, list(program.in_avals) + list(ct_avals))
        forward, backward, known_out = split_program(joint_program, n_in)
        n_outs = len(program.out_atoms)
        if not all(known_out[:n_outs]):  # pragma: no cover - outputs never depend on cotangents
            raise AssertionError("vjp: forward outputs depend on cotangents")
        return (_lazy(compile_fn, forward), forward, _lazy(compile_fn, backward), backward, out_def, n_main,
                known_out[n_outs:], ct_avals)

    cached = program_cache.get_traced(fun, ("vjp", out_def, has_aux, backend), traced, build)
    fwd_c, fwd_p, bwd_c, bwd_p, out_def, n_main, grad_known, ct_avals = cached.entry
    res = _run(fwd_c, fwd_p, cached.consts + list(leaves))
    n_outs = out_def.num_leaves
    n_known_grads = sum(grad_known)
    outs = res[:n_outs]
    known_grads = res[n_outs:n_outs + n_known_grads]
    residuals = res[n_outs + n_known_grads:]
    out_tree = tree_util.unflatten(out_def, outs)
    main_def = out_def.children[0] if has_aux else out_def

    def vjp_fn(cotangent):
        ct_leaves, ct_def = tree_util.flatten(cotangent)
        if ct_def != main_def:
            raise InputError(f"vjp_fn: the cotangent's structure {ct_def} differs from the output's {main_def}")
        cts = []
        for c, a in zip(ct_leaves, ct_avals):
            c = c if isinstance(c, Tracer) else np.asarray(c, dtype=a.dtype)
            if tuple(np.shape(c)) != a.shape:
                raise InputError(f"vjp_fn: cotangent of shape {tuple(np.shape(c))} for an output {a}")
            cts.append(c)
        unknown = iter(_run(bwd_c, bwd_p, list(residuals) + cts))
        # gradients that do not depend on the cotangent were computed by the
        # forward pass: hand out a fresh copy on every call
        known = iter(known_grads) if _trace.tracing() else (
            np.array(g, copy=True) if isinstance(g, np.ndarray) else g for g in known_grads)
        flat = [next(known) if k else next(unknown) for k in grad_known]
        flat_iter = iter(flat)
        full = []
        for x in leaves:
            if x.dtype.kind == "f":
                full.append(next(flat_iter))
            else:  # integer inputs have no cotangent (JAX uses float0 zeros)
                full.append(np.zeros(x.shape, dtype=x.dtype))
        return tuple(tree_util.unflatten(tree_util.structure(p), full[r[0]:r[1]])
                     for p, r in zip(primals, ranges))

    if has_aux:
        return out_tree[0], vjp_fn, out_tree[1]
    return out_tree, vjp_fn


# ----------------------------------------------------------------------------- make_ir

def make_ir(fun, static_argnums=()):
    """Return a function that traces ``fun`` on its arguments and returns the
    Program (print it to read it), like ``jax.make_jaxpr``."""
    static = (static_argnums,) if isinstance(static_argnums, numbers.Integral) else tuple(static_argnums)

    @functools.wraps(fun)
    def make_ir_f(*args, **kwargs):
        for i in static:
            if not isinstance(i, numbers.Integral) or not -len(args) <= i < len(args):
                raise InputError(f"make_ir: static_argnums={static_argnums!r} but the function was called "
                                 f"with {len(args)} positional argument{'s' if len(args) != 1 else ''}")
        statics = {int(i) % len(args): args[i] for i in static}
        dyn_args = tuple(a for i, a in enumerate(args) if i not in statics)
        leaves, treedef, _, weak = _flatten_args(dyn_args, kwargs, "make_ir")

        def call(*a, **k):
            it = iter(a)
            full = [statics[i] if i in statics else next(it) for i in range(len(args))]
            return fun(*full, **k)

        program, _ = _trace_user(call, treedef, _avals(leaves, weak), "make_ir")
        return program

    return make_ir_f


def stop_gradient(x):
    """The identity whose derivative is zero, applied to every leaf of ``x``."""
    return tree_util.map(_stop_gradient_leaf, x)
