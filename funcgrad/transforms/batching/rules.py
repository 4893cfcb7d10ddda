"""Batching rules of the primitives other than control flow (those are in
:mod:`.control`), registered in :data:`funcgrad.transforms.batching.batch_rules`.

A rule is ``rule(axis_size, args, dims, **params) -> (out, out_dim)`` (see
the package's docstring). Rules are written with primitives, so that the
batched program can be transformed again, and none loops over the batch in
Python: a batch is one operation on a larger array. Rules avoid copies where
the layout allows: a batch axis stays where it is when the primitive can take
it there, an unbatched operand is broadcast only when the primitive needs it
(an elementwise operand broadcasts by itself; a matrix product merges the
batch into its rows or columns instead, one larger product).
"""
from __future__ import annotations

import numpy as np

from ...core.trace import aval_of
from ...primitives._common import normalize_axes, scalar
from ...primitives.bitwise import shift_left_p, shift_right_logical_p
from ...primitives.elementwise import (
    abs_p, acos_p, add, add_p, and_p, asin_p, atan2_p, atan_p, ceil_p, convert_element_type, convert_p,
    cos_p, cosh_p, div_p, eq_p, exp_p, expm1_p, floor_p, floordiv_p, ge, ge_p, gt_p, integer_pow_p,
    isfinite_p, le_p, log1p_p, log_p, logical_and, logistic_p, lt, lt_p, max_, max_p, min_, min_p, mul,
    mul_p, ne_p, neg_p, not_p, or_p, pow_p, rem_p, round_p, select, select_p, sign_p, sin_p, sinh_p,
    sqrt_p, stop_gradient_p, sub_p, tan_p, tanh_p, xor_p)
from ...primitives.indexing import scatter_add_p, take_p
from ...primitives.linalg import matmul_p
from ...primitives.random import threefry2x32_p
from ...primitives.reduction import (argmax_p, argmin_p, reduce_max_p, reduce_min_p, reduce_prod_p,
                                     reduce_sum_p)
from ...primitives.shape import (broadcast_to, broadcast_to_p, concatenate_p, iota, iota_p, pad_add_p,
                                 pad_p, reshape, reshape_p, rev_p, slice_p, transpose, transpose_p)
from ...primitives.sort import argsort_p
from . import InternalError, batch_rules, moveaxis

__all__ = ["elementwise_rule"]


def _shape(x) -> tuple:
    return tuple(aval_of(x).shape)


def _insert(seq, pos: int, value) -> tuple:
    seq = tuple(seq)
    return seq[:pos] + (value,) + seq[pos:]


def _drop(seq, pos: int) -> tuple:
    seq = tuple(seq)
    return seq[:pos] + seq[pos + 1:]


def _broadcast_at(x, pos: int, size: int):
    """An unbatched ``x`` with a batch axis of ``size`` inserted at ``pos``
    (a reshape and a broadcast: no transpose)."""
    s = _shape(x)
    return broadcast_to(reshape(x, _insert(s, pos, 1)), _insert(s, pos, size))


def _put(x, dim, pos: int, size: int):
    """``x`` with its batch axis at ``pos``; an unbatched ``x`` broadcast there."""
    if dim is None:
        return _broadcast_at(x, pos, size)
    return moveaxis(x, dim, pos)


def _phys(axis: int, dim: int) -> int:
    """The position, in the batched value, of a logical axis (batch axis at ``dim``)."""
    return axis + (axis >= dim)


def _one(args, dims):
    (x,), (d,) = args, dims
    return x, d


# ----------------------------------------------------------------------------- elementwise

def _broadcast_operands(axis_size, args, dims):
    """Operands of a broadcasting elementwise primitive laid out so that NumPy's
    broadcasting gives the batched result, and the result's batch axis.

    The logical output has rank ``r`` (the largest logical rank); the result
    has the batch axis where the batched operand of highest rank has it (no
    copy for it, nor for the others in the common case where they agree).
    A batched operand gets its batch axis there, with size-1 axes inserted
    after it when it has a lower rank; an unbatched operand broadcasts from the
    trailing side as it is, or with a size-1 axis at the batch position when
    its axes reach over it (a reshape)."""
    ranks = [aval_of(x).ndim - (d is not None) for x, d in zip(args, dims)]
    r = max(ranks)
    k = max((i for i, d in enumerate(dims) if d is not None), key=lambda i: ranks[i])
    d_out = r - ranks[k] + dims[k]
    out = []
    for x, d, q in zip(args, dims, ranks):
        j = d_out - (r - q)   # where the batch axis falls among x's own axes
        if d is None:
            if j > 0:
                x = reshape(x, _insert(_shape(x), j, 1))
        elif j >= 0:
            x = moveaxis(x, d, j)
        else:                  # x's axes all follow the batch axis: (B, 1, .., 1, *x's axes)
            x = moveaxis(x, d, 0)
            s = _shape(x)
            x = reshape(x, (axis_size,) + (1,) * (-j) + s[1:])
        out.append(x)
    return out, d_out


