"""A program as text: one primitive per line, SSA, with the shape and dtype of every value.

lecture(%0: () float64, %1: () float64):
  %2 = multiply(%0, %1)  # () float64
  ...
  return %7
"""

from __future__ import annotations

from typing import Any

from autodiff import backend


def aval(shape: tuple, dtype: Any) -> str:
    """``(16,) float64``: what a value is, without its numbers."""
    return f"{tuple(shape)} {dtype}"


def format_value(value: Any) -> str:
    """A static parameter, a value (``%3``, ``c0``: their repr) or a Python number as it reads in a
    program."""
    if isinstance(value, slice):
        parts = ["" if p is None else str(p) for p in (value.start, value.stop, value.step)]
        return ":".join(parts[:2] if value.step is None else parts)
    if value is Ellipsis:
        return "..."
    if isinstance(value, tuple):
        inner = ", ".join(format_value(v) for v in value)
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    if backend.is_array(value):
        return f"{value.dtype}{list(value.shape)}"
    if hasattr(value, "kind") and hasattr(value, "itemsize"):  # a dtype
        return str(value)
    return repr(value)


def _const_line(c: Any) -> str:
    if c.value.size == 1:
        shown = repr(backend.to_numpy(c.value).item())
    else:
        shown = "const"
    return f"  {c!r} = {shown}  # {aval(c.shape, c.dtype)}"


def format_program(prog: Any) -> str:
    """The text ``print(prog)`` shows."""
    header = ", ".join(f"{v!r}: {aval(v.shape, v.dtype)}" for v in prog.inputs)
    lines = [f"{prog.name}({header}):"]
    lines += [_const_line(c) for c in prog.consts]
    for e in prog.eqns:
        args = [format_value(a) for a in e.ins]
        args += [f"{k}={format_value(v)}" for k, v in e.params.items()]
        lines.append(f"  {e.out!r} = {e.prim.name}({', '.join(args)})  # {aval(e.out.shape, e.out.dtype)}")
    outs = [format_value(a) for a in prog.outputs]
    lines.append("  return " + (", ".join(outs) if outs else "()"))
    return "\n".join(lines)
