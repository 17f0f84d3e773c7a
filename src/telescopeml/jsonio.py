"""The JSON the package writes: strict (RFC 8259), so that any JSON reader takes it.

A number that is not finite (NaN, infinity: an undefined metric) is written as ``null``;
``json.dumps`` runs with ``allow_nan=False``, so a value that slips past fails loudly here
rather than producing a file other tools refuse.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np


def json_default(obj: Any) -> Any:
    """``json.dump`` fallback for numpy scalars/arrays and paths."""
    if isinstance(obj, np.ndarray | np.generic):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"{type(obj).__name__} is not JSON serialisable")


def finite(obj: Any) -> Any:
    """A copy of ``obj`` (dicts, lists, tuples, numpy values) whose non-finite numbers are
    ``None``."""
    if isinstance(obj, dict):
        return {k: finite(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [finite(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return finite(obj.tolist())
    if isinstance(obj, float | np.floating):
        return float(obj) if math.isfinite(obj) else None
    if isinstance(obj, np.generic):
        return obj.item()
    return obj


def dumps(obj: Any, **options: Any) -> str:
    """``obj`` as strict JSON text (see the module); ``options`` go to :func:`json.dumps`."""
    return json.dumps(finite(obj), allow_nan=False, default=json_default, **options)


def digest(obj: Any) -> str:
    """SHA-256 of ``obj`` as it reads back from :func:`dumps` (keys sorted, no spaces): the
    same for a record written and the record read, so that an edit to a file shows."""
    import hashlib

    canonical = json.dumps(json.loads(dumps(obj)), sort_keys=True, separators=(",", ":"),
                           allow_nan=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def read(path: str | Path, what: str = "JSON") -> Any:
    """The JSON record in ``path``; :class:`~telescopeml.errors.DataError` naming the file
    when it cannot be read, is not JSON, or nests deeper than Python can parse."""
    from telescopeml.errors import DataError

    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DataError(f"unreadable {what} ({exc})", path) from None
    except RecursionError:
        raise DataError(f"unreadable {what} (nested too deeply to be a record)", path) from None
