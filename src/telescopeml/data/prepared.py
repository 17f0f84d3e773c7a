"""The data a trained model saw: its grid, split, augmentation and fitted transforms.

Training builds it from a config (:func:`telescopeml.training.experiment.prepare`); evaluation
and resumed runs rebuild it from a bundle's manifest (:func:`prepared_from_manifest`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from telescopeml import tomlio
from telescopeml.data.augment import AugmentConfig, Augmenter
from telescopeml.data.grid import SpectralGrid
from telescopeml.data.inputs import InputEncoder
from telescopeml.data.sources import model_grid
from telescopeml.data.splits import GridSplit
from telescopeml.data.transforms import ParameterScaler
from telescopeml.errors import DataError


@dataclass
class PreparedData:
    """The grid as the model sees it, the split, and the fitted transforms."""

    grid: SpectralGrid
    targets: list[str]
    split: GridSplit
    augmenter: Augmenter
    encoder: InputEncoder
    scaler: ParameterScaler

    @property
    def target_columns(self) -> list[int]:
        """Columns of the targets in the grid's parameter order."""
        return [self.grid.axes.index(t) for t in self.targets]

    def inputs(self, flux: np.ndarray, sigma: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Encoded network inputs ``(x, extra)``."""
        return self.encoder.encode(flux, sigma)

    def labels(self, params: np.ndarray) -> np.ndarray:
        """Scaled targets from a ``(n, n_axes)`` parameter matrix."""
        return self.scaler.transform(params[:, self.target_columns]).astype(np.float32)


def config_grid(data: Mapping[str, Any] | Any, quiet: bool = False) -> SpectralGrid:
    """The grid that a training config's ``data`` section describes (on its instrument's
    pixels, cropped, windowed: :func:`~telescopeml.data.sources.model_grid`): a saved
    config's dict, or a ``DataConfig``."""
    if not isinstance(data, Mapping):
        data = dataclasses.asdict(data)
    return model_grid(data["grid"], data.get("instrument", ""),
                      tuple(data.get("wavelength_range", (0.0, 0.0))),
                      [tuple(w) for w in data.get("windows", ())], quiet=quiet)


def prepared_from_manifest(manifest: dict[str, Any], quiet: bool = False) -> PreparedData:
    """Rebuild a bundle's data (grid, split, augmentation, transforms) from its manifest.

    Refuses with :class:`DataError` when the grid in the cache is not the one the model
    was trained on (checksum).
    """
    config = manifest["training"]["config"]
    data = config["data"]
    grid = config_grid(data, quiet)
    expected = manifest["grid"].get("checksum")
    if expected and grid_checksum(grid) != expected:
        raise DataError(f"grid {data['grid']!r} differs from the one this model was "
                        "trained on (checksum mismatch)", manifest["grid"].get("name"))
    split = GridSplit.from_dict(manifest["split"])
    wavelength = np.asarray(manifest["wavelength"])
    if grid.n_wavelengths != wavelength.size or not np.allclose(grid.wavelength, wavelength):
        raise DataError("the grid's wavelengths differ from the model's",
                        manifest["grid"].get("name"))
    transforms = manifest["transforms"]
    augment = {k: tuple(v) if isinstance(v, list) else v for k, v in config["augment"].items()}
    return PreparedData(
        grid=grid,
        targets=list(manifest["parameters"]["names"]),
        split=split,
        augmenter=Augmenter(grid, split.train, tomlio.dataclass_from_dict(AugmentConfig, augment),
                            seed=config["train"]["seed"]),
        encoder=InputEncoder.from_dict(transforms["encoder"], wavelength),
        scaler=ParameterScaler.from_dict(transforms["parameters"]),
    )


def grid_checksum(grid: SpectralGrid) -> str:
    """The grid's recorded checksum, or its content hash when it has none (user files)."""
    return grid.meta.get("checksum") or grid.checksum()
