"""The ``telescopeml`` command.

One module per command group parses its arguments and calls the library: :mod:`.data`,
:mod:`.explore`, :mod:`.train` (``train``, ``calibrate``), :mod:`.tune`, :mod:`.evaluate`
(``evaluate``, ``benchmark``), :mod:`.predict`, :mod:`.classify`, :mod:`.report` and
:mod:`.demo`. Building the parser imports none of the heavy dependencies (PyTorch,
matplotlib, Optuna).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import threading
from collections.abc import Iterator, Sequence

from telescopeml.cache import set_cache_dir
from telescopeml.cli import (
    classify,
    data,
    demo,
    evaluate,
    explore,
    predict,
    report,
    train,
    tune,
)
from telescopeml.errors import MissingExtraError, TelescopeMLError
from telescopeml.extras import missing_extra
from telescopeml.version import __version__

EPILOG = """\
exit status:
  0    success
  1    some inputs failed (predict: the others were predicted and written)
  2    usage or data error (bad option, missing or unreadable file, nothing predicted)
  130  interrupted (Ctrl-C, or SIGTERM)

--out: a directory for commands that write a set of files (train, calibrate, tune, explore,
demo), a file for commands that write one (predict: .csv/.ecsv/.parquet/.fits by suffix;
report: .html). An existing --out is refused unless --overwrite (train, predict); a
replaced file is written in full first, then renamed over the old one.
--plots follows the same rule: a directory for several figures (predict), a file
name for one (benchmark).
--samples: posterior samples per spectrum; 10000 for up to 5 spectra, 2000 for more (predict,
benchmark).
"""


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for every subcommand."""
    parser = argparse.ArgumentParser(
        prog="telescopeml",
        description="Atmospheric parameters of brown dwarfs and exoplanets from their spectra.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"telescopeml {__version__}")
    parser.add_argument("--cache-dir", help="cache directory (default: $TELESCOPEML_CACHE, "
                        "else $XDG_CACHE_HOME/telescopeml, else ~/.cache/telescopeml)")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress output")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-q", "--quiet", action="store_true", default=argparse.SUPPRESS,
                        help="no progress output")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for group in (data, train, evaluate, predict, classify, demo, explore, report, tune):
        group.register(sub, common)
    return parser


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the process is so that it ends as Ctrl-C does: what each stage
    does on an interrupt (keep finished rows, a checkpoint) runs, then one line, exit 130."""


def _terminate(signum: int, frame: object) -> None:
    raise Terminated


@contextlib.contextmanager
def _sigterm_interrupts() -> Iterator[None]:
    """SIGTERM raises :class:`Terminated` while the command runs, where nothing else has
    claimed it (the main thread, the default handler); the handler is restored after."""
    claim = (threading.current_thread() is threading.main_thread()
             and signal.getsignal(signal.SIGTERM) == signal.SIG_DFL)
    if claim:
        signal.signal(signal.SIGTERM, _terminate)
    try:
        yield
    finally:
        if claim:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status (see :data:`EPILOG`)."""
    args = build_parser().parse_args(argv)
    if args.cache_dir:
        set_cache_dir(args.cache_dir)
    try:
        with _sigterm_interrupts():
            return int(args.func(args) or 0)
    except MissingExtraError as exc:
        print(f"telescopeml: error: {args.command}: {exc}", file=sys.stderr)
        return 2
    except TelescopeMLError as exc:
        print(f"telescopeml: error: {exc}", file=sys.stderr)
        return 2
    except ModuleNotFoundError as exc:  # an optional dependency (train, plots extras)
        missing = missing_extra(exc)
        if missing is None:
            raise
        print(f"telescopeml: error: {args.command}: {missing}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:
        how = " (SIGTERM)" if isinstance(exc, Terminated) else ""
        print(f"telescopeml: interrupted{how}", file=sys.stderr)
        return 130
    except BrokenPipeError:
        sys.stdout = open(os.devnull, "w")
        return 0
    except OSError as exc:  # an output path that is a file, a missing or read-only folder...
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"telescopeml: error: {where}{exc.strerror or exc}", file=sys.stderr)
        return 2
