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
from landscape._core import EPS64, ScalarFn, check_finite, like, xp_of
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
    """w minus its projection on the rows of ``basis``, twice ("twice is enough")."""
    for _ in range(2):
        w = w - xp.matmul(xp.matmul(basis, w), basis)
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
    step up to 100 steps, then every m / 20 steps.  A single Krylov space sees one copy of a
    repeated eigenvalue unless the iteration breaks down, so counts of repeated eigenvalues need
    :func:`landscape.hessian`.
    """
    if which not in WHICH:
        raise ValueError(f"hessian_eigs: which must be one of {WHICH}, not {which!r}")
    if k < 1:
        raise ValueError(f"hessian_eigs: k must be at least 1, got {k}")
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
    if not done:
        warnings.warn(
            f"hessian_eigs: not converged after {len(run.alphas)} Hessian-vector products "
            f"(residuals {state['residuals'].max():.3g} > tol {tol} x scale {state['scale']:.3g}); "
            "raise max_iter",
            RuntimeWarning,
            stacklevel=2,
        )
    xp = xp_of(theta)
    idx = state["idx"]
    s = xp.asarray(np.ascontiguousarray(state["vectors"][:, idx]))
    vectors = xp.matmul(run.basis.T, s)
    values = ad.tensor(state["values"][idx], device=theta.device)
    return EigResult(
        values=values,
        vectors=Tensor(vectors),
        residuals=state["residuals"],
        tol=tol,
        scale=state["scale"],
        n_matvec=len(run.alphas),
        converged=done,
    )
