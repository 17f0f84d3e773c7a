"""One training run from a grid to a bundle: data, split, augmentation, model, training."""

from __future__ import annotations

import dataclasses
import json
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from telescopeml import tomlio
from telescopeml.bundle import save_bundle
from telescopeml.cache import remove_stale
from telescopeml.data.augment import AugmentConfig, Augmenter, TrainingBatch, sample_test_set
from telescopeml.data.grid import SpectralGrid
from telescopeml.data.inputs import EXTRA_FEATURES, InputEncoder
from telescopeml.data.prepared import PreparedData, config_grid
from telescopeml.data.splits import split_grid
from telescopeml.data.transforms import Normalizer, ParameterScaler
from telescopeml.errors import DataError, UnknownNameError
from telescopeml.jsonio import dumps
from telescopeml.models import ModelConfig, box_bounds, build_model, count_parameters
from telescopeml.progress import stage
from telescopeml.training.checkpoint import check_train_settings, read_meta
from telescopeml.training.config import MAX_SEED, TrainConfig
from telescopeml.training.manifest import bundle_sections, summary_metrics
from telescopeml.training.outputs import CHECKPOINT_DIR, CONFIG_FILE, holds_files, replacing
from telescopeml.training.runtime import is_main_process, seed_everything
from telescopeml.training.trainer import Trainer


@dataclass
class DataConfig:
    """Which spectra and labels a model learns from.

    Parameters
    ----------
    grid
        Registered grid name or path to a grid file/directory.
    targets
        Parameters to predict; empty = every axis with more than one value.
    wavelength_range
        ``(low, high)`` µm to keep; ``(0, 0)`` keeps all.
    windows
        ``(low, high)`` µm windows inside ``wavelength_range``: train on the pixels inside
        their union only (e.g. ``[(1.0, 2.5), (4.0, 5.0)]``); empty keeps every pixel.
    instrument
        Resample the grid onto this instrument's pixels (e.g. ``SPEX-PRISM``, from ucdmcmc's
        wavelength tables) inside the grid's coverage, so that observed spectra from it need
        only a light resampling; ``""`` keeps the grid's own wavelengths.
    normalization
        Per-spectrum normalizer name (see :mod:`telescopeml.data.transforms`).
    extra_features
        The scalar inputs of models that take them (``telescopeml``), one of
        :data:`~telescopeml.data.inputs.EXTRA_FEATURES`: ``normalized`` (min and max of the
        normalized spectrum) or ``absolute-fnu`` (min and max of its absolute F_nu).
    standardize_wavelengths
        Standardize the network's input channels per wavelength over the training set.
    uncertainty_channel
        Give the network each pixel's uncertainty as a second input channel.
    fractions, split_seed
        Train/validation/test fractions of whole grid points, and the split's seed.
    val_snr
        S/N levels of the fixed validation set (one noisy copy of each validation spectrum
        per level; 0 = clean), so that early stopping weighs all of them.
    """

    grid: str = "splat-dback24"
    targets: tuple[str, ...] = ()
    wavelength_range: tuple[float, float] = (0.0, 0.0)
    windows: tuple[tuple[float, float], ...] = ()
    instrument: str = "SPEX-PRISM"
    normalization: str = "median"
    extra_features: str = "normalized"
    standardize_wavelengths: bool = True
    uncertainty_channel: bool = True
    fractions: tuple[float, float, float] = (0.8, 0.1, 0.1)
    split_seed: int = 0
    val_snr: float | tuple[float, ...] = (0.0, 10.0, 30.0, 100.0)

    def __post_init__(self) -> None:
        tomlio.check_range("split_seed", self.split_seed, 0, MAX_SEED)
        Normalizer.create(self.normalization)
        if self.extra_features not in EXTRA_FEATURES:
            raise UnknownNameError("extra features", self.extra_features, EXTRA_FEATURES)
        self.targets = tuple(self.targets)
        self.wavelength_range = tuple(float(x) for x in self.wavelength_range)
        self.windows = tuple(_window(w) for w in self.windows)
        self.fractions = tuple(float(x) for x in self.fractions)
        levels = self.val_snr if isinstance(self.val_snr, list | tuple) else (self.val_snr,)
        self.val_snr = tuple(float(x) for x in levels)


def _window(window: Sequence[float]) -> tuple[float, float]:
    low, high = (float(x) for x in window)
    if not low < high:
        raise ValueError(f"window {low:g}-{high:g} µm: low must be below high")
    return low, high


