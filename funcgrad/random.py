"""Functional, counter-based random numbers, in the style of ``jax.random``.

    import funcgrad as fg

    key = fg.random.key(0)                      # uint32[2]
    key, sub = fg.random.split(key)             # never reuse a key: split it
    x = fg.random.normal(sub, (3, 4))           # float64[3,4]
    mask = fg.random.bernoulli(sub, 0.9, x.shape)

There is no hidden state. A **key** is a plain ``uint32[2]`` array: a pytree
leaf like any other, so it can be passed to and returned from ``fg.jit``
functions, carried through ``fori_loop``/``scan``, stored with parameters.
Every function is deterministic in its key: the same key gives the same
numbers, and the NumPy interpreter and compiled Numba code give the same
bits. To get fresh numbers, derive new keys with :func:`split` or
:func:`fold_in` (``fold_in(key, step)`` inside a loop body is the usual way);
using one key for two purposes gives correlated numbers.

Shapes (``shape``, ``num``, the ``n`` of ``permutation``) are static Python
ints; keys and the other arguments (``minval``, ``p``...) may be traced.

How the bits are made
---------------------
The generator is the Threefry-2x32 block cipher, 20 rounds (Salmon et al.,
"Parallel random numbers: as easy as 1, 2, 3", SC 2011), the primitive
``threefry2x32`` (:mod:`funcgrad.primitives.random`), as in JAX. Element
``i`` (the row-major flat index) of a request of shape ``shape`` under the
key ``(k0, k1)`` is the block ``(y0, y1) = threefry2x32(k0, k1, 0, i)``:

- ``bits(key, shape, uint32)[i] = y0 ^ y1`` (uint8/uint16: that, truncated);
- ``bits(key, shape, uint64)[i] = y0 << 32 | y1``;
- ``split(key, num)[i] = (y0, y1)``;
- ``fold_in(key, d) = threefry2x32(k0, k1, 0, d)`` (one block);
- ``key(seed) = (seed >> 32, seed & 0xFFFFFFFF)``, of the seed as a 64-bit
  integer (a seed of 32 bits or fewer: ``(0, seed as uint32)``).

This is JAX's layout with ``jax_threefry_partitionable=True`` (the default
from JAX 0.5): each element depends only on its key and its index, so
``bits(key, (n,))[:m] == bits(key, (m,))``.

``uniform`` keeps the top mantissa bits of ``bits`` of the float's width
(23 of 32 for float32, 52 of 64 for float64) as a float in ``[0, 1)``, a
multiple of ``2**-23`` (``2**-52``), then scales it to ``[minval, maxval)``
(``max(minval, u * (maxval - minval) + minval)``).

Compatibility with JAX
----------------------
With ``jax_threefry_partitionable=True`` and ``jax_enable_x64=True``, JAX's
functions of the same names give the same bits for:

- ``key`` (``jax.random.PRNGKey``), ``split``, ``fold_in``, ``bits``;
- ``uniform`` on ``[0, 1)``, and ``bernoulli`` (``uniform(key, shape,
  p.dtype) < p``). With other bounds JAX's ``u * (maxval - minval) +
  minval`` is rounded once on CPU (XLA fuses it into a multiply-add) and
  ours twice, as NumPy computes it: the two may differ by the rounding of
  the product;
- ``randint``, every integer dtype (same algorithm: two words reduced modulo
  the span; 8- and 16-bit dtypes sampled as int32, then cast);
- ``permutation`` (``independent`` too) and ``choice`` without ``p``: the
  same rounds of sorting by random 32-bit keys. JAX's sort is not stable,
  so the two differ when two sort keys tie (probability about
  ``n**2 / 2**33`` per round);
- ``choice`` with ``p`` and ``replace=True``: the same inverse-CDF
  construction, equal whenever the cumulative sums of ``p`` round alike
  (always when they are exact, e.g. for ``p`` of multiples of a power of 2).

``normal`` and ``choice`` with ``p`` and ``replace=False`` follow their
distributions but are other numbers: JAX uses the inverse error function and
the Gumbel top-k trick, with XLA's ``log`` and ``erf_inv``, whose last bits
no NumPy code reproduces (nor does JAX across platforms).

Same bits on every backend
--------------------------
Compiled code's ``log`` and ``cos`` are not NumPy's (they may differ in the
last bit), so the transforms that need them (``normal``, weighted ``choice``
without replacement) are built here from operations IEEE 754 rounds
exactly (``+ - * /``, ``sqrt``, comparisons, integer conversions):
``log`` by an exact reduction to ``[sqrt(1/2), sqrt(2))`` and the series of
``2 atanh``; ``cos(2 pi t)`` by an exact reduction and the sine's Taylor
series (both to about 1 ulp). Prefix sums (weighted ``choice``) are
elementwise adds, not a matrix product.

Distributions
-------------
- :func:`normal`: Box–Muller, ``sqrt(-2 log(1 - u1)) * cos(2 pi u2)`` with
  ``u1, u2`` float64 uniforms from the two halves of ``split(key)``,
  computed in float64 and rounded to ``dtype``. Each element uses its own
  pair (the sine half is not used), so elements are independent of the shape
  asked for. The tails are cut at ``|z| <= sqrt(-2 log 2**-52) = 8.5``
  (probability ``2e-17`` beyond).
- :func:`randint`: two words of ``bits`` per number, reduced modulo the
  span ``maxval - minval``; the bias is about ``span / 2**(2 * bits)``.
  Concrete bounds must leave at least one value of ``dtype`` in
  ``[minval, maxval)`` (else an error); traced bounds with
  ``maxval <= minval`` give ``minval``, as in JAX.
- :func:`permutation`: sorts by random 32-bit keys with a stable sort (the
  ``argsort`` primitive), in ``ceil(3 ln n / ln(2**32 - 1))`` rounds (1 up to
  n = 1625) so that ties, which would favour the original order, are rare.
- :func:`choice`: with replacement, ``randint`` indices; without, the first
  ``k`` of a ``permutation``. With ``p``: inverse-CDF sampling (with
  replacement: the first entry of ``p > 0`` whose cumulative sum reaches
  ``total * (1 - u)``, so entries of ``p == 0`` are never drawn), or an
  exponential race (without: the ``k`` smallest of ``E_i / p_i``, ``E_i``
  standard exponentials; equivalent to the Gumbel top-k trick).

Random bits carry no gradient: ``threefry2x32`` has integer outputs, so the
numbers are constants to ``grad`` (gradients with respect to ``minval``,
``maxval`` or a distribution's parameters still flow through the arithmetic
that scales the bits).
"""
from __future__ import annotations

