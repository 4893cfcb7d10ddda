"""LAPACK for generated Numba code (and the vm machine), through the LAPACKE
and CBLAS functions of the OpenBLAS that NumPy's wheels ship (see
:mod:`.blas`): ``?potrf`` (Cholesky), ``?trsm`` (triangular solves), ``?trmm``
(triangular products),
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

import threading

import llvmlite.binding as llvm
import numpy as np
from numba import carray, cfunc, njit, types

from .blas import _declare_fn, _f32_ptr, _f64_ptr, _i64_ptr, lapack_enter, lapack_leave, openblas_symbol

__all__ = ["HAVE_LAPACK", "lapack_cholesky", "lapack_triangular_solve", "lapack_triangular_matmul", "lapack_lu",
           "lapack_eigh", "lapack_svd", "lapack_qr"]

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
        for routine in ("trsm", "trmm"):
            fn = openblas_symbol(f"cblas_{p}{routine}")
            if fn is None:
                return None
            found[p + routine] = _declare_fn(f"funcgrad_cblas_{p}{routine}", fn, types.void(
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
    _strmm, _dtrmm = _fns["strmm"], _fns["dtrmm"]

    @njit
    def _cholesky_kernel(a, out):
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

    @njit
    def _triangular_solve_kernel(a, b, out, lower, transpose_a, unit_diagonal):
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

    @njit
    def _triangular_matmul_kernel(a, b, out, lower, transpose_a):
        """``out[q] = op(T) b[q]``, ``T`` the lower/upper triangle of ``a[q]``."""
        n, k = b.shape[1], b.shape[2]
        uplo = LOWER if lower else UPPER
        trans = TRANS if transpose_a else NO_TRANS
        for q in range(b.shape[0]):
            o = out[q]
            o[:, :] = b[q]
            if n == 0 or k == 0:
                continue
            held = lapack_enter()
            if o.itemsize == 4:
                _strmm(ROW_MAJOR, LEFT, uplo, trans, NON_UNIT, n, k, np.float32(1.0), a[q].ctypes.data, n,
                       o.ctypes.data, k)
            else:
                _dtrmm(ROW_MAJOR, LEFT, uplo, trans, NON_UNIT, n, k, 1.0, a[q].ctypes.data, n, o.ctypes.data, k)
            lapack_leave(held)

    @njit
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

    @njit
    def _lu_kernel(a, out, pivots, perm):
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

    @njit
    def _eigh_kernel(a, w, v):
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

    @njit
    def _svd_kernel(a, u, s, vt, full_matrices, compute_uv):
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

    @njit
    def _qr_kernel(a, qo, r):
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

    # ------------------------------------------------------------------ C entry points
    # Each kernel is compiled once, for both float widths, into a C function
    # (a Numba cfunc, cached on disk like any cache=True function) whose
    # address is registered with LLVM under a funcgrad symbol. Generated code
    # calls that symbol through the small wrappers below, so a program that
    # factors a matrix links a call, not the kernel's code: Numba re-optimizes
    # every function a program calls together with the program, and linking
    # the kernels cost 1-2 s of compile time per LAPACK routine a program used.
    # Arguments: the arrays' addresses, their sizes, 1 for float32.
    _p32, _p64 = _f32_ptr, _f64_ptr

    def _entry(argc):
        """Mark a kernel's entry point with its C signature (all 64-bit
        integers); compiled on first use (see ``__getattr__``)."""
        def mark(fn):
            fn.c_signature = types.void(*([_i64] * argc))
            return fn
        return mark

    @_entry(5)
    def _cholesky_entry(a, out, batch, n, f32):
        if f32:
            _cholesky_kernel(carray(_p32(a), (batch, n, n)), carray(_p32(out), (batch, n, n)))
        else:
            _cholesky_kernel(carray(_p64(a), (batch, n, n)), carray(_p64(out), (batch, n, n)))

    @_entry(8)
    def _triangular_solve_entry(a, b, out, batch, n, k, flags, f32):
        lower, trans, unit = (flags & 1) != 0, (flags & 2) != 0, (flags & 4) != 0
        if f32:
            _triangular_solve_kernel(carray(_p32(a), (batch, n, n)), carray(_p32(b), (batch, n, k)),
                                     carray(_p32(out), (batch, n, k)), lower, trans, unit)
        else:
            _triangular_solve_kernel(carray(_p64(a), (batch, n, n)), carray(_p64(b), (batch, n, k)),
                                     carray(_p64(out), (batch, n, k)), lower, trans, unit)

    @_entry(8)
    def _triangular_matmul_entry(a, b, out, batch, n, k, flags, f32):
        lower, trans = (flags & 1) != 0, (flags & 2) != 0
        if f32:
            _triangular_matmul_kernel(carray(_p32(a), (batch, n, n)), carray(_p32(b), (batch, n, k)),
                                      carray(_p32(out), (batch, n, k)), lower, trans)
        else:
            _triangular_matmul_kernel(carray(_p64(a), (batch, n, n)), carray(_p64(b), (batch, n, k)),
                                      carray(_p64(out), (batch, n, k)), lower, trans)

    @_entry(7)
    def _lu_entry(a, out, pivots, perm, batch, n, f32):
        piv, per = carray(_i64_ptr(pivots), (batch, n)), carray(_i64_ptr(perm), (batch, n))
        if f32:
            _lu_kernel(carray(_p32(a), (batch, n, n)), carray(_p32(out), (batch, n, n)), piv, per)
        else:
            _lu_kernel(carray(_p64(a), (batch, n, n)), carray(_p64(out), (batch, n, n)), piv, per)

    @_entry(6)
    def _eigh_entry(a, w, v, batch, n, f32):
        if f32:
            _eigh_kernel(carray(_p32(a), (batch, n, n)), carray(_p32(w), (batch, n)), carray(_p32(v), (batch, n, n)))
        else:
            _eigh_kernel(carray(_p64(a), (batch, n, n)), carray(_p64(w), (batch, n)), carray(_p64(v), (batch, n, n)))

    @_entry(11)
    def _svd_entry(a, u, s, vt, batch, m, n, ucols, vrows, flags, f32):
        full, uv = (flags & 1) != 0, (flags & 2) != 0
        ub, vb = (batch, m, ucols) if uv else (1, 1, 1), (batch, vrows, n) if uv else (1, 1, 1)
        k = min(m, n)
        if f32:
            _svd_kernel(carray(_p32(a), (batch, m, n)), carray(_p32(u), ub), carray(_p32(s), (batch, k)),
                        carray(_p32(vt), vb), full, uv)
        else:
            _svd_kernel(carray(_p64(a), (batch, m, n)), carray(_p64(u), ub), carray(_p64(s), (batch, k)),
                        carray(_p64(vt), vb), full, uv)

    @_entry(8)
    def _qr_entry(a, q, r, batch, m, n, cols, f32):
        if f32:
            _qr_kernel(carray(_p32(a), (batch, m, n)), carray(_p32(q), (batch, m, cols)),
                       carray(_p32(r), (batch, cols, n)))
        else:
            _qr_kernel(carray(_p64(a), (batch, m, n)), carray(_p64(q), (batch, m, cols)),
                       carray(_p64(r), (batch, cols, n)))

    _ENTRIES = {"cholesky": _cholesky_entry, "triangular_solve": _triangular_solve_entry,
                "triangular_matmul": _triangular_matmul_entry, "lu": _lu_entry, "eigh": _eigh_entry,
                "svd": _svd_entry, "qr": _qr_entry}
    _ext = {name: types.ExternalFunction(f"funcgrad_lapack_{name}", entry.c_signature)
            for name, entry in _ENTRIES.items()}
    _x_cholesky, _x_triangular_solve, _x_lu = _ext["cholesky"], _ext["triangular_solve"], _ext["lu"]
    _x_triangular_matmul = _ext["triangular_matmul"]
    _x_eigh, _x_svd, _x_qr = _ext["eigh"], _ext["svd"], _ext["qr"]

    # ------------------------------------------------------------------ what generated code calls
    @njit(cache=True)
    def _call_cholesky(a, out):
        """``out[q]`` = the lower Cholesky factor of ``a[q]``'s lower triangle."""
        _x_cholesky(a.ctypes.data, out.ctypes.data, a.shape[0], a.shape[1], a.itemsize == 4)

    @njit(cache=True)
    def _call_triangular_solve(a, b, out, lower, transpose_a, unit_diagonal):
        """``out[q] = op(T)^-1 b[q]``, ``T`` the lower/upper triangle of ``a[q]``."""
        flags = (1 if lower else 0) + (2 if transpose_a else 0) + (4 if unit_diagonal else 0)
        _x_triangular_solve(a.ctypes.data, b.ctypes.data, out.ctypes.data, b.shape[0], b.shape[1], b.shape[2],
                            flags, a.itemsize == 4)

    @njit(cache=True)
    def _call_triangular_matmul(a, b, out, lower, transpose_a):
        """``out[q] = op(T) b[q]``, ``T`` the lower/upper triangle of ``a[q]``."""
        flags = (1 if lower else 0) + (2 if transpose_a else 0)
        _x_triangular_matmul(a.ctypes.data, b.ctypes.data, out.ctypes.data, b.shape[0], b.shape[1], b.shape[2],
                             flags, a.itemsize == 4)

    @njit(cache=True)
    def _call_lu(a, out, pivots, perm):
        """getrf: ``out[q]`` the packed factors, ``pivots[q]`` the 0-based row
        interchanges, ``perm[q]`` the permutation they compose to (int32 or int64)."""
        if pivots.itemsize == 8:
            _x_lu(a.ctypes.data, out.ctypes.data, pivots.ctypes.data, perm.ctypes.data, a.shape[0], a.shape[1],
                  a.itemsize == 4)
        else:
            piv, per = np.empty(pivots.shape, np.int64), np.empty(perm.shape, np.int64)
            _x_lu(a.ctypes.data, out.ctypes.data, piv.ctypes.data, per.ctypes.data, a.shape[0], a.shape[1],
                  a.itemsize == 4)
            pivots[:, :] = piv
            perm[:, :] = per

    @njit(cache=True)
    def _call_eigh(a, w, v):
        """syevd on ``a[q]``'s lower triangle: eigenvalues ascending in
        ``w[q]``, eigenvectors as the columns of ``v[q]``."""
        _x_eigh(a.ctypes.data, w.ctypes.data, v.ctypes.data, a.shape[0], a.shape[1], a.itemsize == 4)

    @njit(cache=True)
    def _call_svd(a, u, s, vt, full_matrices, compute_uv):
        """gesdd: ``a[q] = u[q] diag(s[q]) vt[q]`` (``u``/``vt`` unused
        without ``compute_uv``)."""
        flags = (1 if full_matrices else 0) + (2 if compute_uv else 0)
        _x_svd(a.ctypes.data, u.ctypes.data, s.ctypes.data, vt.ctypes.data, a.shape[0], a.shape[1], a.shape[2],
               u.shape[2], vt.shape[1], flags, a.itemsize == 4)

    @njit(cache=True)
    def _call_qr(a, qo, r):
        """geqrf + orgqr: ``a[q] = qo[q] r[q]``; ``qo`` has ``K = min(M, N)``
        or ``M`` columns (``full_matrices``), ``r`` as many rows."""
        _x_qr(a.ctypes.data, qo.ctypes.data, r.ctypes.data, a.shape[0], a.shape[1], a.shape[2], qo.shape[2],
              a.itemsize == 4)

    _CALLS = {"cholesky": _call_cholesky, "triangular_solve": _call_triangular_solve,
              "triangular_matmul": _call_triangular_matmul, "lu": _call_lu, "eigh": _call_eigh, "svd": _call_svd,
              "qr": _call_qr}

else:   # pragma: no cover - the backends leave these primitives to the interpreter; the vm machine still
    #     names the helpers, which then refuse to run
    def _missing(*args):
        raise RuntimeError("funcgrad: NumPy's OpenBLAS has no LAPACKE; linear algebra runs on the interpreter")

    _missing = njit(_missing)
    _ENTRIES = {}
    _CALLS = {name: _missing for name in ("cholesky", "triangular_solve", "triangular_matmul", "lu", "eigh", "svd",
                                          "qr")}

_registered = set()
_register_lock = threading.Lock()


def __getattr__(name):
    """``lapack_<routine>``: the wrapper generated code calls, with its C entry
    point compiled (or loaded from Numba's cache) and registered first. Lazy,
    so that a program without linear algebra never compiles these, and done
    on import so that a program loaded from the disk cache finds the symbols
    its code calls."""
    routine = name[len("lapack_"):] if name.startswith("lapack_") else None
    if routine not in _CALLS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    with _register_lock:
        if routine in _ENTRIES and routine not in _registered:
            entry = _ENTRIES[routine]
            llvm.add_symbol(f"funcgrad_lapack_{routine}", cfunc(entry.c_signature, cache=True)(entry).address)
            _registered.add(routine)
    return _CALLS[routine]
