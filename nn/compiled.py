"""A compiled training step for any Module: the loss, the model's output and the gradient in
the parameters as one program (``ad.compile``), replayed on every mini-batch of a signature.

The parameters are inputs of the program (their arrays, passed at each call), so the program
never holds stale weights.  The optimiser update stays outside, in the optimiser: every
optimiser, its state (momenta, Adam's moments), learning-rate schedules and gradient clipping
work unchanged, and a new learning rate does not trace again; the update is a few array
operations per parameter tensor, next to the hundreds of equations of the step.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import autodiff as ad
from autodiff.tensor import Tensor
from nn.module import Module, functional_call


class CompiledStep:
    """``step(inputs, target) -> (output, loss)``, leaving d loss / d p in every ``p.grad``
    (what ``optimizer.zero_grad(); loss.backward()`` leaves).  One program per signature of the
    batch (shapes, dtypes) and per mode (``model.training``)."""

    def __init__(self, model: Module, loss_fn: Callable[[Tensor, Tensor], Tensor], **options: Any):
        if not isinstance(model, Module):
            raise TypeError(f"CompiledStep: model must be an nn.Module, got {type(model).__name__}")
        named = list(model.named_parameters())
        self.model, self.names = model, [name for name, _ in named]
        self.params = [p for _, p in named]
        count = len(named)

        def loss_and_output(training: bool, *arrays: Any) -> tuple[Tensor, Tensor]:
            params = dict(zip(self.names, arrays[:count], strict=True))
            *inputs, target = arrays[count:]
            out = functional_call(model, params, *inputs)
            return loss_fn(out, target), out

        argnums = tuple(range(1, count + 1))
        step = ad.value_and_grad(loss_and_output, argnums=argnums, has_aux=True)
        self.compiled = ad.compile(step, static_argnums=0, **options)

    def __call__(self, inputs: Sequence[Tensor], target: Tensor) -> tuple[Tensor, Tensor]:
        arrays = []
        for p in self.params:
            arrays.append(p.data)
            p.grad = None  # zero_grad first, so that the old gradients' memory serves the new ones
        (loss, out), grads = self.compiled(self.model.training, *arrays, *inputs, target)
        for p, g in zip(self.params, grads, strict=True):
            p.grad = g
        return out, loss

    def program(self, inputs: Sequence[Tensor], target: Tensor) -> ad.Program:
        """The program replayed for such a batch (to print it)."""
        return self.compiled.program(self.model.training, *[p.data for p in self.params], *inputs, target)
