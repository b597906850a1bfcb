"""Kronecker-factored curvature of Linear and Conv2d layers: KFLR and KFAC.

For a layer ``out[n, t] = W u[n, t] + b`` the GGN block of W is ``sum_{n,k} (s_nk (x) u_n)(s_nk (x)
u_n)^T`` with s the square-root columns of the loss Hessian pulled back to the layer's output
(:mod:`landscape.rules`).  Kronecker factorisation (Martens and Grosse, "Optimizing neural networks
with Kronecker-factored approximate curvature", 2015; Grosse and Martens 2016 for convolutions;
Botev, Ritter and Barber 2017 for KFLR) replaces it by ``B (x) A`` with the input factor
``A = (1/N) sum_{n,t} u u^T`` and the output factor ``B = (1/T) sum_{n,k,t} s s^T``: KFLR with the
exact columns, KFAC with ``mc_samples`` random combinations ``sum_k eps_k s_k / sqrt(M)`` of them
(Rademacher eps, so that ``E[B_KFAC] = B_KFLR``; meant for losses convex in the output).  In C
order ``vec(W)`` of W (out, in), ``(B (x) A) vec(V) = vec(B V A)``; eigenvalues are the products
``lambda_i(B) lambda_j(A)``.  A bias gets its exact GGN block ``B_b = sum_{n,k} s s^T`` (summed over
positions).  KFLR equals the GGN block of a layer whose inputs reach the loss through one position
and whose loss Hessian is the same for every example (a one-layer network under squared error).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import autodiff as ad
from autodiff.tensor import Tensor
from landscape._core import check_finite, xp_of
from landscape.operators import select, weighted_sum
from landscape.params import ParamSpace
from landscape.rules import LossFactor, Step, backward, loss_factor, record

KINDS = ("kflr", "kfac")


@dataclass
class KroneckerBlock:
    """The curvature block of parameter ``name`` (``shape``): ``B (x) A`` (``A`` None: B alone)."""

    name: str
    shape: tuple
    B: Tensor
    A: Tensor | None

    def matrix(self) -> Tensor:
        """The dense block (size x size): ``kron(B, A)``."""
        if self.A is None:
            return self.B
        o, i = self.B.shape[0], self.A.shape[0]
        return ad.reshape(ad.einsum("ab,cd->acbd", self.B, self.A), (o * i, o * i))

    def eigenvalues(self) -> Tensor:
        """The block's eigenvalues, ascending: ``lambda_i(B) lambda_j(A)``."""
        xp = xp_of(self.B)
        b = xp.linalg.eigvalsh(self.B.data)
        if self.A is None:
            return Tensor(b)
        return Tensor(xp.sort(xp.reshape(b[:, None] * xp.linalg.eigvalsh(self.A.data)[None, :], (-1,))))

    def matvec(self, v: Tensor, damping: float = 0.0, inverse: bool = False) -> Tensor:
        """``(B (x) A + damping I)^{+-1}`` applied to the rows of v (k, size): ``B V A`` directly,
        the inverse through the eigendecompositions of B and A (exact damping)."""
        k = v.shape[0]
        rows = self.B.shape[0]
        vm = ad.reshape(v, (k, rows, -1))
        if not inverse:
            out = self.B @ vm if self.A is None else self.B @ vm @ self.A
            return ad.reshape(out, (k, -1)) + damping * v
        xp = xp_of(self.B)
        lb, qb = xp.linalg.eigh(self.B.data)
        la, qa = (
            (xp.ones(1, dtype=lb.dtype), xp.ones((1, 1), dtype=lb.dtype))
            if self.A is None
            else xp.linalg.eigh(self.A.data)
        )
        rotated = xp.matmul(xp.matmul(qb.T, vm.data), qa)
        scaled = rotated / (lb[:, None] * la[None, :] + damping)
        return Tensor(xp.reshape(xp.matmul(xp.matmul(qb, scaled), qa.T), (k, -1)))


