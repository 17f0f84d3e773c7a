"""Explore a model grid: coverage, distributions, where the information lies, and fits.

:func:`explore_grid` writes every figure of :mod:`telescopeml.plots.grid` (PNG and PDF),
plus ``summary.json`` and ``summary.csv``. The computations behind the
figures (:func:`spearman_correlation`, :func:`principal_components`,
:func:`nearest_grid_spectra`, :func:`grid_summary`) return numbers and can be used alone.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from telescopeml.data.grid import SpectralGrid
from telescopeml.data.spectrum import ObservedSpectrum
from telescopeml.errors import DataError
from telescopeml.jsonio import dumps
from telescopeml.parameters import parameter

#: At most this many missing combinations are listed in ``summary.json``.
MAX_LISTED_MISSING = 1000
#: An observed spectrum must cover at least this fraction of the grid's wavelengths.
MIN_COVERAGE = 0.5


def spearman_correlation(flux: np.ndarray, params: np.ndarray) -> np.ndarray:
    """Spearman rank correlation of each flux column with each parameter column.

    Parameters
    ----------
    flux
        ``(n_spectra, n_wavelengths)``.
    params
        ``(n_spectra, n_params)``.

    Returns
    -------
    numpy.ndarray
        ``(n_params, n_wavelengths)``; NaN where a column is constant.
    """
    def standardized_ranks(x: np.ndarray) -> np.ndarray:
        from scipy import stats  # imported here: `telescopeml --help` stays fast

        ranks = stats.rankdata(x, axis=0)
        ranks -= ranks.mean(axis=0)
        with np.errstate(divide="ignore", invalid="ignore"):
            return ranks / np.sqrt((ranks**2).sum(axis=0))

    return standardized_ranks(np.asarray(params, float)).T @ standardized_ranks(
        np.asarray(flux, float))


def principal_components(data: np.ndarray, n_components: int = 10
                         ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Principal component analysis by SVD of the mean-subtracted rows of ``data``.

    Returns
    -------
    scores, explained, components
        ``(n, k)`` coordinates of each row, ``(k,)`` fraction of the total variance
        explained by each component, ``(k, n_features)`` unit component vectors.
    """
    data = np.asarray(data, dtype=np.float64)
    centered = data - data.mean(axis=0)
    _, singular, vt = np.linalg.svd(centered, full_matrices=False)
    k = min(n_components, singular.size)
    variance = singular**2
    explained = variance[:k] / variance.sum()
    return centered @ vt[:k].T, explained, vt[:k]


def shape_features(grid: SpectralGrid) -> np.ndarray:
    """``log10(flux / median flux)`` of every spectrum: spectral shape without brightness."""
    flux = grid.flux_array().astype(np.float64)
    return np.log10(flux / np.median(flux, axis=1, keepdims=True))


@dataclass
class GridMatch:
    """An observed spectrum on a grid's wavelengths and its best-scaled χ² grid spectra.

    Attributes
    ----------
    wavelength, flux, uncertainty
        The observed spectrum resampled onto the grid's wavelengths (NaN where not covered;
        uncertainty None when the spectrum has none).
    indices
        Grid rows of the best matches, best first.
    chi2, reduced_chi2, p_value, scale
        χ² of each match (scale fitted), its value per degree of freedom, the p-value and
        the scale factor; p-values are None without uncertainties (equal weights then).
    dof
        Degrees of freedom of every fit.
    """

    wavelength: np.ndarray
    flux: np.ndarray
    uncertainty: np.ndarray | None
    indices: np.ndarray
    chi2: np.ndarray
    reduced_chi2: np.ndarray
    p_value: np.ndarray | None
    scale: np.ndarray
    dof: int

    def to_dict(self, grid: SpectralGrid) -> list[dict[str, Any]]:
        """One JSON-ready dict per match: grid index, parameters and fit statistics."""
        return [
            {"index": int(i), "parameters": grid.label(int(i)), "chi2": float(self.chi2[r]),
             "dof": self.dof, "reduced_chi2": float(self.reduced_chi2[r]),
             "p_value": None if self.p_value is None else float(self.p_value[r]),
             "scale": float(self.scale[r])}
            for r, i in enumerate(self.indices)
        ]


