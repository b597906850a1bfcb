"""Stochastic estimates of the Hessian spectrum: its trace and its eigenvalue density.

``hessian_trace``: Hutchinson's estimator ``tr H = E[z^T H z]`` for Rademacher z (variance
``2 (||H||_F^2 - sum_i H_ii^2)``), and Hutch++ (Meyer, Musco, Musco, Woodruff 2021), which
spends a third of its products on a sketch Q of the top of the spectrum, takes ``tr(Q^T H Q)``
exactly and Hutchinson only on the deflated rest: error O(1/m) instead of O(1/sqrt(m)) for
matrices with decaying spectra.

``spectral_density``: stochastic Lanczos quadrature (Golub & Meurant; Ghorbani, Krishnan, Xiao
2019).  For a unit probe v, m Lanczos steps give T_m = S diag(theta) S^T and the Gauss quadrature
``v^T g(H) v ~ sum_i w_i g(theta_i)`` with weights ``w_i = S_{1i}^2`` (which sum to one), exact
for polynomials g of degree < 2m.  Averaging the spike measures ``sum_i w_i delta_{theta_i}`` over
probes and smoothing them with a Gaussian gives the density of eigenvalues, normalised to
integrate to one (each of the p eigenvalues has mass 1/p).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

import autodiff as ad
from autodiff.tensor import Tensor
from landscape._core import ScalarFn, check_finite, random_probes, xp_of
from landscape.curvature import products
from landscape.lanczos import lanczos


@dataclass
class TraceEstimate:
    """``value`` of the estimate of tr H, its ``stderr`` (standard error of the stochastic
    part), ``n_matvec`` Hessian-vector products and the ``method``."""

    value: float
    stderr: float
    n_matvec: int
    method: str

    def __float__(self) -> float:
        return self.value


def _quadratic_forms(product: Callable[[Tensor], Tensor], z: Tensor, batch: int) -> Any:
    """``z_i^T H z_i`` for each row of z (device array), ``batch`` products per pass."""
    xp = xp_of(z)
    out = []
    for lo in range(0, z.shape[0], batch):
        block = z[lo : lo + batch].detach()
        out.append(xp.sum(block.data * product(block).data, axis=1))
    return xp.concatenate(out)


def _mean_and_stderr(samples: Any) -> tuple[float, float]:
    n = samples.shape[0]
    mean = samples.mean().item()
    check_finite("hessian_trace", "a quadratic form z^T H z (from Hessian-vector products)", mean)
    stderr = (samples.std(ddof=1).item() / math.sqrt(n)) if n > 1 else math.inf
    return mean, stderr


def _deflation_pays(xp: Any, hs: Any, n_probes: int) -> bool:
    """The rule of ``method="auto"``, from the sketch's products H S alone: Hutch++ beats
    Hutchinson when its deflated remainder, estimated with half the sketch
    (``||(I - Q_1 Q_1^T) H||_F^2`` from the other half's products, an overestimate), has a
    variance over its n - 2n/3 probes below Hutchinson's over all n probes (``||H||_F^2``, the
    mean of ``||H s||^2``): ``tail / (n - 2 third) < frob / n``."""
    third = hs.shape[0]
    half = third // 2
    frob = (xp.sum(hs * hs) / third).item()
    q, _ = xp.linalg.qr(hs[:half].T)
    rest = hs[half:].T - xp.matmul(q, xp.matmul(q.T, hs[half:].T))
    tail = (xp.sum(rest * rest) / (third - half)).item()
    return tail / (n_probes - 2 * third) < frob / n_probes


def hessian_trace(
    f: ScalarFn | Any,
    theta: Any = None,
    n_probes: int = 60,
    method: str = "auto",
    seed: int | None = 0,
    batch: int = 32,
) -> TraceEstimate:
    """An estimate of ``tr H(theta)`` from ``n_probes`` Hessian-vector products (Rademacher
    probes, ``batch`` products per pass; ``f`` may be a :class:`landscape.CurvatureOperator`).
    ``method="hutchinson"``: the mean of z^T H z, stderr = sample std / sqrt(n).
    ``method="hutch++"``: n/3 products sketch Q = orth(H S), n/3 give tr(Q^T H Q) exactly, n/3
    estimate tr((I - QQ^T) H (I - QQ^T)) by Hutchinson, whose standard error is reported.
    ``method="auto"`` (default) spends the first n/3 products on the sketch and decides from them
    (:func:`_deflation_pays`): Hutch++ when deflation shrinks the variance, else Hutchinson, whose
    first n/3 samples are the sketch's own ``s^T H s`` (no product is wasted); below 12 probes
    it does not decide and runs Hutch++.  Measured (60 products, 30 seeds, 512 digits): on the
    flat spectrum of a 64-32-10 tanh MLP at its initial weights auto chose Hutchinson every time
    (relative RMS error 0.080, Hutch++ 0.084); after 300 gradient steps it chose Hutch++ every
    time (0.014, Hutchinson 0.055)."""
    if method not in ("auto", "hutchinson", "hutch++"):
        raise ValueError(f"hessian_trace: method must be 'auto', 'hutchinson' or 'hutch++', not {method!r}")
    theta, product = products("hessian_trace", f, theta)
    if n_probes < 2:
        raise ValueError(f"hessian_trace: n_probes must be at least 2, got {n_probes}")
    if method == "hutchinson" or n_probes < 3:
        mean, stderr = _mean_and_stderr(
            _quadratic_forms(product, random_probes(theta, n_probes, seed), batch)
        )
        return TraceEstimate(mean, stderr, n_probes, "hutchinson")
    xp = xp_of(theta)
    third = n_probes // 3
    s = random_probes(theta, third, seed)
    hs = ad.concatenate([product(s[lo : lo + batch]) for lo in range(0, third, batch)], axis=0)
    check_finite("hessian_trace", "a Hessian-vector product", hs)
    g = random_probes(theta, n_probes - 2 * third, None if seed is None else seed + 1)
    if method == "auto" and third >= 4 and not _deflation_pays(xp, hs.data, n_probes):
        more = random_probes(theta, n_probes - third, None if seed is None else seed + 1)
        samples = xp.concatenate([xp.sum(s.data * hs.data, axis=1), _quadratic_forms(product, more, batch)])
        mean, stderr = _mean_and_stderr(samples)
        return TraceEstimate(mean, stderr, n_probes, "auto: hutchinson")
    q, _ = xp.linalg.qr(hs.data.T)  # (p, third), orthonormal columns
    qt = Tensor(xp.ascontiguousarray(q.T))
    exact = xp.sum(_quadratic_forms(product, qt, batch)).item()
    deflated = g.data - xp.matmul(xp.matmul(g.data, q), q.T)
    rest, stderr = _mean_and_stderr(_quadratic_forms(product, Tensor(deflated), batch))
    return TraceEstimate(
        exact + rest, stderr, 2 * third + g.shape[0], "auto: hutch++" if method == "auto" else "hutch++"
    )


@dataclass
class SpectralDensity:
    """The smoothed eigenvalue density of the Hessian: ``grid`` and ``density`` (host arrays,
    the density integrates to one), the quadrature ``nodes`` and ``weights`` of every probe
    (lists of host arrays; each probe's weights sum to one), the Gaussian width ``sigma``
    and ``n_matvec``."""

    grid: np.ndarray
    density: np.ndarray
    nodes: list[np.ndarray]
    weights: list[np.ndarray]
    sigma: float
    n_matvec: int

    def moment(self, j: int) -> float:
        """The SLQ estimate of ``tr(H^j) / p``: the mean over probes of ``sum_i w_i theta_i^j``."""
        return float(np.mean([np.sum(w * t**j) for t, w in zip(self.nodes, self.weights, strict=True)]))

    def plot(self, ax: Any = None, log: bool = True) -> Any:
        """Draw the density (log scale by default, as spectra of trained nets span decades) on
        ``ax`` (a new figure if None) and return the axes.  Needs matplotlib."""
        return plot_density(self, ax=ax, log=log)


def _smooth(grid: np.ndarray, nodes: list[np.ndarray], weights: list[np.ndarray], sigma: float) -> np.ndarray:
    """The average over probes of ``sum_i w_i N(x; theta_i, sigma^2)`` on the grid (host)."""
    total = np.zeros_like(grid)
    for t, w in zip(nodes, weights, strict=True):
        z = (grid[:, None] - t[None, :]) / sigma
        total += (np.exp(-0.5 * z**2) @ w) / (sigma * math.sqrt(2 * math.pi))
    return total / len(nodes)


def spectral_density(
    f: ScalarFn | Any,
    theta: Any = None,
    n_probes: int = 8,
    steps: int = 40,
    sigma: float | None = None,
    n_grid: int = 1000,
    grid: Any = None,
    seed: int | None = 0,
) -> SpectralDensity:
    """The eigenvalue density of H(theta) by stochastic Lanczos quadrature: ``n_probes``
    Rademacher probes, ``steps`` Lanczos steps each (full reorthogonalisation), spikes smoothed
    by Gaussians of width ``sigma`` (default 1% of the spread of the nodes) on ``grid`` (default
    ``n_grid`` points covering the nodes +- 5 sigma).  Cost: n_probes x steps Hessian-vector
    products."""
    theta, product = products("spectral_density", f, theta)
    if n_probes < 1 or steps < 1:
        raise ValueError(f"spectral_density: n_probes and steps must be positive, got {n_probes}, {steps}")
    probes = random_probes(theta, n_probes, seed)

    def matvec(q: Any) -> Any:
        return product(Tensor(q)).data

    nodes, weights, n_matvec = [], [], 0
    for i in range(n_probes):
        run = lanczos(
            matvec, probes.data[i], steps, seed=None if seed is None else seed + i, name="spectral_density"
        )
        values, vectors = run.ritz()
        nodes.append(values)
        weights.append(vectors[0] ** 2)
        n_matvec += len(run.alphas)
    low = min(float(t.min()) for t in nodes)
    high = max(float(t.max()) for t in nodes)
    if sigma is None:
        sigma = 0.01 * (high - low) if high > low else 1e-3 * max(abs(high), 1.0)
    grid = np.linspace(low - 5 * sigma, high + 5 * sigma, n_grid) if grid is None else np.asarray(grid, float)
    return SpectralDensity(grid, _smooth(grid, nodes, weights, sigma), nodes, weights, sigma, n_matvec)


def plot_density(density: SpectralDensity, ax: Any = None, log: bool = True) -> Any:
    """Plot a :class:`SpectralDensity` (needs matplotlib); returns the axes."""
    try:
        import matplotlib.pyplot as plt
    except ImportError as error:
        raise ImportError("plot_density needs matplotlib: pip install matplotlib") from error
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot(density.grid, density.density, lw=1.2)
    if log:
        ax.set_yscale("log")
        ax.set_ylim(max(density.density.max() * 1e-8, 1e-300), density.density.max() * 2)
    ax.set_xlabel("eigenvalue")
    ax.set_ylabel("density")
    ax.set_title(f"Hessian spectral density (SLQ, sigma={density.sigma:.3g})")
    return ax
