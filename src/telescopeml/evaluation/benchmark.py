"""Accuracy on real spectra: predictions against literature parameters of known objects."""

from __future__ import annotations

import csv
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from telescopeml.data.library import find_entry, library_file, spectral_class
from telescopeml.data.spectrum import ObservedSpectrum
from telescopeml.errors import DataError, OutOfGridError
from telescopeml.predict import Prediction, Predictor

REQUIRED = ("name", "data_file", "teff", "teff_err", "logg", "logg_err")


def read_objects(path: str | Path) -> list[dict[str, str]]:
    """Rows of an objects table; checks the required columns."""
    path = Path(path)
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            rows = list(csv.DictReader(fh))
    except OSError as exc:
        raise DataError(f"cannot read the objects table ({exc.strerror})", path) from None
    if not rows:
        raise DataError("the objects table is empty", path)
    missing = [c for c in REQUIRED if c not in rows[0]]
    if missing:
        raise DataError(f"missing columns {', '.join(missing)} (need {', '.join(REQUIRED)})",
                        path)
    return rows


def load_object_spectrum(row: dict[str, str], table: Path) -> ObservedSpectrum:
    """The spectrum of one object: a file path (relative to the table) or a library file."""
    ref = row["data_file"].strip() or row["name"]
    candidate = (table.parent / ref) if not Path(ref).is_absolute() else Path(ref)
    if candidate.is_file():
        spectrum = ObservedSpectrum.read(candidate)
    else:
        entry = find_entry(ref, quiet=True)
        spectrum = ObservedSpectrum.read(library_file(entry, quiet=True))
    spectrum.name = row["name"]
    return spectrum


def _metrics(pred: np.ndarray, truth: np.ndarray, width: np.ndarray,
             truth_err: np.ndarray) -> dict[str, float]:
    """RMSE, MAE, bias, and how honest the error bars are: ``consistent``, the fraction of
    objects whose |prediction - literature| is within the posterior's half 16-84% width and
    the literature error added in quadrature (68% if both are right), and
    ``median_half_width`` of the posteriors."""
    if pred.size == 0:
        return dict.fromkeys(("rmse", "mae", "bias", "consistent", "median_half_width"),
                             float("nan"))
    err = pred - truth
    combined = np.sqrt(width**2 + np.nan_to_num(truth_err) ** 2)
    return {"rmse": float(np.sqrt(np.mean(err**2))), "mae": float(np.mean(np.abs(err))),
            "bias": float(np.mean(err)), "consistent": float(np.mean(np.abs(err) <= combined)),
            "median_half_width": float(np.median(width))}


def run_benchmark(predictor: Predictor, objects: str | Path, n_samples: int = 2000,
                  progress: bool = True) -> dict[str, Any]:
    """Predict every object and compare with its literature Teff and log g.

    Returns the JSON of ``telescopeml benchmark --json``: ``model``, ``n``, ``n_in_range``,
    ``in_range`` / ``all`` {param: {rmse, mae, bias, consistent, median_half_width}}
    (:func:`_metrics`), ``by_class`` {M/L/T: same},
    ``flagged`` (names flagged out of range or unreliable), ``missed`` (objects outside the
    model's Teff range that were not flagged), ``failed`` and ``objects``.
    """
    from tqdm.auto import tqdm

    table = Path(objects)
    rows = read_objects(table)
    params = [p for p in ("teff", "logg") if p in predictor.names]
    low, high = predictor.ranges.get("teff", (-np.inf, np.inf))
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
        q = prediction.quantiles((16, 50, 84))
        record: dict[str, Any] = {"name": row["name"], "spt": row.get("spt", "")}
        for j, name in enumerate(prediction.names):
            record[f"{name}_p50"], record[f"{name}_p16"], record[f"{name}_p84"] = (
                float(q[1, j]), float(q[0, j]), float(q[2, j]))
        for p in params:
            record[f"{p}_lit"] = float(row[p])
            record[f"{p}_lit_err"] = float(row[f"{p}_err"] or "nan")
        record["in_range"] = bool(low <= float(row["teff"]) <= high)
        record["chi2_red"] = prediction.chi2_red
        record["flag"] = prediction.flag
        record["note"] = prediction.note
        records.append(record)

    def block(subset: list[dict]) -> dict[str, dict[str, float]]:
        def column(key: str) -> np.ndarray:
            return np.array([r[key] for r in subset], dtype=np.float64)

        return {p: _metrics(column(f"{p}_p50"), column(f"{p}_lit"),
                            (column(f"{p}_p84") - column(f"{p}_p16")) / 2,
                            column(f"{p}_lit_err")) for p in params}

    inside = [r for r in records if r["in_range"]]
    classes = sorted({spectral_class(r["spt"]) for r in records} - {""})
    return {
        "model": str(predictor.path),
        "objects_table": str(table),
        "n": len(records),
        "n_in_range": len(inside),
        "teff_range": [low, high],
        "in_range": block(inside),
        "in_range_unflagged": block([r for r in inside if not r["flag"]]),
        "all": block(records),
        "by_class": {c: block([r for r in inside if spectral_class(r["spt"]) == c])
                     for c in classes},
        "flagged": [r["name"] for r in records if r["flag"]],
        "missed": [r["name"] for r in records if not r["in_range"] and not r["flag"]],
        "failed": failed,
        "objects": records,
    }
