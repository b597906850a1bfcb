"""The demo's section builders: each takes the :class:`Context` and returns a
:class:`~landscape.demo.page.Section` (its text, the pictures it wrote in ``ctx.out``, its
numbers).  Earlier sections leave what later ones need in ``ctx.state`` (the trained network)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import autodiff as ad
import nn
from landscape import experiments, saddle_escape
from landscape.demo.page import Picture, Section
from landscape.directions import trajectory_pca
from landscape.paths import connect, interpolate
from landscape.surfaces import surface

# The lecture's program (Scaman, Non-convex optimization, 2024), verbatim.
PROGRAM = "z1 = x * y; z2 = x ** 2; z3 = exp(z1); z4 = 2 * z2; z5 = z3 + z4; out = sin(z5)"


@dataclass
class Context:
    """Where the pictures go, the size of the run (``fast``: the smallest configuration, for
    tests), the seed, whether to show progress bars, and what sections leave for later ones."""

    out: Path
    fast: bool = False
    seed: int = 0
    progress: bool = True
    state: dict[str, Any] = field(default_factory=dict)

    def size(self, full: Any, fast: Any) -> Any:
        """``fast`` in the fast configuration, else ``full``."""
        return fast if self.fast else full


def lecture_graph(ctx: Context) -> Section:
    """The lecture's program at x = 1.5, y = 0.5: value, gradient by backpropagation (Rumelhart
    et al., 1986) against the derivation by hand, the graph with values y^(v) and adjoints z^(v),
    each step of z^(v) = sum_w (df^(w)/dx^(v))^T z^(w) as a frame, a Hessian and a third derivative."""
    from autodiff.viz import GraphvizNotFoundError
    from autodiff.viz.expression import evaluate, parse

    out, inputs = evaluate(parse(PROGRAM), {"x": 1.5, "y": 0.5})
    trace = ad.trace_backward(out)
    z5 = math.exp(0.75) + 4.5
    H = ad.hessian(lambda v: evaluate(parse(PROGRAM), {"x": v[0], "y": v[1]})[0])(ad.tensor([1.5, 0.5]))
    d3 = ad.grad(ad.grad(ad.grad(lambda t: ad.sin(t) * ad.exp(t))))(ad.tensor(0.3))
    section = Section(
        "lecture",
        "1. The lecture's program, backpropagated",
        [
            f"The program {PROGRAM} at x = 1.5, y = 0.5. The backward pass sets z^(out) = 1 and completes, "
            "from the output to the roots, z^(v) = sum over the children w of v of (df^(w)/dx^(v))^T z^(w); "
            "each frame below is one step, with the local derivative and the term on each edge.",
            "Also: the Hessian of the program (forward-over-reverse) and the third derivative of "
            "sin(t) exp(t) at t = 0.3 by three nested reverse passes, against the closed form "
            "2 e^t (cos t - sin t).",
        ],
        numbers={
            "out": out.item(),
            "d out/dx": inputs["x"].grad.item(),
            "d out/dy": inputs["y"].grad.item(),
            "d out/dx by hand": math.cos(z5) * (0.5 * math.exp(0.75) + 6),
            "d out/dy by hand": math.cos(z5) * 1.5 * math.exp(0.75),
            "Hessian": [[round(h, 4) for h in row] for row in H.numpy().tolist()],
            "d3/dt3 sin(t) e^t at 0.3": d3.item(),
            "closed form": 2 * math.exp(0.3) * (math.cos(0.3) - math.sin(0.3)),
        },
        details={"backward_order": [s.vertex.label for s in trace]},
    )
    try:
        graph = ad.viz.save(ad.to_dot(out, values=True, grads=trace), ctx.out / "lecture_graph.svg")
        ad.draw_steps(trace, ctx.out / "backprop_steps")
    except GraphvizNotFoundError as error:
        section.text.append(f"No pictures: {error}")
        return section
    captions = [caption for caption, _ in trace.frames()]
    section.pictures.append(Picture(graph, "values y^(v) and adjoints z^(v) of every vertex"))
    frames = sorted((ctx.out / "backprop_steps").glob("step_*.svg"))
    section.frames = [Picture(p, c) for p, c in zip(frames, captions, strict=True)]
    section.links["The frames one at a time, with a slider"] = "backprop_steps/index.html"
    return section


def train_mlp(ctx: Context, seed: int, trajectory: list | None = None) -> tuple[nn.Module, Any]:
    """A ReLU MLP on the standardised 8x8 digits, SGD (lr 0.1, batch 32); ``trajectory``
    receives theta at the start and after each epoch.  Returns the model and its history."""
    from landscape.params import ParamSpace

    train, test = ctx.state["digits"]
    generator = ad.random.Generator(seed)
    model = nn.MLP([64, ctx.size(24, 16), 10], activation="relu", generator=generator)
    space = ParamSpace(model)
    callbacks = []
    if trajectory is not None:
        trajectory.append(space.theta())
        callbacks.append(lambda epoch, m, rec: trajectory.append(space.theta()))
    loader = nn.data.DataLoader(train, 32, shuffle=True, generator=generator)
    history = nn.fit(
        model,
        nn.functional.cross_entropy,
        nn.optim.SGD(model.parameters(), lr=0.1),
        loader,
        ctx.size(20, 3),
        val_loader=nn.data.DataLoader(test, 512),
        callbacks=callbacks,
        progress=ctx.progress,
    )
    return model, history


def training(ctx: Context) -> Section:
    """An MLP trained on scikit-learn's 8x8 digits with ``nn``, its loss and accuracy curves."""
    ctx.state["digits"] = nn.data.standardize(*nn.data.digits(dtype="float64"), min_std=0.1)
    trajectory: list = []
    model, history = train_mlp(ctx, ctx.seed, trajectory)
    ctx.state.update(model=model, trajectory=trajectory)
    fig = history.plot(title="digits MLP: training and held-out")
    fig.savefig(ctx.out / "training.png", dpi=80)
    last = history.records[-1]
    sizes = model.sizes
    return Section(
        "training",
        "2. A network trained on the 8x8 digits",
        [
            f"nn.MLP({sizes}, ReLU) trained by SGD (lr 0.1, batches of 32) for {last['epoch']} epochs on "
            "scikit-learn's digits (inputs standardised), held-out accuracy after each epoch."
        ],
        [Picture(ctx.out / "training.png", "loss (log scale) and accuracy per epoch")],
        numbers={
            "architecture": sizes,
            "parameters": sum(p.size for p in model.parameters()),
            "epochs": last["epoch"],
            "final training loss": last["loss"],
            "training accuracy": last["accuracy"],
            "test accuracy": last["val_accuracy"],
        },
        details={"history": history.to_dict()},
    )


