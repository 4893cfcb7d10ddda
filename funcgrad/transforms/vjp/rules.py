"""VJP rules of the primitives of :mod:`funcgrad.primitives` other than
control flow (those are in :mod:`.control`), registered in
:data:`funcgrad.transforms.vjp.vjp_rules`.

A rule is ``rule(ct, *primals, out, **params) -> tuple``: the cotangent of
each input (``None`` for "zero" or "not differentiable"), written with other
primitives so that it can itself be traced and differentiated. Rules of
broadcasting primitives undo the broadcast with
:func:`funcgrad.primitives.elementwise.unbroadcast`.
"""
from __future__ import annotations

import numpy as np

from ...core.trace import Tracer, aval_of
from ...primitives._common import scalar
from ...primitives.bitwise import shift_left_p, shift_right_logical_p
from ...primitives.elementwise import (
    abs_p, acos_p, add, add_p, asin_p, atan2_p, atan_p, broadcast_like, ceil_p, convert_element_type,
    convert_p, cos, cos_p, cosh, cosh_p, div, div_p, eq, exp_p, expm1_p, floor, floor_p, floordiv_p, ge,
    gt, integer_pow, integer_pow_p, log, log1p_p, log_p, logical_and, logistic_p, lt, max_p, min_p, mul,
    mul_p, neg, neg_p, pow_, pow_p, rem_p, round_p, select, select_p, sign, sign_p, sin, sin_p, sinh,
    sinh_p, sqrt, sqrt_p, stop_gradient_p, sub, sub_p, tan_p, tanh_p, unbroadcast)
from ...primitives.indexing import scatter_add, scatter_add_p, take, take_p
from ...primitives.linalg import matmul, matmul_p
from ...primitives.random import threefry2x32_p
from ...primitives.reduction import (argmax_p, argmin_p, expand_reduced, reduce_max_p, reduce_min_p,
                                     reduce_prod_p, reduce_sum, reduce_sum_p)
from ...primitives.shape import (_pad_add_limits, broadcast_to, broadcast_to_p, concatenate,
                                 concatenate_p, pad, pad_add_p, pad_p, reshape, reshape_p, rev, rev_p,
                                 slice_, slice_p, transpose, transpose_p)
from ...primitives.sort import argsort_p
from . import vjp_rules


def _shape(x):
    return aval_of(x).shape


# ----------------------------------------------------------------------------- elementwise: unary

vjp_rules[neg_p] = lambda ct, x, *, out: (neg(ct),)
vjp_rules[exp_p] = lambda ct, x, *, out: (mul(ct, out),)
vjp_rules[log_p] = lambda ct, x, *, out: (div(ct, x),)
vjp_rules[log1p_p] = lambda ct, x, *, out: (div(ct, add(x, scalar(1, x.dtype))),)
vjp_rules[expm1_p] = lambda ct, x, *, out: (mul(ct, add(out, scalar(1, out.dtype))),)
vjp_rules[sqrt_p] = lambda ct, x, *, out: (div(mul(ct, scalar(0.5, out.dtype)), out),)
vjp_rules[sin_p] = lambda ct, x, *, out: (mul(ct, cos(x)),)
vjp_rules[cos_p] = lambda ct, x, *, out: (neg(mul(ct, sin(x))),)
vjp_rules[tan_p] = lambda ct, x, *, out: (mul(ct, add(scalar(1, x.dtype), mul(out, out))),)
vjp_rules[asin_p] = lambda ct, x, *, out: (div(ct, sqrt(sub(scalar(1, x.dtype), mul(x, x)))),)
vjp_rules[acos_p] = lambda ct, x, *, out: (neg(div(ct, sqrt(sub(scalar(1, x.dtype), mul(x, x))))),)
vjp_rules[atan_p] = lambda ct, x, *, out: (div(ct, add(scalar(1, x.dtype), mul(x, x))),)
vjp_rules[sinh_p] = lambda ct, x, *, out: (mul(ct, cosh(x)),)
vjp_rules[cosh_p] = lambda ct, x, *, out: (mul(ct, sinh(x)),)
vjp_rules[tanh_p] = lambda ct, x, *, out: (mul(ct, sub(scalar(1, out.dtype), mul(out, out))),)
vjp_rules[logistic_p] = lambda ct, x, *, out: (mul(ct, mul(out, sub(scalar(1, out.dtype), out))),)
vjp_rules[abs_p] = lambda ct, x, *, out: (mul(ct, sign(x)),)
# piecewise constant: zero almost everywhere
vjp_rules[sign_p] = lambda ct, x, *, out: (None,)
vjp_rules[floor_p] = lambda ct, x, *, out: (None,)
vjp_rules[ceil_p] = lambda ct, x, *, out: (None,)
vjp_rules[round_p] = lambda ct, x, *, out: (None,)


