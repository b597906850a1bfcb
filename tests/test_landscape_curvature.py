"""landscape curvature: dense Hessians, HVPs, Gauss-Newton products, Lanczos, Hutchinson/Hutch++
and stochastic Lanczos quadrature, against exact answers (quadratics, Rosenbrock) and dense
eigendecompositions."""

import math

import numpy as np
import pytest

import autodiff as ad
import landscape as L
from landscape._core import random_probes


def quadratic(A, b=None):
    """f(theta) = theta^T A theta / 2 + b^T theta: Hessian A everywhere."""
    At = ad.tensor(A)
    bt = ad.tensor(np.zeros(A.shape[0]) if b is None else b)
    return lambda t: 0.5 * (t @ (At @ t)) + bt @ t


def symmetric(eigenvalues, seed=0):
    q, _ = np.linalg.qr(np.random.default_rng(seed).standard_normal((len(eigenvalues),) * 2))
    return (q * np.asarray(eigenvalues, float)) @ q.T


def rosenbrock(t):
    return (1 - t[0]) ** 2 + 100 * (t[1] - t[0] ** 2) ** 2


def tanh_net(n=12, sizes=(3, 4, 1), seed=0):
    """The MSE of a small tanh MLP as a plain function of a flat theta."""
    rng = np.random.default_rng(seed)
    X, Y = ad.tensor(rng.standard_normal((n, sizes[0]))), ad.tensor(rng.standard_normal((n, sizes[-1])))
    shapes = [s for a, b in zip(sizes[:-1], sizes[1:], strict=True) for s in ((b, a), (b,))]
    p = sum(math.prod(s) for s in shapes)

    def f(t):
        h, o = X, 0
        for i in range(0, len(shapes), 2):
            (w_shape, b_shape), k = shapes[i : i + 2], math.prod(shapes[i])
            h = h @ t[o : o + k].reshape(w_shape).T + t[o + k : o + k + b_shape[0]]
            o += k + b_shape[0]
            h = ad.tanh(h) if i + 2 < len(shapes) else h
        return ((h - Y) ** 2).mean()

    return f, ad.tensor(rng.standard_normal(p) * 0.7)


def test_hessian_of_a_quadratic_is_its_matrix():
    A = symmetric([-3.0, -1.0, 0.0, 0.5, 2.0, 7.0])
    f = quadratic(A, np.arange(6.0))
    H = L.hessian(f, ad.tensor(np.linspace(-1, 1, 6)))
    np.testing.assert_allclose(H.numpy(), A, atol=1e-12)
    np.testing.assert_allclose(L.hessian(f, ad.zeros(6), chunk_size=2).numpy(), A, atol=1e-12)


def test_rosenbrock_hessian_eigenvalues_at_the_minimum():
    """H(1, 1) = [[802, -400], [-400, 200]]: eigenvalues 501 -+ sqrt(250601)."""
    exact = [501 - math.sqrt(250601), 501 + math.sqrt(250601)]  # 0.399361..., 1001.600640...
    H = L.hessian(rosenbrock, ad.tensor([1.0, 1.0]))
    np.testing.assert_allclose(H.numpy(), [[802, -400], [-400, 200]], atol=1e-12)
    np.testing.assert_allclose(np.linalg.eigvalsh(H.numpy()), exact, rtol=1e-12)
    res = L.hessian_eigs(rosenbrock, ad.tensor([1.0, 1.0]), k=2)
    np.testing.assert_allclose(res.values.numpy(), exact, rtol=1e-10)
    assert abs(exact[0] - 0.399361) < 1e-6 and abs(exact[1] - 1001.600640) < 1e-6


def test_hessian_matches_finite_differences_of_the_gradient():
    f, theta = tanh_net()
    H = L.hessian(f, theta).numpy()
    grad = ad.grad(f)
    x, eps = theta.numpy(), 1e-5
    fd = np.stack(
        [
            (grad(ad.tensor(x + eps * e)).numpy() - grad(ad.tensor(x - eps * e)).numpy()) / (2 * eps)
            for e in np.eye(x.size)
        ]
    )
    np.testing.assert_allclose(H, fd, atol=1e-7)
    np.testing.assert_allclose(H, H.T, atol=1e-13)


def test_hvp_single_and_batched_equal_dense_products():
    f, theta = tanh_net()
    H = L.hessian(f, theta).numpy()
    V = np.random.default_rng(1).standard_normal((5, theta.shape[0]))
    np.testing.assert_allclose(L.hvp(f, theta, ad.tensor(V[0])).numpy(), H @ V[0], atol=1e-12)
    np.testing.assert_allclose(L.hvp(f, theta, ad.tensor(V)).numpy(), V @ H, atol=1e-12)
    with pytest.raises(ValueError, match="hvp: v must have shape"):
        L.hvp(f, theta, ad.ones(3))


