"""Training checkpoints: model, optimiser, scheduler and random-generator states in one archive,
so that training resumed from it continues bit for bit as if never interrupted.

The archive is written by :func:`nn.save` (atomic rename; read back with ``allow_pickle=False``
and fully checked before anything is loaded): arrays under ``model/<name>`` and
``optimizer/<index>/<name>``, and one JSON document (hyperparameters, counters, generator states
as integers, and any ``extra`` values such as the history) stored as UTF-8 bytes.  Generator
states are those of NumPy's PCG64 behind :class:`autodiff.random.Generator`; the default
generator (used by layers given none) is always saved.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

import autodiff as ad
from autodiff import random as ad_random
from autodiff.random import Generator
from nn.io import read, save
from nn.module import CheckpointError, Module

_META = "meta"


class _Archive(Module):
    """Named host arrays held as buffers, so that ``nn.save`` writes them."""

    def __init__(self, arrays: Mapping[str, np.ndarray]):
        super().__init__()
        for name, array in arrays.items():
            self.register_buffer(name, ad.tensor(array, device="cpu"))


def save_checkpoint(
    path: str | os.PathLike,
    model: Module,
    optimizer: Any = None,
    scheduler: Any = None,
    generators: Mapping[str, Generator] | None = None,
    **extra: Any,
) -> Path:
    """Write the states of ``model``, ``optimizer`` and ``scheduler`` (when given), of the named
    ``generators`` (e.g. the data loader's) and of the default generator, and the JSON-ready
    ``extra`` values, to ``path``; returns the path."""
    arrays = {f"model/{name}": t.numpy() for name, t in model.state_dict().items()}
    meta: dict[str, Any] = {"extra": extra, "generators": {}}
    if optimizer is not None:
        state = optimizer.state_dict()
        meta["optimizer"] = {"param_groups": state["param_groups"], "scalars": {}}
        meta["optimizer"]["more"] = {k: v for k, v in state.items() if k not in ("state", "param_groups")}
        for index, values in state["state"].items():
            for key, value in values.items():
                if hasattr(value, "shape"):
                    arrays[f"optimizer/{index}/{key}"] = ad.tensor(value).numpy()
                else:
                    meta["optimizer"]["scalars"][f"{index}/{key}"] = value
    if scheduler is not None:
        meta["scheduler"] = scheduler.state_dict()
    for name, generator in {**(generators or {}), "default": ad_random.default_generator}.items():
        meta["generators"][name] = generator.numpy().bit_generator.state
    arrays[_META] = ad.tensor(list(json.dumps(meta).encode()), dtype="uint8", device="cpu").numpy()
    return save(_Archive(arrays), path)


def _read(path: str | os.PathLike) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    arrays = read(path)
    if _META not in arrays:
        raise CheckpointError(f"load_checkpoint: {path} is a model file, not a training checkpoint")
    return arrays, json.loads(arrays.pop(_META).tobytes().decode())


def read_checkpoint_extra(path: str | os.PathLike) -> dict[str, Any]:
    """The ``extra`` values of a checkpoint (e.g. the configuration needed to rebuild the model)."""
    return _read(path)[1]["extra"]


def load_checkpoint(
    path: str | os.PathLike,
    model: Module,
    optimizer: Any = None,
    scheduler: Any = None,
    generators: Mapping[str, Generator] | None = None,
) -> dict[str, Any]:
    """Restore what :func:`save_checkpoint` wrote into the objects given (built the same way as
    those saved) and return the ``extra`` values.  Everything is read and checked first, the
    model loaded all or nothing; CheckpointError names what does not match."""
    arrays, meta = _read(path)
    wanted = {**(generators or {}), "default": ad_random.default_generator}
    missing = [name for name in wanted if name not in meta["generators"]]
    given = (("optimizer", optimizer), ("scheduler", scheduler))
    missing += [what for what, obj in given if obj is not None and what not in meta]
    if missing:
        raise CheckpointError(f"load_checkpoint: {path} holds no state for {missing} (nothing was loaded)")
    model_arrays = {k.removeprefix("model/"): v for k, v in arrays.items() if k.startswith("model/")}
    try:
        model.load_state_dict(model_arrays)
    except CheckpointError as error:
        raise CheckpointError(f"load_checkpoint: {path}: {error}") from None
    if optimizer is not None:
        saved = meta["optimizer"]
        state: dict[int, dict[str, Any]] = {}
        for key, value in arrays.items():
            if key.startswith("optimizer/"):
                _, index, name = key.split("/", 2)
                state.setdefault(int(index), {})[name] = value
        for key, value in saved["scalars"].items():
            index, name = key.split("/", 1)
            state.setdefault(int(index), {})[name] = value
        optimizer.load_state_dict(
            {**saved.get("more", {}), "state": state, "param_groups": saved["param_groups"]}
        )
    if scheduler is not None:
        scheduler.load_state_dict(meta["scheduler"])
    for name, generator in wanted.items():
        generator.numpy().bit_generator.state = meta["generators"][name]
    return meta["extra"]
