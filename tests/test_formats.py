"""Grid readers: every format, the dispatcher's sniffing, units, ordering and bad input."""

from __future__ import annotations

import bz2
import gzip
import math
from pathlib import Path

import h5py
import numpy as np
import pytest
from scipy.io import netcdf_file

from telescopeml.data.formats import (
    GRID_FORMATS,
    read_grid,
    read_hdf5,
    read_sonora_bobcat,
    read_sonora_netcdf,
    read_telescopeml_csv,
    read_user_dir,
    sniff_format,
)
from telescopeml.data.grid import SpectralGrid
from telescopeml.errors import DataError, UnknownNameError

#: Shipped fixture: 6 rows in the exact TelescopeML layout (104 flux columns, wavelengths
#: 2.512 ... 0.897 µm descending); flux of row i at wavelength w is (i + 1) * 1e-8 * w.
TINY_CSV = Path(__file__).parent / "data" / "formats" / "telescopeml_tiny.csv.bz2"
WL = np.round(np.linspace(1.0, 2.0, 11), 6)  # exact in the 6-decimal text files


# --- fixture writers ------------------------------------------------------------------------
def tiny_csv_text() -> str:
    return bz2.decompress(TINY_CSV.read_bytes()).decode()


def write_text(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".gz":
        path.write_bytes(gzip.compress(text.encode()))
    elif path.suffix == ".bz2":
        path.write_bytes(bz2.compress(text.encode()))
    else:
        path.write_text(text)
    return path


def columns(wl: np.ndarray, flux: np.ndarray, descending: bool = False) -> str:
    order = slice(None, None, -1) if descending else slice(None)
    return "".join(f" {w:.6f}  {f:.6e}\n" for w, f in zip(wl[order], flux[order], strict=True))


def bobcat_file(folder: Path, name: str, scale: float = 1.0, wl: np.ndarray = WL) -> Path:
    header = " Teff, grav, Y, f_rain, kzz, Fe/H, C/O, f_hole\n microns  Flux (erg/cm^2/s/Hz)\n"
    return write_text(folder / name, header + columns(wl, scale * wl * 1e-8, descending=True))


def diamondback_file(folder: Path, name: str, scale: float = 1.0) -> Path:
    header = "wavelength (micron)  flux (W/m2/m)\n header line 2\n header line 3\n"
    return write_text(folder / name, header + columns(WL, scale * WL, descending=True))


def elf_owl_file(folder: Path, name: str, scale: float = 1.0, netcdf3: bool = False) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    if netcdf3:
        with netcdf_file(path, "w") as nc:
            nc.createDimension("wavelength", WL.size)
            nc.createVariable("wavelength", "d", ("wavelength",))[:] = WL
            nc.createVariable("flux", "d", ("wavelength",))[:] = scale * WL
    else:
        with h5py.File(path, "w") as h5:
            h5["wavelength"] = WL[::-1]
            h5["flux"] = scale * WL[::-1]
    return path


def user_dir(tmp_path: Path, table: str | None = None) -> Path:
    folder = tmp_path / "mine"
    for i in range(3):
        write_text(folder / f"s{i}.txt", "# wavelength flux\n" + columns(WL, (i + 1) * WL))
    default = "file,teff,logg\ns0.txt,1000,4.0\ns1.txt,1100,4.5\ns2.txt,1200,5.0\n"
    write_text(folder / "params.csv", default if table is None else table)
    return folder


def generic_h5(path: Path, **changes: object) -> Path:
    data: dict[str, object] = {
        "wavelength": WL[::-1] * 1000.0,
        "flux": np.outer([1.0, 2.0], WL[::-1]),
        "params/teff": np.array([900.0, 1000.0]),
        "params/logg": np.array([4.0, 4.5]),
    }
    data.update(changes)
    with h5py.File(path, "w") as h5:
        for key, value in data.items():
            if value is not None:
                h5[key] = value
        if "wavelength" in h5:
            h5["wavelength"].attrs["units"] = "nm"
        h5.attrs["flux_unit"] = "W / (m2 um)"
    return path


# --- telescopeml-csv ------------------------------------------------------------------------
@pytest.mark.parametrize("suffix", [".csv.bz2", ".csv", ".csv.gz"])
def test_telescopeml_csv_maps_parameters_units_and_order(tmp_path, suffix):
    path = TINY_CSV if suffix == ".csv.bz2" else write_text(tmp_path / f"t{suffix}",
                                                            tiny_csv_text())
    grid = read_grid(path)
    assert grid.axes == ["teff", "logg", "mh", "co"]
    assert grid.label(0) == {"teff": 1100.0, "logg": 5.0, "mh": -1.0, "co": 0.25}
    assert grid.label(2) == {"teff": 1000.0, "logg": 3.25, "mh": 0.7, "co": 2.5}
    assert grid.n_wavelengths == 104
    assert grid.wavelength[0] == pytest.approx(0.897) and grid.wavelength[-1] == 2.512
    assert np.all(np.diff(grid.wavelength) > 0)
    assert grid.flux.dtype == np.float32
    expected = np.outer(np.arange(1, 7), grid.wavelength) * 1e-8
    np.testing.assert_allclose(grid.flux, expected, rtol=1e-6)
    assert grid.flux_unit == "erg / (s cm2 Hz)"
    assert grid.meta["format"] == "telescopeml-csv"
    assert grid.meta["source"] == str(path)
    assert grid.meta["co_scale"] == "relative-to-solar"
    assert grid.meta["name"] and grid.meta["notes"]


def test_telescopeml_csv_skips_a_pandas_index_column(tmp_path):
    lines = tiny_csv_text().splitlines()
    text = "\n".join([","+lines[0]] + [f"{i},{line}" for i, line in enumerate(lines[1:])])
    grid = read_telescopeml_csv(write_text(tmp_path / "indexed.csv", text))
    assert len(grid) == 6 and grid.n_wavelengths == 104


def _replace_header(text: str, old: str, new: str) -> str:
    header, rest = text.split("\n", 1)
    return header.replace(old, new) + "\n" + rest


def _edit_row(text: str, row: int, column: int, value: str) -> str:
    lines = text.split("\n")
    cells = lines[row].split(",")
    cells[column] = value
    lines[row] = ",".join(cells)
    return "\n".join(lines)


def _drop_last_value_of_rows(text: str) -> str:
    header, *rows = text.splitlines()
    return "\n".join([header, *(row.rsplit(",", 1)[0] for row in rows)]) + "\n"


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda t: _replace_header(t, "gravity,", "g,").replace("metallicity", "feh"),
         "missing required columns: gravity, metallicity"),
        (lambda t: _edit_row(t, 2, 7, "abc"), "non-numeric value"),
        (lambda t: _replace_header(t, "2.512", "flux_a"), "not parseable as wavelengths: 'flux_a'"),
        (lambda t: _edit_row(_edit_row(t, 1, 9, "nan"), 3, 5, "inf"),
         "2 NaN/inf flux values in 2 spectra"),
        (lambda t: _edit_row(t, 3, 9, "1,2"), "inconsistent lengths"),
        (lambda t: t.split("\n")[0] + "\n", "no data rows"),
        (lambda t: "", "missing required columns"),
        (_drop_last_value_of_rows, "rows have 107 values but the header names 108"),
    ],
    ids=["missing-columns", "non-numeric", "bad-wavelength", "nan", "ragged", "header-only",
         "empty", "short-rows"],
)
def test_telescopeml_csv_bad_input(tmp_path, edit, message):
    path = write_text(tmp_path / "bad.csv", edit(tiny_csv_text()))
    with pytest.raises(DataError, match=message) as info:
        read_telescopeml_csv(path)
    assert info.value.source == str(path)


