"""VJP rules of the matrix decompositions: the transposes of their tangent
maps (:data:`funcgrad.transforms.jvp.decompositions.TANGENT_MAPS`).

A tangent map is linear in the tangents and written with primitives whose
own VJP rules exist (matmul, triangular solves, masks, gathers), so its
transpose is its backward pass: the map is traced over the tangents (the
operands and outputs enter as constants), and ``backward_pass`` at zero
tangents pulls the cotangents back. One formula per decomposition serves
both modes, and the backward program is made of primitives, so it can be
differentiated again (Hessians through ``cholesky`` or ``eigh``).

``triangular_solve`` and ``triangular_matmul`` are the exceptions, and the
base of the others: their tangent maps are themselves a solve (a product)
with the tangent, so their transposes are written out (a solve or a product
with the transposed matrix).
"""
from __future__ import annotations

from ...core.ir import ShapedArray
from ...core.trace import aval_of, trace_flat
from ...primitives import matmul, mul, neg, sub
from ...primitives.decompositions import (triangular_matmul, triangular_matmul_p, triangular_solve,
                                          triangular_solve_p)
from ..jvp.decompositions import TANGENT_MAPS, eye_like, tril, triu
from . import _zeros, backward_pass, vjp_rules

__all__ = []


def _float(aval) -> bool:
    return aval.dtype.kind == "f"


def _transposed(prim):
    tangent_map = TANGENT_MAPS[prim]

    def rule(cts, *operands, out, **params):
        outs = list(out) if prim.multiple_results else [out]
        cts = list(cts) if prim.multiple_results else [cts]
        avals = [ShapedArray(aval_of(x).shape, aval_of(x).dtype) for x in operands]
        diff = [i for i, a in enumerate(avals) if _float(a)]
        out_avals = [aval_of(o) for o in outs]
        float_outs = [i for i, a in enumerate(out_avals) if _float(a)]

        def linear(*ts):
            tangents = [None] * len(operands)
            for i, t in zip(diff, ts):
                tangents[i] = t
            touts = tangent_map(list(operands), outs, tangents, **params)
            return [touts[i] if touts[i] is not None else _zeros(out_avals[i]) for i in float_outs]

        program = trace_flat(linear, [avals[i] for i in diff])
        _, grads = backward_pass(program, [_zeros(avals[i]) for i in diff], list(range(len(diff))),
                                 [cts[i] for i in float_outs])
        result = [None] * len(operands)
        for i, g in zip(diff, grads):
            result[i] = g
        return tuple(result)

    rule.__name__ = f"_{prim.name}_vjp"
    return rule


def _triangular_solve_vjp(ct, a, b, *, out, lower, transpose_a, unit_diagonal):
    # B^ = op(A)^-T X^ ; A^ = the read triangle of -B^ X^T (or -X B^T for op = transpose)
    ct_b = triangular_solve(a, ct, lower=lower, transpose_a=not transpose_a, unit_diagonal=unit_diagonal)
    ct_a = None
    if aval_of(a).dtype.kind == "f":
        full = neg(matmul(out, ct_b, transpose_b=True) if transpose_a else matmul(ct_b, out, transpose_b=True))
        ct_a = tril(full) if lower else triu(full)
        if unit_diagonal:
            ct_a = sub(ct_a, mul(ct_a, eye_like(ct_a)))
    return ct_a, ct_b


def _triangular_matmul_vjp(ct, a, b, *, out, lower, transpose_a):
    # B^ = op(A)^T Y^ ; A^ = the read triangle of Y^ B^T (or B Y^T for op = transpose)
    ct_b = triangular_matmul(a, ct, lower=lower, transpose_a=not transpose_a)
    ct_a = None
    if aval_of(a).dtype.kind == "f":
        full = matmul(b, ct, transpose_b=True) if transpose_a else matmul(ct, b, transpose_b=True)
        ct_a = tril(full) if lower else triu(full)
    return ct_a, ct_b


for _p in TANGENT_MAPS:
    vjp_rules[_p] = _transposed(_p)
vjp_rules[triangular_solve_p] = _triangular_solve_vjp
vjp_rules[triangular_matmul_p] = _triangular_matmul_vjp
del _p
