"""The parameter registry: one entry per parameter, read by tables, plots, summaries and CLI."""

from __future__ import annotations

import math

import astropy.units as u
import pytest

from telescopeml import empirical, vocabulary
from telescopeml.parameters import PARAMETERS, UNITS, Parameter, parameter
from telescopeml.prediction import decimals, parameter_unit


@pytest.mark.parametrize("entry", PARAMETERS.values(), ids=list(PARAMETERS))
def test_every_entry_is_complete_and_consistent(entry: Parameter) -> None:
    assert entry.name and entry.text and entry.symbol and entry.meaning
    assert isinstance(entry.astropy_unit, u.UnitBase)  # astropy can read the unit
    if entry.unit == "":
        assert entry.astropy_unit == u.dimensionless_unscaled
    low, high = entry.bounds
    assert low < high
    assert entry.label.startswith(entry.text)
    assert entry.axis_label.startswith(entry.symbol)


def test_log_quantities_are_in_dex() -> None:
    assert parameter("logg").unit == "dex" and parameter("logg").astropy_unit == u.dex
    assert "cm s^-2" in parameter("logg").meaning
    assert parameter("logg").label == "log g [dex]"
    assert parameter("teff").label == "T_eff [K]" and parameter("teff").suffix == " K"
    assert parameter("kzz").unit == "dex"


def test_an_unknown_name_gets_a_neutral_entry() -> None:
    entry = parameter("something")
    assert (entry.unit, entry.label, entry.axis_label, entry.suffix) == (
        "", "something", "something", "")
    assert entry.precision == 3 and entry.colormap == "viridis"
    assert entry.astropy_unit == u.dimensionless_unscaled
    assert entry.bounds == (-math.inf, math.inf)


def test_the_old_names_read_the_registry() -> None:
    assert dict(UNITS) == {n: p.unit for n, p in PARAMETERS.items()}
    assert empirical.UNITS is UNITS  # re-exported for old callers, not a copy
    assert empirical.SCALES is vocabulary.SCALES and empirical.describe is vocabulary.describe
    assert parameter_unit("radius_rjup") == u.R_jup and parameter_unit("mass_mjup") == u.M_jup
    assert decimals("teff", 1e-9) == parameter("teff").precision
    with pytest.raises(KeyError):
        UNITS["something"]
    assert UNITS.get("something", "") == ""


def test_the_registry_is_read_only() -> None:
    with pytest.raises(TypeError):
        PARAMETERS["new"] = Parameter("new")  # type: ignore[index]
    with pytest.raises(AttributeError):
        parameter("teff").unit = "C"  # type: ignore[misc]


def test_every_colormap_exists() -> None:
    mpl = pytest.importorskip("matplotlib")
    for entry in PARAMETERS.values():
        assert entry.colormap in mpl.colormaps, entry.name


def test_plots_and_report_labels_come_from_the_registry() -> None:
    pytest.importorskip("matplotlib")
    from telescopeml.plots.style import parameter_label, unit_label

    assert parameter_label("logg") == r"$\log\,g$ [dex]"
    assert parameter_label("radius_rjup") == r"$R$ [$R_\mathrm{Jup}$]"
    assert unit_label("teff") == " [K]" and unit_label("co") == ""
