"""The machine: one Numba-compiled function that runs any encoded program.

It is compiled once per machine (and kept in Numba's disk cache), not once
per program: a program reaches it as data (``encode.py``), so a new program
runs at once, at the speed of compiled loops with one dispatch per
operation.

State is two flat heaps, ``F`` (float64) and ``I`` (int64). Every value of
the program is a contiguous run of one heap in C order: floats of any width
live in ``F`` (float32 results are rounded to float32 as they are stored,
which for +, -, *, / and sqrt gives exactly float32 arithmetic), integers
and booleans in ``I`` (narrow integers wrapped to their width as they are
stored). Instructions are rows of ``code``::

    op, sub, d, a, b, c, n, flags, x, y

``d`` is where the result goes, ``a b c`` the operands, ``n`` the element
count, ``sub`` the operation within the family ``op``, ``x`` an offset into
``aux`` (shapes and strides) or a jump target. ``flags``: bits 0-2 mark the
operands ``a b c`` as one element broadcast over ``n``; bit 3 rounds float
results to float32; bits 4-7 name the integer width to wrap to (``WRAP_*``).
Jumps make loops and branches: control flow runs inside the machine.
"""
from __future__ import annotations

import numpy as np
from numba import njit

# absolute imports: the backend executes this file's text as a module of its
# disk cache (funcgrad.backends.vm.load_machine), named by a hash of the text
# and of the helpers' files, so Numba's cache of it can never be stale
from funcgrad.backends.numba_backend.blas import gemm_f32, gemm_f64, gemm_loops
from funcgrad.backends.numba_backend.lapack import (lapack_cholesky, lapack_eigh, lapack_lu, lapack_qr,
                                                    lapack_svd, lapack_triangular_matmul,
                                                    lapack_triangular_solve)
from funcgrad.backends.numba_backend.scalar import (argsort_stable, floordiv_float, floordiv_int, fmax, fmin,
                                                    logistic, remainder_float, remainder_int, sign,
                                                    threefry2x32)

from funcgrad.backends.vm.opcodes import *  # noqa: F401,F403  (the instruction set)


# ----------------------------------------------------------------------------- stores

@njit(cache=True)
def _round32(F, d, n):
    for i in range(n):
        F[d + i] = np.float32(F[d + i])


@njit(cache=True)
def _wrap(I, d, n, w):
    if w == WRAP_NONE:
        return
    if w == WRAP_BOOL:
        for i in range(n):
            I[d + i] = 1 if I[d + i] != 0 else 0
        return
    bits = 8 if w <= WRAP_U8 else (16 if w <= WRAP_U16 else 32)
    mask = (1 << bits) - 1
    signed = w == WRAP_I8 or w == WRAP_I16 or w == WRAP_I32
    half = 1 << (bits - 1)
    for i in range(n):
        v = I[d + i] & mask
        if signed and v >= half:
            v -= 1 << bits
        I[d + i] = v


@njit(cache=True)
def _finish_f(F, d, n, flags):
    if flags & ROUND32:
        _round32(F, d, n)


@njit(cache=True)
def _finish_i(I, d, n, flags):
    w = (flags >> WRAP_SHIFT) & 15
    if w != WRAP_NONE:
        _wrap(I, d, n, w)


# ----------------------------------------------------------------------------- elementwise

# _unary_f and _binary_f, the float elementwise operations, are generated
# from the table in kernels.py and appended to this text when the machine is
# loaded (funcgrad.backends.vm._machine_source): one loop per operation and
# operand layout, so that LLVM vectorizes the contiguous ones.


@njit(cache=True)
def _unary_i(sub, I, d, a, n, flags):
    sa = 0 if flags & S_A else 1
    if sub == U_NEG:
        for i in range(n):
            I[d + i] = -I[a + i * sa]
    elif sub == U_ABS:
        for i in range(n):
            I[d + i] = abs(I[a + i * sa])
    elif sub == U_SIGN:
        for i in range(n):
            v = I[a + i * sa]
            I[d + i] = 1 if v > 0 else (-1 if v < 0 else 0)
    elif sub == U_NOT_BOOL:
        for i in range(n):
            I[d + i] = 1 - I[a + i * sa]
    elif sub == U_NOT_INT:
        for i in range(n):
            I[d + i] = ~I[a + i * sa]
    _finish_i(I, d, n, flags)


