"""Spectral types and metallicity classes by comparison with the SpeX prism spectral standards.

The standards (splat 1.14 ``splat/initialize.py``, ``STDS_*_SPEX_KEYS``, whose spectra are
in the splat wheel):

* dwarfs M0-L9: Kirkpatrick et al. (2010), ApJS 190, 100 (with Burgasser & McElwain 2006 and
  Burgasser et al. 2008 for M); T0-T8: Burgasser et al. (2006), ApJ 637, 1067; T9: Cushing
  et al. (2011);
* subdwarfs (d/sd, sd, esd, M4-L7 and sdT6-T8): Burgasser et al. (2007), Kirkpatrick et
  al. (2010), Zhang et al. (2017), MNRAS 464, 3040, Greco et al. (2019), as splat lists them.

Following Kirkpatrick et al. (2010, Sect. 3.2), the type is read from the 0.9-1.4 µm part of
the spectrum: each standard is scaled to the spectrum (the χ² with a free flux scale), and the
type is the χ²-weighted mean of the standards' types; its uncertainty is the weighted spread
(see :func:`spectral_type`). The metallicity class compares the best dwarf standard with the
best subdwarf standard over 0.9-2.4 µm (telluric bands masked), where subdwarfs differ most
(collision-induced H2 absorption suppresses the K band), with an F-test.
"""

from __future__ import annotations

import functools
import warnings

import numpy as np

#: splat's data keys of the standards (the library file is ``<key>_<...>.fits``).
DWARF_KEYS = {
    10: 11335, 11: 11364, 12: 11181, 13: 10823, 14: 12004, 15: 10829, 16: 11182, 17: 10822,
    18: 10824, 19: 10821, 20: 10107, 21: 11072, 22: 10600, 23: 10592, 24: 10675, 25: 10351,
    26: 10375, 27: 10678, 28: 10115, 29: 10268, 30: 10771, 31: 10767, 32: 10017, 33: 10034,
    34: 10143, 35: 10021, 36: 10200, 37: 10159, 38: 10126, 39: 11536,
}
SUBDWARF_KEYS = {
    "d/sd": {14: 10523, 15: 10232, 16: 10198, 17: 10863, 18: 10040, 20: 10146, 21: 10506,
             23: 12230, 26: 11509, 27: 10552, 38: 10185},
    "sd": {12: 10223, 14: 10528, 15: 10221, 15.5: 11670, 16: 10265, 17: 10197, 18.5: 10123,
           20: 11973, 21: 10367, 25: 11240, 36: 10171, 37: 11377},
    "esd": {14: 10366, 15: 10229, 16: 10359, 17: 10521, 18.5: 10278, 20: 10188, 23: 10364,
            24: 10203},
}
#: The common wavelength grid (µm) the standards and a spectrum are compared on: SpeX prism
#: pixels are 0.0037 µm wide, its resolution element ~0.01 µm at 1.25 µm.
GRID = np.round(np.arange(0.90, 2.4001, 0.005), 4)
#: Kirkpatrick et al. (2010): the type from 0.9-1.4 µm.
TYPE_RANGE = (0.90, 1.40)
#: Telluric water bands left out of the 0.9-2.4 µm comparison.
TELLURIC = ((1.35, 1.42), (1.80, 1.95))
#: A subdwarf class is given when its best standard fits better than the best dwarf standard
#: with this F-test confidence (the two χ² ratio against the F distribution).
F_CONFIDENCE = 0.99
#: The subdwarf comparison applies where a subdwarf standard lies within this many subtypes.
SUBDWARF_REACH = 3.0
#: The smallest type uncertainty given (the standards are a subtype apart).
MIN_SPT_ERR = 0.5


def _standard_files() -> dict[int, str]:
    from telescopeml.data.library import library_index

    by_key = {}
    for entry in library_index(quiet=True):
        if entry.package == "splat":
            key = entry.data_file.split("_", 1)[0]
            if key.isdigit():
                by_key[int(key)] = entry.data_file
    return by_key


#: Version of the cached standards (:func:`standards`); raise it when they change.
CACHE_VERSION = 1


def available() -> bool:
    """Whether the standards can be had without a download: cached, or the splat wheel is."""
    from telescopeml.cache import cache_dir
    from telescopeml.data.wheels import wheel_path

    return ((cache_dir() / "library" / f"standards-v{CACHE_VERSION}.npz").is_file()
            or wheel_path("splat").is_file())


