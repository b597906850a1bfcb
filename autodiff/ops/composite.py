"""The public functions of computation: reductions, softmax, elementwise composites and products, with NumPy's
signatures, over the primitives (the functions that arrange entries are in :mod:`autodiff.ops.arrange`).
Composites (mean, var, softmax, ...) are plain Python over the primitives, so their derivatives come for free.
"""

from __future__ import annotations

import builtins
import math
import string
from typing import Any

import numpy as np  # shapes and dtypes only; array math goes through the backend

from autodiff import backend
from autodiff.ops import elementwise as ew
from autodiff.ops import linalg as la
from autodiff.ops import reduce as rd
from autodiff.ops.arrange import as_tensor, expand_dims, normalize_axes, one_axis, reshape, squeeze, transpose
from autodiff.tensor import Tensor


# ------------------------------------------------------------------------- reductions
def _reduction(prim):
    def reduce(x: Any, axis: Any = None, keepdims: bool = False) -> Tensor:
        x = as_tensor(x)
        return prim(x, axis=normalize_axes(prim.name, axis, x.ndim), keepdims=bool(keepdims))

    reduce.__name__ = prim.name
    reduce.__doc__ = f"``{prim.name}`` over ``axis`` (all axes when None), NumPy's signature."
    return reduce


sum, max, any, all = map(_reduction, (rd.sum, rd.max, rd.any, rd.all))


def logsumexp(x: Any, axis: Any = None, keepdims: bool = False) -> Tensor:
    """``log(sum(exp(x)))`` over ``axis`` (all axes when None), shifted by the maximum; -inf
    (the log of an empty sum) over an empty axis."""
    x = as_tensor(x)
    axes = normalize_axes("logsumexp", axis, x.ndim)
    if builtins.any(x.shape[a] == 0 for a in axes):
        return sum(x, axes, keepdims) - math.inf
    return rd.logsumexp(x, axis=axes, keepdims=bool(keepdims))


def _arg_reduction(prim):
    def reduce(x: Any, axis: int | None = None, keepdims: bool = False) -> Tensor:
        x = as_tensor(x)
        if axis is None:  # the index into the flattened x, as NumPy's (keepdims: shape (1,) * ndim)
            flat = prim(reshape(x, (-1,)), axis=-1, keepdims=False)
            return reshape(flat, (1,) * x.ndim) if keepdims else flat
        return prim(x, axis=one_axis(prim.name, axis, x.ndim), keepdims=keepdims)

    reduce.__name__ = prim.name
    return reduce


argmax, argmin = map(_arg_reduction, (rd.argmax, rd.argmin))


def min(x: Any, axis: Any = None, keepdims: bool = False) -> Tensor:
    """min(x) = -max(-x): ties split the gradient evenly, as for max."""
    return -max(-as_tensor(x), axis, keepdims)


def prod(x: Any, axis: Any = None, keepdims: bool = False) -> Tensor:
    """Product over ``axis``; the reduced axes are moved last and merged first."""
    x = as_tensor(x)
    axes = normalize_axes("prod", axis, x.ndim)
    rest = [a for a in range(-x.ndim, 0) if a not in axes]
    moved = transpose(x, [a + x.ndim for a in rest + list(axes)])
    merged = reshape(moved, tuple(x.shape[a] for a in rest) + (math.prod(x.shape[a] for a in axes),))
    result = rd.prod(merged, axis=-1, keepdims=False)
    if keepdims:
        result = reshape(result, tuple(1 if a - x.ndim in axes else n for a, n in enumerate(x.shape)))
    return result


def mean(x: Any, axis: Any = None, keepdims: bool = False) -> Tensor:
    x = as_tensor(x)
    axes = normalize_axes("mean", axis, x.ndim)
    return sum(x, axes, keepdims) / math.prod(x.shape[a] for a in axes)


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
    (NumPy's ``ord`` 2, 1, inf, 'nuc' over two axes) are :func:`autodiff.linalg.norm`'s."""
    x = as_tensor(x)
    axes = normalize_axes("norm", axis, x.ndim)
    if ord in (None, "fro") or (ord == 2 and len(axes) == 1):
        return rd.norm(x, axis=axes, keepdims=keepdims)
    if len(axes) != 1:
        raise ValueError(
            f"norm: ord={ord!r} over {len(axes)} axes is a matrix norm: use ad.linalg.norm, "
            "or ord=None (Frobenius), or reduce over one axis"
        )
    if ord == 1:
        return sum(ew.abs(x), axes, keepdims)
    if ord in (math.inf, "inf"):
        return max(ew.abs(x), axes, keepdims)
    raise ValueError(f"norm: ord={ord!r} is not supported (use None/2/'fro', 1 or inf)")


def softmax(x: Any, axis: Any = -1) -> Tensor:
    """exp(x - logsumexp(x)) over ``axis`` (an int or a tuple): stable for any logits."""
    x = as_tensor(x)
    axes = normalize_axes("softmax", axis, x.ndim)
    if builtins.any(x.shape[a] == 0 for a in axes):
        return x * 1  # nothing to normalise: the empty result, in new memory
    return rd.softmax(x, axis=axes)


def log_softmax(x: Any, axis: int = -1) -> Tensor:
    """x - logsumexp(x): finite for logits of any size (logsumexp shifts by the max)."""
    x = as_tensor(x)
    one_axis("log_softmax", axis, x.ndim)
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
    for bound, beyond in ((a_min, ew.less), (a_max, ew.greater)):
        if isinstance(bound, scalar | Tensor | np.ndarray) or backend.is_array(bound):
            bound = as_tensor(bound, like=x)
            x = ew.where(beyond(x, bound), bound, x)
        elif bound is not None:
            raise TypeError(f"clip: bounds must be numbers, tensors or None, not {type(bound).__name__}")
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
    return squeeze(out, [-2] * (a.ndim == 1) + [-1] * (b.ndim == 1))  # the axes added to 1-D operands


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
    width = builtins.max(
        (o.ndim - len(t.replace("...", "")) for t, o in zip(terms, operands, strict=True) if "..." in t),
        default=0,
    )
    dots = "".join([c for c in string.ascii_letters if c not in spec][:width])  # letters for '...'
    for k, (t, o) in enumerate(zip(terms, operands, strict=True)):
        n = o.ndim - len(t.replace("...", ""))
        terms[k] = t.replace("...", dots[width - n :]) if "..." in t else t
        if len(terms[k]) != o.ndim:
            raise ValueError(
                f"einsum: term '{t}' has {len(terms[k])} indices for an operand of shape {o.shape}"
            )
        if len(set(terms[k])) != len(terms[k]):
            raise ValueError(f"einsum: repeated index within the term '{t}' (diagonals) is not supported")
    letters = "".join(terms)
    implicit = dots + "".join(sorted(c for c in set(letters) if letters.count(c) == 1 and c not in dots))
    return ",".join(terms) + "->" + (output.replace("...", dots) if "->" in spec else implicit)


def einsum(spec: str, *operands: Any) -> Tensor:
    """NumPy's einsum (any number of operands; '...' allowed; no diagonals)."""
    operands = [as_tensor(o) for o in operands]
    return la.einsum(*operands, spec=_canonical_spec(spec, operands))
