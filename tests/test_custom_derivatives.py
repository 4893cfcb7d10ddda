"""custom_jvp, custom_vjp and checkpoint (funcgrad/custom_derivatives.py), the
call primitives (funcgrad/primitives/calls.py), their rules
(funcgrad/transforms/*/custom.py) and the inlining pass
(funcgrad/passes/inline.py).

References are independent of the rules under test: closed forms derived
by hand, finite differences of NumPy functions (tests/fd.py), Python loops
over examples, and the same function without the custom rule.
"""
from __future__ import annotations

import functools
import os
import sys

import numpy as np
import pytest

import funcgrad as fg
import funcgrad.numpy as fnp
from funcgrad import passes
from funcgrad.backends import register_backend
from funcgrad.backends.interpreter import compile_program as interpret_compile
from funcgrad.core.evaluate import eval_program
from funcgrad.core.trace import trace_flat
from funcgrad.custom_derivatives import CustomRuleError
from funcgrad.passes import inline_calls, verify
from funcgrad.primitives.calls import CALL_BODY, checkpoint_p, custom_jvp_call_p, custom_vjp_call_p
from funcgrad.program_cache import constants_as_inputs
from funcgrad.transforms.vjp import backward_pass, split_program

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fd import numerical_grad, numerical_vjp, rel_error  # noqa: E402

RNG = np.random.default_rng(0)


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def prims(program):
    """Names of the primitives of ``program``, bodies included."""
    out = []
    for e in program.eqns:
        out.append(e.primitive.name)
        for p in (v for v in e.params.values() if isinstance(v, fg.Program)):
            out.extend(prims(p))
        for v in e.params.values():
            if isinstance(v, tuple) and v and isinstance(v[0], fg.Program):
                for p in v:
                    out.extend(prims(p))
    return out


# ----------------------------------------------------------------------------- functions under test

@fg.custom_jvp
def log1pexp(x):
    return fnp.log(1.0 + fnp.exp(x))


@log1pexp.defjvp
def log1pexp_jvp(primals, tangents):
    (x,), (t,) = primals, tangents
    return log1pexp(x), t * (1.0 - 1.0 / (1.0 + fnp.exp(x)))


def log1pexp_plain(x):
    return fnp.log(1.0 + fnp.exp(x))


@fg.custom_vjp
def clip_gradient(lo, hi, x):
    return x


def _clip_fwd(lo, hi, x):
    return x, (lo, hi)


def _clip_bwd(res, g):
    lo, hi = res
    return (None, None, fnp.clip(g, lo, hi))


clip_gradient.defvjp(_clip_fwd, _clip_bwd)


@fg.custom_vjp
def sin_y(x, y):
    return fnp.sin(x) * y


def _sin_y_fwd(x, y):
    return sin_y(x, y), (fnp.cos(x), fnp.sin(x), y)


def _sin_y_bwd(res, g):
    cos_x, sin_x, y = res
    return (cos_x * g * y, sin_x * g)


sin_y.defvjp(_sin_y_fwd, _sin_y_bwd)


def sin_y_np(x, y):
    return np.sin(x) * y


# ----------------------------------------------------------------------------- custom_jvp

def test_custom_jvp_outside_a_trace_runs_the_function():
    calls = []

    @fg.custom_jvp
    def f(x):
        calls.append(x)
        return x * 2.0

    assert f(3.0) == 6.0 and calls == [3.0]   # no rule needed, no tracing


def test_log1pexp_stable_gradient():
    # JAX's docs example: in float32 the naive gradient is nan at x = 100 (exp
    # overflows: inf / inf); in float64 at x = 1000
    for x in (np.float32(100.0), np.float64(1000.0)):
        with np.errstate(all="ignore"):
            assert np.isnan(fg.grad(log1pexp_plain)(x))
        with np.errstate(over="ignore"):     # exp(x) overflows in the rule too: 1 / inf = 0
            g = fg.grad(log1pexp)(x)
        assert np.isfinite(g) and g == 1.0 and g.dtype == x.dtype
    assert fg.grad(log1pexp)(100.0) == 1.0
    for x in (-3.0, 0.0, 0.5, 7.0):
        np.testing.assert_allclose(fg.grad(log1pexp)(x), sigmoid(x), rtol=1e-14)
    assert fg.grad(log1pexp)(3.0).dtype == np.float64