@njit(cache=True)
def _binary_u64(sub, I, d, a, b, n, sa, sb):
    """The uint64 operations whose result depends on reading the bits as unsigned."""
    for i in range(n):
        x = np.uint64(I[a + i * sa])
        y = np.uint64(I[b + i * sb])
        if sub == B_MAX:
            r = x if x >= y else y
        elif sub == B_MIN:
            r = x if x <= y else y
        elif sub == B_REM:
            r = x % y if y != 0 else np.uint64(0)
        elif sub == B_FLOORDIV:
            r = x // y if y != 0 else np.uint64(0)
        else:   # B_SHR
            r = x >> y if y < 64 else np.uint64(0)
        I[d + i] = np.int64(r)


@njit(cache=True)
def _binary_i(sub, I, d, a, b, n, flags, bits):
    sa = 0 if flags & S_A else 1
    sb = 0 if flags & S_B else 1
    if flags & UNSIGNED64 and (sub == B_MAX or sub == B_MIN or sub == B_REM or sub == B_FLOORDIV
                               or sub == B_SHR):
        _binary_u64(sub, I, d, a, b, n, sa, sb)
        return
    if sub == B_ADD:
        for i in range(n):
            I[d + i] = I[a + i * sa] + I[b + i * sb]
    elif sub == B_MUL:
        for i in range(n):
            I[d + i] = I[a + i * sa] * I[b + i * sb]
    elif sub == B_SUB:
        for i in range(n):
            I[d + i] = I[a + i * sa] - I[b + i * sb]
    elif sub == B_MAX:
        for i in range(n):
            I[d + i] = max(I[a + i * sa], I[b + i * sb])
    elif sub == B_MIN:
        for i in range(n):
            I[d + i] = min(I[a + i * sa], I[b + i * sb])
    elif sub == B_REM:
        for i in range(n):
            I[d + i] = remainder_int(I[a + i * sa], I[b + i * sb])
    elif sub == B_FLOORDIV:
        for i in range(n):
            I[d + i] = floordiv_int(I[a + i * sa], I[b + i * sb])
    elif sub == B_AND:
        for i in range(n):
            I[d + i] = I[a + i * sa] & I[b + i * sb]
    elif sub == B_OR:
        for i in range(n):
            I[d + i] = I[a + i * sa] | I[b + i * sb]
    elif sub == B_XOR:
        for i in range(n):
            I[d + i] = I[a + i * sa] ^ I[b + i * sb]
    elif sub == B_SHL:
        for i in range(n):
            s = I[b + i * sb]
            I[d + i] = (I[a + i * sa] << s) if 0 <= s < bits else 0
    elif sub == B_SHR:   # logical: unsigned values are held non-negative
        for i in range(n):
            s = I[b + i * sb]
            I[d + i] = (I[a + i * sa] >> s) if 0 <= s < bits else 0
    _finish_i(I, d, n, flags)


@njit(cache=True)
def _compare(sub, H, I, d, a, b, n, flags):
    sa = 0 if flags & S_A else 1
    sb = 0 if flags & S_B else 1
    out = I[d:d + n]
    xs = H[a:a + (n if sa else 1)]
    ys = H[b:b + (n if sb else 1)]
    if sub == C_LT:
        for i in range(n):
            out[i] = xs[i * sa] < ys[i * sb]
    elif sub == C_LE:
        for i in range(n):
            out[i] = xs[i * sa] <= ys[i * sb]
    elif sub == C_GT:
        for i in range(n):
            out[i] = xs[i * sa] > ys[i * sb]
    elif sub == C_GE:
        for i in range(n):
            out[i] = xs[i * sa] >= ys[i * sb]
    elif sub == C_EQ:
        for i in range(n):
            out[i] = xs[i * sa] == ys[i * sb]
    else:
        for i in range(n):
            out[i] = xs[i * sa] != ys[i * sb]


