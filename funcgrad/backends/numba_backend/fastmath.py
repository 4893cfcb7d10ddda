"""Vectorizable scalar transcendental functions for generated Numba loops.

Numba lowers ``np.exp``/``np.log``/``np.tanh``... on scalars to calls into
libm, and a loop that contains a call is not vectorized by LLVM.  The
functions here are written with arithmetic, comparisons that become
``select`` instructions, and a few bit-level helpers (below), so an
elementwise loop calling them is vectorized (AVX2: 8 float32 / 4 float64
lanes).  They are ``@njit(inline="always")``: Numba inlines them into the
caller's IR before LLVM sees the loop.

Functions (each in a float32 and a float64 variant; the float32 ones compute
in float32 throughout, so they take full-width float32 vectors):

    exp_f32, exp_f64            log_f32, log_f64
    expm1_f32, expm1_f64        log1p_f32, log1p_f64
    tanh_f32, tanh_f64          logistic_f32, logistic_f64

and type-generic front ends ``exp, log, expm1, log1p, tanh, logistic``
(``numba.extending.overload``, inlined): float32 -> the ``_f32`` variant,
float64 -> the ``_f64`` one, integers/booleans -> converted to float64 (as
NumPy does for int32/int64; NumPy gives float16/float32 for bool/int8/int16).
The generic names only work inside jitted code, and each call site costs
~0.3 s more compile time than the typed names (Numba's overload inlining):
generated code should call the ``_f32``/``_f64`` names directly.

Accuracy: max error in ulp against the float80 (np.longdouble) value rounded
to the target type, over every 101st float32 bit pattern (both signs,
denormals included), 24M random float64 bit patterns, 2001 consecutive floats
around each overflow/underflow threshold and algorithm switch point, and 16M
(float32) / 20M (float64) uniform values on the useful ranges; NumPy's own
result in brackets (for logistic: NumPy's stable two-branch formula):

    float32: exp 1 [2], expm1 1 [1], log 1 [4], log1p 1 [1], tanh 1 [1], logistic 2 [4]
    float64: exp 1 [1], expm1 2 [1], log 1 [1], log1p 1 [1], tanh 1 [1], logistic 2 [2]

Without FMA (NUMBA_CPU_NAME=generic) the same, except float32 expm1: 2 ulp.
tests/test_fastmath.py repeats a smaller version of these sweeps.

Special values are NumPy's (list below).

Polynomials are evaluated with Estrin's scheme (shorter dependency chains
than Horner) through _fma_*: LLVM's fmuladd, one FMA instruction where the
CPU has it, a multiply and an add where not.  Divisions go through _div_*, a
plain IEEE fdiv: Numba's ``/`` tests the divisor for zero to raise
ZeroDivisionError, and that branch alone keeps LLVM from vectorizing.

Algorithms
----------
exp, expm1:  x = n*ln2 + r with n = round(x/ln2), |r| <= ln2/2.  The
    reduction is Cody-Waite: ln2 = LN2_HI + LN2_LO where LN2_HI has few enough
    significant bits (16 for float32, 42 for float64) that n*LN2_HI is exact
    for every n in range, and x - n*LN2_HI is exact (Sterbenz), so r carries
    only the rounding of n*LN2_LO.  n is rounded with the "magic number"
    trick (x/ln2 + 1.5*2**p) - 1.5*2**p, which needs no libm call.
    expm1(r) = r + r**2 * H(r), H a weighted minimax polynomial (relative
    error of expm1 on |r| <= 0.3466): degree 5 for float32 (2**-31.8) and
    degree 10 for float64 (2**-58.4), fitted with a Remez exchange in mpmath
    (coefficients rounded to the target type).
    exp(x) = (1 + expm1(r)) * 2**n.  2**n is built from exponent bits
    (_pow2_*); to reach the denormal range and overflow without an invalid
    exponent, the scaling is done in two halves 2**h * 2**(n-h), so the only
    rounding into the denormal range is the last multiplication.
    expm1(x) = 2**n * expm1(r) + (2**n - 1) (exact for the small n where
    cancellation matters; n = 0 gives expm1(r) itself, so tiny x keep full
    relative accuracy), and (1 + expm1(r)) * 2**n - 1 for n > 24 (float32) /
    53 (float64), where the "- 1" no longer matters and 2**n may overflow.

log, log1p:  x = 2**e * m with m in [sqrt(1/2), sqrt(2)) read from the bits
    (_split_*; denormal x are first scaled by 2**24 / 2**54).  With f = m - 1
    (exact) and s = f / (2 + f), log(1 + f) = 2 atanh(s) is written
    f - (f**2/2 - s*(f**2/2 + R(s**2))) with R(z) = z*T(z), T a weighted
    minimax polynomial in z = s**2 <= 0.02944 (relative error of log(1+f):
    degree 2, 2**-30.2, for float32; degree 6, 2**-59.5, for float64).
    e*ln2 is added as e*LN2_HI (exact) plus e*LN2_LO folded into the small
    terms.  log1p(x): u = 1 + x rounded, c = the rounding error of that sum
    (exact: x - (u - 1) or 1 - (u - x)), log1p(x) = log(u) + c/u.

tanh:  |x| < 0.4: x + x**3 * P(x**2), P a weighted minimax polynomial
    (relative error of tanh: degree 3, 2**-29.1, float32; degree 8, 2**-59.1,
    float64).  Otherwise t = expm1(2|x|) (reduction and H as above; 2**n
    stays in range because |x| is clamped to 9.5 / 19.5, beyond which tanh
    rounds to 1), tanh|x| = t / (t + 2), sign restored.  t / (t + 2) alone
    would be good to 3 ulp for small |x| too; the polynomial makes it 1.

logistic:  e = exp(-|x|) in (0, 1] (never overflows), 1/(1+e) for x >= 0 and
    e/(1+e) for x < 0 (accurate down to the denormal results of large
    negative x).

Special values follow NumPy: exp(+inf) = inf, exp(-inf) = 0, overflow to inf
and underflow to 0 at the same thresholds, log(0) = -inf, log(x<0) = nan,
log(inf) = inf, log1p(-1) = -inf, expm1(-inf) = -1, tanh(+-inf) = +-1,
logistic(+-inf) = 1/0, f(-0) = -0 where f(0) = 0, nan -> nan.

Constraints for callers:
* Compile the calling function without ``fastmath=True``: reassociation
  breaks the rounding trick and the Cody-Waite reduction, and "no NaNs/infs"
  flags break the special values.
* Numba's disk cache does not track this module: a cached caller keeps the old
  code after fastmath.py changes (as with scalar.py); clear the cache.
* Integer arithmetic in Numba is widened to int64, which would spoil float32
  vectors; all bit manipulation is therefore done in the small LLVM
  intrinsics below, at the float's own width.
"""
from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic, overload

