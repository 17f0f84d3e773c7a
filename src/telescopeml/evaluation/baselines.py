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


def chi2_best_match(
    library_flux: np.ndarray, flux: np.ndarray, sigma: np.ndarray, chunk: int = 256
) -> tuple[np.ndarray, np.ndarray]:
    """Index of the best-scaled χ² match in ``library_flux`` for each observed spectrum.

    The flux scale factor is solved analytically per pair, so absolute calibration does not
    matter. Returns ``(best_index, reduced_chi2)``.
    """
    model = np.asarray(library_flux, dtype=np.float64)
    model_sq_t = (model**2).T
    model_t = model.T
    best = np.empty(len(flux), dtype=np.int64)
    chi2 = np.empty(len(flux))
    dof = max(flux.shape[1] - 1, 1)
    for start in range(0, len(flux), chunk):
        f = np.asarray(flux[start:start + chunk], dtype=np.float64)
        w = 1.0 / np.asarray(sigma[start:start + chunk], dtype=np.float64) ** 2
        cross = (f * w) @ model_t
        norm = w @ model_sq_t
        total = np.sum(f * f * w, axis=1, keepdims=True)
        values = total - cross**2 / norm
        idx = np.argmin(values, axis=1)
        best[start:start + chunk] = idx
        chi2[start:start + chunk] = values[np.arange(len(idx)), idx] / dof
    return best, chi2


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