import math
import operator
from decimal import Decimal, localcontext
from fractions import Fraction

import numpy as np

from . import primitives as P
from .core.trace import Tracer, aval_of
from .errors import DtypeError, InputError, ShapeError, UnsupportedError

__all__ = ["key", "split", "fold_in", "bits", "uniform", "normal", "bernoulli", "randint",
           "permutation", "choice"]

_U32 = np.dtype(np.uint32)
_U64 = np.dtype(np.uint64)
_I32 = np.dtype(np.int32)
_F64 = np.dtype(np.float64)
_UINTS = {8: np.dtype(np.uint8), 16: np.dtype(np.uint16), 32: _U32, 64: _U64}


# ----------------------------------------------------------------------------- arguments

def _u32(v):
    return np.asarray(v, dtype=np.uint32)


def _u64(v):
    return np.asarray(v, dtype=np.uint64)


def _f64(v):
    return np.asarray(v, dtype=np.float64)


def _check_key(key, name):
    """The key as an array or tracer, after checking it is a uint32[2]."""
    if not isinstance(key, Tracer):
        try:
            arr = np.asarray(key)
        except (TypeError, ValueError):  # pragma: no cover - np.asarray of odd objects
            arr = None
        if arr is None or arr.dtype == object:
            raise DtypeError(f"random.{name}: the key must be a uint32[2] array made by "
                             f"funcgrad.random.key(seed), split or fold_in; got {type(key).__name__}")
        key = arr
    aval = aval_of(key)
    if aval.dtype != _U32:
        raise DtypeError(f"random.{name}: the key must be a uint32[2] array made by "
                         f"funcgrad.random.key(seed), split or fold_in; got an array {aval}"
                         + (" (an integer seed? use funcgrad.random.key(seed))" if aval.ndim == 0 else ""))
    if aval.shape != (2,):
        hint = (" (a batch of keys from split? take one row, e.g. keys[0])" if aval.ndim == 2
                and aval.shape[-1] == 2 else "")
        raise ShapeError(f"random.{name}: the key must be a uint32[2] array, got {aval}{hint}")
    return key


def _words(key):
    """The key's two words, as 0-d uint32 values."""
    k0 = P.reshape(P.slice_(key, (0,), (1,)), ())
    k1 = P.reshape(P.slice_(key, (1,), (2,)), ())
    return k0, k1


def _static_int(v, name, what):
    if isinstance(v, Tracer):
        raise InputError(f"random.{name}: {what} must be a static Python int (shapes are static), "
                         f"got a traced value {v.aval}")
    if isinstance(v, (bool, np.bool_)):
        raise InputError(f"random.{name}: {what} must be an int, got {v!r}")
    try:
        return operator.index(v)
    except TypeError:
        raise InputError(f"random.{name}: {what} must be an int, got {v!r:.60}") from None


def _shape(shape, name):
    if shape is None:
        raise InputError(f"random.{name}: shape must be a tuple of ints, got None")
    if isinstance(shape, (int, np.integer)) and not isinstance(shape, (bool, np.bool_)):
        shape = (shape,)
    try:
        dims = tuple(shape)
    except TypeError:
        raise InputError(f"random.{name}: shape must be a tuple of ints, got {shape!r:.60}") from None
    dims = tuple(_static_int(d, name, "every dimension of shape") for d in dims)
    if any(d < 0 for d in dims):
        raise ShapeError(f"random.{name}: negative dimension in shape {dims}")
    return dims


def _dtype(dtype, name):
    try:
        return np.dtype(dtype)
    except TypeError:
        raise DtypeError(f"random.{name}: {dtype!r:.60} is not a dtype") from None


