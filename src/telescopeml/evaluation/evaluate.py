"""Evaluate a trained model on its held-out grid points, next to classical baselines."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from telescopeml.data.augment import sample_test_set
from telescopeml.data.chi2 import chi2_best_match
from telescopeml.data.scatter import node_scatter
from telescopeml.data.splits import is_edge
from telescopeml.evaluation.baselines import chi2_library, random_forest_baseline
from telescopeml.evaluation.crlb import crlb_report, grid_bound
from telescopeml.evaluation.metrics import regression_metrics
from telescopeml.models.cnn import predict
from telescopeml.progress import stage

#: S/N levels of the report; ``None`` is the clean (noise-free) spectrum.
SNR_LEVELS: tuple[float | None, ...] = (None, 10.0, 30.0, 100.0)
#: Noise draws per test spectrum at each finite S/N.
NOISE_REPEATS = 4


def snr_key(snr: float | None) -> str:
    """``"clean"`` or the S/N as a short string (``"30"``)."""
    return "clean" if snr is None else f"{snr:g}"


def noisy_test_sets(prepared, seed: int = 0, levels: Sequence[float | None] = SNR_LEVELS):
    """``{key: (flux, sigma, params, edge_mask)}`` for the test split at each S/N."""
    test = prepared.split.test
    edge = is_edge(prepared.grid, test)
    sets = {}
    for snr in levels:
        repeats = 1 if snr is None else NOISE_REPEATS
        batches = [sample_test_set(prepared.grid, test, snr, seed=seed + 1000 * r)
                   for r in range(repeats)]
        sets[snr_key(snr)] = (
            np.concatenate([b.flux for b in batches]),
            np.concatenate([b.sigma for b in batches]),
            np.concatenate([b.params for b in batches])[:, prepared.target_columns],
            np.tile(edge, repeats),
        )
    return sets


def predict_parameters(model: torch.nn.Module, prepared, flux: np.ndarray,
                       sigma: np.ndarray) -> np.ndarray:
    """Physical parameter estimates ``(n, n_targets)`` (the mean for Gaussian heads)."""
    x, extra = prepared.inputs(flux, sigma)
    out = predict(model, x, extra if model.config.n_extra else None)
    return prepared.scaler.inverse_transform(out[:, : len(prepared.targets)])


def _report(predictor: Callable[[np.ndarray, np.ndarray], np.ndarray], sets, names):
    """Metric tables ``{"snr", "interior", "edge"}`` and the predictions, per S/N key."""
    table: dict[str, Any] = {"snr": {}, "interior": {}, "edge": {}, "predicted": {}}
    for key, (flux, sigma, truth, edge) in sets.items():
        pred = table["predicted"][key] = predictor(flux, sigma)
        table["snr"][key] = regression_metrics(truth, pred, names)
        if (~edge).any():
            table["interior"][key] = regression_metrics(truth[~edge], pred[~edge], names)
        if edge.any():
            table["edge"][key] = regression_metrics(truth[edge], pred[edge], names)
    return table


def scaled_mse(prepared, predicted: dict[str, np.ndarray], sets) -> dict[str, Any]:
    """The training loss's measure of error on the test points: the mean squared error of
    the scaled targets (log Teff, standardized), per S/N key and averaged over them.

    It is the quantity that a regression model's validation loss (``loss = "mse"``) and
    ``telescopeml tune`` minimize, here on points that neither saw, so a tuned config and
    the default compare on one number.
    """
    scale = prepared.scaler.transform
    by_snr = {key: float(np.mean((scale(predicted[key]) - scale(truth)) ** 2))
              for key, (_, _, truth, _) in sets.items()}
    return {"by_snr": by_snr, "mean": float(np.mean(list(by_snr.values())))}


def crlb(prepared, interior: dict[str, Any] | None = None) -> dict[str, Any]:
    """The Cramér-Rao bounds at the test points at each finite S/N of :data:`SNR_LEVELS`
    (:func:`~telescopeml.evaluation.crlb.crlb_report`), every varying grid axis unknown and
    the flux scale free, and the held-out bounds (the grid's node scatter added,
    :func:`~telescopeml.data.scatter.node_scatter`); ``interior`` (the evaluation's
    interior table) adds RMSE / bound."""
    test = prepared.split.test
    levels = [s for s in SNR_LEVELS if s is not None]
    bounds = grid_bound(prepared.grid, test, levels)
    scatter = node_scatter(prepared.grid)
    held_out = (None if scatter is None
                else grid_bound(prepared.grid, test, levels, scatter=scatter))
    return crlb_report(bounds, ~is_edge(prepared.grid, test), prepared.targets, interior,
                       held_out)


def evaluate_prepared(model: torch.nn.Module, prepared, seed: int = 0, baselines: bool = True,
                      progress: bool = True) -> dict[str, Any]:
    """Metrics of ``model`` and the baselines on the test grid points.

    Returns the JSON shape of ``telescopeml evaluate --json``: ``model``-independent keys
    ``grid``, ``n_test``, ``snr`` {clean, 10, 30, 100} -> {param -> {rmse, mae, bias, r2}},
    ``interior`` and ``edge`` (same shape, interior / edge test points only), ``scaled_mse``
    (:func:`scaled_mse`), ``crlb`` (the Cramér-Rao bounds and RMSE / CRLB, :func:`crlb`),
    ``baselines`` {name -> same shape as ``snr``} and ``inference`` (spectra per second).
    """
    names = prepared.targets
    sets = noisy_test_sets(prepared, seed)
    n_spectra = sum(len(v[0]) for v in sets.values())
    with stage(f"predicting {n_spectra} test spectra with the network (S/N "
               f"{', '.join(sets)})", progress):
        net = _report(lambda f, s: predict_parameters(model, prepared, f, s), sets, names)
    flux30, sigma30, truth30, edge30 = sets["30"]
    test_predictions = {"30": {"truth": truth30.tolist(), "edge": edge30.tolist(),
                               "predicted": net["predicted"]["30"].tolist()}}
    repeats = max(1, 20000 // len(flux30))
    big, big_sigma = np.tile(flux30, (repeats, 1)), np.tile(sigma30, (repeats, 1))
    with stage(f"timing the network on {len(big)} spectra", progress):
        start = time.perf_counter()
        predict_parameters(model, prepared, big, big_sigma)
        rate = len(big) / (time.perf_counter() - start)
    with stage("Cramér-Rao bounds of the test points", progress):
        bounds = crlb(prepared, net["interior"])
    result: dict[str, Any] = {
        "grid": prepared.grid.meta.get("name"),
        "n_test": len(prepared.split.test),
        "n_test_interior": int((~is_edge(prepared.grid, prepared.split.test)).sum()),
        "snr": net["snr"],
        "interior": net["interior"],
        "edge": net["edge"],
        "scaled_mse": scaled_mse(prepared, net["predicted"], sets),
        "crlb": bounds,
        "inference": {"spectra_per_second": rate, "threads": torch.get_num_threads()},
        "baselines": {},
        "baselines_interior": {},
        "test_predictions": test_predictions,
    }
    if model.config.head == "flow":
        with stage(f"calibration: sampling {CALIBRATION_SAMPLES} posterior draws for each of "
                   f"{len(flux30)} test spectra at S/N 30", progress):
            result["calibration"] = calibrate(model, prepared, flux30, sigma30, truth30,
                                              progress=progress)
    if baselines:
        predictors = baseline_predictors(prepared, seed, progress)
        with stage(f"scoring the baselines on the {n_spectra} test spectra", progress):
            for name, predictor in predictors.items():
                table = _report(predictor, sets, names)
                result["baselines"][name] = table["snr"]
                result["baselines_interior"][name] = table["interior"]
    return result


#: Posterior samples per test spectrum for the calibration diagnostics.
CALIBRATION_SAMPLES = 500


def posterior_samples(model: torch.nn.Module, prepared, flux: np.ndarray, sigma: np.ndarray,
                      n_samples: int = CALIBRATION_SAMPLES, seed: int = 0,
                      progress: bool = False) -> np.ndarray:
    """``(n_samples, n_spectra, n_targets)`` flow posterior samples in physical units, each
    spectrum's recalibrated at its own S/N; ``progress`` shows a bar."""
    from telescopeml.models.recalibration import spectrum_snr

    generator = torch.Generator().manual_seed(seed)
    snr = spectrum_snr(flux, sigma)
    with torch.inference_mode():
        chunks = [posterior.sample(n_samples, generator, snr[rows])
                  for rows, posterior in _posteriors(model, prepared, flux, sigma, progress)]
    scaled = torch.cat(chunks, dim=1).numpy()
    samples = prepared.scaler.inverse_transform(scaled.reshape(-1, scaled.shape[-1]))
    return samples.reshape(scaled.shape)


