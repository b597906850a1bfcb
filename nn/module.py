"""Modules: objects that own parameters and compute with them (PyTorch's ``nn.Module``).

A :class:`Module` registers, by attribute assignment, its :class:`Parameter` s, its sub-modules
and its buffers (non-trained state such as running statistics), so that ``parameters()``,
``state_dict()``, ``train()/eval()`` and ``to(device)`` walk the whole tree.  Calling a module
runs ``forward`` inside ``ad.name_scope(name)`` (the attribute name in its parent, the class
name for a root) so that drawings of the graph cluster tensors by module path.

:func:`functional_call` runs a module with other tensors in place of its parameters; this is
how a loss becomes a function of theta, ``theta -> L(f_theta(X), Y)``, as in the lecture
(Malgouyres 2024: theta = (W_H, ..., W_1, b_H, ..., b_1)).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import numpy as np

import autodiff as ad
from autodiff import backend
from autodiff.tensor import Tensor


class CheckpointError(ValueError):
    """A state dict or checkpoint file that cannot be loaded into a module (the module is then
    left unchanged)."""


class Parameter(Tensor):
    """A tensor that is a trainable parameter of a module: a leaf that requires grad.
    ``Parameter(t)`` shares ``t``'s memory, as in PyTorch."""

    def __init__(self, data: Any, requires_grad: bool = True):
        if isinstance(data, Tensor):
            data = data.data
        elif not backend.is_array(data):
            data = backend.asarray(data)
        super().__init__(data, requires_grad=requires_grad)

    def __repr__(self) -> str:
        return "Parameter(" + super().__repr__() + ")"


def mark_written(t: Tensor) -> None:
    """Record that ``t.data`` was modified in place (optimizer steps, loading): a backward pass
    through a graph that saved the old values then raises instead of using the new ones."""
    t.mark_written()


