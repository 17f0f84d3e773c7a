"""The look shared by every figure: rcParams, parameter labels and colours, saving.

Every figure function of :mod:`telescopeml.plots` returns a :class:`matplotlib.figure.Figure`
built without pyplot (no global state, no display needed) under :data:`STYLE`
(:func:`styled`); :func:`save_figure` writes it as PNG and PDF.
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

from telescopeml.cache import atomic_path
from telescopeml.parameters import parameter

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
    """Axis label of a parameter: symbol, unit in brackets and note (``unit=False``: symbol),
    from :mod:`telescopeml.parameters`."""
    entry = parameter(name)
    return entry.axis_label if unit else entry.symbol or name


def unit_label(name: str) -> str:
    """A parameter's unit in mathtext and brackets after a label: `` [K]``; ``""`` if none."""
    unit = parameter(name).math_unit
    return f" [{unit}]" if unit else ""


def format_value(value: float) -> str:
    """A parameter value for ticks and legends: ``1200``, ``4.5``, ``0.333``."""
    return f"{value:.0f}" if abs(value) >= 100 else f"{value:.3g}"


def format_node(label: Mapping[str, float], skip: Sequence[str] = ()) -> str:
    """``T_eff = 1200 K, log g = 5`` for a dict of parameter values."""
    parts = []
    for name, value in label.items():
        if name in skip:
            continue
        kelvin = " K" if parameter(name).unit == "K" else ""
        parts.append(f"{parameter_label(name, unit=False)} = {format_value(value)}{kelvin}")
    return ", ".join(parts)


def chi2_label(reduced_chi2: float, model_fraction: float = 0.0) -> str:
    """``χ²_ν = 10.9 (σ_obs ⊕ 5% model)``: a reduced χ² and the σ it was computed with."""
    text = rf"$\chi^2_\nu$ = {reduced_chi2:.3g}"
    return text + (rf" ($\sigma_{{obs}}$ ⊕ {100 * model_fraction:g}% model)"
                   if model_fraction > 0 else "")


def label_residuals(ax: Axes, model_fraction: float, model: str = "model") -> None:
    """Label a panel of ``(obs - model) / σ``: σ_obs, or σ_tot and its formula
    (``σ_tot² = σ_obs² + (5% model)²``) when the χ² has a model term."""
    if model_fraction <= 0:
        ax.set_ylabel(rf"(obs $-$ {model}) / $\sigma_{{obs}}$")
        return
    ax.set_ylabel(rf"(obs $-$ {model}) / $\sigma_{{tot}}$")
    ax.text(0.01, 0.95, rf"$\sigma_{{tot}}^2 = \sigma_{{obs}}^2$ + "
                        f"({100 * model_fraction:g}% model)²",
            transform=ax.transAxes, va="top", fontsize=8,
            bbox={"fc": "white", "ec": "none", "alpha": 0.8})


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


def save_figure(fig: Figure, path: str | Path, formats: Sequence[str] = ("png", "pdf")
                ) -> list[Path]:
    """Write ``fig`` once per format (PNG and PDF by default); return the paths.

    Parameters
    ----------
    fig
        The figure.
    path
        Output path without suffix; missing folders are made.
    formats
        File formats; each is written atomically to ``path + "." + format``.
    """
    path = Path(path)
    written = []
    with mpl.rc_context(STYLE):
        for kind in formats:
            target = path.with_name(f"{path.name}.{kind}")
            with atomic_path(target) as tmp:
                fig.savefig(tmp, format=kind, bbox_inches="tight")
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
        cmap_name = parameter(name).colormap
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


def panels(n: int, ncols: int, width: float, height: float, **kwargs: Any
           ) -> tuple[Figure, np.ndarray]:
    """A figure with ``n`` panels of ``width`` x ``height`` inches in ``ncols`` columns."""
    ncols = max(1, min(ncols, n))
    nrows = math.ceil(n / ncols)
    fig = Figure(figsize=(width * ncols, height * nrows), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False, **kwargs)
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    return fig, axes


def mark_bands(ax: Axes) -> None:
    """Shade and name the J, H and K bands (:data:`BANDS`) within ``ax``'s x range."""
    low, high = ax.get_xlim()
    for band, (start, end) in BANDS.items():
        if start < high and end > low:
            ax.axvspan(start, end, color="0.5", alpha=0.08, lw=0)
            ax.text((start + end) / 2, 0.02, band, transform=ax.get_xaxis_transform(),
                    ha="center", va="bottom", fontsize=8, color="0.35")