@njit(cache=True)
def _compare_u64(sub, I, d, a, b, n, flags):
    """Unsigned order of int64 bits: flip the sign bit, compare signed."""
    sa = 0 if flags & S_A else 1
    sb = 0 if flags & S_B else 1
    for i in range(n):
        x = I[a + i * sa] ^ SIGN_BIT
        y = I[b + i * sb] ^ SIGN_BIT
        if sub == C_LT:
            r = x < y
        elif sub == C_LE:
            r = x <= y
        elif sub == C_GT:
            r = x > y
        elif sub == C_GE:
            r = x >= y
        elif sub == C_EQ:
            r = x == y
        else:
            r = x != y
        I[d + i] = r


@njit(cache=True)
def _select(H, I, d, p, a, b, n, flags):
    sp = 0 if flags & S_A else 1
    sa = 0 if flags & S_B else 1
    sb = 0 if flags & S_C else 1
    out = H[d:d + n]
    if sp == 1 and sa == 1 and sb == 1:
        ps, xs, ys = I[p:p + n], H[a:a + n], H[b:b + n]
        for i in range(n):
            out[i] = xs[i] if ps[i] != 0 else ys[i]
        return
    for i in range(n):
        out[i] = H[a + i * sa] if I[p + i * sp] != 0 else H[b + i * sb]


@njit(cache=True)
def _convert(sub, F, I, d, a, n, flags):
    sa = 0 if flags & S_A else 1
    if sub == CV_FF:
        for i in range(n):
            F[d + i] = F[a + i * sa]
        _finish_f(F, d, n, flags)
    elif sub == CV_IF:
        if flags & UNSIGNED64:
            for i in range(n):
                F[d + i] = np.float64(np.uint64(I[a + i * sa]))
        else:
            for i in range(n):
                F[d + i] = I[a + i * sa]
        _finish_f(F, d, n, flags)
    elif sub == CV_FI:
        if (flags >> WRAP_SHIFT) & 15 == WRAP_BOOL:
            for i in range(n):
                I[d + i] = 1 if F[a + i * sa] != 0 else 0
        elif flags & UNSIGNED64:
            for i in range(n):
                v = F[a + i * sa]
                I[d + i] = np.int64(np.uint64(v)) if v == v and 0 <= v < 1.8e19 else SIGN_BIT
        else:
            for i in range(n):
                v = F[a + i * sa]
                I[d + i] = np.int64(v) if v == v and abs(v) < 9.2e18 else SIGN_BIT
            _finish_i(I, d, n, flags)
    else:
        for i in range(n):
            I[d + i] = I[a + i * sa]
        _finish_i(I, d, n, flags)


@njit(cache=True)
def _finite(F, I, d, a, n, flags):
    sa = 0 if flags & S_A else 1
    for i in range(n):
        v = F[a + i * sa]
        I[d + i] = 1 if (v == v and v - v == 0) else 0


@njit(cache=True)
def _power(base, k):
    """base ** k for an integer k >= 0, by squaring (floats or wrapping int64)."""
    acc = 1
    while k > 0:
        if k & 1:
            acc *= base
        base *= base
        k >>= 1
    return acc


@njit(cache=True)
def _ipow_f(F, d, a, n, e, flags):
    sa = 0 if flags & S_A else 1
    for i in range(n):
        v = _power(F[a + i * sa], -e if e < 0 else e)
        F[d + i] = 1.0 / v if e < 0 else v
    _finish_f(F, d, n, flags)


@njit(cache=True)
def _ipow_i(I, d, a, n, e, flags):
    sa = 0 if flags & S_A else 1
    for i in range(n):
        I[d + i] = _power(I[a + i * sa], e)
    _finish_i(I, d, n, flags)


# ----------------------------------------------------------------------------- structure

