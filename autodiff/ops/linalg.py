"""Matrix products: ``matmul`` (stacks of matrices, broadcast) and ``einsum``.

Both are (multi)linear, so the JVP of each argument is the product with its tangent in place,
and the VJP the product of the cotangent with the other factors, transposed.  The public
``matmul`` (in :mod:`autodiff.ops.composite`) reduces 1-D operands to matrices first, so the
primitive only sees arrays of two or more axes.
"""

from __future__ import annotations

from autodiff.blas import govern
from autodiff.graph import Primitive, per_argument, sum_of
from autodiff.ops.batching import broadcasting, einsum_spec
from autodiff.ops.reduce import lead


def _matmul_forward(xp, a, b):
    govern()  # BLAS threads fitted to the machine's load (autodiff.blas)
    return xp.matmul(a, b)


matmul = Primitive(
    "matmul",
    _matmul_forward,
    (
        lambda ns, g, out, a, b: ns.matmul(g, ns.swapaxes(b, -1, -2)),
        lambda ns, g, out, a, b: ns.matmul(ns.swapaxes(a, -1, -2), g),
    ),
    sum_of(
        lambda ns, t, out, a, b: ns.matmul(t, b),
        lambda ns, t, out, a, b: ns.matmul(a, t),
    ),
    batch=broadcasting,
    broadcasts=True,
)


def _split(spec: str) -> tuple[list[str], str]:
    inputs, output = spec.split("->")
    return inputs.split(","), output


def _einsum_vjp(ns, g, out, *xs, spec, position):
    """d/d x_k of einsum: contract the cotangent with every other operand into x_k's indices.
    Indices summed over x_k alone appear nowhere else: they come back by broadcasting."""
    inputs, output = _split(spec)
    target = inputs[position]
    others = [s for i, s in enumerate(inputs) if i != position]
    present = "".join(c for c in target if c in output or any(c in s for s in others))
    operands = [g] + [x for i, x in enumerate(xs) if i != position]
    grad = ns.einsum(",".join(["..." + output, *others]) + "->..." + present, *operands)
    if present != target:
        batch = lead(g, out.ndim)
        sizes = dict(zip(target, xs[position].shape, strict=True))
        grad = ns.reshape(grad, batch + tuple(sizes[c] if c in present else 1 for c in target))
        grad = ns.broadcast_to(grad, batch + tuple(xs[position].shape))
    return grad


def _einsum_jvp(ns, tangents, out, *xs, spec):
    inputs, output = _split(spec)
    total = None
    for k, t in enumerate(tangents):
        if t is None:
            continue
        subs = ["..." + s if i == k else s for i, s in enumerate(inputs)]
        operands = [t if i == k else x for i, x in enumerate(xs)]
        term = ns.einsum(",".join(subs) + "->..." + output, *operands)
        total = term if total is None else total + term
    return total


einsum = Primitive(
    "einsum",
    lambda xp, *xs, spec: xp.einsum(spec, *xs),
    per_argument(_einsum_vjp),
    _einsum_jvp,
    batch=einsum_spec,
)
