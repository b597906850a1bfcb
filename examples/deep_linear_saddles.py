"""Escaping strict and non-strict saddles of a deep linear network (the figure of the notes).

Gradient descent from distance eps of a strict and a non-strict saddle with the same critical
value, and from near W = 0 (the computation and the figure: :mod:`landscape.saddle_escape`;
theory: Malgouyres, *Nonconvex optimization landscapes*, 2024).  Writes saddles.png and
saddles.json to the output folder.

    python examples/deep_linear_saddles.py [--out runs/deep_linear_saddles] [--runs 40]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from landscape import saddle_escape


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs/deep_linear_saddles", help="output folder")
    parser.add_argument("--runs", type=int, default=40, help="runs per (saddle, eps)")
    parser.add_argument("--max-steps", type=int, default=40_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    result = saddle_escape.run(args.runs, args.max_steps, args.seed)
    summary = saddle_escape.summarise(result)
    saddle_escape.plot(result, summary, out / "saddles.png")
    record = saddle_escape.record(result, summary, args.runs)
    record["seconds"] = time.perf_counter() - start
    (out / "saddles.json").write_text(json.dumps(record, indent=2))
    print(json.dumps({k: record["escape"][k] for k in saddle_escape.EPS}, indent=1))
    print(f"wrote {out / 'saddles.png'} and {out / 'saddles.json'} in {record['seconds']:.0f} s")
    return record


if __name__ == "__main__":
    main()
