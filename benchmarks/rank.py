"""The three rank targets of issue 15: the functional dimension (NumPy's rule, sigma > sigma_max
max(m, p) eps, float64) by ``landscape.functional_dimension(method="stream")``, each in a fresh
process whose peak resident memory (``ru_maxrss``) and wall time are recorded.

    python benchmarks/rank.py [--targets small,1000,4000] [--no-spectrum] [--out benchmarks/results/rank.json]

* ``small``: (64, 30, 30, 30, 10) on 500 Gaussian points (J 5000 x 4120), beside torch.func's
  ``vmap(jacrev)`` J + ``torch.linalg.matrix_rank`` in its own process (target: ours <= 0.5x);
* ``1000``: (784, 30, 30, 30, 10) on 1,000 digits28 images (J 10,000 x 25,720; target <= 3 min,
  <= 4 GB);
* ``4000``: (784, 30, 30, 30, 10) on 4,000 Gaussian points (J 40,000 x 25,720, 8 GB if held;
  digits28 has 1,797 images; target <= 30 min, <= 8 GB), always with ``spectrum=False``.

``--no-spectrum`` measures the rank alone (``spectrum=False``: no ``eigvalsh`` of the Gram
matrix, the singular values above the refined block not computed).

``--device cuda`` runs ours through CuPy (not run here: no GPU).  The load average is recorded
before and after each target: on a shared machine it changes every figure.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TARGETS = {
    "small": {
        "sizes": (64, 30, 30, 30, 10),
        "points": 500,
        "data": "gaussian",
        "limit_s": None,
        "limit_gb": None,
    },
    "1000": {
        "sizes": (784, 30, 30, 30, 10),
        "points": 1000,
        "data": "digits28",
        "limit_s": 180,
        "limit_gb": 4,
    },
    "4000": {
        "sizes": (784, 30, 30, 30, 10),
        "points": 4000,
        "data": "gaussian",
        "limit_s": 1800,
        "limit_gb": 8,
        "spectrum": False,  # eigvalsh's copy of the 25,720^2 Gram matrix would pass 8 GB
    },
}


def _child(target: str, impl: str, device: str, spectrum: bool) -> dict[str, Any]:
    """Runs in the measured process: build, then time the rank alone."""
    sys.path.insert(0, str(ROOT))
    if target == "small":
        from benchmarks import jacobian as workload

        workload.RANK_METHOD = "stream"
        run = workload._ours_rank_build() if impl == "ours" else workload._torch_rank()
        start = time.perf_counter()
        rank = int(run())
        return {"rank": rank, "seconds": time.perf_counter() - start}
    import autodiff as ad
    import landscape
    import nn

    spec = TARGETS[target]
    model = nn.MLP(spec["sizes"], generator=ad.random.Generator(0), device=device)
    if spec["data"] == "digits28":
        X = nn.data.digits28(device=device)[0].tensors[0][: spec["points"]]
    else:
        X = ad.random.Generator(1).randn(spec["points"], spec["sizes"][0], device=device)
    start = time.perf_counter()
    spectrum = spectrum and spec.get("spectrum", True)
    fd = landscape.functional_dimension(model, X, method="stream", spectrum=spectrum)
    seconds = time.perf_counter() - start
    return {"rank": fd.rank, "seconds": seconds, "shape": list(fd.shape), "gap": fd.gap, "rule": fd.rule,
            "spectrum": spectrum, "bound": landscape.relu.rank_upper_bound(model)}  # fmt: skip


def _measure(target: str, impl: str, device: str, spectrum: bool) -> dict[str, Any]:
    """The child's result, its peak RSS (GB) and the load average around it."""
    before = os.getloadavg()
    cmd = [sys.executable, __file__, "--child", target, "--impl", impl, "--device", device]
    cmd += [] if spectrum else ["--no-spectrum"]
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}
    )
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    if status != 0:
        return {"target": target, "impl": impl, "error": f"exit status {status}"}
    result = json.loads(out.decode().strip().splitlines()[-1])
    return {"target": target, "impl": impl, **result, "peak_gb": usage.ru_maxrss / 2**20,
            "load_before": before, "load_after": os.getloadavg()}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--targets", default="small,1000,4000")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "rank.json")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument(
        "--no-spectrum", action="store_true", help="rank only: spectrum=False (the 4000 target always)"
    )
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--impl", default="ours", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(_child(args.child, args.impl, args.device, not args.no_spectrum)))
        return 0
    targets = [t for t in args.targets.split(",") if t]
    unknown = [t for t in targets if t not in TARGETS]
    if unknown:
        parser.error(f"--targets: unknown {unknown}; choose from {', '.join(TARGETS)}")
    rows = []
    for target in targets:
        impls = ["ours", "torch.func"] if target == "small" else ["ours"]
        for impl in impls:
            row = _measure(target, impl, args.device, not args.no_spectrum)
            rows.append(row)
            spec = TARGETS[target]
            limits = f" (target <= {spec['limit_s']} s, <= {spec['limit_gb']} GB)" if spec["limit_s"] else ""
            print(f"{target:>5} {impl:<10} rank {row.get('rank')} {row.get('seconds', float('nan')):8.1f} s "
                  f"peak {row.get('peak_gb', float('nan')):5.2f} GB load {row.get('load_before', [0])[0]:.1f}"
                  f"{limits}", flush=True)  # fmt: skip
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"device": args.device, "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
