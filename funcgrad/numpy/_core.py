"""NumPy's API over funcgrad's primitives.

Every function takes NumPy arrays, Python numbers and traced values alike;
on concrete inputs outside a trace it computes with NumPy. Dtypes follow
NumPy 2's rules, where Python scalars are "weak": ``x * 2.0`` keeps
``x``'s float32.
"""
from __future__ import annotations

import builtins
import math
import operator

import numpy as np

from .. import primitives as P
from ..core import trace as _trace
from ..core.trace import Tracer, aval_of
from ..errors import DtypeError, ShapeError, UnsupportedError
from ..primitives.elementwise import convert_p

_py_abs, _py_max, _py_min, _py_sum, _py_round = builtins.abs, builtins.max, builtins.min, builtins.sum, builtins.round
_py_any = builtins.any  # `any` and `all` below are NumPy's



class _ScalarMeta(type):
    """The type of funcgrad.numpy's scalar types (``float32``, ``int64``...),
    as JAX's: usable wherever NumPy's scalar type is a dtype (``np.dtype(t)``,
    ``dtype=t``, ``x.astype(t)``; equal to and hashing as NumPy's type;
    ``isinstance`` checks NumPy's type), and callable on traced values."""

    def __call__(cls, *args):
        if len(args) == 1 and _has_tracer(args[0]):
            return asarray(args[0], cls.dtype)
        return cls.dtype.type(*args)

    def __eq__(cls, other):
        return cls is other or cls.dtype.type == other

    def __ne__(cls, other):
        return not cls == other

    def __hash__(cls):
        return hash(cls.dtype.type)

    def __instancecheck__(cls, instance):
        return isinstance(instance, cls.dtype.type)

    def __subclasscheck__(cls, subclass):
        return subclass is cls or issubclass(subclass, cls.dtype.type)


def _scalar_type(np_type, name):
    dt = np.dtype(np_type)
    doc = (f"``{name}(x)``: ``x`` as {dt} (``asarray(x, dtype={dt})``, as ``jax.numpy.{name}``) when ``x``\n"
           f"is traced (or a list holding traced values), so it traces, with no cotangent\n"
           f"for integer and boolean results. On concrete values it is NumPy's ``np.{name}(x)``:\n"
           f"a NumPy scalar for a number, an ndarray for an array. As a dtype it is ``np.{name}``.")
    return _ScalarMeta(name, (), {"dtype": dt, "__doc__": doc, "__module__": "funcgrad.numpy",
                                  "__qualname__": name})


# dtype names, as in numpy (each one also a cast that traces, see _ScalarMeta)
float16, float32, float64 = (_scalar_type(t, n) for t, n in [
    (np.float16, "float16"), (np.float32, "float32"), (np.float64, "float64")])
int8, int16, int32, int64 = (_scalar_type(t, n) for t, n in [
    (np.int8, "int8"), (np.int16, "int16"), (np.int32, "int32"), (np.int64, "int64")])
uint8, uint16, uint32, uint64 = (_scalar_type(t, n) for t, n in [
    (np.uint8, "uint8"), (np.uint16, "uint16"), (np.uint32, "uint32"), (np.uint64, "uint64")])
bool_ = _scalar_type(np.bool_, "bool_")
pi, e, inf, nan, newaxis = np.pi, np.e, np.inf, np.nan, None
ndarray = np.ndarray
dtype = np.dtype
finfo, iinfo = np.finfo, np.iinfo


def _tracing() -> bool:
    return _trace.tracing()


def _is_weak(x) -> bool:
    """Python numbers, and traced values that came from them, promote weakly."""
    if isinstance(x, Tracer):
        return x.aval.weak_type
    return isinstance(x, (bool, int, float)) and not isinstance(x, np.generic)


_WEAK_PROXY = {"b": False, "i": 0, "u": 0, "f": 0.0}


def _mark_weak(out):
    """Results of operations whose operands are all weak stay weak (as in JAX)."""
    if isinstance(out, Tracer) and not out.aval.weak_type:
        a = out.aval
        out._var.aval = type(a)(a.shape, a.dtype, True)
    return out


def _dtype(x):
    if isinstance(x, Tracer):
        return x.dtype
    return np.asarray(x).dtype


def _has_tracer(x) -> bool:
    return isinstance(x, Tracer) or (isinstance(x, (list, tuple)) and _py_any(isinstance(v, Tracer)
                                                                           for v in _flat(x)))


def _cast(x, dtype):
    """Traced ``x`` as ``dtype``. An explicit dtype is a strong one (as in
    JAX): a value traced from a Python number stops promoting weakly."""
    dtype = np.dtype(dtype)
    if x.aval.weak_type and x.dtype == dtype:
        return convert_p.bind(x, dtype=dtype)
    return P.convert_element_type(x, dtype)


def asarray(a, dtype=None):
    """Like ``np.asarray``; traced values stay traced (``dtype=`` casts them:
    float casts keep their cotangents, integer and boolean results have none)."""
    if isinstance(a, Tracer):
        return _cast(a, dtype) if dtype is not None else a
    if isinstance(a, (list, tuple)) and _py_any(isinstance(x, Tracer) for x in _flat(a)):
        return stack([asarray(x, dtype) for x in a])
    out = np.asarray(a, dtype=dtype)
    if out.dtype == object:
        raise DtypeError(f"asarray: cannot make an array of {type(a).__name__} values")
    return out


array = asarray


def _flat(seq):
    for x in seq:
        if isinstance(x, (list, tuple)):
            yield from _flat(x)
        else:
            yield x


