# %% [markdown]
# # 5. A JWST spectrum of the metal-poor T dwarf Wolf 1130C
#
# The James Webb Space Telescope's NIRSpec PRISM mode records a brown dwarf's spectrum
# from 0.6 to 5.3 µm in one shot, at a resolving power of about 30-300. Beyond 2.5 µm,
# where the Earth's atmosphere absorbs much of the light and glows in the thermal
# infrared, it shows the methane band at 3.3 µm, CO$_2$ at 4.3 µm and CO at 4.6 µm, whose
# strengths depend on temperature, gravity, metallicity and vertical mixing.
#
# Wolf 1130C (WISE J200520.38+542433.9) is a T8 subdwarf, a wide companion of the
# metal-poor M subdwarf + white dwarf binary Wolf 1130 at 15.8 pc. Mace et al. (2013, ApJ
# 777, 36) discovered it, confirmed the companionship by common proper motion, and from
# the primary's metallicity inferred $[\mathrm{Fe/H}] = -0.64 \pm 0.17$ for the system:
# a rare cold brown dwarf of known, low metallicity, and so a benchmark for atmosphere
# models.
#
# In this tutorial we train a posterior network on a model grid computed for this
# instrument, the ATMO 2020++ models (Meisner et al. 2023, AJ 166, 57; built on ATMO 2020,
# Phillips et al. 2020) at NIRSpec PRISM resolution, carried by the `ucdmcmc` package,
# and apply it to the NIRSpec PRISM spectrum of Wolf 1130C that `ucdmcmc` also carries.
#
# With `TELESCOPEML_TUTORIAL_QUICK=1` the network trains for two epochs only and its
# answer means nothing; the full run trains for the default 60 epochs (a few minutes).

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
from telescopeml.data.library import find_entry, library_file
from telescopeml.plots.predict import corner_plot, prediction_fit
from telescopeml.predict import Predictor
from telescopeml.training.experiment import ExperimentConfig, train

QUICK = os.environ.get("TELESCOPEML_TUTORIAL_QUICK") == "1"
OUT = Path(os.environ.get("TELESCOPEML_TUTORIAL_OUT", "tutorial-output")) / "05_jwst_wolf1130c"
OUT.mkdir(parents=True, exist_ok=True)

EPOCHS = 2 if QUICK else 60
N_SAMPLES = 1000 if QUICK else 10000  # posterior samples
GRID = "ucdmcmc-atmo20pp-jwst-nirspec-prism"
INSTRUMENT = "JWST-NIRSPEC-PRISM"


def show(fig: Figure, name: str) -> None:
    """Save ``fig`` as ``OUT/name.png``, and display it when running in a notebook."""
    fig.savefig(OUT / f"{name}.png", dpi=110, bbox_inches="tight")
    if "ipykernel" in sys.modules:
        from IPython.display import display

        display(fig)


# %% [markdown]
# ## The model grid
#
# The first run downloads the `ucdmcmc` wheel from PyPI (about 60 MB) and converts the grid
# into the cache. `telescopeml data info ucdmcmc-atmo20pp-jwst-nirspec-prism` prints the
# same summary.

# %%
grid = tml.load_grid(GRID)
print(grid.summary())
print("cite:", grid.meta["citation"])

# %% [markdown]
# 160 spectra on a complete grid of Teff 400-1200 K, log g 4-5.5 and [M/H] from -1 to
# +0.3, already sampled on NIRSpec PRISM pixels (0.5-6 µm). In ATMO 2020++ the vertical
# mixing ($K_{zz}$) is tied to gravity, so it is not a separate parameter here. The
# metallicity range includes the value expected for Wolf 1130C.

# %%
show(plots.spectra_by_parameter(grid, fixed={"teff": 600, "logg": 5.0, "mh": -0.5}),
     "grid_spectra")

# %% [markdown]
# ## The observed spectrum
#
# `telescopeml data spectra --instrument JWST-NIRSPEC-PRISM` lists the JWST spectra the
# data wheels carry. The file is a three-column table (wavelength in µm, flux,
# uncertainty); its pixels without data (before 0.6 µm and beyond 5.3 µm) are dropped on
# reading. The file gives no flux unit, so the flux counts as uncalibrated: only the
# spectral shape is used.

