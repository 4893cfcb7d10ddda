"""Example calls of every primitive, for the conformance tests of the rule
tables (``tests/test_conformance.py``) and for whoever adds a rule table.

- ``CASES[prim]``: a list of ``(args, params)``, ``prim.bind(*args, **params)``
  on NumPy arrays. Float inputs are chosen where the primitive is smooth
  (positive arguments of ``log``/``sqrt``, ``|x| < 1`` for ``asin``/``acos``,
  no ties of ``max``/``min``/``reduce_max``, values away from integers for
  ``floor``/``rem``, ...; at least 0.05 from any kink, so finite differences
  with steps up to 1e-3 are valid), in float64, with broadcasting (``(3, 1)``
  with ``(1, 4)``, ``()`` with ``(2, 3)``), 0-d operands and size-1 axes, and
  one float32 case per family (``is_float32_case``) for dtype preservation.
  Integer and boolean cases are there too, for the primitives that take them.
- ``SPECIAL[prim]``: calls at the points where the derivative is a
  convention (ties of ``max``/``min``/``reduce_max``, ``pow`` at ``x == 0``
  or ``y == 0``, ``abs`` at 0): finite differences do not apply there, but
  the JVP must still be the transpose of the VJP.
- ``NON_DIFFERENTIABLE[prim]``: why a primitive has no derivative to check:
  no floating-point output (comparisons, bitwise, arg-reductions, random
  bits), no operands (``iota``), or a derivative that is zero by definition
  (``floor``, ``sign``, ``stop_gradient``...). The latter still need rules
  (returning a zero tangent), since they take and return floats.
- ``CONTROL``: the names of the control-flow primitives; their cases are
  built from the user-level ``fg.fori_loop`` / ``fg.while_loop`` /
  ``fg.scan`` / ``fg.switch`` / ``fg.cond`` (the body Programs are params).
  ``CALLS``: the call primitives (``checkpoint``, ``custom_jvp_call``,
  ``custom_vjp_call``), whose rules, like those of control flow, other
  modules own; the custom-derivative cases come from ``fg.make_ir`` of small
  ``fg.custom_jvp`` / ``fg.custom_vjp`` functions whose rules are the exact
  derivatives.
- Static operands: a case operand that is a plain Python ``int`` (not a NumPy
  array or scalar) stands for a literal of the program (``fori_loop``'s
  bounds given as Python ints); the one-equation programs of the tests keep
  it literal (their input for it is unused) and it is never batched or
  perturbed. ``static_operands(args)`` lists them.
- ``REVERSE_ONLY[prim]``: why forward mode raises ``UnsupportedError`` by
  design (``custom_vjp_call``, as in JAX): the JVP is expected to raise and
  the VJP is checked against finite differences.
  ``FORWARD_ONLY[prim]``: why reverse mode raises ``UnsupportedError`` by
  design (``while_loop``): the VJP is expected to raise.
  ``STATIC_FOR_REVERSE[prim]``: ``(positions, why)``, operands that must be
  static for a traced reverse pass (``fori_loop``'s bounds): with a traced
  one, the traced VJP is expected to raise (the concrete one still works).
- ``NO_BATCH_RULE[prim]``: why a primitive has no batching rule (none has
  one missing now): the conformance tests batch every case of the others.
- ``NO_CASES[prim]``: why a primitive has no cases yet (pending work).
"""
from __future__ import annotations

import numpy as np

import funcgrad as fg
from funcgrad.core.ir import Literal, ShapedArray
from funcgrad.core.trace import primitives, trace_flat

__all__ = ["CASES", "SPECIAL", "NON_DIFFERENTIABLE", "NO_CASES", "CONTROL", "CALLS", "REVERSE_ONLY",
           "FORWARD_ONLY", "STATIC_FOR_REVERSE", "NO_BATCH_RULE", "is_float32_case", "static_operands"]

F64, F32 = np.float64, np.float32
_rng = np.random.default_rng(20240611)


# ----------------------------------------------------------------------------- generators

def _size(shape):
    return int(np.prod(shape, dtype=np.int64))


def _make(x, shape, dtype):
    return np.asarray(np.reshape(x, shape), dtype=dtype)


def any_(shape=(), dtype=F64):
    return _make(_rng.uniform(-1.5, 1.5, _size(shape)), shape, dtype)


def pos(shape=(), dtype=F64):
    """log, sqrt, denominators, power bases."""
    return _make(_rng.uniform(0.5, 2.0, _size(shape)), shape, dtype)


def unit(shape=(), dtype=F64):
    """asin, acos, tan: |x| < 1."""
    return _make(_rng.uniform(-0.85, 0.85, _size(shape)), shape, dtype)


def sep(shape=(), dtype=F64):
    """Distinct values 0.1 apart, 0.025 mod 0.1 (so >= 0.025 from 0): no ties, no kinks."""
    n = _size(shape)
    return _make((_rng.permutation(2 * n + 2)[:n] - (n + 1)) * 0.1 + 0.025, shape, dtype)


