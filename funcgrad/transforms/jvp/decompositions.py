"""JVP rules of the matrix decompositions (:mod:`funcgrad.primitives.decompositions`).

Each rule is the primal call plus a *tangent map*: ``TANGENT_MAPS[prim]
(operands, outputs, tangents, **params) -> output tangents``, linear in
the tangents, written with primitives (so it is traced, compiled and
differentiated again like any program). The VJP rules
(:mod:`funcgrad.transforms.vjp.decompositions`) are these maps transposed.

The formulas are the standard matrix-calculus ones (Murray 2016 for
Cholesky; Giles 2008 for the rest), with ``sym(dA) = tril(dA) +
tril(dA, -1)^T`` for the primitives that read one triangle:

- ``cholesky``: ``dL = L Phi(L^-1 sym(dA) L^-T)``, ``Phi`` the lower
  triangle with the diagonal halved.
- ``triangular_solve``: ``dX = op(A)^-1 (dB - op(dA) X)``, ``dA`` masked
  to the triangle that is read.
- ``triangular_matmul``: ``d(op(A) B) = op(dA) B + op(A) dB`` (each product
  reads the triangle, so ``dA`` needs no mask).
- ``lu``: with ``x = L^-1 P^T dA U^-1``: ``dL = L tril(x, -1)``,
  ``dU = triu(x) U``.
- ``eigh``: with ``M = V^T sym(dA) V``: ``dw = diag(M)``,
  ``dV = V (F * M)``, ``F[i, j] = 1 / (w[j] - w[i])`` off the diagonal.
  Repeated eigenvalues make ``F`` infinite: the eigenvectors' derivative
  is then undefined (NaN or inf), as in JAX; the eigenvalues' is fine.
- ``svd`` (``full_matrices=False``, or square matrices): JAX's formula,
  with the terms for the part of the space that ``u`` (or ``v``) does not
  span when ``M != N``. Repeated singular values: as for ``eigh``. Zero
  singular values: their ``1/s`` terms are taken as 0.
- ``qr`` (``M >= N``, or square with ``full_matrices``): with
  ``C = Q^T dA R^-1``, ``dQ = Q (O - C) + dA R^-1``, ``dR = (C - O) R``,
  ``O = tril(C, -1) - tril(C, -1)^T``.
"""
from __future__ import annotations

import numpy as np

from ...core.trace import aval_of
from ...errors import UnsupportedError
from ...primitives import add, broadcast_to, div, eq, matmul, mul, neg, select, sub
from ...primitives.decompositions import (cholesky_p, eigh_p, lu_p, qr_p, svd_p, triangular_matmul,
                                          triangular_matmul_p, triangular_solve, triangular_solve_p)
from ...primitives.decompositions import (_cols, _rows, _shape, diag_part, eye_like, mT,  # noqa: F401
                                          permute_rows, tril, triu)
from . import instantiate, jvp_rules

__all__ = ["TANGENT_MAPS"]


def _sym(da):
    return add(tril(da), mT(tril(da, -1)))


def _solve_right(x, r, lower):
    """``x r^-1`` for a triangular ``r``: ``r^T y^T = x^T``."""
    return mT(triangular_solve(r, mT(x), lower=lower, transpose_a=True))


# ----------------------------------------------------------------------------- tangent maps

def _cholesky_tangent(operands, outs, tangents):
    (L,), (da,) = outs, tangents
    tmp = triangular_solve(L, _sym(da), lower=True)                  # L^-1 sym(dA)
    x = triangular_solve(L, mT(tmp), lower=True)                     # L^-1 sym(dA) L^-T (symmetric)
    phi = sub(tril(x), mul(mul(x, eye_like(x)), np.asarray(0.5, aval_of(x).dtype)))
    return [triangular_matmul(L, phi, lower=True)]                    # L Phi (both lower triangular)


def _triangular_solve_tangent(operands, outs, tangents, *, lower, transpose_a, unit_diagonal):
    (a, _), (x,), (da, db) = operands, outs, tangents
    rhs = db                                              # dB - op(dA) X, either term a symbolic zero
    if da is not None:
        dm = tril(da) if lower else triu(da)
        if unit_diagonal:
            dm = sub(dm, mul(dm, eye_like(dm)))
        term = matmul(dm, x, transpose_a=transpose_a)
        rhs = neg(term) if db is None else sub(db, term)
    if rhs is None:
        return [None]
    return [triangular_solve(a, rhs, lower=lower, transpose_a=transpose_a, unit_diagonal=unit_diagonal)]


def _triangular_matmul_tangent(operands, outs, tangents, *, lower, transpose_a):
    (a, b), (da, db) = operands, tangents
    terms = ([triangular_matmul(da, b, lower, transpose_a)] if da is not None else []) + \
            ([triangular_matmul(a, db, lower, transpose_a)] if db is not None else [])
    if not terms:
        return [None]
    return [terms[0] if len(terms) == 1 else add(terms[0], terms[1])]


