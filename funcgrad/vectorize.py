"""``vmap``: a function of one example applied to a batch, as ``jax.vmap``.

The function is traced once on one example's shapes and its program is run
by the batching interpreter (``funcgrad.transforms.batching.batch_program``),
which rewrites every equation to work on whole batches: the result is one
program (one compiled call), not a Python loop. ``vmap`` composes with
``grad``, ``jit``, ``jvp`` and itself::

    per_example = fg.jit(fg.vmap(fg.grad(loss), in_axes=(None, 0, 0)))(params, x, y)
"""
from __future__ import annotations

import functools
import numbers

from . import tree as tree_util
from .api import _flatten_selected, _trace_user
from .core.trace import aval_of
from .core.ir import ShapedArray
from .errors import InputError
from .staging import call_staged
from .transforms.batching import BatchError, batch_program, move_to

__all__ = ["vmap", "BatchError"]


def _axis_spec(spec, what, name):
    if spec is None or isinstance(spec, numbers.Integral) and not isinstance(spec, bool):
        return spec
    raise InputError(f"{what}: {name} entries must be an int or None, got {spec!r}")


def _broadcast_prefix(prefix, tree, what, name, arg_names):
    """One axis per leaf of ``tree``, from ``prefix`` (an int or None for a whole
    subtree, or a tree whose structure is a prefix of ``tree``'s)."""
    out = []

    def walk(p, t, path):
        if p is None or isinstance(p, numbers.Integral):
            out.extend([_axis_spec(p, what, name)] * tree_util.structure(t).num_leaves)
            return
        if isinstance(p, (tuple, list)) and isinstance(t, (tuple, list)) and len(p) == len(t):
            for k, (pp, tt) in enumerate(zip(p, t)):
                walk(pp, tt, path + [arg_names(k) if not path else f"[{k}]"])
            return
        if isinstance(p, dict) and isinstance(t, dict) and set(p) == set(t):
            for k in sorted(t):
                walk(p[k], t[k], path + [f"[{k!r}]"])
            return
        p_def, t_def = tree_util.structure(p, is_leaf=lambda x: x is None), tree_util.structure(t)
        where = "".join(path) or "the arguments"
        raise InputError(f"{what}: {name} {p!r} does not match the structure of {where} "
                         f"({t_def}, {p_def}); give an int or None per argument, or a tree that is "
                         "a prefix of the argument's")

    walk(prefix, tree, [])
    return out


def vmap(fun, in_axes=0, out_axes=0, axis_size: int | None = None, backend: str | None = None):
    """Vectorize ``fun`` over a batch axis of its arguments, as ``jax.vmap``.

    ``in_axes``: an int (the batch axis of every argument), ``None`` (not
    batched: the same value for every example), or a tuple with one entry per
    positional argument, each an int, None, or a pytree prefix of that
    argument. ``out_axes``: where the batch axis goes in each output (int,
    None for an output that is the same for every example, or a pytree
    prefix of the output). ``axis_size`` is needed only when no argument is
    batched."""
    what = f"vmap of {_name(fun)}"
    if isinstance(in_axes, list):
        in_axes = tuple(in_axes)

    @functools.wraps(fun)
    def vmapped(*args, **kwargs):
        if kwargs:
            raise InputError(f"{what}: keyword arguments are not batched; pass them positionally "
                             "(with an in_axes entry) or through a closure")
        if isinstance(in_axes, tuple) and len(in_axes) != len(args):
            raise InputError(f"{what}: in_axes has {len(in_axes)} entries but the function was called "
                             f"with {len(args)} positional argument{'s' if len(args) != 1 else ''}")
        leaves, treedef, paths, weak = _flatten_selected(tuple(args), range(len(args)), what)
        prefix = in_axes if isinstance(in_axes, tuple) else (in_axes,) * len(args)
        dims = _broadcast_prefix(prefix, args, what, "in_axes", lambda k: f"argument {k}")
        size = _batch_size(leaves, dims, paths, axis_size, what)
        dims = [None if d is None else d % max(aval_of(x).ndim, 1) for d, x in zip(dims, leaves)]
        one = [ShapedArray(_drop(aval_of(x).shape, d), aval_of(x).dtype, w)
               for x, d, w in zip(leaves, dims, weak)]
        box = []

        def flat_fun(*xs):
            program, out_def = _trace_user(fun, treedef, one, what, positional=True)
            outs, out_dims = batch_program(program, list(xs), dims, size)
            out_tree = tree_util.unflatten(out_def, [0] * out_def.num_leaves)
            targets = _broadcast_prefix(out_axes, out_tree, what, "out_axes",
                                        lambda k: f"output {k}") if not isinstance(
                out_axes, (numbers.Integral, type(None))) else [out_axes] * len(outs)
            result = []
            for k, (o, d, t) in enumerate(zip(outs, out_dims, targets)):
                if t is None:
                    if d is not None:
                        raise BatchError(f"{what}: out_axes is None for output {k} ({aval_of(o)}), "
                                         "but it differs from example to example (it depends on a "
                                         "batched argument)")
                    result.append(o)
                    continue
                nd = aval_of(o).ndim + (1 if d is None else 0)
                if not -nd <= t < nd:
                    raise BatchError(f"{what}: out_axes {t} is out of range for output {k}, which has "
                                     f"{nd} dimensions batched")
                result.append(move_to(o, d, t % nd, size))
            box[:] = [out_def]
            return result

        res = call_staged(fun, ("vmap", tuple(dims), size, _freeze(out_axes)), flat_fun, leaves, weak, backend)
        return tree_util.unflatten(box[0], res)

    return vmapped


def _name(fun) -> str:
    """The function's name for error messages (``vmap of loss: ...``)."""
    return getattr(fun, "__name__", None) or type(fun).__name__


def _freeze(spec):
    leaves, treedef = tree_util.flatten(spec, is_leaf=lambda x: x is None)
    return (treedef, tuple(leaves))


def _drop(shape, d):
    return shape if d is None else shape[:d] + shape[d + 1:]


def _batch_size(leaves, dims, paths, axis_size, what):
    sizes = {}
    for x, d, path in zip(leaves, dims, paths):
        if d is None:
            continue
        shape = aval_of(x).shape
        if not -len(shape) <= d < len(shape) or not shape:
            raise BatchError(f"{what}: in_axes {d} is out of range for {path}, an array of shape "
                             f"{tuple(shape)} ({aval_of(x).dtype})")
        sizes.setdefault(shape[d], []).append(f"{path} (shape {tuple(shape)}, axis {d})")
    if not sizes:
        if axis_size is None:
            raise BatchError(f"{what}: no argument is batched (every in_axes is None); give axis_size")
        return int(axis_size)
    if len(sizes) > 1:
        parts = "; ".join(f"size {n}: {', '.join(ps)}" for n, ps in sizes.items())
        raise BatchError(f"{what}: the batched arguments have different sizes along their batch axes: {parts}")
    (size,) = sizes
    if axis_size is not None and int(axis_size) != size:
        raise BatchError(f"{what}: axis_size={axis_size} but the batched arguments have size {size}")
    return size
