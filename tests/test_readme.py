"""The README's Python examples run as written (the second with a shipped model and a library
file standing in for the user's own model and spectrum)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from telescopeml import pretrained
from telescopeml.data.library import find_entry, library_file

README = Path(__file__).resolve().parents[1] / "README.md"

pytestmark = [pytest.mark.network, pytest.mark.filterwarnings("ignore:.*dropped.*pixels")]


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)


def test_readme_has_the_examples():
    assert len(python_blocks()) == 2


def test_shipped_models_example_runs(capsys):
    namespace: dict = {}
    exec(compile(python_blocks()[0], "README.md", "exec"), namespace)
    prediction = namespace["prediction"]
    assert prediction.samples.shape == (10000, len(prediction.names))
    assert namespace["choice"].model in pretrained.available()
    assert "teff" in capsys.readouterr().out


def test_grids_and_models_example_runs():
    code = python_blocks()[1]
    model, spectrum = 'Predictor("models/dback24")', '"spectrum.fits"'
    assert model in code and spectrum in code
    path = library_file(find_entry("2MASS J15031961+2525196"))
    code = code.replace(model, f"Predictor({str(pretrained.model_path('dback24-spex'))!r})")
    code = code.replace(spectrum, repr(str(path)))
    namespace: dict = {}
    exec(compile(code, "README.md", "exec"), namespace)
    assert namespace["spectrum"].shape == (namespace["grid"].n_wavelengths,)  # interpolated
    assert 700 < namespace["prediction"].median["teff"] < 1500
