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
numbers, on every backend (the NumPy interpreter and compiled Numba code give
identical bits). To get fresh numbers, derive new keys with :func:`split` or
:func:`fold_in`; using one key for two purposes gives correlated numbers.

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
(``u * (maxval - minval) + minval``, at least ``minval``).

Compatibility with JAX
----------------------
With ``jax_threefry_partitionable=True`` and ``jax_enable_x64=True``, these
give JAX's numbers bit for bit (the tests check it when JAX is installed):
``key`` (``jax.random.PRNGKey``), ``split``, ``fold_in``, ``bits``,
``uniform``, ``bernoulli`` (for a float64 ``p``), ``randint`` (same
algorithm: two words reduced modulo the span), ``permutation`` and uniform
``choice`` (same rounds of sorting by random 32-bit keys; JAX's sort is not
stable, so the two may differ if two sort keys tie, an event of probability
about ``n**2 / 2**33`` per round). ``normal`` and ``choice`` with ``p`` do
not: ``normal`` uses the Box–Muller transform where JAX uses the inverse
error function (same distribution, other numbers).

Distributions
-------------
- :func:`normal`: Box–Muller, ``sqrt(-2 log(1 - u1)) * cos(2 pi u2)`` with
  ``u1, u2`` float64 uniforms from the two halves of ``split(key)``,
  computed in float64 and rounded to ``dtype``. Each element uses its own
  pair (the sine half is not used), so elements are independent of the shape
  asked for. The tails are cut at ``|z| <= sqrt(-2 log 2**-52) = 8.5``
  (probability ``2e-17`` beyond). Numba's ``log`` and ``cos`` may differ from
  NumPy's in the last bit, so compiled and interpreted normals agree to about
  1e-15 (relative), not bitwise.
- :func:`permutation`: sorts by random 32-bit keys with a stable sort (the
  ``argsort`` primitive), in ``ceil(3 ln n / ln(2**32 - 1))`` rounds (1 up to
  n = 1625) so that ties, which would favour the original order, are rare.
- :func:`choice`: with replacement, ``randint`` indices; without, the first
  ``k`` of a ``permutation``; with ``p``, inverse-CDF sampling (with
  replacement) or the Gumbel top-k trick (without).
- :func:`randint`: two words of ``bits`` per number, reduced modulo the
  span ``maxval - minval``; the bias is about ``span / 2**(2 * bits)``.

