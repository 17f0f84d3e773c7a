"""Write and read the TOML files that configs are saved as (stdlib ``tomllib`` reads)."""

from __future__ import annotations

import dataclasses
import json
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from telescopeml.cache import atomic_path
from telescopeml.errors import DataError


def dataclass_from_dict(cls: type, data: Mapping[str, Any]) -> Any:
    """``cls(**data)``, with unknown keys refused by a ValueError naming the valid ones."""
    names = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(data) - set(names))
    if unknown:
        raise ValueError(f"unknown {cls.__name__} keys {unknown}; valid: {', '.join(names)}")
    return cls(**data)


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    return json.dumps(str(value))  # a JSON string is a valid TOML basic string


def dumps(data: Mapping[str, Any], header: str = "") -> str:
    """TOML text for a dict of scalars, lists and one level of tables; ``None`` is left out."""
    lines = [f"# {header}"] if header else []
    tables = {k: v for k, v in data.items() if isinstance(v, Mapping)}
    for key, value in data.items():
        if value is not None and key not in tables:
            lines.append(f"{key} = {_value(value)}")
    for name, table in tables.items():
        lines += ["", f"[{name}]"]
        lines += [f"{k} = {_value(v)}" for k, v in table.items() if v is not None]
    return "\n".join(lines) + "\n"


def write(path: str | Path, data: Mapping[str, Any], header: str = "") -> Path:
    """Write ``data`` as TOML atomically."""
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_text(dumps(data, header), encoding="utf-8")
    return path


def read(path: str | Path) -> dict[str, Any]:
    """Read a TOML file, with a clear error naming it."""
    try:
        return tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError("no such config file", path) from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise DataError(f"cannot read config: {exc}", path) from None
