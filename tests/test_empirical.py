"""The empirical scale: NumPy regressors against scikit-learn, conformal error bars, fitting on
labeled objects, save/load, flags, the shipped layer and the real-data baselines."""

from __future__ import annotations

import json

import numpy as np
import pytest

from telescopeml import pretrained
from telescopeml.empirical import (
    ARRAYS_FILE,
    META_FILE,
    EmpiricalModel,
)
from telescopeml.errors import DataError
from telescopeml.evaluation.real_baselines import (
    chi2_grid_fit,
    spectral_type_number,
    spectral_type_teff,
)
from telescopeml.mismatch import model_term_draws
from telescopeml.models.regressors import GaussianProcess
from telescopeml.predict import Prediction
from telescopeml.pretrained import Choice
from telescopeml.tables import samples_table
from telescopeml.training import empirical as fitting

MODELS = ["atmo20pp-spex", "dback24-spex"]


def test_gaussian_process_matches_scikit_learn():
    from sklearn.gaussian_process import GaussianProcessRegressor

    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 3))
    y = np.sin(x[:, 0]) + 0.5 * x[:, 1] + rng.normal(0, 0.1, 60)
    config = fitting.EmpiricalConfig()
    gp, _, y_mean, y_std = fitting._fit_parameter(x, y, config)
    reference = GaussianProcessRegressor(
        fitting_kernel(gp), optimizer=None).fit(x, (y - y_mean) / y_std)
    test = rng.normal(size=(10, 3))
    mean, std = reference.predict(test, return_std=True)
    np.testing.assert_allclose(gp.predict(test), mean, rtol=1e-6, atol=1e-8)
    # sklearn's std includes the white noise; typicality is the latent part over the prior
    latent = np.sqrt(np.clip(std**2 - gp.noise, 0, None) / gp.amplitude)
    np.testing.assert_allclose(gp.typicality(test), latent, atol=1e-5)
    far = gp.typicality(np.full((1, 3), 50.0))[0]
    assert far == pytest.approx(1.0, abs=1e-6)  # nothing like any training input
    assert gp.typicality(x[:5]).max() < 0.5
    restored = GaussianProcess.from_arrays(gp.arrays("g"), "g")
    np.testing.assert_allclose(restored.predict(test), gp.predict(test))


def fitting_kernel(gp: GaussianProcess):
    from sklearn.gaussian_process.kernels import RBF, WhiteKernel
    from sklearn.gaussian_process.kernels import ConstantKernel as C

    return C(gp.amplitude) * RBF(gp.length_scale) + WhiteKernel(gp.noise)


def test_tree_ensemble_matches_scikit_learn():
    from sklearn.ensemble import GradientBoostingRegressor

    rng = np.random.default_rng(1)
    x = rng.normal(size=(200, 4))
    y = 3 * x[:, 0] ** 2 - x[:, 2] + rng.normal(0, 0.1, 200)
    gbr = GradientBoostingRegressor(n_estimators=50, max_depth=3, random_state=0).fit(x, y)
    trees = fitting.trees_from_sklearn(gbr)
    test = rng.normal(size=(100, 4))
    np.testing.assert_allclose(trees.predict(test), gbr.predict(test), rtol=1e-10)
    restored = type(trees).from_arrays(trees.arrays("t"), "t")
    np.testing.assert_allclose(restored.predict(test), gbr.predict(test), rtol=1e-10)


def test_conformal_quantile_takes_out_the_literature_error():
    z = np.abs(np.random.default_rng(2).standard_normal(2000))
    plain = fitting._conformal_deconvolved(z, np.zeros_like(z), 0.68, 1.0)
    assert plain == pytest.approx(np.quantile(z, 0.68), abs=0.02)
    assert plain == pytest.approx(0.994, abs=0.06)
    # residuals that already contain a literature error of 0.5: the interval for the truth
    # is narrower, and widened by that error it holds 68% again
    with_lit = fitting._conformal_deconvolved(z, np.full_like(z, 0.5), 0.68, 1.0)
    assert with_lit < plain
    assert np.mean(z <= np.hypot(with_lit, 0.5)) == pytest.approx(0.68, abs=0.01)


