"""Activation functions as modules (parameter-free): sigma in f_h = sigma(W_h f_{h-1} + b_h),
Malgouyres 2024."""

from __future__ import annotations

import copy

from autodiff.tensor import Tensor
from nn import functional as F
from nn.module import Module


class ReLU(Module):
    """max(0, x); relu'(0) = 0."""

    def forward(self, x: Tensor) -> Tensor:
        return F.relu(x)


class LeakyReLU(Module):
    """x for x > 0, negative_slope * x otherwise."""

    def __init__(self, negative_slope: float = 0.01):
        super().__init__()
        self.negative_slope = negative_slope

    def forward(self, x: Tensor) -> Tensor:
        return F.leaky_relu(x, self.negative_slope)

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}"


class Tanh(Module):
    def forward(self, x: Tensor) -> Tensor:
        return F.tanh(x)


class Sigmoid(Module):
    """1 / (1 + e^{-x}), computed without overflow."""

    def forward(self, x: Tensor) -> Tensor:
        return F.sigmoid(x)


class Softplus(Module):
    """log(1 + e^{beta x}) / beta, a smooth ReLU."""

    def __init__(self, beta: float = 1.0):
        super().__init__()
        self.beta = beta

    def forward(self, x: Tensor) -> Tensor:
        return F.softplus(x, self.beta)

    def extra_repr(self) -> str:
        return f"beta={self.beta}"


class GELU(Module):
    """x Phi(x), exact (erf), or in its tanh approximation with ``approximate="tanh"``."""

    def __init__(self, approximate: str = "none"):
        super().__init__()
        if approximate not in ("none", "tanh"):
            raise ValueError(f"GELU: approximate must be 'none' or 'tanh', not {approximate!r}")
        self.approximate = approximate

    def forward(self, x: Tensor) -> Tensor:
        return F.gelu(x, self.approximate)

    def extra_repr(self) -> str:
        return f"approximate={self.approximate!r}"


class Identity(Module):
    """sigma(t) = t: the linear networks of the lecture."""

    def forward(self, x: Tensor) -> Tensor:
        return x


ACTIVATION_MODULES = {
    "relu": ReLU,
    "leaky_relu": LeakyReLU,
    "tanh": Tanh,
    "sigmoid": Sigmoid,
    "softplus": Softplus,
    "gelu": GELU,
    "identity": Identity,
    "linear": Identity,
}


def activation(name: str | Module) -> Module:
    """A fresh activation module from its name (``"relu"``, ``"tanh"``, ...), or a copy of the
    module given (so that each layer has its own)."""
    if isinstance(name, Module):
        return copy.deepcopy(name)
    try:
        return ACTIVATION_MODULES[name]()
    except KeyError:
        raise ValueError(f"unknown activation {name!r}: use one of {', '.join(ACTIVATION_MODULES)}") from None
