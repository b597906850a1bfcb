"""Lanczos: the extreme eigenpairs of the Hessian from Hessian-vector products alone.

From a unit vector q_1, the recurrence ``beta_{j} q_{j+1} = H q_j - alpha_j q_j - beta_{j-1} q_{j-1}``
builds an orthonormal basis Q_m of the Krylov space span(q_1, H q_1, ..., H^{m-1} q_1) in which H
is the tridiagonal ``T_m = Q_m^T H Q_m`` (alphas on the diagonal, betas beside it).  The
eigenpairs (theta_i, s_i) of T_m give Ritz pairs (theta_i, Q_m s_i) whose residual is exactly
``||H y_i - theta_i y_i|| = |beta_m s_{m,i}|`` (Paige), which is what convergence is judged on.
In floating point the q_j lose orthogonality as Ritz values converge; *full
reorthogonalisation* (Gram-Schmidt of every new vector against all previous ones, twice) keeps
them orthonormal to working precision, at the cost of storing Q (m x p).  When beta vanishes
the Krylov space is invariant: the iteration restarts from a random vector orthogonal to Q
(T becomes block diagonal), which also recovers repeated eigenvalues.

T is a small matrix of host scalars (collected with ``.item()``); its eigenproblem is solved on
the host, while Q and the Ritz vectors stay on the device.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

import autodiff as ad
from autodiff import backend
from autodiff.tensor import Tensor
from landscape._core import EPS64, ScalarFn, check_finite, host, like, xp_of
from landscape.curvature import products

# Bytes the Lanczos basis may take when max_iter is not given: the Krylov space grows until the
# wanted pairs converge, up to this (8 p m bytes in float64; 15,000 steps for p = 9,000).
BASIS_BUDGET = 2**30

WHICH = ("largest", "smallest", "both")


@dataclass
class LanczosRun:
    """The outcome of m Lanczos steps: T's diagonal ``alphas`` (m), off-diagonal ``betas``
    (m - 1; zeros where the iteration restarted), ``last_beta`` (the coupling to the next,
    unbuilt vector, for residuals; 0 when the last block is an invariant subspace), ``blocks``
    (the steps at which each Krylov block started) and the basis Q (device array, m x p)."""

    alphas: list[float]
    betas: list[float]
    last_beta: float
    blocks: list[int]
    basis: Any

    def tridiagonal(self, m: int | None = None) -> np.ndarray:
        """T restricted to its first m steps (all by default)."""
        m = len(self.alphas) if m is None else m
        t = np.diag(np.asarray(self.alphas[:m], dtype=np.float64))
        if m > 1:
            off = np.asarray(self.betas[: m - 1], dtype=np.float64)
            t += np.diag(off, 1) + np.diag(off, -1)
        return t

    def ritz(self, m: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Eigenvalues (ascending) and eigenvectors of T (first m steps), on the host."""
        return np.linalg.eigh(self.tridiagonal(m))  # host data: T is made of host scalars


def _orthogonalise(xp: Any, basis: Any, w: Any) -> Any:
    """w (a vector, or vectors as rows) minus its projection on the rows of ``basis``, twice
    ("twice is enough")."""
    for _ in range(2):
        w = w - xp.matmul(xp.matmul(w, basis.T), basis)
    return w


def lanczos(
    matvec: Callable[[Any], Any],
    start: Any,
    steps: int,
    *,
    seed: int | None = 0,
    stop: Callable[[LanczosRun], bool] | None = None,
    name: str = "lanczos",
) -> LanczosRun:
    """Run up to ``steps`` Lanczos steps with full reorthogonalisation from ``start`` (a raw
    device array of shape (p,)).  ``matvec`` maps a raw array to a raw array (H q).  After each
    step but the last, ``stop(run)`` may end the iteration early (convergence).  A product that
    is not finite raises NonFiniteError naming ``name`` (the calling routine)."""
    xp = xp_of(start)
    p = start.shape[0]
    steps = min(steps, p)
    basis = xp.zeros((steps, p), dtype=start.dtype)
    norm0 = xp.linalg.norm(start).item()
    if not norm0 > 0:
        raise ValueError("lanczos: the start vector is zero")
    basis[0] = start / norm0
    run = LanczosRun([], [], 0.0, [0], basis[:0])
    gen = ad.random.Generator(None if seed is None else [seed, 1])  # not the start vector's stream
    scale = 0.0
    for j in range(steps):
        q = basis[j]
        w = matvec(q)
        run.alphas.append(xp.dot(q, w).item())
        run.basis = basis[: j + 1]
        w = _orthogonalise(xp, run.basis, w)
        beta = xp.linalg.norm(w).item()
        check_finite(name, f"the Hessian-vector product of Lanczos step {j + 1}", run.alphas[-1] + beta)
        scale = max(scale, abs(run.alphas[-1]), beta)
        run.last_beta = beta
        if beta <= 100 * EPS64 * max(scale, np.finfo(np.float64).tiny) * math.sqrt(p):
            run.last_beta = 0.0  # invariant subspace: restart orthogonally (T block diagonal)
            if j + 1 < steps:
                fresh = gen.randn(p, dtype=start.dtype, device=backend.device_of(start)).data
                w = _orthogonalise(xp, run.basis, fresh)
                beta = xp.linalg.norm(w).item()
        if j + 1 == steps or not beta > 0 or (stop is not None and stop(run)):
            break
        run.betas.append(run.last_beta)
        if run.last_beta == 0.0:
            run.blocks.append(j + 1)
        basis[j + 1] = w / beta
    return run


