"""The networks of the lecture in one line.

``MLP(sizes)`` is the fully-connected network of Malgouyres 2024:
f_0(x) = x, f_h(x) = sigma(W_h f_{h-1}(x) + b_h) for h < H, and an identity last layer
f_H(x) = W_H f_{H-1}(x) + b_H, with sizes (n_0, ..., n_H).  ``DeepLinear(widths)`` is the deep
linear network x -> W_H ... W_1 x (sigma(t) = t, no biases) whose landscape is studied in
Chitour 2019.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from autodiff.random import Generator
from nn.activations import activation as make_activation
from nn.containers import Sequential
from nn.layers import Linear
from nn.module import Module


def _check_sizes(name: str, sizes: Sequence[int]) -> list[int]:
    sizes = [int(n) for n in sizes]
    if len(sizes) < 2 or any(n < 1 for n in sizes):
        raise ValueError(
            f"{name}: sizes must be at least two positive layer widths (n_0, ..., n_H), got {sizes}"
        )
    return sizes


class MLP(Sequential):
    """Linear(n_0, n_1), sigma, Linear(n_1, n_2), sigma, ..., Linear(n_{H-1}, n_H)."""

    def __init__(
        self,
        sizes: Sequence[int],
        activation: str | Module = "relu",
        bias: bool = True,
        parametrization: str = "standard",
        generator: Generator | None = None,
        dtype: Any = None,
        device: str | None = None,
    ):
        sizes = _check_sizes("MLP", sizes)
        layers: list[Module] = []
        for h, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
            layers.append(Linear(n_in, n_out, bias, parametrization, generator, dtype, device))
            if h < len(sizes) - 2:
                layers.append(make_activation(activation))
        super().__init__(*layers)
        self.sizes = sizes

    @property
    def linears(self) -> list[Linear]:
        """The affine layers (W_1, b_1), ..., (W_H, b_H) in order."""
        return [m for m in self if isinstance(m, Linear)]


class DeepLinear(Sequential):
    """x -> W_H ... W_1 x with W_h in R^{n_h x n_{h-1}}, widths (n_0, ..., n_H), no biases."""

    def __init__(
        self,
        widths: Sequence[int],
        generator: Generator | None = None,
        dtype: Any = None,
        device: str | None = None,
    ):
        widths = _check_sizes("DeepLinear", widths)
        super().__init__(
            *(
                Linear(n_in, n_out, False, generator=generator, dtype=dtype, device=device)
                for n_in, n_out in zip(widths[:-1], widths[1:], strict=True)
            )
        )
        self.widths = widths

    @property
    def weights(self) -> list:
        """[W_1, ..., W_H]."""
        return [m.weight for m in self]
