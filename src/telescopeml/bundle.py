"""A trained model on disk: one directory with ``model.safetensors`` and ``manifest.json``.

The two file names, the ``format`` name and the meaning of ``format_version`` are a stable
public contract. Weights are stored with safetensors only (never pickle), and the manifest
records their SHA-256 so that a damaged file is refused rather than silently used; from
format version 2 the manifest also records a digest of itself (``integrity``), so that an
edited manifest is refused too.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from safetensors import SafetensorError

from telescopeml.cache import atomic_path, publish, refused_writes, sha256_file, sibling_temp
from telescopeml.errors import DataError
from telescopeml.extras import requires
from telescopeml.jsonio import digest, dumps, read
from telescopeml.models.config import ModelConfig
from telescopeml.version import __version__

if TYPE_CHECKING:  # reading a bundle for NumPy inference must not import torch
    import torch

    from telescopeml.models.recalibration import Recalibration

MANIFEST = "manifest.json"
WEIGHTS = "model.safetensors"
FORMAT = "telescopeml-model"
#: 2: the manifest carries ``integrity``, the digest of everything else in it.
FORMAT_VERSION = 2
RESERVED = ("format", "format_version", "telescopeml_version", "config", "weights",
            "integrity")


@dataclass
class Bundle:
    """A loaded bundle: the model (in eval mode), its config and the whole manifest."""

    model: torch.nn.Module
    config: ModelConfig
    manifest: dict[str, Any]
    path: Path


@contextlib.contextmanager
def atomic_directory(target: str | Path) -> Iterator[Path]:
    """Yield an empty temporary directory beside ``target``; it replaces ``target`` on success.

    An existing ``target`` is removed only after the new one is complete; nothing
    half-written is left behind when the body raises. The directory follows the umask.
    """
    target = Path(target)
    tmp = sibling_temp(target, directory=True)
    old = target.with_name(f".{target.name}.old")
    try:
        yield tmp
        if target.exists():
            shutil.rmtree(old, ignore_errors=True)
            os.replace(target, old)
        publish(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(old, ignore_errors=True)


def state_tensors(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The model's state dict as contiguous CPU tensors, ready for safetensors."""
    return {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}


