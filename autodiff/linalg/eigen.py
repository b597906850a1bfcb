"""Symmetric eigendecomposition: ``eigh`` and ``eigvalsh``, batched over leading axes.

With A = V diag(w) V^T and M = V^T dA V (Giles 2008, *An extended collection of matrix
derivative results*, section 3.1): dw = diag(M), dV = V (F o M) with F_ij = 1/(w_j - w_i)
(i != j), F_ii = 0; and A-bar = V (diag(w-bar) + F o (V^T V-bar)) V^T.  Derivatives are taken
along symmetric perturbations and gradients are symmetric (dA counts as (dA + dA^T)/2), as in
PyTorch; only one triangle of A is read (``UPLO``), as in NumPy.

Repeated eigenvalues (|w_i - w_j| <= n eps max|w|): the eigenvalues stay differentiable
(``eigvalsh`` has its own rules, which never divide by a gap); the eigenvectors of a repeated
eigenvalue are not unique, so the terms of F at repeated pairs are left out (F_ij = 0), which
is exact for losses that do not depend on the choice of basis in an eigenspace.  When the loss
couples such a pair (reverse mode), or the tangent does (forward mode, which cannot know whether
what follows depends on the basis), a :class:`LinAlgWarning` says so.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from autodiff.graph import Primitive, sum_of
from autodiff.linalg._common import diag_embed, diagonal, gaps, matrices, mT, op, sym, warn_if_coupled
from autodiff.ops.batching import leading_axes
from autodiff.tensor import Tensor

REPEATED = (
    "linalg.eigh: repeated eigenvalues, and the loss depends on the choice of eigenvectors in their "
    "eigenspace: that derivative does not exist; the terms of the repeated pairs are left out"
)
REPEATED_TANGENT = (
    "linalg.eigh: repeated eigenvalues, and the tangent rotates their eigenspace: the tangent of the "
    "eigenvectors does not exist; the rotation within the eigenspace is left out (exact for functions "
    "that do not depend on the choice of basis, such as projectors)"
)


def _eigh_forward(xp: Any, a: Any, UPLO: str) -> Any:  # noqa: N803  (NumPy's name)
    w, v = xp.linalg.eigh(a, UPLO=UPLO)
    return xp.concatenate([w[..., None, :], v], axis=-2)


def _unpack(x: Any) -> tuple[Any, Any]:
    """(w, V) from the stacked output (..., n + 1, n): w in row 0, V below."""
    return x[..., 0, :], x[..., 1:, :]


def _pack(ns: Any, w: Any, v: Any) -> Any:
    return ns.concatenate([ns.expand_dims(w, -2), v], axis=-2)


def _eigh_vjp(ns, g, out, a, UPLO):  # noqa: N803
    w, v = _unpack(out)
    gw, gv = _unpack(g)
    x = ns.matmul(mT(ns, v), gv)
    f, repeated = gaps(ns, w)
    warn_if_coupled(ns, repeated, x - mT(ns, x), x, REPEATED)
    inner = diag_embed(ns, gw) + f * x
    return sym(ns, ns.matmul(v, ns.matmul(inner, mT(ns, v))))


def _eigh_jvp(ns, t, out, a, UPLO):  # noqa: N803
    w, v = _unpack(out)
    m = ns.matmul(mT(ns, v), ns.matmul(sym(ns, t), v))
    f, repeated = gaps(ns, w)
    warn_if_coupled(ns, repeated, m, m, REPEATED_TANGENT)
    return _pack(ns, diagonal(ns, m), ns.matmul(v, f * m))


# (w, V) stacked as one array (..., n + 1, n): the engine's vertices hold one array each.
_eigh = Primitive("linalg.eigh", _eigh_forward, (_eigh_vjp,), sum_of(_eigh_jvp), batch=leading_axes)


def _eigenvectors(ns: Any, a: Any, UPLO: str) -> Any:  # noqa: N803
    return _unpack(op(ns, "eigh")(a, UPLO=UPLO))[1]


def _eigvalsh_vjp(ns, g, out, a, UPLO):  # noqa: N803
    """A-bar = V diag(w-bar) V^T: no gap appears, so repeated eigenvalues are fine."""
    v = _eigenvectors(ns, a, UPLO)
    return ns.matmul(v * ns.expand_dims(g, -2), mT(ns, v))


def _eigvalsh_jvp(ns, t, out, a, UPLO):  # noqa: N803
    """dw_i = v_i^T dA v_i."""
    v = _eigenvectors(ns, a, UPLO)
    return ns.sum(v * ns.matmul(t, v), axis=-2)


_eigvalsh = Primitive(
    "linalg.eigvalsh",
    lambda xp, a, UPLO: xp.linalg.eigvalsh(a, UPLO=UPLO),
    (_eigvalsh_vjp,),
    sum_of(_eigvalsh_jvp),
    batch=leading_axes,
)


class EighResult(NamedTuple):
    eigenvalues: Tensor
    eigenvectors: Tensor


def _uplo(name: str, UPLO: str) -> str:  # noqa: N803
    if UPLO not in ("L", "U"):
        raise ValueError(f"linalg.{name}: UPLO must be 'L' or 'U', got {UPLO!r}")
    return UPLO


def eigh(a: Any, UPLO: str = "L") -> EighResult:  # noqa: N803
    """Eigenvalues (ascending) and eigenvectors (columns) of symmetric matrices, as NumPy;
    see the module docstring for the derivative and for repeated eigenvalues."""
    out = _eigh(matrices("eigh", a), UPLO=_uplo("eigh", UPLO))
    w, v = _unpack(out)
    return EighResult(w, v)


def eigvalsh(a: Any, UPLO: str = "L") -> Tensor:  # noqa: N803
    """Eigenvalues (ascending) of symmetric matrices; A-bar = V diag(w-bar) V^T, defined at
    repeated eigenvalues too (the gradient of sum(w) is I, of the largest v v^T)."""
    return _eigvalsh(matrices("eigvalsh", a), UPLO=_uplo("eigvalsh", UPLO))
