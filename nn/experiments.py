"""Ready-made experiments: train a classifier on a named data set and write its results
(checkpoint, ``metrics.json``, loss/accuracy curves as PNG).  The ``autodiff train`` command
calls :func:`train_classifier`.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from autodiff.random import Generator
from nn import data as datasets
from nn import functional as F
from nn import optim
from nn.activations import activation as make_activation
from nn.builders import MLP
from nn.containers import Sequential
from nn.io import save
from nn.layers import Conv2d, Flatten, Linear, MaxPool2d
from nn.module import Module
from nn.train import History, evaluate, fit

DATASETS = ("digits", "mnist", "fashion-mnist", "mnist1d", "moons", "spirals", "gaussians")


class ConfigError(ValueError):
    """A training configuration that cannot work (data, architecture, memory), found before
    any training or writing."""


MODELS = ("mlp", "cnn")
OPTIMIZERS = ("sgd", "adam", "adamw", "rmsprop")


def load_data(
    name: str, root: str | None = None, images: bool = False, seed: int = 0, dtype: Any = None
) -> tuple[datasets.TensorDataset, datasets.TensorDataset]:
    """(train, test) of a named data set; ``images`` gives (N, C, H, W) inputs for a CNN.
    Synthetic sets (moons, spirals, gaussians: 2-D points, 1000 of them) are split 80/20 by seed."""
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
    if images:
        raise ConfigError(f"data '{name}' has no images: use the mlp model")
    if name == "mnist1d":
        return datasets.mnist1d(dtype=dtype)  # the standard MNIST-1D (the package's seed)
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
    """``mlp``: MLP(arch), arch = (n_0, ..., n_H) with n_0 the input size.  ``cnn``: arch =
    (c_1, ..., c_k, classes): k blocks conv 3x3 (padding 1) -> activation -> max-pool 2x2, then
    Flatten and Linear to the classes."""
    arch = [int(n) for n in arch]
    if kind == "mlp":
        if len(input_shape) != 1 or arch[0] != input_shape[0]:
            raise ConfigError(
                f"mlp: the architecture starts with {arch[0]} inputs but the data's inputs have shape "
                f"{input_shape}; make the first size {input_shape[-1] if input_shape else '?'}"
            )
        return MLP(arch, activation, generator=generator, dtype=dtype)
    if kind != "cnn":
        raise ConfigError(f"unknown model {kind!r}: use one of {', '.join(MODELS)}")
    if len(input_shape) != 3 or len(arch) < 2:
        raise ConfigError(
            f"cnn: needs image inputs (C, H, W) and arch (c_1, ..., classes); got {input_shape}, {arch}"
        )
    channels, height, width = input_shape
    layers: list[Module] = []
    for c in arch[:-1]:
        layers += [
            Conv2d(channels, c, 3, padding=1, generator=generator, dtype=dtype),
            make_activation(activation),
        ]
        if min(height, width) >= 2:
            layers.append(MaxPool2d(2))
            height, width = height // 2, width // 2
        channels = c
    layers += [Flatten(), Linear(channels * height * width, arch[-1], generator=generator, dtype=dtype)]
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


def plot_history(history: History, path: str | Path, title: str = "") -> Path:
    """Loss and accuracy per epoch (training, and held-out when recorded) as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    columns = history.to_dict()
    epochs = columns["epoch"]
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, key in zip(axes, ("loss", "accuracy"), strict=True):
        for prefix, label in (("", "train (running)"), ("val_", "test")):
            if prefix + key in columns:
                ax.plot(epochs, columns[prefix + key], marker=".", label=label)
        ax.set_xlabel("epoch")
        ax.set_ylabel(key)
        ax.grid(alpha=0.3)
        ax.legend()
    axes[0].set_yscale("log")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return Path(path)


def train_classifier(
    data: str = "digits",
    arch: Sequence[int] = (64, 128, 10),
    model: str = "mlp",
    activation: str = "relu",
    epochs: int = 30,
    lr: float = 0.1,
    optimizer: str = "sgd",
    momentum: float = 0.0,
    weight_decay: float = 0.0,
    batch_size: int = 32,
    seed: int = 0,
    standardize: bool = True,
    root: str | None = None,
    dtype: str = "float32",
    out: str | Path | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Train a classifier with cross-entropy and mini-batch ``optimizer``; returns the metrics
    (per-epoch history, final ``train_accuracy`` / ``test_accuracy`` in eval mode, sizes, time).
    With ``out``: writes ``model.npz`` (nn.save), ``metrics.json`` and ``curves.png`` there.
    The seed fixes the initial weights and the shuffling.  ``standardize`` maps inputs to
    ``(x - mean) / max(std, 0.1)`` with the training set's per-feature statistics (recorded in
    the metrics as ``input_mean`` / ``input_scale``: apply them before using the checkpoint)."""
    config = {k: v for k, v in locals().items() if k not in ("out", "progress")}
    config["arch"] = [int(n) for n in arch]
    generator = Generator(seed)
    train_set, test_set = load_data(data, root, images=model == "cnn", seed=seed, dtype=dtype)
    if standardize:
        train_set, test_set = datasets.standardize(train_set, test_set, min_std=0.1)
    _check_config(model, config["arch"], train_set, test_set, batch_size)
    net = build_model(model, arch, activation, train_set.tensors[0].shape[1:], generator, dtype)
    opt = make_optimizer(optimizer, net.parameters(), lr, momentum, weight_decay)
    loader = datasets.DataLoader(train_set, batch_size, shuffle=True, generator=generator)
    test_loader = datasets.DataLoader(test_set, 1024)
    start = time.perf_counter()
    history = fit(net, F.cross_entropy, opt, loader, epochs, val_loader=test_loader, progress=progress)
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
    if standardize:
        metrics.update({f"input_{k}": train_set.meta[k].numpy().tolist() for k in ("mean", "scale")})
    if out is not None:
        folder = Path(out)
        folder.mkdir(parents=True, exist_ok=True)
        metrics["checkpoint"] = str(save(net, folder / "model.npz"))
        metrics["curves"] = str(
            plot_history(
                history,
                folder / "curves.png",
                f"{model} {config['arch']} on {data}: test accuracy {final_test['accuracy']:.2%}",
            )
        )
        (folder / "metrics.json").write_text(json.dumps(metrics, indent=2))
    return metrics
