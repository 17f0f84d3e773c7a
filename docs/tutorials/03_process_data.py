# %% [markdown]
# # 3. From model spectra to training data
#
# Before a network sees a spectrum, telescopeml puts it through a fixed chain of steps,
# the same for the training grid and for the observed spectra it is later applied to:
#
# 1. **resampling** onto the instrument's pixels, conserving flux;
# 2. **normalization** of each spectrum, because the observed flux scale $(R/d)^2$ is
#    unknown and the information lies in the spectral shape;
# 3. **encoding** into the network's input: normalized flux and per-pixel uncertainty,
#    each standardized wavelength by wavelength;
# 4. **splitting** the grid into training, validation and test points;
# 5. **augmentation**: every training epoch gets new spectra interpolated between training
#    grid points, new noise at a random signal-to-noise ratio, and optionally a random
#    tilt of the continuum.
#
# `telescopeml train` does all of this itself. This tutorial takes the chain apart, so
# that you know what happens to your data and which settings (the `[data]` and `[augment]`
# sections of a training config) change what. The grid is Sonora Diamondback at SpeX
# prism resolution (Morley et al. 2024, ApJ 975, 59), as in the first tutorial.

# %%
import json
import os
import sys
import warnings
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

import telescopeml as tml
from telescopeml.data.augment import (
    AugmentConfig,
    Augmenter,
    add_noise,
    noise_sigma,
    sample_test_set,
)
from telescopeml.data.inputs import InputEncoder
from telescopeml.data.resample import bin_edges, outside_coverage, resample
from telescopeml.data.sources import instrument_wavelength
from telescopeml.data.splits import is_edge, split_grid
from telescopeml.data.transforms import NORMALIZERS, Normalizer, ParameterScaler
from telescopeml.training.experiment import ExperimentConfig, prepare

QUICK = os.environ.get("TELESCOPEML_TUTORIAL_QUICK") == "1"
OUT = Path(os.environ.get("TELESCOPEML_TUTORIAL_OUT", "tutorial-output")) / "03_process_data"
OUT.mkdir(parents=True, exist_ok=True)
np.set_printoptions(precision=4, suppress=True)


def show(fig: Figure, name: str) -> None:
    """Save ``fig`` as ``OUT/name.png``, and display it when running in a notebook."""
    fig.savefig(OUT / f"{name}.png", dpi=110, bbox_inches="tight")
    if "ipykernel" in sys.modules:
        from IPython.display import display

        display(fig)


grid = tml.load_grid("splat-dback24")
print(grid)

# %% [markdown]
# ## 1. Resampling onto an instrument's pixels
#
# A spectrograph records the flux integrated over each pixel. Resampling a spectrum onto
# other pixels should therefore keep the integral of $F_\lambda$ over any range of whole
# pixels: that is *flux-conserving* resampling (here with `spectres`, Carnall 2017), as
# opposed to reading off the spectrum at the new pixel centres (`np.interp`), which skips
# whatever falls between them.
#
# telescopeml trains on the grid resampled onto the pixels of the instrument you observe
# with (SpeX prism by default, from the wavelength tables in the `ucdmcmc` wheel), keeping
# the pixels the grid covers entirely.

# %%
spex = instrument_wavelength("SPEX-PRISM")
inside = ~outside_coverage(spex, grid.wavelength)
on_spex = grid.resample(spex[inside])
print(f"grid: {grid.n_wavelengths} points, {grid.wavelength[0]:.3f}-{grid.wavelength[-1]:.3f} µm")
print(f"SpeX prism: {spex.size} pixels, of which {inside.sum()} lie inside the grid")


def integral(wavelength: np.ndarray, flux: np.ndarray, low: float, high: float) -> float:
    """Integral of F_lambda from ``low`` to ``high`` µm, each pixel's flux constant across it."""
    edges = bin_edges(wavelength)
    overlap = np.clip(np.minimum(edges[1:], high) - np.maximum(edges[:-1], low), 0.0, None)
    return float(np.sum(flux * overlap))


index = 700  # one spectrum of the grid
new_edges = bin_edges(on_spex.wavelength)
before = integral(grid.wavelength, grid.flux[index], new_edges[0], new_edges[-1])
after = integral(on_spex.wavelength, on_spex.flux[index], new_edges[0], new_edges[-1])
print(f"integrated flux before/after resampling: {after / before:.5f}")

# %% [markdown]
# The difference between the two approaches shows at low resolution. Below, one spectrum
# is put onto pixels 20 times coarser than the grid's, both ways.