def _hash(key, shape, name):
    """``(y0, y1)``, each uint32 of ``shape``: the block (0, i) encrypted under
    ``key`` for each row-major flat index i."""
    k0, k1 = _words(_check_key(key, name))
    n = math.prod(shape)
    if n >= 2 ** 32:
        raise UnsupportedError(f"random.{name}: {n} numbers in one call; at most 2**32 - 1 are supported")
    y0, y1 = P.threefry2x32(k0, k1, _u32(0), P.iota((n,), 0, _U32))
    return P.reshape(y0, shape), P.reshape(y1, shape)


def _stack_pair(y0, y1):
    shape = aval_of(y0).shape
    return P.concatenate([P.reshape(y0, shape + (1,)), P.reshape(y1, shape + (1,))], len(shape))


def _row(keys, i):
    """Key ``i`` of a uint32[n, 2] array of keys."""
    return P.reshape(P.slice_(keys, (i, 0), (i + 1, 2)), (2,))


def _float_dtype(dtype, name):
    dt = _dtype(dtype, name)
    if dt not in (np.dtype(np.float32), _F64):
        raise DtypeError(f"random.{name}: dtype must be float32 or float64, got {dt}")
    return dt


def _as_float(x, dtype, name, what):
    """A number, array or traced value as ``dtype``."""
    if isinstance(x, Tracer):
        if x.dtype.kind not in "biuf":
            raise DtypeError(f"random.{name}: {what} must be a number, got {x.aval}")
        return P.convert_element_type(x, dtype)
    arr = np.asarray(x)
    if arr.dtype.kind not in "biuf":
        raise DtypeError(f"random.{name}: {what} must be a number, got {x!r:.60}")
    return arr.astype(dtype)


def _fits(value, shape, name, what):
    vshape = aval_of(value).shape
    try:
        ok = np.broadcast_shapes(vshape, shape) == tuple(shape)
    except ValueError:
        ok = False
    if not ok:
        raise ShapeError(f"random.{name}: {what} of shape {vshape} does not broadcast to the shape {shape}")


def _probabilities(p, name, what="p"):
    """``p`` as a float array or tracer (integers and booleans as float64),
    checked to be in [0, 1] where it is concrete."""
    if isinstance(p, Tracer):
        if p.dtype.kind not in "biuf":
            raise DtypeError(f"random.{name}: {what} must be probabilities, got {p.aval}")
        return p if p.dtype.kind == "f" and p.dtype.itemsize >= 4 else P.convert_element_type(p, _F64)
    arr = np.asarray(p)
    if arr.dtype.kind not in "biuf":
        raise DtypeError(f"random.{name}: {what} must be probabilities, got {p!r:.60} ({arr.dtype})")
    if arr.dtype.kind != "f" or arr.dtype.itemsize < 4:
        arr = arr.astype(np.float64)
    return arr


# ----------------------------------------------------------------------------- keys

def key(seed):
    """A key (``uint32[2]``) from an integer seed, as ``jax.random.PRNGKey``.

    The seed's 64 bits become the key's two words (high, low); a seed of 32
    bits or fewer gives ``(0, seed)``. The seed may be a Python int (in
    ``[-2**63, 2**64)``), a 0-d integer array, or a traced 0-d integer.
    """
    if isinstance(seed, Tracer):
        aval = seed.aval
        if aval.dtype.kind not in "iu" or aval.ndim != 0:
            raise DtypeError(f"random.key: the seed must be a 0-d integer, got {aval}")
        if aval.dtype.itemsize == 8:
            u = P.convert_element_type(seed, _U64)
            hi = P.convert_element_type(P.shift_right_logical(u, _u64(32)), _U32)
            lo = P.convert_element_type(u, _U32)
        else:
            hi = _u32(0)
            lo = P.convert_element_type(seed, _U32)
        return P.concatenate([P.reshape(P.broadcast_to(hi, ()), (1,)), P.reshape(lo, (1,))], 0)
    if isinstance(seed, (bool, np.bool_)):
        raise DtypeError(f"random.key: the seed must be an integer, got {seed!r}")
    if isinstance(seed, int):
        if not -2 ** 63 <= seed < 2 ** 64:
            raise InputError(f"random.key: the seed {seed} does not fit in 64 bits")
        width = 64
    else:
        arr = np.asarray(seed)
        if arr.dtype.kind not in "iu" or arr.ndim != 0:
            raise DtypeError(f"random.key: the seed must be a 0-d integer, got {arr.dtype}{list(arr.shape)}"
                             + (" (a key already? keys are uint32[2])" if arr.shape == (2,) else ""))
        seed, width = int(arr), arr.dtype.itemsize * 8
    seed %= 2 ** width
    return np.array([seed >> 32, seed & 0xFFFFFFFF], dtype=np.uint32)


def split(key, num=2):
    """``num`` new keys from ``key``: a ``uint32[num, 2]`` array (``num`` may
    also be a shape: then ``uint32[*num, 2]``). Unpack with
    ``key, sub = split(key)``."""
    shape = _shape(num, "split")
    y0, y1 = _hash(key, shape, "split")
    return _stack_pair(y0, y1)


