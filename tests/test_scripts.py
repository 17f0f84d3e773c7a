"""Every script in scripts/ and benchmarks/ answers ``--help`` at once: a usage line, exit 0,
no work done and PyTorch not imported (each parses its arguments before its heavy imports)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = sorted([*ROOT.glob("scripts/*.py"), *ROOT.glob("benchmarks/*.py")])


@pytest.mark.parametrize("script", SCRIPTS, ids=[f"{s.parent.name}/{s.name}" for s in SCRIPTS])
def test_script_answers_help(script, tmp_path):
    # -X importtime lists every module imported (on stderr); run from an empty directory,
    # so that nothing can be written where it would matter
    run = subprocess.run([sys.executable, "-X", "importtime", str(script), "--help"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.startswith("usage: "), run.stdout[:500]
    imported = {line.rpartition("|")[2].strip() for line in run.stderr.splitlines()
                if line.startswith("import time:")}
    assert "torch" not in imported, f"{script.name} imports PyTorch before parsing --help"
    assert not list(tmp_path.iterdir()), "--help wrote files"
