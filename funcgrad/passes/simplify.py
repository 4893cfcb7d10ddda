"""Canonicalization, algebraic simplification and constant folding.

One forward walk over the equations (and, recursively, over the bodies of
``fori_loop``, ``while_loop``, ``scan`` and ``switch``, each on its own: a
body is a closed program, so nothing crosses its boundary). Each equation,
its inputs already rewritten, is matched against the rules below; a rule
either replaces the equation's output by an existing atom (the equation
goes; DCE removes what fed only it) or by new equations, which are matched
again. Rules look through the producers of their inputs (``reshape`` of
``reshape``), which are equations of the new program.

Rules (``c`` a constant: a literal, or a ``broadcast_to`` / ``reshape`` of
one). A rule that replaces an output by an operand applies only when the
operand has the output's shape and dtype, so ``x * 1`` where the ``1``
broadcasts ``x`` to a larger shape stays. ``weak_type`` is not compared: it
matters only while tracing (for promotion); primitives and backends see
shapes and dtypes.

- ``x * 1``, ``1 * x``, ``x / 1`` -> ``x`` (exact in IEEE arithmetic, NaN
  and -0.0 included).
- ``x + 0``, ``0 + x``, ``x - 0`` -> ``x`` for integers. For floating point
  only where IEEE agrees: ``x + (-0.0)``, ``(-0.0) + x`` and ``x - (+0.0)``.
  ``x + (+0.0)`` stays, since ``-0.0 + 0.0`` is ``+0.0``: XLA's algebraic
  simplifier folds it anyway (``A + 0 => A``), funcgrad keeps the interpreter's
  bits.
- ``x + neg(y)``, ``neg(y) + x`` -> ``x - y``; ``x - neg(y)`` -> ``x + y`` (exact: IEEE
  defines ``x - y`` as ``x + (-y)``; the ``neg`` goes when nothing else reads it).
- ``neg(neg(x))`` -> ``x``; ``convert_element_type`` to the operand's dtype,
  ``stop_gradient`` (the identity once a program is differentiated; passes
  run on programs about to be lowered), ``select(p, a, a)`` and ``select``
  on a literal predicate -> the operand.
- ``reshape``, ``broadcast_to``, ``transpose`` to the operand's shape (or
  permutation identity) -> the operand; ``reshape(reshape(x))``,
  ``broadcast_to(broadcast_to(x))``, ``transpose(transpose(x))`` -> one
  operation; ``broadcast_to`` or ``reshape`` of a one-element value
  broadcast or reshaped -> one ``broadcast_to`` of that value.
- a static scalar read, ``reshape(slice(x), ())`` of one element (what
  ``x[3]`` traces to) -> ``take(x, 3)``, a single scalar load in the
  generated code (``x`` of rank > 1 is first reshaped flat, a view).
- ``matmul`` whose contraction has size 1 (an outer product, what per-example
  gradients of a dense layer are: ``x[:, :, None] * g[:, None, :]``) -> a
  broadcasting ``mul`` of the operands reshaped (views): one fused loop
  instead of a matrix product per batch element.
- ``triangular_solve`` / ``triangular_matmul`` of a transposed matrix (the
  last two axes swapped: ``solve_triangular(L.T, b)``) -> the operation on
  the matrix itself with ``lower`` and ``transpose_a`` flipped (the
  transpose of a lower triangle is the upper triangle read transposed): no
  copy of the matrix.
- constant folding: an equation whose inputs are all literals and whose
  outputs are 0-d is evaluated with the primitive's NumPy implementation
  (as the interpreter would) and replaced by literals of exactly the output
  dtypes. Control flow and equations with effects are not folded.
"""
from __future__ import annotations

import numpy as np

from ..core.ir import Eqn, Literal, Program, ShapedArray, Var
from ..primitives.decompositions import triangular_matmul_p, triangular_solve_p
from ..primitives.elementwise import (add_p, convert_p, div_p, mul_p, neg_p, select_p, stop_gradient_p,
                                      sub_p)
