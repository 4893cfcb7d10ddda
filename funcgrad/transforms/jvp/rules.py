"""JVP rules of the primitives of :mod:`funcgrad.primitives` other than
control flow (those are in :mod:`.control`), registered in
:data:`funcgrad.transforms.jvp.jvp_rules`.

A rule is ``rule(primals, tangents, **params) -> (primal_out, tangent_out)``;
a tangent ``None`` is a symbolic zero, in and out. Rules are written with
primitives, so that they trace and transform again. Conventions at the
points where a derivative is not defined follow the VJP rules of
:mod:`funcgrad.transforms.vjp.rules` (ties of ``max``/``min`` split evenly,
``pow`` at ``x == 0`` or ``y == 0``, ties of ``reduce_max``/``reduce_min``
averaged), so that each JVP is the transpose of its VJP everywhere
(``jacfwd == jacrev``); ``reduce_prod`` is exact at zeros. The tangents are
also right to higher orders where the primitive is smooth (``jvp`` of
``jvp``; see ``tests/test_conformance.py``).

Primitives whose outputs are never floating point (comparisons, logical and
bitwise operations, ``is_finite``, ``argmax``/``argmin``/``argsort``,
``iota``, shifts, ``threefry2x32``) have no rule: the interpreter never asks
for one.
"""
from __future__ import annotations

import numpy as np

from ...core.trace import aval_of
from ...primitives._common import scalar
from ...primitives.elementwise import (
    abs_p, acos_p, add, add_p, asin_p, atan2_p, atan_p, broadcast_like, ceil_p, convert_element_type,
    convert_p, cos, cos_p, cosh, cosh_p, div, div_p, eq, exp_p, expm1_p, floor, floor_p, floordiv_p, gt,
    integer_pow, integer_pow_p, log, log1p_p, log_p, logical_and, logistic_p, lt, max_p, min_p, mul,
    mul_p, neg, neg_p, pow_, pow_p, rem_p, round_p, select, select_p, sign, sign_p, sin, sin_p, sinh,
    sinh_p, sqrt, sqrt_p, stop_gradient_p, sub, sub_p, tan_p, tanh_p)
from ...primitives.indexing import scatter_add, scatter_add_p, take, take_p
from ...primitives.linalg import matmul, matmul_p
from ...primitives.reduction import (expand_reduced, reduce_max_p, reduce_min_p, reduce_prod_p,
                                     reduce_sum, reduce_sum_p)
from ...primitives.shape import (broadcast_to, broadcast_to_p, concatenate, concatenate_p, pad_add_p,
                                 pad_p, reshape, reshape_p, rev_p, slice_, slice_p, transpose,
                                 transpose_p)
from . import instantiate, jvp_rules, linear_rule


def _dtype(x):
    return aval_of(x).dtype


def _shape(x):
    return aval_of(x).shape


def _to_shape(t, out):
    """``t`` broadcast to ``out``'s shape (a tangent of a broadcast operand)."""
    if t is None:
        return None
    shape = _shape(out)
    return broadcast_to(t, shape) if _shape(t) != shape else t


def _sum(*terms):
    """The sum of the non-None terms (None if there are none)."""
    total = None
    for t in terms:
        if t is not None:
            total = t if total is None else add(total, t)
    return total


# ----------------------------------------------------------------------------- elementwise: unary
# ``deriv(x, out, t) -> tangent``, called only with a tangent.

def _unary(prim, deriv):
    def rule(primals, tangents, **params):
        (x,), (t,) = primals, tangents
        out = prim.bind(x, **params)
        if t is None:
            return out, None
        return out, deriv(x, out, t, **params)
    jvp_rules[prim] = rule


def _one(x):
    return scalar(1, _dtype(x))


