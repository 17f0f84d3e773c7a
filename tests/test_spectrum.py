"""ObservedSpectrum: validation, every reader and bad file, and the derived spectra."""

from __future__ import annotations

import gzip
import sys
import warnings
from pathlib import Path
from types import SimpleNamespace

import astropy.units as u
import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Column, Table

from telescopeml.data.readers import READERS, register_reader
from telescopeml.data.readers import registry as readers_module
from telescopeml.data.spectrum import ObservedSpectrum
from telescopeml.data.transforms import Normalizer
from telescopeml.errors import DataError, TelescopeMLError, UnknownNameError

N = 200
FLAM = "erg / (Angstrom s cm2)"


def wave(n: int = N) -> np.ndarray:
    return np.linspace(0.65, 2.55, n)


def flux_of(wavelength: np.ndarray) -> np.ndarray:
    return 1e-15 * (0.2 + np.exp(-(((wavelength - 1.25) / 0.4) ** 2)))


def make(n: int = N, **kwargs) -> ObservedSpectrum:
    w = wave(n)
    options = {"uncertainty": flux_of(w) / 50, "flux_unit": FLAM, "name": "test"}
    return ObservedSpectrum(w, flux_of(w), **{**options, **kwargs})


def write_spex(path: Path, rows: int = 3, transpose: bool = False, xunits: str | None = "um",
               yunits: str | None = "ergss-1cm-2A-1", wavelength: np.ndarray | None = None,
               nonstandard: bool = False) -> Path:
    """A SpeX-prism-like FITS file as splat writes them (gzipped if the name ends .gz)."""
    w = wave() if wavelength is None else wavelength
    f = flux_of(wave())
    data = np.vstack([w, f, f / 40, np.zeros(N)])[:rows]
    hdu = fits.PrimaryHDU(data.T if transpose else data)
    hdu.header["OBJECT"] = "2MASS J0559-1404"
    hdu.header["DATE_OBS"] = "2003-09-05"
    hdu.header["INSTRUME"] = "SpeX, IRTF Spectrograph"
    if xunits is not None:
        hdu.header["XUNITS"] = xunits
    if yunits is not None:
        hdu.header["YUNITS"] = yunits
    if nonstandard:
        hdu.header["OBSERVER"] = "PLACEHOLDER1"
        hdu.header["HISTORY"] = "PLACEHOLDER2"
    hdu.writeto(path)
    if nonstandard:
        raw = bytearray(gzip.decompress(path.read_bytes()) if path.suffix == ".gz"
                        else path.read_bytes())
        for old, new in ((b"PLACEHOLDER1", "OBSERVER= Burgasser & Cruz"),
                         (b"PLACEHOLDER2", "slit wid= 0.5 arcsec")):
            start = raw.find(old) // 80 * 80
            raw[start:start + 80] = new.ljust(80).encode()
        path.write_bytes(gzip.compress(bytes(raw)) if path.suffix == ".gz" else bytes(raw))
    return path


# --- construction and validation ---------------------------------------------------------
def test_valid_spectrum() -> None:
    spec = make()
    assert len(spec) == N and spec.wavelength.dtype == np.float64
    assert spec.flux_unit == FLAM and spec.flux_calibrated
    assert spec.meta == {"n_dropped": 0, "flux_calibrated": True}
    assert spec.snr == pytest.approx(50.0)
    assert "test: 200 pixels" in repr(spec)


def test_uncalibrated_spectrum() -> None:
    spec = make(flux_unit="", uncertainty=None)
    assert not spec.flux_calibrated and spec.meta["flux_calibrated"] is False
    assert spec.snr is None
    assert "uncalibrated" in repr(spec)


def test_mismatched_lengths() -> None:
    with pytest.raises(DataError, match=r"test: array lengths differ \(wavelength 200, flux 199\)"):
        ObservedSpectrum(wave(), flux_of(wave())[:-1], name="test")
    with pytest.raises(DataError, match=r"uncertainty 10\)"):
        ObservedSpectrum(wave(), flux_of(wave()), np.ones(10))


def test_two_dimensional_input_is_refused() -> None:
    with pytest.raises(DataError, match="flux must be 1-D"):
        ObservedSpectrum(wave(), np.ones((2, N)))


def test_decreasing_wavelengths_are_reversed() -> None:
    spec = make()
    flipped = ObservedSpectrum(spec.wavelength[::-1], spec.flux[::-1], spec.uncertainty[::-1])
    np.testing.assert_array_equal(flipped.wavelength, spec.wavelength)
    np.testing.assert_array_equal(flipped.flux, spec.flux)
    np.testing.assert_array_equal(flipped.uncertainty, spec.uncertainty)


def test_unsorted_or_repeated_wavelengths() -> None:
    w = wave()
    shuffled = w.copy()
    shuffled[[10, 11]] = shuffled[[11, 10]]
    with pytest.raises(DataError, match="not sorted"):
        ObservedSpectrum(shuffled, flux_of(w), name="x")
    repeated = w.copy()
    repeated[11] = repeated[10]
    with pytest.raises(DataError, match="repeated"):
        ObservedSpectrum(repeated, flux_of(w), name="x")


def test_non_finite_pixels_dropped_with_warning() -> None:
    w, f = wave(), flux_of(wave())
    unc = f / 50
    f[3] = np.nan
    unc[7] = np.inf
    w[9] = np.nan
    with pytest.warns(UserWarning, match=r"obs\.dat: dropped 3 of 200 pixels"):
        spec = ObservedSpectrum(w, f, unc, meta={"path": "obs.dat"})
    assert len(spec) == 197 and spec.meta["n_dropped"] == 3
    assert np.all(np.isfinite(spec.flux))


@pytest.mark.parametrize("n_good", [0, 9])
def test_too_few_usable_pixels(n_good: int) -> None:
    f = np.full(N, np.nan)
    f[:n_good] = 1.0
    with pytest.raises(DataError, match=f"only {n_good} of 200 pixels"):
        ObservedSpectrum(wave(), f, name="faint")


