"""``autodiff demo --out DIR``: the tour of the project as one page, DIR/index.html.

From the lecture's computation graph (values, adjoints, the backward pass frame by frame) to a
trained network's landscape (Hessian spectrum, functional dimension, saddles, surfaces, paths):
each part is a *section builder* of :data:`SECTIONS`, a function of the :class:`Context` that
returns a :class:`Section`; a new capability adds its picture by adding one builder there.  The
page embeds every picture (it opens offline); DIR/report.json holds the numbers.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from landscape.demo import sections
from landscape.demo.page import Picture, Section, number, write
from landscape.demo.sections import Context

# In page order.  Printed programs (`ad.trace`, issue 13) and `autodiff.numpy` / `autodiff.linalg`
# (issue 19) add their builders here when they land.
SECTIONS: list[Callable[[Context], Section]] = [
    sections.lecture_graph,
    # issue 13: the lecture's program printed as a program (ad.trace)
    sections.training,
    sections.spectrum,
    sections.functional_dimension,
    sections.saddles,
    sections.surface_and_paths,
    # issue 19: autodiff.numpy / autodiff.linalg
]

TITLE = "autodiff-landscape: the tour"
INTRO = (
    "Everything below was computed by this run with the project's own engine (reverse and forward "
    "mode written from scratch on NumPy): the numbers are in report.json beside this page."
)


def run(out: str | Path, fast: bool = False, seed: int = 0, progress: bool = True) -> Path:
    """Build every section of :data:`SECTIONS` in order and write ``out/index.html`` and
    ``out/report.json``; ``fast`` is the smallest configuration (for tests).  Returns the page."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    ctx = Context(out, fast=fast, seed=seed, progress=progress)
    built, start = [], time.perf_counter()
    for k, builder in enumerate(SECTIONS, 1):
        began = time.perf_counter()
        print(f"[{k}/{len(SECTIONS)}] {builder.__name__.replace('_', ' ')}", file=sys.stderr, flush=True)
        section = builder(ctx)
        section.seconds = time.perf_counter() - began
        built.append(section)
    meta = {
        "configuration": "fast" if fast else "full",
        "seed": seed,
        "seconds": round(time.perf_counter() - start, 1),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.system()}",
        "python": platform.python_version(),
        "load average": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
    }
    return write(out, TITLE, INTRO, built, meta)


def add_demo_parser(commands: Any) -> None:
    """Register ``demo`` (an entry point of the group ``autodiff.commands``)."""
    parser = commands.add_parser(
        "demo",
        help="the tour: every picture and number in one page, DIR/index.html",
        description="Backpropagation on the lecture's graph, a digits network, its Hessian spectrum, the "
        "functional dimension, saddles of a deep linear network, the loss surface and a path between "
        "minima: written as DIR/index.html (self-contained) and DIR/report.json.",
    )
    parser.add_argument("--out", default="demo", help="output folder (default ./demo)")
    parser.add_argument("--fast", action="store_true", help="the smallest configuration (seconds)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.set_defaults(func=run_command)


def run_command(args: argparse.Namespace) -> int:
    from autodiff.cli import UsageError, writable

    out = Path(args.out)
    if out.is_file() or not str(args.out).strip():
        raise UsageError(f"--out {args.out!r}: give a folder name (not a file, not empty)")
    writable(out / "index.html", "--out")
    try:  # made before anything is computed; a folder the check cannot see into (as root) may still fail
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise UsageError(f"--out: cannot make {out}: {error.strerror}; choose another folder") from None
    try:
        index = run(out, fast=args.fast, seed=args.seed, progress=not args.no_progress)
    except ImportError as error:  # scikit-learn (the digits) or matplotlib (the plots) missing
        raise UsageError(f'{error}; the demo needs its extra: pip install -e ".[demo]"') from None
    print(f"wrote {index} and {out / 'report.json'} (open the page in a browser)")
    return 0


__all__ = ["SECTIONS", "Context", "Picture", "Section", "add_demo_parser", "number", "run"]
