"""FITS readers: SpeX-style images (``spex-fits``) and binary tables (``fits-table``)."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import astropy.units as u
import numpy as np
from astropy.io import fits
from astropy.utils.exceptions import AstropyWarning

from telescopeml.data.readers.registry import (
    READ_ERRORS,
    column_roles,
    file_head,
    plain,
    register_reader,
    stem,
)
from telescopeml.data.units import check_unit, parse_unit, to_micron
from telescopeml.errors import DataError

FITS_EXTENSIONS = (".fits", ".fit", ".fts")

#: Header cards copied into ``meta`` (lower case, ``-`` as ``_``) by the FITS readers.
HEADER_KEYS = ("OBJECT", "DATE_OBS", "DATE-OBS", "TIME_OBS", "INSTRUME", "TELESCOP",
               "OBSERVER", "RA", "DEC", "AIRMASS", "ITIME", "EXPTIME", "RES", "SLTW_ARC",
               "TARGNAME", "FILTER", "GRATING", "DETECTOR")


#: Extension names that say "this HDU is the spectrum" (upper case): such an HDU is read
#: before any other, whatever comes first in the file.
SPECTRUM_EXTNAMES = ("SPEC", "SPECTRUM", "SPEC1D", "SPECTRUM1D", "EXTRACT1D")


def _named_spectrum(hdul: fits.HDUList) -> int | None:
    """Index of the first HDU named as the spectrum (:data:`SPECTRUM_EXTNAMES`) that holds
    data, else None."""
    for index, hdu in enumerate(hdul):
        if hdu.name.upper() in SPECTRUM_EXTNAMES and hdu.data is not None:
            return index
    return None


def _header_meta(header: fits.Header) -> dict:
    return {key.lower().replace("-", "_"): plain(header[key])
            for key in HEADER_KEYS if key in header}


def _fits_has(path: Path, wanted: Callable[[fits.HDUList], bool]) -> bool:
    """True if ``path`` is a FITS file and ``wanted(hdul)``; False for anything unreadable
    (an identify function must not raise)."""
    if not file_head(path).startswith(b"SIMPLE  ="):
        return False
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", AstropyWarning)
            with fits.open(path, memmap=False) as hdul:
                return wanted(hdul)
    except READ_ERRORS:
        return False


def _has_image(path: Path) -> bool:
    return _fits_has(path, lambda hdul: any(h.is_image and h.header.get("NAXIS", 0) >= 2
                                            for h in hdul))


def _has_table(path: Path) -> bool:
    return _fits_has(path, lambda hdul: bool(_table_hdus(hdul)))


def _table_hdus(hdul: fits.HDUList) -> list[fits.BinTableHDU]:
    """Binary-table HDUs that have a wavelength and a flux column."""
    found = []
    for hdu in hdul:
        if isinstance(hdu, fits.BinTableHDU):
            try:
                column_roles(hdu.columns.names, None)
            except DataError:
                continue
            found.append(hdu)
    return found


@register_reader("spex-fits", extensions=FITS_EXTENSIONS, identify=_has_image)
def read_spex_fits(path: Path) -> dict[str, Any]:
    """SpeX prism FITS as in splat: rows wavelength, flux[, noise[, mask]] (or transposed).

    The HDU named as the spectrum (``SPEC``..., :data:`SPECTRUM_EXTNAMES`) is read if there
    is one (a binary table by :func:`read_fits_table`), else the first image with data.
    Units come from the XUNITS/YUNITS cards; without YUNITS the flux is uncalibrated,
    without XUNITS the wavelengths must look like µm.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", AstropyWarning)
        with fits.open(path, memmap=False) as hdul:
            hdul.verify("silentfix+ignore")  # splat files carry non-standard cards
            named = _named_spectrum(hdul)
            table = named if named is not None and isinstance(hdul[named],
                                                              fits.BinTableHDU) else None
            hdu = hdul[named] if named is not None else next(
                (h for h in hdul if h.is_image and h.data is not None), None)
            if table is None:
                if hdu is None:
                    raise DataError("no image data in any HDU (for a binary table use "
                                    "format='fits-table')", path)
                data = np.array(hdu.data, dtype=np.float64)
                x_unit, y_unit = hdu.header.get("XUNITS", ""), hdu.header.get("YUNITS", "")
                meta = _header_meta(hdu.header)
    if table is not None:
        return read_fits_table(path, hdu=table)
    rows = _spex_rows(data, path)
    noise = rows[2] if len(rows) >= 3 else None
    if noise is not None and not np.any(np.isfinite(noise) & (noise > 0)):
        noise = None  # an all-NaN or all-zero noise row means "no noise"
    flux_unit = parse_unit(y_unit, "flux", path)
    name = str(meta.get("object") or "").strip() or stem(path)
    return dict(
        wavelength=to_micron(rows[0], parse_unit(x_unit, "wavelength", path), path),
        flux=rows[1],
        uncertainty=noise,
        flux_unit="" if flux_unit is None else flux_unit.to_string(),
        name=name,
        meta={**meta, "path": str(path), "format": "spex-fits"},
    )


