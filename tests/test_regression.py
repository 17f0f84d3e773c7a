"""The shipped models give the numbers they gave when this file was written.

A refactor that changes what the shipped models say about real spectra fails here. The
values in ``data/shipped_predictions.json`` were produced by the same calls (2,000 samples,
seed 0) on three SpeX library spectra: an L3, an L8 and a T5 dwarf: each grid model's
network alone (``fast=True``), its grid posterior (the atmosphere-grid default, keys ending
in :data:`GRID_POSTERIOR`) and the empirical scale. When a change of the numbers is intended
(a retrained model, a new empirical layer), regenerate the file
(``python tests/test_regression.py``) and say why in the commit.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from telescopeml import pretrained
from telescopeml.data.spectrum import ObservedSpectrum

PINNED_FILE = Path(__file__).parent / "data" / "shipped_predictions.json"
PINNED = json.loads(PINNED_FILE.read_text())
GRID_POSTERIOR = " (grid posterior)"


@pytest.mark.network
@pytest.mark.filterwarnings("ignore:.*dropped.*pixels")
@pytest.mark.parametrize("name", sorted(PINNED))
def test_shipped_predictions_are_pinned(name):
    spectrum = ObservedSpectrum.from_library(name)
    for model, expected in PINNED[name].items():
        found = answer(model, spectrum)
        for key, value in expected.items():
            got = found.chi2_red if key == "chi2_red" else found.median[key]
            tolerance = 0.5 if key == "teff" else 1e-3 * max(1.0, abs(value))
            assert got == pytest.approx(value, abs=tolerance), (model, key)


def answer(model: str, spectrum: ObservedSpectrum):
    """What a pinned entry is: the empirical scale, a grid posterior or a network alone."""
    if model == "empirical":
        return pretrained.predictor(None, scale="empirical").predict(spectrum, n_samples=2000,
                                                                     seed=0)
    if model.endswith(GRID_POSTERIOR):
        return pretrained.load(model.removesuffix(GRID_POSTERIOR)).predict(
            spectrum, n_samples=2000, seed=0)
    return pretrained.load(model, fast=True).predict(spectrum, n_samples=2000, seed=0)


def regenerate() -> None:
    """Write the pinned file anew from the current code and models."""
    import warnings

    warnings.simplefilter("ignore")
    out: dict = {}
    for name in PINNED:
        spectrum = ObservedSpectrum.from_library(name)
        out[name] = {}
        for model in pretrained.made_for("SPEX-PRISM"):
            for key in (model, model + GRID_POSTERIOR):
                found = answer(key, spectrum)
                out[name][key] = {**{k: round(v, 4) for k, v in found.median.items()},
                                  "chi2_red": round(found.chi2_red, 4)}
        found = answer("empirical", spectrum)
        out[name]["empirical"] = {k: round(v, 4) for k, v in found.median.items()}
    PINNED_FILE.write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    regenerate()
