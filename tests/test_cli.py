"""The command line's shape: how a grid is given, old option spellings, the exit codes."""

from __future__ import annotations

import subprocess
import sys

import pytest

from telescopeml.cli import build_parser
from telescopeml.cli.common import grid_of
from telescopeml.errors import DataError


@pytest.mark.parametrize("argv", [
    ["explore", "g", "--out", "x"], ["explore", "--grid", "g", "--out", "x"],
    ["train", "g", "--out", "x"], ["train", "--grid", "g", "--out", "x"],
    ["tune", "g", "--out", "x"], ["tune", "--grid", "g", "--out", "x"],
])
def test_a_grid_is_given_as_argument_or_option(argv):
    assert grid_of(build_parser().parse_args(argv)) == "g"


def test_two_grids_or_none_where_one_is_needed_are_refused():
    parser = build_parser()
    with pytest.raises(DataError, match="two grids"):
        grid_of(parser.parse_args(["explore", "g", "--grid", "h", "--out", "x"]))
    with pytest.raises(DataError, match="give a grid"):
        grid_of(parser.parse_args(["explore", "--out", "x"]), required=True)
    assert grid_of(parser.parse_args(["train", "--out", "x"])) is None


def test_old_spellings_still_parse_and_stay_out_of_the_help():
    parser = build_parser()
    args = parser.parse_args(["benchmark", "m", "--objects", "o.csv", "--plot", "b.png"])
    assert args.plots == "b.png"
    help_text = parser._subparsers._group_actions[0].choices["benchmark"].format_help()
    assert "--plots" in help_text and "--plot " not in help_text


def test_help_documents_the_exit_codes_and_imports_nothing_heavy():
    code = ("import sys; from telescopeml.cli import build_parser; "
            "print(build_parser().format_help()); "
            "print(sorted(m for m in ('torch', 'matplotlib', 'optuna') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    for line in ("0    success", "1    some inputs failed", "2    usage or data error"):
        assert line in out
    assert out.strip().endswith("[]")


def test_what_is_not_a_spectrum_file_is_named_for_what_it_is(tmp_path, capsys, monkeypatch):
    """A folder, a symbolic-link loop, a model folder without its manifest: each said for
    what it is, never "no such file", and a model folder is never replaced by the shipped
    models."""
    from telescopeml.cli import main
    from telescopeml.data.spectrum import ObservedSpectrum
    from telescopeml.inference import request

    folder = tmp_path / "spectra"
    folder.mkdir()
    loop = tmp_path / "loop.fits"
    loop.symlink_to(loop)
    with pytest.raises(DataError, match="spectra: is a folder, not a spectrum file"):
        ObservedSpectrum.read(folder)
    with pytest.raises(DataError, match=r"loop.fits: cannot be reached \(Too many levels"):
        ObservedSpectrum.read(loop)
    model = tmp_path / "model"
    model.mkdir()
    (model / "model.safetensors").write_bytes(b"")
    called = []
    monkeypatch.setattr(request, "predict", lambda *a, **k: called.append(a))
    assert main(["-q", "predict", str(model), "x.fits"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "model: a folder without manifest.json" in err
    assert not called  # nothing was predicted, with the shipped models or any other


def test_a_file_that_does_not_exist_fails_before_any_model_or_bar(tmp_path, capsys,
                                                                  monkeypatch):
    """No "predicting: 100% 1/1" bar, no model loaded: one line naming the file
    (issue 27, item 7); a missing name without a folder or suffix may be a library name."""
    from telescopeml.cli import main
    from telescopeml.data.checks import missing_file
    from telescopeml.inference import request

    called = []
    monkeypatch.setattr(request, "predict", lambda *a, **k: called.append(a))
    missing = tmp_path / "nowhere.fits"
    assert main(["predict", str(missing)]) == 2
    err = capsys.readouterr().err
    assert err == f"telescopeml: error: {missing}: no such file; nothing was predicted\n"
    assert not called
    assert missing_file("nowhere.csv") and missing_file(missing)
    assert not missing_file("2MASS J15031961+2525196") and not missing_file(tmp_path)
    assert not missing_file("JWST-NIRSPEC-PRISM_Wolf1130C_Burgasser2025.csv")


@pytest.mark.parametrize("variable", ["TELESCOPEML_CACHE", "--cache-dir"])
def test_a_cache_that_is_a_file_is_one_clear_line(tmp_path, capsys, monkeypatch, variable):
    from telescopeml.cli import main

    a_file = tmp_path / "cache"
    a_file.write_text("not a folder")
    if variable == "TELESCOPEML_CACHE":
        monkeypatch.setenv("TELESCOPEML_CACHE", str(a_file))
        argv = ["-q", "data", "spectra"]
    else:
        argv = ["--cache-dir", str(a_file), "-q", "data", "spectra"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"telescopeml: error: {a_file}: the cache directory ({variable}) "
                          "is a file") and "File exists" not in err


def test_sigterm_ends_a_command_as_an_interrupt_does(monkeypatch, capsys):
    import os
    import signal
    import time

    from telescopeml.cli import data, main

    def long_stage(args):
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)  # interrupted long before this ends
        return 0

    monkeypatch.setattr(data, "_list", long_stage)
    start = time.perf_counter()
    assert main(["data", "list"]) == 130
    assert time.perf_counter() - start < 4
    assert capsys.readouterr().err == "telescopeml: interrupted (SIGTERM)\n"
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL  # given back


@pytest.mark.parametrize("argv", [
    ["predict", "x.txt", "--samples", "1000000000"],
    ["benchmark", "shipped", "--objects", "o.csv", "--samples", "2000000"],
])
def test_sample_counts_no_one_can_mean_are_usage_errors(argv, capsys):
    """Refused in one line before any work (a billion samples would fill the memory)."""
    from telescopeml.cli import main

    with pytest.raises(SystemExit) as caught:
        main(["-q", *argv])
    assert caught.value.code == 2
    err = capsys.readouterr().err
    assert "at most 1,000,000 samples per spectrum" in err and "Traceback" not in err
