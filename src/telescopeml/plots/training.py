"""Figures of training runs and hyperparameter searches: loss curves.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from telescopeml.plots.style import styled


@styled
def loss_curves(history: Sequence[Mapping[str, float]]) -> Figure:
    """Training and validation loss per epoch (best epoch marked) and the learning rate.

    ``history`` holds one row per epoch as in ``history.csv``: ``epoch``, ``train_loss``,
    ``val_loss`` and optionally ``lr``.
    """
    epochs = np.array([row["epoch"] for row in history], dtype=float)
    has_lr = all("lr" in row for row in history)
    fig = Figure(figsize=(10 if has_lr else 6, 3.6), layout="constrained")
    axes = fig.subplots(1, 2 if has_lr else 1, squeeze=False,
                        gridspec_kw={"width_ratios": [1.6, 1] if has_lr else [1]})[0]
    loss = axes[0]
    for key, color in (("train_loss", "C0"), ("val_loss", "C1")):
        if all(key in row for row in history):
            loss.plot(epochs, [row[key] for row in history], "o-", ms=3, color=color,
                      label=key.replace("_", " "))
    if all(row.get("val_loss", 0) > 0 and row.get("train_loss", 0) > 0 for row in history):
        loss.set_yscale("log")
    if all("val_loss" in row for row in history):
        best = int(np.argmin([row["val_loss"] for row in history]))
        loss.axvline(epochs[best], color="0.4", ls=":", lw=1,
                     label=f"best epoch ({epochs[best]:.0f})")
    for ax in axes:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    loss.set_xlabel("epoch")
    loss.set_ylabel("loss")
    loss.legend()
    if has_lr:
        axes[1].plot(epochs, [row["lr"] for row in history], color="C2")
        axes[1].set_yscale("log")
        axes[1].set_xlabel("epoch")
        axes[1].set_ylabel("learning rate")
    return fig
