"""Grid sources: pinned wheels, checksums, splat/ucdmcmc converters, safe unpickling, library."""

from __future__ import annotations

import dataclasses
import fractions
import gzip
import io
import os
import pickle
import warnings
import zipfile
from pathlib import Path

import h5py
import numpy as np
import pytest
from astropy.io import fits

from telescopeml.cli import main
from telescopeml.data import library, sources, wheels
from telescopeml.data.safe_pickle import read_pandas_fixed, safe_loads
from telescopeml.data.spectrum import ObservedSpectrum
from telescopeml.errors import ChecksumError, DataError, UnknownNameError

WAVE = np.linspace(0.7, 2.5, 40)


def _model_text(teff: float, logg: float, header: str = "wave\tflux") -> bytes:
    flux = np.exp(-WAVE * teff / 1000 + logg)
    body = "\n".join(f"{w:.8f}\t{f:.6e}" for w, f in zip(WAVE, flux, strict=True))
    return gzip.compress(f"{header}\n{body}\n".encode())


def _pandas_fixed(columns: dict[str, np.ndarray], objects: dict[str, list]) -> bytes:
    """A pandas format='fixed' table like ucdmcmc's, written with h5py."""
    buf = io.BytesIO()
    n = len(next(iter(columns.values())))
    with h5py.File(buf, "w") as h5:
        g = h5.create_group("models")
        g.attrs["nblocks"] = 2
        g["axis1"] = np.arange(n)
        g["block0_items"] = np.array([k.encode() for k in columns])
        g["block0_values"] = np.column_stack(list(columns.values()))
        g["block1_items"] = np.array([k.encode() for k in objects])
        obj = np.empty((n, len(objects)), dtype=object)
        for j, values in enumerate(objects.values()):
            for i, v in enumerate(values):
                obj[i, j] = v
        payload = np.frombuffer(pickle.dumps(obj, protocol=4), dtype=np.uint8)
        ds = g.create_dataset("block1_values", (1,), dtype=h5py.vlen_dtype(np.uint8))
        ds[0] = payload
    return buf.getvalue()


def _spex_fits(scale: float) -> bytes:
    data = np.vstack([WAVE, scale * np.exp(-WAVE), 0.05 * scale * np.exp(-WAVE)])
    hdu = fits.PrimaryHDU(data.astype(np.float32))
    hdu.header["XUNITS"], hdu.header["YUNITS"] = "um", "ergss-1cm-2A-1"
    buf = io.BytesIO()
    hdu.writeto(buf)
    return buf.getvalue()


def make_splat_wheel(path: Path, with_library: bool = True) -> Path:
    with zipfile.ZipFile(path, "w") as z:
        prefix = "splat/resources/SpectralModels/dback24/SPEX-PRISM/"
        for t in (1000, 1100):
            for g in ("4.50", "5.00"):
                for f in ("2.00", "10.00"):
                    z.writestr(f"{prefix}dback24_t{t}_g{g}_z-0.00_f{f}_SPEX-PRISM.txt.gz",
                               _model_text(t, float(g) + (0.1 if f == "10.00" else 0.0)))
        if with_library:
            z.writestr("splat/db/spectral_data.csv",
                       "\ufeffDATA_KEY,SOURCE_KEY,DATA_FILE,MEDIAN_SNR,SPEX_TYPE,QUALITY_FLAG\r"
                       "1,10,1_10.fits,50,T7.5,OK\r2,10,2_10.fits,90,T7.5,OK\r"
                       "3,11,3_11.fits,20,L4.0,OK\r")
            z.writestr("splat/db/source_data.csv",
                       "\ufeffSOURCE_KEY,NAME,DESIGNATION,DISTANCE\r"
                       "10,HD 3651B,J0039191+211516,11.1\r11,2MASS J0036+1821,J0036+1821,8.7\r")
            for k, f in enumerate(("1_10.fits", "2_10.fits", "3_11.fits")):
                z.writestr(f"splat/resources/Spectra/Public/SPEX-PRISM/{f}.gz",
                           gzip.compress(_spex_fits(scale=k + 1)))
    return path


