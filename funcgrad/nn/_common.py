"""Helpers shared by ``funcgrad.nn``'s modules: argument checks that raise
funcgrad's errors with the function's name, shapes and dtypes."""
from __future__ import annotations

import numbers

import numpy as np

from .. import numpy as fnp
from ..core.trace import Tracer, aval_of
from ..errors import DtypeError, InputError


def is_traced(x) -> bool:
    return isinstance(x, Tracer)


def describe(x) -> str:
    """``f32[4,3]``: the dtype and shape of an array, traced or not."""
    return str(aval_of(x))


def as_float(x):
    """``x`` as an array; floating-point dtypes are kept, integers and booleans
    become float64 (as NumPy's ufuncs), Python floats are weak."""
    if isinstance(x, Tracer):
        return x if x.dtype.kind == "f" else fnp.astype(x, np.float64)
    if isinstance(x, (bool, int, float)) and not isinstance(x, np.generic):
        return np.asarray(x, dtype=np.float64)
    x = np.asarray(x)
    if x.dtype.kind == "f":
        return x
    if x.dtype.kind not in "biu":
        raise DtypeError(f"expected a numeric array, got dtype {x.dtype}")
    return x.astype(np.float64)


def require_float(fn: str, name: str, x, hint: str = ""):
    x = fnp.asarray(x)
    if x.dtype.kind != "f":
        raise DtypeError(f"nn.{fn}: {name} must be a floating-point array, got {describe(x)}{hint}")
    return x


def check_number(fn: str, name: str, value, *, lo=None, hi=None, lo_open=False, hi_open=False):
    """A static Python/NumPy number within [lo, hi] (ends open as asked); returns a float."""
    if isinstance(value, Tracer) or isinstance(value, bool) or not (
            isinstance(value, numbers.Real)
            or (isinstance(value, np.ndarray) and value.ndim == 0 and value.dtype.kind in "fiu")):
        got = describe(value) if isinstance(value, (Tracer, np.ndarray)) else repr(value)
        raise InputError(f"nn.{fn}: {name} must be a Python number, got {got}")
    v = float(value)
    bad = not np.isfinite(v)
    if lo is not None:
        bad = bad or (v <= lo if lo_open else v < lo)
    if hi is not None:
        bad = bad or (v >= hi if hi_open else v > hi)
    if bad:
        left = "(" if lo_open else "["
        right = ")" if hi_open else "]"
        rng = f"{left}{'-inf' if lo is None else lo}, {'inf' if hi is None else hi}{right}"
        raise InputError(f"nn.{fn}: {name} must be a finite number in {rng}, got {value!r}")
    return v
