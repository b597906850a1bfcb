"""``norm``: NumPy's vector and matrix norms, compositions of primitives.

Vector norms (one axis): ``ord`` None or 2, inf (max |x_i|), -inf (min |x_i|), 0 (the number
of nonzero entries: no derivative), and any other p: (sum |x_i|^p)^(1/p).  Matrix norms (two
axes): 'fro' (or None), 'nuc' (the sum of the singular values, d||A||_nuc = U V^T), 2 and -2
(the largest and smallest singular value), 1 and -1 (the max and min column sum of |a_ij|), inf
and -inf (the max and min row sum).  At ties (max, min) the gradient is split evenly; at x = 0
the derivative of |x|, of the 2-norm and of the p-norms is taken as 0 (PyTorch's convention).
"""

from __future__ import annotations

import math
from typing import Any

from autodiff.linalg.svd import svdvals
from autodiff.ops import arrange, composite, elementwise
from autodiff.ops.arrange import normalize_axes
from autodiff.tensor import Tensor

VECTOR_ORDS = "None, 2, inf, -inf, 0 or a number p"
MATRIX_ORDS = "None, 'fro', 'nuc', 2, -2, 1, -1, inf or -inf"


def _vector(x: Tensor, ord: Any, axis: int, keepdims: bool) -> Tensor:
    if ord is None or ord == 2:
        return composite.norm(x, None, axis, keepdims)
    if isinstance(ord, str) or not isinstance(ord, int | float):
        raise ValueError(f"linalg.norm: ord={ord!r} is not a vector norm; use {VECTOR_ORDS}")
    a = elementwise.abs(x)
    if ord == math.inf:
        return composite.max(a, axis, keepdims)
    if ord == -math.inf:
        return composite.min(a, axis, keepdims)
    if ord == 0:
        return arrange.astype(composite.sum(x != 0, axis, keepdims), x.dtype)
    if ord == 1:
        return composite.sum(a, axis, keepdims)
    if ord < 0:
        return composite.sum(a**ord, axis, keepdims) ** (1 / ord)
    zero = a == 0  # |x|^p and s^(1/p) at 0: derivative 0, no inf
    total = composite.sum(elementwise.where(zero, 0, elementwise.where(zero, 1, a) ** ord), axis, keepdims)
    empty = total == 0
    return elementwise.where(empty, 0, elementwise.where(empty, 1, total) ** (1 / ord))


def _matrix(x: Tensor, ord: Any, axes: tuple[int, int], keepdims: bool) -> Tensor:
    row, col = axes
    if ord in (None, "fro"):
        return composite.norm(x, None, axes, keepdims)
    if ord in ("nuc", 2, -2):
        s = svdvals(arrange.transpose(x, [i for i in range(x.ndim) if i not in axes] + [row, col]))
        out = composite.sum(s, -1) if ord == "nuc" else (composite.max if ord == 2 else composite.min)(s, -1)
        return arrange.expand_dims(out, tuple(sorted(axes))) if keepdims else out
    if ord in (1, -1, math.inf, -math.inf):
        summed, other = (row, col) if ord in (1, -1) else (col, row)
        sums = composite.sum(elementwise.abs(x), summed, True)
        pick = composite.max if ord in (1, math.inf) else composite.min
        out = pick(sums, other, True)
        return out if keepdims else arrange.squeeze(out, tuple(sorted(axes)))
    raise ValueError(f"linalg.norm: ord={ord!r} is not a matrix norm; use {MATRIX_ORDS}")


def norm(x: Any, ord: Any = None, axis: Any = None, keepdims: bool = False) -> Tensor:
    """NumPy's ``linalg.norm``: with ``axis`` None, the 2-norm of all entries when ``ord`` is
    None, else the vector (1-D) or matrix (2-D) norm ``ord``; an int axis gives vector norms, a
    pair of axes matrix norms.  See the module docstring for the ords and their derivatives."""
    x = arrange.as_tensor(x)
    if axis is None:
        if ord is None:
            return composite.norm(x, None, None, keepdims)
        if x.ndim not in (1, 2):
            raise ValueError(
                f"linalg.norm: ord={ord!r} without axis needs a 1-D or 2-D tensor, got shape "
                f"{tuple(x.shape)}; give axis"
            )
        axis = tuple(range(x.ndim))
    normalize_axes("linalg.norm", axis, x.ndim)  # (checks the axes)
    axes = tuple(int(a) % x.ndim for a in (axis if isinstance(axis, tuple | list) else (axis,)))
    if len(axes) == 1:
        return _vector(x, ord, axes[0], keepdims)
    if len(axes) == 2:
        return _matrix(x, ord, (axes[0], axes[1]), keepdims)
    raise ValueError(f"linalg.norm: axis must be one axis or a pair of axes, got {axis!r}")
