"""Normalizers, FeatureStandardizer and ParameterScaler."""

from __future__ import annotations

import json

import numpy as np
import pytest

from telescopeml.data.transforms import (
    NORMALIZERS,
    FeatureStandardizer,
    Normalizer,
    ParameterScaler,
)
from telescopeml.errors import DataError, TelescopeMLError, UnknownNameError

WAVELENGTH = np.linspace(0.9, 2.4, 300)


def spectra() -> np.ndarray:
    base = 1.0 + np.exp(-(((WAVELENGTH - 1.25) / 0.2) ** 2))
    return np.vstack([base * 1e-15, base**2 * 3e-16, base * 2e-14 + 1e-15])


def test_every_normalizer_is_registered() -> None:
    assert set(NORMALIZERS) == {"none", "max", "median", "median-band", "area", "minmax",
                                "zscore"}


@pytest.mark.parametrize("name", sorted(NORMALIZERS))
def test_round_trip_1d_and_2d(name: str) -> None:
    norm = Normalizer.create(name)
    flux = spectra()
    unc = 0.05 * flux
    out, out_unc, scale = norm.transform(WAVELENGTH, flux, unc)
    assert out.shape == flux.shape and scale.shape == (3,)
    offset, scale_again = norm.scales(WAVELENGTH, flux)
    np.testing.assert_allclose(scale, scale_again)
    back, back_unc = Normalizer.inverse_transform(out, scale, out_unc, offset=offset)
    np.testing.assert_allclose(back, flux, rtol=1e-12)
    np.testing.assert_allclose(back_unc, unc, rtol=1e-12)
    one, one_unc, one_scale = norm.transform(WAVELENGTH, flux[1], unc[1])
    np.testing.assert_allclose(one, out[1])
    np.testing.assert_allclose(one_unc, out_unc[1])
    assert one_scale.shape == () and float(one_scale) == pytest.approx(scale[1])
    assert norm.transform(WAVELENGTH, flux)[1] is None


@pytest.mark.parametrize("name", sorted(NORMALIZERS))
def test_json_round_trip(name: str) -> None:
    norm = Normalizer.create(name)
    again = Normalizer.from_dict(json.loads(json.dumps(norm.to_dict())))
    assert again == norm and type(again) is type(norm)
    assert again.to_dict()["name"] == name


def test_json_round_trip_keeps_options() -> None:
    norm = Normalizer.create("median-band", band=(1.5, 1.7))
    data = json.loads(json.dumps(norm.to_dict()))
    assert data == {"name": "median-band", "band": [1.5, 1.7]}
    assert Normalizer.from_dict(data).options["band"] == (1.5, 1.7)
    assert Normalizer.from_dict(data) != Normalizer.create("median-band")
    assert "band=(1.5, 1.7)" in repr(norm)


def test_what_each_normalizer_makes_one() -> None:
    flux = spectra()
    band = (WAVELENGTH >= 1.2) & (WAVELENGTH <= 1.3)
    results = {name: Normalizer.create(name).transform(WAVELENGTH, flux)[0]
               for name in NORMALIZERS}
    np.testing.assert_allclose(results["none"], flux)
    np.testing.assert_allclose(results["max"].max(axis=1), 1.0)
    np.testing.assert_allclose(np.median(results["median"], axis=1), 1.0)
    np.testing.assert_allclose(np.median(results["median-band"][:, band], axis=1), 1.0)
    np.testing.assert_allclose(np.trapezoid(results["area"], WAVELENGTH, axis=1), 1.0)
    np.testing.assert_allclose(results["minmax"].min(axis=1), 0.0, atol=1e-15)
    np.testing.assert_allclose(results["minmax"].max(axis=1), 1.0)
    np.testing.assert_allclose(results["zscore"].mean(axis=1), 0.0, atol=1e-12)
    np.testing.assert_allclose(results["zscore"].std(axis=1), 1.0)


def test_zscore_by_hand() -> None:
    flux = np.array([[1.0, 2.0, 3.0, 6.0], [5.0, 5.0, 5.0, 5.0], [2.0, np.nan, 4.0, 6.0]])
    out, _, scale = Normalizer.create("zscore").transform(WAVELENGTH[:4], flux)
    # row 0: mean 3, population std sqrt((4 + 1 + 0 + 9) / 4)
    np.testing.assert_allclose(out[0], (flux[0] - 3.0) / np.sqrt(3.5))
    # a constant spectrum keeps scale 1, as scikit-learn's StandardScaler does
    assert scale[1] == 1.0 and np.all(out[1] == 0.0)
    # NaN pixels are ignored: mean 4, std sqrt(8 / 3)
    np.testing.assert_allclose(out[2, [0, 2, 3]], np.array([-2.0, 0.0, 2.0]) / np.sqrt(8 / 3))
    assert np.isnan(out[2, 1])


def test_nan_pixels_are_ignored() -> None:
    flux = spectra()[0].copy()
    flux[[5, 100]] = np.nan
    for name in ("max", "median", "median-band", "area", "minmax", "zscore"):
        out, _, scale = Normalizer.create(name).transform(WAVELENGTH, flux)
        assert np.isfinite(scale)
        assert np.isnan(out[5]) and np.isfinite(out[6])


def test_unknown_name_lists_valid_ones() -> None:
    with pytest.raises(UnknownNameError, match="median-band") as info:
        Normalizer.create("mean")
    assert "minmax" in info.value.valid


