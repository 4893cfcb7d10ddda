"""``funcgrad.numpy.linalg``: NumPy's ``numpy.linalg`` on traced values.

Built on the decomposition primitives (:mod:`funcgrad.primitives.decompositions`:
LAPACK's potrf, trsm, getrf, syevd, gesdd, geqrf/orgqr in the compiled
backends). Every function takes stacks of matrices ``(..., M, N)`` as NumPy
does (batch axes broadcast where NumPy broadcasts them), integer inputs
become float64, float32 stays float32.

Derivatives (forward and reverse, any order):

- ``solve``, ``inv``, ``det``, ``slogdet`` have rules of their own (as in
  JAX), which reuse the LU factorization: ``d solve = A^-1 (dB - dA X)``,
  ``d logabsdet = tr(A^-1 dA)``, ``d det = det tr(A^-1 dA)``. Under ``jit``
  of ``grad`` the factorization is computed once (the backward pass's copy
  of it is merged by common-subexpression elimination). At a singular
  matrix these derivatives are inf / NaN (JAX's ``det`` uses cofactors
  there; funcgrad's does not).
- ``cholesky``, ``eigh``, ``svd``, ``qr`` differentiate through their
  primitives (see :mod:`funcgrad.transforms.jvp.decompositions`): repeated
  eigenvalues or singular values make the eigenvector / singular-vector
  derivatives undefined (inf / NaN), as in JAX; ``svd(full_matrices=True)``
  of a non-square matrix and ``qr`` of a wide one are not differentiable
  (UnsupportedError), as in JAX.
- ``pinv`` has its own rule (Golub and Pereyra's formula), valid where the
  rank is constant; ``norm`` with ``ord=2``/``'nuc'``/``-2`` goes through
  ``svd``; vector 2-norms have gradient NaN at zero, as ``sqrt`` does.

Not supported (UnsupportedError naming them): ``eig``, ``eigvals`` (complex
results), ``tensorsolve``, ``tensorinv``, ``lstsq`` residuals of
rank-deficient systems (see :func:`lstsq`).
"""
from __future__ import annotations

import builtins
import collections

import numpy as np

from .. import primitives as P
from ..core.trace import Tracer, aval_of
from ..custom_derivatives import custom_jvp
from ..errors import ShapeError, UnsupportedError
from ..primitives import decompositions as D
from . import _core as C
from . import _shapes, _stats

__all__ = ["cholesky", "solve", "inv", "det", "slogdet", "eigh", "eigvalsh", "svd", "svdvals", "qr", "pinv",
           "lstsq", "norm", "vector_norm", "matrix_norm", "matrix_power", "multi_dot", "matrix_rank", "cond",
           "matrix_transpose", "outer", "cross", "diagonal", "trace", "matmul", "tensordot", "vecdot", "eig",
           "eigvals", "tensorsolve", "tensorinv", "LinAlgError"]

LinAlgError = np.linalg.LinAlgError


def _float(name, a, *, square=False, min_ndim=2):
    a = C._to_float(C.asarray(a))
    nd = C.ndim(a)
    if nd < min_ndim:
        raise ShapeError(f"numpy.linalg.{name}: needs an array of at least {min_ndim} dimensions, got "
                         f"{aval_of(a)}")
    if square and C.shape(a)[-1] != C.shape(a)[-2]:
        raise ShapeError(f"numpy.linalg.{name}: needs square matrices (last two axes equal), got {aval_of(a)}")
    return a


def _common(*xs):
    return C._promote(*xs)


def _batch_broadcast(a, b, core_b):
    """``a`` (..., n, n) and ``b`` (..., core_b dims) with their batch axes broadcast."""
    sa, sb = C.shape(a), C.shape(b)
    batch = tuple(np.broadcast_shapes(sa[:-2], sb[:len(sb) - core_b]))
    return (C.broadcast_to(a, batch + sa[-2:]) if sa[:-2] != batch else a,
            C.broadcast_to(b, batch + sb[len(sb) - core_b:]) if sb[:len(sb) - core_b] != batch else b)


def _lu_solve(lu, perm, b, trans=False):
    """``A^-1 b`` (or ``A^-T b``) from ``A[perm] = L U``; ``b`` (..., n, k)."""
    if not trans:
        y = D.triangular_solve(lu, D.permute_rows(b, perm), lower=True, unit_diagonal=True)
        return D.triangular_solve(lu, y, lower=False)
    y = D.triangular_solve(lu, b, lower=False, transpose_a=True)
    z = D.triangular_solve(lu, y, lower=True, transpose_a=True, unit_diagonal=True)
    inv = _stats.argsort(perm, axis=-1).astype(np.int32)       # P z: the inverse permutation
    return D.permute_rows(z, inv)