@njit(cache=True)
def _move(H, mode, d, s, aux, x):
    """Strided copy (or add): ``aux[x]`` is the rank r, then the shape, the
    destination strides and the source strides (r each)."""
    r = aux[x]
    if r == 1:
        n0, ds0, ss0 = aux[x + 1], aux[x + 2], aux[x + 3]
        if mode == M_SET:
            for i in range(n0):
                H[d + i * ds0] = H[s + i * ss0]
        else:
            for i in range(n0):
                H[d + i * ds0] += H[s + i * ss0]
        return
    if r == 2:
        n0, n1 = aux[x + 1], aux[x + 2]
        ds0, ds1, ss0, ss1 = aux[x + 3], aux[x + 4], aux[x + 5], aux[x + 6]
        if ds1 == 1 and (ss1 == 1 or ss1 == 0) and ds0 >= 0 and ss0 >= 0:
            # rows: a contiguous copy (or add), or one value broadcast along them
            for i in range(n0):
                out = H[d + i * ds0:d + i * ds0 + n1]
                src = H[s + i * ss0:s + i * ss0 + (n1 if ss1 else 1)]
                if mode == M_SET:
                    for j in range(n1):
                        out[j] = src[j * ss1]
                else:
                    for j in range(n1):
                        out[j] += src[j * ss1]
            return
        for i in range(n0):
            dd, sd = d + i * ds0, s + i * ss0
            if mode == M_SET:
                for j in range(n1):
                    H[dd + j * ds1] = H[sd + j * ss1]
            else:
                for j in range(n1):
                    H[dd + j * ds1] += H[sd + j * ss1]
        return
    if r == 3:
        n0, n1, n2 = aux[x + 1], aux[x + 2], aux[x + 3]
        ds0, ds1, ds2 = aux[x + 4], aux[x + 5], aux[x + 6]
        ss0, ss1, ss2 = aux[x + 7], aux[x + 8], aux[x + 9]
        for i in range(n0):
            for j in range(n1):
                dd, sd = d + i * ds0 + j * ds1, s + i * ss0 + j * ss1
                if mode == M_SET:
                    for k in range(n2):
                        H[dd + k * ds2] = H[sd + k * ss2]
                else:
                    for k in range(n2):
                        H[dd + k * ds2] += H[sd + k * ss2]
        return
    total = 1
    for k in range(r):
        total *= aux[x + 1 + k]
    if total == 0:
        return
    idx = np.zeros(r, np.int64)
    dd, sd = d, s
    for _ in range(total):
        if mode == M_SET:
            H[dd] = H[sd]
        else:
            H[dd] += H[sd]
        k = r - 1
        while k >= 0:
            idx[k] += 1
            dd += aux[x + 1 + r + k]
            sd += aux[x + 1 + 2 * r + k]
            if idx[k] < aux[x + 1 + k]:
                break
            dd -= idx[k] * aux[x + 1 + r + k]
            sd -= idx[k] * aux[x + 1 + 2 * r + k]
            idx[k] = 0
            k -= 1


@njit(cache=True)
def _strided_offset(aux, x, r, flat, strides_at):
    """The offset of C-order element ``flat`` of the shape ``aux[x+1:x+1+r]``
    under the strides at ``aux[strides_at:]``."""
    off = 0
    for k in range(r - 1, -1, -1):
        extent = aux[x + 1 + k]
        off += (flat % extent) * aux[strides_at + k]
        flat //= extent
    return off


@njit(cache=True)
def _reduce(sub, H, d, s, aux, x):
    """``aux[x]``: kept rank rk, kept shape, kept source strides, reduced rank
    rr, reduced shape, reduced source strides. The result is C-contiguous
    over the kept axes."""
    rk = aux[x]
    kept = 1
    for k in range(rk):
        kept *= aux[x + 1 + k]
    y = x + 1 + 2 * rk
    rr = aux[y]
    red = 1
    for k in range(rr):
        red *= aux[y + 1 + k]
    if rk == 1 and aux[x + 2] == 1 and rr == 1 and red > 0:
        # leading axes reduced, the kept ones contiguous (a bias gradient): add
        # whole rows into the result, one vectorizable pass per row
        out = H[d:d + kept]
        step = aux[y + 2]
        first = H[s:s + kept]
        for o in range(kept):
            out[o] = 0 if sub == R_SUM else (1 if sub == R_PROD else first[o])
        for j in range(red):
            row = H[s + j * step:s + j * step + kept]
            if sub == R_SUM:
                for o in range(kept):
                    out[o] += row[o]
            elif sub == R_PROD:
                for o in range(kept):
                    out[o] *= row[o]
            elif sub == R_MAX:
                for o in range(kept):
                    out[o] = fmax(out[o], row[o])
            else:
                for o in range(kept):
                    out[o] = fmin(out[o], row[o])
        return
    # one contiguous reduced run: the common case (sum over everything, over the last axis)
    contiguous = rr == 1 and aux[y + 2] == 1
    for o in range(kept):
        base = s + _strided_offset(aux, x, rk, o, x + 1 + rk)
        if sub == R_SUM:
            acc = 0
        elif sub == R_PROD:
            acc = 1
        else:
            acc = H[base]
        run = H[base:base + (red if contiguous else 1)]
        for j in range(red):
            v = run[j] if contiguous else H[base + _strided_offset(aux, y, rr, j, y + 1 + rr)]
            if sub == R_SUM:
                acc += v
            elif sub == R_PROD:
                acc *= v
            elif sub == R_MAX:
                acc = fmax(acc, v)
            else:
                acc = fmin(acc, v)
        H[d + o] = acc


