"""Training: configuration, the training loop with checkpoints, batched prediction."""

from telescopeml.training.config import DEVICES, LOSSES, SCHEDULES, TrainConfig
from telescopeml.training.trainer import (
    Trainer,
    available_cpus,
    predict,
    resolve_device,
    seed_everything,
)

__all__ = [
    "DEVICES",
    "LOSSES",
    "SCHEDULES",
    "TrainConfig",
    "Trainer",
    "available_cpus",
    "predict",
    "resolve_device",
    "seed_everything",
]
