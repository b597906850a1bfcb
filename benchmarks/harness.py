"""Cases, timing and agreement.

A :class:`Case` is one implementation of one task of a workload: ``build()`` does the untimed
setup and returns the call to time; ``fetch`` turns the call's output into host arrays to compare.
:func:`measure_task` runs, for each implementation of a task, the first call (its output is the
one compared; for JAX with jit it includes compilation, reported as ``first_call_s``), further
warm-up calls, then ``repeat`` samples, each of ``number`` calls (``number`` chosen so a sample
lasts at least ``MIN_SAMPLE_S``), and reports the median time per call (``time.perf_counter``),
divided by ``per`` (the op count for the overhead workload).  A case whose calls take long gets
fewer samples, so that it costs at most about ``CASE_BUDGET_S``; with ``warmup=0`` the first
call is itself the first sample.  The samples of the implementations of one task are taken in
turn, so that a change of machine load (other processes) affects all of them alike.
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from benchmarks import peers

MIN_SAMPLE_S = 0.05
CASE_BUDGET_S = 8.0
UNITS = {"s": 1.0, "ms": 1e3, "us/op": 1e6}


def host(x: Any) -> np.ndarray:
    """Any framework's array (ours, torch, JAX, NumPy, CuPy) as a float64/int NumPy array."""
    if hasattr(x, "numpy") and hasattr(x, "data") and type(x).__module__.startswith("autodiff"):
        x = x.numpy()  # our Tensor (explicit host copy)
    elif hasattr(x, "detach"):
        x = x.detach().cpu().numpy()  # torch
    elif hasattr(x, "get"):
        x = x.get()  # CuPy
    return np.asarray(x)


@dataclass
class Case:
    """One implementation (``impl``) of one ``task`` of a ``workload``.

    ``reference``: the implementation of the same task whose output this one is compared with;
    ``relative_to``: when set, the table shows time / time(relative_to) (a cost in units of one
    evaluation, for the scaling workload) instead of the ratio ours / this."""

    workload: str
    task: str
    impl: str
    build: Callable[[], Callable[[], Any]]
    fetch: Callable[[Any], dict[str, Any]] = lambda out: {"out": host(out)}
    sync: Callable[[Any], None] = lambda out: None
    per: float = 1.0
    unit: str = "ms"
    tol: float = 1e-9
    warmup: int = 2  # calls before the samples, the first included; 0: the first call is a sample
    max_repeat: int | None = None
    reference: str = "ours"
    relative_to: str | None = None
    note: str = ""


def cases(
    workload: str,
    task: str,
    builds: dict[str, Callable[[], Callable[[], Any]]],
    notes: dict[str, str] | None = None,
    **common: Any,
) -> list[Case]:
    """A :class:`Case` for each implementation in ``builds`` whose framework is available, with
    that framework's way of waiting for results; ``common`` are the other Case fields."""
    return [
        Case(
            workload, task, impl, build, sync=peers.sync_for(impl), note=(notes or {}).get(impl, ""), **common
        )
        for impl, build in builds.items()
        if peers.available(impl)
    ]


@dataclass
class Measurement:
    case: Case
    seconds: float = math.nan  # median per call, divided by case.per
    best: float = math.nan
    samples: list[float] = field(default_factory=list)
    number: int = 0
    first_call_s: float = math.nan
    outputs: dict[str, Any] = field(default_factory=dict)
    agreement: dict[str, Any] = field(default_factory=dict)
    ratio: float | None = None  # from the medians
    ratio_best: float | None = None  # from the best samples (less sensitive to a loaded machine)
    error: str | None = None

    def as_json(self) -> dict[str, Any]:
        c = self.case
        return {
            "workload": c.workload,
            "task": c.task,
            "impl": c.impl,
            "unit": c.unit,
            "time": _finite(self.seconds * UNITS[c.unit]),
            "time_s": _finite(self.seconds),
            "best_s": _finite(self.best),
            "samples_s": self.samples,
            "calls_per_sample": self.number,
            "first_call_s": _finite(self.first_call_s),
            "per": c.per,
            "ratio": self.ratio,
            "ratio_best": self.ratio_best,
            "ratio_kind": f"time / time({c.relative_to})" if c.relative_to else "ours / this",
            "agreement": self.agreement,
            "note": c.note,
            "error": self.error,
        }


def _finite(x: float) -> float | None:
    return None if x is None or not math.isfinite(x) else x


def _timed(call: Callable[[], Any], sync: Callable[[Any], None], number: int) -> tuple[float, Any]:
    start = time.perf_counter()
    for _ in range(number):
        out = call()
        sync(out)
    return (time.perf_counter() - start) / number, out


