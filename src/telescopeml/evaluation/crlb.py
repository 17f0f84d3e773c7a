"""The Cramér-Rao lower bound: the smallest error any unbiased estimator can reach on a grid.

At a grid point with model spectrum ``f`` and parameters ``θ``, observed with Gaussian
noise of per-pixel sigma ``σ`` (:func:`telescopeml.data.augment.noise_sigma`, the package's
noise model) and an unknown overall flux scale ``s`` (the networks see normalized spectra),
the Fisher matrix is ``F = Jᵀ diag(1/σ²) J`` with ``J = [∂f/∂θ₁ … ∂f/∂θₖ, f]``, the last
column being ``∂(s f)/∂ln s`` at ``s = 1``. The bound on each parameter is
``sqrt(diag(F⁻¹))`` over the parameters' block, the scale marginalized.

The derivatives are central differences between a node's two neighbours along each axis, in
log flux: ``∂ln f/∂θ = (ln f(θ₊) − ln f(θ₋)) / (θ₊ − θ₋)``, then ``∂f/∂θ = f ∂ln f/∂θ``.
They are taken in each axis's own units (Teff in K), the coordinates in which the grid is
interpolated (multilinearly in log flux, :meth:`SpectralGrid.interpolate_points`), so the
bounds are in physical units with no chain rule. A node without two neighbours along some
axis (an edge node, or one whose neighbour is missing from the grid) has no defined bound:
it gets NaN and a reason.

A model tested on grid points it never trained on meets a second limit: the part of a
node's spectrum that its neighbours do not predict (the atmosphere code's node-to-node
scatter, and curvature between nodes). :func:`telescopeml.data.scatter.node_scatter`
estimates its covariance from the grid itself; given as ``scatter``, it joins the noise
(``C = diag(σ²) + f Σ f``), and the bound becomes the *held-out bound*: the smallest error at
a grid point whose spectrum is known only through the rest of the grid.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.linalg import solve_triangular

from telescopeml.data.augment import noise_sigma
from telescopeml.data.grid import SpectralGrid
from telescopeml.data.scatter import axis_neighbours

#: Eigenvalues of the Fisher matrix's correlation form below this fraction of the largest
#: count as zero: the parameters in their directions have an infinite bound.
SINGULAR_RTOL = 1e-10

NoiseModel = Callable[[np.ndarray, float], np.ndarray]


def fisher_bound(flux: np.ndarray, dlog_flux: np.ndarray, sigma: np.ndarray,
                 free_scale: bool = True, scatter: np.ndarray | None = None) -> np.ndarray:
    """Cramér-Rao bounds ``sqrt(diag(F⁻¹))`` of ``k`` parameters from log-flux derivatives.

    Parameters
    ----------
    flux
        ``(..., n_wavelengths)`` model flux.
    dlog_flux
        ``(..., k, n_wavelengths)`` derivatives ``∂ln f/∂θ`` (``J = f ∂ln f/∂θ``).
    sigma
        ``(..., n_wavelengths)`` one-sigma Gaussian noise per pixel.
    free_scale
        Marginalize an unknown overall flux scale (a column ``f`` added to ``J``).
    scatter
        ``(n_wavelengths, n_wavelengths)`` covariance of an extra error in log flux (the
        grid's node scatter, ``data.scatter.node_scatter``), added to the noise as ``f Σ f``.

    Returns
    -------
    numpy.ndarray
        ``(..., k)`` bounds in the parameters' units; ``inf`` for a parameter the data cannot
        tell apart from the others (or from the scale).
    """
    flux = np.asarray(flux, dtype=np.float64)
    columns = np.asarray(dlog_flux, dtype=np.float64) * flux[..., None, :]
    k = columns.shape[-2]
    if free_scale:
        columns = np.concatenate([columns, flux[..., None, :]], axis=-2)
    sigma = np.asarray(sigma, dtype=np.float64)
    if scatter is None:
        weighted = columns / sigma[..., None, :]
        fisher = weighted @ np.swapaxes(weighted, -1, -2)
    else:
        fisher = _fisher_with_scatter(flux, columns, sigma, np.asarray(scatter, np.float64))
    return np.sqrt(_inverse_diagonal(fisher)[..., :k])


def _fisher_with_scatter(flux: np.ndarray, columns: np.ndarray, sigma: np.ndarray,
                         scatter: np.ndarray) -> np.ndarray:
    """``J C⁻¹ Jᵀ`` with ``C = diag(σ²) + f Σ f``, one point at a time (``C`` is dense)."""
    shape = columns.shape[:-2]
    flux = np.broadcast_to(flux, shape + flux.shape[-1:]).reshape(-1, flux.shape[-1])
    sigma = np.broadcast_to(sigma, flux.shape)
    columns = columns.reshape(-1, *columns.shape[-2:])
    fisher = np.empty((len(columns),) + columns.shape[1:2] * 2)
    for i, (f, s, jac) in enumerate(zip(flux, sigma, columns, strict=True)):
        covariance = f[:, None] * scatter * f[None, :]
        covariance[np.diag_indices_from(covariance)] += s**2
        white = solve_triangular(np.linalg.cholesky(covariance), jac.T, lower=True)
        fisher[i] = white.T @ white
    return fisher.reshape(shape + fisher.shape[1:])


def _inverse_diagonal(fisher: np.ndarray) -> np.ndarray:
    """``diag(F⁻¹)`` of symmetric positive semi-definite matrices; ``inf`` along null
    directions. Works on the correlation form, so parameters of any units compare."""
    scale = np.sqrt(np.diagonal(fisher, axis1=-2, axis2=-1))
    safe = np.where(scale > 0, scale, 1.0)
    corr = fisher / (safe[..., :, None] * safe[..., None, :])
    values, vectors = np.linalg.eigh(corr)
    null = values <= SINGULAR_RTOL * values[..., -1:]
    inverse = np.where(null, 0.0, 1.0 / np.where(null, 1.0, values))
    diagonal = np.einsum("...ij,...j,...ij->...i", vectors, inverse, vectors) / safe**2
    touched = np.einsum("...ij,...j->...i", vectors**2, null.astype(float)) > 1e-8
    return np.where(touched | (scale == 0), np.inf, diagonal)


@dataclass
class GridBound:
    """Cramér-Rao bounds at grid points.

    Parameters
    ----------
    names
        Parameters of the Fisher matrix, the order of the bounds' columns.
    indices
        Grid indices of the points.
    bound
        S/N -> ``(n_points, n_params)`` bounds in physical units; NaN where undefined.
    reason
        Why each point's bound is undefined (``None`` where it is defined).
    """

    names: list[str]
    indices: np.ndarray
    bound: dict[float, np.ndarray]
    reason: list[str | None]

    @property
    def defined(self) -> np.ndarray:
        """``(n_points,)`` True where the bound is defined."""
        return np.array([r is None for r in self.reason], dtype=bool)

    def rms(self, snr: float, mask: np.ndarray | None = None) -> dict[str, float]:
        """Root mean square bound per parameter over the defined points (of ``mask``);
        NaN when there are none. The RMS is what an unbiased estimator's RMSE is bounded by."""
        keep = self.defined if mask is None else self.defined & np.asarray(mask, dtype=bool)
        values = self.bound[snr][keep]
        return {name: float(np.sqrt(np.mean(values[:, j] ** 2))) if keep.any() else float("nan")
                for j, name in enumerate(self.names)}

    def undefined(self, mask: np.ndarray | None = None) -> dict[str, int]:
        """Count of points (of ``mask``) without a defined bound, by reason."""
        keep = np.ones(len(self.reason), bool) if mask is None else np.asarray(mask, bool)
        return dict(Counter(r for r, k in zip(self.reason, keep, strict=True)
                            if k and r is not None))


def grid_bound(grid: SpectralGrid, indices: Sequence[int] | np.ndarray,
               snrs: Sequence[float], names: Sequence[str] | None = None,
               free_scale: bool = True, noise: NoiseModel = noise_sigma,
               scatter: np.ndarray | None = None) -> GridBound:
    """Cramér-Rao bounds at the grid points ``indices`` for each S/N.

    Parameters
    ----------
    grid
        A grid on a regular lattice (missing nodes only make their neighbours undefined).
    indices
        Grid points to bound.
    snrs
        S/N levels, passed to ``noise``.
    names
        Parameters of the Fisher matrix (default: every axis with more than one value);
        axes left out are taken as known.
    free_scale
        Marginalize an unknown overall flux scale (as a network that sees normalized
        spectra must).
    noise
        ``noise(flux, snr) -> sigma``; default the package's noise model.
    scatter
        The grid's node scatter (:func:`~telescopeml.data.scatter.node_scatter`) for the
        held-out bound; None for the Cramér-Rao bound of the noise alone.

    Returns
    -------
    GridBound
    """
    names = [a for a in grid.axes if grid.axis_values(a).size > 1] if names is None \
        else list(names)
    indices = np.asarray(indices, dtype=np.int64)
    neighbours, inside, coords = (a[indices] for a in axis_neighbours(grid, names))
    steps = coords[..., 2] - coords[..., 0]
    reason: list[str | None] = [None] * indices.size
    for j, name in enumerate(names):  # the first axis with a problem names it
        for i in range(indices.size):
            if not inside[i, j]:
                reason[i] = reason[i] or f"on the edge of {name}"
            elif (neighbours[i, j] < 0).any():
                reason[i] = reason[i] or f"a neighbour along {name} is missing"

    defined = np.array([r is None for r in reason], dtype=bool)
    bound = {float(s): np.full((indices.size, len(names)), np.nan) for s in snrs}
    if defined.any():
        # read only the points and their neighbours; ``rows`` is sorted, so searchsorted
        # maps a grid index to its row
        rows = np.unique(np.concatenate([indices[defined], neighbours[defined].ravel()]))
        log_flux = np.log(grid.take(rows).flux_array().astype(np.float64))
        nb = np.searchsorted(rows, neighbours[defined])
        dlog = (log_flux[nb[..., 1]] - log_flux[nb[..., 0]]) / steps[defined][..., None]
        flux = np.exp(log_flux[np.searchsorted(rows, indices[defined])])
        for snr, table in bound.items():
            table[defined] = fisher_bound(flux, dlog, noise(flux, snr), free_scale, scatter)
    return GridBound(names, indices, bound, reason)


def crlb_report(bounds: GridBound, interior: np.ndarray, targets: Sequence[str],
                rmse_interior: dict[str, Any] | None = None,
                held_out: GridBound | None = None) -> dict[str, Any]:
    """The ``crlb`` section of ``evaluate --json``.

    Parameters
    ----------
    bounds
        Bounds at the test points.
    interior
        ``(n_points,)`` True for interior test points.
    targets
        Parameters to report.
    rmse_interior
        The evaluation's ``interior`` table (S/N key -> parameter -> metrics), for the ratio.
    held_out
        The held-out bounds at the same points (``grid_bound(..., scatter=...)``), if any.

    Returns
    -------
    dict
        ``{"interior"|"all": {snr: {param: rms bound}}, "n_points", "n_defined",
        "n_undefined", "undefined": {reason: count}, "ratio": {"interior": {snr:
        {param: RMSE / CRLB}}}}``; S/N keys as in the other tables (``"30"``). With
        ``held_out``, also ``"held_out": {"interior"|"all": ...}`` and ``ratio["held_out"]``
        (interior RMSE / held-out bound).
    """
    interior = np.asarray(interior, dtype=bool)
    report: dict[str, Any] = _rms_tables(bounds, interior, targets)
    defined = bounds.defined
    report.update(n_points=int(defined.size), n_defined=int(defined.sum()),
                  n_undefined=int((~defined).sum()), undefined=bounds.undefined())
    report["ratio"] = {"interior": _ratio(report["interior"], rmse_interior)}
    if held_out is not None:
        report["held_out"] = _rms_tables(held_out, interior, targets)
        report["ratio"]["held_out"] = _ratio(report["held_out"]["interior"], rmse_interior)
    return report


def _rms_tables(bounds: GridBound, interior: np.ndarray,
                targets: Sequence[str]) -> dict[str, Any]:
    """``{"interior"|"all": {snr key: {param: rms bound}}}``."""
    tables: dict[str, Any] = {"interior": {}, "all": {}}
    for snr in bounds.bound:
        for part, mask in (("interior", interior), ("all", None)):
            rms = bounds.rms(snr, mask)
            tables[part][f"{snr:g}"] = {t: rms[t] for t in targets}
    return tables


def _ratio(bound_tables: dict[str, Any], rmse: dict[str, Any] | None) -> dict[str, Any]:
    """RMSE / bound per S/N key and parameter, where both are known and the bound is > 0."""
    ratio: dict[str, Any] = {}
    for key, table in bound_tables.items():
        if found := (rmse or {}).get(key):
            ratio[key] = {name: found[name]["rmse"] / b for name, b in table.items()
                          if name in found and np.isfinite(b) and b > 0}
    return ratio
