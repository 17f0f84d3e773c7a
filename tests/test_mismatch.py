"""The model-mismatch term of grid models, and the chooser's match of a spectrum's instrument
to the shipped models' wavelengths."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import analytic_log_flux, export_toy_model
from telescopeml import pretrained
from telescopeml.data.grid import SpectralGrid
from telescopeml.data.spectrum import ObservedSpectrum
from telescopeml.mismatch import add_mismatch
from telescopeml.prediction import Prediction

RANGES = {"nir": (0.9, 2.4), "wide": (0.9, 5.0)}


def prediction(n: int = 40000) -> Prediction:
    rng = np.random.default_rng(1)
    samples = np.column_stack([rng.normal(800.0, 10.0, n), rng.normal(5.0, 0.05, n)])
    return Prediction(source="x", names=["teff", "logg"], samples=samples,
                      wavelength=np.ones(3), observed=np.ones(3), uncertainty=np.ones(3))


def half_width(column: np.ndarray, level: float) -> float:
    return float(np.diff(np.quantile(column, (0.5 - level / 2, 0.5 + level / 2)))[0] / 2)


def test_mismatch_widens_the_posterior_to_the_measured_quantiles():
    p = prediction()
    add_mismatch(p, {"parameters": {"teff": {"68": 150.0, "95": 400.0}},
                     "source": "measured on 52 objects"})
    assert half_width(p.samples[:, 0], 0.68) == pytest.approx(150.0, rel=0.05)
    assert half_width(p.samples[:, 0], 0.95) == pytest.approx(400.0, rel=0.05)
    assert np.median(p.samples[:, 0]) == pytest.approx(800.0, abs=3.0)
    assert p.errors["teff"]["systematic"] == 150.0
    assert p.errors["teff"]["statistical"] == pytest.approx(10.0, rel=0.05)
    assert half_width(p.samples[:, 1], 0.68) == pytest.approx(0.05, rel=0.05)  # untouched
    assert "logg" not in p.errors
    assert any("model-mismatch term (measured on 52 objects)" in n for n in p.notes)
    assert any(n.startswith("logg: statistical intervals only") for n in p.notes)


def test_no_mismatch_section_changes_nothing():
    p = prediction()
    before = p.samples.copy()
    add_mismatch(p, None)
    np.testing.assert_array_equal(p.samples, before)
    assert not p.notes and not p.errors


def toy(name: str) -> SpectralGrid:
    teff, logg = np.meshgrid([600.0, 700.0, 800.0, 900.0], [4.0, 4.5, 5.0], indexing="ij")
    wavelength = np.geomspace(*RANGES[name], 70)
    flux = np.exp(analytic_log_flux(teff.ravel(), logg.ravel(), 0.0 * teff.ravel(),
                                    wavelength))
    return SpectralGrid({"teff": teff.ravel(), "logg": logg.ravel()}, wavelength, flux,
                        flux_unit="erg / (s cm2 um)", meta={"name": f"toy-{name}"})


@pytest.fixture(scope="module")
def instruments(tmp_path_factory):
    """A near-infrared toy model and one reaching 5 µm, laid out like the shipped models."""
    root = tmp_path_factory.mktemp("instruments")
    for name in RANGES:
        export_toy_model(toy(name), root, name, {"architecture": "mlp", "dense": [32]},
                         epochs=3)
    return root / "models"


def spectrum(low: float, high: float) -> ObservedSpectrum:
    wave = np.geomspace(low, high, 300)
    flux = np.exp(analytic_log_flux(np.full(1, 700.0), np.full(1, 4.5), np.zeros(1), wave))[0]
    return ObservedSpectrum(wavelength=wave, flux=flux, uncertainty=0.02 * flux, name="s")


def test_the_chooser_runs_only_the_models_made_for_the_spectrum(instruments, monkeypatch):
    monkeypatch.setattr(pretrained, "models_dir", lambda: instruments)
    wide, nir = spectrum(0.85, 5.1), spectrum(0.85, 2.45)
    wave = {n: np.asarray(pretrained.read_manifest(instruments / n)["wavelength"])
            for n in RANGES}
    assert pretrained.instrument_match(wide, wave["wide"]) == pytest.approx(1.0, abs=0.05)
    assert pretrained.instrument_match(wide, wave["nir"]) < 0.6  # reads a third of it
    assert pretrained.instrument_match(nir, wave["wide"]) == 0.0  # covers too little
    chooser = pretrained.ModelChooser()
    assert chooser.candidates(wide) == ["wide"] and chooser.candidates(nir) == ["nir"]
    choice = chooser.choose(wide, n_samples=200)
    assert choice.model == "wide" and "nir" not in choice.results
    assert list(chooser._loaded) == ["wide"]  # the other model was never loaded
    assert chooser.choose(nir, n_samples=200).model == "nir"
    assert chooser.predictor("nir").smooth  # --no-smooth reaches the models it loads:
    assert not pretrained.ModelChooser(smooth=False).predictor("nir").smooth
    assert not pretrained.predictor(scale="grid", smooth=False).predictor("wide").smooth
    short = spectrum(3.0, 5.0)  # covers neither: every model says why
    with pytest.raises(Exception, match="no shipped model can read this spectrum"):
        chooser.choose(short, n_samples=200)
