"""Batching rules: how ``vmap`` runs a primitive once on arguments with a leading batch axis.

A rule ``rule(args, params, size, batched) -> (args, params)`` gets the *values* of the arguments (argument
i with a leading batch axis of ``size`` before the axes that ``f`` sees when ``batched[i]``) and rewrites
the call so that the primitive's own evaluation treats that axis as a batch axis.  Most primitives need
nothing: their axes and indices count from the end (reductions, indexing, ``...`` in einsum)
(:func:`leading_axes`); broadcasting ones need their logical axes left-padded (:func:`broadcasting`); those
with a shape or permutation parameter get the batch axis prepended to it.
"""

from __future__ import annotations

import string
from typing import Any

from autodiff.graph import PRIMITIVES
from autodiff.tensor import Tensor, plugins


def pad_axes(ns: Any, t: Any, nb: int, ndim: int) -> Any:
    """Left-pad the axes of ``t`` after its ``nb`` leading (batch) axes with unit axes, up to ``ndim``."""
    if t.ndim - nb >= ndim:
        return t
    return ns.reshape(t, tuple(t.shape[:nb]) + (1,) * (ndim + nb - t.ndim) + tuple(t.shape[nb:]))


def full(t: Any, size: int, batched: bool) -> Any:
    """t with its batch axis at full size (for evaluations that cannot broadcast it)."""
    if not isinstance(t, Tensor):
        return t
    target = (size, *(t.shape[1:] if batched else t.shape))
    return t if tuple(t.shape) == target else PRIMITIVES["broadcast_to"](t, shape=target)


def leading_axes(args: list, params: dict, size: int, batched: list) -> tuple[list, dict]:
    """The evaluation already treats an extra leading axis as a batch axis: nothing to do."""
    return args, params


def unbatched_output(args: list, params: dict, size: int, batched: list) -> tuple[list, dict]:
    """The output does not depend on the batch (``vmap`` leaves it unbatched)."""
    return args, params


def broadcasting(args: list, params: dict, size: int, batched: list) -> tuple[list, dict]:
    """NumPy broadcasting: left-pad every batched argument's logical axes to the common rank, so
    that the batch axes line up (unbatched arguments broadcast against them)."""
    ndim = max(a.ndim - (1 if b else 0) for a, b in zip(args, batched, strict=True) if isinstance(a, Tensor))
    return [pad_axes(plugins.ops, a, 1, ndim) if b else a for a, b in zip(args, batched, strict=True)], params


def prepend_to(name: str):
    """For a primitive with a target shape parameter ``name``: the batch axis goes in front."""

    def rule(args: list, params: dict, size: int, batched: list) -> tuple[list, dict]:
        return args, {**params, name: (args[0].shape[0], *params[name])}

    return rule


def target_shape(args: list, params: dict, size: int, batched: list) -> tuple[list, dict]:
    """``broadcast_to``: the argument's logical axes left-padded to the target's rank, and the batch
    axis put in front of the target shape."""
    x = pad_axes(plugins.ops, args[0], 1, len(params["shape"]))
    return [x], {**params, "shape": (x.shape[0], *params["shape"])}


def permutation(args: list, params: dict, size: int, batched: list) -> tuple[list, dict]:
    """A permutation of the logical axes, after the batch axis that stays in front."""
    return args, {**params, "axes": (0, *(1 + a for a in params["axes"]))}


def all_batched(args: list, params: dict, size: int, batched: list) -> tuple[list, dict]:
    """Every argument at the full batch size (joining arrays needs equal leading axes)."""
    return [full(a, size, b) for a, b in zip(args, batched, strict=True)], params


def einsum_spec(args: list, params: dict, size: int, batched: list) -> tuple[list, dict]:
    """A new letter for the batch axis, in front of each batched operand and of the output."""
    spec = params["spec"]
    letter = "".join(c for c in string.ascii_letters if c not in spec)[:1]
    inputs, output = spec.split("->")
    terms = [letter + t if b else t for t, b in zip(inputs.split(","), batched, strict=True)]
    args = [full(a, size, True) if b else a for a, b in zip(args, batched, strict=True)]
    return args, {**params, "spec": ",".join(terms) + "->" + letter + output}
