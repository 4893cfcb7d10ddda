"""Batching rules of the matrix decompositions: they already work on stacks
of matrices, so the batch axis joins the stack (moved first). A triangular
solve (or product) with one shared matrix and batched right-hand sides is one
solve with more columns: the batch is merged into ``b``'s last axis."""
from __future__ import annotations

from ...core.trace import aval_of
from ...primitives import reshape
from ...primitives.decompositions import (cholesky_p, eigh_p, lu_p, qr_p, svd_p, triangular_matmul_p,
                                          triangular_solve_p)
from . import batch_rules, moveaxis, to_front

__all__ = []


def _stacked(prim):
    def rule(axis_size, args, dims, **params):
        (x,), (d,) = args, dims
        out = prim.bind(moveaxis(x, d, 0), **params)
        return out, ([0] * len(out) if prim.multiple_results else 0)

    rule.__name__ = f"_{prim.name}_batch"
    return rule


def _triangular(prim):
    def rule(axis_size, args, dims, **params):
        (a, b), (da, db) = args, dims
        if da is None:                       # (.., N, B, K) -> (.., N, B*K): one solve
            nd = aval_of(b).ndim - 1         # the unbatched rank
            b = moveaxis(b, db, nd - 1)
            s = tuple(aval_of(b).shape)
            out = prim.bind(a, reshape(b, s[:-2] + (s[-2] * s[-1],)), **params)
            return reshape(out, s), nd - 1
        return prim.bind(moveaxis(a, da, 0), to_front(b, db, axis_size), **params), 0

    rule.__name__ = f"_{prim.name}_batch"
    return rule


for _p in (cholesky_p, lu_p, eigh_p, svd_p, qr_p):
    batch_rules[_p] = _stacked(_p)
for _p in (triangular_solve_p, triangular_matmul_p):
    batch_rules[_p] = _triangular(_p)
del _p
