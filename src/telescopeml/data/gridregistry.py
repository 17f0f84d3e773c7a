"""The registry of grid file formats: each format's name, the file names it claims, how to
recognise its files, its reader and (optionally) its writer.

A format registers its reader with :func:`register_grid_format` and its writer with
:func:`register_grid_writer`, as the spectrum readers do (:mod:`telescopeml.data.readers`).
Everything that needs to know which files are grids derives from :data:`GRID_FORMATS`:
:func:`~telescopeml.data.formats.read_grid`, :func:`~telescopeml.data.formats.write_grid`,
:func:`~telescopeml.data.formats.sniff_format`, the suffix list
(:func:`~telescopeml.data.formats.grid_suffixes`) and the fit check's guard on the grid a
bundle names (:func:`~telescopeml.data.formats.is_grid_path`). Use them through
:mod:`telescopeml.data.formats`, which imports every built-in format; this module holds only
the mechanism.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from telescopeml.data.grid import SpectralGrid
from telescopeml.errors import UnknownNameError

GridReader = Callable[..., SpectralGrid]
GridWriter = Callable[[SpectralGrid, Path], Path]


@dataclass(frozen=True)
class GridFormat:
    """A registered grid file format (see :func:`register_grid_format`).

    Calling it reads a grid: ``GRID_FORMATS["hdf5"](path)`` is ``read_hdf5(path)``.
    """

    name: str
    reader: GridReader
    suffixes: tuple[str, ...] = ()
    patterns: tuple[str, ...] = ()
    directory: bool = False
    identify: Callable[[Path], bool] | None = None
    writer: GridWriter | None = None

    def __call__(self, path: str | Path, **options: Any) -> SpectralGrid:
        return self.reader(path, **options)

    def claims_suffix(self, path: str | Path) -> bool:
        """Whether the file name ends with one of :attr:`suffixes` (case-insensitive)."""
        return Path(path).name.lower().endswith(self.suffixes) if self.suffixes else False

    def claims_pattern(self, path: str | Path) -> bool:
        """Whether the file name matches one of :attr:`patterns` (case-insensitive)."""
        name = Path(path).name.lower()
        return any(fnmatch.fnmatchcase(name, p) for p in self.patterns)

    def claims_name(self, path: str | Path) -> bool:
        """Whether the file name alone says this format: a suffix or a pattern of it."""
        return self.claims_suffix(path) or self.claims_pattern(path)

    def recognises(self, path: Path) -> bool:
        """Whether :attr:`identify` accepts ``path`` (a file or a directory); never raises."""
        if self.identify is None:
            return False
        try:
            return bool(self.identify(path))
        except (OSError, ValueError):
            return False


#: Format name -> :class:`GridFormat`, in registration order: the order in which
#: :func:`~telescopeml.data.formats.sniff_format` tries formats that claim the same file or
#: directory.
GRID_FORMATS: dict[str, GridFormat] = {}


def register_grid_format(
    name: str,
    *,
    suffixes: Sequence[str] = (),
    patterns: Sequence[str] = (),
    directory: bool = False,
    identify: Callable[[Path], bool] | None = None,
) -> Callable[[GridReader], GridReader]:
    """Register ``reader(path, **options) -> SpectralGrid`` as the reader of format ``name``.

    Parameters
    ----------
    name
        Format name, as passed to ``read_grid(path, format=name)``.
    suffixes
        File-name endings the format claims (``".csv.gz"``; matched case-insensitively).
    patterns
        :mod:`fnmatch` patterns of file names the format claims (``"sp_t*"``), for formats
        whose files are named rather than suffixed.
    directory
        A directory holding (at any depth) a file this format claims by name is this format.
    identify
        Called with a file or directory, True if the format can read it (a file's magic
        number, attributes inside it, a directory's layout). It decides between formats
        that claim the same name, and recognises files whose name no format claims. An
        ``OSError`` or ``ValueError`` it raises counts as False.
    """

    def decorator(reader: GridReader) -> GridReader:
        GRID_FORMATS[name] = GridFormat(
            name, reader, tuple(s.lower() for s in suffixes),
            tuple(p.lower() for p in patterns), directory, identify)
        return reader

    return decorator


def register_grid_writer(name: str) -> Callable[[GridWriter], GridWriter]:
    """Register ``writer(grid, path) -> path`` as the writer of the registered format
    ``name`` (its reader must be registered first)."""

    def decorator(writer: GridWriter) -> GridWriter:
        if name not in GRID_FORMATS:
            raise UnknownNameError("grid format", name, sorted(GRID_FORMATS))
        GRID_FORMATS[name] = replace(GRID_FORMATS[name], writer=writer)
        return writer

    return decorator


def claimed_by(name: str) -> Callable[[Path], bool]:
    """The predicate "a file this format claims by its name", for readers that collect
    their files from a directory (so the reader and the sniffing agree)."""
    return lambda path: GRID_FORMATS[name].claims_name(path)