__all__ = [
    "exp_f32", "exp_f64", "expm1_f32", "expm1_f64", "log_f32", "log_f64",
    "log1p_f32", "log1p_f64", "tanh_f32", "tanh_f64", "logistic_f32", "logistic_f64",
    "exp", "expm1", "log", "log1p", "tanh", "logistic",
]

# ---------------------------------------------------------------------------
# Bit-level helpers.  Each is a handful of LLVM instructions (fadd, bitcast,
# shifts, and/add) that vectorize on any SIMD ISA; no integer ever goes
# through Numba's typing (which would widen int32 to int64).
# ---------------------------------------------------------------------------

_I32, _I64 = ir.IntType(32), ir.IntType(64)
_F32, _F64 = ir.FloatType(), ir.DoubleType()


def _pow2_codegen(ftype, itype, mant_bits, bias):
    def codegen(context, builder, signature, args):
        # n is an integer-valued float in [1 - bias, bias].  t = n + 2**p + bias
        # is exact and its low mantissa bits hold n + bias; shifting them into
        # the exponent field (the other bits fall off the top) gives 2**n.
        t = builder.fadd(args[0], ir.Constant(ftype, float(2 ** mant_bits + bias)))
        i = builder.shl(builder.bitcast(t, itype), ir.Constant(itype, mant_bits))
        return builder.bitcast(i, ftype)
    return codegen


@intrinsic
def _pow2_f32(typingctx, n):
    """2**n for float32 n integer-valued in [-126, 127] (outside: garbage, no UB)."""
    return types.float32(types.float32), _pow2_codegen(_F32, _I32, 23, 127)


@intrinsic
def _pow2_f64(typingctx, n):
    """2**n for float64 n integer-valued in [-1022, 1023]."""
    return types.float64(types.float64), _pow2_codegen(_F64, _I64, 52, 1023)


