"""NumPy's further elementwise functions: inverse trigonometric and hyperbolic functions, logs and
exponentials in bases 2 and 10, ``square``/``reciprocal``, ``hypot``, ``arctan2``,
``logaddexp``/``logaddexp2``, ``remainder``; the rounding functions (no derivative); and the
composites NumPy users reach for (``deg2rad``, ``fmax``, ``nan_to_num``, the real-valued
``real``/``imag``/``conj``/``angle``).

Each primitive is declared by its partial derivatives, as in :mod:`autodiff.ops.elementwise`:
``d arcsin(x) = 1 / sqrt(1 - x^2)``, ``d arccosh(x) = 1 / sqrt(x^2 - 1)``,
``d arctanh(x) = 1 / (1 - x^2)``, ``d log_b(x) = 1 / (x ln b)``, ``d 2^x = 2^x ln 2``,
``d hypot(x, y) / dx = x / hypot(x, y)``, ``d arctan2(y, x) = (x, -y) / (x^2 + y^2)``,
``d logaddexp(x, y) / dx = e^(x - out)``, ``d remainder(x, y) = (1, -floor(x / y))``.
The rounding functions are piecewise constant: their results carry no gradient (NumPy/HIPS
autograd's convention; the derivative is 0 wherever it exists).  Complex numbers are not
supported: ``real``, ``conj`` are the identity on real tensors, ``imag`` is 0, ``angle`` is 0 or pi.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np  # constants only

from autodiff import backend
from autodiff.creation import zeros_like
from autodiff.ops import elementwise as ew
from autodiff.ops.arrange import as_tensor
from autodiff.ops.elementwise import elementwise
from autodiff.tensor import Tensor

__all__ = [
    *("arcsin arccos arctan sinh cosh arcsinh arccosh arctanh log2 log10 exp2 square reciprocal".split()),
    "sinc",
    *("arctan2 hypot logaddexp logaddexp2 remainder mod floor ceil trunc fix rint round around".split()),
    *("deg2rad rad2deg radians degrees fmax fmin nan_to_num real conj conjugate real_if_close".split()),
    "imag",
    "angle",
]
LN2, LN10 = math.log(2.0), math.log(10.0)


def _unary(name: str, partial: Any) -> Any:
    return elementwise(name, lambda xp, x: getattr(xp, name)(x), partial)


# ------------------------------------------------------------------------- unary
arcsin = _unary("arcsin", lambda ns, g, out, x: g / ns.sqrt(1 - x * x))
arccos = _unary("arccos", lambda ns, g, out, x: -g / ns.sqrt(1 - x * x))
arctan = _unary("arctan", lambda ns, g, out, x: g / (1 + x * x))
sinh = _unary("sinh", lambda ns, g, out, x: g * ns.cosh(x))
cosh = _unary("cosh", lambda ns, g, out, x: g * ns.sinh(x))
arcsinh = _unary("arcsinh", lambda ns, g, out, x: g / ns.sqrt(x * x + 1))
arccosh = _unary("arccosh", lambda ns, g, out, x: g / ns.sqrt(x * x - 1))
arctanh = _unary("arctanh", lambda ns, g, out, x: g / (1 - x * x))
log2 = _unary("log2", lambda ns, g, out, x: g / (x * LN2))
log10 = _unary("log10", lambda ns, g, out, x: g / (x * LN10))
exp2 = _unary("exp2", lambda ns, g, out, x: g * out * LN2)
square = _unary("square", lambda ns, g, out, x: g * 2 * x)
reciprocal = _unary("reciprocal", lambda ns, g, out, x: -g * out * out)

# ------------------------------------------------------------------------- binary
arctan2 = elementwise(
    "arctan2",
    lambda xp, y, x: xp.arctan2(y, x),
    lambda ns, g, out, y, x: g * x / (x * x + y * y),
    lambda ns, g, out, y, x: -g * y / (x * x + y * y),
)
hypot = elementwise(
    "hypot",
    lambda xp, x, y: xp.hypot(x, y),
    lambda ns, g, out, x, y: g * x / out,
    lambda ns, g, out, x, y: g * y / out,
)
logaddexp = elementwise(
    "logaddexp",
    lambda xp, x, y: xp.logaddexp(x, y),
    lambda ns, g, out, x, y: g * ns.exp(x - out),
    lambda ns, g, out, x, y: g * ns.exp(y - out),
)
logaddexp2 = elementwise(
    "logaddexp2",
    lambda xp, x, y: xp.logaddexp2(x, y),
    lambda ns, g, out, x, y: g * ns.exp2(x - out),
    lambda ns, g, out, x, y: g * ns.exp2(y - out),
)
# x - y floor(x / y), the sign of the divisor (Python's %); the jumps where x / y is an integer
# are where the derivative does not exist.
remainder = elementwise(
    "remainder",
    lambda xp, x, y: xp.remainder(x, y),
    lambda ns, g, out, x, y: g,
    lambda ns, g, out, x, y: -g * ns.floor(x / y),
)
mod = remainder


# ------------------------------------------------------------------------- sinc
def _sinc_derivative_forward(xp, x, order):
    """The ``order``-th derivative of sinc(x) = sin(pi x) / (pi x): for |x| < 1 the series
    sum_n (-1)^n pi^2n x^(2n-k) (2n)! / ((2n-k)! (2n+1)!), exact at 0; beyond, Leibniz's rule on
    sin(pi x) (pi x)^-1: sum_j C(k, j) pi^j sin(pi x + j pi / 2) (-1)^(k-j) (k-j)! / (pi x^(k-j+1))."""
    near = xp.abs(x) < 1
    small, large = xp.where(near, x, 0.0), xp.where(near, 1.0, x)
    series = 0.0 * x
    for n in range((order + 1) // 2, (order + 1) // 2 + 30):
        c = (-1) ** n * math.pi ** (2 * n) * math.factorial(2 * n)
        c /= math.factorial(2 * n - order) * math.factorial(2 * n + 1)
        series = series + c * small ** (2 * n - order)
    leibniz = 0.0 * x
    for j in range(order + 1):
        c = math.comb(order, j) * math.pi ** (j - 1) * (-1) ** (order - j) * math.factorial(order - j)
        leibniz = leibniz + c * xp.sin(math.pi * large + j * math.pi / 2) / large ** (order - j + 1)
    return xp.where(near, series, leibniz)


# Each derivative of sinc is the next one: exact at x = 0 to every order (sin(pi x) / (pi x)
# composed of primitives would divide 0 by 0 there).
sinc_derivative = elementwise(
    "sinc_derivative",
    _sinc_derivative_forward,
    lambda ns, g, out, x, order: g * ns.sinc_derivative(x, order=order + 1),
)


def sinc(x: Any) -> Tensor:
    """sin(pi x) / (pi x), 1 at 0 (NumPy's normalised sinc); differentiable to any order, at 0 too."""
    return sinc_derivative(as_tensor(x), order=0)


# ------------------------------------------------------------------------- rounding (no gradient)
floor = elementwise("floor", lambda xp, x: xp.floor(x), differentiable=False)
ceil = elementwise("ceil", lambda xp, x: xp.ceil(x), differentiable=False)
trunc = elementwise("trunc", lambda xp, x: xp.trunc(x), differentiable=False)
rint = elementwise("rint", lambda xp, x: xp.rint(x), differentiable=False)
_round = elementwise("round", lambda xp, x, decimals: xp.round(x, decimals), differentiable=False)
fix = trunc


def round(x: Any, decimals: int = 0) -> Tensor:  # noqa: A001  (NumPy's name)
    """NumPy's round (half to even) to ``decimals`` places; the result carries no gradient."""
    return _round(as_tensor(x), decimals=int(decimals))


around = round


# ------------------------------------------------------------------------- composites
def deg2rad(x: Any) -> Tensor:
    """x pi / 180."""
    return as_tensor(x) * (math.pi / 180)


def rad2deg(x: Any) -> Tensor:
    """x 180 / pi."""
    return as_tensor(x) * (180 / math.pi)


radians, degrees = deg2rad, rad2deg


def fmax(x: Any, y: Any) -> Tensor:
    """The larger of x and y, ignoring a NaN (the other argument, and its gradient, is taken)."""
    x, y = as_tensor(x), as_tensor(y)
    return ew.where(ew.isnan(y), x, ew.where(ew.isnan(x), y, ew.maximum(x, y)))


def fmin(x: Any, y: Any) -> Tensor:
    """The smaller of x and y, ignoring a NaN."""
    x, y = as_tensor(x), as_tensor(y)
    return ew.where(ew.isnan(y), x, ew.where(ew.isnan(x), y, ew.minimum(x, y)))


def nan_to_num(x: Any, nan: float = 0.0, posinf: float | None = None, neginf: float | None = None) -> Tensor:
    """NaN to ``nan``, +-inf to ``posinf``/``neginf`` (the largest finite numbers of x's dtype by
    default); the gradient passes through the finite entries and is 0 at the replaced ones."""
    x = as_tensor(x)
    if not backend.is_floating(x.dtype):
        return x
    big = float(np.finfo(x.dtype).max)
    x = ew.where(ew.isnan(x), nan, x)
    x = ew.where(x == math.inf, big if posinf is None else posinf, x)
    return ew.where(x == -math.inf, -big if neginf is None else neginf, x)


def real(x: Any) -> Tensor:
    """The real part: x itself (complex tensors are not supported)."""
    return as_tensor(x)


conj = conjugate = real_if_close = real


def imag(x: Any) -> Tensor:
    """The imaginary part of a real tensor: zeros (no gradient)."""
    return zeros_like(as_tensor(x))


def angle(x: Any) -> Tensor:
    """The argument of a real number: 0 for x >= 0, pi for x < 0 (piecewise constant, no gradient)."""
    x = as_tensor(x)
    return ew.where(x < 0, math.pi, zeros_like(x))
