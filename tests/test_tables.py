"""Prediction tables and posterior samples: units in QTables, ECSV/FITS/CSV round trips,
error rows, HDF5/FITS samples, and ``telescopeml predict --out --samples-out``."""

from __future__ import annotations

import csv
import math

import astropy.units as u
import h5py
import numpy as np
import pytest
from astropy.io import fits
from astropy.table import QTable

from telescopeml import pretrained
from telescopeml.cli import main
from telescopeml.data import compact
from telescopeml.errors import DataError
from telescopeml.prediction import Prediction, column_unit, decimals
from telescopeml.tables import (
    check_writable,
    predictions_table,
    samples_table,
    write_samples,
    write_table,
)

NAMES = ["teff", "logg", "mh", "inv_fsed"]


def make_prediction(name="2MASS J0000+0000", seed=0, **fields):
    rng = np.random.default_rng(seed)
    samples = rng.normal([1500, 5.0, 0.1, 1.0], [40, 0.2, 0.1, 0.3], (500, 4))
    wave = np.linspace(1, 2, 10)
    fields = {"chi2_red": 1.3, "model": "toy-model", "name": name, "file": f"/data/{seed}.fits",
              "spectral_type": "L5", "model_fraction": 0.05,
              "notes": ["µm coverage ±5%"], **fields}
    return Prediction(name, list(NAMES), samples, wave, np.ones(10), np.full(10, 0.1),
                      **fields)


def test_table_has_units_on_every_number():
    prediction = make_prediction(
        derived={"radius_rjup": np.full(50, 1.0), "mass_mjup": np.full(50, 30.0)},
        errors={"teff": {"statistical": 20.0, "systematic": 30.0}},
        limits={"logg": "> 5.41"}, scores={"typicality": 0.3})
    table = prediction.to_table()
    assert len(table) == 1 and isinstance(table, QTable)
    assert table["teff_p50"].unit == u.K and table["teff_stat"].unit == u.K
    assert table["logg_p16"].unit == u.dex and table["mh_p97.5"].unit == u.dex
    assert table["inv_fsed_p50"].unit == u.dimensionless_unscaled
    assert table["radius_rjup_p50"].unit == u.R_jup and table["mass_mjup_p84"].unit == u.M_jup
    assert table["chi2_red"].unit == u.dimensionless_unscaled
    assert table["typicality"].unit == u.dimensionless_unscaled
    for column in ("source", "name", "spectral_type", "file", "flag", "note", "logg_limit"):
        assert column_unit(column) is None and isinstance(table[column][0], str)
    assert table["spectral_type"][0] == "L5" and table["logg_limit"][0] == "> 5.41"
    assert table["teff_p50"][0].value == pytest.approx(prediction.median["teff"])
    # the plain row keeps the CSV names, in the old order, the new columns at the end
    row = prediction.row()
    assert list(row)[:5] == ["source", "scale", "model", "teff_p50", "teff_p16"]
    assert list(row)[-3:] == ["name", "spectral_type", "file"]


#: FITS has no dex: astropy reads the TUNIT 'dex' back with a warning.
FITS_DEX = pytest.mark.filterwarnings("ignore::astropy.units.UnitsWarning")


@FITS_DEX
def test_batch_table_round_trips_with_units_and_error_rows(tmp_path):
    table = predictions_table([make_prediction(), make_prediction("other", seed=1)],
                              failed=[("bad.txt", "bad.txt: no flux")])
    assert len(table) == 3
    assert table["flag"][2] == "error: bad.txt: no flux" and table["file"][2] == "bad.txt"
    assert math.isnan(table["teff_p50"][2].value) and table["teff_p50"].unit == u.K

    ecsv = QTable.read(write_table(tmp_path / "r.ecsv", table))
    assert ecsv.colnames == table.colnames
    assert ecsv["teff_p50"].unit == u.K and ecsv["logg_p50"].unit == u.dex
    np.testing.assert_allclose(ecsv["teff_p50"].value, table["teff_p50"].value)
    assert ecsv["note"][0] == "µm coverage ±5%" and ecsv["flag"][2].startswith("error:")

    path = write_table(tmp_path / "r.fits", table)
    header = fits.getheader(path, 1)
    units = {header[f"TTYPE{i}"]: header.get(f"TUNIT{i}") for i in range(1, 1 + header["TFIELDS"])}
    assert units["teff_p50"] == "K" and units["logg_p50"] == "dex" and units["source"] is None
    back = QTable.read(path)
    assert back["teff_p50"].unit == u.K and u.Unit(str(back["mh_p50"].unit)) == u.dex
    np.testing.assert_allclose(back["logg_p84"].value, table["logg_p84"].value)
    assert back["note"][0] == "um coverage +/-5%"  # FITS text is ASCII

    rows = list(csv.DictReader(write_table(tmp_path / "r.csv", table).open()))
    assert list(rows[0]) == table.colnames and rows[2]["flag"].startswith("error:")
    assert float(rows[0]["teff_p50"]) == pytest.approx(table["teff_p50"][0].value)