def sep2(shape=(), dtype=F64):
    """0.075 mod 0.1: at least 0.05 from every ``sep`` value."""
    n = _size(shape)
    return _make((_rng.permutation(2 * n + 2)[:n] - (n + 1)) * 0.1 + 0.075, shape, dtype)


def frac(shape=(), dtype=F64):
    """Away from integers and half-integers (floor, ceil, round)."""
    n = _size(shape)
    return _make(_rng.integers(-3, 3, n) + _rng.choice([0.15, 0.3, 0.65, 0.8], n), shape, dtype)


def nonzero(shape=(), dtype=F64):
    """Away from 0, either sign."""
    n = _size(shape)
    return _make(_rng.uniform(0.5, 1.5, n) * _rng.choice([-1.0, 1.0], n), shape, dtype)


def ints(shape=(), lo=-5, hi=6, dtype=np.int64):
    return _make(_rng.integers(lo, hi, _size(shape)), shape, dtype)


def bools(shape=()):
    return _make(_rng.random(_size(shape)) < 0.5, shape, np.bool_)


def u32(shape=(), hi=2**32):
    return _make(_rng.integers(0, hi, _size(shape), dtype=np.uint64), shape, np.uint32)


def static_operands(args) -> list[int]:
    """The positions of the static operands of a case (plain Python ints)."""
    return [i for i, a in enumerate(args) if type(a) is int]


def is_float32_case(args, params) -> bool:
    """Whether a case has a float32 operand or casts to float32."""
    return (any(np.asarray(a).dtype == np.float32 for a in args)
            or params.get("dtype") is not None and np.dtype(params["dtype"]) == np.float32)


# ----------------------------------------------------------------------------- elementwise

UNARY_SHAPES = [(), (2, 3), (1,), (3, 1, 2)]


def _unary(gen, extra=()):
    cases = [([gen(s)], {}) for s in UNARY_SHAPES]
    cases.append(([gen((3,), F32)], {}))
    return cases + list(extra)


BINARY_SHAPES = [((2, 3), (2, 3)), ((3, 1), (1, 4)), ((), (2, 3)), ((2, 3), ()), ((), ()),
                 ((1,), (3,)), ((4,), (2, 1, 4))]


def _binary(gen_x, gen_y, extra=(), int_case=True):
    cases = [([gen_x(a), gen_y(b)], {}) for a, b in BINARY_SHAPES]
    cases.append(([gen_x((2, 3), F32), gen_y((3,), F32)], {}))
    if int_case:
        cases.append(([ints((2, 3)), ints((3,), 1, 6)], {}))
    return cases + list(extra)


_by_name: dict[str, list] = {}
_special: dict[str, list] = {}

for name in ("exp", "sin", "cos", "sinh", "cosh", "tanh", "atan", "expm1"):
    _by_name[name] = _unary(any_)
_by_name["neg"] = _unary(any_, [([ints((2, 3))], {})])
_by_name["logistic"] = _unary(any_, [([np.array([-30.0, -8.0, 0.0, 8.0, 30.0])], {})])
_by_name["log"] = _unary(pos)
_by_name["sqrt"] = _unary(pos)
_by_name["log1p"] = _unary(pos, [([_rng.uniform(-0.5, 0.5, (2, 2))], {})])
for name in ("asin", "acos", "tan"):
    _by_name[name] = _unary(unit)
_by_name["abs"] = _unary(sep, [([ints((2, 3))], {})])
_by_name["sign"] = _unary(sep, [([ints((2, 3))], {})])
for name in ("floor", "ceil", "round"):
    _by_name[name] = _unary(frac)
_by_name["integer_pow"] = (
    [([any_((2, 3))], {"y": y}) for y in (0, 1, 2, 3, 5)]
    + [([nonzero((2, 3))], {"y": y}) for y in (-1, -2, -3)]
    + [([any_(())], {"y": 3}), ([any_((3,), F32)], {"y": 3}), ([ints((2, 2))], {"y": 3})])

_special["abs"] = [([np.array([0.0, -0.5, 0.5])], {})]

for name in ("add", "sub", "mul"):
    _by_name[name] = _binary(any_, any_)
_by_name["div"] = _binary(any_, nonzero, int_case=False)
_by_name["pow"] = _binary(pos, any_, [([pos((2, 3)), np.array(0.0)], {}),          # y == 0
                                      ([pos((3,)), np.array([1.0, 2.0, 0.5])], {})],
                          int_case=False)
_by_name["max"] = _binary(sep, sep2)
_by_name["min"] = _binary(sep, sep2)
_by_name["atan2"] = _binary(nonzero, any_, int_case=False)   # atan2(y, x), y away from 0 (the branch cut)


