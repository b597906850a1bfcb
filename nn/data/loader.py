"""Data sets of tensors and the loader that cuts them into mini-batches."""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from typing import Any

import autodiff as ad
from autodiff.random import Generator, resolve
from autodiff.tensor import Tensor


class TensorDataset:
    """Examples stored as tensors of equal length along axis 0 (inputs, targets, ...);
    ``meta`` holds facts about how the data were made (the teacher, the singular values, ...)."""

    def __init__(self, *tensors: Any, meta: dict[str, Any] | None = None):
        if not tensors:
            raise ValueError("TensorDataset: needs at least one tensor")
        self.tensors = tuple(t if isinstance(t, Tensor) else ad.tensor(t) for t in tensors)
        lengths = {len(t) if t.ndim else None for t in self.tensors}
        if len(lengths) != 1 or None in lengths:
            shapes = ", ".join(str(t.shape) for t in self.tensors)
            raise ValueError(
                f"TensorDataset: tensors must have the same length along axis 0, got shapes {shapes}"
            )
        self.meta = dict(meta or {})

    def __len__(self) -> int:
        return len(self.tensors[0])

    def __getitem__(self, index: Any) -> tuple[Tensor, ...]:
        return tuple(t[index] for t in self.tensors)

    def to(self, device: str) -> TensorDataset:
        return TensorDataset(*(t.to(device) for t in self.tensors), meta=self.meta)

    def __repr__(self) -> str:
        shapes = ", ".join(f"{t.shape} {t.dtype}" for t in self.tensors)
        return f"TensorDataset({len(self)} examples: {shapes})"


def as_dataset(data: Any) -> TensorDataset:
    """A TensorDataset, or a tuple of tensors / arrays made into one."""
    if isinstance(data, TensorDataset):
        return data
    if isinstance(data, Sequence) and not isinstance(data, Tensor):
        return TensorDataset(*data)
    raise TypeError(f"expected a TensorDataset or a tuple of tensors, got {type(data).__name__}")


def split(
    data: Any, test_fraction: float = 0.2, seed: int | None = 0, stratify: bool = False
) -> tuple[TensorDataset, TensorDataset]:
    """(train, test) with ``round(test_fraction * n)`` test examples chosen by a seeded random
    permutation; ``stratify`` takes that fraction of each class of the last tensor (integer
    labels, read on the host once) instead; ``seed=None`` keeps the order (the last examples are
    the test set).  Both keep the original order of the examples."""
    data = as_dataset(data)
    if not 0 < test_fraction < 1:
        raise ValueError(f"split: test_fraction must be in (0, 1), got {test_fraction}")
    groups: dict[Any, list[int]] = {}
    if stratify:
        labels = data.tensors[-1]
        if labels.ndim != 1 or labels.dtype.kind not in "iu":
            raise ValueError(
                f"split: stratify needs integer labels (N,) last, got {labels.shape} {labels.dtype}"
            )
        for i, label in enumerate(labels.tolist()):
            groups.setdefault(label, []).append(i)
    else:
        groups[None] = list(range(len(data)))
    rng = None if seed is None else Generator(seed)
    train: list[int] = []
    test: list[int] = []
    for key in sorted(groups):  # classes in increasing order (one group when not stratified)
        group = groups[key]
        order = group if rng is None else [group[k] for k in rng.permutation(len(group))]
        cut = len(order) - max(1, round(len(order) * test_fraction))
        train += order[:cut]
        test += order[cut:]
    return (
        TensorDataset(*data[sorted(train)], meta=data.meta),
        TensorDataset(*data[sorted(test)], meta=data.meta),
    )


def standardize(train: Any, *others: Any, min_std: float = 0.0) -> tuple[TensorDataset, ...]:
    """Inputs (the first tensor) mapped to ``(x - mean) / max(std, min_std)`` with the per-feature
    mean and standard deviation of the *training* set, applied to every set given; a feature
    that is constant in training is only centred (divided by 1 when ``min_std`` is 0)."""
    train = as_dataset(train)
    x = train.tensors[0]
    mean, std = ad.mean(x, axis=0), ad.std(x, axis=0)
    scale = ad.where(std > min_std, std, min_std if min_std > 0 else 1.0)
    meta = {"mean": mean, "scale": scale}
    return tuple(
        TensorDataset((d.tensors[0] - mean) / scale, *d.tensors[1:], meta={**d.meta, **meta})
        for d in (train, *map(as_dataset, others))
    )


class DataLoader:
    """Mini-batches of a data set: ``for x, y in DataLoader((X, Y), batch_size=32, shuffle=True,
    seed=0)``.  Shuffling draws one permutation per epoch from a seeded generator (the same seed
    gives the same batches); ``drop_last`` drops a final incomplete batch."""

    def __init__(
        self,
        dataset: Any,
        batch_size: int = 32,
        shuffle: bool = False,
        drop_last: bool = False,
        seed: int | None = None,
        generator: Generator | None = None,
    ):
        if batch_size < 1:
            raise ValueError(f"DataLoader: batch_size must be >= 1, got {batch_size}")
        self.dataset = as_dataset(dataset)
        self.batch_size, self.shuffle, self.drop_last = batch_size, shuffle, drop_last
        self.generator = resolve(seed, generator) if shuffle else None
        if drop_last and len(self.dataset) < batch_size:
            raise ValueError(
                f"DataLoader: drop_last with batch_size {batch_size} > {len(self.dataset)} examples "
                "gives no batch"
            )

    def __len__(self) -> int:
        n = len(self.dataset)
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    def __iter__(self) -> Iterator[tuple[Tensor, ...]]:
        tensors = self.dataset.tensors
        if self.shuffle:
            order = self.generator.permutation(len(self.dataset))
            tensors = tuple(t[order] for t in tensors)  # one gather per epoch, then slices
        for k in range(len(self)):
            window = slice(k * self.batch_size, (k + 1) * self.batch_size)
            yield tuple(t[window] for t in tensors)