def save_bundle(
    directory: str | Path, model: torch.nn.Module, config: ModelConfig,
    weights_dtype: str = "float32", **sections: Any
) -> Path:
    """Write ``model`` as a bundle directory, atomically; return its path.

    Parameters
    ----------
    directory
        The bundle directory; created if needed. Its ``model.safetensors`` and
        ``manifest.json`` are replaced; other files in it are left alone.
    model, config
        The network and the config it was built from.
    weights_dtype
        ``float32``, or ``float16`` for half-size files (the weights load back into a
        float32 network; used for the models shipped in the package).
    **sections
        JSON-serialisable manifest sections: ``transforms``, ``wavelength``, ``parameters``,
        ``grid``, ``training``, ``metrics``, ``command``, ... The ``environment`` section
        gets the torch and zuko versions that wrote the weights (the NumPy engine checks
        zuko's, see :data:`~telescopeml.models.numpy_model.TESTED_ZUKO`).
    """
    clash = sorted(set(sections) & set(RESERVED))
    if clash:
        raise ValueError(f"manifest sections {clash} are reserved; reserved: {', '.join(RESERVED)}")
    import torch
    import zuko
    from safetensors.torch import save_file

    sections["environment"] = {**sections.get("environment", {}),
                               "torch": torch.__version__, "zuko": zuko.__version__}

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    # Weights first, manifest last, each renamed into place: a run's other outputs in the
    # same directory (history, plots, checkpoints) stay, and a crash between the two leaves
    # a manifest whose weights checksum no longer matches, which load_bundle refuses.
    with refused_writes(directory, "the model"):
        with atomic_path(directory / WEIGHTS) as tmp:
            tensors = state_tensors(model)
            if weights_dtype not in ("float32", "float16"):
                raise ValueError(f"weights_dtype {weights_dtype!r} is not float32 or float16")
            if weights_dtype == "float16":
                tensors = {k: v.half() if v.is_floating_point() else v for k, v in tensors.items()}
            save_file(tensors, str(tmp), metadata={"format": FORMAT})
            weights_sha256 = sha256_file(tmp)
        manifest = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "telescopeml_version": __version__,
            "config": config.to_dict(),
            "weights": {"file": WEIGHTS, "sha256": weights_sha256, "dtype": weights_dtype},
            **sections,
        }
        seal(manifest)
        with atomic_path(directory / MANIFEST) as tmp:
            tmp.write_text(dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return directory


def seal(manifest: dict[str, Any]) -> dict[str, Any]:
    """Record in ``manifest["integrity"]`` the digest of the rest of it (in place)."""
    manifest.pop("integrity", None)
    manifest["integrity"] = digest(manifest)
    return manifest


def manifest_sections(manifest: dict[str, Any]) -> dict[str, Any]:
    """The sections of a manifest that :func:`save_bundle` takes back (all but
    :data:`RESERVED`, which it writes itself)."""
    return {k: v for k, v in manifest.items() if k not in RESERVED}


def read_manifest(directory: str | Path) -> dict[str, Any]:
    """Read and check a bundle's ``manifest.json`` (format name and version) without weights."""
    path = Path(directory) / MANIFEST
    if not Path(directory).is_dir():
        raise DataError("model bundle directory does not exist", directory)
    if not path.is_file():
        raise DataError(f"not a model bundle: {MANIFEST} is missing", directory)
    manifest = read(path, "manifest: not valid JSON")
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        found = manifest.get("format") if isinstance(manifest, dict) else None
        raise DataError(f"manifest format is {found!r}, expected {FORMAT!r}", path)
    version = manifest.get("format_version")
    if not isinstance(version, int) or version < 1:
        raise DataError(f"manifest format_version {version!r} is not a positive integer", path)
    if version > FORMAT_VERSION:
        raise DataError(
            f"bundle format version {version} was written by a newer telescopeml "
            f"({manifest.get('telescopeml_version')}); this one reads up to {FORMAT_VERSION}: "
            "upgrade telescopeml",
            path,
        )
    recorded = manifest.get("integrity")
    if version >= 2 or recorded is not None:
        rest = {k: v for k, v in manifest.items() if k != "integrity"}
        if recorded != digest(rest):
            raise DataError("the manifest is not the one written with the model (its integrity "
                            "digest does not match): it was edited or damaged; retrain or "
                            "re-export the model instead of editing its manifest", path)
    return manifest


def model_config(manifest: dict[str, Any], directory: str | Path) -> ModelConfig:
    """The :class:`ModelConfig` a manifest records (DataError when unusable)."""
    try:
        return ModelConfig.from_dict(manifest["config"])
    except (KeyError, TypeError, ValueError) as exc:
        raise DataError(f"manifest model config is unusable: {exc}",
                        Path(directory) / MANIFEST) from exc


def read_weights(directory: str | Path, manifest: dict[str, Any]) -> dict[str, np.ndarray]:
    """The bundle's weights as NumPy arrays, after checking their SHA-256 (no torch needed)."""
    from safetensors.numpy import load_file

    weights = Path(directory) / WEIGHTS
    if not weights.is_file():
        raise DataError(f"{WEIGHTS} is missing", directory)
    expected = (manifest.get("weights") or {}).get("sha256")
    if sha256_file(weights) != expected:
        raise DataError("weights do not match the manifest's SHA-256: the file is damaged",
                        weights)
    try:
        return load_file(str(weights))
    except SafetensorError as exc:
        raise DataError(f"unreadable weights ({exc})", weights) from exc


def posterior_spread(manifest: dict[str, Any], directory: str | Path) -> list[float] | None:
    """The flow's recalibration factors recorded in the manifest, in parameter order."""
    spread = (manifest.get("posterior") or {}).get("spread")
    if not spread:
        return None
    try:
        return [float(spread[n]) for n in manifest["parameters"]["names"]]
    except (KeyError, TypeError, ValueError) as exc:
        raise DataError(f"manifest posterior spread is unusable: {exc}",
                        Path(directory) / MANIFEST) from exc


def posterior_recalibration(manifest: dict[str, Any], directory: str | Path
                            ) -> Recalibration | None:
    """The flow's recalibration recorded in the manifest (``posterior.stretch``)."""
    from telescopeml.models.recalibration import Recalibration

    stretch = (manifest.get("posterior") or {}).get("stretch")
    if not stretch:
        return None
    try:
        return Recalibration.from_dict(stretch, manifest["parameters"]["names"])
    except (KeyError, TypeError, ValueError) as exc:
        raise DataError(f"manifest posterior stretch is unusable: {exc}",
                        Path(directory) / MANIFEST) from exc


def load_bundle(directory: str | Path, device: str | torch.device = "cpu") -> Bundle:
    """Load a bundle written by :func:`save_bundle`; the model comes back in eval mode.

    Raises
    ------
    DataError
        Missing directory or file, bad JSON, wrong format name, newer format version,
        weights whose SHA-256 differs from the manifest, or weights that do not fit the config.
    MissingExtraError
        torch or zuko is not installed (the ``train`` extra).
    """
    requires("torch", "zuko")
    import torch

    from telescopeml.models.cnn import build_model

    directory = Path(directory)
    manifest = read_manifest(directory)
    config = model_config(manifest, directory)
    state = {k: torch.from_numpy(v) for k, v in read_weights(directory, manifest).items()}
    model = build_model(config)
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        raise DataError(f"weights do not fit the model config: {exc}",
                        directory / WEIGHTS) from exc
    spread = posterior_spread(manifest, directory)
    recalibration = posterior_recalibration(manifest, directory)
    if model.flow is not None:
        try:
            model.flow.set_spread(spread)
            model.flow.set_recalibration(recalibration)
        except ValueError as exc:
            raise DataError(f"manifest posterior recalibration is unusable: {exc}",
                            directory / MANIFEST) from exc
    model.to(device).eval()
    return Bundle(model=model, config=config, manifest=manifest, path=directory)
