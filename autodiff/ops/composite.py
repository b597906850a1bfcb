"""The public functions: NumPy-style signatures over the primitives, and composites.

Wrappers check arguments and put them in the canonical form the primitives expect (negative
axes, explicit shapes, canonical indices); composites (mean, var, softmax, stack, ...) are plain
Python over the primitives, so their derivatives come for free.
"""

from __future__ import annotations

import builtins
import functools
import inspect
import math
import string
from collections.abc import Sequence
from typing import Any

import numpy as np  # shapes and dtypes only; array math goes through the backend

from autodiff import backend
from autodiff.backend import shape_tuple
from autodiff.graph import interpreters
from autodiff.ops import elementwise as ew
from autodiff.ops import linalg as la
from autodiff.ops import reduce as rd
from autodiff.ops import shape as sh
from autodiff.state import flags
from autodiff.tensor import Tensor


def as_tensor(x: Any, like: Tensor | None = None) -> Tensor:
    """``x`` as a Tensor (no copy for tensors); host data goes to the CPU unless ``like`` is
    given, in which case it must already be there (nothing is moved implicitly)."""
    if isinstance(x, Tensor):
        return x
    from autodiff.creation import tensor

    return tensor(x, device=None if like is None else like.device)


def normalize_axes(name: str, axis: Any, ndim: int) -> tuple[int, ...]:
    """``axis`` (None, an int or a sequence) as a sorted tuple of distinct negative axes."""
    if axis is None:
        return tuple(range(-ndim, 0))
    if not _is_int(axis) and not (isinstance(axis, Sequence) and builtins.all(_is_int(a) for a in axis)):
        raise TypeError(f"{name}: axis must be an int, a tuple of ints or None, not {axis!r}")
    axes = (axis,) if _is_int(axis) else tuple(axis)
    result = []
    for a in axes:
        if not -ndim <= a < ndim:
            hint = " (a 0-d tensor has no axes: use axis=None)" if ndim == 0 else ""
            raise ValueError(f"{name}: axis {a!r} is out of range for a tensor with {ndim} axes{hint}")
        result.append(a - ndim if a >= 0 else a)
    if len(set(result)) != len(result):
        raise ValueError(f"{name}: repeated axis in {axis!r}")
    return tuple(sorted(result))


def _one_axis(name: str, axis: int, ndim: int) -> int:
    return normalize_axes(name, axis, ndim)[0]


# ------------------------------------------------------------------------- reductions
def _reduction(prim, name):
    def reduce(x: Any, axis: Any = None, keepdims: bool = False) -> Tensor:
        x = as_tensor(x)
        return prim(x, axis=normalize_axes(name, axis, x.ndim), keepdims=bool(keepdims))

    reduce.__name__ = name
    reduce.__doc__ = f"``{name}`` over ``axis`` (all axes when None), NumPy's signature."
    return reduce


sum = _reduction(rd.sum, "sum")
max = _reduction(rd.max, "max")


def logsumexp(x: Any, axis: Any = None, keepdims: bool = False) -> Tensor:
    """``log(sum(exp(x)))`` over ``axis`` (all axes when None), shifted by the maximum; -inf
    (the log of an empty sum) over an empty axis."""
    x = as_tensor(x)
    axes = normalize_axes("logsumexp", axis, x.ndim)
    if builtins.any(x.shape[a] == 0 for a in axes):
        return sum(x, axes, keepdims) - math.inf
    return rd.logsumexp(x, axis=axes, keepdims=bool(keepdims))


any = _reduction(rd.any, "any")
all = _reduction(rd.all, "all")


def _arg_reduction(prim, name):
    def reduce(x: Any, axis: int | None = None, keepdims: bool = False) -> Tensor:
        x = as_tensor(x)
        if axis is None:
            return prim(reshape(x, (-1,)), axis=-1, keepdims=False)
        return prim(x, axis=_one_axis(name, axis, x.ndim), keepdims=keepdims)

    reduce.__name__ = name
    return reduce


