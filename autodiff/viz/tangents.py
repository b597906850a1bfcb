"""Forward mode, step by step: tangents flowing from the inputs to the output.

Forward mode (Scaman, *Non-convex optimization*, 2024: forward propagation multiplies the
Jacobians from the inputs on) carries, beside each value ``y^(w)``, its tangent

    zdot^(w) = sum over v in Parents(w) of (d f^(w) / d x^(v)) zdot^(v),

starting from the direction ``zdot^(r)`` given at the roots; the output's tangent is the JVP
``J_f(x) zdot``.  :func:`trace_forward` records the program's graph, then computes every
tangent in the forward order with the primitives' JVP rules, one term per edge, so each frame
shows a vertex being computed, its terms on its edges and its tangent: the same program as
:func:`~autodiff.trace_backward`, in the other direction, for comparing the two modes.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from autodiff import backend
from autodiff.creation import tensor
from autodiff.graph import enable_grad
from autodiff.tensor import Tensor
from autodiff.viz import local, widget
from autodiff.viz.dot import Frame, to_dot
from autodiff.viz.graph import Graph
from autodiff.viz.rendering import GraphvizNotFoundError
from autodiff.viz.steps import Names, edge_text, text

FORWARD_FORMULA = "zdot^(w) = sum over v in Parents(w) of (d f^(w) / d x^(v)) zdot^(v)"


@dataclass(frozen=True)
class TangentStep:
    """Step ``index`` (from 0) of forward mode: ``vertex``'s tangent, the sum of ``terms``
    (argument index -> ``(d f^(w) / d x^(v)) zdot^(v)``, raw arrays)."""

    index: int
    vertex: Tensor
    tangent: Tensor
    terms: dict[int, Any]


@dataclass
class ForwardTrace:
    """What :func:`trace_forward` computed: the ``inputs`` (roots made from the primals) with
    their tangents, then ``steps`` in forward order (the output last)."""

    output: Tensor
    inputs: list[Tensor]
    seeds: list[Tensor]
    steps: list[TangentStep] = field(default_factory=list)

    @property
    def tangents(self) -> dict[Tensor, Tensor]:
        """``{vertex: zdot^(v)}`` for the inputs and every vertex that depends on them."""
        found = dict(zip(self.inputs, self.seeds, strict=True))
        found.update((s.vertex, s.tangent) for s in self.steps)
        return found

    def tangent(self, v: Tensor) -> Tensor:
        found = self.tangents.get(v)
        if found is None:
            raise KeyError(f"trace_forward: this tensor (shape {v.shape}) does not depend on the inputs")
        return found

    def __len__(self) -> int:
        return len(self.steps)

    def __iter__(self) -> Iterator[TangentStep]:
        return iter(self.steps)

    def frames(self, **options: Any) -> list[tuple[str, str]]:
        """``(caption, DOT source)`` per frame: frame 0 gives the seeds at the roots; frame k
        computes the k-th vertex (highlighted): its value, its terms on its edges, its tangent."""
        values = options.pop("values", True)
        name = Names(self.output, options.get("names"))
        lines: dict[Tensor, list[tuple[str, bool]]] = {}
        seeds = []
        for x, t in zip(self.inputs, self.seeds, strict=True):
            lines[x] = _dual(x, t, values)
            seeds.append(f"zdot^({name(x)}) = {text(t, x)[0]}")
        n = len(self.steps)
        start = (
            f"Forward mode: the direction is given at the roots, {', '.join(seeds)}. {n} steps, from the "
            f"roots to the output, by {FORWARD_FORMULA}."
        )
        shown = [(start, to_dot(self.output, frame=Frame(dict(lines), {}, None, False), **options))]
        tangents = self.tangents
        for s in self.steps:
            w = s.vertex
            lines[w] = _dual(w, s.tangent, values)
            edges, sentences = {}, []
            for i, term in s.terms.items():
                label, sentence = edge_text(w, i, name, term, tangents[w.parents[i]])
                edges[(w, i)] = label
                sentences.append(f"from {name(w.parents[i])}: {sentence}")
            call = f"{w.op.name}({', '.join(local.argument_names(w, name))})"
            caption = (
                f"Step {s.index + 1}/{n}: {name(w)} = {call} and its tangent zdot^({name(w)}) = "
                f"{text(s.tangent, w)[0]}, the sum over its arguments of (∂f/∂x) zdot: "
                + "; ".join(sentences)
                + "."
            )
            if w is self.output:
                caption += f" This is the JVP: the derivative of {name(w)} in the given direction."
            shown.append((caption, to_dot(self.output, frame=Frame(dict(lines), edges, w, False), **options)))
        return shown

    def to_html(self, **options: Any) -> str:
        """The frames as one self-contained HTML document (slider, arrow keys, captions)."""
        intro = widget.formula_html(FORWARD_FORMULA)
        return widget.page("Forward mode, step by step", intro, self.frames(**options))

    def _repr_html_(self) -> str:
        try:
            return self.to_html()
        except GraphvizNotFoundError:
            return widget.missing_dot_page("Forward mode, step by step")


def _dual(v: Tensor, t: Any, values: bool) -> list[tuple[str, bool]]:
    """The label lines of a vertex in forward mode: its value (computed with it) and its tangent."""
    shown = [("value " + text(v, v)[0], text(v, v)[1])] if values else []
    tangent, bad = text(t, v)
    return [*shown, ("tangent " + tangent, bad)]


def trace_forward(f: Callable[..., Tensor], primals: Sequence[Any], tangents: Sequence[Any]) -> ForwardTrace:
    """Forward mode on ``f`` at ``primals`` in the direction ``tangents``, recorded vertex by
    vertex; the output's tangent equals ``ad.jvp(f, primals, tangents)[1]``.

    Each primal becomes a root that requires grad, named after the primal (or after f's
    parameter); ``trace.frames()``, ``ad.draw_steps(trace, DIR)`` and, in a notebook, the trace
    itself show the steps.
    """
    primals, tangents = list(primals), list(tangents)
    if len(primals) != len(tangents):
        raise ValueError(f"trace_forward: {len(primals)} primals but {len(tangents)} tangents")
    try:
        parameters = list(inspect.signature(f).parameters)
    except (TypeError, ValueError):
        parameters = []
    inputs, seeds = [], []
    for k, (p, t) in enumerate(zip(primals, tangents, strict=True)):
        x = tensor(p, requires_grad=True)
        x.label = (p.label if isinstance(p, Tensor) else None) or (
            parameters[k] if k < len(parameters) else None
        )
        t = tensor(t, dtype=x.dtype, device=x.device)
        if t.shape != x.shape:
            raise ValueError(f"trace_forward: tangent {k} has shape {t.shape}, its primal {x.shape}")
        inputs.append(x)
        seeds.append(t)
    with enable_grad():
        output = f(*inputs)
    if not isinstance(output, Tensor) or not output.requires_grad:
        raise TypeError("trace_forward: f must return a Tensor that depends on its arguments")
    trace = ForwardTrace(output, inputs, seeds)
    known: dict[Tensor, Any] = {x: t.data for x, t in zip(inputs, seeds, strict=True)}
    for w in Graph([output]).order:
        if w.op is None:
            continue
        terms = {
            i: local.jvp_term(w, i, known[p])
            for i, p in enumerate(w.parents)
            if isinstance(p, Tensor) and p in known and w.op.vjp[i] is not None  # a derivative in x_i
        }
        if not terms:
            continue
        total = None
        for term in terms.values():
            total = term if total is None else total + term
        known[w] = total
        trace.steps.append(
            TangentStep(len(trace.steps), w, Tensor(backend.normalize(total, type(w.data))), terms)
        )
    return trace
