"""The Numba backend's lowering tables against the primitive registry.

Every registered primitive has its Numba lowering in exactly one table of
``funcgrad.backends.numba_backend.lowering`` (scalar, reduction or statement
rules) or is listed, with its reason, in ``NOT_LOWERED``; and every lowered
primitive compiles and matches the interpreter. The programs below group all
primitives into one program per dtype family (a Numba compile costs seconds),
and a check asserts that together they use every lowered primitive: a
primitive added to a table without a use here fails at once.
"""
from functools import partial

import numpy as np
import pytest

import funcgrad as fg
import funcgrad.numpy as fnp
from funcgrad import primitives as P
from funcgrad.primitives import decompositions as D
from funcgrad.core.ir import Eqn, Program, ShapedArray, Var
from funcgrad.core.trace import primitives
from funcgrad.primitives.control import subprograms, switch_p
from funcgrad.primitives.elementwise import exp_p

pytest.importorskip("numba")

from funcgrad.backends import interpreter  # noqa: E402
from funcgrad.backends import numba_backend  # noqa: E402
from funcgrad.backends.numba_backend import lowering  # noqa: E402

TABLES = {"scalar_lowering": lowering.scalar_lowering,
          "reduction_lowering": lowering.reduction_lowering,
          "emit_lowering": lowering.emit_lowering}


def _lowered():
    return {p for table in TABLES.values() for p in table}


# ----------------------------------------------------------------------------- the registry

def test_every_primitive_is_in_exactly_one_table_or_not_lowered():
    problems = []
    for name, prim in primitives.items():
        tables = [t for t, table in TABLES.items() if prim in table]
        if prim in lowering.NOT_LOWERED:
            if tables:
                problems.append(f"{name}: in NOT_LOWERED and in {tables}")
        elif len(tables) != 1:
            problems.append(f"{name}: in {tables or 'no table'} (add a rule to one table in "
                            "numba_backend/lowering.py, or list it in NOT_LOWERED with the reason)")
    assert not problems, "\n".join(problems)


def test_tables_hold_registered_primitives_only():
    registered = set(primitives.values())
    for t, table in list(TABLES.items()) + [("NOT_LOWERED", lowering.NOT_LOWERED)]:
        for prim in table:
            assert prim in registered and primitives[prim.name] is prim, f"{t}: {prim!r} is not registered"
    for prim, reason in lowering.NOT_LOWERED.items():
        assert isinstance(reason, str) and reason.strip(), f"NOT_LOWERED[{prim!r}] needs its reason"
    assert lowering.uses_loop_index <= set(lowering.scalar_lowering)
    assert lowering.views_operand <= set(lowering.emit_lowering)


class _Unlowered:
    """Stands for a primitive with no rule (not registered, so the registry stays as it is)."""
    name = "not_a_registered_primitive"


def test_unsupported_answers_from_the_tables():
    f64 = ShapedArray((2,), np.float64)
    x, y, z, w = (Var(f64) for _ in range(4))
    i = Var(ShapedArray((), np.int32))
    body = Program([x], [], [], [Eqn(_Unlowered(), [x], [y], {})], [y])
    head = Eqn(exp_p, [x], [z], {})
    prog = Program([i, x], [], [], [head, Eqn(switch_p, [i, z], [w], {"branches": (body,)})], [w])
    assert lowering.unsupported(prog) == {"not_a_registered_primitive"}   # bodies included
    assert lowering.unsupported(Program([x], [], [], [head], [z])) == set()
    assert numba_backend.codegen.unsupported is lowering.unsupported


# ----------------------------------------------------------------------------- every lowered primitive, compiled

RNG = np.random.default_rng(7)