from ..primitives.indexing import take_p
from ..primitives.linalg import matmul_p
from ..primitives.shape import broadcast_to_p, reshape_p, slice_p, transpose_p
from ._util import has_effect, map_subprograms, rebuild, subprograms, subst, with_inputs

__all__ = ["simplify"]

_MAX_REWRITES = 16   # rewrites of one equation in a row (each rule strictly simplifies)


def simplify(program: Program) -> Program:
    """``program`` with the rules above applied (a new Program; the input is
    not modified)."""
    return _simplify(program, {})


def _simplify(program: Program, memo: dict) -> Program:
    env: dict = {}        # replaced output -> the atom that stands for it
    producer: dict = {}   # var -> the equation of the new program defining it
    eqns: list = []

    def emit(eqn, depth=0):
        result = _rewrite(eqn, producer) if depth < _MAX_REWRITES else None
        if result is None:
            eqns.append(eqn)
            for o in eqn.outputs:
                producer[o] = eqn
        elif isinstance(result, _Replace):
            for o, a in zip(eqn.outputs, result.atoms):
                env[o] = a
        else:
            for e in result:   # a rule's later equations may read outputs of its earlier, replaced ones
                emit(with_inputs(e, [subst(env, a) for a in e.inputs]), depth + 1)

    for eqn in program.eqns:
        e = with_inputs(eqn, [subst(env, a) for a in eqn.inputs])
        e = map_subprograms(e, lambda p: _simplify(p, memo), memo)
        emit(e)
    return rebuild(program, eqns, env)


class _Replace:
    """The equation's outputs are these atoms."""

    __slots__ = ("atoms",)

    def __init__(self, atoms):
        self.atoms = list(atoms)


def _rewrite(eqn: Eqn, producer):
    """None (keep ``eqn``), a _Replace, or a list of equations defining ``eqn``'s outputs."""
    folded = _fold(eqn)
    if folded is not None:
        return folded
    rule = _RULES.get(eqn.primitive)
    if rule is None:
        return None
    out = rule(eqn, producer)
    if out is None or isinstance(out, list):
        return out
    return _Replace([out])


# ----------------------------------------------------------------------------- constant folding

def _fold(eqn: Eqn):
    if not eqn.inputs or any(type(a) is not Literal for a in eqn.inputs):
        return None
    if any(o.aval.shape != () for o in eqn.outputs) or eqn.primitive.impl is None:
        return None
    if subprograms(eqn) or has_effect(eqn):
        return None
    try:
        with np.errstate(all="ignore"):
            result = eqn.primitive.impl(*[a.value for a in eqn.inputs], **eqn.params)
    except Exception:   # leave it to run (and raise) where the program runs
        return None
    results = list(result) if eqn.primitive.multiple_results else [result]
    if len(results) != len(eqn.outputs):
        return None
    atoms = []
    for o, r in zip(eqn.outputs, results):
        r = np.asarray(r)
        if r.shape != () or r.dtype != o.aval.dtype:
            return None   # the implementation disagrees with the types: leave it alone
        atoms.append(Literal(r))
    return _Replace(atoms)


# ----------------------------------------------------------------------------- helpers

def _same(atom, out: Var) -> bool:
    """Whether ``atom`` can stand for ``out``: same shape and dtype."""
    return atom.aval.shape == out.aval.shape and atom.aval.dtype == out.aval.dtype


def _const(atom, producer):
    """The value of a literal, or of a broadcast_to/reshape chain of one; else None."""
    for _ in range(64):
        if type(atom) is Literal:
            return atom.value
        e = producer.get(atom)
        if e is None or e.primitive not in (broadcast_to_p, reshape_p):
            return None
        atom = e.inputs[0]
    return None


def _is_one(atom, producer) -> bool:
    v = _const(atom, producer)
    return v is not None and v == 1


