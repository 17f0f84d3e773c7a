"""Fault injection, round two (issue 26): what the package writes and records. A user's
files are never lost, outputs never silently replace each other, a failed run records
nothing it did not do."""

from __future__ import annotations

import contextlib
import json
import resource

import pytest

from telescopeml.cli import main
from telescopeml.training.experiment import ExperimentConfig
from telescopeml.training.outputs import RUN_FILES

TINY = {
    "model": {"architecture": "mlp", "dense": [16], "dropout": 0.0},
    "train": {"epochs": 1, "batch_size": 32, "checkpoint_every": 0, "patience": 0},
    "augment": {"n_interpolated": 32},
}


@pytest.fixture
def tiny_toml(toy_grid, tmp_path):
    grid = toy_grid.to_hdf5(tmp_path / "toy.h5")
    config = ExperimentConfig.from_dict({**TINY, "data": {"grid": str(grid),
                                                          "instrument": ""}})
    return config.to_toml(tmp_path / "tiny.toml")


def train_cli(config, out, *options):
    return main(["-q", "train", "--config", str(config), "--out", str(out), "--no-baselines",
                 *options])


def test_overwrite_replaces_the_model_only_once_complete(tiny_toml, tmp_path, monkeypatch):
    out = tmp_path / "model"
    assert train_cli(tiny_toml, out) == 0
    assert {p.name for p in out.iterdir()} <= set(RUN_FILES)  # every output is known by name
    before = {name: (out / name).read_bytes() for name in ("manifest.json",
                                                           "model.safetensors")}
    (out / "notes.txt").write_text("mine")
    (out / "reference").mkdir()
    (out / "reference" / "star.fits").write_bytes(b"keep")
    # a run that fails after training leaves the previous model, and no temporary folder
    import telescopeml.training.experiment as experiment

    def crash(*args, **kwargs):
        raise RuntimeError("disk on fire")

    with monkeypatch.context() as patch:
        patch.setattr(experiment, "save_bundle", crash)
        with pytest.raises(RuntimeError, match="disk on fire"):
            train_cli(tiny_toml, out, "--overwrite", "--epochs", "2")
    assert {n: (out / n).read_bytes() for n in before} == before
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".model")) == []
    # a complete run replaces the model files and keeps everything else
    assert train_cli(tiny_toml, out, "--overwrite", "--epochs", "2") == 0
    assert (out / "notes.txt").read_text() == "mine"
    assert (out / "reference" / "star.fits").read_bytes() == b"keep"
    assert (out / "model.safetensors").read_bytes() != before["model.safetensors"]
    assert len(strict_json((out / "history.json").read_text())) == 2
    assert strict_json((out / "evaluation.json").read_text())["model"] == str(out)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".model")]


def test_one_file_for_two_outputs_is_refused_before_any_work(tmp_path, capsys):
    out = tmp_path / "x.fits"
    out.write_bytes(b"the user's table")
    for extra in ([], ["--overwrite"]):
        assert main(["-q", "predict", "no-such-spectrum.txt", "--out", str(out),
                     "--samples-out", str(tmp_path / "." / "x.fits"), *extra]) == 2
        err = capsys.readouterr().err
        assert "given for both --out and --samples-out" in err and "Traceback" not in err
    assert out.read_bytes() == b"the user's table"


def test_a_file_that_appears_meanwhile_is_not_replaced(tmp_path):
    from astropy.table import QTable

    from telescopeml.errors import DataError
    from telescopeml.tables import write_table

    target = tmp_path / "same.csv"

    class OtherRunFinishesFirst(QTable):
        def write(self, *args, **kwargs):
            super().write(*args, **kwargs)
            target.write_text("the other run's rows\n")

    with pytest.raises(DataError, match="appeared while this run worked") as caught:
        write_table(target, OtherRunFinishesFirst({"teff": [1000.0]}))
    assert "nothing" not in str(caught.value)
    assert target.read_text() == "the other run's rows\n"
    assert [p.name for p in tmp_path.iterdir()] == ["same.csv"]  # no temporary left
    # with overwrite the last writer wins, as asked
    write_table(target, QTable({"teff": [1000.0]}), overwrite=True)
    assert target.read_text().splitlines() == ["teff", "1000.0"]


def strict_json(text):
    def refuse(name):
        raise AssertionError(f"bare {name} in JSON")

    return json.loads(text, parse_constant=refuse)