def fold_in(key, data):
    """A new key from ``key`` and an integer ``data`` (e.g. a step number or a
    process index), taken modulo 2**32; ``data`` may be traced."""
    k0, k1 = _words(_check_key(key, "fold_in"))
    if isinstance(data, Tracer):
        if data.dtype.kind not in "iu" or data.ndim != 0:
            raise DtypeError(f"random.fold_in: data must be a 0-d integer, got {data.aval}")
        d = P.convert_element_type(data, _U32)
    else:
        arr = np.asarray(data)
        if arr.dtype.kind not in "iu" or arr.ndim != 0 or isinstance(data, (bool, np.bool_)):
            raise DtypeError(f"random.fold_in: data must be a 0-d integer, got {data!r:.60}")
        d = _u32(int(arr) % 2 ** 32)
    y0, y1 = P.threefry2x32(k0, k1, _u32(0), d)
    return P.concatenate([P.reshape(y0, (1,)), P.reshape(y1, (1,))], 0)


# ----------------------------------------------------------------------------- bits

def bits(key, shape=(), dtype=np.uint32):
    """Uniformly random unsigned integers of ``shape`` (uint8, uint16,
    uint32 or uint64)."""
    dt = _dtype(dtype if dtype is not None else np.uint32, "bits")
    if dt.kind != "u":
        raise DtypeError(f"random.bits: dtype must be an unsigned integer type, got {dt}")
    return _bits(key, _shape(shape, "bits"), dt.itemsize * 8, "bits")


def _bits(key, shape, nbits, name):
    y0, y1 = _hash(key, shape, name)
    if nbits == 64:
        hi = P.shift_left(P.convert_element_type(y0, _U64), _u64(32))
        return P.logical_or(hi, P.convert_element_type(y1, _U64))
    return P.convert_element_type(P.logical_xor(y0, y1), _UINTS[nbits])


def _top_bits(key, shape, k, name):
    """The top ``k`` of 64 random bits, as uint64 integers in ``[0, 2**k)``."""
    return P.shift_right_logical(_bits(key, shape, 64, name), _u64(64 - k))


# ----------------------------------------------------------------------------- portable float64 math
# Built from operations IEEE 754 rounds exactly, so that every backend gives the
# same bits (compiled code's log and cos are not NumPy's; see the module's docstring).

def _decimal_ln2():
    with localcontext() as ctx:
        ctx.prec = 40
        return Decimal(2).ln()


# ln 2 = _LN2_HI + _LN2_LO, _LN2_HI with 32 significant bits, so that k * _LN2_HI is exact
_LN2_HI = math.ldexp(math.floor(math.ldexp(float(_decimal_ln2()), 32)), -32)
_LN2_LO = float(_decimal_ln2() - Decimal(_LN2_HI))
_SQRT2 = math.sqrt(2.0)
# ln f = 2 atanh(s) = s * sum_k 2 s**2k / (2k + 1), s = (f - 1) / (f + 1): |s| <= 0.172 for
# f in [sqrt(1/2), sqrt(2)), and 11 terms leave a relative error below 1e-18
_ATANH_COEFFS = tuple(2.0 / (2 * k + 1) for k in range(11))
# sin x = x * sum_k (-1)**k x**2k / (2k + 1)!: for |x| <= pi/2, 12 terms leave 5e-21
_SIN_COEFFS = tuple(float(Fraction((-1) ** k, math.factorial(2 * k + 1))) for k in range(12))


def _horner(z, coeffs):
    """``sum_k coeffs[k] * z**k``."""
    acc = _f64(coeffs[-1])
    for c in reversed(coeffs[:-1]):
        acc = P.add(P.mul(acc, z), _f64(c))
    return acc


def _log_scaled(n, scale):
    """``ln(n * 2**-scale)`` for float64 ``n`` holding integers in ``[1, 2**62]``.

    ``n = f * 2**e`` with ``f`` in ``[sqrt(1/2), sqrt(2))`` is unique and exact
    (``f`` is ``n`` times a power of 2). The backend's own ``log`` only estimates
    ``e``; the two corrections make the result the same whatever that estimate's
    last bit. Then ``ln f = 2 atanh(s)`` by its series, and ``e - scale`` times
    ln 2 in two parts."""
    est = P.floor(P.add(P.mul(P.log(n), _f64(1 / math.log(2))), _f64(0.5)))   # ~ round(log2 n)
    est = P.min_(P.max_(est, _f64(0)), _f64(62))
    power = P.convert_element_type(P.shift_left(_u64(1), P.convert_element_type(est, _U64)), _F64)
    f = P.div(n, power)
    high = P.ge(f, _f64(_SQRT2))
    f = P.select(high, P.mul(f, _f64(0.5)), f)
    e = P.add(est, P.select(high, _f64(1), _f64(0)))
    low = P.lt(f, _f64(_SQRT2 / 2))
    f = P.select(low, P.mul(f, _f64(2)), f)
    e = P.sub(e, P.select(low, _f64(1), _f64(0)))
    s = P.div(P.sub(f, _f64(1)), P.add(f, _f64(1)))
    log_f = P.mul(s, _horner(P.mul(s, s), _ATANH_COEFFS))
    k = P.sub(e, _f64(scale))
    return P.add(P.mul(k, _f64(_LN2_HI)), P.add(log_f, P.mul(k, _f64(_LN2_LO))))


