"""Stateless functions of the layers and losses: activations, linear maps, convolutions,
pooling, normalisation, dropout, and the losses.

The lecture's fully-connected layer (``../shared/seeds/000_9b541997235a7417.txt``) is
``f_h = sigma_h(W_h f_{h-1} + b_h)`` with ``W_h`` in R^{n_h x n_{h-1}}; on a batch stored as
rows this is ``x @ W.T + b`` (:func:`linear`).  Layers with parameters also accept one extra
leading *sample* axis on their parameters (one copy per example, see ``nn.functional_call``):
the parameter then has one more axis than usual, detected by ``ndim``.
"""

from __future__ import annotations

import math
from typing import Any

import autodiff as ad
from autodiff.ops.conv import conv_geometry
from autodiff.random import Generator, resolve
from autodiff.tensor import Tensor

# ------------------------------------------------------------------------- activations
relu = ad.relu
tanh = ad.tanh
sigmoid = ad.sigmoid
softmax = ad.softmax
log_softmax = ad.log_softmax


def leaky_relu(x: Tensor, negative_slope: float = 0.01) -> Tensor:
    return ad.leaky_relu(x, negative_slope)


def softplus(x: Tensor, beta: float = 1.0) -> Tensor:
    """log(1 + exp(beta x)) / beta, computed stably."""
    return ad.softplus(x) if beta == 1.0 else ad.softplus(beta * x) / beta


def identity(x: Tensor) -> Tensor:
    return x


# erf to float64 accuracy from the engine's ops (checked against math.erf, relative error below
# 1e-15): for |x| < 2.5 the series of positive terms erf(x) = 2/sqrt(pi) e^{-x^2}
# sum_n (2 x^2)^n x / (1 3 5 ... (2n + 1)) (Abramowitz & Stegun 1964, 7.1.6), 35 terms; beyond,
# Laplace's continued fraction erfc(x) = e^{-x^2} / sqrt(pi) / (x + (1/2) / (x + (2/2) / (x + ...)))
# (A&S 7.1.14), 32 levels.  Each branch sees its input clipped to its range, so neither
# overflows and the gradient of the unused branch is exactly zero.
_ERF_CUT = 2.5
_ERF_SERIES = [1 / math.prod(range(1, 2 * n + 2, 2)) for n in range(35)]
_ERFC_LEVELS = 32


def _erf_series(x: Tensor) -> Tensor:
    a = 2 * x * x
    s = a * _ERF_SERIES[-1] + _ERF_SERIES[-2]
    for c in reversed(_ERF_SERIES[:-2]):
        s = s * a + c
    return (2 / math.sqrt(math.pi)) * x * ad.exp(-x * x) * s


def _erfc_fraction(x: Tensor) -> Tensor:
    t = x
    for k in range(_ERFC_LEVELS, 0, -1):
        t = x + (k / 2) / t
    return ad.exp(-x * x) / (math.sqrt(math.pi) * t)