def _split_codegen(ftype, itype, mant_bits, sqrt_half_bits, magic):
    def codegen(context, builder, signature, args):
        # x = 2**e * m with m in [sqrt(1/2), sqrt(2)): subtracting the bits of
        # sqrt(1/2) moves the boundary of the exponent field there.
        ix = builder.sub(builder.bitcast(args[0], itype), ir.Constant(itype, sqrt_half_bits))
        e = builder.ashr(ix, ir.Constant(itype, mant_bits))
        mbits = builder.add(builder.and_(ix, ir.Constant(itype, (1 << mant_bits) - 1)),
                            ir.Constant(itype, sqrt_half_bits))
        m = builder.bitcast(mbits, ftype)
        # e to float without sitofp (int64 -> double does not vectorize on
        # AVX2): add e to the bits of magic = 1.5 * 2**p, subtract magic.
        magic_bits = int(np.array(magic, dtype=np.float32 if ftype == _F32 else np.float64)
                         .view(np.int32 if ftype == _F32 else np.int64))
        ef = builder.bitcast(builder.add(e, ir.Constant(itype, magic_bits)), ftype)
        ef = builder.fsub(ef, ir.Constant(ftype, magic))
        return context.make_tuple(builder, signature.return_type, (m, ef))
    return codegen


@intrinsic
def _split_f32(typingctx, x):
    """(m, e) with x = 2**e * m, m in [sqrt(1/2), sqrt(2)), for positive normal float32 x."""
    sig = types.UniTuple(types.float32, 2)(types.float32)
    return sig, _split_codegen(_F32, _I32, 23, 0x3F3504F3, 12582912.0)


@intrinsic
def _split_f64(typingctx, x):
    """(m, e) with x = 2**e * m, m in [sqrt(1/2), sqrt(2)), for positive normal float64 x."""
    sig = types.UniTuple(types.float64, 2)(types.float64)
    return sig, _split_codegen(_F64, _I64, 52, 0x3FE6A09E667F3BCD, 6755399441055744.0)


def _fdiv_codegen(context, builder, signature, args):
    return builder.fdiv(args[0], args[1])


@intrinsic
def _div_f32(typingctx, a, b):
    """a / b without Numba's zero-divisor check (which raises, and whose branch
    keeps LLVM from vectorizing the loop): IEEE division, b = 0 gives +-inf/nan."""
    return types.float32(types.float32, types.float32), _fdiv_codegen


@intrinsic
def _div_f64(typingctx, a, b):
    """IEEE a / b for float64 (see _div_f32)."""
    return types.float64(types.float64, types.float64), _fdiv_codegen


def _fmuladd_codegen(context, builder, signature, args):
    ftype = args[0].type
    fnty = ir.FunctionType(ftype, [ftype, ftype, ftype])
    name = "llvm.fmuladd.f32" if ftype == _F32 else "llvm.fmuladd.f64"
    fn = cgutils.get_or_insert_function(builder.module, fnty, name)
    return builder.call(fn, args)


@intrinsic
def _fma_f32(typingctx, a, b, c):
    """a * b + c, fused into one FMA instruction where the CPU has one (LLVM's
    fmuladd), else a multiply and an add.  Only used in polynomial evaluation,
    whose error bounds hold either way."""
    return types.float32(types.float32, types.float32, types.float32), _fmuladd_codegen


@intrinsic
def _fma_f64(typingctx, a, b, c):
    """a * b + c for float64 (see _fma_f32)."""
    return types.float64(types.float64, types.float64, types.float64), _fmuladd_codegen


# ---------------------------------------------------------------------------
# Constants.  Module-level NumPy scalars are frozen by Numba with their own
# type, so float32 code never meets a float64 constant (which would promote).
# ---------------------------------------------------------------------------

_f = np.float32
_LN2 = 0.6931471805599453094172321  # ln 2 (as a float64)

