"""``ad.trace``: run a function once on example arguments and write down what it computed.

Every primitive call reaches the interpreters of :mod:`autodiff.graph` while a forward-mode level
is open; the tracer opens a level of its own (number 0, which carries no tangent) and, in the
slot of the forward-mode interpreter, writes each call down as an equation before forward mode
runs as usual.  While that level is open every derivative rule runs on tensors (the backward pass
and forward mode both take their recorded path), so ``trace(ad.grad(f), x)`` writes down the
backward pass too: the adjoint computation of Rumelhart et al. (1986), one VJP rule at a time.

A value is known to the tracer by the identity of its Tensor.  A tensor the function did not
compute from its arguments (captured from outside, or made from shapes) is a constant.  Asking for
the value of a traced tensor (``bool``, ``float``, ``.item()``, ``.numpy()``, so an ``if`` on it)
raises :class:`TracingError` naming the line, as JAX does: the program must be the same for every
value of the inputs.
"""

from __future__ import annotations

import contextlib
import os
import threading
import traceback
import warnings
from collections.abc import Callable, Iterator
from typing import Any

from autodiff import backend, forward
from autodiff.graph import interpreters
from autodiff.program import ir
from autodiff.program.ir import Const, Eqn, Program, Var, stop_gradient
from autodiff.state import flags, shared
from autodiff.tensor import Tensor

TRACING_LEVEL = 0  # level numbers of forward mode and vmap start at 1: 0 is the tracer's


class TracingError(TypeError):
    """The traced function needed the value of a traced tensor (data-dependent control flow)."""


class TracingWarning(UserWarning):
    """A traced program looks like it lost track of its inputs."""


class _Active(threading.local):
    tracer: Tracer | None = None


active = _Active()


class Tracer:
    """The equations recorded so far, and which tensor is which value."""

    def __init__(self) -> None:
        self.vars: dict[int, Var] = {}  # id(tensor) -> its value
        self.data: dict[int, Var] = {}  # id(tensor.data) -> value: index arrays made of values
        self.consts: dict[int, tuple[Const, Tensor]] = {}  # id(array) -> constant, its tensor
        self.kept: list[Any] = []  # every tensor seen stays alive, so that ids stay unique
        self.eqns: list[Eqn] = []
        self.count = 0
        self.writes = shared.inplace_writes

    def new_var(self, t: Tensor) -> Var:
        v = Var(self.count, t.data.shape, t.data.dtype, getattr(t.data, "strides", None))
        self.count += 1
        self.vars[id(t)] = v
        self.data[id(t.data)] = v
        self.kept.append(t)
        return v

    def atom(self, a: Any, what: str) -> Any:
        if not isinstance(a, Tensor):
            return a
        v = self.vars.get(id(a))
        if v is not None:
            if a.version > self.writes:
                raise TracingError(
                    f"trace: {what} uses {v!r} ({v.shape} {v.dtype}) after an in-place write to it "
                    f"({_user_line()}); a program assigns each value once: use out-of-place operations"
                )
            return v
        found = self.consts.get(id(a.data))
        if found is None:
            found = self.consts[id(a.data)] = (Const(len(self.consts), a.data), a)
        return found[0]

    def record(self, prim: Any, out: Tensor, args: tuple, params: dict) -> None:
        ins = tuple(self.atom(a, prim.name) for a in args)
        self._check_params(prim, params)
        self.eqns.append(Eqn(prim, ins, dict(params), self.new_var(out)))

    def _check_params(self, prim: Any, params: dict) -> None:
        for value in params.values():
            for item in value if isinstance(value, tuple) else (value,):
                if backend.is_array(item) and id(item) in self.data:
                    raise TracingError(
                        f"trace: {prim.name} is indexed by {self.data[id(item)]!r}, a value computed by "
                        f"the traced function ({_user_line()}); a program's indices are fixed when it is "
                        "traced: compute with ad.where or a one-hot product, or pass the index as a "
                        "static argument"
                    )


def _user_line() -> str:
    """Where the user's code is, innermost: ``file:line in function: source``."""
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    frames = [f for f in traceback.extract_stack() if not os.path.abspath(f.filename).startswith(here)]
    if not frames:
        return "in the autodiff package"
    f = frames[-1]
    return f"{f.filename}:{f.lineno} in {f.name}: `{f.line}`"


# ----------------------------------------------------------------------------- the hook
_forward_mode = forward.propagate  # what the slot holds outside traces
_installed = [0]  # traces open in all threads: the slot holds _interpret while there is one
_lock = threading.Lock()


def _interpret(prim: Any, out: Tensor, args: tuple, params: dict) -> None:
    """The forward-mode interpreter slot while tracing: record the call (when this thread
    traces), then forward mode as usual."""
    tracer = active.tracer
    if tracer is not None:
        tracer.record(prim, out, args, params)
    _forward_mode(prim, out, args, params)


@contextlib.contextmanager
def recording(tracer: Tracer) -> Iterator[Tracer]:
    """Record every primitive call of this thread into ``tracer`` for the block (outside traces
    the slot holds forward mode itself: eager calls pay nothing)."""
    previous = active.tracer
    opened = TRACING_LEVEL not in flags.tangent_batches
    with _lock:
        _installed[0] += 1
        interpreters.tangents = _interpret
    if opened:
        flags.tangent_batches[TRACING_LEVEL] = ()
        flags.forward_levels += 1
        flags.hooked += 1
    active.tracer = tracer
    try:
        yield tracer
    finally:
        active.tracer = previous
        if opened:
            del flags.tangent_batches[TRACING_LEVEL]
            flags.forward_levels -= 1
            flags.hooked -= 1
        with _lock:
            _installed[0] -= 1
            if not _installed[0]:
                interpreters.tangents = _forward_mode


