"""``telescopeml explore``: figures and a summary of a model grid."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from telescopeml.cli.common import add_grid, command, grid_of


def _fixed_item(text: str) -> tuple[str, float]:
    name, _, value = text.partition("=")
    try:
        return name.strip(), float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"wants NAME=VALUE, got {text!r}") from None


def _run(args: argparse.Namespace) -> int:
    from telescopeml.data.sources import load_grid
    from telescopeml.explore import explore_grid

    name = grid_of(args, required=True)
    grid = load_grid(name, quiet=args.quiet)
    summary = explore_grid(grid, args.out, dict(args.fixed), args.spectrum)
    done = summary["completeness"]
    print(f"{summary['name'] or name}: {summary['n_spectra']} spectra, "
          f"{done['combinations_present']} of {done['combinations_expected']} combinations, "
          f"{len(summary['duplicate_spectra'])} duplicate groups, "
          f"{len(summary['bad_spectra'])} bad spectra")
    for match in summary.get("spectrum", {}).get("matches", []):
        node = ", ".join(f"{k}={v:g}" for k, v in match["parameters"].items())
        print(f"  {node}: reduced chi2 {match['reduced_chi2']:.3g}")
    print(f"wrote {len(summary['figures'])} figures (PNG + PDF) and summary.json/.csv to "
          f"{args.out}", file=sys.stderr)
    return 0


def register(subparsers: Any, common: argparse.ArgumentParser) -> None:
    """Add ``explore GRID --out DIR [--spectrum X] [--fixed NAME=VALUE]``."""
    parser = command(subparsers, "explore", _run, "figures and a summary of a model grid",
                     "Plot a grid's spectra, coverage, parameter and flux distributions, "
                     "flux-parameter correlations and principal components, and write "
                     "summary.json/.csv; optionally fit an observed spectrum with the grid.",
                     [common])
    add_grid(parser, "grid name or path to a grid file (or --grid GRID)", positional=True)
    parser.add_argument("--out", required=True, metavar="DIR", help="output directory")
    parser.add_argument("--spectrum", metavar="FILE_OR_NAME",
                        help="observed spectrum file, or object name in the spectra library")
    parser.add_argument("--fixed", action="append", default=[], type=_fixed_item,
                        metavar="NAME=VALUE",
                        help="value held fixed in the spectra-by-parameter figure "
                             "(repeatable; default: each axis's median)")
