"""The smallest Hessian eigenvalues of a p = 8,970 network with default arguments (issue 20).

    python -m benchmarks.smallest [--dense]

The 64-64-64-10 tanh MLP on the first 512 scikit-learn digits (cross-entropy, float64, the
weights of :func:`benchmarks.models.init_theta`, then ``--train`` full-batch gradient steps of
0.5, default 300: near a minimum the smallest eigenvalues crowd near zero, the hard case for
Lanczos; at the initial weights they are well separated): ``hessian_eigs(f, theta, k=5,
which="smallest")`` with default arguments, beside the old fixed cap of 100 products; with
``--dense`` the exact eigenvalues from the dense Hessian (640 MB, minutes) for the errors.
Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import time
import warnings

import numpy as np

import autodiff as ad
from benchmarks import models

SIZES = (64, 64, 64, 10)


def main() -> None:
    import landscape
    import nn
    from benchmarks.curvature import N_POINTS

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dense", action="store_true", help="also the dense Hessian's eigenvalues")
    parser.add_argument("--train", type=int, default=300, help="full-batch gradient steps first")
    args = parser.parse_args()
    from sklearn.datasets import load_digits

    digits = load_digits()
    X = ad.tensor(digits.data[:N_POINTS] / 16.0)
    Y = ad.tensor(digits.target[:N_POINTS].astype(np.int64))
    model = nn.MLP(SIZES, activation="tanh")
    space = landscape.ParamSpace(model)
    space.assign(ad.tensor(models.init_theta(SIZES, np.random.default_rng(4))))
    opt = nn.optim.SGD(model.parameters(), lr=0.5)
    for _ in range(args.train):
        opt.zero_grad()
        nn.functional.cross_entropy(model(X), Y).backward()
        opt.step()
    f, theta = space.loss(nn.functional.cross_entropy, X, Y), space.theta()
    out: dict = {
        "p": space.p,
        "train_steps": args.train,
        "loss": f(theta).item(),
        "load_before": os.getloadavg(),
    }
    for label, cap in (("default", None), ("cap 100", 100)):
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = landscape.hessian_eigs(f, theta, k=5, which="smallest", max_iter=cap)
        out[label] = {
            "converged": res.converged,
            "n_matvec": res.n_matvec,
            "seconds": time.perf_counter() - start,
            "values": res.values.numpy().tolist(),
            "max_residual_over_scale": float(res.residuals.max() / res.scale),
        }
    if args.dense:
        exact = np.linalg.eigvalsh(landscape.hessian(f, theta).numpy())[:5]
        out["exact"] = exact.tolist()
        for label in ("default", "cap 100"):
            err = np.abs(np.asarray(out[label]["values"]) - exact)
            out[label]["max_relative_error"] = float(err.max() / np.abs(exact).max())
    out["load_after"] = os.getloadavg()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
