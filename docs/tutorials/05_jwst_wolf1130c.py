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
# models. Its NIRSpec PRISM and G395H spectra are those of Burgasser et al. (2025,
# Science 390, 697).
#
# The package ships two models for NIRSpec PRISM, trained on grids computed for this
# instrument and carried by the `ucdmcmc` package: ATMO 2020++ (Meisner et al. 2023, AJ
# 166, 57; 400-1200 K) and Sonora Diamondback (Morley et al. 2024, ApJ 975, 59;
# 900-2400 K). Nothing is trained here: `telescopeml predict FILE` picks the PRISM model
# that covers the object, as it picks a SpeX model for a SpeX spectrum.

# %%
import json
import os
import sys
import warnings
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

import telescopeml as tml
from telescopeml import explore, plots, pretrained
from telescopeml.data.library import find_entry, library_file
from telescopeml.plots.predict import corner_plot, prediction_fit

QUICK = os.environ.get("TELESCOPEML_TUTORIAL_QUICK") == "1"
OUT = Path(os.environ.get("TELESCOPEML_TUTORIAL_OUT", "tutorial-output")) / "05_jwst_wolf1130c"
OUT.mkdir(parents=True, exist_ok=True)

N_SAMPLES = 1000 if QUICK else 10000  # posterior samples
INSTRUMENT = "JWST-NIRSPEC-PRISM"


def show(fig: Figure, name: str) -> None:
    """Save ``fig`` as ``OUT/name.png``, and display it when running in a notebook."""
    fig.savefig(OUT / f"{name}.png", dpi=110, bbox_inches="tight")
    if "ipykernel" in sys.modules:
        from IPython.display import display

        display(fig)


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
# ## Which model reads it
#
# The chooser gives a spectrum to the models made for its instrument: those whose
# wavelengths it covers and that read most of it. A SpeX model would read only
# 0.85-2.45 µm of this spectrum, a third of it, so only the two PRISM models are run; of
# those, the one whose temperature posterior does not pile at its grid's edge and whose
# grid spectrum fits best is kept. `tried` says why the other was not.

# %%
chooser = pretrained.ModelChooser()
print("models made for this spectrum:", chooser.candidates(spectrum))
choice = chooser.choose(spectrum, n_samples=N_SAMPLES)
prediction = choice.prediction
print("chosen:", choice.model)
for name, reason in choice.tried.items():
    print(f"  not {name}: {reason}")
print(prediction.summary())

# %% [markdown]
# ## The posterior and the fit
#
# The intervals have two parts. The *statistical* part is the network's posterior given
# the grid: the noise in the spectrum and how well the grid's spectra separate the
# parameters. The *model-mismatch* part is how far this grid's answers lie from the
# truth on real spectra. Only a handful of JWST spectra have labels, too few to learn it
# from, so it was measured with the same grid at SpeX resolution on the labeled SpeX
# objects inside the grid's range (`scripts/build_pretrained.py`) and is taken to hold
# here. [M/H] has no labeled objects at all, so its interval is statistical only, and
# the output says so.

# %%
predictor = chooser.predictor(choice.model)
print(json.dumps(predictor.manifest["mismatch"]["measured"], indent=1))
for name, parts in prediction.errors.items():
    print(f"{name}: ±{parts['statistical']:.3g} statistical, ±{parts['systematic']:.3g} "
          "model mismatch (68%)")

# %%
show(corner_plot(prediction), "corner")
show(prediction_fit(prediction), "fit")

# %% [markdown]
# The fit figure covers the 0.8-5.3 µm the PRISM models read (below 0.8 µm a cold brown
# dwarf has almost no flux, and many published PRISM spectra start there); the residuals
# below it are in units of the σ that the reduced $\chi^2$ uses (the observed
# uncertainty and a 5% model term).
# Systematic residuals in whole bands (the Y and J peaks, the 4-5 µm CO/CO$_2$ region)
# mean that the grid has no spectrum quite like this object: the posterior then
# describes the closest grid spectra, and the reduced $\chi^2$ flags it.
#
# ## Comparison with the literature
#
# Mace et al. (2013) inferred $[\mathrm{Fe/H}] = -0.64 \pm 0.17$ for Wolf 1130C from its
# primary (for scaled-solar abundances, [Fe/H] and the models' [M/H] are the same number).
# Where does that value fall in the metallicity posterior?

