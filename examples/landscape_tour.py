"""A tour of ``landscape`` along one training run of an over-parameterised ReLU network.

A 2-64-1 ReLU MLP (p = 257) fits 40 points of sin(x1) cos(x2) by gradient descent on the square loss
L = (1/N) sum_i (g(x_i) - y_i)^2.  Along the run we record:

* the PL ratio ||grad L||^2 / L and the constant mu = 4 sigma_min(J^T)^2 / N that the seed's
  theorem guarantees (Scaman, *Non-convex optimization*, 2024): ratio >= mu wherever
  sigma_min > 0, which is what makes the loss go to zero linearly;
* the functional dimension rk D g_theta(X) against the rescaling bound p - 64
  (Malgouyres, *Nonconvex optimization landscapes*, 2024);
* the top Hessian eigenvalue (Lanczos) and the trace (Hutch++);

and at the end the Hessian's spectral density by stochastic Lanczos quadrature.  Writes
tour.png and tour.json to the output folder.

    python examples/landscape_tour.py [--out runs/landscape_tour] [--steps 3000]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

import autodiff as ad
import landscape as L
import nn


def setup(seed: int) -> tuple[L.ParamSpace, ad.Tensor, ad.Tensor]:
    gen = ad.random.Generator(seed)
    model = nn.MLP([2, 64, 1], activation="relu", generator=gen)
    X = gen.uniform(-2, 2, (40, 2))
    return L.ParamSpace(model), X, ad.sin(X[:, :1]) * ad.cos(X[:, 1:])


def record(space: L.ParamSpace, f, theta: ad.Tensor, X: ad.Tensor, Y: ad.Tensor, step: int) -> dict:
    pl = L.pl_constant(space.model, X, Y, theta=theta)
    dim = L.functional_dimension(space.model, X, theta=theta)
    top = L.hessian_eigs(f, theta, k=1)
    return {
        "step": step,
        "loss": pl.loss,
        "pl_ratio": L.pl_ratio(f, theta),
        "pl_mu": pl.mu,
        "sigma_min": pl.sigma_min,
        "functional_dimension": dim.rank,
        "lambda_max": float(top.values.numpy()[0]),
        "trace": L.hessian_trace(f, theta, n_probes=30).value,
    }


def main() -> None:
    from tqdm import tqdm

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default="runs/landscape_tour")
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--every", type=int, default=150)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    space, X, Y = setup(args.seed)
    f = space.loss(lambda pred, y: ((pred - y) ** 2).sum() / pred.shape[0], X, Y)
    theta = space.theta()
    eta = 1.0 / L.hessian_eigs(f, theta, k=1).values.numpy()[0]  # a stable step: eta lambda_max = 1
    grad = ad.grad(f)
    history = []
    for step in tqdm(range(args.steps + 1), desc="gradient descent"):
        if step % args.every == 0:
            history.append(record(space, f, theta, X, Y, step))
        theta = theta - eta * grad(theta)
    density = L.spectral_density(f, theta, n_probes=8, steps=40)
    summary = {
        "p": space.p,
        "rescaling_bound": L.relu.rank_upper_bound(space.model),
        "eta": eta,
        "history": history,
        "final_classify": str(L.classify(f, theta, grad_tol=1e-6)),
        "density": {"grid": density.grid[::10].tolist(), "density": density.density[::10].tolist()},
    }
    (out / "tour.json").write_text(json.dumps(summary, indent=2))
    plot(summary, density, out / "tour.png")
    print(f"wrote {out / 'tour.json'} and {out / 'tour.png'}")


def plot(summary: dict, density: L.SpectralDensity, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    h = {k: np.array([row[k] for row in summary["history"]]) for k in summary["history"][0]}
    fig, axes = plt.subplots(2, 2, figsize=(11, 7.5))
    ax = axes[0, 0]
    ax.semilogy(h["step"], h["loss"], "o-")
    ax.set(title="square loss L", xlabel="step")
    ax = axes[0, 1]
    ax.semilogy(h["step"], h["pl_ratio"], "o-", label="||grad L||^2 / L")
    ax.semilogy(h["step"], np.maximum(h["pl_mu"], 1e-16), "s--", label="mu = 4 sigma_min(J^T)^2 / N")
    ax.set(title="Polyak-Lojasiewicz (Scaman 2024)", xlabel="step")
    ax.legend()
    ax = axes[1, 0]
    ax.plot(h["step"], h["functional_dimension"], "o-", label="rk D g(X)")
    ax.axhline(summary["rescaling_bound"], color="k", ls=":", label="p - hidden neurons")
    ax.axhline(40, color="gray", ls="--", label="N out (rows of J)")
    ax.set(title="functional dimension (Malgouyres 2024)", xlabel="step")
    ax.legend()
    density.plot(ax=axes[1, 1])
    fig.tight_layout()
    fig.savefig(path, dpi=120)


if __name__ == "__main__":
    main()
