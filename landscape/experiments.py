"""The lecture notes' experiments as functions that return JSON-ready records and draw PNGs.

* Functional dimension during training (Malgouyres, *Nonconvex optimization landscapes*,
  experiments 1-4): an MLP, by default the notes' (784, 30, 30, 30, 10), is trained by SGD on a
  classification set; every ``every`` epochs the rank of D f_theta(X) (:func:`landscape.
  functional_dimension`, NumPy's rule, ``method="stream"``) is taken for three kinds of inputs:
  ``points`` training inputs, ``points`` test inputs and ``points`` Gaussian inputs N(0, I), with
  its spectrum, tolerance and gap, and the dead (never active) and always-active hidden neurons
  per layer on those inputs.  :func:`fdim_training` is one run, :func:`fdim_study` the notes'
  sweeps over the width (784, w, w, w, 10), input noise (additive Gaussian, std sigma, on the
  training inputs) and label noise (a fraction of the training labels replaced by uniform
  random ones).
* The random kernel of the slides *¿Por qué la solución al problema de optimalidad funciona?*:
  lambda_min of K = J_2 J_2^T, J_2 the Jacobian with respect to the output weights of a
  one-hidden-layer ReLU network Phi(x) = sum_j theta2_j relu(<theta1_j, [x; 1]>), against the
  width n, for the notes' initialisation N(0, 1/n) and the standard one (:func:`ntk_width`).
* The curvature at a checkpoint (:func:`spectrum_report`): Hessian extremes by Lanczos, the SLQ
  density, the PL ratio and the ``classify`` verdict.

Bounds drawn with the ranks: ``p - #hidden`` (one positive-rescaling direction per hidden
neuron), ``n out`` (the rows of J) and, for softmax outputs, ``n (out - 1)`` and ``p - #hidden -
(n_{H-1} + 1)`` (softmax is invariant under adding c 1 + 1 a^T f_{H-1} to the last layer).
"""

from __future__ import annotations

import functools
import math
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

import autodiff as ad
from landscape._core import progress
from landscape.jacobian import functional_dimension, ntk
from landscape.relu import activation_patterns
from landscape.sweeps import sweep
from nn import functional as F
from nn.builders import MLP
from nn.containers import Sequential
from nn.data import DataLoader, TensorDataset, digits, digits28, mnist, mnist1d
from nn.module import Module
from nn.optim import SGD
from nn.train import evaluate, fit

NOTES_ARCH = (784, 30, 30, 30, 10)
DATASETS = ("digits28", "digits", "mnist1d", "mnist:DIR")
INPUT_KINDS = ("train", "test", "gaussian")


def load_data(name: str, seed: int = 0) -> tuple[TensorDataset, TensorDataset]:
    """(train, test) for ``digits28``, ``digits``, ``mnist1d`` or ``mnist:DIR`` (IDX files in DIR)."""
    if name == "digits28":
        return digits28(seed=seed)
    if name == "digits":
        return digits(seed=seed)
    if name == "mnist1d":
        return mnist1d(seed=42)
    if name.startswith("mnist:"):
        return mnist(name[len("mnist:") :])
    raise ValueError(f"unknown data set {name!r}: use one of {', '.join(DATASETS)}")


def rank_bounds(arch: Sequence[int], n: int, outputs: str = "logits") -> dict[str, int]:
    """The bounds on rk D f_theta(X) for n inputs: ``p``, ``hidden`` (#hidden), ``rescaling``
    (p - #hidden), ``rows`` (n out, or n (out - 1) for softmax outputs) and ``bound``, the least;
    for softmax outputs ``rescaling`` also drops the n_{H-1} + 1 last-layer directions."""
    arch = [int(a) for a in arch]
    p = sum((a + 1) * b for a, b in zip(arch[:-1], arch[1:], strict=True))
    hidden = sum(arch[1:-1])
    out = arch[-1]
    if outputs == "softmax":
        rescaling, rows = p - hidden - arch[-2] - 1, n * (out - 1)
    else:
        rescaling, rows = p - hidden, n * out
    return {"p": p, "hidden": hidden, "rescaling": rescaling, "rows": rows, "bound": min(rescaling, rows)}


class _Softmax(Module):
    def forward(self, x: Any) -> Any:
        return F.softmax(x, axis=-1)


