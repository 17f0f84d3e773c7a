"""Figures of posterior calibration: coverage curves, TARP and SBC rank histograms.

They take the numbers that :mod:`telescopeml.evaluation.calibration` computes and return
a :class:`matplotlib.figure.Figure` built without pyplot; save them with
:func:`telescopeml.plots.style.save_figure`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure

from telescopeml.evaluation.calibration import sbc_histogram
from telescopeml.plots.style import parameter_label, styled


def _names(names: Sequence[str] | None, n: int) -> list[str]:
    return list(names) if names is not None else [f"parameter {i}" for i in range(n)]


@styled
def coverage_curve(levels: np.ndarray, coverage: np.ndarray, names: Sequence[str] | None = None,
                   n_spectra: int | None = None) -> Figure:
    """Empirical coverage of central credible intervals against their level.

    Parameters
    ----------
    levels, coverage
        ``(n_levels,)`` and ``(n_levels, n_params)``, as from
        :func:`~telescopeml.evaluation.calibration.coverage`.
    names
        Parameter names (legend).
    n_spectra
        Number of test spectra: draws the ±2σ binomial band around the diagonal.
    """
    levels = np.asarray(levels, dtype=np.float64)
    coverage = np.asarray(coverage).reshape(len(levels), -1)
    fig = Figure(figsize=(4.8, 4.4), layout="constrained")
    ax = fig.subplots()
    if n_spectra:
        band = 2 * np.sqrt(levels * (1 - levels) / n_spectra)
        ax.fill_between(levels, levels - band, levels + band, color="0.85", lw=0,
                        label=f"±2σ for {n_spectra} spectra")
    ax.plot([0, 1], [0, 1], color="k", lw=0.8, ls="--", label="calibrated")
    for i, name in enumerate(_names(names, coverage.shape[1])):
        ax.plot(levels, coverage[:, i], "o-", ms=3, color=f"C{i}",
                label=parameter_label(name, unit=False))
    ax.set(xlim=(0, 1), ylim=(0, 1), aspect="equal", xlabel="credibility level",
           ylabel="empirical coverage")
    ax.text(0.97, 0.03, "below: overconfident or biased\nabove: underconfident",
            transform=ax.transAxes, ha="right", va="bottom", fontsize=8, color="0.35")
    ax.legend(loc="upper left")
    return fig


@styled
def tarp_curve(alpha: np.ndarray, ecp: np.ndarray, distance: float | None = None) -> Figure:
    """TARP expected coverage probability against credibility level.

    Parameters
    ----------
    alpha, ecp, distance
        As returned by :func:`~telescopeml.evaluation.calibration.tarp`.
    """
    fig = Figure(figsize=(4.4, 4.4), layout="constrained")
    ax = fig.subplots()
    ax.plot([0, 1], [0, 1], color="k", lw=0.8, ls="--", label="calibrated")
    label = "TARP" if distance is None else f"TARP (max distance {distance:.3f})"
    ax.plot(alpha, ecp, color="C0", label=label)
    ax.set(xlim=(0, 1), ylim=(0, 1), aspect="equal", xlabel=r"credibility level $1-\alpha$",
           ylabel="expected coverage")
    ax.legend(loc="upper left")
    return fig


@styled
def sbc_rank_histograms(ranks: np.ndarray, n_samples: int, names: Sequence[str] | None = None,
                        bins: int = 20, level: float = 0.99) -> Figure:
    """One histogram of SBC ranks per parameter, with the band uniform ranks stay in.

    Parameters
    ----------
    ranks
        ``(n_spectra, n_params)`` from :func:`~telescopeml.evaluation.calibration.sbc_ranks`.
    n_samples
        Posterior samples per spectrum (ranks run from 0 to ``n_samples``).
    bins, level
        Histogram bins, and the probability of the grey band under uniformity.
    """
    edges, counts, expected, band = sbc_histogram(ranks, n_samples, bins, level)
    names = _names(names, counts.shape[1])
    ncols = min(3, len(names))
    fig = Figure(figsize=(3.4 * ncols, 2.8 * -(-len(names) // ncols)), layout="constrained")
    axes = fig.subplots(-(-len(names) // ncols), ncols, squeeze=False).flat
    for ax in axes[len(names):]:
        ax.set_visible(False)
    for i, (ax, name) in enumerate(zip(axes, names, strict=False)):
        ax.stairs(band[1], edges, baseline=band[0], fill=True, color="0.85",
                  label=f"uniform, {level:.0%}")
        ax.stairs(expected, edges, color="0.4", lw=0.8)
        ax.stairs(counts[:, i], edges, color=f"C{i}", lw=1.4)
        ax.set(xlim=(0, n_samples + 1), ylim=(0, None), xlabel="rank of the truth",
               ylabel="spectra", title=parameter_label(name, unit=False))
    axes[0].legend(loc="lower center")
    return fig
