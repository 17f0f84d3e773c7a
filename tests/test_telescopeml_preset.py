"""The telescopeml preset reproduces TelescopeML's preprocessing, from its CSV to a prediction."""

from __future__ import annotations

import json

import numpy as np
import pytest

from telescopeml.data.inputs import InputEncoder
from telescopeml.data.spectrum import ObservedSpectrum
from telescopeml.data.transforms import Normalizer
from telescopeml.errors import DataError
from telescopeml.models.numpy_model import NumpyModel
from telescopeml.models.torch_network import TorchNetwork
from telescopeml.predict import Predictor
from telescopeml.training.experiment import ExperimentConfig, train

C_CGS = 2.99792458e10
H_CGS = 6.62607015e-27
K_CGS = 1.380649e-16
WAVELENGTH = np.linspace(0.9, 2.4, 104)  # µm, as TelescopeML's 104 columns


def surface_fnu(teff, logg, mh, co, wavelength):
    """A smooth stand-in for Sonora Bobcat: pi B_nu(Teff) (erg/s/cm^2/Hz) with two absorption
    bands, one whose depth follows [M/H] and width log g, one whose depth follows C/O."""
    nu = C_CGS / (wavelength * 1e-4)
    planck = 2 * H_CGS * nu**3 / C_CGS**2 / np.expm1(H_CGS * nu / (K_CGS * teff[:, None]))
    band = (0.3 + 0.2 * mh[:, None]) * np.exp(
        -0.5 * ((wavelength - 1.6) / (0.05 * logg[:, None])) ** 2)
    band += 0.2 * co[:, None] * np.exp(-0.5 * ((wavelength - 2.2) / 0.1) ** 2)
    return np.pi * planck * (1 - band)


@pytest.fixture
def telescopeml_csv(tmp_path):
    """A TelescopeML-format training set: 240 spectra, flux columns in descending µm."""
    teff, logg, mh, co = (a.ravel() for a in np.meshgrid(
        [800.0, 1000.0, 1200.0, 1400.0, 1600.0], [3.5, 4.0, 4.5, 5.0], [-0.5, 0.0, 0.5],
        [0.5, 1.0, 1.5, 2.0], indexing="ij"))
    flux = surface_fnu(teff, logg, mh, co, WAVELENGTH)[:, ::-1]
    header = ["gravity", "temperature", "c_o_ratio", "metallicity",
              *(f"{w:.6f}" for w in WAVELENGTH[::-1])]
    table = np.column_stack([logg, teff, co, mh, flux])
    path = tmp_path / "training.csv"
    np.savetxt(path, table, delimiter=",", header=",".join(header), comments="", fmt="%.8e")
    return path


def test_encoder_features_by_hand():
    rng = np.random.default_rng(0)
    flam = np.exp(rng.normal(0.0, 0.3, (6, WAVELENGTH.size))) * 1e5  # erg/s/cm^2/µm
    encoder = InputEncoder(WAVELENGTH, Normalizer.create("zscore"), uncertainty=False,
                           extra="absolute-fnu", flux_unit="erg / (s cm2 um)",
                           standardize=False).fit(flam)
    x, extra = encoder.encode(flam)
    # the spectrum: each row standardized on its own and nothing more
    np.testing.assert_allclose(x[:, 0].mean(axis=1), 0.0, atol=1e-6)
    np.testing.assert_allclose(x[:, 0].std(axis=1), 1.0, rtol=1e-5)
    # the extras: F_nu = F_lambda lambda^2 / c (cgs; 1 µm^-1 = 1e4 cm^-1), min and max,
    # standardized over the training set
    fnu = flam * 1e4 * (WAVELENGTH * 1e-4) ** 2 / C_CGS
    minmax = np.column_stack([fnu.min(axis=1), fnu.max(axis=1)])
    expected = (minmax - minmax.mean(axis=0)) / minmax.std(axis=0)
    np.testing.assert_allclose(extra, expected, rtol=1e-5, atol=1e-5)
    # the state reads back as it was, through JSON
    state = json.loads(json.dumps(encoder.to_dict()))
    assert state["extra"] == "absolute-fnu" and state["flux_scaler"] is None
    again = InputEncoder.from_dict(state, WAVELENGTH)
    assert again.to_dict() == state
    for a, b in zip(again.encode(flam), (x, extra), strict=True):
        np.testing.assert_array_equal(a, b)
    # an F_nu unit converts by a constant (1 W/m^2/Hz = 1e3 erg/s/cm^2/Hz), which the
    # standardization takes out; a flux without a unit cannot be made absolute
    fnu_si = InputEncoder(WAVELENGTH, uncertainty=False, extra="absolute-fnu",
                          flux_unit="W / (m2 Hz)").fit(flam)
    np.testing.assert_allclose(fnu_si.extra_scaler.mean_,
                               1e3 * np.mean([flam.min(axis=1), flam.max(axis=1)], axis=1))
    with pytest.raises(DataError, match="flux density"):
        InputEncoder(WAVELENGTH, extra="absolute-fnu", flux_unit="")
    with pytest.raises(ValueError, match="valid: normalized, absolute-fnu"):
        InputEncoder(WAVELENGTH, extra="median")


