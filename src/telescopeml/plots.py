"""Matplotlib figures of grids, fits and training runs, all in one style.

Every figure function returns a :class:`matplotlib.figure.Figure` built without pyplot
(no global state, no display needed); :func:`save_figure` writes it as PNG and PDF.
Functions about a grid take the :class:`~telescopeml.data.grid.SpectralGrid`; functions
about derived quantities (correlations, principal components, predictions, metrics) take
the numbers, which :mod:`telescopeml.explore` and :mod:`telescopeml.evaluation` compute.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib as mpl
import numpy as np
from astropy import units as u
from matplotlib.axes import Axes
from matplotlib.cm import ScalarMappable
from matplotlib.colors import BoundaryNorm, Normalize
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from telescopeml.data.grid import PARAMETER_LABELS, SpectralGrid
from telescopeml.data.transforms import Normalizer
from telescopeml.evaluation.metrics import regression_metrics

#: rcParams shared by every figure.
STYLE: dict[str, Any] = {
    "font.size": 10,
    "axes.titlesize": 10,
    "axes.labelsize": 10,
    "legend.fontsize": 8.5,
    "xtick.labelsize": 9,
    "ytick.labelsize": 9,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "grid.linewidth": 0.5,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "legend.frameon": False,
    "mathtext.default": "regular",
    "savefig.dpi": 130,
    "pdf.fonttype": 42,
}
#: Parameter -> (symbol, unit, note) in matplotlib mathtext; others use PARAMETER_LABELS.
SYMBOLS: dict[str, tuple[str, str, str]] = {
    "teff": (r"$T_\mathrm{eff}$", "K", ""),
    "logg": (r"$\log\,g$", "cgs", ""),
    "mh": ("[M/H]", "dex", ""),
    "co": ("C/O", "", ""),
    "fsed": (r"$f_\mathrm{sed}$", "", ""),
    "inv_fsed": (r"$1/f_\mathrm{sed}$", "", "0 = cloud-free"),
    "kzz": (r"$\log\,K_{zz}$", r"cm$^2$ s$^{-1}$", ""),
    "alpha": (r"[$\alpha$/M]", "dex", ""),
    "cloudy": ("cloudy", "", "1 = cloudy, 0 = clear"),
}
#: Parameter -> colormap, the same in every figure.
COLORMAPS: dict[str, str] = {"teff": "plasma", "logg": "viridis", "mh": "cividis",
                             "inv_fsed": "Blues", "fsed": "Blues_r"}
WAVELENGTH_LABEL = r"Wavelength $\lambda$ [µm]"
#: Near-infrared photometric bands (µm) marked on spectra.
BANDS: dict[str, tuple[float, float]] = {"J": (1.10, 1.40), "H": (1.50, 1.80),
                                         "K": (2.00, 2.40)}
METRIC_NAMES = {"rmse": "RMSE", "mae": "MAE", "bias": "bias", "r2": "R²"}
#: Part of a colormap used for discrete values (the palest ends of some are invisible).
COLORMAP_RANGES: dict[str, tuple[float, float]] = {"Blues": (0.3, 1.0), "Blues_r": (0.0, 0.7)}
#: Parameters with at most this many distinct values get one colour per value.
MAX_DISCRETE = 24


# --- labels --------------------------------------------------------------------------------
def parameter_label(name: str, unit: bool = True) -> str:
    """Axis label of a parameter: symbol, unit in brackets and note (``unit=False``: symbol)."""
    if name not in SYMBOLS:
        return PARAMETER_LABELS.get(name, name) if unit else name
    symbol, unit_text, note = SYMBOLS[name]
    if not unit:
        return symbol
    return symbol + (f" [{unit_text}]" if unit_text else "") + (f" ({note})" if note else "")


def format_value(value: float) -> str:
    """A parameter value for ticks and legends: ``1200``, ``4.5``, ``0.333``."""
    return f"{value:.0f}" if abs(value) >= 100 else f"{value:.3g}"


def format_node(label: Mapping[str, float], skip: Sequence[str] = ()) -> str:
    """``T_eff = 1200 K, log g = 5`` for a dict of parameter values."""
    parts = []
    for name, value in label.items():
        if name in skip:
            continue
        kelvin = " K" if SYMBOLS.get(name, ("", "", ""))[1] == "K" else ""
        parts.append(f"{parameter_label(name, unit=False)} = {format_value(value)}{kelvin}")
    return ", ".join(parts)


def unit_latex(unit: str) -> str:
    """An astropy unit string as mathtext in the astronomer's order: ``erg s⁻¹ cm⁻² µm⁻¹``."""
    parsed = u.Unit(unit)

    def order(item):
        base, power = item
        return (power < 0, base.to_string() != "s", power != -2)

    parts = []
    for base, power in sorted(zip(parsed.bases, parsed.powers, strict=True), key=order):
        text = base.to_string("latex")[1:-1]
        if text.startswith("\\mathrm{") and text.endswith("}"):
            text = text[len("\\mathrm{"):-1]
        parts.append(text if power == 1 else f"{text}^{{{float(power):g}}}")
    if parsed.scale != 1:
        exponent = np.log10(parsed.scale)
        parts.insert(0, f"10^{{{exponent:.0f}}}" if exponent == round(exponent)
                     else f"{parsed.scale:g}")
    return r"$\mathrm{" + r"\,".join(parts) + "}$"


