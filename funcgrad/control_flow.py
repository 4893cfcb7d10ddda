"""Structured control flow over pytrees: ``fori_loop``, ``while_loop``,
``scan``, ``cond`` and ``switch``, with ``jax.lax``'s signatures.

Python's own ``for`` and ``if`` run while funcgrad traces, so they unroll
(``for``) or need concrete values (``if``). These functions instead trace
their bodies once into Programs held by one equation, which the Numba
backend compiles to a real loop or branch: a whole training epoch, a loop of
10,000 SGD steps or a branch on a traced value becomes part of one compiled
function.

Rules, as in JAX:

- A loop's carry keeps its pytree structure, shapes and dtypes from one
  iteration to the next. A carry that starts as a Python number is weakly
  typed and takes the dtype the body gives it (``fori_loop(0, n, body, 0.0)``
  with a float32 body carries float32); a Python number the body returns is
  cast to the carry's dtype.
- Bodies are pure: what they close over is read, never written.
- ``cond`` and ``switch`` trace every branch; all branches return the same
  structure, shapes and dtypes. ``switch`` clamps its index into range.

Every construct is differentiable in forward mode (``jvp``, ``jacfwd``) and
batches under ``vmap``. Reverse mode (``grad``, ``vjp``) goes through ``cond``,
``switch``, ``scan`` and ``fori_loop`` with static bounds (the forward loop
stacks what the backward loop needs, a reverse loop runs the body's backward
program); through ``while_loop`` it raises an ``UnsupportedError``, as in JAX
(its trip count is known only at run time).
"""
from __future__ import annotations

import numpy as np

from . import tree as tree_util
from .core.ir import Program, ShapedArray
from .core.trace import Tracer, trace_flat
from .errors import DtypeError, InputError, ShapeError, TreeError
from .primitives.control import close_branches, fori_loop_p, scan_p, switch_p, while_loop_p
from .primitives.elementwise import convert_element_type, ne

__all__ = ["fori_loop", "while_loop", "scan", "cond", "switch"]

_PY_NUMBERS = (bool, int, float)


# ----------------------------------------------------------------------------- helpers

def _leaf(x, what: str, where: str):
    """(value, weak) for one input leaf: tracers as they are, numbers as arrays."""
    if isinstance(x, Tracer):
        return x, x.aval.weak_type
    weak = type(x) in _PY_NUMBERS
    if not isinstance(x, (np.ndarray, np.generic, bool, int, float)):
        raise InputError(f"{what}: {where} is a {type(x).__name__} ({x!r:.60}); leaves must be "
                         "arrays or numbers")
    arr = np.asarray(x)
    if arr.dtype.kind not in "biuf":
        raise InputError(f"{what}: {where} has dtype {arr.dtype}; leaves must be boolean, integer "
                         "or floating-point")
    return arr, weak


def _flatten(tree, what: str, name: str):
    flat, treedef = tree_util.flatten_with_path(tree)
    leaves, weak, paths = [], [], []
    for path, x in flat:
        where = f"{name}{tree_util.keystr(path)}"
        v, w = _leaf(x, what, where)
        leaves.append(v)
        weak.append(w)
        paths.append(where)
    return leaves, weak, treedef, paths


def _aval(x, weak=False) -> ShapedArray:
    if isinstance(x, Tracer):
        return x.aval
    return ShapedArray(np.shape(x), x.dtype, weak)


def _cast(x, dtype):
    if isinstance(x, Tracer):
        return convert_element_type(x, dtype) if x.dtype != dtype else x
    return np.asarray(x, dtype=dtype)


