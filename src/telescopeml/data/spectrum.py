"""ObservedSpectrum: one observed spectrum, validated, with readers registered by format."""

from __future__ import annotations

import copy
import gzip
import re
import warnings
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import astropy.units as u
import numpy as np
from astropy.io import fits
from astropy.utils.exceptions import AstropyWarning

from telescopeml.data.resample import outside_coverage, resample
from telescopeml.data.transforms import Normalizer
from telescopeml.errors import DataError, TelescopeMLError, UnknownNameError

#: Fewer usable pixels than this and a spectrum is refused.
MIN_PIXELS = 10
#: Standard near-infrared telluric absorption bands, µm.
TELLURIC_BANDS: tuple[tuple[float, float], ...] = ((1.35, 1.42), (1.80, 1.95))
#: Wavelength values (µm) accepted when a file gives no wavelength unit.
MICRON_RANGE = (0.3, 30.0)
#: A gap wider than this many median pixel spacings counts as not covered.
GAP_FACTOR = 3.0

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

WAVELENGTH_NAMES = ("wavelength", "wave", "wavelengths", "lambda", "lam", "wl", "wav")
FLUX_NAMES = ("flux", "signal", "f_lambda", "flam", "fnu", "f_nu", "fluxdensity")
UNCERTAINTY_NAMES = ("uncertainty", "unc", "error", "err", "noise", "sigma", "flux_error",
                     "flux_err", "e_flux", "f_lambda_error", "flux_unc")

#: Header cards copied into ``meta`` (lower case, ``-`` as ``_``) by the FITS reader.
HEADER_KEYS = ("OBJECT", "DATE_OBS", "DATE-OBS", "TIME_OBS", "INSTRUME", "TELESCOP",
               "OBSERVER", "RA", "DEC", "AIRMASS", "ITIME", "EXPTIME", "RES", "SLTW_ARC")

_READ_ERRORS = (OSError, EOFError, ValueError, KeyError, IndexError, zlib.error,
                fits.VerifyError)


@dataclass(frozen=True)
class Reader:
    """A registered file reader (see :func:`register_reader`)."""

    name: str
    function: Callable[..., ObservedSpectrum]
    extensions: tuple[str, ...]
    sniff: Callable[[bytes], bool] | None


#: Format name -> :class:`Reader`, in registration order (the order sniffing tries them).
READERS: dict[str, Reader] = {}


def register_reader(
    name: str, extensions: Sequence[str] = (), sniff: Callable[[bytes], bool] | None = None
) -> Callable[[Callable[..., ObservedSpectrum]], Callable[..., ObservedSpectrum]]:
    """Register ``function(path, **options) -> ObservedSpectrum`` as the reader for ``name``.

    Parameters
    ----------
    name
        Format name, as passed to ``ObservedSpectrum.read(path, format=name)``.
    extensions
        File suffixes (``".fits"``) this reader claims; a trailing ``.gz`` is ignored.
    sniff
        Called with the file's first bytes (decompressed), True if the reader can read it.
    """

    def decorator(function: Callable[..., ObservedSpectrum]) -> Callable[..., ObservedSpectrum]:
        READERS[name] = Reader(name, function, tuple(e.lower() for e in extensions), sniff)
        return function

    return decorator


