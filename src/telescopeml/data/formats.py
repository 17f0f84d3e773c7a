"""Readers that turn grid files a user downloaded into a :class:`SpectralGrid`.

Every reader takes the path first and returns a grid with our canonical parameter names
(``teff`` [K], ``logg`` [log10 cgs], ``mh`` [dex], ``co``, ``inv_fsed``, ``kzz`` [log10 cgs]),
wavelengths in µm increasing, float32 flux, an astropy-readable ``flux_unit`` and ``meta``
with ``source``, ``name``, ``format``, ``notes`` and, where a grid has ``co``, ``co_scale``
(``"relative-to-solar"`` or ``"absolute"``).

Bad input raises :class:`~telescopeml.errors.DataError` naming the file. NaN or inf flux is
an error, not a warning: a grid with holes would train on garbage or fail later in
log-flux interpolation, so the file has to be fixed (or left out) first.

Every format is registered by decorator in :data:`GRID_FORMATS`
(:mod:`telescopeml.data.gridregistry`): its name, the suffixes or file-name patterns it
claims, how to recognise its files and directories, its reader and optionally its writer.
:func:`read_grid`, :func:`write_grid`, :func:`sniff_format`, :func:`grid_suffixes` and
:func:`is_grid_path` (the fit check's guard on the grid a bundle names) all read the
registry. Built in: the TelescopeML training-set CSV, directories of text spectra with a
parameter table, generic HDF5 and our own (``SpectralGrid.to_hdf5``) here, the native Sonora
grids in :mod:`~telescopeml.data.sonora` and the shipped models' compact grid in
:mod:`~telescopeml.data.compact`.
"""

from __future__ import annotations

import csv
import warnings
from pathlib import Path
from typing import Any

import h5py
import numpy as np

# The formats of sonora and compact register themselves when imported (before those below:
# a directory is Sonora's before it is a user directory); their readers and the registry's
# names are importable from here too.
from telescopeml.data.compact import read_compact_grid, write_compact_grid  # noqa: F401
from telescopeml.data.grid import HDF5_FORMAT, SpectralGrid
from telescopeml.data.gridio import (
    FLAM_CGS,
    FNU_CGS,
    check_finite,
    existing,
    files_in,
    float32_note,
    magic,
    make_grid,
    open_text,
    read_spectra,
    table_problem,
    two_columns,
    underflow,
)
from telescopeml.data.gridregistry import (  # noqa: F401
    GRID_FORMATS,
    GridFormat,
    register_grid_format,
    register_grid_writer,
)
from telescopeml.data.sonora import read_sonora_bobcat, read_sonora_netcdf  # noqa: F401
from telescopeml.data.units import astropy_unit, to_micron
from telescopeml.errors import DataError, UnknownNameError

#: TelescopeML training-set columns -> our parameter names, in our order.
TELESCOPEML_COLUMNS = {
    "temperature": "teff",
    "gravity": "logg",
    "metallicity": "mh",
    "c_o_ratio": "co",
}


# --- the readers --------------------------------------------------------------------------
@register_grid_format("telescopeml-csv", suffixes=(".csv", ".csv.bz2", ".csv.gz"))
def read_telescopeml_csv(path: str | Path) -> SpectralGrid:
    """Read the TelescopeML training set (``.csv``, ``.csv.bz2`` or ``.csv.gz``).

    Columns ``gravity`` (log g, cgs), ``temperature`` (K), ``c_o_ratio`` (relative to solar)
    and ``metallicity`` (dex) become ``logg, teff, co, mh``; every other column is a flux
    whose name is its wavelength in µm (the file lists them in descending order). Flux is the
    surface F_nu in erg/s/cm^2/Hz.
    """
    path = existing(path, want="file")
    with open_text(path) as stream:
        names = [h.strip() for h in next(csv.reader([stream.readline()]), [])]
        missing = [c for c in TELESCOPEML_COLUMNS if c not in names]
        if missing:
            raise DataError(f"missing required columns: {', '.join(missing)}", path)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)  # "input contained no data"
                table = np.loadtxt(stream, delimiter=",", ndmin=2, dtype=np.float64)
        except ValueError as exc:
            raise DataError(table_problem(exc), path) from None
    if table.size == 0:
        raise DataError("the table has a header but no data rows", path)
    if table.shape[1] != len(names):
        raise DataError(
            f"rows have {table.shape[1]} values but the header names {len(names)} columns", path
        )
    flux_cols, wavelengths, bad = [], [], []
    for j, name in enumerate(names):
        if name in TELESCOPEML_COLUMNS or name == "":  # "" is a row index written by pandas
            continue
        try:
            wavelengths.append(float(name))
            flux_cols.append(j)
        except ValueError:
            bad.append(repr(name))
    if bad:
        raise DataError(f"column names not parseable as wavelengths: {', '.join(bad)}", path)
    order = np.argsort(wavelengths)
    flux = table[:, np.asarray(flux_cols)[order]]
    check_finite(flux, path)
    params = {ours: table[:, names.index(theirs)] for theirs, ours in TELESCOPEML_COLUMNS.items()}
    notes = [
        "flux is the surface (top-of-atmosphere) F_nu in erg/s/cm^2/Hz: TelescopeML converts "
        "observed F_lambda to F_nu and scales it by (distance/radius)^2 before comparing",
        "gravity is log10(g / cm s^-2); c_o_ratio is taken as relative to solar (PICASO "
        "c_o, 1 = solar; the training set itself does not say)",
        "flux columns reordered from descending to increasing wavelength",
    ]
    notes += float32_note(underflow(flux))
    return make_grid(params, np.sort(wavelengths), flux, FNU_CGS, path, "telescopeml-csv",
                 "TelescopeML Sonora Bobcat training set", notes, co_scale="relative-to-solar")


