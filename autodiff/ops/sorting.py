"""Sorting and order statistics: ``sort``, ``argsort``, ``partition``, ``argpartition``,
``msort``, ``median``.

Sorting a line is a permutation of its entries, ``y = x[p]`` with p = argsort(x): its derivative
is that permutation and the VJP its inverse, ``(dy)^T g = g[p^-1]`` (so the gradient of a sorted
entry goes back to where the entry came from).  One primitive, ``permute_along_axis``, applies a
given permutation per line; the indices (``argsort``, ``argpartition``) are integers and carry
no gradient.  Ties: equal entries are ordered stably, and each gets the gradient of its place.
"""

from __future__ import annotations

import math
from typing import Any

from autodiff.graph import Primitive, sum_of
from autodiff.ops.arrange import as_tensor, normalize_axes, one_axis, reshape, transpose
from autodiff.ops.batching import all_batched, leading_axes
from autodiff.tensor import Tensor


def _aligned(ns, p, like):
    """The indices p left-padded with unit axes to the rank of ``like`` (extra batch axes)."""
    extra = like.ndim - p.ndim
    return p if extra == 0 else ns.reshape(p, (1,) * extra + tuple(p.shape))


def _permute_forward(xp, x, p, axis):
    return xp.take_along_axis(x, _aligned(xp, p, x), axis=axis)


def _unpermute(ns, g, out, x, p, axis):
    """The inverse permutation: entry k of the line goes back to place p[k]."""
    return ns.permute_along_axis(g, ns.argsort(p, axis=axis), axis=axis)


permute_along_axis = Primitive(
    "permute_along_axis",
    _permute_forward,
    (_unpermute, None),
    sum_of(lambda ns, t, out, x, p, axis: ns.permute_along_axis(t, p, axis=axis)),
    batch=all_batched,
)
_argsort = Primitive(
    "argsort",
    lambda xp, x, axis: xp.argsort(x, axis=axis, kind="stable"),
    batch=leading_axes,
    differentiable=False,
)
_argpartition = Primitive(
    "argpartition",
    lambda xp, x, kth, axis: xp.argpartition(x, kth, axis=axis),
    batch=leading_axes,
    differentiable=False,
)


def _line(name: str, x: Any, axis: int | None) -> tuple[Tensor, int]:
    """x and the (negative) axis to work along; axis None: the flattened x."""
    x = as_tensor(x)
    if axis is None:
        return reshape(x, (-1,)), -1
    return x, one_axis(name, axis, x.ndim)


def argsort(x: Any, axis: int | None = -1) -> Tensor:
    """The indices that sort x along ``axis`` (stable; flattened when None); no gradient."""
    x, a = _line("argsort", x, axis)
    return _argsort(x, axis=a)


def sort(x: Any, axis: int | None = -1) -> Tensor:
    """x sorted along ``axis`` (flattened when None): x permuted by argsort(x), whose gradient is
    the inverse permutation of the cotangent."""
    x, a = _line("sort", x, axis)
    return permute_along_axis(x, _argsort(x, axis=a), axis=a)


def msort(x: Any) -> Tensor:
    """sort(x, axis=0)."""
    return sort(x, axis=0)


def argpartition(x: Any, kth: Any, axis: int | None = -1) -> Tensor:
    """NumPy's argpartition; no gradient."""
    x, a = _line("argpartition", x, axis)
    return _argpartition(x, kth=kth, axis=a)


def partition(x: Any, kth: Any, axis: int | None = -1) -> Tensor:
    """x permuted so that its kth entries along ``axis`` are in their sorted places, smaller ones
    before and larger ones after (NumPy's partition), by argpartition(x)."""
    x, a = _line("partition", x, axis)
    return permute_along_axis(x, _argpartition(x, kth=kth, axis=a), axis=a)


def median(x: Any, axis: Any = None, keepdims: bool = False) -> Tensor:
    """The middle of sort(x) over ``axis`` (the mean of the two middle entries for an even
    count); its gradient goes to the middle entries (half to each of two)."""
    x = as_tensor(x)
    axes = normalize_axes("median", axis, x.ndim)
    rest = [a for a in range(-x.ndim, 0) if a not in axes]
    moved = transpose(x, [a + x.ndim for a in rest + list(axes)])
    kept = tuple(x.shape[a] for a in rest)
    n = math.prod(x.shape[a] for a in axes)
    if n == 0:
        raise ValueError(f"median: no entries over axis {axis} of a tensor of shape {x.shape}")
    s = sort(reshape(moved, kept + (n,)), axis=-1)
    result = s[..., (n - 1) // 2] if n % 2 else (s[..., n // 2 - 1] + s[..., n // 2]) / 2
    if keepdims:
        result = reshape(result, tuple(1 if a - x.ndim in axes else m for a, m in enumerate(x.shape)))
    return result
