"""The user-facing transformations: value_and_grad, grad (argnums, has_aux),
vjp, make_ir, stop_gradient, higher derivatives, closures, kwargs, and the
guarantees about the caller's arrays. References are hand-derived formulas or
central finite differences in float64."""
import collections

import numpy as np
import pytest

import funcgrad as fg
import funcgrad.numpy as fnp
from funcgrad import tree


def num_grad(f, x, eps=1e-6):
    """Central finite differences of a scalar function of one float64 array."""
    x = np.array(x, dtype=np.float64)
    g = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        xp, xm = x.copy(), x.copy()
        xp[i] += eps
        xm[i] -= eps
        g[i] = (f(xp) - f(xm)) / (2 * eps)
    return g


rng = np.random.default_rng(1234)


# ----------------------------------------------------------------------------- value_and_grad / grad

def test_value_and_grad_basic():
    x = rng.normal(size=(3, 4))
    val, g = fg.value_and_grad(lambda x: np.sum(x ** 2 * np.exp(x)))(x)
    np.testing.assert_allclose(val, np.sum(x ** 2 * np.exp(x)), rtol=1e-12)
    np.testing.assert_allclose(g, (2 * x + x ** 2) * np.exp(x), rtol=1e-12)
    assert g.shape == x.shape and g.dtype == x.dtype


def test_grad_python_float_input_gives_float64():
    g = fg.grad(lambda x: x * x * 3.0)(2.0)
    assert np.shape(g) == () and np.asarray(g).dtype == np.float64
    np.testing.assert_allclose(g, 12.0)


def f3(x, y, z):
    return np.sum(x * np.sin(y)) + np.sum(z ** 2) * np.sum(x)


def _args3():
    return rng.normal(size=3), rng.normal(size=3), rng.normal(size=2)


def _ref3(x, y, z):
    return (np.sin(y) + np.sum(z ** 2), x * np.cos(y), 2 * z * np.sum(x))


@pytest.mark.parametrize("argnums,expect", [
    (0, 0), (1, 1), (2, 2), (-1, 2), (-3, 0), (-2, 1),
    ((0, 2), (0, 2)), ((2, 0), (2, 0)), ((-1, 1), (2, 1)), ((1,), (1,)), ((0, 1, 2), (0, 1, 2)),
])
def test_argnums(argnums, expect):
    x, y, z = _args3()
    ref = _ref3(x, y, z)
    g = fg.grad(f3, argnums=argnums)(x, y, z)
    if isinstance(expect, int):
        assert isinstance(g, (np.ndarray, fg.DeviceArray))     # one array, not a tuple
        np.testing.assert_allclose(g, ref[expect], rtol=1e-12)
    else:
        assert isinstance(g, tuple) and len(g) == len(expect)
        for gi, e in zip(g, expect):
            np.testing.assert_allclose(gi, ref[e], rtol=1e-12)


def test_argnums_numpy_integers_and_lists():
    x, y, z = _args3()
    ref = _ref3(x, y, z)
    np.testing.assert_allclose(fg.grad(f3, argnums=np.int64(1))(x, y, z), ref[1], rtol=1e-12)
    g = fg.grad(f3, argnums=[np.int32(2), 0])(x, y, z)
    assert isinstance(g, tuple)
    np.testing.assert_allclose(g[0], ref[2], rtol=1e-12)
    np.testing.assert_allclose(g[1], ref[0], rtol=1e-12)


def test_aux_may_hold_none_ints_and_bools():
    (val, aux), g = fg.value_and_grad(lambda x: (np.sum(x), {"none": None, "n": 3, "ok": True}),
                                      has_aux=True)(np.ones(2))
    assert aux["none"] is None and int(aux["n"]) == 3 and bool(aux["ok"])
    np.testing.assert_allclose(g, [1.0, 1.0])


def test_argnums_value_and_grad_tuple():
    x, y, z = _args3()
    val, (gz, gx) = fg.value_and_grad(f3, argnums=(2, 0))(x, y, z)
    np.testing.assert_allclose(val, f3(x, y, z), rtol=1e-12)
    ref = _ref3(x, y, z)
    np.testing.assert_allclose(gx, ref[0], rtol=1e-12)
    np.testing.assert_allclose(gz, ref[2], rtol=1e-12)


