"""Second derivatives of a scalar function of a flat parameter vector, computed by the engine.

``hessian`` is the dense Hessian (``ad.hessian``: reverse-over-reverse by default here, or one
forward pass carrying a block of one-hot tangents through one reverse pass); ``hvp`` a
Hessian-vector product (or a batch of them) at the cost of about two gradients; ``ggn_vp`` the
Gauss-Newton product ``J^T H_loss J v`` of a composition ``loss(output(theta))``.

Products by reverse over reverse: the gradient is recorded once with its graph
(:class:`Linearisation`) and each product is one backward pass through it.  Measured on the
64-32-10 tanh MLP of 512 digits (float64, one thread): a fresh product 4.4 ms by reverse over
reverse against 5.9 ms forward over reverse (PyTorch's fresh double backward: 4.5 ms), and 1.5 ms
per product once the gradient's graph is kept, which every iterative routine (Lanczos, traces,
densities, diagonals) does through :func:`products`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import autodiff as ad
from autodiff.engine import backprop
from autodiff.tensor import Tensor
from landscape._core import MEMORY_BUDGET, ScalarFn, check_finite, flat, hvp_many, jvp_many, like, xp_of


class Linearisation:
    """The gradient of ``f`` at ``theta`` recorded once with its graph: each call is a batch of
    Hessian-vector products ``H V^T`` (V of shape (p,) or (k, p)) by one backward pass through
    it (reverse over reverse), without running f again."""

    def __init__(self, f: ScalarFn, theta: Tensor):
        with ad.enable_grad():
            self.x = Tensor(theta.data, requires_grad=True)
            value = f(self.x)
            if not isinstance(value, Tensor) or not value.requires_grad:
                self.grad = None  # f does not depend on theta: H = 0
                return
            (self.grad,) = ad.gradients(value, [self.x], create_graph=True)

    def __call__(self, v: Tensor) -> Tensor:
        if self.grad is None or not self.grad.requires_grad:
            return ad.zeros_like(v)
        z = backprop([self.grad], [v.data], targets=[self.x], retain_graph=True, accumulate=False)
        return Tensor(z[self.x]) if self.x in z else ad.zeros_like(v)


def products(routine: str, f: Any, theta: Any) -> tuple[Tensor, Callable[[Tensor], Tensor]]:
    """``(theta, matvec)`` for an iterative routine: a :class:`landscape.CurvatureOperator`
    brings its own (theta may then be None); a scalar ``f`` at ``theta`` (float64) gets its
    :class:`Linearisation`, recorded once for all the products."""
    if callable(getattr(f, "matvec", None)) and hasattr(f, "theta"):
        if theta is not None:
            raise ValueError(f"{routine}: an operator carries its own theta; pass theta=None")
        return f.theta, f.matvec
    theta = flat(theta, routine, dtype="float64")
    return theta, Linearisation(f, theta)


def tangent_chunk(f: ScalarFn, theta: Tensor, memory_budget: int = MEMORY_BUDGET) -> int:
    """How many tangents one forward-over-reverse pass should carry: ``memory_budget`` divided
    by the memory one tangent costs, about three times the size of every intermediate of one
    gradient computation (measured by one backward pass that counts the adjoints it completes).
    Blocks that stay in cache are fastest: 64 MB gave chunks of 91 tangents and 0.33 s for a
    1441-parameter MLP Hessian, 256 MB chunks of 364 and 0.79 s (large temporaries are
    memory-bound and page-fault on every allocation)."""
    theta = flat(theta, "tangent_chunk")
    with ad.enable_grad():
        x = Tensor(theta.data, requires_grad=True)
        out = f(x)
    p = theta.shape[0]
    if not isinstance(out, Tensor) or not out.requires_grad:
        return max(p, 1)
    sizes = [0]

    def count(v: Tensor, z: Any) -> None:
        sizes[0] += v.size

    backprop([out], [xp_of(out).ones_like(out.data)], targets=[x], accumulate=False, observer=count)
    per_tangent = 3 * max(sizes[0], 1) * theta.dtype.itemsize
    return int(min(max(memory_budget // per_tangent, 1), max(p, 1)))


def hessian(
    f: ScalarFn,
    theta: Any,
    chunk_size: int | None = None,
    mode: str = "rev-rev",
    memory_budget: int = MEMORY_BUDGET,
) -> Tensor:
    """The dense Hessian ``(p, p)`` of scalar ``f`` at flat ``theta``, vectorised and chunked:
    blocks of ``chunk_size`` one-hot directions per pass (default: as many as fit in
    ``memory_budget`` bytes, see :func:`tangent_chunk`).  ``mode`` as in ``ad.hessian``; the
    default here is reverse-over-reverse (the gradient's graph recorded once, then batched
    backward passes through it), measured about 30% faster than forward-over-reverse on this
    CPU (the 1441-parameter MLP of ``benchmarks/``: 0.25 s against 0.35 s).
    Memory: the result (8 p^2 bytes in float64) plus one block; meant for p up to ~10^4."""
    theta = flat(theta, "hessian")
    chunk = chunk_size or tangent_chunk(f, theta, memory_budget)
    h = ad.hessian(f, mode=mode, chunk_size=chunk)(theta).detach()
    check_finite("hessian", "the Hessian", h)
    return h


def hvp(f: ScalarFn, theta: Any, v: Any) -> Tensor:
    """``H(theta) v`` by reverse over reverse (the gradient's graph, then one backward pass
    through it; measured faster than forward over reverse, see the module).  ``v`` of shape
    (p,) gives (p,); a batch V of shape (k, p) gives the k products (k, p) in one pass."""
    theta = flat(theta, "hvp")
    v = like(theta, v, "hvp")
    hv = Linearisation(f, theta)(v).detach()
    check_finite("hvp", "the Hessian-vector product", hv)
    return hv


def ggn_vp(
    output_fn: Callable[[Tensor], Tensor],
    loss_fn: Callable[[Tensor], Tensor],
    theta: Any,
    v: Any,
) -> Tensor:
    """The generalised Gauss-Newton product ``G v = J^T H_loss J v`` for ``f = loss_fn o
    output_fn``, J the Jacobian of ``output_fn`` at theta and H_loss the Hessian of ``loss_fn``
    at ``z = output_fn(theta)``: a JVP (forward mode), an HVP of the loss at z, then a VJP.
    G drops the term ``sum_i (d loss / d z_i) H_{z_i}`` of the true Hessian, so G = H where the
    residuals vanish, and G is positive semidefinite when the loss is convex in z.  With a
    ParamSpace: ``ggn_vp(lambda t: space.call(t, X), lambda z: ((z - Y) ** 2).mean(), theta, v)``.
    ``v`` of shape (p,) or a batch (k, p)."""
    theta = flat(theta, "ggn_vp")
    v = like(theta, v, "ggn_vp")
    batch = v.ndim == 2
    vs = v if batch else ad.reshape(v, (1, -1))
    z, jv = jvp_many(output_fn, theta, vs)
    z = z.detach()
    k = vs.shape[0]
    hjv = hvp_many(lambda q: loss_fn(ad.reshape(q, z.shape)), ad.reshape(z, (-1,)), ad.reshape(jv, (k, -1)))
    hjv = ad.reshape(hjv, (k,) + z.shape)
    _, vjp_fn = ad.vjp(output_fn, theta)
    (gv,) = vjp_fn(hjv, batched=True)
    gv = gv.detach()
    check_finite("ggn_vp", "the Gauss-Newton product", gv)
    return gv if batch else gv[0]