def elementwise_rule(prim):
    """The batching rule of an elementwise primitive (unary or n-ary,
    broadcasting, one or several results): the primitive applied to the
    batched operands, laid out by :func:`_broadcast_operands`."""
    def rule(axis_size, args, dims, **params):
        if len(args) == 1:
            x, d = _one(args, dims)
            out = prim.bind(x, **params)
        else:
            args, d = _broadcast_operands(axis_size, args, dims)
            out = prim.bind(*args, **params)
        if prim.multiple_results:
            return out, [d] * len(out)
        return out, d
    rule.__name__ = f"{prim.name}_batch_rule"
    return rule


# unary (and their parameters passed through: dtype, y)
for _p in (neg_p, exp_p, log_p, log1p_p, expm1_p, sqrt_p, sin_p, cos_p, tan_p, asin_p, acos_p, atan_p,
           sinh_p, cosh_p, tanh_p, logistic_p, abs_p, sign_p, floor_p, ceil_p, round_p, not_p,
           isfinite_p, integer_pow_p, convert_p, stop_gradient_p):
    batch_rules[_p] = elementwise_rule(_p)

# n-ary, broadcasting (select's condition too; threefry2x32 has two results)
for _p in (add_p, sub_p, mul_p, div_p, pow_p, max_p, min_p, atan2_p, rem_p, floordiv_p, and_p, or_p,
           xor_p, lt_p, le_p, gt_p, ge_p, eq_p, ne_p, select_p, shift_left_p, shift_right_logical_p,
           threefry2x32_p):
    batch_rules[_p] = elementwise_rule(_p)


# ----------------------------------------------------------------------------- reductions

def _logical_axes(name, axes, ndim):
    # a 0-d operand has no axis to reduce (its shape rule takes axis 0 as none)
    return normalize_axes(name, axes, ndim) if ndim else ()


def _reduction_rule(prim):
    def rule(axis_size, args, dims, *, axes, keepdims):
        x, d = _one(args, dims)
        axes = _logical_axes(prim.name, axes, aval_of(x).ndim - 1)
        out = prim.bind(x, axes=tuple(_phys(a, d) for a in axes), keepdims=keepdims)
        return out, d if keepdims else d - sum(a < d for a in axes)
    rule.__name__ = f"{prim.name}_batch_rule"
    return rule


def _argreduction_rule(prim):
    def rule(axis_size, args, dims, *, axis, keepdims, index_dtype):
        x, d = _one(args, dims)
        (axis,) = normalize_axes(prim.name, (axis,), aval_of(x).ndim - 1)
        out = prim.bind(x, axis=_phys(axis, d), keepdims=keepdims, index_dtype=index_dtype)
        return out, d if keepdims or d <= axis else d - 1
    rule.__name__ = f"{prim.name}_batch_rule"
    return rule


for _p in (reduce_sum_p, reduce_max_p, reduce_min_p, reduce_prod_p):
    batch_rules[_p] = _reduction_rule(_p)
for _p in (argmax_p, argmin_p):
    batch_rules[_p] = _argreduction_rule(_p)


# argsort sorts along the last axis: a batch axis there moves to the front
def _argsort_rule(axis_size, args, dims):
    x, d = _one(args, dims)
    if d == aval_of(x).ndim - 1:
        x, d = moveaxis(x, d, 0), 0
    return argsort_p.bind(x), d


batch_rules[argsort_p] = _argsort_rule


# ----------------------------------------------------------------------------- shape

def _reshape_rule(axis_size, args, dims, *, shape):
    x, d = _one(args, dims)
    s = _drop(_shape(x), d)
    # The batch axis stays where it is when the axes before it reshape into a
    # prefix of the new shape (then those after it reshape into the rest).
    before = int(np.prod(s[:d], dtype=np.int64))
    for k in range(len(shape) + 1):
        if int(np.prod(shape[:k], dtype=np.int64)) == before:
            return reshape_p.bind(x, shape=_insert(shape, k, axis_size)), k
    x = moveaxis(x, d, 0)
    return reshape_p.bind(x, shape=(axis_size,) + tuple(shape)), 0


def _transpose_rule(axis_size, args, dims, *, permutation):
    x, d = _one(args, dims)
    perm = _insert((_phys(p, d) for p in permutation), d, d)
    return transpose(x, perm), d


def _broadcast_to_rule(axis_size, args, dims, *, shape):
    x, d = _one(args, dims)
    # x's axes are the trailing ones of `shape`: so is its batch axis, in place
    d_out = len(shape) - (aval_of(x).ndim - 1) + d
    return broadcast_to_p.bind(x, shape=_insert(shape, d_out, axis_size)), d_out


