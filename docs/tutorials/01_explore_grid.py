# %% [markdown]
# # 1. Explore a grid of model spectra
#
# A network that reads atmospheric parameters from a spectrum can only learn what its
# training grid contains, so the first step is to look at that grid: which parameters it
# spans, whether every combination exists, what the spectra look like, and where in the
# spectrum each parameter leaves its mark.
#
# The grid used here is telescopeml's default, `splat-dback24`: the Sonora Diamondback
# models (Morley et al. 2024, ApJ 975, 59) at the resolution of the SpeX prism
# spectrograph, as distributed by SPLAT (Burgasser & the SPLAT Development Team 2017,
# ASInC 14, 7). Each spectrum is labelled by four parameters:
#
# - `teff`: effective temperature $T_\mathrm{eff}$ in K;
# - `logg`: surface gravity, $\log_{10} g$ with $g$ in cm s$^{-2}$;
# - `mh`: metallicity [M/H] in dex (0 = solar);
# - `inv_fsed`: $1/f_\mathrm{sed}$, the cloud sedimentation efficiency inverted, so that
#   0 means cloud-free and larger values mean thicker, more extended clouds.
#
# The first run downloads the `splat` data wheel from PyPI (about 80 MB) and converts the
# grid into the cache; later runs read the cached file in milliseconds.

# %%
import json
import os
import sys
import warnings
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

import telescopeml as tml
from telescopeml import explore, plots
from telescopeml.errors import OutOfGridError

#: TELESCOPEML_TUTORIAL_QUICK=1 runs a fast version (used by the test suite).
QUICK = os.environ.get("TELESCOPEML_TUTORIAL_QUICK") == "1"
OUT = Path(os.environ.get("TELESCOPEML_TUTORIAL_OUT", "tutorial-output")) / "01_explore_grid"
OUT.mkdir(parents=True, exist_ok=True)


def show(fig: Figure, name: str) -> None:
    """Save ``fig`` as ``OUT/name.png``, and display it when running in a notebook."""
    fig.savefig(OUT / f"{name}.png", dpi=110, bbox_inches="tight")
    if "ipykernel" in sys.modules:
        from IPython.display import display

        display(fig)


# %% [markdown]
# ## Load the grid
#
# `load_grid` returns a `SpectralGrid`: a table of parameters (one row per spectrum), one
# wavelength array shared by all spectra (µm), and a flux matrix of shape
# `(n_spectra, n_wavelengths)`. The flux is the surface flux density $F_\lambda$ at the top
# of the model atmosphere; an observed spectrum is that times $(R/d)^2$, for radius $R$ and
# distance $d$.

# %%
grid = tml.load_grid("splat-dback24")
print(grid)
print("flux matrix:", grid.flux.shape, "in", grid.flux_unit)
print("cite:", grid.meta["citation"])

# %% [markdown]
# `summary()` lists the axes and their values and runs the grid's checks: completeness,
# duplicated spectra, and spectra with missing or non-positive flux. The notes record how
# the labels were read from the source files.

# %%
print(grid.summary())

# %% [markdown]
# The parameters are arrays in `grid.params`; `axis_values` gives the distinct values of
# one axis, `label(i)` the parameters of spectrum `i`, and `parameter_matrix()` all of
# them at once.

# %%
print("axes:", grid.axes)
for name in grid.axes:
    print(f"{name:9s}", grid.axis_values(name))
print("spectrum 0:", grid.label(0))
print("parameter matrix:", grid.parameter_matrix().shape)

# %% [markdown]
# ## Completeness
#
# A grid is *complete* when every combination of axis values has exactly one spectrum:
# here $16 \times 5 \times 3 \times 6 = 1440$. Completeness matters twice: interpolating
# between grid points needs all the corners of the cell around a point, and holes in the
# grid are regions where the network has seen nothing.
#
# Real grids often have holes, where model atmospheres did not converge. To see what that
# looks like, we remove the cloudy, low-gravity spectra above 2000 K from a copy of the grid.

# %%
print("complete:", grid.is_complete(), "| missing combinations:", len(grid.missing_points()))

params = grid.params
hole = (params["teff"] > 2000) & (params["logg"] == 3.5) & (params["inv_fsed"] > 0)
holey = grid.take(np.flatnonzero(~hole))
report = holey.check()
print(f"with a hole: {report.n_spectra} spectra, complete: {report.complete}, "
      f"{len(report.missing)} combinations missing, e.g. {report.missing[0]}")

# %%
show(plots.grid_coverage(holey), "coverage_with_hole")

