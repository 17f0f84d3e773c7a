"""What astronomers read first from a low-resolution near-infrared spectrum: its spectral
type, gravity class, metallicity class and whether it may be a spectral binary.

Published methods, each named in the answer (:class:`Classification`): the type by
comparison with the SpeX prism spectral standards (Kirkpatrick et al. 2010 for M/L,
Burgasser et al. 2006 for T; :mod:`.standards`), checked against the index-based type
(Burgasser 2007; Allers & Liu 2013); the gravity class of Allers & Liu (2013); a metallicity
class from the subdwarf standards; the spectral-binary selections of Burgasser et al. (2010)
and Bardalez Gagliuffi et al. (2014) (:mod:`.indices`). They are defined for SpeX prism
spectra (R ≈ 75-250, 0.9-2.4 µm): a spectrum that does not cover 0.9-2.4 µm, or is much
coarser, is refused with the reason; a sharper one (JWST NIRSpec gratings, SpeX SXD, FIRE) is
smoothed to the SpeX prism's R ≈ 120 first; a JWST PRISM spectrum is read on its 0.9-2.4 µm
part.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from telescopeml.data.classification.indices import (
    GRAVITY_RANGE,
    binary_candidate,
    gravity_class,
    gravity_scores,
    index_type,
    measure_indices,
)
from telescopeml.data.classification.standards import (
    GRID,
    TELLURIC,
    format_type,
    metallicity,
    spectral_type,
)
from telescopeml.data.classification.standards import available as standards_available
from telescopeml.errors import DataError, TelescopeMLError

if TYPE_CHECKING:
    from telescopeml.data.spectrum import ObservedSpectrum

#: The wavelengths (µm) a spectrum must cover (within :data:`COVERAGE_SLACK`).
COVERAGE = (0.90, 2.40)
COVERAGE_SLACK = 0.02
#: SpeX prism: the R of its pixels (λ / 2Δλ) in the library is ~228; the resolving power
#: of most library spectra (0.5" slit) ~120 (Rayner et al. 2003).
SPEX_PIXEL_R, SPEX_R = 228.0, 120.0
#: A spectrum whose pixels are this many times sharper than SpeX's is smoothed to SPEX_R;
#: this many times coarser, refused.
SHARPER, COARSER = 1.5, 2.5
#: Relative uncertainty assumed when a spectrum has none (every pixel weighs the same).
DEFAULT_RELATIVE_ERROR = 0.05

METHODS = {
    "spt": "chi2 against the SpeX spectral standards, 0.9-1.4 um (Kirkpatrick et al. 2010; "
           "Burgasser et al. 2006)",
    "spt_index": "index types (Burgasser 2007; Allers & Liu 2013)",
    "gravity": "Allers & Liu (2013) indices FeH_z, VO_z, KI_J, H-cont",
    "metallicity": "chi2 against the SpeX dwarf and subdwarf standards, 0.9-2.4 um, F-test",
}
#: The indices listed in tables, in this order.
TABLE_INDICES = ("H2O-J", "CH4-J", "H2O-H", "CH4-H", "H2O-K", "CH4-K", "K/J", "H-dip",
                 "FeH_z", "VO_z", "KI_J", "H-cont")


@dataclass
class Classification:
    """The classification of one spectrum. Empty strings and NaN where it was refused or a
    method does not apply; ``refused`` says why the spectrum was not classified at all."""

    name: str = ""
    file: str = ""
    spt: str = ""
    spt_number: float = float("nan")
    spt_err: float = float("nan")
    spt_index: str = ""
    gravity_class: str = ""
    gravity_scores: dict[str, float] = field(default_factory=dict)
    metallicity_class: str = ""
    binary_candidate: str = ""
    indices: dict[str, float] = field(default_factory=dict)
    methods: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    literature_spt: str = ""
    refused: str = ""

    def summary(self) -> str:
        """One line: ``name: L3.5 ±0.5, FLD-G, dwarf, binary: no``."""
        who = self.name or self.file or "spectrum"
        if self.refused:
            return f"{who}: not classified: {self.refused}"
        lit = f" (literature {self.literature_spt})" if self.literature_spt else ""
        index = f", index type {self.spt_index}" if self.spt_index else ""
        return (f"{who}: {self.spt} ±{self.spt_err:g}{lit}{index}; gravity "
                f"{self.gravity_class}; metallicity {self.metallicity_class}; spectral "
                f"binary: {self.binary_candidate}"
                + "".join(f"\n  note: {n}" for n in self.notes))

    def brief(self) -> str:
        """The classes in a few words, each with its method (a prediction's summary line)."""
        if self.refused:
            return f"none ({self.refused})"
        return (f"{self.spt} ±{self.spt_err:g} (SpeX standards), gravity "
                f"{self.gravity_class} (Allers & Liu 2013), metallicity "
                f"{self.metallicity_class} (subdwarf standards), spectral binary "
                f"{self.binary_candidate} ({self.methods.get('binary', '').split(':')[0]})")

    def row(self) -> dict[str, Any]:
        """The table row: name, file, the classes, the Allers & Liu (2013) score of each
        gravity index, the binary criteria met, the indices and the literature type."""
        row: dict[str, Any] = {
            "name": self.name, "file": self.file, "spt": self.spt,
            "spt_err": self.spt_err, "spt_index": self.spt_index,
            "gravity_class": self.gravity_class, "metallicity_class": self.metallicity_class,
            "binary_candidate": self.binary_candidate,
            "gravity_scores": ", ".join(f"{k} {v:g}" for k, v in self.gravity_scores.items()
                                        if np.isfinite(v)),
            "binary_criteria": self.methods.get("binary", ""),
        }
        for name in TABLE_INDICES:
            row[f"index_{name}"] = self.indices.get(name, float("nan"))
        row["literature_spt"] = self.literature_spt
        row["refused"] = self.refused
        row["note"] = "; ".join(self.notes)
        return row


def parse_type(text: str) -> float:
    """A spectral type string as a number (M0 = 10, L0 = 20, T0 = 30): ``"sdL4.5 pec"`` ->
    24.5, ``"M9+T5"`` -> 19; NaN when there is none."""
    match = re.search(r"([KMLTY])\s*(\d+(?:\.\d+)?)", text or "")
    if not match:
        return float("nan")
    return 10.0 * "KMLTY".index(match.group(1)) + float(match.group(2))


def _refused(reason: str, **known: Any) -> Classification:
    return Classification(refused=reason, methods=dict(METHODS), **known)


def prepare(wavelength: np.ndarray, flux: np.ndarray, uncertainty: np.ndarray | None
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """The spectrum's 0.85-2.45 µm part at SpeX prism resolution, with its uncertainty, and
    notes on what was done. Raises ValueError with the reason it cannot be classified."""
    w = np.asarray(wavelength, dtype=np.float64)
    f = np.asarray(flux, dtype=np.float64)
    s = (np.full_like(f, np.nan) if uncertainty is None
         else np.asarray(uncertainty, dtype=np.float64))
    good = np.isfinite(w) & np.isfinite(f)
    w, f, s = w[good], f[good], s[good]
    order = np.argsort(w)
    w, f, s = w[order], f[order], s[order]
    low, high = COVERAGE
    if w.size < 10 or w[0] > low + COVERAGE_SLACK or w[-1] < high - COVERAGE_SLACK:
        span = f"{w[0]:.2f}-{w[-1]:.2f} µm" if w.size else "no pixels"
        raise ValueError(f"covers {span}; the spectral standards and the published indices "
                         f"need {low:g}-{high:g} µm")
    keep = (w >= 0.85) & (w <= 2.45)
    w, f, s = w[keep], f[keep], s[keep]
    from telescopeml.data.instruments import INSTRUMENTS, gaps, identify, resolving_power

    notes = []
    if identify(np.asarray(wavelength, dtype=np.float64)[good]) is INSTRUMENTS[
            "JWST-NIRSPEC-PRISM"]:
        notes.append("JWST NIRSpec PRISM: read on its 0.9-2.4 µm part, where its R (≈30-100) "
                     "is below the SpeX prism's: the narrow gravity indices are less sure")
    r = resolving_power(w)
    if r < SPEX_PIXEL_R / COARSER:
        raise ValueError(f"its pixels give R ≈ {r:.0f}, too coarse for the SpeX prism "
                         f"standards and indices (R ≈ {SPEX_R:g}, pixels ≈ {SPEX_PIXEL_R:g})")
    for start, end in gaps(w):
        telluric = any(start >= a - 0.03 and end <= b + 0.03 for a, b in TELLURIC)
        if start < high - COVERAGE_SLACK and end > low + COVERAGE_SLACK and not telluric:
            raise ValueError(f"has a gap at {start:.2f}-{end:.2f} µm inside "
                             f"{low:g}-{high:g} µm")
    if r > SPEX_PIXEL_R * SHARPER:
        from telescopeml.data.resample import smooth_to_resolution

        f = smooth_to_resolution(w, f, SPEX_R)
        notes.append(f"smoothed from R ≈ {r:.0f} (pixels) to the SpeX prism's R ≈ {SPEX_R:g}")
    if not np.any(np.isfinite(s) & (s > 0)):
        s = np.full_like(f, DEFAULT_RELATIVE_ERROR * float(np.median(np.abs(f))))
        notes.append("no uncertainties: every pixel weighs the same")
    return w, f, s, notes


def classify_spectrum(wavelength: np.ndarray, flux: np.ndarray,
                      uncertainty: np.ndarray | None = None, *, name: str = "",
                      file: str = "", literature_spt: str = "") -> Classification:
    """Classify one spectrum (wavelength in µm, F_λ in any unit, 1σ uncertainty or None).

    Returns a :class:`Classification`; one with ``refused`` set when the spectrum does not
    cover 0.9-2.4 µm or is far coarser than the SpeX prism.
    """
    known = {"name": name, "file": file, "literature_spt": literature_spt}
    try:
        w, f, s, notes = prepare(wavelength, flux, uncertainty)
    except ValueError as exc:
        return _refused(str(exc), **known)
    level = float(np.median(np.abs(f)))
    if not level > 0:
        return _refused("the flux is zero", **known)
    f, s = f / level, s / level
    on_grid = np.interp(GRID, w, f)
    sigma = np.interp(GRID, w, np.where(np.isfinite(s) & (s > 0), s, np.inf))
    spt, spt_err, _ = spectral_type(on_grid, sigma)
    indices = measure_indices(w, f)
    index_spt, _ = index_type(indices, near=spt)
    result = Classification(spt=format_type(spt), spt_number=spt, spt_err=spt_err,
                            spt_index=format_type(index_spt), indices=indices,
                            methods=dict(METHODS), notes=notes, **known)
    # Allers & Liu (2013) read the scores at the index-based type where theirs applies
    row = index_spt if np.isfinite(index_spt) and index_spt <= 28 else spt
    if GRAVITY_RANGE[0] <= spt <= GRAVITY_RANGE[1]:
        scores = gravity_scores(indices, row)
        result.gravity_class, median = gravity_class(scores)
        result.gravity_scores = scores
        decided = ", ".join(f"{k} {indices[k]:.3f} -> {v:g}" for k, v in scores.items()
                            if np.isfinite(v))
        result.methods["gravity"] += f": {decided}; median score {median:g}"
        if not result.gravity_class:
            result.gravity_class = "not applicable"
    else:
        result.gravity_class = "not applicable"
        result.methods["gravity"] += " (defined for M5-L7 only)"
    result.metallicity_class, sub_spt, how = metallicity(on_grid, sigma, spt)
    result.methods["metallicity"] += f": {how}"
    if sub_spt is not None:
        prefix = result.metallicity_class
        result.notes.append(f"the type is that of the best {prefix} standard; against the "
                            f"dwarf standards it reads {result.spt}")
        result.spt, result.spt_number = f"{prefix}{format_type(sub_spt)}", sub_spt
    result.binary_candidate, how = binary_candidate(indices, spt)
    result.methods["binary"] = how
    return result


def classify_observed(spectrum: ObservedSpectrum) -> Classification:
    """:func:`classify_spectrum` of an :class:`~telescopeml.data.spectrum.ObservedSpectrum`
    (what a prediction shows). It never downloads: without the splat wheel or the cached
    standards, the answer is refused with the reason."""
    known = {"name": spectrum.name, "literature_spt": str(spectrum.meta.get(
        "spectral_type", "") or "")}
    try:
        prepare(spectrum.wavelength, spectrum.flux, spectrum.uncertainty)
    except ValueError as exc:
        return _refused(str(exc), **known)
    if not standards_available():
        return _refused("the SpeX standards are not in the cache (`telescopeml classify` "
                        "fetches the splat wheel once)", **known)
    try:
        return classify_spectrum(spectrum.wavelength, spectrum.flux, spectrum.uncertainty,
                                 **known)
    except (TelescopeMLError, OSError, ValueError) as exc:  # the standards unreadable...
        return _refused(f"the classification failed ({exc})", **known)


def classify(spectra: Any | Sequence[Any] = (), *, library: bool = False,
             spectral_type: str | None = None) -> tuple[list[Classification],
                                                         list[tuple[str, str]]]:
    """Classify spectrum files, library names or spectra as ``telescopeml classify`` does.

    ``spectra``: one input or a list (files, library names such as
    ``"2MASS J15031961+2525196"`` or ``"10021_11106.fits"``,
    :class:`~telescopeml.data.spectrum.ObservedSpectrum` objects); ``library``: add every
    SpeX prism spectrum of the library (``spectral_type``: of this class or type prefix).
    Returns the classifications and the inputs that could not be read, as ``(input,
    error)``.
    """
    from telescopeml.data.checks import as_spectrum

    inputs = list(spectra) if isinstance(spectra, list | tuple) else [spectra]
    if library:
        from telescopeml.data.library import is_type, library_index

        inputs += [e.data_file for e in library_index(quiet=True)
                   if e.instrument == "SPEX-PRISM"
                   and (not spectral_type or is_type(e.spectral_type, spectral_type))]
    if not inputs:
        raise DataError("give spectrum files or library names, or the library (--library)")
    done, failed = [], []
    for item in inputs:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                spectrum = as_spectrum(item)
        except DataError as exc:
            failed.append((str(item), str(exc)))
            continue
        meta = spectrum.meta
        source = meta.get("library_file") or str(meta.get("path", "")) or (
            str(item) if isinstance(item, str | Path) else "")
        done.append(classify_spectrum(
            spectrum.wavelength, spectrum.flux, spectrum.uncertainty, name=spectrum.name,
            file=source, literature_spt=str(meta.get("spectral_type", "") or "")))
    return done, failed


__all__ = ["COVERAGE", "METHODS", "Classification", "classify", "classify_observed",
           "classify_spectrum", "format_type", "parse_type", "prepare"]
