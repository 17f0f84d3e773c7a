"""Hyperparameter search with Optuna: one study, any number of workers.

A search space is a TOML file with one table per hyperparameter, ``[space.SECTION.KEY]``,
where ``SECTION`` is a section of :class:`~telescopeml.training.experiment.ExperimentConfig`
(``data``, ``augment``, ``model``, ``train``) and ``KEY`` one of its fields::

    [space.train.lr]                  # float: low, high, optional log (bool) or step
    type = "float"
    low = 1e-4
    high = 1e-2
    log = true

    [space.model.architecture]        # categorical: a list of choices
    type = "categorical"
    choices = ["hybrid", "resnet"]

    [space.model.dense]               # a tuple field as a categorical of lists ...
    type = "categorical"
    choices = [[256], [512, 256]]

    [space.model.filters_0]           # ... or element by element: KEY_0, KEY_1, ... set the
    type = "int"                      # whole tuple (indices 0..n-1, all of them)
    low = 16
    high = 64
    log = true

``int`` takes ``low``, ``high`` and an optional ``log`` or ``step``. Fields that define the
split, the validation set or the loss (so that validation losses of different trials
compare) cannot be searched: see :data:`FIXED`. Every other value comes from the base
config (a ``telescopeml train --config`` file and preset).

The study lives in an SQLAlchemy storage: ``sqlite:///OUT/study.db`` by default, a
PostgreSQL URL to share it between machines. Workers send a heartbeat while they train; the
trial of a worker that died is failed once its heartbeat is older than twice the interval
(by the next worker that starts a trial) and queued again once with the same parameters.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import dataclasses
import json
import math
import os
import random
import re
import shutil
import socket
import sys
import time
import warnings
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from telescopeml import tomlio
from telescopeml.argtypes import positive_int
from telescopeml.cache import atomic_path
from telescopeml.errors import DataError

if TYPE_CHECKING:  # torch and optuna load only when a search runs, not with the CLI
    from telescopeml.data.grid import SpectralGrid
    from telescopeml.training.experiment import DataConfig, ExperimentConfig

#: Fields that a search may not change: they define the split, the validation set, the loss
#: or the machine, and validation losses of trials must compare.
FIXED: dict[str, frozenset[str]] = {
    "data": frozenset({"grid", "targets", "fractions", "split_seed", "val_snr"}),
    "augment": frozenset(),
    "model": frozenset({"head", "n_wavelengths", "n_outputs", "in_channels", "bounds"}),
    "train": frozenset({"loss", "huber_delta", "checkpoint_every", "num_threads", "device",
                        "deterministic"}),
}
SECTIONS = ("data", "augment", "model", "train")
TYPES = ("float", "int", "categorical")
PRUNERS = ("median", "hyperband", "none")
DEFAULT_SPACE = "tune_space.toml"
DEFAULT_STUDY = "telescopeml"
#: Times a trial whose worker died is queued again with the same parameters.
MAX_RETRY = 1
_OPEN_ATTEMPTS = 5
_ELEMENT = re.compile(r"^(?P<field>.+)_(?P<index>\d+)$")


@dataclass(frozen=True)
class Param:
    """One searched hyperparameter.

    Parameters
    ----------
    section, key
        Where its value goes: ``config.<section>.<key>``; for an element key
        (``dense_0``) the element of the tuple field (``dense``).
    type
        ``float``, ``int`` or ``categorical``.
    low, high, log, step
        Range of a ``float`` or ``int`` (log-uniform when ``log``; ``step`` = grid spacing).
    choices
        Values of a ``categorical``: scalars or lists (lists for tuple fields).
    """

    section: str
    key: str
    type: str
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = None
    choices: tuple[Any, ...] = ()

    @property
    def name(self) -> str:
        """The Optuna parameter name, ``section.key``."""
        return f"{self.section}.{self.key}"

    def suggest(self, trial: Any) -> Any:
        """Draw this parameter's value for ``trial`` (an ``optuna.Trial``)."""
        if self.type == "categorical":
            # Optuna stores scalar choices only: lists travel as JSON text.
            encoded = [json.dumps(c) if isinstance(c, list) else c for c in self.choices]
            return self.choices[encoded.index(trial.suggest_categorical(self.name, encoded))]
        if self.type == "int":
            return trial.suggest_int(self.name, int(self.low), int(self.high), log=self.log,
                                     step=int(self.step or 1))
        return trial.suggest_float(self.name, self.low, self.high, log=self.log, step=self.step)

    def to_dict(self) -> dict[str, Any]:
        """The TOML table of this parameter."""
        if self.type == "categorical":
            return {"type": self.type, "choices": list(self.choices)}
        spec: dict[str, Any] = {"type": self.type, "low": self.low, "high": self.high}
        if self.log:
            spec["log"] = True
        if self.step is not None:
            spec["step"] = self.step
        return spec