# %% [markdown]
# Each panel below the diagonal shows, for a pair of parameters, the fraction of the
# expected spectra present (red crosses: none); the diagonal counts spectra per value
# against the complete-grid expectation (dashed). `telescopeml data info NAME` prints the
# same checks for any registered grid; `splat-btsettl08`, for example, is incomplete.
#
# ## Interpolating a spectrum
#
# `interpolate` returns the spectrum at any point inside the grid, linear in the logarithm
# of the flux between the $2^4 = 16$ surrounding grid points. At a grid point it returns
# that grid spectrum; outside the grid, or next to a hole, it refuses.

# %%
point = {"teff": 1450.0, "logg": 4.8, "mh": 0.1, "inv_fsed": 0.3}
spectrum = grid.interpolate(**point)
node = grid.subset(teff=1400, logg=5.0, mh=0.0, inv_fsed=0.25)
at_node = grid.interpolate(teff=1400, logg=5.0, mh=0.0, inv_fsed=0.25)
interpolation_error = float(np.max(np.abs(at_node / node.flux[0] - 1)))
print(f"at a grid point the interpolant equals the grid spectrum to {interpolation_error:.1e}")

try:
    grid.interpolate(**{**point, "teff": 2600.0})
except OutOfGridError as error:
    print("refused:", error)
try:
    holey.interpolate(**{**point, "teff": 2150.0, "logg": 3.7})
except OutOfGridError as error:
    print("refused:", error)

# %%
fig = Figure(figsize=(8, 4.2), layout="constrained")
ax = fig.subplots()
for teff in (1400, 1500):
    neighbour = grid.subset(teff=teff, logg=5.0, mh=0.0, inv_fsed=0.25)
    ax.plot(grid.wavelength, neighbour.flux[0], lw=0.8,
            label=f"grid: Teff={teff} K, log g=5, [M/H]=0, 1/fsed=0.25")
ax.plot(grid.wavelength, spectrum, color="k", lw=1.2,
        label="interpolated: " + ", ".join(f"{k}={v:g}" for k, v in point.items()))
ax.set(xlabel="wavelength [µm]", ylabel=f"F_λ [{grid.flux_unit}]",
       title="An interpolated spectrum and two of its neighbours")
ax.legend(fontsize=8)
show(fig, "interpolated")

# %% [markdown]
# `interpolate_points` does many points at once, for example a temperature sequence. The
# spectra are normalized here (divided by their median), which removes the overall
# brightness and leaves the shape, as the network's inputs do.

# %%
teffs = np.linspace(900, 2400, 7)
points = np.column_stack([teffs, np.full(7, 5.0), np.zeros(7), np.full(7, 0.25)])
sequence = grid.interpolate_points(points)
fig = Figure(figsize=(8, 4.5), layout="constrained")
ax = fig.subplots()
colors = plots.ParameterColors("teff", grid.axis_values("teff"))
for teff, flux in zip(teffs, sequence, strict=True):
    ax.plot(grid.wavelength, flux / np.median(flux), color=colors.color(teff), lw=1,
            label=f"{teff:.0f} K")
ax.set(xlabel="wavelength [µm]", ylabel="flux / median flux", yscale="log",
       title="From L to T dwarfs: log g = 5, [M/H] = 0, 1/fsed = 0.25")
ax.legend(fontsize=8, ncols=2)
show(fig, "teff_sequence")

# %% [markdown]
# From 2400 K to 900 K the spectra change from the red, smooth continuum of an L dwarf to
# the deep water (1.15, 1.4, 1.9 µm) and methane (1.65, 2.2 µm) bands of a T dwarf, with
# the flux squeezed into peaks in the J, H and K bands.
#
# ## Spectra by parameter
#
# `plots.spectra_by_parameter` varies one parameter at a time and holds the others at one
# grid point (by default each axis's middle value; `fixed=` chooses another).

# %%
show(plots.spectra_by_parameter(grid), "spectra_by_parameter")
show(plots.spectra_by_parameter(grid, fixed={"teff": 1000, "inv_fsed": 0}),
     "spectra_by_parameter_cold_clear")

# %% [markdown]
# Temperature changes the spectrum most. Surface gravity and metallicity act more
# subtly, most visibly in the K band, where collision-induced absorption by H$_2$ depends on
# the pressure of the photosphere. Clouds redden the spectrum and fill in the absorption
# bands; in these models they still matter at 1000 K, as the second figure shows.
#
# ## Statistics of the grid
#
# `parameter_histograms` shows how many spectra each parameter value has (uniform for a
# complete grid), and `flux_distribution` the spread of flux at each wavelength, before and
# after per-spectrum normalization.

# %%
show(plots.parameter_histograms(grid), "parameter_histograms")
show(plots.flux_distribution(grid), "flux_distribution")

