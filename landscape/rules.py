"""Second-order backward passes through the layers of nn (BackPACK's idea: Dangel, Kunstner and
Hennig, "BackPACK: packing more into backprop", 2020).

For ``f(theta) = loss(model(X), Y)`` with a model that is a chain of layers ``z = m_L(...m_1(X))``
and a loss that is a sum (or mean) of per-example terms, the Hessian of the loss in the output is
block diagonal, ``H_n = V_n diag(lambda_n) V_n^T`` for example n, and the generalised Gauss-Newton
matrix is ``G = sum_n J_n^T H_n J_n = sum_{n,k} sign(lambda_nk) (J_n^T s_nk)(J_n^T s_nk)^T`` with
columns ``s_nk = sqrt|lambda_nk| V_n e_k``.  The columns are pulled back through each layer by its
vector-Jacobian product (the engine's batched backward pass); at a layer with parameters, the
per-example gradient of each column, ``psi_nk = d(s_nk . m(x_n)) / d w``, gives every quantity at
once: diag G = sum sign psi^2, per-example gradients (one column: the gradient of the loss),
Kronecker factors.  The Hessian adds, at each smooth elementwise activation sigma, the residual
``diag(sigma''(x) * g)`` (g the gradient of the loss in the activation's output), whose square-root
columns join the others below that layer (Dangel et al. 2020, section on the Hessian diagonal).

``RULES`` maps each layer type to its rule: ``affine`` layers (Linear, Conv2d) and BatchNorm1d in
evaluation mode have parameters; ``linear`` and ``piecewise`` layers (pooling, Flatten, ReLU) only
pass columns on; ``smooth`` elementwise activations add the Hessian's residual columns.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import autodiff as ad
import nn
from autodiff.engine import backprop
from autodiff.tensor import Tensor
from landscape._core import check_finite, hvp_many, xp_of


def affine_patches(module: Any, x: Tensor, s: Tensor) -> tuple[Tensor, Tensor]:
    """A Linear layer as ``out[n, t] = W u[n, t] + b``: inputs u (N, T, in) and columns s
    (K, N, T, out), T the positions that share the weight (1 for a batch of vectors)."""
    scale = 1.0 if module.parametrization == "standard" else 1 / math.sqrt(module.in_features)
    u = ad.reshape(x, (x.shape[0], -1, x.shape[-1])) * scale
    return u, ad.reshape(s, s.shape[:2] + (-1, s.shape[-1]))


def conv_patches(module: Any, x: Tensor, s: Tensor) -> tuple[Tensor, Tensor]:
    """A Conv2d layer as ``out[n, :, t] = W u[n, t] + b`` over the T output positions: u the
    im2col patches (N, T, C kh kw), s the columns (K, N, T, O)."""
    cols = ad.unfold(x, module.kernel_size, module.stride, module.padding)  # (N, C kh kw, T)
    k, n, o = s.shape[:3]
    return ad.swapaxes(cols, 1, 2), ad.swapaxes(ad.reshape(s, (k, n, o, -1)), 2, 3)


def norm_patches(module: Any, x: Tensor, s: Tensor) -> tuple[Tensor, Tensor]:
    """BatchNorm1d in evaluation mode, ``out = xhat * w + b`` with the running statistics:
    xhat (N, C, L) and columns (K, N, C, L) (L = 1 for (N, C) inputs)."""
    shape = (x.shape[1],) + (1,) * (x.ndim - 2)
    mean, var = ad.reshape(module.running_mean, shape), ad.reshape(module.running_var, shape)
    xhat = (x - mean) / ad.sqrt(var + module.eps)
    return ad.reshape(xhat, xhat.shape[:2] + (-1,)), ad.reshape(s, s.shape[:3] + (-1,))


def _sigmoid_second(module: Any, x: Tensor) -> Tensor:
    """sigmoid'' = s (1 - s) (1 - 2 s)."""
    s = ad.sigmoid(x)
    return s * (1 - s) * (1 - 2 * s)


def _softplus_second(module: Any, x: Tensor) -> Tensor:
    """softplus_beta'' = beta s (1 - s) with s = sigmoid(beta x)."""
    s = ad.sigmoid(module.beta * x)
    return module.beta * s * (1 - s)


def _tanh_second(module: Any, x: Tensor) -> Tensor:
    """tanh'' = -2 tanh (1 - tanh^2)."""
    t = ad.tanh(x)
    return -2 * t * (1 - t * t)


@dataclass(frozen=True)
class Rule:
    """How the second-order backward pass treats one layer type: ``kind`` is ``"affine"``
    (weight and bias shared over positions), ``"norm"`` (elementwise weight and bias),
    ``"linear"``, ``"piecewise"`` (zero curvature almost everywhere) or ``"smooth"`` (elementwise,
    with a second derivative); ``patches`` rewrites the layer's input and columns for the first two;
    ``second(module, x)`` is sigma''(x) in closed form (None: from a Hessian-vector product)."""

    kind: str
    patches: Callable[[Any, Tensor, Tensor], tuple[Tensor, Tensor]] | None = None
    second: Callable[[Any, Tensor], Tensor] | None = None

    def one_position(self, x: Tensor) -> bool:
        """A Linear layer on a batch of vectors: psi is an outer product, never formed."""
        return self.patches is affine_patches and x.ndim == 2

    def psi(self, module: Any, x: Tensor, s: Tensor) -> dict[str, Tensor]:
        """Per-example, per-column gradients ``{name: (K, N, *shape)}`` of the layer's
        parameters for columns s (K, N, *out) at input x."""
        u, s = self.patches(module, x, s)
        k, n = s.shape[:2]
        out = {}
        if self.kind == "affine":
            out["weight"] = ad.reshape(ad.swapaxes(s, -1, -2) @ u, (k, n) + module.weight.shape)
            if module.bias is not None:
                out["bias"] = ad.sum(s, axis=2)
        elif module.weight is not None:
            out["weight"] = ad.sum(s * u, axis=-1)
            out["bias"] = ad.sum(s, axis=-1)
        return out

    def diag(self, module: Any, x: Tensor, s: Tensor, signs: Tensor) -> dict[str, Tensor]:
        """``sum_{k,n} sign_kn psi_kn^2`` for each parameter; at one position without forming
        psi: ``w^T u^2`` with ``w = sum_k sign s^2`` (N, out)."""
        if self.one_position(x):
            u, s = self.patches(module, x, s)
            w = ad.sum(ad.expand_dims(signs, -1) * s[:, :, 0] ** 2, axis=0)
            out = {"weight": w.mT @ u[:, 0] ** 2}
            if module.bias is not None:
                out["bias"] = ad.sum(w, axis=0)
            return out
        return {
            name: ad.sum(ad.reshape(signs, signs.shape + (1,) * (g.ndim - 2)) * g**2, axis=(0, 1))
            for name, g in self.psi(module, x, s).items()
        }

    def total(self, module: Any, x: Tensor, s: Tensor) -> dict[str, Tensor]:
        """``sum_{k,n} psi_kn`` for each parameter (the gradient, for the loss's gradient as the
        column); at one position: ``sum_k s_k^T u``."""
        if self.one_position(x):
            u, s = self.patches(module, x, s)
            out = {"weight": ad.sum(s[:, :, 0].mT @ u[:, 0], axis=0)}
            if module.bias is not None:
                out["bias"] = ad.sum(s[:, :, 0], axis=(0, 1))
            return out
        return {name: ad.sum(g, axis=(0, 1)) for name, g in self.psi(module, x, s).items()}

    def sq_norms(self, module: Any, x: Tensor, s: Tensor) -> dict[str, Tensor]:
        """``||psi_kn||^2`` (K, N) for each parameter; at one position without forming psi:
        ``||s||^2 ||u||^2``."""
        if self.one_position(x):
            u, s = self.patches(module, x, s)
            s2 = ad.sum(s[:, :, 0] ** 2, axis=-1)
            out = {"weight": s2 * ad.sum(u[:, 0] ** 2, axis=-1)}
            if module.bias is not None:
                out["bias"] = s2
            return out
        return {
            name: ad.sum(ad.reshape(g**2, g.shape[:2] + (-1,)), axis=-1)
            for name, g in self.psi(module, x, s).items()
        }

    def kron(
        self, module: Any, x: Tensor, s: Tensor, signs: Tensor
    ) -> dict[str, tuple[Tensor, Tensor | None]]:
        """Kronecker factors ``{name: (B, A)}``: the weight's GGN block is approximated by
        ``B (x) A`` with ``A = (1/N) sum_{n,t} u u^T`` and ``B = (1/T) sum_{k,n,t} sign s s^T``
        (exact for T = 1 when every H_n is the same); the bias block is exact, ``(B_b, None)``."""
        u, s = self.patches(module, x, s)
        n, t = u.shape[:2]
        rows_u = ad.reshape(u, (-1, u.shape[-1]))  # (N T, in): the sums over n, t are one product
        weighted = ad.reshape(signs, signs.shape + (1, 1)) * s
        rows_s = ad.reshape(s, (-1, s.shape[-1]))
        out: dict[str, tuple[Tensor, Tensor | None]] = {
            "weight": (ad.reshape(weighted, rows_s.shape).mT @ rows_s / t, rows_u.mT @ rows_u / n)
        }
        if module.bias is not None:
            summed = ad.reshape(ad.sum(s, axis=2), (-1, s.shape[-1]))
            out["bias"] = (ad.reshape(ad.sum(weighted, axis=2), summed.shape).mT @ summed, None)
        return out


RULES: dict[type, Rule] = {
    nn.Linear: Rule("affine", affine_patches),
    nn.Conv2d: Rule("affine", conv_patches),
    nn.BatchNorm1d: Rule("norm", norm_patches),
    nn.Flatten: Rule("linear"),
    nn.Identity: Rule("linear"),
    nn.AvgPool2d: Rule("linear"),
    nn.Dropout: Rule("linear"),
    nn.MaxPool2d: Rule("piecewise"),
    nn.ReLU: Rule("piecewise"),
    nn.LeakyReLU: Rule("piecewise"),
    nn.Tanh: Rule("smooth", second=_tanh_second),
    nn.Sigmoid: Rule("smooth", second=_sigmoid_second),
    nn.Softplus: Rule("smooth", second=_softplus_second),
    nn.GELU: Rule("smooth"),
}

EVAL_ONLY = (nn.BatchNorm1d, nn.Dropout)


@dataclass
class Step:
    """One layer of the recorded forward pass: its path ``name``, ``module``, ``rule``, the
    input ``x`` (a fresh leaf) and the ``out`` recorded from it."""

    name: str
    module: Any
    rule: Rule
    x: Tensor
    out: Tensor

    def param_name(self, local: str) -> str:
        return f"{self.name}.{local}" if self.name else local

    def pull(self, cotangent: Tensor) -> Tensor:
        """``J^T c`` of the layer for cotangents c (N, *out) or a batch (K, N, *out)."""
        z = backprop([self.out], [cotangent.data], targets=[self.x], retain_graph=True, accumulate=False)
        return Tensor(z[self.x])


def rule_for(routine: str, name: str, module: Any) -> Rule:
    """The rule of ``module`` (by its type or a base class), or a TypeError naming the layer."""
    for cls in type(module).__mro__:
        if cls in RULES:
            if isinstance(module, EVAL_ONLY) and module.training:
                raise ValueError(
                    f"{routine}: layer '{name}' ({type(module).__name__}) is in training mode; its "
                    "curvature is taken in evaluation mode: call model.eval() first"
                )
            return RULES[cls]
    known = ", ".join(sorted(cls.__name__ for cls in RULES))
    raise TypeError(
        f"{routine}: no curvature rule for layer '{name or type(module).__name__}' "
        f"({type(module).__name__}); the layer-wise backward pass knows {known} in nn.Sequential "
        "chains. For other models use the matrix-free routines (hessian_diag_estimate, "
        "CurvatureOperator)"
    )


def chain(routine: str, model: Any, prefix: str = "") -> list[tuple[str, Any, Rule]]:
    """The layers of ``model`` in order (nested Sequentials flattened) with their rules."""
    if isinstance(model, nn.Sequential) and type(model).forward is nn.Sequential.forward:
        return [
            layer
            for name, child in model._modules.items()
            for layer in chain(routine, child, f"{prefix}{name}.")
        ]
    name = prefix[:-1]
    return [(name, model, rule_for(routine, name, model))]


def record(routine: str, model: Any, X: Tensor) -> tuple[list[Step], Tensor]:
    """Run the model layer by layer, each from a fresh leaf, keeping every layer's graph."""
    steps, h = [], X
    with ad.enable_grad():
        for name, module, rule in chain(routine, model):
            x = Tensor(h.data, requires_grad=True)
            out = module(x)
            steps.append(Step(name, module, rule, x, out))
            h = out
    return steps, Tensor(h.data)


