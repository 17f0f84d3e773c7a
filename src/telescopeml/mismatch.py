"""The model-mismatch term: how far a grid model's answer lies from the truth on real spectra.

A network trained on a grid answers what the grid would say; on a real spectrum the grid's
own errors add to that. Where a bundle's manifest carries a ``mismatch`` section (measured on
labeled real spectra, see ``scripts/build_pretrained.py``), :func:`add_mismatch` widens the
posterior by it and reports the two parts separately (``Prediction.errors``). Parameters
without labeled objects keep their statistical width, and the output says so.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from telescopeml.parameters import parameter

if TYPE_CHECKING:
    from telescopeml.prediction import Prediction

#: z of the central 68% and 95% intervals of a standard normal.
Z68, Z95 = 0.994458, 1.959964


def model_term_draws(quantiles: dict[str, float], n: int,
                     rng: np.random.Generator) -> np.ndarray:
    """Symmetric draws whose central 68% and 95% intervals are ±quantiles["68"] and
    ±quantiles["95"]: a normal, stretched piecewise-linearly in |z| between those points."""
    u = rng.standard_normal(n)
    a = np.abs(u)
    q68, q95 = quantiles["68"], max(quantiles["95"], quantiles["68"])
    slope = (q95 - q68) / (Z95 - Z68)
    stretched = np.where(a <= Z68, a * q68 / Z68,
                         np.where(a <= Z95, q68 + (a - Z68) * slope, q95 + (a - Z95) * slope))
    return np.sign(u) * stretched


def add_mismatch(prediction: Prediction, mismatch: dict[str, Any] | None,
                 seed: int = 0) -> None:
    """Add the manifest's model-mismatch term to ``prediction``'s samples, in place.

    ``mismatch``: ``{"parameters": {name: {"68": q, "95": q}}, "source": text}``, the
    half-widths of the central intervals of (truth - grid answer) on labeled spectra.
    """
    if not mismatch or not mismatch.get("parameters"):
        return
    rng = np.random.default_rng(seed + 7)
    samples = prediction.samples.copy()
    errors = dict(prediction.errors)
    for j, name in enumerate(prediction.names):
        quantiles = mismatch["parameters"].get(name)
        column = samples[:, j]
        statistical = float(np.diff(np.quantile(column, (0.16, 0.84)))[0] / 2)
        if quantiles is None:
            continue
        # a huge model term must not give a negative Teff: samples stay in physical bounds
        low, high = parameter(name).bounds
        samples[:, j] = np.clip(column + model_term_draws(quantiles, column.size, rng),
                                low, high)
        errors[name] = {"statistical": statistical, "systematic": float(quantiles["68"])}
    prediction.samples = samples
    prediction.errors = errors
    covered = [n for n in prediction.names if n in mismatch["parameters"]]
    bare = [n for n in prediction.names if n not in mismatch["parameters"]]
    prediction.notes.append(f"intervals of {', '.join(covered)} include a model-mismatch term "
                            f"({mismatch.get('source', 'measured on labeled real spectra')})")
    if bare:
        prediction.notes.append(f"{', '.join(bare)}: statistical intervals only (no labeled "
                                "real spectra to measure the grid's own error on); the true "
                                "uncertainty is larger")


__all__ = ["add_mismatch", "model_term_draws"]
