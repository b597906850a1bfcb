"""Along one axis: the cumulative product ``cumprod``, the differences ``diff`` and the
finite-difference derivative ``gradient`` (NumPy's).

cumprod is a primitive: out_j = prod_{k <= j} x_k has the Jacobian
``d out_j / d x_i = prod_{k <= j, k != i} x_k`` for j >= i (0 for j < i), the cumulative product
of x with x_i replaced by 1, which stays exact when entries are 0 (dividing out by x_i would not).
diff and gradient are slices and sums, so linear: their derivatives come for free.
"""

from __future__ import annotations

from typing import Any

from autodiff.graph import Primitive, sum_of
from autodiff.ops.arrange import as_tensor, broadcast_to, concatenate, moveaxis, one_axis, reshape
from autodiff.ops.batching import leading_axes, unbatched_output
from autodiff.tensor import Tensor

# mask[i, j] = (j >= i), on the device of ``ref``.
upper_mask_like = Primitive(
    "upper_mask_like",
    lambda xp, ref, n: ~xp.tri(n, k=-1, dtype=bool),
    batch=unbatched_output,
    differentiable=False,
)


def _cumprod_jacobian(ns, x):
    """J[..., i, j] = d out_j / d x_i: the cumulative product (over j) of x with x_i replaced by 1,
    kept for j >= i."""
    n = x.shape[-1]
    y = ns.where(ns.eye_like(x, n=n), 1, ns.expand_dims(x, -2))
    return ns.where(ns.upper_mask_like(x, n=n), ns.cumprod(y, axis=-1), 0)


# The cumulative product along the last axis (the public ``cumprod`` moves its axis there); the
# Jacobian has n^2 entries per line.
_cumprod = Primitive(
    "cumprod",
    lambda xp, x: xp.cumprod(x, axis=-1),
    (lambda ns, g, out, x: ns.sum(_cumprod_jacobian(ns, x) * ns.expand_dims(g, -2), axis=-1),),
    sum_of(lambda ns, t, out, x: ns.sum(ns.expand_dims(t, -1) * _cumprod_jacobian(ns, x), axis=-2)),
    batch=leading_axes,
)


def cumprod(x: Any, axis: int | None = None) -> Tensor:
    """prod_{k <= j} x_k along ``axis`` (of the flattened x when None, as NumPy)."""
    x = as_tensor(x)
    if axis is None:
        return _cumprod(reshape(x, (-1,)))
    a = one_axis("cumprod", axis, x.ndim)
    return moveaxis(_cumprod(moveaxis(x, a, -1)), -1, a)


def _slice(x: Tensor, axis: int, start: int | None, stop: int | None) -> Tensor:
    return x[(Ellipsis, slice(start, stop)) + (slice(None),) * (-axis - 1)]


def _edge(x: Tensor, axis: int, values: Any) -> Tensor:
    """``prepend``/``append`` of diff: a scalar is repeated along every axis but ``axis``."""
    values = as_tensor(values, like=x)
    if values.ndim == 0:
        shape = list(x.shape)
        shape[axis] = 1
        values = broadcast_to(values, tuple(shape))
    return values


def diff(a: Any, n: int = 1, axis: int = -1, prepend: Any = None, append: Any = None) -> Tensor:
    """The n-th differences x[i + 1] - x[i] along ``axis`` (NumPy's diff, with its prepend and
    append)."""
    x = as_tensor(a)
    if n < 0:
        raise ValueError(f"diff: order n must be non-negative, got {n}")
    axis = one_axis("diff", axis, x.ndim)
    parts = [_edge(x, axis, prepend)] if prepend is not None else []
    parts += [x] + ([_edge(x, axis, append)] if append is not None else [])
    x = concatenate(parts, axis=axis) if len(parts) > 1 else x
    for _ in range(n):
        x = _slice(x, axis, 1, None) - _slice(x, axis, None, -1)
    return x


def _gradient_along(f: Tensor, axis: int, h: float, edge_order: int) -> Tensor:
    if f.shape[axis] < edge_order + 1:
        raise ValueError(
            f"gradient: axis {axis} of shape {f.shape} needs at least {edge_order + 1} entries for "
            f"edge_order={edge_order}"
        )
    inner = (_slice(f, axis, 2, None) - _slice(f, axis, None, -2)) / (2 * h)
    if edge_order == 1:
        first = (_slice(f, axis, 1, 2) - _slice(f, axis, 0, 1)) / h
        last = (_slice(f, axis, -1, None) - _slice(f, axis, -2, -1)) / h
    else:
        first = (-3 * _slice(f, axis, 0, 1) + 4 * _slice(f, axis, 1, 2) - _slice(f, axis, 2, 3)) / (2 * h)
        last = (3 * _slice(f, axis, -1, None) - 4 * _slice(f, axis, -2, -1) + _slice(f, axis, -3, -2)) / (
            2 * h
        )
    return concatenate([first, inner, last], axis=axis)


def gradient(f: Any, *varargs: float, axis: Any = None, edge_order: int = 1) -> Tensor | list[Tensor]:
    """NumPy's gradient with scalar spacings: central differences (f[i+1] - f[i-1]) / 2h inside,
    one-sided differences of order ``edge_order`` (1 or 2) at the ends; a list for several axes."""
    f = as_tensor(f)
    axes = list(range(f.ndim)) if axis is None else [axis] if isinstance(axis, int) else list(axis)
    axes = [one_axis("gradient", a, f.ndim) for a in axes]
    if edge_order not in (1, 2):
        raise ValueError(f"gradient: edge_order must be 1 or 2, got {edge_order}")
    spacing = (
        list(varargs) if len(varargs) > 1 else list(varargs) * len(axes) if varargs else [1.0] * len(axes)
    )
    if len(spacing) != len(axes) or not all(isinstance(h, int | float) for h in spacing):
        raise TypeError(
            f"gradient: give one scalar spacing, or one per axis ({len(axes)}); coordinate arrays "
            "are not supported"
        )
    out = [_gradient_along(f, a, float(h), edge_order) for a, h in zip(axes, spacing, strict=True)]
    return out[0] if len(out) == 1 else out
