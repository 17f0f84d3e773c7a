"""The grid's likelihood of an observed spectrum: what decides a grid-scale answer.

``log p(observed | θ, f)`` for the grid spectrum interpolated at θ
(:meth:`~telescopeml.data.grid.SpectralGrid.log_interpolate`, the package's one interpolant),
on the pixels the predictor uses. The noise has three parts:

- the observed σ;
- the grid's own interpolation error. :func:`~telescopeml.data.scatter.node_scatter`
  estimates ``Σ``, the covariance (relative, in log flux) of each node's own deviation from a
  smooth function of the parameters. The truth at θ carries its own deviation, and the
  interpolant the corners' deviations weighted by their interpolation weights ``w_c``, so
  their difference has covariance ``(1 + Σ_c w_c²) Σ``: twice ``Σ`` at and next to a node,
  ``1 + 2⁻ᵈ`` times it at the middle of a ``d``-dimensional cell (:meth:`GridLikelihood.
  scatter_factor`). Leave-one-out on the grid's own nodes shows how much larger the
  error is than that (the spectra's curvature between nodes,
  :func:`~telescopeml.data.scatter.interpolation_scale`), and ``Σ`` is multiplied by that
  one measured scale (never by less than 1). ``Σ`` is kept to its :data:`SCATTER_RANK`
  leading eigenvectors so that the Woodbury identity makes each evaluation cost
  ``O(n r²)``;
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
from telescopeml.data.scatter import interpolation_scale
from telescopeml.errors import DataError

#: Range of the model-error fraction ``f`` (log-uniform prior).
MODEL_ERROR_RANGE = (0.005, 0.5)
#: Name of the model-error column (its value is ``ln f``).
LN_MODEL_ERROR = "ln_model_error"
#: Leading eigenvectors of the node-scatter covariance that are kept. Not fewer by a share of
#: its trace: on the shipped SpeX grids one eigenvalue holds 92% of the trace while the 7th
#: to 12th are still 0.5-3 times the variance of S/N 30 noise, and leaving them out made
#: held-out nodes' posteriors too narrow.
SCATTER_RANK = 12
#: Points evaluated at once (bounds the memory of the ``(k, n)`` temporaries).
CHUNK = 128


def scatter_basis(covariance: np.ndarray | None, rank: int = SCATTER_RANK) -> np.ndarray | None:
    """``U`` with ``U @ U.T`` ≈ ``covariance``: its ``rank`` leading eigenvectors times the
    root of their eigenvalues, less those that are zero to rounding (None for no or zero
    covariance)."""
    if covariance is None:
        return None
    values, vectors = np.linalg.eigh((covariance + covariance.T) / 2)
    order = np.argsort(values)[::-1]
    values, vectors = np.clip(values[order], 0.0, None), vectors[:, order]
    if values[0] <= 0:
        return None
    keep = min(rank, int(np.sum(values > 1e-12 * values[0])))
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
        The grid's node-scatter covariance ``Σ`` in log flux ``(n_wavelengths,
        n_wavelengths)`` (:func:`~telescopeml.data.scatter.node_scatter`), or None to leave
        it out; the noise holds it times :attr:`scatter_scale` and :meth:`scatter_factor`.
    model_error
        Sample the model-error fraction (``False``: the observed σ and the scatter alone).

    Attributes
    ----------
    axes
        The grid's axes with more than one value, sampled in this order; :attr:`names`
        adds :data:`LN_MODEL_ERROR` when ``model_error``.
    bounds
        ``(dim, 2)`` lower and upper edge of each column of :attr:`names`.
    scatter_scale
        The grid's leave-one-out interpolation error over what its node scatter predicts
        (:func:`~telescopeml.data.scatter.interpolation_scale`), at least 1 (1 without a
        scatter).
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
        # never below 1: curvature adds to the node scatter, it cannot take from it
        self.scatter_scale = 1.0 if basis is None else max(
            1.0, interpolation_scale(grid, basis, self.axes))
        self.scatter_basis = None if basis is None else \
            np.sqrt(self.scatter_scale) * basis[self.good]
        if basis is not None:  # U_i U_j per pixel (i <= j): U^T diag(x) U as one product
            self._pairs = np.triu_indices(basis.shape[1])
            self._basis_products = np.ascontiguousarray(
                self.scatter_basis[:, self._pairs[0]] * self.scatter_basis[:, self._pairs[1]])
        self._axis_values = [grid.axis_values(a) for a in self.axes]

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
        # C order, as the scatter basis's products: picking the pixels leaves it in Fortran
        # order, where OpenBLAS takes ~10x longer over the products with the basis
        return np.ascontiguousarray(np.exp(log_flux - log_flux.mean(axis=1, keepdims=True))), \
            missing

    def scatter_factor(self, theta: np.ndarray) -> np.ndarray:
        """``1 + Σ_c w_c²`` at each row of ``theta`` (columns :attr:`axes` first): the
        interpolation error's covariance in units of the node scatter ``Σ``, the truth's
        own deviation plus its interpolation-weighted corners' (2 at a node, ``1 + 2⁻ᵈ`` at
        the middle of a cell of the ``d`` axes). The weights of a multilinear interpolant
        are products over axes, and so is the sum of their squares."""
        theta = np.atleast_2d(np.asarray(theta, dtype=np.float64))
        squares = np.ones(len(theta))
        for j, values in enumerate(self._axis_values):
            i = np.clip(np.searchsorted(values, theta[:, j], side="right") - 1, 0,
                        values.size - 2)
            w = np.clip((theta[:, j] - values[i]) / (values[i + 1] - values[i]), 0.0, 1.0)
            squares *= (1 - w) ** 2 + w**2
        return 1.0 + squares

    def _terms(self, theta: np.ndarray) -> np.ndarray:
        model, missing = self.model_flux(theta[:, :len(self.axes)])
        y, var = self.flux, self.variance
        scale = (model @ (y / var)) / ((model**2) @ (1.0 / var))
        if self.model_error:
            f, model_sq = np.exp(theta[:, -1]), model**2
            diag = var + (f * scale)[:, None] ** 2 * model_sq
            scale = np.sum(y * model / diag, axis=1) / np.sum(model_sq / diag, axis=1)
            inverse = 1.0 / (var + (f * scale)[:, None] ** 2 * model_sq)
        else:
            inverse = np.broadcast_to(1.0 / var, model.shape)
        weighted = model * inverse  # D⁻¹ m
        q_yy = inverse @ y**2
        q_ym = weighted @ y
        q_mm = np.einsum("kn,kn->k", weighted, model)
        log_det = -np.sum(np.log(inverse), axis=1)
        if self.scatter_basis is not None:
            # Woodbury with V = √a s diag(m) U (a the scatter factor): the r × r matrix
            # I + V^T D⁻¹ V and the projections V^T D⁻¹ y, V^T D⁻¹ m as matrix products
            r = self.scatter_basis.shape[1]
            root = scale * np.sqrt(self.scatter_factor(theta))
            inner = np.empty((len(theta), r, r))
            upper = (weighted * model) @ self._basis_products * root[:, None] ** 2
            inner[:, self._pairs[0], self._pairs[1]] = upper
            inner[:, self._pairs[1], self._pairs[0]] = upper
            inner += np.eye(r)
            chol = np.linalg.cholesky(inner)
            rhs = np.stack([(weighted * y) @ self.scatter_basis,
                            (weighted * model) @ self.scatter_basis], axis=-1)
            t = np.linalg.solve(chol, rhs * root[:, None, None])
            q_yy -= np.sum(t[..., 0] ** 2, axis=1)
            q_ym -= np.sum(t[..., 0] * t[..., 1], axis=1)
            q_mm -= np.sum(t[..., 1] ** 2, axis=1)
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