def _rem_cases():
    y = pos(())
    x = y * (ints((2, 3)) + frac((2, 3)) % 1.0)     # x / y away from integers
    y32 = pos((), F32)
    return [([x, y], {}),
            ([np.array(0.37), pos((2, 3)) + 0.5], {}),          # x / y in (0.14, 0.37)
            ([np.array([-0.3, 0.3, -0.45])[:, None], pos((1, 4)) + 0.5], {}),   # |x / y| < 0.45
            ([np.asarray(y32 * np.float32(2.3), F32), y32], {}),
            ([ints((2, 3)), ints((3,), 1, 6)], {})]


_by_name["rem"] = _rem_cases()
_by_name["floordiv"] = _rem_cases()

for name in ("lt", "le", "gt", "ge", "eq", "ne"):
    _by_name[name] = _binary(sep, sep2) + [([np.array([1.0, 2.0]), np.array([1.0, 3.0])], {}),
                                           ([bools((3,)), bools((3,))], {})]
for name in ("and", "or", "xor"):
    _by_name[name] = [([bools((2, 3)), bools((3,))], {}), ([bools(()), bools((2,))], {}),
                      ([ints((2, 3)), ints((2, 3))], {}), ([u32((4,)), u32(())], {})]
_by_name["not"] = [([bools((2, 3))], {}), ([bools(())], {}), ([ints((3,))], {}), ([u32((2,))], {})]
_by_name["is_finite"] = [([np.array([0.0, np.inf, -np.inf, np.nan, 1.5])], {}), ([any_(())], {}),
                         ([np.array([np.inf, 1.0], F32)], {})]

_special["max"] = [([np.array([1.0, 2.0, 3.0]), np.array([1.0, 1.5, 3.0])], {}),
                   ([np.array(0.5), np.array([0.5, -1.0, 2.0])], {}),
                   ([np.array([[0.0], [1.0]]), np.array([[0.0, 1.0, 2.0]])], {})]
_special["min"] = _special["max"]
_special["pow"] = [([np.array([0.0, 0.0, 0.0, 2.0]), np.array([2.0, 3.5, 1.0, 0.0])], {}),
                   ([np.array([0.0, 1.5]), np.array(0.0)], {}),
                   ([np.array(0.0), np.array([1.0, 2.0, 3.0])], {})]

_by_name["select"] = [
    ([bools((2, 3)), any_((2, 3)), any_((2, 3))], {}),
    ([bools(()), any_((3,)), any_((3,))], {}),
    ([bools((3, 1)), any_((1, 4)), any_(())], {}),
    ([bools((2, 3)), any_(()), any_((3,))], {}),
    ([np.array(True), any_(()), any_(())], {}),
    ([bools((3,)), any_((3,), F32), any_((), F32)], {}),
    ([bools((3,)), ints((3,)), ints((3,))], {}),
]
_by_name["convert_element_type"] = [
    ([any_((2, 3))], {"dtype": np.dtype(F32)}),
    ([any_((2, 3), F32)], {"dtype": np.dtype(F64)}),
    ([any_(())], {"dtype": np.dtype(F64)}),
    ([frac((3,))], {"dtype": np.dtype(np.int32)}),
    ([ints((3,))], {"dtype": np.dtype(F64)}),
    ([bools((2,))], {"dtype": np.dtype(F64)}),
]
_by_name["stop_gradient"] = _unary(any_)


# ----------------------------------------------------------------------------- shape

_by_name["reshape"] = [
    ([any_((2, 3))], {"shape": (3, 2)}),
    ([any_((6,))], {"shape": (1, 2, 3)}),
    ([any_(())], {"shape": (1, 1)}),
    ([any_((1,))], {"shape": ()}),
    ([any_((2, 3), F32)], {"shape": (6,)}),
    ([ints((4,))], {"shape": (2, 2)}),
]
_by_name["transpose"] = [
    ([any_((2, 3, 4))], {"permutation": (2, 0, 1)}),
    ([any_((2, 3))], {"permutation": (1, 0)}),
    ([any_((1, 3))], {"permutation": (1, 0)}),
    ([any_((2, 3), F32)], {"permutation": (1, 0)}),
]
_by_name["broadcast_to"] = [
    ([any_(())], {"shape": (2, 3)}),
    ([any_((3, 1))], {"shape": (2, 3, 4)}),
    ([any_((1,))], {"shape": (3,)}),
    ([any_((3,))], {"shape": (2, 3)}),
    ([any_((), F32)], {"shape": (2,)}),
    ([ints(())], {"shape": (3,)}),
]
_by_name["slice"] = [
    ([any_((5, 6))], {"starts": (1, 0), "limits": (4, 6), "strides": (2, 3)}),
    ([any_((4,))], {"starts": (1,), "limits": (3,), "strides": (1,)}),
    ([any_((4,))], {"starts": (2,), "limits": (2,), "strides": (1,)}),       # empty
    ([any_((3, 1))], {"starts": (0, 0), "limits": (3, 1), "strides": (2, 1)}),
    ([any_((4, 4), F32)], {"starts": (0, 1), "limits": (4, 3), "strides": (3, 1)}),
]
_by_name["pad"] = [
    ([any_((2, 3))], {"low": (1, 0), "high": (0, 2), "interior": (1, 0)}),
    ([any_((3,))], {"low": (0,), "high": (0,), "interior": (2,)}),
    ([any_((1, 2))], {"low": (2, 1), "high": (1, 0), "interior": (0, 3)}),
    ([any_((3,), F32)], {"low": (1,), "high": (2,), "interior": (1,)}),
]
_by_name["pad_add"] = [
    ([any_((5, 6)), any_((2, 3))], {"low": (1, 0), "interior": (1, 1)}),
    ([any_((4,)), any_(())], {"low": (2,), "interior": (0,)}),
    ([any_((3, 2)), any_((3, 2))], {"low": (0, 0), "interior": (0, 0)}),
    ([any_(()), any_(())], {"low": (), "interior": ()}),
    ([any_((4,), F32), any_((2,), F32)], {"low": (1,), "interior": (1,)}),
]
_by_name["rev"] = [
    ([any_((2, 3))], {"axes": (0, 1)}),
    ([any_((4,))], {"axes": (0,)}),
    ([any_((2, 1, 3))], {"axes": (2,)}),
    ([any_((3,), F32)], {"axes": (0,)}),
]
_by_name["concatenate"] = [
    ([any_((2, 3)), any_((2, 1)), any_((2, 2))], {"axis": 1}),
    ([any_((1,)), any_((3,))], {"axis": 0}),
    ([any_((2, 2)), any_((1, 2))], {"axis": 0}),
    ([any_((2,), F32), any_((2,), F32)], {"axis": 0}),
]
_by_name["iota"] = [
    ([], {"shape": (2, 3), "dimension": 1, "dtype": np.dtype(F64)}),
    ([], {"shape": (4,), "dimension": 0, "dtype": np.dtype(np.int64)}),
]


