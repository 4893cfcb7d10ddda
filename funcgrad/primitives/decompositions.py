"""Matrix decompositions and triangular solves, over the last two axes.

Every operand is a stack of matrices ``(..., M, N)``: the leading axes are a
batch, as in ``numpy.linalg``. Results follow LAPACK's conventions (the
compiled backends call LAPACK; the implementations here, used by the
interpreter, call ``numpy.linalg``, which runs the same LAPACK routines):

``cholesky(a)``
    The lower factor ``L`` of ``a = L L^T``, reading only the lower
    triangle of ``a`` (the upper one is ignored, as in ``numpy.linalg``);
    zeros above the diagonal. Where ``a`` is not positive definite the
    whole factor is NaN (as in JAX; NumPy raises).
``triangular_solve[lower, transpose_a, unit_diagonal](a, b)``
    ``X`` with ``op(A) X = B`` where ``A`` is the lower (or upper) triangle
    of ``a`` (with ones on the diagonal if ``unit_diagonal``) and ``op`` the
    identity or the transpose; ``b`` is ``(..., N, K)``.
``triangular_matmul[lower, transpose_a](a, b)``
    ``op(A) B`` with ``A`` the lower (or upper) triangle of ``a`` (BLAS's
    ``trmm``: half the work of a full product; the derivative of
    ``cholesky`` multiplies by its factor).
``lu(a)``
    ``(lu, pivots, permutation)`` of square ``a``, with partial pivoting as
    LAPACK's ``getrf``: ``a[..., permutation, :] = L @ U`` with ``L`` the
    unit lower triangle of ``lu`` and ``U`` its upper triangle; ``pivots``
    are getrf's row interchanges, 0-based (row ``i`` was swapped with row
    ``pivots[i]``, as ``scipy.linalg.lu_factor``'s ``piv``). Both int32.
``eigh(a)``
    ``(w, v)``: the eigenvalues of the symmetric matrix whose lower triangle
    is ``a``'s, ascending, and the eigenvectors as the columns of ``v``.
``svd[full_matrices, compute_uv](a)``
    ``(u, s, vt)`` (``(s,)`` without ``compute_uv``), singular values
    descending, ``a = u diag(s) vt``.
``qr[full_matrices](a)``
    ``(q, r)`` by Householder reflections (``geqrf``, ``orgqr``): ``q`` is
    ``M x K`` and ``r`` ``K x N`` with ``K = min(M, N)``, or ``M x M`` and
    ``M x N`` with ``full_matrices``.

Their derivatives are in the transformations' tables
(``funcgrad/transforms/{jvp,vjp,batching}/decompositions.py``).
"""
from __future__ import annotations

import numpy as np

from ..core.ir import ShapedArray
from ..core.trace import Primitive, aval_of
from ..errors import DtypeError, ShapeError
from ._common import describe
from .elementwise import add, convert_element_type, eq, le, mul, select, sub
from .indexing import take
from .shape import broadcast_to, iota, reshape, transpose

__all__ = ["cholesky", "triangular_solve", "triangular_matmul", "lu", "eigh", "svd", "qr", "cholesky_p",
           "triangular_solve_p", "triangular_matmul_p",
           "lu_p", "eigh_p", "svd_p", "qr_p", "DECOMPOSITIONS", "mT", "tril", "triu", "eye_like", "diag_part",
           "permute_rows"]

cholesky_p = Primitive("cholesky")
triangular_solve_p = Primitive("triangular_solve")
triangular_matmul_p = Primitive("triangular_matmul")
lu_p = Primitive("lu", multiple_results=True)
eigh_p = Primitive("eigh", multiple_results=True)
svd_p = Primitive("svd", multiple_results=True)
qr_p = Primitive("qr", multiple_results=True)
DECOMPOSITIONS = (cholesky_p, triangular_solve_p, triangular_matmul_p, lu_p, eigh_p, svd_p, qr_p)


