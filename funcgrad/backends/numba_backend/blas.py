"""Matrix multiplication for generated Numba code, through BLAS.

Numba's own ``np.dot`` needs SciPy, which funcgrad does not depend on.
NumPy's wheels ship OpenBLAS (``scipy_openblas64_``, 64-bit integers); its
``cblas_?gemm`` is called here through ctypes, which Numba compiles to a
direct call. Where that library is not found (NumPy built against another
BLAS), a plain-loop kernel is used instead: correct, slower.

The library's functions are registered with LLVM under funcgrad's own symbol
names and declared as Numba external functions: calls go by name, so code
that uses them can be cached on disk (a ctypes pointer would prevent it).

Threads
-------
OpenBLAS's own threading cuts a product into one equal part per thread, and
inside a product its threads wait for each other by spinning (with
``sched_yield``); after a product its idle threads spin ~0.1 s more before
they sleep. While other processes keep the cores busy, a product only
progresses while all its threads hold a core at once, and the spinning takes
cores from everyone: with two busy processes on two cores the MLP step's
products took 2-6x as long as JAX's whole step (benchmarks/bench_under_load.py;
JAX's Eigen pool hands out many small blocks, so a thread that loses its core
only delays its own block).

So for products of at least ``par_min`` (m*n*k) funcgrad can use a pool of
its own: the product is cut into chunks that depend only on the shapes (row
blocks of the result, column blocks, or blocks of the inner dimension whose
partial results are summed in chunk order), and the calling thread and the
pool's threads take chunks from a shared counter until none is left, each
chunk one single-threaded OpenBLAS call (OpenBLAS's thread count is set to 1
while any of funcgrad's calls runs and restored after). A pool thread waits
for work on a condition variable (it never spins); the caller sleeps the same
way for the chunks still running when it runs out of chunks. A thread that
loses its core only delays the chunk it holds. Results do not depend on how
many threads ran or which thread ran what.

The setting, ``FUNCGRAD_BLAS_THREADS`` (or ``funcgrad.config.blas_threads``,
read when this module is imported; ``set_threads`` changes it at run time):

- ``"auto"`` (default): as many threads as the cores this process may use,
  at most OpenBLAS's own thread count (so ``OPENBLAS_NUM_THREADS=1`` also
  makes funcgrad single-threaded), on the pool while other processes use
  these cores, on OpenBLAS's threads while they are free: a sampler thread
  reads /proc/stat and /proc/self/stat every 0.25 s (see ``_decide``). On
  free cores OpenBLAS's threads are as fast or faster, and they are also the
  ones NumPy's products in this process leave spinning. Without /proc (not
  Linux), the pool.
- an integer ``n``: ``n`` threads on the pool (the caller and ``n - 1`` pool
  threads); ``1``: every product one single-threaded OpenBLAS call;
- ``"openblas"``: OpenBLAS's own threads always (the behaviour before the
  pool).

The pool needs POSIX threads; without them (Windows) every setting behaves as
``"openblas"``.
"""
from __future__ import annotations

import ctypes
import glob
import os
import threading
import time

import llvmlite.binding as llvm
import numpy as np
from llvmlite import ir
from numba import carray, njit, types
from numba.extending import intrinsic

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
            for prefix, suffix, tprefix in (("scipy_cblas_", "64_", "scipy_openblas_"),
                                            ("cblas_", "64_", "openblas_")):
                s = getattr(lib, f"{prefix}sgemm{suffix}", None)
                d = getattr(lib, f"{prefix}dgemm{suffix}", None)
                if s is not None and d is not None:
                    get_n = getattr(lib, f"{tprefix}get_num_threads{suffix}", None)
                    set_n = getattr(lib, f"{tprefix}set_num_threads{suffix}", None)
                    return s, d, get_n, set_n, lib, prefix[:-len("cblas_")]
    return None


def _declare(symbol, fn, real):
    """Register ``fn`` under ``symbol`` and declare its cblas gemm signature
    (pointers are passed as 64-bit integers, which the x86-64 and AArch64 ABIs
    pass alike)."""
    llvm.add_symbol(symbol, ctypes.cast(fn, ctypes.c_void_p).value)
    i32, i64 = types.int32, types.int64
    return types.ExternalFunction(symbol, types.void(i32, i32, i32, i64, i64, i64, real, i64, i64,
                                                     i64, i64, real, i64, i64))


