"""The Polyak-Lojasiewicz inequality (Scaman 2024).

L satisfies the mu-PL condition when ``||grad L(theta)||^2 >= 2 mu (L(theta) - L*)``; then
gradient descent converges linearly to the global minimum value L*, convexity or not.  Example
from the seed: ``L(theta) = (theta_1 - cos theta_2)^2`` has ``||grad L||^2 = 4 L (1 + sin^2
theta_2) >= 4 L``.

For the square loss ``L(theta) = (1/N) sum_i ||g_theta(x_i) - y_i||^2`` the seed's theorem: if
``sigma_min(J^T) >= eps``, J = D_theta g_theta(X) of shape (N out, p), then PL holds with
``mu = 4 eps^2 / N``.  Indeed grad L = (2/N) J^T r, r the residuals, so
``||grad L||^2 = (4/N^2) ||J^T r||^2 >= (4 eps^2 / N^2) ||r||^2 = (4 eps^2 / N) L``: the seed's mu is
the constant c in ``||grad L||^2 >= c (L - L*)`` (L* = 0 when the model can interpolate), i.e.
2 mu in the definition's normalisation.  ``pl_ratio`` measures the same quantity,
``||grad f||^2 / (f - f*)``, so along a run ``pl_ratio >= pl_constant(...).mu`` wherever the
Jacobian bound holds.  sigma_min(J^T)^2 is the smallest eigenvalue of the kernel J J^T (the
slides *¿Por qué la solución al problema de optimalidad funciona?*).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import autodiff as ad
from autodiff.tensor import Tensor
from landscape._core import NonFiniteError, ScalarFn, check_finite, flat, within
from landscape.jacobian import ntk
from landscape.params import ParamSpace, check_model


@dataclass
class PLConstant:
    """``mu = 4 sigma_min^2 / N`` (Scaman 2024) with ``sigma_min = sigma_min(J^T)`` (0 when
    N out > p: J^T then has a kernel), N examples of ``out`` outputs; with targets, ``loss`` the
    square loss (1/N) sum_i ||g(x_i) - y_i||^2 and the guaranteed ``grad_norm_sq_bound = mu loss``."""

    mu: float
    sigma_min: float
    n_samples: int
    out_dim: int
    loss: float | None = None
    grad_norm_sq_bound: float | None = None


def pl_constant(model: Any, X: Any, Y: Any = None, theta: Any = None) -> PLConstant:
    """The PL constant implied at theta (default: the model's parameters) for the square loss
    ``(1/N) sum_i ||g_theta(x_i) - y_i||^2`` by the smallest singular value of the Jacobian
    (Scaman 2024: ``mu = 4 eps^2 / N``).  ``nn.functional.mse_loss`` averages over all N out
    entries, mse = L / out, so for it ``||grad mse||^2 >= (mu / out) mse``.  Y is optional: it
    only adds the loss and the bound on ||grad L||^2."""
    check_model("pl_constant", model)
    space = ParamSpace(model)
    X = X if isinstance(X, Tensor) else ad.tensor(X, device=space.device)
    try:
        kernel = ntk(model, X, theta=theta)
    except NonFiniteError as error:
        raise within("pl_constant", error) from None
    n = X.shape[0]
    m = kernel.kernel.shape[0]
    out_dim = m // n
    lam = max(kernel.lambda_min, 0.0) if m <= space.p else 0.0
    sigma_min = lam**0.5
    mu = 4 * lam / n
    if Y is None:
        return PLConstant(mu, sigma_min, n, out_dim)
    th = space.theta() if theta is None else theta
    with ad.no_grad():
        pred = space.call(th, X)
        Y = Y if isinstance(Y, Tensor) else ad.tensor(Y, device=space.device)
        loss = (ad.sum((ad.reshape(pred, (n, -1)) - ad.reshape(Y, (n, -1))) ** 2) / n).item()
    return PLConstant(mu, sigma_min, n, out_dim, loss, mu * loss)


def _ratio(f: ScalarFn, theta: Any, f_star: float) -> float:
    theta = flat(theta, "pl_ratio")
    value, grad = ad.value_and_grad(f)(theta)
    check_finite("pl_ratio", "f", value)
    check_finite("pl_ratio", "the gradient", grad)
    gap = value.item() - f_star
    if gap <= 0:
        return float("inf") if ad.sum(grad * grad).item() > 0 else float("nan")
    return ad.sum(grad * grad).item() / gap


def pl_ratio(f: ScalarFn, theta: Any, f_star: float = 0.0) -> float | list[float]:
    """``||grad f(theta)||^2 / (f(theta) - f*)``, the best constant c with ``||grad f||^2 >= c
    (f - f*)`` at theta (2 mu in the definition's normalisation).  ``theta`` may be one flat
    vector or a sequence of them (the iterates of a training run), giving a list.  At f = f*
    the ratio is nan (0/0) or inf."""
    if isinstance(theta, Sequence) and not isinstance(theta, str) and theta and not _is_number(theta[0]):
        return [_ratio(f, t, f_star) for t in theta]
    if isinstance(theta, Tensor) and theta.ndim == 2:
        return [_ratio(f, theta[i], f_star) for i in range(theta.shape[0])]
    return _ratio(f, theta, f_star)


def _is_number(x: Any) -> bool:
    return isinstance(x, int | float)
