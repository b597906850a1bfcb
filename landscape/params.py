"""The parameter space of a model as one flat vector theta in R^p.

The lecture (Malgouyres 2024) studies the loss as a function of
theta = (W_1, b_1, ..., W_H, b_H) in R^p; here theta is the concatenation of the model's
parameters in ``model.parameters()`` order, each flattened in C order.  ``ParamSpace`` maps
theta to the parameters and back, and makes the loss a plain function ``f(theta)`` (through
``nn.functional_call``, which leaves the model's own parameters untouched), the argument every
routine of this package takes.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import autodiff as ad
from autodiff import backend
from autodiff.tensor import Tensor


def _nn() -> Any:
    try:
        import nn
    except ImportError as error:  # pragma: no cover - the package ships with nn
        raise ImportError("landscape.ParamSpace needs the project's nn package on the path") from error
    return nn


def check_model(routine: str, model: Any) -> None:
    """Refuse (TypeError naming ``routine``) anything that is not a model with parameters."""
    if not callable(getattr(model, "named_parameters", None)):
        hint = (
            "; for a function f of a flat theta use the routines that take f (pl_ratio, classify, ...)"
            if callable(model)
            else ""
        )
        raise TypeError(
            f"{routine}: expected a model with named_parameters() (an nn.Module), got "
            f"{type(model).__name__}{hint}"
        )


class ParamSpace:
    """theta <-> the parameters of ``model`` (anything with ``named_parameters()``).

    ``names``, ``shapes``, ``sizes``, ``offsets`` describe the layout (parameter i occupies
    ``theta[offsets[i] : offsets[i] + sizes[i]]``), ``p`` is the dimension."""

    def __init__(self, model: Any):
        check_model("ParamSpace", model)
        named = list(model.named_parameters())
        if not named:
            raise ValueError(f"ParamSpace: {type(model).__name__} has no parameters")
        devices = {p.device for _, p in named}
        if len(devices) > 1:
            raise ValueError(
                f"ParamSpace: the parameters live on several devices {sorted(devices)}; move them"
            )
        self.model = model
        self.names = [n for n, _ in named]
        self.params = [p for _, p in named]
        self.shapes = [tuple(p.shape) for p in self.params]
        self.sizes = [math.prod(s) for s in self.shapes]
        self.offsets = [sum(self.sizes[:i]) for i in range(len(self.sizes))]
        self.p = sum(self.sizes)
        self.device = self.params[0].device
        self.dtype = self.params[0].dtype

    def __repr__(self) -> str:
        layout = ", ".join(f"{n}{list(s)}" for n, s in zip(self.names, self.shapes, strict=True))
        return f"ParamSpace(p={self.p}: {layout})"

    def slice(self, name: str) -> slice:
        """Where parameter ``name`` sits in theta."""
        i = self.names.index(name)
        return slice(self.offsets[i], self.offsets[i] + self.sizes[i])

    def theta(self, dtype: Any = None) -> Tensor:
        """The current parameters as a new flat tensor (a copy, cut from any graph)."""
        parts = [ad.reshape(p.detach(), (-1,)) for p in self.params]
        flat = ad.concatenate(parts, axis=0) if len(parts) > 1 else ad.tensor(parts[0])
        flat = flat.detach()
        return (
            flat.astype(dtype) if dtype is not None and flat.dtype != backend.resolve_dtype(dtype) else flat
        )

    def _check(self, theta: Any, name: str) -> Tensor:
        if not isinstance(theta, Tensor):
            theta = ad.tensor(theta, dtype=self.dtype, device=self.device)
        if theta.shape != (self.p,):
            raise ValueError(f"ParamSpace.{name}: theta must have shape ({self.p},), got {theta.shape}")
        if theta.device != self.device:
            raise ValueError(
                f"ParamSpace.{name}: theta is on '{theta.device}' but the model on '{self.device}'; "
                "move it with .to(device)"
            )
        return theta

    def unflatten(self, theta: Any) -> dict[str, Tensor]:
        """``{name: tensor}`` views of theta in each parameter's shape (differentiable in theta)."""
        theta = self._check(theta, "unflatten")
        return {
            n: ad.reshape(theta[o : o + k], s)
            for n, o, k, s in zip(self.names, self.offsets, self.sizes, self.shapes, strict=True)
        }

    def assign(self, theta: Any) -> None:
        """Write theta into the model's parameters (in place, under no_grad; cast to each
        parameter's dtype).  Everything is checked before anything is written."""
        theta = self._check(theta, "assign").detach()
        values = self.unflatten(theta)
        with ad.no_grad():
            for name, p in zip(self.names, self.params, strict=True):
                p.copy_(values[name].astype(p.dtype) if values[name].dtype != p.dtype else values[name])

    def call(self, theta: Any, *args: Any, **kwargs: Any) -> Any:
        """``model(*args)`` computed with the parameters of theta (``nn.functional_call``); the
        model's own parameters are not touched and the result is differentiable in theta."""
        return _nn().functional_call(self.model, self.unflatten(theta), *args, **kwargs)

    def loss(self, loss_fn: Callable[[Tensor, Tensor], Tensor], X: Any, Y: Any) -> Callable[[Tensor], Tensor]:
        """``f(theta) = loss_fn(model_theta(X), Y)``: the scalar function every routine of
        :mod:`landscape` accepts."""

        def f(theta: Tensor) -> Tensor:
            return loss_fn(self.call(theta, X), Y)

        return f
