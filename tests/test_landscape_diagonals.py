"""Exact curvature diagonals, per-example gradients and Kronecker factors, against the dense
matrices they equal or approximate (the engine's Hessian, the operator's dense GGN)."""

import numpy as np
import pytest

import autodiff as ad
import landscape as L
import nn

F = nn.functional


def mlp(seed=0):
    g = ad.random.Generator(seed)
    return nn.Sequential(
        nn.Linear(5, 4, generator=g),
        nn.Tanh(),
        nn.Linear(4, 4, generator=g),
        nn.Sigmoid(),
        nn.Linear(4, 3, generator=g),
    )


def classes(n, c=3, seed=2):
    return ad.tensor(np.random.default_rng(seed).integers(0, c, n))


def cnn(seed=0):
    """Conv, softplus, max pool, conv, average pool, flatten, BatchNorm (eval), GELU, Linear."""
    g = ad.random.Generator(seed)
    model = nn.Sequential(
        nn.Conv2d(2, 3, 3, padding=1, generator=g),
        nn.Softplus(),
        nn.MaxPool2d(2),
        nn.Conv2d(3, 2, 2, stride=1, generator=g),
        nn.AvgPool2d(1),
        nn.Flatten(),
        nn.BatchNorm1d(8),
        nn.GELU(),
        nn.Linear(8, 2, generator=g),
    )
    bn = model[6]
    bn.running_mean = ad.randn(8, seed=5) * 0.1
    bn.running_var = ad.rand(8, seed=6) + 0.5
    with ad.no_grad():
        bn.weight.copy_(ad.randn(8, seed=7))
        bn.bias.copy_(ad.randn(8, seed=8))
    return model.eval()


def dense(model, loss, data):
    space = L.ParamSpace(model)
    H = L.hessian(space.loss(loss, *data), space.theta()).numpy()
    G = L.CurvatureOperator(model, loss, data, kind="ggn").dense().numpy()
    return H, G


@pytest.mark.parametrize("net", ["mlp", "cnn"])
@pytest.mark.parametrize("closed", [True, False], ids=["closed-form loss", "indefinite loss"])
def test_ggn_and_hessian_diagonals_equal_the_dense_ones(net, closed):
    """nn's losses take the closed-form square roots of their Hessians; any other per-example
    loss (here with an indefinite Hessian, so that signs matter) takes the generic route."""
    if net == "mlp":
        model, loss, X = mlp(), F.cross_entropy, ad.randn(7, 5, seed=1)
        Y = classes(7)
    else:
        model, loss, X = cnn(), F.mse_loss, ad.randn(3, 2, 6, 6, seed=1)
        Y = ad.randn(3, 2, seed=3)
    if not closed:
        base = loss
        loss = lambda z, y: base(z, y) - 1.5 * ad.mean(z * z) + 0.3 * ad.mean(ad.cos(2 * z))  # noqa: E731
    H, G = dense(model, loss, (X, Y))
    if not closed:
        assert np.linalg.eigvalsh(G).min() < -1e-3  # the loss's Hessian is indefinite
    assert np.abs(H - G).max() > 1e-3  # the residual terms matter here
    np.testing.assert_allclose(L.ggn_diag(model, loss, (X, Y)).numpy(), np.diag(G), rtol=0, atol=1e-10)
    np.testing.assert_allclose(L.hessian_diag(model, loss, (X, Y)).numpy(), np.diag(H), rtol=0, atol=1e-10)


def test_diagonals_over_a_dataloader_and_a_parameter_block():
    model, X, Y = mlp(), ad.randn(7, 5, seed=1), classes(7)
    whole = L.hessian_diag(model, F.cross_entropy, (X, Y)).numpy()
    loader = nn.data.DataLoader((X, Y), batch_size=3)  # batches of 3, 3, 1: weights n_b / N
    np.testing.assert_allclose(L.hessian_diag(model, F.cross_entropy, loader).numpy(), whole, atol=1e-14)
    space = L.ParamSpace(model)
    block = L.ggn_diag(model, F.cross_entropy, (X, Y), params=["2.*"]).numpy()
    full = L.ggn_diag(model, F.cross_entropy, (X, Y)).numpy()
    lo, hi = space.slice("2.weight").start, space.slice("2.bias").stop
    np.testing.assert_allclose(block, full[lo:hi], atol=1e-15)
    with pytest.raises(ValueError, match=r"pattern '9\.\*' matches no parameter.*0\.weight"):
        L.ggn_diag(model, F.cross_entropy, (X, Y), params="9.*")


