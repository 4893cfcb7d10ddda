"""The cache of transformed programs (funcgrad/program_cache.py).

``grad`` traces on every call; numbers that change between calls (a closure's
learning rate, a non-differentiated step count) are literals of the traced
program. The cache compiles the first values inline and, once other values
turn up, one program with the changing literals as inputs. Values are checked
against NumPy formulas; build counts through a counting backend.
"""
import numpy as np
import pytest

import funcgrad as fg
import funcgrad.numpy as fnp
from funcgrad.backends import get_backend, register_backend
from funcgrad.backends.interpreter import eval_program
from funcgrad.core.ir import Literal
from funcgrad.program_cache import lift_literals, structure_key

X = np.linspace(-1.0, 2.0, 6)
_builds = []


def _counting_compile(program):
    _builds.append(program)
    return get_backend("interpret")(program)


register_backend("counting", _counting_compile)


@pytest.fixture
def builds():
    _builds.clear()
    return _builds


def test_closure_number_changing_every_call_compiles_twice(builds):
    def make(scale):
        return lambda x: fnp.sum(fnp.sin(x * scale))

    def loss(x):
        return make_loss(x)

    for i, s in enumerate([0.5, 1.5, 2.5, -1.0, 0.5]):
        make_loss = make(s)   # read by `loss` at trace time, as a global would be
        g = fg.grad(loss, backend="counting")(X)
        np.testing.assert_allclose(g, s * np.cos(s * X), rtol=1e-13)
    assert len(builds) == 2           # the first value inline, then one lifted program


def test_non_differentiated_number_argument(builds):
    def f(x, step, lr):
        return fnp.sum((x - step) ** 2) * lr

    g = fg.grad(f, backend="counting")
    for step in range(5):
        lr = 0.1 / (1 + step)
        np.testing.assert_allclose(g(X, step, lr), 2 * (X - step) * lr, rtol=1e-13)
    assert len(builds) == 2


def test_loop_counts_still_give_one_program_each(builds):
    def f(x, n):
        for _ in range(n):
            x = fnp.sin(x)
        return fnp.sum(x)

    for n in (1, 2, 3, 2):
        g = fg.grad(f, backend="counting")(X, n)
        ref, y = np.ones_like(X), X
        for _ in range(n):
            ref, y = ref * np.cos(y), np.sin(y)
        np.testing.assert_allclose(g, ref, rtol=1e-13)
    assert len(builds) == 3


def test_lifted_positions_widen_when_another_literal_changes(builds):
    def f(x, a, b):
        return fnp.sum(x * a + x ** 2 * b)

    g = fg.grad(f, backend="counting")
    for a, b in [(1.0, 2.0), (3.0, 2.0), (5.0, 2.0), (5.0, 7.0), (2.0, 9.0), (1.0, 2.0)]:
        np.testing.assert_allclose(g(X, a, b), a + 2 * X * b, rtol=1e-13)
    # inline (1, 2); lifted a; lifted a and b; (1, 2) again reuses the inline program
    assert len(builds) == 3


def test_vjp_with_a_changing_closure_number(builds):
    def f(x):
        return fnp.exp(x * c)   # `c` read at trace time: the loop's current value

    for c in [2.0, 3.0, 4.0]:
        out, pullback = fg.vjp(f, X, backend="counting")
        np.testing.assert_allclose(out, np.exp(c * X), rtol=1e-13)
        np.testing.assert_allclose(pullback(np.ones_like(X))[0], c * np.exp(c * X), rtol=1e-13)
    assert len(builds) == 4           # forward and backward, inline then lifted


def test_numba_backend_lifted_literals():
    f = fg.value_and_grad(lambda x, t: fnp.sum(fnp.tanh(x * t)), backend="numba")
    for t in (0.5, 1.0, 2.0, 4.0):
        v, g = f(X, t)
        np.testing.assert_allclose(v, np.tanh(X * t).sum(), rtol=1e-12)
        np.testing.assert_allclose(g, t * (1 - np.tanh(X * t) ** 2), rtol=1e-12)


def test_lift_literals_pass_keeps_values():
    prog = fg.make_ir(lambda x: fnp.sin(x * 3.0) + 2.0)(X)
    skeleton, values = structure_key(prog)
    assert len(values) == 2
    lifted = lift_literals(prog, {0})
    literals = [a for e in lifted.eqns for a in e.inputs if type(a) is Literal]
    assert len(literals) == 1 and float(literals[0].value) == 2.0
    assert len(lifted.const_vars) == len(prog.const_vars) + 1 and float(lifted.consts[-1]) == 3.0
    np.testing.assert_allclose(eval_program(lifted, [X])[0], np.sin(3 * X) + 2, rtol=1e-15)
    # the lifted program is another structure with fewer literals
    assert structure_key(lifted)[0] != skeleton and len(structure_key(lifted)[1]) == 1