@njit(cache=True)
def _argreduce(sub, H, I, d, s, outer, m, inner):
    for o in range(outer):
        for i in range(inner):
            base = s + o * m * inner + i
            best = H[base]
            at = 0
            if best == best:
                for j in range(1, m):
                    v = H[base + j * inner]
                    if v != v:        # NaN wins, at its first position (as NumPy)
                        at = j
                        break
                    if (v > best) if sub == AR_MAX else (v < best):
                        best = v
                        at = j
            I[d + o * inner + i] = at


@njit(cache=True)
def _take(H, I, d, s, ix, aux, x):
    outer, m, k, inner = aux[x], aux[x + 1], aux[x + 2], aux[x + 3]
    for o in range(outer):
        for j in range(k):
            t = I[ix + j]
            t = 0 if t < 0 else (m - 1 if t >= m else t)   # out of range: clamped (XLA's gather)
            src = s + (o * m + t) * inner
            dst = d + (o * k + j) * inner
            for i in range(inner):
                H[dst + i] = H[src + i]


@njit(cache=True)
def _scatter_add(H, I, d, ix, u, aux, x):
    outer, m, k, inner = aux[x], aux[x + 1], aux[x + 2], aux[x + 3]
    for o in range(outer):
        for j in range(k):
            t = I[ix + j]
            if t < 0 or t >= m:      # out of range: dropped (XLA's scatter)
                continue
            dst = d + (o * m + t) * inner
            src = u + (o * k + j) * inner
            for i in range(inner):
                H[dst + i] += H[src + i]


@njit(cache=True)
def _iota(H, d, outer, m, inner):
    for o in range(outer):
        for j in range(m):
            for i in range(inner):
                H[d + (o * m + j) * inner + i] = j


@njit(cache=True)
def _matmul_f(F, d, a, b, aux, x, flags):
    batch, m, n, k, ta, tb = aux[x], aux[x + 1], aux[x + 2], aux[x + 3], aux[x + 4], aux[x + 5]
    if flags & ROUND32:
        # float32 operands hold float32 values exactly: multiply them as float32
        # (sgemm, twice dgemm's speed; the same products as the other backends)
        A32 = np.empty(m * k, np.float32)
        B32 = np.empty(k * n, np.float32)
        C32 = np.empty(m * n, np.float32)
        for q in range(batch):
            src_a = F[a + q * m * k:a + (q + 1) * m * k]
            src_b = F[b + q * k * n:b + (q + 1) * k * n]
            for i in range(m * k):
                A32[i] = src_a[i]
            for i in range(k * n):
                B32[i] = src_b[i]
            gemm_f32(ta != 0, tb != 0, A32.reshape((k, m) if ta else (m, k)),
                     B32.reshape((n, k) if tb else (k, n)), C32.reshape((m, n)))
            out = F[d + q * m * n:d + (q + 1) * m * n]
            for i in range(m * n):
                out[i] = C32[i]
        return
    for q in range(batch):
        A = F[a + q * m * k:a + (q + 1) * m * k].reshape((k, m) if ta else (m, k))
        Bm = F[b + q * k * n:b + (q + 1) * k * n].reshape((n, k) if tb else (k, n))
        Cm = F[d + q * m * n:d + (q + 1) * m * n].reshape((m, n))
        gemm_f64(ta != 0, tb != 0, A, Bm, Cm)
    _finish_f(F, d, batch * m * n, flags)


