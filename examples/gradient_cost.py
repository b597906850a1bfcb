"""What a gradient costs, in evaluations of f: the lecture's complexity argument as a picture.

For g: R^d -> R an MLP of width w >= d and depth L (Scaman, *Non-convex optimization*, 2024:
*Which algorithm is faster?*), one evaluation costs O(w^2 L) operations, and the gradient costs

* finite differences: d + 1 evaluations, g(x + eps e_i) for each direction (O(d w^2 L));
* forward mode: one JVP per direction e_i, each a small multiple of an evaluation (O(d w^2 L));
* reverse mode (backpropagation): one forward and one backward pass, a small multiple of an
  evaluation whatever d is (O(w^2 L)).

This times the three for d = 16 ... 1024 (width w = 1024 >= d, depth 3, tanh), divides each by
the time of one evaluation, and fits the slope of log(cost) against log(d): about 0 for reverse
mode, about 1 for the two others.  The three gradients are checked against each other.  Each
timing is a loop, all ways are timed in rounds under the same load, the fastest round kept;
BLAS runs on one thread.
Writes gradient_cost.png (log-log, with the fitted slopes) and gradient_cost.json to ``--out``
(default ./gradient_cost).  Times are the fastest of ``--repeat`` rounds; on a busy machine
they are noisy, the slopes much less so.

    python examples/gradient_cost.py [--out DIR] [--dims 16,32,...,1024] [--width 1024] [--repeat 3]
"""

from __future__ import annotations

import os

# One thread: the costs count operations, and a multithreaded BLAS on a busy machine makes
# single calls and long loops of them wait differently.
for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

import autodiff as ad  # noqa: E402

METHODS = ("reverse mode", "forward mode (one JVP per direction)", "finite differences")
EPS = 1e-6


def mlp(d: int, width: int, depth: int, seed: int) -> Callable[[ad.Tensor], ad.Tensor]:
    """g(x) = v . tanh(W_L ... tanh(W_1 x)): R^d -> R, weights ~ N(0, 1/fan_in)."""
    gen = ad.random.Generator(seed)
    sizes = [d] + [width] * depth
    weights = [gen.randn(n, m) / math.sqrt(m) for m, n in zip(sizes, sizes[1:], strict=False)]
    v = gen.randn(width) / math.sqrt(width)

    def g(x: ad.Tensor) -> ad.Tensor:
        h = x
        for W in weights:
            h = ad.tanh(W @ h)
        return v @ h

    return g


def per_call(fn: Callable[[], Any], calls: int) -> float:
    """Seconds per call of ``fn``, timed over a loop of ``calls`` calls."""
    start = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - start) / calls


def gradients(g: Callable, x: ad.Tensor) -> dict[str, Callable[[], ad.Tensor]]:
    """The gradient of g at x, three ways."""
    d = x.shape[0]
    eye = ad.eye(d)

    def forward() -> ad.Tensor:
        return ad.stack([ad.jvp(g, (x,), (eye[i],))[1] for i in range(d)])

    def differences() -> ad.Tensor:
        g0 = g(x)
        return ad.stack([(g(x + EPS * eye[i]) - g0) / EPS for i in range(d)])

    return {METHODS[0]: lambda: ad.grad(g)(x), METHODS[1]: forward, METHODS[2]: differences}


def measure(d: int, width: int, depth: int, repeat: int, seed: int) -> dict[str, Any]:
    """The cost of each gradient in evaluations of g, at input dimension d.

    Every timing is a loop (64 evaluations, 64 reverse-mode gradients, the d JVPs of forward
    mode, the d + 1 evaluations of finite differences); the ``repeat`` rounds time every way
    once each, so that all see the same load, and the fastest round of each way is kept."""
    g = mlp(d, width, depth, seed)
    x = ad.random.Generator(seed + 1).randn(d)
    ways = {"evaluation": lambda: g(x), **gradients(g, x)}
    calls = {"evaluation": 64, METHODS[0]: 64, METHODS[1]: 1, METHODS[2]: 1}
    results = {name: fn() for name, fn in ways.items()}  # a warm-up, and the three gradients
    best = dict.fromkeys(ways, math.inf)
    for _ in range(repeat):
        for name, fn in ways.items():
            best[name] = min(best[name], per_call(fn, calls[name]))
    reverse = results[METHODS[0]]
    scale = ad.norm(reverse).item()
    agreement = {
        "forward vs reverse": ad.norm(results[METHODS[1]] - reverse).item() / scale,
        "finite differences vs reverse": ad.norm(results[METHODS[2]] - reverse).item() / scale,
    }
    return {
        "d": d,
        "evaluation_s": best["evaluation"],
        "cost_in_evaluations": {m: best[m] / best["evaluation"] for m in METHODS},
        "relative_difference": agreement,
    }


def fitted_slopes(rows: list[dict[str, Any]]) -> dict[str, float]:
    """Least-squares slope of log(cost) against log(d), per method."""
    logd = np.log([r["d"] for r in rows])
    return {
        m: float(np.polyfit(logd, np.log([r["cost_in_evaluations"][m] for r in rows]), 1)[0]) for m in METHODS
    }


def plot(rows: list[dict[str, Any]], slopes: dict[str, float], width: int, depth: int, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    dims = [r["d"] for r in rows]
    fig, ax = plt.subplots(figsize=(7, 5))
    for method, marker in zip(METHODS, "osd", strict=True):
        cost = [r["cost_in_evaluations"][method] for r in rows]
        ax.loglog(dims, cost, marker=marker, label=f"{method}: slope {slopes[method]:.2f}")
    ax.loglog(dims, [d + 1 for d in dims], "k:", linewidth=1, label="d + 1")
    ax.set_xlabel("input dimension d")
    ax.set_ylabel("cost of the gradient / cost of one evaluation")
    ax.set_title(f"Gradient of an MLP R^d -> R, width {width}, depth {depth}")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="gradient_cost", help="output folder (default ./gradient_cost)")
    parser.add_argument("--dims", default="16,32,64,128,256,512,1024", help="input dimensions d")
    parser.add_argument("--width", type=int, default=1024, help="hidden width w (>= every d)")
    parser.add_argument("--depth", type=int, default=3, help="hidden layers L")
    parser.add_argument("--repeat", type=int, default=3, help="rounds of timings (the fastest is kept)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    dims = [int(n) for n in args.dims.split(",")]
    if len(dims) < 2 or max(dims) > args.width:
        parser.error(f"--dims: at least two dimensions, none above --width {args.width}")
    from tqdm import tqdm

    rows = [measure(d, args.width, args.depth, args.repeat, args.seed) for d in tqdm(dims, desc="d")]
    slopes = fitted_slopes(rows)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    result = {
        "function": f"MLP R^d -> R, width {args.width}, depth {args.depth}, tanh, float64",
        "methods": list(METHODS),
        "fitted_log_log_slopes": slopes,
        "rows": rows,
        "repeat": args.repeat,
        "eps": EPS,
    }
    (out / "gradient_cost.json").write_text(json.dumps(result, indent=1) + "\n")
    plot(rows, slopes, args.width, args.depth, out / "gradient_cost.png")
    for method in METHODS:
        costs = ", ".join(f"{r['cost_in_evaluations'][method]:.3g}" for r in rows)
        print(f"{method}: slope {slopes[method]:.2f}; cost in evaluations at d = {dims}: {costs}")
    print(f"wrote {out / 'gradient_cost.png'} and {out / 'gradient_cost.json'}")
    return result


if __name__ == "__main__":
    main()
