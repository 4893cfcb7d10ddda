"""Shape-generic compiled code (numba_backend/lift.py): a program's sizes and
constants are read at run time, so programs that differ only in them share
one compiled function, and give the interpreter's values."""
from __future__ import annotations

import re

import numpy as np
import pytest

import funcgrad as fg
import funcgrad.numpy as fnp
from funcgrad import nn, optim
from funcgrad.backends import numba_backend as nb
from funcgrad.backends.numba_backend import codegen, generated_source
from funcgrad.backends.numba_backend.lift import lift, unlift
from funcgrad.passes import optimize

pytest.importorskip("numba")

SIZES = [6, 8, 5, 3]
TX = optim.adam(1e-2)


def loss_fn(params, x, y):
    return nn.cross_entropy(nn.mlp_apply(params, x), y)


def step(state, x, y):
    params, opt_state = state
    loss, grads = fg.value_and_grad(loss_fn)(params, x, y)
    updates, opt_state = TX.update(grads, opt_state, params)
    return (optim.apply_updates(params, updates), opt_state), loss


def problem(batch, dtype=np.float32):
    rng = np.random.default_rng(batch)
    params = nn.mlp_init(fg.random.key(0), SIZES, dtype=dtype)
    x = rng.standard_normal((batch, SIZES[0])).astype(dtype)
    y = rng.integers(0, SIZES[-1], batch)
    return (params, TX.init(params)), x, y


def close(a, b):
    for u, v in zip(fg.tree.leaves(a), fg.tree.leaves(b)):
        u, v = np.asarray(u), np.asarray(v)
        assert u.dtype == v.dtype and u.shape == v.shape
        np.testing.assert_allclose(u, v, rtol=2e-5, atol=1e-6)


def source_of(f, *args):
    return generated_source(optimize(fg.make_ir(f)(*args)))


def test_lifting_is_exact_on_generated_modules(monkeypatch):
    monkeypatch.setattr(codegen, "CHUNK_EQNS", 40)      # chunk functions calling each other
    x = np.linspace(-1, 1, 7)
    cases = [source_of(step, *problem(12)),
             source_of(lambda v: fg.fori_loop(0, 5, lambda i, c: c * 0.5 + fnp.sin(c), v), x),
             source_of(lambda v: fnp.sum(fnp.where(v > 0.25, v, np.inf) ** 3) + v[4], x)]
    for src in cases:
        lifted = lift(src)
        assert unlift(lifted) == src
        assert lifted.ints.dtype == np.int64 and lifted.floats.dtype == np.float64
    assert "def program_part1(_I, _F, " in lift(cases[0]).source      # chunks take them too
    # a module that calls a loop body of its own passes it its slices of _I and _F
    monkeypatch.setattr(codegen, "BODY_FUNCTION_EQNS", 1)
    monkeypatch.setattr(nb, "body_compiled", lambda body, *_: True)
    module = nb.generated_module(optimize(fg.make_ir(
        lambda v: fg.fori_loop(0, 5, lambda i, c: c * 0.5 + fnp.sin(c) * 3.0, v))(x)))
    body = lift(module.bodies[0].resolved(False)[0][-1])
    src = module.resolved(False)[0][-1]
    lifted = lift(src, bodies=[(len(body.ints), len(body.floats))])
    assert unlift(lifted) == src
    n = len(lifted.ints)
    assert f"_body_0(_I[{n}:{n + len(body.ints)}], _F[" in lifted.source
    sources, ints, floats = module.resolved(True)
    assert len(ints) == n + len(body.ints)
    generic_body = nb._digest(sources[0])          # the caller binds the lifted body by its digest
    assert sources[-1] == re.sub(r'body_function\("\w+"\)', f'body_function("{generic_body}")', lifted.source)
    assert "np.inf" in lift(cases[2]).source                         # left in the source


def test_batch_sizes_share_one_compiled_function(tmp_path, monkeypatch):
    monkeypatch.setenv("FUNCGRAD_CACHE_DIR", str(tmp_path))     # no note of earlier sizes
    monkeypatch.setattr(nb, "_modules", {})
    monkeypatch.setattr(nb, "_variants", {})
    fast, ref = fg.jit(step, backend="numba"), fg.jit(step, backend="interpret")
    sizes = (12, 20, 6, 8, 5)           # 6, 8 and 5 equal layer widths: no matter
    for batch in sizes:
        args = problem(batch)
        close(fast(*args), ref(*args))
    first, *rest = [fast.lower(*problem(b)).source for b in sizes]
    assert "_I" not in first            # auto: the first sizes compile as they are,
    assert len(set(rest)) == 1 and "def program(_I, _F, " in rest[0]   # then one shared module
    assert len(nb._modules[nb._digest(rest[0])].program.overloads) == 1      # compiled once


def test_a_later_process_starts_from_the_shared_code(tmp_path):
    import subprocess
    import sys
    import textwrap
    child = textwrap.dedent("""
        import sys
        import numpy as np
        sys.path.insert(0, sys.argv[1])
        import test_shape_generic as t
        import funcgrad as fg
        from funcgrad.backends import numba_backend as nb
        f = fg.jit(t.step, backend="numba")
        for b in map(int, sys.argv[2:]):
            t.close(f(*t.problem(b)), fg.jit(t.step, backend="interpret")(*t.problem(b)))
        print(["_I" in f.lower(*t.problem(b)).source for b in map(int, sys.argv[2:])])
    """)
    env = dict(__import__("os").environ, FUNCGRAD_CACHE_DIR=str(tmp_path), FUNCGRAD_COMPILE="sync")
    here = __import__("os").path.dirname(__file__)

    def run(*sizes):
        out = subprocess.run([sys.executable, "-c", child, here, *map(str, sizes)], env=env,
                             capture_output=True, text=True, check=True)
        return out.stdout.split("\n")[-2]
    assert run(12) == "[False]"
    assert run(20) == "[True]"          # the cache notes that 12 came before: shared code
    assert run(12, 7) == "[False, True]"    # 12's own code is on disk; 7 loads the shared code


def test_a_size_that_changes_the_code_compiles_on_its_own():
    fast, ref = fg.jit(step, backend="numba"), fg.jit(step, backend="interpret")
    for batch in (12, 1):               # batch 1: one-element values are scalars
        args = problem(batch)
        close(fast(*args), ref(*args))
    assert fast.lower(*problem(12)).source != fast.lower(*problem(1)).source


def test_changed_constants_share_too_and_keep_their_dtype(monkeypatch):
    monkeypatch.setattr(fg.config, "shape_generic", "always")

    def scaled(c):
        return lambda v: fnp.tanh(v) * np.float32(c) + np.float32(c / 3)
    x = np.linspace(-2, 2, 9, dtype=np.float32)
    sources = []
    for c in (0.1, 7.5, 1e-3):
        f = fg.jit(scaled(c), backend="numba")
        out = f(x)
        assert out.dtype == np.float32
        np.testing.assert_allclose(out, fg.jit(scaled(c), backend="interpret")(x), rtol=1e-6, atol=1e-7)
        sources.append(f.lower(x).source)
        monkeypatch.setattr(fg.config, "shape_generic", False)   # the same code, numbers inline
        inline = fg.jit(scaled(c), backend="numba")
        np.testing.assert_array_equal(inline(x), out)
        assert "_F" not in inline.lower(x).source
        monkeypatch.setattr(fg.config, "shape_generic", "always")
    assert len(set(sources)) == 1