def test_model_term_draws_have_the_conformal_quantiles():
    draws = model_term_draws({"68": 0.8, "95": 2.5}, 200000, np.random.default_rng(3))
    assert np.quantile(np.abs(draws), 0.68) == pytest.approx(0.8, rel=0.02)
    assert np.quantile(np.abs(draws), 0.95) == pytest.approx(2.5, rel=0.02)
    assert abs(np.median(draws)) < 0.01


# --- fitting on synthetic labeled objects ---------------------------------------------------
def synthetic_set(n: int = 120, seed: int = 0) -> fitting.LabeledSet:
    """Objects whose grid models read Teff 200 K too hot (plus scatter), like real L dwarfs."""
    rng = np.random.default_rng(seed)
    wavelength = np.linspace(0.9, 2.4, 80)
    teff = rng.uniform(700, 2300, n)
    logg = rng.uniform(4.0, 5.4, n)
    grid_teff = teff + 200 + rng.normal(0, 60, n)
    # atmo20pp: teff, logg, mh, log chi2; dback24: teff, logg, mh, inv_fsed, log chi2
    grid = np.column_stack([
        np.clip(grid_teff, 250, 1200), logg + rng.normal(0, 0.2, n), rng.normal(0, 0.2, n),
        rng.normal(1, 0.3, n),
        np.clip(grid_teff, 900, 2400), logg + rng.normal(0, 0.2, n), rng.normal(0, 0.2, n),
        rng.uniform(0, 1, n), rng.normal(1, 0.3, n)])
    shape = (wavelength[None, :] - 1.6) * (teff[:, None] - 1500) / 1000
    flux = np.exp(-shape) * (1 + rng.normal(0, 0.01, (n, wavelength.size)))
    rows = [{"name": f"obj{i}", "spt": "L5" if t > 1300 else "T5",
             "young_or_lowg": str(i % 5 == 0)} for i, t in enumerate(teff)]
    return fitting.LabeledSet(rows, flux, wavelength, grid, grid[:, 3], {"teff": teff,
                              "logg": logg}, {"teff": np.full(n, 40.0),
                                              "logg": np.full(n, 0.1)}, [])


@pytest.fixture(scope="module")
def fitted():
    config = fitting.EmpiricalConfig(grid_models=MODELS, folds=5, trees=60, n_components=3)
    return fitting.fit_empirical(config, progress=False, data=synthetic_set())


def test_fit_learns_the_offset_and_calibrates_its_error_bars(fitted):
    model, report = fitted
    # the grid reads 200 K hot with 60 K scatter: the empirical scale removes the offset
    assert report["teff"]["rmse"] < 110
    assert abs(report["teff"]["bias"]) < 30
    for level, target in (("68", 0.68), ("95", 0.95)):
        assert report["teff"][f"consistent_{level}"] == pytest.approx(target, abs=0.04)
    assert 0 < report["flagged_fraction"] < 0.4
    assert model.meta["format"] == "telescopeml-empirical"
    assert model.meta["grid_models"] == MODELS
    assert model.meta["feature_names"][:4] == ["atmo20pp-spex:teff", "atmo20pp-spex:logg",
                                               "atmo20pp-spex:mh", "atmo20pp-spex:log_chi2"]
    assert model.meta["config"]["seed"] == 0 and model.meta["telescopeml_version"]


def fake_choice(model: EmpiricalModel, grid_row: np.ndarray, flux: np.ndarray) -> Choice:
    """A Choice whose grid predictions have the medians and χ² of ``grid_row``."""
    rng = np.random.default_rng(0)
    results, start = {}, 0
    for name in MODELS:
        names = pretrained.available()[name]["parameters"]["names"]
        medians = grid_row[start:start + len(names)]
        samples = medians + rng.normal(0, 1e-3, (400, len(names))) * np.abs(medians).clip(1)
        results[name] = Prediction(source="toy", names=list(names), samples=samples,
                                   wavelength=model.wavelength, observed=flux,
                                   uncertainty=flux / 50,
                                   chi2_red=float(10 ** grid_row[start + len(names)]))
        start += len(names) + 1
    return Choice(MODELS[1], results[MODELS[1]], {}, results)


