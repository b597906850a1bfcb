"""Matrix structure and products with NumPy's names: ``diag``, ``diagonal``, ``trace``, ``tril``,
``triu``, ``kron``, ``tensordot``, ``inner``, ``cross``.

All are compositions of primitives (indexing, scatter, where, einsum), hence linear maps whose
derivatives come for free and to any order: d trace(A) = I, d tril(A) = tril(dA),
d kron(A, B) = kron(dA, B) + kron(A, dB), d (a x b) = da x b + a x db.
"""

from __future__ import annotations

import builtins
import string
from collections.abc import Sequence
from typing import Any

import numpy as np  # shapes only

from autodiff import backend
from autodiff.ops import elementwise as ew
from autodiff.ops import shape as sh
from autodiff.ops.arrange import as_tensor, broadcast_to, moveaxis, one_axis, reshape, stack
from autodiff.ops.composite import einsum, sum
from autodiff.tensor import Tensor


def _positions(n: int, offset: int) -> tuple[list[int], list[int]]:
    """Rows and columns of the ``offset``-th diagonal of an n x m matrix, n entries long."""
    return [i + builtins.max(0, -offset) for i in range(n)], [i + builtins.max(0, offset) for i in range(n)]


def diagonal(x: Any, offset: int = 0, axis1: int = 0, axis2: int = 1) -> Tensor:
    """The ``offset``-th diagonal of the matrices over axes (axis1, axis2), as a last axis
    (NumPy's diagonal): x[..., i, i + offset] after moving those axes last."""
    x = as_tensor(x)
    if x.ndim < 2:
        raise ValueError(f"diagonal: need at least two axes, got a tensor of shape {x.shape}")
    a1, a2 = one_axis("diagonal", axis1, x.ndim) + x.ndim, one_axis("diagonal", axis2, x.ndim) + x.ndim
    if a1 == a2:
        raise ValueError(f"diagonal: axis1 and axis2 are the same axis ({axis1}, {axis2})")
    order = [a for a in range(x.ndim) if a not in (a1, a2)] + [a1, a2]
    moved = sh.transpose(x, axes=tuple(order)) if order != list(range(x.ndim)) else x
    n, m = moved.shape[-2:]
    count = builtins.max(0, builtins.min(n - builtins.max(0, -offset), m - builtins.max(0, offset)))
    rows, cols = _positions(count, offset)
    return moved[..., rows, cols]


def trace(x: Any, offset: int = 0, axis1: int = 0, axis2: int = 1) -> Tensor:
    """sum_i x[i, i + offset] over the axes (axis1, axis2); d trace(A) / dA = I."""
    return sum(diagonal(x, offset, axis1, axis2), axis=-1)


def diag(v: Any, k: int = 0) -> Tensor:
    """NumPy's diag: the k-th diagonal of a matrix, or the square matrix with the vector v on its
    k-th diagonal (zeros elsewhere; the gradient is the k-th diagonal of the cotangent)."""
    v = as_tensor(v)
    if v.ndim == 2:
        return diagonal(v, k)
    if v.ndim != 1:
        raise ValueError(f"diag: expected a vector or a matrix, got a tensor of shape {v.shape}")
    n = v.shape[0] + builtins.abs(k)
    rows, cols = _positions(v.shape[0], k)
    index = tuple(backend.asarray(i, dtype="int64", device=v.device) for i in (rows, cols))
    return sh.scatter_add(v, index=index, shape=(n, n))


def _triangle(name: str, x: Any, k: int, lower: bool) -> Tensor:
    x = as_tensor(x)
    if x.ndim < 2:
        raise ValueError(f"{name}: need at least two axes, got a tensor of shape {x.shape}")
    n, m = x.shape[-2:]
    xp = backend.namespace(x.device)
    mask = xp.tri(n, m, k, dtype=bool) if lower else ~xp.tri(n, m, k - 1, dtype=bool)
    return ew.where(Tensor(mask), x, 0.0)


def tril(x: Any, k: int = 0) -> Tensor:
    """x with the entries above the k-th diagonal set to 0 (on the last two axes)."""
    return _triangle("tril", x, k, lower=True)


def triu(x: Any, k: int = 0) -> Tensor:
    """x with the entries below the k-th diagonal set to 0 (on the last two axes)."""
    return _triangle("triu", x, k, lower=False)


