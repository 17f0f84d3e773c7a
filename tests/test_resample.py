"""Flux-conserving resampling and smoothing to a resolving power."""

from __future__ import annotations

import numpy as np
import pytest

from telescopeml.data.resample import (
    FWHM_PER_SIGMA,
    bin_edges,
    outside_coverage,
    resample,
    smooth_to_resolution,
)
from telescopeml.errors import DataError


def smooth_flux(wavelength: np.ndarray) -> np.ndarray:
    return 1.0 + 0.5 * np.sin(3.0 * wavelength) + np.exp(-(((wavelength - 1.6) / 0.05) ** 2))


def test_bin_edges_halfway_between_centres() -> None:
    edges = bin_edges(np.array([1.0, 2.0, 4.0]))
    np.testing.assert_allclose(edges, [0.5, 1.5, 3.0, 5.0])


def test_integral_preserved_on_aligned_bins() -> None:
    wavelength = np.linspace(1.0, 2.0, 1000)
    flux = smooth_flux(wavelength)
    new = 0.5 * (wavelength[0::2] + wavelength[1::2])
    new_flux, uncertainty = resample(new, wavelength, flux)
    assert uncertainty is None
    old_integral = np.sum(flux * np.diff(bin_edges(wavelength)))
    new_integral = np.sum(new_flux * np.diff(bin_edges(new)))
    assert new_integral == pytest.approx(old_integral, rel=1e-12)


def test_integral_preserved_on_unrelated_grid() -> None:
    wavelength = np.linspace(1.0, 2.0, 2000)
    flux = smooth_flux(wavelength)
    new = np.geomspace(1.05, 1.95, 137)
    new_flux, _ = resample(new, wavelength, flux)
    edges = bin_edges(new)
    fine = np.linspace(edges[0], edges[-1], 200_001)
    expected = np.trapezoid(smooth_flux(fine), fine)
    assert np.sum(new_flux * np.diff(edges)) == pytest.approx(expected, rel=1e-4)


def test_uncertainty_of_twice_coarser_bins_is_sqrt2_smaller() -> None:
    wavelength = np.linspace(1.0, 2.0, 20_000)
    sigma = 0.1
    rng = np.random.default_rng(1)
    flux = 1.0 + rng.normal(0.0, sigma, wavelength.size)
    new = 0.5 * (wavelength[0::2] + wavelength[1::2])
    new_flux, new_unc = resample(new, wavelength, flux, np.full(wavelength.size, sigma))
    np.testing.assert_allclose(new_unc, sigma / np.sqrt(2), rtol=1e-10)
    # and the actual scatter agrees with the propagated error
    assert np.std(new_flux) == pytest.approx(sigma / np.sqrt(2), rel=0.03)


def test_two_dimensional_flux_matches_row_by_row() -> None:
    wavelength = np.linspace(1.0, 2.0, 300)
    flux = np.vstack([smooth_flux(wavelength) * k for k in (1.0, 2.0, 3.0)])
    unc = 0.01 * flux
    new = np.linspace(1.1, 1.9, 50)
    new_flux, new_unc = resample(new, wavelength, flux, unc)
    assert new_flux.shape == new_unc.shape == (3, 50)
    for row in range(3):
        one_flux, one_unc = resample(new, wavelength, flux[row], unc[row])
        np.testing.assert_allclose(new_flux[row], one_flux)
        np.testing.assert_allclose(new_unc[row], one_unc)


def test_pixels_outside_get_fill() -> None:
    wavelength = np.linspace(1.0, 2.0, 100)
    new = np.linspace(0.5, 2.5, 21)
    new_flux, new_unc = resample(new, wavelength, np.ones(100), np.ones(100))
    outside = outside_coverage(new, wavelength)
    assert outside[0] and outside[-1] and not outside[10]
    assert np.all(np.isnan(new_flux[outside])) and np.all(np.isnan(new_unc[outside]))
    np.testing.assert_allclose(new_flux[~outside], 1.0)
    filled, _ = resample(new, wavelength, np.ones(100), fill=0.0)
    assert np.all(filled[outside] == 0.0)


