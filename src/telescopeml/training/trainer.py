"""The training loop: AdamW, LR schedule, early stopping, checkpoints and exact resume.

A checkpoint is the directory ``out_dir/checkpoint/``: ``state.safetensors`` holds every
tensor (model, best model, optimizer and scheduler tensors, torch RNG states as uint8, the
numpy MT19937 key) and ``state.json`` the rest (epoch, best loss, history, optimizer and
scheduler scalars, python and numpy RNG scalars). No pickle is involved.

Under ``torchrun`` (``WORLD_SIZE`` > 1) the loop is data-parallel: each rank takes its share
of every mini-batch, DistributedDataParallel averages the gradients, validation losses are
summed across ranks, and only rank 0 writes files.
"""

from __future__ import annotations

import csv
import math
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.nn import functional as F
from torch.nn.parallel import DistributedDataParallel
from tqdm.auto import tqdm

from telescopeml.bundle import state_tensors
from telescopeml.cache import atomic_path
from telescopeml.errors import TrainingError
from telescopeml.jsonio import dumps
from telescopeml.plots.style import save_figure
from telescopeml.plots.training import loss_curves
from telescopeml.training.checkpoint import (
    check_train_settings,
    join_tensors,
    read_checkpoint,
    restore_rng,
    rng_state,
    split_tensors,
    write_checkpoint,
)
from telescopeml.training.config import TrainConfig
from telescopeml.training.outputs import CHECKPOINT_DIR
from telescopeml.training.outputs import TRAIN_FILE as CONFIG_FILE
from telescopeml.training.runtime import (
    available_cpus,
    distributed_env,
    resolve_device,
    seed_everything,
    stop_on_sigterm,
)
from telescopeml.version import __version__

#: ``epoch -> (x, y)`` or ``epoch -> (x, extra, y)``, float32 numpy arrays.
TrainData = Callable[[int], tuple[np.ndarray, ...]]
_Batch = tuple[torch.Tensor, torch.Tensor | None, torch.Tensor]
#: Fraction of the steps over which the one-cycle schedule raises the learning rate
#: (PyTorch's default); early stopping waits for it to end.
ONECYCLE_WARMUP = 0.3


class _Loss(nn.Module):
    """The training loss as a module, so that DistributedDataParallel wraps the whole step
    (a flow head's loss calls ``log_prob``, not ``forward``)."""

    def __init__(self, model: nn.Module, loss: Callable[..., torch.Tensor]) -> None:
        super().__init__()
        self.model = model
        self._loss = loss

    def forward(self, x: torch.Tensor, extra: torch.Tensor | None,
                y: torch.Tensor) -> torch.Tensor:
        return self._loss(x, extra, y)


