"""The checks of a grid's completeness and quality, mixed into
:class:`~telescopeml.data.grid.SpectralGrid` (``grid.check()``, ``grid.bad_spectra()``...)."""

from __future__ import annotations

import hashlib
import itertools
from dataclasses import dataclass

import numpy as np


@dataclass
class GridReport:
    """What :meth:`SpectralGrid.check` finds."""

    n_spectra: int
    axes: dict[str, list[float]]
    complete: bool
    missing: list[dict[str, float]]
    repeated_labels: list[list[int]]
    duplicate_spectra: list[list[int]]
    bad_spectra: dict[int, str]

    @property
    def ok(self) -> bool:
        """True when the grid is complete and has no duplicates or bad spectra."""
        return (
            self.complete
            and not self.duplicate_spectra
            and not self.bad_spectra
            and not self.repeated_labels
        )


class GridChecks:
    """What a grid can say about itself: missing nodes, repeated labels, duplicate and bad
    spectra, from the grid's ``axes``, ``axis_values``, ``parameter_matrix`` and
    ``iter_flux``."""


    def missing_points(self) -> list[dict[str, float]]:
        """Parameter combinations of the full Cartesian product that have no spectrum."""
        present = {tuple(row) for row in self.parameter_matrix()}
        values = [self.axis_values(n) for n in self.axes]
        return [
            dict(zip(self.axes, (float(x) for x in combo), strict=True))
            for combo in itertools.product(*values)
            if combo not in present
        ]

    def is_complete(self) -> bool:
        """True when every combination of axis values has exactly one spectrum."""
        n_product = int(np.prod([self.axis_values(n).size for n in self.axes]))
        n_unique = len(np.unique(self.parameter_matrix(), axis=0))
        return n_product == n_unique == len(self)

    def repeated_labels(self) -> list[list[int]]:
        """Groups of spectra that carry the same parameter values."""
        _, inverse, counts = np.unique(
            self.parameter_matrix(), axis=0, return_inverse=True, return_counts=True
        )
        return [np.flatnonzero(inverse == g).tolist() for g in np.flatnonzero(counts > 1)]

    def duplicate_spectra(self, decimals: int = 5) -> list[list[int]]:
        """Groups of spectra that are identical (to ``decimals`` in log10 flux).

        Identical spectra under different labels leak across train/test splits and make
        the differing parameter unlearnable.
        """
        groups: dict[bytes, list[int]] = {}
        with np.errstate(divide="ignore", invalid="ignore"):
            for rows, block in self.iter_flux():
                keys = np.round(np.log10(np.abs(block.astype(np.float64))), decimals)
                for i, key in enumerate(keys, start=rows.start):
                    groups.setdefault(hashlib.sha1(key.tobytes()).digest(), []).append(i)
        return [g for g in groups.values() if len(g) > 1]

    def bad_spectra(self) -> dict[int, str]:
        """Spectra with NaN/inf or zero/negative flux: index -> what is wrong."""
        bad: dict[int, str] = {}
        for rows, block in self.iter_flux():
            n_nan = np.sum(~np.isfinite(block), axis=1)
            n_nonpos = np.sum(block <= 0, axis=1)
            for i in np.flatnonzero((n_nan > 0) | (n_nonpos > 0)):
                problems = []
                if n_nan[i]:
                    problems.append(f"{n_nan[i]} NaN/inf")
                if n_nonpos[i]:
                    problems.append(f"{n_nonpos[i]} zero or negative")
                bad[rows.start + int(i)] = ", ".join(problems) + " flux values"
        return bad

    def check(self) -> GridReport:
        """Run every check and return a :class:`GridReport`."""
        missing = self.missing_points()
        return GridReport(
            n_spectra=len(self),
            axes={n: self.axis_values(n).tolist() for n in self.axes},
            complete=not missing and not self.repeated_labels(),
            missing=missing,
            repeated_labels=self.repeated_labels(),
            duplicate_spectra=self.duplicate_spectra(),
            bad_spectra=self.bad_spectra(),
        )
