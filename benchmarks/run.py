"""Benchmark the engine against PyTorch (eager, torch.func), JAX (with and without jit) and HIPS
autograd on the workloads of issue 3, in one run.

    python benchmarks/run.py [--only overhead,training,hessian,jacobian,scaling,curvature] [--repeat N]
                             [--device cpu|cuda] [--out benchmarks/results] [--slow] [--threads N]
                             [--neighbour N]

Prints a table (workload, task, implementation, median time, ratio ours / peer, agreement with
ours), the targets, and writes ``results.json`` and ``scaling.png`` to ``--out``.  Peers that are
not installed are skipped.  Timings are medians of ``--repeat`` samples after warm-up; the
machine, load, thread counts and BLAS kernels are recorded beside them.  ``--threads N`` pins
every library to N threads (set before NumPy is imported); by default thread counts are left
as the libraries choose and recorded.
"""

from __future__ import annotations

import argparse
import datetime
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
WORKLOADS = ("overhead", "training", "hessian", "jacobian", "scaling", "curvature")


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default=",".join(WORKLOADS), help="comma-separated workloads to run")
    parser.add_argument("--repeat", type=int, default=5, help="timed samples per case (median reported)")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    parser.add_argument("--slow", action="store_true", help="also the peers' ranks (J + their own SVD)")
    parser.add_argument("--threads", type=int, default=None, help="pin BLAS/OpenMP/torch/XLA to N threads")
    parser.add_argument(
        "--neighbour",
        type=int,
        default=0,
        help="run N CPU-bound processes beside the benchmarks (a busy machine: how each library copes)",
    )
    args = parser.parse_args(argv)
    only = [w.strip() for w in args.only.split(",") if w.strip()]
    unknown = [w for w in only if w not in WORKLOADS]
    if unknown:
        parser.error(f"--only: unknown workloads {unknown}; choose from {', '.join(WORKLOADS)}")
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    if args.neighbour < 0:
        parser.error("--neighbour must be 0 or more processes")
    args.only = only
    return args


def pin_threads(n: int) -> None:
    """Before NumPy, torch or JAX start their thread pools."""
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[name] = str(n)
    flags = os.environ.get("XLA_FLAGS", "")
    os.environ["XLA_FLAGS"] = f"{flags} --xla_cpu_multi_thread_eigen={'true' if n > 1 else 'false'}".strip()


def busy_neighbour() -> subprocess.Popen:
    """A process that keeps one core busy until killed (the neighbour of ``--neighbour``)."""
    return subprocess.Popen([sys.executable, "-c", "while True: pass"])


def _commit() -> str | None:
    try:
        done = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        )
    except OSError:
        return None
    return done.stdout.strip() or None


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    if args.threads:
        pin_threads(args.threads)
    here = str(Path(__file__).resolve().parent)
    sys.path[:] = [str(ROOT)] + [p for p in sys.path if p not in (here, str(ROOT))]  # no shadowing
    try:
        from tqdm import tqdm
    except ImportError:
        print("benchmarks/run.py shows progress with tqdm: pip install tqdm", file=sys.stderr)
        return 2

    from benchmarks import (
        curvature,
        harness,
        hessian,
        jacobian,
        machine,
        overhead,
        peers,
        report,
        scaling,
        training,
    )

    peers.set_device(args.device)
    if args.threads and peers.torch() is not None:
        peers.torch().set_num_threads(args.threads)
    builders = {
        "overhead": overhead.cases,
        "training": training.cases,
        "hessian": hessian.cases,
        "jacobian": lambda: jacobian.cases(slow=args.slow),
        "scaling": scaling.cases,
        "curvature": curvature.cases_list,
    }
    info = machine.facts()
    notes = machine.warnings()
    print(machine.summary(info))
    for note in notes:
        print(f"warning: {note}")
    for peer, why in peers.SKIPPED.items():
        print(f"skipped {peer}: {why}")
    tasks: dict[tuple[str, str], list] = {}
    for name in args.only:
        for case in builders[name]():
            tasks.setdefault((case.workload, case.task), []).append(case)
    measurements = []
    neighbours = [busy_neighbour() for _ in range(args.neighbour)]
    started = datetime.datetime.now(datetime.timezone.utc)
    total = sum(len(cases) for cases in tasks.values()) * (1 + args.repeat)
    with tqdm(total=total, desc="benchmarks", unit="step") as bar:

        def progress(steps: int, label: str) -> None:
            if label:
                bar.set_postfix_str(label)
            bar.update(steps)

        try:
            for cases in tasks.values():
                measurements += harness.measure_task(cases, args.repeat, progress)
        finally:
            for process in neighbours:
                process.kill()
    summaries: dict[str, Any] = {}
    if "scaling" in args.only:
        summaries["scaling"] = scaling.summarize(measurements)
    goals = report.targets(measurements, summaries.get("scaling"))
    print(report.table(measurements))
    print("targets (ratio = our time / peer time):")
    print(report.targets_text(goals))
    info["load_average_after"] = list(os.getloadavg()) if hasattr(os, "getloadavg") else None
    document = {
        "meta": {
            "started": started.isoformat(timespec="seconds"),
            "seconds": (datetime.datetime.now(datetime.timezone.utc) - started).total_seconds(),
            "argv": sys.argv[1:] if argv is None else argv,
            "repeat": args.repeat,
            "device": args.device,
            "slow": args.slow,
            "neighbours": args.neighbour,
            "threads": args.threads,
            "commit": _commit(),
        },
        "machine": info,
        "warnings": notes,
        "skipped": peers.SKIPPED,
        "results": [m.as_json() for m in measurements],
        "summaries": summaries,
        "targets": goals,
    }
    out = args.out
    report.write_json(out / "results.json", document)
    print(f"wrote {out / 'results.json'}")
    if "scaling" in summaries:
        caption = f"{started:%Y-%m-%d} | {machine.summary(info).replace(chr(10), ' | ')}"
        try:
            scaling.plot(summaries["scaling"], str(out / "scaling.png"), caption)
            print(f"wrote {out / 'scaling.png'}")
        except ImportError:
            print("matplotlib is not installed: no scaling.png (pip install matplotlib)")
    failures = [m for m in measurements if m.case.impl == "ours" and m.error]
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
