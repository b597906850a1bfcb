"""What each vertex is drawn as: itself, one box for a collapsed module call, or hidden.

Big graphs are reduced gracefully, in two steps, until at most ``max_nodes`` things are drawn:
first module calls are collapsed to one box each, deepest modules first (``MLP.layers.0``
before ``MLP``); then, if that is not enough (a long chain has no modules), only the
``max_nodes`` boxes and vertices nearest the outputs are kept and the rest are summarised in
one note.  Each step is linear in the size of the graph and iterative.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from autodiff.tensor import Tensor
from autodiff.viz.graph import BACKWARD_SCOPE, Graph

READABLE = (80, 24)  # more nodes, or a longer chain of them, and a note suggests collapsing


class Layout:
    """``unit[i]``: what vertex ``graph.order[i]`` is drawn as, ``i`` itself or a box number
    ``>= len(graph)`` with ``members[box]`` its vertices and ``box_path[box]`` its scope;
    ``kept``: the units drawn (``None``: all); ``notes``: what was collapsed or hidden."""

    def __init__(
        self,
        graph: Graph,
        scope: Mapping[Tensor, tuple[str, ...]],
        collapse: bool | str | Iterable[str],
        max_nodes: int,
    ):
        if not isinstance(max_nodes, int) or max_nodes < 1:
            raise ValueError(f"draw: max_nodes must be a positive int, got {max_nodes!r}")
        self.graph = graph
        self.notes: list[str] = []
        paths = [scope[v] for v in graph.order]
        wanted = _wanted(collapse, paths)
        self._assign(paths, wanted, None)
        deepest = max((len(p) for p in paths), default=0)
        depth = deepest + 1
        while self.count > max_nodes and depth > 1:
            depth -= 1
            self._assign(paths, wanted, depth)
        if depth <= deepest:
            self.notes.append(
                f"{len(graph)} vertices > max_nodes={max_nodes}: module calls at depth {depth} and "
                "deeper are collapsed to one box each"
            )
        self.kept: set[int] | None = None
        if self.count > max_nodes:
            nearest = graph.nearest(max(max_nodes, len(graph.outputs)), self.unit, self.members)
            self.kept = set(nearest)
            self.notes.append(
                f"{len(graph)} vertices > max_nodes={max_nodes}: the {len(nearest)} nearest the output "
                f"are drawn, {self.count - len(nearest)} more are hidden"
            )
        nodes, depth = self._size()
        if nodes > READABLE[0] or depth > READABLE[1]:
            self.notes.append(
                f"{nodes} nodes in chains of up to {depth}: too big to read; draw each module call as one "
                "box (collapse='auto' or True; autodiff graph without --expand), or lower max_nodes"
            )

    def _assign(self, paths: list[tuple[str, ...]], wanted: set[tuple[str, ...]], depth: int | None) -> None:
        n = len(paths)
        self.unit = list(range(n))
        self.members: dict[int, list[int]] = {}
        self.box_path: dict[int, tuple[str, ...]] = {}
        boxes: dict[tuple[str, ...], int] = {}
        for i, path in enumerate(paths):
            box = (
                next((path[:k] for k in range(1, len(path) + 1) if path[:k] in wanted), None)
                if wanted
                else None
            )
            if box is None and depth is not None and len(path) >= depth:
                box = path[:depth]
            if box is None:
                continue
            b = boxes.get(box)
            if b is None:
                b = boxes[box] = n + len(boxes)
                self.box_path[b] = box
                self.members[b] = []
            self.unit[i] = b
            self.members[b].append(i)
        self.count = n - sum(len(m) for m in self.members.values()) + len(boxes)

    def _size(self) -> tuple[int, int]:
        """How many nodes are drawn (an operation vertex is two: f^(v) and x^(v)), and the
        longest chain of them, by one pass in the graph's order."""
        graph, level = self.graph, {}
        for i, v in enumerate(graph.order):
            u = self.unit[i]
            if not self.drawn(u):
                continue
            units = (self.unit[graph.index[p]] for p in graph.tensor_parents(v))
            below = max((level.get(q, 0) for q in units if q != u), default=0)
            level[u] = max(level.get(u, 0), below + (2 if u == i and v.op is not None else 1))
        ops = sum(1 for i, v in enumerate(graph.order) if self.unit[i] == i and v.op is not None)
        return len(level) + ops, max(level.values(), default=0)

    def drawn(self, u: int) -> bool:
        return self.kept is None or u in self.kept


def _wanted(collapse: bool | str | Iterable[str], paths: list[tuple[str, ...]]) -> set[tuple[str, ...]]:
    """The scopes to collapse: ``"auto"`` means every innermost module call (one box per
    layer, the default), ``True`` every outermost one; names are dotted scope paths
    (``"MLP.layers.0"``)."""
    known = {p[:k] for p in paths for k in range(1, len(p) + 1)}
    if collapse == "auto":
        inner = {p[:k] for p in paths for k in range(1, len(p))}
        return {p for p in known - inner if p != (BACKWARD_SCOPE,)}
    if collapse is True:
        return {p for p in known if len(p) == 1}
    if collapse is False or collapse is None:
        return set()
    if isinstance(collapse, str):
        collapse = [collapse]
    wanted = {tuple(name.split(".")) for name in collapse}
    unknown = sorted(".".join(p) for p in wanted - known)
    if unknown:
        raise ValueError(
            f"draw(collapse=...): no module call named {', '.join(unknown)} in this graph; "
            f"the clusters are: {', '.join(sorted('.'.join(p) for p in known)) or '(none)'}"
        )
    return wanted
