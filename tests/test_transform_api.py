"""The user-facing transformations: jvp, linearize, jacfwd, jacrev, hessian,
hvp, vmap — structure (pytrees, argnums, has_aux, JAX's output layout),
composition, errors, and values against independent references (finite
differences, derivatives by hand, Python loops over the batch)."""
from __future__ import annotations

import numpy as np
import pytest

import funcgrad as fg
import funcgrad.numpy as fnp

I = "interpret"


def fd_jacobian(f, x, eps=1e-6):
    """Central differences of a NumPy function of one float64 array."""
    x = np.asarray(x, float)
    y0 = np.asarray(f(x))
    J = np.zeros(y0.shape + x.shape)
    for idx in np.ndindex(x.shape):
        e = np.zeros_like(x)
        e[idx] = eps
        J[(...,) + idx] = (np.asarray(f(x + e)) - np.asarray(f(x - e))) / (2 * eps)
    return J


# ----------------------------------------------------------------------------- jvp / linearize

def test_jvp_matches_hand_derivative():
    x = np.linspace(0.1, 1.0, 5)
    v = np.random.default_rng(0).standard_normal(5)
    y, t = fg.jvp(lambda x: fnp.sin(x) * x ** 2, (x,), (v,), backend=I)
    np.testing.assert_allclose(y, np.sin(x) * x ** 2)
    np.testing.assert_allclose(t, (np.cos(x) * x ** 2 + 2 * x * np.sin(x)) * v)


def test_jvp_pytrees_and_several_arguments():
    p = {"a": np.array([1.0, 2.0]), "b": np.array(0.5)}
    x = np.array([0.3, -0.2])
    tp = {"a": np.array([1.0, 0.0]), "b": np.array(2.0)}
    tx = np.array([0.0, 1.0])

    def f(p, x):
        return {"s": fnp.sum(p["a"] * x) * p["b"], "v": fnp.exp(x)}

    out, tan = fg.jvp(f, (p, x), (tp, tx), backend=I)
    assert set(out) == {"s", "v"} and set(tan) == {"s", "v"}
    want_s = np.sum(tp["a"] * x + p["a"] * tx) * p["b"] + np.sum(p["a"] * x) * tp["b"]
    np.testing.assert_allclose(tan["s"], want_s)
    np.testing.assert_allclose(tan["v"], np.exp(x) * tx)


def test_jvp_has_aux_and_integer_parts():
    def f(x, n):
        return fnp.sum(x ** n), (x * 0).astype(int)

    x = np.array([1.0, 2.0])
    out, t, aux = fg.jvp(lambda x: f(x, 3), (x,), (np.ones(2),), has_aux=True, backend=I)
    np.testing.assert_allclose(t, np.sum(3 * x ** 2))
    assert aux.dtype.kind == "i"
    # an integer input's tangent is ignored; an integer output's tangent is zeros
    y, ty = fg.jvp(lambda x, k: (x * k, k + 1), (x, np.array(2)), (np.ones(2), np.array(0)), backend=I)
    np.testing.assert_allclose(ty[0], 2 * np.ones(2))
    assert ty[1].dtype.kind == "i" and ty[1] == 0


def test_jvp_keeps_float32():
    x = np.arange(3, dtype=np.float32)
    y, t = fg.jvp(fnp.tanh, (x,), (np.ones(3, np.float32),))
    assert y.dtype == np.float32 and t.dtype == np.float32


def test_jvp_errors():
    with pytest.raises(fg.InputError, match="tuple or list"):
        fg.jvp(fnp.sin, np.ones(2), np.ones(2))
    with pytest.raises(fg.InputError, match="shape"):
        fg.jvp(fnp.sin, (np.ones(2),), (np.ones(3),))
    with pytest.raises(fg.InputError, match="structure"):
        fg.jvp(lambda a, b: a + b, (np.ones(2), np.ones(2)), (np.ones(2),))
    with pytest.raises(fg.InputError, match="dtype"):
        fg.jvp(fnp.sin, (np.ones(2),), (np.ones(2, np.float32),))


