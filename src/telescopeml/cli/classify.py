"""``telescopeml classify``: spectral type, gravity, metallicity and binarity, without a model.

It parses its arguments and calls :func:`telescopeml.data.classification.classify`, then
prints a line per spectrum and writes the table.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from telescopeml.cli.common import command
from telescopeml.errors import DataError


def _classify(args: argparse.Namespace) -> int:
    from telescopeml.data.checks import missing_file
    from telescopeml.data.classification import METHODS, classify

    if args.out:
        from telescopeml.tables import check_writable

        check_writable(args.out, overwrite=args.overwrite)
    inputs = list(args.inputs)
    if inputs and not args.library and all(map(missing_file, inputs)):
        raise DataError("no such file; nothing was classified", inputs[0])
    if args.instrument:
        from telescopeml.data.library import with_instrument

        inputs = [item if Path(item).exists() else with_instrument(item, args.instrument)
                  for item in inputs]
    done, failed = classify(inputs, library=args.library, spectral_type=args.type)
    for _item, error in failed:
        print(f"telescopeml: skipped {error}", file=sys.stderr)
    if not args.out or len(done) <= 20:
        for result in done:
            print(result.summary())
    if args.out and done:
        from astropy.table import Table

        from telescopeml.tables import write_table

        rows = [r.row() for r in done]
        table = Table(rows=rows, names=list(rows[0]))
        table.meta["methods"] = dict(METHODS)  # ECSV keeps them
        write_table(args.out, table, args.overwrite)
        print(f"{len(done)} classifications written to {args.out}", file=sys.stderr)
    if not done:
        return 2
    return 1 if failed else 0


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add ``classify``."""
    p = command(sub, "classify", _classify,
                "spectral type, gravity, metallicity class and spectral binarity",
                "Classify near-infrared spectra (0.9-2.4 um, SpeX prism resolution; sharper "
                "ones are smoothed, JWST PRISM read on its 0.9-2.4 um part) by published "
                "methods: the type against the SpeX spectral standards (Kirkpatrick et al. "
                "2010; Burgasser et al. 2006), the gravity class of Allers & Liu (2013), a "
                "metallicity class against the subdwarf standards, and the spectral-binary "
                "selections of Burgasser et al. (2010) and Bardalez Gagliuffi et al. (2014). "
                "No model is needed.", [common])
    p.add_argument("inputs", nargs="*", metavar="SPECTRUM",
                   help="spectrum files or library names (as `telescopeml predict` takes "
                        "them)")
    p.add_argument("--instrument", help="with library names: take each object's spectrum "
                   "from this instrument")
    p.add_argument("--library", action="store_true",
                   help="every SpeX prism spectrum in the splat library (see --type)")
    p.add_argument("--type", help="with --library: spectral class or type prefix (L, T, L4)")
    p.add_argument("--out", metavar="TABLE", help="write a table, one row per spectrum "
                   "(.ecsv, .fits, .parquet, else CSV): name, file, spt, spt_err, "
                   "gravity_class, metallicity_class, binary_candidate, gravity_scores, "
                   "binary_criteria, the indices and literature_spt")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out")
