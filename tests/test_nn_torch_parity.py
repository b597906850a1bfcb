"""The layers, losses, clipping functions and schedulers a PyTorch user reaches for, against
PyTorch in float64: values, parameter gradients and input gradients to 1e-10, in training and
evaluation modes; and 20 optimiser steps under each scheduler."""

import math

import numpy as np
import pytest

import autodiff as ad
import nn

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.cpu_only
GEN = ad.random.Generator
TOL = dict(rtol=1e-10, atol=1e-10)


def rand(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


def outputs(result):
    """A module's result as a list of tensors (recurrent layers return (output, h_n))."""
    return list(result) if isinstance(result, tuple) else [result]


def check_against_torch(ours, theirs, x, modes=("train", "eval")):
    """Same state -> same outputs, parameter gradients, input gradients and buffers."""
    theirs = theirs.double()
    theirs.load_state_dict({k: torch.tensor(v.numpy()) for k, v in ours.state_dict().items()})
    for mode in modes:
        getattr(ours, mode)(), getattr(theirs, mode)()
        ours.zero_grad(), theirs.zero_grad()
        xa, xt = ad.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
        got, want = outputs(ours(xa)), outputs(theirs(xt))
        seeds = [rand(*w.shape, seed=7 + k) for k, w in enumerate(want)]
        for g, w in zip(got, want, strict=True):
            np.testing.assert_allclose(g.numpy(), w.detach().numpy(), **TOL, err_msg=mode)
        ad.sum(sum(ad.sum(g * ad.tensor(s)) for g, s in zip(got, seeds, strict=True))).backward()
        sum((w * torch.tensor(s)).sum() for w, s in zip(want, seeds, strict=True)).backward()
        np.testing.assert_allclose(xa.grad.numpy(), xt.grad.numpy(), **TOL, err_msg=f"{mode} input grad")
        tp = dict(theirs.named_parameters())
        for name, p in ours.named_parameters():
            np.testing.assert_allclose(p.grad.numpy(), tp[name].grad.numpy(), **TOL, err_msg=f"{mode} {name}")
        tb = dict(theirs.named_buffers())
        for name, b in ours.named_buffers():
            np.testing.assert_allclose(b.numpy(), tb[name].numpy(), **TOL, err_msg=f"{mode} buffer {name}")


LAYERS = {
    "conv1d": (lambda: nn.Conv1d(3, 4, 3, generator=GEN(0)), lambda: torch.nn.Conv1d(3, 4, 3), (2, 3, 9)),
    "conv1d_strided": (
        lambda: nn.Conv1d(2, 3, 5, stride=2, padding=2, bias=False, generator=GEN(0)),
        lambda: torch.nn.Conv1d(2, 3, 5, stride=2, padding=2, bias=False),
        (3, 2, 10),
    ),
    "max_pool1d": (lambda: nn.MaxPool1d(3, 2, 1), lambda: torch.nn.MaxPool1d(3, 2, 1), (2, 3, 9)),
    "avg_pool1d": (lambda: nn.AvgPool1d(2), lambda: torch.nn.AvgPool1d(2), (2, 3, 9)),
    "avg_pool1d_padded": (lambda: nn.AvgPool1d(3, 2, 1), lambda: torch.nn.AvgPool1d(3, 2, 1), (2, 3, 8)),
    "batch_norm2d": (
        lambda: nn.BatchNorm2d(3, momentum=0.3),
        lambda: torch.nn.BatchNorm2d(3, momentum=0.3),
        (4, 3, 3, 2),
    ),
    "layer_norm": (lambda: nn.LayerNorm(5), lambda: torch.nn.LayerNorm(5), (3, 2, 5)),
    "layer_norm_2d": (
        lambda: nn.LayerNorm((2, 5), bias=False),
        lambda: torch.nn.LayerNorm((2, 5), bias=False),
        (3, 2, 5),
    ),
    "rnn": (lambda: nn.RNN(3, 4, generator=GEN(0)), lambda: torch.nn.RNN(3, 4), (5, 2, 3)),
    "rnn_relu_stacked_bidirectional": (
        lambda: nn.RNN(3, 4, 2, nonlinearity="relu", bidirectional=True, batch_first=True, generator=GEN(0)),
        lambda: torch.nn.RNN(3, 4, 2, nonlinearity="relu", bidirectional=True, batch_first=True),
        (2, 5, 3),
    ),
    "gru": (lambda: nn.GRU(3, 4, generator=GEN(0)), lambda: torch.nn.GRU(3, 4), (5, 2, 3)),
    "gru_stacked_bidirectional": (
        lambda: nn.GRU(3, 4, 2, bidirectional=True, batch_first=True, generator=GEN(0)),
        lambda: torch.nn.GRU(3, 4, 2, bidirectional=True, batch_first=True),
        (2, 5, 3),
    ),
    "gru_unbatched_no_bias": (
        lambda: nn.GRU(3, 4, bias=False, generator=GEN(0)),
        lambda: torch.nn.GRU(3, 4, bias=False),
        (5, 3),
    ),
    "gelu": (lambda: nn.GELU(), lambda: torch.nn.GELU(), (4, 6)),
    "gelu_tanh": (lambda: nn.GELU("tanh"), lambda: torch.nn.GELU(approximate="tanh"), (4, 6)),
}


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_layer_matches_torch(name):
    ours, theirs, shape = LAYERS[name]
    x = rand(*shape, seed=1)
    if "max_pool" in name:
        x = x + np.arange(x.size).reshape(shape) * 1e-3  # no ties
    check_against_torch(ours(), theirs(), x)


def test_recurrent_initial_state_and_names():
    gru = nn.GRU(2, 3, 2, bidirectional=True, generator=GEN(0))
    ref = torch.nn.GRU(2, 3, 2, bidirectional=True).double()
    assert [n for n, _ in gru.named_parameters()] == [n for n, _ in ref.named_parameters()]
    ref.load_state_dict({k: torch.tensor(v.numpy()) for k, v in gru.state_dict().items()})
    x, h0 = rand(4, 2, 2), rand(4, 2, 3, seed=1)
    out, h = gru(ad.tensor(x), ad.tensor(h0))
    ref_out, ref_h = ref(torch.tensor(x), torch.tensor(h0))
    np.testing.assert_allclose(out.numpy(), ref_out.detach().numpy(), **TOL)
    np.testing.assert_allclose(h.numpy(), ref_h.detach().numpy(), **TOL)
    assert all(abs(p.numpy()).max() <= 1 / math.sqrt(3) for p in gru.parameters())
    with pytest.raises(ValueError, match="hx must have shape"):
        gru(ad.tensor(x), ad.zeros(2, 2, 3))


# ----------------------------------------------------------------------------- losses, clipping
LOSSES = {
    "cross_entropy": (nn.CrossEntropyLoss, torch.nn.CrossEntropyLoss, "classes"),
    "nll": (nn.NLLLoss, torch.nn.NLLLoss, "classes"),
    "mse": (nn.MSELoss, torch.nn.MSELoss, "values"),
    "bce_with_logits": (nn.BCEWithLogitsLoss, torch.nn.BCEWithLogitsLoss, "probabilities"),
}


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("name", sorted(LOSSES))
def test_loss_modules_match_torch(name, reduction):
    ours, theirs, kind = LOSSES[name]
    z = rand(6, 4)
    target = {
        "classes": np.random.default_rng(2).integers(0, 4, 6),
        "values": rand(6, 4, seed=2),
        "probabilities": np.random.default_rng(2).random((6, 4)),
    }[kind]
    za, zt = ad.tensor(z, requires_grad=True), torch.tensor(z, requires_grad=True)
    got, want = ours(reduction)(za, ad.tensor(target)), theirs(reduction=reduction)(zt, torch.tensor(target))
    np.testing.assert_allclose(got.numpy(), want.detach().numpy(), **TOL)
    seed = rand(*want.shape, seed=3)
    ad.sum(got * ad.tensor(seed)).backward()
    (want * torch.tensor(seed)).sum().backward()
    np.testing.assert_allclose(za.grad.numpy(), zt.grad.numpy(), **TOL)
    with pytest.raises(ValueError, match="reduction must be"):
        ours("average")


def grads_pair(scale, seed=0):
    """Two parameters with gradients, ours and PyTorch's, equal."""
    arrays = [rand(3, 4, seed=seed) * scale, rand(5, seed=seed + 1) * scale]
    ours, theirs = [], []
    for a in arrays:
        p, q = nn.Parameter(ad.zeros(*a.shape)), torch.zeros(a.shape, dtype=torch.float64, requires_grad=True)
        p.grad, q.grad = ad.tensor(a.copy()), torch.tensor(a.copy())
        ours.append(p)
        theirs.append(q)
    return ours, theirs


@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.0, math.inf])
@pytest.mark.parametrize("scale", [0.01, 10.0])
def test_clip_grad_norm_matches_torch(norm_type, scale):
    ours, theirs = grads_pair(scale)
    total = nn.utils.clip_grad_norm_(ours, 1.5, norm_type)
    ref = torch.nn.utils.clip_grad_norm_(theirs, 1.5, norm_type)
    np.testing.assert_allclose(total.numpy(), ref.numpy(), **TOL)
    for p, q in zip(ours, theirs, strict=True):
        np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), **TOL)


