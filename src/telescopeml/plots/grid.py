"""Figures of a model grid: spectra along each axis, coverage, distributions, fits.

Functions about a grid take the :class:`~telescopeml.data.grid.SpectralGrid`; functions
about derived quantities (correlations, principal components) take the numbers, which
:mod:`telescopeml.explore` computes.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import matplotlib as mpl
import numpy as np
from matplotlib.axes import Axes
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
from matplotlib.figure import Figure

from telescopeml.data.grid import SpectralGrid
from telescopeml.data.transforms import Normalizer
from telescopeml.plots.style import (
    WAVELENGTH_LABEL,
    ParameterColors,
    chi2_label,
    flux_label,
    format_node,
    format_value,
    label_residuals,
    mark_bands,
    panels,
    parameter_label,
    styled,
    unit_latex,
)


def reference_node(grid: SpectralGrid, fixed: Mapping[str, float] | None = None
                   ) -> dict[str, float]:
    """A grid spectrum's parameters: ``fixed`` where given, else each axis's median node.

    When that combination has no spectrum, the existing spectrum nearest to it (in steps
    along each axis) is chosen.
    """
    fixed = dict(fixed or {})
    unknown = sorted(set(fixed) - set(grid.axes))
    if unknown:
        raise ValueError(f"unknown parameter {unknown[0]!r}; grid axes: {', '.join(grid.axes)}")
    target, steps = [], []
    for name in grid.axes:
        values = grid.axis_values(name)
        want = float(fixed[name]) if name in fixed else values[(values.size - 1) // 2]
        target.append(int(np.abs(values - want).argmin()))
        steps.append(np.searchsorted(values, grid.params[name]))
    distance = np.abs(np.column_stack(steps) - np.array(target)).sum(axis=1)
    return grid.label(int(distance.argmin()))


def _varying(grid: SpectralGrid) -> list[str]:
    return [a for a in grid.axes if grid.axis_values(a).size > 1] or grid.axes[:1]


def _log_limits(ax: Axes, flux: np.ndarray) -> None:
    """Log y-range over the bulk of ``flux``: narrow deep lines (K I 0.77 µm) do not set it."""
    positive = flux[np.isfinite(flux) & (flux > 0)]
    if positive.size:
        ax.set_ylim(np.percentile(positive, 0.5) / 2, positive.max() * 1.5)


def _edges(x: np.ndarray) -> np.ndarray:
    mid = (x[1:] + x[:-1]) / 2
    return np.concatenate([[x[0] - (mid[0] - x[0])], mid, [x[-1] + (x[-1] - mid[-1])]])


def _categorical_ticks(ax: Axes, axis: str, values: np.ndarray) -> None:
    step = math.ceil(values.size / 9)
    ticks = np.arange(0, values.size, step)
    labels = [format_value(values[i]) for i in ticks]
    if axis == "x":
        crowded = sum(len(t) + 1 for t in labels) > 18
        ax.set_xticks(ticks, labels=labels, rotation=90 if crowded else 0)
    else:
        ax.set_yticks(ticks, labels=labels)


@styled
def spectra_by_parameter(grid: SpectralGrid, fixed: Mapping[str, float] | None = None,
                         log: bool = True) -> Figure:
    """One panel per parameter: the spectra along that axis, the others at one node.

    Parameters
    ----------
    grid
        The grid.
    fixed
        Values of the parameters held fixed (default: each axis's median node; see
        :func:`reference_node`).
    log
        Logarithmic flux axis (brown-dwarf spectra span decades).
    """
    node = reference_node(grid, fixed)
    names = _varying(grid)
    fig, axes = panels(len(names), 2, 5.6, 3.4, sharex=True)
    matrix = grid.parameter_matrix()
    for ax, name in zip(axes.flat, names, strict=False):
        j = grid.axes.index(name)
        others = np.ones(len(grid), dtype=bool)
        for k, other in enumerate(grid.axes):
            if k != j:
                others &= np.isclose(matrix[:, k], node[other])
        rows = np.flatnonzero(others)
        rows = rows[np.argsort(matrix[rows, j])]
        colors = ParameterColors(name, grid.axis_values(name))
        sub = grid.take(rows)
        for flux, value in zip(sub.flux, sub.params[name], strict=True):
            ax.plot(grid.wavelength, flux, color=colors.color(value), lw=0.9)
        if log:
            ax.set_yscale("log")
            _log_limits(ax, sub.flux)
        ax.set_xlim(grid.wavelength[0], grid.wavelength[-1])
        ax.set_title(f"{parameter_label(name, unit=False)} varies "
                     f"({rows.size} of {grid.axis_values(name).size} values)")
        ax.set_ylabel(flux_label(grid.flux_unit, surface=True))
        colors.colorbar(fig, ax)
        mark_bands(ax)
    for ax in axes[-1]:
        ax.set_xlabel(WAVELENGTH_LABEL)
    fig.suptitle(f"{grid.meta.get('name', 'grid')}: other parameters fixed at "
                 f"{format_node(node)}")
    return fig


@styled
def grid_coverage(grid: SpectralGrid) -> Figure:
    """Which parameter combinations exist: a matrix of axis pairs, gaps marked.

    Below the diagonal, each cell of panel (row ``a``, column ``b``) is coloured by the
    fraction of the expected spectra (those of a complete grid) that exist at that
    ``(a, b)`` pair; empty cells carry a red ×. The diagonal shows spectra per value
    against the complete-grid expectation (dashed).
    """
    names = _varying(grid)
    values = {n: grid.axis_values(n) for n in names}
    index = {n: np.searchsorted(values[n], grid.params[n]) for n in names}
    n_full = int(np.prod([values[n].size for n in names]))
    n_unique = len(np.unique(grid.parameter_matrix(names), axis=0))
    k = len(names)
    fig = Figure(figsize=(2.3 * k + 1.4, 2.3 * k + 0.3), layout="constrained")
    axes = fig.subplots(k, k, squeeze=False)
    cmap = mpl.colormaps["viridis"]
    norm = Normalize(0.0, 1.0)
    for i, row in enumerate(names):
        for j, col in enumerate(names):
            ax = axes[i, j]
            ax.grid(False)
            if j > i:
                ax.set_visible(False)
                continue
            if i == j:
                counts = np.bincount(index[row], minlength=values[row].size)
                ax.bar(np.arange(values[row].size), counts, color="0.55", width=0.8)
                ax.axhline(n_full / values[row].size, color="k", ls="--", lw=0.8)
                ax.set_ylabel("spectra")
                ax.yaxis.set_label_position("right")
                ax.yaxis.tick_right()
            else:
                nx, ny = values[col].size, values[row].size
                counts = np.zeros((ny, nx))
                np.add.at(counts, (index[row], index[col]), 1)
                expected = n_full / (nx * ny)
                ax.pcolormesh(np.arange(nx + 1) - 0.5, np.arange(ny + 1) - 0.5,
                              np.minimum(counts / expected, 1.0), cmap=cmap, norm=norm)
                empty_y, empty_x = np.nonzero(counts == 0)
                ax.plot(empty_x, empty_y, "x", color="red", ms=6, mew=1.5)
                if nx <= 8 and ny <= 8:
                    for (y, x), c in np.ndenumerate(counts):
                        if c:
                            ax.text(x, y, f"{c:.0f}", ha="center", va="center", fontsize=7,
                                    color="w" if c < 0.6 * expected else "k")
                _categorical_ticks(ax, "y", values[row])
                if j == 0:
                    ax.set_ylabel(parameter_label(row))
                else:
                    ax.tick_params(labelleft=False)
            ax.set_xlim(-0.5, values[col].size - 0.5)
            _categorical_ticks(ax, "x", values[col])
            if i == k - 1:
                ax.set_xlabel(parameter_label(col))
            else:
                ax.tick_params(labelbottom=False)
    if k > 1:
        corner = axes[0, -1]
        corner.set_visible(True)
        corner.axis("off")
        bar = fig.colorbar(ScalarMappable(norm, cmap), orientation="horizontal",
                           cax=corner.inset_axes([0.05, 0.78, 0.9, 0.09]))
        bar.set_label("fraction of a complete grid's\nspectra present at the pair", fontsize=9)
        corner.text(0.05, 0.35, "red ×: no spectrum\ndiagonal: spectra per value;\n"
                    "dashed: complete grid", transform=corner.transAxes, va="top", fontsize=8.5)
    fig.suptitle(f"{grid.meta.get('name', 'grid')}: {n_unique} of {n_full} parameter "
                 f"combinations present ({100 * n_unique / n_full:.1f}%), {len(grid)} spectra")
    return fig


@styled
def parameter_histograms(grid: SpectralGrid) -> Figure:
    """Number of spectra at each value of each parameter."""
    fig, axes = panels(len(grid.axes), 4, 2.9, 2.4)
    for ax, name in zip(axes.flat, grid.axes, strict=False):
        levels, counts = np.unique(grid.params[name], return_counts=True)
        if levels.size <= 60:
            width = 0.8 * (np.diff(levels).min() if levels.size > 1 else max(abs(levels[0]), 1))
            ax.bar(levels, counts, width=width, color="C0")
        else:
            ax.hist(grid.params[name], bins=30, color="C0")
        ax.set_xlabel(parameter_label(name))
    for ax in axes[:, 0]:
        ax.set_ylabel("number of spectra")
    fig.suptitle(f"{grid.meta.get('name', 'grid')}: distribution of parameters "
                 f"({len(grid)} spectra)")
    return fig


@styled
def flux_distribution(grid: SpectralGrid, normalizer: str = "median",
                      n_boxes: int = 40) -> Figure:
    """Flux distribution across the grid at ``n_boxes`` wavelengths: raw and normalized.

    Boxes span the 25th-75th percentiles, whiskers the 5th-95th, lines the median.
    The lower panel shows the flux after the per-spectrum ``normalizer`` that the
    network's inputs use (see :mod:`telescopeml.data.transforms`).
    """
    flux = grid.flux_array().astype(np.float64)
    cols = np.unique(np.linspace(0, grid.n_wavelengths - 1, n_boxes).round().astype(int))
    wavelength = grid.wavelength[cols]
    with np.errstate(divide="ignore", invalid="ignore"):
        raw = np.log10(np.where(flux > 0, flux, np.nan))[:, cols]
    normalized = Normalizer.create(normalizer).transform(grid.wavelength, flux)[0][:, cols]
    fig = Figure(figsize=(10, 6.4), layout="constrained")
    top, bottom = fig.subplots(2, 1, sharex=True)
    width = 0.6 * np.diff(wavelength).min() if wavelength.size > 1 else 0.01
    for ax, data in ((top, raw), (bottom, normalized)):
        columns = [c[np.isfinite(c)] for c in data.T]
        ax.boxplot(columns, positions=wavelength, widths=width, whis=(5, 95),
                   showfliers=False, manage_ticks=False, patch_artist=True,
                   boxprops={"facecolor": "C0", "alpha": 0.45, "lw": 0.6},
                   medianprops={"color": "k", "lw": 1.0},
                   whiskerprops={"lw": 0.6}, capprops={"lw": 0.6})
    unit = unit_latex(grid.flux_unit) if grid.flux_unit else "relative"
    top.set_ylabel(rf"$\log_{{10}}\,F_\lambda$ [{unit}]")
    top.set_title(f"{grid.meta.get('name', 'grid')}: surface flux of all {len(grid)} spectra")
    bottom.set_ylabel(r"$F_\lambda$ / scale")
    bottom.set_title(f"after per-spectrum {normalizer!r} normalization (network input)")
    bottom.set_xlabel(WAVELENGTH_LABEL)
    bottom.set_xlim(grid.wavelength[0] - width, grid.wavelength[-1] + width)
    for ax in (top, bottom):
        mark_bands(ax)
    return fig


@styled
def correlation_heatmap(wavelength: np.ndarray, correlations: Mapping[str, np.ndarray],
                        names: Sequence[str], reference: np.ndarray | None = None,
                        method: str = "Spearman") -> Figure:
    """Correlation of the flux at each wavelength with each parameter.

    Parameters
    ----------
    wavelength
        ``(n_wavelengths,)`` µm.
    correlations
        Panel title -> ``(n_params, n_wavelengths)`` correlation coefficients.
    names
        Parameter names, one per row.
    reference
        Optional spectrum (e.g. the grid's median normalized spectrum) drawn above, to
        show which spectral features the correlations belong to.
    method
        Name of the correlation coefficient, for the colour bar.
    """
    wavelength = np.asarray(wavelength, dtype=np.float64)
    n_rows = len(correlations) + (reference is not None)
    ratios = ([1.3] if reference is not None else []) + [max(1.0, 0.35 * len(names))] * len(
        correlations)
    fig = Figure(figsize=(10, 1.2 + sum(ratios) * 1.1), layout="constrained")
    axes = fig.subplots(n_rows, 1, sharex=True, squeeze=False,
                        gridspec_kw={"height_ratios": ratios})[:, 0]
    if reference is not None:
        axes[0].plot(wavelength, reference, color="k", lw=1)
        axes[0].set_yscale("log")
        _log_limits(axes[0], np.asarray(reference))
        axes[0].set_ylabel("median\nnormalized flux")
        axes[0].set_xlim(wavelength[0], wavelength[-1])
        mark_bands(axes[0])
    cmap = mpl.colormaps["RdBu_r"].with_extremes(bad="0.8")
    mesh = None
    for ax, (title, corr) in zip(axes[n_rows - len(correlations):], correlations.items(),
                                 strict=True):
        mesh = ax.pcolormesh(_edges(wavelength), np.arange(len(names) + 1) - 0.5,
                             np.ma.masked_invalid(corr), cmap=cmap, vmin=-1, vmax=1)
        ax.set_yticks(np.arange(len(names)),
                      labels=[parameter_label(n, unit=False) for n in names])
        ax.invert_yaxis()
        ax.grid(False)
        ax.set_title(title)
    fig.colorbar(mesh, ax=list(axes[n_rows - len(correlations):]), pad=0.01, aspect=25,
                 label=f"{method} correlation with the parameter")
    axes[-1].set_xlabel(WAVELENGTH_LABEL)
    return fig


@styled
def pca_scatter(scores: np.ndarray, explained: np.ndarray,
                params: Mapping[str, np.ndarray], title: str = "") -> Figure:
    """Spectra in the plane of their first two principal components, coloured by parameter.

    Parameters
    ----------
    scores
        ``(n_spectra, >=2)`` principal-component scores.
    explained
        Fraction of the variance explained by each component.
    params
        Parameter name -> ``(n_spectra,)`` values; one panel each.
    title
        Figure title (say what was decomposed).
    """
    explained = np.asarray(explained, dtype=np.float64)
    fig, axes = panels(len(params) + 1, 3, 3.7, 3.1)
    fig.suptitle(title)
    first = axes.flat[0]
    n = min(10, explained.size)
    first.bar(np.arange(1, n + 1), 100 * explained[:n], color="C0", label="each")
    first.plot(np.arange(1, n + 1), 100 * np.cumsum(explained[:n]), "o-", color="k", ms=3,
               label="cumulative")
    first.set_xlabel("principal component")
    first.set_ylabel("variance explained [%]")
    first.set_ylim(0, 102)
    first.legend(loc="center right")
    for ax, (name, values) in zip(axes.flat[1:], params.items(), strict=False):
        colors = ParameterColors(name, values)
        order = np.argsort(values)
        ax.scatter(scores[order, 0], scores[order, 1], c=colors.scalars(values[order]),
                   cmap=colors.cmap, norm=colors.norm, s=7, lw=0)
        ax.set_xlabel(f"PC 1 ({100 * explained[0]:.1f}%)")
        ax.set_ylabel(f"PC 2 ({100 * explained[1]:.1f}%)")
        colors.colorbar(fig, ax)
    return fig


@styled
def spectrum_fit(wavelength: np.ndarray, observed: np.ndarray,
                 uncertainty: np.ndarray | None, models: np.ndarray,
                 labels: Sequence[Mapping[str, float]],
                 reduced_chi2: Sequence[float] | None = None, name: str = "",
                 flux_unit: str = "", model_fraction: float = 0.0) -> Figure:
    """An observed spectrum over model spectra (already scaled), best first, with residuals.

    Parameters
    ----------
    wavelength, observed, uncertainty
        The observed spectrum on the models' wavelengths (µm); NaN where not observed.
    models
        ``(k, n_wavelengths)`` model fluxes, scaled to the observed flux.
    labels
        Parameters of each model, for the legend.
    reduced_chi2
        χ² per degree of freedom of each model, for the legend.
    name, flux_unit
        Object name (title) and the observed flux unit (``""`` = uncalibrated).
    model_fraction
        The model term of the χ² (:func:`~telescopeml.data.chi2.chi2_fit`): the residuals
        are divided by ``σ_tot = sqrt(σ_obs² + (model_fraction * best model)²)``, the σ
        that ``reduced_chi2`` used (0: the observed σ alone).
    """
    models = np.atleast_2d(models)
    if not flux_unit:
        # Uncalibrated: show everything relative to the best model's peak.
        peak = np.nanmax(models[0])
        observed, models = observed / peak, models / peak
        uncertainty = None if uncertainty is None else uncertainty / peak
    fig = Figure(figsize=(10, 6.2), layout="constrained")
    top, bottom = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    if uncertainty is not None:
        top.fill_between(wavelength, observed - uncertainty, observed + uncertainty,
                         color="0.7", lw=0, label="observed ±1σ")
    top.plot(wavelength, observed, color="k", lw=1.1, label=name or "observed")
    for i, (model, label) in enumerate(zip(models, labels, strict=True)):
        text = format_node(label)
        if reduced_chi2 is not None:
            text += ": " + chi2_label(reduced_chi2[i], model_fraction)
        top.plot(wavelength, model, color=f"C{i}", lw=1.6 if i == 0 else 1.0,
                 alpha=1.0 if i == 0 else 0.8, label=text)
    top.set_ylabel(flux_label(flux_unit) if flux_unit
                   else "Relative flux (best model's peak = 1)")
    spread = np.nanmax(models) - min(0.0, np.nanmin(models))
    top.set_ylim(min(0.0, np.nanpercentile(observed, 1)) - 0.05 * spread,
                 max(np.nanmax(models), np.nanpercentile(observed, 99.5)) + 0.08 * spread)
    top.legend(loc="upper right", fontsize=8)
    top.set_title(f"{name or 'observed spectrum'} and the best-scaled χ² grid spectra")
    if uncertainty is not None:
        resid = (observed - models[0]) / np.hypot(uncertainty, model_fraction * models[0])
        label_residuals(bottom, model_fraction, "best")
    else:
        resid = observed - models[0]
        bottom.set_ylabel(r"obs $-$ best")
    bottom.plot(wavelength, resid, color="C0", lw=0.9)
    bottom.axhline(0, color="k", lw=0.7)
    bottom.set_xlabel(WAVELENGTH_LABEL)
    bottom.set_xlim(np.nanmin(wavelength), np.nanmax(wavelength))
    mark_bands(top)
    return fig
