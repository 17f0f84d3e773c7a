"""What several commands share: argument types, the grid argument, the metrics table."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable, Sequence
from typing import Any

from telescopeml.errors import DataError
from telescopeml.inference.request import (
    MAX_SAMPLES,
    SAMPLES_MANY,  # noqa: F401 (the commands' default)
)


def positive_int(text: str) -> int:
    """An integer of at least 1; anything else is a usage error (exit status 2)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1 (got {value})")
    return value


def sample_count(text: str) -> int:
    """A count of posterior samples, 1 to :data:`MAX_SAMPLES`; else a usage error."""
    value = positive_int(text)
    if value > MAX_SAMPLES:
        raise argparse.ArgumentTypeError(f"at most {MAX_SAMPLES:,} samples per spectrum "
                                         f"(got {value:,})")
    return value


def positive_float(text: str) -> float:
    """A finite number above 0; anything else is a usage error (exit status 2)."""
    value = _number(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be above 0 (got {text})")
    return value


def nonnegative_float(text: str) -> float:
    """A finite number of at least 0; anything else is a usage error (exit status 2)."""
    value = _number(text)
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be at least 0 (got {text})")
    return value


def _number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
    return value


def command(sub: Any, name: str, func: Callable[[argparse.Namespace], int], summary: str,
            description: str | None = None,
            parents: Sequence[argparse.ArgumentParser] = ()) -> argparse.ArgumentParser:
    """Add subcommand ``name`` that runs ``func(args)``; return its parser."""
    parser = sub.add_parser(name, parents=list(parents), help=summary,
                            description=description or summary)
    parser.set_defaults(func=func)
    return parser


def add_grid(parser: argparse.ArgumentParser, help_text: str, positional: bool) -> None:
    """Accept the grid as ``GRID`` and as ``--grid GRID``; only one spelling is documented.

    Read it back with :func:`grid_of`.
    """
    parser.add_argument("grid", nargs="?", metavar="GRID",
                        help=help_text if positional else argparse.SUPPRESS)
    parser.add_argument("--grid", dest="grid_option", metavar="GRID",
                        help=argparse.SUPPRESS if positional else help_text)


def grid_of(args: argparse.Namespace, required: bool = False) -> str | None:
    """The grid given by :func:`add_grid`'s arguments (None when neither was given)."""
    given = {g for g in (args.grid, args.grid_option) if g}
    if len(given) > 1:
        raise DataError(f"two grids given ({' and '.join(sorted(given))}); give one")
    if required and not given:
        raise DataError("give a grid: its name (see `telescopeml data list`) or a path")
    return given.pop() if given else None


def metrics_table(result: dict) -> str:
    """RMSE per parameter and S/N, interior points, network against the baselines."""
    lines = [f"held-out grid points: {result['n_test']} "
             f"({result.get('n_test_interior', '?')} interior); RMSE"]
    params = list(result["snr"]["clean"])
    lines.append(f"{'model':30s} {'S/N':>5s} " + " ".join(f"{p:>9s}" for p in params))
    rows = [("network (all)", result["snr"])]
    rows += [(f"{name} (all)", table) for name, table in result.get("baselines", {}).items()]
    rows += [("network (interior)", result["interior"])]
    rows += [(f"{name} (int.)", table) for name, table in
             result.get("baselines_interior", {}).items()]
    for label, table in rows:
        for key in ("clean", "30"):
            if key in table:
                values = " ".join(_cell(table[key][p]["rmse"]) for p in params)
                lines.append(f"{label:30s} {key:>5s} {values}")
    rate = result.get("inference", {}).get("spectra_per_second")
    if rate:
        lines.append(f"inference: {rate:,.0f} spectra/s")
    return "\n".join(lines)


def _cell(value: float | None) -> str:
    """A table number; None is a metric JSON could not hold (not finite)."""
    return f"{'n/a':>9s}" if value is None else f"{value:9.4g}"