@dataclass(frozen=True)
class SearchSpace:
    """The hyperparameters a study searches; see the module docstring for the TOML format."""

    params: tuple[Param, ...]

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SearchSpace:
        """Build from ``{"space": {section: {key: spec}}}``; errors name the bad entry."""
        unknown = sorted(set(data) - {"space"})
        if unknown or not isinstance(data.get("space"), dict) or not data["space"]:
            raise ValueError(f"a search space holds [space.SECTION.KEY] tables only, got "
                             f"{unknown or 'none'}")
        params = []
        for section, table in data["space"].items():
            if section not in SECTIONS:
                raise ValueError(f"unknown section space.{section}; valid: "
                                 f"{', '.join(SECTIONS)}")
            for key, spec in table.items():
                params.append(_param(section, key, spec))
        space = cls(tuple(params))
        space.overrides({p.name: _example(p) for p in params})  # checks element keys
        return space

    @classmethod
    def from_toml(cls, path: str | Path) -> SearchSpace:
        """Read a search-space TOML file."""
        try:
            return cls.from_dict(tomlio.read(path))
        except (TypeError, ValueError) as exc:
            if isinstance(exc, DataError):
                raise
            raise DataError(str(exc), path) from None

    @classmethod
    def default(cls) -> SearchSpace:
        """The search space shipped with the package (``telescopeml/data/tune_space.toml``)."""
        with resources.as_file(resources.files("telescopeml.data") / DEFAULT_SPACE) as path:
            return cls.from_toml(path)

    def to_dict(self) -> dict[str, Any]:
        """Inverse of :meth:`from_dict`."""
        space: dict[str, dict[str, Any]] = {}
        for p in self.params:
            space.setdefault(p.section, {})[p.key] = p.to_dict()
        return {"space": space}

    def suggest(self, trial: Any) -> dict[str, Any]:
        """Draw every parameter for ``trial``: ``{name: value}``."""
        return {p.name: p.suggest(trial) for p in self.params}

    def overrides(self, values: dict[str, Any]) -> dict[str, dict[str, Any]]:
        """Config sections from drawn values, element keys joined into tuples."""
        sections: dict[str, dict[str, Any]] = {}
        elements: dict[tuple[str, str], dict[int, Any]] = {}
        for p in self.params:
            match = _ELEMENT.match(p.key)
            if match and match["field"] in _tuple_fields(p.section):
                elements.setdefault((p.section, match["field"]), {})[int(match["index"])] = (
                    values[p.name])
            else:
                sections.setdefault(p.section, {})[p.key] = values[p.name]
        for (section, name), items in elements.items():
            if sorted(items) != list(range(len(items))):
                raise ValueError(f"space.{section}.{name}_N: indices must be 0..n-1, got "
                                 f"{sorted(items)}")
            if name in sections.get(section, {}):
                raise ValueError(f"space.{section}: give {name} or {name}_0, {name}_1, ..., "
                                 "not both")
            sections.setdefault(section, {})[name] = [items[i] for i in range(len(items))]
        return sections

    def values_of(self, config: ExperimentConfig) -> dict[str, Any] | None:
        """``config``'s own values of the searched parameters, or None when one lies outside
        the space (then the config cannot be a trial of this study)."""
        from telescopeml.models.config import ModelConfig

        sections = config.to_dict()
        # ModelConfig fills what the section leaves out from the architecture's preset; the
        # head changes no searchable field, and a flow head's bounds exist only once the
        # data are prepared, so resolve with a point head
        sections["model"] = ModelConfig.from_dict(
            {**sections["model"], "head": "point", "bounds": None}).to_dict()
        values: dict[str, Any] = {}
        for p in self.params:
            match = _ELEMENT.match(p.key)
            if match and match["field"] in _tuple_fields(p.section):
                items = list(sections[p.section][match["field"]])
                index = int(match["index"])
                if index >= len(items):
                    return None
                value = items[index]
            else:
                value = sections[p.section][p.key]
            if p.type == "categorical":
                if isinstance(value, tuple):
                    value = list(value)
                if value not in p.choices:
                    return None
                value = json.dumps(value) if isinstance(value, list) else value
            elif not (p.low <= value <= p.high):
                return None
            values[p.name] = value
        return values

    def apply(self, base: ExperimentConfig, values: dict[str, Any]) -> ExperimentConfig:
        """``base`` with the drawn ``values``; ValueError when they do not form a valid
        config."""
        from telescopeml.training.experiment import ExperimentConfig

        sections = base.to_dict()
        for section, items in self.overrides(values).items():
            sections[section].update(items)
        return ExperimentConfig.from_dict(sections)


