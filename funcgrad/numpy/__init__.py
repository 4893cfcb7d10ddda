"""``funcgrad.numpy``: NumPy's names and signatures, differentiable.

Importing this module also teaches traced values NumPy's operators, methods,
and NumPy's own dispatch protocols (``__array_ufunc__`` and
``__array_function__``), so that plain ``numpy`` code traces as it is.
"""
from __future__ import annotations

import numpy as _np

from ..core.ir import ShapedArray as _ShapedArray
from ..core.trace import Tracer as _Tracer
from ..errors import UnsupportedError as _UnsupportedError
from . import _core, _math, _shapes, _stats
from ._core import *  # noqa: F401,F403
from ._core import (_promote, abs, all, any, max, min, round, sum)  # noqa: F401,A004
from ._einsum import einsum  # noqa: F401
from ._indexing import getitem as _getitem
from ._math import *  # noqa: F401,F403
from ._shapes import *  # noqa: F401,F403
from ._stats import *  # noqa: F401,F403

__all__ = list(_core.__all__) + ["einsum"] + list(_math.__all__) + list(_shapes.__all__) + list(_stats.__all__)


# ----------------------------------------------------------------------------- Tracer methods

def _r(f):
    return lambda self, other: f(other, self)


def _install_tracer_methods():
    T = _Tracer
    c = _core
    ops = {
        "__add__": c.add, "__radd__": _r(c.add),
        "__sub__": c.subtract, "__rsub__": _r(c.subtract),
        "__mul__": c.multiply, "__rmul__": _r(c.multiply),
        "__truediv__": c.divide, "__rtruediv__": _r(c.divide),
        "__floordiv__": c.floor_divide, "__rfloordiv__": _r(c.floor_divide),
        "__mod__": c.remainder, "__rmod__": _r(c.remainder),
        "__pow__": c.power, "__rpow__": _r(c.power),
        "__matmul__": c.matmul, "__rmatmul__": _r(c.matmul),
        "__lt__": c.less, "__le__": c.less_equal, "__gt__": c.greater, "__ge__": c.greater_equal,
        "__eq__": c.equal, "__ne__": c.not_equal,
        "__and__": c.logical_and, "__rand__": _r(c.logical_and),
        "__or__": c.logical_or, "__ror__": _r(c.logical_or),
        "__xor__": c.logical_xor, "__rxor__": _r(c.logical_xor),
    }
    for name, f in ops.items():
        setattr(T, name, f)
    T.__neg__ = c.negative
    T.__pos__ = c.positive
    T.__abs__ = c.absolute
    T.__invert__ = c.invert
    T.__getitem__ = _getitem

    def __setitem__(self, key, value):
        raise _UnsupportedError(
            f"item assignment on a traced array {self.aval}: arrays are immutable in traced code. "
            "Build the new array with funcgrad.numpy.where, concatenate or one_hot instead")

    T.__setitem__ = __setitem__
    T.T = property(lambda self: c.transpose(self))
    T.mT = property(lambda self: c.swapaxes(self, -1, -2))

    def reshape(self, *shape, order="C"):
        if len(shape) == 1 and not isinstance(shape[0], int):
            shape = shape[0]
        return c.reshape(self, shape, order)

    def transpose(self, *axes):
        if len(axes) == 1 and not isinstance(axes[0], int):
            axes = axes[0]
        return c.transpose(self, axes or None)

    T.reshape = reshape
    T.transpose = transpose
    T.astype = lambda self, dtype, copy=True: c.astype(self, dtype)
    T.sum = lambda self, axis=None, dtype=None, out=None, keepdims=False, initial=None, where=None: c.sum(
        self, axis, dtype, out, keepdims, initial, where)
    T.mean = lambda self, axis=None, dtype=None, out=None, keepdims=False: c.mean(self, axis, dtype, out, keepdims)
    T.prod = lambda self, axis=None, dtype=None, out=None, keepdims=False: c.prod(self, axis, dtype, out, keepdims)
    def _extremum(reduce, combine):
        def method(self, axis=None, out=None, keepdims=False, initial=None, where=None):
            if where is not None:
                raise _UnsupportedError(f"{reduce.__name__}: the where= argument is not supported on "
                                        f"traced arrays (called on {self.aval})")
            r = reduce(self, axis, out, keepdims)
            return r if initial is None else combine(r, initial)
        return method

    T.max = _extremum(c.max, c.maximum)
    T.min = _extremum(c.min, c.minimum)
    T.any = lambda self, axis=None, out=None, keepdims=False: c.any(self, axis, out, keepdims)
    T.all = lambda self, axis=None, out=None, keepdims=False: c.all(self, axis, out, keepdims)
    T.var = lambda self, axis=None, dtype=None, out=None, ddof=0, keepdims=False: c.var(
        self, axis, dtype, out, ddof, keepdims)
    T.std = lambda self, axis=None, dtype=None, out=None, ddof=0, keepdims=False: c.std(
        self, axis, dtype, out, ddof, keepdims)
    T.argmax = lambda self, axis=None, out=None, keepdims=False: c.argmax(self, axis, out, keepdims)
    T.argmin = lambda self, axis=None, out=None, keepdims=False: c.argmin(self, axis, out, keepdims)
    T.clip = lambda self, min=None, max=None: c.clip(self, min, max)
    T.dot = lambda self, other: c.dot(self, other)
    T.ravel = lambda self, order="C": c.ravel(self, order)
    T.flatten = T.ravel
    T.squeeze = lambda self, axis=None: c.squeeze(self, axis)
    T.swapaxes = lambda self, a1, a2: c.swapaxes(self, a1, a2)
    T.copy = lambda self: self
    T.round = lambda self, decimals=0: c.round(self, decimals)
    T.take = lambda self, indices, axis=None, mode=None, fill_value=None: c.take(
        self, indices, axis, mode, fill_value)
    T.cumsum = lambda self, axis=None, dtype=None: c.cumsum(self, axis, dtype)
    T.cumprod = lambda self, axis=None, dtype=None: _stats.cumprod(self, axis, dtype)
    # as on JAX arrays: a sorted copy (NumPy's ndarray.sort sorts in place; traced arrays are immutable)
    T.sort = lambda self, axis=-1, kind=None, order=None: _stats.sort(self, axis, kind=kind, order=order)
    T.argsort = lambda self, axis=-1, kind=None, order=None: _stats.argsort(self, axis, kind=kind, order=order)
    T.nonzero = lambda self: _stats.nonzero(self)
    T.diagonal = lambda self, offset=0, axis1=0, axis2=1: _shapes.diagonal(self, offset, axis1, axis2)
    T.trace = lambda self, offset=0, axis1=0, axis2=1, dtype=None, out=None: _shapes.trace(
        self, offset, axis1, axis2, dtype, out)
    T.repeat = lambda self, repeats, axis=None: c.repeat(self, repeats, axis)
    T.__divmod__ = lambda self, other: (c.floor_divide(self, other), c.remainder(self, other))
    T.__rdivmod__ = lambda self, other: (c.floor_divide(other, self), c.remainder(other, self))

    def item(self, *args):
        self._concrete_error(".item()", "Return the array from the function to read its value.")

    T.item = item
    T.tolist = item
    T.__array_ufunc__ = _array_ufunc
    T.__array_function__ = _array_function