@dataclass
class LossFactor:
    """The loss at the output z: its ``value``, gradient ``grad`` (N, *out), and the columns
    ``cols`` (K, N, *out) and signs (K, N) of its per-example Hessian blocks."""

    value: Tensor
    grad: Tensor
    cols: Tensor
    signs: Tensor


def _cross_entropy_columns(z: Tensor, Y: Any) -> Tensor | None:
    """``H_n = (diag p - p p^T) / N = S S^T`` with ``S = (diag sqrt(p) - p sqrt(p)^T) / sqrt(N)``
    (p = softmax(z_n); sqrt(p) . sqrt(p) = 1), for class-index targets; None otherwise."""
    if z.ndim != 2 or not isinstance(Y, Tensor) or Y.dtype.kind not in "iu" or Y.shape != z.shape[:1]:
        return None
    p = ad.softmax(z, axis=-1)
    eye = ad.eye(z.shape[1], dtype=z.dtype, device=z.device)
    return ad.expand_dims(ad.sqrt(p).mT, -1) * (ad.expand_dims(eye, 1) - p) / math.sqrt(z.shape[0])


def _mse_columns(z: Tensor, Y: Any) -> Tensor:
    """``H_n = 2 / (N c) I`` for the mean of squared errors over N examples of c entries."""
    c = math.prod(z.shape[1:])
    eye = ad.reshape(ad.eye(c, dtype=z.dtype, device=z.device), (c, 1) + z.shape[1:])
    return ad.broadcast_to(eye * math.sqrt(2 / z.size), (c,) + z.shape)


