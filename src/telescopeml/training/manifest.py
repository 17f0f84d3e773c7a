"""What a trained bundle's manifest records beside its weights: transforms, wavelengths,
parameter ranges, the grid and its checksum, the instrument, the split, the run's config and
environment, and the summary of its metrics."""

from __future__ import annotations

import platform
from typing import Any

import numpy as np

from telescopeml.data.instruments import instrument_record
from telescopeml.data.prepared import PreparedData, grid_checksum
from telescopeml.models import ModelConfig
from telescopeml.version import __version__


def summary_metrics(metrics: dict[str, Any]) -> dict[str, Any]:
    """The metrics kept in the manifest: tables and verdicts, not per-spectrum arrays."""
    summary = {k: v for k, v in metrics.items() if k not in ("test_predictions", "calibration")}
    if "calibration" in metrics:
        cal = metrics["calibration"]
        summary["calibration"] = {"check": cal["check"], "tarp_distance": cal["tarp"]["distance"],
                                  "sbc_pvalues": cal["sbc_pvalues"]}
    return summary


def bundle_sections(prepared: PreparedData, config: dict[str, Any],
                    model_config: ModelConfig) -> dict[str, Any]:
    """Everything a bundle needs beyond the weights to be used on new spectra (``config``:
    the run's ``ExperimentConfig.to_dict()``)."""
    grid = prepared.grid
    return {
        "transforms": {"encoder": prepared.encoder.to_dict(),
                       "parameters": prepared.scaler.to_dict()},
        "wavelength": grid.wavelength.tolist(),
        "flux_unit": grid.flux_unit,
        "parameters": {
            "names": prepared.targets,
            "ranges": {t: [float(grid.params[t].min()), float(grid.params[t].max())]
                       for t in prepared.targets},
            "grid_axes": {a: grid.axis_values(a).tolist() for a in grid.axes},
        },
        "grid": {**{k: grid.meta.get(k) for k in ("name", "package", "version", "citation",
                                                  "instrument", "notes")},
                 "checksum": grid_checksum(grid)},
        "instrument": instrument_record(grid.meta.get("instrument") or "", grid.wavelength),
        "split": prepared.split.to_dict(),
        "training": {"config": config, "model": model_config.to_dict()},
        "environment": {"python": platform.python_version(), "numpy": np.__version__,
                        "telescopeml": __version__},
    }
