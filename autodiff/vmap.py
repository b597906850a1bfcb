"""``vmap``: evaluate a function of one example on a whole batch, in one pass.

A batching interpreter, as in JAX and HIPS autograd: inside ``vmap(f)`` the arguments of ``f`` are
:class:`BatchedTensor` wrappers.  A wrapper holds a ``value`` whose leading axis is the batch axis of one
vmap *level*; ``f`` sees the *logical* shape, without that axis.  Tensor itself knows nothing of batching.
An operation on wrappers reaches ``Primitive.__call__``, which hands it to :func:`batched_call`: the
arguments of the innermost level are unwrapped, the primitive's batching rule (declared with it,
:mod:`autodiff.ops.batching`) makes their leading axis act as a batch axis, the primitive runs once on
the values, and the result is wrapped again.  A value may itself be a wrapper of an outer level (nested
``vmap``): the interpreter then runs once more, a level further out.

Values are ordinary tensors, recorded in the graph as usual, so ``grad``, ``vjp``, ``jacrev`` and ``jvp``
inside ``vmap`` work on them: an input that a transform watches inside ``vmap`` is given its own copy per
example (:func:`per_example`), so its gradient is per example.  Forward mode with a batch of tangents
(``jacfwd``, ``hessian``) inside ``vmap`` falls back to a loop.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable, Sequence
from typing import Any

from autodiff import ops
from autodiff.creation import ones_like
from autodiff.graph import Primitive, interpreters
from autodiff.ops.batching import full, unbatched_output
from autodiff.state import flags, open_level
from autodiff.tensor import Tensor


class Unbatched(NotImplementedError):
    """Raised by the engine for a computation it cannot batch (forward mode with a batch of tangents):
    ``vmap`` then runs ``f`` example by example, with a warning.  The user's own errors are never caught."""