def test_telescopeml_csv_binary_file(tmp_path):
    path = tmp_path / "binary.csv"
    path.write_bytes(b"\xff\xfe\x00garbage\x81")
    with pytest.raises(DataError, match="not a text file"):
        read_telescopeml_csv(path)


@pytest.mark.parametrize("suffix", [".csv.bz2", ".csv.gz"])
@pytest.mark.parametrize("damage", ["garbage", "truncated"])
def test_telescopeml_csv_corrupt_compression(tmp_path, suffix, damage):
    good = write_text(tmp_path / f"good{suffix}", tiny_csv_text()).read_bytes()
    path = tmp_path / f"bad{suffix}"
    path.write_bytes(b"not compressed at all" if damage == "garbage" else good[: len(good) // 2])
    with pytest.raises(DataError, match="corrupt or truncated") as info:
        read_telescopeml_csv(path)
    assert info.value.source == str(path)


# --- sonora-bobcat --------------------------------------------------------------------------
def test_bobcat_parses_names_units_and_orders_wavelengths(tmp_path):
    folder = tmp_path / "bobcat"
    bobcat_file(folder, "sp_t200g100nc_m0.0", 1.0)
    bobcat_file(folder / "m+0.5", "sp_t400g316nc_m+0.5", 2.0)
    bobcat_file(folder, "sp_t400g316nc_m+0.0_co0.5.gz", 3.0)
    write_text(folder / "README.txt", "not a spectrum")
    grid = read_grid(folder)
    assert grid.meta["format"] == "sonora-bobcat"
    assert grid.axes == ["teff", "logg", "mh", "co"]
    labels = sorted(tuple(grid.label(i).values()) for i in range(len(grid)))
    assert labels == [(200.0, 4.0, 0.0, 1.0), (400.0, 4.5, 0.0, 0.5), (400.0, 4.5, 0.5, 1.0)]
    np.testing.assert_array_equal(grid.wavelength, WL)
    row = int(np.flatnonzero(grid.params["co"] == 0.5)[0])
    np.testing.assert_allclose(grid.flux[row], 3e-8 * WL, rtol=1e-6)
    assert grid.flux_unit == "erg / (s cm2 Hz)"
    assert grid.meta["co_scale"] == "relative-to-solar"


def test_bobcat_logg_step_none_keeps_exact_gravity(tmp_path):
    path = bobcat_file(tmp_path, "sp_t900g316nc_m0.0")
    grid = read_sonora_bobcat(path, logg_step=None)
    assert grid.params["logg"][0] == pytest.approx(math.log10(31600))


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        (lambda d: bobcat_file(d, "sp_t900gXnc_m0.0"), "cannot parse parameters"),
        (lambda d: write_text(d / "notes.txt", "x"), "no Sonora Bobcat sp_t"),
        (lambda d: write_text(d / "sp_t900g100nc_m0.0", "h\nh\n1.0 nan\n2.0 inf\n3.0 1\n"),
         "2 NaN/inf flux values"),
        (lambda d: write_text(d / "sp_t900g100nc_m0.0", "h\nh\n1.0 1\n2.0 x\n"),
         "non-numeric value"),
        (lambda d: write_text(d / "sp_t900g100nc_m0.0", "h\nh\n1.0 1\n2.0 1 3\n"),
         "inconsistent lengths"),
        (lambda d: (d / "sp_t900g100nc_m0.0.gz").write_bytes(b"\x1f\x8b\x08junk"),
         "corrupt or truncated"),
        (lambda d: write_text(d / "sp_t900g100nc_m0.0", "h\nh\n1.0 1\n1.0 2\n2.0 1\n"),
         "1 repeated wavelengths"),
        (lambda d: write_text(d / "sp_t900g100nc_m0.0", "h\nh\n1.0 1\n"), "at least 2 rows"),
    ],
    ids=["bad-name", "no-spectra", "nan", "non-numeric", "ragged", "corrupt-gzip", "repeated",
         "one-row"],
)
def test_bobcat_bad_input(tmp_path, setup, message):
    folder = tmp_path / "bobcat"
    folder.mkdir()
    setup(folder)
    with pytest.raises(DataError, match=message) as info:
        read_sonora_bobcat(folder)
    assert info.value.source is not None and str(folder) in info.value.source