def test_log1pexp_forward_mode_and_second_order():
    y, t = fg.jvp(log1pexp, (2.0,), (3.0,))
    np.testing.assert_allclose(y, np.log1p(np.exp(2.0)), rtol=1e-14)
    np.testing.assert_allclose(t, 3.0 * sigmoid(2.0), rtol=1e-14)
    x = np.array([-1.0, 0.0, 2.0, 100.0])
    # the second derivative comes from differentiating the user's rule: s(1 - s)
    h = fg.grad(lambda x: fg.grad(log1pexp)(x))(x[2])
    np.testing.assert_allclose(h, sigmoid(2.0) * (1 - sigmoid(2.0)), rtol=1e-12)
    jac = fg.jacfwd(lambda v: log1pexp(v))(x)
    np.testing.assert_allclose(jac, np.diag(sigmoid(x)), rtol=1e-14)
    np.testing.assert_allclose(fg.jacrev(lambda v: log1pexp(v))(x), np.diag(sigmoid(x)), rtol=1e-14)
    hess = fg.hessian(lambda v: log1pexp(v).sum())(x)
    dsig = np.exp(-x) / (1.0 + np.exp(-x)) ** 2      # s (1 - s), accurate at x = 100 too
    np.testing.assert_allclose(hess, np.diag(dsig), rtol=1e-12, atol=0)


def test_custom_jvp_rule_is_used_in_reverse_mode_transposed():
    # a deliberately "wrong" rule shows that grad uses it, not the function's own derivative
    @fg.custom_jvp
    def f(x, y):
        return x * y

    @f.defjvp
    def f_jvp(primals, tangents):
        (x, y), (tx, ty) = primals, tangents
        return f(x, y), 10.0 * tx + 100.0 * ty * x

    gx, gy = fg.grad(lambda x, y: f(x, y).sum(), argnums=(0, 1))(np.ones(3), np.full(3, 2.0))
    np.testing.assert_array_equal(gx, np.full(3, 10.0))
    np.testing.assert_array_equal(gy, np.full(3, 100.0))
    out, vjp_fn = fg.vjp(f, np.array([1.0, 2.0]), np.array([3.0, 4.0]))
    np.testing.assert_array_equal(out, [3.0, 8.0])
    ct = np.array([1.0, -2.0])
    gx, gy = vjp_fn(ct)
    np.testing.assert_array_equal(gx, 10.0 * ct)
    np.testing.assert_array_equal(gy, 100.0 * ct * np.array([1.0, 2.0]))


def test_custom_jvp_nondiff_argnums_callable():
    @functools.partial(fg.custom_jvp, nondiff_argnums=(0,))
    def app(f, x):
        return f(x)

    @app.defjvp
    def app_jvp(f, primals, tangents):
        (x,), (t,) = primals, tangents
        return f(x), 3.0 * t      # a rule that ignores f: slope 3

    assert app(lambda v: v * v, 2.0) == 4.0
    np.testing.assert_allclose(fg.grad(lambda x: app(fnp.sin, x))(0.3), 3.0)
    np.testing.assert_allclose(fg.jvp(lambda x: app(fnp.exp, x), (0.3,), (2.0,))[1], 6.0)


def test_custom_jvp_pytrees_in_and_out():
    @fg.custom_jvp
    def f(p, x):
        return {"a": p["w"] * x, "b": (p["b"] + x, x * 0.0)}

    @f.defjvp
    def f_jvp(primals, tangents):
        (p, x), (tp, tx) = primals, tangents
        out = f(p, x)
        return out, {"a": tp["w"] * x + p["w"] * tx, "b": (tp["b"] + tx, tx * 0.0)}

    p = {"w": np.array([1.0, 2.0]), "b": np.array([0.5, -1.0])}
    x = np.array([3.0, 4.0])

    def loss(p, x):
        out = f(p, x)
        return (out["a"] ** 2).sum() + (out["b"][0] * 3.0).sum()

    def loss_np(w, b, x):
        return ((w * x) ** 2).sum() + ((b + x) * 3.0).sum()

    gp, gx = fg.grad(loss, argnums=(0, 1))(p, x)
    np.testing.assert_allclose(gp["w"], numerical_grad(loss_np, (p["w"], p["b"], x), 0), rtol=1e-8)
    np.testing.assert_allclose(gp["b"], numerical_grad(loss_np, (p["w"], p["b"], x), 1), rtol=1e-8)
    np.testing.assert_allclose(gx, numerical_grad(loss_np, (p["w"], p["b"], x), 2), rtol=1e-8)


def test_custom_jvp_integer_argument():
    @fg.custom_jvp
    def scale(x, k):
        return x * k

    @scale.defjvp
    def scale_jvp(primals, tangents):
        (x, k), (tx, tk) = primals, tangents
        assert tk.dtype == np.int64        # zeros of the integer's dtype
        return scale(x, k), tx * k

    np.testing.assert_allclose(fg.grad(lambda x: scale(x, np.int64(3)).sum())(np.ones(2)), [3.0, 3.0])


# ----------------------------------------------------------------------------- custom_vjp

def test_custom_vjp_outside_a_trace_runs_the_function():
    assert clip_gradient(-1.0, 1.0, 5.0) == 5.0
    np.testing.assert_allclose(sin_y(0.5, 2.0), np.sin(0.5) * 2.0)