def nearest_grid_spectra(grid: SpectralGrid, spectrum: ObservedSpectrum, k: int = 3
                         ) -> GridMatch:
    """The ``k`` grid spectra with the lowest χ² against ``spectrum``, scale fitted.

    The observed spectrum is resampled (flux-conserving) onto the grid's wavelengths;
    grid wavelengths it does not cover are left out of χ².
    """
    covered = spectrum.coverage(grid.wavelength)
    if covered < MIN_COVERAGE:
        raise DataError(
            f"covers only {100 * covered:.0f}% of the grid's {grid.wavelength[0]:.3f}-"
            f"{grid.wavelength[-1]:.3f} µm (at least {100 * MIN_COVERAGE:.0f}% needed)",
            spectrum.source,
        )
    resampled = spectrum.resample(grid.wavelength, fill=np.nan)
    flux = resampled.flux
    weighted = resampled.uncertainty is not None
    sigma = resampled.uncertainty if weighted else np.where(np.isfinite(flux), 1.0, np.nan)
    from telescopeml.data.chi2 import chi2_fit

    fit = chi2_fit(flux, grid.flux_array(), sigma, free_scale=True)
    best = np.argsort(fit.chi2)[:k]
    return GridMatch(
        wavelength=grid.wavelength, flux=flux, uncertainty=resampled.uncertainty,
        indices=best, chi2=fit.chi2[best], reduced_chi2=fit.reduced_chi2[best],
        p_value=fit.p_value[best] if weighted else None, scale=fit.scale[best], dof=fit.dof,
    )


def grid_summary(grid: SpectralGrid) -> dict[str, Any]:
    """Axes, values and counts, completeness, repeated labels, duplicates and bad spectra."""
    report = grid.check()
    n_full = int(np.prod([len(v) for v in report.axes.values()]))
    n_present = len(np.unique(grid.parameter_matrix(), axis=0))
    axes = {}
    for name in grid.axes:
        values, counts = np.unique(grid.params[name], return_counts=True)
        axes[name] = {"label": parameter(name).label, "n_values": int(values.size),
                      "min": float(values[0]), "max": float(values[-1]),
                      "values": values.tolist(), "counts": counts.tolist()}
    return {
        "name": grid.meta.get("name"),
        "source": grid.meta.get("source"),
        "citation": grid.meta.get("citation"),
        "notes": list(grid.meta.get("notes", [])),
        "n_spectra": len(grid),
        "n_wavelengths": grid.n_wavelengths,
        "wavelength_range_um": [float(grid.wavelength[0]), float(grid.wavelength[-1])],
        "flux_unit": grid.flux_unit,
        "axes": axes,
        "completeness": {
            "complete": report.complete,
            "combinations_expected": n_full,
            "combinations_present": n_present,
            "fraction": n_present / n_full,
            "n_missing": len(report.missing),
            "missing": report.missing[:MAX_LISTED_MISSING],
        },
        "repeated_labels": [{"indices": g, "parameters": grid.label(g[0])}
                            for g in report.repeated_labels],
        "duplicate_spectra": [{"indices": g, "parameters": [grid.label(i) for i in g]}
                              for g in report.duplicate_spectra],
        "bad_spectra": [{"index": i, "problem": problem, "parameters": grid.label(i)}
                        for i, problem in report.bad_spectra.items()],
    }


def _write_csv(path: Path, summary: dict[str, Any]) -> None:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["parameter", "label", "n_values", "min", "max", "values", "counts"])
        for name, axis in summary["axes"].items():
            writer.writerow([name, axis["label"], axis["n_values"], axis["min"], axis["max"],
                             " ".join(f"{v:g}" for v in axis["values"]),
                             " ".join(str(c) for c in axis["counts"])])


