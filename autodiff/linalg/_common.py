"""What the linear-algebra primitives share: their error and warning, the argument checks, and
the pieces of derivative rules (masks, symmetrisation, the reciprocal gaps of a spectrum).

Rules run on raw arrays (the fast path) and on tensors (recorded, for derivatives of any
order); :func:`op` gives the primitive of this package in either namespace, as ``ns.exp`` does
for the core's.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np  # dtypes and constants only
from numpy.linalg import LinAlgError as NumPyLinAlgError  # (what NumPy and CuPy raise: a type, no math)

from autodiff import backend
from autodiff.graph import PRIMITIVES, Primitive, RawNamespace
from autodiff.ops import arrange
from autodiff.ops.batching import unbatched_output
from autodiff.tensor import Tensor


class LinAlgError(ValueError):
    """A matrix for which the result (or its derivative) does not exist: singular where an
    inverse is needed, not positive definite for ``cholesky`` (NumPy's ``LinAlgError``)."""


class LinAlgWarning(RuntimeWarning):
    """A derivative that does not exist (repeated eigenvalues or singular values coupled by the
    loss, zero singular values of a non-square matrix): the terms at fault are left out."""


def op(ns: Any, name: str) -> Any:
    """The primitive ``linalg.<name>`` in the rules' namespace: its evaluation on raw arrays, or
    the primitive itself on tensors (so that the rule is recorded and differentiates again)."""
    name = "linalg." + name
    return getattr(ns, name) if isinstance(ns, RawNamespace) else PRIMITIVES[name]


DERIVATIVE_HINT = "the result does not exist there (nor its derivative): regularise the matrix (add c * I)"


def raising(name: str, forward: Any, what: str) -> Any:
    """``forward`` with NumPy's LinAlgError replaced by ours, which names the operation."""

    def wrapped(xp: Any, *args: Any, **params: Any) -> Any:
        try:
            return forward(xp, *args, **params)
        except NumPyLinAlgError as error:
            raise LinAlgError(f"linalg.{name}: {what} ({error}); {DERIVATIVE_HINT}") from None

    return wrapped


# Boolean triangles (``k`` as in ``numpy.tri``), on the device of ``ref``; no derivative.
tri = Primitive(
    "linalg.tri",
    lambda xp, ref, n, k: xp.tri(n, k=k, dtype=bool),
    batch=unbatched_output,
    differentiable=False,
)


def matrices(name: str, a: Any, square: bool = True) -> Tensor:
    """``a`` as a floating tensor of shape (..., m, n) (m = n when ``square``), or a clear error."""
    a = arrange.as_tensor(a)
    if a.ndim < 2 or (square and a.shape[-1] != a.shape[-2]):
        kind = "square matrices (..., n, n)" if square else "matrices (..., m, n)"
        raise ValueError(f"linalg.{name}: expected a stack of {kind}, got shape {tuple(a.shape)}")
    if not backend.is_floating(a.dtype):
        a = arrange.astype(a, backend.get_default_dtype())
    return a


def mT(ns: Any, x: Any) -> Any:  # noqa: N802  (NumPy's name)
    return ns.swapaxes(x, -1, -2)


def sym(ns: Any, x: Any) -> Any:
    """(X + X^T) / 2: derivatives of functions of symmetric matrices are taken along symmetric
    perturbations, and their gradients are symmetric (PyTorch's convention)."""
    return (x + mT(ns, x)) * 0.5


def diagonal(ns: Any, x: Any) -> Any:
    """The diagonals of a stack of square matrices, shape (..., n)."""
    return ns.sum(ns.where(ns.eye_like(x, n=x.shape[-1]), x, 0), axis=-1)


def diag_embed(ns: Any, v: Any) -> Any:
    """Diagonal matrices with the entries of ``v`` (..., n) on their diagonals."""
    return ns.where(ns.eye_like(v, n=v.shape[-1]), ns.expand_dims(v, -1), 0)


def solve_right(ns: Any, b: Any, a: Any) -> Any:
    """B A^{-1} = (A^{-T} B^T)^T."""
    return mT(ns, op(ns, "solve")(mT(ns, a), mT(ns, b)))


def rounding(x: Any) -> float:
    """n times the unit roundoff of x's dtype: differences below it times the scale are ties."""
    return x.shape[-1] * float(np.finfo(x.dtype).eps)


def gaps(ns: Any, w: Any) -> tuple[Any, Any]:
    """F_ij = 1 / (w_j - w_i) off the diagonal, and 0 on it and at *repeated* pairs
    (|w_i - w_j| <= n eps max|w|), with the mask of those pairs.  The denominators are made
    safe before dividing, so that no inf appears in F nor in its derivative."""
    d = ns.expand_dims(w, -2) - ns.expand_dims(w, -1)
    scale = ns.max(ns.abs(w), axis=-1, keepdims=True)
    eye = ns.eye_like(w, n=w.shape[-1])
    repeated = (ns.abs(d) <= rounding(w) * ns.expand_dims(scale, -1)) & ~eye
    undefined = repeated | eye
    return ns.where(undefined, 0, 1 / ns.where(undefined, 1, d)), repeated


def warn_if_coupled(ns: Any, where: Any, coupling: Any, scale: Any, message: str) -> None:
    """Warn (:class:`LinAlgWarning`) when ``coupling`` is not negligible (> sqrt(eps) times the
    largest |scale|) at an entry of the mask ``where``: the derivative does not exist there and
    the terms at those entries are left out.  One explicit host read per call."""
    tol = math.sqrt(float(np.finfo(coupling.dtype).eps)) * ns.max(ns.abs(scale))
    found = ns.any(where & (ns.abs(coupling) > tol))
    found = found.data if isinstance(found, Tensor) else found  # (inside vmap: every example's)
    if found.any().item():
        warnings.warn(message, LinAlgWarning, stacklevel=4)