def make_ucdmcmc_wheel(path: Path) -> Path:
    n_pix = 12
    teff = np.array([500.0, 500.0, 600.0, 600.0])
    logg = np.array([4.0, 5.0, 4.0, 5.0])
    table = _pandas_fixed(
        {"kzz": np.array([6.0, 5.0, 6.0, 5.0]), "logg": logg, "teff": teff,
         "z": np.zeros(4)},
        {"model": ["atmo"] * 4,
         "flux": [np.exp(-np.linspace(1, 2, n_pix) * t / 1000 + g) for t, g in zip(teff, logg,
                                                                                  strict=True)]},
    )
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("ucdmcmc/models/models_atmo20pp_SPEX-PRISM.h5", table)
        z.writestr("ucdmcmc/models/wave_SPEX-PRISM.csv",
                   "wave\n" + "\n".join(f"{w:.5f}" for w in np.linspace(0.7, 2.5, n_pix)))
        z.writestr("ucdmcmc/spectra/JWST-NIRSPEC-PRISM_Wolf1130C_Burgasser2025.csv",
                   "wave,flux,unc\n" + "\n".join(f"{w:.3f},1e-15,1e-16"
                                                    for w in np.linspace(1, 5, 20)))
    return path


@pytest.fixture
def fake_wheels(tmp_path, monkeypatch):
    """Fake splat and ucdmcmc wheels 'downloaded' by a stand-in for pip, with matching pins."""
    made = {"splat": make_splat_wheel(tmp_path / "splat.whl"),
            "ucdmcmc": make_ucdmcmc_wheel(tmp_path / "ucdmcmc.whl")}
    calls = []
    for package, file in made.items():
        pin = wheels.WHEELS[package]
        monkeypatch.setitem(wheels.WHEELS, package, wheels.DataWheel(
            pin.package, pin.version, wheels.sha256_file(file), pin.license, pin.citation))

    def fake_download(wheel, dest, quiet=False):
        calls.append(wheel.package)
        target = dest / wheel.filename
        target.write_bytes(made[wheel.package].read_bytes())
        return target

    monkeypatch.setattr(wheels, "download_with_pip", fake_download)
    return calls


def test_splat_grid_is_converted_cached_and_honest_about_clouds(fake_wheels):
    grid = sources.load_grid("splat-dback24", quiet=True)
    assert grid.axes == ["teff", "logg", "mh", "inv_fsed"]
    assert sorted(set(grid.params["inv_fsed"])) == [0.0, 0.5]  # fsed=10 -> cloud-free -> 0
    assert grid.is_complete() and len(grid) == 8
    assert grid.flux_unit == "erg / (s cm2 um)"
    assert grid.meta["version"] == "1.14" and len(grid.meta["checksum"]) == 64
    np.testing.assert_allclose(grid.wavelength, WAVE)
    again = sources.load_grid("splat-dback24", quiet=True)
    assert fake_wheels == ["splat"]  # second load from the cache, no download
    np.testing.assert_array_equal(again.flux_array(), grid.flux_array())


def test_stale_or_damaged_cache_is_rebuilt(fake_wheels):
    path = sources.fetch_grid("splat-dback24", quiet=True)
    path.write_bytes(b"garbage")
    assert len(sources.load_grid("splat-dback24", quiet=True)) == 8


def test_a_flipped_bit_in_the_cached_grid_is_caught_and_rebuilt(fake_wheels, capsys):
    import h5py

    path = sources.fetch_grid("splat-dback24", quiet=True)
    good = sources.load_grid("splat-dback24", quiet=True).flux_array().copy()
    with h5py.File(path, "r+") as fh:
        name = next(k for k in fh if isinstance(fh[k], h5py.Dataset) and fh[k].ndim == 2)
        flux = fh[name][...]
        flux[3, 5] *= 4.5e9  # one damaged value
        fh[name][...] = flux
    grid = sources.load_grid("splat-dback24")
    assert "fails its checksum; rebuilding it" in capsys.readouterr().err
    np.testing.assert_array_equal(grid.flux_array(), good)
    assert grid.checksum() == grid.meta["checksum"]


def test_checksum_mismatch_is_refused_and_nothing_is_cached(fake_wheels, monkeypatch):
    pin = wheels.WHEELS["splat"]
    monkeypatch.setitem(wheels.WHEELS, "splat", wheels.DataWheel(
        pin.package, pin.version, "0" * 64, pin.license, pin.citation))
    with pytest.raises(ChecksumError, match="does not match the pinned"):
        sources.load_grid("splat-dback24", quiet=True)
    assert not wheels.wheel_path("splat").exists()
    assert not sources.grid_cache_path("splat-dback24").exists()
    assert not [p for p in wheels.wheel_path("splat").parent.rglob("*") if p.is_file()]


