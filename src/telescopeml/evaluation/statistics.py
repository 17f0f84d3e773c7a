"""Goodness of fit and uncertainty of estimates: χ², p-values, intervals, bootstrap.

Every function computes and returns numbers; figures are in :mod:`telescopeml.plots`.
Two intervals are easily confused and are kept apart by name:

- :func:`mean_confidence_interval` says where the *true mean* of the population lies;
  it shrinks as ``1/sqrt(n)`` with more data.
- :func:`prediction_interval` says where *one new value* drawn from the same population
  will lie; it never shrinks below the spread of the values themselves.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import stats


@dataclass(frozen=True)
class Chi2Fit:
    """χ² of observed data against one model (floats) or many (arrays, one per model).

    Attributes
    ----------
    chi2
        Sum over pixels of ``((observed - scale * model) / sigma)**2``.
    dof
        Degrees of freedom: usable pixels minus fitted parameters (the scale included).
    p_value
        Probability of a χ² at least this large if the model were right.
    scale
        Factor applied to the model (1 unless the scale was fitted).
    n_points
        Usable pixels (finite observed flux, model and positive uncertainty).
    """

    chi2: float | np.ndarray
    dof: int
    p_value: float | np.ndarray
    scale: float | np.ndarray
    n_points: int

    @property
    def reduced_chi2(self) -> float | np.ndarray:
        """χ² per degree of freedom (about 1 for a good model with honest uncertainties)."""
        return self.chi2 / self.dof


@dataclass(frozen=True)
class Interval:
    """An estimate and a two-sided interval around it.

    Attributes
    ----------
    estimate
        The point estimate (the sample mean, or the metric on the full sample).
    low, high
        The interval's ends.
    level
        Nominal probability content, e.g. 0.95.
    kind
        ``"confidence"`` (for the mean), ``"prediction"`` (for a new value) or
        ``"bootstrap"`` (percentile bootstrap confidence interval of a metric).
    """

    estimate: float | np.ndarray
    low: float | np.ndarray
    high: float | np.ndarray
    level: float
    kind: str

    @property
    def width(self) -> float | np.ndarray:
        """``high - low``."""
        return self.high - self.low

    def contains(self, value: float) -> bool | np.ndarray:
        """True where ``low <= value <= high``."""
        return (self.low <= value) & (value <= self.high)


def best_scale(observed: np.ndarray, model: np.ndarray, sigma: np.ndarray) -> float | np.ndarray:
    """The factor ``a`` minimizing χ² of ``observed`` against ``a * model`` (closed form).

    ``model`` is ``(n_pixels,)`` or ``(n_models, n_pixels)``; pixels with non-finite values
    or non-positive ``sigma`` are ignored.
    """
    obs, mod, sig, good = _prepare(observed, model, sigma)
    return _squeeze(_scales(obs[good], mod[:, good], sig[good]), np.ndim(model))


def chi2_fit(observed: np.ndarray, model: np.ndarray, sigma: np.ndarray,
             free_scale: bool = False, n_params: int = 0) -> Chi2Fit:
    """χ², degrees of freedom and p-value of ``observed`` (with 1-σ ``sigma``) against ``model``.

    Parameters
    ----------
    observed, sigma
        ``(n_pixels,)`` arrays.
    model
        ``(n_pixels,)`` or ``(n_models, n_pixels)``: one fit per model row.
    free_scale
        Fit a multiplicative scale factor per model (e.g. unknown distance and radius);
        it costs one degree of freedom.
    n_params
        Other parameters that were fitted to get ``model`` (subtracted from the dof).
    """
    obs, mod, sig, good = _prepare(observed, model, sigma)
    n_points = int(good.sum())
    dof = n_points - n_params - int(free_scale)
    if dof <= 0:
        raise ValueError(f"{n_points} usable pixels leave no degrees of freedom for "
                         f"{n_params + int(free_scale)} fitted parameters")
    obs, mod, sig = obs[good], mod[:, good], sig[good]
    scale = _scales(obs, mod, sig) if free_scale else np.ones(len(mod))
    chi2 = np.sum(((obs - scale[:, None] * mod) / sig) ** 2, axis=1)
    ndim = np.ndim(model)
    return Chi2Fit(chi2=_squeeze(chi2, ndim), dof=dof,
                   p_value=_squeeze(chi2_pvalue(chi2, dof), ndim),
                   scale=_squeeze(scale, ndim), n_points=n_points)


def chi2(observed: np.ndarray, model: np.ndarray, sigma: np.ndarray,
         free_scale: bool = False) -> float | np.ndarray:
    """χ² of ``observed`` against ``model``; see :func:`chi2_fit`."""
    return chi2_fit(observed, model, sigma, free_scale).chi2


def reduced_chi2(observed: np.ndarray, model: np.ndarray, sigma: np.ndarray,
                 free_scale: bool = False, n_params: int = 0) -> float | np.ndarray:
    """χ² per degree of freedom; see :func:`chi2_fit`."""
    return chi2_fit(observed, model, sigma, free_scale, n_params).reduced_chi2


def chi2_pvalue(chi2_value: float | np.ndarray, dof: int) -> float | np.ndarray:
    """Probability that a χ² variable with ``dof`` degrees of freedom is at least ``chi2_value``."""
    p = stats.chi2.sf(chi2_value, dof)
    return float(p) if np.ndim(p) == 0 else p


def mean_confidence_interval(values: np.ndarray, level: float = 0.95) -> Interval:
    """Student-t confidence interval for the population mean of ``values``.

    ``mean ± t * s / sqrt(n)``: over repeated samples it covers the true mean with
    probability ``level``. It does not say where individual values fall; for that use
    :func:`prediction_interval`.
    """
    x, t = _sample(values, level)
    mean, half = x.mean(), t * x.std(ddof=1) / np.sqrt(x.size)
    return Interval(float(mean), float(mean - half), float(mean + half), level, "confidence")


def prediction_interval(values: np.ndarray, level: float = 0.95) -> Interval:
    """Student-t prediction interval for one new value from the population of ``values``.

    ``mean ± t * s * sqrt(1 + 1/n)`` (normal population): a new, independent value falls
    inside with probability ``level``. Always wider than :func:`mean_confidence_interval`.
    """
    x, t = _sample(values, level)
    mean, half = x.mean(), t * x.std(ddof=1) * np.sqrt(1.0 + 1.0 / x.size)
    return Interval(float(mean), float(mean - half), float(mean + half), level, "prediction")


def bootstrap_interval(metric: Callable[..., float | np.ndarray], *samples: np.ndarray,
                       level: float = 0.95, n_resamples: int = 2000, seed: int = 0) -> Interval:
    """Percentile bootstrap confidence interval of ``metric(*samples)``.

    Rows of all ``samples`` are resampled together (pairs such as truth and prediction
    stay paired). Reproducible for a given ``seed``. ``metric`` may return a scalar or an
    array (e.g. one value per parameter); the interval then has that shape.

    Examples
    --------
    >>> rmse = lambda t, p: np.sqrt(np.mean((p - t) ** 2))
    >>> ci = bootstrap_interval(rmse, truth, predicted, seed=1)  # doctest: +SKIP
    """
    if not samples:
        raise ValueError("bootstrap_interval needs at least one sample array")
    arrays = [np.asarray(s) for s in samples]
    n = len(arrays[0])
    if n < 2 or any(len(a) != n for a in arrays):
        raise ValueError(f"samples need the same length >= 2, got {[len(a) for a in arrays]}")
    _check_level(level)
    rng = np.random.default_rng(seed)
    draws = np.asarray([metric(*(a[idx] for a in arrays))
                        for idx in rng.integers(0, n, size=(n_resamples, n))], dtype=np.float64)
    tail = 50.0 * (1.0 - level)
    low, high = np.nanpercentile(draws, [tail, 100.0 - tail], axis=0)
    estimate = np.asarray(metric(*arrays), dtype=np.float64)
    if estimate.ndim == 0:
        return Interval(float(estimate), float(low), float(high), level, "bootstrap")
    return Interval(estimate, low, high, level, "bootstrap")


def _prepare(observed, model, sigma):
    obs = np.asarray(observed, dtype=np.float64)
    mod = np.atleast_2d(np.asarray(model, dtype=np.float64))
    sig = np.asarray(sigma, dtype=np.float64)
    if obs.ndim != 1 or sig.shape != obs.shape or mod.shape[1:] != obs.shape:
        raise ValueError(f"shapes do not match: observed {obs.shape}, sigma {sig.shape}, "
                         f"model {np.shape(model)}")
    with np.errstate(invalid="ignore"):
        good = np.isfinite(obs) & np.isfinite(sig) & (sig > 0) & np.isfinite(mod).all(axis=0)
    return obs, mod, sig, good


def _scales(obs: np.ndarray, mod: np.ndarray, sig: np.ndarray) -> np.ndarray:
    w = 1.0 / sig**2
    return (mod * w) @ obs / ((mod**2) @ w)


def _squeeze(values: np.ndarray, ndim: int) -> float | np.ndarray:
    return float(values[0]) if ndim == 1 else values


def _check_level(level: float) -> None:
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be between 0 and 1, got {level}")


def _sample(values: np.ndarray, level: float) -> tuple[np.ndarray, float]:
    x = np.asarray(values, dtype=np.float64).ravel()
    x = x[np.isfinite(x)]
    if x.size < 2:
        raise ValueError(f"need at least 2 finite values, got {x.size}")
    _check_level(level)
    return x, float(stats.t.ppf(0.5 + level / 2.0, x.size - 1))