def _float_terms(x, y, p, m, b, s, idx, structural=True):
    """(label, value) for every float primitive (x: (3, 4) in [-1, 1], y: (4,),
    p: (3, 1) positive, m: (4, 5), b: (2, 3, 4), s: a 0-d value, idx: int64 (3,)).
    ``structural=False`` leaves out the rules whose code does not depend on the
    dtype beyond its name (copies, indexing, arg reductions: one loop nest each)."""
    dt = x.dtype
    t = [
        ("neg", -x), ("exp", fnp.exp(x)), ("log", fnp.log(p)), ("log1p", fnp.log1p(p)),
        ("expm1", fnp.expm1(x)), ("sqrt", fnp.sqrt(p)), ("sin", fnp.sin(x)), ("cos", fnp.cos(x)),
        ("tan", fnp.tan(x)), ("asin", fnp.arcsin(x * 0.9)), ("acos", fnp.arccos(x * 0.9)),
        ("atan", fnp.arctan(x)), ("sinh", fnp.sinh(x)), ("cosh", fnp.cosh(x)), ("tanh", fnp.tanh(x * 3)),
        ("logistic", P.logistic(x * 4)), ("abs", fnp.abs(x)), ("sign", fnp.sign(x)),
        ("floor", fnp.floor(x * 3)), ("ceil", fnp.ceil(x * 3)), ("round", fnp.round(x * 3)),
        ("is_finite", fnp.isfinite(x / x)), ("integer_pow", (x ** 3, x ** -2, x ** 0, x ** 6)),
        ("add", x + y), ("sub", x - y), ("mul", x * y), ("div", x / p), ("pow", p ** y),
        ("max", fnp.maximum(x, y)), ("min", fnp.minimum(x, y)), ("atan2", fnp.arctan2(x, p - 1)),
        ("rem", fnp.remainder(x, 0.3)), ("floordiv", fnp.floor_divide(x, 0.3)),
        ("cmp", (x < y, x <= y, x > y, x >= y, x == x[0], x != x[0])),
        ("logic", ((x < y) & (x > 0), (x < y) | (p > 1), (x < y) ^ (x > 0), ~(x < y))),
        ("select", fnp.where(x > y, x, p)),
        ("convert", (x.astype(np.int32), x.astype(bool), (x > 0).astype(dt),
                     x.astype(np.float32 if dt == np.float64 else np.float64))),
        ("stop_gradient", fg.stop_gradient(x) * 2),
        ("broadcast_to", P.broadcast_to(y, (3, 4)) + 0),
        ("iota", P.iota((2, 3), 1, dt) * 2),
        ("reduce_sum", (fnp.sum(x), fnp.sum(x, axis=0), fnp.sum(b, axis=(0, 2), keepdims=True))),
        ("reduce_max", (fnp.max(x), fnp.max(x, axis=1))),
        ("reduce_min", (fnp.min(x), fnp.min(b, axis=0))),
        ("reduce_prod", (fnp.prod(x + 2, axis=1), fnp.prod(s + 1))),
        ("scalar", (fnp.exp(s) * 2 + 1, fnp.sum(s * 3))),
        ("matmul", (x @ m, P.matmul(x, x, transpose_a=True), P.matmul(x, x, transpose_b=True),
                    P.matmul(m, x, transpose_a=True, transpose_b=True), b @ m)),
    ]
    # LAPACK (the s and d routines): SPD stacks from x and b, eigenvalues/singular values apart
    spd = P.matmul(x, x, transpose_b=True) + 3 * fnp.eye(3, dtype=dt)
    spd_b = P.matmul(b, b, transpose_b=True) + 3 * fnp.eye(3, dtype=dt)
    q, r = D.qr(x.T)
    t += [
        ("cholesky", (D.cholesky(spd), D.cholesky(spd_b), D.cholesky(-spd))),     # the last is NaN
        ("triangular_solve", tuple(D.triangular_solve(spd, x, lower=lo, transpose_a=tr, unit_diagonal=un)
                                   for lo in (True, False) for tr in (True, False) for un in (True, False))
         + (D.triangular_solve(spd_b, b),)),
        ("triangular_matmul", tuple(D.triangular_matmul(spd, x, lower=lo, transpose_a=tr)
                                    for lo in (True, False) for tr in (True, False))
         + (D.triangular_matmul(spd_b, b),)),
        ("lu", D.lu(spd + x[:, :3]) + D.lu(b[:, :, :3])),
        ("eigh", D.eigh(spd) + D.eigh(spd_b)),
        ("svd", (D.svd(x), D.svd(b, full_matrices=True), D.svd(m, compute_uv=False))),
        ("qr", (q, r, D.qr(b, full_matrices=True))),
    ]
    if structural:
        t += [
            ("reshape", x.reshape(2, 6) * 2),
            ("transpose", (x.T * 1, fnp.transpose(b, (2, 0, 1)) * 1)),
            ("slice", (x[1:3, ::2] * 1, y[3] * 1)),
            ("pad", (P.pad(x, (1, 0), (2, 1), (0, 1)), P.pad(s, (), ()))),
            ("pad_add", (P.pad_add(x * 2, x[1:3, ::2] * 1, (1, 0), (0, 1)),   # in place
                         P.pad_add(y, s, (2,)), P.pad_add(s, s * 2, ()))),       # a copy; 0-d
            ("rev", P.rev(x, (0, 1)) * 1),
            ("concatenate", fnp.concatenate([x, x * 2, x[:0]], axis=0)),
            ("take", (P.take(x, idx, 1), P.take(y, idx[0], 0))),
            ("scatter_add", (P.scatter_add(x, idx, x[:, :3] * 5, 1),
                             P.scatter_add(y, np.array([1, 9, -1]), y[:3], 0))),
            ("argmax", (fnp.argmax(x, axis=1), fnp.argmax(y))),
            ("argmin", fnp.argmin(b, axis=0)),
            ("argsort", (P.argsort(x), P.argsort(y))),
        ]

    def fori_body(i, c):
        v, acc = c
        v = fnp.tanh(v * 1.5 + acc)
        return v, acc + fnp.sum(v) * i.astype(v.dtype)
    t.append(("fori_loop", fg.fori_loop(0, 4, fori_body, (y, s))))
    t.append(("while_loop", fg.while_loop(lambda c: c[1] < 5, lambda c: (c[0] * 1.5, c[1] + fnp.sum(c[0] ** 2)),
                                          (y, s))))
    t.append(("scan", fg.scan(lambda c, xi: (c * 0.9 + xi, (c * 2, fnp.sum(xi))), y, x)))
    t.append(("scan_reverse", fg.scan(lambda c, xi: (c + xi, c), s, y, reverse=True)))
    t.append(("switch", fg.switch(fnp.argmax(y), [lambda z: z * 2, lambda z: fnp.sin(z), lambda z: z - 1], x)))
    t.append(("cond", fg.cond(fnp.sum(x) > 0, lambda z: z * z, lambda z: fnp.exp(z), s)))
    return t