# --- sonora-netcdf: Elf Owl and Diamondback -----------------------------------------------------
def test_elf_owl_netcdf4_and_netcdf3(tmp_path):
    folder = tmp_path / "elf_owl"
    elf_owl_file(folder / "output_400.0_500.0",
                 "spectra_logzz_2.0_teff_400.0_grav_17.0_mh_0.0_co_1.0.nc", 1.0)
    elf_owl_file(folder / "output_400.0_500.0",
                 "spectra_logzz_7.0_teff_450.0_grav_1000.0_mh_-0.5_co_2.5.nc", 2.0, netcdf3=True)
    grid = read_grid(folder)
    assert grid.meta["format"] == "sonora-netcdf"
    assert grid.axes == ["teff", "logg", "mh", "co", "kzz"]
    assert grid.label(0) == {"teff": 400.0, "logg": 3.25, "mh": 0.0, "co": 1.0, "kzz": 2.0}
    assert grid.label(1) == {"teff": 450.0, "logg": 5.0, "mh": -0.5, "co": 2.5, "kzz": 7.0}
    np.testing.assert_array_equal(grid.wavelength, WL)
    np.testing.assert_allclose(grid.flux, np.outer([1.0, 2.0], WL), rtol=1e-6)
    assert grid.flux_unit == "erg / (s cm2 cm)"
    assert grid.meta["co_scale"] == "relative-to-solar"