def _erf_parts(x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """(|x| < cut, the series at x clipped to [-cut, cut], erfc(max(|x|, cut)))."""
    inside = ad.abs(x) < _ERF_CUT
    return inside, _erf_series(ad.clip(x, -_ERF_CUT, _ERF_CUT)), _erfc_fraction(ad.clip(ad.abs(x), _ERF_CUT))


def erf(x: Tensor) -> Tensor:
    """The error function erf(x) = 2/sqrt(pi) int_0^x e^{-t^2} dt to float64 accuracy."""
    inside, series, tail = _erf_parts(x)
    return ad.where(inside, series, ad.sign(x) * (1 - tail))


def erfc(x: Tensor) -> Tensor:
    """1 - erf(x); beyond x = 2.5 from the continued fraction, so the right tail keeps its
    relative accuracy (about 1e-16 x^2 there, from rounding x^2 in e^{-x^2}; 1e-12 or better
    below)."""
    inside, series, tail = _erf_parts(x)
    return ad.where(inside, 1 - series, ad.where(x > 0, tail, 2 - tail))


def gelu(x: Tensor, approximate: str = "none") -> Tensor:
    """GELU x Phi(x) = x/2 erfc(-x / sqrt(2)) (Hendrycks & Gimpel 2016), exact; ``approximate=
    "tanh"``: x/2 (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).  PyTorch's ``gelu``."""
    if approximate == "tanh":
        return ad.gelu(x)
    if approximate != "none":
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', not {approximate!r}")
    return 0.5 * x * erfc(x * (-1 / math.sqrt(2)))


# ------------------------------------------------------------------------- per-sample parameters
def sample_axis(param: Tensor, ndim: int) -> bool:
    """Whether ``param`` carries a leading sample axis (one more axis than ``ndim``)."""
    if param.ndim == ndim:
        return False
    if param.ndim == ndim + 1:
        return True
    raise ValueError(
        f"parameter of shape {param.shape}: expected {ndim} axes, or {ndim + 1} with a sample axis"
    )


def _per_sample_bias(bias: Tensor, ndim: int, trailing: int) -> Tensor:
    """A bias of shape (C,) or (n, C) shaped to add onto an output of ``ndim`` axes whose
    channel axis is followed by ``trailing`` axes (sample axis first when present)."""
    per_sample = sample_axis(bias, 1)
    channels = bias.shape[-1]
    if per_sample:
        return ad.reshape(
            bias, (bias.shape[0],) + (1,) * (ndim - 2 - trailing) + (channels,) + (1,) * trailing
        )
    return ad.reshape(bias, (channels,) + (1,) * trailing) if trailing else bias


def _check_samples(name: str, x: Tensor, param: Tensor) -> None:
    if x.ndim == 0 or param.shape[0] != x.shape[0]:
        raise ValueError(
            f"{name}: a per-sample parameter of shape {param.shape} needs an input with "
            f"{param.shape[0]} examples along axis 0, got input shape {x.shape}"
        )


# ------------------------------------------------------------------------- layers
def linear(x: Tensor, weight: Tensor, bias: Tensor | None = None, scale: float = 1.0) -> Tensor:
    """``scale * x W^T + b``: x (..., in), W (out, in), b (out,).  With per-sample parameters
    W (n, out, in) and b (n, out), row i of x (n, ..., in) uses copy i."""
    if sample_axis(weight, 2):
        _check_samples("linear", x, weight)
        out = ad.einsum("n...i,noi->n...o", x, weight)
    elif x.ndim == 1:
        out = weight @ x
    else:
        # (W x^T)^T, the lecture's W_h f_{h-1} on columns: the same product as x W^T, but the
        # gradient of W comes out as a fresh (out, in) array that the engine stores without a
        # copy (x W^T would yield the transposed view of x^T g, which it copies): 15% per step.
        out = (weight @ x.mT).mT
    if scale != 1.0:
        out = out * scale
    if bias is not None:
        if bias.ndim == 2:
            _check_samples("linear", x, bias)
        out = out + _per_sample_bias(bias, out.ndim, 0)
    return out


def conv2d(
    x: Tensor, weight: Tensor, bias: Tensor | None = None, stride: Any = 1, padding: Any = 0
) -> Tensor:
    """2-D cross-correlation (PyTorch's conv2d) as im2col and one matrix product:
    ``out[n, o, p] = sum_k W[o, k] cols[n, k, p] + b[o]``.  x (N, C, H, W), W (O, C, kh, kw);
    per-sample W (N, O, C, kh, kw) and b (N, O) are allowed."""
    if x.ndim != 4:
        raise ValueError(f"conv2d: expected an input (N, C, H, W), got shape {x.shape}")
    per_sample = sample_axis(weight, 4)
    if per_sample:
        _check_samples("conv2d", x, weight)
    out_channels, in_channels, kh, kw = weight.shape[-4:]
    if x.shape[1] != in_channels:
        raise ValueError(
            f"conv2d: input has {x.shape[1]} channels (shape {x.shape}) but the weight {weight.shape} "
            f"expects {in_channels}"
        )
    _, _, _, (oh, ow) = conv_geometry("conv2d", x.shape[-2:], (kh, kw), stride, padding)
    cols = ad.unfold(x, (kh, kw), stride, padding)  # (N, C kh kw, oh ow)
    out = ad.reshape(weight, weight.shape[:-3] + (-1,)) @ cols  # (N, O, oh ow)
    out = ad.reshape(out, (x.shape[0], out_channels, oh, ow))
    if bias is not None:
        out = out + _per_sample_bias(bias, 4, 2)
    return out


def _pool(
    name: str, reduce: Any, x: Tensor, kernel_size: Any, stride: Any, padding: Any, fill: float
) -> Tensor:
    """``reduce`` (max or mean) over the pooling windows of x (N, C, H, W), padded with ``fill``.
    Non-overlapping windows (stride = kernel) are a transpose of x, (N, C, oh, ow, kh kw); others
    come from im2col, (N, C, kh, kw, oh, ow)."""
    if x.ndim != 4:
        raise ValueError(f"{name}: expected an input (N, C, H, W), got shape {x.shape}")
    stride = kernel_size if stride is None else stride
    kernel, step, (ph, pw), (oh, ow) = conv_geometry(name, x.shape[-2:], kernel_size, stride, padding)
    if 2 * ph > kernel[0] or 2 * pw > kernel[1]:
        raise ValueError(f"{name}: padding {(ph, pw)} must be at most half the kernel {kernel}")
    if ph or pw:
        widths = ((0, 0), (0, 0), (ph, ph), (pw, pw))
        inside = ad.pad(ad.ones_like(x), widths)  # 1 inside, 0 on the padded border
        x = ad.pad(x, widths)
        if fill:
            x = ad.where(inside > 0, x, fill)
    (kh, kw), n, c = kernel, x.shape[0], x.shape[1]
    if step == kernel:
        x = ad.reshape(x[:, :, : oh * kh, : ow * kw], (n, c, oh, kh, ow, kw))
        return reduce(ad.reshape(ad.transpose(x, (0, 1, 2, 4, 3, 5)), (n, c, oh, ow, kh * kw)), axis=-1)
    return reduce(ad.im2col(x, kernel=kernel, stride=step), axis=(2, 3))


def max_pool2d(x: Tensor, kernel_size: Any, stride: Any = None, padding: Any = 0) -> Tensor:
    """The maximum over each window (padding counts as -inf); ties share the gradient."""
    return _pool("max_pool2d", ad.max, x, kernel_size, stride, padding, -math.inf)


def avg_pool2d(x: Tensor, kernel_size: Any, stride: Any = None, padding: Any = 0) -> Tensor:
    """The mean over each window (zero padding included in the count, as PyTorch's default)."""
    return _pool("avg_pool2d", ad.mean, x, kernel_size, stride, padding, 0.0)


def _single(value: Any, name: str, what: str, minimum: int) -> int:
    """``3`` or ``(3,)`` -> 3; anything else, or below ``minimum``, is refused."""
    v = value[0] if isinstance(value, tuple | list) and len(value) == 1 else value
    if not isinstance(v, int) or isinstance(v, bool) or v < minimum:
        raise ValueError(f"{name}: {what} must be an int >= {minimum}, got {value!r}")
    return v


def conv1d(
    x: Tensor, weight: Tensor, bias: Tensor | None = None, stride: Any = 1, padding: Any = 0
) -> Tensor:
    """1-D cross-correlation (PyTorch's conv1d): x (N, C, L), W (O, C, k) -> (N, O, L_out) with
    ``out[n, o, l] = sum_{c, j} W[o, c, j] x[n, c, stride l + j - padding] + b[o]``, computed as
    :func:`conv2d` of (N, C, 1, L) with the kernel (1, k); per-sample W (N, O, C, k) and b (N, O)."""
    if x.ndim != 3:
        raise ValueError(f"conv1d: expected an input (N, C, L), got shape {x.shape}")
    stride, padding = _single(stride, "conv1d", "stride", 1), _single(padding, "conv1d", "padding", 0)
    out = conv2d(ad.expand_dims(x, -2), ad.expand_dims(weight, -2), bias, (1, stride), (0, padding))
    return ad.squeeze(out, -2)


def _pool1d(function: Any, x: Tensor, kernel_size: Any, stride: Any, padding: Any) -> Tensor:
    """A 2-D pooling of (N, C, 1, L) with the window (1, k)."""
    name = function.__name__.replace("2d", "1d")
    if x.ndim != 3:
        raise ValueError(f"{name}: expected an input (N, C, L), got shape {x.shape}")
    k = _single(kernel_size, name, "kernel_size", 1)
    s = k if stride is None else _single(stride, name, "stride", 1)
    p = _single(padding, name, "padding", 0)
    return ad.squeeze(function(ad.expand_dims(x, -2), (1, k), (1, s), (0, p)), -2)


def max_pool1d(x: Tensor, kernel_size: Any, stride: Any = None, padding: Any = 0) -> Tensor:
    """The maximum over each window of x (N, C, L) (padding counts as -inf)."""
    return _pool1d(max_pool2d, x, kernel_size, stride, padding)


def avg_pool1d(x: Tensor, kernel_size: Any, stride: Any = None, padding: Any = 0) -> Tensor:
    """The mean over each window of x (N, C, L) (zero padding included in the count)."""
    return _pool1d(avg_pool2d, x, kernel_size, stride, padding)


def layer_norm(
    x: Tensor,
    normalized_shape: tuple[int, ...],
    weight: Tensor | None = None,
    bias: Tensor | None = None,
    eps: float = 1e-5,
) -> Tensor:
    """``(x - mean) / sqrt(var + eps) * weight + bias`` with the mean and (biased) variance of
    each example over its last ``len(normalized_shape)`` axes (Ba et al. 2016); weight and bias
    of ``normalized_shape``, or per-sample (N, *normalized_shape)."""
    k = len(normalized_shape)
    if tuple(x.shape[x.ndim - k :]) != tuple(normalized_shape) or x.ndim < k:
        raise ValueError(f"layer_norm: input shape {x.shape} does not end with {tuple(normalized_shape)}")
    axes = tuple(range(-k, 0))
    mean = ad.mean(x, axis=axes, keepdims=True)
    centred = x - mean
    out = centred / ad.sqrt(ad.mean(centred * centred, axis=axes, keepdims=True) + eps)
    for param, combine in ((weight, ad.multiply), (bias, ad.add)):
        if param is not None:
            if sample_axis(param, k):
                _check_samples("layer_norm", x, param)
                param = ad.reshape(param, param.shape[:1] + (1,) * (x.ndim - 1 - k) + param.shape[1:])
            out = combine(out, param)
    return out


def batch_norm(
    x: Tensor,
    mean: Tensor,
    var: Tensor,
    weight: Tensor | None = None,
    bias: Tensor | None = None,
    eps: float = 1e-5,
) -> Tensor:
    """``(x - mean) / sqrt(var + eps) * weight + bias`` over the channel axis 1 of x (N, C) or
    (N, C, L); mean and var of shape (C,); weight and bias (C,) or per-sample (N, C)."""
    trailing = x.ndim - 2
    shape = (x.shape[1],) + (1,) * trailing
    out = (x - ad.reshape(mean, shape)) / ad.sqrt(ad.reshape(var, shape) + eps)
    if weight is not None:
        if weight.ndim == 2:
            _check_samples("batch_norm", x, weight)
        out = out * _per_sample_bias(weight, x.ndim, trailing)
    if bias is not None:
        out = out + _per_sample_bias(bias, x.ndim, trailing)
    return out


def dropout(x: Tensor, p: float = 0.5, training: bool = True, generator: Generator | None = None) -> Tensor:
    """Zero each entry with probability p and scale the rest by 1 / (1 - p) (inverted dropout);
    the identity when not training."""
    if not 0 <= p < 1:
        raise ValueError(f"dropout: p must be in [0, 1), got {p}")
    if not training or p == 0:
        return x
    keep = resolve(None, generator).bernoulli(1 - p, x.shape, dtype=x.dtype, device=x.device)
    return x * keep * (1 / (1 - p))


# ------------------------------------------------------------------------- losses
def _reduce(name: str, values: Tensor, reduction: str) -> Tensor:
    if reduction == "mean":
        return ad.mean(values)
    if reduction == "sum":
        return ad.sum(values)
    if reduction == "none":
        return values
    raise ValueError(f"{name}: reduction must be 'mean', 'sum' or 'none', not {reduction!r}")


def mse_loss(input: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:
    """Mean of the squared errors ``(input - target)^2`` over every entry."""
    if input.shape != target.shape:
        raise ValueError(f"mse_loss: input shape {input.shape} and target shape {target.shape} differ")
    diff = input - target
    return _reduce("mse_loss", diff * diff, reduction)


def one_hot(target: Tensor, num_classes: int, dtype: Any = None) -> Tensor:
    """Rows e_{target[i]} of the identity, built on target's device."""
    classes = ad.arange(num_classes, device=target.device)
    return ad.astype(ad.expand_dims(target, -1) == classes, dtype or ad.get_default_dtype())


def _class_targets(name: str, log_probs: Tensor, target: Tensor) -> Tensor:
    """Integer targets (N,) as one-hot rows, or probability targets (N, C) as they are."""
    if log_probs.ndim != 2:
        raise ValueError(f"{name}: expected scores of shape (N, C), got {log_probs.shape}")
    if target.dtype.kind in "iu":
        if target.shape != log_probs.shape[:1]:
            raise ValueError(
                f"{name}: class-index targets must have shape {log_probs.shape[:1]}, got {target.shape}"
            )
        return one_hot(target, log_probs.shape[1], log_probs.dtype)
    if target.shape != log_probs.shape:
        raise ValueError(
            f"{name}: probability targets must have the scores' shape {log_probs.shape}, got {target.shape} "
            "(class indices must be integers)"
        )
    return target


def _nll(name: str, log_probs: Tensor, target: Tensor, reduction: str) -> Tensor:
    picked = ad.sum(log_probs * _class_targets(name, log_probs, target), axis=-1)
    return _reduce(name, -picked, reduction)


def nll_loss(log_probs: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:
    """``-log p[target]`` from log-probabilities (N, C); targets are class indices (N,) or
    probability rows (N, C)."""
    return _nll("nll_loss", log_probs, target, reduction)


def cross_entropy(logits: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:
    """``logsumexp(z) - z[target]`` from logits (N, C): finite for logits of any size (the
    log-sum-exp shifts by the maximum), with Hessian in z equal to diag(p) - p p^T, p = softmax(z).
    Targets are class indices (N,) or probability rows (N, C)."""
    return _nll("cross_entropy", ad.log_softmax(logits, axis=-1), target, reduction)


def binary_cross_entropy_with_logits(logits: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:
    """``log(1 + e^z) - y z``, the logistic loss for targets y in [0, 1], stable for any z."""
    if logits.shape != target.shape:
        raise ValueError(
            f"binary_cross_entropy_with_logits: logits shape {logits.shape} and target shape "
            f"{target.shape} differ"
        )
    return _reduce("binary_cross_entropy_with_logits", ad.softplus(logits) - logits * target, reduction)


def accuracy(scores: Tensor, target: Tensor) -> Tensor:
    """The fraction of rows whose largest score is at the target class (a 0-d tensor, no sync)."""
    return ad.mean(ad.astype(ad.argmax(scores, axis=-1) == target, scores.dtype))
