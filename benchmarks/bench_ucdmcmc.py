"""telescopeml's grid-scale answers against ucdmcmc 1.4.5's grid fit + MCMC, head to head.

On a few real SpeX prism spectra of the dev objects (literature Teff 900-2400 K, spread over
spectral types) and the Sonora Diamondback grid: ucdmcmc's grid best point, MCMC best point,
16/50/84% and wall time (``../shared/tools/ucdmcmc_fit/fit.py``, run in ucdmcmc's own virtual
environment: telescopeml never imports it); telescopeml's default answer (the grid's posterior)
and ``fast`` answer (the network's), 16/50/84% and time per spectrum; and for all of them
the reduced chi2 of the grid spectrum at the median, computed one way with telescopeml's grid
(observed sigma only, free scale) on the predictor's prepared flux. Prints a markdown table
and writes JSON.

Run (ucdmcmc takes 25-110 s per spectrum):

    python3 -m venv /tmp/ucd && /tmp/ucd/bin/pip install ucdmcmc==1.4.5
    .venv/bin/python benchmarks/bench_ucdmcmc.py --ucd-python /tmp/ucd/bin/python \\
        --out benchmarks/results/ucdmcmc_head_to_head.json
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import time
import warnings
from pathlib import Path

import numpy as np

from telescopeml import pretrained
from telescopeml.data.chi2 import chi2_fit
from telescopeml.data.library import find_entry, library_file
from telescopeml.predict import Predictor

ROOT = Path(__file__).resolve().parents[1]
MODEL = "dback24-spex"
#: ucdmcmc's Diamondback fsed nodes (10 = cloud-free) and telescopeml's inv_fsed at them.
FSED, INV_FSED = [1.0, 2.0, 3.0, 4.0, 8.0, 10.0], [1.0, 0.5, 1 / 3, 0.25, 0.125, 0.0]


def select(path: Path, n: int) -> list[dict]:
    """Every k-th dev object (sorted by Teff) with literature Teff in 900-2400 K."""
    rows = [r for r in csv.DictReader(path.open()) if r["teff"] and 900 <= float(r["teff"]) <= 2400]
    rows.sort(key=lambda r: float(r["teff"]))
    k = max(1, len(rows) // n)
    return rows[k // 2::k][:n]


def run_ucdmcmc(python: str, script: Path, files: list[Path], out: Path) -> None:
    """fit.py on ``files`` with ucdmcmc's own python; one JSON line per spectrum in ``out``."""
    out.unlink(missing_ok=True)
    subprocess.run([python, str(script), "--grid", "dback24", "--instrument", "SPEX-PRISM",
                    "--out", str(out), *map(str, files)], check=True)


def ucd_params(values: dict) -> dict[str, float]:
    """ucdmcmc's parameters in telescopeml's names (z -> mh, fsed -> inv_fsed)."""
    out = {"teff": values["teff"], "logg": values["logg"], "mh": values["z"]}
    out["inv_fsed"] = float(np.interp(values["fsed"], FSED, INV_FSED))
    return out


def overlap(a: list[float], b: list[float]) -> bool:
    """Whether two 68% intervals overlap."""
    return a[0] <= b[1] and b[0] <= a[1]


def chi2_at(p: Predictor, prepared: tuple, params: dict[str, float]) -> float:
    """Reduced chi2 of telescopeml's grid spectrum at ``params`` (clipped to the grid)."""
    flux, sigma, good = prepared
    grid = p.grid
    assert grid is not None
    point = [float(np.clip(params[a], *grid.axis_values(a)[[0, -1]])) for a in grid.axes]
    model = grid.interpolate_points(np.array([point]))[0].astype(np.float64)
    return float(chi2_fit(flux, model, np.where(good, sigma, np.nan), free_scale=True).reduced_chi2)