def _integer_pow_vjp(ct, x, *, out, y):
    if y == 0:
        return (None,)
    if y == 1:
        return (ct,)
    d = x if y == 2 else integer_pow(x, y - 1)
    return (mul(ct, mul(d, scalar(y, aval_of(x).dtype))),)


vjp_rules[integer_pow_p] = _integer_pow_vjp


# ----------------------------------------------------------------------------- elementwise: binary

vjp_rules[add_p] = lambda ct, x, y, *, out: (unbroadcast(ct, _shape(x)), unbroadcast(ct, _shape(y)))
vjp_rules[sub_p] = lambda ct, x, y, *, out: (unbroadcast(ct, _shape(x)), unbroadcast(neg(ct), _shape(y)))
vjp_rules[mul_p] = lambda ct, x, y, *, out: (unbroadcast(mul(ct, y), _shape(x)),
                                             unbroadcast(mul(ct, x), _shape(y)))
vjp_rules[div_p] = lambda ct, x, y, *, out: (unbroadcast(div(ct, y), _shape(x)),
                                             unbroadcast(neg(div(mul(ct, out), y)), _shape(y)))


def _pow_vjp(ct, x, y, *, out):
    dtype = aval_of(out).dtype
    one = scalar(1, dtype)
    zero = scalar(0, dtype)
    # d/dx x**y = y x**(y-1), which is 0 where y == 0, also at x == 0, where x**(y-1) is
    # inf and 0 * inf would be nan: there (x == y == 0 only), use the exponent 0 instead of
    # y-1. Substituting only there, as the JVP rule does, keeps the derivative of this term
    # in y right elsewhere: at y == 0, d/dy (y x**(y-1)) = x**-1, not x**0. (JAX gives 0 at
    # x == y == 0 for an integer exponent but nan for a floating-point one: a deliberate
    # difference.)
    safe_y = select(logical_and(eq(y, zero), eq(x, zero)), broadcast_like(one, out), y)
    dx = mul(ct, mul(y, pow_(x, sub(safe_y, one))))
    # d/dy x**y = log(x) x**y; at x == 0 the limit (y > 0) is 0, for x < 0 it is undefined (nan).
    safe_x = select(eq(x, zero), broadcast_like(one, x), x)
    dy = mul(ct, mul(out, log(safe_x)))
    return unbroadcast(dx, _shape(x)), unbroadcast(dy, _shape(y))


vjp_rules[pow_p] = _pow_vjp


def _minmax_vjp(pick_x):
    def rule(ct, x, y, *, out):
        # Ties split the cotangent evenly, as in JAX; where either operand is NaN
        # (the result is NaN whatever the other is), neither gets it, as in JAX.
        dtype = aval_of(ct).dtype
        half = broadcast_like(scalar(0.5, dtype), out)
        one, zero = broadcast_like(scalar(1, dtype), out), broadcast_like(scalar(0, dtype), out)
        tie = select(eq(x, y), half, zero)
        wx = select(pick_x(x, y), one, tie)
        wy = select(pick_x(y, x), one, tie)
        return unbroadcast(mul(ct, wx), _shape(x)), unbroadcast(mul(ct, wy), _shape(y))
    return rule


