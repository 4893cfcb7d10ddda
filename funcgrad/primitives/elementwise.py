"""Elementwise primitives: shape rule, NumPy implementation and VJP of each.

Operands of n-ary primitives have one dtype (``funcgrad.numpy`` promotes
them) and broadcast against each other as in NumPy; VJP rules undo the
broadcast with :func:`unbroadcast`.
"""
from __future__ import annotations

import numpy as np

from ..core.ir import ShapedArray
from ..core.trace import Primitive, aval_of
from ..errors import DtypeError
from ._common import broadcast_shapes, describe, require_float, same_dtype, scalar

# ----------------------------------------------------------------------------- unary


def _unary(name, np_fn, *, float_only=True, vjp=None, kinds=None):
    p = Primitive(name)

    @p.def_abstract_eval
    def _abstract(x):
        if float_only:
            require_float(name, x)
        elif kinds is not None and x.dtype.kind not in kinds:
            raise DtypeError(f"{name}: unsupported dtype {x}")
        return ShapedArray(x.shape, x.dtype)

    p.def_impl(lambda x: np.asarray(np_fn(x)))
    if vjp is not None:
        p.def_vjp(vjp)
    return p


def _apply(p):
    return lambda x: p.bind(x)


neg_p = _unary("neg", np.negative, float_only=False, kinds="iuf",
               vjp=lambda ct, x, *, out: (neg(ct),))
exp_p = _unary("exp", np.exp, vjp=lambda ct, x, *, out: (mul(ct, out),))
log_p = _unary("log", np.log, vjp=lambda ct, x, *, out: (div(ct, x),))
log1p_p = _unary("log1p", np.log1p,
                 vjp=lambda ct, x, *, out: (div(ct, add(x, scalar(1, x.dtype))),))
expm1_p = _unary("expm1", np.expm1,
                 vjp=lambda ct, x, *, out: (mul(ct, add(out, scalar(1, out.dtype))),))
sqrt_p = _unary("sqrt", np.sqrt,
                vjp=lambda ct, x, *, out: (div(mul(ct, scalar(0.5, out.dtype)), out),))
sin_p = _unary("sin", np.sin, vjp=lambda ct, x, *, out: (mul(ct, cos(x)),))
cos_p = _unary("cos", np.cos, vjp=lambda ct, x, *, out: (neg(mul(ct, sin(x))),))
tan_p = _unary("tan", np.tan,
               vjp=lambda ct, x, *, out: (mul(ct, add(scalar(1, x.dtype), mul(out, out))),))
asin_p = _unary("asin", np.arcsin,
                vjp=lambda ct, x, *, out: (div(ct, sqrt(sub(scalar(1, x.dtype), mul(x, x)))),))
acos_p = _unary("acos", np.arccos,
                vjp=lambda ct, x, *, out: (neg(div(ct, sqrt(sub(scalar(1, x.dtype), mul(x, x))))),))
atan_p = _unary("atan", np.arctan,
                vjp=lambda ct, x, *, out: (div(ct, add(scalar(1, x.dtype), mul(x, x))),))
sinh_p = _unary("sinh", np.sinh, vjp=lambda ct, x, *, out: (mul(ct, cosh(x)),))
cosh_p = _unary("cosh", np.cosh, vjp=lambda ct, x, *, out: (mul(ct, sinh(x)),))
tanh_p = _unary("tanh", np.tanh,
                vjp=lambda ct, x, *, out: (mul(ct, sub(scalar(1, out.dtype), mul(out, out))),))


def _logistic_impl(x):
    # exp(-|x|) never overflows; both branches are exact where they are used.
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype)


logistic_p = _unary("logistic", _logistic_impl,
                    vjp=lambda ct, x, *, out: (mul(ct, mul(out, sub(scalar(1, out.dtype), out))),))
abs_p = _unary("abs", np.abs, float_only=False, kinds="iuf",
               vjp=lambda ct, x, *, out: (mul(ct, sign(x)),))
sign_p = _unary("sign", np.sign, float_only=False, kinds="iuf", vjp=lambda ct, x, *, out: (None,))
floor_p = _unary("floor", np.floor, vjp=lambda ct, x, *, out: (None,))
ceil_p = _unary("ceil", np.ceil, vjp=lambda ct, x, *, out: (None,))
round_p = _unary("round", np.rint, vjp=lambda ct, x, *, out: (None,))
not_p = _unary("not", lambda x: np.logical_not(x) if x.dtype == bool else np.invert(x),
               float_only=False, kinds="biu")
isfinite_p = Primitive("is_finite")
isfinite_p.def_abstract_eval(lambda x: (require_float("is_finite", x), ShapedArray(x.shape, bool))[1])
isfinite_p.def_impl(lambda x: np.asarray(np.isfinite(x)))

