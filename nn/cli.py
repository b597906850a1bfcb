"""The ``train`` sub-command: ``autodiff train --data digits --arch 64,128,10 --activation relu
--epochs 30 --lr 0.1 --seed 0 --out runs/digits``.  ``autodiff/cli.py`` registers it with
:func:`add_train_parser`; ``python -m nn.cli train ...`` runs it alone."""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from typing import Any

from nn.experiments import DATASETS, MODELS, OPTIMIZERS, train_classifier


def _sizes(text: str) -> list[int]:
    try:
        sizes = [int(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--arch takes comma-separated integers such as 64,128,10, not {text!r}"
        ) from None
    if len(sizes) < 2 or any(n < 1 for n in sizes):
        raise argparse.ArgumentTypeError(f"--arch needs at least two positive sizes, got {text!r}")
    return sizes


def add_train_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``train`` (and its handler, in ``func``) on an argparse sub-parser collection."""
    parser = subparsers.add_parser(
        "train",
        help="train a classifier (MLP or small CNN) and write checkpoint, metrics.json and curves",
        description="Train a classifier with cross-entropy; writes model.npz, metrics.json "
        "(per-epoch history, final train_accuracy and test_accuracy) and curves.png to --out.",
    )
    parser.add_argument("--data", choices=DATASETS, default="digits", help="data set (default: digits)")
    parser.add_argument("--root", help="folder of the IDX files for mnist / fashion-mnist")
    parser.add_argument(
        "--model",
        choices=MODELS,
        default="mlp",
        help="mlp, logistic, cnn (arch = channels..., classes) or gru (arch = hidden, classes)",
    )
    parser.add_argument(
        "--arch", type=_sizes, help="layer sizes, e.g. 64,128,10 (default: per data set and model)"
    )
    parser.add_argument(
        "--activation", default="relu", help="relu, leaky_relu, tanh, sigmoid, softplus, gelu"
    )
    parser.add_argument("--epochs", type=int, help="default: 30 (mnist1d: 150)")
    parser.add_argument("--lr", type=float, help="default: 0.1 (mnist1d: 0.01)")
    parser.add_argument("--optimizer", choices=OPTIMIZERS, help="default: sgd (mnist1d: adam)")
    parser.add_argument("--momentum", type=float, default=0.0)
    parser.add_argument("--weight-decay", type=float, default=0.0)
    parser.add_argument("--batch-size", type=int, help="default: 32 (mnist1d: 100)")
    parser.add_argument("--seed", type=int, default=0, help="fixes initial weights and shuffling")
    parser.add_argument(
        "--no-standardize",
        action="store_true",
        help="keep raw inputs (default: standardise per feature, except mnist1d, raw as in its reference)",
    )
    parser.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    parser.add_argument("--out", help="folder for model.npz, metrics.json and curves.png")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument(
        "--resume",
        metavar="DIR",
        help="continue the run saved in DIR (its checkpoint.npz and configuration; --epochs sets the total)",
    )
    parser.set_defaults(func=run_train)
    return parser


def run_train(args: argparse.Namespace) -> int:
    metrics = train_classifier(
        data=args.data,
        arch=args.arch,
        model=args.model,
        activation=args.activation,
        epochs=args.epochs,
        lr=args.lr,
        optimizer=args.optimizer,
        momentum=args.momentum,
        weight_decay=args.weight_decay,
        batch_size=args.batch_size,
        seed=args.seed,
        standardize=False if args.no_standardize else None,
        root=args.root,
        dtype=args.dtype,
        out=args.out,
        progress=not args.no_progress,
        resume=args.resume,
    )
    summary = {k: metrics[k] for k in ("train_accuracy", "test_accuracy", "train_time_s", "parameters")}
    out = args.out or args.resume
    print(json.dumps({**summary, **({"out": out} if out else {})}, indent=2))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m nn.cli")
    add_train_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    raise SystemExit(main())
