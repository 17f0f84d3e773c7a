"""Turn spectra (flux, per-pixel sigma) into network inputs, identically in training and use."""

from __future__ import annotations

import os
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from telescopeml.data.transforms import FeatureStandardizer, Normalizer
from telescopeml.errors import DataError

SIGMA_FLOOR = 1e-6
#: Spectra encoded at a time: a block's temporaries stay in the CPU cache. NumPy releases
#: the GIL in its loops, so blocks run on :data:`ENCODE_THREADS` threads (the encoding was
#: as slow as the network itself on 2 cores; BENCHMARKS.md, prediction speed).
ENCODE_CHUNK = 1024
ENCODE_THREADS = min(2, os.cpu_count() or 1)
#: The two scalar inputs beside the spectrum: ``normalized``, the min and max of the
#: normalized spectrum; ``absolute-fnu``, the min and max of the un-normalized flux as
#: F_nu in :data:`FNU_UNIT` (TelescopeML's, Gharib-Nezhad et al. 2024).
EXTRA_FEATURES = ("normalized", "absolute-fnu")
FNU_UNIT = "erg / (s cm2 Hz)"


def fnu_factors(wavelength: np.ndarray, flux_unit: str) -> np.ndarray:
    """Per-pixel factors that turn flux in ``flux_unit`` into F_nu in :data:`FNU_UNIT`.

    astropy's ``spectral_density`` equivalency at each wavelength (µm): for an F_lambda unit
    the factor is the unit's size in erg/s/cm^2/cm times ``lambda^2 / c`` (cgs), for an F_nu
    unit a constant.
    """
    import astropy.units as u

    wavelength = np.asarray(wavelength, dtype=np.float64)
    try:
        factor = (1.0 * u.Unit(flux_unit)).to_value(
            FNU_UNIT, equivalencies=u.spectral_density(wavelength * u.um))
    except ValueError:  # unparseable, dimensionless or not a flux density
        raise DataError(f"absolute-fnu features need the grid's flux as a flux density; its "
                        f"unit is {flux_unit or 'not given'!r}") from None
    return np.broadcast_to(np.asarray(factor, dtype=np.float64), wavelength.shape).copy()


