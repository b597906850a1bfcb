"""NumPy's functions that arrange entries, over the primitives: reshape, transpose and their
kin, joining and splitting, padding, indexing (``x[i]``, ``setitem``), casts; and the argument
handling every public op shares (``as_tensor``, ``normalize_axes``).

Wrappers check arguments and put them in the canonical form the primitives expect (negative
axes, explicit shapes, canonical indices); composites (stack, split, flip, ...) are plain Python
over the primitives, so their derivatives come for free.
"""

from __future__ import annotations

import builtins
import functools
import math
from collections.abc import Sequence
from typing import Any

import numpy as np  # shapes and dtypes only; array math goes through the backend

from autodiff import backend
from autodiff.backend import shape_tuple
from autodiff.creation import tensor
from autodiff.graph import interpreters
from autodiff.ops import elementwise as ew
from autodiff.ops import shape as sh
from autodiff.state import flags
from autodiff.tensor import Tensor


def as_tensor(x: Any, like: Tensor | None = None) -> Tensor:
    """``x`` as a Tensor (no copy for tensors); host data goes to the CPU unless ``like`` is
    given, in which case it must already be there (nothing is moved implicitly)."""
    if isinstance(x, Tensor):
        return x
    return tensor(x, device=None if like is None else like.device)


def normalize_axes(name: str, axis: Any, ndim: int) -> tuple[int, ...]:
    """``axis`` (None, an int or a sequence) as a sorted tuple of distinct negative axes."""
    axis = tuple(axis) if isinstance(axis, list) else axis
    exact = axis is None or type(axis) is int or (type(axis) is tuple and all(type(a) is int for a in axis))
    return (_normalized if exact else _normalized.__wrapped__)(name, axis, ndim)  # 1.0 == 1: not cached


@functools.lru_cache(maxsize=1024)  # called by every reduction and axis op: the answers repeat
def _normalized(name: str, axis: Any, ndim: int) -> tuple[int, ...]:
    if axis is None:
        return tuple(range(-ndim, 0))
    if not _is_int(axis) and not (isinstance(axis, Sequence) and builtins.all(_is_int(a) for a in axis)):
        raise TypeError(f"{name}: axis must be an int, a tuple of ints or None, not {axis!r}")
    axes = (axis,) if _is_int(axis) else tuple(axis)
    for a in axes:
        if not -ndim <= a < ndim:
            hint = " (a 0-d tensor has no axes: use axis=None)" if ndim == 0 else ""
            raise ValueError(f"{name}: axis {a!r} is out of range for a tensor with {ndim} axes{hint}")
    result = sorted(a - ndim if a >= 0 else a for a in axes)
    if len(set(result)) != len(result):
        raise ValueError(f"{name}: repeated axis in {axis!r}")
    return tuple(result)


def one_axis(name: str, axis: int, ndim: int) -> int:
    return normalize_axes(name, axis, ndim)[0]


def astype(x: Any, dtype: Any) -> Tensor:
    """A copy of another dtype; differentiable between floating dtypes, while a cast to an
    integer or boolean dtype cuts the graph (its result requires no gradient)."""
    x = as_tensor(x)
    dtype = backend.resolve_dtype(dtype)
    if x.dtype == dtype:
        return x
    return ew.astype(x, dtype=dtype) if backend.is_floating(dtype) else ew.cast(x, dtype=dtype)