def test_clip_gradient():
    # JAX's docs example: the backward pass clips the incoming cotangent
    def f(x):
        return clip_gradient(-0.75, 0.75, 3.0 * fnp.sin(x))

    for x in (0.1, 1.0, 2.0, 3.1):
        dsin = 3.0 * np.cos(x)
        np.testing.assert_allclose(fg.grad(f)(x), np.clip(1.0, -0.75, 0.75) * dsin, rtol=1e-14)
    # a cotangent beyond the bounds: d/dx (5 * clip(x)) = clip(5) = 0.75
    np.testing.assert_allclose(fg.grad(lambda x: 5.0 * clip_gradient(-0.75, 0.75, x))(2.0), 0.75)
    np.testing.assert_allclose(fg.grad(lambda x: -5.0 * clip_gradient(-0.75, 0.75, x))(2.0), -0.75)


def test_custom_vjp_against_finite_differences():
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal(5), rng.standard_normal(5)

    def loss(x, y):
        return (sin_y(x, y) * fnp.arange(5.0)).sum()

    def loss_np(x, y):
        return (sin_y_np(x, y) * np.arange(5.0)).sum()

    gx, gy = fg.grad(loss, argnums=(0, 1))(x, y)
    assert rel_error(gx, numerical_grad(loss_np, (x, y), 0)) < 1e-9
    assert rel_error(gy, numerical_grad(loss_np, (x, y), 1)) < 1e-9
    ct = rng.standard_normal(5)
    out, vjp_fn = fg.vjp(sin_y, x, y)
    np.testing.assert_allclose(out, sin_y_np(x, y), rtol=1e-14)
    for g, e in zip(vjp_fn(ct), numerical_vjp(sin_y_np, (x, y), (0, 1), ct)):
        assert rel_error(g, e) < 1e-9


def test_custom_vjp_rules_are_used():
    calls = []

    @fg.custom_vjp
    def f(x):
        return x * x

    def f_fwd(x):
        calls.append("fwd")
        return x * x, x

    def f_bwd(x, g):
        calls.append("bwd")
        return (g * 7.0,)       # not the true derivative: the rule wins

    f.defvjp(f_fwd, f_bwd)
    np.testing.assert_allclose(fg.grad(lambda x: f(x).sum())(np.ones(3)), np.full(3, 7.0))
    assert calls == ["fwd", "bwd"]


def test_custom_vjp_nondiff_argnums_int():
    @functools.partial(fg.custom_vjp, nondiff_argnums=(1,))
    def power(x, n):
        return x ** n

    def power_fwd(x, n):
        return x ** n, x

    def power_bwd(n, x, g):
        assert isinstance(n, int)
        return (g * n * x ** (n - 1),)

    power.defvjp(power_fwd, power_bwd)
    x = np.array([0.5, 1.5, 2.0])
    for n in (2, 3):
        np.testing.assert_allclose(fg.grad(lambda x: power(x, n).sum())(x), n * x ** (n - 1), rtol=1e-14)
    # keyword arguments are moved to their positions; the decorator with arguments
    np.testing.assert_allclose(fg.grad(lambda x: power(x, n=2).sum())(x), 2 * x, rtol=1e-14)

    @fg.custom_vjp(nondiff_argnums=(1,))
    def twice(x, n):
        return x * n

    twice.defvjp(lambda x, n: (x * n, ()), lambda n, res, g: (g * n,))
    assert fg.grad(lambda x: twice(x, 4))(1.0) == 4.0


def test_custom_vjp_pytrees_and_none_cotangents():
    @fg.custom_vjp
    def f(params, x):
        return {"y": params["w"] * x + params["b"], "aux": x * 2.0}

    def f_fwd(params, x):
        return f(params, x), (params["w"], x)

    def f_bwd(res, g):
        w, x = res
        # a None leaf (zero) inside the params' structure
        return {"w": g["y"] * x, "b": None}, g["y"] * w + 2.0 * g["aux"]

    f.defvjp(f_fwd, f_bwd)
    params = {"w": np.array([1.0, -2.0]), "b": np.array([0.5, 0.5])}
    x = np.array([3.0, 4.0])

    def loss(params, x):
        out = f(params, x)
        return (out["y"] ** 2).sum() + out["aux"].sum()

    gp, gx = fg.grad(loss, argnums=(0, 1))(params, x)
    y = params["w"] * x + params["b"]
    np.testing.assert_allclose(gp["w"], 2 * y * x)
    np.testing.assert_array_equal(gp["b"], np.zeros(2))     # the rule said zero
    np.testing.assert_allclose(gx, 2 * y * params["w"] + 2.0)


def test_custom_vjp_of_the_hessian_and_jacfwd_of_jacrev():
    def f(x):
        return sin_y(x, x * x).sum()

    def f_np(x):
        return (np.sin(x) * x * x).sum()

    x = np.array([0.3, -1.2, 2.0])
    h = fg.hessian(f)(x)
    fd = np.stack([numerical_grad(lambda v: numerical_grad(f_np, (v,), 0, h=1e-3)[i], (x,), 0, h=1e-3)
                   for i in range(3)])
    assert rel_error(h, fd) < 1e-6
    jj = fg.jacfwd(fg.jacrev(f))(x)
    np.testing.assert_allclose(jj, h, rtol=1e-12)
    # the exact second derivative of sin(x) x^2: (2 - x^2) sin x + 4 x cos x, on the diagonal
    np.testing.assert_allclose(np.diag(h), (2 - x ** 2) * np.sin(x) + 4 * x * np.cos(x), rtol=1e-12)


