"""The text inside the nodes: tensor facts, values and adjoints, operation names.

Values are copied to the host explicitly (``Tensor.tolist()``) only for small tensors; big ones
are summarised with the array's own namespace (mean, std, min, max, count of NaN/inf) and only
those few numbers leave the device.  Numbers use 4 significant digits (``%.4g``), so labels are
short and the same program always gives the same text.
"""

from __future__ import annotations

import math
from typing import Any

from autodiff import backend
from autodiff.tensor import Tensor

SMALL = 6  # tensors with at most this many elements show every value
BAD = "#cc0000"  # NaN and inf are drawn in this colour


def escape(text: str) -> str:
    """Text for a Graphviz HTML-like label."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def number(x: Any) -> str:
    if isinstance(x, bool | int):
        return str(x)
    if isinstance(x, float):
        return f"{x:.4g}"
    return type(x).__name__


def describe(t: Tensor) -> str:
    """``shape (2, 3) float64 cpu``."""
    return f"shape {shape_text(t.shape)} {t.dtype} {t.device}"


def shape_text(shape: tuple) -> str:
    """``(2, 3)``, ``(4,)``, ``()``."""
    return "(" + ", ".join(str(n) for n in shape) + ("," if len(shape) == 1 else "") + ")"


def _nested(x: Any) -> str:
    if isinstance(x, list):
        return "[" + ", ".join(_nested(e) for e in x) + "]"
    return number(x)


def _flat(x: Any) -> list:
    out, stack = [], [x]
    while stack:
        e = stack.pop()
        if isinstance(e, list):
            stack.extend(e)
        else:
            out.append(e)
    return out


def values(t: Tensor) -> tuple[str, bool]:
    """The values of ``t`` as text (all of them when small, else summary statistics) and
    whether any is NaN or infinite."""
    if t.size == 0:
        return "empty", False
    if t.size <= SMALL:
        host = t.tolist()  # an explicit host copy of at most SMALL numbers
        bad = any(isinstance(e, float) and not math.isfinite(e) for e in _flat(host))
        return _nested(host), bad
    xp = backend.array_module(t.data)
    data = t.data
    nan = int(xp.isnan(data).sum().item()) if backend.is_floating(t.dtype) else 0
    inf = int(xp.isinf(data).sum().item()) if backend.is_floating(t.dtype) else 0
    if nan or inf:
        return f"{nan} NaN, {inf} inf of {t.size}", True
    stats = [(name, getattr(xp, name)(data).item()) for name in ("mean", "std", "min", "max")]
    return " ".join(f"{name} {number(v)}" for name, v in stats), False


def op_label(v: Tensor) -> str:
    """The operation's name in bold, then its static parameters (``axis=1``)."""
    params = [f"{k}={_param(p)}" for k, p in v.params.items() if p is not None]
    text = f"<b>{escape(v.op.name)}</b>"
    if params:
        text += '<br/><font point-size="9">' + escape(", ".join(params)) + "</font>"
    return text


def _param(p: Any) -> str:
    if isinstance(p, bool | int | float | str):
        return number(p) if not isinstance(p, str) else p
    if isinstance(p, slice):
        return ":".join("" if s is None else str(s) for s in (p.start, p.stop, p.step))
    if isinstance(p, tuple | list) and len(p) <= 8:
        inner = ", ".join(_param(e) for e in p)
        return f"({inner}{',' if len(p) == 1 else ''})"
    if p is Ellipsis:
        return "..."
    if hasattr(p, "shape"):
        return f"array{tuple(p.shape)}"
    return type(p).__name__