def _result(name, fields):
    """A namedtuple with NumPy's result names (``slogdet(a).logabsdet``): a
    pytree node, so ``jit``, ``vmap`` and ``grad(has_aux=True)`` return it as it is."""
    cls = collections.namedtuple(name, fields)
    cls.__doc__ = f"``({', '.join(fields)})``, also by name, as NumPy's result."
    cls.__module__ = __name__
    return cls


SlogdetResult = _result("SlogdetResult", ("sign", "logabsdet"))
EighResult = _result("EighResult", ("eigenvalues", "eigenvectors"))
SVDResult = _result("SVDResult", ("U", "S", "Vh"))
QRResult = _result("QRResult", ("Q", "R"))


# ----------------------------------------------------------------------------- solve, inv, det

@custom_jvp
def _solve(a, b):
    lu, _, perm = D.lu(a)
    return _lu_solve(lu, perm, b)


@_solve.defjvp
def _solve_jvp(primals, tangents):
    (a, b), (da, db) = primals, tangents
    lu, _, perm = D.lu(a)
    x = _lu_solve(lu, perm, b)
    return x, _lu_solve(lu, perm, db - P.matmul(da, x))


def solve(a, b):
    """``np.linalg.solve``: ``x`` with ``a @ x = b``, by LU with partial
    pivoting. ``b`` is a vector when it has one dimension (NumPy 2's rule),
    otherwise a stack of matrices ``(..., M, K)``; batch axes broadcast."""
    a = _float("solve", a, square=True)
    b = C._to_float(C.asarray(b))
    a, b = _common(a, b)
    vector = C.ndim(b) == 1
    if vector:
        b = C.reshape(b, (-1, 1))
    if C.ndim(b) < 2 or C.shape(b)[-2] != C.shape(a)[-1]:
        raise ShapeError(f"numpy.linalg.solve: a {aval_of(a)} and b {aval_of(b)} do not match "
                         "(b needs shape (M,) or (..., M, K))")
    a, b = _batch_broadcast(a, b, 2)
    x = _solve(a, b)
    return C.reshape(x, C.shape(x)[:-1]) if vector else x


def inv(a):
    """``np.linalg.inv``: ``solve(a, I)``."""
    a = _float("inv", a, square=True)
    n = C.shape(a)[-1]
    return _solve(a, C.broadcast_to(np.eye(n, dtype=C._dtype(a)), C.shape(a)))


def _parity(piv):
    """(-1) ** (the number of row interchanges)."""
    n = C.shape(piv)[-1]
    swaps = C.sum(piv != np.arange(n, dtype=np.int32), axis=-1)
    return 1 - 2 * (swaps % 2)


def _trace_solve(lu, perm, da):
    return _shapes.trace(_lu_solve(lu, perm, da), 0, -2, -1)


def _lu_slogdet(a):
    """``(lu, perm, sign, logabsdet)`` of ``a`` from one LU factorization."""
    lu, piv, perm = D.lu(a)
    d = D.diag_part(lu)
    sign = C.prod(C.sign(d), axis=-1) * _parity(piv).astype(C._dtype(a))
    return lu, perm, sign, C.sum(C.log(C.abs(d)), axis=-1)


@custom_jvp
def _slogdet(a):
    return _lu_slogdet(a)[2:]


@_slogdet.defjvp
def _slogdet_jvp(primals, tangents):
    (a,), (da,) = primals, tangents
    lu, perm, sign, logdet = _lu_slogdet(a)
    return (sign, logdet), (C.zeros_like(sign), _trace_solve(lu, perm, da))


def slogdet(a):
    """``np.linalg.slogdet``: ``(sign, log|det|)`` from the LU factorization."""
    a = _float("slogdet", a, square=True)
    return SlogdetResult(*_slogdet(a))


def _lu_det(a):
    lu, piv, perm = D.lu(a)
    return lu, perm, C.prod(D.diag_part(lu), axis=-1) * _parity(piv).astype(C._dtype(a))


@custom_jvp
def _det(a):
    return _lu_det(a)[2]


