"""Every layer: first- and second-order gradient checks with respect to inputs and parameters
(float64, reverse and forward mode), values against PyTorch, per-example gradients by vmap, builders."""

import math

import numpy as np
import pytest

import autodiff as ad
import nn
from nn import functional as F


def make(shape, seed=0, transform=None):
    a = np.random.default_rng(seed).standard_normal(shape)
    return ad.tensor(transform(a) if transform else a)


def distinct(a):
    """Entries pairwise apart (no ties for max pooling, no kinks hit by finite differences)."""
    ranks = np.argsort(np.argsort(a.ravel())).reshape(a.shape)
    return (ranks - a.size / 2) * 0.1 + 0.01 * a


def away_from_zero(a):
    return np.where(np.abs(a) < 0.2, a + np.sign(a + 1e-12) * 0.3, a)


def check_layer(layer, x):
    """gradcheck and gradgradcheck of (x, *params) -> layer(x) through functional_call."""
    names = [n for n, _ in layer.named_parameters()]
    params = [ad.tensor(p) for _, p in layer.named_parameters()]

    def f(x, *ps):
        return nn.functional_call(layer, dict(zip(names, ps, strict=True)), x)

    assert ad.gradcheck(f, [x, *params])
    assert ad.gradgradcheck(f, [x, *params])


GEN = ad.random.Generator
LAYERS = {
    "linear": (lambda: nn.Linear(3, 2, generator=GEN(0)), (4, 3), None),
    "linear_no_bias_3d_input": (lambda: nn.Linear(3, 2, bias=False, generator=GEN(0)), (2, 2, 3), None),
    "linear_ntk": (lambda: nn.Linear(3, 2, parametrization="ntk", generator=GEN(0)), (4, 3), None),
    "conv": (lambda: nn.Conv2d(2, 2, 3, padding=1, generator=GEN(0)), (1, 2, 3, 3), None),
    "conv_strided": (
        lambda: nn.Conv2d(1, 2, (2, 3), stride=2, padding=(1, 0), generator=GEN(0)),
        (2, 1, 4, 5),
        None,
    ),
    "max_pool": (lambda: nn.MaxPool2d(2), (1, 2, 4, 4), distinct),
    "max_pool_padded": (lambda: nn.MaxPool2d(3, stride=2, padding=1), (1, 1, 5, 5), distinct),
    "avg_pool": (lambda: nn.AvgPool2d(2), (1, 2, 4, 4), None),
    "avg_pool_padded": (lambda: nn.AvgPool2d(3, stride=2, padding=1), (1, 1, 5, 4), None),
    "flatten": (lambda: nn.Flatten(), (2, 2, 3), None),
    "batch_norm_train": (lambda: nn.BatchNorm1d(3), (5, 3), None),
    "batch_norm_train_3d": (lambda: nn.BatchNorm1d(2), (3, 2, 2), None),
    "batch_norm_eval": (lambda: _evaluated_batch_norm(), (4, 3), None),
    "residual": (
        lambda: nn.Residual(
            nn.Sequential(nn.Linear(3, 4, generator=GEN(1)), nn.Tanh(), nn.Linear(4, 3, generator=GEN(2)))
        ),
        (2, 3),
        None,
    ),
    "relu": (lambda: nn.ReLU(), (2, 3), away_from_zero),
    "leaky_relu": (lambda: nn.LeakyReLU(0.2), (2, 3), away_from_zero),
    "tanh": (lambda: nn.Tanh(), (2, 3), None),
    "sigmoid": (lambda: nn.Sigmoid(), (2, 3), None),
    "softplus": (lambda: nn.Softplus(beta=2.0), (2, 3), None),
    "gelu": (lambda: nn.GELU(), (2, 3), None),
    "identity": (lambda: nn.Identity(), (2, 3), None),
    "gelu_exact": (lambda: nn.GELU(), (2, 3), lambda a: a * 2),
    "gelu_exact_tails": (lambda: nn.GELU(), (2, 3), lambda a: np.sign(a) * (2.6 + np.abs(a))),
    "conv1d": (lambda: nn.Conv1d(2, 2, 3, stride=2, padding=1, generator=GEN(0)), (2, 2, 5), None),
    "max_pool1d": (lambda: nn.MaxPool1d(3, stride=2, padding=1), (1, 2, 5), distinct),
    "avg_pool1d": (lambda: nn.AvgPool1d(2), (1, 2, 4), None),
    "batch_norm2d_train": (lambda: nn.BatchNorm2d(2), (2, 2, 2, 2), None),
    "layer_norm": (lambda: _affine(nn.LayerNorm((2, 3))), (2, 2, 3), None),
    "rnn": (lambda: _Outputs(nn.RNN(2, 2, bidirectional=True, generator=GEN(0))), (3, 2, 2), None),
    "gru": (lambda: _Outputs(nn.GRU(2, 2, batch_first=True, generator=GEN(0))), (2, 3, 2), None),
}