def calibrate(model: torch.nn.Module, prepared, flux: np.ndarray, sigma: np.ndarray,
              truth: np.ndarray, n_samples: int = CALIBRATION_SAMPLES, seed: int = 0,
              progress: bool = False) -> dict[str, Any]:
    """Coverage at every credibility level, TARP and SBC of a flow posterior on test spectra.

    Returns ``{"n", "levels", "coverage": {param: [...]}, "tarp": {"alpha", "ecp",
    "distance"}, "sbc_pvalues": {param: p}, "median_width68": {param: w}, "check":
    {"passed", "failures", ...}}``, ``w`` being the median over the spectra of the 16-84%
    width of their posteriors.
    """
    from telescopeml.evaluation.calibration import (
        LEVELS,
        check_calibration,
        coverage,
        sbc_pvalues,
        sbc_ranks,
        tarp,
    )

    samples = posterior_samples(model, prepared, flux, sigma, n_samples, seed, progress)
    names = prepared.targets
    cov = coverage(samples, truth, LEVELS)
    alpha, ecp, distance = tarp(samples, truth, seed=seed)
    check = check_calibration(samples, truth, names, seed=seed)
    pvalues = sbc_pvalues(sbc_ranks(samples, truth), n_samples)
    low, high = np.quantile(samples, (0.16, 0.84), axis=0)
    return {
        "n": len(truth),
        "levels": LEVELS.tolist(),
        "coverage": {n: cov[:, j].tolist() for j, n in enumerate(names)},
        "tarp": {"alpha": alpha.tolist(), "ecp": ecp.tolist(), "distance": float(distance)},
        "sbc_pvalues": {n: float(pvalues[j]) for j, n in enumerate(names)},
        "median_width68": {n: float(np.median(high[:, j] - low[:, j]))
                           for j, n in enumerate(names)},
        "check": {"passed": bool(check.passed), "failures": list(check.failures),
                  "tarp_distance": float(check.tarp_distance),
                  "coverage": {f"{k:g}": [float(v) for v in np.atleast_1d(c)]
                               for k, c in check.coverage.items()}},
    }


