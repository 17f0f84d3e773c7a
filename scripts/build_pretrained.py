"""Train the models shipped in the package and write them to src/telescopeml/pretrained_models/.

    python scripts/build_pretrained.py                 # both models
    python scripts/build_pretrained.py --only atmo20pp-spex

Each model is the `posterior` preset trained on one grid (seeded), evaluated on its held-out
grid points, then exported with float16 weights and a compact copy of its grid (see
telescopeml.pretrained); the exported model is evaluated again so that the manifest's
metrics are those of what ships. Needs PyPI once, to fetch the grids.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

import numpy as np

from telescopeml import pretrained
from telescopeml.bundle import load_bundle, manifest_sections, save_bundle
from telescopeml.data.instruments import manifest_instrument
from telescopeml.data.objects import load_object_spectrum, read_objects
from telescopeml.predict import Prediction, Predictor

# training and evaluation (PyTorch) are imported by the functions that use them, so that
# --help answers at once

#: name -> (grid, epochs, augmentation on top of the `posterior` preset). The Diamondback
#: model is the demo's (40 epochs: longer training made it worse on real spectra,
#: BENCHMARKS.md). ATMO 2020++ is the coldest complete grid at SpeX resolution (250-1200
#: K), the best the data layer has for late-T and Y dwarfs; those are faint, their SpeX
#: spectra background-limited in the absorption bands, and training with background noise
#: in the uncertainties took its dev-benchmark Teff RMSE below 900 K from 344 to 154 K
#: (it did not help the bright L dwarfs of the Diamondback model; BENCHMARKS.md).
MODELS = {
    "dback24-spex": ("splat-dback24", 40, {}),
    "atmo20pp-spex": ("ucdmcmc-atmo20pp-spex-prism", 100, {"background_noise": 1.0}),
    "dback24-prism": ("ucdmcmc-dback24-jwst-nirspec-prism", 40, {}),
    "atmo20pp-prism": ("ucdmcmc-atmo20pp-jwst-nirspec-prism", 100, {"background_noise": 1.0}),
    "atmo20pp-3to5um": ("ucdmcmc-atmo20pp-jwst-nirspec-prism", 100, {"background_noise": 1.0}),
}
#: JWST NIRSpec PRISM models stay on PRISM's own pixels (the default instrument resamples
#: onto SpeX's) over 0.8-5.3 µm: PRISM records 0.6-5.3 µm (the grids run 0.5-6 µm), but
#: cold brown dwarfs have almost no flux below 0.8 µm and published spectra often start
#: there (Beiler et al. 2024's NIRSpec + MIRI spectra at 0.79 µm).
PRISM_DATA = {"instrument": "JWST-NIRSPEC-PRISM", "wavelength_range": (0.8, 5.3)}
#: Wavelengths of the models that read only part of PRISM's range: 2.9-5.15 µm is what the
#: NIRSpec G395H and G395M gratings record (JDox), so their spectra, smoothed to PRISM's
#: resolution, can be read; PRISM pixels keep the model small.
RANGES = {"atmo20pp-3to5um": (2.9, 5.15)}
#: Network changes from the preset: at PRISM's ~940 pixels the preset's first dense layer
#: would make the Diamondback model (with its 1440-spectrum grid copy) larger than 5 MB.
MODEL_CHANGES = {"dback24-prism": {"dense": [256, 256]}}
#: The model-mismatch term of a JWST model is measured with its grid's SpeX twin on the
#: labeled SpeX objects inside its Teff range: JWST has too few labeled objects to learn
#: it from, and the grid's own errors are taken to be alike at both instruments.
MISMATCH_TWIN = {"dback24-prism": "dback24-spex", "atmo20pp-prism": "atmo20pp-spex",
                 "atmo20pp-3to5um": "atmo20pp-spex"}
OBJECTS = Path(__file__).resolve().parents[1] / "benchmarks" / "objects" / "train_objects.csv"
TARGET = Path(__file__).resolve().parents[1] / "src" / "telescopeml" / "pretrained_models"


def build(name: str, work: Path, seed: int = 0, reuse: bool = False) -> dict:
    from telescopeml.evaluation.evaluate import evaluate_bundle
    from telescopeml.training.experiment import ExperimentConfig, train
    from telescopeml.training.manifest import summary_metrics

    grid, epochs, augment = MODELS[name]
    config = ExperimentConfig.from_dict(
        {"data": {"grid": grid, **(PRISM_DATA if "prism" in grid else {}),
                  **({"wavelength_range": RANGES[name]} if name in RANGES else {})},
         "model": MODEL_CHANGES.get(name, {}), "train": {"epochs": epochs, "seed": seed},
         "augment": augment}, preset="posterior")
    command = "python scripts/build_pretrained.py --only " + name
    started = time.time()
    run = work / name
    if not (reuse and (run / "manifest.json").is_file()):
        train(config, run, command=command)
    seconds = time.time() - started
    out = pretrained.export(run, TARGET / name, Predictor(run).grid, command=command)
    shipped = evaluate_bundle(out, baselines=False, progress=False)
    bundle = load_bundle(out)
    manifest = manifest_sections(bundle.manifest)
    manifest["metrics"] = {**summary_metrics(shipped), "model": name}
    manifest.setdefault("instrument", manifest_instrument(bundle.manifest))
    if name in MISMATCH_TWIN:
        manifest["mismatch"] = measure_mismatch(
            MISMATCH_TWIN[name], tuple(manifest["parameters"]["ranges"]["teff"]))
    save_bundle(out, bundle.model, bundle.config, weights_dtype="float16", **manifest)
    full = json.loads((work / name / "manifest.json").read_text())["metrics"]
    return {"name": name, "grid": grid, "train_seconds": round(seconds, 1),
            "size_mb": round(sum(f.stat().st_size for f in out.iterdir()) / 1e6, 2),
            "float32_snr30": full["snr"]["30"], "shipped_snr30": shipped["snr"]["30"],
            "shipped_calibration": manifest["metrics"].get("calibration")}


def measure_mismatch(twin: str, teff_range: tuple[float, float],
                     objects: Path = OBJECTS) -> dict:
    """Central 68% and 95% half-widths of (literature - grid answer) for Teff and log g of
    shipped model ``twin`` on the labeled objects inside ``teff_range``, each object's
    literature error taken out in quadrature (as the empirical layer's conformal step does)."""
    rows = [r for r in read_objects(objects)
            if teff_range[0] <= float(r["teff"]) <= teff_range[1]]
    predictor = pretrained.load(twin)
    spectra = [load_object_spectrum(r, objects) for r in rows]
    answers = predictor.predict_many(spectra, n_samples=1000)
    out: dict = {}
    for p in ("teff", "logg"):
        pairs = [(float(r[p]), float(r[f"{p}_err"] or 0.0),
                  float(np.median(a.samples[:, a.names.index(p)])))
                 for r, a in zip(rows, answers, strict=True) if isinstance(a, Prediction)]
        truth, error, answer = np.array(pairs).T
        excess = np.sqrt(np.clip((truth - answer) ** 2 - error ** 2, 0.0, None))
        out[p] = {"68": float(np.quantile(excess, 0.68)), "95": float(np.quantile(excess, 0.95)),
                  "bias": float(np.median(truth - answer)), "n": int(truth.size)}
    return {"parameters": {p: {k: v[k] for k in ("68", "95")} for p, v in out.items()},
            "measured": out, "twin": twin, "objects": objects.name,
            "teff_range": list(teff_range),
            "source": f"measured with {twin} on {out['teff']['n']} labeled SpeX objects of "
                      f"{teff_range[0]:g}-{teff_range[1]:g} K ({objects.name}); taken to hold "
                      "at JWST, where too few objects are labeled"}


def remeasure_mismatch(name: str) -> dict:
    """Measure a shipped JWST model's mismatch term again and store it in its manifest."""
    out = TARGET / name
    bundle = load_bundle(out)
    manifest = manifest_sections(bundle.manifest)
    manifest.setdefault("instrument", manifest_instrument(bundle.manifest))
    manifest["mismatch"] = measure_mismatch(
        MISMATCH_TWIN[name], tuple(manifest["parameters"]["ranges"]["teff"]))
    save_bundle(out, bundle.model, bundle.config, weights_dtype="float16", **manifest)
    return {"name": name, "mismatch": manifest["mismatch"]["measured"]}


def refit_calibration(name: str) -> dict:
    """Refit a shipped model's posterior recalibration on its own validation points and
    re-evaluate it; the weights are not touched."""
    from telescopeml.evaluation.evaluate import evaluate_bundle, load_with_data
    from telescopeml.training.experiment import ExperimentConfig, recalibrate
    from telescopeml.training.manifest import summary_metrics

    out = TARGET / name
    bundle, prepared, _ = load_with_data(out)
    config = ExperimentConfig.from_dict(bundle.manifest["training"]["config"])
    manifest = manifest_sections(bundle.manifest)
    manifest["posterior"] = recalibrate(bundle.model, config, prepared)
    save_bundle(out, bundle.model, bundle.config, weights_dtype="float16", **manifest)
    shipped = evaluate_bundle(out, baselines=False, progress=False)
    manifest["metrics"] = {**summary_metrics(shipped), "model": name}
    save_bundle(out, bundle.model, bundle.config, weights_dtype="float16", **manifest)
    return {"name": name, "shipped_snr30": shipped["snr"]["30"],
            "shipped_calibration": manifest["metrics"].get("calibration")}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=list(MODELS), action="append")
    parser.add_argument("--work", default="pretrained-build", help="training directories")
    parser.add_argument("--reuse", action="store_true",
                        help="export a model already trained in --work instead of retraining")
    parser.add_argument("--mismatch", action="store_true",
                        help="only remeasure the JWST models' model-mismatch term")
    parser.add_argument("--recalibrate", action="store_true",
                        help="only refit the shipped models' posterior recalibration")
    args = parser.parse_args(argv)
    if args.mismatch:
        print(json.dumps([remeasure_mismatch(n) for n in args.only or MISMATCH_TWIN],
                         indent=1))
        return 0
    if args.recalibrate:
        print(json.dumps([refit_calibration(n) for n in args.only or MODELS], indent=1))
        return 0
    work = Path(args.work)
    results = [build(name, work, reuse=args.reuse) for name in args.only or MODELS]
    for name in args.only or MODELS:
        shutil.rmtree(work / name / "checkpoint", ignore_errors=True)
    print(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