@njit(cache=True)
def _stack(H, off, batch, m, n):
    return H[off:off + batch * m * n].reshape((batch, m, n))


@njit(cache=True)
def _linalg(F, I, sub, aux, x, flags):
    """LAPACK on float64 stacks of the heap (float32 values are computed in
    float64 and rounded as they are stored). ``aux[x:]``: the batch, the
    matrix sizes, then the operands' and results' offsets (by ``sub``)."""
    batch = aux[x]
    if sub == L_CHOLESKY:
        n, a, d = aux[x + 1], aux[x + 2], aux[x + 3]
        lapack_cholesky(_stack(F, a, batch, n, n), _stack(F, d, batch, n, n))
        _finish_f(F, d, batch * n * n, flags)
    elif sub == L_TRSM:
        n, k, a, b, d = aux[x + 1], aux[x + 2], aux[x + 3], aux[x + 4], aux[x + 5]
        lapack_triangular_solve(_stack(F, a, batch, n, n), _stack(F, b, batch, n, k), _stack(F, d, batch, n, k),
                                aux[x + 6] != 0, aux[x + 7] != 0, aux[x + 8] != 0)
        _finish_f(F, d, batch * n * k, flags)
    elif sub == L_TRMM:
        n, k, a, b, d = aux[x + 1], aux[x + 2], aux[x + 3], aux[x + 4], aux[x + 5]
        lapack_triangular_matmul(_stack(F, a, batch, n, n), _stack(F, b, batch, n, k), _stack(F, d, batch, n, k),
                                 aux[x + 6] != 0, aux[x + 7] != 0)
        _finish_f(F, d, batch * n * k, flags)
    elif sub == L_LU:
        n, a, d, piv, perm = aux[x + 1], aux[x + 2], aux[x + 3], aux[x + 4], aux[x + 5]
        lapack_lu(_stack(F, a, batch, n, n), _stack(F, d, batch, n, n),
                  I[piv:piv + batch * n].reshape((batch, n)), I[perm:perm + batch * n].reshape((batch, n)))
        _finish_f(F, d, batch * n * n, flags)
    elif sub == L_EIGH:
        n, a, w, v = aux[x + 1], aux[x + 2], aux[x + 3], aux[x + 4]
        lapack_eigh(_stack(F, a, batch, n, n), F[w:w + batch * n].reshape((batch, n)), _stack(F, v, batch, n, n))
        _finish_f(F, w, batch * n, flags)
        _finish_f(F, v, batch * n * n, flags)
    elif sub == L_SVD:
        m, n, ucols, vrows, a = aux[x + 1], aux[x + 2], aux[x + 3], aux[x + 4], aux[x + 5]
        u, s, vt, full, uv = aux[x + 6], aux[x + 7], aux[x + 8], aux[x + 9] != 0, aux[x + 10] != 0
        k = min(m, n)
        if uv:
            U, VT = _stack(F, u, batch, m, ucols), _stack(F, vt, batch, vrows, n)
        else:
            U, VT = np.empty((1, 1, 1)), np.empty((1, 1, 1))
        lapack_svd(_stack(F, a, batch, m, n), U, F[s:s + batch * k].reshape((batch, k)), VT, full, uv)
        _finish_f(F, s, batch * k, flags)
        if uv:
            _finish_f(F, u, batch * m * ucols, flags)
            _finish_f(F, vt, batch * vrows * n, flags)
    else:   # L_QR
        m, n, cols, a, q, r = aux[x + 1], aux[x + 2], aux[x + 3], aux[x + 4], aux[x + 5], aux[x + 6]
        lapack_qr(_stack(F, a, batch, m, n), _stack(F, q, batch, m, cols), _stack(F, r, batch, cols, n))
        _finish_f(F, q, batch * m * cols, flags)
        _finish_f(F, r, batch * cols * n, flags)


