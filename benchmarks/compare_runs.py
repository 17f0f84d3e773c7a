"""Compare two configs trained by bench_train.py on the same seeded splits.

Prints, per seed, the held-out scaled MSE (the loss that training and `telescopeml tune`
minimize; see `telescopeml.evaluation.evaluate.scaled_mse`) of each, and, for every S/N
and parameter, the ratio of their RMSEs on all held-out grid points (mean over seeds).

Run: python benchmarks/compare_runs.py benchmarks/results/train_default-default-now.json
     benchmarks/results/train_default-tunedhybrid.json
"""

import argparse
import json

import numpy as np


def runs(path: str) -> tuple[str, list[dict]]:
    data = json.loads(open(path).read())
    name = next(iter(data))
    return name, data[name]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("base", help="results JSON of the reference (e.g. the default)")
    parser.add_argument("other", help="results JSON of the challenger (e.g. a tuned config)")
    args = parser.parse_args()
    (base_name, base), (other_name, other) = runs(args.base), runs(args.other)
    if len(base) != len(other):
        raise SystemExit("the two files hold different numbers of seeds")
    a = np.array([r["scaled_mse"]["mean"] for r in base])
    b = np.array([r["scaled_mse"]["mean"] for r in other])
    print(f"held-out scaled MSE per seed: {base_name} {np.round(a, 4).tolist()} (mean "
          f"{a.mean():.4f}); {other_name} {np.round(b, 4).tolist()} (mean {b.mean():.4f}); "
          f"change {(100 * (b / a - 1)).round(1).tolist()} %, lower on {(b < a).sum()} of {len(a)}")
    params = list(base[0]["snr"]["30"])
    print(f"\nRMSE ratio {other_name} / {base_name}, all held-out points, mean over seeds:\n")
    print("| S/N | " + " | ".join(params) + " |")
    print("|---" * (len(params) + 1) + "|")
    better = total = 0
    for key in base[0]["snr"]:
        cells = []
        for p in params:
            ratio = (np.mean([r["snr"][key][p]["rmse"] for r in other])
                     / np.mean([r["snr"][key][p]["rmse"] for r in base]))
            better += ratio < 1
            total += 1
            cells.append(f"{ratio:.3f}")
        print(f"| {key} | " + " | ".join(cells) + " |")
    print(f"\n{other_name} has the lower RMSE in {better} of {total} (S/N, parameter) cells")


if __name__ == "__main__":
    main()