def _is_user_dir(path: Path) -> bool:
    """A directory with a parameter table (a ``.csv``) at its top level."""
    return path.is_dir() and any(p.suffix == ".csv" for p in path.iterdir() if p.is_file())


@register_grid_format("user-dir", identify=_is_user_dir)
def read_user_dir(
    path: str | Path,
    *,
    params_file: str | Path | None = None,
    flux_unit: str | None = None,
    wavelength: np.ndarray | None = None,
    resolution: float | None = None,
    progress: bool | None = None,
) -> SpectralGrid:
    """Read a directory of two-column text spectra (wavelength µm, flux) and a parameter table.

    The table is a CSV with a ``file`` column (paths relative to the directory) and one
    numeric column per parameter; it is ``params_file`` or else the directory's only ``.csv``.
    Lines starting with ``#`` in the spectra are comments; ``.csv`` spectra are
    comma-separated, others whitespace-separated, and ``.gz``/``.bz2`` are decompressed.
    ``flux_unit`` is any astropy unit string. Other options as in :func:`read_sonora_bobcat`.
    """
    folder = existing(path, want="dir")
    table_path = _params_table(folder, params_file)
    names, rows = _read_params_table(table_path)
    files = [folder / row.pop("file") for row in rows]
    for file in files:
        if not file.is_file():
            raise DataError(f"listed in {table_path.name} but missing", file)
    notes: list[str] = []
    if flux_unit is None:
        flux_unit = FLAM_CGS
        notes.append(f"flux_unit not given: assumed {flux_unit}")
    astropy_unit(flux_unit, "flux", folder)
    wl, flux, read_notes = read_spectra(
        files, _user_spectrum, wavelength, resolution, progress, "spectra"
    )
    params = {n: np.array([float(row[n]) for row in rows]) for n in names}
    return make_grid(params, wl, flux, flux_unit, folder, "user-dir", folder.name,
                 [f"parameters from {table_path.name}", *notes, *read_notes])


def _is_hdf5(path: Path) -> bool:
    return path.is_file() and magic(path) == b"\x89HDF"


def _is_telescopeml_hdf5(path: Path) -> bool:
    """An HDF5 file written by :meth:`SpectralGrid.to_hdf5` (its ``format`` attribute)."""
    if not _is_hdf5(path):
        return False
    with h5py.File(path, "r") as h5:
        return bool(h5.attrs.get("format") == HDF5_FORMAT)


#: File suffixes of HDF5 grids, ours and generic (the two formats tell them apart by content).
HDF5_SUFFIXES = (".h5", ".hdf5", ".hdf")


@register_grid_format(HDF5_FORMAT, suffixes=HDF5_SUFFIXES, identify=_is_telescopeml_hdf5)
def read_telescopeml_hdf5(path: str | Path, *, stream: bool = False) -> SpectralGrid:
    """Read our own grid file (:meth:`SpectralGrid.from_hdf5`), checked for NaN unless
    ``stream`` keeps the flux on disk (checking would read it all)."""
    path = existing(path, want="file")
    grid = SpectralGrid.from_hdf5(path, stream=stream)
    if not stream:
        check_finite(grid.flux, path)
    return grid


