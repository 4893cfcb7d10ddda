"""0-d arrays and the ``axis`` argument, against NumPy 2 itself.

NumPy takes the axis 0 (or -1) of a 0-d array in some functions and not in
others: ``np.sum(x, axis=0)`` is ``x`` (but ``np.sum(x, axis=(0,))`` raises),
``np.cumsum(x, axis=0)`` has shape (1,), ``np.mean(x, axis=0)`` raises an
AxisError. Each ``funcgrad.numpy`` function taking an axis is called on 0-d
inputs with each kind of axis, eagerly (NumPy arrays in, NumPy computes) and
traced (under ``fg.jit(..., backend="interpret")``, through ``funcgrad.numpy``
and through NumPy's own dispatch), and must give NumPy's value, shape and
dtype, or, where NumPy raises, a ShapeError naming the function, the axis and
the shape (a TypeError where NumPy's is one: a tuple for an integer axis);
never a raw IndexError. ``logsumexp`` follows ``scipy.special.logsumexp``
(a 0-d input taken as shape (1,)), or, without scipy, its formula.
"""
import numpy as np
import pytest

import funcgrad as fg
import funcgrad.numpy as fnp
from funcgrad.errors import ShapeError

try:
    from scipy.special import logsumexp as _scipy_logsumexp
except ImportError:  # pragma: no cover - scipy is optional
    _scipy_logsumexp = None


def _ref_logsumexp(a, axis=None, keepdims=False):
    """scipy.special.logsumexp if installed, else its formula (scipy views a
    0-d ``a`` as shape (1,))."""
    if _scipy_logsumexp is not None:
        return _scipy_logsumexp(a, axis=axis, keepdims=keepdims)
    a = np.atleast_1d(np.asarray(a, dtype=np.result_type(np.asarray(a).dtype, np.float16)))
    axis = tuple(range(a.ndim)) if axis is None else axis
    m = np.max(a, axis=axis, keepdims=True)
    m = np.where(np.isfinite(m), m, 0)
    out = np.log(np.sum(np.exp(a - m), axis=axis, keepdims=True)) + m
    return out if keepdims else np.squeeze(out, axis=axis)


def _ref_one_hot(indices, k, axis=-1):
    """jax.nn.one_hot's layout: the class axis at ``axis`` of the result."""
    oh = (np.asarray(indices)[..., None] == np.arange(k)).astype(np.float64)
    return np.moveaxis(oh, -1, axis)


class _Ref:
    """The reference module: NumPy, plus logsumexp and one_hot."""

    def __getattr__(self, name):
        return getattr(np, name)

    logsumexp = staticmethod(_ref_logsumexp)
    one_hot = staticmethod(_ref_one_hot)


REF = _Ref()

AXES = [0, -1, 1, -2, None, (0,), (-1,), (0, -1), ()]
INT_AXES = [0, -1, 1, -2, np.int64(0), None, (0,), ()]

F64 = np.asarray(2.0)
INPUTS = {
    "f64": F64,
    "f32": np.asarray(-1.5, dtype=np.float32),
    "i32": np.asarray(3, dtype=np.int32),
    "bool": np.asarray(True),
}


def _keepdims_cases(name, axes=AXES, inputs=("f64", "f32", "i32", "bool")):
    out = []
    for ax in axes:
        for kd in (False, True):
            for inp in inputs:
                out.append(pytest.param(name, (lambda m, x, ax=ax, kd=kd: getattr(m, name)(x, axis=ax, keepdims=kd)),
                                        inp, ax, id=f"{name}-axis={ax!r}-keepdims={kd}-{inp}"))
    return out


def _cases(name, call, axes=AXES, inputs=("f64", "i32")):
    return [pytest.param(name, (lambda m, x, ax=ax: call(m, x, ax)), inp, ax, id=f"{name}-axis={ax!r}-{inp}")
            for ax in axes for inp in inputs]