def test_layers_without_a_rule_and_training_mode_are_refused():
    g = ad.random.Generator(0)
    model = nn.Sequential(nn.Linear(3, 3, generator=g), nn.Residual(nn.Linear(3, 3, generator=g)))
    X, Y = ad.randn(4, 3, seed=1), ad.randn(4, 3, seed=2)
    with pytest.raises(TypeError, match=r"ggn_diag: no curvature rule for layer '1' \(Residual\).*Linear"):
        L.ggn_diag(model, F.mse_loss, (X, Y))
    bn = nn.Sequential(nn.Linear(3, 3, generator=g), nn.BatchNorm1d(3))
    with pytest.raises(
        ValueError, match=r"hessian_diag: layer '1' \(BatchNorm1d\) is in training mode.*eval"
    ):
        L.hessian_diag(bn, F.mse_loss, (X, Y))


def test_individual_gradients_norms_and_variance():
    model, X, Y = mlp(), ad.randn(6, 5, seed=1), classes(6)
    space = L.ParamSpace(model)
    theta = space.theta()
    per_example = np.stack(
        [ad.grad(space.loss(F.cross_entropy, X[i : i + 1], Y[i : i + 1]))(theta).numpy() for i in range(6)]
    )
    g = L.individual_gradients(model, F.cross_entropy, X, Y).numpy()
    np.testing.assert_allclose(g * 6, per_example, atol=1e-13)
    np.testing.assert_allclose(
        L.per_sample_grad_norms(model, F.cross_entropy, X, Y).numpy(), np.linalg.norm(g, axis=1), atol=1e-14
    )
    np.testing.assert_allclose(
        L.grad_variance(model, F.cross_entropy, X, Y).numpy(), per_example.var(axis=0), atol=1e-13
    )


def blocks_of(G, sizes):
    """G with the coupling between parameters zeroed (KFAC is block diagonal per parameter)."""
    out, lo = np.zeros_like(G), 0
    for size in sizes:
        out[lo : lo + size, lo : lo + size] = G[lo : lo + size, lo : lo + size]
        lo += size
    return out


def test_kflr_is_the_exact_ggn_block_of_a_one_layer_network():
    layer = nn.Linear(4, 3, generator=ad.random.Generator(0))
    X, Y = ad.randn(9, 4, seed=1), ad.randn(9, 3, seed=2)
    _, G = dense(layer, F.mse_loss, (X, Y))
    G = blocks_of(G, [12, 3])
    k = L.kfac(layer, F.mse_loss, (X, Y))
    np.testing.assert_allclose(k.dense().numpy(), G, atol=1e-13)
    assert [b.name for b in k.blocks] == ["weight", "bias"]
    np.testing.assert_allclose(k.eigenvalues().numpy(), np.linalg.eigvalsh(G), atol=1e-12)
    v = ad.randn(2, 15, seed=3)
    np.testing.assert_allclose(k.matvec(v).numpy(), v.numpy() @ G, atol=1e-13)
    np.testing.assert_allclose(k.matvec(v.numpy()[0].tolist()).numpy(), v.numpy()[0] @ G, atol=1e-13)
    with pytest.raises(ValueError, match=r"KFAC: v must have shape \(15,\) or \(k, 15\)"):
        k.matvec(ad.ones(14))
    step = k.solve(v, damping=0.1).numpy()
    np.testing.assert_allclose(step @ (G + 0.1 * np.eye(15)), v.numpy(), atol=1e-10)


