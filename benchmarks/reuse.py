"""What NumPy offers instead of kernel fusion: the compiled replay's buffer reuse (``out=``).

    python -m benchmarks.reuse [--sizes 16,100000] [--rounds 15] [--json FILE]

W1 (the 300-op elementwise chain, forward and backward) compiled with the passes fold, cse, dce
and reuse, the same without reuse, and the hand-written NumPy floor, alternated round by round;
microseconds per op, median and best.  NumPy has no fusion of elementwise chains (each ufunc
call reads and writes whole arrays); what a replay can do is skip the allocations.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import statistics
import time
from pathlib import Path

import numpy as np

import autodiff as ad
from benchmarks import overhead
from benchmarks.harness import counts


def measure(size: int, rounds: int) -> dict[str, dict[str, float]]:
    x = ad.tensor(np.resize(overhead._x0(), size))
    f = ad.grad(lambda x: overhead.chain(x, ad.sin, ad.tanh).sum())
    cases = {
        "compiled, reuse": functools.partial(ad.compile(f), x),
        "compiled, no reuse": functools.partial(ad.compile(f, passes=("fold", "cse", "dce")), x),
        "numpy floor": functools.partial(overhead.numpy_chain_grad, x.numpy()),
    }
    calls = max(1, 3200 // size)
    times: dict[str, list[float]] = {name: [] for name in cases}
    for call in cases.values():
        call()
    for _ in range(rounds):
        for name, call in cases.items():
            start = time.perf_counter()
            for _ in range(calls):
                call()
            times[name].append((time.perf_counter() - start) / calls / 300 * 1e6)
    return {
        name: {"median_us_per_op": statistics.median(t), "best_us_per_op": min(t)}
        for name, t in times.items()
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=counts, default=[16, 100000], help="e.g. 16,100000")
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    if 0 in args.sizes or args.rounds < 1:
        parser.error("--sizes must be at least 1 entry each, and --rounds at least 1")
    results = {"load_average_before": os.getloadavg()}
    for size in args.sizes:
        results[f"n={size}"] = measure(size, args.rounds)
        for name, m in results[f"n={size}"].items():
            print(
                f"n={size:>7}  {name:20s} {m['median_us_per_op']:9.2f} us/op (best {m['best_us_per_op']:.2f})"
            )
    results["load_average_after"] = os.getloadavg()
    if args.json:
        args.json.write_text(json.dumps(results, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
