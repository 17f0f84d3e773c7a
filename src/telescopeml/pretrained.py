"""Pre-trained models shipped with the package, and the choice of the one that covers a spectrum.

Each model is a bundle directory under ``telescopeml/pretrained_models/NAME/``: ``manifest.json``,
``model.safetensors`` (weights stored as float16 to keep the wheel small; they load into a
float32 network) and ``grid.safetensors``, the training grid on the model's wavelengths
(fluxes relative to each spectrum's median, float16 where they fit), so that the
goodness-of-fit check works offline. ``scripts/build_pretrained.py`` makes them; each
manifest records the command.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np

from telescopeml.bundle import (
    MANIFEST,
    load_bundle,
    manifest_sections,
    read_manifest,
    save_bundle,
)
from telescopeml.data import compact
from telescopeml.data.checks import as_spectrum, clean_spectrum
from telescopeml.data.grid import SpectralGrid
from telescopeml.data.instruments import manifest_instrument
from telescopeml.data.spectrum import ObservedSpectrum
from telescopeml.empirical import EMPIRICAL_DIR, META_FILE, EmpiricalModel
from telescopeml.errors import DataError, TelescopeMLError, UnknownNameError
from telescopeml.inference.correct import MODEL_ERROR_FLAG
from telescopeml.inference.prepare import MIN_COVERAGE, Prepared
from telescopeml.jsonio import read as read_json
from telescopeml.predict import Prediction, Predictor
from telescopeml.vocabulary import SCALES

GRID_FILE = "grid.safetensors"
GRID_FORMAT = compact.COMPACT_FORMAT


def models_dir() -> Path:
    """The directory holding the shipped bundles."""
    return Path(str(resources.files("telescopeml") / "pretrained_models"))


def available() -> dict[str, dict]:
    """Shipped grid models: ``{name: manifest}``, coldest grid first (the empirical layer,
    which has no ``manifest.json``, is not one of them)."""
    found = {}
    root = models_dir()
    for directory in sorted(root.iterdir()) if root.is_dir() else ():
        if (directory / MANIFEST).is_file():
            found[directory.name] = read_manifest(directory)
    return dict(sorted(found.items(),
                       key=lambda kv: kv[1]["parameters"]["ranges"].get("teff", [0])[0]))


def made_for(instrument: str) -> list[str]:
    """Shipped grid models trained for ``instrument`` (e.g. ``"SPEX-PRISM"``), coldest
    first."""
    return [n for n, m in available().items() if manifest_instrument(m)["key"] == instrument]


def model_path(name: str) -> Path:
    """The bundle directory of shipped model ``name``."""
    path = models_dir() / name
    if not (path / MANIFEST).is_file():
        raise UnknownNameError("shipped model", name, list(available()) or ["none"])
    return path


def load(name: str, smooth: bool = True, fast: bool = False) -> Predictor:
    """A :class:`Predictor` for shipped model ``name``, its grid posterior and fit check on
    the shipped grid (``smooth``, ``fast``: see :class:`~telescopeml.predict.Predictor`)."""
    path = model_path(name)
    return Predictor(path, grid=compact.read_compact_grid(path / GRID_FILE), smooth=smooth,
                     fast=fast)


def predictor(model: str | Path | None = None, scale: str = "auto",
              empirical: str | Path | None = None, smooth: bool = True, fast: bool = False
              ) -> Predictor | ModelChooser | EmpiricalPredictor:
    """What ``telescopeml predict/benchmark`` apply: a bundle directory, a shipped model's
    name, or (None or ``"shipped"``) the shipped models: on the empirical scale
    (:class:`~telescopeml.empirical.EmpiricalPredictor`) or the atmosphere-grid scale
    (:class:`ModelChooser`); ``scale="auto"`` takes the one that was more accurate on the
    dev benchmark (recorded in the shipped empirical layer) and says so in each output.
    ``empirical``: a layer fitted by ``telescopeml calibrate`` instead of the shipped one.
    ``smooth=False`` keeps spectra sharper than a model as they are (see
    :class:`~telescopeml.predict.Predictor`); ``fast=True`` keeps the networks' answers on
    the atmosphere-grid scale instead of the grid's posterior (the empirical scale reads
    the answers its layer was fitted on, whatever ``fast`` says)."""
    if scale not in SCALES:
        raise UnknownNameError("scale", scale, SCALES)
    if empirical is not None:
        if model not in (None, "shipped") or scale == "grid":
            raise DataError("an empirical layer works over the shipped models: give no "
                            "model and no --scale grid", str(empirical))
        return EmpiricalPredictor(ModelChooser(smooth=smooth),
                                  model=EmpiricalModel.load(empirical),
                                  reason=f"empirical scale from {empirical}")
    if model is None or (model == "shipped" and not Path(model).exists()):
        chosen, reason = default_scale() if scale == "auto" else (scale, "")
        if chosen == "empirical":
            return EmpiricalPredictor(ModelChooser(smooth=smooth), reason=reason)
        chooser = ModelChooser(smooth=smooth, fast=fast)
        chooser.reason = reason
        return chooser
    if scale == "empirical":
        raise DataError("the empirical scale is fitted over the shipped models; give no model "
                        "(or 'shipped') to use it, or `--scale grid` with a model", str(model))
    if not Path(model).exists() and model in available():
        return load(str(model), smooth, fast)
    return Predictor(model, smooth=smooth, fast=fast)


def default_scale() -> tuple[str, str]:
    """The scale ``predict`` uses by default and why: the one with the lower Teff RMSE on
    the dev benchmark that ``scripts/build_empirical.py`` recorded in the shipped layer."""
    try:
        meta = json.loads((models_dir() / EMPIRICAL_DIR / META_FILE).read_text())
        dev = meta["dev_benchmark"]
        empirical, grid = dev["empirical"]["teff_rmse"], dev["grid"]["teff_rmse"]
    except (OSError, ValueError, KeyError, RecursionError):
        return "grid", "no empirical layer with a dev benchmark is installed"
    chosen = "empirical" if empirical <= grid else "grid"
    return chosen, (f"default scale: {chosen}, the more accurate on the dev benchmark "
                    f"({dev['n_in_range']} real objects inside the grids: Teff RMSE "
                    f"{empirical:.0f} K empirical, {grid:.0f} K atmosphere grid)")


# --- choosing a model ---------------------------------------------------------------------
#: Models whose :func:`instrument_match` is at least this fraction of the best one's are
#: candidates for a spectrum.
MATCH_TOLERANCE = 0.8
#: Posterior samples on which several candidate models are compared before the chosen one
#: draws all of them (what keeps a new `telescopeml predict` process under a second).
SCREEN_SAMPLES = 500


def instrument_match(spectrum: ObservedSpectrum, wavelength: np.ndarray) -> float:
    """How well a model on ``wavelength`` (µm) fits ``spectrum``'s instrument: 0 when the
    spectrum covers less than ``MIN_COVERAGE`` of the model's wavelengths, else the
    fraction of the spectrum's span (in log wavelength) that the model reads."""
    if spectrum.coverage(wavelength) < MIN_COVERAGE:
        return 0.0
    low, high = float(np.min(spectrum.wavelength)), float(np.max(spectrum.wavelength))
    overlap = np.log(min(high, wavelength[-1])) - np.log(max(low, wavelength[0]))
    return float(max(overlap, 0.0) / np.log(high / low))


