"""``telescopeml demo``: the main job end to end on the default data."""

from __future__ import annotations

import argparse
from typing import Any

from telescopeml.cli.common import command, positive_int
from telescopeml.extras import requires


def _demo(args: argparse.Namespace) -> int:
    requires("torch", "zuko")  # fail before any work, naming the extra
    from telescopeml.demo import run_demo

    run_demo(args.out, epochs=args.epochs, retrain=args.retrain, progress=not args.quiet)
    return 0


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add ``demo``."""
    p = command(sub, "demo", _demo, "the main job end to end on the default data",
                "Fetch the default grid (Sonora Diamondback at SpeX prism resolution), train "
                "the default posterior model, evaluate it on held-out grid points, predict "
                "three well-known brown dwarfs (an L, an L/T transition and a T dwarf) from "
                "the SpeX library, and write an HTML report.", [common])
    p.add_argument("--out", default="telescopeml-demo", help="output directory")
    p.add_argument("--epochs", type=positive_int, default=40, help="training epochs")
    p.add_argument("--retrain", action="store_true", help="retrain even if a model exists")
