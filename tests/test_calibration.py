"""Calibration diagnostics on synthetic posteriors whose calibration is known, and their plots."""

from __future__ import annotations

import numpy as np
import pytest

from telescopeml.evaluation.calibration import (
    LEVELS,
    check_calibration,
    coverage,
    sbc_histogram,
    sbc_pvalues,
    sbc_ranks,
    tarp,
)
from telescopeml.models.recalibration import LEVELS as STRETCH_LEVELS
from telescopeml.models.recalibration import Recalibration, apply_stretch, fit_stretch
from telescopeml.plots import save_figure
from telescopeml.plots.calibration import coverage_curve, sbc_rank_histograms, tarp_curve

N_SPECTRA, N_SAMPLES, SIGMA = 4000, 200, 0.3


def posterior(kind: str, seed: int = 0):
    """Truths drawn from N(center, SIGMA^2) and samples from a calibrated or a wrong posterior."""
    rng = np.random.default_rng(seed)
    center = rng.uniform(-1.0, 1.0, (N_SPECTRA, 2))
    truth = center + SIGMA * rng.normal(size=center.shape)
    width, shift = {"calibrated": (SIGMA, 0.0), "overconfident": (0.5 * SIGMA, 0.0),
                    "biased": (SIGMA, SIGMA)}[kind]
    samples = center + shift + width * rng.normal(size=(N_SAMPLES, *center.shape))
    return samples, truth


def test_calibrated_posterior_passes():
    samples, truth = posterior("calibrated")
    result = check_calibration(samples, truth, names=["teff", "logg"])
    assert result.passed, result.failures
    assert set(result.coverage) == {0.68, 0.95}
    np.testing.assert_allclose(coverage(samples, truth), LEVELS[:, None].repeat(2, 1), atol=0.03)
    ranks = sbc_ranks(samples, truth)
    assert ranks.shape == (N_SPECTRA, 2) and 0 <= ranks.min() and ranks.max() <= N_SAMPLES
    assert np.all(sbc_pvalues(ranks, N_SAMPLES) > 0.01)
    alpha, ecp, distance = tarp(samples, truth, n_references=5, seed=1)
    assert alpha.shape == ecp.shape and ecp[0] == 0 and ecp[-1] == 1
    assert distance < 0.03


@pytest.mark.parametrize("kind", ["overconfident", "biased"])
def test_wrong_posteriors_fail(kind):
    samples, truth = posterior(kind)
    result = check_calibration(samples, truth, names=["teff", "logg"])
    assert not result.passed
    assert any("68% intervals" in f and f.startswith("teff") for f in result.failures)
    assert result.coverage[0.68].max() < 0.6
    assert tarp(samples, truth)[2] > 0.1
    if kind == "biased":
        assert any("TARP" in f for f in result.failures)
        assert np.all(sbc_pvalues(sbc_ranks(samples, truth), N_SAMPLES) < 1e-6)


def test_sbc_histogram_with_uneven_bins():
    ranks = np.arange(11)[:, None]  # every rank once, 11 values into 4 bins
    edges, counts, expected, band = sbc_histogram(ranks, 10, bins=4)
    assert edges[0] == 0 and edges[-1] == 11 and counts.sum() == 11
    np.testing.assert_allclose(counts[:, 0], expected * 11 / expected.sum())
    assert band.shape == (2, 4) and np.all(band[0] <= expected) and np.all(expected <= band[1])
    with pytest.raises(ValueError, match="samples"):
        coverage(np.zeros((5, 3, 2)), np.zeros((4, 2)))


def test_figures_are_written(tmp_path):
    samples, truth = posterior("calibrated")
    samples, truth = samples[:, :500], truth[:500]
    figures = {
        "coverage": coverage_curve(LEVELS, coverage(samples, truth), ["teff", "logg"], 500),
        "tarp": tarp_curve(*tarp(samples, truth, n_references=2)),
        "sbc": sbc_rank_histograms(sbc_ranks(samples, truth), N_SAMPLES, ["teff", "logg"]),
    }
    for name, fig in figures.items():
        assert all(ax.get_xlabel() and ax.get_ylabel() for ax in fig.axes if ax.get_visible())
        png = save_figure(fig, tmp_path / name)[0]
        assert png.suffix == ".png" and png.read_bytes()[:4] == b"\x89PNG"


def test_level_dependent_stretch_calibrates_heavy_tails():
    """Gaussian posteriors for Student-t errors: one factor cannot fix 68% and 95% at once;
    the level-dependent stretch, fitted on one half, calibrates the other half."""
    rng = np.random.default_rng(4)
    center = rng.uniform(-1.0, 1.0, (4000, 3))
    truth = center + rng.standard_t(3, size=center.shape) * SIGMA
    widths = np.array([2.0, 0.5, 1.0]) * SIGMA  # too wide, too narrow, right but light-tailed
    samples = center + widths * rng.normal(size=(300, *center.shape))
    fit, check = slice(0, 2000), slice(2000, None)
    before = coverage(samples[:, check], truth[check], [0.68, 0.95])
    assert np.any(np.abs(before - [[0.68], [0.95]]) > 0.05)
    factors = fit_stretch(samples[:, fit], truth[fit])
    assert factors.shape == (len(STRETCH_LEVELS), 3)
    assert factors[-1, 2] > 1.3 * factors[0, 2]  # tails widened more than the core
    stretched = apply_stretch(samples[:, check], STRETCH_LEVELS, factors)
    cov = coverage(stretched, truth[check], [0.68, 0.95])
    assert np.all(np.abs(cov - [[0.68], [0.95]]) < 0.025), cov
    # ranks (the dependence between parameters) are kept; tails reach past the samples
    np.testing.assert_array_equal(np.argsort(stretched[:, 0], axis=0),
                                  np.argsort(samples[:, check][:, 0], axis=0))
    assert np.abs(stretched[:, :, 2]).max() > np.abs(samples[:, check][:, :, 2]).max()


def test_recalibration_interpolates_between_snr_curves():
    """Posteriors too narrow at low S/N and too wide at high S/N get one curve each."""
    rng = np.random.default_rng(5)
    snr_nodes = np.array([10.0, 100.0])
    snr = np.repeat(snr_nodes, 1500)
    center = rng.uniform(-1.0, 1.0, (snr.size, 2))
    truth = center + rng.normal(size=center.shape) * SIGMA
    width = np.where(snr == 10.0, 0.5, 2.0)[:, None] * SIGMA
    samples = center + width * rng.normal(size=(300, *center.shape))
    recalibration = Recalibration.fit(samples, truth, snr)
    np.testing.assert_allclose(recalibration.snr, snr_nodes)
    fixed = recalibration.apply(samples, snr)
    for node in snr_nodes:
        cov = coverage(fixed[:, snr == node], truth[snr == node], [0.68, 0.95])
        assert np.all(np.abs(cov - [[0.68], [0.95]]) < 0.03), (node, cov)
    middle = recalibration.factors_at(np.array([5.0, np.sqrt(1000.0), 1000.0]))
    np.testing.assert_allclose(middle[0], recalibration.factors[0])  # constant beyond nodes
    np.testing.assert_allclose(middle[2], recalibration.factors[1])
    np.testing.assert_allclose(middle[1], recalibration.factors.mean(axis=0))  # log-midpoint
    again = Recalibration.from_dict(recalibration.to_dict(["a", "b"]), ["a", "b"])
    np.testing.assert_allclose(again.factors, recalibration.factors)