vjp_rules[max_p] = _minmax_vjp(gt)
vjp_rules[min_p] = _minmax_vjp(lt)


def _atan2_vjp(ct, y, x, *, out):
    denom = add(mul(x, x), mul(y, y))
    return (unbroadcast(mul(ct, div(x, denom)), _shape(y)),
            unbroadcast(neg(mul(ct, div(y, denom))), _shape(x)))


vjp_rules[atan2_p] = _atan2_vjp


def _rem_vjp(ct, x, y, *, out):
    # x % y = x - floor(x / y) * y
    return (unbroadcast(ct, _shape(x)),
            unbroadcast(neg(mul(ct, floor(div(x, y)))), _shape(y)) if aval_of(y).dtype.kind == "f" else None)


vjp_rules[rem_p] = _rem_vjp
vjp_rules[floordiv_p] = lambda ct, x, y, *, out: (None, None)


# ----------------------------------------------------------------------------- elementwise: select, casts

def _select_vjp(ct, pred, on_true, on_false, *, out):
    zero = broadcast_like(scalar(0, aval_of(ct).dtype), ct)
    return (None,
            unbroadcast(select(pred, ct, zero), _shape(on_true)),
            unbroadcast(select(pred, zero, ct), _shape(on_false)))


vjp_rules[select_p] = _select_vjp


def _convert_vjp(ct, x, *, out, dtype):
    src = aval_of(x).dtype
    if src.kind != "f" or np.dtype(dtype).kind != "f":
        return (None,)
    return (convert_element_type(ct, src),)


vjp_rules[convert_p] = _convert_vjp
# stop_gradient: the identity, whose VJP is zero.
vjp_rules[stop_gradient_p] = lambda ct, x, *, out: (None,)


# ----------------------------------------------------------------------------- shape
# Structural primitives move cotangents back without arithmetic.

vjp_rules[reshape_p] = lambda ct, x, *, out, shape: (reshape(ct, aval_of(x).shape),)
vjp_rules[transpose_p] = lambda ct, x, *, out, permutation: (
    transpose(ct, tuple(int(i) for i in np.argsort(permutation))),)


def _broadcast_to_vjp(ct, x, *, out, shape):
    return (unbroadcast(ct, aval_of(x).shape),)


vjp_rules[broadcast_to_p] = _broadcast_to_vjp


def _slice_vjp(ct, x, *, out, starts, limits, strides):
    in_shape = aval_of(x).shape
    out_shape = aval_of(out).shape
    low = starts
    # the last element taken sits at start + (n - 1) * stride
    high = tuple(d - (b + max(n - 1, 0) * s + 1) if n else d - b
                 for d, b, s, n in zip(in_shape, starts, strides, out_shape))
    interior = tuple(s - 1 if n else 0 for s, n in zip(strides, out_shape))
    return (pad(ct, low, high, interior),)


vjp_rules[slice_p] = _slice_vjp


def _pad_vjp(ct, x, *, out, low, high, interior):
    shape = aval_of(x).shape
    limits = tuple(l + max(d - 1, 0) * (i + 1) + 1 if d else l for d, l, i in zip(shape, low, interior))
    return (slice_(ct, low, limits, tuple(i + 1 for i in interior)),)


vjp_rules[pad_p] = _pad_vjp


def _pad_add_vjp(ct, buf, piece, *, out, low, interior):
    piece_shape = aval_of(piece).shape
    limits = _pad_add_limits(piece_shape, low, interior)
    if not piece_shape and aval_of(buf).ndim:
        return (ct, reshape(slice_(ct, low, limits), ()))
    return (ct, slice_(ct, low, limits, tuple(i + 1 for i in interior)))


