"""autodiff.linalg: NumPy's values, the known derivatives of issue 19, and what happens where a
derivative does not exist (a LinAlgError or a LinAlgWarning, never a silent NaN).  The gradient
checks of every function are rows of tests/test_ops_gradcheck.py (LINALG_FUNCTIONS)."""

import math
import warnings

import numpy as np
import pytest

import autodiff as ad
from autodiff.linalg import LinAlgError, LinAlgWarning

RNG = np.random.default_rng(19)
A = RNG.standard_normal((3, 3)) + 2 * np.eye(3)
STACK = RNG.standard_normal((2, 4, 3))
SPD = A @ A.T + np.eye(3)
SYM = A + A.T


def close(t, expected, tol=1e-12):
    np.testing.assert_allclose(t.numpy(), expected, rtol=tol, atol=tol)


def grad(f, x):
    return ad.grad(f)(ad.tensor(x)).numpy()


# ----------------------------------------------------------------------------- NumPy's values
def test_values_agree_with_numpy():
    la = np.linalg
    a, s, spd = ad.tensor(A), ad.tensor(STACK), ad.tensor(SPD)
    close(ad.linalg.inv(a), la.inv(A))
    close(ad.linalg.det(a), la.det(A))
    sign, logabsdet = ad.linalg.slogdet(-a)
    close(sign, la.slogdet(-A).sign)
    close(logabsdet, la.slogdet(-A).logabsdet)
    close(ad.linalg.cholesky(spd), la.cholesky(SPD))
    close(ad.linalg.cholesky(spd, upper=True), la.cholesky(SPD).T)
    close(ad.linalg.eigvalsh(ad.tensor(SYM)), la.eigvalsh(SYM))
    w, v = ad.linalg.eigh(ad.tensor(SYM), UPLO="U")
    close(w, la.eigh(SYM, UPLO="U").eigenvalues)
    close(v, la.eigh(SYM, UPLO="U").eigenvectors)
    close(ad.linalg.svd(s, compute_uv=False), la.svd(STACK, compute_uv=False))
    close(ad.linalg.pinv(s), la.pinv(STACK))
    close(ad.linalg.matrix_power(a, 5), la.matrix_power(A, 5), 1e-10)
    close(ad.linalg.matrix_power(a, -3), la.matrix_power(A, -3))
    close(ad.linalg.matrix_power(a, 0), np.eye(3))


@pytest.mark.parametrize("shape", [(2, 4, 3), (3, 5), (3, 3)], ids=str)
@pytest.mark.parametrize("full_matrices", [False, True])
def test_svd_reconstructs_and_has_numpys_shapes(shape, full_matrices):
    x = RNG.standard_normal(shape)
    u, s, vh = ad.linalg.svd(ad.tensor(x), full_matrices=full_matrices)
    nu, ns, nvh = np.linalg.svd(x, full_matrices=full_matrices)
    assert (u.shape, s.shape, vh.shape) == (nu.shape, ns.shape, nvh.shape)
    close(s, ns)
    k = s.shape[-1]
    close((u[..., :k] * s[..., None, :]) @ vh[..., :k, :], x)
    close(u.mT @ u, np.broadcast_to(np.eye(u.shape[-1]), u.shape[:-2] + (u.shape[-1],) * 2))
    close(vh @ vh.mT, np.broadcast_to(np.eye(vh.shape[-2]), vh.shape[:-2] + (vh.shape[-2],) * 2))


@pytest.mark.parametrize("shape", [(2, 4, 3), (3, 5), (3, 3)], ids=str)
@pytest.mark.parametrize("mode", ["reduced", "complete", "r"])
def test_qr_has_numpys_shapes_and_r(shape, mode):
    x = RNG.standard_normal(shape)
    out = ad.linalg.qr(ad.tensor(x), mode=mode)
    expected = np.linalg.qr(x, mode=mode)
    if mode == "r":
        close(out, expected)
        return
    q, r = out
    assert (q.shape, r.shape) == (expected.Q.shape, expected.R.shape)
    close(r, expected.R)
    close(q @ r, x)
    close(q.mT @ q, np.broadcast_to(np.eye(q.shape[-1]), q.shape[:-2] + (q.shape[-1],) * 2))