def test_writing_is_atomic_and_checked_before_work(tmp_path):
    out = tmp_path / "keep.ecsv"
    out.write_text("old\n")
    with pytest.raises(DataError, match="already exists"):
        write_table(out, make_prediction().to_table())
    assert out.read_text() == "old\n"
    write_table(out, make_prediction().to_table(), overwrite=True)
    assert QTable.read(out)["teff_p50"].unit == u.K and len(list(tmp_path.iterdir())) == 1
    with pytest.raises(DataError, match="is a directory"):
        check_writable(tmp_path)
    with pytest.raises(DataError, match="unknown format"):
        write_samples(tmp_path / "s.txt", [make_prediction()])


@FITS_DEX
@pytest.mark.parametrize("suffix", [".h5", ".fits"])
def test_samples_read_back(tmp_path, suffix):
    predictions = [make_prediction(), make_prediction(seed=1), make_prediction("a/b", seed=2)]
    path = write_samples(tmp_path / f"s{suffix}", predictions)
    labels = ["2MASS J0000+0000", "2MASS J0000+0000_2", "a_b"]  # unique names, no "/"
    if suffix == ".h5":
        with h5py.File(path) as fh:
            assert list(fh) == sorted(labels)
            for label, prediction in zip(labels, predictions, strict=True):
                data = fh[label]
                assert data.shape == (500, 4) and list(data.attrs["names"]) == NAMES
                assert list(data.attrs["units"]) == ["K", "dex", "dex", ""]
                assert data.attrs["model"] == "toy-model" and data.attrs["spectral_type"] == "L5"
                np.testing.assert_array_equal(data[()], prediction.samples)
    else:
        with fits.open(path) as hdus:
            assert [h.name for h in hdus[1:]] == [s.upper() for s in labels]
            assert hdus[1].header["OBJECT"] == "2MASS J0000+0000"
            assert hdus[1].header["SCALE"] == "atmosphere grid"
        for i, prediction in enumerate(predictions):
            table = QTable.read(path, hdu=i + 1)
            assert table.colnames == NAMES and len(table) == 500
            assert table["teff"].unit == u.K and u.Unit(str(table["logg"].unit)) == u.dex
            np.testing.assert_array_equal(table["mh"].value, prediction.samples[:, 2])
    assert samples_table(predictions[0])["teff"].unit == u.K


def test_summary_gives_units_and_precision():
    prediction = make_prediction(errors={"teff": {"statistical": 123.4, "systematic": 8.0}})
    lines = prediction.summary().splitlines()
    teff = next(line for line in lines if line.strip().startswith("teff"))
    assert teff.split()[1] == f"{prediction.median['teff']:.0f}" and teff.split()[2] == "K"
    assert "±120 K statistical, ±8 K systematic" in teff
    logg = next(line for line in lines if line.strip().startswith("logg"))
    assert logg.split()[1] == f"{prediction.median['logg']:.2f}" and logg.split()[2] == "dex"
    assert "  reduced chi2 of the best-fit grid spectrum: 1.3 (observed sigma + 5% model " \
           "uncertainty)" in lines
    assert decimals("teff", 230.0) == -1 and decimals("teff", 45.0) == 0
    assert decimals("logg", 0.3) == 2 and decimals("logg", 1.5) == 1


def test_cli_writes_table_and_samples_of_a_shipped_model(tmp_path, capsys):
    """`telescopeml predict FILE --out x.ecsv --samples-out s.h5` with a shipped model."""
    grid = compact.read_compact_grid(pretrained.model_path("dback24-spex") /
                                     pretrained.GRID_FILE)
    index = int(np.flatnonzero((grid.params["teff"] == 1800) & (grid.params["logg"] == 5.0)
                               & (grid.params["mh"] == 0) & (grid.params["inv_fsed"] == 0.5))[0])
    flux = grid.flux_array()[index].astype(np.float64)
    path = tmp_path / "spex.fits"
    fits.PrimaryHDU(np.vstack([grid.wavelength, flux, flux / 40]),
                    fits.Header({"XUNITS": "Micron", "OBJECT": "toy L dwarf"})).writeto(path)
    out, samples = tmp_path / "x.ecsv", tmp_path / "s.h5"
    assert main(["-q", "predict", str(path), "--out", str(out), "--samples-out", str(samples),
                 "--samples", "400", "--scale", "grid"]) == 0
    printed = capsys.readouterr().out
    table = QTable.read(out)
    assert table["teff_p50"].unit == u.K and table["logg_p50"].unit == u.dex
    assert table["name"][0] == "toy L dwarf" and table["file"][0] == str(path)
    with h5py.File(samples) as fh:
        data = fh["toy L dwarf"]
        names = list(data.attrs["names"])
        assert data.shape == (400, len(names)) and names[:3] == ["teff", "logg", "mh"]
        assert list(data.attrs["units"])[:3] == ["K", "dex", "dex"]
        assert data.attrs["model"] == table["model"][0] == "dback24-spex"
        medians = np.median(data[()], axis=0)
    for name, median in zip(names, medians, strict=True):
        assert table[f"{name}_p50"][0].value == pytest.approx(median, rel=1e-12)
    teff_line = next(line for line in printed.splitlines() if line.strip().startswith("teff"))
    assert float(teff_line.split()[1]) == pytest.approx(medians[0], abs=5)
    assert abs(medians[0] - 1800) < 100
