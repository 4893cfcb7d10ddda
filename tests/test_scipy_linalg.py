"""funcgrad.scipy.linalg against scipy.linalg: values (2-D and batched,
vectors and matrices on the right), gradients against central finite
differences of SciPy's functions, traced pivots in lu_solve, expm over a
range of norms, float32 kept."""
import numpy as np
import pytest

sl = pytest.importorskip("scipy.linalg")

import funcgrad as fg  # noqa: E402
import funcgrad.numpy as fnp  # noqa: E402
import funcgrad.scipy.linalg as fsl  # noqa: E402
from fd import check_grads  # noqa: E402

rng = np.random.default_rng(11)


def general(n):
    return rng.normal(size=(n, n)) + np.sqrt(n) * np.eye(n)


def spd(n):
    a = rng.normal(size=(n, n))
    return a @ a.T / n + np.eye(n)


A, S = general(4), spd(4)
B, b = rng.normal(size=(4, 3)), rng.normal(size=4)


@pytest.mark.parametrize("unit", [False, True])
@pytest.mark.parametrize("trans", [0, 1, "T"])
@pytest.mark.parametrize("lower", [True, False])
@pytest.mark.parametrize("rhs", [B, b], ids=["matrix", "vector"])
def test_solve_triangular(rhs, lower, trans, unit):
    want = sl.solve_triangular(S, rhs, trans=trans, lower=lower, unit_diagonal=unit)
    np.testing.assert_allclose(fsl.solve_triangular(S, rhs, trans=trans, lower=lower, unit_diagonal=unit), want,
                               rtol=1e-12, atol=1e-12)
    f = fg.jit(lambda a, r: fsl.solve_triangular(a, r, trans=trans, lower=lower, unit_diagonal=unit))
    np.testing.assert_allclose(f(S, rhs), want, rtol=1e-12, atol=1e-12)


def test_solve_triangular_batched_and_gradients():
    a = np.stack([spd(3), spd(3)])
    r = rng.normal(size=(2, 3, 2))
    want = np.stack([sl.solve_triangular(a[i], r[i], lower=True) for i in range(2)])
    np.testing.assert_allclose(fsl.solve_triangular(a, r, lower=True), want, rtol=1e-12)
    check_grads(lambda a, r: fnp.sum(fsl.solve_triangular(a, r, lower=True, trans=1) ** 2), (S, B), argnums=(0, 1),
                ref=lambda a, r: np.sum(sl.solve_triangular(a, r, lower=True, trans=1) ** 2))


@pytest.mark.parametrize("lower", [True, False])
def test_cholesky_factor_and_solve(lower):
    c, low = fsl.cho_factor(S, lower=lower)
    assert low == lower
    want = sl.cholesky(S, lower=lower)
    np.testing.assert_allclose(c, want, rtol=1e-12, atol=1e-14)       # zeros in the other triangle
    np.testing.assert_allclose(fsl.cholesky(S, lower=lower), want, rtol=1e-12, atol=1e-14)
    for rhs in (B, b):
        np.testing.assert_allclose(fsl.cho_solve((c, lower), rhs), sl.cho_solve(sl.cho_factor(S, lower=lower), rhs),
                                   rtol=1e-11)
    check_grads(lambda s, r: fnp.sum(fsl.cho_solve(fsl.cho_factor(s, lower=lower), r) ** 2), (S, b), argnums=(0, 1),
                ref=lambda s, r: np.sum(sl.cho_solve(sl.cho_factor(s, lower=lower), r) ** 2))


def test_lu_factor_and_solve():
    lu, piv = fsl.lu_factor(A)
    slu, spiv = sl.lu_factor(A)
    np.testing.assert_allclose(lu, slu, rtol=1e-12, atol=1e-14)
    np.testing.assert_array_equal(piv, spiv)
    for trans in (0, 1):
        for rhs in (B, b):
            want = sl.lu_solve((slu, spiv), rhs, trans=trans)
            np.testing.assert_allclose(fsl.lu_solve((lu, piv), rhs, trans=trans), want, rtol=1e-11)
            # traced pivots: the permutation is built by a loop of swaps in the program
            f = fg.jit(lambda a, r: fsl.lu_solve(fsl.lu_factor(a), r, trans=trans))
            np.testing.assert_allclose(f(A, rhs), want, rtol=1e-11)
    check_grads(lambda a: fnp.sum(fsl.lu_solve(fsl.lu_factor(a), b) * b), (A,),
                ref=lambda a: np.sum(sl.lu_solve(sl.lu_factor(a), b) * b))


