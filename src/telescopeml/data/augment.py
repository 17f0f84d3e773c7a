"""Training-set augmentation: spectra interpolated between training nodes, and noise.

Everything here is built from the training part of a split only, so that no validation or
test spectrum ever feeds an interpolant.
"""

from __future__ import annotations

import itertools
import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from telescopeml.data.grid import SpectralGrid
from telescopeml.data.scatter import node_scatter
from telescopeml.errors import DataError

#: S/N whose uncertainty shape is given to noise-free samples, so that sigma is always defined.
CLEAN_SNR = 1000.0
#: Interpolated spectra are blended this many at a time, to bound float64 temporaries.
BLEND_CHUNK = 1024


@dataclass
class AugmentConfig:
    """How :class:`Augmenter` builds each epoch.

    Parameters
    ----------
    n_interpolated
        Interpolated spectra per epoch; None means ``interpolated_per_spectrum`` per
        training spectrum.
    interpolated_per_spectrum
        Interpolated spectra per training spectrum and epoch when ``n_interpolated`` is
        None (a grid-independent way to set, or search, the amount).
    max_axes
        Interpolate along at most this many axes at once (between 1 and this many).
    snr_range
        ``(low, high)`` S/N, drawn log-uniformly per spectrum.
    noise_free_fraction
        Share of spectra kept without noise (their sigma is that of S/N :data:`CLEAN_SNR`).
    include_grid
        Also include the training spectra themselves (with noise) in every epoch.
    continuum_tilt
        Standard deviation of a random smooth distortion of each spectrum's continuum,
        ``exp(a u + b (u^2 - 1/3))`` with ``u`` the wavelength mapped to [-1, 1],
        ``a ~ N(0, tilt)`` and ``b ~ N(0, tilt / 2)``: real spectra carry flux-calibration
        and telluric-correction errors of a few percent across the band that no model has,
        and a network trained only on perfect shapes can read them as physics. 0 = off.
    background_noise
        Largest share of background (flux-independent) noise variance: each noisy spectrum
        draws a share ``b`` uniformly in ``[0, background_noise]`` and gets
        ``sigma ∝ sqrt((1 - b) f / median(f) + b)``. With 0 (the default) sigma is pure
        photon noise, a fixed function of the clean spectrum that a network can read as
        the noiseless spectrum itself; real spectra, faint T dwarfs above all, are
        background-limited in their absorption bands, and a network that never saw such
        uncertainties misreads them (BENCHMARKS.md).
    node_scatter
        Restore, at this fraction of its size, the node scatter that blending averages
        away. Each grid spectrum carries its own scatter about a smooth function of the
        parameters (covariance ``Σ`` in log flux, estimated from the training nodes by
        :func:`telescopeml.data.scatter.node_scatter`); a blend with weights ``w_c`` keeps
        only ``Σ w_c² Σ`` of it, so interpolated spectra are smoother than any real one. With
        1 each gets correlated log-flux noise of covariance ``(1 - Σ w_c²) Σ`` and carries
        a node's scatter, which teaches the network to read through it. 0 = off.
    """

    n_interpolated: int | None = None
    interpolated_per_spectrum: float = 4.0
    max_axes: int = 2
    snr_range: tuple[float, float] = (5.0, 300.0)
    noise_free_fraction: float = 0.0
    include_grid: bool = True
    continuum_tilt: float = 0.0
    background_noise: float = 0.0
    node_scatter: float = 0.0

    def __post_init__(self) -> None:
        if self.node_scatter < 0:
            raise ValueError(f"node_scatter must be >= 0, got {self.node_scatter}")
        if not 0.0 <= self.background_noise <= 1.0:
            raise ValueError(f"background_noise must be in [0, 1], got {self.background_noise}")
        if not 0.0 <= self.continuum_tilt < 1.0:
            raise ValueError(f"continuum_tilt must be in [0, 1), got {self.continuum_tilt}")
        if self.interpolated_per_spectrum < 0:
            raise ValueError("interpolated_per_spectrum must be >= 0, got "
                             f"{self.interpolated_per_spectrum}")
        if self.n_interpolated is not None and self.n_interpolated < 0:
            raise ValueError(f"n_interpolated must be >= 0, got {self.n_interpolated}")
        if self.max_axes < 1:
            raise ValueError(f"max_axes must be >= 1, got {self.max_axes}")
        low, high = self.snr_range
        if not 0 < low <= high < math.inf:
            raise ValueError(f"snr_range must be 0 < low <= high, got {self.snr_range!r}")
        self.snr_range = (float(low), float(high))
        if not 0.0 <= self.noise_free_fraction <= 1.0:
            raise ValueError(
                f"noise_free_fraction must be in [0, 1], got {self.noise_free_fraction}"
            )