@_det.defjvp
def _det_jvp(primals, tangents):
    (a,), (da,) = primals, tangents
    lu, perm, det_ = _lu_det(a)
    return det_, det_ * _trace_solve(lu, perm, da)


def det(a):
    """``np.linalg.det``: the product of LU's pivots, signed by the permutation."""
    return _det(_float("det", a, square=True))


# ----------------------------------------------------------------------------- factorizations

def cholesky(a, upper=False):
    """``np.linalg.cholesky``: the lower factor (upper with ``upper=True``),
    reading the lower triangle of ``a``. Not positive definite: NaN (NumPy raises)."""
    L = D.cholesky(_float("cholesky", a, square=True))
    return D.mT(L) if upper else L


def _uplo(name, a, UPLO):
    a = _float(name, a, square=True)
    if UPLO not in ("L", "U"):
        raise ValueError(f"numpy.linalg.{name}: UPLO must be 'L' or 'U', got {UPLO!r}")
    return a if UPLO == "L" else D.mT(a)      # the upper triangle of a is the lower one of a^T


def eigh(a, UPLO="L"):
    """``np.linalg.eigh``: eigenvalues ascending and eigenvectors (columns)."""
    return EighResult(*D.eigh(_uplo("eigh", a, UPLO)))


def eigvalsh(a, UPLO="L"):
    """``np.linalg.eigvalsh``."""
    return D.eigh(_uplo("eigvalsh", a, UPLO))[0]


def svd(a, full_matrices=True, compute_uv=True, hermitian=False):
    """``np.linalg.svd`` (gesdd). ``hermitian=True`` computes the general SVD
    (the same singular values; the vectors may differ in sign)."""
    a = _float("svd", a)
    if not compute_uv:
        return D.svd(a, compute_uv=False)
    return SVDResult(*D.svd(a, full_matrices=bool(full_matrices)))


def svdvals(x):
    """``np.linalg.svdvals``: the singular values, descending."""
    return D.svd(_float("svdvals", x), compute_uv=False)


def qr(a, mode="reduced"):
    """``np.linalg.qr`` with ``mode`` ``'reduced'``, ``'complete'`` or ``'r'``
    (``'raw'`` is not supported)."""
    a = _float("qr", a)
    if mode not in ("reduced", "complete", "r"):
        raise UnsupportedError(f"numpy.linalg.qr: mode={mode!r} is not supported on traced arrays "
                               "(use 'reduced', 'complete' or 'r')")
    q, r = D.qr(a, full_matrices=mode == "complete")
    return r if mode == "r" else QRResult(q, r)


# ----------------------------------------------------------------------------- pinv, lstsq, rank

def _pinv_value(a, rcond):
    u, s, vt = D.svd(a, full_matrices=False)
    cutoff = rcond * C.max(s, axis=-1, keepdims=True) if C.shape(s)[-1] else s
    keep = s > cutoff
    s_inv = C.where(keep, 1 / C.where(keep, s, 1), 0)
    return P.matmul(vt * C.expand_dims(s_inv, -1), u, transpose_a=True, transpose_b=True)   # V S^+ U^T


def _pinv_rule(rcond):
    @custom_jvp
    def pinv_(a):
        return _pinv_value(a, rcond)

    @pinv_.defjvp
    def pinv_jvp(primals, tangents):
        # Golub & Pereyra: dP = -P dA P + P P^T dA^T (I - A P) + (I - P A) dA^T P^T P
        (a,), (da,) = primals, tangents
        p = _pinv_value(a, rcond)
        m, n = C.shape(a)[-2:]
        dat = D.mT(da)
        i_m = np.eye(m, dtype=C._dtype(a))
        i_n = np.eye(n, dtype=C._dtype(a))
        pp = P.matmul(p, p, transpose_b=True)
        ptp = P.matmul(p, p, transpose_a=True)
        t1 = -P.matmul(P.matmul(p, da), p)
        t2 = P.matmul(P.matmul(pp, dat), i_m - C.matmul(a, p))
        t3 = P.matmul(P.matmul(i_n - C.matmul(p, a), dat), ptp)
        return p, t1 + t2 + t3

    return pinv_


_pinv_rules: dict = {}