def _int_terms(a, c, u, k, bo):
    """(label, value) for every integer and boolean primitive (a, c: int (3, 4), c
    positive; u, k: uint32 (3, 4) and shift counts (4,); bo: bool (3, 4))."""
    key = fg.random.key(k[0])
    return [
        ("arith", (a + c, a - c, a * c, -a, fnp.abs(a), fnp.sign(a), a ** 3, fnp.maximum(a, c), fnp.minimum(a, c))),
        ("rem_floordiv", (fnp.remainder(a, c), fnp.floor_divide(a, c))),
        ("bitwise", (a & c, a | c, a ^ c, ~a, bo & (a > 0), bo | (a > 0), bo ^ (a > 0), ~bo)),
        ("shift", (P.shift_left(u, k), P.shift_right_logical(u, k))),
        ("cmp", (a < c, a <= c, a > c, a >= c, a == c, a != c)),
        ("convert", (a.astype(np.float64), a.astype(bool), bo.astype(np.int32), u.astype(np.int64))),
        ("select", fnp.where(bo, a, c)),
        ("reductions", (fnp.sum(a), fnp.max(a, axis=0), fnp.min(a, axis=1), fnp.prod(a, axis=0),
                        fnp.max(bo), fnp.min(bo, axis=0), fnp.max(u), fnp.min(u, axis=1))),
        ("iota", P.iota((3, 4), 0, a.dtype) + a),
        ("arg", (fnp.argmax(a, axis=0), fnp.argmin(a, axis=1), P.argsort(a))),
        ("threefry2x32", (fg.random.bits(key, (2, 3)), fg.random.uniform(fg.random.split(key)[1], (5,)))),
    ]


