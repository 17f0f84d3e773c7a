"""Optional dependencies: a command that needs an extra says which, in one line."""

from __future__ import annotations

import subprocess
import sys

import pytest

from telescopeml.bundle import load_bundle
from telescopeml.errors import MissingExtraError, TelescopeMLError
from telescopeml.extras import EXTRAS, install_commands, missing_extra, requires


def test_missing_modules_name_their_extra(monkeypatch):
    error = missing_extra(ModuleNotFoundError("no sklearn", name="sklearn.ensemble"))
    assert isinstance(error, MissingExtraError) and isinstance(error, ImportError)
    assert (error.package, error.extra) == ("scikit-learn", "train")
    # from the source tree, CPU torch first: "telescopeml" on PyPI is another project, and
    # pip's default torch is the CUDA build
    assert str(error).endswith('in the telescopeml source folder, run '
                               'pip install torch==2.13.0 && pip install ".[train]"')
    assert "telescopeml[" not in str(error)
    assert install_commands("plots") == 'pip install ".[plots]"'
    assert missing_extra(ModuleNotFoundError("no foo", name="foo")) is None
    assert EXTRAS["corner"] == ("corner", "plots")
    monkeypatch.setitem(sys.modules, "zuko", None)  # what an uninstalled module looks like
    requires("torch")
    with pytest.raises(MissingExtraError, match=r"zuko is not installed.*\.\[train\]"):
        requires("torch", "zuko")
    with pytest.raises(TelescopeMLError, match="zuko"):
        load_bundle("no-such-bundle")


@pytest.mark.parametrize("command", [["train", "--out", "run"], ["demo", "--out", "run"],
                                     ["tune", "--out", "run"]])
def test_training_commands_without_torch_say_what_to_install(command, tmp_path):
    """The CLI turns the ImportError into one line naming the extra, with no traceback."""
    code = ("import sys; sys.modules['torch'] = None; from telescopeml.cli import main; "
            f"sys.exit(main({command!r}))")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=tmp_path, timeout=120, check=False)
    assert run.returncode == 2, run.stderr
    assert run.stderr.strip().splitlines() == [
        f"telescopeml: error: {command[0]}: torch is not installed; the 'train' extra installs "
        'it: in the telescopeml source folder, run pip install torch==2.13.0 && '
        'pip install ".[train]"']
    assert not (tmp_path / "run").exists()