def with_outputs(model: Module, outputs: str) -> Module:
    """``model`` itself for ``"logits"``, the model followed by softmax for ``"softmax"``."""
    if outputs not in ("logits", "softmax"):
        raise ValueError(f"outputs must be 'logits' or 'softmax', not {outputs!r}")
    return model if outputs == "logits" else Sequential(model, _Softmax())


def neuron_counts(model: MLP, X: Any) -> dict[str, list[int]]:
    """Per hidden layer, the neurons never active (``dead``: pre-activation < 0 on every input)
    and always active (>= 0 on every input), from the activation patterns a(X, theta)."""
    pattern = activation_patterns(model, X).numpy()
    dead, always, row = [], [], 0
    for width in model.sizes[1:-1]:
        block = pattern[row : row + width]
        dead.append(int(np.sum(~block.any(axis=1))))
        always.append(int(np.sum(block.all(axis=1))))
        row += width
    return {"dead": dead, "always_active": always}


def measure(model: MLP, X: Any, outputs: str = "logits", method: str = "stream") -> dict[str, Any]:
    """The functional dimension of ``model`` on X with its evidence (JSON-ready): rank, bounds,
    tolerance, gap, ambiguity, the singular spectrum, dead / always-active neurons."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # ambiguity is recorded below
        fd = functional_dimension(with_outputs(model, outputs), X, method=method, progress_bar=False)
    return {
        "rank": fd.rank,
        **rank_bounds(model.sizes, X.shape[0], outputs),
        "tol": fd.tol,
        "gap": fd.gap if math.isfinite(fd.gap) else None,
        "ambiguous": fd.ambiguous,
        "largest_gap": list(fd.largest_gap),
        "shape": list(fd.shape),
        "rule": fd.rule,
        "singular_values": fd.singular_values.tolist(),
        **neuron_counts(model, X),
    }


def _training_set(
    train: TensorDataset, noise_x: float, noise_y: float, limit: int | None, seed: int
) -> TensorDataset:
    """The first ``limit`` training examples, inputs plus N(0, noise_x^2) noise, a fraction
    ``noise_y`` of labels replaced by uniform random ones (seeded)."""
    x, y = train.tensors[0].numpy(), train.tensors[1].numpy()
    if limit is not None:
        x, y = x[:limit], y[:limit]
    rng = np.random.default_rng(seed + 1)
    x = x + noise_x * rng.standard_normal(x.shape) if noise_x else x
    y = y.copy()
    flip = rng.random(len(y)) < noise_y
    y[flip] = rng.integers(0, int(y.max()) + 1, int(flip.sum()))
    return TensorDataset(ad.tensor(x), ad.tensor(y))


def fdim_training(
    data: str = "digits28",
    arch: Sequence[int] = NOTES_ARCH,
    epochs: int = 10,
    every: int = 2,
    points: int = 100,
    train_limit: int | None = None,
    lr: float = 0.1,
    batch_size: int = 32,
    noise_x: float = 0.0,
    noise_y: float = 0.0,
    outputs: str = "logits",
    seed: int = 0,
    datasets: tuple[TensorDataset, TensorDataset] | None = None,
    show_progress: bool = True,
) -> dict[str, Any]:
    """One run of the notes' experiment 1: train ``arch`` by SGD (``lr``, ``batch_size``,
    cross-entropy) for ``epochs`` on ``data`` (noisy as asked), and every ``every`` epochs
    (epoch 0 included, the last always) :func:`measure` the functional dimension on ``points``
    training inputs (the noisy ones trained on), test inputs and Gaussian inputs N(0, I).
    Returns {"config", "records": [{"epoch", "loss", "accuracy", "test_accuracy",
    "train"/"test"/"gaussian": measure(...)}]}."""
    train, test = load_data(data, seed) if datasets is None else datasets
    arch = [int(a) for a in arch]
    if arch[0] != train.tensors[0].shape[1]:
        raise ValueError(
            f"fdim: arch starts with {arch[0]} inputs but {data} has {train.tensors[0].shape[1]}"
        )
    if min(len(train), len(test)) < points:
        raise ValueError(
            f"fdim: {data} has {len(train)} training and {len(test)} test examples, "
            f"fewer than --points {points}"
        )
    noisy = _training_set(train, noise_x, noise_y, train_limit, seed)
    gaussian = ad.random.Generator(seed + 2).randn(points, arch[0])
    inputs = {"train": noisy.tensors[0][:points], "test": test.tensors[0][:points], "gaussian": gaussian}
    model = MLP(arch, generator=ad.random.Generator(seed))
    optimizer = SGD(model.parameters(), lr=lr)
    loader = DataLoader(noisy, batch_size=batch_size, shuffle=True, generator=ad.random.Generator(seed))
    test_loader = DataLoader(test, batch_size=512)
    records: list[dict[str, Any]] = []
    checkpoints = sorted({0, epochs, *range(every, epochs, every)}) if every > 0 else [0, epochs]
    bar = progress(len(checkpoints), "fdim", "point", show_progress)

    def record(epoch: int, history: dict[str, Any]) -> None:
        entry = {"epoch": epoch, **history}
        entry["test_accuracy"] = evaluate(model, F.cross_entropy, test_loader)["accuracy"]
        for kind, X in inputs.items():
            entry[kind] = measure(model, X, outputs)
        records.append(entry)
        bar.update()

    try:
        record(0, evaluate(model, F.cross_entropy, DataLoader(noisy, batch_size=512)))
        done = 0
        for epoch in checkpoints[1:]:
            history = fit(model, F.cross_entropy, optimizer, loader, epoch - done, progress=False)
            done = epoch
            last = history.records[-1]
            record(epoch, {"loss": last["loss"], "accuracy": last["accuracy"]})
    finally:
        bar.close()
    config = {
        "data": data, "arch": arch, "epochs": epochs, "every": every, "points": points,
        "train_size": len(noisy), "lr": lr, "batch_size": batch_size, "noise_x": noise_x,
        "noise_y": noise_y, "outputs": outputs, "seed": seed, "bounds": rank_bounds(arch, points, outputs),
    }  # fmt: skip
    return {"config": config, "records": records}


def fdim_study(
    vary: str,
    values: Sequence[float],
    data: str = "digits28",
    arch: Sequence[int] = NOTES_ARCH,
    client: Any = None,
    workers: int = 0,
    **kwargs: Any,
) -> dict[str, Any]:
    """The notes' sweeps: one :func:`fdim_training` run per value of ``vary`` (``"width"``: arch
    (n_0, w, ..., w, n_H) with the depth of ``arch``; ``"noise_x"``; ``"noise_y"``), each an
    independent job of :func:`landscape.sweep` (serial by default; ``workers`` local processes,
    or a Dask ``client`` / scheduler address: the same results for a seed)."""
    if vary not in ("width", "noise_x", "noise_y"):
        raise ValueError(f"fdim_study: vary must be 'width', 'noise_x' or 'noise_y', not {vary!r}")
    job = functools.partial(
        _study_run, vary, data, tuple(arch), load_data(data, kwargs.get("seed", 0)), kwargs
    )
    runs = sweep(job, list(values), client=client, workers=workers, desc=f"fdim {vary}").values()
    return {"vary": vary, "values": list(values), "runs": runs}


def _study_run(
    vary: str, data: str, arch: tuple, datasets: Any, kwargs: dict, value: float
) -> dict[str, Any]:
    if vary == "width":
        return fdim_training(
            data, [arch[0], *[int(value)] * (len(arch) - 2), arch[-1]], datasets=datasets, **kwargs
        )
    return fdim_training(data, list(arch), datasets=datasets, **{**kwargs, vary: float(value)})


# ----------------------------------------------------------------------------- the random kernel
INITS = ("notes", "standard")


def one_hidden_layer(d: int, width: int, init: str, seed: int) -> MLP:
    """Phi(x) = sum_j theta2_j relu(<theta1_j, [x; 1]>) + b (b = 0): ``init="notes"`` draws
    theta1 (d + 1 entries per neuron) and theta2 from N(0, 1/n), n the width (the slides);
    ``"standard"`` keeps the default initialisation U(-1/sqrt(fan_in), 1/sqrt(fan_in))."""
    if init not in INITS:
        raise ValueError(f"init must be one of {INITS}, not {init!r}")
    generator = ad.random.Generator(seed)
    model = MLP([d, width, 1], generator=generator)
    if init == "notes":
        with ad.no_grad():
            for param in model.parameters():
                param.copy_(generator.normal(0.0, 1.0 / math.sqrt(width), param.shape))
    with ad.no_grad():
        model[2].bias.zero_()
    return model


def ntk_width(
    widths: Sequence[int],
    points: int = 20,
    d: int = 10,
    seeds: int = 3,
    show_progress: bool = True,
    client: Any = None,
    workers: int = 0,
) -> dict[str, Any]:
    """lambda_min of the notes' random kernel K = J_2 J_2^T (J_2: derivatives of Phi(x_i) with
    respect to the output weights theta2, K_ij = sum_k relu(<theta1_k, x_i~>) relu(<theta1_k,
    x_j~>)) at initialisation, and of the full kernel J J^T, for ``points`` inputs uniform on the
    unit sphere of R^d, each width and both initialisations, averaged over ``seeds`` draws.  Each
    (initialisation, width, seed) is a job of :func:`landscape.sweep` (``client``, ``workers`` as
    there; serial by default)."""
    X = ad.random.Generator(12345).randn(points, d)
    X = X / ad.sqrt((X * X).sum(axis=1, keepdims=True))
    jobs = [(init, int(width), seed) for init in INITS for width in widths for seed in range(seeds)]
    job = functools.partial(_kernel_draw, X, d)
    draws = sweep(job, jobs, client=client, workers=workers, progress=show_progress, desc="ntk").values()
    rows = []
    for k in range(0, len(jobs), seeds):
        (init, width, _), found = jobs[k], draws[k : k + seeds]
        output, full = [o for o, _ in found], [f for _, f in found]
        rows.append(
            {"init": init, "width": width, "lambda_min_output": float(np.mean(output)),
             "lambda_min_full": float(np.mean(full)), "draws_output": output, "draws_full": full}
        )  # fmt: skip
    return {
        "config": {"points": points, "d": d, "seeds": seeds, "widths": [int(w) for w in widths]},
        "rows": rows,
    }


def _kernel_draw(X: Any, d: int, job: tuple[str, int, int]) -> tuple[float, float]:
    """lambda_min of the output-layer kernel and of the full kernel for one draw."""
    init, width, seed = job
    model = one_hidden_layer(d, width, init, seed)
    return ntk(model, X, params=["2.weight"]).lambda_min, ntk(model, X).lambda_min


# ----------------------------------------------------------------------------- curvature
def spectrum_report(
    model: Module, X: Any, Y: Any, k: int = 4, probes: int = 4, steps: int = 30, dense_limit: int = 3000
) -> dict[str, Any]:
    """The Hessian of the mean cross-entropy at the model's parameters: the k largest and k
    smallest eigenvalues (Lanczos), the SLQ density (``probes`` x ``steps``), the PL ratio
    ||grad f||^2 / f and, when p <= ``dense_limit`` (dense Hessian), the ``classify`` verdict
    with its evidence; an SGD end point is usually not a critical point, and the verdict says so."""
    from landscape.critical import classify
    from landscape.density import spectral_density
    from landscape.lanczos import hessian_eigs
    from landscape.params import ParamSpace
    from landscape.pl import pl_ratio

    space = ParamSpace(model)
    f = space.loss(F.cross_entropy, X, Y)
    theta = space.theta()
    value, grad = ad.value_and_grad(f)(theta)
    top = hessian_eigs(f, theta, k=k, which="largest")
    bottom = hessian_eigs(f, theta, k=k, which="smallest")
    density = spectral_density(f, theta, n_probes=probes, steps=steps)
    report: dict[str, Any] = {
        "p": space.p, "loss": value.item(), "grad_norm": float(np.linalg.norm(grad.numpy())),
        "largest": top.values.numpy().tolist(), "smallest": bottom.values.numpy().tolist(),
        "pl_ratio": pl_ratio(f, theta),
        "density": {"grid": density.grid.tolist(), "density": density.density.tolist()},
    }  # fmt: skip
    if space.p <= dense_limit:
        verdict = classify(f, theta)
        report["classify"] = {
            "kind": verdict.kind,
            "inertia": list(verdict.inertia),
            "explanation": verdict.explanation,
        }
    else:
        report["classify"] = {
            "kind": None,
            "explanation": f"p = {space.p} > {dense_limit}: no dense Hessian, not classified",
        }
    report["_density"] = density
    return report


# ----------------------------------------------------------------------------- plots
def _axes() -> tuple[Any, Any]:
    """A figure and its axes, without pyplot (a notebook's backend is left alone)."""
    try:
        from matplotlib.figure import Figure
    except ImportError as error:
        raise ImportError("the experiment plots need matplotlib: pip install matplotlib") from error
    fig = Figure(figsize=(6, 4))
    return fig, fig.add_subplot()


def _save(fig: Any, path: str | Path, legend: Any = None) -> Path:
    if legend is not None:
        legend.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    return Path(path)


def _bound_lines(ax: Any, arch: Sequence[int], n: int) -> None:
    """p - #hidden and n out (logits), and the softmax bounds, as horizontal lines."""
    logits, softmax = rank_bounds(arch, n), rank_bounds(arch, n, "softmax")
    ax.axhline(logits["rescaling"], color="k", ls="--", lw=1, label=f"p - #hidden = {logits['rescaling']}")
    ax.axhline(logits["rows"], color="gray", ls=":", lw=1, label=f"n out = {logits['rows']}")
    label = f"softmax: p - #hidden - (n_(H-1) + 1) = {softmax['rescaling']}, n (out - 1) = {softmax['rows']}"
    ax.axhline(min(softmax["rescaling"], softmax["rows"]), color="tab:red", ls="-.", lw=1, label=label)


def plot_training(result: dict[str, Any], path: str | Path) -> Path:
    """Functional dimension against epochs for the three input kinds, bounds as lines."""
    fig, ax = _axes()
    epochs = [r["epoch"] for r in result["records"]]
    for kind in INPUT_KINDS:
        ax.plot(epochs, [r[kind]["rank"] for r in result["records"]], marker="o", label=f"{kind} inputs")
    cfg = result["config"]
    _bound_lines(ax, cfg["arch"], cfg["points"])
    ax.set(
        xlabel="epoch",
        ylabel="rank D f_theta(X)",
        title=f"{cfg['data']} {tuple(cfg['arch'])}, {cfg['points']} points",
    )
    return _save(fig, path, legend=ax)


def plot_study(study: dict[str, Any], path: str | Path) -> Path:
    """Final functional dimension (as a fraction of its bound) against the varied quantity."""
    fig, ax = _axes()
    for kind in INPUT_KINDS:
        ax.plot(
            study["values"],
            [run["records"][-1][kind]["rank"] / run["records"][-1][kind]["bound"] for run in study["runs"]],
            marker="o",
            label=f"{kind} inputs",
        )
    labels = {
        "width": "width w of (n_0, w, w, w, n_H)",
        "noise_x": "input noise std",
        "noise_y": "fraction of random labels",
    }
    ax.set(
        xlabel=labels[study["vary"]],
        ylabel="rank / min(p - #hidden, n out)",
        title=f"after {study['runs'][0]['config']['epochs']} epochs",
    )
    return _save(fig, path, legend=ax)


def plot_ntk(result: dict[str, Any], path: str | Path) -> Path:
    """lambda_min(K) against the width, both initialisations, log-log."""
    fig, ax = _axes()
    for init in INITS:
        rows = [r for r in result["rows"] if r["init"] == init]
        ax.loglog(
            [r["width"] for r in rows],
            [r["lambda_min_output"] for r in rows],
            marker="o",
            label=f"K (output weights), {init} init",
        )
        ax.loglog(
            [r["width"] for r in rows],
            [r["lambda_min_full"] for r in rows],
            ls="--",
            marker=".",
            label=f"full J J^T, {init} init",
        )
    ax.set(
        xlabel="width n",
        ylabel="lambda_min",
        title=f"{result['config']['points']} points on the sphere of R^{result['config']['d']}",
    )
    return _save(fig, path, legend=ax)


def plot_spectrum(report: dict[str, Any], path: str | Path) -> Path:
    """The SLQ density of the Hessian (log scale)."""
    fig, ax = _axes()
    report["_density"].plot(ax=ax)
    ax.set_title(f"Hessian density, p = {report['p']}, {report['classify']['kind'] or 'not classified'}")
    return _save(fig, path)