def test_has_aux_grad():
    x = rng.normal(size=4)

    def f(x):
        loss = np.sum(np.tanh(x))
        return loss, {"pred": np.tanh(x), "n": x.shape[0]}

    g, aux = fg.grad(f, has_aux=True)(x)
    np.testing.assert_allclose(g, 1 - np.tanh(x) ** 2, rtol=1e-12)
    np.testing.assert_allclose(aux["pred"], np.tanh(x), rtol=1e-12)
    assert int(aux["n"]) == 4


def test_has_aux_value_and_grad():
    x = rng.normal(size=(2, 3))
    w = rng.normal(size=3)

    def f(w, x):
        pred = x @ w
        return np.mean(pred ** 2), (pred, np.argmax(pred))

    (val, (pred, am)), g = fg.value_and_grad(f, has_aux=True)(w, x)
    np.testing.assert_allclose(val, np.mean((x @ w) ** 2), rtol=1e-12)
    np.testing.assert_allclose(pred, x @ w, rtol=1e-12)
    assert int(am) == int(np.argmax(x @ w))
    np.testing.assert_allclose(g, 2 * x.T @ (x @ w) / 2, rtol=1e-12)


def test_has_aux_with_argnums_tuple():
    a, b = np.asarray(2.0), np.asarray(-3.0)
    (ga, gb), aux = fg.grad(lambda a, b: (a * b, a + b), argnums=(0, 1), has_aux=True)(a, b)
    np.testing.assert_allclose([ga, gb, aux], [-3.0, 2.0, -1.0])


def test_has_aux_requires_a_pair():
    with pytest.raises(fg.InputError, match="pair"):
        fg.grad(lambda x: x.sum(), has_aux=True)(np.ones(3))


# ----------------------------------------------------------------------------- vjp

def test_vjp_single_output_matches_jacobian_transpose():
    A = rng.normal(size=(4, 3))
    x = rng.normal(size=3)
    out, vjp_fn = fg.vjp(lambda x: np.tanh(A @ x), x)
    np.testing.assert_allclose(out, np.tanh(A @ x), rtol=1e-12)
    ct = rng.normal(size=4)
    (gx,) = vjp_fn(ct)
    # J = diag(1 - tanh^2) A, so J^T ct = A^T ((1 - tanh^2) ct)
    np.testing.assert_allclose(gx, A.T @ ((1 - np.tanh(A @ x) ** 2) * ct), rtol=1e-12)
    # the same vjp_fn works for several cotangents
    ct2 = rng.normal(size=4)
    (gx2,) = vjp_fn(ct2)
    np.testing.assert_allclose(gx2, A.T @ ((1 - np.tanh(A @ x) ** 2) * ct2), rtol=1e-12)


