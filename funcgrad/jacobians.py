"""Forward mode and Jacobians: ``jvp``, ``linearize``, ``jacfwd``, ``jacrev``,
``hessian``, ``hvp``, with JAX's signatures and output structures.

``jvp`` traces the function and runs the forward-mode interpreter
(``funcgrad.transforms.jvp.jvp_program``) over its program; the Jacobians are
compositions, as in JAX: ``jacfwd`` is ``vmap`` of ``jvp`` over the columns of
the identity, ``jacrev`` is ``vmap`` of ``vjp`` over its rows, ``hessian`` is
``jacfwd(jacrev(f))`` and ``hvp`` is forward-over-reverse,
``jvp(grad(f), (x,), (v,))``. Each call outside a trace is one compiled
program (:mod:`funcgrad.staging`).
"""
from __future__ import annotations

import functools

import numpy as np

from . import tree as tree_util
from .api import _flatten_selected, _normalize_argnums, _trace_user, grad, vjp
from .core.trace import Tracer, aval_of
from .errors import InputError
from .staging import avals_of, call_split, call_staged
from .transforms.jvp import jvp_program, zeros
from .vectorize import _name

__all__ = ["jvp", "linearize", "jacfwd", "jacrev", "jacobian", "hessian", "hvp"]


def _args_tuple(x, what, name):
    if not isinstance(x, (tuple, list)):
        raise InputError(f"{what}: {name} must be a tuple or list of the function's arguments "
                         f"(one entry per positional argument), got a {type(x).__name__}")
    return tuple(x)


def _leaves(args, what):
    """Leaves, treedef, paths ("argument 1['W']") and weak flags of a tuple of arguments."""
    return _flatten_selected(tuple(args), range(len(args)), what)


def _check_tangents(primals, tangents, what, kind="tangent"):
    """Primal leaves, their treedef, and tangent leaves matched to them (cast
    Python numbers; ``None`` for integer primals, which have no tangent)."""
    leaves, treedef, paths, weak = _leaves(primals, what)
    t_flat, t_def = tree_util.flatten(tangents)
    if t_def != treedef:
        raise InputError(f"{what}: the {kind}s' structure {t_def} differs from the primals' {treedef}")
    tans = []
    for x, t, path in zip(leaves, t_flat, paths):
        ax = aval_of(x)
        if ax.dtype.kind != "f":
            tans.append(None)
            continue
        if not isinstance(t, Tracer):
            if isinstance(t, (np.ndarray, np.generic)) and t.dtype != ax.dtype and t.dtype.kind == "f":
                raise InputError(f"{what}: the {kind} of {path} has dtype {t.dtype} but the primal is "
                                 f"{ax}; they must have one dtype")
            t = np.asarray(t, dtype=ax.dtype)
        at = aval_of(t)
        if at.shape != ax.shape or at.dtype != ax.dtype:
            raise InputError(f"{what}: the {kind} of {path} is {at} but the primal is {ax}; "
                             f"each {kind} must have its primal's shape and dtype")
        tans.append(t)
    return leaves, treedef, weak, tans


def _main_def(out_def, has_aux, what):
    if not has_aux:
        return out_def
    if out_def.node_type not in (tuple, list) or len(out_def.children) != 2:
        raise InputError(f"{what}: with has_aux=True the function must return a pair (out, aux), "
                         f"got a tree {out_def}")
    return out_def.children[0]


def _zero_tangent(o):
    a = aval_of(o)
    if a.dtype.kind == "f":
        return zeros(a)
    return np.zeros(a.shape, a.dtype)   # integer outputs: zeros of their dtype (JAX: float0)


# ----------------------------------------------------------------------------- jvp

def _jvp_flat(fun, treedef, avals, n, has_aux, what, out_box):
    """A flat function ``(*primals, *float tangents) -> (*outs, *out tangents)``."""
    def flat(*xs):
        prim = list(xs[:n])
        t_iter = iter(xs[n:])
        tans = [next(t_iter) if a.dtype.kind == "f" else None for a in avals]
        program, out_def = _trace_user(fun, treedef, [aval_of(p) if isinstance(p, Tracer) else a
                                                      for p, a in zip(prim, avals)], what, positional=True)
        n_main = _main_def(out_def, has_aux, what).num_leaves
        outs, out_tans = jvp_program(program, prim, tans)
        out_box[:] = [out_def, n_main]
        return list(outs), [t if t is not None else _zero_tangent(o)
                            for o, t in zip(outs[:n_main], out_tans[:n_main])]
    return flat


