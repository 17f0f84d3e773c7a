"""Shipped models: compact grid and float16 weights, choosing the model that covers an object,
`predict FILE` with no model, and the real shipped models (sizes, provenance, retraining)."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys

import astropy.units as u
import numpy as np
import pytest
from astropy.io import fits

from conftest import analytic_log_flux, export_toy_model
from telescopeml import pretrained
from telescopeml.bundle import load_bundle, read_manifest
from telescopeml.cli import main
from telescopeml.data import compact
from telescopeml.data.grid import SpectralGrid
from telescopeml.errors import DataError, UnknownNameError
from telescopeml.models.numpy_model import TESTED_ZUKO
from telescopeml.predict import Predictor
from telescopeml.training.experiment import ExperimentConfig, train
from telescopeml.vocabulary import SCALE_GRID
from test_predict import write_spectrum

TOY_TEFF = {"cold": [500.0, 600.0, 700.0, 800.0, 900.0],
            "warm": [900.0, 1000.0, 1100.0, 1200.0, 1300.0]}


def toy(name: str) -> SpectralGrid:
    teff, logg, mh = np.meshgrid(TOY_TEFF[name], [4.0, 4.5, 5.0], [-0.5, 0.0, 0.5],
                                 indexing="ij")
    wavelength = np.linspace(0.9, 2.4, 60)
    flux = np.exp(analytic_log_flux(teff.ravel(), logg.ravel(), mh.ravel(), wavelength))
    return SpectralGrid({"teff": teff.ravel(), "logg": logg.ravel(), "mh": mh.ravel()},
                        wavelength, flux, flux_unit="erg / (s cm2 um)",
                        meta={"name": f"toy-{name}", "source": "tests"})


@pytest.fixture(scope="module")
def shipped(tmp_path_factory):
    """Two exported toy models (cold and warm) in a directory laid out like the package's."""
    root = tmp_path_factory.mktemp("shipped")
    for name in TOY_TEFF:
        export_toy_model(toy(name), root, name, {"architecture": "mlp", "dense": [64],
                                                 "dropout": 0.0}, epochs=8,
                         augment={"n_interpolated": 256}, command=f"build {name}")
    return root


@pytest.fixture
def use_shipped(shipped, monkeypatch):
    monkeypatch.setattr(pretrained, "models_dir", lambda: shipped / "models")
    return shipped


def test_compact_grid_round_trip(tmp_path):
    grid = toy("warm")
    path = compact.write_compact_grid(grid, tmp_path / "g.safetensors")
    back = compact.read_compact_grid(path)
    np.testing.assert_allclose(back.flux_array(), grid.flux_array(), rtol=1e-3)
    assert back.params.keys() == grid.params.keys()
    np.testing.assert_array_equal(back.params["teff"], grid.params["teff"])
    assert back.flux_unit == grid.flux_unit and back.meta["name"] == "toy-warm"
    assert path.stat().st_size < 0.6 * grid.flux_array().nbytes + 8000  # float16
    fortran = grid.with_flux(np.asfortranarray(grid.flux_array()))  # as resample() makes
    back = compact.read_compact_grid(compact.write_compact_grid(fortran, tmp_path / "f"))
    np.testing.assert_allclose(back.flux_array(), grid.flux_array(), rtol=1e-3)
    deep = grid.with_flux(grid.flux_array() * np.where(np.arange(60) == 3, 1e-6, 1.0))
    back = compact.read_compact_grid(compact.write_compact_grid(deep, tmp_path / "d"))
    np.testing.assert_allclose(back.flux_array(), deep.flux_array(), rtol=1e-6)  # float32
    bad = grid.with_flux(np.where(np.arange(60) == 3, 0.0, grid.flux_array()))
    with pytest.raises(DataError, match="non-positive"):
        compact.write_compact_grid(bad, tmp_path / "bad.safetensors")
    (tmp_path / "junk.safetensors").write_bytes(b"not a file")
    with pytest.raises(DataError, match=r"junk\.safetensors: unreadable shipped grid"):
        compact.read_compact_grid(tmp_path / "junk.safetensors")