def _declare_fn(symbol, fn, sig):
    llvm.add_symbol(symbol, ctypes.cast(fn, ctypes.c_void_p).value)
    return types.ExternalFunction(symbol, sig)


_found = _find_openblas()
HAVE_BLAS = _found is not None


def openblas_symbol(name):
    """The ctypes function ``name`` (``LAPACKE_dpotrf``, ``cblas_dtrsm``) of
    the OpenBLAS found above, under its 64-bit-integer symbol name, or None."""
    if not HAVE_BLAS:
        return None
    lib, prefix = _found[4], _found[5]
    return getattr(lib, f"{prefix}{name}64_", None)


def _find_libc():
    if os.name != "posix":
        return None
    try:
        libc = ctypes.CDLL(None)
        names = ("malloc", "free", "pthread_mutex_init", "pthread_mutex_lock", "pthread_mutex_unlock",
                 "pthread_cond_init", "pthread_cond_wait", "pthread_cond_signal", "pthread_cond_broadcast")
        return {name: getattr(libc, name) for name in names}
    except (OSError, AttributeError):  # pragma: no cover - every POSIX libc has them
        return None


_libc = _find_libc() if HAVE_BLAS else None
# The pool needs libc's pthread functions and OpenBLAS's thread-count functions.
HAVE_POOL = _libc is not None and HAVE_BLAS and _found[2] is not None and _found[3] is not None

# ----------------------------------------------------------------------------- the pool's shared memory
# One block of 512 int64 words, registered with LLVM as a data symbol so that
# compiled (and disk-cached) code finds it by name in every process:
#   words 0..63: the setting, the state and the current job (indices below),
#   read and written under the mutex (the setting and the plan's parameters
#   are written from Python); bytes 1024, 1536, 2048: the mutex, the condition
#   the pool threads wait on for work, the one the caller waits on for the
#   last chunks (pthread objects are at most 64 bytes on Linux and macOS).
_POOL_SYMBOL = "funcgrad_blas_pool_block"
_POOL_WORDS = 512
MUTEX_OFF, WORK_COND_OFF, DONE_COND_OFF = 1024, 1536, 2048

SEQ, NEXT, NCHUNKS, DONE, BUSY, SHUTDOWN, NWORKERS, THREADS, ACTIVE, SAVED = range(10)
WORKER_CHUNKS, POOL_CALLS, TEST_CALLER_IDLE, CALLER_WAITS, SCRATCH_PTR, SCRATCH_BYTES = range(10, 16)
J_DTYPE, J_TA, J_TB, J_M, J_N, J_K, J_A, J_LDA, J_B, J_LDB, J_C, J_LDC, J_KIND, J_CHUNK, J_PART = range(16, 31)
AUTO_OPENBLAS = 31      # "auto" found the cores free: OpenBLAS's own threads for now

# How products are cut (``_plan``; words 40..47 of the block, so that tests and
# benchmarks can change them): below PAR_MIN = m*n*k, one call; above it,
# chunks of about CHUNK_WORK (at most MAX_CHUNKS), each at least MIN_ROWS rows /
# MIN_COLS columns / MIN_INNER of the inner dimension; the inner dimension is
# cut into at most MAX_K_CHUNKS, and only while the partial results stay under
# PART_MAX elements.
SINGLE, SPLIT_M, SPLIT_N, SPLIT_K = 0, 1, 2, 3
P_PAR_MIN, P_CHUNK_WORK, P_MAX_CHUNKS, P_MIN_ROWS, P_MIN_COLS, P_MIN_INNER, P_MAX_K_CHUNKS, P_PART_MAX = range(40, 48)
PLAN_DEFAULTS = {"par_min": 1 << 21, "chunk_work": 1 << 24, "max_chunks": 64, "min_rows": 64, "min_cols": 64,
                 "min_inner": 256, "max_k_chunks": 8, "part_max": 1 << 22}
_PLAN_WORDS = dict(zip(PLAN_DEFAULTS, range(40, 48)))

