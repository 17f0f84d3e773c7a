"""Library names: a name answers for its own object, for one the output names, or is refused
with the nearest candidates; every listed spectrum can be asked for by the name shown, from
the instrument wanted; the cached copies repair themselves."""

from __future__ import annotations

import gzip
import io
import zipfile

import numpy as np
import pytest
from astropy.io import fits

from telescopeml.cli import main
from telescopeml.data import library, wheels
from telescopeml.data.coordinates import position
from telescopeml.data.objects import read_target_list
from telescopeml.data.spectrum import ObservedSpectrum
from telescopeml.errors import DataError

WAVE = np.linspace(0.7, 2.5, 40)
#: (data file, source key, S/N, name, designation, type)
SPEX = [
    ("1_1.fits", 1, 224, "SDSSp J053951.99-005902.0", "J05395199-00590189", "L5.0"),
    ("2_2.fits", 2, 6266, "Saturn", "J0000000+000000", ""),
    ("3_3.fits", 3, 7959, "Saturn ring", "J0000000+000000", ""),
    ("4_4.fits", 4, 80, "2MASS J17072343-0558249A", "J17072343-0558249", "M9"),
    ("5_5.fits", 5, 60, "2MASS J17072343-0558249B", "J17072343-0558249", "L3"),
    ("6_6.fits", 6, 100, "2MASSW J0036159+182110", "J00361617+1821104", "L4.0"),
]


def _spex_fits(scale: float, units: bool) -> bytes:
    data = np.vstack([WAVE, scale * np.exp(-WAVE), 0.05 * scale * np.exp(-WAVE)])
    hdu = fits.PrimaryHDU(data.astype(np.float32))
    if units:
        hdu.header["XUNITS"], hdu.header["YUNITS"] = "um", "ergss-1cm-2A-1"
    buf = io.BytesIO()
    hdu.writeto(buf)
    return buf.getvalue()


def _jwst(low: float, high: float, n: int) -> str:
    wave = np.linspace(low, high, n)
    return "wave,flux,unc\n" + "\n".join(f"{w:.5f},2e-15,1e-16" for w in wave)


@pytest.fixture
def named_library(tmp_path, monkeypatch):
    """Fake splat and ucdmcmc wheels holding the library entries above and Wolf 1130C from
    two JWST instruments."""
    splat = tmp_path / "splat.whl"
    with zipfile.ZipFile(splat, "w") as z:
        z.writestr("splat/db/spectral_data.csv",
                   "DATA_KEY,SOURCE_KEY,DATA_FILE,MEDIAN_SNR,SPEX_TYPE,QUALITY_FLAG\n" + "".join(
                       f"{i},{key},{file},{snr},{spt},OK\n"
                       for i, (file, key, snr, _, _, spt) in enumerate(SPEX)))
        z.writestr("splat/db/source_data.csv", "SOURCE_KEY,NAME,DESIGNATION,DISTANCE\n" + "".join(
            f"{key},{name},{designation},\n" for _, key, _, name, designation, _ in SPEX))
        for k, (file, *_rest) in enumerate(SPEX):
            z.writestr(f"splat/resources/Spectra/Public/SPEX-PRISM/{file}.gz",
                       gzip.compress(_spex_fits(k + 1, units=k != 0)))
    ucdmcmc = tmp_path / "ucdmcmc.whl"
    with zipfile.ZipFile(ucdmcmc, "w") as z:
        z.writestr("ucdmcmc/spectra/JWST-NIRSPEC-G395H_Wolf1130C_Burgasser2025.csv",
                   _jwst(2.88, 5.2, 400))
        z.writestr("ucdmcmc/spectra/JWST-NIRSPEC-PRISM_Wolf1130C_Burgasser2025.csv",
                   _jwst(0.6, 5.3, 200))
    made = {"splat": splat, "ucdmcmc": ucdmcmc}
    for package, file in made.items():
        pin = wheels.WHEELS[package]
        monkeypatch.setitem(wheels.WHEELS, package, wheels.DataWheel(
            pin.package, pin.version, wheels.sha256_file(file), pin.license, pin.citation))

    def fake_download(wheel, dest, quiet=False):
        target = dest / wheel.filename
        target.write_bytes(made[wheel.package].read_bytes())
        return target

    monkeypatch.setattr(wheels, "download_with_pip", fake_download)
    library._open_wheel_once.cache_clear()
    yield made
    library._open_wheel_once.cache_clear()