def test_jvp_of_custom_vjp_raises():
    with pytest.raises(fg.UnsupportedError, match=r"forward-mode.*custom_vjp.*sin_y.*custom_jvp"):
        fg.jvp(lambda x: sin_y(x, 2.0), (1.0,), (1.0,))
    with pytest.raises(fg.UnsupportedError, match="custom_vjp"):
        fg.jacfwd(lambda x: sin_y(x, x))(np.ones(2))


# ----------------------------------------------------------------------------- errors

def _bad_vjp(bwd, fwd=None, name="bad_rule"):
    def fun(x, y):
        return x * y
    fun.__name__ = name
    f = fg.custom_vjp(fun)
    f.defvjp(fwd or (lambda x, y: (x * y, (x, y))), bwd)
    return f


@pytest.mark.parametrize("bwd, match", [
    (lambda res, g: g, r"bad_rule.*must return a tuple"),
    (lambda res, g: (g,), r"bad_rule returned 1 cotangent but bad_rule has 2"),
    (lambda res, g: (g, g, g), r"returned 3 cotangents"),
    (lambda res, g: (g, fnp.ones(4)), r"bad_rule.*f64\[4\].*argument 1.*shape \(3,\)"),
    (lambda res, g: (g, (g, g)), r"bad_rule.*argument 1 with the structure"),
    (lambda res, g: (g, g.astype(np.float32)), r"bad_rule.*dtype float64"),
    (lambda res, g: (g, "zero"), r"bad_rule.*str"),
])
def test_bwd_returning_the_wrong_structure_or_shape(bwd, match):
    f = _bad_vjp(bwd)
    with pytest.raises(CustomRuleError, match=match) as info:
        fg.grad(lambda x, y: f(x, y).sum())(np.ones(3), np.ones(3))
    assert isinstance(info.value, fg.FuncgradError)
    assert "custom_vjp bwd rule of bad_rule" in str(info.value)


def test_fwd_returning_the_wrong_output():
    f = _bad_vjp(lambda res, g: (g, g), fwd=lambda x, y: (x[:2] * y[:2], ()), name="short")
    with pytest.raises(CustomRuleError, match=r"custom_vjp fwd rule of short.*f64\[2\].*shape \(3,\)"):
        fg.grad(lambda x, y: f(x, y).sum())(np.ones(3), np.ones(3))
    g = _bad_vjp(lambda res, g: (g, g), fwd=lambda x, y: x * y, name="no_pair")
    with pytest.raises(CustomRuleError, match=r"no_pair must return a pair"):
        fg.grad(lambda x, y: g(x, y).sum())(np.ones(3), np.ones(3))


def test_jvp_rule_returning_the_wrong_structure_or_shape():
    @fg.custom_jvp
    def safe_log(x):
        return fnp.log(x)

    @safe_log.defjvp
    def safe_log_jvp(primals, tangents):
        (x,), (t,) = primals, tangents
        return safe_log(x), (t / x)[:2]

    with pytest.raises(CustomRuleError, match=r"custom_jvp rule of safe_log returned f64\[2\]"):
        fg.grad(lambda x: safe_log(x).sum())(np.ones(3))
    with pytest.raises(CustomRuleError, match=r"custom_jvp rule of safe_log"):
        fg.jvp(safe_log, (np.ones(3),), (np.ones(3),))

    @fg.custom_jvp
    def two(x):
        return x, x

    two.defjvp(lambda p, t: (two(*p), t[0]))
    with pytest.raises(CustomRuleError, match=r"custom_jvp rule of two returned a tangent output with the "
                                              r"structure \*"):
        fg.jvp(lambda x: two(x)[0], (1.0,), (1.0,))


def test_missing_rules():
    f = fg.custom_jvp(lambda x: x)
    with pytest.raises(fg.UnsupportedError, match="defjvp"):
        fg.grad(f)(1.0)
    g = fg.custom_vjp(lambda x: x)
    with pytest.raises(fg.UnsupportedError, match="defvjp"):
        fg.grad(g)(1.0)


def test_differentiating_a_closed_over_value_raises():
    def loss_jvp(w):
        @fg.custom_jvp
        def f(x):
            return fnp.sin(x) * w

        @f.defjvp
        def f_jvp(primals, tangents):
            (x,), (t,) = primals, tangents
            return fnp.sin(x) * 2.0, fnp.cos(x) * t * 2.0
        return f(np.array([1.0, 2.0])).sum()

    with pytest.raises(CustomRuleError, match=r"closes over.*as an argument"):
        fg.grad(loss_jvp)(2.0)
    with pytest.raises(CustomRuleError, match=r"closes over.*as an argument"):
        fg.jvp(loss_jvp, (2.0,), (1.0,))

    def loss_vjp(w):
        @fg.custom_vjp
        def f(x):
            return x * w
        f.defvjp(lambda x: (x * 2.0, ()), lambda res, g: (g * 2.0,))
        return f(3.0)

    with pytest.raises(CustomRuleError, match=r"custom_vjp function f.*closes over.*as an argument"):
        fg.grad(loss_vjp)(2.0)


