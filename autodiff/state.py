"""The engine's global switches, in one place (read on every operation, so plain attributes)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator


class _Flags:
    grad_enabled = True
    anomaly = False
    forward_levels = 0  # number of open forward-mode (jvp) levels; see autodiff.forward
    vmap_levels = 0  # number of open vmap levels (0 also while ops run on physical arrays)
    inplace_writes = 0  # in-place writes ever made; backward checks versions only once there are
    scope: tuple[str, ...] | None = None  # names of the nn modules being called (for drawings)


flags = _Flags()
vmap_sizes: dict[int, int] = {}  # open vmap level -> its batch size


@contextlib.contextmanager
def physical() -> Iterator[None]:
    """Inside, tensors show their physical arrays, batch axes of ``vmap`` included: the engine
    and the batching rules work there."""
    previous = flags.vmap_levels
    flags.vmap_levels = 0
    try:
        yield
    finally:
        flags.vmap_levels = previous
