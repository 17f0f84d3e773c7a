"""Turn spectra (flux, per-pixel sigma) into network inputs, identically in training and use."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from telescopeml.data.transforms import FeatureStandardizer, Normalizer

SIGMA_FLOOR = 1e-6


class InputEncoder:
    """Per-spectrum normalization, then per-wavelength standardization fit on training data.

    Channel 0 is the normalized flux; channel 1 (when ``uncertainty=True``) is
    log10 of the normalized per-pixel uncertainty, so the network knows how noisy each pixel
    is. ``extra`` (for the TelescopeML preset) holds each spectrum's normalized min and max.

    Parameters
    ----------
    wavelength
        The model's wavelengths (µm); inputs must already be on this grid.
    normalizer
        Per-spectrum normalization strategy (see :mod:`telescopeml.data.transforms`).
    uncertainty
        Add the uncertainty channel.
    """

    def __init__(self, wavelength: np.ndarray, normalizer: Normalizer | None = None,
                 uncertainty: bool = True) -> None:
        self.wavelength = np.asarray(wavelength, dtype=np.float64)
        self.normalizer = normalizer or Normalizer.create("median")
        self.uncertainty = uncertainty
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
        extra = np.stack([norm.min(axis=1), norm.max(axis=1)], axis=1)
        log_sigma = None
        if self.uncertainty:
            if sigma is None:
                raise ValueError("this model needs per-pixel uncertainties")
            norm_sigma = np.abs(np.asarray(sigma, dtype=np.float32)) / scale
            log_sigma = np.log10(np.maximum(norm_sigma, np.float32(SIGMA_FLOOR)))
        return norm, log_sigma, extra

    def fit(self, flux: np.ndarray, sigma: np.ndarray | None = None) -> InputEncoder:
        """Learn per-wavelength means and spreads from training spectra."""
        norm, log_sigma, extra = self._features(flux, sigma)
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
        norm, log_sigma, extra = self._features(flux, sigma)
        channels = [_standardize(self.flux_scaler, norm)]
        if log_sigma is not None:
            channels.append(_standardize(self.sigma_scaler, log_sigma))
        x = np.stack(channels, axis=1)
        return x, _standardize(self.extra_scaler, extra)

    def to_dict(self) -> dict[str, Any]:
        """JSON-serializable state (wavelengths are stored by the bundle, not here)."""
        return {
            "normalizer": self.normalizer.to_dict(),
            "uncertainty": self.uncertainty,
            "flux_scaler": self.flux_scaler.to_dict(),
            "sigma_scaler": self.sigma_scaler.to_dict() if self.uncertainty else None,
            "extra_scaler": self.extra_scaler.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], wavelength: np.ndarray) -> InputEncoder:
        """Inverse of :meth:`to_dict`."""
        encoder = cls(wavelength, Normalizer.from_dict(data["normalizer"]),
                      bool(data["uncertainty"]))
        encoder.flux_scaler = FeatureStandardizer.from_dict(data["flux_scaler"])
        if encoder.uncertainty:
            encoder.sigma_scaler = FeatureStandardizer.from_dict(data["sigma_scaler"])
        encoder.extra_scaler = FeatureStandardizer.from_dict(data["extra_scaler"])
        return encoder


def _standardize(scaler: FeatureStandardizer, values: np.ndarray) -> np.ndarray:
    """``scaler.transform`` in float32."""
    if scaler.mean_ is None or scaler.std_ is None:
        return scaler.transform(values).astype(np.float32)  # raises the "not fitted" error
    return (values - scaler.mean_.astype(np.float32)) / scaler.std_.astype(np.float32)
