"""Workload 1, overhead: a 300-op elementwise chain on a 16-vector, forward + backward.

The arrays are tiny, so the time is the framework's own cost per operation: recording the
graph, dispatching, and running each rule.  Reported in microseconds per op (the call time
divided by 300).  The chain repeats y <- tanh(sin(y) * x + x) (four ops: sin, mul, add, tanh),
which keeps values in [-1, 1]; the result is summed (one more op, not counted) and
differentiated with respect to x.  Beside the engine: ``ours.compile`` (``ad.compile`` of the
gradient: the traced program replayed) and ``numpy``, the floor: the same chain and its gradient
written by hand in NumPy.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import numpy as np

import autodiff as ad
from benchmarks import harness, peers
from benchmarks.harness import Case, host

NAME = "overhead"
N_OPS = 300
SIZE = 16


def chain(x: Any, sin: Callable, tanh: Callable) -> Any:
    """N_OPS elementwise ops on x (any framework's array)."""
    y = x
    for _ in range(N_OPS // 4):
        y = tanh(sin(y) * x + x)
    return y


def _x0() -> np.ndarray:
    return np.random.default_rng(1).uniform(-1, 1, SIZE)


def _ours() -> Callable[[], Any]:
    x = ad.tensor(_x0(), requires_grad=True, device=peers.device())

    def call() -> Any:
        chain(x, ad.sin, ad.tanh).sum().backward()
        g, x.grad = x.grad, None
        return g

    return call


def _ours_compiled() -> Callable[[], Any]:
    x = ad.tensor(_x0(), device=peers.device())
    return functools.partial(ad.compile(ad.grad(lambda x: chain(x, ad.sin, ad.tanh).sum())), x)


def numpy_chain_grad(x: np.ndarray) -> np.ndarray:
    """The floor: the chain and its gradient written by hand in NumPy, one ufunc per op (forward:
    sin, multiply, add, tanh per block; backward: the adjoints of the lecture, block by block)."""
    saved, y = [], x
    for _ in range(N_OPS // 4):
        s = np.sin(y)
        t = np.tanh(s * x + x)
        saved.append((y, s, t))
        y = t
    gy, gx = np.ones_like(x), np.zeros_like(x)
    for y, s, t in reversed(saved):
        ga = gy * (1 - t * t)  # tanh' = 1 - tanh^2
        gx += ga * s + ga  # d(s x + x)/dx
        gy = ga * x * np.cos(y)  # d(sin(y) x)/dy
    return gx


def _numpy() -> Callable[[], Any]:
    return functools.partial(numpy_chain_grad, _x0())


def _torch_eager() -> Callable[[], Any]:
    torch = peers.torch()
    x = torch.tensor(_x0(), requires_grad=True, device=peers.torch_device())

    def call() -> Any:
        chain(x, torch.sin, torch.tanh).sum().backward()
        g, x.grad = x.grad, None
        return g

    return call


def _torch_func() -> Callable[[], Any]:
    torch = peers.torch()
    x = torch.tensor(_x0(), device=peers.torch_device())
    g = torch.func.grad(lambda x: chain(x, torch.sin, torch.tanh).sum())
    return lambda: g(x)


def _jax(jit: bool) -> Callable[[], Any]:
    j = peers.jax()
    x = j.jnp.asarray(_x0())
    g = j.jax.grad(lambda x: chain(x, j.jnp.sin, j.jnp.tanh).sum())
    g = j.jax.jit(g) if jit else g
    return lambda: g(x)


def _autograd() -> Callable[[], Any]:
    a = peers.autograd()
    x = _x0()
    g = a.autograd.grad(lambda x: a.np.sum(chain(x, a.np.sin, a.np.tanh)))
    return lambda: g(x)


def cases() -> list[Case]:
    builds = {
        "ours": _ours,
        "ours.compile": _ours_compiled,
        "numpy": _numpy,
        "torch": _torch_eager,
        "torch.func": _torch_func,
        "jax": lambda: _jax(False),
        "jax.jit": lambda: _jax(True),
        "autograd": _autograd,
    }
    fetch = lambda g: {"grad": host(g)}
    return harness.cases(NAME, "fwd+bwd", builds, per=N_OPS, unit="us/op", fetch=fetch)
