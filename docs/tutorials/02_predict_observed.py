# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 2. Predict the parameters of an observed brown dwarf
#
# telescopeml ships five trained models (README lists them), so this needs no training at
# all. Two are made for SpeX prism spectra, such as the ones of this tutorial:
#
# - `dback24-spex`: Sonora Diamondback (Morley et al. 2024, ApJ 975, 59), 900-2400 K,
#   log g 3.5-5.5, [M/H] -0.5..+0.5 and clouds (1/f_sed), at SpeX prism resolution;
# - `atmo20pp-spex`: ATMO 2020++ (Meisner et al. 2023, AJ 166, 57), 250-1200 K, log g
#   2.5-5.5, [M/H] -1..+0.3, for late-T and Y dwarfs.
#
# The other three (`dback24-prism`, `atmo20pp-prism` and `atmo20pp-3to5um`) read JWST
# NIRSpec spectra (tutorial 5). All give full posteriors (a normalizing flow), a
# goodness-of-fit check against the model grid, and flags when the object is likely
# outside the grid. The `ModelChooser` runs the models made for the spectrum's instrument
# (here the two SpeX ones) and keeps the one whose grid covers the object.

# %%
import json
import os
import warnings
from pathlib import Path

import matplotlib.pyplot as plt

from telescopeml import ObservedSpectrum, pretrained
from telescopeml.plots.predict import corner_plot, prediction_fit

QUICK = os.environ.get("TELESCOPEML_TUTORIAL_QUICK") == "1"
OUT = Path(os.environ.get("TELESCOPEML_TUTORIAL_OUT", "tutorial-output")) / "02_predict_observed"
OUT.mkdir(parents=True, exist_ok=True)
N_SAMPLES = 2000 if QUICK else 10000

for name, manifest in pretrained.available().items():
    ranges = manifest["parameters"]["ranges"]
    print(name, manifest["grid"]["name"],
          {k: tuple(round(x, 2) for x in v) for k, v in ranges.items()})

# %% [markdown]
# ## An L dwarf from the SpeX library
#
# The splat package carries ~3,000 SpeX prism spectra; `ObservedSpectrum.from_library`
# finds one by name (the first call fetches the pinned splat wheel from PyPI and caches
# it). 2MASS J2224-0158 is an L3 dwarf with Teff = 1646 ± 71 K from its bolometric
# luminosity (Filippazzo et al. 2015, ApJ 810, 158).

# %%
with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # SpeX FITS headers carry non-standard keywords
    l_dwarf = ObservedSpectrum.from_library("2MASS J22244381-0158521")
print(l_dwarf.name, l_dwarf.wavelength.min(), l_dwarf.wavelength.max(), l_dwarf.flux_unit)

chooser = pretrained.ModelChooser()
choice = chooser.choose(l_dwarf, n_samples=N_SAMPLES)
print("chosen:", choice.model, "| not chosen:", choice.tried)
print(choice.prediction.summary())

# %% [markdown]
# The summary gives the posterior median and the 68% and 95% intervals of each parameter,
# the reduced χ² of the grid spectrum at the posterior median (with a 5% model
# uncertainty added, since no atmosphere model matches a real brown dwarf to better than a
# few percent), FLAG lines when the object is likely outside the grid, and notes (for
# example a log g piling at the grid's edge).
#
# These are atmosphere-grid parameters (the summary's `scale:` line says so). Their error
# bars describe how well the spectrum pins down the parameters *within the model grid*.
# They do not include the systematic differences between the models and real brown dwarfs,
# which are larger: on 125 L/T dwarfs with literature values the grid-scale Teff RMSE is
# ~250 K (BENCHMARKS.md). The empirical scale below carries that term.

# %%
corner = corner_plot(choice.prediction)
corner.savefig(OUT / "corner_l3.png", dpi=90)
fit = prediction_fit(choice.prediction)
fit.savefig(OUT / "fit_l3.png", dpi=90)
plt.close("all")

# %% [markdown]
# ## A cold T dwarf: the other model takes over
#
# 2MASS J0254+0223 is a T8 dwarf with Teff = 621 ± 73 K (Filippazzo et al. 2015), colder
# than Diamondback's 900 K floor. The Diamondback model piles its Teff posterior at the
# grid's lower edge, which flags it, and the chooser keeps the ATMO 2020++ model.

