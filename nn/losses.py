"""Loss modules (PyTorch's ``nn.CrossEntropyLoss`` and friends): ``loss_fn(input, target)``
calls the function of :mod:`nn.functional` with the module's ``reduction`` ("mean", "sum" or
"none")."""

from __future__ import annotations

from typing import Any

from autodiff.tensor import Tensor
from nn import functional as F
from nn.module import Module


class _Loss(Module):
    function: Any = None

    def __init__(self, reduction: str = "mean"):
        super().__init__()
        if reduction not in ("mean", "sum", "none"):
            raise ValueError(
                f"{type(self).__name__}: reduction must be 'mean', 'sum' or 'none', not {reduction!r}"
            )
        self.reduction = reduction

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return type(self).function(input, target, reduction=self.reduction)

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}"


class CrossEntropyLoss(_Loss):
    """logsumexp(z) - z[target] from logits (N, C); targets class indices or probability rows."""

    function = staticmethod(F.cross_entropy)


class NLLLoss(_Loss):
    """-log p[target] from log-probabilities (N, C)."""

    function = staticmethod(F.nll_loss)


class MSELoss(_Loss):
    """Squared errors (input - target)^2."""

    function = staticmethod(F.mse_loss)


class BCEWithLogitsLoss(_Loss):
    """log(1 + e^z) - y z, the logistic loss of logits z and targets y in [0, 1]."""

    function = staticmethod(F.binary_cross_entropy_with_logits)
