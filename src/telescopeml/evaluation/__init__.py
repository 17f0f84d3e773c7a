"""Evaluation: metrics on held-out grid points, baselines, benchmarks on real spectra."""

from telescopeml.evaluation.metrics import regression_metrics

__all__ = ["regression_metrics"]
