"""The correction stage: a network's samples become the grid's own posterior.

A network trained on a grid answers well only where a spectrum looks like the grid; on real
spectra it extrapolates. This stage makes its samples the starting point of
:func:`~telescopeml.inference.sampling.sample_grid_posterior` on the spectrum's
:class:`~telescopeml.inference.likelihood.GridLikelihood`, so that the grid's likelihood, not
the network, decides the atmosphere-grid answer. Grid axes the network does not answer for
are sampled too (and so marginalised).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from telescopeml.data.grid import SpectralGrid
from telescopeml.inference.likelihood import LN_MODEL_ERROR, GridLikelihood, usable_axes
from telescopeml.inference.sampling import GridPosterior, sample_grid_posterior

#: A fitted model error above this fraction of the flux means the grid cannot describe the
#: spectrum (real L and T dwarfs need 5-25% on the shipped SpeX grids).
MODEL_ERROR_FLAG = 0.3


@dataclass
class Correction:
    """The corrected samples of one spectrum and how they were drawn.

    Attributes
    ----------
    samples
        ``(n, len(names))`` samples of the grid's posterior in the network's parameters,
        None when the grid could not answer (:attr:`reason` says why).
    posterior
        The full :class:`~telescopeml.inference.sampling.GridPosterior` (every grid axis
        and the model error).
    """

    samples: np.ndarray | None
    posterior: GridPosterior | None = None
    reason: str = ""
    notes: list[str] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)

    @property
    def model_error(self) -> float:
        """Median fitted model-error fraction (NaN when none was fitted)."""
        post = self.posterior
        if post is None or LN_MODEL_ERROR not in post.names:
            return float("nan")
        return float(np.exp(np.median(post.samples[:, post.names.index(LN_MODEL_ERROR)])))

    def sampling(self) -> dict[str, float | str | bool]:
        """Method and diagnostics for :attr:`Prediction.sampling
        <telescopeml.prediction.Prediction.sampling>`."""
        post = self.posterior
        if post is None:
            return {"method": "network", "describe": f"network only: {self.reason}"}
        return {"method": post.method, "ess": post.ess, "tau": post.tau,
                "converged": post.converged, "model_error": self.model_error,
                "describe": post.describe()}


def correct(grid: SpectralGrid, names: list[str], flux: np.ndarray, sigma: np.ndarray,
            good: np.ndarray, network_samples: np.ndarray, scatter: np.ndarray | None,
            n_samples: int, seed: int = 0, method: str = "auto") -> Correction:
    """The grid's posterior of one spectrum, proposed by ``network_samples``.

    Parameters
    ----------
    grid
        The model grid on the spectrum's wavelengths.
    names
        The network's parameters (columns of ``network_samples``), all grid axes.
    flux, sigma, good
        The spectrum on the grid's wavelengths and the pixels to use.
    scatter
        The grid's node-scatter covariance (None: left out of the noise).
    """
    reason = usable_axes(grid, names)
    if reason:
        return Correction(None, reason=reason)
    like = GridLikelihood(grid, flux, sigma, good=good, scatter=scatter)
    best_node, _ = like.node_scan(1)
    starts = np.column_stack([network_samples[:, names.index(a)] if a in names else
                              np.full(len(network_samples), best_node[0, j])
                              for j, a in enumerate(like.axes)])
    post = sample_grid_posterior(like, starts, n_samples, seed=seed, method=method)
    columns = [like.names.index(n) if n in like.names else None for n in names]
    fixed = {a: float(grid.axis_values(a)[0]) for a in grid.axes}
    samples = np.column_stack([post.samples[:, c] if c is not None else
                               np.full(len(post.samples), fixed[n])
                               for c, n in zip(columns, names, strict=True)])
    notes = [f"{post.describe()}; model error fitted at "
             f"{np.exp(np.median(post.samples[:, -1])):.1%} of the flux"]
    if post.method == "mcmc" and not post.converged:
        notes.append("the MCMC chain did not reach its length target: its error bars are "
                     "less certain than usual")
    result = Correction(samples, post, notes=notes)
    if result.model_error > MODEL_ERROR_FLAG:
        result.flags.append(
            f"unlike the grid: its spectra differ from this one by about "
            f"{result.model_error:.0%} of the flux per pixel (the fitted model error), so the "
            "numbers are not a measurement")
    return result
