"""Draw the lecture's computation graph with its values and adjoints (the picture in README.md).

The program of the lecture (Scaman, *Non-convex optimization*, 2024) at x = 1.5, y = 0.5:

    z1 = x * y; z2 = x ** 2; z3 = exp(z1); z4 = 2 * z2; z5 = z3 + z4; out = sin(z5)

Writes OUT/lecture_graph.svg (needs Graphviz's ``dot``: apt-get install graphviz) and, beside
it, OUT/lecture_graph.json with every vertex's value y^(v) and adjoint z^(v) in the order the
backward pass completed them; and OUT/lecture_hessian_graph.svg, the graph that the backward
pass records with ``create_graph=True`` (the derivative is itself a graph, and differentiating
it gives the Hessian).  With ``--steps DIR`` also writes the backward pass frame by frame, and
with ``--forward DIR`` forward mode along x.

Run:  python examples/draw_lecture_graph.py [--out lecture_graph] [--steps DIR] [--forward DIR]

(the pictures of README.md and docs/: ``--out docs``).
"""

import argparse
import json
from pathlib import Path

import autodiff as ad
from autodiff.viz.expression import evaluate, parse

# The lecture's program, verbatim; the parser names each vertex after its variable.
PROGRAM = "z1 = x * y; z2 = x ** 2; z3 = exp(z1); z4 = 2 * z2; z5 = z3 + z4; out = sin(z5)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="lecture_graph", help="output folder (default ./lecture_graph)")
    parser.add_argument("--steps", metavar="DIR", help="also write one picture per backward step")
    parser.add_argument("--forward", metavar="DIR", help="also write forward mode along x, step by step")
    args = parser.parse_args()
    out_dir = Path(args.out)
    out, inputs = evaluate(parse(PROGRAM), {"x": 1.5, "y": 0.5})
    x, y = inputs["x"], inputs["y"]
    trace = ad.trace_backward(out)  # out.backward(), recording each adjoint z^(v) as it completes
    picture = ad.viz.save(ad.to_dot(out, values=True, grads=trace), out_dir / "lecture_graph.svg")
    numbers = {
        "program": PROGRAM,
        "at": {"x": 1.5, "y": 0.5},
        "backward_order": [
            {"vertex": s.vertex.label, "value": s.vertex.item(), "adjoint": s.adjoint.item()} for s in trace
        ],
    }
    (out_dir / "lecture_graph.json").write_text(json.dumps(numbers, indent=1) + "\n")
    print(f"wrote {picture} and {out_dir / 'lecture_graph.json'}")
    print(f"  out = {out.item():.6f}, d out/dx = {x.grad.item():.6f}, d out/dy = {y.grad.item():.6f}")
    if args.steps:
        print(f"wrote {ad.draw_steps(trace, args.steps)} (open it in a browser)")
    formula = parse(PROGRAM)
    if args.forward:
        lecture = lambda x, y: evaluate(formula, {"x": x, "y": y})[0]
        forward = ad.trace_forward(lecture, (x.detach().name("x"), y.detach().name("y")), (1.0, 0.0))
        print(f"  forward mode along x: d out/dx = {forward.tangent(forward.output).item():.6f}")
        print(f"wrote {ad.draw_steps(forward, args.forward)} (open it in a browser)")
    out, inputs = evaluate(formula, {"x": 1.5, "y": 0.5})
    out.backward(create_graph=True)  # x.grad and y.grad are graphs too
    hessian = ad.viz.save(ad.to_dot(out, backward=True, values=True), out_dir / "lecture_hessian_graph.svg")
    row = ad.gradients(inputs["x"].grad, [inputs["x"], inputs["y"]])
    print(
        f"wrote {hessian}; its x.grad differentiated: d2 out/dx2 = {row[0].item():.6f}, "
        f"d2 out/dxdy = {row[1].item():.6f}"
    )


if __name__ == "__main__":
    main()
