"""Gradient clipping (PyTorch's ``nn.utils.clip_grad_norm_`` / ``clip_grad_value_``), in place
on the ``.grad`` of each parameter, on the device (no host synchronisation)."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from autodiff import backend
from autodiff.tensor import Tensor


def _with_grads(parameters: Iterable[Tensor] | Tensor) -> list[Tensor]:
    params = [parameters] if isinstance(parameters, Tensor) else list(parameters)
    return [p for p in params if p.grad is not None]


def clip_grad_norm_(parameters: Iterable[Tensor] | Tensor, max_norm: float, norm_type: float = 2.0) -> Tensor:
    """Scale every gradient by min(1, max_norm / (||g|| + 1e-6)), where ||g|| is the ``norm_type``
    norm of all gradients together (the norm of the per-parameter norms; ``inf``: the largest
    entry in absolute value).  Returns ||g|| (a 0-d tensor)."""
    grads = [p.grad.data for p in _with_grads(parameters)]
    if not grads:
        return Tensor(backend.asarray(0.0))
    xp = backend.array_module(grads[0])
    p = float(norm_type)
    if p == math.inf:
        total = xp.max(xp.stack([xp.max(xp.abs(g)) for g in grads]))
    else:
        norms = xp.stack([xp.sum(xp.abs(g) ** p) ** (1 / p) for g in grads])
        total = xp.sum(norms**p) ** (1 / p)
    coefficient = xp.minimum(max_norm / (total + 1e-6), 1.0)
    for g in grads:
        g *= coefficient
    return Tensor(xp.asarray(total))


def clip_grad_value_(parameters: Iterable[Tensor] | Tensor, clip_value: float) -> None:
    """Clamp every gradient entry to [-clip_value, clip_value]."""
    for p in _with_grads(parameters):
        xp: Any = backend.array_module(p.grad.data)
        p.grad.data[...] = xp.clip(p.grad.data, -clip_value, clip_value)
