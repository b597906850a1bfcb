"""The landscape of deep linear networks, exactly.

For data X (d_x, n), Y (d_y, n) and widths ``[d_x, d_1, ..., d_{H-1}, d_y]`` the risk is

    R(W) = ||W_H ... W_1 X - Y||^2,      W_h of shape (d_h, d_{h-1}).

The theory is that of the lecture notes Malgouyres 2024 (last
part, "Paysage pour les réseaux linéaires": Achour, Malgouyres, Gerchinovitz; the one-hidden-
layer case of Baldi and Hornik), with the notes' notation:

- Sigma_XX = X X^T, Sigma_XY = X Y^T, Sigma_YX = Y X^T, Sigma_YY = Y Y^T,
  Sigma^{1/2} = Sigma_YX Sigma_XX^{-1} X = U Delta V^T, r_max = min(d_x, d_1, ..., d_y);
- Lemma: at a first-order critical point with r = rk(W_H ... W_1) there is a unique S of size r
  with W_H ... W_1 = U_S U_S^T Sigma_YX Sigma_XX^{-1}, and R(W) = tr(Sigma_YY) - sum_{i in S} delta_i^2;
- Theorem (decision tree): r = r_max and S = [1, r_max]: global minimiser; r = r_max, other S:
  strict saddle; r < r_max and S != [1, r]: strict saddle; r < r_max, S = [1, r]: non-strict
  saddle if every pivot (i, j) is tight (one of its complementary blocks
  W_{j-1}...W_1 Sigma_XY W_H...W_{i+1} and W_{i-1}...W_{j+1} has rank r), strict saddle otherwise;
- Propositions: every S of size r <= r_max has critical points; for H = 2 there is no non-strict
  saddle; for H >= 3 and r < r_max, [1, r] has tight and non-tight critical points; the global
  minimisers are parametrised by gauges D_h and free blocks A_R, (W_h)_DR, M_D.

``invariants`` are the conserved quantities W_{j+1}^T W_{j+1} - W_j W_j^T of the gradient flow
(Chitour, Liao, Couillet 2019).

The theory is host-side linear algebra on data the problem owns (NumPy); the risk itself,
``DeepLinearProblem.loss``, is an autodiff function of a flat parameter vector, on any device,
so the engine can check the theory: gradients vanish, Hessians have the predicted signs.
``critical_value_of`` computes a critical value from data tensors through the engine
(``autodiff.linalg``), differentiable with respect to the data.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

import autodiff as ad
from autodiff.tensor import Tensor

# What a Hessian-based classifier (landscape.classify) may honestly call each theoretical kind:
# global minimisers of a deep network (H >= 2) form manifolds (gauges D_h), so their Hessian is
# singular; for H = 1 the risk is strictly convex.
CLASSIFY_KINDS = {
    "global minimizer": ("degenerate minimum", "strict local minimum"),
    "strict saddle": ("strict saddle",),
    "non-strict saddle": ("non-strict saddle",),
}
MAX_SUBSETS = 1 << 16


class AssumptionError(ValueError):
    """The data violate an assumption of the theorem (the message says which)."""


# ----------------------------------------------------------------------------- results
@dataclass(frozen=True)
class CriticalValue:
    """A critical value tr(Sigma_YY) - sum_{i in S} delta_i^2 and every S realising it."""

    value: float
    subsets: tuple[tuple[int, ...], ...]


@dataclass(frozen=True)
class Pivot:
    """A pivot (i, j), H >= i > j >= 1, with the ranks of its two complementary blocks
    W_{j-1}...W_1 Sigma_XY W_H...W_{i+1} (first) and W_{i-1}...W_{j+1} (second)."""

    i: int
    j: int
    rank_first: int
    rank_second: int
    tight: bool


@dataclass
class TheoryReport:
    """What the theorem says about W, with the facts the proof's decision tree uses.  ``kind``:
    "global minimizer", "strict saddle", "non-strict saddle", "not critical" (the gradient does
    not vanish) or "undetermined" (no S fits the Lemma at these tolerances)."""

    kind: str
    r: int | None = None
    r_max: int | None = None
    S: tuple[int, ...] | None = None
    loss: float | None = None
    critical_value: float | None = None
    grad_norm: float | None = None  # relative, see DeepLinearProblem.grad_norm
    association_residual: float | None = None  # ||P - U_S U_S^T W*|| / ||W*||
    pivots: list[Pivot] = field(default_factory=list)
    tight: bool | None = None
    reasons: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        lines = [self.kind]
        lines += [f"  {reason}" for reason in self.reasons]
        if self.pivots:
            lines.append("  pivots (i, j): rank of first block, rank of second block")
            lines += [
                f"    ({p.i}, {p.j}): {p.rank_first}, {p.rank_second}{'  tight' if p.tight else ''}"
                for p in self.pivots
            ]
        return "\n".join(lines)


# ----------------------------------------------------------------------------- helpers
def _norm2(M: np.ndarray) -> float:
    return float(np.linalg.norm(M, 2)) if M.size else 0.0


def _rank(M: np.ndarray, scale: float, rtol: float) -> int:
    """Numerical rank: singular values above ``rtol * scale`` (scale: a bound on ||M||)."""
    if M.size == 0:
        return 0
    s = np.linalg.svd(M, compute_uv=False)
    return int(np.sum(s > rtol * scale))


def _random_invertible(rng: np.random.Generator, d: int) -> np.ndarray:
    """A random gauge matrix with singular values in [1/2, 2] (condition number <= 4)."""
    q1, _ = np.linalg.qr(rng.standard_normal((d, d)))
    q2, _ = np.linalg.qr(rng.standard_normal((d, d)))
    return (q1 * rng.uniform(0.5, 2.0, d)) @ q2


def _block_diag(top: int, block: np.ndarray) -> np.ndarray:
    """[[I_top, 0], [0, block]]."""
    rows, cols = block.shape
    M = np.zeros((top + rows, top + cols))
    M[:top, :top] = np.eye(top)
    M[top:, top:] = block
    return M


def check_assumptions(X: np.ndarray, Y: np.ndarray, rtol: float = 1e-10) -> list[str]:
    """The theorem's assumptions that (X, Y) violate, each as a sentence (empty: all hold):
    d_y <= d_x <= n, Sigma_XX invertible, Sigma_XY of full rank, distinct singular values of
    Sigma^{1/2} (Malgouyres 2024, "On suppose")."""
    (d_x, n), d_y = X.shape, Y.shape[0]
    failures = []
    if not d_y <= d_x <= n:
        failures.append(f"d_y <= d_x <= n fails: d_y = {d_y}, d_x = {d_x}, n = {n}")
    Sxx = X @ X.T
    sxx = np.linalg.svd(Sxx, compute_uv=False)
    if sxx.size == 0 or sxx[-1] <= rtol * sxx[0]:
        failures.append(
            f"Sigma_XX = X X^T is not invertible (rank {int(np.sum(sxx > rtol * sxx[0]))} < d_x = {d_x}): "
            "use more examples or drop collinear input features"
        )
        return failures  # the remaining checks need Sigma_XX^{-1}
    sxy = np.linalg.svd(X @ Y.T, compute_uv=False)
    rank_xy = int(np.sum(sxy > rtol * max(sxy[0], 1e-300))) if sxy.size else 0
    if rank_xy < min(d_x, d_y):
        failures.append(
            f"Sigma_XY = X Y^T is not of full rank (rank {rank_xy} < min(d_x, d_y) = {min(d_x, d_y)})"
        )
    delta = np.linalg.svd(Y @ X.T @ np.linalg.solve(Sxx, X), compute_uv=False)
    gaps = np.abs(np.diff(delta))
    if gaps.size and gaps.min() <= 1e3 * rtol * delta[0]:
        k = int(np.argmin(gaps))
        failures.append(
            f"the singular values of Sigma^{{1/2}} are not distinct: delta_{k + 1} = {delta[k]:.6g} "
            f"and delta_{k + 2} = {delta[k + 1]:.6g}"
        )
    return failures


def invariants(W: Sequence[Any]) -> list[Any]:
    """The gradient-flow invariants W_{j+1}^T W_{j+1} - W_j W_j^T, j = 1..H-1 (each d_j x d_j),
    conserved along dW/dt = -grad R (Chitour, Liao, Couillet 2019,
    "Proposition (Invariants)").  Works on NumPy arrays and on tensors (autodiff ops)."""
    return [W[j + 1].T @ W[j + 1] - W[j] @ W[j].T for j in range(len(W) - 1)]


def critical_value_of(X: Any, Y: Any, S: Sequence[int], half: bool = False) -> Tensor:
    """The critical value c (tr(Sigma_YY) - sum_{i in S} delta_i^2) of the subset S (1-based) as
    a function of the data, by the engine on the data's device: Sigma_XX^{-1} Sigma_XY by
    ``autodiff.linalg.solve``, delta = the singular values of Sigma^{1/2} = Sigma_YX Sigma_XX^{-1} X
    by ``autodiff.linalg.svd`` (Malgouyres 2024, Lemma "Inférence et valeurs critiques"), so that
    it differentiates with respect to X and Y (how the landscape's levels move with the data).
    Assumes what :class:`DeepLinearProblem` checks (Sigma_XX invertible, distinct delta)."""
    X, Y = (x if isinstance(x, Tensor) else ad.tensor(x) for x in (X, Y))
    delta = ad.linalg.svd(ad.linalg.solve(X @ X.mT, X @ Y.mT).mT @ X, compute_uv=False)
    chosen = sorted(int(i) for i in S)
    if any(not 1 <= i <= delta.shape[-1] for i in chosen):
        raise ValueError(
            f"critical_value_of: S = {tuple(S)} must hold 1-based indices in [1, {delta.shape[-1]}]"
        )
    picked = delta[..., [i - 1 for i in chosen]] if chosen else delta[..., :0]
    return (0.5 if half else 1.0) * ((Y * Y).sum(axis=(-2, -1)) - (picked**2).sum(axis=-1))


def gradient_descent(
    f: Callable[[Tensor], Tensor], theta0: Any, eta: float, steps: int, record_every: int = 1
) -> tuple[Tensor, np.ndarray]:
    """``steps`` steps of theta <- theta - eta grad f(theta), gradients by the engine.

    ``f`` may return a batch of independent losses (one per row of a batched theta): the
    gradient of their sum is each row's own gradient.  Returns the final theta and the host array
    of losses before every ``record_every``-th step, shape (ceil(steps / record_every), *batch)."""
    if steps < 0 or record_every < 1:
        raise ValueError(
            f"gradient_descent: need steps >= 0 and record_every >= 1, got {steps}, {record_every}"
        )

    def total(t: Tensor) -> tuple[Tensor, Tensor]:
        losses = f(t)
        return losses.sum(), losses.detach()

    value_and_grad = ad.value_and_grad(total, has_aux=True)
    theta = ad.tensor(theta0) if not isinstance(theta0, Tensor) else theta0.detach()
    recorded = []
    for step in range(steps):
        (_, losses), g = value_and_grad(theta)
        if step % record_every == 0:
            recorded.append(losses)
        with ad.no_grad():
            theta = theta - eta * g
    history = ad.stack(recorded).numpy() if recorded else np.zeros((0,))
    return theta, history


# ----------------------------------------------------------------------------- the problem
class DeepLinearProblem:
    """R(W) = c ||W_H ... W_1 X - Y||^2 with X (d_x, n), Y (d_y, n), one column per example, and
    ``widths = [d_x, d_1, ..., d_{H-1}, d_y]`` (Malgouyres 2024);
    c = 1, or c = 1/2 with ``half=True``: the convention F = 1/2 ||...||^2 of Chitour, Liao and
    Couillet, *Dynamical aspects of deep learning* (2019), whose critical values are *half* sums of squares
    (every risk, gradient and critical value is then multiplied by 1/2).

    Subsets S are tuples of 1-based indices into delta_1 > ... > delta_{d_y}.  Parameters are a
    list [W_1, ..., W_H] (W_h of shape (d_h, d_{h-1})) or the flat vector of their C-order
    concatenation (``flatten``/``unflatten``).  The constructor raises :class:`AssumptionError`
    naming every assumption of the theorem that fails."""

    def __init__(self, X: Any, Y: Any, widths: Sequence[int], half: bool = False):
        X = np.array(X.numpy() if isinstance(X, Tensor) else X, dtype=np.float64)
        Y = np.array(Y.numpy() if isinstance(Y, Tensor) else Y, dtype=np.float64)
        widths = [int(w) for w in widths]
        if X.ndim != 2 or Y.ndim != 2 or X.shape[1] != Y.shape[1]:
            raise ValueError(
                f"DeepLinearProblem: X must be (d_x, n) and Y (d_y, n), one column per example; "
                f"got X {X.shape} and Y {Y.shape}"
            )
        if len(widths) < 2 or widths[0] != X.shape[0] or widths[-1] != Y.shape[0] or min(widths) < 1:
            raise ValueError(
                f"DeepLinearProblem: widths must be [d_x, d_1, ..., d_y] of positive ints with "
                f"d_x = {X.shape[0]} and d_y = {Y.shape[0]}; got {widths}"
            )
        for name, M in (("X", X), ("Y", Y)):
            if not np.isfinite(M).all():
                raise ValueError(f"DeepLinearProblem: {name} holds NaN or inf; the theorem needs finite data")
        failures = check_assumptions(X, Y)
        if failures:
            raise AssumptionError(
                "DeepLinearProblem: the theorem's assumptions fail:\n  - " + "\n  - ".join(failures)
            )
        self.X, self.Y, self.widths = X, Y, widths
        self.H = len(widths) - 1
        self.d_x, self.d_y, self.n = X.shape[0], Y.shape[0], X.shape[1]
        self.shapes = [(widths[h], widths[h - 1]) for h in range(1, self.H + 1)]
        self.n_params = sum(a * b for a, b in self.shapes)
        self.Sigma_XX, self.Sigma_XY, self.Sigma_YX, self.Sigma_YY = X @ X.T, X @ Y.T, Y @ X.T, Y @ Y.T
        self.W_star = np.linalg.solve(self.Sigma_XX, self.Sigma_XY).T  # Sigma_YX Sigma_XX^{-1}
        self.Sigma_half = self.W_star @ X
        self.U, self.delta, _ = np.linalg.svd(self.Sigma_half, full_matrices=False)
        self.r_max = min(widths)
        self.half = bool(half)
        self.c = 0.5 if self.half else 1.0
        self._on_device: dict[str, tuple[Tensor, Tensor]] = {}

    def __repr__(self) -> str:
        return (
            f"DeepLinearProblem(widths={self.widths}, n={self.n}, delta={np.round(self.delta, 4).tolist()}"
            f"{', half=True' if self.half else ''})"
        )

    # ------------------------------------------------------------------ parameters
    def flatten(self, W: Sequence[Any]) -> np.ndarray:
        """The flat vector: W_1, ..., W_H each flattened in C order, concatenated (host)."""
        W = self.matrices(W)
        return np.concatenate([w.ravel() for w in W])

    def unflatten(self, theta: Any) -> list[Any]:
        """[W_1, ..., W_H] from a flat vector (NumPy array or Tensor; leading batch axes kept)."""
        if theta.shape[-1] != self.n_params:
            raise ValueError(
                f"unflatten: theta has {theta.shape[-1]} entries on its last axis, the network "
                f"{self.widths} has {self.n_params} parameters"
            )
        batch, out, lo = tuple(theta.shape[:-1]), [], 0
        for shape in self.shapes:
            hi = lo + shape[0] * shape[1]
            out.append(theta[..., lo:hi].reshape(batch + shape))
            lo = hi
        return out

    def matrices(self, W: Any) -> list[np.ndarray]:
        """``W`` (a list of matrices or a flat vector, arrays or tensors) as host matrices."""
        if isinstance(W, Tensor) or (isinstance(W, np.ndarray) and W.ndim == 1):
            return self.unflatten(np.asarray(W.numpy() if isinstance(W, Tensor) else W, dtype=np.float64))
        W = [np.asarray(w.numpy() if isinstance(w, Tensor) else w, dtype=np.float64) for w in W]
        got = [w.shape for w in W]
        if got != self.shapes:
            raise ValueError(f"expected matrices of shapes {self.shapes} for widths {self.widths}, got {got}")
        return W

    # ------------------------------------------------------------------ the risk
    def _data(self, device: str) -> tuple[Tensor, Tensor]:
        if device not in self._on_device:
            self._on_device[device] = (ad.tensor(self.X, device=device), ad.tensor(self.Y, device=device))
        return self._on_device[device]

    def loss(self, theta: Tensor) -> Tensor:
        """R(theta) = c ||W_H ... W_1 X - Y||^2 by the engine, theta flat (on any device); with
        leading batch axes, one risk per row."""
        theta = ad.tensor(theta) if not isinstance(theta, Tensor) else theta
        X, Y = self._data(theta.device)
        Z = X
        for W in self.unflatten(theta):
            Z = W @ Z
        return ((Z - Y) ** 2).sum(axis=(-2, -1)) * self.c

    def risk(self, W: Any) -> float:
        """R(W) on the host (for the theory)."""
        W = self.matrices(W)
        return self.c * float(np.sum((self._chain(W, 1, self.H) @ self.X - self.Y) ** 2))

    def gradient(self, W: Any) -> list[np.ndarray]:
        """grad_{W_h} R = 2 c (W_H...W_{h+1})^T (P Sigma_XX - Sigma_YX) (W_{h-1}...W_1)^T, P the
        product (host, closed form; the engine's gradient is checked against it in the tests)."""
        W = self.matrices(W)
        E = self._chain(W, 1, self.H) @ self.Sigma_XX - self.Sigma_YX
        return [
            2 * self.c * self._chain(W, h + 1, self.H).T @ E @ self._chain(W, 1, h - 1).T
            for h in range(1, self.H + 1)
        ]

    def _chain(self, W: list[np.ndarray], lo: int, hi: int) -> np.ndarray:
        """W_hi ... W_lo (1-based, inclusive); the identity of size d_{lo-1} when hi < lo."""
        out = np.eye(self.widths[lo - 1])
        for h in range(lo, hi + 1):
            out = W[h - 1] @ out
        return out

    # ------------------------------------------------------------------ critical values
    def _subset(self, S: Sequence[int]) -> tuple[int, ...]:
        S = tuple(sorted(int(i) for i in S))
        if len(set(S)) != len(S) or any(not 1 <= i <= self.d_y for i in S):
            raise ValueError(f"S = {S}: subsets hold distinct 1-based indices in [1, d_y = {self.d_y}]")
        if self.H == 1 and len(S) < self.d_y:
            raise ValueError(
                f"S = {S}: for H = 1 the only critical point is the least-squares solution "
                f"(S = [1, {self.d_y}])"
            )
        if len(S) > self.r_max:
            raise ValueError(
                f"S = {S}: no critical point is associated with |S| = {len(S)} > r_max = {self.r_max}"
            )
        return S

    def subsets(self) -> list[tuple[int, ...]]:
        """Every S of [1, d_y] of size <= r_max (each has critical points, Proposition; for H = 1
        only S = [1, d_y], the least-squares solution)."""
        if self.H == 1:
            return [tuple(range(1, self.d_y + 1))]
        count = sum(math.comb(self.d_y, r) for r in range(self.r_max + 1))
        if count > MAX_SUBSETS:
            raise ValueError(f"subsets: {count} subsets of [1, {self.d_y}] of size <= {self.r_max}; too many")
        return [S for r in range(self.r_max + 1) for S in itertools.combinations(range(1, self.d_y + 1), r)]

    def critical_value(self, S: Sequence[int]) -> float:
        """c (tr(Sigma_YY) - sum_{i in S} delta_i^2) (Lemma "Inférence et valeurs critiques"; with
        c = 1/2, Chitour 2019's half sums of squares)."""
        S = self._subset(S)
        return self.c * float(np.trace(self.Sigma_YY) - sum(self.delta[i - 1] ** 2 for i in S))

    def critical_values(self, rtol: float = 1e-10) -> list[CriticalValue]:
        """Every critical value, ascending, with the subsets S realising it (values closer than
        ``rtol * tr(Sigma_YY)`` are one value)."""
        pairs = sorted((self.critical_value(S), S) for S in self.subsets())
        tol = rtol * self.c * float(np.trace(self.Sigma_YY))
        groups: list[list[Any]] = []
        for value, S in pairs:
            if groups and value - groups[-1][0] <= tol:
                groups[-1][1].append(S)
            else:
                groups.append([value, [S]])
        return [CriticalValue(v, tuple(sorted(subs, key=lambda s: (len(s), s)))) for v, subs in groups]

    def global_minimum_value(self) -> float:
        """min R = c (tr(Sigma_YY) - sum_{i <= r_max} delta_i^2) (S = [1, r_max])."""
        return self.critical_value(range(1, self.r_max + 1))

    def plateau_values(self) -> list[float]:
        """c (tr(Sigma_YY) - sum_{i <= r} delta_i^2) for r = 0..r_max-1: the r_max values of the
        non-strict saddles, where gradient descent lingers (notes, Conclusion); none for H <= 2."""
        return [self.critical_value(range(1, r + 1)) for r in range(self.r_max)] if self.H >= 3 else []

    def possible_kinds(self, S: Sequence[int]) -> tuple[str, ...]:
        """The kinds of the critical points associated with S, by the theorem's decision tree."""
        S = self._subset(S)
        r = len(S)
        if S != tuple(range(1, r + 1)):
            return ("strict saddle",)
        if r == self.r_max:
            return ("global minimizer",)
        return ("strict saddle", "non-strict saddle") if self.H >= 3 else ("strict saddle",)

    # ------------------------------------------------------------------ critical points
    def _assemble(
        self,
        cols: np.ndarray,
        right: np.ndarray,
        middles: list[np.ndarray],
        top: np.ndarray,
        bottom: np.ndarray,
        rng: np.random.Generator,
    ) -> list[np.ndarray]:
        """W_H = [cols, right] D_{H-1}^{-1}, W_h = D_h diag(I_r, middle_h) D_{h-1}^{-1},
        W_1 = D_1 [top; bottom], with random gauges D_h (r = number of columns of ``cols``)."""
        if self.H == 1:
            return [cols @ top]
        r = cols.shape[1]
        D = [None] + [_random_invertible(rng, d) for d in self.widths[1:-1]]
        W = [D[1] @ np.vstack([top, bottom])]
        for h in range(2, self.H):
            W.append(D[h] @ _block_diag(r, middles[h - 2]) @ np.linalg.inv(D[h - 1]))
        W.append(np.hstack([cols, right]) @ np.linalg.inv(D[self.H - 1]))
        return W

    def _middles(self, r: int, rng: np.random.Generator) -> list[np.ndarray]:
        """Random lower-right blocks (d_h - r) x (d_{h-1} - r), h = 2..H-1."""
        return [
            rng.standard_normal((self.widths[h] - r, self.widths[h - 1] - r)) / math.sqrt(self.widths[h - 1])
            for h in range(2, self.H)
        ]

    def critical_point(
        self, S: Sequence[int], tight: bool | None = None, rng: Any = None
    ) -> list[np.ndarray]:
        """A first-order critical point associated with S (Proposition: one exists for every
        |S| = r <= r_max), with random invertible gauges D_h:

            W_1 = D_1 [U_S^T Sigma_YX Sigma_XX^{-1}; M],  W_h = D_h diag(I_r, B_h) D_{h-1}^{-1},
            W_H = [U_S, 0] D_{H-1}^{-1},

        with M random under M Sigma_XY U_Q = 0 (Q the complement of S) and B_h random.  The only
        pivot that can fail to be tight is (H, 1), whose second block has rank r + rk(B_{H-1}...B_2):
        ``tight=True`` zeroes one B_h (H >= 3 needed when r < r_max), ``tight=False`` keeps the
        product nonzero (r < r_max needed), None leaves the random draw (non-tight when r < r_max)."""
        S = self._subset(S)
        r = len(S)
        rng = np.random.default_rng(rng)
        if tight is True and r < self.r_max and self.H == 2:
            raise ValueError(
                "critical_point: for H = 2 no critical point with r < r_max is tight (the pivot (2, 1) "
                "has blocks Sigma_XY and I_{d_1}): there is no non-strict saddle (Achour et al.)"
            )
        if tight is False and r == self.r_max:
            raise ValueError(f"critical_point: tight=False needs r = |S| < r_max = {self.r_max}; got r = {r}")
        Q = [i for i in range(1, self.d_y + 1) if i not in S]
        U_S, U_Q = self.U[:, [i - 1 for i in S]], self.U[:, [i - 1 for i in Q]]
        basis = np.linalg.qr(self.Sigma_XY @ U_Q)[0] if Q else np.zeros((self.d_x, 0))
        M = rng.standard_normal((self.widths[1] - r, self.d_x)) / math.sqrt(self.d_x)
        M = M - (M @ basis) @ basis.T  # M Sigma_XY U_Q = 0 keeps grad_{W_H} R = 0
        middles = self._middles(r, rng)
        if tight and middles:
            middles[int(rng.integers(len(middles)))][...] = 0.0
        right = np.zeros((self.d_y, self.widths[-2] - r))
        return self._assemble(U_S, right, middles, U_S.T @ self.W_star, M, rng)

    def global_minimizer(self, rng: Any = None) -> list[np.ndarray]:
        """A random global minimiser from the notes' parametrisation (Proposition, Achour et al.):

            W_H = [U_Smax, U_Qmax A_R] D_{H-1}^{-1},  W_h = D_h diag(I, (W_h)_DR) D_{h-1}^{-1},
            W_1 = D_1 [U_Smax^T Sigma_YX Sigma_XX^{-1}; M_D],

        with D_h, A_R, (W_h)_DR, M_D random (S_max = [1, r_max], Q_max its complement)."""
        rng = np.random.default_rng(rng)
        r = self.r_max
        U_S, U_Q = self.U[:, :r], self.U[:, r:]
        A_R = rng.standard_normal((self.d_y - r, self.widths[-2] - r))
        M_D = rng.standard_normal((self.widths[1] - r, self.d_x)) / math.sqrt(self.d_x)
        return self._assemble(U_S, U_Q @ A_R, self._middles(r, rng), U_S.T @ self.W_star, M_D, rng)

    # ------------------------------------------------------------------ the theorem
    def associated_subset(self, W: Any) -> tuple[tuple[int, ...], float]:
        """The S with W_H...W_1 = U_S U_S^T Sigma_YX Sigma_XX^{-1} (Lemma) and the relative
        residual ||P - U_S U_S^T W*|| / ||W*||: row i of U^T P X has norm delta_i if i is in S, 0
        otherwise, so S = {i : ||(U^T P X)_i|| > delta_i / 2}."""
        P = self._chain(self.matrices(W), 1, self.H)
        ratios = np.linalg.norm(self.U.T @ P @ self.X, axis=1) / self.delta
        S = tuple(int(i) + 1 for i in np.flatnonzero(ratios > 0.5))
        U_S = self.U[:, [i - 1 for i in S]]
        residual = np.linalg.norm(P - U_S @ U_S.T @ self.W_star) / np.linalg.norm(self.W_star)
        return S, float(residual)

    def pivots(self, W: Any, r: int | None = None, rank_rtol: float = 1e-8) -> list[Pivot]:
        """Every pivot (i, j), H >= i > j >= 1, with the ranks of its complementary blocks and
        whether it is tight (one block of rank r = rk(W_H...W_1)).  A block's numerical rank counts
        singular values above ``rank_rtol`` times the product of its factors' norms."""
        W = self.matrices(W)
        norms = [_norm2(w) for w in W]
        if r is None:
            r = _rank(self._chain(W, 1, self.H), math.prod(norms), rank_rtol)
        out = []
        for j, i in itertools.combinations(range(1, self.H + 1), 2):  # i > j
            first = self._chain(W, 1, j - 1) @ self.Sigma_XY @ self._chain(W, i + 1, self.H)
            scale_first = math.prod(norms[: j - 1]) * _norm2(self.Sigma_XY) * math.prod(norms[i:])
            second = self._chain(W, j + 1, i - 1)
            scale_second = math.prod(norms[j : i - 1])
            r1, r2 = _rank(first, scale_first, rank_rtol), _rank(second, scale_second, rank_rtol)
            out.append(Pivot(i, j, r1, r2, r in (r1, r2)))
        return sorted(out, key=lambda p: (-p.i, p.j))

    def grad_norm(self, W: Any) -> float:
        """max_h ||grad_h R|| / (2 c prod_{k != h} ||W_k|| (||P|| ||Sigma_XX|| + ||Sigma_YX||)): the
        relative size of the gradient, ~1e-16 at an exact critical point."""
        W = self.matrices(W)
        norms = [_norm2(w) for w in W]
        P = self._chain(W, 1, self.H)
        resid = _norm2(P) * _norm2(self.Sigma_XX) + _norm2(self.Sigma_YX)
        worst = 0.0
        for h, g in enumerate(self.gradient(W)):
            scale = 2 * self.c * math.prod(norms[:h] + norms[h + 1 :]) * resid
            size = float(np.linalg.norm(g))
            worst = max(worst, size / scale if scale > 0 else (0.0 if size == 0 else math.inf))
        return worst

    def theory_kind(self, W: Any, grad_rtol: float = 1e-7, rank_rtol: float = 1e-8) -> TheoryReport:
        """Global minimiser / strict saddle / non-strict saddle by the theorem's decision tree
        (Malgouyres 2024, "Figure: Theorem [E. Achour et al.]"),
        with the facts it uses: r = rk(W_H...W_1), S, every pivot with its blocks' ranks."""
        W = self.matrices(W)
        report = TheoryReport(kind="undetermined", r_max=self.r_max, loss=self.risk(W))
        report.grad_norm = self.grad_norm(W)
        if report.grad_norm > grad_rtol:
            report.kind = "not critical"
            report.reasons.append(f"relative gradient norm {report.grad_norm:.3g} > {grad_rtol:g}")
            return report
        report.reasons.append(f"first-order critical point (relative gradient norm {report.grad_norm:.2g})")
        norms = [_norm2(w) for w in W]
        report.r = r = _rank(self._chain(W, 1, self.H), math.prod(norms), rank_rtol)
        report.S, report.association_residual = S, residual = self.associated_subset(W)
        if len(S) != r or residual > math.sqrt(grad_rtol):  # the product is off by ~sqrt(gradient)
            report.reasons.append(
                f"no subset S of size r = {r} fits the Lemma (found S = {S}, residual {residual:.3g}): "
                "tolerances too tight or not a critical point"
            )
            return report
        report.critical_value = self.critical_value(S)
        report.pivots = self.pivots(W, r, rank_rtol)
        report.tight = all(p.tight for p in report.pivots)
        first = tuple(range(1, r + 1))
        report.reasons.append(
            f"r = rk(W_H...W_1) = {r} {'=' if r == self.r_max else '<'} r_max = {self.r_max}; "
            f"S = {set(S) or '{}'}; critical value {'1/2 ' if self.half else ''}(tr(Sigma_YY) - "
            f"sum_(i in S) delta_i^2) = "
            f"{report.critical_value:.10g} (risk {report.loss:.10g})"
        )
        if S != first:
            report.kind = "strict saddle"
            report.reasons.append(f"S != [1, {r}]: a larger delta is left out, strict saddle")
        elif r == self.r_max:
            report.kind = "global minimizer"
            report.reasons.append(f"S = [1, r_max]: global minimiser (value {report.critical_value:.10g})")
        elif report.tight:
            report.kind = "non-strict saddle"
            report.reasons.append(
                f"S = [1, {r}], r < r_max, every pivot tight: non-strict saddle "
                f"(W_H...W_1 = argmin over rk(R) <= {r} of ||RX - Y||^2)"
            )
        else:
            loose = [(p.i, p.j) for p in report.pivots if not p.tight]
            report.kind = "strict saddle"
            report.reasons.append(f"S = [1, {r}], r < r_max, pivots {loose} not tight: strict saddle")
        return report

    def invariants(self, W: Any) -> list[np.ndarray]:
        """:func:`invariants` of W (a list of matrices or a flat vector) on the host."""
        return invariants(self.matrices(W))


def random_problem(
    widths: Sequence[int],
    n: int | None = None,
    delta: Sequence[float] | None = None,
    noise: float = 0.5,
    rng: Any = None,
    half: bool = False,
) -> DeepLinearProblem:
    """A random problem meeting the assumptions, with prescribed singular values ``delta`` of
    Sigma^{1/2} (default: distinct, spread over [1, 3]) and residual ||Y - W* X||^2 = noise^2.

    X = L Q (Q with orthonormal rows, L random invertible), W* = U diag(delta) V^T L^{-1}, and
    Y = W* X + E with E orthogonal to the rows of X, so that Sigma_YX Sigma_XX^{-1} = W*.  ``half``
    as in :class:`DeepLinearProblem`."""
    rng = np.random.default_rng(rng)
    d_x, d_y = int(widths[0]), int(widths[-1])
    n = 2 * d_x + 2 if n is None else int(n)
    if not d_y <= d_x < n:
        raise ValueError(f"random_problem: need d_y <= d_x < n, got d_y = {d_y}, d_x = {d_x}, n = {n}")
    delta = np.linspace(3.0, 1.0, d_y) if delta is None else np.asarray(delta, dtype=np.float64)
    if delta.shape != (d_y,):
        raise ValueError(f"random_problem: delta must have d_y = {d_y} entries, got shape {delta.shape}")
    Q = np.linalg.qr(rng.standard_normal((n, d_x)))[0].T  # (d_x, n), orthonormal rows
    L = _random_invertible(rng, d_x)
    U = np.linalg.qr(rng.standard_normal((d_y, d_y)))[0]
    V = np.linalg.qr(rng.standard_normal((d_x, d_y)))[0]
    W_star = (U * delta) @ V.T @ np.linalg.inv(L)
    E = rng.standard_normal((d_y, n))
    E = E - (E @ Q.T) @ Q
    E *= noise / max(np.linalg.norm(E), 1e-300)
    X = L @ Q
    return DeepLinearProblem(X, W_star @ X + E, widths, half=half)
