"""The console table, the targets of issue 3, and the JSON file."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from benchmarks.harness import UNITS, Measurement

# (workload, task, peer, bound on ours / peer, what it means): ratio = our time / peer time.
TARGETS = (
    ("overhead", "fwd+bwd", "torch", 1.0, "overhead: ours <= 1.0x PyTorch eager per op"),
    ("training", "sgd step", "torch", 1.2, "training: ours <= 1.2x PyTorch eager per SGD step"),
    ("hessian", "H", "torch.func", 1.0, "Hessian: ours <= 1.0x torch.func.hessian"),
    ("hessian", "H", "jax.jit", 1.0, "Hessian (stretch): ours <= 1.0x JAX jit"),
    ("jacobian", "J", "torch.func", 1.0, "Jacobian: ours <= 1.0x torch.func vmap(jacrev)"),
    ("jacobian", "rank", "ours J+SVD", 1.0, "rank end to end faster than J + a plain SVD"),
    ("curvature", "ggn_diag", "backpack", 1.5, "curvature: ggn_diag <= 1.5x BackPACK DiagGGNExact"),
    ("curvature", "hvp (fresh graph)", "torch", 1.0, "curvature: one HVP <= 1.0x PyTorch (fresh graph)"),
    (
        "curvature",
        "top-5 eigenvalues",
        "eigenthings",
        0.7,
        "curvature: top-5 eigenvalues <= 0.7x eigenthings",
    ),
)
FORWARD = ("ours forward", "torch forward")  # the jacfwd comparison of the scaling workload
MIN_SLOPE = 0.75  # forward mode and finite differences must grow about linearly in d


def _fmt(x: float | None, digits: int = 3) -> str:
    if x is None or not math.isfinite(x):
        return "-"
    return f"{x:.{digits}g}"


def _agreement(m: Measurement) -> str:
    parts = []
    for key, a in m.agreement.items():
        mark = "ok" if a.get("ok") else "DIFFERS"
        if "rel" in a:
            parts.append(f"{key} rel {a['rel']:.1e} {mark}")
        elif "ours" in a:
            parts.append(f"{key} {a['this']} vs {a['ours']} {mark}")
        else:
            parts.append(f"{key} {a.get('why', '')} {mark}")
    return "; ".join(parts)


def _ratio(m: Measurement, value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.2f} x {m.case.relative_to.split()[-1]}" if m.case.relative_to else f"{value:.2f}x"


def table(measurements: list[Measurement]) -> str:
    """Rows: workload, task, implementation, median and best time, the ratio ours / peer (from
    the medians, and from the best samples), agreement with the reference."""
    header = ("workload", "task", "impl", "median", "best", "ratio", "(best)", "agreement (vs reference)")
    rows = [header]
    for m in measurements:
        c = m.case
        if m.error:
            rows.append((c.workload, c.task, c.impl, "error", "", "", "", m.error[:80]))
            continue
        median, best = (f"{_fmt(t * UNITS[c.unit])} {c.unit}" for t in (m.seconds, m.best))
        rows.append(
            (
                c.workload,
                c.task,
                c.impl,
                median,
                best,
                _ratio(m, m.ratio),
                _ratio(m, m.ratio_best),
                _agreement(m),
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(header) - 1)]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(r[:-1], widths, strict=True)) + "  " + r[-1] for r in rows
    ]
    lines.insert(1, "-" * len(lines[0]))
    return "\n".join(lines)


def _target(
    text: str, ratio: float | None, best: float | None, bound: float, met: bool | None
) -> dict[str, Any]:
    return {"target": text, "ratio": ratio, "ratio_best": best, "bound": bound, "met": met}


def targets(measurements: list[Measurement], scaling: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Each target of issue 3 with its measured ratio (from medians; from best samples beside)
    and whether it is met, judged on the medians (None: not run)."""
    index = {(m.case.workload, m.case.task, m.case.impl): m for m in measurements}
    out = []
    for workload, task, peer, bound, text in TARGETS:
        m = index.get((workload, task, peer))
        ratio, best = (None, None) if m is None else (m.ratio, m.ratio_best)
        out.append(_target(text, ratio, best, bound, None if ratio is None else ratio <= bound))
    if scaling:
        cost = scaling["cost_in_evaluations"].get("ours reverse", {})
        cost_best = scaling["cost_in_evaluations_best"].get("ours reverse", {})
        worst = max(cost.values()) if cost else None
        text = "scaling: reverse-mode gradient <= 3x one evaluation at every d"
        out.append(
            _target(
                text, worst, max(cost_best.values(), default=None), 3.0, None if worst is None else worst <= 3
            )
        )
        d = max(scaling["seconds"].get("ours forward", {}), default=None)
        pair = [scaling[key].get(impl, {}).get(d) for key in ("seconds", "seconds_best") for impl in FORWARD]
        if None not in pair:
            text = f"scaling: jacfwd at d = {d}: ours <= 1.0x torch.func.jacfwd"
            ratio = pair[0] / pair[1]
            out.append(_target(text, ratio, pair[2] / pair[3], 1.0, ratio <= 1.0))
        for impl in ("ours forward", "ours fd"):
            slope = scaling["loglog_slope_of_cost"].get(impl)
            text = f"scaling: {impl} cost grows ~linearly in d (log-log slope >= {MIN_SLOPE})"
            out.append(_target(text, slope, None, MIN_SLOPE, None if slope is None else slope >= MIN_SLOPE))
    return out


def targets_text(rows: list[dict[str, Any]]) -> str:
    marks = {True: "met", False: "NOT MET", None: "not run"}
    lines = []
    for r in rows:
        best = f" (best samples: {_fmt(r['ratio_best'])})" if r["ratio_best"] is not None else ""
        lines.append(f"  [{marks[r['met']]:>7}] {r['target']}: {_fmt(r['ratio'])}{best}")
    return "\n".join(lines)


def write_json(path: Path, document: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=1, default=_default) + "\n")


def _default(x: Any) -> Any:
    if hasattr(x, "tolist"):
        return x.tolist()
    return str(x)
