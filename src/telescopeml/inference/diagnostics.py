"""The diagnostics stage: what the answer means, checked once per spectrum.

Edges of the grid (a posterior piled there is a limit, not a measurement), a featureless
spectrum, the best-fitting grid spectrum with its predictive band and reduced χ², and the
radius and mass from the fitted flux scale and a distance.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from telescopeml.data.checks import contrast
from telescopeml.data.chi2 import chi2_fit
from telescopeml.data.grid import SpectralGrid
from telescopeml.data.units import mass_mjup, radius_rjup

#: Posterior mass within the outer :data:`EDGE_FRACTION` of a parameter's range that makes
#: it pile at that edge.
EDGE_MASS = 0.5
EDGE_FRACTION = 0.05
#: Fractional per-pixel model uncertainty added in quadrature in the fit check: atmosphere
#: models do not reproduce real brown-dwarf spectra to better than a few percent, so at
#: high S/N a plain χ² would call every object a poor fit.
MODEL_SYSTEMATIC = 0.05
#: A spectrum whose log flux contrast (95th over 5th percentile) is below this fraction of
#: the least-contrasted grid spectrum's is flagged as featureless.
FEATURELESS = 0.5
#: Reduced χ² (with the model term) above which the grid spectrum is judged a poor match.
CHI2_LIMIT = 10.0
#: Samples used to draw the posterior-predictive band and the radius.
N_PREDICTIVE = 100

_HINTS = {
    ("teff", "low"): "the object is likely colder than the grid",
    ("teff", "high"): "the object is likely hotter than the grid",
    ("logg", "low"): "low surface gravity: possibly young, or outside the grid",
    ("logg", "high"): "surface gravity at the grid's maximum: possibly old or metal-poor, "
                      "or outside the grid",
}


def edges(samples: np.ndarray, names: list[str],
          ranges: dict[str, tuple[float, float]]) -> dict[str, str]:
    """``{parameter: "low" | "high"}`` for each parameter whose posterior mass piles at an
    edge of its range (more than :data:`EDGE_MASS` in the outer :data:`EDGE_FRACTION`)."""
    low = np.array([ranges[n][0] for n in names], dtype=np.float64)
    high = np.array([ranges[n][1] for n in names], dtype=np.float64)
    margin = EDGE_FRACTION * (high - low)
    at_high = np.mean(samples >= high - margin, axis=0) > EDGE_MASS
    at_low = np.mean(samples <= low + margin, axis=0) > EDGE_MASS
    return {n: ("high" if at_high[j] else "low") for j, n in enumerate(names)
            if high[j] > low[j] and (at_high[j] or at_low[j])}


def edge_message(name: str, side: str, ranges: dict[str, tuple[float, float]]) -> str:
    """What a pile-up of ``name`` at the ``side`` edge means, in words."""
    value = ranges[name][0 if side == "low" else 1]
    hint = _HINTS.get((name, side), "the true value may lie outside the grid")
    return f"{name} piles at the grid's {'lower' if side == 'low' else 'upper'} edge " \
           f"({value:g}): {hint}"


def edge_limit(column: np.ndarray, side: str) -> str:
    """The limit a parameter piled at the ``side`` edge gives: the 5th percentile as a lower
    limit at the upper edge, the 95th as an upper limit at the lower edge."""
    if side == "high":
        return f"> {np.percentile(column, 5):.4g}"
    return f"< {np.percentile(column, 95):.4g}"


def grid_contrast(grid: SpectralGrid) -> float:
    """The smallest log flux contrast of the grid's spectra (:func:`featureless`)."""
    return float(np.min(contrast(np.asarray(grid.flux_array(), dtype=np.float64))))


def featureless(flux: np.ndarray, least_contrast: float) -> str:
    """A flag when ``flux`` varies far less over the model's wavelengths than any grid
    spectrum does (``least_contrast``: :func:`grid_contrast`); ``""`` otherwise."""
    observed = float(contrast(np.atleast_2d(flux))[0])
    if np.log(max(observed, 1.0)) < FEATURELESS * np.log(least_contrast):
        return (f"featureless spectrum: its flux varies by a factor {observed:.2f} over the "
                f"model's wavelengths, every grid spectrum by at least "
                f"{least_contrast:.2f}; not a spectrum the model can describe")
    return ""


