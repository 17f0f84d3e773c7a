# %% [markdown]
# # 4. Train, evaluate and tune a network
#
# This tutorial trains a network on Sonora Diamondback (Morley et al. 2024, ApJ 975, 59)
# at SpeX prism resolution, measures how well it recovers the parameters of grid spectra
# it has never seen, compares it with classical fitting methods, trains a second network
# that returns a full posterior distribution for every spectrum, and searches for better
# training settings (hyperparameters) with Optuna.
#
# Everything a training run does is set by one configuration, an `ExperimentConfig`
# with four sections:
#
# - `data`: which grid, which instrument's pixels, the wavelength range, the
#   normalization, the train/validation/test split (the previous tutorial);
# - `augment`: interpolated spectra, S/N range, continuum tilts;
# - `model`: the network (`architecture`, `head`, layer widths...);
# - `train`: epochs, batch size, learning rate, loss, early stopping.
#
# A few named *presets* fill these in: `default` (three small 1-D convolutional networks
# with dense layers, `hybrid`, each predicting one value per parameter, averaged; set
# `members = 1` in `[model]` for a single network), `posterior` (one full-size network with
# a normalizing-flow head that outputs a probability distribution), `telescopeml` (the
# convolutional network and preprocessing of the original TelescopeML, Gharib-Nezhad et al.
# 2024, JOSS 9, 6346: each spectrum standardized on its own, beside the minimum and maximum
# of its absolute F_nu, so observed spectra must be surface fluxes in the grid's units;
# `telescopeml-median` uses median-normalized spectra alone) and `mlp` (dense layers only).
#
# With `TELESCOPEML_TUTORIAL_QUICK=1` the tutorial trains for two epochs on a small part
# of the grid so that it runs in seconds: its numbers then only show the mechanics. The
# full run uses the whole grid and the default 60 epochs (a few minutes per model on a
# laptop's CPU; the search takes longer).

# %%
import csv
import json
import os
import shutil
import sys
import warnings
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

import telescopeml as tml
from telescopeml import plots
from telescopeml.bundle import load_bundle
from telescopeml.data.augment import sample_test_set
from telescopeml.models import count_parameters
from telescopeml.plots.calibration import coverage_curve
from telescopeml.plots.predict import corner_plot
from telescopeml.predict import Predictor
from telescopeml.training.experiment import PRESETS, ExperimentConfig, train
from telescopeml.training.search_space import SearchSpace
from telescopeml.training.tune import tune

QUICK = os.environ.get("TELESCOPEML_TUTORIAL_QUICK") == "1"
OUT = Path(os.environ.get("TELESCOPEML_TUTORIAL_OUT", "tutorial-output")) / "04_train_and_tune"
OUT.mkdir(parents=True, exist_ok=True)

EPOCHS = 2 if QUICK else 60  # 60 is the default
TUNE_TRIALS = 2 if QUICK else 20
TUNE_EPOCHS = 2 if QUICK else 20
N_SAMPLES = 500 if QUICK else 5000  # posterior samples per spectrum
#: Quick run only: fewer interpolated spectra per epoch (default: 4 per training point).
AUGMENT = {"n_interpolated": 200} if QUICK else {}


def show(fig: Figure, name: str) -> None:
    """Save ``fig`` as ``OUT/name.png``, and display it when running in a notebook."""
    fig.savefig(OUT / f"{name}.png", dpi=110, bbox_inches="tight")
    if "ipykernel" in sys.modules:
        from IPython.display import display

        display(fig)


# %% [markdown]
# The grid: in the full run the registered name; in the quick run a slice of it (225
# spectra) written to an HDF5 file. A config's `data.grid` takes either a registered name
# or a path.

# %%
if QUICK:
    part = tml.load_grid("splat-dback24").subset(teff=(1200, 1600), logg=(4.0, 5.0),
                                                 inv_fsed=(0.0, 0.5))
    part.meta.pop("checksum", None)  # the checksum named the whole grid; let it be recomputed
    part.meta["name"] = "splat-dback24 (quick slice)"
    GRID = str(part.to_hdf5(OUT / "dback24-slice.h5"))
