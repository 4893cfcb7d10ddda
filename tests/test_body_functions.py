"""Loop bodies compiled as functions of their own modules (codegen's
``BODY_FUNCTION_EQNS``): the same values as the interpreter for every kind
of loop and branch, and one compiled body for every program that contains it
(a training step and the epoch that scans it)."""
from __future__ import annotations

import numpy as np
import pytest

import funcgrad as fg
import funcgrad.numpy as fnp
from funcgrad import data, nn
from funcgrad.backends import numba_backend as nb
from funcgrad.backends.numba_backend import codegen
from test_shape_generic import TX, step   # one Adam step of an MLP

pytest.importorskip("numba")


def close(a, b, rtol=1e-6):
    for u, v in zip(fg.tree.leaves(a), fg.tree.leaves(b)):
        u, v = np.asarray(u), np.asarray(v)
        assert u.dtype == v.dtype and u.shape == v.shape
        np.testing.assert_allclose(u, v, rtol=rtol, atol=1e-7)


def both(f, *args, rtol=1e-6):
    got = fg.jit(f, backend="numba")(*args)
    close(got, fg.jit(f, backend="interpret")(*args), rtol)
    return got


X = np.linspace(-1.0, 1.0, 6)
X32 = X.astype(np.float32)

PROGRAMS = {
    # a pytree carry with a 0-d member, a carry passed through unchanged, a literal output
    "fori": (lambda x: fg.fori_loop(0, 4, lambda i, c: (c[0] * 0.5 + fnp.sin(c[0]) * i, c[1] + 1.0, c[2]),
                                    (x, fnp.sum(x), x * 2.0)), (X,)),
    "fori float32": (lambda x: fg.fori_loop(0, 3, lambda i, c: fnp.tanh(c) * np.float32(1.5), x), (X32,)),
    "while": (lambda x: fg.while_loop(lambda c: c[1] < 5, lambda c: (c[0] * 1.1 + 0.1, c[1] + 1), (x, 0)), (X,)),
    "scan reverse": (lambda x: fg.scan(lambda c, xi: (c + xi * c, fnp.exp(xi) + c), fnp.zeros(3) + 1.0,
                                       x.reshape(2, 3), reverse=True), (X,)),
    "scan scalar xs": (lambda x: fg.scan(lambda c, xi: (c * xi + 1.0, c), 0.5, x), (X,)),
    "switch": (lambda x: fg.switch(2, [lambda v: v + 1.0, lambda v: v * 2.0, lambda v: fnp.cos(v) * v], x), (X,)),
    "nested": (lambda x: fg.fori_loop(0, 3, lambda i, c: fg.scan(lambda a, xi: (a + xi, a * xi), c, x)[0] * 0.1,
                                      0.0), (X,)),
    "grad inside a body": (lambda w: fg.fori_loop(
        0, 3, lambda i, v: v - 0.1 * fg.grad(lambda u: fnp.sum(fnp.tanh(u) ** 2))(v), w), (X,)),
}


@pytest.mark.parametrize("name", list(PROGRAMS))
def test_every_body_as_a_function_gives_the_interpreters_values(name, monkeypatch):
    monkeypatch.setattr(codegen, "BODY_FUNCTION_EQNS", 1)
    monkeypatch.setattr(nb, "body_compiled", lambda body, *_: True)
    f, args = PROGRAMS[name]
    both(f, *args)
    src = fg.jit(f, backend="numba").lower(*args).source
    assert "_body_0(" in src and "_body_0 = body_function(" in src


def test_inputs_are_never_written_through_a_body(monkeypatch):
    monkeypatch.setattr(codegen, "BODY_FUNCTION_EQNS", 1)
    monkeypatch.setattr(nb, "body_compiled", lambda body, *_: True)
    x = X.copy()
    f = fg.jit(lambda v: fg.fori_loop(0, 2, lambda i, c: c + 1.0, v), backend="numba")
    out = f(x)
    np.testing.assert_array_equal(x, X)
    np.testing.assert_array_equal(out, X + 2.0)
    assert not np.shares_memory(out, x)


# ----------------------------------------------------------------------------- a step and its epoch

SIZES = [8, 16, 4]


def epoch(state, key, x, y, batch):
    return fg.scan(lambda s, b: step(s, *b), state, data.shuffled_batches(key, (x, y), batch))


def problem(n=60):
    rng = np.random.default_rng(0)
    params = nn.mlp_init(fg.random.key(0), SIZES, dtype=np.float32)
    return ((params, TX.init(params)), rng.standard_normal((n, SIZES[0])).astype(np.float32),
            rng.integers(0, SIZES[-1], n))


def test_an_epoch_calls_the_compiled_step(tmp_path, monkeypatch):
    monkeypatch.setenv("FUNCGRAD_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(nb, "_modules", {})
    monkeypatch.setattr(nb, "_variants", {})
    state, x, y = problem()
    assert codegen.count_eqns(fg.make_ir(step)(state, x[:10], y[:10])) >= codegen.BODY_FUNCTION_EQNS
    fast_step = fg.jit(step, backend="numba")
    fast_step(state, x[:10], y[:10])
    step_digest = nb._digest(fast_step.lower(state, x[:10], y[:10]).source)
    key = fg.random.key(3)
    run = lambda s, k, a, b: epoch(s, k, a, b, 10)    # noqa: E731
    got = both(run, state, key, x, y, rtol=2e-5)
    src = fg.jit(run, backend="numba").lower(state, key, x, y).source
    assert f'_body_0 = body_function("{step_digest}")' in src     # the step's own module
    assert len(nb._modules[step_digest].program.overloads) == 1      # compiled once, for both
    # and the epoch's result is the steps', driven from Python over the same batches
    s = state
    xs, ys = data.shuffled_batches(key, (x, y), 10)
    for xb, yb in zip(np.asarray(xs), np.asarray(ys)):
        s, _ = fast_step(s, xb, yb)
    close(got[0], s, rtol=2e-5)


def test_an_epoch_at_new_sizes_shares_its_compiled_code(tmp_path, monkeypatch):
    monkeypatch.setenv("FUNCGRAD_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(nb, "_modules", {})
    monkeypatch.setattr(nb, "_variants", {})
    monkeypatch.setattr(fg.config, "shape_generic", "always")
    state, x, y = problem(90)
    sources = set()
    for batch in (10, 15, 9):
        run = lambda s, k, a, b, n=batch: epoch(s, k, a, b, n)    # noqa: E731
        both(run, state, fg.random.key(1), x, y, rtol=2e-5)
        sources.add(fg.jit(run, backend="numba").lower(state, fg.random.key(1), x, y).source)
    assert len(sources) == 1
    assert sum(len(m.program.overloads) for m in nb._modules.values()) == 1   # the body inline: one


def test_an_epoch_jitted_first_keeps_its_body_inline(tmp_path, monkeypatch):
    monkeypatch.setenv("FUNCGRAD_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(nb, "_modules", {})
    state, x, y = problem()
    run = lambda s, k, a, b: epoch(s, k, a, b, 10)    # noqa: E731
    both(run, state, fg.random.key(2), x, y, rtol=2e-5)
    assert "_body_0" not in fg.jit(run, backend="numba").lower(state, fg.random.key(2), x, y).source