# ----------------------------------------------------------------------------- concrete values
def _guarded(method: Callable, what: str) -> Callable:
    def guarded(self: Tensor, *args: Any, **kwargs: Any) -> Any:
        tracer = active.tracer
        if tracer is not None and id(self) in tracer.vars:
            v = tracer.vars[id(self)]
            raise TracingError(
                f"trace: {what} needs the value of the traced tensor {v!r} ({v.shape} {v.dtype}) at "
                f"{_user_line()}; a traced program is the same for every input value, so Python "
                "control flow cannot depend on one. Compute the branch with tensor operations "
                "(ad.where(cond, a, b)), or make the value a static argument "
                "(ad.compile(f, static_argnums=...)): each value then gets its own program"
            )
        return method(self, *args, **kwargs)

    guarded.__name__ = method.__name__
    guarded.__doc__ = method.__doc__
    return guarded


def _detach(self: Tensor) -> Tensor:
    """``Tensor.detach``, written down as ``stop_gradient`` when the tensor is traced."""
    tracer = active.tracer
    out = _plain_detach(self)
    if tracer is not None and id(self) in tracer.vars:
        tracer.record(stop_gradient, out, (self,), {})
    return out


def _getitem(method: Callable) -> Callable:
    def getitem(self: Tensor, index: Any) -> Any:
        tracer = active.tracer
        if tracer is not None:
            for i in index if isinstance(index, tuple) else (index,):
                if isinstance(i, Tensor) and id(i) in tracer.vars:
                    v = tracer.vars[id(i)]
                    raise TracingError(
                        f"trace: indexing with {v!r} ({v.shape} {v.dtype}), a value computed by the "
                        f"traced function, at {_user_line()}; a program's indices (and so its shapes) "
                        "are fixed when it is traced: use ad.where(mask, x, 0) or a one-hot product, "
                        "or pass the index as a static argument"
                    )
        return method(self, index)

    getitem.__doc__ = method.__doc__
    return getitem


Tensor.__getitem__ = _getitem(Tensor.__getitem__)
for _name, _what in (("item", "item()"), ("numpy", "numpy()"), ("tolist", "tolist()")):
    setattr(Tensor, _name, _guarded(getattr(Tensor, _name), f"{_what} (or bool(), float(), an `if`)"))
_plain_detach = Tensor.detach
Tensor.detach = _detach


# ----------------------------------------------------------------------------- structures
def flatten(tree: Any) -> tuple[list[Any], Callable[[list], Any]]:
    """The leaves of nested tuples, lists and dicts, and the function that rebuilds the structure."""
    if isinstance(tree, tuple | list):
        parts = [flatten(t) for t in tree]
        sizes = [len(p[0]) for p in parts]
        kind = type(tree)

        def rebuild(leaves: list) -> Any:
            out, at = [], 0
            for (_, sub), n in zip(parts, sizes, strict=True):
                out.append(sub(leaves[at : at + n]))
                at += n
            return kind(out)

        return [leaf for p in parts for leaf in p[0]], rebuild
    if isinstance(tree, dict):
        keys = list(tree)
        leaves, rebuild_values = flatten([tree[k] for k in keys])
        return leaves, lambda values: dict(zip(keys, rebuild_values(values), strict=True))
    return [tree], lambda leaves: leaves[0]


# ----------------------------------------------------------------------------- trace
def trace(f: Callable, *args: Any, optimize: bool = True) -> Program:
    """Run ``f(*args)`` once and return the :class:`Program` it performed.

    Tensor (and backend array) arguments are the program's inputs; other arguments are static:
    their values are built into the program.  Floating inputs are given ``requires_grad`` so that
    transforms inside ``f`` (``ad.grad``, ``ad.jacrev``...) record what they compute.  With
    ``optimize``, the program is simplified by :func:`autodiff.program.passes.optimize`
    (constants folded, repeats and dead code removed).
    """
    from autodiff.ops.arrange import as_tensor

    if not callable(f):
        raise TypeError(f"trace: f must be callable, got {type(f).__name__}")
    tracer = Tracer()
    call_args, inputs, example = list(args), [], []
    for k, a in enumerate(args):
        if isinstance(a, Tensor) or backend.is_array(a):
            a = as_tensor(a)
            leaf = Tensor(a.data, requires_grad=backend.is_floating(a.dtype))
            inputs.append(tracer.new_var(leaf))
            example.append(Tensor(a.data))
            call_args[k] = leaf
    with recording(tracer):
        result = f(*call_args)
    leaves, unflatten = flatten(result)
    outputs = [tracer.atom(leaf, "the output") for leaf in leaves]
    for c, owner in tracer.consts.values():
        if owner.version > tracer.writes:
            raise TracingError(
                f"trace: the function wrote in place into {c!r} ({c.shape} {c.dtype}), an array it "
                "reads from outside; a program cannot repeat such a write: return the new value instead"
            )
    name = getattr(f, "__name__", type(f).__name__)
    if inputs and leaves and not any(isinstance(a, Var) for a in outputs):
        warnings.warn(
            f"trace: no output of {name} depends on its array arguments, so the program returns "
            "constants. If f reads tensor.data or converts its inputs to NumPy, the example values "
            "were captured: compute with autodiff operations instead",
            TracingWarning,
            stacklevel=2,
        )
    device = backend.device_of(example[0].data) if example else backend.get_default_device()
    program = Program(inputs, tracer.eqns, outputs, unflatten, device, tuple(example), name)
    if optimize:
        from autodiff.program.passes import optimize as simplify

        program = simplify(program)
    return program


ir.plugins.trace = trace  # Program.grad
