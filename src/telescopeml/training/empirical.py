"""Fitting the empirical scale on real spectra with literature labels.

Features per object: what every shipped grid model says (posterior medians, log χ²), a few
principal components of the spectrum and spectral indices. Per label (Teff, log g): a
Gaussian process and boosted trees, averaged. Cross-validation over the objects gives
held-out residuals, from which the model-mismatch term is learned (a log-linear scale in
typicality, χ² and Teff) and calibrated with split-conformal quantiles; the flag thresholds
come from the same residuals.
"""

from __future__ import annotations

import dataclasses
import math
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from telescopeml.cache import sha256_file
from telescopeml.data.library import spectral_class
from telescopeml.empirical import (
    FORMAT,
    FORMAT_VERSION,
    INDICES,
    EmpiricalModel,
    best_log_chi2,
    grid_teff_spread,
    grid_vector,
    misspecification_score,
    scale_design,
    spectral_indices,
    spectrum_vector,
)
from telescopeml.errors import DataError, TelescopeMLError
from telescopeml.models.regressors import GaussianProcess, TreeEnsemble
from telescopeml.progress import stage
from telescopeml.version import __version__

#: Labels learned, with the literature columns they come from.
TARGETS = ("teff", "logg")
#: The instrument of the labeled objects (SpeX prism spectra): by default the layer reads the
#: shipped models made for it.
OBJECTS_INSTRUMENT = "SPEX-PRISM"
#: E[log|z|] for a standard normal z: the offset between log|residual| and log(scale).
LOG_ABS_NORMAL = -0.6351814


#: What the grid-model features of an empirical layer are (see ``EmpiricalConfig``).
GRID_ANSWERS = ("grid posterior", "network")


@dataclass
class EmpiricalConfig:
    """Options of the empirical fit (saved in the fitted model's metadata).

    Parameters
    ----------
    objects
        CSV of labeled objects (``name, data_file, teff, teff_err, logg, logg_err``; optional
        ``spt``, ``young_or_lowg``).
    grid_models
        Shipped grid models whose outputs are features (default: those made for
        :data:`OBJECTS_INSTRUMENT`).
    n_components
        Principal components of the spectrum added to the features.
    folds
        Cross-validation folds for the residuals that calibrate the error bars.
    trees, depth, learning_rate, subsample
        The boosted trees.
    flag_fraction
        Fraction of the (cross-validated) training objects with the largest
        misspecification score that gets a flag.
    typicality_quantile
        Typicality above this quantile of the training objects' is flagged.
    seed
        Seed of the folds and the trees.
    grid_answers
        Which answers of the grid models are features: ``"grid posterior"`` (what
        ``predict`` gives on the atmosphere-grid scale) or ``"network"`` (the networks'
        alone, ``--fast``). The layer records it and reads the same at prediction time.
    """

    objects: str = ""
    grid_models: list[str] = field(default_factory=list)
    n_components: int = 5
    folds: int = 10
    trees: int = 300
    depth: int = 3
    learning_rate: float = 0.03
    subsample: float = 0.8
    flag_fraction: float = 0.15
    typicality_quantile: float = 0.975
    seed: int = 0
    grid_answers: str = "grid posterior"

    def __post_init__(self) -> None:
        if self.grid_answers not in GRID_ANSWERS:
            raise ValueError(f"grid_answers must be one of {GRID_ANSWERS}, "
                             f"got {self.grid_answers!r}")


@dataclass
class LabeledSet:
    """Labeled objects with their grid-model results, ready to fit."""

    rows: list[dict[str, str]]
    flux: np.ndarray
    wavelength: np.ndarray
    grid: np.ndarray
    log_chi2: np.ndarray
    labels: dict[str, np.ndarray]
    errors: dict[str, np.ndarray]
    failed: list[tuple[str, str]]


