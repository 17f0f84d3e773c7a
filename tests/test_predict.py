"""Predictor on a tiny grid: reading, checks, posterior summaries, flags, batch, benchmark."""

from __future__ import annotations

import csv
import json

import astropy.units as u
import numpy as np
import pytest
from astropy import constants as const

from conftest import analytic_log_flux
from telescopeml.cli import main
from telescopeml.data.checks import der_snr_noise
from telescopeml.data.grid import SpectralGrid
from telescopeml.data.spectrum import ObservedSpectrum
from telescopeml.errors import DataError
from telescopeml.evaluation.benchmark import run_benchmark
from telescopeml.inference.diagnostics import edge_limit, edge_message, edges
from telescopeml.predict import Prediction, Predictor
from telescopeml.training.experiment import ExperimentConfig, train


@pytest.fixture(scope="module")
def bundle(tmp_path_factory, module_grid):
    root = tmp_path_factory.mktemp("predict")
    grid_file = module_grid.to_hdf5(root / "toy.h5")
    config = ExperimentConfig.from_dict({
        "data": {"grid": str(grid_file), "instrument": ""},
        "model": {"architecture": "mlp", "dense": [64], "dropout": 0.0, "head": "gaussian"},
        "train": {"epochs": 6, "batch_size": 32, "checkpoint_every": 0, "patience": 0,
                  "loss": "gaussian_nll"},
        "augment": {"n_interpolated": 256},
    })
    return train(config, root / "model", progress=False)


@pytest.fixture(scope="module")
def module_grid():
    teff, logg, mh = np.meshgrid([900.0, 1000.0, 1100.0, 1200.0], [4.0, 4.5, 5.0],
                                 [-0.5, 0.0, 0.5], indexing="ij")
    wavelength = np.linspace(0.9, 2.4, 60)
    flux = np.exp(analytic_log_flux(teff.ravel(), logg.ravel(), mh.ravel(), wavelength))
    return SpectralGrid({"teff": teff.ravel(), "logg": logg.ravel(), "mh": mh.ravel()},
                        wavelength, flux, flux_unit="erg / (s cm2 um)",
                        meta={"name": "toy", "source": "tests"})


def write_spectrum(path, grid, index, snr=50.0, scale=1e-20, noise=True, seed=0,
                   unit="erg / (s cm2 um)"):
    rng = np.random.default_rng(seed)
    wave = np.linspace(0.85, 2.45, 80)
    flux = scale * np.interp(wave, grid.wavelength, grid.flux[index])
    sigma = flux / snr
    flux = flux + rng.standard_normal(flux.size) * sigma
    columns = [wave, flux, sigma] if noise else [wave, flux]
    path.write_text("\n".join(" ".join(f"{c[i]:.8e}" for c in columns)
                              for i in range(wave.size)))
    return ObservedSpectrum.read(path, flux_unit=unit)


def test_prediction_of_a_grid_spectrum(bundle, module_grid, tmp_path):
    predictor = Predictor(bundle)
    spectrum = write_spectrum(tmp_path / "s.txt", module_grid, 17)
    prediction = predictor.predict(spectrum, n_samples=500)
    assert prediction.samples.shape == (500, 3)
    row = prediction.row()
    for name in ("teff", "logg", "mh"):
        assert row[f"{name}_p2.5"] <= row[f"{name}_p16"] <= row[f"{name}_p50"]
        assert row[f"{name}_p50"] <= row[f"{name}_p84"] <= row[f"{name}_p97.5"]
    assert abs(row["teff_p50"] - module_grid.params["teff"][17]) < 150
    assert np.isfinite(row["chi2_red"]) and prediction.best_fit.shape == (60,)
    assert prediction.band.shape == (2, 60)
    assert "teff" in prediction.summary()


def test_coverage_and_missing_uncertainty(bundle, module_grid, tmp_path):
    predictor = Predictor(bundle)
    short = ObservedSpectrum(np.linspace(1.0, 1.5, 50), np.ones(50), np.full(50, 0.1),
                             name="short")
    with pytest.raises(DataError, match=r"short: the spectrum covers \d+% of the model"):
        predictor.predict(short)
    spectrum = write_spectrum(tmp_path / "n.txt", module_grid, 13, noise=False)  # interior
    prediction = predictor.predict(spectrum, n_samples=200)
    assert any("estimated from the pixel-to-pixel scatter" in n for n in prediction.notes)
    assert "pixel-to-pixel" in prediction.row()["note"] and not prediction.flags


