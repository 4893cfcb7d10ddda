"""``einsum`` by reduction to transposes, sums and batched matmuls.

Operands are contracted left to right. For each pair, every index is
classified as batch (in both operands and kept), contracted (in both, not
kept further), or free (in one operand only); the pair becomes one
``matmul`` of shape ``(batch, free_a, contracted) @ (batch, contracted, free_b)``.
Indices that appear in one operand only and nowhere else are summed first.
"""
from __future__ import annotations

import numpy as np

from ..errors import ShapeError, UnsupportedError
from . import _core as fnp


def _parse(subscripts, n):
    subscripts = subscripts.replace(" ", "")
    if "." in subscripts:
        raise UnsupportedError("einsum: ellipsis ('...') subscripts are not supported")
    if "->" in subscripts:
        lhs, out = subscripts.split("->")
    else:
        lhs = subscripts
        letters = lhs.replace(",", "")
        out = "".join(sorted(c for c in set(letters) if letters.count(c) == 1))
    ins = lhs.split(",")
    if len(ins) != n:
        raise ShapeError(f"einsum: {len(ins)} operand subscripts for {n} operands in {subscripts!r}")
    for s in ins:
        if len(set(s)) != len(s):
            raise UnsupportedError(f"einsum: repeated index within one operand ({s!r}: traces and "
                                   "diagonals) is not supported")
    return ins, out


def einsum(subscripts, *operands):
    ins, out = _parse(subscripts, len(operands))
    ops = list(fnp._promote(*operands))
    sizes = {}
    for s, op in zip(ins, ops):
        if len(s) != fnp.ndim(op):
            raise ShapeError(f"einsum: subscripts {s!r} for an operand of {fnp.ndim(op)} dimensions")
        for c, d in zip(s, fnp.shape(op)):
            if sizes.setdefault(c, d) != d:
                raise ShapeError(f"einsum: index {c!r} has sizes {sizes[c]} and {d}")

    def needed_later(i):
        return set(out).union(*[set(s) for s in ins[i + 1:]])

    def sum_private(s, op, keep):
        drop = [k for k, c in enumerate(s) if c not in keep]
        if drop:
            op = fnp.sum(op, axis=tuple(drop))
            s = "".join(c for c in s if c not in set(s[k] for k in drop))
        return s, op

    acc_s, acc = sum_private(ins[0], ops[0], needed_later(0) | set(ins[1] if len(ins) > 1 else ""))
    for i in range(1, len(ins)):
        s, op = ins[i], ops[i]
        keep = needed_later(i)
        s, op = sum_private(s, op, keep | set(acc_s))
        acc_s, acc = sum_private(acc_s, acc, keep | set(s))
        batch = [c for c in acc_s if c in s and c in keep]
        contract = [c for c in acc_s if c in s and c not in keep]
        free_a = [c for c in acc_s if c not in s]
        free_b = [c for c in s if c not in acc_s]
        a = fnp.transpose(acc, [acc_s.index(c) for c in batch + free_a + contract])
        b = fnp.transpose(op, [s.index(c) for c in batch + contract + free_b])

        def prod(cs):
            return int(np.prod([sizes[c] for c in cs]))

        bs = tuple(sizes[c] for c in batch)
        a = fnp.reshape(a, bs + (prod(free_a), prod(contract)))
        b = fnp.reshape(b, bs + (prod(contract), prod(free_b)))
        r = fnp.matmul(a, b)
        acc = fnp.reshape(r, bs + tuple(sizes[c] for c in free_a) + tuple(sizes[c] for c in free_b))
        acc_s = "".join(batch + free_a + free_b)
    acc_s, acc = sum_private(acc_s, acc, set(out))
    for c in out:
        if c not in acc_s:
            raise ShapeError(f"einsum: output index {c!r} does not appear in the inputs")
    return fnp.transpose(acc, [acc_s.index(c) for c in out]) if acc_s != out else acc