argmax = _arg_reduction(rd.argmax, "argmax")
argmin = _arg_reduction(rd.argmin, "argmin")


def min(x: Any, axis: Any = None, keepdims: bool = False) -> Tensor:
    """min(x) = -max(-x): ties split the gradient evenly, as for max."""
    return -max(-as_tensor(x), axis, keepdims)


def prod(x: Any, axis: Any = None, keepdims: bool = False) -> Tensor:
    """Product over ``axis``; the reduced axes are moved last and merged first."""
    x = as_tensor(x)
    axes = normalize_axes("prod", axis, x.ndim)
    rest = [a for a in range(-x.ndim, 0) if a not in axes]
    moved = transpose(x, [a + x.ndim for a in rest + list(axes)])
    kept = tuple(x.shape[a] for a in rest)
    merged = reshape(moved, kept + (math.prod(x.shape[a] for a in axes),))
    result = rd.prod(merged, axis=-1, keepdims=False)
    if keepdims:
        result = reshape(result, tuple(1 if a - x.ndim in axes else n for a, n in enumerate(x.shape)))
    return result


def mean(x: Any, axis: Any = None, keepdims: bool = False) -> Tensor:
    x = as_tensor(x)
    axes = normalize_axes("mean", axis, x.ndim)
    count = math.prod(x.shape[a] for a in axes)
    return sum(x, axes, keepdims) / count


def var(x: Any, axis: Any = None, keepdims: bool = False, ddof: int = 0) -> Tensor:
    """mean((x - mean(x))^2) with ``ddof`` delta degrees of freedom, as NumPy."""
    x = as_tensor(x)
    axes = normalize_axes("var", axis, x.ndim)
    count = math.prod(x.shape[a] for a in axes)
    centred = x - mean(x, axes, keepdims=True)
    return sum(centred * centred, axes, keepdims) / (count - ddof)


def std(x: Any, axis: Any = None, keepdims: bool = False, ddof: int = 0) -> Tensor:
    """||x - mean(x)|| / sqrt(count - ddof): through the norm, whose derivative at 0 is 0 (so the
    gradient is 0, not NaN, when all entries are equal)."""
    x = as_tensor(x)
    axes = normalize_axes("std", axis, x.ndim)
    count = math.prod(x.shape[a] for a in axes)
    centred = x - mean(x, axes, keepdims=True)
    return rd.norm(centred, axis=axes, keepdims=bool(keepdims)) / math.sqrt(count - ddof)


def norm(x: Any, ord: Any = None, axis: Any = None, keepdims: bool = False) -> Tensor:
    """The 2-norm of vectors (the Frobenius norm over several axes) by default; ``ord`` 1 and
    inf for vectors (one axis).  norm'(0) = 0 by convention.  Matrix norms other than Frobenius
    (NumPy's ``ord`` 2, 1, inf over two axes) are not provided: they would need an SVD or a max
    over sums, and giving the vector norm instead would be silently wrong."""
    x = as_tensor(x)
    axes = normalize_axes("norm", axis, x.ndim)
    if ord in (None, "fro") or (ord == 2 and len(axes) == 1):
        return rd.norm(x, axis=axes, keepdims=keepdims)
    if len(axes) != 1:
        raise ValueError(
            f"norm: ord={ord!r} over {len(axes)} axes is a matrix norm, which is not supported; "
            "use ord=None (Frobenius), or reduce over one axis"
        )
    if ord == 1:
        return sum(ew.abs(x), axes, keepdims)
    if ord in (math.inf, "inf"):
        return max(ew.abs(x), axes, keepdims)
    raise ValueError(f"norm: ord={ord!r} is not supported (use None/2/'fro', 1 or inf)")


def softmax(x: Any, axis: int = -1) -> Tensor:
    """exp(log_softmax(x)): stable for any logits."""
    x = as_tensor(x)
    _one_axis("softmax", axis, x.ndim)
    return ew.exp(log_softmax(x, axis))


