"""Dtype preservation: float32 stays float32, forward and backward.

- float32 inputs give float32 gradients close to float64 finite differences
  of a NumPy reference (relative error <= 1e-4);
- the traced programs (forward and gradient) contain no float64 value at all;
- Python scalars are weak (``x * 2.0`` keeps float32), and array promotion
  follows NumPy 2's rules, with NumPy itself as the reference.
"""
import os
import sys

import numpy as np
import pytest

import funcgrad as fg
import funcgrad.numpy as fnp

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fd import numerical_grad, numerical_vjp, rel_error  # noqa: E402

F32, F64 = np.dtype(np.float32), np.dtype(np.float64)


class _NumpyRef:
    def __getattr__(self, name):
        return getattr(np, name)

    @staticmethod
    def logsumexp(a, axis=None, keepdims=False):
        m = np.max(a, axis=axis, keepdims=True)
        out = np.log(np.sum(np.exp(a - m), axis=axis, keepdims=True)) + m
        return out if keepdims else np.squeeze(out, axis=axis)

    @staticmethod
    def one_hot(labels, k, dtype=np.float64):
        return (np.asarray(labels)[..., None] == np.arange(k)).astype(dtype)


NP = _NumpyRef()


def program_dtypes(program):
    """Every dtype of a value in a program: inputs, constants, equation operands and results, outputs."""
    seen = {v.aval.dtype for v in program.in_vars}
    seen |= {v.aval.dtype for v in program.const_vars}
    for eqn in program.eqns:
        seen |= {a.aval.dtype for a in eqn.inputs}
        seen |= {v.aval.dtype for v in eqn.outputs}
    seen |= {a.aval.dtype for a in program.out_atoms}
    return seen


def assert_no_float64(program, what):
    assert F64 not in program_dtypes(program), f"{what}: a float64 value in\n{program}"


def f32(x):
    return np.asarray(x, dtype=np.float32)


RNG = np.random.default_rng(1234)
A34 = RNG.uniform(-1.0, 1.0, (3, 4))
P34 = RNG.uniform(0.5, 2.0, (3, 4))
B4 = RNG.uniform(-1.0, 1.0, (4,))
M45 = RNG.uniform(-1.0, 1.0, (4, 5))
SEP = (RNG.permutation(12) * 0.1 - 0.55).reshape(3, 4)   # distinct values, none at 0

# (id, fn(m, *args), float64 args): each run in float32 against float64 finite differences
CASES = [
    ("exp", lambda m, x: m.sum(m.exp(x)), (A34,)),
    ("log", lambda m, x: m.sum(m.log(x)), (P34,)),
    ("sqrt", lambda m, x: m.sum(m.sqrt(x) * x), (P34,)),
    ("tanh", lambda m, x: m.sum(m.tanh(x) ** 2), (A34,)),
    ("sin_cos", lambda m, x: m.sum(m.sin(x) * m.cos(x)), (A34,)),
    ("arctan2", lambda m, y, x: m.sum(m.arctan2(y, x)), (A34, P34)),
    ("power_array", lambda m, x, y: m.sum(m.power(x, y)), (P34, A34)),
    ("power_scalars", lambda m, x: m.sum(x ** 2 + x ** 3 + x ** -1 + x ** 0.5), (P34,)),
    ("divide_broadcast", lambda m, x, y: m.sum(x / (y + 2.0)), (A34, B4)),
    ("maximum", lambda m, x: m.sum(m.maximum(x, 0.0) * x), (SEP,)),
    ("where", lambda m, x: m.sum(m.where(x > 0, x * 3, m.exp(x))), (SEP,)),
    ("clip", lambda m, x: m.sum(m.clip(x, -0.3, 0.3) ** 2), (SEP,)),
    ("abs", lambda m, x: m.sum(m.abs(x) * x), (SEP,)),
    ("mean_var_std", lambda m, x: m.mean(x) + m.sum(m.var(x, axis=0)) + m.sum(m.std(x, axis=1)), (A34,)),
    ("max_min", lambda m, x: m.sum(m.max(x, axis=1) * m.min(x, axis=0)[:3]), (SEP,)),
    ("prod", lambda m, x: m.sum(m.prod(x, axis=0)), (P34,)),
    ("logsumexp", lambda m, x: m.sum(m.logsumexp(x, axis=1)), (A34,)),
    ("matmul", lambda m, x, w: m.sum(m.tanh(x @ w)), (A34, M45)),
    ("matmul_vec", lambda m, x, b: m.sum(m.sin(x @ b)), (A34, B4)),
    ("einsum", lambda m, x, w: m.sum(m.einsum("ij,jk->ik", x, w) ** 2), (A34, M45)),
    ("tensordot", lambda m, x, w: m.sum(m.tensordot(x, w, axes=1) ** 2), (A34, M45)),
    ("outer", lambda m, a, b: m.sum(m.sin(m.outer(a, b))), (B4, B4)),
    ("cumsum", lambda m, x: m.sum(m.cumsum(x, axis=1) ** 2), (A34,)),
    ("concat_stack", lambda m, x, b: m.sum(m.concatenate([x, m.stack([b, b * 2])], axis=0) ** 2), (A34, B4)),
    ("reshape_transpose",
     lambda m, x: m.sum(m.transpose(m.reshape(x, (2, 6))) * m.arange(12, dtype=x.dtype).reshape(6, 2)), (A34,)),
    ("indexing", lambda m, x: m.sum(x[1:, ::-1] ** 2) + m.sum(x[None, :, 0] ** 3), (A34,)),
    ("gather", lambda m, x: m.sum(x[np.arange(3), np.array([0, 3, 3])] ** 2), (A34,)),
    ("take_along_axis", lambda m, x: m.sum(m.take_along_axis(x, np.array([[1], [0], [3]]), axis=1) ** 2), (A34,)),
    ("tile_repeat", lambda m, x: m.sum(m.tile(x, (1, 2)) ** 2) + m.sum(m.repeat(x, 2, axis=0) ** 3), (A34,)),
    ("astype_roundtrip", lambda m, x: m.sum(m.exp(x.astype(np.float64)) * 2.0), (A34,)),
]


