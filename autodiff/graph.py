"""Recording the computation graph while the program runs (define-by-run).

In the lecture's terms (Scaman 2024, *Non-convex optimization*, *Computation graphs*),
each value is a vertex v of a DAG with ``x^(v) = f^(v)((x^(w))_{w in Parents(v)})``.  Here the
vertex *is* the :class:`~autodiff.tensor.Tensor` that holds ``x^(v)`` (as in micrograd): it
remembers the primitive ``f^(v)`` (``op``), its arguments ``Parents(v)`` (``parents``) and the
primitive's static parameters (``params``).  No separate node objects, hence no reference
cycles: an intermediate value dies as soon as nothing (no child, no user) refers to it.

A :class:`Primitive` is one entry of the table of derivative rules: its evaluation on raw arrays,
one VJP rule and one JVP rule per argument, side by side (JAX's primitives, HIPS autograd's
``defvjp``).  Rules are written against a namespace ``ns`` so that one rule serves twice:
with NumPy-like arrays on the fast path, and with tensors when the backward pass is itself
recorded (``create_graph=True``), which is what makes derivatives of any order work.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import os
import traceback
from collections.abc import Callable, Sequence
from typing import Any

from autodiff import backend
from autodiff.state import flags, shared
from autodiff.tensor import Tensor

PRIMITIVES: dict[str, Primitive] = {}
_PACKAGE = os.path.dirname(__file__)  # frames outside it are the user's code


# ----------------------------------------------------------------------------- modes
@dataclasses.dataclass(eq=False)
class _Mode(contextlib.ContextDecorator):
    """This thread's mode ``name`` set to ``value`` for the block (``hooked`` 1: one every op looks at)."""

    name: str
    value: Any
    hooked: int = 0

    def __enter__(self) -> None:
        self.previous = getattr(flags, self.name)
        setattr(flags, self.name, self.value)
        flags.hooked += self.hooked

    def __exit__(self, *exc: Any) -> None:
        setattr(flags, self.name, self.previous)
        flags.hooked -= self.hooked

    def _recreate_cm(self) -> _Mode:
        """A fresh context per call of a decorated function: each call restores its own previous mode."""
        return dataclasses.replace(self)


def no_grad() -> contextlib.ContextDecorator:
    """Context manager and decorator: operations inside record no graph."""
    return _Mode("grad_enabled", False)


def enable_grad() -> contextlib.ContextDecorator:
    """Context manager and decorator: record the graph again (inside ``no_grad``)."""
    return _Mode("grad_enabled", True)


def set_grad_enabled(enabled: bool) -> contextlib.ContextDecorator:
    return _Mode("grad_enabled", bool(enabled))


def is_grad_enabled() -> bool:
    return flags.grad_enabled


def detect_anomaly() -> contextlib.ContextDecorator:
    """While on, each op remembers where the user's code created it, and the backward pass
    raises at the first NaN/inf it produces, naming the op and that place."""
    return _Mode("anomaly", True, hooked=1)


def name_scope(name: str) -> contextlib.ContextDecorator:
    """Tag every tensor made inside with the scope path (``("MLP", "layers", "0")``): nn modules
    enter their scope when called, and drawings group the tensors of a call into a cluster."""
    return _Mode("scope", (flags.scope or ()) + (name,), hooked=1)


# ----------------------------------------------------------------------------- interpreters
class Interpreters:
    """Where transformations plug into every primitive call (this module imports none of them):
    ``tangents(prim, out, args, params)`` gives the output forward mode's tangents (``autodiff.forward``);
    ``batch(prim, args, params)`` runs a primitive on batched arguments (``autodiff.vmap``, which also
    installs its wrapper ``batched_type``, ``index(x, index)`` for per-example indices and
    ``gradients(...)`` for the reverse pass of batched values).  Each is called only while its
    transformation has a level open, so only after it was installed."""

    batch: Callable[..., Any] | None = None
    tangents: Callable[..., Any] | None = None
    batched_type: type = type(None)
    index: Callable[..., Any] | None = None
    gradients: Callable[..., Any] | None = None


interpreters = Interpreters()


