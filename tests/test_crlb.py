"""The Cramér-Rao bound against closed forms: a Gaussian absorption line in white noise.

Line ``f = A (1 - d g)``, ``g = exp(-(x - μ)² / 2w²)``, on pixels of width ``Δ`` over a
window symmetric about ``μ``, noise ``σ`` per pixel. With ``Σg ≈ √(2π) w/Δ``,
``Σg² ≈ √π w/Δ``, ``Σ g² (x-μ)² ≈ √π w³ / 2Δ`` and ``N`` pixels, in units of ``(A/σ)²``:

- ``F_μμ = d² √π / (2 w Δ)``, uncorrelated with depth and scale (odd integrands), so
  ``σ_μ = σ / (A d) · sqrt(2 w Δ / √π)`` with or without a free scale;
- ``F_dd = Σg²``, ``F_d,lnA = -(Σg - d Σg²)``, ``F_lnA,lnA = N - 2d Σg + d² Σg²``: with a
  free scale ``σ_d² = F_AA / (F_dd F_AA - F_dA²)``, with a known scale ``1 / F_dd``.
"""

from __future__ import annotations

import numpy as np
import pytest

from conftest import jittered_grid
from telescopeml.data.grid import SpectralGrid
from telescopeml.data.scatter import node_scatter
from telescopeml.evaluation.crlb import crlb_report, fisher_bound, grid_bound

AMPLITUDE, WIDTH, STEP, HALF = 2.0, 0.5, 0.01, 10.0
SIGMA = 0.01
X = np.linspace(-HALF, HALF, round(2 * HALF / STEP) + 1)


def line(mu: float, depth: float, amplitude: float = AMPLITUDE) -> np.ndarray:
    return amplitude * (1 - depth * np.exp(-((X - mu) ** 2) / (2 * WIDTH**2)))


def closed_form(depth: float, free_scale: bool) -> tuple[float, float]:
    """(σ_μ, σ_d) of the line at μ = 0."""
    s1 = np.sqrt(2 * np.pi) * WIDTH / STEP
    s2 = np.sqrt(np.pi) * WIDTH / STEP
    f_dd, f_da, f_aa = s2, -(s1 - depth * s2), X.size - 2 * depth * s1 + depth**2 * s2
    var_d = f_aa / (f_dd * f_aa - f_da**2) if free_scale else 1 / f_dd
    sigma_mu = SIGMA / (AMPLITUDE * depth) * np.sqrt(2 * WIDTH * STEP / np.sqrt(np.pi))
    return sigma_mu, SIGMA / AMPLITUDE * np.sqrt(var_d)


def white(flux: np.ndarray, snr: float) -> np.ndarray:
    return np.full_like(flux, 1.0 / snr, dtype=np.float64)


def line_grid(mus, depths, drop=()) -> SpectralGrid:
    nodes = [(m, d) for m in mus for d in depths if (m, d) not in drop]
    return SpectralGrid(params={"mu": [m for m, _ in nodes], "depth": [d for _, d in nodes]},
                        wavelength=X + 2 * HALF, flux=[line(m, d) for m, d in nodes])


@pytest.mark.parametrize("free_scale", [True, False])
def test_fisher_bound_matches_the_closed_form(free_scale):
    depth = 0.3
    g = np.exp(-(X**2) / (2 * WIDTH**2))
    f = line(0.0, depth)
    dlog = np.stack([AMPLITUDE * depth * g * X / WIDTH**2, -AMPLITUDE * g]) / f
    bound = fisher_bound(f, dlog, np.full_like(X, SIGMA), free_scale)
    assert bound == pytest.approx(closed_form(depth, free_scale), rel=1e-6)


def test_the_grid_bound_from_central_differences_matches_the_closed_form():
    grid = line_grid([-0.01, 0.0, 0.01], [0.29, 0.30, 0.31])
    centre = int(np.flatnonzero((grid.params["mu"] == 0) & (grid.params["depth"] == 0.3))[0])
    result = grid_bound(grid, np.arange(len(grid)), [1 / SIGMA], noise=white)
    assert result.names == ["mu", "depth"]
    assert result.defined.sum() == 1 and result.defined[centre]
    bound = result.bound[1 / SIGMA]
    assert bound[centre] == pytest.approx(closed_form(0.3, True), rel=2e-3)
    assert np.isnan(np.delete(bound, centre, axis=0)).all()
    assert result.undefined() == {"on the edge of mu": 6, "on the edge of depth": 2}
    assert result.rms(1 / SIGMA) == pytest.approx(dict(zip(result.names, bound[centre],
                                                           strict=True)))