#: Named starting points; `--preset` picks one, a config file may override any field.
PRESETS: dict[str, dict[str, dict[str, Any]]] = {
    # Interpolated spectra carry the grid's node scatter at half strength (issue 17).
    "default": {"augment": {"node_scatter": 0.5}},
    # TelescopeML's network and preprocessing (Gharib-Nezhad et al. 2024; DataMaster and
    # DeepTrainer): each spectrum standardized on its own and fed as it is, beside the min
    # and max of its absolute F_nu standardized over the training set, so observed spectra
    # must be surface fluxes in the grid's units (TelescopeML scales them by (d/R)^2).
    # telescopeml-median is this package's earlier variant, blind to the flux scale:
    # median-normalized spectra standardized per wavelength, beside the min and max of the
    # normalized spectrum.
    "telescopeml": {
        "model": {"architecture": "telescopeml"},
        "train": {"loss": "huber", "lr": 3e-4},
        "data": {"uncertainty_channel": False, "normalization": "zscore",
                 "extra_features": "absolute-fnu", "standardize_wavelengths": False},
    },
    "telescopeml-median": {
        "model": {"architecture": "telescopeml"},
        "train": {"loss": "huber", "lr": 3e-4},
        "data": {"uncertainty_channel": False},
    },
    "mlp": {"model": {"architecture": "mlp"}},
    # For real spectra: 0.9-2.4 µm (the models match observed L and T dwarfs worst in the
    # red optical and at the noisy band edges) and random continuum distortions, which cut
    # the Teff RMSE on the dev benchmark from 330 K to 242 K (BENCHMARKS.md).
    "posterior": {"model": {"head": "flow"}, "train": {"loss": "nll"},
                  "data": {"wavelength_range": (0.9, 2.4)},
                  "augment": {"continuum_tilt": 0.1}},
}


def _model_defaults(chosen: dict[str, Any]) -> dict[str, Any]:
    """The model section's defaults given what a preset and the config chose: a point-head
    ``hybrid`` is three small networks averaged, which over all 168 interior Diamondback
    nodes held out once cut the RMSE to 0.90x (Teff, log g) and 0.96x ([M/H], 1/f_sed) that
    of one network of the architecture's size, and runs as fast as one (BENCHMARKS.md,
    issue 17); any other architecture or head starts from its own preset."""
    defaults: dict[str, Any] = {"architecture": "hybrid", "head": "point"}
    if {**defaults, **chosen}.items() >= defaults.items():
        defaults.update(members=3, filters=(16, 16), dense=(256, 128))
    return defaults


def _augment_defaults() -> dict[str, Any]:
    # Interpolating along up to 4 axes at once gave lower held-out errors on Diamondback
    # than the 2 of AugmentConfig's default; a few noise-free spectra teach the network
    # what a clean (S/N 1000) uncertainty channel means (BENCHMARKS.md).
    return {"max_axes": 4, "noise_free_fraction": 0.05}


def _train_defaults() -> dict[str, Any]:
    return TrainConfig(epochs=60, batch_size=128, lr=2e-3, patience=15,
                       checkpoint_every=5).to_dict()


@dataclass
class ExperimentConfig:
    """Everything that defines a training run; saved as ``config.toml`` beside its outputs."""

    data: DataConfig = field(default_factory=DataConfig)
    augment: AugmentConfig = field(default_factory=lambda: AugmentConfig(**_augment_defaults()))
    model: dict[str, Any] = field(default_factory=lambda: _model_defaults({}))
    train: TrainConfig = field(default_factory=lambda: TrainConfig(**_train_defaults()))

    def to_dict(self) -> dict[str, Any]:
        """Nested plain dict: sections data, augment, model, train."""
        return {
            "data": dataclasses.asdict(self.data),
            "augment": dataclasses.asdict(self.augment),
            "model": dict(self.model),
            "train": self.train.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any], preset: str = "default") -> ExperimentConfig:
        """Build from sections (missing keys take the preset's, then the defaults)."""
        if preset not in PRESETS:
            raise UnknownNameError("preset", preset, sorted(PRESETS))
        unknown = sorted(set(data) - {"data", "augment", "model", "train"})
        if unknown:
            raise ValueError(f"unknown config sections {unknown}; valid: data, augment, "
                             "model, train")
        for name, section in data.items():
            if not isinstance(section, dict):
                raise ValueError(f"[{name}] must be a table of settings, got {section!r}")
        chosen = {**PRESETS[preset].get("model", {}), **data.get("model", {})}
        merged = {
            name: {**base, **PRESETS[preset].get(name, {}), **data.get(name, {})}
            for name, base in (("data", {}), ("augment", _augment_defaults()),
                               ("model", _model_defaults(chosen)),
                               ("train", _train_defaults()))
        }
        built = {}
        for name, build in (("data", lambda v: _build(DataConfig, v)),
                            ("augment", lambda v: _build(AugmentConfig, v)),
                            ("model", _checked_model), ("train", TrainConfig.from_dict)):
            try:  # every value is checked here, as the config is read, not when it is used
                built[name] = build(merged[name])
            except (TypeError, ValueError) as exc:
                raise ValueError(f"[{name}] {exc}") from None
        return cls(**built)

    @classmethod
    def from_toml(cls, path: str | Path, preset: str = "default") -> ExperimentConfig:
        """Read a config file (any subset of the sections)."""
        try:
            return cls.from_dict(tomlio.read(path), preset)
        except (TypeError, ValueError) as exc:
            raise DataError(str(exc), path) from None

    def to_toml(self, path: str | Path) -> Path:
        """Write the config as TOML."""
        return tomlio.write(path, self.to_dict(), "telescopeml experiment configuration")


