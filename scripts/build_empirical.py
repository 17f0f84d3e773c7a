"""Fit the shipped empirical layer and record which scale `telescopeml predict` uses by default.

    python scripts/build_empirical.py                  # the shipped layer (10-fold fit)
    python scripts/build_empirical.py --fast --out /tmp/empirical --results /tmp/results

1. Fit the empirical scale on the training objects (--objects, default
   benchmarks/objects/train_objects.csv: 329 SpeX objects with luminosity-based Teff and
   evolutionary log g) over the shipped grid models (``telescopeml calibrate``), into --out
   (default: the package's src/telescopeml/pretrained_models/empirical-spex/, the layer that
   ships).
2. Run the dev benchmark (--dev, default benchmarks/objects/dev_objects.csv, never fitted to)
   with both scales and record their Teff RMSE on the objects inside the grids in the layer's
   metadata; ``pretrained.default_scale`` picks the more accurate one from that record.
   The full benchmark JSONs go to --results (default benchmarks/results/).
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TRAIN = ROOT / "benchmarks" / "objects" / "train_objects.csv"
DEV = ROOT / "benchmarks" / "objects" / "dev_objects.csv"
RESULTS = ROOT / "benchmarks" / "results"
#: The shipped layer, in the source tree (``pretrained.models_dir() / EMPIRICAL_DIR`` of an
#: editable install); not imported here, so that --help imports nothing.
SHIPPED = ROOT / "src" / "telescopeml" / "pretrained_models" / "empirical-spex"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog="\n\n".join(__doc__.split("\n\n")[2:]),
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--objects", type=Path, default=TRAIN,
                        help="CSV of labeled training objects (default: "
                             f"{TRAIN.relative_to(ROOT)})")
    parser.add_argument("--dev", type=Path, default=DEV,
                        help="CSV of the dev objects the two scales are compared on "
                             f"(default: {DEV.relative_to(ROOT)})")
    parser.add_argument("--out", type=Path, default=None,
                        help="directory of the fitted layer (default: the package's "
                             f"{SHIPPED.relative_to(ROOT)}, which ships; replaced)")
    parser.add_argument("--results", type=Path, default=RESULTS,
                        help="directory for the dev benchmarks' JSON (default: "
                             f"{RESULTS.relative_to(ROOT)})")
    parser.add_argument("--fast", action="store_true",
                        help="learn from the grid models' network answers alone "
                             "(EmpiricalConfig(grid_answers='network'), as `telescopeml "
                             "calibrate --fast`), and benchmark the atmosphere-grid scale "
                             "with them too (faster)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from telescopeml import pretrained
    from telescopeml.empirical import EMPIRICAL_DIR, META_FILE
    from telescopeml.evaluation.benchmark import run_benchmark
    from telescopeml.training.empirical import EmpiricalConfig, fit_empirical, save

    shipped = pretrained.models_dir() / EMPIRICAL_DIR
    out = args.out or shipped
    config = EmpiricalConfig(objects=str(args.objects),
                             grid_answers="network" if args.fast else "grid posterior")
    model, report = fit_empirical(config)
    command = shlex.join(["python", "scripts/build_empirical.py", *sys.argv[1:]])
    save(model, out, command=command)
    print(json.dumps(report, indent=1), file=sys.stderr)
    args.results.mkdir(parents=True, exist_ok=True)
    dev: dict = {"objects": args.dev.name}
    for scale in ("empirical", "grid"):
        predictor = (pretrained.predictor(None, "empirical", empirical=out)
                     if scale == "empirical" else
                     pretrained.predictor(None, "grid", fast=args.fast))
        result = run_benchmark(predictor, args.dev, progress=False)
        (args.results / f"dev_benchmark_{scale}.json").write_text(json.dumps(result, indent=1))
        dev[scale] = {"teff_rmse": result["in_range"]["teff"]["rmse"],
                      "logg_rmse": result["in_range"]["logg"]["rmse"]}
        dev["n_in_range"] = result["n_in_range"]
        print(f"dev, {scale} scale: {dev[scale]}", file=sys.stderr)
    meta_file = Path(out) / META_FILE
    meta = json.loads(meta_file.read_text())
    meta["dev_benchmark"] = dev
    meta_file.write_text(json.dumps(meta, indent=2))
    if Path(out).resolve() == shipped.resolve():
        print(f"default scale: {pretrained.default_scale()[1]}", file=sys.stderr)
    else:
        better = ("empirical" if dev["empirical"]["teff_rmse"] <= dev["grid"]["teff_rmse"]
                  else "grid")
        print(f"the {better} scale was the more accurate on the dev benchmark; the layer is "
              f"in {out} (not shipped: `telescopeml predict --empirical {out}` uses it)",
              file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