def test_all_zero_flux() -> None:
    with pytest.raises(DataError, match="all flux values are zero"):
        ObservedSpectrum(wave(), np.zeros(N), name="x")


def test_negative_median_flux() -> None:
    with pytest.raises(DataError, match="median flux is -"):
        ObservedSpectrum(wave(), -flux_of(wave()), name="x")


def test_a_few_negative_pixels_are_kept() -> None:
    f = flux_of(wave())
    f[:5] = -1e-17
    spec = ObservedSpectrum(wave(), f)
    assert np.sum(spec.flux < 0) == 5


def test_negative_uncertainty() -> None:
    unc = np.ones(N)
    unc[4] = -1
    with pytest.raises(DataError, match="1 pixels have a negative uncertainty"):
        ObservedSpectrum(wave(), flux_of(wave()), unc, name="x")


def test_unknown_flux_unit() -> None:
    with pytest.raises(DataError, match="unknown flux unit 'bananas'"):
        make(flux_unit="bananas")


# --- readers: SpeX FITS ------------------------------------------------------------------
# --- astropy Quantities ------------------------------------------------------------------
def test_quantity_wavelength_converted_to_micron() -> None:
    angstrom = np.linspace(9000, 24000, N) * u.AA
    spec = ObservedSpectrum(angstrom, flux_of(wave()), flux_unit=FLAM)
    np.testing.assert_allclose(spec.wavelength, np.linspace(0.9, 2.4, N))
    assert "0.9000-2.4000 µm" in repr(spec)
    frequency = (wave() * u.um).to(u.THz, equivalencies=u.spectral())[::-1]  # increasing
    spec = ObservedSpectrum(frequency, flux_of(wave())[::-1])
    np.testing.assert_allclose(spec.wavelength, wave(), rtol=1e-12)
    np.testing.assert_allclose(spec.flux, flux_of(wave()))
    with pytest.raises(DataError, match="wavelength unit 'Jy' cannot be converted to µm"):
        ObservedSpectrum(wave() * u.Jy, flux_of(wave()))


def test_quantity_flux_sets_the_flux_unit_and_uncertainty_is_converted() -> None:
    flux = flux_of(wave()) * u.Unit(FLAM)
    spec = ObservedSpectrum(wave() * u.um, flux, uncertainty=(flux / 50).to(u.W / u.m**2 / u.um))
    assert spec.flux_unit == u.Unit(FLAM).to_string() and spec.flux_calibrated
    np.testing.assert_allclose(spec.flux, flux.value)
    np.testing.assert_allclose(spec.uncertainty, flux.value / 50, rtol=1e-12)
    assert type(spec.flux) is np.ndarray and type(spec.wavelength) is np.ndarray
    # an uncertainty in F_nu is converted at each wavelength, as astropy does
    fnu = (flux / 50).to(u.Jy, equivalencies=u.spectral_density(wave() * u.um))
    spec = ObservedSpectrum(wave(), flux, uncertainty=fnu)
    np.testing.assert_allclose(spec.uncertainty, flux.value / 50, rtol=1e-12)
    assert not ObservedSpectrum(wave(), flux_of(wave()) * u.one).flux_calibrated


def test_quantity_flux_converted_to_an_explicit_flux_unit() -> None:
    flux = flux_of(wave()) * u.Unit(FLAM)
    spec = ObservedSpectrum(wave(), flux, flux_unit="Jy")
    expected = flux.to_value(u.Jy, equivalencies=u.spectral_density(wave() * u.um))
    np.testing.assert_allclose(spec.flux, expected, rtol=1e-12)
    assert spec.flux_unit == "Jy"
    with pytest.raises(DataError, match=r"flux is a Quantity in m, which contradicts "
                                        r"flux_unit='Jy'"):
        ObservedSpectrum(wave(), flux_of(wave()) * u.m, flux_unit="Jy")
    with pytest.raises(DataError, match="contradicts"):
        ObservedSpectrum(wave(), flux_of(wave()) * u.one, flux_unit="Jy")


def test_quantity_uncertainty_refused() -> None:
    with pytest.raises(DataError, match="uncertainty is in Jy but the flux has no unit"):
        ObservedSpectrum(wave(), flux_of(wave()), uncertainty=np.ones(N) * u.Jy)
    with pytest.raises(DataError, match="cannot convert uncertainty from m to Jy"):
        ObservedSpectrum(wave(), flux_of(wave()) * u.Jy, uncertainty=np.ones(N) * u.m)


@pytest.mark.parametrize("rows", [2, 3, 4])
@pytest.mark.parametrize("transpose", [False, True])
def test_spex_fits_layouts(tmp_path: Path, rows: int, transpose: bool) -> None:
    path = write_spex(tmp_path / "spex.fits", rows=rows, transpose=transpose)
    spec = ObservedSpectrum.read(path)
    np.testing.assert_allclose(spec.wavelength, wave())
    np.testing.assert_allclose(spec.flux, flux_of(wave()))
    if rows == 2:
        assert spec.uncertainty is None
    else:
        np.testing.assert_allclose(spec.uncertainty, flux_of(wave()) / 40)
    assert spec.meta["format"] == "spex-fits" and spec.meta["path"] == str(path)


@pytest.mark.parametrize(
    ("xunits", "yunits", "unit"),
    [
        ("um", "ergss-1cm-2A-1", "erg / (s cm2 Angstrom)"),
        ("Microns", "ergs s-1 cm-2 A-1", "erg / (s cm2 Angstrom)"),
        ("um", "Wm-2um-1", "W / (m2 um)"),
        ("Microns", "W m-2 um-1", "W / (m2 um)"),
    ],
)
def test_spex_fits_unit_spellings(tmp_path: Path, xunits: str, yunits: str, unit: str) -> None:
    spec = ObservedSpectrum.read(write_spex(tmp_path / "s.fits", xunits=xunits, yunits=yunits))
    assert u.Unit(spec.flux_unit) == u.Unit(unit)
    assert spec.flux_calibrated and spec.meta["flux_calibrated"]
    np.testing.assert_allclose(spec.wavelength, wave())


