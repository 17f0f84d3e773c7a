"""report.html is one self-contained file: embedded figures, no scripts, no external URLs."""

from __future__ import annotations

import argparse
import base64
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from telescopeml import report
from telescopeml.cli import report as report_command
from telescopeml.errors import DataError

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
NAMES = ["teff", "logg"]


def _metrics(scale: float) -> dict:
    return {k: {"teff": {"rmse": 50 * scale * f, "mae": 40.0, "bias": 1.0, "r2": 0.98},
                "logg": {"rmse": 0.2 * scale * f, "mae": 0.1, "bias": 0.0, "r2": float("nan")}}
            for k, f in (("clean", 1.0), ("10", 1.5), ("30", 1.2), ("100", 1.1))}


@pytest.fixture
def run_dir(tmp_path) -> Path:
    """A synthetic run directory with every optional file of the report's convention."""
    run = tmp_path / "run"
    (run / "predictions").mkdir(parents=True)
    wavelength = np.linspace(0.9, 2.4, 50)
    manifest = {
        "wavelength": wavelength.tolist(), "flux_unit": "erg / (s cm2 um)",
        "parameters": {"names": NAMES, "grid_axes": {"teff": [900.0, 1000.0],
                                                      "logg": [4.0, 5.0]}},
        "grid": {"name": "toy", "citation": "Nobody (2025)", "notes": ["a <note> & more"]},
        "split": {"train": list(range(8)), "val": [8], "test": [9]},
        "training": {"model": {"architecture": "resnet", "head": "point"}, "seconds": 3.0,
                     "best_epoch": 2},
        "environment": {"python": "3.11"},
    }
    (run / "manifest.json").write_text(json.dumps(manifest))
    (run / "history.csv").write_text("epoch,train_loss,val_loss,lr,seconds\n"
                                     "1,0.5,0.6,0.001,1.0\n2,0.3,0.4,0.0005,1.0\n")
    rng = np.random.default_rng(0)
    truth = np.column_stack([rng.choice([900.0, 1000.0], 30), rng.choice([4.0, 5.0], 30)])
    evaluation = {
        "grid": "toy", "n_test": 30, "n_test_interior": 10,
        "snr": _metrics(1.0), "interior": _metrics(0.8), "edge": _metrics(1.3),
        "baselines": {"random_forest": _metrics(1.4)},
        "baselines_interior": {"random_forest": _metrics(1.2)},
        "inference": {"spectra_per_second": 1000.0, "threads": 2},
        "test_predictions": {
            "30": {"truth": truth.tolist(),
                   "predicted": (truth + rng.normal(0, [30, 0.1], truth.shape)).tolist(),
                   "edge": (rng.uniform(size=30) < 0.5).tolist()},
        },
    }
    (run / "evaluation.json").write_text(json.dumps(evaluation))
    levels = np.linspace(0.1, 0.9, 9)
    (run / "calibration.json").write_text(json.dumps(
        {"levels": levels.tolist(), "coverage": {"teff": levels.tolist(),
                                                 "logg": (levels**1.2).tolist()}, "n": 30,
         "tarp": {"alpha": levels.tolist(), "ecp": (levels**0.9).tolist(), "distance": 0.05}}))
    (run / "window_ablation.json").write_text(json.dumps(
        {"grid": "toy", "snr": 30.0, "parameters": NAMES, "windows": {
            label: {"windows": windows, "n_wavelengths": 50 // (1 + len(windows)),
                    "rmse": {"teff": 40.0 * f, "logg": 0.2 * f},
                    "width68": {"teff": 60.0 * f, "logg": 0.3 * f}}
            for label, windows, f in (("all", [], 1.0), ("1-2", [[1.0, 2.0]], 1.5))}}))
    flux = np.exp(-wavelength)
    (run / "predictions" / "dwarf.json").write_text(json.dumps({
        "name": "2MASS J0000+0000",
        "parameters": {"teff": {"median": 950.0, "low": 920.0, "high": 990.0, "level": 0.68},
                       "logg": 4.6},
        "spectrum": {"wavelength": wavelength.tolist(), "flux": (flux * 1.02).tolist(),
                     "uncertainty": (0.02 * flux).tolist(), "flux_unit": ""},
        "best_fit": {"flux": flux.tolist(), "parameters": {"teff": 950.0, "logg": 4.5},
                     "reduced_chi2": 1.3},
        "warnings": ["outside the training range"],
    }))
    return run