vjp_rules[pad_add_p] = _pad_add_vjp
vjp_rules[rev_p] = lambda ct, x, *, out, axes: (rev(ct, axes),)


def _concatenate_vjp(ct, *xs, out, axis):
    cts, start = [], 0
    ct_shape = aval_of(ct).shape
    for x in xs:
        n = aval_of(x).shape[axis]
        starts = [0] * len(ct_shape)
        limits = list(ct_shape)
        starts[axis], limits[axis] = start, start + n
        cts.append(slice_(ct, starts, limits))
        start += n
    return tuple(cts)


vjp_rules[concatenate_p] = _concatenate_vjp


# ----------------------------------------------------------------------------- reductions

def _reduce_sum_vjp(ct, x, *, out, axes, keepdims):
    return (expand_reduced(ct, aval_of(x).shape, axes, keepdims),)


vjp_rules[reduce_sum_p] = _reduce_sum_vjp


def _extremum_vjp(ct, x, *, out, axes, keepdims):
    # The cotangent goes to the extremal elements, split evenly among ties.
    shape = aval_of(x).shape
    dtype = aval_of(x).dtype
    out_b = expand_reduced(out, shape, axes, keepdims)
    mask = convert_element_type(eq(x, out_b), dtype)
    count = reduce_sum(mask, axes, keepdims=True)
    share = div(mask, count)
    return (mul(share, expand_reduced(ct, shape, axes, keepdims)),)


vjp_rules[reduce_max_p] = _extremum_vjp
vjp_rules[reduce_min_p] = _extremum_vjp


def _reduce_prod_vjp(ct, x, *, out, axes, keepdims):
    # d prod / d x_i = the product of the others, by reverse mode through the tree
    # of pairwise products that the JVP rule differentiates forward: the reduced
    # axes flattened into one, then log2(n) levels, each one ``mul`` of the even
    # and the odd elements (an odd count gets one more factor 1). Backward, each
    # level sends its cotangent times the sibling to each of the two factors,
    # interleaved again with two interior pads. No division and no select, so it
    # is exact where elements are zero (one, or several) and, being made of
    # ``mul`` and structural primitives only, right to every order; O(n) work.
    shape = aval_of(x).shape
    dtype = aval_of(x).dtype
    if not axes:
        return (ct,)
    kept = tuple(d for d in range(len(shape)) if d not in axes)
    kept_shape = tuple(shape[d] for d in kept)
    n = int(np.prod([shape[a] for a in axes], dtype=np.int64))
    if n == 0:
        return (None,)        # x is empty: so is its cotangent
    perm = tuple(axes) + kept
    identity = perm == tuple(range(len(shape)))
    xs = reshape(x if identity else transpose(x, perm), (n,) + kept_shape)
    rest = (0,) * len(kept_shape)
    ones = (1,) * len(kept_shape)
    levels = []               # (count before padding, even factors, odd factors)
    while n > 1:
        count = n
        if n % 2:
            xs = concatenate([xs, broadcast_to(scalar(1, dtype), (1,) + kept_shape)], 0)
            n += 1
        xa = slice_(xs, (0,) + rest, (n,) + kept_shape, (2,) + ones)
        xb = slice_(xs, (1,) + rest, (n,) + kept_shape, (2,) + ones)
        levels.append((count, xa, xb))
        xs = mul(xa, xb)
        n //= 2
    g = reshape(ct, (1,) + kept_shape)
    for count, xa, xb in reversed(levels):
        # the cotangent of the even factors lands on 0, 2, 4..., the odd on 1, 3, 5...
        g = add(pad(mul(g, xb), (0,) + rest, (1,) + rest, (1,) + rest),
                pad(mul(g, xa), (1,) + rest, (0,) + rest, (1,) + rest))
        if count % 2:         # drop the padding factor's
            g = slice_(g, (0,) + rest, (count,) + kept_shape)
    g = reshape(g, tuple(shape[a] for a in axes) + kept_shape)
    if not identity:
        g = transpose(g, tuple(int(i) for i in np.argsort(perm)))
    return (g,)


