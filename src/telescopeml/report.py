"""One self-contained HTML report of a training run.

:func:`write_report` reads what a run directory holds and writes ``report.html``: figures
embedded as base64 PNG, inline CSS, no scripts and no external requests, so the file can be
mailed or archived alone. Each section appears only when its input exists, and the
report's contents list the sections it has.

What is read from the run directory (all optional):

``manifest.json``
    The bundle manifest: grid, targets, split, model and training time.
``history.csv`` (or ``history.json``)
    One row per epoch (``epoch``, ``train_loss``, ``val_loss``, ``lr``): loss curves.
``evaluation.json``
    Test metrics (``snr``, ``interior``, ``edge``, ``baselines``, ``baselines_interior``,
    ``inference``): tables and a metric-against-S/N figure. An optional key
    ``test_predictions`` = ``{snr_key: {"truth": [[...]], "predicted": [[...]],
    "edge": [...]}}`` (``(n, n_targets)`` arrays in physical units, in the order of
    ``manifest["parameters"]["names"]``; ``edge`` optional) adds parity and residual plots.
``calibration.json``
    ``{"levels": [...], "coverage": {param: [...]}, "n": int}``: empirical coverage of
    credible intervals at each nominal level, over ``n`` test spectra.
``predictions/*.json``
    One file per observed spectrum: ``{"name": str, "parameters": {param: {"median": x,
    "low": x, "high": x, "level": 0.68}}`` (or ``{param: x}``), optionally
    ``"spectrum": {"wavelength": [...], "flux": [...], "uncertainty": [...],
    "flux_unit": str}``, ``"best_fit": {"flux": [...], "parameters": {...},
    "reduced_chi2": x, "model_fraction": x}`` (model flux on the spectrum's wavelengths,
    already scaled; the model term of the χ², default :data:`~telescopeml.inference.
    diagnostics.MODEL_SYSTEMATIC`) and ``"warnings": [...]``. Objects with
    literature parameters (:func:`~telescopeml.data.objects.find_literature`) show them.
``explore/``
    The output of ``telescopeml explore GRID --out RUN_DIR/explore``: its PNG figures are
    embedded in the grid section.
``window_ablation.json``
    A wavelength-window ablation (``benchmarks/bench_jwst_windows.py --out RUN_DIR``):
    ``{"grid", "snr", "parameters": [...], "windows": {label: {"windows": [[low, high],
    ...], "n_wavelengths", "rmse": {param: x}, "width68": {param: x}}}}``, one model per
    window set; shown as a heat map and a table.
"""

from __future__ import annotations

import base64
import csv
import html
import io
import re
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from telescopeml import plots
from telescopeml.data.objects import LITERATURE_SCALE, Literature, find_literature
from telescopeml.errors import DataError
from telescopeml.inference.diagnostics import MODEL_SYSTEMATIC
from telescopeml.jsonio import read as read_json
from telescopeml.parameters import parameter
from telescopeml.values import estimate_cells
from telescopeml.version import __version__
from telescopeml.vocabulary import SCALE_EMPIRICAL, describe

if TYPE_CHECKING:
    from matplotlib.figure import Figure


REPORT_FILE = "report.html"
#: Names of the training losses (``train.loss``) for the loss-curve caption.
LOSS_NAMES = {"nll": "negative log-likelihood", "gaussian_nll": "Gaussian negative "
              "log-likelihood", "mse": "mean squared error", "huber": "Huber"}
PNG_DPI = 110
CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0 auto;
       max-width: 1100px; padding: 1.5em; color: #222; line-height: 1.45; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; }