# float32
_ONE_32, _TWO_32, _HALF_32, _ZERO_32 = _f(1), _f(2), _f(0.5), _f(0)
_INF_32, _NAN_32 = _f(np.inf), _f(np.nan)
_MAGIC_32 = _f(12582912.0)            # 1.5 * 2**23: (v + M) - M rounds v to an integer
_INVLN2_32 = _f(1.4426950408889634)
_LN2_HI_32 = _f(45426.0 / 65536.0)    # 16 significant bits: n * LN2_HI exact for |n| < 256
_LN2_LO_32 = _f(1.428606765330187e-06)   # ln(2) - LN2_HI, rounded to float32
_EXP_HI_32, _EXP_LO_32 = _f(89.0), _f(-104.0)   # beyond: inf / 0
_EM1_HI_32, _EM1_LO_32 = _f(89.0), _f(-30.0)    # beyond: inf / -1
_EM1_BIG_32 = _f(24.0)                 # n above: 2**n * (1 + p) - 1
_TANH_MAX_32 = _f(9.5)                 # tanh rounds to 1 beyond ~9.01
_TANH_SMALL_32 = _f(0.4)               # below: odd polynomial
# P(w) ~ (tanh(x) - x) / x**3, w = x**2 <= 0.16, relative error of tanh 2**-29.1
_T0_32, _T1_32 = _f(-0.33333298563957214), _f(0.1333121359348297)
_T2_32, _T3_32 = _f(-0.05356193706393242), _f(0.01874406263232231)
_MIN_NORMAL_32 = _f(1.1754943508222875e-38)
_TWO24_32, _E24_32 = _f(16777216.0), _f(24.0)
# H(r) ~ (expm1(r) - r) / r**2 on |r| <= 0.3466, relative error of expm1 2**-31.8
_E0_32, _E1_32, _E2_32 = _f(0.5), _f(0.1666666716337204), _f(0.04166632518172264)
_E3_32, _E4_32, _E5_32 = _f(0.008333220146596432), _f(0.001394320628605783), _f(0.00019962161604780704)
# T(z) ~ (2 atanh(s)/s - 2) / z, z = s**2 <= 0.02944, relative error of log1p(f) 2**-30.2
_L0_32, _L1_32, _L2_32 = _f(0.6666677594184875), _f(0.3997753858566284), _f(0.29871854186058044)

# float64
_ONE_64, _TWO_64, _HALF_64, _ZERO_64 = 1.0, 2.0, 0.5, 0.0
_INF_64, _NAN_64 = np.inf, np.nan
_MAGIC_64 = 6755399441055744.0        # 1.5 * 2**52
_INVLN2_64 = 1.4426950408889634
_LN2_HI_64 = float(round(_LN2 * 2.0 ** 42)) / 2.0 ** 42   # 42 bits: n * LN2_HI exact for |n| < 2048
_LN2_LO_64 = 5.497923018708371e-14     # ln(2) - LN2_HI, rounded (computed with mpmath)
_EXP_HI_64, _EXP_LO_64 = 710.0, -746.0
_EM1_HI_64, _EM1_LO_64 = 710.0, -40.0
_EM1_BIG_64 = 53.0
_TANH_MAX_64 = 19.5                    # tanh rounds to 1 beyond ~19.06
_TANH_SMALL_64 = 0.4
# P(w), degree 8, relative error of tanh 2**-59.1
_T0_64, _T1_64, _T2_64 = -0.3333333333333321, 0.13333333333301975, -0.053968253941078556
_T3_64, _T4_64, _T5_64 = 0.021869487379704084, -0.008863207626083213, 0.003591719929751988
_T6_64, _T7_64, _T8_64 = -0.0014521342228024658, 0.0005695583354644424, -0.00017459220349656042
_MIN_NORMAL_64 = 2.2250738585072014e-308
_TWO54_64, _E54_64 = 18014398509481984.0, 54.0
# H(r), degree 10, relative error of expm1 2**-58.4
_E0_64, _E1_64, _E2_64 = 0.5000000000000001, 0.1666666666666667, 0.041666666666652294
_E3_64, _E4_64, _E5_64 = 0.008333333333326155, 0.0013888888895596137, 0.00019841269874760142
_E6_64, _E7_64, _E8_64 = 2.48015745393527e-05, 2.7557255468129753e-06, 2.7567926662204975e-07
_E9_64, _E10_64 = 2.5105191587527748e-08, 1.768772616895855e-09
# T(z), degree 6, relative error of log1p(f) 2**-59.5
_L0_64, _L1_64, _L2_64 = 0.6666666666666734, 0.3999999999941435, 0.2857142874246877
_L3_64, _L4_64, _L5_64 = 0.22222198564162374, 0.18183564829083934, 0.15314036855145954
_L6_64 = 0.14796094680811583