jvp_rules[neg_p] = linear_rule(neg_p)
_unary(exp_p, lambda x, out, t: mul(t, out))
_unary(log_p, lambda x, out, t: div(t, x))
_unary(log1p_p, lambda x, out, t: div(t, add(x, _one(x))))
_unary(expm1_p, lambda x, out, t: mul(t, add(out, _one(out))))
_unary(sqrt_p, lambda x, out, t: div(mul(t, scalar(0.5, _dtype(out))), out))
_unary(sin_p, lambda x, out, t: mul(t, cos(x)))
_unary(cos_p, lambda x, out, t: neg(mul(t, sin(x))))
_unary(tan_p, lambda x, out, t: mul(t, add(_one(out), mul(out, out))))
_unary(asin_p, lambda x, out, t: div(t, sqrt(sub(_one(x), mul(x, x)))))
_unary(acos_p, lambda x, out, t: neg(div(t, sqrt(sub(_one(x), mul(x, x))))))
_unary(atan_p, lambda x, out, t: div(t, add(_one(x), mul(x, x))))
_unary(sinh_p, lambda x, out, t: mul(t, cosh(x)))
_unary(cosh_p, lambda x, out, t: mul(t, sinh(x)))
_unary(tanh_p, lambda x, out, t: mul(t, sub(_one(out), mul(out, out))))
_unary(logistic_p, lambda x, out, t: mul(t, mul(out, sub(_one(out), out))))
# sign(0) == 0: the tangent at 0 is 0, as in the VJP
_unary(abs_p, lambda x, out, t: mul(t, sign(x)))
# piecewise constant: zero almost everywhere
for _p in (sign_p, floor_p, ceil_p, round_p):
    _unary(_p, lambda x, out, t: None)


def _integer_pow_deriv(x, out, t, *, y):
    if y == 0:
        return None
    if y == 1:
        return t
    d = x if y == 2 else integer_pow(x, y - 1)
    return mul(t, mul(d, scalar(y, _dtype(x))))


_unary(integer_pow_p, _integer_pow_deriv)


# ----------------------------------------------------------------------------- elementwise: binary
# Operands broadcast against each other: every tangent term is computed at the
# output's shape (the primitives broadcast), and a lone operand tangent is
# broadcast to it explicitly.

def _binary(prim, dx, dy):
    """``dx(x, y, out, tx)`` and ``dy(x, y, out, ty)``: the two terms of the tangent
    (each called only with its tangent; either may return None)."""
    def rule(primals, tangents):
        (x, y), (tx, ty) = primals, tangents
        out = prim.bind(x, y)
        terms = [dx(x, y, out, tx) if tx is not None else None,
                 dy(x, y, out, ty) if ty is not None else None]
        return out, _to_shape(_sum(*terms), out)
    jvp_rules[prim] = rule


def _add_rule(primals, tangents):
    (x, y), (tx, ty) = primals, tangents
    out = add(x, y)
    if tx is not None and ty is not None:
        return out, add(tx, ty)
    return out, _to_shape(tx if tx is not None else ty, out)


def _sub_rule(primals, tangents):
    (x, y), (tx, ty) = primals, tangents
    out = sub(x, y)
    if tx is not None and ty is not None:
        return out, sub(tx, ty)
    return out, _to_shape(tx if tx is not None else (None if ty is None else neg(ty)), out)


jvp_rules[add_p] = _add_rule
jvp_rules[sub_p] = _sub_rule
_binary(mul_p, lambda x, y, out, tx: mul(tx, y), lambda x, y, out, ty: mul(x, ty))
_binary(div_p, lambda x, y, out, tx: div(tx, y), lambda x, y, out, ty: neg(div(mul(ty, out), y)))


def _pow_dx(x, y, out, tx):
    # y x**(y-1). At x == y == 0, x**(y-1) is inf: use the exponent 0 there, giving 0, as the
    # VJP does. (Substituting only where x == 0 too, not wherever y == 0, keeps this term's
    # own derivative in y, 1/x, right: second derivatives agree with the VJP's.)
    one = _one(out)
    zero = scalar(0, _dtype(out))
    safe_y = select(logical_and(eq(y, zero), eq(x, zero)), broadcast_like(one, out), y)
    return mul(tx, mul(y, pow_(x, sub(safe_y, one))))


