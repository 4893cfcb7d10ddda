"""Bad input gives a funcgrad exception whose message names the operation, the
shapes/dtypes involved, and the line of the user's code (this file) that caused it.

Lines are found by markers: ``# <-- name`` at the end of the offending line."""
import math
import os

import numpy as np
import pytest

import funcgrad as fg
import funcgrad.numpy as fnp

THIS_FILE = os.path.basename(__file__)
with open(__file__) as _f:
    _SOURCE = _f.read().splitlines()


def line_of(marker):
    tag = f"# <-- {marker}"
    hits = [i + 1 for i, line in enumerate(_SOURCE) if line.rstrip().endswith(tag)]
    assert len(hits) == 1, (marker, hits)
    return hits[0]


def check(excinfo, marker, *pieces, kind=fg.FuncgradError):
    """The error is a `kind`, and its message contains every piece and this
    file's name with the marked line number."""
    exc = excinfo.value
    msg = str(exc)
    assert isinstance(exc, fg.FuncgradError), type(exc)
    assert isinstance(exc, kind), type(exc)
    assert f"{THIS_FILE}:{line_of(marker)}" in msg, (marker, msg)
    for p in pieces:
        assert p in msg, (p, msg)
    return msg


x3 = np.array([1.0, -2.0, 3.0])
m23 = np.arange(6.0).reshape(2, 3)


# ----------------------------------------------------------------------------- Python control flow

def test_if_on_traced_value():
    def f(x):
        if x.sum() > 0:  # <-- if
            return x.sum()
        return -x.sum()

    with pytest.raises(fg.TracerBoolError) as e:
        fg.grad(f)(x3)
    msg = check(e, "if", "if", "bool[]", "where")
    assert isinstance(e.value, TypeError)
    assert "if x.sum() > 0:" in msg  # the source text of the line


def test_while_on_traced_value():
    def f(x):
        while np.max(x) > 1.0:  # <-- while
            x = x / 2
        return np.sum(x)

    with pytest.raises(fg.TracerBoolError) as e:
        fg.grad(f)(x3)
    check(e, "while", "while", "bool[]")


def test_bool_on_traced_value():
    with pytest.raises(fg.TracerBoolError) as e:
        fg.value_and_grad(lambda x: np.sum(x) * bool(x[0]))(x3)  # <-- bool
    check(e, "bool", "bool()", "f64[]")


def test_and_or_on_traced_values():
    def f(x):
        y = (x > 0) or (x < -1)  # <-- or
        return np.sum(x * y)

    with pytest.raises(fg.TracerBoolError) as e:
        fg.grad(f)(x3)
    check(e, "or", "and`/`or", "bool[3]")


def test_python_builtins_needing_values():
    with pytest.raises(fg.TracerBoolError) as e:
        fg.grad(lambda x: float(np.sum(x)))(x3)  # <-- float
    check(e, "float", "float()", "f64[]")
    with pytest.raises(fg.TracerBoolError) as e:
        fg.grad(lambda x: math.exp(np.sum(x)))(x3)  # <-- math
    check(e, "math", "f64[]")
    with pytest.raises(fg.TracerBoolError) as e:
        fg.grad(lambda x: np.sum(x) * range(int(x[0]))[0])(x3)  # <-- int
    check(e, "int", "int()", "f64[]")
    with pytest.raises(fg.TracerBoolError) as e:
        fg.grad(lambda x: np.sum(x) * x[0].item())(x3)  # <-- item
    check(e, "item", ".item()", "f64[]")
    with pytest.raises(fg.TracerBoolError) as e:
        fg.grad(lambda x: np.sum(np.asarray(x)))(x3)  # <-- asarray
    check(e, "asarray", "NumPy array", "f64[3]")


# ----------------------------------------------------------------------------- shapes

