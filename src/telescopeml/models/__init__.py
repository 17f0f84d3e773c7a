"""Networks that map spectra to atmospheric parameters."""

from telescopeml.models.cnn import (
    MLP,
    MODELS,
    ResNet1D,
    SpectrumModel,
    TelescopeMLCNN,
    build_model,
    count_parameters,
)
from telescopeml.models.config import ARCHITECTURES, HEADS, PRESETS, ModelConfig
from telescopeml.models.posterior import BoundedFlow, Posterior, box_bounds

__all__ = [
    "ARCHITECTURES",
    "HEADS",
    "MLP",
    "MODELS",
    "PRESETS",
    "BoundedFlow",
    "ModelConfig",
    "Posterior",
    "ResNet1D",
    "SpectrumModel",
    "TelescopeMLCNN",
    "box_bounds",
    "build_model",
    "count_parameters",
]
