"""Tables of real objects with literature parameters (benchmarks, the empirical scale)."""

from __future__ import annotations

import csv
from pathlib import Path

from telescopeml.data.library import find_entry, library_file
from telescopeml.data.spectrum import ObservedSpectrum
from telescopeml.errors import DataError

REQUIRED = ("name", "data_file", "teff", "teff_err", "logg", "logg_err")


def read_objects(path: str | Path) -> list[dict[str, str]]:
    """Rows of an objects table; checks the required columns."""
    path = Path(path)
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            rows = list(csv.DictReader(fh))
    except OSError as exc:
        raise DataError(f"cannot read the objects table ({exc.strerror})", path) from None
    if not rows:
        raise DataError("the objects table is empty", path)
    missing = [c for c in REQUIRED if c not in rows[0]]
    if missing:
        raise DataError(f"missing columns {', '.join(missing)} (need {', '.join(REQUIRED)})",
                        path)
    return rows


def load_object_spectrum(row: dict[str, str], table: Path) -> ObservedSpectrum:
    """The spectrum of one object: a file path (relative to the table) or a library file."""
    ref = row["data_file"].strip() or row["name"]
    candidate = (table.parent / ref) if not Path(ref).is_absolute() else Path(ref)
    if candidate.is_file():
        spectrum = ObservedSpectrum.read(candidate)
    else:
        entry = find_entry(ref, quiet=True)
        spectrum = ObservedSpectrum.read(library_file(entry, quiet=True))
    spectrum.name = row["name"]
    return spectrum
