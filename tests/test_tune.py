"""Hyperparameter search: search-space format, a tiny SQLite study, pruning, and workers
sharing a PostgreSQL study (one of them killed)."""

from __future__ import annotations

import argparse
import csv
import os
import signal
import subprocess
import sys
import time
import uuid

import numpy as np
import optuna
import pytest

from telescopeml.cli.tune import register
from telescopeml.errors import DataError
from telescopeml.models import ModelConfig, build_model
from telescopeml.training import TrainConfig, Trainer
from telescopeml.training.experiment import ExperimentConfig
from telescopeml.training.search_space import SearchSpace
from telescopeml.training.storage import driver_url
from telescopeml.training.tune import tune

BASE = {
    "model": {"architecture": "mlp", "dense": [16, 8], "dropout": 0.0},
    "train": {"epochs": 2, "batch_size": 32, "checkpoint_every": 0, "patience": 0,
              "num_threads": 1},
    "augment": {"n_interpolated": 64},
}
SPACE = """
[space.train.lr]
type = "float"
low = 1e-4
high = 1e-2
log = true

[space.model.dense_0]
type = "int"
low = 8
high = 32
log = true

[space.model.dense_1]
type = "categorical"
choices = [8, 16]

[space.model.dropout]
type = "float"
low = 0.0
high = 0.2
"""


@pytest.fixture
def files(toy_grid, tmp_path):
    """``(config.toml, space.toml)`` of a tiny search on the toy grid."""
    grid = toy_grid.to_hdf5(tmp_path / "toy.h5")
    config = ExperimentConfig.from_dict({**BASE, "data": {"grid": str(grid),
                                                          "instrument": ""}})
    (tmp_path / "space.toml").write_text(SPACE)
    return config.to_toml(tmp_path / "config.toml"), tmp_path / "space.toml"


def run_cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("-q", "--quiet", action="store_true")
    register(parser.add_subparsers(), argparse.ArgumentParser(add_help=False))
    args = parser.parse_args(argv)
    return args.func(args)


def test_space_format_and_validation(tmp_path):
    space = SearchSpace.from_dict({"space": {
        "model": {"dense": {"type": "categorical", "choices": [[64], [128, 64]]},
                  "filters_0": {"type": "int", "low": 8, "high": 64, "log": True},
                  "filters_1": {"type": "int", "low": 8, "high": 64, "step": 8}},
        "train": {"lr": {"type": "float", "low": 1e-4, "high": 1e-2, "log": True}}}})
    trial = optuna.trial.FixedTrial({"model.dense": "[128, 64]", "model.filters_0": 16,
                                     "model.filters_1": 24, "train.lr": 1e-3})
    values = space.suggest(trial)
    assert values["model.dense"] == [128, 64]
    config = space.apply(ExperimentConfig.from_dict({}), values)
    assert config.model["dense"] == [128, 64] and config.model["filters"] == [16, 24]
    assert config.train.lr == 1e-3
    assert SearchSpace.from_dict(space.to_dict()) == space
    assert space.values_of(config) == {"model.dense": "[128, 64]", "model.filters_0": 16,
                                       "model.filters_1": 24, "train.lr": 1e-3}
    # a flow head has no bounds before training; the default's networks are the small ones
    for preset, width in (("default", 256), ("posterior", 512)):
        base = ExperimentConfig.from_dict({}, preset=preset)
        assert SearchSpace.default().values_of(base)["model.dense_0"] == width
    outside = space.apply(config, {**values, "model.filters_1": 24})
    assert space.values_of(ExperimentConfig.from_dict({**outside.to_dict(), "train": {
        "lr": 0.5}})) is None
    assert len(SearchSpace.default().params) >= 5
    bad = {
        "nope": ({"data": {"nope": {"type": "int", "low": 1, "high": 2}}}, "unknown key"),
        "fixed": ({"data": {"split_seed": {"type": "int", "low": 0, "high": 9}}},
                  "cannot be searched"),
        "loss": ({"train": {"loss": {"type": "categorical", "choices": ["mse"]}}},
                 "cannot be searched"),
        "type": ({"train": {"lr": {"type": "uniform", "low": 0.1, "high": 1}}},
                 "type 'uniform' is not valid"),
        "range": ({"train": {"lr": {"type": "float", "low": 1.0, "high": 0.1}}}, "low < high"),
        "gap": ({"model": {"dense_1": {"type": "int", "low": 1, "high": 9}}}, "0..n-1"),
        "both": ({"model": {"dense": {"type": "categorical", "choices": [[8]]},
                            "dense_0": {"type": "int", "low": 1, "high": 9}}}, "not both"),
        "section": ({"optim": {"lr": {"type": "int", "low": 1, "high": 9}}},
                    "unknown section"),
    }
    for table, message in bad.values():
        with pytest.raises(ValueError, match=message):
            SearchSpace.from_dict({"space": table})
    (tmp_path / "s.toml").write_text("[space.train.lr]\ntype = 'int'\nlow = 1\n")
    with pytest.raises(DataError, match=r"s\.toml: space\.train\.lr"):
        SearchSpace.from_toml(tmp_path / "s.toml")


