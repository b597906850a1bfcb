"""Workload 4, Jacobian: the 5000 x 4120 parameter Jacobian J = D_theta f_theta(X) of a
64-30-30-30-10 ReLU MLP on 500 points (float64), and its rank (the functional dimension).

Rows are sample-major (row 10 i + k: output k of example i), columns in theta's layout
(:mod:`benchmarks.models`).  Ours is ``landscape.param_jacobian`` when the landscape package
exports it, else the engine directly: every example gets its own broadcast copy of each
weight as a leaf (shape (n, *W.shape)), the outputs are computed with ``ad.einsum``, and ONE
batched backward pass with one-hot cotangents of shape (10, n, 10) gives all per-example
gradients.  Peers: ``vmap(jacrev)`` in torch.func and JAX (with and without jit), and HIPS
autograd's ``jacobian`` (one vector-Jacobian product per output, in a Python loop).

Task "rank": ours end to end (``landscape.functional_dimension`` with ``RANK_METHOD`` when
exported, else J + SVD) beside the baseline "ours J+SVD" (our J, then NumPy's ``matrix_rank``,
a plain SVD); ``--slow`` adds the peers' J + their own ``matrix_rank``.  All ranks use the rule
sigma > sigma_max max(m, p) eps.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable
from typing import Any

import numpy as np

import autodiff as ad
from autodiff import backend
from autodiff.tensor import Tensor
from benchmarks import harness, models, peers
from benchmarks.harness import Case, host

NAME = "jacobian"
SIZES = (64, 30, 30, 30, 10)
N_POINTS = 500
RANK_METHOD = "stream"  # landscape.functional_dimension: NumPy's rule without holding J (issue 15)


def _data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(4)
    return models.init_theta(SIZES, rng, gain=2.0), rng.standard_normal((N_POINTS, SIZES[0]))


def engine_jacobian(theta: Tensor, x: Tensor) -> Tensor:
    """J by per-sample parameters and one batched backward pass (see the module docstring)."""
    xp = backend.array_module(x.data)
    n, dim = x.shape[0], SIZES[-1]
    layers = models.unflatten(theta.data, SIZES, xp.reshape)
    expanded = [
        Tensor(xp.broadcast_to(a, (n,) + a.shape), requires_grad=True) for layer in layers for a in layer
    ]
    h = x
    for k in range(0, len(expanded), 2):
        h = ad.einsum("ni,noi->no", h, expanded[k]) + expanded[k + 1]
        h = ad.relu(h) if k < len(expanded) - 2 else h
    seed = xp.zeros((dim, n, dim), dtype=h.dtype)
    seed[xp.arange(dim), :, xp.arange(dim)] = 1
    grads = ad.gradients(h, expanded, Tensor(seed), batched=True)  # each (dim, n, *param.shape)
    jac = xp.concatenate([xp.reshape(g.data, (dim, n, -1)) for g in grads], axis=2)
    return Tensor(xp.reshape(xp.swapaxes(jac, 0, 1), (n * dim, -1)))


def _model(theta: np.ndarray) -> Any:
    nn = importlib.import_module("nn")
    model = nn.MLP(SIZES, activation="relu", dtype="float64", device=peers.device())
    model.load_state_dict(models.state_dict(theta, SIZES))
    return model


def _landscape(name: str) -> Any | None:
    return getattr(importlib.import_module("landscape"), name, None)


def _ours_jacobian_build() -> Callable[[], Any]:
    theta, x = _data()
    if _landscape("param_jacobian") is not None:
        model, param_jacobian = _model(theta), _landscape("param_jacobian")
        return lambda: param_jacobian(model, x)
    theta_t, x_t = ad.tensor(theta, device=peers.device()), ad.tensor(x, device=peers.device())
    return lambda: engine_jacobian(theta_t, x_t)


def _ours_compiled_jacobian() -> Callable[[], Any]:
    theta, x = (ad.tensor(a, device=peers.device()) for a in _data())
    one = lambda t, xi: models.mlp(t, xi, SIZES, ad.relu, ad.reshape)
    jac = lambda t, xs: ad.reshape(
        ad.vmap(ad.jacrev(one), in_axes=(None, 0))(t, xs), (N_POINTS * SIZES[-1], -1)
    )
    return functools.partial(ad.compile(jac), theta, x)


def _ours_rank_build() -> Callable[[], Any]:
    theta, x = _data()
    functional_dimension = _landscape("functional_dimension")
    if functional_dimension is not None:
        model = _model(theta)
        return lambda: functional_dimension(model, x, method=RANK_METHOD).rank
    return _baseline_rank_build()


def _baseline_rank_build() -> Callable[[], Any]:
    jacobian = _ours_jacobian_build()
    return lambda: _matrix_rank(jacobian())


def _matrix_rank(jac: Tensor) -> int:
    return int(backend.array_module(jac.data).linalg.matrix_rank(jac.data))


def _torch_jacobian() -> Callable[[], Any]:
    torch = peers.torch()
    theta, x = (torch.from_numpy(a).to(peers.torch_device()) for a in _data())
    one = lambda t, xi: models.mlp(t, xi, SIZES, torch.relu, torch.reshape)
    jac = torch.func.vmap(torch.func.jacrev(one), in_dims=(None, 0))
    return lambda: jac(theta, x).reshape(N_POINTS * SIZES[-1], -1)


def _jax_jacobian(jit: bool) -> Callable[[], Any]:
    j = peers.jax()
    theta, x = (j.jnp.asarray(a) for a in _data())
    one = lambda t, xi: models.mlp(t, xi, SIZES, lambda h: j.jnp.maximum(h, 0), j.jnp.reshape)
    jac = lambda t, xs: j.jax.vmap(j.jax.jacrev(one), in_axes=(None, 0))(t, xs).reshape(
        N_POINTS * SIZES[-1], -1
    )
    jac = j.jax.jit(jac) if jit else jac
    return lambda: jac(theta, x)


def _autograd_jacobian() -> Callable[[], Any]:
    a = peers.autograd()
    theta, x = _data()
    f = lambda t: a.np.reshape(models.mlp(t, x, SIZES, lambda h: a.np.maximum(h, 0), a.np.reshape), (-1,))
    jac = a.autograd.jacobian(f)
    return lambda: jac(theta)


def _torch_rank() -> Callable[[], Any]:
    jacobian = _torch_jacobian()
    return lambda: peers.torch().linalg.matrix_rank(jacobian())


def _jax_rank() -> Callable[[], Any]:
    jacobian = _jax_jacobian(True)
    return lambda: peers.jax().jnp.linalg.matrix_rank(jacobian())


def _rank_fetch(rank: Any) -> dict[str, np.ndarray]:
    return {"rank": np.asarray(int(host(rank)))}


def cases(slow: bool = False) -> list[Case]:
    """Task J for every implementation; task rank for ours and the J + SVD baseline, and with
    ``slow`` for the peers (each of their SVDs takes tens of seconds)."""
    jac = (
        "landscape.param_jacobian(model, X)" if _landscape("param_jacobian") else "engine: per-sample weights"
    )
    per_example = "vmap(jacrev) per example"
    jacobians = {
        "ours": _ours_jacobian_build,
        "ours.compile": _ours_compiled_jacobian,
        "torch.func": _torch_jacobian,
        "jax": lambda: _jax_jacobian(False),
        "jax.jit": lambda: _jax_jacobian(True),
        "autograd": _autograd_jacobian,
    }
    jacobian_notes = {
        "ours": jac,
        "ours.compile": "ad.compile(vmap(jacrev)) per example",
        "torch.func": per_example,
        "jax": per_example,
        "jax.jit": per_example,
        "autograd": "autograd.jacobian: one vjp per output (Python loop)",
    }
    ranks = {"ours": _ours_rank_build}
    rank_notes = {"ours": "J + NumPy matrix_rank (SVD)"}
    if _landscape("functional_dimension") is not None:
        ranks["ours J+SVD"] = _baseline_rank_build
        rank_notes["ours"] = f"landscape.functional_dimension(model, X, method={RANK_METHOD!r})"
        rank_notes["ours J+SVD"] = f"{jac} + NumPy matrix_rank (SVD)"
    if slow:
        ranks.update({"torch.func": _torch_rank, "jax.jit": _jax_rank})
        rank_notes["torch.func"] = "vmap(jacrev) + torch.linalg.matrix_rank"
        rank_notes["jax.jit"] = "vmap(jacrev) + jnp.linalg.matrix_rank, jit (compilation included)"
    fetch = lambda out: {"J": host(out)}
    once = {"unit": "s", "fetch": _rank_fetch, "warmup": 0, "max_repeat": 1}
    return [
        *harness.cases(NAME, "J", jacobians, jacobian_notes, unit="s", tol=1e-10, fetch=fetch),
        *harness.cases(NAME, "rank", ranks, rank_notes, **once),
    ]
