"""The terms of the backpropagation sum, one edge at a time.

The backward pass (Scaman, *Non-convex optimization*, 2024; Rumelhart et al., 1986) sums, at a
vertex v, one term per child w:

    z^(v) = sum over w in Children(v) of (d f^(w) / d x^(v))^T z^(w),

and forward mode sums, at a vertex w, one term per parent v:

    zdot^(w) = sum over v in Parents(w) of (d f^(w) / d x^(v)) zdot^(v).

The *local derivative* ``d f^(w) / d x^(v)`` lives on the edge v -> w.  Here each term is
computed by the primitive's own rule (its VJP or JVP for argument i, as the engine runs it,
broadcasting included), and named by a short formula (``cos(z5)``, ``diag(1 - tanh²(h))``,
``z ↦ z Wᵀ``) written with the names of the arguments.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from autodiff import backend, engine, forward
from autodiff.graph import raw_namespace
from autodiff.tensor import Tensor
from autodiff.viz import labels

# Per primitive, per argument: the local derivative d f / d x_i as text; {0}, {1}, {2} stand
# for the arguments' names, {out} for the output's.  Elementwise ones are diagonal Jacobians.
ELEMENTWISE: dict[str, tuple[str | None, ...]] = {
    "negative": ("-1",),
    "exp": ("exp({0})",),
    "log": ("1/{0}",),
    "log1p": ("1/(1 + {0})",),
    "expm1": ("exp({0})",),
    "sqrt": ("1/(2·sqrt({0}))",),
    "sin": ("cos({0})",),
    "cos": ("-sin({0})",),
    "tan": ("1 + tan²({0})",),
    "tanh": ("1 - tanh²({0})",),
    "sigmoid": ("σ({0})·(1 - σ({0}))",),
    "softplus": ("σ({0})",),
    "relu": ("1[{0} > 0]",),
    "abs": ("sign({0})",),
    "clip": ("1[{0} inside the bounds]",),
    "add": ("1", "1"),
    "subtract": ("1", "-1"),
    "multiply": ("{1}", "{0}"),
    "divide": ("1/{1}", "-{0}/{1}²"),
    "power": ("{1}·{0}^({1} - 1)", "{out}·log({0})"),
    "maximum": ("1[{0} ≥ {1}]", "1[{1} ≥ {0}]"),
    "minimum": ("1[{0} ≤ {1}]", "1[{1} ≤ {0}]"),
    "where": (None, "1[{0}]", "1[not {0}]"),
    "astype": ("1",),
}
# Linear maps and reductions: the vector-Jacobian product itself, as a map of the cotangent z.
MAPS: dict[str, tuple[str | None, ...]] = {
    "matmul": ("z ↦ z·{1}ᵀ", "z ↦ {0}ᵀ·z"),
    "sum": ("z ↦ z copied over the summed axes",),
    "logsumexp": ("z ↦ z·softmax({0})",),
    "norm": ("z ↦ z·{0}/‖{0}‖",),
    "max": ("z ↦ z at the maxima of {0}",),
    "prod": ("z ↦ z·{out}/{0}",),
    "reshape": ("z ↦ z reshaped back",),
    "transpose": ("z ↦ z transposed back",),
    "broadcast_to": ("z ↦ z summed over the broadcast axes",),
    "getitem": ("z ↦ z scattered into zeros",),
    "alias": ("1",),
}


def argument_names(w: Tensor, names: Callable[[Tensor], str]) -> list[str]:
    """The names of w's arguments: tensors by ``names``, Python numbers as they are."""
    return [names(a) if isinstance(a, Tensor) else labels.number(a) for a in w.parents]


def formula(w: Tensor, i: int, names: Callable[[Tensor], str]) -> str:
    """``d f^(w) / d x^(i)`` as short text: ``cos(z5)`` for scalars, ``diag(1 - tanh²(h))``
    for an elementwise map of tensors, ``z ↦ z·Wᵀ`` for a linear map (its VJP)."""
    op, args = w.op.name, w.parents
    arg_names = argument_names(w, names)
    template = ELEMENTWISE[op][i] if op in ELEMENTWISE else None
    if op == "power" and i == 0 and not isinstance(args[1], Tensor):
        c = args[1]  # a constant exponent: 2·x rather than 2·x^(2 - 1)
        template = "2·{0}" if c == 2 else f"{labels.number(c)}·{{0}}^{labels.number(c - 1)}"
    if template is not None:
        text = template.format(*arg_names, out=names(w))
        if w.size == 1 and args[i].size == 1:
            return text
        text = f"diag({text})"
        if tuple(args[i].shape) != tuple(w.shape):
            text += f", summed to shape {labels.shape_text(args[i].shape)}"
        return text
    template = MAPS[op][i] if op in MAPS else None
    if template is not None:
        return template.format(*arg_names, out=names(w))
    return f"∂{op}/∂(argument {i})"


def vjp_term(w: Tensor, i: int, z: Any) -> Any:
    """``(d f^(w) / d x^(i))^T z``: what w sends to its argument i in the backward pass, a raw
    array of the argument's shape, by the primitive's VJP rule (as ``engine.backprop`` runs it)."""
    data = z.data if isinstance(z, Tensor) else z
    ns = raw_namespace(backend.array_module(w.data))
    p = w.parents[i]
    c = w.op.vjp[i](ns, data, w.data, *w.saved, **w.params)
    if w.op.broadcasts and tuple(c.shape) != tuple(p.data.shape):
        c = engine.unbroadcast(ns, c, 0, tuple(p.data.shape))
    return c.astype(p.dtype) if c.dtype != p.dtype else c


def jvp_term(w: Tensor, i: int, t: Any) -> Any:
    """``(d f^(w) / d x^(i)) t``: argument i's term of w's tangent in forward mode, a raw array
    of w's shape, by the primitive's JVP rule (as ``autodiff.forward`` runs it)."""
    data = t.data if isinstance(t, Tensor) else t
    ns = raw_namespace(backend.array_module(w.data))
    tangents = [data if k == i else None for k in range(len(w.parents))]
    return forward._output_tangent(w.op, ns, tangents, w.data, w.saved, w.params, ())


def number(w: Tensor, i: int) -> float | None:
    """The local derivative ``d f^(w) / d x^(i)`` as a number when both are scalars, else None."""
    p = w.parents[i]
    if w.size != 1 or p.size != 1 or not backend.is_floating(w.dtype):
        return None
    one = backend.array_module(w.data).ones_like(w.data)
    return float(Tensor(backend.normalize(vjp_term(w, i, one), type(w.data))).item())


def differentiable(w: Tensor, i: int) -> bool:
    """Whether the edge from argument i to w carries a derivative (a tensor with a rule)."""
    p = w.parents[i]
    return isinstance(p, Tensor) and p.requires_grad and w.op.vjp[i] is not None
