"""Batched CPU inference throughput of a trained model (encoding + network), spectra/s.

Run: python benchmarks/bench_inference.py MODEL_DIR [--n 20000] [--threads 2] [--batch-size 512]
"""

import argparse
import time

import numpy as np
import torch

from telescopeml.models.cnn import predict
from telescopeml.predict import Predictor


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("model")
    parser.add_argument("--n", type=int, default=20000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=512,
                        help="rows per forward pass (models.cnn.predict's default)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    predictor = Predictor(args.model, grid=False)
    rng = np.random.default_rng(0)
    m = predictor.wavelength.size
    flux = np.exp(rng.normal(0, 0.3, (args.n, m))).astype(np.float32)
    sigma = (flux / 30).astype(np.float32)
    model = predictor.model
    best_total, best_net = np.inf, np.inf
    for _ in range(3):
        start = time.perf_counter()
        x, extra = predictor.encoder.encode(flux, sigma)
        mid = time.perf_counter()
        predict(model, x, extra if model.config.n_extra else None, batch_size=args.batch_size)
        end = time.perf_counter()
        best_total, best_net = min(best_total, end - start), min(best_net, end - mid)
    print(f"{args.n} spectra x {m} pixels, {args.threads} threads, batches of "
          f"{args.batch_size}: "
          f"{args.n / best_total:,.0f} spectra/s with input encoding, "
          f"{args.n / best_net:,.0f} spectra/s network alone ({model.config.architecture}, "
          f"{model.config.head} head)")


if __name__ == "__main__":
    main()
