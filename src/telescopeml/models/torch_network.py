"""A torch model behind the NumPy engine's interface, for the prediction path.

Importing this module does not import PyTorch: each call does, so a predictor that runs on
the NumPy engine never loads it.
"""

from __future__ import annotations

from typing import Any

import numpy as np


class TorchNetwork:
    """A torch model behind :class:`~telescopeml.models.numpy_model.NumpyModel`'s interface
    (for architectures the NumPy engine does not evaluate)."""

    def __init__(self, model: Any) -> None:
        self.model = model
        self.config = model.config

    def embed(self, x: np.ndarray, extra: np.ndarray | None = None) -> np.ndarray:
        """The network's output before the head."""
        import torch

        with torch.inference_mode():
            return self.model.embed(*self._tensors(x, extra)).numpy()

    def sample(self, x: np.ndarray, extra: np.ndarray | None, n: int,
               rng: np.random.Generator, snr: np.ndarray | None = None) -> np.ndarray:
        """Flow head: ``(n, batch, d)`` samples in standardized units."""
        import torch

        generator = torch.Generator().manual_seed(int(rng.integers(2**63)))
        with torch.inference_mode():
            posterior = self.model.posterior(*self._tensors(x, extra))
            return posterior.sample(n, generator, snr).numpy()

    @staticmethod
    def _tensors(x: np.ndarray, extra: np.ndarray | None) -> tuple[Any, Any]:
        import torch

        return torch.from_numpy(x), None if extra is None else torch.from_numpy(extra)

