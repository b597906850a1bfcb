"""1-D and 2-D slices of the loss: ``L(theta + a d_1 + b d_2)`` on a grid of (a, b).

The lecture notes (Malgouyres 2024, *Nonconvex optimization landscapes*; *¿Por qué la
solución al problema de optimalidad funciona?*) study the loss landscape through its level sets
``Omega(lambda) = {theta : L(theta) <= lambda}``; a slice along directions (random and
filter-normalised, :func:`random_directions`, or the principal directions of a training
trajectory, :func:`trajectory_pca`) shows them in a plane, as in Li, Xu, Taylor, Studer,
Goldstein (2018), *Visualizing the loss landscape of neural nets*.  The grid cells are
independent jobs of a :func:`sweep` (serial, local processes or a Dask cluster; the same
numbers in every case).  Results: a JSON of the grid and PNGs (contour, filled contour, 3-D
surface) drawn with matplotlib's object API (the global backend is left alone).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

import autodiff as ad
from autodiff.tensor import Tensor
from landscape._core import ScalarFn, flat, like
from landscape.directions import TrajectoryPCA
from landscape.sweeps import sweep


class Measure:
    """The loss and the ``metrics`` (name -> scalar function of theta) at a point, as floats;
    ``refresh(theta)`` runs first when given (e.g. recomputing BatchNorm statistics)."""

    def __init__(
        self,
        f: ScalarFn,
        metrics: Mapping[str, ScalarFn] | None = None,
        refresh: Callable[[Tensor], None] | None = None,
    ):
        self.f, self.metrics, self.refresh = f, dict(metrics or {}), refresh

    def __call__(self, theta: Tensor) -> dict[str, float]:
        with ad.no_grad():
            if self.refresh is not None:
                self.refresh(theta)
            values = {"loss": self.f(theta).item()}
            values.update({name: g(theta).item() for name, g in self.metrics.items()})
        return values


def tabulate(rows: Sequence[dict[str, float]], shape: tuple[int, ...]) -> dict[str, np.ndarray]:
    """Per-point dicts -> one array of ``shape`` per quantity."""
    return {name: np.array([r[name] for r in rows]).reshape(shape) for name in rows[0]}


class _GridJob:
    """Evaluates a measure at theta + sum_k c_k d_k for a list of coordinate tuples c."""

    def __init__(self, measure: Measure, theta: Tensor, directions: Tensor):
        self.measure, self.theta, self.directions = measure, theta, directions

    def __call__(self, cells: Sequence[tuple[float, ...]]) -> list[dict[str, float]]:
        out = []
        for cell in cells:
            theta = self.theta
            for c, d in zip(cell, self.directions, strict=True):
                theta = theta + c * d
            out.append(self.measure(theta))
        return out


@dataclass
class Surface:
    """``coords``: the grid of each axis; ``values``: name -> array of shape
    ``(len(coords[0]),)`` or ``(len(coords[0]), len(coords[1]))`` (entry [i, j] at
    ``theta + coords[0][i] d_1 + coords[1][j] d_2``); ``info``: how it was made."""

    coords: list[np.ndarray]
    values: dict[str, np.ndarray]
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def loss(self) -> np.ndarray:
        return self.values["loss"]

    def to_dict(self) -> dict[str, Any]:
        return {
            "coords": [c.tolist() for c in self.coords],
            "values": {k: v.tolist() for k, v in self.values.items()},
            "info": self.info,
        }

    def save(self, folder: str | Path, trajectory: TrajectoryPCA | np.ndarray | None = None) -> list[Path]:
        """Write ``surface.json`` (with the trajectory's coordinates when given) and the PNGs
        of :meth:`plot` to ``folder``; returns the paths."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        record = self.to_dict()
        if trajectory is not None:
            record["trajectory"] = _trajectory_coords(trajectory).tolist()
        if isinstance(trajectory, TrajectoryPCA):
            record["trajectory_explained_variance"] = trajectory.explained.tolist()
        path = folder / "surface.json"
        path.write_text(json.dumps(record, indent=1))
        return [path, *self.plot(folder, trajectory)]

    def plot(self, folder: str | Path, trajectory: TrajectoryPCA | np.ndarray | None = None) -> list[Path]:
        """PNGs in ``folder``: ``surface_1d.png`` for a line; ``contour.png``, ``contourf.png``
        (with the trajectory drawn on both when given) and ``surface_3d.png`` for a plane."""
        Figure, Canvas = _matplotlib()
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        if len(self.coords) == 1:
            fig = Figure(figsize=(5, 3.5))
            ax = fig.add_subplot()
            for name, values in self.values.items():
                ax.plot(self.coords[0], values, marker=".", label=name)
            ax.set_xlabel("alpha (along d_1)")
            ax.legend()
            ax.grid(alpha=0.3)
            return [_save(fig, Canvas, folder / "surface_1d.png")]
        A, B = np.meshgrid(self.coords[0], self.coords[1], indexing="ij")
        Z = self.loss
        levels = _levels(Z)
        paths = []
        for name, filled in (("contour.png", False), ("contourf.png", True)):
            fig = Figure(figsize=(5.2, 4.4))
            ax = fig.add_subplot()
            drawn = (ax.contourf if filled else ax.contour)(A, B, Z, levels=levels, cmap="viridis")
            fig.colorbar(drawn, ax=ax, label="loss")
            if not filled:
                ax.clabel(drawn, fontsize=6, fmt="%.3g")
            if trajectory is not None:
                xy = _trajectory_coords(trajectory)
                ax.plot(xy[:, 0], xy[:, 1], "-o", color="tab:red", ms=2.5, lw=1, label="training")
                ax.legend(loc="upper right", fontsize=7)
            ax.set_xlabel(self.info.get("axis_labels", ["d_1", "d_2"])[0])
            ax.set_ylabel(self.info.get("axis_labels", ["d_1", "d_2"])[1])
            ax.set_title(self.info.get("title", "loss"), fontsize=9)
            paths.append(_save(fig, Canvas, folder / name))
        fig = Figure(figsize=(5.5, 4.5))
        ax = fig.add_subplot(projection="3d")
        ax.plot_surface(A, B, Z, cmap="viridis", linewidth=0, antialiased=True)
        ax.set_xlabel("d_1")
        ax.set_ylabel("d_2")
        ax.set_zlabel("loss")
        paths.append(_save(fig, Canvas, folder / "surface_3d.png"))
        return paths


def _trajectory_coords(trajectory: TrajectoryPCA | np.ndarray) -> np.ndarray:
    return np.asarray(trajectory.coords if isinstance(trajectory, TrajectoryPCA) else trajectory)


def _levels(Z: np.ndarray, n: int = 24) -> np.ndarray:
    """Contour levels: geometric between the smallest and largest finite loss when positive."""
    finite = Z[np.isfinite(Z)]
    lo, hi = float(finite.min()), float(finite.max())
    if hi <= lo:
        return np.array([lo, lo + 1.0])
    return np.geomspace(lo, hi, n) if lo > 0 else np.linspace(lo, hi, n)


def _matplotlib() -> tuple[Any, Any]:
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as error:
        raise ImportError("landscape plots need matplotlib: pip install matplotlib") from error
    return Figure, FigureCanvasAgg


def _save(fig: Any, Canvas: Any, path: Path) -> Path:
    Canvas(fig)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return path


def grid_axis(grid: int | Sequence[float], span: tuple[float, float]) -> np.ndarray:
    """``grid`` points evenly spaced over ``span``, or the given coordinates."""
    if isinstance(grid, int):
        if grid < 2:
            raise ValueError(f"surface: a grid needs at least 2 points per axis, got {grid}")
        return np.linspace(span[0], span[1], grid)
    return np.asarray(grid, dtype=float)


def surface(
    f: ScalarFn,
    theta: Any,
    directions: Any,
    grid: int | Sequence[float] | Sequence[Sequence[float]] = 21,
    span: tuple[float, float] = (-1.0, 1.0),
    metrics: Mapping[str, ScalarFn] | None = None,
    refresh: Callable[[Tensor], None] | None = None,
    client: Any = None,
    workers: int | None = None,
    progress: bool = True,
    info: Mapping[str, Any] | None = None,
) -> Surface:
    """``L(theta + a d_1 [+ b d_2])`` over the grid (and each of ``metrics``, e.g. accuracy),
    for ``directions`` of shape (p,), (1, p) or (2, p).  ``grid``: points per axis over
    ``span``, or the coordinates (one sequence for every axis, or one per axis).  One job per
    grid row, run by :func:`sweep` (``client``, ``workers``); deterministic."""
    theta = flat(theta, "surface")
    directions = like(theta, directions, "surface", "directions")
    directions = directions.reshape(1, -1) if directions.ndim == 1 else directions
    if directions.shape[0] not in (1, 2):
        raise ValueError(f"surface: give 1 or 2 directions, got {directions.shape[0]}")
    k = directions.shape[0]
    nested = not isinstance(grid, int) and len(grid) == k and all(np.ndim(g) == 1 for g in grid)
    axes = [grid_axis(g, span) for g in grid] if nested else [grid_axis(grid, span)] * k
    rows = [[(a,)] for a in axes[0]] if k == 1 else [[(a, b) for b in axes[1]] for a in axes[0]]
    job = _GridJob(Measure(f, metrics, refresh), theta, directions)
    done = sweep(job, rows, client=client, workers=workers, progress=progress, desc="surface").values()
    values = tabulate([cell for row in done for cell in row], tuple(len(a) for a in axes))
    return Surface(list(axes), values, dict(info or {}))