def test_a_diverging_loss_stops_training_with_one_line(tiny_toml, tmp_path, capsys):
    config = tmp_path / "diverge.toml"
    config.write_text(tiny_toml.read_text().replace("lr = 0.002", "lr = 1e+30"))
    assert "lr = 1e+30" in config.read_text()
    out = tmp_path / "model"
    assert train_cli(config, out, "--epochs", "3") == 2
    captured = capsys.readouterr()
    assert "training diverged" in captured.err and "Traceback" not in captured.err
    assert "model written" not in captured.out
    assert not (out / "manifest.json").exists() and not (out / "history.json").exists()


def test_written_json_is_strict(tmp_path):
    import numpy as np

    from telescopeml.jsonio import dumps

    text = dumps({"r2": float("nan"), "rmse": np.float32(np.inf), "ok": np.float64(1.5),
                  "list": np.array([1.0, np.nan]), "n": np.int64(3), "path": tmp_path})
    assert strict_json(text) == {"r2": None, "rmse": None, "ok": 1.5, "list": [1.0, None],
                                 "n": 3, "path": str(tmp_path)}


def test_a_refused_resume_rewrites_no_record(tiny_toml, tmp_path, monkeypatch, capsys):
    import telescopeml.training.experiment as experiment

    out = tmp_path / "model"
    with monkeypatch.context() as patch:  # killed after training: a checkpoint to resume
        patch.setattr(experiment, "save_bundle", lambda *a, **k: (_ for _ in ()).throw(
            KeyboardInterrupt()))
        assert train_cli(tiny_toml, out) == 130
    assert (out / "checkpoint" / "state.json").is_file()
    records = {n: (out / n).read_text() for n in ("config.toml", "train.toml")}
    for options, words in ((["--epochs", "5"], "[train] epochs: 1 -> 5"),
                           (["--seed", "7"], "[data] split_seed: 0 -> 7")):
        assert train_cli(tiny_toml, out, "--resume", *options) == 2
        err = capsys.readouterr().err
        assert "cannot resume" in err and words in err, err
        assert {n: (out / n).read_text() for n in records} == records