@functools.lru_cache(maxsize=1)
def standards() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Each set (``"dwarf"``, ``"d/sd"``, ``"sd"``, ``"esd"``) as ``(types, flux)``: the
    standards' types and their spectra on :data:`GRID` (each divided by its 0.9-1.4 µm peak),
    read from the splat wheel once and kept in the cache (``library/standards-vN.npz``)."""
    from telescopeml.cache import atomic_path, cache_dir

    path = cache_dir() / "library" / f"standards-v{CACHE_VERSION}.npz"
    names = ("dwarf", *SUBDWARF_KEYS)
    if path.is_file():
        try:
            with np.load(path) as data:
                return {n: (data[f"{n}_types"], data[f"{n}_flux"]) for n in names}
        except (OSError, ValueError, KeyError):
            pass  # damaged: read again below
    sets = _read_standards()
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        np.savez(handle, **{f"{n}_{part}": sets[n][i] for n in names
                            for i, part in enumerate(("types", "flux"))})
    return sets


def _read_standards() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    from telescopeml.data.spectrum import ObservedSpectrum

    files = _standard_files()
    sets: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for name, keys in {"dwarf": DWARF_KEYS, **SUBDWARF_KEYS}.items():
        types, fluxes = [], []
        for spt, key in sorted(keys.items()):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # NaN pixels of the standards, dropped
                spectrum = ObservedSpectrum.from_library(files[key])
            flux = np.interp(GRID, spectrum.wavelength, spectrum.flux)
            peak = np.nanmax(flux[(GRID >= TYPE_RANGE[0]) & (GRID <= TYPE_RANGE[1])])
            types.append(float(spt))
            fluxes.append(flux / peak)
        sets[name] = (np.asarray(types), np.asarray(fluxes))
    return sets


def scaled_chi2(flux: np.ndarray, sigma: np.ndarray, models: np.ndarray,
                mask: np.ndarray) -> np.ndarray:
    """χ² of ``flux`` against each row of ``models`` scaled by its best factor (over the
    pixels of ``mask``)."""
    f, w, m = flux[mask], sigma[mask] ** -2.0, models[:, mask]
    scale = (m * f * w).sum(axis=1) / (m * m * w).sum(axis=1)
    return ((f - scale[:, None] * m) ** 2 * w).sum(axis=1)


def type_mask(full: bool = False) -> np.ndarray:
    """The pixels of :data:`GRID` compared: 0.9-1.4 µm, or 0.9-2.4 µm without the telluric
    bands (``full``)."""
    if not full:
        return (GRID >= TYPE_RANGE[0]) & (GRID <= TYPE_RANGE[1])
    mask = np.ones(GRID.size, bool)
    for low, high in TELLURIC:
        mask &= ~((GRID >= low) & (GRID <= high))
    return mask


def spectral_type(flux: np.ndarray, sigma: np.ndarray, full: bool = False
                  ) -> tuple[float, float, np.ndarray]:
    """The type (rounded to half a subtype), its uncertainty (subtypes) and the χ² curve
    against the dwarf standards. ``flux``, ``sigma``: on :data:`GRID`.

    The χ² are put on the scale of the best fit (divided by its reduced χ², when above 1,
    so that a spectrum no standard fits well does not get a falsely sharp type); each standard
    weighs ``exp(-Δχ²/2)``; the type is the weighted mean, its uncertainty the weighted
    standard deviation (at least :data:`MIN_SPT_ERR`).
    """
    types, models = standards()["dwarf"]
    mask = type_mask(full) & np.isfinite(flux) & np.isfinite(sigma) & (sigma > 0)
    chi2 = scaled_chi2(flux, sigma, models, mask)
    reduced = max(float(chi2.min()) / max(int(mask.sum()) - 1, 1), 1.0)
    weight = np.exp(-(chi2 - chi2.min()) / (2.0 * reduced))
    mean = float(np.average(types, weights=weight))
    spread = float(np.sqrt(np.average((types - mean) ** 2, weights=weight)))
    return round(mean * 2.0) / 2.0, max(spread, MIN_SPT_ERR), chi2


def metallicity(flux: np.ndarray, sigma: np.ndarray, spt: float
                ) -> tuple[str, float | None, str]:
    """``(class, subdwarf type or None, how)``: ``"dwarf"``, ``"d/sd"``, ``"sd"``, ``"esd"``
    or ``"not applicable"`` (no subdwarf standard within :data:`SUBDWARF_REACH` subtypes).

    Over 0.9-2.4 µm, the best subdwarf standard near ``spt`` against the best dwarf standard:
    a subdwarf class when χ²_dwarf / χ²_subdwarf exceeds the F distribution's
    :data:`F_CONFIDENCE` quantile.
    """
    from scipy.special import fdtri  # scipy.stats would add ~0.5 s to every import

    sets = standards()
    mask = type_mask(full=True) & np.isfinite(flux) & np.isfinite(sigma) & (sigma > 0)
    best: tuple[float, str, float] | None = None
    for name in SUBDWARF_KEYS:
        types, models = sets[name]
        near = np.abs(types - spt) <= SUBDWARF_REACH
        if near.any():
            chi2 = scaled_chi2(flux, sigma, models[near], mask)
            i = int(np.argmin(chi2))
            if best is None or chi2[i] < best[0]:
                best = (float(chi2[i]), name, float(types[near][i]))
    if best is None:
        return "not applicable", None, (f"no subdwarf standard within {SUBDWARF_REACH:g} "
                                        "subtypes")
    dwarf = float(scaled_chi2(flux, sigma, sets["dwarf"][1], mask).min())
    dof = int(mask.sum()) - 1
    critical = float(fdtri(dof, dof, F_CONFIDENCE))
    ratio = dwarf / best[0] if best[0] > 0 else np.inf
    how = (f"chi2(dwarf)/chi2({best[1]}{format_type(best[2])}) = {ratio:.2f}, "
           f"F-test {F_CONFIDENCE:.0%} limit {critical:.2f}")
    if ratio > critical:
        return best[1], best[2], how
    return "dwarf", None, how


def format_type(spt: float) -> str:
    """``spt`` (M0 = 10, L0 = 20, T0 = 30, Y0 = 40) as a string: ``"L3.5"``, ``"T6"``;
    ``""`` for NaN."""
    if not np.isfinite(spt):
        return ""
    spt = round(float(spt) * 2.0) / 2.0
    letter = int(np.clip(spt // 10, 0, 4))
    sub = spt - 10 * letter
    text = f"{sub:.1f}".removesuffix(".0")
    return f"{'KMLTY'[letter]}{text}"