def test_a_missing_neighbour_leaves_the_bound_undefined_with_its_reason():
    grid = line_grid([-0.01, 0.0, 0.01], [0.29, 0.30, 0.31], drop=[(0.01, 0.30)])
    result = grid_bound(grid, np.arange(len(grid)), [100.0], noise=white)
    assert not result.defined.any()
    assert result.undefined()["a neighbour along mu is missing"] == 1
    assert np.isnan(result.rms(100.0)["mu"])


def test_a_pure_flux_level_parameter_has_no_bound_with_a_free_scale():
    levels, mus = [0.9, 1.0, 1.1], [-0.01, 0.0, 0.01]
    nodes = [(a, m) for a in levels for m in mus]
    grid = SpectralGrid(params={"level": [a for a, _ in nodes], "mu": [m for _, m in nodes]},
                        wavelength=X + 2 * HALF,
                        flux=[line(m, 0.3, amplitude=a) for a, m in nodes])
    centre = nodes.index((1.0, 0.0))
    free = grid_bound(grid, [centre], [1 / SIGMA], noise=white).bound[1 / SIGMA][0]
    assert free[0] == np.inf
    # the line's amplitude is 1 here, not AMPLITUDE: σ_μ ∝ 1 / A
    assert free[1] == pytest.approx(AMPLITUDE * closed_form(0.3, True)[0], rel=2e-3)
    fixed = grid_bound(grid, [centre], [1 / SIGMA], free_scale=False,
                       noise=white).bound[1 / SIGMA][0]
    # a known scale: f = level · shape, so σ_level = σ / sqrt(Σ shape²) (shape ⟂ ∂shape/∂μ)
    shape = line(0.0, 0.3, amplitude=1.0)
    assert fixed[0] == pytest.approx(SIGMA / np.sqrt(np.sum(shape**2)), rel=1e-2)


def test_default_noise_bound_scales_as_one_over_snr_and_reports(toy_grid):
    result = grid_bound(toy_grid, np.arange(len(toy_grid)), [10.0, 30.0, 100.0])
    interior = result.defined
    assert interior.sum() == 2  # 4 x 3 x 3: teff 1000 and 1100 at logg 4.5, mh 0
    assert result.bound[10.0][interior] == pytest.approx(10 * result.bound[100.0][interior],
                                                         rel=1e-4)
    rmse = {"30": {n: {"rmse": 2 * v} for n, v in result.rms(30.0).items()}}
    report = crlb_report(result, interior, ["teff", "mh"], rmse)
    assert set(report["interior"]) == set(report["all"]) == {"10", "30", "100"}
    assert set(report["interior"]["30"]) == {"teff", "mh"}
    assert report["n_defined"] == 2 and report["n_undefined"] == len(toy_grid) - 2
    assert sum(report["undefined"].values()) == report["n_undefined"]
    assert report["ratio"]["interior"] == {"30": pytest.approx({"teff": 2.0, "mh": 2.0})}


def test_evaluation_reports_the_bound_on_the_test_points(toy_grid, tmp_path):
    from telescopeml.evaluation.evaluate import crlb
    from telescopeml.training.experiment import ExperimentConfig, prepare

    config = ExperimentConfig.from_dict({"data": {
        "grid": str(toy_grid.to_hdf5(tmp_path / "toy.h5")), "instrument": "",
        "fractions": (0.5, 0.1, 0.4), "split_seed": 4}})  # one interior test point
    prepared = prepare(config, quiet=True)
    interior = {"30": {n: {"rmse": 1.0} for n in prepared.targets}}
    report = crlb(prepared, interior)
    assert report["n_points"] == len(prepared.split.test)
    assert report["n_defined"] + report["n_undefined"] == report["n_points"]
    assert set(report["all"]) == {"10", "30", "100"} and report["n_defined"] == 1
    assert report["ratio"]["interior"] == {"30": pytest.approx(
        {n: 1.0 / b for n, b in report["interior"]["30"].items()})}
    held_out = report["held_out"]["interior"]["30"]
    assert all(held_out[n] >= b for n, b in report["interior"]["30"].items())
    assert report["ratio"]["held_out"] == {"30": pytest.approx(
        {n: 1.0 / b for n, b in held_out.items()})}


