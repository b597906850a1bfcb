"""Escaping strict and non-strict saddles of a deep linear network (the figure of the notes).

Gradient descent starts at distance eps from two critical points associated with the same
S = {1} (same critical value) of a 3-layer linear network: a non-tight one (strict saddle: the
Hessian has a negative eigenvalue lambda_min) and a tight one (non-strict saddle: PSD Hessian),
built by :mod:`landscape.linear`.  Theory (Malgouyres, *Nonconvex optimization landscapes*,
2024; Achour, Malgouyres, Gerchinovitz): a strict saddle repels exponentially, so the escape
takes log(1/eps) / log(1 + eta |lambda_min|) + O(1) steps; at a tight saddle the first decrease
is of order H in the perturbation, so the escape takes polynomially many steps, ~ eps^-(H-2).
A run from near W = 0 shows the plateaus at the non-strict critical values tr(Sigma_YY) -
sum_{i<=r} delta_i^2.  Used by ``examples/deep_linear_saddles.py`` and ``autodiff demo``.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

import autodiff as ad
from landscape._core import progress
from landscape.critical import classify
from landscape.linear import gradient_descent, random_problem

WIDTHS, DELTA, ETA, S = [4, 3, 3, 3], [3.0, 2.0, 1.0], 0.02, (1,)
EPS = {"strict": np.logspace(-8, -2, 7), "non-strict": np.logspace(-2.5, -0.5, 5)}
COMMON_EPS, CHUNK, RECORD = 1e-2, 1000, 5


def perturbations(theta: np.ndarray, eps: float, runs: int, rng: np.random.Generator) -> np.ndarray:
    """``runs`` points at distance exactly ``eps`` from theta, in uniformly random directions."""
    d = rng.standard_normal((runs, theta.size))
    return theta + eps * d / np.linalg.norm(d, axis=1, keepdims=True)


def run(
    runs: int, max_steps: int, seed: int, eps: dict[str, Any] | None = None, bar: bool = True
) -> dict[str, Any]:
    """Gradient descent (eta = ETA) from ``runs`` perturbations of each saddle at each eps of
    ``eps`` (default :data:`EPS`; each grid must contain :data:`COMMON_EPS`), and 4 runs from
    near W = 0, for at most ``max_steps`` steps; the escape step of a run is the first recorded
    step whose risk is below the mid-point between the saddles' value and the next one."""
    eps = EPS if eps is None else {kind: np.asarray(grid, dtype=float) for kind, grid in eps.items()}
    rng = np.random.default_rng(seed)
    problem = random_problem(WIDTHS, delta=DELTA, rng=seed)
    saddles = {
        "strict": problem.flatten(problem.critical_point(S, tight=False, rng=seed + 1)),
        "non-strict": problem.flatten(problem.critical_point(S, tight=True, rng=seed + 1)),
    }
    facts = {}
    for kind, theta in saddles.items():
        report = problem.theory_kind(theta)
        eigs = np.linalg.eigvalsh(ad.hessian(problem.loss)(ad.tensor(theta)).numpy())
        assert report.kind == kind + " saddle", report
        verdict = classify(problem.loss, ad.tensor(theta))  # the Hessian's (and probes') say
        facts[kind] = {
            "theory": str(report),
            "classify": verdict.kind,
            "inertia": verdict.inertia,
            "hessian_min": float(eigs[0]),
            "hessian_max": float(eigs[-1]),
            "critical_value": report.critical_value,
        }
    rows, labels = [], []
    for kind, grid in eps.items():
        for e in grid:
            rows.append(perturbations(saddles[kind], e, runs, rng))
            labels += [(kind, float(e))] * runs
    n_stairs = 4  # from near W = 0 (S = {}, tight for H = 3: a non-strict saddle)
    rows.append(perturbations(np.zeros(problem.n_params), 0.1, n_stairs, rng))
    labels += [("from zero", 0.1)] * n_stairs
    theta = ad.tensor(np.vstack(rows))
    threshold = problem.critical_value(S) - 0.5 * problem.delta[len(S)] ** 2
    escape = np.full(len(labels), -1)
    shown = [i for i, lab in enumerate(labels) if lab[1] == COMMON_EPS][:: max(1, runs // 4)]
    shown += list(range(len(labels) - n_stairs, len(labels)))
    curves, step = [], 0
    pbar = progress(max_steps, "gradient descent", "step", enabled=bar)
    while step < max_steps and (escape[:-n_stairs] < 0).any():
        theta, losses = gradient_descent(problem.loss, theta, ETA, CHUNK, record_every=RECORD)
        curves.append(losses[:, shown])
        below = losses < threshold
        new = (escape < 0) & below.any(axis=0)
        escape[new] = step + RECORD * below[:, new].argmax(axis=0)
        step += CHUNK
        pbar.update(CHUNK)
    pbar.close()
    return {
        "problem": problem,
        "facts": facts,
        "eps": eps,
        "labels": labels,
        "escape": escape,
        "shown": shown,
        "curves": np.vstack(curves),
        "steps": step,
    }


def summarise(result: dict[str, Any]) -> dict[str, Any]:
    """Per saddle kind and eps: median and quartiles of the escape steps and the runs that did
    not escape; the fitted steps per decade of 1/eps (strict; predicted log 10 / log(1 + eta
    |lambda_min|)) and power of 1/eps (non-strict; predicted H - 2)."""
    problem, labels, escape = result["problem"], result["labels"], result["escape"]
    out = {}
    for kind, grid in result["eps"].items():
        med, q1, q3, censored = [], [], [], []
        for e in grid:
            times = escape[[i for i, lab in enumerate(labels) if lab == (kind, float(e))]]
            done = times[times >= 0]
            censored.append(int((times < 0).sum()))
            quart = np.percentile(done, [25, 50, 75]) if done.size else [math.nan] * 3
            q1.append(float(quart[0]))
            med.append(float(quart[1]))
            q3.append(float(quart[2]))
        out[kind] = {"eps": grid.tolist(), "median": med, "q1": q1, "q3": q3, "not_escaped": censored}
    lam = -result["facts"]["strict"]["hessian_min"]
    strict, loose = out["strict"], out["non-strict"]
    slope = np.polyfit(np.log10(1 / np.array(strict["eps"])), strict["median"], 1)[0]
    strict["steps_per_decade"] = float(slope)
    strict["predicted_steps_per_decade"] = math.log(10) / math.log(1 + ETA * lam)
    ok = np.isfinite(loose["median"])
    power = np.polyfit(np.log(1 / np.array(loose["eps"])[ok]), np.log(np.array(loose["median"])[ok]), 1)[0]
    loose["power_of_1_over_eps"] = float(power)
    loose["predicted_power"] = problem.H - 2
    return out


def plot(result: dict[str, Any], summary: dict[str, Any], path: str | Path, dpi: int = 120) -> Path:
    """Three panels: risk curves with the plateaus at critical values, the escape steps at
    eps = COMMON_EPS, and escape step against 1/eps (log(1/eps) against polynomial)."""
    from matplotlib.figure import Figure

    problem, labels = result["problem"], result["labels"]
    colors = {"strict": "tab:red", "non-strict": "tab:blue", "from zero": "tab:green"}
    fig = Figure(figsize=(17, 5))
    axes = fig.subplots(1, 3)
    ax = axes[0]
    steps = np.arange(result["curves"].shape[0]) * RECORD + 1
    for column, i in enumerate(result["shown"]):
        kind = labels[i][0]
        ax.plot(steps, result["curves"][:, column], color=colors[kind], lw=1, alpha=0.8)
    for value in problem.critical_values():
        plateau = any(S == tuple(range(1, len(S) + 1)) for S in value.subsets)
        ax.axhline(value.value, color="k", lw=0.8 if plateau else 0.4, ls="--" if plateau else ":", alpha=0.6)
        if plateau:
            ax.text(steps[-1], value.value, f" S={set(value.subsets[0]) or '{}'}", va="center", fontsize=8)
    names = {
        "strict": f"strict saddle, eps={COMMON_EPS:g}",
        "non-strict": f"non-strict saddle, eps={COMMON_EPS:g}",
        "from zero": "from W = 0, eps=0.1",
    }
    for kind, color in colors.items():
        ax.plot([], [], color=color, label=names[kind])
    ax.set(
        xscale="log", yscale="log", xlabel="step", ylabel="risk R(W)", title="(a) plateaus at critical values"
    )
    ax.legend(fontsize=8, loc="lower left")
    ax = axes[1]
    bins = np.logspace(1, math.log10(max(result["steps"], 100)), 40)
    for kind in result["eps"]:
        times = result["escape"][[i for i, lab in enumerate(labels) if lab == (kind, COMMON_EPS)]]
        ax.hist(times[times >= 0], bins=bins, color=colors[kind], alpha=0.7, label=f"{kind} saddle")
    ax.set(xscale="log", xlabel="escape step", ylabel="runs", title=f"(b) escape steps, eps = {COMMON_EPS:g}")
    ax.legend()
    ax = axes[2]
    for kind, s in summary.items():
        inv = 1 / np.array(s["eps"])
        med = np.array(s["median"])
        ax.errorbar(
            inv,
            med,
            yerr=[med - s["q1"], np.array(s["q3"]) - med],
            color=colors[kind],
            marker="o",
            capsize=3,
            label=f"{kind} saddle",
        )
    s = summary["strict"]
    ax.text(
        0.97,
        0.8,
        f"strict: {s['steps_per_decade']:.0f} steps per decade of 1/eps "
        f"(predicted {s['predicted_steps_per_decade']:.0f})\nnon-strict: ~ (1/eps)^"
        f"{summary['non-strict']['power_of_1_over_eps']:.2f} (H - 2 = {problem.H - 2})",
        transform=ax.transAxes,
        va="top",
        ha="right",
        fontsize=9,
    )
    ax.set(
        xscale="log",
        yscale="log",
        xlabel="1 / eps",
        ylabel="escape step (median, quartiles)",
        title="(c) log(1/eps) vs polynomial escape",
    )
    ax.legend(loc="center right")
    fig.suptitle(f"Deep linear network {WIDTHS}, delta = {DELTA}, gradient descent eta = {ETA}")
    fig.tight_layout()
    fig.savefig(path, dpi=dpi)
    return Path(path)


def record(result: dict[str, Any], summary: dict[str, Any], runs: int) -> dict[str, Any]:
    """The JSON-ready numbers of a run: problem, critical values, the saddles' facts, escapes."""
    problem = result["problem"]
    return {
        "widths": WIDTHS,
        "delta": problem.delta.tolist(),
        "eta": ETA,
        "S": list(S),
        "runs_per_eps": runs,
        "critical_values": [{"value": v.value, "subsets": v.subsets} for v in problem.critical_values()],
        "plateau_values": problem.plateau_values(),
        "saddles": result["facts"],
        "escape": summary,
        "steps_run": result["steps"],
    }
