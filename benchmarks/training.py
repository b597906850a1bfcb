"""Workload 2, training: one SGD step of a 784-256-256-10 ReLU MLP, batch 128, float32,
cross-entropy (forward, backward, parameter update; learning rate 0.1).

Every implementation starts from the same parameters and batch; the first step's loss and
updated parameters are compared.  Ours uses the project's ``nn`` package (``nn.MLP``,
``nn.functional.cross_entropy``, ``nn.optim.SGD``) when it is importable, else the same network
written with engine ops; the JSON says which (``note``).  PyTorch uses ``torch.nn`` and
``torch.optim.SGD``; JAX and autograd a functional step on a list of arrays; ``ours.compile``
the compiled step of ``nn.CompiledStep``; ``numpy`` the step written by hand in NumPy.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

import numpy as np

import autodiff as ad
from benchmarks import harness, models, peers
from benchmarks.harness import Case, host

NAME = "training"
SIZES = (784, 256, 256, 10)
BATCH = 128
LR = 0.1


def _data() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(2)
    theta = models.init_theta(SIZES, rng, gain=2.0).astype(np.float32)
    x = rng.standard_normal((BATCH, SIZES[0])).astype(np.float32)
    y = rng.integers(0, SIZES[-1], BATCH)
    return theta, x, y


def _flat(params: list[Any]) -> dict[str, np.ndarray]:
    return {"params": np.concatenate([host(p).ravel() for p in params])}


def _fetch(out: tuple[Any, list[Any]]) -> dict[str, np.ndarray]:
    loss, params = out
    return {"loss": host(loss).reshape(()), **_flat(params)}


def nn_package() -> Any | None:
    """The project's nn package when it has what this workload needs, else None."""
    try:
        nn = importlib.import_module("nn")
        nn.MLP, nn.functional.cross_entropy, nn.optim.SGD  # noqa: B018
    except (ImportError, AttributeError):
        return None
    return nn


def _ours_nn(nn: Any, compiled: bool = False) -> Callable[[], Any]:
    theta, x, y = _data()
    model = nn.MLP(SIZES, activation="relu", dtype="float32", device=peers.device())
    model.load_state_dict(models.state_dict(theta, SIZES))
    params = list(model.parameters())
    opt = nn.optim.SGD(params, lr=LR)
    x, y = ad.tensor(x, device=peers.device()), ad.tensor(y, device=peers.device())
    compiled_step = nn.CompiledStep(model, nn.functional.cross_entropy) if compiled else None

    def step() -> Any:
        if compiled_step is not None:
            _, loss = compiled_step([x], y)
        else:
            opt.zero_grad()
            loss = nn.functional.cross_entropy(model(x), y)
            loss.backward()
        opt.step()
        return loss, params

    return step


def _ours_ops() -> Callable[[], Any]:
    theta, x, y = _data()
    device = peers.device()
    params = [
        ad.tensor(a, requires_grad=True, device=device) for a in models.state_dict(theta, SIZES).values()
    ]
    x = ad.tensor(x, device=device)
    onehot = ad.tensor(np.eye(SIZES[-1], dtype=np.float32)[y], device=device)

    def step() -> Any:
        h = x
        for k in range(0, len(params), 2):
            h = h @ params[k].T + params[k + 1]
            h = ad.relu(h) if k < len(params) - 2 else h
        loss = -(onehot * ad.log_softmax(h, axis=-1)).sum(axis=-1).mean()
        loss.backward()
        with ad.no_grad():
            for p in params:
                p.sub_(LR * p.grad)
                p.grad = None
        return loss, params

    return step


def numpy_step(params: list[np.ndarray], x: np.ndarray, onehot: np.ndarray) -> np.float32:
    """One SGD step of the MLP written by hand in NumPy (forward, backward, update in place): the
    floor of a framework on the CPU.  d loss / d logits = (softmax - onehot) / batch."""
    hs = [x]
    for k in range(0, len(params), 2):
        h = hs[-1] @ params[k].T + params[k + 1]
        hs.append(np.maximum(h, 0) if k < len(params) - 2 else h)
    logits = hs.pop()
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    total = exp.sum(axis=1, keepdims=True)
    loss = np.mean(np.log(total)[:, 0] - (onehot * shifted).sum(axis=1))
    g = (exp / total - onehot) / np.float32(len(x))
    for k in range(len(params) - 2, -1, -2):
        h = hs.pop()
        gw, gb = g.T @ h, g.sum(axis=0)
        if k:
            g = (g @ params[k]) * (h > 0)
        params[k] -= np.float32(LR) * gw
        params[k + 1] -= np.float32(LR) * gb
    return loss


