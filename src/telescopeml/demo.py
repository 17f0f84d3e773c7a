"""The main job end to end: grid -> trained posterior model -> real brown dwarfs -> report."""

from __future__ import annotations

import json
import re
import sys
import time
import warnings
from pathlib import Path

from telescopeml.data.objects import LITERATURE_SCALE, Literature, find_literature
from telescopeml.data.spectrum import ObservedSpectrum
from telescopeml.predict import Prediction, Predictor
from telescopeml.progress import record_stages, stage, stage_summary
from telescopeml.values import limit_text
from telescopeml.vocabulary import describe

#: Well-known brown dwarfs of the SpeX library, with literature parameters
#: (:func:`~telescopeml.data.objects.find_literature`): an L dwarf, an L/T transition dwarf
#: and a T dwarf inside the default grid.
DEMO_OBJECTS = ("2MASS J22244381-0158521", "SDSSp J010752.33+004156.1",
                "2MASS J15031961+2525196")

#: Training budget of the demo model (finishes in a few minutes on 2 CPU cores).
DEMO_EPOCHS = 40


def save_prediction(prediction: Prediction, run_dir: Path) -> Path:
    """Write ``run_dir/predictions/<name>.json`` for the report."""
    stem = re.sub(r"[^A-Za-z0-9+._-]+", "_", prediction.source).strip("_")
    path = run_dir / "predictions" / f"{stem}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(prediction.to_json()) + "\n")
    return path


def run_demo(out: str | Path = "telescopeml-demo", epochs: int = DEMO_EPOCHS,
             retrain: bool = False, progress: bool = True) -> Path:
    """Train (or reuse) the demo model, predict the demo objects, write the report.

    Returns the path of ``report.html``.
    """
    from telescopeml.explore import explore_grid
    from telescopeml.report import write_report
    from telescopeml.training.experiment import ExperimentConfig, train

    run_dir = Path(out) / "model"
    started = time.time()
    with record_stages() as stages:
        if retrain or not (run_dir / "manifest.json").is_file():
            config = ExperimentConfig.from_dict({"train": {"epochs": epochs}},
                                                preset="posterior")
            train(config, run_dir, progress=progress,
                  command=" ".join(["telescopeml", *sys.argv[1:]]))
        elif progress:
            print(f"using the demo model trained earlier in {run_dir} (--retrain trains "
                  "a new one)", file=sys.stderr)
        predictor = Predictor(run_dir)
        with stage("exploring the grid (statistics and figures)", progress):
            explore_grid(predictor.grid, run_dir / "explore")
        rows = []
        for name in DEMO_OBJECTS:
            with stage(f"predicting {name} (the grid's posterior, sampled)", progress):
                rows.append(_predict(predictor, name, run_dir))
        with stage("writing the report", progress):
            report = write_report(run_dir)
    print(demo_table(rows))
    print(stage_summary(stages, time.time() - started))
    print(f"report: {report}")
    return report


def _predict(predictor: Predictor, name: str, run_dir: Path
             ) -> tuple[Prediction, Literature | None]:
    """Predict the library spectrum ``name``; save its record and figures for the report."""
    from telescopeml.plots.predict import save_prediction_plots

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        spectrum = ObservedSpectrum.from_library(name)
    # one name on the screen, in the report and in file names: the one asked for, not
    # the library's alias of it (2MASSW J2224438-015852)
    spectrum.name = name
    prediction = predictor.predict(spectrum, n_samples=5000)
    save_prediction(prediction, run_dir)
    save_prediction_plots(prediction, run_dir / "plots")
    return prediction, find_literature(name)


def demo_table(rows: list[tuple[Prediction, Literature | None]]) -> str:
    """Predicted against literature Teff and log g for the demo objects."""
    lines = [f"{'object':28s} {'type':5s} {'Teff (K)':>16s} {'literature':>12s} "
             f"{'log g':>14s} {'chi2_red':>8s}  flags"]
    for p, lit in rows:
        q = p.quantiles((0.16, 0.5, 0.84))
        j = p.names.index("teff")
        t = f"{q[1, j]:.0f} +{q[2, j] - q[1, j]:.0f}/-{q[1, j] - q[0, j]:.0f}"
        if "teff" in p.limits:  # a limit as a limit, as the summary and the report say it
            t = limit_text("teff", p.limits["teff"])
        g = ""
        if "logg" in p.names:
            k = p.names.index("logg")
            g = (limit_text("logg", p.limits["logg"]) if "logg" in p.limits
                 else f"{q[1, k]:.2f} ±{(q[2, k] - q[0, k]) / 2:.2f}")
        spt, known = ("", "–") if lit is None else (lit.spectral_type,
                                                    f"{lit.teff:.0f}±{lit.teff_err:.0f}")
        lines.append(f"{p.source[:28]:28s} {spt:5s} {t:>16s} {known:>12s} "
                     f"{g:>14s} {p.chi2_red:8.3g}  {p.flag or '-'}")
    refs = sorted({lit.reference.split(" (")[0] for _, lit in rows if lit is not None})
    scales = sorted({describe(p.scale) for p, _ in rows})
    lines.append(f"Teff and log g: {'; '.join(scales)}")
    lines.append(f"literature ({LITERATURE_SCALE}): " + "; ".join(refs))
    return "\n".join(lines)
