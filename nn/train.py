"""The training loop: ``fit`` runs epochs of mini-batch steps theta <- theta - step(grad L_B(theta))
and records, per epoch, the mean loss, the accuracy (for class-index targets) and the mean
gradient norm ||grad L_B(theta)|| (the stationarity measure of
Scaman 2024); callbacks run landscape measurements during
training.  Per-step quantities stay on the device and are read back once per epoch.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import autodiff as ad
from autodiff import backend
from autodiff.tensor import Tensor
from nn import functional as F
from nn.compiled import CompiledStep
from nn.module import Module
from nn.optim.lr_scheduler import ReduceLROnPlateau


class StopTraining(Exception):
    """Raise from a callback to end training after the current step or epoch."""


class Callback:
    """Hooks into :func:`fit`; override what you need.  ``on_epoch_end`` may return a dict of
    measurements, added to that epoch's record (e.g. the Hessian's top eigenvalue)."""

    def on_train_begin(self, model: Module) -> None:
        """Before the first step."""

    def on_step_end(self, step: int, model: Module, loss: Tensor) -> None:
        """After each optimiser step (``loss`` is the mini-batch loss, detached)."""

    def on_epoch_end(self, epoch: int, model: Module, record: dict[str, Any]) -> dict[str, Any] | None:
        """After each epoch, with the epoch's record so far."""
        return None


class _FunctionCallback(Callback):
    def __init__(self, fn: Callable[[int, Module, dict[str, Any]], dict[str, Any] | None]):
        self.fn = fn

    def on_epoch_end(self, epoch: int, model: Module, record: dict[str, Any]) -> dict[str, Any] | None:
        return self.fn(epoch, model, record)


class History:
    """One record (a dict) per epoch: ``history["loss"]`` is the list of per-epoch losses."""

    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []

    def __getitem__(self, key: str) -> list[Any]:
        if not self.records or key not in self.records[-1]:
            known = sorted(self.records[-1]) if self.records else []
            raise KeyError(f"History has no '{key}' (recorded: {', '.join(known) or 'nothing yet'})")
        return [r.get(key) for r in self.records]

    def __len__(self) -> int:
        return len(self.records)

    def keys(self) -> list[str]:
        return list(self.records[-1]) if self.records else []

    def to_dict(self) -> dict[str, list[Any]]:
        """Column form, for JSON: ``{"loss": [...], "accuracy": [...], ...}``."""
        return {key: self[key] for key in self.keys()}

    def plot(self, title: str = "") -> Any:
        """Loss (log scale) and accuracy per epoch, training and held-out when recorded, as a
        ``matplotlib.figure.Figure`` made without pyplot (the backend is left alone: save it with
        ``fig.savefig``, or show it in a notebook)."""
        from matplotlib.figure import Figure

        columns = self.to_dict()
        fig = Figure(figsize=(10, 4))
        axes = fig.subplots(1, 2)
        for ax, key in zip(axes, ("loss", "accuracy"), strict=True):
            for prefix, label in (("", "train (running)"), ("val_", "held out")):
                if prefix + key in columns:
                    ax.plot(columns["epoch"], columns[prefix + key], marker=".", label=label)
            ax.set_xlabel("epoch")
            ax.set_ylabel(key)
            ax.grid(alpha=0.3)
            if ax.lines:
                ax.legend()
        axes[0].set_yscale("log")
        fig.suptitle(title)
        fig.tight_layout()
        return fig

    def __repr__(self) -> str:
        last = ", ".join(
            f"{k}={v:.4g}"
            for k, v in (self.records[-1] if self.records else {}).items()
            if isinstance(v, float)
        )
        return f"History({len(self)} epochs{': ' + last if last else ''})"


def _classification(out: Tensor, target: Tensor) -> bool:
    return out.ndim == 2 and target.ndim == 1 and target.dtype.kind in "iu"


def _split_batch(batch: Sequence[Tensor]) -> tuple[tuple[Tensor, ...], Tensor]:
    if len(batch) < 2:
        raise ValueError("fit: each batch must hold inputs and a target (the last tensor)")
    return tuple(batch[:-1]), batch[-1]


def evaluate(model: Module, loss_fn: Callable, loader: Iterable) -> dict[str, float]:
    """Mean loss (and accuracy for class-index targets) over a loader, in eval mode, no graph.
    The model's mode is restored afterwards."""
    was_training = model.training
    model.eval()
    total = correct = None
    count = 0
    try:
        with ad.no_grad():
            for batch in loader:
                inputs, target = _split_batch(batch)
                out = model(*inputs)
                n = len(target)
                loss = loss_fn(out, target).data * n
                total = loss if total is None else total + loss
                if _classification(out, target):
                    hits = (F.accuracy(out, target) * n).data
                    correct = hits if correct is None else correct + hits
                count += n
    finally:
        model.train(was_training)
    if count == 0:
        raise ValueError("evaluate: the loader gave no batch")
    result = {"loss": total.item() / count}
    if correct is not None:
        result["accuracy"] = correct.item() / count
    return result


