"""Optimisers: SGD (heavy ball, Nesterov), Adam, AdamW, RMSprop and perturbed gradient descent,
with parameter groups, and ``state_dict`` / ``load_state_dict`` (PyTorch's layout) to resume exactly.

Gradient descent theta_{t+1} = theta_t - eta grad L(theta_t) converges to stationary points, and
adding a little isotropic noise when the gradient is small lets it escape strict saddles
(Jin et al. 2017), as in Scaman 2024.  The update rules follow
PyTorch's exactly (same order of operations), so trajectories agree to rounding.  Updates act in
place on the raw arrays under no graph, and bump each parameter's version.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from autodiff import backend
from autodiff.random import Generator, resolve
from autodiff.tensor import Tensor
from nn.module import CheckpointError, mark_written


class Optimizer:
    """Holds parameter groups (``[{"params": [...], "lr": ..., ...}, ...]``) and per-parameter
    state; subclasses define ``update(p, g, state, group)`` on raw arrays."""

    def __init__(self, params: Iterable[Any], defaults: dict[str, Any]):
        self.defaults = defaults
        self.param_groups: list[dict[str, Any]] = []
        self.state: dict[Tensor, dict[str, Any]] = {}
        groups = list(params)
        if not groups:
            raise ValueError(f"{type(self).__name__}: got an empty list of parameters")
        for group in groups if isinstance(groups[0], dict) else [{"params": groups}]:
            self.add_param_group(group)

    def add_param_group(self, group: dict[str, Any]) -> None:
        """Add a group of parameters with its own hyperparameters (the others from the defaults)."""
        name = type(self).__name__
        unknown = set(group) - set(self.defaults) - {"params", "initial_lr"}
        if unknown:
            raise ValueError(
                f"{name}: unknown hyperparameters {sorted(unknown)} (known: {sorted(self.defaults)})"
            )
        params = group["params"]
        params = [params] if isinstance(params, Tensor) else list(params)
        taken = {id(p) for g in self.param_groups for p in g["params"]}
        for p in params:
            if not isinstance(p, Tensor) or not p.requires_grad or not p.is_leaf:
                raise TypeError(f"{name}: parameters must be leaf tensors that require grad, got {p!r:.80}")
            if id(p) in taken:
                raise ValueError(f"{name}: a parameter (shape {p.shape}) appears in more than one group")
        full = {**self.defaults, **group, "params": params}
        for key in ("lr", "weight_decay", "eps", "momentum"):
            if key in full and not 0 <= full[key] < math.inf:
                raise ValueError(f"{name}: {key} must be >= 0 and finite, got {full[key]}")
        self.param_groups.append(full)

    def _indexed(self) -> list[Tensor]:
        return [p for group in self.param_groups for p in group["params"]]

    def state_dict(self) -> dict[str, Any]:
        """PyTorch's layout: ``{"state": {index: {name: value}}, "param_groups": [{hyperparameters,
        "params": [indices]}]}``, parameters numbered in group order; arrays are copies."""
        index = {id(p): k for k, p in enumerate(self._indexed())}
        state = {
            index[id(p)]: {k: v.copy() if backend.is_array(v) else v for k, v in values.items()}
            for p, values in self.state.items()
        }
        groups = [
            {**{k: v for k, v in g.items() if k != "params"}, "params": [index[id(p)] for p in g["params"]]}
            for g in self.param_groups
        ]
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore hyperparameters and per-parameter state from :meth:`state_dict` (arrays go to
        each parameter's device and dtype), all or nothing: the group sizes must match."""
        groups, params = state_dict["param_groups"], self._indexed()
        sizes, own = [len(g["params"]) for g in groups], [len(g["params"]) for g in self.param_groups]
        if sizes != own:
            raise CheckpointError(
                f"{type(self).__name__}.load_state_dict: the state has parameter groups of sizes {sizes}, "
                f"this optimiser {own} (nothing was loaded)"
            )
        state = {}
        for k, values in state_dict["state"].items():
            p = params[int(k)]
            state[p] = {
                key: backend.asarray(v, dtype=p.dtype, device=p.device) if getattr(v, "ndim", 0) else v
                for key, v in values.items()
            }
        for group, saved in zip(self.param_groups, groups, strict=True):
            group.update({k: v for k, v in saved.items() if k != "params"})
        self.state = state

    def zero_grad(self) -> None:
        for group in self.param_groups:
            for p in group["params"]:
                p.grad = None

    def step(self) -> None:
        """One update of every parameter that has a gradient."""
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    self.update(p, p.grad.data, self.state.setdefault(p, {}), group)
                    mark_written(p)

    def update(self, p: Tensor, g: Any, state: dict[str, Any], group: dict[str, Any]) -> None:
        raise NotImplementedError