def config_from_options(config: str | Path | None = None, preset: str = "default",
                        grid: str | None = None, epochs: int | None = None,
                        seed: int | None = None) -> ExperimentConfig:
    """The config of the ``train``/``tune`` command-line options: a TOML file or a preset,
    then the grid, epochs and seed (split, augmentation and weights) given on top."""
    if config:
        result = ExperimentConfig.from_toml(config, preset=preset)
    else:
        result = ExperimentConfig.from_dict({}, preset=preset)
    if grid:
        result.data.grid = grid
    if epochs:
        result.train.epochs = epochs
    if seed is not None:
        try:
            tomlio.check_range("--seed", seed, 0, MAX_SEED)
        except ValueError as exc:
            raise DataError(str(exc)) from None
        result.train.seed = result.data.split_seed = seed
    return result


def _checked_model(values: dict[str, Any]) -> dict[str, Any]:
    """The model section, checked as a :class:`~telescopeml.models.ModelConfig` (the sizes
    that come from the grid take stand-ins until then)."""
    stand_ins: dict[str, Any] = {"n_wavelengths": 10**6, "n_outputs": 1}
    if values.get("head") == "flow":
        stand_ins["bounds"] = ((-1.0, 1.0),) * values.get("n_outputs", 1)
    ModelConfig.from_dict({**stand_ins, **{k: tuple(v) if isinstance(v, list) else v
                                           for k, v in values.items()}})
    return values


def _build(cls: type, values: dict[str, Any]) -> Any:
    values = {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}
    return tomlio.dataclass_from_dict(cls, values)


def prepare(config: ExperimentConfig, grid: SpectralGrid | None = None,
            quiet: bool = False) -> PreparedData:
    """Split the grid, set up augmentation, and fit the transforms on training data only."""
    grid = config_grid(config.data, quiet) if grid is None else grid
    targets = list(config.data.targets) or [a for a in grid.axes
                                            if grid.axis_values(a).size > 1]
    for t in targets:
        if t not in grid.axes:
            raise UnknownNameError("target parameter", t, grid.axes)
    split = split_grid(grid, config.data.fractions, seed=config.data.split_seed)
    augmenter = Augmenter(grid, split.train, config.augment, seed=config.train.seed)
    first = augmenter.epoch(0)
    encoder = InputEncoder(grid.wavelength, Normalizer.create(config.data.normalization),
                           config.data.uncertainty_channel, config.data.extra_features,
                           grid.flux_unit, config.data.standardize_wavelengths)
    encoder.fit(first.flux, first.sigma)
    cols = [grid.axes.index(t) for t in targets]
    scaler = ParameterScaler(targets, log=[t for t in targets if t == "teff"])
    scaler.fit(first.params[:, cols])
    return PreparedData(grid, targets, split, augmenter, encoder, scaler)


#: Width added on each side of the training box that bounds a flow posterior (fraction of
#: each parameter's range): samples stay within 1% of the grid's edges.
FLOW_MARGIN = 0.01


def flow_bounds(config: ExperimentConfig, prepared: PreparedData) -> dict[str, Any]:
    """``{"bounds": ...}`` for a flow head: the box of the scaled training targets."""
    if config.model.get("head") != "flow":
        return {}
    params = prepared.grid.parameter_matrix()[prepared.split.train]
    return {"bounds": box_bounds(prepared.labels(params), FLOW_MARGIN)}