def test_rules_reading_a_finished_trace_get_a_clear_error():
    def loss(w, x):
        @fg.custom_vjp
        def f(x):
            return x * w
        f.defvjp(lambda x: (x * w, ()), lambda res, g: (g * w,))   # the rules read w: gone by then
        return f(x)

    with pytest.raises(CustomRuleError, match=r"custom_vjp function f: its fwd rule uses a traced value "
                                              r"it closes over.*as arguments"):
        fg.grad(loss, argnums=(0, 1))(2.0, 3.0)


def test_closed_over_values_that_are_not_differentiated():
    c = np.array([1.0, 2.0, 3.0])

    @fg.custom_jvp
    def f(x):
        return x * c           # a NumPy constant: an operand without derivative

    f.defjvp(lambda p, t: (f(*p), t[0] * c))
    np.testing.assert_allclose(fg.grad(lambda x: f(x).sum())(np.ones(3)), c)

    @fg.jit
    def outer(w, x):           # w is traced (by jit) but not differentiated
        @fg.custom_vjp
        def g(x):
            return x * w
        g.defvjp(lambda x: (x * w, ()), lambda res, ct: (ct * w * 10.0,))
        return fg.grad(lambda x: g(x).sum())(x)

    np.testing.assert_allclose(outer(np.full(3, 2.0), np.ones(3)), np.full(3, 20.0))


def test_nondiff_argnums_must_be_static():
    @functools.partial(fg.custom_vjp, nondiff_argnums=(0,))
    def f(a, x):
        return a * x

    f.defvjp(lambda a, x: (a * x, ()), lambda a, res, g: (g * a,))
    with pytest.raises(fg.InputError, match="nondiff_argnums.*traced array"):
        fg.grad(lambda a: f(a, 2.0))(1.0)


# ----------------------------------------------------------------------------- jit, backends, cache

def test_under_jit_interpreter():
    x = np.array([0.1, -2.0, 3.0])
    g = fg.jit(fg.grad(lambda x: (log1pexp(x) + sin_y(x, x)).sum()), backend="interpret")
    np.testing.assert_allclose(g(x), sigmoid(x) + np.cos(x) * x + np.sin(x), rtol=1e-13)
    np.testing.assert_allclose(fg.jit(log1pexp, backend="interpret")(x), np.log1p(np.exp(x)), rtol=1e-14)


def test_under_jit_numba():
    x = np.array([0.1, -2.0, 3.0, 100.0])

    def loss(x):
        return (log1pexp(x) + clip_gradient(-0.5, 0.5, 2.0 * x)).sum()

    g = fg.jit(fg.value_and_grad(loss), backend="numba")
    v, d = g(x)
    np.testing.assert_allclose(d, sigmoid(x) + 2.0 * 0.5, rtol=1e-13)
    np.testing.assert_allclose(v, (np.log1p(np.exp(x)) + 2.0 * x).sum(), rtol=1e-13)
    low = g.lower(x)
    assert not set(prims(low.ir)) & {p.name for p in CALL_BODY}   # inlined for the code generator
    assert "custom_jvp_call" in prims(low.ir_before_passes)


def test_program_cache_hits_on_the_next_call():
    compiled = []

    def counting(program):
        compiled.append(program)
        return interpret_compile(program)

    register_backend("counting_custom", counting)

    @functools.partial(fg.custom_vjp, nondiff_argnums=(0,))
    def scale(k, x):
        return x * k

    scale.defvjp(lambda k, x: (x * k, ()), lambda k, res, g: (g * k,))

    def loss(x):
        return (log1pexp(x) + scale(2.0, x)).sum()

    g = fg.grad(loss, backend="counting_custom")
    for x in (np.ones(3), np.full(3, 2.0), np.zeros(3)):
        np.testing.assert_allclose(g(x), sigmoid(x) + 2.0)
    assert len(compiled) == 1
    ir = str(fg.make_ir(loss)(np.ones(3)))
    assert "rule=custom_jvp(log1pexp)" in ir and "rule=custom_vjp(scale)" in ir


# ----------------------------------------------------------------------------- vmap

def test_vmap_of_grad_of_custom_vjp_vs_loop():
    x, y = np.array([0.3, 1.0, -2.0]), np.array([2.0, -1.0, 0.5])
    got = fg.vmap(fg.grad(sin_y, argnums=(0, 1)))(x, y)
    want = [fg.grad(sin_y, argnums=(0, 1))(a, b) for a, b in zip(x, y)]
    np.testing.assert_allclose(got[0], [w[0] for w in want], rtol=1e-14)
    np.testing.assert_allclose(got[1], [w[1] for w in want], rtol=1e-14)


