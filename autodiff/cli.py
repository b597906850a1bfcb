"""The ``autodiff`` command (also ``python -m autodiff``).

    autodiff graph "sin(exp(x*y) + 2*x**2)" --at x=1.5,y=0.5 --grads -o graph.svg
    autodiff graph "z1 = x*y; z2 = x**2; z3 = exp(z1); z4 = 2*z2; z5 = z3 + z4; out = sin(z5)" \\
        --at x=1.5,y=0.5 --grads --steps steps/
    autodiff graph --model examples/models.py:model --input-shape 1,64 -o mlp.svg
    autodiff graph "sin(exp(x*y) + 2*x**2)" --at x=1.5,y=0.5 --forward fwd/ --tangent x=1,y=0
    autodiff graph --model examples/models.py:model --input-shape 5,4 --loss mse --target 0 --steps steps/

Sub-commands are discovered through the entry-point group ``autodiff.commands`` (declared in
pyproject.toml): ``graph`` from here, ``train`` and ``landscape`` from the packages above this
one, which autodiff never names; ``autodiff --help`` lists what is installed.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import importlib.util
import os
import sys
import unicodedata
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

import autodiff as ad
from autodiff.tensor import Tensor
from autodiff.viz import GraphvizNotFoundError, draw_steps, save, to_dot, trace_backward, trace_forward
from autodiff.viz.dot import MAX_NODES, RANKDIRS
from autodiff.viz.expression import ExpressionError, evaluate, parse
from autodiff.viz.rendering import TEXT_FORMATS

# Each entry point of this group is a function called with the sub-parsers object: it adds its
# sub-command and sets ``func`` (args -> exit status) as the command's default.
COMMANDS_GROUP = "autodiff.commands"


PICTURE_FORMATS = ("svg", "png", "pdf")
LOSSES = ("sum", "mse", "cross_entropy")


class UsageError(Exception):
    """A mistake in the command line: printed without a traceback, exit status 2."""


class Parser(argparse.ArgumentParser):
    """argparse with mistakes reported on one line (what is wrong, and where the help is)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")


def int_at_least(low: int) -> Any:
    """An argparse type: an integer >= ``low``."""

    def convert(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer >= {low}, got {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"must be at least {low}, got {value}")
        return value

    return convert


def writable(path: Path, what: str) -> None:
    """Refuse (UsageError) a path that cannot be written: its nearest existing folder must be a
    writable folder.  Nothing is created."""
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        raise UsageError(f"{what}: cannot write {path} ({parent} is not a writable folder); choose another")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="autodiff", description="Reverse-mode automatic differentiation, made visible.")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for entry in sorted(importlib.metadata.entry_points(group=COMMANDS_GROUP), key=lambda e: e.name):
        try:
            add_parser = entry.load()
        except ModuleNotFoundError as error:
            if error.name is not None and entry.module.startswith(error.name):
                continue  # that package (or its cli module) is not there: no such sub-command
            raise
        add_parser(commands)
    return parser