@dataclass(eq=False, repr=False)
class ObservedSpectrum:
    """An observed spectrum, checked on construction.

    Non-finite pixels are dropped (with a warning; their count is ``meta["n_dropped"]``);
    decreasing wavelengths are reversed. Raises :class:`~telescopeml.errors.DataError` for
    mismatched lengths, unsorted or repeated wavelengths, fewer than 10 usable pixels,
    all-zero or non-positive median flux, negative uncertainties or an unknown unit.

    Parameters
    ----------
    wavelength
        Wavelengths in µm.
    flux
        Flux density in ``flux_unit``.
    uncertainty
        1-sigma flux errors, same unit, or None.
    flux_unit
        Astropy unit string; ``""`` when the flux is not calibrated
        (``meta["flux_calibrated"]`` is then False).
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
        wavelength = _vector(self.wavelength, "wavelength", source)
        flux = _vector(self.flux, "flux", source)
        arrays = [wavelength, flux]
        if self.uncertainty is not None:
            arrays.append(_vector(self.uncertainty, "uncertainty", source))
        if len({a.size for a in arrays}) != 1:
            sizes = ", ".join(f"{n} {a.size}" for n, a in
                              zip(("wavelength", "flux", "uncertainty"), arrays, strict=False))
            raise DataError(f"array lengths differ ({sizes})", source)
        self.flux_unit = _unit_string(self.flux_unit, source)

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

        The reader is chosen by ``format`` if given (see :data:`READERS`), else by the file
        extension (``.gz`` ignored), else by sniffing the content. ``options`` go to the
        reader (e.g. ``flux_unit=`` for ``text``). Every problem with the file is raised as
        :class:`~telescopeml.errors.DataError` naming it.
        """
        path = Path(path)
        if not path.is_file():
            raise DataError("no such file", path)
        reader = _choose_reader(path, format)
        try:
            return reader.function(path, **options)
        except TelescopeMLError:
            raise
        except _READ_ERRORS as exc:
            raise DataError(f"cannot read as {reader.name!r} ({exc})", path) from None

    @classmethod
    def from_library(cls, name: str, instrument: str | None = None) -> ObservedSpectrum:
        """Load an observed spectrum from the data wheels by object name or designation.

        Searches the ~3,000 SpeX prism spectra of splat and the few real spectra of ucdmcmc
        (``instrument="JWST-NIRSPEC-PRISM"`` for Wolf 1130C, say); the highest-S/N spectrum
        wins when an object has several. ``meta`` gains the library entry.
        """
        from telescopeml.data.library import find_entry, library_file

        entry = find_entry(name, instrument=instrument, quiet=True)
        spectrum = cls.read(library_file(entry, quiet=True))
        spectrum.name = entry.name
        spectrum.meta.update(spectral_type=entry.spectral_type, instrument=entry.instrument,
                             library_file=entry.data_file, distance_pc=entry.distance_pc,
                             reference=entry.reference)
        return spectrum

    @classmethod
    def from_specutils(cls, spectrum: Any) -> ObservedSpectrum:
        """Build from a 1-D ``specutils`` spectrum (masked pixels are dropped)."""
        _specutils()
        name = str(spectrum.meta.get("name") or spectrum.meta.get("object") or "")
        if spectrum.flux.ndim != 1:
            raise DataError(f"only 1-D spectra are supported, got flux of shape "
                            f"{spectrum.flux.shape}", name or None)
        unit = spectrum.flux.unit
        flux = np.array(spectrum.flux.value, dtype=np.float64)
        uncertainty = None
        if spectrum.uncertainty is not None:
            from astropy.nddata import StdDevUncertainty

            std = spectrum.uncertainty.represent_as(StdDevUncertainty)
            uncertainty = np.array(std.array, dtype=np.float64)
            if std.unit is not None:
                uncertainty = (uncertainty * std.unit).to_value(unit)
        if spectrum.mask is not None:
            flux[np.asarray(spectrum.mask, dtype=bool)] = np.nan
        return cls(
            wavelength=spectrum.spectral_axis.to_value(u.um, equivalencies=u.spectral()),
            flux=flux,
            uncertainty=uncertainty,
            flux_unit=unit.to_string(),
            name=name,
            meta=dict(spectrum.meta),
        )

    def to_specutils(self) -> Any:
        """This spectrum as a ``specutils.Spectrum`` (``Spectrum1D`` in specutils 1.x)."""
        from astropy.nddata import StdDevUncertainty

        specutils = _specutils()
        spectrum_class = getattr(specutils, "Spectrum", None) or specutils.Spectrum1D
        unit = u.Unit(self.flux_unit)
        return spectrum_class(
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
        ``GAP_FACTOR`` median pixels."""
        model = np.asarray(wavelength, dtype=np.float64)
        observed = self.wavelength[np.isfinite(self.flux)]
        if model.size == 0 or observed.size < 2:
            return 0.0
        widest = GAP_FACTOR * float(np.median(np.diff(observed)))
        i = np.clip(np.searchsorted(observed, model), 1, observed.size - 1)
        inside = (model >= observed[0]) & (model <= observed[-1])
        covered = inside & (observed[i] - observed[i - 1] <= widest)
        return float(np.mean(covered))

    # --- derived spectra -----------------------------------------------------------------
    def to_flux_unit(self, unit: str | u.UnitBase) -> ObservedSpectrum:
        """Convert the flux (and uncertainty), F_lambda <-> F_nu included."""
        if not self.flux_calibrated:
            raise DataError(f"the flux is not calibrated; it cannot be converted to {unit}",
                            self.source)
        try:
            target = u.Unit(unit)
        except ValueError:
            raise DataError(f"unknown flux unit {unit!r}", self.source) from None
        equivalencies = u.spectral_density(self.wavelength * u.um)
        current = u.Unit(self.flux_unit)
        try:
            flux = (self.flux * current).to_value(target, equivalencies=equivalencies)
        except u.UnitsError:
            raise DataError(f"cannot convert flux from {self.flux_unit} to {target}",
                            self.source) from None
        uncertainty = None if self.uncertainty is None else (
            (self.uncertainty * current).to_value(target, equivalencies=equivalencies))
        return self._derive(flux=flux, uncertainty=uncertainty, flux_unit=target.to_string())

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


# --- readers -----------------------------------------------------------------------------
@register_reader("spex-fits", extensions=(".fits", ".fit", ".fts"),
                 sniff=lambda head: head.startswith(b"SIMPLE  ="))
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
            meta = {key.lower().replace("-", "_"): _plain(header[key])
                    for key in HEADER_KEYS if key in header}
    rows = _spex_rows(data, path)
    noise = rows[2] if len(rows) >= 3 else None
    if noise is not None and not np.any(np.isfinite(noise) & (noise > 0)):
        noise = None  # an all-NaN or all-zero noise row means "no noise"
    flux_unit = _parse_unit(y_unit, "flux", path)
    name = str(meta.get("object") or "").strip() or _stem(path)
    return ObservedSpectrum(
        wavelength=_to_micron(rows[0], _parse_unit(x_unit, "wavelength", path), path),
        flux=rows[1],
        uncertainty=noise,
        flux_unit="" if flux_unit is None else flux_unit.to_string(),
        name=name,
        meta={**meta, "path": str(path), "format": "spex-fits"},
    )


@register_reader("ecsv", extensions=(".ecsv",),
                 sniff=lambda head: head.startswith(b"# %ECSV"))
def read_ecsv(path: Path) -> ObservedSpectrum:
    """Astropy ECSV table: wavelength and flux columns with units, optional uncertainty."""
    from astropy.table import Table

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", AstropyWarning)
        table = Table.read(path, format="ascii.ecsv")
    roles = _column_roles(list(table.colnames), path)
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
        _check_unit(flux_unit, "flux", path)
    uncertainty = values.get("uncertainty")
    if uncertainty is not None and units["uncertainty"] is not None and flux_unit is not None:
        try:
            uncertainty = (uncertainty * units["uncertainty"]).to_value(flux_unit)
        except u.UnitsError:
            raise DataError(f"uncertainty unit {units['uncertainty']} does not match flux unit "
                            f"{flux_unit}", path) from None
    meta = {str(k): _plain(v) for k, v in table.meta.items()}
    return ObservedSpectrum(
        wavelength=_to_micron(values["wavelength"], units["wavelength"], path),
        flux=values["flux"],
        uncertainty=uncertainty,
        flux_unit="" if flux_unit is None else flux_unit.to_string(),
        name=str(meta.get("name") or meta.get("object") or _stem(path)),
        meta={**meta, "path": str(path), "format": "ecsv"},
    )


@register_reader("text", extensions=(".txt", ".dat", ".csv"),
                 sniff=lambda head: _looks_like_text(head))
def read_text(path: Path, flux_unit: str = "", wavelength_unit: str | None = None
              ) -> ObservedSpectrum:
    """Whitespace- or comma-separated columns: wavelength, flux[, uncertainty].

    ``#`` lines are comments. A first row of names (``wave,flux,unc``, ``WAVELENGTH,SIGNAL,
    UNCERTAINTY``...) picks the columns; without one the first three are used. The flux
    is uncalibrated unless ``flux_unit`` is given; wavelengths are µm unless
    ``wavelength_unit`` says otherwise.
    """
    header, rows = _text_rows(_read_text_file(path), path)
    if header is not None:
        roles = _column_roles(header, path)
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
    wave_unit = None if wavelength_unit is None else _parse_unit(wavelength_unit,
                                                                 "wavelength", path)
    unit = _parse_unit(flux_unit, "flux", path)
    return ObservedSpectrum(
        wavelength=_to_micron(table[:, index["wavelength"]], wave_unit, path),
        flux=table[:, index["flux"]],
        uncertainty=table[:, index["uncertainty"]] if "uncertainty" in index else None,
        flux_unit="" if unit is None else unit.to_string(),
        name=_stem(path),
        meta={"path": str(path), "format": "text", "columns": header},
    )


# --- helpers -----------------------------------------------------------------------------
def _choose_reader(path: Path, format: str | None) -> Reader:
    if format is not None:
        if format not in READERS:
            raise UnknownNameError("format", format, sorted(READERS))
        return READERS[format]
    suffix = _suffix(path)
    claimed = [r for r in READERS.values() if suffix in r.extensions]
    if len(claimed) == 1:
        return claimed[0]
    head = _head(path)
    for reader in claimed or READERS.values():
        if reader.sniff is not None and reader.sniff(head):
            return reader
    if claimed:
        return claimed[0]
    raise UnknownNameError("format", suffix or path.name, sorted(READERS))


def _suffix(path: Path) -> str:
    name = path.name.lower()
    return Path(name.removesuffix(".gz")).suffix


def _stem(path: Path) -> str:
    return Path(path.name.removesuffix(".gz")).stem


def _is_gzip(path: Path) -> bool:
    with path.open("rb") as handle:
        return handle.read(2) == b"\x1f\x8b"


def _head(path: Path, size: int = 2880) -> bytes:
    """The first ``size`` bytes, decompressed if gzipped (empty if that fails)."""
    try:
        if _is_gzip(path):
            with gzip.open(path) as handle:
                return handle.read(size)
        with path.open("rb") as handle:
            return handle.read(size)
    except (OSError, EOFError, zlib.error):
        return b""


def _looks_like_text(head: bytes) -> bool:
    """True if ``head`` is text with a line of at least two numbers."""
    if not head or b"\x00" in head:
        return False
    text = head.decode("utf-8", errors="replace")
    for line in text.splitlines()[:50]:
        fields = line.replace(",", " ").split()
        if len(fields) >= 2 and not line.lstrip().startswith("#"):
            if all(_is_number(f) for f in fields[:2]):
                return True
    return False


def _read_text_file(path: Path) -> str:
    if _is_gzip(path):
        with gzip.open(path, "rt", encoding="utf-8") as handle:
            return handle.read()
    return path.read_text(encoding="utf-8")


def _text_rows(text: str, source: Path) -> tuple[list[str] | None, list[tuple[int, list[str]]]]:
    """Header names (or None) and ``(line number, fields)`` of each data row."""
    header: list[str] | None = None
    rows: list[tuple[int, list[str]]] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        fields = [f.strip() for f in line.split(",")] if "," in line else line.split()
        if header is None and not rows and not any(_is_number(f) for f in fields):
            header = fields
            continue
        rows.append((number, fields))
    if not rows:
        raise DataError("no data rows", source)
    return header, rows


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _column_roles(names: list[str], source: Path) -> dict[str, str]:
    """Column name for ``wavelength``, ``flux`` and (if present) ``uncertainty``."""
    plain = {re.sub(r"\s*[\[(].*$", "", n).strip().lower(): n for n in names}
    roles = {}
    for role, aliases in (("wavelength", WAVELENGTH_NAMES), ("flux", FLUX_NAMES),
                          ("uncertainty", UNCERTAINTY_NAMES)):
        found = next((plain[a] for a in aliases if a in plain), None)
        if found is not None:
            roles[role] = found
        elif role != "uncertainty":
            raise DataError(
                f"no {role} column among {names}; expected one of {', '.join(aliases)}", source
            )
    return roles


def _parse_unit(text: Any, kind: str, source: Path) -> u.UnitBase | None:
    """Astropy unit for a file's unit string; None when it says "no unit"."""
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
    _check_unit(unit, kind, source)
    return unit