def flux_label(unit: str, surface: bool = False) -> str:
    """Y label for flux density in ``unit`` (``""`` = uncalibrated, relative flux)."""
    if not unit:
        return "Relative flux (uncalibrated)"
    what = "Surface flux density" if surface else "Flux density"
    return rf"{what} $F_\lambda$ [{unit_latex(unit)}]"


# --- style and output ----------------------------------------------------------------------
def styled(function: Callable[..., Figure]) -> Callable[..., Figure]:
    """Decorator: build the figure under :data:`STYLE`."""

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Figure:
        with mpl.rc_context(STYLE):
            return function(*args, **kwargs)

    return wrapper


def save_figure(fig: Figure, path: str | Path) -> list[Path]:
    """Write ``fig`` to ``path + ".png"`` and ``path + ".pdf"``; return both paths."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    written = []
    with mpl.rc_context(STYLE):
        for suffix in (".png", ".pdf"):
            target = path.with_name(path.name + suffix)
            fig.savefig(target, format=suffix[1:], bbox_inches="tight")
            written.append(target)
    return written


class ParameterColors:
    """Colours for the values of one parameter, with a labelled colour bar.

    Parameters with at most :data:`MAX_DISCRETE` distinct values get one colour per value
    (evenly spaced, whatever the spacing of the values); others a continuous scale.
    """

    def __init__(self, name: str, values: np.ndarray) -> None:
        self.name = name
        self.levels = np.unique(np.asarray(values, dtype=np.float64))
        cmap_name = COLORMAPS.get(name, "viridis")
        base = mpl.colormaps[cmap_name]
        self.discrete = self.levels.size <= MAX_DISCRETE
        if self.discrete:
            n = self.levels.size
            low, high = COLORMAP_RANGES.get(cmap_name, (0.1, 0.9))
            self.cmap = mpl.colors.ListedColormap(base(np.linspace(low, high, n) if n > 1
                                                       else [high]))
            self.norm: Normalize = BoundaryNorm(np.arange(n + 1) - 0.5, n)
        else:
            self.cmap = base
            self.norm = Normalize(self.levels[0], self.levels[-1])

    def scalars(self, values: np.ndarray) -> np.ndarray:
        """What to pass as ``c=`` (with :attr:`cmap` and :attr:`norm`) for ``values``."""
        values = np.asarray(values, dtype=np.float64)
        if not self.discrete:
            return values
        return np.abs(values[..., None] - self.levels).argmin(axis=-1)

    def color(self, value: float) -> tuple[float, float, float, float]:
        """The RGBA colour of one value."""
        return self.cmap(self.norm(self.scalars(np.array([value]))[0]))

    def colorbar(self, fig: Figure, ax: Axes | Sequence[Axes]) -> Any:
        """A colour bar beside ``ax`` labelled with the parameter (ticks at its values)."""
        bar = fig.colorbar(ScalarMappable(self.norm, self.cmap), ax=ax,
                           label=parameter_label(self.name), pad=0.02, aspect=30)
        if self.discrete:
            step = math.ceil(self.levels.size / 10)
            ticks = np.arange(0, self.levels.size, step)
            bar.set_ticks(ticks, labels=[format_value(self.levels[i]) for i in ticks])
            bar.minorticks_off()
        return bar


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


def _panels(n: int, ncols: int, width: float, height: float, **kwargs: Any
            ) -> tuple[Figure, np.ndarray]:
    ncols = max(1, min(ncols, n))
    nrows = math.ceil(n / ncols)
    fig = Figure(figsize=(width * ncols, height * nrows), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False, **kwargs)
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    return fig, axes


def _mark_bands(ax: Axes) -> None:
    low, high = ax.get_xlim()
    for band, (start, end) in BANDS.items():
        if start < high and end > low:
            ax.axvspan(start, end, color="0.5", alpha=0.08, lw=0)
            ax.text((start + end) / 2, 0.02, band, transform=ax.get_xaxis_transform(),
                    ha="center", va="bottom", fontsize=8, color="0.35")


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


# --- grids ---------------------------------------------------------------------------------
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
    fig, axes = _panels(len(names), 2, 5.6, 3.4, sharex=True)
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
        _mark_bands(ax)
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
    fig, axes = _panels(len(grid.axes), 4, 2.9, 2.4)
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
        _mark_bands(ax)
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
        _mark_bands(axes[0])
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
    fig, axes = _panels(len(params) + 1, 3, 3.7, 3.1)
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
                 flux_unit: str = "") -> Figure:
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
            text += rf": $\chi^2_\nu$ = {reduced_chi2[i]:.3g}"
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
        resid = (observed - models[0]) / uncertainty
        bottom.set_ylabel(r"(obs $-$ best) / σ")
    else:
        resid = observed - models[0]
        bottom.set_ylabel(r"obs $-$ best")
    bottom.plot(wavelength, resid, color="C0", lw=0.9)
    bottom.axhline(0, color="k", lw=0.7)
    bottom.set_xlabel(WAVELENGTH_LABEL)
    bottom.set_xlim(np.nanmin(wavelength), np.nanmax(wavelength))
    _mark_bands(top)
    return fig


# --- training runs -------------------------------------------------------------------------
@styled
def loss_curves(history: Sequence[Mapping[str, float]]) -> Figure:
    """Training and validation loss per epoch (best epoch marked) and the learning rate.

    ``history`` holds one row per epoch as in ``history.csv``: ``epoch``, ``train_loss``,
    ``val_loss`` and optionally ``lr``.
    """
    epochs = np.array([row["epoch"] for row in history], dtype=float)
    has_lr = all("lr" in row for row in history)
    fig = Figure(figsize=(10 if has_lr else 6, 3.6), layout="constrained")
    axes = fig.subplots(1, 2 if has_lr else 1, squeeze=False,
                        gridspec_kw={"width_ratios": [1.6, 1] if has_lr else [1]})[0]
    loss = axes[0]
    for key, color in (("train_loss", "C0"), ("val_loss", "C1")):
        if all(key in row for row in history):
            loss.plot(epochs, [row[key] for row in history], "o-", ms=3, color=color,
                      label=key.replace("_", " "))
    if all(row.get("val_loss", 0) > 0 and row.get("train_loss", 0) > 0 for row in history):
        loss.set_yscale("log")
    if all("val_loss" in row for row in history):
        best = int(np.argmin([row["val_loss"] for row in history]))
        loss.axvline(epochs[best], color="0.4", ls=":", lw=1,
                     label=f"best epoch ({epochs[best]:.0f})")
    for ax in axes:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    loss.set_xlabel("epoch")
    loss.set_ylabel("loss")
    loss.legend()
    if has_lr:
        axes[1].plot(epochs, [row["lr"] for row in history], color="C2")
        axes[1].set_yscale("log")
        axes[1].set_xlabel("epoch")
        axes[1].set_ylabel("learning rate")
    return fig


def _targets_panels(names: Sequence[str]) -> tuple[Figure, np.ndarray]:
    return _panels(len(names), 2 if len(names) in (2, 4) else 3, 3.6, 3.3)


@styled
def parity(truth: np.ndarray, predicted: np.ndarray, names: Sequence[str],
           edge: np.ndarray | None = None, title: str = "") -> Figure:
    """Predicted against true value per parameter, with the 1:1 line, RMSE and R².

    Parameters
    ----------
    truth, predicted
        ``(n, n_params)`` arrays in physical units.
    names
        Parameter names, one per column.
    edge
        Optional ``(n,)`` mask of spectra on the grid's edge (drawn as open circles).
    title
        Figure title (e.g. the S/N of the test set).
    """
    truth, predicted = np.atleast_2d(truth), np.atleast_2d(predicted)
    metrics = regression_metrics(truth, predicted, names)
    edge = np.zeros(len(truth), bool) if edge is None else np.asarray(edge, dtype=bool)
    fig, axes = _targets_panels(names)
    for j, (ax, name) in enumerate(zip(axes.flat, names, strict=False)):
        ax.scatter(truth[~edge, j], predicted[~edge, j], s=9, color="C0", alpha=0.6, lw=0,
                   label="interior")
        if edge.any():
            ax.scatter(truth[edge, j], predicted[edge, j], s=11, facecolor="none",
                       edgecolor="C1", alpha=0.7, lw=0.7, label="grid edge")
        low = min(truth[:, j].min(), predicted[:, j].min())
        high = max(truth[:, j].max(), predicted[:, j].max())
        pad = 0.04 * (high - low or 1.0)
        ax.plot([low - pad, high + pad], [low - pad, high + pad], color="k", lw=0.8)
        ax.set_xlim(low - pad, high + pad)
        ax.set_ylim(low - pad, high + pad)
        ax.set_aspect("equal")
        m = metrics[name]
        ax.text(0.04, 0.96, f"RMSE {format_value(m['rmse'])}\nR² {m['r2']:.3f}",
                transform=ax.transAxes, va="top", fontsize=8.5)
        ax.set_xlabel(f"true {parameter_label(name)}")
        ax.set_ylabel(f"predicted {parameter_label(name, unit=False)}")
    if edge.any():
        axes.flat[0].legend(loc="lower right")
    if title:
        fig.suptitle(title)
    return fig


@styled
def residuals(truth: np.ndarray, predicted: np.ndarray, names: Sequence[str],
              edge: np.ndarray | None = None, title: str = "") -> Figure:
    """Residual (predicted − true) against the true value, with median and 16-84% band.

    Same arguments as :func:`parity`.
    """
    truth, predicted = np.atleast_2d(truth), np.atleast_2d(predicted)
    edge = np.zeros(len(truth), bool) if edge is None else np.asarray(edge, dtype=bool)
    fig, axes = _targets_panels(names)
    for j, (ax, name) in enumerate(zip(axes.flat, names, strict=False)):
        resid = predicted[:, j] - truth[:, j]
        ax.scatter(truth[~edge, j], resid[~edge], s=8, color="C0", alpha=0.5, lw=0)
        if edge.any():
            ax.scatter(truth[edge, j], resid[edge], s=10, facecolor="none", edgecolor="C1",
                       alpha=0.6, lw=0.7)
        levels = np.unique(truth[:, j])
        if levels.size <= 40:
            groups = [resid[truth[:, j] == v] for v in levels]
            q = np.array([np.percentile(g, [16, 50, 84]) for g in groups])
            ax.fill_between(levels, q[:, 0], q[:, 2], color="k", alpha=0.12, lw=0,
                            label="16-84%")
            ax.plot(levels, q[:, 1], color="k", lw=1.2, label="median")
        ax.axhline(0, color="k", lw=0.6, ls="--")
        unit = SYMBOLS.get(name, ("", "", ""))[1]
        ax.set_xlabel(f"true {parameter_label(name)}")
        ax.set_ylabel(f"predicted − true{f' [{unit}]' if unit else ''}")
    axes.flat[0].legend(loc="best")
    if title:
        fig.suptitle(title)
    return fig


def snr_order(keys: Sequence[str]) -> list[str]:
    """S/N keys of ``evaluation.json`` in increasing S/N, ``"clean"`` (noise-free) last."""
    return sorted(keys, key=lambda k: math.inf if k == "clean" else float(k))


@styled
def metrics_vs_snr(tables: Mapping[str, Mapping[str, Mapping[str, Mapping[str, float]]]],
                   names: Sequence[str], metric: str = "rmse") -> Figure:
    """A metric against the test S/N, one line per method, one panel per parameter.

    ``tables`` maps a method (``"network"``, a baseline...) to the ``snr`` table of
    ``evaluation.json``: S/N key (``"10"``, ``"clean"``) -> parameter -> metric -> value.
    """
    keys = snr_order(next(iter(tables.values())).keys())
    x = np.arange(len(keys))
    fig, axes = _targets_panels(names)
    for ax, name in zip(axes.flat, names, strict=False):
        for i, (method, table) in enumerate(tables.items()):
            y = [table.get(k, {}).get(name, {}).get(metric, np.nan) for k in keys]
            ax.plot(x, y, "o-", ms=4, color=f"C{i}", lw=2 if i == 0 else 1,
                    label=method.replace("_", " "))
        ax.set_xticks(x, labels=["∞" if k == "clean" else k for k in keys])
        ax.set_xlabel("test S/N (∞ = noise-free)")
        unit = SYMBOLS.get(name, ("", "", ""))[1]
        unit_text = f" [{unit}]" if unit and metric != "r2" else ""
        ax.set_ylabel(f"{METRIC_NAMES.get(metric, metric)} of "
                      f"{parameter_label(name, unit=False)}{unit_text}")
        if metric != "r2":
            ax.set_ylim(bottom=0)
    axes.flat[0].legend(loc="best", fontsize=7.5)
    return fig