def grid_points(grid: SpectralGrid, names: list[str], values: np.ndarray) -> np.ndarray:
    """Points ``(n, n_axes)`` in the grid's axes: targets from ``values`` ``(n, len(names))``
    clipped to the grid, other axes at their median node."""
    values = np.atleast_2d(values)
    points = np.empty((len(values), len(grid.axes)))
    for i, axis in enumerate(grid.axes):
        nodes = grid.axis_values(axis)
        points[:, i] = (np.clip(values[:, names.index(axis)], nodes[0], nodes[-1])
                        if axis in names else nodes[len(nodes) // 2])
    return points


@dataclass
class GridFit:
    """The grid spectrum at the posterior median and the posterior-predictive band.

    Attributes
    ----------
    model
        The grid spectrum at the median, times its fitted flux scale.
    point
        ``{axis: value}`` where it was interpolated.
    chi2_red, model_fraction
        Its reduced χ² with a :data:`MODEL_SYSTEMATIC` model term, and that term.
    band
        16th and 84th percentiles of :data:`N_PREDICTIVE` posterior draws' spectra.
    scales
        The fitted flux scale of each draw: ``(R / d)^2`` for a flux-calibrated spectrum.
    """

    model: np.ndarray
    point: dict[str, float]
    chi2_red: float
    model_fraction: float
    band: np.ndarray
    scales: np.ndarray

    @property
    def poor(self) -> str:
        """A flag when the fit is poor (:data:`CHI2_LIMIT`), ``""`` otherwise."""
        if self.chi2_red > CHI2_LIMIT:
            return (f"poor fit: reduced chi2 {self.chi2_red:.3g} > {CHI2_LIMIT:g}; the object "
                    "is unlike the grid's spectra (peculiar, young, binary, or outside the grid)")
        return ""


def grid_fit(grid: SpectralGrid, names: list[str], samples: np.ndarray, flux: np.ndarray,
             sigma: np.ndarray, seed: int = 0) -> GridFit:
    """The :class:`GridFit` of ``flux`` (on the grid's wavelengths) at the posterior
    ``samples``; raises :class:`~telescopeml.errors.OutOfGridError` where the grid has no
    spectrum."""
    rng = np.random.default_rng(seed)
    picks = samples[rng.integers(0, len(samples), N_PREDICTIVE)]
    points = grid_points(grid, names, np.vstack([np.median(samples, axis=0), picks]))
    spectra = grid.interpolate_points(points).astype(np.float64)
    fit = chi2_fit(flux, spectra, sigma, free_scale=True, model_fraction=MODEL_SYSTEMATIC)
    scales = np.atleast_1d(fit.scale)
    draws = spectra[1:] * scales[1:, None]
    return GridFit(model=scales[0] * spectra[0],
                   point=dict(zip(grid.axes, points[0].tolist(), strict=True)),
                   chi2_red=float(np.atleast_1d(fit.reduced_chi2)[0]),
                   model_fraction=float(np.atleast_1d(fit.model_fraction)[0]),
                   band=np.percentile(draws, (16, 84), axis=0), scales=scales[1:])


def physical_size(scales: np.ndarray, logg: np.ndarray, distance_pc: float,
                  distance_err_pc: float = 0.0, seed: int = 0
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Radius (R_Jup) from the flux scales ``(R / d)^2`` at a distance drawn per scale, and
    mass (M_Jup) from ``logg`` draws and that radius."""
    rng = np.random.default_rng(seed)
    distance = distance_pc + distance_err_pc * rng.standard_normal(scales.size)
    radius = radius_rjup(scales, distance)
    return radius, mass_mjup(logg[rng.integers(0, len(logg), scales.size)], radius)

