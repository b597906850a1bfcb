"""landscape.random_directions, surface and trajectory_pca: filter normalisation (Li et al.
2018), surfaces unchanged by the rescaling (c W1, c b1, W2 / c) of a ReLU network, grids that
match direct evaluation, the JSON and the PNGs."""

import json

import numpy as np
import pytest

import autodiff as ad
import landscape as L
import nn


def relu_problem(seed=0):
    model = nn.MLP([3, 6, 4, 2], activation="relu", generator=ad.random.Generator(seed), dtype="float64")
    X = ad.random.Generator(1).randn(20, 3, dtype="float64")
    Y = ad.tensor(np.arange(20) % 2)
    space = L.ParamSpace(model)
    return model, space, space.loss(nn.functional.cross_entropy, X, Y), X, Y


def rescaled(model, c):
    """The same function: (c W1, c b1, W2 / c) (ReLU is positively homogeneous)."""
    out = nn.MLP([3, 6, 4, 2], activation="relu", dtype="float64")
    out.load_state_dict(model.state_dict())
    first, second = out.linears[0], out.linears[1]
    with ad.no_grad():
        first.weight.mul_(c)
        first.bias.mul_(c)
        second.weight.mul_(1 / c)
    return out


def rows(t, shape):
    return ad.norm(ad.reshape(t, shape), axis=-1).numpy()


def test_filter_normalisation_matches_each_row_of_the_weights():
    model, space, *_ = relu_problem()
    d = L.random_directions(model, k=3, seed=5)
    assert d.shape == (3, space.p) and d.device == space.theta().device
    theta = space.theta()
    for name, shape in zip(space.names, space.shapes, strict=True):
        where = space.slice(name)
        for i in range(3):
            if len(shape) == 1:
                assert np.all(d[i, where].numpy() == 0)  # biases zeroed by default
            else:
                np.testing.assert_allclose(rows(d[i, where], shape), rows(theta[where], shape), rtol=1e-12)
    kept = L.random_directions(space, k=1, bias="filter", seed=5)
    where = space.slice("0.bias")
    np.testing.assert_allclose(ad.norm(kept[0, where]).item(), ad.norm(theta[where]).item(), rtol=1e-12)
    layer = L.random_directions(space, k=1, normalize="layer", seed=5)
    where = space.slice("2.weight")
    np.testing.assert_allclose(ad.norm(layer[0, where]).item(), ad.norm(theta[where]).item(), rtol=1e-12)
    np.testing.assert_array_equal(L.random_directions(model, seed=5).numpy(), d[:2].numpy())  # seeded
    with pytest.raises(ValueError, match="normalize must be one of"):
        L.random_directions(model, normalize="model")


@pytest.mark.parametrize("bias", ["zero", "filter"])
def test_filter_normalised_surface_is_invariant_under_relu_rescaling(bias):
    model, space, f, X, Y = relu_problem()
    other = rescaled(model, 3.7)
    other_space = L.ParamSpace(other)
    g = other_space.loss(nn.functional.cross_entropy, X, Y)
    np.testing.assert_allclose(g(other_space.theta()).item(), f(space.theta()).item(), rtol=1e-13)
    grids = []
    for s, loss in ((space, f), (other_space, g)):
        d = L.random_directions(s, k=2, bias=bias, seed=3)
        grids.append(L.surface(loss, s.theta(), d, grid=5, workers=0, progress=False).loss)
    np.testing.assert_allclose(grids[0], grids[1], rtol=0, atol=1e-10)
    assert np.ptp(grids[0]) > 0.01  # a real landscape, not a constant
    raw = [
        L.surface(
            loss, s.theta(), L.random_directions(s, normalize="none", seed=3), 5, workers=0, progress=False
        )
        for s, loss in ((space, f), (other_space, g))
    ]
    assert np.abs(raw[0].loss - raw[1].loss).max() > 1e-3  # without normalisation the plots differ


