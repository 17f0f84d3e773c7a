"""``telescopeml report``: one self-contained HTML report of a training run."""

from __future__ import annotations

import argparse
from typing import Any

from telescopeml.cli.common import command


def _run(args: argparse.Namespace) -> int:
    from telescopeml.report import write_report

    path = write_report(args.run_dir, args.out)
    print(path)
    return 0


def register(subparsers: Any, common: argparse.ArgumentParser) -> None:
    """Add ``report RUN_DIR [--out FILE]``."""
    parser = command(subparsers, "report", _run,
                     "one self-contained HTML report of a training run",
                     "Write RUN_DIR/report.html: grid summary, training curves, test metrics "
                     "against baselines, and parity, calibration and per-spectrum sections "
                     "when the run has their files. Figures are embedded; no network needed.",
                     [common])
    parser.add_argument("run_dir", metavar="RUN_DIR", help="a run directory from `train`")
    parser.add_argument("--out", metavar="FILE", help="output file (default RUN_DIR/report.html)")
