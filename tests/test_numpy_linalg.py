"""funcgrad.numpy.linalg against numpy.linalg: values on several shapes
(2-D, batched ``...xMxN``, size-1), float32 kept, gradients against central
finite differences of NumPy's functions on well-conditioned matrices (SPD
ones for cholesky / eigh), higher order, jvp and vmap, NumPy's own
``np.linalg.*`` on traced values, errors, and one Numba program."""
import numpy as np
import pytest

import funcgrad as fg
import funcgrad.numpy as fnp
from fd import check_grads, rel_error

LA = fnp.linalg
rng = np.random.default_rng(7)


def general(*shape):
    n = shape[-1]
    return rng.normal(size=shape) + np.sqrt(n) * np.eye(n)


def spd(*shape):
    a = rng.normal(size=shape)
    return a @ np.swapaxes(a, -1, -2) / shape[-1] + np.eye(shape[-1])


def spread_sym(*shape):
    """Symmetric, eigenvalues 1 apart."""
    n = shape[-1]
    out = np.empty(shape)
    for idx in np.ndindex(shape[:-2]):
        q, _ = np.linalg.qr(rng.normal(size=(n, n)))
        out[idx] = q @ np.diag(1.0 + np.arange(n)) @ q.T
    return out


SHAPES = [(3, 3), (2, 4, 4), (1, 1), (2, 1, 2, 2)]


# ----------------------------------------------------------------------------- values

