"""Figures of a trained model on held-out grid points: parity, residuals, metrics vs S/N,
RMSE against the Cramér-Rao bound, a wavelength-window ablation.

They take the numbers that :mod:`telescopeml.evaluation` computes (arrays of true and
predicted values, the tables of ``evaluation.json``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure

from telescopeml.evaluation.metrics import regression_metrics
from telescopeml.plots.style import (
    METRIC_NAMES,
    format_value,
    panels,
    parameter_label,
    styled,
    unit_label,
)


def _targets_panels(names: Sequence[str]) -> tuple[Figure, np.ndarray]:
    return panels(len(names), 2 if len(names) in (2, 4) else 3, 3.6, 3.3)


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
        ax.set_xlabel(f"true {parameter_label(name)}")
        ax.set_ylabel(f"predicted − true{unit_label(name)}")
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
        unit_text = unit_label(name) if metric != "r2" else ""
        ax.set_ylabel(f"{METRIC_NAMES.get(metric, metric)} of "
                      f"{parameter_label(name, unit=False)}{unit_text}")
        if metric != "r2":
            ax.set_ylim(bottom=0)
    axes.flat[0].legend(loc="best", fontsize=7.5)
    return fig


@styled
def rmse_over_crlb(ratio: Mapping[str, Mapping[str, float]], names: Sequence[str],
                   held_out: Mapping[str, Mapping[str, float]] | None = None) -> Figure:
    """RMSE / Cramér-Rao bound per parameter against the test S/N, on a log scale.

    ``ratio`` is ``evaluation.json``'s ``crlb["ratio"]["interior"]``: S/N key (``"30"``) ->
    parameter -> ratio. At 1 a method is as good as any unbiased one can be; lines at 1 and 2.
    ``held_out`` (``crlb["ratio"]["held_out"]``, RMSE over the held-out bound) is drawn
    dashed with open markers.
    """
    keys = snr_order([k for k in ratio if k != "clean"])
    snr = [float(k) for k in keys]
    fig = Figure(figsize=(4.8, 3.8), layout="constrained")
    ax = fig.subplots()
    for j, name in enumerate(names):
        ax.plot(snr, [ratio[k].get(name, np.nan) for k in keys], "o-", ms=4, color=f"C{j}",
                label=parameter_label(name, unit=False))
        if held_out:
            ax.plot(snr, [held_out.get(k, {}).get(name, np.nan) for k in keys], "o--", ms=4,
                    mfc="none", color=f"C{j}",
                    label="held-out bound" if j == 0 else None)
    ax.axhline(1.0, color="k", lw=1.0)
    ax.axhline(2.0, color="k", lw=0.8, ls="--")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xticks(snr, labels=keys)
    ax.minorticks_off()
    ax.set_xlabel("test S/N")
    ax.set_ylabel("RMSE / bound (interior points)")
    ax.legend(loc="best", fontsize=7.5)
    return fig


#: The two panels of :func:`window_ablation`: result key -> what it shows.
ABLATION_METRICS = {"rmse": "RMSE", "width68": "median 68% posterior width"}


@styled
def window_ablation(table: Mapping[str, Mapping[str, Mapping[str, float]]],
                    names: Sequence[str], title: str = "") -> Figure:
    """Heat maps of the RMSE and the posterior width per wavelength window and parameter.

    Parameters
    ----------
    table
        Window-set label -> ``{"rmse": {param: value}, "width68": {param: value}}`` (the
        ``windows`` of ``benchmarks/bench_jwst_windows.py``'s JSON); the first row is the
        reference.
    names
        Parameters, one column each.
    title
        Figure title.

    Each cell shows its value; its colour is its ratio to the first row's (log scale, red
    worse, blue better).
    """
    labels = list(table)
    fig = Figure(figsize=(3.0 + 2.6 * len(names), 0.9 + 0.38 * len(labels)),
                 layout="constrained")
    axes = fig.subplots(1, len(ABLATION_METRICS), sharey=True)
    for ax, (key, what) in zip(axes, ABLATION_METRICS.items(), strict=True):
        values = np.array([[table[w][key][p] for p in names] for w in labels], dtype=float)
        ratio = np.log2(values / values[0])
        image = ax.imshow(ratio, cmap="RdBu_r", vmin=-3, vmax=3, aspect="auto")
        for (i, j), value in np.ndenumerate(values):
            ax.text(j, i, format_value(value), ha="center", va="center", fontsize=8,
                    color="white" if abs(ratio[i, j]) > 1.5 else "black")
        ax.set_xticks(range(len(names)), labels=[parameter_label(p) for p in names])
        ax.set_yticks(range(len(labels)), labels=labels)
        ax.grid(False)
        ax.set_title(what)
    bar = fig.colorbar(image, ax=axes, ticks=range(-3, 4))
    bar.ax.set_yticklabels(["⅛", "¼", "½", "1", "2", "4", "8"])
    bar.set_label(f"ratio to {labels[0]}")
    if title:
        fig.suptitle(title)
    return fig