def test_matmul_shape_mismatch():
    W = np.ones((4, 2))
    with pytest.raises(fg.ShapeError) as e:
        fg.grad(lambda a: np.sum(a @ W))(m23)  # <-- matmul
    check(e, "matmul", "matmul", "f64[2,3]", "f64[4,2]", kind=ValueError)


def test_matmul_shape_mismatch_numpy_on_the_left_and_dot():
    with pytest.raises(fg.ShapeError) as e:
        fg.grad(lambda a: np.sum(np.ones((5, 4)) @ a))(m23)  # <-- rmatmul
    check(e, "rmatmul", "matmul", "f64[5,4]", "f64[2,3]")
    with pytest.raises(fg.ShapeError) as e:
        fg.grad(lambda a: np.sum(np.dot(a, np.ones(2))))(m23)  # <-- dot
    check(e, "dot", "f64[2,3]", "f64[2]")


def test_broadcasting_mismatch():
    with pytest.raises(fg.ShapeError) as e:
        fg.grad(lambda a: np.sum(a + np.ones(4)))(m23)  # <-- add
    check(e, "add", "add", "broadcast", "f64[2,3]", "f64[4]")
    with pytest.raises(fg.ShapeError) as e:
        fg.grad(lambda a, b: np.sum(a * b))(m23, np.ones((3, 2)))  # <-- mul
    check(e, "mul", "mul", "f64[2,3]", "f64[3,2]")


def test_shape_error_in_a_helper_points_at_the_helper_line():
    def layer(h, W):
        return np.tanh(h @ W)  # <-- helper

    def net(W1, W2, x):
        return np.sum(layer(layer(x, W1), W2))

    with pytest.raises(fg.ShapeError) as e:
        fg.grad(net)(np.ones((3, 4)), np.ones((5, 2)), np.ones((2, 3)))
    check(e, "helper", "matmul", "f64[2,4]", "f64[5,2]")


def test_reshape_and_concatenate_mismatch():
    with pytest.raises(fg.ShapeError) as e:
        fg.grad(lambda a: np.sum(a.reshape(4, 2)))(m23)  # <-- reshape
    check(e, "reshape", "reshape", "f64[2,3]", "(4, 2)")
    with pytest.raises(fg.ShapeError) as e:
        fg.grad(lambda a: np.sum(np.concatenate([a, np.ones((2, 2))])))(m23)  # <-- concat
    check(e, "concat", "concatenate", "f64[2,3]", "f64[2,2]")


# ----------------------------------------------------------------------------- what grad can differentiate

def test_grad_of_non_scalar_output():
    with pytest.raises(fg.InputError) as e:
        fg.grad(lambda a: a * 2.0)(m23)  # <-- nonscalar
    check(e, "nonscalar", "grad", "scalar", "f64[2,3]", ".sum()")


def test_value_and_grad_of_non_scalar_output_names_value_and_grad():
    with pytest.raises(fg.InputError) as e:
        fg.value_and_grad(lambda a: a[0])(m23)  # <-- vg_nonscalar
    check(e, "vg_nonscalar", "value_and_grad", "f64[3]")


def test_grad_of_integer_output():
    with pytest.raises(fg.InputError) as e:
        fg.grad(lambda a: np.argmax(a))(m23)  # <-- intout
    check(e, "intout", "grad", "floating-point", "i64[]")


def test_grad_of_non_scalar_aux_value():
    with pytest.raises(fg.InputError) as e:
        fg.grad(lambda a: (a, a.sum()), has_aux=True)(m23)  # <-- aux_nonscalar
    check(e, "aux_nonscalar", "grad", "f64[2,3]", "(value, aux)")


def test_differentiate_with_respect_to_integer_input():
    labels = np.array([0, 2, 1])
    with pytest.raises(fg.InputError) as e:
        fg.grad(lambda x, y: np.sum(x * y), argnums=1)(x3, labels)  # <-- intin
    check(e, "intin", "grad", "argument 1", "int64", "(3,)")
    with pytest.raises(fg.InputError) as e:
        fg.grad(lambda p: np.sum(p["w"] * p["n"]))({"w": x3, "n": 3})  # <-- intin_tree
    check(e, "intin_tree", "argument 0['n']", "int64")