def _matrices(name, a, square=False):
    if a.dtype.kind != "f" or a.dtype.itemsize not in (4, 8):
        raise DtypeError(f"{name}: needs float32 or float64 matrices, got {describe(a)}")
    if a.ndim < 2:
        raise ShapeError(f"{name}: needs an array of at least 2 dimensions (a stack of matrices), "
                         f"got {describe(a)}")
    if square and a.shape[-1] != a.shape[-2]:
        raise ShapeError(f"{name}: needs square matrices (last two axes equal), got {describe(a)}")


# ----------------------------------------------------------------------------- abstract evaluation

@cholesky_p.def_abstract_eval
def _cholesky_abstract(a):
    _matrices("cholesky", a, square=True)
    return ShapedArray(a.shape, a.dtype)


def _triangular_abstract(name, a, b):
    _matrices(name, a, square=True)
    if b.dtype != a.dtype or b.ndim != a.ndim or b.shape[:-1] != a.shape[:-1]:
        raise ShapeError(f"{name}: needs a right-hand side (..., N, K) of the matrices' dtype "
                         f"and batch (..., N, N), got {describe(a, b)}")
    return ShapedArray(b.shape, b.dtype)


@triangular_solve_p.def_abstract_eval
def _triangular_solve_abstract(a, b, *, lower, transpose_a, unit_diagonal):
    return _triangular_abstract("triangular_solve", a, b)


@triangular_matmul_p.def_abstract_eval
def _triangular_matmul_abstract(a, b, *, lower, transpose_a):
    return _triangular_abstract("triangular_matmul", a, b)


@lu_p.def_abstract_eval
def _lu_abstract(a):
    _matrices("lu", a, square=True)
    return [ShapedArray(a.shape, a.dtype), ShapedArray(a.shape[:-1], np.int32),
            ShapedArray(a.shape[:-1], np.int32)]


@eigh_p.def_abstract_eval
def _eigh_abstract(a):
    _matrices("eigh", a, square=True)
    return [ShapedArray(a.shape[:-1], a.dtype), ShapedArray(a.shape, a.dtype)]


def _svd_shapes(shape, full_matrices):
    m, n = shape[-2:]
    k = min(m, n)
    ucols, vrows = (m, n) if full_matrices else (k, k)
    return shape[:-2] + (m, ucols), shape[:-2] + (k,), shape[:-2] + (vrows, n)


@svd_p.def_abstract_eval
def _svd_abstract(a, *, full_matrices, compute_uv):
    _matrices("svd", a)
    u, s, vt = _svd_shapes(a.shape, full_matrices)
    if not compute_uv:
        return [ShapedArray(s, a.dtype)]
    return [ShapedArray(u, a.dtype), ShapedArray(s, a.dtype), ShapedArray(vt, a.dtype)]


def _qr_shapes(shape, full_matrices):
    m, n = shape[-2:]
    k = m if full_matrices else min(m, n)
    return shape[:-2] + (m, k), shape[:-2] + (k, n)


@qr_p.def_abstract_eval
def _qr_abstract(a, *, full_matrices):
    _matrices("qr", a)
    q, r = _qr_shapes(a.shape, full_matrices)
    return [ShapedArray(q, a.dtype), ShapedArray(r, a.dtype)]


# ----------------------------------------------------------------------------- NumPy implementations

def _per_matrix(fn, a, outs):
    """Apply ``fn`` to each matrix of the stack ``a`` (a function that
    returns a tuple of arrays), stacking the results into ``outs``."""
    batch = a.shape[:-2]
    flat = a.reshape((-1,) + a.shape[-2:])
    results = [np.empty((flat.shape[0],) + o.shape[len(batch):], o.dtype) for o in outs]
    for q in range(flat.shape[0]):
        for r, v in zip(results, fn(flat[q])):
            r[q] = v
    return [r.reshape(o.shape) for r, o in zip(results, outs)]


def _cholesky_one(m):
    try:
        return (np.linalg.cholesky(m),)
    except np.linalg.LinAlgError:
        return (np.full(m.shape, np.nan, m.dtype),)


