"""Curvature operators over data sets and parameter blocks (Hessian, GGN, empirical Fisher), and
the spectral routines that take them, against dense matrices of the full-batch loss."""

import warnings

import numpy as np
import pytest

import autodiff as ad
import landscape as L
import nn

F = nn.functional


def setup(n=10, seed=0):
    g = ad.random.Generator(seed)
    model = nn.Sequential(nn.Linear(4, 5, generator=g), nn.Tanh(), nn.Linear(5, 3, generator=g))
    X = ad.randn(n, 4, seed=1)
    Y = ad.tensor(np.random.default_rng(2).integers(0, 3, n))
    return model, X, Y


@pytest.mark.parametrize("kind", ["hessian", "ggn", "fisher"])
def test_products_over_a_dataloader_equal_the_full_batch(kind):
    model, X, Y = setup()
    whole = L.CurvatureOperator(model, F.cross_entropy, (X, Y), kind=kind).dense().numpy()
    loader = nn.data.DataLoader((X, Y), batch_size=4)  # 4, 4, 2
    op = L.CurvatureOperator(model, F.cross_entropy, loader, kind=kind, progress=True)
    np.testing.assert_allclose(op.dense().numpy(), whole, atol=1e-13)
    np.testing.assert_allclose(whole, whole.T, atol=1e-13)
    if kind == "hessian":
        space = L.ParamSpace(model)
        np.testing.assert_allclose(
            whole, L.hessian(space.loss(F.cross_entropy, X, Y), space.theta()).numpy(), atol=1e-13
        )
    if kind == "fisher":  # (1/N) sum_n grad l_n grad l_n^T
        g = L.individual_gradients(model, F.cross_entropy, X, Y).numpy() * X.shape[0]
        np.testing.assert_allclose(whole, g.T @ g / X.shape[0], atol=1e-13)


def test_a_parameter_block_is_the_sub_block_and_spectral_routines_take_operators():
    model, X, Y = setup()
    space = L.ParamSpace(model)
    H = L.hessian(space.loss(F.cross_entropy, X, Y), space.theta()).numpy()
    op = L.CurvatureOperator(model, F.cross_entropy, (X, Y), params=["0.weight", "2.*"])
    assert op.names == ["0.weight", "2.weight", "2.bias"] and op.p == 20 + 15 + 3
    keep = np.r_[np.arange(0, 20), np.arange(25, 43)]
    block = H[np.ix_(keep, keep)]
    np.testing.assert_allclose(op.dense().numpy(), block, atol=1e-13)
    exact = np.linalg.eigvalsh(block)
    res = L.hessian_eigs(op, k=3, which="both")
    np.testing.assert_allclose(res.values.numpy(), np.r_[exact[:1], exact[-2:]], atol=1e-9)
    trace = L.hessian_trace(op, n_probes=30, method="hutch++")
    assert abs(trace.value - np.trace(block)) < 4 * trace.stderr + 1e-9
    density = L.spectral_density(op, n_probes=1, steps=38)  # the whole space: the nodes are H's spectrum
    np.testing.assert_allclose(density.nodes[0], exact, atol=1e-9)
    with pytest.raises(ValueError, match="an operator carries its own theta"):
        L.hessian_eigs(op, space.theta())
    with pytest.raises(TypeError, match="one-shot iterator"):
        L.CurvatureOperator(model, F.cross_entropy, iter([(X, Y)])).matvec(ad.ones(op.p + 5))
    with pytest.raises(ValueError, match="kind must be one of"):
        L.CurvatureOperator(model, F.cross_entropy, (X, Y), kind="kfac")


def test_smallest_eigenvalues_converge_with_default_arguments():
    """A 16-24-24-4 tanh MLP (p = 1108) trained to a small loss: its smallest eigenvalues crowd
    near zero, and the five smallest need more products than the old fixed cap of 100."""
    g = ad.random.Generator(3)
    model = nn.MLP([16, 24, 24, 4], activation="tanh", generator=g)
    X = ad.randn(64, 16, seed=4)
    Y = ad.tensor(np.random.default_rng(5).integers(0, 4, 64))
    opt = nn.optim.SGD(model.parameters(), lr=0.5)
    for _ in range(300):
        opt.zero_grad()
        F.cross_entropy(model(X), Y).backward()
        opt.step()
    space = L.ParamSpace(model)
    f = space.loss(F.cross_entropy, X, Y)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res = L.hessian_eigs(f, space.theta(), k=5, which="smallest")
    assert res.converged and res.n_matvec > 100
    exact = np.linalg.eigvalsh(L.hessian(f, space.theta()).numpy())
    np.testing.assert_allclose(res.values.numpy(), exact[:5], atol=1e-7 * np.abs(exact).max())


@pytest.mark.parametrize("which", ["largest", "smallest", "both"])
def test_block_lanczos_agrees_with_the_dense_spectrum(which):
    rng = np.random.default_rng(8)
    q, _ = np.linalg.qr(rng.standard_normal((40, 40)))
    spectrum = np.r_[np.linspace(-3, 2, 37), 5.0, 6.0, 9.0]
    A = ad.tensor((q * spectrum) @ q.T)
    res = L.hessian_eigs(lambda t: 0.5 * (t @ (A @ t)), ad.zeros(40), k=4, which=which, block_size=4)
    exact = {"largest": spectrum[-4:], "smallest": spectrum[:4], "both": np.r_[spectrum[:2], spectrum[-2:]]}
    assert res.converged and res.n_matvec % 4 == 0
    np.testing.assert_allclose(res.values.numpy(), exact[which], atol=1e-8)
    v = res.vectors.numpy()
    np.testing.assert_allclose(A.numpy() @ v, v * exact[which], atol=1e-6)


def test_block_lanczos_recovers_repeated_eigenvalues_after_breakdown():
    """diag(1 x 5, 2 x 5): two blocks of 2 span an invariant subspace; fresh columns continue
    the iteration and the basis sees every copy."""
    d = ad.tensor(np.r_[np.ones(5), 2 * np.ones(5)])
    res = L.hessian_eigs(lambda t: 0.5 * (d * t * t).sum(), ad.ones(10), k=7, which="smallest", block_size=2)
    np.testing.assert_allclose(res.values.numpy(), [1, 1, 1, 1, 1, 2, 2], atol=1e-10)
    with pytest.raises(ValueError, match="block_size must be at least 1"):
        L.hessian_eigs(lambda t: (t * t).sum(), ad.ones(3), block_size=0)
