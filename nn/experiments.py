"""Ready-made experiments: train a classifier on a named data set and write its results
(model, training checkpoint, ``metrics.json``, loss/accuracy curves as PNG).  The
``autodiff train`` command calls :func:`train_classifier`.

Defaults depend on the data set and model (:func:`defaults`): for MNIST-1D they are those of
its reference implementation (Greydanus 2020: raw signals, Adam, learning rate 0.01, batches of
100, 6000 steps = 150 epochs; logistic regression, an MLP 40-100-100-10, a CNN of three 1-D convolutions
with 25 channels, a bidirectional GRU with 6 hidden units read at every step).
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import autodiff as ad
from autodiff.random import Generator
from autodiff.tensor import Tensor
from nn import data as datasets
from nn import functional as F
from nn import optim
from nn.activations import activation as make_activation
from nn.builders import MLP
from nn.checkpoint import load_checkpoint, read_checkpoint_extra, save_checkpoint
from nn.containers import Sequential
from nn.io import save
from nn.layers import Conv1d, Conv2d, Flatten, Linear, MaxPool2d
from nn.module import Module
from nn.recurrent import GRU
from nn.train import Callback, evaluate, fit

DATASETS = ("digits", "mnist", "fashion-mnist", "mnist1d", "moons", "spirals", "gaussians")


class ConfigError(ValueError):
    """A training configuration that cannot work (data, architecture, memory), found before
    any training or writing."""


MODELS = ("logistic", "mlp", "cnn", "gru")
OPTIMIZERS = ("sgd", "adam", "adamw", "rmsprop")
CHECKPOINT = "checkpoint.npz"

_GENERIC = dict(epochs=30, lr=0.1, optimizer="sgd", batch_size=32, standardize=True)
_MNIST1D = dict(epochs=150, lr=0.01, optimizer="adam", batch_size=100, standardize=False)
_ARCHS = {
    "digits": {"mlp": [64, 128, 10], "cnn": [16, 32, 10], "logistic": [64, 10]},
    "mnist1d": {"logistic": [40, 10], "mlp": [40, 100, 100, 10], "cnn": [25, 25, 25, 10], "gru": [6, 10]},
}


def defaults(data: str, model: str) -> dict[str, Any]:
    """The training defaults (arch, epochs, lr, optimizer, batch_size, standardize) for a data set
    and model."""
    base = _MNIST1D if data == "mnist1d" else _GENERIC
    return {**base, "arch": _ARCHS.get(data, {}).get(model, [64, 128, 10])}


class SequenceClassifier(Module):
    """A recurrent network read at every step: signals (N, C, L) -> the (N, L, C) sequence ->
    GRU outputs (N, L, directions * hidden) -> flattened -> Linear to the classes (the MNIST-1D
    reference GRU)."""

    def __init__(
        self,
        channels: int,
        length: int,
        hidden: int,
        classes: int,
        bidirectional: bool = True,
        generator: Generator | None = None,
        dtype: Any = None,
    ):
        super().__init__()
        self.rnn = GRU(
            channels, hidden, batch_first=True, bidirectional=bidirectional, generator=generator, dtype=dtype
        )
        self.linear = Linear(length * hidden * self.rnn.directions, classes, generator=generator, dtype=dtype)

    def forward(self, x: Tensor) -> Tensor:
        out, _ = self.rnn(ad.swapaxes(x, 1, 2))
        return self.linear(ad.flatten(out, 1))


def load_data(
    name: str, root: str | None = None, images: bool = False, seed: int = 0, dtype: Any = None
) -> tuple[datasets.TensorDataset, datasets.TensorDataset]:
    """(train, test) of a named data set; ``images`` gives (N, C, H, W) inputs for a CNN, and
    (N, 1, 40) signals for MNIST-1D.  Synthetic sets (moons, spirals, gaussians: 2-D points, 1000
    of them) are split 80/20 by seed."""
    if name == "digits":
        return datasets.digits(flatten=not images, dtype=dtype)
    if name in ("mnist", "fashion-mnist"):
        if root is None or not Path(root).is_dir():
            where = "give their folder (--root)" if root is None else f"{root!r} is not a folder"
            raise ConfigError(f"data '{name}' is read from local IDX files: {where}")
        try:
            return datasets.mnist(root, flatten=not images, dtype=dtype)
        except (OSError, ValueError) as error:
            raise ConfigError(f"data '{name}' from {root}: {error}") from None
    if name == "mnist1d":
        train, test = datasets.mnist1d(dtype=dtype)  # the standard MNIST-1D (the package's seed)
        if images:
            train, test = (
                datasets.TensorDataset(ad.expand_dims(x, 1), y) for x, y in (train.tensors, test.tensors)
            )
        return train, test
    if images:
        raise ConfigError(f"data '{name}' has no images: use the mlp or logistic model")
    makers = {
        "moons": lambda: datasets.two_moons(1000, noise=0.15, seed=seed, dtype=dtype),
        "spirals": lambda: datasets.spirals(1000, seed=seed, dtype=dtype),
        "gaussians": lambda: datasets.gaussian_mixture(1000, centers=4, seed=seed, dtype=dtype),
    }
    if name not in makers:
        raise ConfigError(f"unknown data set {name!r}: use one of {', '.join(DATASETS)}")
    return datasets.split(makers[name](), 0.2, seed=seed)


def build_model(
    kind: str,
    arch: Sequence[int],
    activation: str,
    input_shape: tuple[int, ...],
    generator: Generator | None = None,
    dtype: Any = None,
) -> Module:
    """``mlp``: MLP(arch), arch = (n_0, ..., n_H) with n_0 the input size; ``logistic``: the
    same with no hidden layer, arch = (n_0, classes).  ``cnn``: arch = (c_1, ..., c_k, classes);
    on images (C, H, W), k blocks conv 3x3 (padding 1) -> activation -> max-pool 2x2; on signals
    (C, L), k blocks conv (kernel 5 first, then 3; stride 2, padding 1) -> activation, as the
    MNIST-1D reference CNN; then Flatten and Linear to the classes.  ``gru``: arch = (hidden,
    classes), a :class:`SequenceClassifier` of signals (C, L)."""
    arch = [int(n) for n in arch]
    if kind in ("mlp", "logistic"):
        if kind == "logistic" and len(arch) != 2:
            raise ConfigError(f"logistic: arch must be (inputs, classes), got {arch}")
        if len(input_shape) != 1 or arch[0] != input_shape[0]:
            raise ConfigError(
                f"{kind}: the architecture starts with {arch[0]} inputs but the data's inputs have shape "
                f"{input_shape}; make the first size {input_shape[-1] if input_shape else '?'}"
            )
        return MLP(arch, activation, generator=generator, dtype=dtype)
    if kind == "gru":
        if len(input_shape) != 2 or len(arch) != 2:
            raise ConfigError(
                f"gru: needs signals (C, L) and arch (hidden, classes); got {input_shape}, {arch}"
            )
        return SequenceClassifier(*input_shape, *arch, generator=generator, dtype=dtype)
    if kind != "cnn":
        raise ConfigError(f"unknown model {kind!r}: use one of {', '.join(MODELS)}")
    if len(input_shape) not in (2, 3) or len(arch) < 2:
        raise ConfigError(
            f"cnn: needs images (C, H, W) or signals (C, L) and arch (c_1, ..., classes); got "
            f"{input_shape}, {arch}"
        )
    channels, *size = input_shape
    layers: list[Module] = []
    for k, c in enumerate(arch[:-1]):
        if len(size) == 1:
            kernel = 5 if k == 0 else 3
            layers += [Conv1d(channels, c, kernel, 2, 1, generator=generator, dtype=dtype)]
            size = [(size[0] + 2 - kernel) // 2 + 1]
        else:
            layers += [Conv2d(channels, c, 3, padding=1, generator=generator, dtype=dtype)]
        layers.append(make_activation(activation))
        if len(size) == 2 and min(size) >= 2:
            layers.append(MaxPool2d(2))
            size = [n // 2 for n in size]
        channels = c
    layers += [Flatten(), Linear(channels * math.prod(size), arch[-1], generator=generator, dtype=dtype)]
    return Sequential(*layers)


def memory_estimate(
    kind: str, arch: Sequence[int], input_shape: tuple[int, ...], batch_size: int, itemsize: int
) -> int:
    """Bytes training will hold, roughly: parameters times 4 (values, gradients, two optimiser
    buffers) plus the activations of a training batch and of an evaluation batch (1024), each
    kept for the backward pass (times 3: output, adjoint, a temporary).  A CNN's layers count
    their im2col columns (9 C H W per example)."""
    arch = [int(n) for n in arch]
    if kind == "cnn" and len(input_shape) == 3:
        (channels, height, width), params, per_example = input_shape, 0, 0
        for c in arch[:-1]:
            params += 9 * channels * c + c
            per_example += (9 * channels + 2 * c) * height * width
            height, width, channels = max(height // 2, 1), max(width // 2, 1), c
        params += channels * height * width * arch[-1] + arch[-1]
    else:
        params = sum(a * b + b for a, b in zip(arch[:-1], arch[1:], strict=False))
        per_example = 2 * sum(arch)
    return itemsize * (4 * params + 3 * (batch_size + 1024) * per_example)


def available_memory() -> int | None:
    """Bytes of memory free now (Linux/Unix ``sysconf``), or None when it cannot be told."""
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, OSError, ValueError):
        return None


def _check_config(kind: str, arch: Sequence[int], train_set: Any, test_set: Any, batch_size: int) -> None:
    """Refuse (ConfigError) before building the model: an output size that is not the number of
    classes, or a model that does not fit in memory."""
    labels = [int(d.tensors[-1].max().item()) for d in (train_set, test_set) if len(d)]
    classes = max(labels) + 1 if labels else arch[-1]
    if arch[-1] != classes:
        raise ConfigError(
            f"{kind}: the architecture ends with {arch[-1]} outputs but the data has {classes} classes "
            f"(labels 0 ... {classes - 1}); make the last size {classes}"
        )
    x = train_set.tensors[0]
    need, free = memory_estimate(kind, arch, x.shape[1:], batch_size, x.dtype.itemsize), available_memory()
    if free is not None and need > free:
        raise ConfigError(
            f"{kind} {list(arch)}: training needs about {need / 2**30:.3g} GiB but {free / 2**30:.3g} GiB "
            "is free; use smaller layers or a smaller --batch-size"
        )


def make_optimizer(
    name: str, params: Any, lr: float, momentum: float = 0.0, weight_decay: float = 0.0
) -> Any:
    if name == "sgd":
        return optim.SGD(params, lr, momentum=momentum, weight_decay=weight_decay)
    if name == "adam":
        return optim.Adam(params, lr, weight_decay=weight_decay)
    if name == "adamw":
        return optim.AdamW(params, lr, weight_decay=weight_decay)
    if name == "rmsprop":
        return optim.RMSprop(params, lr, momentum=momentum, weight_decay=weight_decay)
    raise ValueError(f"unknown optimizer {name!r}: use one of {', '.join(OPTIMIZERS)}")


class _SaveEveryEpoch(Callback):
    """Write the training checkpoint after every epoch, with the configuration and the history
    so far (so that a stopped run can be resumed)."""

    def __init__(self, path: Path, optimizer: Any, generator: Generator, config: dict, records: list):
        self.path, self.optimizer, self.generator = path, optimizer, generator
        self.config, self.records = config, list(records)

    def on_epoch_end(self, epoch: int, model: Module, record: dict[str, Any]) -> None:
        self.records.append(record)
        generators = {"train": self.generator}
        save_checkpoint(
            self.path, model, self.optimizer, generators=generators, config=self.config, history=self.records
        )


def train_classifier(
    data: str = "digits",
    arch: Sequence[int] | None = None,
    model: str = "mlp",
    activation: str = "relu",
    epochs: int | None = None,
    lr: float | None = None,
    optimizer: str | None = None,
    momentum: float = 0.0,
    weight_decay: float = 0.0,
    batch_size: int | None = None,
    seed: int = 0,
    standardize: bool | None = None,
    root: str | None = None,
    dtype: str = "float32",
    out: str | Path | None = None,
    progress: bool = True,
    resume: str | Path | None = None,
) -> dict[str, Any]:
    """Train a classifier with cross-entropy and mini-batch ``optimizer``; returns the metrics
    (per-epoch history, final ``train_accuracy`` / ``test_accuracy`` in eval mode, sizes, time).
    Arguments left None take :func:`defaults` for the data set and model.  With ``out``: writes
    ``model.npz`` (nn.save), ``checkpoint.npz`` (after every epoch), ``metrics.json`` and
    ``curves.png`` there.  The seed fixes the initial weights and the shuffling.
    ``standardize`` maps inputs to ``(x - mean) / max(std, 0.1)`` with the training set's
    per-feature statistics (recorded in the metrics as ``input_mean`` / ``input_scale``: apply
    them before using the model; ``nn.data`` itself does not standardise); the default is to
    standardise, except MNIST-1D, whose reference implementation trains on the raw signals.

    ``resume``: the folder of an earlier run; its saved configuration is used (``epochs`` may
    set a new total), and training continues after its last completed epoch exactly as if it
    had never stopped; results go to that folder unless ``out`` is given."""
    given = {k: v for k, v in locals().items() if k not in ("out", "progress", "resume")}
    if resume is not None:
        config = read_checkpoint_extra(Path(resume) / CHECKPOINT)["config"]
        config["epochs"] = config["epochs"] if epochs is None else epochs
        out = resume if out is None else out
    else:
        config = {**given, **{k: v for k, v in defaults(data, model).items() if given[k] is None}}
    config["arch"] = [int(n) for n in config["arch"]]
    c = config
    generator = Generator(c["seed"])
    signals = c["model"] in ("cnn", "gru")
    train_set, test_set = load_data(c["data"], c["root"], images=signals, seed=c["seed"], dtype=c["dtype"])
    if c["standardize"]:
        train_set, test_set = datasets.standardize(train_set, test_set, min_std=0.1)
    _check_config(c["model"], c["arch"], train_set, test_set, c["batch_size"])
    shape = train_set.tensors[0].shape[1:]
    net = build_model(c["model"], c["arch"], c["activation"], shape, generator, c["dtype"])
    opt = make_optimizer(c["optimizer"], net.parameters(), c["lr"], c["momentum"], c["weight_decay"])
    loader = datasets.DataLoader(train_set, c["batch_size"], shuffle=True, generator=generator)
    test_loader = datasets.DataLoader(test_set, 1024)
    records: list[dict[str, Any]] = []
    if resume is not None:
        extra = load_checkpoint(Path(resume) / CHECKPOINT, net, opt, generators={"train": generator})
        records = extra["history"]
    folder = None if out is None else Path(out)
    saving = [] if folder is None else [_SaveEveryEpoch(folder / CHECKPOINT, opt, generator, config, records)]
    start = time.perf_counter()
    history = fit(
        net,
        F.cross_entropy,
        opt,
        loader,
        c["epochs"],
        val_loader=test_loader,
        callbacks=saving,
        progress=progress,
        initial_epoch=len(records),
    )
    history.records = records + history.records
    train_time = time.perf_counter() - start
    final_train = evaluate(net, F.cross_entropy, datasets.DataLoader(train_set, 1024))
    final_test = evaluate(net, F.cross_entropy, test_loader)
    metrics: dict[str, Any] = {
        "config": config,
        "parameters": net.num_parameters(),
        "train_examples": len(train_set),
        "test_examples": len(test_set),
        "train_time_s": train_time,
        "train_loss": final_train["loss"],
        "train_accuracy": final_train["accuracy"],
        "test_loss": final_test["loss"],
        "test_accuracy": final_test["accuracy"],
        "history": history.to_dict(),
    }
    if c["standardize"]:
        metrics.update({f"input_{k}": train_set.meta[k].numpy().tolist() for k in ("mean", "scale")})
    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)
        metrics["checkpoint"] = str(save(net, folder / "model.npz"))
        title = f"{c['model']} {c['arch']} on {c['data']}: test accuracy {final_test['accuracy']:.2%}"
        history.plot(title).savefig(folder / "curves.png", dpi=120)
        metrics["curves"] = str(folder / "curves.png")
        (folder / "metrics.json").write_text(json.dumps(metrics, indent=2))
    return metrics