def _batch(prepared: PreparedData, flux, sigma, params, uses_extra: bool):
    x, extra = prepared.inputs(flux, sigma)
    y = prepared.labels(params)
    return (x, extra, y) if uses_extra else (x, y)


#: Noise draws per validation spectrum at each finite S/N when fitting the posterior
#: recalibration: the stretch quantiles then vary less with the noise of one draw.
RECALIBRATION_DRAWS = 4


def validation_set(config: ExperimentConfig, prepared: PreparedData,
                   draws: int = 1) -> TrainingBatch:
    """The validation grid points at every ``config.data.val_snr``, ``draws`` noise draws at
    each finite S/N (the same draws each call; the first is the one the validation loss
    uses)."""
    vals = [sample_test_set(prepared.grid, prepared.split.val, snr=level or None,
                            seed=config.train.seed + 1 + 1000 * r)
            for level in config.data.val_snr for r in range(draws if level else 1)]
    return TrainingBatch(*(np.concatenate([getattr(v, f.name) for v in vals])
                           for f in dataclasses.fields(TrainingBatch)))


def check_resumable(saved: ExperimentConfig, config: ExperimentConfig,
                    source: str | Path) -> None:
    """Refuse to resume a run whose data, split, augmentation or model changed (a changed
    split would put held-out points into training); the trainer checks ``[train]``."""
    old, new = saved.to_dict(), config.to_dict()
    changed = []
    for section in ("data", "augment", "model"):
        keys = sorted(set(old[section]) | set(new[section]))
        for key in keys:
            a, b = old[section].get(key), new[section].get(key)
            if json.dumps(a, default=str) != json.dumps(b, default=str):
                changed.append(f"[{section}] {key}: {a!r} -> {b!r}")
    if changed:
        raise DataError("cannot resume: the run was started with other settings ("
                        + "; ".join(changed) + "); train into a new --out instead", source)


def fit_model(config: ExperimentConfig, out_dir: str | Path, grid: SpectralGrid | None = None,
              resume: bool = False, progress: bool = True,
              on_epoch_end: Callable[[int, dict[str, float]], None] | None = None,
              ) -> tuple[PreparedData, Trainer]:
    """Prepare the data and train the network, without bundle or evaluation.

    ``out_dir`` receives ``config.toml`` and the :class:`Trainer`'s outputs (rank 0 only
    under ``torchrun``); ``grid`` skips loading the grid; ``on_epoch_end`` goes to the
    Trainer. Returns the prepared data and the trainer (``trainer.model`` holds the best
    weights).
    """
    out_dir = Path(out_dir)
    main = is_main_process()
    if main:
        out_dir.mkdir(parents=True, exist_ok=True)
        if resume:  # refused before config.toml or train.toml is rewritten
            if (out_dir / CONFIG_FILE).is_file():
                check_resumable(ExperimentConfig.from_toml(out_dir / CONFIG_FILE), config,
                                out_dir / CONFIG_FILE)
            check_train_settings(read_meta(out_dir / CHECKPOINT_DIR), config.train,
                                 out_dir / CHECKPOINT_DIR)
        config.to_toml(out_dir / CONFIG_FILE)
    progress = progress and main
    with stage("loading the grid and preparing the training data", progress):
        prepared = prepare(config, grid=grid, quiet=not progress)
    model_config = ModelConfig.from_dict({
        **config.model,
        "n_wavelengths": prepared.grid.n_wavelengths,
        "n_outputs": len(prepared.targets),
        "in_channels": prepared.encoder.in_channels,
        **flow_bounds(config, prepared),
    })
    seed_everything(config.train.seed)  # the initial weights, as well as the loop
    model = build_model(model_config)
    uses_extra = bool(model.config.n_extra)
    val = validation_set(config, prepared)

    def train_data(epoch: int):
        batch = prepared.augmenter.epoch(epoch)
        return _batch(prepared, batch.flux, batch.sigma, batch.params, uses_extra)

    trainer = Trainer(model, config.train, out_dir, on_epoch_end=on_epoch_end,
                      progress=progress)
    with stage(f"training {model.config.architecture} ({count_parameters(model):,} "
               f"parameters) on {len(prepared.augmenter)} spectra per epoch from "
               f"{len(prepared.split.train)} training grid points; targets "
               f"{', '.join(prepared.targets)}", progress):
        trainer.fit(train_data, _batch(prepared, val.flux, val.sigma, val.params, uses_extra),
                    resume=resume)
    return prepared, trainer