@cholesky_p.def_impl
def _cholesky_impl(a):
    a = np.asarray(a)
    try:
        return np.linalg.cholesky(a)
    except np.linalg.LinAlgError:        # one matrix is not positive definite: NaN for that one
        return _per_matrix(_cholesky_one, a, [a])[0]


def triangle(a, lower, unit_diagonal):
    """The triangle of ``a`` that a triangular solve reads (NumPy arrays)."""
    t = np.tril(a) if lower else np.triu(a)
    if unit_diagonal:
        n = a.shape[-1]
        t = t.copy()
        t[..., np.arange(n), np.arange(n)] = 1
    return t


@triangular_solve_p.def_impl
def _triangular_solve_impl(a, b, *, lower, transpose_a, unit_diagonal):
    t = triangle(np.asarray(a), lower, unit_diagonal)
    if transpose_a:
        t = np.swapaxes(t, -1, -2)
    b = np.asarray(b)
    if b.size == 0:
        return np.zeros(b.shape, b.dtype)
    with np.errstate(all="ignore"):
        try:
            return np.asarray(np.linalg.solve(t, b), b.dtype)
        except np.linalg.LinAlgError:   # a zero on the diagonal: substitution gives inf / NaN
            return _substitute(t, b, lower != transpose_a)


@triangular_matmul_p.def_impl
def _triangular_matmul_impl(a, b, *, lower, transpose_a):
    t = triangle(np.asarray(a), lower, False)
    if transpose_a:
        t = np.swapaxes(t, -1, -2)
    b = np.asarray(b)
    return np.asarray(np.matmul(t, b), b.dtype)


def _substitute(t, b, lower):
    n = t.shape[-1]
    x = np.zeros(b.shape, b.dtype)
    rows = range(n) if lower else range(n - 1, -1, -1)
    for i in rows:
        acc = b[..., i, :] - np.einsum("...j,...jk->...k", t[..., i, :], x)
        x[..., i, :] = acc / t[..., i, i][..., None]
    return x


def _lu_one(m):
    """Partial pivoting as getrf (the first row of largest magnitude)."""
    n = m.shape[0]
    lu = m.copy()
    piv = np.arange(n, dtype=np.int32)
    perm = np.arange(n, dtype=np.int32)
    for j in range(n):
        p = j + int(np.argmax(np.abs(lu[j:, j])))
        piv[j] = p
        if p != j:
            lu[[j, p]] = lu[[p, j]]
            perm[[j, p]] = perm[[p, j]]
        if lu[j, j] != 0:
            lu[j + 1:, j] /= lu[j, j]
        lu[j + 1:, j + 1:] -= np.outer(lu[j + 1:, j], lu[j, j + 1:])
    return lu, piv, perm


@lu_p.def_impl
def _lu_impl(a):
    a = np.asarray(a)
    outs = [a, np.empty(a.shape[:-1], np.int32), np.empty(a.shape[:-1], np.int32)]
    with np.errstate(all="ignore"):
        return _per_matrix(_lu_one, a, outs)


@eigh_p.def_impl
def _eigh_impl(a):
    a = np.asarray(a)
    try:
        w, v = np.linalg.eigh(a, UPLO="L")
    except np.linalg.LinAlgError:       # NaN or inf entries
        return [np.full(a.shape[:-1], np.nan, a.dtype), np.full(a.shape, np.nan, a.dtype)]
    return [w.astype(a.dtype), v.astype(a.dtype)]


@svd_p.def_impl
def _svd_impl(a, *, full_matrices, compute_uv):
    a = np.asarray(a)
    u, s, vt = _svd_shapes(a.shape, full_matrices)
    try:
        if not compute_uv:
            return [np.linalg.svd(a, compute_uv=False).astype(a.dtype)]
        r = np.linalg.svd(a, full_matrices=full_matrices)
    except np.linalg.LinAlgError:
        shapes = [s] if not compute_uv else [u, s, vt]
        return [np.full(sh, np.nan, a.dtype) for sh in shapes]
    return [r[0].astype(a.dtype), r[1].astype(a.dtype), r[2].astype(a.dtype)]


