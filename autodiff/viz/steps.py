"""Watching backpropagation happen, the way the lecture writes it: one frame per step.

The backward pass (Rumelhart et al., 1986, as taught by Scaman, *Non-convex optimization*,
2024) sets ``z^(f) = 1`` at the output, then completes, from the output to the roots, each
adjoint

    z^(v) = sum over w in Children(v) of (d f^(w) / d x^(v))^T z^(w).

:func:`trace_backward` runs the engine's own backward pass (``autodiff.engine.backprop``) with
an observer that records each vertex at the moment its adjoint is complete.  Each frame of
:func:`frames` is one step: the vertex w being processed and its complete adjoint, the local
derivative ``d f^(w) / d x^(v)`` on each edge (a number for scalars, a formula and a shape for
tensors), the term each argument v receives, and each vertex's running partial sum; edges
point the way the adjoint travels.  The last frame is the complete picture.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from autodiff import backend, engine
from autodiff.tensor import Tensor
from autodiff.viz import labels, local, widget
from autodiff.viz.dot import Frame, to_dot
from autodiff.viz.graph import Graph, parameter_names
from autodiff.viz.rendering import GraphvizNotFoundError, dot_program, render

BACKWARD_FORMULA = "z^(v) = sum over w in Children(v) of (d f^(w) / d x^(v))^T z^(w)"


@dataclass(frozen=True)
class Step:
    """Step ``index`` (from 0) of the backward pass: ``vertex``'s adjoint ``z^(v)`` is complete."""

    index: int
    vertex: Tensor
    adjoint: Tensor


@dataclass
class BackwardTrace:
    """What :func:`trace_backward` saw: ``steps`` in processing order (the output first)."""

    output: Tensor
    steps: list[Step] = field(default_factory=list)

    @property
    def order(self) -> list[Tensor]:
        """The vertices in the order the backward pass completed their adjoints."""
        return [s.vertex for s in self.steps]

    @property
    def adjoints(self) -> dict[Tensor, Tensor]:
        """``{vertex: z^(v)}`` for every vertex the backward pass reached."""
        return {s.vertex: s.adjoint for s in self.steps}

    def adjoint(self, v: Tensor) -> Tensor:
        for s in self.steps:
            if s.vertex is v:
                return s.adjoint
        raise KeyError(f"trace: the backward pass did not reach this tensor (shape {v.shape})")

    def __len__(self) -> int:
        return len(self.steps)

    def __iter__(self) -> Iterator[Step]:
        return iter(self.steps)

    def frames(self, **options: Any) -> list[tuple[str, str]]:
        """``(caption, DOT source)`` per frame (see :func:`frames`)."""
        return frames(self, **options)

    def to_html(self, **options: Any) -> str:
        """The frames as one self-contained HTML document (slider, arrow keys, captions)."""
        return widget.page(
            "Backpropagation, step by step", widget.formula_html(BACKWARD_FORMULA), frames(self, **options)
        )

    def _repr_html_(self) -> str:
        try:
            return self.to_html()
        except GraphvizNotFoundError:
            return widget.missing_dot_page("Backpropagation, step by step")


def trace_backward(
    t: Tensor,
    grad: Any = None,
    *,
    retain_graph: bool = True,
    create_graph: bool = False,
    accumulate: bool = True,
) -> BackwardTrace:
    """``t.backward(grad)`` (leaves' ``.grad`` accumulate, unless ``accumulate=False``) while
    recording each adjoint as it is completed.

    The graph is retained by default, so it can still be drawn (``ad.draw(t, grads=trace)``) or
    differentiated again; ``retain_graph=False`` frees it, as ``backward()`` does.
    """
    trace = BackwardTrace(t)

    def observe(v: Tensor, z: Any) -> None:
        if not isinstance(z, Tensor):  # a raw array the engine may hand on: keep a copy
            z = Tensor(backend.normalize(z.copy(), type(v.data)))
        trace.steps.append(Step(len(trace.steps), v, z))

    engine.backward(
        t,
        grad,
        retain_graph=retain_graph,
        create_graph=create_graph,
        accumulate=accumulate,
        observer=observe,
    )
    return trace


def text(a: Any, like: Tensor) -> tuple[str, bool]:
    """The values of a raw array or a tensor as label text (see :func:`labels.values`)."""
    t = a if isinstance(a, Tensor) else Tensor(backend.normalize(a, type(like.data)))
    return labels.values(t)


class Names:
    """What a vertex is called in captions and formulas: its name (``x``, ``layers.0.weight``)
    or, unnamed, its operation, numbered in the forward order when it occurs more than once
    (``multiply_1``, ``multiply_2``)."""

    def __init__(self, output: Tensor, names: Any = None):
        self.named = dict(parameter_names(names))
        unnamed = [v for v in Graph([output]).order if v not in self.named and not v.label]
        kinds = Counter(v.op.name if v.op is not None else "leaf" for v in unnamed)
        seen: Counter = Counter()
        for v in unnamed:
            what = v.op.name if v.op is not None else "leaf"
            seen[what] += 1
            self.named[v] = what if kinds[what] == 1 else f"{what}_{seen[what]}"

    def __call__(self, v: Tensor) -> str:
        return self.named.get(v) or v.label


