"""The Tensor: an array, and the vertex of the computation graph that produced it."""

from __future__ import annotations

from typing import Any

import numpy as np

from autodiff import backend
from autodiff.state import flags, shared


class PlugIns:
    """What Tensor's methods call into, installed by the layers above, which this module does not
    import: the op library ``autodiff.ops``, the backward pass of ``autodiff.engine``, ``autodiff.viz``."""

    ops: Any = None
    backward: Any = None
    draw: Any = None


plugins = PlugIns()


class Tensor:
    """An n-dimensional array that records how it was computed.

    ``data`` is the raw backend array (NumPy, CuPy or strict).  When ``requires_grad`` is set, the tensor is
    also a vertex v of the graph, with this public interface (read by the engine, forward mode, vmap and the
    drawings): ``op``, the primitive f^(v) that made it (None for a leaf), and ``params``, its static
    parameters; ``parents``, its arguments Parents(v) (Tensors and numbers; None once a backward pass freed
    them), and ``saved``, their raw arrays as the primitive saw them; ``version``, the in-place write counter
    at its last in-place write, and ``recorded_at``, the counter when it was recorded; ``tangents``, forward
    mode's tangents by level; ``retains_grad``; ``label`` (given with ``.name()``); ``scope``, the nn modules
    being called when it was made; ``created_at``, where the user's code made it (under ``detect_anomaly``).

    ``grad`` is a Tensor, so a gradient computed with ``create_graph=True`` can be differentiated again.
    Writing ``t.data`` bypasses autodiff (as in PyTorch); the in-place methods (``add_``, ``t[i] = v`` ...)
    bump the version counter, so that a backward pass through a value modified after it was used raises an
    error naming the operation.
    """

    __array_ufunc__ = None  # NumPy arrays defer to our reflected operators
    __hash__ = object.__hash__  # == is elementwise; identity hashing keeps tensors dict keys

    # Defaults live on the class: making a tensor writes only what differs (the hot path).
    requires_grad = False
    grad: Tensor | None = None
    op = None
    parents: tuple | None = ()
    params: dict = {}
    saved: list | None = None
    version = 0
    recorded_at = 0
    tangents: dict | None = None
    retains_grad = False
    label: str | None = None
    scope: tuple[str, ...] | None = None
    created_at = None

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
    shape = property(lambda self: self.data.shape, doc="The shape, a tuple of ints.")
    ndim = property(lambda self: self.data.ndim)
    size = property(lambda self: self.data.size)
    dtype = property(lambda self: self.data.dtype)
    device = property(lambda self: backend.device_of(self.data), doc="'cpu', 'cuda' or 'strict'.")
    is_leaf = property(lambda self: self.op is None, doc="Made by the user, not by an operation.")
    op_name = property(lambda self: None if self.op is None else self.op.name)
    T = property(lambda self: plugins.ops.transpose(self), doc="The axes reversed, as NumPy's ``.T``.")
    mT = property(lambda self: plugins.ops.swapaxes(self, -1, -2), doc="The last two axes swapped.")

    def __len__(self) -> int:
        if self.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.shape[0]

    def __repr__(self) -> str:
        body = np.array2string(backend.to_numpy(self.data), separator=", ", precision=4, threshold=40)
        extras = [f"dtype={self.dtype}"] if self.dtype != backend.get_default_dtype() else []
        if self.device != "cpu":
            extras.append(f"device='{self.device}'")
        if self.op is not None:
            extras.append(f"op={self.op.name}")
        elif self.requires_grad:
            extras.append("requires_grad=True")
        if self.label:
            extras.append(f"name='{self.label}'")
        return "tensor(" + ", ".join([body, *extras]) + ")"

    # ------------------------------------------------------------------ leaving autodiff
    def numpy(self) -> np.ndarray:
        """The values as a NumPy array (a copy to the host for device tensors; shared memory on the CPU)."""
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
        return plugins.ops.to_device(self, device)

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
        if not requires_grad and self.op is not None:
            raise RuntimeError("requires_grad_(False) on a non-leaf; use .detach() instead")
        self.requires_grad = requires_grad
        return self

    def retain_grad(self) -> Tensor:
        """Keep the adjoint of this intermediate in ``.grad`` after backward."""
        if not self.requires_grad:
            raise RuntimeError("retain_grad() on a tensor that does not require grad")
        self.retains_grad = True
        return self

    def backward(
        self, grad: Any = None, retain_graph: bool | None = None, create_graph: bool = False
    ) -> None:
        """Backpropagate from this tensor and accumulate gradients into the leaves' ``.grad``."""
        plugins.backward(self, grad, retain_graph=retain_graph, create_graph=create_graph)

    def zero_grad(self) -> None:
        self.grad = None

    def draw(self, **options: Any) -> Any:
        """``ad.draw(self, ...)``: the graph that computed this tensor, a ``graphviz.Digraph``."""
        return plugins.draw(self, **options)

    def name(self, name: str) -> Tensor:
        """Give the tensor a name shown in repr and in drawings; returns the tensor."""
        self.label = name
        return self

    # ------------------------------------------------------------------ in-place operations
    def _write(self, what: str, raw: Any, recorded: Any, other: Any = None, index: Any = Ellipsis) -> Tensor:
        """An in-place write: ``data[index] = raw()``.  When a gradient must flow (this tensor or
        ``other`` requires grad) it is recorded instead, as in PyTorch: this tensor becomes the vertex
        ``recorded(old)``, computed from a snapshot ``old``, and vertices recorded before the write
        refuse to backpropagate through it (the version check)."""
        if flags.grad_enabled and (self.requires_grad or (isinstance(other, Tensor) and other.requires_grad)):
            if self.requires_grad and self.op is None:
                raise RuntimeError(
                    f"{what}: in-place operation on a leaf that requires grad (shape {self.shape}); use the "
                    "out-of-place operation, or wrap parameter updates in `with ad.no_grad():`"
                )
            old = Tensor.__new__(Tensor)
            old.__dict__.update(self.__dict__)
            old.data = self.data.copy()
            new = recorded(old)
            _redirect(new, self, old)
            self.mark_written()
            self.data[...] = new.__dict__.pop("data")
            self.__dict__.update(new.__dict__, recorded_at=shared.inplace_writes)
            return self
        self.data[index] = raw()
        self.mark_written()
        return self

    def mark_written(self) -> None:
        """Count an in-place write: backward through a vertex that used this tensor before it raises."""
        shared.inplace_writes += 1
        self.version = shared.inplace_writes

    def __setitem__(self, index: Any, value: Any) -> None:
        self._store("__setitem__", index, value)

    def _store(self, what: str, index: Any, value: Any) -> Tensor:
        """``self[index] = value`` (``t[i] = v``, ``copy_``, ``fill_``)."""
        raw_index = tuple(map(_raw, index)) if isinstance(index, tuple) else _raw(index)
        return self._write(
            what, lambda: _raw(value), lambda old: plugins.ops.setitem(old, index, value), value, raw_index
        )

    def copy_(self, other: Any) -> Tensor:
        return self._store("copy_", Ellipsis, other)

    def fill_(self, value: float) -> Tensor:
        return self._store("fill_", Ellipsis, value)

    def zero_(self) -> Tensor:
        return self.fill_(0)

    def add_(self, other: Any, alpha: float = 1.0) -> Tensor:
        scaled = (lambda o: o) if alpha == 1.0 else (lambda o: alpha * o)
        return self._write(
            "add_", lambda: self.data + scaled(_raw(other)), lambda old: old + scaled(other), other
        )

    def sub_(self, other: Any) -> Tensor:
        return self._write("sub_", lambda: self.data - _raw(other), lambda old: old - other, other)

    def mul_(self, other: Any) -> Tensor:
        return self._write("mul_", lambda: self.data * _raw(other), lambda old: old * other, other)

    def div_(self, other: Any) -> Tensor:
        return self._write("div_", lambda: self.data / _raw(other), lambda old: old / other, other)

    # ------------------------------------------------------------------ operators
    def __pos__(self):
        return self

    def __iter__(self):
        return (self[i] for i in range(len(self)))