def _run_f32(fn, args64):
    args32 = tuple(f32(a) for a in args64)
    argnums = tuple(range(len(args32)))
    loss = lambda *a: fn(fnp, *a)  # noqa: E731
    value, grads = fg.value_and_grad(loss, argnums=argnums)(*args32)
    return args32, argnums, loss, value, grads


@pytest.mark.parametrize("name,fn,args", CASES, ids=[c[0] for c in CASES])
def test_float32_gradients(name, fn, args):
    args32, argnums, loss, value, grads = _run_f32(fn, args)
    # the reference: float64 finite differences at the same (float32-representable) point
    ref = lambda *a: fn(NP, *a)  # noqa: E731
    args_ref = tuple(a.astype(np.float64) for a in args32)
    expected = numerical_grad(ref, args_ref, argnums)
    ref_value = ref(*args_ref)
    if name != "astype_roundtrip":
        assert np.asarray(value).dtype == F32, np.asarray(value).dtype
    np.testing.assert_allclose(float(value), ref_value, rtol=1e-5, atol=1e-6)
    for g, a, e in zip(grads, args32, expected):
        assert g.dtype == F32 and g.shape == a.shape
        err = rel_error(g, e)
        assert err <= 1e-4, f"relative error {err:.3g}\nfuncgrad (float32):\n{g}\nfinite differences:\n{e}"


@pytest.mark.parametrize("name,fn,args", [c for c in CASES if c[0] != "astype_roundtrip"],
                         ids=[c[0] for c in CASES if c[0] != "astype_roundtrip"])
def test_float32_programs_have_no_float64(name, fn, args):
    """The forward and the gradient programs stay in float32 throughout."""
    args32 = tuple(f32(a) for a in args)
    loss = lambda *a: fn(fnp, *a)  # noqa: E731
    assert_no_float64(fg.make_ir(loss)(*args32), "forward")
    argnums = tuple(range(len(args32)))
    assert_no_float64(fg.make_ir(fg.grad(loss, argnums=argnums))(*args32), "gradient")


def test_float32_vjp_dtypes():
    x, w = f32(A34), f32(M45)
    out, vjp_fn = fg.vjp(lambda x, w: fnp.tanh(x @ w) * 2.0, x, w)
    assert out.dtype == F32
    ct = f32(RNG.standard_normal(out.shape))
    gx, gw = vjp_fn(ct)
    assert gx.dtype == F32 and gw.dtype == F32
    ex, ew = numerical_vjp(lambda x, w: np.tanh(x @ w) * 2.0, (x.astype(F64), w.astype(F64)), (0, 1),
                           ct.astype(F64))
    assert rel_error(gx, ex) <= 1e-4 and rel_error(gw, ew) <= 1e-4


# ----------------------------------------------------------------------------- the MLP

