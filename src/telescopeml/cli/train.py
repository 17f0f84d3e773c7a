"""``telescopeml train`` and ``telescopeml calibrate``: fit a model, fit the empirical scale."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from telescopeml.cli.common import (
    add_grid,
    command,
    grid_of,
    metrics_table,
    positive_int,
)
from telescopeml.errors import DataError
from telescopeml.extras import requires


def _train(args: argparse.Namespace) -> int:
    requires("torch", "zuko")  # fail before any work, naming the extra
    from telescopeml.training.experiment import config_from_options, train
    from telescopeml.training.outputs import holds_files
    from telescopeml.training.runtime import is_main_process

    grid = grid_of(args)
    out_dir = Path(args.out)
    if out_dir.is_file():
        raise DataError("is a file; --out takes a directory for the model", out_dir)
    # under torchrun rank 0 alone decides (the others see the files rank 0 starts writing)
    if is_main_process() and holds_files(out_dir) and not (args.resume or args.overwrite):
        what = "a model" if (out_dir / "manifest.json").is_file() else "files"
        raise DataError(f"already holds {what}; give --overwrite to replace it, or "
                        "--resume to continue a killed run there", out_dir)
    config = config_from_options(args.config, args.preset, grid, args.epochs, args.seed)
    command_line = "telescopeml " + " ".join(sys.argv[1:]) if args.record_command else None
    out = train(config, args.out, resume=args.resume, progress=not args.quiet,
                command=command_line, baselines=not args.no_baselines,
                overwrite=args.overwrite)
    if not is_main_process():
        return 0
    print(metrics_table(json.loads((out / "evaluation.json").read_text())))
    print(f"model written to {out}")
    return 0


def _calibrate(args: argparse.Namespace) -> int:
    from telescopeml.parameters import parameter
    from telescopeml.training.empirical import EmpiricalConfig, fit_empirical, save

    out = Path(args.out)
    if out.exists() and not args.overwrite:
        raise DataError("exists; give --overwrite to replace it", out)
    config = EmpiricalConfig(objects=args.objects, seed=args.seed, folds=args.folds,
                             grid_models=args.models.split(",") if args.models else [],
                             grid_answers="network" if args.fast else "grid posterior")
    model, report = fit_empirical(config, progress=not args.quiet)
    save(model, out, command=" ".join(["telescopeml", *sys.argv[1:]]))
    print(f"empirical scale fitted on {report['n']} objects, written to {out}")
    for p in ("teff", "logg"):
        m, unit = report[p], parameter(p).suffix
        print(f"  {p}: cross-validated RMSE {m['rmse']:.3g}{unit}, intervals hold the "
              f"literature value for {m['consistent_68']:.0%} (68%) / "
              f"{m['consistent_95']:.0%} (95%); flagged RMSE {m['flagged_rmse']:.3g}, "
              f"unflagged {m['unflagged_rmse']:.3g}")
    return 0


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add ``train`` and ``calibrate``."""
    p = command(sub, "train", _train, "train a model on a grid and evaluate it",
                "Train a network on a grid's spectra (split by whole grid points, augmented "
                "by interpolation and noise), evaluate it on held-out points next to "
                "baselines, and write a bundle (manifest.json + model.safetensors) to --out.",
                [common])
    add_grid(p, "grid name or path (default: the config's, splat-dback24 without "
             "--config); also accepted as the first argument", positional=False)
    p.add_argument("--config", help="TOML file with [data] [augment] [model] [train] sections")
    p.add_argument("--preset", default="default",
                   help="default, posterior (flow posterior, for real spectra), telescopeml "
                   "or mlp")
    p.add_argument("--epochs", type=positive_int, help="override the number of epochs")
    p.add_argument("--seed", type=int, help="seed for the split, augmentation and weights")
    p.add_argument("--out", required=True, help="output directory, e.g. models/NAME")
    p.add_argument("--resume", action="store_true", help="continue a killed run in --out")
    p.add_argument("--overwrite", action="store_true",
                   help="replace the model in --out once the new one is complete (its "
                   "other files stay; by default an existing model is kept)")
    p.add_argument("--no-baselines", action="store_true",
                   help="evaluate the network alone (the χ² and random-forest baselines take "
                   "a while on large grids)")
    p.add_argument("--no-record-command", dest="record_command", action="store_false",
                   help="do not record the command line in the manifest")

    p = command(sub, "calibrate", _calibrate, "fit the empirical scale on labeled real spectra",
                "Learn the empirical scale (luminosity-based Teff, evolutionary log g) from "
                "real spectra with literature labels on top of the shipped grid models, with "
                "error bars calibrated by cross-validation (split conformal) and flags.",
                [common])
    p.add_argument("--objects", required=True, help="CSV table of labeled objects (name, "
                   "data_file, teff, teff_err, logg, logg_err)")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--models", help="comma-separated shipped grid models (default: those made "
                        "for SpeX prism, the labeled objects' instrument)")
    p.add_argument("--seed", type=int, default=0, help="seed of the folds and trees")
    p.add_argument("--folds", type=positive_int, default=10, help="cross-validation folds that "
                   "calibrate the error bars and flags (default 10)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    p.add_argument("--fast", action="store_true", help="learn from the grid models' network "
                   "answers alone (as `predict --fast`), not their grids' posteriors")
