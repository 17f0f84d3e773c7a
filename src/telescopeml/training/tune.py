"""Hyperparameter search with Optuna: one study, any number of workers.

:func:`tune` runs one worker: it draws configs from a
:class:`~telescopeml.training.search_space.SearchSpace`, trains each on the same grid split
and reports the validation loss to Optuna, which prunes unpromising trials. The study lives
in a storage (:mod:`telescopeml.training.storage`) that any number of workers share.
:func:`write_results` writes the study's trials, best config and figures.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import json
import math
import os
import shutil
import socket
import sys
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from telescopeml import tomlio
from telescopeml.cache import atomic_path
from telescopeml.errors import DataError
from telescopeml.jsonio import dumps
from telescopeml.training.search_space import SearchSpace
from telescopeml.training.storage import HEARTBEAT, default_storage, open_storage, safe_url

if TYPE_CHECKING:  # torch and optuna load only when a search runs, not with the CLI
    from telescopeml.data.grid import SpectralGrid
    from telescopeml.training.experiment import DataConfig, ExperimentConfig

PRUNERS = ("median", "hyperband", "none")
DEFAULT_STUDY = "telescopeml"


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



#: The results :func:`write_results` writes into ``out_dir``.
RESULT_FILES = ("best.toml", "best.json", "best_loss_curve.png", "trials.csv",
                "optimization_history.png", "param_importances.png")


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
    overwrite: bool = False,
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
    overwrite
        Replace the results (:data:`RESULT_FILES`) that ``out_dir`` already holds; without
        it (or ``resume``) they are refused before any work, whoever wrote them.
    pruner
        A name of :data:`PRUNERS` or an ``optuna.pruners.BasePruner``; it sees the validation
        loss after every epoch.
    seed
        Seed of the TPE sampler for the worker that creates the study; workers that join it
        draw from their own streams (seed mixed with host name and process id).
    heartbeat
        Seconds between a worker's heartbeats (see
        :func:`~telescopeml.training.storage.open_storage`).
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
    present = [name for name in RESULT_FILES if (Path(out_dir) / name).exists()]
    if present and not (resume or overwrite):
        raise DataError(f"already holds {', '.join(present)}; pass --resume to continue its "
                        "study, or --overwrite to replace these files", out_dir)
    from telescopeml.training.checkpoint import RESUMABLE_CHANGES
    from telescopeml.training.outputs import CHECKPOINT_DIR

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
    from telescopeml.data.prepared import config_grid

    key = json.dumps([data.grid, data.instrument, data.wavelength_range, data.windows])
    if key not in cache:
        cache[key] = config_grid(data, quiet=not progress)
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
                   "states": trial_states(study.trials)}
        with atomic_path(out_dir / "best.json") as tmp:
            tmp.write_text(dumps(summary, indent=1) + "\n", encoding="utf-8")
        paths["summary"] = out_dir / "best.json"
        paths["curve"] = _plot_curve(best, out_dir / "best_loss_curve.png")
    return paths


def trial_states(trials: list[Any]) -> dict[str, int]:
    """Number of trials in each state: ``{"COMPLETE": 3, "PRUNED": 5}``."""
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
