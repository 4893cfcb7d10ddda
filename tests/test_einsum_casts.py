"""einsum in both of NumPy's forms, and casts of traced values (issue 9).

einsum: the subscripts string and the interleaved sublist form
(``einsum(a, [0, 1], b, [1, 2], [0, 2])``), through ``funcgrad.numpy`` and
through NumPy's own ``np.einsum`` on traced values; values against NumPy,
gradients against finite differences, errors for malformed specs where NumPy
rejects them too.

Casts: ``fnp.int64(x)``, ``fnp.float32(x)``... trace (as ``asarray(x,
dtype)``, as in JAX) while staying usable as dtypes; ``astype``/``asarray``
with Python and NumPy dtypes; integer results carry no cotangent, float
casts keep theirs and their dtypes.
"""
import pickle

import numpy as np
import pytest

import funcgrad as fg
import funcgrad.numpy as fnp
from funcgrad.errors import DtypeError, InputError, ShapeError, TracerBoolError, UnsupportedError
from fd import check_grads, numerical_grad, rel_error

rng = np.random.default_rng(9)


def _sublists(sub):
    """``'ij,jk->ik'`` as NumPy's sublist form: ``([[0, 1], [1, 2]], [0, 2])``
    (letters as NumPy's C einsum numbers them: A-Z 0..25, a-z 26..51)."""
    letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

    def one(term):
        out, i = [], 0
        while i < len(term):
            if term.startswith("...", i):
                out.append(Ellipsis)
                i += 3
            else:
                out.append(letters.index(term[i]))
                i += 1
        return out

    lhs, arrow, out = sub.partition("->")
    return [one(t) for t in lhs.split(",")], (one(out) if arrow else None)


def _interleave(ops, sub):
    ins, out = _sublists(sub)
    args = [x for pair in zip(ops, ins) for x in pair]
    return args + ([out] if out is not None else [])


CASES = [
    ("ij,jk->ik", [(2, 3), (3, 4)]),
    ("ij,jk", [(2, 3), (3, 4)]),
    ("ij->ji", [(2, 3)]),
    ("ij->", [(2, 3)]),
    ("ii", [(3, 3)]),
    ("ii->i", [(3, 3)]),
    ("i,i", [(4,), (4,)]),
    ("i,j->ij", [(2,), (3,)]),
    ("ij,jk,kl->il", [(2, 3), (3, 4), (4, 2)]),
    ("bij,bjk->bik", [(2, 2, 3), (2, 3, 4)]),
    ("Ba,aC", [(2, 3), (3, 4)]),
    ("ba", [(2, 3)]),
    ("...ij,...jk->...ik", [(1, 2, 3), (4, 3, 2)]),
    ("...i,i->...", [(2, 3, 4), (4,)]),
    ("i...->...", [(2, 3, 4)]),
    ("ij,jk", [(2, 1), (3, 4)]),          # a size-1 label broadcasts, as in NumPy
    ("iij->j", [(2, 2, 3)]),
    (",->", [(), ()]),
    ("Zz,zA->AZ", [(2, 3), (3, 2)]),       # labels 25, 51, 0 in the sublist form
]


@pytest.mark.parametrize("sub,shapes", CASES, ids=[c[0] for c in CASES])
def test_einsum_values_both_forms(sub, shapes):
    """String and sublist forms match np.einsum, concrete and traced."""
    ops = [rng.normal(size=s) for s in shapes]
    ref = np.einsum(sub, *ops)
    args = _interleave(ops, sub)
    np.testing.assert_allclose(np.einsum(*args), ref, rtol=1e-12)   # the conversion is NumPy's reading
    for got in (fnp.einsum(sub, *ops), fnp.einsum(*args),
                fg.jit(lambda *o: fnp.einsum(*_interleave(o, sub)))(*ops),
                fg.jit(lambda *o: np.einsum(*_interleave(o, sub)))(*ops),
                fg.jit(lambda *o: np.einsum(sub, *o))(*ops)):
        assert np.shape(got) == np.shape(ref)
        np.testing.assert_allclose(got, ref, rtol=1e-12, atol=1e-12)