# ---------------------------------------------------------------------------
# Cores (no special-value handling)
# ---------------------------------------------------------------------------

@njit(inline="always")
def _expm1_poly_f32(r):
    """expm1(r) for |r| <= 0.3466."""
    r2 = r * r
    # Estrin's scheme: shorter dependency chains than Horner
    p01 = _fma_f32(r, _E1_32, _E0_32)
    p23 = _fma_f32(r, _E3_32, _E2_32)
    p45 = _fma_f32(r, _E5_32, _E4_32)
    h = _fma_f32(r2, _fma_f32(r2, p45, p23), p01)
    return _fma_f32(r2, h, r)


@njit(inline="always")
def _expm1_poly_f64(r):
    r2 = r * r
    r4 = r2 * r2
    p01 = _fma_f64(r, _E1_64, _E0_64)
    p23 = _fma_f64(r, _E3_64, _E2_64)
    p45 = _fma_f64(r, _E5_64, _E4_64)
    p67 = _fma_f64(r, _E7_64, _E6_64)
    p89 = _fma_f64(r, _E9_64, _E8_64)
    q0 = _fma_f64(r2, p23, p01)
    q1 = _fma_f64(r2, p67, p45)
    q2 = _fma_f64(r2, _E10_64, p89)
    h = _fma_f64(r4, _fma_f64(r4, q2, q1), q0)
    return _fma_f64(r2, h, r)


@njit(inline="always")
def _log1pf_f32(f, e, extra):
    """log(2**e * (1 + f)) + extra, for f in [sqrt(1/2) - 1, sqrt(2) - 1) and
    a small correction ``extra`` (added among the low-order terms)."""
    s = _div_f32(f, _TWO_32 + f)
    z = s * s
    rz = z * _fma_f32(z, _fma_f32(z, _L2_32, _L1_32), _L0_32)
    hfsq = _HALF_32 * f * f
    lo = s * (hfsq + rz) + (e * _LN2_LO_32 + extra)
    return e * _LN2_HI_32 - ((hfsq - lo) - f)


@njit(inline="always")
def _log1pf_f64(f, e, extra):
    s = _div_f64(f, _TWO_64 + f)
    z = s * s
    z2 = z * z
    q0 = _fma_f64(z, _L1_64, _L0_64)
    q1 = _fma_f64(z, _L3_64, _L2_64)
    q2 = _fma_f64(z, _L5_64, _L4_64)
    rz = z * _fma_f64(z2 * z2, _fma_f64(z2, _L6_64, q2), _fma_f64(z2, q1, q0))
    hfsq = _HALF_64 * f * f
    lo = s * (hfsq + rz) + (e * _LN2_LO_64 + extra)
    return e * _LN2_HI_64 - ((hfsq - lo) - f)


# ---------------------------------------------------------------------------
# exp
# ---------------------------------------------------------------------------

@njit(inline="always")
def exp_f32(x):
    """exp for float32; <= 1 ulp measured."""
    # clamp (NaN passes through both comparisons unchanged)
    x = _EXP_HI_32 if x > _EXP_HI_32 else x
    x = _EXP_LO_32 if x < _EXP_LO_32 else x
    n = (x * _INVLN2_32 + _MAGIC_32) - _MAGIC_32
    r = (x - n * _LN2_HI_32) - n * _LN2_LO_32
    p = _ONE_32 + _expm1_poly_f32(r)
    h = (n * _HALF_32 + _MAGIC_32) - _MAGIC_32          # n = h + (n - h), both in range
    return (p * _pow2_f32(n - h)) * _pow2_f32(h)


@njit(inline="always")
def exp_f64(x):
    """exp for float64; <= 1 ulp measured."""
    x = _EXP_HI_64 if x > _EXP_HI_64 else x
    x = _EXP_LO_64 if x < _EXP_LO_64 else x
    n = (x * _INVLN2_64 + _MAGIC_64) - _MAGIC_64
    r = (x - n * _LN2_HI_64) - n * _LN2_LO_64
    p = _ONE_64 + _expm1_poly_f64(r)
    h = (n * _HALF_64 + _MAGIC_64) - _MAGIC_64
    return (p * _pow2_f64(n - h)) * _pow2_f64(h)


# ---------------------------------------------------------------------------
# expm1
# ---------------------------------------------------------------------------

