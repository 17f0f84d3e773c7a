"""Every figure function builds a Figure that save_figure writes as PNG and PDF."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.figure import Figure

from telescopeml import plots
from telescopeml.data.grid import SpectralGrid


def _training_arrays():
    rng = np.random.default_rng(0)
    truth = np.column_stack([rng.choice([900.0, 1000.0, 1100.0], 40),
                             rng.choice([4.0, 4.5, 5.0], 40)])
    predicted = truth + rng.normal(0, [20.0, 0.1], size=truth.shape)
    return truth, predicted, ["teff", "logg"], rng.uniform(size=40) < 0.3


def _metrics():
    table = {k: {"teff": {"rmse": r, "mae": r, "bias": 0.0, "r2": 0.9},
                 "logg": {"rmse": r / 100, "mae": r / 100, "bias": 0.0, "r2": 0.8}}
             for k, r in (("10", 60.0), ("30", 40.0), ("clean", 30.0))}
    return {"network": table, "random_forest": table}


FIGURES = {
    "spectra_by_parameter": lambda g: plots.spectra_by_parameter(g),
    "spectra_by_parameter_fixed": lambda g: plots.spectra_by_parameter(g, {"teff": 1200}),
    "grid_coverage": plots.grid_coverage,
    "parameter_histograms": plots.parameter_histograms,
    "flux_distribution": plots.flux_distribution,
    "correlation_heatmap": lambda g: plots.correlation_heatmap(
        g.wavelength, {"a": np.zeros((3, g.n_wavelengths)),
                       "b": np.full((3, g.n_wavelengths), np.nan)},
        g.axes, reference=g.flux[0]),
    "pca_scatter": lambda g: plots.pca_scatter(
        np.random.default_rng(0).normal(size=(len(g), 3)), np.array([0.6, 0.3, 0.1]),
        dict(g.params), title="PCA"),
    "spectrum_fit": lambda g: plots.spectrum_fit(
        g.wavelength, g.flux[0] * 1.01, g.flux[0] * 0.02, g.flux[:2],
        [g.label(0), g.label(1)], [1.1, 5.0], name="toy", flux_unit=g.flux_unit),
    "spectrum_fit_uncalibrated": lambda g: plots.spectrum_fit(
        g.wavelength, g.flux[0], None, g.flux[0], [g.label(0)]),
    "loss_curves": lambda g: plots.loss_curves(
        [{"epoch": e, "train_loss": 1.0 / e, "val_loss": 1.2 / e, "lr": 1e-3 / e}
         for e in range(1, 6)]),
    "loss_curves_no_lr": lambda g: plots.loss_curves(
        [{"epoch": e, "train_loss": -1.0 / e, "val_loss": 1.0} for e in range(1, 4)]),
    "loss_curves_best_epoch": lambda g: plots.loss_curves(
        [{"epoch": e, "train_loss": 1.0 / e, "val_loss": 1.0} for e in range(1, 4)],
        best_epoch=2, loss="huber", title="best trial (3)"),
    "optimization_history": lambda g: plots.optimization_history(
        [(0, 2.0), (2, 1.0), (3, 1.5)], [(1, 3.0)]),
    "optimization_history_empty": lambda g: plots.optimization_history([]),
    "param_importances": lambda g: plots.param_importances({"train.lr": 0.7, "model.x": 0.3}),
    "param_importances_none": lambda g: plots.param_importances({}, "one trial"),
    "parity": lambda g: plots.parity(*_training_arrays(), title="S/N 30"),
    "residuals": lambda g: plots.residuals(*_training_arrays()),
    "metrics_vs_snr": lambda g: plots.metrics_vs_snr(_metrics(), ["teff", "logg"]),
    "window_ablation": lambda g: plots.window_ablation(_ablation(), ["teff", "logg"]),
}


def _ablation():
    return {label: {"rmse": {"teff": 50.0 * f, "logg": 0.2 * f},
                    "width68": {"teff": 80.0 * f, "logg": 0.3 / f}}
            for label, f in (("all", 1.0), ("1-2.5", 1.5), ("3-4", 3.0))}


@pytest.mark.parametrize("name", sorted(FIGURES))
def test_each_figure_is_saved_as_png_and_pdf(name, toy_grid, tmp_path):
    fig = FIGURES[name](toy_grid)
    assert isinstance(fig, Figure)
    paths = plots.save_figure(fig, tmp_path / "sub" / name)
    assert [p.name for p in paths] == [f"{name}.png", f"{name}.pdf"]
    assert paths[0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert paths[1].read_bytes()[:5] == b"%PDF-"


def test_coverage_of_an_incomplete_grid(toy_grid, tmp_path):
    grid = toy_grid.take(np.arange(1, len(toy_grid)))
    fig = plots.grid_coverage(grid)
    assert "35 of 36 parameter combinations" in fig.get_suptitle()
    plots.save_figure(fig, tmp_path / "coverage")


def test_labels_use_symbols_and_units():
    assert plots.parameter_label("teff") == r"$T_\mathrm{eff}$ [K]"
    assert "cloud-free" in plots.parameter_label("inv_fsed")
    assert plots.parameter_label("teff", unit=False) == r"$T_\mathrm{eff}$"
    assert plots.parameter_label("something") == "something"
    assert plots.unit_latex("erg / (s cm2 um)") == r"$\mathrm{erg\,s^{-1}\,cm^{-2}\,\mu m^{-1}}$"
    assert "10^{-17}" in plots.unit_latex("1e-17 erg / (s cm2 Angstrom)")
    assert plots.flux_label("") == "Relative flux (uncalibrated)"
    assert plots.format_value(1200.0) == "1200"
    assert plots.format_value(1 / 3) == "0.333"
    assert plots.format_node({"teff": 1200.0, "logg": 5.0}) == (
        r"$T_\mathrm{eff}$ = 1200 K, $\log\,g$ = 5")
    assert plots.snr_order(["clean", "100", "10"]) == ["10", "100", "clean"]


def test_reference_node_snaps_to_an_existing_spectrum(toy_grid):
    assert plots.reference_node(toy_grid) == {"teff": 1000.0, "logg": 4.5, "mh": 0.0}
    assert plots.reference_node(toy_grid, {"teff": 1180})["teff"] == 1200.0
    missing = toy_grid.take([i for i in range(len(toy_grid))
                             if toy_grid.label(i) != {"teff": 1000.0, "logg": 4.5, "mh": 0.0}])
    node = plots.reference_node(missing)
    assert node in [missing.label(i) for i in range(len(missing))]
    with pytest.raises(ValueError, match="unknown parameter"):
        plots.reference_node(toy_grid, {"nope": 1})


def test_parameter_colors_discrete_and_continuous():
    few = plots.ParameterColors("teff", np.array([900.0, 1000.0, 900.0]))
    assert few.discrete and few.levels.tolist() == [900.0, 1000.0]
    assert few.scalars(np.array([1000.0, 900.0])).tolist() == [1, 0]
    assert few.color(900.0) != few.color(1000.0)
    many = plots.ParameterColors("logg", np.linspace(3, 5, 100))
    assert not many.discrete
    assert many.scalars(np.array([4.0])).tolist() == [4.0]


def test_one_axis_grid(tmp_path):
    wavelength = np.linspace(1.0, 2.0, 20)
    grid = SpectralGrid(params={"teff": np.array([900.0, 1000.0, 1100.0])},
                        wavelength=wavelength, flux=np.exp(-np.outer([1, 2, 3], wavelength)))
    for fig in (plots.spectra_by_parameter(grid), plots.grid_coverage(grid),
                plots.parameter_histograms(grid)):
        plots.save_figure(fig, tmp_path / "one")


def test_spectrum_fit_residuals_use_the_chi2_sigma(toy_grid):
    """With a model term, the residual panel divides by σ_tot (as the χ² did) and says so."""
    w, model = toy_grid.wavelength, toy_grid.flux[0]
    observed, sigma = model * 1.1, model * 1e-3
    fig = plots.spectrum_fit(w, observed, sigma, model, [toy_grid.label(0)], [4.0],
                             flux_unit=toy_grid.flux_unit, model_fraction=0.05)
    top, bottom = fig.axes
    expected = (observed - model) / np.hypot(sigma, 0.05 * model)
    np.testing.assert_allclose(bottom.lines[0].get_ydata(), expected)
    assert "sigma_{tot}" in bottom.get_ylabel()
    assert any("5% model" in t.get_text() for t in bottom.texts)
    assert any("5% model" in t.get_text() for t in top.get_legend().get_texts())
    plain = plots.spectrum_fit(w, observed, sigma, model, [toy_grid.label(0)], [4.0],
                               flux_unit=toy_grid.flux_unit).axes[1]
    np.testing.assert_allclose(plain.lines[0].get_ydata(), (observed - model) / sigma)
    assert "sigma_{obs}" in plain.get_ylabel() and not plain.texts


def test_prediction_fit_residuals_use_the_chi2_sigma():
    from telescopeml.prediction import Prediction

    w = np.linspace(1.0, 2.0, 30)
    model = np.exp(-w)
    prediction = Prediction(
        source="J0000+0000", names=["teff"], samples=np.full((10, 1), 1000.0), wavelength=w,
        observed=model * 1.2, uncertainty=model * 1e-3, best_fit=model, chi2_red=10.9,
        model_fraction=0.05)
    top, bottom = plots.prediction_fit(prediction).axes
    expected = 0.2 * model / np.hypot(1e-3 * model, 0.05 * model)
    np.testing.assert_allclose(bottom.lines[0].get_ydata(), expected)
    assert "sigma_{tot}" in bottom.get_ylabel()
    assert any("10.9" in t.get_text() and "5% model" in t.get_text()
               for t in top.get_legend().get_texts())
    assert prediction.to_json()["best_fit"]["model_fraction"] == 0.05


def test_loss_axis_is_log_only_for_positive_losses():
    positive = [{"epoch": 1, "train_loss": 1.0, "val_loss": 2.0}]
    negative = [{"epoch": 1, "train_loss": -1.0, "val_loss": 2.0}]
    assert plots.log_loss_axis(positive) and not plots.log_loss_axis(negative)
    assert plots.loss_curves(positive).axes[0].get_yscale() == "log"
    assert plots.loss_curves(negative).axes[0].get_yscale() == "linear"


def test_window_ablation_has_one_cell_per_window_and_parameter():
    fig = plots.window_ablation(_ablation(), ["teff", "logg"], title="toy")
    panels = [ax for ax in fig.axes if ax.images]
    assert len(panels) == 2  # RMSE and posterior width
    for ax in panels:
        assert ax.images[0].get_array().shape == (3, 2)
        assert len(ax.texts) == 6
    assert [t.get_text() for t in panels[0].get_yticklabels()] == ["all", "1-2.5", "3-4"]
    # colours are ratios to the first row (log2): 3x worse is log2(3)
    assert panels[0].images[0].get_array()[2, 0] == pytest.approx(np.log2(3.0))
