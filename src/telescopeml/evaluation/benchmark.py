"""Accuracy on real spectra: predictions against literature parameters of known objects."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np

from telescopeml.data import compact
from telescopeml.data.library import spectral_class
from telescopeml.data.objects import load_object_spectrum, read_objects
from telescopeml.errors import DataError, OutOfGridError
from telescopeml.evaluation.real_baselines import (
    CHI2_FIT,
    CONSTANT,
    FILIPPAZZO_RMS,
    LOOKUP,
    chi2_grid_fit,
    spectral_type_teff,
)
from telescopeml.inference.protocol import SpectrumPredictor
from telescopeml.prediction import QUANTILES, Prediction


def _metrics(pred: np.ndarray, truth: np.ndarray, width: np.ndarray,
             truth_err: np.ndarray, width95: np.ndarray | None = None) -> dict[str, float]:
    """RMSE, MAE, bias, and how honest the error bars are: ``consistent``, the fraction of
    objects whose |prediction - literature| is within the posterior's half 16-84% width and
    the literature error added in quadrature (68% if both are right), and
    ``median_half_width`` of the posteriors. With ``width95`` (half the 2.5-97.5% width),
    also ``consistent_95`` (against 1.96 literature errors; 95% if both are right)."""
    keys = ["rmse", "mae", "bias", "consistent", "median_half_width"]
    if width95 is not None:
        keys += ["consistent_95", "median_half_width_95"]
    keep = np.isfinite(pred) & np.isfinite(truth)
    if not keep.any():
        return {**dict.fromkeys(keys, float("nan")), "n": 0}
    pred, truth, width = pred[keep], truth[keep], width[keep]
    lit = np.nan_to_num(truth_err[keep])
    err = pred - truth
    combined = np.sqrt(np.nan_to_num(width) ** 2 + lit**2)
    out = {"rmse": float(np.sqrt(np.mean(err**2))), "mae": float(np.mean(np.abs(err))),
           "bias": float(np.mean(err)), "consistent": float(np.mean(np.abs(err) <= combined)),
           "median_half_width": float(np.median(width)), "n": int(keep.sum())}
    if width95 is not None:
        w95 = width95[keep]
        out["consistent_95"] = float(np.mean(np.abs(err) <= np.sqrt(w95**2 + (1.96 * lit)**2)))
        out["median_half_width_95"] = float(np.median(w95))
    return out


class ShippedGrids:
    """The shipped models' compact grids, resampled once per wavelength array (for the
    classical χ² fit baseline)."""

    def __init__(self) -> None:
        from telescopeml import pretrained

        self.grids = {name: compact.read_compact_grid(pretrained.model_path(name)
                                                         / pretrained.GRID_FILE)
                      for name in pretrained.available()}
        self._cache: dict[bytes, dict] = {}

    def on(self, wavelength: np.ndarray) -> dict[str, tuple[np.ndarray, dict, np.ndarray]]:
        """``{name: (flux on the covered wavelengths, params, covered pixels)}``."""
        wavelength = np.asarray(wavelength, dtype=np.float64)
        key = wavelength.tobytes()
        if key not in self._cache:
            out = {}
            for name, grid in self.grids.items():
                same = grid.n_wavelengths == len(wavelength) and np.allclose(
                    grid.wavelength, wavelength)
                pixels = np.ones(wavelength.size, dtype=bool) if same else (
                    (wavelength > grid.wavelength[0]) & (wavelength < grid.wavelength[-1]))
                if pixels.sum() < 10:
                    continue
                g = grid if same else grid.resample(wavelength[pixels])
                out[name] = (np.asarray(g.flux_array(), dtype=np.float64), g.params, pixels)
            self._cache[key] = out
        return self._cache[key]


def baseline_block(records: list[dict[str, Any]], params: list[str]
                   ) -> dict[str, dict[str, dict[str, float]]]:
    """Metrics of the real-data baselines on ``records`` (same objects as the network's)."""
    def column(key: str) -> np.ndarray:
        return np.array([r.get(key, np.nan) for r in records], dtype=np.float64)

    out: dict[str, dict[str, dict[str, float]]] = {}
    if "teff" in params:
        lookup = column("baseline_lookup_teff")
        out[LOOKUP] = {"teff": _metrics(lookup, column("teff_lit"),
                                        np.full(lookup.size, FILIPPAZZO_RMS),
                                        column("teff_lit_err"))}
    out[CHI2_FIT] = {p: _metrics(column(f"baseline_chi2_{p}"), column(f"{p}_lit"),
                                 np.zeros(len(records)), column(f"{p}_lit_err"))
                     for p in params}
    out[CONSTANT] = {}
    for p in params:
        lit = column(f"{p}_lit")
        value = np.full(lit.size, np.nanmedian(lit) if lit.size else np.nan)
        out[CONSTANT][p] = _metrics(value, lit, np.zeros(lit.size), column(f"{p}_lit_err"))
    return out


def run_benchmark(predictor: SpectrumPredictor, objects: str | Path, n_samples: int = 2000,
                  progress: bool = True) -> dict[str, Any]:
    """Predict every object and compare with its literature Teff and log g.

    Returns the JSON of ``telescopeml benchmark --json``: ``model``, ``scale``, ``n``,
    ``n_in_range``, ``in_range`` / ``all`` {param: {rmse, mae, bias, consistent,
    median_half_width, consistent_95, median_half_width_95}} (:func:`_metrics`),
    ``baselines`` {name: {param: same}} on the in-range objects (:func:`baseline_block`),
    ``in_range_flagged`` / ``in_range_unflagged``, ``by_class`` {M/L/T: same},
    ``flagged`` (names flagged out of range or unreliable), ``missed`` (objects outside the
    model's Teff range that were not flagged), ``failed`` and ``objects``.
    """
    from tqdm.auto import tqdm

    table = Path(objects)
    rows = read_objects(table)
    params = [p for p in ("teff", "logg") if p in predictor.names]
    low, high = predictor.grid_ranges.get("teff", (-np.inf, np.inf))
    grids = ShippedGrids()
    records, failed = [], []
    for row in tqdm(rows, desc="benchmark", unit="object", disable=not progress):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                prediction: Prediction = predictor.predict(
                    load_object_spectrum(row, table), n_samples=n_samples)
        except (DataError, OutOfGridError) as exc:
            failed.append({"name": row["name"], "error": str(exc)})
            continue
        q = prediction.quantiles(QUANTILES)
        record: dict[str, Any] = {"name": row["name"], "spt": row.get("spt", ""),
                                  "scale": prediction.scale, "model": prediction.model}
        for j, name in enumerate(prediction.names):
            for k, label in enumerate(("p2.5", "p16", "p50", "p84", "p97.5")):
                record[f"{name}_{label}"] = float(q[k, j])
            if name in prediction.errors:
                record[f"{name}_stat"] = prediction.errors[name]["statistical"]
                record[f"{name}_sys"] = prediction.errors[name]["systematic"]
            if name in prediction.limits:
                record[f"{name}_limit"] = prediction.limits[name]
        for p in params:
            record[f"{p}_lit"] = float(row[p])
            record[f"{p}_lit_err"] = float(row[f"{p}_err"] or "nan")
        record["in_range"] = bool(low <= float(row["teff"]) <= high)
        record["chi2_red"] = prediction.chi2_red
        record.update(prediction.scores)
        record["baseline_lookup_teff"] = spectral_type_teff(row.get("spt", ""))
        fit = chi2_grid_fit(prediction.observed, prediction.uncertainty,
                            grids.on(prediction.wavelength))
        for p in params:
            record[f"baseline_chi2_{p}"] = fit.get(p, float("nan"))
        record["flag"] = prediction.flag
        record["note"] = prediction.note
        records.append(record)

    def block(subset: list[dict]) -> dict[str, dict[str, float]]:
        def column(key: str) -> np.ndarray:
            return np.array([r[key] for r in subset], dtype=np.float64)

        return {p: _metrics(column(f"{p}_p50"), column(f"{p}_lit"),
                            (column(f"{p}_p84") - column(f"{p}_p16")) / 2,
                            column(f"{p}_lit_err"),
                            (column(f"{p}_p97.5") - column(f"{p}_p2.5")) / 2) for p in params}

    inside = [r for r in records if r["in_range"]]
    classes = sorted({spectral_class(r["spt"]) for r in records} - {""})
    scales = sorted({r["scale"] for r in records})
    return {
        "model": str(predictor.path),
        "scale": scales[0] if len(scales) == 1 else scales,
        "baselines": baseline_block(inside, params),
        "baselines_subset": "in_range",
        "objects_table": str(table),
        "n": len(records),
        "n_in_range": len(inside),
        "teff_range": [low, high],
        "in_range": block(inside),
        "in_range_unflagged": block([r for r in inside if not r["flag"]]),
        "in_range_flagged": block([r for r in inside if r["flag"]]),
        "all": block(records),
        "by_class": {c: block([r for r in inside if spectral_class(r["spt"]) == c])
                     for c in classes},
        "flagged": [r["name"] for r in records if r["flag"]],
        "missed": [r["name"] for r in records if not r["in_range"] and not r["flag"]],
        "failed": failed,
        "objects": records,
    }