NORMS = [
    (None, None),
    (None, 1),
    (2, 0),
    (math.inf, -1),
    (-math.inf, 0),
    (0, 1),
    (1, -1),
    (3, 1),
    (0.5, 0),
    (-1.5, 1),
    ("fro", (0, 2)),
    ("nuc", (2, 0)),
    (2, (1, 2)),
    (-2, (-1, 0)),
    (1, (0, 1)),
    (-1, (2, 1)),
    (math.inf, (1, 0)),
    (-math.inf, (0, 2)),
]


@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("ord_axis", NORMS, ids=str)
def test_norm_agrees_with_numpy(ord_axis, keepdims):
    ord, axis = ord_axis
    x = RNG.standard_normal((2, 3, 4))
    x[0, 1] = 0.0
    close(ad.linalg.norm(ad.tensor(x), ord, axis, keepdims), np.linalg.norm(x, ord, axis, keepdims))


def test_norm_without_axis_is_a_vector_or_matrix_norm_by_ndim():
    close(ad.linalg.norm(ad.tensor(A), "nuc"), np.linalg.norm(A, "nuc"))
    close(ad.linalg.norm(ad.tensor(A[0]), 1), np.linalg.norm(A[0], 1))
    close(ad.linalg.norm(ad.tensor(STACK)), np.linalg.norm(STACK))


# ----------------------------------------------------------------------------- known derivatives
def test_derivative_of_det_is_det_times_inverse_transpose():
    close(ad.tensor(grad(ad.linalg.det, A)), np.linalg.det(A) * np.linalg.inv(A).T)


def test_derivative_of_log_abs_det_is_inverse_transpose():
    expected = np.linalg.inv(-A).T
    close(ad.tensor(grad(lambda a: ad.linalg.slogdet(a).logabsdet, -A)), expected)


def test_gradient_of_the_eigenvalue_sum_is_the_identity_even_at_repeated_eigenvalues():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for a in (SYM, np.eye(3), np.diag([2.0, 2.0, -1.0])):
            close(ad.tensor(grad(lambda x: ad.linalg.eigvalsh(x).sum(), a)), np.eye(3))


def test_gradient_of_the_largest_eigenvalue_is_v_vT():
    v = np.linalg.eigh(SYM).eigenvectors[:, -1]
    close(ad.tensor(grad(lambda x: ad.linalg.eigvalsh(x)[-1], SYM)), np.outer(v, v))
    close(ad.tensor(grad(lambda x: ad.linalg.eigh(x).eigenvalues[-1], SYM)), np.outer(v, v))


def test_derivative_of_the_nuclear_norm_is_U_VT():
    u, _, vh = np.linalg.svd(STACK[0], full_matrices=False)
    close(ad.tensor(grad(lambda x: ad.linalg.norm(x, "nuc"), STACK[0])), u @ vh)


def test_solve_agrees_with_the_inverse_times_b():
    b = RNG.standard_normal((2, 3, 2))
    a, bt = ad.tensor(A), ad.tensor(b)
    close(ad.linalg.solve(a, bt), np.linalg.inv(A) @ b)
    close(ad.linalg.solve(a, bt[0, :, 0]), np.linalg.inv(A) @ b[0, :, 0])
    close(ad.linalg.solve(a, bt), (ad.linalg.inv(a) @ bt).numpy())


@pytest.mark.cpu_only
@pytest.mark.parametrize("mode", ["fwd-rev", "rev-rev"])
def test_hessian_of_solve_matches_pytorch(mode):
    torch = pytest.importorskip("torch")
    b = RNG.standard_normal(3)

    def f(a):
        x = ad.linalg.solve(a, ad.tensor(b))
        return (x * x).sum() + ad.linalg.slogdet(a).logabsdet

    def g(a):
        return (torch.linalg.solve(a, torch.tensor(b)) ** 2).sum() + torch.linalg.slogdet(a).logabsdet

    expected = torch.func.hessian(g)(torch.tensor(A)).numpy()
    close(ad.hessian(f, mode=mode)(ad.tensor(A)), expected, 1e-10)


def test_second_derivatives_through_eigh_and_cholesky():
    """Hessian-vector products of compositions agree with finite differences of gradients."""
    sym = lambda a: a + a.mT  # noqa: E731

    def f(a):
        w, v = ad.linalg.eigh(sym(a))
        chol = ad.linalg.cholesky(sym(a) + 8 * ad.eye(3))
        return (w * ad.tensor([1.0, -2.0, 0.5])).sum() + (v**4).sum() + ad.sin(chol).sum()

    direction = RNG.standard_normal((3, 3))
    hv = ad.hvp(f, ad.tensor(A), ad.tensor(direction)).numpy()
    eps = 1e-6
    numerical = (grad(f, A + eps * direction) - grad(f, A - eps * direction)) / (2 * eps)
    np.testing.assert_allclose(hv, numerical, rtol=1e-6, atol=1e-6)


