"""Predictions on disk: tables of many predictions (ECSV, CSV, FITS, Parquet) and posterior
samples (HDF5, FITS), with units, written atomically."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Iterator
from pathlib import Path

import astropy.units as u
import numpy as np
from astropy.io import fits
from astropy.table import QTable, Table

from telescopeml.cache import atomic_path, refused_writes
from telescopeml.errors import DataError
from telescopeml.prediction import Prediction, parameter_unit, table_from_rows

#: Table formats by file suffix (astropy's names); any other suffix is written as CSV.
TABLE_FORMATS = {".ecsv": "ascii.ecsv", ".csv": "ascii.csv", ".fits": "fits",
                 ".fit": "fits", ".parquet": "parquet"}
#: File suffixes :func:`write_samples` knows.
SAMPLE_SUFFIXES = (".h5", ".hdf5", ".fits", ".fit")
#: ASCII stand-ins for the non-ASCII characters of messages (FITS text is ASCII only).
_ASCII = str.maketrans({"µ": "u", "μ": "u", "±": "+/-", "χ": "chi", "²": "2", "σ": "sigma",
                        "≥": ">=", "≤": "<=", "–": "-", "—": "-", "×": "x", "…": "...",
                        "→": "->", "°": "deg", "≈": "~"})
#: FITS keywords of the provenance in a samples table's ``meta``.
FITS_KEYWORDS = {"scale": "SCALE", "model": "MODEL", "source": "SOURCE", "name": "OBJECT",
                 "file": "FILE", "spectral_type": "SPTYPE"}


def predictions_table(predictions: Iterable[Prediction],
                      failed: Iterable[tuple[str, str]] = ()) -> QTable:
    """One row per prediction (:meth:`Prediction.row
    <telescopeml.prediction.Prediction.row>`, with units), then one per failed input
    ``(path, error)`` whose ``flag`` is ``"error: ..."`` and whose numbers are NaN."""
    rows = [p.row() for p in predictions]
    rows += [{"source": str(path), "file": str(path), "flag": f"error: {error}"}
             for path, error in failed]
    return table_from_rows(rows)


def samples_table(prediction: Prediction) -> QTable:
    """The posterior samples of one prediction: a column per parameter, with its unit;
    ``meta`` holds scale, model, source, name, file and spectral type."""
    table = QTable({n: prediction.samples[:, j] * parameter_unit(n)
                    for j, n in enumerate(prediction.names)})
    table.meta.update(_provenance(prediction))
    return table


def check_writable(path: str | Path, suffixes: Iterable[str] | None = None,
                   overwrite: bool = False) -> None:
    """Refuse, before any work, an output path that is a directory, an existing file (unless
    ``overwrite``, as astropy's writers), cannot be written, has a suffix outside
    ``suffixes`` (when given) or needs a package that is missing."""
    path = Path(path)
    if path.is_dir():
        raise DataError("is a directory; give a file name (e.g. results.ecsv)", path)
    if path.exists() and not overwrite:
        raise DataError("already exists and was left as it was (replace it with "
                        "--overwrite, or overwrite=True)", path)
    if suffixes is not None and path.suffix.lower() not in suffixes:
        raise DataError(f"unknown format {path.suffix!r}; use one of {', '.join(suffixes)}",
                        path)
    if path.suffix.lower() == ".parquet":
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            raise DataError("writing Parquet needs pyarrow (pip install pyarrow)", path) from None
    parent = path.parent if str(path.parent) else Path(".")
    existing = next((p for p in (parent, *parent.parents) if p.exists()), Path("."))
    if not existing.is_dir() or not os.access(existing, os.W_OK):
        raise DataError(f"cannot write here ({existing} is not a writable directory)", path)


def check_distinct(outputs: dict[str, str | Path | None]) -> None:
    """Refuse, before any work, one file given for two outputs (``{option: path}``; None
    for an output not asked for): the second would replace the first."""
    seen: dict[str, str] = {}
    for option, path in outputs.items():
        if not path:
            continue
        key = os.path.normcase(os.path.realpath(path))
        if key in seen:
            raise DataError(f"given for both {seen[key]} and {option}; the second would "
                            "replace the first: give two files", path)
        seen[key] = option


def write_table(path: str | Path, table: QTable, overwrite: bool = False) -> Path:
    """Write ``table`` by the name's suffix (:data:`TABLE_FORMATS`: ECSV and FITS keep the
    units, Parquet keeps them for astropy readers, CSV has none), atomically: a temporary
    file in the same folder, renamed onto ``path`` when complete. An existing ``path`` is
    replaced only with ``overwrite``."""
    path = Path(path)
    check_writable(path, overwrite=overwrite)
    format = TABLE_FORMATS.get(path.suffix.lower(), "ascii.csv")
    with _publishing(path, overwrite) as tmp:
        if format == "fits":
            fits.HDUList([fits.PrimaryHDU(), fits_table(table)]).writeto(tmp, overwrite=True)
        else:
            table.write(tmp, format=format, overwrite=True)
    return path


def write_samples(path: str | Path, predictions: list[Prediction],
                  overwrite: bool = False) -> Path:
    """Write the posterior samples of ``predictions``, one block per spectrum named after the
    object (else the file; repeats get ``_2``, ``_3``...), atomically.

    ``.h5``/``.hdf5``: a ``(n_samples, n_params)`` dataset per spectrum, with attributes
    ``names``, ``units`` (astropy strings), ``scale``, ``model``, ``source``, ``name``,
    ``file``, ``spectral_type``. ``.fits``: a binary table per spectrum (EXTNAME the
    block's name, a column per parameter with its TUNIT, the same provenance as keywords).
    An existing ``path`` is replaced only with ``overwrite``.
    """
    path = Path(path)
    check_writable(path, SAMPLE_SUFFIXES, overwrite)
    labels = _labels(predictions)
    with _publishing(path, overwrite) as tmp:
        if path.suffix.lower() in (".h5", ".hdf5"):
            _write_hdf5(tmp, labels, predictions)
        else:
            hdus = [fits_table(samples_table(p), label)
                    for label, p in zip(labels, predictions, strict=True)]
            fits.HDUList([fits.PrimaryHDU(), *hdus]).writeto(tmp, overwrite=True)
    return path


@contextlib.contextmanager
def _publishing(path: Path, overwrite: bool) -> Iterator[Path]:
    """:func:`~telescopeml.cache.atomic_path` onto ``path``, with a one-line
    :class:`DataError` when it cannot be written or, without ``overwrite``, when another
    process created it meanwhile (its file is kept; this one's is not written)."""
    try:
        with refused_writes(path), atomic_path(path, overwrite=overwrite) as tmp:
            yield tmp
    except FileExistsError:
        raise DataError("appeared while this run worked (another process wrote it?) and was "
                        "left as it was; this run's results were not written (run again with "
                        "another name, or --overwrite)", path) from None


def fits_table(table: QTable, name: str = "") -> fits.BinTableHDU:
    """``table`` as a FITS binary table: text made ASCII (all FITS holds), units as TUNITn
    (astropy's own name where the FITS standard has none: dex, jupiterRad, jupiterMass),
    ``meta`` as keywords (:data:`FITS_KEYWORDS`)."""
    plain, units = Table(), {}
    for column in table.colnames:
        values = table[column]
        if isinstance(values, u.Quantity):
            plain[column] = values.value
            if values.unit != u.dimensionless_unscaled:
                units[column] = values.unit
        else:
            plain[column] = [ascii_text(str(v)) for v in values]
    hdu = fits.table_to_hdu(plain)
    for column, unit in units.items():
        try:
            hdu.columns[column].unit = unit.to_string("fits")
        except (ValueError, u.UnitsError):
            hdu.columns[column].unit = unit.to_string()
    for key, value in table.meta.items():
        hdu.header[FITS_KEYWORDS.get(key, key[:8].upper())] = ascii_text(str(value))
    if name:
        hdu.name = ascii_text(name)
    return hdu


def ascii_text(text: str) -> str:
    """``text`` in ASCII: common symbols spelled out, anything else ``?``."""
    return text.translate(_ASCII).encode("ascii", "replace").decode("ascii")


def _provenance(prediction: Prediction) -> dict[str, str]:
    return {"scale": prediction.scale, "model": prediction.model, "source": prediction.source,
            "name": prediction.name, "file": prediction.file,
            "spectral_type": prediction.spectral_type,
            "parameter_scales": "; ".join(f"{n}: {prediction.scale_of(n)}"
                                          for n in prediction.names)}


def _labels(predictions: list[Prediction]) -> list[str]:
    """A unique block name per prediction: object name, else file stem, else source."""
    labels: list[str] = []
    for p in predictions:
        base = (p.name or Path(p.file).stem or p.source or "spectrum").replace("/", "_")
        label, n = base, 1
        while label in labels:
            n += 1
            label = f"{base}_{n}"
        labels.append(label)
    return labels


def _write_hdf5(path: Path, labels: list[str], predictions: list[Prediction]) -> None:
    """Build the file in memory, then write its bytes: h5py meets a full disk with a
    RuntimeError that leaves a half-freed file object behind (a later garbage collection
    can crash the process), a plain write with an OSError."""
    import io

    import h5py

    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as fh:
        for label, p in zip(labels, predictions, strict=True):
            data = fh.create_dataset(label, data=np.asarray(p.samples, dtype=np.float64))
            data.attrs["names"] = list(p.names)
            data.attrs["units"] = [parameter_unit(n).to_string() for n in p.names]
            for key, value in _provenance(p).items():
                data.attrs[key] = value
    path.write_bytes(buffer.getbuffer())
