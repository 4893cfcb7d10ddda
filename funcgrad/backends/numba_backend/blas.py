"""Matrix multiplication for generated Numba code, through BLAS.

Numba's own ``np.dot`` needs SciPy, which funcgrad does not depend on.
NumPy's wheels ship OpenBLAS (``scipy_openblas64_``, 64-bit integers); its
``cblas_?gemm`` is called here through ctypes, which Numba compiles to a
direct call. Where that library is not found (NumPy built against another
BLAS), a plain-loop kernel is used instead: correct, slower.

The library's functions are registered with LLVM under funcgrad's own symbol
names and declared as Numba external functions: calls go by name, so code
that uses them can be cached on disk (a ctypes pointer would prevent it).
"""
from __future__ import annotations

import ctypes
import glob
import os

import llvmlite.binding as llvm
import numpy as np
from numba import njit, types

ROW_MAJOR, NO_TRANS, TRANS = 101, 111, 112


def _find_openblas():
    base = os.path.dirname(np.__file__)
    for pattern in ("../numpy.libs/libscipy_openblas64_*", ".dylibs/libscipy_openblas64_*",
                    "../numpy.libs/libopenblas64_*"):
        for path in glob.glob(os.path.join(base, pattern)):
            try:
                lib = ctypes.CDLL(path)
            except OSError:
                continue
            for prefix, suffix in (("scipy_cblas_", "64_"), ("cblas_", "64_")):
                s = getattr(lib, f"{prefix}sgemm{suffix}", None)
                d = getattr(lib, f"{prefix}dgemm{suffix}", None)
                if s is not None and d is not None:
                    return s, d
    return None


def _declare(symbol, fn, real):
    """Register ``fn`` under ``symbol`` and declare its cblas gemm signature
    (pointers are passed as 64-bit integers, which the x86-64 and AArch64 ABIs
    pass alike)."""
    llvm.add_symbol(symbol, ctypes.cast(fn, ctypes.c_void_p).value)
    i32, i64 = types.int32, types.int64
    return types.ExternalFunction(symbol, types.void(i32, i32, i32, i64, i64, i64, real, i64, i64,
                                                     i64, i64, real, i64, i64))


_found = _find_openblas()
HAVE_BLAS = _found is not None

if HAVE_BLAS:
    _sgemm = _declare("funcgrad_cblas_sgemm", _found[0], types.float32)
    _dgemm = _declare("funcgrad_cblas_dgemm", _found[1], types.float64)

    @njit(cache=True)
    def gemm_f32(ta, tb, a, b, c):
        """c = op(a) @ op(b) for 2-D C-contiguous float32 arrays."""
        m, n = c.shape
        k = a.shape[0] if ta else a.shape[1]
        if m == 0 or n == 0:
            return
        if k == 0:
            c[:] = 0
            return
        _sgemm(ROW_MAJOR, TRANS if ta else NO_TRANS, TRANS if tb else NO_TRANS, m, n, k, np.float32(1.0),
               a.ctypes.data, max(a.shape[1], 1), b.ctypes.data, max(b.shape[1], 1), np.float32(0.0),
               c.ctypes.data, max(n, 1))

    @njit(cache=True)
    def gemm_f64(ta, tb, a, b, c):
        """c = op(a) @ op(b) for 2-D C-contiguous float64 arrays."""
        m, n = c.shape
        k = a.shape[0] if ta else a.shape[1]
        if m == 0 or n == 0:
            return
        if k == 0:
            c[:] = 0
            return
        _dgemm(ROW_MAJOR, TRANS if ta else NO_TRANS, TRANS if tb else NO_TRANS, m, n, k, 1.0,
               a.ctypes.data, max(a.shape[1], 1), b.ctypes.data, max(b.shape[1], 1), 0.0,
               c.ctypes.data, max(n, 1))


@njit(cache=True)
def gemm_loops(ta, tb, a, b, c):
    """c = op(a) @ op(b) with loops: integers, and the fallback without BLAS."""
    m, n = c.shape
    k = a.shape[0] if ta else a.shape[1]
    for i in range(m):
        for j in range(n):
            c[i, j] = 0
        for p in range(k):
            av = a[p, i] if ta else a[i, p]
            for j in range(n):
                c[i, j] += av * (b[j, p] if tb else b[p, j])


if not HAVE_BLAS:  # pragma: no cover - depends on how NumPy was built
    gemm_f32 = gemm_f64 = gemm_loops