@register_grid_writer(HDF5_FORMAT)
def write_telescopeml_hdf5(grid: SpectralGrid, path: str | Path) -> Path:
    """Write ``grid`` with :meth:`SpectralGrid.to_hdf5` (chunked, atomically)."""
    return grid.to_hdf5(path)


@register_grid_format("hdf5", suffixes=HDF5_SUFFIXES, identify=_is_hdf5)
def read_hdf5(
    path: str | Path, *, stream: bool = False, flux_unit: str | None = None
) -> SpectralGrid:
    """Read our own grid file (:meth:`SpectralGrid.from_hdf5`) or a generic HDF5 grid.

    A generic file has datasets ``wavelength`` (µm unless it has a ``units`` attribute) and
    ``flux`` ``(n_spectra, n_wavelengths)`` and a group ``params`` of 1-D datasets, one per
    parameter. Its flux unit is ``flux_unit``, else the ``flux_unit`` file attribute or the
    ``units`` attribute of ``flux``. ``stream`` applies to our own format only, and a
    streamed grid is not checked for NaN (that would read it all).
    """
    path = existing(path, want="file")
    try:
        h5 = h5py.File(path, "r")
    except OSError as exc:
        raise DataError(f"not a readable HDF5 file ({exc})", path) from None
    if h5.attrs.get("format") == HDF5_FORMAT:
        h5.close()
        return read_telescopeml_hdf5(path, stream=stream)
    with h5:
        missing = [k for k in ("wavelength", "flux", "params") if k not in h5]
        if missing:
            raise DataError(f"missing HDF5 datasets/groups: {', '.join(missing)}", path)
        wl = h5["wavelength"][...]
        flux = h5["flux"][...]
        group = h5["params"]
        params = {
            name: group[name][...] for name in group if isinstance(group[name], h5py.Dataset)
        }
        wl_unit = _attr(h5["wavelength"], "units") or "um"
        notes = []
        if flux_unit is None:
            flux_unit = _attr(h5, "flux_unit") or _attr(h5["flux"], "units")
        if flux_unit is None:
            flux_unit = FLAM_CGS
            notes.append(f"flux unit not given in the file: assumed {flux_unit}")
    astropy_unit(flux_unit, "flux", path)
    wl = to_micron(wl, wl_unit, path)
    if flux.ndim != 2 or wl.ndim != 1 or flux.shape[1] != wl.size:
        raise DataError(
            f"flux has shape {flux.shape} but there are {wl.size} wavelengths", path
        )
    if not params:
        raise DataError("the 'params' group has no datasets", path)
    for name, values in params.items():
        if values.shape != (flux.shape[0],):
            raise DataError(
                f"parameter {name!r} has shape {values.shape}, expected ({flux.shape[0]},)", path
            )
    check_finite(flux, path)
    order = np.argsort(wl, kind="stable")
    return make_grid(params, wl[order], flux[:, order], flux_unit, path, "hdf5", path.stem,
                 [*notes, *float32_note(underflow(flux))])


def read_grid(path: str | Path, format: str | None = None, **options: Any) -> SpectralGrid:
    """Read a grid with the reader for ``format``, or for the format :func:`sniff_format` finds.

    ``options`` go to the reader (see each ``read_*`` function).
    """
    if format is None:
        format = sniff_format(path)
    elif format not in GRID_FORMATS:
        raise UnknownNameError("grid format", format, sorted(GRID_FORMATS))
    return GRID_FORMATS[format].reader(path, **options)


def write_grid(grid: SpectralGrid, path: str | Path, format: str | None = None) -> Path:
    """Write ``grid`` with the writer of ``format``, or of the first format with a writer
    that claims the file name (``.h5``: our HDF5, ``.safetensors``: the compact grid)."""
    writable = [f for f in GRID_FORMATS.values() if f.writer is not None]
    if format is None:
        chosen = next((f for f in writable if f.claims_name(path)), None)
        if chosen is None:
            suffixes = sorted({s for f in writable for s in f.suffixes})
            raise DataError(f"cannot tell the grid format from the file name; use a suffix "
                            f"of {', '.join(suffixes)} or pass format= one of "
                            f"{', '.join(f.name for f in writable)}", path)
    elif format not in GRID_FORMATS:
        raise UnknownNameError("grid format", format, sorted(GRID_FORMATS))
    else:
        chosen = GRID_FORMATS[format]
    if chosen.writer is None:
        raise UnknownNameError("grid format with a writer", chosen.name,
                               sorted(f.name for f in writable))
    return chosen.writer(grid, Path(path))


