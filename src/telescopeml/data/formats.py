"""Readers that turn grid files a user downloaded into a :class:`SpectralGrid`.

Every reader takes the path first and returns a grid with our canonical parameter names
(``teff`` [K], ``logg`` [log10 cgs], ``mh`` [dex], ``co``, ``inv_fsed``, ``kzz`` [log10 cgs]),
wavelengths in µm increasing, float32 flux, an astropy-readable ``flux_unit`` and ``meta``
with ``source``, ``name``, ``format``, ``notes`` and, where a grid has ``co``, ``co_scale``
(``"relative-to-solar"`` or ``"absolute"``).

Bad input raises :class:`~telescopeml.errors.DataError` naming the file. NaN or inf flux is
an error, not a warning: a grid with holes would train on garbage or fail later in
log-flux interpolation, so the file has to be fixed (or left out) first.
"""

from __future__ import annotations

import bz2
import csv
import gzip
import math
import re
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import IO, Any

import astropy.units as u
import h5py
import numpy as np
from scipy.io import netcdf_file
from tqdm.auto import tqdm

from telescopeml.data.grid import HDF5_FORMAT, SpectralGrid
from telescopeml.errors import DataError, UnknownNameError

#: Reading more files than this shows a progress bar (unless ``progress`` says otherwise).
PROGRESS_MIN_FILES = 50

#: TelescopeML training-set columns -> our parameter names, in our order.
TELESCOPEML_COLUMNS = {
    "temperature": "teff",
    "gravity": "logg",
    "metallicity": "mh",
    "c_o_ratio": "co",
}

_NUM = r"\d+(?:\.\d*)?"
_SIGNED = r"[+-]?\d+(?:\.\d*)?"
BOBCAT_NAME = re.compile(
    rf"sp_t(?P<teff>{_NUM})g(?P<g>{_NUM})nc_m(?P<mh>{_SIGNED})(?:_co(?P<co>{_NUM}))?(?:\.gz)?"
)
ELF_OWL_NAME = re.compile(
    rf"spectra_logzz_(?P<kzz>{_SIGNED})_teff_(?P<teff>{_NUM})_grav_(?P<g>{_NUM})"
    rf"_mh_(?P<mh>{_SIGNED})_co_(?P<co>{_NUM})\.nc"
)
DIAMONDBACK_NAME = re.compile(
    rf"t(?P<teff>{_NUM})g(?P<g>{_NUM})(?:nc|f(?P<fsed>{_NUM}))_m(?P<mh>{_SIGNED})"
    rf"_co(?P<co>{_NUM})\.spec(?:\.gz)?"
)

_FNU_CGS = "erg / (s cm2 Hz)"
_FLAM_CGS = "erg / (s cm2 cm)"


# --- the readers --------------------------------------------------------------------------
def read_telescopeml_csv(path: str | Path) -> SpectralGrid:
    """Read the TelescopeML training set (``.csv``, ``.csv.bz2`` or ``.csv.gz``).

    Columns ``gravity`` (log g, cgs), ``temperature`` (K), ``c_o_ratio`` (relative to solar)
    and ``metallicity`` (dex) become ``logg, teff, co, mh``; every other column is a flux
    whose name is its wavelength in µm (the file lists them in descending order). Flux is the
    surface F_nu in erg/s/cm^2/Hz.
    """
    path = _existing(path, want="file")
    with _open_text(path) as stream:
        names = [h.strip() for h in next(csv.reader([stream.readline()]), [])]
        missing = [c for c in TELESCOPEML_COLUMNS if c not in names]
        if missing:
            raise DataError(f"missing required columns: {', '.join(missing)}", path)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)  # "input contained no data"
                table = np.loadtxt(stream, delimiter=",", ndmin=2, dtype=np.float64)
        except ValueError as exc:
            raise DataError(_table_problem(exc), path) from None
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
    _check_finite(flux, path)
    params = {ours: table[:, names.index(theirs)] for theirs, ours in TELESCOPEML_COLUMNS.items()}
    notes = [
        "flux is the surface (top-of-atmosphere) F_nu in erg/s/cm^2/Hz: TelescopeML converts "
        "observed F_lambda to F_nu and scales it by (distance/radius)^2 before comparing",
        "gravity is log10(g / cm s^-2); c_o_ratio is taken as relative to solar (PICASO "
        "c_o, 1 = solar; the training set itself does not say)",
        "flux columns reordered from descending to increasing wavelength",
    ]
    notes += _float32_note(_underflow(flux))
    return _grid(params, np.sort(wavelengths), flux, _FNU_CGS, path, "telescopeml-csv",
                 "TelescopeML Sonora Bobcat training set", notes, co_scale="relative-to-solar")