def test_linearize_reuses_the_forward_pass():
    x = np.array([0.5, 1.5, -0.3])

    def f(x):
        return fnp.tanh(x) * fnp.exp(x).sum()

    y, f_jvp = fg.linearize(f, x, backend=I)
    J = fd_jacobian(lambda x: np.tanh(x) * np.exp(x).sum(), x)
    np.testing.assert_allclose(y, np.tanh(x) * np.exp(x).sum())
    for v in np.eye(3):
        np.testing.assert_allclose(f_jvp(v), J @ v, rtol=1e-7, atol=1e-9)
    with pytest.raises(fg.InputError):
        f_jvp(np.ones(3), np.ones(3))


# ----------------------------------------------------------------------------- Jacobians

def _g(x):
    return fnp.tanh(x[:3] * fnp.sum(x[1:4])) + x[4] ** 2


def _g_np(x):
    return np.tanh(x[:3] * np.sum(x[1:4])) + x[4] ** 2


@pytest.mark.parametrize("jac", [fg.jacfwd, fg.jacrev])
def test_jacobians_match_finite_differences(jac):
    x = np.linspace(-0.5, 0.7, 5)
    J = jac(_g, backend=I)(x)
    assert J.shape == (3, 5)
    np.testing.assert_allclose(J, fd_jacobian(_g_np, x), rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("jac", [fg.jacfwd, fg.jacrev])
def test_jacobian_structure_like_jax(jac):
    p = {"w": np.ones((2, 3)), "b": np.arange(3.0)}
    x = np.array([1.0, -1.0])

    def f(p, x):
        return {"y": fnp.tanh(x @ p["w"] + p["b"]), "s": fnp.sum(p["b"] * 2.0)}

    J = jac(f, argnums=(0, 1), backend=I)(p, x)
    assert set(J) == {"y", "s"}
    jy_p, jy_x = J["y"]
    assert jy_p["w"].shape == (3, 2, 3) and jy_p["b"].shape == (3, 3) and jy_x.shape == (3, 2)
    assert J["s"][0]["b"].shape == (3,) and J["s"][1].shape == (2,)
    h = np.tanh(x @ p["w"] + p["b"])
    np.testing.assert_allclose(jy_p["b"], np.diag(1 - h ** 2), atol=1e-12)
    np.testing.assert_allclose(jy_x, (1 - h ** 2)[:, None] * p["w"].T, atol=1e-12)
    np.testing.assert_allclose(J["s"][0]["b"], 2 * np.ones(3))
    Jw = jac(f, backend=I)(p, x)       # argnums=0: the tree of the first argument
    np.testing.assert_allclose(Jw["y"]["w"], jy_p["w"])


def test_jacobian_has_aux():
    def f(x):
        return fnp.sin(x), fnp.sum(x)

    for jac in (fg.jacfwd, fg.jacrev):
        J, aux = jac(f, has_aux=True, backend=I)(np.array([0.1, 0.2]))
        np.testing.assert_allclose(J, np.diag(np.cos([0.1, 0.2])))
        np.testing.assert_allclose(aux, 0.3)


def test_jacobian_errors():
    with pytest.raises(fg.InputError, match="floating-point outputs"):
        fg.jacrev(lambda x: (x > 0).astype(int))(np.ones(2))
    with pytest.raises(fg.InputError, match="argument 0"):
        fg.jacfwd(lambda n: n * 2.0)(np.array([1, 2]))


def test_jacobian_keeps_float32():
    x = np.ones(3, np.float32)
    for jac in (fg.jacfwd, fg.jacrev):
        assert jac(fnp.sin, backend=I)(x).dtype == np.float32


# ----------------------------------------------------------------------------- Hessians

def _toy(p, x):
    """The seeds' toy network f = b3 + w3 cos(b2 + w2 exp(b1 + w1 sin(b0 + w0 x)))."""
    w0, b0, w1, b1, w2, b2, w3, b3 = [p[i] for i in range(8)]
    return b3 + w3 * fnp.cos(b2 + w2 * fnp.exp(b1 + w1 * fnp.sin(b0 + w0 * x)))


def _toy_grad_by_hand(p, x, y):
    """The 8 partials of the mean of 0.5 (f - y)^2, derived by hand (seed 003)."""
    w0, b0, w1, b1, w2, b2, w3, b3 = p
    z0 = b0 + w0 * x
    a0 = np.sin(z0)
    z1 = b1 + w1 * a0
    a1 = np.exp(z1)
    z2 = b2 + w2 * a1
    a2 = np.cos(z2)
    r = (b3 + w3 * a2 - y) / x.size
    dz2 = -r * w3 * np.sin(z2)
    dz1 = dz2 * w2 * a1
    dz0 = dz1 * w1 * np.cos(z0)
    return np.array([np.sum(dz0 * x), np.sum(dz0), np.sum(dz1 * a0), np.sum(dz1),
                     np.sum(dz2 * a1), np.sum(dz2), np.sum(r * a2), np.sum(r)])


def test_hessian_of_the_toy_network():
    rng = np.random.default_rng(3)
    p = rng.standard_normal(8) * 0.5
    x = np.linspace(-1, 1, 7)
    y = np.sin(2 * x)

    def loss(p):
        return 0.5 * fnp.mean((_toy(p, x) - y) ** 2)

    np.testing.assert_allclose(fg.grad(loss, backend=I)(p), _toy_grad_by_hand(p, x, y), rtol=1e-10)
    want = fd_jacobian(lambda q: _toy_grad_by_hand(q, x, y), p)
    H = fg.hessian(loss, backend=I)(p)
    np.testing.assert_allclose(H, want, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(H, H.T, atol=1e-12)
    v = rng.standard_normal(8)
    np.testing.assert_allclose(fg.hvp(loss, p, v, backend=I), H @ v, rtol=1e-10, atol=1e-12)


def _mlp_loss(params, x, y):
    h = fnp.tanh(x @ params["w1"] + params["b1"])
    z = h @ params["w2"] + params["b2"]
    logp = z - fnp.logsumexp(z, axis=1, keepdims=True)
    return -fnp.mean(logp[fnp.arange(y.shape[0]), y])


def _mlp_grad_by_hand(params, x, y):
    """BP1-BP4 for the tanh/softmax network (seed 004), flattened w1, b1, w2, b2."""
    h = np.tanh(x @ params["w1"] + params["b1"])
    z = h @ params["w2"] + params["b2"]
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    dz = p.copy()
    dz[np.arange(len(y)), y] -= 1
    dz /= len(y)
    dh = dz @ params["w2"].T * (1 - h ** 2)
    return {"w1": x.T @ dh, "b1": dh.sum(0), "w2": h.T @ dz, "b2": dz.sum(0)}


def test_hessian_of_a_tanh_softmax_mlp():
    rng = np.random.default_rng(4)
    params = {"w1": rng.standard_normal((4, 3)) * 0.5, "b1": rng.standard_normal(3) * 0.1,
              "w2": rng.standard_normal((3, 2)) * 0.5, "b2": rng.standard_normal(2) * 0.1}
    x = rng.standard_normal((5, 4))
    y = np.array([0, 1, 1, 0, 1])
    keys = sorted(params)
    shapes = [params[k].shape for k in keys]
    sizes = [int(np.prod(s)) for s in shapes]

    def unflat(v):
        out, i = {}, 0
        for k, s, n in zip(keys, shapes, sizes):
            out[k] = v[i:i + n].reshape(s)
            i += n
        return out

    flat = np.concatenate([params[k].ravel() for k in keys])
    want = fd_jacobian(lambda v: np.concatenate([g.ravel() for g in (
        lambda g: [g[k] for k in keys])(_mlp_grad_by_hand(unflat(v), x, y))]), flat)
    H = fg.hessian(_mlp_loss, backend=I)(params, x, y)
    # H[a][b] has shape a.shape + b.shape; assemble the dense matrix
    dense = np.block([[H[a][b].reshape(params[a].size, params[b].size) for b in keys] for a in keys])
    np.testing.assert_allclose(dense, want, rtol=1e-6, atol=1e-8)
    v = {k: rng.standard_normal(params[k].shape) for k in keys}
    hv = fg.hvp(lambda p: _mlp_loss(p, x, y), params, v, backend=I)
    vflat = np.concatenate([v[k].ravel() for k in keys])
    np.testing.assert_allclose(np.concatenate([hv[k].ravel() for k in keys]), dense @ vflat,
                               rtol=1e-9, atol=1e-12)


def test_hessian_compiled_matches_interpreter():
    x = np.array([0.3, -0.4, 0.8])

    def f(x):
        return fnp.sum(fnp.log1p(fnp.exp(x * x[::-1]))) + fnp.prod(fnp.cos(x))

    np.testing.assert_allclose(fg.jit(fg.hessian(f), backend="numba")(x), fg.hessian(f, backend=I)(x), rtol=1e-12)
    np.testing.assert_allclose(fg.hessian(f, backend="numba")(x), fg.hessian(f, backend=I)(x), rtol=1e-12)


# ----------------------------------------------------------------------------- vmap

def test_vmap_in_axes_out_axes():
    rng = np.random.default_rng(5)
    W = rng.standard_normal((3, 4))
    xs = rng.standard_normal((3, 7))          # batch along axis 1
    out = fg.vmap(lambda w, x: fnp.tanh(x @ w), in_axes=(None, 1), out_axes=1, backend=I)(W, xs)
    np.testing.assert_allclose(out, np.tanh(xs.T @ W).T)
    # a pytree prefix for in_axes, and None out_axes for an unbatched output
    tree = {"a": rng.standard_normal((5, 2)), "b": rng.standard_normal(2)}
    f = fg.vmap(lambda t: (t["a"] * t["b"], fnp.sum(t["b"])), in_axes=({"a": 0, "b": None},),
                out_axes=(0, None), backend=I)
    prod, s = f(tree)
    np.testing.assert_allclose(prod, tree["a"] * tree["b"])
    np.testing.assert_allclose(s, tree["b"].sum())


def test_vmap_axis_size_and_unbatched_outputs():
    out = fg.vmap(lambda: fnp.ones(2), axis_size=3, backend=I)()
    np.testing.assert_allclose(out, np.ones((3, 2)))
    out = fg.vmap(lambda x, c: c * 2.0, in_axes=(0, None), backend=I)(np.ones((4, 2)), np.ones(3))
    np.testing.assert_allclose(out, 2 * np.ones((4, 3)))   # broadcast to the batch, as JAX does


def test_nested_vmap_is_an_outer_product():
    a, b = np.arange(3.0), np.arange(4.0)
    out = fg.vmap(lambda x: fg.vmap(lambda y: x * y + fnp.sin(y))(b), backend=I)(a)
    np.testing.assert_allclose(out, a[:, None] * b[None] + np.sin(b)[None])


def test_vmap_batch_size_mismatch_names_the_arguments():
    with pytest.raises(fg.FuncgradError, match=r"argument 0.*argument 1|argument 1.*argument 0") as e:
        fg.vmap(lambda x, y: x + y)(np.ones((3, 2)), np.ones((4, 2)))
    assert "test_transform_api.py" in str(e.value)      # the user's line
    with pytest.raises(fg.FuncgradError, match="axis_size"):
        fg.vmap(lambda x: x, in_axes=None)(np.ones(2))
    with pytest.raises(fg.FuncgradError, match="out of range"):
        fg.vmap(lambda x: x, in_axes=2)(np.ones((2, 2)))
    with pytest.raises(fg.FuncgradError, match="in_axes"):
        fg.vmap(lambda x, y: x, in_axes=(0,))(np.ones(2), np.ones(2))


def test_vmap_of_random_keys():
    keys = fg.random.split(fg.random.key(0), 4)
    samples = fg.vmap(lambda k: fg.random.normal(k, (3,)), backend=I)(keys)
    want = np.stack([fg.random.normal(k, (3,)) for k in keys])
    np.testing.assert_allclose(samples, want)
    assert len({tuple(s) for s in samples}) == 4


def _digits_like(rng, n):
    x = rng.standard_normal((n, 6))
    y = rng.integers(0, 3, n)
    params = {"w1": rng.standard_normal((6, 5)) * 0.4, "b1": np.zeros(5),
              "w2": rng.standard_normal((5, 3)) * 0.4, "b2": np.zeros(3)}
    return params, x, y


def _example_loss(params, x, y):
    h = fnp.tanh(x @ params["w1"] + params["b1"])
    z = h @ params["w2"] + params["b2"]
    return fnp.logsumexp(z) - z[y]


def test_per_example_gradients_against_a_python_loop():
    params, x, y = _digits_like(np.random.default_rng(6), 9)
    per = fg.jit(fg.vmap(fg.grad(_example_loss), in_axes=(None, 0, 0)), backend="numba")(params, x, y)
    for k in params:
        want = np.stack([fg.grad(_example_loss, backend=I)(params, x[i], y[i])[k] for i in range(9)])
        np.testing.assert_allclose(per[k], want, rtol=1e-10, atol=1e-12)
    # the mean of the per-example gradients is the batch gradient (independent of vmap)
    batch = fg.grad(lambda p: fnp.mean(fg.vmap(lambda a, b: _example_loss(p, a, b))(x, y)), backend=I)(params)
    for k in params:
        np.testing.assert_allclose(per[k].mean(0), batch[k], rtol=1e-10, atol=1e-12)


def test_vmap_compiles_to_one_program_without_a_loop():
    params, x, y = _digits_like(np.random.default_rng(7), 4)
    f = fg.vmap(fg.grad(_example_loss), in_axes=(None, 0, 0))
    small = fg.make_ir(f)(params, x, y)
    big = fg.make_ir(f)(params, np.concatenate([x] * 8), np.concatenate([y] * 8))
    assert len(small.eqns) == len(big.eqns)
    assert all(e.primitive.name not in ("fori_loop", "while_loop", "scan") for e in small.eqns)


def test_grad_of_vmap_and_jacfwd_of_jacrev_compose():
    x = np.array([0.2, 0.5, -0.1])
    g = fg.grad(lambda x: fnp.sum(fg.vmap(lambda a: fnp.sin(a) * a)(x)), backend=I)(x)
    np.testing.assert_allclose(g, np.cos(x) * x + np.sin(x))
    H1 = fg.jacfwd(fg.jacrev(lambda x: fnp.sum(fnp.exp(x) * x[0])), backend=I)(x)
    H2 = fg.jacrev(fg.jacfwd(lambda x: fnp.sum(fnp.exp(x) * x[0])), backend=I)(x)
    np.testing.assert_allclose(H1, H2, rtol=1e-12)
    # vmap of jvp: the columns of the Jacobian
    cols = fg.vmap(lambda t: fg.jvp(_g, (np.linspace(-0.5, 0.7, 5),), (t,))[1], backend=I)(np.eye(5))
    np.testing.assert_allclose(cols.T, fg.jacfwd(_g, backend=I)(np.linspace(-0.5, 0.7, 5)), rtol=1e-12)


def test_transformed_calls_hit_the_program_cache():
    f = fg.vmap(lambda x: fnp.sin(x) * 2.0)
    a = f(np.ones((3, 2)))
    b = f(np.full((3, 2), 2.0))
    np.testing.assert_allclose(a, 2 * np.sin(np.ones((3, 2))))
    np.testing.assert_allclose(b, 2 * np.sin(np.full((3, 2), 2.0)))
    x = np.ones(3)
    before = x.copy()
    fg.jvp(lambda x: x * 2.0, (x,), (x,))
    np.testing.assert_array_equal(x, before)     # never mutates the caller's arrays


def test_per_example_gradients_of_the_digits_mlp():
    """The README example's network (64-128-64-10, tanh, softmax cross-entropy) on scikit-learn's
    digits, float32: jit(vmap(grad)) on Numba against a Python loop of grad on the interpreter."""
    datasets = pytest.importorskip("sklearn.datasets")
    digits = datasets.load_digits()
    x = (digits.data[:6] / 16.0).astype(np.float32)
    y = digits.target[:6]
    key = fg.random.key(0)
    params = fg.nn.mlp_init(key, [64, 128, 64, 10], dtype=np.float32)

    def loss(p, x, y):
        return fg.nn.cross_entropy(fg.nn.mlp_apply(p, x[None]), y[None])

    per = fg.jit(fg.vmap(fg.grad(loss), in_axes=(None, 0, 0)), backend="numba")(params, x, y)
    for i in range(len(y)):
        want = fg.grad(loss, backend=I)(params, x[i], y[i])
        for got_leaf, want_leaf in zip(fg.tree.leaves(per), fg.tree.leaves(want)):
            assert got_leaf.dtype == np.float32
            np.testing.assert_allclose(got_leaf[i], want_leaf, rtol=2e-5, atol=1e-6)