CASES = (
    _keepdims_cases("sum") + _keepdims_cases("prod") + _keepdims_cases("max") + _keepdims_cases("min")
    + _keepdims_cases("any") + _keepdims_cases("all")
    + _keepdims_cases("mean") + _keepdims_cases("var", inputs=("f64", "i32"))
    + _keepdims_cases("std", inputs=("f64", "i32"))
    + _keepdims_cases("argmax", axes=INT_AXES) + _keepdims_cases("argmin", axes=INT_AXES)
    + _keepdims_cases("logsumexp", inputs=("f64", "f32", "i32"))
    + _cases("cumsum", lambda m, x, ax: m.cumsum(x, axis=ax), INT_AXES, ("f64", "f32", "i32", "bool"))
    + _cases("cumsum_dtype", lambda m, x, ax: m.cumsum(x, axis=ax, dtype=np.float32), INT_AXES)
    + _cases("squeeze", lambda m, x, ax: m.squeeze(x, axis=ax), AXES + [np.int64(-1)])
    + _cases("expand_dims", lambda m, x, ax: m.expand_dims(x, ax),
             [0, -1, 1, -2, (0,), (0, 1), (-1, 0), (0, 2), (0, 0), ()])
    + _cases("flip", lambda m, x, ax: m.flip(x, axis=ax))
    + _cases("repeat", lambda m, x, ax: m.repeat(x, 3, axis=ax), INT_AXES)
    + _cases("take_scalar_index", lambda m, x, ax: m.take(x, 0, axis=ax), INT_AXES)
    + _cases("take_negative_index", lambda m, x, ax: m.take(x, np.asarray(-1), axis=ax), INT_AXES)
    + _cases("take_vector_index", lambda m, x, ax: m.take(x, np.asarray([0, 0, -1]), axis=ax), INT_AXES)
    + _cases("take_matrix_index", lambda m, x, ax: m.take(x, np.zeros((2, 2), np.int64), axis=ax), INT_AXES)
    + _cases("take_along_axis", lambda m, x, ax: m.take_along_axis(x, np.asarray(0), axis=ax), INT_AXES)
    + _cases("take_along_axis_1d", lambda m, x, ax: m.take_along_axis(x, np.asarray([0]), axis=ax), INT_AXES)
    + _cases("concatenate", lambda m, x, ax: m.concatenate([x, x], axis=ax), INT_AXES)
    + _cases("stack", lambda m, x, ax: m.stack([x, x], axis=ax), INT_AXES + [2, -3])
    + _cases("split", lambda m, x, ax: m.split(x, 1, axis=ax), INT_AXES)
    + _cases("array_split", lambda m, x, ax: m.array_split(x, 1, axis=ax), INT_AXES)
    + _cases("size", lambda m, x, ax: m.size(x, ax), AXES)
    + _cases("swapaxes", lambda m, x, ax: m.swapaxes(x, ax, ax), [0, -1, 1])
    + _cases("swapaxes_ax_0", lambda m, x, ax: m.swapaxes(x, ax, 0), [0, -1])
    + _cases("moveaxis", lambda m, x, ax: m.moveaxis(x, ax, ax), [0, -1, 1, (0,), ()])
    + _cases("transpose", lambda m, x, ax: m.transpose(x, ax), [(0,), (-1,), ()])
    + _cases("tensordot", lambda m, x, ax: m.tensordot(x, x, axes=ax),
             [0, 1, ([0], [0]), ([-1], [-1]), ([], [])])
    + _cases("one_hot", lambda m, x, ax: m.one_hot(np.asarray(1), 3, axis=ax), [0, -1, 1, -2], ("f64",))
)


def _reference(call, x):
    try:
        with np.errstate(all="ignore"):
            return call(REF, x), None
    except Exception as e:  # noqa: BLE001 - the reference's error, to compare with ours
        return None, e