# ----------------------------------------------------------------------------- reductions

_AXES = [((2, 3), (1,), False), ((2, 3, 4), (0, 2), True), ((), (), False), ((3,), (0,), False),
         ((2, 3), (), False), ((1, 3), (0, 1), False), ((3, 2, 5), (2, 0), False)]


def _reduction(gen, extra=()):
    cases = [([gen(shape)], {"axes": axes, "keepdims": k}) for shape, axes, k in _AXES]
    cases.append(([gen((2, 3), F32)], {"axes": (0, 1), "keepdims": False}))
    return cases + list(extra)


_by_name["reduce_sum"] = _reduction(any_, [([ints((2, 3))], {"axes": (0,), "keepdims": False}),
                                            ([any_((0, 3))], {"axes": (0,), "keepdims": False})])
_by_name["reduce_max"] = _reduction(sep)
_by_name["reduce_min"] = _reduction(sep)
_by_name["reduce_prod"] = _reduction(nonzero, [
    # zeros: no zero, one zero and two zeros in a row (prod is a polynomial: smooth there)
    ([np.array([[0.5, -1.2, 0.8, 1.1], [0.0, 0.7, -1.3, 0.9], [0.0, 1.4, 0.0, -0.6]])],
     {"axes": (1,), "keepdims": False}),
    ([np.array([[0.0, 1.5], [0.0, 0.0]])], {"axes": (0, 1), "keepdims": True}),
    ([np.where(np.arange(21).reshape(3, 7) % 5 == 2, 0.0, nonzero((3, 7)))],
     {"axes": (1,), "keepdims": True}),
    ([nonzero((0, 3))], {"axes": (0,), "keepdims": False}),           # empty: the constant 1
])
for name in ("argmax", "argmin"):
    _by_name[name] = [([sep((2, 3))], {"axis": 1, "keepdims": False, "index_dtype": np.dtype(np.int64)}),
                      ([sep((4,))], {"axis": 0, "keepdims": True, "index_dtype": np.dtype(np.int32)}),
                      ([ints((3, 2))], {"axis": 0, "keepdims": False, "index_dtype": np.dtype(np.int64)})]

_special["reduce_max"] = [
    ([np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 2.0]])], {"axes": (1,), "keepdims": False}),
    ([np.array([[1.0, 3.0, 3.0], [3.0, 2.0, 0.0]])], {"axes": (0, 1), "keepdims": True}),
]
_special["reduce_min"] = [
    ([np.array([[1.0, 0.0, 0.0], [2.0, 2.0, 2.0]])], {"axes": (1,), "keepdims": False}),
    ([np.array([[1.0, -3.0, -3.0], [-3.0, 2.0, 0.0]])], {"axes": (0, 1), "keepdims": True}),
]


# ----------------------------------------------------------------------------- indexing (in-range indices)

