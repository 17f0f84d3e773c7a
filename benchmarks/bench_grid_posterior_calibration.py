"""Coverage of the grid's posterior on held-out grid points whose nodes it never sees.

For each interior node of a shipped model's grid (every node with both neighbours along each
axis; ``--test-only``: those of the model's test split, never seen in training), one at a
time, the node's spectrum is removed from the likelihood's grid: it is replaced by the
average of its neighbours' linear interpolations along each axis (what any model would know
of it), and the node scatter is estimated from that grid. The network only proposes, so
that it saw the node matters little. The true node spectrum, at a free
flux scale plus Gaussian noise at the given S/N, is then read by the default pipeline (the
network proposes, the grid's likelihood decides). Reported: the share of true values inside
the 68% and 95% intervals, per parameter and pooled, the method and ESS, and the time.

Run: python benchmarks/bench_grid_posterior_calibration.py --model dback24-spex --snr 30 \
         --out benchmarks/results/grid_posterior_calibration.json [--every 3]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from telescopeml import pretrained
from telescopeml.data.scatter import axis_neighbours
from telescopeml.data.spectrum import ObservedSpectrum


def without_nodes(grid, nodes: np.ndarray):
    """``grid`` with each of ``nodes`` replaced by its neighbours' mean interpolation (log
    flux; the neighbours must not be among ``nodes``)."""
    names = [a for a in grid.axes if grid.axis_values(a).size > 1]
    neighbours, _, coords = axis_neighbours(grid, names)
    log_flux = np.log(np.asarray(grid.flux_array(), dtype=np.float64))
    filled = log_flux.copy()
    for node in nodes:
        guesses = []
        for j in range(len(names)):
            below, above = neighbours[node, j]
            if below < 0 or above < 0 or below in nodes or above in nodes:
                continue
            low, value, high = coords[node, j]
            w = (value - low) / (high - low)
            guesses.append((1 - w) * log_flux[below] + w * log_flux[above])
        filled[node] = np.mean(guesses, axis=0)
    return grid.with_flux(np.exp(filled))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="dback24-spex", help="shipped model")
    parser.add_argument("--snr", type=float, default=30.0, help="signal-to-noise per pixel")
    parser.add_argument("--samples", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--test-only", action="store_true",
                        help="only the interior nodes of the model's test split")
    parser.add_argument("--every", type=int, default=1,
                        help="take every k-th interior node (quicker, for iterating)")
    parser.add_argument("--out", default="benchmarks/results/grid_posterior_calibration.json")
    args = parser.parse_args(argv)
    predictor = pretrained.load(args.model)
    predictor.manifest.pop("mismatch", None)  # the grid's own posterior, not its real-data error
    grid = predictor.grid
    names = [a for a in grid.axes if grid.axis_values(a).size > 1]
    interior = np.flatnonzero((axis_neighbours(grid, names)[0] >= 0).all(axis=(1, 2)))
    if args.test_only:
        interior = np.intersect1d(interior, predictor.manifest["split"]["test"])
    interior = interior[::args.every]
    rng = np.random.default_rng(args.seed)
    inside = {0.68: [], 0.95: []}
    methods, ess = [], []
    start = time.perf_counter()
    for node in interior:
        # the likelihood, its node scatter and the fit check use the grid without the node
        predictor._grid, predictor._scatter = without_nodes(grid, [node]), False
        flux = np.asarray(grid.flux[node], dtype=np.float64)
        sigma = flux / args.snr
        observed = 3e-20 * (flux + sigma * rng.standard_normal(flux.size))
        spectrum = ObservedSpectrum(grid.wavelength, observed, 3e-20 * sigma,
                                    flux_unit=grid.flux_unit, name=f"node {node}")
        prediction = predictor.predict(spectrum, n_samples=args.samples, seed=args.seed)
        truth = np.array([grid.params[n][node] for n in prediction.names])
        for level in inside:
            low, high = prediction.quantiles(((1 - level) / 2, (1 + level) / 2))
            inside[level].append((low <= truth) & (truth <= high))
        methods.append(prediction.sampling["method"])
        ess.append(prediction.sampling.get("ess", np.nan))
    seconds = (time.perf_counter() - start) / len(interior)
    names = predictor.names
    report = {
        "command": " ".join(sys.argv), "model": args.model, "snr": args.snr,
        "n_nodes": len(interior),
        "coverage_68": dict(zip(names, np.mean(inside[0.68], axis=0).tolist(), strict=True)),
        "coverage_95": dict(zip(names, np.mean(inside[0.95], axis=0).tolist(), strict=True)),
        "pooled_68": float(np.mean(inside[0.68])), "pooled_95": float(np.mean(inside[0.95])),
        "share_mcmc": float(np.mean([m == "mcmc" for m in methods])),
        "ess_median": float(np.nanmedian(ess)), "seconds_per_spectrum": seconds}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=1) + "\n")
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
