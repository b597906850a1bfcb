"""Making tensors: from data, constant-filled, ranges."""

from __future__ import annotations

from typing import Any

from autodiff import backend
from autodiff.backend import shape_tuple
from autodiff.tensor import Tensor


def tensor(
    data: Any,
    requires_grad: bool = False,
    dtype: Any = None,
    device: str | None = None,
    name: str | None = None,
) -> Tensor:
    """A new leaf tensor from nested lists, scalars, NumPy arrays or a Tensor (copied, detached).

    Python floats take the default dtype (``ad.set_default_dtype``), integers int64, booleans
    bool; NumPy arrays keep their dtype unless ``dtype`` is given.  ``name`` is shown in repr
    and drawings (as ``t.name(...)``).
    """
    if isinstance(data, Tensor):
        data = data.data.copy() if device is None else data.data
        device = device or backend.device_of(data)
    array = backend.asarray(data, dtype=dtype, device=device)
    t = Tensor(array, requires_grad=requires_grad)
    if name is not None:
        if not isinstance(name, str):
            raise TypeError(f"tensor: name must be a str, got {type(name).__name__}")
        t.label = name
    return t


def _filled(fill: str, shape: tuple, dtype: Any, device: str | None, requires_grad: bool) -> Tensor:
    xp = backend.namespace(device)
    shape = shape_tuple(shape, fill)
    if any(n < 0 for n in shape):
        raise ValueError(f"{fill}: sizes must be >= 0, got the shape {shape}")
    data = getattr(xp, fill)(shape, dtype=backend.resolve_dtype(dtype))
    return Tensor(data, requires_grad=requires_grad)


def zeros(*shape: Any, dtype: Any = None, device: str | None = None, requires_grad: bool = False) -> Tensor:
    return _filled("zeros", shape, dtype, device, requires_grad)


def ones(*shape: Any, dtype: Any = None, device: str | None = None, requires_grad: bool = False) -> Tensor:
    return _filled("ones", shape, dtype, device, requires_grad)


def full(
    shape: Any,
    value: float,
    dtype: Any = None,
    device: str | None = None,
    requires_grad: bool = False,
) -> Tensor:
    t = zeros(shape, dtype=dtype, device=device)
    t.data[...] = value
    return t.requires_grad_(requires_grad)


def eye(n: int, m: int | None = None, dtype: Any = None, device: str | None = None) -> Tensor:
    return Tensor(backend.namespace(device).eye(n, m, dtype=backend.resolve_dtype(dtype)))


def arange(
    start: float,
    stop: float | None = None,
    step: float = 1,
    dtype: Any = None,
    device: str | None = None,
) -> Tensor:
    """NumPy's arange; integers unless a bound, the step or ``dtype`` is a float."""
    if stop is None:
        start, stop = 0, start
    if dtype is None and all(isinstance(v, int) for v in (start, stop, step)):
        dtype = "int64"
    xp = backend.namespace(device)
    return Tensor(xp.arange(start, stop, step, dtype=backend.resolve_dtype(dtype)))


def linspace(
    start: float, stop: float, num: int = 50, dtype: Any = None, device: str | None = None
) -> Tensor:
    xp = backend.namespace(device)
    return Tensor(xp.linspace(start, stop, num, dtype=backend.resolve_dtype(dtype)))


def _like(fill: str, x: Tensor, dtype: Any) -> Tensor:
    """A constant of x's shape (inside ``vmap``, its logical shape, without the batch axes),
    dtype and device."""
    xp = backend.array_module(x.data)
    return Tensor(
        getattr(xp, fill)(x.shape, dtype=x.dtype if dtype is None else backend.resolve_dtype(dtype))
    )


def zeros_like(x: Tensor, dtype: Any = None) -> Tensor:
    """Zeros of x's shape, dtype and device (a constant: no gradient)."""
    return _like("zeros", x, dtype)


def ones_like(x: Tensor, dtype: Any = None) -> Tensor:
    return _like("ones", x, dtype)


def full_like(x: Tensor, value: float, dtype: Any = None) -> Tensor:
    t = _like("zeros", x, dtype)
    t.data[...] = value
    return t