class SGD(Optimizer):
    """theta <- theta - lr * d with d = g + wd theta (plain), the heavy-ball buffer
    b <- mu b + (1 - dampening) d (momentum), or d + mu b (Nesterov)."""

    def __init__(
        self,
        params: Iterable[Any],
        lr: float,
        momentum: float = 0.0,
        dampening: float = 0.0,
        nesterov: bool = False,
        weight_decay: float = 0.0,
    ):
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("SGD: Nesterov momentum needs momentum > 0 and dampening = 0")
        defaults = dict(
            lr=lr, momentum=momentum, dampening=dampening, nesterov=nesterov, weight_decay=weight_decay
        )
        super().__init__(params, defaults)

    def update(self, p: Tensor, g: Any, state: dict[str, Any], group: dict[str, Any]) -> None:
        if group["weight_decay"]:
            g = g + group["weight_decay"] * p.data
        mu = group["momentum"]
        if mu:
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = state["momentum_buffer"] = g.copy()
            else:
                buf *= mu
                buf += (1 - group["dampening"]) * g
            g = g + mu * buf if group["nesterov"] else buf
        p.data -= group["lr"] * g


class Adam(Optimizer):
    """Adam (Kingma & Ba 2015): m <- b1 m + (1 - b1) g, v <- b2 v + (1 - b2) g^2,
    theta <- theta - lr / (1 - b1^t) * m / (sqrt(v / (1 - b2^t)) + eps); weight decay added to
    the gradient (L2)."""

    decoupled = False

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
    ):
        if not all(0 <= b < 1 for b in betas):
            raise ValueError(f"{type(self).__name__}: betas must be in [0, 1), got {betas}")
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay))

    def update(self, p: Tensor, g: Any, state: dict[str, Any], group: dict[str, Any]) -> None:
        lr, (b1, b2), wd = group["lr"], group["betas"], group["weight_decay"]
        xp = backend.array_module(g)
        if wd and self.decoupled:
            p.data *= 1 - lr * wd
        elif wd:
            g = g + wd * p.data
        if not state:
            state.update(step=0, exp_avg=xp.zeros_like(p.data), exp_avg_sq=xp.zeros_like(p.data))
        state["step"] += 1
        m, v, t = state["exp_avg"], state["exp_avg_sq"], state["step"]
        m += (1 - b1) * (g - m)
        v *= b2
        v += (1 - b2) * (g * g)
        denom = xp.sqrt(v) / math.sqrt(1 - b2**t) + group["eps"]
        p.data -= (lr / (1 - b1**t)) * (m / denom)


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter 2019): theta <- (1 - lr wd) theta
    before the Adam step."""

    decoupled = True

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
    ):
        super().__init__(params, lr, betas, eps, weight_decay)


class RMSprop(Optimizer):
    """s <- alpha s + (1 - alpha) g^2, theta <- theta - lr g / (sqrt(s) + eps) (centred: s minus
    the squared running mean of g), with optional momentum on the scaled step."""

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-2,
        alpha: float = 0.99,
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        momentum: float = 0.0,
        centered: bool = False,
    ):
        defaults = dict(
            lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay, momentum=momentum, centered=centered
        )
        super().__init__(params, defaults)

    def update(self, p: Tensor, g: Any, state: dict[str, Any], group: dict[str, Any]) -> None:
        xp = backend.array_module(g)
        alpha = group["alpha"]
        if group["weight_decay"]:
            g = g + group["weight_decay"] * p.data
        if not state:
            state.update(
                square_avg=xp.zeros_like(p.data), grad_avg=xp.zeros_like(p.data), buf=xp.zeros_like(p.data)
            )
        s = state["square_avg"]
        s *= alpha
        s += (1 - alpha) * (g * g)
        if group["centered"]:
            state["grad_avg"] += (1 - alpha) * (g - state["grad_avg"])
            avg = xp.sqrt(s - state["grad_avg"] * state["grad_avg"]) + group["eps"]
        else:
            avg = xp.sqrt(s) + group["eps"]
        if group["momentum"]:
            buf = state["buf"]
            buf *= group["momentum"]
            buf += g / avg
            p.data -= group["lr"] * buf
        else:
            p.data -= group["lr"] * (g / avg)


class PerturbedGD(Optimizer):
    """Perturbed gradient descent (Jin et al. 2017, Scaman 2024):
    when ``||grad L(theta_t)|| <= threshold`` and more than ``interval`` steps have passed since
    the last perturbation, theta_t <- theta_t + xi with xi uniform in the ball of radius
    ``radius`` (over all parameters together); otherwise theta_{t+1} = theta_t - lr grad L(theta_t).
    A perturbation replaces that step's gradient step, so the next gradient is taken at the
    perturbed point, as in the paper.  Deciding needs the gradient norm on the host: one sync a
    step.  ``perturbations`` lists the steps at which noise was added."""

    def __init__(
        self,
        params: Iterable[Any],
        lr: float,
        radius: float = 1e-2,
        threshold: float = 1e-3,
        interval: int = 10,
        generator: Generator | None = None,
    ):
        super().__init__(params, dict(lr=lr))
        self.radius, self.threshold, self.interval = radius, threshold, interval
        self.generator = resolve(None, generator)
        self.t = 0
        self.perturbations: list[int] = []

    def step(self) -> None:
        params = [p for group in self.param_groups for p in group["params"] if p.grad is not None]
        squares = [(p.grad.data * p.grad.data).sum() for p in params]
        norm = math.sqrt(sum(s.item() for s in squares))
        last = self.perturbations[-1] if self.perturbations else -math.inf
        if norm <= self.threshold and self.t - last > self.interval:
            self._perturb(params)
            self.perturbations.append(self.t)
        else:
            super().step()
        self.t += 1

    def _perturb(self, params: list[Tensor]) -> None:
        """theta += xi, xi uniform in the ball B(0, radius): a Gaussian direction, normalised, times
        radius * U^(1/d)."""
        d = sum(p.size for p in params)
        directions = [self.generator.randn(*p.shape, dtype=p.dtype, device=p.device) for p in params]
        length = math.sqrt(sum((u * u).sum().item() for u in directions))
        scale = self.radius * self.generator.numpy().random() ** (1 / d) / length
        for p, u in zip(params, directions, strict=True):
            p.data += scale * u.data
            mark_written(p)

    def update(self, p: Tensor, g: Any, state: dict[str, Any], group: dict[str, Any]) -> None:
        p.data -= group["lr"] * g

    def state_dict(self) -> dict[str, Any]:
        """:meth:`Optimizer.state_dict` and the perturbation schedule (``"schedule"``: the step
        count, the steps perturbed, the noise generator's state), so that a resumed run perturbs
        where and as the uninterrupted one would."""
        schedule = {"t": self.t, "perturbations": list(self.perturbations)}
        return {
            **super().state_dict(),
            "schedule": {**schedule, "generator": self.generator.numpy().bit_generator.state},
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        schedule = state_dict.get("schedule")
        if not isinstance(schedule, dict) or not {"t", "perturbations", "generator"} <= set(schedule):
            raise CheckpointError(
                "PerturbedGD.load_state_dict: the state has no perturbation schedule (t, perturbations, "
                "generator): it was not saved by a PerturbedGD (nothing was loaded)"
            )
        try:  # everything checked before anything is loaded
            t, perturbations = int(schedule["t"]), [int(k) for k in schedule["perturbations"]]
            type(self.generator.numpy().bit_generator)().state = schedule["generator"]
        except (TypeError, ValueError, KeyError) as error:
            raise CheckpointError(
                f"PerturbedGD.load_state_dict: the perturbation schedule is malformed ({error}); "
                "nothing was loaded"
            ) from None
        super().load_state_dict(state_dict)
        self.t, self.perturbations = t, perturbations
        self.generator.numpy().bit_generator.state = schedule["generator"]