def _mlp_data():
    rng = np.random.default_rng(7)
    X = rng.standard_normal((8, 4))
    labels = rng.integers(0, 3, 8).astype(np.int64)
    params = {"W1": rng.standard_normal((4, 6)) * 0.5, "b1": rng.standard_normal(6) * 0.1,
              "W2": rng.standard_normal((6, 3)) * 0.5, "b2": rng.standard_normal(3) * 0.1}
    return X, labels, params


def _mlp_loss(m, W1, b1, W2, b2, X, labels):
    h = m.maximum(X @ W1 + b1, 0.0)
    z = h @ W2 + b2
    nll = m.logsumexp(z, axis=1) - z[m.arange(X.shape[0]), labels]
    return m.mean(nll) + 1e-3 * (m.sum(W1 ** 2) + m.sum(W2 ** 2))


def _mlp_loss_one_hot(m, W1, b1, W2, b2, X, labels):
    h = m.tanh(X @ W1 + b1)
    z = h @ W2 + b2
    logp = z - m.logsumexp(z, axis=1, keepdims=True)
    return -m.sum(m.one_hot(labels, 3, dtype=X.dtype) * logp) / X.shape[0]


@pytest.mark.parametrize("loss_fn", [_mlp_loss, _mlp_loss_one_hot], ids=["gather", "one_hot"])
def test_mlp_float32_params_int64_labels(loss_fn):
    X, labels, params = _mlp_data()
    names = ["W1", "b1", "W2", "b2"]
    p32 = [f32(params[k]) for k in names]
    X32 = f32(X)

    def loss(W1, b1, W2, b2, X, labels):
        return loss_fn(fnp, W1, b1, W2, b2, X, labels)

    value, grads = fg.value_and_grad(loss, argnums=(0, 1, 2, 3))(*p32, X32, labels)
    assert np.asarray(value).dtype == F32
    for g, p in zip(grads, p32):
        assert g.dtype == F32 and g.shape == p.shape
    assert_no_float64(fg.make_ir(fg.grad(loss, argnums=(0, 1, 2, 3)))(*p32, X32, labels), "MLP gradient")

    # float64 finite differences of the NumPy version at the same point
    p64 = [p.astype(F64) for p in p32]
    expected = numerical_grad(lambda *a: loss_fn(NP, *a), (*p64, X32.astype(F64), labels), (0, 1, 2, 3))
    for k, g, e in zip(names, grads, expected):
        err = rel_error(g, e)
        assert err <= 1e-4, f"{k}: relative error {err:.3g}"
    np.testing.assert_allclose(value, loss_fn(NP, *p64, X32.astype(F64), labels), rtol=1e-5)


def test_float32_params_with_float64_computation_keep_float32_gradients():
    """Mixed precision: float32 params used in float64 math get float32 gradients."""
    x = f32(A34)
    w64 = M45
    g = fg.grad(lambda x: fnp.sum(fnp.tanh(x @ w64)))(x)     # x promoted to float64 by w64
    assert g.dtype == F32
    e = numerical_grad(lambda x: np.sum(np.tanh(x @ w64)), (x.astype(F64),))
    assert rel_error(g, e) <= 1e-6   # the math is float64; only the final cast rounds


# ----------------------------------------------------------------------------- weak Python scalars

SCALAR_EXPRS = ["x * 2.0", "2.0 * x", "x + 1", "1 + x", "x / 3", "3 / x", "x - 1", "1.5 - x", "-x",
                "x ** 2", "x ** 0.5", "x ** -1", "x ** 2.0", "2.0 ** x", "m.maximum(x, 0.0)", "m.minimum(1, x)",
                "m.where(x > 0, x, 0.0)", "m.where(x > 0.5, 1.0, x)", "m.clip(x, 0, 1)", "x * True",
                "m.mean(x) + x", "m.sum(x) / 7", "m.var(x)", "x + np.int8(1)", "x * np.float32(2.5)",
                "m.square(x) + m.reciprocal(x)", "m.exp2(x) + m.log2(x) + m.log10(x)", "m.arctan2(x, 1.0)",
                "m.power(x, 3)"]


