"""``autodiff landscape fdim | ntk | spectrum``: the notes' experiments (:mod:`landscape.experiments`)
from the command line, each writing a JSON of every number and a PNG into ``--out``.

``add_parsers(subparsers)`` adds the three commands to the ``landscape`` command's sub-parsers;
``main(argv)`` runs them alone.  A bad argument is refused in one line with exit status 2, before
anything is computed or written.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from landscape.sweeps import scheduler_address


class _Refusal(ValueError):
    """A bad argument: one line on stderr, exit status 2, nothing written."""


def _ints(text: str, name: str, minimum: int = 1) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise _Refusal(f"{name} takes comma-separated integers, got {text!r}") from None
    if not values or min(values) < minimum:
        raise _Refusal(f"{name} takes integers >= {minimum}, got {text!r}")
    return values


def _floats(text: str, name: str, upper: float | None = None) -> list[float]:
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise _Refusal(f"{name} takes comma-separated numbers, got {text!r}") from None
    if not values or min(values) < 0 or (upper is not None and max(values) > upper):
        raise _Refusal(f"{name} takes numbers in [0, {upper if upper is not None else 'inf'}), got {text!r}")
    return values


def _data_name(text: str) -> str:
    from landscape.experiments import DATASETS

    if text in DATASETS[:-1] or (text.startswith("mnist:") and Path(text[6:]).is_dir()):
        return text
    raise _Refusal(f"--data must be one of {', '.join(DATASETS)} (DIR an existing folder), got {text!r}")


def _write(out: Path, name: str, payload: dict[str, Any]) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{name}.json"
    path.write_text(json.dumps({k: v for k, v in payload.items() if not k.startswith("_")}, indent=1))
    return path


def _fdim(args: argparse.Namespace) -> int:
    from landscape import experiments as E

    data, arch = _data_name(args.data), _ints(args.arch, "--arch")
    studies = [
        (flag, v)
        for flag, v in (("width", args.widths), ("noise_x", args.noise_x), ("noise_y", args.noise_y))
        if v
    ]
    if len(studies) > 1:
        raise _Refusal("give at most one of --widths, --noise-x, --noise-y")
    if len(arch) < 3:
        raise _Refusal(
            f"--arch needs an input, at least one hidden layer and an output width, got {args.arch!r}"
        )
    if args.epochs < 0 or args.every < 0 or args.points < 1:
        raise _Refusal("--epochs and --every must be >= 0 and --points >= 1")
    values = None
    if studies:
        vary, text = studies[0]
        values = (
            _ints(text, "--widths")
            if vary == "width"
            else _floats(text, f"--{vary.replace('_', '-')}", 1.0 if vary == "noise_y" else None)
        )
    kwargs = dict(epochs=args.epochs, every=args.every, points=args.points, train_limit=args.train_limit,
                  lr=args.lr, batch_size=args.batch_size, outputs=args.outputs, seed=args.seed)  # fmt: skip
    try:
        if values is None:
            result = E.fdim_training(data, arch, **kwargs)
            png = E.plot_training(result, _out(args) / "fdim.png")
        else:
            result = E.fdim_study(studies[0][0], values, data, arch, **_sweep_options(args), **kwargs)
            png = E.plot_study(result, _out(args) / f"fdim_{studies[0][0]}.png")
    except (ValueError, ImportError) as error:
        raise _Refusal(str(error).splitlines()[0]) from None
    path = _write(args.out, png.stem, result)
    print(f"wrote {path} and {png}")
    return 0


def _sweep_options(args: argparse.Namespace) -> dict:
    """Where the independent runs of a study go: serial, local processes, or a Dask cluster."""
    if args.workers is not None and args.workers < 0:
        raise _Refusal(f"--workers must be >= 0 (0 runs serially), got {args.workers}")
    return {"client": args.scheduler, "workers": 0 if args.workers is None else args.workers}


def _add_sweep_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--scheduler",
        metavar="tcp://host:8786",
        type=scheduler_argument,
        help="run the study's jobs on a Dask cluster",
    )
    p.add_argument("--workers", type=int, help="local processes for the study's jobs (default 0: serial)")


def _out(args: argparse.Namespace) -> Path:
    args.out.mkdir(parents=True, exist_ok=True)
    return args.out


def _ntk(args: argparse.Namespace) -> int:
    from landscape import experiments as E

    widths = _ints(args.widths, "--widths")
    if args.points < 1 or args.d < 1 or args.seeds < 1:
        raise _Refusal("--points, --d and --seeds must be >= 1")
    result = E.ntk_width(widths, args.points, args.d, args.seeds, **_sweep_options(args))
    png = E.plot_ntk(result, _out(args) / "ntk.png")
    path = _write(args.out, "ntk", result)
    print(f"wrote {path} and {png}")
    return 0


def _spectrum(args: argparse.Namespace) -> int:
    import autodiff as ad
    from landscape import experiments as E
    from nn.builders import MLP
    from nn.io import load

    arch = _ints(args.arch, "--arch")
    data = _data_name(args.data)
    if not Path(args.checkpoint).is_file():
        raise _Refusal(f"--checkpoint {args.checkpoint}: no such file")
    model = MLP(arch, generator=ad.random.Generator(0))
    try:
        load(model, args.checkpoint)
        train, _ = E.load_data(data)
    except (ValueError, KeyError, ImportError) as error:
        raise _Refusal(str(error).splitlines()[0]) from None
    X, Y = train.tensors[0][: args.points], train.tensors[1][: args.points]
    report = E.spectrum_report(model, X, Y, k=args.k, probes=args.probes, steps=args.steps)
    png = E.plot_spectrum(report, _out(args) / "spectrum.png")
    path = _write(args.out, "spectrum", report)
    print(f"wrote {path} and {png}")
    print(f"classify: {report['classify']['kind']}: {report['classify']['explanation'].splitlines()[0]}")
    return 0


def add_parsers(subparsers: Any) -> None:
    """Add ``fdim``, ``ntk`` and ``spectrum`` to the ``landscape`` command's sub-parsers."""
    from landscape.experiments import NOTES_ARCH

    notes = ",".join(map(str, NOTES_ARCH))
    p = subparsers.add_parser(
        "fdim", help="functional dimension during training (Malgouyres 2024, experiments 1-4)"
    )
    p.add_argument(
        "--data", default="digits28", help="digits28, digits, mnist1d or mnist:DIR (default digits28)"
    )
    p.add_argument("--arch", default=notes, help=f"layer widths (default {notes})")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--every", type=int, default=2, help="measure every K epochs (and at 0 and the end)")
    p.add_argument("--points", type=int, default=100, help="inputs of each kind (train, test, Gaussian)")
    p.add_argument("--train-limit", type=int, default=None, help="train on the first N examples")
    p.add_argument("--lr", type=float, default=0.1)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--outputs", choices=("logits", "softmax"), default="logits")
    p.add_argument("--widths", default=None, help="width study: w1,w2,... for (n_0, w, ..., w, n_H)")
    p.add_argument("--noise-x", default=None, help="input-noise study: std1,std2,...")
    p.add_argument("--noise-y", default=None, help="label-noise study: fractions of random labels")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, required=True)
    _add_sweep_options(p)
    p.set_defaults(func=_guarded(_fdim, "fdim"))
    p = subparsers.add_parser("ntk", help="lambda_min of the random kernel K against the width")
    p.add_argument("--widths", default="25,50,100,200,400,800")
    p.add_argument("--points", type=int, default=20)
    p.add_argument("--d", type=int, default=10, help="input dimension (points uniform on the unit sphere)")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--out", type=Path, required=True)
    _add_sweep_options(p)
    p.set_defaults(func=_guarded(_ntk, "ntk"))
    p = subparsers.add_parser(
        "spectrum", help="Hessian extremes, SLQ density, PL ratio, classify at a checkpoint"
    )
    p.add_argument("--checkpoint", required=True, help="an .npz written by nn.save")
    p.add_argument("--arch", required=True, help="the MLP's layer widths")
    p.add_argument("--data", default="digits28")
    p.add_argument("--points", type=int, default=256)
    p.add_argument("--k", type=int, default=4)
    p.add_argument("--probes", type=int, default=4)
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--out", type=Path, required=True)
    p.set_defaults(func=_guarded(_spectrum, "spectrum"))


def _guarded(command: Any, name: str) -> Any:
    def run(args: argparse.Namespace) -> int:
        try:
            return command(args)
        except _Refusal as error:
            print(f"autodiff landscape {name}: {error}", file=sys.stderr)
            return 2

    return run


def main(argv: list[str] | None = None) -> int:
    """Run ``fdim``, ``ntk`` or ``spectrum`` alone (a throwaway ``landscape`` parser)."""
    parser = argparse.ArgumentParser(prog="autodiff landscape")
    add_parsers(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))


def scheduler_argument(text: str) -> str:
    """argparse type: a Dask scheduler address (argparse reports the message on one line)."""
    try:
        return scheduler_address(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
