"""The compiled programs against their floors, each sample a fresh process, alternating: W2 (one
SGD step of the 784-256-256-10 MLP: ``nn.CompiledStep`` against the hand-written NumPy step and
PyTorch eager), W3 (the dense Hessian, p = 1441: ``ad.compile`` of ``ad.hessian`` against JAX
jit and torch.func) and W4 (the 5000 x 4120 parameter Jacobian: ``ad.compile`` of
``vmap(jacrev)`` against JAX jit and torch.func).

    python -m benchmarks.floor [--rounds 7] [--only w2,w3,w4] [--json FILE]

Fresh processes, because in one process the order of the cases changes the times: the case run
just after the NumPy floor's step paid about 5 % more than the same case run later (the heap the
previous case left), and a peer's spinning thread pool takes the cores from the next sample.
Each process warms its case up, then times blocks of calls; a round runs every case once.
Reported per case: the best block over all rounds and the median of the processes' medians.
BLAS and the peers get one thread (``OMP_NUM_THREADS=1``), as in ``run.py --threads 1``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CASES = {
    "w2": {
        "ours.compile": "training._ours_nn(importlib.import_module('nn'), compiled=True)",
        "numpy": "training._numpy()",
        "torch": "training._torch()",
    },
    "w3": {
        "ours.compile": "hessian._ours_compiled()",
        "jax.jit": "hessian._jax(jit=True)",
        "torch.func": "hessian._torch()",
    },
    "w4": {
        "ours.compile": "jacobian._ours_compiled_jacobian()",
        "jax.jit": "jacobian._jax_jacobian(jit=True)",
        "torch.func": "jacobian._torch_jacobian()",
    },
}
CALLS = {"w2": (15, 20), "w3": (7, 1), "w4": (7, 1)}  # blocks, calls per block
CHILD = """
import importlib, statistics, sys, time
sys.path.insert(0, {root!r})
from benchmarks import hessian, jacobian, training
from benchmarks.harness import host
call = {build}
done = lambda out: host(out[0] if isinstance(out, tuple) else out)  # (loss, params): wait for the loss
for _ in range(3):
    done(call())
times = []
for _ in range({blocks}):
    start = time.perf_counter()
    for _ in range({calls}):
        out = call()
    done(out)
    times.append((time.perf_counter() - start) / {calls})
print(min(times), statistics.median(times))
"""


def sample(workload: str, impl: str) -> tuple[float, float] | None:
    """(best, median) seconds per call of one fresh process, or None when the peer is missing."""
    blocks, calls = CALLS[workload]
    code = CHILD.format(root=str(ROOT), build=CASES[workload][impl], blocks=blocks, calls=calls)
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_CORETYPE"}
    env.update(OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    if done.returncode != 0:
        return None
    best, median = (float(v) for v in done.stdout.split()[-2:])
    return best, median


def measure(workload: str, rounds: int, bar: object) -> dict[str, object]:
    times: dict[str, list[tuple[float, float]]] = {impl: [] for impl in CASES[workload]}
    load = os.getloadavg()[0]
    for _ in range(rounds):
        for impl in times:
            got = sample(workload, impl)
            if got is not None:
                times[impl].append(got)
            bar.update(1)
    out: dict[str, object] = {
        impl: {"best_s": min(b for b, _ in v), "median_s": statistics.median(m for _, m in v), "n": len(v)}
        for impl, v in times.items()
        if v
    }
    ours = out["ours.compile"]
    for impl in list(out):
        if impl != "ours.compile":
            out[f"ratio_median vs {impl}"] = ours["median_s"] / out[impl]["median_s"]
            out[f"ratio_best vs {impl}"] = ours["best_s"] / out[impl]["best_s"]
    out["load_average"] = [load, os.getloadavg()[0]]
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--only", default="w2,w3,w4", help="comma-separated: w2, w3, w4")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    workloads = [w.strip() for w in args.only.split(",") if w.strip()]
    unknown = sorted(set(workloads) - set(CASES))
    if unknown or not workloads:
        parser.error(f"--only takes {', '.join(CASES)}; got {args.only!r}")
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    from landscape._core import progress

    bar = progress(sum(args.rounds * len(CASES[w]) for w in workloads), "fresh processes", "proc")
    results = {w: measure(w, args.rounds, bar) for w in workloads}
    bar.close()
    for w, r in results.items():
        for impl, v in r.items():
            if isinstance(v, dict):
                print(f"{w} {impl}: median {v['median_s'] * 1e3:.3f} ms, best {v['best_s'] * 1e3:.3f} ms")
            elif impl.startswith("ratio"):
                print(f"{w} compiled / {impl.split(' vs ')[1]} ({impl.split()[0][6:]}): {v:.3f}")
        print(f"{w} load average {r['load_average'][0]:.1f} -> {r['load_average'][1]:.1f}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
