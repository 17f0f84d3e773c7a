"""The first stage of prediction: a spectrum read, checked and cleaned once, and put on the
model's pixels.

:func:`ready` reads and cleans a spectrum and brings it to the model's flux unit and
resolution; :func:`on_model_pixels` resamples it onto the model's wavelengths; :func:`prepare`
does both and the instrument check, and returns a :class:`Prepared` spectrum that the later
stages read without checking it again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from telescopeml.data.checks import as_spectrum, clean_spectrum, der_snr_noise
from telescopeml.data.instruments import (
    describe,
    expects,
    gap_notes,
    gaps,
    instrument_mismatch,
    to_resolution,
)
from telescopeml.data.spectrum import ObservedSpectrum
from telescopeml.errors import DataError
from telescopeml.vocabulary import INSTRUMENT_FLAG

#: Minimum fraction of the model's wavelengths an observed spectrum must cover.
MIN_COVERAGE = 0.95
#: Minimum number of measured pixels inside the model's range, as a fraction of the model's
#: pixels: a spectrum sampled far more coarsely (or mostly NaN) cannot be read as one.
MIN_SAMPLING = 0.25


@dataclass(frozen=True)
class ModelPixels:
    """What a model expects of a spectrum: its wavelengths (µm), the instrument it was made
    for (:func:`~telescopeml.data.instruments.instrument_record`) and its flux unit (``""``
    for a model of normalised spectra)."""

    wavelength: np.ndarray
    instrument: dict[str, Any]
    flux_unit: str = ""


@dataclass
class Prepared:
    """A spectrum ready for the network.

    Attributes
    ----------
    spectrum
        Read, cleaned, in the model's flux unit and resolution; ``meta["input_notes"]`` says
        what was done.
    flux, sigma
        On the model's wavelengths (unusable pixels filled, with a 10x larger uncertainty).
    good
        The model pixels that were measured (the grid's likelihood reads only these).
    flags
        Checks that failed without stopping the prediction (another instrument).
    """

    spectrum: ObservedSpectrum
    flux: np.ndarray
    sigma: np.ndarray
    good: np.ndarray
    flags: list[str] = field(default_factory=list)


def ready(spectrum: ObservedSpectrum | str | Path | Any, model: ModelPixels,
          smooth: bool = True) -> ObservedSpectrum:
    """``spectrum`` read, cleaned (:func:`~telescopeml.data.checks.clean_spectrum`) and in
    the model's flux unit and resolution, what was done said in ``meta["input_notes"]``.

    The flux is converted pixel by pixel (astropy's ``spectral_density``) when it has a flux
    unit, and taken to be in the model's unit, with a note, when it has none. With ``smooth``
    a spectrum clearly sharper than the model is convolved to its resolution, uncertainties
    unchanged (:func:`~telescopeml.data.instruments.to_resolution` says why). Gaps of the
    spectrum inside the model's wavelengths get a note (:func:`on_model_pixels` masks them).
    Idempotent.
    """
    return _ready(spectrum, model, smooth)[0]


def _ready(spectrum: ObservedSpectrum | str | Path | Any, model: ModelPixels, smooth: bool
           ) -> tuple[ObservedSpectrum, list[tuple[float, float]]]:
    """:func:`ready`, and the spectrum's gaps (:func:`~telescopeml.data.instruments.gaps`)."""
    spectrum = clean_spectrum(as_spectrum(spectrum))
    notes = list(spectrum.meta.get("input_notes", []))
    if model.flux_unit and spectrum.flux_calibrated:
        spectrum = spectrum.in_flux_unit(model.flux_unit)
    elif model.flux_unit:
        notes.append(f"no flux unit: the flux is taken to be a flux density per wavelength "
                     f"(F_lambda, as the model's {model.flux_unit}); give the unit of F_nu "
                     "data (e.g. Jy), or the spectrum's shape is misread")
    if smooth:
        spectrum, note = to_resolution(spectrum, model.instrument, model.wavelength)
        notes += [note] if note else []
    spans = gaps(spectrum.wavelength)
    notes += gap_notes(spans, model.wavelength)
    notes = list(dict.fromkeys(notes))  # ready() twice adds nothing
    return spectrum._derive(meta={**spectrum.meta, "input_notes": notes}), spans


def on_model_pixels(spectrum: ObservedSpectrum, model: ModelPixels,
                    spans: list[tuple[float, float]] | None = None
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Flux, uncertainty and measured pixels of a :func:`ready` spectrum on the model's
    wavelengths.

    Checks coverage (the refusal names the spectrum's instrument and the model's), resamples
    flux-conservingly (uncertainties propagated), and estimates a constant uncertainty
    (DER_SNR, Stoehr et al. 2008) when none is given. Model pixels just beyond the observed
    edges, or inside a gap of the spectrum (:func:`~telescopeml.data.instruments.gaps`, which
    the resampling would bridge; ``spans``, when already known), take the nearest usable
    value with a 10x larger uncertainty.
    """
    wavelength = model.wavelength
    covered = spectrum.coverage(wavelength)
    if covered < MIN_COVERAGE:
        raise DataError(
            f"the spectrum covers {covered:.0%} of the model's wavelengths, at least "
            f"{MIN_COVERAGE:.0%} is needed: this is {describe(spectrum.wavelength)}; "
            f"{expects(model.instrument)}",
            spectrum.source or spectrum.name,
        )
    measured = int(np.count_nonzero((spectrum.wavelength >= wavelength[0])
                                    & (spectrum.wavelength <= wavelength[-1])))
    if measured < MIN_SAMPLING * wavelength.size:
        raise DataError(f"only {measured} measured pixels inside the model's "
                        f"{wavelength[0]:.2f}-{wavelength[-1]:.2f} µm, which has "
                        f"{wavelength.size}: too sparse to read (at least "
                        f"{MIN_SAMPLING:.0%} as many are needed)", spectrum.source or spectrum.name)
    if spectrum.uncertainty is None:
        noise = der_snr_noise(spectrum.flux)
        spectrum = spectrum._derive(uncertainty=np.full_like(spectrum.flux, noise))
    resampled = spectrum.resample(wavelength, fill=np.nan)
    flux, sigma = resampled.flux.copy(), resampled.uncertainty.copy()
    bad = ~np.isfinite(flux) | ~np.isfinite(sigma) | (sigma <= 0)
    for low, high in gaps(spectrum.wavelength) if spans is None else spans:
        bad |= (wavelength > low) & (wavelength < high)
    if bad.all():
        raise DataError("no usable pixel on the model's wavelengths",
                        spectrum.source or spectrum.name)
    if bad.any():
        good = np.flatnonzero(~bad)
        nearest = good[np.abs(good[None, :] - np.flatnonzero(bad)[:, None]).argmin(axis=1)]
        flux[bad] = flux[nearest]
        sigma[bad] = 10 * np.nanmax(np.abs(sigma[good]))
    return flux, sigma, ~bad


def instrument_flags(spectrum: ObservedSpectrum, model: ModelPixels) -> list[str]:
    """A flag when ``spectrum`` is not from the instrument the model was made for
    (:func:`~telescopeml.data.instruments.instrument_mismatch`: both are named)."""
    problem = instrument_mismatch(spectrum.wavelength, model.instrument, model.wavelength)
    return [f"{INSTRUMENT_FLAG} {problem}"] if problem else []


def prepare(spectrum: ObservedSpectrum | str | Path | Any, model: ModelPixels,
            smooth: bool = True) -> Prepared:
    """The :class:`Prepared` spectrum: :func:`ready`, :func:`on_model_pixels` and
    :func:`instrument_flags`, each once."""
    spectrum, spans = _ready(spectrum, model, smooth)
    flux, sigma, good = on_model_pixels(spectrum, model, spans)
    return Prepared(spectrum, flux, sigma, good, instrument_flags(spectrum, model))