def log_softmax(x: Any, axis: int = -1) -> Tensor:
    """x - logsumexp(x): finite for logits of any size (logsumexp shifts by the max)."""
    x = as_tensor(x)
    _one_axis("log_softmax", axis, x.ndim)
    return x - logsumexp(x, axis, keepdims=True)


# ------------------------------------------------------------------------- elementwise
def clip(x: Any, a_min: Any = None, a_max: Any = None) -> Tensor:
    """Clamp to [a_min, a_max]; the gradient to x is 1 inside, boundaries included.  Bounds that
    are tensors (or arrays) broadcast against x and receive the gradient where they bind
    (PyTorch's clamp): ``where(x < a_min, a_min, x)``, then the same for a_max."""
    x = as_tensor(x)
    scalar = int | float | np.integer | np.floating
    if builtins.all(b is None or isinstance(b, scalar) for b in (a_min, a_max)):
        return ew.clip(x, lo=a_min, hi=a_max)
    for b in (a_min, a_max):
        if not (b is None or isinstance(b, scalar | Tensor | np.ndarray) or backend.is_array(b)):
            raise TypeError(f"clip: bounds must be numbers, tensors or None, not {type(b).__name__}")
    if a_min is not None:
        a_min = as_tensor(a_min, like=x)
        x = ew.where(x < a_min, a_min, x)
    if a_max is not None:
        a_max = as_tensor(a_max, like=x)
        x = ew.where(x > a_max, a_max, x)
    return x


def log_sigmoid(x: Any) -> Tensor:
    """log sigmoid(x) = -softplus(-x): finite for every x (log(sigmoid(x)) is -inf below -745)."""
    return -ew.softplus(-as_tensor(x))


def leaky_relu(x: Any, negative_slope: float = 0.01) -> Tensor:
    x = as_tensor(x)
    return ew.where(x > 0, x, negative_slope * x)