# ----------------------------------------------------------------------------- NumPy dispatch

_UFUNCS = {
    "add": "add", "subtract": "subtract", "multiply": "multiply", "divide": "divide",
    "true_divide": "divide", "floor_divide": "floor_divide", "remainder": "remainder",
    "negative": "negative", "positive": "positive", "power": "power", "float_power": "float_power",
    "exp": "exp", "exp2": "exp2", "log": "log", "log2": "log2", "log10": "log10",
    "log1p": "log1p", "expm1": "expm1", "sqrt": "sqrt", "square": "square", "reciprocal": "reciprocal",
    "sin": "sin", "cos": "cos", "tan": "tan", "arcsin": "arcsin", "arccos": "arccos",
    "arctan": "arctan", "arctan2": "arctan2", "sinh": "sinh", "cosh": "cosh", "tanh": "tanh",
    "absolute": "absolute", "fabs": "absolute", "sign": "sign", "maximum": "maximum", "minimum": "minimum",
    "fmax": "maximum", "fmin": "minimum", "floor": "floor", "ceil": "ceil", "rint": "rint",
    "less": "less", "less_equal": "less_equal", "greater": "greater", "greater_equal": "greater_equal",
    "equal": "equal", "not_equal": "not_equal", "logical_and": "logical_and",
    "logical_or": "logical_or", "logical_xor": "logical_xor", "logical_not": "logical_not",
    "bitwise_and": "bitwise_and", "bitwise_or": "bitwise_or", "bitwise_xor": "bitwise_xor",
    "invert": "invert", "isfinite": "isfinite", "isnan": "isnan", "isinf": "isinf", "matmul": "matmul",
}
for _module in (_math, _shapes, _stats):      # NumPy ufuncs the other modules implement
    _UFUNCS.update(getattr(_module, "UFUNCS", {}))
