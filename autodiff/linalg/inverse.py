"""Inverses and determinants: ``inv``, ``solve``, ``det``, ``slogdet``, ``pinv``,
``matrix_power``, batched over leading axes as in NumPy.

Derivatives (Giles 2008, *An extended collection of matrix derivative results*):
d(A^-1) = -A^-1 dA A^-1;  X = A^-1 B:  dX = A^-1 (dB - dA X), B-bar = A^-T X-bar,
A-bar = -B-bar X^T;  d det A = det A tr(A^-1 dA);  d log|det A| = tr(A^-1 dA).
The pseudo-inverse follows Golub and Pereyra (1973), valid where the rank is locally constant.
At an exactly singular matrix the inverse-based rules raise :class:`LinAlgError` (the gradient
of ``det`` there, the adjugate, is not computed).
"""

from __future__ import annotations

import operator
from typing import Any, NamedTuple

from autodiff.creation import eye
from autodiff.graph import Primitive, sum_of
from autodiff.linalg._common import matrices, mT, op, raising
from autodiff.ops import arrange
from autodiff.ops.batching import broadcasting, leading_axes
from autodiff.tensor import Tensor

SINGULAR = "the matrix is singular"


def _expand2(ns: Any, x: Any) -> Any:
    return ns.expand_dims(ns.expand_dims(x, -1), -1)


def _inv_jvp(ns, t, out, a):
    return -ns.matmul(out, ns.matmul(t, out))


_inv = Primitive(
    "linalg.inv",
    raising("inv", lambda xp, a: xp.linalg.inv(a), SINGULAR),
    (lambda ns, g, out, a: -ns.matmul(mT(ns, out), ns.matmul(g, mT(ns, out))),),
    sum_of(_inv_jvp),
    batch=leading_axes,
)


def _solve_jvp(ns, tangents, out, a, b):
    ta, tb = tangents
    rhs = -ns.matmul(ta, out) if tb is None else (tb if ta is None else tb - ns.matmul(ta, out))
    return op(ns, "solve")(a, rhs)


def _solve_b(ns, g, out, a, b):
    return op(ns, "solve")(mT(ns, a), g)


# X = A^-1 B for stacks of matrices B (..., n, k): the public ``solve`` makes vectors columns.
_solve = Primitive(
    "linalg.solve",
    raising("solve", lambda xp, a, b: xp.linalg.solve(a, b), SINGULAR),
    (lambda ns, g, out, a, b: -ns.matmul(_solve_b(ns, g, out, a, b), mT(ns, out)), _solve_b),
    _solve_jvp,
    batch=broadcasting,
    broadcasts=True,
)


def _inv_transposed(ns: Any, a: Any) -> Any:
    """A^-T, the derivative of log|det A|."""
    return mT(ns, op(ns, "inv")(a))


def _logdet_jvp(ns: Any, t: Any, a: Any) -> Any:
    """tr(A^-1 dA) = <A^-T, dA>."""
    return ns.sum(_inv_transposed(ns, a) * t, axis=(-2, -1))


_det = Primitive(
    "linalg.det",
    lambda xp, a: xp.linalg.det(a),
    (lambda ns, g, out, a: _expand2(ns, g * out) * _inv_transposed(ns, a),),
    sum_of(lambda ns, t, out, a: out * _logdet_jvp(ns, t, a)),
    batch=leading_axes,
)


def _slogdet_forward(xp: Any, a: Any) -> Any:
    sign, logabsdet = xp.linalg.slogdet(a)
    return xp.stack([sign, logabsdet], axis=-1)


# (sign, log|det A|) stacked on a last axis of 2; the sign is piecewise constant.
_slogdet = Primitive(
    "linalg.slogdet",
    _slogdet_forward,
    (lambda ns, g, out, a: _expand2(ns, g[..., 1]) * _inv_transposed(ns, a),),
    sum_of(lambda ns, t, out, a: (lambda d: ns.stack([0 * d, d], axis=-1))(_logdet_jvp(ns, t, a))),
    batch=leading_axes,
)


