"""SpectralGrid: a table of model parameters, one wavelength array and a flux matrix."""

from __future__ import annotations

import hashlib
import itertools
import json
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from telescopeml.cache import atomic_path
from telescopeml.data.gridchecks import GridChecks
from telescopeml.errors import DataError, OutOfGridError, UnknownNameError

HDF5_FORMAT = "telescopeml-grid"
HDF5_FORMAT_VERSION = 1
CHUNK_ROWS = 512


@dataclass
class SpectralGrid(GridChecks):
    """Synthetic spectra on a shared wavelength array, labelled by physical parameters.

    Parameters
    ----------
    params
        Parameter name -> array of length ``n_spectra`` (e.g. ``teff``, ``logg``, ``mh``).
    wavelength
        Wavelengths in µm, strictly increasing, length ``n_wavelengths``.
    flux
        ``(n_spectra, n_wavelengths)`` float32 array, or an open h5py dataset for grids
        streamed from disk.
    flux_unit
        Unit of ``flux`` as an astropy-readable string.
    meta
        Provenance: ``source``, ``version``, ``checksum``, citations and notes.
    """

    params: dict[str, np.ndarray]
    wavelength: np.ndarray
    flux: Any
    flux_unit: str = "erg / (s cm2 cm)"
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        origin = self.meta.get("source")
        self.wavelength = np.asarray(self.wavelength, dtype=np.float64)
        if self.wavelength.ndim != 1 or self.wavelength.size < 2:
            raise DataError("wavelength must be a 1-D array of at least 2 values", origin)
        if not np.all(np.isfinite(self.wavelength)):
            raise DataError("wavelength contains NaN or inf", origin)
        if np.any(np.diff(self.wavelength) <= 0):
            raise DataError("wavelengths are not strictly increasing", origin)
        if not _on_disk(self.flux):
            self.flux = np.asarray(self.flux, dtype=np.float32)
        if len(self.flux.shape) != 2 or self.flux.shape[1] != self.wavelength.size:
            raise DataError(
                f"flux has shape {self.flux.shape}, expected (n_spectra, {self.wavelength.size})",
                origin,
            )
        if not self.params:
            raise DataError("a grid needs at least one parameter", origin)
        self.params = {k: np.asarray(v, dtype=np.float64) for k, v in self.params.items()}
        for name, values in self.params.items():
            if values.shape != (self.flux.shape[0],):
                raise DataError(
                    f"parameter {name!r} has {values.size} values for {self.flux.shape[0]} spectra",
                    origin,
                )
            if not np.all(np.isfinite(values)):
                raise DataError(f"parameter {name!r} contains NaN or inf", origin)

    # --- shape and axes -----------------------------------------------------------------
    def __len__(self) -> int:
        return int(self.flux.shape[0])

    def __repr__(self) -> str:
        ranges = ", ".join(
            f"{k}={v.min():g}..{v.max():g}" if v.min() != v.max() else f"{k}={v.min():g}"
            for k, v in self.params.items()
        )
        name = self.meta.get("name", "SpectralGrid")
        return (
            f"<{name}: {len(self)} spectra x {self.wavelength.size} wavelengths "
            f"({self.wavelength[0]:.3f}-{self.wavelength[-1]:.3f} µm), {ranges}>"
        )

    @property
    def axes(self) -> list[str]:
        """Parameter names, in table order."""
        return list(self.params)

    @property
    def n_wavelengths(self) -> int:
        """Number of wavelength points."""
        return int(self.wavelength.size)

    def axis_values(self, name: str) -> np.ndarray:
        """Sorted distinct values of one parameter."""
        return np.unique(self._param(name))

    def parameter_matrix(self, names: Sequence[str] | None = None) -> np.ndarray:
        """``(n_spectra, n_params)`` array of parameter values."""
        names = self.axes if names is None else list(names)
        return np.column_stack([self._param(n) for n in names])

    def _param(self, name: str) -> np.ndarray:
        if name not in self.params:
            raise UnknownNameError("parameter", name, self.axes)
        return self.params[name]

    def flux_array(self) -> np.ndarray:
        """A float32 copy of the flux matrix in memory (reads it all when streamed)."""
        return np.array(self.flux[...], dtype=np.float32, copy=True)

    def iter_flux(self, chunk: int = CHUNK_ROWS) -> Iterator[tuple[slice, np.ndarray]]:
        """Yield ``(rows, flux_block)`` in chunks, so that large grids need not fit in memory."""
        for start in range(0, len(self), chunk):
            rows = slice(start, min(start + chunk, len(self)))
            yield rows, np.asarray(self.flux[rows], dtype=np.float32)

    # --- checks --------------------------------------------------------------------------
    def label(self, index: int) -> dict[str, float]:
        """Parameter values of one spectrum."""
        return {k: float(v[index]) for k, v in self.params.items()}

    # --- selection -----------------------------------------------------------------------
    def subset(self, **selection: Any) -> SpectralGrid:
        """Select spectra by parameter.

        Each keyword is a parameter name with a ``(low, high)`` tuple (inclusive range), a
        list of allowed values, or a single value: ``grid.subset(teff=(900, 1500), mh=0)``.
        """
        mask = np.ones(len(self), dtype=bool)
        for name, sel in selection.items():
            values = self._param(name)
            if isinstance(sel, tuple):
                if len(sel) != 2:
                    raise ValueError(f"range for {name!r} must be (low, high), got {sel!r}")
                low, high = sel
                mask &= (values >= low - 1e-9) & (values <= high + 1e-9)
            elif isinstance(sel, (list, np.ndarray)):
                mask &= np.isin(np.round(values, 9), np.round(np.asarray(sel, float), 9))
            else:
                mask &= np.isclose(values, float(sel))
        if not mask.any():
            raise OutOfGridError(f"no spectra match {selection}")
        return self.take(np.flatnonzero(mask))

    def take(self, indices: Sequence[int] | np.ndarray) -> SpectralGrid:
        """A new in-memory grid holding the spectra at ``indices``.

        The parent's recorded checksum identifies the parent's content, not this selection's:
        it moves to ``meta["selected_from"]`` so that a model trained on the selection records
        the selection's own content hash.
        """
        idx = np.asarray(indices, dtype=np.int64)
        order = np.argsort(idx)
        flux = np.asarray(self.flux[idx[order].tolist()] if _on_disk(self.flux)
                          else self.flux[idx[order]], dtype=np.float32)
        flux = flux[np.argsort(order)]
        return SpectralGrid(
            params={k: v[idx] for k, v in self.params.items()},
            wavelength=self.wavelength.copy(),
            flux=flux,
            flux_unit=self.flux_unit,
            meta=_selection_meta(self.meta),
        )

    # --- interpolation ---------------------------------------------------------------------
    def interpolate(self, **params: float) -> np.ndarray:
        """Spectrum at any point inside the grid, linear in log-flux between grid nodes.

        Axes with a single value may be omitted. Raises :class:`OutOfGridError` outside the
        grid or where a needed node is missing.
        """
        unknown = set(params) - set(self.axes)
        if unknown:
            raise UnknownNameError("parameter", sorted(unknown)[0], self.axes)
        point = []
        for name in self.axes:
            values = self.axis_values(name)
            if name not in params:
                if values.size > 1:
                    raise ValueError(f"interpolate() needs {name!r} (grid has {values.tolist()})")
                point.append(values[0])
            else:
                point.append(float(params[name]))
        return self.interpolate_points(np.asarray([point]))[0]

    def interpolate_points(self, points: np.ndarray) -> np.ndarray:
        """Interpolate many points at once: ``points`` is ``(k, n_axes)`` in :attr:`axes` order."""
        points = np.atleast_2d(np.asarray(points, dtype=np.float64))
        if points.shape[1] != len(self.axes):
            raise ValueError(f"points need {len(self.axes)} columns ({self.axes})")
        _, axis_values = self._node_index()
        for j, values in enumerate(axis_values):
            tol = 1e-9 * max(1.0, float(np.abs(values).max()))
            outside = (points[:, j] < values[0] - tol) | (points[:, j] > values[-1] + tol)
            if outside.any():
                raise OutOfGridError(f"{self.axes[j]}={points[:, j][outside][0]:g} is outside "
                                     f"the grid ({values[0]:g}..{values[-1]:g})")
        log_flux, missing = self.log_interpolate(points)
        if missing.any():
            k = int(np.flatnonzero(missing)[0])
            raise OutOfGridError(f"the grid has no spectrum at a corner of "
                                 f"{dict(zip(self.axes, points[k].tolist(), strict=True))}, "
                                 "needed to interpolate")
        return np.exp(log_flux).astype(np.float32)

    def log_interpolate(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Log flux at ``points`` ``(k, n_axes)``, linear in log flux between nodes, without
        raising: returns ``(log_flux (k, n_wavelengths), missing (k,))``, ``missing`` True
        (and the row 0) where a point lies outside the grid or a needed node is absent. The
        one interpolant of the package: :meth:`interpolate_points` and the grid likelihood
        (:mod:`telescopeml.inference.likelihood`) both use it."""
        points = np.atleast_2d(np.asarray(points, dtype=np.float64))
        node_index, axis_values = self._node_index()
        table = self._log_flux()
        lower, frac = [], []
        missing = np.zeros(len(points), dtype=bool)
        for j, values in enumerate(axis_values):
            x = points[:, j]
            tol = 1e-9 * max(1.0, float(np.abs(values).max()))
            missing |= ~((x >= values[0] - tol) & (x <= values[-1] + tol))
            if values.size == 1:
                lower.append(np.zeros(len(x), dtype=np.int64))
                frac.append(np.zeros(len(x)))
                continue
            i = np.clip(np.searchsorted(values, x, side="right") - 1, 0, values.size - 2)
            lower.append(i)
            frac.append(np.clip(np.nan_to_num((x - values[i]) / (values[i + 1] - values[i])),
                                0.0, 1.0))
        log_flux = np.zeros((len(points), self.n_wavelengths))
        for corner in itertools.product((0, 1), repeat=len(self.axes)):
            weight = np.ones(len(points))
            idx = []
            for j, c in enumerate(corner):
                weight *= frac[j] if c else 1.0 - frac[j]
                idx.append(np.minimum(lower[j] + c, axis_values[j].size - 1))
            rows = node_index[tuple(idx)]
            needed = weight > 0
            missing |= needed & (rows < 0)
            use = needed & (rows >= 0)
            if use.any():
                log_flux[use] += weight[use, None] * table[rows[use]]
        log_flux[missing] = 0.0
        return log_flux, missing

    def _node_index(self) -> tuple[np.ndarray, list[np.ndarray]]:
        cached = getattr(self, "_node_cache", None)
        if cached is not None:
            return cached
        axis_values = [self.axis_values(n) for n in self.axes]
        index = np.full([v.size for v in axis_values], -1, dtype=np.int64)
        positions = [np.searchsorted(v, self.params[n]) for n, v in zip(self.axes, axis_values,
                                                                          strict=True)]
        index[tuple(positions)] = np.arange(len(self))
        self._node_cache = (index, axis_values)
        return self._node_cache

    def _log_flux(self) -> np.ndarray:
        cached = getattr(self, "_log_cache", None)
        if cached is None:
            flux = self.flux_array().astype(np.float64)
            if np.any(~np.isfinite(flux)) or np.any(flux <= 0):
                raise DataError(
                    "cannot interpolate in log-flux: the grid has NaN or non-positive flux "
                    "(see grid.bad_spectra())",
                    self.meta.get("source"),
                )
            cached = self._log_cache = np.log(flux)
        return cached

    # --- derived grids ---------------------------------------------------------------------
    def with_flux(self, flux: np.ndarray, wavelength: np.ndarray | None = None,
                  **meta: Any) -> SpectralGrid:
        """A copy with new flux (and optionally wavelengths), same labels."""
        return SpectralGrid(
            params={k: v.copy() for k, v in self.params.items()},
            wavelength=self.wavelength if wavelength is None else wavelength,
            flux=flux,
            flux_unit=self.flux_unit,
            meta={**self.meta, **meta},
        )

    def crop(self, low: float, high: float) -> SpectralGrid:
        """Keep wavelengths between ``low`` and ``high`` µm."""
        return self._keep((self.wavelength >= low) & (self.wavelength <= high),
                          f"{low:g}-{high:g} µm keeps")

    def keep_windows(self, windows: Sequence[tuple[float, float]]) -> SpectralGrid:
        """Keep the wavelengths inside the union of the ``(low, high)`` µm ``windows``."""
        keep = np.zeros(self.n_wavelengths, dtype=bool)
        for low, high in windows:
            keep |= (self.wavelength >= low) & (self.wavelength <= high)
        spans = ", ".join(f"{low:g}-{high:g}" for low, high in windows)
        return self._keep(keep, f"the windows {spans} µm keep")

    def _keep(self, keep: np.ndarray, what: str) -> SpectralGrid:
        """The grid on the wavelengths where ``keep``; ``what`` names the selection in the
        error when it keeps fewer than 2."""
        if keep.sum() < 2:
            raise OutOfGridError(
                f"{what} fewer than 2 of the grid's wavelengths "
                f"({self.wavelength[0]:.3f}-{self.wavelength[-1]:.3f} µm)"
            )
        return self.with_flux(self.flux_array()[:, keep], self.wavelength[keep])

    def resample(self, wavelength: np.ndarray) -> SpectralGrid:
        """Flux-conserving resampling onto new wavelengths (µm), which the grid must cover."""
        from telescopeml.data.resample import outside_coverage, resample

        wavelength = np.asarray(wavelength, dtype=np.float64)
        outside = outside_coverage(wavelength, self.wavelength)
        if outside.any():
            raise OutOfGridError(
                f"{int(outside.sum())} of the new wavelengths ({wavelength[0]:.3f}-"
                f"{wavelength[-1]:.3f} µm) fall outside the grid's "
                f"{self.wavelength[0]:.3f}-{self.wavelength[-1]:.3f} µm"
            )
        flux, _ = resample(wavelength, self.wavelength, self.flux_array())
        return self.with_flux(flux, wavelength)

    def smooth(self, resolution: float) -> SpectralGrid:
        """Convolve every spectrum to resolving power ``resolution`` (Gaussian, FWHM = λ/R)."""
        from telescopeml.data.resample import smooth_to_resolution

        flux = smooth_to_resolution(self.wavelength, self.flux_array(), resolution)
        return self.with_flux(flux, resolution=float(resolution))

    def checksum(self) -> str:
        """SHA-256 over wavelengths, parameters and flux: identifies this grid's content."""
        digest = hashlib.sha256()
        digest.update(self.wavelength.astype("<f8").tobytes())
        for name in self.axes:
            digest.update(name.encode())
            digest.update(self.params[name].astype("<f8").tobytes())
        for _, block in self.iter_flux():
            digest.update(block.astype("<f4").tobytes())
        return digest.hexdigest()

    # --- HDF5 ----------------------------------------------------------------------------
    def to_hdf5(self, path: str | Path) -> Path:
        """Write the grid to HDF5 (chunked, atomically: no partial file on failure)."""
        import h5py

        path = Path(path)
        with atomic_path(path) as tmp, h5py.File(tmp, "w") as h5:
            h5.attrs["format"] = HDF5_FORMAT
            h5.attrs["format_version"] = HDF5_FORMAT_VERSION
            h5.attrs["flux_unit"] = self.flux_unit
            h5.attrs["wavelength_unit"] = "um"
            h5.attrs["meta"] = json.dumps(self.meta, default=_json_default)
            h5.create_dataset("wavelength", data=self.wavelength)
            group = h5.create_group("params")
            for name in self.axes:
                group.create_dataset(name, data=self.params[name])
            group.attrs["order"] = json.dumps(self.axes)
            out = h5.create_dataset(
                "flux",
                shape=(len(self), self.n_wavelengths),
                dtype="f4",
                chunks=(min(CHUNK_ROWS, max(len(self), 1)), self.n_wavelengths),
            )
            for rows, block in self.iter_flux():
                out[rows] = block
        return path

    @classmethod
    def from_hdf5(cls, path: str | Path, stream: bool = False) -> SpectralGrid:
        """Read a grid written by :meth:`to_hdf5`.

        With ``stream=True`` the flux stays on disk and is read in chunks as needed.
        """
        import h5py

        path = Path(path)
        if not path.is_file():
            raise DataError("no such file", path)
        try:
            h5 = h5py.File(path, "r")
        except OSError as exc:
            raise DataError(f"not a readable HDF5 file ({exc})", path) from None
        try:
            if h5.attrs.get("format") != HDF5_FORMAT:
                raise DataError("not a telescopeml grid file (missing 'format' attribute)", path)
            version = int(h5.attrs["format_version"])
            if version > HDF5_FORMAT_VERSION:
                raise DataError(
                    f"grid file format {version} is newer than this telescopeml "
                    f"understands ({HDF5_FORMAT_VERSION}); upgrade telescopeml",
                    path,
                )
            order = json.loads(h5["params"].attrs["order"])
            params = {name: h5["params"][name][...] for name in order}
            meta = json.loads(h5.attrs["meta"])
            flux = h5["flux"] if stream else h5["flux"][...]
            grid = cls(
                params=params,
                wavelength=h5["wavelength"][...],
                flux=flux,
                flux_unit=str(h5.attrs["flux_unit"]),
                meta=meta,
            )
        except (KeyError, ValueError, OSError) as exc:
            h5.close()
            if isinstance(exc, DataError):
                raise
            raise DataError(f"damaged grid file ({exc})", path) from None
        if not stream:
            h5.close()
        return grid

    def summary(self) -> str:
        """A few human-readable lines: size, wavelengths, axes and their values."""
        report = self.check()
        lines = [
            f"grid       {self.meta.get('name', '(unnamed)')}",
            f"source     {self.meta.get('source', '?')} {self.meta.get('version', '')}".rstrip(),
            f"spectra    {len(self)}",
            f"wavelength {self.wavelength[0]:.4f}-{self.wavelength[-1]:.4f} µm, "
            f"{self.n_wavelengths} points",
            f"flux unit  {self.flux_unit}",
            "axes:",
        ]
        for name, values in report.axes.items():
            shown = ", ".join(f"{v:g}" for v in values)
            lines.append(f"  {name:9s} {len(values):3d} values: {shown}")
        lines.append(
            "complete   yes" if report.complete
            else f"complete   no ({len(report.missing)} combinations missing)"
        )
        if report.repeated_labels:
            lines.append(f"repeated labels: {len(report.repeated_labels)} groups")
        lines.append(f"duplicates {len(report.duplicate_spectra)} groups of identical spectra")
        lines.append(f"bad flux   {len(report.bad_spectra)} spectra with NaN or non-positive flux")
        for note in self.meta.get("notes", []):
            lines.append(f"note       {note}")
        return "\n".join(lines)


def _selection_meta(meta: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in meta.items() if k != "checksum"}
    if "checksum" in meta:
        out["selected_from"] = meta["checksum"]
    return out


def _on_disk(flux: Any) -> bool:
    """Whether ``flux`` is an open h5py dataset (h5py is imported only by HDF5 grids)."""
    h5py = sys.modules.get("h5py")
    return h5py is not None and isinstance(flux, h5py.Dataset)


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Mapping):
        return dict(obj)
    return str(obj)
