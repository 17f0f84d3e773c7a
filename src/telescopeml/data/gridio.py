"""Shared pieces of the grid-file readers (:mod:`telescopeml.data.formats`,
:mod:`telescopeml.data.sonora`): opening files, reading directories of spectra onto one
wavelength array, checks and the grid's ``meta``."""

from __future__ import annotations

import bz2
import gzip
import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import numpy as np
from tqdm.auto import tqdm

from telescopeml.data.grid import SpectralGrid
from telescopeml.errors import DataError

#: Reading more files than this shows a progress bar (unless ``progress`` says otherwise).
PROGRESS_MIN_FILES = 50

#: Flux units of the Sonora grids: F_nu and F_lambda in cgs.
FNU_CGS = "erg / (s cm2 Hz)"
FLAM_CGS = "erg / (s cm2 cm)"


def existing(path: str | Path, want: str) -> Path:
    """``path`` as a Path, checked to exist as a ``"file"`` or a ``"dir"`` (``want``)."""
    path = Path(path)
    if not path.exists():
        raise DataError("no such file or directory", path)
    if want == "file" and not path.is_file():
        raise DataError("expected a file, found a directory", path)
    if want == "dir" and not path.is_dir():
        raise DataError("expected a directory, found a file", path)
    return path


@contextmanager
def open_text(path: Path) -> Iterator[IO[str]]:
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


def table_problem(exc: ValueError) -> str:
    """What a ``np.loadtxt`` error means, for a DataError message."""
    text = str(exc)
    if "number of columns changed" in text:
        return f"rows have inconsistent lengths ({text.split(';')[0]})"
    return f"non-numeric value ({text})"


def two_columns(path: Path, skip: int, delimiter: str | None = None) -> tuple[np.ndarray, ...]:
    """The first two columns (wavelength, flux) of a text file, after ``skip`` lines."""
    with open_text(path) as stream:
        try:
            data = np.loadtxt(stream, skiprows=skip, delimiter=delimiter, ndmin=2,
                              dtype=np.float64)
        except ValueError as exc:
            raise DataError(table_problem(exc), path) from None
    if data.shape[0] < 2 or data.shape[1] < 2:
        raise DataError(
            f"expected two columns (wavelength, flux) and at least 2 rows, got {data.shape}", path
        )
    return data[:, 0], data[:, 1]


def magic(path: Path) -> bytes:
    """The first four bytes of a file."""
    with open(path, "rb") as stream:
        return stream.read(4)


def files_in(folder: Path) -> list[Path]:
    """Every file under ``folder`` (recursively, hidden ones left out), sorted."""
    return sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith("."))


def find_files(path: str | Path, wanted: Callable[[Path], bool], what: str) -> list[Path]:
    """``[path]`` for a file, else the ``wanted`` files under the directory (``what`` names
    them in the error when there are none)."""
    path = Path(path)
    if path.is_file():
        return [path]
    folder = existing(path, want="dir")
    files = [p for p in files_in(folder) if wanted(p)]
    if not files:
        raise DataError(f"no {what} in this directory", folder)
    return files


def read_spectra(
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
        n_underflow += underflow(values)
    notes = []
    if n_resampled:
        onto = ("the given wavelengths" if wavelength is not None
                else f"R={resolution:g}" if resolution is not None
                else f"the wavelengths of {files[0].name}")
        notes.append(f"{n_resampled} of {len(files)} spectra resampled (flux-conserving) onto "
                     f"{onto}")
    notes += float32_note(n_underflow)
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
    check_finite(flux, file)
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


def check_finite(flux: np.ndarray, source: Path) -> None:
    """Raise if any flux value is NaN or infinite."""
    bad = ~np.isfinite(flux)
    if bad.any():
        where = ""
        if flux.ndim == 2:
            rows = np.flatnonzero(bad.any(axis=1))
            where = f" in {rows.size} spectra (first: row {rows[0]})"
        raise DataError(f"{np.count_nonzero(bad)} NaN/inf flux values{where}", source)


def underflow(flux: np.ndarray) -> int:
    """How many non-zero values become 0 in float32."""
    return int(np.count_nonzero((flux != 0) & (flux.astype(np.float32) == 0)))


def float32_note(count: int) -> list[str]:
    """The note about ``count`` values lost to float32, or none."""
    return [f"{count} flux values too small for float32 became 0"] if count else []


def make_grid(
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
    """The :class:`~telescopeml.data.grid.SpectralGrid` a reader returns, with its ``meta``."""
    meta: dict[str, Any] = {"source": str(source), "name": name, "format": fmt, "notes": notes}
    if co_scale is not None:
        meta["co_scale"] = co_scale
    return SpectralGrid(params=params, wavelength=wavelength, flux=flux, flux_unit=flux_unit,
                        meta=meta)