def test_der_snr_recovers_white_noise():
    rng = np.random.default_rng(1)
    flux = 10 + np.sin(np.linspace(0, 3, 4000)) + rng.normal(0, 0.2, 4000)
    assert der_snr_noise(flux) == pytest.approx(0.2, rel=0.05)


def test_edge_flags(bundle):
    predictor = Predictor(bundle, grid=False)
    samples = np.column_stack([np.full(100, 905.0), np.full(100, 4.5), np.zeros(100)])
    piled = edges(samples, predictor.names, predictor.ranges)
    assert piled == {"teff": "low"}
    assert "likely colder than the grid" in edge_message("teff", "low", predictor.ranges)
    samples[:, 1] = 4.99
    assert edges(samples, predictor.names, predictor.ranges) == {"teff": "low", "logg": "high"}


def test_radius_and_mass_from_flux_scale(bundle):
    """The scale is fitted in the model's flux unit, so R = sqrt(scale) d; M = g R^2 / G,
    checked against astropy's constants."""
    predictor = Predictor(bundle, grid=False)
    distance, radius = 10.0, 1.0
    scale = ((radius * u.R_jup) / (distance * u.pc)).decompose().value ** 2
    samples = np.column_stack([np.full(50, 1000.0), np.full(50, 5.0), np.zeros(50)])
    prediction = Prediction("x", ["teff", "logg", "mh"], samples, np.ones(3), np.ones(3),
                            np.ones(3))
    spectrum = ObservedSpectrum(np.linspace(1, 2, 20), np.ones(20), flux_unit="W / (m2 um)")
    scales = np.full(50, scale)
    predictor.physical_size(prediction, predictor.ready(spectrum), scales, distance)
    np.testing.assert_allclose(prediction.derived["radius_rjup"], radius, rtol=1e-9)
    mass = (1e5 * u.cm / u.s**2 * (radius * u.R_jup) ** 2 / const.G).to_value(u.M_jup)
    np.testing.assert_allclose(prediction.derived["mass_mjup"], mass, rtol=1e-9)
    assert 35 < mass < 45  # a 1 R_Jup brown dwarf at log g 5: about 40 M_Jup
    uncalibrated = Prediction("y", ["teff", "logg", "mh"], samples, np.ones(3), np.ones(3),
                              np.ones(3))
    predictor.physical_size(uncalibrated, ObservedSpectrum(spectrum.wavelength, np.ones(20)),
                            scales, distance)
    assert "radius_rjup" not in uncalibrated.derived
    assert any("no radius or mass" in n and "not flux-calibrated" in n
               for n in uncalibrated.notes)


def test_the_model_sees_its_own_flux_unit(bundle):
    """W/m2/um becomes 1000 x erg/s/cm2/um; Jy becomes F_lambda pixel by pixel, as astropy's
    spectral_density does it; no unit is taken as the model's, with a note."""
    predictor = Predictor(bundle, grid=False)
    assert predictor.flux_unit == "erg / (s cm2 um)"
    wave = np.linspace(1.0, 2.0, 30)
    si = predictor.ready(ObservedSpectrum(wave, np.ones(30), flux_unit="W / (m2 um)"))
    np.testing.assert_allclose(si.flux, 1000.0)
    jy = predictor.ready(ObservedSpectrum(wave, np.full(30, 2.0), 0.1 * np.ones(30),
                                          flux_unit="Jy"))
    expected = (2.0 * u.Jy).to_value(u.erg / u.s / u.cm**2 / u.um,
                                     equivalencies=u.spectral_density(wave * u.um))
    np.testing.assert_allclose(jy.flux, expected, rtol=1e-12)
    np.testing.assert_allclose(jy.uncertainty, expected / 20, rtol=1e-12)
    bare = predictor.ready(ObservedSpectrum(wave, np.ones(30)))
    assert any("no flux unit" in n for n in bare.meta["input_notes"])
    assert predictor.ready(bare).meta["input_notes"] == bare.meta["input_notes"]  # idempotent


def test_cli_predict_batch_skips_a_bad_file(bundle, module_grid, tmp_path, capsys):
    good = tmp_path / "good.txt"
    write_spectrum(good, module_grid, 20)
    bad = tmp_path / "bad.txt"
    bad.write_text("1 nan\n2 nan\n")
    out = tmp_path / "table.csv"
    # exit status 1: something failed; the good spectrum is answered, the bad one is a row
    assert main(["-q", "predict", str(bundle), str(good), str(bad), "--out", str(out),
                 "--samples", "300", "--plots", str(tmp_path / "plots")]) == 1
    err = capsys.readouterr().err
    assert "skipped" in err and "bad.txt" in err
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == 2 and rows[1]["source"].endswith("bad.txt")
    assert rows[1]["flag"].startswith("error: ") and rows[0]["teff_p50"]
    rows = rows[:1]
    assert list(rows[0])[:5] == ["source", "scale", "model", "teff_p50", "teff_p16"]
    assert rows[0]["scale"] == "atmosphere grid" and rows[0]["model"] == "model"
    assert {"chi2_red", "flag", "mh_p97.5"} <= set(rows[0])
    assert list((tmp_path / "plots").glob("*_corner.png"))
    assert list((tmp_path / "plots").glob("*_fit.png"))