def _slice_rule(axis_size, args, dims, *, starts, limits, strides):
    x, d = _one(args, dims)
    return slice_p.bind(x, starts=_insert(starts, d, 0), limits=_insert(limits, d, axis_size),
                        strides=_insert(strides, d, 1)), d


def _pad_rule(axis_size, args, dims, *, low, high, interior):
    # pad's padding value is always 0 (it has no operand for it)
    x, d = _one(args, dims)
    return pad_p.bind(x, low=_insert(low, d, 0), high=_insert(high, d, 0),
                      interior=_insert(interior, d, 0)), d


def _rev_rule(axis_size, args, dims, *, axes):
    x, d = _one(args, dims)
    axes = normalize_axes("flip", axes, aval_of(x).ndim - 1)
    return rev_p.bind(x, axes=tuple(_phys(a, d) for a in axes)), d


def _concatenate_rule(axis_size, args, dims, *, axis):
    d = next(d for d in dims if d is not None)
    xs = [_put(x, dx, d, axis_size) for x, dx in zip(args, dims)]
    return concatenate_p.bind(*xs, axis=_phys(axis, d)), d


def _pad_add_rule(axis_size, args, dims, *, low, interior):
    (buf, piece), (db, dp) = args, dims
    d = db if db is not None else 0
    n = aval_of(buf).ndim - (db is not None)      # the buffer's logical rank
    piece_rank = aval_of(piece).ndim - (dp is not None)
    if piece_rank == 0 and n:
        # one element at `low`: a piece of shape (1, .., 1) there, which can have a batch axis
        if dp is None:
            piece = reshape(piece, (1,) * n)
        else:
            piece, dp = reshape(piece, (1,) * d + (axis_size,) + (1,) * (n - d)), d
    buf = _put(buf, db, d, axis_size)
    piece = _put(piece, dp, d, axis_size)
    return pad_add_p.bind(buf, piece, low=_insert(low, d, 0), interior=_insert(interior, d, 0)), d


def _iota_rule(axis_size, args, dims, **params):
    raise InternalError("iota has no operands: it is never batched")


batch_rules[reshape_p] = _reshape_rule
batch_rules[transpose_p] = _transpose_rule
batch_rules[broadcast_to_p] = _broadcast_to_rule
batch_rules[slice_p] = _slice_rule
batch_rules[pad_p] = _pad_rule
batch_rules[rev_p] = _rev_rule
batch_rules[concatenate_p] = _concatenate_rule
batch_rules[pad_add_p] = _pad_add_rule
batch_rules[iota_p] = _iota_rule


# ----------------------------------------------------------------------------- matmul

def _merged_matmul(axis_size, x, d, other, x_is_lhs, transpose_a, transpose_b):
    """A batched operand ``x`` times an unbatched ``other`` as one product:
    the batch merged into ``x``'s free axis (the rows of ``op(a)``, the columns
    of ``op(b)``), before or after it where it already lies there, otherwise
    moved before it (a transpose of ``x``; ``other`` is never copied)."""
    s = _drop(_shape(x), d)
    lead = len(s) - 2
    transposed = transpose_a if x_is_lhs else transpose_b
    free = lead + (1 if transposed == x_is_lhs else 0)   # the axis of x that the output keeps
    if d not in (free, free + 1):
        x, d = moveaxis(x, d, free), free
    after = d == free + 1                                  # (.., free, B, ..) rather than (.., B, free, ..)
    x = reshape(x, s[:free] + (s[free] * axis_size,) + s[free + 1:])
    a, b = (x, other) if x_is_lhs else (other, x)
    out = matmul_p.bind(a, b, transpose_a=transpose_a, transpose_b=transpose_b)
    o = _shape(out)
    pos = lead if x_is_lhs else lead + 1                   # the merged axis of the output
    split = (s[free], axis_size) if after else (axis_size, s[free])
    return reshape(out, o[:pos] + split + o[pos + 1:]), pos + after


def _matmul_rule(axis_size, args, dims, *, transpose_a, transpose_b):
    (a, b), (da, db) = args, dims
    if db is None:
        return _merged_matmul(axis_size, a, da, b, True, transpose_a, transpose_b)
    if da is None:
        return _merged_matmul(axis_size, b, db, a, False, transpose_a, transpose_b)
    # both batched: one batch axis more of the batched product, at the same place in both
    lead = aval_of(a).ndim - 3
    if not (da == db and da <= lead):
        a, b, da = moveaxis(a, da, 0), moveaxis(b, db, 0), 0
    return matmul_p.bind(a, b, transpose_a=transpose_a, transpose_b=transpose_b), da