def _traced(terms_fn, *args):
    """The Program of ``terms_fn`` and the labels of its outputs, in order."""
    labels = []

    def f(*a):
        labels.clear()
        out = []
        for label, value in terms_fn(*a):
            leaves = fg.tree.leaves(value)
            labels.extend(f"{label}[{i}]" for i in range(len(leaves)))
            out.extend(leaves)
        return tuple(out)
    return fg.make_ir(f)(*args), labels


def _used(program: Program) -> set:
    found = set()
    for e in program.eqns:
        found.add(e.primitive)
        for sub in subprograms(e):
            found |= _used(sub)
    return found


def _float_args(dt):
    return (RNG.uniform(-1, 1, size=(3, 4)).astype(dt), RNG.normal(size=4).astype(dt),
            RNG.uniform(0.5, 2.0, size=(3, 1)).astype(dt), RNG.normal(size=(4, 5)).astype(dt),
            RNG.normal(size=(2, 3, 4)).astype(dt), dt(0.7), np.array([2, 0, 3]))


def _int_args(dt):
    return (RNG.integers(-9, 9, size=(3, 4)).astype(dt), RNG.integers(1, 7, size=(3, 4)).astype(dt),
            RNG.integers(0, 2**32, size=(3, 4), dtype=np.uint64).astype(np.uint32),
            np.array([0, 5, 31, 32], np.uint32), RNG.random((3, 4)) > 0.5)


CASES = {
    "float64": (_float_terms, lambda: _float_args(np.float64), 1e-13),
    "float32": (partial(_float_terms, structural=False), lambda: _float_args(np.float32), 2e-6),
    "int32": (_int_terms, lambda: _int_args(np.int32), 0),
}

_compiled = {}


def _compile(case):
    """(run, labels, args) of the case's program, compiled (once per session).

    The IR passes are off here: this tests the lowering rules on the program
    as traced (the passes would drop some equations, stop_gradient for one)."""
    if case not in _compiled:
        terms_fn, make_args, _ = CASES[case]
        args = make_args()
        program, labels = _traced(terms_fn, *args)
        had, saved = hasattr(fg.config, "passes"), getattr(fg.config, "passes", None)
        fg.config.passes = False
        try:
            run = numba_backend.compile_program(program)
        finally:
            if had:
                fg.config.passes = saved
            else:
                del fg.config.passes
        _compiled[case] = (run, labels, args)
    return _compiled[case]


def test_the_programs_use_every_lowered_primitive():
    used = set()
    for case in CASES:
        used |= _used(_compile(case)[0].program)
    missing = sorted(p.name for p in _lowered() - used)
    assert not missing, f"add a use of {missing} to the programs of this test"


@pytest.mark.parametrize("case", list(CASES))
def test_lowered_primitives_match_the_interpreter(case):
    run, labels, args = _compile(case)
    tol = CASES[case][2]
    assert run.source is not None      # compiled (not handed to the interpreter for its size)
    want = interpreter.compile_program(run.program)(*args)
    got = run(*args)
    assert len(got) == len(want) == len(labels)
    for label, g, w in zip(labels, got, want):
        g, w = np.asarray(g), np.asarray(w)
        assert g.dtype == w.dtype and g.shape == w.shape, f"{label}: {g.dtype}{g.shape} != {w.dtype}{w.shape}"
        if w.dtype.kind == "f":
            np.testing.assert_allclose(g, w, rtol=tol, atol=tol, err_msg=label)
        else:
            np.testing.assert_array_equal(g, w, err_msg=label)
