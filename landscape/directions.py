"""Directions in parameter space along which to look at the loss.

``random_directions``: Gaussian directions, filter-normalised as in Li, Xu, Taylor, Studer,
Goldstein (2018), *Visualizing the loss landscape of neural nets*: each filter (a row of a
weight matrix: the incoming weights of one neuron, or one output channel of a convolution) of
the direction d is rescaled to the norm of the same filter of the weights,
``d_i <- d_i ||w_i|| / ||d_i||``.  Plots along such directions are unchanged by the positive
rescalings (c W_h, c b_h, W_{h+1} / c) of a ReLU network (Malgouyres 2024, *Nonconvex
optimization landscapes*: non-coercivity by rescaling), which leave the function, and so the loss, unchanged.

``trajectory_pca``: the principal directions of a training trajectory theta_0, ..., theta_n
about its end point (Li et al. 2018, section 7): the surface spanned by the first two shows the
path that training took.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

import autodiff as ad
from autodiff.tensor import Tensor
from landscape._core import flat, xp_of
from landscape.params import ParamSpace

NORMALIZATIONS = ("filter", "layer", "none")
BIAS_MODES = ("zero", "filter")


def random_directions(
    model: Any, k: int = 2, normalize: str = "filter", bias: str = "zero", seed: int | None = 0
) -> Tensor:
    """k random directions (k, p) for the parameters of ``model`` (an nn Module or a
    :class:`ParamSpace`), on their device and dtype.

    ``normalize``: "filter" (each row of every parameter with two or more axes scaled to the
    norm of the same row of the weights), "layer" (each parameter tensor scaled to its norm) or
    "none" (plain Gaussian).  ``bias``: what happens to 1-D parameters (biases, BatchNorm
    weights and biases): "zero" zeroes them (Li et al.'s default), "filter" keeps them, each
    vector scaled to the norm of the parameter as one filter.  The seed fixes the directions."""
    if normalize not in NORMALIZATIONS:
        raise ValueError(f"random_directions: normalize must be one of {NORMALIZATIONS}, not {normalize!r}")
    if bias not in BIAS_MODES:
        raise ValueError(f"random_directions: bias must be one of {BIAS_MODES}, not {bias!r}")
    if k < 1:
        raise ValueError(f"random_directions: k must be >= 1, got {k}")
    space = model if isinstance(model, ParamSpace) else ParamSpace(model)
    theta = space.theta()
    d = ad.random.Generator(seed).randn(k, space.p, dtype=theta.dtype, device=theta.device)
    parts = []
    for shape, lo, size in zip(space.shapes, space.offsets, space.sizes, strict=True):
        block = d[:, lo : lo + size]
        if len(shape) <= 1 and bias == "zero":
            parts.append(ad.zeros_like(block))
            continue
        if normalize == "none":
            parts.append(block)
            continue
        rows = shape[0] if normalize == "filter" and len(shape) >= 2 else 1
        w = ad.reshape(theta[lo : lo + size], (rows, -1))
        g = ad.reshape(block, (k, rows, -1))
        g = g * (ad.norm(w, axis=-1, keepdims=True) / ad.norm(g, axis=-1, keepdims=True))
        parts.append(ad.reshape(g, (k, size)))
    return ad.concatenate(parts, axis=1).detach()


@dataclass
class TrajectoryPCA:
    """``directions`` (2, p), orthonormal; ``coords`` (n, 2) host array: the coordinates of
    theta_i - origin along them; ``origin`` the last point; ``explained`` the fractions of the
    variance of the trajectory along each direction."""

    directions: Tensor
    coords: np.ndarray
    origin: Tensor
    explained: np.ndarray


def trajectory_pca(thetas: Sequence[Any] | Tensor) -> TrajectoryPCA:
    """The first two principal directions of ``thetas`` (n >= 3 points, or an (n, p) tensor):
    with M the rows theta_i - theta_n and M_c = M - mean(M), the top eigenvectors u_1, u_2 of
    M_c M_c^T give the directions v_k = M_c^T u_k / ||M_c^T u_k||; each point's coordinates are
    (M v_1, M v_2)."""
    rows = [flat(t, "trajectory_pca") for t in thetas] if not isinstance(thetas, Tensor) else list(thetas)
    if len(rows) < 3:
        raise ValueError(f"trajectory_pca: needs at least 3 points to span a plane, got {len(rows)}")
    origin = rows[-1]
    M = ad.stack(rows, axis=0) - origin
    centred = M - ad.mean(M, axis=0, keepdims=True)
    gram = centred @ centred.T
    xp = xp_of(gram)
    values, vectors = xp.linalg.eigh(gram.data)
    spectrum = ad.tensor(values).numpy()[::-1]  # explicit host copy: n numbers, for the report
    if spectrum[1] <= spectrum[0] * 1e-12:
        raise ValueError("trajectory_pca: the points lie on a line; there is no second direction")
    top = Tensor(vectors[:, ::-1][:, :2]).astype(M.dtype)
    directions = top.T @ centred
    directions = directions / ad.norm(directions, axis=1, keepdims=True)
    coords = (M @ directions.T).numpy()
    explained = spectrum[:2] / spectrum.clip(min=0).sum()
    return TrajectoryPCA(directions.detach(), coords, origin, explained)
