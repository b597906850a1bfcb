"""A program: the computation a traced function performs, as straight-line code in SSA form.

Each recorded primitive call is one *equation* ``%k = f(%i, %j, c0, 2.0, **params)``: every value
is assigned once (static single assignment), arguments are earlier values (``Var``), constants
captured from outside (``Const``: a raw array) or Python numbers.  This is the vertex list of the
computation graph of Scaman 2024 (*Non-convex optimization*, *Computation graphs*) in a
topological order, written out as code, in the manner of JAX's jaxpr (Frostig, Johnson and Leary
2018) and ``torch.fx`` (Reed et al. 2022).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from autodiff import backend
from autodiff.program.printing import format_program
from autodiff.tensor import Tensor


class PlugIns:
    """What programs call into, installed by the module above (this one imports none of it):
    ``trace`` (:func:`autodiff.program.trace.trace`), for the programs of derivatives."""

    trace: Callable[..., Program] | None = None


plugins = PlugIns()


class Var:
    """A value of the program, assigned once: ``%index``, with the shape and dtype it had when
    traced, and its memory layout then (``strides``; None where the backend has none)."""

    __slots__ = ("index", "shape", "dtype", "strides")

    def __init__(self, index: int, shape: tuple[int, ...], dtype: Any, strides: Any = None):
        self.index, self.shape, self.dtype, self.strides = index, tuple(shape), dtype, strides

    def __repr__(self) -> str:
        return f"%{self.index}"


class Const:
    """An array the program reads but does not compute (captured from outside, or folded)."""

    __slots__ = ("index", "value")

    def __init__(self, index: int, value: Any):
        self.index, self.value = index, value

    shape = property(lambda self: tuple(self.value.shape))
    dtype = property(lambda self: self.value.dtype)

    def __repr__(self) -> str:
        return f"c{self.index}"


Atom = Var | Const | int | float | bool | None


class StopGradient:
    """``Tensor.detach()`` of a traced value: the identity on values, a cut for derivatives (not
    a registered primitive: the engine has none, detach makes a new leaf)."""

    name = "stop_gradient"
    differentiable = False

    @staticmethod
    def forward(xp: Any, x: Any) -> Any:
        return x

    def __call__(self, x: Tensor) -> Tensor:
        return x.detach()


stop_gradient = StopGradient()


@dataclass
class Eqn:
    """``out = prim(*ins, **params)``."""

    prim: Any
    ins: tuple
    params: dict
    out: Var


@dataclass
class Program:
    """A traced function as straight-line code: ``inputs`` (the array arguments, in order),
    ``eqns``, ``outputs`` (atoms, rebuilt into the function's output structure by
    ``unflatten``).  ``print(prog)`` shows it; ``prog(*tensors)`` runs it with the engine's
    operations (recorded, so it can be differentiated and traced again: ``prog.grad()``).

    Static arguments (Python values) are part of the program: it takes the array arguments only.
    """

    inputs: list[Var]
    eqns: list[Eqn]
    outputs: list[Any]
    unflatten: Callable[[list], Any]
    device: str
    example: tuple = ()
    name: str = "program"
    passes: tuple[str, ...] = field(default=())

    @property
    def consts(self) -> list[Const]:
        """The constants the equations and outputs read, in order of first use."""
        found: dict[int, Const] = {}
        for atoms in [e.ins for e in self.eqns] + [self.outputs]:
            for a in atoms:
                if isinstance(a, Const):
                    found.setdefault(a.index, a)
        return list(found.values())

    def __str__(self) -> str:
        return format_program(self)

    def __repr__(self) -> str:
        return f"<Program {self.name}: {len(self.inputs)} inputs, {len(self.eqns)} equations>"

    def __call__(self, *args: Any) -> Any:
        """Run the program on tensors with the engine's operations: recorded when they require
        grad (so derivatives of a program work), batched inside ``vmap``."""
        from autodiff.ops.arrange import as_tensor

        if len(args) != len(self.inputs):
            raise TypeError(f"{self.name}: takes {len(self.inputs)} array arguments, got {len(args)}")
        env: dict[int, Tensor] = {}
        for v, a in zip(self.inputs, args, strict=True):
            a = as_tensor(a)
            if a.shape != v.shape or a.dtype != v.dtype:
                raise ValueError(
                    f"{self.name}: argument {v!r} has {a.shape} {a.dtype}, but the program was traced "
                    f"for {v.shape} {v.dtype}; trace it again for these shapes"
                )
            env[v.index] = a

        def read(a: Any) -> Any:
            if isinstance(a, Var):
                return env[a.index]
            return Tensor(a.value) if isinstance(a, Const) else a

        for e in self.eqns:
            env[e.out.index] = e.prim(*[read(a) for a in e.ins], **e.params)
        return self.unflatten([read(a) for a in self.outputs])

    def grad(self, argnums: int | Sequence[int] = 0) -> Program:
        """The program of ``ad.grad(self, argnums)``: the backward program, generated from the
        VJP rules (forward values it needs, then the adjoints), traced at the example inputs."""
        from autodiff.transforms import grad

        traced = plugins.trace(grad(self, argnums), *self.example)
        return dataclasses.replace(traced, name=f"{self.name}_grad")

    def value_and_grad(self, argnums: int | Sequence[int] = 0) -> Program:
        """The program of ``ad.value_and_grad(self, argnums)``."""
        from autodiff.transforms import value_and_grad

        traced = plugins.trace(value_and_grad(self, argnums), *self.example)
        return dataclasses.replace(traced, name=f"{self.name}_value_and_grad")

    def tensors(self) -> tuple[list[Tensor], list[Tensor]]:
        """The program run on fresh leaves named ``%0``, ``%1``...: (inputs, outputs), every value
        named after its variable (what drawings show)."""
        leaves = [
            Tensor(backend.to_device(e.data, self.device), backend.is_floating(v.dtype)).name(repr(v))
            for v, e in zip(self.inputs, self.example, strict=True)
        ]
        env = {v.index: t for v, t in zip(self.inputs, leaves, strict=True)}

        def read(a: Any) -> Any:
            if isinstance(a, Var):
                return env[a.index]
            return Tensor(a.value).name(repr(a)) if isinstance(a, Const) else a

        for e in self.eqns:
            env[e.out.index] = e.prim(*[read(a) for a in e.ins], **e.params).name(repr(e.out))
        outs = [read(a) for a in self.outputs if isinstance(a, Var | Const)]
        return leaves, outs

    def to_dot(self, **options: Any) -> str:
        """The program's graph as DOT text: ``ad.to_dot(prog)``."""
        from autodiff.viz import to_dot

        return to_dot(self, **options)

    def draw(self, **options: Any) -> Any:
        """The program's graph as a ``graphviz.Digraph``: ``ad.draw(prog)``."""
        from autodiff.viz import draw

        return draw(self, **options)