neg, exp, log, log1p, expm1, sqrt = map(_apply, (neg_p, exp_p, log_p, log1p_p, expm1_p, sqrt_p))
sin, cos, tan, asin, acos, atan = map(_apply, (sin_p, cos_p, tan_p, asin_p, acos_p, atan_p))
sinh, cosh, tanh, logistic = map(_apply, (sinh_p, cosh_p, tanh_p, logistic_p))
abs_, sign, floor, ceil, round_, logical_not, isfinite = map(
    _apply, (abs_p, sign_p, floor_p, ceil_p, round_p, not_p, isfinite_p))


# integer_pow: x ** n for a static integer n (exact, and defined for negative x)
integer_pow_p = Primitive("integer_pow")


@integer_pow_p.def_abstract_eval
def _integer_pow_abstract(x, *, y):
    if x.dtype.kind not in "iuf":
        raise DtypeError(f"integer_pow: unsupported dtype {x}")
    if y < 0 and x.dtype.kind != "f":
        raise DtypeError(f"integer_pow: negative exponent {y} of an integer array {x}")
    return ShapedArray(x.shape, x.dtype)


@integer_pow_p.def_impl
def _integer_pow_impl(x, *, y):
    if y < 0:
        return np.asarray(np.reciprocal(np.power(x, -y)))
    return np.asarray(np.power(x, y), dtype=x.dtype)


@integer_pow_p.def_vjp
def _integer_pow_vjp(ct, x, *, out, y):
    if y == 0:
        return (None,)
    if y == 1:
        return (ct,)
    d = x if y == 2 else integer_pow(x, y - 1)
    return (mul(ct, mul(d, scalar(y, aval_of(x).dtype))),)


def integer_pow(x, y: int):
    return integer_pow_p.bind(x, y=int(y))


# ----------------------------------------------------------------------------- binary

def _binary(name, np_fn, *, out_dtype=None, kinds="iuf"):
    p = Primitive(name)

    @p.def_abstract_eval
    def _abstract(x, y):
        dtype = same_dtype(name, x, y)
        if dtype.kind not in kinds:
            raise DtypeError(f"{name}: unsupported dtype for operands {describe(x, y)}")
        shape = broadcast_shapes(name, x, y)
        return ShapedArray(shape, out_dtype if out_dtype is not None else dtype)

    if out_dtype is None:
        p.def_impl(lambda x, y: np.asarray(np_fn(x, y), dtype=np.result_type(x)))
    else:
        p.def_impl(lambda x, y: np.asarray(np_fn(x, y)))
    return p


def unbroadcast(ct, shape):
    """Sum ``ct`` over the axes that broadcasting to its shape added or stretched."""
    from .reduction import reduce_sum
    from .shape import reshape

    if ct is None:
        return None
    ct_shape = aval_of(ct).shape
    shape = tuple(shape)
    if ct_shape == shape:
        return ct
    lead = len(ct_shape) - len(shape)
    axes = tuple(range(lead)) + tuple(
        lead + i for i, d in enumerate(shape) if d == 1 and ct_shape[lead + i] != 1)
    summed = reduce_sum(ct, axes=axes, keepdims=False) if axes else ct
    return reshape(summed, shape) if aval_of(summed).shape != shape else summed


def _shape(x):
    return aval_of(x).shape


add_p = _binary("add", np.add)
sub_p = _binary("sub", np.subtract)
mul_p = _binary("mul", np.multiply)
div_p = _binary("div", np.true_divide, kinds="f")
pow_p = _binary("pow", np.power, kinds="f")
max_p = _binary("max", np.maximum)
min_p = _binary("min", np.minimum)
atan2_p = _binary("atan2", np.arctan2, kinds="f")
rem_p = _binary("rem", np.remainder)
floordiv_p = _binary("floordiv", np.floor_divide)
and_p = _binary("and", lambda x, y: np.logical_and(x, y) if x.dtype == bool else np.bitwise_and(x, y),
                kinds="biu")
or_p = _binary("or", lambda x, y: np.logical_or(x, y) if x.dtype == bool else np.bitwise_or(x, y),
               kinds="biu")
xor_p = _binary("xor", lambda x, y: np.logical_xor(x, y) if x.dtype == bool else np.bitwise_xor(x, y),
                kinds="biu")
lt_p = _binary("lt", np.less, out_dtype=np.dtype(bool), kinds="biuf")
le_p = _binary("le", np.less_equal, out_dtype=np.dtype(bool), kinds="biuf")
gt_p = _binary("gt", np.greater, out_dtype=np.dtype(bool), kinds="biuf")
ge_p = _binary("ge", np.greater_equal, out_dtype=np.dtype(bool), kinds="biuf")
eq_p = _binary("eq", np.equal, out_dtype=np.dtype(bool), kinds="biuf")
ne_p = _binary("ne", np.not_equal, out_dtype=np.dtype(bool), kinds="biuf")


def _bin(p):
    return lambda x, y: p.bind(x, y)


add, sub, mul, div, pow_, max_, min_ = map(_bin, (add_p, sub_p, mul_p, div_p, pow_p, max_p, min_p))
atan2, rem, floordiv = map(_bin, (atan2_p, rem_p, floordiv_p))
logical_and, logical_or, logical_xor = map(_bin, (and_p, or_p, xor_p))
lt, le, gt, ge, eq, ne = map(_bin, (lt_p, le_p, gt_p, ge_p, eq_p, ne_p))