vjp_rules[reduce_prod_p] = _reduce_prod_vjp
# arg reductions: integer indices, no gradient
vjp_rules[argmax_p] = lambda ct, x, *, out, axis, keepdims, index_dtype: (None,)
vjp_rules[argmin_p] = lambda ct, x, *, out, axis, keepdims, index_dtype: (None,)


# ----------------------------------------------------------------------------- indexing
# ``take``'s VJP is a ``scatter_add`` of the cotangent, which drops the cotangents
# of out-of-range indices; ``scatter_add``'s VJP with respect to its updates is a
# ``take``, zero where the updates were dropped.

def _take_vjp(ct, x, idx, *, out, axis):
    zeros = broadcast_to(np.zeros((), aval_of(x).dtype), aval_of(x).shape)
    return (scatter_add(zeros, idx, ct, axis), None)


vjp_rules[take_p] = _take_vjp


def _in_range_mask(idx, n, like, axis):
    """``0 <= idx < n`` broadcast to ``like`` (a take of ``idx`` on ``axis``);
    None when every index is known to be in range."""
    if not isinstance(idx, Tracer):
        i = np.asarray(idx)
        if not i.size or (i.min() >= 0 and i.max() < n):
            return None
    dt = aval_of(idx).dtype
    checks = []
    if dt.kind == "i":
        checks.append(ge(idx, scalar(0, dt)))
    if n <= np.iinfo(dt).max:
        checks.append(lt(idx, scalar(n, dt)))
    if not checks:
        return None
    valid = checks[0] if len(checks) == 1 else logical_and(*checks)
    shape = aval_of(like).shape
    lead, idx_shape = axis, aval_of(idx).shape
    valid = reshape(valid, (1,) * lead + idx_shape + (1,) * (len(shape) - lead - len(idx_shape)))
    return broadcast_to(valid, shape) if aval_of(valid).shape != shape else valid


def _scatter_add_vjp(ct, operand, idx, updates, *, out, axis):
    picked = take(ct, idx, axis)
    valid = _in_range_mask(idx, aval_of(operand).shape[axis], picked, axis)
    if valid is not None:   # dropped updates have no effect: their cotangent is 0
        picked = select(valid, picked, broadcast_like(scalar(0, aval_of(ct).dtype), picked))
    return (ct, None, picked)


vjp_rules[scatter_add_p] = _scatter_add_vjp


# ----------------------------------------------------------------------------- linalg

def _matmul_vjp(ct, a, b, *, out, transpose_a, transpose_b):
    # C = op(A) op(B).  d op(A) = dC op(B)^T,  d op(B) = op(A)^T dC.
    if transpose_a:   # dA = (dC op(B)^T)^T = op(B) dC^T
        da = matmul(b, ct, transpose_a=transpose_b, transpose_b=True)
    else:
        da = matmul(ct, b, transpose_a=False, transpose_b=not transpose_b)
    if transpose_b:   # dB = (op(A)^T dC)^T = dC^T op(A)
        db = matmul(ct, a, transpose_a=True, transpose_b=transpose_a)
    else:
        db = matmul(a, ct, transpose_a=not transpose_a, transpose_b=False)
    return da, db


vjp_rules[matmul_p] = _matmul_vjp


# ----------------------------------------------------------------------------- integer-valued: sort, bitwise, random
# Their outputs are integers, so no gradient flows through them.

vjp_rules[argsort_p] = lambda ct, x, *, out: (None,)
vjp_rules[shift_left_p] = lambda ct, x, y, *, out: (None, None)
vjp_rules[shift_right_logical_p] = lambda ct, x, y, *, out: (None, None)
vjp_rules[threefry2x32_p] = lambda cts, k0, k1, x0, x1, *, out: (None, None, None, None)