def kron(a: Any, b: Any) -> Tensor:
    """The Kronecker product, kron(a, b)[i * n + j] = a[i] b[j] on each axis (the operand with
    fewer axes is first given leading unit axes, as NumPy does)."""
    a, b = as_tensor(a), as_tensor(b)
    ndim = builtins.max(a.ndim, b.ndim)
    sa, sb = (1,) * (ndim - a.ndim) + a.shape, (1,) * (ndim - b.ndim) + b.shape
    wide_a = reshape(a, tuple(n for pair in zip(sa, (1,) * ndim, strict=True) for n in pair))
    wide_b = reshape(b, tuple(n for pair in zip((1,) * ndim, sb, strict=True) for n in pair))
    return reshape(wide_a * wide_b, tuple(p * q for p, q in zip(sa, sb, strict=True)))


def _axes_pair(axes: Any, a: Tensor, b: Tensor) -> tuple[list[int], list[int]]:
    if isinstance(axes, int):
        if not 0 <= axes <= builtins.min(a.ndim, b.ndim):
            raise ValueError(f"tensordot: axes={axes} for operands of shapes {a.shape} and {b.shape}")
        return list(range(a.ndim - axes, a.ndim)), list(range(axes))
    first, second = axes
    first = [first] if isinstance(first, int) else list(first)
    second = [second] if isinstance(second, int) else list(second)
    if len(first) != len(second):
        raise ValueError(f"tensordot: axes {axes!r} name different numbers of axes of a and b")
    return (
        [one_axis("tensordot", i, a.ndim) + a.ndim for i in first],
        [one_axis("tensordot", i, b.ndim) + b.ndim for i in second],
    )


def tensordot(a: Any, b: Any, axes: int | Sequence[Any] = 2) -> Tensor:
    """sum over the paired axes of a and b (the last ``axes`` of a with the first of b, or two
    lists of axes); the free axes of a, then those of b (NumPy's tensordot)."""
    a, b = as_tensor(a), as_tensor(b)
    first, second = _axes_pair(axes, a, b)
    for i, j in zip(first, second, strict=True):
        if a.shape[i] != b.shape[j]:
            raise ValueError(
                f"tensordot: axis {i} of a {a.shape} and axis {j} of b {b.shape} differ in length"
            )
    letters = iter(string.ascii_letters)
    sa = [next(letters) for _ in range(a.ndim)]
    sb = [next(letters) for _ in range(b.ndim)]
    for i, j in zip(first, second, strict=True):
        sb[j] = sa[i]
    out = [c for k, c in enumerate(sa) if k not in first] + [c for k, c in enumerate(sb) if k not in second]
    return einsum(f"{''.join(sa)},{''.join(sb)}->{''.join(out)}", a, b)


def inner(a: Any, b: Any) -> Tensor:
    """sum over the last axes of a and b; a product with a scalar (NumPy's inner)."""
    a, b = as_tensor(a), as_tensor(b)
    if a.ndim == 0 or b.ndim == 0:
        return a * b
    return tensordot(a, b, ([-1], [-1]))


def cross(
    a: Any, b: Any, axisa: int = -1, axisb: int = -1, axisc: int = -1, axis: int | None = None
) -> Tensor:
    """The cross product of 3-vectors along the given axes (broadcast over the others):
    (a1 b2 - a2 b1, a2 b0 - a0 b2, a0 b1 - a1 b0)."""
    a, b = as_tensor(a), as_tensor(b)
    if axis is not None:
        axisa = axisb = axisc = axis
    a, b = moveaxis(a, axisa, -1), moveaxis(b, axisb, -1)
    if a.shape[-1] != 3 or b.shape[-1] != 3:
        raise ValueError(
            f"cross: vectors must have 3 components, got {a.shape[-1]} and {b.shape[-1]} "
            "(2-vectors are not supported; pad them with a zero third component)"
        )
    try:
        shape = np.broadcast_shapes(a.shape, b.shape)
    except ValueError:
        raise ValueError(f"cross: the vectors of shapes {a.shape} and {b.shape} do not broadcast") from None
    a, b = broadcast_to(a, shape), broadcast_to(b, shape)
    c = stack(
        [
            a[..., (k + 1) % 3] * b[..., (k + 2) % 3] - a[..., (k + 2) % 3] * b[..., (k + 1) % 3]
            for k in range(3)
        ],
        -1,
    )
    return moveaxis(c, -1, axisc)
