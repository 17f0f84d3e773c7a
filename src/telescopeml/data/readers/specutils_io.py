"""specutils interoperability: its spectrum objects, and its loaders as the last resort.

:func:`specutils_fields` is duck-typed (``spectral_axis``, ``flux``, optional
``uncertainty``, ``mask`` and ``meta``), so it needs no specutils import. The ``specutils``
reader hands files that no other reader knows to specutils' own loaders (JWST, SDSS,
6dF, tabular FITS...) when specutils is installed (``pip install ".[specutils]"`` in the
source folder).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import astropy.units as u
import numpy as np

from telescopeml.data.readers.registry import register_reader, stem
from telescopeml.data.units import MICRON_RANGE
from telescopeml.errors import DataError, TelescopeMLError


def spectrum_class() -> type:
    """specutils' 1-D spectrum class (``Spectrum``; ``Spectrum1D`` before specutils 2)."""
    try:
        import specutils
    except ImportError:
        raise TelescopeMLError(
            "specutils is not installed; run `pip install specutils` "
            "(or, in the telescopeml source folder, `pip install \".[specutils]\"`)"
        ) from None
    return getattr(specutils, "Spectrum", None) or specutils.Spectrum1D


def specutils_fields(spectrum: Any, **meta: Any) -> dict[str, Any]:
    """The fields of an :class:`~telescopeml.data.spectrum.ObservedSpectrum` from a 1-D
    specutils spectrum.

    Any object with a spectral ``Quantity`` ``spectral_axis`` (wavelength, frequency or
    energy) and a ``flux`` (``Quantity``, or an array for uncalibrated flux) will do;
    ``uncertainty`` may be an astropy ``NDUncertainty`` (std, variance or inverse
    variance), a ``Quantity`` or None; masked pixels (``mask`` True) are dropped.
    ``meta`` entries are added to the spectrum's ``meta``.
    """
    if not (hasattr(spectrum, "spectral_axis") and hasattr(spectrum, "flux")):
        raise TypeError(f"expected a specutils spectrum (with spectral_axis and flux), got "
                        f"{type(spectrum).__name__}")
    extra = dict(getattr(spectrum, "meta", None) or {})
    name = str(extra.get("name") or extra.get("object") or "")
    flux = spectrum.flux
    if np.ndim(flux) != 1:
        raise DataError(f"only 1-D spectra are supported, got flux of shape {np.shape(flux)}",
                        name or None)
    unit = getattr(flux, "unit", None)
    values = np.array(getattr(flux, "value", flux), dtype=np.float64)
    mask = getattr(spectrum, "mask", None)
    if mask is not None:
        values[np.asarray(mask, dtype=bool)] = np.nan
    return dict(
        wavelength=spectrum.spectral_axis,
        flux=values if unit is None else values * unit,
        uncertainty=_standard_deviation(getattr(spectrum, "uncertainty", None)),
        name=name,
        meta={**extra, **meta},
    )


def _standard_deviation(uncertainty: Any) -> Any:
    """1-sigma errors (a Quantity when they carry a unit) from an NDUncertainty or array."""
    if uncertainty is None or not hasattr(uncertainty, "represent_as"):
        return uncertainty
    from astropy.nddata import StdDevUncertainty

    std = uncertainty.represent_as(StdDevUncertainty)
    array = np.asarray(std.array, dtype=np.float64)
    return array if std.unit is None else array * std.unit


def _specutils_formats(path: Path) -> list[str]:
    """The specutils loaders that identify ``path`` (none without specutils)."""
    try:
        cls = spectrum_class()
    except TelescopeMLError:
        return []
    try:
        return cls.read.registry.identify_format("read", cls, str(path), None, [], {})
    except Exception:  # third-party identifiers may raise anything; then it is not ours
        return []


@register_reader("specutils", identify=lambda path: bool(_specutils_formats(path)))
def read_specutils(path: Path, specutils_format: str | None = None,
                   **options: Any) -> dict[str, Any]:
    """Read with specutils' loaders: ``Spectrum.read(path, format=specutils_format)``.

    Used for files no other reader identifies, when specutils is installed. Without
    ``specutils_format`` exactly one specutils loader must identify the file.
    ``options`` go to the loader. Wavelengths nowhere near
    :data:`~telescopeml.data.units.MICRON_RANGE` are refused: specutils numbers the pixels
    in Angstrom when a file has no wavelength axis.
    """
    cls = spectrum_class()
    if specutils_format is None:
        found = _specutils_formats(path)
        if len(found) != 1:
            raise DataError(f"specutils finds {len(found)} formats for it "
                            f"({', '.join(found) or 'none'}); pass specutils_format=", path)
        specutils_format = found[0]
    from astropy.io.registry import IORegistryError

    try:
        spectrum = cls.read(str(path), format=specutils_format, **options)
    except IORegistryError as exc:
        raise DataError(f"cannot read with specutils ({exc})", path) from None
    fields = specutils_fields(spectrum, path=str(path), format="specutils",
                              specutils_format=specutils_format)
    fields["name"] = fields["name"] or stem(path)
    microns = fields["wavelength"].to_value(u.um, equivalencies=u.spectral())
    low, high = MICRON_RANGE
    if np.nanmax(microns) < low or np.nanmin(microns) > high:
        raise DataError(
            f"specutils ({specutils_format}) gives wavelengths {np.nanmin(microns):g}-"
            f"{np.nanmax(microns):g} µm, nowhere near {low}-{high} µm; does the file lack "
            "its wavelength axis (WCS)?", path)
    return fields
