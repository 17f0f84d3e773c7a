"""The cache directory (XDG-aware, overridable) and atomic writes into it."""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

_override: Path | None = None


def cache_dir() -> Path:
    """Return the cache directory, creating it on first use.

    Order: :func:`set_cache_dir`, ``$TELESCOPEML_CACHE``, ``$XDG_CACHE_HOME/telescopeml``,
    ``~/.cache/telescopeml``.
    """
    if _override is not None:
        path = _override
    elif os.environ.get("TELESCOPEML_CACHE"):
        path = Path(os.environ["TELESCOPEML_CACHE"])
    else:
        base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
        path = Path(base) / "telescopeml"
    path = path.expanduser()
    path.mkdir(parents=True, exist_ok=True)
    return path


def set_cache_dir(path: str | Path | None) -> None:
    """Use ``path`` as the cache directory for this process (``None`` restores the default)."""
    global _override
    _override = None if path is None else Path(path)


@contextlib.contextmanager
def atomic_path(target: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; rename it onto ``target`` only on success.

    Nothing half-written is left behind when the body raises.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, target)
    finally:
        tmp_path.unlink(missing_ok=True)


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    """Return the hex SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()
