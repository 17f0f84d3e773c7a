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


def read_target_list(path: str | Path) -> list[tuple[str, tuple[float, float] | None]]:
    """What a ``predict --list`` table asks for: ``(spectrum, distance)`` per row.

    A CSV with a ``file`` (or ``data_file``) column (a path, relative to the table's folder)
    or a ``name`` column (a library object or file name), and optionally ``distance_pc`` and
    ``distance_err_pc``; a row without a distance gets None.
    """
    path = Path(path)
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            rows = list(csv.DictReader(fh))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"cannot read the list ({exc})", path) from None
    if not rows or not {"file", "data_file", "name"} & set(rows[0]):
        raise DataError("the list needs rows and a 'file', 'data_file' or 'name' column", path)
    out = []
    for number, row in enumerate(rows, start=2):
        ref = (row.get("file") or row.get("data_file") or "").strip()
        target = str(path.parent / ref) if ref and not Path(ref).is_absolute() else ref
        target = target or (row.get("name") or "").strip()
        if not target:
            raise DataError(f"line {number}: no file and no name", path)
        out.append((target, _distance(row, path, number)))
    return out


def _distance(row: dict[str, str], path: Path, number: int) -> tuple[float, float] | None:
    text = (row.get("distance_pc") or "").strip()
    if not text:
        return None
    try:
        return float(text), float((row.get("distance_err_pc") or "0").strip() or 0)
    except ValueError:
        raise DataError(f"line {number}: distance {text!r} is not a number", path) from None
