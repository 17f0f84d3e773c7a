"""TrainConfig: how a network is trained; saved beside the outputs as a flat TOML file."""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from telescopeml import tomlio
from telescopeml.errors import DataError

SCHEDULES = ("onecycle", "cosine", "constant")
LOSSES = ("mse", "huber", "gaussian_nll", "nll")
DEVICES = ("auto", "cpu", "cuda")
#: Largest seed numpy and torch both take.
MAX_SEED = 2**32 - 1
#: Largest epoch count and batch size: beyond it a value is a typo, not a plan.
MAX_COUNT = 10**7


@dataclass
class TrainConfig:
    """Training hyperparameters.

    Parameters
    ----------
    epochs, batch_size, lr, weight_decay
        AdamW run length, mini-batch size, peak learning rate and decoupled weight decay.
    schedule
        ``onecycle``, ``cosine`` (both stepped per batch) or ``constant``.
    loss
        ``mse``, ``huber`` (``huber_delta``; TelescopeML's loss), ``gaussian_nll``
        (needs a ``gaussian`` head) or ``nll`` (the negative log-posterior of a ``flow`` head,
        which trains with this loss only).
    patience
        Stop after this many epochs without a lower validation loss (0 = never), though
        never during the ``onecycle`` warm-up (the first 30% of the epochs); the best
        weights are restored at the end either way.
    grad_clip
        Maximum gradient norm (0 = no clipping).
    seed
        Seeds python, numpy and torch at the start of a fresh run.
    checkpoint_every
        Write ``checkpoint/`` every N epochs (0 = only on Ctrl-C and at the end).
    num_threads
        Torch CPU threads; ``None`` = the CPUs this process may use.
    device
        ``auto`` (CUDA when available), ``cpu`` or ``cuda``.
    deterministic
        Ask torch for deterministic algorithms (warn where there is none).
    """

    epochs: int = 100
    batch_size: int = 256
    lr: float = 1e-3
    weight_decay: float = 1e-4
    schedule: str = "onecycle"
    loss: str = "mse"
    huber_delta: float = 1.0
    patience: int = 20
    grad_clip: float = 1.0
    seed: int = 0
    checkpoint_every: int = 5
    num_threads: int | None = None
    device: str = "auto"
    deterministic: bool = True

    def __post_init__(self) -> None:
        hints = typing.get_type_hints(type(self))
        for field in dataclasses.fields(self):
            tomlio.check_type(field.name, getattr(self, field.name), hints[field.name])
        for field, valid in (("schedule", SCHEDULES), ("loss", LOSSES), ("device", DEVICES)):
            if getattr(self, field) not in valid:
                raise ValueError(f"{field} = {getattr(self, field)!r}: must be one of "
                                 f"{', '.join(valid)}")
        for field in ("epochs", "batch_size"):
            tomlio.check_range(field, getattr(self, field), 1, MAX_COUNT)
        for field in ("patience", "checkpoint_every", "weight_decay", "grad_clip"):
            tomlio.check_range(field, getattr(self, field), 0)
        for field in ("lr", "huber_delta"):
            tomlio.check_range(field, getattr(self, field), 0, above=True)
        tomlio.check_range("seed", self.seed, 0, MAX_SEED)
        if self.num_threads is not None:
            tomlio.check_range("num_threads", self.num_threads, 1)

    def to_dict(self) -> dict[str, Any]:
        """Plain dict of all fields."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        """Inverse of :meth:`to_dict`; unknown keys raise ValueError naming the valid ones."""
        return tomlio.dataclass_from_dict(cls, data)

    def to_toml(self, path: str | Path) -> Path:
        """Write the config as flat TOML (``None`` fields are left out)."""
        return tomlio.write(path, self.to_dict(), "telescopeml training configuration")

    @classmethod
    def from_toml(cls, path: str | Path) -> TrainConfig:
        """Read a file written by :meth:`to_toml` (missing keys take their defaults)."""
        data = tomlio.read(path)
        try:
            return cls.from_dict(data)
        except (TypeError, ValueError) as exc:
            raise DataError(str(exc), path) from exc
