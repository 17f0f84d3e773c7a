"""Instruments: identifying a spectrum's, the bundle's record of its own, the checks and
the smoothing and gap masking that follow from them (synthetic spectra only)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from conftest import analytic_log_flux
from telescopeml.bundle import seal
from telescopeml.data import instruments
from telescopeml.data.grid import SpectralGrid
from telescopeml.data.spectrum import ObservedSpectrum
from telescopeml.errors import DataError
from telescopeml.predict import Predictor
from telescopeml.training.experiment import ExperimentConfig, train


def pixels(low: float, high: float, r: float) -> np.ndarray:
    """Wavelengths of ``low``-``high`` µm with two pixels per resolution element of R."""
    return np.geomspace(low, high, int(np.log(high / low) * 2 * r) + 1)


SPEX, PRISM, G395H = pixels(0.65, 2.56, 200), pixels(0.6, 5.3, 250), pixels(2.88, 5.2, 3000)


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    """A tiny model of 0.9-2.4 µm (R≈33 from its 60 pixels), its grid of no instrument."""
    teff, logg, mh = np.meshgrid([900.0, 1000.0, 1100.0, 1200.0], [4.0, 4.5, 5.0],
                                 [-0.5, 0.0, 0.5], indexing="ij")
    wavelength = np.linspace(0.9, 2.4, 60)
    flux = np.exp(analytic_log_flux(teff.ravel(), logg.ravel(), mh.ravel(), wavelength))
    grid = SpectralGrid({"teff": teff.ravel(), "logg": logg.ravel(), "mh": mh.ravel()},
                        wavelength, flux, flux_unit="erg / (s cm2 um)", meta={"name": "toy"})
    root = tmp_path_factory.mktemp("instruments")
    config = ExperimentConfig.from_dict({
        "data": {"grid": str(grid.to_hdf5(root / "toy.h5")), "instrument": ""},
        "model": {"architecture": "mlp", "dense": [32], "dropout": 0.0, "head": "gaussian"},
        "train": {"epochs": 2, "batch_size": 32, "checkpoint_every": 0, "patience": 0,
                  "loss": "gaussian_nll"},
        "augment": {"n_interpolated": 64},
    })
    return train(config, root / "model", progress=False)


def edited(bundle, tmp_path, change) -> Predictor:
    """A Predictor of a copy of ``bundle`` whose manifest ``change`` edited."""
    copy = shutil.copytree(bundle, tmp_path / "copy")
    manifest = json.loads((copy / "manifest.json").read_text())
    change(manifest)
    (copy / "manifest.json").write_text(json.dumps(seal(manifest)))
    return Predictor(copy, grid=False)


def as_spex(manifest: dict) -> None:
    manifest["instrument"] = instruments.instrument_record("SPEX-PRISM", manifest["wavelength"])


def spectrum(wavelength: np.ndarray, name: str = "s") -> ObservedSpectrum:
    flux = 1.0 + 0.3 * np.sin(3 * wavelength)
    return ObservedSpectrum(wavelength, flux, flux / 50, name=name)


def test_identify_by_coverage_and_sampling():
    assert instruments.identify(SPEX).key == "SPEX-PRISM"
    assert instruments.identify(PRISM).key == "JWST-NIRSPEC-PRISM"
    assert instruments.identify(G395H).key == "JWST-NIRSPEC-G395H"
    assert instruments.identify(pixels(2.88, 5.1, 1000)).key == "JWST-NIRSPEC-G395M"
    assert instruments.identify(pixels(1.0, 1.3, 200)) is None  # a sliver of anything
    assert instruments.identify(pixels(0.85, 2.45, 1500)).key == "SPEX-SXD"
    assert instruments.identify(pixels(0.85, 2.45, 20000)) is None  # no such R there
    assert instruments.resolving_power(G395H) == pytest.approx(3000, rel=0.01)
    assert instruments.describe(G395H) == "a JWST NIRSpec G395H spectrum, 2.88-5.20 µm, R≈2700"
    assert instruments.describe(pixels(1.0, 1.3, 200)) == (
        "a spectrum of 1.00-1.30 µm, R≈200 (from its pixels)")


def test_gaps_are_found_against_the_local_spacing():
    with_gap = G395H[(G395H < 3.69) | (G395H > 3.79)]
    (low, high), = instruments.gaps(with_gap)
    assert 3.68 < low < 3.69 and 3.79 < high < 3.80
    assert instruments.gaps(PRISM) == []  # spacing changing 9x over the range is no gap


def test_manifest_records_the_instrument_and_old_bundles_derive_it(bundle, tmp_path):
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert manifest["instrument"] == {"key": "", "name": "", "wavelength_range": [0.9, 2.4],
                                      "resolving_power": 33.0}

    def old(m: dict) -> None:
        del m["instrument"]
        m["grid"]["instrument"] = "SPEX-PRISM"

    record = edited(bundle, tmp_path, old).instrument
    assert record == {"key": "SPEX-PRISM", "name": "SpeX prism",
                      "wavelength_range": [0.9, 2.4], "resolving_power": 120.0}


def test_refusal_and_flag_name_both_instruments(bundle, tmp_path):
    predictor = edited(bundle, tmp_path, as_spex)
    with pytest.raises(DataError, match="covers 0% .* this is a JWST NIRSpec G395H spectrum, "
                       r"2.88-5.20 µm, R≈2700; the model expects SpeX prism, 0.90-2.40 µm"):
        predictor.prepare_spectrum(spectrum(G395H))
    flag, = predictor.instrument_flags(spectrum(PRISM))
    assert flag.startswith("another instrument? this is a JWST NIRSpec PRISM spectrum, "
                           "0.60-5.30 µm, R≈100; the model expects SpeX prism, 0.90-2.40 µm, "
                           "R≈120 (")
    assert flag.endswith("only 0.90-2.40 µm was used)")
    assert predictor.instrument_flags(spectrum(predictor.wavelength)) == []


def line_fwhm(wavelength: np.ndarray, flux: np.ndarray) -> float:
    """FWHM of an absorption line from the second moment of its depth."""
    depth = 1.0 - flux
    centre = np.sum(wavelength * depth) / np.sum(depth)
    return float(np.sqrt(np.sum((wavelength - centre) ** 2 * depth) / np.sum(depth)) * 2.3548)


def test_a_sharper_spectrum_is_smoothed_to_the_models_resolution(bundle, tmp_path):
    predictor = edited(bundle, tmp_path, as_spex)
    wave = pixels(0.85, 2.45, 8000)
    line = 1.0 - 0.5 * np.exp(-0.5 * ((wave - 1.6) / (1.6 / 8000 / 2.3548)) ** 2)
    sharp = ObservedSpectrum(wave, line, np.full(wave.size, 0.01), name="sharp")
    ready = predictor.ready(sharp)
    assert line_fwhm(wave, ready.flux) == pytest.approx(1.6 / 120, rel=0.05)
    assert np.array_equal(ready.uncertainty, sharp.uncertainty)
    assert any(n.startswith("smoothed from a spectrum of 0.85-2.45 µm, R≈8000") and
               "the model's R≈120" in n for n in ready.meta["input_notes"])
    assert predictor.ready(ready).flux is ready.flux  # not smoothed twice
    kept = predictor.ready(sharp, smooth=False)
    assert np.array_equal(kept.flux, sharp.flux) and not any(
        n.startswith("smoothed") for n in kept.meta["input_notes"])
    assert not any(n.startswith("smoothed")  # the same instrument
                   for n in predictor.ready(spectrum(SPEX)).meta["input_notes"])


def test_gap_pixels_are_masked_not_interpolated(bundle):
    predictor = Predictor(bundle, grid=False)
    wave = np.linspace(0.85, 2.45, 400)
    wave = wave[(wave < 1.57) | (wave > 1.63)]
    flux = np.where(wave < 1.6, 1.0, 3.0)
    ready = predictor.ready(ObservedSpectrum(wave, flux, flux / 50, name="gap"))
    assert "masked 1.57-1.63 µm: a gap in the spectrum (no data)" in ready.meta["input_notes"]
    resampled, sigma = predictor.prepare_spectrum(ready)
    inside = (predictor.wavelength > 1.57) & (predictor.wavelength < 1.63)
    assert inside.sum() == 2
    assert np.all(sigma[inside] == 10 * sigma[~inside].max())
    nearest = np.isclose(resampled[inside], 1.0) | np.isclose(resampled[inside], 3.0)
    assert nearest.all()  # nearest usable values, nothing in between
    prediction = predictor.predict(ready, n_samples=50)
    assert "input: masked 1.57-1.63 µm: a gap in the spectrum (no data)" in prediction.notes


@pytest.mark.parametrize("spectrum_pixels, flagged", [
    (G395H, False),  # what the 2.9-5.15 µm model at PRISM resolution is made to read
    (pixels(2.88, 5.1, 1000), False),  # G395M: sharper, covers the model's range
    (PRISM, True),  # reaches far past the model's range
    (SPEX, True),  # another range altogether
])
def test_a_model_is_not_flagged_for_the_instruments_it_reads(spectrum_pixels, flagged):
    model = pixels(2.9035, 5.1475, 100)
    record = instruments.instrument_record("JWST-NIRSPEC-PRISM", model)
    assert bool(instruments.instrument_mismatch(spectrum_pixels, record, model)) == flagged
    # a model of the whole PRISM range still flags a G395H spectrum
    full = pixels(0.6, 5.3, 100)
    prism = instruments.instrument_record("JWST-NIRSPEC-PRISM", full)
    assert instruments.instrument_mismatch(G395H, prism, full)