def test_tangent_chunk_follows_the_memory_budget():
    f, theta = tanh_net()
    p = theta.shape[0]
    assert L.tangent_chunk(f, theta, memory_budget=1) == 1
    assert L.tangent_chunk(f, theta, memory_budget=2**40) == p
    mid = L.tangent_chunk(f, theta, memory_budget=20_000)
    assert 1 < mid < p
    np.testing.assert_allclose(
        L.hessian(f, theta, memory_budget=20_000).numpy(), L.hessian(f, theta).numpy(), atol=1e-12
    )


def test_ggn_vp_is_jt_hloss_j_and_the_hessian_at_zero_residual():
    rng = np.random.default_rng(2)
    A = ad.tensor(rng.standard_normal((4, 3)))
    target = ad.tensor(rng.standard_normal(4))

    def output(t):
        return ad.tanh(A @ t)

    def loss(z):
        return ((z - target) ** 2).sum() + (z**4).sum() / 4  # a non-quadratic loss of z

    theta, v = ad.tensor(rng.standard_normal(3)), ad.tensor(rng.standard_normal(3))
    J = ad.jacrev(output)(theta).numpy()
    z = output(theta)
    H_loss = ad.hessian(loss)(z).numpy()
    expected = J.T @ H_loss @ J @ v.numpy()
    np.testing.assert_allclose(L.ggn_vp(output, loss, theta, v).numpy(), expected, atol=1e-12)
    batch = ad.tensor(np.stack([v.numpy(), 2 * v.numpy()]))
    np.testing.assert_allclose(L.ggn_vp(output, loss, theta, batch).numpy()[1], 2 * expected, atol=1e-12)
    # a square loss whose residual vanishes at theta: the Gauss-Newton matrix is the Hessian
    z0 = output(theta).detach()

    def square(z):
        return ((z - z0) ** 2).sum()

    full = L.hvp(lambda t: square(output(t)), theta, v).numpy()
    np.testing.assert_allclose(L.ggn_vp(output, square, theta, v).numpy(), full, atol=1e-12)


@pytest.mark.parametrize("which", ["largest", "smallest", "both"])
def test_lanczos_agrees_with_dense_eigendecomposition(which):
    f, theta = tanh_net(n=10, sizes=(3, 5, 2))
    H = L.hessian(f, theta).numpy()
    dense = np.linalg.eigvalsh(H)
    res = L.hessian_eigs(f, theta, k=4, which=which, tol=1e-10)
    expected = {"largest": dense[-4:], "smallest": dense[:4], "both": np.r_[dense[:2], dense[-2:]]}[which]
    assert res.converged
    np.testing.assert_allclose(res.values.numpy(), expected, atol=1e-8 * abs(dense).max())
    vecs = res.vectors.numpy()
    np.testing.assert_allclose(vecs.T @ vecs, np.eye(4), atol=1e-8)
    residual = np.linalg.norm(H @ vecs - vecs * res.values.numpy(), axis=0)
    assert residual.max() < 1e-7 * abs(dense).max()


def test_lanczos_smallest_means_most_negative_not_smallest_magnitude():
    spectrum = [-5.0, -2.0, 1e-3, 0.5, 1.0, 3.0, 4.0, 6.0]
    f = quadratic(symmetric(spectrum, seed=3))
    res = L.hessian_eigs(f, ad.zeros(8), k=2, which="smallest")
    np.testing.assert_allclose(res.values.numpy(), [-5.0, -2.0], atol=1e-9)


def test_lanczos_recovers_repeated_eigenvalues_by_restarting():
    """A Krylov space sees one copy of each eigenvalue; breakdowns restart it orthogonally."""
    d = ad.tensor([1.0] * 5 + [2.0] * 5)
    res = L.hessian_eigs(lambda t: 0.5 * (d * t * t).sum(), ad.ones(10), k=7, which="smallest")
    np.testing.assert_allclose(res.values.numpy(), [1, 1, 1, 1, 1, 2, 2], atol=1e-12)
    with pytest.raises(ValueError, match="which must be"):
        L.hessian_eigs(rosenbrock, ad.ones(2), which="middle")


