"""Watching backpropagation happen: a record of the backward pass, and one picture per step.

The backward pass of ``../shared/seeds/001_9074c1202f56cd83.txt`` (Rumelhart et al., 1986) sets
``z^(f) = 1`` at the output, then completes, from the output to the roots, each adjoint

    z^(v) = sum over w in Children(v) of (d f^(w) / d x^(v))^T z^(w).

:func:`trace_backward` runs the engine's own backward pass (``autodiff.engine.backprop``) with
an observer that records each vertex at the moment its adjoint is complete: the order in which
vertices are processed, and each ``z^(v)``.  :func:`draw_steps` turns that record into frames.
"""

from __future__ import annotations

import html
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from autodiff import backend, engine
from autodiff.tensor import Tensor
from autodiff.viz import labels
from autodiff.viz.dot import to_dot
from autodiff.viz.rendering import dot_program, render


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


def frames(trace: BackwardTrace, **options: Any) -> list[tuple[str, str]]:
    """``(caption, DOT source)`` per frame: frame 0 is the forward pass done; frame k > 0 shows
    step k-1's vertex highlighted and the adjoints completed so far."""
    options.setdefault("values", True)
    n = len(trace.steps)
    out = [
        (
            f"Forward pass done: every value y^(v) is computed. Backward pass: {n} steps, from the "
            "output (z^(f) = 1) to the roots.",
            to_dot(trace.output, grads={}, **options),
        )
    ]
    adjoints: dict[Tensor, Tensor] = {}
    for s in trace.steps:
        adjoints[s.vertex] = s.adjoint
        name, (text, _) = _name(s.vertex), labels.values(s.adjoint)
        caption = f"Step {s.index + 1}/{n}: z^({name}) = {text} is complete: every child has contributed. "
        if s.index == 0:
            caption = f"Step 1/{n}: z^({name}) = {text}, the seed of the backward pass at the output. "
        if s.vertex._op is None:
            caption += f"{name} is a root, so d out / d {name} = {text}."
        else:
            caption += f"Now it is sent back through {s.vertex._op.name} to its arguments."
        out.append((caption, to_dot(trace.output, grads=dict(adjoints), highlight=s.vertex, **options)))
    return out


def _name(v: Tensor) -> str:
    return v._name or (v._op.name if v._op is not None else "leaf")


def draw_steps(t: Tensor | BackwardTrace, out_dir: str | Path, *, fmt: str = "svg", **options: Any) -> Path:
    """Run (or take) a :func:`trace_backward` of ``t`` and write one picture per step into
    ``out_dir`` (``step_000.svg`` ...; the DOT text beside each as ``.dot``), plus an
    ``index.html`` that steps through them; returns the path of ``index.html``.

    Options are those of :func:`autodiff.draw` (``values`` defaults to True).  Needs Graphviz's
    ``dot``; checked before anything is written or computed.
    """
    if fmt not in ("svg", "png"):
        raise ValueError(f"draw_steps: fmt must be 'svg' or 'png' (pictures a browser shows), got {fmt!r}")
    dot_program()
    trace = t if isinstance(t, BackwardTrace) else trace_backward(t)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    pages = []
    for k, (caption, source) in enumerate(frames(trace, **options)):
        stem = f"step_{k:03d}"
        (out / f"{stem}.dot").write_text(source, encoding="utf-8")
        (out / f"{stem}.{fmt}").write_bytes(render(source, fmt))
        pages.append({"image": f"{stem}.{fmt}", "caption": caption})
    index = out / "index.html"
    index.write_text(_page(pages), encoding="utf-8")
    return index


def _page(pages: Sequence[dict]) -> str:
    data = json.dumps(list(pages), indent=1).replace("</", "<\\/")
    first = pages[0]
    return _HTML.format(frames=data, image=html.escape(first["image"]), caption=html.escape(first["caption"]))


_HTML = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Backpropagation, step by step</title>
<style>
body {{ font-family: Helvetica, Arial, sans-serif; margin: 1.5em; }}
#caption {{ font-size: 1.1em; min-height: 2.6em; }}
img {{ max-width: 100%; border: 1px solid #ddd; }}
button {{ font-size: 1em; }}
</style>
</head>
<body>
<h1>Backpropagation, step by step</h1>
<p>z<sup>(v)</sup> = &sum;<sub>w &isin; Children(v)</sub>
(&part;f<sup>(w)</sup>/&part;x<sup>(v)</sup>)<sup>T</sup> z<sup>(w)</sup>:
the highlighted vertex has just received its adjoint from all its children.
Keys: &larr; &rarr;, Home, End.</p>
<p><button id="first">&#x23EE;</button> <button id="prev">&larr; previous</button>
<input id="slider" type="range" min="0" value="0" style="width: 20em">
<button id="next">next &rarr;</button> <button id="last">&#x23ED;</button> <span id="counter"></span></p>
<p id="caption">{caption}</p>
<img id="frame" src="{image}" alt="computation graph">
<script>
const frames = {frames};
let k = 0;
const slider = document.getElementById("slider");
slider.max = frames.length - 1;
function show(i) {{
  k = Math.max(0, Math.min(frames.length - 1, i));
  document.getElementById("frame").src = frames[k].image;
  document.getElementById("caption").textContent = frames[k].caption;
  document.getElementById("counter").textContent = "frame " + k + " / " + (frames.length - 1);
  slider.value = k;
}}
document.getElementById("first").onclick = () => show(0);
document.getElementById("prev").onclick = () => show(k - 1);
document.getElementById("next").onclick = () => show(k + 1);
document.getElementById("last").onclick = () => show(frames.length - 1);
slider.oninput = () => show(Number(slider.value));
document.addEventListener("keydown", (e) => {{
  if (e.key === "ArrowRight") show(k + 1);
  if (e.key === "ArrowLeft") show(k - 1);
  if (e.key === "Home") show(0);
  if (e.key === "End") show(frames.length - 1);
}});
show(0);
</script>
</body>
</html>
"""
