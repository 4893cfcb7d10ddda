"""Scalar helpers that generated loops call (Numba inlines them).

Each matches NumPy's elementwise semantics (NaN propagation in maximum,
the sign of ``remainder``...), since the interpreter is NumPy itself.
"""
from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def fmax(a, b):
    # np.maximum: NaN if either is NaN
    if a != a:
        return a
    if b != b:
        return b
    return a if a >= b else b


@njit(cache=True)
def fmin(a, b):
    if a != a:
        return a
    if b != b:
        return b
    return a if a <= b else b


@njit(cache=True)
def sign(a):
    if a > 0:
        return a - a + 1
    if a < 0:
        return a - a - 1
    return a - a if a == a else a


@njit(cache=True)
def logistic(x):
    e = np.exp(-abs(x))
    one = e - e + 1
    return one / (one + e) if x >= 0 else e / (one + e)


@njit(cache=True)
def remainder_float(a, b):
    if b == 0:
        return (a - a) / (b - b)  # nan, as np.remainder
    r = np.fmod(a, b)
    if r != 0 and ((r < 0) != (b < 0)):
        r += b
    return r


@njit(cache=True)
def floordiv_float(a, b):
    return np.floor(a / b)


@njit(cache=True)
def remainder_int(a, b):
    if b == 0:
        return a - a
    r = a % b
    return r


@njit(cache=True)
def floordiv_int(a, b):
    if b == 0:
        return a - a
    return a // b


@njit(cache=True)
def rint(x):
    return np.rint(x)
