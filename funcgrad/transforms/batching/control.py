"""Batching rules of the control-flow primitives (:mod:`funcgrad.primitives.control`),
registered in :data:`funcgrad.transforms.batching.batch_rules`.

A batched loop is one loop over batched carries: its body is the original
body batched (``batch_program`` traced into a closed Program) and bound with
the same primitive, so that it compiles with the backends and nests. Batched
values enter bodies with their batch dimension first.

Which carries are batched is a fixed point, as in JAX: a carry unbatched at
entry is batched after an iteration if the body mixes a batched value into it.
The body is batched with the carries known to be batched, and rebatched with
more until the set stops growing; carries in the set are broadcast to the
batch at entry.

- ``fori_loop`` with batched bounds (a trip count per example) becomes a
  ``while_loop`` over ``(i, *carry)`` with the batched predicate ``i < hi``.
- ``while_loop`` with a batched predicate (a condition per example) loops
  while any example's condition holds, and updates only the examples whose
  condition still holds (a ``select`` per carry); every carry is batched.
- ``scan``: batched ``xs`` are scanned with their batch dimension at 1 (the
  scanned axis is 0); batched ``ys`` come out with their batch dimension at 1.
- ``switch`` with an unbatched index batches each branch (outputs batched in
  any branch are batched, at 0, in all of them). With a batched index, every
  branch runs on the whole batch and a chain of ``select`` over the clamped
  index picks each example's result, as ``jax.lax.switch`` does under vmap.
"""
from __future__ import annotations

import numpy as np

from ...core.evaluate import eval_program
from ...core.ir import Program, ShapedArray
from ...core.trace import aval_of, trace_flat
from ...primitives.control import close_branches, fori_loop_p, scan_p, switch_p, while_loop_p
from ...primitives.elementwise import add, convert_element_type, eq, lt, max_, min_, ne, select
from ...primitives.reduction import reduce_sum
from ...primitives.shape import broadcast_to, reshape
from . import batch_program, batch_rules, move_to, moveaxis, to_front

__all__ = []


def _norm(x, d):
    return None if d is None else d % aval_of(x).ndim


def _front(x, d):
    """A batched value with its batch dimension first; an unbatched one as it is."""
    return x if d is None else moveaxis(x, d, 0)


def _batched_aval(aval, d, axis_size) -> ShapedArray:
    if d is None:
        return aval
    shape = tuple(aval.shape)
    return ShapedArray(shape[:d] + (axis_size,) + shape[d:], aval.dtype)


def _batch_fun(program, in_dims, axis_size, want, box):
    """``program`` batched, as a function to trace: its outputs in ``want``
    (or batched) come out batched at 0, the others unbatched. ``box["b"]``
    gets which outputs the batched program batches."""
    def fun(*args):
        outs, dims = batch_program(program, list(args), list(in_dims), axis_size)
        b = [d is not None for d in dims]
        box["b"] = b
        mask = b if want is None else [w or x for w, x in zip(want, b)]
        return [move_to(o, d, 0, axis_size) if m else o for o, d, m in zip(outs, dims, mask)]
    return fun


def _trace_closed(fun, in_avals):
    """``fun`` traced into a closed Program: the constants it captured become
    leading inputs. Returns ``(program, consts)``."""
    p = trace_flat(fun, in_avals)
    return Program(list(p.const_vars) + list(p.in_vars), [], [], p.eqns, p.out_atoms), list(p.consts)


def _batch_body(program, in_dims, axis_size, want):
    """``program`` batched (inputs at ``in_dims``, 0 or None), traced into a
    closed Program. Returns ``(program, consts, out_batched)``."""
    box = {}
    in_avals = [_batched_aval(a, d, axis_size) for a, d in zip(program.in_avals, in_dims)]
    closed, consts = _trace_closed(_batch_fun(program, in_dims, axis_size, want, box), in_avals)
    return closed, consts, box["b"]


def _carry_fixed_point(trace, carry_b, limit):
    """Rebatch (``trace(carry_b) -> (result, out_b)``) until the batched
    carries contain those the body batches."""
    carry_b = list(carry_b)
    for _ in range(limit + 2):
        result, out_b = trace(carry_b)
        grown = [a or b for a, b in zip(carry_b, out_b)]
        if grown == carry_b:
            return result, carry_b
        carry_b = grown
    raise AssertionError("vmap: the batched carries did not settle")  # pragma: no cover


def _enter(values, dims, batched, axis_size):
    """Values for a loop's carry: those in ``batched`` at 0 (broadcast if needed)."""
    return [to_front(v, d, axis_size) if b else v for v, d, b in zip(values, dims, batched)]


# ----------------------------------------------------------------------------- fori_loop