def test_benchmark_json(bundle, module_grid, tmp_path, capsys):
    rows = []
    for k, index in enumerate((4, 17, 30)):
        write_spectrum(tmp_path / f"o{k}.txt", module_grid, index, seed=k)
        rows.append({"name": f"obj{k}", "data_file": f"o{k}.txt", "spt": "T5",
                     "teff": module_grid.params["teff"][index], "teff_err": 50,
                     "logg": module_grid.params["logg"][index], "logg_err": 0.3})
    rows.append({"name": "cold", "data_file": "o0.txt", "spt": "Y0", "teff": 400,
                 "teff_err": 50, "logg": 4.5, "logg_err": 0.3})
    table = tmp_path / "objects.csv"
    with table.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    result = run_benchmark(Predictor(bundle), table, n_samples=300, progress=False)
    assert result["n"] == 4 and result["n_in_range"] == 3
    assert set(result["in_range"]) == {"teff", "logg"}
    assert set(result["in_range"]["teff"]) == {"rmse", "mae", "bias", "consistent",
                                               "median_half_width", "consistent_95",
                                               "median_half_width_95", "n"}
    assert 0 <= result["in_range"]["teff"]["consistent"] <= 1
    assert result["in_range"]["teff"]["consistent_95"] >= result["in_range"]["teff"]["consistent"]
    assert result["scale"] == "atmosphere grid"
    # the simplest honest answers on the same objects: T5 -> 1033 K for every object
    lookup = result["baselines"]["spectral-type lookup (Filippazzo et al. 2015)"]["teff"]
    truth = np.array([module_grid.params["teff"][i] for i in (4, 17, 30)])
    assert lookup["bias"] == pytest.approx(1033.0 - truth.mean(), abs=1.0)
    assert set(result["baselines"]["chi2 grid fit (nearest node, shipped grids)"]) == {
        "teff", "logg"}
    constant = result["baselines"]["constant (median of the objects' literature values)"]
    assert constant["teff"]["rmse"] == pytest.approx(
        np.sqrt(np.mean((np.median(truth) - truth) ** 2)))
    assert {"in_range_flagged", "in_range_unflagged"} <= set(result)
    assert {"name", "teff_p50", "teff_p16", "teff_p84", "flag"} <= set(result["objects"][0])
    assert set(result["flagged"]) | set(result["missed"]) >= {"cold"}
    assert main(["benchmark", str(bundle), "--objects", str(table), "--json",
                 "--samples", "200", "--plot", str(tmp_path / "bench.png")]) == 0
    assert json.loads(capsys.readouterr().out)["n"] == 4  # stdout is the JSON alone
    assert main(["-q", "benchmark", str(bundle), "--objects", str(table), "--samples",
                 "200"]) == 0
    text = capsys.readouterr().out
    assert "scale of the numbers: atmosphere-grid parameters" in text
    assert "baselines on the same in-range objects" in text and "spectral-type lookup" in text
    assert (tmp_path / "bench.png").stat().st_size > 1000
    (tmp_path / "broken.csv").write_text("name,teff\nx,1\n")
    with pytest.raises(DataError, match="missing columns data_file"):
        run_benchmark(Predictor(bundle), tmp_path / "broken.csv", progress=False)


def test_another_instrument_is_flagged_by_name(bundle, module_grid, tmp_path):
    predictor = Predictor(bundle)
    same = predictor.predict(write_spectrum(tmp_path / "ok.txt", module_grid, 20),
                             n_samples=200)
    assert not [f for f in same.flags if f.startswith("another instrument?")]
    wide = np.linspace(0.6, 5.3, 400)  # a JWST NIRSpec PRISM-like coverage
    # sampled ~300x finer than the model, by no known instrument (R≈10,000 from its pixels;
    # at R≈1,500 it would be SpeX SXD, which the model reads once smoothed)
    fine = np.linspace(0.85, 2.45, 20000)
    for name, wave, words in (("wide", wide, "JWST NIRSpec PRISM spectrum, 0.60-5.30 µm"),
                              ("fine", fine, "finer than the model's pixels")):
        flux = np.interp(wave, module_grid.wavelength, module_grid.flux[20])
        path = tmp_path / f"{name}.txt"
        path.write_text("\n".join(f"{w:.6f} {f:.6e} {f / 50:.6e}"
                                  for w, f in zip(wave, flux, strict=True)))
        flags = [f for f in predictor.predict(path, n_samples=200).flags
                 if f.startswith("another instrument?")]
        assert len(flags) == 1 and words in flags[0], flags
        assert "0.90-2.40 µm" in flags[0]