def test_einsum_sublist_examples():
    """The issue's call, Ellipsis, tuples, NumPy integers, an array as output
    sublist, high labels with NumPy's implicit order."""
    a, b = rng.normal(size=(2, 3)), rng.normal(size=(3, 4))
    np.testing.assert_allclose(fnp.einsum(a, [0, 1], b, [1, 2], [0, 2]), a @ b, rtol=1e-12)
    np.testing.assert_allclose(fg.jit(lambda x: fnp.einsum(x, [0, 1], b, [1, 2], [0, 2]))(a), a @ b, rtol=1e-12)
    c = rng.normal(size=(2, 3, 4))
    v = rng.normal(size=4)
    for args in [(c, [Ellipsis, 0], v, [0], [Ellipsis]), (c, [0, Ellipsis], [0, Ellipsis]),
                 (a, (0, 1), (1,)), (a, [np.int64(0), 1]), (a, [0, 1], np.array([1])),
                 (a, [51, 0]), (a, [30, 1]), (a, [0, 1], []), (c, [Ellipsis]), (c, [0, 1, 2], [2, 0, 1])]:
        ref = np.einsum(*args)
        got = fnp.einsum(*args)
        traced = fg.jit(lambda x: fnp.einsum(x, *args[1:]))(args[0])
        for g in (got, traced):
            assert np.shape(g) == np.shape(ref), args
            np.testing.assert_allclose(g, ref, rtol=1e-12)


GRAD_CASES = [
    ("ij,jk->ik", [(2, 3), (3, 4)]),
    ("ii->i", [(3, 3)]),
    ("...ij,...jk->...ik", [(1, 2, 3), (2, 3, 2)]),
    ("ij,jk,kl->", [(2, 3), (3, 4), (4, 2)]),
    ("ij,jk", [(2, 1), (3, 4)]),
]


@pytest.mark.parametrize("sub,shapes", GRAD_CASES, ids=[c[0] for c in GRAD_CASES])
def test_einsum_gradients_both_forms(sub, shapes):
    """fg.grad/fg.vjp of both forms (and of np.einsum on traced values)
    against finite differences, with respect to every operand."""
    ops = [rng.normal(size=s) for s in shapes]
    nums = tuple(range(len(ops)))

    def ref(*o):
        return np.einsum(sub, *o)

    check_grads(lambda *o: fnp.einsum(sub, *o), ops, nums, ref=ref, rtol=1e-7)
    check_grads(lambda *o: fnp.einsum(*_interleave(o, sub)), ops, nums, ref=ref, rtol=1e-7)
    check_grads(lambda *o: np.einsum(*_interleave(o, sub)), ops, nums, ref=ref, rtol=1e-7)


def test_np_einsum_dispatch_with_keywords():
    """np.einsum on traced values goes through __array_function__, sublist
    form and NumPy's keywords included."""
    a, b = rng.normal(size=(2, 3)), rng.normal(size=(3, 4))

    def f(x):
        y = np.einsum(x, [0, 1], b, [1, 2], [0, 2], optimize=True)
        z = np.einsum("ij,jk->ik", x, b, optimize="greedy", order="C")
        return np.sum(y * z)

    np.testing.assert_allclose(fg.grad(f)(a), numerical_grad(f, (a,)), rtol=1e-7)
    np.testing.assert_allclose(fg.jit(f)(a), f(a), rtol=1e-12)