def gelu(x: Any) -> Tensor:
    """GELU, tanh approximation: x/2 (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))."""
    x = as_tensor(x)
    return 0.5 * x * (1 + ew.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x * x * x)))


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
    if -1 in shape:
        known = math.prod(n for n in shape if n != -1)
        if known == 0 or x.size % known:
            raise ValueError(f"reshape: cannot reshape a tensor of shape {x.shape} into {shape}")
        shape = tuple(x.size // known if n == -1 else n for n in shape)
    if math.prod(shape) != x.size:
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
    a, b = (
        _one_axis("swapaxes", axis1, x.ndim) + x.ndim,
        _one_axis("swapaxes", axis2, x.ndim) + x.ndim,
    )
    order[a], order[b] = order[b], order[a]
    return transpose(x, order)


def moveaxis(x: Any, source: int, destination: int) -> Tensor:
    x = as_tensor(x)
    order = list(range(x.ndim))
    src = _one_axis("moveaxis", source, x.ndim) + x.ndim
    dst = _one_axis("moveaxis", destination, x.ndim) + x.ndim
    order.insert(dst, order.pop(src))
    return transpose(x, order)


def expand_dims(x: Any, axis: Any) -> Tensor:
    x = as_tensor(x)
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    ndim = x.ndim + len(axes)
    positions = {a % ndim for a in normalize_axes("expand_dims", axes, ndim)}
    dims = iter(x.shape)
    return reshape(x, tuple(1 if i in positions else next(dims) for i in range(ndim)))


def unsqueeze(x: Any, dim: int) -> Tensor:
    return expand_dims(x, dim)


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
        np.broadcast_shapes(x.shape, shape)
    except ValueError:
        raise ValueError(f"broadcast_to: cannot broadcast a tensor of shape {x.shape} to {shape}") from None
    if len(shape) < x.ndim or np.broadcast_shapes(x.shape, shape) != shape:
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
    a = _one_axis("concatenate", axis, builtins.max(ndim, 1))
    for t in tensors:
        if t.ndim != ndim or builtins.any(
            n != m for i, (n, m) in enumerate(zip(t.shape, tensors[0].shape, strict=True)) if i != a + ndim
        ):
            shapes = ", ".join(str(u.shape) for u in tensors)
            raise ValueError(f"concatenate: shapes {shapes} differ outside axis {axis}")
    return tensors[0] if len(tensors) == 1 else sh.concatenate(*tensors, axis=a)


def stack(tensors: Sequence[Any], axis: int = 0) -> Tensor:
    tensors = [as_tensor(t) for t in tensors]
    return concatenate([expand_dims(t, axis) for t in tensors], axis=axis)


def split(x: Any, indices_or_sections: Any, axis: int = 0) -> list[Tensor]:
    """NumPy's split: a number of equal sections, or the indices where to cut."""
    x = as_tensor(x)
    a = _one_axis("split", axis, x.ndim) + x.ndim
    n = x.shape[a]
    if isinstance(indices_or_sections, int):
        if indices_or_sections < 1:
            raise ValueError(
                f"split: the number of sections must be at least 1, got {indices_or_sections}; "
                "or give the indices where to cut"
            )
        if n % indices_or_sections:
            raise ValueError(
                f"split: axis of length {n} does not split into {indices_or_sections} equal sections"
            )
        step = n // indices_or_sections
        cuts = list(range(step, n, step))
    else:
        cuts = list(indices_or_sections)
    bounds = [0, *cuts, n]
    lead = (slice(None),) * a
    return [x[lead + (slice(lo, hi),)] for lo, hi in zip(bounds[:-1], bounds[1:], strict=True)]


def _pad_widths(pad_width: Any, ndim: int) -> tuple[tuple[int, int], ...]:
    """NumPy's forms of ``pad_width``: n, (n,), (before, after), or one pair per axis."""
    if isinstance(pad_width, int):
        pairs = [(pad_width, pad_width)] * ndim
    else:
        pad_width = list(pad_width)
        if len(pad_width) == 1 and isinstance(pad_width[0], int):
            pairs = [(pad_width[0], pad_width[0])] * ndim
        elif len(pad_width) == 2 and builtins.all(isinstance(w, int) for w in pad_width):
            pairs = [tuple(pad_width)] * ndim
        else:
            pairs = [tuple(w) if not isinstance(w, int) else (w, w) for w in pad_width]
    if len(pairs) != ndim or builtins.any(len(p) != 2 or p[0] < 0 or p[1] < 0 for p in pairs):
        raise ValueError(f"pad: pad_width {pad_width!r} is not valid for a tensor with {ndim} axes")
    return tuple((int(b), int(a)) for b, a in pairs)


def pad(x: Any, pad_width: Any) -> Tensor:
    """Zero padding, NumPy's ``pad_width`` (an int, a (before, after) pair, or one per axis)."""
    x = as_tensor(x)
    return sh.pad(x, pad_width=_pad_widths(pad_width, x.ndim))


def cumsum(x: Any, axis: int = -1) -> Tensor:
    x = as_tensor(x)
    return sh.cumsum(x, axis=_one_axis("cumsum", axis, x.ndim))


def to_device(x: Any, device: str, source: str | None = None) -> Tensor:
    """An explicit, differentiable copy to ``device`` (``source`` is x's device)."""
    return as_tensor(x).to(device)


# ------------------------------------------------------------------------- indexing
def _is_int(i: Any) -> bool:
    return isinstance(i, int | np.integer) and not isinstance(i, bool)


def canonical_index(x: Tensor, index: Any) -> tuple[tuple, tuple | None]:
    """The index as one entry per axis (ints, slices, integer arrays on x's device, Nones), with
    boolean masks turned into integer arrays and Ellipsis expanded.  When the integer arrays are
    not adjacent, NumPy puts their axes first: then also return the permutation of x that makes
    them adjacent at the front, which gives the same result."""
    index = index if isinstance(index, tuple) else (index,)
    xp = backend.namespace(x.device)
    entries: list = []
    for i in index:
        if isinstance(i, Tensor):
            i = i.data
        if isinstance(i, list) and not i:  # x[[]]: an empty list is an empty integer index (NumPy)
            i = xp.zeros(0, dtype=np.int64)
        if isinstance(i, list) or (isinstance(i, np.ndarray) and x.device != "cpu"):
            i = backend.asarray(i, device=x.device)
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
    if ellipses:
        at = ellipses[0]
        entries[at : at + 1] = [slice(None)] * (x.ndim - consumed)
    else:
        entries += [slice(None)] * (x.ndim - consumed)
    for axis, i in enumerate(e for e in entries if e is not None):
        if _is_int(i) and not -x.shape[axis] <= i < x.shape[axis]:
            raise IndexError(f"getitem: index {i} is out of bounds for axis {axis} of size {x.shape[axis]}")
    arrays = [k for k, i in enumerate(entries) if hasattr(i, "ndim")]
    if not arrays:
        return tuple(entries), None
    advanced = [k for k, i in enumerate(entries) if hasattr(i, "ndim") or _is_int(i)]
    if advanced == list(range(advanced[0], advanced[-1] + 1)):
        return tuple(entries), None
    axis_of, axis = {}, 0
    for k, i in enumerate(entries):
        if i is not None:
            axis_of[k] = axis
            axis += 1
    rest = [k for k in range(len(entries)) if k not in advanced]
    perm = tuple(axis_of[k] for k in advanced) + tuple(axis_of[k] for k in rest if k in axis_of)
    return tuple(entries[k] for k in advanced + rest), perm


def _batched_index(index: Any) -> bool:
    entries = index if isinstance(index, tuple) else (index,)
    return builtins.any(isinstance(i, interpreters.batched_type) for i in entries)


def getitem(x: Any, index: Any) -> Tensor:
    """NumPy indexing: basic (ints, slices, None, ...) and advanced (integer and boolean
    arrays); the gradient scatters back, repeated indices accumulating."""
    x = as_tensor(x)
    if flags.vmap_levels and _batched_index(index):
        return interpreters.index(x, index)  # indices that differ per example: vmap's business
    index, perm = canonical_index(x, index)
    if perm is not None:
        x = transpose(x, perm)
    return sh.getitem(x, index=index)


def setitem(x: Any, index: Any, values: Any) -> Tensor:
    """x after ``x[index] = values``, out of place (JAX's ``x.at[index].set(values)``): the
    gradient reaches x where it was not overwritten and ``values`` where they were written (the
    last write wins for repeated indices, as in NumPy).  ``t[index] = v`` on a tensor records this
    when a gradient must flow."""
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


# ------------------------------------------------------------------------- products
def matmul(a: Any, b: Any) -> Tensor:
    """NumPy's matmul: 1-D operands are promoted to matrices, and the added axis removed."""
    a, b = as_tensor(a), as_tensor(b)
    if a.ndim == 0 or b.ndim == 0:
        raise ValueError(f"matmul: operands must have at least one axis, got shapes {a.shape} and {b.shape}")
    k_a, k_b = a.shape[-1], b.shape[-2] if b.ndim > 1 else b.shape[0]
    if k_a != k_b:
        raise ValueError(
            f"matmul: shapes {a.shape} and {b.shape} do not align: {k_a} (last axis of the first) "
            f"!= {k_b} ({'second-to-last' if b.ndim > 1 else 'only'} axis of the second)"
        )
    if a.ndim > 1 and b.ndim > 1:
        try:
            np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
        except ValueError:
            raise ValueError(f"matmul: batch shapes of {a.shape} and {b.shape} do not broadcast") from None
        return la.matmul(a, b)
    out = la.matmul(expand_dims(a, 0) if a.ndim == 1 else a, expand_dims(b, -1) if b.ndim == 1 else b)
    if b.ndim == 1:
        out = squeeze(out, -1)
    if a.ndim == 1:
        out = squeeze(out, -1 if b.ndim == 1 else -2)
    return out


def dot(a: Any, b: Any) -> Tensor:
    """NumPy's dot: a product with a scalar; matmul for operands of at most two axes and for a
    1-D second operand; otherwise the sum over the last axis of a and the second-to-last of b,
    ``dot(a, b)[i, j, k, m] = sum(a[i, j, :] * b[k, :, m])`` (not matmul's broadcasting)."""
    a, b = as_tensor(a), as_tensor(b)
    if a.ndim == 0 or b.ndim == 0:
        return a * b
    if b.ndim == 1 or (a.ndim <= 2 and b.ndim <= 2):
        return matmul(a, b)
    if a.shape[-1] != b.shape[-2]:
        raise ValueError(
            f"dot: shapes {a.shape} and {b.shape} do not align: {a.shape[-1]} (last axis of the first) "
            f"!= {b.shape[-2]} (second-to-last axis of the second)"
        )
    first = string.ascii_letters[: a.ndim]
    rest = string.ascii_letters[a.ndim : a.ndim + b.ndim - 1]
    second = rest[:-1] + first[-1] + rest[-1]
    return einsum(f"{first},{second}->{first[:-1]}{rest}", a, b)


def outer(a: Any, b: Any) -> Tensor:
    a, b = as_tensor(a), as_tensor(b)
    return reshape(a, (-1, 1)) * reshape(b, (1, -1))


def _canonical_spec(spec: str, operands: list[Tensor]) -> str:
    """Explicit output, '...' replaced by letters; repeated indices within an operand refused."""
    spec = spec.replace(" ", "")
    inputs, _, output = spec.partition("->")
    terms = inputs.split(",")
    if len(terms) != len(operands):
        raise ValueError(f"einsum: '{spec}' names {len(terms)} operands, got {len(operands)}")
    unused = [c for c in string.ascii_letters if c not in spec]
    width = builtins.max(
        (o.ndim - len(t.replace("...", "")) for t, o in zip(terms, operands, strict=True) if "..." in t),
        default=0,
    )
    dots = "".join(unused[:width])
    for k, (t, o) in enumerate(zip(terms, operands, strict=True)):
        n = o.ndim - len(t.replace("...", ""))
        terms[k] = t.replace("...", dots[width - n :]) if "..." in t else t
        if len(terms[k]) != o.ndim:
            raise ValueError(
                f"einsum: term '{t}' has {len(terms[k])} indices for an operand of shape {o.shape}"
            )
        if len(set(terms[k])) != len(terms[k]):
            raise ValueError(f"einsum: repeated index within the term '{t}' (diagonals) is not supported")
    if "->" not in spec:
        letters = "".join(terms)
        output = "".join(sorted(c for c in set(letters) if letters.count(c) == 1))
        output = dots + "".join(c for c in output if c not in dots)
    else:
        output = output.replace("...", dots)
    return ",".join(terms) + "->" + output


def einsum(spec: str, *operands: Any) -> Tensor:
    """NumPy's einsum (any number of operands; '...' allowed; no diagonals)."""
    operands = [as_tensor(o) for o in operands]
    return la.einsum(*operands, spec=_canonical_spec(spec, operands))


# ------------------------------------------------------------------------- PyTorch's names
def _accept_torch_names(fn: Any) -> Any:
    """``fn`` also taking PyTorch's ``dim=`` and ``keepdim=`` as aliases of ``axis=`` and
    ``keepdims=``."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        for alias, name in (("dim", "axis"), ("keepdim", "keepdims")):
            if alias in kwargs:
                if name in kwargs:
                    raise TypeError(f"{fn.__name__}: give {name}= or its alias {alias}=, not both")
                kwargs[name] = kwargs.pop(alias)
        return fn(*args, **kwargs)

    return wrapper


for _name, _fn in list(globals().items()):  # the public ops (first argument the data) with an axis
    if inspect.isfunction(_fn) and _fn.__module__ == __name__ and not _name.startswith("_"):
        _parameters = list(inspect.signature(_fn).parameters)
        if "axis" in _parameters and _parameters[0] in ("x", "tensors"):
            globals()[_name] = _accept_torch_names(_fn)
cat = concatenate  # PyTorch's name: ``ad.cat(tensors, dim=0)``
