"""Peak memory of ``telescopeml demo``: the whole run in a child process, its maximum RSS.

Run: ``python benchmarks/bench_memory.py [--epochs N] [--out DIR]`` (default 3 epochs, a
temporary directory; the model is always retrained). The target is <= 1.5 GB (BENCHMARKS.md,
"Memory").
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time

#: The ``telescopeml`` entry point, run by this interpreter.
CLI = "import sys; from telescopeml.cli import main; sys.exit(main())"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--out", default=None,
                        help="demo output directory (default: a temporary one)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        out = args.out or tmp
        command = [sys.executable, "-c", CLI, "demo", "--out", out,
                   "--epochs", str(args.epochs), "--retrain"]
        start = time.perf_counter()
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
        seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # KB on Linux
    print(f"telescopeml demo --epochs {args.epochs}: peak RSS {peak:.0f} MB, {seconds:.0f} s")


if __name__ == "__main__":
    main()