_FUNCTIONS = sorted(["sum", "prod", "max", "min", "any", "all", "mean", "var", "std", "argmax", "argmin",
                     "logsumexp", "cumsum", "squeeze", "expand_dims", "flip", "repeat", "take",
                     "take_along_axis", "concatenate", "stack", "split", "array_split", "size", "swapaxes",
                     "moveaxis", "transpose", "tensordot", "one_hot"], key=len, reverse=True)


def _function_name(case):
    """``take_along_axis_1d`` -> ``take_along_axis``: the function a case calls."""
    return next(f for f in _FUNCTIONS if case == f or case.startswith(f + "_"))


def _check(name, ax, out, ref, ref_err, run):
    if ref_err is not None:
        expected = TypeError if isinstance(ref_err, TypeError) else ShapeError
        with pytest.raises(expected) as info:
            run()
        msg = str(info.value)
        assert msg.startswith(_function_name(name) + ":"), msg      # ours, naming the function
        if expected is ShapeError:
            assert "()" in msg, msg         # the shape
            if isinstance(ax, (int, np.integer)):
                assert f"axis {int(ax)}" in msg or f"axes={int(ax)}" in msg, msg
        assert not isinstance(info.value, (IndexError, KeyError))
        return
    out = run()
    if isinstance(ref, (list, tuple)):
        assert isinstance(out, (list, tuple)) and len(out) == len(ref)
        pairs = list(zip(out, ref))
    else:
        pairs = [(out, ref)]
    for o, r in pairs:
        o, r = np.asarray(o), np.asarray(r)
        assert o.shape == r.shape, (o.shape, r.shape)
        assert o.dtype == r.dtype, (o.dtype, r.dtype)
        if r.dtype.kind == "f":
            np.testing.assert_allclose(o, r, rtol=1e-6 if r.dtype == np.float32 else 1e-13)
        else:
            np.testing.assert_array_equal(o, r)


@pytest.mark.parametrize("name,call,inp,ax", CASES)
def test_eager(name, call, inp, ax):
    x = INPUTS[inp]
    ref, err = _reference(call, x)
    _check(name, ax, None, ref, err, lambda: call(fnp, x))


@pytest.mark.parametrize("name,call,inp,ax", CASES)
def test_eager_numpy_scalar(name, call, inp, ax):
    """NumPy scalars (``np.float64(2.0)``) are 0-d arrays too."""
    x = INPUTS[inp][()]
    assert isinstance(x, np.generic)
    ref, err = _reference(call, x)
    _check(name, ax, None, ref, err, lambda: call(fnp, x))


def _traced(call, module):
    def f(x):
        out = call(module, x)
        if isinstance(out, (int, np.integer)):      # fnp.size is a static Python int
            out = fnp.full((), out)
        return out
    return fg.jit(f, backend="interpret")


@pytest.mark.parametrize("name,call,inp,ax", CASES)
def test_traced(name, call, inp, ax):
    x = INPUTS[inp]
    ref, err = _reference(call, x)
    _check(name, ax, None, ref, err, lambda: _traced(call, fnp)(x))


_NOT_IN_NUMPY = ("logsumexp", "one_hot")


@pytest.mark.parametrize("name,call,inp,ax", [c for c in CASES if c.values[0] not in _NOT_IN_NUMPY])
def test_traced_through_numpy_dispatch(name, call, inp, ax):
    """Plain ``numpy`` calls on traced values (``__array_function__``) get the same."""
    x = INPUTS[inp]
    ref, err = _reference(call, x)
    _check(name, ax, None, ref, err, lambda: _traced(call, np)(x))


def test_examples_from_the_review():
    x = np.float64(2.0)
    assert np.asarray(fnp.squeeze(x, axis=0)).shape == ()
    np.testing.assert_array_equal(fnp.cumsum(np.asarray(2.0), axis=0), np.asarray([2.0]))
    with pytest.raises(ShapeError, match=r"mean: axis 0 is out of bounds for an array of shape \(\)"):
        fnp.mean(np.asarray(2.0), axis=0)
    with pytest.raises(ShapeError, match=r"sum: axis 0 .*shape \(\).*bare integer"):
        fnp.sum(np.asarray(2.0), axis=(0,))


