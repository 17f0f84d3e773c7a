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

How wrong a flow's widths are depends on the noise: the shipped Diamondback model was
over-confident at S/N 10 and too cautious at S/N 100. A :class:`Recalibration` therefore
holds one curve per validation S/N and interpolates between them (in log S/N) at each
spectrum's own S/N, the median of ``flux / sigma`` over its pixels.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

#: Credibility levels at which the stretch is fitted; it is interpolated in between and
#: held constant outside.
LEVELS = np.round(np.linspace(0.05, 0.99, 48), 4)
#: S/N assumed when a caller gives none.
DEFAULT_SNR = 30.0


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
    (from :func:`fit_stretch`; ``(len(levels), n_params)``, or one such table per spectrum,
    ``(n_spectra, len(levels), n_params)``) about each posterior's median; same shape."""
    n = u.shape[0]
    ranks = np.argsort(np.argsort(u, axis=0), axis=0)
    level = np.abs(2.0 * (ranks + 0.5) / n - 1.0)
    per_spectrum = np.broadcast_to(factors, (u.shape[1], *np.shape(factors)[-2:]))
    factor = np.empty(u.shape, dtype=np.float64)
    for b in range(u.shape[1]):
        for j in range(u.shape[-1]):
            factor[:, b, j] = np.interp(level[:, b, j], levels, per_spectrum[b, :, j])
    median = np.median(u, axis=0)
    stretched = median + factor * (u - median)
    return np.take_along_axis(np.sort(stretched, axis=0), ranks, axis=0).astype(u.dtype)


def spectrum_snr(flux: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    """S/N of each spectrum: the median over pixels of ``flux / sigma`` (as in training)."""
    return np.median(np.asarray(flux, np.float64) / np.asarray(sigma, np.float64), axis=-1)


@dataclass
class Recalibration:
    """Stretch curves at several S/N: ``factors[k]`` (``(len(levels), n_params)``) was fitted
    on validation spectra of S/N ``snr[k]``."""

    levels: np.ndarray
    snr: np.ndarray
    factors: np.ndarray

    def __post_init__(self) -> None:
        self.levels = np.asarray(self.levels, dtype=np.float64)
        self.snr = np.atleast_1d(np.asarray(self.snr, dtype=np.float64))
        self.factors = np.asarray(self.factors, dtype=np.float64).reshape(
            len(self.snr), len(self.levels), -1)
        if (np.any(np.diff(self.levels) <= 0) or np.any(np.diff(self.snr) <= 0)
                or np.any(self.snr <= 0) or np.any(self.factors <= 0)):
            raise ValueError("a recalibration needs increasing levels and S/N, and positive "
                             "factors of shape (n_snr, n_levels, n_params)")

    @classmethod
    def fit(cls, u: np.ndarray, truth: np.ndarray, snr: np.ndarray,
            levels: np.ndarray = LEVELS) -> Recalibration:
        """One curve per distinct S/N in ``snr`` (``(n_spectra,)``, the S/N each validation
        spectrum was drawn at)."""
        snr = np.asarray(snr, np.float64)
        nodes = np.unique(snr)
        factors = [fit_stretch(u[:, snr == node], truth[snr == node], levels) for node in nodes]
        return cls(levels, nodes, np.asarray(factors))

    def factors_at(self, snr: np.ndarray | float) -> np.ndarray:
        """``(n_spectra, n_levels, n_params)`` factors, linear in log S/N between nodes and
        constant beyond them."""
        log_snr = np.log10(np.clip(np.atleast_1d(np.asarray(snr, np.float64)), 1e-3, None))
        nodes = np.log10(self.snr)
        if len(nodes) == 1:
            return np.broadcast_to(self.factors[0], (len(log_snr), *self.factors.shape[1:]))
        k = np.clip(np.searchsorted(nodes, log_snr) - 1, 0, len(nodes) - 2)
        w = np.clip((log_snr - nodes[k]) / (nodes[k + 1] - nodes[k]), 0.0, 1.0)
        return ((1 - w)[:, None, None] * self.factors[k] + w[:, None, None] *
                self.factors[k + 1])

    def apply(self, u: np.ndarray, snr: np.ndarray | float | None = None) -> np.ndarray:
        """Recalibrate samples ``u`` ``(n_samples, n_spectra, n_params)`` of spectra with
        S/N ``snr`` (one per spectrum, or one for all; None: :data:`DEFAULT_SNR`)."""
        snr = np.broadcast_to(np.asarray(DEFAULT_SNR if snr is None else snr, np.float64),
                              (u.shape[1],))
        return apply_stretch(u, self.levels, self.factors_at(snr))

    def to_dict(self, names: Sequence[str]) -> dict[str, Any]:
        """The manifest's ``posterior.stretch`` section."""
        return {"levels": self.levels.tolist(), "snr": self.snr.tolist(),
                "factors": {n: self.factors[:, :, j].tolist() for j, n in enumerate(names)}}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], names: Sequence[str]) -> Recalibration:
        """Inverse of :meth:`to_dict` (a section without ``snr`` holds one curve)."""
        factors = np.stack([np.asarray(data["factors"][n], dtype=np.float64).reshape(
            -1, len(data["levels"])) for n in names], axis=-1)
        return cls(data["levels"], data.get("snr", [30.0]), factors)