def test_saved_model_predicts_the_same_and_refuses_damage(fitted, tmp_path):
    model, _ = fitted
    data = synthetic_set(n=5, seed=9)
    path = model.save(tmp_path / "emp")
    loaded = EmpiricalModel.load(path)
    choice = fake_choice(loaded, data.grid[0], data.flux[0])
    a = model.apply(choice, n_samples=4000, seed=1)
    b = loaded.apply(choice, n_samples=4000, seed=1)
    np.testing.assert_allclose(a.samples, b.samples)
    # every parameter the grid model gives is shown: [M/H] and clouds on the grid's scale
    assert a.scale == "empirical" and a.names == ["teff", "logg", "mh", "inv_fsed"]
    assert a.parameter_scales == {"mh": "atmosphere grid", "inv_fsed": "atmosphere grid"}
    grid_mh = choice.prediction.samples[:, choice.prediction.names.index("mh")]
    assert a.median["mh"] == pytest.approx(np.median(grid_mh), abs=1e-3)
    assert a.to_json()["parameters"]["mh"]["scale"] == "atmosphere grid"
    assert a.to_json()["parameters"]["teff"]["scale"] == "empirical"
    assert "parameter_scales" in samples_table(a).meta
    mh_line = next(line for line in a.summary().splitlines() if line.strip().startswith("mh"))
    assert "68%" in mh_line and "[atmosphere grid scale]" in mh_line
    assert abs(a.median["teff"] - data.labels["teff"][0]) < 300
    assert set(a.errors["teff"]) == {"statistical", "systematic"}
    assert a.errors["teff"]["systematic"] > a.errors["teff"]["statistical"]
    row = a.row()
    assert row["scale"] == "empirical" and row["teff_sys"] > 0 and "typicality" in row
    assert row["mh_scale"] == "atmosphere grid" and "teff_scale" not in row
    assert np.isfinite(row["inv_fsed_p16"]) and row["inv_fsed_p16"] <= row["inv_fsed_p84"]
    assert "scale: empirical" in a.summary() and " K " in a.summary()

    meta = json.loads((path / META_FILE).read_text())
    (path / META_FILE).write_text(json.dumps({**meta, "format_version": 99}))
    with pytest.raises(DataError, match="format version 99"):
        EmpiricalModel.load(path)
    (path / META_FILE).write_text(json.dumps({**meta, "feature_names": ["a", "b"]}))
    with pytest.raises(DataError, match="inconsistent empirical-scale model: 2 feature names"):
        EmpiricalModel.load(path)
    (path / META_FILE).write_text(json.dumps(meta))
    raw = bytearray((path / ARRAYS_FILE).read_bytes())
    raw[-5] ^= 0xFF
    (path / ARRAYS_FILE).write_bytes(bytes(raw))
    with pytest.raises(DataError, match="checksum"):
        EmpiricalModel.load(path)
    with pytest.raises(DataError, match="not an empirical-scale model"):
        EmpiricalModel.load(tmp_path)


def test_an_unfamiliar_spectrum_is_flagged(fitted):
    model, _ = fitted
    data = synthetic_set(n=5, seed=9)
    odd = data.grid[0].copy()
    odd[[0, 4]] = [250.0, 2400.0]  # the two grids disagree by 2000 K
    prediction = model.apply(fake_choice(model, odd, data.flux[0] ** 3), n_samples=2000)
    assert any("disagree" in f or "unlike the labeled" in f for f in prediction.flags)
    typical = model.apply(fake_choice(model, data.grid[1], data.flux[1]), n_samples=2000)
    assert typical.scores["typicality"] < prediction.scores["typicality"] or not any(
        "unlike" in f for f in typical.flags)


