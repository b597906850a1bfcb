"""The ``train`` sub-command: ``autodiff train --data digits --arch 64,128,10 --activation relu
--epochs 30 --lr 0.1 --seed 0 --out runs/digits``.  ``autodiff/cli.py`` registers it with
:func:`add_train_parser`; ``python -m nn.cli train ...`` runs it alone."""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from autodiff.cli import Parser, UsageError, int_at_least, writable
from nn.activations import ACTIVATION_MODULES
from nn.experiments import DATASETS, MODELS, OPTIMIZERS, ConfigError, train_classifier

RESULTS = ("model.npz", "metrics.json", "curves.png")


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


def _number(low: float, high: float, low_open: bool, text: str) -> float:
    """A finite float in [low, high) (or (low, high) when ``low_open``)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value) or value < low or (low_open and value == low) or value >= high:
        span = f"{'(' if low_open else '['}{low:g}, {high:g})"
        raise argparse.ArgumentTypeError(f"must be a finite number in {span}, got {text}")
    return value


def _in(low: float, high: float, low_open: bool = False) -> Callable[[str], float]:
    def convert(text: str) -> float:
        return _number(low, high, low_open, text)

    return convert


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
    parser.add_argument("--activation", choices=ACTIVATION_MODULES, default="relu")
    parser.add_argument("--epochs", type=int_at_least(1), help="default: 30 (mnist1d: 150)")
    parser.add_argument("--lr", type=_in(0, math.inf, low_open=True), help="default: 0.1 (mnist1d: 0.01)")
    parser.add_argument("--optimizer", choices=OPTIMIZERS, help="default: sgd (mnist1d: adam)")
    parser.add_argument("--momentum", type=_in(0, 1), default=0.0)
    parser.add_argument("--weight-decay", type=_in(0, math.inf), default=0.0)
    parser.add_argument("--batch-size", type=int_at_least(1), help="default: 32 (mnist1d: 100)")
    parser.add_argument("--seed", type=int_at_least(0), default=0, help="fixes initial weights and shuffling")
    parser.add_argument(
        "--no-standardize",
        action="store_true",
        help="keep raw inputs (default: standardise per feature, except mnist1d, raw as in its reference)",
    )
    parser.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    parser.add_argument("--out", help="folder for model.npz, metrics.json and curves.png")
    parser.add_argument("--force", action="store_true", help="overwrite an earlier run's results in --out")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument(
        "--resume",
        metavar="DIR",
        help="continue the run saved in DIR (its checkpoint.npz and configuration; --epochs sets the total)",
    )
    parser.set_defaults(func=run_train)
    return parser


def _check_out(out: str | None, force: bool) -> None:
    """Refuse an --out that is empty, a file, not writable, or holds an earlier run (unless
    ``force``), before anything is computed or written."""
    if out is None:
        return
    if not out.strip():
        raise UsageError("--out is empty; give a folder name such as runs/digits")
    folder = Path(out)
    if folder.exists() and not folder.is_dir():
        raise UsageError(f"--out {out} is a file; give a folder")
    earlier = [name for name in RESULTS if (folder / name).exists()]
    if earlier and not force:
        raise UsageError(
            f"--out {out} holds an earlier run ({', '.join(earlier)}); choose another folder or add --force"
        )
    writable(folder / RESULTS[0], "--out")


def run_train(args: argparse.Namespace) -> int:
    _check_out(args.out, args.force)
    try:
        metrics = _train(args)
    except ConfigError as error:
        raise UsageError(str(error)) from None
    except FloatingPointError as error:
        print(f"autodiff train: {error}", file=sys.stderr)
        return 1
    summary = {k: metrics[k] for k in ("train_accuracy", "test_accuracy", "train_time_s", "parameters")}
    out = args.out or args.resume
    print(json.dumps({**summary, **({"out": out} if out else {})}, indent=2))
    return 0


def _train(args: argparse.Namespace) -> dict[str, Any]:
    return train_classifier(
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


def main(argv: Sequence[str] | None = None) -> int:
    parser = Parser(prog="python -m nn.cli")
    add_train_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except UsageError as error:
        print(f"autodiff train: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