def test_parameters_piling_at_a_grid_edge_are_limits(bundle):
    predictor = Predictor(bundle)
    rng = np.random.default_rng(0)
    samples = np.column_stack([rng.uniform(1000, 1100, 2000), rng.uniform(4.96, 5.0, 2000),
                               rng.uniform(-0.5, -0.48, 2000)])
    limits = {name: edge_limit(samples[:, predictor.names.index(name)], side)
              for name, side in edges(samples, predictor.names, predictor.ranges).items()}
    assert set(limits) == {"logg", "mh"}
    assert limits["logg"].startswith("> 4.96") and limits["mh"].startswith("< -0.48")
    prediction = Prediction(source="x", names=predictor.names, samples=samples,
                            wavelength=predictor.wavelength, observed=predictor.wavelength,
                            uncertainty=predictor.wavelength, limits=limits)
    logg_line = next(line for line in prediction.summary().splitlines()
                     if line.strip().startswith("logg"))
    assert limits["logg"] in logg_line and "a limit, not a measurement" in logg_line
    assert prediction.row()["logg_limit"] == limits["logg"] and prediction.row()["teff_limit"] == ""


def test_benchmark_metrics_say_whether_error_bars_hold():
    from telescopeml.evaluation.benchmark import _metrics

    m = _metrics(np.array([100.0, 200.0]), np.array([110.0, 150.0]), np.array([5.0, 10.0]),
                 np.array([10.0, np.nan]))
    assert m["bias"] == pytest.approx(20.0) and m["median_half_width"] == pytest.approx(7.5)
    # 10 <= hypot(5, 10) holds; 50 > 10 (a missing literature error counts as zero)
    assert m["consistent"] == pytest.approx(0.5)


def test_predict_many_keeps_order_and_isolates_failures(bundle, module_grid, tmp_path):
    predictor = Predictor(bundle)
    files = [write_spectrum(tmp_path / f"s{i}.txt", module_grid, i, seed=i).source
             for i in (3, 30)]
    bad = tmp_path / "bad.txt"
    bad.write_text("1 nan\n2 nan\n")
    results = predictor.predict_many([files[0], bad, files[1]], n_samples=300)
    assert isinstance(results[1], DataError) and "bad.txt" in str(results[1])
    for result, path, index in zip((results[0], results[2]), files, (3, 30), strict=True):
        assert isinstance(result, Prediction) and result.samples.shape == (300, 3)
        single = predictor.predict(path, n_samples=300)
        assert abs(result.median["teff"] - single.median["teff"]) < 25
        assert abs(result.median["teff"] - module_grid.params["teff"][index]) < 150


def test_cli_list_table_with_distances_gives_radius_and_mass(bundle, module_grid, tmp_path):
    """`predict --list TABLE`: one row with a distance (radius and mass), one without."""
    from astropy.table import QTable

    for name, index in (("near", 17), ("far", 20)):
        spectrum = write_spectrum(tmp_path / f"{name}.txt", module_grid, index)
        QTable({"wavelength": spectrum.wavelength * u.um,
                "flux": spectrum.flux * u.Unit(spectrum.flux_unit),
                "uncertainty": spectrum.uncertainty * u.Unit(spectrum.flux_unit)}).write(
            tmp_path / f"{name}.ecsv")
    (tmp_path / "targets.csv").write_text("file,distance_pc,distance_err_pc\n"
                                          "near.ecsv,10,0.5\nfar.ecsv,,\n")
    out = tmp_path / "table.csv"
    assert main(["predict", str(bundle), "--list", str(tmp_path / "targets.csv"),
                 "--out", str(out), "--samples", "400", "--quiet"]) == 0
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == 2
    measured = [r for r in rows if np.isfinite(float(r.get("radius_rjup_p50") or "nan"))]
    assert len(measured) == 1  # the row without a distance has no radius
    near = measured[0]
    # the spectrum is 1e-20 x the grid's surface flux: R = 1e-10 x 10 pc
    expected = (1e-10 * 10 * u.pc).to_value(u.R_jup)
    assert abs(float(near["radius_rjup_p50"]) / expected - 1) < 0.1
    assert float(near["mass_mjup_p50"]) > 0
    with pytest.raises(SystemExit) as info:  # a usage error
        main(["predict", str(bundle), str(tmp_path / "near.ecsv"), "--distance", "-3"])
    assert info.value.code == 2