def test_einsum_dtypes():
    """float32 stays float32 (values and gradients), integers stay integers,
    dtype= computes in that dtype under NumPy's casting rules."""
    a32 = rng.normal(size=(2, 3)).astype(np.float32)
    b32 = rng.normal(size=(3, 4)).astype(np.float32)
    out = fg.jit(lambda x, y: fnp.einsum(x, [0, 1], y, [1, 2]))(a32, b32)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, a32 @ b32, rtol=1e-6)
    g = fg.grad(lambda x: fnp.sum(fnp.einsum("ij,jk->ik", x, b32) ** 2))(a32)
    assert g.dtype == np.float32
    assert fnp.einsum("ij,jk", a32, b32 * 2.0).dtype == np.float32   # Python scalars stay weak
    ia, ib = np.arange(6).reshape(2, 3), np.arange(12).reshape(3, 4)
    got = fg.jit(lambda x: fnp.einsum("ij,jk", x, ib))(ia)
    assert got.dtype == np.int64
    np.testing.assert_array_equal(got, np.einsum("ij,jk", ia, ib))
    bools = [rng.normal(size=s) > 0 for s in [(2, 3), (3, 4), (3, 3)]]
    for sub, ops in [("ij,jk", bools[:2]), ("ij->", bools[:1]), ("ii->i", bools[2:]),
                     ("i,j->ij", [bools[2][0], bools[2][1]])]:
        got = fg.jit(lambda *o: fnp.einsum(sub, *o))(*ops)
        assert got.dtype == np.bool_
        np.testing.assert_array_equal(got, np.einsum(sub, *ops))
    got = fg.jit(lambda x: fnp.einsum("ij->", x))(ia.astype(np.int32))
    assert got.dtype == np.int32 == np.einsum("ij->", ia.astype(np.int32)).dtype
    got = fg.jit(lambda x, y: fnp.einsum("ij,jk", x, y, dtype=np.float64))(a32, b32)
    assert got.dtype == np.einsum("ij,jk", a32, b32, dtype=np.float64).dtype == np.float64
    got = fnp.einsum("ij,jk", a32.astype(np.float64), b32, dtype=np.float32, casting="unsafe")
    assert got.dtype == np.float32
    with pytest.raises(DtypeError, match="einsum.*float64.*float32.*safe"):
        fnp.einsum("ij,jk", a32.astype(np.float64), b32, dtype=np.float32)
    with pytest.raises(TypeError):
        np.einsum("ij,jk", a32.astype(np.float64), b32, dtype=np.float32)


A23, B34, S33, C234 = np.ones((2, 3)), np.ones((3, 4)), np.ones((3, 3)), np.ones((2, 3, 4))
ERRORS = [
    # (args, kwargs, funcgrad error, message pattern)
    (("ij", A23, B34), {}, ShapeError, r"einsum: .*1 operand.*2 operands|einsum: .*subscripts for 1"),
    (("ij,jk", A23), {}, ShapeError, r"einsum: .*2 operand.*1 operand"),
    (("ij,ij", A23, B34), {}, ShapeError, r"einsum: label 'i' has size 2 .*size 3"),
    (("...i,...i", np.ones((2, 3)), np.ones((4, 3))), {}, ShapeError, r"einsum: .*'\.\.\.'.*broadcast"),
    (("i1", A23), {}, ShapeError, r"einsum: invalid subscript '1'"),
    (("i\tj", A23), {}, ShapeError, r"einsum: invalid subscript"),
    (("i>j", A23), {}, ShapeError, r"einsum: .*'>'"),
    (("ij-k", A23), {}, ShapeError, r"einsum: .*'->'"),
    (("ij->j->i", A23), {}, ShapeError, r"einsum: .*'->'"),
    (("i.j", A23), {}, ShapeError, r"einsum: .*'\.'.*ellipsis"),
    (("......", A23), {}, ShapeError, r"einsum: .*'\.\.\.'"),
    (("i->..", np.ones(3)), {}, ShapeError, r"einsum: .*'\.'.*ellipsis.*output"),
    (("ij->k", A23), {}, ShapeError, r"einsum: output subscript 'k'.*not .*input"),
    (("ij->ii", A23), {}, ShapeError, r"einsum: output subscript 'i'.*more than once"),
    (("ijk", A23), {}, ShapeError, r"einsum: .*too many subscripts for operand 0"),
    (("i", A23), {}, ShapeError, r"einsum: operand 0 has 2 dimensions.*1 subscript.*'\.\.\.'"),
    (("...ij", np.ones(3)), {}, ShapeError, r"einsum: .*too many subscripts for operand 0"),
    (("...j->j", C234), {}, ShapeError, r"einsum: .*'\.\.\.'.*output"),
    (("ii", A23), {}, ShapeError, r"einsum: label 'i'.*operand 0.*2.*3"),
    (("ii->i", np.ones((1, 3))), {}, ShapeError, r"einsum: label 'i'"),
    (("i",), {}, ShapeError, r"einsum: .*operand"),
    ((), {}, ShapeError, r"einsum: "),
    ((A23,), {}, ShapeError, r"einsum: .*sublist"),
    ((A23, [0, 1.5]), {}, InputError, r"einsum: .*label.*1\.5.*integer"),
    ((A23, ["i", "j"]), {}, InputError, r"einsum: .*integer"),
    ((A23, [False, True]), {}, InputError, r"einsum: .*integer"),
    ((A23, [0, 52]), {}, ShapeError, r"einsum: .*label 52.*\[0, 52\)"),
    ((A23, [0, -1]), {}, ShapeError, r"einsum: .*label -1.*\[0, 52\)"),
    ((A23, [Ellipsis, Ellipsis]), {}, ShapeError, r"einsum: .*more than one Ellipsis"),
    ((A23, [0, 1], B34), {}, InputError, r"einsum: .*output sublist.*pairs"),
    ((A23, 0), {}, InputError, r"einsum: .*subscripts of operand 0 must be a list or a tuple"),
    ((A23, "ij"), {}, InputError, r"einsum: .*string.*first"),
    ((A23, [0, 1], [2]), {}, ShapeError, r"einsum: output label 2.*not .*input"),
    ((A23, [0, 0]), {}, ShapeError, r"einsum: label 0 .*operand 0"),
    (("ij,jk", A23, B34), {"optimize": 3}, InputError, r"einsum: optimize="),
    (("ij,jk,kl", A23, B34, B34.T), {"optimize": "foo"}, InputError, r"einsum: optimize="),
    (("ij,jk", A23, B34), {"casting": "foo"}, InputError, r"einsum: casting="),
    (("ij,jk", A23, B34), {"order": "X"}, InputError, r"einsum: order="),
    (("ij,jk", A23, B34), {"out": np.ones((2, 4))}, UnsupportedError, r"einsum: the out= argument"),
]


