"""The ``landscape`` command, with one sub-command per study:

    autodiff landscape surface --checkpoint runs/a/model.npz --data digits --out runs/surface
    autodiff landscape connect --checkpoints runs/a/model.npz runs/b/model.npz --data digits --out runs/path

``autodiff/cli.py`` registers it with :func:`add_landscape_parser`; each study adds itself to
:data:`COMMANDS` (a function that takes the sub-parsers of ``landscape``).  A checkpoint is
rebuilt from the ``metrics.json`` that ``autodiff train`` writes beside it (architecture, data,
input standardisation) unless ``--arch`` and friends are given.  ``--scheduler tcp://host:8786``
sends the evaluations to a Dask cluster.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import landscape
from autodiff.cli import UsageError
from landscape.experiments_cli import add_parsers as add_experiment_parsers
from landscape.experiments_cli import scheduler_argument as _address


def _sizes(text: str) -> list[int]:
    try:
        return [int(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected integers such as 64,32,10, not {text!r}") from None


def _common(parser: argparse.ArgumentParser) -> None:
    """Options shared by every sub-command: the model, the data, where the work runs, the output."""
    from nn.experiments import DATASETS, MODELS

    parser.add_argument("--data", choices=DATASETS, help="data set (default: the checkpoint's)")
    parser.add_argument("--root", help="folder of the IDX files for mnist / fashion-mnist")
    parser.add_argument("--split", choices=("train", "test"), default="train", help="the loss on which set")
    parser.add_argument(
        "--examples", type=int, default=2000, help="at most this many examples (default 2000)"
    )
    parser.add_argument("--model", choices=MODELS, help="default: the checkpoint's metrics.json")
    parser.add_argument("--arch", type=_sizes, help="layer sizes (default: the checkpoint's metrics.json)")
    parser.add_argument("--activation", help="default: the checkpoint's metrics.json")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--scheduler", metavar="tcp://host:8786", type=_address, help="run the evaluations on a Dask cluster"
    )
    parser.add_argument("--workers", type=int, help="local processes (default: one per CPU; 0: serial)")
    parser.add_argument("--out", required=True, help="folder for the JSON and the PNGs")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def add_surface_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "surface",
        help="the loss on a 1-D or 2-D slice around a checkpoint",
        description="Loss and accuracy at theta + a d_1 + b d_2 on a grid, along filter-normalised random "
        "directions (Li et al. 2018), or along the principal directions of a training trajectory "
        "(--trajectory, drawn on the plots). Writes surface.json and PNGs.",
    )
    parser.add_argument("--checkpoint", required=True, help="model.npz written by autodiff train")
    parser.add_argument("--dims", type=int, choices=(1, 2), default=2)
    parser.add_argument("--grid", type=int, default=21, help="points per axis (default 21)")
    parser.add_argument("--span", type=float, nargs=2, default=(-1.0, 1.0), metavar=("LO", "HI"))
    parser.add_argument("--normalize", choices=landscape.directions.NORMALIZATIONS, default="filter")
    parser.add_argument("--bias", choices=landscape.directions.BIAS_MODES, default="zero")
    parser.add_argument(
        "--trajectory", nargs="+", metavar="NPZ", help="checkpoints along training: PCA directions"
    )
    _common(parser)
    parser.set_defaults(func=run_surface)


def add_connect_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "connect",
        help="a path of low loss between two checkpoints",
        description="Train a Bezier curve or polygonal chain (Garipov et al. 2018) or a nudged elastic "
        "band (Draxler et al. 2018) between two checkpoints; writes path.json (with the straight line "
        "for comparison) and path.png.",
    )
    parser.add_argument("--checkpoints", nargs=2, required=True, metavar=("A", "B"))
    parser.add_argument("--method", choices=landscape.paths.METHODS, default="bezier")
    parser.add_argument("--bends", type=int, help="control points / images (default 1; 9 for neb)")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--batch", type=int, default=4, help="values of t per training step")
    parser.add_argument("--points", type=int, default=41, help="evaluation points along the path")
    _common(parser)
    parser.set_defaults(func=run_connect)


COMMANDS: list[Callable[[Any], None]] = [add_surface_parser, add_connect_parser, add_experiment_parsers]


def add_landscape_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``landscape`` and its sub-commands (each sets ``func``) on the sub-parsers of
    ``autodiff``."""
    parser = subparsers.add_parser(
        "landscape", help="loss surfaces, paths between minima, functional dimension, kernels, spectra"
    )
    commands = parser.add_subparsers(dest="study", metavar="STUDY", required=True)
    for add in COMMANDS:
        add(commands)
    return parser


