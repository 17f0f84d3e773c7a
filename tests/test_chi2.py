"""The one χ² fit with a free flux scale: against known values and against itself."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from telescopeml.data.chi2 import chi2_best_match, chi2_fit, chi2_pvalue, scaled_chi2


def test_chi2_of_identical_spectra_is_zero():
    flux = np.linspace(1.0, 2.0, 50)
    fit = chi2_fit(flux, flux, np.full(50, 0.1))
    assert fit.chi2 == 0.0
    assert fit.dof == 50
    assert fit.p_value == pytest.approx(1.0)


def test_reduced_chi2_of_gaussian_noise_is_about_one():
    rng = np.random.default_rng(0)
    model = np.linspace(1.0, 3.0, 20000)
    sigma = np.full(model.size, 0.05)
    observed = model + rng.normal(0.0, sigma)
    assert chi2_fit(observed, model, sigma).reduced_chi2 == pytest.approx(1.0, abs=0.03)
    assert 0.01 < chi2_fit(observed, model, sigma).p_value < 0.99


def test_free_scale_recovers_the_factor_and_costs_one_dof():
    model = np.linspace(1.0, 2.0, 30)
    sigma = np.full(30, 0.01)
    fit = chi2_fit(3.0 * model, model, sigma, free_scale=True, n_params=2)
    assert fit.scale == pytest.approx(3.0)
    assert fit.chi2 == pytest.approx(0.0, abs=1e-12)
    assert fit.dof == 30 - 2 - 1
    assert chi2_fit(3.0 * model, model, sigma).chi2 > 1e4


def test_many_models_at_once_match_one_at_a_time_and_skip_bad_pixels():
    rng = np.random.default_rng(1)
    models = rng.uniform(1.0, 2.0, size=(5, 40))
    observed = 2.0 * models[2] + rng.normal(0, 0.01, 40)
    observed[3] = np.nan
    sigma = np.full(40, 0.01)
    sigma[7] = 0.0
    fit = chi2_fit(observed, models, sigma, free_scale=True)
    assert fit.n_points == 38
    assert int(np.argmin(fit.chi2)) == 2
    for i in range(5):
        one = chi2_fit(observed, models[i], sigma, free_scale=True)
        assert fit.chi2[i] == pytest.approx(one.chi2)
        assert fit.scale[i] == pytest.approx(one.scale)


def test_pvalue_matches_scipy_and_errors_are_clear():
    assert chi2_pvalue(12.0, 10) == pytest.approx(stats.chi2.sf(12.0, 10))
    with pytest.raises(ValueError, match="degrees of freedom"):
        chi2_fit(np.ones(2), np.ones(2), np.ones(2), free_scale=True, n_params=1)
    with pytest.raises(ValueError, match="shapes"):
        chi2_fit(np.ones(3), np.ones(4), np.ones(3))


def test_the_matrix_form_matches_a_direct_sum_and_picks_the_best_model():
    rng = np.random.default_rng(3)
    models = rng.uniform(1.0, 2.0, size=(6, 30))
    sigma = rng.uniform(0.01, 0.03, size=(4, 30))
    truth = np.array([1, 4, 4, 0])
    flux = 2.5 * models[truth] + rng.normal(0.0, sigma)
    chi2, scale = scaled_chi2(flux, sigma, models)
    for i in range(4):
        for j in range(6):
            a = np.sum(flux[i] * models[j] / sigma[i] ** 2) / np.sum(models[j] ** 2 / sigma[i] ** 2)
            assert scale[i, j] == pytest.approx(a)
            assert chi2[i, j] == pytest.approx(np.sum(((flux[i] - a * models[j]) / sigma[i]) ** 2))
    best, reduced = chi2_best_match(models, flux, sigma, chunk=3)
    assert best.tolist() == truth.tolist()
    assert reduced == pytest.approx(chi2[np.arange(4), truth] / 29)


def test_a_model_term_widens_the_variance_and_is_recorded():
    model = np.linspace(1.0, 2.0, 40)
    sigma = np.full(40, 0.01)
    observed = 2.0 * model * (1 + 0.05 * np.sin(np.arange(40)))
    plain = chi2_fit(observed, model, sigma, free_scale=True)
    fit = chi2_fit(observed, model, sigma, free_scale=True, model_fraction=0.05)
    variance = sigma**2 + (0.05 * plain.scale * model) ** 2  # the first pass's scale
    assert fit.model_fraction == 0.05 and plain.model_fraction == 0.0
    assert fit.chi2 < plain.chi2 / 10
    a = np.sum(observed * model / variance) / np.sum(model**2 / variance)
    assert fit.scale == pytest.approx(a)
    assert fit.chi2 == pytest.approx(np.sum((observed - fit.scale * model) ** 2 / variance),
                                     rel=1e-6)
