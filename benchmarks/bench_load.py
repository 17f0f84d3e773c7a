"""Time loading registered grids from the cache (issue: full Diamondback under 2 s).

Run: python benchmarks/bench_load.py [NAME ...]   (fetches and converts on first use)
"""

import argparse
import time


def main(names: list[str]) -> None:
    from telescopeml.data.sources import fetch_grid, grid_cache_path, load_grid

    for name in names:
        if not grid_cache_path(name).is_file():
            fetch_grid(name, quiet=True)
        times = []
        for _ in range(5):
            start = time.perf_counter()
            grid = load_grid(name, quiet=True)
            times.append(time.perf_counter() - start)
        start = time.perf_counter()
        complete = grid.is_complete()
        t_check = time.perf_counter() - start
        print(f"{name}: {len(grid)} spectra x {grid.n_wavelengths}; load from cache "
              f"best {min(times) * 1e3:.0f} ms, worst {max(times) * 1e3:.0f} ms; "
              f"completeness check {t_check * 1e3:.0f} ms (complete={complete})")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", default=["splat-dback24"], metavar="NAME",
                        help="registered grids (`telescopeml data list`; default splat-dback24)")
    main(parser.parse_args().names)
