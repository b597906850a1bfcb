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

SKINNY = 16  # a stack of products with at most this many columns (or rows) is folded into one


def product(ns, a, b):
    """``a @ b``, as one matrix product when one side is a single matrix and the other a stack of
    skinny ones: NumPy runs a stack one product at a time, and a stack of matrix-vector products
    (what forward mode pushes through a layer applied to a vector, a batch of tangents per
    column) is memory-bound: 68 ms against 22 ms folded, for W (1024 x 1024) @ (1024, 1024, 1)."""
    if a.ndim == 2 and b.ndim > 2 and b.shape[-1] <= SKINNY:
        stacked = ns.reshape(ns.moveaxis(b, -2, 0), (b.shape[-2], -1))
        folded = ns.reshape(ns.matmul(a, stacked), (a.shape[0], *b.shape[:-2], b.shape[-1]))
        return ns.moveaxis(folded, 0, -2)
    if b.ndim == 2 and a.ndim > 2 and a.shape[-2] <= SKINNY:
        return ns.reshape(ns.matmul(ns.reshape(a, (-1, a.shape[-1])), b), (*a.shape[:-1], b.shape[-1]))
    return ns.matmul(a, b)


def _matmul_forward(xp, a, b):
    govern()  # BLAS threads fitted to the machine's load (autodiff.blas)
    return product(xp, a, b)


matmul = Primitive(
    "matmul",
    _matmul_forward,
    (
        lambda ns, g, out, a, b: product(ns, g, ns.swapaxes(b, -1, -2)),
        lambda ns, g, out, a, b: product(ns, ns.swapaxes(a, -1, -2), g),
    ),
    sum_of(lambda ns, t, out, a, b: product(ns, t, b), lambda ns, t, out, a, b: product(ns, a, t)),
    batch=broadcasting,
    broadcasts=True,
)


def _einsum_vjp(ns, g, out, *xs, spec, position):
    """d/d x_k of einsum: contract the cotangent with every other operand into x_k's indices.
    Indices summed over x_k alone appear nowhere else: they come back by broadcasting."""
    *inputs, output = spec.replace("->", ",").split(",")  # 'ab,bc->ac': ['ab', 'bc'], 'ac'
    target = inputs[position]
    others = [s for i, s in enumerate(inputs) if i != position]
    present = "".join(c for c in target if c in output or any(c in s for s in others))
    operands = [g] + [x for i, x in enumerate(xs) if i != position]
    grad = ns.einsum(",".join(["..." + output, *others]) + "->..." + present, *operands)
    if present != target:
        batch = lead(g, out.ndim)
        kept = tuple(n if c in present else 1 for c, n in zip(target, xs[position].shape, strict=True))
        grad = ns.broadcast_to(ns.reshape(grad, batch + kept), batch + tuple(xs[position].shape))
    return grad


def _einsum_jvp(ns, tangents, out, *xs, spec):
    *inputs, output = spec.replace("->", ",").split(",")
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
