"""The grid's own posterior: likelihood, samplers against a closed form, the Predictor stage."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import export_toy_model, make_toy_grid
from telescopeml.data.grid import SpectralGrid
from telescopeml.data.spectrum import ObservedSpectrum
from telescopeml.inference.correct import correct
from telescopeml.inference.likelihood import GridLikelihood, scatter_basis
from telescopeml.inference.sampling import MIN_ESS, sample_grid_posterior
from telescopeml.predict import Predictor

TRUTH = np.array([0.43, 0.61])
SCALE = 2.0


TOY_AXES = (np.linspace(0, 1, 11), np.linspace(0, 1, 6))


def cell_factor(point):
    """``1 + Σ_c w_c²`` of multilinear interpolation at ``point`` on the toy lattice."""
    squares = 1.0
    for x, values in zip(point, TOY_AXES, strict=True):
        i = min(np.searchsorted(values, x, side="right") - 1, values.size - 2)
        w = (x - values[i]) / (values[i + 1] - values[i])
        squares *= (1 - w) ** 2 + w**2
    return 1.0 + squares


def linear_problem(scatter: bool, seed: int = 0, n: int = 60, noise: float = 0.01,
                   truth: np.ndarray = TRUTH):
    """A grid whose log flux is linear in two parameters, one noisy observation at
    ``truth``, and the closed-form posterior (mean, σ) of the linearised model with the flux
    scale as a free linear parameter. With ``scatter``, the observation differs from the
    interpolant by the node scatter times the interpolation-error factor at ``truth``."""
    rng = np.random.default_rng(seed)
    wavelength = np.linspace(1.0, 2.0, n)
    base = 0.3 * np.sin(3 * wavelength)
    slopes = rng.normal(0.0, 0.3, (2, n))
    a, b = np.meshgrid(*TOY_AXES, indexing="ij")
    nodes = np.column_stack([a.ravel(), b.ravel()])
    grid = SpectralGrid(params={"a": nodes[:, 0], "b": nodes[:, 1]}, wavelength=wavelength,
                        flux=np.exp(base + nodes @ slopes))
    model = np.exp(base + truth @ slopes)
    model /= np.exp(np.mean(np.log(model)))  # the likelihood's normalisation
    sigma = np.full(n, noise)
    covariance = np.diag(sigma**2)
    centred = slopes - slopes.mean(axis=1, keepdims=True)
    node_cov = None
    if scatter:  # node scatter along the parameters' own directions: it widens them most
        node_cov = 0.003**2 * centred.T @ centred
        covariance = covariance + cell_factor(truth) * SCALE**2 * np.outer(model, model) \
            * node_cov
    observed = SCALE * model + rng.multivariate_normal(np.zeros(n), covariance)
    design = np.column_stack([model, SCALE * model * centred[0], SCALE * model * centred[1]])
    inverse = np.linalg.inv(covariance)
    cov = np.linalg.inv(design.T @ inverse @ design)
    beta = cov @ design.T @ inverse @ observed
    return grid, observed, sigma, node_cov, truth + beta[1:], np.sqrt(np.diag(cov)[1:])


def starts_near(mean, sd, seed=1):
    return mean + np.random.default_rng(seed).normal(0.0, 3 * sd, (500, 2))


@pytest.mark.parametrize("scatter", [False, True])
def test_importance_sampling_recovers_the_closed_form(scatter):
    grid, observed, sigma, node_cov, mean, sd = linear_problem(scatter)
    like = GridLikelihood(grid, observed, sigma, scatter=node_cov, model_error=False)
    post = sample_grid_posterior(like, starts_near(mean, sd), 20000, method="auto")
    assert post.method == "importance" and post.ess >= MIN_ESS
    # with the scatter the noise grows with the model, which the linear closed form leaves
    # out: a shift of a few hundredths of σ that is the likelihood's, not the sampler's
    assert np.all(np.abs(post.samples.mean(axis=0) - mean) < (0.05 if scatter else 0.02) * sd)
    assert np.all(np.abs(post.samples.std(axis=0) / sd - 1) < 0.02)


def test_mcmc_recovers_the_closed_form():
    grid, observed, sigma, _, mean, sd = linear_problem(False)
    like = GridLikelihood(grid, observed, sigma, model_error=False)
    post = sample_grid_posterior(like, starts_near(mean, sd), 40000, method="mcmc",
                                 tau_factor=250, max_steps=12000)
    assert post.method == "mcmc" and post.converged and np.isfinite(post.tau)
    assert np.all(np.abs(post.samples.mean(axis=0) - mean) < 0.05 * sd)
    assert np.all(np.abs(post.samples.std(axis=0) / sd - 1) < 0.02)


def test_a_poor_proposal_falls_back_to_mcmc(monkeypatch):
    from telescopeml.inference import sampling

    grid, observed, sigma, _, mean, sd = linear_problem(False)
    like = GridLikelihood(grid, observed, sigma, model_error=False)
    # no Laplace covariance, a network far too sure of itself, and no adaptation
    monkeypatch.setattr(sampling, "_laplace", lambda *args: None)
    tight = np.tile(mean, (50, 1)) + 1e-7
    post = sample_grid_posterior(like, tight, 4000, rounds=0, min_width=1e-6)
    assert post.method == "mcmc"
    assert np.all(np.abs(post.samples.mean(axis=0) - mean) < 0.15 * sd)
    assert "MCMC" in post.describe()


def test_the_node_scatter_widens_the_posterior_as_it_says():
    grid, observed, sigma, node_cov, mean, sd = linear_problem(True)
    _, _, _, _, _, sd_plain = linear_problem(False)
    with_scatter = sample_grid_posterior(
        GridLikelihood(grid, observed, sigma, scatter=node_cov, model_error=False),
        starts_near(mean, sd), 20000)
    without = sample_grid_posterior(
        GridLikelihood(grid, observed, sigma, model_error=False), starts_near(mean, sd), 20000)
    widening = with_scatter.samples.std(axis=0) / without.samples.std(axis=0)
    assert np.all(widening > 1.2)
    assert np.allclose(widening, sd / sd_plain, rtol=0.04)


def test_the_interpolation_error_factor_is_largest_at_a_node():
    grid, observed, sigma, node_cov, _, _ = linear_problem(True)
    like = GridLikelihood(grid, observed, sigma, scatter=node_cov, model_error=False)
    # at a node the truth's own deviation and the node's add: 2 Σ; mid-cell in two axes
    # the four corners' weights are 1/4 each: 1 + 4/16; on an edge between two nodes, 1.5
    points = np.array([[0.4, 0.6], [0.45, 0.7], [0.45, 0.6], TRUTH])
    assert like.scatter_factor(points) == pytest.approx([2.0, 1.25, 1.5, 1.5249], abs=1e-4)
    assert like.scatter_factor(points) == pytest.approx([cell_factor(p) for p in points])


def test_a_posterior_at_a_node_widens_as_the_factor_says():
    """Near a node the interpolation error is 2 Σ, mid-cell 1.25 Σ: the posterior's width
    follows the closed form with that factor, and so is wider at the node."""
    widths = {}
    for label, truth in (("node", np.array([0.4, 0.6])), ("mid", np.array([0.45, 0.7]))):
        grid, observed, sigma, node_cov, mean, sd = linear_problem(True, truth=truth)
        post = sample_grid_posterior(
            GridLikelihood(grid, observed, sigma, scatter=node_cov, model_error=False),
            starts_near(mean, sd), 20000)
        widths[label] = post.samples.std(axis=0)
        assert np.all(np.abs(widths[label] / sd - 1) < 0.05)
    _, _, _, _, _, sd_node = linear_problem(True, truth=np.array([0.4, 0.6]))
    _, _, _, _, _, sd_mid = linear_problem(True, truth=np.array([0.45, 0.7]))
    assert np.all(sd_node / sd_mid > 1.1)
    assert np.allclose(widths["node"] / widths["mid"], sd_node / sd_mid, rtol=0.05)


def scattered_grid(curvature: float, seed: int = 0, n: int = 40):
    """A 20 × 20 grid, linear in log flux plus ``curvature`` times a quadratic in ``a`` (along
    one of the deviations' directions), each node with its own deviation drawn from a rank-3
    covariance."""
    rng = np.random.default_rng(seed)
    wavelength = np.linspace(1.0, 2.0, n)
    a, b = np.meshgrid(np.linspace(0, 1, 20), np.linspace(0, 1, 20), indexing="ij")
    nodes = np.column_stack([a.ravel(), b.ravel()])
    slopes = rng.normal(0.0, 0.3, (2, n))
    directions = rng.normal(0.0, 0.02, (3, n))
    log_flux = (nodes @ slopes + curvature * nodes[:, :1] ** 2 * directions[0]
                + rng.standard_normal((len(nodes), 3)) @ directions)
    return SpectralGrid(params={"a": nodes[:, 0], "b": nodes[:, 1]}, wavelength=wavelength,
                        flux=np.exp(log_flux))


def test_leave_one_out_sets_the_scale_of_the_interpolation_error():
    from telescopeml.data.scatter import interpolation_scale, node_scatter

    # independent node deviations alone: leave-one-out finds what (1 + Σ w²) Σ says
    grid = scattered_grid(0.0)
    basis = scatter_basis(node_scatter(grid))
    assert basis.shape[1] == 3
    assert interpolation_scale(grid, basis) == pytest.approx(1.0, abs=0.15)
    # curvature between nodes adds to it, and the likelihood's noise takes the larger scale
    curved = scattered_grid(1000.0)
    scale = interpolation_scale(curved, scatter_basis(node_scatter(curved)))
    assert scale > 1.5
    flux = curved.flux_array()[25].astype(np.float64)
    like = GridLikelihood(curved, flux, flux / 50, scatter=node_scatter(curved))
    assert like.scatter_scale == pytest.approx(scale)
    # a grid that is linear in log flux has no leave-one-out error: the scatter stays as given
    grid, observed, sigma, node_cov, _, _ = linear_problem(True)
    assert GridLikelihood(grid, observed, sigma, scatter=node_cov).scatter_scale == 1.0


def test_woodbury_matches_the_dense_likelihood():
    grid, observed, sigma, node_cov, _, _ = linear_problem(True)
    like = GridLikelihood(grid, observed, sigma, scatter=node_cov)
    theta = np.array([[0.3, 0.7, np.log(0.03)], [0.8, 0.1, np.log(0.2)]])
    basis = scatter_basis(node_cov)
    for row, value in zip(theta, like(theta), strict=True):
        model, _ = like.model_flux(row[None, :2])
        model = model[0]
        f = np.exp(row[2])
        scale = np.sum(observed * model / sigma**2) / np.sum(model**2 / sigma**2)
        diag = sigma**2 + (f * scale * model) ** 2
        refit = np.sum(observed * model / diag) / np.sum(model**2 / diag)
        diag = sigma**2 + (f * refit * model) ** 2
        cov = np.diag(diag) + cell_factor(row[:2]) * refit**2 * np.outer(model, model) \
            * (basis @ basis.T)
        inverse = np.linalg.inv(cov)
        q_mm = model @ inverse @ model
        best = model @ inverse @ observed / q_mm
        chi2 = observed @ inverse @ observed - best * (model @ inverse @ observed)
        dense = -0.5 * (chi2 + np.linalg.slogdet(cov)[1] + np.log(q_mm * best**2))
        assert value == pytest.approx(dense, rel=1e-9, abs=1e-6)


def test_the_model_error_is_fitted():
    grid, observed, sigma, _, mean, sd = linear_problem(False, noise=0.002)
    rng = np.random.default_rng(3)
    observed = observed * (1 + 0.1 * rng.standard_normal(observed.size))
    like = GridLikelihood(grid, observed, sigma)
    post = sample_grid_posterior(like, starts_near(mean, sd), 4000)
    fitted = np.exp(np.median(post.samples[:, -1]))
    assert 0.07 < fitted < 0.14


def test_the_likelihood_refuses_and_masks():
    grid, observed, sigma, _, _, _ = linear_problem(False)
    with pytest.raises(Exception, match="resample"):
        GridLikelihood(grid, observed[:-1], sigma[:-1])
    like = GridLikelihood(grid, observed, sigma, model_error=False)
    assert np.isneginf(like.log_posterior(np.array([[1.5, 0.5]])))[0]
    bad = observed.copy()
    bad[:5] = np.nan
    assert GridLikelihood(grid, bad, sigma).good.sum() == observed.size - 5


def test_correct_marginalises_axes_the_network_does_not_answer():
    grid, observed, sigma, _, mean, sd = linear_problem(False)
    network = np.random.default_rng(0).normal(mean[0], 0.05, (300, 1))
    result = correct(grid, ["a"], observed, sigma, np.ones(observed.size, bool), network,
                     None, 1000)
    assert result.samples.shape == (1000, 1)
    assert abs(np.median(result.samples[:, 0]) - mean[0]) < 3 * sd[0]
    assert result.posterior.names[:2] == ["a", "b"]
    unknown = correct(grid, ["c"], observed, sigma, np.ones(observed.size, bool), network,
                      None, 100)
    assert unknown.samples is None and "no axis c" in unknown.reason


@pytest.fixture(scope="module")
def toy_models(tmp_path_factory):
    """A Gaussian-head and a flow-head model on a small grid that is linear in log flux."""
    grid = make_toy_grid()
    root = tmp_path_factory.mktemp("grid_posterior")
    small = {"architecture": "mlp", "dense": [32], "dropout": 0.0}
    point = export_toy_model(grid, root, "point", small, epochs=3)
    flow = export_toy_model(grid, root, "flow", {**small, "head": "flow", "flow_hidden": [16],
                                                 "flow_transforms": 1}, epochs=2, loss="nll")
    return grid, {"point": point, "flow": flow}


@pytest.mark.parametrize("kind", ["point", "flow"])
def test_every_head_passes_through_the_correction(toy_models, kind):
    grid, models = toy_models
    truth = {"teff": 1040.0, "logg": 4.3, "mh": 0.1}
    model = grid.interpolate(**truth).astype(np.float64)
    sigma = model / 200
    observed = model + np.random.default_rng(0).normal(0.0, sigma)
    spectrum = ObservedSpectrum(grid.wavelength, 3e-20 * observed, 3e-20 * sigma, name="toy")
    predictor = Predictor(models[kind], grid=grid)
    prediction = predictor.predict(spectrum, n_samples=2000)
    assert prediction.sampling["method"] in ("importance", "mcmc")
    assert "grid posterior" in prediction.summary()
    median = prediction.median
    assert abs(median["teff"] - truth["teff"]) < 15
    assert abs(median["logg"] - truth["logg"]) < 0.1
    fast = Predictor(models[kind], grid=grid, fast=True).predict(spectrum, n_samples=500)
    assert fast.sampling["method"] == "network"
    assert prediction.row()["method"] != fast.row()["method"]


def test_no_answer_lies_outside_the_grid(toy_models, monkeypatch):
    grid, models = toy_models
    observed = grid.interpolate(teff=1200.0, logg=5.0, mh=0.5).astype(np.float64)
    spectrum = ObservedSpectrum(grid.wavelength, observed, observed / 100, name="edge")

    def beyond(self, flux, sigma, n_samples=10000, seed=0):
        """A network that extrapolates 1,500 K past the grid's hot edge (as real T dwarfs
        made the default model do)."""
        rng = np.random.default_rng(seed)
        draws = np.column_stack([rng.normal(2700.0, 50.0, n_samples),
                                 rng.normal(5.3, 0.1, n_samples),
                                 rng.normal(0.7, 0.1, n_samples)])
        return draws[:, None, :]

    monkeypatch.setattr(Predictor, "sample_posterior", beyond)
    for fast in (True, False):
        prediction = Predictor(models["flow"], grid=grid, fast=fast).predict(spectrum, 1000)
        for j, name in enumerate(prediction.names):
            low, high = grid.axis_values(name)[[0, -1]]
            assert low <= prediction.samples[:, j].min()
            assert prediction.samples[:, j].max() <= high
        row = prediction.row()
        assert row["teff_p97.5"] <= 1200.0
        assert "teff" in prediction.limits and prediction.limits["teff"].startswith(">")
        assert "a limit, not a measurement" in prediction.summary()


def test_cli_predict_fast_keeps_the_network_answer(toy_models, tmp_path, capsys):
    from telescopeml.cli import main

    grid, models = toy_models
    flux = grid.interpolate(teff=1000.0, logg=4.5, mh=0.0).astype(np.float64)
    path = tmp_path / "s.txt"
    path.write_text("\n".join(f"{w:.6f} {f:.6e} {f / 100:.6e}"
                              for w, f in zip(grid.wavelength, flux, strict=True)))
    assert main(["-q", "predict", str(models["point"]), str(path), "--samples", "500"]) == 0
    assert "method: grid posterior by" in capsys.readouterr().out
    assert main(["-q", "predict", str(models["point"]), str(path), "--samples", "500",
                 "--fast"]) == 0
    assert "method: network only (--fast)" in capsys.readouterr().out


def test_empirical_layers_say_which_grid_answers_they_read():
    from telescopeml.training.empirical import EmpiricalConfig

    assert EmpiricalConfig().grid_answers == "grid posterior"
    with pytest.raises(ValueError, match="grid_answers must be one of"):
        EmpiricalConfig(grid_answers="guess")
