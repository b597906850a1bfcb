"""The two landscape pictures of the README, on scikit-learn's 8x8 digits.

1. A 64-32-10 ReLU MLP trained by SGD (lr 0.1, batch 32, seed 0); the parameters after each
   epoch form its training trajectory.  The training loss is drawn on the plane of the first
   two principal directions of the trajectory about its end point (Li et al. 2018), with the
   trajectory projected on it: ``OUT/surface/``.
2. A second network trained the same way from seed 1; the straight line between the two
   solutions, and a quadratic Bezier curve trained on the loss along it (Garipov et al. 2018):
   ``OUT/path/``.

    python examples/landscape_plots.py [--out landscape_plots] [--epochs 30] [--grid 31]

Needs scikit-learn and matplotlib; about 1.5 minutes of CPU time.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

import landscape as L
import nn
from autodiff.random import Generator


def train(seed: int, epochs: int, train_set: nn.data.TensorDataset, record: list | None = None) -> nn.Module:
    """SGD on the cross-entropy; ``record`` receives theta at the start and after each epoch."""
    generator = Generator(seed)
    model = nn.MLP([64, 32, 10], activation="relu", generator=generator, dtype="float64")
    space = L.ParamSpace(model)
    if record is not None:
        record.append(space.theta())
    loader = nn.data.DataLoader(train_set, 32, shuffle=True, generator=generator)
    callbacks = [] if record is None else [lambda epoch, m, rec: record.append(space.theta())]
    optimizer = nn.optim.SGD(model.parameters(), lr=0.1)
    nn.fit(model, nn.functional.cross_entropy, optimizer, loader, epochs, callbacks=callbacks, progress=False)
    return model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default="landscape_plots", help="output folder (default ./landscape_plots)")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--grid", type=int, default=31, help="surface points per axis")
    parser.add_argument("--steps", type=int, default=400, help="training steps of the Bezier curve")
    args = parser.parse_args()
    out = Path(args.out)

    train_set, _ = nn.data.standardize(*nn.data.digits(dtype="float64"), min_std=0.1)
    X, Y = train_set.tensors[:2]
    trajectory: list = []
    model_a = train(0, args.epochs, train_set, trajectory)
    space = L.ParamSpace(model_a)
    f = space.loss(nn.functional.cross_entropy, X, Y)
    accuracy = {"accuracy": space.loss(nn.functional.accuracy, X, Y)}

    pca = L.trajectory_pca(trajectory)
    reach = 1.25 * np.abs(pca.coords).max()
    axes = [np.linspace(-reach, reach, args.grid)] * 2
    info = {
        "axis_labels": [f"PC{k + 1} ({100 * e:.0f}% of the trajectory)" for k, e in enumerate(pca.explained)],
        "title": f"digits MLP 64-32-10: training loss, SGD trajectory ({args.epochs} epochs)",
    }
    plane = L.surface(f, pca.origin, pca.directions, grid=axes, metrics=accuracy, info=info)
    plane.save(out / "surface", trajectory=pca)

    model_b = train(1, args.epochs, train_set)
    theta_a, theta_b = space.theta(), L.ParamSpace(model_b).theta()
    line = L.interpolate(f, theta_a, theta_b, n=41, metrics=accuracy)
    curve = L.connect(
        f, theta_a, theta_b, "bezier", bends=1, steps=args.steps, lr=0.02, n=41, metrics=accuracy
    )
    curve.info["title"] = "two digits MLPs (seeds 0 and 1): loss along the paths"
    curve.save(out / "path", line)
    summary = {
        "final_train_loss": f(theta_a).item(),
        "explained_variance": pca.explained.tolist(),
        "linear_barrier": line.barrier,
        "bezier_barrier": curve.barrier,
        "out": str(out),
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
