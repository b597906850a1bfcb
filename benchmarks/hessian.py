"""Workload 3, Hessian: the dense Hessian (p = 1441) of the MSE loss of a 10-32-32-1 tanh MLP on
128 points, float64, as a function of the flat parameter vector theta.

Ours is ``landscape.hessian(f, theta)`` when the landscape package provides it (chunked
forward-over-reverse), else ``ad.hessian(f)(theta)``; peers are ``torch.func.hessian``
(forward-over-reverse), ``jax.hessian`` with and without jit, and HIPS autograd's ``hessian``
(one vector-Jacobian product per row, in a Python loop).  The JSON's note says which of ours
ran.  ``ours.compile``: the Hessian program (every chunk of the reverse-over-reverse pass, 32
directions each) traced once by ``ad.compile`` and replayed.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable
from typing import Any

import numpy as np

import autodiff as ad
from benchmarks import harness, models, peers
from benchmarks.harness import Case, host

NAME = "hessian"
SIZES = (10, 32, 32, 1)
N_POINTS = 128
COMPILED_MODE = "rev-rev"
# Directions per batched pass of the compiled Hessian: replayed, a pass costs no Python per
# operation, so smaller chunks win by keeping the batched (chunk, 128, 32) arrays in cache
# (one thread, best of 7: 0.135 s in chunks of 32, 0.140 of 64, 0.152 of 128, 0.167 of 256,
# 0.178 in one pass).  The eager default (256) pays per operation and keeps its bigger chunks.
COMPILED_CHUNK = 32


def _data() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    theta = models.init_theta(SIZES, rng)
    x = rng.standard_normal((N_POINTS, SIZES[0]))
    y = np.sin(x.sum(axis=1, keepdims=True))
    return theta, x, y


def loss(theta: Any, x: Any, y: Any, tanh: Callable, reshape: Callable, mean: Callable) -> Any:
    r = models.mlp(theta, x, SIZES, tanh, reshape) - y
    return mean(r * r)


def ours_hessian() -> tuple[Callable[[Callable, Any], Any], str]:
    """The library function when it exists (one line to change), else the engine's transform."""
    landscape = importlib.import_module("landscape")
    if hasattr(landscape, "hessian"):
        return landscape.hessian, "landscape.hessian(f, theta)"
    return lambda f, theta: ad.hessian(f)(theta), "ad.hessian(f)(theta)"


def _ours() -> Callable[[], Any]:
    theta, x, y = (ad.tensor(a, device=peers.device()) for a in _data())
    hessian, _ = ours_hessian()
    f = lambda t: loss(t, x, y, ad.tanh, ad.reshape, ad.mean)
    return lambda: hessian(f, theta)


def _ours_compiled() -> Callable[[], Any]:
    theta, x, y = (ad.tensor(a, device=peers.device()) for a in _data())
    f = lambda t: loss(t, x, y, ad.tanh, ad.reshape, ad.mean)
    return functools.partial(ad.compile(ad.hessian(f, mode=COMPILED_MODE, chunk_size=COMPILED_CHUNK)), theta)


def _torch() -> Callable[[], Any]:
    torch = peers.torch()
    theta, x, y = (torch.from_numpy(a).to(peers.torch_device()) for a in _data())
    h = torch.func.hessian(lambda t: loss(t, x, y, torch.tanh, torch.reshape, torch.mean))
    return lambda: h(theta)


def _jax(jit: bool) -> Callable[[], Any]:
    j = peers.jax()
    theta, x, y = (j.jnp.asarray(a) for a in _data())
    h = j.jax.hessian(lambda t: loss(t, x, y, j.jnp.tanh, j.jnp.reshape, j.jnp.mean))
    h = j.jax.jit(h) if jit else h
    return lambda: h(theta)


def _autograd() -> Callable[[], Any]:
    a = peers.autograd()
    theta, x, y = _data()
    h = a.autograd.hessian(lambda t: loss(t, x, y, a.np.tanh, a.np.reshape, a.np.mean))
    return lambda: h(theta)


def cases() -> list[Case]:
    builds = {
        "ours": _ours,
        "ours.compile": _ours_compiled,
        "torch.func": _torch,
        "jax": lambda: _jax(False),
        "jax.jit": lambda: _jax(True),
        "autograd": _autograd,
    }
    notes = {
        "ours": ours_hessian()[1],
        "ours.compile": f"ad.compile(ad.hessian(f, mode={COMPILED_MODE!r}))(theta)",
        "torch.func": "torch.func.hessian",
        "autograd": "one vjp per row (Python loop)",
    }
    return harness.cases(NAME, "H", builds, notes, unit="s", tol=1e-10, fetch=lambda h: {"H": host(h)})