def add_graph_parser(commands: Any) -> None:
    """Register ``graph`` (the entry point of this package in ``autodiff.commands``)."""
    graph = commands.add_parser(
        "graph",
        help="draw the computation graph of an expression or a model",
        description=(
            "Build EXPR (numbers, variables, + - * / **, unary -, calls of sin, exp, log, tanh, relu, "
            "sum, ...; statements 'name = ...' separated by ';') with the engine, run the forward and "
            "backward passes, and draw the graph. The text is parsed, never executed."
        ),
    )
    graph.add_argument("expr", nargs="?", metavar="EXPR", help='e.g. "sin(exp(x*y) + 2*x**2)"')
    graph.add_argument("--at", action="append", default=[], metavar="x=1.5,y=0.5", help="variable values")
    graph.add_argument("--model", metavar="PATH_OR_MODULE:NAME", help="draw an nn model instead of EXPR")
    graph.add_argument("--input-shape", metavar="1,64", help="shape of the model's random input")
    graph.add_argument("--grads", action="store_true", help="show the adjoint of every vertex")
    graph.add_argument("--no-values", dest="values", action="store_false", help="hide the values")
    graph.add_argument(
        "--steps", metavar="DIR", help="also write one picture per backward step and DIR/index.html"
    )
    graph.add_argument(
        "--forward", metavar="DIR", help="also write forward mode (tangents) step by step, and DIR/index.html"
    )
    graph.add_argument(
        "--tangent", action="append", default=[], metavar="x=1,y=0", help="the direction for --forward"
    )
    graph.add_argument(
        "--loss", choices=LOSSES, default="sum", help="with --model: the loss drawn (default: sum of outputs)"
    )
    graph.add_argument("--target", metavar="0.5,1 or 2,0", help="with --loss: numbers (mse) or classes")
    graph.add_argument("--collapse", action="store_true", help="draw each module call as one box")
    graph.add_argument("--expand", action="store_true", help="draw every vertex of a model (no boxes)")
    graph.add_argument("--max-nodes", type=int_at_least(1), default=MAX_NODES, help=f"default {MAX_NODES}")
    graph.add_argument("--rankdir", choices=RANKDIRS, default="auto", help="auto: TB for models, else LR")
    graph.add_argument(
        "-o",
        "--output",
        metavar="FILE",
        help="graph.svg, .png, .pdf (need Graphviz) or .dot; default: DOT on stdout",
    )
    graph.set_defaults(func=run_graph)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser = build_parser()
    try:  # argparse reports mistakes (one line, see Parser) and --help by SystemExit
        args, extra = parser.parse_known_args(argv)
        if args.command == "graph" and getattr(args, "expr", "") is None and len(extra) == 1:
            args.expr = extra.pop()  # an expression starting with '-' ("-x"), taken for an option
        if extra:
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
    except SystemExit as stop:
        return int(stop.code or 0)
    try:
        return int(args.func(args) or 0)
    except (ExpressionError, UsageError) as error:
        print(f"autodiff {args.command}: {error}", file=sys.stderr)
        return 2
    except GraphvizNotFoundError as error:
        print(f"autodiff {args.command}: {error}", file=sys.stderr)
        return 1


def run_graph(args: argparse.Namespace) -> int:
    if (args.expr is None) == (args.model is None):
        raise UsageError("give an expression (EXPR) or --model PATH_OR_MODULE:NAME, not both")
    _check_outputs(args.output, args.steps, args.forward)
    inputs_drawn: list[Tensor] = []
    if args.model is not None:
        out, inputs, names = _model_graph(args.model, args.input_shape)
        inputs_drawn = [inputs["X"]]
        out = _model_loss(out, args.loss, args.target)
    else:
        if args.input_shape is not None:
            raise UsageError("--input-shape goes with --model")
        formula = parse(args.expr)
        out, inputs = evaluate(formula, _values(args.at, formula.variables))
        names = None
        if out.label is None:
            out.name("out")
    if out.size != 1:
        out = out.sum().name("sum")
    trace = trace_backward(out)
    options = {"values": args.values, "names": names, "max_nodes": args.max_nodes, "rankdir": args.rankdir}
    collapse = True if args.collapse else (False if args.expand else "auto")
    options.update(collapse=collapse, grads=trace if args.grads else False, inputs=inputs_drawn)
    source = to_dot(out, **options)
    report = sys.stderr if args.output is None else sys.stdout
    if args.model is not None and args.loss == "sum":
        print("loss: the sum of the model's outputs (--loss mse or cross_entropy with --target)", file=report)
    print(f"{out.label} = {_number(out)}", file=report)
    for name, x in inputs.items():
        print(f"d {out.label} / d {name} = {_number(x.grad)}", file=report)
    try:  # the paths were checked; a folder the checks cannot see into (as root) may still fail
        if args.steps:
            steps = {k: v for k, v in options.items() if k != "grads"}  # each frame has its own adjoints
            index = draw_steps(trace, args.steps, **steps)
            print(f"wrote {len(trace) + 1} frames and {index}", file=report)
        if args.forward:
            forward = _forward_trace(args, inputs)
            index = draw_steps(forward, args.forward, values=args.values, rankdir=args.rankdir)
            jvp = _number(forward.tangent(forward.output))
            print(f"d {out.label} in the direction {_direction(forward)} = {jvp}", file=report)
            print(f"wrote {len(forward) + 1} frames and {index}", file=report)
        if args.output is None:
            sys.stdout.write(source)
        else:
            print(f"wrote {save(source, args.output)}", file=report)
    except OSError as error:
        raise UsageError(f"cannot write {error.filename}: {error.strerror}; choose another path") from None
    return 0