@pytest.mark.parametrize(
    ("name", "options", "match"),
    [
        ("max", {"band": (1, 2)}, "valid options: none"),
        ("median-band", {"window": (1, 2)}, "valid options: band"),
        ("median-band", {"band": (1.3, 1.2)}, "low < high"),
        ("median-band", {"band": 1.2}, r"\(low, high\)"),
        ("median-band", {"band": ("a", "b")}, r"\(low, high\)"),
    ],
)
def test_bad_options_fail_at_construction(name: str, options: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        Normalizer.create(name, **options)


def test_band_must_overlap_data() -> None:
    norm = Normalizer.create("median-band", band=(3.0, 4.0))
    with pytest.raises(DataError, match="does not overlap"):
        norm.transform(WAVELENGTH, spectra())


@pytest.mark.parametrize("name", ["max", "median", "area", "minmax"])
def test_zero_spectrum_has_no_scale(name: str) -> None:
    flux = spectra()
    flux[1] = 0.0
    with pytest.raises(DataError, match="1 spectra"):
        Normalizer.create(name).transform(WAVELENGTH, flux)


def test_shape_mismatch() -> None:
    with pytest.raises(DataError, match="does not match"):
        Normalizer.create("max").transform(WAVELENGTH[:-1], spectra())


def test_feature_standardizer() -> None:
    rng = np.random.default_rng(0)
    train = rng.normal(5.0, 2.0, (200, 30))
    train[:, 3] = 7.0  # a constant column passes through centred
    scaler = FeatureStandardizer().fit(train)
    scaled = scaler.transform(train)
    np.testing.assert_allclose(scaled.mean(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(np.delete(scaled.std(axis=0), 3), 1.0)
    assert np.all(scaled[:, 3] == 0.0)
    np.testing.assert_allclose(scaler.inverse_transform(scaled), train)
    test = rng.normal(5.0, 2.0, (10, 30))
    again = FeatureStandardizer.from_dict(json.loads(json.dumps(scaler.to_dict())))
    np.testing.assert_allclose(again.transform(test), scaler.transform(test))
    np.testing.assert_allclose(FeatureStandardizer().fit_transform(train), scaled)


def test_feature_standardizer_errors() -> None:
    with pytest.raises(TelescopeMLError, match="not fitted"):
        FeatureStandardizer().transform(np.ones((2, 3)))
    scaler = FeatureStandardizer().fit(np.ones((4, 3)))
    with pytest.raises(DataError, match="3 columns"):
        scaler.transform(np.ones((2, 4)))
    with pytest.raises(DataError, match="shape"):
        FeatureStandardizer().fit(np.ones(5))


def labels() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(2)
    return {
        "teff": rng.uniform(500, 2400, 100),
        "logg": rng.uniform(3.5, 5.5, 100),
        "mh": rng.uniform(-1, 1, 100),
    }


def test_parameter_scaler_round_trip() -> None:
    params = labels()
    scaler = ParameterScaler(["teff", "logg", "mh"])
    scaled = scaler.fit_transform(params)
    assert scaled.shape == (100, 3)
    np.testing.assert_allclose(scaled.mean(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(scaled.std(axis=0), 1.0)
    # teff is standardized in log10
    log_teff = np.log10(params["teff"])
    np.testing.assert_allclose(scaled[:, 0], (log_teff - log_teff.mean()) / log_teff.std())
    matrix = np.column_stack([params[n] for n in ("teff", "logg", "mh")])
    np.testing.assert_allclose(scaler.inverse_transform(scaled), matrix)
    np.testing.assert_allclose(scaler.transform(matrix), scaled)
    np.testing.assert_allclose(scaler.inverse_transform(scaled[0]), matrix[:1])


def test_parameter_scaler_json_round_trip() -> None:
    scaler = ParameterScaler(["teff", "logg"], log=("teff", "logg")).fit(labels())
    again = ParameterScaler.from_dict(json.loads(json.dumps(scaler.to_dict())))
    assert again.names == ["teff", "logg"] and again.log == ["teff", "logg"]
    np.testing.assert_allclose(again.transform(labels()), scaler.transform(labels()))


def test_parameter_scaler_errors() -> None:
    with pytest.raises(ValueError, match="valid: teff, logg"):
        ParameterScaler(["teff", "logg"], log=("kzz",))
    with pytest.raises(ValueError, match="distinct"):
        ParameterScaler(["teff", "teff"])
    scaler = ParameterScaler(["teff", "logg"])
    with pytest.raises(TelescopeMLError, match="not fitted"):
        scaler.transform(labels())
    with pytest.raises(DataError, match="'logg' is missing"):
        scaler.fit({"teff": np.ones(3)})
    with pytest.raises(DataError, match="log10 of 'teff'"):
        scaler.fit(np.array([[0.0, 4.0], [1000.0, 5.0]]))
    with pytest.raises(DataError, match=r"expected \(n, 2\)"):
        scaler.fit(np.ones((4, 3)))


@pytest.mark.parametrize("threads", [1, 2])
def test_encoding_in_blocks_on_threads_is_the_encoding_in_one_block(monkeypatch, threads):
    import telescopeml.data.inputs as inputs

    rng = np.random.default_rng(0)
    wavelength = np.linspace(1.0, 2.0, 40)
    flux = np.exp(rng.normal(0, 0.3, (50, 40))).astype(np.float32)
    encoder = inputs.InputEncoder(wavelength).fit(flux, flux / 30)
    whole = encoder.encode(flux, flux / 20)
    monkeypatch.setattr(inputs, "ENCODE_CHUNK", 7)  # 8 blocks, the last one short
    monkeypatch.setattr(inputs, "ENCODE_THREADS", threads)
    blocks = encoder.encode(flux, flux / 20)
    assert blocks[0].shape == (50, 2, 40) and blocks[1].shape == (50, 2)
    np.testing.assert_array_equal(blocks[0], whole[0])
    np.testing.assert_array_equal(blocks[1], whole[1])
    assert encoder.encode(flux[:0], flux[:0])[0].shape == (0, 2, 40)
