"""Batched CPU inference throughput of trained models (encoding + network), spectra/s.

Several models are timed in turn, round after round, so that they meet the same load on a
shared machine (whose speed varies up to 2x from minute to minute); each gets its best round.

Run: python benchmarks/bench_inference.py MODEL_DIR [MODEL_DIR ...] [--n 20000] [--threads 2]
     [--batch-size 512] [--repeats 7]
"""

import argparse
import time

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="+")
    parser.add_argument("--n", type=int, default=20000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=7, help="rounds; each model's best")
    parser.add_argument("--batch-size", type=int, default=512,
                        help="rows per forward pass (models.cnn.predict's default)")
    args = parser.parse_args()
    import torch

    from telescopeml.models.cnn import predict
    from telescopeml.predict import Predictor

    torch.set_num_threads(args.threads)
    predictors = {path: Predictor(path, grid=False) for path in args.models}
    best = {path: [np.inf, np.inf] for path in args.models}
    rng = np.random.default_rng(0)
    for _ in range(args.repeats):
        for path, predictor in predictors.items():
            flux = np.exp(rng.normal(0, 0.3, (args.n, predictor.wavelength.size)))
            flux = flux.astype(np.float32)
            sigma = (flux / 30).astype(np.float32)
            model = predictor.model
            start = time.perf_counter()
            x, extra = predictor.encoder.encode(flux, sigma)
            mid = time.perf_counter()
            predict(model, x, extra if model.config.n_extra else None,
                    batch_size=args.batch_size)
            end = time.perf_counter()
            best[path] = [min(best[path][0], end - start), min(best[path][1], end - mid)]
    for path, predictor in predictors.items():
        config = predictor.model.config
        total, net = best[path]
        print(f"{path}: {args.n} spectra x {predictor.wavelength.size} pixels, {args.threads} "
              f"threads, batches of {args.batch_size}, best of {args.repeats}: "
              f"{args.n / total:,.0f} spectra/s with input encoding, {args.n / net:,.0f} "
              f"spectra/s network alone ({config.architecture}, {config.members} member(s), "
              f"{config.head} head)")


if __name__ == "__main__":
    main()
