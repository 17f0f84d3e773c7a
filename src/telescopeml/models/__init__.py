"""Networks that map spectra to atmospheric parameters, and batched inference."""

from telescopeml.lazy import lazy_exports

_EXPORTS = {
    **{name: "telescopeml.models.cnn" for name in (
        "MLP", "MODELS", "ResNet1D", "SpectrumModel", "TelescopeMLCNN", "build_model",
        "count_parameters", "predict")},
    **{name: "telescopeml.models.config" for name in (
        "ARCHITECTURES", "HEADS", "PRESETS", "ModelConfig")},
    **{name: "telescopeml.models.posterior" for name in ("BoundedFlow", "Posterior", "box_bounds")},
    "NumpyModel": "telescopeml.models.numpy_model",
}
__getattr__ = lazy_exports(__name__, _EXPORTS)
__all__ = sorted(_EXPORTS)
