"""Speed of prediction on real spectra: one spectrum end to end, and a batch of the library.

One spectrum: read the FITS file, check and resample it, draw 10,000 posterior samples,
interpolate the grid at the median and compute the reduced chi2. Batch: `predict_files` over
the first N SpeX library spectra (2,000 samples each), extrapolated to the whole library.
With --cli, also the wall time of `telescopeml predict FILE` as a new process (imports
included) with an empty cache, i.e. offline.

Run: python benchmarks/bench_predict.py MODEL [--n 200] [--cli]
MODEL is a bundle directory, a shipped model's name, or "shipped" (the model chooser).
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path


def cli_seconds(model: str, path, repeats: int = 3) -> list[float]:
    """Wall time of `telescopeml -q predict [--model M] FILE` in a fresh process, empty cache."""
    times = []
    with tempfile.TemporaryDirectory() as empty:
        env = {**os.environ, "TELESCOPEML_CACHE": empty}
        exe = Path(sys.executable).with_name("telescopeml")  # the venv's console script
        argv = [str(exe if exe.exists() else "telescopeml"), "-q", "predict", str(path)]
        if model != "shipped":
            argv += ["--model", model]
        for _ in range(repeats):
            start = time.perf_counter()
            subprocess.run(argv, env=env, check=True, capture_output=True)
            times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", help="a model directory, a shipped model's name, or 'shipped'")
    parser.add_argument("--n", type=int, default=200, help="library spectra in the batch")
    parser.add_argument("--cli", action="store_true",
                        help="also time `telescopeml predict FILE` in a new process")
    args = parser.parse_args()
    from telescopeml import pretrained
    from telescopeml.data.library import library_file, library_index
    from telescopeml.inference.batch import predict_files

    warnings.simplefilter("ignore")
    predictor = pretrained.predictor(args.model)
    entries = [e for e in library_index() if e.instrument == "SPEX-PRISM"]
    files = [library_file(e) for e in entries[: args.n]]
    predictor.predict(files[0], n_samples=10000)  # warm-up: loads the grid once
    times = []
    for path in files[1:11]:
        start = time.perf_counter()
        predictor.predict(path, n_samples=10000)
        times.append(time.perf_counter() - start)
    times.sort()
    print(f"one spectrum end to end (read, resample, 10,000 samples, chi2): median "
          f"{times[len(times) // 2]:.3f} s, max {times[-1]:.3f} s over {len(times)} spectra")
    start = time.perf_counter()
    _, failed = predict_files(predictor, files, n_samples=2000, progress=False)
    elapsed = time.perf_counter() - start
    per = elapsed / len(files)
    print(f"batch of {len(files)} library spectra (2,000 samples each): {elapsed:.1f} s "
          f"({per:.3f} s each, {len(failed)} failed); whole SpeX library ({len(entries)}): "
          f"~{per * len(entries) / 60:.1f} min")
    if args.cli:
        times = cli_seconds(args.model, files[1])
        print(f"`telescopeml predict FILE` (new process, empty cache, 10,000 samples): "
              f"{', '.join(f'{t:.2f}' for t in times)} s")


if __name__ == "__main__":
    main()