def result_type(*args):
    """NumPy 2's promotion with Python scalars (and values traced from them)
    weak; dtypes (``np.float32``, ``fnp.int32``, ``'f4'``...) count as themselves."""
    return np.result_type(*[(_WEAK_PROXY[a.dtype.kind] if isinstance(a, Tracer) else a)
                            if _is_weak(a) else np.dtype(a) if isinstance(a, (type, np.dtype, str))
                            else _dtype(a) for a in args])


def _promote(*args, dtype=None):
    """Convert ``args`` to one dtype (``dtype`` or the promoted one)."""
    target = np.dtype(dtype) if dtype is not None else result_type(*args)
    out = []
    for a in args:
        if isinstance(a, Tracer):
            out.append(P.convert_element_type(a, target))
        else:
            out.append(np.asarray(a, dtype=target) if _dtype(a) != target or _is_weak(a) else np.asarray(a))
    return out


def _to_float(x):
    dt = _dtype(x)
    if dt.kind == "f":
        return x if not _is_weak(x) or isinstance(x, Tracer) else np.asarray(x, dtype=np.float64)
    return _promote(x, dtype=np.float64)[0]


# ----------------------------------------------------------------------------- elementwise

def _unary_float(prim_fn, name):
    def f(x):
        out = prim_fn(_to_float(x))
        return _mark_weak(out) if _is_weak(x) else out
    f.__name__ = name
    f.__doc__ = f"Elementwise ``np.{name}``; integer inputs become float64."
    return f


exp = _unary_float(P.exp, "exp")
log = _unary_float(P.log, "log")
log1p = _unary_float(P.log1p, "log1p")
expm1 = _unary_float(P.expm1, "expm1")
sqrt = _unary_float(P.sqrt, "sqrt")
sin = _unary_float(P.sin, "sin")
cos = _unary_float(P.cos, "cos")
tan = _unary_float(P.tan, "tan")
arcsin = _unary_float(P.asin, "arcsin")
arccos = _unary_float(P.acos, "arccos")
arctan = _unary_float(P.atan, "arctan")
sinh = _unary_float(P.sinh, "sinh")
cosh = _unary_float(P.cosh, "cosh")
tanh = _unary_float(P.tanh, "tanh")
floor = _unary_float(P.floor, "floor")
ceil = _unary_float(P.ceil, "ceil")
rint = _unary_float(P.round_, "rint")


def exp2(x):
    x = _to_float(x)
    return P.exp(P.mul(x, np.asarray(math.log(2.0), _dtype(x))))


def log2(x):
    x = _to_float(x)
    return P.div(P.log(x), np.asarray(math.log(2.0), _dtype(x)))


def log10(x):
    x = _to_float(x)
    return P.div(P.log(x), np.asarray(math.log(10.0), _dtype(x)))


def round(a, decimals=0):  # noqa: A001 - numpy's name
    a = _to_float(a) if _dtype(a).kind == "f" or _is_weak(a) else a
    if _dtype(a).kind != "f":
        return a
    if decimals == 0:
        return P.round_(a)
    scale = np.asarray(10.0 ** decimals, _dtype(a))
    return P.div(P.round_(P.mul(a, scale)), scale)


around = round


def negative(x):
    (x,) = _promote(x)
    return P.neg(x)


def positive(x):
    return asarray(x)


def absolute(x):
    (x,) = _promote(x)
    return P.abs_(x)


abs = absolute  # noqa: A001
fabs = absolute


def sign(x):
    (x,) = _promote(x)
    return P.sign(x)


def square(x):
    (x,) = _promote(x)
    return P.integer_pow(x, 2)


def reciprocal(x):
    x = _to_float(x)
    return P.div(np.asarray(1, _dtype(x)), x)


def _binary(prim_fn, name, float_only=False):
    def f(x1, x2):
        weak = _is_weak(x1) and _is_weak(x2)
        x1, x2 = _promote(x1, x2)
        if float_only and _dtype(x1).kind != "f":
            x1, x2 = _promote(x1, x2, dtype=np.float64)
        out = prim_fn(x1, x2)
        return _mark_weak(out) if weak else out
    f.__name__ = name
    f.__doc__ = f"Elementwise ``np.{name}`` with broadcasting."
    return f


add = _binary(P.add, "add")
subtract = _binary(P.sub, "subtract")
multiply = _binary(P.mul, "multiply")
divide = _binary(P.div, "divide", float_only=True)
true_divide = divide
maximum = _binary(P.max_, "maximum")
minimum = _binary(P.min_, "minimum")
fmax, fmin = maximum, minimum
arctan2 = _binary(P.atan2, "arctan2", float_only=True)
remainder = _binary(P.rem, "remainder")
mod = remainder
floor_divide = _binary(P.floordiv, "floor_divide")
less = _binary(P.lt, "less")
less_equal = _binary(P.le, "less_equal")
greater = _binary(P.gt, "greater")
greater_equal = _binary(P.ge, "greater_equal")
equal = _binary(P.eq, "equal")
not_equal = _binary(P.ne, "not_equal")


def _logical(prim_fn, name):
    def f(x1, x2):
        return prim_fn(_promote(x1, dtype=bool)[0] if _dtype(x1) != bool else asarray(x1),
                       _promote(x2, dtype=bool)[0] if _dtype(x2) != bool else asarray(x2))
    f.__name__ = name
    return f


def _to_bool(x):
    if _dtype(x) == bool:
        return asarray(x)
    return not_equal(x, 0)


logical_and = _logical(lambda a, b: P.logical_and(_to_bool(a), _to_bool(b)), "logical_and")
logical_or = _logical(lambda a, b: P.logical_or(_to_bool(a), _to_bool(b)), "logical_or")
logical_xor = _logical(lambda a, b: P.logical_xor(_to_bool(a), _to_bool(b)), "logical_xor")


