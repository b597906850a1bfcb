"""Module mechanics: registration, traversal, modes, state dicts, devices, repr, name scopes, and
functional_call (substitution, restoration on error, per-sample parameters)."""

import numpy as np
import pytest

import autodiff as ad
import nn


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 4, generator=ad.random.Generator(0))
        self.scale = nn.Parameter(ad.tensor([2.0]))
        self.register_buffer("count", ad.zeros(1))
        self.note = "plain attribute"

    def forward(self, x):
        return self.fc(x) * self.scale


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.block = Block()
        self.head = nn.Sequential(nn.ReLU(), nn.Linear(4, 2, generator=ad.random.Generator(1)))

    def forward(self, x):
        return self.head(self.block(x))


def test_parameter_is_a_leaf_tensor_requiring_grad():
    p = nn.Parameter(ad.ones(2))
    assert isinstance(p, ad.Tensor) and p.requires_grad and p.is_leaf
    assert "Parameter(" in repr(p)
    with pytest.raises(TypeError, match="cannot require gradients"):
        nn.Parameter(ad.tensor([1, 2]))


def test_registration_and_traversal():
    net = Net()
    names = [n for n, _ in net.named_parameters()]
    # a module's own parameters first, then its children's (PyTorch's order)
    assert names == ["block.scale", "block.fc.weight", "block.fc.bias", "head.1.weight", "head.1.bias"]
    assert [n for n, _ in net.named_buffers()] == ["block.count"]
    assert [type(m).__name__ for m in net.children()] == ["Block", "Sequential"]
    assert [type(m).__name__ for m in net.modules()] == [
        "Net",
        "Block",
        "Linear",
        "Sequential",
        "ReLU",
        "Linear",
    ]
    assert net.num_parameters() == (3 * 4 + 4) + 1 + (4 * 2 + 2)
    assert net.block.note == "plain attribute"
    with pytest.raises(TypeError, match="registered parameter"):
        net.block.scale = ad.ones(1)
    with pytest.raises(AttributeError, match="no attribute 'missing'"):
        net.missing  # noqa: B018


def test_shared_parameters_are_listed_once():
    layer = nn.Linear(2, 2)
    seq = nn.Sequential(layer, layer)
    assert len(list(seq.parameters())) == 2


def test_train_eval_and_zero_grad():
    net = Net()
    assert all(m.training for m in net.modules())
    net.eval()
    assert not any(m.training for m in net.modules())
    net.train()
    out = net(ad.ones(5, 3)).sum()
    out.backward()
    assert all(p.grad is not None for p in net.parameters())
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())


def test_state_dict_round_trip_and_all_or_nothing():
    a, b = Net(), Net()
    with ad.no_grad():
        for p in b.parameters():
            p.mul_(0.0)
    b.load_state_dict({k: v.numpy().copy() for k, v in a.state_dict().items()})
    for (_, p), (_, q) in zip(a.named_parameters(), b.named_parameters(), strict=True):
        np.testing.assert_array_equal(p.numpy(), q.numpy())
    before = {k: v.numpy().copy() for k, v in b.state_dict().items()}
    bad = {k: v.numpy().copy() for k, v in a.state_dict().items()}
    bad["head.1.weight"] = np.zeros((3, 4))  # wrong shape, listed after valid entries
    with pytest.raises(nn.CheckpointError, match="head.1.weight.*shape \\(3, 4\\)"):
        b.load_state_dict(bad)
    del bad["head.1.weight"]
    with pytest.raises(nn.CheckpointError, match="missing keys \\['head.1.weight'\\]"):
        b.load_state_dict(bad)
    for k, v in b.state_dict().items():
        np.testing.assert_array_equal(v.numpy(), before[k])


def test_to_moves_and_casts_in_place(device):
    net = Net()
    params = list(net.parameters())
    net.to(dtype="float32")
    assert all(p.dtype == np.float32 for p in net.parameters())
    assert [id(p) for p in net.parameters()] == [id(p) for p in params]
    other = "cpu" if device == "strict" else "strict"
    net.to(other)
    assert all(p.device == other for p in net.parameters()) and net.block.count.device == other
    assert net(ad.ones(2, 3, dtype="float32", device=other)).shape == (2, 2)