def _check_unit(unit: u.UnitBase, kind: str, source: Path) -> None:
    if kind == "wavelength":
        ok = unit.is_equivalent(u.um, equivalencies=u.spectral())
    else:
        ok = unit.is_equivalent(u.Jy) or unit.is_equivalent(u.W / u.m**2 / u.um)
    if not ok:
        raise DataError(f"{unit.to_string()!r} is not a {kind} unit", source)


def _to_micron(values: np.ndarray, unit: u.UnitBase | None, source: Path) -> np.ndarray:
    values = np.asarray(values, dtype=np.float64)
    if unit is not None:
        return (values * unit).to_value(u.um, equivalencies=u.spectral())
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


def _vector(values: Any, what: str, source: str | None) -> np.ndarray:
    try:
        array = np.array(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise DataError(f"{what} is not numeric", source) from None
    if array.ndim != 1:
        raise DataError(f"{what} must be 1-D, got shape {array.shape}", source)
    return array


def _unit_string(unit: Any, source: str | None) -> str:
    """Normalized astropy string for ``unit``; ``""`` for no unit (uncalibrated)."""
    try:
        parsed = u.Unit(unit)
    except (TypeError, ValueError):
        raise DataError(f"unknown flux unit {unit!r}", source) from None
    return "" if parsed == u.dimensionless_unscaled else parsed.to_string()


def _plain(value: Any) -> Any:
    """A header or table value as a JSON type."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


def _specutils() -> Any:
    try:
        import specutils
    except ImportError:
        raise TelescopeMLError(
            "specutils is not installed; run `pip install specutils` "
            "(or `pip install telescopeml[specutils]`)"
        ) from None
    return specutils