def spectrum(ctx: Context) -> Section:
    """The Hessian of the trained network's loss: extreme eigenvalues (Lanczos), the spectral
    density (stochastic Lanczos quadrature) and the kind of point reached (``classify``)."""
    train, _ = ctx.state["digits"]
    X, Y = train.tensors[:2]
    n = ctx.size(256, 64)
    report = experiments.spectrum_report(
        ctx.state["model"], X[:n], Y[:n], k=ctx.size(4, 2), probes=ctx.size(4, 2), steps=ctx.size(30, 12)
    )
    experiments.plot_spectrum(report, ctx.out / "spectrum.png")
    verdict = report["classify"]
    return Section(
        "spectrum",
        "3. The Hessian spectrum at the trained weights",
        [
            f"The mean cross-entropy on {n} training examples as a function of all p = {report['p']} "
            "parameters: its largest and smallest Hessian eigenvalues by Lanczos, its spectral density by "
            "stochastic Lanczos quadrature, and the kind of point (classify, from the dense Hessian).",
            f"Verdict: {verdict['explanation']}",
        ],
        [Picture(ctx.out / "spectrum.png", "Hessian spectral density (SLQ)")],
        numbers={
            "p": report["p"],
            "loss": report["loss"],
            "gradient norm": report["grad_norm"],
            "lambda_max": max(report["largest"]),
            "lambda_min": min(report["smallest"]),
            "largest eigenvalues": report["largest"],
            "smallest eigenvalues": report["smallest"],
            "PL ratio |grad|^2 / f": report["pl_ratio"],
            "kind of point": verdict["kind"],
        },
        details={"density": report["density"], "inertia": verdict.get("inertia")},
    )


def functional_dimension(ctx: Context) -> Section:
    """The rank of the Jacobian of theta -> f_theta(X) during training, against the bounds
    p - #hidden (positive rescalings) and n out (Malgouyres, 2024)."""
    arch = ctx.size((64, 8, 8, 10), (64, 6, 6, 10))
    result = experiments.fdim_training(
        data="digits",
        arch=arch,
        epochs=ctx.size(6, 1),
        every=ctx.size(2, 1),
        points=ctx.size(80, 8),
        seed=ctx.seed,
        datasets=ctx.state["digits"],
        show_progress=ctx.progress,
    )
    experiments.plot_training(result, ctx.out / "functional_dimension.png")
    last = result["records"][-1]
    bounds = result["config"]["bounds"]
    return Section(
        "fdim",
        "4. The functional dimension against its bound",
        [
            f"A ReLU MLP {tuple(arch)} trained on the digits; every few epochs the rank of D f_theta(X) "
            f"on {result['config']['points']} training, test and Gaussian inputs. It cannot exceed "
            "p - #hidden (each hidden neuron's positive rescaling leaves f unchanged) nor n out (the rows)."
        ],
        [Picture(ctx.out / "functional_dimension.png", "rank against epochs, with the bounds")],
        numbers={
            "p": bounds["p"],
            "p - #hidden": bounds["rescaling"],
            "n out": bounds["rows"],
            **{f"rank on {kind} inputs": last[kind]["rank"] for kind in experiments.INPUT_KINDS},
            "epochs": last["epoch"],
        },
        details={"records": [{k: r[k]["rank"] for k in experiments.INPUT_KINDS} for r in result["records"]]},
    )


