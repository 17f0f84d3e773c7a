"""Flux-conserving resampling and smoothing to a constant resolving power."""

from __future__ import annotations

import numpy as np
from spectres import spectres

from telescopeml.errors import DataError

#: Gaussian FWHM / sigma.
FWHM_PER_SIGMA = 2.0 * np.sqrt(2.0 * np.log(2.0))
#: The finest grid :func:`smooth_to_resolution` convolves on, in pixels per kernel sigma:
#: finer input pixels are averaged (a boxcar of σ/32 widens the kernel by 0.003%).
MAX_PIXELS_PER_SIGMA = 32
#: More pixels than this and an observed spectrum is refused before any work (by the text
#: reader while reading, by ``ObservedSpectrum`` on construction): no spectrograph gives
#: that many in one 1-D spectrum (X-shooter's three arms together give about 10⁵), and each
#: stage after reading (gap search, smoothing, resampling) takes about a second per million.
MAX_PIXELS = 2_000_000


def bin_edges(wavelength: np.ndarray) -> np.ndarray:
    """Edges of the pixels centred on ``wavelength`` (half-way between centres), as spectres.

    The outer edges lie half a pixel beyond the first and last centres.
    """
    w = _increasing(wavelength, "wavelength")
    edges = np.empty(w.size + 1)
    edges[1:-1] = 0.5 * (w[1:] + w[:-1])
    edges[0] = w[0] - 0.5 * (w[1] - w[0])
    edges[-1] = w[-1] + 0.5 * (w[-1] - w[-2])
    return edges


def outside_coverage(new_wavelength: np.ndarray, wavelength: np.ndarray) -> np.ndarray:
    """Boolean mask of the new pixels that are not fully covered by the old pixels."""
    new_edges, old_edges = bin_edges(new_wavelength), bin_edges(wavelength)
    return (new_edges[:-1] < old_edges[0]) | (new_edges[1:] > old_edges[-1])


def resample(
    new_wavelength: np.ndarray,
    wavelength: np.ndarray,
    flux: np.ndarray,
    uncertainty: np.ndarray | None = None,
    fill: float = np.nan,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Resample onto new pixel centres, conserving flux density (spectres).

    Parameters
    ----------
    new_wavelength
        New pixel centres, strictly increasing.
    wavelength
        Current pixel centres, strictly increasing, same unit as ``new_wavelength``.
    flux
        ``(n_wavelengths,)`` or ``(n_spectra, n_wavelengths)``.
    uncertainty
        1-sigma errors shaped like ``flux``, propagated as independent; or None.
    fill
        Value given to new pixels not fully covered by the old ones.

    Returns
    -------
    flux, uncertainty
        Resampled arrays (``uncertainty`` is None when none was given).
    """
    new_wavelength = _increasing(new_wavelength, "new wavelength")
    wavelength = _increasing(wavelength, "wavelength")
    flux = np.asarray(flux, dtype=np.float64)
    if flux.ndim not in (1, 2) or flux.shape[-1] != wavelength.size:
        raise DataError(
            f"flux has shape {flux.shape}, expected (..., {wavelength.size}) to match wavelength"
        )
    if uncertainty is not None:
        uncertainty = np.asarray(uncertainty, dtype=np.float64)
        if uncertainty.shape != flux.shape:
            raise DataError(f"uncertainty has shape {uncertainty.shape}, flux {flux.shape}")
    result = spectres(new_wavelength, wavelength, flux, uncertainty, fill=fill, verbose=False)
    if uncertainty is None:
        return result, None
    return result[0], result[1]


def smooth_to_resolution(
    wavelength: np.ndarray, flux: np.ndarray, resolution: float
) -> np.ndarray:
    """Convolve with a Gaussian of FWHM = λ / ``resolution`` at every wavelength.

    The flux is put on a grid uniform in log-λ (as fine as the input's median spacing, with
    at least 2 and at most :data:`MAX_PIXELS_PER_SIGMA` pixels per kernel sigma), convolved
    there, where a constant resolving power is a constant kernel width, and interpolated
    back. Input pixels finer than that grid are averaged into its pixels (conserving flux),
    so the work grows with the number of input pixels, not with their number times the
    kernel's width (a 10⁷-pixel spectrum smooths in seconds).

    Parameters
    ----------
    wavelength
        Strictly increasing, length ``n_wavelengths``.
    flux
        ``(n_wavelengths,)`` or ``(n_spectra, n_wavelengths)``.
    resolution
        Resolving power R = λ / Δλ of the instrument (Δλ the FWHM).

    Returns
    -------
    numpy.ndarray
        Smoothed flux, same shape and wavelengths as the input.
    """
    from scipy.ndimage import gaussian_filter1d

    wavelength = _increasing(wavelength, "wavelength")
    flux = np.asarray(flux, dtype=np.float64)
    if flux.ndim not in (1, 2) or flux.shape[-1] != wavelength.size:
        raise DataError(
            f"flux has shape {flux.shape}, expected (..., {wavelength.size}) to match wavelength"
        )
    if not np.isfinite(resolution) or resolution <= 0:
        raise ValueError(f"resolution must be a positive number, got {resolution!r}")
    log_w = np.log(wavelength)
    sigma = 1.0 / (resolution * FWHM_PER_SIGMA)  # kernel sigma in ln λ
    step = min(float(np.median(np.diff(log_w))), sigma / 2.0)
    finest = sigma / MAX_PIXELS_PER_SIGMA
    binned = step < finest
    step = max(step, finest)
    n = int(np.ceil((log_w[-1] - log_w[0]) / step)) + 1
    uniform = np.linspace(log_w[0], log_w[-1], n)
    if binned:  # each grid pixel gets the mean flux over its width: flux is conserved
        edges = bin_edges(log_w)
        total = np.concatenate([np.zeros((*flux.shape[:-1], 1)),
                                np.cumsum(flux * np.diff(edges), axis=-1)], axis=-1)
        grid_edges = np.clip(bin_edges(uniform), edges[0], edges[-1])
        on_grid = np.diff(_interp_last_axis(grid_edges, edges, total), axis=-1) / np.diff(
            grid_edges)
    else:
        on_grid = _interp_last_axis(uniform, log_w, flux)
    smoothed = gaussian_filter1d(on_grid, sigma / (uniform[1] - uniform[0]), axis=-1,
                                 mode="nearest")
    return _interp_last_axis(log_w, uniform, smoothed)


def _interp_last_axis(x_new: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Linear interpolation along the last axis of ``y`` (1-D or 2-D), vectorized."""
    i = np.clip(np.searchsorted(x, x_new, side="right") - 1, 0, x.size - 2)
    t = np.clip((x_new - x[i]) / (x[i + 1] - x[i]), 0.0, 1.0)
    return y[..., i] * (1.0 - t) + y[..., i + 1] * t


def _increasing(values: np.ndarray, what: str) -> np.ndarray:
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 1 or values.size < 2:
        raise DataError(f"{what} must be a 1-D array of at least 2 values")
    if not np.all(np.isfinite(values)):
        raise DataError(f"{what} contains NaN or inf")
    if np.any(np.diff(values) <= 0):
        raise DataError(f"{what} is not strictly increasing")
    return values
