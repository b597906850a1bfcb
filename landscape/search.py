"""Finding critical points of any index: saddles as well as minima.

Gradient descent runs away from saddles; to *find* them (and then ``classify`` them) one solves
grad f(theta) = 0 instead:

* ``"newton"``: Newton's method on the gradient, ``H d = -g`` solved in the least-squares,
  minimum-norm sense through the dense eigendecomposition (eigenvalues below ``rcond`` times
  the largest are dropped), so singular and indefinite Hessians are fine;
* ``"newton-mr"``: the same step computed matrix-free by MINRES on Hessian-vector products
  (Newton-MR, Roosta, Liu, Xu & Mahoney 2022); MINRES handles indefinite and singular systems;
* ``"gradnorm"``: minimisation of m(theta) = ||grad f||^2 / 2, whose gradient is H g (one
  Hessian-vector product), by gradient steps with Barzilai-Borwein lengths and backtracking.
  Its own stationary points include every theta with H g = 0, g != 0, which are not critical
  points of f; it warns when it stalls at one.

Both Newton variants backtrack on the merit ||grad f||^2, non-monotonically (Grippo, Lampariello
& Lucidi 1986): the step length halves until ``m(theta + a d) <= max(last 10 m) + c a (d/da) m``,
the slope being ``2 g^T H d``; allowing the merit to rise for a few steps lets the full Newton
step through curved valleys (Rosenbrock) where a monotone search stalls at a point with
H g = 0.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import autodiff as ad
from autodiff.tensor import Tensor
from landscape._core import EPS64, NonFiniteError, ScalarFn, check_finite, flat, within, xp_of
from landscape.curvature import hessian

METHODS = ("newton", "newton-mr", "gradnorm")


@dataclass
class SearchResult:
    """``theta`` reached, its ``value`` and ``grad_norm``, whether ``converged`` (grad_norm <=
    ``tol``), ``n_iter``, the ``method``, the ``history`` of gradient norms and a ``message``."""

    theta: Tensor
    value: float
    grad_norm: float
    converged: bool
    n_iter: int
    method: str
    tol: float
    history: list[float] = field(default_factory=list)
    message: str = ""


def minres(
    matvec: Callable[[Any], Any], b: Any, rtol: float = 1e-10, max_iter: int | None = None
) -> tuple[Any, int]:
    """MINRES (Paige & Saunders 1975) for ``A x = b``, A symmetric, possibly indefinite or
    singular (then the least-squares solution): Lanczos on A with the tridiagonal system solved by
    Givens rotations, minimising ||b - A x|| over the growing Krylov space.  Stops when
    ||r|| <= rtol ||A|| ||x|| or ||A r|| <= rtol ||A|| ||r||, or when A looks singular to
    working precision.  Returns (x, iterations).  Raw device arrays in and out."""
    xp = xp_of(b)
    n = b.shape[0]
    max_iter = max_iter or 5 * n
    x = xp.zeros_like(b)
    beta1 = xp.linalg.norm(b).item()
    if beta1 == 0:
        return x, 0
    r1 = r2 = y = b
    oldb, beta, dbar, epsln, phibar, cs, sn = 0.0, beta1, 0.0, 0.0, beta1, -1.0, 0.0
    tnorm2, gmax, gmin = 0.0, 0.0, math.inf
    w = w2 = xp.zeros_like(b)
    for itn in range(1, max_iter + 1):
        v = y / beta
        y = matvec(v)
        if itn >= 2:
            y = y - (beta / oldb) * r1
        alfa = xp.dot(v, y).item()
        y = y - (alfa / beta) * r2
        r1, r2 = r2, y
        oldb, beta = beta, xp.linalg.norm(y).item()
        tnorm2 += alfa**2 + oldb**2 + beta**2
        oldeps, delta = epsln, cs * dbar + sn * alfa
        gbar = sn * dbar - cs * alfa
        epsln, dbar = sn * beta, -cs * beta
        root = math.hypot(gbar, dbar)
        gamma = max(math.hypot(gbar, beta), EPS64)
        cs, sn = gbar / gamma, beta / gamma
        phi, phibar = cs * phibar, sn * phibar
        w1, w2 = w2, w
        w = (v - oldeps * w1 - delta * w2) / gamma
        x = x + phi * w
        gmax, gmin = max(gmax, gamma), min(gmin, gamma)
        anorm = math.sqrt(tnorm2)
        xnorm = xp.linalg.norm(x).item()
        consistent = phibar <= rtol * anorm * xnorm
        least_squares = root <= rtol * anorm  # ||A r|| / (||A|| ||r||)
        if consistent or least_squares or gmax / gmin >= 0.1 / EPS64 or beta <= EPS64 * anorm:
            return x, itn
    return x, max_iter


def _newton_step(f: ScalarFn, theta: Tensor, grad: Any, method: str, rcond: float) -> Any:
    """The least-squares Newton direction d with H d = -g (raw array)."""
    xp = xp_of(theta)
    if method == "newton":
        try:
            h = hessian(f, theta).data
        except NonFiniteError as error:
            raise within("find_critical_point", error) from None
        lam, vec = xp.linalg.eigh(0.5 * (h + h.T))
        cut = rcond * xp.abs(lam).max().item()
        keep = xp.abs(lam) > cut
        inverse = xp.where(keep, 1.0 / xp.where(keep, lam, 1.0), 0.0)
        return -xp.matmul(vec, inverse * xp.matmul(grad, vec))

    def matvec(v: Any) -> Any:
        return ad.hvp(f, theta, Tensor(v)).data

    step, _ = minres(matvec, -grad, rtol=rcond)
    check_finite("find_critical_point", "the Newton-MR step (from Hessian-vector products)", step)
    return step


def _result(
    x: Any, value: float, norm: float, tol: float, history: list[float], method: str, message: str
) -> SearchResult:
    converged = norm <= tol
    return SearchResult(
        Tensor(x),
        value,
        norm,
        converged,
        len(history) - 1,
        method,
        tol,
        history,
        "converged" if converged else message,
    )


def _merit(grad_of: Callable, theta: Any) -> tuple[float, Any]:
    value, grad = grad_of(Tensor(theta))
    return value.item(), grad.data


def find_critical_point(
    f: ScalarFn,
    theta0: Any,
    method: str = "newton",
    tol: float | None = None,
    max_iter: int | None = None,
    rcond: float = 1e-10,
    armijo: float = 1e-4,
    window: int = 10,
) -> SearchResult:
    """Solve grad f(theta) = 0 from ``theta0`` by ``method`` (see the module doc); converges to
    saddles as well as minima.  ``tol``: stop when ||grad f|| <= tol (default 1e-12 max(1,
    ||grad f(theta0)||)).  ``max_iter`` defaults to 100 (Newton) or 5000 (gradnorm).  Warns
    when ``gradnorm`` stalls where H g ~ 0 but g != 0."""
    if method not in METHODS:
        raise ValueError(f"find_critical_point: method must be one of {METHODS}, not {method!r}")
    if max_iter is not None and (not isinstance(max_iter, int) or max_iter < 0):
        raise ValueError(f"find_critical_point: max_iter must be an int >= 0 or None, got {max_iter!r}")
    theta = flat(theta0, "find_critical_point", dtype="float64")
    xp = xp_of(theta)
    grad_of = ad.value_and_grad(f)
    value, grad = _merit(grad_of, theta.data)
    norm = xp.linalg.norm(grad).item()
    check_finite("find_critical_point", f"f at theta0 (= {value})", value)
    check_finite("find_critical_point", f"the gradient at theta0 (norm {norm})", norm)
    tol = 1e-12 * max(1.0, norm) if tol is None else tol
    history = [norm]
    if method == "gradnorm":
        return _gradnorm(f, theta, value, grad, tol, 5000 if max_iter is None else max_iter, history)
    max_iter = 100 if max_iter is None else max_iter
    x = theta.data
    message = "converged"
    for _ in range(max_iter):
        if norm <= tol:
            break
        point = Tensor(x)
        d = _newton_step(f, point, grad, method, rcond)
        slope = 2 * xp.dot(grad, ad.hvp(f, point, Tensor(d)).data).item()
        if not slope < 0:
            message = "stalled: the Newton direction does not decrease ||grad f||^2 (g orthogonal to range H)"
            break
        merit, step = max(history[-window:]) ** 2, 1.0
        while step > 1e-12:
            new_value, new_grad = _merit(grad_of, x + step * d)
            new_norm = xp.linalg.norm(new_grad).item()
            if new_norm**2 <= merit + armijo * step * slope:
                break
            step *= 0.5
        else:
            message = "stalled: backtracking found no decrease of ||grad f||^2"
            break
        x, value, grad, norm = x + step * d, new_value, new_grad, new_norm
        history.append(norm)
    else:
        message = f"not converged in {max_iter} iterations"
    return _result(x, value, norm, tol, history, method, message)


def _gradnorm(
    f: ScalarFn, theta: Tensor, value: float, grad: Any, tol: float, max_iter: int, history: list[float]
) -> SearchResult:
    """Minimise ||grad f||^2 / 2 (gradient H g) with Barzilai-Borwein steps and backtracking."""
    xp = xp_of(theta)
    grad_of = ad.value_and_grad(f)
    x, norm = theta.data, history[-1]
    hg = ad.hvp(f, theta, Tensor(grad)).data
    step, curvature_seen, message = 1.0, 0.0, f"not converged in {max_iter} iterations"
    for _ in range(max_iter):
        if norm <= tol:
            message = "converged"
            break
        hg_norm = xp.linalg.norm(hg).item()
        curvature_seen = max(curvature_seen, hg_norm / norm)
        if hg_norm <= 1e-8 * curvature_seen * norm:
            message = (
                f"stalled where H g ~ 0 but |g| = {norm:.3g}: a stationary point of ||grad f||^2 that "
                "is not a critical point of f; try method='newton'"
            )
            warnings.warn(f"find_critical_point(gradnorm): {message}", RuntimeWarning, stacklevel=3)
            break
        merit = 0.5 * norm**2
        while True:
            new_x = x - step * hg
            new_value, new_grad = _merit(grad_of, new_x)
            new_norm = xp.linalg.norm(new_grad).item()
            if 0.5 * new_norm**2 <= merit - 1e-4 * step * hg_norm**2:
                break
            step *= 0.5
            if step < 1e-30:
                break
        if step < 1e-30:
            message = "stalled: backtracking found no decrease of ||grad f||^2"
            break
        new_hg = ad.hvp(f, Tensor(new_x), Tensor(new_grad)).data
        s, yv = new_x - x, new_hg - hg
        sy = xp.dot(s, yv).item()
        step = xp.dot(s, s).item() / sy if sy > 0 else 2 * step  # Barzilai-Borwein (long) step
        x, value, grad, norm, hg = new_x, new_value, new_grad, new_norm, new_hg
        history.append(norm)
    return _result(x, value, norm, tol, history, "gradnorm", message)