# %%
coarse = grid.wavelength[5:-5:20]
conserved, _ = resample(coarse, grid.wavelength, grid.flux[index])
sampled = np.interp(coarse, grid.wavelength, grid.flux[index])
fig = Figure(figsize=(8, 4), layout="constrained")
ax = fig.subplots()
ax.plot(grid.wavelength, grid.flux[index], color="0.7", lw=0.8, label="grid spectrum")
ax.step(coarse, conserved, where="mid", color="C0", label="flux-conserving (spectres)")
ax.plot(coarse, sampled, "o", ms=3, color="C3", label="np.interp at pixel centres")
ax.set(xlabel="wavelength [µm]", ylabel=f"F_λ [{grid.flux_unit}]",
       title="Resampling onto coarse pixels: " + ", ".join(
           f"{k}={v:g}" for k, v in grid.label(index).items()))
ax.legend(fontsize=8)
show(fig, "resampling")

# %% [markdown]
# Resampling changes the pixels, not the resolution. If your instrument's resolving power
# $R = \lambda/\Delta\lambda$ is lower than the grid's, smooth the grid first:
# `grid.smooth(R)` convolves every spectrum with a Gaussian of FWHM $\lambda/R$. The sixth
# tutorial does this for an instrument of your own.
#
# Observed spectra are resampled the same way, with their uncertainties propagated;
# `fill=np.nan` marks model pixels the observation does not cover instead of refusing.
# The median S/N per pixel rises a little: the model's range leaves out the noisy ends
# of the observation, and a model pixel that straddles two observed pixels averages
# their noise (which makes the noise of neighbouring pixels correlated).

# %%
with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # library spectra with NaN pixels: they are dropped
    observed = tml.ObservedSpectrum.from_library("2MASS J0036+1821")
on_model = observed.resample(on_spex.wavelength, fill=np.nan)
print(observed)
print(f"resampled onto {on_model.wavelength.size} model pixels, "
      f"{int(np.isnan(on_model.flux).sum())} not covered; median S/N "
      f"{observed.snr:.0f} -> {on_model.snr:.0f}")

# %% [markdown]
# ## 2. Normalization
#
# The flux we receive from a brown dwarf is its surface flux times $(R/d)^2$. Radius and
# distance are not what we want to infer (and the distance is often unknown), so each
# spectrum is divided by a number computed from itself. The choices:

# %%
for name, cls in NORMALIZERS.items():
    print(f"{name:12s} {cls.__doc__.splitlines()[0]}")

# %%
hot = on_spex.subset(teff=2000, logg=5.0, mh=0.0, inv_fsed=0.25)
cold = on_spex.subset(teff=1000, logg=5.0, mh=0.0, inv_fsed=0.25)
fig = Figure(figsize=(10, 3.6), layout="constrained")
axes = fig.subplots(1, 3, sharex=True)
for ax, name in zip(axes, ("median", "median-band", "max"), strict=True):
    normalizer = Normalizer.create(name)
    for part, color in ((hot, "C3"), (cold, "C0")):
        flux, _, scale = normalizer.transform(part.wavelength, part.flux[0])
        ax.plot(part.wavelength, flux, color=color, lw=0.9,
                label=f"Teff={part.params['teff'][0]:.0f} K (scale {float(scale):.2e})")
    ax.set(title=repr(normalizer), xlabel="wavelength [µm]")
    ax.legend(fontsize=7)
axes[0].set_ylabel("normalized flux")
show(fig, "normalization")

# %% [markdown]
# The default, `median`, divides by the median flux over all pixels; `median-band`
# divides by the median in a window (1.2-1.3 µm by default, the J-band peak), the usual
# choice when comparing spectra by eye. The scale is kept, so it can be undone:
# `ObservedSpectrum.normalize` records it in the spectrum's metadata.

# %%
normalized = observed.normalize("median-band", band=(1.2, 1.3))
print(normalized.meta["normalization"])

# %% [markdown]
# ## 3. The network's input
#
# `InputEncoder` turns spectra into the arrays the network reads. Channel 0 is the
# normalized flux; channel 1 the $\log_{10}$ of the normalized per-pixel uncertainty, so
# that the network knows how far to trust each pixel (a noisy band edge, a masked telluric
# band). Each channel is then standardized wavelength by wavelength: its mean over the
# training spectra is subtracted and the result divided by their standard deviation, so
# that every pixel enters on the same scale. Those means and deviations are fitted on
# training spectra only and stored with the model.

# %%
rng = np.random.default_rng(1)
some = rng.choice(len(on_spex), 200, replace=False)
flux = on_spex.flux[some]
noisy, sigma = add_noise(flux, 50.0, rng)
encoder = InputEncoder(on_spex.wavelength, Normalizer.create("median"), uncertainty=True)
encoder.fit(noisy, sigma)
x, extra = encoder.encode(noisy, sigma)
print("input:", x.shape, "= (spectra, channels, pixels)")
print(f"channel 0: mean {x[:, 0].mean():+.2f}, std {x[:, 0].std():.2f}")