def edge_text(w: Tensor, i: int, name: Names, term: Any, factor: Any) -> tuple[str, str]:
    """The label of edge i of w (HTML-like) and its sentence for a caption: the local
    derivative, then the term it makes from ``factor`` (an adjoint or a tangent)."""
    derivative = local.formula(w, i, name)
    value = local.number(w, i)
    partial = f"∂{name(w)}/∂{name(w.parents[i])}"
    factor_text, term_text = text(factor, w)[0], text(term, w)[0]
    if value is None:
        shaped = f"{derivative} [{labels.shape_text(w.shape)} ← {labels.shape_text(w.parents[i].shape)}]"
        label = f"{labels.escape(partial + ':')}<br/>{labels.escape(shaped)}"
        return label, f"{partial} = {shaped} applied to {factor_text} gives {term_text}"
    worked = f"{labels.number(value)} × {factor_text} = {term_text}"
    equals = f"{derivative} = {labels.number(value)}" if derivative != labels.number(value) else derivative
    return labels.escape(f"{partial} = {equals}") + "<br/>" + labels.escape(
        worked
    ), f"{partial} = {equals}, so {worked}"


def frames(trace: BackwardTrace, **options: Any) -> list[tuple[str, str]]:
    """``(caption, DOT source)`` per frame: frame 0 is the forward pass done; frame k > 0 is
    step k: the vertex w whose adjoint z^(w) is complete (highlighted), the local derivative
    and the term ``(d f^(w) / d x^(v))^T z^(w)`` on each edge to an argument v, and every
    adjoint complete or partial (``partial sum ... (1 of 2 children)``) so far."""
    options.setdefault("values", True)
    output, n = trace.output, len(trace.steps)
    name = Names(output, options.get("names"))
    for s in trace.steps:
        if s.vertex.op is not None and s.vertex.parents is None:
            raise ValueError(
                "frames: the backward pass freed the graph (retain_graph=False); trace it with "
                "ad.trace_backward(out) (which retains it) to draw its steps"
            )
    children = engine.dependency_counts([output], None)
    received: dict[Tensor, tuple[Any, int]] = {}
    lines: dict[Tensor, list[tuple[str, bool]]] = {}
    start = (
        f"Forward pass done: every value y^(v) is computed. Backward pass: {n} steps, from the "
        f"output (z^(f) = 1) to the roots, by {BACKWARD_FORMULA}."
    )
    shown = [(start, to_dot(output, frame=Frame({}, {}, None, True), **options))]
    for s in trace.steps:
        w, z = s.vertex, s.adjoint
        value, bad = text(z, w)
        lines[w] = [("adjoint " + value, bad)]
        edges: dict[tuple[Tensor, int], str] = {}
        sentences = []
        for i, p in enumerate(w.parents if w.op is not None else ()):
            if not local.differentiable(w, i) or p not in children:
                continue
            term = local.vjp_term(w, i, z)
            total, count = received.get(p, (None, 0))
            total, count = (term if total is None else total + term), count + 1
            received[p] = total, count
            label, sentence = edge_text(w, i, name, term, z)
            edges[(w, i)] = label
            so_far, b = text(total, p)
            state = "adjoint" if count == children[p] else "partial sum"
            share = f"({count} of {children[p]} {'child' if children[p] == 1 else 'children'})"
            lines[p] = [(f"{state} {so_far} {share}", b)]
            sentences.append(f"{sentence} to {name(p)}, whose {state} is {so_far} {share}")
        caption = (
            f"Step {s.index + 1}/{n}: z^({name(w)}) = {value} is complete: every child has contributed. "
        )
        if s.index == 0:
            caption = f"Step 1/{n}: z^({name(w)}) = {value}, the seed of the backward pass at the output. "
        if w.op is None:
            caption += f"{name(w)} is a root, so d {name(output)} / d {name(w)} = {value}."
        else:
            call = f"{w.op.name}({', '.join(local.argument_names(w, name))})"
            caption += (
                f"{name(w)} = {call} sends (∂f/∂x)ᵀ z^({name(w)}) to its arguments: "
                + "; ".join(sentences)
                + "."
            )
        frame = Frame(dict(lines), edges, w, True)
        shown.append((caption, to_dot(output, frame=frame, **options)))
    return shown


def draw_steps(t: Any, out_dir: str | Path, *, fmt: str = "svg", **options: Any) -> Path:
    """Run (or take) a :func:`trace_backward` of ``t`` (or take a forward-mode trace of
    :func:`~autodiff.trace_forward`) and write one picture per step into ``out_dir``
    (``step_000.svg`` ...; the DOT text beside each as ``.dot``), plus ``index.html``: the
    trace's ``to_html()``, one self-contained page; returns the path of ``index.html``.

    Options are those of :func:`autodiff.draw` (``values`` defaults to True).  Needs Graphviz's
    ``dot``; checked before anything is written or computed.
    """
    if fmt not in ("svg", "png"):
        raise ValueError(f"draw_steps: fmt must be 'svg' or 'png' (pictures a browser shows), got {fmt!r}")
    dot_program()
    trace = t if hasattr(t, "frames") and hasattr(t, "to_html") else trace_backward(t)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for k, (_, source) in enumerate(trace.frames(**options)):
        stem = f"step_{k:03d}"
        (out / f"{stem}.dot").write_text(source, encoding="utf-8")
        (out / f"{stem}.{fmt}").write_bytes(render(source, fmt))
    index = out / "index.html"
    index.write_text(trace.to_html(**options), encoding="utf-8")
    return index
