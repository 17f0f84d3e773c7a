"""Matplotlib figures of grids, training runs, evaluations and predictions, in one style.

Modules by subject: :mod:`~telescopeml.plots.style` (rcParams, labels, colours, saving),
:mod:`~telescopeml.plots.grid` (grid exploration), :mod:`~telescopeml.plots.training` (loss
curves, hyperparameter searches), :mod:`~telescopeml.plots.evaluation` (held-out metrics),
:mod:`~telescopeml.plots.calibration` (coverage, TARP, SBC) and
:mod:`~telescopeml.plots.predict` (posteriors of observed spectra). Every figure function
returns a :class:`matplotlib.figure.Figure` built without pyplot; the names below are
importable from here and load their module (and matplotlib) on first use.
"""

from telescopeml.lazy import lazy_exports

_EXPORTS = {
    **{name: "telescopeml.plots.style" for name in (
        "STYLE", "ParameterColors", "flux_label", "format_node", "format_value",
        "parameter_label", "save_figure", "styled", "unit_label", "unit_latex")},
    **{name: "telescopeml.plots.grid" for name in (
        "correlation_heatmap", "flux_distribution", "grid_coverage", "parameter_histograms",
        "pca_scatter", "reference_node", "spectra_by_parameter", "spectrum_fit")},
    **{name: "telescopeml.plots.training" for name in (
        "log_loss_axis", "loss_curves", "optimization_history", "param_importances")},
    **{name: "telescopeml.plots.evaluation" for name in (
        "metrics_vs_snr", "parity", "residuals", "rmse_over_crlb", "snr_order",
        "window_ablation")},
    **{name: "telescopeml.plots.calibration" for name in (
        "coverage_curve", "sbc_rank_histograms", "tarp_curve")},
    **{name: "telescopeml.plots.predict" for name in (
        "benchmark_figure", "benchmark_plot", "corner_plot", "prediction_fit",
        "save_prediction_plots")},
}
__getattr__ = lazy_exports(__name__, _EXPORTS)
__all__ = sorted(_EXPORTS)
