"""``vmap``: evaluate a function of one example on a whole batch, in one pass.

Inside ``vmap(f)``, a *batched* tensor keeps its batch axis physically in front of its data
(``_levels`` names the vmap levels of its leading axes, outermost first), while the code of
``f`` sees the *logical* shape, without it.  Every operation on batched tensors runs once, on
the physical arrays, after the *batching rule* declared with its primitive puts its arguments
and parameters in a form where the extra leading axes act as batch axes — the same property the
derivative rules already have (see :mod:`autodiff.ops.batching`).

The graph recorded meanwhile is an ordinary graph of the physical arrays, so ``grad``,
``vjp`` and ``jacrev`` inside ``vmap`` work unchanged; an input that ``grad`` watches inside
``vmap`` is given its own copy per example, so its gradient is per example (as in JAX).
Forward mode with batched tangents (``jacfwd``, ``hessian``) inside ``vmap`` falls back to a
loop over the batch.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import math
import warnings
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from autodiff.graph import Primitive, interpreters
from autodiff.ops import composite as ops
from autodiff.ops import shape as sh
from autodiff.ops.batching import full, unbatched_output
from autodiff.state import flags, physical
from autodiff.tensor import Tensor

_counter = itertools.count(1)


class Unbatched(NotImplementedError):
    """Raised by the engine for a computation it cannot batch (forward mode with a batch of
    tangents); ``vmap`` then runs ``f`` example by example, with a warning.  Errors raised by
    the user's code are never caught."""


@contextlib.contextmanager
def level(size: int) -> Iterator[int]:
    number = next(_counter)
    flags.vmap_sizes[number] = size
    flags.vmap_levels += 1
    try:
        yield number
    finally:
        del flags.vmap_sizes[number]
        flags.vmap_levels -= 1


def active_levels(t: Tensor) -> tuple[int, ...]:
    return t._levels[: t._batch_depth()]


def mark(t: Tensor, levels: tuple[int, ...]) -> Tensor:
    """Declare the leading axes of t's data to be the batch axes of ``levels``."""
    t._levels = levels
    return t


def per_example(x: Tensor) -> Tensor:
    """x batched at every open level, at full size: each example gets its own copy."""
    levels = tuple(sorted(flags.vmap_sizes))
    sizes = tuple(flags.vmap_sizes[lv] for lv in levels)
    if active_levels(x) == levels and tuple(x.data.shape[: len(levels)]) == sizes:
        return x
    with physical():
        return mark(full(_align(x, levels), len(levels), sizes, True), levels)


# ----------------------------------------------------------------------------- batching rules
def _align(t: Tensor, levels: tuple[int, ...]) -> Tensor:
    """t's data with one leading axis per level in ``levels`` (size 1 where t is not batched)."""
    own = active_levels(t)
    if own == levels:
        return t
    logical = t.data.shape[len(own) :]
    lead = tuple(t.data.shape[own.index(lv)] if lv in own else 1 for lv in levels)
    return sh.reshape(t, shape=lead + tuple(logical))


def batched_call(prim: Primitive, args: tuple, params: dict) -> Tensor:
    """Run ``prim`` once on the physical arrays of batched arguments (called by Primitive),
    after its batching rule (declared with it, see :mod:`autodiff.ops.batching`)."""
    levels = tuple(sorted({lv for a in args if isinstance(a, Tensor) for lv in active_levels(a)}))
    sizes = tuple(flags.vmap_sizes[lv] for lv in levels)
    nb = len(levels)
    with physical():
        if prim.batch is unbatched_output:
            return prim(*args, **params)
        batched = [
            isinstance(a, Tensor) and bool(a._levels) and bool(set(a._levels) & set(levels)) for a in args
        ]
        aligned = [_align(a, levels) if b else a for a, b in zip(args, batched, strict=True)]
        new_args, new_params = prim.batch(aligned, params, nb, sizes, batched)
        return mark(prim(*new_args, **new_params), levels)


def loop(fn: Callable, args: Sequence[Any], batched: Sequence[bool], levels: tuple[int, ...]) -> Tensor:
    """``fn`` applied example by example to physical arguments, the results stacked and marked."""
    nb, sizes = len(levels), tuple(flags.vmap_sizes[lv] for lv in levels)
    with physical():
        whole = [
            full(_align(a, levels), nb, sizes, True) if b else a for a, b in zip(args, batched, strict=True)
        ]
        flat = [
            ops.reshape(a, (-1,) + tuple(a.data.shape[nb:])) if b else a
            for a, b in zip(whole, batched, strict=True)
        ]
        results = [
            fn(*[a[i] if b else a for a, b in zip(flat, batched, strict=True)])
            for i in range(math.prod(sizes))
        ]
        stacked = ops.stack(results, axis=0)
        return mark(ops.reshape(stacked, sizes + tuple(stacked.data.shape[1:])), levels)