def ours(p: Predictor, files: list[str]) -> tuple[list[dict], float]:
    """Median and 16/84% of each prediction, and seconds per spectrum (after a warm-up)."""
    p.predict_many(files[:1], n_samples=2000)
    start = time.perf_counter()
    preds = p.predict_many(files, n_samples=2000)
    seconds = (time.perf_counter() - start) / len(files)
    out = []
    for pred in preds:
        if isinstance(pred, Exception):
            raise pred
        q = pred.quantiles((0.16, 0.5, 0.84))
        out.append({"median": {n: float(q[1, j]) for j, n in enumerate(pred.names)},
                    "q16_84": {n: [float(q[0, j]), float(q[2, j])]
                               for j, n in enumerate(pred.names)},
                    "method": pred.sampling.get("method"), "ess": pred.sampling.get("ess"),
                    "chi2_red_reported": pred.chi2_red})
    return out, seconds


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--objects", type=Path,
                    default=ROOT.parent / "shared/benchmarks/dev_objects.csv")
    ap.add_argument("--n", type=int, default=6, help="number of objects")
    ap.add_argument("--ucd-python", default="/tmp/ucd/bin/python",
                    help="python of a venv with ucdmcmc==1.4.5")
    ap.add_argument("--fit-script", type=Path,
                    default=ROOT.parent / "shared/tools/ucdmcmc_fit/fit.py")
    ap.add_argument("--ucd-fits", type=Path,
                    help="reuse this fits.jsonl instead of running ucdmcmc")
    ap.add_argument("--out", type=Path, required=True, help="JSON output")
    args = ap.parse_args(argv)
    warnings.simplefilter("ignore", UserWarning)  # dropped NaN pixels, said once per read

    objects = select(args.objects, args.n)
    names = [r["data_file"] for r in objects]
    paths = [library_file(find_entry(n, quiet=True), quiet=True) for n in names]
    fits_path = args.ucd_fits or args.out.with_suffix(".fits.jsonl")
    if args.ucd_fits is None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        run_ucdmcmc(args.ucd_python, args.fit_script, paths, fits_path)
    fits = {Path(rec["file"]).name.removesuffix(".gz"): rec
            for rec in map(json.loads, fits_path.read_text().splitlines())}

    default, fast = pretrained.load(MODEL), pretrained.load(MODEL, fast=True)
    mine, t_mine = ours(default, names)
    quick, t_fast = ours(fast, names)
    records = []
    for row, name, a, b in zip(objects, names, mine, quick, strict=True):
        fit = fits[name]
        q = {k: v for k, v in fit["quantiles_16_50_84"].items()
             if k in ("teff", "logg", "z", "fsed")}
        ucd_med = ucd_params({k: v[1] for k, v in q.items()})
        prepared = default.prepare(default.ready(name))
        records.append({
            "data_file": name, "name": row["name"], "spt": row["spt"],
            "literature": {"teff": float(row["teff"]), "teff_err": float(row["teff_err"] or "nan"),
                           "logg": float(row["logg"] or "nan")},
            "ucdmcmc": {"grid_best": fit["grid_best"], "mcmc_best": fit["mcmc_best"],
                        "median": ucd_med, "q16_84": {k: [v[0], v[2]] for k, v in q.items()},
                        "seconds": fit["seconds_grid"] + fit["seconds_mcmc"]},
            "ours": a, "fast": b,
            "teff_68_overlap": {k: overlap(q["teff"][0::2], r["q16_84"]["teff"])
                                for k, r in (("ours", a), ("fast", b))},
            "chi2_red": {"ucdmcmc_median": chi2_at(default, prepared, ucd_med),
                         "ucdmcmc_best": chi2_at(default, prepared, ucd_params(fit["mcmc_best"])),
                         "ours": chi2_at(default, prepared, a["median"]),
                         "fast": chi2_at(default, prepared, b["median"])}})

    lit = np.array([r["literature"]["teff"] for r in records])

    def rmse(key: str) -> float:
        med = np.array([r[key]["median"]["teff"] for r in records])
        return float(np.sqrt(np.mean((med - lit) ** 2)))

    def width(r: dict, key: str) -> float:
        low, high = r[key]["q16_84"]["teff"]
        return high - low

    chi = {k: np.array([r["chi2_red"][k] for r in records])
           for k in ("ucdmcmc_median", "ours", "fast")}
    ucd_chi = chi["ucdmcmc_median"]
    summary = {
        "median_chi2_ratio_ours_over_ucdmcmc": float(np.median(chi["ours"] / ucd_chi)),
        "median_chi2_ratio_fast_over_ucdmcmc": float(np.median(chi["fast"] / ucd_chi)),
        "ours_fits_better": int(np.sum(chi["ours"] < ucd_chi)), "n": len(records),
        "teff_rmse": {k: rmse(k) for k in ("ucdmcmc", "ours", "fast")},
        "median_teff_width_ratio_ucdmcmc_over_ours": float(np.median(
            [width(r, "ucdmcmc") / width(r, "ours") for r in records])),
        "seconds_per_spectrum": {
            "ucdmcmc": float(np.mean([r["ucdmcmc"]["seconds"] for r in records])),
            "ours": t_mine, "fast": t_fast}}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"model": MODEL, "ucdmcmc_fits": str(fits_path),
                                    "objects": records, "summary": summary}, indent=1))

    def cell(r: dict, key: str, p: str, fmt: str) -> str:
        low, high = r[key]["q16_84"][p]
        return f"{r[key]['median'][p]:{fmt}} [{low:{fmt}}, {high:{fmt}}]"

    print("| object | SpT | lit Teff / logg | ucdmcmc Teff | ours Teff | fast Teff | ucdmcmc logg "
          "| ours logg | chi2_red ucd / ours / fast | ucd s |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in records:
        c = r["chi2_red"]
        print(f"| {r['data_file']} | {r['spt']} | {r['literature']['teff']:.0f} / "
              f"{r['literature']['logg']:.2f} | {cell(r, 'ucdmcmc', 'teff', '.0f')} | "
              f"{cell(r, 'ours', 'teff', '.0f')} | {cell(r, 'fast', 'teff', '.0f')} | "
              f"{cell(r, 'ucdmcmc', 'logg', '.2f')} | {cell(r, 'ours', 'logg', '.2f')} | "
              f"{c['ucdmcmc_median']:.2f} / {c['ours']:.2f} / {c['fast']:.2f} | "
              f"{r['ucdmcmc']['seconds']:.0f} |")
    s, rm, sec = summary, summary["teff_rmse"], summary["seconds_per_spectrum"]
    print(f"\nmedian chi2 ratio ours/ucdmcmc {s['median_chi2_ratio_ours_over_ucdmcmc']:.3f} "
          f"(fast/ucdmcmc {s['median_chi2_ratio_fast_over_ucdmcmc']:.3f}); our median fits better "
          f"on {s['ours_fits_better']}/{s['n']}; Teff RMSE vs literature: "
          f"ucdmcmc {rm['ucdmcmc']:.0f} K, "
          f"ours {rm['ours']:.0f} K, fast {rm['fast']:.0f} K; median 68% Teff width ratio "
          f"ucdmcmc/ours {s['median_teff_width_ratio_ucdmcmc_over_ours']:.2f}; s per spectrum: "
          f"ucdmcmc {sec['ucdmcmc']:.1f}, ours {sec['ours']:.3f}, fast {sec['fast']:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