add_p.def_vjp(lambda ct, x, y, *, out: (unbroadcast(ct, _shape(x)), unbroadcast(ct, _shape(y))))
sub_p.def_vjp(lambda ct, x, y, *, out: (unbroadcast(ct, _shape(x)), unbroadcast(neg(ct), _shape(y))))
mul_p.def_vjp(lambda ct, x, y, *, out: (unbroadcast(mul(ct, y), _shape(x)),
                                         unbroadcast(mul(ct, x), _shape(y))))
div_p.def_vjp(lambda ct, x, y, *, out: (unbroadcast(div(ct, y), _shape(x)),
                                         unbroadcast(neg(div(mul(ct, out), y)), _shape(y))))


@pow_p.def_vjp
def _pow_vjp(ct, x, y, *, out):
    dtype = aval_of(out).dtype
    one = scalar(1, dtype)
    # d/dx x**y = y x**(y-1), which is 0 where y == 0, also at x == 0, where x**(y-1) is
    # inf and 0 * inf would be nan: there, use the exponent 0 instead of y-1. (JAX gives 0
    # there for an integer exponent but nan for a floating-point one: a deliberate difference.)
    safe_y = select(eq(y, scalar(0, dtype)), broadcast_like(one, y), y)
    dx = mul(ct, mul(y, pow_(x, sub(safe_y, one))))
    # d/dy x**y = log(x) x**y; at x == 0 the limit (y > 0) is 0, for x < 0 it is undefined (nan).
    safe_x = select(eq(x, scalar(0, dtype)), broadcast_like(one, x), x)
    dy = mul(ct, mul(out, log(safe_x)))
    return unbroadcast(dx, _shape(x)), unbroadcast(dy, _shape(y))


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


max_p.def_vjp(_minmax_vjp(gt))
min_p.def_vjp(_minmax_vjp(lt))


@atan2_p.def_vjp
def _atan2_vjp(ct, y, x, *, out):
    denom = add(mul(x, x), mul(y, y))
    return (unbroadcast(mul(ct, div(x, denom)), _shape(y)),
            unbroadcast(neg(mul(ct, div(y, denom))), _shape(x)))


@rem_p.def_vjp
def _rem_vjp(ct, x, y, *, out):
    # x % y = x - floor(x / y) * y
    return (unbroadcast(ct, _shape(x)),
            unbroadcast(neg(mul(ct, floor(div(x, y)))), _shape(y)) if aval_of(y).dtype.kind == "f" else None)


floordiv_p.def_vjp(lambda ct, x, y, *, out: (None, None))


# ----------------------------------------------------------------------------- select

select_p = Primitive("select")


@select_p.def_abstract_eval
def _select_abstract(pred, on_true, on_false):
    if pred.dtype != np.dtype(bool):
        raise DtypeError(f"where/select: the condition must be boolean, got {describe(pred, on_true, on_false)}")
    dtype = same_dtype("where/select", on_true, on_false)
    return ShapedArray(broadcast_shapes("where/select", pred, on_true, on_false), dtype)


select_p.def_impl(lambda p, t, f: np.asarray(np.where(p, t, f), dtype=np.result_type(t)))


@select_p.def_vjp
def _select_vjp(ct, pred, on_true, on_false, *, out):
    zero = broadcast_like(scalar(0, aval_of(ct).dtype), ct)
    return (None,
            unbroadcast(select(pred, ct, zero), _shape(on_true)),
            unbroadcast(select(pred, zero, ct), _shape(on_false)))


def select(pred, on_true, on_false):
    return select_p.bind(pred, on_true, on_false)


def broadcast_like(value, like):
    """``value`` (0-d) broadcast to ``like``'s shape."""
    from .shape import broadcast_to

    shape = aval_of(like).shape
    return broadcast_to(value, shape) if shape != () else value


# ----------------------------------------------------------------------------- casts

convert_p = Primitive("convert_element_type")


@convert_p.def_abstract_eval
def _convert_abstract(x, *, dtype):
    return ShapedArray(x.shape, dtype)


convert_p.def_impl(lambda x, *, dtype: np.asarray(x).astype(dtype))


@convert_p.def_vjp
def _convert_vjp(ct, x, *, out, dtype):
    src = aval_of(x).dtype
    if src.kind != "f" or np.dtype(dtype).kind != "f":
        return (None,)
    return (convert_element_type(ct, src),)


def convert_element_type(x, dtype):
    dtype = np.dtype(dtype)
    if aval_of(x).dtype == dtype:
        return x
    return convert_p.bind(x, dtype=dtype)


# stop_gradient: the identity, whose VJP is zero.
stop_gradient_p = Primitive("stop_gradient")
stop_gradient_p.def_abstract_eval(lambda x: x)
stop_gradient_p.def_impl(lambda x: x)
stop_gradient_p.def_vjp(lambda ct, x, *, out: (None,))


def stop_gradient(x):
    return stop_gradient_p.bind(x)