def _check_outputs(output: str | None, steps: str | None, forward: str | None) -> None:
    """Refuse, before anything is computed or written, an ``-o``, ``--steps`` or ``--forward``
    that cannot be written or an ``-o`` format that is not known."""
    if output is not None:
        path = Path(output)
        fmt = path.suffix.lstrip(".").lower()
        if fmt not in (*TEXT_FORMATS, *PICTURE_FORMATS):
            raise UsageError(
                f"-o {output}: unknown format {path.suffix or '(no suffix)'}; end the name with "
                f"{', '.join('.' + f for f in (*PICTURE_FORMATS, *TEXT_FORMATS))}"
            )
        if output.endswith(os.sep) or path.is_dir():
            raise UsageError(f"-o {output} is a folder; give a file name such as graph.svg")
        writable(path, "-o")
    for flag, folder in (("--steps", steps), ("--forward", forward)):
        if folder is not None:
            if not folder.strip() or Path(folder).is_file():
                raise UsageError(f"{flag} {folder!r}: give a folder name (not a file, not empty)")
            writable(Path(folder) / "index.html", flag)


def _number(t: Tensor | None) -> str:
    if t is None:
        return "0 (does not depend on it)"
    return f"{t.item():.12g}" if t.size == 1 else f"shape {t.shape}, norm {ad.norm(t).item():.6g}"


def _values(at: list[str], variables: dict[str, int]) -> dict[str, float]:
    """``["x=1.5,y=0.5"]`` -> ``{"x": 1.5, "y": 0.5}``, every variable given exactly once."""
    values: dict[str, float] = {}
    for item in (part for group in at for part in group.split(",") if part.strip()):
        name, sep, number = item.partition("=")
        name = name.strip()
        if not sep or not name.isidentifier():
            raise UsageError(f"--at: expected name=number, got {item!r}")
        normal = unicodedata.normalize("NFKC", name)
        if normal != name:
            raise UsageError(f"--at {name}: Python reads this name as {normal!r} (NFKC); write {normal!r}")
        if name in values:
            raise UsageError(f"--at gives {name} twice; give each variable once")
        try:
            values[name] = float(number)
        except ValueError:
            raise UsageError(f"--at {name}: {number.strip()!r} is not a number") from None
    unused = sorted(set(values) - set(variables))
    if unused:
        raise UsageError(
            f"--at gives {', '.join(unused)}, which the expression does not use "
            f"(its variables: {', '.join(variables) or 'none'})"
        )
    return values


def _model_graph(spec: str, input_shape: str | None) -> tuple[Tensor, dict[str, Tensor], Any]:
    """Load ``PATH_OR_MODULE:NAME`` (a module instance, or a class or function that, called without arguments,
    returns one) and call it on a random input of ``input_shape``."""
    if input_shape is None:
        raise UsageError("--model needs --input-shape (e.g. 1,64)")
    try:
        shape = tuple(int(n) for n in input_shape.split(",") if n.strip())
    except ValueError:
        raise UsageError(
            f"--input-shape: expected integers separated by commas, got {input_shape!r}"
        ) from None
    if not shape or any(n < 1 for n in shape):
        raise UsageError(f"--input-shape: expected positive sizes such as 1,64, got {input_shape!r}")
    location, sep, name = spec.rpartition(":")
    if not sep or not location or not name:
        raise UsageError(f"--model: expected PATH_OR_MODULE:NAME, got {spec!r}")
    model = getattr(_load_module(location), name, None)
    if model is None:
        raise UsageError(f"--model: {location} has no attribute {name!r}")
    if isinstance(model, type) or (callable(model) and not hasattr(model, "named_parameters")):
        try:
            model = model()
        except Exception as error:
            raise UsageError(f"--model: calling {spec}() failed: {type(error).__name__}: {error}") from None
    if not callable(model):
        raise UsageError(f"--model: {spec} is not callable")
    x = ad.randn(*shape, seed=0, requires_grad=True).name("X")
    try:
        out = model(x)
    except Exception as error:
        raise UsageError(
            f"--model: {spec} failed on an input of shape {shape}: {type(error).__name__}: {error}; "
            "check --input-shape"
        ) from None
    if not isinstance(out, Tensor) or not out.requires_grad:
        raise UsageError(f"--model: {spec} did not return a Tensor that depends on parameters")
    parameters = dict(model.named_parameters()) if hasattr(model, "named_parameters") else {}
    return out, {"X": x, **parameters}, model if parameters else None


