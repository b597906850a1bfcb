"""Array backends: where tensor data lives and which namespace computes on it.

Every array operation in the project goes through an ``xp`` namespace chosen from the type of
the array (Chainer's ``get_array_module`` idea): NumPy for ``"cpu"``, CuPy for ``"cuda"``, and
the strict test backend (:mod:`autodiff.strict`) for ``"strict"``, a stand-in for a GPU whose
arrays refuse every implicit conversion to NumPy.  Nothing is ever moved between devices
implicitly; :func:`to_device` is the only door, and it is explicit.

Only this module (and :mod:`autodiff.strict`) imports NumPy for array math; elsewhere NumPy
appears for dtype objects and constants alone (a test greps for it).
"""

from __future__ import annotations

import importlib
from typing import Any

import numpy as np

DEVICES = ("cpu", "cuda", "strict")
GPU_INSTALL_HINT = (
    'install CuPy for your CUDA version: pip install "autodiff-landscape[gpu]" '
    "(CUDA 12: cupy-cuda12x; CUDA 11: cupy-cuda11x)"
)

_state = {"dtype": np.dtype(np.float64), "device": "cpu"}
_modules: dict[type, tuple[Any, str]] = {np.ndarray: (np, "cpu")}


# ----------------------------------------------------------------------------- dtypes
_DTYPE_NAMES = ("float16", "float32", "float64", "int8", "int16", "int32", "int64", "uint8", "bool")


def resolve_dtype(dtype: Any) -> np.dtype:
    """The NumPy dtype named by ``dtype`` (a dtype, a name, or a Python type); None -> default."""
    if dtype is None:
        return _state["dtype"]
    if dtype is float:
        return _state["dtype"]
    try:
        resolved = np.dtype(dtype)
    except TypeError:
        resolved = None
    if resolved is None or resolved.name not in _DTYPE_NAMES:
        raise TypeError(
            f"unknown dtype {dtype!r}: use one of {', '.join(_DTYPE_NAMES)} "
            "(as a string, a NumPy dtype or a Python type)"
        )
    return resolved


def set_default_dtype(dtype: Any) -> None:
    """Set the floating dtype of new tensors made from Python floats (default: float64)."""
    resolved = resolve_dtype(dtype)
    if resolved.kind != "f":
        raise TypeError(f"set_default_dtype: {resolved.name} is not a floating dtype")
    _state["dtype"] = resolved


def get_default_dtype() -> np.dtype:
    return _state["dtype"]


def is_floating(dtype: np.dtype) -> bool:
    return dtype.kind in "fc"


def shape_tuple(shape: tuple, name: str = "shape") -> tuple[int, ...]:
    """``(2, 3)`` from ``f(2, 3)`` or ``f((2, 3))``: the two ways shapes are passed."""
    if len(shape) == 1 and type(shape[0]) is tuple and all(type(n) is int for n in shape[0]):
        return shape[0]  # the common case, checked fast
    if len(shape) == 1 and not isinstance(shape[0], int | np.integer):
        try:
            shape = tuple(shape[0])
        except TypeError:
            raise TypeError(f"{name}: a shape is integers or a sequence of them, not {shape[0]!r}") from None
    for n in shape:
        if not isinstance(n, int | np.integer) or isinstance(n, bool):
            raise TypeError(f"{name}: sizes must be integers, got {n!r} in the shape {shape!r}")
    return tuple(int(n) for n in shape)


# ----------------------------------------------------------------------------- devices
def _load(device: str):
    """Import the namespace for ``device`` lazily; CuPy is optional."""
    if device == "cpu":
        return np
    if device == "strict":
        from autodiff import strict

        _modules.setdefault(strict.StrictArray, (strict.xp, "strict"))
        return strict.xp
    if device == "cuda":
        try:
            cupy = importlib.import_module("cupy")
        except ImportError as error:
            raise RuntimeError(
                f"device 'cuda' needs CuPy, which is not installed: {GPU_INSTALL_HINT}"
            ) from error
        try:
            count = cupy.cuda.runtime.getDeviceCount()
        except Exception as error:  # CUDA driver missing or broken
            raise RuntimeError(
                f"device 'cuda': CuPy is installed but no usable GPU was found ({error})"
            ) from error
        if count == 0:
            raise RuntimeError("device 'cuda': CuPy is installed but no GPU is visible")
        _modules.setdefault(cupy.ndarray, (cupy, "cuda"))
        return cupy
    raise ValueError(f"unknown device {device!r}: use one of {', '.join(DEVICES)}")


def canonical_device(device: str | None) -> str:
    if device is None:
        return _state["device"]
    name = str(device)
    name = "cuda" if name.startswith("cuda") else name
    if name not in DEVICES:
        raise ValueError(f"unknown device {device!r}: use one of {', '.join(DEVICES)}")
    return name