def pinv(a, rcond=None, hermitian=False, *, rtol=None):
    """``np.linalg.pinv`` by SVD: singular values below ``rcond * max(s)``
    count as zero (``rcond`` default ``max(M, N) * eps``, as NumPy 2's ``rtol``)."""
    a = _float("pinv", a)
    m, n = C.shape(a)[-2:]
    if rcond is None:
        rcond = rtol if rtol is not None else builtins.max(m, n) * np.finfo(C._dtype(a)).eps
    rcond = float(rcond)
    rule = _pinv_rules.get(rcond)
    if rule is None:
        rule = _pinv_rules[rcond] = _pinv_rule(rcond)
    return rule(a)


def matrix_rank(A, tol=None, hermitian=False, *, rtol=None):
    """``np.linalg.matrix_rank``: singular values above the tolerance (an int64 count)."""
    A = _float("matrix_rank", A, min_ndim=1)
    if C.ndim(A) < 2:
        return C.any(A != 0).astype(np.int64)
    s = svdvals(A)
    if tol is None:
        r = rtol if rtol is not None else builtins.max(C.shape(A)[-2:]) * np.finfo(C._dtype(A)).eps
        tol = C.max(s, axis=-1, keepdims=True) * r
    else:
        tol = C.expand_dims(C.asarray(tol), -1)
    return C.sum(s > tol, axis=-1).astype(np.int64)


def lstsq(a, b, rcond=None):
    """``np.linalg.lstsq``: ``(x, residuals, rank, s)`` with ``x = pinv(a) @ b``.

    Unlike NumPy, the residuals (squared 2-norms of ``b - a x`` per column)
    are returned whenever ``M > N``, whatever the rank (NumPy returns an
    empty array for a rank-deficient ``a``: a shape that depends on values);
    an empty array otherwise, as NumPy."""
    a = _float("lstsq", a)
    b = C._to_float(C.asarray(b))
    a, b = _common(a, b)
    if C.ndim(a) != 2 or C.ndim(b) not in (1, 2) or C.shape(b)[0] != C.shape(a)[0]:
        raise ShapeError(f"numpy.linalg.lstsq: needs a (M, N) and b (M,) or (M, K), got {aval_of(a)} and "
                         f"{aval_of(b)}")
    m, n = C.shape(a)
    if rcond is None:
        rcond = builtins.max(m, n) * np.finfo(C._dtype(a)).eps
    x = C.matmul(pinv(a, rcond=rcond), b)
    s = svdvals(a)
    rank = C.sum(s > rcond * C.max(s), axis=-1).astype(np.int64) if C.shape(s)[-1] else np.int64(0)
    if m > n:
        r = b - C.matmul(a, x)
        resid = C.sum(r * r, axis=0)
        if C.ndim(b) == 1:
            resid = C.reshape(resid, (1,))
    else:
        resid = np.zeros((0,), C._dtype(a))
    return x, resid, rank, s


def cond(x, p=None):
    """``np.linalg.cond``: ``s_max / s_min`` for ``p`` None/2/-2, otherwise
    ``norm(x, p) * norm(inv(x), p)``."""
    x = _float("cond", x)
    if p in (None, 2, -2):
        s = svdvals(x)
        r = s[..., 0] / s[..., -1]
        return r if p != -2 else 1 / r
    return norm(x, p, axis=(-2, -1)) * norm(inv(x), p, axis=(-2, -1))


# ----------------------------------------------------------------------------- norms

def _vector_norm(x, ord, axis, keepdims):
    ax = C.abs(x)
    if ord is None or ord == 2:
        return C.sqrt(C.sum(x * x, axis=axis, keepdims=keepdims))
    if ord == np.inf:
        return C.max(ax, axis=axis, keepdims=keepdims)
    if ord == -np.inf:
        return C.min(ax, axis=axis, keepdims=keepdims)
    if ord == 0:
        return C.sum((x != 0).astype(C._dtype(x)), axis=axis, keepdims=keepdims)
    if ord == 1:
        return C.sum(ax, axis=axis, keepdims=keepdims)
    if isinstance(ord, str):
        raise ValueError(f"numpy.linalg.norm: invalid norm order {ord!r} for vectors")
    ord = float(ord)
    return C.sum(ax ** ord, axis=axis, keepdims=keepdims) ** (1.0 / ord)