@pytest.mark.network
def test_cli_predicts_library_spectra_by_name(capsys):
    """An object name, and the file name that `telescopeml data spectra` lists."""
    assert main(["predict", "2MASS J15031961+2525196", "10021_11106.fits", "--samples",
                 "500", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert out.count("2MASS J15031961+2525196") == 2
    assert main(["predict", "no such object anywhere", "--quiet"]) == 2
    assert "no such file, and no spectrum of that name" in capsys.readouterr().err


def test_a_specutils_spectrum_is_predicted_directly(bundle, module_grid, tmp_path):
    """Anything with a spectral_axis and a flux Quantity (specutils' Spectrum) is accepted
    by Predictor.predict without specutils itself."""
    from types import SimpleNamespace

    spectrum = write_spectrum(tmp_path / "s.txt", module_grid, 17)
    unit = u.Unit(spectrum.flux_unit)
    duck = SimpleNamespace(spectral_axis=spectrum.wavelength * 1e4 * u.AA,
                           flux=spectrum.flux * unit, uncertainty=None, mask=None,
                           meta={"name": "duck"})
    predictor = Predictor(bundle, grid=False)
    found = predictor.predict(duck, n_samples=300)
    expected = predictor.predict(spectrum._derive(uncertainty=None), n_samples=300)
    assert found.source == "duck"
    assert found.median["teff"] == pytest.approx(expected.median["teff"], rel=1e-6)


def test_the_answer_does_not_depend_on_the_flux_scale(bundle, module_grid, tmp_path):
    """A spectrum scaled by 1e-45 or 1e60 (float32 underflows and overflows there) gets the
    same answer and no featureless flag: the network reads shapes."""
    predictor = Predictor(bundle, fast=True)
    spectrum = write_spectrum(tmp_path / "s.txt", module_grid, 20, unit="")
    answers = {}
    for scale in (1.0, 1e-45, 1e60):
        scaled = spectrum._derive(flux=spectrum.flux * scale,
                                  uncertainty=spectrum.uncertainty * scale)
        prediction = predictor.predict(scaled, n_samples=300)
        assert not [f for f in prediction.flags if f.startswith("featureless")]
        answers[scale] = prediction.median
    for scale in (1e-45, 1e60):
        for name, value in answers[1.0].items():
            assert answers[scale][name] == pytest.approx(value, rel=1e-5, abs=1e-6)


@pytest.mark.filterwarnings("ignore:.*dropped 100 of 400")
def test_a_sparse_or_mostly_nan_spectrum_is_refused_or_noted(bundle, module_grid, tmp_path):
    predictor = Predictor(bundle, grid=False)
    wave = np.linspace(0.85, 2.45, 400)
    flux = np.interp(wave, module_grid.wavelength, module_grid.flux[20])
    coarse = np.linspace(0.85, 2.45, 12)  # 12 pixels across the model's range
    level = np.interp(coarse, wave, flux)
    sparse = ObservedSpectrum(coarse, level, level / 50, name="sparse")
    with pytest.raises(DataError, match=r"measured pixels inside the model's .* too sparse"):
        predictor.predict(sparse, n_samples=100)
    holed = flux.copy()
    holed[::4] = np.nan  # a quarter of the pixels unreadable: dropped, and said so
    path = tmp_path / "holed.txt"
    path.write_text("\n".join(f"{w:.6f} {f:.6e} {f / 50:.6e}" for w, f in zip(wave, holed,
                                                                               strict=True)))
    prediction = predictor.predict(path, n_samples=100)
    assert any("100 of 400 pixels dropped on reading" in n for n in prediction.notes)


def test_a_manifest_edited_to_zero_spread_is_refused(bundle, tmp_path):
    """A parameter scaling of spread 0 would give zero-width intervals: refused, whether the
    manifest was edited by hand (its integrity digest) or written so (the scaling's check)."""
    import shutil

    from telescopeml.bundle import seal

    copy = shutil.copytree(bundle, tmp_path / "copy")
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["transforms"]["parameters"]["std"] = [0.0] * len(manifest["parameters"]["names"])
    (copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(DataError, match="integrity digest does not match"):
        Predictor(copy, grid=False)
    (copy / "manifest.json").write_text(json.dumps(seal(manifest)))
    with pytest.raises(DataError, match=r"inconsistent bundle.*std > 0"):
        Predictor(copy, grid=False)