def test_sqlite_study_writes_results_and_resumes(files, tmp_path):
    config_file, space_file = files
    out = tmp_path / "tune"
    argv = ["tune", "--config", str(config_file), "--space", str(space_file), "--out",
            str(out), "--trials", "3", "--seed", "1"]
    assert run_cli(argv) == 0
    for name in ("study.db", "trials.csv", "best.toml", "best.json", "best_loss_curve.png",
                 "optimization_history.png", "param_importances.png"):
        assert (out / name).is_file(), name
    rows = list(csv.DictReader(open(out / "trials.csv")))
    assert [r["state"] for r in rows] == ["COMPLETE"] * 3
    base = ExperimentConfig.from_toml(config_file)  # trial 0 is the base config itself
    assert float(rows[0]["train.lr"]) == base.train.lr
    assert (int(rows[0]["model.dense_0"]), int(rows[0]["model.dense_1"])) == (16, 8)
    assert {"train.lr", "model.dense_0", "model.dense_1", "model.dropout"} <= set(rows[0])
    best = min(rows, key=lambda r: float(r["value"]))
    config = ExperimentConfig.from_toml(out / "best.toml")
    assert config.train.lr == pytest.approx(float(best["train.lr"]))
    assert config.model["dense"] == [int(best["model.dense_0"]), int(best["model.dense_1"])]
    assert config.train.epochs == 2 and config.data.split_seed == 1
    for number in range(3):  # every trial kept its outputs, not its checkpoint
        trial = out / "trials" / f"{number:04d}"
        assert (trial / "history.csv").is_file() and not (trial / "checkpoint").exists()
    with pytest.raises(DataError, match="pass --resume"):
        run_cli(argv)
    assert run_cli([*argv[:-4], "--trials", "1", "--seed", "1", "--resume"]) == 0
    assert len(list(csv.DictReader(open(out / "trials.csv")))) == 4
    with pytest.raises(DataError, match="different base config"):
        run_cli([*argv[:-4], "--trials", "1", "--epochs", "3", "--seed", "1", "--resume"])


def test_trials_can_average_several_splits(files, tmp_path):
    config_file, space_file = files
    config = ExperimentConfig.from_toml(config_file)
    study = tune(config, SearchSpace.from_toml(space_file), tmp_path / "tune", trials=1,
                 progress=False, splits=2)
    trial = study.trials[0]
    losses = trial.user_attrs["split_losses"]
    assert len(losses) == 2 and losses[0] != losses[1]  # two different splits were trained
    assert trial.value == pytest.approx(sum(losses) / 2)
    for k in range(2):
        saved = ExperimentConfig.from_toml(tmp_path / "tune" / "trials" / "0000" / f"split{k}"
                                           / "config.toml")
        assert saved.data.split_seed == config.data.split_seed + k
    with pytest.raises(DataError, match="different splits"):  # another objective
        tune(config, SearchSpace.from_toml(space_file), tmp_path / "tune", trials=1,
             progress=False, resume=True)


def test_trainer_lets_a_pruning_exception_through(tmp_path):
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(64, 16)).astype(np.float32), rng.normal(size=(64, 3))

    def prune(epoch, row):
        raise optuna.TrialPruned(f"epoch {epoch}")

    model = build_model(ModelConfig(architecture="mlp", n_wavelengths=16, dense=(8,)))
    trainer = Trainer(model, TrainConfig(epochs=3, batch_size=16, checkpoint_every=1,
                                         num_threads=1, device="cpu"),
                      tmp_path, on_epoch_end=prune, progress=False)
    with pytest.raises(optuna.TrialPruned, match="epoch 1"):
        trainer.fit(lambda epoch: (x, y), (x, y))
    # the completed epoch is on record, whole; nothing half-written
    assert len(trainer.history) == 1
    assert len(list(csv.DictReader(open(tmp_path / "history.csv")))) == 1
    assert (tmp_path / "checkpoint" / "state.json").is_file()
    assert not list(tmp_path.rglob("*.part"))


class PruneAfterFirstEpoch(optuna.pruners.BasePruner):
    def prune(self, study, trial) -> bool:
        return max(trial.intermediate_values, default=0) >= 1


