"""The classification (telescopeml.data.classification) against splat's source table.

Every SpeX prism spectrum of the splat library (or ``--limit N`` of them drawn with
``--seed``) is classified, and the answers compared with the labels of splat's
``db/source_data.csv`` (joined through ``db/spectral_data.csv``):

* spectral type: within ±1 subtype of the literature near-infrared type (``NIR_TYPE``;
  target ≥ 90 %), by class, and of splat's own ``SPEX_TYPE``;
* gravity: agreement with ``GRAVITY_CLASS_NIR`` (FLD-G / INT-G / VL-G), the confusion
  matrix, recall of VL-G and INT-G;
* metallicity: recall of the ``METALLICITY_CLASS`` subdwarfs (d/sd, sd, esd, usd) and the
  false-positive rate among the others;
* spectral binaries: recall of ``SBINARY == "Y"`` and the candidate rate among the rest;
* time: milliseconds per spectrum of the classification (reading the file apart).

None of these labels is used by the methods (published index thresholds and the standards).

Run: python benchmarks/bench_classify.py [--limit N] [--seed S] [--json OUT]
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import random
import re
import time
import warnings
from collections import Counter
from pathlib import Path

import numpy as np

GRAVITY = ("FLD-G", "INT-G", "VL-G")
SUBDWARF = ("d/sd", "sd", "esd", "usd")


def labels() -> dict[str, dict[str, str]]:
    """splat's source-table row of each SpeX prism data file (plus ``SPEX_TYPE``)."""
    from telescopeml.data.wheels import fetch_wheel, open_wheel

    with open_wheel(fetch_wheel("splat", quiet=True)) as wheel:
        def rows(member: str) -> list[dict[str, str]]:
            return list(csv.DictReader(io.StringIO(wheel.read(member).decode("utf-8-sig"))))
        spectra, sources = rows("splat/db/spectral_data.csv"), rows("splat/db/source_data.csv")
    by_key = {r["SOURCE_KEY"]: r for r in sources}
    return {r["DATA_FILE"]: {**by_key.get(r["SOURCE_KEY"], {}), "SPEX_TYPE": r["SPEX_TYPE"],
                             "SPEX_GRAVITY": r["SPEX_GRAVITY_CLASSIFICATION"]}
            for r in spectra}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, help="a random subset of this many spectra")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", default="benchmarks/results/classify.json")
    parser.add_argument("--rows", help="also write each spectrum's answer and labels (CSV)")
    args = parser.parse_args()

    from telescopeml.data.classification import classify_spectrum, parse_type
    from telescopeml.data.library import library_index
    from telescopeml.data.spectrum import ObservedSpectrum

    table = labels()
    files = [e.data_file for e in library_index(quiet=True) if e.instrument == "SPEX-PRISM"]
    if args.limit:
        files = sorted(random.Random(args.seed).sample(files, min(args.limit, len(files))))
    classify_spectrum(*_read(ObservedSpectrum, files[0]))  # loads the standards
    rows, seconds, failed = [], [], []
    for i, file in enumerate(files):
        try:
            wave, flux, sigma = _read(ObservedSpectrum, file)
        except Exception as exc:  # an unreadable file counts, and is listed
            failed.append((file, str(exc)))
            continue
        start = time.perf_counter()
        result = classify_spectrum(wave, flux, sigma, file=file)
        seconds.append(time.perf_counter() - start)
        label = table.get(file, {})
        rows.append((result, label))
        if (i + 1) % 500 == 0:
            print(f"{i + 1}/{len(files)}", flush=True)

    report: dict = {"n_spectra": len(files), "n_unreadable": len(failed),
                    "n_refused": sum(bool(r.refused) for r, _ in rows),
                    "refusals": dict(Counter(r.refused.split(";")[0][:60]
                                             for r, _ in rows if r.refused).most_common(5)),
                    "ms_per_spectrum": {"median": 1e3 * float(np.median(seconds)),
                                        "mean": 1e3 * float(np.mean(seconds)),
                                        "p95": 1e3 * float(np.percentile(seconds, 95))}}
    classified = [(r, lab) for r, lab in rows if not r.refused]

    # spectral type
    for key, column in (("spt_vs_nir_type", "NIR_TYPE"), ("spt_vs_spex_type", "SPEX_TYPE")):
        pairs = [(r.spt_number, parse_type(lab.get(column, "")), lab.get(column, ""))
                 for r, lab in classified]
        pairs = [(m, t, s) for m, t, s in pairs if np.isfinite(t) and 10 <= t < 40]
        diff = np.array([m - t for m, t, _ in pairs])
        by_class = {}
        for letter, low in (("M", 10), ("L", 20), ("T", 30)):
            d = np.array([m - t for m, t, _ in pairs if low <= t < low + 10])
            if d.size:
                by_class[letter] = {"n": int(d.size), "within_1": float(np.mean(np.abs(d) <= 1)),
                                    "mean_offset": float(d.mean())}
        confusion = Counter(("KMLTY"[int(t // 10)], "KMLTY"[int(min(m, 49) // 10)])
                            for m, t, _ in pairs)
        grav = [lab.get("GRAVITY_CLASS_NIR", "") for r, lab in classified
                if 10 <= parse_type(lab.get(column, "")) < 40]
        by_gravity = {g: float(np.mean(np.abs(diff[[x == g for x in grav]]) <= 1))
                      for g in GRAVITY if g in grav}
        sure = np.array([not re.search(r"[:?]|\+/-|pec|\+[MLT]", s) for _, _, s in pairs],
                        dtype=bool)
        report[key] = {"n": int(diff.size), "within_1": float(np.mean(np.abs(diff) <= 1)),
                       "within_1_by_literature_gravity": by_gravity,
                       "n_without_stated_uncertainty_pec_or_binary": int(sure.sum()),
                       "within_1_without_stated_uncertainty_pec_or_binary":
                           float(np.mean(np.abs(diff[sure]) <= 1)),
                       "within_0.5": float(np.mean(np.abs(diff) <= 0.5)),
                       "mean_offset": float(diff.mean()), "rms": float(np.sqrt(np.mean(diff ** 2))),
                       "by_class": by_class,
                       "class_confusion (literature -> measured)":
                           {f"{a}->{b}": n for (a, b), n in sorted(confusion.items())}}

    # how far splat's own standard-based type is from the literature's (a ceiling of sorts)
    both = [(parse_type(lab.get("NIR_TYPE", "")), parse_type(lab.get("SPEX_TYPE", "")))
            for _, lab in classified]
    both = np.array([(a, b) for a, b in both if 10 <= a < 40 and 10 <= b < 40])
    report["splat_spex_type_vs_nir_type_within_1"] = float(np.mean(
        np.abs(both[:, 0] - both[:, 1]) <= 1))

    # gravity: the literature's, and splat's own classification of the same spectrum
    for key, column in (("gravity", "GRAVITY_CLASS_NIR"),
                        ("gravity_vs_splat", "SPEX_GRAVITY")):
        report[key] = _gravity(classified, column)

    # metallicity
    mets = [(lab.get("METALLICITY_CLASS", ""), r.metallicity_class) for r, lab in classified]
    subdwarfs = [(t, m) for t, m in mets if t in SUBDWARF]
    others = [(t, m) for t, m in mets if t not in SUBDWARF and m != "not applicable"]
    report["metallicity"] = {
        "n_subdwarfs": len(subdwarfs),
        "n_subdwarfs_applicable": sum(m != "not applicable" for _, m in subdwarfs),
        "recall_any_subdwarf_class": float(np.mean([m in SUBDWARF for _, m in subdwarfs]))
        if subdwarfs else None,
        "by_class": {c: dict(Counter(m for t, m in subdwarfs if t == c)) for c in SUBDWARF},
        "n_others_applicable": len(others),
        "false_positive_rate": float(np.mean([m in SUBDWARF for _, m in others]))
        if others else None,
    }

    # spectral binaries
    binaries = [r.binary_candidate for r, lab in classified if lab.get("SBINARY") == "Y"]
    rest = [r.binary_candidate for r, lab in classified
            if lab.get("SBINARY") != "Y" and r.binary_candidate != "not applicable"]
    report["spectral_binaries"] = {
        "n_known": len(binaries), "verdicts_of_known": dict(Counter(binaries)),
        "recall_strong_or_weak": float(np.mean([b in ("strong", "weak") for b in binaries]))
        if binaries else None,
        "recall_strong": float(np.mean([b == "strong" for b in binaries])) if binaries else None,
        "n_rest_applicable": len(rest),
        "candidate_rate_rest": float(np.mean([b in ("strong", "weak") for b in rest]))
        if rest else None,
        "strong_rate_rest": float(np.mean([b == "strong" for b in rest])) if rest else None,
    }
    if args.rows:
        columns = ("NIR_TYPE", "SPEX_TYPE", "GRAVITY_CLASS_NIR", "METALLICITY_CLASS", "SBINARY")
        with open(args.rows, "w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["file", "spt", "spt_number", "spt_err", "spt_index",
                             "gravity_class", "metallicity_class", "binary_candidate",
                             *columns])
            for r, lab in rows:
                writer.writerow([r.file, r.spt, r.spt_number, r.spt_err, r.spt_index,
                                 r.gravity_class, r.metallicity_class, r.binary_candidate,
                                 *(lab.get(c, "") for c in columns)])
    if args.limit:
        report["subset"] = {"limit": args.limit, "seed": args.seed}
    text = json.dumps(report, indent=2)
    print(text)
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(text + "\n")


def _gravity(classified: list, column: str) -> dict:
    pairs = [(lab.get(column, ""), r.gravity_class) for r, lab in classified
             if lab.get(column, "") in GRAVITY]
    applicable = [(t, m) for t, m in pairs if m in GRAVITY]
    matrix = {t: {m: sum(1 for a, b in applicable if a == t and b == m) for m in GRAVITY}
              for t in GRAVITY}
    return {
        "n_labelled": len(pairs), "n_applicable": len(applicable),
        "agreement": float(np.mean([t == m for t, m in applicable])) if applicable else None,
        "confusion (rows label, columns measured)": matrix,
        "recall_VL-G": _recall(applicable, "VL-G", ("VL-G",)),
        "recall_INT-G": _recall(applicable, "INT-G", ("INT-G",)),
        "recall_young_as_INT-G_or_VL-G": _recall(
            [(t if t == "FLD-G" else "young", m) for t, m in applicable], "young",
            ("INT-G", "VL-G")),
    }


def _recall(pairs: list[tuple[str, str]], truth: str, found: tuple[str, ...]) -> float | None:
    hits = [m in found for t, m in pairs if t == truth]
    return float(np.mean(hits)) if hits else None


def _read(cls, file: str):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        spectrum = cls.from_library(file)
    return spectrum.wavelength, spectrum.flux, spectrum.uncertainty


if __name__ == "__main__":
    main()
