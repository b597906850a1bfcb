"""Triangular factorisations: ``cholesky`` and ``qr``, batched over leading axes.

Cholesky, A = L L^T (Murray 2016, *Differentiation of the Cholesky decomposition*), with
Phi(X) the lower triangle of X with its diagonal halved:

    dL = L Phi(L^-1 dA L^-T),    A-bar = sym(L^-T Phi(L^T L-bar) L^-1),

derivatives taken along symmetric perturbations (gradients symmetric, as in PyTorch).

QR of a matrix with m >= n, A = Q R (Walter, Lehmann and Lamour 2012; Seeger et al. 2017;
the formulation of PyTorch and JAX), with X = dA R^-1, C = Q^T X and Omega = low(C) - low(C)^T
(low: the strictly lower triangle):

    dQ = Q (Omega - C) + X,   dR = (C - Omega) R,
    A-bar = (Q-bar + Q copyltu(M)) R^-T,   M = R R-bar^T - Q-bar^T Q,

copyltu(M) the symmetric matrix with M's lower triangle.  A wide matrix (m < n) splits as
A = [X Y] with X square: Q R_1 = X, R = [R_1, Q^T Y], a composition.  A rank-deficient A has no
QR derivative: R^-1 then raises :class:`LinAlgError`.  The extra columns of Q in ``complete``
mode (m > n) are an arbitrary basis of the complement and carry no derivative (as in ``svd``).
"""

from __future__ import annotations

from typing import Any, NamedTuple

from autodiff.creation import zeros
from autodiff.graph import Primitive, sum_of
from autodiff.linalg._common import matrices, mT, op, raising, solve_right, sym
from autodiff.linalg.svd import complement
from autodiff.ops import arrange
from autodiff.ops.batching import leading_axes
from autodiff.tensor import Tensor


def _lower(ns: Any, x: Any, k: int = -1) -> Any:
    """The entries of x on and below its k-th diagonal, zeros elsewhere."""
    return ns.where(op(ns, "tri")(x, n=x.shape[-1], k=k), x, 0)


def _phi(ns: Any, x: Any) -> Any:
    """The lower triangle of x, its diagonal halved."""
    return _lower(ns, x) + 0.5 * (_lower(ns, x, 0) - _lower(ns, x))


def _cholesky_jvp(ns, t, out, a):
    inner = op(ns, "solve")(out, solve_right(ns, sym(ns, t), mT(ns, out)))  # L^-1 S L^-T
    return ns.matmul(out, _phi(ns, inner))


def _cholesky_vjp(ns, g, out, a):
    inner = solve_right(ns, _phi(ns, ns.matmul(mT(ns, out), g)), out)  # Phi(L^T L-bar) L^-1
    return sym(ns, op(ns, "solve")(mT(ns, out), inner))


_cholesky = Primitive(
    "linalg.cholesky",
    raising("cholesky", lambda xp, a: xp.linalg.cholesky(a), "the matrix is not positive definite"),
    (_cholesky_vjp,),
    sum_of(_cholesky_jvp),
    batch=leading_axes,
)


def _qr_forward(xp: Any, a: Any) -> Any:
    q, r = xp.linalg.qr(a)
    return xp.concatenate([xp.swapaxes(q, -1, -2), r], axis=-1)


def _unpack(x: Any, m: int) -> tuple[Any, Any]:
    """(Q^T, R) from the stacked output (..., n, m + n)."""
    return x[..., :m], x[..., m:]


def _qr_jvp(ns, t, out, a):
    qt, r = _unpack(out, a.shape[-2])
    x = solve_right(ns, t, r)
    c = ns.matmul(qt, x)
    low = _lower(ns, c)
    omega = low - mT(ns, low)
    dq = ns.matmul(mT(ns, qt), omega - c) + x
    return ns.concatenate([mT(ns, dq), ns.matmul(c - omega, r)], axis=-1)


def _qr_vjp(ns, g, out, a):
    qt, r = _unpack(out, a.shape[-2])
    gqt, gr = _unpack(g, a.shape[-2])
    m = ns.matmul(r, mT(ns, gr)) - ns.matmul(gqt, mT(ns, qt))
    low = _lower(ns, m)
    copyltu = low + mT(ns, low) + (_lower(ns, m, 0) - low)
    return solve_right(ns, mT(ns, gqt) + ns.matmul(mT(ns, qt), copyltu), mT(ns, r))


# Reduced QR of matrices with m >= n, (Q^T, R) stacked as one array (..., n, m + n).
_qr = Primitive("linalg.qr", _qr_forward, (_qr_vjp,), sum_of(_qr_jvp), batch=leading_axes)


class QRResult(NamedTuple):
    Q: Tensor  # noqa: N815  (NumPy's field names)
    R: Tensor  # noqa: N815


def cholesky(a: Any, upper: bool = False) -> Tensor:
    """L (lower, or L^T when ``upper``) with A = L L^T for symmetric positive-definite A (the
    lower triangle is read); raises LinAlgError if A is not positive definite."""
    lower = _cholesky(matrices("cholesky", a))
    return arrange.swapaxes(lower, -1, -2) if upper else lower


def qr(a: Any, mode: str = "reduced") -> Any:
    """NumPy's ``qr`` in modes 'reduced' (Q (m, k), R (k, n)), 'complete' (Q (m, m), R (m, n))
    and 'r' (R alone), k = min(m, n); see the module docstring for the derivative."""
    if mode not in ("reduced", "complete", "r"):
        raise ValueError(f"linalg.qr: mode must be 'reduced', 'complete' or 'r', got {mode!r}")
    a = matrices("qr", a, square=False)
    m, n = a.shape[-2], a.shape[-1]
    square = a if m >= n else a[..., :m]
    qt, r = _unpack(_qr(square), m)
    q = arrange.swapaxes(qt, -1, -2)
    if m < n:
        r = arrange.concatenate([r, qt @ a[..., m:]], axis=-1)
    elif mode == "complete" and m > n:
        q = arrange.concatenate([q, complement(q)], axis=-1)
        r = arrange.concatenate([r, zeros(*a.shape[:-2], m - n, n, dtype=a.dtype, device=a.device)], axis=-2)
    return r if mode == "r" else QRResult(q, r)