class Trainer:
    """Train ``model`` with ``config``, writing everything under ``out_dir``.

    Parameters
    ----------
    model
        A network taking ``(x, extra)``; see :mod:`telescopeml.models`.
    config
        The training settings; written to ``out_dir/train.toml``.
    out_dir
        Receives ``train.toml``, ``history.csv``, ``history.json``, ``loss_curve.png`` and
        ``checkpoint/``.
    on_epoch_end
        Called as ``on_epoch_end(epoch, row)`` after each epoch (1-based) is recorded (on
        every rank); an exception it raises (e.g. ``optuna.TrialPruned``) propagates out of
        :meth:`fit`, leaving the outputs of the epochs completed so far.
    progress
        Show a tqdm bar with train/val loss and ETA.
    """

    def __init__(
        self,
        model: nn.Module,
        config: TrainConfig,
        out_dir: str | Path,
        on_epoch_end: Callable[[int, dict[str, float]], None] | None = None,
        progress: bool = True,
    ) -> None:
        self.model = model
        self.config = config
        self.out_dir = Path(out_dir)
        self.on_epoch_end = on_epoch_end
        self.progress = progress
        self.device = resolve_device(config.device)
        self.history: list[dict[str, float]] = []
        self.best_loss = math.inf
        self.best_epoch = 0
        self.stopped_early = False
        self._bad_epochs = 0
        self._best: dict[str, torch.Tensor] | None = None
        self._shuffle = torch.Generator()
        self._steps_per_epoch = 0
        self._world, self._rank = 1, 0
        self._step: DistributedDataParallel | None = None

    @property
    def checkpoint_dir(self) -> Path:
        """Where checkpoints are written."""
        return self.out_dir / CHECKPOINT_DIR

    # --- public -------------------------------------------------------------------------
    def fit(
        self,
        train_data: TrainData,
        val_data: tuple[np.ndarray, ...],
        resume: bool = False,
    ) -> list[dict[str, float]]:
        """Train; return the history (one dict per epoch).

        Parameters
        ----------
        train_data
            ``epoch -> (x, y)`` or ``(x, extra, y)``, called once per epoch (0-based) so that
            noise can differ each epoch; the number of samples must not change.
        val_data
            Fixed ``(x, y)`` or ``(x, extra, y)``.
        resume
            Continue from ``out_dir/checkpoint/`` exactly where the previous run stopped.

        On KeyboardInterrupt, or SIGTERM (what a batch scheduler sends), the state at the
        end of the last completed epoch is written to
        ``checkpoint/`` and the interrupt is re-raised. At the end the best weights (lowest
        validation loss) are loaded into the model.

        Under ``torchrun`` every rank calls this with the same data; the process group
        (gloo on CPU, nccl on CUDA, one GPU per local rank) is set up here unless it already
        is, and destroyed at the end if it was set up here.
        """
        cfg = self.config
        world, rank, local_rank = distributed_env()
        created = world > 1 and not dist.is_initialized()
        threads_default = available_cpus()
        if world > 1:
            if self.device.type == "cuda":
                self.device = torch.device("cuda", local_rank)
                torch.cuda.set_device(self.device)
            if created:
                dist.init_process_group("nccl" if self.device.type == "cuda" else "gloo")
            local_world = int(os.environ.get("LOCAL_WORLD_SIZE", world))
            threads_default = max(1, threads_default // local_world)
        self._world, self._rank = world, rank
        if rank == 0:
            self.out_dir.mkdir(parents=True, exist_ok=True)
        threads = torch.get_num_threads()
        deterministic = torch.are_deterministic_algorithms_enabled()
        torch.set_num_threads(cfg.num_threads or threads_default)
        if cfg.deterministic:
            if self.device.type == "cuda":
                os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
            torch.use_deterministic_algorithms(True, warn_only=True)
        previous = stop_on_sigterm()
        try:
            return self._fit(train_data, val_data, resume)
        finally:
            if previous is not None:
                signal.signal(signal.SIGTERM, previous)
            torch.set_num_threads(threads)
            torch.use_deterministic_algorithms(deterministic)
            self._world, self._rank, self._step = 1, 0, None
            if created:
                dist.destroy_process_group()

    def evaluate(self, data: tuple[np.ndarray, ...]) -> float:
        """Mean loss of the model on ``(x, y)`` or ``(x, extra, y)``, in eval mode."""
        return self._evaluate(self._tensors(data))

    # --- loop ---------------------------------------------------------------------------
    def _fit(self, train_data: TrainData, val_data: tuple, resume: bool) -> list[dict]:
        cfg, model = self.config, self.model.to(self.device)
        val = self._tensors(val_data)
        optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr,
                                      weight_decay=cfg.weight_decay)
        scheduler: torch.optim.lr_scheduler.LRScheduler | None = None
        start, finished = 0, False
        if resume:
            start, finished, scheduler = self._load_checkpoint(optimizer)
        else:
            seed_everything(cfg.seed)
            self._shuffle.manual_seed(cfg.seed)
            self.history, self.best_loss, self.best_epoch = [], math.inf, 0
            self._bad_epochs, self._best, self.stopped_early = 0, None, False
        if self._rank == 0:  # only once a resumption is accepted: the record matches the run
            cfg.to_toml(self.out_dir / CONFIG_FILE)
        if self._world > 1:
            ids = [self.device.index] if self.device.type == "cuda" else None
            self._step = DistributedDataParallel(_Loss(model, self._loss), device_ids=ids)
        snapshot = self._capture(start, optimizer, scheduler, finished)
        bar = tqdm(total=cfg.epochs, initial=start, unit="epoch",
                   disable=not self.progress or self._rank != 0, dynamic_ncols=True)
        try:
            for epoch in range(start, cfg.epochs if not finished else start):
                t0 = time.perf_counter()
                x, extra, y = self._tensors(train_data(epoch))
                steps = math.ceil(len(x) / cfg.batch_size)
                if self._steps_per_epoch and steps != self._steps_per_epoch:
                    raise ValueError(
                        f"train_data gave {len(x)} samples at epoch {epoch}: the size must not "
                        "change between epochs"
                    )
                self._steps_per_epoch = steps
                if scheduler is None and cfg.schedule != "constant":
                    scheduler = self._scheduler(optimizer, steps)
                train_loss = self._train_epoch(x, extra, y, optimizer, scheduler)
                val_loss = self._evaluate(val)
                check_finite(epoch + 1, train_loss, val_loss, cfg)
                row = {"epoch": epoch + 1, "train_loss": train_loss, "val_loss": val_loss,
                       "lr": float(optimizer.param_groups[0]["lr"]),
                       "seconds": time.perf_counter() - t0}
                self.history.append(row)
                if val_loss < self.best_loss:
                    self.best_loss, self.best_epoch, self._bad_epochs = val_loss, epoch + 1, 0
                    self._best = {k: v.clone() for k, v in state_tensors(model).items()}
                else:
                    self._bad_epochs += 1
                self.stopped_early = bool(cfg.patience and self._bad_epochs >= cfg.patience
                                          and epoch + 1 >= self._earliest_stop())
                self._write_history()
                snapshot = self._capture(epoch + 1, optimizer, scheduler, self.stopped_early)
                if cfg.checkpoint_every and (epoch + 1) % cfg.checkpoint_every == 0:
                    self._write_checkpoint(snapshot)
                bar.update(1)
                bar.set_postfix(train=f"{train_loss:.4g}", val=f"{val_loss:.4g}")
                if self.on_epoch_end is not None:
                    self.on_epoch_end(epoch + 1, row)
                if self.stopped_early:
                    break
        except KeyboardInterrupt:
            self._write_checkpoint(snapshot)
            raise
        finally:
            bar.close()
        self._write_checkpoint(self._capture(len(self.history), optimizer, scheduler, True)
                               if self.history else snapshot)
        if self._best is not None:
            model.load_state_dict(self._best)
        self._write_history()
        self._plot()
        return self.history

    def _train_epoch(self, x: torch.Tensor, extra: torch.Tensor | None, y: torch.Tensor,
                     optimizer: torch.optim.Optimizer,
                     scheduler: torch.optim.lr_scheduler.LRScheduler | None) -> float:
        cfg, model = self.config, self.model
        model.train()
        order = torch.randperm(len(x), generator=self._shuffle).to(self.device)
        total = torch.zeros((), device=self.device)
        for i in range(0, len(x), cfg.batch_size):
            idx = order[i : i + cfg.batch_size]
            if self._step is None:
                loss = self._loss(x[idx], None if extra is None else extra[idx], y[idx])
                objective = loss
            else:
                loss, objective, idx = self._shard_loss(x, extra, y, idx)
            optimizer.zero_grad(set_to_none=True)
            objective.backward()
            if cfg.grad_clip:
                nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            optimizer.step()
            if scheduler is not None:
                scheduler.step()
            total += loss.detach() * len(idx)
        if self._world > 1:
            dist.all_reduce(total)
        return float(total) / len(x)

    def _shard_loss(self, x: torch.Tensor, extra: torch.Tensor | None, y: torch.Tensor,
                    batch: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """This rank's share of a mini-batch: ``(loss, weighted loss, indices)``.

        DDP averages gradients over ranks, so the shard's mean loss is weighted by
        ``world * n_shard / n_batch``: the averaged gradient is then that of the whole
        mini-batch's mean loss, as in one process. A rank left without samples (a last batch
        smaller than the world) runs one sample with weight 0, so that every rank joins the
        gradient all-reduce.
        """
        idx = batch[self._rank :: self._world]
        weight = self._world * len(idx) / len(batch)
        run = idx if len(idx) else batch[:1]
        loss = self._step(x[run], None if extra is None else extra[run], y[run])
        return loss, loss * weight, idx

    def _evaluate(self, data: _Batch) -> float:
        x, extra, y = data
        self.model.eval()
        total = 0.0
        starts = range(0, len(x), self.config.batch_size)
        if self._world > 1:
            # rank 0's buffers (batch-norm statistics) are the ones saved
            for buffer in self.model.buffers():
                dist.broadcast(buffer, 0)
            starts = starts[self._rank :: self._world]
        with torch.inference_mode():
            for i in starts:
                s = slice(i, i + self.config.batch_size)
                loss = self._loss(x[s], None if extra is None else extra[s], y[s])
                total += float(loss) * len(y[s])
        if self._world > 1:
            summed = torch.tensor(total, dtype=torch.float64, device=self.device)
            dist.all_reduce(summed)
            total = float(summed)
        return total / len(x)

    def _loss(self, x: torch.Tensor, extra: torch.Tensor | None,
              y: torch.Tensor) -> torch.Tensor:
        cfg, model = self.config, self.model
        flow = getattr(getattr(model, "config", None), "head", None) == "flow"
        if flow != (cfg.loss == "nll"):
            raise ValueError("loss 'nll' and a model with head='flow' go together; got loss "
                             f"{cfg.loss!r} with a {'flow' if flow else 'non-flow'} head")
        if flow:
            return -model.log_prob(y, x, extra).mean()
        # an ensemble's members each get their own loss: (members, batch, outputs)
        members = getattr(model, "member_outputs", None)
        out = members(x, extra) if members is not None else model(x, extra)
        if out.shape[-1] == 2 * y.shape[1]:
            mean, log_sigma = out.chunk(2, dim=-1)
        elif out.shape[-1] == y.shape[1]:
            if cfg.loss == "gaussian_nll":
                raise ValueError("loss 'gaussian_nll' needs a model with head='gaussian'")
            mean, log_sigma = out, None
        else:
            raise ValueError(f"model gives {out.shape[-1]} outputs for {y.shape[1]} targets")
        if cfg.loss == "gaussian_nll":
            log_sigma = log_sigma.clamp(-10.0, 10.0)
            return (log_sigma + 0.5 * ((y - mean) * torch.exp(-log_sigma)) ** 2).mean()
        y = y.expand_as(mean)
        if cfg.loss == "huber":
            return F.huber_loss(mean, y, delta=cfg.huber_delta)
        return F.mse_loss(mean, y)

    def _earliest_stop(self) -> int:
        """First epoch after which early stopping may end the run: the end of the one-cycle
        warm-up, while the rising learning rate makes the validation loss jump (a 240-epoch
        flow run once stopped at epoch 42 of 72 warm-up epochs)."""
        if self.config.schedule == "onecycle":
            return math.ceil(ONECYCLE_WARMUP * self.config.epochs)
        return 0

    def _scheduler(self, optimizer: torch.optim.Optimizer,
                   steps: int) -> torch.optim.lr_scheduler.LRScheduler:
        total = self.config.epochs * steps
        if self.config.schedule == "onecycle":
            return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=self.config.lr,
                                                       total_steps=total,
                                                       pct_start=ONECYCLE_WARMUP)
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=total)

    def _tensors(self, data: tuple[np.ndarray, ...]) -> _Batch:
        if len(data) not in (2, 3):
            raise ValueError(f"expected (x, y) or (x, extra, y), got {len(data)} arrays")
        arrays = [np.asarray(a, dtype=np.float32) for a in data]
        x, y = arrays[0], arrays[-1]
        x = x[:, None, :] if x.ndim == 2 else x
        if y.ndim != 2 or any(len(a) != len(x) for a in arrays):
            raise ValueError("x, extra and y must have the same length and y must be 2-D")
        tensors = [torch.from_numpy(a).to(self.device) for a in (x, *arrays[1:])]
        return tensors[0], tensors[1] if len(tensors) == 3 else None, tensors[-1]

    # --- outputs ------------------------------------------------------------------------
    def _write_history(self) -> None:
        if self._rank != 0:
            return
        fields = ["epoch", "train_loss", "val_loss", "lr", "seconds"]
        with atomic_path(self.out_dir / "history.csv") as tmp:
            with open(tmp, "w", newline="", encoding="utf-8") as fh:
                writer = csv.DictWriter(fh, fieldnames=fields)
                writer.writeheader()
                writer.writerows(self.history)
        with atomic_path(self.out_dir / "history.json") as tmp:
            tmp.write_text(dumps(self.history, indent=1) + "\n", encoding="utf-8")

    def _plot(self) -> None:
        if self._rank == 0:
            save_figure(loss_curves(self.history, self.best_epoch, loss=self.config.loss),
                        self.out_dir / "loss_curve", formats=("png",))

    # --- checkpoints --------------------------------------------------------------------
    def _capture(self, epoch: int, optimizer: torch.optim.Optimizer,
                 scheduler: torch.optim.lr_scheduler.LRScheduler | None,
                 finished: bool) -> tuple[dict, dict]:
        """Copy everything needed to resume after ``epoch`` completed epochs."""
        tensors: dict[str, torch.Tensor] = {}
        model_state = split_tensors(state_tensors(self.model), "model", tensors)
        if self._best is not None:
            split_tensors(self._best, "best", tensors)
        scheduler_state = None if scheduler is None else scheduler.state_dict()
        rng = rng_state(self._shuffle)
        meta = {
            "telescopeml_version": __version__,
            "epoch": epoch,
            "finished": finished,
            "best_loss": None if math.isinf(self.best_loss) else self.best_loss,
            "best_epoch": self.best_epoch,
            "bad_epochs": self._bad_epochs,
            "steps_per_epoch": self._steps_per_epoch,
            "history": [dict(row) for row in self.history],
            "train_config": self.config.to_dict(),
            "model": model_state,
            "optimizer": split_tensors(optimizer.state_dict(), "optimizer", tensors),
            "scheduler": split_tensors(scheduler_state, "scheduler", tensors),
            "rng": split_tensors(rng, "rng", tensors),
        }
        return tensors, meta

    def _write_checkpoint(self, snapshot: tuple[dict, dict]) -> None:
        if self._rank != 0:
            return
        write_checkpoint(self.checkpoint_dir, *snapshot)

    def _load_checkpoint(self, optimizer: torch.optim.Optimizer
                         ) -> tuple[int, bool, torch.optim.lr_scheduler.LRScheduler | None]:
        directory = self.checkpoint_dir
        tensors, meta = read_checkpoint(directory)
        check_train_settings(meta, self.config, directory)
        self.model.load_state_dict(join_tensors(meta["model"], tensors))
        self._best = {k[len("best."):]: v for k, v in tensors.items() if k.startswith("best.")}
        self._best = self._best or None
        self._steps_per_epoch = meta["steps_per_epoch"]
        scheduler = None
        if meta["scheduler"] is not None:
            # Built before the optimizer state loads: a new scheduler resets lr and betas.
            scheduler = self._scheduler(optimizer, self._steps_per_epoch)
            scheduler.load_state_dict(join_tensors(meta["scheduler"], tensors))
        optimizer.load_state_dict(join_tensors(meta["optimizer"], tensors))
        restore_rng(join_tensors(meta["rng"], tensors), self._shuffle)
        self.history = meta["history"]
        self.best_loss = math.inf if meta["best_loss"] is None else meta["best_loss"]
        self.best_epoch, self._bad_epochs = meta["best_epoch"], meta["bad_epochs"]
        self.stopped_early = bool(self.config.patience and self._bad_epochs >= self.config.patience)
        return meta["epoch"], meta["finished"], scheduler


def check_finite(epoch: int, train_loss: float, val_loss: float, config: TrainConfig) -> None:
    """Stop training at the first epoch whose loss is not finite: the weights are lost, and
    a model written from them would answer NaN (or be blamed on the spectrum)."""
    if math.isfinite(train_loss) and math.isfinite(val_loss):
        return
    which = "training" if not math.isfinite(train_loss) else "validation"
    value = train_loss if which == "training" else val_loss
    raise TrainingError(f"the {which} loss is {value} at epoch {epoch}: training diverged "
                        f"(lr {config.lr:g}, grad_clip {config.grad_clip:g}) and no model was "
                        "written; lower lr, or look for values that are not finite in the grid")
