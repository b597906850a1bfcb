"""landscape on models: ParamSpace, the parameter Jacobian from per-sample gradients, functional
dimension and positive rescaling of ReLU nets (Malgouyres 2024), the kernel K (the Spanish slides) and the
Polyak-Lojasiewicz constant (Scaman 2024)."""

import math

import numpy as np
import pytest

import autodiff as ad
import landscape as L
import nn


def mlp(sizes, seed=0, activation="relu"):
    return nn.MLP(sizes, activation=activation, generator=ad.random.Generator(seed))


def data(n, d, seed=1):
    return ad.random.Generator(seed).randn(n, d)


def mse(out, y):
    """The seed-001 square loss (1/N) sum_i ||g(x_i) - y_i||^2."""
    return ((out - y) ** 2).sum() / out.shape[0]


# --------------------------------------------------------------------------- ParamSpace
def test_param_space_round_trip_and_functional_call():
    model = mlp([3, 4, 2])
    space = L.ParamSpace(model)
    assert space.p == 3 * 4 + 4 + 4 * 2 + 2 == model.num_parameters()
    theta = space.theta()
    np.testing.assert_array_equal(theta.numpy()[:12], model[0].weight.numpy().ravel())  # C order
    np.testing.assert_array_equal(space.unflatten(theta)["2.bias"].numpy(), model[2].bias.numpy())
    X = data(5, 3)
    before = model(X).numpy()
    moved = theta + 1.0
    out = space.call(moved, X)
    np.testing.assert_array_equal(model(X).numpy(), before)  # the model is untouched
    space.assign(moved)
    np.testing.assert_allclose(model(X).numpy(), out.numpy(), atol=1e-14)
    with pytest.raises(ValueError, match=r"theta must have shape \(26,\)"):
        space.assign(ad.zeros(25))
    np.testing.assert_array_equal(space.theta().numpy(), moved.numpy())  # nothing half-written
    f = space.loss(mse, X, ad.zeros(5, 2))
    assert f(moved).item() == pytest.approx(mse(model(X), ad.zeros(5, 2)).item())
    assert ad.grad(f)(moved).shape == (26,)


# --------------------------------------------------------------------------- Jacobian
def test_param_jacobian_matches_jacrev_and_chunking():
    model = mlp([3, 5, 2], activation="tanh")
    X = data(7, 3)
    space = L.ParamSpace(model)
    J = L.param_jacobian(model, X)
    expected = ad.jacrev(lambda t: ad.reshape(space.call(t, X), (-1,)))(space.theta())
    assert J.shape == (14, space.p)
    np.testing.assert_allclose(J.numpy(), expected.numpy(), atol=1e-14)
    np.testing.assert_allclose(L.param_jacobian(model, X, chunk_size=3).numpy(), J.numpy(), atol=1e-14)
    theta = space.theta() * 0.5
    expected = ad.jacrev(lambda t: ad.reshape(space.call(t, X), (-1,)))(theta)
    np.testing.assert_allclose(L.param_jacobian(model, X, theta=theta).numpy(), expected.numpy(), atol=1e-14)


@pytest.mark.cpu_only
def test_param_jacobian_matches_finite_differences():
    model = mlp([2, 3, 2], activation="tanh")
    X = data(4, 2)
    space = L.ParamSpace(model)
    theta, eps = space.theta().numpy(), 1e-6

    def outputs(t):
        with ad.no_grad():
            return space.call(ad.tensor(t), X).numpy().ravel()

    columns = [(outputs(theta + eps * e) - outputs(theta - eps * e)) / (2 * eps) for e in np.eye(theta.size)]
    np.testing.assert_allclose(L.param_jacobian(model, X).numpy(), np.stack(columns, axis=1), atol=1e-8)