@pytest.mark.parametrize("args,kwargs,err,match", ERRORS, ids=[str(i) for i in range(len(ERRORS))])
def test_einsum_errors(args, kwargs, err, match):
    """Malformed specs raise funcgrad errors naming einsum and the problem,
    where NumPy rejects them too (out= aside: arrays are immutable)."""
    with pytest.raises(err, match=match):
        fnp.einsum(*args, **kwargs)
    assert issubclass(err, fg.FuncgradError)
    if err is not UnsupportedError:
        with pytest.raises((ValueError, TypeError, KeyError, UnicodeError)):
            np.einsum(*args, **kwargs)
    if args and any(isinstance(a, np.ndarray) for a in args):   # the same error while tracing
        k = next(i for i, a in enumerate(args) if isinstance(a, np.ndarray))

        def f(x):
            return fnp.einsum(*args[:k], x, *args[k + 1:], **kwargs)
        with pytest.raises(err, match=match):
            fg.jit(f)(args[k])


def test_einsum_errors_traced_operand_in_sublist_slot():
    """A traced array where a sublist belongs names the pairing."""
    a = np.ones((2, 3))
    with pytest.raises(InputError, match="einsum: .*traced array.*subscripts of operand 0"):
        fg.jit(lambda x: fnp.einsum(x, x))(a)
    with pytest.raises(InputError, match="einsum: .*output sublist.*traced"):
        fg.jit(lambda x: fnp.einsum(x, [0, 1], x))(a)


def test_einsum_numba():
    """Both forms, values and gradients, compiled by Numba (one compile)."""
    a, b = rng.normal(size=(2, 3, 4)), rng.normal(size=(4, 5))

    def loss(x, y):
        p = fnp.einsum(x, [Ellipsis, 0, 1], y, [1, 2], [Ellipsis, 0, 2])
        q = fnp.einsum("bij,bik->jk", x, x)
        return fnp.sum(p ** 2) + fnp.sum(fnp.einsum("ii->i", q))

    def ref(x, y):
        return np.sum(np.einsum("...ij,jk->...ik", x, y) ** 2) + np.trace(np.einsum("bij,bik->jk", x, x))

    v, (ga, gb) = fg.jit(fg.value_and_grad(loss, argnums=(0, 1)), backend="numba")(a, b)
    np.testing.assert_allclose(v, ref(a, b), rtol=1e-12)
    assert rel_error(ga, numerical_grad(ref, (a, b), 0)) < 1e-7
    assert rel_error(gb, numerical_grad(ref, (a, b), 1)) < 1e-7