_UFUNC_REDUCE = {"add": "sum", "multiply": "prod", "maximum": "max", "minimum": "min",
                 "logical_and": "all", "logical_or": "any"}


def _describe_args(args):
    """``f64[2,3], float`` for an error message: avals of arrays, types of the rest."""
    out = []
    for a in args[:3]:
        if isinstance(a, _Tracer):
            out.append(str(a.aval))
        elif isinstance(a, (_np.ndarray, _np.generic)):
            out.append(str(_ShapedArray(a.shape, a.dtype)))
        else:
            out.append(type(a).__name__)
    return ", ".join(out) + (", ..." if len(args) > 3 else "")


def _array_ufunc(self, ufunc, method, *inputs, **kwargs):
    name = ufunc.__name__
    called_on = f" (called on {_describe_args(inputs)})"
    if kwargs.get("out") is not None:
        raise _UnsupportedError(f"numpy.{name}: the out= argument is not supported on traced arrays "
                                f"(arrays are immutable){called_on}")
    kwargs.pop("out", None)
    if method == "__call__":
        target = _UFUNCS.get(name)
        if target is None:
            raise _UnsupportedError(f"numpy.{name} is not supported on traced arrays by funcgrad{called_on}")
        for k in ("dtype", "casting", "order", "subok", "where", "signature"):
            if k in kwargs and kwargs[k] is not None and not (k == "where" and kwargs[k] is True):
                raise _UnsupportedError(f"numpy.{name}: the {k}= argument is not supported on traced "
                                        f"arrays{called_on}")
        return _public(target)(*inputs)
    if method == "reduce" and name in _UFUNC_REDUCE:
        axis = kwargs.get("axis", 0)
        return _public(_UFUNC_REDUCE[name])(inputs[0], axis=axis, keepdims=kwargs.get("keepdims", False))
    raise _UnsupportedError(f"numpy.{name}.{method} is not supported on traced arrays by funcgrad{called_on}")


_FUNCTION_ALIASES = {"amax": "max", "amin": "min", "round_": "round", "around": "round",
                     "concat": "concatenate", "permute_dims": "transpose", "pow": "power",
                     "acos": "arccos", "asin": "arcsin", "atan": "arctan", "atan2": "arctan2"}
_NOT_NUMPY = {"stop_gradient", "logsumexp", "one_hot", "asarray", "array"}


_PUBLIC = frozenset(__all__)


def _public(name):
    """The function ``name`` of this namespace (``funcgrad.numpy.<name>``), or None."""
    return globals().get(name) if name in _PUBLIC else None


def _array_function(self, func, types, args, kwargs):
    name = func.__name__
    if getattr(func, "__module__", None) == "numpy.linalg":
        impl = getattr(linalg, name, None) if name in linalg.__all__ else None
        if impl is None:
            raise _UnsupportedError(f"numpy.linalg.{name} is not supported on traced arrays by funcgrad "
                                    f"(called on {_describe_args(args)})")
        return impl(*args, **kwargs)
    target = _FUNCTION_ALIASES.get(name, name)
    impl = _public(target) if target not in _NOT_NUMPY else None
    if name in ("asarray", "array", "asanyarray", "ascontiguousarray"):
        impl = None
    if impl is None or not callable(impl):
        module = getattr(func, "__module__", "numpy") or "numpy"
        module = "numpy" if module.startswith("numpy._core") or module == "numpy" else module
        raise _UnsupportedError(f"{module}.{name} is not supported on traced arrays by funcgrad "
                                f"(called on {_describe_args(args)})")
    return impl(*args, **kwargs)


from . import linalg  # noqa: E402  (funcgrad.numpy.linalg)

_install_tracer_methods()
