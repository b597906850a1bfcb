"""``import autodiff.numpy as anp``: NumPy's namespace over tensors, so that NumPy code becomes
differentiable by changing its import (as HIPS autograd's ``autograd.numpy``, Maclaurin,
Duvenaud and Adams 2015):

    import autodiff as ad
    import autodiff.numpy as anp

    def f(x):
        return anp.sum(anp.tanh(anp.dot(x, x.T)) ** 2) + anp.trace(anp.outer(x[0], x[1]))

    ad.grad(f)(ad.randn(2, 3, seed=0))

Every function of :mod:`autodiff` by its NumPy name, NumPy's aliases (``absolute``, ``amax``,
``true_divide``, ...), ``array``/``asarray`` (which stack lists of tensors, differentiably),
``full`` and ``linspace`` differentiable in their values, constants and dtypes (``pi``, ``e``,
``inf``, ``nan``, ``newaxis``, ``float64``, ...), ``random`` (NumPy's: values, no gradient) and
``linalg`` (:mod:`autodiff.linalg`, imported on first use).  Functions without a derivative
(``argsort``, ``floor``, comparisons, integer results) return tensors that carry no gradient.
Names NumPy has and this namespace lacks raise AttributeError rather than falling back to NumPy,
which would silently drop the gradient.
"""

from __future__ import annotations

import builtins
import importlib
import importlib.util
import math
from collections.abc import Sequence
from typing import Any

import numpy as _np  # constants, dtypes and host-side shape queries only

from autodiff import creation as _creation
from autodiff.ops import *  # noqa: F403  (every op by its NumPy name)
from autodiff.ops import __all__ as _ops_names
from autodiff.ops import trace  # noqa: F401  (NumPy's trace: ad.trace is the program tracer)
from autodiff.ops.arrange import as_tensor as _as_tensor
from autodiff.tensor import Tensor as _Tensor

# ----------------------------------------------------------------------------- constants and dtypes
pi, e, inf, nan, newaxis, euler_gamma = _np.pi, _np.e, _np.inf, _np.nan, None, _np.euler_gamma
float16, float32, float64 = _np.float16, _np.float32, _np.float64
int8, int16, int32, int64, uint8, bool_ = _np.int8, _np.int16, _np.int32, _np.int64, _np.uint8, _np.bool_
random = _np.random  # NumPy's generators: values, which carry no gradient
ndarray = _Tensor

# ----------------------------------------------------------------------------- NumPy's aliases
absolute = fabs = abs  # noqa: F405
amax, amin = max, min  # noqa: F405
true_divide = divide  # noqa: F405
row_stack = vstack  # noqa: F405
eye, arange, identity, empty_like = _creation.eye, _creation.arange, _creation.eye, _creation.zeros_like


def zeros(shape: int | Sequence[int], dtype: Any = None) -> _Tensor:
    """NumPy's signature: the shape as one argument, then the dtype."""
    return _creation.zeros(shape, dtype=dtype)


def ones(shape: int | Sequence[int], dtype: Any = None) -> _Tensor:
    return _creation.ones(shape, dtype=dtype)


empty = zeros


def array(obj: Any, dtype: Any = None) -> _Tensor:
    """A tensor from a tensor, an array, a number or nested lists of them; lists holding tensors
    are stacked, so their gradient flows (HIPS autograd's ``array_from_args``)."""
    if isinstance(obj, _Tensor):
        return obj if dtype is None else obj.astype(dtype)
    if isinstance(obj, list | tuple) and _holds_tensor(obj):
        out = stack([array(item) for item in obj])  # noqa: F405
        return out if dtype is None else out.astype(dtype)
    return _creation.tensor(obj, dtype=dtype)


asarray = array


def _holds_tensor(obj: Any) -> bool:
    if isinstance(obj, _Tensor):
        return True
    return isinstance(obj, list | tuple) and builtins.any(_holds_tensor(o) for o in obj)


def full(shape: int | Sequence[int], fill_value: Any, dtype: Any = None) -> _Tensor:
    """A tensor of ``shape`` filled with ``fill_value``; a tensor fill value broadcasts, and
    receives the summed gradient."""
    shape = (shape,) if isinstance(shape, int) else tuple(shape)
    if isinstance(fill_value, _Tensor):
        out = broadcast_to(fill_value, shape)  # noqa: F405
        return out if dtype is None else out.astype(dtype)
    return _creation.full(shape, fill_value, dtype=dtype)


def linspace(start: Any, stop: Any, num: int = 50, endpoint: bool = True, dtype: Any = None) -> _Tensor:
    """``num`` evenly spaced values from start to stop, start + (stop - start) k / (num - 1)
    (num instead of num - 1 without the endpoint); tensor bounds (broadcast, along a new first
    axis) receive the gradient."""
    if not isinstance(start, _Tensor) and not isinstance(stop, _Tensor):
        last = stop if endpoint or num < 2 else start + (stop - start) * (num - 1) / num
        return _creation.linspace(start, last, num, dtype=dtype)
    like = start if isinstance(start, _Tensor) else stop
    start, stop = _as_tensor(start, like=like), _as_tensor(stop, like=like)
    div = (num - 1 if endpoint else num) or 1
    ndim = builtins.max(start.ndim, stop.ndim)
    steps = reshape(_creation.arange(num, dtype=like.dtype, device=like.device) / div, (num,) + (1,) * ndim)  # noqa: F405
    out = start + (stop - start) * steps
    return out if dtype is None else out.astype(dtype)


def shape(x: Any) -> tuple[int, ...]:
    return tuple(x.shape) if hasattr(x, "shape") else _np.shape(x)


def ndim(x: Any) -> int:
    return len(shape(x))


def size(x: Any) -> int:
    return math.prod(shape(x))


__all__ = sorted(
    {*_ops_names, "array", "asarray", "full", "linspace", "shape", "ndim", "size", "ndarray", "random"}
    | {"pi", "e", "inf", "nan", "newaxis", "euler_gamma", "float16", "float32", "float64", "bool_"}
    | {"int8", "int16", "int32", "int64", "uint8", "absolute", "fabs", "amax", "amin", "true_divide"}
    | {"trace", "row_stack", "zeros", "ones", "eye", "arange", "empty", "empty_like", "identity"}
)


def __getattr__(name: str) -> Any:
    """``anp.linalg`` is :mod:`autodiff.linalg`, imported on first use; other names NumPy has
    are refused with the reason (a fallback to NumPy would drop the gradient)."""
    if name == "linalg":
        if importlib.util.find_spec("autodiff.linalg") is None:
            raise AttributeError("autodiff.numpy.linalg: autodiff.linalg is not available in this version")
        return importlib.import_module("autodiff.linalg")
    if hasattr(_np, name) and not name.startswith("_"):
        raise AttributeError(
            f"autodiff.numpy has no '{name}': NumPy's {name} is not provided with a derivative here; "
            "compose it from the functions that are (see the coverage table in the README), or "
            f"compute it on values with numpy.{name}(t.numpy())"
        )
    raise AttributeError(f"module 'autodiff.numpy' has no attribute '{name}'")
