"""Interior accuracy of the default model with every interior grid node held out once.

One split holds out only 11-16 interior points of Sonora Diamondback, too few to tell two
models apart. Here the 168 interior nodes are dealt into ``--folds`` folds; for each fold the
default model (``telescopeml train`` with no config) is trained with that fold held out as
test points, topped up with random other nodes so that the train / validation / test shares
stay those of the default split (80/10/10; only the fold's interior nodes are scored). The
split goes in through the one place training draws it (``experiment.split_grid``), so the
run is otherwise ``telescopeml train``. The squared errors at S/N 30 (4 noise draws per
point, averaged per point) are pooled over folds; the RMSE gets a bootstrap 95% interval
over points (``scipy.stats.bootstrap``) and sits next to the Cramér-Rao bound (RMS over
the same points, free flux scale) and the held-out bound (the grid's node scatter added to
the noise, ``crlb.node_scatter``: the limit for a grid point whose spectrum was never seen).

Run: python benchmarks/bench_kfold_interior.py [--folds 10] [--run-folds 0 1] [--epochs 60]
     [--config benchmarks/previous_default.toml --tag _previous_default]
     python benchmarks/bench_kfold_interior.py --bounds   (both bounds only, no training)
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # the package is imported where it is used, after --help
    from telescopeml.data.splits import GridSplit
    from telescopeml.training.experiment import ExperimentConfig

ROOT = Path(__file__).resolve().parent
SNR = 30.0


def fold_splits(grid, folds: int, fractions: tuple[float, float, float],
                seed: int) -> list[tuple[np.ndarray, GridSplit]]:
    """``(scored interior nodes, split)`` per fold; each interior node is scored once."""
    from telescopeml.data.splits import GridSplit, is_edge

    if grid.repeated_labels() or grid.duplicate_spectra():
        raise SystemExit("the grid has tied spectra; folds of single nodes would leak them")
    rng = np.random.default_rng(seed)
    n = len(grid)
    n_val, n_test = round(fractions[1] * n), round(fractions[2] * n)
    result = []
    for fold in np.array_split(rng.permutation(np.flatnonzero(~is_edge(grid))), folds):
        rest = rng.permutation(np.setdiff1d(np.arange(n), fold))
        extra = max(0, n_test - fold.size)
        split = GridSplit(train=np.sort(rest[extra + n_val:]),
                          val=np.sort(rest[extra:extra + n_val]),
                          test=np.sort(np.concatenate([fold, rest[:extra]])),
                          seed=seed, fractions=fractions)
        result.append((np.sort(fold), split))
    return result


def run_fold(config: ExperimentConfig, grid, scored: np.ndarray, split: GridSplit,
             out: Path) -> np.ndarray:
    """Train on one fold; return ``(n_scored, n_targets)`` squared errors at S/N 30, each
    averaged over the noise draws."""
    from telescopeml.evaluation.evaluate import NOISE_REPEATS
    from telescopeml.training import experiment

    experiment.split_grid = lambda *args, **kwargs: split
    out = experiment.train(config, out, progress=False, baselines=False,
                           command="python benchmarks/bench_kfold_interior.py")
    rows = json.loads((out / "evaluation.json").read_text())["test_predictions"][f"{SNR:g}"]
    truth, predicted = np.asarray(rows["truth"]), np.asarray(rows["predicted"])
    squared = ((predicted - truth) ** 2).reshape(NOISE_REPEATS, len(split.test), -1).mean(0)
    return squared[np.isin(split.test, scored)]


def print_bounds(grid, snrs=(10.0, 30.0, 100.0)) -> dict:
    """RMS of both bounds over every interior node, per S/N; printed as a table."""
    from telescopeml.data.scatter import node_scatter
    from telescopeml.data.splits import is_edge
    from telescopeml.evaluation.crlb import grid_bound

    interior = np.flatnonzero(~is_edge(grid))
    plain = grid_bound(grid, interior, snrs)
    held = grid_bound(grid, interior, snrs, scatter=node_scatter(grid))
    names = plain.names
    print(f"RMS over the {interior.size} interior nodes: Cramér-Rao bound / held-out bound\n")
    print("| S/N | " + " | ".join(names) + " |\n|---|" + "---|" * len(names))
    result = {}
    for snr in snrs:
        a, b = plain.rms(snr), held.rms(snr)
        result[f"{snr:g}"] = {"crlb": a, "held_out": b}
        print(f"| {snr:g} | " + " | ".join(f"{a[n]:.3g} / {b[n]:.3g}" for n in names) + " |")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folds", type=int, default=10)
    parser.add_argument("--run-folds", type=int, nargs="+",
                        help="run only these folds (default: all)")
    parser.add_argument("--epochs", type=int, help="default: the default config's")
    parser.add_argument("--seed", type=int, default=0, help="seed of the folds")
    parser.add_argument("--out", default="runs/kfold")
    parser.add_argument("--tag", default="", help="suffix of the results file")
    parser.add_argument("--config", help="a config file instead of the default (its missing "
                        "keys take the default's)")
    parser.add_argument("--bounds", action="store_true",
                        help="print both bounds over all interior nodes and stop")
    args = parser.parse_args()
    from scipy.stats import bootstrap

    from telescopeml.data.prepared import config_grid
    from telescopeml.data.scatter import node_scatter
    from telescopeml.evaluation.crlb import grid_bound
    from telescopeml.training.experiment import ExperimentConfig

    config = (ExperimentConfig.from_toml(args.config) if args.config
              else ExperimentConfig.from_dict({}))
    if args.epochs:
        config.train.epochs = args.epochs
    grid = config_grid(config.data, quiet=True)
    if args.bounds:
        (ROOT / "results").mkdir(exist_ok=True)
        (ROOT / "results" / "held_out_bound.json").write_text(
            json.dumps(print_bounds(grid), indent=1) + "\n")
        return
    targets = [a for a in grid.axes if grid.axis_values(a).size > 1]
    folds = fold_splits(grid, args.folds, config.data.fractions, args.seed)
    chosen = range(args.folds) if args.run_folds is None else args.run_folds
    start = time.time()
    scored, squared = [], []
    for i in chosen:
        points, split = folds[i]
        squared.append(run_fold(config, grid, points, split, Path(args.out) / f"fold{i}"))
        scored.append(points)
        print(f"fold {i}: {points.size} interior points, {time.time() - start:.0f} s")
    scored, squared = np.concatenate(scored), np.concatenate(squared)
    bound = grid_bound(grid, scored, [SNR]).bound[SNR]
    held = grid_bound(grid, scored, [SNR], scatter=node_scatter(grid)).bound[SNR]

    def rms(values, axis=-1):
        return np.sqrt(np.mean(values, axis=axis))

    result = {"folds": args.folds, "run_folds": list(chosen), "epochs": config.train.epochs,
              "n_points": int(scored.size), "snr": SNR, "seconds": time.time() - start,
              "config": args.config, "parameters": {},
              "points": scored.tolist(), "squared_errors": squared.tolist()}
    print(f"\nS/N {SNR:g}, {scored.size} interior points held out in folds {list(chosen)} of "
          f"{args.folds}, {config.train.epochs} epochs:\n")
    print("| parameter | RMSE [95% CI] | CRLB (RMS) | RMSE / CRLB [95% CI] | held-out bound | "
          "RMSE / held-out bound |\n|---|---|---|---|---|---|")
    for j, name in enumerate(targets):
        value = rms(squared[:, j])
        ci = bootstrap((squared[:, j],), rms, confidence_level=0.95, random_state=0,
                       method="percentile").confidence_interval
        crlb = float(np.sqrt(np.mean(bound[:, j] ** 2)))
        limit = float(np.sqrt(np.mean(held[:, j] ** 2)))
        result["parameters"][name] = {"rmse": value, "ci95": [ci.low, ci.high], "crlb": crlb,
                                      "held_out_bound": limit}
        print(f"| {name} | {value:.3g} [{ci.low:.3g}, {ci.high:.3g}] | {crlb:.3g} | "
              f"{value / crlb:.3g} [{ci.low / crlb:.3g}, {ci.high / crlb:.3g}] | "
              f"{limit:.3g} | {value / limit:.3g} [{ci.low / limit:.3g}, {ci.high / limit:.3g}] |")
    (ROOT / "results").mkdir(exist_ok=True)
    path = ROOT / "results" / f"kfold_interior{args.tag}.json"
    path.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
