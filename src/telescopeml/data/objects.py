"""Tables of real objects with literature parameters (benchmarks, the empirical scale)."""

from __future__ import annotations

import csv
import functools
from dataclasses import dataclass
from pathlib import Path

from telescopeml.data.checks import Refused
from telescopeml.data.coordinates import position
from telescopeml.data.library import name_key, with_instrument
from telescopeml.data.spectrum import ObservedSpectrum
from telescopeml.errors import DataError

REQUIRED = ("name", "data_file", "teff", "teff_err", "logg", "logg_err")
#: Literature parameters of the labeled SpeX objects: the rows of
#: ``benchmarks/objects/{train,dev}_objects.csv`` (name, data_file, spt, teff, teff_err,
#: logg, logg_err, source), shipped with the package.
LITERATURE_TABLE = Path(__file__).with_name("literature.csv")
#: What the literature values mean (the scale :mod:`telescopeml.empirical` calls empirical).
LITERATURE_SCALE = ("Teff from bolometric luminosity and an evolutionary radius, log g from "
                    "evolutionary models (the empirical scale)")


@dataclass(frozen=True)
class Literature:
    """Literature parameters of one object (:data:`LITERATURE_SCALE`)."""

    name: str
    spectral_type: str
    teff: float
    teff_err: float
    logg: float
    logg_err: float
    reference: str


def read_objects(path: str | Path) -> list[dict[str, str]]:
    """Rows of an objects table; checks the required columns."""
    path = Path(path)
    try:
        with open(path, newline="", encoding="utf-8-sig", errors="replace") as fh:
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
        spectrum = ObservedSpectrum.from_library(ref)
    spectrum.name = row["name"]
    return spectrum


def read_target_list(path: str | Path) -> list[tuple[str, tuple[float, float] | None]]:
    """What a ``predict --list`` table asks for: ``(spectrum, distance)`` per row.

    A CSV with a ``file`` (or ``data_file``) column (a path, relative to the table's folder)
    or a ``name`` column (a library object or file name), and optionally ``instrument`` (of
    a library name's spectrum), ``distance_pc`` and ``distance_err_pc``; a row without a
    distance gets None. A row with no file and no name, or whose distance or its error is
    not a number, gives a :class:`~telescopeml.data.checks.Refused` spectrum: it fails on
    its own, as a negative or NaN distance does, and the other rows are predicted.
    """
    path = Path(path)
    try:
        with open(path, newline="", encoding="utf-8-sig", errors="replace") as fh:
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
        where = f"{path.name} line {number}"
        if not target:
            out.append((Refused(where, "no file and no name"), None))
            continue
        instrument = (row.get("instrument") or "").strip()
        if instrument and not Path(target).exists():
            target = with_instrument(target, instrument)
        try:
            out.append((target, _distance(row)))
        except ValueError as exc:
            out.append((Refused(f"{target} ({where})", str(exc)), None))
    return out


def _distance(row: dict[str, str]) -> tuple[float, float] | None:
    """``(distance, error)`` in pc of a row, None without a distance; ValueError naming the
    cell that is not a number."""
    values = []
    for column, default in (("distance_pc", None), ("distance_err_pc", "0")):
        text = (row.get(column) or "").strip() or default
        if text is None:
            return None
        try:
            values.append(float(text))
        except ValueError:
            raise ValueError(f"{column} {text!r} is not a number") from None
    return values[0], values[1]


@functools.lru_cache(maxsize=4)
def _literature_rows(table: Path) -> tuple[dict[str, str], ...]:
    return tuple(read_objects(table))


def find_literature(name: str, table: str | Path = LITERATURE_TABLE) -> Literature | None:
    """Literature parameters of the object ``name``, or None when the table has none.

    ``name`` matches a row's name or data file (case, spaces and punctuation ignored), else
    its coordinates (``2MASSW J2224438-015852`` and ``2MASS J22244381-0158521`` are one
    object; see :mod:`~telescopeml.data.coordinates`) when exactly one row has them.
    """
    rows = _literature_rows(Path(table))
    key = name_key(name.removesuffix(".gz"))
    matches = [r for r in rows if key in (name_key(r["name"]), name_key(r["data_file"]))]
    wanted = position(name)
    if not matches and wanted is not None:
        matches = [r for r in rows
                   if (p := position(r["name"])) is not None and wanted.matches(p)]
    if len(matches) != 1:
        return None
    row = matches[0]
    return Literature(name=row["name"], spectral_type=row.get("spt", ""),
                      teff=float(row["teff"]), teff_err=float(row["teff_err"]),
                      logg=float(row["logg"]), logg_err=float(row["logg_err"]),
                      reference=row.get("source", ""))
