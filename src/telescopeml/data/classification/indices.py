"""Spectral indices of low-resolution near-infrared spectra, and the published classifications
read from them.

Index definitions (wavelength windows, in µm, and how the windows' fluxes combine):

* Burgasser et al. (2006), ApJ 637, 1067, Table 3 (H2O-J, CH4-J, H2O-H, CH4-H, H2O-K,
  CH4-K, K/J): ratios of the flux integrated over each window; H-dip from Burgasser et al.
  (2010), ApJ 710, 1142.
* Bardalez Gagliuffi et al. (2014), ApJ 794, 143, Table 3 (K-slope, J-slope, J-curve,
  H-bump, H2O-Y).
* Allers & Liu (2013), ApJ 772, 79, Table 3 and their eq. 1 (FeH_z, VO_z, KI_J, H-cont: the
  continuum interpolated linearly between two windows to the line window's centre, divided by
  the mean flux in the line window) and their H2O index (mean flux ratio).

Classifications from them:

* index-based spectral type: the polynomials of Burgasser (2007), ApJ 659, 655, Table 3
  (H2O-J, H2O-H, CH4-J, CH4-H, CH4-K, L0-T8) and of Allers & Liu (2013) (H2O, H2O-1,
  H2OD, H2O-2; M4-L8);
* gravity scores and class (FLD-G / INT-G / VL-G): Allers & Liu (2013), Table 9 and Sect. 6
  (M6-L7: each index scores 0, 1 or 2, the class is read from the median score);
* spectral-binary candidates: the selection regions of Burgasser et al. (2010), Table 5 and
  Fig. 5 (L7-T5: 3 of 6 criteria a strong, 2 a weak candidate), and Bardalez Gagliuffi et al.
  (2014), Table 5 (M7-L8: 8 of 12 strong, 4 weak).

The numbers were carried over from the papers as splat 1.14 (``splat/initialize.py``,
``classifyGravity`` in ``splat/core.py``) tabulates them; spectral types are numbers with
M0 = 10, L0 = 20, T0 = 30 as in splat.
"""

from __future__ import annotations

import numpy as np

# name: (method, sample, windows); methods: "ratio" w0/w1, "inverse_line" 2 w0/(w1+w2),
# "line" (w0+w1)/(2 w2), "allers" (continuum w1..w2 interpolated to w0's centre) / w0.
INDEX_DEFINITIONS: dict[str, tuple[str, str, tuple[tuple[float, float], ...]]] = {
    # Burgasser et al. (2006), Table 3; H-dip: Burgasser et al. (2010)
    "H2O-J": ("ratio", "integrate", ((1.14, 1.165), (1.26, 1.285))),
    "CH4-J": ("ratio", "integrate", ((1.315, 1.335), (1.26, 1.285))),
    "H2O-H": ("ratio", "integrate", ((1.48, 1.52), (1.56, 1.60))),
    "CH4-H": ("ratio", "integrate", ((1.635, 1.675), (1.56, 1.60))),
    "H2O-K": ("ratio", "integrate", ((1.975, 1.995), (2.08, 2.10))),
    "CH4-K": ("ratio", "integrate", ((2.215, 2.255), (2.08, 2.12))),
    "K/J": ("ratio", "integrate", ((2.06, 2.10), (1.25, 1.29))),
    "H-dip": ("inverse_line", "integrate", ((1.61, 1.64), (1.56, 1.59), (1.66, 1.69))),
    # Bardalez Gagliuffi et al. (2014), Table 3
    "K-slope": ("ratio", "integrate", ((2.06, 2.10), (2.10, 2.14))),
    "J-slope": ("ratio", "integrate", ((1.27, 1.30), (1.30, 1.33))),
    "J-curve": ("line", "integrate", ((1.04, 1.07), (1.26, 1.29), (1.14, 1.17))),
    "H-bump": ("ratio", "integrate", ((1.54, 1.57), (1.66, 1.69))),
    "H2O-Y": ("ratio", "integrate", ((1.04, 1.07), (1.14, 1.17))),
    # Allers & Liu (2013), Table 3
    "H2O": ("ratio", "average", ((1.55, 1.56), (1.492, 1.502))),
    # the other water indices of Allers & Liu's (2013) typing: Slesnick et al. (2004), ApJ
    # 610, 1045 (H2O-1, H2O-2), McLean et al. (2003), ApJ 596, 561 (H2OD)
    "H2O-1": ("ratio", "average", ((1.335, 1.345), (1.295, 1.305))),
    "H2O-2": ("ratio", "average", ((2.035, 2.045), (2.145, 2.155))),
    "H2OD": ("ratio", "average", ((1.951, 1.977), (2.062, 2.088))),
    "FeH_z": ("allers", "average", ((0.99135, 1.00465), (0.97335, 0.98665),
                                    (1.01535, 1.02865))),
    "VO_z": ("allers", "average", ((1.05095, 1.06505), (1.02795, 1.04205),
                                   (1.07995, 1.09405))),
    "KI_J": ("allers", "average", ((1.23570, 1.25230), (1.21170, 1.22830),
                                   (1.26170, 1.27830))),
    "H-cont": ("allers", "average", ((1.54960, 1.57040), (1.45960, 1.48040),
                                     (1.65960, 1.68040))),
}
#: Index-based type: (index, polynomial coefficients highest power first, valid type range,
#: fit scatter in subtypes, offset added). Burgasser (2007), Table 3; Allers & Liu (2013).
TYPE_RELATIONS: tuple[tuple[str, tuple[float, ...], tuple[float, float], float, float], ...] = (
    ("H2O-J", (1.038e2, -2.156e2, 1.312e2, -3.919e1, 1.949e1), (20, 39), 0.8, 20.0),
    ("H2O-H", (9.087e-1, -3.221e1, 2.527e1, -1.978e1, 2.098e1), (20, 39), 1.0, 20.0),
    ("CH4-J", (1.491e2, -3.381e2, 2.424e2, -8.450e1, 2.708e1), (30, 39), 0.7, 20.0),
    ("CH4-H", (2.084e1, -5.068e1, 4.361e1, -2.291e1, 2.013e1), (31, 39), 0.3, 20.0),
    ("CH4-K", (-1.259e1, -4.734e0, 2.534e1, -2.246e1, 1.885e1), (20, 37), 1.1, 20.0),
    ("H2O", (24.0476, -104.424, 169.388, -83.5437), (15, 25), 0.390, 10.0),
    ("H2O-1", (28.5982, -80.7404, 39.3513, 12.1927), (14, 25), 1.097, 10.0),
    ("H2OD", (-97.230, 229.884, -202.245, 79.4477), (20, 28), 0.757, 10.0),
    ("H2O-2", (37.5013, -97.8144, 55.4580, 10.8822), (14, 22), 0.501, 10.0),
)
ALLERS_LIU_TYPING = ("H2O", "H2O-1", "H2OD", "H2O-2")