def getitem_per_example(x: Tensor, index: Any) -> Tensor:
    """Inside vmap, indices that differ per example: index example by example."""
    entries = index if isinstance(index, tuple) else (index,)
    if any(isinstance(i, Tensor) and i.dtype == bool for i in entries):
        raise ValueError(
            "getitem: a boolean mask that differs per example inside vmap selects a different number "
            "of entries per example, so the result has no single shape; use ad.where(mask, x, 0) instead"
        )
    tensors = [x] + [i for i in entries if isinstance(i, Tensor)]
    levels = tuple(sorted({lv for t in tensors for lv in active_levels(t)}))
    positions = [k for k, i in enumerate(entries) if isinstance(i, Tensor)]

    def take(xi: Tensor, *indices: Tensor) -> Tensor:
        chosen = list(entries)
        for k, i in zip(positions, indices, strict=True):
            chosen[k] = i
        return ops.getitem(xi, tuple(chosen))

    return loop(take, tensors, [bool(active_levels(t)) for t in tensors], levels)


# ----------------------------------------------------------------------------- the transform
def _in_axes(in_axes: int | None | Sequence[int | None], n: int) -> list[int | None]:
    axes = list(in_axes) if isinstance(in_axes, list | tuple) else [in_axes] * n
    if len(axes) != n:
        raise ValueError(f"vmap: in_axes has {len(axes)} entries for {n} arguments")
    return axes


def _mapped_size(x: Any, axis: Any, position: int) -> int:
    """The size of the mapped axis of argument ``position``; an axis it does not have raises."""
    ndim = ops.as_tensor(x).ndim
    if not isinstance(axis, int) or not -ndim <= axis < ndim:
        raise ValueError(
            f"vmap: in_axes={axis!r} for argument {position} of shape {ops.as_tensor(x).shape}: the axis "
            f"must be an int in [-{ndim}, {ndim}) (or None for an argument that is not mapped)"
        )
    return ops.as_tensor(x).shape[axis]


def _batch(x: Any, axis: int, number: int) -> Tensor:
    """x with its logical axis ``axis`` made the batch axis of level ``number``."""
    x = ops.as_tensor(x)
    outer = active_levels(x)
    a = axis % x.ndim
    with physical():
        moved = ops.moveaxis(x, len(outer) + a, len(outer)) if a else x
        return mark(sh.alias(moved), outer + (number,))


def _unbatch(y: Any, number: int, size: int, out_axis: int) -> Any:
    """An output of f with the batch axis of level ``number`` turned into logical axis out_axis."""
    if not isinstance(y, Tensor):
        return y
    if not isinstance(out_axis, int) or not -y.ndim - 1 <= out_axis <= y.ndim:
        raise ValueError(
            f"vmap: out_axes={out_axis!r} for an output of shape {y.shape}: the batch axis can go at "
            f"an int position in [-{y.ndim + 1}, {y.ndim}]"
        )
    levels = active_levels(y)
    with physical():
        if number in levels:
            k = levels.index(number)
            phys = y if k == len(levels) - 1 else ops.moveaxis(y, k, len(levels) - 1)
        else:
            lead = tuple(y.data.shape[: len(levels)])
            expanded = sh.reshape(y, shape=lead + (1,) + tuple(y.data.shape[len(levels) :]))
            phys = sh.broadcast_to(expanded, shape=lead + (size,) + tuple(y.data.shape[len(levels) :]))
        outer = tuple(lv for lv in levels if lv != number)
        result = mark(sh.alias(phys), outer)
    return ops.moveaxis(result, 0, out_axis) if out_axis else result


def _map_outputs(fn: Callable, out: Any) -> Any:
    if isinstance(out, tuple | list):
        return type(out)(fn(o) for o in out)
    return fn(out)


def vmap(f: Callable, in_axes: int | None | Sequence[int | None] = 0, out_axes: int = 0) -> Callable:
    """``vmap(f)(xs)`` = ``stack([f(x) for x in xs])``, computed in one pass.

    ``in_axes``: the mapped axis of each argument (None: not mapped); ``out_axes``: where the
    batch axis goes in the outputs.  Composes with grad, vjp and jacrev (per-example
    gradients: ``vmap(grad(loss), in_axes=(None, 0, 0))(w, xs, ys)``) and with itself.
    """

    @functools.wraps(f)
    def batched_f(*args: Any) -> Any:
        axes = _in_axes(in_axes, len(args))
        mapped = [
            _mapped_size(a, ax, k) for k, (a, ax) in enumerate(zip(args, axes, strict=True)) if ax is not None
        ]
        if not mapped or len(set(mapped)) != 1:
            raise ValueError(f"vmap: mapped axes must exist and agree in size, got sizes {mapped}")
        size = mapped[0]
        try:
            with level(size) as number:
                call = [a if ax is None else _batch(a, ax, number) for a, ax in zip(args, axes, strict=True)]
                out = f(*call)
                return _map_outputs(lambda y: _unbatch(y, number, size, out_axes), out)
        except Unbatched as reason:
            warnings.warn(f"vmap: {reason}; falling back to a loop over {size} examples", stacklevel=2)
            results = []
            for i in range(size):
                call = [
                    a if ax is None else ops.moveaxis(ops.as_tensor(a), ax, 0)[i]
                    for a, ax in zip(args, axes, strict=True)
                ]
                results.append(f(*call))
            if isinstance(results[0], tuple | list):
                return type(results[0])(
                    ops.stack([r[k] for r in results], axis=out_axes) for k in range(len(results[0]))
                )
            return ops.stack(results, axis=out_axes)

    return batched_f


interpreters.batch = batched_call
interpreters.index = getitem_per_example