def test_diamondback_fsed_becomes_inv_fsed(tmp_path):
    folder = tmp_path / "diamondback"
    diamondback_file(folder, "t900g316f1_m0.0_co1.0.spec", 1.0)
    diamondback_file(folder, "t900g316f2_m+0.5_co1.0.spec", 2.0)
    diamondback_file(folder, "t1000g3160nc_m-0.5_co1.0.spec.gz", 3.0)
    grid = read_sonora_netcdf(folder)
    assert grid.axes == ["teff", "logg", "mh", "co", "inv_fsed"]
    by_teff = {(grid.label(i)["teff"], grid.label(i)["inv_fsed"]) for i in range(3)}
    assert by_teff == {(900.0, 1.0), (900.0, 0.5), (1000.0, 0.0)}
    assert set(grid.params["logg"]) == {4.5, 5.5}
    assert grid.flux_unit == "W / (m2 m)"
    np.testing.assert_array_equal(grid.wavelength, WL)


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        (lambda d: (diamondback_file(d, "t900g316f1_m0.0_co1.0.spec"),
                    elf_owl_file(d, "spectra_logzz_2.0_teff_400.0_grav_17.0_mh_0.0_co_1.0.nc")),
         "mixes Elf Owl"),
        (lambda d: write_text(d / "spectra_logzz_2_teff_400.nc", "x"), "cannot parse"),
        (lambda d: write_text(d / "spectra_logzz_2.0_teff_400.0_grav_17.0_mh_0.0_co_1.0.nc",
                              "garbage"), "not a netCDF file"),
        (lambda d: (d / "spectra_logzz_2.0_teff_400.0_grav_17.0_mh_0.0_co_1.0.nc").write_bytes(
            b"\x89HDF\r\n\x1a\nbroken"), "damaged netCDF file"),
        (lambda d: h5py.File(d / "spectra_logzz_2.0_teff_400.0_grav_17.0_mh_0.0_co_1.0.nc",
                             "w").close(), "no variable 'wavelength'"),
        (lambda d: write_text(d / "t900g316f1_m0.0_co1.0.spec", "a\nb\nc\n1.0 1\n2.0 nan\n"),
         "1 NaN/inf flux values"),
    ],
    ids=["mixed", "bad-name", "not-netcdf", "damaged", "missing-variable", "nan"],
)
def test_sonora_netcdf_bad_input(tmp_path, setup, message):
    setup(tmp_path)
    with pytest.raises(DataError, match=message):
        read_sonora_netcdf(tmp_path)


# --- user-dir -------------------------------------------------------------------------------
def test_user_dir_reads_table_and_spectra(tmp_path):
    folder = user_dir(tmp_path)
    grid = read_grid(folder, flux_unit="W / (m2 um)")
    assert grid.meta["format"] == "user-dir"
    assert grid.axes == ["teff", "logg"]
    assert grid.label(1) == {"teff": 1100.0, "logg": 4.5}
    np.testing.assert_allclose(grid.flux[2], 3 * WL, rtol=1e-6)
    assert grid.flux_unit == "W / (m2 um)"


def test_user_dir_without_flux_unit_says_what_it_assumed(tmp_path):
    grid = read_user_dir(user_dir(tmp_path))
    assert grid.flux_unit == "erg / (s cm2 cm)"
    assert any("flux_unit not given" in note for note in grid.meta["notes"])


@pytest.mark.parametrize(
    ("table", "options", "message"),
    [
        ("name,teff\ns0.txt,1000\n", {}, "missing required columns: file"),
        ("file,teff\ns0.txt,hot\n", {}, "non-numeric value 'hot' for 'teff' on line 2"),
        ("file,teff\ns9.txt,1000\n", {}, "listed in params.csv but missing"),
        ("file,teff\n", {}, "no rows"),
        ("file,teff\ns0.txt,1000,7\n", {}, "line 2 has a different number of values"),
        (None, {"flux_unit": "furlongs per fortnight"}, "not an astropy unit"),
        (None, {"params_file": "other.csv"}, "no such parameter table"),
    ],
    ids=["no-file-column", "non-numeric", "missing-spectrum", "no-rows", "ragged", "bad-unit",
         "missing-table"],
)
def test_user_dir_bad_input(tmp_path, table, options, message):
    with pytest.raises(DataError, match=message):
        read_user_dir(user_dir(tmp_path, table), **options)


