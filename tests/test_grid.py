"""SpectralGrid: axes, checks, selection, interpolation, HDF5."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from conftest import analytic_log_flux
from telescopeml import DataError, OutOfGridError, SpectralGrid, UnknownNameError


def test_axes_and_completeness(toy_grid):
    assert toy_grid.axes == ["teff", "logg", "mh"]
    assert toy_grid.axis_values("teff").tolist() == [900, 1000, 1100, 1200]
    assert len(toy_grid) == 36 and toy_grid.n_wavelengths == 60
    report = toy_grid.check()
    assert report.complete and report.ok and report.missing == []


def test_incomplete_grid_reports_missing_points(toy_grid):
    keep = np.flatnonzero(~((toy_grid.params["teff"] == 1000) & (toy_grid.params["mh"] == 0.5)))
    grid = toy_grid.take(keep)
    assert not grid.is_complete()
    missing = grid.missing_points()
    assert len(missing) == 3
    assert all(m["teff"] == 1000 and m["mh"] == 0.5 for m in missing)
    assert "3 combinations missing" in grid.summary()


def test_duplicates_under_different_labels_are_found(toy_grid):
    flux = toy_grid.flux_array()
    flux[5] = flux[20]
    grid = toy_grid.with_flux(flux)
    assert grid.duplicate_spectra() == [[5, 20]]
    assert not grid.check().ok


def test_repeated_labels_make_grid_incomplete(toy_grid):
    params = {k: v.copy() for k, v in toy_grid.params.items()}
    for k in params:
        params[k][1] = params[k][0]
    grid = SpectralGrid(params, toy_grid.wavelength, toy_grid.flux_array())
    assert grid.repeated_labels() == [[0, 1]]
    assert not grid.is_complete()


def test_bad_flux_is_reported(toy_grid):
    flux = toy_grid.flux_array()
    flux[3, :4] = np.nan
    flux[7, 10] = -1.0
    flux[8, :] = 0.0
    bad = toy_grid.with_flux(flux).bad_spectra()
    assert set(bad) == {3, 7, 8}
    assert "4 NaN" in bad[3] and "1 zero or negative" in bad[7]
    with pytest.raises(DataError, match="non-positive"):
        toy_grid.with_flux(flux).interpolate(teff=950, logg=4.2, mh=0.1)


def test_subset_by_range_list_and_value(toy_grid):
    sub = toy_grid.subset(teff=(950, 1100), logg=[4.0, 5.0], mh=0)
    assert sorted(set(sub.params["teff"])) == [1000, 1100]
    assert sorted(set(sub.params["logg"])) == [4.0, 5.0]
    assert set(sub.params["mh"]) == {0.0}
    assert len(sub) == 4
    with pytest.raises(OutOfGridError):
        toy_grid.subset(teff=(3000, 4000))
    with pytest.raises(UnknownNameError, match="valid: teff, logg, mh"):
        toy_grid.subset(co=0.5)


def test_a_selection_does_not_claim_its_parents_checksum(toy_grid):
    toy_grid.meta["checksum"] = toy_grid.checksum()
    sub = toy_grid.subset(mh=0)
    assert "checksum" not in sub.meta and sub.meta["selected_from"] == toy_grid.meta["checksum"]
    assert sub.checksum() != toy_grid.meta["checksum"]


def test_interpolation_is_exact_at_nodes(toy_grid):
    flux = toy_grid.flux_array()
    for i in (0, 13, 35):
        label = toy_grid.label(i)
        np.testing.assert_allclose(toy_grid.interpolate(**label), flux[i], rtol=1e-5)


def test_interpolation_between_nodes_is_linear_in_log_flux(toy_grid):
    point = {"teff": 1037.0, "logg": 4.8, "mh": -0.2}
    expected = np.exp(analytic_log_flux(*(np.array([v]) for v in point.values()),
                                        toy_grid.wavelength))[0]
    np.testing.assert_allclose(toy_grid.interpolate(**point), expected, rtol=1e-5)


def test_interpolation_refuses_outside_and_at_missing_nodes(toy_grid):
    with pytest.raises(OutOfGridError, match="teff=1300 is outside the grid"):
        toy_grid.interpolate(teff=1300, logg=4.5, mh=0)
    with pytest.raises(ValueError, match="needs 'mh'"):
        toy_grid.interpolate(teff=1000, logg=4.5)
    keep = np.flatnonzero(~((toy_grid.params["teff"] == 1000) & (toy_grid.params["logg"] == 4.5)
                            & (toy_grid.params["mh"] == 0)))
    with pytest.raises(OutOfGridError, match="no spectrum at"):
        toy_grid.take(keep).interpolate(teff=1050, logg=4.5, mh=0.0)


def test_constructor_validates(toy_grid):
    w = toy_grid.wavelength
    with pytest.raises(DataError, match="not strictly increasing"):
        SpectralGrid(toy_grid.params, w[::-1], toy_grid.flux_array())
    with pytest.raises(DataError, match="flux has shape"):
        SpectralGrid(toy_grid.params, w[:-1], toy_grid.flux_array())
    with pytest.raises(DataError, match="parameter 'teff' has 2 values"):
        SpectralGrid({"teff": [1, 2]}, w, toy_grid.flux_array())


@pytest.mark.parametrize("stream", [False, True])
def test_hdf5_round_trip(toy_grid, tmp_path, stream):
    path = toy_grid.to_hdf5(tmp_path / "grid.h5")
    loaded = SpectralGrid.from_hdf5(path, stream=stream)
    assert loaded.axes == toy_grid.axes
    assert loaded.meta == toy_grid.meta and loaded.flux_unit == toy_grid.flux_unit
    np.testing.assert_array_equal(loaded.flux_array(), toy_grid.flux_array())
    assert loaded.checksum() == toy_grid.checksum()
    assert isinstance(loaded.flux, h5py.Dataset) == stream
    np.testing.assert_allclose(loaded.interpolate(teff=1000, logg=4.5, mh=0),
                               toy_grid.interpolate(teff=1000, logg=4.5, mh=0))
    assert not list(tmp_path.glob("*.part"))


def test_streamed_chunks_cover_every_row(toy_grid, tmp_path, monkeypatch):
    monkeypatch.setattr("telescopeml.data.grid.CHUNK_ROWS", 5)
    path = toy_grid.to_hdf5(tmp_path / "grid.h5")
    loaded = SpectralGrid.from_hdf5(path, stream=True)
    blocks = list(loaded.iter_flux(chunk=7))
    assert [b.shape[0] for _, b in blocks] == [7, 7, 7, 7, 7, 1]
    sub = loaded.take([30, 2, 17])
    np.testing.assert_array_equal(sub.flux, toy_grid.flux_array()[[30, 2, 17]])


def test_hdf5_bad_files(tmp_path, toy_grid):
    with pytest.raises(DataError, match="no such file"):
        SpectralGrid.from_hdf5(tmp_path / "missing.h5")
    junk = tmp_path / "junk.h5"
    junk.write_bytes(b"not hdf5 at all")
    with pytest.raises(DataError, match=r"junk\.h5: not a readable HDF5"):
        SpectralGrid.from_hdf5(junk)
    foreign = tmp_path / "foreign.h5"
    with h5py.File(foreign, "w") as h5:
        h5["x"] = [1, 2]
    with pytest.raises(DataError, match="not a telescopeml grid"):
        SpectralGrid.from_hdf5(foreign)
    future = toy_grid.to_hdf5(tmp_path / "future.h5")
    with h5py.File(future, "a") as h5:
        h5.attrs["format_version"] = 99
    with pytest.raises(DataError, match="newer than this telescopeml"):
        SpectralGrid.from_hdf5(future)


def test_crop_resample_and_smooth(toy_grid):
    cropped = toy_grid.crop(1.0, 2.0)
    assert cropped.wavelength.min() >= 1.0 and cropped.wavelength.max() <= 2.0
    with pytest.raises(OutOfGridError, match="fewer than 2"):
        toy_grid.crop(5.0, 6.0)
    new = np.linspace(1.0, 2.0, 20)
    resampled = toy_grid.resample(new)
    assert resampled.flux.shape == (36, 20) and resampled.axes == toy_grid.axes
    # flux-conserving: a smooth spectrum keeps its values to within the curvature error
    np.testing.assert_allclose(resampled.flux[0], np.interp(new, toy_grid.wavelength,
                                                            toy_grid.flux[0]), rtol=0.01)
    with pytest.raises(OutOfGridError, match="fall outside"):
        toy_grid.resample(np.linspace(0.5, 2.0, 20))
    smoothed = toy_grid.smooth(50)
    assert smoothed.meta["resolution"] == 50.0
    interior = slice(10, -10)
    np.testing.assert_allclose(smoothed.flux[:, interior], toy_grid.flux[:, interior], rtol=0.05)


def test_keep_windows_keeps_the_union_of_the_windows(toy_grid):
    kept = toy_grid.keep_windows([(1.0, 1.5), (2.0, 2.2)])
    w = toy_grid.wavelength
    inside = ((w >= 1.0) & (w <= 1.5)) | ((w >= 2.0) & (w <= 2.2))
    np.testing.assert_array_equal(kept.wavelength, w[inside])
    np.testing.assert_array_equal(kept.flux, toy_grid.flux[:, inside])
    with pytest.raises(OutOfGridError, match="windows 5-6 µm keep fewer than 2"):
        toy_grid.keep_windows([(5.0, 6.0)])