def test_differentiate_with_respect_to_boolean_input():
    with pytest.raises(fg.InputError) as e:
        fg.grad(lambda m: np.sum(np.where(m, 1.0, 0.0)))(np.array([True, False]))  # <-- boolin
    check(e, "boolin", "argument 0", "bool")


# ----------------------------------------------------------------------------- unsupported NumPy

def test_unsupported_numpy_linalg_eig():
    with pytest.raises(fg.UnsupportedError) as e:
        fg.grad(lambda a: np.sum(np.linalg.eig(a)[0]))(np.eye(3))  # <-- eig
    check(e, "eig", "numpy.linalg.eig", "f64[3,3]", "complex", kind=NotImplementedError)


def test_unsupported_numpy_fft():
    with pytest.raises(fg.UnsupportedError) as e:
        fg.grad(lambda a: np.sum(np.fft.fft(a).real))(x3)  # <-- fft
    check(e, "fft", "numpy.fft.fft", "f64[3]")


def test_unsupported_numpy_function_and_ufunc():
    with pytest.raises(fg.UnsupportedError) as e:
        fg.grad(lambda a: np.sum(np.unwrap(a)))(x3)  # <-- unwrap
    check(e, "unwrap", "numpy.unwrap", "f64[3]")
    with pytest.raises(fg.UnsupportedError) as e:
        fg.grad(lambda a: np.sum(np.spacing(a)))(x3)  # <-- spacing
    check(e, "spacing", "numpy.spacing", "f64[3]")
    with pytest.raises(fg.UnsupportedError) as e:
        fg.grad(lambda a: np.sum(np.add.accumulate(a)))(x3)  # <-- accumulate
    check(e, "accumulate", "numpy.add.accumulate", "f64[3]")
    with pytest.raises(fg.UnsupportedError) as e:
        fg.grad(lambda a: np.sum(np.exp(a, out=np.empty(3))))(x3)  # <-- out
    check(e, "out", "numpy.exp", "out=", "f64[3]")


def test_item_assignment():
    def f(a):
        a[0] = 1.0  # <-- setitem
        return np.sum(a)

    with pytest.raises(fg.UnsupportedError) as e:
        fg.grad(f)(x3)
    check(e, "setitem", "item assignment", "f64[3]")


# ----------------------------------------------------------------------------- arguments

def test_string_leaf():
    # a string in a non-differentiated argument reaches the function (as in jax.grad);
    # in a differentiated one it is an error naming its position
    np.testing.assert_allclose(fg.grad(lambda a, s: np.sum(a))(x3, "relu"), np.ones(3))
    with pytest.raises(fg.InputError) as e:
        fg.grad(lambda a, s: np.sum(a), argnums=(0, 1))(x3, "relu")  # <-- strleaf
    check(e, "strleaf", "grad", "argument 1", "str", "'relu'")


def test_string_leaf_inside_a_pytree():
    params = {"W": m23, "activation": "tanh"}
    with pytest.raises(fg.InputError) as e:
        fg.grad(lambda p: np.sum(p["W"]))(params)  # <-- strleaf_tree
    check(e, "strleaf_tree", "argument 0['activation']", "str", "'tanh'")
    with pytest.raises(fg.InputError) as e:
        fg.vjp(lambda a, s: a, x3, ["x", x3])  # <-- strleaf_vjp
    check(e, "strleaf_vjp", "vjp", "argument 1[0]", "str")
    with pytest.raises(fg.InputError) as e:
        fg.make_ir(lambda a, **k: a)(x3, mode="fast")  # <-- strleaf_kw
    check(e, "strleaf_kw", "make_ir", "keyword argument 'mode'", "str")