@njit(cache=True)
def _matmul_i(I, d, a, b, aux, x, flags):
    batch, m, n, k, ta, tb = aux[x], aux[x + 1], aux[x + 2], aux[x + 3], aux[x + 4], aux[x + 5]
    for q in range(batch):
        A = I[a + q * m * k:a + (q + 1) * m * k].reshape((k, m) if ta else (m, k))
        Bm = I[b + q * k * n:b + (q + 1) * k * n].reshape((n, k) if tb else (k, n))
        Cm = I[d + q * m * n:d + (q + 1) * m * n].reshape((m, n))
        gemm_loops(ta != 0, tb != 0, A, Bm, Cm)
    _finish_i(I, d, batch * m * n, flags)


@njit(cache=True)
def _threefry(I, d0, d1, aux, x, n):
    k0, k1, x0, x1 = aux[x], aux[x + 1], aux[x + 2], aux[x + 3]
    s0, s1, s2, s3 = aux[x + 4], aux[x + 5], aux[x + 6], aux[x + 7]
    for i in range(n):
        y0, y1 = threefry2x32(I[k0 + i * s0], I[k1 + i * s1], I[x0 + i * s2], I[x1 + i * s3])
        I[d0 + i] = np.int64(y0)
        I[d1 + i] = np.int64(y1)


@njit(cache=True)
def _argsort(H, I, d, s, rows, m):
    for r in range(rows):
        argsort_stable(H[s + r * m:s + (r + 1) * m], I[d + r * m:d + (r + 1) * m])


@njit(cache=True)
def _copy(H, d, s, n):
    for i in range(n):
        H[d + i] = H[s + i]


# ----------------------------------------------------------------------------- the loop