fig = Figure(figsize=(10, 3.6), layout="constrained")
axes = fig.subplots(1, 3)
axes[0].plot(on_spex.wavelength, noisy[:3].T, lw=0.7)
axes[0].set(title="noisy spectra (S/N 50)", ylabel="F_λ")
axes[1].plot(on_spex.wavelength, x[:3, 0].T, lw=0.7)
axes[1].set(title="channel 0: standardized flux")
axes[2].plot(on_spex.wavelength, x[:3, 1].T, lw=0.7)
axes[2].set(title="channel 1: standardized log σ")
for ax in axes:
    ax.set_xlabel("wavelength [µm]")
show(fig, "encoding")

# %% [markdown]
# The parameters the network predicts are scaled too: `ParameterScaler` standardizes each
# one (Teff after taking $\log_{10}$, since temperature acts multiplicatively on the
# spectrum), and turns the network's outputs back into physical units.

# %%
scaler = ParameterScaler(on_spex.axes, log=["teff"]).fit(on_spex.parameter_matrix())
scaled = scaler.transform(on_spex.parameter_matrix()[[0, 700, 1439]])
print("scaled:\n", np.round(scaled, 3))
print("back in physical units:\n", scaler.inverse_transform(scaled))

# %% [markdown]
# ## 4. Splitting by whole grid points
#
# To measure how well a network does on spectra it has never seen, part of the grid is
# held out. The split is by whole grid points: each spectrum (and any spectrum identical
# to it) lands in exactly one of training (80%), validation (10%, used to decide when to
# stop training) and test (10%, used only for the final evaluation). Interpolated
# training spectra are built from training points only, so no test spectrum leaks into
# training, not even as an interpolation corner.
#
# Test points on the edge of the grid (lowest or highest value of an axis with more than
# two values) are harder: the network cannot see past them. Their errors are reported
# apart from interior points. In four dimensions most points are edge points: with three
# [M/H] values alone, two thirds of the grid lies on an edge.

# %%
split = split_grid(on_spex, fractions=(0.8, 0.1, 0.1), seed=0)
edge = is_edge(on_spex, split.test)
print({part: len(split.part(part)) for part in ("train", "val", "test")},
      f"| {edge.sum()} of {edge.size} test points on the grid's edge")

mask = (on_spex.params["mh"] == 0) & (on_spex.params["inv_fsed"] == 0.25)
fig = Figure(figsize=(6, 4), layout="constrained")
ax = fig.subplots()
for part, marker, color in (("train", "o", "0.75"), ("val", "s", "C0"), ("test", "D", "C3")):
    rows = np.intersect1d(split.part(part), np.flatnonzero(mask))
    ax.scatter(on_spex.params["teff"][rows], on_spex.params["logg"][rows], marker=marker,
               color=color, s=30, label=part)
ax.set(xlabel="Teff [K]", ylabel="log g", title="The split in one slice: [M/H] = 0, 1/fsed = 0.25")
ax.legend(loc="upper left", fontsize=8)
show(fig, "split")

# %% [markdown]
# ## 5. Augmentation
#
# A grid has few spectra (1440 here, 1152 of them for training) and none between its
# points. `Augmenter` builds a fresh training set every epoch from the training points:
#
# - **interpolated spectra**: each starts at a training point and moves a random fraction
#   of the way to the next point along one or more axes (at most `max_axes`), blended
#   linearly in log flux like `SpectralGrid.interpolate`, labelled with the parameters of
#   the point it reached;
# - **noise**: every spectrum is observed at an S/N drawn log-uniformly in `snr_range`,
#   with a photon-noise-like uncertainty (brighter pixels have larger $\sigma$ but higher
#   S/N; the median S/N over pixels is the drawn value);
# - **continuum tilt** (`continuum_tilt`, used by the posterior preset): a random smooth
#   multiplicative distortion of a few percent, standing in for the flux-calibration and
#   telluric-correction errors that real spectra have and models do not.

# %%
n_interpolated = 500 if QUICK else 4 * len(split.train)
config = AugmentConfig(n_interpolated=n_interpolated, max_axes=2, snr_range=(5.0, 300.0),
                       continuum_tilt=0.0)
augmenter = Augmenter(on_spex, split.train, config, seed=0)
batch = augmenter.epoch(0)
print(f"epoch 0: {len(batch)} spectra, {batch.interpolated.sum()} interpolated; "
      f"S/N from {batch.snr.min():.1f} to {batch.snr.max():.0f}")