def test_repr_shows_structure_and_counts():
    text = repr(nn.MLP([4, 8, 3]))
    assert text.splitlines()[0] == "MLP(  # 67 parameters"
    assert "(0): Linear(in_features=4, out_features=8, bias=True)  # 40" in text
    assert "(1): ReLU()" in text
    assert repr(nn.Linear(2, 3)) == "Linear(in_features=2, out_features=3, bias=True)  # 9 parameters"


def test_call_enters_name_scopes():
    net = Net()
    x = ad.ones(2, 3)
    scopes = set()
    out = net(x).sum()
    stack = [out]
    seen = set()
    while stack:
        v = stack.pop()
        if id(v) in seen or not isinstance(v, ad.Tensor):
            continue
        seen.add(id(v))
        if v.scope is not None:
            scopes.add(v.scope)
        stack.extend(p for p in (v.parents or ()) if isinstance(p, ad.Tensor))
    assert ("Net", "block", "fc") in scopes
    assert ("Net", "head", "1") in scopes
    assert ("Net", "block") in scopes  # the multiplication by scale
    assert ("Linear",) in {t.scope for t in [nn.Linear(3, 1)(x)]}


def test_functional_call_substitutes_and_restores():
    net = Net()
    x = ad.randn(5, 3, seed=0)
    zeros = {name: ad.zeros_like(p) for name, p in net.named_parameters()}
    assert np.all(nn.functional_call(net, zeros, x).numpy() == 0)
    partial = {"head.1.bias": ad.ones(2)}
    expected = net(x).numpy() - net.head[1].bias.numpy() + 1
    np.testing.assert_allclose(nn.functional_call(net, partial, x).numpy(), expected, rtol=1e-12)
    originals = {n: p for n, p in net.named_parameters()}
    with pytest.raises(ValueError):
        nn.functional_call(net, {"block.fc.weight": ad.zeros(4, 5)}, x)  # shape mismatch inside forward
    assert all(originals[n] is p for n, p in net.named_parameters())
    with pytest.raises(KeyError, match="'nope' is not a parameter or buffer"):
        nn.functional_call(net, {"nope": ad.ones(1)}, x)


def test_functional_call_gives_gradients_wrt_the_substitutes():
    net = nn.MLP([3, 4, 2], generator=ad.random.Generator(0))
    x = ad.randn(6, 3, seed=1)
    params = {n: ad.tensor(p, requires_grad=True) for n, p in net.named_parameters()}
    loss = nn.functional_call(net, params, x).sum()
    grads = ad.gradients(loss, list(params.values()))
    net(x).sum().backward()
    for g, p in zip(grads, net.parameters(), strict=True):
        np.testing.assert_allclose(g.numpy(), p.grad.numpy(), rtol=1e-12)


def test_functional_call_keeps_running_statistics():
    bn = nn.BatchNorm1d(3)
    before = bn.running_mean
    nn.functional_call(bn, {"weight": ad.ones(3) * 2}, ad.randn(8, 3, seed=0))
    assert bn.running_mean is before


@pytest.mark.cpu_only
def test_functional_call_from_several_threads_gives_each_its_own_parameters():
    import threading

    layer = nn.Linear(2, 1)
    x = ad.ones(1, 2)
    results, errors = {}, []

    def call(k):
        try:
            for _ in range(200):
                w = ad.full((1, 2), float(k))
                out = nn.functional_call(layer, {"weight": w, "bias": ad.zeros(1)}, x)
                if out.item() != 2.0 * k:
                    errors.append((k, out.item()))
            results[k] = True
        except Exception as error:  # pragma: no cover - reported below
            errors.append((k, repr(error)))

    threads = [threading.Thread(target=call, args=(k,)) for k in range(1, 5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(results) == 4
