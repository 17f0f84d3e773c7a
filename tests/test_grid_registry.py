"""The grid-format registry: every registered format, found by iterating the registry, round
trips through its writer and is recognised by its suffixes and name patterns; sniffing, the
suffix lists and the fit check's guard all derive from it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from telescopeml.data.formats import (
    GRID_FORMATS,
    grid_patterns,
    grid_suffixes,
    is_grid_path,
    read_grid,
    register_grid_format,
    register_grid_writer,
    sniff_format,
    write_grid,
)
from telescopeml.data.grid import SpectralGrid
from telescopeml.errors import DataError, UnknownNameError
from telescopeml.predict import _unsafe_grid_name

WRITABLE = [name for name, fmt in GRID_FORMATS.items() if fmt.writer is not None]
NAMED = [(name, s) for name, fmt in GRID_FORMATS.items() for s in fmt.suffixes]
PATTERNED = [(name, p) for name, fmt in GRID_FORMATS.items() for p in fmt.patterns]


def example_name(pattern: str) -> str:
    """A file name that ``pattern`` (fnmatch) matches."""
    return pattern.replace("*", "x1000").replace("?", "x")


def claimers(path: Path) -> list[str]:
    return [name for name, fmt in GRID_FORMATS.items() if fmt.claims_name(path)]


@pytest.fixture
def registry():
    """The registry, restored after a test that registers a format."""
    saved = dict(GRID_FORMATS)
    yield GRID_FORMATS
    GRID_FORMATS.clear()
    GRID_FORMATS.update(saved)


def test_the_built_in_formats_are_registered():
    assert {"telescopeml-csv", "sonora-bobcat", "sonora-netcdf", "user-dir", "hdf5",
            "telescopeml-grid", "telescopeml-compact-grid"} <= set(GRID_FORMATS)
    assert {"telescopeml-grid", "telescopeml-compact-grid"} <= set(WRITABLE)


@pytest.mark.parametrize("name", WRITABLE)
def test_every_writer_round_trips(toy_grid, tmp_path, name):
    fmt = GRID_FORMATS[name]
    for suffix in fmt.suffixes or ("",):
        path = write_grid(toy_grid, tmp_path / f"grid{suffix}", format=name)
        assert sniff_format(path) == name  # by suffix, and by content where it is shared
        if suffix:  # the suffix alone picks this writer
            assert sniff_format(write_grid(toy_grid, tmp_path / f"auto{suffix}")) == name
        back = read_grid(path)
        assert back.axes == toy_grid.axes and back.flux_unit == toy_grid.flux_unit
        for axis in toy_grid.axes:
            np.testing.assert_array_equal(back.params[axis], toy_grid.params[axis])
        np.testing.assert_array_equal(back.wavelength, toy_grid.wavelength)
        np.testing.assert_allclose(back.flux_array(), toy_grid.flux_array(), rtol=1e-3)
        assert back.meta["name"] == toy_grid.meta["name"]


@pytest.mark.parametrize("name", WRITABLE)
def test_every_writable_format_is_found_by_content_under_any_name(toy_grid, tmp_path, name):
    path = write_grid(toy_grid, tmp_path / "grid.bin", format=name)
    assert sniff_format(path) == name


@pytest.mark.parametrize(("name", "suffix"), NAMED)
def test_every_suffix_is_recognised(tmp_path, name, suffix):
    for spelled in (suffix, suffix.upper()):
        path = tmp_path / f"grid{spelled}"
        path.write_bytes(b"")
        assert name in claimers(path)
        if claimers(path) == [name]:  # the only claimant: the name alone decides
            assert sniff_format(path) == name
        assert is_grid_path(path) and is_grid_path(tmp_path / "absent" / path.name)
        assert _unsafe_grid_name(str(tmp_path / "absent" / path.name)) == ""
        assert suffix in grid_suffixes()


@pytest.mark.parametrize(("name", "pattern"), PATTERNED)
def test_every_name_pattern_is_recognised(tmp_path, name, pattern):
    path = tmp_path / example_name(pattern)
    path.write_bytes(b"")
    assert claimers(path) == [name] and sniff_format(path) == name
    (tmp_path / "folder").mkdir()
    (tmp_path / "folder" / path.name).write_bytes(b"")
    if GRID_FORMATS[name].directory:
        assert sniff_format(tmp_path / "folder") == name
    assert _unsafe_grid_name(str(tmp_path / "absent" / path.name)) == ""
    assert pattern in grid_patterns()


@pytest.mark.parametrize("name", [".hdf", ".csv.gz", ".csv.bz2", ".spec.gz", ".spec", ".h5",
                                  ".hdf5", ".nc", ".csv", ".safetensors",
                                  "sp_t1000g316nc_m0.0", "sp_t1000g316nc_m0.0.gz"])
def test_the_fit_check_accepts_every_grid_name_that_sniffing_does(name):
    assert _unsafe_grid_name(f"/nowhere/grid{name}" if name.startswith(".") else
                             f"/nowhere/{name}") == ""


@pytest.mark.parametrize("name", ["/etc/passwd", "/nowhere/grid.txt", "/nowhere/grid.txt.bz2",
                                  "/nowhere/grid.bz2", "/nowhere/grid.gz", "/nowhere/grid.fits",
                                  "/nowhere/grid.h5.bak", "/nowhere/grid", "/nowhere/x_sp_t1000",
                                  "/nowhere/grid.csv.zip", "~/.ssh/id_rsa"])
def test_the_fit_check_refuses_other_names(name):
    refused = _unsafe_grid_name(name)
    assert "neither a registered grid nor a grid file" in refused
    assert all(s in refused for s in grid_suffixes())
    assert not is_grid_path(name)


def test_the_fit_check_accepts_directories_and_registered_grids(tmp_path):
    assert _unsafe_grid_name(str(tmp_path)) == ""
    assert _unsafe_grid_name("splat-dback24") == ""


def toy_npz_reader(path):
    with np.load(path) as data:
        return SpectralGrid({"teff": data["teff"]}, data["wavelength"], data["flux"],
                            meta={"name": "npz"})


def test_a_new_format_is_one_registration(registry, tmp_path, toy_grid):
    """Registering a format is all it takes for sniffing, writing and the fit check."""
    assert _unsafe_grid_name("/nowhere/grid.npz") != ""
    register_grid_format("toy-npz", suffixes=(".npz",))(toy_npz_reader)

    @register_grid_writer("toy-npz")
    def write_npz(grid, path):
        np.savez(path, teff=grid.params["teff"], wavelength=grid.wavelength, flux=grid.flux)
        return path

    path = write_grid(toy_grid, tmp_path / "grid.npz")
    assert sniff_format(path) == "toy-npz" and ".npz" in grid_suffixes()
    np.testing.assert_array_equal(read_grid(path).flux, toy_grid.flux)
    assert _unsafe_grid_name("/nowhere/grid.npz") == ""
    assert GRID_FORMATS["toy-npz"](path).meta["name"] == "npz"  # a format reads when called


def test_a_writer_needs_a_registered_format(registry):
    with pytest.raises(UnknownNameError, match="unknown grid format 'nope'"):
        register_grid_writer("nope")(lambda grid, path: path)


def test_write_grid_refuses_what_it_cannot_write(toy_grid, tmp_path):
    with pytest.raises(DataError, match="cannot tell the grid format from the file name") as info:
        write_grid(toy_grid, tmp_path / "grid.csv")  # read-only format
    assert ".h5" in str(info.value) and ".safetensors" in str(info.value)
    with pytest.raises(UnknownNameError, match="grid format with a writer") as info:
        write_grid(toy_grid, tmp_path / "grid.h5", format="sonora-bobcat")
    assert info.value.valid == sorted(WRITABLE)
    with pytest.raises(UnknownNameError, match="unknown grid format"):
        write_grid(toy_grid, tmp_path / "grid.h5", format="nope")


def test_identify_errors_count_as_not_recognised(registry, tmp_path):
    def broken(path):
        raise OSError("cannot look")

    register_grid_format("broken", identify=broken)(toy_npz_reader)
    path = tmp_path / "mystery.dat"
    path.write_text("1 2\n")
    with pytest.raises(DataError, match="cannot tell the grid format"):
        sniff_format(path)


def test_native_hdf5_sniffs_as_ours_and_generic_as_hdf5(toy_grid, tmp_path):
    import h5py

    ours = toy_grid.to_hdf5(tmp_path / "ours.h5")
    assert sniff_format(ours) == "telescopeml-grid"
    assert read_grid(ours, format="hdf5").checksum() == toy_grid.checksum()  # still reads it
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as h5:
        h5["x"] = [1, 2]
    assert sniff_format(other) == "hdf5"
    streamed = read_grid(ours, stream=True)
    assert isinstance(streamed.flux, h5py.Dataset)
    streamed.flux.file.close()