def _images(text: str) -> list[str]:
    return re.findall(r"<img [^>]*src=\"([^\"]*)\"", text)


def test_report_embeds_every_figure_and_makes_no_requests(run_dir):
    path = report.write_report(run_dir)
    assert path == run_dir / "report.html"
    text = path.read_text()
    sources = _images(text)
    # loss, metrics, parity, residuals, coverage, TARP, window ablation, one prediction fit
    assert len(sources) == 8
    for src in sources:
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"
    assert not re.search(r"https?://", text)
    assert "<script" not in text.lower() and "<link" not in text.lower()
    for anchor in ("grid", "training", "metrics", "parity", "calibration", "windows",
                   "predictions"):
        assert f'href="#{anchor}"' in text and f'id="{anchor}"' in text
    assert "not in this run" not in text
    assert "a &lt;note&gt; &amp; more" in text
    assert "outside the training range" in text
    assert "T<sub>eff</sub> [K]" in text


def test_contents_list_only_the_sections_the_report_has(tmp_path):
    run = tmp_path / "bare"
    run.mkdir()
    (run / "history.json").write_text(json.dumps(
        [{"epoch": 1, "train_loss": 1.0, "val_loss": 1.1}]))
    text = report.write_report(run, tmp_path / "elsewhere" / "r.html").read_text()
    assert len(_images(text)) == 1
    contents = re.search(r'<ul class="contents">(.*?)</ul>', text)[1]
    assert contents == '<li><a href="#training">Training curves</a></li>'
    assert "not in this run" not in text and "Wavelength windows" not in text
    with pytest.raises(DataError, match="no such run directory"):
        report.write_report(tmp_path / "missing")


def test_explore_figures_in_the_run_are_embedded(run_dir, toy_grid):
    from telescopeml.explore import explore_grid

    explore_grid(toy_grid, run_dir / "explore")
    text = report.write_report(run_dir).read_text()
    assert len(_images(text)) == 8 + 6


def test_report_subcommand(run_dir, capsys):
    parser = argparse.ArgumentParser()
    common = argparse.ArgumentParser(add_help=False)  # as telescopeml.cli builds it
    common.add_argument("-q", "--quiet", action="store_true", default=argparse.SUPPRESS)
    report_command.register(parser.add_subparsers(dest="command"), common)
    args = parser.parse_args(["report", str(run_dir)])
    assert args.func(args) == 0
    assert capsys.readouterr().out.strip() == str(run_dir / "report.html")


def test_report_renders_in_headless_chromium(run_dir, tmp_path):
    driver_path = CHROMEDRIVER if CHROMEDRIVER.exists() else shutil.which("chromedriver")
    if not CHROMIUM.exists() or driver_path is None:
        pytest.skip(f"{CHROMIUM} or its driver is absent: install the Debian packages "
                    "chromium and chromium-driver to run the browser test")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    path = report.write_report(run_dir)
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    profile = tmp_path / "chromium-profile"
    for argument in ("--headless", "--no-sandbox", "--disable-gpu",
                     "--disable-background-networking", "--disable-component-update",
                     "--disable-sync", "--no-first-run", f"--user-data-dir={profile}"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(str(driver_path)), options=options)
    try:
        driver.get(path.as_uri())
        images = driver.find_elements("tag name", "img")
        assert len(images) == 8
        widths = [driver.execute_script("return arguments[0].complete && "
                                        "arguments[0].naturalWidth", img) for img in images]
        assert all(w and w > 0 for w in widths), widths
        errors = [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]
        assert errors == []
    finally:
        driver.quit()


