"""BLAS threads that make way on a busy machine.

NumPy's OpenBLAS splits every large matrix product over all the cores, and its threads wait for
one another.  When another process keeps a core busy, each product waits for the thread that lost
its core: measured on this 2-core machine, ``jacfwd`` of a width-1024 depth-4 tanh MLP took
0.7-1.1 s with one BLAS thread and 2.6-30 s with two while other processes ran (PyTorch's thread
pool slows about 2x there).  So before a matrix product, at most every :data:`REFRESH` seconds,
the engine counts the tasks the kernel has runnable (``/proc/loadavg``) minus its own
(``/proc/self/task``), and gives BLAS only the cores the others leave (at least one).

``AUTODIFF_BLAS_THREADS=n`` fixes n threads, ``=off`` leaves BLAS alone; a user who set
``OPENBLAS_NUM_THREADS`` or ``OMP_NUM_THREADS`` is left alone too.  Where the library or the
files are missing (other BLAS, other systems), nothing happens.
"""

from __future__ import annotations

import ctypes
import os
import re
import time
import warnings
from typing import Any

REFRESH = 0.5  # seconds between two looks at the machine
CORES = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def threads_for(runnable: int, ours: int, cores: int) -> int:
    """BLAS threads to use: the cores not taken by the other runnable tasks, at least one."""
    return max(1, min(cores, cores - max(runnable - ours, 0)))


def _openblas() -> tuple[Any, Any] | None:
    """(set_num_threads, get_num_threads) of the OpenBLAS NumPy loaded, or None."""
    try:
        with open("/proc/self/maps") as maps:
            paths = sorted(
                {p for p in re.findall(r"(/\S+\.so[.\d]*)", maps.read()) if "openblas" in p.lower()}
            )
        for path in paths:
            lib = ctypes.CDLL(path)
            for prefix, suffix in (("scipy_openblas", "64_"), ("openblas", "64_"), ("openblas", "")):
                setter = getattr(lib, f"{prefix}_set_num_threads{suffix}", None)
                getter = getattr(lib, f"{prefix}_get_num_threads{suffix}", None)
                if setter is not None and getter is not None:
                    return setter, getter
    except OSError:
        pass
    return None


def _runnable() -> tuple[int, int]:
    """(runnable tasks on the machine, runnable threads of this process)."""
    with open("/proc/loadavg") as f:
        runnable = int(f.read().split()[3].split("/")[0])
    ours = 0
    for task in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{task}/stat") as f:
                ours += f.read().rpartition(")")[2].split()[0] == "R"
        except OSError:  # the thread ended meanwhile
            pass
    return runnable, ours


class Governor:
    """Adjusts the BLAS thread count to the machine's load (see the module)."""

    def __init__(self) -> None:
        setting = os.environ.get("AUTODIFF_BLAS_THREADS", "auto").strip().lower()
        if setting not in ("auto", "off") and not (setting.isdigit() and int(setting) >= 1):
            warnings.warn(
                f"AUTODIFF_BLAS_THREADS={setting!r} is not understood: give a number of threads >= 1, "
                "'auto' (the default: the cores other tasks leave) or 'off' (BLAS left alone); using 'auto'",
                RuntimeWarning,
                stacklevel=2,
            )
            setting = "auto"
        user_set = any(os.environ.get(v) for v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"))
        self.calls = None if setting == "off" or (setting == "auto" and user_set) else _openblas()
        self.fixed = int(setting) if setting.isdigit() else None
        self.checked = -REFRESH
        if self.calls is not None and self.fixed is not None:
            self.calls[0](self.fixed)

    def __call__(self) -> None:
        """Look at the machine if the last look is older than REFRESH seconds."""
        if self.calls is None or self.fixed is not None:
            return
        now = time.monotonic()
        if now - self.checked < REFRESH:
            return
        self.checked = now
        try:
            wanted = threads_for(*_runnable(), CORES)
        except (OSError, ValueError, IndexError):
            self.calls = None  # no /proc here: leave BLAS alone from now on
            return
        if wanted != self.calls[1]():
            self.calls[0](wanted)


govern = Governor()