@qr_p.def_impl
def _qr_impl(a, *, full_matrices):
    a = np.asarray(a)
    q, r = np.linalg.qr(a, mode="complete" if full_matrices else "reduced")
    return [q.astype(a.dtype), r.astype(a.dtype)]


# ----------------------------------------------------------------------------- binding

def cholesky(a):
    return cholesky_p.bind(a)


def triangular_solve(a, b, lower=True, transpose_a=False, unit_diagonal=False):
    return triangular_solve_p.bind(a, b, lower=bool(lower), transpose_a=bool(transpose_a),
                                   unit_diagonal=bool(unit_diagonal))


def triangular_matmul(a, b, lower=True, transpose_a=False):
    return triangular_matmul_p.bind(a, b, lower=bool(lower), transpose_a=bool(transpose_a))


def lu(a):
    return tuple(lu_p.bind(a))


def eigh(a):
    return tuple(eigh_p.bind(a))


def svd(a, full_matrices=False, compute_uv=True):
    out = svd_p.bind(a, full_matrices=bool(full_matrices), compute_uv=bool(compute_uv))
    return tuple(out) if compute_uv else out[0]


def qr(a, full_matrices=False):
    return tuple(qr_p.bind(a, full_matrices=bool(full_matrices)))


# ----------------------------------------------------------------------------- helpers over stacks
# Compositions of primitives, shared by the derivative rules and funcgrad.numpy.linalg.

def _shape(x):
    return tuple(aval_of(x).shape)


def mT(x):
    """The transpose of the last two axes."""
    nd = len(_shape(x))
    return transpose(x, tuple(range(nd - 2)) + (nd - 1, nd - 2))


def _band(x, k, lower):
    s = _shape(x)
    rows = iota(s, len(s) - 2, np.int32)
    cols = iota(s, len(s) - 1, np.int32)
    d = sub(cols, rows)                                   # j - i
    keep = le(d, np.int32(k)) if lower else le(np.int32(k), d)
    return select(keep, x, broadcast_to(np.zeros((), aval_of(x).dtype), s))


def tril(x, k=0):
    return _band(x, k, True)


def triu(x, k=0):
    return _band(x, k, False)


def eye_like(x):
    """Ones on the diagonal, shaped and typed like the stack ``x``."""
    s = _shape(x)
    return convert_element_type(eq(iota(s, len(s) - 2, np.int32), iota(s, len(s) - 1, np.int32)),
                                aval_of(x).dtype)


def diag_part(x):
    """``x[..., i, i]``: a gather of every (n+1)-th element of each flattened matrix."""
    s = _shape(x)
    n = s[-1]
    flat = reshape(x, s[:-2] + (s[-2] * n,))
    return take(flat, np.arange(n, dtype=np.int64) * (n + 1), len(s) - 2)


def _rows(v, like):
    """``v[..., None, :]`` broadcast to ``like``'s shape."""
    s = _shape(like)
    return broadcast_to(reshape(v, _shape(v)[:-1] + (1, _shape(v)[-1])), s)


def _cols(v, like):
    """``v[..., :, None]`` broadcast to ``like``'s shape."""
    s = _shape(like)
    return broadcast_to(reshape(v, _shape(v) + (1,)), s)


def permute_rows(x, perm):
    """``x[..., perm[...], :]`` for a stack ``x`` and a stack of row
    permutations ``perm``: one gather of rows of the flattened stack."""
    s = _shape(x)
    n, batch = s[-2], int(np.prod(s[:-2], dtype=np.int64))
    offsets = iota((batch, n), 0, np.int32)
    idx = add(reshape(perm, (batch, n)), mul(offsets, np.int32(n)))
    rows = take(reshape(x, (batch * n, s[-1])), reshape(idx, (batch * n,)), 0)
    return reshape(rows, s)
