"""Write and read the TOML files that configs are saved as (stdlib ``tomllib`` reads)."""

from __future__ import annotations

import dataclasses
import json
import math
import tomllib
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from telescopeml.cache import atomic_path
from telescopeml.errors import DataError


def dataclass_from_dict(cls: type, data: Mapping[str, Any]) -> Any:
    """``cls(**data)``, with unknown keys refused by a ValueError naming the valid ones and
    each value checked against its field's type (:func:`check_type`) before ``cls`` checks
    its range."""
    names = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(data) - set(names))
    if unknown:
        raise ValueError(f"unknown {cls.__name__} keys {unknown}; valid: {', '.join(names)}")
    hints = typing.get_type_hints(cls)
    for key, value in data.items():
        check_type(key, value, hints[key])
    return cls(**data)


def check_type(key: str, value: Any, hint: Any) -> None:
    """Refuse ``value`` unless it is of type ``hint`` (``int``, ``float``, ``str``,
    ``bool``, ``None``, unions and tuples of them; a list stands for a tuple); a float must
    be finite and an int whole (``1.5``, ``1e9`` and ``"two"`` are not ints). The
    ValueError names the key, the value and what is allowed."""
    if not _conforms(value, hint):
        raise ValueError(f"{key} = {_value(value)}: must be {_describe(hint)}")


def _conforms(value: Any, hint: Any) -> bool:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (types.UnionType, typing.Union):
        return any(_conforms(value, a) for a in args)
    if hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, bool | np.bool_)
    if hint is int:
        return isinstance(value, int | np.integer) and not isinstance(value, bool)
    if hint is float:
        return (isinstance(value, int | float | np.integer | np.floating)
                and not isinstance(value, bool) and math.isfinite(value))
    if hint is str:
        return isinstance(value, str)
    if origin is tuple:
        if not isinstance(value, list | tuple):
            return False
        if len(args) == 2 and args[1] is Ellipsis:
            return all(_conforms(v, args[0]) for v in value)
        return len(value) == len(args) and all(map(_conforms, value, args))
    return True  # other annotations are the class's own to check


def _describe(hint: Any) -> str:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (types.UnionType, typing.Union):
        return " or ".join(_describe(a) for a in args)
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return f"a list of {_plural(args[0])}"
        return f"a list of {len(args)} {_plural(args[0])}"
    return {type(None): "left out", bool: "true or false", int: "a whole number",
            float: "a finite number", str: "a text in quotes"}.get(hint, str(hint))


def _plural(hint: Any) -> str:
    if typing.get_origin(hint) is tuple:
        return f"lists ({_describe(hint)})"
    return {int: "whole numbers", float: "finite numbers", str: "texts in quotes",
            bool: "true/false values"}.get(hint, str(hint))


def check_range(key: str, value: Any, low: float | None = None, high: float | None = None,
                above: bool = False) -> None:
    """Refuse a number below ``low`` (at or below it with ``above``) or above ``high``; the
    ValueError names the key, the value and the allowed range."""
    if (low is not None and (value <= low if above else value < low)) or (
            high is not None and value > high):
        if high is None:
            allowed = f"above {_number(low)}" if above else f"at least {_number(low)}"
        elif low is None:
            allowed = f"at most {_number(high)}"
        else:
            allowed = f"between {_number(low)} and {_number(high)}"
        raise ValueError(f"{key} = {_value(value)}: must be {allowed}")


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    return json.dumps(str(value))  # a JSON string is a valid TOML basic string


def _number(value: float) -> str:
    return f"{value:,}" if isinstance(value, int) else f"{value:g}"


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