_by_name["take"] = [
    ([any_((5, 3)), np.array([4, 0, 2, 0])], {"axis": 0}),                      # repeated index
    ([any_((2, 4)), np.array([[3, 1], [0, 3]], np.int32)], {"axis": 1}),
    ([any_((4,)), np.array(2)], {"axis": 0}),                                   # 0-d index
    ([any_((3, 1)), np.array([], np.int64)], {"axis": 0}),                      # no index
    ([any_((3, 2), F32), np.array([2, 1])], {"axis": 0}),
    ([ints((3,)), np.array([1, 1])], {"axis": 0}),
]
_by_name["scatter_add"] = [
    ([any_((5, 3)), np.array([4, 0, 2, 0]), any_((4, 3))], {"axis": 0}),
    ([any_((2, 4)), np.array([[3, 1], [0, 3]], np.int32), any_((2, 2, 2))], {"axis": 1}),
    ([any_((4,)), np.array(1), any_(())], {"axis": 0}),
    ([any_((3, 2), F32), np.array([2, 2]), any_((2, 2), F32)], {"axis": 0}),
    ([ints((3,)), np.array([1, 1]), ints((2,))], {"axis": 0}),
]


# ----------------------------------------------------------------------------- linalg

_by_name["matmul"] = [
    ([any_((2, 3)), any_((3, 4))], {"transpose_a": False, "transpose_b": False}),
    ([any_((3, 2)), any_((3, 4))], {"transpose_a": True, "transpose_b": False}),
    ([any_((2, 3)), any_((4, 3))], {"transpose_a": False, "transpose_b": True}),
    ([any_((3, 2)), any_((4, 3))], {"transpose_a": True, "transpose_b": True}),
    ([any_((2, 2, 3)), any_((2, 3, 1))], {"transpose_a": False, "transpose_b": False}),
    ([any_((2, 3, 2)), any_((2, 1, 3))], {"transpose_a": True, "transpose_b": True}),
    ([any_((1, 1)), any_((1, 1))], {"transpose_a": False, "transpose_b": False}),
    ([any_((2, 3), F32), any_((3, 2), F32)], {"transpose_a": False, "transpose_b": False}),
    ([ints((2, 3)), ints((3, 2))], {"transpose_a": False, "transpose_b": False}),
]


# ----------------------------------------------------------------------------- decompositions
# Well-conditioned matrices, far from where a derivative is undefined: SPD ones
# for cholesky, eigenvalues / singular values at least 1 apart for eigh / svd,
# one clear largest candidate per pivot column for lu. The upper triangle of
# the symmetric cases is random: the primitives read the lower one only.

def _stacked(make, shape, dtype):
    batch, n = shape[:-2], shape[-2:]
    return np.asarray(np.reshape([make(n) for _ in range(_size(batch))], shape), dtype)


def _orthogonal(n):
    q, _ = np.linalg.qr(_rng.normal(size=(n, n)))
    return q


def spd(shape, dtype=F64):
    def one(n):
        a = _rng.normal(size=n) * 0.5
        m = a @ a.T + n[0] * np.eye(n[0])
        return np.tril(m) + np.triu(_rng.normal(size=n), 1)
    return _stacked(one, shape, dtype)


def sym_spread(shape, dtype=F64):
    """Symmetric (lower triangle) with eigenvalues 1.5 apart."""
    def one(n):
        q = _orthogonal(n[0])
        m = q @ np.diag(1.0 + 1.5 * np.arange(n[0])) @ q.T
        return np.tril(m) + np.triu(_rng.normal(size=n), 1)
    return _stacked(one, shape, dtype)


def spread(shape, dtype=F64):
    """Singular values 1.5 apart, from 1."""
    def one(n):
        k = min(n)
        u, v = _orthogonal(n[0])[:, :k], _orthogonal(n[1])[:k]
        return u @ np.diag(1.0 + 1.5 * np.arange(k)[::-1]) @ v
    return _stacked(one, shape, dtype)


def pivoted(shape, dtype=F64):
    """A permuted, diagonally dominant matrix: each pivot column has one
    entry several times larger than the others."""
    def one(n):
        m = _rng.uniform(-0.5, 0.5, n) + np.diag(3.0 + _rng.uniform(0, 1, n[0]))
        return m[_rng.permutation(n[0])]
    return _stacked(one, shape, dtype)


_by_name["cholesky"] = [([spd((3, 3))], {}), ([spd((2, 3, 3))], {}), ([spd((1, 1))], {}),
                        ([spd((4, 4), F32)], {})]
_by_name["triangular_solve"] = [
    ([spd((3, 3)), any_((3, 2))],
     {"lower": lo, "transpose_a": tr, "unit_diagonal": un})
    for lo in (True, False) for tr in (False, True) for un in (False, True)] + [
    ([spd((2, 3, 3)), any_((2, 3, 1))], {"lower": True, "transpose_a": False, "unit_diagonal": False}),
    ([spd((1, 1)), any_((1, 3))], {"lower": False, "transpose_a": True, "unit_diagonal": False}),
    ([spd((3, 3), F32), any_((3, 2), F32)], {"lower": True, "transpose_a": True, "unit_diagonal": False})]
_by_name["triangular_matmul"] = [
    ([any_((3, 3)), any_((3, 2))], {"lower": lo, "transpose_a": tr}) for lo in (True, False) for tr in (False, True)
] + [([any_((2, 3, 3)), any_((2, 3, 1))], {"lower": True, "transpose_a": False}),
     ([any_((1, 1)), any_((1, 3))], {"lower": False, "transpose_a": True}),
     ([any_((3, 3), F32), any_((3, 2), F32)], {"lower": True, "transpose_a": True})]