@dataclass
class Choice:
    """The prediction of the model that covers a spectrum best, and why it was chosen.

    Attributes
    ----------
    model
        Name of the chosen shipped model.
    prediction
        Its prediction. When no model covers the object, ``prediction.flags`` says so.
    tried
        ``{model name: reason it was not chosen}`` for the others.
    results
        Every model's prediction that succeeded (the empirical scale reads them all).
    """

    model: str
    prediction: Prediction
    tried: dict[str, str] = field(default_factory=dict)
    results: dict[str, Prediction] = field(default_factory=dict)


class ModelChooser:
    """Applies the shipped models made for a spectrum's instrument and keeps the one whose
    grid covers the object.

    A model is a candidate for a spectrum when the spectrum covers its wavelengths and the
    model uses the most of the spectrum's span (:func:`instrument_match`: a JWST PRISM
    spectrum goes to the PRISM models, not to the SpeX ones that would read a third of it).
    Among candidates, a model covers the object when its Teff posterior does not pile at a
    grid edge, and the best fit (lowest reduced χ² of the grid spectrum at the posterior
    median) wins; when none covers, the best fit is returned with a flag saying that none
    does. Models are loaded when a spectrum first needs them.
    """

    def __init__(self, names: list[str] | None = None, smooth: bool = True,
                 fast: bool = False) -> None:
        #: Why this chooser was picked as the default (added to each prediction's notes).
        self.reason = ""
        #: Smooth spectra sharper than a model to its resolution, keep the networks' answers
        #: (see ``Predictor``).
        self.smooth, self.fast = smooth, fast
        shipped = available()
        names = names or list(shipped)
        if not names:
            raise DataError("no pre-trained models are installed; train one with "
                            "`telescopeml train` and pass its directory")
        self.manifests = {n: shipped[n] if n in shipped else read_manifest(model_path(n))
                          for n in names}
        self._loaded: dict[str, Predictor] = {}
        self.path = "shipped models: " + ", ".join(names)
        teff = [m["parameters"]["ranges"].get("teff", (np.nan, np.nan))
                for m in self.manifests.values()]
        #: Teff range covered by the models together (for benchmarks).
        self.ranges = {"teff": (float(np.nanmin([t[0] for t in teff])),
                                float(np.nanmax([t[1] for t in teff])))}
        #: What the grids cover: the same (its answers are on the grids' scale).
        self.grid_ranges = self.ranges
        first = next(iter(self.manifests.values()))["parameters"]["names"]
        self.names = [n for n in first
                      if all(n in m["parameters"]["names"] for m in self.manifests.values())]

    def predictor(self, name: str) -> Predictor:
        """Shipped model ``name``, loaded on first use."""
        if name not in self._loaded:
            self._loaded[name] = load(name, self.smooth, self.fast)
        return self._loaded[name]

    @property
    def predictors(self) -> dict[str, Predictor]:
        """Every model of this chooser, loaded."""
        return {name: self.predictor(name) for name in self.manifests}

    def candidates(self, spectrum: ObservedSpectrum) -> list[str]:
        """The models made for ``spectrum``'s instrument (:func:`instrument_match`); every
        model when none is, so that each says why it cannot read the spectrum."""
        scores = {n: instrument_match(spectrum, np.asarray(m["wavelength"], dtype=float))
                  for n, m in self.manifests.items()}
        best = max(scores.values())
        if best <= 0:
            return list(self.manifests)
        return [n for n, score in scores.items() if score >= MATCH_TOLERANCE * best]

    def predict(self, spectrum: ObservedSpectrum | str | Path, n_samples: int = 10000,
                seed: int = 0) -> Prediction:
        """The chosen model's prediction (its notes name the model)."""
        return self.choose(spectrum, n_samples, seed).prediction

    def choose(self, spectrum: ObservedSpectrum | str | Path, n_samples: int = 10000,
               seed: int = 0) -> Choice:
        """Predict ``spectrum`` with every model; return the :class:`Choice`."""
        choice = self.choose_many([spectrum], n_samples, seed)[0]
        if isinstance(choice, TelescopeMLError):
            raise choice
        return choice

    def predict_many(self, spectra: list[ObservedSpectrum | str | Path], n_samples: int = 2000,
                     seed: int = 0) -> list[Prediction | TelescopeMLError]:
        """The chosen model's prediction of each spectrum, or the error that stopped it."""
        return [c.prediction if isinstance(c, Choice) else c
                for c in self.choose_many(spectra, n_samples, seed)]

    def choose_many(self, spectra: list[ObservedSpectrum | str | Path], n_samples: int = 2000,
                    seed: int = 0, keep: tuple[str, ...] = ()
                    ) -> list[Choice | TelescopeMLError]:
        """:meth:`choose` for many spectra (each model runs once over all of them).

        Where a spectrum has several candidate models, they are compared on
        :data:`SCREEN_SAMPLES` posterior samples and only the chosen one draws all
        ``n_samples`` (the same samples as without screening); models in ``keep`` always
        draw all of them (the empirical layer reads every model's answer). Without
        :attr:`fast` nothing is screened: the grid's posterior costs as much for few samples.
        Each spectrum is read and cleaned once, here.
        """
        read: list[ObservedSpectrum | TelescopeMLError] = []
        for spectrum in spectra:
            try:
                read.append(clean_spectrum(as_spectrum(spectrum)))
            except TelescopeMLError as exc:
                read.append(exc)
        wanted = [self.candidates(s) if isinstance(s, ObservedSpectrum) else []
                  for s in read]

        def screened(i: int, name: str) -> bool:
            # the grid's posterior costs the same for few samples: no screening
            return (self.fast and n_samples > SCREEN_SAMPLES and len(wanted[i]) > 1
                    and name not in keep)

        prepared: dict[str, dict[int, Prepared | TelescopeMLError]] = {}
        for name in self.manifests:
            group = [i for i, names in enumerate(wanted) if name in names]
            if group:
                prepared[name] = dict(zip(group, self.predictor(name).prepare_many(
                    [read[i] for i in group]), strict=True))
        per_model = self._run(prepared, n_samples, seed, screened)
        picks: dict[int, tuple[str, bool, dict[str, str], dict[str, Prediction]]] = {}
        out: list[Choice | TelescopeMLError] = []
        for i, spectrum in enumerate(read):
            decided = (spectrum if isinstance(spectrum, TelescopeMLError) else
                       self._pick(spectrum, {name: per_model[name][i] for name in wanted[i]}))
            if isinstance(decided, TelescopeMLError):
                out.append(decided)
                continue
            picks[i] = decided
            out.append(DataError("not chosen yet", ""))  # the Choice replaces it below
        again = {name: {i: prepared[name][i] for i, pick in picks.items()
                        if pick[0] == name and screened(i, name)} for name in prepared}
        full = self._run(again, n_samples, seed, lambda i, name: False)
        for i, (best, covering, tried, good) in picks.items():
            chosen = full.get(best, {}).get(i, good[best])
            if isinstance(chosen, TelescopeMLError):  # cannot happen for a model that read it
                out[i] = chosen
                continue
            good = {**good, best: chosen}
            out[i] = self._annotate(best, chosen, covering, tried, good)
        return out

    def _run(self, prepared: dict[str, dict[int, Prepared | TelescopeMLError]], n_samples: int,
             seed: int, screened: Callable[[int, str], bool]
             ) -> dict[str, dict[int, Prediction | TelescopeMLError]]:
        """Each model's answers for its ``prepared`` spectra (by index; screened ones on
        :data:`SCREEN_SAMPLES` samples)."""
        answers: dict[str, dict[int, Prediction | TelescopeMLError]] = {}
        for name, items in prepared.items():
            for screen in (True, False):
                group = [i for i in items if screened(i, name) == screen]
                if group:
                    results = self.predictor(name).finish_many(
                        [items[i] for i in group], SCREEN_SAMPLES if screen else n_samples, seed)
                    answers.setdefault(name, {}).update(zip(group, results, strict=True))
        return answers

    def _pick(self, spectrum: ObservedSpectrum, results: dict[str, Prediction | TelescopeMLError]
              ) -> tuple[str, bool, dict[str, str], dict[str, Prediction]] | DataError:
        """``(chosen model, whether any model covers the object, why not the others, the
        models' predictions)``, or the error saying that no model could read it."""
        tried = {n: str(r) for n, r in results.items() if not isinstance(r, Prediction)}
        good = {n: r for n, r in results.items() if isinstance(r, Prediction)}
        if not good:
            return DataError("no shipped model can read this spectrum: " + "; ".join(
                f"{k}: {v}" for k, v in tried.items()), spectrum.source or spectrum.name)

        def fit(name: str) -> float:
            chi2 = good[name].chi2_red
            return chi2 if np.isfinite(chi2) else np.inf

        # a model covers the object when its Teff posterior does not pile at a grid edge
        # and its grid can describe the spectrum (the fitted model error is not huge);
        # the fit decides between covering models (real spectra often fit poorly even
        # inside a grid, so a poor fit alone does not rule a model out)
        covering = [n for n, p in good.items() if "teff" not in p.limits
                    and not p.sampling.get("model_error", 0.0) > MODEL_ERROR_FLAG]
        best = min(covering or good, key=fit)
        for name, prediction in good.items():
            if name != best:
                tried[name] = (prediction.flag or f"worse fit (reduced chi2 "
                               f"{prediction.chi2_red:.3g})")
        return best, bool(covering), tried, good

    def _annotate(self, best: str, chosen: Prediction, covering: bool, tried: dict[str, str],
                  good: dict[str, Prediction]) -> Choice:
        """The :class:`Choice`, its prediction's notes naming the model (and flagging when
        none covers the object)."""
        if not covering:
            chosen.flags.insert(0, "none of the shipped models covers this object (" +
                                ", ".join(_teff_range(self.predictor(n)) for n in good)
                                + "); showing the best fit")
        chosen.notes.append(f"model: shipped {best} ({_teff_range(self.predictor(best))})")
        if self.reason:
            chosen.notes.append(self.reason)
        chosen.model = best
        return Choice(best, chosen, tried, good)