class Module:
    """Base class of every layer and network: subclasses set attributes in ``__init__`` and
    define ``forward``."""

    training: bool

    def __init__(self) -> None:
        object.__setattr__(self, "_parameters", {})
        object.__setattr__(self, "_buffers", {})
        object.__setattr__(self, "_modules", {})
        object.__setattr__(self, "_persistent", set())
        object.__setattr__(self, "_scope_name", None)
        object.__setattr__(self, "training", True)

    # ------------------------------------------------------------------ registration
    def _register(self, kind: str, name: str, value: Any) -> None:
        """Put ``value`` in the registry ``kind`` under ``name``, removing the name elsewhere."""
        registries = [self.__dict__.get(k) for k in _KINDS]
        if any(r is None for r in registries):
            raise AttributeError(
                f"{type(self).__name__}: call super().__init__() before assigning parameters, "
                "buffers or sub-modules"
            )
        for registry in registries:
            registry.pop(name, None)
        self.__dict__.pop(name, None)
        self.__dict__[kind][name] = value
        if isinstance(value, Module):
            object.__setattr__(value, "_scope_name", name)

    def __setattr__(self, name: str, value: Any) -> None:
        if isinstance(value, Parameter):
            self._register("_parameters", name, value)
        elif isinstance(value, Module):
            self._register("_modules", name, value)
        else:
            kind = next((k for k in _KINDS if name in self.__dict__.get(k, ())), None)
            if kind is None:
                object.__setattr__(self, name, value)
            elif value is None or isinstance(value, _KINDS[kind]):
                self.__dict__[kind][name] = value
            else:
                raise TypeError(
                    f"{type(self).__name__}.{name} is a registered {kind[1:-1]}: it takes a "
                    f"{_KINDS[kind].__name__} or None, not {type(value).__name__} (to run the module "
                    "with other tensors, use nn.functional_call)"
                )

    def __getattr__(self, name: str) -> Any:
        # Called only when ordinary lookup fails: parameters, buffers and children live here.
        for key in _KINDS:
            registry = self.__dict__.get(key)
            if registry is not None and name in registry:
                return registry[name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __delattr__(self, name: str) -> None:
        for key in _KINDS:
            if name in self.__dict__.get(key, ()):
                del self.__dict__[key][name]
                return
        object.__delattr__(self, name)

    def register_buffer(self, name: str, tensor: Tensor | None, persistent: bool = True) -> None:
        """A tensor that is state but not trained (running statistics); saved in the state dict
        when ``persistent``."""
        if tensor is not None and not isinstance(tensor, Tensor):
            raise TypeError(
                f"register_buffer('{name}'): expected a Tensor or None, got {type(tensor).__name__}"
            )
        self._register("_buffers", name, tensor)
        (self._persistent.add if persistent else self._persistent.discard)(name)

    # ------------------------------------------------------------------ calling
    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} does not define forward()")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        with ad.name_scope(self._scope_name or type(self).__name__):
            return self.forward(*args, **kwargs)

    # ------------------------------------------------------------------ walking the tree
    def named_modules(self, prefix: str = "", memo: set | None = None) -> Iterator[tuple[str, Module]]:
        """This module and every descendant, each once, with its dotted path."""
        memo = set() if memo is None else memo
        if id(self) in memo:
            return
        memo.add(id(self))
        yield prefix, self
        for name, child in self._modules.items():
            if child is not None:
                yield from child.named_modules(f"{prefix}.{name}" if prefix else name, memo)

    def modules(self) -> Iterator[Module]:
        return (m for _, m in self.named_modules())

    def named_children(self) -> Iterator[tuple[str, Module]]:
        return ((n, m) for n, m in self._modules.items() if m is not None)

    def children(self) -> Iterator[Module]:
        return (m for _, m in self.named_children())

    def _named_members(self, key: str, recurse: bool) -> Iterator[tuple[str, Any]]:
        """Every non-None entry of registry ``key`` once (the first name of a shared tensor)."""
        seen: set[int] = set()
        owners = self.named_modules() if recurse else iter([("", self)])
        for path, module in owners:
            for name, value in getattr(module, key).items():
                if value is None or id(value) in seen:
                    continue
                seen.add(id(value))
                yield (f"{path}.{name}" if path else name), value

    def named_parameters(self, recurse: bool = True) -> Iterator[tuple[str, Parameter]]:
        """``("0.weight", W_1), ("0.bias", b_1), ...``: every parameter once, in registration order."""
        return self._named_members("_parameters", recurse)

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        return (p for _, p in self.named_parameters(recurse))

    def named_buffers(self, recurse: bool = True) -> Iterator[tuple[str, Tensor]]:
        return self._named_members("_buffers", recurse)

    def buffers(self, recurse: bool = True) -> Iterator[Tensor]:
        return (b for _, b in self.named_buffers(recurse))

    def num_parameters(self) -> int:
        """The number of scalar parameters, p = dim(theta)."""
        return sum(p.size for p in self.parameters())

    def apply(self, fn: Callable[[Module], None]) -> Module:
        """Call ``fn`` on every sub-module (children first) and on this module."""
        for child in self.children():
            child.apply(fn)
        fn(self)
        return self

    # ------------------------------------------------------------------ modes and state
    def train(self, mode: bool = True) -> Module:
        """Training mode (dropout active, batch statistics) for the whole tree."""
        for module in self.modules():
            object.__setattr__(module, "training", bool(mode))
        return self

    def eval(self) -> Module:
        return self.train(False)

    def zero_grad(self) -> None:
        """Forget the gradients (``p.grad = None``), so the next backward starts afresh."""
        for p in self.parameters():
            p.grad = None

    def requires_grad_(self, requires_grad: bool = True) -> Module:
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    def to(self, device: str | None = None, dtype: Any = None) -> Module:
        """Move (and/or cast) every parameter, gradient and buffer in place; returns self.
        Parameters keep their identity, so optimizers built before still hold them."""

        def convert(data: Any) -> Any:
            if device is not None:
                data = backend.to_device(data, device)
            if dtype is not None and backend.is_floating(data.dtype):
                data = data.astype(backend.resolve_dtype(dtype))
            return data

        for p in self.parameters():
            p.data = convert(p.data)
            if p.grad is not None:
                p.grad = Tensor(convert(p.grad.data))
            mark_written(p)
        for module in self.modules():
            for name, b in module._buffers.items():
                if b is not None:
                    module._buffers[name] = Tensor(convert(b.data))
        return self

    def _state_tensors(self) -> dict[str, Tensor]:
        """The parameters and persistent buffers themselves, by dotted name."""
        state: dict[str, Tensor] = dict(self.named_parameters())
        for path, module in self.named_modules():
            for name, b in module._buffers.items():
                if b is not None and name in module._persistent:
                    state[f"{path}.{name}" if path else name] = b
        return state

    def state_dict(self) -> dict[str, Tensor]:
        """Every parameter and persistent buffer by dotted name; the tensors share memory with
        the module (copy them to keep a snapshot)."""
        return {name: t.detach() for name, t in self._state_tensors().items()}

    def load_state_dict(self, state: Mapping[str, Any], strict: bool = True) -> None:
        """Copy ``state`` into the parameters and buffers, all or nothing: every key, shape and
        dtype kind is checked before anything is written.  With ``strict``, missing and
        unexpected keys are errors; otherwise only the keys present are loaded."""
        own = self._state_tensors()
        missing = sorted(set(own) - set(state))
        unexpected = sorted(set(state) - set(own))
        if strict and (missing or unexpected):
            raise CheckpointError(
                f"load_state_dict into {type(self).__name__}: missing keys {missing}, unexpected keys "
                f"{unexpected}; the state does not come from this architecture (nothing was loaded)"
            )
        staged = []
        for name, target in own.items():
            if name not in state:
                continue
            value = state[name]
            data = value.data if isinstance(value, Tensor) else value
            shape = tuple(getattr(data, "shape", ()))
            kind = getattr(getattr(data, "dtype", None), "kind", None)
            if not (backend.is_array(data) or isinstance(data, np.ndarray)):
                raise CheckpointError(
                    f"load_state_dict: '{name}' is a {type(value).__name__}, not an array "
                    "(nothing was loaded)"
                )
            if shape != target.shape:
                raise CheckpointError(
                    f"load_state_dict: '{name}' has shape {shape} but the module's has shape {target.shape}; "
                    "the state does not come from this architecture (nothing was loaded)"
                )
            if (
                (kind in "fc") != backend.is_floating(target.dtype)
                or kind not in "fciub"
                or (kind == "c" and target.dtype.kind != "c")
            ):
                raise CheckpointError(
                    f"load_state_dict: '{name}' has dtype {data.dtype}, the module's is {target.dtype}: "
                    "not the same kind of number (nothing was loaded)"
                )
            staged.append((name, backend.asarray(data, dtype=target.dtype, device=target.device)))
        for name, data in staged:
            own[name].data[...] = data
            mark_written(own[name])

    # ------------------------------------------------------------------ printing
    def extra_repr(self) -> str:
        """The constructor arguments shown in ``repr`` (overridden by layers)."""
        return ""

    def __repr__(self) -> str:
        return self._repr(root=True)

    def _repr(self, root: bool = False) -> str:
        count = self.num_parameters()
        note = f"  # {count:,} parameter{'s' if count != 1 else ''}" if count and root else ""
        own = f"  # {count:,}" if count and not root else ""
        children = list(self.named_children())
        if not children:
            return f"{type(self).__name__}({self.extra_repr()}){note or own}"
        lines = [f"{type(self).__name__}({self.extra_repr()}{note or own}"]
        for name, child in children:
            body = child._repr().replace("\n", "\n  ")
            lines.append(f"  ({name}): {body}")
        return "\n".join(lines) + "\n)"


