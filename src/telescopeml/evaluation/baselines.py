"""Classical baselines, computed on the same split as the network.

- ``nearest-grid χ²``: best-scaled χ² match among the training grid spectra;
- ``interpolated χ²``: the same over the training grid plus a dense set of spectra
  interpolated between training nodes (the grid interpolator, no test node used);
- ``random forest``: scikit-learn regression on log-flux features of noisy, interpolated
  training spectra.
"""

from __future__ import annotations

import numpy as np

from telescopeml.data.augment import AugmentConfig, Augmenter
from telescopeml.data.grid import SpectralGrid


def chi2_library(grid: SpectralGrid, train: np.ndarray, n_interpolated: int,
                 seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Flux and labels of a noise-free library: training nodes plus interpolated spectra."""
    config = AugmentConfig(n_interpolated=n_interpolated, noise_free_fraction=1.0)
    batch = Augmenter(grid, train, config, seed=seed).epoch(0)
    return batch.flux, batch.params


def random_forest_baseline(
    features: np.ndarray, params: np.ndarray, seed: int = 0, n_estimators: int = 200
):
    """A fitted scikit-learn random forest (all cores)."""
    from sklearn.ensemble import RandomForestRegressor

    forest = RandomForestRegressor(n_estimators=n_estimators, min_samples_leaf=2,
                                   max_features=0.3, n_jobs=-1, random_state=seed)
    return forest.fit(features, params)