def _cos_2pi(m, scale):
    """``cos(2 pi t)`` for ``t = m * 2**-scale`` in [0, 1) (``m`` uint64).

    ``cos(2 pi t) = sin(2 pi b)`` with ``b = 1/4 - |t - round(t)|`` in
    ``[-1/4, 1/4]``, computed exactly; then the sine's Taylor series."""
    t = P.mul(P.convert_element_type(m, _F64), _f64(2.0 ** -scale))
    d = P.sub(t, P.floor(P.add(t, _f64(0.5))))          # in [-1/2, 1/2): exact
    b = P.sub(_f64(0.25), P.abs_(d))                     # exact
    x = P.mul(b, _f64(2 * math.pi))
    return P.mul(x, _horner(P.mul(x, x), _SIN_COEFFS))


def _exponential(key, shape, name):
    """Standard exponential float64s, ``-ln(v)`` for ``v`` in (0, 1] a multiple of 2**-53."""
    n = P.sub(_f64(2.0 ** 53), P.convert_element_type(_top_bits(key, shape, 53, name), _F64))
    return P.neg(_log_scaled(n, 53))


# ----------------------------------------------------------------------------- floats

def uniform(key, shape=(), dtype=np.float64, minval=0.0, maxval=1.0):
    """Floats uniform in ``[minval, maxval)`` of ``shape`` and ``dtype``
    (float32 or float64). ``minval`` and ``maxval`` broadcast to ``shape``
    and may be traced."""
    dt = _float_dtype(dtype if dtype is not None else np.float64, "uniform")
    shape = _shape(shape, "uniform")
    key = _check_key(key, "uniform")
    lo = _as_float(minval, dt, "uniform", "minval")
    hi = _as_float(maxval, dt, "uniform", "maxval")
    _fits(lo, shape, "uniform", "minval")
    _fits(hi, shape, "uniform", "maxval")
    u = _unit(key, shape, dt, "uniform")
    if (not isinstance(lo, Tracer) and not isinstance(hi, Tracer) and lo.ndim == 0 and hi.ndim == 0
            and float(lo) == 0.0 and float(hi) == 1.0 and not np.signbit(lo)):
        return u    # u * 1 + 0 == u, exactly
    out = P.add(P.mul(u, P.sub(hi, lo)), lo)
    out = P.max_(lo, out)   # rounding never takes a number below minval
    return P.broadcast_to(out, shape) if aval_of(out).shape != shape else out


def _unit(key, shape, dt, name):
    """Floats in [0, 1): the top mantissa bits of random bits, exactly."""
    nbits, nmant = (32, 23) if dt == np.dtype(np.float32) else (64, 52)
    b = _bits(key, shape, nbits, name)
    m = P.shift_right_logical(b, np.asarray(nbits - nmant, dtype=_UINTS[nbits]))
    return P.mul(P.convert_element_type(m, dt), np.asarray(2.0 ** -nmant, dtype=dt))


def normal(key, shape=(), dtype=np.float64):
    """Standard normal floats of ``shape`` and ``dtype`` (float32 or float64),
    by the Box–Muller transform in float64 (see the module's docstring)."""
    dt = _float_dtype(dtype if dtype is not None else np.float64, "normal")
    shape = _shape(shape, "normal")
    keys = split(_check_key(key, "normal"))
    # 1 - u1 = n1 * 2**-52 with n1 in [1, 2**52]; u2 = m2 * 2**-52
    n1 = P.sub(_f64(2.0 ** 52), P.convert_element_type(_top_bits(_row(keys, 0), shape, 52, "normal"), _F64))
    m2 = _top_bits(_row(keys, 1), shape, 52, "normal")
    radius = P.sqrt(P.max_(P.mul(_log_scaled(n1, 52), _f64(-2)), _f64(0)))
    return P.convert_element_type(P.mul(radius, _cos_2pi(m2, 52)), dt)


# ----------------------------------------------------------------------------- discrete

def bernoulli(key, p=0.5, shape=None):
    """Booleans, True with probability ``p`` (a number or array in [0, 1],
    broadcast to ``shape``; ``shape=None`` means ``p``'s shape). ``p`` may be
    traced; a concrete ``p`` outside [0, 1] is an error. ``u < p`` for ``u``
    a ``uniform`` of ``p``'s float dtype (integer ``p``: float64)."""
    key = _check_key(key, "bernoulli")
    p = _probabilities(p, "bernoulli")
    if not isinstance(p, Tracer) and p.size and not np.all((p >= 0) & (p <= 1)):
        bad = p[~((p >= 0) & (p <= 1))].flat[0]
        raise InputError(f"random.bernoulli: p must be in [0, 1], got {bad!r} (in p of shape {p.shape})")
    pshape = aval_of(p).shape
    shape = pshape if shape is None else _shape(shape, "bernoulli")
    _fits(p, shape, "bernoulli", "p")
    u = _unit(key, shape, aval_of(p).dtype, "bernoulli")
    return P.lt(u, p)


