"""RMSE of flow models' posterior means at S/N 30 with more draws than ``flow_samples``.

Re-evaluates the runs of `bench_train.py` (RUNS/default-seed{0,1,2}) on their own test
points, averaging N posterior draws per spectrum for the point estimate.

Run: python benchmarks/bench_posterior_mean.py RUNS [--samples 1000] [--seeds 0 1 2]
"""

import argparse

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", help="directory of bench_train.py's runs")
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    args = parser.parse_args()
    import torch

    from telescopeml.evaluation.evaluate import load_with_data, noisy_test_sets, predict_parameters
    from telescopeml.evaluation.metrics import regression_metrics

    torch.set_num_threads(1)
    rows: dict[str, list[list[float]]] = {"interior": [], "all": []}
    for seed in args.seeds:
        bundle, prepared, _ = load_with_data(f"{args.runs}/default-seed{seed}")
        bundle.model.config.flow_samples = args.samples
        flux, sigma, truth, edge = noisy_test_sets(prepared, seed, levels=[30.0])["30"]
        pred = predict_parameters(bundle.model, prepared, flux, sigma)
        names = prepared.targets
        for key, keep in (("interior", ~edge), ("all", np.ones_like(edge))):
            metrics = regression_metrics(truth[keep], pred[keep], names)
            rows[key].append([metrics[n]["rmse"] for n in names])
    print("parameters:", " / ".join(names))
    for key, values in rows.items():
        print(f"{key}: " + " / ".join(f"{v:.4g}" for v in np.mean(values, axis=0)))


if __name__ == "__main__":
    main()
