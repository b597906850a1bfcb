"""Seeded random tensors.

Numbers are drawn on the host by NumPy's PCG64 generator and copied to the device explicitly,
so that a seed gives the same values on every device (at the cost of a host-to-device copy).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from autodiff import backend
from autodiff.backend import shape_tuple
from autodiff.tensor import Tensor


class Generator:
    """A seeded source of random tensors (``ad.random.Generator(0).randn(3, 4)``)."""

    def __init__(self, seed: int | None = None):
        self.seed = seed
        self._rng = np.random.default_rng(seed)

    def _make(self, host: Any, dtype: Any, device: str | None, requires_grad: bool) -> Tensor:
        data = backend.asarray(host, dtype=backend.resolve_dtype(dtype), device=device)
        return Tensor(data, requires_grad=requires_grad)

    def randn(
        self, *shape: Any, dtype: Any = None, device: str | None = None, requires_grad: bool = False
    ) -> Tensor:
        """Standard normal entries."""
        return self._make(self._rng.standard_normal(shape_tuple(shape)), dtype, device, requires_grad)

    def rand(
        self, *shape: Any, dtype: Any = None, device: str | None = None, requires_grad: bool = False
    ) -> Tensor:
        """Uniform entries on [0, 1)."""
        return self._make(self._rng.random(shape_tuple(shape)), dtype, device, requires_grad)

    def normal(
        self, mean: float, std: float, shape: Any, dtype: Any = None, device: str | None = None
    ) -> Tensor:
        return self._make(self._rng.normal(mean, std, shape_tuple((shape,))), dtype, device, False)

    def uniform(
        self, low: float, high: float, shape: Any, dtype: Any = None, device: str | None = None
    ) -> Tensor:
        return self._make(self._rng.uniform(low, high, shape_tuple((shape,))), dtype, device, False)

    def integers(self, low: int, high: int, shape: Any, device: str | None = None) -> Tensor:
        return Tensor(backend.asarray(self._rng.integers(low, high, shape_tuple((shape,))), device=device))

    def permutation(self, n: int) -> np.ndarray:
        """A permutation of range(n), on the host (for shuffling data sets)."""
        return self._rng.permutation(n)

    def rademacher(self, *shape: Any, dtype: Any = None, device: str | None = None) -> Tensor:
        """Entries +1 or -1 with equal probability (Hutchinson probes)."""
        return self._make(self._rng.integers(0, 2, shape_tuple(shape)) * 2.0 - 1.0, dtype, device, False)

    def bernoulli(self, p: float, shape: Any, dtype: Any = None, device: str | None = None) -> Tensor:
        """Entries 1 with probability p, else 0."""
        return self._make(self._rng.random(shape_tuple((shape,))) < p, dtype, device, False)

    def numpy(self) -> np.random.Generator:
        """The underlying host generator."""
        return self._rng


default_generator = Generator(0)


def seed(value: int) -> None:
    """Reset the default generator (``ad.random.seed(0)``)."""
    global default_generator
    default_generator = Generator(value)


manual_seed = seed  # PyTorch's name


def resolve(seed: int | None = None, generator: Generator | None = None) -> Generator:
    """The generator to use: an explicit one, a fresh one from ``seed``, or the default."""
    if generator is not None:
        return generator
    return Generator(seed) if seed is not None else default_generator


def randn(*shape: Any, seed: int | None = None, generator: Generator | None = None, **kwargs: Any) -> Tensor:
    """Standard normal tensor: ``ad.randn(3, 4, seed=0)``."""
    return resolve(seed, generator).randn(*shape, **kwargs)


def rand(*shape: Any, seed: int | None = None, generator: Generator | None = None, **kwargs: Any) -> Tensor:
    """Uniform [0, 1) tensor: ``ad.rand(3, 4, seed=0)``."""
    return resolve(seed, generator).rand(*shape, **kwargs)