def read_sonora_bobcat(
    path: str | Path,
    *,
    wavelength: np.ndarray | None = None,
    resolution: float | None = None,
    logg_step: float | None = 0.25,
    progress: bool | None = None,
) -> SpectralGrid:
    """Read native Sonora Bobcat spectra (Marley et al. 2021): ``sp_t*`` files in a directory.

    Names are ``sp_t{teff}g{g}nc_m{[M/H]}`` with an optional ``_co{C/O}`` (relative to solar;
    1 when absent) and ``.gz``; ``g`` is in m/s^2. Each file has two header lines, then
    wavelength (µm, descending) and F_nu (erg/cm^2/s/Hz).

    Parameters
    ----------
    path
        Directory (searched recursively) or a single ``sp_t*`` file.
    wavelength, resolution
        Resample every spectrum onto these wavelengths (µm), or onto a log-uniform grid of
        resolving power ``resolution`` across the first file's range. By default files that
        differ from the first file's wavelengths are resampled onto it.
    logg_step
        Round log g to this step: names carry rounded gravities (``g316`` is log g 4.4997,
        the grid node 4.5). ``None`` keeps log10(g * 100).
    progress
        Show a progress bar; by default only for more than :data:`PROGRESS_MIN_FILES` files.
    """
    files = _find(path, lambda p: p.name.startswith("sp_t"), "Sonora Bobcat sp_t* files")
    params = _sonora_labels(files, BOBCAT_NAME, logg_step, "sp_t{teff}g{g}nc_m{mh}[_co{co}]")
    wl, flux, notes = _read_spectra(
        files, partial(_two_columns, skip=2), wavelength, resolution, progress, "Bobcat"
    )
    notes = [
        "F_nu at the top of the atmosphere; gravity in file names is in m/s^2",
        "co is relative to solar (files without _co are solar, co = 1)",
        *_logg_note(logg_step),
        *notes,
    ]
    return _grid(params, wl, flux, _FNU_CGS, path, "sonora-bobcat",
                 "Sonora Bobcat (Marley et al. 2021)", notes, co_scale="relative-to-solar")