_block = np.zeros(_POOL_WORDS, np.int64)
_block_addr = _block.ctypes.data
_state = _block[:64]                # Python's view of words 0..63


@intrinsic
def _pool_state(typingctx):
    """Pointer to the pool block (an external global resolved by name)."""
    def codegen(context, builder, signature, args):
        mod = builder.module
        gv = mod.globals.get(_POOL_SYMBOL)
        if gv is None:
            gv = ir.GlobalVariable(mod, ir.ArrayType(ir.IntType(64), _POOL_WORDS), _POOL_SYMBOL)
            gv.linkage = "external"
        return builder.inttoptr(builder.ptrtoint(gv, ir.IntType(64)), ir.IntType(64).as_pointer())
    return types.CPointer(types.int64)(), codegen


def _typed_ptr(numba_type):
    @intrinsic
    def cast(typingctx, addr):
        sig = types.CPointer(numba_type)(types.int64)

        def codegen(context, builder, signature, args):
            return builder.inttoptr(args[0], context.get_value_type(numba_type).as_pointer())
        return sig, codegen
    return cast


_f32_ptr = _typed_ptr(types.float32)
_f64_ptr = _typed_ptr(types.float64)
_i64_ptr = _typed_ptr(types.int64)


def _threads_setting(value):
    """``"auto"``/``"openblas"``/an integer -> the thread count (0 = OpenBLAS's own)."""
    v = str(value).strip().lower()
    if v in ("", "auto"):
        try:
            cores = len(os.sched_getaffinity(0))
        except (AttributeError, OSError):  # pragma: no cover - macOS
            cores = os.cpu_count() or 1
        ob = int(_found[2]()) if HAVE_BLAS and _found[2] is not None else cores
        return max(1, min(cores, ob))
    if v == "openblas":
        return 0
    n = int(v)
    if n < 1:
        raise ValueError(f"blas threads must be 'auto', 'openblas' or a positive integer, not {value!r}")
    return n


if HAVE_BLAS:
    _sgemm = _declare("funcgrad_cblas_sgemm", _found[0], types.float32)
    _dgemm = _declare("funcgrad_cblas_dgemm", _found[1], types.float64)

