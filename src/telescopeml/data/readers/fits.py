"""FITS readers: SpeX-style images (``spex-fits``)."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
from astropy.io import fits
from astropy.utils.exceptions import AstropyWarning

from telescopeml.data.readers import (
    file_head,
    plain,
    register_reader,
    stem,
)
from telescopeml.data.spectrum import ObservedSpectrum
from telescopeml.data.units import parse_unit, to_micron
from telescopeml.errors import DataError

FITS_EXTENSIONS = (".fits", ".fit", ".fts")

#: Header cards copied into ``meta`` (lower case, ``-`` as ``_``) by the FITS readers.
HEADER_KEYS = ("OBJECT", "DATE_OBS", "DATE-OBS", "TIME_OBS", "INSTRUME", "TELESCOP",
               "OBSERVER", "RA", "DEC", "AIRMASS", "ITIME", "EXPTIME", "RES", "SLTW_ARC")


def _header_meta(header: fits.Header) -> dict:
    return {key.lower().replace("-", "_"): plain(header[key])
            for key in HEADER_KEYS if key in header}


def _is_fits(path: Path) -> bool:
    return file_head(path).startswith(b"SIMPLE  =")


@register_reader("spex-fits", extensions=FITS_EXTENSIONS, identify=_is_fits)
def read_spex_fits(path: Path) -> ObservedSpectrum:
    """SpeX prism FITS as in splat: rows wavelength, flux[, noise[, mask]] (or transposed).

    Units come from the XUNITS/YUNITS cards; without YUNITS the flux is uncalibrated,
    without XUNITS the wavelengths must look like µm.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", AstropyWarning)
        with fits.open(path, memmap=False) as hdul:
            hdul.verify("silentfix+ignore")  # splat files carry non-standard cards
            hdu = next((h for h in hdul if h.is_image and h.data is not None), None)
            if hdu is None:
                raise DataError("no image data in any HDU", path)
            data = np.array(hdu.data, dtype=np.float64)
            header = hdu.header
            x_unit, y_unit = header.get("XUNITS", ""), header.get("YUNITS", "")
            meta = _header_meta(header)
    rows = _spex_rows(data, path)
    noise = rows[2] if len(rows) >= 3 else None
    if noise is not None and not np.any(np.isfinite(noise) & (noise > 0)):
        noise = None  # an all-NaN or all-zero noise row means "no noise"
    flux_unit = parse_unit(y_unit, "flux", path)
    name = str(meta.get("object") or "").strip() or stem(path)
    return ObservedSpectrum(
        wavelength=to_micron(rows[0], parse_unit(x_unit, "wavelength", path), path),
        flux=rows[1],
        uncertainty=noise,
        flux_unit="" if flux_unit is None else flux_unit.to_string(),
        name=name,
        meta={**meta, "path": str(path), "format": "spex-fits"},
    )


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
