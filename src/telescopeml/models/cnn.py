"""The networks: a CNN joined with the raw spectrum (``hybrid``, the default), the published
TelescopeML CNN, a small 1-D ResNet and an MLP baseline; and batched inference (:func:`predict`).

Every model takes ``x`` of shape ``(batch, in_channels, n_wavelengths)`` and, when
``config.n_extra > 0``, ``extra`` of shape ``(batch, n_extra)``. ``model(x, extra)`` returns
the parameters, then (Gaussian head) their log-sigmas; for a flow head it returns the
posterior mean ``(batch, n_outputs)``, and ``model.posterior(x, extra)`` the whole
:class:`~telescopeml.models.posterior.Posterior`.
"""

from __future__ import annotations

import abc
import dataclasses
import math

import numpy as np
import torch
from torch import nn

from telescopeml.models.config import ModelConfig
from telescopeml.models.posterior import BoundedFlow, Posterior


class SpectrumModel(nn.Module, abc.ABC):
    """Base class: holds the config, checks the inputs' shapes and applies the head.

    Subclasses implement :meth:`embed`, the network's raw ``(batch, n_model_outputs)``
    output; a flow head conditions its flow on it.
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.flow: BoundedFlow | None = None
        if config.head == "flow":
            self.flow = BoundedFlow(config.bounds, config.flow_context, config.flow_transforms,
                                    config.flow_hidden, config.flow_bins)

    @abc.abstractmethod
    def embed(self, x: torch.Tensor, extra: torch.Tensor | None = None) -> torch.Tensor:
        """The network's output before the head: ``(batch, config.n_model_outputs)``."""

    def forward(self, x: torch.Tensor, extra: torch.Tensor | None = None) -> torch.Tensor:
        """Point/Gaussian head: :meth:`embed`. Flow head: the posterior mean.

        The flow's mean averages ``config.flow_samples`` samples from base draws seeded
        with ``config.flow_seed`` and shared by every spectrum, so the result does not
        depend on the batch it is computed in, nor on the mode or the global RNG.
        """
        out = self.embed(x, extra)
        if self.flow is None:
            return out
        cfg = self.config
        gen = torch.Generator(device=out.device).manual_seed(cfg.flow_seed)
        z = torch.randn((cfg.flow_samples, 1, cfg.n_outputs), generator=gen, device=out.device,
                        dtype=out.dtype)
        return self.flow(out).from_base(z.expand(-1, len(out), -1)).mean(0)

    def posterior(self, x: torch.Tensor, extra: torch.Tensor | None = None) -> Posterior:
        """Flow head only: ``p(y | x)`` of each spectrum, in standardized units."""
        if self.flow is None:
            raise ValueError(f"posterior() needs head='flow', this model has "
                             f"head={self.config.head!r}")
        return self.flow(self.embed(x, extra))

    def log_prob(self, y: torch.Tensor, x: torch.Tensor,
                 extra: torch.Tensor | None = None) -> torch.Tensor:
        """Flow head only: ``log p(y | x)``, shape ``(batch,)``; the NLL loss is its negative."""
        return self.posterior(x, extra).log_prob(y)

    def _check(self, x: torch.Tensor, extra: torch.Tensor | None) -> None:
        cfg = self.config
        if x.ndim != 3 or tuple(x.shape[1:]) != (cfg.in_channels, cfg.n_wavelengths):
            raise ValueError(
                f"x has shape {tuple(x.shape)}, expected (batch, {cfg.in_channels}, "
                f"{cfg.n_wavelengths})"
            )
        if cfg.n_extra and (extra is None or tuple(extra.shape) != (x.shape[0], cfg.n_extra)):
            got = None if extra is None else tuple(extra.shape)
            raise ValueError(f"extra has shape {got}, expected ({x.shape[0]}, {cfg.n_extra})")

    def _join(self, features: torch.Tensor, extra: torch.Tensor | None) -> torch.Tensor:
        return torch.cat([features, extra], dim=1) if self.config.n_extra else features


def _dense_stack(n_in: int, widths: tuple[int, ...], act: type[nn.Module]) -> list[nn.Module]:
    layers: list[nn.Module] = []
    for width in widths:
        layers += [nn.Linear(n_in, width), act()]
        n_in = width
    return layers


def _gelu_head(n_in: int, config: ModelConfig) -> nn.Sequential:
    """GELU dense layers of widths ``config.dense`` with dropout, then the output layer."""
    layers: list[nn.Module] = []
    for units in config.dense:
        layers += [nn.Linear(n_in, units), nn.GELU(), nn.Dropout(config.dropout)]
        n_in = units
    return nn.Sequential(*layers, nn.Linear(n_in, config.n_model_outputs))