def _resolve_spectrum(spectrum: ObservedSpectrum | str | Path) -> ObservedSpectrum:
    if isinstance(spectrum, ObservedSpectrum):
        return spectrum
    if Path(spectrum).is_file():
        return ObservedSpectrum.read(spectrum)
    return ObservedSpectrum.from_library(str(spectrum))


def explore_grid(grid: SpectralGrid | str | Path, out_dir: str | Path,
                 fixed: dict[str, float] | None = None,
                 spectrum: ObservedSpectrum | str | Path | None = None) -> dict[str, Any]:
    """Write the exploration figures and summary of a grid into ``out_dir``.

    Parameters
    ----------
    grid
        A grid, or a registered grid name or path for :func:`~telescopeml.data.sources.load_grid`.
    out_dir
        Receives ``summary.json``, ``summary.csv`` and each figure as PNG and PDF:
        ``spectra_by_parameter``, ``grid_coverage``, ``parameter_histograms``,
        ``flux_distribution``, ``flux_correlation``, ``pca`` and, with ``spectrum``,
        ``observed_vs_grid``.
    fixed
        Parameter values held fixed in ``spectra_by_parameter`` (default: median node).
    spectrum
        An observed spectrum, a spectrum file, or an object name in the spectra library:
        drawn over its nearest grid spectra (best-scaled χ²).

    Returns
    -------
    dict
        The content of ``summary.json`` (with ``figures``: name -> PNG path).
    """
    from telescopeml import plots

    if not isinstance(grid, SpectralGrid):
        from telescopeml.data.sources import load_grid

        grid = load_grid(grid, quiet=True)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    summary = grid_summary(grid)
    figures = {"grid_coverage": plots.grid_coverage(grid),
               "parameter_histograms": plots.parameter_histograms(grid)}
    bad = grid.bad_spectra()
    if bad:
        grid = grid.take(np.setdiff1d(np.arange(len(grid)), list(bad)))
        summary["figures_exclude_bad_spectra"] = len(bad)
    summary["reference_node"] = plots.reference_node(grid, fixed)
    names = [a for a in grid.axes if grid.axis_values(a).size > 1] or grid.axes
    shape = shape_features(grid)
    scores, explained, _ = principal_components(shape)
    summary["pca_explained_variance"] = explained.tolist()
    matrix = grid.parameter_matrix(names)
    correlations = {
        "shape: flux / median flux (what the network sees)": spearman_correlation(shape, matrix),
        "absolute surface flux": spearman_correlation(grid.flux_array(), matrix),
    }
    figures |= {
        "spectra_by_parameter": plots.spectra_by_parameter(grid, fixed),
        "flux_distribution": plots.flux_distribution(grid),
        "flux_correlation": plots.correlation_heatmap(
            grid.wavelength, correlations, names, reference=10 ** np.median(shape, axis=0)),
        "pca": plots.pca_scatter(scores, explained, {n: grid.params[n] for n in names},
                                 title="Principal components of log10(flux / median flux)"),
    }
    if spectrum is not None:
        observed = _resolve_spectrum(spectrum)
        match = nearest_grid_spectra(grid, observed)
        models = grid.take(match.indices).flux * match.scale[:, None]
        figures["observed_vs_grid"] = plots.spectrum_fit(
            match.wavelength, match.flux, match.uncertainty, models,
            [grid.label(int(i)) for i in match.indices], match.reduced_chi2,
            name=observed.name, flux_unit=observed.flux_unit)
        summary["spectrum"] = {"name": observed.name, "source": observed.source,
                               "weighted": match.p_value is not None,
                               "matches": match.to_dict(grid)}
    summary["figures"] = {}
    for name, fig in figures.items():
        summary["figures"][name] = str(plots.save_figure(fig, out / name)[0])
    (out / "summary.json").write_text(dumps(summary, indent=1) + "\n", encoding="utf-8")
    _write_csv(out / "summary.csv", summary)
    return summary
