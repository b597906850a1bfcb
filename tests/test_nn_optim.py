"""Optimisers and schedules: exact first steps, PyTorch parity over 20 steps in float64,
parameter groups, perturbed gradient descent escaping a strict saddle, and errors."""

import math

import numpy as np
import pytest

import autodiff as ad
import nn
from nn import functional as F


def quadratic_step(opt_factory, start, steps=1):
    """Run an optimiser on L(w) = 0.5 * ||w||^2 (gradient w); returns the iterates."""
    w = nn.Parameter(ad.tensor(start))
    opt = opt_factory([w])
    iterates = []
    for _ in range(steps):
        opt.zero_grad()
        (0.5 * ad.sum(w * w)).backward()
        opt.step()
        iterates.append(w.numpy().copy())
    return iterates


def test_sgd_known_steps():
    (w1,) = quadratic_step(lambda p: nn.optim.SGD(p, lr=0.1), [1.0, -2.0])
    np.testing.assert_allclose(w1, [0.9, -1.8])
    # heavy ball: b1 = g0 = w0, w1 = w0 - lr b1; b2 = mu b1 + g1, w2 = w1 - lr b2
    w1, w2 = quadratic_step(lambda p: nn.optim.SGD(p, lr=0.1, momentum=0.5), [1.0], steps=2)
    assert w1[0] == pytest.approx(0.9) and w2[0] == pytest.approx(0.9 - 0.1 * (0.5 * 1.0 + 0.9))
    # weight decay adds wd * w to the gradient
    (w1,) = quadratic_step(lambda p: nn.optim.SGD(p, lr=0.1, weight_decay=1.0), [1.0])
    assert w1[0] == pytest.approx(0.8)


def test_adam_first_step_is_lr_times_sign():
    (w1,) = quadratic_step(lambda p: nn.optim.Adam(p, lr=0.01), [3.0, -0.5])
    np.testing.assert_allclose(w1, [3.0 - 0.01, -0.5 + 0.01], rtol=1e-6)


def test_parameter_groups_have_their_own_lr():
    a, b = nn.Parameter(ad.tensor([1.0])), nn.Parameter(ad.tensor([1.0]))
    opt = nn.optim.SGD([{"params": [a]}, {"params": [b], "lr": 0.5}], lr=0.1)
    (a * 1.0 + b * 1.0).sum().backward()
    opt.step()
    assert a.item() == pytest.approx(0.9) and b.item() == pytest.approx(0.5)


def test_step_bumps_versions():
    w = nn.Parameter(ad.tensor([1.0, 2.0]))
    loss = ad.sum(w * w)
    loss.backward(retain_graph=True)
    nn.optim.SGD([w], lr=0.1).step()
    with pytest.raises(RuntimeError, match="modified by an in-place operation"):
        loss.backward()


def test_schedules():
    w = nn.Parameter(ad.ones(1))
    opt = nn.optim.SGD([w], lr=1.0)
    step = nn.optim.StepLR(opt, step_size=2, gamma=0.5)
    lrs = []
    for _ in range(5):
        lrs.append(opt.param_groups[0]["lr"])
        step.step()
    assert lrs == [1.0, 1.0, 0.5, 0.5, 0.25]
    opt = nn.optim.SGD([w], lr=2.0)
    cosine = nn.optim.CosineAnnealingLR(opt, T_max=4, eta_min=0.0)
    values = [cosine.get_last_lr()[0]] + [cosine.step() or cosine.get_last_lr()[0] for _ in range(5)]
    np.testing.assert_allclose(
        values, [2.0, 1 + math.cos(math.pi / 4), 1.0, 1 - math.cos(math.pi / 4), 0.0, 0.0]
    )
    opt = nn.optim.SGD([w], lr=1.0)
    inverse = nn.optim.InverseSqrtLR(opt)
    inverse.step(), inverse.step(), inverse.step()
    assert opt.param_groups[0]["lr"] == pytest.approx(0.5)  # 1 / sqrt(4)