class Problem:
    """A checkpoint's model with its loss (and accuracy) on the chosen data."""

    def __init__(self, args: argparse.Namespace, checkpoint: str):
        import nn
        from nn import data as datasets
        from nn.experiments import build_model, load_data

        path = Path(checkpoint)
        if not path.is_file():
            raise UsageError(f"no checkpoint {checkpoint}")
        sidecar = path.with_name("metrics.json")
        config = json.loads(sidecar.read_text())["config"] if sidecar.is_file() else {}
        given = {"data": args.data, "model": args.model, "arch": args.arch, "activation": args.activation}
        config.update({k: v for k, v in given.items() if v is not None})
        missing = [k for k in ("data", "arch") if k not in config]
        if missing:
            raise UsageError(f"{sidecar} not found: give --{' --'.join(missing)} (and --model, --activation)")
        kind = config.get("model", "mlp")
        dtype = config.get("dtype", "float32")
        train, test = load_data(
            config["data"], args.root, images=kind == "cnn", seed=config.get("seed", 0), dtype=dtype
        )
        if config.get("standardize", True):
            train, test = datasets.standardize(train, test, min_std=0.1)
        X, Y = (train if args.split == "train" else test).tensors[:2]
        self.X, self.Y = X[: args.examples], Y[: args.examples]
        self.model = build_model(
            kind, config["arch"], config.get("activation", "relu"), X.shape[1:], dtype=dtype
        )
        self.config = config
        self.load(path)
        self.model.eval()
        self.space = landscape.ParamSpace(self.model)
        self.loss = self.space.loss(nn.functional.cross_entropy, self.X, self.Y)
        self.metrics = {"accuracy": self.space.loss(nn.functional.accuracy, self.X, self.Y)}
        self.refresh = landscape.batchnorm_refresh(self.space, self.X)

    def load(self, path: str | Path) -> Any:
        """Load a checkpoint into the model and return its theta."""
        import nn

        try:
            nn.load(self.model, path)
        except (nn.CheckpointError, FileNotFoundError) as error:
            raise UsageError(f"{path}: {error}") from None
        return landscape.ParamSpace(self.model).theta()


def _where(args: argparse.Namespace) -> dict[str, Any]:
    return {"client": args.scheduler, "workers": args.workers, "progress": not args.no_progress}


def run_surface(args: argparse.Namespace) -> int:
    problem = Problem(args, args.checkpoint)
    theta = problem.space.theta()
    trajectory = None
    if args.trajectory:
        if args.dims != 2:
            raise UsageError("--trajectory draws on a plane: use --dims 2")
        points = [problem.load(p) for p in args.trajectory]
        problem.space.assign(theta)
        trajectory = landscape.trajectory_pca([*points, theta])
        directions, origin = trajectory.directions, trajectory.origin
        labels = [f"PC{k + 1} ({100 * e:.1f}%)" for k, e in enumerate(trajectory.explained)]
    else:
        directions = landscape.random_directions(
            problem.space, args.dims, args.normalize, args.bias, args.seed
        )
        origin, labels = theta, ["d_1", "d_2"]
    info = {
        "checkpoint": args.checkpoint,
        "config": problem.config,
        "examples": int(problem.X.shape[0]),
        "split": args.split,
        "directions": "trajectory PCA" if trajectory else f"random, {args.normalize}, bias {args.bias}",
        "seed": args.seed,
        "axis_labels": labels,
        "title": f"{problem.config['data']} {problem.config['arch']}: {args.split} loss",
    }
    result = landscape.surface(
        problem.loss,
        origin,
        directions,
        args.grid,
        tuple(args.span),
        problem.metrics,
        problem.refresh,
        info=info,
        **_where(args),
    )
    written = result.save(args.out, trajectory)
    print(json.dumps({"min_loss": float(result.loss.min()), "files": [str(p) for p in written]}, indent=2))
    return 0


def run_connect(args: argparse.Namespace) -> int:
    problem = Problem(args, args.checkpoints[0])
    theta_a = problem.space.theta()
    theta_b = problem.load(args.checkpoints[1])
    where = _where(args)
    options = {"metrics": problem.metrics, "refresh": problem.refresh, **where}
    line = landscape.interpolate(problem.loss, theta_a, theta_b, args.points, **options)
    path = landscape.connect(
        problem.loss,
        theta_a,
        theta_b,
        args.method,
        args.bends,
        args.steps,
        args.lr,
        args.batch,
        seed=args.seed,
        n=args.points,
        **options,
    )
    path.info.update(checkpoints=args.checkpoints, config=problem.config, title="loss along the path")
    written = path.save(args.out, line)
    summary = {"barrier": path.barrier, "linear_barrier": line.barrier, "files": [str(p) for p in written]}
    print(json.dumps(summary, indent=2))
    return 0