def saddles(ctx: Context) -> Section:
    """Gradient descent near a strict and a non-strict saddle of a deep linear network."""
    eps = ctx.size(None, {"strict": [1e-6, 1e-4, 1e-2], "non-strict": [10**-1.5, 1e-2, 10**-0.5]})
    runs = ctx.size(8, 2)
    result = saddle_escape.run(runs, ctx.size(40_000, 20_000), ctx.seed, eps=eps, bar=ctx.progress)
    summary = saddle_escape.summarise(result)
    saddle_escape.plot(result, summary, ctx.out / "saddles.png", dpi=80)
    strict, loose = summary["strict"], summary["non-strict"]
    facts = result["facts"]
    return Section(
        "saddles",
        "5. Escaping strict and non-strict saddles",
        [
            f"A deep linear network {saddle_escape.WIDTHS}: two critical points with the same value "
            f"(S = {{1}}), one strict saddle (the Hessian has a negative eigenvalue), one non-strict (tight: "
            "PSD Hessian). Gradient descent from distance eps escapes the first in O(log 1/eps) steps, the "
            "second in a number of steps polynomial in 1/eps; from near W = 0 it lingers at the critical "
            "values of the non-strict saddles."
        ],
        [Picture(ctx.out / "saddles.png", "risk curves, escape steps, escape against 1/eps")],
        numbers={
            "critical value": facts["strict"]["critical_value"],
            "strict: classify": facts["strict"]["classify"],
            "strict: smallest Hessian eigenvalue": facts["strict"]["hessian_min"],
            "non-strict: classify": facts["non-strict"]["classify"],
            "strict: steps per decade of 1/eps": strict["steps_per_decade"],
            "predicted": strict["predicted_steps_per_decade"],
            "non-strict: power of 1/eps": loose["power_of_1_over_eps"],
            "predicted (H - 2)": loose["predicted_power"],
            "runs per eps": runs,
        },
        details=saddle_escape.record(result, summary, runs),
    )


def surface_and_paths(ctx: Context) -> Section:
    """The loss on the plane of the training trajectory's two principal directions (Li et al.,
    2018), and between two trained networks: the straight line and a trained Bezier curve
    (Garipov et al., 2018)."""
    from landscape.params import ParamSpace

    train, _ = ctx.state["digits"]
    X, Y = train.tensors[:2]
    space = ParamSpace(ctx.state["model"])
    f = space.loss(nn.functional.cross_entropy, X, Y)
    pca = trajectory_pca(ctx.state["trajectory"])
    reach, n = 1.25 * float(abs(pca.coords).max()), ctx.size(17, 5)
    grid = [[reach * (2 * k / (n - 1) - 1) for k in range(n)]] * 2
    info = {
        "axis_labels": [f"PC{k + 1} ({100 * e:.0f}% of the trajectory)" for k, e in enumerate(pca.explained)],
        "title": "training loss on the trajectory's principal plane",
    }
    plane = surface(f, pca.origin, pca.directions, grid=grid, progress=ctx.progress, info=info)
    plane.save(ctx.out / "surface", trajectory=pca)
    other, _ = train_mlp(ctx, ctx.seed + 1)
    theta_a, theta_b = space.theta(), ParamSpace(other).theta()
    points = ctx.size(31, 9)
    line = interpolate(f, theta_a, theta_b, n=points, progress=ctx.progress)
    steps = ctx.size(150, 10)
    curve = connect(
        f, theta_a, theta_b, "bezier", bends=1, steps=steps, lr=0.02, n=points, progress=ctx.progress
    )
    curve.info["title"] = f"two digits MLPs (seeds {ctx.seed} and {ctx.seed + 1})"
    curve.save(ctx.out / "path", line)
    return Section(
        "surface",
        "6. The loss surface and a path between two minima",
        [
            "First: the training loss on the plane of the two principal directions of the SGD trajectory "
            "(one point per epoch), about its end. Second: a network trained from another seed; the loss "
            "along the straight line between the two networks, and along a quadratic Bezier curve trained "
            f"for {steps} steps on the mean loss at random t."
        ],
        [
            Picture(ctx.out / "surface" / "contour.png", "loss contours and the trajectory"),
            Picture(ctx.out / "path" / "path.png", "loss along the line and the Bezier curve"),
        ],
        numbers={
            "explained variance": [float(e) for e in pca.explained],
            "line barrier": line.barrier,
            "Bezier barrier": curve.barrier,
        },
    )
