"""Time the calibration diagnostics on 1,000 test spectra x 1,000 posterior samples.

Run: ``python benchmarks/bench_calibration.py [n_spectra] [n_samples] [n_params]``.
"""

from __future__ import annotations

import argparse
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("n_spectra", nargs="?", type=int, default=1000,
                        help="test spectra (default 1000)")
    parser.add_argument("n_samples", nargs="?", type=int, default=1000,
                        help="posterior samples per spectrum (default 1000)")
    parser.add_argument("n_params", nargs="?", type=int, default=3,
                        help="parameters (default 3)")
    args = parser.parse_args()
    import numpy as np

    from telescopeml.evaluation.calibration import (
        check_calibration,
        coverage,
        sbc_pvalues,
        sbc_ranks,
        tarp,
    )

    n, s, d = args.n_spectra, args.n_samples, args.n_params
    rng = np.random.default_rng(0)
    center = rng.uniform(-1.0, 1.0, (n, d))
    truth = center + 0.3 * rng.normal(size=(n, d))
    samples = (center + 0.3 * rng.normal(size=(s, n, d))).astype(np.float32)
    print(f"{n} spectra x {s} samples x {d} parameters (float32)")
    for name, call in [
        ("coverage (21 levels)", lambda: coverage(samples, truth)),
        ("sbc_ranks + chi-square", lambda: sbc_pvalues(sbc_ranks(samples, truth), s)),
        ("tarp (1 reference set)", lambda: tarp(samples, truth, n_references=1)),
        ("tarp (10 reference sets)", lambda: tarp(samples, truth, n_references=10)),
        ("check_calibration", lambda: check_calibration(samples, truth)),
    ]:
        start = time.perf_counter()
        call()
        print(f"  {name:26s} {time.perf_counter() - start:7.3f} s")


if __name__ == "__main__":
    main()
