"""``einsum`` by reduction to transposes, sums and batched matmuls.

Both of NumPy's forms are read into one list of labels per operand (and for
the output): the subscripts string ``einsum('ij,jk->ik', a, b)`` and the
interleaved sublist form ``einsum(a, [0, 1], b, [1, 2], [0, 2])``, whose
integer labels 0..51 stand for the letters A-Z, a-z as in NumPy's C einsum
(so the implicit output is ordered the same way in both forms). ``...``
(``Ellipsis`` in a sublist) becomes labels of its own, right-aligned as NumPy
broadcasts them.

Operands are contracted left to right. For each pair, every index is
classified as batch (in both operands and kept), contracted (in both, not
kept further), or free (in one operand only); the pair becomes one
``matmul`` of shape ``(batch, free_a, contracted) @ (batch, contracted, free_b)``.
Indices that appear in one operand only and nowhere else are summed first.
An index repeated within one operand (``'ii->i'``, ``'ii'``) first takes the
diagonal (a product with an identity mask, then a sum); dimensions of size 1
broadcast against the other operands.
"""
from __future__ import annotations

import operator

import numpy as np

from ..core.trace import Tracer, aval_of
from ..errors import DtypeError, InputError, ShapeError, UnsupportedError
from . import _core as fnp

_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"   # sublist label k is _LETTERS[k]
_ELLIPSIS = object()          # the '...' token while parsing
_ELL_BASE = 0xE000            # labels of the '...' dimensions: private-use characters, never letters
_CASTINGS = ("no", "equiv", "safe", "same_kind", "unsafe")
_ORDERS = ("C", "F", "A", "K")


def _is_ell(c):
    return ord(c) >= _ELL_BASE


def _describe(x):
    if isinstance(x, Tracer):
        return f"a traced array {x.aval}"
    if isinstance(x, np.ndarray):
        return f"an array {aval_of(x)}"
    return f"{type(x).__name__} {x!r}"


# ----------------------------------------------------------------------------- the subscripts string

def _string_terms(subscripts, n_ops):
    """Tokens (letters and ``_ELLIPSIS``) of each operand and of the output
    (None when implicit) from a subscripts string."""
    spec = subscripts.replace(" ", "")
    parts = spec.split("->")
    if len(parts) > 2:
        raise ShapeError(f"einsum: subscripts {subscripts!r} contain more than one '->'")
    lhs, out = parts if len(parts) == 2 else (parts[0], None)
    terms = lhs.split(",")
    if len(terms) != n_ops:
        raise ShapeError(f"einsum: subscripts {subscripts!r} name {len(terms)} operand"
                         f"{'s' if len(terms) != 1 else ''} but {n_ops} operand"
                         f"{'s were' if n_ops != 1 else ' was'} given")

    def tokens(term, where):
        toks, i = [], 0
        while i < len(term):
            c = term[i]
            if term.startswith("...", i):
                if _ELLIPSIS in toks:
                    raise ShapeError(f"einsum: more than one '...' in {where} of subscripts {subscripts!r}")
                toks.append(_ELLIPSIS)
                i += 3
                continue
            if c == ".":
                raise ShapeError(f"einsum: subscripts {subscripts!r} contain a '.' that is not part of an "
                                 f"ellipsis '...' in {where}")
            if c in "->":
                raise ShapeError(f"einsum: subscripts {subscripts!r} contain a {c!r} that is not part of "
                                 "a proper '->' before the output")
            if c not in _LETTERS:
                raise ShapeError(f"einsum: invalid subscript {c!r} in {where} of {subscripts!r}: "
                                 "subscripts must be ASCII letters (or '...')")
            toks.append(c)
            i += 1
        return toks

    ins = [tokens(t, f"operand {k}") for k, t in enumerate(terms)]
    return ins, (tokens(out, "the output") if out is not None else None)


# ----------------------------------------------------------------------------- the sublist form

def _sublist_tokens(sub, where):
    """Tokens of one sublist: integer labels 0..51 as letters, and ``_ELLIPSIS``."""
    if isinstance(sub, np.ndarray) and sub.ndim == 1 and (sub.dtype.kind in "iu" or sub.size == 0):
        sub = sub.tolist()
    if not isinstance(sub, (list, tuple)):
        raise InputError(f"einsum: the subscripts of {where} must be a list or a tuple of integer labels "
                         f"(or Ellipsis), got {_describe(sub)}")
    toks = []
    for item in sub:
        if item is Ellipsis:
            if _ELLIPSIS in toks:
                raise ShapeError(f"einsum: more than one Ellipsis in the sublist of {where} {list(sub)}")
            toks.append(_ELLIPSIS)
            continue
        try:
            if isinstance(item, (bool, np.bool_)):
                raise TypeError
            label = operator.index(item)
        except TypeError:
            raise InputError(f"einsum: label {item!r} ({type(item).__name__}) in the sublist of {where} is "
                             "not an integer: labels are integers in [0, 52) or Ellipsis") from None
        if not 0 <= label < len(_LETTERS):
            raise ShapeError(f"einsum: label {label} in the sublist of {where} is not within the valid "
                             f"range [0, {len(_LETTERS)})")
        toks.append(_LETTERS[label])
    return toks