def collect(objects: str | Path, models: list[str], progress: bool = True,
            seed: int = 0, fast: bool = False) -> LabeledSet:
    """Read every object's spectrum, run the grid models on it, gather labels."""
    from telescopeml.data.objects import load_object_spectrum, read_objects
    from telescopeml.pretrained import ModelChooser

    table = Path(objects)
    rows = read_objects(table)
    chooser = ModelChooser(models, fast=fast)
    spectra, kept, failed = [], [], []
    for row in rows:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                spectra.append(load_object_spectrum(row, table))
            kept.append(row)
        except TelescopeMLError as exc:
            failed.append((row["name"], str(exc)))
    with stage(f"running {len(models)} grid models on {len(spectra)} spectra (the grid's "
               "posterior of each)", progress):
        choices = chooser.choose_many(spectra, 1000, seed)
    rows_out, flux, grid, log_chi2 = [], [], [], []
    for row, choice in zip(kept, choices, strict=True):
        if isinstance(choice, TelescopeMLError) or any(m not in choice.results for m in models):
            failed.append((row["name"], str(choice)))
            continue
        rows_out.append(row)
        flux.append(choice.results[models[0]].observed)
        grid.append(grid_vector(choice.results, models))
        log_chi2.append(best_log_chi2(choice.results))
    if len(rows_out) < 3 * 10:
        raise DataError(f"only {len(rows_out)} usable labeled objects; at least 30 are needed",
                        table)
    labels = {t: np.array([float(r[t]) for r in rows_out]) for t in TARGETS}
    errors = {t: np.array([_float(r.get(f"{t}_err", "")) for r in rows_out]) for t in TARGETS}
    return LabeledSet(rows_out, np.array(flux), chooser.predictor(models[0]).wavelength,
                      np.array(grid), np.array(log_chi2), labels, errors, failed)


def _float(text: str) -> float:
    try:
        return float(text)
    except (TypeError, ValueError):
        return math.nan


def _fit_pca(vectors: np.ndarray, k: int) -> dict[str, np.ndarray]:
    mean = vectors.mean(axis=0)
    _, s, vt = np.linalg.svd(vectors - mean, full_matrices=False)
    return {"pca.mean": mean, "pca.components": vt[:k],
            "pca.scale": s[:k] / math.sqrt(len(vectors))}


