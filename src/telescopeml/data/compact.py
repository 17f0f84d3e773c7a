"""The compact grid format of the shipped models (``grid.safetensors``): a training grid on
the model's wavelengths, fluxes relative to each spectrum's median, float16 where they fit.

A registered grid format (:mod:`telescopeml.data.gridregistry`);
:func:`telescopeml.pretrained.write_compact_grid` and
:func:`~telescopeml.pretrained.read_compact_grid` call it.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
from safetensors.numpy import load_file, save_file

from telescopeml.data.grid import SpectralGrid
from telescopeml.data.gridio import existing
from telescopeml.data.gridregistry import register_grid_format, register_grid_writer
from telescopeml.errors import DataError

COMPACT_FORMAT = "telescopeml-compact-grid"
#: The longest safetensors header :func:`is_compact_grid` reads.
_MAX_HEADER = 1 << 20


def is_compact_grid(path: Path) -> bool:
    """Whether ``path`` is a safetensors file whose metadata names :data:`COMPACT_FORMAT`
    (reads only its header)."""
    if not path.is_file():
        return False
    with path.open("rb") as handle:
        head = handle.read(8)
        if len(head) < 8:
            return False
        (size,) = struct.unpack("<Q", head)
        if size > _MAX_HEADER:
            return False
        header = handle.read(size)
    try:
        meta = json.loads(header).get("__metadata__") or {}
    except (ValueError, AttributeError):
        return False
    return isinstance(meta, dict) and meta.get("format") == COMPACT_FORMAT


@register_grid_format(COMPACT_FORMAT, suffixes=(".safetensors",), identify=is_compact_grid)
def read_compact_grid(path: str | Path) -> SpectralGrid:
    """Read a grid written by :func:`write_compact_grid`."""
    from safetensors import SafetensorError, safe_open

    path = existing(path, want="file")
    try:
        with safe_open(str(path), framework="numpy") as fh:
            meta = fh.metadata() or {}
        tensors = load_file(str(path))
        if meta.get("format") != COMPACT_FORMAT:
            raise DataError(f"not a {COMPACT_FORMAT} file", path)
        names = json.loads(meta["params"])
        flux = tensors["flux"].astype(np.float32) * tensors["scale"][:, None]
        return SpectralGrid(
            params={n: tensors["params"][:, j] for j, n in enumerate(names)},
            wavelength=tensors["wavelength"], flux=flux, flux_unit=meta["flux_unit"],
            meta=json.loads(meta["meta"]))
    except (KeyError, ValueError, OSError, SafetensorError) as exc:
        raise DataError(f"unreadable shipped grid ({exc})", path) from exc


@register_grid_writer(COMPACT_FORMAT)
def write_compact_grid(grid: SpectralGrid, path: str | Path) -> Path:
    """Save ``grid`` as fluxes relative to each spectrum's median (safetensors): float16
    where every ratio lies in float16's normal range (1e-4..6e4), float32 otherwise (cold
    grids, whose absorption bands reach far below the median)."""
    flux = np.asarray(grid.flux_array(), dtype=np.float64)
    scale = np.median(flux, axis=1, keepdims=True)
    if not np.all(np.isfinite(flux)) or np.any(flux <= 0):
        raise DataError("the grid has NaN or non-positive spectra; it cannot be shipped", path)
    relative = flux / scale
    half = relative.min() > 1e-4 and relative.max() < 6e4
    tensors = {"flux": relative.astype(np.float16 if half else np.float32),
               "scale": scale[:, 0].astype(np.float32),
               "wavelength": grid.wavelength.astype(np.float64)}
    names = list(grid.params)
    tensors["params"] = np.column_stack([grid.params[n] for n in names]).astype(np.float64)
    meta = {"format": COMPACT_FORMAT, "params": json.dumps(names), "flux_unit": grid.flux_unit,
            "meta": json.dumps(grid.meta, default=str)}
    # safetensors writes raw memory: a Fortran-ordered array would come back scrambled
    save_file({k: np.ascontiguousarray(v) for k, v in tensors.items()}, str(path),
              metadata=meta)
    return Path(path)
