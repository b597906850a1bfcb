"""Quick timings of the landscape workhorses on the workloads of the issue (not the benchmark
harness, which lives in ``benchmarks/``):

* ``landscape.hessian`` (and ``ad.hessian`` with the same chunking) for the MSE of a 10-32-32-1
  tanh MLP on 128 points, p = 1441;
* ``landscape.param_jacobian``: the 5000 x 4120 Jacobian of a 64-30-30-30-10 ReLU MLP on 500
  points, against torch.func's ``vmap(jacrev)`` when torch is installed;
* ``landscape.functional_dimension`` of that Jacobian, by SVD and by the Gram matrix J^T J.

Median of ``--repeat`` runs after one warm-up (a single run for the functional dimension);
writes timings.json to ``--out``.

    python examples/landscape_timings.py [--out runs/landscape_timings] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

import autodiff as ad
import landscape as L
import nn


def timed(fn: Callable[[], Any], repeat: int) -> float:
    fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def hessian_workload() -> tuple[Callable, ad.Tensor]:
    gen = ad.random.Generator(0)
    model = nn.MLP([10, 32, 32, 1], activation="tanh", generator=gen)
    X = gen.randn(128, 10)
    Y = ad.sin(X.sum(axis=1, keepdims=True))
    space = L.ParamSpace(model)
    return space.loss(lambda out, y: ((out - y) ** 2).mean(), X, Y), space.theta()


def jacobian_workload() -> tuple[Any, ad.Tensor]:
    gen = ad.random.Generator(0)
    return nn.MLP([64, 30, 30, 30, 10], activation="relu", generator=gen), gen.randn(500, 64)


def torch_jacobian(model: Any, X: ad.Tensor) -> Callable[[], Any] | None:
    try:
        import torch
    except ImportError:
        return None
    space = L.ParamSpace(model)
    flat = torch.tensor(space.theta().numpy())
    xs = torch.tensor(X.numpy())
    sizes = model.sizes

    def one(t: Any, x: Any) -> Any:
        h, o = x, 0
        for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
            w, bias = t[o : o + a * b].reshape(b, a), t[o + a * b : o + a * b + b]
            h, o = h @ w.T + bias, o + a * b + b
            h = torch.relu(h) if i < len(sizes) - 2 else h
        return h

    jac = torch.func.vmap(torch.func.jacrev(one), in_dims=(None, 0))
    return lambda: jac(flat, xs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default="runs/landscape_timings")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {}

    f, theta = hessian_workload()
    chunk = L.tangent_chunk(f, theta)
    results["hessian p=1441"] = {
        "landscape.hessian": timed(lambda: L.hessian(f, theta), args.repeat),
        f"ad.hessian(chunk_size={chunk})": timed(lambda: ad.hessian(f, chunk_size=chunk)(theta), args.repeat),
        "ad.hessian(no chunking)": timed(lambda: ad.hessian(f)(theta), args.repeat),
    }

    model, X = jacobian_workload()
    J = L.param_jacobian(model, X)
    results[f"param_jacobian {J.shape[0]}x{J.shape[1]}"] = {
        "landscape.param_jacobian": timed(lambda: L.param_jacobian(model, X), args.repeat),
    }
    peer = torch_jacobian(model, X)
    if peer is not None:
        assert np.allclose(peer().reshape(J.shape).numpy(), J.numpy(), atol=1e-10)
        row = results[f"param_jacobian {J.shape[0]}x{J.shape[1]}"]
        row["torch.func vmap(jacrev)"] = timed(peer, args.repeat)

    dims, fd = {}, {}
    for method in ("svd", "gram"):  # one run each: the SVD of 5000 x 4120 takes a while
        start = time.perf_counter()
        dims[method] = L.functional_dimension(model, X, method=method)
        fd[f"method={method}"] = time.perf_counter() - start
    results["functional_dimension"] = fd
    results["functional_dimension"]["rank"] = {m: d.rank for m, d in dims.items()}
    results["functional_dimension"]["bound p - hidden"] = L.relu.rank_upper_bound(model)

    (out / "timings.json").write_text(json.dumps(results, indent=2))
    for task, row in results.items():
        print(task)
        for name, value in row.items():
            print(f"  {name:32s} {value:.3f} s" if isinstance(value, float) else f"  {name:32s} {value}")


if __name__ == "__main__":
    main()
