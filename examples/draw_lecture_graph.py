"""Draw the lecture's computation graph with its values and adjoints (the picture in README.md).

The program of ../shared/seeds/001_9074c1202f56cd83.txt at x = 1.5, y = 0.5:

    z1 = x * y; z2 = x ** 2; z3 = exp(z1); z4 = 2 * z2; z5 = z3 + z4; out = sin(z5)

Writes docs/lecture_graph.svg (needs Graphviz's ``dot``: apt-get install graphviz) and, beside
it, docs/lecture_graph.json with every vertex's value y^(v) and adjoint z^(v) in the order the
backward pass completed them.  With ``--steps DIR`` also writes the backward pass frame by frame.

Run:  python examples/draw_lecture_graph.py [--steps docs/lecture_steps]
"""

import argparse
import json
from pathlib import Path

import autodiff as ad
from autodiff.viz.expression import evaluate, parse

DOCS = Path(__file__).resolve().parent.parent / "docs"
# The lecture's program, verbatim; the parser names each vertex after its variable.
PROGRAM = "z1 = x * y; z2 = x ** 2; z3 = exp(z1); z4 = 2 * z2; z5 = z3 + z4; out = sin(z5)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", metavar="DIR", help="also write one picture per backward step")
    args = parser.parse_args()
    out, inputs = evaluate(parse(PROGRAM), {"x": 1.5, "y": 0.5})
    x, y = inputs["x"], inputs["y"]
    trace = ad.trace_backward(out)  # out.backward(), recording each adjoint z^(v) as it completes
    picture = ad.viz.save(ad.to_dot(out, values=True, grads=trace), DOCS / "lecture_graph.svg")
    numbers = {
        "program": PROGRAM,
        "at": {"x": 1.5, "y": 0.5},
        "backward_order": [
            {"vertex": s.vertex._name, "value": s.vertex.item(), "adjoint": s.adjoint.item()} for s in trace
        ],
    }
    (DOCS / "lecture_graph.json").write_text(json.dumps(numbers, indent=1) + "\n")
    print(f"wrote {picture} and {DOCS / 'lecture_graph.json'}")
    print(f"  out = {out.item():.6f}, d out/dx = {x.grad.item():.6f}, d out/dy = {y.grad.item():.6f}")
    if args.steps:
        print(f"wrote {ad.draw_steps(trace, args.steps)} (open it in a browser)")


if __name__ == "__main__":
    main()
