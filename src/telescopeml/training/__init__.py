"""Training: configuration, the training loop with checkpoints."""

from telescopeml.lazy import lazy_exports

_EXPORTS = {
    **{name: "telescopeml.training.config" for name in (
        "DEVICES", "LOSSES", "SCHEDULES", "TrainConfig")},
    "Trainer": "telescopeml.training.trainer",
    **{name: "telescopeml.training.runtime" for name in (
        "available_cpus", "resolve_device", "seed_everything")},
}
__getattr__ = lazy_exports(__name__, _EXPORTS)
__all__ = sorted(_EXPORTS)
