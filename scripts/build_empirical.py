"""Fit the shipped empirical layer and record which scale `telescopeml predict` uses by default.

    python scripts/build_empirical.py

1. Fit the empirical scale on benchmarks/objects/train_objects.csv (329 SpeX objects with
   luminosity-based Teff and evolutionary log g) over the shipped grid models
   (``telescopeml calibrate``), into src/telescopeml/pretrained_models/empirical-spex/.
2. Run the dev benchmark (benchmarks/objects/dev_objects.csv, never fitted to) with both
   scales and record their Teff RMSE on the objects inside the grids in the layer's
   metadata; ``pretrained.default_scale`` picks the more accurate one from that record.
   The full benchmark JSONs go to benchmarks/results/.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from telescopeml import pretrained
from telescopeml.empirical import EMPIRICAL_DIR, META_FILE
from telescopeml.evaluation.benchmark import run_benchmark
from telescopeml.training.empirical import EmpiricalConfig, fit_empirical, save

ROOT = Path(__file__).resolve().parents[1]
TRAIN = ROOT / "benchmarks" / "objects" / "train_objects.csv"
DEV = ROOT / "benchmarks" / "objects" / "dev_objects.csv"
RESULTS = ROOT / "benchmarks" / "results"


def main() -> int:
    out = pretrained.models_dir() / EMPIRICAL_DIR
    model, report = fit_empirical(EmpiricalConfig(objects=str(TRAIN)))
    save(model, out, command="python scripts/build_empirical.py")
    print(json.dumps(report, indent=1), file=sys.stderr)
    dev: dict = {"objects": DEV.name}
    for scale in ("empirical", "grid"):
        result = run_benchmark(pretrained.predictor(None, scale), DEV, progress=False)
        (RESULTS / f"dev_benchmark_{scale}.json").write_text(json.dumps(result, indent=1))
        dev[scale] = {"teff_rmse": result["in_range"]["teff"]["rmse"],
                      "logg_rmse": result["in_range"]["logg"]["rmse"]}
        dev["n_in_range"] = result["n_in_range"]
        print(f"dev, {scale} scale: {dev[scale]}", file=sys.stderr)
    meta_file = out / META_FILE
    meta = json.loads(meta_file.read_text())
    meta["dev_benchmark"] = dev
    meta_file.write_text(json.dumps(meta, indent=2))
    print(f"default scale: {pretrained.default_scale()[1]}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
