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


@njit(cache=True, error_model="numpy")
def logistic(x):
    e = np.exp(-abs(x))
    one = e - e + 1
    return one / (one + e) if x >= 0 else e / (one + e)


@njit(cache=True, error_model="numpy")
def remainder_float(a, b):
    if b == 0:
        return (a - a) / (b - b)  # nan, as np.remainder
    r = np.fmod(a, b)
    if r != 0 and ((r < 0) != (b < 0)):
        r += b
    return r


@njit(cache=True, error_model="numpy")
def floordiv_float(a, b):
    return np.floor(a / b)


@njit(cache=True, error_model="numpy")
def remainder_int(a, b):
    if b == 0:
        return a - a
    r = a % b
    return r


@njit(cache=True, error_model="numpy")
def floordiv_int(a, b):
    if b == 0:
        return a - a
    return a // b


@njit(cache=True)
def rint(x):
    return np.rint(x)


# ----------------------------------------------------------------------------- random bits
# Numba types the arithmetic of two uint32 values as 64-bit: every step is cast
# back to np.uint32, so that the bits equal the NumPy implementation's
# (funcgrad/primitives/random.py).

@njit(cache=True)
def _rotl32(x, r):
    return np.uint32((x << np.uint32(r)) | (x >> np.uint32(32 - r)))


@njit(cache=True)
def _four_rounds(x0, x1, r0, r1, r2, r3):
    x0 = np.uint32(x0 + x1)
    x1 = np.uint32(_rotl32(x1, r0) ^ x0)
    x0 = np.uint32(x0 + x1)
    x1 = np.uint32(_rotl32(x1, r1) ^ x0)
    x0 = np.uint32(x0 + x1)
    x1 = np.uint32(_rotl32(x1, r2) ^ x0)
    x0 = np.uint32(x0 + x1)
    x1 = np.uint32(_rotl32(x1, r3) ^ x0)
    return x0, x1


@njit(cache=True)
def threefry2x32(k0, k1, x0, x1):
    """Threefry-2x32, 20 rounds: the block (x0, x1) encrypted under the key (k0, k1)."""
    k0, k1, x0, x1 = np.uint32(k0), np.uint32(k1), np.uint32(x0), np.uint32(x1)
    k2 = np.uint32(k0 ^ k1 ^ np.uint32(0x1BD11BDA))
    x0 = np.uint32(x0 + k0)
    x1 = np.uint32(x1 + k1)
    x0, x1 = _four_rounds(x0, x1, 13, 15, 26, 6)
    x0 = np.uint32(x0 + k1)
    x1 = np.uint32(x1 + k2 + np.uint32(1))
    x0, x1 = _four_rounds(x0, x1, 17, 29, 16, 24)
    x0 = np.uint32(x0 + k2)
    x1 = np.uint32(x1 + k0 + np.uint32(2))
    x0, x1 = _four_rounds(x0, x1, 13, 15, 26, 6)
    x0 = np.uint32(x0 + k0)
    x1 = np.uint32(x1 + k1 + np.uint32(3))
    x0, x1 = _four_rounds(x0, x1, 17, 29, 16, 24)
    x0 = np.uint32(x0 + k1)
    x1 = np.uint32(x1 + k2 + np.uint32(4))
    x0, x1 = _four_rounds(x0, x1, 13, 15, 26, 6)
    x0 = np.uint32(x0 + k2)
    x1 = np.uint32(x1 + k0 + np.uint32(5))
    return x0, x1


# ----------------------------------------------------------------------------- sorting

@njit(cache=True)
def _sorts_before(a, b):
    # a < b, with NaN after everything (as NumPy sorts)
    return a < b or (b != b and a == a)


@njit(cache=True)
def argsort_stable(keys, out):
    """Write into the int64 ``out`` the indices that sort the 1-d ``keys``
    stably (NumPy's ``kind="stable"``): a bottom-up merge sort. (Numba's own
    np.argsort, and assigning its result to a slice, cost seconds to compile.)"""
    n = keys.shape[0]
    src = np.empty(n, np.int64)
    dst = np.empty(n, np.int64)
    for i in range(n):
        src[i] = i
    width = 1
    while width < n:
        lo = 0
        while lo < n:
            mid = min(lo + width, n)
            hi = min(lo + 2 * width, n)
            i, j, k = lo, mid, lo
            while i < mid and j < hi:
                if _sorts_before(keys[src[j]], keys[src[i]]):
                    dst[k] = src[j]
                    j += 1
                else:
                    dst[k] = src[i]
                    i += 1
                k += 1
            while i < mid:
                dst[k] = src[i]
                i += 1
                k += 1
            while j < hi:
                dst[k] = src[j]
                j += 1
                k += 1
            lo += 2 * width
        src, dst = dst, src
        width *= 2
    for i in range(n):
        out[i] = src[i]