def test_tampered_cached_wheel_is_detected(fake_wheels):
    path = wheels.fetch_wheel("splat", quiet=True)
    data = bytearray(path.read_bytes())
    data[100] ^= 0xFF
    path.write_bytes(bytes(data))
    os.utime(path, ns=(1, 1))
    wheels.fetch_wheel("splat", quiet=True)  # re-downloaded because the hash no longer matched
    assert fake_wheels == ["splat", "splat"]


def test_a_wheel_damaged_in_place_is_downloaded_again_when_converting(fake_wheels):
    from conftest import damage_zip_member

    path = wheels.fetch_wheel("splat", quiet=True)
    with zipfile.ZipFile(path) as archive:
        member = next(n for n in archive.namelist() if n.endswith(".txt.gz"))
    damage_zip_member(path, member)  # the size-and-time stamp still matches
    assert len(sources.load_grid("splat-dback24", quiet=True)) == 8
    assert fake_wheels == ["splat", "splat"]  # hashed again, found damaged, downloaded again


def test_pip_failure_is_one_clear_error(monkeypatch):
    def failing(wheel, dest, quiet=False):
        raise DataError("pip could not download the wheel: No matching distribution",
                        f"{wheel.package}=={wheel.version}")

    monkeypatch.setattr(wheels, "download_with_pip", failing)
    with pytest.raises(DataError, match=r"splat==1.14: pip could not download"):
        wheels.fetch_wheel("splat", quiet=True)


def test_ucdmcmc_grid_drops_tied_and_constant_axes(fake_wheels):
    grid = sources.load_grid("ucdmcmc-atmo20pp-spex-prism", quiet=True)
    assert grid.axes == ["teff", "logg"]  # kzz is a function of logg, mh constant
    assert any("kzz is tied to log g" in n for n in grid.meta["notes"])
    assert grid.n_wavelengths == 12 and grid.is_complete()


def test_safe_unpickler_refuses_anything_but_numpy():
    arr = np.array([1.5, 2.5])
    np.testing.assert_array_equal(safe_loads(pickle.dumps(arr)), arr)

    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    with pytest.raises(pickle.UnpicklingError, match="refusing to load"):
        safe_loads(pickle.dumps(Evil()))


def test_pandas_table_with_unsafe_object_is_refused(tmp_path):
    path = tmp_path / "unsafe.h5"
    path.write_bytes(_pandas_fixed({"teff": np.array([1.0])},
                                   {"flux": [fractions.Fraction(1, 2)]}))
    with pytest.raises(DataError, match=r"unsafe\.h5: unsafe or damaged pickle"):
        read_pandas_fixed(path, "models")
    ok = tmp_path / "ok.h5"
    ok.write_bytes(_pandas_fixed({"teff": np.array([1.0, 2.0])},
                                 {"flux": [np.ones(3), np.zeros(3)]}))
    columns = read_pandas_fixed(ok, "models")
    assert columns["teff"].tolist() == [1.0, 2.0] and columns["flux"][1].tolist() == [0, 0, 0]


@pytest.mark.parametrize("error", [EOFError, MemoryError])
def test_a_truncated_or_bloated_pickle_is_one_clear_error(tmp_path, monkeypatch, error):
    from telescopeml.data import safe_pickle

    path = tmp_path / "table.h5"
    path.write_bytes(_pandas_fixed({"teff": np.array([1.0])}, {"flux": [np.ones(3)]}))

    def broken(data):
        raise error("pickle data was truncated")

    monkeypatch.setattr(safe_pickle, "safe_loads", broken)
    with pytest.raises(DataError, match=rf"table\.h5: unsafe or damaged pickle .*{error.__name__}"):
        read_pandas_fixed(path, "models")


def test_unknown_grid_and_missing_path():
    with pytest.raises(UnknownNameError, match="valid: splat-btsettl08"):
        sources.load_grid("no-such-grid")
    with pytest.raises(DataError, match="no such grid file"):
        sources.load_grid("./missing/grid.h5")