def _teff_range(predictor: Predictor) -> str:
    low, high = predictor.ranges.get("teff", (np.nan, np.nan))
    return f"{predictor.manifest['grid'].get('name')}, Teff {low:g}-{high:g} K"


# --- the empirical scale ----------------------------------------------------------------
class EmpiricalPredictor:
    """The shipped grid models plus the empirical layer: what ``telescopeml predict`` uses.

    Parameters
    ----------
    chooser
        The grid models (by default every shipped one).
    model
        The empirical layer (default: the shipped one).
    reason
        Why this scale was chosen, added to each prediction's notes.
    """

    def __init__(self, chooser: ModelChooser | None = None,
                 model: EmpiricalModel | None = None, reason: str = "") -> None:
        self._empirical = model
        meta = model.meta if model is not None else empirical_meta()
        names = list(meta["grid_models"])
        #: The grid models the empirical layer reads (SpeX prism); spectra from another
        #: instrument get the atmosphere-grid answer of the models made for it.
        self.models = names
        self.chooser = chooser or ModelChooser()
        #: The layer reads the grid models' answers it was fitted on: the grid's posterior,
        #: or (layers fitted before it existed) the networks' answers alone.
        self.chooser.fast = meta.get("grid_answers", "network") == "network"
        self._reads_networks = self.chooser.fast
        self.reason = reason
        self.path = f"empirical scale over shipped models: {', '.join(names)}"
        #: The labeled parameters, then the grids' others ([M/H], clouds: atmosphere-grid
        #: scale, see ``Prediction.parameter_scales``).
        self.names = [*meta["params"], *(n for n in self.chooser.names
                                         if n not in meta["params"])]
        #: Labeled range of each parameter (the grids' for the others); ``grid_ranges``:
        #: what the grids cover.
        self.ranges = {p: tuple(meta["targets"][p]["label_range"]) for p in meta["params"]}
        for name in self.names[len(self.ranges):]:
            spans = [m["parameters"]["ranges"][name] for m in self.chooser.manifests.values()
                     if name in m["parameters"]["ranges"]]
            self.ranges[name] = (min(s[0] for s in spans), max(s[1] for s in spans))
        self.grid_ranges = self.chooser.ranges

    @property
    def empirical(self) -> EmpiricalModel:
        """The empirical layer (loaded on first use)."""
        if self._empirical is None:
            self._empirical = load_empirical()
        return self._empirical

    def predict(self, spectrum: ObservedSpectrum | str | Path, n_samples: int = 10000,
                seed: int = 0) -> Prediction:
        """The empirical-scale prediction of one spectrum."""
        result = self.predict_many([spectrum], n_samples, seed)[0]
        if isinstance(result, TelescopeMLError):
            raise result
        return result

    def predict_many(self, spectra: list, n_samples: int = 2000,
                     seed: int = 0) -> list[Prediction | TelescopeMLError]:
        """:meth:`predict` for many spectra; a spectrum that fails returns its error."""
        out: list[Prediction | TelescopeMLError] = []
        for choice in self.chooser.choose_many(spectra, n_samples, seed,
                                               keep=tuple(self.models)):
            if isinstance(choice, TelescopeMLError):
                out.append(choice)
                continue
            if choice.model not in self.models:
                prediction = choice.prediction
                prediction.notes.append(
                    f"atmosphere-grid scale: the empirical scale is learned on SpeX prism "
                    f"spectra ({', '.join(self.models)}); this spectrum is read by {choice.model}")
                out.append(prediction)
                continue
            try:
                prediction = self.empirical.apply(choice, n_samples, seed)
            except TelescopeMLError as exc:
                out.append(exc)
                continue
            if self._reads_networks and prediction.sampling.get("method") == "network":
                prediction.sampling = {**prediction.sampling, "describe": (
                    "the grid models' networks (the empirical layer was fitted on their "
                    "answers)")}
            if self.reason:
                prediction.notes.append(self.reason)
            out.append(prediction)
        return out


