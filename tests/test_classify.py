"""Spectral type, gravity, metallicity and binarity (telescopeml.data.classification)."""

from __future__ import annotations

import numpy as np
import pytest

from telescopeml.data.classification import (
    Classification,
    classify,
    classify_spectrum,
    parse_type,
    prepare,
)
from telescopeml.data.classification.indices import (
    BINARY_METHODS,
    INDEX_DEFINITIONS,
    binary_candidate,
    binary_criteria,
    gravity_class,
    gravity_scores,
    index_type,
    measure_index,
)
from telescopeml.data.classification.standards import DWARF_KEYS, format_type

FINE = np.arange(0.80, 2.50, 1e-5)


def _windowed(values: dict[tuple[float, float], float]) -> np.ndarray:
    """Flux 1 everywhere except each window, where it is the window's value."""
    flux = np.ones_like(FINE)
    for (low, high), value in values.items():
        flux[(FINE >= low) & (FINE <= high)] = value
    return flux


@pytest.mark.parametrize("name", sorted(INDEX_DEFINITIONS))
def test_each_index_on_a_spectrum_built_for_it(name):
    method, sample, windows = INDEX_DEFINITIONS[name]
    levels = [0.6, 1.5, 2.5][: len(windows)]
    flux = _windowed(dict(zip(windows, levels, strict=True)))
    width = [high - low for low, high in windows]
    f = [v * (w if sample == "integrate" else 1.0)
         for v, w in zip(levels, width, strict=True)]
    if method == "ratio":
        expected = f[0] / f[1]
    elif method == "inverse_line":
        expected = 2 * f[0] / (f[1] + f[2])
    elif method == "line":
        expected = (f[0] + f[1]) / (2 * f[2])
    else:
        centre, blue, red = (np.mean(w) for w in windows)
        expected = (f[2] * (centre - blue) + f[1] * (red - centre)) / (red - blue) / f[0]
    assert measure_index(FINE, flux, name) == pytest.approx(expected, rel=2e-3)


def test_indices_of_a_linear_continuum():
    """Allers & Liu's indices interpolate the continuum: a straight line reads 1."""
    flux = 2.0 + 0.7 * FINE
    for name in ("FeH_z", "VO_z", "KI_J", "H-cont"):
        assert measure_index(FINE, flux, name) == pytest.approx(1.0, abs=1e-6)
    assert np.isnan(measure_index(FINE[FINE > 1.0], flux[FINE > 1.0], "FeH_z"))


def test_gravity_scores_and_class():
    # Allers & Liu (2013) Table 9 at L0: FeH_z 1.204/1.106, VO_z 1.122/1.256,
    # KI_J 1.098/1.061, H-cont 0.935/0.972
    field = {"FeH_z": 1.30, "VO_z": 1.05, "KI_J": 1.12, "H-cont": 0.90}
    young = {"FeH_z": 1.05, "VO_z": 1.30, "KI_J": 1.05, "H-cont": 0.99}
    middle = {"FeH_z": 1.15, "VO_z": 1.20, "KI_J": 1.08, "H-cont": 0.95}
    assert gravity_scores(field, 20) == {"FeH_z": 0, "VO_z": 0, "KI_J": 0, "H-cont": 0}
    assert gravity_class(gravity_scores(field, 20.2))[0] == "FLD-G"
    assert gravity_class(gravity_scores(young, 20))[0] == "VL-G"
    assert gravity_class(gravity_scores(middle, 19.6)) == ("INT-G", 1.0)
    # VO_z does not score at M8; at T2 nothing does
    assert np.isnan(gravity_scores(young, 18)["VO_z"])
    assert gravity_class(gravity_scores(young, 32)) == ("", pytest.approx(np.nan, nan_ok=True))


def test_binary_selection_regions():
    # Burgasser et al. (2010): H2O-K above 0.615 H2O-J + 0.3 over H2O-J 0.325-0.65
    above = {"H2O-J": 0.5, "H2O-K": 0.7}
    below = {"H2O-J": 0.5, "H2O-K": 0.5}
    assert binary_criteria(above, 32, "burgasser2010")[0]
    assert not binary_criteria(below, 32, "burgasser2010")[0]
    assert binary_candidate({}, 25)[0] == "no"  # M7-L8: Bardalez Gagliuffi et al. (2014)
    assert binary_candidate({}, 38)[0] == "not applicable"
    assert len(BINARY_METHODS["bardalez2014"][0]) == 12


def test_index_type_uses_the_relations_valid_at_the_type():
    # Burgasser (2007): H2O-J = 0.2 reads T5.3
    spt, _ = index_type({"H2O-J": 0.2}, near=35)
    assert spt == pytest.approx(35.3, abs=0.1)
    assert np.isnan(index_type({"H2O-J": 0.2}, near=12)[0])


def test_type_strings():
    assert format_type(23.5) == "L3.5"
    assert format_type(36.0) == "T6"
    assert format_type(19.0) == "M9"
    assert format_type(np.nan) == ""
    assert parse_type("sdL4.5 pec") == 24.5
    assert parse_type("M9+T5") == 19
    assert parse_type("T6") == 36
    assert np.isnan(parse_type("galaxy"))


def test_refuses_a_spectrum_that_does_not_cover_the_bands():
    wave = np.linspace(1.0, 2.4, 400)
    result = classify_spectrum(wave, np.ones_like(wave), name="short")
    assert isinstance(result, Classification)
    assert "covers 1.00-2.40 µm" in result.refused and "0.9-2.4 µm" in result.refused
    assert result.spt == "" and "not classified" in result.summary()
    assert result.row()["refused"] == result.refused