@register_reader("fits-table", extensions=FITS_EXTENSIONS, identify=_has_table)
def read_fits_table(path: Path, hdu: int | str | None = None) -> dict[str, Any]:
    """Binary-table FITS such as a JWST ``x1d`` product (HDU ``EXTRACT1D``).

    Columns are found by name, case-insensitively: wavelength (``WAVELENGTH``, ``WAVE``,
    ``LAMBDA``...), flux (``FLUX``...) and optionally an error (``FLUX_ERROR``, ``ERROR``,
    ``ERR``, ``UNCERTAINTY``, ``SIGMA``...). Units come from the ``TUNITn`` cards: a flux
    without one is uncalibrated, a wavelength without one must look like µm, an error
    without one is in the flux unit. NaN pixels are dropped as in every reader.

    Parameters
    ----------
    path
        The file.
    hdu
        Index or name of the table HDU; by default the first binary table with a
        wavelength and a flux column, one named as the spectrum (:data:`SPECTRUM_EXTNAMES`)
        before the others.
    """
    from astropy.table import QTable  # slow to import: only for table files

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", AstropyWarning)
        with fits.open(path, memmap=False) as hdul:
            hdul.verify("silentfix+ignore")
            if hdu is None:
                tables = _table_hdus(hdul)
                if not tables:
                    raise DataError("no binary table with wavelength and flux columns in any "
                                    "HDU", path)
                named = [t for t in tables if t.name.upper() in SPECTRUM_EXTNAMES]
                table_hdu = (named or tables)[0]
            else:
                table_hdu = hdul[hdu]
                if not isinstance(table_hdu, fits.BinTableHDU):
                    raise DataError(f"HDU {hdu!r} is not a binary table", path)
            table = QTable.read(table_hdu)
            meta = {**_header_meta(hdul[0].header), **_header_meta(table_hdu.header)}
            extension = table_hdu.name
    roles = column_roles(table.colnames, path)
    values = {role: _column(table, column, role, path) for role, column in roles.items()}
    wavelength, wave_unit = values["wavelength"]
    flux, flux_unit = values["flux"]
    if flux_unit is not None:
        check_unit(flux_unit, "flux", path)
    uncertainty, error_unit = values.get("uncertainty", (None, None))
    if error_unit is not None:
        uncertainty = uncertainty * error_unit  # ObservedSpectrum converts it to flux_unit
    name = str(meta.get("object") or meta.get("targname") or "").strip() or stem(path)
    return dict(
        wavelength=to_micron(wavelength, wave_unit, path),
        flux=flux if flux_unit is None else flux * flux_unit,
        uncertainty=uncertainty,
        name=name,
        meta={**meta, "path": str(path), "format": "fits-table", "hdu": extension,
              "columns": list(roles.values())},
    )


def _column(table: Any, column: str, role: str, path: Path
            ) -> tuple[np.ndarray, u.UnitBase | None]:
    """A column's values as float (masked -> NaN) and its unit (None if it has none)."""
    data = table[column]
    unit = getattr(data, "unit", None)
    if isinstance(unit, u.UnrecognizedUnit):
        raise DataError(f"unknown unit {unit.to_string()!r} of column {column!r}", path)
    if data.ndim != 1:
        raise DataError(f"{role} column {column!r} has shape {data.shape}; one spectrum "
                        "per row is not supported", path)
    values = np.ma.filled(np.ma.asarray(getattr(data, "value", data), dtype=np.float64), np.nan)
    if unit is not None and unit.physical_type == "dimensionless":
        unit = None
    return values, unit


def _spex_rows(data: np.ndarray, source: Path) -> np.ndarray:
    """Rows wavelength, flux[, noise] from a (2-4, N) or (N, 2-4) image.

    A few library files stack several extractions as (k, 2-4, N); the first one is used.
    """
    if data.ndim == 3 and data.shape[0] <= 4:
        data = data[0]
    if data.ndim == 2 and 2 <= data.shape[0] <= 4 and data.shape[1] > 4:
        return data
    if data.ndim == 2 and 2 <= data.shape[1] <= 4 and data.shape[0] > 4:
        return data.T
    raise DataError(
        f"image has shape {data.shape}; expected (2-4, N) rows wavelength, flux[, noise] "
        "or the transpose",
        source,
    )