@dataclass
class TrainingBatch:
    """Spectra with per-pixel uncertainties and labels.

    Parameters
    ----------
    flux
        ``(n, n_wavelengths)`` float32, noisy unless the spectrum is noise-free.
    sigma
        ``(n, n_wavelengths)`` float32 one-sigma uncertainty per pixel.
    params
        ``(n, n_axes)`` float32 labels, in the grid's axis order.
    snr
        ``(n,)`` float32 S/N each spectrum was drawn at; inf for noise-free spectra.
    interpolated
        ``(n,)`` bool, True for spectra interpolated between grid nodes.
    """

    flux: np.ndarray
    sigma: np.ndarray
    params: np.ndarray
    snr: np.ndarray
    interpolated: np.ndarray

    def __len__(self) -> int:
        return int(self.flux.shape[0])


def noise_sigma(flux: np.ndarray, snr: float | np.ndarray,
                background: float | np.ndarray = 0.0) -> np.ndarray:
    """Per-pixel uncertainty of spectra observed at a given S/N.

    ``sigma = median(flux) / snr * sqrt(flux / median(flux))``: photon-noise-like, brighter
    pixels have larger sigma but higher flux/sigma, and the median over pixels of
    ``flux / sigma`` is ``snr``. This is the S/N definition used throughout. With a
    ``background`` share ``b`` (scalar or one per spectrum) the variance is
    ``(1 - b) f / median + b`` in the same units: the faintest pixels get relatively more.

    Parameters
    ----------
    flux
        ``(n_wavelengths,)`` or ``(n, n_wavelengths)`` positive flux.
    snr
        Scalar, or one S/N per spectrum.
    """
    flux = np.asarray(flux, dtype=np.float32)
    if np.any(~np.isfinite(flux)) or np.any(flux <= 0):
        raise DataError("cannot scale noise to S/N: flux has NaN or non-positive values")
    snr = np.asarray(snr, dtype=np.float32)
    if np.any(~(snr > 0)):
        raise ValueError(f"S/N must be positive, got {snr}")
    if snr.ndim:
        snr = snr[..., None]
    median = np.median(flux, axis=-1, keepdims=True)
    sigma = flux / median
    background = np.asarray(background, dtype=np.float32)
    if np.any(background):
        share = background[..., None] if background.ndim else background
        sigma = (1 - share) * sigma + share
    np.sqrt(sigma, out=sigma)
    sigma *= median / snr
    return sigma


