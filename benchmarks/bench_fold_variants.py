"""Model variants on a few of the k-fold interior folds, point for point, and seed averages.

Trains a config (the default, or ``--config`` over it, with ``--set`` overrides) on folds of
``bench_kfold_interior.py`` for each seed, predicts the same noisy test spectra (noise seed
0, whatever the training seed) and prints the interior RMSE at S/N 30 per seed and of the
seeds' averaged predictions. The "Closing the gap" table of BENCHMARKS.md comes from it.

Run: python benchmarks/bench_fold_variants.py --folds 0 1 2 --seeds 0 1 2
     python benchmarks/bench_fold_variants.py --set '{"model": {"members": 3}}'
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from bench_kfold_interior import SNR, fold_splits

if TYPE_CHECKING:  # the package is imported where it is used, after --help
    from telescopeml.training.experiment import ExperimentConfig


def config_of(path: str | None, overrides: dict) -> ExperimentConfig:
    from telescopeml.training.experiment import ExperimentConfig

    base = ExperimentConfig.from_toml(path).to_dict() if path else {}
    sections = {k: {**base.get(k, {}), **overrides.get(k, {})}
                for k in ("data", "augment", "model", "train")}
    return ExperimentConfig.from_dict(sections)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--config", help="a config file over the default")
    parser.add_argument("--set", default="{}", help="JSON sections over the config")
    parser.add_argument("--epochs", type=int)
    parser.add_argument("--out", default="runs/fold_variants")
    args = parser.parse_args()
    from telescopeml.data.prepared import config_grid
    from telescopeml.evaluation.evaluate import (
        NOISE_REPEATS,
        load_with_data,
        noisy_test_sets,
        predict_parameters,
    )
    from telescopeml.training import experiment

    overrides = json.loads(args.set)
    config = config_of(args.config, overrides)
    folds = fold_splits(config_grid(config.data, quiet=True), 10, config.data.fractions, 0)
    predictions: dict[int, list[np.ndarray]] = {s: [] for s in args.seeds}
    truth = []
    for fold in args.folds:
        scored, split = folds[fold]
        experiment.split_grid = lambda *a, split=split, **k: split
        keep = np.tile(np.isin(split.test, scored), NOISE_REPEATS)
        for seed in args.seeds:
            config = config_of(args.config, overrides)
            config.train.seed = seed
            if args.epochs:
                config.train.epochs = args.epochs
            out = experiment.train(config, Path(args.out) / f"fold{fold}_seed{seed}",
                                   progress=False, baselines=False,
                                   command="python benchmarks/bench_fold_variants.py")
            bundle, prepared, _ = load_with_data(out)
            flux, sigma, labels, _ = noisy_test_sets(prepared, 0, [SNR])[f"{SNR:g}"]
            predictions[seed].append(predict_parameters(bundle.model, prepared, flux,
                                                        sigma)[keep])
        truth.append(labels[keep])
        names = prepared.targets
    truth = np.concatenate(truth)

    def rmse(predicted: np.ndarray) -> str:
        values = np.sqrt(np.mean((predicted - truth) ** 2, axis=0))
        return "  ".join(f"{n} {v:.4g}" for n, v in zip(names, values, strict=True))

    print(f"S/N {SNR:g}, interior points of folds {args.folds}, {len(truth) // NOISE_REPEATS} "
          f"points x {NOISE_REPEATS} noise draws")
    for seed, parts in predictions.items():
        print(f"seed {seed}: {rmse(np.concatenate(parts))}")
    if len(args.seeds) > 1:
        mean = np.mean([np.concatenate(p) for p in predictions.values()], axis=0)
        print(f"seeds averaged: {rmse(mean)}")


if __name__ == "__main__":
    main()
