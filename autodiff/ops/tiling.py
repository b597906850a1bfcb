"""NumPy's further functions that arrange entries: repetition (``repeat``, ``tile``), rotation
(``roll``, ``rot90``, ``fliplr``, ``flipud``, ``rollaxis``), selection (``take``, ``ravel``),
joining (``hstack``, ``vstack``, ``dstack``, ``column_stack``, ``atleast_1d/2d/3d``) and splitting
(``array_split``, ``hsplit``, ``vsplit``, ``dsplit``).

All are compositions of reshape, broadcast, indexing and concatenation, so their derivatives
come for free (the gradient of a repeated entry is the sum over its copies).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

from autodiff.ops.arrange import (
    as_tensor,
    broadcast_to,
    concatenate,
    flip,
    moveaxis,
    one_axis,
    reshape,
    split,
    swapaxes,
)
from autodiff.tensor import Tensor

__all__ = [
    *("ravel repeat tile roll rot90 fliplr flipud rollaxis take atleast_1d atleast_2d atleast_3d".split()),
    *("hstack vstack dstack column_stack array_split hsplit vsplit dsplit".split()),
]


def _along(x: Tensor, axis: int, index: Any) -> Tensor:
    """x indexed by ``index`` along ``axis`` (a negative axis)."""
    return x[(Ellipsis, index) + (slice(None),) * (-axis - 1)]


def ravel(x: Any) -> Tensor:
    """The entries as one axis, in row-major order."""
    return reshape(as_tensor(x), (-1,))


def repeat(x: Any, repeats: int | Sequence[int], axis: int | None = None) -> Tensor:
    """Each entry repeated ``repeats`` times along ``axis`` (of the flattened x when None)."""
    x = as_tensor(x)
    if axis is None:
        x, axis = ravel(x), -1
    a = one_axis("repeat", axis, x.ndim)
    n = x.shape[a]
    counts = [repeats] * n if isinstance(repeats, int) else list(repeats)
    if len(counts) == 1:
        counts *= n
    if len(counts) != n or any(c < 0 for c in counts):
        raise ValueError(
            f"repeat: repeats {repeats!r} do not fit an axis of length {n} (one count >= 0, or n)"
        )
    return _along(x, a, [i for i, c in enumerate(counts) for _ in range(c)])


def tile(x: Any, reps: int | Sequence[int]) -> Tensor:
    """x repeated ``reps[d]`` times along each axis d (NumPy's tile)."""
    x = as_tensor(x)
    reps = (reps,) if isinstance(reps, int) else tuple(reps)
    ndim = max(x.ndim, len(reps))
    shape, reps = (1,) * (ndim - x.ndim) + x.shape, (1,) * (ndim - len(reps)) + reps
    wide = reshape(x, tuple(n for s in shape for n in (1, s)))
    wide = broadcast_to(wide, tuple(n for r, s in zip(reps, shape, strict=True) for n in (r, s)))
    return reshape(wide, tuple(r * s for r, s in zip(reps, shape, strict=True)))


def roll(x: Any, shift: int | Sequence[int], axis: Any = None) -> Tensor:
    """Entries shifted by ``shift`` along ``axis`` (of the flattened x when None), those pushed
    off one end coming back at the other."""
    x = as_tensor(x)
    if axis is None:
        return reshape(roll(ravel(x), shift, 0), x.shape)
    shifts = (shift,) if isinstance(shift, int) else tuple(shift)
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    if len(shifts) == 1:
        shifts *= len(axes)
    if len(axes) == 1:
        axes *= len(shifts)
    if len(shifts) != len(axes):
        raise ValueError(f"roll: {len(shifts)} shifts for {len(axes)} axes")
    for s, a in zip(shifts, axes, strict=True):
        a = one_axis("roll", a, x.ndim)
        n = x.shape[a]
        if n:
            x = _along(x, a, [(i - s) % n for i in range(n)])
    return x


def rot90(x: Any, k: int = 1, axes: Sequence[int] = (0, 1)) -> Tensor:
    """x rotated by k quarter turns in the plane of ``axes``, from the first axis towards the
    second (NumPy's rot90)."""
    x = as_tensor(x)
    if len(axes) != 2:
        raise ValueError(f"rot90: axes must name two axes, got {axes!r}")
    a, b = (one_axis("rot90", i, x.ndim) for i in axes)
    if a == b:
        raise ValueError(f"rot90: the two axes are the same ({axes!r})")
    k %= 4
    if k == 0:
        return x
    if k == 2:
        return flip(flip(x, a), b)
    if k == 1:
        return swapaxes(flip(x, b), a, b)
    return flip(swapaxes(x, a, b), b)


def fliplr(x: Any) -> Tensor:
    """x reversed along axis 1."""
    return flip(x, 1)


def flipud(x: Any) -> Tensor:
    """x reversed along axis 0."""
    return flip(x, 0)


def rollaxis(x: Any, axis: int, start: int = 0) -> Tensor:
    """Axis ``axis`` moved to before position ``start`` (NumPy's rollaxis)."""
    x = as_tensor(x)
    a = one_axis("rollaxis", axis, x.ndim) + x.ndim
    if not -x.ndim <= start <= x.ndim:
        raise ValueError(f"rollaxis: start {start} is out of range for a tensor with {x.ndim} axes")
    start = start + x.ndim if start < 0 else start
    return moveaxis(x, a, start - 1 if a < start else start)


def take(x: Any, indices: Any, axis: int | None = None) -> Tensor:
    """The entries at ``indices`` along ``axis`` (of the flattened x when None): the result has
    x's axes with ``axis`` replaced by the axes of ``indices``."""
    x = as_tensor(x)
    if axis is None:
        x, axis = ravel(x), -1
    a = one_axis("take", axis, x.ndim)
    return _along(x, a, list(indices) if isinstance(indices, tuple) else indices)


# ------------------------------------------------------------------------- joining
def atleast_1d(*xs: Any) -> Tensor | list[Tensor]:
    """Each argument with at least one axis (a scalar becomes shape (1,))."""
    out = [reshape(x, (1,)) if x.ndim == 0 else x for x in map(as_tensor, xs)]
    return out[0] if len(out) == 1 else out


def atleast_2d(*xs: Any) -> Tensor | list[Tensor]:
    """Each argument with at least two axes: shape (n,) becomes (1, n)."""
    out = [reshape(x, (1,) * (2 - x.ndim) + x.shape) if x.ndim < 2 else x for x in map(as_tensor, xs)]
    return out[0] if len(out) == 1 else out


def atleast_3d(*xs: Any) -> Tensor | list[Tensor]:
    """Each argument with at least three axes: (n,) becomes (1, n, 1) and (m, n) (m, n, 1)."""
    shapes = {0: lambda s: (1, 1, 1), 1: lambda s: (1, *s, 1), 2: lambda s: (*s, 1)}
    out = [reshape(x, shapes[x.ndim](x.shape)) if x.ndim < 3 else x for x in map(as_tensor, xs)]
    return out[0] if len(out) == 1 else out


def _as_list(xs: Any, name: str) -> list[Tensor]:
    if isinstance(xs, Tensor):
        return list(xs)
    if not isinstance(xs, Sequence) or not xs:
        raise ValueError(f"{name}: expected a non-empty sequence of tensors")
    return [as_tensor(x) for x in xs]


def hstack(tensors: Sequence[Any]) -> Tensor:
    """Joined along axis 1 (axis 0 for vectors)."""
    tensors = [atleast_1d(t) for t in _as_list(tensors, "hstack")]
    return concatenate(tensors, axis=0 if tensors[0].ndim == 1 else 1)


def vstack(tensors: Sequence[Any]) -> Tensor:
    """Joined along axis 0, vectors taken as rows."""
    return concatenate([atleast_2d(t) for t in _as_list(tensors, "vstack")], axis=0)


def dstack(tensors: Sequence[Any]) -> Tensor:
    """Joined along axis 2, after atleast_3d."""
    return concatenate([atleast_3d(t) for t in _as_list(tensors, "dstack")], axis=2)


def column_stack(tensors: Sequence[Any]) -> Tensor:
    """Vectors as columns (and matrices as they are), joined along axis 1."""
    tensors = _as_list(tensors, "column_stack")
    return concatenate([reshape(t, (-1, 1)) if t.ndim < 2 else t for t in tensors], axis=1)


# ------------------------------------------------------------------------- splitting
def array_split(x: Any, indices_or_sections: Any, axis: int = 0) -> list[Tensor]:
    """split, also into sections of unequal lengths: the first n % sections get one more."""
    x = as_tensor(x)
    if not isinstance(indices_or_sections, int):
        return split(x, indices_or_sections, axis)
    if indices_or_sections < 1:
        raise ValueError(f"array_split: the number of sections must be at least 1, got {indices_or_sections}")
    n = x.shape[one_axis("array_split", axis, x.ndim)]
    size, extra = divmod(n, indices_or_sections)
    cuts = itertools.accumulate([size + 1] * extra + [size] * (indices_or_sections - extra - 1))
    return split(x, list(cuts), axis)


def hsplit(x: Any, indices_or_sections: Any) -> list[Tensor]:
    """split along axis 1 (axis 0 for vectors)."""
    x = as_tensor(x)
    return split(x, indices_or_sections, 0 if x.ndim == 1 else 1)


def vsplit(x: Any, indices_or_sections: Any) -> list[Tensor]:
    """split along axis 0."""
    return split(x, indices_or_sections, 0)


def dsplit(x: Any, indices_or_sections: Any) -> list[Tensor]:
    """split along axis 2."""
    return split(x, indices_or_sections, 2)