def _pinv_jvp(ns, t, out, a, rcond):
    """d A+ = -A+ dA A+ + A+ A+^T dA^T (I - A A+) + (I - A+ A) dA^T A+^T A+ (Golub and Pereyra
    1973), the projectors written as differences."""
    p, tt = out, mT(ns, t)
    first = -ns.matmul(p, ns.matmul(t, p))
    pptt = ns.matmul(p, ns.matmul(mT(ns, p), tt))
    second = pptt - ns.matmul(pptt, ns.matmul(a, p))
    ttpp = ns.matmul(tt, ns.matmul(mT(ns, p), p))
    third = ttpp - ns.matmul(p, ns.matmul(a, ttpp))
    return first + second + third


def _pinv_vjp(ns, g, out, a, rcond):
    """The adjoint of :func:`_pinv_jvp`."""
    p, gt = out, mT(ns, g)
    first = -ns.matmul(mT(ns, p), ns.matmul(g, mT(ns, p)))
    gpp = ns.matmul(gt, ns.matmul(p, mT(ns, p)))
    second = gpp - ns.matmul(a, ns.matmul(p, gpp))
    ppg = ns.matmul(mT(ns, p), ns.matmul(p, gt))
    third = ppg - ns.matmul(ppg, ns.matmul(p, a))
    return first + second + third


_pinv = Primitive(
    "linalg.pinv",
    lambda xp, a, rcond: xp.linalg.pinv(a) if rcond is None else xp.linalg.pinv(a, rcond),
    (_pinv_vjp,),
    sum_of(_pinv_jvp),
    batch=leading_axes,
)


# ----------------------------------------------------------------------------- public functions
class SlogdetResult(NamedTuple):
    sign: Tensor
    logabsdet: Tensor


def inv(a: Any) -> Tensor:
    """A^-1 of each square matrix (d(A^-1) = -A^-1 dA A^-1); raises LinAlgError if singular."""
    return _inv(matrices("inv", a))


def solve(a: Any, b: Any) -> Tensor:
    """X with A X = B, NumPy's signature: ``b`` a vector (n,) or a stack of matrices
    (..., n, k) broadcast against ``a`` (..., n, n).  B-bar = A^-T X-bar, A-bar = -B-bar X^T."""
    a = matrices("solve", a)
    b = arrange.as_tensor(b, like=a)
    if b.ndim == 0 or b.shape[-1 if b.ndim == 1 else -2] != a.shape[-1]:
        raise ValueError(
            f"linalg.solve: b must be (n,) or (..., n, k) with n = {a.shape[-1]} (a is {tuple(a.shape)}); "
            f"got b of shape {tuple(b.shape)}"
        )
    if b.dtype != a.dtype:
        b = arrange.astype(b, a.dtype)
    if b.ndim == 1:
        return _solve(a, arrange.expand_dims(b, -1))[..., 0]
    return _solve(a, b)


def det(a: Any) -> Tensor:
    """det A of each square matrix; d det A = det A A^-T (raises LinAlgError for the gradient at
    a singular matrix)."""
    return _det(matrices("det", a))


def slogdet(a: Any) -> SlogdetResult:
    """(sign, log|det A|) as NumPy; d log|det A| = A^-T, the sign has derivative 0."""
    out = _slogdet(matrices("slogdet", a))
    return SlogdetResult(out[..., 0].detach(), out[..., 1])


def pinv(a: Any, rcond: float | None = None, hermitian: bool = False) -> Tensor:
    """The Moore-Penrose pseudo-inverse (singular values below rcond * max(s) count as zero;
    NumPy's default rcond when None).
    Its derivative (Golub and Pereyra 1973) holds where the rank does not change; ``hermitian``
    is accepted for NumPy's signature (the result is the same)."""
    return _pinv(matrices("pinv", a, square=False), rcond=None if rcond is None else float(rcond))


def matrix_power(a: Any, n: int) -> Tensor:
    """A^n for an integer n by repeated squaring (A^0 = I, A^-n = (A^-1)^n), a composition of
    products (and ``inv``)."""
    a = matrices("matrix_power", a)
    try:
        n = operator.index(n)
    except TypeError:
        raise TypeError(f"linalg.matrix_power: the exponent must be an integer, got {n!r}") from None
    if n == 0:
        identity = eye(a.shape[-1], dtype=a.dtype, device=a.device)
        return arrange.broadcast_to(identity, a.shape)
    if n < 0:
        a, n = inv(a), -n
    result = None
    while n:
        if n & 1:
            result = a if result is None else result @ a
        n >>= 1
        if n:
            a = a @ a
    return result


__all__ = ["SlogdetResult", "det", "inv", "matrix_power", "pinv", "slogdet", "solve"]
