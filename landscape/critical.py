"""Classifying critical points (Malgouyres 2024, *Paysage de la
fonction objectif*).

theta is a first-order critical point when grad f = 0 and a second-order one when moreover the
Hessian is positive semidefinite.  A critical point that is neither a local minimum nor a local
maximum is a saddle: *strict* when the Hessian has a negative eigenvalue, *non-strict* when
the Hessian is positive semidefinite with a zero eigenvalue (a higher-order term makes it a
saddle, as x^2 - y^4 at 0).

The Hessian decides everything except the semidefinite singular case.  There ``classify``
answers the higher-order question by probing: along each null direction u (null eigenvectors
and random combinations of them), both signs, at geometric step sizes t, it evaluates the
*reduced function* ``phi(t) = f(theta + t u + w(t)) - f(theta)``, where w(t) in the span of the
nonzero-curvature eigenvectors makes the gradient vanish there (a few frozen-Newton steps,
Lyapunov-Schmidt reduction).  Reducing over w matters: along the straight line the curved
valley of (x - y^2)^2 - y^4 / 2 looks like a minimum, phi does not.  The local sign of phi at
the smallest steps where it rises above rounding noise decides: a descent shows a saddle
(not a minimum), an ascent not a maximum.  Probing is evidence, not proof (finitely many
directions and steps), and the report says what it found.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

import autodiff as ad
from autodiff import backend
from autodiff.tensor import Tensor
from landscape._core import EPS64, NonFiniteError, ScalarFn, check_finite, flat, host, within, xp_of
from landscape.curvature import hessian

KINDS = (
    "not critical",
    "strict local minimum",
    "strict saddle",
    "local maximum",
    "non-strict saddle",
    "degenerate minimum",
    "undetermined",
)
TINY = float(np.finfo(np.float64).tiny)
TAU = EPS64 ** (2 / 3)  # relative tolerance of the default decisions, ~3.7e-11


@dataclass
class Probe:
    """The reduced function along one null direction and sign: ``steps`` t (decreasing),
    ``deltas`` phi(t) = f(theta + t u + w(t)) - f(theta), the rounding ``noise`` of each, and the
    ``verdict``: "descent", "ascent", "flat" (no step rises above noise) or "inconclusive"
    (the smallest resolvable steps disagree, or w(t) could not be found)."""

    direction: str
    sign: int
    steps: np.ndarray
    deltas: np.ndarray
    noise: np.ndarray
    verdict: str


@dataclass
class CriticalPointReport:
    """What ``classify`` found at theta.  ``kind`` is one of :data:`KINDS`; ``inertia`` =
    (n_neg, n_zero, n_pos) counts eigenvalues below -eig_tol, within +-eig_tol, above eig_tol;
    ``eigenvalues`` the extreme ones (up to 3 smallest and 3 largest, ascending), ``spectrum``
    all of them; ``zero_gap`` = (largest |lambda| counted as zero, smallest |lambda| counted
    nonzero), the margin of the inertia decision; ``probes`` the higher-order evidence."""

    kind: str
    value: float
    grad_norm: float
    grad_tol: float
    eig_tol: float
    inertia: tuple[int, int, int]
    eigenvalues: np.ndarray
    spectrum: np.ndarray
    zero_gap: tuple[float, float]
    explanation: str
    probes: list[Probe] = field(default_factory=list)

    @property
    def lambda_min(self) -> float:
        return float(self.spectrum[0])

    @property
    def lambda_max(self) -> float:
        return float(self.spectrum[-1])

    def __str__(self) -> str:
        n_neg, n_zero, n_pos = self.inertia
        return (
            f"{self.kind}: f = {self.value:.6g}, |grad f| = {self.grad_norm:.3g} (tol {self.grad_tol:.3g}), "
            f"inertia (neg, zero, pos) = ({n_neg}, {n_zero}, {n_pos}) at eig_tol {self.eig_tol:.3g}, "
            f"lambda in [{self.lambda_min:.6g}, {self.lambda_max:.6g}]\n{self.explanation}"
        )


def _extremes(values: np.ndarray, k: int = 3) -> np.ndarray:
    if values.size <= 2 * k:
        return values.copy()
    return np.concatenate([values[:k], values[-k:]])


class _Reduced:
    """phi(t) = f(theta + t u + W c) - f(theta) with W^T grad f = 0 solved for c by frozen
    Newton steps c <- c - (W^T grad) / lambda_W (W: the nonzero-curvature eigenvectors)."""

    def __init__(self, f: ScalarFn, theta: Tensor, value: float, basis: Any, curvature: Any):
        self.f, self.theta, self.value = f, theta, value
        self.basis, self.curvature = basis, curvature  # (p, r) and (r,) device arrays, r may be 0
        self.value_and_grad = ad.value_and_grad(f)
        self.xp = xp_of(theta)
        self.min_curvature = float(host(self.xp.abs(curvature)).min()) if curvature.shape[0] else math.inf

    def __call__(self, point: Any) -> tuple[float, float]:
        """(phi, noise) at theta + point (point: raw array (p,))."""
        xp, base = self.xp, self.theta.data + point
        rounding = 64 * EPS64 * abs(self.value)
        if self.basis.shape[1] == 0:
            out = self.f(Tensor(base))
            value = out.item()
            return value - self.value, rounding + 64 * EPS64 * abs(value)
        c = xp.zeros(self.basis.shape[1], dtype=base.dtype)
        previous = math.inf
        for _ in range(50):
            out, grad = self.value_and_grad(Tensor(base + xp.matmul(self.basis, c)))
            r = xp.matmul(grad.data, self.basis)
            size = xp.linalg.norm(r).item()
            error = 0.5 * size**2 / self.min_curvature  # phi's error from the unsolved part of w
            noise = rounding + 64 * EPS64 * abs(out.item()) + error
            if error <= 0.1 * noise or size >= 0.9 * previous:
                break
            previous = size
            c = c - r / self.curvature
        if not math.isfinite(out.item()) or size >= previous:  # diverging: w(t) not found
            return out.item() - self.value, math.inf
        return out.item() - self.value, noise


def _verdict(deltas: np.ndarray, noise: np.ndarray) -> str:
    """The local sign of phi: that of the two smallest steps rising above noise, if they agree."""
    resolved = [d for d, e in zip(deltas, noise, strict=True) if abs(d) > e]
    if not resolved:
        return "inconclusive" if np.all(np.isinf(noise)) else "flat"
    tail = resolved[-2:]
    if all(d < 0 for d in tail):
        return "descent"
    if all(d > 0 for d in tail):
        return "ascent"
    return "inconclusive"


def _directions(null: Any, n_random: int, max_eigvecs: int, seed: int) -> list[tuple[str, Any]]:
    """Null eigenvectors (up to max_eigvecs) and n_random random unit combinations of them."""
    xp = xp_of(null)
    k = null.shape[1]
    out = [(f"null eigenvector {i}", null[:, i]) for i in range(min(k, max_eigvecs))]
    if k > 1:
        mix = (
            ad.random.Generator(seed)
            .randn(k, n_random, dtype=null.dtype, device=backend.device_of(null))
            .data
        )
        combos = xp.matmul(null, mix)
        combos = combos / xp.linalg.norm(combos, axis=0)
        out += [(f"random null combination {j}", combos[:, j]) for j in range(n_random)]
    return out


def _probe(reduced: _Reduced, directions: list[tuple[str, Any]], steps: np.ndarray, stop: Any) -> list[Probe]:
    probes = []
    for name, u in directions:
        for sign in (1, -1):
            deltas, noise = zip(*(reduced(sign * t * u) for t in steps), strict=True)
            probe = Probe(name, sign, steps, np.array(deltas), np.array(noise), "")
            probe.verdict = _verdict(probe.deltas, probe.noise)
            probes.append(probe)
            if stop(probes):
                return probes
    return probes


def _found(probes: list[Probe], verdict: str) -> bool:
    return any(p.verdict == verdict for p in probes)


def _higher_order(
    n_neg: int, n_pos: int, n_zero: int, probes: list[Probe], steps: np.ndarray
) -> tuple[str, str]:
    """The kind and the explanation of a semidefinite singular Hessian from the probes."""
    counts = {v: sum(p.verdict == v for p in probes) for v in ("descent", "ascent", "flat", "inconclusive")}
    summary = (
        f"the Hessian is {'negative' if n_neg else 'positive'} semidefinite, {n_zero} zero eigenvalue(s), "
        f"so second order cannot decide; probed the reduced function along {len(probes)} null direction/sign "
        f"pairs at steps t = {steps[0]:.3g} ... {steps[-1]:.3g}: "
        + ", ".join(f"{n} {v}" for v, n in counts.items() if n)
    )
    if n_neg:  # negative semidefinite: a maximum, or a saddle (then strict: lambda < 0 exists)
        if counts["ascent"]:
            return (
                "strict saddle",
                summary + " -> an ascent along a null direction, and a negative eigenvalue",
            )
        if counts["inconclusive"]:
            return "undetermined", summary + " -> no ascent resolved but some probes inconclusive"
        return "local maximum", summary + " -> no ascent found: a degenerate local maximum (probing evidence)"
    if counts["descent"]:
        if n_pos or counts["ascent"]:
            return "non-strict saddle", summary + " -> a descent along a null direction: not a minimum"
        return (
            "local maximum",
            summary + " -> descent in every resolved direction, H = 0: a degenerate maximum",
        )
    if counts["inconclusive"]:
        return "undetermined", summary + " -> no descent resolved but some probes inconclusive"
    flat_note = " (flat directions: a non-isolated minimum, e.g. along a symmetry)" if counts["flat"] else ""
    return (
        "degenerate minimum",
        summary + " -> no descent found" + flat_note + " (probing evidence, not proof)",
    )


def classify(
    f: ScalarFn,
    theta: Any,
    grad_tol: float | None = None,
    eig_tol: float | None = None,
    n_steps: int = 8,
    max_step: float | None = None,
    n_random: int = 8,
    max_eigvecs: int = 16,
    seed: int = 0,
) -> CriticalPointReport:
    """Classify theta as a critical point of f (see the module doc), in float64.

    Default tolerances, relative to the curvature scale ``s = max(||H||_2, |f| / max(1,
    ||theta||)^2)`` (``||H||_2 = max |lambda|``; the second term keeps a scale where the Hessian
    vanishes, e.g. at the origin of a deep linear net, whose computed Hessian is then pure
    rounding noise), with ``tau = eps^(2/3) ~ 3.7e-11`` (eps = 2.2e-16, float64): ``eig_tol =
    tau s`` (an eigenvalue with |lambda| <= eig_tol counts as zero) and ``grad_tol = tau s
    max(1, ||theta||)`` (theta is critical when ||grad f|| <= grad_tol).  tau sits well above
    the rounding level of a float64 Hessian (~ p eps s) and of the gradient at an exactly
    computed critical point, and below the curvatures of well-posed problems; both tolerances
    are invariant under f -> c f.  Points found by a first-order optimiser (||grad f|| ~ 1e-6)
    need an explicit grad_tol, and then a larger eig_tol (zero eigenvalues move by about
    ||grad f|| / ||theta||).  The report gives
    ``zero_gap``, the margin of the decision.  The dense Hessian is used (p up to a few
    thousand).  Probing (semidefinite singular case only) uses ``n_steps`` steps from
    ``max_step`` (default 0.1 max(1, ||theta||)) down by sqrt(10) each, along up to
    ``max_eigvecs`` null eigenvectors and ``n_random`` random combinations of them.
    """
    theta = flat(theta, "classify", dtype="float64")
    value, grad = ad.value_and_grad(f)(theta)
    value = value.item()
    xp = xp_of(theta)
    grad_norm = xp.linalg.norm(grad.data).item()
    check_finite("classify", f"f (= {value})", value)
    check_finite("classify", f"the gradient (norm {grad_norm})", grad_norm)
    try:
        h = hessian(f, theta).data
    except NonFiniteError as error:
        raise within("classify", error) from None
    h = 0.5 * (h + h.T)
    lam_dev, vec = xp.linalg.eigh(h)
    lam = host(lam_dev)
    theta_norm = xp.linalg.norm(theta.data).item()
    scale = max(float(np.max(np.abs(lam))) if lam.size else 0.0, abs(value) / max(1.0, theta_norm) ** 2)
    eig_tol = TAU * max(scale, TINY) if eig_tol is None else float(eig_tol)
    grad_tol = TAU * max(scale * max(1.0, theta_norm), TINY) if grad_tol is None else float(grad_tol)
    neg, pos = lam < -eig_tol, lam > eig_tol
    zero = ~(neg | pos)
    inertia = (int(neg.sum()), int(zero.sum()), int(pos.sum()))
    zero_gap = (
        float(np.max(np.abs(lam[zero]))) if zero.any() else 0.0,
        float(np.min(np.abs(lam[~zero]))) if (~zero).any() else math.inf,
    )
    n_neg, n_zero, n_pos = inertia
    head = (
        f"|grad f| = {grad_norm:.3g} {'>' if grad_norm > grad_tol else '<='} grad_tol {grad_tol:.3g}; "
        f"inertia ({n_neg}, {n_zero}, {n_pos}) with eig_tol {eig_tol:.3g} "
        f"(largest |lambda| taken as zero {zero_gap[0]:.3g}, smallest nonzero {zero_gap[1]:.3g}): "
    )
    probes: list[Probe] = []
    if grad_norm > grad_tol:
        kind, why = "not critical", "the gradient does not vanish"
    elif n_zero == 0:
        if n_neg == 0:
            kind, why = "strict local minimum", "the Hessian is positive definite"
        elif n_pos == 0:
            kind, why = "local maximum", "the Hessian is negative definite (a strict local maximum)"
        else:
            kind, why = "strict saddle", "the Hessian has eigenvalues of both signs (a negative one)"
    elif n_neg and n_pos:
        kind, why = "strict saddle", "the Hessian has a negative eigenvalue (and a positive one)"
    else:
        idx_zero = xp.asarray(np.flatnonzero(zero))
        idx_rest = xp.asarray(np.flatnonzero(~zero))
        reduced = _Reduced(f, theta, value, vec[:, idx_rest], lam_dev[idx_rest])
        start = 0.1 * max(1.0, theta_norm) if max_step is None else max_step
        steps = start * 10.0 ** (-0.5 * np.arange(n_steps))

        def decided(found: list[Probe]) -> bool:  # a saddle is certain: stop probing
            if n_neg:
                return _found(found, "ascent")
            return _found(found, "descent") and (n_pos > 0 or _found(found, "ascent"))

        probes = _probe(reduced, _directions(vec[:, idx_zero], n_random, max_eigvecs, seed), steps, decided)
        kind, why = _higher_order(n_neg, n_pos, n_zero, probes, steps)
    return CriticalPointReport(
        kind=kind,
        value=value,
        grad_norm=grad_norm,
        grad_tol=grad_tol,
        eig_tol=eig_tol,
        inertia=inertia,
        eigenvalues=_extremes(lam),
        spectrum=lam,
        zero_gap=zero_gap,
        explanation=head + why,
        probes=probes,
    )