@pytest.mark.parametrize(
    ("new", "wavelength", "flux", "unc", "match"),
    [
        (np.array([2.0, 1.0]), np.linspace(1, 2, 10), np.ones(10), None, "new wavelength"),
        (np.linspace(1, 2, 5), np.linspace(2, 1, 10), np.ones(10), None, "increasing"),
        (np.linspace(1, 2, 5), np.linspace(1, 2, 10), np.ones(9), None, "shape"),
        (np.linspace(1, 2, 5), np.linspace(1, 2, 10), np.ones(10), np.ones(9), "uncertainty"),
        (np.array([1.0, np.nan]), np.linspace(1, 2, 10), np.ones(10), None, "NaN"),
    ],
)
def test_bad_inputs(new, wavelength, flux, unc, match) -> None:
    with pytest.raises(DataError, match=match):
        resample(new, wavelength, flux, unc)


def test_smoothing_preserves_a_constant() -> None:
    wavelength = np.geomspace(0.9, 2.5, 3000)
    flat = np.full((2, wavelength.size), 3.5)
    np.testing.assert_allclose(smooth_to_resolution(wavelength, flat, 150), 3.5, rtol=1e-12)
    np.testing.assert_allclose(smooth_to_resolution(wavelength, flat[0], 150), 3.5, rtol=1e-12)


def fwhm(wavelength: np.ndarray, profile: np.ndarray) -> float:
    mean = np.sum(wavelength * profile) / np.sum(profile)
    variance = np.sum((wavelength - mean) ** 2 * profile) / np.sum(profile)
    return FWHM_PER_SIGMA * float(np.sqrt(variance))


@pytest.mark.parametrize("resolution", [100.0, 1000.0])
def test_smoothing_widens_a_line_to_lambda_over_r(resolution: float) -> None:
    centre = 1.5
    wavelength = np.linspace(1.3, 1.7, 40_001)  # 1e-5 µm pixels
    intrinsic = centre / 1e5
    line = np.exp(-0.5 * ((wavelength - centre) / (intrinsic / FWHM_PER_SIGMA)) ** 2)
    smoothed = smooth_to_resolution(wavelength, line, resolution)
    expected = np.hypot(centre / resolution, intrinsic)
    assert fwhm(wavelength, smoothed) == pytest.approx(expected, rel=0.02)
    # the line's area is kept
    assert np.trapezoid(smoothed, wavelength) == pytest.approx(
        np.trapezoid(line, wavelength), rel=1e-3
    )


def test_smoothing_two_dimensional_matches_one_dimensional() -> None:
    wavelength = np.geomspace(0.9, 2.5, 2000)
    flux = np.vstack([smooth_flux(wavelength), 2 * smooth_flux(wavelength) ** 2])
    both = smooth_to_resolution(wavelength, flux, 300)
    for row in range(2):
        np.testing.assert_allclose(both[row], smooth_to_resolution(wavelength, flux[row], 300))


@pytest.mark.parametrize("resolution", [0, -5, np.nan])
def test_smoothing_needs_positive_resolution(resolution: float) -> None:
    with pytest.raises(ValueError, match="resolution"):
        smooth_to_resolution(np.linspace(1, 2, 20), np.ones(20), resolution)


def test_smoothing_a_finely_sampled_spectrum_scales_and_agrees(monkeypatch) -> None:
    """Pixels far finer than the kernel are averaged first: the same answer, and a
    million pixels smooth in about a second, not minutes."""
    import time

    from telescopeml.data import resample as module

    wavelength = np.geomspace(2.88, 5.2, 60_000)  # R≈50,000 pixels smoothed to R=100
    flux = smooth_flux(wavelength)
    binned = smooth_to_resolution(wavelength, flux, 100)
    monkeypatch.setattr(module, "MAX_PIXELS_PER_SIGMA", 10**9)  # convolve every pixel
    exact = smooth_to_resolution(wavelength, flux, 100)
    np.testing.assert_allclose(binned, exact, rtol=1e-4, atol=1e-4 * np.abs(flux).max())
    monkeypatch.undo()
    many = np.geomspace(0.6, 5.3, 2_000_000)
    start = time.perf_counter()
    smooth_to_resolution(many, smooth_flux(many), 100)
    assert time.perf_counter() - start < 20  # was over 60 s for 10^6 pixels