def _fori_batch(axis_size, args, dims, *, body, num_consts):
    dims = [_norm(a, d) for a, d in zip(args, dims)]
    lo, hi = args[:2]
    if dims[0] is not None or dims[1] is not None:
        return _fori_batched_bounds(axis_size, args, dims, body, num_consts)
    nc = num_consts
    consts = [_front(c, d) for c, d in zip(args[2:2 + nc], dims[2:2 + nc])]
    c_dims = [None if d is None else 0 for d in dims[2:2 + nc]]
    carry, x_dims = list(args[2 + nc:]), dims[2 + nc:]
    nx = len(carry)

    def trace(x_b):
        in_dims = c_dims + [None] + [0 if b else None for b in x_b]
        prog, extra, out_b = _batch_body(body, in_dims, axis_size, x_b)
        return (prog, extra), out_b

    (new_body, extra), x_b = _carry_fixed_point(trace, [d is not None for d in x_dims], nx)
    outs = fori_loop_p.bind(lo, hi, *extra, *consts, *_enter(carry, x_dims, x_b, axis_size),
                            body=new_body, num_consts=len(extra) + nc)
    return list(outs), [0 if b else None for b in x_b]


def _fori_batched_bounds(axis_size, args, dims, body, num_consts):
    """A trip count per example: ``while i < hi: i, carry = i + 1, body(i, carry)``,
    batched with a batched predicate."""
    nc = num_consts
    i_aval = body.in_avals[nc]
    c_avals, x_avals = body.in_avals[:nc], body.in_avals[nc + 1:]
    index_dtype = i_aval.dtype
    lo, hi = (convert_element_type(b, index_dtype) for b in args[:2])
    scalar = ShapedArray((), index_dtype)

    cond, c_extra = _trace_closed(lambda h, i, *carry: [lt(i, h)], [scalar, scalar] + list(x_avals))

    def step(*a):
        consts, i, carry = list(a[:nc]), a[nc], list(a[nc + 1:])
        return [add(i, np.asarray(1, index_dtype))] + list(eval_program(body, consts + [i] + carry))

    wbody, b_extra = _trace_closed(step, list(c_avals) + [scalar] + list(x_avals))
    w_args = list(c_extra) + [hi] + list(b_extra) + list(args[2:2 + nc]) + [lo] + list(args[2 + nc:])
    w_dims = ([None] * len(c_extra) + [dims[1]] + [None] * len(b_extra) + list(dims[2:2 + nc])
              + [dims[0]] + list(dims[2 + nc:]))
    outs, out_dims = _while_batch(axis_size, w_args, w_dims, cond=cond, body=wbody,
                                  cond_nconsts=len(c_extra) + 1, body_nconsts=len(b_extra) + nc)
    return list(outs[1:]), list(out_dims[1:])


batch_rules[fori_loop_p] = _fori_batch


# ----------------------------------------------------------------------------- while_loop

def _any(pred):
    """Whether any element of a boolean vector is true (a boolean scalar)."""
    count = reduce_sum(convert_element_type(pred, np.int32), axes=(0,))
    return ne(count, np.asarray(0, np.int32))


def _where_batched(pred, new, old):
    """``new`` where the example's ``pred`` (shape ``(B,)``) holds, else ``old``
    (both batched at 0)."""
    shape = aval_of(new).shape
    if len(shape) > 1:
        pred = broadcast_to(reshape(pred, (shape[0],) + (1,) * (len(shape) - 1)), shape)
    return select(pred, new, old)


def _while_batch(axis_size, args, dims, *, cond, body, cond_nconsts, body_nconsts):
    dims = [_norm(a, d) for a, d in zip(args, dims)]
    ncc, nbc = cond_nconsts, body_nconsts
    cc = [_front(c, d) for c, d in zip(args[:ncc], dims[:ncc])]
    cc_dims = [None if d is None else 0 for d in dims[:ncc]]
    bc = [_front(c, d) for c, d in zip(args[ncc:ncc + nbc], dims[ncc:ncc + nbc])]
    bc_dims = [None if d is None else 0 for d in dims[ncc:ncc + nbc]]
    carry, x_dims = list(args[ncc + nbc:]), dims[ncc + nbc:]
    nx = len(carry)

    def trace(x_b):
        in_dims = bc_dims + [0 if b else None for b in x_b]
        prog, extra, out_b = _batch_body(body, in_dims, axis_size, x_b)
        return (prog, extra), out_b

    (new_body, b_extra), x_b = _carry_fixed_point(trace, [d is not None for d in x_dims], nx)
    cond_dims = cc_dims + [0 if b else None for b in x_b]
    new_cond, c_extra, (pred_b,) = _batch_body(cond, cond_dims, axis_size, [False])

    if not pred_b:
        outs = while_loop_p.bind(*c_extra, *cc, *b_extra, *bc, *_enter(carry, x_dims, x_b, axis_size),
                                 cond=new_cond, body=new_body, cond_nconsts=len(c_extra) + ncc,
                                 body_nconsts=len(b_extra) + nbc)
        return list(outs), [0 if b else None for b in x_b]

    # a condition per example: every carry is batched; loop while any holds
    all_dims = [0] * nx

    def any_cond(*a):
        outs, (d,) = batch_program(cond, list(a), cc_dims + all_dims, axis_size)
        return [_any(move_to(outs[0], d, 0, axis_size))]

    x_avals = [_batched_aval(v, 0, axis_size) for v in body.in_avals[nbc:]]
    cc_avals = [_batched_aval(v, d, axis_size) for v, d in zip(cond.in_avals[:ncc], cc_dims)]
    bc_avals = [_batched_aval(v, d, axis_size) for v, d in zip(body.in_avals[:nbc], bc_dims)]
    w_cond, wc_extra = _trace_closed(any_cond, cc_avals + x_avals)

    def masked_body(*a):
        ccs, bcs, xs = list(a[:ncc]), list(a[ncc:ncc + nbc]), list(a[ncc + nbc:])
        (pred,), (pd,) = batch_program(cond, ccs + xs, cc_dims + all_dims, axis_size)
        pred = move_to(pred, pd, 0, axis_size)
        new, new_dims = batch_program(body, bcs + xs, bc_dims + all_dims, axis_size)
        new = [move_to(v, d, 0, axis_size) for v, d in zip(new, new_dims)]
        return [_where_batched(pred, n, o) for n, o in zip(new, xs)]

    w_body, wb_extra = _trace_closed(masked_body, cc_avals + bc_avals + x_avals)
    outs = while_loop_p.bind(*wc_extra, *cc, *wb_extra, *cc, *bc,
                             *_enter(carry, x_dims, [True] * nx, axis_size),
                             cond=w_cond, body=w_body, cond_nconsts=len(wc_extra) + ncc,
                             body_nconsts=len(wb_extra) + ncc + nbc)
    return list(outs), all_dims


