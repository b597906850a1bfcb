"""Primitives that move entries around: reshape, transpose, broadcast, index, scatter, join, pad.

All of them are linear, so each JVP is the operation applied to the tangent and each VJP its
adjoint: reshape back, the inverse permutation, a sum over broadcast axes, a scatter-add, a
slice.  Axes and indices refer to the *trailing* axes (negative axes, a leading ``...``), so the
rules also work when cotangents and tangents carry extra leading (batch) axes.
"""

from __future__ import annotations

from autodiff import backend
from autodiff.graph import Primitive, per_argument, sum_of
from autodiff.ops.batching import all_batched, leading_axes, permutation, prepend_to, target_shape
from autodiff.ops.reduce import lead
from autodiff.tensor import Tensor

reshape = Primitive(
    "reshape",
    lambda xp, x, shape: xp.reshape(x, shape),
    (lambda ns, g, out, x, shape: ns.reshape(g, lead(g, out.ndim) + tuple(x.shape)),),
    sum_of(lambda ns, t, out, x, shape: ns.reshape(t, lead(t, x.ndim) + shape)),
    batch=prepend_to("shape"),
)


def _batched(perm: tuple, nb: int) -> tuple:
    return tuple(range(nb)) + tuple(nb + a for a in perm)


def _inverse(perm: tuple) -> tuple:
    return tuple(sorted(range(len(perm)), key=perm.__getitem__))


transpose = Primitive(
    "transpose",
    lambda xp, x, axes: xp.transpose(x, axes),
    (lambda ns, g, out, x, axes: ns.transpose(g, _batched(_inverse(axes), g.ndim - len(axes))),),
    sum_of(lambda ns, t, out, x, axes: ns.transpose(t, _batched(axes, t.ndim - len(axes)))),
    batch=permutation,
)

# The identity, as a new vertex: transforms use it to watch an input without touching it.
alias = Primitive(
    "alias", lambda xp, x: x, (lambda ns, g, out, x: g,), sum_of(lambda ns, t, out, x: t), batch=leading_axes
)

# The engine sums the cotangent back over the broadcast axes (broadcasts=True).
broadcast_to = Primitive(
    "broadcast_to",
    lambda xp, x, shape: xp.broadcast_to(x, shape),
    (lambda ns, g, out, x, shape: g,),
    sum_of(lambda ns, t, out, x, shape: ns.broadcast_to(t, lead(t, len(shape)) + shape)),
    batch=target_shape,
    broadcasts=True,
)


# ------------------------------------------------------------------------- indexing
def _scatter_add_forward(xp, g, index, shape):
    """zeros(shape) with ``g`` added at ``index``, on the trailing axes (repeated indices accumulate)."""
    z = xp.zeros(shape, dtype=g.dtype)
    where = (Ellipsis,) + index
    if any(hasattr(i, "ndim") for i in index):
        xp.add.at(z, where, g)
    else:
        z[where] = g
    return z


getitem = Primitive(
    "getitem",
    lambda xp, x, index: x[(Ellipsis,) + index],
    (lambda ns, g, out, x, index: ns.scatter_add(g, index=index, shape=lead(g, out.ndim) + tuple(x.shape)),),
    sum_of(lambda ns, t, out, x, index: t[(Ellipsis,) + index]),
    batch=leading_axes,
)
scatter_add = Primitive(
    "scatter_add",
    _scatter_add_forward,
    (lambda ns, g, out, v, index, shape: g[(Ellipsis,) + index],),
    sum_of(lambda ns, t, out, v, index, shape: ns.scatter_add(t, index=index, shape=lead(t, v.ndim) + shape)),
    batch=prepend_to("shape"),
)


# ------------------------------------------------------------------------- joining and padding
def _concatenate_vjp(ns, g, out, *xs, axis, position):
    start = sum(x.shape[axis] for x in xs[:position])
    return g[(Ellipsis, slice(start, start + xs[position].shape[axis])) + (slice(None),) * (-axis - 1)]


def _concatenate_jvp(ns, tangents, out, *xs, axis):
    batch = next(lead(t, x.ndim) for t, x in zip(tangents, xs, strict=True) if t is not None)
    filled = [
        t if t is not None else ns.broadcast_to(ns.zeros_like(x), batch + tuple(x.shape))
        for t, x in zip(tangents, xs, strict=True)
    ]
    return ns.concatenate(filled, axis=axis)


concatenate = Primitive(
    "concatenate",
    lambda xp, *xs, axis: xp.concatenate(xs, axis=axis),
    per_argument(_concatenate_vjp),
    _concatenate_jvp,
    batch=all_batched,
)


def _unpad(ns, g, out, x, pad_width):
    inside = tuple(slice(before, before + n) for (before, _), n in zip(pad_width, x.shape, strict=True))
    return g[(Ellipsis,) + inside]


pad = Primitive(
    "pad",
    lambda xp, x, pad_width: xp.pad(x, ((0, 0),) * (x.ndim - len(pad_width)) + pad_width),
    (_unpad,),
    sum_of(lambda ns, t, out, x, pad_width: ns.pad(t, ((0, 0),) * (t.ndim - x.ndim) + pad_width)),
    batch=leading_axes,
)

cumsum = Primitive(
    "cumsum",
    lambda xp, x, axis: xp.cumsum(x, axis=axis),
    (lambda ns, g, out, x, axis: ns.flip(ns.cumsum(ns.flip(g, axis=axis), axis=axis), axis=axis),),
    sum_of(lambda ns, t, out, x, axis: ns.cumsum(t, axis=axis)),
    batch=leading_axes,
)


# ------------------------------------------------------------------------- devices
def _device(x) -> str:
    """The device of a tensor, or of a raw array (the rules see either)."""
    return x.device if isinstance(x, Tensor) else backend.device_of(x)


to_device = Primitive(
    "to_device",
    lambda xp, x, device: backend.to_device(x, device),
    (lambda ns, g, out, x, device: ns.to_device(g, device=_device(x)),),  # back where x was
    sum_of(lambda ns, t, out, x, device: ns.to_device(t, device=device)),
    batch=leading_axes,
)