def test_perturbed_gd_escapes_a_strict_saddle():
    """L(x, y) = x^2 / 2 - y^2 / 2 + y^4 / 4: (0, 0) is a strict saddle, the minima are
    (0, +-1).  Gradient descent started at the saddle never moves; PGD escapes (Jin et al. 2017)
    and then stays within the noise radius of a minimum."""

    def run(optimizer_class, **kwargs):
        w = nn.Parameter(ad.zeros(2))
        opt = optimizer_class([w], lr=0.1, **kwargs)
        for _ in range(300):
            opt.zero_grad()
            x, y = w[0], w[1]
            (0.5 * x * x - 0.5 * y * y + 0.25 * y**4).backward()
            opt.step()
        return w.numpy(), opt

    stuck, _ = run(nn.optim.SGD)
    np.testing.assert_array_equal(stuck, [0.0, 0.0])
    escaped, opt = run(nn.optim.PerturbedGD, radius=1e-2, threshold=1e-3, generator=ad.random.Generator(0))
    # near the minimum the gradient is small again, so PGD keeps adding noise of radius 1e-2
    assert abs(abs(escaped[1]) - 1.0) < 2e-2 and abs(escaped[0]) < 2e-2
    assert opt.perturbations and opt.perturbations[0] == 0


def test_perturbed_gd_resumes_its_schedule_exactly(tmp_path):
    """PerturbedGD's state holds its step count, the steps it perturbed and its generator's state:
    a run stopped at step 40 and resumed (from ``state_dict`` or from a checkpoint) perturbs at
    the same steps, with the same noise, as the uninterrupted one.  A plain optimiser's state is
    refused."""

    def loss(w):
        x, y = w[0], w[1]
        return 0.5 * x * x - 0.5 * y * y + 0.25 * y**4

    def run(steps, w=None, opt=None):
        w = w if w is not None else nn.Parameter(ad.zeros(2))
        opt = opt or nn.optim.PerturbedGD(
            [w], lr=0.1, threshold=1e-2, interval=5, generator=ad.random.Generator(3)
        )
        for _ in range(steps):
            opt.zero_grad()
            loss(w).backward()
            opt.step()
        return w, opt

    straight, opt_straight = run(80)
    half, opt_half = run(40)
    for resume in ("state_dict", "checkpoint"):
        w = nn.Parameter(ad.zeros(2))
        opt = nn.optim.PerturbedGD([w], lr=0.1, threshold=1e-2, interval=5, generator=ad.random.Generator(99))
        if resume == "state_dict":
            w.data[...] = half.data
            opt.load_state_dict(opt_half.state_dict())
        else:
            model = nn.Sequential()
            model.w = half
            nn.save_checkpoint(tmp_path / "pgd.npz", model, opt_half)
            model = nn.Sequential()
            model.w = w
            nn.load_checkpoint(tmp_path / "pgd.npz", model, opt)
        w, opt = run(40, w, opt)
        np.testing.assert_array_equal(w.numpy(), straight.numpy())
        assert opt.perturbations == opt_straight.perturbations and max(opt.perturbations) > 40
    with pytest.raises(nn.CheckpointError, match="no perturbation schedule"):
        opt.load_state_dict(nn.optim.SGD([nn.Parameter(ad.zeros(2))], lr=0.1).state_dict())
    saved, t = opt_half.state_dict(), opt.t
    for key, bad in (("t", "x"), ("generator", {"state": 1})):
        broken = {
            **saved,
            "schedule": {**saved["schedule"], key: bad},
            "param_groups": [{"lr": 9.0, "params": [0]}],
        }
        with pytest.raises(nn.CheckpointError, match="schedule is malformed.*nothing was loaded"):
            opt.load_state_dict(broken)
        assert opt.t == t and opt.param_groups[0]["lr"] == 0.1  # all or nothing


def test_errors():
    with pytest.raises(ValueError, match="SGD: got an empty list of parameters"):
        nn.optim.SGD([], lr=0.1)
    w = nn.Parameter(ad.ones(1))
    with pytest.raises(ValueError, match="more than one group"):
        nn.optim.SGD([{"params": [w]}, {"params": [w]}], lr=0.1)
    with pytest.raises(ValueError, match="unknown hyperparameters \\['betas'\\]"):
        nn.optim.SGD([{"params": [w], "betas": (0.9, 0.9)}], lr=0.1)
    with pytest.raises(ValueError, match="lr must be >= 0"):
        nn.optim.Adam([w], lr=-1.0)
    with pytest.raises(TypeError, match="leaf tensors that require grad"):
        nn.optim.SGD([ad.ones(1)], lr=0.1)