def test_grad_of_vmap_keeps_the_custom_rules():
    x = np.array([0.5, -3.0, 100.0])
    # the batched custom_jvp call keeps its rule: stable at 100
    g = fg.grad(lambda x: fg.vmap(log1pexp)(x).sum())(x)
    np.testing.assert_allclose(g, sigmoid(x), rtol=1e-14)
    ir = str(fg.make_ir(fg.vmap(log1pexp))(x))
    assert "rule=vmap(custom_jvp(log1pexp))" in ir
    t = fg.jvp(fg.vmap(log1pexp), (x,), (np.ones(3),))[1]
    np.testing.assert_allclose(t, sigmoid(x), rtol=1e-14)

    # custom_vjp: one argument batched, the other shared (its cotangent sums over the batch)
    y = 1.5
    gx, gy = fg.grad(lambda x, y: fg.vmap(sin_y, in_axes=(0, None))(x, y).sum(), argnums=(0, 1))(x, y)
    np.testing.assert_allclose(gx, np.cos(x) * y, rtol=1e-14)
    np.testing.assert_allclose(gy, np.sin(x).sum(), rtol=1e-14)
    # the clip rule per example
    g = fg.grad(lambda x: (fg.vmap(lambda v: clip_gradient(-0.5, 0.5, v))(x) * np.array([1.0, 0.2, -3.0])).sum())(x)
    np.testing.assert_allclose(g, [0.5, 0.2, -0.5])


def test_vmap_of_vmap_and_batched_rules_with_pytrees():
    x = RNG.standard_normal((2, 3))
    g = fg.grad(lambda x: fg.vmap(fg.vmap(log1pexp))(x).sum())(x)
    np.testing.assert_allclose(g, sigmoid(x), rtol=1e-14)
    gx = fg.grad(lambda x: fg.vmap(fg.vmap(lambda v: sin_y(v, v)))(x).sum())(x)
    np.testing.assert_allclose(gx, np.cos(x) * x + np.sin(x), rtol=1e-13)


# ----------------------------------------------------------------------------- loops

def test_custom_functions_inside_loop_bodies_grad_inside():
    def step(i, w):
        g = fg.grad(lambda w: (log1pexp(w) + sin_y(w, w)).sum())(w)
        return w - 0.1 * g

    w0 = np.array([0.5, -1.0])
    got = fg.fori_loop(0, 3, step, w0)
    want = w0.copy()
    for _ in range(3):
        want = want - 0.1 * (sigmoid(want) + np.cos(want) * want + np.sin(want))
    np.testing.assert_allclose(fg.jit(lambda w: fg.fori_loop(0, 3, step, w), backend="interpret")(w0),
                               want, rtol=1e-13)
    np.testing.assert_allclose(got, want, rtol=1e-13)


def test_grad_through_scan_of_custom_functions():
    xs = np.array([0.3, -0.7, 1.1, 2.0])

    def loss(c0, xs):
        def body(c, x):
            c = sin_y(c, x) + log1pexp(x * c)
            return c, c * 2.0
        c, ys = fg.scan(body, c0, xs)
        return c + ys.sum()

    def loss_np(c0, xs):
        c, total = c0, 0.0
        for x in xs:
            c = np.sin(c) * x + np.log1p(np.exp(x * c))
            total += 2.0 * c
        return c + total

    try:
        g0, gx = fg.grad(loss, argnums=(0, 1))(0.4, xs)
    except fg.UnsupportedError as e:
        if "scan" in str(e):
            pytest.skip(f"reverse mode through scan is not available: {e}")
        raise
    assert rel_error(g0, numerical_grad(loss_np, (0.4, xs), 0)) < 1e-8
    assert rel_error(gx, numerical_grad(loss_np, (0.4, xs), 1)) < 1e-8


# ----------------------------------------------------------------------------- checkpoint

def _layers(W, x):
    for k in range(5):
        x = fnp.tanh(W[k] @ x)
    return x


def _layers_np(W, x):
    for k in range(5):
        x = np.tanh(W[k] @ x)
    return x


W5 = RNG.standard_normal((5, 6, 6)) * 0.6
X6 = RNG.standard_normal(6)