class _Traced:
    """A function traced on abstract leaves into a closed Program (captured
    values become leading inputs, listed in ``consts``)."""

    def __init__(self, fun, in_tree, in_avals, what, out_dtypes=None):
        box = {}

        def flat(*leaves):
            out = fun(*tree_util.unflatten(in_tree, leaves))
            flat_out, out_tree = tree_util.flatten_with_path(out)
            values, weak = [], []
            for k, (path, x) in enumerate(flat_out):
                v, w = _leaf(x, what, f"output {tree_util.keystr(path) or ''}".rstrip())
                if out_dtypes is not None and out_dtypes[k] is not None:
                    v = _cast(v, out_dtypes[k])
                values.append(v)
                weak.append(w)
            box["tree"], box["weak"] = out_tree, weak
            box["paths"] = [tree_util.keystr(p) for p, _ in flat_out]
            return values

        program = trace_flat(flat, in_avals)
        self.raw = program
        self.program = Program(list(program.const_vars) + list(program.in_vars), [], [],
                               program.eqns, program.out_atoms)
        self.consts = list(program.consts)
        self.out_tree = box["tree"]
        self.out_weak = box["weak"]
        self.out_paths = box["paths"]

    @property
    def out_avals(self):
        return self.program.out_avals


def _carry_types(what, fun, make_in, carry, carry_weak, carry_paths, carry_tree, select_out):
    """Trace a loop body until its carry output matches its carry input.

    ``make_in(carry_avals) -> (in_tree, in_avals)``; ``select_out(traced) ->
    (avals, weak, tree)`` picks the carry part of the body's output. Weakly
    typed carries take the body's dtype; weakly typed outputs take the
    carry's. Returns ``(traced, carry)`` with ``carry`` possibly promoted.
    """
    casts = None
    for _ in range(3):
        in_tree, in_avals = make_in([_aval(c, w) for c, w in zip(carry, carry_weak)])
        traced = _Traced(fun, in_tree, in_avals, what, casts)
        out_avals, out_weak, out_tree = select_out(traced)
        if out_tree != carry_tree:
            raise TreeError(f"{what}: the body must return the carry's structure {carry_tree}, "
                            f"but returned {out_tree}")
        changed = False
        new_casts = list(casts) if casts else [None] * len(traced.out_avals)
        for k, (o, ow) in enumerate(zip(out_avals, out_weak)):
            c = _aval(carry[k])
            if o.shape != c.shape:
                raise ShapeError(f"{what}: the body returned shape {o.shape} for the carry "
                                 f"{carry_paths[k]}, which has shape {c.shape}; a carry keeps its shape")
            if o.dtype == c.dtype:
                continue
            if ow:                      # a Python number in the body: take the carry's dtype
                new_casts[k] = c.dtype
            elif carry_weak[k]:         # a Python number as the initial value: take the body's
                carry[k] = _cast(carry[k], o.dtype)
                carry_weak[k] = False
            else:
                raise DtypeError(f"{what}: the body returned {o} for the carry {carry_paths[k]}, "
                                 f"which is {c}; a carry keeps its dtype (cast it with astype)")
            changed = True
        if not changed:
            return traced, carry
        casts = new_casts
    raise DtypeError(f"{what}: the carry's dtypes do not settle")  # pragma: no cover


def _unflatten(treedef, leaves):
    return tree_util.unflatten(treedef, list(leaves))


# ----------------------------------------------------------------------------- loops

def fori_loop(lower, upper, body_fun, init_val):
    """``for i in range(lower, upper): val = body_fun(i, val)``; returns ``val``.

    ``lower`` and ``upper`` are integer scalars (traced values allowed); ``i``
    has their dtype. Compiled as one loop, however many iterations.
    """
    what = "fori_loop"
    lo, _ = _leaf(lower, what, "lower")
    hi, _ = _leaf(upper, what, "upper")
    for b, name in ((lo, "lower"), (hi, "upper")):
        if _aval(b).shape != () or _aval(b).dtype.kind not in "iu":
            raise DtypeError(f"{what}: {name} must be an integer scalar, got {_aval(b)}")
    index_dtype = np.result_type(_aval(lo).dtype, _aval(hi).dtype)
    lo, hi = _cast(lo, index_dtype), _cast(hi, index_dtype)
    carry, weak, carry_tree, paths = _flatten(init_val, what, "init_val")
    n = len(carry)

    flat_tree = tree_util.structure((0, [0] * n))   # (i, carry leaves)

    def select(tr):
        return tr.out_avals, tr.out_weak, tr.out_tree

    traced, carry = _carry_types(
        what, lambda i, val: body_fun(i, _unflatten(carry_tree, val)),
        lambda avals: (flat_tree, [ShapedArray((), index_dtype)] + avals),
        carry, weak, paths, carry_tree, select)
    outs = fori_loop_p.bind(lo, hi, *traced.consts, *carry, body=traced.program,
                            num_consts=len(traced.consts))
    return _unflatten(carry_tree, outs)


