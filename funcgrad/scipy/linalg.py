"""``funcgrad.scipy.linalg``: SciPy's ``scipy.linalg`` functions on traced
values, with SciPy's signatures (``overwrite_*`` and ``check_finite`` are
accepted and ignored: traced arrays are never overwritten).

Triangular solves and factorizations are the primitives of
:mod:`funcgrad.primitives.decompositions` (LAPACK in the compiled
backends); ``lu_factor`` returns LAPACK's 0-based pivots as SciPy does, and
``lu_solve`` turns them into a permutation with a loop of row swaps.
``expm`` is scaling and squaring with the degree-13 Pade approximant
(Higham 2005) and at most 16 squarings (a fixed loop whose steps past the
needed count are skipped by a select, as in JAX: it differentiates in both
modes); matrices with 1-norm above ``5.37 * 2**16`` lose accuracy.
"""
from __future__ import annotations

import numpy as np

from ..core.trace import Tracer, aval_of
from ..errors import ShapeError, UnsupportedError
from ..numpy import _core as C
from ..numpy import _stats
from ..numpy import linalg as _la
from ..primitives import decompositions as D

__all__ = ["solve_triangular", "cho_factor", "cho_solve", "lu_factor", "lu_solve", "lu", "expm", "cholesky",
           "solve", "inv", "det", "eigh", "svd", "qr", "pinv", "norm"]

norm = _la.norm
pinv = _la.pinv
inv = _la.inv
det = _la.det


def _matrix(name, a, square=True):
    a = C._to_float(C.asarray(a))
    if C.ndim(a) < 2 or (square and C.shape(a)[-1] != C.shape(a)[-2]):
        raise ShapeError(f"scipy.linalg.{name}: needs {'square ' if square else ''}matrices, got {aval_of(a)}")
    return a


def _rhs(name, a, b):
    """``b`` as a stack of matrices matching ``a`` (and whether it was a vector)."""
    b = C._to_float(C.asarray(b))
    a, b = C._promote(a, b)
    vector = C.ndim(b) == C.ndim(a) - 1
    if vector:
        b = C.expand_dims(b, -1)
    if C.shape(b)[-2] != C.shape(a)[-1]:
        raise ShapeError(f"scipy.linalg.{name}: a {aval_of(a)} and b {aval_of(b)} do not match")
    a, b = _la._batch_broadcast(a, b, 2)
    return a, b, vector


def _out(x, vector):
    return C.reshape(x, C.shape(x)[:-1]) if vector else x


def solve_triangular(a, b, trans=0, lower=False, unit_diagonal=False, overwrite_b=False, check_finite=True):
    """``x`` with ``op(a) x = b``, ``a`` read as its lower (``lower=True``) or
    upper triangle; ``trans`` 0/'N', 1/'T' or 2/'C' (real: the transpose)."""
    a = _matrix("solve_triangular", a)
    transpose = {0: False, "N": False, 1: True, "T": True, 2: True, "C": True}.get(trans)
    if transpose is None:
        raise ValueError(f"scipy.linalg.solve_triangular: trans must be 0, 1, 2, 'N', 'T' or 'C', got {trans!r}")
    a, b, vector = _rhs("solve_triangular", a, b)
    return _out(D.triangular_solve(a, b, lower=bool(lower), transpose_a=transpose,
                                   unit_diagonal=bool(unit_diagonal)), vector)


def cholesky(a, lower=False, overwrite_a=False, check_finite=True):
    """SciPy's ``cholesky``: the upper factor by default (``lower=True``: the lower one)."""
    L = D.cholesky(_matrix("cholesky", a) if lower else D.mT(_matrix("cholesky", a)))
    return L if lower else D.mT(L)


def cho_factor(a, lower=False, overwrite_a=False, check_finite=True):
    """``(c, lower)``: the Cholesky factor in the triangle ``lower`` names,
    zeros in the other (SciPy leaves arbitrary values there)."""
    return cholesky(a, lower=lower), bool(lower)