@njit(cache=True, error_model="numpy")
def execute(code, aux, F, I):
    """Run ``code`` over the heaps ``F`` and ``I`` (filled with the
    constants and inputs; the outputs are read from them afterwards)."""
    pc = 0
    end = code.shape[0]
    while pc < end:
        op = code[pc, OP]
        sub = code[pc, SUB]
        d = code[pc, D]
        a = code[pc, A]
        n = code[pc, N]
        flags = code[pc, FLAGS]
        if op == BINARY_F:
            if n == 1 and sub <= B_DIV:   # one element, + - * /: most of a scalar graph
                x = F[a]
                y = F[code[pc, B]]
                if sub == B_ADD:
                    r = x + y
                elif sub == B_MUL:
                    r = x * y
                elif sub == B_SUB:
                    r = x - y
                else:
                    r = x / y
                F[d] = np.float32(r) if flags & ROUND32 else r
            else:
                _binary_f(sub, F, d, a, code[pc, B], n, flags)
        elif op == UNARY_F:
            _unary_f(sub, F, d, a, n, flags)
        elif op == MOVE_F:
            x = code[pc, X]
            if aux[x] == 1 and aux[x + 1] == 1:   # one element (a pad_add of one read)
                v = F[d] + F[a] if sub == M_ADD else F[a]
                F[d] = np.float32(v) if flags & ROUND32 else v
            else:
                _move(F, sub, d, a, aux, x)
                _finish_f(F, code[pc, Y], n, flags)   # y, n: the destination's whole run
        elif op == COPY_F:
            if n == 1:
                F[d] = F[a]
            else:
                _copy(F, d, a, n)
        elif op == SELECT_F:
            if n == 1:
                F[d] = F[code[pc, B]] if I[a] != 0 else F[code[pc, C]]
            else:
                _select(F, I, d, a, code[pc, B], code[pc, C], n, flags)
        elif op == COMPARE_F:
            _compare(sub, F, I, d, a, code[pc, B], n, flags)
        elif op == REDUCE_F:
            _reduce(sub, F, d, a, aux, code[pc, X])
            _finish_f(F, d, n, flags)
        elif op == FINITE:
            _finite(F, I, d, a, n, flags)
        elif op == TAKE_F:
            x = code[pc, X]
            if aux[x] == 1 and aux[x + 2] == 1 and aux[x + 3] == 1:   # one element read at an index
                t = I[code[pc, B]]
                m = aux[x + 1]
                F[d] = F[a + (0 if t < 0 else (m - 1 if t >= m else t))]
            else:
                _take(F, I, d, a, code[pc, B], aux, x)
        elif op == FILL_F:
            v = F[a]
            for i in range(n):
                F[d + i] = v
        elif op == BINARY_I:
            _binary_i(sub, I, d, a, code[pc, B], n, flags, code[pc, Y])
        elif op == UNARY_I:
            _unary_i(sub, I, d, a, n, flags)
        elif op == COMPARE_I:
            if flags & UNSIGNED64:
                _compare_u64(sub, I, d, a, code[pc, B], n, flags)
            else:
                _compare(sub, I, I, d, a, code[pc, B], n, flags)
        elif op == SELECT_I:
            _select(I, I, d, a, code[pc, B], code[pc, C], n, flags)
        elif op == CONVERT:
            _convert(sub, F, I, d, a, n, flags)
        elif op == MOVE_I:
            _move(I, sub, d, a, aux, code[pc, X])
            _finish_i(I, code[pc, Y], n, flags)
        elif op == COPY_I:
            _copy(I, d, a, n)
        elif op == FILL_I:
            v = I[a]
            for i in range(n):
                I[d + i] = v
        elif op == REDUCE_I:
            _reduce(sub, I, d, a, aux, code[pc, X])
            _finish_i(I, d, n, flags)
        elif op == ARGRED_F:
            x = code[pc, X]
            _argreduce(sub, F, I, d, a, aux[x], aux[x + 1], aux[x + 2])
        elif op == ARGRED_I:
            x = code[pc, X]
            _argreduce(sub, I, I, d, a, aux[x], aux[x + 1], aux[x + 2])
        elif op == TAKE_I:
            _take(I, I, d, a, code[pc, B], aux, code[pc, X])
        elif op == SCATTER_F:
            _scatter_add(F, I, d, a, code[pc, B], aux, code[pc, X])
            _finish_f(F, d, n, flags)
        elif op == SCATTER_I:
            _scatter_add(I, I, d, a, code[pc, B], aux, code[pc, X])
            _finish_i(I, d, n, flags)
        elif op == MATMUL_F:
            _matmul_f(F, d, a, code[pc, B], aux, code[pc, X], flags)
        elif op == MATMUL_I:
            _matmul_i(I, d, a, code[pc, B], aux, code[pc, X], flags)
        elif op == LINALG:
            _linalg(F, I, sub, aux, code[pc, X], flags)
        elif op == IOTA_F:
            x = code[pc, X]
            _iota(F, d, aux[x], aux[x + 1], aux[x + 2])
        elif op == IOTA_I:
            x = code[pc, X]
            _iota(I, d, aux[x], aux[x + 1], aux[x + 2])
        elif op == THREEFRY:
            _threefry(I, d, a, aux, code[pc, X], n)
        elif op == ARGSORT_F:
            _argsort(F, I, d, a, code[pc, B], n)
        elif op == ARGSORT_I:
            _argsort(I, I, d, a, code[pc, B], n)
        elif op == IPOW_F:
            _ipow_f(F, d, a, n, code[pc, Y], flags)
        elif op == IPOW_I:
            _ipow_i(I, d, a, n, code[pc, Y], flags)
        elif op == JUMP:
            pc = code[pc, X]
            continue
        elif op == JUMP_IF_FALSE:
            if I[a] == 0:
                pc = code[pc, X]
                continue
        elif op == JUMP_IF_GE:
            if I[a] >= I[code[pc, B]]:
                pc = code[pc, X]
                continue
        elif op == INC:
            I[d] += 1
        elif op == CLAMP:            # d = min(max(I[a], 0), n - 1)
            v = I[a]
            I[d] = 0 if v < 0 else (n - 1 if v > n - 1 else v)
        elif op == SCAN_INDEX:       # d = the row of step I[a] of a scan of length n
            I[d] = n - 1 - I[a] if sub else I[a]
        elif op == LOAD_ROW_F:       # d[:n] = a[I[b] * n : ...]
            _copy(F, d, a + I[code[pc, B]] * n, n)
        elif op == LOAD_ROW_I:
            _copy(I, d, a + I[code[pc, B]] * n, n)
        elif op == STORE_ROW_F:      # d[I[b] * n : ...] = a[:n]
            _copy(F, d + I[code[pc, B]] * n, a, n)
        elif op == STORE_ROW_I:
            _copy(I, d + I[code[pc, B]] * n, a, n)
        pc += 1


program = execute   # the name under which the backend's cache machinery compiles a module