def _matrix_norm(x, ord, axes, keepdims):
    r, c = axes
    nd = C.ndim(x)
    if ord in (None, "fro", "f"):
        out = C.sqrt(C.sum(x * x, axis=axes, keepdims=keepdims))
        return out
    moved = C.moveaxis(x, (r, c), (nd - 2, nd - 1))
    if ord in (2, -2, "nuc"):
        s = svdvals(moved)
        out = C.max(s, axis=-1) if ord == 2 else C.min(s, axis=-1) if ord == -2 else C.sum(s, axis=-1)
    elif ord in (1, -1):
        col = C.sum(C.abs(moved), axis=-2)
        out = C.max(col, axis=-1) if ord == 1 else C.min(col, axis=-1)
    elif ord in (np.inf, -np.inf):
        row = C.sum(C.abs(moved), axis=-1)
        out = C.max(row, axis=-1) if ord == np.inf else C.min(row, axis=-1)
    else:
        raise ValueError(f"numpy.linalg.norm: invalid norm order {ord!r} for matrices")
    if keepdims:
        out = C.expand_dims(C.expand_dims(out, builtins.min(r, c)), builtins.max(r, c))
    return out


def norm(x, ord=None, axis=None, keepdims=False):
    """``np.linalg.norm``: vector norms (``ord`` None, 2, 1, inf, -inf, 0, or
    any p) over one axis, matrix norms (None/'fro', 'nuc', 1, -1, 2, -2,
    inf, -inf) over two; ``axis=None`` is the 2-norm of the flattened array
    (or the matrix norm of a 2-D one when ``ord`` is given)."""
    x = C._to_float(C.asarray(x))
    nd = C.ndim(x)
    if axis is None:
        if ord is None:
            out = C.sqrt(C.sum(x * x))
            return C.reshape(out, (1,) * nd) if keepdims else out
        if nd == 1:
            axis = (0,)
        elif nd == 2:
            axis = (0, 1)
        else:
            raise ValueError("numpy.linalg.norm: improper number of dimensions to norm")
    axes = tuple(int(a) % nd if nd else 0 for a in (axis if isinstance(axis, (tuple, list)) else (axis,)))
    if len(axes) == 1:
        return _vector_norm(x, ord, axes[0], keepdims)
    if len(axes) == 2:
        if axes[0] == axes[1]:
            raise ValueError("numpy.linalg.norm: duplicate axes given")
        return _matrix_norm(x, ord, axes, keepdims)
    raise ValueError("numpy.linalg.norm: improper number of dimensions to norm")


def vector_norm(x, /, *, axis=None, keepdims=False, ord=2):
    """``np.linalg.vector_norm`` (the array API's): ``axis=None`` flattens."""
    x = C._to_float(C.asarray(x))
    if axis is None:
        out = _vector_norm(C.ravel(x), ord, 0, False)
        return C.reshape(out, (1,) * C.ndim(x)) if keepdims else out
    if isinstance(axis, (tuple, list)):
        nd = C.ndim(x)
        axes = tuple(int(a) % nd for a in axis)
        rest = [i for i in range(nd) if i not in axes]
        moved = C.reshape(C.transpose(x, tuple(rest) + axes), tuple(C.shape(x)[i] for i in rest) + (-1,))
        out = _vector_norm(moved, ord, -1, False)
        if keepdims:
            for a in sorted(axes):
                out = C.expand_dims(out, a)
        return out
    return _vector_norm(x, ord, int(axis), keepdims)


def matrix_norm(x, /, *, keepdims=False, ord="fro"):
    """``np.linalg.matrix_norm`` over the last two axes."""
    x = _float("matrix_norm", x)
    return _matrix_norm(x, ord, (C.ndim(x) - 2, C.ndim(x) - 1), keepdims)


# ----------------------------------------------------------------------------- products

def matrix_power(a, n):
    """``np.linalg.matrix_power`` for a static integer ``n`` (repeated squaring;
    ``n < 0`` inverts first)."""
    a = C.asarray(a)
    if C.ndim(a) < 2 or C.shape(a)[-1] != C.shape(a)[-2]:
        raise ShapeError(f"numpy.linalg.matrix_power: needs square matrices, got {aval_of(a)}")
    if isinstance(n, Tracer) or int(n) != n:
        raise TypeError("numpy.linalg.matrix_power: the exponent must be a static integer")
    n = int(n)
    if n == 0:
        return C.broadcast_to(np.eye(C.shape(a)[-1], dtype=C._dtype(a)), C.shape(a))
    if n < 0:
        a, n = inv(a), -n
    result, base = None, a
    while n:
        if n & 1:
            result = base if result is None else C.matmul(result, base)
        n >>= 1
        if n:
            base = C.matmul(base, base)
    return result


