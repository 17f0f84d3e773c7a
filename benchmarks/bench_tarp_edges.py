"""Where a flow model's TARP deviation comes from: its S/N-30 test points, whole, with the
parameters' dependence broken (each parameter's samples shuffled on their own, the
product of the marginals), and split into interior and edge grid points.

Run: python benchmarks/bench_tarp_edges.py MODEL (a bundle directory or a shipped name)
"""

import argparse
from pathlib import Path

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", help="a bundle directory or a shipped model's name")
    args = parser.parse_args()
    import torch

    from telescopeml import pretrained
    from telescopeml.evaluation.calibration import coverage, tarp
    from telescopeml.evaluation.evaluate import load_with_data, noisy_test_sets, posterior_samples

    torch.set_num_threads(1)
    path = Path(args.model)
    bundle, prepared, seed = load_with_data(
        path if path.exists() else pretrained.model_path(args.model))
    flux, sigma, truth, edge = noisy_test_sets(prepared, seed)["30"]
    samples = posterior_samples(bundle.model, prepared, flux, sigma, seed=0)
    alpha, ecp, distance = tarp(samples, truth)
    print(f"TARP {distance:.3f}; ecp - alpha at alpha = 0.1 ... 0.9: "
          f"{np.round(np.interp(np.arange(0.1, 1, 0.1), alpha, ecp - alpha), 3).tolist()}")
    rng = np.random.default_rng(0)
    shuffled = np.stack([samples[rng.permutation(len(samples)), :, j]
                         for j in range(samples.shape[2])], axis=-1)
    print(f"product of the marginals: TARP {tarp(shuffled, truth)[2]:.3f}")
    for name, mask in (("interior", ~edge), ("edge", edge)):
        cov = 100 * coverage(samples[:, mask], truth[mask], np.array([0.68, 0.95]))
        part = tarp(samples[:, mask], truth[mask])[2]
        print(f"{name}: {mask.sum()} spectra, 68% {np.round(cov[0], 1).tolist()}, "
              f"95% {np.round(cov[1], 1).tolist()}, TARP {part:.3f}")


if __name__ == "__main__":
    main()
