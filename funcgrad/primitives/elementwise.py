"""Elementwise primitives: shape rule and NumPy implementation of each (their
VJP rules are in :mod:`funcgrad.transforms.vjp.rules`).

Operands of n-ary primitives have one dtype (``funcgrad.numpy`` promotes
them) and broadcast against each other as in NumPy; VJP rules undo the
broadcast with :func:`unbroadcast`.
"""
from __future__ import annotations

import numpy as np

from ..core.ir import ShapedArray
from ..core.trace import Primitive, aval_of
from ..errors import DtypeError
from ._common import broadcast_shapes, describe, require_float, same_dtype

# ----------------------------------------------------------------------------- unary


def _unary(name, np_fn, *, float_only=True, kinds=None):
    p = Primitive(name)

    @p.def_abstract_eval
    def _abstract(x):
        if float_only:
            require_float(name, x)
        elif kinds is not None and x.dtype.kind not in kinds:
            raise DtypeError(f"{name}: unsupported dtype {x}")
        return ShapedArray(x.shape, x.dtype)

    p.def_impl(lambda x: np.asarray(np_fn(x)))
    return p


def _apply(p):
    return lambda x: p.bind(x)


neg_p = _unary("neg", np.negative, float_only=False, kinds="iuf")
exp_p = _unary("exp", np.exp)
log_p = _unary("log", np.log)
log1p_p = _unary("log1p", np.log1p)
expm1_p = _unary("expm1", np.expm1)
sqrt_p = _unary("sqrt", np.sqrt)
sin_p = _unary("sin", np.sin)
cos_p = _unary("cos", np.cos)
tan_p = _unary("tan", np.tan)
asin_p = _unary("asin", np.arcsin)
acos_p = _unary("acos", np.arccos)
atan_p = _unary("atan", np.arctan)
sinh_p = _unary("sinh", np.sinh)
cosh_p = _unary("cosh", np.cosh)
tanh_p = _unary("tanh", np.tanh)


def _logistic_impl(x):
    # exp(-|x|) never overflows; both branches are exact where they are used.
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype)


logistic_p = _unary("logistic", _logistic_impl)
abs_p = _unary("abs", np.abs, float_only=False, kinds="iuf")
sign_p = _unary("sign", np.sign, float_only=False, kinds="iuf")
floor_p = _unary("floor", np.floor)
ceil_p = _unary("ceil", np.ceil)
round_p = _unary("round", np.rint)
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


# ----------------------------------------------------------------------------- select

select_p = Primitive("select")


@select_p.def_abstract_eval
def _select_abstract(pred, on_true, on_false):
    if pred.dtype != np.dtype(bool):
        raise DtypeError(f"where/select: the condition must be boolean, got {describe(pred, on_true, on_false)}")
    dtype = same_dtype("where/select", on_true, on_false)
    return ShapedArray(broadcast_shapes("where/select", pred, on_true, on_false), dtype)


select_p.def_impl(lambda p, t, f: np.asarray(np.where(p, t, f), dtype=np.result_type(t)))


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


def convert_element_type(x, dtype):
    dtype = np.dtype(dtype)
    if aval_of(x).dtype == dtype:
        return x
    return convert_p.bind(x, dtype=dtype)


# stop_gradient: the identity, whose VJP is zero.
stop_gradient_p = Primitive("stop_gradient")
stop_gradient_p.def_abstract_eval(lambda x: x)
stop_gradient_p.def_impl(lambda x: x)


def stop_gradient(x):
    return stop_gradient_p.bind(x)
