"""The networks of the workloads, written once for every framework.

Parameters are a flat vector theta = (W_1, b_1, ..., W_H, b_H), each W_h of shape (out, in)
flattened in C order: the layout of ``landscape.ParamSpace`` for ``nn.MLP`` (PyTorch's
``nn.Linear`` layout).  :func:`mlp` runs the network with any framework's arrays (ours, torch,
JAX, autograd's NumPy): the caller passes that framework's ``reshape`` and activation; slicing,
``.T``, ``@`` and ``+`` are common to all.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np


def init_theta(sizes: Sequence[int], rng: np.random.Generator, gain: float = 1.0) -> np.ndarray:
    """W ~ N(0, gain / in), b ~ N(0, 0.01), flattened (float64)."""
    parts = []
    for n_in, n_out in zip(sizes[:-1], sizes[1:], strict=True):
        parts.append(rng.standard_normal((n_out, n_in)).ravel() * np.sqrt(gain / n_in))
        parts.append(rng.standard_normal(n_out) * 0.1)
    return np.concatenate(parts)


def unflatten(
    theta: Any, sizes: Sequence[int], reshape: Callable[[Any, tuple], Any]
) -> list[tuple[Any, Any]]:
    """[(W_1, b_1), ...] as slices of theta (differentiable in every framework)."""
    layers, offset = [], 0
    for n_in, n_out in zip(sizes[:-1], sizes[1:], strict=True):
        w = reshape(theta[offset : offset + n_out * n_in], (n_out, n_in))
        offset += n_out * n_in
        layers.append((w, theta[offset : offset + n_out]))
        offset += n_out
    return layers


def mlp(theta: Any, x: Any, sizes: Sequence[int], act: Callable, reshape: Callable) -> Any:
    """f_theta(x): act after every layer but the last; x of shape (n, in) or (in,)."""
    layers = unflatten(theta, sizes, reshape)
    h = x
    for i, (w, b) in enumerate(layers):
        h = h @ w.T + b
        if i < len(layers) - 1:
            h = act(h)
    return h


def state_dict(theta: np.ndarray, sizes: Sequence[int]) -> dict[str, np.ndarray]:
    """theta as the state dict of ``nn.MLP(sizes)`` / ``torch.nn.Sequential`` (linears at even
    indices, activations between)."""
    state = {}
    for k, (w, b) in enumerate(unflatten(theta, sizes, np.reshape)):
        state[f"{2 * k}.weight"] = np.ascontiguousarray(w)
        state[f"{2 * k}.bias"] = np.ascontiguousarray(b)
    return state