def while_loop(cond_fun, body_fun, init_val):
    """``while cond_fun(val): val = body_fun(val)``; returns ``val``.

    ``cond_fun`` returns a boolean scalar.
    """
    what = "while_loop"
    carry, weak, carry_tree, paths = _flatten(init_val, what, "init_val")
    n = len(carry)
    flat_tree = tree_util.structure(([0] * n,))   # (carry leaves,)

    def as_tree(leaves):
        return _unflatten(carry_tree, leaves)

    def select(tr):
        return tr.out_avals, tr.out_weak, tr.out_tree

    body, carry = _carry_types(what, lambda val: body_fun(as_tree(val)),
                               lambda avals: (flat_tree, avals), carry, weak, paths, carry_tree, select)
    cond = _Traced(lambda val: cond_fun(as_tree(val)), flat_tree, [_aval(c) for c in carry],
                   what + " (cond_fun)")
    (pred,) = cond.out_avals if len(cond.out_avals) == 1 else (None,)
    if pred is None or pred.shape != () or pred.dtype != np.bool_:
        got = ", ".join(map(str, cond.out_avals)) or "nothing"
        raise DtypeError(f"{what}: cond_fun must return a boolean scalar, got {got}")
    outs = while_loop_p.bind(*cond.consts, *body.consts, *carry, cond=cond.program,
                             body=body.program, cond_nconsts=len(cond.consts),
                             body_nconsts=len(body.consts))
    return _unflatten(carry_tree, outs)


def scan(f, init, xs=None, length=None, reverse=False):
    """Loop ``f(carry, x) -> (carry, y)`` over the leading axis of ``xs``;
    returns ``(carry, ys)`` with the ``y`` of each step stacked.

    ``xs`` is a pytree of arrays sharing their leading length (or ``None``,
    with ``length`` given); ``reverse=True`` walks from the end.
    """
    what = "scan"
    carry, weak, carry_tree, paths = _flatten(init, what, "init")
    xs_leaves, _, xs_tree, xs_paths = _flatten(xs, what, "xs")
    lengths = {_aval(x).shape[0] if _aval(x).shape else None for x in xs_leaves}
    for x, p in zip(xs_leaves, xs_paths):
        if not _aval(x).shape:
            raise ShapeError(f"{what}: {p} is a scalar; every leaf of xs needs a leading axis to scan over")
    if length is not None:
        if not isinstance(length, (int, np.integer)) or length < 0:
            raise InputError(f"{what}: length must be a non-negative int, got {length!r}")
        lengths.add(int(length))
    if len(lengths) != 1:
        if not lengths:
            raise InputError(f"{what}: with xs=None, give the number of steps as length=")
        shapes = ", ".join(f"{p}: {_aval(x).shape}" for x, p in zip(xs_leaves, xs_paths))
        raise ShapeError(f"{what}: the leaves of xs must share their leading length"
                         f"{' and match length=' + str(length) if length is not None else ''}; got {shapes}")
    n_steps = lengths.pop()
    nc, nx = len(carry), len(xs_leaves)
    x_avals = [ShapedArray(_aval(x).shape[1:], _aval(x).dtype) for x in xs_leaves]
    flat_tree = tree_util.structure(([0] * nc, [0] * nx))
    box = {}

    def body(c, x):
        out = f(_unflatten(carry_tree, c), _unflatten(xs_tree, x))
        if not isinstance(out, tuple) or len(out) != 2:
            raise TreeError(f"{what}: f must return a pair (carry, y), got {type(out).__name__}")
        new_c, y = out
        c_leaves, c_tree = tree_util.flatten(new_c)
        y_leaves, y_tree = tree_util.flatten(y)
        box["c_tree"], box["y_tree"], box["ny"] = c_tree, y_tree, len(y_leaves)
        return list(c_leaves) + list(y_leaves)

    def select(tr):
        return tr.out_avals[:nc], tr.out_weak[:nc], box["c_tree"]

    traced, carry = _carry_types(what, body, lambda avals: (flat_tree, avals + x_avals),
                                 carry, weak, paths, carry_tree, select)
    outs = scan_p.bind(*traced.consts, *carry, *xs_leaves, body=traced.program,
                       num_consts=len(traced.consts), num_carry=nc, length=n_steps,
                       reverse=bool(reverse))
    return _unflatten(carry_tree, outs[:nc]), _unflatten(box["y_tree"], outs[nc:])


