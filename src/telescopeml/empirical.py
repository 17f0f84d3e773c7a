"""The empirical scale: grid posteriors corrected on real spectra with literature labels.

Atmosphere grids do not reproduce real L dwarfs: a network trained on a grid reads real
spectra ~200 K hotter than their luminosity-based Teff, with error bars that only know the
grid. The empirical layer maps what the shipped grid models say about a spectrum (their
posterior medians and fit χ² under every grid), a few principal components of the spectrum
and classical spectral indices onto literature Teff and log g (luminosity and
evolutionary-model based), learned on labeled SpeX spectra (``training.empirical``).
Its uncertainties are split into

- a **statistical** part: the width of the grid posterior (measurement noise), and
- a **systematic** part: a model-mismatch term learned from cross-validated residuals on real
  objects, conditioned on what predicts the error (how typical the spectrum is of the labeled
  set, the grid fit's χ², the temperature) and scaled by split-conformal quantiles so that 68%
  and 95% intervals hold on real objects.

A fitted layer is a directory with ``empirical.json`` (metadata) and
``empirical.safetensors`` (arrays); prediction needs NumPy only.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from telescopeml.cache import sha256_file
from telescopeml.data.units import mass_mjup
from telescopeml.errors import DataError
from telescopeml.jsonio import read as read_json
from telescopeml.mismatch import model_term_draws
from telescopeml.models.regressors import GaussianProcess, TreeEnsemble
from telescopeml.parameters import UNITS, parameter

# The scale and flag words moved to telescopeml.vocabulary; they are re-exported here for
# code that imported them from this module.
from telescopeml.vocabulary import (
    INPUT_NOTE,
    INSTRUMENT_FLAG,
    SCALE_DESCRIPTION,
    SCALE_EMPIRICAL,
    SCALE_GRID,
    SCALES,
    describe,
)

if TYPE_CHECKING:
    from telescopeml.prediction import Prediction

EMPIRICAL_DIR = "empirical-spex"
META_FILE = "empirical.json"
ARRAYS_FILE = "empirical.safetensors"
FORMAT = "telescopeml-empirical"
#: 2: spectral indices among the features.
FORMAT_VERSION = 2
#: Telluric water bands left out of the spectrum's principal components.
TELLURIC = ((1.35, 1.42), (1.80, 1.95))
#: Weight of the grid models' Teff spread in the misspecification score.
MISFIT_SPREAD_WEIGHT = 0.3
#: Floor of the normalized flux before the logarithm (noise in deep absorption bands).
LOG_FLOOR = 1e-3


def spectrum_vector(wavelength: np.ndarray, flux: np.ndarray) -> np.ndarray:
    """Log10 of the flux over its mean, telluric bands dropped: the input of the PCA."""
    flux = np.atleast_2d(np.asarray(flux, dtype=np.float64))
    keep = np.ones(wavelength.size, dtype=bool)
    for low, high in TELLURIC:
        keep &= ~((wavelength > low) & (wavelength < high))
    mean = np.mean(flux, axis=1, keepdims=True)
    mean = np.where(mean > 0, mean, np.nan)
    return np.log10(np.clip(flux / mean, LOG_FLOOR, None))[:, keep]


#: Spectral indices (numerator and denominator windows, µm): the H2O, CH4 and K/J indices of
#: Burgasser et al. (2006, ApJ 637, 1067), H/J, and an FeH (0.99 µm) band depth.
INDICES = {
    "H2O-J": ((1.14, 1.165), (1.26, 1.285)), "CH4-J": ((1.315, 1.34), (1.26, 1.285)),
    "H2O-H": ((1.48, 1.52), (1.56, 1.60)), "CH4-H": ((1.635, 1.675), (1.56, 1.60)),
    "H2O-K": ((1.975, 1.995), (2.08, 2.10)), "CH4-K": ((2.215, 2.255), (2.08, 2.12)),
    "K/J": ((2.06, 2.10), (1.25, 1.29)), "H/J": ((1.56, 1.60), (1.25, 1.29)),
    "FeH": ((0.99, 1.02), (1.03, 1.06)),
}


def spectral_indices(wavelength: np.ndarray, flux: np.ndarray) -> np.ndarray:
    """Log10 of the :data:`INDICES` band ratios and of the H-band continuum shape (flux at
    1.56 µm over the line from 1.47 to 1.67 µm, a gravity indicator after Allers & Liu 2013,
    ApJ 772, 79), one row per spectrum."""
    flux = np.clip(np.atleast_2d(np.asarray(flux, dtype=np.float64)), 1e-300, None)

    def band(low: float, high: float) -> np.ndarray:
        inside = (wavelength >= low) & (wavelength <= high)
        if not inside.any():  # a window narrower than a pixel: the flux at its centre
            return np.array([np.interp(0.5 * (low + high), wavelength, f) for f in flux])
        return flux[:, inside].mean(axis=1)

    columns = [band(*num) / band(*den) for num, den in INDICES.values()]
    a, b, c = band(1.465, 1.475), band(1.555, 1.565), band(1.665, 1.675)
    columns.append(b / np.clip(a + (c - a) * (1.56 - 1.47) / (1.67 - 1.47), 1e-300, None))
    return np.log10(np.clip(np.column_stack(columns), 1e-3, 1e3))


def grid_vector(results: dict[str, Prediction], models: list[str]) -> np.ndarray:
    """Per grid model: posterior medians of its parameters and log10 of its fit χ²."""
    out = []
    for name in models:
        prediction = results.get(name)
        if prediction is None:
            raise DataError(f"the empirical scale needs the grid model {name!r}")
        # a network answer's own medians, before it was clipped to the grid's box (what
        # layers fitted on network answers learned from); else the posterior's
        out += prediction.sampling.get("network_median") or \
            np.median(prediction.samples, axis=0).tolist()
        chi2 = prediction.chi2_red
        out.append(np.log10(chi2) if np.isfinite(chi2) and chi2 > 0 else 3.0)
    return np.array(out)


def best_log_chi2(results: dict[str, Prediction]) -> float:
    """Log10 of the lowest finite reduced χ² among the grid models (3 when none is finite,
    as in :func:`grid_vector`), floored at 1e-3."""
    finite = [r.chi2_red for r in results.values() if np.isfinite(r.chi2_red)]
    return float(np.log10(max(min(finite), 1e-3))) if finite else 3.0


def grid_teff_spread(raw_grid: np.ndarray, feature_names: list[str]) -> np.ndarray:
    """Spread (max - min) of the grid models' Teff medians, from raw grid features whose
    columns are named by ``feature_names`` (``MODEL:teff`` ones are used)."""
    columns = [i for i, n in enumerate(feature_names) if n.endswith(":teff")]
    return np.ptp(np.atleast_2d(raw_grid)[:, columns], axis=1)


def misspecification_score(disagreement: np.ndarray, spread: np.ndarray,
                           y_std: float) -> np.ndarray:
    """How much the estimators disagree on Teff, in units of the labels' spread: the GP
    against the trees (``disagreement``, already in those units) plus
    :data:`MISFIT_SPREAD_WEIGHT` x the spread of the grid models' Teff."""
    return disagreement + MISFIT_SPREAD_WEIGHT * spread / y_std