def logical_not(x):
    return P.logical_not(_to_bool(x))


bitwise_and = _binary(P.logical_and, "bitwise_and")
bitwise_or = _binary(P.logical_or, "bitwise_or")
bitwise_xor = _binary(P.logical_xor, "bitwise_xor")


def invert(x):
    return P.logical_not(asarray(x))


def isfinite(x):
    x = asarray(x)
    if _dtype(x).kind != "f":
        return full(shape(x), True)
    return P.isfinite(x)


def isnan(x):
    x = asarray(x)
    return not_equal(x, x)


def isinf(x):
    x = asarray(x)
    return logical_and(logical_not(isfinite(x)), logical_not(isnan(x)))


def power(x1, x2):
    """``x1 ** x2``. A static integer exponent (``x ** 2``) is exact and
    differentiable at negative ``x1``."""
    weak = _is_weak(x1) and _is_weak(x2)
    if (not isinstance(x2, Tracer) and _is_weak(x2) and not isinstance(x2, bool)
            and float(x2) == int(x2) and _py_abs(x2) <= 64):
        x1 = _promote(x1, x2)[0] if _is_weak(x1) else _promote(x1)[0]
        n = int(x2)
        if n < 0 and _dtype(x1).kind != "f":
            x1 = _to_float(x1)
        if isinstance(x2, float) and _dtype(x1).kind != "f":
            x1 = _to_float(x1)
        out = P.integer_pow(x1, n)
        return _mark_weak(out) if weak else out
    x1, x2 = _promote(x1, x2)
    if _dtype(x1).kind != "f":
        if isinstance(x2, np.ndarray) and not isinstance(x1, Tracer):
            return np.power(x1, x2)
        raise DtypeError(f"power: integer base and traced exponent are not supported "
                         f"({aval_of(x1)} ** {aval_of(x2)}); cast to float first")
    return P.pow_(x1, x2)


def float_power(x1, x2):
    return power(_promote(x1, dtype=np.float64)[0], _promote(x2, dtype=np.float64)[0])


def where(condition, x=None, y=None):
    """``np.where(condition, x, y)``; the one-argument form is not supported
    (its shape depends on values)."""
    if x is None or y is None:
        raise UnsupportedError("where: the one-argument form np.where(condition) has a value-dependent "
                               "shape; use where(condition, x, y)")
    x, y = _promote(x, y)
    return P.select(_to_bool(condition), x, y)


def clip(a, a_min=None, a_max=None, *, min=None, max=None):  # noqa: A002 - NumPy 2's keywords
    a_min = min if a_min is None else a_min
    a_max = max if a_max is None else a_max
    if a_min is None and a_max is None:
        raise ShapeError("clip: one of a_min and a_max must be given")
    out = a
    if a_min is not None:
        out = maximum(out, a_min)
    if a_max is not None:
        out = minimum(out, a_max)
    return out


def stop_gradient(x):
    return P.stop_gradient(asarray(x))


# ----------------------------------------------------------------------------- shapes

def shape(a):
    return aval_of(a).shape if isinstance(a, Tracer) else np.shape(a)


def ndim(a):
    return len(shape(a))


def size(a, axis=None):
    """``np.size``: the number of elements, or the product of the sizes of
    ``axis`` (an int or, as NumPy 2.4, a tuple of ints). A 0-d array has no axis."""
    s = shape(a)
    if axis is None:
        return int(np.prod(s))
    return int(np.prod([s[i] for i in _axes(axis, len(s), "size", s, zero_d=None)], dtype=np.int64))


def _axes(axis, nd, name="axis", shape_=None, *, zero_d="any", what=None):
    """``axis`` (None, an int or a sequence of ints) as a tuple of distinct
    non-negative ints, checked against an array of ``nd`` dimensions; a bad or
    repeated axis is a ShapeError naming ``name``, the axis and ``shape_``
    (or ``what``: the array the axes index, in words).

    ``zero_d`` says whether a 0-d array takes the axis 0 (or -1), normalized to
    0 (the primitives drop it, see ``primitives._common.normalize_axes``):

    - ``"int"``: from a bare integer only, as NumPy's ``sum``, ``max``, ``any``,
      ``argmax``, ``squeeze``... (``np.sum(x0d, axis=0)`` is ``x0d``, while
      ``np.sum(x0d, axis=(0,))`` raises an AxisError);
    - ``"any"``: from a tuple too (the default, for internal callers);
    - ``None``: never, as NumPy's ``mean``, ``var``, ``flip``, ``swapaxes``...
    """
    if axis is None:
        return tuple(range(nd))
    bare = isinstance(axis, (int, np.integer))
    axes = (axis,) if bare else tuple(axis)
    if what is None:
        what = (f"an array of shape {tuple(shape_)}" if shape_ is not None else "an array") + \
               f" ({nd} dimension{'' if nd == 1 else 's'})"
    out = []
    for ax in axes:
        ax = int(ax)
        if nd == 0 and ax in (0, -1) and (zero_d == "any" or (zero_d == "int" and bare)):
            out.append(0)
            continue
        if not -nd <= ax < nd:
            hint = ""
            if nd == 0 and ax in (0, -1) and zero_d == "int":
                hint = (f"; as NumPy, {name} takes the axis {ax} of a 0-d array as a bare integer "
                        f"(axis={ax}), not in a tuple")
            raise ShapeError(f"{name}: axis {ax} is out of bounds for {what}{hint}")
        out.append(ax % nd)
    if len(set(out)) != len(out):
        raise ShapeError(f"{name}: repeated axis in {axes} for {what}")
    return tuple(out)


