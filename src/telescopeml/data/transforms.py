"""Flux normalizers and feature/target scalers, each serializable to JSON.

A :class:`Normalizer` rescales every spectrum on its own (``max``, ``median``, ``zscore``...)
and returns the per-spectrum factor, so that the absolute flux scale can be recovered.
:class:`FeatureStandardizer` and :class:`ParameterScaler` are fitted on training data only
and then applied unchanged to validation, test and observed data.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import numpy as np

from telescopeml.errors import DataError, TelescopeMLError, UnknownNameError

#: Normalizer name -> class, filled in by subclassing :class:`Normalizer`.
NORMALIZERS: dict[str, type[Normalizer]] = {}


class Normalizer:
    """A per-spectrum flux normalization: ``(flux - offset) / scale``.

    Create one by name with :meth:`create`; options are checked there. Flux may be 1-D
    ``(n_wavelengths,)`` or 2-D ``(n_spectra, n_wavelengths)``; NaN pixels are ignored.
    """

    name: ClassVar[str]
    #: Option name -> default value.
    defaults: ClassVar[dict[str, Any]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        NORMALIZERS[cls.name] = cls

    def __init__(self, **options: Any) -> None:
        unknown = sorted(set(options) - set(self.defaults))
        if unknown:
            valid = ", ".join(self.defaults) or "none"
            raise ValueError(
                f"normalizer {self.name!r} has no option {unknown[0]!r}; valid options: {valid}"
            )
        self.options = self._validate({**self.defaults, **options})

    @classmethod
    def create(cls, name: str, **options: Any) -> Normalizer:
        """The normalizer called ``name`` (see :data:`NORMALIZERS`) with ``options``."""
        if name not in NORMALIZERS:
            raise UnknownNameError("normalizer", name, sorted(NORMALIZERS))
        return NORMALIZERS[name](**options)

    def _validate(self, options: dict[str, Any]) -> dict[str, Any]:
        return options

    def __repr__(self) -> str:
        options = ", ".join(f"{k}={v!r}" for k, v in self.options.items())
        return f"Normalizer.create({self.name!r}{', ' if options else ''}{options})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Normalizer) and self.to_dict() == other.to_dict()

    __hash__ = None  # type: ignore[assignment]

    def to_dict(self) -> dict[str, Any]:
        """``{"name": ..., **options}``, JSON-serializable."""
        return {"name": self.name, **{k: _plain(v) for k, v in self.options.items()}}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Normalizer:
        """Inverse of :meth:`to_dict`."""
        options = dict(data)
        return cls.create(options.pop("name"), **options)

    def scales(self, wavelength: np.ndarray, flux: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per-spectrum ``(offset, scale)``, each shaped ``flux.shape[:-1]``."""
        wavelength, flux = _check_shapes(wavelength, flux)
        offset, scale = self._scales(wavelength, flux)
        bad = ~np.isfinite(scale) | (scale <= 0)
        if np.any(bad):
            raise DataError(
                f"{self.name!r} normalization: {int(np.sum(bad))} spectra have a zero, "
                "negative or undefined scale"
            )
        return offset, scale

    def _scales(self, wavelength: np.ndarray, flux: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def transform(
        self, wavelength: np.ndarray, flux: np.ndarray, uncertainty: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
        """Normalize each spectrum.

        Returns
        -------
        flux, uncertainty, scale
            Normalized flux and uncertainty (None if none given), and the per-spectrum
            divisor (a 0-d array for 1-D flux).
        """
        offset, scale = self.scales(wavelength, flux)
        flux = np.asarray(flux, dtype=np.float64)
        out = (flux - offset[..., None]) / scale[..., None]
        if uncertainty is not None:
            uncertainty = np.asarray(uncertainty, dtype=np.float64) / scale[..., None]
        return out, uncertainty, scale

    @staticmethod
    def inverse_transform(
        flux: np.ndarray,
        scale: np.ndarray | float,
        uncertainty: np.ndarray | None = None,
        offset: np.ndarray | float = 0.0,
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """Undo :meth:`transform` given its ``scale`` (and ``offset`` from :meth:`scales`)."""
        scale = np.asarray(scale, dtype=np.float64)[..., None]
        flux = np.asarray(flux, dtype=np.float64) * scale + np.asarray(offset)[..., None]
        if uncertainty is not None:
            uncertainty = np.asarray(uncertainty, dtype=np.float64) * scale
        return flux, uncertainty


class NoNormalizer(Normalizer):
    """Leave the flux as it is (scale 1)."""

    name = "none"

    def _scales(self, wavelength: np.ndarray, flux: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return np.zeros(flux.shape[:-1]), np.ones(flux.shape[:-1])


class MaxNormalizer(Normalizer):
    """Divide by the maximum flux."""

    name = "max"

    def _scales(self, wavelength: np.ndarray, flux: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return np.zeros(flux.shape[:-1]), _nan_reduce(np.nanmax, flux)


class MedianNormalizer(Normalizer):
    """Divide by the median flux."""

    name = "median"

    def _scales(self, wavelength: np.ndarray, flux: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return np.zeros(flux.shape[:-1]), _nan_reduce(np.nanmedian, flux)


class MedianBandNormalizer(Normalizer):
    """Divide by the median flux within a wavelength window ``band=(low, high)`` in µm."""

    name = "median-band"
    defaults: ClassVar[dict[str, Any]] = {"band": (1.20, 1.30)}

    def _validate(self, options: dict[str, Any]) -> dict[str, Any]:
        try:
            low, high = (float(x) for x in options["band"])
        except (TypeError, ValueError):
            raise ValueError(f"band must be (low, high) in µm, got {options['band']!r}") from None
        if not (np.isfinite(low) and np.isfinite(high) and 0 < low < high):
            raise ValueError(f"band must satisfy 0 < low < high, got ({low}, {high})")
        return {"band": (low, high)}

    def _scales(self, wavelength: np.ndarray, flux: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        low, high = self.options["band"]
        inside = (wavelength >= low) & (wavelength <= high)
        if not inside.any():
            raise DataError(
                f"normalization band {low}-{high} µm does not overlap the data "
                f"({wavelength[0]:.4f}-{wavelength[-1]:.4f} µm)"
            )
        return np.zeros(flux.shape[:-1]), _nan_reduce(np.nanmedian, flux[..., inside])


class AreaNormalizer(Normalizer):
    """Divide by the integral of flux over wavelength (trapezoids; NaN pixels skipped)."""

    name = "area"

    def _scales(self, wavelength: np.ndarray, flux: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        segments = 0.5 * (flux[..., 1:] + flux[..., :-1]) * np.diff(wavelength)
        finite = np.isfinite(segments).any(axis=-1)
        area = np.where(finite, np.nansum(segments, axis=-1), np.nan)
        return np.zeros(flux.shape[:-1]), area


class MinMaxNormalizer(Normalizer):
    """Map each spectrum onto [0, 1]: subtract its minimum, divide by its range."""

    name = "minmax"

    def _scales(self, wavelength: np.ndarray, flux: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        low = _nan_reduce(np.nanmin, flux)
        return low, _nan_reduce(np.nanmax, flux) - low


class ZScoreNormalizer(Normalizer):
    """Standardize each spectrum on its own: subtract its mean, divide by its (population)
    standard deviation, as TelescopeML's ``standardize_X_row_wise`` does (scikit-learn's
    StandardScaler on the transposed flux). A constant spectrum gets scale 1, as there."""

    name = "zscore"

    def _scales(self, wavelength: np.ndarray, flux: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        std = _nan_reduce(np.nanstd, flux)
        return _nan_reduce(np.nanmean, flux), np.where(std == 0, 1.0, std)


class FeatureStandardizer:
    """Per-wavelength standardization ``(x - mean) / std``, fitted on training data only.

    Columns with zero spread get ``std = 1`` so that they pass through centred.
    """

    def __init__(self) -> None:
        self.mean_: np.ndarray | None = None
        self.std_: np.ndarray | None = None

    def fit(self, features: np.ndarray) -> FeatureStandardizer:
        """Learn the mean and std of each column of ``(n_samples, n_features)``."""
        features = _matrix(features, "features")
        self.mean_ = np.nanmean(features, axis=0)
        std = np.nanstd(features, axis=0)
        self.std_ = np.where(std > 0, std, 1.0)
        return self

    def transform(self, features: np.ndarray) -> np.ndarray:
        """Standardize with the fitted mean and std."""
        mean, std = self._fitted()
        return (self._columns(features, mean.size) - mean) / std

    def inverse_transform(self, features: np.ndarray) -> np.ndarray:
        """Undo :meth:`transform`."""
        mean, std = self._fitted()
        return self._columns(features, mean.size) * std + mean

    def fit_transform(self, features: np.ndarray) -> np.ndarray:
        """:meth:`fit`, then :meth:`transform`."""
        return self.fit(features).transform(features)

    def to_dict(self) -> dict[str, Any]:
        """JSON-serializable state."""
        mean, std = self._fitted()
        return {"kind": "feature-standardizer", "mean": mean.tolist(), "std": std.tolist()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FeatureStandardizer:
        """Inverse of :meth:`to_dict`."""
        scaler = cls()
        scaler.mean_ = np.asarray(data["mean"], dtype=np.float64)
        scaler.std_ = np.asarray(data["std"], dtype=np.float64)
        return scaler

    def _fitted(self) -> tuple[np.ndarray, np.ndarray]:
        if self.mean_ is None or self.std_ is None:
            raise TelescopeMLError("FeatureStandardizer is not fitted; call fit() first")
        return self.mean_, self.std_

    @staticmethod
    def _columns(features: np.ndarray, n: int) -> np.ndarray:
        features = np.asarray(features, dtype=np.float64)
        if features.shape[-1:] != (n,):
            raise DataError(f"features have shape {features.shape}, fitted on {n} columns")
        return features


class ParameterScaler:
    """Standardize target parameters, after taking log10 of those named in ``log``.

    Parameters
    ----------
    names
        Parameter names, in column order.
    log
        Names whose log10 is standardized instead (they must be positive).
    """

    def __init__(self, names: Sequence[str], log: Sequence[str] = ("teff",)) -> None:
        self.names = [str(n) for n in names]
        if not self.names or len(set(self.names)) != len(self.names):
            raise ValueError(f"names must be distinct and non-empty, got {self.names}")
        unknown = [n for n in log if n not in self.names]
        if unknown:
            raise ValueError(
                f"log names {unknown[0]!r}, which is not a parameter; valid: "
                f"{', '.join(self.names)}"
            )
        self.log = [n for n in self.names if n in log]
        self.mean_: np.ndarray | None = None
        self.std_: np.ndarray | None = None

    def fit(self, params: np.ndarray | Mapping[str, np.ndarray]) -> ParameterScaler:
        """Learn mean and std of each (log-)parameter from training labels."""
        values = self._forward(params)
        self.mean_ = values.mean(axis=0)
        std = values.std(axis=0)
        self.std_ = np.where(std > 0, std, 1.0)
        return self

    def transform(self, params: np.ndarray | Mapping[str, np.ndarray]) -> np.ndarray:
        """``(n_samples, n_params)`` standardized targets."""
        mean, std = self._fitted()
        return (self._forward(params) - mean) / std

    def inverse_transform(self, scaled: np.ndarray) -> np.ndarray:
        """Physical parameter values from standardized ones, columns in :attr:`names` order."""
        mean, std = self._fitted()
        values = _matrix(scaled, "scaled parameters", self.names) * std + mean
        for j in self._log_columns():
            values[:, j] = 10.0 ** values[:, j]
        return values

    def fit_transform(self, params: np.ndarray | Mapping[str, np.ndarray]) -> np.ndarray:
        """:meth:`fit`, then :meth:`transform`."""
        return self.fit(params).transform(params)

    def to_dict(self) -> dict[str, Any]:
        """JSON-serializable state."""
        mean, std = self._fitted()
        return {
            "kind": "parameter-scaler",
            "names": self.names,
            "log": self.log,
            "mean": mean.tolist(),
            "std": std.tolist(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ParameterScaler:
        """Inverse of :meth:`to_dict`; a non-finite mean or a spread that is not positive (zero
        would give zero-width intervals) is a ValueError."""
        scaler = cls(data["names"], log=data["log"])
        scaler.mean_ = np.asarray(data["mean"], dtype=np.float64)
        scaler.std_ = np.asarray(data["std"], dtype=np.float64)
        if (scaler.mean_.shape != scaler.std_.shape or scaler.std_.size != len(scaler.names)
                or not np.all(np.isfinite(scaler.mean_)) or not np.all(scaler.std_ > 0)
                or not np.all(np.isfinite(scaler.std_))):
            raise ValueError(f"parameter scaling for {scaler.names}: mean {data['mean']} and "
                             f"std {data['std']} must be finite, one per parameter, std > 0")
        return scaler

    def _log_columns(self) -> list[int]:
        return [self.names.index(n) for n in self.log]

    def _forward(self, params: np.ndarray | Mapping[str, np.ndarray]) -> np.ndarray:
        if isinstance(params, Mapping):
            missing = [n for n in self.names if n not in params]
            if missing:
                raise DataError(f"parameter {missing[0]!r} is missing from the labels")
            params = np.column_stack([np.asarray(params[n], dtype=np.float64)
                                      for n in self.names])
        values = _matrix(params, "parameters", self.names).copy()
        for j in self._log_columns():
            if np.any(values[:, j] <= 0):
                raise DataError(f"cannot take log10 of {self.names[j]!r}: values <= 0")
            values[:, j] = np.log10(values[:, j])
        return values

    def _fitted(self) -> tuple[np.ndarray, np.ndarray]:
        if self.mean_ is None or self.std_ is None:
            raise TelescopeMLError("ParameterScaler is not fitted; call fit() first")
        return self.mean_, self.std_


def _check_shapes(wavelength: np.ndarray, flux: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    wavelength = np.asarray(wavelength, dtype=np.float64)
    flux = np.asarray(flux)
    if flux.dtype not in (np.float32, np.float64):  # float32 stays: halves the memory traffic
        flux = flux.astype(np.float64)
    if wavelength.ndim != 1 or flux.ndim not in (1, 2) or flux.shape[-1] != wavelength.size:
        raise DataError(
            f"flux of shape {flux.shape} does not match wavelength of shape {wavelength.shape}"
        )
    return wavelength, flux


#: NaN-ignoring reductions and their (several times faster) plain twins for NaN-free data.
_PLAIN = {np.nanmax: np.max, np.nanmin: np.min, np.nanmedian: np.median, np.nanmean: np.mean,
          np.nanstd: np.std}


def _nan_reduce(func: Any, flux: np.ndarray) -> np.ndarray:
    """``func`` (nanmax, nanmedian...) along the last axis; all-NaN rows give NaN silently."""
    if func in _PLAIN and not np.isnan(flux).any():
        return np.asarray(_PLAIN[func](flux, axis=-1), dtype=np.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.asarray(func(flux, axis=-1), dtype=np.float64)


def _matrix(values: Any, what: str, names: Sequence[str] | None = None) -> np.ndarray:
    values = np.asarray(values, dtype=np.float64)
    if values.ndim == 1 and names is not None:
        values = values[None, :]
    if values.ndim != 2 or (names is not None and values.shape[1] != len(names)):
        expected = "(n_samples, n_features)" if names is None else f"(n, {len(names)})"
        raise DataError(f"{what} have shape {values.shape}, expected {expected}")
    return values


def _plain(value: Any) -> Any:
    """Options as JSON types (tuples become lists)."""
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value
