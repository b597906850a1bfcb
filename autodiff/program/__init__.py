"""Programs: a traced function as straight-line code (``ad.trace``), and its fast replay
(``ad.compile``)."""

from autodiff.program.compile import CacheWarning, Compiled, compile
from autodiff.program.ir import Program
from autodiff.program.trace import TracingError, TracingWarning, trace

__all__ = ["CacheWarning", "Compiled", "Program", "TracingError", "TracingWarning", "compile", "trace"]
