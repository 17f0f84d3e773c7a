"""``telescopeml evaluate`` (held-out grid points) and ``benchmark`` (real objects)."""

from __future__ import annotations

import argparse
from typing import Any

from telescopeml.cli.common import SAMPLES_MANY, command, metrics_table, sample_count
from telescopeml.extras import requires
from telescopeml.jsonio import dumps
from telescopeml.vocabulary import SCALES


def _evaluate(args: argparse.Namespace) -> int:
    requires("torch", "zuko")  # fail before any work, naming the extra
    from telescopeml.evaluation.evaluate import evaluate_bundle

    result = evaluate_bundle(args.model, baselines=not args.no_baselines,
                             progress=not (args.quiet or args.json))
    print(dumps(result, indent=2) if args.json else metrics_table(result))
    if not args.json:
        print(crlb_table(result["crlb"]))
    return 0


def crlb_table(crlb: dict[str, Any]) -> str:
    """Cramér-Rao bound and network RMSE / bound per parameter and S/N, interior points."""
    lines = [f"Cramér-Rao bound (free flux scale), interior test points; defined at "
             f"{crlb['n_defined']} of {crlb['n_points']} test points"]
    for key, bounds in crlb["interior"].items():
        ratio = crlb["ratio"]["interior"].get(key, {})
        lines.append(f"  S/N {key:>4s}: " + "  ".join(
            f"{p} {b:.3g}" + (f" (RMSE/CRLB {ratio[p]:.3g})" if p in ratio else "")
            for p, b in bounds.items()))
    if held_out := crlb.get("held_out"):
        lines.append("Held-out bound (the grid's node scatter added to the noise), interior "
                     "test points")
        for key, bounds in held_out["interior"].items():
            ratio = crlb["ratio"]["held_out"].get(key, {})
            lines.append(f"  S/N {key:>4s}: " + "  ".join(
                f"{p} {b:.3g}" + (f" (RMSE/bound {ratio[p]:.3g})" if p in ratio else "")
                for p, b in bounds.items()))
    return "\n".join(lines)


def _benchmark(args: argparse.Namespace) -> int:
    import numpy as np

    from telescopeml import pretrained
    from telescopeml.evaluation.benchmark import run_benchmark
    from telescopeml.parameters import parameter
    from telescopeml.vocabulary import describe

    result = run_benchmark(pretrained.predictor(args.model, args.scale, args.empirical,
                                                fast=args.fast),
                           args.objects,
                           n_samples=args.samples, progress=not (args.quiet or args.json))
    if args.plots:
        from telescopeml.plots.predict import benchmark_plot

        plot = benchmark_plot(result, args.plots)
        if not args.json:
            print(f"plot: {plot}")
    if args.json:
        print(dumps(result, indent=2))
        return 0
    print(f"{result['n']} objects, {result['n_in_range']} inside the grids' Teff range "
          f"{result['teff_range'][0]:g}-{result['teff_range'][1]:g} K; scale of the numbers: "
          f"{describe(result['scale']) if isinstance(result['scale'], str) else result['scale']}")
    def cells(block: dict) -> str:
        return "  ".join(
            f"{p}: RMSE {m['rmse']:.3g}{parameter(p).suffix} bias {m['bias']:+.3g}"
            + (f" within errors {m['consistent']:.0%}" if np.isfinite(m["consistent"]) else "")
            + (f"/{m['consistent_95']:.0%} (68%/95%)" if "consistent_95" in m else "")
            for p, m in block.items())

    for label, block in (("in range", result["in_range"]), ("all", result["all"]),
                         *((f"class {c}", b) for c, b in result["by_class"].items()),
                         ("unflagged", result["in_range_unflagged"]),
                         ("flagged", result["in_range_flagged"])):
        empty = all(m.get("n", 1) == 0 for m in block.values())
        print(f"  {label:10s} {'no objects' if empty else cells(block)}")
    print("  baselines on the same in-range objects:")
    for name, block in result["baselines"].items():
        print(f"    {name}: {cells(block)}")
    print(f"  flagged: {len(result['flagged'])}; outside the range but not flagged: "
          f"{len(result['missed'])}; failed: {len(result['failed'])}")
    return 0


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add ``evaluate`` and ``benchmark``."""
    p = command(sub, "evaluate", _evaluate, "metrics of a trained model on held-out points",
                "RMSE, MAE, bias and R² per parameter on the model's held-out grid points, "
                "clean and at S/N 10, 30, 100, interior and edge points, next to baselines "
                "and the Cramér-Rao bound.",
                [common])
    p.add_argument("model", help="model directory (holding manifest.json)")
    p.add_argument("--json", action="store_true", help="print one JSON object to stdout")
    p.add_argument("--no-baselines", action="store_true", help="skip the baselines")

    p = command(sub, "benchmark", _benchmark, "accuracy on real objects with literature values",
                "Predict every object of a table (name, data_file, teff, teff_err, logg, "
                "logg_err) and report bias, RMSE and MAE against the literature.", [common])
    p.add_argument("model", help="model directory, the name of a shipped model, or "
                   "'shipped' (each object gets the shipped model that covers it)")
    p.add_argument("--objects", required=True, help="CSV table of objects")
    p.add_argument("--samples", type=sample_count, default=SAMPLES_MANY,
                   help=f"posterior samples per object (default {SAMPLES_MANY})")
    p.add_argument("--json", action="store_true", help="print one JSON object to stdout")
    p.add_argument("--plots", metavar="PATH",
                   help="write the predicted-vs-literature figure here (PNG+PDF)")
    p.add_argument("--plot", dest="plots", help=argparse.SUPPRESS)  # the old spelling
    p.add_argument("--scale", choices=SCALES, default="auto",
                   help="with 'shipped': which scale to evaluate (default: what `predict` "
                   "gives)")
    p.add_argument("--empirical", metavar="DIR", help="evaluate an empirical scale fitted by "
                   "`telescopeml calibrate`")
    p.add_argument("--fast", action="store_true", help="the networks' answers alone on the "
                   "atmosphere-grid scale, not the grid's posterior (as `predict --fast`)")
