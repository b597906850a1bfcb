"""jacfwd of the width-1024 depth-4 tanh MLP (the scaling workload at d = 1024), ours against
torch.func.jacfwd, each sample in a fresh process of its own, alternating; on the machine as it
is, then beside N CPU-bound neighbour processes.

    python -m benchmarks.busy [--rounds 5] [--neighbours 0,1] [--json FILE]

Separate processes, because in one process the peer's thread pool keeps spinning after its calls
and takes the cores from the next sample (measured: ours 2.3-2.7 s right after torch's calls,
0.9 s alone, on the same loaded machine).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.harness import counts

ROOT = Path(__file__).resolve().parent.parent
CHILD = """
import sys, time
sys.path.insert(0, {root!r})
from benchmarks import scaling
call = (scaling._ours if {impl!r} == "ours" else scaling._torch)(1024, "forward")
call()
best = float("inf")
for _ in range(3):
    start = time.perf_counter(); call(); best = min(best, time.perf_counter() - start)
print(best)
"""


def sample(impl: str) -> float:
    code = CHILD.format(root=str(ROOT), impl=impl)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(done.stdout.split()[-1])


def measure(rounds: int, neighbours: int) -> dict[str, object]:
    busy = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(neighbours)]
    try:
        time.sleep(0.5 if busy else 0)
        load = os.getloadavg()[0]
        times: dict[str, list[float]] = {"ours": [], "torch": []}
        for _ in range(rounds):
            for impl in times:
                times[impl].append(sample(impl))
    finally:
        for process in busy:
            process.kill()
    out: dict[str, object] = {
        k: {"median_s": statistics.median(v), "best_s": min(v)} for k, v in times.items()
    }
    out["ratio_median"] = out["ours"]["median_s"] / out["torch"]["median_s"]
    out["ratio_best"] = out["ours"]["best_s"] / out["torch"]["best_s"]
    out["load_average_at_start"] = load
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--neighbours", type=counts, default=[0, 1], help="e.g. 0,1")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    results = {}
    for n in args.neighbours:
        results[f"neighbours={n}"] = r = measure(args.rounds, n)
        ours, torch = r["ours"], r["torch"]
        print(
            f"neighbours={n}: ours {ours['median_s']:.3f} s (best {ours['best_s']:.3f}), torch.func "
            f"{torch['median_s']:.3f} s (best {torch['best_s']:.3f}), ratio {r['ratio_median']:.2f} "
            f"(best {r['ratio_best']:.2f}), load average {r['load_average_at_start']:.1f}"
        )
    if args.json:
        args.json.write_text(json.dumps(results, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