batch_rules[while_loop_p] = _while_batch


# ----------------------------------------------------------------------------- scan

def _scan_batch(axis_size, args, dims, *, body, num_consts, num_carry, length, reverse):
    dims = [_norm(a, d) for a, d in zip(args, dims)]
    nc, nk = num_consts, num_carry
    consts = [_front(c, d) for c, d in zip(args[:nc], dims[:nc])]
    c_dims = [None if d is None else 0 for d in dims[:nc]]
    carry, k_dims = list(args[nc:nc + nk]), dims[nc:nc + nk]
    xs = [x if d is None else moveaxis(x, d, 1) for x, d in zip(args[nc + nk:], dims[nc + nk:])]
    x_dims = [None if d is None else 0 for d in dims[nc + nk:]]   # of one slice, in the body
    ny = len(body.out_avals) - nk

    def trace(k_b):
        in_dims = c_dims + [0 if b else None for b in k_b] + x_dims
        prog, extra, out_b = _batch_body(body, in_dims, axis_size, list(k_b) + [False] * ny)
        return (prog, extra, out_b[nk:]), out_b[:nk]

    (new_body, extra, y_b), k_b = _carry_fixed_point(trace, [d is not None for d in k_dims], nk)
    outs = scan_p.bind(*extra, *consts, *_enter(carry, k_dims, k_b, axis_size), *xs, body=new_body,
                       num_consts=len(extra) + nc, num_carry=nk, length=length, reverse=reverse)
    return list(outs), [0 if b else None for b in k_b] + [1 if b else None for b in y_b]


batch_rules[scan_p] = _scan_batch


# ----------------------------------------------------------------------------- switch

def _switch_batch(axis_size, args, dims, *, branches):
    dims = [_norm(a, d) for a, d in zip(args, dims)]
    index, ops = args[0], list(args[1:])
    i_dim, o_dims = dims[0], dims[1:]
    if i_dim is not None:
        return _switch_batched_index(axis_size, index, i_dim, ops, o_dims, branches)
    in_avals = [aval_of(o) for o in ops]

    def trace(branch, want):
        box = {}
        return trace_flat(_batch_fun(branch, o_dims, axis_size, want, box), in_avals), box["b"]

    first = [trace(b, None) for b in branches]
    want = [any(b[k] for _, b in first) for k in range(len(branches[0].out_avals))]
    programs = [p if b == want else trace(br, want)[0] for br, (p, b) in zip(branches, first)]
    closed, consts = close_branches(programs)
    outs = switch_p.bind(index, *consts, *ops, branches=tuple(closed))
    return list(outs), [0 if w else None for w in want]


def _switch_batched_index(axis_size, index, i_dim, ops, o_dims, branches):
    """Every branch on the whole batch, then each example's result picked by
    its (clamped) index."""
    index = moveaxis(index, i_dim, 0)
    dtype = aval_of(index).dtype
    n = len(branches)
    index = max_(min_(index, np.asarray(n - 1, dtype)), np.asarray(0, dtype))
    results = []
    for branch in branches:
        outs, out_dims = batch_program(branch, ops, o_dims, axis_size)
        results.append([move_to(o, d, 0, axis_size) for o, d in zip(outs, out_dims)])
    chosen = list(results[0])
    for k in range(1, n):
        pick = eq(index, np.asarray(k, dtype))
        chosen = [_where_batched(pick, new, old) for new, old in zip(results[k], chosen)]
    return chosen, [0] * len(chosen)


batch_rules[switch_p] = _switch_batch