@dataclass
class BlockRun:
    """m steps of block Lanczos with blocks of b vectors: the diagonal blocks ``a`` and the
    couplings ``b`` (b x b host arrays; ``H V_j = V_{j-1} B_{j-1}^T + V_j A_j + V_{j+1} B_j``),
    ``last`` (the coupling to the next, unbuilt block, for residuals) and the basis (device,
    m b x p)."""

    a: list[np.ndarray]
    b: list[np.ndarray]
    last: np.ndarray
    basis: Any
    breakdowns: int = 0

    def ritz(self) -> tuple[np.ndarray, np.ndarray]:
        """Eigenvalues (ascending) and eigenvectors of the block tridiagonal T, on the host."""
        size = self.a[0].shape[0]
        t = np.zeros((len(self.a) * size,) * 2)
        for j, block in enumerate(self.a):
            t[j * size : (j + 1) * size, j * size : (j + 1) * size] = block
        for j, block in enumerate(self.b):
            t[(j + 1) * size : (j + 2) * size, j * size : (j + 1) * size] = block
            t[j * size : (j + 1) * size, (j + 1) * size : (j + 2) * size] = block.T
        return np.linalg.eigh(t)  # host data: T is made of host blocks

    def residuals(self, vectors: np.ndarray) -> np.ndarray:
        """``||H y - theta y|| = ||B_m s_last||`` for Ritz vectors ``y = V s`` (columns of s)."""
        size = self.last.shape[0]
        return np.linalg.norm(self.last @ vectors[-size:], axis=0)