VALUE_CASES = {
    "det": (LA.det, np.linalg.det, general),
    "slogdet_sign": (lambda a: LA.slogdet(a)[0], lambda a: np.linalg.slogdet(a)[0], general),
    "slogdet": (lambda a: LA.slogdet(a).logabsdet, lambda a: np.linalg.slogdet(a)[1], general),
    "inv": (LA.inv, np.linalg.inv, general),
    "cholesky": (LA.cholesky, np.linalg.cholesky, spd),
    "cholesky_upper": (lambda a: LA.cholesky(a, upper=True), lambda a: np.linalg.cholesky(a, upper=True), spd),
    "eigvalsh": (LA.eigvalsh, np.linalg.eigvalsh, spread_sym),
    "eigvalsh_U": (lambda a: LA.eigvalsh(a, UPLO="U"), lambda a: np.linalg.eigvalsh(a, UPLO="U"), spread_sym),
    "svdvals": (lambda a: LA.svd(a, compute_uv=False), lambda a: np.linalg.svd(a, compute_uv=False), general),
    "pinv": (LA.pinv, np.linalg.pinv, general),
    "matrix_power3": (lambda a: LA.matrix_power(a, 3), lambda a: np.linalg.matrix_power(a, 3), general),
    "matrix_power-2": (lambda a: LA.matrix_power(a, -2), lambda a: np.linalg.matrix_power(a, -2), general),
    "matrix_power0": (lambda a: LA.matrix_power(a, 0), lambda a: np.linalg.matrix_power(a, 0), general),
    "norm_fro": (lambda a: LA.norm(a, axis=(-2, -1)), lambda a: np.linalg.norm(a, axis=(-2, -1)), general),
    "norm_nuc": (lambda a: LA.norm(a, "nuc", axis=(-2, -1)), lambda a: np.linalg.norm(a, "nuc", axis=(-2, -1)),
                 general),
    "norm_2": (lambda a: LA.norm(a, 2, axis=(-2, -1)), lambda a: np.linalg.norm(a, 2, axis=(-2, -1)), general),
    "norm_-2": (lambda a: LA.norm(a, -2, axis=(-2, -1)), lambda a: np.linalg.norm(a, -2, axis=(-2, -1)), general),
    "norm_1": (lambda a: LA.norm(a, 1, axis=(-2, -1)), lambda a: np.linalg.norm(a, 1, axis=(-2, -1)), general),
    "norm_inf": (lambda a: LA.norm(a, np.inf, axis=(-2, -1)), lambda a: np.linalg.norm(a, np.inf, axis=(-2, -1)),
                 general),
    "cond": (LA.cond, np.linalg.cond, general),
    "matrix_rank": (LA.matrix_rank, np.linalg.matrix_rank, general),
    "matrix_transpose": (LA.matrix_transpose, np.linalg.matrix_transpose, general),
    "trace": (LA.trace, np.linalg.trace, general),
    "diagonal": (LA.diagonal, np.linalg.diagonal, general),
}


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("name", sorted(VALUE_CASES))
def test_values_match_numpy(name, shape):
    f, ref, make = VALUE_CASES[name]
    a = make(*shape)
    np.testing.assert_allclose(np.asarray(f(a)), ref(a), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(np.asarray(fg.jit(f)(a)), ref(a), rtol=1e-10, atol=1e-12)   # traced


@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_decompositions_reconstruct(shape):
    a = general(*shape)
    s = spread_sym(*shape)
    w, v = LA.eigh(s)
    np.testing.assert_allclose(w, np.linalg.eigvalsh(s), rtol=1e-12)
    np.testing.assert_allclose((v * w[..., None, :]) @ np.swapaxes(v, -1, -2), s, atol=1e-12)
    for full in (True, False):
        u, sv, vt = LA.svd(a, full_matrices=full)
        k = sv.shape[-1]
        np.testing.assert_allclose((u[..., :, :k] * sv[..., None, :]) @ vt[..., :k, :], a, atol=1e-12)
    for mode in ("reduced", "complete"):
        q, r = LA.qr(a, mode=mode)
        np.testing.assert_allclose(q @ r, a, atol=1e-12)
        np.testing.assert_allclose(np.swapaxes(q, -1, -2) @ q, np.broadcast_to(np.eye(q.shape[-1]), q.shape[:-2] +
                                   (q.shape[-1],) * 2), atol=1e-12)
        np.testing.assert_allclose(np.abs(r), np.abs(np.linalg.qr(a, mode=mode)[1]), atol=1e-12)
    np.testing.assert_allclose(LA.qr(a, mode="r"), np.linalg.qr(a, mode="r"), atol=1e-12)


@pytest.mark.parametrize("m,n", [(5, 3), (3, 5), (1, 4)])
def test_rectangular(m, n):
    a = rng.normal(size=(m, n))
    np.testing.assert_allclose(LA.pinv(a), np.linalg.pinv(a), atol=1e-12)
    np.testing.assert_allclose(LA.svd(a, compute_uv=False), np.linalg.svd(a, compute_uv=False), atol=1e-12)
    for full in (True, False):
        u, s, vt = LA.svd(a, full_matrices=full)
        nu, ns, nvt = np.linalg.svd(a, full_matrices=full)
        assert u.shape == nu.shape and vt.shape == nvt.shape
        np.testing.assert_allclose(np.abs(u), np.abs(nu), atol=1e-12)
    b = rng.normal(size=(m, 2))
    x, res, rank, s = LA.lstsq(a, b)
    nx, nres, nrank, ns = np.linalg.lstsq(a, b)
    np.testing.assert_allclose(x, nx, atol=1e-12)
    assert int(rank) == nrank
    np.testing.assert_allclose(s, ns, atol=1e-12)
    if nres.size:
        np.testing.assert_allclose(res, nres, atol=1e-12)


@pytest.mark.parametrize("b_shape", [(4,), (4, 2), (3, 4, 2), (1, 4, 1)], ids=str)
@pytest.mark.parametrize("a_shape", [(4, 4), (3, 4, 4), (1, 4, 4)], ids=str)
def test_solve_broadcasting(a_shape, b_shape):
    a, b = general(*a_shape), rng.normal(size=b_shape)
    try:
        want = np.linalg.solve(a, b)
    except ValueError:
        with pytest.raises(ValueError):
            LA.solve(a, b)
        return
    np.testing.assert_allclose(LA.solve(a, b), want, rtol=1e-11, atol=1e-12)
    np.testing.assert_allclose(fg.jit(LA.solve)(a, b), want, rtol=1e-11, atol=1e-12)


def test_norms_of_vectors():
    x = rng.normal(size=(3, 5))
    for ord in (None, 2, 1, np.inf, -np.inf, 0, 3, 0.5):
        for axis in (None, 0, 1, -1):
            if axis is None and ord is not None:
                continue
            np.testing.assert_allclose(LA.norm(x, ord, axis=axis), np.linalg.norm(x, ord, axis=axis), rtol=1e-12)
            np.testing.assert_allclose(LA.norm(x, ord, axis=axis, keepdims=True),
                                       np.linalg.norm(x, ord, axis=axis, keepdims=True), rtol=1e-12)
    np.testing.assert_allclose(LA.norm(x, "fro"), np.linalg.norm(x, "fro"))
    np.testing.assert_allclose(LA.vector_norm(x, axis=(0, 1), ord=3), np.linalg.vector_norm(x, axis=(0, 1), ord=3))
    np.testing.assert_allclose(LA.matrix_norm(x, ord="nuc"), np.linalg.matrix_norm(x, ord="nuc"))


def test_multi_dot_and_products():
    a, b, c, v = rng.normal(size=(2, 30)), rng.normal(size=(30, 5)), rng.normal(size=(5, 40)), rng.normal(size=40)
    np.testing.assert_allclose(LA.multi_dot([a, b, c, v]), np.linalg.multi_dot([a, b, c, v]), rtol=1e-12)
    np.testing.assert_allclose(LA.multi_dot([v[:2], a, b]), np.linalg.multi_dot([v[:2], a, b]), rtol=1e-12)
    np.testing.assert_allclose(LA.outer(v[:3], v[:4]), np.linalg.outer(v[:3], v[:4]))
    np.testing.assert_allclose(LA.cross(a[:, :3], c[:2, :3]), np.linalg.cross(a[:, :3], c[:2, :3]))
    np.testing.assert_allclose(LA.vecdot(a, a), np.linalg.vecdot(a, a))


def test_float32_is_kept():
    a = general(3, 3).astype(np.float32)
    s = spd(3, 3).astype(np.float32)
    for f, x in [(LA.det, a), (LA.inv, a), (LA.cholesky, s), (LA.eigvalsh, s), (LA.pinv, a), (LA.norm, a),
                 (lambda x: LA.slogdet(x)[1], a), (lambda x: LA.solve(x, x[0]), a), (lambda x: LA.svd(x)[1], a),
                 (lambda x: LA.qr(x)[0], a), (lambda x: LA.eigh(x)[1], s)]:
        assert np.asarray(f(x)).dtype == np.float32
        g = fg.grad(lambda x: fnp.sum(f(x)))(x)
        assert g.dtype == np.float32
    np.testing.assert_allclose(LA.inv(a), np.linalg.inv(a.astype(np.float64)), rtol=1e-4, atol=1e-5)


def test_integer_input_becomes_float64():
    a = np.array([[2, 1], [1, 3]])
    assert np.asarray(LA.det(a)).dtype == np.float64
    np.testing.assert_allclose(LA.inv(a), np.linalg.inv(a))


# ----------------------------------------------------------------------------- gradients

W = rng.normal(size=(4, 4))


def _projector(v):     # sign-invariant function of eigen/singular vectors
    return v @ np.swapaxes(v, -1, -2) if isinstance(v, np.ndarray) else v @ fnp.swapaxes(v, -1, -2)


GRAD_CASES = {
    "solve": (lambda a: fnp.sum(LA.solve(a, W[:, :2]) ** 2), lambda a: np.sum(np.linalg.solve(a, W[:, :2]) ** 2),
              general),
    "solve_vec": (lambda a: fnp.sum(LA.solve(a, W[0]) * W[1]), lambda a: np.sum(np.linalg.solve(a, W[0]) * W[1]),
                  general),
    "inv": (lambda a: fnp.sum(LA.inv(a) * W), lambda a: np.sum(np.linalg.inv(a) * W), general),
    "det": (LA.det, np.linalg.det, general),
    "slogdet": (lambda a: LA.slogdet(a)[1], lambda a: np.linalg.slogdet(a)[1], general),
    "cholesky": (lambda a: fnp.sum(LA.cholesky(a) * W), lambda a: np.sum(np.linalg.cholesky(a) * W), spd),
    "eigh_values": (lambda a: fnp.sum(LA.eigvalsh(a) * W[0]), lambda a: np.sum(np.linalg.eigvalsh(a) * W[0]),
                    spread_sym),
    "eigh_vectors": (lambda a: fnp.sum(_projector(LA.eigh(a)[1][:, :2]) * W),
                     lambda a: np.sum(_projector(np.linalg.eigh(a)[1][:, :2]) * W), spread_sym),
    "svd_values": (lambda a: fnp.sum(LA.svd(a, compute_uv=False) * W[0]),
                   lambda a: np.sum(np.linalg.svd(a, compute_uv=False) * W[0]), general),
    "svd_vectors": (lambda a: fnp.sum(_projector(LA.svd(a)[0][:, :2]) * W),
                    lambda a: np.sum(_projector(np.linalg.svd(a)[0][:, :2]) * W), general),
    "qr": (lambda a: fnp.sum(fnp.abs(LA.qr(a)[1]) * W), lambda a: np.sum(np.abs(np.linalg.qr(a)[1]) * W),
           general),
    "pinv": (lambda a: fnp.sum(LA.pinv(a) * W), lambda a: np.sum(np.linalg.pinv(a) * W), general),
    "norm_2": (lambda a: LA.norm(a, 2), lambda a: np.linalg.norm(a, 2), general),
    "norm_nuc": (lambda a: LA.norm(a, "nuc"), lambda a: np.linalg.norm(a, "nuc"), general),
    "matrix_power": (lambda a: fnp.sum(LA.matrix_power(a, 3) * W), lambda a: np.sum(np.linalg.matrix_power(a, 3) * W),
                     general),
    "cond": (LA.cond, np.linalg.cond, general),
}


@pytest.mark.parametrize("name", sorted(GRAD_CASES))
def test_gradients_match_finite_differences(name):
    f, ref, make = GRAD_CASES[name]
    check_grads(f, (make(4, 4),), ref=ref, rtol=1e-6, value_rtol=1e-10)


def test_rectangular_gradients():
    a = rng.normal(size=(5, 3))
    b = rng.normal(size=5)
    check_grads(lambda a: fnp.sum(LA.pinv(a) * W[:3, :1]), (a,), ref=lambda a: np.sum(np.linalg.pinv(a) * W[:3, :1]))
    check_grads(lambda a: fnp.sum(LA.lstsq(a, b)[0] ** 2), (a,), ref=lambda a: np.sum(np.linalg.lstsq(a, b)[0] ** 2))
    check_grads(lambda a: fnp.sum(LA.svd(a, compute_uv=False) ** 3), (np.ascontiguousarray(a.T),),
                ref=lambda a: np.sum(np.linalg.svd(a, compute_uv=False) ** 3))
    check_grads(lambda a: fnp.sum(fnp.abs(LA.qr(a)[1]) * W[:3, :3]), (a,),
                ref=lambda a: np.sum(np.abs(np.linalg.qr(a)[1]) * W[:3, :3]))


def test_solve_gradient_in_b_and_batched():
    a, b = general(2, 3, 3), rng.normal(size=(2, 3, 2))
    check_grads(lambda a, b: fnp.sum(LA.solve(a, b) ** 2), (a, b), argnums=(0, 1),
                ref=lambda a, b: np.sum(np.linalg.solve(a, b) ** 2))


def test_second_order():
    s = spd(3, 3)
    h = fg.hessian(lambda a: LA.slogdet(a)[1])(s)
    ai = np.linalg.inv(s)
    np.testing.assert_allclose(h, -np.einsum("li,jk->ijkl", ai, ai), atol=1e-10)      # d2 log det
    # hessian of a Cholesky-based quantity against finite differences of its gradient
    f = lambda a: fnp.sum(fnp.log(fnp.diagonal(LA.cholesky(a))))                     # noqa: E731
    g = fg.grad(f)
    h = fg.jacfwd(g)(s)
    eps = 1e-5
    num = np.zeros((3, 3, 3, 3))
    for i in np.ndindex(3, 3):
        e = np.zeros((3, 3))
        e[i] = eps
        num[(slice(None), slice(None)) + i] = (g(s + e) - g(s - e)) / (2 * eps)
    assert rel_error(h, num) < 1e-6


def test_jvp_and_vmap():
    a, t = general(3, 3), rng.normal(size=(3, 3))
    out, tan = fg.jvp(LA.inv, (a,), (t,))
    ai = np.linalg.inv(a)
    np.testing.assert_allclose(tan, -ai @ t @ ai, atol=1e-12)
    batch = general(4, 3, 3)
    np.testing.assert_allclose(fg.vmap(LA.det)(batch), np.linalg.det(batch), rtol=1e-12)
    np.testing.assert_allclose(fg.vmap(LA.solve, in_axes=(None, 0))(a, batch[:, 0]), np.linalg.solve(a, batch[:, 0].T).T,
                               rtol=1e-11)
    g = fg.vmap(fg.grad(lambda a: LA.slogdet(a)[1]))(batch)
    np.testing.assert_allclose(g, np.swapaxes(np.linalg.inv(batch), -1, -2), rtol=1e-10)
    s = spd(4, 3, 3)
    np.testing.assert_allclose(fg.vmap(LA.cholesky)(s), np.linalg.cholesky(s), rtol=1e-12)


def test_named_results_under_transformations():
    """slogdet / eigh / svd / qr return NumPy's named results, also from jit,
    vmap and as grad's aux."""
    a, s, batch = general(3, 3), spd(3, 3), general(2, 3, 3)
    r = fg.jit(LA.slogdet)(a)
    assert type(r) is type(LA.slogdet(a))
    np.testing.assert_allclose((r.sign, r.logabsdet), np.linalg.slogdet(a), rtol=1e-12)
    w, v = fg.jit(LA.eigh)(s)
    np.testing.assert_allclose(fg.jit(LA.eigh)(s).eigenvalues, np.linalg.eigvalsh(s), rtol=1e-12)
    np.testing.assert_allclose(v @ np.diag(w) @ v.T, s, atol=1e-12)
    u, sv, vh = fg.jit(LA.svd)(a)
    np.testing.assert_allclose(u @ np.diag(sv) @ vh, a, atol=1e-12)
    np.testing.assert_allclose(fg.jit(LA.qr)(a).R, np.linalg.qr(a).R, atol=1e-12)
    rb = fg.vmap(LA.slogdet)(batch)
    np.testing.assert_allclose(rb.logabsdet, np.linalg.slogdet(batch).logabsdet, rtol=1e-12)
    g, aux = fg.grad(lambda a: (LA.slogdet(a).logabsdet, LA.slogdet(a)), has_aux=True)(a)
    np.testing.assert_allclose(g, np.linalg.inv(a).T, rtol=1e-10)
    np.testing.assert_allclose(aux.sign, np.linalg.slogdet(a).sign)


def test_numpy_functions_on_traced_values():
    a = general(3, 3)

    def f(a):
        return (np.linalg.det(a) + np.linalg.norm(a) + np.sum(np.linalg.inv(a)) + np.linalg.slogdet(a)[1]
                + np.sum(np.linalg.solve(a, a[0])) + np.sum(np.linalg.eigvalsh(a @ a.T)))

    np.testing.assert_allclose(fg.jit(f)(a), f(a), rtol=1e-12)
    check_grads(f, (a,), rtol=1e-6)
    with pytest.raises(fg.UnsupportedError, match="eig"):
        fg.jit(lambda a: np.linalg.eig(a))(a)


def test_errors_name_the_operation():
    with pytest.raises(fg.ShapeError, match=r"numpy.linalg.inv: needs square matrices.*f64\[2,3\]"):
        LA.inv(np.ones((2, 3)))
    with pytest.raises(fg.ShapeError, match="numpy.linalg.det: needs an array of at least 2"):
        LA.det(np.ones(3))
    with pytest.raises(fg.ShapeError, match="numpy.linalg.solve"):
        LA.solve(np.eye(3), np.ones(4))
    with pytest.raises(fg.UnsupportedError, match="full_matrices"):
        fg.grad(lambda a: fnp.sum(LA.svd(a)[0]))(np.ones((3, 2)) + np.eye(3, 2))
    with pytest.raises(fg.UnsupportedError, match="mode='raw'"):
        fg.jit(lambda a: LA.qr(a, mode="raw"))(np.eye(2))


def test_not_positive_definite_gives_nan():
    out = fg.jit(LA.cholesky)(np.array([[1.0, 2.0], [2.0, 1.0]]))
    assert np.isnan(out).all()


def test_numba_backend_matches_interpreter():
    # one program (each LAPACK primitive is also checked alone in tests/test_lowering_tables.py)
    a, s = general(2, 4, 4), spd(2, 4, 4)
    b = rng.normal(size=(2, 4, 3))

    def loss(a, s, b):
        terms = (LA.solve(a, b), LA.slogdet(a)[1], LA.cholesky(s), LA.eigvalsh(s), LA.svd(a, compute_uv=False),
                 LA.inv(a))
        return sum(fnp.sum(t * t) for t in terms)

    g = fg.value_and_grad(loss, argnums=(0, 1, 2))
    want = fg.jit(g, backend="interpret")(a, s, b)
    got = fg.jit(g, backend="numba")(a, s, b)
    np.testing.assert_allclose(got[0], want[0], rtol=1e-11)
    for x, y in zip(got[1], want[1]):
        np.testing.assert_allclose(x, y, rtol=1e-9, atol=1e-11)
