"""Optimisers (:mod:`nn.optim.optimizers`) and learning-rate schedules
(:mod:`nn.optim.lr_scheduler`, PyTorch's ``torch.optim.lr_scheduler``; the schedules are also
importable from ``nn.optim`` directly, as before)."""

from nn.optim import lr_scheduler
from nn.optim.lr_scheduler import (
    CosineAnnealingLR,
    ExponentialLR,
    InverseSqrtLR,
    LambdaLR,
    LinearLR,
    LRScheduler,
    ReduceLROnPlateau,
    StepLR,
)
from nn.optim.optimizers import SGD, Adam, AdamW, Optimizer, PerturbedGD, RMSprop

__all__ = [
    "Optimizer",
    "SGD",
    "Adam",
    "AdamW",
    "RMSprop",
    "PerturbedGD",
    "lr_scheduler",
    "LRScheduler",
    "StepLR",
    "ExponentialLR",
    "CosineAnnealingLR",
    "InverseSqrtLR",
    "LambdaLR",
    "LinearLR",
    "ReduceLROnPlateau",
]
