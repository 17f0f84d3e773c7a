"""Text readers: astropy ECSV tables (``ecsv``) and plain columns (``text``)."""

from __future__ import annotations

import gzip
import warnings
from pathlib import Path
from typing import Any

import astropy.units as u
import numpy as np
from astropy.utils.exceptions import AstropyWarning

from telescopeml.data.readers.registry import (
    column_roles,
    file_head,
    is_gzip,
    plain,
    register_reader,
    stem,
)
from telescopeml.data.resample import MAX_PIXELS
from telescopeml.data.units import check_unit, parse_unit, to_micron
from telescopeml.errors import DataError


def is_number(text: str) -> bool:
    """True if ``float(text)`` works (a text table's value rather than a column name)."""
    try:
        float(text)
    except ValueError:
        return False
    return True


def _is_ecsv(path: Path) -> bool:
    return file_head(path).startswith(b"# %ECSV")


def _looks_like_text(path: Path) -> bool:
    """True if the file starts as text with a line of at least two numbers."""
    head = file_head(path)
    if not head or b"\x00" in head:
        return False
    text = head.decode("utf-8", errors="replace")
    for line in text.splitlines()[:50]:
        fields = line.replace(",", " ").split()
        if len(fields) >= 2 and not line.lstrip().startswith("#"):
            if all(is_number(f) for f in fields[:2]):
                return True
    return False


@register_reader("ecsv", extensions=(".ecsv",), identify=_is_ecsv)
def read_ecsv(path: Path) -> dict[str, Any]:
    """Astropy ECSV table: wavelength and flux columns with units, optional uncertainty."""
    from astropy.table import Table  # slow to import: only for ECSV files

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", AstropyWarning)
        table = Table.read(path, format="ascii.ecsv")
    roles = column_roles(list(table.colnames), path)
    units = {}
    for role, column in roles.items():
        unit = table[column].unit
        if isinstance(unit, u.UnrecognizedUnit):
            raise DataError(f"unknown unit {unit.to_string()!r} of column {column!r}", path)
        units[role] = unit
    values = {role: np.ma.filled(np.ma.asarray(table[column], dtype=np.float64), np.nan)
              for role, column in roles.items()}
    flux_unit = units["flux"]
    if flux_unit is not None and flux_unit.physical_type == "dimensionless":
        flux_unit = None
    if flux_unit is not None:
        check_unit(flux_unit, "flux", path)
    uncertainty = values.get("uncertainty")
    if uncertainty is not None and units["uncertainty"] is not None and flux_unit is not None:
        try:
            uncertainty = (uncertainty * units["uncertainty"]).to_value(flux_unit)
        except u.UnitsError:
            raise DataError(f"uncertainty unit {units['uncertainty']} does not match flux unit "
                            f"{flux_unit}", path) from None
    meta = {str(k): plain(v) for k, v in table.meta.items()}
    return dict(
        wavelength=to_micron(values["wavelength"], units["wavelength"], path),
        flux=values["flux"],
        uncertainty=uncertainty,
        flux_unit="" if flux_unit is None else flux_unit.to_string(),
        name=str(meta.get("name") or meta.get("object") or stem(path)),
        meta={**meta, "path": str(path), "format": "ecsv"},
    )


@register_reader("text", extensions=(".txt", ".dat", ".csv"), identify=_looks_like_text)
def read_text(path: Path, flux_unit: str = "", wavelength_unit: str | None = None
              ) -> dict[str, Any]:
    """Whitespace- or comma-separated columns: wavelength, flux[, uncertainty].

    ``#`` lines are comments. A first row of names (``wave,flux,unc``, ``WAVELENGTH,SIGNAL,
    UNCERTAINTY``...) picks the columns; without one the first three are used. The flux
    is uncalibrated unless ``flux_unit`` is given; wavelengths are µm unless
    ``wavelength_unit`` says otherwise.
    """
    header, rows = _text_rows(_read_text_file(path), path)
    if header is not None:
        roles = column_roles(header, path)
        index = {role: header.index(column) for role, column in roles.items()}
        n_columns = len(header)
    else:
        n_columns = len(rows[0][1])
        if n_columns < 2:
            raise DataError("need at least 2 columns (wavelength, flux), found 1", path)
        index = dict(zip(("wavelength", "flux", "uncertainty"), range(min(n_columns, 3)),
                         strict=False))
    table = np.empty((len(rows), n_columns))
    for k, (line, fields) in enumerate(rows):
        if len(fields) != n_columns:
            raise DataError(f"line {line} has {len(fields)} columns, expected {n_columns}", path)
        for j, text in enumerate(fields):
            try:
                table[k, j] = float(text) if text else np.nan
            except ValueError:
                raise DataError(f"line {line}: {text!r} is not a number", path) from None
    wave_unit = None if wavelength_unit is None else parse_unit(wavelength_unit,
                                                                "wavelength", path)
    unit = parse_unit(flux_unit, "flux", path)
    return dict(
        wavelength=to_micron(table[:, index["wavelength"]], wave_unit, path),
        flux=table[:, index["flux"]],
        uncertainty=table[:, index["uncertainty"]] if "uncertainty" in index else None,
        flux_unit="" if unit is None else unit.to_string(),
        name=stem(path),
        meta={"path": str(path), "format": "text", "columns": header},
    )


def _read_text_file(path: Path) -> str:
    """The file's text; bytes that are not UTF-8 (a Latin-1 comment) become U+FFFD, since
    the numbers are ASCII either way. A NUL byte means binary data: ValueError."""
    if is_gzip(path):
        with gzip.open(path, "rb") as handle:
            raw = handle.read()
    else:
        raw = path.read_bytes()
    if b"\x00" in raw:
        raise ValueError("binary data, not text")
    return raw.decode("utf-8", errors="replace")


def _text_rows(text: str, source: Path) -> tuple[list[str] | None, list[tuple[int, list[str]]]]:
    """Header names (or None) and ``(line number, fields)`` of each data row."""
    header: list[str] | None = None
    rows: list[tuple[int, list[str]]] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        fields = [f.strip() for f in line.split(",")] if "," in line else line.split()
        if header is None and not rows and not any(is_number(f) for f in fields):
            header = fields
            continue
        rows.append((number, fields))
        if len(rows) > MAX_PIXELS:
            raise DataError(f"more than {MAX_PIXELS:,} data rows; at most {MAX_PIXELS:,} "
                            "pixels are read (bin the spectrum first)", source)
    if not rows:
        raise DataError("no data rows", source)
    return header, rows