def test_export_halves_weights_and_keeps_predictions(shipped, tmp_path):
    run, out = shipped / "runs" / "warm", shipped / "models" / "warm"
    assert (out / "model.safetensors").stat().st_size < 0.6 * (
        run / "model.safetensors").stat().st_size
    manifest = read_manifest(out)
    assert manifest["weights"]["dtype"] == "float16" and manifest["command"] == "build warm"
    spectrum = write_spectrum(tmp_path / "s.txt", toy("warm"), 20)
    full = Predictor(run).predict(spectrum, n_samples=2000).median
    half = Predictor(out, grid=compact.read_compact_grid(out / pretrained.GRID_FILE))
    assert half.predict(spectrum, n_samples=2000).median["teff"] == pytest.approx(
        full["teff"], abs=2.0)
    assert next(load_bundle(out).model.parameters()).dtype.is_floating_point


def test_chooser_picks_the_model_that_covers_the_object(use_shipped, tmp_path):
    assert list(pretrained.available()) == ["cold", "warm"]  # coldest first
    chooser = pretrained.ModelChooser()
    assert chooser.ranges["teff"] == (500.0, 1300.0)
    for name, index, teff in (("cold", 22, 700.0), ("warm", 31, 1200.0)):
        grid = toy(name)
        assert grid.params["teff"][index] == teff
        choice = chooser.choose(write_spectrum(tmp_path / f"{name}.txt", grid, index))
        assert choice.model == name, choice.tried
        assert abs(choice.prediction.median["teff"] - teff) < 100
        assert not choice.prediction.flags
        assert f"shipped {name}" in choice.prediction.note
        assert set(choice.tried) == set(TOY_TEFF) - {name}
        # the grid's posterior costs as much for few samples: every candidate draws them all
        assert {len(r.samples) for r in choice.results.values()} == {10000}
        # with --fast the candidates are compared on a few samples; only the chosen one
        # draws them all
        fast = pretrained.ModelChooser(fast=True).choose(tmp_path / f"{name}.txt")
        assert fast.model == name and len(fast.prediction.samples) == 10000
        assert {len(r.samples) for n, r in fast.results.items() if n != name} == {
            pretrained.SCREEN_SAMPLES}


def test_chooser_says_when_no_model_covers(use_shipped, tmp_path):
    flat = tmp_path / "flat.txt"  # a spectrum unlike any toy model: rising with wavelength
    wave = np.linspace(0.85, 2.45, 80)
    flat.write_text("\n".join(f"{w:.5f} {w**3:.5e} {0.01 * w**3:.5e}" for w in wave))
    choice = pretrained.ModelChooser().choose(flat, n_samples=500)
    assert "none of the shipped models covers this object" in choice.prediction.flags[0]


def test_cli_predict_without_a_model_uses_the_shipped_ones(use_shipped, tmp_path, capsys):
    spectrum = tmp_path / "cold.txt"
    write_spectrum(spectrum, toy("cold"), 22)
    out = tmp_path / "t.csv"
    assert main(["-q", "predict", str(spectrum), "--samples", "500", "--out", str(out)]) == 0
    text = out.read_text()
    assert "shipped cold" in text
    assert main(["-q", "predict", "--model", "warm", str(spectrum), "--samples", "500"]) == 0
    assert "teff" in capsys.readouterr().out
    with pytest.raises(UnknownNameError, match="unknown shipped model 'nope'; valid: cold"):
        pretrained.model_path("nope")


# --- the models shipped in the package ------------------------------------------------------
SHIPPED = ("atmo20pp-spex", "dback24-spex")
SHIPPED_JWST = ("atmo20pp-prism", "dback24-prism", "atmo20pp-3to5um")