# ----------------------------------------------------------------------------- branches

def switch(index, branches, *operands):
    """``branches[index](*operands)``, with ``index`` clamped to
    ``[0, len(branches) - 1]``. Every branch is traced; only one runs."""
    what = "switch"
    branches = list(branches)
    if not branches or not all(callable(b) for b in branches):
        raise InputError(f"{what}: branches must be a non-empty sequence of functions")
    idx, _ = _leaf(index, what, "index")
    ia = _aval(idx)
    if ia.shape != () or ia.dtype.kind not in "iub":
        raise DtypeError(f"{what}: the index must be an integer scalar, got {ia}")
    if ia.dtype.kind == "b":
        idx = _cast(idx, np.int32)
    return _branches(what, idx, branches, operands)


def cond(pred, true_fun, false_fun, *operands):
    """``true_fun(*operands) if pred else false_fun(*operands)`` on a traced
    ``pred`` (a boolean or number scalar; nonzero is true). Both branches are
    traced and must return the same structure, shapes and dtypes."""
    what = "cond"
    p, _ = _leaf(pred, what, "pred")
    pa = _aval(p)
    if pa.shape != () or pa.dtype.kind not in "biuf":
        raise DtypeError(f"{what}: pred must be a boolean or number scalar, got {pa}")
    if pa.dtype.kind != "b":
        p = ne(p, np.zeros((), pa.dtype)) if isinstance(p, Tracer) else np.asarray(p != 0)
    return _branches(what, _cast(p, np.int32), [false_fun, true_fun], operands)


def _branches(what, index, funs, operands):
    ops, _, ops_tree, _ = _flatten(operands, what, "operands")
    avals = [_aval(o) for o in ops]
    traced = [_Traced(lambda *args, f=f: f(*args), ops_tree, avals, what) for f in funs]
    traced = _join_branch_types(what, funs, traced, ops_tree, avals)
    programs, consts = close_branches([t.raw for t in traced])
    outs = switch_p.bind(index, *consts, *ops, branches=tuple(programs))
    return _unflatten(traced[0].out_tree, outs)


def _join_branch_types(what, funs, traced, ops_tree, avals):
    first = traced[0]
    for k, t in enumerate(traced[1:], 1):
        if t.out_tree != first.out_tree:
            raise TreeError(f"{what}: branch {k} returns {t.out_tree} but branch 0 returns {first.out_tree}; "
                            "branches must return the same structure")
    n = len(first.out_avals)
    targets = []
    for i in range(n):
        outs = [(t.out_avals[i], t.out_weak[i]) for t in traced]
        shapes = {a.shape for a, _ in outs}
        if len(shapes) != 1:
            raise ShapeError(f"{what}: branches return different shapes for output "
                             f"{first.out_paths[i] or i}: " + ", ".join(str(a) for a, _ in outs))
        strong = {a.dtype for a, w in outs if not w}
        dtypes = {a.dtype for a, _ in outs}
        if len(dtypes) == 1:
            targets.append(None)
        elif len(strong) == 1:
            targets.append(strong.pop())
        elif not strong:
            targets.append(np.result_type(*dtypes))
        else:
            raise DtypeError(f"{what}: branches return different dtypes for output "
                             f"{first.out_paths[i] or i}: " + ", ".join(str(a) for a, _ in outs))
    if all(t is None for t in targets):
        return traced
    return [_Traced(lambda *args, f=f: f(*args), ops_tree, avals, what, targets) for f in funs]
