"""Figures for predictions: corner plots, spectrum fits, and the real-data benchmark."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from telescopeml.data.library import spectral_class
from telescopeml.plots.style import (
    WAVELENGTH_LABEL,
    chi2_label,
    label_residuals,
    parameter_label,
    save_figure,
    styled,
)
from telescopeml.predict import Prediction


def corner_plot(prediction: Prediction) -> Figure:
    """Marginal and pairwise posteriors (``corner``), 68% and 95% contours."""
    import corner

    size = 2.9 * len(prediction.names)
    fig = Figure(figsize=(size, size))
    fig.subplots(len(prediction.names), len(prediction.names))
    corner.corner(prediction.samples, fig=fig,
                  labels=[parameter_label(n) for n in prediction.names],
                  quantiles=(0.16, 0.5, 0.84), show_titles=True, title_fmt=".4g",
                  title_kwargs={"fontsize": 9}, label_kwargs={"fontsize": 10},
                  levels=(0.68, 0.95), plot_datapoints=False, smooth=0.8)
    fig.suptitle(prediction.source, y=1.02)
    return fig


@styled
def prediction_fit(prediction: Prediction) -> Figure:
    """Observed spectrum, the grid spectrum at the posterior median, its 68% posterior-
    predictive band, and the residuals in units of the σ that the reduced χ² used (the
    observed σ and :attr:`~Prediction.model_fraction` of the model in quadrature)."""
    fig = Figure(figsize=(10, 6), layout="constrained")
    top, bottom = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    w, f, s = prediction.wavelength, prediction.observed, prediction.uncertainty
    peak = np.nanmax(prediction.best_fit) if prediction.best_fit is not None else np.nanmax(f)
    top.fill_between(w, (f - s) / peak, (f + s) / peak, color="0.75", lw=0,
                     label="observed ±1σ")
    top.plot(w, f / peak, color="k", lw=1.0, label=prediction.source)
    if prediction.band is not None:
        top.fill_between(w, prediction.band[0] / peak, prediction.band[1] / peak, color="C1",
                         alpha=0.35, lw=0, label="posterior predictive 68%")
    if prediction.best_fit is not None:
        median = ", ".join(f"{parameter_label(k, unit=False)}={v:.4g}"
                           for k, v in prediction.median.items())
        top.plot(w, prediction.best_fit / peak, color="C1", lw=1.4,
                 label=f"grid at posterior median ({median}); "
                       + chi2_label(prediction.chi2_red, prediction.model_fraction))
        total = np.hypot(s, prediction.model_fraction * prediction.best_fit)
        bottom.plot(w, (f - prediction.best_fit) / total, color="C0", lw=0.8)
    bottom.axhline(0, color="k", lw=0.7)
    label_residuals(bottom, prediction.model_fraction)
    bottom.set_xlabel(WAVELENGTH_LABEL)
    top.set_ylabel("Relative flux (model peak = 1)")
    top.legend(fontsize=8, loc="upper right")
    title = prediction.source + (f"\nFLAG: {prediction.flag}" if prediction.flags else "")
    top.set_title(title, fontsize=10)
    return fig


def save_prediction_plots(prediction: Prediction, directory: str | Path) -> list[Path]:
    """Corner plot and spectrum fit of one prediction, PNG and PDF."""
    stem = re.sub(r"[^A-Za-z0-9+._-]+", "_", prediction.source).strip("_") or "spectrum"
    directory = Path(directory)
    written = save_figure(corner_plot(prediction), directory / f"{stem}_corner")
    written += save_figure(prediction_fit(prediction), directory / f"{stem}_fit")
    return written


@styled
def benchmark_figure(result: dict[str, Any]) -> Figure:
    """Predicted (median, 68% interval) against literature Teff and log g, by class."""
    params = [p for p in ("teff", "logg") if f"{p}_p50" in (result["objects"] or [{}])[0]]
    fig = Figure(figsize=(5.2 * len(params), 5), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(params)))
    colors = {"M": "C3", "L": "C1", "T": "C0"}
    low, high = result["teff_range"]
    for ax, p in zip(axes, params, strict=True):
        for cls in ("M", "L", "T", ""):
            rows = [r for r in result["objects"] if spectral_class(r["spt"]) == cls]
            if not rows:
                continue
            lit = np.array([r[f"{p}_lit"] for r in rows])
            med = np.array([r[f"{p}_p50"] for r in rows])
            err = np.array([[r[f"{p}_p50"] - r[f"{p}_p16"], r[f"{p}_p84"] - r[f"{p}_p50"]]
                            for r in rows]).T
            flagged = np.array([bool(r["flag"]) for r in rows])
            color = colors.get(cls, "0.5")
            ax.errorbar(lit[~flagged], med[~flagged], yerr=err[:, ~flagged], fmt="o", ms=4,
                        color=color, elinewidth=0.7, label=f"{cls or '?'} dwarfs")
            ax.errorbar(lit[flagged], med[flagged], yerr=err[:, flagged], fmt="x", ms=5,
                        color=color, elinewidth=0.5, alpha=0.6,
                        label=f"{cls or '?'} flagged" if flagged.any() else None)
        lims = np.array([ax.get_xlim(), ax.get_ylim()])
        lo, hi = lims.min(), lims.max()
        ax.plot([lo, hi], [lo, hi], color="k", lw=0.8)
        if p == "teff":
            ax.axvspan(low, high, color="0.9", zorder=0, label="grids' Teff range")
        block = result["in_range"][p]
        baselines = ", ".join(f"{name.split(' (')[0]} {b[p]['rmse']:.3g}"
                              for name, b in result.get("baselines", {}).items() if p in b)
        ax.set_title(f"in range: RMSE {block['rmse']:.3g}, bias {block['bias']:+.3g}"
                     + (f"\nbaselines: {baselines}" if baselines else ""), fontsize=9)
        ax.set_xlabel(f"literature {parameter_label(p)}")
        scale = result.get("scale")
        ax.set_ylabel(f"predicted {parameter_label(p)}"
                      + (f" ({scale} scale)" if isinstance(scale, str) else ""))
        ax.legend(fontsize=8)
    return fig


def benchmark_plot(result: dict[str, Any], path: str | Path) -> Path:
    """Save :func:`benchmark_figure`; return the PNG path."""
    return save_figure(benchmark_figure(result), Path(path).with_suffix(""))[0]
