"""Gradient checks against central finite differences, in float64.

``gradcheck`` compares the Jacobian of ``f`` computed three ways (reverse mode on raw arrays,
reverse mode recorded on tensors, forward mode) with central differences
``(f(x + eps e_j) - f(x - eps e_j)) / (2 eps)``, whose error is O(eps^2).  ``gradgradcheck``
does the same for the map ``x -> J(x)^T v`` (a random v), which checks second derivatives.
Failures name the worst entry.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from autodiff import backend
from autodiff.creation import tensor
from autodiff.engine import gradients
from autodiff.graph import no_grad
from autodiff.tensor import Tensor
from autodiff.transforms import _call_with, _jvp_batched, vjp


class GradcheckError(AssertionError):
    """The analytical and numerical derivatives disagree."""


def _flat_outputs(out: Any) -> list[Tensor]:
    return [out] if isinstance(out, Tensor) else list(out)


def _numerical(f: Callable, inputs: list[Tensor], k: int, eps: float) -> np.ndarray:
    """d outputs / d inputs[k] by central differences: shape (outputs' size, inputs[k].size)."""
    x = inputs[k]
    host = x.numpy().astype(np.float64)
    columns = []
    for j in range(host.size):
        values = []
        for sign in (1, -1):
            moved = host.copy()
            moved.flat[j] += sign * eps
            args = list(inputs)
            args[k] = tensor(moved, device=x.device)
            with no_grad():
                values.append(
                    np.concatenate([o.numpy().ravel().astype(np.float64) for o in _flat_outputs(f(*args))])
                )
        columns.append((values[0] - values[1]) / (2 * eps))
    return np.stack(columns, axis=1) if columns else np.zeros((0, 0))


def _reverse(f: Callable, inputs: list[Tensor], k: int, create_graph: bool) -> np.ndarray:
    watched = [Tensor(x.data, requires_grad=True) for x in inputs]
    outs = _flat_outputs(f(*watched))
    rows = []
    for o in outs:
        xp = backend.array_module(o.data)
        if not o.requires_grad:
            rows.append(np.zeros((o.size, inputs[k].size)))
            continue
        seed = xp.eye(o.size, dtype=o.dtype).reshape((o.size,) + o.shape)
        (g,) = gradients(
            o,
            [watched[k]],
            Tensor(seed),
            batched=True,
            retain_graph=True,
            create_graph=create_graph,
        )
        rows.append(g.numpy().reshape(o.size, -1).astype(np.float64))
    return np.concatenate(rows, axis=0)


def _forward(f: Callable, inputs: list[Tensor], k: int) -> np.ndarray:
    x = inputs[k]
    xp = backend.array_module(x.data)
    seed = Tensor(xp.eye(x.size, dtype=x.dtype).reshape((x.size,) + x.shape))
    _, tangents = _jvp_batched(functools.partial(_call_with, f, tuple(inputs), (k,)), [x], [seed], (x.size,))
    columns = [t.numpy().reshape(x.size, -1).astype(np.float64) for t in _flat_outputs(tangents)]
    return np.concatenate(columns, axis=1).T


def _compare(
    name: str,
    k: int,
    analytical: np.ndarray,
    numerical: np.ndarray,
    atol: float,
    rtol: float,
    shape: tuple,
) -> None:
    error = np.abs(analytical - numerical)
    allowed = atol + rtol * np.abs(numerical)
    if analytical.shape != numerical.shape or not np.all(error <= allowed):
        if analytical.shape != numerical.shape:
            raise GradcheckError(f"{name}: Jacobian shapes differ: {analytical.shape} vs {numerical.shape}")
        row, col = np.unravel_index(np.argmax(error - allowed), error.shape)
        index = [int(i) for i in np.unravel_index(col, shape)] if shape else []
        raise GradcheckError(
            f"{name} disagrees with finite differences for input {k}: worst entry d out[{row}] / d x{index}: "
            f"analytical {analytical[row, col]:.10g}, numerical {numerical[row, col]:.10g}, "
            f"error {error[row, col]:.3g} > tolerance {allowed[row, col]:.3g}"
        )


def gradcheck(
    f: Callable,
    inputs: Sequence[Any],
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-4,
    modes: Sequence[str] = ("reverse", "reverse-recorded", "forward"),
) -> bool:
    """Check d f / d inputs by every mode against central differences (float64 inputs).

    Inputs that are not floating are treated as constants.  Raises GradcheckError naming the
    worst entry; returns True otherwise.
    """
    inputs = [tensor(x) if not isinstance(x, Tensor) else x for x in inputs]
    for x in inputs:
        if backend.is_floating(x.dtype) and x.dtype != np.float64:
            raise TypeError(
                f"gradcheck: inputs must be float64 (got {x.dtype}); finite differences need the precision"
            )
    for k, x in enumerate(inputs):
        if not backend.is_floating(x.dtype):
            continue
        numerical = _numerical(f, inputs, k, eps)
        for mode in modes:
            if mode == "forward":
                analytical = _forward(f, inputs, k)
            else:
                analytical = _reverse(f, inputs, k, create_graph=mode == "reverse-recorded")
            _compare(f"gradcheck ({mode} mode)", k, analytical, numerical, atol, rtol, x.shape)
    return True


def gradgradcheck(
    f: Callable,
    inputs: Sequence[Any],
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-4,
    seed: int = 0,
) -> bool:
    """Check second derivatives: gradcheck of ``x -> J(x)^T v`` for a fixed random v."""
    inputs = [tensor(x) if not isinstance(x, Tensor) else x for x in inputs]
    floating = [k for k, x in enumerate(inputs) if backend.is_floating(x.dtype)]
    outs = _flat_outputs(f(*inputs))
    rng = np.random.default_rng(seed)
    cotangents = [tensor(rng.standard_normal(o.shape), device=o.device) for o in outs]

    def vjp_of_f(*xs: Tensor) -> tuple[Tensor, ...]:
        def g(*ys: Tensor) -> Tensor:
            args = list(xs)
            for k, y in zip(floating, ys, strict=True):
                args[k] = y
            total = None
            for o, c in zip(_flat_outputs(f(*args)), cotangents, strict=True):
                term = (o * c).sum()
                total = term if total is None else total + term
            return total

        _, pullback = vjp(g, *[xs[k] for k in floating])
        return pullback(tensor(1.0, device=xs[0].device))

    return gradcheck(vjp_of_f, inputs, eps, atol, rtol, modes=("reverse", "forward"))