def cho_solve(c_and_lower, b, overwrite_b=False, check_finite=True):
    """``x`` with ``A x = b`` from ``cho_factor``'s ``(c, lower)``."""
    c, lower = c_and_lower
    c = _matrix("cho_solve", c)
    c, b, vector = _rhs("cho_solve", c, b)
    if lower:     # L L^T x = b
        y = D.triangular_solve(c, b, lower=True)
        x = D.triangular_solve(c, y, lower=True, transpose_a=True)
    else:         # U^T U x = b
        y = D.triangular_solve(c, b, lower=False, transpose_a=True)
        x = D.triangular_solve(c, y, lower=False)
    return _out(x, vector)


def lu_factor(a, overwrite_a=False, check_finite=True):
    """``(lu, piv)``: LAPACK's getrf, ``piv`` 0-based int32 (row ``i`` was
    swapped with row ``piv[i]``), as SciPy."""
    lu_, piv, _ = D.lu(_matrix("lu_factor", a))
    return lu_, piv


def _permutation(piv):
    """The row permutation that getrf's interchanges ``piv`` compose to."""
    n = C.shape(piv)[-1]
    if not isinstance(piv, Tracer):
        piv = np.asarray(piv)
        flat = piv.reshape(-1, n)
        perm = np.tile(np.arange(n, dtype=np.int32), (flat.shape[0], 1))
        for row, p in zip(perm, flat):
            for i in range(n):
                row[i], row[p[i]] = row[p[i]], row[i]
        return perm.reshape(piv.shape)
    from ..control_flow import fori_loop

    idx = np.arange(n, dtype=np.int32)

    def swap(i, perm):
        p = C.expand_dims(C.take(piv, i, axis=-1), -1)
        at_i = C.expand_dims(C.take(perm, i, axis=-1), -1)
        at_p = C.take_along_axis(perm, p, axis=-1)
        return C.where(idx == i, at_p, C.where(idx == p, at_i, perm))

    return fori_loop(0, n, swap, C.broadcast_to(idx, C.shape(piv)))


def lu_solve(lu_and_piv, b, trans=0, overwrite_b=False, check_finite=True):
    """``x`` with ``A x = b`` (``trans=1``: ``A^T x = b``) from ``lu_factor``'s result."""
    lu_, piv = lu_and_piv
    lu_ = _matrix("lu_solve", lu_)
    lu_, b, vector = _rhs("lu_solve", lu_, b)
    perm = _permutation(piv)
    if C.shape(perm)[:-1] != C.shape(lu_)[:-2]:
        perm = C.broadcast_to(perm, C.shape(lu_)[:-1])
    transpose = {0: False, "N": False, 1: True, "T": True, 2: True, "C": True}[trans]
    return _out(_la._lu_solve(lu_, perm, b, trans=transpose), vector)


def lu(a, permute_l=False, overwrite_a=False, check_finite=True, p_indices=False):
    """``(p, l, u)`` with ``a = p @ l @ u`` (``permute_l``: ``(p @ l, u)``;
    ``p_indices``: ``p`` as the row indices, ``a = l[p] @ u``)."""
    a = _matrix("lu", a)
    lu_, _, perm = D.lu(a)
    n = C.shape(a)[-1]
    eye = np.eye(n, dtype=C._dtype(a))
    l_ = D.tril(lu_, -1) + eye
    u = D.triu(lu_)
    inverse = _stats.argsort(perm, axis=-1)                 # a = P L U: P[perm[i], i] = 1
    if p_indices and not permute_l:
        return inverse.astype(np.int32), l_, u
    p = (C.expand_dims(perm, -2) == C.expand_dims(np.arange(n, dtype=np.int32), -1)).astype(C._dtype(a))
    if permute_l:
        return C.matmul(p, l_), u
    return p, l_, u