def test_hutchinson_is_exact_on_diagonal_matrices_and_hutchpp_on_small_ones():
    d = np.array([3.0, -1.0, 0.5, 7.0, 2.0])
    f = quadratic(np.diag(d))
    est = L.hessian_trace(f, ad.zeros(5), n_probes=10, method="hutchinson")
    assert est.value == pytest.approx(d.sum(), abs=1e-12) and est.stderr == pytest.approx(0, abs=1e-12)
    A = symmetric([4.0, -2.0, 1.0, 0.3, 9.0, -6.0], seed=4)
    est = L.hessian_trace(quadratic(A), ad.zeros(6), n_probes=18, method="hutch++")  # sketch spans R^6
    assert est.method == "hutch++" and est.n_matvec == 18
    assert est.value == pytest.approx(np.trace(A), abs=1e-9)


def test_trace_estimates_are_within_their_standard_error():
    rng = np.random.default_rng(5)
    spectrum = np.r_[np.logspace(3, 1, 6), rng.uniform(-1, 1, 54)]
    A = symmetric(spectrum, seed=5)
    for method in ("hutchinson", "hutch++"):
        est = L.hessian_trace(quadratic(A), ad.zeros(60), n_probes=45, method=method, seed=1)
        assert abs(est.value - spectrum.sum()) < 4 * est.stderr, (method, est)
    hutch = L.hessian_trace(quadratic(A), ad.zeros(60), n_probes=45, method="hutchinson", seed=1)
    plus = L.hessian_trace(quadratic(A), ad.zeros(60), n_probes=45, method="hutch++", seed=1)
    assert plus.stderr < 0.2 * hutch.stderr  # deflating the top of the spectrum pays
    auto = L.hessian_trace(quadratic(A), ad.zeros(60), n_probes=45, seed=1)
    assert auto.method == "auto: hutch++" and auto.value == plus.value


def test_auto_trace_keeps_hutchinson_on_flat_spectra_without_wasting_products():
    spectrum = np.random.default_rng(6).uniform(0.5, 1.5, 60)
    A = symmetric(spectrum, seed=6)
    auto = L.hessian_trace(quadratic(A), ad.zeros(60), n_probes=45, seed=1)
    plus = L.hessian_trace(quadratic(A), ad.zeros(60), n_probes=45, method="hutch++", seed=1)
    assert auto.method == "auto: hutchinson" and auto.n_matvec == 45
    assert abs(auto.value - spectrum.sum()) < 4 * auto.stderr
    assert auto.stderr < plus.stderr  # all 45 probes average; Hutch++ averages 15


def test_slq_weights_sum_to_one_and_moments_match_vt_hj_v():
    spectrum = np.r_[np.linspace(-2, 5, 29), 40.0]
    A = symmetric(spectrum, seed=6)
    theta, steps = ad.zeros(30), 6
    sd = L.spectral_density(quadratic(A), theta, n_probes=3, steps=steps, seed=2)
    probes = random_probes(theta, 3, 2).numpy()
    for v, nodes, weights in zip(probes, sd.nodes, sd.weights, strict=True):
        assert weights.sum() == pytest.approx(1.0, abs=1e-12)
        v = v / np.linalg.norm(v)
        for j in range(2 * steps):  # Gauss quadrature with m nodes: exact up to degree 2m - 1
            exact = v @ np.linalg.matrix_power(A, j) @ v
            assert np.sum(weights * nodes**j) == pytest.approx(exact, rel=1e-8, abs=1e-8)
    assert np.trapezoid(sd.density, sd.grid) == pytest.approx(1.0, abs=1e-3)
    assert sd.moment(0) == pytest.approx(1.0)


def test_slq_with_full_krylov_space_is_the_spectral_measure_of_the_probe():
    """With m = p steps the nodes are the eigenvalues and the weights (q_i . v)^2 / |v|^2."""
    spectrum = [-1.0, 0.5, 2.0, 3.0]
    A = symmetric(spectrum, seed=7)
    theta = ad.zeros(4)
    sd = L.spectral_density(quadratic(A), theta, n_probes=2, steps=4, seed=3)
    _, q = np.linalg.eigh(A)
    for v, nodes, weights in zip(random_probes(theta, 2, 3).numpy(), sd.nodes, sd.weights, strict=True):
        np.testing.assert_allclose(nodes, spectrum, atol=1e-10)
        np.testing.assert_allclose(weights, (q.T @ v) ** 2 / (v @ v), atol=1e-10)


@pytest.mark.cpu_only
def test_density_plot_helper(tmp_path):
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    sd = L.spectral_density(quadratic(symmetric([-1.0, 0.5, 2.0, 3.0])), ad.zeros(4), n_probes=2, steps=3)
    ax = sd.plot()
    ax.figure.savefig(tmp_path / "density.png")
    assert (tmp_path / "density.png").stat().st_size > 0
