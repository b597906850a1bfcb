"""Local geometry of fully-connected ReLU networks (Malgouyres 2024).

For an MLP f_h = sigma(W_h f_{h-1} + b_h) (h < H), f_H = W_H f_{H-1} + b_H:

* the *activation pattern* a(X, theta) in {0, 1}^{(n_1 + ... + n_{H-1}) x n} records, for every
  hidden neuron v (layer h) and example x^j, whether ``[W_h f_{h-1}(x^j) + b_h]_v >= 0``; theta ->
  f_theta(X) is polynomial on the (open) sets where it is constant;
* *positive rescaling*: since sigma(lambda t) = lambda sigma(t) for lambda > 0, multiplying the
  incoming weights and bias of a hidden neuron by lambda and its outgoing weights by 1/lambda
  leaves f_theta unchanged (the non-coercivity argument of the seed).  The tangent of that curve
  at lambda = 1 is a direction v with ``J v = 0`` and ``<grad L, v> = 0`` for any loss of the
  outputs, one per hidden neuron, so ``rank D f_theta(X) <= p - (number of hidden neurons)``.

The model must be a sequence of linear layers (``nn.Linear``) separated by positively
homogeneous activations (ReLU, LeakyReLU): ``nn.MLP(sizes, activation="relu")``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import autodiff as ad
from autodiff.tensor import Tensor
from landscape._core import check_finite, xp_of
from landscape.params import ParamSpace, _nn


@dataclass
class _Layer:
    weight: str  # name of W_h in the ParamSpace
    bias: str | None  # name of b_h, None without bias
    width: int  # n_h
    activation: Any  # the activation module after it (None for the last layer)


def _layers(model: Any, name: str) -> list[_Layer]:
    """The affine layers of a ReLU MLP, checked: Linear, act, Linear, ..., act, Linear with
    positively homogeneous activations, widths chaining."""
    nn = _nn()
    try:
        modules = list(model)
    except TypeError:
        raise TypeError(
            f"relu.{name}: expected a sequential MLP (nn.MLP), got {type(model).__name__}"
        ) from None
    names = {id(p): n for n, p in model.named_parameters()}
    layers: list[_Layer] = []
    for i, module in enumerate(modules):
        expect_linear = i % 2 == 0
        if expect_linear and not isinstance(module, nn.Linear):
            raise TypeError(f"relu.{name}: module {i} of the MLP is {type(module).__name__}, expected Linear")
        if not expect_linear and not isinstance(module, nn.ReLU | nn.LeakyReLU):
            raise TypeError(
                f"relu.{name}: activation {i} is {type(module).__name__}; positive rescaling and activation "
                "patterns need ReLU (or LeakyReLU) between the linear layers"
            )
        if expect_linear:
            if getattr(module, "parametrization", "standard") != "standard":
                raise TypeError(f"relu.{name}: Linear {i} uses the NTK parametrization; use the standard one")
            bias = None if module.bias is None else names[id(module.bias)]
            layers.append(_Layer(names[id(module.weight)], bias, module.out_features, None))
        else:
            layers[-1].activation = module
    if len(modules) % 2 == 0:
        raise TypeError(f"relu.{name}: the MLP must end with a Linear layer")
    return layers


def hidden_neurons(model: Any) -> int:
    """n_1 + ... + n_{H-1}: the number of hidden ReLU neurons."""
    return sum(layer.width for layer in _layers(model, "hidden_neurons")[:-1])


def rank_upper_bound(model: Any) -> int:
    """``p - (number of hidden ReLU neurons)``: the bound on rk D f_theta(X) implied by positive
    rescaling, one flat direction per hidden neuron (Malgouyres 2024)."""
    return ParamSpace(model).p - hidden_neurons(model)


def activation_patterns(model: Any, X: Any, theta: Any = None) -> Tensor:
    """a(X, theta): a boolean tensor (n_1 + ... + n_{H-1}, n), row v for hidden neuron v (layer
    by layer), column j for example j; True where the pre-activation is >= 0 (Malgouyres 2024)."""
    layers = _layers(model, "activation_patterns")
    space = ParamSpace(model)
    theta = space.theta() if theta is None else space._check(theta, "activation_patterns")
    h = X if isinstance(X, Tensor) else ad.tensor(X, device=space.device)
    check_finite("activation_patterns", "theta", theta)
    check_finite("activation_patterns", "X", h)
    values = space.unflatten(theta)
    rows = []
    with ad.no_grad():
        for layer in layers[:-1]:
            z = h @ values[layer.weight].T
            if layer.bias is not None:
                z = z + values[layer.bias]
            rows.append((z >= 0).T)
            h = layer.activation(z)
    return ad.concatenate(rows, axis=0) if len(rows) > 1 else rows[0]


def rescaling_directions(model: Any, theta: Any = None) -> Tensor:
    """The tangents at lambda = 1 of the positive rescalings, one row per hidden neuron
    (shape (n_hidden, p), in ParamSpace coordinates, at ``theta`` or the model's parameters):
    for neuron j of layer h, ``+W_h[j, :]`` and ``+b_h[j]`` in its incoming slots and
    ``-W_{h+1}[:, j]`` in its outgoing ones, zero elsewhere (not normalised).  Along each,
    f_theta(X) is constant to first order: ``J v = 0``."""
    layers = _layers(model, "rescaling_directions")
    space = ParamSpace(model)
    theta = space.theta() if theta is None else space._check(theta, "rescaling_directions").detach()
    check_finite("rescaling_directions", "theta", theta)
    xp = xp_of(theta)
    values = {n: v.data for n, v in space.unflatten(theta).items()}
    directions = xp.zeros((sum(layer.width for layer in layers[:-1]), space.p), dtype=theta.dtype)
    row = 0
    for layer, following in zip(layers[:-1], layers[1:], strict=True):
        n, rows, every = layer.width, slice(row, row + layer.width), xp.arange(layer.width)
        w_in = values[layer.weight]  # (n, n_prev): row j scaled by lambda
        block = xp.zeros((n, n, w_in.shape[1]), dtype=theta.dtype)
        block[every, every, :] = w_in
        directions[rows, space.slice(layer.weight)] = xp.reshape(block, (n, -1))
        if layer.bias is not None:
            start = space.slice(layer.bias).start
            directions[rows, start : start + n] = xp.diag(values[layer.bias])
        w_out = values[following.weight]  # (n_next, n): column j scaled by 1 / lambda
        block = xp.zeros((n, w_out.shape[0], n), dtype=theta.dtype)
        block[every, :, every] = -w_out.T
        directions[rows, space.slice(following.weight)] = xp.reshape(block, (n, -1))
        row += n
    return Tensor(directions)
