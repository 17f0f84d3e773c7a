"""Training checkpoints: everything needed to resume, as safetensors plus JSON (no pickle).

Nested state (model, optimizer, scheduler, random generators) is split into a flat dict of
tensors, saved with safetensors, and a JSON skeleton that says where each tensor goes. The
skeleton records the tensors file's SHA-256 and a digest of itself (``integrity``): an
edited or damaged checkpoint is refused, not resumed.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from telescopeml.bundle import atomic_directory
from telescopeml.cache import refused_writes, sha256_file
from telescopeml.errors import DataError
from telescopeml.jsonio import digest, dumps, read

#: Training settings that may change between a run and its resumption.
RESUMABLE_CHANGES = ("num_threads", "device", "checkpoint_every")


def write_checkpoint(directory: Path, tensors: dict[str, torch.Tensor],
                     meta: dict[str, Any]) -> None:
    """Replace ``directory`` atomically with ``state.safetensors`` and ``state.json``."""
    with (refused_writes(directory, "the checkpoint (the previous one is kept)"),
          atomic_directory(directory) as tmp):
        save_file(tensors, str(tmp / "state.safetensors"))
        meta = {k: v for k, v in meta.items() if k not in ("integrity", "tensors_sha256")}
        meta["tensors_sha256"] = sha256_file(tmp / "state.safetensors")
        meta["integrity"] = digest(meta)
        (tmp / "state.json").write_text(dumps(meta) + "\n", encoding="utf-8")


def read_meta(directory: Path) -> dict[str, Any]:
    """A checkpoint's ``state.json`` alone (no tensors); :class:`DataError` when there is
    none usable."""
    meta = _state(directory)
    if not isinstance(meta.get("train_config"), dict):
        raise DataError("no usable checkpoint to resume from (state.json has no "
                        "train_config)", directory)
    return meta


def _state(directory: Path) -> dict[str, Any]:
    """``state.json``, checked against its integrity digest."""
    meta = read(directory / "state.json", "checkpoint: no usable state.json")
    if not isinstance(meta, dict):
        raise DataError("no usable checkpoint to resume from (state.json is no record)",
                        directory)
    rest = {k: v for k, v in meta.items() if k != "integrity"}
    if meta.get("integrity") != digest(rest):
        raise DataError("the checkpoint's state.json is not the one written with it (its "
                        "integrity digest does not match): edited or damaged; not resumed",
                        directory)
    return meta


def check_train_settings(meta: dict[str, Any], config: Any, directory: Path) -> None:
    """Refuse to resume with ``[train]`` settings (a
    :class:`~telescopeml.training.config.TrainConfig`) other than the checkpoint's, but
    for :data:`RESUMABLE_CHANGES`."""
    saved, current = meta["train_config"], config.to_dict()
    changed = [f"[train] {k}: {saved.get(k)!r} -> {current[k]!r}" for k in sorted(current)
               if k not in RESUMABLE_CHANGES and saved.get(k) != current[k]]
    if changed:
        raise DataError("cannot resume: the run was started with other training settings ("
                        + "; ".join(changed) + "); train into a new --out instead", directory)


def read_checkpoint(directory: Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """``(tensors, meta)`` of a checkpoint; :class:`DataError` when there is none usable."""
    meta = _state(directory)
    try:
        if sha256_file(directory / "state.safetensors") != meta.get("tensors_sha256"):
            raise DataError("the checkpoint's state.safetensors is not the one written with "
                            "it (SHA-256 mismatch): damaged; not resumed", directory)
        tensors = load_file(str(directory / "state.safetensors"))
    except (OSError, SafetensorError) as exc:
        raise DataError(f"no usable checkpoint to resume from ({exc})", directory) from None
    return tensors, meta


def rng_state(shuffle: torch.Generator) -> dict[str, Any]:
    """The state of every random generator training uses (torch, CUDA, python, numpy's
    global one and the shuffling ``shuffle``)."""
    rng: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "shuffle": shuffle.get_state(),
        "python": random.getstate(),
        "numpy": np.random.get_state(legacy=False),  # noqa: NPY002
    }
    if torch.cuda.is_available():
        rng["cuda"] = torch.cuda.get_rng_state_all()
    return rng


def restore_rng(rng: dict[str, Any], shuffle: torch.Generator) -> None:
    """Put back what :func:`rng_state` captured."""
    torch.set_rng_state(rng["torch"])
    shuffle.set_state(rng["shuffle"])
    version, state, gauss = rng["python"]
    random.setstate((version, tuple(state), gauss))
    np.random.set_state(rng["numpy"])  # noqa: NPY002
    if "cuda" in rng and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(rng["cuda"])


def split_tensors(obj: Any, prefix: str, tensors: dict[str, torch.Tensor]) -> Any:
    """JSON-ready copy of ``obj`` whose tensors/arrays move into ``tensors`` (as copies)."""
    if isinstance(obj, torch.Tensor):
        tensors[prefix] = obj.detach().to("cpu", copy=True).contiguous()
        return {"__tensor__": prefix}
    if isinstance(obj, np.ndarray):
        tensors[prefix] = torch.from_numpy(obj.astype(np.int64 if obj.dtype.kind == "u" else
                                                      obj.dtype))
        return {"__ndarray__": prefix, "dtype": obj.dtype.str}
    if isinstance(obj, dict):
        return {"__items__": [[k, split_tensors(v, f"{prefix}.{k}", tensors)]
                              for k, v in obj.items()]}
    if isinstance(obj, list | tuple):
        return [split_tensors(v, f"{prefix}.{i}", tensors) for i, v in enumerate(obj)]
    return obj


def join_tensors(obj: Any, tensors: dict[str, torch.Tensor]) -> Any:
    """Inverse of :func:`_split`."""
    if isinstance(obj, dict):
        if "__tensor__" in obj:
            return tensors[obj["__tensor__"]]
        if "__ndarray__" in obj:
            return tensors[obj["__ndarray__"]].numpy().astype(np.dtype(obj["dtype"]))
        return {k: join_tensors(v, tensors) for k, v in obj["__items__"]}
    if isinstance(obj, list):
        return [join_tensors(v, tensors) for v in obj]
    return obj
