"""Initialisation schemes, in place and seeded through a generator (``ad.random.Generator``).

The variance of a layer's output is ``fan_in * Var(W) * E[x^2]``: He (Kaiming) initialisation
takes ``Var(W) = gain^2 / fan`` so that signals neither vanish nor explode through depth (the
vanishing/exploding gradients of Malgouyres 2024), Glorot (Xavier)
``Var(W) = gain^2 * 2 / (fan_in + fan_out)``.  The NTK parametrisation
(the notes on why optimisation works, lazy training) draws W ~ N(0, 1) and scales
the layer's output by ``1 / sqrt(fan_in)`` instead.

Numbers are drawn on the host from the generator and copied to the tensor's device, so a seed
gives the same network on every device.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from autodiff import backend
from autodiff.graph import no_grad
from autodiff.random import Generator, resolve
from autodiff.tensor import Tensor


def _fill(t: Tensor, host: np.ndarray) -> Tensor:
    with no_grad():
        return t.copy_(backend.asarray(host, dtype=t.dtype, device=t.device))


def _rng(generator: Generator | None) -> np.random.Generator:
    return resolve(None, generator).numpy()


def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
    """The gain of an activation, as PyTorch: sqrt(2) for ReLU, 5/3 for tanh, 1 for linear."""
    if nonlinearity in ("linear", "identity", "sigmoid", "conv2d"):
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        slope = 0.01 if param is None else param
        return math.sqrt(2.0 / (1 + slope**2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"calculate_gain: unknown nonlinearity {nonlinearity!r}")


def fans(t: Tensor) -> tuple[int, int]:
    """(fan_in, fan_out) of a weight (out, in, *kernel): in * prod(kernel), out * prod(kernel)."""
    if t.ndim < 2:
        raise ValueError(f"fan_in/fan_out need a weight with at least 2 axes, got shape {t.shape}")
    receptive = math.prod(t.shape[2:])
    return t.shape[1] * receptive, t.shape[0] * receptive


def _fan(t: Tensor, mode: str) -> int:
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"mode must be 'fan_in' or 'fan_out', not {mode!r}")
    return fans(t)[0 if mode == "fan_in" else 1]


def uniform_(t: Tensor, a: float = 0.0, b: float = 1.0, generator: Generator | None = None) -> Tensor:
    return _fill(t, _rng(generator).uniform(a, b, t.shape))


def normal_(t: Tensor, mean: float = 0.0, std: float = 1.0, generator: Generator | None = None) -> Tensor:
    return _fill(t, _rng(generator).normal(mean, std, t.shape))


def constant_(t: Tensor, value: float) -> Tensor:
    with no_grad():
        return t.fill_(value)


def zeros_(t: Tensor) -> Tensor:
    return constant_(t, 0.0)


def ones_(t: Tensor) -> Tensor:
    return constant_(t, 1.0)


def kaiming_uniform_(
    t: Tensor,
    a: float = 0.0,
    mode: str = "fan_in",
    nonlinearity: str = "leaky_relu",
    generator: Generator | None = None,
) -> Tensor:
    """He uniform: U(-bound, bound), bound = gain * sqrt(3 / fan)."""
    bound = calculate_gain(nonlinearity, a) * math.sqrt(3.0 / _fan(t, mode))
    return uniform_(t, -bound, bound, generator)


def kaiming_normal_(
    t: Tensor,
    a: float = 0.0,
    mode: str = "fan_in",
    nonlinearity: str = "leaky_relu",
    generator: Generator | None = None,
) -> Tensor:
    """He normal: N(0, gain^2 / fan)."""
    return normal_(t, 0.0, calculate_gain(nonlinearity, a) / math.sqrt(_fan(t, mode)), generator)


def xavier_uniform_(t: Tensor, gain: float = 1.0, generator: Generator | None = None) -> Tensor:
    """Glorot uniform: U(-bound, bound), bound = gain * sqrt(6 / (fan_in + fan_out))."""
    fan_in, fan_out = fans(t)
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return uniform_(t, -bound, bound, generator)


def xavier_normal_(t: Tensor, gain: float = 1.0, generator: Generator | None = None) -> Tensor:
    """Glorot normal: N(0, gain^2 * 2 / (fan_in + fan_out))."""
    fan_in, fan_out = fans(t)
    return normal_(t, 0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)), generator)


def orthogonal_(t: Tensor, gain: float = 1.0, generator: Generator | None = None) -> Tensor:
    """A (semi-)orthogonal matrix (rows or columns orthonormal, times ``gain``) from the QR
    decomposition of a Gaussian matrix, signs fixed so the distribution is Haar."""
    if t.ndim < 2:
        raise ValueError(f"orthogonal_: needs at least 2 axes, got shape {t.shape}")
    rows, cols = t.shape[0], math.prod(t.shape[1:])
    gaussian = _rng(generator).standard_normal((max(rows, cols), min(rows, cols)))
    q, r = np.linalg.qr(gaussian)
    q = q * np.sign(np.diag(r))
    q = q.T if rows < cols else q
    return _fill(t, gain * q.reshape(t.shape))


def ntk_(module: Any, generator: Generator | None = None) -> Any:
    """Put every Linear layer of ``module`` (each layer with a ``parametrization``) in the NTK
    parametrisation: W, b ~ N(0, 1) and ``f(x) = W x / sqrt(fan_in) + b`` (Jacot et al. 2018)."""
    for layer in module.modules():
        if hasattr(layer, "parametrization"):
            layer.parametrization = "ntk"
            layer.reset_parameters(generator)
    return module
