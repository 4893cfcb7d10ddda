"""Batching rules of the non-control primitives (funcgrad/transforms/batching/rules.py).

Each primitive is checked on one-equation programs: ``batch_program`` on a
batch of arguments (batch axes first, in the middle or last, some operands
unbatched, operands of different ranks, 0-d operands, size-1 axes, batches
of 1 and 3) against a Python loop over the batch, with the interpreter. The
batched computation is also traced, to check that the rules work on tracers
and that the batched program does not grow with the batch (no Python loop).
"""
from __future__ import annotations

import itertools
from collections import Counter

import numpy as np
import pytest

import funcgrad  # noqa: F401  (registers the primitives and the rules)
from funcgrad.core.evaluate import eval_program
from funcgrad.core.ir import ShapedArray
from funcgrad.core.trace import primitives, trace_flat
from funcgrad.transforms.batching import batch_program, batch_rules

CONTROL = {"fori_loop", "while_loop", "scan", "switch"}
# the call primitives: batched (like every primitive, control flow included) on the cases
# of tests/primitive_cases.py by tests/test_conformance.py::test_batching_matches_loop
CALLS = {"checkpoint", "custom_jvp_call", "custom_vjp_call"}
P = primitives


# ----------------------------------------------------------------------------- operands

class Op:
    """An operand: shape, dtype and the kind of values drawn for it."""

    def __init__(self, shape, dtype=np.float64, kind="normal", hi=None):
        self.shape, self.dtype, self.kind, self.hi = tuple(shape), np.dtype(dtype), kind, hi

    def draw(self, rng):
        s, dt, kind = self.shape, self.dtype, self.kind
        if kind == "normal":
            x = rng.standard_normal(s) * 2
        elif kind == "pos":          # inside (0, 1): every unary function's domain
            x = rng.uniform(0.1, 0.9, s)
        elif kind == "special":      # with infinities and nans
            x = rng.choice([0.5, -1.5, np.inf, -np.inf, np.nan, 3.0], s)
        elif kind == "small":        # integers with ties, no zero (divisors)
            x = rng.integers(1, 4, s)
        elif kind == "ints":         # signed, with zeros and negatives
            x = rng.integers(-3, 4, s)
        elif kind == "bool":
            x = rng.random(s) < 0.5
        elif kind == "bits":         # the whole range of an integer dtype
            info = np.iinfo(dt)
            x = rng.integers(info.min, int(info.max) + 1, s, dtype=dt)
        elif kind == "shift":        # shift amounts, some past the width
            x = rng.integers(0, 40, s)
        elif kind in ("spd", "matrix"):   # stacks of SPD / well-conditioned square matrices
            n = s[-1]
            a = rng.standard_normal(s)
            x = (a @ np.swapaxes(a, -1, -2) / n if kind == "spd" else a) + n * np.eye(n)
        elif kind == "index":        # indices into an axis of `hi`, some out of range
            lo = -2 if dt.kind == "i" else 0
            x = rng.integers(lo, self.hi + 3, s)
        else:
            raise ValueError(kind)
        return np.asarray(x).astype(dt)

    @property
    def rank(self):
        return len(self.shape)


def F(*shape, kind="normal"):
    return Op(shape, np.float64, kind)