def _redirect(root: Tensor, written: Tensor, old: Tensor) -> None:
    """In the graph of ``root``, the vertex of a write to ``written`` (as ``k.copy_(k * 2)`` or
    ``k.add_(k)``), make the vertices that used ``written`` use its snapshot ``old``: the value they
    saw.  Without this the new vertex would be its own ancestor."""
    seen, stack = set(), [root]
    while stack:
        v = stack.pop()
        if id(v) in seen or not v.parents:
            continue
        seen.add(id(v))
        if any(p is written for p in v.parents):
            v.parents = tuple(old if p is written else p for p in v.parents)
            v.saved = [old.data if p is old else a for p, a in zip(v.parents, v.saved, strict=True)]
        stack.extend(p for p in v.parents if isinstance(p, Tensor) and p.requires_grad and p is not old)


def _raw(value: Any) -> Any:
    return value.data if isinstance(value, Tensor) else value


def _method(name: str):
    def method(self, *args, **kwargs):
        return getattr(plugins.ops, name)(self, *args, **kwargs)

    method.__name__ = name
    method.__doc__ = f"``ad.{name}(self, ...)``."
    return method


def _operator(name: str, reflected: bool = False):
    """``x <op> y`` as ``ops.<name>(x, y)``, or ``ops.<name>(y, x)`` for the reflected form (one call)."""
    if reflected:
        return lambda self, other: getattr(plugins.ops, name)(other, self)
    return lambda self, other: getattr(plugins.ops, name)(self, other)


