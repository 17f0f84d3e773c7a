"""The demo: the README's main job, end to end on the real default grid (network)."""

from __future__ import annotations

import json

import pytest

from telescopeml.cli import main
from telescopeml.demo import DEMO_OBJECTS


@pytest.mark.network
@pytest.mark.slow
def test_demo_end_to_end(tmp_path, capsys):
    """Fetch, train (2 epochs), evaluate, predict three real brown dwarfs, write the report."""
    out = tmp_path / "demo"
    assert main(["-q", "demo", "--out", str(out), "--epochs", "2"]) == 0
    printed = capsys.readouterr().out
    for name in DEMO_OBJECTS:
        assert name[:28] in printed
    run = out / "model"
    predictions = sorted((run / "predictions").glob("*.json"))
    assert len(predictions) == 3
    record = json.loads(predictions[0].read_text())
    assert set(record["parameters"]) == {"teff", "logg", "mh", "inv_fsed"}
    html = (run / "report.html").read_text()
    assert "data:image/png;base64" in html and "http://" not in html
    assert (run / "calibration.json").is_file()