def test_clip_grad_value_matches_torch():
    ours, theirs = grads_pair(2.0)
    nn.utils.clip_grad_value_(ours, 0.7)
    torch.nn.utils.clip_grad_value_(theirs, 0.7)
    for p, q in zip(ours, theirs, strict=True):
        np.testing.assert_array_equal(p.grad.numpy(), q.grad.numpy())


# ----------------------------------------------------------------------------- schedulers
SCHEDULERS = {
    "step": (
        lambda o: nn.optim.lr_scheduler.StepLR(o, 3, 0.5),
        lambda o: torch.optim.lr_scheduler.StepLR(o, 3, 0.5),
    ),
    "exponential": (
        lambda o: nn.optim.lr_scheduler.ExponentialLR(o, 0.9),
        lambda o: torch.optim.lr_scheduler.ExponentialLR(o, 0.9),
    ),
    "cosine": (
        lambda o: nn.optim.lr_scheduler.CosineAnnealingLR(o, 20, 0.001),
        lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, 20, 0.001),
    ),
    "lambda": (
        lambda o: nn.optim.lr_scheduler.LambdaLR(o, lambda t: 1 / (1 + t)),
        lambda o: torch.optim.lr_scheduler.LambdaLR(o, lambda t: 1 / (1 + t)),
    ),
    "linear_warmup": (
        lambda o: nn.optim.lr_scheduler.LinearLR(o, 0.1, 1.0, 8),
        lambda o: torch.optim.lr_scheduler.LinearLR(o, 0.1, 1.0, 8),
    ),
    "plateau": (
        lambda o: nn.optim.lr_scheduler.ReduceLROnPlateau(
            o, factor=0.5, patience=1, threshold=0.05, cooldown=1
        ),
        lambda o: torch.optim.lr_scheduler.ReduceLROnPlateau(
            o, factor=0.5, patience=1, threshold=0.05, cooldown=1
        ),
    ),
}