def test_shipped_models_are_small_and_say_how_they_were_made():
    found = pretrained.available()
    assert sorted(found) == sorted(SHIPPED + SHIPPED_JWST)
    for name, manifest in found.items():
        directory = pretrained.model_path(name)
        size = sum(f.stat().st_size for f in directory.iterdir())
        assert size < 5e6, (name, size)
        assert manifest["command"] == f"python scripts/build_pretrained.py --only {name}"
        zuko_release = ".".join(manifest["environment"]["zuko"].split(".")[:2])
        assert zuko_release in TESTED_ZUKO and manifest["environment"]["torch"]
        assert manifest["metrics"]["snr"]["30"]["teff"]["rmse"] < 60
        load_bundle(directory)  # checksum and config
    for models in (SHIPPED, SHIPPED_JWST[:2]):
        cold, warm = (found[n]["parameters"]["ranges"]["teff"] for n in models)
        assert cold[0] < 500 and cold[1] >= warm[0] and warm[1] >= 2000
    for name in SHIPPED_JWST:
        assert found[name]["grid"]["instrument"] == "JWST-NIRSPEC-PRISM"
        assert found[name]["wavelength"][0] >= 0.8 and found[name]["wavelength"][-1] <= 5.3


def prism_spectrum(path, teff: float, logg: float, mh: float, snr: float = 40.0):
    """A noisy node of the shipped ATMO 2020++ PRISM grid as a 3-column text file."""
    grid = compact.read_compact_grid(pretrained.model_path("atmo20pp-prism") /
                                        pretrained.GRID_FILE)
    index = int(np.flatnonzero((grid.params["teff"] == teff) & (grid.params["logg"] == logg)
                               & (grid.params["mh"] == mh))[0])
    flux = grid.flux_array()[index].astype(np.float64)
    sigma = flux / snr + 1e-3 * np.median(flux)
    noisy = flux + np.random.default_rng(5).normal(0, 1, flux.size) * sigma
    path.write_text("\n".join(f"{w:.6f} {f:.6e} {s:.6e}" for w, f, s in
                              zip(grid.wavelength, noisy, sigma, strict=True)))
    return path


def test_a_jwst_prism_spectrum_goes_to_the_prism_models(tmp_path):
    """With no model given, a PRISM spectrum is read by the PRISM models only, its answer
    is on the grid scale and carries the model-mismatch term its manifest records."""
    path = prism_spectrum(tmp_path / "prism.txt", 700.0, 5.0, 0.0)
    default = pretrained.predictor()
    prediction = default.predict(path, n_samples=2000)
    assert prediction.model == "atmo20pp-prism" and prediction.scale == SCALE_GRID
    assert abs(prediction.median["teff"] - 700) < 60
    mismatch = pretrained.load("atmo20pp-prism").manifest["mismatch"]
    assert mismatch["twin"] == "atmo20pp-spex" and mismatch["measured"]["teff"]["n"] >= 20
    assert prediction.errors["teff"]["systematic"] == pytest.approx(
        mismatch["parameters"]["teff"]["68"])
    assert any("empirical scale is learned on SpeX prism" in n for n in prediction.notes)
    assert any(n.startswith("mh: statistical intervals only") for n in prediction.notes)
    choice = pretrained.ModelChooser().choose(path, n_samples=500)
    assert set(choice.results) <= set(SHIPPED_JWST)  # the SpeX models were not run


