"""What Numba's CUDA simulator needs to compute as the device does.

The simulator runs kernels as Python, where ``math.exp(1000.0)`` raises
``OverflowError``, ``math.log(0.0)`` raises ``ValueError`` and
``math.floor(inf)`` raises, while CUDA's libdevice returns ``inf``, ``-inf``
and ``inf`` (IEEE 754, as NumPy does). :data:`math` stands for the ``math``
module in kernels and device functions on the simulator: each function is
Python's, and where Python raises for a value IEEE arithmetic defines, the
answer is NumPy's (with its warnings silenced). On a GPU the real ``math``
module is used, which Numba compiles to libdevice.
"""
from __future__ import annotations

import math as _math

import numpy as np

__all__ = ["math"]

_NUMPY_NAMES = {"asin": "arcsin", "acos": "arccos", "atan": "arctan", "atan2": "arctan2", "asinh": "arcsinh",
                "acosh": "arccosh", "atanh": "arctanh", "pow": "power"}


def _lgamma(x):
    return _math.inf if float(x) <= 0 and float(x) == int(x) else _math.lgamma(x)


class _IEEEMath:
    def __getattr__(self, name):
        fn = getattr(_math, name)
        if not callable(fn):
            return fn
        if name == "lgamma":
            return _lgamma
        alt = getattr(np, _NUMPY_NAMES.get(name, name), None)

        def ieee(*args):
            try:
                return fn(*args)
            except (OverflowError, ValueError):
                if alt is None:
                    raise
                with np.errstate(all="ignore"):
                    return float(alt(*[np.float64(a) for a in args]))
        ieee.__name__ = name
        setattr(self, name, ieee)
        return ieee


math = _IEEEMath()
