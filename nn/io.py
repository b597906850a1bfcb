"""Checkpoints: a module's state dict as a NumPy ``.npz`` archive, read with
``allow_pickle=False`` (plain arrays only, no code).

``save`` writes to a temporary file in the same folder and renames it, so a crash never leaves a
half-written checkpoint under the final name.  The temporary file is named after the
checkpoint and the writing process (``.model.npz.<pid>.<random>.tmp``); a later save removes
those whose process is gone (a save killed before it could clean up).  The checkpoint keeps the
mode of the file it replaces, or gets the umask's default for a new file (as ``open`` would).
``load`` reads and checks everything (the archive's integrity, its format marker, every key,
shape and dtype) before writing anything, so a truncated, tampered or foreign file raises
:class:`CheckpointError` and leaves the model unchanged; a complex array is refused for a real
parameter.
"""

from __future__ import annotations

import glob
import os
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from nn.module import CheckpointError, Module

FORMAT_KEY = "__nn_checkpoint__"
FORMAT = "nn-checkpoint-1"


def save(module: Module, path: str | os.PathLike) -> Path:
    """Write ``module.state_dict()`` to ``path`` (an .npz archive, bit-exact values); returns the path."""
    path = Path(path)
    arrays = {name: t.numpy() for name, t in module.state_dict().items()}
    if FORMAT_KEY in arrays:
        raise ValueError(f"save: '{FORMAT_KEY}' is reserved and cannot be a parameter name")
    arrays[FORMAT_KEY] = np.array(FORMAT)
    path.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_temporaries(path)
    mode = path.stat().st_mode & 0o7777 if path.exists() else 0o666 & ~_umask()
    prefix = f".{path.name}.{os.getpid()}."
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=prefix, suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as f:
            np.savez(f, **arrays)
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def _umask() -> int:
    """The process's umask (read by setting it and putting it back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: alive
        return True
    return True


def _remove_stale_temporaries(path: Path) -> None:
    """Delete the temporary files of earlier saves to ``path`` whose process no longer runs
    (POSIX only: elsewhere signal 0 does not test a process)."""
    if os.name != "posix":
        return
    for candidate in path.parent.glob(f".{glob.escape(path.name)}.*.tmp"):
        pid = candidate.name[len(path.name) + 2 :].split(".", 1)[0]
        if pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)):
            candidate.unlink(missing_ok=True)


def read(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """The arrays of a checkpoint, fully read and checked (CheckpointError if malformed)."""
    path = Path(path)
    try:
        archive = np.load(path, allow_pickle=False)
        if not hasattr(archive, "files"):
            raise CheckpointError(
                f"load: {path} holds a single array, not a checkpoint archive written by nn.save"
            )
        with archive:
            arrays = {name: archive[name] for name in archive.files}
    except FileNotFoundError:
        raise
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile) as error:
        raise CheckpointError(
            f"load: {path} is not a readable checkpoint (truncated, corrupted or not an .npz "
            f"archive): {error}"
        ) from error
    marker = arrays.pop(FORMAT_KEY, None)
    if marker is None or marker.shape != () or str(marker) != FORMAT:
        raise CheckpointError(f"load: {path} is an .npz archive but not a checkpoint written by nn.save")
    return arrays


def load(module: Module, path: str | os.PathLike, strict: bool = True) -> Module:
    """Load the checkpoint at ``path`` into ``module``, all or nothing; returns the module."""
    arrays = read(path)
    try:
        module.load_state_dict(arrays, strict=strict)
    except CheckpointError as error:
        raise CheckpointError(f"load: {path}: {error}") from None
    return module