def add_noise(
    flux: np.ndarray, snr: float | np.ndarray, rng: np.random.Generator,
    background: float | np.ndarray = 0.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Add Gaussian noise of the :func:`noise_sigma` shape; return ``(noisy_flux, sigma)``.

    At low S/N the noisy flux of faint pixels can be negative, as in real data.
    """
    sigma = noise_sigma(flux, snr, background)
    noisy = rng.standard_normal(sigma.shape, dtype=np.float32)
    noisy *= sigma
    noisy += flux
    return noisy, sigma


def sample_test_set(
    grid: SpectralGrid,
    indices: Sequence[int] | np.ndarray,
    snr: float | None,
    seed: int = 0,
) -> TrainingBatch:
    """Copies of the spectra at ``indices`` observed at a fixed S/N, for evaluation.

    The same ``seed`` gives the same standard-normal draws at every S/N, so the results at
    S/N 10, 30 and 100 differ by the noise level only, not by the luck of the draw. With
    ``snr=None`` the spectra are returned clean, with the sigma of S/N :data:`CLEAN_SNR`.
    """
    part = grid.take(indices)
    flux = part.flux_array()
    n = len(part)
    if snr is None:
        noisy, sigma = flux, noise_sigma(flux, CLEAN_SNR)
    else:
        noisy, sigma = add_noise(flux, float(snr), np.random.default_rng(seed))
    return TrainingBatch(
        flux=noisy,
        sigma=sigma,
        params=part.parameter_matrix().astype(np.float32),
        snr=np.full(n, np.inf if snr is None else snr, dtype=np.float32),
        interpolated=np.zeros(n, dtype=bool),
    )


class Augmenter:
    """Draw a fresh, reproducible training set each epoch from the training spectra.

    Interpolated spectra: a random point inside the parameter box generally needs all
    ``2^d`` corners of its grid cell, and with 10-20% of the nodes held out most cells have
    a missing corner. Instead each sample starts at a training node and moves a random
    fraction toward the next node up along a random subset of 1 to ``max_axes`` axes; it
    needs only the ``2^k`` corners of that edge or face, and all of them must be training
    nodes. Those (node, axes) cells are enumerated once here, so drawing them is
    vectorized, never stalls, and gives the distribution of rejection sampling (node
    uniform, then subset size, then subset; cells with a missing corner refused). The
    flux is blended multilinearly in log flux, the rule of
    :meth:`SpectralGrid.interpolate_points`, and the labels linearly in the same
    parameter space, so that every label is the point the blended spectrum belongs to.

    Parameters
    ----------
    grid
        The full grid; only the labels and flux of ``train_indices`` are read (the other
        labels only fix where grid nodes lie, so that cells never span a held-out node).
    train_indices
        The training part of the split.
    config
        What goes into each epoch.
    seed
        With the epoch number, fixes everything drawn (``default_rng([seed, epoch])``).
    """

    def __init__(
        self,
        grid: SpectralGrid,
        train_indices: Sequence[int] | np.ndarray,
        config: AugmentConfig | None = None,
        seed: int = 0,
    ) -> None:
        self.config = AugmentConfig() if config is None else config
        self.seed = seed
        self.names = tuple(grid.axes)
        train = np.unique(np.asarray(train_indices, dtype=np.int64))
        if train.size == 0 or train[0] < 0 or train[-1] >= len(grid):
            raise ValueError(f"train_indices must be non-empty and within 0..{len(grid) - 1}")
        self._train = grid.take(train)
        self._flux = self._train.flux_array()
        self._wavelength = self._train.wavelength
        if np.any(~np.isfinite(self._flux)) or np.any(self._flux <= 0):
            raise DataError(
                "cannot interpolate in log-flux: training spectra have NaN or non-positive "
                "flux (see grid.bad_spectra())",
                grid.meta.get("source"),
            )
        self._log_flux = np.log(self._flux)
        self._params = self._train.parameter_matrix()

        values = [grid.axis_values(name) for name in self.names]
        self._positions = np.column_stack(
            [np.searchsorted(v, self._params[:, j]) for j, v in enumerate(values)]
        )
        width = max(v.size for v in values)
        self._values = np.stack([np.pad(v, (0, width - v.size), mode="edge") for v in values])
        self._lattice = np.full([v.size for v in values], -1, dtype=np.int64)
        self._lattice[tuple(self._positions.T)] = np.arange(train.size)
        self._enumerate_cells([j for j, v in enumerate(values) if v.size > 1])
        self._scatter = self._scatter_factor() if self.config.node_scatter else None

        wanted = self.config.n_interpolated
        self.n_interpolated = (round(self.config.interpolated_per_spectrum * train.size)
                               if wanted is None else wanted)
        if self.n_interpolated and not self._cell_base.size:
            if not self.config.include_grid:
                raise ValueError("no training cell to interpolate in, and include_grid=False")
            warnings.warn(
                "no pair of neighbouring training nodes to interpolate between; epochs hold "
                "the training spectra only",
                stacklevel=2,
            )
            self.n_interpolated = 0

    def _scatter_factor(self) -> np.ndarray | None:
        """``A`` with ``A Aᵀ`` the training nodes' scatter covariance (None, with a warning,
        where no training node has all its neighbours)."""
        covariance = node_scatter(self._train)
        if covariance is None:
            warnings.warn("node_scatter: no training node has all its neighbours, so the "
                          "grid's scatter cannot be estimated; interpolated spectra get none",
                          stacklevel=3)
            return None
        values, vectors = np.linalg.eigh(covariance)
        keep = values > 1e-12 * values[-1]
        return (vectors[:, keep] * np.sqrt(values[keep])).astype(np.float32)

    def __len__(self) -> int:
        """Spectra per epoch."""
        return self.n_interpolated + (len(self._train) if self.config.include_grid else 0)

    def _enumerate_cells(self, movable: list[int]) -> None:
        """Find every (training node, axis subset) whose edge/face corners are all training."""
        k = min(self.config.max_axes, len(movable))
        subsets = [s for r in range(1, k + 1) for s in itertools.combinations(movable, r)]
        self._subset_axes = np.zeros((len(subsets), max(k, 1)), dtype=np.int64)
        self._subset_used = np.zeros((len(subsets), max(k, 1)), dtype=bool)
        shape = np.asarray(self._lattice.shape)
        bases, subset_ids, weights = [], [], []
        for s, axes in enumerate(subsets):
            self._subset_axes[s, : len(axes)] = axes
            self._subset_used[s, : len(axes)] = True
            ok = np.ones(len(self._positions), dtype=bool)
            for offset in itertools.product((0, 1), repeat=len(axes)):
                corner = self._positions.copy()
                corner[:, list(axes)] += offset
                inside = np.all(corner < shape, axis=1)
                corner = np.minimum(corner, shape - 1)
                ok &= inside & (self._lattice[tuple(corner.T)] >= 0)
            found = np.flatnonzero(ok)
            bases.append(found)
            subset_ids.append(np.full(found.size, s))
            weights.append(np.full(found.size, 1.0 / math.comb(len(movable), len(axes))))
        self._cell_base = np.concatenate(bases) if bases else np.zeros(0, dtype=np.int64)
        self._cell_subset = np.concatenate(subset_ids) if bases else np.zeros(0, dtype=np.int64)
        weight = np.concatenate(weights) if bases else np.zeros(0)
        self._cell_p = weight / weight.sum() if weight.size else weight

    def epoch(self, epoch: int) -> TrainingBatch:
        """The training set of one epoch: the same ``(seed, epoch)`` gives the same data.

        Training spectra come first (when ``include_grid``), then interpolated ones.
        """
        rng = np.random.default_rng([self.seed, epoch])
        flux_parts, param_parts = [], []
        if self.config.include_grid:
            flux_parts.append(self._flux)
            param_parts.append(self._params)
        if self.n_interpolated:
            flux, params = self._interpolate(rng)
            flux_parts.append(flux)
            param_parts.append(params)
        flux = np.concatenate(flux_parts)
        n = len(flux)
        if self.config.continuum_tilt:
            flux = flux * self._tilts(rng, n)

        low, high = np.log(self.config.snr_range)
        snr = np.exp(rng.uniform(low, high, n)).astype(np.float32)
        clean = rng.random(n) < self.config.noise_free_fraction
        snr[clean] = np.inf
        background = (rng.uniform(0.0, self.config.background_noise, n).astype(np.float32)
                      if self.config.background_noise else 0.0)
        noisy, sigma = add_noise(flux, np.where(clean, CLEAN_SNR, snr), rng, background)
        noisy[clean] = flux[clean]
        return TrainingBatch(
            flux=noisy,
            sigma=sigma,
            params=np.concatenate(param_parts).astype(np.float32),
            snr=snr,
            interpolated=np.arange(n) >= n - self.n_interpolated,
        )

    def _tilts(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """Random smooth multiplicative continuum distortions, ``(n, n_wavelengths)``."""
        w = self._wavelength
        u = 2.0 * (w - w.min()) / (w.max() - w.min()) - 1.0
        a = rng.normal(0.0, self.config.continuum_tilt, (n, 1))
        b = rng.normal(0.0, self.config.continuum_tilt / 2, (n, 1))
        return np.exp(a * u + b * (u**2 - 1.0 / 3.0)).astype(np.float32)

    def _interpolate(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Draw ``n_interpolated`` cells and fractions; return (flux, labels)."""
        n = self.n_interpolated
        cell = rng.choice(self._cell_base.size, size=n, p=self._cell_p)
        base = self._cell_base[cell]
        axes = self._subset_axes[self._cell_subset[cell]]
        used = self._subset_used[self._cell_subset[cell]]
        frac = rng.random(axes.shape) * used
        rows = np.arange(n)

        position = self._positions[base]
        params = self._params[base].copy()
        for t in range(axes.shape[1]):
            j, p = axes[:, t], position[rows, axes[:, t]]
            params[rows, j] += frac[:, t] * (self._values[j, p + used[:, t]] - self._values[j, p])

        corners = 2 ** axes.shape[1]
        weight = np.ones((n, corners))
        node = np.empty((n, corners), dtype=np.int64)
        for c in range(corners):
            corner = position.copy()
            for t in range(axes.shape[1]):
                if (c >> t) & 1:
                    weight[:, c] *= frac[:, t]
                    corner[rows, axes[:, t]] += used[:, t]
                else:
                    weight[:, c] *= 1.0 - frac[:, t]
            node[:, c] = np.where(weight[:, c] > 0, self._lattice[tuple(corner.T)], base)

        flux = np.empty((n, self._flux.shape[1]), dtype=np.float32)
        for start in range(0, n, BLEND_CHUNK):
            block = slice(start, start + BLEND_CHUNK)
            log_flux = np.zeros((len(rows[block]), self._flux.shape[1]))
            for c in range(corners):
                log_flux += weight[block, c, None] * self._log_flux[node[block, c]]
            if self._scatter is not None:
                lost = np.sqrt(np.clip(1.0 - np.sum(weight[block] ** 2, axis=1), 0.0, None))
                draws = rng.standard_normal((lost.size, self._scatter.shape[1]), np.float32)
                log_flux += (self.config.node_scatter * lost)[:, None] * (
                    draws @ self._scatter.T)
            flux[block] = np.exp(log_flux)
        return flux, params