def randint(key, shape, minval, maxval, dtype=np.int64):
    """Integers uniform in ``[minval, maxval)`` of ``shape`` and integer
    ``dtype``.

    ``minval`` and ``maxval`` are integers (numbers, arrays or traced) that
    broadcast to ``shape``; they are clipped to ``dtype``'s range, so
    ``randint(k, s, 0, 256, np.uint8)`` covers all of uint8. Concrete bounds
    must leave at least one value of ``dtype`` in ``[minval, maxval)``, else
    an ``InputError``; traced ones with ``maxval <= minval`` give
    ``minval``, as in JAX (which never raises)."""
    dt = _dtype(dtype if dtype is not None else np.int64, "randint")
    if dt.kind not in "iu":
        raise DtypeError(f"random.randint: dtype must be an integer type, got {dt}")
    shape = _shape(shape, "randint")
    key = _check_key(key, "randint")
    info = np.iinfo(dt)
    lo = _int_bound(minval, "minval")
    hi = _int_bound(maxval, "maxval")
    _fits(lo, shape, "randint", "minval")
    _fits(hi, shape, "randint", "maxval")
    if not isinstance(lo, Tracer) and not isinstance(hi, Tracer):
        lo_b, hi_b = np.broadcast_arrays(np.maximum(lo, np.asarray(int(info.min), dtype=object)),
                                         np.minimum(hi, np.asarray(int(info.max) + 1, dtype=object)))
        empty = lo_b >= hi_b
        if empty.any():
            i = np.argmax(empty)
            raise InputError(f"random.randint: no {dt} in [minval, maxval) = "
                             f"[{np.broadcast_to(lo, empty.shape).flat[i]}, "
                             f"{np.broadcast_to(hi, empty.shape).flat[i]})"
                             + ("" if lo_b.ndim == 0 else
                                f" (at flat index {i} of the bounds' shape {lo_b.shape})")
                             + "; minval must be less than maxval")
    if info.bits < 32:
        # as JAX: sample 8- and 16-bit integers as int32 (less bias), then cast
        lo = _clip_bound(lo, _I32, int(info.min), int(info.max))
        hi = _clip_bound(hi, _I32, int(info.min), int(info.max) + 1)
        out = _randint(key, shape, lo, hi, _I32)
        return P.convert_element_type(out, dt)
    return _randint(key, shape, lo, hi, dt)


def _int_bound(v, what):
    """A bound as a tracer, or as an object array of exact Python ints."""
    if isinstance(v, Tracer):
        if v.dtype.kind not in "iu":
            raise DtypeError(f"random.randint: {what} must be an integer, got {v.aval}")
        return v
    if isinstance(v, (bool, np.bool_)):
        raise DtypeError(f"random.randint: {what} must be an integer, got {v!r}")
    if isinstance(v, int):
        return np.asarray(v, dtype=object)
    arr = np.asarray(v)
    if arr.dtype.kind not in "iu":
        raise DtypeError(f"random.randint: {what} must be an integer, got {v!r:.60} ({arr.dtype})")
    return arr.astype(object)


def _clip_bound(v, dt, lo, hi):
    """``v`` clipped to ``[lo, hi]`` (within ``dt``'s range) as ``dt``. A traced
    ``v`` is clipped to ``dt``'s range and ``v``'s own first, so nothing wraps."""
    if not isinstance(v, Tracer):
        # via Python ints: NumPy casts object arrays to uint64 through a C long
        exact = np.minimum(np.maximum(np.asarray(v, dtype=object), np.asarray(lo, dtype=object)),
                           np.asarray(hi, dtype=object))
        return np.array(np.asarray(exact, dtype=object).tolist(), dtype=dt)
    src = np.iinfo(v.dtype)
    lo, hi = max(lo, int(src.min)), min(hi, int(src.max))
    if lo > int(src.min):
        v = P.max_(v, np.asarray(lo, v.dtype))
    if hi < int(src.max):
        v = P.min_(v, np.asarray(hi, v.dtype))
    return P.convert_element_type(v, dt)


