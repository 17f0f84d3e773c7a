"""Evidence that the Diamondback models labelled fsed=10 are the cloud-free models.

The published Sonora Diamondback grid (Morley et al. 2024, ApJ 975, 59) has fsed = 1, 2, 3,
4, 8 and cloud-free ("nc"); it has no fsed = 10. Thinner clouds (larger fsed) make an L dwarf
bluer in J-K. If the "fsed=10" spectra are cloud-free, they should be bluer than fsed=8 at every
grid point, continuing the fsed sequence, and by more than the step from fsed=4 to 8.

Run: python benchmarks/check_dback24_cloudfree.py  (uses the cached splat-dback24 grid)
"""

import argparse

import numpy as np


def band_ratio(grid, flux):
    w = grid.wavelength
    j = flux[:, (w > 1.20) & (w < 1.30)].mean(axis=1)
    k = flux[:, (w > 2.10) & (w < 2.20)].mean(axis=1)
    return -2.5 * np.log10(j / k)  # J-K colour in magnitudes (surface flux, no zero points)


def main() -> None:
    argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                            epilog="It takes no arguments.").parse_args()
    from telescopeml.data.sources import load_grid

    grid = load_grid("splat-dback24")
    flux = grid.flux_array()
    colour = band_ratio(grid, flux)
    inv = grid.params["inv_fsed"]
    key = grid.parameter_matrix(["teff", "logg", "mh"])
    rows = []
    for point in np.unique(key, axis=0):
        at = np.all(key == point, axis=1)
        c = {round(float(i), 4): float(colour[at & (inv == i)][0]) for i in np.unique(inv[at])}
        rows.append((c[0.25], c[0.125], c[0.0]))
    c4, c8, c10 = np.array(rows).T
    print(f"grid points compared: {len(rows)}")
    print(f"'fsed=10' bluer (smaller J-K) than fsed=8: {np.mean(c10 < c8):.1%}")
    print(f"median J-K step fsed 4->8: {np.median(c8 - c4):+.3f} mag, "
          f"8->'10': {np.median(c10 - c8):+.3f} mag")
    print(f"step 8->'10' larger than 4->8 in {np.mean(np.abs(c10 - c8) > np.abs(c8 - c4)):.1%} "
          "of points (a real fsed=10 would sit closer to fsed=8 than fsed=4 does)")


if __name__ == "__main__":
    main()