@dataclass
class KFAC:
    """Kronecker-factored curvature (``kind`` "kflr" or "kfac") of the selected Linear/Conv2d
    parameters ``names`` (p in all): ``blocks``, ``matvec`` and ``solve`` on flat vectors in the
    model's order (block diagonal), ``eigenvalues`` of the whole approximation."""

    kind: str
    names: list[str]
    blocks: list[KroneckerBlock]
    p: int

    def _apply(self, v: Any, damping: float, inverse: bool) -> Tensor:
        b = self.blocks[0].B
        vs = v if isinstance(v, Tensor) else ad.tensor(v, dtype=b.dtype, device=b.device)
        batch = vs.ndim == 2
        vs = vs if batch else ad.reshape(vs, (1, -1))
        if vs.ndim not in (1, 2) or vs.shape[-1] != self.p:
            raise ValueError(f"KFAC: v must have shape ({self.p},) or (k, {self.p}), got {vs.shape}")
        check_finite("KFAC", "v", vs)
        parts, offset = [], 0
        for block in self.blocks:
            size = math.prod(block.shape)
            parts.append(block.matvec(vs[:, offset : offset + size], damping, inverse))
            offset += size
        out = ad.concatenate(parts, axis=1) if len(parts) > 1 else parts[0]
        return out if batch else out[0]

    def matvec(self, v: Any) -> Tensor:
        """The product of the block-diagonal approximation with v (p,) or rows of V (k, p)."""
        return self._apply(v, 0.0, False)

    def solve(self, v: Any, damping: float) -> Tensor:
        """``(K + damping I)^{-1} v`` block by block (a natural-gradient step), damping > 0."""
        if not damping > 0:
            raise ValueError(f"KFAC.solve: damping must be positive, got {damping}")
        return self._apply(v, damping, True)

    def eigenvalues(self) -> Tensor:
        """Every eigenvalue of the block-diagonal approximation, ascending."""
        xp = xp_of(self.blocks[0].B)
        return Tensor(xp.sort(xp.concatenate([b.eigenvalues().data for b in self.blocks])))

    def dense(self) -> Tensor:
        """The block-diagonal approximation as a dense (p, p) matrix (for small p)."""
        xp = xp_of(self.blocks[0].B)
        out, offset = xp.zeros((self.p, self.p), dtype=self.blocks[0].B.dtype), 0
        for block in self.blocks:
            size = math.prod(block.shape)
            out[offset : offset + size, offset : offset + size] = block.matrix().data
            offset += size
        return Tensor(out)


def kfac(
    model: Any,
    loss_fn: Callable[[Tensor, Any], Tensor],
    data: Any,
    kind: str = "kflr",
    params: Any = None,
    mc_samples: int = 1,
    seed: int | None = 0,
    progress: bool = False,
) -> KFAC:
    """Kronecker factors of every selected Linear/Conv2d parameter of ``model`` (an nn.Sequential
    chain, see :data:`landscape.rules.RULES`) for ``loss_fn`` over ``data`` ((X, Y) or a
    DataLoader; factors averaged over batches with weights n_b / N).  ``kind="kflr"``: exact
    loss-Hessian columns; ``"kfac"``: ``mc_samples`` Monte-Carlo columns (see the module)."""
    if kind not in KINDS:
        raise ValueError(f"kfac: kind must be one of {KINDS}, not {kind!r}")
    if mc_samples < 1:
        raise ValueError(f"kfac: mc_samples must be at least 1, got {mc_samples}")
    space = ParamSpace(model)
    names = select("kfac", space, params)
    gen = ad.random.Generator(seed)
    shapes: dict[str, list[tuple]] = {}

    def part(X: Any, Y: Any) -> Tensor:
        steps, z = record("kfac", model, X)
        factor = loss_factor("kfac", loss_fn, z, Y)
        if kind == "kfac":
            eps = gen.rademacher(mc_samples, factor.cols.shape[0], z.shape[0], dtype=z.dtype, device=z.device)
            cols = ad.einsum("mkn,kn...->mn...", eps * factor.signs, factor.cols) / math.sqrt(mc_samples)
            factor = LossFactor(factor.value, factor.grad, cols, ad.ones_like(eps[:, 0]))
        found: dict[str, tuple[Tensor, Tensor | None]] = {}

        def visit(step: Step, cols: Tensor, signs: Tensor) -> None:
            if step.rule.kind != "affine":
                return
            for local, pair in step.rule.kron(step.module, step.x, cols, signs).items():
                found[step.param_name(local)] = pair

        backward(steps, factor, set(names), visit)
        missing = [n for n in names if n not in found]
        if missing:
            raise TypeError(
                f"kfac: parameters {missing} are not those of a Linear or Conv2d layer; select the "
                "layers to factor with params="
            )
        pieces = []
        for n in names:
            shapes[n] = [f.shape for f in found[n] if f is not None]
            pieces += [ad.reshape(f, (-1,)) for f in found[n] if f is not None]
        return ad.concatenate(pieces, axis=0)

    flat = weighted_sum("kfac", data, part, progress)
    check_finite("kfac", "a Kronecker factor", flat)
    blocks, offset = [], 0
    for n in names:
        factors = []
        for shape in shapes[n]:
            size = math.prod(shape)
            factors.append(ad.reshape(flat[offset : offset + size], shape))
            offset += size
        shape = space.shapes[space.names.index(n)]
        blocks.append(KroneckerBlock(n, shape, factors[0], factors[1] if len(factors) > 1 else None))
    return KFAC(kind, names, blocks, sum(math.prod(b.shape) for b in blocks))
