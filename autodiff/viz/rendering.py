"""From DOT text to pictures: the ``graphviz`` Digraph of :func:`draw`, and files via ``dot``.

DOT text never needs anything installed.  Pictures (SVG, PNG, PDF) need Graphviz's ``dot``
program; without it every path here raises :class:`GraphvizNotFoundError`, which says how to
install it.  The Python ``graphviz`` package is needed only for :func:`draw`'s Digraph (for
Jupyter and ``.render()``), and is imported when first used.
"""

from __future__ import annotations

import functools
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from autodiff.tensor import Tensor
from autodiff.viz.dot import GRAPH_NAME, dot_body

INSTALL_DOT = (
    "Graphviz's `dot` program is needed to render pictures but was not found on PATH: install it "
    "with `apt-get install graphviz` (Debian/Ubuntu), `brew install graphviz` (macOS) or "
    "`conda install graphviz`; DOT text (ad.to_dot, `-o graph.dot`) works without it"
)
INSTALL_PACKAGE = 'ad.draw needs the Python package graphviz: pip install "autodiff-landscape[viz]"'
TEXT_FORMATS = ("dot", "gv")


class GraphvizNotFoundError(RuntimeError):
    """Graphviz's ``dot`` program is missing."""

    def __init__(self) -> None:
        super().__init__(INSTALL_DOT)


def draw(t: Tensor | Sequence[Tensor], **options: Any) -> Any:
    """The graph that computed ``t`` as a ``graphviz.Digraph``: displays inline in Jupyter,
    ``.render()`` / ``.pipe()`` make files; ``.source`` equals :func:`~autodiff.to_dot`.

    Options: ``values`` (show values, or summary statistics of big tensors), ``grads`` (show
    adjoints: ``True`` for each tensor's ``.grad``, or a :func:`~autodiff.trace_backward`
    record for every vertex's), ``backward`` (``True``: also draw the graph that
    ``create_graph=True`` recorded for the gradients; ``"only"``: instead; or gradient tensors),
    ``names`` (a mapping name -> Tensor, or an ``nn.Module``), ``collapse`` (module calls drawn
    as one box: ``True`` or dotted names), ``max_nodes``, ``rankdir``.
    """
    return _digraph_class()(name=GRAPH_NAME, body=dot_body(t, **options))


@functools.cache
def _digraph_class() -> type:
    try:
        import graphviz
    except ImportError as error:
        raise ImportError(INSTALL_PACKAGE) from error

    class Digraph(graphviz.Digraph):
        """A ``graphviz.Digraph`` whose rendering says how to install ``dot`` when it is missing."""

        def pipe(self, *args: Any, **kwargs: Any) -> Any:
            try:
                return super().pipe(*args, **kwargs)
            except graphviz.ExecutableNotFound as error:
                raise GraphvizNotFoundError() from error

        def render(self, *args: Any, **kwargs: Any) -> Any:
            try:
                return super().render(*args, **kwargs)
            except graphviz.ExecutableNotFound as error:
                raise GraphvizNotFoundError() from error

        def _repr_svg_(self) -> str:
            return self.pipe(format="svg", encoding="utf-8")

    return Digraph


def dot_program() -> str:
    """The path of Graphviz's ``dot``, or :class:`GraphvizNotFoundError`."""
    found = shutil.which("dot")
    if found is None:
        raise GraphvizNotFoundError()
    return found


def render(source: str, fmt: str) -> bytes:
    """``dot -T<fmt>`` applied to DOT text: the picture's bytes."""
    result = subprocess.run([dot_program(), f"-T{fmt}"], input=source.encode("utf-8"), capture_output=True)
    if result.returncode != 0:
        raise RuntimeError(f"dot -T{fmt} failed: {result.stderr.decode('utf-8', 'replace').strip()}")
    return result.stdout


def save(source: str, path: str | Path) -> Path:
    """Write DOT text to ``path``: as text for ``.dot``/``.gv``, else rendered in the format the
    suffix names (``.svg``, ``.png``, ``.pdf``)."""
    path = Path(path)
    fmt = path.suffix.lstrip(".").lower()
    if not fmt:
        raise ValueError(f"{path}: no file suffix to tell the format (.svg, .png, .pdf or .dot)")
    data = source.encode("utf-8") if fmt in TEXT_FORMATS else render(source, fmt)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path