def jvp(fun, primals, tangents, has_aux: bool = False, backend: str | None = None):
    """``(fun(*primals), J @ tangents)``: forward mode, as ``jax.jvp``.

    ``primals`` and ``tangents`` are tuples (one entry per positional argument
    of ``fun``, pytrees with matching structure, shapes and dtypes). With
    ``has_aux=True``, ``fun`` returns ``(out, aux)`` and this returns
    ``(out, tangent_out, aux)``. Tangents of integer inputs are ignored; those of
    integer outputs are zeros of their dtype."""
    what = f"jvp of {_name(fun)}"
    primals = _args_tuple(primals, what, "primals")
    tangents = _args_tuple(tangents, what, "tangents")
    leaves, treedef, weak, tans = _check_tangents(primals, tangents, what)
    avals = avals_of(leaves, weak)
    out_box = []
    flat = _jvp_flat(fun, treedef, avals, len(leaves), has_aux, what, out_box)

    def staged(*xs):
        outs, out_tans = flat(*xs)
        return outs + out_tans

    float_tans = [t for t in tans if t is not None]
    res = call_staged(fun, ("jvp", has_aux), staged, list(leaves) + float_tans,
                      weak + (False,) * len(float_tans), backend)
    out_def, n_main = out_box
    outs, out_tans = res[:out_def.num_leaves], res[out_def.num_leaves:]
    out = tree_util.unflatten(out_def, outs)
    main_def = _main_def(out_def, has_aux, what)
    tangent_out = tree_util.unflatten(main_def, out_tans)
    if has_aux:
        return out[0], tangent_out, out[1]
    return out, tangent_out


def linearize(fun, *primals, backend: str | None = None):
    """``(fun(*primals), f_jvp)``: the forward pass runs once, now; each call
    ``f_jvp(*tangents)`` computes ``J @ tangents`` from its stored residuals (the
    part of the JVP program that depends on the tangents only), as ``jax.linearize``."""
    what = f"linearize of {_name(fun)}"
    leaves, treedef, paths, weak = _leaves(primals, what)
    avals = avals_of(leaves, weak)
    float_avals = [a for a in avals if a.dtype.kind == "f"]
    out_box = []
    flat = _jvp_flat(fun, treedef, avals, len(leaves), False, what, out_box)
    outs, finish = call_split(fun, ("linearize",), flat, list(leaves), float_avals, weak, backend)
    out_def, n_main = out_box
    out = tree_util.unflatten(out_def, outs)

    @functools.wraps(fun)
    def f_jvp(*tangents):
        if len(tangents) != len(primals):
            raise InputError(f"linearize: f_jvp takes {len(primals)} tangent"
                             f"{'s' if len(primals) != 1 else ''} (one per primal), got {len(tangents)}")
        _, _, _, tans = _check_tangents(primals, tangents, "linearize's f_jvp")
        return tree_util.unflatten(out_def, finish(*[t for t in tans if t is not None]))

    return out, f_jvp


# ----------------------------------------------------------------------------- Jacobians

def _diff_leaves(args, nums, what):
    diff = tuple(args[i] for i in nums)
    leaves, treedef, paths, weak = _leaves(diff, what)
    for x, path in zip(leaves, paths):
        if aval_of(x).dtype.kind != "f":
            k = int(path.split()[1].split("[")[0]) if path.startswith("argument") else 0
            raise InputError(f"{what}: cannot differentiate with respect to argument {nums[k]}"
                             f"{path[len('argument ' + str(k)):]}, an array of dtype {aval_of(x).dtype} "
                             f"(shape {aval_of(x).shape}); only floating-point inputs have derivatives")
    return diff, leaves, treedef, weak


def _with(args, nums, diff):
    full = list(args)
    for i, a in zip(nums, diff):
        full[i] = a
    return full


def _basis(avals):
    """Per leaf, the rows of the identity over all the leaves' elements:
    leaf ``j`` gets shape ``(N,) + shape_j``."""
    sizes = [a.size for a in avals]
    total, start, out = sum(sizes), 0, []
    for a, n in zip(avals, sizes):
        b = np.zeros((total, n), a.dtype)
        b[start + np.arange(n), np.arange(n)] = 1
        out.append(b.reshape((total,) + a.shape))
        start += n
    return out


def _split_rows(stacked, avals, rows_last):
    """``stacked``: ``(N,) + R`` with ``N`` running over the flattened elements
    of ``avals``; one array per aval: shaped ``R + aval.shape`` when ``rows_last``
    (the forward Jacobian's columns), else ``aval.shape + R``."""
    from .primitives import reshape, slice_, transpose

    shape = aval_of(stacked).shape
    rest, nd = shape[1:], len(shape)
    out, start = [], 0
    for a in avals:
        n = a.size
        part = stacked
        if (start, start + n) != (0, shape[0]):
            part = slice_(stacked, (start,) + (0,) * (nd - 1), (start + n,) + rest, (1,) * nd)
        part = reshape(part, a.shape + rest)
        if rows_last:
            k = len(a.shape)
            part = transpose(part, tuple(range(k, k + len(rest))) + tuple(range(k)))
        out.append(part)
        start += n
    return out


def _check_aux_pair(out, what):
    if not isinstance(out, (tuple, list)) or len(out) != 2:
        raise InputError(f"{what}: with has_aux=True the function must return a pair (out, aux)")


def _check_float_outputs(out_leaves, what):
    for o in out_leaves:
        if aval_of(o).dtype.kind != "f":
            raise InputError(f"{what}: the function returns an output of dtype {aval_of(o).dtype} "
                             f"(shape {aval_of(o).shape}); Jacobians need floating-point outputs. "
                             "Cast it with .astype(float), or return it as aux (has_aux=True)")