def test_vjp_pytree_outputs_and_cotangents_vs_finite_differences():
    x = rng.normal(size=3)
    w = {"a": rng.normal(size=(3, 2)), "b": np.asarray(0.7)}

    def f(x, w):
        h = x @ w["a"]
        return {"h": h, "pair": (np.sin(h) * w["b"], np.sum(x ** 2))}

    out, vjp_fn = fg.vjp(f, x, w)
    assert tree.structure(out) == tree.structure({"h": 0, "pair": (0, 0)})
    h = x @ w["a"]
    np.testing.assert_allclose(out["h"], h, rtol=1e-12)
    np.testing.assert_allclose(out["pair"][0], np.sin(h) * w["b"], rtol=1e-12)
    np.testing.assert_allclose(out["pair"][1], np.sum(x ** 2), rtol=1e-12)

    ct = {"h": rng.normal(size=2), "pair": (rng.normal(size=2), np.asarray(1.3))}
    gx, gw = vjp_fn(ct)
    assert tree.structure(gw) == tree.structure(w)

    def inner(x, w):  # <ct, f(x, w)> in plain numpy
        h = x @ w["a"]
        return (np.sum(ct["h"] * h) + np.sum(ct["pair"][0] * np.sin(h) * w["b"])
                + ct["pair"][1] * np.sum(x ** 2))

    np.testing.assert_allclose(gx, num_grad(lambda v: inner(v, w), x), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(gw["a"], num_grad(lambda v: inner(x, {"a": v, "b": w["b"]}), w["a"]),
                               rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(gw["b"], num_grad(lambda v: inner(x, {"a": w["a"], "b": v}), w["b"]),
                               rtol=1e-6, atol=1e-8)


def test_vjp_integer_primal_gets_zero_cotangent():
    x = rng.normal(size=4)
    idx = np.array([2, 0, 2])
    out, vjp_fn = fg.vjp(lambda x, i: x[i] * 2.0, x, idx)
    np.testing.assert_allclose(out, 2 * x[idx])
    gx, gi = vjp_fn(np.array([1.0, 10.0, 100.0]))
    np.testing.assert_allclose(gx, [20.0, 0.0, 202.0, 0.0])
    assert gi.shape == idx.shape and not np.any(gi)


def test_vjp_has_aux():
    x = rng.normal(size=3)
    out, vjp_fn, aux = fg.vjp(lambda x: (np.exp(x), {"m": np.max(x)}), x, has_aux=True)
    np.testing.assert_allclose(out, np.exp(x), rtol=1e-12)
    np.testing.assert_allclose(aux["m"], np.max(x))
    (g,) = vjp_fn(np.ones(3))
    np.testing.assert_allclose(g, np.exp(x), rtol=1e-12)


def test_vjp_cotangent_structure_and_shape_checked():
    out, vjp_fn = fg.vjp(lambda x: (x * 2, x.sum()), np.ones(3))
    with pytest.raises(fg.InputError, match="structure"):
        vjp_fn([np.ones(3), 1.0])
    with pytest.raises(fg.InputError, match="shape"):
        vjp_fn((np.ones(4), 1.0))


# ----------------------------------------------------------------------------- make_ir

def test_make_ir_shows_primitives_and_shapes():
    x = np.ones((2, 3), np.float32)
    w = np.ones((3, 5), np.float32)
    prog = fg.make_ir(lambda x, w: np.sum(np.tanh(x @ w), axis=1))(x, w)
    text = str(prog)
    assert isinstance(prog, fg.Program)
    for piece in ["f32[2,3]", "f32[3,5]", "f32[2,5]", "f32[2]", "matmul", "tanh", "reduce_sum"]:
        assert piece in text, (piece, text)
    assert repr(prog) == text
    assert prog.in_avals == [fg.ShapedArray((2, 3), np.float32), fg.ShapedArray((3, 5), np.float32)]
    assert prog.out_avals == [fg.ShapedArray((2,), np.float32)]


def test_make_ir_dtypes_and_integers():
    text = str(fg.make_ir(lambda x, i: x[i] * 2)(np.zeros(5), np.array([1, 3])))
    assert "f64[5]" in text and "i64[2]" in text and "f64[2]" in text
    assert "mul" in text


def test_make_ir_static_argnums():
    prog = fg.make_ir(lambda x, n: x.reshape(n, -1), static_argnums=1)(np.zeros(6), 2)
    text = str(prog)
    assert "f64[6]" in text and "f64[2,3]" in text and "reshape" in text


def test_make_ir_static_argnums_negative_and_out_of_range():
    prog = fg.make_ir(lambda x, n: x.reshape(n, -1), static_argnums=-1)(np.zeros(6), 3)
    assert [str(a) for a in prog.in_avals] == ["f64[6]"]
    assert "f64[3,2]" in str(prog)
    with pytest.raises(fg.InputError, match="static_argnums"):
        fg.make_ir(lambda x: x, static_argnums=1)(np.zeros(2))


def test_make_ir_of_grad_shows_forward_and_backward():
    x = np.ones((4,), np.float32)
    text = str(fg.make_ir(fg.value_and_grad(lambda x: np.sum(np.sin(x))))(x))
    for piece in ["sin", "reduce_sum", "cos", "f32[4]", "f32[]"]:
        assert piece in text, (piece, text)
    # a backward pass that reads forward values: tanh's derivative uses tanh(x)
    text = str(fg.make_ir(fg.grad(lambda x: np.sum(np.tanh(x) * 3.0)))(x))
    assert "tanh" in text and "mul" in text


def test_make_ir_inputs_in_flattened_order():
    prog = fg.make_ir(lambda p: p["b"] + p["a"].sum())({"b": np.zeros(2), "a": np.zeros((3, 4))})
    assert [str(a) for a in prog.in_avals] == ["f64[3,4]", "f64[2]"]


# ----------------------------------------------------------------------------- higher derivatives

@pytest.mark.parametrize("x", [-1.3, 0.0, 0.4, 2.0])
def test_second_derivative_sin(x):
    d2 = fg.grad(fg.grad(np.sin))(x)
    np.testing.assert_allclose(d2, -np.sin(x), rtol=1e-12, atol=1e-15)
    d3 = fg.grad(fg.grad(fg.grad(np.sin)))(x)
    np.testing.assert_allclose(d3, -np.cos(x), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("x", [-2.0, -0.5, 0.0, 1.5])
def test_second_derivative_cube(x):
    np.testing.assert_allclose(fg.grad(fg.grad(lambda x: x ** 3))(x), 6 * x, atol=1e-12)
    np.testing.assert_allclose(fg.grad(fg.grad(lambda x: x * x * x))(x), 6 * x, atol=1e-12)


def test_second_derivative_arrays_hessian_diagonal():
    x = rng.normal(size=5)
    # d/dx sum(grad(sum(exp(x) * x))) = d/dx sum((1 + x) e^x) = (2 + x) e^x
    h = fg.grad(lambda x: np.sum(fg.grad(lambda y: np.sum(np.exp(y) * y))(x)))(x)
    np.testing.assert_allclose(h, (2 + x) * np.exp(x), rtol=1e-12)


def test_hessian_vector_product_quadratic():
    A = rng.normal(size=(4, 4))
    A = A + A.T
    x = rng.normal(size=4)
    v = rng.normal(size=4)
    hvp = fg.grad(lambda x: np.dot(fg.grad(lambda y: 0.5 * y @ A @ y)(x), v))(x)
    np.testing.assert_allclose(hvp, A @ v, rtol=1e-10)


def test_grad_of_value_and_grad_mixed_with_closure():
    c = np.array([1.0, 2.0, 3.0])
    x = np.array([0.1, 0.2, 0.3])

    def inner(x):
        return np.sum(c * np.sin(x))

    def outer(x):
        val, g = fg.value_and_grad(inner)(x)
        return val + np.sum(g ** 2)

    # d/dx [sum c sin x + sum c^2 cos^2 x] = c cos x - 2 c^2 cos x sin x
    np.testing.assert_allclose(fg.grad(outer)(x), c * np.cos(x) - 2 * c ** 2 * np.cos(x) * np.sin(x),
                               rtol=1e-12)


# ----------------------------------------------------------------------------- stop_gradient

def test_stop_gradient():
    x = np.array([0.5, -1.0, 2.0])
    g = fg.grad(lambda x: np.sum(x * fg.stop_gradient(x)))(x)
    np.testing.assert_allclose(g, x)  # d/dx x*c = c
    g = fg.grad(lambda x: np.sum(fnp.stop_gradient(x ** 2) + x))(x)
    np.testing.assert_allclose(g, np.ones(3))


def test_stop_gradient_pytree_and_concrete():
    t = {"a": np.array([1.0]), "b": (np.array([2.0]),)}
    out = fg.stop_gradient(t)
    assert tree.structure(out) == tree.structure(t)
    np.testing.assert_array_equal(out["b"][0], [2.0])

    def f(p):
        q = fg.stop_gradient(p)
        return np.sum(p["a"] * q["b"][0]) + np.sum(q["a"] * p["b"][0] ** 2)

    g = fg.grad(f)(t)
    np.testing.assert_allclose(g["a"], [2.0])
    np.testing.assert_allclose(g["b"][0], [2 * 1.0 * 2.0])


def test_stop_gradient_second_order():
    # f(x) = x^2 * sg(x): f' = 2 x sg(x), f'' = 2 sg(x)
    x = 3.0
    np.testing.assert_allclose(fg.grad(fg.grad(lambda x: x ** 2 * fg.stop_gradient(x)))(x), 6.0)


# ----------------------------------------------------------------------------- closures, integer args, kwargs

def test_closure_constants():
    W = rng.normal(size=(3, 2))
    b = rng.normal(size=2)

    def loss(x):
        return np.sum(np.tanh(x @ W + b))

    x = rng.normal(size=(4, 3))
    g = fg.grad(loss)(x)
    np.testing.assert_allclose(g, (1 - np.tanh(x @ W + b) ** 2) @ W.T, rtol=1e-12)
    assert "f64[3,2]" in str(fg.make_ir(loss)(x))


def test_integer_labels_not_differentiated():
    logits = rng.normal(size=(5, 3))
    labels = np.array([0, 2, 1, 1, 0])

    def nll(z, labels):
        lse = np.log(np.sum(np.exp(z), axis=1))
        return np.mean(lse - z[np.arange(5), labels])

    g = fg.grad(nll)(logits, labels)
    p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(g, (p - np.eye(3)[labels]) / 5, rtol=1e-12)
    # labels positional, differentiated argument second
    g2 = fg.grad(lambda labels, z: nll(z, labels), argnums=1)(labels, logits)
    np.testing.assert_allclose(g2, g, rtol=1e-14)


def test_kwargs_passed_through():
    x = np.array([1.0, 2.0])

    def f(x, scale=1.0, power=2):
        return np.sum(scale * x ** power)

    np.testing.assert_allclose(fg.grad(f)(x, scale=3.0), 6 * x)
    np.testing.assert_allclose(fg.grad(f)(x), 2 * x)
    val, g = fg.value_and_grad(f)(x, scale=np.asarray(0.5))
    np.testing.assert_allclose(val, 0.5 * np.sum(x ** 2))
    np.testing.assert_allclose(g, x)
    np.testing.assert_allclose(fg.grad(f)(x, power=3), 3 * x ** 2)  # static python int
    # kwargs given as pytrees
    g = fg.grad(lambda x, *, cfg: np.sum(x * cfg["w"][0]))(x, cfg={"w": [np.array([3.0, 4.0])]})
    np.testing.assert_allclose(g, [3.0, 4.0])


def test_same_function_new_shapes_and_dtypes_retrace():
    f = lambda x: np.sum(x ** 2)  # noqa: E731
    g = fg.grad(f)
    np.testing.assert_allclose(g(np.array([1.0, 2.0])), [2.0, 4.0])
    np.testing.assert_allclose(g(np.array([[1.0], [3.0]])), [[2.0], [6.0]])
    r = g(np.array([1.0, 2.0], np.float32))
    assert r.dtype == np.float32
    np.testing.assert_allclose(r, [2.0, 4.0])


# ----------------------------------------------------------------------------- caller's arrays

def test_inputs_never_mutated():
    params = {"W": rng.normal(size=(3, 3)), "b": rng.normal(size=3)}
    x = rng.normal(size=(4, 3))
    labels = np.array([0, 1, 2, 0])
    before = tree.map(np.copy, (params, x, labels))

    def loss(p, x, labels):
        h = np.maximum(x @ p["W"] + p["b"], 0.0)
        return np.mean(np.sum(h, axis=1)) + np.sum(h[np.arange(4), labels])

    fg.grad(loss)(params, x, labels)
    fg.value_and_grad(loss, argnums=(0, 1))(params, x, labels)
    out, vjp_fn = fg.vjp(loss, params, x, labels)
    vjp_fn(np.asarray(1.0))
    fg.make_ir(loss)(params, x, labels)
    after = (params, x, labels)
    for a, b in zip(tree.leaves(before), tree.leaves(after)):
        np.testing.assert_array_equal(a, b)


@pytest.mark.numpy_outputs
def test_outputs_writable_and_not_aliasing_inputs():
    x = rng.normal(size=(2, 3))
    y = rng.normal(size=3)

    def f(x, y):
        return np.sum(x * y), (x, x.reshape(-1), y.T, x[0])

    (val, aux), (gx, gy) = fg.value_and_grad(f, argnums=(0, 1), has_aux=True)(x, y)
    for out in (gx, gy) + aux:
        assert isinstance(out, np.ndarray)
        assert out.flags.writeable
        assert not np.shares_memory(out, x) and not np.shares_memory(out, y)
    # writing into the results leaves the inputs alone
    x0 = x.copy()
    for out in aux:
        out[...] = 0.0
    gx[...] = 0.0
    np.testing.assert_array_equal(x, x0)

    g = fg.grad(lambda x: np.sum(x))(x)  # a broadcast of ones: must be a real array
    assert g.flags.writeable and g.shape == x.shape
    g[0, 0] = 5.0
    assert g[1, 1] == 1.0


def test_vjp_outputs_do_not_alias_inputs_or_cotangents():
    x = rng.normal(size=3)
    out, vjp_fn = fg.vjp(lambda x: (x, x * 1.0), x)
    for o in out:
        assert o.flags.writeable and not np.shares_memory(o, x)
    ct = (np.ones(3), np.ones(3))
    (g,) = vjp_fn(ct)
    assert g.flags.writeable and not any(np.shares_memory(g, c) for c in ct)
    np.testing.assert_allclose(g, 2 * np.ones(3))
    out, vjp_fn = fg.vjp(lambda x: x, x)
    c = np.full(3, 2.0)
    (g,) = vjp_fn(c)
    assert not np.shares_memory(g, c)


@pytest.mark.numpy_outputs
def test_outputs_do_not_alias_closure_constants():
    W = np.array([[0.0, 1.0], [2.0, 3.0]])  # owns its data (not a view)

    def f(x):
        return np.sum(x), W

    (_, aux), _ = fg.value_and_grad(f, has_aux=True)(np.ones(2))
    assert not np.shares_memory(aux, W)
    aux[...] = -1.0
    np.testing.assert_array_equal(W, [[0.0, 1.0], [2.0, 3.0]])
    out, vjp_fn = fg.vjp(lambda x: (x * 2.0, W), np.ones(2))
    assert not np.shares_memory(out[1], W)
    (g,) = fg.grad(lambda x: (np.sum(x * 0.0), W), has_aux=True)(np.ones(2))[1:]
    assert not np.shares_memory(g, W)


def test_ordered_dict_and_namedtuple_arguments_with_argnums():
    Pair = collections.namedtuple("Pair", "u v")
    a = collections.OrderedDict([("z", np.asarray(2.0)), ("a", np.asarray(5.0))])
    b = Pair(np.asarray(1.0), np.asarray(-1.0))
    ga, gb = fg.grad(lambda a, b: a["z"] * b.u + a["a"] * b.v ** 2, argnums=(0, 1))(a, b)
    assert list(ga) == ["z", "a"] and type(gb) is Pair
    np.testing.assert_allclose([ga["z"], ga["a"], gb.u, gb.v], [1.0, 1.0, 2.0, -10.0])


@pytest.mark.numpy_outputs
def test_vjp_fn_results_independent_between_calls():
    """A gradient that does not depend on the cotangent (here: zero for an
    unused input) must be a fresh array on every call of vjp_fn."""
    out, vjp_fn = fg.vjp(lambda x, y: x * 2.0, np.ones(2), np.ones(3))
    gx1, gy1 = vjp_fn(np.ones(2))
    gy1[...] = 5.0
    gx1[...] = 7.0
    gx2, gy2 = vjp_fn(np.ones(2))
    np.testing.assert_array_equal(gy2, np.zeros(3))
    np.testing.assert_array_equal(gx2, [2.0, 2.0])


_SCALE = np.array([1.0, 2.0])


def test_grad_reads_globals_at_each_call_like_jax_grad():
    """A rebound global (a new minibatch, say) is used: grad traces on every
    call and reuses the transformed program when only values changed."""
    global _SCALE

    def f(w):
        return fnp.sum(w * _SCALE)

    g = fg.grad(f)
    np.testing.assert_array_equal(g(np.ones(2)), [1.0, 2.0])
    _SCALE = np.array([3.0, 5.0])
    np.testing.assert_array_equal(g(np.ones(2)), [3.0, 5.0])
    out, vjp_fn = fg.vjp(f, np.ones(2))
    np.testing.assert_allclose(out, 8.0)
    np.testing.assert_array_equal(vjp_fn(1.0)[0], [3.0, 5.0])
    _SCALE = np.array([1.0, 2.0])


def test_python_number_arguments_are_weakly_typed():
    """As in JAX: a Python number argument does not upcast float32 arrays,
    also after arithmetic among weak values (s * 0.5, exp(s))."""
    x = np.array([1.0, -2.0, 0.5], np.float32)

    def f(w, s):
        return fnp.sum((w * (s * 0.5)) ** 2 - fnp.exp(s) * w)

    v, (gw, gs) = fg.value_and_grad(f, argnums=(0, 1))(x, 0.3)
    assert np.asarray(v).dtype == np.float32 and gw.dtype == np.float32
    s = 0.3
    np.testing.assert_allclose(gw, 2 * x * (s * 0.5) ** 2 - np.exp(s), rtol=1e-5)
    np.testing.assert_allclose(gs, np.sum(2 * (x * s * 0.5) * x * 0.5 - np.exp(s) * x), rtol=1e-5)
    # a NumPy scalar is strongly typed, as in NumPy: the value is float64 (the
    # gradient keeps its primal's float32)
    v64, g32 = fg.value_and_grad(f)(x, np.float64(0.3))
    assert np.asarray(v64).dtype == np.float64 and g32.dtype == np.float32
    assert fg.jit(lambda w, s: w * s, backend="interpret")(x, 2.5).dtype == np.float32
