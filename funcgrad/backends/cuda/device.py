"""Device functions that generated kernels call, with NumPy's elementwise
semantics (as ``numba_backend/scalar.py`` on the CPU)."""
from __future__ import annotations

from numba import config, cuda

if config.ENABLE_CUDASIM:       # Python's math raises where the device returns inf or nan
    from .simulator import math
else:
    import math

__all__ = ["d_logistic", "d_sign", "d_rint", "d_fmax", "d_fmin", "d_remainder_float", "d_remainder_int",
           "d_floordiv_float", "d_floordiv_int", "d_threefry2x32"]


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


# ----------------------------------------------------------------------------- random bits
# Threefry-2x32 (20 rounds) in 64-bit integers masked to 32 bits at every step
# (the same bits as primitives/random.py's NumPy implementation, without uint32
# overflow warnings on the simulator).
_M32 = 0xFFFFFFFF


@cuda.jit(device=True)
def _rotl(x, r):
    return ((x << r) | (x >> (32 - r))) & _M32


@cuda.jit(device=True)
def _rounds(x0, x1, r0, r1, r2, r3):
    x0 = (x0 + x1) & _M32
    x1 = _rotl(x1, r0) ^ x0
    x0 = (x0 + x1) & _M32
    x1 = _rotl(x1, r1) ^ x0
    x0 = (x0 + x1) & _M32
    x1 = _rotl(x1, r2) ^ x0
    x0 = (x0 + x1) & _M32
    x1 = _rotl(x1, r3) ^ x0
    return x0, x1


@cuda.jit(device=True)
def d_threefry2x32(k0, k1, x0, x1):
    k0, k1, x0, x1 = int(k0), int(k1), int(x0), int(x1)
    k2 = k0 ^ k1 ^ 0x1BD11BDA
    x0 = (x0 + k0) & _M32
    x1 = (x1 + k1) & _M32
    x0, x1 = _rounds(x0, x1, 13, 15, 26, 6)
    x0 = (x0 + k1) & _M32
    x1 = (x1 + k2 + 1) & _M32
    x0, x1 = _rounds(x0, x1, 17, 29, 16, 24)
    x0 = (x0 + k2) & _M32
    x1 = (x1 + k0 + 2) & _M32
    x0, x1 = _rounds(x0, x1, 13, 15, 26, 6)
    x0 = (x0 + k0) & _M32
    x1 = (x1 + k1 + 3) & _M32
    x0, x1 = _rounds(x0, x1, 17, 29, 16, 24)
    x0 = (x0 + k1) & _M32
    x1 = (x1 + k2 + 4) & _M32
    x0, x1 = _rounds(x0, x1, 13, 15, 26, 6)
    x0 = (x0 + k2) & _M32
    x1 = (x1 + k0 + 5) & _M32
    return x0, x1