_by_name["lu"] = [([pivoted((3, 3))], {}), ([pivoted((2, 4, 4))], {}), ([pivoted((1, 1))], {}),
                  ([pivoted((3, 3), F32)], {})]
_by_name["eigh"] = [([sym_spread((3, 3))], {}), ([sym_spread((2, 3, 3))], {}), ([sym_spread((1, 1))], {}),
                    ([sym_spread((3, 3), F32)], {})]
_by_name["svd"] = [([spread((4, 3))], {"full_matrices": False, "compute_uv": True}),
                   ([spread((3, 4))], {"full_matrices": False, "compute_uv": True}),
                   ([spread((3, 3))], {"full_matrices": True, "compute_uv": True}),
                   ([spread((2, 3, 2))], {"full_matrices": False, "compute_uv": True}),
                   ([spread((3, 4))], {"full_matrices": False, "compute_uv": False}),
                   ([spread((4, 3))], {"full_matrices": True, "compute_uv": False}),
                   ([spread((3, 2), F32)], {"full_matrices": False, "compute_uv": True})]
_by_name["qr"] = [([spread((4, 3))], {"full_matrices": False}), ([spread((3, 3))], {"full_matrices": False}),
                  ([spread((3, 3))], {"full_matrices": True}), ([spread((2, 4, 2))], {"full_matrices": False}),
                  ([spread((3, 2), F32)], {"full_matrices": False})]


# ----------------------------------------------------------------------------- integer-valued

_by_name["argsort"] = [([sep((3, 4))], {}), ([np.array([2.0, 1.0, 2.0, np.nan])], {}), ([ints((5,))], {})]
_by_name["shift_left"] = [([u32((2, 3)), np.array([0, 5, 31], np.uint32)], {}),
                          ([u32(()), np.array([1, 32, 40], np.uint32)], {})]
_by_name["shift_right_logical"] = _by_name["shift_left"]
_by_name["threefry2x32"] = [([u32((3,)), u32((3,)), u32((3,)), u32((3,))], {}),
                            ([u32(()), u32(()), u32((2, 2)), u32((2,))], {})]


# ----------------------------------------------------------------------------- control flow
# Each case is the one control-flow equation of a small traced function: its
# operands (evaluated) and params (the bodies).

def _eqn_case(prim_name, program, args, static=()):
    """``(operands, params)`` of the ``prim_name`` equation of ``program`` on
    ``args`` (its operands evaluated). Operands at the positions ``static``
    must be literals of the program: they are returned as Python ints."""
    env = dict(zip(program.const_vars, program.consts))
    env.update(zip(program.in_vars, args))
    found = None
    for eqn in program.eqns:
        invals = [np.asarray(a.value) if type(a) is Literal else env[a] for a in eqn.inputs]
        if eqn.primitive.name == prim_name:
            assert found is None, f"several {prim_name} equations in {program}"
            for i in static:
                assert type(eqn.inputs[i]) is Literal, f"operand {i} of {eqn} is not a literal"
            found = ([int(a) if i in static else a for i, a in enumerate(invals)], dict(eqn.params))
        outs = eqn.primitive.impl(*invals, **eqn.params)
        outs = outs if eqn.primitive.multiple_results else [outs]
        env.update(zip(eqn.outputs, outs))
    assert found is not None, f"no {prim_name} equation in {program}"
    return found


def _control_case(prim_name, fun, *args, static=()):
    """``(operands, params)`` of the ``prim_name`` equation of ``fun(*args)``'s program."""
    avals = [ShapedArray(np.shape(a), np.asarray(a).dtype) for a in args]
    program = trace_flat(lambda *xs: list(fun(*xs)), avals, dce=False)
    return _eqn_case(prim_name, program, args, static)


def _fori_cases():
    def f1(x, y, w):      # carries (x, y), closes over w, uses the counter
        def body(i, c):
            a, b = c
            return a * w + fg.numpy.sin(b) * i, b * 0.5 + a * b
        return fg.fori_loop(0, 3, body, (x, y))

    def f2(x, k):         # an integer carry beside a float one; traced bounds
        def body(i, c):
            a, n = c
            return fg.numpy.cos(a) + a * a, n + i
        return fg.fori_loop(k, k + 2, body, (x, np.int64(0)))

    def f3(x):            # zero iterations
        return [fg.fori_loop(2, 2, lambda i, a: a * a, x)]

    # static bounds (Python ints, literals of the program) in f1 and f3: reverse mode
    # works; traced ones in f2: forward mode only when traced (STATIC_FOR_REVERSE)
    return [_control_case("fori_loop", f1, any_((2,)), any_((2,)), any_((2,)), static=(0, 1)),
            _control_case("fori_loop", f2, any_(()), np.int64(1)),
            _control_case("fori_loop", f3, any_((3,)), static=(0, 1))]