# ----------------------------------------------------------------------------- casts

SCALAR_TYPES = ["float16", "float32", "float64", "int8", "int16", "int32", "int64",
                "uint8", "uint16", "uint32", "uint64", "bool_"]


@pytest.mark.parametrize("name", SCALAR_TYPES)
def test_scalar_type_traces(name):
    """fnp.<type>(x) on a traced value is asarray(x, dtype), as in JAX."""
    t, npt = getattr(fnp, name), getattr(np, name)
    x = np.array([[0.0, 1.7, -0.0], [3.2, 0.4, 100.9]])
    if npt(0).dtype.kind == "u":
        x = np.abs(x)
    out = fg.jit(lambda v: t(v))(x)
    assert out.dtype == np.dtype(npt)
    np.testing.assert_array_equal(out, x.astype(npt))
    lst = fg.jit(lambda v: t([v[0, 0], v[1, 1]]))(x)
    np.testing.assert_array_equal(lst, x[[0, 1], [0, 1]].astype(npt))


@pytest.mark.parametrize("name", SCALAR_TYPES)
def test_scalar_type_is_still_a_dtype(name):
    """Everything a NumPy scalar type did as a dtype still works: np.dtype,
    dtype= arguments, astype, equality and hashing with NumPy's type,
    isinstance, finfo/iinfo, pickling; concrete calls return NumPy's scalars."""
    t, npt = getattr(fnp, name), getattr(np, name)
    assert np.dtype(t) == np.dtype(npt) == t.dtype
    assert t == npt and npt == t and not (t != npt) and hash(t) == hash(npt)
    assert t in {npt: 1} and npt in {t} and t in (npt,)
    assert np.zeros(2, dtype=t).dtype == np.dtype(npt)
    assert fnp.zeros(2, dtype=t).dtype == np.dtype(npt)
    assert fnp.ones(2).astype(t).dtype == np.dtype(npt)
    assert fg.jit(lambda v: v.astype(t))(np.ones(2)).dtype == np.dtype(npt)
    assert fg.jit(lambda v: fnp.asarray(v, dtype=t))(np.ones(2)).dtype == np.dtype(npt)
    assert fg.jit(lambda v: fnp.zeros_like(v, dtype=t))(np.ones(2)).dtype == np.dtype(npt)
    s = t(1)
    assert type(s) is npt and isinstance(s, t) and s == npt(1)
    assert type(t(np.ones(3))) is np.ndarray and t([1, 0]).dtype == np.dtype(npt)
    assert t() == npt()
    assert not isinstance(1.0, t)
    info = np.finfo(t) if np.dtype(npt).kind == "f" else np.iinfo(t) if np.dtype(npt).kind in "iu" else None
    assert info is None or info.dtype == np.dtype(npt)
    assert np.issubdtype(t, np.floating) == np.issubdtype(npt, np.floating)
    assert pickle.loads(pickle.dumps(t)) is t
    assert fnp.result_type(t, 1) == np.result_type(npt, 1)


CAST_FUNCS = [
    ("int64", lambda x: fnp.int64(x)),
    ("int32", lambda x: fnp.int32(x)),
    ("astype_int", lambda x: x.astype(int)),
    ("astype_fnp_int32", lambda x: x.astype(fnp.int32)),
    ("asarray_int", lambda x: fnp.asarray(x, dtype=int)),
    ("array_np_int32", lambda x: fnp.array(x, dtype=np.int32)),
    ("astype_bool", lambda x: x.astype(bool)),
    ("bool_", lambda x: fnp.bool_(x)),
    ("np_astype_int", lambda x: fnp.astype(x, "int16")),
]