def positions(op):
    """Batch-axis positions to try for an operand: first, middle, last."""
    r = op.rank
    return sorted({0, (r + 1) // 2, r})


def dim_combos(ops, full=False):
    """Batch dimensions of the operands: all combinations of unbatched and the
    positions of :func:`positions` (every position with ``full``), not all unbatched."""
    opts = [[None] + (list(range(op.rank + 1)) if full else positions(op)) for op in ops]
    return [c for c in itertools.product(*opts) if any(d is not None for d in c)]


# ----------------------------------------------------------------------------- the check

def _outs(prim, out):
    return list(out) if prim.multiple_results else [out]


def batched_aval(op, d, size):
    if d is None:
        return ShapedArray(op.shape, op.dtype)
    return ShapedArray(op.shape[:d] + (size,) + op.shape[d:], op.dtype)


def check(prim, params, ops, dims, size, rng):
    elems = [[op.draw(rng) for _ in range(size)] for op in ops]
    check_examples(prim, params, elems, dims, size)


def _tolerance(dtype):
    return (1e-12, 1e-14) if np.dtype(dtype).itemsize >= 8 else (2e-6, 1e-6)


def check_examples(prim, params, elems, dims, size, program=None, allow_unbatched=False):
    """``batch_program`` of the one-equation program of ``prim`` (or of
    ``program``, whose inputs are the operands) against a Python loop over
    the batch, concrete and traced. ``elems[i]``: the ``size`` examples of
    operand ``i`` (only the first is used where ``dims[i]`` is None). With
    ``allow_unbatched``, an output may come out unbatched (one value for the
    whole batch: an output of a multiple-result primitive that depends on
    unbatched operands only), if every example agrees."""
    args = [np.stack(e, axis=d) if d is not None else e[0] for e, d in zip(elems, dims)]
    in_avals = [ShapedArray(np.shape(e[0]), np.asarray(e[0]).dtype) for e in elems]
    if program is None:
        program = trace_flat(lambda *a: _outs(prim, prim.bind(*a, **params)), in_avals)
        assert len(program.eqns) == 1
    with np.errstate(all="ignore"):
        outs, out_dims = batch_program(program, args, list(dims), size)
        per = [_outs(prim, prim.bind(*[e[b] if d is not None else e[0] for e, d in zip(elems, dims)],
                                     **params)) for b in range(size)]
    assert len(outs) == len(per[0])
    for j, (o, od) in enumerate(zip(outs, out_dims)):
        if od is None:
            assert allow_unbatched, f"output {j} is not batched"
            o = np.broadcast_to(np.asarray(o), (size,) + np.shape(o))
            od = 0
        want = np.moveaxis(np.stack([np.asarray(p[j]) for p in per]), 0, od)
        o = np.asarray(o)
        assert o.shape == want.shape and o.dtype == want.dtype, (o.shape, o.dtype, want.shape, want.dtype)
        if o.dtype.kind == "f":
            rtol, atol = _tolerance(o.dtype)
            np.testing.assert_allclose(o, want, rtol=rtol, atol=atol, equal_nan=True,
                                       err_msg=f"output {j}")
        else:
            np.testing.assert_array_equal(o, want, err_msg=f"output {j}")

    # traced: the same values, and a program that does not grow with the batch
    def batched(size_):
        return trace_flat(lambda *a: batch_program(program, a, list(dims), size_)[0],
                          [batched_aval(a, d, size_) for a, d in zip(in_avals, dims)])

    traced = batched(size)
    with np.errstate(all="ignore"):
        again = eval_program(traced, args)
    for o, a in zip(outs, again):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(o))
    if size > 1:
        assert len(batched(size + 4).eqns) == len(traced.eqns)


# ----------------------------------------------------------------------------- the cases
# CASES[name]: a list of (params, operands, dims or None for dim_combos(operands))

CASES: dict[str, list] = {}


def add_case(name, params, ops, dims=None):
    CASES.setdefault(name, []).append((params, ops, dims))


UNARY_SHAPES = [(3, 4), (), (1, 3), (2, 1, 3)]
for name in ("exp", "log", "log1p", "expm1", "sqrt", "sin", "cos", "tan", "asin", "acos", "atan",
             "sinh", "cosh", "tanh"):
    for s in UNARY_SHAPES:
        add_case(name, {}, [F(*s, kind="pos")])
for name in ("neg", "abs", "sign", "floor", "ceil", "round", "logistic", "stop_gradient"):
    for s in UNARY_SHAPES:
        add_case(name, {}, [F(*s)])
for name in ("neg", "abs", "sign", "stop_gradient"):
    add_case(name, {}, [Op((3, 4), np.int64, "ints")])
for s in UNARY_SHAPES:
    add_case("is_finite", {}, [F(*s, kind="special")])
    add_case("not", {}, [Op(s, bool, "bool")])
add_case("not", {}, [Op((3, 4), np.uint8, "bits")])
add_case("not", {}, [Op((2, 3), np.int32, "bits")])
for y in (0, 1, 2, 3, -2):
    add_case("integer_pow", {"y": y}, [F(3, 4)])
add_case("integer_pow", {"y": 3}, [F()])
add_case("integer_pow", {"y": 3}, [Op((2, 3), np.int64, "ints")])
for src, dst, kind in ((np.float64, np.int32, "normal"), (np.float64, np.float32, "normal"),
                       (np.int64, np.float64, "ints"), (bool, np.int64, "bool"), (np.float64, bool, "ints")):
    for s in ((3, 4), ()):
        add_case("convert_element_type", {"dtype": np.dtype(dst)}, [Op(s, src, kind)])

BINARY_SHAPES = [((3, 4), (3, 4)), ((3, 4), (4,)), ((2, 3, 4), ()), ((), (2, 3)), ((1, 4), (3, 1)),
                 ((), ()), ((2, 1, 4), (3, 1))]


def add_binary(name, dtype, kind_x, kind_y=None):
    for sx, sy in BINARY_SHAPES:
        add_case(name, {}, [Op(sx, dtype, kind_x), Op(sy, dtype, kind_y or kind_x)])


for name in ("add", "sub", "mul", "max", "min"):
    add_binary(name, np.float64, "normal")
    add_binary(name, np.int64, "ints")
add_binary("div", np.float64, "normal", "pos")
add_binary("pow", np.float64, "pos", "normal")
add_binary("atan2", np.float64, "normal")
for name in ("rem", "floordiv"):
    add_binary(name, np.float64, "normal", "pos")
    add_binary(name, np.int64, "ints", "small")
for name in ("and", "or", "xor"):
    add_binary(name, bool, "bool")
    add_binary(name, np.uint8, "bits")
    add_binary(name, np.int64, "bits")
for name in ("lt", "le", "gt", "ge", "eq", "ne"):
    add_binary(name, np.int64, "small")
    add_binary(name, np.float64, "normal")
for name in ("shift_left", "shift_right_logical"):
    add_binary(name, np.uint32, "bits", "shift")
    add_binary(name, np.uint8, "bits", "shift")

for sp, st, sf in (((3, 4), (3, 4), (3, 4)), ((3, 4), (), (4,)), ((), (2, 3), ()), ((1, 4), (3, 1), (4,)),
                   ((), (), ())):
    add_case("select", {}, [Op(sp, bool, "bool"), F(*st), F(*sf)])
add_case("select", {}, [Op((2, 3), bool, "bool"), Op((2, 3), np.int64, "ints"), Op((), np.int64, "ints")])

for shapes in (((3,),) * 4, ((), (), (2, 3), (2, 3)), ((), (1,), (3,), (2, 1))):
    add_case("threefry2x32", {}, [Op(s, np.uint32, "bits") for s in shapes])

for name in ("reduce_sum", "reduce_max", "reduce_min", "reduce_prod"):
    kind = "pos" if name == "reduce_prod" else "normal"
    for axes in ((), (0,), (1,), (2,), (0, 2), (0, 1, 2)):
        for keepdims in (False, True):
            add_case(name, {"axes": axes, "keepdims": keepdims}, [F(3, 4, 5, kind=kind)])
    add_case(name, {"axes": (0,), "keepdims": False}, [Op((3, 4), np.int64, "small")])
    add_case(name, {"axes": (1,), "keepdims": True}, [F(1, 4, kind=kind)])
    add_case(name, {"axes": (0,), "keepdims": False}, [F(1, 4, kind=kind)])
    add_case(name, {"axes": (), "keepdims": False}, [F(kind=kind)])
for name in ("argmax", "argmin"):
    for axis in (0, 1, 2):
        for keepdims in (False, True):
            add_case(name, {"axis": axis, "keepdims": keepdims, "index_dtype": np.dtype(np.int64)},
                     [Op((3, 4, 5), np.int64, "small")])
    add_case(name, {"axis": 0, "keepdims": False, "index_dtype": np.dtype(np.int32)}, [F(4)])
    add_case(name, {"axis": 1, "keepdims": False, "index_dtype": np.dtype(np.int64)}, [F(3, 1)])
    add_case(name, {"axis": 0, "keepdims": True, "index_dtype": np.dtype(np.int64)}, [Op((4, 2), bool, "bool")])
add_case("argsort", {}, [Op((4, 5), np.int64, "small")])
add_case("argsort", {}, [F(6, kind="special")])
add_case("argsort", {}, [F(2, 3, 4)])
add_case("argsort", {}, [F(3, 1)])

for src, dst in (((2, 3, 4), (6, 4)), ((2, 3, 4), (24,)), ((2, 3, 4), (4, 3, 2)), ((2, 3, 4), (2, 12)),
                 ((2, 3, 4), (1, 24, 1)), ((), (1, 1)), ((1,), ()), ((2, 3), (3, 2)), ((0, 3), (3, 0))):
    add_case("reshape", {"shape": dst}, [F(*src)])
for perm in itertools.permutations(range(3)):
    if perm != (0, 1, 2):
        add_case("transpose", {"permutation": perm}, [F(2, 3, 4)])
add_case("transpose", {"permutation": (1, 0)}, [F(1, 3)])
for src, dst in (((3,), (2, 3)), ((), (2, 3)), ((1, 3), (4, 2, 3)), ((2, 1), (2, 5)), ((4,), (4,)),
                 ((), ()), ((1,), (3,))):
    add_case("broadcast_to", {"shape": dst}, [F(*src)])
for shape, starts, limits, strides in (((5, 6), (1, 0), (4, 6), (1, 1)), ((5, 6), (0, 1), (5, 6), (2, 3)),
                                       ((5, 6), (2, 2), (2, 5), (1, 1)), ((7,), (1,), (6,), (2,))):
    add_case("slice", {"starts": starts, "limits": limits, "strides": strides}, [F(*shape)])
for shape, low, high, interior in (((3, 4), (1, 0), (0, 2), (0, 1)), ((3, 4), (0, 0), (0, 0), (2, 0)),
                                   ((2,), (1,), (2,), (1,)), ((), (), (), ())):
    add_case("pad", {"low": low, "high": high, "interior": interior}, [F(*shape)])
for axes in ((0,), (1, 2), (0, 1, 2), (2,)):
    add_case("rev", {"axes": axes}, [F(3, 4, 5)])
add_case("rev", {"axes": (0,)}, [F(4)])
for shapes, axis in ((((2, 3), (4, 3)), 0), (((2, 3), (2, 1), (2, 2)), 1), (((3,), (0,)), 0),
                     (((1, 2, 2), (1, 2, 2)), 2)):
    add_case("concatenate", {"axis": axis}, [F(*s) for s in shapes])
add_case("concatenate", {"axis": 0}, [Op((2,), np.int64, "ints"), Op((3,), np.int64, "ints")])
for sb, sp, low, interior in (((5, 6), (2, 3), (1, 2), (1, 0)), ((5, 6), (), (2, 3), (0, 0)),
                              ((), (), (), ()), ((4,), (4,), (0,), (0,)), ((4, 1), (1, 1), (3, 0), (0, 0))):
    add_case("pad_add", {"low": low, "interior": interior}, [F(*sb), F(*sp)])
add_case("pad_add", {"low": (1,), "interior": (1,)}, [Op((5,), np.int64, "ints"), Op((2,), np.int64, "ints")])

for lead in ((), (2,)):
    for n, k, m in ((2, 3, 4), (1, 3, 1)):
        for ta, tb in itertools.product((False, True), repeat=2):
            sa = lead + ((k, n) if ta else (n, k))
            sb = lead + ((m, k) if tb else (k, m))
            ops = [F(*sa), F(*sb)]
            add_case("matmul", {"transpose_a": ta, "transpose_b": tb}, ops, dim_combos(ops, full=True))
add_case("matmul", {"transpose_a": False, "transpose_b": True},
         [Op((3, 2), np.int64, "ints"), Op((4, 2), np.int64, "ints")])

for name, kind in (("cholesky", "spd"), ("lu", "matrix"), ("eigh", "spd")):
    for s in ((3, 3), (2, 3, 3), (1, 1)):
        add_case(name, {}, [F(*s, kind=kind)])
for s in ((4, 3), (3, 4), (2, 3, 3)):
    for full, uv in ((False, True), (True, True), (False, False)):
        add_case("svd", {"full_matrices": full, "compute_uv": uv}, [F(*s)])
    add_case("qr", {"full_matrices": False}, [F(*s)])
    add_case("qr", {"full_matrices": True}, [F(*s)])
for lower, trans, unit in itertools.product((False, True), repeat=3):
    add_case("triangular_solve", {"lower": lower, "transpose_a": trans, "unit_diagonal": unit},
             [F(3, 3, kind="matrix"), F(3, 2)])
add_case("triangular_solve", {"lower": True, "transpose_a": False, "unit_diagonal": False},
         [F(2, 3, 3, kind="matrix"), F(2, 3, 1)])
for lower, trans in itertools.product((False, True), repeat=2):
    add_case("triangular_matmul", {"lower": lower, "transpose_a": trans}, [F(3, 3), F(3, 2)])

for xs, axis, ishape, idt in (((4, 5), 0, (), np.int64), ((4, 5), 0, (3,), np.int64), ((4, 5), 1, (2, 3), np.int64),
                              ((4, 5), 1, (3,), np.int32), ((4, 5), 0, (3,), np.uint8), ((4,), 0, (2,), np.int64),
                              ((2, 3, 4), 1, (2,), np.int64), ((0, 3), 0, (0,), np.int64),
                              ((200,), 0, (3,), np.int8)):
    add_case("take", {"axis": axis}, [F(*xs), Op(ishape, idt, "index", hi=xs[axis])])
for os_, axis, ishape, idt in (((4, 5), 0, (3,), np.int64), ((4, 5), 1, (2, 3), np.int64), ((4, 5), 0, (), np.int64),
                               ((4,), 0, (6,), np.uint8), ((3, 2, 4), 1, (3,), np.int32),
                               ((200,), 0, (4,), np.int8)):
    ushape = os_[:axis] + ishape + os_[axis + 1:]
    add_case("scatter_add", {"axis": axis}, [F(*os_), Op(ishape, idt, "index", hi=os_[axis]), F(*ushape)])
add_case("scatter_add", {"axis": 0}, [Op((4, 2), np.int64, "ints"), Op((5,), np.int64, "index", hi=4),
                                      Op((5, 2), np.int64, "ints")])


# ----------------------------------------------------------------------------- the tests

def test_every_primitive_has_a_batch_rule():
    missing = sorted(name for name, p in primitives.items() if name not in CONTROL and p not in batch_rules)
    assert not missing, f"primitives without a batching rule: {missing}"


def test_every_primitive_is_tested():
    # iota has no operands: it is never batched. The control-flow and call primitives are
    # batched by tests/test_conformance.py::test_batching_matches_loop (on the cases of
    # tests/primitive_cases.py, against a loop over the batch), and also through fg.vmap in
    # tests/test_control_transforms.py and tests/test_custom_derivatives.py
    untested = sorted(name for name in primitives if name not in CONTROL | CALLS | {"iota"} | set(CASES))
    assert not untested, f"primitives without batching test cases: {untested}"


@pytest.mark.parametrize("name", sorted(CASES))
def test_batch_rule(name):
    prim = P[name]
    rng = np.random.default_rng(0)
    for params, ops, dims_list in CASES[name]:
        for dims in (dims_list if dims_list is not None else dim_combos(ops)):
            for size in (1, 3):
                try:
                    check(prim, params, ops, dims, size, rng)
                except Exception as e:
                    shapes = [op.shape for op in ops]
                    raise AssertionError(f"{name}{params} on {shapes} {[op.dtype.name for op in ops]}, "
                                         f"dims {dims}, batch {size}: {type(e).__name__}: {e}") from e


def _batched_program(prim, params, ops, dims, size):
    program = trace_flat(lambda *a: _outs(prim, prim.bind(*a, **params)),
                         [ShapedArray(op.shape, op.dtype) for op in ops])
    return trace_flat(lambda *a: batch_program(program, a, list(dims), size)[0],
                      [batched_aval(op, d, size) for op, d in zip(ops, dims)])


@pytest.mark.parametrize("ta,tb", list(itertools.product((False, True), repeat=2)))
@pytest.mark.parametrize("batched", ["lhs", "rhs"])
def test_matmul_with_an_unbatched_operand_is_one_product(ta, tb, batched):
    n, k, m, size = 2, 3, 4, 5
    a, b = F(*((k, n) if ta else (n, k))), F(*((m, k) if tb else (k, m)))
    for d in range(3):
        dims = (d, None) if batched == "lhs" else (None, d)
        prog = _batched_program(P["matmul"], {"transpose_a": ta, "transpose_b": tb}, [a, b], dims, size)
        names = Counter(e.primitive.name for e in prog.eqns)
        assert names["matmul"] == 1, prog
        assert names["broadcast_to"] == 0, prog
        # the batch merges with the free axis (rows of op(a), columns of op(b)) without a
        # transpose when it lies next to it
        free = (1 if ta else 0) if batched == "lhs" else (0 if tb else 1)
        if d in (free, free + 1):
            assert names["transpose"] == 0, prog
        assert len(prog.eqns) <= 4
        mm = next(e for e in prog.eqns if e.primitive.name == "matmul")
        assert all(v.aval.ndim == 2 for v in mm.outputs)   # one 2-d product, not a batched one


def test_matmul_typical_layer_has_no_copy():
    # x: (B, n, k) batched on 0 @ w: (k, m): reshape, one gemm, reshape
    prog = _batched_program(P["matmul"], {"transpose_a": False, "transpose_b": False},
                            [F(2, 3), F(3, 4)], (0, None), 7)
    assert [e.primitive.name for e in prog.eqns] == ["reshape", "matmul", "reshape"]


def test_elementwise_same_layout_has_no_data_movement():
    # operands batched at the same axis, and an unbatched one broadcasting from the trailing side
    prog = _batched_program(P["add"], {}, [F(3, 4), F(3, 4)], (1, 1), 5)
    assert [e.primitive.name for e in prog.eqns] == ["add"]
    prog = _batched_program(P["mul"], {}, [F(3, 4), F(4)], (0, None), 5)
    assert [e.primitive.name for e in prog.eqns] == ["mul"]
    prog = _batched_program(P["mul"], {}, [F(3, 4), F()], (2, None), 5)
    assert [e.primitive.name for e in prog.eqns] == ["mul"]


def test_gathers_with_batched_indices_are_one_gather():
    prog = _batched_program(P["take"], {"axis": 1}, [F(4, 5), Op((2, 3), np.int64, "index", hi=5)], (0, 0), 6)
    names = Counter(e.primitive.name for e in prog.eqns)
    assert names["take"] == 1
    prog = _batched_program(P["scatter_add"], {"axis": 0},
                            [F(4, 5), Op((3,), np.int64, "index", hi=4), F(3, 5)], (None, 0, 0), 6)
    names = Counter(e.primitive.name for e in prog.eqns)
    assert names["scatter_add"] == 1


def test_iota_in_a_batched_program():
    from funcgrad import primitives as fp

    program = trace_flat(lambda x: [fp.add(x, fp.iota((3,), 0, np.float64))], [ShapedArray((3,), np.float64)])
    x = np.arange(6.0).reshape(2, 3)
    (out,), (d,) = batch_program(program, [x], [0], 2)
    np.testing.assert_array_equal(np.moveaxis(np.asarray(out), d, 0), x + np.arange(3.0))


def test_nested_batching_composes():
    # vmap of vmap: the rules' own output batched again, against a double loop
    from funcgrad import primitives as fp

    def f(x, w, idx, u):
        h = fp.matmul(x, w)                                   # (4, 2)
        g = fp.mul(fp.take(h, idx, 0), u)                     # (5, 2)
        s = fp.reduce_sum(g, (1,))                            # (5,)
        return [s, fp.argsort(s), fp.scatter_add(h, idx, g, 0)]

    avals = [ShapedArray((4, 3), np.float64), ShapedArray((3, 2), np.float64),
             ShapedArray((5,), np.int64), ShapedArray((), np.float64)]
    program = trace_flat(f, avals)
    inner, inner_dims = 3, [0, None, 0, 0]
    inner_avals = [ShapedArray((inner,) + a.shape, a.dtype) if d is not None else a
                   for a, d in zip(avals, inner_dims)]
    box = {}

    def batched(*a):
        outs, dims = batch_program(program, a, inner_dims, inner)
        box["dims"] = dims
        return outs

    program2 = trace_flat(batched, inner_avals)
    d_in = box["dims"]
    outer, outer_dims = 2, [1, 0, None, None]
    rng = np.random.default_rng(3)
    # elems[o][i]: the arguments of the original program
    x = rng.standard_normal((outer, inner, 4, 3))
    w = rng.standard_normal((outer, 3, 2))
    idx = rng.integers(-1, 6, (inner, 5))
    u = rng.standard_normal((inner,))
    args2 = [np.moveaxis(x, 0, 1), w, idx, u]    # program2's arguments, x batched (outer) on axis 1
    outs, d_out = batch_program(program2, args2, outer_dims, outer)
    for j, o in enumerate(outs):
        got = np.moveaxis(np.moveaxis(np.asarray(o), d_out[j], 0), d_in[j] + 1, 1)
        want = np.stack([np.stack([np.asarray(eval_program(program, [x[a, b], w[a], idx[b], u[b]])[j])
                                   for b in range(inner)]) for a in range(outer)])
        np.testing.assert_allclose(got, want, rtol=1e-12)