def _pow_dy(x, y, out, ty):
    # log(x) x**y, with log(1) = 0 instead of log(0) at x == 0 (the limit for y > 0)
    one = _one(out)
    safe_x = select(eq(x, scalar(0, _dtype(out))), broadcast_like(one, x), x)
    return mul(ty, mul(out, log(safe_x)))


_binary(pow_p, _pow_dx, _pow_dy)


def _minmax_rule(prim, pick_x):
    # The weights of the VJP: 1 for the picked operand, 1/2 each on a tie, 0 for
    # both where either is NaN.
    def rule(primals, tangents):
        (x, y), (tx, ty) = primals, tangents
        out = prim.bind(x, y)
        dtype = _dtype(out)
        half = broadcast_like(scalar(0.5, dtype), out)
        one, zero = broadcast_like(scalar(1, dtype), out), broadcast_like(scalar(0, dtype), out)
        tie = select(eq(x, y), half, zero)
        terms = []
        if tx is not None:
            terms.append(mul(tx, select(pick_x(x, y), one, tie)))
        if ty is not None:
            terms.append(mul(ty, select(pick_x(y, x), one, tie)))
        return out, _sum(*terms)
    jvp_rules[prim] = rule


_minmax_rule(max_p, gt)
_minmax_rule(min_p, lt)


def _atan2_rule(primals, tangents):
    # atan2(y, x): d = (x dy - y dx) / (x^2 + y^2)
    (y, x), (ty, tx) = primals, tangents
    out = atan2_p.bind(y, x)
    denom = add(mul(x, x), mul(y, y))
    terms = [mul(ty, div(x, denom)) if ty is not None else None,
             neg(mul(tx, div(y, denom))) if tx is not None else None]
    return out, _to_shape(_sum(*terms), out)


jvp_rules[atan2_p] = _atan2_rule
# x % y = x - floor(x / y) * y
_binary(rem_p, lambda x, y, out, tx: tx, lambda x, y, out, ty: neg(mul(ty, floor(div(x, y)))))


def _floordiv_rule(primals, tangents):
    # piecewise constant
    return floordiv_p.bind(*primals), None


jvp_rules[floordiv_p] = _floordiv_rule


# ----------------------------------------------------------------------------- elementwise: select, casts

def _select_rule(primals, tangents):
    pred, on_true, on_false = primals
    _, t_true, t_false = tangents      # the predicate is boolean: no tangent
    out = select(pred, on_true, on_false)
    if t_true is None and t_false is None:
        return out, None
    return out, select(pred, instantiate(t_true, on_true), instantiate(t_false, on_false))


jvp_rules[select_p] = _select_rule


def _convert_rule(primals, tangents, *, dtype):
    (x,), (t,) = primals, tangents
    out = convert_p.bind(x, dtype=dtype)
    if t is None or _dtype(x).kind != "f" or np.dtype(dtype).kind != "f":
        return out, None
    return out, convert_element_type(t, dtype)


jvp_rules[convert_p] = _convert_rule
# stop_gradient: the identity whose derivative is taken to be zero
jvp_rules[stop_gradient_p] = lambda primals, tangents: (stop_gradient_p.bind(*primals), None)


# ----------------------------------------------------------------------------- shape
# Structural primitives are linear (``pad`` pads with zeros; ``pad_add`` and
# ``concatenate`` are linear in all their operands jointly).

for _p in (reshape_p, transpose_p, broadcast_to_p, slice_p, pad_p, rev_p, concatenate_p):
    jvp_rules[_p] = linear_rule(_p)


def _pad_add_rule(primals, tangents, *, low, interior):
    (buf, piece), (t_buf, t_piece) = primals, tangents
    out = pad_add_p.bind(buf, piece, low=low, interior=interior)
    if t_piece is None:
        return out, t_buf
    return out, pad_add_p.bind(instantiate(t_buf, buf), t_piece, low=low, interior=interior)


jvp_rules[pad_add_p] = _pad_add_rule


# ----------------------------------------------------------------------------- reductions

jvp_rules[reduce_sum_p] = linear_rule(reduce_sum_p)