# Losses whose Hessian's square root is known in closed form (nn's, with their default reduction).
CLOSED_FORMS: dict[Any, Callable[[Tensor, Any], Tensor | None]] = {
    nn.functional.cross_entropy: _cross_entropy_columns,
    nn.functional.mse_loss: _mse_columns,
}


def loss_factor(routine: str, loss_fn: Callable[..., Tensor], z: Tensor, Y: Any) -> LossFactor:
    """The loss at the output z (N, ...), its gradient, and the square-root columns of its
    per-example Hessian blocks ``H_n`` (C x C): in closed form for nn's cross-entropy and squared
    error (:data:`CLOSED_FORMS`), otherwise from C Hessian-vector products (direction j in every
    example at once: row n gives column j of H_n) and ``H_n = V diag(lambda) V^T`` on the device
    (columns ``V sqrt|lambda|``, signs of lambda)."""
    xp = xp_of(z)
    n, c = z.shape[0], math.prod(z.shape[1:])

    def loss_flat(q: Tensor) -> Tensor:
        return loss_fn(ad.reshape(q, z.shape), Y)

    zf = ad.reshape(z, (-1,))
    with ad.enable_grad():
        leaf = Tensor(zf.data, requires_grad=True)
        value = loss_flat(leaf)
    check_finite(routine, "the loss", value)
    (grad,) = ad.gradients(value, [leaf])
    grad = ad.reshape(grad.detach(), z.shape)
    closed = CLOSED_FORMS.get(loss_fn)
    cols = None if closed is None else closed(z, Y)
    if cols is not None:
        return LossFactor(value.detach(), grad, cols, ad.ones(c, n, dtype=z.dtype, device=z.device))
    eye = xp.broadcast_to(xp.eye(c, dtype=z.dtype)[:, None, :], (c, n, c))
    hcols = hvp_many(loss_flat, zf, Tensor(xp.reshape(eye, (c, -1))))  # (c, N c): [j, (n, i)] = H_n[i, j]
    check_finite(routine, "the Hessian of the loss in the output", hcols)
    blocks = xp.transpose(xp.reshape(hcols.data, (c, n, c)), (1, 2, 0))
    lam, vec = xp.linalg.eigh((blocks + xp.swapaxes(blocks, 1, 2)) / 2)
    cols = xp.transpose(vec * xp.sqrt(xp.abs(lam))[:, None, :], (2, 0, 1))  # (K = c, N, c)
    return LossFactor(
        value.detach(), grad, Tensor(xp.reshape(cols, (c,) + z.shape)), Tensor(xp.sign(lam).T.astype(z.dtype))
    )