def recalibrate(model: Any, config: ExperimentConfig, prepared: PreparedData,
                progress: bool = False) -> dict[str, Any]:
    """Fit a flow model's level-dependent recalibration on the validation points, set it on
    the model, and return the manifest's ``posterior`` section.

    NLL-trained flows come out too wide or too narrow, differently at each credibility
    level (:mod:`telescopeml.models.recalibration`); the test points stay untouched.
    """
    from telescopeml.evaluation.evaluate import fit_posterior_recalibration

    model.flow.set_spread(None)  # the recalibration replaces an earlier bundle's spread
    recalibration = fit_posterior_recalibration(
        model, prepared, validation_set(config, prepared, draws=RECALIBRATION_DRAWS),
        seed=config.train.seed, progress=progress)
    model.flow.set_recalibration(recalibration)
    return {"stretch": recalibration.to_dict(prepared.targets),
            "fitted_on": "validation grid points at data.val_snr"}


def train(config: ExperimentConfig, out_dir: str | Path, resume: bool = False,
          progress: bool = True, command: str | None = None, baselines: bool = True,
          overwrite: bool = False) -> Path:
    """Train a model as ``config`` says and write a bundle to ``out_dir``; return its path.

    ``out_dir`` receives ``manifest.json`` + ``model.safetensors`` (the bundle),
    ``config.toml``, ``train.toml``, ``history.csv``/``.json``, ``loss_curve.png`` and
    ``evaluation.json`` (with the baselines unless ``baselines`` is False);
    ``checkpoint/`` lives there while training runs (for ``--resume``) and is removed once
    the bundle is written. Under ``torchrun`` every rank trains and rank 0 alone writes the
    bundle and evaluation.

    With ``overwrite`` (and not ``resume``) a ``out_dir`` that holds files is not touched
    while the run trains, in a folder beside it; once the new model is complete its files
    replace the run files there (:data:`~telescopeml.training.outputs.RUN_FILES`) and
    nothing else (see :func:`~telescopeml.training.outputs.replacing`).
    """
    out_dir = Path(out_dir)
    if is_main_process():
        remove_stale(out_dir)  # what a killed --overwrite run left beside it
    if overwrite and not resume and is_main_process() and holds_files(out_dir):
        with replacing(out_dir) as staging:
            _train(config, staging, out_dir, False, progress, command, baselines)
        return out_dir
    return _train(config, out_dir, out_dir, resume, progress, command, baselines)


def _train(config: ExperimentConfig, work: Path, out_dir: Path, resume: bool, progress: bool,
           command: str | None, baselines: bool) -> Path:
    """:func:`train` writing into ``work``, a model that will be ``out_dir``."""
    from telescopeml.evaluation.evaluate import evaluate_prepared

    started = time.time()
    prepared, trainer = fit_model(config, work, resume=resume, progress=progress)
    if not is_main_process():
        return out_dir
    model = trainer.model
    train_seconds = time.time() - started
    manifest = bundle_sections(prepared, config.to_dict(), model_config=model.config)
    manifest["training"]["seconds"] = train_seconds
    manifest["training"]["best_epoch"] = trainer.best_epoch
    manifest["command"] = command
    if model.config.head == "flow":
        with stage(f"recalibrating the posterior on {len(prepared.split.val)} validation grid "
                   f"points ({RECALIBRATION_DRAWS} noise draws at each S/N)", progress):
            manifest["posterior"] = recalibrate(model, config, prepared, progress)
    save_bundle(work, model, model.config, **manifest)
    with stage(f"evaluating on {len(prepared.split.test)} held-out grid points", progress):
        metrics = {"model": str(out_dir),
                   **evaluate_prepared(model, prepared, seed=config.train.seed,
                                       baselines=baselines, progress=progress)}
    manifest["metrics"] = summary_metrics(metrics)
    save_bundle(work, model, model.config, **manifest)
    (work / "evaluation.json").write_text(dumps(metrics, indent=1) + "\n", encoding="utf-8")
    if "calibration" in metrics:
        (work / "calibration.json").write_text(dumps(metrics["calibration"]) + "\n",
                                               encoding="utf-8")
    # the run is complete and the bundle written: nothing is left to resume (16 MB saved)
    shutil.rmtree(work / CHECKPOINT_DIR, ignore_errors=True)
    return out_dir
