"""Where our engine spends its time on a workload: cProfile of the timed call of "ours".

    python benchmarks/hotspots.py overhead [--task fwd+bwd] [--impl ours] [--calls 50] [--top 25]

Builds the case exactly as ``run.py`` does, warms it up once, then profiles ``--calls`` calls
and prints the functions sorted by their own time (tottime) and by cumulative time.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("workload", choices=("overhead", "training", "hessian", "jacobian", "scaling"))
    parser.add_argument("--task", default=None, help="task of the workload (default: its first)")
    parser.add_argument("--impl", default="ours")
    parser.add_argument("--calls", type=int, default=20)
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args(argv)
    here = str(Path(__file__).resolve().parent)
    sys.path[:] = [str(ROOT)] + [p for p in sys.path if p not in (here, str(ROOT))]  # no shadowing
    import importlib

    module = importlib.import_module(f"benchmarks.{args.workload}")
    cases = [c for c in module.cases() if c.impl == args.impl]
    cases = [c for c in cases if args.task in (None, c.task)]
    if not cases:
        parser.error(f"no case {args.impl!r} with task {args.task!r} in {args.workload}")
    case = cases[0]
    call = case.build()
    case.sync(call())
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(args.calls):
        case.sync(call())
    profiler.disable()
    for order in ("tottime", "cumulative"):
        text = io.StringIO()
        pstats.Stats(profiler, stream=text).strip_dirs().sort_stats(order).print_stats(args.top)
        print(f"=== {case.workload}/{case.task}/{case.impl}, {args.calls} calls, by {order}")
        print(text.getvalue())
    return 0


if __name__ == "__main__":
    sys.exit(main())
