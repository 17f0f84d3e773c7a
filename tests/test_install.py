"""``pip install telescopeml`` (no extras) predicts with the shipped models: a fresh virtual
environment, the package installed from this repository's files, no PyTorch.

Slow (about a minute with a warm pip cache) and it needs PyPI for the core dependencies.
"""

from __future__ import annotations

import math
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from telescopeml import pretrained
from telescopeml.data import compact

ROOT = Path(__file__).resolve().parents[1]

pytestmark = [pytest.mark.slow, pytest.mark.network]


def test_core_install_predicts_without_torch(tmp_path):
    # a copy of what the package is built from: an in-tree build would write into the repo
    source = tmp_path / "telescopeml"
    source.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, source / name)
    shutil.copytree(ROOT / "src", source / "src",
                    ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    python = str(venv / "bin" / "python")
    install = subprocess.run([python, "-m", "pip", "install", "-q", str(source)], env=env,
                             capture_output=True, text=True, timeout=900, check=False)
    assert install.returncode == 0, install.stderr[-4000:]

    grid = compact.read_compact_grid(pretrained.model_path("dback24-spex") /
                                     pretrained.GRID_FILE)
    index = int(np.flatnonzero((grid.params["teff"] == 1500) & (grid.params["logg"] == 5.0)
                               & (grid.params["mh"] == 0) & (grid.params["inv_fsed"] == 0.5))[0])
    flux = grid.flux_array()[index].astype(np.float64)
    sigma = flux / 40
    noisy = flux + np.random.default_rng(1).normal(0, 1, flux.size) * sigma
    spectrum = tmp_path / "toy.txt"
    spectrum.write_text("\n".join(f"{w:.6f} {f:.6e} {s:.6e}" for w, f, s in
                                  zip(grid.wavelength, noisy, sigma, strict=True)))
    # the default (empirical) scale and the grid scale: neither needs the network
    for scale in ("auto", "grid"):
        run = subprocess.run([str(venv / "bin" / "telescopeml"), "predict", "--model",
                              "dback24-spex", "--scale", scale, str(spectrum)], env=env,
                             cwd=tmp_path, capture_output=True, text=True, timeout=300,
                             check=False)
        assert run.returncode == 0, run.stderr[-4000:]
        teff = float(re.search(r"^\s*teff\s+(\S+) K", run.stdout, re.M).group(1))
        assert math.isfinite(teff) and 900 < teff < 2400, run.stdout

    # a library object by name, with no model: the shipped models choose (the spectrum comes
    # from the splat wheel, fetched from PyPI into the cache)
    run = subprocess.run([str(venv / "bin" / "telescopeml"), "predict",
                          "2MASS J15031961+2525196"], env=env, cwd=tmp_path,
                         capture_output=True, text=True, timeout=600, check=False)
    assert run.returncode == 0, run.stderr[-4000:]
    assert run.stdout.startswith("2MASS J15031961+2525196"), run.stdout
    teff = float(re.search(r"^\s*teff\s+(\S+) K", run.stdout, re.M).group(1))
    assert 700 < teff < 1400, run.stdout  # a T5 dwarf

    for module in ("torch", "zuko", "optuna", "sklearn", "corner"):
        missing = subprocess.run([python, "-c", f"import {module}"], env=env,
                                 capture_output=True, text=True, timeout=60, check=False)
        assert missing.returncode != 0 and "ModuleNotFoundError" in missing.stderr, module
    train = subprocess.run([str(venv / "bin" / "telescopeml"), "train", "--out", "run"],
                           env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120,
                           check=False)
    assert train.returncode == 2
    assert 'pip install torch==2.13.0 && pip install ".[train]"' in train.stderr
    assert "Traceback" not in train.stderr