# %%
LITERATURE_MH, LITERATURE_MH_ERR = -0.64, 0.17  # Mace et al. 2013, ApJ 777, 36
mh = prediction.samples[:, prediction.names.index("mh")]
p16, p50, p84 = np.percentile(mh, (16, 50, 84))
p2, p97 = np.percentile(mh, (2.5, 97.5))
inside_68 = bool(p16 <= LITERATURE_MH <= p84)
inside_95 = bool(p2 <= LITERATURE_MH <= p97)
print(f"{choice.model}: [M/H] = {p50:+.2f} (68%: {p16:+.2f} to {p84:+.2f}; "
      f"95%: {p2:+.2f} to {p97:+.2f})")
print(f"Mace et al. 2013: [Fe/H] = {LITERATURE_MH:+.2f} ± {LITERATURE_MH_ERR:.2f}; "
      f"inside the 68% interval: {inside_68}, inside the 95% interval: {inside_95}")

# %% [markdown]
# The whole-range fit is poor, and [M/H] piles at the grid's -1 edge. The 3-5 µm part of
# the spectrum (CH$_4$, CO$_2$, CO) is fitted far better by the same grid: the shipped
# `atmo20pp-3to5um` model reads only 2.9-5.15 µm. It also reads Wolf 1130C's NIRSpec
# G395H spectrum (R≈2700), which it first smooths to PRISM's resolution (with a note).

# %%
g395h = tml.ObservedSpectrum.from_library("Wolf1130C", instrument="JWST-NIRSPEC-G395H")
red = pretrained.predictor().predict(g395h, n_samples=N_SAMPLES)
print(red.summary())
red_mh = red.samples[:, red.names.index("mh")]
red_inside_68 = bool(np.percentile(red_mh, 16) <= LITERATURE_MH <= np.percentile(red_mh, 84))
print(f"G395H with {red.model}: Mace et al.'s [Fe/H] inside the 68% interval: {red_inside_68}")
show(prediction_fit(red), "fit_g395h")

# %% [markdown]
# ## The wrong instrument
#
# Given the same file, a SpeX model reads only the part it knows and says so: the flag
# names the instrument the spectrum comes from and the one the model expects.

# %%
spex = pretrained.load("dback24-spex").predict(spectrum, n_samples=N_SAMPLES)
for flag in spex.flags:
    print("FLAG:", flag)

# %% [markdown]
# ## A classical check
#
# The grid spectra nearest to the observation in $\chi^2$ (scale fitted), on the model's
# pixels: if they agree with the posterior, the network did what a grid fit would do,
# with interpolation and uncertainties added.

# %%
grid = predictor.grid
match = explore.nearest_grid_spectra(grid, spectrum, k=3)
for row in match.to_dict(grid):
    print(row["parameters"], f"reduced chi2 {row['reduced_chi2']:.3g}")
models = grid.take(match.indices).flux * match.scale[:, None]
show(plots.spectrum_fit(match.wavelength, match.flux, match.uncertainty, models,
                        [grid.label(int(i)) for i in match.indices],
                        match.reduced_chi2, name=spectrum.name), "nearest_grid")

# %%
metrics = predictor.manifest["metrics"]
quantiles = prediction.quantiles((0.025, 0.16, 0.5, 0.84, 0.975))
summary = {
    "model": choice.model,
    "grid": predictor.manifest["grid"]["name"],
    "object": spectrum.name,
    "tried": choice.tried,
    "n_test": metrics["n_test"],
    "rmse_snr30": {n: metrics["snr"]["30"][n]["rmse"] for n in prediction.names},
    "posterior": {n: dict(zip(("p2.5", "p16", "p50", "p84", "p97.5"),
                              quantiles[:, j].tolist(), strict=True))
                  for j, n in enumerate(prediction.names)},
    "errors": prediction.errors,
    "chi2_red": prediction.chi2_red,
    "flags": prediction.flags,
    "spex_model_flags": spex.flags,
    "g395h": {"model": red.model, "median": red.median, "chi2_red": red.chi2_red,
              "notes": red.notes, "mh_literature_inside_68": red_inside_68},
    "literature_mh": {"value": LITERATURE_MH, "error": LITERATURE_MH_ERR,
                      "reference": "Mace et al. 2013, ApJ 777, 36",
                      "inside_68": inside_68, "inside_95": inside_95},
    "nearest_grid": [row["parameters"] for row in match.to_dict(grid)],
    "grid_ranges": {n: [float(grid.params[n].min()), float(grid.params[n].max())]
                    for n in prediction.names},
    "figures": sorted(p.name for p in OUT.glob("*.png")),
}
(OUT / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
print(json.dumps(summary, indent=1))
