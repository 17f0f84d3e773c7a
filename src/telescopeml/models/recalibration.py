"""Recalibrating posterior samples with a level-dependent stretch, fitted on validation data.

A flow trained by maximum likelihood rarely has the right width at every credibility level:
on the shipped Diamondback model the 68% intervals of log g and [M/H] were too wide while
their 95% intervals were about right, because the errors have heavier tails than the flow's
shape. One stretch factor per parameter cannot fix both levels. Here the stretch depends on
the level: in the flow's unconstrained space, a sample lying on the boundary of its
posterior's central ``α`` interval is moved away from the posterior median by a factor
``s(α)``, so the central ``α`` interval becomes ``m + s(α) (q_α - m)``.

``s(α)`` has a closed form (in the spirit of Kuleshov et al. 2018, ICML, who recalibrate
levels rather than widths): for each validation spectrum, ``r(α)`` is the stretch its
truth needs to fall inside its ``α`` interval, and ``s(α)`` is the ``α``-quantile of
``r(α)`` over the validation spectra, so that exactly a fraction ``α`` of them is covered.
Unlike a map of levels, the stretch can widen intervals beyond the range of the samples.
Samples whose stretched values would change order are rearranged (sorted back into their
ranks; Chernozhukov et al. 2010), which keeps each marginal a valid distribution and the
dependence between parameters (the ranks) untouched.
"""

from __future__ import annotations

import numpy as np

#: Credibility levels at which the stretch is fitted; it is interpolated in between and
#: held constant outside.
LEVELS = np.round(np.linspace(0.05, 0.99, 48), 4)


def fit_stretch(u: np.ndarray, truth: np.ndarray,
                levels: np.ndarray = LEVELS) -> np.ndarray:
    """``(len(levels), n_params)`` stretch factors from validation posteriors.

    Parameters
    ----------
    u
        ``(n_samples, n_spectra, n_params)`` posterior samples in the unconstrained space.
    truth
        ``(n_spectra, n_params)`` true values in the same space.
    levels
        Credibility levels, increasing.
    """
    u = np.asarray(u, dtype=np.float64)
    truth = np.asarray(truth, dtype=np.float64)
    median = np.median(u, axis=0)
    low = np.quantile(u, (1 - levels) / 2, axis=0)  # (levels, spectra, params)
    high = np.quantile(u, (1 + levels) / 2, axis=0)
    tiny = 1e-12
    needed = np.where(truth > median, (truth - median) / np.maximum(high - median, tiny),
                      (median - truth) / np.maximum(median - low, tiny))
    factors = np.array([np.quantile(needed[i], level, axis=0)
                        for i, level in enumerate(levels)])
    return np.clip(factors, 0.05, 20.0)  # degenerate posteriors aside, never wild


def apply_stretch(u: np.ndarray, levels: np.ndarray, factors: np.ndarray) -> np.ndarray:
    """Stretch samples ``u`` ``(n_samples, n_spectra, n_params)`` by ``factors`` at ``levels``
    (from :func:`fit_stretch`) about each posterior's median; same shape and dtype."""
    n = u.shape[0]
    ranks = np.argsort(np.argsort(u, axis=0), axis=0)
    level = np.abs(2.0 * (ranks + 0.5) / n - 1.0)
    factor = np.empty(u.shape, dtype=np.float64)
    for j in range(u.shape[-1]):
        factor[..., j] = np.interp(level[..., j], levels, factors[:, j])
    median = np.median(u, axis=0)
    stretched = median + factor * (u - median)
    return np.take_along_axis(np.sort(stretched, axis=0), ranks, axis=0).astype(u.dtype)