# ----------------------------------------------------------------------------- where no derivative exists
def test_singular_matrices_raise_a_linalg_error():
    singular = ad.tensor([[1.0, 2.0], [2.0, 4.0]], requires_grad=True)
    with pytest.raises(LinAlgError, match="linalg.inv: the matrix is singular"):
        ad.linalg.inv(singular)
    with pytest.raises(LinAlgError, match="linalg.solve: the matrix is singular"):
        ad.linalg.solve(singular, ad.tensor([1.0, 0.0]))
    assert ad.linalg.det(singular).item() == 0.0
    with pytest.raises(LinAlgError, match="linalg.inv: the matrix is singular"):
        ad.linalg.det(singular).backward()  # the adjugate is not computed
    with pytest.raises(LinAlgError, match="linalg.cholesky: the matrix is not positive definite"):
        ad.linalg.cholesky(-ad.eye(2))
    assert issubclass(LinAlgError, ValueError)


def test_repeated_eigenvalues_gauge_invariant_loss_is_exact_without_warning():
    """The projector onto the eigenspace of a repeated eigenvalue is smooth: its gradient is
    right (checked by finite differences) although dV does not exist."""
    c = ad.tensor(RNG.standard_normal((3, 3)))

    def projector_loss(a):
        v = ad.linalg.eigh(a + a.mT).eigenvectors[:, :2]  # eigenvalue 1, twice (A = diag(.5,.5,1))
        return ((v @ v.mT) * c).sum()

    at = np.diag([0.5, 0.5, 1.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # reverse mode: the loss does not couple the pair
        g = grad(projector_loss, at)
    eps, numerical = 1e-6, np.zeros((3, 3))
    for i, j in np.ndindex(3, 3):
        e = np.zeros((3, 3))
        e[i, j] = eps
        numerical[i, j] = (projector_loss(ad.tensor(at + e)) - projector_loss(ad.tensor(at - e))).item() / (
            2 * eps
        )
    np.testing.assert_allclose(g, numerical, atol=1e-8)
    with pytest.warns(
        LinAlgWarning, match="the tangent rotates their eigenspace"
    ):  # forward mode cannot tell
        _, tangent = ad.jvp(projector_loss, (ad.tensor(at),), (ad.tensor(RNG.standard_normal((3, 3))),))
    assert np.isfinite(tangent.item())


def test_repeated_eigenvalues_coupled_by_the_loss_warn_and_stay_finite():
    a = ad.tensor(np.diag([1.0, 1.0, 3.0]), requires_grad=True)
    with pytest.warns(LinAlgWarning, match="linalg.eigh: repeated eigenvalues"):
        (ad.linalg.eigh(a).eigenvectors[:, 0] * ad.tensor([1.0, 2.0, 3.0])).sum().backward()
    assert np.isfinite(a.grad.numpy()).all()


def test_repeated_and_zero_singular_values_warn_and_stay_finite():
    x = ad.tensor(np.eye(3)[:, :2] * 2.0, requires_grad=True)  # s = (2, 2), tall
    with pytest.warns(LinAlgWarning, match="linalg.svd: repeated singular values"):
        (ad.linalg.svd(x, full_matrices=False).U[:, 0] * ad.tensor([1.0, 2.0, 3.0])).sum().backward()
    assert np.isfinite(x.grad.numpy()).all()
    rank_one = ad.tensor(np.outer([1.0, 2.0, 0.5], [1.0, -1.0]), requires_grad=True)  # s = (s1, 0)
    with pytest.warns(LinAlgWarning, match="linalg.svd: a zero singular value"):
        (ad.linalg.svd(rank_one, full_matrices=False).U[:, 1] * ad.tensor([1.0, 2.0, 3.0])).sum().backward()
    assert np.isfinite(rank_one.grad.numpy()).all()


def test_singular_values_alone_are_differentiable_at_repeated_and_zero_values():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        g = grad(lambda x: ad.linalg.svd(x, compute_uv=False).sum(), np.eye(3)[:, :2])
        close(ad.tensor(g), np.eye(3)[:, :2])
        g = grad(lambda x: ad.linalg.norm(x, 3, axis=-1).sum(), np.zeros((2, 3)))
        close(ad.tensor(g), np.zeros((2, 3)))