def test_complex_and_object_leaves():
    with pytest.raises(fg.InputError) as e:
        fg.grad(lambda a: np.sum(a))(np.ones(2, np.complex128))  # <-- complex
    check(e, "complex", "complex128", "argument 0")
    with pytest.raises(fg.InputError) as e:
        fg.grad(lambda a: np.sum(a))(np.array([1, "a"], dtype=object))  # <-- object
    check(e, "object", "object", "argument 0")


def test_argnums_out_of_range():
    with pytest.raises(fg.InputError) as e:
        fg.grad(lambda a, b: np.sum(a * b), argnums=2)(x3, x3)  # <-- argnums_oor
    check(e, "argnums_oor", "grad", "argnums=2", "2 positional arguments")
    with pytest.raises(fg.InputError) as e:
        fg.grad(lambda a, b: np.sum(a * b), argnums=(0, -3))(x3, x3)  # <-- argnums_neg
    check(e, "argnums_neg", "argnums=(0, -3)")


def test_argnums_repeated():
    with pytest.raises(fg.InputError) as e:
        fg.grad(lambda a, b: np.sum(a * b), argnums=(1, 1))(x3, x3)  # <-- argnums_rep
    check(e, "argnums_rep", "grad", "repeated", "(1, 1)")
    with pytest.raises(fg.InputError) as e:
        fg.value_and_grad(lambda a, b: np.sum(a * b), argnums=(0, -2))(x3, x3)  # <-- argnums_rep_neg
    check(e, "argnums_rep_neg", "value_and_grad", "repeated")


def test_non_array_output_or_aux():
    with pytest.raises(fg.InputError) as e:
        fg.grad(lambda a: (np.sum(a), {"act": "relu"}), has_aux=True)(x3)  # <-- auxstr
    check(e, "auxstr", "grad", "a str ('relu')", "output [1]['act']")
    with pytest.raises(fg.InputError) as e:
        fg.vjp(lambda a: [a, object()], x3)  # <-- outobj
    check(e, "outobj", "vjp", "object", "output [1]")
    with pytest.raises(fg.InputError) as e:
        fg.value_and_grad(lambda a: "loss")(x3)  # <-- outstr
    check(e, "outstr", "value_and_grad", "str")


def test_argnums_wrong_type():
    with pytest.raises(fg.InputError) as e:
        fg.grad(lambda a: np.sum(a), argnums="0")(x3)  # <-- argnums_type
    check(e, "argnums_type", "argnums", "'0'")
    with pytest.raises(fg.InputError) as e:
        fg.grad(lambda a: np.sum(a), argnums=())(x3)  # <-- argnums_empty
    check(e, "argnums_empty", "argnums")
    with pytest.raises(fg.InputError) as e:
        fg.grad(lambda a: np.sum(a), argnums=0.0)(x3)  # <-- argnums_float
    check(e, "argnums_float", "argnums", "0.0")


# ----------------------------------------------------------------------------- indexing

def test_traced_boolean_mask_indexing():
    with pytest.raises(fg.UnsupportedError) as e:
        fg.grad(lambda a: np.sum(a[a > 0]))(x3)  # <-- mask
    check(e, "mask", "boolean mask", "bool[3]", "where")


def test_index_errors():
    with pytest.raises(fg.ShapeError) as e:
        fg.grad(lambda a: np.sum(a[5]))(m23)  # <-- oob
    check(e, "oob", "indexing", "index 5", "size 2", "f64[2,3]")
    with pytest.raises(fg.ShapeError) as e:
        fg.grad(lambda a: np.sum(a[np.array([0, 7])]))(m23)  # <-- oob_arr
    check(e, "oob_arr", "index 7", "size 2")
    with pytest.raises(fg.ShapeError) as e:
        fg.grad(lambda a: np.sum(a[0, 0, 0]))(m23)  # <-- toomany
    check(e, "toomany", "too many indices", "2 dimensions")
    with pytest.raises(fg.ShapeError) as e:
        fg.grad(lambda a: np.sum(a[np.array([True, False, True])]))(m23)  # <-- maskshape
    check(e, "maskshape", "boolean index", "(3,)", "(2,)")
    with pytest.raises(fg.DtypeError) as e:
        fg.grad(lambda a: np.sum(a[1.5]))(m23)  # <-- floatidx
    check(e, "floatidx", "indexing", "1.5", "f64[2,3]")
    with pytest.raises(fg.DtypeError) as e:
        fg.grad(lambda a: np.sum(a[a[0, 0]]))(m23)  # <-- tracedfloatidx
    check(e, "tracedfloatidx", "indexing", "f64[]")


