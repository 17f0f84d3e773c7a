"""Calibration of posterior samples: coverage, TARP and SBC ranks; compute, then check.

Every function takes ``samples`` of shape ``(n_samples, n_spectra, n_params)`` (the layout of
:meth:`telescopeml.models.Posterior.sample`) and the true values ``truth`` of shape
``(n_spectra, n_params)``, and returns arrays and numbers; figures are drawn by
:mod:`telescopeml.plots.calibration`.

Coverage and SBC both use the truth's rank ``k`` among the samples (the number of samples
below it). Its mid-rank quantile ``u = (k + 1/2) / (n_samples + 1)`` is uniform on (0, 1)
when the posterior is calibrated, and the truth lies in the central interval of credibility
``c`` (between the sample quantiles ``(1 - c)/2`` and ``(1 + c)/2``) when ``|u - 1/2| <= c/2``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy import stats

#: Credibility levels of :func:`coverage` when none are given.
LEVELS = np.linspace(0.0, 1.0, 21)
#: TARP credibility levels ``alpha``.
TARP_ALPHA = np.linspace(0.0, 1.0, 101)


def _arrays(samples: np.ndarray, truth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    samples, truth = np.asarray(samples), np.asarray(truth)
    if truth.ndim == 1:
        samples, truth = samples[..., None], truth[:, None]
    if samples.ndim != 3 or samples.shape[1:] != truth.shape:
        raise ValueError(f"samples {samples.shape} must be (n_samples, *truth.shape) with "
                         f"truth (n_spectra, n_params), got truth {truth.shape}")
    return samples, truth


def sbc_ranks(samples: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Rank of each truth among its samples (Talts et al. 2018, arXiv:1804.06788).

    Returns
    -------
    numpy.ndarray
        ``(n_spectra, n_params)`` integers in ``0 .. n_samples``: the number of samples
        below the truth. Uniform over those values when the posterior is calibrated.
    """
    samples, truth = _arrays(samples, truth)
    return (samples < truth).sum(axis=0)