def _prepare(case: Case, repeat: int) -> tuple[Measurement, Callable[[], Any] | None, int]:
    """Build, first call (kept for comparison), warm-up; the number of calls per sample and of
    samples.  An exception is recorded in the measurement, not raised (a peer may fail)."""
    m = Measurement(case)
    try:
        call = case.build()
        m.first_call_s, out = _timed(call, case.sync, 1)
        m.outputs = case.fetch(out)
        last = m.first_call_s
        for _ in range(case.warmup - 1 if last < 1.0 else 0):
            last, _ = _timed(call, case.sync, 1)
    except Exception as error:
        return _failed(m, error), None, 0
    m.number = max(1, min(10_000, math.ceil(MIN_SAMPLE_S / max(last, 1e-9))))
    affordable = int(CASE_BUDGET_S // max(last * m.number, 1e-9))
    if case.warmup == 0:  # the first call is a sample (calls of many seconds, nothing to warm)
        m.number, m.samples = 1, [m.first_call_s / case.per]
    return m, call, max(1, min(repeat, case.max_repeat or repeat, affordable))


def _failed(m: Measurement, error: Exception) -> Measurement:
    m.error = f"{type(error).__name__}: {error}"
    m.outputs = {}
    traceback.print_exc()
    return m


def measure_task(
    cases: list[Case], repeat: int, progress: Callable[[int, str], None] = lambda n, label: None
) -> list[Measurement]:
    """Time the implementations of one task (see the module docstring), their samples taken in
    turn (round robin) so that a change of machine load affects them alike; then compare their
    outputs, and free them.  ``progress(steps, label)``: 1 + repeat steps per case."""
    prepared = []
    for case in cases:
        progress(0, f"{case.workload}/{case.task}/{case.impl}: warm-up")
        prepared.append(_prepare(case, repeat))
        progress(1, "")
    taken = [0] * len(prepared)
    for r in range(max((count for _, _, count in prepared), default=0)):
        for k, (m, call, count) in enumerate(prepared):
            if call is None or m.error or len(m.samples) >= count:
                continue
            progress(0, f"{m.case.workload}/{m.case.task}: sample {r + 1} of {m.case.impl}")
            try:
                m.samples.append(_timed(call, m.case.sync, m.number)[0] / m.case.per)
            except Exception as error:
                _failed(m, error)
            taken[k] += 1
            progress(1, "")
    measurements = []
    for k, (m, _, _) in enumerate(prepared):
        if m.samples and not m.error:
            m.seconds, m.best = statistics.median(m.samples), min(m.samples)
        progress(max(repeat - taken[k], 0), "")
        measurements.append(m)
    finish(measurements)
    for m in measurements:
        m.outputs = {}
    return measurements


def compare(reference: dict[str, Any], other: dict[str, Any], tol: float) -> dict[str, Any]:
    """For each output both have: integers must be equal; arrays must agree to ``tol`` relative
    to the reference's largest magnitude (``max_abs / scale``)."""
    result: dict[str, Any] = {}
    for key in sorted(set(reference) & set(other)):
        a, b = np.asarray(reference[key]), np.asarray(other[key])
        if a.shape != b.shape:
            result[key] = {"ok": False, "why": f"shapes {a.shape} vs {b.shape}"}
        elif a.dtype.kind in "iub" and b.dtype.kind in "iub":
            result[key] = {"ok": bool(np.array_equal(a, b)), "ours": a.tolist(), "this": b.tolist()}
        else:
            a, b = a.astype(np.float64), b.astype(np.float64)
            max_abs = float(np.max(np.abs(a - b))) if a.size else 0.0
            scale = float(np.max(np.abs(a))) if a.size else 0.0
            rel = max_abs / scale if scale > 0 else max_abs
            result[key] = {"max_abs": max_abs, "scale": scale, "rel": rel, "ok": bool(rel <= tol), "tol": tol}
    return result


def finish(measurements: list[Measurement]) -> None:
    """Fill in each measurement's ratio and its agreement with its reference (same task)."""
    index = {(m.case.workload, m.case.task, m.case.impl): m for m in measurements}
    for m in measurements:
        c = m.case
        ref = index.get((c.workload, c.task, c.reference))
        if ref is not None and ref is not m and ref.outputs and m.outputs:
            m.agreement = compare(ref.outputs, m.outputs, c.tol)
        base_name = c.relative_to or "ours"
        base = index.get((c.workload, c.task, base_name))
        if base is None or base is m or m.error or base.error:
            continue
        if c.relative_to:
            m.ratio, m.ratio_best = m.seconds / base.seconds, m.best / base.best
        else:
            m.ratio, m.ratio_best = base.seconds / m.seconds, base.best / m.best


def counts(text: str) -> list[int]:
    """An argparse type: comma-separated non-negative integers (``"0,1"``)."""
    try:
        values = [int(k) for k in text.split(",")]
    except ValueError:
        values = [-1]
    if any(v < 0 for v in values):
        raise argparse.ArgumentTypeError(f"expected comma-separated whole numbers such as 0,1; got {text!r}")
    return values