else:
    GRID = "splat-dback24"
print("training grid:", tml.load_grid(GRID))

# %% [markdown]
# ## A configuration
#
# `ExperimentConfig.from_dict` takes any subset of the four sections; everything not given
# comes from the preset and then from the defaults. The same settings can live in a TOML
# file, which `telescopeml train --config FILE` reads.

# %%
print("presets:", ", ".join(PRESETS))
config = ExperimentConfig.from_dict({
    "data": {"grid": GRID},
    "augment": AUGMENT,
    "train": {"epochs": EPOCHS},
})
config_file = config.to_toml(OUT / "config.toml")
print(config_file.read_text())

# %% [markdown]
# ## Training
#
# `train` prepares the data (previous tutorial), trains the network, keeps the weights of
# the epoch with the lowest validation loss (stopping early when it no longer improves),
# writes the model as a directory (a *bundle*), and evaluates it on the test grid points.
# The command line equivalent is
# `telescopeml train --config config.toml --out models/dback24`.

# %%
model_dir = train(config, OUT / "models" / "dback24")
print(sorted(p.name for p in model_dir.iterdir()))

# %% [markdown]
# The loss curve shows the training loss (on the augmented spectra of each epoch) and the
# validation loss (on the validation grid points at S/N 10, 30, 100 and noise-free). A
# validation loss that rises while the training loss keeps falling is overfitting; early
# stopping and the restored best weights guard against it.

# %%
history = json.loads((model_dir / "history.json").read_text())
show(plots.loss_curves(history), "loss_curve")

# %% [markdown]
# ## How good is it?
#
# `evaluation.json` holds the errors on the test grid points, observed at S/N 10, 30 and
# 100 (four noise draws each) and noise-free: per parameter the root-mean-square error
# (RMSE), the mean absolute error, the bias (mean of predicted minus true) and $R^2$
# (1 = perfect, 0 = no better than predicting the mean). Next to the network are three
# baselines fitted to the same training points:
#
# - `nearest_grid_chi2`: the training grid spectrum with the lowest $\chi^2$ (scale fitted),
#   the classical grid fit;
# - `interpolated_grid_chi2`: the same among 20,000 spectra interpolated between training
#   points, a fit that is not limited to the grid spacing;
# - `random_forest`: a random forest regressor on the same augmented training spectra.

# %%
evaluation = json.loads((model_dir / "evaluation.json").read_text())
names = list(evaluation["snr"]["30"])
methods = {"network": evaluation["snr"], **evaluation["baselines"]}
print(f"{evaluation['n_test']} test grid points; RMSE at each S/N")
print(f"{'method':24s} {'S/N':>5s} " + " ".join(f"{n:>9s}" for n in names))
for method, table in methods.items():
    for snr in ("10", "30", "100", "clean"):
        print(f"{method:24s} {snr:>5s} "
              + " ".join(f"{table[snr][n]['rmse']:9.3g}" for n in names))
show(plots.metrics_vs_snr(methods, names), "rmse_vs_snr")

# %% [markdown]
# Points on the grid's edge are harder than interior ones (the network cannot interpolate
# past the last grid value), so the two are reported apart:

# %%
for where in ("interior", "edge"):
    if "30" in evaluation[where]:
        row = evaluation[where]["30"]
        print(f"{where:8s} S/N 30: " + ", ".join(f"{n} {row[n]['rmse']:.3g}" for n in names))
print(f"speed: {evaluation['inference']['spectra_per_second']:,.0f} spectra per second")

# %% [markdown]
# A parity plot puts each test prediction (S/N 30) against its true value; a perfect
# network would put every point on the diagonal.

# %%
predictions = evaluation["test_predictions"]["30"]
truth, predicted = np.array(predictions["truth"]), np.array(predictions["predicted"])
edge = np.array(predictions["edge"])
show(plots.parity(truth, predicted, names, edge=edge, title="test grid points, S/N 30"),
     "parity")

