"""Does the JWST NIRSpec PRISM Diamondback model beat the SpeX one on the same grid points?

Both shipped models (`dback24-prism`, `dback24-spex`) are scored on the same Sonora
Diamondback parameters: noisy copies (S/N 30, the package's noise model, 4 draws) of each
grid point's spectrum on the model's own pixels, the posterior median of 500 samples as the
estimate. Two sets of points: the PRISM model's held-out points (which the SpeX model has
mostly trained on, so the comparison favours the SpeX model), and the points held out by
both (a fair comparison, fewer points). Interior points have a grid neighbour on both sides
of every axis.

Run: python benchmarks/bench_prism_vs_spex.py [--out benchmarks/results/prism_vs_spex.json]
No network: the models and their compact grids ship with the package.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

MODELS = ("dback24-prism", "dback24-spex")
SNR, DRAWS, SAMPLES = 30.0, 4, 500


def points(name: str) -> tuple[np.ndarray, np.ndarray]:
    """The model's compact grid parameters (rows in its ``names`` order) and test indices."""
    from telescopeml import pretrained

    predictor = pretrained.load(name)
    grid = predictor.grid
    params = np.column_stack([grid.params[n] for n in predictor.names])
    return params, np.asarray(predictor.manifest["split"]["test"])


def rmse(name: str, wanted: np.ndarray, seed: int = 0) -> dict:
    """RMSE of model ``name`` on grid points ``wanted`` (rows of parameters), all and
    interior."""
    from telescopeml import pretrained
    from telescopeml.data.augment import add_noise
    from telescopeml.data.splits import is_edge

    predictor = pretrained.load(name)
    grid = predictor.grid
    params = np.column_stack([grid.params[n] for n in predictor.names])
    lookup = {tuple(row): i for i, row in enumerate(params)}
    index = np.array([lookup[tuple(row)] for row in wanted])
    edge = is_edge(grid, index)
    rng = np.random.default_rng(seed)
    flux = np.asarray(grid.flux_array(), dtype=np.float64)[index]
    estimates = []
    for _ in range(DRAWS):
        noisy, sigma = add_noise(flux, SNR, rng)
        samples = predictor.sample_posterior(noisy, sigma, SAMPLES, seed)
        estimates.append(np.median(samples, axis=0))
    estimate = np.concatenate(estimates)
    truth = np.tile(params[index], (DRAWS, 1))
    inner = np.tile(~edge, DRAWS)
    out = {"n_points": int(index.size), "n_interior": int((~edge).sum())}
    for label, mask in (("all", np.ones(truth.shape[0], bool)), ("interior", inner)):
        out[label] = {n: float(np.sqrt(np.mean((estimate[mask, j] - truth[mask, j]) ** 2)))
                      for j, n in enumerate(predictor.names)} if mask.any() else {}
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="benchmarks/results/prism_vs_spex.json")
    args = parser.parse_args(argv)
    prism_params, prism_test = points("dback24-prism")
    spex_params, spex_test = points("dback24-spex")
    held_by_prism = prism_params[prism_test]
    both = np.array(sorted(set(map(tuple, held_by_prism))
                           & set(map(tuple, spex_params[spex_test]))))
    result = {"snr": SNR, "draws": DRAWS, "samples": SAMPLES}
    for label, wanted in (("prism_test_points", held_by_prism), ("held_out_by_both", both)):
        result[label] = {name: rmse(name, wanted) for name in MODELS}
        print(f"\n{label} ({len(wanted)} points; S/N {SNR:g}, {DRAWS} noise draws)")
        print("| model | subset | " + " | ".join(result[label][MODELS[0]]["all"]) + " |")
        for name in MODELS:
            scores = result[label][name]
            for subset, count in (("all", "n_points"), ("interior", "n_interior")):
                if scores[subset]:
                    print(f"| {name} | {subset} ({scores[count]}) | "
                          + " | ".join(f"{v:.3g}" for v in scores[subset].values()) + " |")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