@pytest.mark.parametrize("contents", [[], ["s0.txt"]], ids=["empty", "no-table"])
def test_user_dir_empty_or_without_table(tmp_path, contents):
    for name in contents:
        write_text(tmp_path / name, columns(WL, WL))
    with pytest.raises(DataError, match="empty" if not contents else "no parameter table"):
        read_user_dir(tmp_path)


# --- hdf5 -----------------------------------------------------------------------------------
def test_hdf5_reads_our_own_format(tmp_path):
    grid = SpectralGrid({"teff": [900.0, 1000.0]}, WL, np.outer([1.0, 2.0], WL),
                        meta={"name": "ours"})
    path = grid.to_hdf5(tmp_path / "grid.h5")
    back = read_grid(path)
    assert back.meta["name"] == "ours"
    np.testing.assert_array_equal(back.flux, grid.flux)


def test_hdf5_generic_converts_units_and_orders_wavelengths(tmp_path):
    grid = read_hdf5(generic_h5(tmp_path / "generic.hdf5"))
    np.testing.assert_allclose(grid.wavelength, WL)
    np.testing.assert_allclose(grid.flux, np.outer([1.0, 2.0], WL), rtol=1e-6)
    assert grid.flux_unit == "W / (m2 um)"
    assert grid.label(1) == {"teff": 1000.0, "logg": 4.5}
    assert grid.meta["format"] == "hdf5"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"flux": None}, "missing HDF5 datasets/groups: flux"),
        ({"flux": np.ones((2, 5))}, "flux has shape"),
        ({"params/logg": np.array([4.0])}, "parameter 'logg' has shape"),
        ({"flux": np.array([[1.0] * 10 + [np.nan]] * 2)}, "2 NaN/inf flux values in 2 spectra"),
    ],
    ids=["missing", "shape", "params-length", "nan"],
)
def test_hdf5_bad_input(tmp_path, changes, message):
    path = generic_h5(tmp_path / "bad.h5", **changes)
    with pytest.raises(DataError, match=message) as info:
        read_hdf5(path)
    assert info.value.source == str(path)


def test_hdf5_without_flux_unit_says_what_it_assumed(tmp_path):
    path = generic_h5(tmp_path / "g.h5")
    with h5py.File(path, "a") as h5:
        del h5.attrs["flux_unit"]
    grid = read_hdf5(path)
    assert grid.flux_unit == "erg / (s cm2 cm)"
    assert any("flux unit not given" in note for note in grid.meta["notes"])


def test_hdf5_not_hdf5(tmp_path):
    with pytest.raises(DataError, match="not a readable HDF5 file"):
        read_hdf5(write_text(tmp_path / "x.h5", "text"))


# --- dispatcher -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (lambda d: TINY_CSV, "telescopeml-csv"),
        (lambda d: write_text(d / "t.csv", "x"), "telescopeml-csv"),
        (lambda d: bobcat_file(d / "b", "sp_t200g100nc_m0.0").parent, "sonora-bobcat"),
        (lambda d: bobcat_file(d, "sp_t200g100nc_m0.0"), "sonora-bobcat"),
        (lambda d: elf_owl_file(d / "e" / "sub", "spectra_logzz_2.0_teff_400.0_grav_17.0_mh_0.0"
                                "_co_1.0.nc").parent.parent, "sonora-netcdf"),
        (lambda d: diamondback_file(d / "db", "t900g316f1_m0.0_co1.0.spec").parent,
         "sonora-netcdf"),
        (lambda d: user_dir(d), "user-dir"),
        (lambda d: generic_h5(d / "g.hdf5"), "hdf5"),
        (lambda d: elf_owl_file(d, "spectra_logzz_2.0_teff_400.0_grav_17.0_mh_0.0_co_1.0.nc"),
         "sonora-netcdf"),
        (lambda d: generic_h5(d / "grid.bin"), "hdf5"),
    ],
    ids=["csv-bz2", "csv", "bobcat-dir", "bobcat-file", "elf-owl-dir", "diamondback-dir",
         "user-dir", "hdf5", "elf-owl-file", "hdf5-by-magic"],
)
def test_sniff_format(tmp_path, make, expected):
    assert sniff_format(make(tmp_path)) == expected


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda d: d / "nowhere", "no such file or directory"),
        (lambda d: d, "the directory is empty"),
        (lambda d: write_text(d / "mystery.dat", "1 2\n"), "cannot tell the grid format"),
        (lambda d: write_text(d / "sub" / "mystery.dat", "1 2\n").parent,
         "cannot tell the grid format"),
    ],
    ids=["missing", "empty-dir", "unknown-file", "unknown-dir"],
)
def test_read_grid_cannot_sniff(tmp_path, make, message):
    path = make(tmp_path)
    with pytest.raises(DataError, match=message) as info:
        read_grid(path)
    assert info.value.source == str(path)