# %% [markdown]
# ## The bundle
#
# A trained model is a directory with two files that matter: `model.safetensors` (the
# weights) and `manifest.json` (everything else needed to use it: the wavelengths, the
# fitted normalization and scalers, the parameter ranges, the grid and its checksum, the
# split, the training config, the test metrics). `load_bundle` checks and loads it.

# %%
bundle = load_bundle(model_dir)
manifest = bundle.manifest
print(f"{bundle.config.architecture} network, {count_parameters(bundle.model):,} weights")
print("predicts:", manifest["parameters"]["names"])
print("ranges:", manifest["parameters"]["ranges"])
print("trained on:", manifest["grid"]["name"], "| best epoch:", manifest["training"]["best_epoch"])

# %% [markdown]
# `Predictor` applies a bundle to spectra. As a check, here is a test grid point observed
# at S/N 30, turned into an `ObservedSpectrum` as if it came from a telescope. A network
# with a point head (one value per parameter) gets its uncertainties from the spread of
# its predictions over noisy copies of the spectrum, which is not a calibrated posterior;
# the posterior preset below does better.

# %%
predictor = Predictor(model_dir)
test_points = np.array(manifest["split"]["test"])
one = sample_test_set(predictor.grid, test_points[:1], snr=30, seed=1)
spectrum = tml.ObservedSpectrum(wavelength=predictor.wavelength, flux=one.flux[0],
                                uncertainty=one.sigma[0], name="test grid point at S/N 30")
prediction = predictor.predict(spectrum, n_samples=N_SAMPLES)
print(prediction.summary())
print("true:", predictor.grid.label(int(test_points[0])))

# %% [markdown]
# ## A posterior for every spectrum
#
# The `posterior` preset replaces the point head by a conditional normalizing flow: for
# each spectrum the network outputs a probability distribution over the parameters, from
# which `Predictor` draws samples. It trains with the negative log-posterior as its loss,
# on 0.9-2.4 µm (where the models match observed L and T dwarfs best) and with random
# continuum tilts, which make it more robust on real spectra (see BENCHMARKS.md).

# %%
flow_settings = {"flow_samples": 4} if QUICK else {}  # quick run: faster point estimates
posterior_config = ExperimentConfig.from_dict({
    "data": {"grid": GRID},
    "augment": AUGMENT,
    "model": flow_settings,
    "train": {"epochs": EPOCHS},
}, preset="posterior")
print({section: posterior_config.to_dict()[section] for section in ("model", "train")})
posterior_dir = train(posterior_config, OUT / "models" / "dback24-posterior")

# %% [markdown]
# A posterior is only useful if it is *calibrated*: the true value should fall inside
# the 68% credible interval for 68% of the test spectra, inside the 95% interval for 95%,
# and so on. `calibration.json` records this coverage on the test points at S/N 30; a
# calibrated posterior follows the diagonal.

# %%
calibration = json.loads((posterior_dir / "calibration.json").read_text())
coverage = np.column_stack([calibration["coverage"][n] for n in names])
show(coverage_curve(np.array(calibration["levels"]), coverage, names,
                    n_spectra=calibration["n"]), "coverage")
check = calibration["check"]
print("calibration check passed:", check["passed"])
for failure in check["failures"]:
    print("  ", failure)
posterior_eval = json.loads((posterior_dir / "evaluation.json").read_text())
print("RMSE at S/N 30 (posterior mean):",
      {n: round(posterior_eval["snr"]["30"][n]["rmse"], 3) for n in names})

# %% [markdown]
# The same test spectrum through the posterior model: the corner plot shows each
# parameter's marginal distribution (with the 16th, 50th and 84th percentiles) and the
# correlations between pairs, with 68% and 95% contours.

# %%
posterior_predictor = Predictor(posterior_dir)
posterior = posterior_predictor.predict(spectrum, n_samples=N_SAMPLES)
print(posterior.summary())
show(corner_plot(posterior), "corner")

