"""Two loop-performance rewrites, checked for what they produce and for values:

- ``passes.hoist_transposes``: a loop-invariant matrix that a loop body
  multiplies transposed is transposed once before the loop;
- the Numba code generator's lane accumulators for reductions to one element
  inside a loop nest (``codegen.LANES_MIN``/``LANES_MAX``), against the
  interpreter, NaNs and infinities included.
"""
from __future__ import annotations

import numpy as np
import pytest

import funcgrad as fg
import funcgrad.numpy as fnp
from funcgrad import primitives as P
from funcgrad.core.evaluate import eval_program
from funcgrad.passes import default_pipeline, hoist_transposes

RNG = np.random.default_rng(21)


def _loops(program):
    return [e for e in program.eqns if e.primitive.name in ("scan", "fori_loop", "while_loop")]


def _body_matmuls(eqn):
    return [e for e in eqn.params["body"].eqns if e.primitive.name == "matmul"]


def _scan_ct(w, cts):
    return fg.scan(lambda c, g: (fnp.tanh(P.matmul(g, w, transpose_b=True)) + c, fnp.sum(c)),
                   fnp.zeros((2, 3)), cts)


@pytest.mark.parametrize("kind", ["scan", "fori_loop", "while_loop"])
def test_loop_invariant_transposed_operand_is_transposed_before_the_loop(kind):
    w = RNG.standard_normal((3, 4))
    cts = RNG.standard_normal((5, 2, 4))

    def f(w, cts):
        if kind == "scan":
            return _scan_ct(w, cts)
        if kind == "fori_loop":
            return fg.fori_loop(0, 5, lambda i, c: c + P.matmul(cts[i], w, transpose_b=True), fnp.zeros((2, 3)))
        return fg.while_loop(lambda c: c[0] < 5, lambda c: (c[0] + 1, c[1] + P.matmul(cts[c[0]], w,
                                                                                      transpose_b=True)),
                             (0, fnp.zeros((2, 3))))[1]

    program = fg.make_ir(f)(w, cts)
    out = hoist_transposes(program)
    (loop,) = _loops(out)
    assert [m.params["transpose_b"] for m in _body_matmuls(loop)] == [False]
    assert any(e.primitive.name == "transpose" for e in out.eqns[:out.eqns.index(loop)])
    for got, want in zip(eval_program(out, [w, cts]), eval_program(program, [w, cts])):
        np.testing.assert_allclose(got, want, rtol=1e-13)
    assert program.eqns is not out.eqns and _body_matmuls(_loops(program)[0])[0].params["transpose_b"]


def test_one_iteration_scans_and_loop_variant_operands_are_left_alone():
    w = RNG.standard_normal((3, 4))
    one = fg.make_ir(_scan_ct)(w, RNG.standard_normal((1, 2, 4)))
    assert hoist_transposes(one) is one
    # the transposed operand is the loop's x, not a constant
    varying = fg.make_ir(lambda ws, g: fg.scan(lambda c, w: (c + P.matmul(g, w, transpose_b=True), None),
                                               fnp.zeros((2, 3)), ws)[0])(RNG.standard_normal((4, 3, 4)),
                                                                          RNG.standard_normal((2, 4)))
    assert hoist_transposes(varying) is varying


def test_rnn_backward_scan_reads_the_weight_untransposed():
    W = RNG.standard_normal((4, 4)) * 0.5
    xs = RNG.standard_normal((6, 2, 4))

    def loss(W):
        h, _ = fg.scan(lambda h, x: (fnp.tanh(h @ W + x), None), fnp.zeros((2, 4)), xs)
        return fnp.sum(h ** 2)

    program = default_pipeline.run(fg.make_ir(fg.grad(loss))(W))
    backward = [e for e in _loops(program) if e.params["reverse"]]
    assert backward and all(not m.params["transpose_b"] for e in backward for m in _body_matmuls(e))
    got = fg.jit(fg.grad(loss), backend="numba")(W)
    np.testing.assert_allclose(got, fg.grad(loss, backend="interpret")(W), rtol=1e-12)


# ----------------------------------------------------------------------------- lane accumulators

def _reductions(x):
    return (fnp.sum(x * 2.0), fnp.max(x), fnp.min(x), fnp.prod(1.0 + x * 1e-3), fnp.sum(fnp.tanh(x)),
            fnp.mean(x), fnp.sum(x, axis=0), fnp.sum(x > 0.5))


@pytest.mark.parametrize("shape", [(3, 8), (5, 130), (2, 4096), (2, 4097), (4, 3, 7), (1000,)])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_reductions_to_one_element_match_the_interpreter(shape, dtype):
    x = RNG.standard_normal(shape).astype(dtype)
    special = x.copy().ravel()
    special[min(5, special.size - 1)] = np.nan
    special = special.reshape(shape)
    for arr in (x, special):
        got = fg.jit(_reductions, backend="numba")(arr)
        want = fg.jit(_reductions, backend="interpret")(arr)
        for g, w in zip(got, want):
            assert np.asarray(g).dtype == np.asarray(w).dtype
            np.testing.assert_allclose(g, w, rtol=2e-6 if dtype == np.float32 else 1e-12,
                                       atol=1e-5 if dtype == np.float32 else 0)


def test_the_lanes_are_in_the_generated_code():
    src = fg.jit(lambda x: fnp.sum(fnp.tanh(x)), backend="numba").lower(np.ones((4, 64))).source
    assert "_lanes" in src
    src = fg.jit(lambda x: fnp.sum(fnp.tanh(x)), backend="numba").lower(np.ones(64)).source
    assert "_lanes" not in src       # one loop: nothing to vectorize across