def sbc_histogram(ranks: np.ndarray, n_samples: int, bins: int = 20, level: float = 0.99
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Histogram of SBC ranks and the band a uniform histogram stays in.

    Returns
    -------
    edges
        ``(bins + 1,)`` bin edges on the rank axis ``[0, n_samples + 1]``.
    counts
        ``(bins, n_params)`` ranks per bin.
    expected
        ``(bins,)`` mean count per bin under uniformity (bins may hold unequal numbers of
        rank values).
    band
        ``(2, bins)``: central ``level`` interval of each bin's count under uniformity
        (binomial).
    """
    ranks = np.asarray(ranks)
    ranks = ranks[:, None] if ranks.ndim == 1 else ranks
    bins = min(bins, n_samples + 1)
    which = ranks * bins // (n_samples + 1)
    counts = np.stack([np.bincount(col, minlength=bins) for col in which.T], axis=1)
    per_bin = np.bincount(np.arange(n_samples + 1) * bins // (n_samples + 1), minlength=bins)
    p = per_bin / (n_samples + 1)
    n = len(ranks)
    band = stats.binom.ppf(np.array([[(1 - level) / 2], [(1 + level) / 2]]), n, p)
    edges = np.linspace(0.0, n_samples + 1.0, bins + 1)
    return edges, counts, n * p, band


def sbc_pvalues(ranks: np.ndarray, n_samples: int, bins: int = 20) -> np.ndarray:
    """Chi-square p-value of the rank histogram's uniformity, per parameter ``(n_params,)``."""
    _, counts, expected, _ = sbc_histogram(ranks, n_samples, bins)
    chi2 = ((counts - expected[:, None]) ** 2 / expected[:, None]).sum(axis=0)
    return stats.chi2.sf(chi2, len(expected) - 1)


def coverage(samples: np.ndarray, truth: np.ndarray,
             levels: Sequence[float] | np.ndarray = LEVELS) -> np.ndarray:
    """Fraction of truths inside the central credible interval at each level.

    Returns
    -------
    numpy.ndarray
        ``(len(levels), n_params)``; equals ``levels`` for a calibrated posterior, lies
        below for an over-confident or biased one.
    """
    samples, _ = _arrays(samples, truth)
    u = (sbc_ranks(samples, truth) + 0.5) / (len(samples) + 1)
    half = np.asarray(levels, dtype=np.float64)[:, None, None] / 2
    return (np.abs(u - 0.5) <= half).mean(axis=1)


def tarp(samples: np.ndarray, truth: np.ndarray, n_references: int = 10, seed: int = 0,
         alpha: np.ndarray = TARP_ALPHA) -> tuple[np.ndarray, np.ndarray, float]:
    """TARP expected coverage probability (Lemos et al. 2023, arXiv:2302.03026).

    Samples and truths are scaled so that the truths span the unit box; each spectrum gets a
    reference point drawn uniformly in that box, and its credibility is the fraction of its
    samples closer to the reference than its truth (mid-rank, as in :func:`coverage`).
    The expected coverage ``ecp(alpha)`` is the fraction of spectra with credibility below
    ``alpha``, averaged over ``n_references`` independent draws of the references.

    Returns
    -------
    alpha, ecp
        The curve; ``ecp == alpha`` for a calibrated posterior.
    distance
        ``max |ecp - alpha|``, the curve's largest distance from the diagonal.
    """
    samples, truth = _arrays(samples, truth)
    low, high = truth.min(axis=0), truth.max(axis=0)
    scale = np.where(high > low, high - low, 1.0)
    samples = ((samples - low) / scale).astype(np.float32)
    truth = ((truth - low) / scale).astype(np.float32)
    rng = np.random.default_rng(seed)
    alpha = np.asarray(alpha, dtype=np.float64)
    ecp = np.zeros_like(alpha)
    for _ in range(n_references):
        ref = rng.uniform(size=truth.shape).astype(np.float32)
        d_samples = np.square(samples - ref).sum(axis=-1)
        d_truth = np.square(truth - ref).sum(axis=-1)
        f = ((d_samples < d_truth).sum(axis=0) + 0.5) / (len(samples) + 1)
        ecp += (f[None, :] <= alpha[:, None]).mean(axis=1)
    ecp /= n_references
    return alpha, ecp, float(np.abs(ecp - alpha).max())


@dataclass
class CalibrationCheck:
    """Verdict of :func:`check_calibration`.

    ``coverage`` maps each checked level to the per-parameter coverage; ``failures`` says,
    in words, every tolerance that was missed.
    """

    passed: bool
    coverage: dict[float, np.ndarray]
    tarp_distance: float
    failures: list[str] = field(default_factory=list)


def check_calibration(samples: np.ndarray, truth: np.ndarray,
                      names: Sequence[str] | None = None,
                      levels: Sequence[float] = (0.68, 0.95), coverage_tolerance: float = 0.02,
                      tarp_tolerance: float = 0.05, n_references: int = 10,
                      seed: int = 0) -> CalibrationCheck:
    """Pass when every parameter's coverage at each level is within ``coverage_tolerance``
    (68% -> 66-70%, 95% -> 93-97%) and the TARP curve within ``tarp_tolerance`` of the
    diagonal.

    The binomial scatter of a coverage is ``sqrt(c (1 - c) / n_spectra)`` (1.5% at 68% for
    1,000 spectra): a 2% tolerance needs a few thousand test spectra for a stable verdict.
    """
    samples, truth = _arrays(samples, truth)
    names = list(names) if names is not None else [str(i) for i in range(truth.shape[1])]
    found = coverage(samples, truth, levels)
    failures = []
    for level, row in zip(levels, found, strict=True):
        for name, value in zip(names, row, strict=True):
            if abs(value - level) > coverage_tolerance:
                failures.append(
                    f"{name}: {level:.0%} intervals cover {value:.1%} of truths (allowed "
                    f"{level - coverage_tolerance:.0%}-{level + coverage_tolerance:.0%})"
                )
    _, _, distance = tarp(samples, truth, n_references, seed)
    if distance > tarp_tolerance:
        failures.append(f"TARP curve is {distance:.3f} from the diagonal (allowed "
                        f"{tarp_tolerance})")
    return CalibrationCheck(passed=not failures,
                            coverage={float(lv): row for lv, row in zip(levels, found,
                                                                         strict=True)},
                            tarp_distance=distance, failures=failures)
