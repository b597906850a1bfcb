"""Shared plumbing: flat parameter vectors, the array namespace of a tensor, batched
forward-mode products, and host scalars taken explicitly.

Every routine of the package takes a scalar function ``f`` of a flat tensor ``theta`` (shape
``(p,)``).  Array math on tensor data goes through the backend namespace ``xp`` of that data, so
the package runs unchanged on the strict test device and on a GPU; host values are taken only
with ``.item()`` / ``.numpy()``, for decisions and reports.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

import autodiff as ad
from autodiff import backend, forward
from autodiff.tensor import Tensor

# Bytes of batched intermediate arrays alive at once (blocks of per-sample gradients for
# Jacobians, blocks of tangents for Hessians): one budget for every routine.  Measured on the
# 5000 x 4120 parameter Jacobian of benchmarks/: 0.119 s with 64 MiB against 0.134 s with 256
# MiB (blocks that stay in cache); the Hessian chunks were sized with 64 MiB already.
MEMORY_BUDGET = 64 * 2**20

EPS64 = float(np.finfo(np.float64).eps)

ScalarFn = Callable[[Tensor], Tensor]


class NonFiniteError(ValueError):
    """A landscape routine met NaN or inf, in its inputs (theta, data, vectors) or in what it
    computed (f, the gradient, Hessian products, the Jacobian): no decision is made on such
    numbers.  A ValueError, so ``except ValueError`` catches it too."""


def check_finite(routine: str, what: str, value: Any) -> None:
    """Raise :class:`NonFiniteError` naming ``routine`` when ``value`` (a Tensor, a device array
    or a Python number) holds NaN or inf.  One host read of a flag for arrays."""
    if isinstance(value, int | float):
        finite = math.isfinite(value)
    else:
        data = value.data if isinstance(value, Tensor) else value
        xp = backend.array_module(data)
        finite = data.size == 0 or xp.all(xp.isfinite(data)).item()
    if not finite:
        raise NonFiniteError(
            f"{routine}: {what} is not finite (NaN or inf); nothing can be decided there. Check the "
            "inputs, or the function at this point"
        )


def xp_of(t: Tensor | Any) -> Any:
    """The array namespace (NumPy, strict, CuPy) that computes on ``t``'s data."""
    return backend.array_module(t.data if isinstance(t, Tensor) else t)


def within(routine: str, error: NonFiniteError) -> NonFiniteError:
    """``error`` (raised by a routine called inside ``routine``) with ``routine`` named first."""
    return NonFiniteError(f"{routine}: {error}")


def flat(theta: Any, name: str, dtype: Any = None) -> Tensor:
    """``theta`` as a detached 1-D floating tensor (float64 unless ``dtype`` says otherwise
    for non-tensors); a clear error names ``name`` otherwise."""
    if not isinstance(theta, Tensor):
        theta = ad.tensor(theta, dtype=dtype or "float64")
    if theta.ndim != 1:
        raise ValueError(
            f"{name}: theta must be a flat 1-D tensor of parameters, got shape {theta.shape}; "
            "flatten it (theta.reshape(-1)) or use landscape.ParamSpace(model).theta()"
        )
    if not backend.is_floating(theta.dtype):
        raise TypeError(f"{name}: theta has dtype {theta.dtype}; use a floating dtype (float64)")
    if theta.shape[0] == 0:
        raise ValueError(f"{name}: theta is empty (shape (0,)); there is no parameter to study")
    check_finite(name, "theta", theta)
    theta = theta.detach()
    if dtype is not None and theta.dtype != backend.resolve_dtype(dtype):
        theta = theta.astype(dtype)
    return theta


def like(theta: Tensor, v: Any, name: str, what: str = "v") -> Tensor:
    """``v`` as a detached tensor on theta's device and dtype, of shape (p,) or (k, p)."""
    v = v if isinstance(v, Tensor) else ad.tensor(v, dtype=theta.dtype, device=theta.device)
    if v.ndim not in (1, 2) or v.shape[-1] != theta.shape[0]:
        raise ValueError(
            f"{name}: {what} must have shape ({theta.shape[0]},) or (k, {theta.shape[0]}) to match "
            f"theta, got {v.shape}"
        )
    check_finite(name, what, v)
    v = v.detach()
    return v.astype(theta.dtype) if v.dtype != theta.dtype else v


def jvp_many(fn: Callable[[Tensor], Tensor], theta: Tensor, tangents: Tensor) -> tuple[Tensor, Tensor]:
    """``(fn(theta), J tangents)`` with ``tangents`` of shape (k, p): one forward pass carrying
    a batch of k tangents (a forward-mode level whose tangents have a leading axis)."""
    with forward.level((tangents.shape[0],)) as number:
        dual = forward.attach(theta, number, tangents)
        out = fn(dual)
        return out, forward.tangent_of(out, number)


def hvp_many(f: ScalarFn, theta: Tensor, vs: Tensor) -> Tensor:
    """``H(theta) V^T`` for V of shape (k, p), returned as (k, p): forward over reverse, one
    forward pass with k tangents through one reverse pass."""
    return jvp_many(ad.grad(f), theta, vs)[1].detach()


def random_probes(theta: Tensor, k: int, seed: int | None) -> Tensor:
    """k Rademacher (+-1) probe vectors (k, p) on theta's device and dtype."""
    return ad.random.Generator(seed).rademacher(k, theta.shape[0], dtype=theta.dtype, device=theta.device)


class _NoBar:
    def update(self, n: int = 1) -> None:
        pass

    def close(self) -> None:
        pass


def progress(total: int, desc: str, unit: str = "it", enabled: bool = True) -> Any:
    """A tqdm bar that shows itself only after 2 s (``delay``), or a silent stand-in when
    ``enabled`` is false or tqdm is not installed."""
    if enabled:
        try:
            from tqdm.auto import tqdm
        except ImportError:  # tqdm is optional
            pass
        else:
            return tqdm(total=total, desc=desc, unit=unit, delay=2.0, leave=False, dynamic_ncols=True)
    return _NoBar()


def host(t: Tensor | Any) -> np.ndarray:
    """An explicit copy to the host (for decisions and reports)."""
    return t.numpy() if isinstance(t, Tensor) else backend.to_numpy(t)
