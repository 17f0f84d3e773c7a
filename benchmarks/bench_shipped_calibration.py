"""Coverage and TARP of a flow model's posteriors on its held-out grid points, per S/N.

The model's own test points (its manifest's split), clean and at S/N 10, 30 and 100 (four
noise draws each), 500 posterior samples per spectrum, recalibrated at each spectrum's S/N.
Needs the model's grid in the cache (fetched from PyPI once).

Run: python benchmarks/bench_shipped_calibration.py MODEL [MODEL ...]
MODEL is a bundle directory or a shipped model's name; with several (e.g. trained on
different splits), their test points are also pooled, which narrows the binomial noise
of a coverage measured on one split's few grid points.
"""

import argparse
from pathlib import Path

import numpy as np

LEVELS = np.array([0.68, 0.95])


def report(label, samples, truth):
    from telescopeml.evaluation.calibration import coverage, tarp

    cov = 100 * coverage(samples, truth, LEVELS)
    print(f"{label:>6} ({len(truth):4d} spectra)  68%: {' / '.join(f'{v:.1f}' for v in cov[0])}"
          f"  95%: {' / '.join(f'{v:.1f}' for v in cov[1])}  TARP {tarp(samples, truth)[2]:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("models", nargs="+", help="one model, or several trained on different "
                        "splits, whose test points are then pooled")
    parser.add_argument("--refit", action="store_true", help="refit each model's "
                        "recalibration with the current code first (as `train` does)")
    args = parser.parse_args()
    import torch

    from telescopeml import pretrained
    from telescopeml.evaluation.evaluate import load_with_data, noisy_test_sets, posterior_samples
    from telescopeml.training.experiment import ExperimentConfig, recalibrate

    torch.set_num_threads(1)
    pooled: dict[str, tuple[list, list]] = {}
    for name in args.models:
        path = Path(name)
        bundle, prepared, seed = load_with_data(
            path if path.exists() else pretrained.model_path(name))
        if args.refit:
            config = ExperimentConfig.from_dict(bundle.manifest["training"]["config"])
            recalibrate(bundle.model, config, prepared)
        print(f"{name}: parameters", " / ".join(prepared.targets))
        for key, (flux, sigma, truth, _edge) in noisy_test_sets(prepared, seed).items():
            samples = posterior_samples(bundle.model, prepared, flux, sigma, seed=0)
            report(key, samples, truth)
            pooled.setdefault(key, ([], []))[0].append(samples)
            pooled[key][1].append(truth)
    if len(args.models) > 1:
        print(f"pooled over {len(args.models)} models:")
        for key, (samples, truths) in pooled.items():
            report(key, np.concatenate(samples, axis=1), np.concatenate(truths))
    report("all", np.concatenate([s for v in pooled.values() for s in v[0]], axis=1),
           np.concatenate([t for v in pooled.values() for t in v[1]]))


if __name__ == "__main__":
    main()