@pytest.mark.parametrize("name, words", [
    # a placeholder position (Saturn's) is no position: refused, not "Saturn ring"
    ("2MASS J00000000+0000000", "no spectrum of that name"),
    ("J0000000+000000", "no spectrum of that name"),
    # 133" from SDSSp J0539-0059: another object, refused naming the nearest
    ("2MASS J05395999-0059599", r"no object within 2\" of its coordinates; nearest: "
                                r"SDSSp J053951.99-005902.0 \(133\" away\)"),
    # one designation shared by two components: refused, both named
    ("J17072343-0558249", "names 2 different objects: 2MASS J17072343-0558249A"),
    ("Nobody at all", "no spectrum of that name"),
])
def test_a_name_for_another_object_is_refused(named_library, name, words):
    with pytest.raises(DataError, match=words):
        library.resolve(name, quiet=True)


@pytest.mark.parametrize("name, expected, note", [
    ("SDSSp J053951.99-005902.0", "1_1.fits", ""),
    ("sdssp j053951.99-005902.0", "1_1.fits", ""),
    ("Saturn ring", "3_3.fits", ""),
    ("2_2.fits", "2_2.fits", ""),
    # other catalogues' names of the same object: taken, and the note says as what
    ("2MASS J05395200-0059019", "1_1.fits", "taken as SDSSp J053951.99-005902.0"),
    ("J0036+1821", "6_6.fits", "taken as 2MASSW J0036159+182110"),
])
def test_a_name_resolves_exactly_or_says_what_it_was_taken_as(named_library, name, expected,
                                                               note):
    entry, said = library.resolve(name, quiet=True)
    assert entry.data_file == expected
    assert said.startswith(note) and bool(said) == bool(note)


def test_the_taken_as_note_reaches_the_spectrum(named_library):
    spectrum = ObservedSpectrum.from_library("2MASS J05395200-0059019")
    assert spectrum.name == "SDSSp J053951.99-005902.0"
    assert any(n.startswith("taken as SDSSp") for n in spectrum.meta["input_notes"])


def test_coordinates_compare_as_boxes_within_the_tolerance():
    short, full = position("J0036+1821"), position("2MASSW J0036159+182110")
    assert short.matches(full) and full.matches(short)
    assert not position("J05395999-0059599").matches(position("J05395199-00590189"))
    assert position("J2359599+000000").matches(position("J0000000+000001"))  # RA wraps
    assert position("Saturn") is None and position("J0000000+000000") is None


@pytest.mark.parametrize("name, instrument", [
    ("JWST-NIRSPEC-PRISM_Wolf1130C_Burgasser2025.csv", "JWST-NIRSPEC-PRISM"),
    ("JWST-NIRSPEC-G395H_Wolf1130C_Burgasser2025.csv", "JWST-NIRSPEC-G395H"),
    ("JWST-NIRSPEC-G395H_Wolf1130C", "JWST-NIRSPEC-G395H"),
    ("Wolf1130C [JWST-NIRSPEC-G395H]", "JWST-NIRSPEC-G395H"),
])
def test_every_listed_name_and_instrument_can_be_asked_for(named_library, name, instrument):
    from telescopeml.data.checks import as_spectrum

    spectrum = as_spectrum(name)  # as predict reads it: a missing file, then the library
    assert spectrum.meta["instrument"] == instrument and spectrum.name == "Wolf1130C"