def _is_additive_identity(atom, producer, *, subtracted: bool) -> bool:
    """``x + c == x`` (or ``x - c == x``) for every ``x``, -0.0 included."""
    v = _const(atom, producer)
    if v is None or v != 0:
        return False
    if np.asarray(v).dtype.kind != "f":
        return True
    # x + (-0.0) == x and x - (+0.0) == x; x + (+0.0) turns -0.0 into +0.0
    return bool(np.signbit(v)) != subtracted


def _producer(atom, producer, prim):
    if type(atom) is not Var:
        return None
    e = producer.get(atom)
    return e if e is not None and e.primitive is prim else None


def _one_element(atom) -> bool:
    return atom.aval.size == 1


# ----------------------------------------------------------------------------- rules

def _mul(eqn, producer):
    (x, y), out = eqn.inputs, eqn.outputs[0]
    if _is_one(y, producer) and _same(x, out):
        return x
    if _is_one(x, producer) and _same(y, out):
        return y
    return None


def _div(eqn, producer):
    (x, y), out = eqn.inputs, eqn.outputs[0]
    if _is_one(y, producer) and _same(x, out):
        return x
    return None


def _add(eqn, producer):
    (x, y), out = eqn.inputs, eqn.outputs[0]
    if _is_additive_identity(y, producer, subtracted=False) and _same(x, out):
        return x
    if _is_additive_identity(x, producer, subtracted=False) and _same(y, out):
        return y
    # x + neg(y) -> x - y, neg(x) + y -> y - x (IEEE defines x - y as x + (-y))
    neg = _producer(y, producer, neg_p)
    if neg is not None:
        return [Eqn(sub_p, [x, neg.inputs[0]], [out], {}, eqn.source)]
    neg = _producer(x, producer, neg_p)
    if neg is not None:
        return [Eqn(sub_p, [y, neg.inputs[0]], [out], {}, eqn.source)]
    return None


def _sub(eqn, producer):
    (x, y), out = eqn.inputs, eqn.outputs[0]
    if _is_additive_identity(y, producer, subtracted=True) and _same(x, out):
        return x
    neg = _producer(y, producer, neg_p)   # x - neg(y) -> x + y
    if neg is not None:
        return [Eqn(add_p, [x, neg.inputs[0]], [out], {}, eqn.source)]
    return None


def _neg(eqn, producer):
    inner = _producer(eqn.inputs[0], producer, neg_p)
    if inner is not None and _same(inner.inputs[0], eqn.outputs[0]):
        return inner.inputs[0]
    return None


def _identity(eqn, producer):
    x = eqn.inputs[0]
    return x if _same(x, eqn.outputs[0]) else None


def _convert(eqn, producer):
    x = eqn.inputs[0]
    if np.dtype(eqn.params["dtype"]) == x.aval.dtype and _same(x, eqn.outputs[0]):
        return x
    return None


def _select(eqn, producer):
    (pred, a, b), out = eqn.inputs, eqn.outputs[0]
    if type(pred) is Literal:
        chosen = a if bool(pred.value) else b
        return chosen if _same(chosen, out) else None
    if (a is b or (type(a) is Literal and type(b) is Literal and a.aval.dtype == b.aval.dtype
                   and a.value.tobytes() == b.value.tobytes())) and _same(a, out):
        return a
    return None


def _reshape(eqn, producer):
    x, out = eqn.inputs[0], eqn.outputs[0]
    shape = tuple(eqn.params["shape"])
    if _same(x, out):
        return x
    if type(x) is not Var:
        return None
    inner = producer.get(x)
    if inner is None:
        return None
    if inner.primitive is reshape_p:
        return [Eqn(reshape_p, [inner.inputs[0]], [out], {"shape": shape}, eqn.source)]
    if inner.primitive is broadcast_to_p and _one_element(inner.inputs[0]) \
            and inner.inputs[0].aval.ndim <= len(shape):
        return [Eqn(broadcast_to_p, [inner.inputs[0]], [out], {"shape": shape}, eqn.source)]
    if inner.primitive is slice_p and shape == () and x.aval.size == 1 and type(inner.inputs[0]) is Var:
        return _scalar_read(inner, out, eqn.source)
    return None