# %% [markdown]
# Where does each parameter leave its mark? `spearman_correlation` gives, at each
# wavelength, the rank correlation between the flux and each parameter across the grid.
# We use the *shape* of the spectra, $\log_{10}$ of flux over its median
# (`shape_features`), because an observed spectrum's absolute scale is unknown without a
# distance and radius.

# %%
shape = explore.shape_features(grid)
correlation = explore.spearman_correlation(shape, grid.parameter_matrix())
for name, row in zip(grid.axes, correlation, strict=True):
    best = int(np.nanargmax(np.abs(row)))
    print(f"{name:9s} strongest correlation {row[best]:+.2f} at {grid.wavelength[best]:.3f} µm")
show(plots.correlation_heatmap(grid.wavelength, {"flux / median flux": correlation},
                               grid.axes, reference=10 ** np.median(shape, axis=0)),
     "flux_correlation")

# %% [markdown]
# Principal component analysis asks how many independent shapes the grid really contains.
# If a few components explain almost all the variance, the spectra live in a
# low-dimensional space, and the question is whether the parameters can be told apart in
# it.

# %%
scores, explained, components = explore.principal_components(shape, n_components=10)
print("variance explained by the first 5 components:", np.round(explained[:5], 3))
show(plots.pca_scatter(scores, explained, grid.params, title="PCA of log10(flux / median)"),
     "pca")

# %% [markdown]
# `grid_summary` collects these facts (axes, counts, completeness, duplicates, bad spectra)
# as a dictionary, ready to be written as JSON.

# %%
facts = explore.grid_summary(grid)
print({k: facts["completeness"][k] for k in ("complete", "combinations_expected", "fraction")})
print({name: (axis["min"], axis["max"], axis["n_values"]) for name, axis in facts["axes"].items()})

# %% [markdown]
# ## An observed spectrum against the grid
#
# The classical way to read a spectrum is to find the grid spectra that fit it best.
# `nearest_grid_spectra` resamples an observed spectrum onto the grid's wavelengths and
# returns the grid spectra with the lowest $\chi^2$, each scaled by its best factor
# (the unknown $(R/d)^2$). Here is the L dwarf 2MASS J0036+1821 from the SpeX prism
# library carried by the SPLAT wheel.

# %%
with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # a few library spectra have NaN pixels, dropped
    observed = tml.ObservedSpectrum.from_library("2MASS J0036+1821")
print(observed, "| spectral type", observed.meta["spectral_type"], "| S/N", round(observed.snr))
match = explore.nearest_grid_spectra(grid, observed, k=3)
for row in match.to_dict(grid):
    print(row["parameters"], f"reduced chi2 {row['reduced_chi2']:.0f}")
models = grid.take(match.indices).flux * match.scale[:, None]
show(plots.spectrum_fit(match.wavelength, match.flux, match.uncertainty, models,
                        [grid.label(int(i)) for i in match.indices], match.reduced_chi2,
                        name=observed.name, flux_unit=observed.flux_unit), "observed_vs_grid")

# %% [markdown]
# The best grid spectra reproduce the overall shape, yet the reduced $\chi^2$ is far
# above 1: at this S/N the models' own imperfections dominate the residuals. The nearest
# grid point is also limited to the grid's spacing (100 K in temperature). The networks of
# the next tutorials interpolate between grid points and give an uncertainty for each
# parameter: tutorial 2 (`02_predict_observed.py`) applies the shipped, pre-trained
# ones to observed spectra, and tutorials 3 and 4 show how they are made.
#
# ## Everything at once
#
# `explore_grid` (or `telescopeml explore splat-dback24 --out explore/` on the command
# line) writes all the figures above as PNG and PDF, plus `summary.json` and `summary.csv`.
# It is skipped in the quick run, where writing the PDFs would take most of the time.

# %%
if not QUICK:
    written = explore.explore_grid(grid, OUT / "explore", spectrum=observed)
    print("wrote", ", ".join(sorted(written["figures"])))

# %% [markdown]
# Finally, the key numbers of this tutorial go to `summary.json`.

# %%
summary = {
    "grid": grid.meta["name"],
    "n_spectra": len(grid),
    "n_wavelengths": grid.n_wavelengths,
    "axes": {name: grid.axis_values(name).tolist() for name in grid.axes},
    "complete": grid.is_complete(),
    "n_missing_with_hole": len(report.missing),
    "interpolation_error_at_node": interpolation_error,
    "pca_explained_first5": explained[:5].tolist(),
    "observed": observed.name,
    "nearest_grid_point": grid.label(int(match.indices[0])),
    "figures": sorted(p.name for p in OUT.glob("*.png")),
}
(OUT / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
print(json.dumps(summary, indent=1))
