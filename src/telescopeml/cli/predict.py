"""``telescopeml predict``: parameters of observed spectra, with posteriors.

It parses its arguments and calls :func:`telescopeml.predict`
(:func:`telescopeml.inference.request.predict`), then prints and writes what that returns.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from telescopeml.cli.common import command, nonnegative_float, positive_float, sample_count
from telescopeml.errors import BatchInterrupted, DataError
from telescopeml.vocabulary import SCALES


def _predict(args: argparse.Namespace) -> int:
    from telescopeml.data.checks import missing_file
    from telescopeml.inference.request import Predictions, is_model, predict

    if args.out or args.samples_out:  # astropy.table is slow to import: only when writing
        from telescopeml.tables import SAMPLE_SUFFIXES, check_distinct, check_writable

        check_distinct({"--out": args.out, "--samples-out": args.samples_out})
    if args.out:
        check_writable(args.out, overwrite=args.overwrite)
    if args.samples_out:
        check_writable(args.samples_out, SAMPLE_SUFFIXES, args.overwrite)
    distance = None if args.distance is None else (args.distance, args.distance_err)
    inputs = list(args.inputs)
    spectra = inputs[1:] if inputs and args.model is None and is_model(inputs[0]) else inputs
    if spectra and all(map(missing_file, spectra)):  # say so before any model loads
        raise DataError("no such file; nothing was predicted", spectra[0])
    if inputs and args.model is None and Path(inputs[0]).is_dir() and not is_model(inputs[0]):
        raise DataError("a folder without manifest.json: not a model bundle (nor a spectrum "
                        "file); nothing was predicted", inputs[0])
    if args.instrument:  # each name given asks for its spectrum from this instrument
        from telescopeml.data.library import with_instrument

        first = 1 if inputs and args.model is None and is_model(inputs[0]) else 0
        inputs[first:] = [item if Path(item).exists() else with_instrument(item, args.instrument)
                          for item in inputs[first:]]
    interrupted = None
    try:
        result = predict(inputs, args.model, args.scale, args.fast, distance, args.samples,
                         targets=args.list, library=args.library, spectral_type=args.type,
                         empirical=args.empirical, smooth=args.smooth, quiet=args.quiet)
    except BatchInterrupted as exc:  # keep what was finished, then exit 130
        interrupted = exc
        result = Predictions(exc.done, exc.failed)
    done, failed = result.done, result.failed
    for _path, error in failed:
        print(f"telescopeml: skipped {error}", file=sys.stderr)
    for out in (args.out, args.samples_out):
        if out and not done:
            print(f"telescopeml: nothing to write; {out} left as it was", file=sys.stderr)
    if args.out and done:
        result.write(args.out, args.overwrite)
        print(f"{len(done)} predictions written to {args.out}"
              + (f" ({len(failed)} failed spectra as rows whose flag starts with 'error:')"
                 if failed else ""), file=sys.stderr)
    if args.samples_out and done:
        result.write_samples(args.samples_out, args.overwrite)
        print(f"posterior samples of {len(done)} spectra written to {args.samples_out}",
              file=sys.stderr)
    if not args.out or len(done) <= 5:
        for prediction in done:
            print(prediction.summary())
    if args.plots:
        from telescopeml.plots.predict import save_prediction_plots

        for prediction in done:
            save_prediction_plots(prediction, args.plots)
    if interrupted is not None:
        kept = " and ".join(str(out) for out in (args.out, args.samples_out) if out)
        print(f"telescopeml: {interrupted}" + (f"; the {len(done)} finished were written to "
                                               f"{kept}" if kept and done else ""),
              file=sys.stderr)
        return 130
    if not done:
        return 2
    return 1 if failed else 0


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add ``predict``."""
    p = command(sub, "predict", _predict, "parameters of observed spectra, with posteriors",
                 "Apply a trained model to observed spectra: check coverage, resample, sample "
                 "the posterior, compare the best-fitting grid spectrum (reduced chi2), and "
                 "flag spectra the grid cannot explain. One failing file is reported and "
                 "skipped.", [common])
    p.add_argument("inputs", nargs="*", metavar="[MODEL] SPECTRUM",
                   help="spectrum files (SpeX FITS, binary-table FITS such as JWST x1d, "
                   "text/CSV, ECSV, or any format specutils reads) or library names (an "
                   "object such as '2MASS J15031961+2525196', or a file name that `telescopeml "
                   "data spectra` lists), optionally preceded by a model directory or a "
                   "shipped model's name (dback24-spex); without a model the shipped model "
                   "whose grid covers each object is chosen")
    p.add_argument("--model", help="model directory or the name of a shipped model "
                   "(default: choose among the shipped models)")
    p.add_argument("--instrument", help="with library names: take each object's spectrum "
                   "from this instrument (e.g. JWST-NIRSPEC-PRISM; `telescopeml data spectra` "
                   "lists them) when it has several")
    p.add_argument("--library", action="store_true",
                   help="every SpeX prism spectrum in the splat library (see --type)")
    p.add_argument("--type", help="with --library: spectral class or type prefix (L, T, L4)")
    p.add_argument("--list", metavar="TABLE",
                   help="a CSV of spectra to predict: a 'file' (path, relative to the table) or "
                        "'name' (library object or file) column, optional 'distance_pc' and "
                        "'distance_err_pc' columns")
    p.add_argument("--distance", type=positive_float, metavar="PC",
                   help="distance in pc of every spectrum given (a --list row's own distance "
                        "wins): adds radius (R_Jup) and mass (M_Jup) for flux-calibrated "
                        "spectra")
    p.add_argument("--distance-err", type=nonnegative_float, default=0.0, metavar="PC",
                   help="1-sigma error of --distance (default 0)")
    p.add_argument("--out", help="write a table, one row per spectrum, in the format its "
                   "name ends with: .ecsv (with units), .fits (units as TUNIT), .parquet, or "
                   "CSV (no units)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace an existing --out or --samples-out file (else refused before "
                        "any work)")
    p.add_argument("--samples-out", metavar="FILE", help="write the posterior samples, one "
                   "block per spectrum: .h5/.hdf5 (a dataset each) or .fits (a table each)")
    p.add_argument("--samples", type=sample_count, help="posterior samples per spectrum (default "
                   "10,000 for up to 5 spectra, 2,000 for larger batches)")
    p.add_argument("--no-smooth", dest="smooth", action="store_false",
                   help="keep a spectrum sharper than the model's resolution as it is (by "
                        "default it is smoothed to the model's resolving power, with a note)")
    p.add_argument("--fast", action="store_true",
                   help="the network's answer alone (for surveys: milliseconds per spectrum). "
                        "By default the network only proposes and the answer on the "
                        "atmosphere-grid scale is the grid's own posterior (about a second "
                        "per spectrum)")
    p.add_argument("--plots", help="directory for corner and spectrum-fit plots")
    p.add_argument("--scale", choices=SCALES, default="auto",
                   help="with the shipped models: 'empirical' (luminosity-based Teff, "
                   "evolutionary log g, learned on real spectra), 'grid' (the atmosphere "
                   "grids' parameters), or 'auto' (default: whichever was more accurate on the "
                   "dev benchmark; the output says which)")
    p.add_argument("--empirical", metavar="DIR", help="an empirical scale fitted by "
                   "`telescopeml calibrate` instead of the shipped one")
