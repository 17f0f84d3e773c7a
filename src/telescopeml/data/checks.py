"""Checks on an observed spectrum before a model sees it: readable, usable pixels, sane flux."""

from __future__ import annotations

import math
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from telescopeml.data.library import UCDMCMC_FILE
from telescopeml.data.spectrum import ObservedSpectrum
from telescopeml.errors import DataError

#: The median absolute flux outside this range is refused: the numerics (squares of fluxes and
#: uncertainties) overflow or underflow there, and no flux density in any unit is that size.
FLUX_MAGNITUDE = (1e-100, 1e100)
#: A pixel whose absolute flux or uncertainty exceeds this many times that median is masked.
ABSURD_FACTOR = 1e3

#: Suffixes of spectrum files that are never looked up as library names when missing.
FILE_SUFFIXES = (".txt", ".dat", ".csv", ".ecsv", ".tbl", ".h5", ".hdf5", ".npy")


class Refused(str):
    """An input known to be unusable before it is read (a ``--list`` row whose distance is
    not a number, or that names no spectrum): a string naming it, with the reason in
    :attr:`problem`. :func:`as_spectrum` raises it as a
    :class:`~telescopeml.errors.DataError`, so in a batch it costs only its own row."""

    problem: str

    def __new__(cls, name: str, problem: str) -> Refused:
        refused = super().__new__(cls, name)
        refused.problem = problem
        return refused


def as_spectrum(spectrum: ObservedSpectrum | str | Path | Any) -> ObservedSpectrum:
    """``spectrum`` as an :class:`ObservedSpectrum`: read from its file when given a path;
    looked up in the spectral library (an object name such as ``"2MASS J1503+2525"`` or a
    library file name such as ``10021_11106.fits``) when no such file exists; converted
    when given a ``specutils`` spectrum; a :class:`Refused` input raises its problem."""
    if isinstance(spectrum, ObservedSpectrum):
        return spectrum
    if isinstance(spectrum, Refused):
        raise DataError(spectrum.problem, str(spectrum))
    if hasattr(spectrum, "spectral_axis") and hasattr(spectrum, "flux"):
        return ObservedSpectrum.from_specutils(spectrum)
    path = Path(spectrum)
    if not path.exists() and not path.is_symlink() and _library_name(path):
        try:
            return ObservedSpectrum.from_library(str(spectrum))
        except DataError as exc:
            raise DataError(f"no such file, and {exc.problem}", str(spectrum)) from None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # non-standard FITS keywords of archive files
        return ObservedSpectrum.read(spectrum)


def with_distance(spectrum: ObservedSpectrum, distance_pc: float,
                  distance_err_pc: float = 0.0) -> ObservedSpectrum:
    """A copy of ``spectrum`` that carries its distance (``meta["distance"]``, in pc): a
    prediction from it also gives the radius and mass."""
    if not (np.isfinite(distance_pc) and distance_pc > 0) or not (
            np.isfinite(distance_err_pc) and distance_err_pc >= 0):
        raise DataError(f"distance {distance_pc} ± {distance_err_pc} pc: give a positive "
                        "distance and a non-negative error", source_of(spectrum))
    return spectrum._derive(meta={**spectrum.meta,
                                  "distance": (float(distance_pc), float(distance_err_pc))})


def _library_name(path: Path) -> bool:
    """Whether a missing ``path`` may name a library spectrum: no folder, and no text
    suffix unless it is the name of a library CSV (``JWST-NIRSPEC-PRISM_Wolf1130C_...csv``)."""
    return path.parent == Path(".") and (path.suffix.lower() not in FILE_SUFFIXES
                                         or bool(UCDMCMC_FILE.match(path.name)))


def missing_file(item: object) -> bool:
    """Whether ``item`` is a path to no file that cannot name a library spectrum either (it
    has a folder or a file suffix): :func:`as_spectrum` would answer "no such file"."""
    if not isinstance(item, str | Path):
        return False
    path = Path(item)
    return not path.exists() and not path.is_symlink() and not _library_name(path)