def _jacobian_tree(out_def, per_output, diff_def, single):
    """JAX's structure: the output's tree, each leaf the tree of the inputs
    (a tuple over argnums when argnums is a tuple)."""
    trees = []
    for leaves in per_output:
        t = tree_util.unflatten(diff_def, leaves)
        trees.append(t[0] if single else tuple(t))
    return tree_util.unflatten(out_def, trees)


def jacfwd(fun, argnums=0, has_aux: bool = False, backend: str | None = None):
    """The Jacobian of ``fun`` by forward mode (``vmap`` of ``jvp`` over the
    columns of the identity), as ``jax.jacfwd``: for an output leaf of shape
    ``S`` and an input leaf of shape ``T``, an array of shape ``S + T``."""
    return _jacobian(fun, argnums, has_aux, backend, "jacfwd", forward=True)


def jacrev(fun, argnums=0, has_aux: bool = False, backend: str | None = None):
    """The Jacobian of ``fun`` by reverse mode (``vmap`` of ``vjp`` over the
    rows of the identity), as ``jax.jacrev``; same structure as :func:`jacfwd`."""
    return _jacobian(fun, argnums, has_aux, backend, "jacrev", forward=False)


jacobian = jacrev


def _jacobian(fun, argnums, has_aux, backend, what, forward):
    from .vectorize import vmap

    what = f"{what} of {_name(fun)}"

    @functools.wraps(fun)
    def jac_f(*args, **kwargs):
        single, nums = _normalize_argnums(argnums, len(args), what)
        diff, leaves, diff_def, weak = _diff_leaves(args, nums, what)
        box = []

        def flat(*xs):
            x_avals = [aval_of(x) for x in xs]
            diff_now = tree_util.unflatten(diff_def, list(xs))

            def f_diff(*d):
                return fun(*_with(args, nums, d), **kwargs)

            if forward:
                primal = f_diff(*diff_now)     # its structure and aux; DCE drops the rest
                out, aux = (primal[0], primal[1]) if has_aux else (primal, None)
                if has_aux:
                    _check_aux_pair(primal, what)
                out_leaves, out_def = tree_util.flatten(out)
                _check_float_outputs(out_leaves, what)

                def push(*t_leaves):
                    res = jvp(f_diff, diff_now, tree_util.unflatten(diff_def, list(t_leaves)),
                              has_aux=has_aux)
                    return tree_util.leaves(res[1])
                cols = vmap(push)(*_basis(x_avals))
                cols = list(cols) if isinstance(cols, (list, tuple)) else [cols]
                # cols[i]: (N,) + S_i over the flattened inputs -> per input leaf S_i + T_j
                per_output = [_split_rows(c, x_avals, rows_last=True) for c in cols]
            else:
                res = vjp(f_diff, *diff_now, has_aux=has_aux)
                out, vjp_fn = res[0], res[1]
                aux = res[2] if has_aux else None
                out_leaves, out_def = tree_util.flatten(out)
                _check_float_outputs(out_leaves, what)
                o_avals = [aval_of(o) for o in out_leaves]

                def pull(*c):
                    return tree_util.leaves(vjp_fn(tree_util.unflatten(out_def, list(c))))
                rows = vmap(pull)(*_basis(o_avals))
                rows = list(rows) if isinstance(rows, (list, tuple)) else [rows]
                # rows[j]: (M,) + T_j over the flattened outputs -> per output leaf S_i + T_j
                per_input = [_split_rows(r, o_avals, rows_last=False) for r in rows]
                per_output = [[per_input[j][i] for j in range(len(rows))] for i in range(len(o_avals))]
            aux_leaves, aux_def = tree_util.flatten(aux)
            box[:] = [out_def, aux_def, len(aux_leaves), [len(p) for p in per_output]]
            return [a for p in per_output for a in p] + list(aux_leaves)

        res = call_staged(fun, (what, nums, has_aux, tuple(sorted(kwargs))), flat, list(leaves), weak, backend)
        out_def, aux_def, n_aux, widths = box
        per_output, k = [], 0
        for w in widths:
            per_output.append(res[k:k + w])
            k += w
        jac = _jacobian_tree(out_def, per_output, diff_def, single)
        if has_aux:
            return jac, tree_util.unflatten(aux_def, res[k:k + n_aux])
        return jac

    return jac_f


def hessian(fun, argnums=0, has_aux: bool = False, backend: str | None = None):
    """The Hessian of a scalar ``fun``: ``jacfwd(jacrev(fun))``, as ``jax.hessian``."""
    return jacfwd(jacrev(fun, argnums, has_aux=has_aux), argnums, has_aux=has_aux, backend=backend)


def hvp(fun, primal, tangent, backend: str | None = None):
    """The Hessian-vector product ``H(x) @ v`` of a scalar ``fun`` of one argument
    (any pytree), by forward-over-reverse (``jvp`` of ``grad``), without forming H."""
    return jvp(grad(fun), (primal,), (tangent,), backend=backend)[1]
