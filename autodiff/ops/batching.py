"""Batching rules: how ``vmap`` runs a primitive once on arguments with leading batch axes.

Inside ``vmap`` the batching interpreter hands a rule the *values* of the batched arguments:
``nb`` leading batch axes (of ``sizes``), then the axes that ``f`` sees.  A rule
``rule(args, params, nb, sizes, batched) -> (args, params)`` rewrites the call so that the
primitive's own evaluation treats those leading axes as batch axes; ``batched[i]`` says whether
argument i carries them.  Most primitives need little: their axes and indices count from the end
(reductions, indexing, ``...`` in einsum), so the leading axes ride along (:func:`leading_axes`);
broadcasting ones need their logical axes left-padded (:func:`broadcasting`); those with a shape
or permutation parameter get the batch axes prepended to it.
"""

from __future__ import annotations

import string
from typing import Any

from autodiff.graph import PRIMITIVES
from autodiff.tensor import Tensor


def _reshape(t: Any, shape: tuple) -> Any:
    return PRIMITIVES["reshape"](t, shape=shape)


def _pad(t: Any, nb: int, ndim: int) -> Any:
    """Left-pad the logical axes of a batched tensor with unit axes, up to ``ndim``."""
    logical = t.shape[nb:]
    if len(logical) >= ndim:
        return t
    return _reshape(t, tuple(t.shape[:nb]) + (1,) * (ndim - len(logical)) + tuple(logical))


def full(t: Any, nb: int, sizes: tuple[int, ...], batched: bool) -> Any:
    """Every batch axis of t at its full size (for evaluations that cannot broadcast them)."""
    if not isinstance(t, Tensor):
        return t
    target = sizes + tuple(t.shape[nb:] if batched else t.shape)
    return t if tuple(t.shape) == target else PRIMITIVES["broadcast_to"](t, shape=target)


def leading_axes(args: list, params: dict, nb: int, sizes: tuple, batched: list) -> tuple[list, dict]:
    """The evaluation already treats extra leading axes as batch axes: nothing to do."""
    return args, params


def unbatched_output(args: list, params: dict, nb: int, sizes: tuple, batched: list) -> tuple[list, dict]:
    """The output does not depend on the batch (``vmap`` leaves it unbatched)."""
    return args, params


def broadcasting(args: list, params: dict, nb: int, sizes: tuple, batched: list) -> tuple[list, dict]:
    """NumPy broadcasting: left-pad every batched argument's logical axes to the common rank, so
    that the leading batch axes line up (unbatched arguments broadcast against them)."""
    ndim = max(a.ndim - (nb if b else 0) for a, b in zip(args, batched, strict=True) if isinstance(a, Tensor))
    return [_pad(a, nb, ndim) if b else a for a, b in zip(args, batched, strict=True)], params


def prepend_to(name: str):
    """For a primitive with a target shape parameter ``name``: the batch axes go in front."""

    def rule(args: list, params: dict, nb: int, sizes: tuple, batched: list) -> tuple[list, dict]:
        return args, {**params, name: tuple(args[0].shape[:nb]) + tuple(params[name])}

    return rule


def target_shape(args: list, params: dict, nb: int, sizes: tuple, batched: list) -> tuple[list, dict]:
    """``broadcast_to``: the argument's logical axes left-padded to the target's rank, and its
    batch axes put in front of the target shape."""
    x = _pad(args[0], nb, len(params["shape"]))
    return [x], {**params, "shape": tuple(x.shape[:nb]) + tuple(params["shape"])}


def permutation(args: list, params: dict, nb: int, sizes: tuple, batched: list) -> tuple[list, dict]:
    """A permutation of the logical axes, after the batch axes that stay in front."""
    return args, {**params, "axes": tuple(range(nb)) + tuple(nb + a for a in params["axes"])}


def all_batched(args: list, params: dict, nb: int, sizes: tuple, batched: list) -> tuple[list, dict]:
    """Every argument at the full batch size (joining arrays needs equal leading axes)."""
    return [full(a, nb, sizes, b) for a, b in zip(args, batched, strict=True)], params


def einsum_spec(args: list, params: dict, nb: int, sizes: tuple, batched: list) -> tuple[list, dict]:
    """New letters for the batch axes, in front of each batched operand and of the output."""
    spec = params["spec"]
    letters = "".join(c for c in string.ascii_letters if c not in spec)[:nb]
    inputs, output = spec.split("->")
    terms = [letters + t if b else t for t, b in zip(inputs.split(","), batched, strict=True)]
    args = [full(a, nb, sizes, True) if b else a for a, b in zip(args, batched, strict=True)]
    return args, {**params, "spec": ",".join(terms) + "->" + letters + output}
