"""``telescopeml tune``: search hyperparameters with Optuna."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from telescopeml.cli.common import add_grid, command, grid_of, positive_int
from telescopeml.extras import requires
from telescopeml.training.search_space import SearchSpace
from telescopeml.training.storage import HEARTBEAT
from telescopeml.training.tune import DEFAULT_STUDY, PRUNERS, trial_states, tune


def _run(args: argparse.Namespace) -> int:
    requires("torch", "zuko")  # fail before any work, naming the extra
    from telescopeml.training.experiment import config_from_options

    config = config_from_options(args.config, args.preset, grid_of(args), args.epochs, args.seed)
    space = SearchSpace.from_toml(args.space) if args.space else SearchSpace.default()
    trials = args.trials if args.trials is not None or args.timeout else 20
    study = tune(config, space, args.out, trials=trials, timeout=args.timeout,
                 storage=args.storage, study_name=args.study_name, resume=args.resume,
                 pruner=args.pruner, seed=config.train.seed, heartbeat=args.heartbeat,
                 progress=not args.quiet, splits=args.splits, overwrite=args.overwrite)
    counts = trial_states(study.trials)
    states = ", ".join(f"{n} {s.lower()}" for s, n in counts.items())
    print(f"study {study.study_name!r}: {len(study.trials)} trials ({states})")
    if counts.get("COMPLETE"):
        best = study.best_trial
        print(f"best: trial {best.number}, validation loss {best.value:.6g}")
        for name, value in best.params.items():
            print(f"  {name} = {value}")
        print(f"train it: telescopeml train --config {Path(args.out) / 'best.toml'} "
              "--out DIR")
    return 0


def register(subparsers: Any, common: argparse.ArgumentParser) -> None:
    """Add ``tune``."""
    parser = command(subparsers, "tune", _run, "search hyperparameters with Optuna",
                     "Search hyperparameters with Optuna (TPE sampler, pruning on the "
                     "validation loss). Every trial trains on the same grid split. Run the same "
                     "command on several machines with one --storage URL (PostgreSQL) to share "
                     "the study. Writes best.toml (for `telescopeml train --config`), "
                     "trials.csv and plots to --out.",
                     [common])
    add_grid(parser, "grid name or path (default: the config's); also accepted as the "
             "first argument", positional=False)
    parser.add_argument("--space", help="search-space TOML ([space.SECTION.KEY] tables; "
                        "default: the packaged tune_space.toml)")
    parser.add_argument("--config", help="base config TOML, as for `telescopeml train`")
    parser.add_argument("--preset", default="default", help="default, telescopeml, mlp or "
                        "posterior")
    parser.add_argument("--out", required=True, metavar="DIR", help="output directory")
    parser.add_argument("--trials", type=positive_int, help="trials for this worker (default 20 "
                        "unless --timeout is given)")
    parser.add_argument("--timeout", type=float, metavar="S",
                        help="start no new trial after S seconds")
    parser.add_argument("--storage", metavar="URL", help="SQLAlchemy URL of the study, e.g. "
                        "postgresql://user:pass@host/db (default: sqlite:///DIR/study.db)")
    parser.add_argument("--study-name", default=DEFAULT_STUDY, help="name of the study in "
                        f"the storage (default {DEFAULT_STUDY})")
    parser.add_argument("--resume", action="store_true",
                        help="continue the study in DIR/study.db")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace the results (best.toml, trials.csv, plots) that --out "
                        "already holds (by default refused, unless --resume continues the "
                        "study that wrote them)")
    parser.add_argument("--epochs", type=positive_int, help="epochs per trial")
    parser.add_argument("--seed", type=int, help="seed of the sampler, the split and the "
                        "training (default: the config's train seed)")
    parser.add_argument("--pruner", default="median", choices=PRUNERS,
                        help="stop unpromising trials early (default median)")
    parser.add_argument("--splits", type=positive_int, default=1, metavar="N",
                        help="train each trial on N grid splits and minimize the mean best "
                             "validation loss (N times the cost; default 1)")
    parser.add_argument("--heartbeat", type=positive_int, default=HEARTBEAT, metavar="S",
                        help="seconds between heartbeats; a worker silent for 2 S has died "
                             f"and its trial is failed and retried (default {HEARTBEAT})")