h2 { font-size: 1.3em; border-bottom: 1px solid #ccc; padding-bottom: 0.2em; margin-top: 2em; }
h3 { font-size: 1.1em; margin-top: 1.5em; }
h4 { font-size: 1em; margin: 1.2em 0 0.3em; }
table { border-collapse: collapse; margin: 0.6em 0 1em; font-size: 0.9em; }
th, td { border: 1px solid #d4d4d4; padding: 0.25em 0.6em; text-align: right; }
th { background: #f2f2f2; }
td.name, th.name { text-align: left; }
td.best { font-weight: bold; background: #eef6ee; }
figure { margin: 1em 0; }
figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { font-size: 0.88em; color: #555; }
.muted { color: #666; font-size: 0.9em; }
.warning { color: #8a4b00; }
"""


def _png(fig: Figure) -> str:
    import matplotlib as mpl

    buffer = io.BytesIO()
    with mpl.rc_context(plots.STYLE):
        fig.savefig(buffer, format="png", dpi=PNG_DPI, bbox_inches="tight")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _figure(fig: Figure | bytes, alt: str, caption: str = "") -> str:
    data = base64.b64encode(fig).decode("ascii") if isinstance(fig, bytes) else _png(fig)
    text = f"<figcaption>{html.escape(caption)}</figcaption>" if caption else ""
    return (f'<figure><img src="data:image/png;base64,{data}" alt="{html.escape(alt)}">'
            f"{text}</figure>")


def _label(name: str) -> str:
    text = html.escape(parameter(name).label)
    return re.sub(r"(\w)_(\w+)", r"\1<sub>\2</sub>", text)


def _number(value: Any) -> str:
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "–"
    return plots.format_value(float(value)) if abs(float(value)) >= 1 else f"{value:.3g}"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]], names: int = 1,
           best: Sequence[set[int]] = ()) -> str:
    """An HTML table; cells are HTML already; ``best[r]`` = columns to mark in row ``r``."""
    head = "".join(f'<th class="{"name" if i < names else ""}">{h}</th>'
                   for i, h in enumerate(header))
    body = []
    for r, row in enumerate(rows):
        marks = best[r] if r < len(best) else set()
        cells = "".join(
            f'<td class="{"name" if i < names else ("best" if i in marks else "")}">{c}</td>'
            for i, c in enumerate(row))
        body.append(f"<tr>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _read_json(path: Path) -> Any:
    return read_json(path)


def _history(run: Path) -> list[dict[str, float]] | None:
    if (run / "history.csv").is_file():
        with (run / "history.csv").open(newline="", encoding="utf-8") as fh:
            return [{k: float(v) for k, v in row.items() if v not in ("", None)}
                    for row in csv.DictReader(fh)]
    if (run / "history.json").is_file():
        return _read_json(run / "history.json")
    return None


def _title(run: Path, manifest: Mapping[str, Any]) -> str:
    """``telescopeml report: <grid> <architecture>/<head> model, trained <date>``."""
    if not manifest:
        return f"telescopeml report: run {run.resolve().name}"
    grid = (manifest.get("grid") or {}).get("name", "unknown grid")
    model = (manifest.get("training") or {}).get("model") or manifest.get("config") or {}
    weights = next((f for f in (run / "model.safetensors", run / "manifest.json")
                    if f.is_file()), None)
    trained = (f", trained {time.strftime('%Y-%m-%d', time.localtime(weights.stat().st_mtime))}"
               if weights else "")
    return (f"telescopeml report: {grid} {model.get('architecture', '?')}/"
            f"{model.get('head', '?')} model{trained}")


def _loss_caption(history: Sequence[Mapping[str, float]], manifest: Mapping[str, Any]) -> str:
    """What the loss-curve figure of this run shows (its loss axis is log or linear)."""
    train = ((manifest.get("training") or {}).get("config") or {}).get("train") or {}
    loss = LOSS_NAMES.get(train.get("loss", ""), train.get("loss", ""))
    axis = ("log axis" if plots.log_loss_axis(history)
            else "linear axis: some values are zero or negative")
    lr = (" and the learning rate (log axis)" if all("lr" in row for row in history)
          else "")
    best = ("; the dotted line marks the epoch with the lowest validation loss"
            if all("val_loss" in row for row in history) else "")
    return (f"Training and validation {loss + ' ' if loss else ''}loss per epoch ({axis})"
            f"{lr}{best}.")


# --- sections ------------------------------------------------------------------------------
def _grid_section(run: Path, manifest: Mapping[str, Any]) -> str:
    grid = manifest.get("grid") or {}
    params = manifest.get("parameters") or {}
    training = manifest.get("training") or {}
    model = training.get("model") or manifest.get("config") or {}
    wavelength = manifest.get("wavelength") or []
    split = manifest.get("split") or {}
    rows = [
        ("grid", html.escape(str(grid.get("name")))),
        ("source", html.escape(f"{grid.get('package', '?')} {grid.get('version', '')}")),
        ("cite", html.escape(str(grid.get("citation") or "–"))),
        ("instrument", html.escape(str(grid.get("instrument") or "–"))),
        ("checksum", f"<code>{html.escape(str(grid.get('checksum', ''))[:16])}…</code>"),
    ]
    if wavelength:
        rows.append(("wavelengths", f"{wavelength[0]:.3f}–{wavelength[-1]:.3f} µm, "
                                    f"{len(wavelength)} points"))
    rows.append(("flux unit", html.escape(str(manifest.get("flux_unit", "–")))))
    rows.append(("targets", ", ".join(_label(n) for n in params.get("names", []))))
    if split:
        rows.append(("split (grid points)", " / ".join(
            f"{len(split.get(k, []))} {k}" for k in ("train", "val", "test"))))
    rows.append(("model", html.escape(f"{model.get('architecture', '?')}, head "
                                      f"{model.get('head', '?')}")))
    if "seconds" in training:
        rows.append(("training", f"{training['seconds']:.0f} s, best epoch "
                                 f"{training.get('best_epoch', '?')}"))
    env = manifest.get("environment") or {}
    rows.append(("software", html.escape(", ".join(f"{k} {v}" for k, v in env.items()))))
    out = [_table(["", ""], rows, names=2)]
    axes = params.get("grid_axes") or {}
    if axes:
        out.append("<h3>Grid axes</h3>")
        out.append(_table(["parameter", "values", "n"], [
            (_label(n), ", ".join(_number(v) for v in values), str(len(values)))
            for n, values in axes.items()], names=2))
    for note in grid.get("notes") or []:
        out.append(f'<p class="muted">Note: {html.escape(note)}</p>')
    for png in sorted((run / "explore").glob("*.png")):
        out.append(_figure(png.read_bytes(), png.stem.replace("_", " "),
                           f"explore/{png.name}"))
    return "\n".join(out)


def _r2(value: Any) -> str:
    return "–" if value is None or not np.isfinite(value) else f"{value:.3f}"


def _metric_table(tables: Mapping[str, Mapping[str, Any]], name: str) -> str:
    """Rows: methods; columns: S/N; cells: RMSE (R²); lowest RMSE per column in bold."""
    keys = plots.snr_order(next(iter(tables.values())).keys())
    rows, rmse = [], []
    for method, table in tables.items():
        cells = [html.escape(method.replace("_", " "))]
        values = []
        for k in keys:
            m = table.get(k, {}).get(name)
            values.append(m["rmse"] if m else np.inf)
            cells.append(f"{_number(m['rmse'])} <span class=\"muted\">({_r2(m['r2'])})</span>"
                         if m else "–")
        rows.append(cells)
        rmse.append(values)
    best_rows = np.argmin(np.array(rmse), axis=0)
    best = [{j + 1 for j, r in enumerate(best_rows) if r == i} for i in range(len(rows))]
    header = ["method"] + ["noise-free" if k == "clean" else f"S/N {k}" for k in keys]
    return f"<h4>{_label(name)}</h4>" + _table(header, rows, best=best)


def _metrics_section(evaluation: Mapping[str, Any], names: Sequence[str]) -> str:
    out = [f"<p>{evaluation.get('n_test', '?')} test grid points "
           f"({evaluation.get('n_test_interior', '?')} interior, the rest on the grid's edge), "
           "never seen in training, interpolation or augmentation. Cells: RMSE "
           "(R² in brackets); the best method per S/N in bold.</p>"]
    methods = {"network": evaluation["snr"], **evaluation.get("baselines", {})}
    out.append("<h3>Network and baselines against S/N</h3>")
    out.append(_figure(plots.metrics_vs_snr(methods, names), "RMSE against S/N",
                       "RMSE on the test set against its S/N (∞ = noise-free), per method."))
    out.extend(_metric_table(methods, n) for n in names)
    interior = {"network": evaluation.get("interior", {}),
                **evaluation.get("baselines_interior", {})}
    if evaluation.get("interior"):
        out.append("<h3>Interior test points only</h3>")
        out.append(f"<p>The {evaluation.get('n_test_interior', '?')} interior points have "
                   "neighbours on every side in the grid: no method has to extrapolate. "
                   "R² is undefined (–) where the interior points share one value.</p>")
        out.extend(_metric_table(interior, n) for n in names)
    if ratio := evaluation.get("crlb", {}).get("ratio", {}).get("interior"):
        held_out = evaluation["crlb"]["ratio"].get("held_out")
        out.append(_figure(
            plots.rmse_over_crlb(ratio, names, held_out), "RMSE over the Cramér-Rao bound",
            "Network RMSE on the interior points over the Cramér-Rao bound (free flux "
            "scale, solid): 1 is the best any unbiased method can do with the noise alone. "
            "Dashed: over the held-out bound, which adds the part of a grid spectrum that "
            "its neighbours do not predict, the limit for points the model never saw."))
    if evaluation.get("interior") and evaluation.get("edge"):
        out.append("<h3>Network: interior against edge points (RMSE)</h3>")
        keys = plots.snr_order(evaluation["snr"].keys())
        header = ["parameter"] + ["noise-free" if k == "clean" else f"S/N {k}" for k in keys]
        rows = [[_label(n)] + [
            " / ".join(_number(evaluation[part].get(k, {}).get(n, {}).get("rmse"))
                       for part in ("interior", "edge")) for k in keys] for n in names]
        out.append("<p>Cells: interior / edge.</p>" + _table(header, rows))
    speed = evaluation.get("inference")
    if speed:
        out.append(f"<p class=\"muted\">Inference: {speed['spectra_per_second']:,.0f} spectra "
                   f"per second on {speed.get('threads', '?')} CPU threads.</p>")
    return "\n".join(out)


def _parity_section(predictions: Mapping[str, Any], names: Sequence[str]) -> str:
    out = []
    for key in plots.snr_order(predictions.keys()):
        data = predictions[key]
        truth, pred = np.asarray(data["truth"], float), np.asarray(data["predicted"], float)
        edge = np.asarray(data["edge"], bool) if "edge" in data else None
        title = "noise-free test spectra" if key == "clean" else f"test spectra at S/N {key}"
        out.append(f"<h3>{html.escape(title)}</h3>")
        out.append(_figure(plots.parity(truth, pred, names, edge, title=title),
                           f"parity {key}", "Predicted against true; the line is 1:1."))
        out.append(_figure(plots.residuals(truth, pred, names, edge, title=title),
                           f"residuals {key}",
                           "Residuals against the true value: median and 16–84% band."))
    return "\n".join(out)


def _calibration_section(data: Mapping[str, Any]) -> str:
    levels = np.asarray(data["levels"], float)
    coverage = {k: np.asarray(v, float) for k, v in data["coverage"].items()}
    rows = [[f"{lv:.2f}"] + [f"{coverage[n][i]:.3f}" for n in coverage]
            for i, lv in enumerate(levels)]
    figure = plots.coverage_curve(
        levels, np.column_stack(list(coverage.values())), list(coverage), data.get("n"))
    out = (_figure(figure, "calibration",
                   "Fraction of test spectra whose true value lies inside the credible "
                   "interval, against the interval's nominal level.")
           + _table(["nominal level"] + [_label(n) for n in coverage], rows))
    if "tarp" in data:
        tarp = data["tarp"]
        curve = plots.tarp_curve(np.asarray(tarp["alpha"]), np.asarray(tarp["ecp"]),
                                 tarp.get("distance"))
        out += _figure(curve, "TARP",
                       "TARP expected coverage against credibility level (Lemos et al. 2023): "
                       "on the diagonal when the posterior is calibrated.")
    return out


def _windows_section(data: Mapping[str, Any]) -> str:
    names, table = data["parameters"], data["windows"]
    snr = f"S/N {data['snr']:g}" if data.get("snr") else "their noise"
    figure = plots.window_ablation(table, names, title=str(data.get("grid") or ""))
    rows = [[html.escape(label), html.escape(", ".join(f"{lo:g}–{hi:g}" for lo, hi in
                                                        entry["windows"]) or "all"),
             str(entry.get("n_wavelengths", "–"))]
            + [_number(entry[key][n]) for key in ("rmse", "width68") for n in names]
            for label, entry in table.items()]
    header = (["window set", "windows (µm)", "pixels"] + [f"RMSE {_label(n)}" for n in names]
              + [f"68% width {_label(n)}" for n in names])
    return (f"<p>One model per window set, trained on the pixels inside the windows only and "
            f"scored on its held-out grid points at {html.escape(snr)}.</p>"
            + _figure(figure, "window ablation",
                      "RMSE and median 68% posterior width per window set and parameter; "
                      f"colours: ratio to the first row, {next(iter(table))}.")
            + _table(header, rows, names=2))


def _literature_cell(param: str, literature: Literature | None) -> str:
    if literature is None or param not in ("teff", "logg"):
        return "–"
    value, error = getattr(literature, param), getattr(literature, f"{param}_err")
    return f"{_number(value)} ± {_number(error)}{parameter(param).suffix}"


def _literature_note(literature: Literature, name: str, scale: str) -> str:
    same = ("this prediction is on the empirical scale too" if scale == SCALE_EMPIRICAL
            else f"this prediction is on the {scale or 'atmosphere grid'} scale, whose Teff "
                 "and log g can differ from them systematically, by more than the interval")
    alias = (f" (listed as {html.escape(literature.name)})" if literature.name != name
             else "")
    return (f'<p class="muted">Literature{alias}: {html.escape(literature.reference)}. '
            f"{html.escape(LITERATURE_SCALE)}; {html.escape(same)}.</p>")


def _model_name(model: str, run: Path, manifest: Mapping[str, Any]) -> str:
    """A prediction's model as a reader knows it: this run's own model (a record's model is
    the folder name of its bundle, "model" for the demo's) by its grid and architecture."""
    if model != run.resolve().name or not manifest:
        return model
    return f"this run's {_title(run, manifest).removeprefix('telescopeml report: ')}"


def _classification(record: Mapping[str, Any]) -> str:
    """A prediction's classes, each with its method (:mod:`telescopeml.data.classification`)."""
    if record.get("refused"):
        return f'<p class="muted">Classification: none ({html.escape(record["refused"])})</p>'
    how, err = record.get("methods") or {}, record.get("spt_err")
    rows = [("spectral type", f"{record.get('spt', '')}" + (f" ± {err:g}" if err else ""),
             "spt"), ("index type (check)", record.get("spt_index") or "none", "spt_index"),
            ("gravity", record.get("gravity_class", ""), "gravity"),
            ("metallicity", record.get("metallicity_class", ""), "metallicity"),
            ("spectral binary", record.get("binary_candidate", ""), "binary")]
    return _table(["classification", "value", "method"],
                  [[html.escape(str(c)) for c in (a, b, how.get(k, ""))] for a, b, k in rows])


def _prediction_section(data: Mapping[str, Any], source: Path, run: Path,
                        manifest: Mapping[str, Any]) -> str:
    name = str(data.get("name") or source.stem)
    literature = find_literature(name)
    out = [f"<h3>{html.escape(name)}</h3>",
           f'<p class="muted">{html.escape(source.name)}</p>']
    if data.get("scale"):
        model = _model_name(str(data.get("model") or ""), run, manifest)
        out.append(f"<p>Scale: {html.escape(describe(str(data['scale'])))}"
                   + (f"; model: {html.escape(model)}" if model else "") + "</p>")
    rows = [[_label(param), *map(html.escape, estimate_cells(param, value))]
            for param, value in (data.get("parameters") or {}).items()]
    for row, param in zip(rows, data.get("parameters") or {}, strict=True):
        if literature is not None:
            row.append(_literature_cell(param, literature))
    if rows:
        header = ["parameter", "estimate", "interval"]
        out.append(_table(header + ["literature (68%)"] * (literature is not None), rows))
    if literature is not None:
        out.append(_literature_note(literature, name, str(data.get("scale") or "")))
    if data.get("classification"):
        out.append(_classification(data["classification"]))
    for warning in data.get("warnings") or []:
        out.append(f'<p class="warning">Warning: {html.escape(str(warning))}</p>')
    spectrum, fit = data.get("spectrum"), data.get("best_fit")
    if spectrum and fit:
        unc = spectrum.get("uncertainty")
        fraction = float(fit.get("model_fraction", MODEL_SYSTEMATIC))
        fig = plots.spectrum_fit(
            np.asarray(spectrum["wavelength"], float), np.asarray(spectrum["flux"], float),
            None if unc is None else np.asarray(unc, float),
            np.asarray(fit["flux"], float)[None], [fit.get("parameters", {})],
            [fit["reduced_chi2"]] if "reduced_chi2" in fit else None, name=name,
            flux_unit=spectrum.get("flux_unit", ""), model_fraction=fraction)
        sigma = (f"σ_tot, with σ_tot² = σ_obs² + ({100 * fraction:g}% of the model)² (the "
                 "observed uncertainty and the model's own, in quadrature)" if fraction > 0
                 else "the observed σ alone")
        out.append(_figure(fig, f"{name} best fit",
                           "Observed spectrum and the best-fit grid spectrum (scaled); the "
                           f"reduced χ² and the residuals use {sigma}."))
    return "\n".join(out)


# --- the report ----------------------------------------------------------------------------
def write_report(run_dir: str | Path, out: str | Path | None = None) -> Path:
    """Write the HTML report of the training run in ``run_dir``; return its path.

    Parameters
    ----------
    run_dir
        A run directory as written by ``telescopeml train`` (see the module docstring for
        the files that are read and the optional ones that add sections).
    out
        Where to write (default ``run_dir/report.html``).
    """
    run = Path(run_dir)
    if not run.is_dir():
        raise DataError("no such run directory", run)
    manifest = _read_json(run / "manifest.json") if (run / "manifest.json").is_file() else {}
    evaluation = (_read_json(run / "evaluation.json") if (run / "evaluation.json").is_file()
                  else {})
    names = list((manifest.get("parameters") or {}).get("names") or
                 next(iter(evaluation.get("snr", {}).values()), {}).keys())
    history = _history(run)
    calibration = run / "calibration.json"
    prediction_files = sorted((run / "predictions").glob("*.json"))
    test_predictions = evaluation.get("test_predictions")
    windows = run / "window_ablation.json"

    sections: list[tuple[str, str, Callable[[], str] | None]] = [
        ("grid", "Grid and run", (lambda: _grid_section(run, manifest)) if manifest else None),
        ("training", "Training curves",
         (lambda: _figure(plots.loss_curves(history), "loss curves",
                          _loss_caption(history, manifest))) if history else None),
        ("metrics", "Test metrics",
         (lambda: _metrics_section(evaluation, names)) if evaluation.get("snr") else None),
        ("parity", "Parity and residuals",
         (lambda: _parity_section(test_predictions, names)) if test_predictions else None),
        ("calibration", "Calibration",
         (lambda: _calibration_section(_read_json(calibration))) if calibration.is_file()
         else None),
        ("windows", "Wavelength windows",
         (lambda: _windows_section(_read_json(windows))) if windows.is_file() else None),
        ("predictions", "Predictions for observed spectra",
         (lambda: "\n".join(_prediction_section(_read_json(p), p, run, manifest)
                            for p in prediction_files))
         if prediction_files else None),
    ]
    contents, body = [], []
    for anchor, title, render in sections:
        if render is None:  # the run has not its input: no entry in the contents either
            continue
        contents.append(f'<li><a href="#{anchor}">{html.escape(title)}</a></li>')
        body.append(f'<h2 id="{anchor}">{html.escape(title)}</h2>\n{render()}')
    title = _title(run, manifest)
    document = "\n".join([
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{html.escape(title)}</title><style>{CSS}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        f'<p class="muted">{html.escape(str(run.resolve()))} · report by telescopeml '
        f"{__version__}</p>",
        f'<ul class="contents">{"".join(contents)}</ul>',
        *body,
        "</body></html>",
    ])
    target = Path(out) if out else run / REPORT_FILE
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(document, encoding="utf-8")
    return target