def source_of(spectrum: ObservedSpectrum | str | Path) -> str:
    """The file or name a spectrum came from, for messages."""
    if isinstance(spectrum, ObservedSpectrum):
        return spectrum.source or spectrum.name
    return str(spectrum)


def clean_spectrum(spectrum: ObservedSpectrum) -> ObservedSpectrum:
    """``spectrum`` without pixels the package cannot use, with a note saying how many.

    Refuses flux whose typical size is outside :data:`FLUX_MAGNITUDE`. Masks pixels with a
    zero, non-finite or absurd uncertainty and pixels whose absolute flux exceeds
    :data:`ABSURD_FACTOR` times the median absolute flux (a single 1e300 pixel must not
    turn every answer into NaN). When no uncertainty is usable they are dropped and
    estimated from the scatter instead. Idempotent (the notes are kept in ``meta["input_notes"]``).
    """
    if spectrum.meta.get("cleaned"):
        return spectrum
    source = spectrum.source or spectrum.name
    flux = np.asarray(spectrum.flux, dtype=np.float64)
    scale = float(np.median(np.abs(flux)))
    if not FLUX_MAGNITUDE[0] < scale < FLUX_MAGNITUDE[1]:
        raise DataError(f"flux values are of order {scale:.1e}; telescopeml works with "
                        f"{FLUX_MAGNITUDE[0]:g}-{FLUX_MAGNITUDE[1]:g} (rescale the spectrum: "
                        "a unit or scaling error?)", source)
    notes = []
    dropped = int(spectrum.meta.get("n_dropped") or 0)
    if dropped:
        notes.append(f"{dropped} of {dropped + flux.size} pixels dropped on reading (NaN or "
                     "infinite wavelength, flux or uncertainty)")
    keep = np.abs(flux) <= ABSURD_FACTOR * scale
    sigma = spectrum.uncertainty
    if sigma is not None:
        usable = np.isfinite(sigma) & (sigma > 0) & (sigma <= ABSURD_FACTOR * scale)
        if not usable[keep].any():
            sigma = None
            notes.append("every uncertainty is zero or unusable; uncertainties estimated "
                         "from the pixel-to-pixel scatter (DER_SNR)")
        else:
            keep &= usable
    n_masked = int(keep.size - keep.sum())
    if keep.sum() < 10:
        raise DataError(f"only {int(keep.sum())} usable pixels (zero or absurd uncertainties, "
                        "or flux far from the median)", source)
    if n_masked:
        notes.append(f"{n_masked} of {keep.size} pixels masked (zero, non-finite or absurd "
                     f"uncertainty, or |flux| over {ABSURD_FACTOR:g} times the median)")
    return spectrum._derive(
        wavelength=spectrum.wavelength[keep], flux=spectrum.flux[keep],
        uncertainty=None if sigma is None else sigma[keep],
        meta={**spectrum.meta, "cleaned": True,
              "input_notes": [*spectrum.meta.get("input_notes", []), *notes]})


def der_snr_noise(flux: np.ndarray) -> float:
    """Per-pixel noise estimated from the flux alone (DER_SNR, Stoehr et al. 2008)."""
    f = np.asarray(flux, dtype=np.float64)
    f = f[np.isfinite(f)]
    if f.size < 5:
        raise DataError("too few pixels to estimate the noise")
    noise = 1.482602 / math.sqrt(6.0) * np.median(np.abs(2.0 * f[2:-2] - f[:-4] - f[4:]))
    if noise <= 0:
        noise = 1e-3 * float(np.median(np.abs(f)))
    return float(noise)


def contrast(flux: np.ndarray) -> np.ndarray:
    """Ratio of the 95th to the 5th percentile of each row's flux (the 5th floored at 1e-30 of
    the row's median absolute flux: the ratio does not depend on the flux's unit or scale)."""
    flux = np.asarray(flux, dtype=np.float64)
    level = np.median(np.abs(flux), axis=1)
    low, high = np.percentile(flux, (5, 95), axis=1)
    return high / np.clip(np.abs(low), 1e-30 * level, None)