@njit(inline="always")
def expm1_f32(x):
    """expm1 for float32."""
    xc = _EM1_HI_32 if x > _EM1_HI_32 else x
    xc = _EM1_LO_32 if xc < _EM1_LO_32 else xc
    n = (xc * _INVLN2_32 + _MAGIC_32) - _MAGIC_32
    r = (xc - n * _LN2_HI_32) - n * _LN2_LO_32
    p = _expm1_poly_f32(r)
    s = _pow2_f32(n)                                   # valid for n <= 24 (used there)
    small = s * p + (s - _ONE_32)
    h = (n * _HALF_32 + _MAGIC_32) - _MAGIC_32
    big = ((_ONE_32 + p) * _pow2_f32(n - h)) * _pow2_f32(h) - _ONE_32
    res = big if n > _EM1_BIG_32 else small
    return x if x == _ZERO_32 else res                 # keeps -0


@njit(inline="always")
def expm1_f64(x):
    """expm1 for float64."""
    xc = _EM1_HI_64 if x > _EM1_HI_64 else x
    xc = _EM1_LO_64 if xc < _EM1_LO_64 else xc
    n = (xc * _INVLN2_64 + _MAGIC_64) - _MAGIC_64
    r = (xc - n * _LN2_HI_64) - n * _LN2_LO_64
    p = _expm1_poly_f64(r)
    s = _pow2_f64(n)
    small = s * p + (s - _ONE_64)
    h = (n * _HALF_64 + _MAGIC_64) - _MAGIC_64
    big = ((_ONE_64 + p) * _pow2_f64(n - h)) * _pow2_f64(h) - _ONE_64
    res = big if n > _EM1_BIG_64 else small
    return x if x == _ZERO_64 else res


# ---------------------------------------------------------------------------
# log
# ---------------------------------------------------------------------------

@njit(inline="always")
def log_f32(x):
    """log for float32."""
    sub = x < _MIN_NORMAL_32
    xs = x * _TWO24_32 if sub else x                   # denormals -> normal
    m, e = _split_f32(xs)
    e = e - _E24_32 if sub else e
    res = _log1pf_f32(m - _ONE_32, e, _ZERO_32)
    res = -_INF_32 if x == _ZERO_32 else res
    res = _NAN_32 if x < _ZERO_32 else res
    return x if (x != x or x == _INF_32) else res      # nan -> nan, inf -> inf


@njit(inline="always")
def log_f64(x):
    """log for float64."""
    sub = x < _MIN_NORMAL_64
    xs = x * _TWO54_64 if sub else x
    m, e = _split_f64(xs)
    e = e - _E54_64 if sub else e
    res = _log1pf_f64(m - _ONE_64, e, _ZERO_64)
    res = -_INF_64 if x == _ZERO_64 else res
    res = _NAN_64 if x < _ZERO_64 else res
    return x if (x != x or x == _INF_64) else res


# ---------------------------------------------------------------------------
# log1p
# ---------------------------------------------------------------------------

@njit(inline="always")
def log1p_f32(x):
    """log1p for float32."""
    u = _ONE_32 + x
    # c = (1 + x) - u exactly: u - 1 is exact for u < 2 (Sterbenz for u >= 1/2,
    # and 1 + x is itself exact for x < -1/2); u - x is exact for u >= 2
    c = (x - (u - _ONE_32)) if u < _TWO_32 else (_ONE_32 - (u - x))
    m, e = _split_f32(u)
    res = _log1pf_f32(m - _ONE_32, e, _div_f32(c, u))
    res = -_INF_32 if x == -_ONE_32 else res
    res = _NAN_32 if x < -_ONE_32 else res
    res = x if x == _ZERO_32 else res                  # keeps -0
    return x if (x != x or x == _INF_32) else res


@njit(inline="always")
def log1p_f64(x):
    """log1p for float64."""
    u = _ONE_64 + x
    c = (x - (u - _ONE_64)) if u < _TWO_64 else (_ONE_64 - (u - x))
    m, e = _split_f64(u)
    res = _log1pf_f64(m - _ONE_64, e, _div_f64(c, u))
    res = -_INF_64 if x == -_ONE_64 else res
    res = _NAN_64 if x < -_ONE_64 else res
    res = x if x == _ZERO_64 else res
    return x if (x != x or x == _INF_64) else res


