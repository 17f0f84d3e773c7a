# %% [markdown]
# # 6. Your own model grid and your own instrument
#
# The registered grids cover a few model families at the resolution of two instruments.
# Your models, or your spectrograph, may be different. This tutorial shows the whole path
# for both:
#
# 1. read a grid of model spectra from files: a directory of text files with a table of
#    parameters, or one HDF5 file;
# 2. bring it to your instrument: smooth it to the instrument's resolving power and
#    resample it onto the instrument's pixels;
# 3. train a network on it and evaluate it;
# 4. predict the parameters of an observed spectrum read from a file.
#
# So that the tutorial runs anywhere, it first *writes* a small grid in those file
# formats, taking 108 Sonora Diamondback spectra (Morley et al. 2024, ApJ 975, 59; Teff
# 1000-1800 K, log g 4-5.5, [M/H] -0.5 to +0.5, one cloud setting) from the default grid.
# With your own models, start at "Reading a grid from files".

# %%
import csv
import json
import os
import shutil
import sys
import warnings
from pathlib import Path

import h5py
import numpy as np
from matplotlib.figure import Figure

import telescopeml as tml
from telescopeml.data.augment import add_noise
from telescopeml.data.resample import resample, smooth_to_resolution
from telescopeml.plots.predict import prediction_fit
from telescopeml.predict import Predictor
from telescopeml.training.experiment import ExperimentConfig, train

QUICK = os.environ.get("TELESCOPEML_TUTORIAL_QUICK") == "1"
OUT = Path(os.environ.get("TELESCOPEML_TUTORIAL_OUT", "tutorial-output")) / "06_your_own_grid"
OUT.mkdir(parents=True, exist_ok=True)

EPOCHS = 3 if QUICK else 60
N_SAMPLES = 500 if QUICK else 5000
#: Quick run only: fewer interpolated spectra per epoch (default: 4 per training point).
AUGMENT = {"n_interpolated": 100} if QUICK else {}
FLUX_UNIT = "erg / (s cm2 um)"


def show(fig: Figure, name: str) -> None:
    """Save ``fig`` as ``OUT/name.png``, and display it when running in a notebook."""
    fig.savefig(OUT / f"{name}.png", dpi=110, bbox_inches="tight")
    if "ipykernel" in sys.modules:
        from IPython.display import display

        display(fig)


# %% [markdown]
# ## Making example files
#
# A directory with one two-column text file per model (wavelength in µm, flux) and a
# table `params.csv` that names each file and gives its parameters, one column each.

# %%
source = tml.load_grid("splat-dback24").subset(teff=(1000, 1800), logg=(4.0, 5.5),
                                               inv_fsed=0.25)
models = OUT / "my_models"
shutil.rmtree(models, ignore_errors=True)
models.mkdir(parents=True)
with open(models / "params.csv", "w", newline="") as handle:
    table = csv.writer(handle)
    table.writerow(["file", "teff", "logg", "mh"])
    for i in range(len(source)):
        label = source.label(i)
        name = f"model_{label['teff']:.0f}_{label['logg']:.2f}_{label['mh']:+.1f}.txt"
        np.savetxt(models / name, np.column_stack([source.wavelength, source.flux[i]]),
                   fmt="%.6e", header=f"wavelength [um]  flux [{FLUX_UNIT}]")
        table.writerow([name, label["teff"], label["logg"], label["mh"]])
print(len(list(models.glob("*.txt"))), "files, e.g.", sorted(models.glob("*.txt"))[0].name)
print((models / "params.csv").read_text().splitlines()[:3])

# %% [markdown]
# The same models as one HDF5 file: datasets `wavelength` (here in nm, said by its `units`
# attribute) and `flux` (one row per model), and a group `params` with one dataset per
# parameter.