#: Seconds between a worker's heartbeats: a dead worker's trial is failed and queued again
#: after twice this (one small database write per interval).
HEARTBEAT = 10

def _fields(section: str) -> list[dataclasses.Field]:
    """The dataclass fields of a config section."""
    from telescopeml.data.augment import AugmentConfig
    from telescopeml.models.config import ModelConfig
    from telescopeml.training.config import TrainConfig
    from telescopeml.training.experiment import DataConfig

    classes = {"data": DataConfig, "augment": AugmentConfig, "model": ModelConfig,
               "train": TrainConfig}
    return list(dataclasses.fields(classes[section]))


def _tuple_fields(section: str) -> set[str]:
    return {f.name for f in _fields(section) if str(f.type).startswith("tuple")}


def _param(section: str, key: str, spec: Any) -> Param:
    where = f"space.{section}.{key}"
    if not isinstance(spec, dict):
        raise ValueError(f"{where} must be a table with a type")
    fields = {f.name for f in _fields(section)}
    match = _ELEMENT.match(key)
    field = match["field"] if match and key not in fields else key
    if field not in fields or (field != key and field not in _tuple_fields(section)):
        raise ValueError(f"{where}: unknown key; valid: {', '.join(sorted(fields))} (or "
                         "NAME_0, NAME_1, ... for the elements of a tuple field)")
    if field in FIXED[section]:
        raise ValueError(f"{where} cannot be searched: it must be the same in every trial")
    kind = spec.get("type")
    if kind not in TYPES:
        raise ValueError(f"{where}: type {kind!r} is not valid; valid: {', '.join(TYPES)}")
    allowed = {"type", "choices"} if kind == "categorical" else {"type", "low", "high", "log",
                                                                 "step"}
    extra = sorted(set(spec) - allowed)
    if extra:
        raise ValueError(f"{where}: unknown keys {extra} for type {kind!r}; valid: "
                         f"{', '.join(sorted(allowed))}")
    if kind == "categorical":
        choices = spec.get("choices")
        if not isinstance(choices, list) or not choices:
            raise ValueError(f"{where}: choices must be a non-empty list")
        return Param(section, key, kind, choices=tuple(choices))
    low, high = spec.get("low"), spec.get("high")
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in (low, high)):
        raise ValueError(f"{where}: low and high must be numbers")
    if kind == "int" and not all(isinstance(v, int) for v in (low, high)):
        raise ValueError(f"{where}: low and high of an int must be integers")
    log, step = bool(spec.get("log", False)), spec.get("step")
    if not low < high or (log and low <= 0):
        raise ValueError(f"{where}: need low < high (and low > 0 with log), got {low}, {high}")
    if log and step is not None:
        raise ValueError(f"{where}: give log or step, not both")
    return Param(section, key, kind, float(low) if kind == "float" else low,
                 float(high) if kind == "float" else high, log, step)


def _example(param: Param) -> Any:
    return param.choices[0] if param.type == "categorical" else param.low


# --- the study --------------------------------------------------------------------------
def make_pruner(name: str, epochs: int) -> Any:
    """An Optuna pruner by name (:data:`PRUNERS`), scaled to ``epochs`` per trial.

    ``median`` stops a trial whose validation loss is worse than the median of earlier
    trials at the same epoch (after 5 trials and the first half of the epochs: early
    losses rank learning rates by how fast they start, not where they end);
    ``hyperband`` runs Hyperband brackets from 1 to ``epochs`` epochs; ``none`` never prunes.
    """
    import optuna

    if name == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=5,
                                           n_warmup_steps=max(1, epochs // 2))
    if name == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=1, max_resource=epochs,
                                              reduction_factor=3)
    if name == "none":
        return optuna.pruners.NopPruner()
    raise ValueError(f"pruner {name!r} is not valid; valid: {', '.join(PRUNERS)}")