def test_lu():
    p, l, u = fsl.lu(A)
    sp, sl_, su = sl.lu(A)
    for x, y in ((p, sp), (l, sl_), (u, su)):
        np.testing.assert_allclose(x, y, rtol=1e-12, atol=1e-14)
    pl, u2 = fsl.lu(A, permute_l=True)
    np.testing.assert_allclose(pl, sl.lu(A, permute_l=True)[0], atol=1e-14)
    idx, l3, _ = fsl.lu(A, p_indices=True)
    np.testing.assert_allclose(l3[idx] @ u, A, atol=1e-12)


@pytest.mark.parametrize("scale", [0.01, 0.5, 3.0, 40.0])
def test_expm(scale):
    a = rng.normal(size=(4, 4)) * scale
    want = sl.expm(a)
    got = fsl.expm(a)
    assert np.max(np.abs(got - want)) <= 1e-12 * np.max(np.abs(want)) * max(1.0, scale)
    np.testing.assert_allclose(fg.jit(fsl.expm)(a), want, rtol=1e-10 * max(1.0, scale), atol=1e-13)


def test_expm_gradient_and_batch():
    a = rng.normal(size=(3, 3))
    w = rng.normal(size=(3, 3))
    check_grads(lambda a: fnp.sum(fsl.expm(a) * w), (a,), ref=lambda a: np.sum(sl.expm(a) * w), rtol=1e-6)
    batch = rng.normal(size=(2, 3, 3))
    np.testing.assert_allclose(fsl.expm(batch), np.stack([sl.expm(x) for x in batch]), rtol=1e-12)
    # exp of a skew-symmetric matrix is orthogonal; of diag(d), diag(exp(d))
    k = a - a.T
    q = fsl.expm(k)
    np.testing.assert_allclose(q @ q.T, np.eye(3), atol=1e-12)
    np.testing.assert_allclose(fsl.expm(np.diag([1.0, -2.0, 0.5])), np.diag(np.exp([1.0, -2.0, 0.5])), rtol=1e-13)


def test_solve_variants_and_others():
    for assume in (None, "gen", "sym", "pos"):
        np.testing.assert_allclose(fsl.solve(S, B, assume_a=assume), sl.solve(S, B, assume_a=assume), rtol=1e-11)
    np.testing.assert_allclose(fsl.solve(A, b, transposed=True), sl.solve(A, b, transposed=True), rtol=1e-11)
    w, v = fsl.eigh(S)
    np.testing.assert_allclose(w, sl.eigh(S, eigvals_only=True), rtol=1e-12)
    np.testing.assert_allclose(fsl.eigh(S, lower=False, eigvals_only=True), sl.eigh(S, lower=False, eigvals_only=True),
                               rtol=1e-12)
    np.testing.assert_allclose(fsl.svd(A, compute_uv=False), sl.svd(A, compute_uv=False), rtol=1e-12)
    q, r = fsl.qr(A, mode="economic")
    np.testing.assert_allclose(q @ r, A, atol=1e-12)
    np.testing.assert_allclose(fsl.det(A), sl.det(A), rtol=1e-12)
    np.testing.assert_allclose(fsl.inv(A), sl.inv(A), rtol=1e-11)


def test_float32_is_kept():
    s = S.astype(np.float32)
    for f in (lambda s: fsl.cho_solve(fsl.cho_factor(s), s[0]), fsl.expm,
              lambda s: fsl.solve_triangular(s, s, lower=True), lambda s: fsl.lu_solve(fsl.lu_factor(s), s[0])):
        assert np.asarray(f(s)).dtype == np.float32
        assert fg.grad(lambda s: fnp.sum(f(s)))(s).dtype == np.float32


def test_errors():
    with pytest.raises(fg.ShapeError, match="scipy.linalg.solve_triangular"):
        fsl.solve_triangular(np.eye(3), np.ones(4))
    with pytest.raises(fg.ShapeError, match="scipy.linalg.expm: needs square"):
        fsl.expm(np.ones((2, 3)))
    with pytest.raises(ValueError, match="trans"):
        fsl.solve_triangular(np.eye(2), np.ones(2), trans=5)
