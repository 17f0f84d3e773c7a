"""Readers of the native Sonora model grids: Bobcat, Elf Owl and Diamondback.

Registered grid formats (:mod:`telescopeml.data.gridregistry`; ``read_grid`` dispatches to
them), with the conventions of :mod:`telescopeml.data.formats`: canonical parameter names, µm,
float32 flux, errors naming the file.
"""

from __future__ import annotations

import math
import re
from functools import partial
from pathlib import Path
from typing import Any

import h5py
import numpy as np
from scipy.io import netcdf_file

from telescopeml.data.grid import SpectralGrid
from telescopeml.data.gridio import (
    FLAM_CGS,
    FNU_CGS,
    find_files,
    magic,
    make_grid,
    read_spectra,
    two_columns,
)
from telescopeml.data.gridregistry import claimed_by, register_grid_format
from telescopeml.errors import DataError

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


@register_grid_format("sonora-bobcat", patterns=("sp_t*",), directory=True)
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
        Show a progress bar; by default only for more than
        :data:`~telescopeml.data.gridio.PROGRESS_MIN_FILES` files.
    """
    files = find_files(path, claimed_by("sonora-bobcat"), "Sonora Bobcat sp_t* files")
    params = _sonora_labels(files, BOBCAT_NAME, logg_step, "sp_t{teff}g{g}nc_m{mh}[_co{co}]")
    wl, flux, notes = read_spectra(
        files, partial(two_columns, skip=2), wavelength, resolution, progress, "Bobcat"
    )
    notes = [
        "F_nu at the top of the atmosphere; gravity in file names is in m/s^2",
        "co is relative to solar (files without _co are solar, co = 1)",
        *_logg_note(logg_step),
        *notes,
    ]
    return make_grid(params, wl, flux, FNU_CGS, path, "sonora-bobcat",
                 "Sonora Bobcat (Marley et al. 2021)", notes, co_scale="relative-to-solar")


@register_grid_format("sonora-netcdf", suffixes=(".nc", ".spec", ".spec.gz"), directory=True)
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
    files = find_files(path, claimed_by("sonora-netcdf"), "Elf Owl .nc or Diamondback .spec files")
    kinds = {f.name.lower().endswith(".nc") for f in files}
    if len(kinds) > 1:
        raise DataError("mixes Elf Owl (.nc) and Diamondback (.spec) files; read them "
                        "separately", path)
    if kinds == {True}:
        params = _sonora_labels(files, ELF_OWL_NAME, logg_step,
                                "spectra_logzz_{kzz}_teff_{teff}_grav_{g}_mh_{mh}_co_{co}.nc")
        load, unit, name = _netcdf_spectrum, FLAM_CGS, "Sonora Elf Owl (Mukherjee et al. 2024)"
        fmt_notes = ["F_lambda at the top of the atmosphere; kzz is log10(Kzz / cm^2 s^-1)"]
    else:
        params = _sonora_labels(files, DIAMONDBACK_NAME, logg_step,
                                "t{teff}g{g}{f{fsed}|nc}_m{mh}_co{co}.spec")
        load, unit = partial(two_columns, skip=3), "W / (m2 m)"
        name = "Sonora Diamondback (Morley et al. 2024)"
        fmt_notes = ["F_lambda at the top of the atmosphere; inv_fsed = 1/fsed, 0 = cloud-free"]
    wl, flux, notes = read_spectra(files, load, wavelength, resolution, progress, "Sonora")
    notes = [*fmt_notes, "gravity in file names is in m/s^2; co is relative to solar",
             *_logg_note(logg_step), *notes]
    return make_grid(params, wl, flux, unit, path, "sonora-netcdf", name, notes,
                 co_scale="relative-to-solar")


def _netcdf_spectrum(path: Path) -> tuple[np.ndarray, ...]:
    signature = magic(path)
    try:
        if signature == b"\x89HDF":
            with h5py.File(path, "r") as h5:
                _require_variables(h5, path)
                return h5["wavelength"][...], h5["flux"][...]
        if signature[:3] == b"CDF":
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