again = augmenter.epoch(0)
print("the same (seed, epoch) gives the same spectra:", np.array_equal(batch.flux, again.flux))

fig = Figure(figsize=(10, 3.8), layout="constrained")
left, right = fig.subplots(1, 2)
nodes = on_spex.parameter_matrix()[split.train]
made = batch.params[batch.interpolated]
left.scatter(made[:, 0], made[:, 1], s=3, color="C0", alpha=0.4, label="interpolated")
left.scatter(nodes[:, 0], nodes[:, 1], s=12, color="k", label="training grid points")
left.set(xlabel="Teff [K]", ylabel="log g", title="Where epoch 0's spectra lie")
left.legend(fontsize=8, loc="upper left")
right.hist(batch.snr, bins=np.geomspace(5, 300, 30), color="C0")
right.set(xscale="log", xlabel="S/N", ylabel="spectra", title="S/N drawn log-uniformly")
show(fig, "augmentation")

# %% [markdown]
# Noise at a chosen S/N, with `add_noise` (and `noise_sigma` for the uncertainty alone).
# The same functions make the noisy copies of the test spectra used in evaluation
# (`sample_test_set`).

# %%
spectrum = on_spex.subset(teff=1300, logg=5.0, mh=0.0, inv_fsed=0.25).flux
fig = Figure(figsize=(8, 4), layout="constrained")
ax = fig.subplots()
measured = {}
for offset, snr in enumerate((10, 30, 100)):
    noisy_one, sigma_one = add_noise(spectrum, snr, np.random.default_rng(snr))
    measured[snr] = float(np.median(spectrum / noise_sigma(spectrum, snr)))
    ax.plot(on_spex.wavelength, noisy_one[0] / np.median(spectrum) + offset, lw=0.8,
            label=f"S/N {snr}")
ax.set(xlabel="wavelength [µm]", ylabel="normalized flux + offset",
       title="One spectrum observed at three S/N")
ax.legend(fontsize=8)
show(fig, "noise")
print("median flux / sigma:", measured)
test_30 = sample_test_set(on_spex, split.test, snr=30, seed=0)
print(f"test set at S/N 30: {len(test_30)} spectra")

# %% [markdown]
# And the continuum tilt: here one training spectrum, noise-free, in five epochs.

# %%
single = Augmenter(on_spex, [index], AugmentConfig(n_interpolated=0, continuum_tilt=0.1,
                                                   noise_free_fraction=1.0))
fig = Figure(figsize=(8, 4), layout="constrained")
ax = fig.subplots()
for epoch in range(5):
    tilted = single.epoch(epoch).flux[0]
    ax.plot(on_spex.wavelength, tilted / on_spex.flux[index], lw=1, label=f"epoch {epoch}")
ax.axhline(1, color="k", lw=0.6)
ax.set(xlabel="wavelength [µm]", ylabel="tilted / original",
       title="Random continuum tilts (continuum_tilt = 0.1)")
ax.legend(fontsize=8)
show(fig, "tilt")

# %% [markdown]
# ## All of it in one call
#
# `prepare(config)` runs the whole chain as `telescopeml train` does, from the settings in
# an `ExperimentConfig`: it loads the grid, resamples it onto the instrument's pixels,
# splits it, sets up the augmenter and fits the encoder and parameter scaler on the first
# epoch's training spectra. The defaults interpolate along up to 4 axes at once and keep
# 5% of the spectra noise-free.

# %%
experiment = ExperimentConfig.from_dict({"augment": {"n_interpolated": n_interpolated}})
print({k: v for k, v in experiment.to_dict()["data"].items()})
prepared = prepare(experiment, quiet=True)
first = prepared.augmenter.epoch(0)
inputs, _ = prepared.inputs(first.flux, first.sigma)
labels = prepared.labels(first.params)
print(f"targets {prepared.targets}: inputs {inputs.shape}, labels {labels.shape}")

# %% [markdown]
# The next tutorial trains a network on exactly these arrays.

# %%
summary = {
    "n_spex_pixels": int(inside.sum()),
    "flux_ratio_after_resampling": after / before,
    "normalizers": sorted(NORMALIZERS),
    "input_shape": list(x.shape),
    "split": {part: len(split.part(part)) for part in ("train", "val", "test")},
    "test_edge_fraction": float(edge.mean()),
    "epoch_size": len(batch),
    "n_interpolated": int(batch.interpolated.sum()),
    "snr_range": [float(batch.snr.min()), float(batch.snr.max())],
    "median_snr_measured": measured,
    "prepared_inputs": list(inputs.shape),
    "figures": sorted(p.name for p in OUT.glob("*.png")),
}
(OUT / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
print(json.dumps(summary, indent=1))