def _lu_tangent(operands, outs, tangents):
    (lu, _, perm), (da,) = outs, tangents
    l_ = add(tril(lu, -1), eye_like(lu))
    u = triu(lu)
    t = triangular_solve(lu, permute_rows(da, perm), lower=True, unit_diagonal=True)   # L^-1 P^T dA
    x = _solve_right(t, u, lower=False)                                                   # ... U^-1
    return [add(matmul(l_, tril(x, -1)), matmul(triu(x), u)), None, None]


def _eigh_tangent(operands, outs, tangents):
    (w, v), (da,) = outs, tangents
    m = matmul(matmul(v, _sym(da), transpose_a=True), v)              # V^T sym(dA) V
    eye = eye_like(m)
    gaps = add(sub(_rows(w, m), _cols(w, m)), eye)                    # w[j] - w[i], 1 on the diagonal
    f = sub(div(np.asarray(1, aval_of(w).dtype), gaps), eye)
    return [diag_part(m), matmul(v, mul(f, m))]


def _svd_parts(a, outs, full_matrices, compute_uv):
    if compute_uv:
        return outs
    from ...primitives.decompositions import svd
    return svd(a, full_matrices=False)


def _svd_tangent(operands, outs, tangents, *, full_matrices, compute_uv):
    (a,), (da,) = operands, tangents
    m_, n_ = _shape(a)[-2:]
    if compute_uv and full_matrices and m_ != n_:
        raise UnsupportedError(f"svd: the derivative of full_matrices=True needs square matrices (as in "
                               f"JAX), got {aval_of(a)}; use full_matrices=False")
    u, s, vt = _svd_parts(a, outs, full_matrices, compute_uv)
    dt = aval_of(s).dtype
    ds_mat = matmul(matmul(u, da, transpose_a=True), vt, transpose_b=True)     # U^T dA V
    ds = diag_part(ds_mat)
    if not compute_uv:
        return [ds]
    s_row, s_col = _rows(s, ds_mat), _cols(s, ds_mat)
    eye = eye_like(ds_mat)
    diffs = mul(add(s_row, s_col), sub(s_row, s_col))                # s_j^2 - s_i^2
    f = sub(div(np.asarray(1, dt), add(diffs, eye)), eye)
    dss = mul(ds_mat, s_row)                                          # dS diag(s)
    sds = mul(s_col, ds_mat)                                          # diag(s) dS
    du = matmul(u, mul(f, add(dss, mT(dss))))
    dv = matmul(vt, mul(f, add(sds, mT(sds))), transpose_a=True)
    zero_s = eq(s, np.asarray(0, dt))
    s_safe = select(zero_s, broadcast_to(np.asarray(1, dt), _shape(s)), s)
    inv_s = select(zero_s, broadcast_to(np.asarray(0, dt), _shape(s)), div(np.asarray(1, dt), s_safe))
    if m_ > n_:                                                       # (I - U U^T) dA V / s
        dav = matmul(da, vt, transpose_b=True)
        du = add(du, mul(sub(dav, matmul(u, matmul(u, dav, transpose_a=True))), _rows(inv_s, dav)))
    if n_ > m_:                                                       # (I - V V^T) dA^T U / s
        dau = matmul(da, u, transpose_a=True)
        dv = add(dv, mul(sub(dau, matmul(vt, matmul(vt, dau), transpose_a=True)), _rows(inv_s, dau)))
    return [du, ds, mT(dv)]


def _qr_tangent(operands, outs, tangents, *, full_matrices):
    (a,), (q, r), (da,) = operands, outs, tangents
    m_, n_ = _shape(a)[-2:]
    if m_ < n_ or (full_matrices and m_ != n_):
        raise UnsupportedError(f"qr: the derivative needs M >= N (and square matrices for "
                               f"mode='complete'), as in JAX; got {aval_of(a)}")
    da_rinv = _solve_right(da, r, lower=False)                        # dA R^-1
    c = matmul(q, da_rinv, transpose_a=True)                          # Q^T dA R^-1
    low = tril(c, -1)
    o = sub(low, mT(low))
    return [add(matmul(q, sub(o, c)), da_rinv), matmul(sub(c, o), r)]


TANGENT_MAPS = {
    cholesky_p: _cholesky_tangent,
    triangular_solve_p: _triangular_solve_tangent,
    triangular_matmul_p: _triangular_matmul_tangent,
    lu_p: _lu_tangent,
    eigh_p: _eigh_tangent,
    svd_p: _svd_tangent,
    qr_p: _qr_tangent,
}

# the operands a tangent map needs instantiated (the others it handles as symbolic zeros)
_SPARSE = {triangular_solve_p, triangular_matmul_p}


def _rule(prim):
    tangent_map = TANGENT_MAPS[prim]

    def rule(primals, tangents, **params):
        out = prim.bind(*primals, **params)
        outs = list(out) if prim.multiple_results else [out]
        if all(t is None for t in tangents):
            return out, ([None] * len(outs) if prim.multiple_results else None)
        if prim not in _SPARSE:
            tangents = [instantiate(t, p) for t, p in zip(tangents, primals)]
        touts = tangent_map(list(primals), outs, list(tangents), **params)
        return out, (touts if prim.multiple_results else touts[0])

    rule.__name__ = f"_{prim.name}_jvp"
    return rule


for _p in TANGENT_MAPS:
    jvp_rules[_p] = _rule(_p)
del _p
