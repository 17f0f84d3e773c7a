"""The simplest honest answers for real objects, shown beside the network's.

- ``spectral-type lookup``: Teff from the spectral type alone, with the field-dwarf polynomial
  of Filippazzo et al. (2015, ApJ 810, 158; valid M6-T9, rms 113 K);
- ``chi2 grid fit``: the classical fit, the best-scaled nearest grid node over every shipped
  grid (lowest reduced χ² wins), on the same resampled spectrum the network sees;
- ``constant``: one value for every object (the median literature value of the objects
  themselves, so the harshest constant there is).
"""

from __future__ import annotations

import math
import re

import numpy as np

#: Filippazzo et al. (2015) Table 10, field dwarfs: Teff = sum c_i SpT^i, highest power
#: first, with SpT = 6 for M6, 10 for L0, 20 for T0; valid for 6 <= SpT <= 29.
FILIPPAZZO_2015 = (1.546e-4, -1.606e-2, 6.318e-1, -1.191e1, 1.155e2, -7.005e2, 4.747e3)
FILIPPAZZO_RANGE = (6.0, 29.0)
FILIPPAZZO_RMS = 113.0
LOOKUP = "spectral-type lookup (Filippazzo et al. 2015)"
CHI2_FIT = "chi2 grid fit (nearest node, shipped grids)"
CONSTANT = "constant (median of the objects' literature values)"


def spectral_type_number(spectral_type: str) -> float:
    """``"L4.5 beta"`` -> 14.5 (M0 = 0, L0 = 10, T0 = 20, Y0 = 30); NaN when unreadable."""
    match = re.match(r"\s*(?:sd|esd|usd|d)?([MLTY])\s*(\d+(?:\.\d+)?)", spectral_type or "")
    if not match:
        return math.nan
    return {"M": 0.0, "L": 10.0, "T": 20.0, "Y": 30.0}[match.group(1)] + float(match.group(2))


def spectral_type_teff(spectral_type: str) -> float:
    """Field-dwarf Teff (K) of a spectral type (Filippazzo et al. 2015); NaN outside M6-T9."""
    number = spectral_type_number(spectral_type)
    if not FILIPPAZZO_RANGE[0] <= number <= FILIPPAZZO_RANGE[1]:
        return math.nan
    return float(np.polyval(FILIPPAZZO_2015, number))


def chi2_grid_fit(flux: np.ndarray, sigma: np.ndarray,
                  grids: dict[str, tuple[np.ndarray, dict[str, np.ndarray], np.ndarray | None]]
                  ) -> dict[str, float]:
    """Parameters of the best-fitting grid node over several grids.

    ``grids`` maps a name to ``(flux matrix, {param: values}, pixels)``: the grid on the
    spectrum's wavelengths that it covers, ``pixels`` selecting those (None: all). Returns the
    node's parameters, ``chi2_red`` and the index of the grid in ``grids``.
    """
    from telescopeml.data.chi2 import chi2_best_match

    best: dict[str, float] = {"chi2_red": math.inf}
    for i, (model_flux, params, pixels) in enumerate(grids.values()):
        f, s = (flux, sigma) if pixels is None else (flux[pixels], sigma[pixels])
        index, chi2 = chi2_best_match(model_flux, f[None], s[None])
        if chi2[0] < best["chi2_red"]:
            best = {name: float(values[index[0]]) for name, values in params.items()}
            best |= {"chi2_red": float(chi2[0]), "grid": float(i)}
    return best