def _scalar_read(slice_eqn, out, source):
    """``reshape(slice(src), ())`` of one element: ``take`` of that element
    (in range, so take's clamp never acts)."""
    src = slice_eqn.inputs[0]
    starts = tuple(slice_eqn.params["starts"])
    shape = src.aval.shape
    index = Literal(np.int64(np.ravel_multi_index(starts, shape)))
    if len(shape) == 1:
        return [Eqn(take_p, [src, index], [out], {"axis": 0}, source)]
    flat = Var(ShapedArray((src.aval.size,), src.aval.dtype))
    return [Eqn(reshape_p, [src], [flat], {"shape": (src.aval.size,)}, source),
            Eqn(take_p, [flat, index], [out], {"axis": 0}, source)]


def _broadcast_to(eqn, producer):
    x, out = eqn.inputs[0], eqn.outputs[0]
    shape = tuple(eqn.params["shape"])
    if _same(x, out):
        return x
    if type(x) is not Var:
        return None
    inner = producer.get(x)
    if inner is None:
        return None
    src = inner.inputs[0]
    if inner.primitive is broadcast_to_p or (inner.primitive is reshape_p and _one_element(src)
                                             and src.aval.ndim <= len(shape)):
        return [Eqn(broadcast_to_p, [src], [out], {"shape": shape}, eqn.source)]
    return None


def _transpose(eqn, producer):
    x, out = eqn.inputs[0], eqn.outputs[0]
    perm = tuple(eqn.params["permutation"])
    if perm == tuple(range(len(perm))) and _same(x, out):
        return x
    inner = _producer(x, producer, transpose_p)
    if inner is None:
        return None
    first = tuple(inner.params["permutation"])
    composed = tuple(first[p] for p in perm)
    return [Eqn(transpose_p, [inner.inputs[0]], [out], {"permutation": composed}, eqn.source)]


def _matmul(eqn, producer):
    (a, b), out = eqn.inputs, eqn.outputs[0]
    ta, tb = eqn.params["transpose_a"], eqn.params["transpose_b"]
    k = a.aval.shape[-2] if ta else a.aval.shape[-1]
    if k != 1 or a.aval.dtype.kind != "f":
        return None
    # op(a) is (..., n, 1) and op(b) is (..., 1, m); with a unit axis either way
    # round, the transposes are reshapes
    batch, n, m = out.aval.shape[:-2], out.aval.shape[-2], out.aval.shape[-1]
    col = Var(ShapedArray(batch + (n, 1), a.aval.dtype))
    row = Var(ShapedArray(batch + (1, m), b.aval.dtype))
    return [Eqn(reshape_p, [a], [col], {"shape": col.aval.shape}, eqn.source),
            Eqn(reshape_p, [b], [row], {"shape": row.aval.shape}, eqn.source),
            Eqn(mul_p, [col, row], [out], {}, eqn.source)]


def _triangular(eqn, producer):
    a = eqn.inputs[0]
    inner = _producer(a, producer, transpose_p)
    nd = len(a.aval.shape)
    if inner is None or tuple(inner.params["permutation"]) != tuple(range(nd - 2)) + (nd - 1, nd - 2):
        return None
    params = dict(eqn.params, lower=not eqn.params["lower"], transpose_a=not eqn.params["transpose_a"])
    return [Eqn(eqn.primitive, [inner.inputs[0], eqn.inputs[1]], list(eqn.outputs), params, eqn.source)]


_RULES = {
    triangular_solve_p: _triangular, triangular_matmul_p: _triangular,
    mul_p: _mul, div_p: _div, add_p: _add, sub_p: _sub, neg_p: _neg,
    convert_p: _convert, stop_gradient_p: _identity, select_p: _select,
    reshape_p: _reshape, broadcast_to_p: _broadcast_to, transpose_p: _transpose,
    matmul_p: _matmul,
}