# %% [markdown]
# ## Searching for better hyperparameters
#
# Learning rate, batch size, layer widths, dropout, how many axes to interpolate along at
# once: such *hyperparameters* are not learned from the data but chosen before training.
# `tune` lets Optuna search them: each trial trains a network with settings drawn from a
# search space (Optuna's TPE sampler proposes promising ones from the trials so far) and
# reports its validation loss after every epoch, so that a trial whose loss is worse than
# the median of earlier trials at the same epoch is stopped early ("pruned"; from the
# sixth trial on). The first trial is the base config itself. All trials use the same
# split, so their validation losses compare.
#
# The packaged search space:

# %%
space = SearchSpace.default()
for param in space.params:
    print(f"{param.name:22s}", param.to_dict())

# %% [markdown]
# A tiny search here (the full run does 20 trials of 20 epochs; more trials find better
# settings). The study is stored in `tune/study.db` (SQLite); it is removed first so that
# rerunning the tutorial starts afresh. On the command line:
# `telescopeml tune --grid splat-dback24 --trials 20 --epochs 20 --out tune/`, and
# `docs/scaling.md` explains how to spread a search over many machines.

# %%
tune_dir = OUT / "tune"
shutil.rmtree(tune_dir, ignore_errors=True)
base = ExperimentConfig.from_dict({
    "data": {"grid": GRID},
    "augment": AUGMENT,
    "train": {"epochs": TUNE_EPOCHS},
})
with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # Optuna's notes about experimental features
    study = tune(base, space, tune_dir, trials=TUNE_TRIALS, seed=0)
with open(tune_dir / "trials.csv", newline="") as handle:
    for row in csv.DictReader(handle):
        print(f"trial {row['number']}: {row['state']}, validation loss {row['value']}")
best = study.best_trial
print(f"best: trial {best.number}, validation loss {best.value:.4g}, {best.params}")

# %% [markdown]
# The search writes `optimization_history.png` (each trial's loss and the best so far),
# `param_importances.png` and, for the best trial, `best.toml`: a complete config that
# `telescopeml train --config tune/best.toml --epochs 60 --out models/tuned` trains as it
# is. In Python, read it back and give it the full number of epochs (the trials were
# short to keep the search cheap):

# %%
tuned = ExperimentConfig.from_toml(tune_dir / "best.toml")
tuned.train.epochs = EPOCHS
print({section: {k: v for k, v in tuned.to_dict()[section].items()
                 if k in ("lr", "weight_decay", "batch_size", "dense", "dropout", "max_axes")}
       for section in ("train", "model", "augment")})
if not QUICK:  # another full training run
    tuned_dir = train(tuned, OUT / "models" / "dback24-tuned")
    tuned_eval = json.loads((tuned_dir / "evaluation.json").read_text())
    for n in names:
        print(f"{n:9s} RMSE at S/N 30: default {evaluation['snr']['30'][n]['rmse']:.3g}, "
              f"tuned {tuned_eval['snr']['30'][n]['rmse']:.3g}")

# %% [markdown]
# Whether a tuned config is really better is decided on the test points, and with some
# care: the test set is small (144 points on the full grid), so differences of a few
# percent between two runs can be luck. `BENCHMARKS.md` compares configurations over
# several seeded splits.

# %%
summary = {
    "grid": GRID,
    "epochs": EPOCHS,
    "n_test": evaluation["n_test"],
    "targets": names,
    "rmse_snr30": {m: {n: t["30"][n]["rmse"] for n in names} for m, t in methods.items()},
    "posterior_rmse_snr30": {n: posterior_eval["snr"]["30"][n]["rmse"] for n in names},
    "posterior_calibration_passed": bool(check["passed"]),
    "posterior_median": posterior.median,
    "posterior_truth": predictor.grid.label(int(test_points[0])),
    "tune_trials": len(study.trials),
    "tune_best_value": best.value,
    "tune_files": sorted(p.name for p in tune_dir.iterdir() if p.is_file()),
    "figures": sorted(p.name for p in OUT.glob("*.png")),
}
(OUT / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
print(json.dumps(summary, indent=1))
