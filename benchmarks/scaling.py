"""Workload 5, scaling: the lecture's complexity table measured
(Scaman, *Non-convex optimization*, 2024, *Complexity for gradients of MLPs*).

For g: R^d -> R a width-d, depth-4 tanh MLP (sizes d, d, d, d, 1; float64) and d = 64, 256,
1024, the gradient of g at x costs, in units of one evaluation of g:

- reverse mode (``ad.grad``): O(1), the lecture's O(w^2 L); the target is <= 3 at every d;
- forward mode (``ad.jacfwd``: d one-hot tangents in one batched pass): O(d);
- central finite differences (2d evaluations, batched as one evaluation on 2d points): O(d).

Forward mode and finite differences are vectorised (matrix-matrix products).  In units of one
evaluation their cost can grow faster than d where one evaluation is mostly fixed per-op
overhead (small d), and more slowly where matrix-matrix products run faster per flop than the
matrix-vector products of one evaluation (large d); the log-log slope of the cost against d is
reported.  PyTorch's evaluation, reverse mode and forward mode (``torch.func.jacfwd``) are measured
beside ours.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

import autodiff as ad
from benchmarks import models, peers
from benchmarks.harness import Case, Measurement, host

NAME = "scaling"
DIMS = (64, 256, 1024)
DEPTH = 4
FD_STEP = 1e-6
METHODS = ("eval", "reverse", "forward", "fd")
COLORS = {"eval": "tab:blue", "reverse": "tab:red", "forward": "tab:green", "fd": "tab:orange"}


def sizes(d: int) -> tuple[int, ...]:
    return (d,) * DEPTH + (1,)


def _data(d: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(5)
    return models.init_theta(sizes(d), rng), rng.standard_normal(d)


def _ours(d: int, method: str) -> Callable[[], Any]:
    theta, x = (ad.tensor(a, device=peers.device()) for a in _data(d))
    g = lambda v: models.mlp(theta, v, sizes(d), ad.tanh, ad.reshape).sum()
    if method == "eval":
        return lambda: g(x)
    if method == "reverse":
        return lambda: ad.grad(g)(x)
    if method == "forward":
        return lambda: ad.jacfwd(g)(x)
    eye = ad.eye(d, device=peers.device()) * FD_STEP
    points = ad.concatenate([x + eye, x - eye], axis=0)  # (2d, d): x + h e_i, then x - h e_i

    def finite_differences() -> Any:
        values = models.mlp(theta, points, sizes(d), ad.tanh, ad.reshape)[:, 0]
        return (values[:d] - values[d:]) / (2 * FD_STEP)

    return finite_differences


def _torch(d: int, method: str) -> Callable[[], Any]:
    torch = peers.torch()
    theta, x = (torch.from_numpy(a).to(peers.torch_device()) for a in _data(d))
    g = lambda v: models.mlp(theta, v, sizes(d), torch.tanh, torch.reshape).sum()
    if method == "eval":
        return torch.no_grad()(lambda: g(x))
    if method == "forward":
        return lambda: torch.func.jacfwd(g)(x)
    x.requires_grad_(True)

    def reverse() -> Any:
        g(x).backward()
        grad, x.grad = x.grad, None
        return grad

    return reverse


def cases() -> list[Case]:
    out = []
    for d in DIMS:
        task = f"d={d}"
        for method in METHODS:
            fetch = (
                (lambda v: {"value": host(v)}) if method == "eval" else (lambda v: {"grad": host(v).ravel()})
            )
            common = {
                "unit": "ms",
                "fetch": fetch,
                "reference": "ours eval" if method == "eval" else "ours reverse",
                "relative_to": None if method == "eval" else "ours eval",
                "tol": 1e-6 if method == "fd" else 1e-10,
            }
            build = lambda d=d, method=method: _ours(d, method)
            out.append(Case(NAME, task, f"ours {method}", build, sync=peers.ours_sync, **common))
            if method != "fd" and peers.torch() is not None:
                common["relative_to"] = None if method == "eval" else "torch eval"
                build = lambda d=d, method=method: _torch(d, method)
                out.append(Case(NAME, task, f"torch {method}", build, sync=peers.torch_sync, **common))
    return out


def summarize(measurements: list[Measurement]) -> dict[str, Any]:
    """Cost of each method in evaluations of g, per d (from medians, and from best samples),
    and the log-log slope of the median cost against d."""
    times: dict[str, dict[int, float]] = {}
    best: dict[str, dict[int, float]] = {}
    for m in measurements:
        if m.case.workload == NAME and not m.error:
            times.setdefault(m.case.impl, {})[int(m.case.task[2:])] = m.seconds
            best.setdefault(m.case.impl, {})[int(m.case.task[2:])] = m.best

    def cost(of: dict[str, dict[int, float]]) -> dict[str, dict[int, float]]:
        evals = {impl.split()[0]: by_d for impl, by_d in of.items() if impl.endswith(" eval")}
        return {
            impl: {d: t / evals[impl.split()[0]][d] for d, t in by_d.items() if d in evals[impl.split()[0]]}
            for impl, by_d in of.items()
            if not impl.endswith(" eval") and impl.split()[0] in evals
        }

    median_cost = cost(times)
    return {
        "seconds": times,
        "seconds_best": best,
        "cost_in_evaluations": median_cost,
        "cost_in_evaluations_best": cost(best),
        "loglog_slope_of_cost": {impl: _slope(by_d) for impl, by_d in median_cost.items()},
    }


def _slope(by_d: dict[int, float]) -> float | None:
    if len(by_d) < 2:
        return None
    d = np.log([float(k) for k in by_d])
    c = np.log(list(by_d.values()))
    return float(np.polyfit(d, c, 1)[0])


def plot(summary: dict[str, Any], path: str, caption: str) -> None:
    """Time and cost-in-evaluations against d, log-log (matplotlib, imported lazily)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.4))
    for ax, key in ((left, "seconds"), (right, "cost_in_evaluations")):
        for impl, by_d in sorted(summary[key].items()):
            framework, method = impl.split()
            ds = sorted(by_d)
            scale = 1e3 if key == "seconds" else 1.0
            ax.plot(
                ds,
                [by_d[d] * scale for d in ds],
                "--" if framework == "torch" else "-",
                color=COLORS[method],
                marker="o" if framework == "ours" else "s",
                label=impl,
            )
    all_d = sorted({d for by_d in summary["seconds"].values() for d in by_d})
    if all_d:
        right.axhline(3.0, color="grey", lw=0.8, ls=":", label="target: reverse <= 3")
        right.plot(
            all_d, [d / all_d[0] for d in all_d], color="grey", lw=0.8, ls="-.", label="slope 1 (O(d))"
        )
    for ax, title, label in ((left, "time", "ms"), (right, "cost of the gradient", "evaluations of g")):
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("d (input dimension = width)")
        ax.set_ylabel(label)
        ax.set_title(title)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(f"Gradient of a width-d depth-{DEPTH} tanh MLP R^d -> R", fontsize=11)
    fig.text(0.01, 0.01, caption, fontsize=7, color="dimgrey", wrap=True)
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    fig.savefig(path, dpi=120)
    plt.close(fig)