def sniff_format(path: str | Path) -> str:
    """Guess a grid's format from the registry (:data:`GRID_FORMATS`).

    A file: the format claiming its suffix, else its name pattern (when several claim it,
    the first whose ``identify`` accepts the file, else the first); a file no name claims
    goes to the first format whose ``identify`` accepts it. A directory: the first format,
    in registration order, that claims a file in it by name (formats registered with
    ``directory=True``) or whose ``identify`` accepts the directory.
    """
    path = Path(path)
    formats = list(GRID_FORMATS.values())
    if path.is_file():
        claimed = [f for f in formats if f.claims_suffix(path)]
        claimed += [f for f in formats if f.claims_pattern(path) and f not in claimed]
        if len(claimed) == 1:
            return claimed[0].name
        found = next((f for f in claimed or formats if f.recognises(path)), None)
        if found is None and claimed:
            found = claimed[0]
        if found is not None:
            return found.name
        raise DataError(f"cannot tell the grid format; pass one of: {', '.join(GRID_FORMATS)}",
                        path)
    folder = existing(path, want="dir")
    files = files_in(folder)
    if not files:
        raise DataError("the directory is empty", folder)
    for fmt in formats:
        if (fmt.directory and any(fmt.claims_name(p) for p in files)) or fmt.recognises(folder):
            return fmt.name
    raise DataError(
        f"cannot tell the grid format of this directory; pass one of: {', '.join(GRID_FORMATS)}",
        folder,
    )


def grid_suffixes() -> list[str]:
    """Every file suffix a registered grid format claims, sorted."""
    return sorted({s for f in GRID_FORMATS.values() for s in f.suffixes})


def grid_patterns() -> list[str]:
    """Every file-name pattern a registered grid format claims (``sp_t*``), sorted."""
    return sorted({p for f in GRID_FORMATS.values() for p in f.patterns})


def is_grid_path(path: str | Path) -> bool:
    """Whether ``path`` names a grid by its name alone: an existing directory, or a file name
    that a registered format claims (:func:`grid_suffixes`, :func:`grid_patterns`). Opens no
    file: the fit check asks it before reading the grid a bundle names (a manifest is not
    trusted to name any local file)."""
    path = Path(path)
    return path.is_dir() or any(f.claims_name(path) for f in GRID_FORMATS.values())


# --- helpers ------------------------------------------------------------------------------
def _user_spectrum(path: Path) -> tuple[np.ndarray, ...]:
    is_csv = ".csv" in path.suffixes
    return two_columns(path, skip=0, delimiter="," if is_csv else None)


def _attr(obj: h5py.HLObject, name: str) -> str | None:
    value = obj.attrs.get(name)
    if value is None:
        return None
    return value.decode() if isinstance(value, bytes) else str(value)


def _params_table(folder: Path, params_file: str | Path | None) -> Path:
    if params_file is not None:
        table = folder / params_file
        if not table.is_file():
            raise DataError("no such parameter table", table)
        return table
    tables = sorted(p for p in folder.glob("*.csv") if p.is_file())
    if not tables:
        if not any(folder.iterdir()):
            raise DataError("the directory is empty", folder)
        raise DataError("no parameter table (*.csv) in the directory", folder)
    if len(tables) > 1:
        raise DataError(
            f"several .csv files ({', '.join(t.name for t in tables)}); pass params_file=", folder
        )
    return tables[0]


def _read_params_table(table: Path) -> tuple[list[str], list[dict[str, str]]]:
    with open_text(table) as stream:
        reader = csv.DictReader(stream)
        rows = list(reader)
        names = [n.strip() for n in reader.fieldnames or []]
    if "file" not in names:
        raise DataError("missing required columns: file", table)
    if not rows:
        raise DataError("the parameter table has no rows", table)
    params = [n for n in names if n != "file"]
    if not params:
        raise DataError("the parameter table has no parameter columns besides 'file'", table)
    clean = []
    for i, row in enumerate(rows, start=2):
        if None in row or any(v is None for v in row.values()):
            raise DataError(f"line {i} has a different number of values than the header", table)
        row = {k.strip(): v.strip() for k, v in row.items()}
        for name in params:
            try:
                float(row[name])
            except ValueError:
                raise DataError(
                    f"non-numeric value {row[name]!r} for {name!r} on line {i}", table
                ) from None
        clean.append(row)
    return params, clean
