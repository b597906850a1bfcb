"""Facts recorded with every figure: machine, load, threads, BLAS kernels, versions."""

from __future__ import annotations

import contextlib
import importlib.metadata
import io
import os
import platform
import sys
from typing import Any

import numpy as np

from benchmarks import peers

THREAD_VARIABLES = (
    "OPENBLAS_CORETYPE",
    "OPENBLAS_NUM_THREADS",
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "XLA_FLAGS",
)


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def _version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def numpy_blas() -> dict[str, Any]:
    """NumPy's BLAS as built (``show_config``) and as running (threadpoolctl: library,
    kernel architecture such as 'Haswell' or 'SkylakeX', thread count)."""
    info: dict[str, Any] = {}
    with contextlib.suppress(Exception):
        config = np.show_config(mode="dicts")
        blas = config["Build Dependencies"]["blas"]
        info["build"] = {k: blas.get(k) for k in ("name", "version", "openblas configuration")}
    try:
        import threadpoolctl
    except ImportError:
        info["runtime"] = "threadpoolctl not installed"
        return info
    info["runtime"] = [
        {
            k: pool.get(k)
            for k in ("internal_api", "version", "architecture", "num_threads", "threading_layer")
        }
        for pool in threadpoolctl.threadpool_info()
    ]
    return info


def torch_facts() -> dict[str, Any] | None:
    torch = peers.torch()
    if torch is None:
        return None
    lines = torch.__config__.parallel_info().splitlines()
    keep = ("at::get_num_threads", "at::get_num_interop", "OpenMP", "Intel", "MKL-DNN", "parallel backend")
    return {
        "version": torch.__version__,
        "num_threads": torch.get_num_threads(),
        "parallel_info": [line.strip() for line in lines if any(k in line for k in keep)],
        "cuda": bool(torch.cuda.is_available()),
    }


def jax_facts() -> dict[str, Any] | None:
    j = peers.jax()
    if j is None:
        return None
    return {
        "version": j.jax.__version__,
        "jaxlib": _version("jaxlib"),
        "backend": j.jax.default_backend(),
        "devices": [str(d) for d in j.jax.devices()],
        "x64": bool(j.jax.config.jax_enable_x64),
    }


def facts() -> dict[str, Any]:
    """Everything that qualifies the timings of one run."""
    return {
        "platform": platform.platform(),
        "cpu": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "python": sys.version.split()[0],
        "device": peers.device(),
        "environment": {k: os.environ.get(k) for k in THREAD_VARIABLES},
        "numpy": {"version": np.__version__, "blas": numpy_blas()},
        "torch": torch_facts(),
        "jax": jax_facts(),
        "autograd": _version("autograd") if peers.autograd() is not None else None,
    }


def warnings() -> list[str]:
    """What makes figures hard to compare (printed before the run and stored in the JSON)."""
    notes = []
    if os.environ.get("OPENBLAS_CORETYPE"):
        notes.append(
            f"OPENBLAS_CORETYPE={os.environ['OPENBLAS_CORETYPE']} is set: OpenBLAS uses that kernel instead "
            "of the best one for this CPU; unset it for benchmarks (env -u OPENBLAS_CORETYPE ...)"
        )
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    if load > 0.5 * cpus:
        notes.append(f"load average {load:.1f} on {cpus} CPUs: other work is running, timings are noisy")
    return notes


def summary(info: dict[str, Any]) -> str:
    """One paragraph for the console."""
    runtime = info["numpy"]["blas"].get("runtime")
    if isinstance(runtime, list):
        names = [
            " ".join(str(p[k]) for k in ("internal_api", "version", "architecture") if p[k]) for p in runtime
        ]
        blas = ", ".join(f"{name} x{p['num_threads']}" for name, p in zip(names, runtime, strict=True))
    else:
        blas = str(runtime)
    out = io.StringIO()
    cpus = f"{info['cpu_count']} CPUs ({info['cpus_usable']} usable)"
    out.write(
        f"{info['cpu']}, {cpus}, load average {' '.join(f'{x:.1f}' for x in info['load_average'] or [])}\n"
    )
    out.write(f"Python {info['python']}, NumPy {info['numpy']['version']} (BLAS: {blas})\n")
    if info["torch"]:
        t = info["torch"]
        out.write(f"torch {t['version']}, {t['num_threads']} threads; ")
    if info["jax"]:
        out.write(f"jax {info['jax']['version']} ({info['jax']['backend']}); ")
    out.write(f"autograd {info['autograd']}; device {info['device']}")
    return out.getvalue()
