"""Device functions that generated kernels call, with NumPy's elementwise
semantics (as ``numba_backend/scalar.py`` on the CPU)."""
from __future__ import annotations

import math

from numba import cuda

__all__ = ["d_logistic", "d_sign", "d_rint", "d_fmax", "d_fmin", "d_remainder_float", "d_remainder_int",
           "d_floordiv_float", "d_floordiv_int"]


@cuda.jit(device=True)
def d_fmax(a, b):
    # np.maximum: NaN if either is NaN
    if a != a:
        return a
    if b != b:
        return b
    return a if a >= b else b


@cuda.jit(device=True)
def d_fmin(a, b):
    if a != a:
        return a
    if b != b:
        return b
    return a if a <= b else b


@cuda.jit(device=True)
def d_sign(a):
    if a > 0:
        return a - a + 1
    if a < 0:
        return a - a - 1
    return a - a if a == a else a


@cuda.jit(device=True)
def d_logistic(x):
    e = math.exp(-abs(x))
    one = e - e + 1
    return one / (one + e) if x >= 0 else e / (one + e)


@cuda.jit(device=True)
def d_rint(x):
    # round half to even, as np.rint
    f = math.floor(x)
    d = x - f
    if d > 0.5 or (d == 0.5 and math.fmod(f, 2.0) != 0):
        f += 1
    return x - x + f


@cuda.jit(device=True)
def d_remainder_float(a, b):
    if b == 0:
        return (a - a) / (b - b)  # nan, as np.remainder
    r = math.fmod(a, b)
    if r != 0 and ((r < 0) != (b < 0)):
        r += b
    return r


@cuda.jit(device=True)
def d_floordiv_float(a, b):
    return math.floor(a / b)


@cuda.jit(device=True)
def d_remainder_int(a, b):
    if b == 0:
        return a - a
    return a % b


@cuda.jit(device=True)
def d_floordiv_int(a, b):
    if b == 0:
        return a - a
    return a // b