# --- the shipped layer ------------------------------------------------------------------------
def test_shipped_layer_is_small_recorded_and_chosen_by_the_dev_benchmark():
    model = pretrained.load_empirical()
    size = sum(f.stat().st_size for f in model.path.iterdir())
    assert size < 2e6
    meta = model.meta
    assert meta["command"] == "python scripts/build_empirical.py"
    assert meta["data"]["objects"] == "train_objects.csv" and meta["data"]["n_objects"] > 300
    assert sorted(meta["grid_models"]) == sorted(pretrained.made_for("SPEX-PRISM"))
    for name in meta["grid_models"]:  # fitted on what the shipped grid models say now
        assert meta["grid_model_weights"][name] == \
            pretrained.available()[name]["weights"]["sha256"]
    dev = meta["dev_benchmark"]
    scale, reason = pretrained.default_scale()
    assert scale == ("empirical" if dev["empirical"]["teff_rmse"] <= dev["grid"]["teff_rmse"]
                     else "grid")
    assert "dev benchmark" in reason
    cv = meta["cross_validation"]["teff"]
    assert 0.6 <= cv["consistent_68"] <= 0.76 and 0.9 <= cv["consistent_95"] <= 0.98


# --- baselines ----------------------------------------------------------------------------
def test_spectral_type_lookup_follows_filippazzo_2015():
    assert spectral_type_number("L4.5 beta") == 14.5
    assert spectral_type_number("sdT0") == 20.0
    assert np.isnan(spectral_type_number("unknown"))
    assert np.isnan(spectral_type_teff("M5"))  # outside M6-T9
    teffs = [spectral_type_teff(t) for t in ("M7", "L0", "L5", "T0", "T5", "T8")]
    assert np.all(np.diff(teffs) < 0)  # cooler down the types
    # the polynomial at L0 and T5 (Filippazzo et al. 2015, Table 10)
    assert spectral_type_teff("L0") == pytest.approx(2270, abs=80)
    assert spectral_type_teff("T5") == pytest.approx(1080, abs=80)


def test_chi2_grid_fit_finds_the_node_and_the_grid():
    rng = np.random.default_rng(4)
    a = rng.uniform(1, 2, (6, 30))
    b = rng.uniform(1, 2, (4, 30))
    grids = {"a": (a, {"teff": np.arange(6) * 100.0}, None),
             "b": (b, {"teff": 1000 + np.arange(4.0)}, None)}
    fit = chi2_grid_fit(3.0 * b[2], np.full(30, 0.01), grids)
    assert fit["teff"] == 1002.0 and fit["grid"] == 1.0 and fit["chi2_red"] < 1e-6


# --- on real spectra (the splat wheel) ------------------------------------------------------
@pytest.mark.network
@pytest.mark.slow
def test_calibrate_then_predict_and_benchmark_real_spectra(network_cache, tmp_path, capsys):
    import csv
    from pathlib import Path

    from telescopeml.cli import main

    root = Path(__file__).resolve().parents[1] / "benchmarks" / "objects"

    def subset(name: str, step: int) -> Path:
        with open(root / name, newline="") as fh:
            rows = list(csv.DictReader(fh))[::step]
        path = tmp_path / name
        with path.open("w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
        return path

    train, dev = subset("train_objects.csv", 8), subset("dev_objects.csv", 12)
    out = tmp_path / "emp"
    assert main(["-q", "calibrate", "--objects", str(train), "--out", str(out),
                 "--folds", "3"]) == 0
    assert "cross-validated RMSE" in capsys.readouterr().out
    assert main(["-q", "calibrate", "--objects", str(train), "--out", str(out)]) == 2
    assert "--overwrite" in capsys.readouterr().err
    model = EmpiricalModel.load(out)
    assert model.meta["data"]["n_objects"] == 42 and model.meta["config"]["folds"] == 3
    assert main(["-q", "benchmark", "shipped", "--empirical", str(out), "--objects", str(dev),
                 "--json", "--samples", "500"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["scale"] == "empirical" and result["n"] == 11
    assert result["in_range"]["teff"]["rmse"] < 400  # 42 objects: rough, but a real answer
    assert "spectral-type lookup (Filippazzo et al. 2015)" in result["baselines"]
    spectrum = result["objects"][0]
    assert spectrum["teff_p2.5"] < spectrum["teff_p16"] < spectrum["teff_p50"] < \
        spectrum["teff_p84"] < spectrum["teff_p97.5"]
    assert spectrum["teff_sys"] > 0
