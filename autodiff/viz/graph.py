"""The computation graph as drawings see it: vertices in a stable order, their kinds and clusters.

A vertex is a :class:`~autodiff.tensor.Tensor` (Scaman 2024,
*Computation graphs*): a root ``r`` (a leaf: an input, a parameter or a constant) or a value
``x^(v) = f^(v)((x^(w))_{w in Parents(v)})`` made by an operation.  The walk is iterative (an
explicit stack, no recursion), so graphs of any depth can be drawn, and its order depends only
on the program: a post-order from the outputs that visits arguments left to right, i.e. the
order in which the forward pass computed the vertices.  Node ids in the DOT text are positions
in this order, hence byte-identical drawings for the same program.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any

from autodiff.tensor import Tensor

BACKWARD_SCOPE = "backward (create_graph=True)"


class Graph:
    """The vertices reachable from ``outputs`` through their arguments.

    ``order`` lists them parents first; ``index[v]`` is v's position there.  ``freed`` holds the
    vertices whose arguments a backward pass without ``retain_graph`` has already released.
    """

    def __init__(self, outputs: Sequence[Tensor]):
        self.outputs = list(outputs)
        self.order: list[Tensor] = []
        self.index: dict[Tensor, int] = {}
        self.freed: list[Tensor] = []
        expanded: set[Tensor] = set()
        stack: list[tuple[Tensor, bool]] = [(o, False) for o in reversed(self.outputs)]
        while stack:
            v, done = stack.pop()
            if done:
                if v not in self.index:
                    self.index[v] = len(self.order)
                    self.order.append(v)
                continue
            if v in expanded:
                continue
            expanded.add(v)
            stack.append((v, True))
            for p in reversed(arguments(v)):
                if isinstance(p, Tensor) and p not in expanded:
                    stack.append((p, False))
            if v.op is not None and v.parents is None:
                self.freed.append(v)

    def __len__(self) -> int:
        return len(self.order)

    def tensor_parents(self, v: Tensor) -> list[Tensor]:
        return [p for p in arguments(v) if isinstance(p, Tensor)]

    def nearest(self, count: int, unit: Sequence[int], members: Mapping[int, list[int]]) -> list[int]:
        """The first ``count`` units met walking breadth-first from the outputs to the roots.

        ``unit[i]`` is what vertex ``order[i]`` is drawn as: itself (``i``) or a collapsed module
        box (a number ``>= len(self)`` whose vertices are ``members[box]``)."""
        queue: list[int] = []
        seen: set[int] = set()
        for o in self.outputs:
            u = unit[self.index[o]]
            if u not in seen:
                seen.add(u)
                queue.append(u)
        head = 0
        while head < len(queue) and head < count:
            u = queue[head]
            head += 1
            for i in members.get(u, (u,)):
                for p in self.tensor_parents(self.order[i]):
                    q = unit[self.index[p]]
                    if q not in seen:
                        seen.add(q)
                        queue.append(q)
        return queue[:count]


def arguments(v: Tensor) -> tuple:
    """``Parents(v)``: the arguments of v's operation (tensors and Python scalars); none for a
    root, and none once a backward pass has freed them."""
    if v.op is None or v.parents is None:
        return ()
    return v.parents


def kind(v: Tensor, names: Mapping[Tensor, str], inputs: Collection[Tensor], scope: tuple[str, ...]) -> str:
    """The role of a vertex (Scaman, 2024, *Computation graphs*: a root is an input or a
    parameter): ``op`` (made by an operation), ``input`` (a leaf passed as ``inputs``, such as
    a model's data X), ``parameter`` (a leaf named by ``names``, an ``nn.Parameter``, or a
    leaf that requires grad used only inside a module call), ``input`` (another leaf that
    requires grad) or ``constant`` (no gradient)."""
    if v.op is not None:
        return "op"
    if v in inputs:
        return "input"
    if v in names or any(c.__name__ == "Parameter" for c in type(v).__mro__):
        return "parameter"
    if v.requires_grad:
        return "parameter" if scope else "input"
    return "constant"


def parameter_names(names: Any, option: str = "names") -> dict[Tensor, str]:
    """``{tensor: name}`` from a mapping ``name -> Tensor``, an object with
    ``named_parameters()`` (an ``nn.Module``: names like ``layers.0.weight``) or, for
    ``inputs``, a sequence of tensors (named by their own names)."""
    if names is None:
        return {}
    if hasattr(names, "named_parameters"):
        pairs: Iterable = names.named_parameters()
    elif isinstance(names, Mapping):
        pairs = names.items()
    elif option == "inputs" and isinstance(names, Tensor | list | tuple):
        pairs = [
            (t.label if isinstance(t, Tensor) else "", t)
            for t in ([names] if isinstance(names, Tensor) else names)
        ]
    else:
        raise TypeError(
            f"draw({option}=...): expected a mapping name -> Tensor or a module with named_parameters(), "
            f"got {type(names).__name__}"
        )
    found: dict[Tensor, str] = {}
    for name, t in pairs:
        if not isinstance(t, Tensor):
            raise TypeError(f"draw({option}=...): '{name}' maps to a {type(t).__name__}, not a Tensor")
        found.setdefault(t, str(name))
    return found


def scopes(
    graph: Graph, backward_only: set[Tensor], inputs: Collection[Tensor] = ()
) -> dict[Tensor, tuple[str, ...]]:
    """The cluster path of each vertex: the ``name_scope`` it was made in (an nn module call).

    A leaf that requires grad (a parameter) joins the innermost scope shared by all the
    operations that use it, so a layer's weights sit in the layer's box; data stays outside.
    Vertices recorded by a ``create_graph=True`` backward pass go under :data:`BACKWARD_SCOPE`.
    """
    scope: dict[Tensor, tuple[str, ...]] = {}
    for v in graph.order:
        if v.op is not None:
            own = tuple(v.scope or ())
            scope[v] = (BACKWARD_SCOPE, *own) if v in backward_only else own
    shared: dict[Tensor, tuple[str, ...]] = {}
    for v in graph.order:
        if v.op is None:
            continue
        for p in graph.tensor_parents(v):
            if p.op is None and p.requires_grad and p not in inputs:
                shared[p] = scope[v] if p not in shared else common_prefix(shared[p], scope[v])
    for v in graph.order:
        if v.op is None:
            scope[v] = shared.get(v, (BACKWARD_SCOPE,) if v in backward_only else ())
    return scope


def common_prefix(a: tuple, b: tuple) -> tuple:
    n = 0
    while n < len(a) and n < len(b) and a[n] == b[n]:
        n += 1
    return a[:n]