def _randint(key, shape, lo, hi, dt):
    """JAX's ``_randint`` for a 32- or 64-bit ``dt``: ``lo``/``hi`` exact
    (object arrays) or traced, not yet clipped to ``dt``."""
    info = np.iinfo(dt)
    nbits = info.bits
    ud = _UINTS[nbits]
    # maxval beyond dtype's max: the span reaches max + 1 (randint(k, s, 0, 2**32, uint32))
    if isinstance(hi, Tracer):
        out_of_range = (P.gt(hi, np.asarray(info.max, hi.dtype))
                        if np.iinfo(hi.dtype).max > info.max else None)
    else:
        out_of_range = np.asarray(hi > np.asarray(int(info.max), dtype=object), dtype=bool)
        out_of_range = out_of_range if out_of_range.any() else None
    lo = _clip_bound(lo, dt, int(info.min), int(info.max))
    hi = _clip_bound(hi, dt, int(info.min), int(info.max))

    keys = split(key)
    high_bits = P.convert_element_type(_bits(_row(keys, 0), shape, nbits, "randint"), _U64)
    low_bits = P.convert_element_type(_bits(_row(keys, 1), shape, nbits, "randint"), _U64)

    # Everything below is uint64 arithmetic (which wraps alike in NumPy and Numba),
    # reduced modulo 2**nbits where JAX's nbits-wide arithmetic wraps.
    def wrap(x):
        return x if nbits == 64 else P.logical_and(x, _u64(2 ** nbits - 1))

    span = P.convert_element_type(P.convert_element_type(P.sub(hi, lo), ud), _U64)
    empty = P.le(hi, lo)
    span = P.select(empty, _u64(1), span)
    if out_of_range is not None:
        span = wrap(P.select(P.logical_and(out_of_range, P.logical_not(empty)), P.add(span, _u64(1)), span))
    # a span of 2**nbits (wrapped to 0): JAX's remainders by 0 leave the low word as it is
    full = P.eq(span, _u64(0))
    span = P.select(full, _u64(1), span)
    # (hi * 2**nbits + lo) mod span, from hi mod span and lo mod span
    mult = P.rem(P.broadcast_to(_u64(2 ** (nbits // 2)), aval_of(span).shape), span)
    mult = P.rem(wrap(P.mul(mult, mult)), span)
    offset = wrap(P.add(P.mul(P.rem(high_bits, span), mult), P.rem(low_bits, span)))
    offset = P.select(full, low_bits, P.rem(offset, span))
    out = P.convert_element_type(P.add(P.convert_element_type(lo, _U64), offset), dt)
    return P.broadcast_to(out, shape) if aval_of(out).shape != shape else out


# ----------------------------------------------------------------------------- shuffles

def permutation(key, x, axis=0, independent=False):
    """A random permutation of ``range(x)`` (``x`` an int), or of ``x``'s
    entries along ``axis`` (``x`` an array: its slices along ``axis`` are
    shuffled together; with ``independent=True`` each 1-d slice along
    ``axis`` is shuffled on its own)."""
    key = _check_key(key, "permutation")
    if isinstance(x, Tracer) and x.ndim == 0:
        raise InputError(f"random.permutation: x must be a static int or an array; got a traced "
                         f"0-d value {x.aval} (the length of a permutation is a shape)")
    if not isinstance(x, Tracer) and np.ndim(x) == 0:
        n = _static_int(x, "permutation", "x")
        if n < 0:
            raise ShapeError(f"random.permutation: x must be non-negative, got {n}")
        return _shuffled_indices(key, n)
    arr = x if isinstance(x, Tracer) else np.asarray(x)
    aval = aval_of(arr)
    if aval.dtype.kind not in "biuf":
        raise DtypeError(f"random.permutation: unsupported array {aval}")
    axis = _static_int(axis, "permutation", "axis")
    if not -aval.ndim <= axis < aval.ndim:
        raise ShapeError(f"random.permutation: axis {axis} out of range for {aval}")
    axis %= aval.ndim
    if aval.size == 0:
        return arr if isinstance(arr, Tracer) else arr.copy()
    if not independent:
        return P.take(arr, _shuffled_indices(key, aval.shape[axis]), axis)
    # each slice on its own: sort keys of x's shape, as JAX's _shuffle
    nd, n = aval.ndim, aval.shape[axis]
    order = tuple(d for d in range(nd) if d != axis) + (axis,)
    moved = P.transpose(arr, order) if order != tuple(range(nd)) else arr
    rows = aval.size // n
    flat = P.reshape(moved, (aval.size,))
    base = P.mul(P.iota((rows, n), 0, np.int64), np.asarray(n, np.int64))
    for sub in _round_keys(key, aval.size):
        sort_keys = P.transpose(_bits(sub, aval.shape, 32, "permutation"), order)
        idx = P.add(P.reshape(P.argsort(sort_keys), (rows, n)), base)
        flat = P.take(flat, P.reshape(idx, (aval.size,)), 0)
    out = P.reshape(flat, tuple(aval.shape[d] for d in order))
    return P.transpose(out, tuple(int(i) for i in np.argsort(order))) if order != tuple(range(nd)) else out


def _round_keys(key, size):
    """One key per round of sorting: ``ceil(3 ln size / ln(2**32 - 1))`` rounds
    (JAX's count), each from ``key, sub = split(key)``."""
    subs = []
    for _ in range(math.ceil(3 * math.log(max(1, size)) / math.log(2 ** 32 - 1))):
        keys = split(key)
        key = _row(keys, 0)
        subs.append(_row(keys, 1))
    return subs


def _shuffled_indices(key, n):
    """``range(n)`` shuffled: rounds of stable sorts by random 32-bit keys."""
    perm = P.iota((n,), 0, np.int64)
    for sub in _round_keys(key, n):
        perm = P.take(perm, P.argsort(_bits(sub, (n,), 32, "permutation")), 0)
    return perm


def choice(key, a, shape=(), replace=True, p=None, axis=0):
    """Random samples of ``shape`` from ``range(a)`` (``a`` an int) or from
    ``a``'s entries along ``axis``, with or without replacement, uniformly or
    with probabilities ``p`` (non-negative weights, one per entry; they are
    normalised by their sum, and entries of weight 0 are never drawn). The
    result has shape ``a.shape[:axis] + shape + a.shape[axis + 1:]``
    (``shape`` for an int). Without replacement, ``prod(shape)`` must not
    exceed the population (nor, for a concrete ``p``, its entries of positive
    weight)."""
    key = _check_key(key, "choice")
    shape = _shape(shape, "choice")
    if isinstance(a, Tracer) and a.ndim == 0:
        raise InputError(f"random.choice: a must be a static int or an array; got a traced 0-d "
                         f"value {a.aval} (the population's size is a shape)")
    if not isinstance(a, Tracer) and np.ndim(a) == 0:
        arr, n = None, _static_int(a, "choice", "a")
        if n < 0:
            raise ShapeError(f"random.choice: a must be non-negative, got {n}")
    else:
        arr = a if isinstance(a, Tracer) else np.asarray(a)
        if aval_of(arr).dtype.kind not in "biuf":
            raise DtypeError(f"random.choice: unsupported array {aval_of(arr)}")
        nd = aval_of(arr).ndim
        axis = _static_int(axis, "choice", "axis")
        if not -nd <= axis < nd:
            raise ShapeError(f"random.choice: axis {axis} out of range for {aval_of(arr)}")
        axis %= nd
        n = aval_of(arr).shape[axis]
    k = math.prod(shape)
    if k > 0 and n == 0:
        raise ShapeError(f"random.choice: cannot draw {k} samples from an empty population "
                         f"(a={n if arr is None else aval_of(arr)})")
    if not replace and k > n:
        raise ShapeError(f"random.choice: cannot draw {k} samples (shape {shape}) without replacement "
                         f"from a population of {n} (replace=False)")
    if p is not None:
        p = _weights(p, n, k, replace)
    if k == 0:
        ind = P.broadcast_to(np.zeros((), np.int64), shape)
        if arr is None:
            return ind
        out_shape = aval_of(arr).shape[:axis] + shape + aval_of(arr).shape[axis + 1:]
        return P.broadcast_to(np.zeros((), aval_of(arr).dtype), out_shape)
    if p is None and replace:
        ind = randint(key, shape, 0, n)
    elif p is None:
        ind = P.reshape(P.slice_(_shuffled_indices(key, n), (0,), (k,)), shape)
    elif replace:
        ind = _inverse_cdf(key, p, shape)
    else:
        # exponential race: the k smallest E_i / p_i, in order (the Gumbel top-k trick)
        weight = P.convert_element_type(p, _F64)
        positive = P.gt(weight, _f64(0))
        race = P.div(_exponential(key, (n,), "choice"), P.select(positive, weight, _f64(1)))
        race = P.select(positive, race, _f64(np.inf))
        ind = P.reshape(P.slice_(P.argsort(race), (0,), (k,)), shape)
    return ind if arr is None else P.take(arr, ind, axis)


def _weights(p, n, k, replace):
    p = _probabilities(p, "choice", "p (the weights)")
    if aval_of(p).shape != (n,):
        raise ShapeError(f"random.choice: p must have one entry per choice, shape ({n},); got {aval_of(p)}")
    if not isinstance(p, Tracer):
        if not (np.all(np.isfinite(p)) and np.all(p >= 0) and p.sum() > 0):
            raise InputError("random.choice: p must be finite and non-negative with a positive sum, "
                             f"got {p!r:.80}")
        if not replace and np.count_nonzero(p) < k:
            raise InputError(f"random.choice: cannot draw {k} samples without replacement when only "
                             f"{np.count_nonzero(p)} of the {n} entries of p are positive")
    return p


def _inverse_cdf(key, p, shape):
    """Indices of ``shape``: for each, the first ``i`` with ``p[i] > 0`` and
    ``cdf[i] >= r``, ``r = total * (1 - u)`` in ``(0, total]`` (JAX's
    construction, where ``searchsorted`` finds the same index)."""
    dt = aval_of(p).dtype
    n = aval_of(p).shape[0]
    zero = np.zeros((), dt)
    cdf = _prefix_sums(p)
    positive = P.gt(p, zero)
    total = P.reduce_max(P.select(positive, cdf, zero), (0,))
    r = P.mul(total, P.sub(np.ones((), dt), _unit(key, shape, dt, "choice")))
    hit = P.logical_and(P.reshape(positive, (1,) * len(shape) + (n,)),
                        P.ge(P.reshape(cdf, (1,) * len(shape) + (n,)), P.reshape(r, shape + (1,))))
    return P.argmax(hit, len(shape))


def _prefix_sums(p):
    """Inclusive prefix sums of a 1-d array by ceil(log2 n) rounds of shifted
    adds (Hillis and Steele): elementwise adds, rounded alike everywhere."""
    n = aval_of(p).shape[0]
    out, step = p, 1
    while step < n:
        out = P.add(out, P.pad(P.slice_(out, (0,), (n - step,)), (step,), (0,)))
        step *= 2
    return out
