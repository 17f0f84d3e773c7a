"""How far one spectrum travels through the package: `telescopeml predict FILE`, traced.

Runs the command line in this process twice on one SpeX library spectrum (the first run
imports and fills the caches), traces the second with ``sys.setprofile`` and counts the calls
to telescopeml's own functions, the distinct functions, and the switches between modules
(consecutive telescopeml calls in different modules). Also lists any function that ran more
than once per spectrum among the checks (cleaning, coverage, gaps, edge tests).

Run: python benchmarks/bench_call_path.py [--scale empirical|grid] [--fast] [--json OUT]
"""

import argparse
import json
import sys
import tempfile
import warnings
from collections import Counter
from pathlib import Path

#: Functions that check or clean the input or the answer: each should run once per spectrum.
CHECKS = ("clean_spectrum", "coverage", "gaps", "gap_notes", "edge_flags", "edge_limits",
          "mismatch", "featureless")


def trace(argv: list[str]) -> tuple[Counter, int]:
    """Calls per telescopeml function, and module switches, of ``telescopeml ARGV``."""
    from telescopeml.cli import main

    calls: Counter = Counter()
    switches = 0
    last = None

    def profile(frame, event, arg):
        nonlocal switches, last
        if event != "call":
            return
        module = frame.f_globals.get("__name__", "")
        if not module.startswith("telescopeml"):
            return
        calls[(module, frame.f_code.co_qualname)] += 1
        if last is not None and module != last:
            switches += 1
        last = module

    sys.setprofile(profile)
    try:
        main(argv)
    finally:
        sys.setprofile(None)
    return calls, switches


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", choices=("empirical", "grid"), default="empirical")
    parser.add_argument("--fast", action="store_true", help="pass --fast (network only)")
    parser.add_argument("--json", type=Path, help="write the counts here")
    args = parser.parse_args()
    from telescopeml.data.library import library_file, library_index

    warnings.simplefilter("ignore")
    entry = next(e for e in library_index() if e.instrument == "SPEX-PRISM")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out.csv"
        argv = ["-q", "predict", str(library_file(entry)), "--scale", args.scale,
                "--out", str(out), "--overwrite"] + (["--fast"] if args.fast else [])
        trace(argv)  # warm-up: imports, caches
        calls, switches = trace(argv)
    repeated = {f"{m}.{f}": n for (m, f), n in calls.items()
                if n > 1 and f.split(".")[-1] in CHECKS}
    result = {"scale": args.scale, "fast": args.fast, "calls": sum(calls.values()),
              "functions": len(calls), "module_switches": switches,
              "checks_run_more_than_once": repeated,
              "busiest": [f"{m}.{f}: {n}" for (m, f), n in calls.most_common(10)]}
    print(json.dumps(result, indent=1))
    if args.json:
        args.json.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
