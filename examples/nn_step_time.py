"""Time one SGD step (forward, cross-entropy, backward, update) of a 784-256-256-10 ReLU MLP,
batch 128, float32, with nn and, when installed, with PyTorch eager on the same data.

    python examples/nn_step_time.py [--repeats 300] [--threads 2]

Both libraries get the same number of threads (NumPy's BLAS through threadpoolctl when it is
installed).  Rounds alternate between the two so that a busy machine slows both alike; prints
the median step time of each (JSON); nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import numpy as np

import autodiff as ad
import nn
from nn import functional as F


def round_ms(step, repeats: int) -> float:
    start = time.perf_counter()
    for _ in range(repeats):
        step()
    return (time.perf_counter() - start) / repeats * 1e3


def limit_blas_threads(threads: int) -> object:
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # leave NumPy's BLAS as it is
        return None
    return threadpool_limits(limits=threads, user_api="blas")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=100, help="steps per round")
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--threads", type=int, default=2, help="BLAS / intra-op threads of both")
    args = parser.parse_args()
    limiter = limit_blas_threads(args.threads)
    rng = np.random.default_rng(0)
    x_host = rng.standard_normal((128, 784)).astype(np.float32)
    y_host = rng.integers(0, 10, 128)

    model = nn.MLP([784, 256, 256, 10], generator=ad.random.Generator(0), dtype="float32")
    opt = nn.optim.SGD(model.parameters(), lr=0.01)
    x, y = ad.tensor(x_host), ad.tensor(y_host)

    def nn_step():
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()

    steps = {"nn": nn_step}
    try:
        import torch
    except ImportError:
        torch = None
    if torch is not None:
        torch.set_num_threads(args.threads)
        ref = torch.nn.Sequential(
            torch.nn.Linear(784, 256),
            torch.nn.ReLU(),
            torch.nn.Linear(256, 256),
            torch.nn.ReLU(),
            torch.nn.Linear(256, 10),
        )
        ref.load_state_dict({k: torch.tensor(v.numpy()) for k, v in model.state_dict().items()})
        ref_opt = torch.optim.SGD(ref.parameters(), lr=0.01)
        tx, ty = torch.tensor(x_host), torch.tensor(y_host)

        def torch_step():
            loss = torch.nn.functional.cross_entropy(ref(tx), ty)
            ref_opt.zero_grad()
            loss.backward()
            ref_opt.step()

        steps["torch"] = torch_step
    times: dict[str, list[float]] = {name: [] for name in steps}
    for step in steps.values():
        round_ms(step, 20)  # warm up
    for _ in range(args.rounds):
        for name, step in steps.items():
            times[name].append(round_ms(step, args.repeats))
    result = {f"{name}_ms": statistics.median(t) for name, t in times.items()}
    if "torch_ms" in result:
        result["ratio"] = result["nn_ms"] / result["torch_ms"]
    result = {k: round(v, 3) for k, v in result.items()}
    print(json.dumps({**result, "threads": args.threads, "numpy_blas_limited": limiter is not None}))


if __name__ == "__main__":
    main()