# ----------------------------------------------------------------------------- leaked tracers

def test_leaked_tracer():
    leaked = []

    def f(a):
        leaked.append(a * 2.0)
        return np.sum(a)

    fg.grad(f)(x3)
    with pytest.raises(fg.LeakedTracerError) as e:
        fg.grad(lambda a: np.sum(a + leaked[0]))(x3)  # <-- leak
    check(e, "leak", "f64[3]", "leaked", kind=RuntimeError)
    with pytest.raises(fg.LeakedTracerError) as e:
        np.sum(leaked[0] * 3.0)  # <-- leak_outside
    check(e, "leak_outside", "f64[3]")


# ----------------------------------------------------------------------------- nesting and file names

def test_error_inside_nested_grad_points_at_user_line():
    def inner(y):
        return np.sum(y @ np.ones((4, 1)))  # <-- nested

    with pytest.raises(fg.ShapeError) as e:
        fg.grad(lambda x: np.sum(fg.grad(inner)(x)))(m23)
    check(e, "nested", "matmul", "f64[2,3]", "f64[4,1]")


def test_error_inside_make_ir():
    with pytest.raises(fg.ShapeError) as e:
        fg.make_ir(lambda a: a + np.ones(5))(x3)  # <-- make_ir
    check(e, "make_ir", "add", "f64[3]", "f64[5]")


def test_user_file_next_to_the_package_is_user_code():
    """A user's file whose path starts with the package directory's path
    (e.g. .../funcgrad_demo.py next to .../funcgrad/) is not funcgrad's."""
    fake = os.path.dirname(fg.__file__) + "_demo.py"
    src = "def f(a):\n    return (a @ W).sum()\n"
    ns = {"W": np.ones((4, 2))}
    exec(compile(src, fake, "exec"), ns)
    with pytest.raises(fg.ShapeError) as e:
        fg.grad(ns["f"])(m23)
    assert f"{os.path.basename(fake)}:2" in str(e.value), str(e.value)
    assert e.value.location[0] == fake and e.value.location[1] == 2


def test_exceptions_keep_builtin_bases():
    assert issubclass(fg.ShapeError, ValueError)
    assert issubclass(fg.DtypeError, TypeError)
    assert issubclass(fg.TracerBoolError, TypeError)
    assert issubclass(fg.UnsupportedError, NotImplementedError)
    assert issubclass(fg.InputError, TypeError)
    assert issubclass(fg.TreeError, ValueError)
    for cls in (fg.ShapeError, fg.DtypeError, fg.TracerBoolError, fg.UnsupportedError,
                fg.InputError, fg.TreeError, fg.LeakedTracerError):
        assert issubclass(cls, fg.FuncgradError)


def test_tree_error_names_location():
    with pytest.raises(fg.TreeError) as e:
        fg.tree.map(lambda a, b: a + b, {"a": 1}, {"b": 1})  # <-- treemap
    check(e, "treemap", "tree.map", "'a'", "'b'")


def test_exception_is_raised_again_on_a_second_call():
    """A failed trace is not cached: the same error comes back."""
    def f(a):
        return np.sum(a @ np.ones((7, 1)))  # <-- retry

    g = fg.grad(f)
    for _ in range(2):
        with pytest.raises(fg.ShapeError) as e:
            g(m23)
        check(e, "retry", "matmul")