def test_kflr_of_a_convolution_at_one_position_and_kfac_sampling():
    """A 2x2 kernel on 2x2 inputs has one output position: its KFLR is exact under MSE."""
    conv = nn.Sequential(nn.Conv2d(2, 3, 2, generator=ad.random.Generator(0)), nn.Flatten())
    X, Y = ad.randn(5, 2, 2, 2, seed=1), ad.randn(5, 3, seed=2)
    _, G = dense(conv, F.mse_loss, (X, Y))
    G = blocks_of(G, [24, 3])
    np.testing.assert_allclose(L.kfac(conv, F.mse_loss, (X, Y)).dense().numpy(), G, atol=1e-13)
    # MSE has H_n = (2 / (N C)) I: any Rademacher combination of its columns has the same norm,
    # so KFAC's output factor is exact up to cross terms that average out over samples
    mc = L.kfac(conv, F.mse_loss, (X, Y), kind="kfac", mc_samples=400, seed=1).dense().numpy()
    assert np.abs(mc - G).max() < 0.15 * np.abs(G).max()
    with pytest.raises(TypeError, match="not those of a Linear or Conv2d layer"):
        L.kfac(cnn(), F.mse_loss, (ad.randn(2, 2, 6, 6, seed=1), ad.randn(2, 2, seed=2)))


def test_stochastic_diagonal_for_any_function():
    model, X, Y = mlp(), ad.randn(7, 5, seed=1), classes(7)
    space = L.ParamSpace(model)
    f = space.loss(F.cross_entropy, X, Y)
    exact = L.hessian_diag(model, F.cross_entropy, (X, Y)).numpy()
    est = L.hessian_diag_estimate(f, space.theta(), n_probes=400, seed=1)
    err = np.abs(est.value.numpy() - exact)
    assert np.all(err <= 5 * est.stderr.numpy() + 1e-12) and est.n_matvec == 400
    op = L.CurvatureOperator(model, F.cross_entropy, (X, Y))
    np.testing.assert_allclose(
        L.hessian_diag_estimate(op, n_probes=400, seed=1).value.numpy(), est.value.numpy(), atol=1e-13
    )


@pytest.mark.cpu_only
def test_against_backpack():
    """BackPACK's DiagGGNExact, DiagHessian and BatchL2Grad on the same network."""
    torch = pytest.importorskip("torch")
    backpack = pytest.importorskip("backpack")
    from backpack import extensions

    model, X, Y = mlp(), ad.randn(7, 5, seed=1), classes(7)
    twin = {
        nn.Linear: lambda m: torch.nn.Linear(m.in_features, m.out_features),
        nn.Tanh: lambda m: torch.nn.Tanh(),
        nn.Sigmoid: lambda m: torch.nn.Sigmoid(),
    }
    layers = [twin[type(m)](m) for m in model]
    tmodel = backpack.extend(torch.nn.Sequential(*layers).double())
    tmodel.load_state_dict({k: torch.from_numpy(v.numpy()) for k, v in model.state_dict().items()})
    lossfunc = backpack.extend(torch.nn.CrossEntropyLoss())
    tX, tY = torch.from_numpy(X.numpy()), torch.from_numpy(Y.numpy())
    with backpack.backpack(extensions.DiagGGNExact(), extensions.DiagHessian(), extensions.BatchL2Grad()):
        lossfunc(tmodel(tX), tY).backward()
    params = list(tmodel.parameters())

    def flat(attribute):
        return np.concatenate([getattr(p, attribute).detach().numpy().reshape(-1) for p in params])

    np.testing.assert_allclose(
        L.ggn_diag(model, F.cross_entropy, (X, Y)).numpy(), flat("diag_ggn_exact"), atol=1e-14
    )
    np.testing.assert_allclose(
        L.hessian_diag(model, F.cross_entropy, (X, Y)).numpy(), flat("diag_h"), atol=1e-14
    )
    l2 = sum(p.batch_l2.detach().numpy() for p in params)
    norms = L.per_sample_grad_norms(model, F.cross_entropy, X, Y).numpy()
    np.testing.assert_allclose(norms, np.sqrt(l2), atol=1e-14)