# ------------------------------------------------------------------------- shapes
def reshape(x: Any, *shape: Any) -> Tensor:
    """NumPy's reshape; one entry may be -1."""
    x = as_tensor(x)
    shape = shape_tuple(shape, "reshape")
    if shape.count(-1) > 1:
        raise ValueError(f"reshape: only one -1 allowed in {shape}")
    if -1 in shape and (known := math.prod(n for n in shape if n != -1)) and x.size % known == 0:
        shape = tuple(x.size // known if n == -1 else n for n in shape)
    if -1 in shape or math.prod(shape) != x.size:
        raise ValueError(
            f"reshape: cannot reshape a tensor of shape {x.shape} ({x.size} elements) into {shape}"
        )
    return x if shape == x.shape else sh.reshape(x, shape=shape)


def transpose(x: Any, axes: Sequence[int] | None = None) -> Tensor:
    x = as_tensor(x)
    if axes is None:
        axes = tuple(range(x.ndim - 1, -1, -1))
    axes = tuple(a % x.ndim if x.ndim else a for a in axes)
    if sorted(axes) != list(range(x.ndim)):
        raise ValueError(f"transpose: axes {axes} are not a permutation of the {x.ndim} axes of {x.shape}")
    return x if axes == tuple(range(x.ndim)) else sh.transpose(x, axes=axes)


def permute(x: Any, *axes: int) -> Tensor:
    return transpose(x, shape_tuple(axes, "permute"))


def swapaxes(x: Any, axis1: int, axis2: int) -> Tensor:
    x = as_tensor(x)
    order = list(range(x.ndim))
    a, b = one_axis("swapaxes", axis1, x.ndim), one_axis("swapaxes", axis2, x.ndim)
    order[a], order[b] = order[b], order[a]
    return x if a == b else sh.transpose(x, axes=tuple(order))  # a permutation by construction


def moveaxis(x: Any, source: int, destination: int) -> Tensor:
    x = as_tensor(x)
    order = list(range(x.ndim))
    src = one_axis("moveaxis", source, x.ndim) + x.ndim
    dst = one_axis("moveaxis", destination, x.ndim) + x.ndim
    order.insert(dst, order.pop(src))
    return transpose(x, order)


def expand_dims(x: Any, axis: Any) -> Tensor:
    x = as_tensor(x)
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    ndim = x.ndim + len(axes)
    positions = {a % ndim for a in normalize_axes("expand_dims", axes, ndim)}
    dims = iter(x.shape)
    return reshape(x, tuple(1 if i in positions else next(dims) for i in range(ndim)))


unsqueeze = expand_dims  # PyTorch's name: ``ad.unsqueeze(x, dim)``


def squeeze(x: Any, axis: Any = None) -> Tensor:
    x = as_tensor(x)
    if axis is None:
        axes = {i for i, n in enumerate(x.shape) if n == 1}
    else:
        axes = {a % x.ndim for a in normalize_axes("squeeze", axis, x.ndim)}
        if builtins.any(x.shape[a] != 1 for a in axes):
            raise ValueError(f"squeeze: axis {axis} of shape {x.shape} does not have size 1")
    return reshape(x, tuple(n for i, n in enumerate(x.shape) if i not in axes))


def flatten(x: Any, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    """Merge axes start_dim..end_dim into one (PyTorch's flatten)."""
    x = as_tensor(x)
    if x.ndim == 0:
        return reshape(x, (1,))
    start, end = start_dim % x.ndim, end_dim % x.ndim
    return reshape(x, x.shape[:start] + (-1,) + x.shape[end + 1 :])


def broadcast_to(x: Any, shape: Sequence[int]) -> Tensor:
    x = as_tensor(x)
    shape = tuple(shape)
    if shape == x.shape:
        return x
    try:
        fits = len(shape) >= x.ndim and np.broadcast_shapes(x.shape, shape) == shape
    except ValueError:
        fits = False
    if not fits:
        raise ValueError(f"broadcast_to: cannot broadcast a tensor of shape {x.shape} to {shape}")
    return sh.broadcast_to(x, shape=shape)


def flip(x: Any, axis: Any = None) -> Tensor:
    x = as_tensor(x)
    axes = {a % x.ndim for a in normalize_axes("flip", axis, x.ndim)}
    return x[tuple(slice(None, None, -1) if i in axes else slice(None) for i in range(x.ndim))]


def concatenate(tensors: Sequence[Any], axis: int = 0) -> Tensor:
    tensors = [as_tensor(t) for t in tensors]
    if not tensors:
        raise ValueError("concatenate: need at least one tensor")
    ndim = tensors[0].ndim
    a = one_axis("concatenate", axis, builtins.max(ndim, 1))
    k = a + ndim
    if len({(t.ndim, t.shape[:k] + t.shape[k + 1 :]) for t in tensors}) > 1:
        shapes = ", ".join(str(t.shape) for t in tensors)
        raise ValueError(f"concatenate: shapes {shapes} differ outside axis {axis}")
    return tensors[0] if len(tensors) == 1 else sh.concatenate(*tensors, axis=a)


cat = concatenate  # PyTorch's name: ``ad.cat(tensors, dim=0)``


def stack(tensors: Sequence[Any], axis: int = 0) -> Tensor:
    return concatenate([expand_dims(t, axis) for t in tensors], axis=axis)


def split(x: Any, indices_or_sections: Any, axis: int = 0) -> list[Tensor]:
    """NumPy's split: a number of equal sections, or the indices where to cut."""
    x = as_tensor(x)
    a = one_axis("split", axis, x.ndim) + x.ndim
    n = x.shape[a]
    sections = indices_or_sections
    if isinstance(sections, int) and sections < 1:
        raise ValueError(
            f"split: the number of sections must be at least 1, got {sections}; "
            "or give the indices where to cut"
        )
    if isinstance(sections, int) and n % sections:
        raise ValueError(f"split: axis of length {n} does not split into {sections} equal sections")
    cuts = [n // sections * k for k in range(1, sections)] if isinstance(sections, int) else list(sections)
    bounds = [0, *cuts, n]
    lead = (slice(None),) * a
    return [x[lead + (slice(lo, hi),)] for lo, hi in zip(bounds[:-1], bounds[1:], strict=True)]


def _pad_widths(pad_width: Any, ndim: int) -> tuple[tuple[int, int], ...]:
    """NumPy's forms of ``pad_width``: n, (n,), (before, after), or one pair per axis."""
    widths = [pad_width] if isinstance(pad_width, int) else list(pad_width)
    if len(widths) in (1, 2) and builtins.all(isinstance(w, int) for w in widths):  # the same for every axis
        widths = [(widths[0], widths[-1])] * ndim
    pairs = [(w, w) if isinstance(w, int) else tuple(w) for w in widths]
    if len(pairs) != ndim or builtins.any(len(p) != 2 or p[0] < 0 or p[1] < 0 for p in pairs):
        raise ValueError(f"pad: pad_width {pad_width!r} is not valid for a tensor with {ndim} axes")
    return tuple((int(b), int(a)) for b, a in pairs)


def pad(x: Any, pad_width: Any) -> Tensor:
    """Zero padding, NumPy's ``pad_width`` (an int, a (before, after) pair, or one per axis)."""
    x = as_tensor(x)
    return sh.pad(x, pad_width=_pad_widths(pad_width, x.ndim))


def cumsum(x: Any, axis: int = -1) -> Tensor:
    x = as_tensor(x)
    return sh.cumsum(x, axis=one_axis("cumsum", axis, x.ndim))


def to_device(x: Any, device: str) -> Tensor:
    """An explicit, differentiable copy to ``device`` (x itself if it is there already)."""
    x = as_tensor(x)
    device = backend.canonical_device(device)
    return x if x.device == device else sh.to_device(x, device=device)


# ------------------------------------------------------------------------- indexing
def _is_int(i: Any) -> bool:
    return isinstance(i, int | np.integer) and not isinstance(i, bool)


def canonical_index(x: Tensor, index: tuple) -> tuple[tuple, tuple | None]:
    """The index tuple as one entry per axis (ints, slices, integer arrays on x's device, Nones), with
    boolean masks turned into integer arrays and Ellipsis expanded.  When the integer arrays are
    not adjacent, NumPy puts their axes first: then also return the permutation of x that makes
    them adjacent at the front, which gives the same result."""
    xp = backend.namespace(x.device)
    entries: list = []
    for i in index:
        if isinstance(i, Tensor):
            i = i.data
        if isinstance(i, list) or (isinstance(i, np.ndarray) and x.device != "cpu"):
            empty = isinstance(i, list) and not i  # x[[]]: an empty list is an empty integer index (NumPy)
            i = backend.asarray(i, dtype="int64" if empty else None, device=x.device)
        if backend.is_array(i) or isinstance(i, np.ndarray):
            if i.dtype == bool:
                entries.extend(xp.nonzero(i))
                continue
            if i.dtype.kind not in "iu":
                raise IndexError(f"getitem: index arrays must be integers or booleans, not {i.dtype}")
        elif not (i is None or i is Ellipsis or isinstance(i, slice) or _is_int(i)):
            raise IndexError(f"getitem: unsupported index {i!r} for a tensor of shape {x.shape}")
        entries.append(int(i) if _is_int(i) else i)
    consumed = builtins.sum(1 for i in entries if i is not None and i is not Ellipsis)
    if consumed > x.ndim:
        raise IndexError(f"getitem: too many indices ({consumed}) for a tensor of shape {x.shape}")
    ellipses = [k for k, i in enumerate(entries) if i is Ellipsis]
    if len(ellipses) > 1:
        raise IndexError("getitem: an index can only have a single ellipsis ('...')")
    at = ellipses[0] if ellipses else len(entries)  # the missing axes go where '...' is, else last
    entries[at : at + len(ellipses)] = [slice(None)] * (x.ndim - consumed)
    for axis, i in enumerate(e for e in entries if e is not None):
        if _is_int(i) and not -x.shape[axis] <= i < x.shape[axis]:
            raise IndexError(f"getitem: index {i} is out of bounds for axis {axis} of size {x.shape[axis]}")
    advanced = [k for k, i in enumerate(entries) if hasattr(i, "ndim") or _is_int(i)]
    arrays = builtins.any(hasattr(entries[k], "ndim") for k in advanced)
    if not arrays or advanced == list(range(advanced[0], advanced[-1] + 1)):
        return tuple(entries), None
    axis_of = {k: axis for axis, k in enumerate(k for k, i in enumerate(entries) if i is not None)}
    rest = [k for k in range(len(entries)) if k not in advanced]
    perm = tuple(axis_of[k] for k in advanced) + tuple(axis_of[k] for k in rest if k in axis_of)
    return tuple(entries[k] for k in advanced + rest), perm


def getitem(x: Any, index: Any) -> Tensor:
    """NumPy indexing: basic (ints, slices, None, ...) and advanced (integer and boolean
    arrays); the gradient scatters back, repeated indices accumulating."""
    x = as_tensor(x)
    if type(index) is slice and x.ndim:  # x[a:b], the common case, needs no canonical form
        return sh.getitem(x, index=(index,) + (slice(None),) * (x.ndim - 1))
    index = index if isinstance(index, tuple) else (index,)
    if flags.vmap_levels and builtins.any(isinstance(i, interpreters.batched_type) for i in index):
        return interpreters.index(x, index)  # indices that differ per example: vmap's business
    index, perm = canonical_index(x, index)
    return sh.getitem(x if perm is None else transpose(x, perm), index=index)


def setitem(x: Any, index: Any, values: Any) -> Tensor:
    """x after ``x[index] = values``, out of place (JAX's ``x.at[index].set(values)``): the gradient reaches x
    where it was not overwritten and ``values`` where they were written (the last write wins for repeated
    indices, as in NumPy).  ``t[index] = v`` on a tensor records this when a gradient must flow."""
    x = as_tensor(x)
    values = as_tensor(values, like=x)
    if values.requires_grad and not backend.is_floating(x.dtype):
        raise TypeError(
            f"setitem: writing values that require grad into a tensor of dtype {x.dtype} would drop "
            "their gradient; make the tensor floating first (.astype('float64'))"
        )
    cells = getitem(reshape(Tensor(backend.namespace(x.device).arange(x.size)), x.shape), index)
    try:
        flat = reshape(broadcast_to(values, cells.shape), (-1,))
    except ValueError:
        raise ValueError(
            f"setitem: values of shape {values.shape} do not broadcast to x[index] of shape {cells.shape}"
        ) from None
    xp = backend.array_module(cells.data)
    source = xp.full(x.size, -1, dtype=cells.dtype)  # which value each cell of x receives, or -1
    source[xp.reshape(cells.data, (-1,))] = xp.arange(cells.size, dtype=cells.dtype)
    written = Tensor(xp.reshape(source >= 0, x.shape))
    taken = Tensor(xp.reshape(xp.maximum(source, 0), x.shape))
    return ew.where(written, astype(flat[taken], x.dtype), x)
