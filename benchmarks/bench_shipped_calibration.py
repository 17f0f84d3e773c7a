"""Coverage and TARP of a flow model's posteriors on its held-out grid points, per S/N.

The model's own test points (its manifest's split), clean and at S/N 10, 30 and 100 (four
noise draws each), 500 posterior samples per spectrum, recalibrated at each spectrum's S/N.
Needs the model's grid in the cache (fetched from PyPI once).

Run: python benchmarks/bench_shipped_calibration.py MODEL
MODEL is a bundle directory or a shipped model's name.
"""

import argparse
from pathlib import Path

import numpy as np
import torch

from telescopeml import pretrained
from telescopeml.bundle import load_bundle
from telescopeml.evaluation.calibration import coverage, tarp
from telescopeml.evaluation.evaluate import posterior_samples, test_sets
from telescopeml.training.experiment import prepared_from_manifest

LEVELS = np.array([0.68, 0.95])


def report(label, samples, truth):
    cov = 100 * coverage(samples, truth, LEVELS)
    print(f"{label:>6} ({len(truth):4d} spectra)  68%: {' / '.join(f'{v:.1f}' for v in cov[0])}"
          f"  95%: {' / '.join(f'{v:.1f}' for v in cov[1])}  TARP {tarp(samples, truth)[2]:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("model")
    args = parser.parse_args()
    torch.set_num_threads(1)
    path = Path(args.model)
    bundle = load_bundle(path if path.exists() else pretrained.model_path(args.model))
    prepared = prepared_from_manifest(bundle.manifest, quiet=True)
    seed = bundle.manifest["training"]["config"]["train"]["seed"]
    print("parameters:", " / ".join(prepared.targets))
    everything, truths = [], []
    for key, (flux, sigma, truth, _edge) in test_sets(prepared, seed).items():
        samples = posterior_samples(bundle.model, prepared, flux, sigma, seed=0)
        report(key, samples, truth)
        everything.append(samples)
        truths.append(truth)
    report("all", np.concatenate(everything, axis=1), np.concatenate(truths))


if __name__ == "__main__":
    main()