@pytest.mark.parametrize("name,cast", CAST_FUNCS, ids=[c[0] for c in CAST_FUNCS])
def test_integer_casts_have_no_cotangent(name, cast):
    """Float -> int/bool casts trace; the integer value is a constant for the
    gradient (d/dx of x * trunc(x) is trunc(x) between integers)."""
    x = np.array([[0.3, 1.7, -2.6], [3.2, -0.4, 5.9]])
    dt = np.dtype(np.asarray(cast(x)).dtype)
    assert dt.kind in "iub"
    traced = fg.jit(cast)(x)
    assert traced.dtype == dt
    np.testing.assert_array_equal(traced, x.astype(dt))

    def f(v):
        return fnp.sum(v * cast(v))

    def ref(v):
        return np.sum(v * v.astype(dt))

    g = fg.grad(f)(x)
    assert g.dtype == np.float64
    np.testing.assert_allclose(g, x.astype(dt).astype(np.float64), rtol=0)
    np.testing.assert_allclose(g, numerical_grad(ref, (x,)), rtol=1e-8, atol=1e-8)
    # the cast alone contributes nothing
    np.testing.assert_array_equal(fg.grad(lambda v: fnp.sum(cast(v).astype(float)))(x), np.zeros_like(x))


def test_float_casts_keep_gradients_and_dtypes():
    """float32 <-> float64 casts carry cotangents back in the input's dtype;
    a float32 program stays float32 from input to gradient."""
    x32 = rng.normal(size=(2, 3)).astype(np.float32)
    x64 = x32.astype(np.float64)

    def up(v):        # float32 -> float64 -> float32
        return fnp.sum(fnp.float32(fnp.exp(fnp.float64(v)) * 2.0))

    g = fg.grad(up)(x32)
    assert g.dtype == np.float32 and fg.jit(up)(x32).dtype == np.float32
    np.testing.assert_allclose(g, 2.0 * np.exp(x64), rtol=1e-6)

    def down(v):      # float64 -> float32 (computed there) -> float64
        return fnp.sum(fnp.float64(fnp.tanh(fnp.float32(v)) ** 2))

    g = fg.grad(down)(x64)
    assert g.dtype == np.float64
    np.testing.assert_allclose(g, numerical_grad(lambda v: np.sum(np.tanh(v) ** 2), (x64,)), rtol=1e-5)
    for cast in (lambda v: v.astype(np.float64), lambda v: fnp.asarray(v, dtype=float),
                 lambda v: fnp.array(v, dtype=fnp.float64), lambda v: v.astype("float64")):
        g = fg.grad(lambda v: fnp.sum(cast(v) ** 2))(x32)
        assert g.dtype == np.float32
        np.testing.assert_allclose(g, 2 * x32, rtol=1e-6)
    g = fg.grad(lambda v: fnp.sum(fnp.sin(fnp.float32(v)).astype(float) * fnp.float64(v)))(x64)
    assert g.dtype == np.float64
    np.testing.assert_allclose(g, np.cos(x64) * x64 + np.sin(x64), rtol=1e-6)


def test_explicit_dtype_is_strong():
    """An explicit cast makes a Python-number argument strongly typed (as in
    JAX): it then promotes like an array of that dtype."""
    x32 = np.ones(3, np.float32)
    assert fg.jit(lambda s, x: s * x)(2.0, x32).dtype == np.float32
    assert fg.jit(lambda s, x: fnp.float64(s) * x)(2.0, x32).dtype == np.float64
    assert fg.jit(lambda s, x: fnp.asarray(s, dtype=float) * x)(2.0, x32).dtype == np.float64
    assert fg.jit(lambda s, x: fnp.float32(s) * x)(2.0, x32).dtype == np.float32


def test_int_of_tracer_still_raises():
    """int(), float() and np.int64() of a traced value need its value."""
    x = np.ones(())
    for f in (int, float, bool, np.int64):
        with pytest.raises(TracerBoolError):
            fg.jit(lambda v: f(v))(x)


def test_casts_numba():
    """Casts and their gradients compiled by Numba (one compile)."""
    x32 = np.array([[0.3, 1.7, -2.6], [3.2, -0.4, 5.9]], np.float32)

    def f(v, s):
        i = fnp.int32(v)
        return fnp.sum(fnp.float64(v) * i) + fnp.sum(fnp.float32(fnp.bool_(v))) * fnp.float64(s)

    v, g = fg.jit(fg.value_and_grad(f), backend="numba")(x32, 2.0)
    assert g.dtype == np.float32 and v.dtype == np.float64
    np.testing.assert_allclose(v, np.sum(x32.astype(np.float64) * x32.astype(np.int32)) + 12, rtol=1e-12)
    np.testing.assert_array_equal(g, x32.astype(np.int32).astype(np.float32))