def _while_cases():
    def f1(x, w):         # the iteration count depends on an integer carry only
        def body(c):
            n, a = c
            return n + 1, fg.numpy.sin(a) * w + a
        return fg.while_loop(lambda c: c[0] < 3, body, (np.int64(0), x))

    def f2(x, lim):       # the condition closes over a float
        def body(c):
            n, a = c
            return n + 1.0, a * 1.1
        return fg.while_loop(lambda c: c[0] < lim, body, (np.float64(0.0), x))

    return [_control_case("while_loop", f1, any_((2,)), any_((2,))),
            _control_case("while_loop", f2, any_((3,)), np.float64(2.5))]


def _scan_cases():
    def f1(c, xs, w):
        def step(c, x):
            return c * w + x, fg.numpy.sin(c) * x
        carry, ys = fg.scan(step, c, xs)
        return [carry, ys]

    def f2(c, xs):
        def step(c, x):
            return c + x * x, c * 2.0
        carry, ys = fg.scan(step, c, xs, reverse=True)
        return [carry, ys]

    def f3(c, xs):        # float32, an integer xs
        def step(c, k):
            return c * np.float32(0.5) + fg.numpy.cos(c), k * 2
        carry, ys = fg.scan(step, c, xs)
        return [carry, ys]

    return [_control_case("scan", f1, any_((2,)), any_((4, 2)), any_((2,))),
            _control_case("scan", f2, any_(()), any_((3,))),
            _control_case("scan", f3, any_((2,), F32), ints((3,)))]


def _switch_cases():
    branches = [lambda x, y: (x * y, fg.numpy.sin(x)),
                lambda x, y: (x + y, x * 2.0),
                lambda x, y: (fg.numpy.exp(y) + x * 0.0, x)]

    def f(k, x, y):
        return fg.switch(k, branches, x, y)

    def g(p, x):
        return [fg.cond(p, lambda a: a * a, lambda a: fg.numpy.cos(a), x)]

    return ([_control_case("switch", f, np.int32(k), any_((3,)), any_((3,))) for k in (0, 1, 2, 7)]
            + [_control_case("switch", g, np.bool_(b), any_((2,))) for b in (True, False)])


CONTROL = ("fori_loop", "while_loop", "scan", "switch")
_by_name["fori_loop"] = _fori_cases()
_by_name["while_loop"] = _while_cases()
_by_name["scan"] = _scan_cases()
_by_name["switch"] = _switch_cases()


# ----------------------------------------------------------------------------- call primitives
# ``checkpoint[body](*operands)`` evaluates a closed Program: cases are built
# directly. The custom-derivative calls are the one equation of ``fg.make_ir``
# of a small ``fg.custom_jvp`` / ``fg.custom_vjp`` function whose rule is the
# exact derivative (so that finite differences check the rules' plumbing); the
# functions close over nothing (``num_consts == 0``: differentiating a
# closed-over value is an error by design).

CALLS = ("checkpoint", "custom_jvp_call", "custom_vjp_call")


def _closed(fun, *args):
    """``(args, {"body": program})`` for ``fun`` traced on ``args`` into a closed Program."""
    avals = [ShapedArray(np.shape(a), np.asarray(a).dtype) for a in args]
    program = trace_flat(lambda *xs: list(fun(*xs)), avals)
    assert not program.const_vars, "a checkpoint body must be closed"
    return list(args), {"body": program}


def _checkpoint_cases():
    fnp = fg.numpy

    def f1(x, w):
        h = fnp.tanh(x * w)
        return [fnp.sum(h * h), h * x]

    def f2(x, k):      # an integer operand and output beside the float ones
        return [x[k] * 2.0, k + 1]

    def f3(x):
        return [fnp.exp(x) + fnp.sin(x)]

    return [_closed(f1, any_((2, 3)), any_((3,))), _closed(f2, any_((4,)), np.int64(2)),
            _closed(f3, any_((3,), F32))]


def _custom_case(prim_name, fun, *args):
    """``(operands, params)`` of the ``prim_name`` equation of ``fg.make_ir(fun)(*args)``."""
    program = fg.make_ir(fun)(*args)
    case = _eqn_case(prim_name, program, args)
    assert case[1]["num_consts"] == 0, f"{prim_name}: the case's function closes over a value"
    return case


