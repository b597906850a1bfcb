"""Forward mode: tangents carried alongside values (dual numbers), batched and nested.

While a *level* is open (one ``jvp``), a tensor may carry a tangent for it in ``tangents[level]``;
every operation then also computes its output's tangent by its primitive's JVP rule,
``t_out = sum_i (d f / d x_i) t_i``.  A tangent may carry leading batch axes (the level's ``batch``
shape): a block of directions at once, as ``jacfwd`` and forward-over-reverse Hessians use.

Levels nest (``jvp`` of ``jvp``, ``jacfwd`` of ``jacfwd``): level numbers grow inwards, and the
rules of level L run with levels >= L hidden and with tensor operations, so the tangent of an
inner level carries tangents of the outer ones (no perturbation confusion).  When nothing but
level L is in play, rules run on raw arrays, as fast as the primal computation.
"""

from __future__ import annotations

import contextlib
from typing import Any

from autodiff import backend, ops
from autodiff.graph import Primitive, interpreters, raw_namespace
from autodiff.ops.batching import pad_axes
from autodiff.ops.shape import alias
from autodiff.state import flags, open_level
from autodiff.tensor import Tensor
from autodiff.vmap import Unbatched, per_example, unwrap, wrap


def level(batch: tuple[int, ...] = ()) -> contextlib.AbstractContextManager[int]:
    """Open a forward-mode level whose tangents carry leading axes ``batch``; gives its number."""
    if batch and flags.vmap_levels:
        raise Unbatched("forward mode with a batch of tangents (jacfwd, hessian) inside vmap")
    return open_level("tangent_batches", "forward_levels", tuple(batch))


def attach(x: Tensor, number: int, tangent: Tensor) -> Tensor:
    """A view of ``x`` (same graph vertex for reverse mode) carrying ``tangent`` at a level."""
    expected = flags.tangent_batches[number] + x.shape
    if tangent.shape != expected:
        raise ValueError(
            f"jvp: tangent of shape {tangent.shape} for a primal of shape {x.shape} (expected {expected})"
        )
    tangent = tangent.astype(x.dtype)  # the tangent itself when the dtypes agree
    if flags.vmap_levels and any(isinstance(t, interpreters.batched_type) for t in (x, tangent)):
        # the tangents live on the physical values
        (x, levels), (tangent, _) = unwrap(per_example(x)), unwrap(per_example(tangent))
        return wrap(attach(x, number, tangent), levels)
    dual = alias(x)
    dual.tangents = {**(dual.tangents or {}), number: tangent}
    return dual


def tangent_of(y: Tensor, number: int) -> Tensor:
    """The tangent of ``y`` at a level (zeros if y does not depend on the level's inputs)."""
    if isinstance(y, interpreters.batched_type):
        physical, levels = unwrap(y)
        return wrap(tangent_of(physical, number), levels)
    found = (y.tangents or {}).get(number)
    if found is not None:
        return found
    return Tensor(backend.array_module(y.data).zeros(flags.tangent_batches[number] + y.shape, dtype=y.dtype))


def _output_tangent(
    prim: Primitive, ns: Any, tangents: list, out: Any, args: Any, params: dict, batch: tuple
) -> Any:
    if prim.broadcasts:
        tangents = [
            None if t is None else pad_axes(ns, t, t.ndim - a.ndim, out.ndim)
            for t, a in zip(tangents, args, strict=True)
        ]
    result = prim.jvp(ns, tangents, out, *args, **params)
    target = batch + tuple(out.shape)
    if tuple(result.shape) != target:
        result = ns.broadcast_to(result, target)
    if result.dtype != out.dtype:
        result = result.astype(out.dtype)
    return result


def propagate(prim: Primitive, out: Tensor, args: tuple, params: dict) -> None:
    """Give ``out`` its tangent at every open level its arguments carry (called by ``Primitive.__call__``)."""
    if not prim.differentiable:
        return
    ceiling = flags.ceiling
    carried = [a.tangents if isinstance(a, Tensor) and a.tangents else {} for a in args]
    for number in sorted({n for c in carried for n in c if n in flags.tangent_batches and n < ceiling}):
        tangents = [c.get(number) for c in carried]
        batch = flags.tangent_batches[number]
        nested = any(n < number for n in flags.tangent_batches)
        recorded = flags.grad_enabled and any(
            isinstance(a, Tensor) and a.requires_grad for a in (*args, *tangents)
        )
        flags.ceiling = number
        try:
            if nested or recorded:
                result = _output_tangent(prim, ops, tangents, out, args, params, batch)
            else:
                ns = raw_namespace(backend.array_module(out.data))
                raw_args = [a.data if isinstance(a, Tensor) else a for a in args]
                raw_tangents = [None if t is None else t.data for t in tangents]
                raw = _output_tangent(prim, ns, raw_tangents, out.data, raw_args, params, batch)
                result = Tensor(backend.normalize(raw, type(out.data)))
        finally:
            flags.ceiling = ceiling
        out.tangents = {**(out.tangents or {}), number: result}


interpreters.tangents = propagate