def test_tune_keeps_a_users_best_toml(tiny_toml, tmp_path, capsys):
    out = tmp_path / "search"
    out.mkdir()
    (out / "best.toml").write_text("# my hand-tuned config\n")
    space = tmp_path / "space.toml"
    space.write_text('[space.train.lr]\ntype = "float"\nlow = 1e-3\nhigh = 1e-2\n')
    argv = ["-q", "tune", "--config", str(tiny_toml), "--space", str(space), "--out", str(out),
            "--trials", "1"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "best.toml" in err and "--overwrite" in err and "Traceback" not in err
    assert (out / "best.toml").read_text() == "# my hand-tuned config\n"
    assert not (out / "study.db").exists()  # refused before any work
    assert main([*argv, "--overwrite"]) == 0
    assert "[train]" in (out / "best.toml").read_text()


@contextlib.contextmanager
def file_size_limit(nbytes):
    """``ulimit -f``: a write past ``nbytes`` fails with EFBIG (Python ignores SIGXFSZ)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (nbytes, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))


@pytest.mark.parametrize("suffix", [".h5", ".fits"])
def test_a_full_disk_while_writing_samples_is_one_line(tmp_path, suffix):
    from telescopeml.errors import DataError
    from telescopeml.tables import write_samples
    from test_tables import make_prediction

    target = tmp_path / f"samples{suffix}"
    with file_size_limit(2000), pytest.raises(DataError) as caught:
        write_samples(target, [make_prediction()])
    assert str(caught.value) == f"{target}: cannot write (File too large)"
    assert list(tmp_path.iterdir()) == []  # nothing half-written left


def test_a_full_disk_while_writing_a_checkpoint_or_bundle_is_one_line(tmp_path):
    import torch

    from telescopeml.bundle import save_bundle
    from telescopeml.errors import DataError
    from telescopeml.models import ModelConfig, build_model
    from telescopeml.training.checkpoint import read_checkpoint, write_checkpoint

    checkpoint = tmp_path / "checkpoint"
    write_checkpoint(checkpoint, {"w": torch.zeros(4)}, {"epoch": 1})
    with file_size_limit(1000), pytest.raises(DataError, match=r"cannot write the "
                                               r"checkpoint .*\(File too large\)"):
        write_checkpoint(checkpoint, {"w": torch.zeros(10_000)}, {"epoch": 2})
    assert read_checkpoint(checkpoint)[1]["epoch"] == 1  # the previous one is kept
    model = build_model(ModelConfig(architecture="mlp", n_wavelengths=64, dense=(64,)))
    with file_size_limit(1000), pytest.raises(DataError, match=r"cannot write the model "
                                               r"\(File too large\)"):
        save_bundle(tmp_path / "model", model, model.config)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint", "model"]
    assert list((tmp_path / "model").iterdir()) == []


@pytest.mark.parametrize("section, line, words", [
    ("train", "lr = nan", "[train] lr = nan: must be a finite number"),
    ("train", "lr = inf", "[train] lr = inf: must be a finite number"),
    ("train", "grad_clip = nan", "[train] grad_clip = nan: must be a finite number"),
    ("train", "weight_decay = nan", "[train] weight_decay = nan: must be a finite number"),
    ("train", "epochs = 1.5", "[train] epochs = 1.5: must be a whole number"),
    ("train", 'epochs = "two"', '[train] epochs = "two": must be a whole number'),
    ("train", "batch_size = 1e9", "[train] batch_size = 1000000000.0: must be a whole number"),
    ("train", "batch_size = 1000000000", "[train] batch_size = 1000000000: must be between 1 "
                                         "and 10,000,000"),
    ("train", "seed = -1", "[train] seed = -1: must be between 0 and 4,294,967,295"),
    ("train", "lr = 0", "[train] lr = 0: must be above 0"),
    ("train", "deterministic = 1", "[train] deterministic = 1: must be true or false"),
    ("data", "split_seed = -1", "[data] split_seed = -1: must be between 0"),
    ("data", 'targets = "teff"', '[data] targets = "teff": must be a list of texts'),
    ("augment", "interpolated_per_spectrum = nan",
     "[augment] interpolated_per_spectrum = nan: must be a finite number"),
    ("model", 'architecture = "transformer"',
     "[model] architecture = 'transformer': must be one of"),
    ("model", "filters = [-5, 0]", "[model] filters must hold positive integers, got (-5, 0)"),
    ("model", "dense = [1.5]", "[model] dense = [1.5]: must be a list of whole numbers"),
])
def test_config_values_are_checked_when_read(tmp_path, capsys, section, line, words):
    config = tmp_path / "bad.toml"
    config.write_text(f"[{section}]\n{line}\n")
    from telescopeml.errors import DataError

    with pytest.raises(DataError) as caught:
        ExperimentConfig.from_toml(config)
    assert str(caught.value).startswith(f"{config}: {words}")
    assert main(["-q", "train", "--config", str(config), "--out", str(tmp_path / "m")]) == 2
    err = capsys.readouterr().err
    assert f"telescopeml: error: {config}: {words}" in err and "Traceback" not in err
    assert not (tmp_path / "m").exists()  # refused before anything was written


def test_outputs_follow_the_umask_and_overwrite_keeps_the_mode(tmp_path):
    import os
    import stat

    import torch
    from astropy.table import QTable

    from telescopeml.tables import write_table
    from telescopeml.training.checkpoint import write_checkpoint

    def mode(path):
        return stat.S_IMODE(path.stat().st_mode)

    table = QTable({"teff": [1000.0]})
    previous = os.umask(0o027)
    try:
        write_table(tmp_path / "new.fits", table)
        write_checkpoint(tmp_path / "checkpoint", {"w": torch.zeros(2)}, {"epoch": 1})
        os.umask(0o022)
        write_table(tmp_path / "open.ecsv", table)
    finally:
        os.umask(previous)
    assert mode(tmp_path / "new.fits") == 0o640
    assert mode(tmp_path / "checkpoint") == 0o750
    assert mode(tmp_path / "open.ecsv") == 0o644
    shared = tmp_path / "shared.csv"
    shared.write_text("old\n")
    shared.chmod(0o664)
    write_table(shared, table, overwrite=True)
    assert mode(shared) == 0o664 and shared.read_text() != "old\n"


def dead_pid():
    import subprocess
    import sys

    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_a_killed_writers_temporaries_are_removed_by_the_next_write(tmp_path):
    import os
    import time

    from astropy.table import QTable

    from telescopeml.cache import _HOST
    from telescopeml.tables import write_table

    gone, day_ago = dead_pid(), time.time() - 2 * 86400
    stale = [tmp_path / f".out.csv.{gone}-{_HOST}.k9x_2ab1.part",
             tmp_path / f".other.fits.{gone}-{_HOST}.q1w2e3r4.part",  # another output's
             tmp_path / ".out.csv.ab12cd34.part"]  # an older naming, two days old
    kept = [tmp_path / f".out.csv.{os.getpid()}-{_HOST}.live1234.part",  # a live writer
            tmp_path / f".out.csv.{gone}-{'0000' if _HOST != '0000' else '0001'}.h0st"
                       ".part",  # another host's: its writer cannot be asked
            tmp_path / ".out.csv.fresh123.part",  # an older naming, but recent
            tmp_path / ".notes.txt.part"]  # not a temporary of ours
    for path in stale + kept:
        path.write_text("half-written")
    os.utime(stale[2], (day_ago, day_ago))
    directory = tmp_path / f".model.{gone}-{_HOST}.x7y8z9a0.part"  # a killed training run
    directory.mkdir()
    (directory / "model.safetensors").write_bytes(b"x" * 100)
    write_table(tmp_path / "out.csv", QTable({"teff": [1000.0]}))
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["out.csv", *(p.name for p in kept)])


def test_a_killed_wheel_download_is_removed_on_the_next_run(monkeypatch):
    from telescopeml.cache import _HOST
    from telescopeml.data import wheels

    target = wheels.wheel_path("splat")
    target.parent.mkdir(parents=True)
    leftover = target.with_name(f".{target.name}.{dead_pid()}-{_HOST}.abcd1234.part")
    leftover.mkdir()
    (leftover / "splat-1.14-py3-none-any.whl").write_bytes(b"x" * 1000)
    monkeypatch.setattr(wheels, "_verified", lambda path, sha256: True)  # cached and good
    assert wheels.fetch_wheel("splat") == target
    assert list(target.parent.iterdir()) == []


class _StopsOnSecondBatch:
    """A predictor whose second batch is interrupted (Ctrl-C)."""

    def __init__(self) -> None:
        self.calls = 0

    def predict_many(self, spectra, n_samples=2000, seed=0):
        from test_tables import make_prediction

        self.calls += 1
        if self.calls == 2:
            raise KeyboardInterrupt
        return [make_prediction() for _ in spectra]


def test_an_interrupted_batch_keeps_what_was_finished(tmp_path, monkeypatch, capsys):
    """Ctrl-C during a batch: the finished rows are written, the run says so, exit 130."""
    from telescopeml.errors import BatchInterrupted
    from telescopeml.inference import request
    from telescopeml.inference.batch import predict_files

    files = [f"spectrum{i}" for i in range(5)]
    with pytest.raises(BatchInterrupted) as caught:
        predict_files(_StopsOnSecondBatch(), files, progress=False, batch=2)
    assert len(caught.value.done) == 2 and caught.value.total == 5
    assert "interrupted after 2 of 5 spectra" in str(caught.value)

    def interrupted(*args, **kwargs):
        return predict_files(_StopsOnSecondBatch(), files, progress=False, batch=2)

    monkeypatch.setattr(request, "predict", lambda *a, **k: request.Predictions(
        *interrupted()))
    out = tmp_path / "rows.csv"
    for name in files:
        (tmp_path / name).write_text("1 1 0.1\n")
    monkeypatch.chdir(tmp_path)
    assert main(["-q", "predict", *files, "--out", str(out)]) == 130
    err = capsys.readouterr().err
    assert f"the 2 finished were written to {out}" in err, err
    assert len(out.read_text().strip().splitlines()) == 3  # header and the two finished rows


def test_an_edited_or_damaged_checkpoint_is_not_resumed(tmp_path):
    """state.json edited to epoch 100 would 'finish' a 1-epoch run: the checkpoint's own
    digests refuse it, and a damaged tensors file too."""
    import torch

    from telescopeml.errors import DataError
    from telescopeml.training.checkpoint import read_checkpoint, write_checkpoint

    checkpoint = tmp_path / "checkpoint"
    write_checkpoint(checkpoint, {"w": torch.zeros(4)}, {"epoch": 1, "train_config": {}})
    assert read_checkpoint(checkpoint)[1]["epoch"] == 1
    state = checkpoint / "state.json"
    meta = json.loads(state.read_text())
    state.write_text(json.dumps({**meta, "epoch": 100}))
    with pytest.raises(DataError, match="integrity digest does not match"):
        read_checkpoint(checkpoint)
    state.write_text(json.dumps(meta))
    tensors = checkpoint / "state.safetensors"
    tensors.write_bytes(tensors.read_bytes()[:-1] + b"\x01")
    with pytest.raises(DataError, match="SHA-256 mismatch"):
        read_checkpoint(checkpoint)


@pytest.mark.parametrize("url, words", [
    ("not a url", "not a storage URL"),
    ("mysql://user:secret@localhost/db", "mysql storage is not supported"),
])
def test_an_unusable_study_storage_is_one_line(url, words):
    pytest.importorskip("optuna")
    from telescopeml.errors import DataError
    from telescopeml.training.storage import open_storage

    with pytest.raises(DataError, match=words) as caught:
        open_storage(url)
    assert "secret" not in str(caught.value)  # a password is never printed