Random bits carry no gradient: ``threefry2x32`` has integer outputs, so the
numbers are constants to ``grad`` (gradients with respect to ``minval``,
``maxval`` or a distribution's parameters still flow through the arithmetic
that scales the bits).
"""
from __future__ import annotations

import math
import operator

import numpy as np

from . import primitives as P
from .core.trace import Tracer, aval_of
from .errors import DtypeError, InputError, ShapeError, UnsupportedError

__all__ = ["key", "split", "fold_in", "bits", "uniform", "normal", "bernoulli", "randint",
           "permutation", "choice"]

_U32 = np.dtype(np.uint32)
_U64 = np.dtype(np.uint64)
_UINTS = {8: np.dtype(np.uint8), 16: np.dtype(np.uint16), 32: _U32, 64: _U64}


# ----------------------------------------------------------------------------- arguments

def _u32(v):
    return np.asarray(v, dtype=np.uint32)


def _u64(v):
    return np.asarray(v, dtype=np.uint64)


def _check_key(key, name):
    """The key as an array or tracer, after checking it is a uint32[2]."""
    if not isinstance(key, Tracer):
        try:
            arr = np.asarray(key)
        except Exception:  # pragma: no cover - np.asarray of odd objects
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
    try:
        return operator.index(v)
    except TypeError:
        raise InputError(f"random.{name}: {what} must be an int, got {v!r:.60}") from None


def _shape(shape, name):
    if shape is None:
        raise InputError(f"random.{name}: shape must be a tuple of ints, got None")
    if isinstance(shape, (int, np.integer)) and not isinstance(shape, bool):
        shape = (shape,)
    try:
        dims = tuple(shape)
    except TypeError:
        raise InputError(f"random.{name}: shape must be a tuple of ints, got {shape!r:.60}") from None
    dims = tuple(_static_int(d, name, "every dimension of shape") for d in dims)
    if any(d < 0 for d in dims):
        raise ShapeError(f"random.{name}: negative dimension in shape {dims}")
    return dims


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
    dt = np.dtype(dtype)
    if dt not in (np.dtype(np.float32), np.dtype(np.float64)):
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
            raise DtypeError(f"random.key: the seed must be a 0-d integer, got {arr.dtype}{list(arr.shape)}")
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
            raise DtypeError(f"random.fold_in: data must be an integer, got {data!r:.60}")
        d = _u32(int(arr) % 2 ** 32)
    y0, y1 = P.threefry2x32(k0, k1, _u32(0), d)
    return P.concatenate([P.reshape(y0, (1,)), P.reshape(y1, (1,))], 0)


# ----------------------------------------------------------------------------- bits

def bits(key, shape=(), dtype=np.uint32):
    """Uniformly random unsigned integers of ``shape`` (uint8, uint16,
    uint32 or uint64)."""
    dt = np.dtype(dtype if dtype is not None else np.uint32)
    if dt.kind != "u":
        raise DtypeError(f"random.bits: dtype must be an unsigned integer type, got {dt}")
    return _bits(key, _shape(shape, "bits"), dt.itemsize * 8, "bits")


def _bits(key, shape, nbits, name):
    y0, y1 = _hash(key, shape, name)
    if nbits == 64:
        hi = P.shift_left(P.convert_element_type(y0, _U64), _u64(32))
        return P.logical_or(hi, P.convert_element_type(y1, _U64))
    return P.convert_element_type(P.logical_xor(y0, y1), _UINTS[nbits])


# ----------------------------------------------------------------------------- floats

def uniform(key, shape=(), dtype=np.float64, minval=0.0, maxval=1.0):
    """Floats uniform in ``[minval, maxval)`` of ``shape`` and ``dtype``
    (float32 or float64). ``minval`` and ``maxval`` broadcast to ``shape``
    and may be traced."""
    dt = _float_dtype(dtype, "uniform")
    shape = _shape(shape, "uniform")
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
    dt = _float_dtype(dtype, "normal")
    shape = _shape(shape, "normal")
    keys = split(_check_key(key, "normal"))
    f64 = np.dtype(np.float64)
    u1 = _unit(_row(keys, 0), shape, f64, "normal")
    u2 = _unit(_row(keys, 1), shape, f64, "normal")
    radius = P.sqrt(P.mul(P.log(P.sub(np.float64(1.0), u1)), np.float64(-2.0)))   # 1 - u1 in (0, 1]
    z = P.mul(radius, P.cos(P.mul(u2, np.float64(2 * math.pi))))
    return P.convert_element_type(z, dt)


def _gumbel(key, shape, dt, name):
    tiny = np.finfo(dt).tiny
    u = _unit(key, shape, dt, name)
    u = P.max_(np.asarray(tiny, dt), u)    # u in [tiny, 1)
    return P.neg(P.log(P.neg(P.log(u))))


# ----------------------------------------------------------------------------- discrete

def bernoulli(key, p=0.5, shape=None):
    """Booleans, True with probability ``p`` (a number or array in [0, 1],
    broadcast to ``shape``; ``shape=None`` means ``p``'s shape). ``p`` may be
    traced; a concrete ``p`` outside [0, 1] is an error."""
    if isinstance(p, Tracer):
        if p.dtype.kind not in "biuf":
            raise DtypeError(f"random.bernoulli: p must be a probability, got {p.aval}")
        if p.dtype.kind != "f":
            p = P.convert_element_type(p, np.float64)
    else:
        arr = np.asarray(p)
        if arr.dtype.kind not in "biuf":
            raise DtypeError(f"random.bernoulli: p must be a probability, got {p!r:.60}")
        if arr.dtype.kind != "f" or arr.dtype == np.float16:
            arr = arr.astype(np.float64)
        if arr.size and not np.all((arr >= 0) & (arr <= 1)):
            bad = arr[~((arr >= 0) & (arr <= 1))].flat[0]
            raise InputError(f"random.bernoulli: p must be in [0, 1], got {bad!r}")
        p = arr
    pshape = aval_of(p).shape
    shape = pshape if shape is None else _shape(shape, "bernoulli")
    _fits(p, shape, "bernoulli", "p")
    u = _unit(key, shape, aval_of(p).dtype, "bernoulli")
    return P.lt(u, p)


def randint(key, shape, minval, maxval, dtype=np.int64):
    """Integers uniform in ``[minval, maxval)`` of ``shape`` and integer
    ``dtype``. ``minval`` and ``maxval`` broadcast to ``shape``; concrete ones
    must satisfy ``minval < maxval`` (traced ones with ``maxval <= minval``
    give ``minval``, as in JAX) and are clipped to ``dtype``'s range, so
    ``randint(k, s, 0, 256, np.uint8)`` covers all of uint8."""
    dt = np.dtype(dtype)
    if dt.kind not in "iu":
        raise DtypeError(f"random.randint: dtype must be an integer type, got {dt}")
    shape = _shape(shape, "randint")
    info = np.iinfo(dt)
    nbits = info.bits
    lo, lo_big = _int_bound(minval, dt, "minval")
    hi, hi_big = _int_bound(maxval, dt, "maxval")
    _fits(lo, shape, "randint", "minval")
    _fits(hi, shape, "randint", "maxval")
    wraps = None   # where the span is 2**64 (only for a 64-bit dtype's full range)
    if lo_big is not None and hi_big is not None:
        lo_b, hi_b = np.broadcast_arrays(lo_big, hi_big)
        if lo_b.size and np.any(lo_b >= hi_b):
            i = np.argmax(lo_b >= hi_b)
            raise InputError(f"random.randint: minval must be less than maxval, got minval="
                             f"{lo_b.flat[i]} and maxval={hi_b.flat[i]}")
        span_exact = np.minimum(hi_b, info.max + 1) - np.maximum(lo_b, info.min)
        if nbits == 64 and np.any(span_exact == 2 ** 64):
            wraps = np.asarray(span_exact == 2 ** 64)
    out_of_range = (None if hi_big is None else np.asarray(hi_big > info.max))
    lo = _clip_convert(lo, lo_big, dt)
    hi = _clip_convert(hi, hi_big, dt)

    keys = split(_check_key(key, "randint"))
    ud = _UINTS[nbits]
    high_bits = P.convert_element_type(_bits(_row(keys, 0), shape, nbits, "randint"), _U64)
    low_bits = P.convert_element_type(_bits(_row(keys, 1), shape, nbits, "randint"), _U64)

    # Everything below is uint64 arithmetic (which wraps alike in NumPy and Numba),
    # reduced modulo 2**nbits where JAX's nbits-wide arithmetic wraps.
    def wrap(x):
        return x if nbits == 64 else P.logical_and(x, _u64(2 ** nbits - 1))

    span = P.convert_element_type(P.convert_element_type(P.sub(hi, lo), ud), _U64)
    span = P.select(P.le(hi, lo), P.broadcast_to(_u64(1), aval_of(span).shape), span)
    if out_of_range is not None and out_of_range.any():
        # maxval beyond dtype's max: the span reaches max + 1
        span = P.select(np.asarray(out_of_range), P.add(span, _u64(1)), span)
    if wraps is not None:
        span = P.select(wraps, P.broadcast_to(_u64(1), aval_of(span).shape), span)
    # (hi * 2**nbits + lo) mod span, from hi mod span and lo mod span
    mult = P.rem(P.broadcast_to(_u64(2 ** (nbits // 2)), aval_of(span).shape), span)
    mult = P.rem(wrap(P.mul(mult, mult)), span)
    offset = wrap(P.add(P.mul(P.rem(high_bits, span), mult), P.rem(low_bits, span)))
    offset = P.rem(offset, span)
    if wraps is not None:   # the whole 64-bit range: the low word as it is
        offset = P.select(wraps, low_bits, offset)
    out = P.convert_element_type(P.add(P.convert_element_type(lo, _U64), offset), dt)
    return P.broadcast_to(out, shape) if aval_of(out).shape != shape else out


def _int_bound(v, dt, what):
    """``(value, exact)``: a traced integer as it is and None, or a concrete one
    as an object array of Python ints (exact, whatever its size)."""
    if isinstance(v, Tracer):
        if v.dtype.kind not in "iu":
            raise DtypeError(f"random.randint: {what} must be an integer, got {v.aval}")
        return v, None
    if isinstance(v, (bool, np.bool_)):
        raise DtypeError(f"random.randint: {what} must be an integer, got {v!r}")
    if isinstance(v, int):
        return v, np.asarray(v, dtype=object)
    arr = np.asarray(v)
    if arr.dtype.kind not in "iu":
        raise DtypeError(f"random.randint: {what} must be an integer, got {v!r:.60} ({arr.dtype})")
    return arr, arr.astype(object)


def _clip_convert(v, exact, dt):
    if exact is None:
        return P.convert_element_type(v, dt)
    info = np.iinfo(dt)
    clipped = np.minimum(np.maximum(exact, int(info.min)), int(info.max))
    return np.asarray(clipped.astype(dt) if clipped.ndim else dt.type(int(clipped)), dtype=dt)


# ----------------------------------------------------------------------------- shuffles

def permutation(key, x, axis=0):
    """A random permutation of ``range(x)`` (``x`` an int), or of ``x``'s
    entries along ``axis`` (``x`` an array: its slices along ``axis`` are
    shuffled together)."""
    if isinstance(x, Tracer) and x.ndim == 0:
        raise InputError(f"random.permutation: x must be a static int or an array; got a traced "
                         f"0-d value {x.aval} (the length of a permutation is a shape)")
    if not isinstance(x, Tracer) and np.ndim(x) == 0:
        n = _static_int(x, "permutation", "x")
        if n < 0:
            raise ShapeError(f"random.permutation: x must be non-negative, got {n}")
        return _shuffled_indices(_check_key(key, "permutation"), n)
    arr = x if isinstance(x, Tracer) else np.asarray(x)
    if aval_of(arr).dtype.kind not in "biuf":
        raise DtypeError(f"random.permutation: unsupported array {aval_of(arr)}")
    nd = aval_of(arr).ndim
    if not -nd <= axis < nd:
        raise ShapeError(f"random.permutation: axis {axis} out of range for {aval_of(arr)}")
    axis %= nd
    perm = _shuffled_indices(_check_key(key, "permutation"), aval_of(arr).shape[axis])
    return P.take(arr, perm, axis)


def _shuffled_indices(key, n):
    """``range(n)`` shuffled: rounds of stable sorts by random 32-bit keys."""
    perm = P.iota((n,), 0, np.int64)
    rounds = math.ceil(3 * math.log(max(1, n)) / math.log(2 ** 32 - 1))
    for _ in range(rounds):
        keys = split(key)
        key, sub = _row(keys, 0), _row(keys, 1)
        order = P.argsort(_bits(sub, (n,), 32, "permutation"))
        perm = P.take(perm, order, 0)
    return perm


def choice(key, a, shape=(), replace=True, p=None, axis=0):
    """Random samples of ``shape`` from ``range(a)`` (``a`` an int) or from
    ``a``'s entries along ``axis``, with or without replacement, uniformly or
    with probabilities ``p`` (non-negative weights, one per entry; they are
    normalised by their sum). The result has shape
    ``a.shape[:axis] + shape + a.shape[axis + 1:]`` (``shape`` for an int)."""
    from . import numpy as fnp

    shape = _shape(shape, "choice")
    if isinstance(a, Tracer) and a.ndim == 0:
        raise InputError(f"random.choice: a must be a static int or an array; got a traced 0-d "
                         f"value {a.aval}")
    if not isinstance(a, Tracer) and np.ndim(a) == 0:
        arr, n = None, _static_int(a, "choice", "a")
    else:
        arr = a if isinstance(a, Tracer) else np.asarray(a)
        nd = aval_of(arr).ndim
        if not -nd <= axis < nd:
            raise ShapeError(f"random.choice: axis {axis} out of range for {aval_of(arr)}")
        axis %= nd
        n = aval_of(arr).shape[axis]
    k = math.prod(shape)
    key = _check_key(key, "choice")
    if k > 0 and n <= 0:
        raise ShapeError(f"random.choice: cannot sample from an empty population (a={n if arr is None else aval_of(arr)})")
    if not replace and k > n:
        raise ShapeError(f"random.choice: cannot draw {k} samples without replacement from a "
                         f"population of {n} (replace=False)")
    if p is None:
        if replace:
            ind = randint(key, shape, 0, max(n, 1))
        else:
            ind = P.reshape(P.slice_(_shuffled_indices(key, n), (0,), (k,)), shape)
    else:
        p = _check_p(p, n)
        dt = aval_of(p).dtype
        if replace:
            cdf = fnp.cumsum(p)
            total = P.reshape(P.slice_(cdf, (n - 1,), (n,)), ())
            r = P.mul(total, P.sub(np.asarray(1, dt), _unit(key, shape, dt, "choice")))   # in (0, total]
            below = P.lt(P.reshape(cdf, (1,) * len(shape) + (n,)), P.reshape(r, shape + (1,)))
            ind = P.reduce_sum(P.convert_element_type(below, np.int64), (len(shape),))
        else:
            positive = P.gt(p, np.asarray(0, dt))
            safe = P.select(positive, p, P.broadcast_to(np.asarray(1, dt), (n,)))
            log_p = P.select(positive, P.log(safe), P.broadcast_to(np.asarray(-np.inf, dt), (n,)))
            g = P.add(_gumbel(key, (n,), dt, "choice"), log_p)
            order = P.argsort(P.neg(g))
            ind = P.reshape(P.slice_(order, (0,), (k,)), shape)
    if arr is None:
        return ind
    return P.take(arr, ind, axis)


def _check_p(p, n):
    if isinstance(p, Tracer):
        if p.dtype.kind not in "biuf":
            raise DtypeError(f"random.choice: p must be an array of probabilities, got {p.aval}")
        if p.dtype.kind != "f":
            p = P.convert_element_type(p, np.float64)
    else:
        p = np.asarray(p)
        if p.dtype.kind not in "biuf":
            raise DtypeError(f"random.choice: p must be an array of probabilities, got {p.dtype}")
        if p.dtype.kind != "f" or p.dtype == np.float16:
            p = p.astype(np.float64)
        if p.shape == (n,) and not (np.all(np.isfinite(p)) and np.all(p >= 0) and p.sum() > 0):
            raise InputError("random.choice: p must be finite and non-negative with a positive sum, "
                             f"got {p!r:.80}")
    if aval_of(p).shape != (n,):
        raise ShapeError(f"random.choice: p must have one entry per choice, shape ({n},); got {aval_of(p)}")
    return p
