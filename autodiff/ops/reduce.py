"""Reductions over axes.

The public wrappers (in :mod:`autodiff.ops.composite`) turn ``axis`` into a tuple of *negative* axes, so that
every rule below also works when cotangents and tangents carry extra leading (batch) axes.
"""

from __future__ import annotations

import math

from autodiff.backend import on_host, reduce_along
from autodiff.graph import Primitive, sum_of
from autodiff.ops.batching import leading_axes, unbatched_output


def lead(a, ndim: int) -> tuple:
    """The leading (batch) axes of ``a`` beyond the last ``ndim`` ones."""
    return tuple(a.shape[: a.ndim - ndim])


def keep(ns, y, axis, keepdims):
    """``y`` with the reduced axes present as size-1 axes."""
    return y if keepdims else ns.expand_dims(y, axis)


def expand(ns, g, out, x, axis, keepdims):
    """Adjoint of ``sum(x, axis)``: g with the reduced axes restored, broadcast to x's shape."""
    return ns.broadcast_to(keep(ns, g, axis, keepdims), lead(g, out.ndim) + tuple(x.shape))


def reduction(name: str, weight=None, forward=None) -> Primitive:
    """A reduction over ``axis`` (NumPy's function ``name`` unless ``forward`` is given) with derivative
    ``weight(ns, out, x, axis, keepdims) = d out / d x`` entrywise: VJP ``expand(g) * weight``, JVP
    ``sum(t * weight)``; without ``weight``, no derivative (indices, booleans)."""

    def numpy_reduction(xp, x, axis, keepdims):
        return reduce_along(xp, name, x, axis, keepdims)

    def vjp(ns, g, out, x, axis, keepdims):
        return expand(ns, g, out, x, axis, keepdims) * weight(ns, out, x, axis, keepdims)

    def jvp(ns, t, out, x, axis, keepdims):
        return ns.sum(t * weight(ns, out, x, axis, keepdims), axis=axis, keepdims=keepdims)

    if weight is None:
        return Primitive(name, forward or numpy_reduction, batch=leading_axes, differentiable=False)
    return Primitive(name, forward or numpy_reduction, (vjp,), sum_of(jvp), batch=leading_axes)


sum = Primitive(
    "sum",
    lambda xp, x, axis, keepdims: reduce_along(xp, "sum", x, axis, keepdims),
    (expand,),
    sum_of(lambda ns, t, out, x, axis, keepdims: ns.sum(t, axis=axis, keepdims=keepdims)),
    batch=leading_axes,
)


def _argmax_share(ns, out, x, axis, keepdims):
    """Weights splitting the derivative of max evenly among tied maximal entries."""
    hit = x == keep(ns, out, axis, keepdims)
    return hit / ns.sum(hit, axis=axis, keepdims=True)


max = reduction("max", _argmax_share)


def _logsumexp_forward(xp, x, axis, keepdims):
    shift = reduce_along(xp, "max", x, axis, True)
    shift = xp.where(xp.isfinite(shift), shift, 0)
    out = xp.log(reduce_along(xp, "sum", xp.exp(x - shift), axis, True)) + shift
    return out if keepdims else xp.squeeze(out, axis=axis)


def _softmax_forward(xp, x, axis):
    """exp(x - max) / sum(exp(x - max)) over ``axis``: zero (not NaN) when every entry is -inf, and
    where some entries are +inf, 1/k on each of those k entries and 0 on the finite ones (the limit).
    On NumPy, rows of finite maxima (one host check) skip the pass that handles the others."""
    shift = reduce_along(xp, "max", x, axis, True)
    infinite = xp.isinf(shift)
    e = xp.exp(x - xp.where(infinite, 0, shift))  # +inf exactly at the +inf entries of +inf rows
    total = reduce_along(xp, "sum", e, axis, True)
    if on_host(xp) and not infinite.any():
        return e / total
    top = x == math.inf
    k = xp.sum(top, axis=axis, keepdims=True)
    return xp.where(infinite, top / xp.where(k == 0, 1, k), e / xp.where(infinite, 1, total))


def _softmax_vjp(ns, g, out, x, axis):
    """s (g - <g, s>): the Jacobian diag(s) - s s^T of softmax is symmetric, so VJP = JVP."""
    return out * (g - ns.sum(g * out, axis=axis, keepdims=True))


# softmax(x) = d logsumexp(x) / dx: one primitive, so that the derivative of logsumexp is one
# recorded operation (not the dozen of its inf-safe formula) when a backward pass is recorded.
softmax = Primitive("softmax", _softmax_forward, (_softmax_vjp,), sum_of(_softmax_vjp), batch=leading_axes)
logsumexp = reduction(
    "logsumexp", lambda ns, out, x, axis, keepdims: ns.softmax(x, axis=axis), _logsumexp_forward
)


def _unit(ns, out, x, axis, keepdims):
    """d norm(x) / dx = x / norm(x), with norm'(0) = 0: zero norms are replaced by ones."""
    n = keep(ns, out, axis, keepdims)
    return x / ns.where(n == 0, 1, n)


norm = reduction(
    "norm", _unit, lambda xp, x, axis, keepdims: xp.sqrt(xp.sum(x * x, axis=axis, keepdims=keepdims))
)


def _prod_of_others(ns, out, x, axis, keepdims):
    """d prod(x) / d x_i = prod_{j != i} x_j along the last axis, exact with zeros: the product
    over j of M[..., i, j] = x_j (i != j), 1 (i = j)."""
    n = x.shape[-1]
    return ns.prod(ns.where(ns.eye_like(x, n=n), 1, ns.expand_dims(x, -2)), axis=-1)


# The product along the last axis (the public ``prod`` moves the reduced axes there first).
prod = reduction("prod", _prod_of_others)
eye_like = Primitive(
    "eye_like", lambda xp, ref, n: xp.eye(n, dtype=bool), batch=unbatched_output, differentiable=False
)


argmax, argmin, any, all = (reduction(name) for name in ("argmax", "argmin", "any", "all"))
