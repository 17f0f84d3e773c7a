"""End to end on a tiny grid: config, train, bundle, evaluate, CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest

from telescopeml.bundle import load_bundle
from telescopeml.cli import main
from telescopeml.data.prepared import prepared_from_manifest
from telescopeml.errors import DataError, UnknownNameError
from telescopeml.evaluation.evaluate import evaluate_bundle
from telescopeml.training.experiment import ExperimentConfig, prepare, train

TINY = {
    "model": {"architecture": "mlp", "dense": [32], "dropout": 0.0},
    "train": {"epochs": 3, "batch_size": 32, "checkpoint_every": 0, "patience": 0},
    "augment": {"n_interpolated": 64},
}


@pytest.fixture
def grid_file(toy_grid, tmp_path):
    return toy_grid.to_hdf5(tmp_path / "toy.h5")


def tiny_config(grid_file, **data) -> ExperimentConfig:
    sections = {**TINY, "data": {"grid": str(grid_file), "instrument": "", **data}}
    return ExperimentConfig.from_dict(sections)


def test_config_round_trip_and_presets(tmp_path):
    config = ExperimentConfig.from_dict({"train": {"epochs": 7}}, preset="telescopeml")
    assert config.model["architecture"] == "telescopeml" and config.train.loss == "huber"
    assert config.train.epochs == 7 and not config.data.uncertainty_channel
    again = ExperimentConfig.from_toml(config.to_toml(tmp_path / "c.toml"), preset="telescopeml")
    assert again.to_dict() == config.to_dict()
    with pytest.raises(UnknownNameError,
                       match="valid: default, mlp, posterior, telescopeml, telescopeml-median"):
        ExperimentConfig.from_dict({}, preset="nope")
    (tmp_path / "bad.toml").write_text("[data]\nnot_a_key = 1\n")
    with pytest.raises(DataError, match=r"bad\.toml: \[data\] unknown DataConfig keys"):
        ExperimentConfig.from_toml(tmp_path / "bad.toml")
    with pytest.raises(UnknownNameError, match="normalizer"):
        ExperimentConfig.from_dict({"data": {"normalization": "nope"}})


def test_the_default_model_is_a_small_ensemble_and_other_choices_start_from_their_own():
    default = ExperimentConfig.from_dict({})
    assert default.model == {"architecture": "hybrid", "head": "point", "members": 3,
                             "filters": (16, 16), "dense": (256, 128)}
    assert default.augment.node_scatter == 0.5
    posterior = ExperimentConfig.from_dict({}, preset="posterior")
    assert "members" not in posterior.model and posterior.augment.node_scatter == 0.0
    assert "members" not in ExperimentConfig.from_dict({"model": {"head": "gaussian"}}).model
    assert "filters" not in ExperimentConfig.from_dict({"model": {"architecture": "mlp"}}).model
    wider = ExperimentConfig.from_dict({"model": {"dense": [64]}}).model
    assert wider["members"] == 3 and wider["dense"] == [64]


def test_transforms_are_fit_on_training_points_only(grid_file, toy_grid):
    prepared = prepare(tiny_config(grid_file))
    train_teff = toy_grid.params["teff"][prepared.split.train]
    assert prepared.targets == ["teff", "logg", "mh"]
    # the scaler saw only training labels (and interpolations between them)
    assert prepared.scaler.mean_[0] == pytest.approx(np.log10(train_teff).mean(), abs=0.02)
    assert set(prepared.split.train).isdisjoint(prepared.split.test)


def test_train_writes_a_bundle_that_evaluates_the_same(grid_file, tmp_path):
    out = train(tiny_config(grid_file), tmp_path / "model", progress=False, command="test")
    for name in ("manifest.json", "model.safetensors", "config.toml", "train.toml",
                 "history.csv", "loss_curve.png", "evaluation.json"):
        assert (out / name).is_file(), name
    bundle = load_bundle(out)
    manifest = bundle.manifest
    assert manifest["parameters"]["names"] == ["teff", "logg", "mh"]
    assert manifest["command"] == "test" and len(manifest["wavelength"]) == 60
    assert manifest["grid"]["checksum"]
    saved = json.loads((out / "evaluation.json").read_text())
    assert set(saved["snr"]) == {"clean", "10", "30", "100"}
    assert set(saved["baselines"]) == {"nearest_grid_chi2", "interpolated_grid_chi2",
                                       "random_forest"}
    assert saved["n_test"] == len(manifest["split"]["test"])
    # the training loss's measure on the test points: on the scale of the validation loss
    mse = saved["scaled_mse"]
    assert set(mse["by_snr"]) == {"clean", "10", "30", "100"}
    assert mse["mean"] == pytest.approx(np.mean(list(mse["by_snr"].values())))
    best_val = min(row["val_loss"] for row in json.loads((out / "history.json").read_text()))
    assert best_val / 4 < mse["mean"] < best_val * 4
    again = evaluate_bundle(out, baselines=False, progress=False)
    for key in ("clean", "30"):
        for param, values in saved["snr"][key].items():
            assert again["snr"][key][param]["rmse"] == pytest.approx(values["rmse"], rel=1e-5)


def test_windows_round_trip_through_the_bundle(grid_file, tmp_path, toy_grid):
    windows = [(1.0, 1.4), (2.0, 2.4)]
    config = tiny_config(grid_file, windows=[list(w) for w in windows])
    assert config.data.windows == ((1.0, 1.4), (2.0, 2.4))
    again = ExperimentConfig.from_toml(config.to_toml(tmp_path / "c.toml"))
    assert again.data.windows == config.data.windows
    with pytest.raises(ValueError, match="low must be below high"):
        tiny_config(grid_file, windows=[(2.0, 1.0)])
    out = train(config, tmp_path / "model", progress=False, baselines=False)
    manifest = load_bundle(out).manifest
    assert manifest["training"]["config"]["data"]["windows"] == [[1.0, 1.4], [2.0, 2.4]]
    expected = toy_grid.keep_windows(windows).wavelength
    np.testing.assert_array_equal(manifest["wavelength"], expected)
    rebuilt = prepared_from_manifest(manifest)  # what evaluate_bundle and Predictor rebuild
    np.testing.assert_array_equal(rebuilt.grid.wavelength, expected)
    saved = json.loads((out / "evaluation.json").read_text())
    again = evaluate_bundle(out, baselines=False, progress=False)
    assert again["snr"]["30"]["teff"]["rmse"] == pytest.approx(
        saved["snr"]["30"]["teff"]["rmse"], rel=1e-5)


def test_evaluate_refuses_a_changed_grid(grid_file, tmp_path, toy_grid):
    out = train(tiny_config(grid_file), tmp_path / "model", progress=False)
    flux = toy_grid.flux_array()
    flux[0] *= 1.01
    toy_grid.with_flux(flux).to_hdf5(grid_file)
    with pytest.raises(DataError, match="differs from the one this model was trained on"):
        evaluate_bundle(out, baselines=False, progress=False)


def test_cli_train_and_evaluate_json(grid_file, tmp_path, capsys):
    config = tiny_config(grid_file)
    config.to_toml(tmp_path / "tiny.toml")
    out = tmp_path / "models" / "tiny"
    assert main(["-q", "train", "--config", str(tmp_path / "tiny.toml"), "--out", str(out),
                 "--epochs", "2"]) == 0
    table = capsys.readouterr().out
    assert "random_forest (all)" in table and "network (all)" in table
    assert not (out / "checkpoint").exists()  # a finished run keeps its bundle, not 16 MB
    assert main(["evaluate", str(out), "--json", "--no-baselines"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["model"] == str(out) and result["grid"] == "toy"
    assert set(result["snr"]["30"]) == {"teff", "logg", "mh"}
    assert set(result["snr"]["30"]["teff"]) == {"rmse", "mae", "bias", "r2"}
    assert main(["evaluate", str(tmp_path / "missing")]) == 2
    assert "telescopeml: error:" in capsys.readouterr().err
    bare = tmp_path / "models" / "bare"
    assert main(["-q", "train", "--config", str(tmp_path / "tiny.toml"), "--out", str(bare),
                 "--epochs", "1", "--no-baselines"]) == 0
    assert "random_forest" not in capsys.readouterr().out
    saved = json.loads((bare / "evaluation.json").read_text())
    assert saved["baselines"] == {} and set(saved["snr"]["30"]) == {"teff", "logg", "mh"}


def test_validation_draws_extend_the_validation_loss_set(grid_file):
    from telescopeml.training.experiment import validation_set

    config = tiny_config(grid_file)
    prepared = prepare(config)
    one = validation_set(config, prepared)
    four = validation_set(config, prepared, draws=4)
    n_val = len(prepared.split.val)
    finite = sum(1 for level in config.data.val_snr if level)
    assert len(one) == n_val * len(config.data.val_snr)
    assert len(four) == len(one) + 3 * finite * n_val  # clean spectra are drawn once
    # the first draw at each level is the validation loss's; the others are new noise
    np.testing.assert_array_equal(four.flux[:n_val], one.flux[:n_val])
    np.testing.assert_array_equal(four.flux[n_val:2 * n_val], one.flux[n_val:2 * n_val])
    assert not np.allclose(four.flux[2 * n_val:3 * n_val], one.flux[n_val:2 * n_val])


def test_posterior_preset_trains_a_bounded_flow(grid_file, tmp_path, toy_grid):
    from telescopeml.predict import Predictor

    sections = {**TINY, "data": {"grid": str(grid_file), "instrument": ""}}
    sections["model"] = {**TINY["model"], "flow_transforms": 1, "flow_hidden": [16]}
    sections["train"] = {**TINY["train"], "epochs": 2}
    config = ExperimentConfig.from_dict(sections, preset="posterior")
    assert config.model["head"] == "flow" and config.train.loss == "nll"
    out = train(config, tmp_path / "flow", progress=False)
    calibration = json.loads((out / "calibration.json").read_text())
    assert set(calibration["coverage"]) == {"teff", "logg", "mh"}
    assert len(calibration["levels"]) == len(calibration["coverage"]["teff"])
    assert 0 <= calibration["tarp"]["distance"] <= 1
    assert all(w > 0 for w in calibration["median_width68"].values())
    bundle = load_bundle(out)
    assert "passed" in bundle.manifest["metrics"]["calibration"]["check"]
    stretch = bundle.manifest["posterior"]["stretch"]  # recalibrated on validation points
    assert set(stretch["factors"]) == {"teff", "logg", "mh"}
    assert len(stretch["snr"]) == len(config.data.val_snr)  # one curve per validation S/N
    assert all(np.shape(v) == (len(stretch["snr"]), len(stretch["levels"]))
               for v in stretch["factors"].values())
    factors = bundle.model.flow.recalibration.factors
    np.testing.assert_allclose(factors[..., 0], stretch["factors"]["teff"])
    predictor = Predictor(out)
    flux = toy_grid.flux_array()[:3]
    samples = predictor.sample_posterior(flux, flux / 30, n_samples=400)
    assert samples.shape == (400, 3, 3)
    for j, name in enumerate(("teff", "logg", "mh")):
        low, high = toy_grid.params[name].min(), toy_grid.params[name].max()
        pad = 0.0125 * (high - low)  # 1% box margin, in log Teff for Teff
        assert samples[..., j].min() >= low - pad and samples[..., j].max() <= high + pad


def test_an_ensemble_trains_each_member_on_its_own_loss(grid_file, tmp_path):
    import torch

    from telescopeml.training.config import TrainConfig
    from telescopeml.training.trainer import Trainer

    config = tiny_config(grid_file)
    config.model["members"] = 2
    out = train(config, tmp_path / "model", progress=False, command="test")
    bundle = load_bundle(out)
    assert bundle.config.members == 2 and len(bundle.model.members) == 2
    # the loss is the mean of the members' losses, not the loss of their mean
    trainer = Trainer(bundle.model, TrainConfig(), tmp_path / "t", progress=False)
    x = torch.randn(8, bundle.config.in_channels, bundle.config.n_wavelengths)
    y = torch.randn(8, bundle.config.n_outputs)
    with torch.no_grad():
        each = bundle.model.member_outputs(x)
        expected = torch.stack([((e - y) ** 2).mean() for e in each]).mean()
        assert trainer._loss(x, None, y) == pytest.approx(float(expected), rel=1e-5)
        assert float(expected) > float(((each.mean(0) - y) ** 2).mean())
    again = evaluate_bundle(out, baselines=False, progress=False)
    saved = json.loads((out / "evaluation.json").read_text())
    assert again["snr"]["30"]["teff"]["rmse"] == pytest.approx(
        saved["snr"]["30"]["teff"]["rmse"], rel=1e-5)
    from telescopeml.predict import Predictor

    prepared = prepared_from_manifest(bundle.manifest)
    flux = prepared.grid.take(prepared.split.test[:3]).flux_array()
    engines = [Predictor(out, grid=False, engine=e) for e in ("numpy", "torch")]
    x, _ = engines[0].encoder.encode(flux, flux / 50)
    np.testing.assert_allclose(engines[0].network.embed(x), engines[1].network.embed(x),
                               atol=2e-5, rtol=1e-5)