def test_white_scatter_in_log_flux_is_a_wider_sigma():
    # C = diag(σ²) + f (τ² I) f = diag(σ² + τ² f²): the bound of that diagonal noise
    depth, tau = 0.3, 0.02
    g = np.exp(-(X**2) / (2 * WIDTH**2))
    f = line(0.0, depth)
    dlog = np.stack([AMPLITUDE * depth * g * X / WIDTH**2, -AMPLITUDE * g]) / f
    sigma = np.full_like(X, SIGMA)
    wide = fisher_bound(f, dlog, np.sqrt(sigma**2 + tau**2 * f**2))
    assert fisher_bound(f, dlog, sigma, scatter=tau**2 * np.eye(X.size)) == \
        pytest.approx(wide, rel=1e-6)
    assert (wide > fisher_bound(f, dlog, sigma)).all()


def test_node_scatter_recovers_independent_node_jitter():
    grid, truth, _ = jittered_grid(0.01)
    centre = np.eye(len(truth)) - 1.0 / len(truth)  # the residuals lose their mean (scale)
    truth = centre @ truth @ centre
    estimate = node_scatter(grid)
    assert np.trace(estimate) == pytest.approx(np.trace(truth), rel=0.1)
    # each pixel's variance is known to ~15%; its shape across pixels must come through
    assert np.corrcoef(np.diag(estimate), np.diag(truth))[0, 1] > 0.9
    assert np.linalg.eigvalsh(estimate).min() > -1e-15


def test_a_smooth_grid_has_no_scatter_and_its_held_out_bound_is_the_crlb():
    grid, _, _ = jittered_grid(0.0)
    scatter = node_scatter(grid)
    assert np.abs(scatter).max() < 1e-12  # float32 rounding; the jitter below is 1e-4
    points = np.flatnonzero(grid_bound(grid, np.arange(len(grid)), [30.0]).defined)
    plain = grid_bound(grid, points, [30.0]).bound[30.0]
    held_out = grid_bound(grid, points, [30.0], scatter=scatter).bound[30.0]
    assert held_out == pytest.approx(plain, rel=1e-6)
    noisy, _, _ = jittered_grid(0.01)
    wider = grid_bound(noisy, points, [30.0], scatter=node_scatter(noisy)).bound[30.0]
    assert (wider > grid_bound(noisy, points, [30.0]).bound[30.0]).all()


def test_node_scatter_needs_two_axes():
    assert node_scatter(line_grid([0.0, 0.1, 0.2], [0.3])) is None


def test_rmse_over_crlb_figure():
    from telescopeml.plots import rmse_over_crlb

    ratio = {"10": {"teff": 3.0, "logg": 1.5}, "30": {"teff": 4.0, "logg": 2.5},
             "100": {"teff": 8.0}}
    fig = rmse_over_crlb(ratio, ["teff", "logg"])
    ax = fig.axes[0]
    assert ax.get_yscale() == "log" and ax.get_xscale() == "log"
    assert len(ax.get_lines()) == 4  # two parameters, the lines at 1 and 2
    held_out = {k: {n: v / 3 for n, v in row.items()} for k, row in ratio.items()}
    dashed = rmse_over_crlb(ratio, ["teff", "logg"], held_out).axes[0].get_lines()
    assert len(dashed) == 6
    assert [line.get_linestyle() for line in dashed[:2]] == ["-", "--"]
    assert list(ax.get_lines()[0].get_ydata()) == [3.0, 4.0, 8.0]


def test_the_cli_table_shows_both_bounds_and_ratios():
    from telescopeml.cli.evaluate import crlb_table

    grid, _, _ = jittered_grid(0.01)
    points = np.arange(len(grid))
    plain = grid_bound(grid, points, [30.0])
    held = grid_bound(grid, points, [30.0], scatter=node_scatter(grid))
    rmse = {"30": {n: {"rmse": 0.5} for n in plain.names}}
    text = crlb_table(crlb_report(plain, plain.defined, plain.names, rmse, held))
    lines = text.splitlines()
    assert lines[0].startswith("Cramér-Rao bound") and lines[2].startswith("Held-out bound")
    assert "RMSE/CRLB" in lines[1] and "RMSE/bound" in lines[3]
    assert "Held-out" not in crlb_table(crlb_report(plain, plain.defined, plain.names, rmse))