class _Outputs(nn.Module):
    """A recurrent layer's output sequence and last states as one (N, features) tensor."""

    def __init__(self, rnn):
        super().__init__()
        self.rnn = rnn

    def forward(self, x):
        out, h = self.rnn(x)
        out = out if self.rnn.batch_first else ad.swapaxes(out, 0, 1)
        return ad.concatenate([ad.flatten(out, 1), ad.flatten(ad.swapaxes(h, 0, 1), 1)], axis=1)


def _affine(layer):
    with ad.no_grad():
        layer.weight.copy_(make(layer.weight.shape, seed=8))
        layer.bias.copy_(make(layer.bias.shape, seed=9))
    return layer


def _evaluated_batch_norm():
    bn = nn.BatchNorm1d(3)
    bn.running_mean = make((3,), seed=5)
    bn.running_var = ad.tensor([0.5, 1.5, 2.0])
    with ad.no_grad():
        bn.weight.copy_(make((3,), seed=6))
        bn.bias.copy_(make((3,), seed=7))
    return bn.eval()


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_layer_gradchecks(name):
    build, shape, transform = LAYERS[name]
    check_layer(build(), make(shape, seed=3, transform=transform))


def test_dropout():
    x = ad.ones(2000)
    layer = nn.Dropout(0.25, generator=GEN(0))
    out = layer(x).numpy()
    assert set(np.unique(out)) == {0.0, 1 / 0.75}
    assert abs((out == 0).mean() - 0.25) < 0.03
    np.testing.assert_array_equal(layer.eval()(x).numpy(), x.numpy())
    fixed_mask = lambda x: F.dropout(x, 0.5, True, GEN(1))  # noqa: E731 (same mask at every call)
    assert ad.gradcheck(fixed_mask, [make((2, 3))])


def test_batch_norm_running_statistics():
    bn = nn.BatchNorm1d(2, momentum=0.5)
    x = ad.tensor([[1.0, 2.0], [3.0, 6.0]])
    bn(x)
    np.testing.assert_allclose(bn.running_mean.numpy(), [1.0, 2.0])  # 0.5 * 0 + 0.5 * [2, 4]
    np.testing.assert_allclose(bn.running_var.numpy(), [0.5 + 0.5 * 2.0, 0.5 + 0.5 * 8.0])  # unbiased var
    with pytest.raises(ValueError, match="BatchNorm1d\\(2\\): expected an input"):
        bn(ad.ones(2, 3))