# %%
entry = find_entry("Wolf1130C", instrument=INSTRUMENT)
print(entry.data_file, "from the", entry.package, "wheel ->", library_file(entry))
with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # the warning about the dropped empty pixels
    spectrum = tml.ObservedSpectrum.from_library("Wolf1130C", instrument=INSTRUMENT)
print(spectrum, f"| median S/N per pixel {spectrum.snr:.0f}")
print(f"covers {spectrum.coverage(grid.wavelength):.0%} of the grid's wavelengths")

fig = Figure(figsize=(9, 4), layout="constrained")
ax = fig.subplots()
ax.fill_between(spectrum.wavelength, spectrum.flux - spectrum.uncertainty,
                spectrum.flux + spectrum.uncertainty, color="0.7", lw=0)
ax.plot(spectrum.wavelength, spectrum.flux, color="k", lw=0.8)
for band, where in (("H$_2$O", 1.4), ("CH$_4$", 2.2), ("CH$_4$", 3.3), ("CO$_2$", 4.3),
                    ("CO", 4.65)):
    ax.annotate(band, (where, 0.97), xycoords=("data", "axes fraction"), ha="center",
                fontsize=8, color="C3")
ax.set(xlabel="wavelength [µm]", ylabel="flux (uncalibrated)",
       title="Wolf 1130C, JWST NIRSpec PRISM")
show(fig, "observed")

# %% [markdown]
# The observation covers 85% of the grid's 0.5-6 µm, and a model needs the spectra it
# reads to cover nearly all of its wavelengths (95%). So we train on the range the
# observation covers, 0.65-5.25 µm.
#
# ## Training a posterior network
#
# The `posterior` preset (a flow head giving a full posterior, with continuum tilts in
# the augmentation; see the fourth tutorial) is made for SpeX spectra and restricts them to
# 0.9-2.4 µm; here we give it the NIRSpec range instead and put the grid on the
# instrument's pixels (which it already is: the resampling changes nothing).

# %%
config = ExperimentConfig.from_dict({
    "data": {"grid": GRID, "instrument": INSTRUMENT, "wavelength_range": (0.65, 5.25)},
    "model": {"flow_samples": 4} if QUICK else {},  # quick run: faster point estimates
    "train": {"epochs": EPOCHS},
}, preset="posterior")
model_dir = train(config, OUT / "models" / "atmo20pp-nirspec")

# %% [markdown]
# With 160 grid points the test set has only 16, so the errors below are rough. They
# measure how well the network recovers parameters from the models' own spectra; on a
# real object the difference between the models and reality adds to them.

# %%
evaluation = json.loads((model_dir / "evaluation.json").read_text())
names = list(evaluation["snr"]["30"])
print(f"RMSE on {evaluation['n_test']} test grid points at S/N 30:")
for method, table in {"network": evaluation["snr"], **evaluation["baselines"]}.items():
    print(f"  {method:24s}", ", ".join(f"{n} {table['30'][n]['rmse']:.3g}" for n in names))
calibration = json.loads((model_dir / "calibration.json").read_text())
print("posterior calibration check passed:", calibration["check"]["passed"])

# %% [markdown]
# ## The posterior for Wolf 1130C
#
# `Predictor` resamples the spectrum onto the model's pixels (propagating the
# uncertainties), draws posterior samples, and compares the observation with the grid
# spectrum at the posterior median: the reduced $\chi^2$ includes a 5% model
# uncertainty per pixel, and flags say when the object looks unlike the grid (posterior
# piled at the grid's edge, or a poor fit).

# %%
predictor = Predictor(model_dir)
prediction = predictor.predict(spectrum, n_samples=N_SAMPLES)
print(prediction.summary())

# %%
show(corner_plot(prediction), "corner")
show(prediction_fit(prediction), "fit")

