"""The shipped models on every real JWST spectrum that the ucdmcmc wheel carries.

For each spectrum: what `telescopeml predict FILE` answers with no model (which model it
chooses, and why not the others), and each shipped JWST NIRSpec PRISM model's answer
(median, 68% interval with its statistical and model-mismatch parts, reduced chi2, flags);
plus the wall time of `telescopeml -q predict FILE` as a new process. Prints a markdown
table per spectrum and writes JSON.

Run: python benchmarks/bench_jwst.py [--out benchmarks/results/jwst.json] [--samples 10000]
Needs the ucdmcmc wheel (fetched from PyPI once, then cached).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np

#: (library name, instrument) of every real JWST spectrum in ucdmcmc 1.4.5.
SPECTRA = [("Wolf1130C", "JWST-NIRSPEC-PRISM"), ("UNCOVER33436", "JWST-NIRSPEC-PRISM"),
           ("J1624+0029", "JWST-NIRSPEC-MIRI"), ("Wolf1130C", "JWST-NIRSPEC-G395H")]


def summarize(prediction) -> dict:
    """Median, 68% interval, error parts, chi2, flags and notes of one prediction."""
    q = prediction.quantiles((0.16, 0.5, 0.84))
    return {"model": prediction.model, "scale": prediction.scale,
            "parameters": {n: {"p16": float(q[0, j]), "p50": float(q[1, j]),
                               "p84": float(q[2, j]), **prediction.errors.get(n, {})}
                           for j, n in enumerate(prediction.names)},
            "chi2_red": prediction.chi2_red, "flags": prediction.flags,
            "notes": prediction.notes}


def cli_seconds(path: Path, repeats: int = 3) -> list[float]:
    """Wall time of `telescopeml -q predict FILE` (no model given) in a new process."""
    exe = Path(sys.executable).with_name("telescopeml")
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run([str(exe), "-q", "predict", str(path)], check=False,
                       capture_output=True)
        times.append(time.perf_counter() - start)
    return times


def row(name: str, answer: dict) -> str:
    cells = []
    for p, v in answer["parameters"].items():
        cells.append(f"{p} {v['p50']:.3g} [{v['p16']:.3g}, {v['p84']:.3g}]")
    flags = "; ".join(answer["flags"]) or "none"
    return f"| {name} | {', '.join(cells)} | {answer['chi2_red']:.3g} | {flags} |"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="benchmarks/results/jwst.json")
    parser.add_argument("--samples", type=int, default=10000)
    args = parser.parse_args(argv)
    from telescopeml import pretrained
    from telescopeml.data.library import find_entry, library_file
    from telescopeml.data.spectrum import ObservedSpectrum
    from telescopeml.errors import TelescopeMLError

    prism_models = pretrained.made_for("JWST-NIRSPEC-PRISM")
    default = pretrained.predictor()
    results = []
    for name, instrument in SPECTRA:
        path = library_file(find_entry(name, instrument=instrument))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            spectrum = ObservedSpectrum.from_library(name, instrument=instrument)
        entry: dict = {"object": name, "instrument": instrument, "file": path.name,
                       "range_um": [float(spectrum.wavelength[0]),
                                    float(spectrum.wavelength[-1])],
                       "median_snr": float(np.nanmedian(spectrum.flux / spectrum.uncertainty))}
        try:
            entry["default"] = summarize(default.predict(spectrum, n_samples=args.samples))
        except TelescopeMLError as exc:
            entry["default"] = {"refused": str(exc)}
        entry["models"] = {}
        for model in prism_models:
            try:
                entry["models"][model] = summarize(
                    pretrained.load(model).predict(spectrum, n_samples=args.samples))
            except TelescopeMLError as exc:
                entry["models"][model] = {"refused": str(exc)}
        entry["cli_seconds"] = cli_seconds(path)
        results.append(entry)
        print(f"\n### {name}, {instrument} ({path.name}; {entry['range_um'][0]:.2f}-"
              f"{entry['range_um'][1]:.2f} µm, median S/N {entry['median_snr']:.0f})\n")
        print("| model | median [68%] | reduced χ² | flags |\n|---|---|---|---|")
        for model, answer in {"default (no model given)": entry["default"],
                              **entry["models"]}.items():
            print(row(model, answer) if "refused" not in answer
                  else f"| {model} | refused: {answer['refused']} | | |")
        print(f"\n`telescopeml -q predict FILE` as a new process: "
              f"{min(entry['cli_seconds']):.2f} s (best of 3)")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=1, default=str) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