def _numpy() -> Callable[[], Any]:
    theta, x, y = _data()
    params = list(models.state_dict(theta, SIZES).values())
    onehot = np.eye(SIZES[-1], dtype=np.float32)[y]
    return lambda: (numpy_step(params, x, onehot), params)


def _torch() -> Callable[[], Any]:
    torch = peers.torch()
    theta, x, y = _data()
    layers = []
    for n_in, n_out in zip(SIZES[:-1], SIZES[1:], strict=True):
        layers += [torch.nn.Linear(n_in, n_out), torch.nn.ReLU()]
    model = torch.nn.Sequential(*layers[:-1]).to(peers.torch_device())
    model.load_state_dict({k: torch.from_numpy(v) for k, v in models.state_dict(theta, SIZES).items()})
    opt = torch.optim.SGD(model.parameters(), lr=LR)
    x = torch.from_numpy(x).to(peers.torch_device())
    y = torch.from_numpy(y).to(peers.torch_device())
    params = list(model.parameters())

    def step() -> Any:
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss, params

    return step


def _loss(xp: Any, logsumexp: Callable, params: list[Any], x: Any, onehot: Any) -> Any:
    h = x
    for k in range(0, len(params), 2):
        h = h @ params[k].T + params[k + 1]
        h = xp.maximum(h, 0) if k < len(params) - 2 else h
    return xp.mean(logsumexp(h) - xp.sum(onehot * h, axis=1))


def _jax(jit: bool) -> Callable[[], Any]:
    j = peers.jax()
    theta, x, y = _data()
    params = [j.jnp.asarray(a) for a in models.state_dict(theta, SIZES).values()]
    x = j.jnp.asarray(x)
    onehot = j.jnp.asarray(np.eye(SIZES[-1], dtype=np.float32)[y])
    lse = importlib.import_module("jax.scipy.special").logsumexp
    value_and_grad = j.jax.value_and_grad(lambda ps: _loss(j.jnp, lambda h: lse(h, axis=1), ps, x, onehot))

    def update(ps: list[Any]) -> tuple[Any, list[Any]]:
        loss, grads = value_and_grad(ps)
        return loss, [p - LR * g for p, g in zip(ps, grads, strict=True)]

    update = j.jax.jit(update) if jit else update
    state = [params]

    def step() -> Any:
        loss, state[0] = update(state[0])
        return loss, state[0]

    return step


def _autograd() -> Callable[[], Any]:
    a = peers.autograd()
    theta, x, y = _data()
    params = list(models.state_dict(theta, SIZES).values())
    onehot = np.eye(SIZES[-1], dtype=np.float32)[y]
    lse = importlib.import_module("autograd.scipy.special").logsumexp
    value_and_grad = a.autograd.value_and_grad(
        lambda ps: _loss(a.np, lambda h: lse(h, axis=1), ps, x, onehot)
    )
    state = [params]

    def step() -> Any:
        loss, grads = value_and_grad(state[0])
        state[0] = [p - np.float32(LR) * g for p, g in zip(state[0], grads, strict=True)]
        return loss, state[0]

    return step


def cases() -> list[Case]:
    nn = nn_package()
    builds = {
        "ours": (lambda: _ours_nn(nn)) if nn else _ours_ops,
        **({"ours.compile": lambda: _ours_nn(nn, compiled=True)} if nn else {}),
        "numpy": _numpy,
        "torch": _torch,
        "jax": lambda: _jax(False),
        "jax.jit": lambda: _jax(True),
        "autograd": _autograd,
    }
    notes = {
        "ours": "nn.MLP + nn.functional.cross_entropy + nn.optim.SGD" if nn else "hand-written MLP on ad ops",
        "torch": "torch.nn.Sequential + F.cross_entropy + torch.optim.SGD",
        "ours.compile": "nn.CompiledStep (ad.compile of loss, output, gradient) + nn.optim.SGD",
        "numpy": "forward, backward and update written by hand in NumPy",
    }
    return harness.cases(NAME, "sgd step", builds, notes, unit="ms", fetch=_fetch, tol=1e-5)
