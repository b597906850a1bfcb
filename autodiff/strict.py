"""The strict test backend: a stand-in for a GPU that CI can run.

A :class:`StrictArray` holds a NumPy array but behaves like device memory does under CuPy, only
stricter: it refuses implicit conversion to NumPy (``__array__`` raises, as CuPy's does), refuses
NumPy functions and ufuncs applied to it, refuses arithmetic with plain NumPy arrays, and refuses
implicit host syncs (``float()``, ``int()``, ``bool()``).  The explicit doors are ``.get()`` (a
copy to the host, as ``cupy.ndarray.get``), ``.item()`` and ``xp.asarray(host_array)``.

``xp`` is the namespace: every NumPy function by the same name, taking and returning
StrictArrays.  Running the test suites on it proves no hidden host round-trip exists.
"""

from __future__ import annotations

from typing import Any

import numpy as np


class StrictDeviceError(TypeError):
    """Raised when code treats strict-device data as host (NumPy) data."""


def _refuse(what: str) -> StrictDeviceError:
    return StrictDeviceError(
        f"strict device: {what}. Device arrays are not NumPy arrays: compute with the array's "
        "own namespace (autodiff.backend.array_module) and copy to the host only explicitly "
        "(Tensor.numpy(), .item())."
    )


def _unwrap(obj: Any) -> Any:
    if type(obj) is StrictArray:
        return obj._a
    if isinstance(obj, np.ndarray):
        raise _refuse(f"a host NumPy array of shape {obj.shape} was mixed with device arrays")
    if isinstance(obj, list | tuple):
        return type(obj)(_unwrap(item) for item in obj)
    return obj


def _wrap(obj: Any) -> Any:
    if isinstance(obj, np.ndarray):
        return StrictArray(obj)
    if isinstance(obj, np.generic):
        return StrictArray(np.asarray(obj))
    if isinstance(obj, tuple):
        return tuple(_wrap(item) for item in obj)
    if isinstance(obj, list):
        return [_wrap(item) for item in obj]
    return obj


def _binary(name: str):
    def method(self, other):
        return StrictArray(getattr(self._a, name)(_unwrap(other)))

    method.__name__ = name
    return method


class StrictArray:
    """A device array that cannot be mistaken for a host array."""

    __slots__ = ("_a",)
    __array_ufunc__ = None  # NumPy ufuncs and ndarray operators defer to us, then we refuse

    def __init__(self, array: np.ndarray):
        self._a = array

    def __array__(self, *args, **kwargs):
        raise _refuse("implicit conversion to a NumPy array (np.asarray / np.array)")

    def __array_function__(self, func, types, args, kwargs):
        raise _refuse(f"NumPy function np.{func.__name__} was called on device data")

    def __float__(self):
        raise _refuse("float() is an implicit host sync; use .item() explicitly")

    __int__ = __index__ = __complex__ = __float__

    def __bool__(self):
        raise _refuse("bool() is an implicit host sync; use .item() explicitly")

    # explicit doors to the host
    def get(self) -> np.ndarray:
        return self._a.copy()

    def item(self):
        return self._a.item()

    def tolist(self):
        return self._a.tolist()

    # array attributes
    shape = property(lambda self: self._a.shape)
    ndim = property(lambda self: self._a.ndim)
    dtype = property(lambda self: self._a.dtype)
    size = property(lambda self: self._a.size)
    itemsize = property(lambda self: self._a.itemsize)
    nbytes = property(lambda self: self._a.nbytes)
    T = property(lambda self: StrictArray(self._a.T))
    mT = property(lambda self: StrictArray(self._a.mT))
    flags = property(lambda self: self._a.flags)

    def __len__(self) -> int:
        return len(self._a)

    def __iter__(self):
        return (StrictArray(np.asarray(row)) for row in self._a)

    def __repr__(self) -> str:
        return f"StrictArray({self._a!r})"

    def __getitem__(self, index):
        return _wrap(self._a[_unwrap(index)])

    def __setitem__(self, index, value):
        self._a[_unwrap(index)] = _unwrap(value)

    def __getattr__(self, name: str):
        if name.startswith("__"):  # no __array_interface__, __array_struct__, ...: no back doors
            raise AttributeError(name)
        attribute = getattr(self._a, name)
        if not callable(attribute):
            return _wrap(attribute)

        def method(*args, **kwargs):
            return _wrap(attribute(*_unwrap(args), **{k: _unwrap(v) for k, v in kwargs.items()}))

        return method

    def __neg__(self):
        return StrictArray(-self._a)

    def __pos__(self):
        return self

    def __abs__(self):
        return StrictArray(abs(self._a))

    def __invert__(self):
        return StrictArray(~self._a)

    def __deepcopy__(self, memo):
        return StrictArray(self._a.copy())

    __hash__ = None


for _name in (
    "__add__ __radd__ __sub__ __rsub__ __mul__ __rmul__ __truediv__ __rtruediv__ __floordiv__ "
    "__rfloordiv__ __mod__ __rmod__ __pow__ __rpow__ __matmul__ __rmatmul__ __and__ __rand__ "
    "__or__ __ror__ __xor__ __rxor__ __lt__ __le__ __gt__ __ge__ __eq__ __ne__ "
    "__iadd__ __isub__ __imul__ __itruediv__"
).split():
    setattr(StrictArray, _name, _binary(_name))


def _lift(function: Any, name: str) -> Any:
    def lifted(*args, **kwargs):
        return _wrap(function(*_unwrap(args), **{k: _unwrap(v) for k, v in kwargs.items()}))

    lifted.__name__ = name
    return lifted


class _Ufunc:
    """A NumPy ufunc lifted to StrictArrays, with its methods (``xp.add.at``, ``.reduce``)."""

    def __init__(self, ufunc: np.ufunc):
        self._call = _lift(ufunc, ufunc.__name__)
        self.at = _lift(ufunc.at, "at")
        self.reduce = _lift(ufunc.reduce, "reduce")
        self.accumulate = _lift(ufunc.accumulate, "accumulate")

    def __call__(self, *args, **kwargs):
        return self._call(*args, **kwargs)


class _Namespace:
    """NumPy's functions, lifted to StrictArrays (``xp.exp``, ``xp.linalg.svd``, ...)."""

    def __init__(self, module: Any, host_entry: tuple[str, ...] = ()):
        self._module = module
        self._host_entry = host_entry  # functions allowed to take host data (explicit copies)

    def __getattr__(self, name: str):
        attribute = getattr(self._module, name)
        if isinstance(attribute, type(np)):
            wrapped: Any = _Namespace(attribute)
        elif isinstance(attribute, np.ufunc):
            wrapped = _Ufunc(attribute)
        elif name in self._host_entry:  # explicit host-to-device copies

            def wrapped(data, *args, **kwargs):
                return _wrap(attribute(data._a if type(data) is StrictArray else data, *args, **kwargs))

        elif callable(attribute) and not isinstance(attribute, type):
            wrapped = _lift(attribute, name)
        else:
            wrapped = attribute
        setattr(self, name, wrapped)
        return wrapped


xp = _Namespace(np, host_entry=("asarray", "array"))
xp.__name__ = "autodiff.strict.xp"
xp.ndarray = StrictArray