def test_refuses_a_spectrum_far_coarser_than_spex():
    wave = np.geomspace(0.7, 2.5, 60)  # pixels R ~ 23
    result = classify_spectrum(wave, np.ones_like(wave))
    assert "too coarse" in result.refused


def test_prepare_cuts_and_smooths_a_sharp_spectrum():
    wave = np.arange(0.6, 5.0, 0.0005)  # JWST-like range, R of pixels ~ 1200 at 1.2 µm
    flux = 1 + 0.5 * (np.arange(wave.size) % 2)  # pixel-to-pixel structure
    w, f, s, notes = prepare(wave, flux, None)
    assert w[0] >= 0.85 and w[-1] <= 2.45
    assert any("smoothed" in n for n in notes) and any("uncertaint" in n for n in notes)
    assert np.std(f) < 0.1 * np.std(flux)
    assert np.all(s > 0)


def test_gap_is_refused():
    wave = np.concatenate([np.arange(0.8, 1.3, 0.004), np.arange(1.5, 2.5, 0.004)])
    result = classify_spectrum(wave, np.ones_like(wave))
    assert "gap at 1.30-1.50" in result.refused


def test_cli_refuses_missing_files(tmp_path, capsys):
    from telescopeml.cli import main

    assert main(["classify", str(tmp_path / "none.fits")]) == 2
    assert "no such file" in capsys.readouterr().err


@pytest.mark.network
def test_standards_classify_as_themselves(tmp_path):
    from telescopeml.data.classification.standards import standards

    types, _ = standards()["dwarf"]
    assert len(types) == len(DWARF_KEYS)
    files = [f"{key}_" for key in DWARF_KEYS.values()]
    from telescopeml.data.library import library_index

    names = [next(e.data_file for e in library_index(quiet=True)
                  if e.data_file.startswith(prefix)) for prefix in files]
    done, failed = classify(names)
    assert not failed
    got = [r.spt_number for r in done]
    assert got == [float(t) for t in DWARF_KEYS]
    assert all(r.spt_err == 0.5 for r in done)
    # a JWST PRISM spectrum is read on its 0.9-2.4 µm part; a coarse one is refused
    jwst, _ = classify(["JWST-NIRSPEC-PRISM_Wolf1130C_Burgasser2025.csv",
                        "JWST-NIRSPEC-PRISM_UNCOVER33436_Burgasser2024.csv"])
    assert jwst[0].spt.startswith(("sdT", "d/sdT", "T")) and not jwst[0].refused
    assert "too coarse" in jwst[1].refused
    out = tmp_path / "types.ecsv"
    from telescopeml.cli import main

    assert main(["classify", names[5], "--out", str(out)]) == 0
    from astropy.table import Table

    table = Table.read(out)
    assert list(table["spt"]) == ["M5"] and "literature_spt" in table.colnames


def test_prediction_shows_the_classification():
    from telescopeml.prediction import Prediction

    samples = np.random.default_rng(0).normal([1500, 5.0], [40, 0.2], (200, 2))
    wave = np.linspace(1, 2, 10)
    prediction = Prediction("obj", ["teff", "logg"], samples, wave, np.ones(10),
                            np.full(10, 0.1))
    assert "classification" not in prediction.summary() and "spt" not in prediction.row()
    prediction.classification = Classification(
        spt="L3.5", spt_number=23.5, spt_err=0.5, gravity_class="VL-G",
        metallicity_class="dwarf", binary_candidate="no",
        methods={"binary": "Bardalez Gagliuffi et al. (2014): 1 of 12 criteria"})
    line = next(x for x in prediction.summary().splitlines() if "classification" in x)
    assert "L3.5 ±0.5" in line and "VL-G (Allers & Liu 2013)" in line
    table = prediction.to_table()
    assert table["spt"][0] == "L3.5" and table["gravity_class"][0] == "VL-G"
    assert float(table["spt_err"][0].value) == 0.5
    assert prediction.to_json()["classification"]["binary_candidate"] == "no"


def test_a_prediction_never_downloads_the_standards():
    """Without the splat wheel in the cache the classification is refused, not fetched."""
    from telescopeml.data.classification import classify_observed
    from telescopeml.data.spectrum import ObservedSpectrum

    wave = np.linspace(0.8, 2.5, 500)
    spectrum = ObservedSpectrum(wave, np.ones_like(wave), np.full_like(wave, 0.1))
    result = classify_observed(spectrum)
    assert "not in the cache" in result.refused
    short = ObservedSpectrum(wave[wave > 1.5], np.ones((wave > 1.5).sum()))
    assert "covers" in classify_observed(short).refused


def test_report_shows_the_classification_with_its_methods(tmp_path):
    from telescopeml.report import _prediction_section

    record = Classification(spt="T6", spt_number=36, spt_err=0.5, gravity_class="not "
                            "applicable", metallicity_class="dwarf", binary_candidate="no",
                            methods={"spt": "chi2 against the SpeX standards",
                                     "binary": "Burgasser et al. (2010): 0 of 6 criteria"})
    data = {"name": "toy", "classification": {**record.row(), "methods": record.methods}}
    html = _prediction_section(data, tmp_path / "toy.json", tmp_path, {})
    assert "T6 ± 0.5" in html and "chi2 against the SpeX standards" in html
    assert "Burgasser et al. (2010): 0 of 6 criteria" in html
    refused = {"name": "toy", "classification": {"refused": "covers 2.88-5.20 µm"}}
    assert "Classification: none (covers 2.88-5.20 µm)" in _prediction_section(
        refused, tmp_path / "toy.json", tmp_path, {})
