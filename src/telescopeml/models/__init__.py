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

__all__ = [
    "ARCHITECTURES",
    "HEADS",
    "MLP",
    "MODELS",
    "PRESETS",
    "ModelConfig",
    "ResNet1D",
    "SpectrumModel",
    "TelescopeMLCNN",
    "build_model",
    "count_parameters",
]