@pytest.mark.cpu_only
def test_layers_match_torch():
    torch = pytest.importorskip("torch")
    tn = torch.nn
    x = make((2, 3, 7, 6))
    conv = nn.Conv2d(3, 4, (3, 2), stride=(2, 1), padding=1, generator=GEN(0))
    ref = tn.Conv2d(3, 4, (3, 2), stride=(2, 1), padding=1).double()
    ref.load_state_dict({k: torch.tensor(v.numpy()) for k, v in conv.state_dict().items()})
    t = torch.tensor(x.numpy())
    np.testing.assert_allclose(conv(x).numpy(), ref(t).detach().numpy(), rtol=1e-12, atol=1e-13)
    pairs = [
        (nn.MaxPool2d(3, 2, 1), tn.MaxPool2d(3, 2, 1)),
        (nn.AvgPool2d(2), tn.AvgPool2d(2)),
        (nn.AvgPool2d(3, 2, 1), tn.AvgPool2d(3, 2, 1)),
    ]
    for ours, theirs in pairs:
        np.testing.assert_allclose(ours(x).numpy(), theirs(t).numpy(), rtol=1e-12)
    v = make((5, 3), seed=1)
    tv = torch.tensor(v.numpy())
    acts = [
        (nn.GELU(), tn.GELU()),
        (nn.GELU("tanh"), tn.GELU(approximate="tanh")),
        (nn.Softplus(2.0), tn.Softplus(beta=2.0)),
        (nn.LeakyReLU(0.2), tn.LeakyReLU(0.2)),
        (nn.Sigmoid(), tn.Sigmoid()),
    ]
    for ours, theirs in acts:
        np.testing.assert_allclose(ours(v).numpy(), theirs(tv).numpy(), rtol=1e-12)
    bn, tbn = nn.BatchNorm1d(3), tn.BatchNorm1d(3).double()
    np.testing.assert_allclose(bn(v).numpy(), tbn(tv).detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(bn.running_var.numpy(), tbn.running_var.numpy(), rtol=1e-12)


def test_per_sample_gradients_of_the_new_layers():
    """Per-example gradients of Conv1d, LayerNorm and GRU by vmap, as for the other layers."""
    net = nn.Sequential(
        nn.Conv1d(1, 2, 3, padding=1, generator=GEN(0)),
        nn.LayerNorm(4),
        _Outputs(nn.GRU(4, 2, batch_first=True, generator=GEN(1))),
    )
    _affine(net[1])
    assert_per_sample_gradients(net, make((3, 1, 4), seed=5))


def test_erf_to_float64_accuracy():
    """erf from the engine's ops against math.erf on a grid (relative 1e-15), erfc in the tails,
    and erf' = 2/sqrt(pi) e^{-x^2}."""
    grid = np.linspace(-6, 6, 2401)
    x = ad.tensor(grid, requires_grad=True)
    erf = F.erf(x)
    want = np.array([math.erf(v) for v in grid])
    nonzero = want != 0
    assert np.max(np.abs(erf.numpy() - want)[nonzero] / np.abs(want[nonzero])) < 1.5e-15
    tail = np.linspace(2.5, 26, 300)
    want_c = np.array([math.erfc(v) for v in tail])
    assert np.max(np.abs(F.erfc(ad.tensor(tail)).numpy() - want_c) / want_c) < 1e-13  # exp(-x^2) rounding
    ad.sum(erf).backward()
    np.testing.assert_allclose(
        x.grad.numpy(), 2 / np.sqrt(np.pi) * np.exp(-(grid**2)), rtol=1e-11, atol=1e-14
    )
    np.testing.assert_allclose(
        nn.GELU()(ad.tensor(grid)).numpy(),
        grid / 2 * (1 + np.array([math.erf(v / math.sqrt(2)) for v in grid])),
        atol=1e-15,
    )
    with pytest.raises(ValueError, match="approximate must be 'none' or 'tanh'"):
        nn.GELU("fast")


def test_default_init_is_pytorch_uniform():
    layer = nn.Linear(50, 40, generator=GEN(0))
    w = layer.weight.numpy()
    assert np.abs(w).max() <= 1 / np.sqrt(50) and np.abs(w).max() > 0.9 / np.sqrt(50)


# ----------------------------------------------------------------------------- per-example gradients
def per_sample_net():
    net = nn.Sequential(
        nn.Conv2d(1, 2, 3, padding=1, generator=GEN(0)),
        nn.Tanh(),
        nn.AvgPool2d(2),
        nn.Flatten(),
        nn.Linear(8, 3, generator=GEN(1)),
        nn.BatchNorm1d(3),
        nn.Softplus(),
        nn.Linear(3, 2, generator=GEN(2)),
    )
    net[5].running_mean = make((3,), seed=4)
    return net.eval()


def assert_per_sample_gradients(net, x):
    """Per-example gradients by vmap (the layers know nothing of per-example parameters: vmap
    gives each example its own copy) equal the gradients of each example alone."""
    n = len(x)
    names = [name for name, _ in net.named_parameters()]

    def loss(xi, *params):
        out = nn.functional_call(net, dict(zip(names, params, strict=True)), xi[None])
        return ad.sum(out * out)

    argnums = tuple(range(1, len(names) + 1))
    per_example = ad.vmap(ad.grad(loss, argnums), in_axes=(0, *[None] * len(names)))(
        x, *[p.detach() for _, p in net.named_parameters()]
    )
    for i in range(n):
        net.zero_grad()
        single = net(x[i : i + 1])
        ad.sum(single * single).backward()
        for g, (name, p) in zip(per_example, net.named_parameters(), strict=True):
            assert g.shape == (n,) + p.shape, name
            np.testing.assert_allclose(g.numpy()[i], p.grad.numpy(), rtol=1e-10, atol=1e-12, err_msg=name)


def test_per_sample_gradients_equal_one_example_at_a_time():
    assert_per_sample_gradients(per_sample_net(), make((3, 1, 4, 4), seed=5))


def test_vmap_of_jacrev_gives_the_parameter_jacobian():
    """Per-example Jacobians in the parameters, stacked, are jacrev's Jacobian of the batch."""
    net = nn.MLP([3, 4, 2], activation="tanh", generator=GEN(0))
    n = 4
    x = make((n, 3), seed=1)
    w = ad.tensor(net[0].weight)
    one = lambda xi, w: nn.functional_call(net, {"0.weight": w}, xi[None])[0]  # noqa: E731
    rows = ad.vmap(ad.jacrev(one, 1), in_axes=(0, None))(x, w)  # (n, 2, 4, 3)
    jac = ad.jacrev(lambda w: nn.functional_call(net, {"0.weight": w}, x))(w)  # (n, 2, 4, 3)
    np.testing.assert_allclose(rows.numpy(), jac.numpy(), rtol=1e-12, atol=1e-14)


def test_functional_call_refuses_parameters_of_another_shape():
    layer = nn.Linear(3, 2)
    with pytest.raises(ValueError, match=r"params\['weight'\] has shape \(4, 2, 3\) .* \(2, 3\); .* vmap"):
        nn.functional_call(layer, {"weight": ad.zeros(4, 2, 3)}, ad.ones(5, 3))


# ----------------------------------------------------------------------------- builders
def test_mlp_is_the_lecture_network():
    """f_h = sigma(W_h f_{h-1} + b_h), identity last layer, W_h of shape (n_h, n_{h-1})."""
    net = nn.MLP([3, 5, 4, 2], activation="tanh", generator=GEN(0))
    assert [lin.weight.shape for lin in net.linears] == [(5, 3), (4, 5), (2, 4)]
    x = make((6, 3), seed=1)
    f = x.numpy()
    for h, lin in enumerate(net.linears):
        f = f @ lin.weight.numpy().T + lin.bias.numpy()
        f = np.tanh(f) if h < 2 else f
    np.testing.assert_allclose(net(x).numpy(), f, rtol=1e-12)
    assert [type(m).__name__ for m in net] == ["Linear", "Tanh", "Linear", "Tanh", "Linear"]


def test_deep_linear_is_a_product_of_matrices():
    net = nn.DeepLinear([3, 4, 4, 2], generator=GEN(0))
    assert all(lin.bias is None for lin in net)
    w1, w2, w3 = (w.numpy() for w in net.weights)
    x = make((5, 3), seed=1)
    np.testing.assert_allclose(net(x).numpy(), x.numpy() @ (w3 @ w2 @ w1).T, rtol=1e-12)


def test_builder_errors():
    with pytest.raises(ValueError, match="MLP: sizes must be at least two"):
        nn.MLP([3])
    with pytest.raises(ValueError, match="unknown activation 'swish'"):
        nn.MLP([3, 2, 1], activation="swish")
    with pytest.raises(ValueError, match="conv2d: input has 2 channels"):
        nn.Conv2d(3, 1, 2)(ad.ones(1, 2, 4, 4))


@pytest.mark.parametrize("kind", ["RNN", "GRU"])
def test_recurrent_dropout_acts_between_stacked_layers(kind):
    """``dropout=p`` (PyTorch's argument, in its place) drops the outputs of every layer but the
    last while training: the same as the first layer, F.dropout with the same generator, then
    the second layer; nothing in eval mode; refused outside [0, 1); a warning with one layer."""
    cls = getattr(nn, kind)
    x = ad.tensor(np.random.default_rng(0).standard_normal((5, 3, 4)))
    two = cls(4, 6, 2, True, False, 0.4, True, generator=GEN(1))
    one = cls(4, 6, 1, bidirectional=True, generator=GEN(9))
    top = cls(12, 6, 1, bidirectional=True, generator=GEN(9))
    for name, p in two.named_parameters():
        layer = one if "_l0" in name else top
        getattr(layer, name.replace("_l1", "_l0")).data[...] = p.data
    two.generator = GEN(5)
    got, h = two(x)
    batch_major = ad.swapaxes(one(x)[0], 0, 1)  # the layers read (N, L, features): the mask's layout
    middle = ad.swapaxes(nn.functional.dropout(batch_major, 0.4, True, GEN(5)), 0, 1)
    want = top(middle)[0]
    np.testing.assert_array_equal(got.numpy(), want.numpy())
    two.eval()
    np.testing.assert_array_equal(two(x)[0].numpy(), top(one(x)[0])[0].numpy())
    assert "dropout=0.4" in repr(two)
    for bad in (1.0, -0.1, "0.5", None):
        with pytest.raises(ValueError, match=f"{kind}: dropout must be a number in \\[0, 1\\), got"):
            cls(4, 6, 2, dropout=bad)
    with pytest.warns(UserWarning, match="dropout=0.5 with num_layers=1 does nothing"):
        cls(4, 6, dropout=0.5)