def _axes_of(name, a, axis, zero_d=None):
    """``_axes`` for ``a``'s axes, its shape named in errors."""
    s = shape(a)
    return _axes(axis, len(s), name, s, zero_d=zero_d)


def _int_axis(name, axis):
    """NumPy's integer-only ``axis`` arguments (``cumsum``, ``take``,
    ``concatenate``, ``argmax``...): as NumPy, a TypeError for anything else."""
    try:
        return operator.index(axis)
    except TypeError:
        raise TypeError(f"{name}: axis must be an integer, got {type(axis).__name__} {axis!r}") from None


def _view_1d_axis(name, a, axis):
    """NumPy's integer-axis functions (``cumsum``, ``take``, ``repeat``) take
    a 0-d array as its 1-element 1-d view, with the axis 0 (or -1): ``a`` so
    viewed (checked; the axis is then 0), or ``a`` unchanged."""
    if ndim(a) != 0:
        return a, axis
    _axes(axis, 0, name, (), zero_d="int")
    return ravel(a), 0


def reshape(a, newshape=None, order="C", *, shape=None):
    if order != "C":
        raise UnsupportedError(f"reshape: order={order!r}; only C order is supported")
    newshape = shape if newshape is None else newshape
    a = asarray(a)
    if isinstance(newshape, (int, np.integer)):
        newshape = (int(newshape),)
    newshape = tuple(int(d) for d in newshape)
    size_ = aval_of(a).size
    if newshape.count(-1) > 1:
        raise ShapeError(f"reshape: can only specify one unknown dimension, got {newshape}")
    if -1 in newshape:
        known = int(np.prod([d for d in newshape if d != -1]))
        if known == 0 or size_ % known:
            raise ShapeError(f"reshape: cannot reshape {aval_of(a)} into shape {newshape}")
        newshape = tuple(size_ // known if d == -1 else d for d in newshape)
    return P.reshape(a, newshape)


def ravel(a, order="C"):
    return reshape(a, (-1,), order)


def transpose(a, axes=None):
    a = asarray(a)
    nd = ndim(a)
    axes = tuple(reversed(range(nd))) if axes is None else _axes_of("transpose", a, axes)
    if len(axes) != nd:
        raise ShapeError(f"transpose: axes {axes} don't match an array of {nd} dimensions")
    return P.transpose(a, axes)


def swapaxes(a, axis1, axis2):
    a = asarray(a)
    nd = ndim(a)
    (a1,) = _axes_of("swapaxes", a, _int_axis("swapaxes", axis1))
    (a2,) = _axes_of("swapaxes", a, _int_axis("swapaxes", axis2))
    perm = list(range(nd))
    perm[a1], perm[a2] = perm[a2], perm[a1]
    return transpose(a, perm)


def moveaxis(a, source, destination):
    a = asarray(a)
    nd = ndim(a)
    src = _axes_of("moveaxis", a, source)
    dst = _axes_of("moveaxis", a, destination)
    if len(src) != len(dst):
        raise ShapeError(f"moveaxis: source {source} and destination {destination} must have the same "
                         f"number of elements (array of shape {shape(a)})")
    order = [i for i in range(nd) if i not in src]
    for d, s in sorted(zip(dst, src)):
        order.insert(d, s)
    return transpose(a, order)


def expand_dims(a, axis):
    a = asarray(a)
    s = list(shape(a))
    nd = len(s) + (1 if isinstance(axis, (int, np.integer)) else len(axis))
    for ax in sorted(_axes(axis, nd, "expand_dims", what=f"the {nd}-d result of expanding an array of "
                                                          f"shape {tuple(s)}")):
        s.insert(ax, 1)
    return P.reshape(a, tuple(s))


def squeeze(a, axis=None):
    a = asarray(a)
    s = shape(a)
    if axis is None:
        axes = tuple(i for i, d in enumerate(s) if d == 1)
    else:
        axes = _axes(axis, len(s), "squeeze", s, zero_d="int")
        if not s:       # as NumPy: a 0-d array takes the axis 0 (or -1), as a bare integer, and stays 0-d
            axes = ()
        for ax in axes:
            if s[ax] != 1:
                raise ShapeError(f"squeeze: cannot select an axis to squeeze out which has size not "
                                 f"equal to one (axis {ax} of {aval_of(a)})")
    return P.reshape(a, tuple(d for i, d in enumerate(s) if i not in axes))


def broadcast_to(array, shape):
    array = asarray(array)
    shape = (shape,) if isinstance(shape, (int, np.integer)) else tuple(shape)
    return P.broadcast_to(array, shape)


def broadcast_shapes(*shapes):
    return np.broadcast_shapes(*shapes)


def broadcast_arrays(*args):
    s = np.broadcast_shapes(*[shape(a) for a in args])
    return [broadcast_to(a, s) for a in args]


def atleast_1d(a):
    a = asarray(a)
    return reshape(a, (1,)) if ndim(a) == 0 else a


def atleast_2d(a):
    a = asarray(a)
    return reshape(a, (1,) * (2 - ndim(a)) + shape(a)) if ndim(a) < 2 else a


def concatenate(arrays, axis=0):
    arrays = list(arrays)
    if not arrays:
        raise ShapeError("concatenate: need at least one array to concatenate")
    if axis is None:
        arrays, axis = [ravel(a) for a in arrays], 0
    axis = _int_axis("concatenate", axis)
    arrays = _promote(*arrays)
    for a in arrays:
        if ndim(a) == 0:
            raise ShapeError(f"concatenate: zero-dimensional arrays cannot be concatenated (an array of "
                             f"shape () along axis {axis}); stack them, or make them 1-d first")
    (axis,) = _axes_of("concatenate", arrays[0], axis)
    return P.concatenate(arrays, axis)


def stack(arrays, axis=0):
    arrays = [asarray(a) for a in arrays]
    if not arrays:
        raise ShapeError("stack: need at least one array to stack")
    shapes = {shape(a) for a in arrays}
    if len(shapes) != 1:
        raise ShapeError(f"stack: all input arrays must have the same shape, got {[aval_of(a) for a in arrays]}")
    nd = ndim(arrays[0]) + 1
    (ax,) = _axes(_int_axis("stack", axis), nd, "stack",
                  what=f"the {nd}-d result of stacking arrays of shape {shape(arrays[0])}")
    return concatenate([expand_dims(a, ax) for a in arrays], axis=ax)


def hstack(arrays):
    arrays = [atleast_1d(a) for a in arrays]
    return concatenate(arrays, axis=0 if ndim(arrays[0]) == 1 else 1)


def vstack(arrays):
    return concatenate([atleast_2d(a) for a in arrays], axis=0)


def _split_axis(name, ary, axis):
    axis = _int_axis(name, axis)
    if ndim(ary) == 0:
        raise ShapeError(f"{name}: cannot split a 0-d array (shape (), axis {axis}): it has no axes")
    return _axes_of(name, ary, axis)[0]


def split(ary, indices_or_sections, axis=0):
    ary = asarray(ary)
    s = shape(ary)
    axis = _split_axis("split", ary, axis)
    n = s[axis]
    if isinstance(indices_or_sections, (int, np.integer)):
        k = int(indices_or_sections)
        if k <= 0 or n % k:
            raise ShapeError(f"split: array split does not result in an equal division "
                             f"({n} along axis {axis} into {k})")
        bounds = [i * (n // k) for i in range(k + 1)]
    else:
        bounds = [0] + [_py_min(_py_max(int(i), 0), n) for i in indices_or_sections] + [n]
    out = []
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        starts = [0] * len(s)
        limits = list(s)
        starts[axis], limits[axis] = lo, _py_max(lo, hi)
        out.append(P.slice_(ary, starts, limits))
    return out


def array_split(ary, indices_or_sections, axis=0):
    ary = asarray(ary)
    axis = _split_axis("array_split", ary, axis)
    if isinstance(indices_or_sections, (int, np.integer)):
        n = shape(ary)[axis]
        k = int(indices_or_sections)
        if k <= 0:
            raise ShapeError(f"array_split: number sections must be larger than 0, got {k}")
        sizes = [n // k + (1 if i < n % k else 0) for i in range(k)]
        indices_or_sections = list(np.cumsum(sizes)[:-1])
    return split(ary, indices_or_sections, axis)


def flip(m, axis=None):
    m = asarray(m)
    return P.rev(m, _axes_of("flip", m, axis))


def fliplr(m):
    return flip(m, 1)


def flipud(m):
    return flip(m, 0)


def tile(a, reps):
    a = asarray(a)
    reps = (reps,) if isinstance(reps, int) else tuple(reps)
    nd = _py_max(ndim(a), len(reps))
    s = (1,) * (nd - ndim(a)) + shape(a)
    reps = (1,) * (nd - len(reps)) + reps
    a = reshape(a, s)
    inter = tuple(x for d, r in zip(s, reps) for x in (1, d))
    a = reshape(a, inter)
    a = broadcast_to(a, tuple(x for d, r in zip(s, reps) for x in (r, d)))
    return reshape(a, tuple(d * r for d, r in zip(s, reps)))


def repeat(a, repeats, axis=None):
    if not isinstance(repeats, (int, np.integer)):
        raise UnsupportedError("repeat: only an integer number of repeats is supported")
    a = asarray(a)
    if axis is None:
        a, axis = ravel(a), 0
    a, axis = _view_1d_axis("repeat", a, _int_axis("repeat", axis))
    s = shape(a)
    (axis,) = _axes_of("repeat", a, axis)
    b = expand_dims(a, axis + 1)
    b = broadcast_to(b, s[:axis + 1] + (int(repeats),) + s[axis + 1:])
    return reshape(b, s[:axis] + (s[axis] * int(repeats),) + s[axis + 1:])


# ----------------------------------------------------------------------------- reductions

def _sum_dtype(dt):
    dt = np.dtype(dt)
    if dt == bool or (dt.kind == "i" and dt.itemsize < 8):
        return np.dtype(np.int64)
    if dt.kind == "u" and dt.itemsize < 8:
        return np.dtype(np.uint64)
    return dt


def _check_out(out, name):
    if out is not None:
        raise UnsupportedError(f"{name}: the out= argument is not supported (arrays are immutable)")


def sum(a, axis=None, dtype=None, out=None, keepdims=False, initial=None, where=None):  # noqa: A001
    _check_out(out, "sum")
    if where is not None:
        a = globals()["where"](where, a, 0)
    a = asarray(a)
    a = _promote(a, dtype=dtype if dtype is not None else _sum_dtype(_dtype(a)))[0]
    r = P.reduce_sum(a, _axes_of("sum", a, axis, zero_d="int"), keepdims)
    return r if initial is None else add(r, initial)


def prod(a, axis=None, dtype=None, out=None, keepdims=False):
    _check_out(out, "prod")
    a = asarray(a)
    a = _promote(a, dtype=dtype if dtype is not None else _sum_dtype(_dtype(a)))[0]
    return P.reduce_prod(a, _axes_of("prod", a, axis, zero_d="int"), keepdims)


def _count(a, axes):
    s = shape(a)
    return int(np.prod([s[i] for i in axes]))


def mean(a, axis=None, dtype=None, out=None, keepdims=False):
    _check_out(out, "mean")
    a = asarray(a)
    if dtype is None:
        dtype = _dtype(a) if _dtype(a).kind == "f" else np.float64
    a = _promote(a, dtype=dtype)[0]
    axes = _axes_of("mean", a, axis)       # as np.mean: a 0-d array has no axis 0
    n = _count(a, axes)
    return P.div(P.reduce_sum(a, axes, keepdims), np.asarray(n, dtype=dtype))


def var(a, axis=None, dtype=None, out=None, ddof=0, keepdims=False):
    return _var("var", a, axis, dtype, out, ddof, keepdims)


def _var(name, a, axis, dtype, out, ddof, keepdims):
    _check_out(out, name)
    a = asarray(a)
    if dtype is None:
        dtype = _dtype(a) if _dtype(a).kind == "f" else np.float64
    a = _promote(a, dtype=dtype)[0]
    axes = _axes_of(name, a, axis)       # as np.var: a 0-d array has no axis 0
    centered = subtract(a, mean(a, axis=axes, keepdims=True))
    n = _count(a, axes) - ddof
    ss = P.reduce_sum(P.integer_pow(centered, 2), axes, keepdims)
    return P.div(ss, np.asarray(n, dtype=dtype))


def std(a, axis=None, dtype=None, out=None, ddof=0, keepdims=False):
    return sqrt(_var("std", a, axis, dtype, out, ddof, keepdims))


def max(a, axis=None, out=None, keepdims=False):  # noqa: A001
    _check_out(out, "max")
    a = asarray(a)
    axes = _axes_of("max", a, axis, zero_d="int")
    if _dtype(a) == bool:
        return any(a, axis=axis, keepdims=keepdims)
    return P.reduce_max(a, axes, keepdims)


def min(a, axis=None, out=None, keepdims=False):  # noqa: A001
    _check_out(out, "min")
    a = asarray(a)
    axes = _axes_of("min", a, axis, zero_d="int")
    if _dtype(a) == bool:
        return all(a, axis=axis, keepdims=keepdims)
    return P.reduce_min(a, axes, keepdims)


amax, amin = max, min


def any(a, axis=None, out=None, keepdims=False):  # noqa: A001
    _check_out(out, "any")
    b = _promote(_to_bool(a), dtype=np.int8)[0]
    return _to_bool(P.reduce_max(b, _axes_of("any", b, axis, zero_d="int"), keepdims))


def all(a, axis=None, out=None, keepdims=False):  # noqa: A001
    _check_out(out, "all")
    b = _promote(_to_bool(a), dtype=np.int8)[0]
    return _to_bool(P.reduce_min(b, _axes_of("all", b, axis, zero_d="int"), keepdims))


def _arg(prim_fn, name):
    def f(a, axis=None, out=None, keepdims=False):
        _check_out(out, name)
        a = asarray(a)
        nd = ndim(a)
        if axis is None:
            r = prim_fn(ravel(a), 0, False)
            return reshape(r, (1,) * nd) if keepdims else r    # as NumPy: a's ndim, all of size 1
        axis = _int_axis(name, axis)
        _axes_of(name, a, axis, zero_d="int")    # checked; a 0-d array takes the axis 0 (or -1)
        return prim_fn(a, axis, keepdims)
    f.__name__ = name
    return f


argmax = _arg(P.argmax, "argmax")
argmin = _arg(P.argmin, "argmin")


def logsumexp(a, axis=None, keepdims=False, b=None):
    """``log(sum(exp(a), axis))``, computed stably (as ``scipy.special.logsumexp``).

    As scipy's, a 0-d ``a`` is taken as its 1-element 1-d view: it takes the
    axis 0 (or -1, bare or in a tuple), and ``keepdims=True`` gives shape (1,)."""
    a = _to_float(asarray(a))
    what = None
    if ndim(a) == 0:
        what = "an array of shape () (taken as shape (1,), as scipy.special.logsumexp does)"
        a = reshape(a, (1,))
    axes = _axes(axis, ndim(a), "logsumexp", shape(a), zero_d=None, what=what)
    if b is not None:
        raise UnsupportedError("logsumexp: the b= weights are not supported")
    m = stop_gradient(max(a, axis=axes, keepdims=True))
    m = where(isfinite(m), m, 0)
    s = P.reduce_sum(exp(subtract(a, m)), axes, True)
    out = add(log(s), m)
    return out if keepdims else squeeze(out, axes) if axes else out


def cumsum(a, axis=None, dtype=None):
    """Cumulative sum, as a matmul with a triangular matrix of ones (exact for
    the moderate sizes it is meant for)."""
    a = asarray(a)
    if axis is None:
        a, axis = ravel(a), 0
    a, axis = _view_1d_axis("cumsum", a, _int_axis("cumsum", axis))   # as NumPy: a 0-d array gives shape (1,)
    a = _promote(a, dtype=dtype if dtype is not None else _sum_dtype(_dtype(a)))[0]
    (axis,) = _axes_of("cumsum", a, axis)
    n = shape(a)[axis]
    tri = np.triu(np.ones((n, n), dtype=_dtype(a)))
    moved = moveaxis(a, axis, -1)
    return moveaxis(matmul(moved, tri), -1, axis)


# ----------------------------------------------------------------------------- linear algebra

def matmul(x1, x2):
    x1, x2 = _promote(x1, x2)
    s1, s2 = shape(x1), shape(x2)
    if len(s1) == 0 or len(s2) == 0:
        raise ShapeError(f"matmul: input operand does not have enough dimensions "
                         f"({aval_of(x1)} @ {aval_of(x2)}); use * for scalars")
    a = reshape(x1, (1,) + s1) if len(s1) == 1 else x1
    b = reshape(x2, s2 + (1,)) if len(s2) == 1 else x2
    sa, sb = shape(a), shape(b)
    if sa[-1] != sb[-2]:
        raise ShapeError(f"matmul: contracting dimensions differ: {aval_of(x1)} @ {aval_of(x2)} "
                         f"({sa[-1]} != {sb[-2]})")
    try:
        batch = tuple(np.broadcast_shapes(sa[:-2], sb[:-2]))
    except ValueError:
        raise ShapeError(f"matmul: batch dimensions do not broadcast: {aval_of(x1)} @ {aval_of(x2)}") from None
    a = broadcast_to(a, batch + sa[-2:])
    b = broadcast_to(b, batch + sb[-2:])
    a, ta = _fold_transpose(a)
    b, tb = _fold_transpose(b)
    out = P.matmul(a, b, ta, tb)
    if len(s1) == 1:
        out = squeeze(out, -2)
    if len(s2) == 1:
        out = squeeze(out, -1)
    return out


def _fold_transpose(x):
    """If ``x`` was just made by swapping its last two axes, use the original
    with matmul's transpose flag (no copy in any backend)."""
    if isinstance(x, Tracer):
        eqn = x._trace.producer(x._var)
        if eqn is not None and eqn.primitive.name == "transpose":
            perm = eqn.params["permutation"]
            n = len(perm)
            if n >= 2 and perm == tuple(range(n - 2)) + (n - 1, n - 2):
                src = eqn.inputs[0]
                from ..core.ir import Var
                if type(src) is Var:
                    return Tracer(x._trace, src), True
    return x, False


def dot(a, b):
    if ndim(a) == 0 or ndim(b) == 0:
        return multiply(a, b)
    if ndim(b) <= 2:
        return matmul(a, b)
    return tensordot(a, b, axes=([ndim(a) - 1], [ndim(b) - 2]))


def vdot(a, b):
    return sum(multiply(ravel(a), ravel(b)))


def inner(a, b):
    if ndim(a) == 0 or ndim(b) == 0:
        return multiply(a, b)
    return tensordot(a, b, axes=([ndim(a) - 1], [ndim(b) - 1]))


def outer(a, b):
    return multiply(reshape(ravel(a), (-1, 1)), reshape(ravel(b), (1, -1)))


def tensordot(a, b, axes=2):
    a, b = _promote(a, b)
    na, nb = ndim(a), ndim(b)
    if isinstance(axes, (int, np.integer)):
        if int(axes) > _py_min(na, nb):
            raise ShapeError(f"tensordot: axes={int(axes)}: cannot contract the last {int(axes)} axes of an "
                             f"array of shape {shape(a)} with the first {int(axes)} of shape {shape(b)}")
        ax_a = list(range(na - int(axes), na))
        ax_b = list(range(int(axes)))
    else:
        ax_a, ax_b = axes
        ax_a = [ax_a] if isinstance(ax_a, (int, np.integer)) else list(ax_a)
        ax_b = [ax_b] if isinstance(ax_b, (int, np.integer)) else list(ax_b)
    ax_a = list(_axes_of("tensordot", a, ax_a)) if ax_a else []
    ax_b = list(_axes_of("tensordot", b, ax_b)) if ax_b else []
    sa, sb = shape(a), shape(b)
    if len(ax_a) != len(ax_b) or _py_any(sa[i] != sb[j] for i, j in zip(ax_a, ax_b)):
        raise ShapeError(f"tensordot: shape-mismatch for sum: {aval_of(a)} axes {ax_a}, {aval_of(b)} axes {ax_b}")
    free_a = [i for i in range(na) if i not in ax_a]
    free_b = [j for j in range(nb) if j not in ax_b]
    k = int(np.prod([sa[i] for i in ax_a]))
    at = reshape(transpose(a, free_a + ax_a), (int(np.prod([sa[i] for i in free_a])), k))
    bt = reshape(transpose(b, ax_b + free_b), (k, int(np.prod([sb[j] for j in free_b]))))
    out = matmul(at, bt)
    return reshape(out, tuple(sa[i] for i in free_a) + tuple(sb[j] for j in free_b))


def einsum(*operands, out=None, optimize=False, dtype=None, order="K", casting="safe"):
    """``np.einsum``, in the subscripts string form (``einsum('ij,jk->ik', a, b)``)
    and the interleaved sublist form (``einsum(a, [0, 1], b, [1, 2], [0, 2])``);
    see ``funcgrad.numpy._einsum``."""
    from ._einsum import einsum as _einsum
    return _einsum(*operands, out=out, optimize=optimize, dtype=dtype, order=order, casting=casting)


# ----------------------------------------------------------------------------- creation

def _creation_dtype(dtype, default=np.float64):
    return np.dtype(default if dtype is None else dtype)


def full(shape, fill_value, dtype=None):
    shape = (shape,) if isinstance(shape, (int, np.integer)) else tuple(int(d) for d in shape)
    if dtype is None:
        dtype = result_type(fill_value)
    fill = _promote(fill_value, dtype=dtype)[0]
    if not _tracing() and not isinstance(fill, Tracer):
        return np.full(shape, fill, dtype=dtype)
    return P.broadcast_to(fill, shape)


def zeros(shape, dtype=None):
    return full(shape, 0, _creation_dtype(dtype))


def ones(shape, dtype=None):
    return full(shape, 1, _creation_dtype(dtype))


def empty(shape, dtype=None):
    return zeros(shape, dtype)


def zeros_like(a, dtype=None, shape=None):
    return full(_shape_or(a, shape), 0, dtype if dtype is not None else _dtype(a))


def ones_like(a, dtype=None, shape=None):
    return full(_shape_or(a, shape), 1, dtype if dtype is not None else _dtype(a))


def full_like(a, fill_value, dtype=None, shape=None):
    return full(_shape_or(a, shape), fill_value, dtype if dtype is not None else _dtype(a))


def empty_like(a, dtype=None, shape=None):
    return zeros_like(a, dtype, shape)


def _shape_or(a, s):
    return globals()["shape"](a) if s is None else s


def arange(start, stop=None, step=None, dtype=None):
    for v in (start, stop, step):
        if isinstance(v, Tracer):
            raise UnsupportedError("arange: bounds must be static numbers, not traced values "
                                   "(the result's shape would depend on them)")
    ref = np.arange(start, stop, step, dtype=dtype) if step is not None else (
        np.arange(start, stop, dtype=dtype) if stop is not None else np.arange(start, dtype=dtype))
    if not _tracing():
        return ref
    n = ref.shape[0]
    if n == 0:
        return ref
    lo = start if stop is not None else 0
    st = 1 if step is None else step
    base = P.iota((n,), 0, ref.dtype)
    if st != 1:
        base = P.mul(base, np.asarray(st, ref.dtype))
    if lo != 0:
        base = P.add(base, np.asarray(lo, ref.dtype))
    return base


def linspace(start, stop, num=50, endpoint=True, dtype=None):
    dtype = np.dtype(np.float64 if dtype is None else dtype)
    if not _tracing() and not isinstance(start, Tracer) and not isinstance(stop, Tracer):
        return np.linspace(start, stop, num, endpoint=endpoint, dtype=dtype)
    div_ = (num - 1) if endpoint else num
    idx = P.iota((num,), 0, dtype)
    start, stop = _promote(start, stop, dtype=dtype)
    stepv = P.div(P.sub(stop, start), np.asarray(_py_max(div_, 1), dtype))
    return P.add(start, P.mul(idx, stepv))


def eye(N, M=None, k=0, dtype=None):
    dtype = _creation_dtype(dtype)
    M = N if M is None else M
    if not _tracing():
        return np.eye(N, M, k, dtype=dtype)
    rows = P.iota((N, M), 0, np.int64)
    cols = P.iota((N, M), 1, np.int64)
    return P.convert_element_type(P.eq(P.add(rows, np.asarray(k, np.int64)), cols), dtype)


identity = eye


def tri(N, M=None, k=0, dtype=None):
    dtype = _creation_dtype(dtype)
    M = N if M is None else M
    if not _tracing():
        return np.tri(N, M, k, dtype=dtype)
    rows = P.iota((N, M), 0, np.int64)
    cols = P.iota((N, M), 1, np.int64)
    return P.convert_element_type(P.le(cols, P.add(rows, np.asarray(k, np.int64))), dtype)


def one_hot(indices, num_classes, dtype=None, axis=-1):
    """``one_hot(y, n)[..., c] = (y[...] == c)``, as in ``jax.nn.one_hot``."""
    dtype = _creation_dtype(dtype)
    indices = asarray(indices)
    nd = ndim(indices) + 1
    (axis,) = _axes(_int_axis("one_hot", axis), nd, "one_hot",
                    what=f"the {nd}-d one-hot result for indices of shape {shape(indices)}")
    classes_shape = [1] * nd
    classes_shape[axis] = num_classes
    classes = reshape(arange(num_classes), tuple(classes_shape))
    return astype(equal(expand_dims(indices, axis), classes), dtype)


def astype(x, dtype, copy=True):
    """``x`` as ``dtype`` (``np.float32``, ``fnp.int32``, ``int``, ``'float64'``...)."""
    x = asarray(x)
    dtype = np.dtype(dtype)
    if isinstance(x, Tracer):
        return _cast(x, dtype)
    return x.astype(dtype)


def copy(a):
    return asarray(a) if isinstance(a, Tracer) else np.array(a, copy=True)


# ----------------------------------------------------------------------------- gather

def _wrap_indices(indices, n, name):
    """NumPy's negative indices, checked when known (see ``_indexing.wrap_indices``)."""
    from . import _indexing
    return _indexing.wrap_indices(indices, n, name)


def take(a, indices, axis=None, mode=None, fill_value=None):
    from . import _indexing
    if axis is not None:
        axis = _int_axis("take", axis)
        if ndim(a) == 0:    # as NumPy: the 1-element view of a 0-d array, by the axis 0 (or -1)
            _axes(axis, 0, "take", (), zero_d="int")
            axis = None
        else:
            _axes_of("take", a, axis)
    return _indexing.take(a, indices, axis, mode, fill_value)


def take_along_axis(arr, indices, axis, mode=None, fill_value=None):
    from . import _indexing
    if axis is None:
        if ndim(indices) != 1:
            raise ShapeError(f"take_along_axis: when axis=None, indices must have a single dimension, "
                             f"got shape {shape(indices)}")
    else:
        _axes_of("take_along_axis", arr, _int_axis("take_along_axis", axis))   # a 0-d arr has no axis 0
    return _indexing.take_along_axis(arr, indices, axis, mode, fill_value)


__all__ = [n for n in list(globals()) if not n.startswith("_") and n not in {
    "annotations", "builtins", "math", "numbers", "np", "P", "Tracer", "aval_of", "convert_p",
    "DtypeError", "ShapeError", "UnsupportedError"}]