def _sublist_terms(args):
    """Operands and tokens from ``operand, sublist, operand, sublist, ...,
    [output sublist]``."""
    n = len(args) // 2
    if n == 0:
        raise ShapeError("einsum: needs a subscripts string and operands, or operand, sublist pairs "
                         f"(the sublist form), got {len(args)} argument{'s' if len(args) != 1 else ''}")
    ops = list(args[0:2 * n:2])
    ins = []
    for k in range(n):
        sub = args[2 * k + 1]
        if isinstance(sub, str):
            raise InputError(f"einsum: the subscripts of operand {k} are a string ({sub!r}); the "
                             "subscripts string goes first: einsum('ij,jk->ik', a, b)")
        if isinstance(sub, Tracer):
            raise InputError(f"einsum: got {_describe(sub)} where the subscripts of operand {k} belong: the "
                             "sublist form is einsum(operand, sublist, operand, sublist, ..., [output sublist])")
        ins.append(_sublist_tokens(sub, f"operand {k}"))
    out = None
    if len(args) % 2:
        last = args[-1]
        if isinstance(last, (Tracer, np.generic, int, float, complex)) or (
                isinstance(last, np.ndarray) and not (last.ndim == 1 and last.dtype.kind in "iu")):
            raise InputError(f"einsum: the last of an odd number of arguments ({len(args)}) is read as the "
                             f"output sublist, but it is {_describe(last)}: the sublist form takes operand, "
                             "sublist pairs, then optionally the output sublist")
        out = _sublist_tokens(last, "the output")
    return ops, ins, out


# ----------------------------------------------------------------------------- both forms

def _expand(ins, out, ops, name):
    """Replace ``...`` by labels of their own (right-aligned), check the
    number of subscripts of each operand, and make the implicit output
    explicit; the labels are strings of one-character labels."""
    n_ell, ks = 0, []
    for k, (toks, op) in enumerate(zip(ins, ops)):
        nd = fnp.ndim(op)
        named = sum(1 for t in toks if t is not _ELLIPSIS)
        if named > nd:
            raise ShapeError(f"einsum: too many subscripts for operand {k}: {name(toks)} for an operand of "
                             f"{nd} dimension{'s' if nd != 1 else ''} ({aval_of(op)})")
        if _ELLIPSIS not in toks and named < nd:
            raise ShapeError(f"einsum: operand {k} has {nd} dimensions ({aval_of(op)}) but its subscripts "
                             f"{name(toks)} name {named} subscript{'s' if named != 1 else ''} and have no "
                             "'...' for the rest")
        ks.append(nd - named if _ELLIPSIS in toks else 0)
        n_ell = max(n_ell, ks[-1])
    ell = "".join(chr(_ELL_BASE + i) for i in range(n_ell))
    expanded = []
    for toks, k in zip(ins, ks):
        expanded.append("".join(ell[n_ell - k:] if t is _ELLIPSIS else t for t in toks))
    used = set("".join(expanded))
    if out is None:
        letters = "".join(expanded)
        return expanded, ell + "".join(sorted(c for c in used if letters.count(c) == 1 and not _is_ell(c)))
    seen = set()
    for t in out:
        if t is _ELLIPSIS:
            continue
        if t not in used:
            raise ShapeError(f"einsum: output {name([t], single=True)} does not appear in any input")
        if t in seen:
            raise ShapeError(f"einsum: output {name([t], single=True)} appears more than once")
        seen.add(t)
    if _ELLIPSIS not in out and n_ell:
        raise ShapeError(f"einsum: the operands' '...' stands for {n_ell} dimension{'s' if n_ell != 1 else ''} "
                         f"but the output {name(out)} has no '...' to hold them")
    return expanded, "".join(ell if t is _ELLIPSIS else t for t in out)


def _namer(sublist):
    """How error messages show labels: as the user wrote them."""
    def name(toks, single=False):
        if sublist:
            shown = [Ellipsis if t is _ELLIPSIS else _LETTERS.index(t) for t in toks]
            return f"label {shown[0]}" if single else str(shown)
        s = "".join("..." if t is _ELLIPSIS else t for t in toks)
        return f"subscript {s!r}" if single else repr(s)

    def label(c):
        if _is_ell(c):
            return None
        return f"label {_LETTERS.index(c)}" if sublist else f"label {c!r}"
    return name, label


def _diagonal(s, op, k, label):
    """Take the diagonal of every index repeated within one operand's
    subscripts (``'ii' -> 'i'``), so that each index appears once."""
    while len(set(s)) != len(s):
        c = next(c for c in s if s.count(c) > 1)
        p = s.index(c)
        q = s.index(c, p + 1)
        shape = fnp.shape(op)
        if shape[p] != shape[q]:
            raise ShapeError(f"einsum: {label(c)} has sizes {shape[p]} and {shape[q]} in operand {k} "
                             f"({aval_of(op)}): a repeated label takes a diagonal, which needs equal sizes")
        mask_shape = [1] * len(shape)
        mask_shape[p] = mask_shape[q] = shape[p]
        mask = np.eye(shape[p], dtype=fnp._dtype(op)).reshape(mask_shape)
        op = fnp.sum(fnp.multiply(op, mask), axis=q, dtype=fnp._dtype(op))
        s = s[:q] + s[q + 1:]
    return s, op