def test_surface_values_match_direct_evaluation_and_metrics():
    model, space, f, X, Y = relu_problem()
    theta = space.theta()
    d = L.random_directions(model, seed=2)
    accuracy = space.loss(nn.functional.accuracy, X, Y)
    result = L.surface(
        f,
        theta,
        d,
        grid=[[-1.0, 0.0, 0.5], [0.0, 2.0]],
        metrics={"accuracy": accuracy},
        workers=0,
        progress=False,
    )
    assert result.loss.shape == (3, 2) and result.values["accuracy"].shape == (3, 2)
    for i, a in enumerate([-1.0, 0.0, 0.5]):
        for j, b in enumerate([0.0, 2.0]):
            point = theta + a * d[0] + b * d[1]
            assert result.loss[i, j] == f(point).item()
            assert result.values["accuracy"][i, j] == accuracy(point).item()
    line = L.surface(f, theta, d[0], grid=7, span=(-2, 2), workers=0, progress=False)
    assert line.loss.shape == (7,) and line.loss[3] == f(theta).item()
    np.testing.assert_array_equal(line.coords[0], np.linspace(-2, 2, 7))
    with pytest.raises(ValueError, match="1 or 2 directions"):
        L.surface(f, theta, L.random_directions(model, k=3), workers=0)


def test_trajectory_pca_recovers_a_planar_trajectory():
    p = 9
    gen = ad.random.Generator(0)
    basis = gen.randn(2, p, dtype="float64")
    origin = gen.randn(p, dtype="float64")
    xy = np.array([[3.0, 1.0], [2.0, -1.0], [1.5, 0.7], [0.4, -0.2], [0.0, 0.0]])
    thetas = [origin + ad.tensor(c) @ basis for c in xy]
    pca = L.trajectory_pca(thetas)
    np.testing.assert_allclose((pca.directions @ pca.directions.T).numpy(), np.eye(2), atol=1e-12)
    rebuilt = ad.tensor(pca.coords) @ pca.directions + pca.origin
    np.testing.assert_allclose(
        rebuilt.numpy(), ad.stack(thetas).numpy(), atol=1e-12
    )  # nothing outside the plane
    np.testing.assert_allclose(pca.explained.sum(), 1.0, atol=1e-12)
    assert pca.explained[0] >= pca.explained[1] > 0
    np.testing.assert_allclose(pca.coords[-1], 0.0, atol=1e-12)
    with pytest.raises(ValueError, match="on a line"):
        L.trajectory_pca([origin, origin + basis[0], origin + 2 * basis[0]])


@pytest.mark.cpu_only
def test_surface_is_deterministic_in_processes_and_saves_json_and_pngs(tmp_path):
    model, space, f, X, Y = relu_problem()
    d = L.random_directions(model, seed=4)
    serial = L.surface(f, space.theta(), d, grid=6, workers=0, progress=False)
    forked = L.surface(f, space.theta(), d, grid=6, workers=2, progress=False)
    np.testing.assert_array_equal(serial.loss, forked.loss)
    pca = L.trajectory_pca(
        [space.theta() + 0.3 * d[0], space.theta() + 0.1 * d[1] - 0.2 * d[0], space.theta()]
    )
    files = serial.save(tmp_path, trajectory=pca)
    assert sorted(p.name for p in files) == ["contour.png", "contourf.png", "surface.json", "surface_3d.png"]
    record = json.loads((tmp_path / "surface.json").read_text())
    np.testing.assert_array_equal(np.array(record["values"]["loss"]), serial.loss)
    assert len(record["trajectory"]) == 3
    assert all((tmp_path / n).read_bytes()[:4] == b"\x89PNG" for n in ("contour.png", "surface_3d.png"))
    line = L.surface(f, space.theta(), d[0], grid=5, workers=0, progress=False)
    assert [p.name for p in line.save(tmp_path / "line")] == ["surface.json", "surface_1d.png"]
