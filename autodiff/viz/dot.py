"""DOT text for a computation graph: the one place drawings are made (``to_dot``, ``draw`` and
the frames of ``draw_steps`` all come from :func:`dot_body`).

Each operation vertex v of Scaman 2024 (*Non-convex optimization*) is drawn as an
operation node (``f^(v)``, an ellipse) feeding a tensor node (``x^(v)``: shape, dtype, device,
and optionally the value ``y^(v)`` and the adjoint ``z^(v)``); roots are boxes coloured by kind
(input, parameter, constant), Python scalars plain text.  Node ids are positions in the
graph's stable order (``t3``, ``op3``), so the same program always gives the same bytes.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from autodiff import backend
from autodiff.tensor import Tensor
from autodiff.viz import labels
from autodiff.viz.graph import BACKWARD_SCOPE, Graph, arguments, kind, parameter_names, scopes
from autodiff.viz.layout import Layout

MAX_NODES = 300
RANKDIRS = ("auto", "LR", "TB", "RL", "BT")  # auto: TB for models (module calls), else LR
GRAPH_NAME = "autodiff"
COMMUTATIVE = {"add", "multiply", "maximum", "minimum"}  # argument order not labelled on edges

STYLE: dict[str, dict[str, str]] = {
    "op": {"shape": "ellipse", "style": "filled", "fillcolor": "#dae8fc", "color": "#6c8ebf"},
    "tensor": {"shape": "box", "style": "rounded"},
    "input": {"shape": "box", "style": "rounded,filled", "fillcolor": "#fff2cc", "color": "#d6b656"},
    "parameter": {"shape": "box", "style": "rounded,filled", "fillcolor": "#d5e8d4", "color": "#82b366"},
    "constant": {"shape": "box", "style": "rounded,dashed", "color": "#888888"},
    "scalar": {"shape": "plain"},
    "module": {"shape": "box3d", "style": "filled", "fillcolor": "#e1d5e7", "color": "#9673a6"},
    "hidden": {"shape": "note", "style": "filled", "fillcolor": "#eeeeee", "color": "#888888"},
}
HIGHLIGHT = {"style": "rounded,filled", "fillcolor": "#ffd966", "penwidth": "2.5"}
ACTIVE = "#cc0000"  # edges the current step of a pass uses
FONT = {"fontname": "Helvetica", "fontsize": "10"}
EDGES = {"color": "#555555", "arrowsize": "0.7", "fontname": "Helvetica", "fontsize": "9"}
FROM_GRAD: Mapping[Tensor, Any] = {}  # grads=True: adjoints are the tensors' own .grad


@dataclass(frozen=True)
class Frame:
    """One step of a pass drawn over the graph: ``lines`` (text, is-NaN/inf) added under
    vertices, labels on the edges the step uses, keyed by (vertex w, argument index i) for the
    edge x^(i) -> f^(w), the ``vertex`` processed (highlighted), and whether edges point the way
    adjoints travel (``backward``: from f^(w) to its arguments) or the way values do."""

    lines: Mapping[Tensor, Sequence[tuple[str, bool]]]
    edges: Mapping[tuple[Tensor, int], str]
    vertex: Tensor | None
    backward: bool


def to_dot(t: Tensor | Sequence[Tensor], **options: Any) -> str:
    """The DOT source of the graph that computed ``t`` (no package or program needed).

    Options are those of :func:`autodiff.draw`; render it with ``dot -Tsvg``.
    """
    return f"digraph {GRAPH_NAME} {{\n" + "".join(dot_body(t, **options)) + "}\n"


def dot_body(
    t: Tensor | Sequence[Tensor],
    *,
    values: bool = False,
    grads: bool | Mapping[Tensor, Any] | Any = False,
    backward: bool | str | Tensor | Sequence[Tensor] = False,
    names: Any = None,
    inputs: Any = None,
    collapse: bool | str | Iterable[str] = "auto",
    max_nodes: int = MAX_NODES,
    rankdir: str = "auto",
    frame: Frame | None = None,
) -> list[str]:
    """The statements of the DOT graph, one per line (each ending in a newline)."""
    if callable(getattr(t, "tensors", None)):  # an ad.Program: its values on leaves named %0, %1...
        t = t.tensors()[1]
    outputs = [t] if isinstance(t, Tensor) else list(t)
    if not outputs or not all(isinstance(o, Tensor) for o in outputs):
        raise TypeError(f"draw: expected a Tensor or a sequence of Tensors, got {type(t).__name__}")
    if rankdir not in RANKDIRS:
        raise ValueError(f"draw: rankdir must be one of {', '.join(RANKDIRS)}, got {rankdir!r}")
    named = parameter_names(names)
    given = parameter_names(inputs, "inputs")
    forward = Graph(outputs)
    roots, only, titles = _backward_roots(forward, backward, named)
    titles = {**{t: name for t, name in given.items() if name}, **titles}
    graph = Graph(roots if only else outputs + roots) if roots else forward
    backward_only = set() if only else {v for v in graph.order if v not in forward.index}
    scope = scopes(graph, backward_only, given)
    layout = Layout(graph, scope, collapse, max_nodes)
    roles = {v: kind(v, named, given, scope[v]) for v in graph.order}
    writer = _Writer(graph, scope, layout, named, roles, titles, _adjoints(grads), values, frame)
    if rankdir == "auto":
        rankdir = "TB" if any(scope[v] for v in graph.order) else "LR"
    return writer.lines(rankdir)


def _backward_roots(
    forward: Graph, backward: Any, named: Mapping[Tensor, str]
) -> tuple[list[Tensor], bool, dict[Tensor, str]]:
    """The gradients whose recorded graphs (``create_graph=True``) are drawn too, whether they
    replace the forward graph (``backward="only"``), and their titles."""
    if backward is False or backward is None:
        return [], False, {}
    if isinstance(backward, str) and backward != "only":
        raise ValueError(f"draw(backward=...): expected True, 'only' or gradient tensors, got {backward!r}")
    if backward is True or backward == "only":
        titles = {}
        for v in forward.order:
            if v.op is None and isinstance(v.grad, Tensor) and v.grad.op is not None:
                titles.setdefault(v.grad, f"{named.get(v) or v.label or 'leaf'}.grad")
        if not titles:
            raise ValueError(
                "draw(backward=True): no leaf of this graph has a gradient with a recorded graph; "
                "compute it with out.backward(create_graph=True) or ad.grad(f, create_graph=True) "
                "first (or pass the gradient tensors: draw(out, backward=[g]))"
            )
        return list(titles), backward == "only", titles
    roots = [backward] if isinstance(backward, Tensor) else list(backward)
    if not all(isinstance(g, Tensor) for g in roots):
        raise TypeError("draw(backward=...): expected True, 'only', or gradient Tensors")
    return roots, False, {g: g.label or "gradient" for g in roots}


def _adjoints(grads: Any) -> Mapping[Tensor, Any] | None:
    """Where adjoints come from: ``None`` (not shown), :data:`FROM_GRAD` (each tensor's
    ``.grad``), or a mapping (a :class:`~autodiff.viz.steps.BackwardTrace`'s ``adjoints``)."""
    if grads is False or grads is None:
        return None
    if grads is True:
        return FROM_GRAD
    found = getattr(grads, "adjoints", grads)
    if not isinstance(found, Mapping):
        raise TypeError(
            f"draw(grads=...): expected a bool, a BackwardTrace or a mapping Tensor -> adjoint, "
            f"got {type(grads).__name__}"
        )
    return found


def attributes(attrs: Mapping[str, str]) -> str:
    """``key=value`` pairs in order, labels as HTML-like ``<...>``, other values quoted."""
    parts = []
    for key, value in attrs.items():
        if key == "label":
            parts.append(f"label=<{value}>")
        elif value.replace(".", "").replace("_", "").isalnum():
            parts.append(f"{key}={value}")
        else:
            parts.append(f'{key}="{value}"')
    return " ".join(parts)


def _line(text: str, bad: bool) -> str:
    return f'<font color="{labels.BAD}">{text}</font>' if bad else text


class _Writer:
    """Turns a :class:`Layout` into DOT statements: nodes grouped into nested clusters (one per
    module call), then edges."""

    def __init__(self, graph, scope, layout, named, roles, titles, adjoints, values, frame):
        self.graph, self.scope, self.layout = graph, scope, layout
        self.named, self.roles, self.titles, self.adjoints = named, roles, titles, adjoints
        self.values, self.frame = values, frame
        self.highlight = frame.vertex if frame is not None else None
        self.nodes: list[tuple[tuple[str, ...], str]] = []  # (cluster path, statement)
        self.edges: list[str] = []
        self.box_edges: set[tuple[str, str]] = set()
        self.outputs = set(graph.outputs)

    # ---------------------------------------------------------------- node ids
    def node_id(self, u: int) -> str:
        n = len(self.graph)
        if not self.layout.drawn(u):
            return "hidden"
        return f"t{u}" if u < n else f"m{u - n}"

    def source(self, p: Tensor) -> str:
        return self.node_id(self.layout.unit[self.graph.index[p]])

    # ---------------------------------------------------------------- statements
    def lines(self, rankdir: str) -> list[str]:
        layout, n = self.layout, len(self.graph)
        self.exits = set(self.outputs)  # vertices of a box used outside it
        for i, u in enumerate(layout.unit):
            for p in self.graph.tensor_parents(self.graph.order[i]):
                if layout.unit[self.graph.index[p]] != u:
                    self.exits.add(p)
        done: set[int] = set()
        for i, u in enumerate(layout.unit):
            if u in done or not layout.drawn(u):
                continue
            done.add(u)
            if u < n:
                self.vertex(i)
            else:
                self.box(u)
        if layout.kept is not None:
            self.hidden()
        notes = list(layout.notes)
        freed = len(self.graph.freed)
        if freed:
            notes.append(
                f"{freed} operation{'s' if freed > 1 else ''} lost {'their' if freed > 1 else 'its'} inputs "
                "to a backward pass: call backward(retain_graph=True) to draw the whole graph"
            )
        graph_attrs = {"rankdir": rankdir, **FONT}
        if notes:
            graph_attrs.update(
                label="<br/>".join(labels.escape(note) for note in notes), labelloc="b", labeljust="l"
            )
        head = [
            f"\t{what} [{attributes(attrs)}]\n"
            for what, attrs in (("graph", graph_attrs), ("node", FONT), ("edge", EDGES))
        ]
        return head + self.clustered() + self.edges

    def node(self, path: tuple[str, ...], ident: str, look: str, **attrs: str) -> None:
        merged = {**STYLE[look], **attrs}
        self.nodes.append((path, f"{ident} [{attributes(merged)}]"))

    def edge(self, tail: str, head: str, **attrs: str) -> None:
        self.edges.append(f"\t{tail} -> {head}" + (f" [{attributes(attrs)}]" if attrs else "") + "\n")

    def vertex(self, i: int) -> None:
        v = self.graph.order[i]
        path = self.scope[v]
        lit = v is self.highlight
        label, bad = self.tensor_label(v)
        extra = dict(HIGHLIGHT) if lit else {}
        if bad:
            extra["color"] = labels.BAD
        if v in self.outputs:
            extra["peripheries"] = "2"
        k = self.roles[v]
        self.node(path, f"t{i}", "tensor" if k == "op" else k, label=label, **extra)
        if k != "op":
            return
        self.node(path, f"op{i}", "op", label=labels.op_label(v), **(HIGHLIGHT if lit else {}))
        way = {"dir": "back"} if self.frame is not None and self.frame.backward else {}
        flow = {"color": ACTIVE, "penwidth": "2"} if lit else {}
        self.edge(f"op{i}", f"t{i}", **way, **flow)
        args = arguments(v)
        numbered = len(args) > 1 and v.op.name not in COMMUTATIVE
        for a, p in enumerate(args):
            text = self.frame.edges.get((v, a)) if self.frame is not None else None
            position = [str(a)] if numbered else []
            label = {"label": "<br/>".join(position + ([text] if text else []))} if position or text else {}
            if text:
                label["fontcolor"] = ACTIVE
            if isinstance(p, Tensor):
                tail = self.source(p)
                if tail == "hidden":
                    self.box_edge(tail, f"op{i}")
                else:
                    carries = way if p.requires_grad else {}  # no adjoint goes to a constant
                    self.edge(tail, f"op{i}", **label, **carries, **(flow if text else {}))
            else:
                self.node(path, f"c{i}_{a}", "scalar", label=labels.escape(labels.number(p)))
                self.edge(f"c{i}_{a}", f"op{i}", **label)

    def box_edge(self, tail: str, head: str) -> None:
        if tail != head and (tail, head) not in self.box_edges:
            self.box_edges.add((tail, head))
            self.edge(tail, head)

    def box(self, u: int) -> None:
        """A collapsed module call: one node, edges from whatever feeds its vertices."""
        members = self.layout.members[u]
        path = self.layout.box_path[u]
        ident = self.node_id(u)
        ops = Counter(self.graph.order[i].op.name for i in members if self.graph.order[i].op is not None)
        label = f"<b>{labels.escape(_cluster_title(path))}</b><br/>{_counted(ops, 'operation')}"
        for i in members:  # what leaves the box: its shape, value and adjoint
            v = self.graph.order[i]
            if v in self.exits:
                label += "<br/>→ " + self.tensor_label(v)[0]
        extra = {"peripheries": "2"} if any(self.graph.order[i] in self.outputs for i in members) else {}
        if any(self.graph.order[i] is self.highlight for i in members):
            extra.update(fillcolor=HIGHLIGHT["fillcolor"], penwidth=HIGHLIGHT["penwidth"])
        self.node(path[:-1], ident, "module", label=label, **extra)
        for i in members:
            for p in self.graph.tensor_parents(self.graph.order[i]):
                self.box_edge(self.source(p), ident)

    def hidden(self) -> None:
        """One note standing for every unit not drawn, and edges into what it feeds."""
        layout = self.layout
        count = sum(1 for u in set(layout.unit) if not layout.drawn(u))
        ops = Counter(
            v.op.name
            for i, v in enumerate(self.graph.order)
            if v.op is not None and not layout.drawn(layout.unit[i])
        )
        label = f"<b>{count} more hidden</b><br/>{_counted(ops, 'operation')}"
        self.node((), "hidden", "hidden", label=label)

    def tensor_label(self, v: Tensor) -> tuple[str, bool]:
        title = self.titles.get(v) or self.named.get(v) or v.label
        k = self.roles[v]
        role = f"<i>{k}</i>" if k != "op" else ""
        if title:
            lines = [f"<b>{labels.escape(title)}</b>" + (f" {role}" if role else "")]
        else:
            lines = [role] if role else []
        boxed = self.layout.unit[self.graph.index[v]] >= len(self.graph)
        lines.append(labels.escape(f"shape {labels.shape_text(v.shape)}" if boxed else labels.describe(v)))
        bad = False
        if self.values:
            text, b = labels.values(v)
            lines.append(_line("value " + labels.escape(text), b))
            bad |= b
        adjoint = self.adjoint(v)
        if adjoint is not None:
            text, b = labels.values(adjoint)
            lines.append(_line("adjoint " + labels.escape(text), b))
            bad |= b
        for text, b in self.frame.lines.get(v, ()) if self.frame is not None else ():
            lines.append(_line(labels.escape(text), b))
            bad |= b
        if v.op is not None and v.parents is None:
            lines.append("<i>inputs freed by backward()</i>")
        return "<br/>".join(lines), bad

    def adjoint(self, v: Tensor) -> Tensor | None:
        if self.adjoints is None:
            return None
        z = v.grad if self.adjoints is FROM_GRAD else self.adjoints.get(v)
        if z is None or isinstance(z, Tensor):
            return z
        return Tensor(backend.normalize(z, type(v.data)))

    # ---------------------------------------------------------------- clusters
    def clustered(self) -> list[str]:
        """Node statements inside nested ``subgraph cluster_k`` blocks, one per scope path, in
        order of first appearance; built without recursion."""
        rank: dict[tuple[str, ...], int] = {}
        keyed = []
        for path, statement in self.nodes:
            key = tuple(rank.setdefault(path[:k], len(rank)) for k in range(1, len(path) + 1))
            keyed.append((key, path, statement))
        keyed.sort(key=lambda item: item[0])
        out: list[str] = []
        open_paths: list[tuple[str, ...]] = []
        clusters = 0
        for _, path, statement in keyed:
            while open_paths and path[: len(open_paths[-1])] != open_paths[-1]:
                open_paths.pop()
                out.append("\t" * (len(open_paths) + 1) + "}\n")
            while len(open_paths) < len(path):
                indent = "\t" * (len(open_paths) + 1)
                open_paths.append(path[: len(open_paths) + 1])
                title = labels.escape(_cluster_title(open_paths[-1]))
                color = "#cc6600" if open_paths[-1] == (BACKWARD_SCOPE,) else "#9673a6"
                cluster = {
                    "label": f"<b>{title}</b>",
                    "style": "rounded,dashed",
                    "color": color,
                    "fontcolor": color,
                }
                out.append(f"{indent}subgraph cluster_{clusters} {{\n")
                out.append(f"{indent}\tgraph [{attributes(cluster)}]\n")
                clusters += 1
            out.append("\t" * (len(open_paths) + 1) + statement + "\n")
        while open_paths:
            open_paths.pop()
            out.append("\t" * (len(open_paths) + 1) + "}\n")
        return out


def _cluster_title(path: tuple[str, ...]) -> str:
    """``MLP.layers.0`` for the call of module ``layers.0`` inside ``MLP``."""
    inner = [p for p in path if p != BACKWARD_SCOPE]
    return ".".join(inner) if inner else BACKWARD_SCOPE


def _counted(ops: Counter, noun: str) -> str:
    """``7 operations: matmul, add ×2, relu`` (the 4 most frequent, ties by first use)."""
    total = sum(ops.values())
    common = sorted(ops.items(), key=lambda item: -item[1])[:4]
    names = ", ".join(name if c == 1 else f"{name} ×{c}" for name, c in common)
    more = ", ..." if len(ops) > 4 else ""
    return labels.escape(f"{total} {noun}{'s' if total != 1 else ''}: {names}{more}")