def test_old_encoder_state_reads_as_before():
    flux = np.exp(np.random.default_rng(1).normal(0.0, 0.2, (8, WAVELENGTH.size)))
    state = InputEncoder(WAVELENGTH).fit(flux, flux / 30).to_dict()
    old = {k: v for k, v in state.items() if k not in ("extra", "flux_unit", "standardize")}
    again = InputEncoder.from_dict(old, WAVELENGTH)
    assert again.to_dict() == state
    assert (again.extra, again.standardize, again.normalizer.name) == ("normalized", True,
                                                                       "median")


def test_preset_defaults_and_the_old_variant():
    data = ExperimentConfig.from_dict({}, preset="telescopeml").data
    assert (data.normalization, data.extra_features, data.standardize_wavelengths) == (
        "zscore", "absolute-fnu", False)
    old = ExperimentConfig.from_dict({}, preset="telescopeml-median")
    assert old.model["architecture"] == "telescopeml"
    assert (old.data.normalization, old.data.extra_features,
            old.data.standardize_wavelengths) == ("median", "normalized", True)


def test_preset_trains_and_predicts_from_a_telescopeml_csv(telescopeml_csv, tmp_path):
    config = ExperimentConfig.from_dict({
        "data": {"grid": str(telescopeml_csv), "instrument": "", "val_snr": [0, 30]},
        "model": {"filters": [8, 8], "kernel_sizes": [6, 6], "feature_dense": [32],
                  "dense": [16]},
        "train": {"epochs": 2, "batch_size": 64, "checkpoint_every": 0, "patience": 0},
        "augment": {"n_interpolated": 64},
    }, preset="telescopeml")
    out = train(config, tmp_path / "model", progress=False, baselines=False)
    manifest = json.loads((out / "manifest.json").read_text())
    encoder = manifest["transforms"]["encoder"]
    assert encoder["normalizer"] == {"name": "zscore"}
    assert encoder["extra"] == "absolute-fnu" and encoder["flux_unit"] == "erg / (s cm2 Hz)"
    assert not encoder["standardize"] and not encoder["uncertainty"]
    assert manifest["parameters"]["names"] == ["teff", "logg", "mh", "co"]

    params = (np.array([1100.0]), np.array([4.25]), np.array([0.1]), np.array([1.2]))
    flux = surface_fnu(*params, WAVELENGTH)[0]
    spectrum = ObservedSpectrum(WAVELENGTH, flux, flux / 50, flux_unit="erg / (s cm2 Hz)")
    predictor = Predictor(out, grid=False)
    assert isinstance(predictor.network, NumpyModel)  # the default engine for this bundle
    prediction = predictor.predict(spectrum, n_samples=200)
    assert prediction.samples.shape == (200, 4) and np.all(np.isfinite(prediction.samples))
    assert any("absolute flux level" in n for n in prediction.notes)  # the assumption, said

    # the NumPy engine and the torch model compute the same network on the same inputs
    torch_predictor = Predictor(out, grid=False, engine="torch")
    assert isinstance(torch_predictor.network, TorchNetwork)
    x, extra = predictor.encoder.encode(np.vstack([flux, 0.7 * flux]))
    np.testing.assert_allclose(predictor.network.embed(x, extra),
                               torch_predictor.network.embed(x, extra), rtol=1e-4, atol=1e-5)
    # the absolute flux reaches the network: a scaled spectrum has other extras
    assert not np.allclose(extra[0], extra[1]) and np.allclose(x[0], x[1], atol=1e-5)
    both = [p.sample_posterior(flux, flux / 50, n_samples=100, seed=3)
            for p in (predictor, torch_predictor)]
    np.testing.assert_allclose(both[0], both[1], rtol=1e-4)
