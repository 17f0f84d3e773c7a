"""`telescopeml train` under torchrun: two CPU ranks (gloo) on the tiny grid."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import pytest

from telescopeml.bundle import load_bundle
from telescopeml.training.experiment import ExperimentConfig, train

CONFIG = {
    "model": {"architecture": "mlp", "dense": [32], "dropout": 0.0},
    "train": {"epochs": 2, "batch_size": 32, "checkpoint_every": 0, "patience": 0,
              "num_threads": 1},
    "augment": {"n_interpolated": 64},
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.slow
def test_torchrun_two_ranks_match_one_process(toy_grid, tmp_path, private_cache):
    grid = toy_grid.to_hdf5(tmp_path / "toy.h5")
    config = ExperimentConfig.from_dict({**CONFIG, "data": {"grid": str(grid),
                                                            "instrument": ""}})
    config_file = config.to_toml(tmp_path / "config.toml")
    out = tmp_path / "ddp"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TELESCOPEML_CACHE": str(private_cache),
           "MPLBACKEND": "Agg"}
    command = [sys.executable, "-m", "torch.distributed.run", "--nnodes=1",
               "--nproc-per-node=2", f"--master-port={free_port()}",
               "-m", "telescopeml.cli", "-q", "train", "--config", str(config_file),
               "--out", str(out)]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    # rank 0 alone wrote: one bundle, one history, nothing half-written
    assert done.stdout.count("model written to") == 1
    assert sorted(p.name for p in out.iterdir()) == sorted([
        "config.toml", "evaluation.json", "history.csv", "history.json",
        "loss_curve.png", "manifest.json", "model.safetensors", "train.toml"])
    bundle = load_bundle(out)
    assert bundle.manifest["parameters"]["names"] == ["teff", "logg", "mh"]
    ddp = json.loads((out / "history.json").read_text())
    single = json.loads((train(config, tmp_path / "single", progress=False)
                         / "history.json").read_text())
    # Each rank takes half of every mini-batch and its loss is weighted by its share, so the
    # averaged gradient is the whole batch's: the runs differ only in float32 summation order
    # (about 1e-7 relative per step), far below the 1e-4 allowed here.
    assert [r["val_loss"] for r in ddp] == pytest.approx([r["val_loss"] for r in single],
                                                         rel=1e-4)
    assert [r["train_loss"] for r in ddp] == pytest.approx(
        [r["train_loss"] for r in single], rel=1e-4)