def block_lanczos(
    matvec: Callable[[Any], Any],
    start: Any,
    steps: int,
    *,
    seed: int | None = 0,
    stop: Callable[[BlockRun], bool] | None = None,
    name: str = "block_lanczos",
) -> BlockRun:
    """Up to ``steps`` steps of block Lanczos with full reorthogonalisation from the rows of
    ``start`` (b, p): each step is one batch of b products ``matvec`` (rows to rows), cheaper per
    product than b single ones.  The next block is the QR factorisation of the orthogonalised
    residual, ``W^T = V_{j+1} B_j``; a column that vanishes (an invariant subspace) is replaced
    by a random vector orthogonal to the basis, its coupling set to zero (``breakdowns``).  The
    Krylov dimension stays below p // b blocks."""
    xp = xp_of(start)
    size, p = start.shape
    steps = min(steps, p // size)
    basis = xp.zeros((steps * size, p), dtype=start.dtype)
    q, _ = xp.linalg.qr(start.T)
    basis[:size] = q.T
    gen = ad.random.Generator(None if seed is None else [seed, 2])
    run = BlockRun([], [], np.zeros((size, size)), basis[:0])
    scale = 0.0
    for j in range(steps):
        current = basis[j * size : (j + 1) * size]
        w = matvec(current)
        a = host(xp.matmul(current, w.T))
        run.a.append((a + a.T) / 2)
        run.basis = basis[: (j + 1) * size]
        w = _orthogonalise(xp, run.basis, w)
        q, r = xp.linalg.qr(w.T)
        run.last = host(r)
        check_finite(
            name, f"the Hessian-vector products of block Lanczos step {j + 1}", float(np.sum(run.last))
        )
        scale = max(scale, float(np.abs(run.a[-1]).max()), float(np.abs(run.last).max()))
        if j + 1 == steps or (stop is not None and stop(run)):
            break
        small = np.abs(np.diag(run.last)) <= 100 * EPS64 * max(scale, np.finfo(np.float64).tiny) * math.sqrt(
            p
        )
        if small.any():
            kept = [q.T[i : i + 1] for i in range(size) if not small[i]]
            fresh = gen.randn(int(small.sum()), p, dtype=start.dtype, device=backend.device_of(start)).data
            fresh = _orthogonalise(xp, xp.concatenate([run.basis, *kept]), fresh)
            q = xp.concatenate([*kept, xp.linalg.qr(fresh.T)[0].T]).T
            run.last = np.concatenate([run.last[~small], np.zeros((int(small.sum()), size))])
            run.breakdowns += 1
        run.b.append(run.last)
        basis[(j + 1) * size : (j + 2) * size] = q.T
    return run


@dataclass
class EigResult:
    """Eigenpairs of the Hessian: ``values`` (k, ascending), ``vectors`` (p, k; column i goes
    with values[i]), the Ritz ``residuals`` ||H y - lambda y|| (k), ``tol`` (relative to
    ``scale``, the largest |Ritz value| seen, an estimate of ||H||_2), ``n_matvec`` (Hessian-vector
    products used) and ``converged``."""

    values: Tensor
    vectors: Tensor
    residuals: np.ndarray
    tol: float
    scale: float
    n_matvec: int
    converged: bool


def _wanted(n: int, k: int, which: str) -> list[int]:
    """Indices into ascending Ritz values: the k largest, the k smallest (most negative) or,
    for "both", k // 2 smallest and the rest largest (scipy's 'BE' convention)."""
    k = min(k, n)
    if which == "largest":
        return list(range(n - k, n))
    if which == "smallest":
        return list(range(k))
    low = k // 2
    return sorted(set(range(low)) | set(range(n - (k - low), n)))


def hessian_eigs(
    f: ScalarFn | Any,
    theta: Any = None,
    k: int = 6,
    which: str = "largest",
    tol: float = 1e-8,
    max_iter: int | None = None,
    seed: int | None = 0,
    v0: Any = None,
    block_size: int = 1,
) -> EigResult:
    """The k extreme eigenpairs of the Hessian of ``f`` at ``theta``, matrix-free.

    Lanczos with full reorthogonalisation on Hessian-vector products (forward-over-reverse),
    computed in float64; it stops when every wanted Ritz pair has residual
    ``|beta_m s_{m,i}| <= tol * max|theta_i|``.  ``which="largest"`` gives the k algebraically
    largest eigenvalues, ``"smallest"`` the k algebraically smallest (the most negative ones, as
    wanted for saddles, not the smallest in magnitude), ``"both"`` k // 2 smallest and the rest
    largest.  ``f`` may be a :class:`landscape.CurvatureOperator` (a Hessian, GGN or Fisher over
    a data set or a block of parameters; theta is then the operator's).  ``max_iter`` bounds the
    Krylov dimension; by default it grows until convergence, up to p or a basis of
    ``BASIS_BUDGET`` bytes (memory 8 p max_iter bytes): the smallest eigenvalues of a network's
    Hessian, crowded near zero, can need a few hundred products.  Convergence is checked at every
    step up to 100 steps, then every m / 20 steps.  ``block_size`` b > 1 runs block Lanczos
    (:func:`block_lanczos`): b products per pass, cheaper each than single ones, in a Krylov space
    that needs more of them (``max_iter`` still counts products): measured on the 64-32-10 tanh
    MLP of 512 digits, the top 5 took 25 single products and 36, 56, 104 in blocks of 2, 4, 8,
    1.3-4x slower in wall time, so the default is 1.  A single Krylov space sees one copy of a
    repeated eigenvalue unless the iteration breaks down, so counts of repeated eigenvalues need
    :func:`landscape.hessian`.
    """
    if which not in WHICH:
        raise ValueError(f"hessian_eigs: which must be one of {WHICH}, not {which!r}")
    if k < 1:
        raise ValueError(f"hessian_eigs: k must be at least 1, got {k}")
    if block_size < 1:
        raise ValueError(f"hessian_eigs: block_size must be at least 1, got {block_size}")
    theta, product = products("hessian_eigs", f, theta)
    p = theta.shape[0]
    steps = min(p, max_iter or max(20 * k, 100, BASIS_BUDGET // (8 * p)))
    if v0 is None:
        start = ad.random.Generator(seed).randn(p, dtype=theta.dtype, device=theta.device)
    else:
        start = like(theta, v0, "hessian_eigs", "v0")
        if start.ndim != 1:
            raise ValueError(f"hessian_eigs: v0 must be one vector of shape ({p},), got {start.shape}")

    def matvec(q: Any) -> Any:
        return product(Tensor(q)).data

    state: dict[str, Any] = {}
    if block_size > 1:
        return _block_eigs(product, theta, start, k, which, tol, steps, seed, block_size)

    def wanted_values(run: LanczosRun, m: int) -> np.ndarray:
        values = run.ritz(m)[0]
        return values[_wanted(m, k, which)]

    def converged(run: LanczosRun, final: bool = False) -> bool:
        m = len(run.alphas)
        if not final and m > 100 and m % max(1, m // 20) and run.last_beta != 0.0:
            return False  # checks every m / 20 steps: the eigenproblems of T cost O(m^3) each
        values, vectors = run.ritz()
        idx = _wanted(m, k, which)
        scale = float(np.max(np.abs(values)))
        residuals = np.abs(run.last_beta * vectors[-1, idx])
        state.update(values=values, vectors=vectors, idx=idx, residuals=residuals, scale=scale)
        if m == p:
            return True  # the whole space: T is similar to H
        if m < k:
            return False
        if len(run.blocks) > 1 or run.last_beta == 0.0:
            # after a breakdown, decide only at block ends: stop once a finished block leaves
            # the wanted values unchanged (repeated eigenvalues need one block per copy)
            if run.last_beta != 0.0:
                return False
            before = run.blocks[-1]
            if before < k:
                return False
            change = np.abs(wanted_values(run, m) - wanted_values(run, before))
            return bool(np.all(change <= tol * max(scale, np.finfo(np.float64).tiny)))
        return bool(np.all(residuals <= tol * max(scale, np.finfo(np.float64).tiny)))

    run = lanczos(matvec, start.data, steps, seed=seed, stop=converged, name="hessian_eigs")
    done = converged(run, final=True)
    return _result(theta, run.basis, state, tol, len(run.alphas), done)


def _result(
    theta: Tensor, basis: Any, state: dict[str, Any], tol: float, n_matvec: int, done: bool
) -> EigResult:
    """The wanted Ritz pairs ``(theta_i, Q s_i)`` as an :class:`EigResult`."""
    if not done:
        warnings.warn(
            f"hessian_eigs: not converged after {n_matvec} Hessian-vector products "
            f"(residuals {state['residuals'].max():.3g} > tol {tol} x scale {state['scale']:.3g}); "
            "raise max_iter",
            RuntimeWarning,
            stacklevel=3,
        )
    xp = xp_of(theta)
    idx = state["idx"]
    s = xp.asarray(np.ascontiguousarray(state["vectors"][:, idx]))
    return EigResult(
        values=ad.tensor(state["values"][idx], device=theta.device),
        vectors=Tensor(xp.matmul(basis.T, s)),
        residuals=state["residuals"],
        tol=tol,
        scale=state["scale"],
        n_matvec=n_matvec,
        converged=done,
    )


def _block_eigs(
    product: Callable[[Tensor], Tensor],
    theta: Tensor,
    start: Tensor,
    k: int,
    which: str,
    tol: float,
    steps: int,
    seed: int | None,
    size: int,
) -> EigResult:
    """:func:`hessian_eigs` by block Lanczos with blocks of ``size`` (the first row ``start``)."""
    p = theta.shape[0]
    rows = ad.random.Generator(None if seed is None else [seed, 3]).randn(
        size, p, dtype=theta.dtype, device=theta.device
    )
    rows = ad.concatenate([ad.reshape(start, (1, -1)), rows[1:]], axis=0)
    state: dict[str, Any] = {}

    def converged(run: BlockRun, final: bool = False) -> bool:
        blocks = len(run.a)
        m = blocks * size
        if not final and m > 100 and blocks % max(1, blocks // 20):
            return False
        values, vectors = run.ritz()
        idx = _wanted(m, k, which)
        scale = float(np.max(np.abs(values)))
        residuals = run.residuals(vectors[:, idx])
        state.update(values=values, vectors=vectors, idx=idx, residuals=residuals, scale=scale)
        if m >= p:
            return True
        if (
            run.breakdowns
        ):  # invariant subspaces (small or degenerate problems): every copy needs the whole space
            return False
        return m >= k and bool(np.all(residuals <= tol * max(scale, np.finfo(np.float64).tiny)))

    run = block_lanczos(
        lambda q: product(Tensor(q)).data,
        rows.data,
        -(-steps // size),
        seed=seed,
        stop=converged,
        name="hessian_eigs",
    )
    done = converged(run, final=True)
    return _result(theta, run.basis, state, tol, len(run.a) * size, done)