def test_pruned_trials_stop_cleanly(files, tmp_path):
    config_file, space_file = files
    out = tmp_path / "tune"
    study = tune(ExperimentConfig.from_toml(config_file), SearchSpace.from_toml(space_file),
                 out, trials=2, pruner=PruneAfterFirstEpoch(), progress=False)
    assert [t.state for t in study.trials] == [optuna.trial.TrialState.PRUNED] * 2
    assert all(list(t.intermediate_values) == [1] for t in study.trials)
    trial = out / "trials" / "0000"
    assert len(list(csv.DictReader(open(trial / "history.csv")))) == 1
    assert not (trial / "checkpoint").exists() and not list(trial.rglob("*.part"))
    assert not (out / "best.toml").exists()  # no trial completed
    assert (out / "trials.csv").is_file() and (out / "optimization_history.png").is_file()


def worker(config_file, space_file, out, url, study, trials, env) -> subprocess.Popen:
    command = [sys.executable, "-m", "telescopeml.cli", "-q", "tune", "--config",
               str(config_file), "--space", str(space_file), "--out", str(out), "--storage",
               url, "--study-name", study, "--trials", str(trials), "--heartbeat", "1"]
    return subprocess.Popen(command, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def finish(process: subprocess.Popen) -> None:
    output, _ = process.communicate(timeout=300)
    assert process.returncode == 0, output


@pytest.mark.postgres
@pytest.mark.slow
def test_workers_share_a_postgres_study_and_survive_a_kill(files, tmp_path, private_cache):
    url = os.environ.get("TELESCOPEML_TEST_POSTGRES")
    if not url:
        pytest.skip("TELESCOPEML_TEST_POSTGRES is not set (a PostgreSQL URL; .ci/run "
                    "starts a server and sets it)")
    config_file, space_file = files
    # longer trials, so that a kill lands inside one
    config = ExperimentConfig.from_toml(config_file)
    config.train.epochs = 40
    config_file = config.to_toml(tmp_path / "long.toml")
    name = f"test-{uuid.uuid4().hex[:12]}"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TELESCOPEML_CACHE": str(private_cache),
           "MPLBACKEND": "Agg"}
    args = (config_file, space_file)
    first = worker(*args, tmp_path / "a", url, name, 2, env)
    second = worker(*args, tmp_path / "b", url, name, 2, env)
    finish(first)
    finish(second)
    study = optuna.load_study(study_name=name, storage=driver_url(url))
    trials = study.get_trials()
    assert len(trials) == 4 and {t.state.name for t in trials} <= {"COMPLETE", "PRUNED"}
    by_worker = {}
    for t in trials:
        by_worker.setdefault(t.user_attrs["worker"], []).append(t.number)
    assert sorted(len(v) for v in by_worker.values()) == [2, 2]
    # the worker that finished last wrote the results of both
    rows = [list(csv.DictReader(open(tmp_path / w / "trials.csv"))) for w in "ab"]
    assert max(len(r) for r in rows) == 4

    doomed = worker(*args, tmp_path / "c", url, name, 100, env)
    deadline = time.monotonic() + 120
    while True:  # kill it inside a trial that has reported an epoch
        running = [t for t in study.get_trials(deepcopy=False)
                   if t.state.name == "RUNNING" and 0 < len(t.intermediate_values) < 20]
        if running or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    os.kill(doomed.pid, signal.SIGKILL)
    doomed.wait(timeout=30)
    killed = [t for t in study.get_trials() if t.state.name == "RUNNING"]
    assert len(killed) == 1, "the killed worker left no running trial"
    time.sleep(3)  # past the grace period: 2 heartbeats of 1 s
    restarted = worker(*args, tmp_path / "c", url, name, 2, env)
    finish(restarted)
    after = {t.number: t for t in study.get_trials()}
    assert after[killed[0].number].state.name == "FAIL"
    retried = [t for t in after.values()
               if t.system_attrs.get("failed_trial") == killed[0].number]
    assert len(retried) == 1 and retried[0].params == killed[0].params
    assert retried[0].state.name in ("COMPLETE", "PRUNED")
    assert not [t for t in after.values() if t.state.name in ("RUNNING", "WAITING")]
    assert optuna.load_study(study_name=name, storage=driver_url(url)).best_trial is not None


def test_a_dead_workers_trial_is_retried_within_half_a_minute_by_default():
    from telescopeml.cli import build_parser
    from telescopeml.training.storage import HEARTBEAT

    args = build_parser().parse_args(["tune", "--out", "x"])
    assert args.heartbeat == HEARTBEAT and 2 * args.heartbeat <= 30