def test_functional_dimension_of_one_hidden_layer_relu_net_is_p_minus_hidden():
    """Seed 000: on enough generic inputs rk D f_theta(X) = p - (hidden neurons), the deficit
    being exactly the positive rescalings."""
    model = mlp([3, 6, 2])
    X = data(200, 3)  # every neuron active on some inputs and inactive on others
    bound = L.relu.rank_upper_bound(model)
    assert bound == L.ParamSpace(model).p - 6 == 32
    svd = L.functional_dimension(model, X)
    gram = L.functional_dimension(model, X, method="gram")
    assert svd.rank == gram.rank == bound
    assert svd.gap > 1e8 and gram.gap > 1e3  # clear decisions
    assert svd.largest_gap == (bound, svd.gap)  # the threshold sits in the widest gap
    assert svd.shape == (400, 38) and svd.singular_values.size == 38
    np.testing.assert_allclose(gram.singular_values[:bound], svd.singular_values[:bound], rtol=1e-6)
    few = L.functional_dimension(model, X[:4])  # 8 rows: full row rank
    assert few.rank == 8 and few.gap == math.inf
    assert L.functional_dimension(model, X[:4], method="gram").rank == 8  # J J^T side
    assert "sigma_max" in str(svd)


def test_functional_dimension_tolerance_and_errors():
    model = mlp([3, 6, 2])
    X = data(60, 3)
    assert L.functional_dimension(model, X, tol=1e300).rank == 0
    with pytest.raises(ValueError, match="method must be"):
        L.functional_dimension(model, X, method="qr")
    for tol in (-1.0, float("nan"), "1e-3"):
        with pytest.raises(ValueError, match="functional_dimension: tol must be a finite number >= 0"):
            L.functional_dimension(model, X, tol=tol)
    with pytest.raises(ValueError, match="functional_dimension: dtype must be floating"):
        L.functional_dimension(model, X, dtype="int32")


class Scaled(nn.Module):
    """f(x)_k = x_k w_k s_k: on X = I its Jacobian is diagonal with singular values exactly s."""

    def __init__(self, scales):
        super().__init__()
        self.scales = ad.tensor(scales)
        self.w = nn.Parameter(ad.ones(len(scales)))

    def forward(self, x):
        return x * self.w * self.scales


def test_functional_dimension_reports_the_gap_of_its_decision():
    """Issue 11, item 12: ``largest_gap`` is never inside the noise below the threshold (it used
    to be the widest ratio anywhere, here 1e-20 / 1e-40 at index 3), and a narrow decision gap
    is reported as ambiguous, with a warning."""
    eye = ad.eye(4)
    clear = L.functional_dimension(Scaled([1.0, 0.5, 1e-20, 1e-40]), eye)  # cut 16 eps = 3.6e-15
    assert clear.rank == 2 and clear.gap == pytest.approx(0.5e20)
    assert clear.largest_gap == (2, clear.gap) and not clear.ambiguous
    with pytest.warns(RuntimeWarning, match="ambiguous rank 3.*widest gap above it is 5e\\+13 at rank 2"):
        narrow = L.functional_dimension(Scaled([1.0, 0.5, 1e-14, 3e-15]), eye)
    assert narrow.rank == 3 and narrow.gap == pytest.approx(1e-14 / 3e-15) and narrow.ambiguous
    assert narrow.largest_gap == (2, pytest.approx(0.5e14)) and "(ambiguous)" in str(narrow)


def test_rescaling_directions_are_flat_for_outputs_and_loss():
    model = mlp([3, 4, 5, 2])
    X = data(30, 3)
    space = L.ParamSpace(model)
    V = L.relu.rescaling_directions(model)
    assert V.shape == (9, space.p)
    J = L.param_jacobian(model, X)
    np.testing.assert_allclose(J.numpy() @ V.numpy().T, 0, atol=1e-12)
    f = space.loss(mse, X, data(30, 2, seed=4))
    grad = ad.grad(f)(space.theta()).numpy()
    np.testing.assert_allclose(V.numpy() @ grad, 0, atol=1e-12)
    # the finite rescaling itself: neuron 2 of layer 1 by lambda = 3
    theta = space.theta().numpy()
    scaled = theta.copy()
    for name, factor in (("0.weight", 3.0), ("0.bias", 3.0), ("2.weight", 1 / 3)):
        block = scaled[space.slice(name)].reshape(space.shapes[space.names.index(name)])
        if name == "2.weight":
            block[:, 2] *= factor
        else:
            block[2] *= factor
        scaled[space.slice(name)] = block.ravel()
    with ad.no_grad():
        np.testing.assert_allclose(space.call(ad.tensor(scaled), X).numpy(), model(X).numpy(), atol=1e-12)
    assert not np.allclose(scaled, theta)