@pytest.mark.parametrize("units", [None, ""])
def test_spex_fits_missing_units_mean_uncalibrated_microns(tmp_path: Path, units) -> None:
    spec = ObservedSpectrum.read(write_spex(tmp_path / "s.fits", xunits=units, yunits=units))
    assert spec.flux_unit == "" and spec.meta["flux_calibrated"] is False
    np.testing.assert_allclose(spec.wavelength, wave())


def test_spex_fits_angstrom_wavelengths_converted(tmp_path: Path) -> None:
    path = write_spex(tmp_path / "s.fits", xunits="Angstrom", wavelength=wave() * 1e4)
    np.testing.assert_allclose(ObservedSpectrum.read(path).wavelength, wave())


def test_spex_fits_no_wavelength_unit_and_not_microns(tmp_path: Path) -> None:
    path = write_spex(tmp_path / "s.fits", xunits=None, wavelength=wave() * 1e4)
    with pytest.raises(DataError, match=r"s\.fits: no wavelength unit given .*6500-25500"):
        ObservedSpectrum.read(path)


@pytest.mark.parametrize(("xunits", "yunits", "match"), [
    ("um", "furlongs per fortnight", "unknown flux unit"),
    ("um", "erg/s/cm2", r"'erg / \(s cm2\)' is not a flux unit"),
    ("K", "W m-2 um-1", "'K' is not a wavelength unit"),
])
def test_spex_fits_unknown_units(tmp_path: Path, xunits: str, yunits: str, match: str) -> None:
    with pytest.raises(DataError, match=match):
        ObservedSpectrum.read(write_spex(tmp_path / "s.fits", xunits=xunits, yunits=yunits))


def test_spex_fits_header_meta_and_gzip(tmp_path: Path) -> None:
    path = write_spex(tmp_path / "spex_prism_0559-1404.fits.gz")
    assert path.read_bytes()[:2] == b"\x1f\x8b"
    spec = ObservedSpectrum.read(path)
    assert spec.name == "2MASS J0559-1404"
    assert spec.meta["object"] == "2MASS J0559-1404"
    assert spec.meta["date_obs"] == "2003-09-05"
    assert spec.meta["instrume"].startswith("SpeX")
    assert len(spec) == N


def test_spex_fits_nonstandard_cards_are_silent(tmp_path: Path) -> None:
    for name in ("odd.fits", "odd.fits.gz"):
        path = write_spex(tmp_path / name, nonstandard=True)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            spec = ObservedSpectrum.read(path)
        assert spec.meta["observer"] == "Burgasser & Cruz"


def test_spex_fits_all_nan_noise_row_means_no_noise(tmp_path: Path) -> None:
    data = np.vstack([wave(), flux_of(wave()), np.full(N, np.nan)])
    fits.PrimaryHDU(data).writeto(tmp_path / "s.fits")
    assert ObservedSpectrum.read(tmp_path / "s.fits").uncertainty is None


@pytest.mark.parametrize("shape", [(N,), (5, N), (3, 3), (6, 3, N)])
def test_spex_fits_bad_shapes(tmp_path: Path, shape: tuple[int, ...]) -> None:
    fits.PrimaryHDU(np.ones(shape)).writeto(tmp_path / "s.fits")
    with pytest.raises(DataError, match=r"s\.fits: image has shape"):
        ObservedSpectrum.read(tmp_path / "s.fits", format="spex-fits")


def test_spex_fits_stacked_extractions_use_the_first(tmp_path: Path) -> None:
    first = np.vstack([wave(), flux_of(wave()), 0.1 * flux_of(wave())])
    fits.PrimaryHDU(np.stack([first, 2 * first])).writeto(tmp_path / "s.fits")
    np.testing.assert_allclose(ObservedSpectrum.read(tmp_path / "s.fits").flux, first[1])


def test_spex_fits_without_image_data(tmp_path: Path) -> None:
    fits.PrimaryHDU().writeto(tmp_path / "empty.fits")
    with pytest.raises(DataError, match="no image data"):
        ObservedSpectrum.read(tmp_path / "empty.fits")


def test_corrupt_fits(tmp_path: Path) -> None:
    path = tmp_path / "broken.fits"
    path.write_bytes(b"this is not a FITS file\n" * 200)
    with pytest.raises(DataError, match=r"broken\.fits: cannot read as 'spex-fits'"):
        ObservedSpectrum.read(path)
    good = write_spex(tmp_path / "cut.fits").read_bytes()
    (tmp_path / "cut.fits").write_bytes(good[:3000])
    with pytest.raises(DataError, match=r"cut\.fits"):
        ObservedSpectrum.read(tmp_path / "cut.fits")


