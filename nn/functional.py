"""Stateless functions of the layers and losses: activations, linear maps, convolutions,
pooling, normalisation, dropout, and the losses.

The lecture's fully-connected layer (Malgouyres 2024) is
``f_h = sigma_h(W_h f_{h-1} + b_h)`` with ``W_h`` in R^{n_h x n_{h-1}}; on a batch stored as
rows this is ``x @ W.T + b`` (:func:`linear`).  Per-example parameters (per-sample gradients and
Jacobians) need nothing here: ``ad.vmap`` over the examples gives each its own copy.
"""

from __future__ import annotations

import math
from typing import Any

import autodiff as ad
from autodiff.ops.conv import conv_geometry, im2col
from autodiff.ops.losses import check_labels
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


def _channels(param: Tensor, trailing: int) -> Tensor:
    """A per-channel parameter (C,) shaped to broadcast over an output whose channel axis is
    followed by ``trailing`` axes."""
    return ad.reshape(param, (param.shape[-1],) + (1,) * trailing) if trailing else param


# ------------------------------------------------------------------------- layers
def linear(x: Tensor, weight: Tensor, bias: Tensor | None = None, scale: float = 1.0) -> Tensor:
    """``scale * x W^T + b``: x (..., in), W (out, in), b (out,)."""
    if not isinstance(x, Tensor):
        raise TypeError(f"linear: the input must be a Tensor, not {type(x).__name__}; wrap it with ad.tensor")
    if x.ndim == 0 or x.shape[-1] != weight.shape[-1]:
        raise ValueError(
            f"linear: the input has shape {x.shape} but the weight {weight.shape} takes "
            f"{weight.shape[-1]} features along the last axis"
        )
    if x.ndim == 1:
        out = weight @ x
    else:
        # (W x^T)^T, the lecture's W_h f_{h-1} on columns: the same product as x W^T, but the
        # gradient of W comes out as a fresh (out, in) array that the engine stores without a
        # copy (x W^T would yield the transposed view of x^T g, which it copies): 15% per step.
        out = (weight @ x.mT).mT
    if scale != 1.0:
        out = out * scale
    return out if bias is None else out + bias


def conv2d(
    x: Tensor, weight: Tensor, bias: Tensor | None = None, stride: Any = 1, padding: Any = 0
) -> Tensor:
    """2-D cross-correlation (PyTorch's conv2d) as im2col and one matrix product:
    ``out[n, o, p] = sum_k W[o, k] cols[n, k, p] + b[o]``.  x (N, C, H, W), W (O, C, kh, kw)."""
    if x.ndim != 4:
        raise ValueError(f"conv2d: expected an input (N, C, H, W), got shape {x.shape}")
    out_channels, in_channels, kh, kw = weight.shape
    if x.shape[1] != in_channels:
        raise ValueError(
            f"conv2d: input has {x.shape[1]} channels (shape {x.shape}) but the weight {weight.shape} "
            f"expects {in_channels}"
        )
    _, _, _, (oh, ow) = conv_geometry("conv2d", x.shape[-2:], (kh, kw), stride, padding)
    cols = ad.unfold(x, (kh, kw), stride, padding)  # (N, C kh kw, oh ow)
    out = ad.reshape(weight, (out_channels, -1)) @ cols  # (N, O, oh ow)
    out = ad.reshape(out, (x.shape[0], out_channels, oh, ow))
    return out if bias is None else out + _channels(bias, 2)


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
    return reduce(im2col(x, kernel=kernel, stride=step), axis=(2, 3))


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
    :func:`conv2d` of (N, C, 1, L) with the kernel (1, k)."""
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
    of ``normalized_shape``."""
    k = len(normalized_shape)
    if tuple(x.shape[x.ndim - k :]) != tuple(normalized_shape) or x.ndim < k:
        raise ValueError(f"layer_norm: input shape {x.shape} does not end with {tuple(normalized_shape)}")
    axes = tuple(range(-k, 0))
    mean = ad.mean(x, axis=axes, keepdims=True)
    centred = x - mean
    out = centred / ad.sqrt(ad.mean(centred * centred, axis=axes, keepdims=True) + eps)
    if weight is not None:
        out = out * weight
    return out if bias is None else out + bias


def batch_norm(
    x: Tensor,
    mean: Tensor,
    var: Tensor,
    weight: Tensor | None = None,
    bias: Tensor | None = None,
    eps: float = 1e-5,
) -> Tensor:
    """``(x - mean) / sqrt(var + eps) * weight + bias`` over the channel axis 1 of x (N, C) or
    (N, C, L); mean, var, weight and bias of shape (C,)."""
    trailing = x.ndim - 2
    shape = (x.shape[1],) + (1,) * trailing
    out = (x - ad.reshape(mean, shape)) / ad.sqrt(ad.reshape(var, shape) + eps)
    if weight is not None:
        out = out * _channels(weight, trailing)
    return out if bias is None else out + _channels(bias, trailing)


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