def default_storage(out_dir: str | Path) -> str:
    """``sqlite:///OUT/study.db`` (absolute path)."""
    return f"sqlite:///{(Path(out_dir) / 'study.db').resolve()}"


def driver_url(url: str) -> str:
    """``url`` naming a PostgreSQL driver that is installed.

    SQLAlchemy 2.1 reads ``postgresql://`` as psycopg 3; where only psycopg2 is installed
    (``pip install psycopg2-binary``) the URL gets ``postgresql+psycopg2://``.
    """
    from importlib.util import find_spec

    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if (parsed.drivername == "postgresql" and find_spec("psycopg") is None
            and find_spec("psycopg2") is not None):
        return parsed.set(drivername="postgresql+psycopg2").render_as_string(
            hide_password=False)
    return url


def open_storage(url: str, heartbeat: int = HEARTBEAT) -> Any:
    """An Optuna RDB storage on ``url`` with heartbeats every ``heartbeat`` seconds.

    A running trial whose heartbeat is older than ``2 * heartbeat`` seconds is failed by the
    next worker that starts a trial, and queued again (:data:`MAX_RETRY` times) with the same
    parameters.

    Workers that start together on an empty database race to create its tables (optuna
    issue 1092): the loser retries, and finds them made.
    """
    import optuna
    from sqlalchemy.exc import SQLAlchemyError

    failures = 0
    while True:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                return optuna.storages.RDBStorage(
                    driver_url(url), heartbeat_interval=heartbeat, grace_period=2 * heartbeat,
                    heartbeat_stale_trial_callback=(
                        optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=MAX_RETRY)),
                    engine_kwargs=None if url.startswith("sqlite") else {"pool_pre_ping": True},
                )
        except SQLAlchemyError as exc:
            failures += 1
            if failures == _OPEN_ATTEMPTS:
                reason = str(exc).splitlines()[0]
                raise DataError(f"cannot open the study storage: {reason}",
                                safe_url(url)) from exc
            time.sleep(0.5 + random.random())


