"""Train/validation/test splits that hold out whole grid points, and the edge-point mask."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from telescopeml.data.grid import SpectralGrid

PART_NAMES = ("train", "val", "test")


@dataclass
class GridSplit:
    """Indices of the spectra in each part of a split, and how it was made.

    Parameters
    ----------
    train, val, test
        Sorted, disjoint int64 index arrays into the grid; together they cover it.
    seed
        Seed the split was drawn with.
    fractions
        Requested ``(train, val, test)`` shares.
    repeated_labels
        Groups of spectra that share a label (each group kept in one part).
    duplicate_spectra
        Groups of identical spectra under different labels (each group kept in one part).
    """

    train: np.ndarray
    val: np.ndarray
    test: np.ndarray
    seed: int
    fractions: tuple[float, float, float]
    repeated_labels: list[list[int]] = field(default_factory=list)
    duplicate_spectra: list[list[int]] = field(default_factory=list)

    def __post_init__(self) -> None:
        for name in PART_NAMES:
            setattr(self, name, np.asarray(getattr(self, name), dtype=np.int64))
        self.fractions = tuple(float(f) for f in self.fractions)

    def part(self, name: str) -> np.ndarray:
        """Indices of one part: ``"train"``, ``"val"`` or ``"test"``."""
        if name not in PART_NAMES:
            raise ValueError(f"unknown split part {name!r}; valid: {', '.join(PART_NAMES)}")
        return getattr(self, name)

    def to_dict(self) -> dict[str, Any]:
        """Plain-Python form (JSON-serializable), e.g. to store next to a trained model."""
        return {
            **{name: self.part(name).tolist() for name in PART_NAMES},
            "seed": self.seed,
            "fractions": list(self.fractions),
            "repeated_labels": self.repeated_labels,
            "duplicate_spectra": self.duplicate_spectra,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GridSplit:
        """Inverse of :meth:`to_dict`."""
        return cls(
            train=data["train"],
            val=data["val"],
            test=data["test"],
            seed=int(data["seed"]),
            fractions=tuple(data["fractions"]),
            repeated_labels=[list(g) for g in data.get("repeated_labels", [])],
            duplicate_spectra=[list(g) for g in data.get("duplicate_spectra", [])],
        )


def split_grid(
    grid: SpectralGrid,
    fractions: Sequence[float] = (0.8, 0.1, 0.1),
    seed: int = 0,
) -> GridSplit:
    """Split a grid into train/validation/test parts of whole grid points.

    Spectra that share a label or are identical under different labels are tied together
    and always land in the same part, so that no test label or test spectrum is seen in
    training; a warning gives their count. The tied groups are shuffled with ``seed`` and
    dealt to test, then validation, then training until each reaches its share; every
    part with a positive share gets at least one group.

    Parameters
    ----------
    grid
        The grid to split.
    fractions
        ``(train, val, test)`` shares, non-negative, summing to 1, with ``train > 0``.
    seed
        Seed of the shuffle; the same seed gives the same split.

    Returns
    -------
    GridSplit
    """
    fractions = _check_fractions(fractions)
    n = len(grid)
    repeated = grid.repeated_labels()
    duplicates = grid.duplicate_spectra()
    unit = _tie_groups(n, repeated + duplicates)
    n_units = int(unit.max()) + 1 if n else 0
    n_parts = sum(f > 0 for f in fractions)
    if n_units < n_parts:
        raise ValueError(
            f"cannot split {n} spectra ({n_units} independent groups) into {n_parts} "
            "non-empty parts"
        )
    tied = {i for group in repeated + duplicates for i in group}
    if tied:
        warnings.warn(
            f"{len(tied)} spectra share a label or are identical to another spectrum; "
            "each such group is kept in one part of the split",
            stacklevel=2,
        )

    sizes = np.bincount(unit, minlength=n_units)
    order = np.random.default_rng(seed).permutation(n_units)
    part_of_unit = np.zeros(n_units, dtype=np.int64)
    position = 0
    for part in (2, 1):
        target = max(1, round(fractions[part] * n)) if fractions[part] > 0 else 0
        later = sum(f > 0 for f in fractions[:part])
        count = 0
        while count < target and position < n_units - later:
            part_of_unit[order[position]] = part
            count += sizes[order[position]]
            position += 1
    part_of_spectrum = part_of_unit[unit]
    train, val, test = (np.flatnonzero(part_of_spectrum == p) for p in range(3))
    return GridSplit(
        train=train,
        val=val,
        test=test,
        seed=seed,
        fractions=fractions,
        repeated_labels=repeated,
        duplicate_spectra=duplicates,
    )


def is_edge(grid: SpectralGrid, indices: Sequence[int] | np.ndarray | None = None) -> np.ndarray:
    """True where a spectrum lies on the lowest or highest value of an axis.

    Only axes with more than 2 values count: on a 2-value axis every point is an end, and
    being there says nothing about extrapolation. Predictions for edge points ask a model to
    reach the boundary of what it was trained on, so their metrics are reported apart.

    Parameters
    ----------
    grid
        The grid.
    indices
        Spectra to test (all when None).

    Returns
    -------
    numpy.ndarray
        Boolean mask aligned with ``indices``.
    """
    idx = np.arange(len(grid)) if indices is None else np.asarray(indices, dtype=np.int64)
    edge = np.zeros(idx.size, dtype=bool)
    for name in grid.axes:
        values = grid.axis_values(name)
        if values.size > 2:
            x = grid.params[name][idx]
            edge |= (x == values[0]) | (x == values[-1])
    return edge


def _check_fractions(fractions: Sequence[float]) -> tuple[float, float, float]:
    values = tuple(float(f) for f in fractions)
    if len(values) != 3:
        raise ValueError(f"fractions must be (train, val, test), got {fractions!r}")
    if not all(np.isfinite(values)) or min(values) < 0:
        raise ValueError(f"fractions must be finite and non-negative, got {fractions!r}")
    if abs(sum(values) - 1.0) > 1e-6:
        raise ValueError(f"fractions must sum to 1, got {fractions!r} (sum {sum(values):g})")
    if values[0] == 0:
        raise ValueError("the training fraction must be positive")
    return values[0], values[1], values[2]


def _tie_groups(n: int, groups: list[list[int]]) -> np.ndarray:
    """Label each spectrum with its connected group (spectra tied directly or through others)."""
    rows = np.asarray([g[0] for g in groups for _ in g[1:]], dtype=np.int64)
    cols = np.asarray([other for g in groups for other in g[1:]], dtype=np.int64)
    graph = coo_matrix((np.ones(rows.size), (rows, cols)), shape=(n, n))
    return connected_components(graph, directed=False)[1]