def test_activation_patterns_are_the_signs_of_the_preactivations():
    model = mlp([3, 4, 5, 2])
    X = data(6, 3)
    a = L.relu.activation_patterns(model, X)
    assert a.shape == (9, 6) and a.dtype == np.bool_
    W1, b1 = model[0].weight.numpy(), model[0].bias.numpy()
    W2, b2 = model[2].weight.numpy(), model[2].bias.numpy()
    z1 = X.numpy() @ W1.T + b1
    z2 = np.maximum(z1, 0) @ W2.T + b2
    np.testing.assert_array_equal(a.numpy(), np.concatenate([z1 >= 0, z2 >= 0], axis=1).T)
    with pytest.raises(TypeError, match="ReLU"):
        L.relu.rank_upper_bound(mlp([3, 4, 2], activation="tanh"))


# --------------------------------------------------------------------------- kernel and PL
def test_ntk_is_j_jt_and_seed_004_kernel_on_the_output_layer():
    model = mlp([2, 7, 1])
    X = data(5, 2)
    J = L.param_jacobian(model, X).numpy()
    K = L.ntk(model, X)
    np.testing.assert_allclose(K.kernel.numpy(), J @ J.T, atol=1e-12)
    assert K.lambda_min == pytest.approx(np.linalg.eigvalsh(J @ J.T)[0], abs=1e-12)
    # the Spanish slides: K_bar = sum_k v_k v_k^T, v_k = (relu(<theta_k^(1), [x_i; 1]>))_i
    hidden = np.maximum(X.numpy() @ model[0].weight.numpy().T + model[0].bias.numpy(), 0)
    np.testing.assert_allclose(
        L.ntk(model, X, params=["2.weight"]).kernel.numpy(), hidden @ hidden.T, atol=1e-12
    )
    with pytest.raises(KeyError, match="unknown parameters"):
        L.ntk(model, X, params=["3.weight"])


def test_seed_001_example_satisfies_pl_with_ratio_4_1_plus_sin2():
    """L(theta) = (theta_1 - cos theta_2)^2: ||grad L||^2 = 4 L (1 + sin^2 theta_2) >= 4 L."""

    def loss(t):
        return (t[0] - ad.cos(t[1])) ** 2

    rng = np.random.default_rng(0)
    points = [ad.tensor(rng.uniform(-3, 3, 2)) for _ in range(5)]
    ratios = L.pl_ratio(loss, points)
    for theta, ratio in zip(points, ratios, strict=True):
        assert ratio == pytest.approx(4 * (1 + math.sin(theta.numpy()[1]) ** 2), rel=1e-12)
        assert ratio >= 4
    assert L.pl_ratio(loss, points[0]) == ratios[0]
    assert math.isnan(L.pl_ratio(loss, ad.tensor([1.0, 0.0])))  # 0 / 0 at the minimum


def test_pl_constant_bounds_the_pl_ratio_of_the_square_loss():
    """Seed 001: sigma_min(J^T) >= eps gives ||grad L||^2 >= (4 eps^2 / N) L."""
    model = mlp([2, 16, 1])
    X, Y = data(6, 2), data(6, 1, seed=5)
    space = L.ParamSpace(model)
    pl = L.pl_constant(model, X, Y)
    K = L.ntk(model, X)
    assert pl.mu == pytest.approx(4 * K.lambda_min / 6) and pl.mu > 0
    assert pl.sigma_min == pytest.approx(math.sqrt(K.lambda_min))
    f = space.loss(mse, X, Y)
    assert pl.loss == pytest.approx(f(space.theta()).item())
    ratio = L.pl_ratio(f, space.theta())
    assert ratio >= pl.mu
    grad = ad.grad(f)(space.theta()).numpy()
    assert grad @ grad >= pl.grad_norm_sq_bound
    assert L.pl_constant(mlp([2, 3, 2]), data(40, 2)).mu == 0.0  # N out = 80 > p = 17: J^T has a kernel