#: Allers & Liu (2013), Table 9: per index and integer type, the two thresholds of scores 1
#: and 2 (None: the index does not score at that type). FeH_z and KI_J are weaker (lower)
#: at low gravity, VO_z and H-cont higher.
GRAVITY_THRESHOLDS: dict[str, dict[int, tuple[float, float] | None]] = {
    "FeH_z": {16: (1.068, 1.039), 17: (1.103, 1.056), 18: (1.146, 1.074), 19: (1.167, 1.086),
              20: (1.204, 1.106), 21: (1.252, 1.121), 22: (1.298, 1.142), 23: (1.357, 1.163),
              24: (1.370, 1.164), 25: (1.258, 1.138)},
    "VO_z": {20: (1.122, 1.256), 21: (1.112, 1.251), 22: (1.110, 1.232), 23: (1.097, 1.187),
             24: (1.073, 1.118)},
    "KI_J": {16: (1.042, 1.028), 17: (1.059, 1.036), 18: (1.077, 1.046), 19: (1.085, 1.053),
             20: (1.098, 1.061), 21: (1.114, 1.067), 22: (1.133, 1.073), 23: (1.135, 1.075),
             24: (1.126, 1.072), 25: (1.094, 1.061)},
    "H-cont": {16: (0.988, 0.994), 17: (0.981, 0.990), 18: (0.963, 0.984), 19: (0.949, 0.979),
               20: (0.935, 0.972), 21: (0.914, 0.968), 22: (0.906, 0.964), 23: (0.898, 0.960),
               24: (0.885, 0.954), 25: (0.869, 0.949), 26: (0.874, 0.950),
               27: (0.888, 0.952)},
}
LOWER_AT_LOW_GRAVITY = ("FeH_z", "KI_J")
#: The types the gravity scores are defined for (Allers & Liu 2013: M5-L7; no index scores
#: at M5 in their Table 9, so M6-L7 in practice).
GRAVITY_RANGE = (15.0, 27.0)

# Spectral-binary selection: (x, y, coefficients of the boundary y(x), highest power first,
# x limits, y limits, "above" or "below"). "SPT" is the spectral type; a y of "A/B" is the
# ratio of two indices.
Region = tuple[str, str, tuple[float, ...], tuple[float, float] | None,
               tuple[float, float] | None, str]
