"""Learning-rate schedules: each sets ``group["lr"] = base_lr * factor(t)`` for every
parameter group of an optimiser, t counting the calls to ``step()`` (per step or per epoch, as
the caller chooses).  Decreasing steps are what SGD needs to converge with noisy gradients
(``../shared/seeds/001_9074c1202f56cd83.txt``); 1/sqrt(t) is the classical choice."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any


class LRScheduler:
    """Base class: subclasses define ``factor(t)``, with factor(0) = 1 typically."""

    def __init__(self, optimizer: Any):
        self.optimizer = optimizer
        for group in optimizer.param_groups:
            group.setdefault("initial_lr", group["lr"])
        self.base_lrs = [group["initial_lr"] for group in optimizer.param_groups]
        self.t = 0
        self._apply()

    def factor(self, t: int) -> float:
        raise NotImplementedError

    def _apply(self) -> None:
        for group, base in zip(self.optimizer.param_groups, self.base_lrs, strict=True):
            group["lr"] = base * self.factor(self.t)

    def step(self) -> None:
        self.t += 1
        self._apply()

    def get_last_lr(self) -> list[float]:
        return [group["lr"] for group in self.optimizer.param_groups]


class StepLR(LRScheduler):
    """lr_t = lr_0 * gamma^(t // step_size)."""

    def __init__(self, optimizer: Any, step_size: int, gamma: float = 0.1):
        if step_size < 1:
            raise ValueError(f"StepLR: step_size must be >= 1, got {step_size}")
        self.step_size, self.gamma = step_size, gamma
        super().__init__(optimizer)

    def factor(self, t: int) -> float:
        return self.gamma ** (t // self.step_size)


class CosineAnnealingLR(LRScheduler):
    """lr_t = eta_min + (lr_0 - eta_min) (1 + cos(pi t / T_max)) / 2, then eta_min after T_max."""

    def __init__(self, optimizer: Any, T_max: int, eta_min: float = 0.0):  # noqa: N803 (PyTorch's name)
        if T_max < 1:
            raise ValueError(f"CosineAnnealingLR: T_max must be >= 1, got {T_max}")
        self.T_max, self.eta_min = T_max, eta_min
        super().__init__(optimizer)

    def _apply(self) -> None:
        t = min(self.t, self.T_max)
        for group, base in zip(self.optimizer.param_groups, self.base_lrs, strict=True):
            group["lr"] = self.eta_min + (base - self.eta_min) * (1 + math.cos(math.pi * t / self.T_max)) / 2


class InverseSqrtLR(LRScheduler):
    """lr_t = lr_0 / sqrt(t + 1): the 1/sqrt(t) decay, t counted from 1."""

    def factor(self, t: int) -> float:
        return 1 / math.sqrt(t + 1)


class LambdaLR(LRScheduler):
    """lr_t = lr_0 * fn(t) for any function fn."""

    def __init__(self, optimizer: Any, fn: Callable[[int], float]):
        self.fn = fn
        super().__init__(optimizer)

    def factor(self, t: int) -> float:
        return self.fn(t)
