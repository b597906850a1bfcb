"""Paths of low loss between two minima (the lecture notes *¿Por qué la solución al problema
de optimalidad funciona?*: connected sub-level sets
``Omega(lambda) = {theta : L(theta) <= lambda}``; if every sub-level set is connected, every
local minimum is global).

A path gamma: [0, 1] -> R^p from theta_a to theta_b has the barrier
``max_t L(gamma(t)) - max(L(theta_a), L(theta_b))``: how far above the larger end value the
lowest level lambda lies for which the whole path is in Omega(lambda).

* :func:`interpolate`: the straight line (1 - t) theta_a + t theta_b (Goodfellow et al.'s
  one-dimensional probe; a barrier witnesses non-convexity, as in Malgouyres 2024);
* :func:`connect`: a curve trained to have low loss everywhere (Garipov, Izmailov, Podoprikhin,
  Vetrov, Wilson 2018, *Loss surfaces, mode connectivity, and fast ensembling of DNNs*): a
  Bezier curve ``sum_k C(K, k) t^k (1 - t)^(K - k) P_k`` or a polygonal chain through control
  points P_1..P_{K-1} (P_0 = theta_a, P_K = theta_b), the control points trained by stochastic
  gradient on ``E_{t ~ U[0,1]} L(gamma(t))``; or a nudged elastic band (Jonsson, Mills,
  Jacobsen 1998; used for networks by Draxler, Veschgini, Salmhofer, Hamprecht 2018,
  *Essentially no barriers in neural network energy landscape*): images moved by the loss
  gradient perpendicular to the path and springs along it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

import autodiff as ad
from autodiff.tensor import Tensor
from landscape._core import ScalarFn, flat
from landscape.params import ParamSpace
from landscape.surfaces import Measure, _matplotlib, _save, tabulate
from landscape.sweeps import progress_bar, sweep

METHODS = ("bezier", "polychain", "neb")


class Curve:
    """gamma(t) = sum_k w_k(t) P_k through the nodes P_0 = theta_a, P_1..P_{K-1} =
    ``controls``, P_K = theta_b: Bernstein weights ``C(K, k) t^k (1 - t)^(K - k)`` for
    "bezier", hat functions on t_k = k / K for "polychain" (a straight line without controls)."""

    def __init__(self, kind: str, theta_a: Tensor, theta_b: Tensor, controls: Tensor | None = None):
        if kind not in ("bezier", "polychain"):
            raise ValueError(f"Curve: kind must be 'bezier' or 'polychain', not {kind!r}")
        self.kind, self.theta_a, self.theta_b = kind, theta_a, theta_b
        empty = ad.zeros(0, theta_a.shape[0], dtype=theta_a.dtype, device=theta_a.device)
        self.controls = empty if controls is None else controls

    def weights(self, t: float, K: int) -> list[float]:
        """w_0(t), ..., w_K(t) for K - 1 control points."""
        if self.kind == "bezier":
            return [math.comb(K, k) * t**k * (1 - t) ** (K - k) for k in range(K + 1)]
        return [max(0.0, 1 - abs(K * t - k)) for k in range(K + 1)]

    def point(self, t: float, controls: Tensor | None = None) -> Tensor:
        """gamma(t), differentiable in ``controls`` (default: the curve's own)."""
        controls = self.controls if controls is None else controls
        nodes = ad.concatenate([self.theta_a.reshape(1, -1), controls, self.theta_b.reshape(1, -1)], axis=0)
        w = ad.tensor(self.weights(t, nodes.shape[0] - 1), dtype=nodes.dtype, device=nodes.device)
        return w @ nodes

    def __call__(self, t: float) -> Tensor:
        return self.point(t).detach()


@dataclass
class PathResult:
    """``t`` and ``values`` (name -> array: "loss" and the metrics) along the path; ``barrier``
    = max loss - max(end losses); ``curve`` (gamma(t) for any t, when the path is a
    :class:`Curve`); ``history``: the training objective per step (connect)."""

    t: np.ndarray
    values: dict[str, np.ndarray]
    barrier: float
    method: str
    curve: Callable[[float], Tensor] | None = None
    history: np.ndarray | None = None
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def loss(self) -> np.ndarray:
        return self.values["loss"]

    def to_dict(self) -> dict[str, Any]:
        out = {
            "method": self.method,
            "barrier": self.barrier,
            "t": self.t.tolist(),
            "values": {k: v.tolist() for k, v in self.values.items()},
            "info": self.info,
        }
        if self.history is not None:
            out["history"] = self.history.tolist()
        return out

    def save(self, folder: str | Path, *others: PathResult, name: str = "path") -> list[Path]:
        """``{name}.json`` (this path and ``others``) and ``{name}.png`` (:meth:`plot`)."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{name}.json"
        path.write_text(json.dumps([p.to_dict() for p in (self, *others)], indent=1))
        return [path, self.plot(folder / f"{name}.png", *others)]

    def plot(self, path: str | Path, *others: PathResult) -> Path:
        """The loss (and the metrics, on a second axis) along t for this path and ``others``."""
        Figure, Canvas = _matplotlib()
        fig = Figure(figsize=(5.5, 3.6))
        ax = fig.add_subplot()
        twin = ax.twinx() if len(self.values) > 1 else None
        for result, color in zip(
            (self, *others), ("tab:blue", "tab:orange", "tab:green", "tab:red"), strict=False
        ):
            label = f"{result.method} (barrier {result.barrier:.3g})"
            ax.plot(result.t, result.loss, color=color, label=label)
            for name, values in result.values.items():
                if name != "loss" and twin is not None:
                    twin.plot(result.t, values, color=color, ls="--", lw=0.8)
                    twin.set_ylabel(" / ".join(n for n in self.values if n != "loss") + " (dashed)")
        ax.set_xlabel("t")
        ax.set_ylabel("loss")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="center left")
        ax.set_title(self.info.get("title", "loss along the path"), fontsize=9)
        return _save(fig, Canvas, Path(path))


class _PathJob:
    def __init__(self, probe: Measure, curve: Callable[[float], Tensor]):
        self.probe, self.curve = probe, curve

    def __call__(self, ts: list[float]) -> list[dict[str, float]]:
        return [self.probe(self.curve(t)) for t in ts]


def evaluate_path(
    f: ScalarFn,
    curve: Callable[[float], Tensor],
    n: int = 41,
    method: str = "path",
    metrics: Mapping[str, ScalarFn] | None = None,
    refresh: Callable[[Tensor], None] | None = None,
    client: Any = None,
    workers: int | None = None,
    progress: bool = True,
) -> PathResult:
    """The loss (and ``metrics``) at n evenly spaced t in [0, 1] along ``curve(t) -> theta``,
    and the barrier; the points are jobs of a :func:`sweep` (``client``, ``workers``)."""
    if n < 2:
        raise ValueError(f"evaluate_path: needs n >= 2 points, got {n}")
    t = np.linspace(0.0, 1.0, n)
    chunks = [list(t[i : i + 8]) for i in range(0, n, 8)]
    job = _PathJob(Measure(f, metrics, refresh), curve)
    done = sweep(job, chunks, client=client, workers=workers, progress=progress, desc=method).values()
    values = tabulate([row for chunk in done for row in chunk], (n,))
    loss = values["loss"]
    return PathResult(t, values, float(loss.max() - max(loss[0], loss[-1])), method, curve)


def interpolate(f: ScalarFn, theta_a: Any, theta_b: Any, n: int = 41, **options: Any) -> PathResult:
    """The loss along the straight line ``(1 - t) theta_a + t theta_b`` at n points (options as
    :func:`evaluate_path`)."""
    theta_a, theta_b = _ends(theta_a, theta_b, "interpolate")
    return evaluate_path(f, Curve("polychain", theta_a, theta_b), n, method="linear", **options)


def _ends(theta_a: Any, theta_b: Any, name: str) -> tuple[Tensor, Tensor]:
    theta_a, theta_b = flat(theta_a, name), flat(theta_b, name)
    if theta_a.shape != theta_b.shape or theta_a.device != theta_b.device:
        raise ValueError(
            f"{name}: the two ends must have one shape and device, got {theta_a.shape} on "
            f"'{theta_a.device}' and {theta_b.shape} on '{theta_b.device}'"
        )
    return theta_a, theta_b.astype(theta_a.dtype) if theta_b.dtype != theta_a.dtype else theta_b


def connect(
    f: ScalarFn,
    theta_a: Any,
    theta_b: Any,
    method: str = "bezier",
    bends: int | None = None,
    steps: int = 300,
    lr: float = 0.05,
    batch: int = 4,
    spring: float = 1.0,
    seed: int | None = 0,
    n: int = 41,
    metrics: Mapping[str, ScalarFn] | None = None,
    refresh: Callable[[Tensor], None] | None = None,
    client: Any = None,
    workers: int | None = None,
    progress: bool = True,
) -> PathResult:
    """A path of low loss from ``theta_a`` to ``theta_b``, evaluated at n points.

    "bezier" / "polychain": ``bends`` control points (default 1) start on the straight line
    and are trained by Adam (learning rate ``lr``) on the mean loss at ``batch`` values of t
    drawn uniformly per step (seeded).  "neb": ``bends`` images (default 9) start on the line
    and move ``lr`` times the NEB force: minus the loss gradient perpendicular to the band plus
    ``spring`` times (|P_{i+1} - P_i| - |P_i - P_{i-1}|) along the tangent
    (P_{i+1} - P_{i-1}) / |.|; the path is the polygonal chain through them.
    ``refresh(theta)`` (e.g. :func:`batchnorm_refresh`) runs before each evaluation along the
    path, not during training."""
    if method not in METHODS:
        raise ValueError(f"connect: method must be one of {METHODS}, not {method!r}")
    theta_a, theta_b = _ends(theta_a, theta_b, "connect")
    bends = (9 if method == "neb" else 1) if bends is None else bends
    if bends < 1 or steps < 0 or batch < 1:
        raise ValueError(f"connect: needs bends >= 1, steps >= 0, batch >= 1; got {bends}, {steps}, {batch}")
    fractions = ad.tensor(
        [(k + 1) / (bends + 1) for k in range(bends)], dtype=theta_a.dtype, device=theta_a.device
    )
    start = theta_a + fractions.reshape(-1, 1) * (theta_b - theta_a)
    if method == "neb":
        curve, history = _neb(f, theta_a, theta_b, start, steps, lr, spring, progress)
    else:
        curve, history = _train_curve(f, method, theta_a, theta_b, start, steps, lr, batch, seed, progress)
    result = evaluate_path(f, curve, n, method, metrics, refresh, client, workers, progress)
    result.history = history
    result.info.update(
        bends=bends, steps=steps, lr=lr, seed=seed, **({"spring": spring} if method == "neb" else {})
    )
    return result


def _train_curve(
    f: ScalarFn,
    kind: str,
    theta_a: Tensor,
    theta_b: Tensor,
    start: Tensor,
    steps: int,
    lr: float,
    batch: int,
    seed: int | None,
    progress: bool,
) -> tuple[Curve, np.ndarray]:
    from nn.module import Parameter
    from nn.optim import Adam

    curve = Curve(kind, theta_a, theta_b)
    controls = Parameter(start)
    optimizer = Adam([controls], lr=lr)
    rng = np.random.default_rng(seed)  # the t samples: host numbers, not tensor data
    history = []
    bar = progress_bar(steps, progress, f"connect ({kind})")
    try:
        for _ in range(steps):
            ts = rng.uniform(0.0, 1.0, batch)
            objective = sum(f(curve.point(float(t), controls)) for t in ts) / batch
            optimizer.zero_grad()
            objective.backward()
            optimizer.step()
            history.append(objective.detach())
            bar.update()
    finally:
        bar.close()
    return Curve(kind, theta_a, theta_b, controls.detach()), _host_history(history)


def _host_history(history: list[Tensor]) -> np.ndarray:
    return ad.stack(history).numpy() if history else np.zeros(0)


def _neb(
    f: ScalarFn,
    theta_a: Tensor,
    theta_b: Tensor,
    start: Tensor,
    steps: int,
    lr: float,
    spring: float,
    progress: bool,
) -> tuple[Curve, np.ndarray]:
    images = start
    energy = ad.value_and_grad(lambda P: sum(f(P[i]) for i in range(P.shape[0])))
    history = []
    bar = progress_bar(steps, progress, "connect (neb)")
    try:
        for _ in range(steps):
            value, gradient = energy(images)
            nodes = ad.concatenate([theta_a.reshape(1, -1), images, theta_b.reshape(1, -1)], axis=0)
            tangent = nodes[2:] - nodes[:-2]
            tangent = tangent / ad.norm(tangent, axis=1, keepdims=True)
            lengths = ad.norm(nodes[1:] - nodes[:-1], axis=1, keepdims=True)
            along = ad.sum(gradient * tangent, axis=1, keepdims=True)
            force = -(gradient - along * tangent) + spring * (lengths[1:] - lengths[:-1]) * tangent
            images = (images + lr * force).detach()
            history.append(value.detach() / images.shape[0])
            bar.update()
    finally:
        bar.close()
    return Curve("polychain", theta_a, theta_b, images), _host_history(history)


class BatchNormRefresh:
    """``refresh(theta)``: recompute the running statistics of every BatchNorm layer of the
    model for the parameters theta, from one pass over ``X`` as a single batch in training mode
    (momentum 1), as Garipov et al. do at each point of a curve.  The model's parameters, mode
    and momenta are restored; its running statistics are those of theta afterwards."""

    def __init__(self, space: ParamSpace, X: Tensor):
        from nn.layers import BatchNorm1d

        self.space, self.X = space, X
        self.norms = [m for m in space.model.modules() if isinstance(m, BatchNorm1d)]

    def __call__(self, theta: Tensor) -> None:
        model = self.space.model
        saved, training = self.space.theta(), model.training
        momenta = [m.momentum for m in self.norms]
        try:
            for m in self.norms:
                m.momentum = 1.0
            self.space.assign(theta)
            model.train()
            with ad.no_grad():
                model(self.X)
        finally:
            for m, momentum in zip(self.norms, momenta, strict=True):
                m.momentum = momentum
            model.train(training)
            self.space.assign(saved)


def batchnorm_refresh(model: Any, X: Any) -> BatchNormRefresh | None:
    """A :class:`BatchNormRefresh` for ``model`` (Module or ParamSpace) and inputs X, or None
    when the model has no BatchNorm layer."""
    space = model if isinstance(model, ParamSpace) else ParamSpace(model)
    refresh = BatchNormRefresh(space, X)
    return refresh if refresh.norms else None