# %%
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    # its 2MASS designation (J02540788+0223563) lies 25" from where the library's WISE
    # designation puts it (a fast-moving T dwarf, seen a decade later), so the full name is
    # refused; the short one matches, and a note says what it was taken as
    t_dwarf = ObservedSpectrum.from_library("2MASS J0254+0223")
cold = chooser.choose(t_dwarf, n_samples=N_SAMPLES)
print("chosen:", cold.model)
for name, reason in cold.tried.items():
    print(f"  {name} not chosen: {reason}")
print(cold.prediction.summary())
prediction_fit(cold.prediction).savefig(OUT / "fit_t8.png", dpi=90)
plt.close("all")

# %% [markdown]
# ## The empirical scale: what `telescopeml predict FILE` gives by default
#
# On real objects the grid's own numbers are biased (real L dwarfs read ~200 K too hot) and
# their error bars know only the grid. The shipped empirical layer maps what both grid
# models say, plus the spectrum's principal components, onto luminosity-based Teff and
# evolutionary log g, learned on 329 real SpeX objects; its error bars were calibrated on
# them and come in a statistical and a systematic part. On 102 dev objects inside the grids
# it reaches 160 K against 251 K for the grid scale and 168 K for a spectral-type lookup
# (BENCHMARKS.md). `pretrained.predictor()` picks whichever scale was more accurate on that
# dev set and says so in the notes.

# %%
empirical = pretrained.predictor()
empirical_results = {}
for label, spectrum in (("L3", l_dwarf), ("T8", t_dwarf)):
    result = empirical.predict(spectrum, n_samples=N_SAMPLES)
    empirical_results[label] = {"scale": result.scale, **{
        k: v for k, v in result.row().items() if k.startswith("teff_p")}}
    print(label, result.scale, {k: round(v) for k, v in result.median.items() if k == "teff"},
          {k: {part: round(value, 2) for part, value in v.items()}
           for k, v in result.errors.items()})
    print(result.summary())

# %% [markdown]
# ## One model, many spectra, a table
#
# For a batch, load one model and use `predict_files`; a file that fails is reported and
# skipped. The same is `telescopeml predict FILE...` on the command line (without a model
# it chooses among the shipped ones; `--model dback24-spex` fixes one), with `--out
# table.csv` for one row per spectrum (`scale`, `model`, `PARAM_p50`, `PARAM_p16`,
# `PARAM_p84`, `PARAM_p2.5`, `PARAM_p97.5`, `PARAM_limit`, `chi2_red`, `method`, `ess`,
# `flag`, `note`).

# %%
from telescopeml.data.library import find_entry, library_file  # noqa: E402
from telescopeml.inference.batch import predict_files  # noqa: E402

names = ["2MASS J22244381-0158521", "SDSSp J010752.33+004156.1", "2MASS J15031961+2525196"]
files = [library_file(find_entry(n), quiet=True) for n in names]
predictor = pretrained.load("dback24-spex")
done, failed = predict_files(predictor, files, n_samples=N_SAMPLES // 2, progress=False)
rows = [p.row() for p in done]
for row in rows:
    print(f"{row['source']:30s} Teff {row['teff_p50']:6.0f} "
          f"[{row['teff_p16']:.0f}, {row['teff_p84']:.0f}] K  chi2 {row['chi2_red']:.2f}")

# %%
summary = {
    "l_dwarf": {"model": choice.model, "teff": choice.prediction.median["teff"],
                "flags": choice.prediction.flags},
    "t_dwarf": {"model": cold.model, "teff": cold.prediction.median["teff"],
                "flags": cold.prediction.flags},
    "batch": [{"source": r["source"], "teff": r["teff_p50"]} for r in rows],
    "empirical": empirical_results,
    "failed": len(failed),
    "figures": ["corner_l3.png", "fit_l3.png", "fit_t8.png"],
}
(OUT / "summary.json").write_text(json.dumps(summary, indent=1))
print(json.dumps(summary, indent=1))
