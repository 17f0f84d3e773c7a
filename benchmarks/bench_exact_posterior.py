"""The default grid-scale answer against a long reference MCMC of the same likelihood.

For each shipped model and each real spectrum it reads (the dev objects inside the model's
Teff range, and the real JWST spectra that ucdmcmc carries, each with the model that
`telescopeml predict` chooses for it):

- the default answer (`Predictor`, the grid's posterior proposed by the network) and the
  network's answer alone (`fast=True`), each timed as one batch;
- (the JWST models' model-mismatch term is left out of both: it widens the grid's answer by
  the grid's measured error on real spectra, which the reference does not know);
- a reference: emcee with 32 walkers x ``--steps`` steps on the same likelihood (same grid,
  pixels, node scatter and model-error prior), started from the 32 best grid nodes, so that
  it shares nothing with the default's mode search;
- per spectrum and parameter: |median - reference median| / reference σ and the ratio of the
  68% widths; the χ² (observed σ + 5% model term, free scale) of the grid spectrum at the
  default's median over the best χ² among the reference chain's samples; the ESS and method.

Summary: the share of spectra whose medians are all within 0.2 reference σ and widths
within 15%, the χ² ratio, the ESS distribution, the share that needed MCMC, the grid-scale
Teff RMSE against the literature (default, network alone, reference), and the time per
spectrum in a batch.

Run: python benchmarks/bench_exact_posterior.py --objects ../shared/benchmarks/dev_objects.csv \
         --out benchmarks/results/exact_posterior.json [--steps 5000] [--every 1] [--no-jwst]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np

from telescopeml import pretrained
from telescopeml.data.chi2 import chi2_fit
from telescopeml.data.library import find_entry
from telescopeml.data.objects import load_object_spectrum, read_objects
from telescopeml.data.scatter import node_scatter
from telescopeml.data.spectrum import ObservedSpectrum
from telescopeml.errors import TelescopeMLError
from telescopeml.inference.diagnostics import MODEL_SYSTEMATIC, grid_points
from telescopeml.inference.likelihood import GridLikelihood
from telescopeml.predict import Predictor

WALKERS = 32
JWST = [("Wolf1130C", "JWST-NIRSPEC-PRISM"), ("UNCOVER33436", "JWST-NIRSPEC-PRISM"),
        ("J1624+0029", "JWST-NIRSPEC-MIRI"), ("Wolf1130C", "JWST-NIRSPEC-G395H")]


def reference_chain(like: GridLikelihood, network: np.ndarray, steps: int, seed: int
                    ) -> tuple[np.ndarray, float, float]:
    """emcee with half its walkers at the best nodes and half at the network's samples
    (``network``, in the grid's axes): ``(samples after a quarter burn-in, largest τ,
    highest log posterior seen)``."""
    import emcee

    rng = np.random.default_rng(seed)
    nodes, _ = like.node_scan(WALKERS // 2)
    picks = network[rng.choice(len(network), WALKERS - len(nodes))]
    span = like.bounds[:, 1] - like.bounds[:, 0]
    start = np.column_stack([np.vstack([nodes, picks]), np.full(WALKERS, np.log(0.05))])
    start = start + 0.01 * span * rng.standard_normal(start.shape)
    start = np.clip(start, like.bounds[:, 0], like.bounds[:, 1])
    sampler = emcee.EnsembleSampler(WALKERS, like.dim, like.log_posterior, vectorize=True)
    sampler.random_state = np.random.RandomState(seed).get_state()
    sampler.run_mcmc(start, steps, progress=False)
    tau = float(np.max(sampler.get_autocorr_time(tol=0)))
    return (sampler.get_chain(discard=steps // 4, flat=True), tau,
            float(np.max(sampler.get_log_prob())))


def chi2_at(predictor: Predictor, flux: np.ndarray, sigma: np.ndarray,
            points: np.ndarray) -> np.ndarray:
    """χ² (observed σ + the fit check's model term, free scale) of the grid spectra at
    ``points`` (rows in ``predictor.names``)."""
    grid = predictor.grid
    models = grid.interpolate_points(grid_points(grid, predictor.names, points)
                                     ).astype(np.float64)
    fit = chi2_fit(flux, models, sigma, free_scale=True, model_fraction=MODEL_SYSTEMATIC)
    return np.atleast_1d(fit.chi2)


def compare(predictor: Predictor, spectrum: ObservedSpectrum, default, network,
            steps: int, scatter: np.ndarray | None, seed: int) -> dict:
    """One spectrum: the default against the reference chain."""
    flux, sigma, good = predictor.prepare(predictor.ready(spectrum))
    like = GridLikelihood(predictor.grid, flux, sigma, good=good, scatter=scatter)
    proposals = np.column_stack([network.samples[:, network.names.index(a)]
                                 for a in like.axes])
    start = time.perf_counter()
    chain, tau, best = reference_chain(like, proposals, steps, seed)
    seconds = time.perf_counter() - start
    columns = [like.names.index(n) for n in predictor.names]
    ref_q = np.quantile(chain[:, columns], (0.16, 0.5, 0.84), axis=0)
    q = default.quantiles((0.16, 0.5, 0.84))
    ref_sigma = np.maximum((ref_q[2] - ref_q[0]) / 2, 1e-9)
    thin = chain[np.random.default_rng(seed).choice(len(chain), 2000)][:, columns]
    best_ref = float(np.min(chi2_at(predictor, flux, sigma, thin)))
    at_median = float(chi2_at(predictor, flux, sigma, q[1][None])[0])
    return {
        "name": spectrum.name, "model": predictor.path.name,
        "method": default.sampling.get("method"), "ess": default.sampling.get("ess"),
        "median": dict(zip(predictor.names, q[1].tolist(), strict=True)),
        "reference_median": dict(zip(predictor.names, ref_q[1].tolist(), strict=True)),
        "median_offset_sigma": dict(zip(predictor.names,
                                        (np.abs(q[1] - ref_q[1]) / ref_sigma).tolist(),
                                        strict=True)),
        "width_ratio": dict(zip(predictor.names,
                                ((q[2] - q[0]) / (ref_q[2] - ref_q[0])).tolist(), strict=True)),
        "chi2_ratio": at_median / best_ref, "reference_tau": tau,
        "reference_best_log_posterior": best,
        "reference_seconds": seconds,
    }


def run_model(name: str, spectra: list[tuple[ObservedSpectrum, dict]], steps: int,
              seed: int) -> dict:
    """Default, network alone and reference for ``spectra`` (with their literature rows)."""
    default = pretrained.load(name)
    fast = pretrained.load(name, fast=True)
    for predictor in (default, fast):  # the reference knows no model-mismatch term either
        predictor.manifest.pop("mismatch", None)
    items = [s for s, _ in spectra]
    timings = {}
    answers = {}
    for label, predictor in (("default", default), ("fast", fast)):
        predictor.predict_many(items[:1], n_samples=2000)  # load the grid and the network
        start = time.perf_counter()
        answers[label] = predictor.predict_many(items, n_samples=2000, seed=seed)
        timings[label] = (time.perf_counter() - start) / len(items)
    scatter = node_scatter(default.grid)
    rows = []
    for (spectrum, literature), answer, network in zip(spectra, answers["default"],
                                                       answers["fast"], strict=True):
        if isinstance(answer, TelescopeMLError):
            rows.append({"name": spectrum.name, "model": name, "error": str(answer)})
            continue
        row = compare(default, spectrum, answer, network, steps, scatter, seed)
        row["literature"] = literature
        row["network_median"] = network.median
        rows.append(row)
        print(f"  {spectrum.name[:28]:28s} {row['method']:10s} ESS {row['ess'] or 0:6.0f}  "
              f"Teff {row['median']['teff']:6.0f} ref {row['reference_median']['teff']:6.0f} "
              f"net {network.median['teff']:6.0f}  chi2 ratio {row['chi2_ratio']:.3f}",
              flush=True)
    return {"model": name, "seconds_per_spectrum": timings, "rows": rows}


def summary(rows: list[dict]) -> dict:
    """The issue's criteria over ``rows``."""
    done = [r for r in rows if "error" not in r]
    within = [all(v <= 0.2 for v in r["median_offset_sigma"].values())
              and all(abs(v - 1) <= 0.15 for v in r["width_ratio"].values()) for r in done]
    ess = [r["ess"] for r in done if r["method"] == "importance"]
    out = {"n": len(done), "share_within": float(np.mean(within)),
           "share_medians_within_0.2_sigma": float(np.mean(
               [all(v <= 0.2 for v in r["median_offset_sigma"].values()) for r in done])),
           "share_widths_within_15pc": float(np.mean(
               [all(abs(v - 1) <= 0.15 for v in r["width_ratio"].values()) for r in done])),
           "chi2_ratio_percentiles_50_90_max": np.percentile(
               [r["chi2_ratio"] for r in done], (50, 90, 100)).tolist(),
           "share_chi2_ratio_le_1.05": float(np.mean([r["chi2_ratio"] <= 1.05 for r in done])),
           "share_mcmc": float(np.mean([r["method"] == "mcmc" for r in done])),
           "ess_percentiles_5_50_95": np.percentile(ess, (5, 50, 95)).tolist() if ess else []}
    labeled = [r for r in done if r.get("literature", {}).get("teff")]
    if labeled:
        lit = np.array([float(r["literature"]["teff"]) for r in labeled])
        for key, field in (("default", "median"), ("network", "network_median"),
                           ("reference", "reference_median")):
            pred = np.array([r[field]["teff"] for r in labeled])
            out[f"teff_rmse_{key}"] = float(np.sqrt(np.mean((pred - lit) ** 2)))
            out[f"teff_bias_{key}"] = float(np.mean(pred - lit))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objects", default="../shared/benchmarks/dev_objects.csv",
                        help="objects table (name, data_file, teff, ...)")
    parser.add_argument("--out", default="benchmarks/results/exact_posterior.json",
                        help="JSON written here")
    parser.add_argument("--steps", type=int, default=5000, help="reference chain length")
    parser.add_argument("--every", type=int, default=1, help="take every k-th object")
    parser.add_argument("--no-jwst", action="store_true", help="leave the JWST spectra out")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore")
    table = Path(args.objects)
    objects = read_objects(table)[::args.every]
    results = []
    for name in pretrained.made_for("SPEX-PRISM"):
        low, high = pretrained.available()[name]["parameters"]["ranges"]["teff"]
        chosen = [(load_object_spectrum(r, table), r) for r in objects
                  if low <= float(r["teff"]) <= high]
        print(f"{name}: {len(chosen)} objects inside {low:g}-{high:g} K", flush=True)
        results.append(run_model(name, chosen, args.steps, args.seed))
    if not args.no_jwst:
        chooser = pretrained.ModelChooser()
        for obj, instrument in JWST:
            spectrum = ObservedSpectrum.from_library(obj, instrument=instrument)
            spectrum.name = f"{obj} ({instrument})"
            find_entry(obj, instrument=instrument)
            model = chooser.choose(spectrum, n_samples=500).model
            print(f"{spectrum.name}: {model}", flush=True)
            results.append(run_model(model, [(spectrum, {})], args.steps, args.seed))
    rows = [r for block in results for r in block["rows"]]
    report = {"command": " ".join(sys.argv), "steps": args.steps, "walkers": WALKERS,
              "spex": {b["model"]: {**summary(b["rows"]),
                                    "seconds_per_spectrum": b["seconds_per_spectrum"]}
                       for b in results if b["model"].endswith("spex")},
              "jwst": [r for b in results if not b["model"].endswith("spex") for r in b["rows"]],
              "all": summary(rows), "results": results}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=1, default=float) + "\n")
    print(json.dumps({k: report[k] for k in ("spex", "all")}, indent=1, default=float))
    return 0


if __name__ == "__main__":
    sys.exit(main())