def _custom_jvp_cases():
    fnp = fg.numpy

    @fg.custom_jvp
    def log1pexp(x):                    # softplus, stable for large |x|
        return fnp.log1p(fnp.exp(-fnp.abs(x))) + fnp.maximum(x, 0.0)

    @log1pexp.defjvp
    def _log1pexp_jvp(primals, tangents):
        (x,), (t,) = primals, tangents
        return log1pexp(x), t * (1.0 / (1.0 + fnp.exp(-x)))

    @fg.custom_jvp
    def two(x, y):                      # two arguments, two outputs
        return x * fnp.sin(y), x + y * y

    @two.defjvp
    def _two_jvp(primals, tangents):
        (x, y), (tx, ty) = primals, tangents
        return two(x, y), (tx * fnp.sin(y) + x * fnp.cos(y) * ty, tx + 2.0 * y * ty)

    @fg.custom_jvp
    def scaled(x, k):                   # an integer argument (its tangent: integer zeros)
        return x * x * k

    @scaled.defjvp
    def _scaled_jvp(primals, tangents):
        (x, k), (t, _) = primals, tangents
        return scaled(x, k), 2.0 * x * k * t

    f = "custom_jvp_call"
    return [_custom_case(f, log1pexp, sep((2, 3))),
            _custom_case(f, log1pexp, np.array([-40.0, -3.2, 0.45, 2.5, 40.0])),
            _custom_case(f, log1pexp, sep(())),
            _custom_case(f, two, any_((3,)), any_((3,))),
            _custom_case(f, scaled, any_((2, 2)), np.int64(3)),
            _custom_case(f, log1pexp, sep((3,), F32))]


def _custom_vjp_cases():
    fnp = fg.numpy

    @fg.custom_vjp
    def sin_mul(x, y):
        return fnp.sin(x) * y

    def _sin_mul_fwd(x, y):
        return sin_mul(x, y), (x, y)

    def _sin_mul_bwd(res, g):
        x, y = res
        return g * fnp.cos(x) * y, g * fnp.sin(x)

    sin_mul.defvjp(_sin_mul_fwd, _sin_mul_bwd)

    @fg.custom_vjp
    def pair(x, k):                     # an integer argument, two outputs
        return fnp.exp(x) * k, x * x

    def _pair_fwd(x, k):
        e = fnp.exp(x)
        return (e * k, x * x), (x, e, k)

    def _pair_bwd(res, g):
        x, e, k = res
        g1, g2 = g
        return g1 * e * k + 2.0 * x * g2, None

    pair.defvjp(_pair_fwd, _pair_bwd)

    f = "custom_vjp_call"
    return [_custom_case(f, sin_mul, any_((3,)), any_((3,))),
            _custom_case(f, sin_mul, any_(()), any_(())),
            _custom_case(f, sin_mul, any_((2, 3)), any_((2, 3))),
            _custom_case(f, pair, any_((2,)), np.int64(2)),
            _custom_case(f, sin_mul, any_((3,), F32), any_((3,), F32))]


_by_name["checkpoint"] = _checkpoint_cases()
_by_name["custom_jvp_call"] = _custom_jvp_cases()
_by_name["custom_vjp_call"] = _custom_vjp_cases()
_pending: dict[str, str] = {}


# ----------------------------------------------------------------------------- reasons

_no_float_output = "its outputs are never floating point: no tangent or cotangent flows through it"
_reasons = {name: _no_float_output for name in (
    "lt", "le", "gt", "ge", "eq", "ne", "and", "or", "xor", "not", "is_finite", "argmax", "argmin",
    "argsort", "shift_left", "shift_right_logical", "threefry2x32")}
_reasons["iota"] = "it has no operands: its output is a constant"
for name in ("floor", "ceil", "round", "sign", "floordiv"):
    _reasons[name] = "piecewise constant: its derivative is zero wherever it is defined"
_reasons["stop_gradient"] = "the identity whose derivative is zero by definition"

_reverse_only = {"custom_vjp_call": "a custom VJP defines reverse-mode derivatives only: forward mode "
                                    "(jvp, jacfwd) raises UnsupportedError by design, as in JAX"}
_forward_only = {"while_loop": "its trip count is only known at run time: reverse mode (grad, vjp) "
                               "raises UnsupportedError by design, as in JAX"}
_no_batch_rule: dict[str, str] = {}
_static_for_reverse = {"fori_loop": ((0, 1), "reverse mode needs a static trip count: a traced bound "
                                             "raises UnsupportedError by design, as in JAX")}


def _keyed(d):
    missing = sorted(set(d) - set(primitives))
    assert not missing, f"unknown primitives {missing}"
    return {primitives[name]: v for name, v in d.items()}


#: primitive -> list of (args, params)
CASES = _keyed(_by_name)
#: primitive -> list of (args, params) at points where the derivative is a convention
SPECIAL = _keyed(_special)
#: primitive -> why it has no derivative to check (see the module's docstring)
NON_DIFFERENTIABLE = _keyed(_reasons)
#: primitive -> why it has no cases yet (the conformance tests mark these xfail)
NO_CASES = _keyed(_pending)
#: primitive -> why its forward mode raises UnsupportedError by design
REVERSE_ONLY = _keyed(_reverse_only)
#: primitive -> why its reverse mode raises UnsupportedError by design
FORWARD_ONLY = _keyed(_forward_only)
#: primitive -> (operand positions, why): operands that must be static (Python ints) for a
#: traced reverse pass
STATIC_FOR_REVERSE = _keyed(_static_for_reverse)
#: primitive -> why it has no batching rule (vmap of it raises UnsupportedError)
NO_BATCH_RULE = _keyed(_no_batch_rule)