def fit_posterior_recalibration(model: torch.nn.Module, prepared, batch,
                                n_samples: int = CALIBRATION_SAMPLES, seed: int = 0,
                                progress: bool = False):
    """The :class:`~telescopeml.models.recalibration.Recalibration` of a flow posterior,
    fitted on validation spectra ``batch`` (a ``TrainingBatch`` at several S/N): one
    level-dependent stretch per S/N, in the flow's unconstrained space, so samples stay
    inside the prior box; ``progress`` shows a bar."""
    from telescopeml.data.augment import CLEAN_SNR
    from telescopeml.models.recalibration import Recalibration

    generator = torch.Generator().manual_seed(seed)
    us, truths = [], []
    labels = torch.from_numpy(prepared.labels(batch.params))
    with torch.inference_mode():
        for rows, posterior in _posteriors(model, prepared, batch.flux, batch.sigma,
                                           progress):
            z = torch.randn((n_samples, posterior.batch_size, posterior.n_outputs),
                            generator=generator)
            us.append(posterior.unconstrained(z))
            truths.append(posterior.to_unconstrained(labels[rows]))
    snr = np.where(np.isfinite(batch.snr), batch.snr, CLEAN_SNR)
    return Recalibration.fit(torch.cat(us, dim=1).numpy(), torch.cat(truths).numpy(), snr)


