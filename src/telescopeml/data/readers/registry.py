"""The spectrum-reader registry: readers register here, and a file's reader is picked here.

:func:`register_reader` adds one, :func:`choose_reader` picks one for a file and
:func:`read_spectrum` reads it (see :mod:`telescopeml.data.readers` for the order).

The readers import this module to register themselves and the package imports them, so the
registry is a module of its own: a reader and the package that loads it do not import each
other.
"""

from __future__ import annotations

import gzip
import re
import stat
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from astropy.io import fits

from telescopeml.errors import DataError, TelescopeMLError, UnknownNameError

#: Column names (lower case, any ``[unit]`` or ``(unit)`` suffix removed) for each role.
WAVELENGTH_NAMES = ("wavelength", "wave", "wavelengths", "lambda", "lam", "wl", "wav")
FLUX_NAMES = ("flux", "signal", "f_lambda", "flam", "fnu", "f_nu", "fluxdensity")
UNCERTAINTY_NAMES = ("uncertainty", "unc", "error", "err", "noise", "sigma", "flux_error",
                     "flux_err", "e_flux", "f_lambda_error", "flux_unc")

#: What reading a damaged file raises; readers' errors of these types become DataError.
READ_ERRORS = (OSError, EOFError, ValueError, KeyError, IndexError, zlib.error,
                fits.VerifyError)


@dataclass(frozen=True)
class Reader:
    """A registered file reader (see :func:`register_reader`)."""

    name: str
    function: Callable[..., dict[str, Any]]
    extensions: tuple[str, ...]
    identify: Callable[[Path], bool] | None


#: Format name -> :class:`Reader`, in registration order (the order identification tries).
READERS: dict[str, Reader] = {}


def register_reader(
    name: str, extensions: Sequence[str] = (), identify: Callable[[Path], bool] | None = None
) -> Callable[[Callable[..., dict[str, Any]]], Callable[..., dict[str, Any]]]:
    """Register ``function(path, **options)`` as the reader for ``name``; it returns the
    keyword arguments of :class:`~telescopeml.data.spectrum.ObservedSpectrum` (readers build
    no objects, so that the spectrum class can use the registry without a cycle).

    Parameters
    ----------
    name
        Format name, as passed to ``ObservedSpectrum.read(path, format=name)``.
    extensions
        File suffixes (``".fits"``) this reader claims; a trailing ``.gz`` is ignored.
    identify
        Called with the path, True if the reader can read the file (:func:`file_head` gives
        its first bytes); it must not raise.
    """

    def decorator(function: Callable[..., dict[str, Any]]) -> Callable[..., dict[str, Any]]:
        READERS[name] = Reader(name, function, tuple(e.lower() for e in extensions), identify)
        return function

    return decorator


def not_a_file(path: Path) -> str:
    """Why ``path``, which is not a regular file, cannot be read as a spectrum: missing (or a
    broken link), a folder, a symbolic-link loop, unreachable, or a device or pipe."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return "no such file (a broken symbolic link)" if path.is_symlink() else "no such file"
    except OSError as exc:  # ELOOP: a symbolic-link loop; EACCES: a folder on the way
        return f"cannot be reached ({exc.strerror or exc})"
    if stat.S_ISDIR(mode):
        return ("is a folder, not a spectrum file (give the files in it; a model folder "
                "needs its manifest.json)")
    return "is not a regular file (a device, socket or pipe)"


def read_spectrum(path: str | Path, format: str | None = None, **options: Any
                  ) -> dict[str, Any]:
    """Read a spectrum file with the reader :func:`choose_reader` picks: the spectrum's fields.

    ``options`` go to the reader. Every problem with the file is raised as
    :class:`~telescopeml.errors.DataError` naming it.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(not_a_file(path), path)
    reader = choose_reader(path, format)
    try:
        return reader.function(path, **options)
    except TelescopeMLError:
        raise
    except READ_ERRORS as exc:
        raise DataError(f"cannot read as {reader.name!r} ({exc})", path) from None


def choose_reader(path: Path, format: str | None = None) -> Reader:
    """The reader for ``format``; else the only one claiming the extension; else the first
    claiming it whose ``identify`` accepts the file; else the first of all readers whose
    ``identify`` does (specutils' loaders last); else the first claiming the extension.

    Raises :class:`~telescopeml.errors.UnknownNameError` listing the formats when none fits.
    """
    if format is not None:
        if format not in READERS:
            raise UnknownNameError("format", format, sorted(READERS))
        return READERS[format]
    suffix = _suffix(path)
    claimed = [r for r in READERS.values() if suffix in r.extensions]
    if len(claimed) == 1:
        return claimed[0]
    others = [r for r in READERS.values() if r not in claimed]
    for reader in claimed + others:
        if reader.identify is not None and reader.identify(path):
            return reader
    if claimed:
        return claimed[0]
    raise UnknownNameError("format", suffix or path.name, sorted(READERS))


def file_head(path: Path, size: int = 2880) -> bytes:
    """The first ``size`` bytes, decompressed if gzipped (empty if that fails)."""
    try:
        if is_gzip(path):
            with gzip.open(path) as handle:
                return handle.read(size)
        with path.open("rb") as handle:
            return handle.read(size)
    except (OSError, EOFError, zlib.error):
        return b""


def is_gzip(path: Path) -> bool:
    """True if the file starts with the gzip magic number."""
    with path.open("rb") as handle:
        return handle.read(2) == b"\x1f\x8b"


def stem(path: Path) -> str:
    """The file name without its extension (and without ``.gz``): a default object name."""
    return Path(path.name.removesuffix(".gz")).stem


def column_roles(names: Sequence[str], source: str | Path | None) -> dict[str, str]:
    """Column name for ``wavelength``, ``flux`` and (if present) ``uncertainty``.

    Matching is case-insensitive and ignores a trailing ``[unit]`` or ``(unit)``; raises
    :class:`~telescopeml.errors.DataError` without a wavelength or a flux column.
    """
    plain = {re.sub(r"\s*[\[(].*$", "", n).strip().lower(): n for n in names}
    roles = {}
    for role, aliases in (("wavelength", WAVELENGTH_NAMES), ("flux", FLUX_NAMES),
                          ("uncertainty", UNCERTAINTY_NAMES)):
        found = next((plain[a] for a in aliases if a in plain), None)
        if found is not None:
            roles[role] = found
        elif role != "uncertainty":
            raise DataError(
                f"no {role} column among {list(names)}; expected one of {', '.join(aliases)}",
                source,
            )
    return roles


def plain(value: Any) -> Any:
    """A header or table value as a JSON type."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


def _suffix(path: Path) -> str:
    name = path.name.lower()
    return Path(name.removesuffix(".gz")).suffix

