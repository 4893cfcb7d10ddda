"""``einsum`` by reduction to transposes, sums and batched matmuls.

Operands are contracted left to right. For each pair, every index is
classified as batch (in both operands and kept), contracted (in both, not
kept further), or free (in one operand only); the pair becomes one
``matmul`` of shape ``(batch, free_a, contracted) @ (batch, contracted, free_b)``.
Indices that appear in one operand only and nowhere else are summed first.
An index repeated within one operand (``'ii->i'``, ``'ii'``) first takes the
diagonal (a product with an identity mask, then a sum); ``...`` becomes
letters of its own, right-aligned as NumPy broadcasts them, and dimensions of
size 1 broadcast against the other operands.
"""
from __future__ import annotations

import numpy as np

from ..core.trace import aval_of
from ..errors import ShapeError
from . import _core as fnp


def _parse(subscripts, ndims):
    """Subscripts for each operand and the output, with ``...`` replaced by
    letters of their own (right-aligned, as NumPy broadcasts them)."""
    subscripts = subscripts.replace(" ", "")
    n = len(ndims)
    if "->" in subscripts:
        lhs, out = subscripts.split("->")
    else:
        lhs, out = subscripts, None
    ins = lhs.split(",")
    if len(ins) != n:
        raise ShapeError(f"einsum: {len(ins)} operand subscripts for {n} operands in {subscripts!r}")
    for s in ins + ([out] if out is not None else []):
        if s.count("...") > 1 or s.replace("...", "").count("."):
            raise ShapeError(f"einsum: invalid ellipsis in subscripts {s!r}")
    used = set(lhs) | set(out or "")
    free = [c for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz" if c not in used]
    n_ell = 0
    for s, nd in zip(ins, ndims):
        if "..." in s:
            n_ell = max(n_ell, nd - (len(s) - 3))
    ell = "".join(free[:n_ell])
    expanded = []
    for s, nd in zip(ins, ndims):
        if "..." in s:
            k = nd - (len(s) - 3)
            if k < 0:
                raise ShapeError(f"einsum: subscripts {s!r} for an operand of {nd} dimensions")
            s = s.replace("...", ell[n_ell - k:])
        expanded.append(s)
    if out is None:
        letters = "".join(expanded).replace(",", "")
        singles = "".join(sorted(c for c in set(letters) if letters.count(c) == 1 and c not in ell))
        out = ell + singles
    else:
        if "..." not in out and n_ell:
            raise ShapeError(f"einsum: the operands have ellipsis dimensions but the output {out!r} has no "
                             "'...' to put them in")
        out = out.replace("...", ell)
    if len(set(out)) != len(out):
        raise ShapeError(f"einsum: output subscript {out!r} repeats an index")
    return expanded, out


def _diagonal(s, op):
    """Take the diagonal of every index repeated within one operand's
    subscripts (``'ii' -> 'i'``), so that each index appears once."""
    while len(set(s)) != len(s):
        c = next(c for c in s if s.count(c) > 1)
        p = s.index(c)
        q = s.index(c, p + 1)
        shape = fnp.shape(op)
        if shape[p] != shape[q]:
            raise ShapeError(f"einsum: index {c!r} has sizes {shape[p]} and {shape[q]} in subscripts {s!r}")
        mask_shape = [1] * len(shape)
        mask_shape[p] = mask_shape[q] = shape[p]
        mask = np.eye(shape[p], dtype=fnp._dtype(op)).reshape(mask_shape)
        op = fnp.sum(fnp.multiply(op, mask), axis=q)
        s = s[:q] + s[q + 1:]
    return s, op


def einsum(subscripts, *operands):
    ops = list(fnp._promote(*operands))
    ins, out = _parse(subscripts, [fnp.ndim(op) for op in ops])
    for k, (s, op) in enumerate(zip(ins, ops)):
        if len(s) != fnp.ndim(op):
            raise ShapeError(f"einsum: subscripts {s!r} for an operand of {fnp.ndim(op)} dimensions "
                             f"({aval_of(op)})")
        ins[k], ops[k] = _diagonal(s, op)
    sizes = {}
    for s, op in zip(ins, ops):
        for c, d in zip(s, fnp.shape(op)):
            if sizes.get(c, 1) == 1:
                sizes[c] = d
            elif d not in (1, sizes[c]):
                raise ShapeError(f"einsum: index {c!r} has sizes {sizes[c]} and {d} "
                                 f"(operands {', '.join(str(aval_of(o)) for o in ops)})")
    # size-1 dimensions broadcast against the others (NumPy allows it for every index)
    for k, (s, op) in enumerate(zip(ins, ops)):
        target = tuple(sizes[c] for c in s)
        if fnp.shape(op) != target:
            ops[k] = fnp.broadcast_to(op, target)

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