# The operators, by the op each calls: ``x - y`` is ``subtract(x, y)``, ``-x`` is ``negative(x)``.
ARITHMETIC = {"add": "add", "sub": "subtract", "mul": "multiply", "truediv": "divide", "pow": "power"}
ARITHMETIC["matmul"] = "matmul"
COMPARISONS = {"lt": "less", "le": "less_equal", "gt": "greater", "ge": "greater_equal", "eq": "equal"}
COMPARISONS |= {"ne": "not_equal", "and": "logical_and", "or": "logical_or"}
for _dunder, _name in ARITHMETIC.items():
    setattr(Tensor, f"__{_dunder}__", _operator(_name))
    setattr(Tensor, f"__r{_dunder}__", _operator(_name, reflected=True))
for _dunder, _name in COMPARISONS.items():
    setattr(Tensor, f"__{_dunder}__", _operator(_name))
UNARY = {"neg": "negative", "abs": "abs", "invert": "logical_not", "getitem": "getitem"}
for _dunder, _name in UNARY.items():
    setattr(Tensor, f"__{_dunder}__", _method(_name))

METHODS = (
    "exp log log1p expm1 sqrt sin cos tan tanh sigmoid softplus relu abs sign clip "
    "sum mean var std max min prod logsumexp softmax log_softmax norm argmax argmin "
    "reshape transpose permute swapaxes squeeze unsqueeze expand_dims broadcast_to flatten "
    "astype any all"
    " dot ravel cumsum cumprod round argsort diagonal trace repeat take conj"  # NumPy's (issue 19)
).split()
for _name in METHODS:
    setattr(Tensor, _name, _method(_name))
# PyTorch's conveniences: view = reshape; clone = a differentiable copy in new memory; casts.
Tensor.view = lambda self, *shape: plugins.ops.reshape(self, *shape)
Tensor.clone = lambda self: self * 1
Tensor.float = lambda self: plugins.ops.astype(self, "float32")
Tensor.double = lambda self: plugins.ops.astype(self, "float64")