def _posteriors(model: torch.nn.Module, prepared, flux: np.ndarray, sigma: np.ndarray,
                progress: bool = False, chunk: int = 256):
    """``(rows, posterior)``: the flow posteriors of the spectra ``rows`` (a slice),
    ``chunk`` at a time (call in inference mode); ``progress``: a bar over the spectra."""
    from tqdm.auto import tqdm

    x, extra = prepared.inputs(flux, sigma)
    with tqdm(total=len(x), desc="posteriors", unit="spectrum", disable=not progress,
              dynamic_ncols=True) as bar:
        for start in range(0, len(x), chunk):
            rows = slice(start, start + chunk)
            xb = torch.from_numpy(x[rows])
            eb = torch.from_numpy(extra[rows]) if model.config.n_extra else None
            yield rows, model.posterior(xb, eb)  # the caller samples it
            bar.update(len(xb))


def baseline_predictors(prepared, seed: int = 0, progress: bool = True,
                        n_interpolated: int = 20000) -> dict[str, Callable]:
    """Nearest-grid χ², interpolated-grid χ² and random forest, fit on training data only."""
    cols = prepared.target_columns
    grid = prepared.grid
    train = prepared.split.train
    node_flux = grid.flux_array()[train]
    node_params = grid.parameter_matrix()[train][:, cols]
    with stage(f"baselines: interpolating {n_interpolated} grid spectra for the χ² fit",
               progress):
        dense_flux, dense_params = chi2_library(grid, train, n_interpolated, seed=seed)
    dense_params = dense_params[:, cols]
    batch = prepared.augmenter.epoch(0)
    with stage(f"baselines: fitting a random forest on {len(batch.flux)} training spectra",
               progress):
        features = _forest_features(prepared, batch.flux, batch.sigma)
        forest = random_forest_baseline(features, batch.params[:, cols], seed=seed)

    def nearest(flux, sigma):
        return node_params[chi2_best_match(node_flux, flux, sigma)[0]]

    def interpolated(flux, sigma):
        return dense_params[chi2_best_match(dense_flux, flux, sigma)[0]]

    def random_forest(flux, sigma):
        return forest.predict(_forest_features(prepared, flux, sigma))

    return {"nearest_grid_chi2": nearest, "interpolated_grid_chi2": interpolated,
            "random_forest": random_forest}


def _forest_features(prepared, flux: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    x, _ = prepared.inputs(flux, sigma)
    return x[:, 0, ::2]


def load_with_data(path, quiet: bool = True):
    """A saved model with its data rebuilt: ``(bundle, prepared, seed)``, the seed being its
    training seed, which also seeds its test sets' noise (:func:`noisy_test_sets`)."""
    from telescopeml.bundle import load_bundle
    from telescopeml.data.prepared import prepared_from_manifest

    bundle = load_bundle(path)
    prepared = prepared_from_manifest(bundle.manifest, quiet=quiet)
    return bundle, prepared, bundle.manifest["training"]["config"]["train"]["seed"]


def evaluate_bundle(path, baselines: bool = True, progress: bool = True) -> dict[str, Any]:
    """Evaluate a saved model on its own held-out grid points (see :func:`evaluate_prepared`)."""
    with stage("loading the model and its grid", progress):
        bundle, prepared, seed = load_with_data(path, quiet=not progress)
    result = evaluate_prepared(bundle.model, prepared, seed=seed, baselines=baselines,
                               progress=progress)
    return {"model": str(path), **result}
