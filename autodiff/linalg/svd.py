"""Singular value decomposition: ``svd`` (reduced and full, ``compute_uv``) and ``svdvals``.

A = U diag(s) V^T with k = min(m, n) singular values.  With M = U^T dA V, S = diag(s) and
F_ij = 1/(s_j^2 - s_i^2) (i != j), F_ii = 0 (Townsend 2016, *Differentiating the singular
value decomposition*; Seeger et al. 2017):

    ds = diag(M),   dU = U (F o (M S + S M^T)) + (I - U U^T) dA V S^-1,
                    dV = V (F o (S M + M^T S)) + (I - V V^T) dA^T U S^-1,

and A-bar is the adjoint of that map.  The projector terms appear only for non-square
matrices.  Where a derivative does not exist, the terms at fault are left out and a
:class:`LinAlgWarning` is given when the loss (or tangent) needs them: pairs of repeated
singular values coupled by the loss (not a gauge-invariant loss), and zero singular values of
a non-square matrix whose singular vectors the loss uses.  ``svdvals`` (the singular values
alone, ``compute_uv=False``) has its own rules, A-bar = U diag(s-bar) V^T, defined everywhere
the singular values are distinct from 0 or not.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from autodiff.graph import Primitive, sum_of
from autodiff.linalg._common import diag_embed, diagonal, gaps, matrices, mT, op, rounding, warn_if_coupled
from autodiff.ops import arrange
from autodiff.ops.batching import leading_axes
from autodiff.tensor import Tensor

REPEATED = (
    "linalg.svd: repeated singular values, and the loss depends on the choice of singular vectors "
    "in their subspace: that derivative does not exist; the terms of the repeated pairs are left out"
)
ZERO = (
    "linalg.svd: a zero singular value of a non-square matrix, and the loss depends on its singular "
    "vector: that derivative does not exist; its terms are left out"
)


def _svd_forward(xp: Any, a: Any) -> Any:
    u, s, vh = xp.linalg.svd(a, full_matrices=False)
    return xp.concatenate([u, s[..., None, :], xp.swapaxes(vh, -1, -2)], axis=-2)


def _unpack(x: Any, m: int) -> tuple[Any, Any, Any]:
    """(U, s, V) from the stacked output (..., m + 1 + n, k)."""
    return x[..., :m, :], x[..., m, :], x[..., m + 1 :, :]


def _inverse_singular(ns: Any, s: Any) -> tuple[Any, Any]:
    """1/s, with 0 (and the mask) where s <= k eps max(s)."""
    zero = s <= rounding(s) * ns.max(s, axis=-1, keepdims=True)
    return ns.where(zero, 0, 1 / ns.where(zero, 1, s)), zero


def _svd_jvp(ns, t, out, a):
    m, n = a.shape[-2], a.shape[-1]
    u, s, v = _unpack(out, m)
    tv = ns.matmul(t, v)
    mm = ns.matmul(mT(ns, u), tv)
    f, repeated = gaps(ns, s * s)
    ms = mm * ns.expand_dims(s, -2)  # M S
    sm = mm * ns.expand_dims(s, -1)  # S M
    warn_if_coupled(ns, repeated, ms + mT(ns, ms), mm * ns.max(s), REPEATED)
    du = ns.matmul(u, f * (ms + mT(ns, ms)))
    dv = ns.matmul(v, f * (sm + mT(ns, sm)))
    k = s.shape[-1]
    if m > k or n > k:
        inverse, zero = _inverse_singular(ns, s)
        if m > k:
            side = tv - ns.matmul(u, mm)  # (I - U U^T) dA V
            warn_if_coupled(ns, ns.expand_dims(zero, -2), side, tv, ZERO)
            du = du + side * ns.expand_dims(inverse, -2)
        if n > k:
            tu = ns.matmul(mT(ns, t), u)
            side = tu - ns.matmul(v, mT(ns, mm))  # (I - V V^T) dA^T U
            warn_if_coupled(ns, ns.expand_dims(zero, -2), side, tu, ZERO)
            dv = dv + side * ns.expand_dims(inverse, -2)
    return ns.concatenate([du, ns.expand_dims(diagonal(ns, mm), -2), dv], axis=-2)


def _svd_vjp(ns, g, out, a):
    m, n = a.shape[-2], a.shape[-1]
    u, s, v = _unpack(out, m)
    gu, gs, gv = _unpack(g, m)
    x, y = ns.matmul(mT(ns, u), gu), ns.matmul(mT(ns, v), gv)
    f, repeated = gaps(ns, s * s)
    j, kk = f * x, f * y
    warn_if_coupled(ns, repeated, x - mT(ns, x) + y - mT(ns, y), x + y, REPEATED)
    sv = ns.expand_dims(s, -2)
    inner = (j + mT(ns, j)) * sv + diag_embed(ns, gs) + ns.expand_dims(s, -1) * (kk + mT(ns, kk))
    grad = ns.matmul(u, ns.matmul(inner, mT(ns, v)))
    k = s.shape[-1]
    if m > k or n > k:
        inverse, zero = _inverse_singular(ns, s)
        if m > k:
            side = gu - ns.matmul(u, x)  # (I - U U^T) U-bar
            warn_if_coupled(ns, ns.expand_dims(zero, -2), side, gu, ZERO)
            grad = grad + ns.matmul(side * ns.expand_dims(inverse, -2), mT(ns, v))
        if n > k:
            side = gv - ns.matmul(v, y)  # (I - V V^T) V-bar
            warn_if_coupled(ns, ns.expand_dims(zero, -2), side, gv, ZERO)
            grad = grad + ns.matmul(u * ns.expand_dims(inverse, -2), mT(ns, side))
    return grad


# (U, s, V) stacked as one array (..., m + 1 + n, k): the engine's vertices hold one array each.
_svd = Primitive("linalg.svd", _svd_forward, (_svd_vjp,), sum_of(_svd_jvp), batch=leading_axes)


def _vectors(ns: Any, a: Any) -> tuple[Any, Any]:
    u, _, v = _unpack(op(ns, "svd")(a), a.shape[-2])
    return u, v


def _svdvals_vjp(ns, g, out, a):
    u, v = _vectors(ns, a)
    return ns.matmul(u * ns.expand_dims(g, -2), mT(ns, v))


def _svdvals_jvp(ns, t, out, a):
    """ds_i = u_i^T dA v_i."""
    u, v = _vectors(ns, a)
    return ns.sum(u * ns.matmul(t, v), axis=-2)


_svdvals = Primitive(
    "linalg.svdvals",
    lambda xp, a: xp.linalg.svd(a, compute_uv=False),
    (_svdvals_vjp,),
    sum_of(_svdvals_jvp),
    batch=leading_axes,
)

# An orthonormal basis of the complement of the columns of Q (orthonormal): the extra columns
# of a full SVD or a complete QR.  Such a basis is not unique, so it carries no derivative.
complement = Primitive(
    "linalg.complement",
    lambda xp, q: xp.linalg.qr(q, mode="complete")[0][..., q.shape[-1] :],
    batch=leading_axes,
    differentiable=False,
)


class SVDResult(NamedTuple):
    U: Tensor  # noqa: N815  (NumPy's field names)
    S: Tensor  # noqa: N815
    Vh: Tensor  # noqa: N815


def svdvals(a: Any) -> Tensor:
    """The singular values (descending) of each matrix; A-bar = U diag(s-bar) V^T."""
    return _svdvals(matrices("svdvals", a, square=False))


def svd(a: Any, full_matrices: bool = True, compute_uv: bool = True, hermitian: bool = False) -> Any:
    """NumPy's ``svd``: (U, S, Vh) with A = U diag(S) Vh, or S alone when not ``compute_uv``.
    With ``full_matrices`` the extra columns of U (rows of Vh) complete an orthonormal basis;
    they are not unique, so they carry no derivative (PyTorch's convention) and may differ from
    NumPy's choice.  ``hermitian`` is accepted for NumPy's signature (same result up to signs)."""
    a = matrices("svd", a, square=False)
    if not compute_uv:
        return svdvals(a)
    u, s, v = _unpack(_svd(a), a.shape[-2])
    if full_matrices:
        k = s.shape[-1]
        if a.shape[-2] > k:
            u = arrange.concatenate([u, complement(u)], axis=-1)
        if a.shape[-1] > k:
            v = arrange.concatenate([v, complement(v)], axis=-1)
    return SVDResult(u, s, arrange.swapaxes(v, -1, -2))
