"""Known spectrographs: which one a spectrum comes from, its resolving power, its gaps.

Wavelength ranges and resolving powers R = λ/Δλ (Δλ the FWHM of a resolution element):
SpeX prism from Rayner et al. (2003), PASP 115, 362 (0.8-2.5 µm, R ≈ 250 with the 0.3"
slit, ≈ 120 with the 0.5" slit of most library spectra; the splat and ucdmcmc SpeX pixels
reach 0.65-2.56 µm) and SpeX SXD from the same paper (0.8-2.4 µm, R ≈ 2000 with the 0.3"
slit, ≈ 750 with the 0.8"); JWST from the JWST User Documentation (JDox), "NIRSpec Dispersers and
Filters" (PRISM/CLEAR 0.6-5.3 µm, R ≈ 30-300; the M gratings R ≈ 1000, the H gratings
R ≈ 2700; G395H/F290LP nominally 2.87-5.14 µm, with NRS2 data to 5.27 µm) and "MIRI Low
Resolution Spectroscopy" (5-12 µm, R ≈ 40 at 5 µm to ≈ 160 at 10 µm). The combined
NIRSpec PRISM + MIRI LRS spectra are ucdmcmc's ``JWST-NIRSPEC-MIRI``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from telescopeml.data.resample import smooth_to_resolution
from telescopeml.data.spectrum import ObservedSpectrum


@dataclass(frozen=True)
class Instrument:
    """A spectrograph mode: its name, wavelength range (µm) and resolving power."""

    key: str
    name: str
    wavelength_range: tuple[float, float]
    #: Typical R, and the range R takes over the wavelengths (or slits).
    resolving_power: float
    resolving_range: tuple[float, float]


INSTRUMENTS: dict[str, Instrument] = {i.key: i for i in (
    Instrument("SPEX-PRISM", "SpeX prism", (0.65, 2.56), 120, (75, 250)),
    Instrument("SPEX-SXD", "SpeX SXD", (0.8, 2.42), 2000, (750, 2000)),
    Instrument("JWST-NIRSPEC-PRISM", "JWST NIRSpec PRISM", (0.6, 5.3), 100, (30, 300)),
    Instrument("JWST-NIRSPEC-G140M", "JWST NIRSpec G140M", (0.97, 1.89), 1000, (500, 1500)),
    Instrument("JWST-NIRSPEC-G235M", "JWST NIRSpec G235M", (1.66, 3.07), 1000, (500, 1500)),
    Instrument("JWST-NIRSPEC-G395M", "JWST NIRSpec G395M", (2.87, 5.10), 1000, (500, 1500)),
    Instrument("JWST-NIRSPEC-G140H", "JWST NIRSpec G140H", (0.97, 1.89), 2700, (1300, 3600)),
    Instrument("JWST-NIRSPEC-G235H", "JWST NIRSpec G235H", (1.66, 3.05), 2700, (1300, 3600)),
    Instrument("JWST-NIRSPEC-G395H", "JWST NIRSpec G395H", (2.87, 5.27), 2700, (1300, 3600)),
    Instrument("JWST-MIRI-LRS", "JWST MIRI LRS", (5.0, 12.0), 100, (40, 160)),
    Instrument("JWST-NIRSPEC-MIRI", "JWST NIRSpec PRISM + MIRI LRS", (0.6, 12.0), 100,
               (30, 300)),
)}

#: Least overlap (intersection over union of the wavelength ranges) for a spectrum to be
#: taken as coming from an instrument.
MIN_OVERLAP = 0.7
#: How far (factor) a spectrum's R, estimated from its pixels, may lie outside an instrument's
#: range of R: pixels sample a resolution element unevenly (2-4 pixels), so the estimate is rough.
R_TOLERANCE = 3.0
#: Weight of the R mismatch (the absolute log of R_pixels / R_typical) against the overlap
#: when ranking.
R_WEIGHT = 0.1
#: A spacing this many times the median of its neighbours' is a gap in the spectrum.
GAP_FACTOR = 5.0
#: Neighbouring spacings on each side that the gap test compares with.
GAP_WINDOW = 5
#: A spectrum is smoothed when its R is this many times the model's.
SHARPER = 1.5
#: How much finer or coarser than the model's pixels a spectrum may be sampled, and how far
#: (µm) past the model's wavelengths it may reach, before it is taken for another instrument's.
SAMPLING_FINER, SAMPLING_COARSER = 4.0, 3.0
REACH_BLUE_UM, REACH_RED_UM = 0.4, 0.5
#: How far (µm) a model's wavelengths may reach past an instrument's range and still be read
#: from its spectra (:func:`reads`): the ranges above are nominal.
RANGE_SLACK_UM = 0.05


def resolving_power(wavelength: np.ndarray) -> float:
    """Median R of ``wavelength`` (µm, increasing) from its pixel spacing, λ / (2 Δλ):
    Nyquist sampling, two pixels per resolution element (an upper bound when a resolution
    element spans more pixels)."""
    w = np.asarray(wavelength, dtype=np.float64)
    return float(np.median(w[1:] / (2 * np.diff(w))))


def identify(wavelength: np.ndarray) -> Instrument | None:
    """The known instrument whose wavelength range best matches the spectrum's coverage
    (overlap at least :data:`MIN_OVERLAP`) and whose R fits its pixel spacing (within
    :data:`R_TOLERANCE`); None when none does."""
    w = np.asarray(wavelength, dtype=np.float64)
    low, high = w[0], w[-1]
    r = resolving_power(w)
    best, best_score = None, -np.inf
    for instrument in INSTRUMENTS.values():
        lo, hi = instrument.wavelength_range
        overlap = max(0.0, min(high, hi) - max(low, lo)) / (max(high, hi) - min(low, lo))
        r_lo, r_hi = instrument.resolving_range
        if overlap < MIN_OVERLAP or not r_lo / R_TOLERANCE <= r <= r_hi * R_TOLERANCE:
            continue
        score = overlap - R_WEIGHT * abs(np.log(r / instrument.resolving_power))
        if score > best_score:
            best, best_score = instrument, score
    return best


def describe(wavelength: np.ndarray) -> str:
    """The spectrum in words: ``"a JWST NIRSpec G395H spectrum, 2.88-5.20 µm, R≈2700"``;
    an unknown one by its range and the R of its pixels."""
    w = np.asarray(wavelength, dtype=np.float64)
    span = f"{w[0]:.2f}-{w[-1]:.2f} µm"
    instrument = identify(w)
    if instrument is None:
        return f"a spectrum of {span}, R≈{_rounded(resolving_power(w))} (from its pixels)"
    return f"a {instrument.name} spectrum, {span}, R≈{_rounded(instrument.resolving_power)}"


def expects(record: dict[str, Any]) -> str:
    """What a model takes, from its instrument record (:func:`instrument_record`):
    ``"the model expects SpeX prism, 0.90-2.40 µm, R≈120"``."""
    low, high = record["wavelength_range"]
    name = f"{record['name']}, " if record["name"] else ""
    return (f"the model expects {name}{low:.2f}-{high:.2f} µm, "
            f"R≈{_rounded(record['resolving_power'])}")


def instrument_record(key: str, wavelength: np.ndarray) -> dict[str, Any]:
    """What a bundle's manifest records of the instrument it was trained for (its
    ``"instrument"`` section): ``key`` (e.g. ``SPEX-PRISM``, ``""`` when unknown), human
    ``name``, ``wavelength_range`` of the model's pixels (µm) and ``resolving_power``
    (the instrument's typical R, else estimated from the pixels)."""
    w = np.asarray(wavelength, dtype=np.float64)
    instrument = INSTRUMENTS.get(key)
    return {"key": key, "name": instrument.name if instrument else key,
            "wavelength_range": [float(w[0]), float(w[-1])],
            "resolving_power": float(instrument.resolving_power if instrument
                                     else round(resolving_power(w)))}


def manifest_instrument(manifest: dict[str, Any]) -> dict[str, Any]:
    """A bundle's instrument record: its ``"instrument"`` section, or, for bundles written
    before there was one, derived from ``grid.instrument`` and the model's wavelengths."""
    if "instrument" in manifest:
        return dict(manifest["instrument"])
    key = (manifest.get("grid") or {}).get("instrument") or ""
    return instrument_record(key, manifest["wavelength"])


def reads(instrument: Instrument, record: dict[str, Any], model_wavelength: np.ndarray) -> bool:
    """Whether a model (its instrument ``record`` and pixels, µm) is made to read spectra
    from ``instrument``: its own, or one at least as sharp (smoothed to the model's R) whose
    range holds all of the model's wavelengths (within :data:`RANGE_SLACK_UM`), as the
    2.9-5.15 µm model at PRISM resolution reads NIRSpec G395H and G395M spectra."""
    if instrument.key == record.get("key"):
        return True
    w = np.asarray(model_wavelength, dtype=np.float64)
    low, high = instrument.wavelength_range
    return (instrument.resolving_power >= float(record["resolving_power"])
            and low - RANGE_SLACK_UM <= w[0] and w[-1] <= high + RANGE_SLACK_UM)


def instrument_mismatch(wavelength: np.ndarray, record: dict[str, Any],
             model_wavelength: np.ndarray) -> str:
    """Why a spectrum looks like another instrument's than the model's, naming both
    (``""`` when it does not): a different known instrument that the model does not
    :func:`read <reads>`, pixels far finer or coarser than the model's (not counted for an
    instrument it reads: smoothing brings those to its resolution), or wavelengths reaching
    far past the model's."""
    obs = np.asarray(wavelength, dtype=np.float64)
    w = np.asarray(model_wavelength, dtype=np.float64)
    seen = identify(obs)
    readable = seen is not None and reads(seen, record, w)
    other = (seen is not None and record.get("key") in INSTRUMENTS
             and seen.key != record["key"] and not readable)
    why = []
    inside = obs[(obs >= w[0]) & (obs <= w[-1])]
    if inside.size > 2 and not readable:
        ratio = np.median(np.diff(w) / w[1:]) / np.median(np.diff(inside) / inside[1:])
        if ratio > SAMPLING_FINER or ratio < 1 / SAMPLING_COARSER:
            why.append(f"sampled {max(ratio, 1 / ratio):.1f}x "
                       f"{'finer' if ratio > 1 else 'coarser'} than the model's pixels")
    if obs[0] < w[0] - REACH_BLUE_UM or obs[-1] > w[-1] + REACH_RED_UM:
        why.append(f"only {max(obs[0], w[0]):.2f}-{min(obs[-1], w[-1]):.2f} µm was used")
    if not (other or why):
        return ""
    return f"this is {describe(obs)}; {expects(record)}" + (f" ({'; '.join(why)})" if why else "")


def gaps(wavelength: np.ndarray) -> list[tuple[float, float]]:
    """``(last pixel before, first pixel after)`` of each gap in the spectrum (µm): a
    spacing over :data:`GAP_FACTOR` times the median of its :data:`GAP_WINDOW` neighbours
    on each side (detector gaps, masked bands, runs of NaN pixels dropped on reading)."""
    w = np.asarray(wavelength, dtype=np.float64)
    step = np.diff(w)
    if step.size < 3:
        return []
    # a running median (as scipy.ndimage.median_filter, mode "nearest"), in NumPy: importing
    # scipy.ndimage would take a third of a second of every `telescopeml predict`
    padded = np.pad(step, GAP_WINDOW, mode="edge")
    typical = np.median(np.lib.stride_tricks.sliding_window_view(padded, 2 * GAP_WINDOW + 1),
                        axis=1)
    return [(float(w[i]), float(w[i + 1]))
            for i in np.flatnonzero(step > GAP_FACTOR * typical)]


def smoothing_resolution(wavelength: np.ndarray, record: dict[str, Any],
                         model_wavelength: np.ndarray) -> float | None:
    """R of the Gaussian kernel that brings a spectrum to the model's resolution; None
    when the spectrum is not sharper than the model by :data:`SHARPER`.

    The two are compared as the same kind of number: the instruments' typical R when both
    are known, else the R of their pixels. The kernel adds in quadrature to the spectrum's
    own resolution (its instrument's typical R, else that of its pixels):
    1/R_kernel² = 1/R_model² - 1/R_spectrum².

    Parameters
    ----------
    wavelength
        The spectrum's pixels (µm).
    record
        The model's instrument record (:func:`manifest_instrument`).
    model_wavelength
        The model's pixels (µm).
    """
    seen = identify(wavelength)
    target = float(record["resolving_power"])
    resolution = seen.resolving_power if seen else resolving_power(wavelength)
    if seen is not None and record.get("key") in INSTRUMENTS:
        sharper = resolution / target
    else:
        sharper = resolving_power(wavelength) / resolving_power(model_wavelength)
    if sharper < SHARPER or resolution <= target:
        return None
    return float(1.0 / np.sqrt(1.0 / target**2 - 1.0 / resolution**2))


def smooth_segments(wavelength: np.ndarray, values: np.ndarray,
                    resolution: float) -> np.ndarray:
    """``values`` convolved with a Gaussian of FWHM λ / ``resolution``
    (:func:`~telescopeml.data.resample.smooth_to_resolution`), each stretch between
    :func:`gaps` apart: nothing is smeared across a gap."""
    w = np.asarray(wavelength, dtype=np.float64)
    out = np.asarray(values, dtype=np.float64).copy()
    cuts = np.searchsorted(w, [high for _, high in gaps(w)])
    for part in np.split(np.arange(w.size), cuts):
        if part.size > 2:
            out[part] = smooth_to_resolution(w[part], out[part], resolution)
    return out


def to_resolution(spectrum: ObservedSpectrum, record: dict[str, Any],
                  model_wavelength: np.ndarray) -> tuple[ObservedSpectrum, str]:
    """``spectrum`` at the model's resolution, and a note saying so (``""`` and the
    spectrum itself when it is not clearly sharper: :func:`smoothing_resolution`).

    The flux is convolved stretch by stretch between gaps (:func:`smooth_segments`);
    ``meta["smoothed_to"]`` records the R reached, and a smoothed spectrum is not smoothed
    again. The uncertainties are left as they are: the resampling onto the model's coarser
    pixels that follows propagates them, which counts the averaging over a resolution
    element once (propagating them through the smoothing as well would count it twice,
    since smoothed pixels are no longer independent).
    """
    if "smoothed_to" in spectrum.meta:
        return spectrum, ""
    kernel = smoothing_resolution(spectrum.wavelength, record, model_wavelength)
    if kernel is None:
        return spectrum, ""
    target = float(record["resolving_power"])
    smoothed = spectrum._derive(flux=smooth_segments(spectrum.wavelength, spectrum.flux, kernel),
                                meta={**spectrum.meta, "smoothed_to": target})
    return smoothed, (f"smoothed from {describe(spectrum.wavelength)} to the model's "
                      f"R≈{_rounded(target)} (smooth=False or --no-smooth keeps it as it is)")


def gap_notes(spans: list[tuple[float, float]], model_wavelength: np.ndarray) -> list[str]:
    """A note for each gap of a spectrum (``spans``: :func:`gaps`) with model pixels in it."""
    w = np.asarray(model_wavelength, dtype=np.float64)
    return [f"masked {max(low, w[0]):.2f}-{min(high, w[-1]):.2f} µm: a gap in the spectrum "
            "(no data)" for low, high in spans if np.any((w > low) & (w < high))]


def _rounded(r: float) -> str:
    """R to two significant figures (``3029`` -> ``"3000"``)."""
    return f"{float(f'{r:.2g}'):g}"
