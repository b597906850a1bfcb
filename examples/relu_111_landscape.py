"""The landscape of the (1, 1, 1) ReLU network on one sample (x, y) = (1, 0).

E(w1, w2, b1, b2) = (w2 relu(w1 x + b1) + b2 - y)^2; with zero biases E = (w1 w2)^2 on w1 >= 0
and E = 0 on w1 < 0 (Malgouyres, *Nonconvex optimization landscapes*, 2024, "Proposition:
Non-convexité").  The notes' witnesses: E(0, 1) = E(1, 0) = 0 but at their midpoint
E(0.5, 0.5) = 1/16 > 0, so E is not convex; the engine adds a second-order witness, the
Hessian at (0.5, 0.5), whose eigenvalues are -1/2 and 3/2.  Writes relu_111.png and
relu_111.json to the output folder.

    python examples/relu_111_landscape.py [--out runs/relu_111_landscape]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

import autodiff as ad

X, Y = 1.0, 0.0
WITNESSES = {"(0, 1)": (0.0, 1.0), "(1, 0)": (1.0, 0.0), "midpoint (0.5, 0.5)": (0.5, 0.5)}


def energy(w: ad.Tensor) -> ad.Tensor:
    """E(w1, w2) = (w2 relu(w1 x + b1) + b2 - y)^2 with b1 = b2 = 0; w has shape (..., 2)."""
    return (w[..., 1] * ad.relu(w[..., 0] * X) - Y) ** 2


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs/relu_111_landscape", help="output folder")
    parser.add_argument("--grid", type=int, default=301, help="grid points per axis")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    from tqdm import tqdm

    w1 = np.linspace(-1.0, 1.5, args.grid)
    w2 = np.linspace(-1.5, 1.5, args.grid)
    rows = []
    for b in tqdm(w2, desc="energy grid", unit="row"):  # one engine call per row of the grid
        rows.append(energy(ad.tensor(np.stack([w1, np.full_like(w1, b)], axis=-1))).numpy())
    E = np.array(rows)  # E[i, j] = E(w1[j], w2[i])
    witnesses = {}
    for name, point in WITNESSES.items():
        w = ad.tensor(point)
        value, grad = ad.value_and_grad(energy)(w)
        eigs = np.linalg.eigvalsh(ad.hessian(energy)(w).numpy())
        witnesses[name] = {
            "w": point,
            "E": value.item(),
            "grad": grad.numpy().tolist(),
            "hessian_eigenvalues": eigs.tolist(),
        }
        if point[0] == 0.0:  # on the kink w1 x + b1 = 0: the engine takes relu'(0) = 0 (the w1 < 0 side)
            right = ad.tensor((1e-12, point[1]))
            witnesses[name]["hessian_eigenvalues_from_w1>0"] = np.linalg.eigvalsh(
                ad.hessian(energy)(right).numpy()
            ).tolist()
    t = np.linspace(0.0, 1.0, 201)
    segment = energy(ad.tensor(np.stack([t, 1 - t], axis=-1))).numpy()  # (1-t)(0,1) + t(1,0)
    chord = (1 - t) * witnesses["(0, 1)"]["E"] + t * witnesses["(1, 0)"]["E"]
    record = {
        "sample": {"x": X, "y": Y},
        "biases": [0.0, 0.0],
        "witnesses": witnesses,
        "convexity_gap_at_midpoint": float(segment[100] - chord[100]),
        "max_gap_on_segment": float((segment - chord).max()),
        "closed_form_max_abs_error": float(np.abs(E - np.where(w1 >= 0, (w1 * w2[:, None]) ** 2, 0.0)).max()),
    }
    plot(w1, w2, E, t, segment, chord, witnesses, out / "relu_111.png")
    (out / "relu_111.json").write_text(json.dumps(record, indent=2))
    print(json.dumps(record, indent=1))
    print(f"wrote {out / 'relu_111.png'} and {out / 'relu_111.json'}")
    return record


def plot(w1, w2, E, t, segment, chord, witnesses, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax, bx) = plt.subplots(1, 2, figsize=(13, 5.2), gridspec_kw={"width_ratios": [1.2, 1]})
    levels = [0.0, 1e-3, 0.01, 0.0625, 0.25, 0.5, 1.0, 2.0, 4.0]
    filled = ax.contourf(w1, w2, E, levels=levels + [E.max() + 1e-9], cmap="viridis", extend="neither")
    ax.contour(w1, w2, E, levels=levels[1:], colors="k", linewidths=0.5)
    fig.colorbar(filled, ax=ax, label="E(w1, w2)")
    ax.axvspan(w1[0], 0, color="white", alpha=0.35, lw=0)
    ax.text(-0.5, 1.2, "w1 < 0: relu = 0,\nE = 0 (flat)", ha="center", fontsize=9)
    ax.text(0.75, 1.2, "w1 >= 0: E = (w1 w2)^2", ha="center", fontsize=9, color="w")
    ax.plot([0, 1], [1, 0], "w--", lw=1.2)
    for name, fact in witnesses.items():
        a, b = fact["w"]
        ax.plot(a, b, "o", color="tab:red" if "mid" in name else "w", mec="k", ms=8)
        ax.annotate(
            f"{name}\nE = {fact['E']:.4g}",
            (a, b),
            textcoords="offset points",
            xytext=(8, 8),
            fontsize=8,
            color="w",
        )
    ax.set(xlabel="w1", ylabel="w2", title="(1,1,1) ReLU network, sample (x, y) = (1, 0), b = 0")
    bx.plot(t, segment, label="E((1-t)(0,1) + t(1,0)) = (t(1-t))^2")
    bx.plot(t, chord, "k--", label="chord (1-t)E(0,1) + tE(1,0) = 0")
    bx.plot(0.5, segment[100], "o", color="tab:red")
    eig = witnesses["midpoint (0.5, 0.5)"]["hessian_eigenvalues"]
    bx.annotate(
        f"E(0.5, 0.5) = 1/16 > 0\nHessian eigenvalues {eig[0]:.3g}, {eig[1]:.3g}",
        (0.5, segment[100]),
        textcoords="offset points",
        xytext=(-70, -45),
        fontsize=9,
    )
    bx.set(xlabel="t", ylabel="E", title="non-convexity witness: above the chord")
    bx.legend(loc="lower center", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


if __name__ == "__main__":
    main()
