"""The cache directory (XDG-aware, overridable) and atomic writes into it."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import re
import shutil
import socket
import stat
import tempfile
import time
import zlib
from collections.abc import Iterator
from pathlib import Path

from telescopeml.errors import DataError

_override: Path | None = None


def cache_dir() -> Path:
    """Return the cache directory, creating it on first use.

    Order: :func:`set_cache_dir`, ``$TELESCOPEML_CACHE``, ``$XDG_CACHE_HOME/telescopeml``,
    ``~/.cache/telescopeml``.
    """
    if _override is not None:
        path, given = _override, "--cache-dir"
    elif os.environ.get("TELESCOPEML_CACHE"):
        path, given = Path(os.environ["TELESCOPEML_CACHE"]), "TELESCOPEML_CACHE"
    else:
        base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
        path, given = Path(base) / "telescopeml", "the default (XDG_CACHE_HOME or ~/.cache)"
    path = path.expanduser()
    try:
        path.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise DataError(f"the cache directory ({given}) is a file, or a file is on its path; "
                        "point it at a folder (set TELESCOPEML_CACHE or --cache-dir)",
                        path) from None
    except OSError as exc:
        raise DataError(f"cannot create the cache directory ({given}): "
                        f"{exc.strerror or exc}", path) from None
    return path


def set_cache_dir(path: str | Path | None) -> None:
    """Use ``path`` as the cache directory for this process (``None`` restores the default)."""
    global _override
    _override = None if path is None else Path(path)


#: Temporaries whose writer cannot be checked (another host, an older naming) are stale
#: after this many seconds without a change.
STALE_AFTER = 24 * 3600.0
_HOST = f"{zlib.crc32(socket.gethostname().encode()) & 0xFFFF:04x}"
#: Folders whose stale temporaries this process has removed.
_swept: set[str] = set()


def sibling_temp(target: str | Path, directory: bool = False) -> Path:
    """Create an empty temporary file (or directory) beside ``target`` and return its path.

    Its name, ``.NAME.PID-HOST.RANDOM.part``, says which process writes it, so that
    :func:`remove_stale` can tell a killed writer's leftovers from a live one's; the
    first temporary of a process in a folder removes the stale ones there first.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    folder = os.path.abspath(target.parent)
    if folder not in _swept:  # once per folder: a library of 3,000 files is written one by one
        remove_stale(target)
        _swept.add(folder)
    options = {"prefix": f".{target.name}.{os.getpid()}-{_HOST}.", "suffix": ".part",
               "dir": target.parent}
    if directory:
        return Path(tempfile.mkdtemp(**options))
    fd, tmp = tempfile.mkstemp(**options)
    os.close(fd)
    return Path(tmp)


def remove_stale(target: str | Path) -> list[Path]:
    """Remove the temporaries (see :func:`sibling_temp`) that killed processes left in
    ``target``'s folder; return them.

    A temporary of this host whose writer is no longer running is stale, whatever output it
    was for; one of another host (its process cannot be asked), or of ``target`` in an
    older naming without the writer, is stale once unchanged for :data:`STALE_AFTER` s. A
    live process's temporary is never touched.
    """
    target = Path(target)
    named = re.compile(r"\..+\.(\d+)-([0-9a-f]{4})\.[A-Za-z0-9_]+\.part")
    older = re.compile(rf"\.{re.escape(target.name)}\.[A-Za-z0-9_]+\.part")
    removed = []
    try:
        entries = list(os.scandir(target.parent))
    except OSError:
        return removed
    now = time.time()
    for entry in entries:
        if not (entry.name.startswith(".") and entry.name.endswith(".part")):
            continue
        match = named.fullmatch(entry.name)
        if not match and not older.fullmatch(entry.name):
            continue
        try:
            age = now - entry.stat(follow_symlinks=False).st_mtime
        except OSError:
            continue
        here = match is not None and match.group(2) == _HOST
        if (here and not _running(int(match.group(1)))) or (not here and age > STALE_AFTER):
            path = Path(entry.path)
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
            removed.append(path)
    return removed


def _running(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # another user's process, or no permission to ask
        return True
    return True


def umask() -> int:
    """This process's umask (read without changing it where the system allows)."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def publish(tmp: str | Path, target: str | Path, overwrite: bool = True) -> None:
    """Move the finished temporary ``tmp`` onto ``target`` in one step.

    ``tmp`` gets the mode of the file it replaces, else the one a new file gets under the
    umask. Without ``overwrite`` the move fails with :class:`FileExistsError` when
    ``target`` exists, even when another process created it a moment ago (a hard link
    publishes the file only where nothing is; where links are not supported, an exclusive
    create reserves the name).
    """
    tmp, target = Path(tmp), Path(target)
    try:
        mode = stat.S_IMODE(os.stat(target).st_mode) if overwrite else None
    except OSError:
        mode = None
    if mode is None:
        mode = (0o777 if tmp.is_dir() else 0o666) & ~umask()
    os.chmod(tmp, mode)
    if overwrite or tmp.is_dir():
        if not overwrite and target.exists():
            raise FileExistsError(errno.EEXIST, "File exists", str(target))
        os.replace(tmp, target)
        return
    try:
        os.link(tmp, target)
    except FileExistsError:
        raise
    except OSError:  # a file system without hard links
        os.close(os.open(target, os.O_CREAT | os.O_EXCL | os.O_WRONLY, mode))
        os.replace(tmp, target)
    else:
        tmp.unlink()


@contextlib.contextmanager
def atomic_path(target: str | Path, overwrite: bool = True) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; move it onto ``target`` only on success.

    Nothing half-written is left behind when the body raises. The file follows the umask,
    or keeps the mode of the file it replaces; without ``overwrite`` an existing
    ``target`` (even one created meanwhile) raises :class:`FileExistsError` and is left as
    it was (see :func:`publish`).
    """
    tmp_path = sibling_temp(target)
    try:
        yield tmp_path
        publish(tmp_path, target, overwrite)
    finally:
        tmp_path.unlink(missing_ok=True)


def write_error(exc: BaseException) -> str | None:
    """Why a write failed, in words, when ``exc`` says the system refused it (a full disk,
    a file-size limit, no permission...), else None (a bug, to be raised as it is).

    Besides :class:`OSError`, libraries report these in their own types: h5py as a
    RuntimeError with ``errno = 28`` in its message, safetensors as a SafetensorError
    with ``os error 27``.
    """
    if isinstance(exc, OSError):
        return exc.strerror or str(exc)
    match = re.search(r"(?:errno\s*=\s*|os error\s+)(\d+)", str(exc))
    return os.strerror(int(match.group(1))) if match else None


@contextlib.contextmanager
def refused_writes(target: str | Path, what: str = "") -> Iterator[None]:
    """Turn the system's refusal of a write inside the block (see :func:`write_error`) into
    one :class:`~telescopeml.errors.DataError` line naming ``target`` (and ``what`` was
    being written); any other error passes as it is."""
    try:
        yield
    except Exception as exc:
        if isinstance(exc, FileExistsError) or (why := write_error(exc)) is None:
            raise
        raise DataError(f"cannot write{' ' + what if what else ''} ({why})", target) from None


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    """Return the hex SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()