def test_a_g395h_spectrum_is_smoothed_and_read_by_the_3_to_5_micron_model(tmp_path):
    """A sharp 2.88-5.2 µm spectrum (NIRSpec G395H-like) is read only by the model of that
    range, after smoothing to its resolution."""
    grid = compact.read_compact_grid(pretrained.model_path("atmo20pp-3to5um") /
                                        pretrained.GRID_FILE)
    index = int(np.flatnonzero((grid.params["teff"] == 700) & (grid.params["logg"] == 5.0)
                               & (grid.params["mh"] == 0.0))[0])
    wave = np.geomspace(2.88, 5.2, 3400)  # ~R 2700 sampling
    flux = np.interp(wave, grid.wavelength, grid.flux_array()[index].astype(np.float64))
    sigma = flux / 30 + 1e-3 * np.median(flux)
    noisy = flux + np.random.default_rng(6).normal(0, 1, flux.size) * sigma
    path = tmp_path / "g395h.txt"
    path.write_text("\n".join(f"{w:.6f} {f:.6e} {s:.6e}" for w, f, s in
                              zip(wave, noisy, sigma, strict=True)))
    prediction = pretrained.predictor().predict(path, n_samples=2000)
    assert prediction.model == "atmo20pp-3to5um"
    assert any("smoothed from" in n for n in prediction.notes)
    # the fine spectrum is the model's own (already at its resolution) smoothed once more,
    # so its answer is less exact than a real sharp spectrum's would be
    assert abs(prediction.median["teff"] - 700) < 150
    kept = pretrained.predictor(smooth=False).predict(path, n_samples=2000)
    assert not any("smoothed from" in n for n in kept.notes)


def test_shipped_models_predict_offline(tmp_path):
    """The shipped grid copy makes the fit check work with an empty cache."""
    grid = compact.read_compact_grid(pretrained.model_path("dback24-spex") /
                                        pretrained.GRID_FILE)
    index = int(np.flatnonzero((grid.params["teff"] == 1500) & (grid.params["logg"] == 5.0)
                               & (grid.params["mh"] == 0) & (grid.params["inv_fsed"] == 0.5))[0])
    wave, flux = grid.wavelength, grid.flux_array()[index].astype(np.float64)
    rng = np.random.default_rng(3)
    sigma = flux / 50
    path = tmp_path / "obs.txt"
    path.write_text("\n".join(f"{w:.6f} {f:.6e} {s:.6e}" for w, f, s in
                              zip(wave, flux + rng.normal(0, 1, flux.size) * sigma, sigma,
                                  strict=True)))
    choice = pretrained.ModelChooser().choose(path, n_samples=2000)
    assert choice.model == "dback24-spex", choice.tried
    assert abs(choice.prediction.median["teff"] - 1500) < 60
    assert choice.prediction.chi2_red < 3


def test_cli_predict_runs_without_torch(tmp_path):
    """`telescopeml predict FILE` on a SpeX-format file needs neither PyTorch nor the network:
    the shipped models run on the NumPy engine (importing torch alone takes over a second)."""
    grid = compact.read_compact_grid(pretrained.model_path("dback24-spex") /
                                        pretrained.GRID_FILE)
    index = int(np.flatnonzero((grid.params["teff"] == 1800) & (grid.params["logg"] == 5.0)
                               & (grid.params["mh"] == 0) & (grid.params["inv_fsed"] == 0.5))[0])
    flux = grid.flux_array()[index].astype(np.float64)
    sigma = flux / 40
    noisy = flux + np.random.default_rng(4).normal(0, 1, flux.size) * sigma
    path = tmp_path / "spex.fits"
    fits.PrimaryHDU(np.vstack([grid.wavelength, noisy, sigma]),
                    fits.Header({"XUNITS": "Micron", "OBJECT": "toy L dwarf"})).writeto(path)
    code = ("import sys; from telescopeml.cli import main; "
            f"code = main(['predict', {str(path)!r}]); "
            "print('torch imported:', 'torch' in sys.modules); sys.exit(code)")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120, check=False)
    assert run.returncode == 0, run.stderr
    assert "torch imported: False" in run.stdout
    # by default the empirical scale, which says so and keeps the grid's answer in a note
    assert "scale: empirical" in run.stdout and "default scale: empirical" in run.stdout
    grid_line = next(line for line in run.stdout.splitlines()
                     if "atmosphere-grid scale (dback24-spex)" in line)
    teff = float(grid_line.split("teff")[1].split()[0])
    assert abs(teff - 1800) < 80, run.stdout
    empirical = float(next(line.split()[1] for line in run.stdout.splitlines()
                           if line.strip().startswith("teff")))
    assert 900 < empirical < 2400  # a grid L dwarf; real L dwarfs of its shape are cooler