def test_checkpoint_same_values_and_gradients():
    plain = lambda W, x: (_layers(W, x) ** 2).sum()       # noqa: E731
    ck = fg.checkpoint(plain)
    assert ck(W5, X6) == plain(W5, X6)                       # outside a trace: the function
    gW, gx = fg.grad(ck, argnums=(0, 1))(W5, X6)
    eW, ex = fg.grad(plain, argnums=(0, 1))(W5, X6)
    np.testing.assert_allclose(gW, eW, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(gx, ex, rtol=1e-13, atol=1e-15)
    ref = lambda W, x: (_layers_np(W, x) ** 2).sum()     # noqa: E731
    assert rel_error(gx, numerical_grad(ref, (W5, X6), 1)) < 1e-8
    # checkpointing part of a function, twice, with a pytree argument
    def two(p, x):
        x = fg.remat(lambda p, x: _layers(p["W"], x))(p, x)
        x = fg.checkpoint(lambda x: fnp.sin(x) * p["s"])(x)
        return x.sum()

    p = {"W": W5, "s": np.linspace(0.5, 1.5, 6)}
    g = fg.grad(two)(p, X6)
    e = fg.grad(lambda p, x: (fnp.sin(_layers(p["W"], x)) * p["s"]).sum())(p, X6)
    np.testing.assert_allclose(g["W"], e["W"], rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(g["s"], e["s"], rtol=1e-13, atol=1e-15)


def _residuals(fun, *args):
    """The arrays the forward part of ``fg.vjp(fun, *args)`` passes to its
    backward part (the joint program cut by split_program, as api.vjp does)."""
    traced = fg.make_ir(fun)(*args)
    program = constants_as_inputs(traced)
    n_in, n_out = len(program.in_vars), len(program.out_atoms)
    wrt = list(range(n_in))

    def joint(*xs):
        outs, grads = backward_pass(program, list(xs[:n_in]), wrt, list(xs[n_in:]))
        return list(outs) + list(grads)

    joint_p = trace_flat(joint, list(program.in_avals) + list(program.out_avals))
    forward, backward, known = split_program(joint_p, n_in)
    return forward.out_atoms[n_out + sum(known[n_out:]):]


def test_checkpoint_stores_only_its_inputs():
    plain = lambda W, x: _layers(W, x)              # noqa: E731
    ck = fg.checkpoint(plain)
    r_plain = _residuals(plain, W5, X6)
    r_ck = _residuals(ck, W5, X6)
    assert len(r_ck) < len(r_plain)
    assert len(r_plain) >= 5                       # every layer's tanh output
    assert {v.aval.shape for v in r_ck} <= {(5, 6, 6), (6,)}
    assert len(r_ck) <= 2                          # W and x
    # vjp gives the same cotangents either way
    ct = RNG.standard_normal(6)
    _, f1 = fg.vjp(plain, W5, X6)
    _, f2 = fg.vjp(ck, W5, X6)
    for a, b in zip(f1(ct), f2(ct)):
        np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-15)


def test_checkpoint_in_the_ir_and_inlined():
    ck = fg.checkpoint(lambda x: fnp.sin(fnp.sin(x)))
    ir = fg.make_ir(lambda x: ck(x) * 2.0)(np.ones(3))
    text = str(ir)
    assert "checkpoint" in text and "body:" in text
    g_ir = fg.make_ir(fg.value_and_grad(lambda x: ck(x).sum()))(np.ones(3))
    # the forward checkpoint, and the gradient as one checkpoint whose body
    # recomputes the forward values it needs (sin x)
    assert prims(g_ir).count("checkpoint") == 2
    fwd_eqn, bwd_eqn = [e for e in g_ir.eqns if e.primitive is checkpoint_p]
    assert prims(fwd_eqn.params["body"]).count("sin") == 2
    assert prims(bwd_eqn.params["body"]).count("sin") == 1
    # the pass pipeline (CSE included) then inlining, as the backends do: the
    # recomputation stays (three sin), no checkpoint is left
    inlined = inline_calls(passes.optimize(g_ir))
    verify(inlined)
    assert "checkpoint" not in prims(inlined)
    assert prims(inlined).count("sin") == 3
    x = np.array([0.1, 0.5, 2.0])
    for a, b in zip(eval_program(inlined, [x]), eval_program(g_ir, [x])):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(eval_program(g_ir, [x])[1], np.cos(np.sin(x)) * np.cos(x), rtol=1e-14)


def test_checkpoint_jvp_vmap_hessian():
    f = fg.checkpoint(lambda x: fnp.sin(x) * x)
    x = np.array([0.3, -1.0, 2.0])
    y, t = fg.jvp(f, (x,), (np.ones(3),))
    np.testing.assert_allclose(t, np.cos(x) * x + np.sin(x), rtol=1e-14)
    assert "checkpoint" in prims(fg.make_ir(lambda x, t: fg.jvp(f, (x,), (t,)))(x, x))
    np.testing.assert_allclose(fg.vmap(f)(x), np.sin(x) * x, rtol=1e-14)
    np.testing.assert_allclose(fg.vmap(fg.grad(f))(x), np.cos(x) * x + np.sin(x), rtol=1e-14)
    assert "checkpoint" in prims(fg.make_ir(fg.vmap(f))(x))
    h = fg.hessian(lambda x: f(x).sum())(x)
    np.testing.assert_allclose(h, np.diag(2 * np.cos(x) - x * np.sin(x)), rtol=1e-13, atol=1e-15)
    # a shared (unbatched) operand stays unbatched inside the batched checkpoint
    g = fg.checkpoint(lambda a, b: (a * b, b * 2.0))
    out = fg.vmap(g, in_axes=(0, None))(x, 3.0)
    np.testing.assert_allclose(out[0], x * 3.0)
    np.testing.assert_allclose(out[1], np.full(3, 6.0))


def test_checkpoint_under_jit_numba():
    def loss(W, x):
        return (fg.checkpoint(_layers)(W, x) ** 2).sum()

    g = fg.jit(fg.grad(loss), backend="numba")
    np.testing.assert_allclose(g(W5, X6), fg.grad(lambda W, x: (_layers(W, x) ** 2).sum())(W5, X6),
                               rtol=1e-12, atol=1e-14)


def test_checkpoint_static_argnums_and_policy():
    f = fg.checkpoint(lambda n, x: x ** n, static_argnums=(0,))
    np.testing.assert_allclose(fg.grad(lambda x: f(3, x))(2.0), 12.0)
    with pytest.raises(fg.UnsupportedError, match="polic"):
        fg.checkpoint(lambda x: x, policy=object())


# ----------------------------------------------------------------------------- inline_calls

def test_inline_calls_nested_and_in_loop_bodies():
    inner = fg.checkpoint(lambda x: fnp.sin(x) * 2.0)

    def f(x):
        def body(i, c):
            return log1pexp(inner(c)) + fg.checkpoint(lambda v: inner(v) + 1.0)(c)
        y = fg.fori_loop(0, 2, body, x)
        return inner(y) + inner(y) + sin_y(y, x)

    x = np.array([0.2, -0.4, 1.3])
    program = fg.make_ir(f)(x)
    before = prims(program)
    assert before.count("checkpoint") >= 3 and "custom_jvp_call" in before and "custom_vjp_call" in before
    out = inline_calls(program)
    verify(out)
    assert not set(prims(out)) & {p.name for p in CALL_BODY}
    assert "fori_loop" in prims(out)
    np.testing.assert_array_equal(eval_program(out, [x])[0], eval_program(program, [x])[0])
    np.testing.assert_array_equal(eval_program(out, [x])[0], f(x))
    # every variable defined once, though the same body was inlined several times
    assert inline_calls(out) is out       # no calls: the same program
    plain = fg.make_ir(lambda x: fnp.sin(x) + 1.0)(x)
    assert inline_calls(plain) is plain
    # the pass pipeline, then inlining (what the backends do), keeps the values
    piped = inline_calls(passes.optimize(program))
    verify(piped)
    np.testing.assert_allclose(eval_program(piped, [x])[0], f(x), rtol=1e-15)


def test_call_primitives_check_their_operands():
    program = fg.make_ir(fg.checkpoint(lambda x: x * 2.0))(np.ones(3))
    (eqn,) = program.eqns
    assert eqn.primitive is checkpoint_p
    with pytest.raises(fg.ShapeError, match="checkpoint: operand 0 is f64\\[4\\]"):
        checkpoint_p.bind(np.ones(4), **eqn.params)
    with pytest.raises(fg.DtypeError, match="checkpoint: operand 0 is f32\\[3\\]"):
        checkpoint_p.bind(np.ones(3, np.float32), **eqn.params)
    np.testing.assert_array_equal(checkpoint_p.bind(np.ones(3), **eqn.params)[0], np.full(3, 2.0))
    assert custom_jvp_call_p.multiple_results and custom_vjp_call_p.multiple_results


def test_inline_calls_with_outputs_that_are_inputs_or_literals():
    ident = fg.custom_jvp(lambda x, y: (x, 2.0, y * 3.0))
    ident.defjvp(lambda p, t: (ident(*p), (t[0], 0.0, t[1] * 3.0)))   # a Python 0.0: cast

    def f(x, y):
        a, b, c = ident(x, y)
        return a, b, fg.checkpoint(lambda v: v)(c)

    x, y = np.array([1.0, 2.0]), np.array(0.5)
    program = fg.make_ir(f)(x, y)
    out = inline_calls(program)
    verify(out)
    assert out.out_atoms[0] is out.in_vars[0]
    got = eval_program(out, [x, y])
    np.testing.assert_array_equal(got[0], x)
    assert float(got[1]) == 2.0 and float(got[2]) == 1.5
    np.testing.assert_allclose(fg.jvp(lambda x: f(x, y)[0], (x,), (np.ones(2),))[1], np.ones(2))


def test_vm_encodes_calls_directly():
    from funcgrad.backends.vm import encode, ensure_machine, make_runner

    def f(x):
        def body(i, c):
            return log1pexp(fg.checkpoint(lambda v: fnp.sin(v) * 2.0)(c))
        return fg.fori_loop(0, 2, body, x) + sin_y(x, x)

    x = np.array([0.2, -0.4, 1.3])
    program = fg.make_ir(f)(x)
    assert {"checkpoint", "custom_jvp_call", "custom_vjp_call"} <= set(prims(program))
    run = make_runner(encode(program), ensure_machine(), program)   # no inlining first
    np.testing.assert_allclose(run(x)[0], f(x), rtol=1e-14)