class TelescopeMLCNN(SpectrumModel):
    """The CNN of TelescopeML (Gharib-Nezhad et al. 2024, JOSS 9, 6346).

    Reproduces ``TrainRegressorCNN.build_model`` of TelescopeML/DeepTrainer.py: blocks of
    ``same``-padded ReLU Conv1D layers (He-normal kernels) each closed by a max-pool, flatten,
    the FC1 ReLU dense stack and its dropout, concatenation with the second input (each
    spectrum's min and max, standardized: :class:`~telescopeml.data.inputs.InputEncoder`),
    the FC2 ReLU dense stack and its dropout, and one linear unit per parameter (their four
    ``Dense(1)`` heads are one ``Linear(n, 4)`` here). Dense kernels are Glorot-uniform and
    biases zero, as in Keras. Train it with Huber loss.
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__(config)
        layers: list[nn.Module] = []
        channels, length = config.in_channels, config.n_wavelengths
        for i, (width, kernel) in enumerate(zip(config.filters, config.kernel_sizes, strict=True)):
            conv = nn.Conv1d(channels, width, kernel)
            nn.init.kaiming_normal_(conv.weight, nonlinearity="relu")
            nn.init.zeros_(conv.bias)
            # Keras "same": the odd extra pad of an even kernel goes on the right.
            layers += [nn.ConstantPad1d(((kernel - 1) // 2, kernel // 2), 0.0), conv, nn.ReLU()]
            channels = width
            if (i + 1) % config.layers_per_block == 0:
                layers.append(nn.MaxPool1d(config.pool))
                length //= config.pool
        n_in = channels * length
        layers += [nn.Flatten(), *_dense_stack(n_in, config.feature_dense, nn.ReLU)]
        if config.feature_dense:
            layers.append(nn.Dropout(config.feature_dropout))
            n_in = config.feature_dense[-1]
        self.features = nn.Sequential(*layers)
        head = _dense_stack(n_in + config.n_extra, config.dense, nn.ReLU)
        if config.dense:
            head.append(nn.Dropout(config.dropout))
        n_head = config.dense[-1] if config.dense else n_in + config.n_extra
        self.head = nn.Sequential(*head, nn.Linear(n_head, config.n_model_outputs))
        for module in self.head:
            if isinstance(module, nn.Linear):
                nn.init.xavier_uniform_(module.weight)
                nn.init.zeros_(module.bias)

    def embed(self, x: torch.Tensor, extra: torch.Tensor | None = None) -> torch.Tensor:
        self._check(x, extra)
        return self.head(self._join(self.features(x), extra))


def _norm(kind: str, channels: int) -> nn.Module:
    if kind == "batch":
        return nn.BatchNorm1d(channels)
    if kind == "group":
        return nn.GroupNorm(math.gcd(8, channels), channels)
    return nn.Identity()


class _ResidualBlock(nn.Module):
    """conv-norm-GELU-conv-norm plus a (projected) shortcut, then GELU."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, norm: str) -> None:
        super().__init__()
        bias = norm == "none"
        self.conv1 = nn.Conv1d(c_in, c_out, kernel, stride, kernel // 2, bias=bias)
        self.norm1 = _norm(norm, c_out)
        self.conv2 = nn.Conv1d(c_out, c_out, kernel, 1, kernel // 2, bias=bias)
        self.norm2 = _norm(norm, c_out)
        self.act = nn.GELU()
        self.shortcut: nn.Module = nn.Identity()
        if c_in != c_out or stride != 1:
            self.shortcut = nn.Sequential(
                nn.Conv1d(c_in, c_out, 1, stride, bias=bias), _norm(norm, c_out)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.norm2(self.conv2(self.act(self.norm1(self.conv1(x)))))
        return self.act(y + self.shortcut(x))


class ResNet1D(SpectrumModel):
    """Small 1-D residual CNN (the default).

    Stem conv strided by ``pool``, one stage per entry of ``filters`` (``layers_per_block``
    residual blocks, the first strided by ``pool``), then global average pooling and a coarse
    flattened map (1x1 conv to 8 channels, averaged onto 16 points, so that the head still
    knows *where* along the spectrum features lie), concatenated with the extra inputs, into
    a GELU dense head.
    """

    FLAT_CHANNELS = 8
    FLAT_POINTS = 16

    def __init__(self, config: ModelConfig) -> None:
        super().__init__(config)
        width, kernel = config.filters[0], config.kernel_sizes[0]
        self.stem = nn.Sequential(
            nn.Conv1d(config.in_channels, width, kernel, stride=config.pool,
                      padding=kernel // 2, bias=config.norm == "none"),
            _norm(config.norm, width),
            nn.GELU(),
        )
        blocks: list[nn.Module] = []
        for out, k in zip(config.filters, config.kernel_sizes, strict=True):
            for j in range(config.layers_per_block):
                blocks.append(_ResidualBlock(width, out, k, config.pool if j == 0 else 1,
                                             config.norm))
                width = out
        self.stages = nn.Sequential(*blocks)
        self.flat = nn.Sequential(
            nn.Conv1d(width, self.FLAT_CHANNELS, 1),
            nn.AdaptiveAvgPool1d(self.FLAT_POINTS),
            nn.Flatten(),
        )
        self.head = _gelu_head(width + self.FLAT_CHANNELS * self.FLAT_POINTS + config.n_extra,
                               config)

    def embed(self, x: torch.Tensor, extra: torch.Tensor | None = None) -> torch.Tensor:
        self._check(x, extra)
        h = self.stages(self.stem(x))
        features = torch.cat([h.mean(dim=2), self.flat(h)], dim=1)
        return self.head(self._join(features, extra))


class MLP(SpectrumModel):
    """Baseline: the flattened spectrum (and extra inputs) through GELU dense layers."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__(config)
        self.net = _gelu_head(config.in_channels * config.n_wavelengths + config.n_extra, config)

    def embed(self, x: torch.Tensor, extra: torch.Tensor | None = None) -> torch.Tensor:
        self._check(x, extra)
        return self.net(self._join(x.flatten(1), extra))


class HybridCNN(SpectrumModel):
    """Strided convolutions beside the raw spectrum, into GELU dense layers.

    A few ``same``-padded convolutions, each strided by ``pool``, turn the spectrum into
    coarse feature maps that keep *where* along the spectrum each feature lies; the
    flattened maps are concatenated with the flattened input itself, so the dense layers
    see both the band shapes and the pixel values. On CPU this is several times faster
    than a ResNet of similar accuracy (benchmarks/BENCHMARKS.md).
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__(config)
        layers: list[nn.Module] = []
        channels, length = config.in_channels, config.n_wavelengths
        for width, kernel in zip(config.filters, config.kernel_sizes, strict=True):
            layers += [nn.Conv1d(channels, width, kernel, stride=config.pool,
                                 padding=kernel // 2), nn.GELU()]
            channels = width
            length = (length + 2 * (kernel // 2) - kernel) // config.pool + 1
        self.conv = nn.Sequential(*layers)
        self.head = _gelu_head(
            channels * length + config.in_channels * config.n_wavelengths + config.n_extra,
            config)

    def embed(self, x: torch.Tensor, extra: torch.Tensor | None = None) -> torch.Tensor:
        self._check(x, extra)
        features = torch.cat([self.conv(x).flatten(1), x.flatten(1)], dim=1)
        return self.head(self._join(features, extra))


class Ensemble(SpectrumModel):
    """``config.members`` networks of one architecture; the output is their mean.

    Each member is initialised on its own; the trainer gives each its own loss
    (:meth:`member_outputs`), so the members stay independent and their errors from the
    random start partly cancel in the mean.
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__(config)
        single = dataclasses.replace(config, members=1)
        self.members = nn.ModuleList(MODELS[config.architecture](single)
                                     for _ in range(config.members))

    def member_outputs(self, x: torch.Tensor, extra: torch.Tensor | None = None) -> torch.Tensor:
        """``(members, batch, n_model_outputs)``: each member's output."""
        return torch.stack([member.embed(x, extra) for member in self.members])

    def embed(self, x: torch.Tensor, extra: torch.Tensor | None = None) -> torch.Tensor:
        return self.member_outputs(x, extra).mean(0)


#: Architecture name -> model class; every class is built from a :class:`ModelConfig`.
MODELS: dict[str, type[SpectrumModel]] = {
    "telescopeml": TelescopeMLCNN,
    "resnet": ResNet1D,
    "mlp": MLP,
    "hybrid": HybridCNN,
}


def build_model(config: ModelConfig) -> SpectrumModel:
    """Build the network ``config`` describes (weights freshly initialised); an
    :class:`Ensemble` when ``config.members > 1``."""
    return Ensemble(config) if config.members > 1 else MODELS[config.architecture](config)


def count_parameters(model: nn.Module, trainable_only: bool = True) -> int:
    """Number of (trainable) parameters of ``model``."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def predict(
    model: nn.Module,
    x: np.ndarray,
    extra: np.ndarray | None = None,
    batch_size: int = 512,
) -> np.ndarray:
    """Run ``model`` on ``x`` (``(n, n_wavelengths)`` or ``(n, channels, n_wavelengths)``).

    ``batch_size`` rows go through at a time: on 2 CPU cores 512 ran faster than 4096,
    whose activations leave the cache (BENCHMARKS.md, prediction speed).

    Batched, in eval mode, under ``torch.inference_mode()``, on the model's device; the
    model's train/eval mode is restored afterwards. Returns a float32 ``(n, n_out)`` array.
    """
    device = next(model.parameters()).device
    x = np.asarray(x, dtype=np.float32)
    x = x[:, None, :] if x.ndim == 2 else x
    was_training = model.training
    model.eval()
    outputs = []
    try:
        with torch.inference_mode():
            for i in range(0, len(x), batch_size):
                xb = torch.from_numpy(x[i : i + batch_size]).to(device)
                eb = None if extra is None else torch.as_tensor(
                    np.asarray(extra[i : i + batch_size], dtype=np.float32), device=device
                )
                outputs.append(model(xb, eb).float().cpu().numpy())
    finally:
        model.train(was_training)
    return np.concatenate(outputs) if outputs else np.empty((0, 0), np.float32)