_KINDS: dict[str, type] = {"_parameters": Parameter, "_buffers": Tensor, "_modules": Module}


def functional_call(module: Module, params: Mapping[str, Tensor], *args: Any, **kwargs: Any) -> Any:
    """``module(*args, **kwargs)`` computed with the tensors ``params`` in place of the module's
    parameters (and buffers) of the same names, as in ``named_parameters()``; missing names use
    the module's own.  The module is not modified, even if the call raises: every parameter and
    buffer, running statistics included, is restored afterwards.

    Each tensor has its parameter's shape.  Per-example parameters (per-example gradients and
    Jacobians) come from ``ad.vmap`` over a function of one example, which gives each example
    its own copy: ``ad.vmap(ad.grad(loss, 1), in_axes=(0, None))(X, w)``.
    """
    locations: dict[int, list[tuple[dict, str]]] = {}
    by_name: dict[str, Tensor] = {}
    for path, owner in module.named_modules():
        for key in ("_parameters", "_buffers"):
            registry = getattr(owner, key)
            for name, value in registry.items():
                if value is not None:
                    locations.setdefault(id(value), []).append((registry, name))
                    by_name[f"{path}.{name}" if path else name] = value
    substitutes: dict[int, Tensor] = {}
    for name, tensor in params.items():
        if name not in by_name:
            raise KeyError(
                f"functional_call: '{name}' is not a parameter or buffer of {type(module).__name__} "
                f"(its names: {', '.join(by_name)})"
            )
        if not isinstance(tensor, Tensor):
            raise TypeError(
                f"functional_call: params['{name}'] must be a Tensor, got {type(tensor).__name__}"
            )
        if tensor.shape != by_name[name].shape:
            raise ValueError(
                f"functional_call: params['{name}'] has shape {tensor.shape} but the parameter has shape "
                f"{by_name[name].shape}; for one copy per example, vmap a function of one example instead"
            )
        if id(by_name[name]) in substitutes:
            raise ValueError(f"functional_call: '{name}' is tied to another name that was also given")
        substitutes[id(by_name[name])] = tensor
    with _SWAPPING:  # the swap is visible to every thread: one functional_call at a time
        saved = [
            (registry, name, registry[name]) for places in locations.values() for registry, name in places
        ]
        try:
            for key, tensor in substitutes.items():
                for registry, name in locations[key]:
                    registry[name] = tensor
            return module(*args, **kwargs)
        finally:
            for registry, name, original in saved:
                registry[name] = original


# functional_call puts the given tensors into the module's own registries for the call, which
# other threads would see: calls from several threads (a threaded Dask worker, say) take turns.
_SWAPPING = threading.RLock()
