"""Scalar rules of the CUDA backend: ``cuda_scalar[prim](eqn, *operands) -> str``,
the expression of one output element of an elementwise primitive inside a
``@cuda.jit`` kernel, from its operands' expressions.

The rules are the Numba backend's (``numba_backend.lowering.scalar_lowering``:
CUDA kernels are Numba code too) where those are valid in device code; the
rules that call CPU helpers (``fastmath.py``'s vectorizable ``exp_f64``,
``scalar.py``'s NaN-propagating ``fmax``...) are replaced by CUDA's own math
functions (``math.exp`` on a float32 is ``expf`` from libdevice: float32
stays float32) and by the device functions of ``device.py``, which keep
NumPy's semantics (NaN propagation, the sign of ``remainder``).
"""
from __future__ import annotations

from ...primitives.elementwise import (acos_p, asin_p, atan2_p, atan_p, ceil_p, cos_p, cosh_p, exp_p, expm1_p,
                                       floor_p, floordiv_p, isfinite_p, log1p_p, log_p, logistic_p, max_p, min_p,
                                       rem_p, round_p, sign_p, sin_p, sinh_p, sqrt_p, tan_p, tanh_p)
from dataclasses import dataclass
from typing import Callable

import numpy as np

from ...primitives.reduction import reduce_max_p, reduce_min_p, reduce_prod_p, reduce_sum_p
from ..numba_backend.lowering import _by_kind, _fmt, _keep_float, np_type, scalar_lowering

__all__ = ["cuda_scalar", "cuda_reduction", "CudaReduction", "DEVICE_HELPERS"]

cuda_scalar = dict(scalar_lowering)
cuda_scalar.update({
    exp_p: _fmt("math.exp({0})"),
    log_p: _fmt("math.log({0})"),
    log1p_p: _fmt("math.log1p({0})"),
    expm1_p: _fmt("math.expm1({0})"),
    tanh_p: _fmt("math.tanh({0})"),
    sqrt_p: _fmt("math.sqrt({0})"),
    sin_p: _fmt("math.sin({0})"),
    cos_p: _fmt("math.cos({0})"),
    tan_p: _fmt("math.tan({0})"),
    asin_p: _fmt("math.asin({0})"),
    acos_p: _fmt("math.acos({0})"),
    atan_p: _fmt("math.atan({0})"),
    sinh_p: _fmt("math.sinh({0})"),
    cosh_p: _fmt("math.cosh({0})"),
    floor_p: _fmt("math.floor({0})"),
    ceil_p: _fmt("math.ceil({0})"),
    atan2_p: _fmt("math.atan2({0}, {1})"),
    isfinite_p: _fmt("math.isfinite({0})"),
    logistic_p: _fmt("d_logistic({0})"),
    sign_p: _keep_float(_fmt("d_sign({0})")),
    round_p: _fmt("d_rint({0})"),
    max_p: _fmt("d_fmax({0}, {1})"),
    min_p: _fmt("d_fmin({0}, {1})"),
    rem_p: _by_kind("d_remainder"),
    floordiv_p: _by_kind("d_floordiv"),
})

# the device functions the rules above name (device.py defines them)
DEVICE_HELPERS = ("d_logistic", "d_sign", "d_rint", "d_fmax", "d_fmin", "d_remainder_float", "d_remainder_int",
                  "d_floordiv_float", "d_floordiv_int")


@dataclass(frozen=True)
class CudaReduction:
    """A reduction in a kernel: each thread folds its elements into a
    private accumulator that starts at ``identity(dtype)``, then the block's
    accumulators are combined pairwise in shared memory (a tree), with
    ``combine(a, b)``. Accumulators have the output's dtype (float32 sums in
    float32: the tree order keeps the error growing with log2 of the count
    per level rather than linearly)."""
    identity: Callable[[np.dtype], str]
    combine: Callable[[str, str], str]


def _extreme(lowest: bool):
    def identity(dt):
        dt = np.dtype(dt)
        if dt.kind == "f":
            return f"{np_type(dt)}({'-' if lowest else ''}math.inf)"
        if dt.kind in "iu":
            info = np.iinfo(dt)
            return f"{np_type(dt)}({info.min if lowest else info.max})"
        return "False" if lowest else "True"
    return identity


cuda_reduction = {
    reduce_sum_p: CudaReduction(lambda dt: f"{np_type(dt)}(0)", lambda a, b: f"{a} + {b}"),
    reduce_prod_p: CudaReduction(lambda dt: f"{np_type(dt)}(1)", lambda a, b: f"{a} * {b}"),
    reduce_max_p: CudaReduction(_extreme(True), lambda a, b: f"d_fmax({a}, {b})"),
    reduce_min_p: CudaReduction(_extreme(False), lambda a, b: f"d_fmin({a}, {b})"),
}
