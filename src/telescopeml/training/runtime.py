"""Where training runs: the CPUs, the ``torchrun`` ranks and device, the seeds, and SIGTERM
(a batch scheduler's stop) handled as Ctrl-C."""

from __future__ import annotations

import os
import random
import signal
import threading
from typing import Any

import numpy as np
import torch


def available_cpus() -> int:
    """CPUs this process may run on (affinity-aware)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def distributed_env() -> tuple[int, int, int]:
    """``(world_size, rank, local_rank)`` as ``torchrun`` sets them; ``(1, 0, 0)`` outside it."""
    env = os.environ
    return (int(env.get("WORLD_SIZE", "1")), int(env.get("RANK", "0")),
            int(env.get("LOCAL_RANK", "0")))


def is_main_process() -> bool:
    """True outside ``torchrun`` and on its rank 0: the process that writes outputs."""
    return distributed_env()[1] == 0


def resolve_device(name: str) -> torch.device:
    """``auto`` -> ``cuda`` when available, else ``cpu``."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(name)


def seed_everything(seed: int) -> None:
    """Seed python's ``random``, numpy's global generator and torch (CPU and CUDA)."""
    random.seed(seed)
    np.random.seed(seed)  # noqa: NPY002 - data code may use the global generator
    torch.manual_seed(seed)


def _raise_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def stop_on_sigterm() -> Any:
    """Make SIGTERM stop training as Ctrl-C does (checkpoint, then stop); returns the
    previous handler (None outside the main thread, where signals cannot be handled)."""
    if threading.current_thread() is not threading.main_thread():
        return None
    return signal.signal(signal.SIGTERM, _raise_interrupt)