def read_sonora_netcdf(
    path: str | Path,
    *,
    wavelength: np.ndarray | None = None,
    resolution: float | None = None,
    logg_step: float | None = 0.25,
    progress: bool | None = None,
) -> SpectralGrid:
    """Read Sonora Elf Owl (``.nc``) or Sonora Diamondback (``.spec``) spectra.

    Elf Owl (Mukherjee et al. 2024): ``spectra_logzz_{kzz}_teff_{teff}_grav_{g}_mh_{mh}_co_{co}.nc``
    netCDF files with variables ``wavelength`` (µm) and ``flux`` (erg/s/cm^2/cm); read with
    h5py (netCDF-4) or scipy (netCDF-3). Parameters ``teff, logg, mh, co, kzz``.

    Diamondback (Morley et al. 2024): ``t{teff}g{g}{f{fsed}|nc}_m{mh}_co{co}.spec`` text files,
    three header lines then wavelength (µm) and flux (W/m^2/m). Parameters
    ``teff, logg, mh, co, inv_fsed`` with ``inv_fsed = 1/fsed`` and 0 for cloud-free (``nc``),
    so that cloud-free sits at the thin-cloud end of the axis instead of at a made-up fsed.

    In both, ``g`` is in m/s^2 and ``co`` is relative to solar. Options as in
    :func:`read_sonora_bobcat`.
    """
    files = _find(path, lambda p: p.name.endswith((".nc", ".spec", ".spec.gz")),
                  "Elf Owl .nc or Diamondback .spec files")
    kinds = {f.name.endswith(".nc") for f in files}
    if len(kinds) > 1:
        raise DataError("mixes Elf Owl (.nc) and Diamondback (.spec) files; read them "
                        "separately", path)
    if kinds == {True}:
        params = _sonora_labels(files, ELF_OWL_NAME, logg_step,
                                "spectra_logzz_{kzz}_teff_{teff}_grav_{g}_mh_{mh}_co_{co}.nc")
        load, unit, name = _netcdf_spectrum, _FLAM_CGS, "Sonora Elf Owl (Mukherjee et al. 2024)"
        fmt_notes = ["F_lambda at the top of the atmosphere; kzz is log10(Kzz / cm^2 s^-1)"]
    else:
        params = _sonora_labels(files, DIAMONDBACK_NAME, logg_step,
                                "t{teff}g{g}{f{fsed}|nc}_m{mh}_co{co}.spec")
        load, unit = partial(_two_columns, skip=3), "W / (m2 m)"
        name = "Sonora Diamondback (Morley et al. 2024)"
        fmt_notes = ["F_lambda at the top of the atmosphere; inv_fsed = 1/fsed, 0 = cloud-free"]
    wl, flux, notes = _read_spectra(files, load, wavelength, resolution, progress, "Sonora")
    notes = [*fmt_notes, "gravity in file names is in m/s^2; co is relative to solar",
             *_logg_note(logg_step), *notes]
    return _grid(params, wl, flux, unit, path, "sonora-netcdf", name, notes,
                 co_scale="relative-to-solar")


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
    folder = _existing(path, want="dir")
    table_path = _params_table(folder, params_file)
    names, rows = _read_params_table(table_path)
    files = [folder / row.pop("file") for row in rows]
    for file in files:
        if not file.is_file():
            raise DataError(f"listed in {table_path.name} but missing", file)
    notes: list[str] = []
    if flux_unit is None:
        flux_unit = _FLAM_CGS
        notes.append(f"flux_unit not given: assumed {flux_unit}")
    _check_unit(flux_unit, folder)
    wl, flux, read_notes = _read_spectra(
        files, _user_spectrum, wavelength, resolution, progress, "spectra"
    )
    params = {n: np.array([float(row[n]) for row in rows]) for n in names}
    return _grid(params, wl, flux, flux_unit, folder, "user-dir", folder.name,
                 [f"parameters from {table_path.name}", *notes, *read_notes])


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
    path = _existing(path, want="file")
    try:
        h5 = h5py.File(path, "r")
    except OSError as exc:
        raise DataError(f"not a readable HDF5 file ({exc})", path) from None
    if h5.attrs.get("format") == HDF5_FORMAT:
        h5.close()
        grid = SpectralGrid.from_hdf5(path, stream=stream)
        if not stream:
            _check_finite(grid.flux, path)
        return grid
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
            flux_unit = _FLAM_CGS
            notes.append(f"flux unit not given in the file: assumed {flux_unit}")
    _check_unit(flux_unit, path)
    wl = _to_micron(np.asarray(wl, dtype=np.float64), wl_unit, path)
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
    _check_finite(flux, path)
    order = np.argsort(wl, kind="stable")
    return _grid(params, wl[order], flux[:, order], flux_unit, path, "hdf5", path.stem,
                 [*notes, *_float32_note(_underflow(flux))])


#: Format name -> reader. :func:`read_grid` dispatches through it.
GRID_FORMATS: dict[str, Callable[..., SpectralGrid]] = {
    "telescopeml-csv": read_telescopeml_csv,
    "sonora-bobcat": read_sonora_bobcat,
    "sonora-netcdf": read_sonora_netcdf,
    "user-dir": read_user_dir,
    "hdf5": read_hdf5,
}


def read_grid(path: str | Path, format: str | None = None, **options: Any) -> SpectralGrid:
    """Read a grid with the reader for ``format``, or for the format :func:`sniff_format` finds.

    ``options`` go to the reader (see each ``read_*`` function).
    """
    if format is None:
        format = sniff_format(path)
    elif format not in GRID_FORMATS:
        raise UnknownNameError("grid format", format, sorted(GRID_FORMATS))
    return GRID_FORMATS[format](path, **options)


