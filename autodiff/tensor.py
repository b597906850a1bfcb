"""The Tensor: an array, and the vertex of the computation graph that produced it."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from autodiff import backend
from autodiff.state import flags, vmap_sizes


class Tensor:
    """An n-dimensional array that records how it was computed.

    ``data`` is the raw backend array (NumPy, CuPy or strict).  When ``requires_grad`` is set,
    the tensor is also a vertex of the graph: ``_op`` is the primitive that produced it and
    ``_parents`` its arguments.  ``grad`` is a Tensor, so a gradient computed with
    ``create_graph=True`` can be differentiated again.

    Writing ``t.data`` directly bypasses autodiff (as in PyTorch); the in-place methods
    (``add_``, ``mul_``, ``t[i] = v`` ...) bump a version counter instead, so that a backward
    pass through a value modified after it was used raises an error naming the operation.
    """

    __array_ufunc__ = None  # NumPy arrays defer to our reflected operators
    __hash__ = object.__hash__  # == is elementwise; identity hashing keeps tensors dict keys

    # Defaults live on the class: making a tensor writes only what differs (the hot path).
    requires_grad = False
    grad: Tensor | None = None
    _op = None
    _parents: tuple | None = ()
    _params: dict = {}
    _version = 0  # the in-place write counter's value at this tensor's last in-place write
    _recorded_at = 0  # the counter's value when this vertex was recorded
    _args: list | None = None  # the raw arrays of the arguments, as the operation saw them
    _retains_grad = False
    _tangents: dict | None = None
    _name: str | None = None
    _trace = None
    _scope: tuple[str, ...] | None = None
    _levels: tuple[int, ...] = ()  # vmap levels of the leading axes of data (see autodiff.vmap)

    def __init__(self, data: Any, requires_grad: bool = False):
        if not backend.is_array(data):
            raise TypeError(
                f"Tensor(data): data must be a backend array, got {type(data).__name__}; "
                "use ad.tensor(...) to build a tensor from lists, scalars or NumPy arrays"
            )
        self.data = data
        if requires_grad:
            self.requires_grad_(True)

    # ------------------------------------------------------------------ array facts
    @property
    def shape(self) -> tuple[int, ...]:
        """The shape, a tuple of ints (inside ``vmap``, without the batch axes)."""
        if self._levels and flags.vmap_levels:
            return tuple(self.data.shape[self._batch_depth() :])
        return tuple(self.data.shape)

    @property
    def ndim(self) -> int:
        if self._levels and flags.vmap_levels:
            return self.data.ndim - self._batch_depth()
        return self.data.ndim

    @property
    def size(self) -> int:
        if self._levels and flags.vmap_levels:
            return math.prod(self.shape)
        return self.data.size

    def _batch_depth(self) -> int:
        """How many leading axes of ``data`` are batch axes of open vmap levels."""
        depth = 0
        for level in self._levels:
            if level not in vmap_sizes:
                break
            depth += 1
        return depth

    dtype = property(lambda self: self.data.dtype)
    device = property(lambda self: backend.device_of(self.data), doc="'cpu', 'cuda' or 'strict'.")
    is_leaf = property(lambda self: self._op is None, doc="Made by the user, not by an operation.")
    op_name = property(lambda self: None if self._op is None else self._op.name)
    T = property(lambda self: ops.transpose(self), doc="The axes reversed, as NumPy's ``.T``.")
    mT = property(lambda self: ops.swapaxes(self, -1, -2), doc="The last two axes swapped.")

    def __len__(self) -> int:
        if self.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.shape[0]

    def __repr__(self) -> str:
        body = np.array2string(backend.to_numpy(self.data), separator=", ", precision=4, threshold=40)
        extras = [f"dtype={self.dtype}"] if self.dtype != backend.get_default_dtype() else []
        if self.device != "cpu":
            extras.append(f"device='{self.device}'")
        if self._op is not None:
            extras.append(f"op={self._op.name}")
        elif self.requires_grad:
            extras.append("requires_grad=True")
        if self._name:
            extras.append(f"name='{self._name}'")
        return "tensor(" + ", ".join([body, *extras]) + ")"

    # ------------------------------------------------------------------ leaving autodiff
    def numpy(self) -> np.ndarray:
        """The values as a NumPy array (an explicit copy to the host for device tensors;
        shares memory on the CPU, as ``torch.Tensor.numpy``)."""
        return backend.to_numpy(self.data)

    def item(self) -> Any:
        """The single value as a Python number (an explicit host sync on a GPU)."""
        if self.size != 1:
            raise ValueError(f"item(): tensor of shape {self.shape} has {self.size} elements, not 1")
        return self.data.item()

    def tolist(self) -> Any:
        return backend.to_numpy(self.data).tolist()

    def __float__(self) -> float:
        return float(self.item())

    def __int__(self) -> int:
        return int(self.item())

    def __bool__(self) -> bool:
        if self.size != 1:
            raise ValueError(
                f"the truth value of a tensor of shape {self.shape} is ambiguous; use .any() or .all()"
            )
        return bool(self.item())

    def detach(self) -> Tensor:
        """The same values, cut from the graph (shares memory)."""
        return Tensor(self.data)

    def to(self, device: str) -> Tensor:
        """A copy on ``device`` (differentiable); the tensor itself if it is there already."""
        if backend.canonical_device(device) == self.device:
            return self
        return ops.shape.to_device(self, device=backend.canonical_device(device), source=self.device)

    def cpu(self) -> Tensor:
        return self.to("cpu")

    # ------------------------------------------------------------------ autodiff
    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        """Mark a leaf as a variable to differentiate with respect to (in place)."""
        if requires_grad and not backend.is_floating(self.dtype):
            raise TypeError(
                f"requires_grad: a tensor of dtype {self.dtype} cannot require gradients; "
                "only floating tensors can (make it with dtype=float64 or .astype('float64'))"
            )
        if not requires_grad and self._op is not None:
            raise RuntimeError("requires_grad_(False) on a non-leaf; use .detach() instead")
        self.requires_grad = requires_grad
        return self

    def retain_grad(self) -> Tensor:
        """Keep the adjoint of this intermediate in ``.grad`` after backward."""
        if not self.requires_grad:
            raise RuntimeError("retain_grad() on a tensor that does not require grad")
        self._retains_grad = True
        return self

    def backward(
        self, grad: Any = None, retain_graph: bool | None = None, create_graph: bool = False
    ) -> None:
        """Backpropagate from this tensor and accumulate gradients into the leaves' ``.grad``."""
        from autodiff.engine import backward

        backward(self, grad, retain_graph=retain_graph, create_graph=create_graph)

    def zero_grad(self) -> None:
        self.grad = None

    def draw(self, **options: Any) -> Any:
        """``ad.draw(self, ...)``: the graph that computed this tensor, a ``graphviz.Digraph``."""
        from autodiff.viz import draw

        return draw(self, **options)

    def name(self, name: str) -> Tensor:
        """Give the tensor a name shown in repr and in drawings; returns the tensor."""
        self._name = name
        return self

    # ------------------------------------------------------------------ in-place operations
    def _check_inplace(self, what: str) -> None:
        if self.requires_grad and flags.grad_enabled:
            kind = "a leaf that requires grad" if self._op is None else "a tensor that is part of a graph"
            raise RuntimeError(
                f"{what}: in-place operation on {kind} (shape {self.shape}); use the out-of-place "
                "operation, or wrap parameter updates in `with ad.no_grad():`"
            )

    def _write(self, what: str, values: Any, index: Any = Ellipsis) -> Tensor:
        self._check_inplace(what)
        values = values.data if isinstance(values, Tensor) else values
        if isinstance(index, Tensor):
            index = index.data
        self.data[index] = values
        self._mark_written()
        return self

    def _mark_written(self) -> None:
        """Record an in-place write: a backward pass through a vertex recorded before it, that
        used this tensor, then raises instead of using the new values."""
        flags.inplace_writes += 1
        self._version = flags.inplace_writes

    def __setitem__(self, index: Any, value: Any) -> None:
        self._write("__setitem__", value, index)

    def copy_(self, other: Any) -> Tensor:
        return self._write("copy_", other)

    def fill_(self, value: float) -> Tensor:
        return self._write("fill_", value)

    def zero_(self) -> Tensor:
        return self._write("zero_", 0)

    def add_(self, other: Any, alpha: float = 1.0) -> Tensor:
        other = other.data if isinstance(other, Tensor) else other
        return self._write("add_", self.data + alpha * other if alpha != 1.0 else self.data + other)

    def sub_(self, other: Any) -> Tensor:
        return self._write("sub_", self.data - (other.data if isinstance(other, Tensor) else other))

    def mul_(self, other: Any) -> Tensor:
        return self._write("mul_", self.data * (other.data if isinstance(other, Tensor) else other))

    def div_(self, other: Any) -> Tensor:
        return self._write("div_", self.data / (other.data if isinstance(other, Tensor) else other))

    # ------------------------------------------------------------------ operators
    def __add__(self, other):
        return ops.add(self, other)

    def __radd__(self, other):
        return ops.add(other, self)

    def __sub__(self, other):
        return ops.subtract(self, other)

    def __rsub__(self, other):
        return ops.subtract(other, self)

    def __mul__(self, other):
        return ops.multiply(self, other)

    def __rmul__(self, other):
        return ops.multiply(other, self)

    def __truediv__(self, other):
        return ops.divide(self, other)

    def __rtruediv__(self, other):
        return ops.divide(other, self)

    def __pow__(self, other):
        return ops.power(self, other)

    def __rpow__(self, other):
        return ops.power(other, self)

    def __matmul__(self, other):
        return ops.matmul(self, other)

    def __rmatmul__(self, other):
        return ops.matmul(other, self)

    def __neg__(self):
        return ops.negative(self)

    def __pos__(self):
        return self

    def __abs__(self):
        return ops.abs(self)

    def __getitem__(self, index):
        return ops.getitem(self, index)

    def __lt__(self, other):
        return ops.less(self, other)

    def __le__(self, other):
        return ops.less_equal(self, other)

    def __gt__(self, other):
        return ops.greater(self, other)

    def __ge__(self, other):
        return ops.greater_equal(self, other)

    def __eq__(self, other):  # type: ignore[override]
        return ops.equal(self, other)

    def __ne__(self, other):  # type: ignore[override]
        return ops.not_equal(self, other)

    def __and__(self, other):
        return ops.logical_and(self, other)

    def __or__(self, other):
        return ops.logical_or(self, other)

    def __invert__(self):
        return ops.logical_not(self)

    def __iter__(self):
        return (self[i] for i in range(len(self)))


def _method(name: str):
    def method(self, *args, **kwargs):
        return getattr(ops, name)(self, *args, **kwargs)

    method.__name__ = name
    method.__doc__ = f"``ad.{name}(self, ...)``."
    return method


METHODS = (
    "exp log log1p expm1 sqrt sin cos tan tanh sigmoid softplus relu abs sign clip "
    "sum mean var std max min prod logsumexp softmax log_softmax norm argmax argmin "
    "reshape transpose permute swapaxes squeeze unsqueeze expand_dims broadcast_to flatten "
    "astype any all"
).split()
for _name in METHODS:
    setattr(Tensor, _name, _method(_name))
# PyTorch's conveniences: view = reshape; clone = a differentiable copy in new memory; casts.
Tensor.view = lambda self, *shape: ops.reshape(self, *shape)
Tensor.clone = lambda self: self * 1
Tensor.float = lambda self: ops.astype(self, "float32")
Tensor.double = lambda self: ops.astype(self, "float64")

from autodiff import ops  # noqa: E402  (operators above call into the op library)