# ----------------------------------------------------------------------------- PyTorch parity
OPTIMIZERS = {
    "sgd": (lambda p: nn.optim.SGD(p, lr=0.1), "SGD", dict(lr=0.1)),
    "sgd_momentum_wd": (
        lambda p: nn.optim.SGD(p, lr=0.05, momentum=0.9, weight_decay=1e-2),
        "SGD",
        dict(lr=0.05, momentum=0.9, weight_decay=1e-2),
    ),
    "sgd_nesterov": (
        lambda p: nn.optim.SGD(p, lr=0.05, momentum=0.8, nesterov=True),
        "SGD",
        dict(lr=0.05, momentum=0.8, nesterov=True),
    ),
    "adam": (lambda p: nn.optim.Adam(p, lr=0.01), "Adam", dict(lr=0.01)),
    "adam_wd": (
        lambda p: nn.optim.Adam(p, lr=0.01, betas=(0.8, 0.99), weight_decay=0.1),
        "Adam",
        dict(lr=0.01, betas=(0.8, 0.99), weight_decay=0.1),
    ),
    "adamw": (lambda p: nn.optim.AdamW(p, lr=0.01), "AdamW", dict(lr=0.01)),
    "rmsprop": (
        lambda p: nn.optim.RMSprop(p, lr=0.01, momentum=0.5, centered=True),
        "RMSprop",
        dict(lr=0.01, momentum=0.5, centered=True),
    ),
}


@pytest.mark.cpu_only
@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_follows_pytorch_for_20_steps(name):
    torch = pytest.importorskip("torch")
    ours_factory, torch_name, kwargs = OPTIMIZERS[name]
    model = nn.MLP([5, 8, 8, 3], generator=ad.random.Generator(0))
    ref = torch.nn.Sequential(
        torch.nn.Linear(5, 8), torch.nn.ReLU(), torch.nn.Linear(8, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3)
    ).double()
    ref.load_state_dict({k: torch.tensor(v.numpy()) for k, v in model.state_dict().items()})
    opt, ref_opt = (
        ours_factory(model.parameters()),
        getattr(torch.optim, torch_name)(ref.parameters(), **kwargs),
    )
    rng = np.random.default_rng(0)
    for _ in range(20):
        x, y = rng.standard_normal((16, 5)), rng.integers(0, 3, 16)
        opt.zero_grad()
        F.cross_entropy(model(ad.tensor(x)), ad.tensor(y)).backward()
        opt.step()
        ref_opt.zero_grad()
        torch.nn.functional.cross_entropy(ref(torch.tensor(x)), torch.tensor(y)).backward()
        ref_opt.step()
        for (key, p), q in zip(model.named_parameters(), ref.parameters(), strict=True):
            np.testing.assert_allclose(p.numpy(), q.detach().numpy(), rtol=0, atol=1e-10, err_msg=key)


def test_clipping_known_answers():
    p, q = nn.Parameter(ad.zeros(2)), nn.Parameter(ad.zeros(1))
    p.grad, q.grad = ad.tensor([3.0, 0.0]), ad.tensor([4.0])
    total = nn.utils.clip_grad_norm_([p, q], 1.0)  # ||(3, 0, 4)|| = 5
    assert total.item() == 5.0
    np.testing.assert_allclose(p.grad.numpy(), [3 / (5 + 1e-6), 0.0], rtol=1e-15)
    nn.utils.clip_grad_value_([p, q], 0.7)
    np.testing.assert_array_equal(q.grad.numpy(), [0.7])
    assert nn.utils.clip_grad_norm_(p, 10.0).item() == pytest.approx(0.6, rel=1e-5)  # below: unchanged
    np.testing.assert_allclose(p.grad.numpy(), [3 / (5 + 1e-6), 0.0], rtol=1e-15)


def test_checkpoint_round_trip_on_the_device(tmp_path):
    model = nn.MLP([3, 4, 2], generator=ad.random.Generator(0))
    opt = nn.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    sched = nn.optim.lr_scheduler.ExponentialLR(opt, 0.5)
    for _ in range(2):
        opt.zero_grad()
        ad.sum(model(ad.ones(5, 3)) ** 2).backward()
        opt.step()
        sched.step()
    nn.save_checkpoint(tmp_path / "c.npz", model, opt, sched)
    fresh = nn.MLP([3, 4, 2], generator=ad.random.Generator(1))
    fresh_opt = nn.optim.SGD(fresh.parameters(), lr=1.0, momentum=0.9)
    fresh_sched = nn.optim.lr_scheduler.ExponentialLR(fresh_opt, 0.9)
    nn.load_checkpoint(tmp_path / "c.npz", fresh, fresh_opt, fresh_sched)
    assert fresh_opt.param_groups[0]["lr"] == pytest.approx(0.025) and fresh_sched.t == 2
    for (name, p), q in zip(model.named_parameters(), fresh.parameters(), strict=True):
        np.testing.assert_array_equal(q.numpy(), p.numpy(), err_msg=name)
        buffers = [ad.tensor(o.state[t]["momentum_buffer"]).numpy() for o, t in ((opt, p), (fresh_opt, q))]
        np.testing.assert_array_equal(buffers[1], buffers[0], err_msg=name)
