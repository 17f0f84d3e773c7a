"""Units: the spellings found in spectrum and grid files, and conversions with astropy.

Wavelengths are µm throughout the package; a flux unit is an astropy unit string, ``""`` when
the flux is not calibrated. Every problem raises :class:`~telescopeml.errors.DataError`
naming the file or spectrum it came from.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path
from typing import Any

import astropy.units as u
import numpy as np

from telescopeml.errors import DataError

#: Wavelength values (µm) accepted when a file gives no wavelength unit.
MICRON_RANGE = (0.3, 30.0)

#: Unit spellings found in spectrum files (lower case, spaces removed) -> astropy string.
UNIT_ALIASES: dict[str, str] = {
    "um": "um",
    "µm": "um",
    "micron": "um",
    "microns": "um",
    "micrometer": "um",
    "micrometers": "um",
    "a": "Angstrom",
    "angstrom": "Angstrom",
    "angstroms": "Angstrom",
    "nm": "nm",
    "ergss-1cm-2a-1": "erg / (s cm2 Angstrom)",
    "ergs-1cm-2a-1": "erg / (s cm2 Angstrom)",
    "erg/s/cm2/a": "erg / (s cm2 Angstrom)",
    "erg/s/cm2/angstrom": "erg / (s cm2 Angstrom)",
    "erg/cm2/s/a": "erg / (s cm2 Angstrom)",
    "wm-2um-1": "W / (m2 um)",
    "w/m2/um": "W / (m2 um)",
    "w/m2/micron": "W / (m2 um)",
    "ergss-1cm-2hz-1": "erg / (s cm2 Hz)",
    "erg/s/cm2/hz": "erg / (s cm2 Hz)",
}
#: Flux "units" that mean the flux is not calibrated.
UNCALIBRATED = frozenset({"", "none", "normalized", "normalised", "relative", "arbitrary"})

Source = str | Path | None


def parse_unit(text: Any, kind: str, source: Source) -> u.UnitBase | None:
    """Astropy unit for a file's unit string (see :data:`UNIT_ALIASES`).

    Returns None when the string says "no unit" (:data:`UNCALIBRATED`). ``kind`` is
    ``"wavelength"`` or ``"flux"``; a unit of the other kind is refused.
    """
    text = str(text).strip()
    key = re.sub(r"\s+", "", text).lower()
    if key in UNCALIBRATED:
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", u.UnitsWarning)
            unit = u.Unit(UNIT_ALIASES.get(key, text))
    except ValueError:
        raise DataError(f"unknown {kind} unit {text!r}", source) from None
    check_unit(unit, kind, source)
    return unit


def check_unit(unit: u.UnitBase, kind: str, source: Source) -> None:
    """Raise unless ``unit`` is a spectral (``kind="wavelength"``) or flux-density unit."""
    if kind == "wavelength":
        ok = unit.is_equivalent(u.um, equivalencies=u.spectral())
    else:
        ok = unit.is_equivalent(u.Jy) or unit.is_equivalent(u.W / u.m**2 / u.um)
    if not ok:
        raise DataError(f"{unit.to_string()!r} is not a {kind} unit", source)


def astropy_unit(text: str, kind: str, source: Source) -> u.UnitBase:
    """``u.Unit(text)``, with a :class:`~telescopeml.errors.DataError` if astropy cannot
    parse it (no aliases, no check of the kind)."""
    try:
        return u.Unit(text)
    except ValueError:
        raise DataError(f"{kind} unit {text!r} is not an astropy unit", source) from None


def flux_unit_string(unit: Any, source: Source) -> str:
    """Normalized astropy string for ``unit``; ``""`` for no unit (uncalibrated)."""
    try:
        parsed = u.Unit(unit)
    except (TypeError, ValueError):
        raise DataError(f"unknown flux unit {unit!r}", source) from None
    return "" if parsed == u.dimensionless_unscaled else parsed.to_string()


def to_micron(values: np.ndarray, unit: u.UnitBase | str | None, source: Source) -> np.ndarray:
    """Wavelengths (or frequencies, energies) in ``unit`` as µm.

    Without a unit the values must already look like µm (inside :data:`MICRON_RANGE`).
    """
    values = np.asarray(values, dtype=np.float64)
    if unit is not None:
        if isinstance(unit, str):
            unit = astropy_unit(unit, "wavelength", source)
        try:
            return (values * unit).to_value(u.um, equivalencies=u.spectral())
        except u.UnitsError:
            raise DataError(f"wavelength unit {unit.to_string() or 'dimensionless'!r} cannot be "
                            "converted to µm", source) from None
    finite = values[np.isfinite(values)]
    low, high = MICRON_RANGE
    if finite.size and low <= finite.min() and finite.max() <= high:
        return values
    shown = f"{finite.min():g}-{finite.max():g}" if finite.size else "none finite"
    raise DataError(
        f"no wavelength unit given and the values ({shown}) are not in {low}-{high}, "
        "so they are not µm; give the unit",
        source,
    )


def convert_flux(
    values: np.ndarray,
    unit: u.UnitBase | str,
    target: u.UnitBase | str,
    wavelength: np.ndarray,
    source: Source,
    what: str = "flux",
) -> np.ndarray:
    """Flux densities (or their errors) in ``unit`` converted to ``target``.

    F_lambda <-> F_nu conversions use astropy's ``u.spectral_density`` at each pixel's
    wavelength (µm, same length as ``values``).
    """
    unit, target = u.Unit(unit), u.Unit(target)
    equivalencies = u.spectral_density(np.asarray(wavelength, dtype=np.float64) * u.um)
    try:
        return (np.asarray(values, dtype=np.float64) * unit).to_value(
            target, equivalencies=equivalencies)
    except u.UnitsError:
        raise DataError(f"cannot convert {what} from {unit.to_string()} to "
                        f"{target.to_string()}", source) from None


def radius_rjup(scale: np.ndarray, distance_pc: np.ndarray) -> np.ndarray:
    """Radius (R_Jup) of an object whose observed flux is ``scale`` times the model's surface
    flux at ``distance_pc``: ``scale = (R / d)^2``."""
    d = np.asarray(distance_pc, dtype=np.float64) * u.pc
    return (np.sqrt(np.clip(scale, 0, None)) * d).to_value(u.R_jup)


def mass_mjup(logg: np.ndarray, radius: np.ndarray) -> np.ndarray:
    """Mass (M_Jup) from surface gravity (log g, g in cm s^-2) and radius (R_Jup):
    ``M = g R^2 / G``."""
    from astropy import constants

    g = 10 ** np.asarray(logg, dtype=np.float64) * u.cm / u.s**2
    return (g * (np.asarray(radius) * u.R_jup) ** 2 / constants.G).to_value(u.M_jup)