if HAVE_POOL:
    llvm.add_symbol(_POOL_SYMBOL, _block_addr)
    _i32, _i64 = types.int32, types.int64
    _mutex_lock = _declare_fn("funcgrad_pthread_mutex_lock", _libc["pthread_mutex_lock"], _i32(_i64))
    _mutex_unlock = _declare_fn("funcgrad_pthread_mutex_unlock", _libc["pthread_mutex_unlock"], _i32(_i64))
    _cond_wait = _declare_fn("funcgrad_pthread_cond_wait", _libc["pthread_cond_wait"], _i32(_i64, _i64))
    _cond_signal = _declare_fn("funcgrad_pthread_cond_signal", _libc["pthread_cond_signal"], _i32(_i64))
    _cond_broadcast = _declare_fn("funcgrad_pthread_cond_broadcast", _libc["pthread_cond_broadcast"],
                                  _i32(_i64))
    _malloc = _declare_fn("funcgrad_malloc", _libc["malloc"], _i64(_i64))
    _free = _declare_fn("funcgrad_free", _libc["free"], types.void(_i64))
    _ob_get_threads = _declare_fn("funcgrad_openblas_get_num_threads", _found[2], _i32())
    _ob_set_threads = _declare_fn("funcgrad_openblas_set_num_threads", _found[3], types.void(_i32))

    def _init_sync():
        for off, init in ((MUTEX_OFF, "pthread_mutex_init"), (WORK_COND_OFF, "pthread_cond_init"),
                          (DONE_COND_OFF, "pthread_cond_init")):
            _libc[init](ctypes.c_void_p(_block_addr + off), None)

    _init_sync()

    # --------------------------------------------------------------------- compiled pieces

    @njit(cache=True)
    def _plan(m, n, k):
        """(kind, chunks, chunk size) for an m x k by k x n product; shapes only.

        Cutting the rows of the result makes every chunk pack the k x n operand again, cutting its
        columns the m x k one, so those cuts are taken while the cut dimension is at least a quarter
        of k; a long inner dimension is cut instead (the partial sums cost one pass over the result
        per chunk)."""
        S = carray(_pool_state(), (64,))
        work = m * n * k
        if work < S[P_PAR_MIN]:
            return SINGLE, 1, 0
        want = min(S[P_MAX_CHUNKS], max(2, work // S[P_CHUNK_WORK]))
        min_rows, min_cols, min_inner = S[P_MIN_ROWS], S[P_MIN_COLS], S[P_MIN_INNER]
        k_ok = k >= 2 * min_inner and m * n * (S[P_MAX_K_CHUNKS] - 1) <= S[P_PART_MAX]
        if m >= 2 * min_rows and m >= n and 4 * m >= k:
            kind, size, least = SPLIT_M, m, min_rows
        elif n >= 2 * min_cols and 4 * n >= k:
            kind, size, least = SPLIT_N, n, min_cols
        elif k_ok:
            kind, size, least = SPLIT_K, k, min_inner
            want = min(want, S[P_MAX_K_CHUNKS])
        elif m >= 2 * min_rows and m >= n:
            kind, size, least = SPLIT_M, m, min_rows
        elif n >= 2 * min_cols:
            kind, size, least = SPLIT_N, n, min_cols
        elif m >= 2 * min_rows:
            kind, size, least = SPLIT_M, m, min_rows
        else:
            return SINGLE, 1, 0
        count = min(want, size // least)
        if count < 2:
            return SINGLE, 1, 0
        # equal chunks, rounded up to a multiple of 16 (the kernels' blocking)
        chunk = min(size, ((size + count - 1) // count + 15) // 16 * 16)
        chunks = (size + chunk - 1) // chunk
        if chunks < 2:
            return SINGLE, 1, 0
        return kind, chunks, chunk

    @njit(cache=True)
    def _gemm_raw(dt, ta, tb, m, n, k, a, lda, b, ldb, beta, c, ldc):
        """One BLAS call on raw pointers (dt 0: float32, 1: float64)."""
        opa = TRANS if ta else NO_TRANS
        opb = TRANS if tb else NO_TRANS
        if dt == 0:
            _sgemm(ROW_MAJOR, opa, opb, m, n, k, np.float32(1.0), a, lda, b, ldb, np.float32(beta), c, ldc)
        else:
            _dgemm(ROW_MAJOR, opa, opb, m, n, k, 1.0, a, lda, b, ldb, np.float64(beta), c, ldc)

    @njit(cache=True)
    def _run_chunk(dt, ta, tb, m, n, k, a, lda, b, ldb, c, ldc, kind, chunk, part, i):
        it = 4 if dt == 0 else 8
        lo = i * chunk
        if kind == SPLIT_M:
            rows = min(m, lo + chunk) - lo
            ap = a + (lo if ta else lo * lda) * it
            _gemm_raw(dt, ta, tb, rows, n, k, ap, lda, b, ldb, 0.0, c + lo * ldc * it, ldc)
        elif kind == SPLIT_N:
            cols = min(n, lo + chunk) - lo
            bp = b + (lo * ldb if tb else lo) * it
            _gemm_raw(dt, ta, tb, m, cols, k, a, lda, bp, ldb, 0.0, c + lo * it, ldc)
        else:
            inner = min(k, lo + chunk) - lo
            ap = a + (lo * lda if ta else lo) * it
            bp = b + (lo if tb else lo * ldb) * it
            if i == 0:
                _gemm_raw(dt, ta, tb, m, n, inner, ap, lda, bp, ldb, 0.0, c, ldc)
            else:
                _gemm_raw(dt, ta, tb, m, n, inner, ap, lda, bp, ldb, 0.0, part + (i - 1) * m * n * it, n)

    @njit(cache=True)
    def _enter(S):
        """Under the mutex: the first of funcgrad's concurrent calls sets OpenBLAS to 1 thread."""
        if S[ACTIVE] == 0:
            S[SAVED] = _ob_get_threads()
            if S[SAVED] != 1:
                _ob_set_threads(1)
        S[ACTIVE] += 1

    @njit(cache=True)
    def _leave(S):
        """Under the mutex: the last one restores OpenBLAS's thread count."""
        S[ACTIVE] -= 1
        if S[ACTIVE] == 0 and S[SAVED] != 1:
            _ob_set_threads(np.int32(S[SAVED]))

    @njit(cache=True)
    def _add_partials(dt, c, part, count, size):
        """c[:size] += part[j * size:(j + 1) * size] for j = 0, 1, ... in that order."""
        if dt == 0:
            cf = carray(_f32_ptr(c), (size,))
            pf = carray(_f32_ptr(part), (count * size,))
            for j in range(count):
                o = j * size
                for i in range(size):
                    cf[i] += pf[o + i]
        else:
            cd = carray(_f64_ptr(c), (size,))
            pd = carray(_f64_ptr(part), (count * size,))
            for j in range(count):
                o = j * size
                for i in range(size):
                    cd[i] += pd[o + i]

    @njit(cache=True)
    def _gemm_chunked(dt, ta, tb, m, n, k, a, lda, b, ldb, c, ldc, kind, chunks, chunk):
        """The planned chunks, on this thread and the pool's (S[THREADS] > 1). The partial results of a
        split inner dimension go to the pool's scratch memory (kept between calls: no page faults),
        or, when another caller holds the pool, to memory of this call's own."""
        S = carray(_pool_state(), (64,))
        base = S.ctypes.data
        mutex = base + MUTEX_OFF
        it = 4 if dt == 0 else 8
        _mutex_lock(mutex)
        _enter(S)
        helpers = min(S[NWORKERS], S[THREADS] - 1)
        pooled = S[BUSY] == 0 and helpers > 0
        part = 0
        own_part = False
        if pooled:
            S[BUSY] = 1
            if kind == SPLIT_K:
                need = (chunks - 1) * m * n * it
                if S[SCRATCH_BYTES] < need:
                    if S[SCRATCH_PTR] != 0:
                        _free(S[SCRATCH_PTR])
                    S[SCRATCH_PTR] = _malloc(need)
                    S[SCRATCH_BYTES] = need if S[SCRATCH_PTR] != 0 else 0
                part = S[SCRATCH_PTR]
        _mutex_unlock(mutex)
        if kind == SPLIT_K and part == 0:
            part = _malloc((chunks - 1) * m * n * it)
            own_part = True
        if kind == SPLIT_K and part == 0:   # out of memory for the partial sums: one call
            _gemm_raw(dt, ta, tb, m, n, k, a, lda, b, ldb, 0.0, c, ldc)
        elif not pooled:
            # the pool serves another caller (or has no threads): the same chunks, here
            for i in range(chunks):
                _run_chunk(dt, ta, tb, m, n, k, a, lda, b, ldb, c, ldc, kind, chunk, part, i)
        else:
            _mutex_lock(mutex)
            S[POOL_CALLS] += 1
            S[J_DTYPE] = dt
            S[J_TA] = ta
            S[J_TB] = tb
            S[J_M] = m
            S[J_N] = n
            S[J_K] = k
            S[J_A] = a
            S[J_LDA] = lda
            S[J_B] = b
            S[J_LDB] = ldb
            S[J_C] = c
            S[J_LDC] = ldc
            S[J_KIND] = kind
            S[J_CHUNK] = chunk
            S[J_PART] = part
            S[NEXT] = 0
            S[DONE] = 0
            S[NCHUNKS] = chunks
            S[SEQ] += 1
            if chunks - 1 >= helpers:
                _cond_broadcast(base + WORK_COND_OFF)
            else:
                for _ in range(chunks - 1):
                    _cond_signal(base + WORK_COND_OFF)
            if S[TEST_CALLER_IDLE] == 0:
                while S[NEXT] < chunks:
                    i = S[NEXT]
                    S[NEXT] = i + 1
                    _mutex_unlock(mutex)
                    _run_chunk(dt, ta, tb, m, n, k, a, lda, b, ldb, c, ldc, kind, chunk, part, i)
                    _mutex_lock(mutex)
                    S[DONE] += 1
            if S[DONE] < chunks:
                S[CALLER_WAITS] += 1
            while S[DONE] < chunks:
                _cond_wait(base + DONE_COND_OFF, mutex)
            _mutex_unlock(mutex)
        if kind == SPLIT_K and part != 0:
            # the partial sums, in chunk order: the same result whoever ran which chunk
            _add_partials(dt, c, part, chunks - 1, m * n)
            if own_part:
                _free(part)
        _mutex_lock(mutex)
        if pooled:
            S[BUSY] = 0
        _leave(S)
        _mutex_unlock(mutex)

    @njit(nogil=True, cache=True)
    def _worker(index):
        """A pool thread: sleep until a job has chunks left, take them, repeat."""
        S = carray(_pool_state(), (64,))
        base = S.ctypes.data
        mutex = base + MUTEX_OFF
        _mutex_lock(mutex)
        S[NWORKERS] += 1
        while True:
            while S[SHUTDOWN] == 0 and not (S[BUSY] != 0 and S[NEXT] < S[NCHUNKS] and index < S[THREADS] - 1):
                _cond_wait(base + WORK_COND_OFF, mutex)
            if S[SHUTDOWN] != 0:
                break
            i = S[NEXT]
            S[NEXT] = i + 1
            dt, ta, tb = S[J_DTYPE], S[J_TA] != 0, S[J_TB] != 0
            m, n, k = S[J_M], S[J_N], S[J_K]
            a, lda, b, ldb, c, ldc = S[J_A], S[J_LDA], S[J_B], S[J_LDB], S[J_C], S[J_LDC]
            kind, chunk, part = S[J_KIND], S[J_CHUNK], S[J_PART]
            _mutex_unlock(mutex)
            _run_chunk(dt, ta, tb, m, n, k, a, lda, b, ldb, c, ldc, kind, chunk, part, i)
            _mutex_lock(mutex)
            S[WORKER_CHUNKS] += 1
            S[DONE] += 1
            if S[DONE] == S[NCHUNKS]:
                _cond_signal(base + DONE_COND_OFF)
        S[NWORKERS] -= 1
        _mutex_unlock(mutex)
        return 0

    @njit(cache=True)
    def _single_call(dt, ta, tb, m, n, k, a, lda, b, ldb, c, ldc):
        """One BLAS call with OpenBLAS held at 1 thread (S[THREADS] == 1, or a small product)."""
        S = carray(_pool_state(), (64,))
        mutex = S.ctypes.data + MUTEX_OFF
        _mutex_lock(mutex)
        _enter(S)
        _mutex_unlock(mutex)
        _gemm_raw(dt, ta, tb, m, n, k, a, lda, b, ldb, 0.0, c, ldc)
        _mutex_lock(mutex)
        _leave(S)
        _mutex_unlock(mutex)

    @njit(cache=True)
    def lapack_enter():
        """Before a LAPACK call: hold OpenBLAS at one thread where funcgrad's
        setting runs products on its own pool (the cores are busy, or a fixed
        thread count), as for one single-threaded product; returns whether it did."""
        S = carray(_pool_state(), (64,))
        if S[THREADS] == 0 or S[AUTO_OPENBLAS] != 0:
            return False
        mutex = S.ctypes.data + MUTEX_OFF
        _mutex_lock(mutex)
        _enter(S)
        _mutex_unlock(mutex)
        return True

    @njit(cache=True)
    def lapack_leave(entered):
        if entered:
            S = carray(_pool_state(), (64,))
            mutex = S.ctypes.data + MUTEX_OFF
            _mutex_lock(mutex)
            _leave(S)
            _mutex_unlock(mutex)

    @njit(cache=True)
    def probe_threads():
        """(OpenBLAS's thread count seen inside a funcgrad BLAS call, funcgrad's thread setting, live pool
        threads); for tests."""
        S = carray(_pool_state(), (64,))
        mutex = S.ctypes.data + MUTEX_OFF
        if S[THREADS] == 0 or S[AUTO_OPENBLAS] != 0:
            return _ob_get_threads(), 0, S[NWORKERS]
        _mutex_lock(mutex)
        _enter(S)
        _mutex_unlock(mutex)
        inside = _ob_get_threads()
        _mutex_lock(mutex)
        _leave(S)
        _mutex_unlock(mutex)
        return inside, S[THREADS], S[NWORKERS]

    @njit(cache=True)
    def _gemm(dt, ta, tb, a, b, c):
        m, n = c.shape
        k = a.shape[0] if ta else a.shape[1]
        lda, ldb, ldc = max(a.shape[1], 1), max(b.shape[1], 1), max(n, 1)
        ap, bp, cp = a.ctypes.data, b.ctypes.data, c.ctypes.data
        S = carray(_pool_state(), (64,))
        threads = S[THREADS]
        if threads == 0 or S[AUTO_OPENBLAS] != 0:     # OpenBLAS's own threads
            _gemm_raw(dt, ta, tb, m, n, k, ap, lda, bp, ldb, 0.0, cp, ldc)
            return
        kind, chunks, chunk = _plan(m, n, k)
        if threads == 1 or kind == SINGLE:
            _single_call(dt, ta, tb, m, n, k, ap, lda, bp, ldb, cp, ldc)
        else:
            _gemm_chunked(dt, ta, tb, m, n, k, ap, lda, bp, ldb, cp, ldc, kind, chunks, chunk)

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
        _gemm(0, ta, tb, a, b, c)

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
        _gemm(1, ta, tb, a, b, c)

else:  # pragma: no cover - no pool: OpenBLAS's own threads for LAPACK too
    @njit(cache=True)
    def lapack_enter():
        return False

    @njit(cache=True)
    def lapack_leave(entered):
        pass

if not HAVE_POOL and HAVE_BLAS:  # pragma: no cover - no POSIX threads (Windows): OpenBLAS's own threading
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


# ----------------------------------------------------------------------------- the setting, the pool's threads

_lock = threading.Lock()
_started = 0                 # pool threads started in this process


def _start_workers(n):
    """Make sure ``n`` pool threads exist (they never end; idle ones sleep)."""
    global _started
    with _lock:
        while _started < n:
            t = threading.Thread(target=_worker, args=(_started,), name=f"funcgrad-blas-{_started}", daemon=True)
            t.start()
            _started += 1


def set_plan(**params):
    """Change how products are cut (names and defaults: ``PLAN_DEFAULTS``); no arguments: the defaults.
    Returns the previous values. For tests and benchmarks."""
    old = {name: int(_state[w]) for name, w in _PLAN_WORDS.items()}
    for name, value in (params or PLAN_DEFAULTS).items():
        _state[_PLAN_WORDS[name]] = int(value)
    return old


def plan(m, n, k):
    """How an (m, k) @ (k, n) product is cut: (kind, chunks, chunk size), kind one of SINGLE, SPLIT_M,
    SPLIT_N, SPLIT_K."""
    return tuple(int(v) for v in _plan(m, n, k)) if HAVE_POOL else (SINGLE, 1, 0)


def set_threads(value="auto"):
    """Set the BLAS thread setting (``"auto"``, ``"openblas"`` or an integer) for this process."""
    global _auto
    n = _threads_setting(value)
    if not HAVE_POOL:
        return
    if n > 1:
        _start_workers(n - 1)
    with _lock:
        _auto = str(value).strip().lower() in ("", "auto") and n > 1 and _CPUS is not None
        _state[AUTO_OPENBLAS] = 1 if _auto and _auto_choice else 0
        _state[THREADS] = n
    if _auto:
        _start_sampler()


# ----------------------------------------------------------------------------- "auto": are the cores free?
# OpenBLAS's own threads are as fast as the pool or faster while this
# process has the cores to itself, and its threads are the ones NumPy's
# products in this process keep spinning (a product of the pool's would run
# beside them). So "auto" measures, every SAMPLE_S, how much of this
# process's cores other processes used (/proc/stat minus /proc/self/stat, in
# cores), and uses OpenBLAS's threads while that stays under LOAD_CALM for
# two samples in a row, the pool from the first sample at LOAD_BUSY or more.
SAMPLE_S, LOAD_BUSY, LOAD_CALM = 0.25, 0.5, 0.25
_auto = False               # the setting is "auto" (and the load can be measured)
_auto_choice = False        # the last decision: OpenBLAS's threads (the cores are free)
_sampler_started = False
_last_others = None

try:
    _CPUS = frozenset(os.sched_getaffinity(0)) if os.path.exists("/proc/stat") else None
except (AttributeError, OSError):  # pragma: no cover - not Linux
    _CPUS = None


def _cpu_ticks():
    """(busy ticks, all ticks) over this process's CPUs, and this process's own CPU ticks."""
    busy = total = 0
    with open("/proc/stat", "rb") as f:
        for line in f:
            if not line.startswith(b"cpu"):
                break
            parts = line.split()
            if parts[0] == b"cpu" or int(parts[0][3:]) not in _CPUS:
                continue
            vals = [int(v) for v in parts[1:9]]   # user nice system idle iowait irq softirq steal
            total += sum(vals)
            busy += sum(vals) - vals[3] - vals[4]
    with open("/proc/self/stat", "rb") as f:
        stat = f.read()
    fields = stat[stat.rindex(b")") + 2:].split()
    return busy, total, int(fields[11]) + int(fields[12])


def _decide(others, use_openblas, calm):
    """One sample's decision: (use OpenBLAS's threads, calm samples in a row), from the cores others used."""
    if others >= LOAD_BUSY:
        return False, 0
    if others < LOAD_CALM:
        calm += 1
        return (True if calm >= 2 else use_openblas), calm
    return use_openblas, calm


def _sample_load():
    global _last_others, _auto_choice
    calm, prev = 0, None
    while True:
        time.sleep(SAMPLE_S)
        try:
            cur = _cpu_ticks()
        except (OSError, ValueError, IndexError):  # pragma: no cover - an unusual /proc
            with _lock:
                _auto_choice = False
                _state[AUTO_OPENBLAS] = 0
            return
        if prev is not None and cur[1] > prev[1]:
            elapsed = (cur[1] - prev[1]) / len(_CPUS)       # ticks per CPU
            others = max(0, (cur[0] - prev[0]) - (cur[2] - prev[2])) / elapsed
            _last_others = others
            with _lock:
                _auto_choice, calm = _decide(others, _auto_choice, calm)
                if _auto:
                    _state[AUTO_OPENBLAS] = 1 if _auto_choice else 0
        prev = cur


def _start_sampler():
    global _sampler_started
    with _lock:
        if not _sampler_started:
            threading.Thread(target=_sample_load, name="funcgrad-blas-load", daemon=True).start()
            _sampler_started = True


def threads() -> int:
    """The current thread count (0: OpenBLAS's own threading)."""
    return int(_state[THREADS]) if HAVE_POOL else 0


def stats() -> dict:
    """For tests and benchmarks: pool threads alive, calls that used the pool, chunks run by pool
    threads, calls whose caller waited for a pool thread's last chunk; whether "auto" uses OpenBLAS's
    threads now / would, and the cores other processes used in the last load sample (None before one)."""
    return {"workers": int(_state[NWORKERS]), "pool_calls": int(_state[POOL_CALLS]),
            "worker_chunks": int(_state[WORKER_CHUNKS]), "caller_waits": int(_state[CALLER_WAITS]),
            "auto_uses_openblas": bool(_state[AUTO_OPENBLAS]), "auto_choice_openblas": _auto_choice,
            "others_cores": _last_others}


def _initial_setting():
    try:
        from ... import config
        value = getattr(config, "blas_threads", None)
    except ImportError:  # pragma: no cover
        value = None
    return value if value is not None else os.environ.get("FUNCGRAD_BLAS_THREADS", "auto")


def _after_fork_in_child():
    global _lock, _started, _sampler_started, _auto_choice
    _lock = threading.Lock()      # another thread may have held it at the fork
    _init_sync()
    for i in (BUSY, NWORKERS, NEXT, NCHUNKS, DONE):   # (the scratch memory was copied with the process)
        _state[i] = 0
    if _state[ACTIVE] != 0 and _state[SAVED] != 1:   # forked while a call held OpenBLAS at 1 thread
        _found[3](int(_state[SAVED]))
    _state[ACTIVE] = 0
    _state[AUTO_OPENBLAS] = 0
    _auto_choice = False
    _started = 0
    _sampler_started = False
    if _state[THREADS] > 1:
        _start_workers(int(_state[THREADS]) - 1)
    if _auto:
        _start_sampler()


if HAVE_POOL:
    set_plan()
    set_threads(_initial_setting())
    os.register_at_fork(after_in_child=_after_fork_in_child)
