"""Regression metrics per parameter."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def regression_metrics(
    truth: np.ndarray, predicted: np.ndarray, names: Sequence[str]
) -> dict[str, dict[str, float]]:
    """RMSE, MAE, bias (mean of predicted - true) and R² for each parameter.

    Parameters
    ----------
    truth, predicted
        ``(n, n_params)`` arrays in physical units.
    names
        Parameter names, one per column.
    """
    truth = np.atleast_2d(np.asarray(truth, dtype=np.float64))
    predicted = np.atleast_2d(np.asarray(predicted, dtype=np.float64))
    if truth.shape != predicted.shape or truth.shape[1] != len(names):
        raise ValueError(f"shapes {truth.shape} and {predicted.shape} do not match {len(names)} "
                         "parameters")
    out = {}
    for j, name in enumerate(names):
        err = predicted[:, j] - truth[:, j]
        spread = np.sum((truth[:, j] - truth[:, j].mean()) ** 2)
        out[name] = {
            "rmse": float(np.sqrt(np.mean(err**2))),
            "mae": float(np.mean(np.abs(err))),
            "bias": float(np.mean(err)),
            "r2": float(1.0 - np.sum(err**2) / spread) if spread > 0 else float("nan"),
        }
    return out


def mean_and_spread(runs: Sequence[dict[str, dict[str, float]]]) -> dict[str, dict[str, float]]:
    """Average metric tables over runs (e.g. seeded splits); adds ``<metric>_std``."""
    out: dict[str, dict[str, float]] = {}
    for name in runs[0]:
        out[name] = {}
        for metric in runs[0][name]:
            values = np.array([r[name][metric] for r in runs])
            out[name][metric] = float(values.mean())
            out[name][f"{metric}_std"] = float(values.std(ddof=1)) if len(values) > 1 else 0.0
    return out
