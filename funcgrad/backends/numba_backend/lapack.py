"""LAPACK for generated Numba code (and the vm machine), through the LAPACKE
and CBLAS functions of the OpenBLAS that NumPy's wheels ship (see
:mod:`.blas`): ``?potrf`` (Cholesky), ``?trsm`` (triangular solves),
``?getrf`` (LU), ``?syevd`` (symmetric eigendecomposition), ``?gesdd``
(SVD), ``?geqrf`` + ``?orgqr`` (QR): the routines ``numpy.linalg`` calls,
so the compiled backends and the interpreter agree to rounding.

LAPACKE's row-major interface takes C-ordered matrices (it transposes into
and out of LAPACK's column-major layout, O(n^2) next to the O(n^3) work);
``getrf``, the one on the hot path of ``solve`` and ``slogdet``, gets its
column-major copy from a blocked transpose here instead (LAPACKE's element
by element one cost a quarter of a 512 x 512 factorization). While
funcgrad's BLAS setting runs products on its own pool (busy cores, or a
fixed thread count: see :mod:`.blas`), each LAPACK call holds OpenBLAS at
one thread: OpenBLAS's spinning threads on busy cores made a 512 x 512
Cholesky factorization 50 times slower.
As in :mod:`.blas`, the functions are registered with LLVM under funcgrad's
own symbol names and declared as Numba external functions (pointers passed
as 64-bit integers), so code that calls them is cached on disk.

Each helper takes stacks of matrices, C-contiguous 3-D arrays ``(batch, m,
n)``, and writes its results into the output arrays it is given; float32
and float64 take the ``s`` and ``d`` routines. Where a factorization fails
(a matrix that is not positive definite, NaN entries, no convergence) the
results of that matrix are NaN, as in JAX. ``HAVE_LAPACK`` is False where
NumPy's OpenBLAS is not found; the backend then leaves these primitives to
the interpreter.
"""
from __future__ import annotations

import numpy as np
from numba import njit, types

from .blas import _declare_fn, lapack_enter, lapack_leave, openblas_symbol

__all__ = ["HAVE_LAPACK", "lapack_cholesky", "lapack_triangular_solve", "lapack_lu", "lapack_eigh", "lapack_svd",
           "lapack_qr"]

ROW_MAJOR, COL_MAJOR = 101, 102
LEFT, UPPER, LOWER, NO_TRANS, TRANS, NON_UNIT, UNIT = 141, 121, 122, 111, 112, 131, 132
CH_L, CH_V, CH_N, CH_S, CH_A = 76, 86, 78, 83, 65      # 'L' 'V' 'N' 'S' 'A'

_i8, _i32, _i64 = types.int8, types.int32, types.int64
_SIGNATURES = {
    "potrf": _i64(_i32, _i8, _i64, _i64, _i64),
    "getrf": _i64(_i32, _i64, _i64, _i64, _i64, _i64),
    "syevd": _i64(_i32, _i8, _i8, _i64, _i64, _i64, _i64),
    "gesdd": _i64(_i32, _i8, _i64, _i64, _i64, _i64, _i64, _i64, _i64, _i64, _i64),
    "geqrf": _i64(_i32, _i64, _i64, _i64, _i64, _i64),
    "orgqr": _i64(_i32, _i64, _i64, _i64, _i64, _i64, _i64),
}


def _lookup():
    found = {}
    for routine, sig in _SIGNATURES.items():
        for p in "sd":
            fn = openblas_symbol(f"LAPACKE_{p}{routine}")
            if fn is None:
                return None
            found[p + routine] = _declare_fn(f"funcgrad_lapacke_{p}{routine}", fn, sig)
    for p, real in (("s", types.float32), ("d", types.float64)):
        fn = openblas_symbol(f"cblas_{p}trsm")
        if fn is None:
            return None
        found[p + "trsm"] = _declare_fn(f"funcgrad_cblas_{p}trsm", fn, types.void(
            _i32, _i32, _i32, _i32, _i32, _i64, _i64, real, _i64, _i64, _i64, _i64))
    return found


_fns = _lookup()
HAVE_LAPACK = _fns is not None

