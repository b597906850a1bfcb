"""Initialisation: the variances of He and Glorot schemes, orthogonality, the NTK
parametrisation, reproducibility through a seeded generator."""

import math

import numpy as np
import pytest

import autodiff as ad
import nn
from nn import init

GEN = ad.random.Generator


def weight(*shape):
    return nn.Parameter(ad.zeros(*shape))


@pytest.mark.parametrize(
    "fill,expected_std",
    [
        (lambda w: init.kaiming_normal_(w, nonlinearity="relu", generator=GEN(0)), math.sqrt(2 / 200)),
        (lambda w: init.kaiming_uniform_(w, nonlinearity="relu", generator=GEN(0)), math.sqrt(2 / 200)),
        (
            lambda w: init.kaiming_normal_(w, mode="fan_out", nonlinearity="tanh", generator=GEN(0)),
            5 / 3 / math.sqrt(300),
        ),
        (lambda w: init.xavier_normal_(w, generator=GEN(0)), math.sqrt(2 / 500)),
        (lambda w: init.xavier_uniform_(w, gain=2.0, generator=GEN(0)), 2 * math.sqrt(2 / 500)),
        (lambda w: init.normal_(w, 0.0, 0.3, generator=GEN(0)), 0.3),
    ],
)
def test_variances(fill, expected_std):
    w = weight(300, 200)  # fan_in 200, fan_out 300
    fill(w)
    assert w.numpy().std() == pytest.approx(expected_std, rel=0.02)
    assert abs(w.numpy().mean()) < 0.05 * expected_std + 1e-3


def test_uniform_bounds_and_conv_fans():
    w = weight(8, 3, 5, 5)
    assert init.fans(w) == (75, 200)
    init.kaiming_uniform_(w, a=0.0, nonlinearity="relu", generator=GEN(0))
    bound = math.sqrt(2) * math.sqrt(3 / 75)
    assert np.abs(w.numpy()).max() <= bound and np.abs(w.numpy()).max() > 0.95 * bound


@pytest.mark.parametrize("shape", [(4, 7), (7, 4), (3, 2, 2)])
def test_orthogonal(shape):
    w = weight(*shape)
    init.orthogonal_(w, gain=2.0, generator=GEN(0))
    m = w.numpy().reshape(shape[0], -1)
    gram = m @ m.T if m.shape[0] <= m.shape[1] else m.T @ m
    np.testing.assert_allclose(gram, 4 * np.eye(min(m.shape)), atol=1e-12)


def test_seeded_and_device_independent(device):
    a, b = weight(5, 4), weight(5, 4)
    init.xavier_uniform_(a, generator=GEN(3))
    init.xavier_uniform_(b, generator=GEN(3))
    np.testing.assert_array_equal(a.numpy(), b.numpy())
    host = nn.Parameter(ad.zeros(5, 4, device="cpu"))
    init.xavier_uniform_(host, generator=GEN(3))
    np.testing.assert_array_equal(a.numpy(), host.numpy())
    init.zeros_(a)
    init.ones_(b)
    assert a.numpy().sum() == 0 and b.numpy().sum() == 20


def test_ntk_parametrisation():
    """f(x) = W x / sqrt(n_in) + b with W, b ~ N(0, 1): outputs stay O(1) as the width grows."""
    net = init.ntk_(nn.MLP([1000, 1000, 1]), generator=GEN(0))
    assert all(layer.parametrization == "ntk" for layer in net.linears)
    assert net[0].weight.numpy().std() == pytest.approx(1.0, rel=0.01)
    x = ad.randn(3, 1000, seed=1)
    expected = x.numpy() @ net[0].weight.numpy().T / math.sqrt(1000) + net[0].bias.numpy()
    np.testing.assert_allclose(net[0](x).numpy(), expected, rtol=1e-10)
    assert "parametrization='ntk'" in repr(net)
    built = nn.MLP([4, 3], parametrization="ntk", generator=GEN(0))
    assert built[0].parametrization == "ntk"


def test_errors():
    with pytest.raises(ValueError, match="unknown nonlinearity"):
        init.calculate_gain("swish")
    with pytest.raises(ValueError, match="at least 2 axes"):
        init.xavier_normal_(weight(3))
    with pytest.raises(ValueError, match="mode must be"):
        init.kaiming_normal_(weight(3, 3), mode="fan_avg")
    with pytest.raises(ValueError, match="parametrization must be one of"):
        nn.Linear(2, 2, parametrization="mup")
