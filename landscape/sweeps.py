"""Many independent jobs (grid cells of a surface, points along a path, widths x seeds of a
study, checkpoints along training) evaluated serially, in local processes, or on a Dask
distributed cluster, with the same results in every case.

``sweep(fn, points)`` returns ``[fn(p) for p in points]`` in the order of ``points``.  A job
that raises, or whose process dies, is retried (``retries`` more times); one that still fails is
reported in ``SweepResult.errors`` and the others are kept.  A job must be deterministic in its
point (put the seed in the point) and return picklable host values (floats, NumPy arrays,
dicts) for the results to be identical to the serial run.

Local processes are forked (``fn`` may be a closure; it is inherited, never pickled).  With a
``dask.distributed.Client`` or a scheduler address (``tcp://host:8786``) the jobs go to that
cluster (``pip install "dask[distributed]"``); Dask reschedules the jobs of a worker that dies
and retries jobs that raise.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from typing import Any


class SweepError(RuntimeError):
    """Some jobs of a sweep failed after their retries (the message lists them)."""


@dataclass
class SweepResult:
    """``results[i] = fn(points[i])`` (None where job i failed), ``errors[i]`` the last error
    of each failed job, and ``backend``: "serial", "processes" or "dask"."""

    results: list[Any]
    errors: dict[int, str] = field(default_factory=dict)
    backend: str = "serial"

    def values(self) -> list[Any]:
        """The results, or :class:`SweepError` naming every failed job."""
        if self.errors:
            lines = "; ".join(f"job {i}: {e}" for i, e in sorted(self.errors.items())[:5])
            more = f" (and {len(self.errors) - 5} more)" if len(self.errors) > 5 else ""
            raise SweepError(f"sweep: {len(self.errors)} of {len(self.results)} jobs failed: {lines}{more}")
        return self.results


class _NoBar:
    def update(self, n: int = 1) -> None:
        pass

    def close(self) -> None:
        pass


def progress_bar(total: int, enabled: bool, desc: str) -> Any:
    """A tqdm bar, or an object that does nothing when disabled or when tqdm is absent (it is
    optional)."""
    if enabled:
        try:
            from tqdm.auto import tqdm
        except ImportError:
            return _NoBar()
        return tqdm(total=total, desc=desc, leave=False, dynamic_ncols=True)
    return _NoBar()


def _describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"


def sweep(
    fn: Callable[[Any], Any],
    points: Sequence[Any],
    client: Any = None,
    workers: int | None = None,
    retries: int = 2,
    progress: bool = True,
    desc: str = "sweep",
) -> SweepResult:
    """Evaluate ``fn`` at every point: on ``client`` (a ``dask.distributed.Client`` or a
    scheduler address) when given, else in ``workers`` local processes (default: one per CPU;
    ``workers=0`` runs serially in this process).  Each job is tried up to ``1 + retries`` times."""
    points = list(points)
    if retries < 0:
        raise ValueError(f"sweep: retries must be >= 0, got {retries}")
    bar = progress_bar(len(points), progress, desc)
    try:
        if client is not None:
            return _on_dask(fn, points, client, retries, bar)
        if workers is None:
            workers = min(os.cpu_count() or 1, len(points))
        if workers < 0:
            raise ValueError(f"sweep: workers must be >= 0 (0 runs serially), got {workers}")
        if workers <= 1 or len(points) <= 1 or "fork" not in multiprocessing.get_all_start_methods():
            return _serial(fn, points, retries, bar)
        return _in_processes(fn, points, workers, retries, bar)
    finally:
        bar.close()


def _serial(fn: Callable, points: list, retries: int, bar: Any) -> SweepResult:
    out = SweepResult([None] * len(points), backend="serial")
    for i, point in enumerate(points):
        for _ in range(retries + 1):
            try:
                out.results[i] = fn(point)
                out.errors.pop(i, None)
                break
            except Exception as error:
                out.errors[i] = _describe(error)
        bar.update()
    return out


_JOB: Callable | None = None  # the function of the sweep, in each forked worker


def _install(fn: Callable) -> None:
    global _JOB
    _JOB = fn


def _call(point: Any) -> Any:
    return _JOB(point)


def _in_processes(fn: Callable, points: list, workers: int, retries: int, bar: Any) -> SweepResult:
    """A fork pool; when a worker dies the pool breaks, and the unfinished jobs (each charged
    one attempt) go to a fresh pool."""
    out = SweepResult([None] * len(points), backend="processes")
    attempts = [0] * len(points)
    pending = set(range(len(points)))
    context = multiprocessing.get_context("fork")
    while pending:
        with ProcessPoolExecutor(workers, mp_context=context, initializer=_install, initargs=(fn,)) as pool:
            futures = {pool.submit(_call, points[i]): i for i in sorted(pending)}
            for future in as_completed(futures):
                i = futures[future]
                attempts[i] += 1
                try:
                    out.results[i] = future.result()
                    out.errors.pop(i, None)
                except Exception as error:  # BrokenProcessPool too: a worker died
                    out.errors[i] = _describe(error)
                    if attempts[i] <= retries:
                        continue
                pending.discard(i)
                bar.update()
    return out


def _distributed() -> Any:
    try:
        import distributed
    except ImportError as error:
        raise ImportError(
            'sweep on a cluster needs Dask: pip install "dask[distributed]" '
            '(or pip install -e ".[distributed]")'
        ) from error
    return distributed


def scheduler_address(text: str) -> str:
    """A Dask scheduler address, ``tcp://host:port`` (also tls://, ucx://, inproc://); an
    argparse type too: anything else is refused with a clear message."""
    scheme, _, rest = text.partition("://")
    if scheme not in ("tcp", "tls", "ucx", "inproc") or not rest or (scheme != "inproc" and ":" not in rest):
        raise ValueError(
            f"{text!r} is not a Dask scheduler address: give tcp://host:port (e.g. tcp://127.0.0.1:8786)"
        )
    return text


def _on_dask(fn: Callable, points: list, client: Any, retries: int, bar: Any) -> SweepResult:
    distributed = _distributed()
    owned = isinstance(client, str)
    if owned:
        try:
            client = distributed.Client(scheduler_address(client), timeout=30)
        except (OSError, TimeoutError) as error:
            raise ValueError(f"sweep: cannot reach the Dask scheduler at {client} ({error})") from None
    out = SweepResult([None] * len(points), backend="dask")
    futures = client.map(fn, points, retries=retries, pure=False)
    index = {future.key: i for i, future in enumerate(futures)}
    try:
        for future in distributed.as_completed(futures):
            i = index[future.key]
            try:
                out.results[i] = future.result()
            except Exception as error:
                out.errors[i] = _describe(error)
            bar.update()
    finally:
        client.cancel(futures)
        if owned:
            client.close()
    return out
