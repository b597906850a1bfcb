"""The peer frameworks, each optional: imported lazily, configured once, ``None`` when absent
or unable to use the device (the reason is kept in ``SKIPPED`` and reported).

JAX is switched to float64 (``jax_enable_x64``) before its first array, because the Hessian and
Jacobian workloads are float64; the training workload passes float32 arrays explicitly.  With
``--device cpu`` JAX is pinned to its CPU backend.  torch's thread count is left at its default.
"""

from __future__ import annotations

import functools
import importlib
from types import SimpleNamespace
from typing import Any

_config = {"device": "cpu"}
SKIPPED: dict[str, str] = {}  # peer -> why it does not run


def set_device(device: str) -> None:
    """Where everything computes ("cpu" or "cuda"); call before the first use of a peer."""
    _config["device"] = device


def device() -> str:
    return _config["device"]


def _import(name: str) -> Any | None:
    try:
        return importlib.import_module(name)
    except ImportError:
        SKIPPED[name] = f"{name} is not installed (pip install -e '.[bench]')"
        return None


@functools.cache
def torch() -> Any | None:
    module = _import("torch")
    if module is not None and device() == "cuda" and not module.cuda.is_available():
        SKIPPED["torch"] = "torch sees no CUDA device (a CPU-only build?)"
        return None
    return module


@functools.cache
def jax() -> Any | None:
    """``SimpleNamespace(jax=, jnp=)`` or None."""
    module = _import("jax")
    if module is None:
        return None
    module.config.update("jax_enable_x64", True)
    if device() == "cpu":
        module.config.update("jax_platforms", "cpu")
    elif module.default_backend() != "gpu":
        SKIPPED["jax"] = (
            f"JAX has no GPU backend here (it runs on {module.default_backend()}): install jax[cuda12]"
        )
        return None
    return SimpleNamespace(jax=module, jnp=importlib.import_module("jax.numpy"))


@functools.cache
def autograd() -> Any | None:
    """``SimpleNamespace(autograd=, np=)`` (HIPS autograd and its wrapped NumPy) or None."""
    if device() != "cpu":
        SKIPPED["autograd"] = "HIPS autograd computes with NumPy, on the CPU only"
        return None
    module = _import("autograd")
    if module is None:
        return None
    return SimpleNamespace(autograd=module, np=importlib.import_module("autograd.numpy"))


@functools.cache
def torch_tool(name: str) -> Any | None:
    """A PyTorch curvature library (``backpack``, ``hessian_eigenthings``, ``pyhessian``), or None
    when it or torch is absent (the curvature workload's peers, in the bench extra)."""
    if torch() is None:
        return None
    return _import(name)


def torch_device() -> Any:
    return torch().device(device())


def torch_sync(out: Any) -> None:
    """Wait for torch's queued kernels (nothing to wait for on the CPU)."""
    if device() == "cuda":
        torch().cuda.synchronize()


def jax_sync(out: Any) -> None:
    jax().jax.block_until_ready(out)


def ours_sync(out: Any) -> None:
    """Wait for the engine's queued GPU kernels (CuPy); nothing to wait for on the CPU."""
    if device() == "cuda":
        importlib.import_module("cupy").cuda.Device().synchronize()


def framework(impl: str) -> str:
    """ "ours", "torch", "jax" or "autograd" from an implementation's name ("torch.func", "ours fd")."""
    return impl.split()[0].split(".")[0]


def available(impl: str) -> bool:
    name = framework(impl)
    tools = {"backpack": "backpack", "eigenthings": "hessian_eigenthings", "pyhessian": "pyhessian"}
    if name in tools:
        return torch_tool(tools[name]) is not None
    return name in ("ours", "numpy") or {"torch": torch, "jax": jax, "autograd": autograd}[name]() is not None


def sync_for(impl: str):
    """The function that waits for an implementation's results."""
    syncs = {"ours": ours_sync, "jax": jax_sync}
    for name in ("torch", "backpack", "eigenthings", "pyhessian"):
        syncs[name] = torch_sync
    return syncs.get(framework(impl), lambda out: None)