def test_read_grid_explicit_and_unknown_format(tmp_path):
    path = bobcat_file(tmp_path, "renamed.txt")
    with pytest.raises(DataError, match="cannot parse parameters"):
        read_grid(path, format="sonora-bobcat")
    with pytest.raises(UnknownNameError, match="unknown grid format 'fits'") as info:
        read_grid(path, format="fits")
    assert info.value.valid == sorted(GRID_FORMATS)


@pytest.mark.parametrize("reader", list(GRID_FORMATS.values()))
def test_every_reader_names_a_missing_path(tmp_path, reader):
    with pytest.raises(DataError, match="no such file or directory") as info:
        reader(tmp_path / "gone")
    assert info.value.source == str(tmp_path / "gone")


# --- resampling -----------------------------------------------------------------------------
def test_files_with_different_wavelengths_are_resampled_onto_the_first(tmp_path):
    bobcat_file(tmp_path, "sp_t200g100nc_m0.0", wl=WL)
    fine = np.linspace(0.9, 2.1, 241)
    write_text(tmp_path / "sp_t300g100nc_m0.0",
               "h\nh\n" + columns(fine, np.full(fine.size, 5.0), descending=True))
    grid = read_sonora_bobcat(tmp_path)
    np.testing.assert_array_equal(grid.wavelength, WL)
    np.testing.assert_allclose(grid.flux[1], 5.0, rtol=1e-6)  # flux density conserved
    assert any("1 of 2 spectra resampled" in note for note in grid.meta["notes"])


def test_wavelength_and_resolution_options(tmp_path):
    bobcat_file(tmp_path, "sp_t200g100nc_m0.0", wl=np.linspace(1.0, 2.0, 2001))
    target = np.linspace(1.2, 1.8, 7)
    grid = read_sonora_bobcat(tmp_path, wavelength=target)
    np.testing.assert_array_equal(grid.wavelength, target)
    np.testing.assert_allclose(grid.flux[0], 1e-8 * target, rtol=1e-4)
    grid = read_sonora_bobcat(tmp_path, resolution=100)
    ratio = grid.wavelength[1:] / grid.wavelength[:-1]
    np.testing.assert_allclose(ratio, 1.01)
    assert 1.0 < grid.wavelength[0] and grid.wavelength[-1] < 2.0


def test_resampling_target_outside_a_file_is_an_error(tmp_path):
    path = bobcat_file(tmp_path, "sp_t200g100nc_m0.0")
    with pytest.raises(DataError, match="lie partly outside it") as info:
        read_sonora_bobcat(tmp_path, wavelength=np.linspace(0.5, 1.5, 5))
    assert info.value.source == str(path)
    with pytest.raises(ValueError, match="not both"):
        read_sonora_bobcat(tmp_path, wavelength=WL, resolution=100)
    with pytest.raises(ValueError, match="strictly increasing"):
        read_sonora_bobcat(tmp_path, wavelength=WL[::-1])


# --- progress and float32 -------------------------------------------------------------------
def test_progress_bar_and_float32_underflow_note(tmp_path, capsys):
    bobcat_file(tmp_path, "sp_t200g100nc_m0.0", scale=1e-40)
    grid = read_sonora_bobcat(tmp_path, progress=True)
    assert "Bobcat" in capsys.readouterr().err
    assert any("too small for float32" in note for note in grid.meta["notes"])
    read_sonora_bobcat(tmp_path)
    assert capsys.readouterr().err == ""