class BatchedTensor(Tensor):
    """A value inside ``vmap``: ``value``'s leading axis is the batch axis of vmap ``level``, and the tensor
    shows the rest.  ``value`` is a Tensor, or a BatchedTensor of an outer (lower-numbered) level."""

    def __init__(self, value: Tensor, level: int):
        self.value = value
        self.level = level
        self.data = value.data  # the physical array (all levels): dtype and device come from it

    shape = property(lambda self: self.value.shape[1:], doc="The shape of one example.")
    ndim = property(lambda self: self.value.ndim - 1)
    size = property(lambda self: self.value.size // max(self.value.shape[0], 1))

    @property
    def requires_grad(self) -> bool:  # type: ignore[override]
        return self.value.requires_grad

    @requires_grad.setter
    def requires_grad(self, flag: bool) -> None:
        self.value.requires_grad = flag

    def __repr__(self) -> str:
        return f"BatchedTensor(level={self.level}, shape={self.shape}, value={self.value!r})"

    def _concrete(self, what: str, *args: Any, **kwargs: Any) -> Any:
        raise TypeError(
            f"{what}: inside vmap a tensor stands for a whole batch of values (one per example), so "
            "it has no single value for Python to use; write the computation with tensor operations "
            "(ad.where instead of if, for example), or call vmap's function outside vmap"
        )

    item = functools.partialmethod(_concrete, "item()")
    numpy = functools.partialmethod(_concrete, "numpy()")
    tolist = functools.partialmethod(_concrete, "tolist()")
    __bool__ = functools.partialmethod(_concrete, "bool()")
    backward = functools.partialmethod(_concrete, "backward()")

    def detach(self) -> Tensor:
        return BatchedTensor(self.value.detach(), self.level)


# ----------------------------------------------------------------------------- the interpreter
def batched_call(prim: Primitive, args: tuple, params: dict) -> Tensor:
    """``prim`` on partly batched arguments: once on the innermost level's values, after its batching rule."""
    number = max(a.level for a in args if isinstance(a, BatchedTensor))
    batched = [isinstance(a, BatchedTensor) and a.level == number for a in args]
    values = [a.value if b else a for a, b in zip(args, batched, strict=True)]
    if prim.batch is unbatched_output:
        return prim(*values, **params)
    values, params = prim.batch(values, params, flags.vmap_sizes[number], batched)
    return BatchedTensor(prim(*values, **params), number)


def _broadcast_at(x: Any, number: int) -> BatchedTensor:
    """x, not batched at level ``number``, as a batched tensor of that level (a broadcast)."""
    return BatchedTensor(full(ops.as_tensor(x), flags.vmap_sizes[number], batched=False), number)


def per_example(x: Any, levels: list[int] | None = None) -> Any:
    """x batched at every open level (or at ``levels``, ascending), each example its own copy:
    what a transform watches inside ``vmap``, so that its derivative is per example."""
    levels = sorted(flags.vmap_sizes) if levels is None else levels
    if not levels:
        return x
    if not (isinstance(x, BatchedTensor) and x.level == levels[-1]):
        x = _broadcast_at(x, levels[-1])
    return BatchedTensor(per_example(x.value, levels[:-1]), levels[-1])


def unwrap(x: Any) -> tuple[Any, tuple[int, ...]]:
    """The physical tensor under every wrapper of x, and the levels of its leading axes."""
    levels: list[int] = []
    while isinstance(x, BatchedTensor):
        levels.append(x.level)
        x = x.value
    return x, tuple(reversed(levels))


def wrap(x: Any, levels: Sequence[int]) -> Any:
    """The inverse of :func:`unwrap`: the leading axes of x as the batch axes of ``levels``."""
    for number in levels:
        x = BatchedTensor(x, number)
    return x


def getitem_per_example(x: Tensor, index: tuple) -> Tensor:
    """Inside vmap, indices that differ per example: index example by example, the results stacked."""
    if any(isinstance(i, Tensor) and i.dtype == bool for i in index):
        raise ValueError(
            "getitem: a boolean mask that differs per example inside vmap selects a different number "
            "of entries per example, so the result has no single shape; use ad.where(mask, x, 0) instead"
        )
    number = max(t.level for t in (x, *index) if isinstance(t, BatchedTensor))
    batched = [isinstance(t, BatchedTensor) and t.level == number for t in (x, *index)]
    rows = []
    for i in range(flags.vmap_sizes[number]):
        xi, *index_i = [t.value[i] if b else t for t, b in zip((x, *index), batched, strict=True)]
        rows.append(ops.getitem(xi, tuple(index_i)))
    return BatchedTensor(ops.stack(rows, axis=0), number)


def gradients(
    plain: Callable, outputs: list, inputs: list, seeds: list, batched: bool, **options: Any
) -> list:
    """``plain`` (the engine's ``gradients``) for batched outputs, inputs or cotangents: on the
    physical tensors, with every output and cotangent made per example, the cotangents' own
    batch axis (``batched=True``) moved in front, and the results wrapped again."""
    depth = len(flags.vmap_sizes)
    physical_outputs = [unwrap(per_example(o))[0] for o in outputs]
    physical_seeds = []
    for o, g in zip(physical_outputs, seeds, strict=True):
        g = unwrap(per_example(ops.as_tensor(g)))[0] if g is not None else ones_like(o)
        physical_seeds.append(ops.moveaxis(g, depth, 0) if batched else g)
    watched = [unwrap(x) for x in inputs]
    grads = plain(physical_outputs, [x for x, _ in watched], physical_seeds, batched=batched, **options)
    return [
        wrap(ops.moveaxis(g, 0, len(levels)) if batched and levels else g, levels)
        for g, (_, levels) in zip(grads, watched, strict=True)
    ]


# ----------------------------------------------------------------------------- the transform
def _mapped_size(x: Any, axis: Any, position: int) -> int:
    """The size of the mapped axis of argument ``position``; an axis it does not have raises."""
    shape = ops.as_tensor(x).shape
    if not isinstance(axis, int) or not -len(shape) <= axis < len(shape):
        raise ValueError(
            f"vmap: in_axes={axis!r} for argument {position} of shape {shape}: the axis "
            f"must be an int in [-{len(shape)}, {len(shape)}) (or None for an argument that is not mapped)"
        )
    return shape[axis]


def _unbatch(y: Any, number: int, out_axis: int) -> Any:
    """An output of f with the batch axis of level ``number`` made logical axis ``out_axis``."""
    if not isinstance(y, Tensor):
        return y
    if not isinstance(out_axis, int) or not -y.ndim - 1 <= out_axis <= y.ndim:
        raise ValueError(
            f"vmap: out_axes={out_axis!r} for an output of shape {y.shape}: the batch axis can go at "
            f"an int position in [-{y.ndim + 1}, {y.ndim}]"
        )
    if not (isinstance(y, BatchedTensor) and y.level == number):
        y = _broadcast_at(y, number)  # the same for every example
    return ops.moveaxis(y.value, 0, out_axis) if out_axis else y.value


def _looped(f: Callable, args: Sequence[Any], moved: Sequence[Any], size: int, out_axes: int) -> Any:
    """vmap's fallback: f example by example (``moved``: the mapped arguments, axis in front), stacked."""
    results = [f(*[a if m is None else m[i] for a, m in zip(args, moved, strict=True)]) for i in range(size)]
    if isinstance(results[0], tuple | list):
        return type(results[0])(ops.stack(list(out), axis=out_axes) for out in zip(*results, strict=True))
    return ops.stack(results, axis=out_axes)


def vmap(f: Callable, in_axes: int | None | Sequence[int | None] = 0, out_axes: int = 0) -> Callable:
    """``vmap(f)(xs)`` = ``stack([f(x) for x in xs])``, computed in one pass.

    ``in_axes``: the mapped axis of each argument (None: not mapped); ``out_axes``: where the
    batch axis goes in the outputs.  Composes with grad, vjp and jacrev (per-example
    gradients: ``vmap(grad(loss), in_axes=(None, 0, 0))(w, xs, ys)``) and with itself.
    """

    @functools.wraps(f)
    def batched_f(*args: Any) -> Any:
        axes = list(in_axes) if isinstance(in_axes, list | tuple) else [in_axes] * len(args)
        if len(axes) != len(args):
            raise ValueError(f"vmap: in_axes has {len(axes)} entries for {len(args)} arguments")
        sizes = [_mapped_size(args[k], ax, k) for k, ax in enumerate(axes) if ax is not None]
        if not sizes or len(set(sizes)) != 1:
            raise ValueError(f"vmap: mapped axes must exist and agree in size, got sizes {sizes}")
        moved = [None if ax is None else ops.moveaxis(a, ax, 0) for a, ax in zip(args, axes, strict=True)]
        try:
            with open_level("vmap_sizes", "vmap_levels", sizes[0]) as number:
                out = f(
                    *[a if m is None else BatchedTensor(m, number) for a, m in zip(args, moved, strict=True)]
                )
                if isinstance(out, tuple | list):
                    return type(out)(_unbatch(y, number, out_axes) for y in out)
                return _unbatch(out, number, out_axes)
        except Unbatched as reason:
            warnings.warn(f"vmap: {reason}; falling back to a loop over {sizes[0]} examples", stacklevel=2)
            return _looped(f, args, moved, sizes[0], out_axes)

    return batched_f


interpreters.batched_type = BatchedTensor
interpreters.batch = batched_call
interpreters.index = getitem_per_example
interpreters.gradients = gradients
