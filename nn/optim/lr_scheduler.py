"""Learning-rate schedules (PyTorch's ``torch.optim.lr_scheduler``): each sets
``group["lr"] = base_lr * factor(t)`` for every parameter group of an optimiser, t counting the
calls to ``step()`` (per step or per epoch, as the caller chooses); :class:`ReduceLROnPlateau`
instead reacts to a measured metric.  Decreasing steps are what SGD needs to converge with noisy
gradients (Scaman 2024); 1/sqrt(t) is the classical choice.
``state_dict`` / ``load_state_dict`` save and restore the counters (not the optimiser)."""

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

    def state_dict(self) -> dict[str, Any]:
        """Every attribute but the optimiser and functions (JSON-ready numbers and lists)."""
        return {k: v for k, v in self.__dict__.items() if k != "optimizer" and not callable(v)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._apply()


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
    """lr_t = eta_min + (lr_0 - eta_min) (1 + cos(pi t / T_max)) / 2, then eta_min after T_max
    (PyTorch's rises again after T_max; the two agree up to T_max)."""

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
    """lr_t = lr_0 * lr_lambda(t) for any function lr_lambda."""

    def __init__(self, optimizer: Any, lr_lambda: Callable[[int], float]):
        self.lr_lambda = lr_lambda
        super().__init__(optimizer)

    def factor(self, t: int) -> float:
        return self.lr_lambda(t)


class ExponentialLR(LRScheduler):
    """lr_t = lr_0 * gamma^t."""

    def __init__(self, optimizer: Any, gamma: float):
        self.gamma = gamma
        super().__init__(optimizer)

    def factor(self, t: int) -> float:
        return self.gamma**t


class LinearLR(LRScheduler):
    """Linear warm-up (or decay): the factor goes linearly from ``start_factor`` to
    ``end_factor`` over ``total_iters`` steps, then stays: f_t = s + (e - s) min(t, T) / T."""

    def __init__(
        self, optimizer: Any, start_factor: float = 1 / 3, end_factor: float = 1.0, total_iters: int = 5
    ):
        if not 0 < start_factor <= 1 or not 0 <= end_factor <= 1 or total_iters < 1:
            raise ValueError(
                "LinearLR: needs 0 < start_factor <= 1, 0 <= end_factor <= 1 and total_iters >= 1, got "
                f"{start_factor}, {end_factor}, {total_iters}"
            )
        self.start_factor, self.end_factor, self.total_iters = start_factor, end_factor, total_iters
        super().__init__(optimizer)

    def factor(self, t: int) -> float:
        span = self.end_factor - self.start_factor
        return self.start_factor + span * min(t, self.total_iters) / self.total_iters


class ReduceLROnPlateau:
    """Multiply the learning rate by ``factor`` when the metric given to ``step(metric)`` has not
    improved for more than ``patience`` calls (PyTorch's rule: improvement means below
    best (1 - threshold) in ``"rel"`` mode, below best - threshold in ``"abs"`` mode, above
    best (1 + threshold) or best + threshold for ``mode="max"``; after a reduction, ``cooldown``
    calls are ignored; lr never below ``min_lr``, and changes smaller than ``eps`` are skipped)."""

    def __init__(
        self,
        optimizer: Any,
        mode: str = "min",
        factor: float = 0.1,
        patience: int = 10,
        threshold: float = 1e-4,
        threshold_mode: str = "rel",
        cooldown: int = 0,
        min_lr: float = 0.0,
        eps: float = 1e-8,
    ):
        if mode not in ("min", "max") or threshold_mode not in ("rel", "abs") or not 0 < factor < 1:
            raise ValueError(
                "ReduceLROnPlateau: mode must be 'min' or 'max', threshold_mode 'rel' or 'abs' and "
                f"0 < factor < 1; got {mode!r}, {threshold_mode!r}, {factor}"
            )
        self.optimizer = optimizer
        self.mode, self.factor, self.patience = mode, factor, patience
        self.threshold, self.threshold_mode = threshold, threshold_mode
        self.cooldown, self.min_lr, self.eps = cooldown, min_lr, eps
        self.best = math.inf if mode == "min" else -math.inf
        self.num_bad_epochs = self.cooldown_counter = self.t = 0

    def _better(self, value: float) -> bool:
        minimize = self.mode == "min"
        if self.threshold_mode == "rel":
            bound = self.best * (1 - self.threshold if minimize else 1 + self.threshold)
        else:
            bound = self.best - self.threshold if minimize else self.best + self.threshold
        return value < bound if minimize else value > bound

    def step(self, metric: float) -> None:
        value = float(metric)
        self.t += 1
        if self._better(value):
            self.best, self.num_bad_epochs = value, 0
        else:
            self.num_bad_epochs += 1
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0
        if self.num_bad_epochs > self.patience:
            for group in self.optimizer.param_groups:
                new = max(group["lr"] * self.factor, self.min_lr)
                if group["lr"] - new > self.eps:
                    group["lr"] = new
            self.cooldown_counter, self.num_bad_epochs = self.cooldown, 0

    get_last_lr = LRScheduler.get_last_lr
    state_dict = LRScheduler.state_dict

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
