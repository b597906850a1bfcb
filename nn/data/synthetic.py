"""Synthetic data sets made on the spot, seeded: Gaussian mixtures, two moons, spirals,
teacher-student networks and linear regression with chosen singular values.

Numbers are drawn on the host (NumPy's PCG64 through ``ad.random.Generator``) and copied to the
device once, so a seed gives the same data on every device.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

import autodiff as ad
from autodiff.random import Generator
from nn.data.loader import TensorDataset


def _dataset(x: np.ndarray, y: np.ndarray, dtype: Any, device: str | None, **meta: Any) -> TensorDataset:
    """Inputs in ``dtype`` (the default float dtype when None); integer labels stay int64."""
    dtype = dtype or ad.get_default_dtype()
    labels = y.dtype if y.dtype.kind in "iu" else dtype
    return TensorDataset(
        ad.tensor(x, dtype=dtype, device=device), ad.tensor(y, dtype=labels, device=device), meta=meta
    )


def gaussian_mixture(
    n: int,
    centers: int | Sequence[Sequence[float]] = 3,
    dim: int = 2,
    std: float = 0.5,
    spread: float = 3.0,
    seed: int = 0,
    dtype: Any = None,
    device: str | None = None,
) -> TensorDataset:
    """n points from k isotropic Gaussians N(c_j, std^2 I), labels j; the centers are given or
    drawn N(0, spread^2 I) in R^dim.  Classes are balanced (n // k each, the rest to the first)."""
    rng = Generator(seed).numpy()
    means = (
        np.asarray(centers, dtype=float)
        if not isinstance(centers, int)
        else rng.normal(0, spread, (centers, dim))
    )
    k = len(means)
    y = np.arange(n) % k
    x = means[y] + std * rng.standard_normal((n, means.shape[1]))
    return _dataset(x, y, dtype, device, centers=means)


def two_moons(
    n: int, noise: float = 0.1, seed: int = 0, dtype: Any = None, device: str | None = None
) -> TensorDataset:
    """Two interleaving half circles (scikit-learn's make_moons): class 0 on
    (cos t, sin t), class 1 on (1 - cos t, 1/2 - sin t), t in [0, pi], plus Gaussian noise."""
    rng = Generator(seed).numpy()
    y = np.arange(n) % 2
    t = rng.uniform(0, np.pi, n)
    x = np.where(
        y[:, None] == 0, np.stack([np.cos(t), np.sin(t)], 1), np.stack([1 - np.cos(t), 0.5 - np.sin(t)], 1)
    )
    return _dataset(x + noise * rng.standard_normal((n, 2)), y, dtype, device)


def spirals(
    n: int,
    arms: int = 2,
    turns: float = 1.5,
    noise: float = 0.05,
    seed: int = 0,
    dtype: Any = None,
    device: str | None = None,
) -> TensorDataset:
    """``arms`` interleaved spirals r (cos(theta + 2 pi j / arms), sin(...)) with r in [0.1, 1] and
    theta = 2 pi turns r; label j is the arm."""
    rng = Generator(seed).numpy()
    y = np.arange(n) % arms
    r = rng.uniform(0.1, 1.0, n)
    theta = 2 * np.pi * turns * r + 2 * np.pi * y / arms
    x = r[:, None] * np.stack([np.cos(theta), np.sin(theta)], 1)
    return _dataset(x + noise * rng.standard_normal((n, 2)), y, dtype, device)


def teacher_student(
    teacher: Any,
    n: int,
    noise: float = 0.0,
    seed: int = 0,
    dtype: Any = None,
    device: str | None = None,
) -> TensorDataset:
    """Inputs x ~ N(0, I) and targets y = teacher(x) + noise * N(0, I).  ``teacher`` is a module,
    or layer sizes for a ReLU MLP teacher made from ``seed``; it is kept in ``meta["teacher"]``."""
    from nn.builders import MLP
    from nn.module import Module

    gen = Generator(seed)
    if not isinstance(teacher, Module):
        teacher = MLP(teacher, generator=gen, dtype=dtype, device=device)
    first = next(teacher.parameters(), None)
    if first is None or first.ndim < 2:
        raise ValueError("teacher_student: the teacher needs a weight matrix to tell its input size")
    x = gen.randn(n, first.shape[-1], dtype=first.dtype, device=first.device)
    with ad.no_grad():
        y = teacher(x)
    if noise:
        y = y + noise * gen.randn(*y.shape, dtype=y.dtype, device=y.device)
    return TensorDataset(x, y, meta={"teacher": teacher})


def linear_regression(
    n: int,
    singular_values: Sequence[float],
    input_dim: int | None = None,
    output_dim: int | None = None,
    seed: int = 0,
    dtype: Any = None,
    device: str | None = None,
) -> TensorDataset:
    """Whitened inputs X (n, d_x) with X^T X / n = I exactly, and targets Y = X M^T with
    M = U diag(s) V^T (d_y x d_x, random orthonormal U, V): then Sigma_XX = I and
    Sigma_YX = M has the chosen singular values s, which fix the critical values of the deep
    linear network's loss (Chitour 2019: half sums of squares of
    subsets of them).  ``meta`` holds M and s."""
    s = np.asarray(singular_values, dtype=float)
    d_x = input_dim or len(s)
    d_y = output_dim or len(s)
    if len(s) > min(d_x, d_y) or n < d_x:
        raise ValueError(
            f"linear_regression: {len(s)} singular values need input_dim and output_dim >= {len(s)} "
            f"(got {d_x}, {d_y}) and n >= input_dim (got n = {n})"
        )
    rng = Generator(seed).numpy()
    q, _ = np.linalg.qr(rng.standard_normal((n, d_x)))  # orthonormal columns
    x = q * np.sqrt(n)
    u = np.linalg.qr(rng.standard_normal((d_y, d_y)))[0][:, : len(s)]
    v = np.linalg.qr(rng.standard_normal((d_x, d_x)))[0][:, : len(s)]
    m = (u * s) @ v.T
    return _dataset(x, x @ m.T, dtype, device, matrix=m, singular_values=s)
