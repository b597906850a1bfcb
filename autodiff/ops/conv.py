"""Patch extraction for convolutions: ``im2col`` and its adjoint ``col2im``.

A 2-D convolution is a matrix product once every kh x kw patch of the input is laid out as a column (im2col):
``conv(x, W)[n, o, p] = sum_k W[o, k] cols[n, k, p]``.  Both primitives are linear and each is the other's
adjoint, so the VJP of one is the other and the JVP of each is itself; second derivatives then come for free.
The rules index trailing axes only, so cotangents and tangents may carry extra leading (batch) axes.

``im2col``: ``(..., C, H, W) -> (..., C, kh, kw, oh, ow)`` with ``oh = (H - kh) // sh + 1``; ``col2im`` adds
every patch back to where it came from (overlapping patches accumulate).
"""

from __future__ import annotations

from typing import Any

from autodiff.graph import Primitive, sum_of
from autodiff.ops.arrange import as_tensor, pad, reshape
from autodiff.ops.batching import leading_axes
from autodiff.tensor import Tensor


def _offsets(kernel: tuple, stride: tuple, out_hw: tuple):
    """For each of the kh * kw kernel offsets (i, j): the strided slices of the input it reads, whole."""
    (kh, kw), (sh, sw), (oh, ow) = kernel, stride, out_hw
    for i in range(kh):
        for j in range(kw):
            yield i, j, slice(i, i + sh * (oh - 1) + 1, sh), slice(j, j + sw * (ow - 1) + 1, sw)


def _out_size(size: tuple, kernel: tuple, stride: tuple) -> tuple[int, int]:
    return tuple((n - k) // s + 1 for n, k, s in zip(size, kernel, stride, strict=True))


def _im2col_forward(xp: Any, x: Any, kernel: tuple, stride: tuple) -> Any:
    out_hw = _out_size(tuple(x.shape[-2:]), kernel, stride)
    cols = xp.empty(tuple(x.shape[:-2]) + tuple(kernel) + out_hw, dtype=x.dtype)
    for i, j, rows, columns in _offsets(kernel, stride, out_hw):
        cols[..., i, j, :, :] = x[..., rows, columns]
    return cols


def _col2im_forward(xp: Any, cols: Any, kernel: tuple, stride: tuple, size: tuple) -> Any:
    x = xp.zeros(tuple(cols.shape[:-4]) + tuple(size), dtype=cols.dtype)
    for i, j, rows, columns in _offsets(kernel, stride, tuple(cols.shape[-2:])):
        x[..., rows, columns] += cols[..., i, j, :, :]
    return x


im2col = Primitive(
    "im2col",
    _im2col_forward,
    (lambda ns, g, out, x, kernel, stride: ns.col2im(g, kernel=kernel, stride=stride, size=x.shape[-2:]),),
    sum_of(lambda ns, t, out, x, **params: ns.im2col(t, **params)),  # linear: the JVP is im2col itself
    batch=leading_axes,
)
col2im = Primitive(
    "col2im",
    _col2im_forward,
    (lambda ns, g, out, cols, kernel, stride, size: ns.im2col(g, kernel=kernel, stride=stride),),
    sum_of(lambda ns, t, out, cols, **params: ns.col2im(t, **params)),
    batch=leading_axes,
)


# ------------------------------------------------------------------------- public functions
def pair(value: Any, name: str, what: str, minimum: int) -> tuple[int, int]:
    """``3 -> (3, 3)``; a pair stays a pair; anything below ``minimum`` is refused."""
    values = (value, value) if isinstance(value, int) else tuple(value)
    if len(values) != 2 or not all(isinstance(v, int) and v >= minimum for v in values):
        raise ValueError(f"{name}: {what} must be an int >= {minimum} or a pair of them, got {value!r}")
    return values


def conv_geometry(name: str, size: tuple, kernel_size: Any, stride: Any = 1, padding: Any = 0) -> tuple:
    """``(kernel, stride, padding, (oh, ow))`` as pairs, with ``oh = (H + 2 ph - kh) // sh + 1``;
    a clear error when the kernel does not fit in the padded input."""
    kernel, step = pair(kernel_size, name, "kernel_size", 1), pair(stride, name, "stride", 1)
    margin = pair(padding, name, "padding", 0)
    padded = tuple(n + 2 * p for n, p in zip(size, margin, strict=True))
    if any(p < k for p, k in zip(padded, kernel, strict=True)):
        raise ValueError(
            f"{name}: kernel {kernel} is larger than the padded input {padded} (input {tuple(size)}, "
            f"padding {margin}); use a smaller kernel or more padding"
        )
    return kernel, step, margin, _out_size(padded, kernel, step)


def unfold(x: Any, kernel_size: Any, stride: Any = 1, padding: Any = 0) -> Tensor:
    """The patches of ``x`` (N, C, H, W) as columns, shape (N, C * kh * kw, oh * ow), zero
    padding first: ``torch.nn.functional.unfold`` (im2col).  Any leading axes are allowed."""
    x = as_tensor(x)
    if x.ndim < 3:
        raise ValueError(f"unfold: expected an input (..., C, H, W), got shape {x.shape}")
    kernel, step, (ph, pw), (oh, ow) = conv_geometry("unfold", x.shape[-2:], kernel_size, stride, padding)
    if ph or pw:
        x = pad(x, ((0, 0),) * (x.ndim - 2) + ((ph, ph), (pw, pw)))
    cols = im2col(x, kernel=kernel, stride=step)
    return reshape(cols, x.shape[:-3] + (x.shape[-3] * kernel[0] * kernel[1], oh * ow))


def fold(cols: Any, output_size: Any, kernel_size: Any, stride: Any = 1, padding: Any = 0) -> Tensor:
    """The adjoint of :func:`unfold`: columns (N, C * kh * kw, L) summed back into an image
    (N, C, H, W) of ``output_size`` (H, W); overlapping patches add up."""
    cols = as_tensor(cols)
    size = pair(output_size, "fold", "output_size", 1)
    kernel, step, (ph, pw), (oh, ow) = conv_geometry("fold", size, kernel_size, stride, padding)
    patch = kernel[0] * kernel[1]
    if cols.ndim < 2 or cols.shape[-2] % patch or cols.shape[-1] != oh * ow:
        raise ValueError(
            f"fold: columns of shape {cols.shape} do not match kernel {kernel}, stride {step}, padding "
            f"{(ph, pw)} and output size {size}: expected (..., C * {patch}, {oh * ow})"
        )
    blocks = reshape(cols, cols.shape[:-2] + (cols.shape[-2] // patch,) + kernel + (oh, ow))
    image = col2im(blocks, kernel=kernel, stride=step, size=(size[0] + 2 * ph, size[1] + 2 * pw))
    return image[..., ph : ph + size[0], pw : pw + size[1]]
