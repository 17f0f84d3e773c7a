"""Decode pandas "fixed" HDF5 tables whose object columns hold pickles, safely.

ucdmcmc ships its model grids as pandas tables written with ``format="fixed"``: numeric
columns are plain HDF5 arrays, but object columns (the flux arrays, model names) are a
pickled numpy object array. A plain ``pickle.load`` would run whatever the file asks for; the
:class:`RestrictedUnpickler` here resolves only the handful of numpy callables needed to
rebuild arrays and refuses anything else.
"""

from __future__ import annotations

import importlib
import io
import pickle
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from telescopeml.errors import DataError

_ALLOWED = {
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy._core.numeric", "_frombuffer"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
}


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that can only build numpy arrays, dtypes and scalars."""

    def find_class(self, module: str, name: str) -> Any:
        """Resolve only allowed numpy callables (``numpy.core`` is mapped to ``numpy._core``)."""
        canonical = module.replace("numpy.core", "numpy._core", 1)
        if (canonical, name) not in _ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a data file")
        try:
            return getattr(importlib.import_module(canonical), name)
        except (ImportError, AttributeError):
            legacy = canonical.replace("numpy._core", "numpy.core", 1)
            return getattr(importlib.import_module(legacy), name)


def safe_loads(data: bytes) -> Any:
    """Unpickle ``data`` allowing numpy arrays and scalars only."""
    return RestrictedUnpickler(io.BytesIO(data)).load()


def read_pandas_fixed(path: str | Path, key: str) -> dict[str, np.ndarray]:
    """Read a pandas ``format="fixed"`` DataFrame from HDF5 into ``{column: array}``.

    Object columns are decoded with :class:`RestrictedUnpickler`; each cell keeps its
    Python/numpy value (e.g. a flux array per row).
    """
    try:
        with h5py.File(path, "r") as h5:
            if key not in h5:
                raise DataError(f"no table {key!r} in the file (has {list(h5)})", path)
            group = h5[key]
            n_rows = group["axis1"].shape[0]
            columns: dict[str, np.ndarray] = {}
            for b in range(int(group.attrs["nblocks"])):
                items = [x.decode() for x in group[f"block{b}_items"][...]]
                values = group[f"block{b}_values"]
                if values.dtype == object:
                    decoded = safe_loads(values[0].tobytes())
                    block = np.asarray(decoded, dtype=object)
                else:
                    block = values[...]
                if block.shape != (n_rows, len(items)):
                    block = block.reshape(n_rows, len(items))
                for j, item in enumerate(items):
                    columns[item] = block[:, j]
    except (pickle.UnpicklingError, EOFError, MemoryError, TypeError, IndexError) as exc:
        raise DataError(f"unsafe or damaged pickle in table {key!r} "
                        f"({type(exc).__name__}: {exc})", path) from None
    except (OSError, KeyError, ValueError) as exc:
        if isinstance(exc, DataError):
            raise
        raise DataError(f"not a readable pandas HDF5 table ({exc})", path) from None
    return columns
