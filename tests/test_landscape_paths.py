"""landscape.interpolate and connect on landscapes whose barriers are known exactly (connected
sub-level sets, as in the lecture notes): f(w1, w2) = (w2 w1 - c)^2, whose minima on the branches of
w1 w2 = c are separated by a barrier of exactly c^2; a linear 1 -> 2 -> 1 network whose minima
related by swapping the hidden neurons lie on the one connected set a1 b1 + a2 b2 = c; the
GL+ orbit of a deep linear network, along which the loss is constant."""

import json

import numpy as np
import pytest

import autodiff as ad
import landscape as L
import nn

C = 4.0  # sqrt(C) = 2 exactly: the minima are exact


def branches(w):
    return (w[1] * w[0] - C) ** 2


def test_linear_interpolation_between_branches_peaks_at_c_squared_midpoint():
    a = ad.tensor([C**0.5, C**0.5])
    line = L.interpolate(branches, a, -a, n=41, workers=0, progress=False)
    assert line.loss[0] == line.loss[-1] == 0.0
    assert line.loss[20] == C**2 and line.barrier == C**2  # exactly c^2 at the midpoint
    assert line.loss.argmax() == 20
    other = L.interpolate(
        branches, ad.tensor([4.0, 1.0]), ad.tensor([-1.0, -4.0]), n=21, workers=0, progress=False
    )
    assert other.barrier > C**2  # another crossing of w1 w2 <= 0: higher than c^2


@pytest.mark.parametrize("method", ["bezier", "polychain", "neb"])
def test_connect_between_branches_finds_the_c_squared_barrier(method):
    a = ad.tensor([C**0.5, C**0.5])
    b = ad.tensor([-(C**0.5), -(C**0.5)])
    path = L.connect(branches, a, b, method=method, steps=60, n=101, workers=0, progress=False)
    assert path.barrier == pytest.approx(C**2, rel=0.01)
    assert path.barrier <= C**2 + 1e-12  # never below c^2 in truth; sampled max <= c^2 at best
    assert np.all(path.loss <= C**2 + 1e-12)
    assert len(path.history) == 60


def swapped_linear_net():
    X = ad.tensor([[1.0], [-0.5], [2.0]])
    model = nn.DeepLinear([1, 2, 1], dtype="float64")
    space = L.ParamSpace(model)
    f = space.loss(nn.functional.mse_loss, X, 3.0 * X)  # y = c x with c = 3
    a1, a2, b1, b2 = 1.0, -1.0, 2.0, -1.0  # a1 b1 + a2 b2 = 3
    return f, ad.tensor([a1, a2, b1, b2]), ad.tensor([a2, a1, b2, b1])


def test_swapped_hidden_neurons_are_connected_at_zero_barrier():
    f, theta_a, theta_b = swapped_linear_net()
    assert f(theta_a).item() == f(theta_b).item() == 0.0
    line = L.interpolate(f, theta_a, theta_b, workers=0, progress=False)
    assert line.barrier == pytest.approx(9 * 1.75)  # midpoint (0, 0, 1/2, 1/2): (0 - c)^2 mean(x^2)
    path = L.connect(f, theta_a, theta_b, method="bezier", bends=3, steps=300, workers=0, progress=False)
    assert path.barrier < 1e-3 * line.barrier
    assert path.curve(0.0).numpy().tolist() == theta_a.numpy().tolist()
    np.testing.assert_allclose(path.curve(1.0).numpy(), theta_b.numpy(), atol=1e-15)
    neb = L.connect(f, theta_a, theta_b, method="neb", bends=12, steps=300, workers=0, progress=False)
    assert neb.barrier < 1e-2 * line.barrier


def test_deep_linear_gl_plus_orbit_keeps_the_loss_constant():
    gen = ad.random.Generator(0)
    X, Y = gen.randn(10, 3, dtype="float64"), gen.randn(10, 2, dtype="float64")
    model = nn.DeepLinear([3, 4, 2], generator=gen, dtype="float64")
    space = L.ParamSpace(model)
    f = space.loss(nn.functional.mse_loss, X, Y)
    W1, W2 = (p.numpy() for p in model.weights)
    R = np.random.default_rng(1).standard_normal((4, 4))
    A1 = R @ R.T + 0.5 * np.eye(4)  # positive definite: (1 - t) I + t A1 stays in GL+

    def orbit(t):
        A = (1 - t) * np.eye(4) + t * A1
        return ad.tensor(np.concatenate([(A @ W1).ravel(), (W2 @ np.linalg.inv(A)).ravel()]))

    path = L.evaluate_path(f, orbit, n=21, workers=0, progress=False)
    np.testing.assert_allclose(path.loss, path.loss[0], rtol=1e-10)
    assert abs(path.barrier) < 1e-10 * path.loss[0]
    line = L.interpolate(f, orbit(0.0), orbit(1.0), n=21, workers=0, progress=False)
    assert line.barrier > 1e-3 * path.loss[0]  # the straight chord leaves the orbit


def test_batchnorm_statistics_are_recomputed_along_the_path():
    gen = ad.random.Generator(0)
    model = nn.Sequential(
        nn.Linear(3, 4, generator=gen), nn.BatchNorm1d(4), nn.ReLU(), nn.Linear(4, 2, generator=gen)
    )
    X = gen.randn(32, 3)
    Y = ad.tensor(np.arange(32) % 2)
    space = L.ParamSpace(model)
    model.eval()
    refresh = L.batchnorm_refresh(model, X)
    assert L.batchnorm_refresh(nn.MLP([3, 2]), X) is None
    theta = space.theta()
    other = theta + 0.5 * L.random_directions(model, k=1, seed=1)[0]
    refresh(other)
    W, b = space.unflatten(other)["0.weight"], space.unflatten(other)["0.bias"]
    np.testing.assert_allclose(
        model[1].running_mean.numpy(), ad.mean(X @ W.T + b, axis=0).numpy(), atol=1e-12
    )
    assert not model.training and model[1].momentum == 0.1
    np.testing.assert_array_equal(space.theta().numpy(), theta.numpy())  # parameters untouched
    seen = []
    f = space.loss(nn.functional.cross_entropy, X, Y)
    L.interpolate(f, theta, other, n=5, refresh=lambda t: seen.append(refresh(t)), workers=0, progress=False)
    assert len(seen) == 5


@pytest.mark.cpu_only
def test_path_result_is_saved_as_json_and_png(tmp_path):
    a = ad.tensor([C**0.5, C**0.5])
    line = L.interpolate(branches, a, -a, n=11, workers=2, progress=False)
    path = L.connect(branches, a, -a, steps=5, n=11, workers=0, progress=False)
    files = path.save(tmp_path, line)
    assert [p.name for p in files] == ["path.json", "path.png"]
    record = json.loads(files[0].read_text())
    assert [r["method"] for r in record] == ["bezier", "linear"] and record[1]["barrier"] == C**2
    assert files[1].read_bytes()[:4] == b"\x89PNG"
    with pytest.raises(ValueError, match="method must be one of"):
        L.connect(branches, a, -a, method="autoneb")