def _progress(total: int, enabled: bool) -> Any:
    if not enabled:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:  # tqdm is optional: no bar
        return None
    return tqdm(total=total, unit="step", leave=False, dynamic_ncols=True)


def fit(
    model: Module,
    loss_fn: Callable[[Tensor, Tensor], Tensor],
    optimizer: Any,
    train_loader: Iterable,
    epochs: int,
    val_loader: Iterable | None = None,
    callbacks: Sequence[Callback | Callable] = (),
    scheduler: Any = None,
    progress: bool = True,
    initial_epoch: int = 0,
    compile: bool = False,  # noqa: A002  (as torch.compile)
) -> History:
    """Train ``model`` for ``epochs`` passes over ``train_loader`` (batches ``(*inputs, target)``).

    Each record holds ``epoch``, ``loss`` (mean over examples of the mini-batch losses),
    ``accuracy`` (class-index targets), ``grad_norm`` (mean over steps of the global gradient
    norm), ``lr``, ``time`` (seconds), ``val_loss``/``val_accuracy`` with a ``val_loader``, and
    what callbacks return.  ``scheduler.step()`` runs once per epoch (``ReduceLROnPlateau`` is
    given ``val_loss``, or the training loss without a ``val_loader``).  ``initial_epoch``: the
    epochs already done (after resuming from a checkpoint): training runs epochs
    ``initial_epoch + 1 .. epochs``.  A callback raising
    :class:`StopTraining` ends training early; the history so far is returned.  ``compile``: each
    step's loss, output and gradient come from one compiled program (:class:`nn.compiled.CompiledStep`),
    the same numbers as the eager step.
    """
    if not isinstance(epochs, int) or isinstance(epochs, bool) or epochs < 0:
        raise ValueError(f"fit: epochs must be a non-negative int, got {epochs!r}")
    hooks = [c if isinstance(c, Callback) else _FunctionCallback(c) for c in callbacks]
    params = list(model.parameters())
    compiled = CompiledStep(model, loss_fn) if compile else None
    history = History()
    steps = len(train_loader) if hasattr(train_loader, "__len__") else 0
    bar = _progress(max(epochs - initial_epoch, 0) * steps, progress)
    step = 0
    try:
        for hook in hooks:
            hook.on_train_begin(model)
        for epoch in range(initial_epoch, epochs):
            model.train()
            start = time.perf_counter()
            total = correct = grad_norms = None
            count = batches = 0
            stop = False
            for batch in train_loader:
                inputs, target = _split_batch(batch)
                if compiled is not None:
                    out, loss = compiled(inputs, target)
                else:
                    out = model(*inputs)
                    loss = loss_fn(out, target)
                    optimizer.zero_grad()
                    loss.backward()
                squares = [(p.grad.data * p.grad.data).sum() for p in params if p.grad is not None]
                norm = backend.array_module(loss.data).sqrt(sum(squares)) if squares else loss.data * 0
                optimizer.step()
                n = len(target)
                total = loss.data * n if total is None else total + loss.data * n
                grad_norms = norm if grad_norms is None else grad_norms + norm
                if _classification(out, target):
                    with ad.no_grad():
                        hits = (F.accuracy(out, target) * n).data
                    correct = hits if correct is None else correct + hits
                count += n
                batches += 1
                step += 1
                if bar is not None:
                    bar.update()
                try:
                    for hook in hooks:
                        hook.on_step_end(step, model, loss.detach())
                except StopTraining:
                    stop = True
                    break
            if count == 0:
                raise ValueError("fit: the training loader gave no batch")
            record: dict[str, Any] = {
                "epoch": epoch + 1,
                "loss": total.item() / count,
                **({"accuracy": correct.item() / count} if correct is not None else {}),
                "grad_norm": grad_norms.item() / batches,
                "lr": optimizer.param_groups[0]["lr"],
            }
            if not math.isfinite(record["loss"]):
                raise FloatingPointError(
                    f"fit: the training loss is {record['loss']} in epoch {epoch + 1}: training diverged; "
                    "lower the learning rate"
                )
            if val_loader is not None:
                record.update({f"val_{k}": v for k, v in evaluate(model, loss_fn, val_loader).items()})
            if isinstance(scheduler, ReduceLROnPlateau):
                scheduler.step(record.get("val_loss", record["loss"]))
            elif scheduler is not None:
                scheduler.step()
            record["time"] = time.perf_counter() - start
            try:
                for hook in hooks:
                    record.update(hook.on_epoch_end(epoch + 1, model, record) or {})
            except StopTraining:
                stop = True
            history.records.append(record)
            if bar is not None:
                bar.set_postfix(
                    {k: f"{v:.4g}" for k, v in record.items() if k in ("loss", "accuracy", "val_accuracy")}
                )
            if stop:
                break
    finally:
        if bar is not None:
            bar.close()
    return history
