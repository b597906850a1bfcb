"""Our own workloads at two revisions of the code, in turn: the before/after table of a change.

    python benchmarks/revisions.py BASE_TREE [NEW_TREE] [--rounds 7] [--only overhead,training]

BASE_TREE and NEW_TREE are checkouts (``git worktree add /tmp/base <commit>``; NEW_TREE defaults
to this one).  Each sample runs in a fresh process with ``PYTHONPATH`` set to one tree and times
the ``ours`` case of that tree's ``benchmarks/<workload>.py`` (the builders ``run.py`` uses);
the trees alternate sample by sample, so a change of load on a shared machine hits both alike.
Prints, per workload, the best and the median sample of each tree and the ratios new / base,
with the load average before and after; ``--json FILE`` writes the numbers.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORKLOADS = {"overhead": "fwd+bwd", "training": "sgd step", "hessian": "H", "jacobian": "J"}


def worker(workload: str, seconds: float) -> None:
    """In the child: build ``ours``, warm it up, print the best time per call over ``seconds``."""
    sys.path.insert(0, os.getcwd())
    module = importlib.import_module(f"benchmarks.{workload}")
    case = next(c for c in module.cases() if c.impl == "ours" and c.task == WORKLOADS[workload])
    call = case.build()
    call(), call()
    times, deadline = [], time.perf_counter() + seconds
    while time.perf_counter() < deadline or len(times) < 3:
        start = time.perf_counter()
        call()
        times.append((time.perf_counter() - start) / case.per)
    print(json.dumps({"best": min(times), "calls": len(times)}))


def sample(tree: Path, workload: str, seconds: float) -> float:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    command = [sys.executable, str(Path(__file__).resolve()), "--worker", workload, "--seconds", str(seconds)]
    done = subprocess.run(command, cwd=tree, env=env, capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"{workload} in {tree} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])["best"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("base", type=Path, nargs="?")
    parser.add_argument("new", type=Path, nargs="?", default=ROOT)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--seconds", type=float, default=1.0, help="timing per sample (after warm-up)")
    parser.add_argument("--only", default=",".join(WORKLOADS))
    parser.add_argument("--json", type=Path)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker(args.worker, args.seconds)
        return 0
    if args.base is None:
        parser.error("give BASE_TREE, a checkout of the revision to compare with")
    load_before = os.getloadavg()
    trees = {"base": args.base.resolve(), "new": args.new.resolve()}
    results: dict[str, dict[str, list[float]]] = {}
    for workload in [w.strip() for w in args.only.split(",") if w.strip()]:
        samples: dict[str, list[float]] = {"base": [], "new": []}
        for round_ in range(args.rounds):
            order = ("base", "new") if round_ % 2 == 0 else ("new", "base")
            for name in order:
                samples[name].append(sample(trees[name], workload, args.seconds))
        results[workload] = samples
        best = {k: min(v) for k, v in samples.items()}
        median = {k: statistics.median(v) for k, v in samples.items()}
        ratio = {k: v["new"] / v["base"] for k, v in (("best", best), ("median", median))}
        print(
            f"{workload:9s} base best {best['base']:.4g} s median {median['base']:.4g} s | new best "
            f"{best['new']:.4g} s median {median['new']:.4g} s | new/base best {ratio['best']:.3f} "
            f"median {ratio['median']:.3f}",
            flush=True,
        )
    load_after = os.getloadavg()
    print(f"load average before {load_before[0]:.2f}, after {load_after[0]:.2f} ({os.cpu_count()} CPUs)")
    if args.json:
        record = {"trees": {k: str(v) for k, v in trees.items()}, "load": [load_before, load_after]}
        args.json.write_text(json.dumps({**record, "samples_s": results}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