def sniff_format(path: str | Path) -> str:
    """Guess a grid's format from the path: file or directory, extension, names inside."""
    path = Path(path)
    if path.is_file():
        name = path.name.lower()
        if name.endswith((".nc", ".spec", ".spec.gz")):
            return "sonora-netcdf"
        if name.endswith((".csv", ".csv.bz2", ".csv.gz")):
            return "telescopeml-csv"
        if name.startswith("sp_t"):
            return "sonora-bobcat"
        if name.endswith((".h5", ".hdf5", ".hdf")) or _magic(path) == b"\x89HDF":
            return "hdf5"
        raise DataError(f"cannot tell the grid format; pass one of: {', '.join(GRID_FORMATS)}",
                        path)
    folder = _existing(path, want="dir")
    names = [p.name for p in _files_in(folder)]
    if not names:
        raise DataError("the directory is empty", folder)
    if any(n.startswith("sp_t") for n in names):
        return "sonora-bobcat"
    if any(n.endswith((".nc", ".spec", ".spec.gz")) for n in names):
        return "sonora-netcdf"
    if any(p.suffix == ".csv" for p in folder.iterdir() if p.is_file()):
        return "user-dir"
    raise DataError(
        f"cannot tell the grid format of this directory; pass one of: {', '.join(GRID_FORMATS)}",
        folder,
    )


# --- reading files ------------------------------------------------------------------------
def _existing(path: str | Path, want: str) -> Path:
    path = Path(path)
    if not path.exists():
        raise DataError("no such file or directory", path)
    if want == "file" and not path.is_file():
        raise DataError("expected a file, found a directory", path)
    if want == "dir" and not path.is_dir():
        raise DataError("expected a directory, found a file", path)
    return path


@contextmanager
def _open_text(path: Path) -> Iterator[IO[str]]:
    """Open plain, ``.gz`` or ``.bz2`` text; decompression and decoding errors -> DataError."""
    opener: Callable[..., IO[str]] = {".gz": gzip.open, ".bz2": bz2.open}.get(
        path.suffix, open
    )
    try:
        with opener(path, "rt", encoding="utf-8") as stream:
            yield stream
    except (OSError, EOFError) as exc:
        raise DataError(f"corrupt or truncated {path.suffix or 'text'} file ({exc})",
                        path) from None
    except UnicodeDecodeError:
        raise DataError("not a text file (cannot decode as UTF-8)", path) from None


def _table_problem(exc: ValueError) -> str:
    text = str(exc)
    if "number of columns changed" in text:
        return f"rows have inconsistent lengths ({text.split(';')[0]})"
    return f"non-numeric value ({text})"


def _two_columns(path: Path, skip: int, delimiter: str | None = None) -> tuple[np.ndarray, ...]:
    with _open_text(path) as stream:
        try:
            data = np.loadtxt(stream, skiprows=skip, delimiter=delimiter, ndmin=2,
                              dtype=np.float64)
        except ValueError as exc:
            raise DataError(_table_problem(exc), path) from None
    if data.shape[0] < 2 or data.shape[1] < 2:
        raise DataError(
            f"expected two columns (wavelength, flux) and at least 2 rows, got {data.shape}", path
        )
    return data[:, 0], data[:, 1]


def _user_spectrum(path: Path) -> tuple[np.ndarray, ...]:
    is_csv = ".csv" in path.suffixes
    return _two_columns(path, skip=0, delimiter="," if is_csv else None)


def _netcdf_spectrum(path: Path) -> tuple[np.ndarray, ...]:
    magic = _magic(path)
    try:
        if magic == b"\x89HDF":
            with h5py.File(path, "r") as h5:
                _require_variables(h5, path)
                return h5["wavelength"][...], h5["flux"][...]
        if magic[:3] == b"CDF":
            with netcdf_file(path, "r", mmap=False) as nc:
                _require_variables(nc.variables, path)
                return (np.array(nc.variables["wavelength"][:]),
                        np.array(nc.variables["flux"][:]))
    except (OSError, ValueError, TypeError) as exc:
        if isinstance(exc, DataError):
            raise
        raise DataError(f"damaged netCDF file ({exc})", path) from None
    raise DataError("not a netCDF file (neither netCDF-4/HDF5 nor netCDF-3)", path)


def _require_variables(variables: Any, path: Path) -> None:
    missing = [name for name in ("wavelength", "flux") if name not in variables]
    if missing:
        raise DataError(f"no variable {', '.join(map(repr, missing))} (expected 'wavelength' "
                        "and 'flux')", path)


