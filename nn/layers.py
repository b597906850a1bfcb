"""Layers with parameters or state: Linear, Conv1d, Conv2d, BatchNorm1d/2d, LayerNorm, pooling,
Flatten, Dropout, and the residual block.

Each layer's default initialisation is PyTorch's (U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for
weights and biases), drawn from ``generator`` (the default generator when None).
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import autodiff as ad
from autodiff.graph import no_grad
from autodiff.ops.conv import pair
from autodiff.random import Generator
from autodiff.tensor import Tensor
from nn import functional as F
from nn import init
from nn.module import Module, Parameter

PARAMETRIZATIONS = ("standard", "ntk")


def check_sizes(name: str, **sizes: Any) -> None:
    """Refuse layer sizes that are not non-negative integers, naming the layer and the argument."""
    for key, n in sizes.items():
        if not isinstance(n, numbers.Integral) or isinstance(n, bool) or n < 0:
            raise TypeError(f"{name}: {key} must be a non-negative int, not {n!r}")


def _empty(*shape: int, dtype: Any, device: str | None) -> Parameter:
    return Parameter(ad.zeros(*shape, dtype=dtype, device=device))


class Linear(Module):
    """``y = x W^T + b`` with W in R^{out x in} (the lecture's W_h in R^{n_h x n_{h-1}}) and
    b in R^{out}.  ``parametrization="ntk"``: W, b ~ N(0, 1) and ``y = x W^T / sqrt(in) + b``."""

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        parametrization: str = "standard",
        generator: Generator | None = None,
        dtype: Any = None,
        device: str | None = None,
    ):
        super().__init__()
        if parametrization not in PARAMETRIZATIONS:
            raise ValueError(
                f"Linear: parametrization must be one of {PARAMETRIZATIONS}, not {parametrization!r}"
            )
        check_sizes("Linear", in_features=in_features, out_features=out_features)
        self.in_features, self.out_features = in_features, out_features
        self.parametrization = parametrization
        self.weight = _empty(out_features, in_features, dtype=dtype, device=device)
        self.bias = _empty(out_features, dtype=dtype, device=device) if bias else None
        self.reset_parameters(generator)

    def reset_parameters(self, generator: Generator | None = None) -> None:
        if self.parametrization == "ntk":
            init.normal_(self.weight, generator=generator)
            if self.bias is not None:
                init.normal_(self.bias, generator=generator)
            return
        bound = 1 / math.sqrt(self.in_features) if self.in_features else 0.0
        init.uniform_(self.weight, -bound, bound, generator)
        if self.bias is not None:
            init.uniform_(self.bias, -bound, bound, generator)

    def forward(self, x: Tensor) -> Tensor:
        scale = 1.0 if self.parametrization == "standard" else 1 / math.sqrt(self.in_features)
        return F.linear(x, self.weight, self.bias, scale)

    def extra_repr(self) -> str:
        ntk = ", parametrization='ntk'" if self.parametrization == "ntk" else ""
        sizes = f"in_features={self.in_features}, out_features={self.out_features}"
        return f"{sizes}, bias={self.bias is not None}{ntk}"


class _Conv(Module):
    """Shared by Conv1d and Conv2d: ``geometry`` checks sizes (an int, or a pair for 2-D)."""

    geometry = staticmethod(pair)
    function = staticmethod(F.conv2d)

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: Any,
        stride: Any = 1,
        padding: Any = 0,
        bias: bool = True,
        generator: Generator | None = None,
        dtype: Any = None,
        device: str | None = None,
    ):
        super().__init__()
        name = type(self).__name__
        check_sizes(name, in_channels=in_channels, out_channels=out_channels)
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size = self.geometry(kernel_size, name, "kernel_size", 1)
        self.stride = self.geometry(stride, name, "stride", 1)
        self.padding = self.geometry(padding, name, "padding", 0)
        kernel = self.kernel_size if isinstance(self.kernel_size, tuple) else (self.kernel_size,)
        self.weight = _empty(out_channels, in_channels, *kernel, dtype=dtype, device=device)
        self.bias = _empty(out_channels, dtype=dtype, device=device) if bias else None
        self.reset_parameters(generator)

    def reset_parameters(self, generator: Generator | None = None) -> None:
        bound = 1 / math.sqrt(init.fans(self.weight)[0])
        init.uniform_(self.weight, -bound, bound, generator)
        if self.bias is not None:
            init.uniform_(self.bias, -bound, bound, generator)

    def forward(self, x: Tensor) -> Tensor:
        return self.function(x, self.weight, self.bias, self.stride, self.padding)

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}, "
            f"padding={self.padding}, bias={self.bias is not None}"
        )


class Conv1d(_Conv):
    """1-D convolution (cross-correlation) of (N, C_in, L) into (N, C_out, L_out), by im2col
    and one matrix product; weight (C_out, C_in, k), bias (C_out,)."""

    geometry = staticmethod(F._single)
    function = staticmethod(F.conv1d)


class Conv2d(_Conv):
    """2-D convolution (cross-correlation) of (N, C_in, H, W) into (N, C_out, oh, ow), by im2col
    and one matrix product; weight (C_out, C_in, kh, kw), bias (C_out,)."""


class _Pool2d(Module):
    geometry = staticmethod(pair)
    function = staticmethod(F.max_pool2d)

    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0):
        super().__init__()
        name = type(self).__name__
        self.kernel_size = self.geometry(kernel_size, name, "kernel_size", 1)
        self.stride = self.kernel_size if stride is None else self.geometry(stride, name, "stride", 1)
        self.padding = self.geometry(padding, name, "padding", 0)

    def forward(self, x: Tensor) -> Tensor:
        return self.function(x, self.kernel_size, self.stride, self.padding)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class MaxPool2d(_Pool2d):
    """The maximum over each window (N, C, H, W) -> (N, C, oh, ow)."""


class AvgPool2d(_Pool2d):
    """The mean over each window (N, C, H, W) -> (N, C, oh, ow)."""

    function = staticmethod(F.avg_pool2d)


class _Pool1d(_Pool2d):
    geometry = staticmethod(F._single)
    function = staticmethod(F.max_pool1d)


class MaxPool1d(_Pool1d):
    """The maximum over each window (N, C, L) -> (N, C, L_out)."""


class AvgPool1d(_Pool1d):
    """The mean over each window (N, C, L) -> (N, C, L_out)."""

    function = staticmethod(F.avg_pool1d)


class Flatten(Module):
    """Merge axes ``start_dim..end_dim`` (by default all but the batch axis)."""

    def __init__(self, start_dim: int = 1, end_dim: int = -1):
        super().__init__()
        self.start_dim, self.end_dim = start_dim, end_dim

    def forward(self, x: Tensor) -> Tensor:
        return ad.flatten(x, self.start_dim, self.end_dim)

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class _BatchNorm(Module):
    """Batch normalisation over every axis but the channel axis 1 (Ioffe & Szegedy 2015):
    ``(x - mean) / sqrt(var + eps) * weight + bias``.  Training uses the batch statistics and
    updates the running ones (``running = (1 - momentum) running + momentum batch``, unbiased
    variance); evaluation uses the running ones, so examples are then independent (and
    per-example gradients by ``ad.vmap`` are those of the layer on one example)."""

    shapes: tuple[str, ...] = ()  # the accepted input shapes, C standing for num_features

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float = 0.1,
        affine: bool = True,
        dtype: Any = None,
        device: str | None = None,
    ):
        super().__init__()
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.weight = Parameter(ad.ones(num_features, dtype=dtype, device=device)) if affine else None
        self.bias = _empty(num_features, dtype=dtype, device=device) if affine else None
        self.register_buffer("running_mean", ad.zeros(num_features, dtype=dtype, device=device))
        self.register_buffer("running_var", ad.ones(num_features, dtype=dtype, device=device))

    def forward(self, x: Tensor) -> Tensor:
        name = type(self).__name__
        if x.ndim not in [shape.count(",") + 1 for shape in self.shapes] or x.shape[1] != self.num_features:
            expected = " or ".join(shape.replace("C", str(self.num_features)) for shape in self.shapes)
            raise ValueError(
                f"{name}({self.num_features}): expected an input {expected}, got shape {x.shape}"
            )
        if not self.training:
            return F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias, self.eps)
        axes = (0, *range(2, x.ndim))
        count = math.prod(x.shape[a] for a in axes)
        if count < 2:
            raise ValueError(f"{name}: training needs more than one value per channel, got shape {x.shape}")
        mean, var = ad.mean(x, axis=axes), ad.var(x, axis=axes)
        with no_grad():
            m = self.momentum
            self.running_mean = Tensor((1 - m) * self.running_mean.data + m * mean.data)
            self.running_var = Tensor((1 - m) * self.running_var.data + m * var.data * (count / (count - 1)))
        return F.batch_norm(x, mean, var, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return (
            f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.weight is not None}"
        )


class BatchNorm1d(_BatchNorm):
    """Batch normalisation of (N, C) or (N, C, L) over the batch (and length) axes."""

    shapes = ("(N, C)", "(N, C, L)")


class BatchNorm2d(_BatchNorm):
    """Batch normalisation of images (N, C, H, W) over the batch and spatial axes."""

    shapes = ("(N, C, H, W)",)


class LayerNorm(Module):
    """Layer normalisation over the last axes ``normalized_shape`` of each example (Ba et al.
    2016), the same in training and evaluation; elementwise weight (ones) and bias (zeros)."""

    def __init__(
        self,
        normalized_shape: Any,
        eps: float = 1e-5,
        elementwise_affine: bool = True,
        bias: bool = True,
        dtype: Any = None,
        device: str | None = None,
    ):
        super().__init__()
        shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
        if not shape or not all(isinstance(n, int) and n >= 1 for n in shape):
            raise ValueError(f"LayerNorm: normalized_shape must be positive ints, got {normalized_shape!r}")
        self.normalized_shape, self.eps = shape, eps
        affine = elementwise_affine
        self.weight = Parameter(ad.ones(*shape, dtype=dtype, device=device)) if affine else None
        self.bias = _empty(*shape, dtype=dtype, device=device) if affine and bias else None

    def forward(self, x: Tensor) -> Tensor:
        return F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.weight is not None}"


class Dropout(Module):
    """Zero entries with probability p while training (scaling the rest by 1 / (1 - p))."""

    def __init__(self, p: float = 0.5, generator: Generator | None = None):
        super().__init__()
        if not 0 <= p < 1:
            raise ValueError(f"Dropout: p must be in [0, 1), got {p}")
        self.p, self.generator = p, generator

    def forward(self, x: Tensor) -> Tensor:
        return F.dropout(x, self.p, self.training, self.generator)

    def extra_repr(self) -> str:
        return f"p={self.p}"


class Residual(Module):
    """A residual block ``x -> x + body(x)`` (He et al. 2016), or ``shortcut(x) + body(x)``
    when a shortcut (e.g. a projection) is given."""

    def __init__(self, body: Module, shortcut: Module | None = None):
        super().__init__()
        self.body = body
        self.shortcut = shortcut

    def forward(self, x: Tensor) -> Tensor:
        skip = x if self.shortcut is None else self.shortcut(x)
        out = self.body(x)
        if out.shape != skip.shape:
            raise ValueError(
                f"Residual: the body maps {x.shape} to {out.shape}, which cannot be added to the "
                f"shortcut's {skip.shape}; give a shortcut projection"
            )
        return skip + out