# %%
h5_file = OUT / "my_models.h5"
with h5py.File(h5_file, "w") as h5:
    h5["wavelength"] = source.wavelength * 1000.0
    h5["wavelength"].attrs["units"] = "nm"
    h5["flux"] = source.flux_array()
    h5.attrs["flux_unit"] = FLUX_UNIT
    for name in ("teff", "logg", "mh"):
        h5[f"params/{name}"] = source.params[name]

# %% [markdown]
# ## Reading a grid from files
#
# `tml.read_grid` recognizes the format from the path (`format=` says it explicitly):
# `user-dir` for a directory with a parameter table, `hdf5`, and the native formats of
# the Sonora Bobcat, Elf Owl and Diamondback releases and of the TelescopeML training set
# (see `telescopeml.data.formats`). Parameters named `teff` (K), `logg` (cgs), `mh` (dex)
# get the usual labels, and the network learns Teff on a logarithmic scale; any other
# name is fine too. Spectra on different wavelength arrays are resampled onto the first
# file's (or onto `wavelength=`, or a resolving power `resolution=`).

# %%
my_grid = tml.read_grid(models, flux_unit=FLUX_UNIT)
print(my_grid.summary())
from_h5 = tml.read_grid(h5_file)
same = bool(np.allclose(from_h5.wavelength, my_grid.wavelength)
            and np.allclose(from_h5.flux, my_grid.flux, rtol=1e-5))
print("the HDF5 file holds the same grid:", same)

# %% [markdown]
# `telescopeml data info my_models.h5` prints the same summary from the command line,
# and any command that takes a grid (`explore`, `train --grid`, `tune --grid`) takes such
# a path as well.
#
# ## Your instrument
#
# Suppose a low-resolution spectrograph with resolving power $R = \lambda/\Delta\lambda =
# 50$ from 0.85 to 2.4 µm, two pixels per resolution element, pixels evenly spaced in
# $\ln\lambda$. Any array of pixel centres in µm will do: yours may come from your data
# reduction.
#
# Two steps bring the models to it. **Smoothing** to the instrument's resolution: a
# Gaussian of FWHM $\lambda/R$ (`SpectralGrid.smooth`). Smoothing only lowers the
# resolution, so the models must start sharper than the instrument; these are at the SpeX
# prism's resolution, higher than 50. Then flux-conserving **resampling** onto the
# instrument's pixels (`SpectralGrid.resample`).

# %%
R = 50.0
step = 1.0 / (2.0 * R)  # two pixels per resolution element, in ln(wavelength)
pixels = np.exp(np.arange(np.log(0.85), np.log(2.40), step))
on_instrument = my_grid.smooth(R).resample(pixels)
print(on_instrument)
grid_file = on_instrument.to_hdf5(OUT / "my_grid_R50.h5")

fig = Figure(figsize=(8, 4), layout="constrained")
ax = fig.subplots()
example = my_grid.subset(teff=1400, logg=5.0, mh=0.0)
ax.plot(example.wavelength, example.flux[0], color="0.6", lw=0.8, label="model file")
ax.step(pixels, on_instrument.subset(teff=1400, logg=5.0, mh=0.0).flux[0], where="mid",
        color="C0", label=f"at R = {R:g}, on the instrument's {pixels.size} pixels")
ax.set(xlabel="wavelength [µm]", ylabel=f"F_λ [{FLUX_UNIT}]",
       title="Teff = 1400 K, log g = 5, [M/H] = 0")
ax.legend(fontsize=8)
show(fig, "instrument")

# %% [markdown]
# ## Training
#
# The config points `data.grid` at the file, and sets `data.instrument` to `""`: the grid
# is already on the instrument's pixels (a registered instrument name, such as
# `SPEX-PRISM`, would resample it onto that instrument's pixels). Everything else is as
# in the fourth tutorial; `preset="posterior"` would give calibrated posteriors instead of
# point estimates (set `data.wavelength_range` to your range then: the preset keeps only
# 0.9-2.4 µm).