def _extremum_rule(prim):
    # The tangent of the extremal element, averaged over ties (the VJP's split).
    def rule(primals, tangents, *, axes, keepdims):
        (x,), (t,) = primals, tangents
        out = prim.bind(x, axes=axes, keepdims=keepdims)
        if t is None:
            return out, None
        shape, dtype = _shape(x), _dtype(x)
        mask = convert_element_type(eq(x, expand_reduced(out, shape, axes, keepdims)), dtype)
        count = reduce_sum(mask, axes, keepdims=True)
        share = div(mask, count)
        return out, reduce_sum(mul(share, t), axes, keepdims=keepdims)
    jvp_rules[prim] = rule


_extremum_rule(reduce_max_p)
_extremum_rule(reduce_min_p)


def _reduce_prod_rule(primals, tangents, *, axes, keepdims):
    # The product as a tree of pairwise products (as JAX does), each level one
    # ``mul`` of the even and the odd elements, differentiated by the product
    # rule: right at zeros (no division) and to every order, in log2(n) levels.
    (x,), (t,) = primals, tangents
    out = reduce_prod_p.bind(x, axes=axes, keepdims=keepdims)
    if t is None:
        return out, None
    shape = _shape(x)
    if not axes:
        return out, t
    kept = tuple(d for d in range(len(shape)) if d not in axes)
    kept_shape = tuple(shape[d] for d in kept)
    n = int(np.prod([shape[a] for a in axes], dtype=np.int64))
    if n == 0:
        return out, None      # the empty product is the constant 1
    perm = tuple(axes) + kept

    def flat(v):              # the reduced axes first, as one
        return reshape(transpose(v, perm), (n,) + kept_shape)

    xs, ts = flat(x), flat(t)
    dtype = _dtype(x)
    while n > 1:
        if n % 2:             # an odd count: one more factor 1 (tangent 0)
            xs = concatenate([xs, broadcast_to(scalar(1, dtype), (1,) + kept_shape)], 0)
            ts = concatenate([ts, broadcast_to(scalar(0, dtype), (1,) + kept_shape)], 0)
            n += 1
        rest = (0,) * len(kept_shape)

        def half(v, start):
            return slice_(v, (start,) + rest, (n,) + kept_shape, (2,) + (1,) * len(kept_shape))

        xa, xb, ta, tb = half(xs, 0), half(xs, 1), half(ts, 0), half(ts, 1)
        xs, ts = mul(xa, xb), add(mul(ta, xb), mul(xa, tb))
        n //= 2
    return out, reshape(ts, _shape(out))


jvp_rules[reduce_prod_p] = _reduce_prod_rule


# ----------------------------------------------------------------------------- indexing
# Linear in the array operands, with the (integer) indices held fixed. ``take``
# of the tangent clamps out-of-range indices as the value does (as JAX's
# gather); ``scatter_add`` of the tangents drops the updates the value drops.

def _take_rule(primals, tangents, *, axis):
    (x, idx), (t, _) = primals, tangents
    out = take(x, idx, axis)
    return out, (take(t, idx, axis) if t is not None else None)


jvp_rules[take_p] = _take_rule


def _scatter_add_rule(primals, tangents, *, axis):
    (operand, idx, updates), (t_op, _, t_upd) = primals, tangents
    out = scatter_add(operand, idx, updates, axis)
    if t_upd is None:
        return out, t_op
    return out, scatter_add(instantiate(t_op, operand), idx, t_upd, axis)


jvp_rules[scatter_add_p] = _scatter_add_rule


# ----------------------------------------------------------------------------- linalg

def _matmul_rule(primals, tangents, *, transpose_a, transpose_b):
    # d(op(A) op(B)) = op(dA) op(B) + op(A) op(dB)
    (a, b), (ta, tb) = primals, tangents
    flags = dict(transpose_a=transpose_a, transpose_b=transpose_b)
    out = matmul(a, b, **flags)
    return out, _sum(matmul(ta, b, **flags) if ta is not None else None,
                     matmul(a, tb, **flags) if tb is not None else None)


jvp_rules[matmul_p] = _matmul_rule

del _p