def _check_options(out, optimize, order, casting):
    if out is not None:
        raise UnsupportedError("einsum: the out= argument is not supported (arrays are immutable); use the "
                               "returned array")
    if not (optimize is None or isinstance(optimize, (bool, np.bool_)) or optimize in ("greedy", "optimal")
            or (isinstance(optimize, (list, tuple)) and optimize and optimize[0] == "einsum_path")):
        raise InputError(f"einsum: optimize={optimize!r} is not understood: use False, True, 'greedy', "
                         "'optimal' or a path from np.einsum_path (funcgrad contracts left to right "
                         "whatever the value)")
    if not (isinstance(order, str) and order.upper() in _ORDERS):
        raise InputError(f"einsum: order={order!r}: order must be one of 'C', 'F', 'A' or 'K'")
    if casting not in _CASTINGS:
        raise InputError(f"einsum: casting={casting!r}: casting must be one of "
                         f"{', '.join(repr(c) for c in _CASTINGS)}")


def _cast_operands(ops, dtype, casting):
    if dtype is None:
        return list(fnp._promote(*ops))
    target = np.dtype(dtype)
    for k, op in enumerate(ops):
        src = fnp._dtype(op)
        if fnp._is_weak(op):   # a Python number: only its kind matters
            src = np.dtype({"b": np.bool_, "i": np.int8, "u": np.uint8, "f": np.float16}.get(src.kind, src))
        if not np.can_cast(src, target, casting):
            raise DtypeError(f"einsum: cannot cast operand {k} ({aval_of(op)}) from {fnp._dtype(op)} to "
                             f"dtype={target} with casting={casting!r}; pass casting='unsafe' or cast it first")
    return list(fnp._promote(*ops, dtype=target))


def einsum(*operands, out=None, optimize=False, dtype=None, order="K", casting="safe"):
    """``np.einsum`` in both of NumPy's forms: ``einsum('ij,jk->ik', a, b)``
    and ``einsum(a, [0, 1], b, [1, 2], [0, 2])`` (integer labels 0..51,
    ``Ellipsis`` for ``...``), with implicit and explicit outputs, repeated
    labels (traces, diagonals), ``...`` broadcasting and size-1 broadcasting.

    Python numbers promote weakly, as everywhere in funcgrad. ``dtype=``
    casts the operands first, under ``casting=`` (NumPy's rules, 'safe' by
    default); ``optimize=`` and ``order=`` are accepted and do not change the
    result (operands are contracted left to right); ``out=`` is refused.
    """
    _check_options(out, optimize, order, casting)
    if operands and isinstance(operands[0], str):
        subscripts, ops = operands[0], list(operands[1:])
        if not ops:
            raise ShapeError(f"einsum: subscripts {subscripts!r} but no operand")
        ins, out_toks = _string_terms(subscripts, len(ops))
        sublist = False
    else:
        ops, ins, out_toks = _sublist_terms(operands)
        sublist = True
    name, label = _namer(sublist)
    ops = _cast_operands(ops, dtype, casting)
    ins, out = _expand(ins, out_toks, ops, name)
    boolean = fnp._dtype(ops[0]) == np.bool_
    if boolean:   # NumPy's boolean einsum is an OR of ANDs: a sum of products, then != 0
        ops = list(fnp._promote(*ops, dtype=np.int64))
    for k, (s, op) in enumerate(zip(ins, ops)):
        ins[k], ops[k] = _diagonal(s, op, k, label)
    sizes, where = {}, {}
    for k, (s, op) in enumerate(zip(ins, ops)):
        for c, d in zip(s, fnp.shape(op)):
            if sizes.get(c, 1) == 1:
                sizes[c], where[c] = d, k
            elif d not in (1, sizes[c]):
                j = where[c]
                a, b = aval_of(ops[j]), aval_of(op)
                if label(c) is None:
                    raise ShapeError(f"einsum: the '...' dimensions of operand {j} ({a}) and operand {k} ({b}) "
                                     f"do not broadcast (sizes {sizes[c]} and {d})")
                raise ShapeError(f"einsum: {label(c)} has size {sizes[c]} in operand {j} ({a}) and size {d} "
                                 f"in operand {k} ({b})")
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
            op = fnp.sum(op, axis=tuple(drop), dtype=fnp._dtype(op))
            s = "".join(c for c in s if c not in set(s[k] for k in drop))
        return s, op

    acc_s, acc = sum_private(ins[0], ops[0], needed_later(0))
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
    acc = fnp.transpose(acc, [acc_s.index(c) for c in out]) if acc_s != out else acc
    return fnp.not_equal(acc, 0) if boolean else acc