batch_rules[matmul_p] = _matmul_rule


# ----------------------------------------------------------------------------- take / scatter_add
# With batched indices, the batch becomes part of the indexed axis, as in
# JAX: the operand's batch axis is merged with its axis `axis` (n rows into
# B*n), and each batch element's indices are offset into its own block of
# rows (an iota times the block's stride), so one gather or scatter does the
# whole batch. The offsets must not carry an out-of-range index into another
# element's block: take's indices are clamped first (its semantics), and
# scatter_add's out-of-range ones are sent past the merged axis (dropped,
# its semantics).

def _index_max(dtype) -> int:
    return int(np.iinfo(dtype).max)


def _clamped(idx, n):
    """Indices clamped into ``[0, n - 1]`` (what take does), in their dtype."""
    dt = aval_of(idx).dtype
    if n - 1 < _index_max(dt):
        idx = min_(idx, scalar(n - 1, dt))
    if dt.kind == "i":
        idx = max_(idx, scalar(0, dt))
    return idx


def _in_range(idx, n):
    """Where indices are in ``[0, n)`` (what scatter_add keeps)."""
    dt = aval_of(idx).dtype
    ok = None
    if n <= _index_max(dt):
        ok = lt(idx, scalar(n, dt))
    if dt.kind == "i":
        pos = ge(idx, scalar(0, dt))
        ok = pos if ok is None else logical_and(ok, pos)
    return ok


def _merged_indices(axis_size, idx, n, after):
    """Batched indices (batch axis first, int64) into the batch merged with an
    axis of size ``n``: ``b * n + i`` (batch before the axis) or
    ``i * B + b`` (after it)."""
    idx = convert_element_type(idx, np.int64)
    b = iota((axis_size,) + (1,) * (aval_of(idx).ndim - 1), 0, np.int64)
    if after:
        return add(mul(idx, scalar(axis_size, np.int64)), b)
    return add(idx, mul(b, scalar(n, np.int64)))


def _merge_operand(axis_size, x, d, axis):
    """The operand with its batch axis merged into ``axis``: ``(x, after)``."""
    if d is None:
        x, d = _broadcast_at(x, axis, axis_size), axis
    elif d not in (axis, axis + 1):
        x, d = moveaxis(x, d, axis), axis
    s = _shape(x)
    return reshape(x, s[:axis] + (s[axis] * s[axis + 1],) + s[axis + 2:]), d == axis + 1


def _take_rule(axis_size, args, dims, *, axis):
    (x, idx), (dx, di) = args, dims
    if dx is None:   # the indices' batch axis stays where it is, among their axes
        return take_p.bind(x, idx, axis=axis), axis + di
    if di is None:   # x's batch axis stays where it is
        if dx <= axis:
            return take_p.bind(x, idx, axis=axis + 1), dx
        return take_p.bind(x, idx, axis=axis), dx + aval_of(idx).ndim - 1
    n = aval_of(x).shape[_phys(axis, dx)]
    x, after = _merge_operand(axis_size, x, dx, axis)
    idx = _clamped(moveaxis(idx, di, 0), n) if n else moveaxis(idx, di, 0)
    return take_p.bind(x, _merged_indices(axis_size, idx, n, after), axis=axis), axis


def _scatter_add_rule(axis_size, args, dims, *, axis):
    (operand, idx, updates), (do, di, du) = args, dims
    if di is None:
        # the indices are shared: a batch axis of the operand and the updates, in place
        k = aval_of(idx).ndim
        if do is None:
            if du <= axis:
                do = du
            elif du >= axis + k:
                do = du - k + 1
            else:
                do = 0
            operand = _broadcast_at(operand, do, axis_size)
        pos = do if do <= axis else do - 1 + k     # the batch axis among the updates' axes
        updates = _put(updates, du, pos, axis_size)
        return scatter_add_p.bind(operand, idx, updates, axis=axis + (do <= axis)), do
    n = aval_of(operand).shape[_phys(axis, do)] if do is not None else aval_of(operand).shape[axis]
    s = _drop(_shape(operand), do) if do is not None else _shape(operand)
    operand, after = _merge_operand(axis_size, operand, do, axis)
    idx = moveaxis(idx, di, 0)
    ok = _in_range(idx, n)
    flat = _merged_indices(axis_size, idx, n, after)
    if ok is not None:
        flat = select(ok, flat, scalar(axis_size * n, np.int64))   # past the merged axis: dropped
    updates = _put(updates, du, axis, axis_size)
    out = scatter_add_p.bind(operand, flat, updates, axis=axis)
    split = (n, axis_size) if after else (axis_size, n)
    return reshape(out, s[:axis] + split + s[axis + 1:]), axis + after


batch_rules[take_p] = _take_rule
batch_rules[scatter_add_p] = _scatter_add_rule
