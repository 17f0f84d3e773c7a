"""Which JWST NIRSpec PRISM wavelength windows carry each parameter: a window ablation.

One ``posterior``-preset model (flow head, background noise 1.0) is trained per window set
on a PRISM grid, on its own pixels cropped to 0.6-5.3 µm: all of it, each window alone
(1-2.5 µm: the near-infrared H2O/CH4/H2-CIA bands; 3-4 µm: the CH4 fundamental; 4-5 µm:
CO and CO2) and everything but each window. Each model is then rebuilt from its bundle
(``evaluate_bundle``: the windows round-trip through the manifest) and scored on its
held-out grid points at S/N 30 (4 noise draws each): the RMSE and the median 16-84% width
of the recalibrated posteriors, per parameter, as the mean over ``--seeds`` (each seed
sets the split, the augmentation and the weights; 16 test points per split on ATMO 2020++).

Writes ``window_ablation.json`` and ``window_ablation.png`` to ``--out`` (a run directory
holding that JSON gets the figure in ``telescopeml report``) and prints a markdown table.

Run: python benchmarks/bench_jwst_windows.py [--grid G] [--epochs 100] [--seeds 0 1 2]
         [--sets all 1-2.5 ...] [--out runs/jwst_windows] [--reuse]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # the package is imported where it is used, after --help
    from telescopeml.training.experiment import ExperimentConfig

PRISM_RANGE = (0.6, 5.3)
SNR = 30.0
#: label -> windows (µm); empty = the whole PRISM range.
WINDOW_SETS: dict[str, list[tuple[float, float]]] = {
    "all": [],
    "1-2.5": [(1.0, 2.5)],
    "3-4": [(3.0, 4.0)],
    "4-5": [(4.0, 5.0)],
    "all but 1-2.5": [(0.6, 1.0), (2.5, 5.3)],
    "all but 3-4": [(0.6, 3.0), (4.0, 5.3)],
    "all but 4-5": [(0.6, 4.0), (5.0, 5.3)],
}


def train_bundle(config: ExperimentConfig, out: Path) -> None:
    """The steps of ``experiment.train`` up to the bundle, without its full evaluation
    (whose throughput test alone takes minutes with a flow head on 2 cores)."""
    from telescopeml.bundle import save_bundle
    from telescopeml.training.experiment import fit_model, recalibrate
    from telescopeml.training.manifest import bundle_sections

    started = time.time()
    prepared, trainer = fit_model(config, out, progress=False)
    model = trainer.model
    manifest = bundle_sections(prepared, config.to_dict(), model_config=model.config)
    manifest["posterior"] = recalibrate(model, config, prepared)
    manifest["training"].update(seconds=time.time() - started, best_epoch=trainer.best_epoch)
    manifest["command"] = "python benchmarks/bench_jwst_windows.py"
    save_bundle(out, model, model.config, **manifest)


def run_one(grid: str, windows: list[tuple[float, float]], epochs: int, seed: int,
            out: Path, reuse: bool = False) -> dict:
    """Train one model on ``windows`` (or, with ``reuse``, take the bundle already in
    ``out``) and score it; ``{"rmse", "width68", ...}``. The bundle is reloaded with its
    data rebuilt from the manifest, so the windows round-trip."""
    from telescopeml.evaluation.evaluate import (
        calibrate,
        load_with_data,
        noisy_test_sets,
        predict_parameters,
        snr_key,
    )
    from telescopeml.evaluation.metrics import regression_metrics
    from telescopeml.training.experiment import ExperimentConfig

    config = ExperimentConfig.from_dict(
        {"data": {"grid": grid, "instrument": "JWST-NIRSPEC-PRISM",
                  "wavelength_range": PRISM_RANGE, "windows": windows, "split_seed": seed},
         "train": {"epochs": epochs, "seed": seed},
         "augment": {"background_noise": 1.0}}, preset="posterior")
    if not (reuse and (out / "manifest.json").is_file()):
        train_bundle(config, out)
    bundle, prepared, seed = load_with_data(out)
    if bundle.manifest["training"]["config"] != json.loads(json.dumps(config.to_dict())):
        raise SystemExit(f"{out} holds a model trained with another config")
    training = bundle.manifest["training"]
    flux, sigma, truth, _ = noisy_test_sets(prepared, seed, levels=(SNR,))[snr_key(SNR)]
    predicted = predict_parameters(bundle.model, prepared, flux, sigma)
    calibration = calibrate(bundle.model, prepared, flux, sigma, truth, seed=seed)
    return {"seed": seed, "seconds": round(training["seconds"], 1),
            "n_wavelengths": prepared.grid.n_wavelengths, "best_epoch": training["best_epoch"],
            "rmse": {p: m["rmse"] for p, m in
                     regression_metrics(truth, predicted, prepared.targets).items()},
            "width68": calibration["median_width68"],
            "coverage68": dict(zip(prepared.targets, calibration["check"]["coverage"]["0.68"],
                                   strict=True)),
            "calibration_passed": calibration["check"]["passed"]}


def summarize(runs: list[dict]) -> dict:
    """Mean and standard deviation over seeds of each run metric."""
    out: dict = {"n_wavelengths": runs[0]["n_wavelengths"], "runs": runs}
    for key in ("rmse", "width68", "coverage68"):
        out[key] = {p: float(np.mean([r[key][p] for r in runs])) for p in runs[0][key]}
        out[f"{key}_std"] = {p: float(np.std([r[key][p] for r in runs]))
                             for p in runs[0][key]}
    return out


def markdown(result: dict) -> str:
    """The table: one row per window set, RMSE and posterior width per parameter."""
    names = result["parameters"]
    spread = len(result["seeds"]) > 1

    def cell(entry: dict, key: str, p: str) -> str:
        text = f"{entry[key][p]:.3g}"
        return text + (f" ± {entry[f'{key}_std'][p]:.2g}" if spread else "")

    header = (["windows (µm)", "pixels"] + [f"RMSE {p}" for p in names]
              + [f"width68 {p}" for p in names])
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for label, entry in result["windows"].items():
        cells = [label, str(entry["n_wavelengths"])]
        cells += [cell(entry, key, p) for key in ("rmse", "width68") for p in names]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--grid", default="ucdmcmc-atmo20pp-jwst-nirspec-prism")
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--sets", nargs="+", choices=list(WINDOW_SETS),
                        default=list(WINDOW_SETS), help="window sets to run (default: all)")
    parser.add_argument("--out", default="runs/jwst_windows")
    parser.add_argument("--reuse", action="store_true",
                        help="score the models already in --out instead of retraining them")
    args = parser.parse_args()
    from telescopeml.plots import save_figure, window_ablation

    out = Path(args.out)
    result: dict = {"grid": args.grid, "wavelength_range": PRISM_RANGE, "snr": SNR,
                    "epochs": args.epochs, "seeds": args.seeds, "windows": {}}
    start = time.time()
    for label in args.sets:
        windows = WINDOW_SETS[label]
        runs = [run_one(args.grid, windows, args.epochs, seed,
                        out / "runs" / f"{label.replace(' ', '_')}-s{seed}", args.reuse)
                for seed in args.seeds]
        result["parameters"] = list(runs[0]["rmse"])
        result["windows"][label] = {"windows": windows, **summarize(runs)}
        result["seconds"] = round(time.time() - start, 1)
        (out / "window_ablation.json").write_text(json.dumps(result, indent=1) + "\n")
        print(f"{label}: {time.time() - start:.0f} s", flush=True)
    figure = window_ablation(result["windows"], result["parameters"],
                             title=f"{args.grid}, S/N {SNR:g}")
    save_figure(figure, out / "window_ablation", formats=("png",))
    print(f"\n{args.grid}, S/N {SNR:g}, {args.epochs} epochs, seeds {args.seeds}:\n")
    print(markdown(result))


if __name__ == "__main__":
    main()
