"""Elementwise primitives.

The Jacobian of an elementwise map is diagonal, so ``(df/dx)^T g`` and ``(df/dx) t`` are the
same formula ``f'(x) * g``: each rule below serves as VJP and JVP alike (the engine sums
cotangents over broadcast axes and pads tangents with unit axes).  Conventions at kinks:
relu'(0) = 0, |x|'(0) = 0, maximum/minimum as in ``_extremum``.
"""

from __future__ import annotations

import math
import operator

from autodiff.graph import Primitive, sum_of
from autodiff.ops.batching import broadcasting, leading_axes


def elementwise(name, forward, *partials, differentiable=True) -> Primitive:
    """A broadcasting elementwise primitive whose i-th rule is ``g * df/dx_i`` (VJP and JVP alike)."""
    jvp = sum_of(*partials) if differentiable else None
    return Primitive(
        name, forward, partials, jvp, batch=broadcasting, broadcasts=True, differentiable=differentiable
    )


# ------------------------------------------------------------------------- unary
negative = elementwise("negative", lambda xp, x: -x, lambda ns, g, out, x: -g)
exp = elementwise("exp", lambda xp, x: xp.exp(x), lambda ns, g, out, x: g * out)
log = elementwise("log", lambda xp, x: xp.log(x), lambda ns, g, out, x: g / x)
log1p = elementwise("log1p", lambda xp, x: xp.log1p(x), lambda ns, g, out, x: g / (1 + x))
expm1 = elementwise("expm1", lambda xp, x: xp.expm1(x), lambda ns, g, out, x: g * (out + 1))
sqrt = elementwise("sqrt", lambda xp, x: xp.sqrt(x), lambda ns, g, out, x: g / (2 * out))
sin = elementwise("sin", lambda xp, x: xp.sin(x), lambda ns, g, out, x: g * ns.cos(x))
cos = elementwise("cos", lambda xp, x: xp.cos(x), lambda ns, g, out, x: -g * ns.sin(x))
tan = elementwise("tan", lambda xp, x: xp.tan(x), lambda ns, g, out, x: g * (1 + out * out))
tanh = elementwise("tanh", lambda xp, x: xp.tanh(x), lambda ns, g, out, x: g * (1 - out * out))


def _sigmoid_forward(xp, x):
    """sigmoid(x) = 1 / (1 + e^-x) for x >= 0 and e^x / (1 + e^x) for x < 0, with e = e^-|x|: relative
    accuracy on both tails, where (1 + tanh(x/2)) / 2 cancels and 1 / (1 + e^-x) overflows."""
    e = xp.exp(-xp.abs(x))
    return xp.where(x >= 0, 1, e) / (1 + e)


# sigmoid'(x) = sigmoid(x) sigmoid(-x), accurate on both tails (1 - sigmoid(x) is not).
sigmoid = elementwise("sigmoid", _sigmoid_forward, lambda ns, g, out, x: g * out * ns.sigmoid(-x))
# softplus(x) = log(1 + e^x) = logaddexp(0, x), with softplus'(x) = sigmoid(x).
softplus = elementwise("softplus", lambda xp, x: xp.logaddexp(0, x), lambda ns, g, out, x: g * ns.sigmoid(x))
relu = elementwise("relu", lambda xp, x: xp.maximum(x, 0), lambda ns, g, out, x: g * (x > 0))
abs = elementwise("abs", lambda xp, x: xp.abs(x), lambda ns, g, out, x: g * ns.sign(x))
sign = elementwise("sign", lambda xp, x: xp.sign(x), differentiable=False)


# The gradient to x is 1 where clipping leaves x unchanged (inside, boundaries included), else 0.
clip = elementwise(
    "clip", lambda xp, x, lo, hi: xp.clip(x, lo, hi), lambda ns, g, out, x, lo, hi: g * (out == x)
)

