"""Train an MLP (64-128-10, ReLU) and a small CNN (conv 16 -> pool -> conv 32 -> pool -> linear)
on scikit-learn's 8x8 digits with plain SGD (lr 0.1, batch 32, 30 epochs, seed 0), and write
for each the checkpoint, metrics.json and the loss/accuracy curves to runs/digits-{mlp,cnn}.

    python examples/train_digits.py [--out runs] [--epochs 30]

The same as ``autodiff train --data digits --arch 64,128,10 --epochs 30 --lr 0.1 --seed 0
--out runs/digits-mlp`` (and ``--model cnn --arch 16,32,10``).  Needs scikit-learn.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from nn.experiments import train_classifier


def main() -> None:
    parser = argparse.ArgumentParser(description="MLP and CNN on the 8x8 digits")
    parser.add_argument("--out", default="runs", help="parent folder of the two runs")
    parser.add_argument("--epochs", type=int, default=30)
    args = parser.parse_args()
    summary = {}
    for model, arch in (("mlp", (64, 128, 10)), ("cnn", (16, 32, 10))):
        metrics = train_classifier(
            data="digits",
            model=model,
            arch=arch,
            epochs=args.epochs,
            lr=0.1,
            seed=0,
            out=Path(args.out) / f"digits-{model}",
        )
        summary[model] = {
            k: round(metrics[k], 4) for k in ("train_accuracy", "test_accuracy", "train_time_s")
        }
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