@pytest.mark.parametrize("expr", SCALAR_EXPRS)
def test_python_scalars_do_not_upcast(expr):
    fn = eval(f"lambda m, x: {expr}", {"np": np})
    x = f32(P34)
    expected_dtype = np.asarray(fn(np, x)).dtype           # NumPy 2 (NEP 50) as the reference
    assert expected_dtype == F32
    out = fn(fnp, x)                                        # concrete inputs
    assert np.asarray(out).dtype == F32
    program = fg.make_ir(lambda x: fn(fnp, x))(x)           # traced
    assert program.out_avals[0].dtype == F32
    assert_no_float64(program, expr)
    g = fg.grad(lambda x: fnp.sum(fn(fnp, x)))(x)
    assert g.dtype == F32
    assert_no_float64(fg.make_ir(fg.grad(lambda x: fnp.sum(fn(fnp, x))))(x), expr + " (gradient)")


def test_make_ir_text_shows_float32():
    x = f32(A34)
    text = str(fg.make_ir(lambda x: x * 2.0 + 1)(x))
    assert "f32[3,4]" in text and "f64" not in text, text
    assert "2.0:f32" in text and "1.0:f32" in text, text


def test_scalar_value_and_grad_float32_0d():
    x = np.float32(0.7)
    v, g = fg.value_and_grad(lambda x: fnp.sin(x) * 3 + x ** 2)(x)
    assert np.asarray(v).dtype == F32 and np.asarray(g).dtype == F32
    np.testing.assert_allclose(g, 3 * np.cos(0.7) + 1.4, rtol=1e-6)


# ----------------------------------------------------------------------------- promotion as in NumPy

PROMOTIONS = [(np.float32, np.float64), (np.float32, np.int64), (np.float32, np.int32), (np.float32, np.int16),
              (np.float32, np.int8), (np.float32, np.uint8), (np.float32, np.bool_), (np.float16, np.float32),
              (np.float64, np.int64), (np.int64, np.int32), (np.int32, np.int32), (np.float32, np.float32)]


@pytest.mark.parametrize("d1,d2", PROMOTIONS, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("op", ["add", "multiply", "subtract", "maximum"])
def test_array_promotion_matches_numpy(op, d1, d2):
    a = np.ones((2, 3), d1)
    b = np.full((3,), 2, d2)
    expected = getattr(np, op)(a, b).dtype
    assert np.asarray(getattr(fnp, op)(a, b)).dtype == expected
    program = fg.make_ir(lambda a, b: getattr(fnp, op)(a, b))(a, b)
    assert program.out_avals[0].dtype == expected


@pytest.mark.parametrize("d1,d2", [(np.float32, np.float64), (np.float32, np.int64), (np.float32, np.int8),
                                   (np.float64, np.float32)], ids=lambda d: np.dtype(d).name)
def test_mixed_dtype_gradients_keep_argument_dtypes(d1, d2):
    a = np.asarray([[0.5, -1.0, 2.0]], d1)
    b = np.asarray([1, 2, 3], d2)
    argnums = (0, 1) if np.dtype(d2).kind == "f" else 0
    g = fg.grad(lambda a, b: fnp.sum(a * b * a), argnums=argnums)(a, b)
    ga = g[0] if isinstance(g, tuple) else g
    assert ga.dtype == np.dtype(d1)
    np.testing.assert_allclose(ga, 2 * a.astype(F64) * b.astype(F64), rtol=1e-6)
    if isinstance(g, tuple):
        assert g[1].dtype == np.dtype(d2)
        np.testing.assert_allclose(g[1], (a.astype(F64) ** 2).sum(0), rtol=1e-6)


@pytest.mark.parametrize("fn", ["sum", "mean", "prod", "max", "cumsum"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int32, np.int64, np.bool_],
                         ids=lambda d: np.dtype(d).name)
def test_reduction_dtypes_match_numpy(fn, dtype):
    a = (np.arange(6).reshape(2, 3) % 3).astype(dtype)
    expected = getattr(np, fn)(a, axis=0).dtype
    program = fg.make_ir(lambda a: getattr(fnp, fn)(a, axis=0))(a)
    assert program.out_avals[0].dtype == expected


@pytest.mark.parametrize("name", ["exp", "log", "sqrt", "sin", "tanh", "mean", "var", "std"])
def test_integer_inputs_become_float64(name):
    a = np.arange(1, 7, dtype=np.int64).reshape(2, 3)
    expected = getattr(np, name)(a).dtype
    assert expected == F64
    assert fg.make_ir(lambda a: getattr(fnp, name)(a))(a).out_avals[0].dtype == expected


def test_integer_argument_cannot_be_differentiated():
    with pytest.raises(fg.FuncgradError):
        fg.grad(lambda x: fnp.sum(x * 1.0))(np.arange(3))