# ------------------------------------------------------------------------- binary
add = elementwise("add", lambda xp, x, y: x + y, lambda ns, g, out, x, y: g, lambda ns, g, out, x, y: g)
subtract = elementwise(
    "subtract", lambda xp, x, y: x - y, lambda ns, g, out, x, y: g, lambda ns, g, out, x, y: -g
)
multiply = elementwise(
    "multiply", lambda xp, x, y: x * y, lambda ns, g, out, x, y: g * y, lambda ns, g, out, x, y: g * x
)
divide = elementwise(
    "divide", lambda xp, x, y: x / y, lambda ns, g, out, x, y: g / y, lambda ns, g, out, x, y: -g * out / y
)


def _log_base(ns, x):
    """log x for d(x^y)/dy = x^y log x, with log 0 taken as 0 (the limit of x^y log x, y > 0)."""
    if isinstance(x, int | float):
        return math.log(x) if x > 0 else (0.0 if x == 0 else math.nan)
    return ns.log(ns.where(x == 0, 1, x))


def _power_base_partial(ns, g, out, x, y):
    """d(x^y)/dx = y x^(y-1), taken as 0 where y = 0 (x^0 = 1 for every x, even x = 0, where
    y x^(y-1) would be 0 * inf); the exponent is made safe first, so no NaN appears in the
    derivative of this rule either (PyTorch's convention)."""
    if isinstance(y, int | float):
        return g * y * x ** (y - 1) if y != 0 else g * 0
    zero = y == 0
    return g * ns.where(zero, 0, y * x ** (ns.where(zero, 1, y) - 1))


power = elementwise(
    "power", lambda xp, x, y: x**y, _power_base_partial, lambda ns, g, out, x, y: g * out * _log_base(ns, x)
)


def _extremum(name: str, worse) -> Primitive:
    """maximum (``worse`` is <) or minimum (>).  Ties split the gradient evenly; where an argument is NaN
    (so is the result), each argument gets it whole, as in PyTorch: only a strictly worse one gets none."""
    return elementwise(
        name,
        lambda xp, x, y: getattr(xp, name)(x, y),
        lambda ns, g, out, x, y: g * (~worse(x, y) - 0.5 * (x == y)),
        lambda ns, g, out, x, y: g * (~worse(y, x) - 0.5 * (x == y)),
    )


maximum = _extremum("maximum", operator.lt)
minimum = _extremum("minimum", operator.gt)
where = elementwise(
    "where",
    lambda xp, c, x, y: xp.where(c, x, y),
    None,  # the condition has no derivative
    lambda ns, g, out, c, x, y: ns.where(c, g, 0),
    lambda ns, g, out, c, x, y: ns.where(c, 0, g),
)

# ------------------------------------------------------------------------- comparisons (no gradient)
less = elementwise("less", lambda xp, x, y: x < y, differentiable=False)
less_equal = elementwise("less_equal", lambda xp, x, y: x <= y, differentiable=False)
greater = elementwise("greater", lambda xp, x, y: x > y, differentiable=False)
greater_equal = elementwise("greater_equal", lambda xp, x, y: x >= y, differentiable=False)
equal = elementwise("equal", lambda xp, x, y: x == y, differentiable=False)
not_equal = elementwise("not_equal", lambda xp, x, y: x != y, differentiable=False)
logical_and = elementwise("logical_and", lambda xp, x, y: xp.logical_and(x, y), differentiable=False)
logical_or = elementwise("logical_or", lambda xp, x, y: xp.logical_or(x, y), differentiable=False)
logical_not = elementwise("logical_not", lambda xp, x: xp.logical_not(x), differentiable=False)
isfinite = elementwise("isfinite", lambda xp, x: xp.isfinite(x), differentiable=False)
isnan = elementwise("isnan", lambda xp, x: xp.isnan(x), differentiable=False)

# ------------------------------------------------------------------------- casts
cast = elementwise("cast", lambda xp, x, dtype: x.astype(dtype), differentiable=False)  # to int/bool
astype = Primitive(
    "astype",
    lambda xp, x, dtype: x.astype(dtype),
    (lambda ns, g, out, x, dtype: g.astype(x.dtype),),
    sum_of(lambda ns, t, out, x, dtype: t.astype(dtype)),
    batch=leading_axes,
)