# ----------------------------------------------------------------------------- primitives
@dataclasses.dataclass(eq=False, slots=True)
class Primitive:
    """One operation, declared once with every rule a transformation needs (JAX's primitives):

    - ``forward(xp, *arrays, **params)``: the evaluation on raw arrays of namespace ``xp``;
    - ``vjp``: one rule per argument, ``vjp[i](ns, g, out, *args, **params) = (d f / d x_i)^T g``
      (:func:`per_argument` makes the rules of a variadic primitive from one);
    - ``jvp(ns, tangents, out, *args, **params) = sum_i (d f / d x_i) t_i``, ``tangents[i]``
      None for an argument without one (:func:`sum_of` makes it from per-argument terms);
    - ``batch``: how ``vmap`` runs it on arguments with leading batch axes (a rule of
      :mod:`autodiff.ops.batching`).

    Derivative rules accept extra leading (batch) axes on ``g`` / ``t``.  ``broadcasts`` marks
    operations with NumPy broadcasting: the engine then sums cotangents back to each argument's
    shape and left-pads tangents with unit axes, so the rules themselves stay one line.  A
    primitive without derivative (``differentiable=False``) has no vjp or jvp.
    """

    name: str
    forward: Callable[..., Any]
    vjp: Any = ()
    jvp: Callable[..., Any] | None = None
    _: dataclasses.KW_ONLY
    batch: Callable[..., Any]
    broadcasts: bool = False
    differentiable: bool = True

    def __post_init__(self) -> None:
        if self.name in PRIMITIVES:
            raise ValueError(f"Primitive: the name '{self.name}' is taken; give the new primitive another")
        if self.differentiable and (self.jvp is None or not self.vjp):
            raise ValueError(f"Primitive '{self.name}': a differentiable primitive needs vjp and jvp rules")
        PRIMITIVES[self.name] = self

    def __call__(self, *args: Any, **params: Any) -> Tensor:
        """Evaluate on ``args`` and, when gradients are wanted, record the new vertex:
        ``x^(v) = f^(v)((x^(w))_{w in Parents(v)})`` with Parents(v) = args."""
        hooked = flags.hooked  # (one read of the thread's modes on the common path)
        if hooked and flags.vmap_levels and any(isinstance(a, interpreters.batched_type) for a in args):
            return interpreters.batch(self, args, params)
        kind = None
        requires_grad = False
        datas = []
        for a in args:
            if isinstance(a, Tensor):
                data = a.data
                if kind is None:
                    kind = type(data)
                elif type(data) is not kind:
                    raise _device_error(self, args)
                if a.requires_grad:
                    requires_grad = True
                datas.append(data)
            else:
                datas.append(a)
        if kind is None:
            raise TypeError(f"{self.name}: expected at least one Tensor argument, got {args!r}")
        try:
            out = self.forward(backend.array_module_of_type(kind), *datas, **params)
        except (ValueError, TypeError) as error:
            raise _argument_error(self, args, error) from None
        if type(out) is not kind:
            out = backend.normalize(out, kind)
        t = Tensor.__new__(Tensor)
        t.data = out
        if requires_grad and flags.grad_enabled and self.differentiable:
            t.requires_grad = True
            t.op = self
            t.parents = args
            if params:
                t.params = params
            t.saved = datas  # the arrays as this operation saw them: what the VJP rules use
            if shared.inplace_writes:
                t.recorded_at = shared.inplace_writes
            if hooked and flags.anomaly:
                t.created_at = [f for f in traceback.extract_stack() if not f.filename.startswith(_PACKAGE)]
            if hooked and flags.scope is not None:
                t.scope = flags.scope
        if hooked and flags.forward_levels:
            interpreters.tangents(self, t, args, params)
        return t

    def __repr__(self) -> str:
        return f"<primitive {self.name}>"


def _argument_error(prim: Primitive, args: tuple, error: Exception) -> Exception:
    """NumPy's refusal of the arguments (shapes that do not broadcast, a string operand...) as an error
    of the same kind naming the operation and the arguments; the engine's own errors pass unchanged."""
    if type(error) is not ValueError and not type(error).__module__.startswith("numpy"):
        return error
    described = ", ".join(
        f"{a.dtype} {a.shape}" if isinstance(a, Tensor) else f"{type(a).__name__} {a!r:.40}" for a in args
    )
    kind = ValueError if isinstance(error, ValueError) else TypeError
    return kind(f"{prim.name}: {error} (arguments: {described})")


def _device_error(prim: Primitive, args: tuple) -> ValueError:
    described = ", ".join(
        f"{a.device} {a.dtype} {a.shape}" if isinstance(a, Tensor) else type(a).__name__ for a in args
    )
    return ValueError(
        f"{prim.name}: arguments live on different devices ({described}); nothing is moved "
        "implicitly: move them with .to(device) first"
    )


@dataclasses.dataclass(eq=False)
class per_argument:  # noqa: N801  (used like a tuple of rules)
    """The VJP rules of a variadic primitive: ``rules[i]`` is ``rule(..., position=i)``."""

    rule: Callable[..., Any]

    def __getitem__(self, position: int) -> Callable[..., Any]:
        return lambda *args, **params: self.rule(*args, position=position, **params)


def sum_of(*terms: Callable[..., Any] | None) -> Callable[..., Any]:
    """A JVP rule from per-argument terms ``term_i(ns, t_i, out, *args, **params)``:
    ``sum_i (d f / d x_i) t_i`` over the arguments that carry a tangent."""

    def jvp(ns: Any, tangents: Sequence[Any], out: Any, *args: Any, **params: Any) -> Any:
        total = None
        for term, t in zip(terms, tangents, strict=False):
            if t is not None and term is not None:
                value = term(ns, t, out, *args, **params)
                total = value if total is None else total + value
        return total

    return jvp


# ----------------------------------------------------------------------------- namespaces
class RawNamespace:
    """The namespace rules see on the fast path: the backend's ``xp``, completed by the primitives
    NumPy lacks (``scatter_add``, ``eye_like``, ...) bound to ``xp``.  Rules call functions by their
    NumPy names and signatures, which :mod:`autodiff.ops` shares: one rule runs on arrays and tensors."""

    def __init__(self, xp: Any):
        self._xp = xp

    def __getattr__(self, name: str) -> Any:
        try:
            value = getattr(self._xp, name)
        except AttributeError:
            value = functools.partial(PRIMITIVES[name].forward, self._xp)
        setattr(self, name, value)
        return value


@functools.cache
def raw_namespace(xp: Any) -> RawNamespace:
    return RawNamespace(xp)
