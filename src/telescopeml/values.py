"""How a prediction's values are shown: at a sensible precision, limits as limits.

The report and the demo read a prediction record's parameters (``predictions/*.json``,
:meth:`telescopeml.prediction.Prediction.to_json`) through :func:`estimate_cells`: two
significant figures of the interval's half-width, never finer than the parameter's display
precision in :mod:`telescopeml.parameters` (as the terminal summary), and a limit, where the
record has one, instead of a median and interval.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

import numpy as np

from telescopeml.parameters import parameter
from telescopeml.prediction import decimals

__all__ = ["LIMIT_NOTE", "estimate_cells", "fixed", "limit_text"]

#: What a limit is, as the terminal summary says it.
LIMIT_NOTE = "a limit, not a measurement: the posterior piles at the grid's edge"


def fixed(value: float, places: int) -> str:
    """``value`` to ``places`` decimals (negative: tens...), never ``-0.00``."""
    return f"{round(value, places) + 0.0:.{max(places, 0)}f}"  # + 0.0: no "-0.00"


def limit_text(param: str, limit: str) -> str:
    """``"< 0.008794"`` at the parameter's display precision, rounded outwards (an upper
    limit up, a lower one down) so that it stays true; other text as it is."""
    match = re.fullmatch(r"\s*([<>])\s*([-+]?[\d.]+(?:[eE][-+]?\d+)?)\s*", limit)
    if not match:
        return limit
    places = parameter(param).precision
    step = 10.0 ** -places
    steps = round(float(match[2]) / step, 9)  # 0.07 / 0.01 is 7.000000000000001
    bound = (math.ceil if match[1] == "<" else math.floor)(steps) * step
    return f"{match[1]} {fixed(bound, places)}"


def estimate_cells(param: str, value: Mapping[str, Any] | float) -> list[str]:
    """The estimate and interval cells of a prediction record's parameter: two significant
    figures of the interval's half-width, never finer than the parameter's display
    precision (as the terminal summary), or the limit where the record has one."""
    if not isinstance(value, Mapping):
        return [fixed(float(value), parameter(param).precision), "–"]
    unit = value.get("unit", parameter(param).unit)
    suffix = f" {unit}" if unit else ""
    if value.get("limit"):
        return [f"{limit_text(param, str(value['limit']))}{suffix}", LIMIT_NOTE]
    low, high = float(value.get("low", np.nan)), float(value.get("high", np.nan))
    places = decimals(param, (high - low) / 2)
    level = value.get("level")
    interval = ("–" if not np.isfinite(low + high) else
                f"[{fixed(low, places)}, {fixed(high, places)}]"
                + (f" ({100 * level:.0f}%)" if level else ""))
    return [f"{fixed(float(value.get('median', value.get('mean'))), places)}{suffix}",
            interval]
