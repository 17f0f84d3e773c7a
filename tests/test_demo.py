"""The demo: the README's main job, end to end on the real default grid (network)."""

from __future__ import annotations

import io
import json
import sys

import pytest

from telescopeml.cli import main
from telescopeml.demo import DEMO_OBJECTS


class _Tee(io.StringIO):
    """stderr kept for the assertions and passed on, so ``pytest -s`` shows the demo's
    progress while it runs instead of minutes of silence."""

    def write(self, text: str) -> int:
        sys.__stderr__.write(text)
        sys.__stderr__.flush()
        return super().write(text)

    def fileno(self) -> int:  # pip's download runs in a subprocess that writes here
        return sys.__stderr__.fileno()


@pytest.mark.network
@pytest.mark.slow
def test_demo_end_to_end(tmp_path, capsys, monkeypatch):
    """Fetch, train (2 epochs), evaluate, predict three real brown dwarfs, write the report;
    every long stage names itself as it starts and the demo ends with each stage's time."""
    err = _Tee()
    monkeypatch.setattr(sys, "stderr", err)
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--epochs", "2"]) == 0
    printed, progress = capsys.readouterr().out, err.getvalue()
    for name in DEMO_OBJECTS:
        assert name[:28] in printed
        assert f"predicting {name} " in progress
    for what in ("loading the grid", "training hybrid", "epoch", "recalibrating the posterior",
                 "calibration: sampling 500 posterior draws", "baselines: fitting a random",
                 "exploring the grid", "writing the report"):
        assert what in progress
    summary = printed[printed.index("time per stage:"):].splitlines()
    assert any("calibration: sampling" in line for line in summary)
    assert summary[-2].strip().endswith("in all") and summary[-1].startswith("report: ")
    run = out / "model"
    predictions = sorted((run / "predictions").glob("*.json"))
    assert len(predictions) == 3
    record = json.loads(predictions[0].read_text())
    assert set(record["parameters"]) == {"teff", "logg", "mh", "inv_fsed"}
    html = (run / "report.html").read_text()
    assert "data:image/png;base64" in html and "http://" not in html
    assert (run / "calibration.json").is_file()


def test_demo_table_shows_a_limit_as_a_limit():
    """The table and the report agree: log g piling at the grid's edge is "> 5.37", not
    "5.50 ±0.01" (issue 27, item 7)."""
    import numpy as np

    from telescopeml.demo import demo_table
    from telescopeml.prediction import Prediction

    rng = np.random.default_rng(0)
    samples = np.column_stack([rng.normal(1500, 10, 400), 5.5 - rng.exponential(0.02, 400)])
    wave = np.linspace(1, 2, 5)
    prediction = Prediction("2MASS J22244381-0158521", ["teff", "logg"], samples, wave, wave,
                            wave, chi2_red=1.5, limits={"logg": "> 5.371"})
    table = demo_table([(prediction, None)]).splitlines()
    row = table[1]
    assert "> 5.37" in row and "±" not in row and " +10/-10 " in row
    # each column says its scale: the model's values and the literature's (issue 27, item 5)
    assert table[2].startswith("Teff and log g: atmosphere-grid parameters")
    assert table[3].startswith("literature (") and "empirical scale" in table[3]