def safe_url(url: str) -> str:
    """``url`` with any password masked, for messages."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def tune(
    config: ExperimentConfig,
    space: SearchSpace,
    out_dir: str | Path,
    trials: int | None = 20,
    timeout: float | None = None,
    storage: str | None = None,
    study_name: str = DEFAULT_STUDY,
    resume: bool = False,
    pruner: str | Any = "median",
    seed: int = 0,
    heartbeat: int = HEARTBEAT,
    progress: bool = True,
    splits: int = 1,
) -> Any:
    """Run one worker of a study that minimizes the best validation loss; return the study.

    Parameters
    ----------
    config
        The base config; each trial replaces the searched fields and trains it on the same
        grid split (``config.data``'s split seed), without bundle or evaluation.
    space
        What to search.
    out_dir
        Receives ``trials/NNNN/`` (config, history, loss curve of each trial this worker
        ran; checkpoints are removed) and the results (:func:`write_results`).
    trials, timeout
        This worker's budget: at most ``trials`` trials and no new trial after ``timeout``
        seconds (``None`` = no limit on that count).
    storage
        SQLAlchemy URL of the study; default ``sqlite:///OUT/study.db``. Every worker given
        the same URL and ``study_name`` joins the same study.
    resume
        Continue the study already in ``OUT/study.db``; without it an existing local study
        is refused. Workers on an explicit ``storage`` always join.
    pruner
        A name of :data:`PRUNERS` or an ``optuna.pruners.BasePruner``; it sees the validation
        loss after every epoch.
    seed
        Seed of the TPE sampler for the worker that creates the study; workers that join it
        draw from their own streams (seed mixed with host name and process id).
    heartbeat
        Seconds between a worker's heartbeats (see :func:`open_storage`).
    progress
        Log each trial's result.
    splits
        Grid splits each trial trains on (split seeds ``config.data.split_seed + k``, the
        training seed likewise); the objective is the mean of their best validation losses,
        so that a config is not chosen for one split's luck. The pruner sees the first
        split's epochs.
    """
    import optuna
    import torch

    from telescopeml.training.experiment import fit_model

    if splits < 1:  # before any study is created
        raise ValueError(f"splits must be at least 1, got {splits}")
    from telescopeml.training.trainer import CHECKPOINT_DIR, RESUMABLE_CHANGES

    with _optuna_logging(progress):
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        url = storage or default_storage(out_dir)
        if isinstance(pruner, str):
            pruner = make_pruner(pruner, config.train.epochs)
        rdb = open_storage(url, heartbeat)
        worker = f"{socket.gethostname()}:{os.getpid()}"
        created = True
        try:
            study = optuna.create_study(storage=rdb, study_name=study_name, direction="minimize")
        except optuna.exceptions.DuplicatedStudyError:
            created = False
            if storage is None and not resume:
                raise DataError(f"study {study_name!r} already exists; pass --resume to continue "
                                "it, or choose another --out", url) from None
        base = config.to_dict()
        # settings of the machine (threads, device) may differ between workers
        base["train"] = {k: v for k, v in base["train"].items() if k not in RESUMABLE_CHANGES}
        # the number of splits changes the objective: a study cannot mix them
        fingerprint = {"base_config": base, "space": space.to_dict(), "splits": splits}
        sampler_seed = seed if created else zlib.crc32(f"{seed}:{worker}".encode())
        study = optuna.load_study(
            study_name=study_name, storage=rdb, pruner=pruner,
            sampler=optuna.samplers.TPESampler(seed=sampler_seed, constant_liar=True))
        _check_fingerprint(study, fingerprint, url)
        baseline = space.values_of(config)
        if created and baseline is not None:
            # trial 0 is the base config itself: the study's best is never worse than it
            study.enqueue_trial(baseline, user_attrs={"baseline": True})
        grids: dict[str, SpectralGrid] = {}
        _grid(config.data, grids, progress)  # fail here, not in every trial

        def objective(trial: optuna.Trial) -> float:
            full = space.apply(config, space.suggest(trial))
            trial.set_user_attr("config", full.to_dict())
            trial.set_user_attr("worker", worker)
            directory = out_dir / "trials" / f"{trial.number:04d}"
            rows: list[dict[str, float]] = []

            def report(epoch: int, row: dict[str, float]) -> None:
                rows.append(row)
                trial.report(row["val_loss"], epoch)
                if trial.should_prune():
                    raise optuna.TrialPruned(f"pruned after epoch {epoch}")

            losses = []
            for k in range(splits):
                run = dataclasses.replace(
                    full, data=dataclasses.replace(full.data,
                                                   split_seed=full.data.split_seed + k),
                    train=dataclasses.replace(full.train, checkpoint_every=0,
                                              seed=full.train.seed + k))
                where = directory / f"split{k}" if splits > 1 else directory
                try:
                    _, trainer = fit_model(run, where, grid=_grid(run.data, grids, progress),
                                           progress=False,
                                           on_epoch_end=report if k == 0 else None)
                finally:
                    if k == 0:
                        trial.set_user_attr("history", {key: [r[key] for r in rows]
                                                        for key in ("train_loss", "val_loss")})
                    shutil.rmtree(where / CHECKPOINT_DIR, ignore_errors=True)
                if k == 0:
                    trial.set_user_attr("best_epoch", trainer.best_epoch)
                losses.append(trainer.best_loss)
            if splits > 1:
                trial.set_user_attr("split_losses", losses)
            loss = sum(losses) / len(losses)
            return loss if math.isfinite(loss) else math.nan

        if progress:
            print(f"study {study_name!r} in {safe_url(url)}: {len(study.trials)} trials so far; "
                  f"this worker runs {trials if trials is not None else 'any number of'} trials"
                  + (f" for at most {timeout:g} s" if timeout else ""), file=sys.stderr)
        try:
            # ValueError: a drawn combination that makes no valid model fails that trial only
            study.optimize(objective, n_trials=trials, timeout=timeout,
                           catch=(ValueError, torch.cuda.OutOfMemoryError))
        finally:
            write_results(study, out_dir)
        return study


@contextlib.contextmanager
def _optuna_logging(progress: bool) -> Iterator[None]:
    """Optuna logs each trial with ``progress``, warnings only without; restored after."""
    import optuna

    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.INFO if progress else optuna.logging.WARNING)
    try:
        yield
    finally:
        optuna.logging.set_verbosity(verbosity)


def _grid(data: DataConfig, cache: dict[str, SpectralGrid], progress: bool) -> SpectralGrid:
    """The prepared grid of ``data``, loaded once per worker and data setting."""
    from telescopeml.training.experiment import prepare_grid

    key = json.dumps([data.grid, data.instrument, data.wavelength_range])
    if key not in cache:
        cache[key] = prepare_grid(data, quiet=not progress)
    return cache[key]


def _check_fingerprint(study: Any, fingerprint: dict[str, Any], url: str) -> None:
    """Record the base config and space in a new study; refuse to join a different one."""
    for key, value in fingerprint.items():
        stored = study.user_attrs.get(key)
        if stored is None:
            study.set_user_attr(key, value)
        elif stored != json.loads(json.dumps(value)):
            raise DataError(f"study {study.study_name!r} was started with a different "
                            f"{key.replace('_', ' ')}; use the same files or another "
                            "--study-name", safe_url(url))


# --- results ----------------------------------------------------------------------------
def write_results(study: Any, out_dir: str | Path) -> dict[str, Path]:
    """Write the study's results (all workers' trials) to ``out_dir``; return the paths.

    ``trials.csv`` (one row per trial), ``optimization_history.png``,
    ``param_importances.png`` and, once a trial completed, ``best.toml`` (the best trial's
    complete config, for ``telescopeml train --config best.toml``), ``best_loss_curve.png``
    and ``best.json`` (its number, value, parameters and best epoch).
    """
    import optuna

    from telescopeml.training.experiment import ExperimentConfig

    out_dir = Path(out_dir)
    paths = {"trials": _write_csv(study.trials, out_dir / "trials.csv"),
             "history": _plot_history(study.trials, out_dir / "optimization_history.png"),
             "importances": _plot_importances(study, out_dir / "param_importances.png")}
    done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    if done:
        best = study.best_trial
        config = ExperimentConfig.from_dict(best.user_attrs["config"])
        paths["best"] = tomlio.write(
            out_dir / "best.toml", config.to_dict(),
            f"best of study {study.study_name!r}: trial {best.number}, validation loss "
            f"{best.value:.6g}")
        summary = {"study": study.study_name, "trial": best.number, "value": best.value,
                   "params": best.params, "best_epoch": best.user_attrs.get("best_epoch"),
                   "states": _states(study.trials)}
        with atomic_path(out_dir / "best.json") as tmp:
            tmp.write_text(json.dumps(summary, indent=1) + "\n", encoding="utf-8")
        paths["summary"] = out_dir / "best.json"
        paths["curve"] = _plot_curve(best, out_dir / "best_loss_curve.png")
    return paths


def _states(trials: list[Any]) -> dict[str, int]:
    states: dict[str, int] = {}
    for t in trials:
        states[t.state.name] = states.get(t.state.name, 0) + 1
    return states


def _write_csv(trials: list[Any], path: Path) -> Path:
    names = list(dict.fromkeys(k for t in trials for k in t.params))
    fields = ["number", "state", "value", "epochs", "best_epoch", "seconds", "worker",
              "started", *names]
    with atomic_path(path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields)
        writer.writeheader()
        for t in trials:
            seconds = (t.datetime_complete - t.datetime_start).total_seconds() if (
                t.datetime_complete and t.datetime_start) else None
            writer.writerow({
                "number": t.number, "state": t.state.name, "value": t.value,
                "epochs": len(t.intermediate_values), "best_epoch": t.user_attrs.get("best_epoch"),
                "seconds": seconds, "worker": t.user_attrs.get("worker"),
                "started": t.datetime_start.isoformat() if t.datetime_start else None,
                **{k: json.dumps(v) if isinstance(v, list) else v for k, v in t.params.items()},
            })
    return path


def _plot_history(trials: list[Any], path: Path) -> Path:
    from optuna.trial import TrialState

    from telescopeml.plots.style import save_figure
    from telescopeml.plots.training import optimization_history

    complete = [(t.number, t.value) for t in trials if t.state == TrialState.COMPLETE]
    pruned = [(t.number, t.intermediate_values[max(t.intermediate_values)]) for t in trials
              if t.state == TrialState.PRUNED and t.intermediate_values]
    return save_figure(optimization_history(complete, pruned), path.with_suffix(""),
                       formats=("png",))[0]


def _plot_importances(study: Any, path: Path) -> Path:
    import optuna

    from telescopeml.plots.style import save_figure
    from telescopeml.plots.training import param_importances

    reason = "no completed trial"
    try:
        importances = optuna.importance.get_param_importances(
            study, evaluator=optuna.importance.FanovaImportanceEvaluator(seed=0))
    except (ValueError, RuntimeError) as exc:  # fewer than 2 complete trials, one value...
        importances, reason = {}, str(exc)
    return save_figure(param_importances(importances, reason), path.with_suffix(""),
                       formats=("png",))[0]


def _plot_curve(trial: Any, path: Path) -> Path:
    from telescopeml.plots.style import save_figure
    from telescopeml.plots.training import loss_curves

    history = trial.user_attrs.get("history", {})
    rows = [{"epoch": i + 1, **dict(zip(history, values, strict=True))}
            for i, values in enumerate(zip(*history.values(), strict=True))]
    fig = loss_curves(rows, trial.user_attrs.get("best_epoch") or 0,
                      title=f"best trial ({trial.number})")
    return save_figure(fig, path.with_suffix(""), formats=("png",))[0]


# --- command line -----------------------------------------------------------------------
def _run(args: argparse.Namespace) -> int:
    from telescopeml.training.experiment import config_from_options

    config = config_from_options(args.config, args.preset, args.grid, args.epochs, args.seed)
    space = SearchSpace.from_toml(args.space) if args.space else SearchSpace.default()
    trials = args.trials if args.trials is not None or args.timeout else 20
    study = tune(config, space, args.out, trials=trials, timeout=args.timeout,
                 storage=args.storage, study_name=args.study_name, resume=args.resume,
                 pruner=args.pruner, seed=config.train.seed, heartbeat=args.heartbeat,
                 progress=not args.quiet, splits=args.splits)
    counts = _states(study.trials)
    states = ", ".join(f"{n} {s.lower()}" for s, n in counts.items())
    print(f"study {study.study_name!r}: {len(study.trials)} trials ({states})")
    if counts.get("COMPLETE"):
        best = study.best_trial
        print(f"best: trial {best.number}, validation loss {best.value:.6g}")
        for name, value in best.params.items():
            print(f"  {name} = {value}")
        print(f"train it: telescopeml train --config {Path(args.out) / 'best.toml'} "
              "--out DIR")
    return 0


def register(subparsers: Any, common: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the ``tune`` subcommand."""
    parser = subparsers.add_parser(
        "tune", parents=[common], help="search hyperparameters with Optuna",
        description="Search hyperparameters with Optuna (TPE sampler, pruning on the "
                    "validation loss). Every trial trains on the same grid split. Run the same "
                    "command on several machines with one --storage URL (PostgreSQL) to share "
                    "the study. Writes best.toml (for `telescopeml train --config`), "
                    "trials.csv and plots to --out.")
    parser.set_defaults(func=_run)
    parser.add_argument("--grid", help="grid name or path (default: the config's)")
    parser.add_argument("--space", help="search-space TOML ([space.SECTION.KEY] tables; "
                        "default: the packaged tune_space.toml)")
    parser.add_argument("--config", help="base config TOML, as for `telescopeml train`")
    parser.add_argument("--preset", default="default", help="default, telescopeml, mlp or "
                        "posterior")
    parser.add_argument("--out", required=True, metavar="DIR", help="output directory")
    parser.add_argument("--trials", type=positive_int, help="trials for this worker (default 20 "
                        "unless --timeout is given)")
    parser.add_argument("--timeout", type=float, metavar="S",
                        help="start no new trial after S seconds")
    parser.add_argument("--storage", metavar="URL", help="SQLAlchemy URL of the study, e.g. "
                        "postgresql://user:pass@host/db (default: sqlite:///DIR/study.db)")
    parser.add_argument("--study-name", default=DEFAULT_STUDY, help="name of the study in "
                        f"the storage (default {DEFAULT_STUDY})")
    parser.add_argument("--resume", action="store_true",
                        help="continue the study in DIR/study.db")
    parser.add_argument("--epochs", type=positive_int, help="epochs per trial")
    parser.add_argument("--seed", type=int, help="seed of the sampler, the split and the "
                        "training (default: the config's train seed)")
    parser.add_argument("--pruner", default="median", choices=PRUNERS,
                        help="stop unpromising trials early (default median)")
    parser.add_argument("--splits", type=positive_int, default=1, metavar="N",
                        help="train each trial on N grid splits and minimize the mean best "
                             "validation loss (N times the cost; default 1)")
    parser.add_argument("--heartbeat", type=positive_int, default=HEARTBEAT, metavar="S",
                        help="seconds between heartbeats; a worker silent for 2 S has died "
                             f"and its trial is failed and retried (default {HEARTBEAT})")
    return parser
