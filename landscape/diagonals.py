"""Diagonals of the curvature, per-example gradients and their variance.

``ggn_diag`` and ``hessian_diag`` are exact: one second-order backward pass through the layers
(:mod:`landscape.rules`, after Dangel, Kunstner and Hennig 2020) gives
``diag G = sum_{n,k} sign_nk psi_nk^2`` over the square-root columns of the loss Hessian (and, for
the Hessian, the residual columns of smooth activations).  ``hessian_diag_estimate`` is the
stochastic estimator ``diag H = E[z * (H z)]`` for Rademacher z (Bekas, Kokiopoulou and Saad 2007)
for any ``f`` or :class:`CurvatureOperator`.  Per-example gradients ``g_n`` are the contributions of
the examples to the gradient (``sum_n g_n = grad f``, as BackPACK's ``BatchGrad``).

Results are flat vectors over the selected parameters (``params``: names or patterns, see
:func:`landscape.operators.select`), in the model's order; over a data set (a DataLoader) they are
averaged over the batches with weights n_b / N (float64).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import autodiff as ad
from autodiff.tensor import Tensor
from landscape._core import ScalarFn, check_finite, flat, hvp_many, random_probes, xp_of
from landscape.operators import CurvatureOperator, select, weighted_sum
from landscape.params import ParamSpace
from landscape.rules import LossFactor, Step, backward, loss_factor, record

LossFn = Callable[[Tensor, Any], Tensor]


def _layerwise(
    routine: str,
    model: Any,
    loss_fn: LossFn,
    data: Any,
    params: Any,
    per_layer: Callable[[Step, Tensor, Tensor], dict[str, Tensor]],
    hessian: bool,
    progress: bool,
) -> Tensor:
    """One layer-wise backward pass per batch, ``per_layer(step, cols, signs)`` giving each
    parameter's quantity; flattened in the model's order and averaged over batches."""
    space = ParamSpace(model)
    names = select(routine, space, params)

    def part(X: Any, Y: Any) -> Tensor:
        steps, z = record(routine, model, X)
        found: dict[str, Tensor] = {}

        def visit(step: Step, cols: Tensor, signs: Tensor) -> None:
            for local, value in per_layer(step, cols, signs).items():
                found[step.param_name(local)] = value

        backward(steps, loss_factor(routine, loss_fn, z, Y), set(names), visit, hessian)
        return ad.concatenate([ad.reshape(found[n], (-1,)) for n in names], axis=0)

    out = weighted_sum(routine, data, part, progress)
    check_finite(routine, "the diagonal", out)
    return out


def ggn_diag(model: Any, loss_fn: LossFn, data: Any, params: Any = None, progress: bool = False) -> Tensor:
    """The exact diagonal of the generalised Gauss-Newton matrix ``J^T H_loss J`` of
    ``loss_fn(model(X), Y)`` (an nn.Sequential chain of layers with rules, see
    :data:`landscape.rules.RULES`), over ``data`` ((X, Y) or a DataLoader)."""
    return _layerwise(
        "ggn_diag",
        model,
        loss_fn,
        data,
        params,
        lambda st, c, s: st.rule.diag(st.module, st.x, c, s),
        False,
        progress,
    )


def hessian_diag(
    model: Any, loss_fn: LossFn, data: Any, params: Any = None, progress: bool = False
) -> Tensor:
    """The exact diagonal of the Hessian: the GGN's plus the residuals of smooth activations
    ``diag(sigma''(x) g)`` pulled back through the layers below them."""
    return _layerwise(
        "hessian_diag",
        model,
        loss_fn,
        data,
        params,
        lambda st, c, s: st.rule.diag(st.module, st.x, c, s),
        True,
        progress,
    )


def _gradient_pass(
    routine: str,
    model: Any,
    loss_fn: LossFn,
    X: Any,
    Y: Any,
    params: Any,
    per_layer: Callable[[Step, Tensor], dict[str, Tensor]],
) -> tuple[list[Tensor], int]:
    """One backward pass of the loss's gradient as the only column (sign 1):
    ``per_layer(step, cols)`` for each layer holding selected parameters, in the model's order;
    and N."""
    names = select(routine, ParamSpace(model), params)
    steps, z = record(routine, model, X)
    full = loss_factor(routine, loss_fn, z, Y)
    ones = ad.ones(1, z.shape[0], dtype=z.dtype, device=z.device)
    found: dict[str, Tensor] = {}

    def visit(step: Step, cols: Tensor, signs: Tensor) -> None:
        for local, value in per_layer(step, cols).items():
            found[step.param_name(local)] = value

    backward(steps, LossFactor(full.value, full.grad, ad.expand_dims(full.grad, 0), ones), set(names), visit)
    return [found[n] for n in names], z.shape[0]


def individual_gradients(model: Any, loss_fn: LossFn, X: Any, Y: Any, params: Any = None) -> Tensor:
    """Per-example gradients (N, p_selected): row n is example n's contribution g_n to the gradient
    of ``loss_fn(model(X), Y)`` (one backward pass, one column: the loss's gradient)."""
    parts, n = _gradient_pass(
        "individual_gradients",
        model,
        loss_fn,
        X,
        Y,
        params,
        lambda st, c: {
            k: ad.reshape(v[0], (v.shape[1], -1)) for k, v in st.rule.psi(st.module, st.x, c).items()
        },
    )
    out = ad.concatenate(parts, axis=1)
    check_finite("individual_gradients", "a per-example gradient", out)
    return out


def per_sample_grad_norms(model: Any, loss_fn: LossFn, X: Any, Y: Any, params: Any = None) -> Tensor:
    """``||g_n||`` (N,) of the per-example gradients (see :func:`individual_gradients`), without
    forming them for Linear layers: ``||g_n||^2 = sum_layers ||s_n||^2 ||u_n||^2``."""
    parts, _ = _gradient_pass(
        "per_sample_grad_norms",
        model,
        loss_fn,
        X,
        Y,
        params,
        lambda st, c: {k: v[0] for k, v in st.rule.sq_norms(st.module, st.x, c).items()},
    )
    out = ad.sqrt(sum(parts[1:], parts[0]))
    check_finite("per_sample_grad_norms", "a per-example gradient norm", out)
    return out


def grad_variance(model: Any, loss_fn: LossFn, X: Any, Y: Any, params: Any = None) -> Tensor:
    """The variance over examples of the per-example loss gradients, elementwise, for a loss that
    is the mean over the batch: ``N sum_n g_n^2 - (sum_n g_n)^2`` (= mean of grad l_n^2 minus the
    squared mean, since g_n = grad l_n / N; BackPACK's ``Variance`` is scaled differently),
    from the squares
    ``sum_n g_n^2`` (the diagonal rule with the gradient as column) and the gradient."""

    def per_layer(step: Step, cols: Tensor) -> dict[str, Tensor]:
        ones = ad.ones(1, cols.shape[1], dtype=cols.dtype, device=cols.device)
        squares = step.rule.diag(step.module, step.x, cols, ones)
        grads = step.rule.total(step.module, step.x, cols)
        return {k: ad.stack([ad.reshape(squares[k], (-1,)), ad.reshape(grads[k], (-1,))]) for k in squares}

    parts, n = _gradient_pass("grad_variance", model, loss_fn, X, Y, params, per_layer)
    both = ad.concatenate(parts, axis=1)
    out = n * both[0] - both[1] ** 2
    check_finite("grad_variance", "the gradient variance", out)
    return out


@dataclass
class DiagEstimate:
    """A stochastic estimate of diag H: ``value`` (p,), its elementwise standard error
    ``stderr`` (p,) and the Hessian-vector products used."""

    value: Tensor
    stderr: Tensor
    n_matvec: int


def hessian_diag_estimate(
    f: ScalarFn | CurvatureOperator,
    theta: Any = None,
    n_probes: int = 64,
    seed: int | None = 0,
    batch: int = 32,
) -> DiagEstimate:
    """``diag H ~ (1/m) sum_i z_i * (H z_i)`` for m Rademacher probes (unbiased: E[z z^T] = I;
    entry j has variance ``sum_{l != j} H_jl^2``), for any scalar ``f`` at ``theta`` or an
    operator (then theta is the operator's)."""
    if n_probes < 2:
        raise ValueError(f"hessian_diag_estimate: n_probes must be at least 2, got {n_probes}")
    if isinstance(f, CurvatureOperator):
        theta, matvec = f.theta, f.matvec
    else:
        theta = flat(theta, "hessian_diag_estimate", dtype="float64")
        matvec = lambda vs: hvp_many(f, theta, vs)  # noqa: E731
    xp = xp_of(theta)
    z = random_probes(theta, n_probes, seed)
    samples = xp.concatenate(
        [z.data[lo : lo + batch] * matvec(z[lo : lo + batch]).data for lo in range(0, n_probes, batch)]
    )
    value = Tensor(samples.mean(axis=0))
    check_finite("hessian_diag_estimate", "a Hessian-vector product", value)
    stderr = Tensor(samples.std(axis=0, ddof=1) / math.sqrt(n_probes))
    return DiagEstimate(value, stderr, n_probes)