@pytest.mark.network
@pytest.mark.slow
def test_retraining_with_a_small_budget_approaches_the_shipped_model(network_cache, tmp_path,
                                                                      monkeypatch):
    """Rerun the cold model's recorded recipe with half of the epochs."""
    monkeypatch.setenv("TELESCOPEML_CACHE", str(network_cache))
    manifest = read_manifest(pretrained.model_path("atmo20pp-spex"))
    config = ExperimentConfig.from_dict(manifest["training"]["config"])
    assert shlex.split(manifest["command"])[:2] == ["python", "scripts/build_pretrained.py"]
    small = ExperimentConfig.from_dict({**config.to_dict(), "train": {
        **config.train.to_dict(), "epochs": config.train.epochs // 2, "checkpoint_every": 0}})
    run = train(small, tmp_path / "retrained", progress=False)
    retrained = json.loads((run / "manifest.json").read_text())["metrics"]["snr"]["30"]
    shipped = manifest["metrics"]["snr"]["30"]
    for name in ("teff", "logg", "mh"):
        assert retrained[name]["rmse"] < 1.5 * shipped[name]["rmse"] + 0.02 * (
            np.ptp(manifest["parameters"]["ranges"][name])), name


def test_the_same_spectrum_in_any_flux_unit_gives_the_same_answer(tmp_path):
    """F_lambda ECSV, F_nu (Jy) ECSV and a JWST-x1d-like binary-table FITS in Jy: one object,
    one answer (the model converts each to its own unit pixel by pixel)."""
    from astropy.table import QTable

    grid = compact.read_compact_grid(pretrained.model_path("dback24-spex") /
                                        pretrained.GRID_FILE)
    index = int(np.flatnonzero((grid.params["teff"] == 1300) & (grid.params["logg"] == 5.0)
                               & (grid.params["mh"] == 0) & (grid.params["inv_fsed"] == 0.5))[0])
    wave = grid.wavelength * u.um
    flam = grid.flux_array()[index].astype(np.float64) * 1e-20 * u.erg / u.s / u.cm**2 / u.um
    flam = flam * (1 + 0.02 * np.random.default_rng(6).standard_normal(wave.size))
    fnu = flam.to(u.Jy, equivalencies=u.spectral_density(wave))
    QTable({"wavelength": wave, "flux": flam, "uncertainty": flam / 50}).write(
        tmp_path / "flam.ecsv")
    QTable({"wavelength": wave, "flux": fnu, "uncertainty": fnu / 50}).write(
        tmp_path / "fnu.ecsv")
    columns = [fits.Column("WAVELENGTH", "D", "um", array=wave.value),
               fits.Column("FLUX", "D", "Jy", array=fnu.value),
               fits.Column("FLUX_ERROR", "D", "Jy", array=fnu.value / 50)]
    fits.HDUList([fits.PrimaryHDU(), fits.BinTableHDU.from_columns(
        columns, name="EXTRACT1D")]).writeto(tmp_path / "x1d.fits")
    predictor = pretrained.load("dback24-spex")
    answers = {name: predictor.predict(tmp_path / name, n_samples=2000, seed=0)
               for name in ("flam.ecsv", "fnu.ecsv", "x1d.fits")}
    teff = {name: p.median["teff"] for name, p in answers.items()}
    assert abs(teff["flam.ecsv"] - 1300) < 100, teff
    for name in ("fnu.ecsv", "x1d.fits"):
        assert abs(teff[name] / teff["flam.ecsv"] - 1) < 0.01, teff
        assert abs(answers[name].median["logg"] - answers["flam.ecsv"].median["logg"]) < 0.05
