"""ModelConfig: the typed, validated description of a network, and each architecture's preset."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from telescopeml import tomlio

HEADS = ("point", "gaussian", "flow")
NORMS = ("batch", "group", "none")

#: Default hyperparameters of each architecture; ``None`` fields of a ModelConfig take these.
PRESETS: dict[str, dict[str, Any]] = {
    # The published TelescopeML CNN (Gharib-Nezhad et al. 2024, JOSS 9, 6346,
    # doi:10.21105/joss.06346; TelescopeML/DeepTrainer.py, TrainRegressorCNN.build_model):
    # two Conv1D blocks (ReLU, "same" padding, max-pool), flatten, a dense stack, two
    # scalars joined as a second input (the min and max of the spectrum's absolute F_nu in
    # TelescopeML: DataConfig.extra_features of the experiment preset), a second dense
    # stack, 4 outputs, Huber loss. Widths are chosen to give the published size of about
    # 8 M parameters at its 104 wavelengths (8.8 M here); the dropouts are the example
    # values of build_model.
    "telescopeml": {
        "n_extra": 2,
        "filters": (16, 64),
        "kernel_sizes": (6, 6),
        "layers_per_block": 1,
        "pool": 2,
        "feature_dense": (1024, 2048, 2048),
        "dense": (256, 1024),
        "feature_dropout": 0.09889223768186726,
        "dropout": 0.0024609140719442646,
        "norm": "none",
    },
    "resnet": {
        "n_extra": 0,
        "filters": (32, 64, 96, 128),
        "kernel_sizes": (7, 5, 5, 3),
        "layers_per_block": 1,
        "pool": 2,
        "feature_dense": (),
        "dense": (128,),
        "feature_dropout": 0.0,
        "dropout": 0.1,
        "norm": "batch",
    },
    "mlp": {
        "n_extra": 0,
        "filters": (),
        "kernel_sizes": (),
        "layers_per_block": 1,
        "pool": 1,
        "feature_dense": (),
        "dense": (512, 256),
        "feature_dropout": 0.0,
        "dropout": 0.1,
        "norm": "none",
    },
    "hybrid": {
        "n_extra": 0,
        "filters": (32, 32),
        "kernel_sizes": (5, 5),
        "layers_per_block": 1,
        "pool": 4,
        "feature_dense": (),
        "dense": (512, 256),
        "feature_dropout": 0.0,
        "dropout": 0.0,
        "norm": "none",
    },
}
ARCHITECTURES = tuple(PRESETS)


def _lists(value: Any) -> Any:
    return [_lists(v) for v in value] if isinstance(value, tuple) else value


def _choice(field: str, value: Any, valid: tuple[str, ...]) -> None:
    if value not in valid:
        raise ValueError(f"{field} = {value!r}: must be one of {', '.join(valid)}")


@dataclass
class ModelConfig:
    """What a network looks like; fields left ``None`` take the architecture's preset.

    Parameters
    ----------
    architecture
        One of :data:`ARCHITECTURES`: ``hybrid`` (the default), ``resnet``, ``telescopeml``,
        ``mlp``.
    n_wavelengths
        Length of each input spectrum.
    n_outputs
        Number of predicted parameters.
    in_channels
        1 = flux; 2 = flux and its per-pixel uncertainty.
    n_extra
        Scalar inputs beside the spectrum (``telescopeml``: the spectrum's min and max, as
        :class:`~telescopeml.data.inputs.InputEncoder` computes them).
    head
        ``point`` (one value per parameter), ``gaussian`` (mean, then log-sigma: 2 x n_outputs)
        or ``flow`` (a conditional neural spline flow over the parameters; the network's
        output is the flow's context and ``model(x)`` returns the posterior mean).
    filters, kernel_sizes
        Conv widths and kernel sizes: per layer (``telescopeml``) or per stage (``resnet``).
    layers_per_block
        Conv layers per max-pool block (``telescopeml``) or residual blocks per stage (``resnet``).
    pool
        Down-sampling factor: max-pool size (``telescopeml``) or stage stride (``resnet``).
    feature_dense
        Dense widths applied to the conv features before the extra inputs join
        (``telescopeml`` FC1).
    dense
        Dense widths after the extra inputs join (``telescopeml`` FC2, ``resnet`` head,
        ``mlp`` hidden layers).
    feature_dropout, dropout
        Dropout after ``feature_dense`` and after ``dense``.
    norm
        ``batch``, ``group`` or ``none``; used by ``resnet``.
    bounds
        ``flow`` head only, required there: the prior box ``((low, high), ...)`` of each
        output in standardized units; posterior samples never leave it.
    flow_transforms, flow_hidden, flow_bins
        ``flow`` head: spline transforms, hidden widths of each transform's MADE, spline bins.
    flow_context
        ``flow`` head: width of the network's output that conditions the flow.
    flow_samples, flow_seed
        ``flow`` head: ``model(x)`` averages this many posterior samples, drawn from a
        generator seeded with ``flow_seed`` (the same base draws for every spectrum), so that
        point predictions are reproducible.
    members
        ``point`` head only: this many networks of this config, each initialised on its own
        and trained on its own loss (on the same batches); the model's answer is their mean.
        Averaging cancels the part of each network's error that comes from its start.
    """

    architecture: str = "hybrid"
    n_wavelengths: int = 563
    n_outputs: int = 3
    in_channels: int = 1
    n_extra: int | None = None
    head: str = "point"
    filters: tuple[int, ...] | None = None
    kernel_sizes: tuple[int, ...] | None = None
    layers_per_block: int | None = None
    pool: int | None = None
    feature_dense: tuple[int, ...] | None = None
    dense: tuple[int, ...] | None = None
    feature_dropout: float | None = None
    dropout: float | None = None
    norm: str | None = None
    bounds: tuple[tuple[float, float], ...] | None = None
    flow_transforms: int = 3
    flow_hidden: tuple[int, ...] = (64, 64)
    flow_bins: int = 8
    flow_context: int = 32
    flow_samples: int = 32
    flow_seed: int = 0
    members: int = 1

    def __post_init__(self) -> None:
        if int(self.members) < 1:
            raise ValueError(f"members must be at least 1, got {self.members!r}")
        if self.members > 1 and self.head != "point":
            raise ValueError(f"members > 1 (an ensemble of networks) needs head='point'; "
                             f"got head={self.head!r}: set members = 1 (the default preset "
                             "trains an ensemble of 3)")
        _choice("architecture", self.architecture, ARCHITECTURES)
        _choice("head", self.head, HEADS)
        for name, default in PRESETS[self.architecture].items():
            if getattr(self, name) is None:
                setattr(self, name, default)
        for name in ("filters", "kernel_sizes", "feature_dense", "dense", "flow_hidden"):
            setattr(self, name, tuple(int(v) for v in getattr(self, name)))
        self._check_flow()
        _choice("norm", self.norm, NORMS)
        if self.in_channels not in (1, 2):
            raise ValueError(f"in_channels {self.in_channels!r} is not valid; valid: 1, 2")
        for name in ("n_wavelengths", "n_outputs", "layers_per_block", "pool"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)!r}")
        if self.n_extra < 0:
            raise ValueError(f"n_extra must be 0 or more, got {self.n_extra!r}")
        for name in ("filters", "kernel_sizes", "feature_dense", "dense"):
            if any(v < 1 for v in getattr(self, name)):
                raise ValueError(f"{name} must hold positive integers, got {getattr(self, name)}")
        if len(self.kernel_sizes) != len(self.filters):
            raise ValueError(
                f"kernel_sizes has {len(self.kernel_sizes)} values for {len(self.filters)} filters"
            )
        if self.architecture != "mlp" and not self.filters:
            raise ValueError(f"architecture {self.architecture!r} needs at least one filter")
        for name in ("feature_dropout", "dropout"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(f"{name} must be in [0, 1), got {getattr(self, name)!r}")
        if self.architecture == "telescopeml":
            n_blocks, rest = divmod(len(self.filters), self.layers_per_block)
            if rest or self.n_wavelengths // self.pool**n_blocks < 1:
                raise ValueError(
                    f"telescopeml: {len(self.filters)} filters do not form blocks of "
                    f"{self.layers_per_block} that fit {self.n_wavelengths} wavelengths"
                )

    def _check_flow(self) -> None:
        if self.bounds is not None:
            self.bounds = tuple((float(lo), float(hi)) for lo, hi in self.bounds)
        if self.head != "flow":
            if self.bounds is not None:
                raise ValueError("bounds is for head='flow' only")
            return
        if self.bounds is None or len(self.bounds) != self.n_outputs:
            raise ValueError(
                f"head='flow' needs bounds: one (low, high) per output ({self.n_outputs}) in "
                f"standardized units, got {self.bounds!r}"
            )
        if any(not lo < hi for lo, hi in self.bounds):
            raise ValueError(f"bounds must have low < high, got {self.bounds}")
        for name in ("flow_transforms", "flow_context", "flow_samples"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)!r}")
        if self.flow_bins < 2 or any(v < 1 for v in self.flow_hidden):
            raise ValueError("flow_bins must be at least 2 and flow_hidden positive integers")

    @property
    def n_model_outputs(self) -> int:
        """Width of the network's output: ``n_outputs``, doubled for a Gaussian head,
        ``flow_context`` for a flow head."""
        if self.head == "flow":
            return self.flow_context
        return self.n_outputs * (2 if self.head == "gaussian" else 1)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (tuples become lists)."""
        return {k: _lists(v) for k, v in dataclasses.asdict(self).items()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelConfig:
        """Inverse of :meth:`to_dict`; unknown keys raise ValueError naming the valid ones."""
        return tomlio.dataclass_from_dict(cls, data)