def _fit_parameter(x: np.ndarray, y: np.ndarray, config: EmpiricalConfig
                   ) -> tuple[GaussianProcess, TreeEnsemble, float, float]:
    from sklearn.ensemble import GradientBoostingRegressor
    from sklearn.gaussian_process import GaussianProcessRegressor
    from sklearn.gaussian_process.kernels import RBF, WhiteKernel
    from sklearn.gaussian_process.kernels import ConstantKernel as C

    y_mean, y_std = float(y.mean()), float(y.std())
    kernel = C(1.0) * RBF(np.full(x.shape[1], 2.0), (0.05, 100.0)) + WhiteKernel(0.1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # length scales at their bounds
        gpr = GaussianProcessRegressor(kernel, random_state=config.seed).fit(
            x, (y - y_mean) / y_std)
    k = gpr.kernel_
    gp = GaussianProcess(x.copy(), gpr.alpha_.copy(), np.atleast_1d(k.k1.k2.length_scale),
                         float(k.k1.k1.constant_value), float(k.k2.noise_level))
    gbr = GradientBoostingRegressor(n_estimators=config.trees, max_depth=config.depth,
                                    learning_rate=config.learning_rate,
                                    subsample=config.subsample, random_state=config.seed)
    gbr.fit(x, y)
    return gp, trees_from_sklearn(gbr), y_mean, y_std


def trees_from_sklearn(gbr: Any) -> TreeEnsemble:
    """A :class:`TreeEnsemble` from a fitted scikit-learn ``GradientBoostingRegressor``."""
    trees = [e[0].tree_ for e in gbr.estimators_]
    n = max(t.node_count for t in trees)

    def pad(get, fill, dtype):
        out = np.full((len(trees), n), fill, dtype=dtype)
        for i, t in enumerate(trees):
            out[i, :t.node_count] = get(t)
        return out

    return TreeEnsemble(
        feature=pad(lambda t: np.maximum(t.feature, 0), 0, np.int64),
        threshold=pad(lambda t: t.threshold, 0.0, np.float64),
        left=pad(lambda t: t.children_left, -1, np.int64),
        right=pad(lambda t: t.children_right, -1, np.int64),
        value=pad(lambda t: t.value[:, 0, 0], 0.0, np.float64),
        base=float(np.ravel(gbr.init_.constant_)[0]), rate=float(gbr.learning_rate))


def _feature_names(models: list[str], n_components: int) -> list[str]:
    from telescopeml import pretrained

    shipped = pretrained.available()
    return [*(f"{m}:{p}" for m in models
              for p in [*shipped[m]["parameters"]["names"], "log_chi2"]),
            *(f"pc{i + 1}" for i in range(n_components)), *INDICES, "H-cont"]


def _conformal_deconvolved(z: np.ndarray, lit: np.ndarray, level: float, k: float) -> float:
    """The smallest multiple q of the error scale whose interval, widened by the literature
    error (``k`` times it, both in scale units), holds the literature value for a fraction
    ``level`` of the objects (finite-sample corrected, as in split conformal prediction).

    Calibrating against literature values that carry their own errors would otherwise make
    intervals for the true value too wide."""
    n = z.size
    target = min(1.0, math.ceil((n + 1) * level) / n)
    low, high = 0.0, float(z.max()) + 1.0
    for _ in range(60):
        q = 0.5 * (low + high)
        if np.mean(z <= np.sqrt(q**2 + (k * lit) ** 2)) >= target:
            high = q
        else:
            low = q
    return high


def fit_empirical(config: EmpiricalConfig, progress: bool = True,
                  data: LabeledSet | None = None) -> tuple[EmpiricalModel, dict[str, Any]]:
    """Fit the empirical layer; return it with its arrays' report (cross-validated metrics).

    ``data`` (from :func:`collect`) skips reading the spectra again.
    """
    from sklearn.model_selection import KFold

    from telescopeml import pretrained

    started = time.time()
    models = config.grid_models or pretrained.made_for(OBJECTS_INSTRUMENT)
    config = dataclasses.replace(config, grid_models=models)
    data = data or collect(config.objects, models, progress, config.seed,
                           fast=config.grid_answers == "network")
    vectors = spectrum_vector(data.wavelength, data.flux)
    pca = _fit_pca(vectors, config.n_components)
    pcs = (vectors - pca["pca.mean"]) @ pca["pca.components"].T / pca["pca.scale"]
    raw = np.column_stack([data.grid, pcs, spectral_indices(data.wavelength, data.flux)])
    f_mean, f_std = raw.mean(axis=0), raw.std(axis=0)
    f_std[f_std == 0] = 1.0
    x = (raw - f_mean) / f_std

    folds = list(KFold(config.folds, shuffle=True, random_state=config.seed).split(x))
    cv = {t: np.empty(len(x)) for t in TARGETS}
    disagreement = {t: np.empty(len(x)) for t in TARGETS}
    typical = np.empty(len(x))
    for i, (train, test) in enumerate(folds):
        if progress:
            print(f"cross-validation fold {i + 1}/{len(folds)}", file=sys.stderr)
        for t in TARGETS:
            gp, trees, y_mean, y_std = _fit_parameter(x[train], data.labels[t][train], config)
            a, b = gp.predict(x[test]) * y_std + y_mean, trees.predict(x[test])
            cv[t][test] = 0.5 * (a + b)
            disagreement[t][test] = np.abs(a - b) / y_std
            if t == TARGETS[0]:
                typical[test] = gp.typicality(x[test])
    spread = grid_teff_spread(data.grid, _feature_names(models, 0))
    arrays: dict[str, np.ndarray] = {"wavelength": data.wavelength, **pca,
                                     "features.mean": f_mean, "features.std": f_std}
    targets: dict[str, Any] = {}
    sigma_cv = {}
    for t in TARGETS:
        residual = cv[t] - data.labels[t]
        target = np.log(np.abs(residual) + 1e-6 * data.labels[t].std()) - LOG_ABS_NORMAL
        design = scale_design(typical, data.log_chi2, cv["teff"], disagreement[t], spread)
        coef = np.linalg.lstsq(design, target, rcond=None)[0]
        sigma_cv[t] = np.exp(design @ coef)
        z = np.abs(residual) / sigma_cv[t]
        lit = np.nan_to_num(data.errors[t]) / sigma_cv[t]
        quantiles = {"68": _conformal_deconvolved(z, lit, 0.68, 1.0),
                     "95": _conformal_deconvolved(z, lit, 0.95, 1.96)}
        gp, trees, y_mean, y_std = _fit_parameter(x, data.labels[t], config)
        arrays |= gp.arrays(f"{t}.gp") | trees.arrays(f"{t}.trees")
        arrays[f"{t}.scale_coef"] = coef
        targets[t] = {"y_mean": y_mean, "y_std": y_std, "quantiles": quantiles,
                      "label_range": [float(data.labels[t].min()), float(data.labels[t].max())]}
    misfit = misspecification_score(disagreement["teff"], spread, data.labels["teff"].std())
    thresholds = {"typicality": float(np.quantile(typical, config.typicality_quantile)),
                  "misspecification": float(np.quantile(misfit, 1 - config.flag_fraction))}
    flagged = (typical > thresholds["typicality"]) | (misfit > thresholds["misspecification"])
    report = cv_report(data, cv, sigma_cv, targets, flagged)
    meta = {
        "format": FORMAT, "format_version": FORMAT_VERSION,
        "telescopeml_version": __version__,
        "params": list(TARGETS),
        "scale": "empirical",
        "grid_models": models,
        "grid_answers": config.grid_answers,
        "grid_model_weights": {m: pretrained.available()[m].get("weights", {}).get("sha256", "")
                               for m in models},
        "feature_names": _feature_names(models, config.n_components),
        "targets": targets,
        "flags": {"thresholds": thresholds},
        "config": dataclasses.asdict(config),
        "data": {"objects": Path(config.objects).name,
                 "objects_sha256": sha256_file(config.objects) if config.objects else "",
                 "n_objects": len(data.rows), "failed": data.failed},
        "cross_validation": report,
        "fit_seconds": round(time.time() - started, 1),
    }
    return EmpiricalModel(meta, arrays), report


def cv_report(data: LabeledSet, cv: dict[str, np.ndarray], sigma: dict[str, np.ndarray],
              targets: dict[str, Any], flagged: np.ndarray) -> dict[str, Any]:
    """Cross-validated accuracy and interval coverage on the training objects."""
    young = np.array([r.get("young_or_lowg", "").strip().lower() == "true" for r in data.rows])
    classes = np.array([spectral_class(r.get("spt", "")) for r in data.rows])
    out: dict[str, Any] = {"n": len(data.rows)}
    for t in TARGETS:
        err = cv[t] - data.labels[t]
        lit = np.nan_to_num(data.errors[t])
        block: dict[str, Any] = {"rmse": _rms(err), "bias": float(err.mean())}
        for level in ("68", "95"):
            half = sigma[t] * targets[t]["quantiles"][level]
            k = 1.0 if level == "68" else 1.96
            block[f"coverage_{level}"] = float(np.mean(np.abs(err) <= half))
            block[f"consistent_{level}"] = float(np.mean(
                np.abs(err) <= np.sqrt(half**2 + (k * lit) ** 2)))
        block["young_rmse"] = _rms(err[young]) if young.any() else math.nan
        block["by_class"] = {c: _rms(err[classes == c]) for c in "MLT" if (classes == c).any()}
        block["flagged_rmse"] = _rms(err[flagged])
        block["unflagged_rmse"] = _rms(err[~flagged])
        out[t] = block
    out["flagged_fraction"] = float(flagged.mean())
    return out


def _rms(values: np.ndarray) -> float:
    return float(np.sqrt(np.mean(values**2))) if values.size else math.nan


def save(model: EmpiricalModel, out: str | Path, command: str | None = None) -> Path:
    """Write a fitted layer to directory ``out``."""
    if command:
        model.meta["command"] = command
    return model.save(out)