def solve(a, b, lower=False, overwrite_a=False, overwrite_b=False, check_finite=True, assume_a=None,
          transposed=False):
    """SciPy's ``solve``: general (LU), or ``assume_a`` 'pos'/'positive definite'
    (Cholesky), 'sym'/'her' (LU), 'lower triangular'/'upper triangular'."""
    a = _matrix("solve", a)
    kind = (assume_a or "gen").lower()
    if transposed:
        a = D.mT(a)
    if kind in ("pos", "positive definite"):
        return cho_solve(cho_factor(a, lower=True), b)
    if kind in ("lower triangular", "upper triangular"):
        return solve_triangular(a, b, lower=kind.startswith("lower"))
    if kind not in ("gen", "general", "sym", "symmetric", "her", "hermitian"):
        raise UnsupportedError(f"scipy.linalg.solve: assume_a={assume_a!r} is not supported")
    a, b, vector = _rhs("solve", a, b)
    return _out(_la._solve(a, b), vector)


def eigh(a, b=None, lower=True, eigvals_only=False, **kwargs):
    """SciPy's ``eigh`` of one symmetric matrix (no generalized problem)."""
    if b is not None:
        raise UnsupportedError("scipy.linalg.eigh: the generalized problem (b=) is not supported")
    w, v = _la.eigh(a, UPLO="L" if lower else "U")
    return w if eigvals_only else (w, v)


def svd(a, full_matrices=True, compute_uv=True, overwrite_a=False, check_finite=True, lapack_driver="gesdd"):
    """SciPy's ``svd`` (gesdd; ``lapack_driver`` is ignored)."""
    out = _la.svd(a, full_matrices=full_matrices, compute_uv=compute_uv)
    return tuple(out) if compute_uv else out


def qr(a, overwrite_a=False, lwork=None, mode="full", pivoting=False, check_finite=True):
    """SciPy's ``qr``: ``mode`` 'full', 'economic' or 'r' (no pivoting)."""
    if pivoting:
        raise UnsupportedError("scipy.linalg.qr: pivoting=True is not supported")
    modes = {"full": "complete", "economic": "reduced", "r": "r"}
    if mode not in modes:
        raise UnsupportedError(f"scipy.linalg.qr: mode={mode!r} is not supported")
    out = _la.qr(a, mode=modes[mode]) if mode != "r" else (_la.qr(a, mode="complete")[1],)
    return tuple(out)


# ----------------------------------------------------------------------------- expm

_PADE13 = (64764752532480000.0, 32382376266240000.0, 7771770303897600.0, 1187353796428800.0,
           129060195264000.0, 10559470521600.0, 670442572800.0, 33522128640.0, 1323241920.0,
           40840800.0, 960960.0, 16380.0, 182.0, 1.0)
_THETA13 = 5.371920351148152
_MAX_SQUARINGS = 16


def expm(A):
    """The matrix exponential (stacks of square matrices)."""
    from ..control_flow import fori_loop

    A = _matrix("expm", A)
    dt = C._dtype(A)
    n = C.shape(A)[-1]
    norm1 = C.max(C.sum(C.abs(A), axis=-2), axis=-1)                    # the 1-norm
    s = C.maximum(0.0, C.ceil(C.log2(C.maximum(norm1, 1e-300) / _THETA13))).astype(dt)
    s = C.minimum(s, float(_MAX_SQUARINGS))
    X = A * C.expand_dims(C.expand_dims(C.exp2(-s), -1), -1)
    b = [np.asarray(c, dt) for c in _PADE13]
    eye = np.eye(n, dtype=dt)
    X2 = C.matmul(X, X)
    X4 = C.matmul(X2, X2)
    X6 = C.matmul(X4, X2)
    U = C.matmul(X, C.matmul(X6, b[13] * X6 + b[11] * X4 + b[9] * X2) + b[7] * X6 + b[5] * X4 + b[3] * X2
                 + b[1] * eye)
    V = C.matmul(X6, b[12] * X6 + b[10] * X4 + b[8] * X2) + b[6] * X6 + b[4] * X4 + b[2] * X2 + b[0] * eye
    R = _la._solve(*_la._batch_broadcast(V - U, V + U, 2))
    steps = C.expand_dims(C.expand_dims(s, -1), -1)

    def square(i, R):
        return C.where(C.asarray(i).astype(dt) < steps, C.matmul(R, R), R)

    return fori_loop(0, _MAX_SQUARINGS, square, R)
