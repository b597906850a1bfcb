"""Containers: Sequential (a composition f_H o ... o f_1) and ModuleList."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from nn.module import Module


class ModuleList(Module):
    """A list of modules, registered under the names "0", "1", ...."""

    def __init__(self, modules: Iterable[Module] = ()):
        super().__init__()
        self.extend(modules)

    def append(self, module: Module) -> ModuleList:
        if not isinstance(module, Module):
            raise TypeError(f"{type(self).__name__}: expected a Module, got {type(module).__name__}")
        setattr(self, str(len(self)), module)
        return self

    def extend(self, modules: Iterable[Module]) -> ModuleList:
        for m in modules:
            self.append(m)
        return self

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())

    def __getitem__(self, index: int | slice) -> Any:
        items = list(self._modules.values())
        if isinstance(index, slice):
            return type(self)(items[index])
        if not -len(items) <= index < len(items):
            raise IndexError(f"{type(self).__name__}: index {index} out of range for {len(items)} modules")
        return items[index]


class Sequential(ModuleList):
    """``Sequential(f_1, ..., f_H)(x) = f_H(... f_1(x))``."""

    def __init__(self, *modules: Module):
        super().__init__(modules)

    def forward(self, x: Any) -> Any:
        for module in self._modules.values():
            x = module(x)
        return x