def _load_module(location: str) -> Any:
    """A Python file by path (``models.py``) or an importable module (``mypackage.models``)."""
    if location.endswith(".py") or "/" in location:
        path = Path(location)
        if not path.is_file():
            raise UsageError(f"--model: no file {location}")
        spec = importlib.util.spec_from_file_location(path.stem, path)
        if spec is None or spec.loader is None:
            raise UsageError(f"--model: {location} is not a Python file")
        module = importlib.util.module_from_spec(spec)
        try:
            spec.loader.exec_module(module)
        except Exception as error:
            raise UsageError(f"--model: running {location} failed: {type(error).__name__}: {error}") from None
        return module
    try:
        return importlib.import_module(location)
    except ModuleNotFoundError as error:
        raise UsageError(f"--model: cannot import {location}: {error}") from None
    except Exception as error:
        raise UsageError(f"--model: importing {location} failed: {type(error).__name__}: {error}") from None


def _model_loss(out: Tensor, loss: str, target: str | None) -> Tensor:
    """The model's output reduced to a scalar: ``sum`` of the outputs (the default), the mean
    squared error ``mean((out - target)^2)``, or the cross-entropy ``mean(logsumexp(z) - z[y])``
    against ``--target`` (written with the engine's ops: autodiff names no package above it)."""
    if loss == "sum":
        if target is not None:
            raise UsageError("--target goes with --loss mse or --loss cross_entropy")
        return out
    if target is None:
        raise UsageError(f"--loss {loss} needs --target (numbers for mse, class indices for cross_entropy)")
    try:
        numbers = [float(n) for n in target.split(",") if n.strip()]
    except ValueError:
        raise UsageError(f"--target: expected numbers separated by commas, got {target!r}") from None
    if loss == "mse":
        goal = ad.tensor(numbers, dtype=out.dtype).name("target")
        if goal.size not in (1, out.shape[-1] if out.ndim else 1, out.size):
            raise UsageError(f"--target: {goal.size} numbers for an output of shape {out.shape}")
        goal = ad.broadcast_to(goal.reshape(out.shape if goal.size == out.size else (-1,)), out.shape)
        return ad.mean((out - goal.detach().name("target")) ** 2).name("mse")
    classes = [int(n) for n in numbers]
    if (
        out.ndim != 2
        or len(classes) not in (1, out.shape[0])
        or not all(0 <= c < out.shape[-1] for c in classes)
    ):
        raise UsageError(
            f"--target: class indices in [0, {out.shape[-1]}) for each of the {out.shape[0]} rows of logits "
            f"of shape {out.shape}, got {target!r}"
        )
    labels = classes * (out.shape[0] if len(classes) == 1 else 1)
    picked = out[ad.arange(out.shape[0]), ad.tensor(labels).name("target")]
    return ad.mean(ad.logsumexp(out, axis=-1) - picked).name("cross_entropy")


def _forward_trace(args: argparse.Namespace, inputs: dict[str, Tensor]) -> Any:
    """Forward mode on the expression, in the direction ``--tangent`` (default: along the first
    variable, 1 for it and 0 for the others)."""
    if args.model is not None:
        raise UsageError("--forward draws an expression; for a model use ad.trace_forward in Python")
    names = list(inputs)
    try:
        given = _values(args.tangent, dict.fromkeys(names))
    except UsageError as error:  # the same syntax as --at
        raise UsageError(str(error).replace("--at", "--tangent")) from None
    direction = given if args.tangent else {name: float(k == 0) for k, name in enumerate(names)}
    formula = parse(args.expr)

    def f(*xs: Tensor) -> Tensor:
        out = evaluate(formula, dict(zip(names, xs, strict=True)))[0]
        return out if out.label is not None else out.name("out")

    primals = [inputs[name].detach().name(name) for name in names]
    return trace_forward(f, primals, [direction.get(name, 0.0) for name in names])


def _direction(trace: Any) -> str:
    return (
        "("
        + ", ".join(f"{x.label}={t.item():g}" for x, t in zip(trace.inputs, trace.seeds, strict=True))
        + ")"
    )