#: Burgasser et al. (2010), Table 5 (L7-T5 targets, types 27-35).
BURGASSER2010: tuple[Region, ...] = (
    ("H2O-J", "H2O-K", (0.2 / 0.325, 0.3), (0.325, 0.65), None, "above"),
    ("CH4-H", "CH4-K", (0.425 / 0.4, -0.2875), (0.6, 1.0), None, "above"),
    ("CH4-H", "K/J", (0.125 / 0.35, 0.01786), (0.65, 1.0), None, "above"),
    ("H2O-H", "H-dip", (0.49,), (0.5, 0.875), None, "below"),
    ("SPT", "H2O-J/H2O-H", (-0.075 / 2, 2.10625), (28.5, 33.5), (0.18, 0.925), "below"),
    ("SPT", "H2O-J/CH4-K", (0.2 / 6.0, -0.325), (28.5, 34.5), None, "below"),
)
#: Bardalez Gagliuffi et al. (2014), Table 5 (M7-L8 primaries, types 17-28).
BARDALEZ2014: tuple[Region, ...] = (
    ("SPT", "CH4-H", (-0.00043, 0.0253, 0.7178 - 0.0354), (17, 29), None, "below"),
    ("H2O-J", "CH4-H", (-0.08, 1.09), (-10, 0.9), None, "below"),
    ("H2O-J", "H-bump", (0.16, 0.806), (-10, 0.9), None, "above"),
    ("CH4-J", "CH4-H", (-0.56, 1.41), (-10, 0.74), (-10, 1.04), "below"),
    ("CH4-J", "H-bump", (1.0, 0.24), (-10, 0.74), (0.91, 10), "above"),
    ("CH4-H", "J-slope", (1.250, -0.207), (-10, 1.03), (1.03, 10), "above"),
    ("CH4-H", "J-curve", (1.245, -1.565, 2.224 + 0.088), (-10, 1.03), (1.97, 10), "above"),
    ("CH4-H", "H-bump", (1.36, -4.26, 3.89 - 0.013), None, (-10, 1.03), "below"),
    ("J-slope", "H-dip", (0.20, 0.27), (1.03, 10), None, "below"),
    ("J-slope", "H-bump", (-2.75, 3.84), None, (0.91, 10), "above"),
    ("K-slope", "H2O-Y", (12.036, -20, 8.973 + 0.064), (0.93, 0.96), None, "above"),
    ("J-curve", "H-bump", (0.269, -1.326, 2.479 + 0.048), (2.0, 10), (0.92, 10), "above"),
)
#: Each method's regions, type range, criteria for a strong and a weak candidate, citation.
BINARY_METHODS = {
    "burgasser2010": (BURGASSER2010, (27.0, 35.0), 3, 2, "Burgasser et al. (2010)"),
    "bardalez2014": (BARDALEZ2014, (17.0, 28.0), 8, 4, "Bardalez Gagliuffi et al. (2014)"),
}


def window_flux(wavelength: np.ndarray, flux: np.ndarray, window: tuple[float, float],
                sample: str) -> float:
    """The flux in ``window`` (µm) of the spectrum interpolated linearly between its pixels:
    its integral (``"integrate"``) or its mean over the window (``"average"``)."""
    low, high = window
    inside = (wavelength > low) & (wavelength < high)
    x = np.concatenate([[low], wavelength[inside], [high]])
    y = np.interp(x, wavelength, flux)
    integral = float(np.sum((y[1:] + y[:-1]) * np.diff(x)) / 2.0)
    return integral if sample == "integrate" else integral / (high - low)


def measure_index(wavelength: np.ndarray, flux: np.ndarray, name: str) -> float:
    """The index ``name`` of :data:`INDEX_DEFINITIONS` (NaN when a window is outside the
    spectrum or a denominator is not positive)."""
    method, sample, windows = INDEX_DEFINITIONS[name]
    if windows and (min(w[0] for w in windows) < wavelength[0]
                    or max(w[1] for w in windows) > wavelength[-1]):
        return float("nan")
    f = [window_flux(wavelength, flux, w, sample) for w in windows]
    if method == "ratio":
        num, den = f[0], f[1]
    elif method == "inverse_line":
        num, den = 2.0 * f[0], f[1] + f[2]
    elif method == "line":
        num, den = f[0] + f[1], 2.0 * f[2]
    else:  # allers: the continuum at the line's centre over the line
        centre, blue, red = (np.mean(w) for w in windows)
        num = f[2] * (centre - blue) / (red - blue) + f[1] * (red - centre) / (red - blue)
        den = f[0]
    return float(num / den) if den > 0 else float("nan")