def _magic(path: Path) -> bytes:
    with open(path, "rb") as stream:
        return stream.read(4)


def _attr(obj: h5py.HLObject, name: str) -> str | None:
    value = obj.attrs.get(name)
    if value is None:
        return None
    return value.decode() if isinstance(value, bytes) else str(value)


def _check_unit(unit: str, source: Path) -> None:
    try:
        u.Unit(unit)
    except ValueError:
        raise DataError(f"flux unit {unit!r} is not an astropy unit", source) from None


def _to_micron(values: np.ndarray, unit: str, source: Path) -> np.ndarray:
    try:
        return (values * u.Unit(unit)).to_value(u.um, equivalencies=u.spectral())
    except ValueError:
        raise DataError(f"wavelength unit {unit!r} cannot be converted to µm", source) from None


# --- directories of spectra -----------------------------------------------------------------
def _files_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith("."))


def _find(path: str | Path, wanted: Callable[[Path], bool], what: str) -> list[Path]:
    path = Path(path)
    if path.is_file():
        return [path]
    folder = _existing(path, want="dir")
    files = [p for p in _files_in(folder) if wanted(p)]
    if not files:
        raise DataError(f"no {what} in this directory", folder)
    return files


def _match(pattern: re.Pattern[str], file: Path, expected: str) -> dict[str, str | None]:
    m = pattern.fullmatch(file.name)
    if m is None:
        raise DataError(f"cannot parse parameters from the file name (expected {expected})",
                        file)
    return m.groupdict()


def _sonora_labels(
    files: list[Path], pattern: re.Pattern[str], logg_step: float | None, expected: str
) -> dict[str, np.ndarray]:
    """Parameters from Sonora file names (``co`` defaults to solar, 1, when absent)."""
    labels = []
    for file in files:
        m = _match(pattern, file, expected)
        row = {"teff": float(m["teff"]), "logg": _logg(float(m["g"]), logg_step, file),
               "mh": float(m["mh"]), "co": float(m["co"]) if m["co"] else 1.0}
        if "kzz" in m:
            row["kzz"] = float(m["kzz"])
        if "fsed" in m:
            fsed = float(m["fsed"]) if m["fsed"] else math.inf  # "nc": cloud-free
            if fsed <= 0:
                raise DataError("fsed in the file name must be positive", file)
            row["inv_fsed"] = 1.0 / fsed
        labels.append(row)
    return {name: np.array([row[name] for row in labels]) for name in labels[0]}


def _logg(g_si: float, step: float | None, file: Path) -> float:
    if g_si <= 0:
        raise DataError(f"gravity must be positive, got {g_si:g} m/s^2", file)
    logg = math.log10(g_si * 100.0)
    return round(logg / step) * step if step else logg


def _logg_note(step: float | None) -> list[str]:
    if not step:
        return ["logg = log10(g * 100), unrounded"]
    return [f"logg = log10(g * 100) rounded to steps of {step:g} (names carry rounded g)"]


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
    with _open_text(table) as stream:
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