# %% [markdown]
# How to read this:
#
# - The intervals are the network's posterior *given the ATMO 2020++ grid*: they reflect
#   the noise in the spectrum and how well the grid's spectra separate the parameters.
#   They do not include the models' own shortcomings, which for cold, metal-poor
#   atmospheres are well known to be significant; the real uncertainties are larger.
# - The reduced $\chi^2$ and the residuals in the fit figure show where the best grid
#   spectrum departs from the observation. Systematic residuals in whole bands mean the
#   grid has no spectrum quite like this object, and the posterior then describes the
#   closest grid spectra, not necessarily the object.
# - A posterior piled against a grid edge (flagged) means the object may lie beyond it.
#
# ## Comparison with the literature
#
# Mace et al. (2013) inferred $[\mathrm{Fe/H}] = -0.64 \pm 0.17$ for Wolf 1130C from its
# primary (for scaled-solar abundances, [Fe/H] and the models' [M/H] are the same number).
# Where does that value fall in the network's metallicity posterior?

# %%
LITERATURE_MH, LITERATURE_MH_ERR = -0.64, 0.17  # Mace et al. 2013, ApJ 777, 36
mh = prediction.samples[:, prediction.names.index("mh")]
p16, p50, p84 = np.percentile(mh, (16, 50, 84))
p2, p97 = np.percentile(mh, (2.5, 97.5))
inside_68 = bool(p16 <= LITERATURE_MH <= p84)
inside_95 = bool(p2 <= LITERATURE_MH <= p97)
print(f"network: [M/H] = {p50:+.2f} (68%: {p16:+.2f} to {p84:+.2f}; 95%: {p2:+.2f} to {p97:+.2f})")
print(f"Mace et al. 2013: [Fe/H] = {LITERATURE_MH:+.2f} ± {LITERATURE_MH_ERR:.2f}; "
      f"inside the 68% interval: {inside_68}, inside the 95% interval: {inside_95}")
if QUICK:
    print("(quick run: the network is barely trained, so this comparison means nothing)")

# %% [markdown]
# For temperature and gravity we quote no literature values. A T8 spectral type means one
# of the coldest T dwarfs, below 1000 K; Mace et al. (2013) call Wolf 1130C a high-gravity
# benchmark, and their model comparisons support an old age and a small radius: check
# whether the posterior agrees. Either way, treat these numbers as what ATMO 2020++ says
# about the spectrum, not as the object's true properties.
#
# ## A classical check
#
# The grid spectra nearest to the observation in $\chi^2$ (scale fitted), on the same
# pixels: if they agree with the posterior, the network did what a grid fit would do,
# with interpolation and uncertainties added.

# %%
match = explore.nearest_grid_spectra(predictor.grid, spectrum, k=3)
for row in match.to_dict(predictor.grid):
    print(row["parameters"], f"reduced chi2 {row['reduced_chi2']:.3g}")
models = predictor.grid.take(match.indices).flux * match.scale[:, None]
show(plots.spectrum_fit(match.wavelength, match.flux, match.uncertainty, models,
                        [predictor.grid.label(int(i)) for i in match.indices],
                        match.reduced_chi2, name=spectrum.name), "nearest_grid")

# %%
quantiles = prediction.quantiles((0.025, 0.16, 0.5, 0.84, 0.975))
summary = {
    "grid": GRID,
    "object": spectrum.name,
    "epochs": EPOCHS,
    "n_test": evaluation["n_test"],
    "rmse_snr30": {n: evaluation["snr"]["30"][n]["rmse"] for n in names},
    "posterior": {n: dict(zip(("p2.5", "p16", "p50", "p84", "p97.5"),
                              quantiles[:, j].tolist(), strict=True))
                  for j, n in enumerate(prediction.names)},
    "chi2_red": prediction.chi2_red,
    "flags": prediction.flags,
    "literature_mh": {"value": LITERATURE_MH, "error": LITERATURE_MH_ERR,
                      "reference": "Mace et al. 2013, ApJ 777, 36",
                      "inside_68": inside_68, "inside_95": inside_95},
    "nearest_grid": [row["parameters"] for row in match.to_dict(predictor.grid)],
    "grid_ranges": {n: [float(grid.params[n].min()), float(grid.params[n].max())]
                    for n in prediction.names},
    "figures": sorted(p.name for p in OUT.glob("*.png")),
}
(OUT / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
print(json.dumps(summary, indent=1))
