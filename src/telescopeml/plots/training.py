"""Figures of training runs and hyperparameter searches: loss curves, a study's trials."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from telescopeml.plots.style import styled


def log_loss_axis(history: Sequence[Mapping[str, float]]) -> bool:
    """Whether :func:`loss_curves` draws the loss on a log axis: only when every training
    and validation loss is positive (a negative log-likelihood can be negative)."""
    return all(row.get("val_loss", 0) > 0 and row.get("train_loss", 0) > 0 for row in history)


@styled
def loss_curves(history: Sequence[Mapping[str, float]], best_epoch: int | None = None,
                loss: str = "", title: str = "") -> Figure:
    """Training and validation loss per epoch (best epoch marked) and the learning rate.

    Parameters
    ----------
    history
        One row per epoch as in ``history.csv``: ``epoch``, ``train_loss``, ``val_loss``
        and optionally ``lr`` (then a second panel shows it).
    best_epoch
        The epoch to mark (0: none; default: the one with the lowest validation loss).
    loss
        Name of the loss, for the y label (e.g. ``"huber"``).
    title
        Title of the loss panel.
    """
    epochs = np.array([row["epoch"] for row in history], dtype=float)
    has_lr = bool(history) and all("lr" in row for row in history)
    fig = Figure(figsize=(10 if has_lr else 6, 3.6), layout="constrained")
    axes = fig.subplots(1, 2 if has_lr else 1, squeeze=False,
                        gridspec_kw={"width_ratios": [1.6, 1] if has_lr else [1]})[0]
    ax = axes[0]
    for key, color in (("train_loss", "C0"), ("val_loss", "C1")):
        if history and all(key in row for row in history):
            ax.plot(epochs, [row[key] for row in history], "o-", ms=3, color=color,
                    label=key.replace("_", " "))
    if log_loss_axis(history):
        ax.set_yscale("log")
    if best_epoch is None and history and all("val_loss" in row for row in history):
        best_epoch = int(epochs[int(np.argmin([row["val_loss"] for row in history]))])
    if best_epoch:
        ax.axvline(best_epoch, color="0.4", ls=":", lw=1, label=f"best epoch ({best_epoch})")
    for each in axes:
        each.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set(xlabel="epoch", ylabel=f"{loss} loss" if loss else "loss", title=title)
    ax.legend()
    if has_lr:
        axes[1].plot(epochs, [row["lr"] for row in history], color="C2")
        axes[1].set_yscale("log")
        axes[1].set_xlabel("epoch")
        axes[1].set_ylabel("learning rate")
    return fig


@styled
def optimization_history(complete: Sequence[tuple[int, float]],
                         pruned: Sequence[tuple[int, float]] = ()) -> Figure:
    """The objective of each trial of a study against its number, and the best so far.

    Parameters
    ----------
    complete
        ``(trial number, best validation loss)`` of the completed trials, in order.
    pruned
        ``(trial number, validation loss at its last epoch)`` of the pruned trials.
    """
    fig = Figure(figsize=(6, 4), layout="constrained")
    ax = fig.subplots()
    ax.scatter([n for n, _ in complete], [v for _, v in complete], s=18, label="complete")
    if pruned:
        ax.scatter([n for n, _ in pruned], [v for _, v in pruned], s=18, marker="x",
                   color="0.5", label="pruned (at its last epoch)")
    values = [v for _, v in complete]
    ax.step([n for n, _ in complete], np.minimum.accumulate(values) if values else [],
            where="post", color="C3", label="best so far")
    if values and min(values) > 0 and max(values) > 10 * min(values):
        ax.set_yscale("log")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set(xlabel="trial", ylabel="best validation loss of the trial",
           title="optimization history")
    ax.legend()
    return fig


@styled
def param_importances(importances: Mapping[str, float], reason: str = "") -> Figure:
    """Importance of each searched hyperparameter (fANOVA), or ``reason`` when there is none.
    """
    fig = Figure(figsize=(6, max(2.5, 0.4 * len(importances) + 1)), layout="constrained")
    ax = fig.subplots()
    if importances:
        names = list(importances)[::-1]
        ax.barh(names, [importances[n] for n in names])
        ax.set(xlabel="importance (fANOVA)", title="hyperparameter importances")
    else:
        ax.text(0.5, 0.5, f"no importances yet:\n{reason}", ha="center", va="center",
                wrap=True, transform=ax.transAxes)
        ax.set_axis_off()
    return fig