def test_write_report_works_in_a_fresh_interpreter(run_dir):
    """Importing report first (no other telescopeml module loaded) used to fail in a lazy
    import of the figure modules."""
    code = ("from telescopeml.report import write_report; import sys; "
            f"print(write_report({str(run_dir)!r}))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300, check=False, env={**os.environ, "MPLBACKEND": "Agg"})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().endswith("report.html")


def test_title_names_grid_model_and_training_date(run_dir):
    text = report.write_report(run_dir).read_text()
    date = time.strftime("%Y-%m-%d")
    assert f"<h1>telescopeml report: toy resnet/point model, trained {date}</h1>" in text
    assert "telescopeml run:" not in text


def test_loss_caption_says_which_axis_the_figure_has(run_dir):
    assert "loss per epoch (log axis)" in report.write_report(run_dir).read_text()
    (run_dir / "history.csv").write_text("epoch,train_loss,val_loss\n1,-0.5,0.6\n2,-1.3,-0.4\n")
    text = report.write_report(run_dir).read_text()
    assert "(linear axis: some values are zero or negative)" in text
    assert "log axis" not in text


def test_fit_uses_the_records_model_fraction(run_dir):
    assert "σ_tot² = σ_obs² + (5% of the model)²" in report.write_report(run_dir).read_text()
    record = json.loads((run_dir / "predictions" / "dwarf.json").read_text())
    record["best_fit"]["model_fraction"] = 0.1
    (run_dir / "predictions" / "dwarf.json").write_text(json.dumps(record))
    assert "(10% of the model)²" in report.write_report(run_dir).read_text()
    record["best_fit"]["model_fraction"] = 0.0
    (run_dir / "predictions" / "dwarf.json").write_text(json.dumps(record))
    assert "use the observed σ alone" in report.write_report(run_dir).read_text()


def test_known_objects_show_literature_values_and_their_scale(run_dir):
    text = report.write_report(run_dir).read_text()
    assert "literature (68%)" not in text  # 2MASS J0000+0000 is in no table
    record = json.loads((run_dir / "predictions" / "dwarf.json").read_text())
    record |= {"name": "2MASSW J2224438-015852", "scale": "atmosphere grid"}
    (run_dir / "predictions" / "dwarf.json").write_text(json.dumps(record))
    text = report.write_report(run_dir).read_text()
    assert "<h3>2MASSW J2224438-015852</h3>" in text
    assert "literature (68%)" in text and "1646 ± 71 K" in text and "5.18 ± 0.22" in text
    assert "listed as 2MASS J22244381-0158521" in text and "Filippazzo et al. 2015" in text
    assert "(the empirical scale)" in text and "atmosphere grid scale" in text


def test_predictions_show_the_model_sensible_digits_and_limits(run_dir):
    """The run's own model by name (not "model: run"), values at the registry's display
    precision, limits as limits (issue 27, item 7)."""
    record = json.loads((run_dir / "predictions" / "dwarf.json").read_text())
    record |= {"scale": "atmosphere grid", "model": run_dir.name, "parameters": {
        "teff": {"median": 1465.87, "low": 1459.4, "high": 1472.71, "level": 0.68,
                 "unit": "K", "limit": ""},
        "mh": {"median": -0.0107, "low": -0.0899, "high": -0.00501, "level": 0.68,
               "unit": "dex", "limit": ""},
        "logg": {"median": 5.45, "low": 5.371, "high": 5.49, "level": 0.68, "unit": "dex",
                 "limit": "> 5.371"},
        "inv_fsed": {"median": 0.002, "low": 0.0006, "high": 0.0058, "level": 0.68,
                     "unit": "", "limit": "< 0.008794"}}}
    (run_dir / "predictions" / "dwarf.json").write_text(json.dumps(record))
    text = report.write_report(run_dir).read_text()
    assert "model: this run&#x27;s toy resnet/point model, trained" in text
    cells = re.findall(r"<td[^>]*>([^<]*)</td>", text)
    assert ["1466 K", "[1459, 1473] (68%)"] == cells[cells.index("1466 K"):][:2]
    assert ["-0.01 dex", "[-0.09, -0.01] (68%)"] == cells[cells.index("-0.01 dex"):][:2]
    # a limit rounds outwards, so it stays true, and shows no median or interval
    note = "a limit, not a measurement: the posterior piles at the grid&#x27;s edge"
    assert ["&gt; 5.37 dex", note] == cells[cells.index("&gt; 5.37 dex"):][:2]
    assert ["&lt; 0.01", note] == cells[cells.index("&lt; 0.01"):][:2]
    assert "0.0107" not in text and "5.45" not in text
    record["model"] = "spex-dback24"  # a shipped model keeps its name
    (run_dir / "predictions" / "dwarf.json").write_text(json.dumps(record))
    assert "model: spex-dback24</p>" in report.write_report(run_dir).read_text()