def _one_hot_mask(target: Tensor, num_classes: int) -> Tensor:
    """Boolean rows: True at class target[i], built on target's device."""
    return ad.expand_dims(target, -1) == ad.arange(num_classes, device=target.device)


def one_hot(target: Tensor, num_classes: int, dtype: Any = None) -> Tensor:
    """Rows e_{target[i]} of the identity, built on target's device."""
    return ad.astype(_one_hot_mask(target, num_classes), dtype or ad.get_default_dtype())


def _targets(name: str, scores: Any, target: Any) -> tuple[Tensor, Tensor]:
    """Scores (N, C) and the target as tensors; a list, tuple or NumPy target becomes a tensor on
    the scores' device."""
    if not isinstance(scores, Tensor):
        raise TypeError(f"{name}: scores must be a Tensor of shape (N, C), not {type(scores).__name__}")
    if scores.ndim != 2:
        raise ValueError(f"{name}: expected scores of shape (N, C), got {scores.shape}")
    if not isinstance(target, Tensor):
        try:
            target = ad.tensor(target, device=scores.device)
        except (TypeError, ValueError) as error:
            raise TypeError(
                f"{name}: target must be a Tensor (or a list of class indices), not "
                f"{type(target).__name__}: {error}"
            ) from None
    return scores, target


def _class_targets(name: str, log_probs: Tensor, target: Any) -> Tensor:
    """Integer targets (N,) as boolean one-hot rows, or probability targets (N, C) as they are."""
    log_probs, target = _targets(name, log_probs, target)
    if target.dtype.kind in "iu":
        if target.shape != log_probs.shape[:1]:
            raise ValueError(
                f"{name}: class-index targets must have shape {log_probs.shape[:1]}, got {target.shape}"
            )
        check_labels(name, target, log_probs.shape[1])
        return _one_hot_mask(target, log_probs.shape[1])
    if target.shape == log_probs.shape[:1]:
        raise TypeError(
            f"{name}: class indices must be integers, got dtype {target.dtype}; cast them with "
            ".astype('int64') (or give probability rows of shape (N, C))"
        )
    if target.shape != log_probs.shape:
        raise ValueError(
            f"{name}: probability targets must have the scores' shape {log_probs.shape}, got {target.shape} "
            "(class indices must be integers)"
        )
    return target


def _nll(name: str, log_probs: Tensor, target: Tensor, reduction: str) -> Tensor:
    """-sum_c t_c log p_c, with 0 log p taken as 0 even where p = 0 (masked classes, logits -inf):
    for class indices, log p at the target class, picked by a mask."""
    weights = _class_targets(name, log_probs, target)
    if weights.dtype == bool:
        picked = ad.sum(ad.where(weights, log_probs, 0), axis=-1)
    else:
        picked = ad.sum(ad.where(weights == 0, 0, log_probs * weights), axis=-1)
    return _reduce(name, -picked, reduction)


def nll_loss(log_probs: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:
    """``-log p[target]`` from log-probabilities (N, C); targets are class indices (N,) or
    probability rows (N, C)."""
    return _nll("nll_loss", log_probs, target, reduction)


def cross_entropy(logits: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:
    """``logsumexp(z) - z[target]`` from logits (N, C): finite for logits of any size (the
    log-sum-exp shifts by the maximum), with Hessian in z equal to diag(p) - p p^T, p = softmax(z).
    Targets are class indices (N,) (one primitive, ``ad.softmax_cross_entropy``) or probability
    rows (N, C)."""
    logits, target = _targets("cross_entropy", logits, target)
    if target.dtype.kind in "iu" and target.shape == logits.shape[:1]:
        return _reduce("cross_entropy", ad.softmax_cross_entropy(logits, target), reduction)
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
    """The fraction of rows whose largest score is at the target class (a 0-d tensor); class
    indices outside [0, C) are refused (one host read of a flag)."""
    scores, target = _targets("accuracy", scores, target)
    if target.dtype.kind not in "iu" or target.shape != scores.shape[:1]:
        raise ValueError(
            f"accuracy: targets must be integer class indices of shape {scores.shape[:1]}, got "
            f"shape {target.shape} and dtype {target.dtype}"
        )
    check_labels("accuracy", target, scores.shape[1])
    return ad.mean(ad.astype(ad.argmax(scores, axis=-1) == target, scores.dtype))
