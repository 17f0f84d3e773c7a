"""The files a training run writes, by name, and how a finished run replaces an earlier one.

``train --out DIR --overwrite`` trains in a temporary folder beside ``DIR`` and, once the new
model is complete, moves its files into ``DIR``: only the names in :data:`RUN_FILES` are
replaced or removed there, so a user's notes, reference files and subfolders stay, and a run
that fails or is killed leaves the previous model as it was (the temporary folder is removed
then, or by the next run when the process was killed).
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

from telescopeml.bundle import MANIFEST, WEIGHTS
from telescopeml.cache import sibling_temp

CONFIG_FILE = "config.toml"
TRAIN_FILE = "train.toml"
CHECKPOINT_DIR = "checkpoint"
#: Everything a training run writes into its ``--out`` folder; nothing else there is its.
RUN_FILES = (WEIGHTS, CONFIG_FILE, TRAIN_FILE, "history.csv", "history.json",
             "loss_curve.png", "evaluation.json", "calibration.json", CHECKPOINT_DIR, MANIFEST)


def holds_files(directory: Path) -> bool:
    """Whether ``directory`` exists and holds anything."""
    return directory.is_dir() and any(directory.iterdir())


@contextlib.contextmanager
def replacing(out_dir: str | Path) -> Iterator[Path]:
    """Yield an empty folder beside ``out_dir`` to train in; on success its files replace
    the run files (:data:`RUN_FILES`) of ``out_dir``, and nothing else there is touched.
    On failure the folder is removed and ``out_dir`` is left as it was."""
    out_dir = Path(out_dir)
    staging = sibling_temp(out_dir, directory=True)
    try:
        yield staging
        replace_run_files(staging, out_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def replace_run_files(source: Path, out_dir: Path) -> None:
    """Move the files of ``source`` into ``out_dir``, replacing those of the same name there;
    the run files (:data:`RUN_FILES`) that ``source`` lacks are removed from ``out_dir``.
    The manifest moves last: the bundle is whole again once it is in place."""
    out_dir.mkdir(parents=True, exist_ok=True)
    names = [*(p.name for p in source.iterdir() if p.name not in RUN_FILES), *RUN_FILES]
    (out_dir / MANIFEST).unlink(missing_ok=True)  # no bundle while its weights change
    for name in names:
        new, old = source / name, out_dir / name
        if old.is_dir() and not old.is_symlink():
            shutil.rmtree(old)
        elif old.exists() or old.is_symlink():
            old.unlink()
        if new.exists():
            os.replace(new, old)