def _read_spectra(
    files: list[Path],
    load: Callable[[Path], tuple[np.ndarray, ...]],
    wavelength: np.ndarray | None,
    resolution: float | None,
    progress: bool | None,
    desc: str,
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Read every file onto one wavelength array; return it, the flux matrix and notes."""
    if wavelength is not None and resolution is not None:
        raise ValueError("give wavelength= or resolution=, not both")
    show = len(files) > PROGRESS_MIN_FILES if progress is None else progress
    target = np.empty(0)
    flux = np.empty((0, 0), dtype=np.float32)
    n_resampled = 0
    n_underflow = 0
    for i, file in enumerate(tqdm(files, desc=desc, unit="file", disable=not show)):
        wl, values = _sorted_spectrum(*load(file), file)
        if i == 0:
            target = _target_wavelength(wl, wavelength, resolution, file)
            flux = np.empty((len(files), target.size), dtype=np.float32)
        if wl.shape != target.shape or not np.array_equal(wl, target):
            values = _resample_onto(target, wl, values, file)
            n_resampled += 1
        flux[i] = values
        n_underflow += _underflow(values)
    notes = []
    if n_resampled:
        onto = ("the given wavelengths" if wavelength is not None
                else f"R={resolution:g}" if resolution is not None
                else f"the wavelengths of {files[0].name}")
        notes.append(f"{n_resampled} of {len(files)} spectra resampled (flux-conserving) onto "
                     f"{onto}")
    notes += _float32_note(n_underflow)
    return target, flux, notes


def _sorted_spectrum(wl: np.ndarray, flux: np.ndarray, file: Path) -> tuple[np.ndarray, ...]:
    wl = np.asarray(wl, dtype=np.float64)
    flux = np.asarray(flux, dtype=np.float64)
    if wl.ndim != 1 or flux.shape != wl.shape or wl.size < 2:
        raise DataError(
            f"wavelength {wl.shape} and flux {flux.shape} must be 1-D of the same length >= 2",
            file,
        )
    if not np.all(np.isfinite(wl)):
        raise DataError(f"{np.count_nonzero(~np.isfinite(wl))} NaN/inf wavelengths", file)
    _check_finite(flux, file)
    order = np.argsort(wl, kind="stable")
    wl, flux = wl[order], flux[order]
    if np.any(np.diff(wl) == 0):
        raise DataError(f"{np.count_nonzero(np.diff(wl) == 0)} repeated wavelengths", file)
    return wl, flux


def _target_wavelength(
    first: np.ndarray, wavelength: np.ndarray | None, resolution: float | None, file: Path
) -> np.ndarray:
    if wavelength is not None:
        target = np.asarray(wavelength, dtype=np.float64)
        if (target.ndim != 1 or target.size < 2 or not np.all(np.isfinite(target))
                or np.any(np.diff(target) <= 0)):
            raise ValueError("wavelength= must be a 1-D, finite, strictly increasing array (µm)")
        return target
    if resolution is None:
        return first
    if resolution <= 0:
        raise ValueError(f"resolution must be positive, got {resolution}")
    # log-uniform bins of width lambda/R, one bin in from each end of the first file's range
    step = math.log1p(1.0 / resolution)
    n = math.floor(math.log(first[-1] / first[0]) / step) - 1
    if n < 2:
        raise DataError(f"resolution={resolution:g} leaves fewer than 2 wavelengths in "
                        f"{first[0]:g}-{first[-1]:g} µm", file)
    return first[0] * np.exp(step * np.arange(1, n + 1))


def _resample_onto(
    target: np.ndarray, wl: np.ndarray, flux: np.ndarray, file: Path
) -> np.ndarray:
    from telescopeml.data.resample import outside_coverage, resample

    uncovered = np.count_nonzero(outside_coverage(target, wl))
    if uncovered:
        raise DataError(
            f"covers {wl[0]:g}-{wl[-1]:g} µm: {uncovered} of the {target.size} target pixels "
            f"({target[0]:g}-{target[-1]:g} µm) lie partly outside it",
            file,
        )
    out, _ = resample(target, wl, flux)
    return out


def _check_finite(flux: np.ndarray, source: Path) -> None:
    bad = ~np.isfinite(flux)
    if bad.any():
        where = ""
        if flux.ndim == 2:
            rows = np.flatnonzero(bad.any(axis=1))
            where = f" in {rows.size} spectra (first: row {rows[0]})"
        raise DataError(f"{np.count_nonzero(bad)} NaN/inf flux values{where}", source)


def _underflow(flux: np.ndarray) -> int:
    """How many non-zero values become 0 in float32."""
    return int(np.count_nonzero((flux != 0) & (flux.astype(np.float32) == 0)))


def _float32_note(count: int) -> list[str]:
    return [f"{count} flux values too small for float32 became 0"] if count else []


def _grid(
    params: dict[str, np.ndarray],
    wavelength: np.ndarray,
    flux: np.ndarray,
    flux_unit: str,
    source: Path | str,
    fmt: str,
    name: str,
    notes: list[str],
    co_scale: str | None = None,
) -> SpectralGrid:
    meta: dict[str, Any] = {"source": str(source), "name": name, "format": fmt, "notes": notes}
    if co_scale is not None:
        meta["co_scale"] = co_scale
    return SpectralGrid(params=params, wavelength=wavelength, flux=flux, flux_unit=flux_unit,
                        meta=meta)