def multi_dot(arrays, *, out=None):
    """``np.linalg.multi_dot``: the chain product in the cheapest order
    (dynamic programming over the static shapes, as NumPy)."""
    if out is not None:
        raise UnsupportedError("numpy.linalg.multi_dot: out= is not supported on traced arrays")
    arrays = [C.asarray(a) for a in arrays]
    if len(arrays) < 2:
        raise ValueError("numpy.linalg.multi_dot: expecting at least two arrays")
    first_vec, last_vec = C.ndim(arrays[0]) == 1, C.ndim(arrays[-1]) == 1
    if first_vec:
        arrays[0] = C.reshape(arrays[0], (1, -1))
    if last_vec:
        arrays[-1] = C.reshape(arrays[-1], (-1, 1))
    for a in arrays:
        if C.ndim(a) != 2:
            raise ShapeError(f"numpy.linalg.multi_dot: arrays must be 2-D (the first and last may be 1-D), "
                             f"got {aval_of(a)}")
    dims = [C.shape(arrays[0])[0]] + [C.shape(a)[1] for a in arrays]
    k = len(arrays)
    cost = [[0] * k for _ in range(k)]
    split = [[0] * k for _ in range(k)]
    for length in range(1, k):
        for i in range(k - length):
            j = i + length
            cost[i][j] = None
            for s in range(i, j):
                c = cost[i][s] + cost[s + 1][j] + dims[i] * dims[s + 1] * dims[j + 1]
                if cost[i][j] is None or c < cost[i][j]:
                    cost[i][j], split[i][j] = c, s

    def build(i, j):
        if i == j:
            return arrays[i]
        return C.matmul(build(i, split[i][j]), build(split[i][j] + 1, j))

    r = build(0, k - 1)
    if first_vec and last_vec:
        return C.reshape(r, ())
    if first_vec:
        return C.reshape(r, (-1,))
    if last_vec:
        return C.reshape(r, (-1,))
    return r


def matrix_transpose(x, /):
    """``np.linalg.matrix_transpose``: swap the last two axes."""
    x = C.asarray(x)
    if C.ndim(x) < 2:
        raise ShapeError(f"numpy.linalg.matrix_transpose: needs at least 2 dimensions, got {aval_of(x)}")
    return C.swapaxes(x, -1, -2)


def outer(x1, x2, /):
    """``np.linalg.outer``: 1-D operands only."""
    if C.ndim(x1) != 1 or C.ndim(x2) != 1:
        raise ShapeError("numpy.linalg.outer: needs 1-D operands")
    return C.outer(x1, x2)


def cross(x1, x2, /, *, axis=-1):
    """``np.linalg.cross``: 3-vectors only."""
    if C.shape(x1)[axis] != 3 or C.shape(x2)[axis] != 3:
        raise ShapeError("numpy.linalg.cross: needs vectors of 3 elements along axis")
    return _shapes.cross(x1, x2, axis=axis)


def diagonal(x, /, *, offset=0):
    """``np.linalg.diagonal``: over the last two axes."""
    return _shapes.diagonal(x, offset, -2, -1)


def trace(x, /, *, offset=0, dtype=None):
    """``np.linalg.trace``: over the last two axes."""
    return _shapes.trace(x, offset, -2, -1, dtype)


def matmul(x1, x2, /):
    return C.matmul(x1, x2)


def tensordot(x1, x2, /, *, axes=2):
    return C.tensordot(x1, x2, axes)


def vecdot(x1, x2, /, *, axis=-1):
    """``np.linalg.vecdot``: ``sum(x1 * x2, axis)`` (real inputs)."""
    return C.sum(C.multiply(x1, x2), axis=axis)


def _unsupported(name, why):
    def f(*args, **kwargs):
        on = ", ".join(str(aval_of(a)) for a in args if isinstance(a, (Tracer, np.ndarray)))
        raise UnsupportedError(f"numpy.linalg.{name} is not supported by funcgrad (called on {on}): {why}")
    f.__name__ = name
    return f


eig = _unsupported("eig", "its results are complex; for symmetric matrices use eigh")
eigvals = _unsupported("eigvals", "its results are complex; for symmetric matrices use eigvalsh")
tensorsolve = _unsupported("tensorsolve", "reshape to a matrix and use solve")
tensorinv = _unsupported("tensorinv", "reshape to a matrix and use inv")