class InputEncoder:
    """Per-spectrum normalization, then per-wavelength standardization fit on training data.

    Channel 0 is the normalized flux; channel 1 (when ``uncertainty=True``) is
    log10 of the normalized per-pixel uncertainty, so the network knows how noisy each pixel
    is. ``extra`` (for the TelescopeML preset) holds two scalars per spectrum, standardized
    over the training set: see :data:`EXTRA_FEATURES`.

    Parameters
    ----------
    wavelength
        The model's wavelengths (µm); inputs must already be on this grid.
    normalizer
        Per-spectrum normalization strategy (see :mod:`telescopeml.data.transforms`).
    uncertainty
        Add the uncertainty channel.
    extra
        One of :data:`EXTRA_FEATURES`.
    flux_unit
        The flux's astropy unit; ``extra="absolute-fnu"`` needs a flux density.
    standardize
        Standardize each channel per wavelength (TelescopeML feeds its row-standardized
        spectra as they are: False).
    """

    def __init__(self, wavelength: np.ndarray, normalizer: Normalizer | None = None,
                 uncertainty: bool = True, extra: str = "normalized", flux_unit: str = "",
                 standardize: bool = True) -> None:
        if extra not in EXTRA_FEATURES:
            raise ValueError(f"extra {extra!r} is not valid; valid: {', '.join(EXTRA_FEATURES)}")
        self.wavelength = np.asarray(wavelength, dtype=np.float64)
        self.normalizer = normalizer or Normalizer.create("median")
        self.uncertainty = uncertainty
        self.extra = extra
        self.flux_unit = flux_unit
        self.standardize = standardize
        self._fnu = fnu_factors(self.wavelength, flux_unit) if extra == "absolute-fnu" else None
        self.flux_scaler = FeatureStandardizer()
        self.sigma_scaler = FeatureStandardizer()
        self.extra_scaler = FeatureStandardizer()

    @property
    def in_channels(self) -> int:
        """Number of input channels."""
        return 2 if self.uncertainty else 1

    def _features(self, flux: np.ndarray, sigma: np.ndarray | None):
        # float32 throughout: these are network inputs, and float64 numpy made the encoding
        # slower than the network itself (benchmarks/bench_inference.py).
        offset, scale = self.normalizer.scales(self.wavelength, flux)
        offset = offset.astype(np.float32)[:, None]
        scale = scale.astype(np.float32)[:, None]
        norm = (np.asarray(flux, dtype=np.float32) - offset) / scale
        if self._fnu is None:
            extra = np.stack([norm.min(axis=1), norm.max(axis=1)], axis=1)
        else:  # float64: F_nu in cgs is ~1e-7 and its factors ~1e-15
            fnu = np.asarray(flux, dtype=np.float64) * self._fnu
            extra = np.stack([fnu.min(axis=1), fnu.max(axis=1)], axis=1)
        log_sigma = None
        if self.uncertainty:
            if sigma is None:
                raise ValueError("this model needs per-pixel uncertainties")
            norm_sigma = np.abs(np.asarray(sigma, dtype=np.float32)) / scale
            log_sigma = np.log10(np.maximum(norm_sigma, np.float32(SIGMA_FLOOR)))
        return norm, log_sigma, extra

    def fit(self, flux: np.ndarray, sigma: np.ndarray | None = None) -> InputEncoder:
        """Learn per-wavelength means and spreads, and those of the extras, from training
        spectra."""
        norm, log_sigma, extra = self._features(flux, sigma)
        if self.standardize:
            self.flux_scaler.fit(norm)
            if log_sigma is not None:
                self.sigma_scaler.fit(log_sigma)
        self.extra_scaler.fit(extra)
        return self

    def encode(self, flux: np.ndarray, sigma: np.ndarray | None = None
               ) -> tuple[np.ndarray, np.ndarray]:
        """``(x, extra)``: x is ``(n, in_channels, n_wavelengths)`` float32, extra ``(n, 2)``."""
        flux = np.atleast_2d(flux)
        sigma = None if sigma is None else np.atleast_2d(sigma)
        x = np.empty((len(flux), self.in_channels, flux.shape[-1]), dtype=np.float32)
        chunks = [slice(i, i + ENCODE_CHUNK) for i in range(0, len(flux), ENCODE_CHUNK)]

        def encode_rows(rows: slice) -> np.ndarray:
            norm, log_sigma, extra = self._features(flux[rows],
                                                    None if sigma is None else sigma[rows])
            if self.standardize:
                norm = _standardize(self.flux_scaler, norm)
                if log_sigma is not None:
                    log_sigma = _standardize(self.sigma_scaler, log_sigma)
            x[rows, 0] = norm
            if log_sigma is not None:
                x[rows, 1] = log_sigma
            return extra

        if len(chunks) > 1 and ENCODE_THREADS > 1:
            with ThreadPoolExecutor(ENCODE_THREADS) as pool:
                extras = list(pool.map(encode_rows, chunks))
        else:
            extras = [encode_rows(rows) for rows in chunks]
        extra = np.concatenate(extras) if extras else np.empty((0, 2), np.float32)
        return x, _standardize(self.extra_scaler, extra)

    def to_dict(self) -> dict[str, Any]:
        """JSON-serializable state (wavelengths are stored by the bundle, not here)."""
        return {
            "normalizer": self.normalizer.to_dict(),
            "uncertainty": self.uncertainty,
            "extra": self.extra,
            "flux_unit": self.flux_unit,
            "standardize": self.standardize,
            "flux_scaler": self.flux_scaler.to_dict() if self.standardize else None,
            "sigma_scaler": (self.sigma_scaler.to_dict()
                             if self.standardize and self.uncertainty else None),
            "extra_scaler": self.extra_scaler.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], wavelength: np.ndarray) -> InputEncoder:
        """Inverse of :meth:`to_dict`; state saved before ``extra``, ``flux_unit`` and
        ``standardize`` existed reads as their defaults (the encoding of that time)."""
        encoder = cls(wavelength, Normalizer.from_dict(data["normalizer"]),
                      bool(data["uncertainty"]), str(data.get("extra", "normalized")),
                      str(data.get("flux_unit", "")), bool(data.get("standardize", True)))
        if encoder.standardize:
            encoder.flux_scaler = FeatureStandardizer.from_dict(data["flux_scaler"])
            if encoder.uncertainty:
                encoder.sigma_scaler = FeatureStandardizer.from_dict(data["sigma_scaler"])
        encoder.extra_scaler = FeatureStandardizer.from_dict(data["extra_scaler"])
        return encoder


def _standardize(scaler: FeatureStandardizer, values: np.ndarray) -> np.ndarray:
    """``scaler.transform`` in the values' precision, returned as float32."""
    if scaler.mean_ is None or scaler.std_ is None:
        return scaler.transform(values).astype(np.float32)  # raises the "not fitted" error
    mean, std = (v.astype(values.dtype, copy=False) for v in (scaler.mean_, scaler.std_))
    return ((values - mean) / std).astype(np.float32, copy=False)
