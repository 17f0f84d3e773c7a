"""ObservedSpectrum: one observed spectrum, validated; files are read by the readers
registered in :mod:`telescopeml.data.readers`."""

from __future__ import annotations

import copy
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import astropy.units as u
import numpy as np

from telescopeml.data.resample import MAX_PIXELS, outside_coverage, resample
from telescopeml.data.transforms import Normalizer
from telescopeml.data.units import convert_flux, flux_unit_string, to_micron
from telescopeml.errors import DataError

#: Fewer usable pixels than this and a spectrum is refused.
MIN_PIXELS = 10
#: Standard near-infrared telluric absorption bands, µm.
TELLURIC_BANDS: tuple[tuple[float, float], ...] = ((1.35, 1.42), (1.80, 1.95))
#: A gap wider than this many median pixel spacings counts as not covered (:meth:`coverage`;
#: the instrument's gaps, which the resampling masks, are ``instruments.gaps``').
COVERAGE_GAP_FACTOR = 3.0


@dataclass(eq=False, repr=False)
class ObservedSpectrum:
    """An observed spectrum, checked on construction.

    Non-finite pixels are dropped (with a warning; their count is ``meta["n_dropped"]``);
    decreasing wavelengths are reversed. Raises :class:`~telescopeml.errors.DataError` for
    more than :data:`~telescopeml.data.resample.MAX_PIXELS` pixels, mismatched lengths,
    unsorted or repeated wavelengths, fewer than 10 usable pixels, all-zero or
    non-positive median flux, negative uncertainties or an unknown unit.

    Arrays may be astropy ``Quantity`` objects, converted as astropy does (``NDData``): a
    wavelength (or frequency, energy) Quantity to µm; a flux Quantity gives ``flux_unit``
    when that is empty, else is converted to it (F_lambda <-> F_nu at each wavelength) or
    refused if it cannot be; an uncertainty Quantity is converted to the flux unit.
    Stored arrays are plain float arrays.

    Parameters
    ----------
    wavelength
        Wavelengths in µm (plain array) or a spectral ``Quantity``.
    flux
        Flux density in ``flux_unit`` (plain array) or a ``Quantity``.
    uncertainty
        1-sigma flux errors in the flux unit (plain array), a ``Quantity``, or None.
    flux_unit
        Astropy unit string; ``""`` when the flux is not calibrated
        (``meta["flux_calibrated"]`` is then False). A dimensionless flux Quantity is
        uncalibrated too.
    name
        Object name.
    meta
        Provenance: ``path``, ``format``, header values...
    """

    wavelength: np.ndarray
    flux: np.ndarray
    uncertainty: np.ndarray | None = None
    flux_unit: str = ""
    name: str = ""
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        source = self.source
        self.meta = dict(self.meta)
        (wavelength, wave_unit), (flux, flux_unit) = (
            _vector(self.wavelength, "wavelength", source), _vector(self.flux, "flux", source))
        if wavelength.size > MAX_PIXELS:
            raise DataError(f"{wavelength.size:,} pixels; at most {MAX_PIXELS:,} are read "
                            "(bin the spectrum first)", source)
        arrays, units = [wavelength, flux], [wave_unit, flux_unit]
        if self.uncertainty is not None:
            uncertainty, error_unit = _vector(self.uncertainty, "uncertainty", source)
            arrays.append(uncertainty)
            units.append(error_unit)
        if len({a.size for a in arrays}) != 1:
            sizes = ", ".join(f"{n} {a.size}" for n, a in
                              zip(("wavelength", "flux", "uncertainty"), arrays, strict=False))
            raise DataError(f"array lengths differ ({sizes})", source)
        self.flux_unit = flux_unit_string(self.flux_unit, source)
        if any(unit is not None for unit in units):
            arrays = self._strip_units(arrays, units, source)

        good = np.logical_and.reduce([np.isfinite(a) for a in arrays])
        if len(arrays) == 3 and np.any(arrays[2][good] < 0):
            n_negative = int(np.sum(arrays[2][good] < 0))
            raise DataError(f"{n_negative} pixels have a negative uncertainty", source)
        n_dropped = int(good.size - good.sum())
        if good.sum() < MIN_PIXELS:
            raise DataError(
                f"only {int(good.sum())} of {good.size} pixels have finite wavelength, flux "
                f"and uncertainty; at least {MIN_PIXELS} are needed",
                source,
            )
        if n_dropped:
            warnings.warn(
                f"{source or 'spectrum'}: dropped {n_dropped} of {good.size} pixels with NaN "
                "or infinite wavelength, flux or uncertainty",
                stacklevel=3,
            )
        arrays = [a[good] for a in arrays]

        step = np.diff(arrays[0])
        if np.all(step < 0):
            arrays = [a[::-1] for a in arrays]
        elif np.any(step <= 0):
            i = int(np.flatnonzero(step <= 0)[0])
            problem = "repeated" if step[i] == 0 else "not sorted"
            raise DataError(
                f"wavelengths are {problem} (pixel {i + 1}: {arrays[0][i]:g} then "
                f"{arrays[0][i + 1]:g} µm); they must be strictly increasing",
                source,
            )
        if not np.any(arrays[1]):
            raise DataError("all flux values are zero", source)
        median = float(np.median(arrays[1]))
        if median <= 0:
            raise DataError(f"median flux is {median:g}; it must be positive", source)

        self.wavelength, self.flux = arrays[0], arrays[1]
        self.uncertainty = arrays[2] if len(arrays) == 3 else None
        self.meta["n_dropped"] = n_dropped
        self.meta["flux_calibrated"] = self.flux_unit != ""

    def _strip_units(self, arrays: list[np.ndarray], units: list[u.UnitBase | None],
                     source: str | None) -> list[np.ndarray]:
        """Convert Quantity inputs: wavelength to µm, flux to ``flux_unit`` (which it sets when
        empty) and uncertainty to the flux unit; sets ``self.flux_unit``."""
        wavelength = arrays[0] if units[0] is None else to_micron(arrays[0], units[0], source)
        flux, flux_unit = arrays[1], units[1]
        if flux_unit is not None and not self.flux_unit:
            self.flux_unit = flux_unit_string(flux_unit, source)
        elif flux_unit is not None and u.Unit(self.flux_unit) != flux_unit:
            try:
                flux = convert_flux(flux, flux_unit, self.flux_unit, wavelength, source)
            except DataError:
                raise DataError(f"the flux is a Quantity in {flux_unit.to_string() or 'no unit'}"
                                f", which contradicts flux_unit={self.flux_unit!r}",
                                source) from None
        out = [wavelength, flux]
        if len(arrays) == 3:
            error, error_unit = arrays[2], units[2]
            if error_unit is not None and not self.flux_unit:
                if error_unit != u.dimensionless_unscaled:
                    raise DataError(f"the uncertainty is in {error_unit.to_string()} but the "
                                    "flux has no unit", source)
            elif error_unit is not None:
                error = convert_flux(error, error_unit, self.flux_unit, wavelength, source,
                                     "uncertainty")
            out.append(error)
        return out

    def __len__(self) -> int:
        return int(self.wavelength.size)

    def __repr__(self) -> str:
        return (
            f"<ObservedSpectrum {self.name or '(unnamed)'}: {len(self)} pixels, "
            f"{self.wavelength[0]:.4f}-{self.wavelength[-1]:.4f} µm, "
            f"flux unit {self.flux_unit or 'uncalibrated'}>"
        )

    # --- reading -------------------------------------------------------------------------
    @classmethod
    def read(cls, path: str | Path, format: str | None = None, **options: Any) -> ObservedSpectrum:
        """Read a spectrum file.

        The reader is chosen by ``format`` if given (see
        :data:`~telescopeml.data.readers.READERS`), else by the file extension (``.gz``
        ignored), else by identifying the content. ``options`` go to the
        reader (e.g. ``flux_unit=`` for ``text``). Every problem with the file is raised as
        :class:`~telescopeml.errors.DataError` naming it.
        """
        from telescopeml.data.readers import read_spectrum

        return cls(**read_spectrum(path, format, **options))

    @classmethod
    def from_library(cls, name: str, instrument: str | None = None) -> ObservedSpectrum:
        """Load an observed spectrum from the data wheels by object name or designation.

        Searches the ~3,000 SpeX prism spectra of splat and the few real spectra of ucdmcmc
        (``instrument="JWST-NIRSPEC-PRISM"`` for Wolf 1130C, say); the highest-S/N spectrum
        wins when an object has several. A name that is not the object's own (matched by
        its coordinates) gets a ``"taken as ..."`` note in ``meta["input_notes"]``
        (:func:`~telescopeml.data.library.resolve`). ``meta`` gains the library entry. A
        spectrum whose file records no unit is in the libraries' own
        (:data:`~telescopeml.data.library.LIBRARY_FLUX_UNIT`); ``meta["flux_normalized"]``
        says when its level is relative (a normalized F_lambda: shape, no scale).
        """
        from telescopeml.data.library import (
            LIBRARY_FLUX_UNIT,
            NORMALIZED_LEVEL,
            library_file,
            resolve,
        )

        entry, note = resolve(name, instrument=instrument, quiet=True)
        spectrum = cls.read(library_file(entry, quiet=True))
        if not spectrum.flux_unit:
            # the file says nothing, but the library's unit is known: F_lambda, sometimes
            # normalized (then meta["flux_normalized"]: its shape is F_lambda, its scale none)
            spectrum.flux_unit = LIBRARY_FLUX_UNIT
            spectrum.meta.update(flux_calibrated=True, flux_unit_from=f"{entry.package} library",
                                 flux_normalized=bool(np.median(np.abs(spectrum.flux))
                                                      > NORMALIZED_LEVEL))
        spectrum.name = entry.name
        spectrum.meta.update(spectral_type=entry.spectral_type, instrument=entry.instrument,
                             library_file=entry.data_file, distance_pc=entry.distance_pc,
                             reference=entry.reference)
        if note:
            spectrum.meta["input_notes"] = [*spectrum.meta.get("input_notes", []), note]
        return spectrum

    @classmethod
    def from_specutils(cls, spectrum: Any) -> ObservedSpectrum:
        """Build from a 1-D ``specutils`` spectrum, or any object with ``spectral_axis``
        and ``flux`` (see :func:`~telescopeml.data.readers.specutils_io.specutils_fields`;
        specutils itself is not needed)."""
        from telescopeml.data.readers.specutils_io import specutils_fields

        return cls(**specutils_fields(spectrum))

    def to_specutils(self) -> Any:
        """This spectrum as a ``specutils.Spectrum`` (``Spectrum1D`` in specutils 1.x)."""
        from astropy.nddata import StdDevUncertainty

        from telescopeml.data.readers.specutils_io import spectrum_class

        unit = u.Unit(self.flux_unit)
        return spectrum_class()(
            flux=self.flux * unit,
            spectral_axis=self.wavelength * u.um,
            uncertainty=None if self.uncertainty is None
            else StdDevUncertainty(self.uncertainty * unit),
            meta={**self.meta, "name": self.name},
        )

    # --- properties ----------------------------------------------------------------------
    @property
    def source(self) -> str | None:
        """The file this spectrum came from, else its name: what error messages name."""
        return self.meta.get("path") or self.name or None

    @property
    def flux_calibrated(self) -> bool:
        """True when the flux has a physical unit."""
        return self.flux_unit != ""

    @property
    def snr(self) -> float | None:
        """Median of flux / uncertainty, or None without uncertainties."""
        if self.uncertainty is None:
            return None
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(self.uncertainty > 0, self.flux / self.uncertainty, np.nan)
        return float(np.nanmedian(ratio))

    def coverage(self, wavelength: np.ndarray) -> float:
        """Fraction of the points of ``wavelength`` (µm, e.g. a model grid's) that this
        spectrum covers: inside its range and not in a gap (masked band) wider than
        :data:`COVERAGE_GAP_FACTOR` median pixels."""
        model = np.asarray(wavelength, dtype=np.float64)
        observed = self.wavelength[np.isfinite(self.flux)]
        if model.size == 0 or observed.size < 2:
            return 0.0
        widest = COVERAGE_GAP_FACTOR * float(np.median(np.diff(observed)))
        i = np.clip(np.searchsorted(observed, model), 1, observed.size - 1)
        inside = (model >= observed[0]) & (model <= observed[-1])
        covered = inside & (observed[i] - observed[i - 1] <= widest)
        return float(np.mean(covered))

    # --- derived spectra -----------------------------------------------------------------
    def to_flux_unit(self, unit: str | u.UnitBase) -> ObservedSpectrum:
        """This spectrum with flux and uncertainty in ``unit``.

        F_lambda <-> F_nu conversions use astropy's ``u.spectral_density`` at each pixel's
        wavelength. Raises :class:`~telescopeml.errors.DataError` for an unknown or
        incompatible unit, and for an uncalibrated spectrum (see :meth:`in_flux_unit`).
        """
        target = self._target_unit(unit)
        if not self.flux_calibrated:
            raise DataError(f"the flux is not calibrated; it cannot be converted to {unit}",
                            self.source)
        flux = convert_flux(self.flux, self.flux_unit, target, self.wavelength, self.source)
        uncertainty = None if self.uncertainty is None else convert_flux(
            self.uncertainty, self.flux_unit, target, self.wavelength, self.source,
            "uncertainty")
        return self._derive(flux=flux, uncertainty=uncertainty, flux_unit=target.to_string())

    def in_flux_unit(self, unit: str | u.UnitBase) -> ObservedSpectrum:
        """This spectrum in ``unit`` if its flux is calibrated, else unchanged.

        The rule for code that takes any spectrum: an uncalibrated (relative, normalized)
        flux has no unit to convert from, so it comes back as it is (a copy, still
        uncalibrated: check :attr:`flux_calibrated` on the result). A calibrated one is
        converted as by :meth:`to_flux_unit`. An unknown ``unit`` is refused either way.
        """
        target = self._target_unit(unit)
        return self.to_flux_unit(target) if self.flux_calibrated else self._derive()

    def _target_unit(self, unit: str | u.UnitBase) -> u.UnitBase:
        try:
            return u.Unit(unit)
        except (TypeError, ValueError):
            raise DataError(f"unknown flux unit {unit!r}", self.source) from None

    def resample(self, new_wavelength: np.ndarray, fill: float | None = None) -> ObservedSpectrum:
        """Flux-conserving resampling onto ``new_wavelength`` (µm), uncertainties propagated.

        New pixels not fully inside the observed coverage raise
        :class:`~telescopeml.errors.DataError`, unless ``fill`` (e.g. ``np.nan``) is given,
        which they then hold.
        """
        new_wavelength = np.asarray(new_wavelength, dtype=np.float64)
        outside = outside_coverage(new_wavelength, self.wavelength)
        if outside.any() and fill is None:
            raise DataError(
                f"{int(outside.sum())} of {outside.size} new pixels "
                f"({new_wavelength[outside].min():.4f}-{new_wavelength[outside].max():.4f} µm) "
                f"lie outside the observed coverage {self.wavelength[0]:.4f}-"
                f"{self.wavelength[-1]:.4f} µm; pass fill=np.nan to keep them as NaN",
                self.source,
            )
        flux, uncertainty = resample(new_wavelength, self.wavelength, self.flux,
                                     self.uncertainty, fill=np.nan if fill is None else fill)
        return self._derive(wavelength=new_wavelength, flux=flux, uncertainty=uncertainty)

    def mask(self, ranges: Sequence[tuple[float, float]]) -> ObservedSpectrum:
        """Drop the pixels inside each ``(low, high)`` window, µm (ends included)."""
        windows = np.atleast_2d(np.asarray(ranges, dtype=np.float64))
        if windows.ndim != 2 or windows.shape[1] != 2 or np.any(windows[:, 0] >= windows[:, 1]):
            raise ValueError(f"ranges must be (low, high) pairs with low < high, got {ranges!r}")
        keep = np.ones(len(self), dtype=bool)
        for low, high in windows:
            keep &= (self.wavelength < low) | (self.wavelength > high)
        return ObservedSpectrum(
            wavelength=self.wavelength[keep],
            flux=self.flux[keep],
            uncertainty=None if self.uncertainty is None else self.uncertainty[keep],
            flux_unit=self.flux_unit,
            name=self.name,
            meta={**self.meta, "masked": [*self.meta.get("masked", []), *windows.tolist()]},
        )

    def mask_telluric(self) -> ObservedSpectrum:
        """Drop the standard near-infrared telluric bands (:data:`TELLURIC_BANDS`)."""
        return self.mask(TELLURIC_BANDS)

    def normalize(self, strategy: str | Normalizer = "median-band",
                  **options: Any) -> ObservedSpectrum:
        """Normalize the flux (see :mod:`telescopeml.data.transforms`).

        The result is uncalibrated; ``meta["normalization"]`` holds the strategy, its
        options and the ``offset`` and ``scale`` that undo it.
        """
        normalizer = (strategy if isinstance(strategy, Normalizer)
                      else Normalizer.create(strategy, **options))
        try:
            offset, scale = normalizer.scales(self.wavelength, self.flux)
            flux, uncertainty, _ = normalizer.transform(self.wavelength, self.flux,
                                                        self.uncertainty)
        except DataError as exc:
            raise DataError(exc.problem, self.source) from None
        normalization = {**normalizer.to_dict(), "offset": float(offset), "scale": float(scale),
                         "unit": self.flux_unit}
        return self._derive(flux=flux, uncertainty=uncertainty, flux_unit="",
                            meta={**self.meta, "normalization": normalization,
                                  "flux_calibrated": False})

    def _derive(self, **changes: Any) -> ObservedSpectrum:
        """A copy with some attributes replaced, skipping validation (inputs already valid)."""
        new = copy.copy(self)
        new.meta = dict(self.meta)
        for name, value in changes.items():
            setattr(new, name, value)
        return new


# --- helpers -----------------------------------------------------------------------------
def _vector(values: Any, what: str, source: str | None) -> tuple[np.ndarray, u.UnitBase | None]:
    """A 1-D float array and, for a ``Quantity``, its unit (else None)."""
    unit = values.unit if isinstance(values, u.Quantity) else None
    try:
        array = np.array(values.value if unit is not None else values, dtype=np.float64)
    except (TypeError, ValueError):
        raise DataError(f"{what} is not numeric", source) from None
    if array.ndim != 1:
        raise DataError(f"{what} must be 1-D, got shape {array.shape}", source)
    return array, unit