def measure_indices(wavelength: np.ndarray, flux: np.ndarray) -> dict[str, float]:
    """Every index of :data:`INDEX_DEFINITIONS`."""
    return {name: measure_index(wavelength, flux, name) for name in INDEX_DEFINITIONS}


def index_type(indices: dict[str, float], near: float | None = None
               ) -> tuple[float, float]:
    """The index-based type (Burgasser 2007; Allers & Liu 2013 for M5-L5) and its scatter:
    the mean of the relations whose answer lies in their valid range, weighted by the inverse
    square of their scatter (NaN, NaN when none does). ``near``: a type the relations must
    be valid at (each relation is monotonic only over its range, so an M3's H2O-J can read as
    a valid L); the relations of Allers & Liu are preferred where they apply."""
    values, weights = [], []
    relations = [r for r in TYPE_RELATIONS
                 if near is None or r[2][0] - 1 <= near <= r[2][1] + 1]
    if any(r[0] == "H2O" for r in relations):
        relations = [r for r in relations if r[0] in ALLERS_LIU_TYPING]
    for name, coeff, (low, high), scatter, offset in relations:
        value = indices.get(name, np.nan)
        if not np.isfinite(value):
            continue
        spt = float(np.polyval(coeff, value)) + offset
        if low <= spt <= high:
            values.append(spt)
            weights.append(scatter ** -2)
    if not values:
        return float("nan"), float("nan")
    w = np.asarray(weights)
    mean = float(np.average(values, weights=w))
    spread = float(np.sqrt(np.average((np.asarray(values) - mean) ** 2, weights=w)))
    return mean, max(spread, float(np.sqrt(1.0 / w.sum())))


def gravity_scores(indices: dict[str, float], spt: float) -> dict[str, float]:
    """Allers & Liu (2013) score (0, 1, 2) of each gravity index at the type ``spt`` rounded
    to an integer; NaN where the index does not score at that type."""
    row = int(np.floor(spt + 0.5))
    scores = {}
    for name, table in GRAVITY_THRESHOLDS.items():
        limits, value = table.get(row), indices.get(name, np.nan)
        if limits is None or not np.isfinite(value):
            scores[name] = float("nan")
        elif name in LOWER_AT_LOW_GRAVITY:
            scores[name] = float(sum(value <= limit for limit in limits))
        else:
            scores[name] = float(sum(value >= limit for limit in limits))
    return scores


def gravity_class(scores: dict[str, float]) -> tuple[str, float]:
    """The class from the median of the finite scores (Allers & Liu 2013: up to 0.5 FLD-G,
    1 INT-G, from 1.5 VL-G) and that median; ``("", nan)`` without scores."""
    finite = [s for s in scores.values() if np.isfinite(s)]
    if not finite:
        return "", float("nan")
    median = float(np.median(finite))
    return ("FLD-G" if median <= 0.5 else "INT-G" if median < 1.5 else "VL-G"), median


def _axis(name: str, indices: dict[str, float], spt: float) -> float:
    if name == "SPT":
        return spt
    if "/" in name and name not in indices:
        top, bottom = name.split("/")
        return indices.get(top, np.nan) / indices.get(bottom, np.nan)
    return indices.get(name, np.nan)


def binary_criteria(indices: dict[str, float], spt: float, method: str) -> list[bool]:
    """Which of a method's selection regions (:data:`BINARY_METHODS`) the spectrum falls in."""
    regions = BINARY_METHODS[method][0]
    met = []
    for x_name, y_name, coeff, x_lim, y_lim, side in regions:
        x, y = _axis(x_name, indices, spt), _axis(y_name, indices, spt)
        inside = bool(np.isfinite(x) and np.isfinite(y)
                      and (x_lim is None or x_lim[0] <= x <= x_lim[1])
                      and (y_lim is None or y_lim[0] <= y <= y_lim[1]))
        boundary = float(np.polyval(coeff, x)) if inside else np.nan
        met.append(inside and (y > boundary if side == "above" else y < boundary))
    return met


def binary_candidate(indices: dict[str, float], spt: float) -> tuple[str, str]:
    """``("strong" | "weak" | "no" | "not applicable", method)``: the spectral-binary
    selection of Burgasser et al. (2010) for L7-T5 or Bardalez Gagliuffi et al. (2014) for
    M7-L8 (the first whose type range holds ``spt``)."""
    for method, (_, (low, high), strong, weak, cite) in BINARY_METHODS.items():
        if low <= spt <= high:
            n = sum(binary_criteria(indices, spt, method))
            verdict = "strong" if n >= strong else "weak" if n >= weak else "no"
            total = len(BINARY_METHODS[method][0])
            return verdict, f"{cite}: {n} of {total} criteria"
    return "not applicable", "index selections are defined for M7-L8 and L7-T5 only"
