"""Long jobs name each stage as it starts and say how long it took (issue 27, item 1)."""

from __future__ import annotations

import time

from telescopeml.progress import record_stages, stage, stage_summary


def test_stage_names_itself_on_stderr_and_records_nested_durations(capsys):
    with record_stages() as stages:
        with stage("training the network"):
            with stage("sampling posteriors for calibration"):
                time.sleep(0.02)
        with stage("writing the report", show=False):
            pass
    err = capsys.readouterr().err
    assert err.splitlines() == ["training the network ...",
                                "sampling posteriors for calibration ..."]
    assert [(s.what, s.depth) for s in stages] == [
        ("training the network", 0), ("sampling posteriors for calibration", 1),
        ("writing the report", 0)]
    assert stages[0].seconds >= stages[1].seconds >= 0.02
    summary = stage_summary(stages, total=75.0).splitlines()
    assert summary[0] == "time per stage:"
    assert summary[2].endswith("    sampling posteriors for calibration")  # indented under
    assert summary[-1] == "   1 min 15 s  in all"
    assert stage_summary([], total=239.7).splitlines()[-1].split() == ["4", "min", "00", "s",
                                                                        "in", "all"]


def test_stages_outside_a_record_are_only_shown(capsys):
    with stage("fetching the grid"):
        pass
    with record_stages() as stages:
        pass
    assert capsys.readouterr().err == "fetching the grid ...\n"
    assert stages == []