@pytest.mark.parametrize("shape", [(), (3,), (2, 3), (2, 1, 3)])
@pytest.mark.parametrize("fn", ["argmax", "argmin"])
@pytest.mark.parametrize("traced", [False, True])
def test_arg_keepdims_axis_none_keeps_ndim(shape, fn, traced):
    """``argmax(a, keepdims=True)``: shape (1,) * a.ndim, as NumPy (not (1,))."""
    a = np.random.default_rng(0).standard_normal(shape)
    ref = getattr(np, fn)(a, axis=None, keepdims=True)
    f = (lambda x: getattr(fnp, fn)(x, axis=None, keepdims=True))
    out = np.asarray(fg.jit(f, backend="interpret")(a) if traced else f(a))
    assert out.shape == np.shape(ref) == (1,) * len(shape)
    assert out.dtype == np.asarray(ref).dtype
    np.testing.assert_array_equal(out, ref)


# Integer-only axes on arrays of any rank: NumPy's TypeError for a tuple or None.
_INT_ONLY = [
    ("cumsum", lambda m, x, ax: m.cumsum(x, axis=ax)),
    ("take", lambda m, x, ax: m.take(x, np.asarray([0]), axis=ax)),
    ("repeat", lambda m, x, ax: m.repeat(x, 2, axis=ax)),
    ("argmax", lambda m, x, ax: m.argmax(x, axis=ax)),
    ("concatenate", lambda m, x, ax: m.concatenate([x, x], axis=ax)),
    ("stack", lambda m, x, ax: m.stack([x, x], axis=ax)),
    ("split", lambda m, x, ax: m.split(x, 1, axis=ax)),
    ("swapaxes", lambda m, x, ax: m.swapaxes(x, ax, 0)),
]


@pytest.mark.parametrize("name,call", _INT_ONLY, ids=[n for n, _ in _INT_ONLY])
@pytest.mark.parametrize("ax", [(0,), (-1,), 1.0])
def test_integer_axis_arguments(name, call, ax):
    x = np.arange(6.0).reshape(2, 3)
    ref, err = _reference(lambda m, x: call(m, x, ax), x)
    assert isinstance(err, TypeError), err      # NumPy's
    _check(name, ax, None, ref, err, lambda: call(fnp, x, ax))


@pytest.mark.parametrize("shape,axis", [((2, 3), 2), ((2, 3), -3), ((3,), 1)])
@pytest.mark.parametrize("name,call", [
    ("cumsum", lambda m, x, ax: m.cumsum(x, axis=ax)),
    ("array_split", lambda m, x, ax: m.array_split(x, 2, axis=ax)),
    ("size", lambda m, x, ax: m.size(x, ax)),
    ("take", lambda m, x, ax: m.take(x, np.asarray([0]), axis=ax)),
    ("mean", lambda m, x, ax: m.mean(x, axis=ax)),
], ids=["cumsum", "array_split", "size", "take", "mean"])
def test_out_of_bounds_axis_names_function_axis_shape(name, call, shape, axis):
    """Out-of-bounds axes of n-d arrays too: a ShapeError with the function,
    the axis and the shape, where NumPy raises (an AxisError, or for
    array_split and size an IndexError)."""
    x = np.ones(shape)
    _, err = _reference(lambda m, x: call(m, x, axis), x)
    assert isinstance(err, (np.exceptions.AxisError, IndexError)), err
    with pytest.raises(ShapeError) as info:
        call(fnp, x, axis)
    msg = str(info.value)
    assert msg.startswith(name) and f"axis {axis}" in msg and str(shape) in msg, msg