def test_an_object_from_several_instruments_says_which_was_taken(named_library):
    entry, note = library.resolve("Wolf1130C", quiet=True)
    assert entry.instrument == "JWST-NIRSPEC-PRISM"
    assert "also has JWST-NIRSPEC-G395H spectra (choose with --instrument" in note
    with pytest.raises(DataError, match=r"no spectrum from SPEX-PRISM \(the library has "
                                        "Wolf1130C from JWST-NIRSPEC-G395H, JWST-NIRSPEC-PRISM"):
        library.resolve("Wolf1130C", "SPEX-PRISM", quiet=True)
    with pytest.raises(DataError, match="no library spectra from instrument 'NOPE'"):
        library.resolve("Wolf1130C [NOPE]", quiet=True)


def test_a_missing_text_file_is_not_looked_up(named_library, tmp_path, monkeypatch):
    from telescopeml.data.checks import as_spectrum

    monkeypatch.chdir(tmp_path)
    calls = []
    monkeypatch.setattr(library, "resolve", lambda *a, **k: calls.append(a))
    with pytest.raises(DataError):
        as_spectrum("my_spectrum.csv")
    assert calls == []


def test_data_spectra_shows_the_jwst_signal_to_noise(named_library, capsys):
    assert main(["-q", "data", "spectra", "--instrument", "JWST-NIRSPEC-PRISM"]) == 0
    row = capsys.readouterr().out.splitlines()[1].split()
    assert row[0] == "Wolf1130C" and row[1] == "20"  # 2e-15 / 1e-16, not 0
    entries = library.library_index(quiet=True)
    assert all(e.snr is None or e.snr > 0 for e in entries)


def test_predict_instrument_option_and_list_column(named_library, tmp_path, monkeypatch):
    from telescopeml.inference import request

    asked = []
    monkeypatch.setattr(request, "predict", lambda inputs, *a, **k: asked.extend(inputs)
                        or request.Predictions())
    main(["-q", "predict", "--instrument", "jwst-nirspec-g395h", "Wolf1130C"])
    assert asked == ["Wolf1130C [JWST-NIRSPEC-G395H]"]
    table = tmp_path / "targets.csv"
    table.write_text("name,instrument\nWolf1130C,JWST-NIRSPEC-G395H\nSaturn,\n")
    assert [t for t, _ in read_target_list(table)] == ["Wolf1130C [JWST-NIRSPEC-G395H]",
                                                       "Saturn"]


def test_a_flipped_byte_in_a_cached_library_spectrum_is_repaired(named_library):
    entry = library.find_entry("Saturn ring", quiet=True)
    path = library.library_file(entry, quiet=True)
    good = path.read_bytes()
    damaged = bytearray(good)
    damaged[len(damaged) // 2] ^= 0xFF  # same size, one byte flipped
    path.write_bytes(bytes(damaged))
    assert library.library_file(entry, quiet=True).read_bytes() == good
    ObservedSpectrum.from_library("Saturn ring")  # reads again


def test_library_spectra_carry_the_libraries_flux_unit(named_library):
    """A library file that records no unit is F_lambda in erg/s/cm2/um (splat's and
    ucdmcmc's unit), so predict's "no flux unit" note (which keys on flux_calibrated) does
    not fire; a normalized one says so in meta, and one with a unit keeps it."""
    normalized = ObservedSpectrum.from_library("SDSSp J053951.99-005902.0")  # no YUNITS
    assert normalized.flux_calibrated and normalized.flux_unit == library.LIBRARY_FLUX_UNIT
    assert normalized.meta["flux_normalized"] is True
    jwst = ObservedSpectrum.from_library("Wolf1130C")  # a CSV of 2e-15
    assert jwst.flux_calibrated and jwst.meta["flux_normalized"] is False
    with_unit = ObservedSpectrum.from_library("Saturn ring")  # YUNITS erg/s/cm2/A
    assert with_unit.flux_unit == "erg / (Angstrom s cm2)"
    assert "flux_normalized" not in with_unit.meta