if HAVE_LAPACK:
    _spotrf, _dpotrf = _fns["spotrf"], _fns["dpotrf"]
    _sgetrf, _dgetrf = _fns["sgetrf"], _fns["dgetrf"]
    _ssyevd, _dsyevd = _fns["ssyevd"], _fns["dsyevd"]
    _sgesdd, _dgesdd = _fns["sgesdd"], _fns["dgesdd"]
    _sgeqrf, _dgeqrf = _fns["sgeqrf"], _fns["dgeqrf"]
    _sorgqr, _dorgqr = _fns["sorgqr"], _fns["dorgqr"]
    _strsm, _dtrsm = _fns["strsm"], _fns["dtrsm"]

    @njit(cache=True)
    def lapack_cholesky(a, out):
        """``out[q]`` = the lower Cholesky factor of ``a[q]``'s lower triangle."""
        n = a.shape[1]
        for q in range(a.shape[0]):
            o = out[q]
            o[:, :] = a[q]
            if n == 0:
                continue
            held = lapack_enter()
            if o.itemsize == 4:
                info = _spotrf(ROW_MAJOR, CH_L, n, o.ctypes.data, n)
            else:
                info = _dpotrf(ROW_MAJOR, CH_L, n, o.ctypes.data, n)
            lapack_leave(held)
            if info != 0:
                o[:, :] = np.nan
                continue
            for i in range(n):
                for j in range(i + 1, n):
                    o[i, j] = 0

    @njit(cache=True)
    def lapack_triangular_solve(a, b, out, lower, transpose_a, unit_diagonal):
        """``out[q] = op(T)^-1 b[q]``, ``T`` the lower/upper triangle of ``a[q]``."""
        n, k = b.shape[1], b.shape[2]
        uplo = LOWER if lower else UPPER
        trans = TRANS if transpose_a else NO_TRANS
        diag = UNIT if unit_diagonal else NON_UNIT
        for q in range(b.shape[0]):
            o = out[q]
            o[:, :] = b[q]
            if n == 0 or k == 0:
                continue
            held = lapack_enter()
            if o.itemsize == 4:
                _strsm(ROW_MAJOR, LEFT, uplo, trans, diag, n, k, np.float32(1.0), a[q].ctypes.data, n,
                       o.ctypes.data, k)
            else:
                _dtrsm(ROW_MAJOR, LEFT, uplo, trans, diag, n, k, 1.0, a[q].ctypes.data, n, o.ctypes.data, k)
            lapack_leave(held)

    @njit(cache=True)
    def _transpose_into(src, dst):
        """``dst = src.T`` for square C-ordered matrices, in 8 x 8 tiles (larger
        tiles of a 512-wide matrix fall on the same cache sets: 4x slower)."""
        n = src.shape[0]
        for i0 in range(0, n, 8):
            i1 = min(i0 + 8, n)
            for j0 in range(0, n, 8):
                j1 = min(j0 + 8, n)
                for i in range(i0, i1):
                    for j in range(j0, j1):
                        dst[j, i] = src[i, j]

    @njit(cache=True)
    def lapack_lu(a, out, pivots, perm):
        """getrf: ``out[q]`` the packed factors, ``pivots[q]`` the 0-based row
        interchanges, ``perm[q]`` the permutation they compose to."""
        n = a.shape[1]
        ipiv = np.empty(max(n, 1), np.int64)
        work = np.empty((n, n), a.dtype)       # column-major: the transpose of a C-ordered matrix
        for q in range(a.shape[0]):
            o = out[q]
            for i in range(n):
                perm[q, i] = i
                pivots[q, i] = i
            if n == 0:
                continue
            _transpose_into(a[q], work)
            held = lapack_enter()
            if work.itemsize == 4:
                info = _sgetrf(COL_MAJOR, n, n, work.ctypes.data, n, ipiv.ctypes.data)
            else:
                info = _dgetrf(COL_MAJOR, n, n, work.ctypes.data, n, ipiv.ctypes.data)
            lapack_leave(held)
            if info < 0:                  # NaN entries (LAPACKE's check): no factorization
                o[:, :] = np.nan
                continue
            _transpose_into(work, o)
            for i in range(n):            # info > 0 is an exact zero pivot: U is singular, still valid
                p = ipiv[i] - 1
                pivots[q, i] = p
                if p != i:
                    t = perm[q, i]
                    perm[q, i] = perm[q, p]
                    perm[q, p] = t

    @njit(cache=True)
    def lapack_eigh(a, w, v):
        """syevd on ``a[q]``'s lower triangle: eigenvalues ascending in
        ``w[q]``, eigenvectors as the columns of ``v[q]``."""
        n = a.shape[1]
        for q in range(a.shape[0]):
            o = v[q]
            o[:, :] = a[q]
            if n == 0:
                continue
            held = lapack_enter()
            if o.itemsize == 4:
                info = _ssyevd(ROW_MAJOR, CH_V, CH_L, n, o.ctypes.data, n, w[q].ctypes.data)
            else:
                info = _dsyevd(ROW_MAJOR, CH_V, CH_L, n, o.ctypes.data, n, w[q].ctypes.data)
            lapack_leave(held)
            if info != 0:
                o[:, :] = np.nan
                w[q, :] = np.nan

    @njit(cache=True)
    def lapack_svd(a, u, s, vt, full_matrices, compute_uv):
        """gesdd: ``a[q] = u[q] diag(s[q]) vt[q]`` (``u``/``vt`` unused
        without ``compute_uv``)."""
        m, n = a.shape[1], a.shape[2]
        k = min(m, n)
        work = np.empty((m, n), a.dtype)
        jobz = CH_N if not compute_uv else (CH_A if full_matrices else CH_S)
        for q in range(a.shape[0]):
            if k == 0:
                if compute_uv:
                    u[q, :, :] = 0
                    vt[q, :, :] = 0
                    for i in range(min(u.shape[1], u.shape[2])):
                        u[q, i, i] = 1
                    for i in range(min(vt.shape[1], vt.shape[2])):
                        vt[q, i, i] = 1
                continue
            work[:, :] = a[q]
            if compute_uv:
                up, ldu, vp, ldvt = u[q].ctypes.data, u.shape[2], vt[q].ctypes.data, n
            else:
                up, ldu, vp, ldvt = work.ctypes.data, 1, work.ctypes.data, 1
            held = lapack_enter()
            if work.itemsize == 4:
                info = _sgesdd(ROW_MAJOR, jobz, m, n, work.ctypes.data, n, s[q].ctypes.data, up, ldu, vp, ldvt)
            else:
                info = _dgesdd(ROW_MAJOR, jobz, m, n, work.ctypes.data, n, s[q].ctypes.data, up, ldu, vp, ldvt)
            lapack_leave(held)
            if info != 0:
                s[q, :] = np.nan
                if compute_uv:
                    u[q, :, :] = np.nan
                    vt[q, :, :] = np.nan

    @njit(cache=True)
    def lapack_qr(a, qo, r):
        """geqrf + orgqr: ``a[q] = qo[q] r[q]``; ``qo`` has ``K = min(M, N)``
        or ``M`` columns (``full_matrices``), ``r`` as many rows."""
        m, n = a.shape[1], a.shape[2]
        k = min(m, n)
        cols = qo.shape[2]
        work = np.empty((m, n), a.dtype)
        tau = np.empty(max(k, 1), a.dtype)
        for q in range(a.shape[0]):
            o = qo[q]
            o[:, :] = 0
            r[q, :, :] = 0
            if m == 0:
                continue
            if k == 0:
                for i in range(cols):
                    o[i, i] = 1
                continue
            work[:, :] = a[q]
            held = lapack_enter()
            if work.itemsize == 4:
                info = _sgeqrf(ROW_MAJOR, m, n, work.ctypes.data, n, tau.ctypes.data)
            else:
                info = _dgeqrf(ROW_MAJOR, m, n, work.ctypes.data, n, tau.ctypes.data)
            if info != 0:
                lapack_leave(held)
                o[:, :] = np.nan
                r[q, :, :] = np.nan
                continue
            for i in range(cols):
                for j in range(i, n):
                    r[q, i, j] = work[i, j]
            for i in range(m):
                for j in range(k):
                    o[i, j] = work[i, j]
            if o.itemsize == 4:
                _sorgqr(ROW_MAJOR, m, cols, k, o.ctypes.data, cols, tau.ctypes.data)
            else:
                _dorgqr(ROW_MAJOR, m, cols, k, o.ctypes.data, cols, tau.ctypes.data)
            lapack_leave(held)

else:   # pragma: no cover - the backends leave these primitives to the interpreter; the vm machine still
    #     names the helpers, which then refuse to run
    def _missing(*args):
        raise RuntimeError("funcgrad: NumPy's OpenBLAS has no LAPACKE; linear algebra runs on the interpreter")

    lapack_cholesky = lapack_triangular_solve = lapack_lu = lapack_eigh = lapack_svd = lapack_qr = njit(_missing)
