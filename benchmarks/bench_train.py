"""Accuracy and speed of trained models on Sonora Diamondback, over seeded splits.

For each preset and seed: `train` (the same code as `telescopeml train`), then the held-out
grid points' metrics at S/N 30, interior points, next to the baselines computed on the same
split. Prints a Markdown table of mean ± spread over seeds and writes the raw numbers to
benchmarks/results/train.json.

Run: python benchmarks/bench_train.py [--presets default telescopeml] [--seeds 0 1 2]
     [--config best.toml --tag=-tuned]
"""

import argparse
import json
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent


def run(preset: str, seed: int, out_root: Path, epochs: int | None,
        config_file: str | None = None) -> dict:
    from telescopeml.training.experiment import ExperimentConfig, train

    config = (ExperimentConfig.from_toml(config_file, preset=preset) if config_file
              else ExperimentConfig.from_dict({}, preset=preset))
    config.train.seed = config.data.split_seed = seed
    if epochs:
        config.train.epochs = epochs
    start = time.time()
    out = train(config, out_root / f"{preset}-seed{seed}", progress=False,
                command=f"python benchmarks/bench_train.py --presets {preset} --seeds {seed}")
    result = json.loads((out / "evaluation.json").read_text())
    result.pop("test_predictions", None)  # per-spectrum arrays stay in the run directory
    manifest = json.loads((out / "manifest.json").read_text())
    result["wall_seconds"] = time.time() - start
    result["train_seconds"] = manifest["training"]["seconds"]
    result["best_epoch"] = manifest["training"]["best_epoch"]
    return result


def table(rows: dict[str, dict], params: list[str]) -> str:
    head = "| model | " + " | ".join(params) + " |"
    lines = [head, "|---" * (len(params) + 1) + "|"]
    for name, metrics in rows.items():
        cells = [f"{metrics[p]['rmse']:.3g} ± {metrics[p]['rmse_std']:.2g}" for p in params]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", nargs="+", default=["default", "telescopeml"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--epochs", type=int)
    parser.add_argument("--out", default="runs/bench")
    parser.add_argument("--config", help="base config TOML (e.g. a tuned best.toml)")
    parser.add_argument("--tag", default="", help="name of the results file and rows")
    args = parser.parse_args()
    from telescopeml.evaluation.metrics import mean_and_spread

    results = {p + args.tag: [run(p, s, Path(args.out) / (args.tag or "."), args.epochs,
                                  args.config) for s in args.seeds]
               for p in args.presets}
    names = list(results)
    first = results[names[0]][0]
    params = list(first["snr"]["30"])
    for scope in ("interior", "snr"):
        rows = {f"network: {p}": mean_and_spread([r[scope]["30"] for r in runs])
                for p, runs in results.items()}
        key = "baselines_interior" if scope == "interior" else "baselines"
        for name in first[key]:
            rows[name] = mean_and_spread([r[key][name]["30"] for r in results[names[0]]])
        label = "interior" if scope == "interior" else "all"
        print(f"\nRMSE at S/N 30, {label} held-out grid points, mean ± std over seeds "
              f"{args.seeds}:\n")
        print(table(rows, params))
    print(f"\nHeld-out scaled MSE (the loss that training and tuning minimize, averaged over "
          f"S/N clean, 10, 30, 100; all test points), per seed {args.seeds}:\n")
    for p, runs in results.items():
        values = [r["scaled_mse"]["mean"] for r in runs]
        print(f"| {p} | " + " | ".join(f"{v:.4f}" for v in values)
              + f" | mean {np.mean(values):.4f} |")
    for p, runs in results.items():
        print(f"\n{p}: train {np.mean([r['train_seconds'] for r in runs]):.0f} s, best epoch "
              f"{[r['best_epoch'] for r in runs]}, inference "
              f"{np.mean([r['inference']['spectra_per_second'] for r in runs]):,.0f} spectra/s")
    (ROOT / "results").mkdir(exist_ok=True)
    name = "train_" + "_".join(names) + ".json"
    (ROOT / "results" / name).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
