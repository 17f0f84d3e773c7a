"""The grid's node scatter: what a node's spectrum holds that its neighbours do not predict.

Atmosphere codes converge node by node, so neighbouring grid spectra differ by more than a
smooth function of the parameters. That scatter limits any model tested on nodes it never
saw (the held-out bound, :mod:`telescopeml.evaluation.crlb`), and blending nodes averages it
away (:class:`telescopeml.data.augment.Augmenter` can restore it).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from telescopeml.data.grid import SpectralGrid


def grid_lattice(grid: SpectralGrid) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    """``(axis values, (n, n_axes) node positions, lattice of grid indices or -1)``."""
    values = [grid.axis_values(a) for a in grid.axes]
    params = grid.parameter_matrix()
    position = np.column_stack([np.searchsorted(v, params[:, j]) for j, v in enumerate(values)])
    lattice = np.full([v.size for v in values], -1, dtype=np.int64)
    lattice[tuple(position.T)] = np.arange(len(grid))
    return values, position, lattice


def axis_neighbours(grid: SpectralGrid, names: Sequence[str]
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every node's two neighbours along each axis of ``names``.

    Returns
    -------
    tuple
        ``neighbours`` ``(n, k, 2)`` grid indices below and above, -1 where the node is on
        that axis's edge or the neighbour is missing from the grid; ``inside`` ``(n, k)``
        True where the node is not on the edge; ``coords`` ``(n, k, 3)`` the axis values
        below, at and above the node (clipped to the axis at its edges).
    """
    values, position, lattice = grid_lattice(grid)
    neighbours = np.full((len(grid), len(names), 2), -1, dtype=np.int64)
    inside = np.zeros((len(grid), len(names)), dtype=bool)
    coords = np.zeros((len(grid), len(names), 3))
    for j, name in enumerate(names):
        axis = grid.axes.index(name)
        v, centre = values[axis], position[:, axis]
        inside[:, j] = (centre > 0) & (centre < v.size - 1)
        for side, offset in enumerate((-1, 1)):
            p = position.copy()
            p[:, axis] = np.clip(centre + offset, 0, v.size - 1)
            neighbours[:, j, side] = np.where(inside[:, j], lattice[tuple(p.T)], -1)
        coords[:, j] = np.stack([v[np.maximum(centre - 1, 0)], v[centre],
                                 v[np.minimum(centre + 1, v.size - 1)]], axis=-1)
    return neighbours, inside, coords


def interpolation_scale(grid: SpectralGrid, basis: np.ndarray,
                        names: Sequence[str] | None = None) -> float:
    """How much larger a node's leave-one-out interpolation error is than the node scatter
    alone predicts (1: as predicted).

    Every node with both neighbours along an axis is interpolated from them (linearly in
    log flux, weights ``1 - w`` and ``w``; less the mean over wavelength, as in
    :func:`node_scatter`). Were the nodes' deviations independent with covariance
    ``Σ = basis @ basis.T``, that residual would have covariance ``(1 + (1 - w)² + w²) Σ``;
    the curvature of the spectra between nodes adds to it. Returned: the mean, over all
    such residuals and over the columns of ``basis``, of the residual's variance along each
    column's direction over what that covariance says, so that ``scale × (1 + Σ_c w_c²) Σ``
    describes the grid's own interpolation error (the scale is measured on the grid's own
    nodes, never on a spectrum to be fitted).

    Parameters
    ----------
    grid
        A grid on a regular lattice, on the wavelengths of ``basis``.
    basis
        ``(n_wavelengths, r)`` eigenvectors of ``Σ`` times the root of their eigenvalues
        (:func:`telescopeml.inference.likelihood.scatter_basis`).
    names
        Axes to interpolate along (default: every axis with more than one value).
    """
    names = [a for a in grid.axes if grid.axis_values(a).size > 1] if names is None \
        else list(names)
    neighbours, _, coords = axis_neighbours(grid, names)
    log_flux = np.log(grid.flux_array().astype(np.float64))
    norms = np.sum(basis**2, axis=0)
    ratios = []
    for j in range(len(names)):
        nodes = np.flatnonzero((neighbours[:, j] >= 0).all(axis=1))
        if not nodes.size:
            continue
        lower, value, upper = coords[nodes, j].T
        w = ((value - lower) / (upper - lower))[:, None]
        residual = log_flux[nodes] - ((1 - w) * log_flux[neighbours[nodes, j, 0]]
                                      + w * log_flux[neighbours[nodes, j, 1]])
        residual -= residual.mean(axis=1, keepdims=True)
        # along the unit direction of column i, the modelled variance is norms[i] × factor
        along = (residual @ basis) ** 2 / norms**2
        ratios.append(along / (1 + (1 - w) ** 2 + w**2))
    return float(np.mean(np.concatenate(ratios))) if ratios else 1.0


def node_scatter(grid: SpectralGrid, names: Sequence[str] | None = None) -> np.ndarray | None:
    """Covariance in log flux of the part of a node's spectrum its neighbours do not predict.

    At every node with both neighbours along each axis of ``names``, the spectrum is
    interpolated from its two neighbours along each axis in turn (linearly in log flux, the
    rule the augmentation and :meth:`SpectralGrid.interpolate_points` use) and the residual
    taken, less its mean over wavelength (a flux scale, which is free). A residual along
    axis ``a`` is ``ε₀ − (ε₋ + ε₊)/2`` plus curvature, ``ε`` being each node's own scatter;
    residuals along two different axes share only ``ε₀``, so the mean of their
    cross-products over all pairs of axes estimates its covariance ``Σ``, unbiased when the
    scatter is independent between nodes (correlated curvature along two axes would add to
    it). Negative eigenvalues of the estimate are set to 0.

    Parameters
    ----------
    grid
        A grid on a regular lattice.
    names
        Axes to interpolate along (default: every axis with more than one value).

    Returns
    -------
    numpy.ndarray or None
        ``(n_wavelengths, n_wavelengths)``; None with fewer than two axes or no node that
        has all its neighbours.
    """
    names = [a for a in grid.axes if grid.axis_values(a).size > 1] if names is None \
        else list(names)
    if len(names) < 2:
        return None
    neighbours, _, coords = axis_neighbours(grid, names)
    nodes = np.flatnonzero((neighbours >= 0).all(axis=(1, 2)))
    if not nodes.size:
        return None
    lower, value, upper = np.moveaxis(coords[nodes], -1, 0)
    w = ((value - lower) / (upper - lower))[..., None]
    log_flux = np.log(grid.flux_array().astype(np.float64))
    residual = log_flux[nodes][:, None] - ((1 - w) * log_flux[neighbours[nodes, :, 0]]
                                           + w * log_flux[neighbours[nodes, :, 1]])
    residual -= residual.mean(axis=-1, keepdims=True)
    total = residual.sum(axis=1)
    cross = (total.T @ total - np.einsum("naw,nav->wv", residual, residual))
    covariance = cross / (nodes.size * len(names) * (len(names) - 1))
    eigenvalues, vectors = np.linalg.eigh((covariance + covariance.T) / 2)
    return (vectors * np.clip(eigenvalues, 0.0, None)) @ vectors.T