# ---------------------------------------------------------------------------
# tanh
# ---------------------------------------------------------------------------

@njit(inline="always")
def tanh_f32(x):
    """tanh for float32."""
    a = abs(x)
    a = _TANH_MAX_32 if a > _TANH_MAX_32 else a        # NaN passes
    y = a + a                                          # exact, in [0, 19]
    n = (y * _INVLN2_32 + _MAGIC_32) - _MAGIC_32        # 0 <= n <= 28
    r = (y - n * _LN2_HI_32) - n * _LN2_LO_32
    s = _pow2_f32(n)
    t = s * _expm1_poly_f32(r) + (s - _ONE_32)         # expm1(2|x|)
    res = _div_f32(t, t + _TWO_32)
    res = -res if x < _ZERO_32 else res
    # |x| < 0.4: x + x**3 P(x**2) (t / (t + 2) loses up to 3 ulp there)
    w = x * x
    p = _fma_f32(w * w, _fma_f32(w, _T3_32, _T2_32), _fma_f32(w, _T1_32, _T0_32))
    small = _fma_f32(x * w, p, x)
    small = x if x == _ZERO_32 else small             # keeps -0
    return small if a < _TANH_SMALL_32 else res


@njit(inline="always")
def tanh_f64(x):
    """tanh for float64."""
    a = abs(x)
    a = _TANH_MAX_64 if a > _TANH_MAX_64 else a
    y = a + a
    n = (y * _INVLN2_64 + _MAGIC_64) - _MAGIC_64
    r = (y - n * _LN2_HI_64) - n * _LN2_LO_64
    s = _pow2_f64(n)
    t = s * _expm1_poly_f64(r) + (s - _ONE_64)
    res = _div_f64(t, t + _TWO_64)
    res = -res if x < _ZERO_64 else res
    w = x * x
    w2 = w * w
    w4 = w2 * w2
    q0 = _fma_f64(w, _T1_64, _T0_64)
    q1 = _fma_f64(w, _T3_64, _T2_64)
    q2 = _fma_f64(w, _T5_64, _T4_64)
    q3 = _fma_f64(w, _T7_64, _T6_64)
    p = _fma_f64(w4, _fma_f64(w2, _fma_f64(w2, _T8_64, q3), q2), _fma_f64(w2, q1, q0))
    small = _fma_f64(x * w, p, x)
    small = x if x == _ZERO_64 else small
    return small if a < _TANH_SMALL_64 else res


# ---------------------------------------------------------------------------
# logistic (sigmoid)
# ---------------------------------------------------------------------------

@njit(inline="always")
def logistic_f32(x):
    """1 / (1 + exp(-x)) for float32."""
    e = exp_f32(-abs(x))                               # in [0, 1]: no overflow
    num = _ONE_32 if x >= _ZERO_32 else e              # NaN: e (NaN)
    return _div_f32(num, _ONE_32 + e)


@njit(inline="always")
def logistic_f64(x):
    """1 / (1 + exp(-x)) for float64."""
    e = exp_f64(-abs(x))
    num = _ONE_64 if x >= _ZERO_64 else e
    return _div_f64(num, _ONE_64 + e)


# ---------------------------------------------------------------------------
# Type-generic front ends (jitted code only)
# ---------------------------------------------------------------------------

def _generic(name, f32, f64):
    """A Python stub plus an inlined Numba overload choosing f32 or f64."""
    def stub(x):
        raise TypeError(f"fastmath.{name} can only be called from jitted code; "
                        f"use {name}_f32 / {name}_f64")
    stub.__name__ = stub.__qualname__ = name

    @overload(stub, inline="always")
    def _impl(x):
        if isinstance(x, types.Float):
            if x.bitwidth == 32:
                return lambda x: f32(x)
            if x.bitwidth == 64:
                return lambda x: f64(x)
            return None
        if isinstance(x, (types.Integer, types.Boolean)):
            return lambda x: f64(np.float64(x))
        return None
    return stub


exp = _generic("exp", exp_f32, exp_f64)
expm1 = _generic("expm1", expm1_f32, expm1_f64)
log = _generic("log", log_f32, log_f64)
log1p = _generic("log1p", log1p_f32, log1p_f64)
tanh = _generic("tanh", tanh_f32, tanh_f64)
logistic = _generic("logistic", logistic_f32, logistic_f64)