def test_library_index_and_lookup(fake_wheels):
    entries = library.library_index(quiet=True)
    assert len(entries) == 4  # 3 SpeX + 1 ucdmcmc
    best = library.find_entry("hd3651b", quiet=True)
    assert best.data_file == "2_10.fits" and best.snr == 90  # highest S/N of two
    assert library.find_entry("J0036+1821", quiet=True).spectral_type == "L4.0"
    jwst = library.find_entry("Wolf1130C", instrument="JWST-NIRSPEC-PRISM", quiet=True)
    assert library.library_file(jwst, quiet=True).read_text().startswith("wave,flux")
    assert library.library_file(best, quiet=True).name == "2_10.fits.gz"
    with pytest.raises(DataError, match="Nobody: no spectrum of that name"):
        library.find_entry("Nobody", quiet=True)
    assert library.spectral_class("sdL4.5 beta") == "L"


def test_observed_spectrum_from_library(fake_wheels):
    spectrum = ObservedSpectrum.from_library("HD 3651B")
    assert spectrum.name == "HD 3651B" and spectrum.meta["spectral_type"] == "T7.5"
    assert spectrum.meta["library_file"] == "2_10.fits"
    np.testing.assert_allclose(spectrum.flux, 2 * np.exp(-WAVE), rtol=1e-6)
    assert spectrum.snr == pytest.approx(20.0, rel=1e-4)
    assert spectrum.flux_unit == "erg / (Angstrom s cm2)"
    jwst = ObservedSpectrum.from_library("Wolf1130C", instrument="JWST-NIRSPEC-PRISM")
    assert jwst.meta["instrument"] == "JWST-NIRSPEC-PRISM"


def test_cli_data_commands(fake_wheels, capsys, tmp_path):
    assert main(["--cache-dir", str(tmp_path / "c"), "-q", "data", "info", "splat-dback24"]) == 0
    out = capsys.readouterr().out
    assert "complete   yes" in out and "inv_fsed" in out and "teff" in out
    assert main(["--cache-dir", str(tmp_path / "c"), "data", "list"]) == 0
    listing = capsys.readouterr().out
    assert "splat-dback24" in listing and "ucdmcmc-lacy23-jwst-nirspec-prism" in listing
    assert main(["--cache-dir", str(tmp_path / "c"), "-q", "data", "spectra", "--type", "T"]) == 0
    assert "HD 3651B" in capsys.readouterr().out
    assert main(["data", "info", "nope"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("telescopeml: error: unknown grid 'nope'") and "Traceback" not in err


@pytest.mark.network
def test_real_dback24_grid_from_pypi():
    """Downloads splat 1.14 (80 MB) from PyPI: the real grid, complete, 1,440 spectra."""
    grid = sources.load_grid("splat-dback24", quiet=True)
    assert len(grid) == 1440 and grid.is_complete()
    assert grid.axis_values("teff").tolist() == list(range(900, 2401, 100))
    assert grid.axis_values("logg").tolist() == [3.5, 4.0, 4.5, 5.0, 5.5]
    assert grid.axis_values("inv_fsed").tolist() == pytest.approx([0, 1 / 8, 1 / 4, 1 / 3,
                                                                   1 / 2, 1])
    assert not grid.duplicate_spectra() and not grid.bad_spectra()
    entry = library.find_entry("HD 3651B", quiet=True)
    assert entry.spectral_type.startswith("T") and library.library_file(entry).is_file()


@pytest.mark.network
def test_every_real_library_spectrum_reads():
    """All ~3,100 library spectra (SpeX FITS in their many layouts, ucdmcmc CSVs) load."""
    failures = []
    entries = library.library_index(quiet=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for entry in entries:
            try:
                ObservedSpectrum.read(library.library_file(entry, quiet=True))
            except DataError as exc:
                failures.append(str(exc))
    assert len(entries) > 3000
    assert failures == []


def test_the_first_download_says_what_how_large_and_where_in_one_line(fake_wheels, capsys,
                                                                     monkeypatch):
    """Even quiet (pip silenced), fetching a wheel is told before it starts; the cached
    wheel afterwards says nothing (issue 27, item 7)."""
    pin = wheels.WHEELS["splat"]
    monkeypatch.setitem(wheels.WHEELS, "splat",
                        dataclasses.replace(pin, size=81_639_731, holds="the grids"))
    wheels.fetch_wheel("splat", quiet=True)
    lines = capsys.readouterr().err.splitlines()
    assert lines == [f"fetching splat 1.14 from PyPI, once (82 MB: the grids) into "
                     f"{wheels.wheel_path('splat').parent} ..."]
    wheels.fetch_wheel("splat", quiet=True)
    assert capsys.readouterr().err == "" and fake_wheels == ["splat"]