def second_derivative(step: Step) -> Tensor:
    """sigma''(x) of an elementwise activation: its closed form, or the Hessian of sum sigma(x)
    times ones."""
    module, x = step.module, step.x.detach()
    if step.rule.second is not None:
        return step.rule.second(module, x)
    ones = ad.ones(1, x.size, dtype=x.dtype, device=x.device)
    flat_x = ad.reshape(x.detach(), (-1,))
    return ad.reshape(hvp_many(lambda y: ad.sum(module(ad.reshape(y, x.shape))), flat_x, ones)[0], x.shape)


def backward(
    steps: list[Step],
    factor: LossFactor,
    wanted: set[str],
    visit: Callable[[Step, Tensor, Tensor], None],
    hessian: bool = False,
) -> None:
    """Pull the loss's columns down the layers, calling ``visit(step, cols, signs)`` at each layer
    holding a ``wanted`` parameter; with ``hessian``, smooth activations add their residual
    columns ``sqrt|sigma''(x) g| e_d`` (signs of ``sigma''(x) g``).  Stops below the last wanted
    layer."""
    xp = xp_of(factor.cols)
    cols, signs, g = factor.cols, factor.signs, factor.grad
    lowest = min(
        (i for i, st in enumerate(steps) if any(st.param_name(p) in wanted for p in param_names(st))),
        default=len(steps),
    )
    for i in range(len(steps) - 1, lowest - 1, -1):
        step = steps[i]
        if any(step.param_name(p) in wanted for p in param_names(step)):
            visit(step, cols, signs)
        if i == lowest:
            break
        below = step.pull(cols)
        if hessian and step.rule.kind == "smooth":
            r = second_derivative(step) * g  # (N, *in)
            n, d = r.shape[0], math.prod(r.shape[1:])
            eye = xp.reshape(xp.eye(d, dtype=r.dtype), (d, 1) + r.shape[1:])
            extra = eye * xp.sqrt(xp.abs(r.data))[None]
            below = Tensor(xp.concatenate([below.data, extra], axis=0))
            signs = Tensor(xp.concatenate([signs.data, xp.reshape(xp.sign(r.data), (n, d)).T], axis=0))
        if hessian:
            g = step.pull(g)
        cols = below


def param_names(step: Step) -> list[str]:
    """The local names of the layer's parameters ("weight", "bias")."""
    return (
        [name for name, _ in step.module.named_parameters()] if step.rule.kind in ("affine", "norm") else []
    )