@pytest.mark.parametrize("name", sorted(SCHEDULERS))
def test_20_steps_with_each_scheduler_match_torch(name):
    ours_factory, torch_factory = SCHEDULERS[name]
    model = nn.MLP([4, 6, 3], generator=GEN(0))
    ref = torch.nn.Sequential(torch.nn.Linear(4, 6), torch.nn.ReLU(), torch.nn.Linear(6, 3)).double()
    ref.load_state_dict({k: torch.tensor(v.numpy()) for k, v in model.state_dict().items()})
    opt = nn.optim.SGD(model.parameters(), lr=0.2, momentum=0.5)
    ref_opt = torch.optim.SGD(ref.parameters(), lr=0.2, momentum=0.5)
    sched, ref_sched = ours_factory(opt), torch_factory(ref_opt)
    rng = np.random.default_rng(0)
    lrs = set()
    for _ in range(20):
        x, y = rng.standard_normal((8, 4)), rng.integers(0, 3, 8)
        opt.zero_grad()
        loss = nn.functional.cross_entropy(model(ad.tensor(x)), ad.tensor(y))
        loss.backward()
        opt.step()
        ref_opt.zero_grad()
        ref_loss = torch.nn.functional.cross_entropy(ref(torch.tensor(x)), torch.tensor(y))
        ref_loss.backward()
        ref_opt.step()
        if name == "plateau":
            sched.step(loss.item()), ref_sched.step(ref_loss.item())
        else:
            sched.step(), ref_sched.step()
        np.testing.assert_allclose(sched.get_last_lr(), ref_sched.get_last_lr(), rtol=1e-12)
        lrs.add(round(sched.get_last_lr()[0], 12))
        for (key, p), q in zip(model.named_parameters(), ref.parameters(), strict=True):
            np.testing.assert_allclose(p.numpy(), q.detach().numpy(), rtol=0, atol=1e-10, err_msg=key)
    assert len(lrs) > 1  # the schedule did change the rate


def test_scheduler_and_optimizer_state_dicts_round_trip():
    model = nn.MLP([3, 2], generator=GEN(0))
    opt = nn.optim.Adam(model.parameters(), lr=0.1)
    sched = nn.optim.lr_scheduler.StepLR(opt, 2, 0.5)
    for _ in range(3):
        opt.zero_grad()
        ad.sum(model(ad.ones(4, 3)) ** 2).backward()
        opt.step()
        sched.step()
    fresh_model = nn.MLP([3, 2], generator=GEN(1))
    fresh_opt = nn.optim.Adam(fresh_model.parameters(), lr=1.0)
    fresh_sched = nn.optim.lr_scheduler.StepLR(fresh_opt, 5, 0.9)
    fresh_opt.load_state_dict(opt.state_dict())
    fresh_sched.load_state_dict(sched.state_dict())
    assert fresh_sched.get_last_lr() == sched.get_last_lr() == [0.05]
    state, fresh = opt.state_dict()["state"], fresh_opt.state_dict()["state"]
    assert state.keys() == fresh.keys() and state[0]["step"] == 3
    np.testing.assert_array_equal(state[1]["exp_avg"], fresh[1]["exp_avg"])
    with pytest.raises(nn.CheckpointError, match="parameter groups of sizes"):
        nn.optim.Adam(nn.MLP([3, 4, 2]).parameters()).load_state_dict(opt.state_dict())