def namespace(device: str | None = None):
    """The array namespace (``xp``) of a device."""
    return _load(canonical_device(device))


def set_default_device(device: str) -> None:
    """Make ``device`` the place new tensors are created (it must be usable)."""
    name = canonical_device(device)
    _load(name)
    _state["device"] = name


def get_default_device() -> str:
    return _state["device"]


def devices() -> list[str]:
    """The devices usable here: always ``cpu`` and ``strict``, ``cuda`` when CuPy sees a GPU."""
    found = ["cpu"]
    try:
        _load("cuda")
        found.append("cuda")
    except RuntimeError:
        pass
    found.append("strict")
    return found


def array_module_of_type(kind: type):
    """The namespace for arrays of type ``kind`` (hot path of every operation)."""
    return _modules[kind][0]


def normalize(out: Any, kind: type) -> Any:
    """NumPy returns scalars from 0-d operations; keep tensor data an array of type ``kind``."""
    if isinstance(out, np.generic) and kind is np.ndarray:
        return np.asarray(out)
    return out


def array_module(data: Any):
    """The namespace that computes on ``data`` (NumPy, CuPy or the strict backend)."""
    try:
        return _modules[type(data)][0]
    except KeyError:
        raise TypeError(f"not a backend array: {type(data).__name__}") from None


def device_of(data: Any) -> str:
    try:
        return _modules[type(data)][1]
    except KeyError:
        raise TypeError(f"not a backend array: {type(data).__name__}") from None


def is_array(obj: Any) -> bool:
    return type(obj) in _modules


def on_host(xp: Any) -> bool:
    """Whether ``xp`` is NumPy (a host check of a flag costs nothing there)."""
    return xp is np


SHORT_AXIS = 16  # at most this many entries along the last axis: NumPy reduces a transposed copy


def reduce_along(xp: Any, name: str, x: Any, axis: Any, keepdims: bool) -> Any:
    """``xp.<name>(x, axis=axis, keepdims=keepdims)`` (sum, max, argmax, any...).  On NumPy, a short
    last axis of many rows is reduced as the leading axis of a transposed copy: NumPy reduces a
    contiguous axis of ten entries at about 40 ns a row (the max over the classes of 512 x 10
    logits: 21 us), the leading axis in one vectorised sweep (the copy included: 5 us)."""
    n = x.shape[-1] if x.ndim > 1 else 0
    if xp is np and axis in (-1, (-1,)) and 0 < n <= SHORT_AXIS and x.size >= 64 * n:
        out = getattr(np, name)(np.ascontiguousarray(x.reshape(-1, n).T), axis=0)
        return out.reshape(x.shape[:-1] + (1,) * keepdims)
    return getattr(xp, name)(x, axis=axis, keepdims=keepdims)


def to_device(data: Any, device: str) -> Any:
    """Copy ``data`` to ``device`` explicitly (the only way data changes device)."""
    target = canonical_device(device)
    source = device_of(data) if is_array(data) else "host"
    if source == target:
        return data
    host = to_numpy(data) if source != "host" else data
    xp = _load(target)
    return xp.asarray(host)


def memory_root(data: Any) -> int:
    """An identity for the memory an array views (the array that owns it)."""
    owner = data._a if device_of(data) == "strict" else data
    while owner.base is not None:
        owner = owner.base
    return id(owner)


def to_numpy(data: Any) -> np.ndarray:
    """An explicit device-to-host copy (a host sync on a GPU)."""
    if device_of(data) == "cpu":
        return data
    return data.get()  # cupy.ndarray.get() and StrictArray.get(): an explicit copy to the host


def asarray(obj: Any, dtype: Any = None, device: str | None = None) -> Any:
    """Make a backend array on ``device`` from nested lists, scalars or arrays.

    Python floats take the default dtype; integers and booleans keep theirs (NumPy's rules).
    """
    target = canonical_device(device)
    xp = _load(target)
    if is_array(obj):
        data = to_device(obj, target)
    else:
        try:
            data = np.asarray(obj)
        except ValueError as error:  # ragged nested lists
            raise ValueError(f"tensor: the data do not form a rectangular array ({error})") from None
        if dtype is None and data.dtype.kind == "f" and data.dtype != _state["dtype"]:
            if not isinstance(obj, np.ndarray | np.generic):
                data = data.astype(_state["dtype"])
        data = xp.asarray(data) if target != "cpu" else data
    if dtype is not None:
        wanted = resolve_dtype(dtype)
        if data.dtype != wanted:
            data = data.astype(wanted)
    elif data.dtype.name not in _DTYPE_NAMES:
        raise TypeError(f"tensor: unsupported dtype {data.dtype} (use one of {', '.join(_DTYPE_NAMES)})")
    return data