def test_corrupt_gzip(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.fits.gz"
    garbage.write_bytes(b"\x1f\x8b\x08\x00" + b"not deflate data" * 50)
    with pytest.raises(DataError, match=r"garbage\.fits\.gz: cannot read"):
        ObservedSpectrum.read(garbage)
    good = write_spex(tmp_path / "ok.fits.gz").read_bytes()
    truncated = tmp_path / "truncated.fits.gz"
    truncated.write_bytes(good[: len(good) // 2])
    with pytest.raises(DataError, match=r"truncated\.fits\.gz: cannot read"):
        ObservedSpectrum.read(truncated)
    text = tmp_path / "garbage.csv.gz"
    text.write_bytes(b"\x1f\x8b\x08\x00" + b"not deflate data" * 50)
    with pytest.raises(DataError, match=r"garbage\.csv\.gz: cannot read as 'text'"):
        ObservedSpectrum.read(text)


# --- readers: FITS binary tables ---------------------------------------------------------
def write_x1d(path: Path, names: tuple[str, str, str] = ("WAVELENGTH", "FLUX", "FLUX_ERROR"),
              units: tuple[str | None, ...] = ("um", "Jy", "Jy"), n_nan: int = 3) -> Path:
    """A JWST x1d-like product: empty primary HDU, binary table EXTRACT1D with TUNITn."""
    flux = np.linspace(1e-3, 2e-3, N)
    flux[:n_nan] = np.nan
    table = Table()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", u.UnitsWarning)  # a unit astropy does not know
        for name, values, unit in zip(names, (wave(), flux, flux / 30), units, strict=True):
            table[name] = Column(values, unit=unit)
        table["SURF_BRIGHT"] = Column(np.ones(N), unit="MJy/sr")
        table["DQ"] = np.zeros(N, dtype=np.int32)
        extension = fits.table_to_hdu(table)
    extension.name = "EXTRACT1D"
    primary = fits.PrimaryHDU()
    primary.header["TELESCOP"] = "JWST"
    primary.header["TARGNAME"] = "WOLF 1130C"
    fits.HDUList([primary, extension]).writeto(path)
    return path


def test_fits_table_jwst_x1d(tmp_path: Path) -> None:
    with pytest.warns(UserWarning, match="dropped 3 of 200 pixels"):
        spec = ObservedSpectrum.read(write_x1d(tmp_path / "jw_x1d.fits"))
    assert spec.meta["format"] == "fits-table" and spec.meta["hdu"] == "EXTRACT1D"
    assert spec.name == "WOLF 1130C" and spec.meta["telescop"] == "JWST"
    assert spec.flux_unit == "Jy" and len(spec) == N - 3
    np.testing.assert_allclose(spec.wavelength, wave()[3:])
    np.testing.assert_allclose(spec.uncertainty, spec.flux / 30)
    assert spec.meta["columns"] == ["WAVELENGTH", "FLUX", "FLUX_ERROR"]


def test_fits_table_other_names_units_and_gzip(tmp_path: Path) -> None:
    path = write_x1d(tmp_path / "t.fits", names=("wave", "Flux", "err"),
                     units=("Angstrom", "mJy", "uJy"), n_nan=0)
    path.with_suffix(".fits.gz").write_bytes(gzip.compress(path.read_bytes()))
    spec = ObservedSpectrum.read(path.with_suffix(".fits.gz"))
    np.testing.assert_allclose(spec.wavelength, wave() * 1e-4)
    assert spec.flux_unit == "mJy"
    np.testing.assert_allclose(spec.uncertainty, spec.flux / 30 / 1000)
    bare = write_x1d(tmp_path / "bare.fits", names=("LAMBDA", "FLUX", "SIGMA"),
                     units=(None, None, None), n_nan=0)
    spec = ObservedSpectrum.read(bare)
    assert not spec.flux_calibrated and spec.uncertainty is not None


def test_fits_table_problems(tmp_path: Path) -> None:
    path = write_x1d(tmp_path / "a.fits", names=("WAVELENGTH", "COUNTS", "ERROR"))
    with pytest.raises(DataError, match=r"a\.fits: no flux column among \['WAVELENGTH', "
                                        "'COUNTS'"):  # its EXTRACT1D table is the spectrum
        ObservedSpectrum.read(path)
    with pytest.raises(DataError, match="no binary table with wavelength and flux columns"):
        ObservedSpectrum.read(path, format="fits-table")
    path = write_x1d(tmp_path / "b.fits", units=("um", "MJy/sr", "MJy/sr"), n_nan=0)
    with pytest.raises(DataError, match="'MJy / sr' is not a flux unit"):
        ObservedSpectrum.read(path)
    path = write_x1d(tmp_path / "c.fits", units=("um", "glorps", "Jy"), n_nan=0)
    with pytest.raises(DataError, match="unknown unit 'glorps' of column 'FLUX'"):
        ObservedSpectrum.read(path)
    path = write_x1d(tmp_path / "d.fits", n_nan=0)
    assert ObservedSpectrum.read(path, hdu="EXTRACT1D").meta["hdu"] == "EXTRACT1D"
    with pytest.raises(DataError, match="HDU 0 is not a binary table"):
        ObservedSpectrum.read(path, format="fits-table", hdu=0)


# --- readers: text -----------------------------------------------------------------------
def fluxcal_text(rows: int = N, columns: int = 3) -> str:
    w = wave(rows)
    table = np.column_stack([w, flux_of(w), flux_of(w) / 30, np.ones(rows)])[:, :columns]
    lines = ["# TelescopeML observational spectrum", "# wl F_lambda F_lambda_error"]
    lines += [" ".join(f"{x:.8e}" for x in row) for row in table]
    return "\n".join(lines) + "\n"


def test_text_fluxcal_dat(tmp_path: Path) -> None:
    path = tmp_path / "WISE_J1405+5534_fluxcal.dat"
    path.write_text(fluxcal_text())
    spec = ObservedSpectrum.read(path)
    np.testing.assert_allclose(spec.wavelength, wave(), rtol=1e-8)
    np.testing.assert_allclose(spec.uncertainty, flux_of(wave()) / 30, rtol=1e-8)
    assert spec.name == "WISE_J1405+5534_fluxcal"
    assert spec.flux_unit == "" and spec.meta["flux_calibrated"] is False
    assert spec.meta["columns"] is None


def test_text_extra_columns_ignored_and_two_columns_have_no_uncertainty(tmp_path: Path) -> None:
    (tmp_path / "four.dat").write_text(fluxcal_text(columns=4))
    assert ObservedSpectrum.read(tmp_path / "four.dat").uncertainty is not None
    (tmp_path / "two.txt").write_text(fluxcal_text(columns=2))
    spec = ObservedSpectrum.read(tmp_path / "two.txt")
    assert spec.uncertainty is None and len(spec) == N


@pytest.mark.parametrize("header", ["wave,flux,unc", "wave,flux,uncertainty",
                                    "WAVELENGTH,SIGNAL,UNCERTAINTY", "flux,wave(um),noise"])
def test_text_ucdmcmc_csv_headers(tmp_path: Path, header: str) -> None:
    w = wave()
    columns = {"wave": w, "flux": flux_of(w), "unc": flux_of(w) / 20}
    order = ["flux", "wave", "unc"] if header.startswith("flux") else ["wave", "flux", "unc"]
    lines = [header] + [",".join(f"{columns[c][i]:.8e}" for c in order) for i in range(N)]
    path = tmp_path / "ucd.csv"
    path.write_text("\n".join(lines) + "\n")
    spec = ObservedSpectrum.read(path)
    np.testing.assert_allclose(spec.wavelength, w, rtol=1e-8)
    np.testing.assert_allclose(spec.flux, flux_of(w), rtol=1e-8)
    np.testing.assert_allclose(spec.uncertainty, flux_of(w) / 20, rtol=1e-8)
    assert spec.meta["columns"] == header.split(",")


def test_text_gzip_and_flux_unit(tmp_path: Path) -> None:
    path = tmp_path / "obs.dat.gz"
    path.write_bytes(gzip.compress(fluxcal_text().encode()))
    spec = ObservedSpectrum.read(path, flux_unit="erg/s/cm2/A")
    assert u.Unit(spec.flux_unit) == u.Unit("erg / (s cm2 Angstrom)")
    assert spec.meta["flux_calibrated"] is True
    assert spec.name == "obs"


def test_text_wavelength_unit(tmp_path: Path) -> None:
    w = wave() * 1e4
    path = tmp_path / "a.txt"
    path.write_text("\n".join(f"{a} {b}" for a, b in zip(w, flux_of(wave()), strict=True)))
    np.testing.assert_allclose(ObservedSpectrum.read(path, wavelength_unit="Angstrom").wavelength,
                               wave())
    with pytest.raises(DataError, match=r"a\.txt: no wavelength unit given"):
        ObservedSpectrum.read(path)


def test_text_blank_and_nan_fields_are_dropped(tmp_path: Path) -> None:
    lines = fluxcal_text().replace(" ", ",").splitlines()
    lines[5] = lines[5].rsplit(",", 1)[0] + ","  # blank uncertainty
    lines[6] = "nan," + lines[6].split(",", 1)[1]
    lines[2] = "," + lines[2].split(",", 1)[1]  # blank wavelength in the first data row
    path = tmp_path / "holes.csv"
    path.write_text("\n".join(lines))
    with pytest.warns(UserWarning, match=r"holes\.csv: dropped 3 of 200 pixels"):
        spec = ObservedSpectrum.read(path)
    assert spec.meta["n_dropped"] == 3


def test_text_all_nan_flux(tmp_path: Path) -> None:
    path = tmp_path / "nan.csv"
    path.write_text("wave,flux\n" + "".join(f"{w},nan\n" for w in wave()))
    with pytest.raises(DataError, match=r"nan\.csv: only 0 of 200 pixels"):
        ObservedSpectrum.read(path)


@pytest.mark.parametrize(
    ("content", "match"),
    [
        ("wave,foo,bar\n1.0,2.0,3.0\n", "no flux column among"),
        ("lambda_obs,flux\n1.0,2.0\n", "no wavelength column among"),
        ("# only comments\n\n", "no data rows"),
        ("1.0\n1.1\n1.2\n", "need at least 2 columns"),
        ("1.0 2.0 3.0\n1.1 2.0\n", "line 2 has 2 columns, expected 3"),
        ("1.0 2.0\n1.1 abc\n", "line 2: 'abc' is not a number"),
    ],
)
def test_text_bad_content(tmp_path: Path, content: str, match: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(content)
    with pytest.raises(DataError, match=rf"bad\.csv: {match}"):
        ObservedSpectrum.read(path)


def test_text_binary_garbage(tmp_path: Path) -> None:
    path = tmp_path / "binary.dat"
    path.write_bytes(bytes(range(256)) * 4)
    with pytest.raises(DataError, match=r"binary\.dat: cannot read as 'text'"):
        ObservedSpectrum.read(path)


def test_text_unknown_flux_unit(tmp_path: Path) -> None:
    path = tmp_path / "a.dat"
    path.write_text(fluxcal_text())
    with pytest.raises(DataError, match=r"a\.dat: unknown flux unit 'parsecs please'"):
        ObservedSpectrum.read(path, flux_unit="parsecs please")


# --- readers: ECSV -----------------------------------------------------------------------
def write_ecsv(path: Path, uncertainty: bool = True, flux_unit: u.UnitBase = u.mJy) -> Path:
    table = Table()
    table["wavelength"] = Column(wave() * 1e4, unit=u.AA)
    table["flux"] = Column(np.linspace(1, 2, N), unit=flux_unit)
    if uncertainty:
        table["uncertainty"] = Column(np.full(N, 10.0), unit=u.uJy)
    table.meta["object"] = "WISE 0855"
    table.write(path, format="ascii.ecsv")
    return path


def test_ecsv_units_converted(tmp_path: Path) -> None:
    spec = ObservedSpectrum.read(write_ecsv(tmp_path / "w0855.ecsv"))
    np.testing.assert_allclose(spec.wavelength, wave())
    assert u.Unit(spec.flux_unit) == u.mJy
    np.testing.assert_allclose(spec.uncertainty, 0.01)
    assert spec.name == "WISE 0855" and spec.meta["format"] == "ecsv"
    gzipped = tmp_path / "w0855.ecsv.gz"
    gzipped.write_bytes(gzip.compress((tmp_path / "w0855.ecsv").read_bytes()))
    np.testing.assert_allclose(ObservedSpectrum.read(gzipped).flux, spec.flux)


def test_ecsv_without_uncertainty_or_flux_unit(tmp_path: Path) -> None:
    path = write_ecsv(tmp_path / "s.ecsv", uncertainty=False, flux_unit=u.dimensionless_unscaled)
    spec = ObservedSpectrum.read(path)
    assert spec.uncertainty is None and not spec.flux_calibrated


def test_ecsv_bad_files(tmp_path: Path) -> None:
    text = write_ecsv(tmp_path / "s.ecsv").read_text()
    (tmp_path / "unit.ecsv").write_text(text.replace("unit: mJy", "unit: glorps"))
    with pytest.raises(DataError, match=r"unit\.ecsv: unknown unit 'glorps'"):
        ObservedSpectrum.read(tmp_path / "unit.ecsv")
    (tmp_path / "mismatch.ecsv").write_text(text.replace("unit: uJy", "unit: m"))
    with pytest.raises(DataError, match="uncertainty unit m does not match"):
        ObservedSpectrum.read(tmp_path / "mismatch.ecsv")
    (tmp_path / "cols.ecsv").write_text(text.replace("name: flux", "name: counts")
                                        .replace(" flux ", " counts "))
    with pytest.raises(DataError, match=r"cols\.ecsv: no flux column"):
        ObservedSpectrum.read(tmp_path / "cols.ecsv")
    (tmp_path / "broken.ecsv").write_text(text.replace("# - {name: flux", "# - {name: [flux"))
    with pytest.raises(DataError, match=r"broken\.ecsv: cannot read as 'ecsv'"):
        ObservedSpectrum.read(tmp_path / "broken.ecsv")


# --- choosing a reader -------------------------------------------------------------------
def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"nowhere\.fits: no such file"):
        ObservedSpectrum.read(tmp_path / "nowhere.fits")


def test_explicit_format_and_unknown_format(tmp_path: Path) -> None:
    path = tmp_path / "spectrum.out"
    path.write_text(fluxcal_text())
    assert len(ObservedSpectrum.read(path, format="text")) == N
    with pytest.raises(UnknownNameError, match="unknown format 'splat'; valid: ecsv") as info:
        ObservedSpectrum.read(path, format="splat")
    assert info.value.valid == ["ecsv", "fits-table", "specutils", "spex-fits", "text"]


def test_format_sniffed_when_extension_unknown(tmp_path: Path) -> None:
    (tmp_path / "a.spec").write_text(fluxcal_text())
    assert ObservedSpectrum.read(tmp_path / "a.spec").meta["format"] == "text"
    write_spex(tmp_path / "b.fits")
    (tmp_path / "b.fits").rename(tmp_path / "b.bin")
    assert ObservedSpectrum.read(tmp_path / "b.bin").meta["format"] == "spex-fits"
    write_ecsv(tmp_path / "c.ecsv").rename(tmp_path / "c.tbl")
    assert ObservedSpectrum.read(tmp_path / "c.tbl").meta["format"] == "ecsv"
    (tmp_path / "d.xyz").write_bytes(b"\x00\x01binary")
    with pytest.raises(UnknownNameError, match=r"unknown format '\.xyz'"):
        ObservedSpectrum.read(tmp_path / "d.xyz")


def test_register_reader(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(readers_module, "READERS", dict(READERS))

    @register_reader("npy", extensions=(".npy",))
    def read_npy(path: Path, scale: float = 1.0) -> dict:
        w, f = np.load(path)
        return {"wavelength": w, "flux": f * scale, "meta": {"path": str(path)}}

    np.save(tmp_path / "s.npy", np.vstack([wave(), flux_of(wave())]))
    spec = ObservedSpectrum.read(tmp_path / "s.npy", scale=2.0)
    np.testing.assert_allclose(spec.flux, 2 * flux_of(wave()))
    assert "npy" not in READERS


# --- derived spectra ---------------------------------------------------------------------
def astropy_flux(spec: ObservedSpectrum, values: np.ndarray, unit: str) -> np.ndarray:
    """astropy's own conversion of ``values`` (in the spectrum's unit), pixel by pixel."""
    return np.array([(v * u.Unit(spec.flux_unit)).to_value(
        unit, equivalencies=u.spectral_density(w * u.um)) for v, w in zip(values, spec.wavelength,
                                                                         strict=True)])


@pytest.mark.parametrize(("start", "target"), [("Jy", "W / (m2 um)"), (FLAM, "Jy"),
                                               ("W / (m2 um)", "erg / (s cm2 Hz)"),
                                               ("mJy", "uJy")])
def test_flux_unit_conversion_matches_astropy(start: str, target: str) -> None:
    spec = make(flux_unit=start)
    out = spec.to_flux_unit(target)
    np.testing.assert_allclose(out.flux, astropy_flux(spec, spec.flux, target), rtol=1e-12)
    np.testing.assert_allclose(out.uncertainty, astropy_flux(spec, spec.uncertainty, target),
                               rtol=1e-12)
    assert u.Unit(out.flux_unit) == u.Unit(target) and u.Unit(spec.flux_unit) == u.Unit(start)
    assert out.in_flux_unit(start).flux == pytest.approx(spec.flux, rel=1e-12)


def test_flux_unit_conversion_uses_each_pixels_wavelength() -> None:
    spec = make(flux_unit="Jy")
    ratio = spec.to_flux_unit("W / (m2 um)").flux / spec.flux  # F_lambda / F_nu = c / lambda^2
    np.testing.assert_allclose(ratio * spec.wavelength**2, ratio[0] * spec.wavelength[0] ** 2,
                               rtol=1e-12)


def test_in_flux_unit_leaves_uncalibrated_spectra_unchanged() -> None:
    relative = make(flux_unit="")
    same = relative.in_flux_unit("Jy")
    assert same is not relative and same.flux_unit == "" and not same.flux_calibrated
    np.testing.assert_array_equal(same.flux, relative.flux)
    np.testing.assert_array_equal(same.uncertainty, relative.uncertainty)
    np.testing.assert_array_equal(make().in_flux_unit("Jy").flux, make().to_flux_unit("Jy").flux)
    with pytest.raises(DataError, match="unknown flux unit 'zorgs'"):
        relative.in_flux_unit("zorgs")


def test_flux_unit_conversion_refused() -> None:
    with pytest.raises(DataError, match="test: the flux is not calibrated"):
        make(flux_unit="").to_flux_unit("Jy")
    with pytest.raises(DataError, match="unknown flux unit 'zorgs'"):
        make().to_flux_unit("zorgs")
    with pytest.raises(DataError, match="cannot convert flux"):
        make().to_flux_unit("m")


def test_resample_inside_coverage() -> None:
    spec = make(n=400)
    new = np.linspace(0.8, 2.4, 100)
    out = spec.resample(new)
    np.testing.assert_array_equal(out.wavelength, new)
    np.testing.assert_allclose(out.flux, flux_of(new), rtol=2e-3)
    assert np.all(out.uncertainty < np.interp(new, spec.wavelength, spec.uncertainty))
    assert len(spec) == 400


def test_resample_outside_coverage() -> None:
    spec = make()
    new = np.linspace(0.5, 2.0, 50)
    with pytest.raises(DataError, match=r"test: .* lie outside the observed coverage 0\.6500"):
        spec.resample(new)
    out = spec.resample(new, fill=np.nan)
    assert np.isnan(out.flux[0]) and np.isfinite(out.flux[-1])
    assert np.isnan(out.uncertainty[0])
    assert 0 < out.coverage(new) < 1


def test_mask_and_telluric() -> None:
    spec = make(n=1000)
    cleaned = spec.mask_telluric()
    for low, high in ((1.35, 1.42), (1.80, 1.95)):
        assert not np.any((cleaned.wavelength >= low) & (cleaned.wavelength <= high))
    assert cleaned.meta["masked"] == [[1.35, 1.42], [1.8, 1.95]]
    assert len(spec.mask((1.0, 1.1))) < len(spec)
    with pytest.raises(ValueError, match="low < high"):
        spec.mask([(1.2, 1.1)])
    with pytest.raises(DataError, match="only 0 of 0 pixels"):
        spec.mask([(0.1, 5.0)])


def test_normalize() -> None:
    spec = make(n=1000)
    out = spec.normalize()
    band = (out.wavelength >= 1.2) & (out.wavelength <= 1.3)
    assert np.median(out.flux[band]) == pytest.approx(1.0)
    assert out.flux_unit == "" and out.meta["flux_calibrated"] is False
    norm = out.meta["normalization"]
    assert norm["name"] == "median-band" and norm["unit"] == FLAM
    np.testing.assert_allclose(out.flux * norm["scale"], spec.flux)
    np.testing.assert_allclose(out.uncertainty * norm["scale"], spec.uncertainty)
    minmax = spec.normalize("minmax")
    assert minmax.flux.min() == 0 and minmax.flux.max() == pytest.approx(1.0)
    meta = minmax.meta["normalization"]
    np.testing.assert_allclose(minmax.flux * meta["scale"] + meta["offset"], spec.flux)
    same = spec.normalize(Normalizer.create("max"))
    assert same.flux.max() == pytest.approx(1.0)


def test_normalize_band_outside_data_names_the_spectrum() -> None:
    with pytest.raises(DataError, match=r"test: normalization band 3\.0-4\.0"):
        make().normalize(band=(3.0, 4.0))
    with pytest.raises(UnknownNameError):
        make().normalize("mean")


def test_coverage() -> None:
    spec = make(n=1000)
    assert spec.coverage(np.linspace(0.9, 2.4, 500)) == 1.0
    half = spec.coverage(np.linspace(0.65 - 1.9, 2.55, 1001))
    assert half == pytest.approx(0.5, abs=0.01)
    masked = spec.mask([(1.0, 1.5)])
    assert masked.coverage(np.linspace(0.9, 2.4, 501)) == pytest.approx(1 - 0.5 / 1.5, abs=0.01)
    assert spec.coverage(np.array([])) == 0.0


# --- specutils -----------------------------------------------------------------------------
def test_specutils_round_trip() -> None:
    pytest.importorskip("specutils")
    spec = make()
    other = spec.to_specutils()
    assert other.flux.unit == u.Unit(FLAM)
    np.testing.assert_allclose(other.spectral_axis.to_value(u.um), spec.wavelength)
    again = ObservedSpectrum.from_specutils(other)
    np.testing.assert_allclose(again.flux, spec.flux)
    np.testing.assert_allclose(again.uncertainty, spec.uncertainty)
    assert again.name == "test" and again.flux_unit == spec.flux_unit


def test_from_specutils_variance_mask_and_frequency_axis() -> None:
    specutils = pytest.importorskip("specutils")
    from astropy.nddata import VarianceUncertainty

    spectrum_class = getattr(specutils, "Spectrum", None) or specutils.Spectrum1D
    frequency = (wave() * u.um).to(u.GHz, equivalencies=u.spectral())[::-1]
    mask = np.zeros(N, dtype=bool)
    mask[:4] = True
    other = spectrum_class(
        flux=np.linspace(1, 2, N) * u.mJy,
        spectral_axis=frequency,
        uncertainty=VarianceUncertainty(np.full(N, 4.0) * u.uJy**2),
        mask=mask,
        meta={"object": "J1234"},
    )
    with pytest.warns(UserWarning, match="dropped 4 of 200"):
        spec = ObservedSpectrum.from_specutils(other)
    assert len(spec) == 196 and spec.name == "J1234"
    np.testing.assert_allclose(spec.uncertainty, 0.002)
    assert np.all(np.diff(spec.wavelength) > 0)


def test_specutils_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "specutils", None)
    with pytest.raises(TelescopeMLError, match="pip install specutils"):
        make().to_specutils()
    # reading a spectrum object is duck-typed and needs no specutils
    assert len(ObservedSpectrum.from_specutils(fake_specutils())) == N


def fake_specutils(**changes) -> SimpleNamespace:
    """What ObservedSpectrum.from_specutils reads of a specutils spectrum, nothing more."""
    attributes = {"spectral_axis": wave() * 1e4 * u.AA, "flux": flux_of(wave()) * u.Jy,
                  "uncertainty": flux_of(wave()) / 20 * u.Jy, "mask": None,
                  "meta": {"object": "fake"}}
    return SimpleNamespace(**{**attributes, **changes})


def test_from_specutils_is_duck_typed() -> None:
    from astropy.nddata import InverseVariance

    spec = ObservedSpectrum.from_specutils(fake_specutils())
    np.testing.assert_allclose(spec.wavelength, wave())
    assert spec.flux_unit == "Jy" and spec.name == "fake"
    np.testing.assert_allclose(spec.uncertainty, spec.flux / 20)
    ivar = InverseVariance(1 / (flux_of(wave()) / 20 * u.mJy) ** 2)
    spec = ObservedSpectrum.from_specutils(fake_specutils(uncertainty=ivar))
    np.testing.assert_allclose(spec.uncertainty, spec.flux / 20 / 1000)
    mask = np.arange(N) < 5
    with pytest.warns(UserWarning, match="dropped 5 of 200"):
        spec = ObservedSpectrum.from_specutils(fake_specutils(mask=mask, uncertainty=None))
    assert len(spec) == N - 5 and spec.uncertainty is None
    relative = ObservedSpectrum.from_specutils(fake_specutils(flux=flux_of(wave()),
                                                              uncertainty=None))
    assert not relative.flux_calibrated
    with pytest.raises(TypeError, match="expected a specutils spectrum"):
        ObservedSpectrum.from_specutils(object())
    with pytest.raises(DataError, match=r"fake: only 1-D spectra.*\(2, 200\)"):
        ObservedSpectrum.from_specutils(fake_specutils(flux=np.ones((2, N)) * u.Jy))


def write_wcs1d(path: Path) -> Path:
    """A 1-D FITS image with a linear wavelength WCS: a layout only specutils reads."""
    hdu = fits.PrimaryHDU(np.linspace(1, 2, N) * 1e-3)
    hdu.header.update(CRVAL1=0.65, CDELT1=0.01, CRPIX1=1, CUNIT1="um", CTYPE1="WAVE",
                      BUNIT="Jy")
    hdu.writeto(path)
    return path


def test_unknown_layouts_fall_back_to_specutils_loaders(tmp_path: Path) -> None:
    pytest.importorskip("specutils")
    spec = ObservedSpectrum.read(write_wcs1d(tmp_path / "w.fits"))
    assert spec.meta["format"] == "specutils" and spec.meta["specutils_format"] == "wcs1d-fits"
    np.testing.assert_allclose(spec.wavelength, 0.65 + 0.01 * np.arange(N))
    assert spec.flux_unit == "Jy" and spec.name == "w"
    (tmp_path / "d.xyz").write_bytes(b"\x00\x01binary")
    with pytest.raises(DataError, match=r"d\.xyz: specutils finds 0 formats for it \(none\)"):
        ObservedSpectrum.read(tmp_path / "d.xyz", format="specutils")
    fits.PrimaryHDU(np.ones(N)).writeto(tmp_path / "no_wcs.fits")
    with pytest.raises(DataError, match=r"wcs1d-fits\) gives wavelengths 0\.0001-0\.02 µm"):
        ObservedSpectrum.read(tmp_path / "no_wcs.fits")


def test_without_specutils_unknown_layouts_are_refused(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "specutils", None)
    with pytest.raises(DataError, match=r"w\.fits: image has shape \(200,\)"):
        ObservedSpectrum.read(write_wcs1d(tmp_path / "w.fits"))


def test_a_spectrum_of_absurd_size_is_refused_before_any_work(tmp_path, monkeypatch):
    from telescopeml.data import resample
    from telescopeml.data.readers import text

    monkeypatch.setattr(resample, "MAX_PIXELS", 1000)
    monkeypatch.setattr(text, "MAX_PIXELS", 1000)
    monkeypatch.setattr(sys.modules["telescopeml.data.spectrum"], "MAX_PIXELS", 1000)
    wave = np.linspace(1.0, 2.0, 1001)
    with pytest.raises(DataError, match=r"big: 1,001 pixels; at most 1,000 are read"):
        ObservedSpectrum(wave, np.ones_like(wave), name="big")
    path = tmp_path / "big.txt"
    path.write_text("\n".join(f"{w:.6f} 1.0" for w in wave))
    with pytest.raises(DataError, match=r"big.txt: more than 1,000 data rows"):
        ObservedSpectrum.read(path)


@pytest.mark.parametrize("spec_kind", ["image", "table"])
def test_a_multi_extension_fits_is_read_from_its_spec_hdu(tmp_path, spec_kind):
    """Five HDUs, a 2-D frame first: the one named SPEC is the spectrum."""
    wave = np.linspace(1.0, 2.0, 50)
    flux = 2.0 + np.sin(5 * wave)
    frame = fits.ImageHDU(np.random.default_rng(0).normal(size=(3, 64)), name="SCI")
    if spec_kind == "image":
        spec = fits.ImageHDU(np.vstack([wave, flux, 0.1 * flux]), name="SPEC")
        spec.header["XUNITS"] = "um"
    else:
        spec = fits.BinTableHDU(Table({"wavelength": wave, "flux": flux}), name="SPEC")
        spec.columns["wavelength"].unit = "um"
    hdul = fits.HDUList([fits.PrimaryHDU(), frame, fits.ImageHDU(np.ones((4, 4)), name="WHT"),
                         spec, fits.ImageHDU(np.zeros(10), name="MASK")])
    path = tmp_path / "five.fits"
    hdul.writeto(path)
    spectrum = ObservedSpectrum.read(path)
    np.testing.assert_allclose(spectrum.wavelength, wave)
    np.testing.assert_allclose(spectrum.flux, flux)


def test_a_latin1_comment_line_is_read(tmp_path):
    path = tmp_path / "latin.txt"
    body = "\n".join(f"{w:.3f} {1 + w:.3f}" for w in np.linspace(1, 2, 20))
    path.write_bytes("# observed at Observatório, 2 µm\n".encode("latin-1") + body.encode())
    assert len(ObservedSpectrum.read(path)) == 20
