"""χ², p-values, confidence and prediction intervals, bootstrap: against known values."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from telescopeml.evaluation.statistics import (
    best_scale,
    bootstrap_interval,
    chi2,
    chi2_fit,
    chi2_pvalue,
    mean_confidence_interval,
    prediction_interval,
    reduced_chi2,
)


def rmse(truth, predicted):
    return np.sqrt(np.mean((predicted - truth) ** 2))


def test_chi2_of_identical_spectra_is_zero():
    flux = np.linspace(1.0, 2.0, 50)
    fit = chi2_fit(flux, flux, np.full(50, 0.1))
    assert fit.chi2 == 0.0
    assert fit.dof == 50
    assert fit.p_value == pytest.approx(1.0)
    assert chi2(flux, flux, np.full(50, 0.1)) == 0.0


def test_reduced_chi2_of_gaussian_noise_is_about_one():
    rng = np.random.default_rng(0)
    model = np.linspace(1.0, 3.0, 20000)
    sigma = np.full(model.size, 0.05)
    observed = model + rng.normal(0.0, sigma)
    assert reduced_chi2(observed, model, sigma) == pytest.approx(1.0, abs=0.03)
    assert 0.01 < chi2_fit(observed, model, sigma).p_value < 0.99


def test_free_scale_recovers_the_factor_and_costs_one_dof():
    model = np.linspace(1.0, 2.0, 30)
    sigma = np.full(30, 0.01)
    fit = chi2_fit(3.0 * model, model, sigma, free_scale=True, n_params=2)
    assert fit.scale == pytest.approx(3.0)
    assert fit.chi2 == pytest.approx(0.0, abs=1e-12)
    assert fit.dof == 30 - 2 - 1
    assert best_scale(3.0 * model, model, sigma) == pytest.approx(3.0)
    assert chi2(3.0 * model, model, sigma) > 1e4


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


def test_mean_confidence_interval_covers_the_true_mean_about_95_percent():
    rng = np.random.default_rng(2)
    hits = [mean_confidence_interval(rng.normal(5.0, 2.0, 10)).contains(5.0)
            for _ in range(2000)]
    assert 0.93 < np.mean(hits) < 0.97


def test_prediction_interval_is_wider_and_covers_new_values_about_95_percent():
    rng = np.random.default_rng(3)
    hits = []
    for _ in range(2000):
        sample = rng.normal(0.0, 1.0, 10)
        ci, pi = mean_confidence_interval(sample), prediction_interval(sample)
        assert pi.width > ci.width
        assert pi.estimate == ci.estimate
        hits.append(pi.contains(rng.normal(0.0, 1.0)))
    assert 0.93 < np.mean(hits) < 0.97
    assert (ci.kind, pi.kind) == ("confidence", "prediction")


def test_interval_inputs_are_checked():
    with pytest.raises(ValueError, match="at least 2"):
        mean_confidence_interval([1.0])
    with pytest.raises(ValueError, match="level"):
        prediction_interval([1.0, 2.0], level=95)


def test_bootstrap_is_reproducible_with_a_seed_and_brackets_the_estimate():
    rng = np.random.default_rng(4)
    truth = rng.uniform(0, 1, 200)
    predicted = truth + rng.normal(0, 0.1, 200)
    a = bootstrap_interval(rmse, truth, predicted, seed=7, n_resamples=500)
    b = bootstrap_interval(rmse, truth, predicted, seed=7, n_resamples=500)
    c = bootstrap_interval(rmse, truth, predicted, seed=8, n_resamples=500)
    assert (a.low, a.high) == (b.low, b.high)
    assert (a.low, a.high) != (c.low, c.high)
    assert a.low < a.estimate < a.high
    assert a.estimate == pytest.approx(rmse(truth, predicted))
    assert 0.08 < a.low and a.high < 0.12


def test_bootstrap_of_an_array_valued_metric():
    rng = np.random.default_rng(5)
    values = rng.normal([0.0, 10.0], 1.0, size=(100, 2))
    ci = bootstrap_interval(lambda x: x.mean(axis=0), values, n_resamples=300)
    assert ci.low.shape == (2,)
    assert np.all(ci.contains(np.array([0.0, 10.0])))
    with pytest.raises(ValueError, match="same length"):
        bootstrap_interval(rmse, np.ones(3), np.ones(4))
