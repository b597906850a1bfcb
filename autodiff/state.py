"""The engine's switches, in one place.

Modes (grad recording, anomaly detection, open forward-mode and vmap levels, name scopes) are
per thread, as in PyTorch: a ``no_grad()`` in one thread never turns recording off in another.
Only the in-place write counter is shared by every thread, since tensors are.
"""

from __future__ import annotations

import contextlib
import itertools
import math
import threading
import types
from collections.abc import Iterator
from typing import Any


class _Modes(threading.local):
    """This thread's modes (each thread starts with the defaults below)."""

    grad_enabled = True
    anomaly = False
    forward_levels = 0  # number of open forward-mode (jvp) levels; see autodiff.forward
    vmap_levels = 0  # number of open vmap levels
    hooked = 0  # open modes every operation must look at (the four above and name scopes): one read
    scope: tuple[str, ...] | None = None  # names of the nn modules being called (for drawings)
    ceiling = math.inf  # forward-mode rules of level L see only levels below L
    watching = 0  # reverse-mode transforms running their function: inner ones record their derivative

    def __init__(self) -> None:
        self.vmap_sizes: dict[int, int] = {}  # open vmap level -> its batch size
        self.tangent_batches: dict[int, tuple[int, ...]] = {}  # open jvp level -> tangent batch shape


flags = _Modes()
shared = types.SimpleNamespace(inplace_writes=0)  # in-place writes ever made: backward checks versions if any


_numbers = itertools.count(1)  # level numbers grow inwards, shared by forward mode and vmap


@contextlib.contextmanager
def open_level(registry: str, counter: str, value: Any) -> Iterator[int]:
    """Open a level of a transformation for the block: a new number, its entry ``value`` in
    this thread's dict ``registry``, one more on the counter ``counter`` and on ``hooked``."""
    number = next(_numbers)
    getattr(flags, registry)[number] = value
    setattr(flags, counter, getattr(flags, counter) + 1)
    flags.hooked += 1
    try:
        yield number
    finally:
        del getattr(flags, registry)[number]
        setattr(flags, counter, getattr(flags, counter) - 1)
        flags.hooked -= 1