def load_empirical() -> EmpiricalModel:
    """The shipped empirical layer."""
    return EmpiricalModel.load(models_dir() / EMPIRICAL_DIR)


def empirical_meta() -> dict:
    """The shipped empirical layer's metadata (its JSON), without loading its arrays."""
    path = models_dir() / EMPIRICAL_DIR / META_FILE
    return read_json(path, "empirical layer")

# --- writing shipped models ---------------------------------------------------------------
def export(bundle: str | Path, out_dir: str | Path, grid: SpectralGrid,
           command: str | None = None) -> Path:
    """Write a trained bundle as a shippable model: float16 weights + compact grid copy.

    ``grid`` must be the training grid on the model's wavelengths (``Predictor.grid``).
    """
    loaded = load_bundle(bundle)
    manifest = manifest_sections(loaded.manifest)
    if command:
        manifest["command"] = command
    out_dir = Path(out_dir)
    if out_dir.exists():
        shutil.rmtree(out_dir)
    save_bundle(out_dir, loaded.model, loaded.config, weights_dtype="float16", **manifest)
    compact.write_compact_grid(grid, out_dir / GRID_FILE)
    return out_dir


__all__ = ["SCALES", "Choice", "EmpiricalPredictor", "ModelChooser", "available",
           "default_scale", "export", "load", "load_empirical", "made_for",
           "model_path", "predictor"]
