"""The grid's likelihood of an observed spectrum: what decides a grid-scale answer.

``log p(observed | θ, f)`` for the grid spectrum interpolated at θ
(:meth:`~telescopeml.data.grid.SpectralGrid.log_interpolate`, the package's one interpolant),
on the pixels the predictor uses. The noise has three parts:

- the observed σ;
- the grid's own interpolation error: the node-scatter covariance of
  :func:`~telescopeml.data.scatter.node_scatter` (relative, in log flux), kept to its leading
  eigenvectors so that the Woodbury identity makes each evaluation cost ``O(n r²)``;
- a model error, a fraction ``f`` of the model flux added in quadrature (the error inflation
  of grid-fitting codes such as species, Stolker et al. 2020), sampled with a log-uniform
  prior on :data:`MODEL_ERROR_RANGE` and so marginalised in the posterior.

The flux scale (radius and distance) is free: it is fitted in closed form and marginalised
with a log-uniform prior in the Laplace approximation, which keeps the likelihood independent
of the grid's absolute flux level.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from telescopeml.data.chi2 import scaled_chi2
from telescopeml.data.grid import SpectralGrid
from telescopeml.errors import DataError

#: Range of the model-error fraction ``f`` (log-uniform prior).
MODEL_ERROR_RANGE = (0.005, 0.5)
#: Name of the model-error column (its value is ``ln f``).
LN_MODEL_ERROR = "ln_model_error"
#: Leading eigenvectors of the node-scatter covariance that are kept.
SCATTER_RANK = 12
#: Fraction of the node-scatter variance the kept eigenvectors must hold (fewer when they do).
SCATTER_KEPT = 0.995
#: Points evaluated at once (bounds the memory of the ``(k, n, r)`` temporaries).
CHUNK = 128


def scatter_basis(covariance: np.ndarray | None, rank: int = SCATTER_RANK) -> np.ndarray | None:
    """``U`` with ``U @ U.T`` ≈ ``covariance``: its leading eigenvectors times the root of
    their eigenvalues, at most ``rank`` of them and no more than hold :data:`SCATTER_KEPT`
    of the trace (None for no or zero covariance)."""
    if covariance is None:
        return None
    values, vectors = np.linalg.eigh((covariance + covariance.T) / 2)
    order = np.argsort(values)[::-1]
    values, vectors = np.clip(values[order], 0.0, None), vectors[:, order]
    if values.sum() <= 0:
        return None
    keep = int(np.searchsorted(np.cumsum(values) / values.sum(), SCATTER_KEPT) + 1)
    keep = min(keep, rank, values.size)
    return vectors[:, :keep] * np.sqrt(values[:keep])


class GridLikelihood:
    """Log likelihood and prior of one observed spectrum over a grid's parameters.

    Parameters
    ----------
    grid
        The model grid on the same wavelengths as ``flux``.
    flux, sigma
        Observed flux and 1-σ uncertainty (any flux unit: the scale is free).
    good
        Pixels to use (default: finite flux and positive finite σ).
    scatter
        The grid's node-scatter covariance in log flux ``(n_wavelengths, n_wavelengths)``
        (:func:`~telescopeml.data.scatter.node_scatter`), or None to leave it out.
    model_error
        Sample the model-error fraction (``False``: the observed σ and the scatter alone).

    Attributes
    ----------
    axes
        The grid's axes with more than one value, sampled in this order; :attr:`names`
        adds :data:`LN_MODEL_ERROR` when ``model_error``.
    bounds
        ``(dim, 2)`` lower and upper edge of each column of :attr:`names`.
    """

    def __init__(self, grid: SpectralGrid, flux: np.ndarray, sigma: np.ndarray,
                 good: np.ndarray | None = None, scatter: np.ndarray | None = None,
                 model_error: bool = True) -> None:
        flux = np.asarray(flux, dtype=np.float64)
        sigma = np.asarray(sigma, dtype=np.float64)
        if flux.shape != (grid.n_wavelengths,) or sigma.shape != flux.shape:
            raise DataError(f"the spectrum has {flux.size} pixels, the grid "
                            f"{grid.n_wavelengths}: resample it to the grid's wavelengths first")
        usable = np.isfinite(flux) & np.isfinite(sigma) & (sigma > 0)
        self.good = usable if good is None else usable & np.asarray(good, dtype=bool)
        if self.good.sum() < 3:
            raise DataError("fewer than 3 usable pixels for the grid's likelihood")
        self.grid = grid
        self.flux = flux[self.good]
        self.variance = sigma[self.good] ** 2
        self.axes = [a for a in grid.axes if grid.axis_values(a).size > 1]
        self._fixed = {a: float(grid.axis_values(a)[0]) for a in grid.axes if a not in self.axes}
        self.model_error = model_error
        self.names = [*self.axes, *([LN_MODEL_ERROR] if model_error else [])]
        bounds = [(float(grid.axis_values(a)[0]), float(grid.axis_values(a)[-1]))
                  for a in self.axes]
        if model_error:
            bounds.append(tuple(float(np.log(v)) for v in MODEL_ERROR_RANGE))
        self.bounds = np.array(bounds, dtype=np.float64)
        basis = scatter_basis(scatter)
        self.scatter_basis = None if basis is None else basis[self.good]

    @property
    def dim(self) -> int:
        """Number of sampled parameters."""
        return len(self.names)

    def grid_points(self, theta: np.ndarray) -> np.ndarray:
        """``(k, n_axes)`` points in all the grid's axes (single-valued axes filled in)."""
        theta = np.atleast_2d(theta)
        columns = {a: theta[:, j] for j, a in enumerate(self.axes)}
        return np.column_stack([columns[a] if a in columns else np.full(len(theta), v)
                                for a, v in ((a, self._fixed.get(a)) for a in self.grid.axes)])

    def log_prior(self, theta: np.ndarray) -> np.ndarray:
        """0 inside the grid's box (uniform in the axes, log-uniform in ``f``), -inf outside."""
        theta = np.atleast_2d(theta)
        inside = np.all((theta >= self.bounds[:, 0]) & (theta <= self.bounds[:, 1]), axis=1)
        return np.where(inside, 0.0, -np.inf)

    def __call__(self, theta: np.ndarray) -> np.ndarray:
        """Log likelihood at each row of ``theta`` ``(k, dim)`` (columns :attr:`names`);
        -inf outside the grid or where a needed node is missing."""
        theta = np.atleast_2d(np.asarray(theta, dtype=np.float64))
        out = np.empty(len(theta))
        for start in range(0, len(theta), CHUNK):
            out[start:start + CHUNK] = self._terms(theta[start:start + CHUNK])
        return out

    def log_posterior(self, theta: np.ndarray) -> np.ndarray:
        """:meth:`__call__` plus :meth:`log_prior` (the likelihood only inside the box)."""
        theta = np.atleast_2d(np.asarray(theta, dtype=np.float64))
        prior = self.log_prior(theta)
        out = np.full(len(theta), -np.inf)
        inside = np.isfinite(prior)
        if inside.any():
            out[inside] = self(theta[inside]) + prior[inside]
        return out

    def model_flux(self, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(flux (k, n_good), missing (k,))``: the grid spectrum at each θ on the used
        pixels, relative to its mean."""
        log_flux, missing = self.grid.log_interpolate(self.grid_points(theta))
        log_flux = log_flux[:, self.good]
        return np.exp(log_flux - log_flux.mean(axis=1, keepdims=True)), missing

    def _terms(self, theta: np.ndarray) -> np.ndarray:
        model, missing = self.model_flux(theta[:, :len(self.axes)])
        y, var = self.flux, self.variance
        scale = (model @ (y / var)) / ((model**2) @ (1.0 / var))
        diag = np.broadcast_to(var, model.shape)
        if self.model_error:
            f = np.exp(theta[:, -1])[:, None]
            diag = var + (f * scale[:, None] * model) ** 2
            scale = np.sum(y * model / diag, axis=1) / np.sum(model**2 / diag, axis=1)
            diag = var + (f * scale[:, None] * model) ** 2
        q_yy = np.sum(y**2 / diag, axis=1)
        q_ym = np.sum(y * model / diag, axis=1)
        q_mm = np.sum(model**2 / diag, axis=1)
        log_det = np.sum(np.log(diag), axis=1)
        if self.scatter_basis is not None:
            u = (scale[:, None] * model)[:, :, None] * self.scatter_basis[None]
            b = u / diag[:, :, None]
            inner = np.eye(u.shape[2]) + np.matmul(u.transpose(0, 2, 1), b)
            chol = np.linalg.cholesky(inner)
            t_y = np.linalg.solve(chol, (y @ b)[..., None])[..., 0]
            t_m = np.linalg.solve(chol, np.matmul(model[:, None], b)[:, 0, :, None])[..., 0]
            q_yy -= np.sum(t_y**2, axis=1)
            q_ym -= np.sum(t_y * t_m, axis=1)
            q_mm -= np.sum(t_m**2, axis=1)
            log_det += 2 * np.sum(np.log(np.diagonal(chol, axis1=1, axis2=2)), axis=1)
        best = q_ym / q_mm
        chi2 = q_yy - q_ym * best
        with np.errstate(divide="ignore", invalid="ignore"):
            log_like = -0.5 * (chi2 + log_det + np.log(q_mm * best**2))
        log_like[missing | ~(best > 0) | ~np.isfinite(log_like)] = -np.inf
        return log_like

    def node_scan(self, n_best: int = 10, model_fraction: float = 0.05
                  ) -> tuple[np.ndarray, np.ndarray]:
        """The ``n_best`` grid nodes that fit best, by χ² with a free scale and a
        ``model_fraction`` of the observed flux added to σ (one matrix product over all
        nodes): ``(theta (n_best, len(axes)), chi2 (n_best,))``, best first."""
        table = self.grid._log_flux()[:, self.good]
        models = np.exp(table - table.mean(axis=1, keepdims=True))
        sigma = np.sqrt(self.variance + (model_fraction * self.flux) ** 2)
        chi2 = scaled_chi2(self.flux[None], sigma[None], models)[0][0]
        order = np.argsort(chi2)[:n_best]
        params = self.grid.parameter_matrix(self.axes)
        return params[order], chi2[order]


def usable_axes(grid: SpectralGrid, names: Sequence[str]) -> str:
    """Why the grid's likelihood cannot answer for ``names`` ("" when it can): every name
    must be a grid axis."""
    missing = [n for n in names if n not in grid.axes]
    if missing:
        return (f"the grid has no axis {', '.join(missing)} (axes: {', '.join(grid.axes)}); "
                "the network's answer is kept")
    return ""