class GridAnswers(Protocol):
    """What :meth:`EmpiricalModel.apply` reads of the grid models' answers for a spectrum:
    :class:`telescopeml.pretrained.Choice` is one (typed here as a protocol, so that this
    module need not import the chooser, which imports it)."""

    #: Name of the grid model whose answer is :attr:`prediction`.
    model: str
    #: That model's prediction.
    prediction: Prediction
    #: Every grid model's prediction that succeeded, by model name.
    results: dict[str, Prediction]


@dataclass
class Assessment:
    """What the empirical layer says about a batch of spectra."""

    #: ``{param: (point estimate, error scale)}``.
    estimates: dict[str, tuple[np.ndarray, np.ndarray]]
    #: 0 like the labeled training spectra .. 1 unlike all of them.
    typicality: np.ndarray
    #: :func:`misspecification_score` of the Teff estimators.
    misspecification: np.ndarray


@dataclass
class ParameterModel:
    """The empirical regression of one parameter: GP and boosted trees averaged, and the
    model-mismatch term (a log-linear scale times conformal quantiles of the residuals)."""

    gp: GaussianProcess
    trees: TreeEnsemble
    y_mean: float
    y_std: float
    scale_coef: np.ndarray
    quantiles: dict[str, float]
    label_range: tuple[float, float]

    def members(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The GP's and the trees' estimates at standardized features ``x``."""
        return self.gp.predict(x) * self.y_std + self.y_mean, self.trees.predict(x)

    def sigma(self, design: np.ndarray) -> np.ndarray:
        """Expected size of the error (1σ-like scale of the mismatch) for ``design`` rows."""
        return np.exp(design @ self.scale_coef)


def scale_design(typicality: np.ndarray, log_chi2: np.ndarray, teff: np.ndarray,
                 disagreement: np.ndarray, grid_spread: np.ndarray) -> np.ndarray:
    """The inputs of the error-scale model: 1, typicality, log χ², the disagreement of the
    GP and the trees (in units of the label's spread), the spread of the grid models' Teff
    (1000 K units) and Teff bins."""
    teff = np.asarray(teff, dtype=np.float64)
    bins = [(teff < 1000), (teff >= 1000) & (teff < 1500), (teff >= 2000)]
    return np.column_stack([np.ones_like(teff), typicality, log_chi2, disagreement,
                            np.asarray(grid_spread) / 1000.0,
                            *(b.astype(np.float64) for b in bins)])


class EmpiricalModel:
    """A fitted empirical layer: loads and applies ``empirical.json`` + ``.safetensors``."""

    def __init__(self, meta: dict[str, Any], arrays: dict[str, np.ndarray],
                 path: Path | None = None) -> None:
        self.meta = meta
        self.arrays = arrays
        self.path = path
        self.params: list[str] = list(meta["params"])
        self.models: list[str] = list(meta["grid_models"])
        self.wavelength = np.asarray(arrays["wavelength"], dtype=np.float64)
        self.pca_mean = arrays["pca.mean"]
        self.pca_components = arrays["pca.components"]
        self.pca_scale = arrays["pca.scale"]
        self.feature_mean = arrays["features.mean"]
        self.feature_std = arrays["features.std"]
        self.thresholds: dict[str, float] = dict(meta["flags"]["thresholds"])
        self.parameters = {
            p: ParameterModel(
                GaussianProcess.from_arrays(arrays, f"{p}.gp"),
                TreeEnsemble.from_arrays(arrays, f"{p}.trees"),
                float(meta["targets"][p]["y_mean"]), float(meta["targets"][p]["y_std"]),
                np.asarray(arrays[f"{p}.scale_coef"], dtype=np.float64),
                dict(meta["targets"][p]["quantiles"]),
                tuple(meta["targets"][p]["label_range"]))
            for p in self.params}

    # --- files ---------------------------------------------------------------------------
    @classmethod
    def load(cls, path: str | Path) -> EmpiricalModel:
        """Read a fitted layer; refuses other formats, versions and damaged arrays."""
        from safetensors import SafetensorError
        from safetensors.numpy import load_file

        path = Path(path)
        meta_file, arrays_file = path / META_FILE, path / ARRAYS_FILE
        if not meta_file.is_file() or not arrays_file.is_file():
            raise DataError(f"not an empirical-scale model (needs {META_FILE} and "
                            f"{ARRAYS_FILE})", path)
        meta = read_json(meta_file, META_FILE)
        if meta.get("format") != FORMAT:
            raise DataError(f"{META_FILE} is not a {FORMAT} file", path)
        if meta.get("format_version") != FORMAT_VERSION:
            raise DataError(f"empirical-scale format version {meta.get('format_version')} "
                            f"is not supported (this telescopeml reads {FORMAT_VERSION})", path)
        if sha256_file(arrays_file) != meta.get("arrays_sha256"):
            raise DataError(f"{ARRAYS_FILE} does not match the checksum in {META_FILE} "
                            "(damaged or replaced)", path)
        try:
            arrays = load_file(str(arrays_file))
            model = cls(meta, arrays, path)
        except (KeyError, ValueError, SafetensorError) as exc:
            raise DataError(f"inconsistent empirical-scale model ({exc})", path) from None
        n_features = len(meta.get("feature_names", []))
        if model.feature_mean.size != n_features or any(
                p.gp.x_train.shape[1] != n_features for p in model.parameters.values()):
            raise DataError(f"inconsistent empirical-scale model: {n_features} feature names "
                            f"for {model.feature_mean.size} features", path)
        return model

    def save(self, path: str | Path) -> Path:
        """Write the arrays and the metadata (with their checksum) to directory ``path``."""
        from safetensors.numpy import save_file

        from telescopeml.bundle import atomic_directory
        from telescopeml.jsonio import dumps

        with atomic_directory(path) as tmp:
            save_file({k: np.ascontiguousarray(v) for k, v in self.arrays.items()},
                      str(tmp / ARRAYS_FILE))
            meta = {**self.meta, "arrays_sha256": sha256_file(tmp / ARRAYS_FILE)}
            (tmp / META_FILE).write_text(dumps(meta, indent=2))
        self.path = Path(path)
        return self.path

    # --- features ------------------------------------------------------------------------
    def features(self, flux: np.ndarray, results: dict[str, Prediction]) -> np.ndarray:
        """Standardized feature vector of one spectrum (``flux`` on :attr:`wavelength`)."""
        vector = spectrum_vector(self.wavelength, flux)[0]
        if not np.all(np.isfinite(vector)):
            raise DataError("the spectrum's mean flux is not positive; no empirical estimate")
        pcs = (vector - self.pca_mean) @ self.pca_components.T / self.pca_scale
        raw = np.concatenate([grid_vector(results, self.models), pcs,
                              spectral_indices(self.wavelength, flux)[0]])
        return (raw - self.feature_mean) / self.feature_std

    def assess(self, x: np.ndarray, log_chi2: np.ndarray) -> Assessment:
        """Estimates, error scales and misspecification scores for standardized features
        ``x`` (one row per spectrum) and the best grid fits' log χ²."""
        x = np.atleast_2d(x)
        members = {p: m.members(x) for p, m in self.parameters.items()}
        means = {p: 0.5 * (a + b) for p, (a, b) in members.items()}
        typical = self.parameters[self.params[0]].gp.typicality(x)
        spread = grid_teff_spread(x * self.feature_std + self.feature_mean,
                                  self.meta["feature_names"])
        teff = means.get("teff", np.full(len(x), 1500.0))
        estimates, disagreement = {}, {}
        for p, m in self.parameters.items():
            disagreement[p] = np.abs(members[p][0] - members[p][1]) / m.y_std
            estimates[p] = (means[p], m.sigma(scale_design(typical, log_chi2, teff,
                                                           disagreement[p], spread)))
        misfit = misspecification_score(disagreement["teff"], spread,
                                        self.parameters["teff"].y_std)
        return Assessment(estimates, typical, misfit)

    # --- prediction ----------------------------------------------------------------------
    def apply(self, choice: GridAnswers, n_samples: int = 2000, seed: int = 0) -> Prediction:
        """The empirical-scale Prediction of a spectrum, from the grid models' results."""
        grid = choice.prediction
        results = {**choice.results, choice.model: grid}
        if self.models[0] not in results:
            raise DataError(f"the grid model {self.models[0]!r} could not read this spectrum",
                            grid.source)
        x = self.features(results[self.models[0]].observed, results)
        assessment = self.assess(x, np.array([best_log_chi2(results)]))
        estimates = assessment.estimates
        typical = float(assessment.typicality[0])
        misfit = float(assessment.misspecification[0])
        rng = np.random.default_rng(seed)
        columns, errors = [], {}
        for p in self.params:
            model = self.parameters[p]
            mean, sigma = float(estimates[p][0][0]), float(estimates[p][1][0])
            systematic = sigma * model_term_draws(model.quantiles, n_samples, rng)
            statistical = _statistical_draws(grid, p, n_samples, rng)
            low, high = parameter(p).bounds
            columns.append(np.clip(mean + systematic + statistical, low, high))
            errors[p] = {"statistical": float(np.std(statistical) if statistical.any() else 0.0),
                         "systematic": sigma * model.quantiles["68"]}
        prediction = copy.copy(grid)
        prediction.names = list(self.params)
        prediction.samples = np.column_stack(columns)
        prediction.scale = SCALE_EMPIRICAL
        prediction.model = f"empirical over {', '.join(self.models)}"
        prediction.errors = errors
        prediction.limits = {}
        self._add_grid_parameters(prediction, grid, choice.model, n_samples, rng)
        prediction.scores = {"typicality": typical, "misspecification": misfit}
        prediction.derived = {}
        if "radius_rjup" in grid.derived and "logg" in self.params:
            # the radius is the grid fit's (flux scale and distance); the mass takes it with
            # this scale's log g
            radius = grid.derived["radius_rjup"]
            logg = prediction.samples[rng.integers(0, n_samples, radius.size),
                                      self.params.index("logg")]
            prediction.derived = {"radius_rjup": radius, "mass_mjup": mass_mjup(logg, radius)}
        prediction.flags = self.flags(prediction, typical, misfit) + [
            f for f in grid.flags if f.startswith(INSTRUMENT_FLAG)]
        grid_q = np.median(grid.samples, axis=0)
        prediction.notes = [
            *[n for n in grid.notes if n.startswith(INPUT_NOTE)],
            *[f"atmosphere grid: {n}" for n in grid.flags + grid.notes
              if not n.startswith((INSTRUMENT_FLAG, INPUT_NOTE))],
            "atmosphere-grid scale (" + choice.model + "): " + ", ".join(
                f"{n} {v:.4g}{_unit(n)}" for n, v in zip(grid.names, grid_q, strict=True)),
        ]
        if prediction.parameter_scales:
            prediction.notes.append(
                f"{', '.join(prediction.parameter_scales)} on the atmosphere-grid scale "
                f"({choice.model}) only: no real labels exist to put them on the empirical one")
        return prediction

    def _add_grid_parameters(self, prediction: Prediction, grid: Prediction, model: str,
                             n_samples: int, rng: np.random.Generator) -> None:
        """The grid parameters the empirical scale has no labels for ([M/H], clouds), as
        columns of ``prediction`` on the atmosphere-grid scale: draws of the grid's posterior,
        its limits kept."""
        extra = [n for n in grid.names if n not in self.params]
        if not extra:
            return
        picks = rng.integers(0, len(grid.samples), n_samples)
        columns = [grid.samples[picks, grid.names.index(n)] for n in extra]
        prediction.names = [*prediction.names, *extra]
        prediction.samples = np.column_stack([prediction.samples, *columns])
        prediction.limits = {n: grid.limits[n] for n in extra if n in grid.limits}
        prediction.parameter_scales = {n: SCALE_GRID for n in extra}

    def flags(self, prediction: Prediction, typical: float, misfit: float) -> list[str]:
        """Reasons not to take the empirical answer at face value."""
        flags = []
        if typical > self.thresholds["typicality"]:
            flags.append(f"unlike the labeled spectra the empirical scale was learned on "
                         f"(typicality {typical:.2f} > {self.thresholds['typicality']:.2f}): "
                         "peculiar, binary, another instrument, or a kind of object "
                         "missing from the training set")
        if misfit > self.thresholds["misspecification"]:
            flags.append(f"the estimators disagree (misspecification {misfit:.2f} > "
                         f"{self.thresholds['misspecification']:.2f}): the empirical Teff of "
                         "objects like this one is uncertain beyond its error bar")
        for j, p in enumerate(self.params):
            low, high = self.parameters[p].label_range
            value = float(np.median(prediction.samples[:, j]))
            if not low <= value <= high:
                flags.append(f"{p} {value:.4g}{_unit(p)} lies outside the labeled range "
                             f"{low:g}-{high:g}{_unit(p)}: an extrapolation")
        return flags


def _unit(name: str) -> str:
    return parameter(name).suffix


def _statistical_draws(grid: Prediction, name: str, n: int,
                       rng: np.random.Generator) -> np.ndarray:
    """Deviations of the grid posterior from its median (the measurement-noise part)."""
    if name not in grid.names:
        return np.zeros(n)
    column = grid.samples[:, grid.names.index(name)]
    return column[rng.integers(0, column.size, n)] - np.median(column)


__all__ = ["INPUT_NOTE", "INSTRUMENT_FLAG", "SCALES", "SCALE_DESCRIPTION", "SCALE_EMPIRICAL",
           "SCALE_GRID", "UNITS", "EmpiricalModel", "GridAnswers", "describe", "grid_vector",
           "spectrum_vector"]