# %%
config = ExperimentConfig.from_dict({
    "data": {"grid": str(grid_file), "instrument": ""},
    "augment": AUGMENT,
    "train": {"epochs": EPOCHS},
})
model_dir = train(config, OUT / "models" / "my-instrument")
evaluation = json.loads((model_dir / "evaluation.json").read_text())
names = list(evaluation["snr"]["30"])
print(f"RMSE on {evaluation['n_test']} test grid points at S/N 30:")
for method, table in {"network": evaluation["snr"], **evaluation["baselines"]}.items():
    print(f"  {method:24s}", ", ".join(f"{n} {table['30'][n]['rmse']:.3g}" for n in names))

# %% [markdown]
# ## An observed spectrum
#
# As a stand-in for an observation we make one whose answer we know: the spectrum at a
# point between the grid's nodes, observed by the instrument (smoothed, put on pixels a
# third of a pixel away from the model's, with noise at S/N 40) and written to a CSV
# file, as your reduced data might be.
#
# Because it is interpolated from the same models, it tests the network's interpolation
# and noise handling, not how well the models describe a real brown dwarf.

# %%
truth = {"teff": 1450.0, "logg": 4.7, "mh": 0.2}
fine = my_grid.interpolate(**truth)
observed_pixels = pixels[1:-1] * np.exp(step / 3)
flux, _ = resample(observed_pixels, my_grid.wavelength,
                   smooth_to_resolution(my_grid.wavelength, fine, R))
noisy, sigma = add_noise(flux, 40.0, np.random.default_rng(0))
spectrum_file = OUT / "my_object.csv"
np.savetxt(spectrum_file, np.column_stack([observed_pixels, noisy, sigma]), delimiter=",",
           header="wavelength,flux,uncertainty", comments="", fmt="%.7e")

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    observed = tml.ObservedSpectrum.read(spectrum_file, flux_unit=FLUX_UNIT)
print(observed, f"| S/N {observed.snr:.0f}")

# %% [markdown]
# `Predictor` reads the bundle, resamples the spectrum onto the model's pixels and
# predicts. On the command line: `telescopeml predict MODEL_DIR my_object.csv`.

# %%
predictor = Predictor(model_dir)
prediction = predictor.predict(observed, n_samples=N_SAMPLES)
print(prediction.summary())
low, high = prediction.quantiles((0.025, 0.975))
print(f"{'parameter':10s} {'true':>8s} {'predicted':>10s}  95% interval")
for j, name in enumerate(prediction.names):
    print(f"{name:10s} {truth[name]:8.4g} {prediction.median[name]:10.4g}  "
          f"{low[j]:.4g} to {high[j]:.4g}")
show(prediction_fit(prediction), "fit")

# %% [markdown]
# The intervals of a point-head network come from predicting many noisy copies of the
# spectrum; they show how much the noise moves the answer, not a calibrated posterior.
# For real data, use `preset="posterior"` and compare the reduced $\chi^2$ of the fit with
# what the models can achieve.

# %%
summary = {
    "n_models": len(my_grid),
    "axes": my_grid.axes,
    "hdf5_same_as_directory": same,
    "instrument": {"resolution": R, "n_pixels": int(pixels.size),
                   "range_um": [float(pixels[0]), float(pixels[-1])]},
    "epochs": EPOCHS,
    "n_test": evaluation["n_test"],
    "rmse_snr30": {n: evaluation["snr"]["30"][n]["rmse"] for n in names},
    "truth": truth,
    "predicted": prediction.median,
    "interval_95": {n: [float(low[j]), float(high[j])] for j, n in enumerate(prediction.names)},
    "grid_ranges": {n: [float(my_grid.params[n].min()), float(my_grid.params[n].max())]
                    for n in my_grid.axes},
    "figures": sorted(p.name for p in OUT.glob("*.png")),
}
(OUT / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
print(json.dumps(summary, indent=1))
