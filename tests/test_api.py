"""The top-level API: ``telescopeml.predict`` answers as ``telescopeml predict`` does, every
predictor has one interface, and ``import telescopeml`` imports nothing it does not need."""

from __future__ import annotations

import csv
import subprocess
import sys

import numpy as np
import pytest

import telescopeml
from conftest import export_toy_model, make_toy_grid
from telescopeml.cli import main
from telescopeml.data.spectrum import ObservedSpectrum
from telescopeml.errors import DataError
from telescopeml.inference.protocol import SpectrumPredictor
from telescopeml.inference.request import Predictions, resolve, samples_for


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    """A tiny exported model and two spectra of its grid (text files)."""
    grid = make_toy_grid()
    wavelength = grid.wavelength
    root = tmp_path_factory.mktemp("api")
    model = export_toy_model(grid, root, "toy", {"architecture": "mlp", "dense": [32],
                                                 "dropout": 0.0}, epochs=3)
    rng = np.random.default_rng(0)
    files = []
    for name, index in (("a", 17), ("b", 20)):
        spectrum = 1e-20 * grid.flux[index]
        sigma = spectrum / 50
        noisy = spectrum + rng.standard_normal(spectrum.size) * sigma
        path = root / f"{name}.txt"
        path.write_text("\n".join(f"{w:.8e} {f:.8e} {s:.8e}"
                                  for w, f, s in zip(wavelength, noisy, sigma, strict=True)))
        files.append(path)
    return model, files


def rows(path) -> list[dict[str, str]]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def test_predict_gives_the_cli_table(toy, tmp_path):
    """The same request through the CLI and through ``telescopeml.predict`` gives the same
    table, number for number (the CLI's form ``predict MODEL FILE...`` included)."""
    model, files = toy
    bad = tmp_path / "bad.txt"
    bad.write_text("1 nan\n2 nan\n")
    out = tmp_path / "cli.csv"
    assert main(["-q", "predict", str(model), *map(str, files), str(bad), "--samples", "400",
                 "--distance", "10", "--out", str(out)]) == 1
    result = telescopeml.predict([str(model), *files, bad], n_samples=400, distance=10.0,
                                 quiet=True)
    assert isinstance(result, Predictions)
    assert len(result) == 2 and len(result.failed) == 1 and "bad.txt" in result.failed[0][0]
    assert result[0].sampling["method"] != "network"  # the grid's posterior by default
    assert np.isfinite(result[0].median["teff"])
    mine = result.write(tmp_path / "api.csv")
    assert rows(mine) == rows(out)
    # the model as an argument, one file, the network's answer alone
    fast = telescopeml.predict(files[0], model, fast=True, n_samples=300, quiet=True)
    assert len(fast) == 1 and not fast.failed
    assert fast[0].sampling["method"] == "network"
    out_fast = tmp_path / "fast.csv"
    assert main(["-q", "predict", str(files[0]), "--model", str(model), "--fast", "--samples",
                 "300", "--out", str(out_fast)]) == 0
    assert rows(fast.write(tmp_path / "api_fast.csv")) == rows(out_fast)


def test_a_predictor_and_spectra_objects_are_accepted(toy):
    model, files = toy
    predictor = telescopeml.Predictor(model)
    spectrum = ObservedSpectrum.read(files[0], flux_unit="erg / (s cm2 um)")
    result = telescopeml.predict([spectrum], predictor, n_samples=200, quiet=True)
    assert result[0].median["teff"] == pytest.approx(
        predictor.predict(spectrum, n_samples=200).median["teff"], rel=1e-9)


def test_failures_are_returned_and_nothing_asked_is_an_error(toy, tmp_path):
    model, _ = toy
    result = telescopeml.predict(tmp_path / "missing.txt", model, quiet=True)
    assert len(result) == 0 and "missing.txt" in repr(result.failed)
    assert "1 failed" in repr(result)
    with pytest.raises(IndexError, match=r"missing\.txt"):
        result[0]
    with pytest.raises(DataError, match="give spectrum files"):
        telescopeml.predict([], model)


def test_a_request_reads_a_model_first_targets_and_distances(toy, tmp_path):
    model, files = toy
    table = tmp_path / "targets.csv"
    table.write_text(f"file,distance_pc,distance_err_pc\n{files[0]},5,0.1\n{files[1]},,\n")
    request = resolve([str(model), str(files[0])], distance=(12.0, 0.5), targets=table)
    assert request.model == str(model)
    assert request.inputs == [str(files[0]), str(files[0]), str(files[1])]
    assert request.distances == [(12.0, 0.5), (5.0, 0.1), (12.0, 0.5)]
    plain = resolve(files[0], distance=7)
    assert plain.model is None and plain.distances == [(7.0, 0.0)]
    assert samples_for(5) == 10000 and samples_for(6) == 2000 and samples_for(6, 3) == 3
    with pytest.raises(DataError, match="n_samples must be 1 to 1,000,000"):
        samples_for(1, 10**9)
    # a folder that is no bundle is refused, not read past to the shipped models
    with pytest.raises(DataError, match=r"a folder without manifest\.json"):
        resolve([str(tmp_path), str(files[0])])


def test_every_predictor_has_the_protocol():
    from telescopeml import pretrained

    for predictor in (pretrained.ModelChooser(), pretrained.EmpiricalPredictor()):
        assert isinstance(predictor, SpectrumPredictor), type(predictor).__name__
        assert "teff" in predictor.grid_ranges and "teff" in predictor.ranges


def test_a_single_model_has_the_protocol(toy):
    model, _ = toy
    predictor = telescopeml.Predictor(model)
    assert isinstance(predictor, SpectrumPredictor)
    assert predictor.grid_ranges == predictor.ranges


def test_import_is_lazy_and_predict_is_callable_in_any_order():
    """``import telescopeml`` loads neither PyTorch nor the inference code; the name
    ``telescopeml.predict`` is callable whichever import came first."""
    code = ("import sys, telescopeml; "
            "print(' '.join(sorted(m for m in sys.modules if m.startswith('telescopeml.') "
            "or m in ('torch', 'numpy', 'astropy')))); "
            "from telescopeml.predict import Predictor; "
            "print(callable(telescopeml.predict), telescopeml.Predictor is Predictor, "
            "telescopeml.predict.Predictor is Predictor)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=120).stdout.split("\n")
    loaded = out[0].split()  # only the base layer's small modules (lazy, version)
    assert not [m for m in loaded if m not in ("telescopeml.lazy", "telescopeml.version")]
    assert out[1] == "True True True"
    code = ("import inspect; from telescopeml import predict; import telescopeml.predict as m; "
            "print(m is predict, callable(predict), list(inspect.signature(predict).parameters)"
            "[:6])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=120).stdout.strip()
    assert out == ("True True ['spectra', 'model', 'scale', 'fast', 'distance', 'n_samples']")


@pytest.mark.network
def test_predict_a_library_object_by_name():
    result = telescopeml.predict("2MASS J15031961+2525196", n_samples=500, quiet=True)
    assert len(result) == 1 and not result.failed
    assert "2MASS J15031961+2525196" in result[0].summary()
