"""Trainer: learning, early stopping, outputs, checkpoints, exact resume, Ctrl-C."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from telescopeml.errors import DataError
from telescopeml.models import ModelConfig, build_model, predict
from telescopeml.training import TrainConfig, Trainer

N_WL, N_TRAIN, N_VAL = 32, 256, 64


def problem(seed: int = 0):
    """y = three fixed linear features of a random spectrum."""
    rng = np.random.default_rng(seed)
    weights = rng.normal(size=(N_WL, 3)) / np.sqrt(N_WL)
    x = rng.normal(size=(N_TRAIN + N_VAL, N_WL)).astype(np.float32)
    y = (x @ weights).astype(np.float32)
    x_train, y_train = x[:N_TRAIN], y[:N_TRAIN]

    def train_data(epoch: int):
        # the global numpy generator on purpose: resume must restore its state
        noise = np.random.normal(0.0, 0.05, x_train.shape)  # noqa: NPY002
        return (x_train + noise).astype(np.float32), y_train

    return train_data, (x[N_TRAIN:], y[N_TRAIN:])


def model(architecture: str = "mlp", head: str = "point", seed: int = 0):
    torch.manual_seed(seed)
    kw = {"mlp": {"dense": (32,)},
          "resnet": {"filters": (8, 8), "kernel_sizes": (3, 3), "dense": (16,), "dropout": 0.2}}
    flow = {"bounds": ((-4.0, 4.0),) * 3, "flow_transforms": 2, "flow_hidden": (16,),
            "flow_context": 8, "flow_samples": 8} if head == "flow" else {}
    return build_model(ModelConfig(architecture=architecture, n_wavelengths=N_WL, n_outputs=3,
                                   head=head, **kw[architecture], **flow))


def config(**kw) -> TrainConfig:
    base = {"epochs": 4, "batch_size": 64, "lr": 3e-3, "patience": 0, "checkpoint_every": 0,
            "num_threads": 1, "device": "cpu"}
    return TrainConfig(**{**base, **kw})


def test_loss_drops_and_outputs_are_written(tmp_path):
    train_data, val = problem()
    cfg = config(epochs=25, schedule="onecycle", checkpoint_every=10)
    trainer = Trainer(model(), cfg, tmp_path, progress=False)
    history = trainer.fit(train_data, val)
    assert len(history) == 25
    assert history[-1]["val_loss"] < 0.2 * history[0]["val_loss"]
    for name in ("train.toml", "history.csv", "history.json", "loss_curve.png",
                 "checkpoint/state.safetensors", "checkpoint/state.json"):
        assert (tmp_path / name).is_file(), name
    assert TrainConfig.from_toml(tmp_path / "train.toml") == cfg
    assert json.loads((tmp_path / "history.json").read_text()) == history
    assert (tmp_path / "history.csv").read_text().count("\n") == 26
    assert trainer.evaluate(val) == pytest.approx(trainer.best_loss, rel=1e-5)
    pred = predict(trainer.model, val[0], batch_size=10)
    assert pred.shape == (N_VAL, 3) and pred.dtype == np.float32


@pytest.mark.parametrize(("schedule", "patience", "earliest"),
                         [("constant", 3, 0), ("onecycle", 1, 18)])
def test_early_stopping_restores_best_weights(tmp_path, schedule, patience, earliest):
    # one-cycle: never during the warm-up (30% of 60 epochs), while the rising learning
    # rate makes the validation loss jump
    train_data, (x_val, _) = problem()
    unrelated = np.random.default_rng(5).normal(size=(N_VAL, 3)).astype(np.float32)
    trainer = Trainer(model(), config(epochs=60, patience=patience, schedule=schedule),
                      tmp_path, progress=False)
    history = trainer.fit(train_data, (x_val, unrelated))
    assert trainer.stopped_early and len(history) < 60
    assert len(history) == max(trainer.best_epoch + patience, earliest)
    assert trainer.evaluate((x_val, unrelated)) == pytest.approx(trainer.best_loss, rel=1e-5)


@pytest.mark.parametrize("schedule", ["onecycle", "cosine"])
def test_resume_continues_exactly(tmp_path, schedule):
    train_data, val = problem()
    cfg = config(schedule=schedule)
    straight = Trainer(model("resnet"), cfg, tmp_path / "a", progress=False)
    straight.fit(train_data, val)

    def stop_after_two(epoch, row):
        if epoch == 2:
            raise KeyboardInterrupt

    killed = Trainer(model("resnet"), cfg, tmp_path / "b", on_epoch_end=stop_after_two,
                     progress=False)
    with pytest.raises(KeyboardInterrupt):
        killed.fit(train_data, val)
    assert json.loads((tmp_path / "b/checkpoint/state.json").read_text())["epoch"] == 2
    np.random.seed(123)  # noqa: NPY002 - disturb every RNG: resume must restore them
    torch.manual_seed(123)
    resumed = Trainer(model("resnet", seed=99), cfg, tmp_path / "b", progress=False)
    history = resumed.fit(train_data, val, resume=True)

    assert [r["val_loss"] for r in history] == [r["val_loss"] for r in straight.history]
    a, b = straight.model.state_dict(), resumed.model.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_sigterm_checkpoints_and_stops_like_ctrl_c(tmp_path):
    import os
    import signal

    train_data, val = problem()

    def terminated_after_two(epoch, row):
        if epoch == 2:
            os.kill(os.getpid(), signal.SIGTERM)  # what a batch scheduler sends

    handler = signal.getsignal(signal.SIGTERM)
    trainer = Trainer(model(), config(), tmp_path, on_epoch_end=terminated_after_two,
                      progress=False)
    with pytest.raises(KeyboardInterrupt):
        trainer.fit(train_data, val)
    assert json.loads((tmp_path / "checkpoint/state.json").read_text())["epoch"] == 2
    assert signal.getsignal(signal.SIGTERM) == handler  # restored after training


def test_interrupt_in_data_leaves_last_complete_epoch(tmp_path):
    train_data, val = problem()

    def flaky(epoch):
        if epoch == 1:
            raise KeyboardInterrupt
        return train_data(epoch)

    trainer = Trainer(model(), config(), tmp_path, progress=False)
    with pytest.raises(KeyboardInterrupt):
        trainer.fit(flaky, val)
    state = json.loads((tmp_path / "checkpoint/state.json").read_text())
    assert state["epoch"] == 1 and len(state["history"]) == 1
    record = (tmp_path / "train.toml").read_text()
    with pytest.raises(DataError, match=r"other training settings \(\[train\] lr: "):
        Trainer(model(), config(lr=1.0), tmp_path, progress=False).fit(train_data, val,
                                                                        resume=True)
    assert (tmp_path / "train.toml").read_text() == record  # a refusal records nothing
    history = Trainer(model(), config(), tmp_path, progress=False).fit(train_data, val,
                                                                       resume=True)
    assert [r["epoch"] for r in history] == [1, 2, 3, 4]


def test_gaussian_head_and_losses(tmp_path):
    train_data, val = problem()
    history = Trainer(model(head="gaussian"), config(loss="gaussian_nll", epochs=2), tmp_path,
                      progress=False).fit(train_data, val)
    assert np.isfinite(history[-1]["val_loss"])
    Trainer(model(head="gaussian"), config(loss="huber", epochs=1), tmp_path / "h",
            progress=False).fit(train_data, val)
    with pytest.raises(ValueError, match="head='gaussian'"):
        Trainer(model(), config(loss="gaussian_nll"), tmp_path / "p",
                progress=False).fit(train_data, val)


def test_flow_head_trains_with_nll_and_resumes_exactly(tmp_path):
    train_data, val = problem()
    cfg = config(loss="nll", epochs=3)
    straight = Trainer(model(head="flow"), cfg, tmp_path / "a", progress=False)
    history = straight.fit(train_data, val)
    assert history[-1]["val_loss"] < history[0]["val_loss"]
    assert straight.evaluate(val) == pytest.approx(straight.best_loss, rel=1e-5)
    assert predict(straight.model, val[0]).shape == (N_VAL, 3)

    def stop_after_one(epoch, row):
        if epoch == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        Trainer(model(head="flow"), cfg, tmp_path / "b", on_epoch_end=stop_after_one,
                progress=False).fit(train_data, val)
    resumed = Trainer(model(head="flow", seed=9), cfg, tmp_path / "b", progress=False)
    resumed.fit(train_data, val, resume=True)
    assert [r["val_loss"] for r in resumed.history] == [r["val_loss"] for r in history]
    a, b = straight.model.state_dict(), resumed.model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    with pytest.raises(ValueError, match="head='flow'"):
        Trainer(model(), config(loss="nll"), tmp_path / "p", progress=False).fit(train_data, val)
    with pytest.raises(ValueError, match="head='flow'"):
        Trainer(model(head="flow"), config(loss="mse"), tmp_path / "m",
                progress=False).fit(train_data, val)


def test_train_config_validation(tmp_path):
    with pytest.raises(ValueError, match="onecycle, cosine, constant"):
        TrainConfig(schedule="step")
    with pytest.raises(ValueError, match="mse, huber, gaussian_nll"):
        TrainConfig(loss="l1")
    with pytest.raises(DataError, match="unknown TrainConfig keys"):
        (tmp_path / "t.toml").write_text("epochs = 3\nwarmup = 2\n")
        TrainConfig.from_toml(tmp_path / "t.toml")
    cfg = TrainConfig(num_threads=None, lr=2.5e-4)
    assert TrainConfig.from_toml(cfg.to_toml(tmp_path / "c.toml")) == cfg
