"""A trained network and its spline flow evaluated with NumPy, for prediction without PyTorch.

Importing PyTorch alone takes over a second on a laptop, longer than the whole prediction of
one spectrum; :class:`NumpyModel` reads the same ``model.safetensors`` and computes the same
function as the torch modules of :mod:`telescopeml.models.cnn` and
:mod:`telescopeml.models.posterior` (float32, agreement to rounding is tested).

It holds no copy of any network. Each architecture registers, in :data:`TREES`, how
its torch module tree follows from a :class:`~telescopeml.models.config.ModelConfig` (the
mirror of its torch constructor, built from the layer nodes of ``numpy_layers``), and each
head in :data:`HEADS` the modules it adds; :func:`structure` puts them together (an
``Ensemble`` of ``members`` networks where ``config.members > 1``), and the engine walks that
tree, applying the NumPy twin registered for each torch class (``numpy_layers.TWINS``: the
layers, and the forward pass of each network class below; the flow head's twin is in
``numpy_flow``). :func:`supports` follows from the registries: an architecture and a head
that are registered, and a tree whose every module has a twin. ``resnet`` (batch
normalization, residual stages) is not registered and goes through torch.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from telescopeml.errors import DataError
from telescopeml.models.config import ModelConfig
from telescopeml.models.numpy_flow import SplineFlow, flow_tree
from telescopeml.models.numpy_layers import (
    Node,
    Weights,
    activation,
    build,
    conv,
    dropout,
    flatten,
    linear,
    max_pool,
    missing_twins,
    module_list,
    pad,
    sequential,
    twin,
)
from telescopeml.models.numpy_layers import conv1d as conv1d
from telescopeml.models.numpy_layers import gelu as gelu
from telescopeml.models.numpy_layers import max_pool1d as max_pool1d
from telescopeml.models.numpy_layers import relu as relu
from telescopeml.models.recalibration import Recalibration

#: Architecture name (``ModelConfig.architecture``) -> the torch module tree of a single
#: network of that config, as its class in :data:`telescopeml.models.cnn.MODELS` builds it.
TREES: dict[str, Callable[[ModelConfig], Node]] = {}
#: Head name (``ModelConfig.head``) -> the modules it adds to a network, by attribute name.
HEADS: dict[str, Callable[[ModelConfig], dict[str, Node]]] = {
    "point": lambda config: {},  # the network's output is the answer
    "gaussian": lambda config: {},  # means, then log-sigmas: split by the Predictor
    "flow": lambda config: {"flow": flow_tree(config)},
}
#: zuko releases (major.minor) whose flows this engine reproduces, checked by the tests that
#: compare it with zuko; pyproject.toml caps zuko to them.
TESTED_ZUKO = ("1.6",)


def architecture(name: str) -> Callable[[Callable[[ModelConfig], Node]],
                                        Callable[[ModelConfig], Node]]:
    """Register the decorated function as the module tree of architecture ``name``."""
    def register(tree: Callable[[ModelConfig], Node]) -> Callable[[ModelConfig], Node]:
        TREES[name] = tree
        return tree
    return register


def structure(config: ModelConfig) -> Node:
    """The torch module tree of the model :func:`telescopeml.models.cnn.build_model` builds
    for ``config``: the network (an ``Ensemble`` of ``config.members``) and its head.

    Raises
    ------
    ValueError
        If the architecture or the head is not registered.
    """
    if config.architecture not in TREES or config.head not in HEADS:
        raise ValueError(f"NumpyModel evaluates {tuple(TREES)} with heads "
                         f"{tuple(HEADS)}, not {config.architecture!r} with {config.head!r}")
    if config.members > 1:
        single = TREES[config.architecture](dataclasses.replace(config, members=1))
        network = Node("Ensemble", children=(("members",
                                              module_list([single] * config.members)),))
    else:
        network = TREES[config.architecture](config)
    head = HEADS[config.head](config)
    return dataclasses.replace(network, children=(*head.items(), *network.children))


def supports(config: ModelConfig) -> bool:
    """Whether :class:`NumpyModel` can evaluate a model of this config: its architecture and
    head are registered and every module of its tree has a NumPy twin."""
    if config.architecture not in TREES or config.head not in HEADS:
        return False
    return not missing_twins(structure(config))


def check_zuko(manifest: Mapping[str, Any], source: str | Path) -> None:
    """Refuse a flow bundle whose manifest records a zuko release outside :data:`TESTED_ZUKO`.

    Bundles that record no zuko version (written before it was recorded) are accepted.

    Raises
    ------
    DataError
        Naming ``source`` (the bundle), the recorded and the tested versions.
    """
    if (manifest.get("config") or {}).get("head") != "flow":
        return
    recorded = (manifest.get("environment") or {}).get("zuko")
    if recorded is None:
        return
    if ".".join(str(recorded).split(".")[:2]) not in TESTED_ZUKO:
        raise DataError(f"the flow was written with zuko {recorded}; the NumPy engine mirrors "
                        f"zuko {', '.join(TESTED_ZUKO)} only and may not compute its posterior: "
                        "retrain the model with a supported zuko", source)


# --- the architectures: module trees as models.cnn builds them -------------------------------
def _dense_stack(n_in: int, widths: Sequence[int], act: str) -> list[Node]:
    """``cnn._dense_stack``."""
    layers = []
    for width in widths:
        layers += [linear(n_in, width), activation(act)]
        n_in = width
    return layers


def _gelu_head(n_in: int, config: ModelConfig) -> Node:
    """``cnn._gelu_head``."""
    layers = []
    for units in config.dense:
        layers += [linear(n_in, units), activation("GELU"), dropout(config.dropout)]
        n_in = units
    return sequential(*layers, linear(n_in, config.n_model_outputs))


@architecture("telescopeml")
def _telescopeml_tree(config: ModelConfig) -> Node:
    """``cnn.TelescopeMLCNN``."""
    layers = []
    channels, length = config.in_channels, config.n_wavelengths
    for i, (width, kernel) in enumerate(zip(config.filters, config.kernel_sizes, strict=True)):
        layers += [pad((kernel - 1) // 2, kernel // 2), conv(channels, width, kernel),
                   activation("ReLU")]
        channels = width
        if (i + 1) % config.layers_per_block == 0:
            layers.append(max_pool(config.pool))
            length //= config.pool
    n_in = channels * length
    layers += [flatten(), *_dense_stack(n_in, config.feature_dense, "ReLU")]
    if config.feature_dense:
        layers.append(dropout(config.feature_dropout))
        n_in = config.feature_dense[-1]
    head = _dense_stack(n_in + config.n_extra, config.dense, "ReLU")
    if config.dense:
        head.append(dropout(config.dropout))
    n_head = config.dense[-1] if config.dense else n_in + config.n_extra
    return Node("TelescopeMLCNN", children=(
        ("features", sequential(*layers)),
        ("head", sequential(*head, linear(n_head, config.n_model_outputs)))))


@architecture("mlp")
def _mlp_tree(config: ModelConfig) -> Node:
    """``cnn.MLP``."""
    n_in = config.in_channels * config.n_wavelengths + config.n_extra
    return Node("MLP", children=(("net", _gelu_head(n_in, config)),))


@architecture("hybrid")
def _hybrid_tree(config: ModelConfig) -> Node:
    """``cnn.HybridCNN``."""
    layers = []
    channels, length = config.in_channels, config.n_wavelengths
    for width, kernel in zip(config.filters, config.kernel_sizes, strict=True):
        layers += [conv(channels, width, kernel, stride=config.pool, padding=kernel // 2),
                   activation("GELU")]
        channels = width
        length = (length + 2 * (kernel // 2) - kernel) // config.pool + 1
    n_in = channels * length + config.in_channels * config.n_wavelengths + config.n_extra
    return Node("HybridCNN", children=(("conv", sequential(*layers)),
                                       ("head", _gelu_head(n_in, config))))


# --- their forward passes (``embed``): ``(x, extra or None) -> output`` ----------------------
Embed = Callable[[np.ndarray, np.ndarray | None], np.ndarray]


def _joined(parts: list[np.ndarray], extra: np.ndarray | None) -> np.ndarray:
    """Each part flattened, then the extra inputs, side by side (``SpectrumModel._join``)."""
    flat = [part.reshape(len(part), -1) for part in parts]
    return np.concatenate(flat if extra is None else [*flat, extra], axis=1)


@twin("TelescopeMLCNN")
def _telescopeml(node: Node, weights: Weights) -> Embed:
    features = build(node["features"], weights.child("features"))
    head = build(node["head"], weights.child("head"))
    return lambda x, extra: head(_joined([features(x)], extra))


@twin("MLP")
def _mlp(node: Node, weights: Weights) -> Embed:
    net = build(node["net"], weights.child("net"))
    return lambda x, extra: net(_joined([x], extra))


@twin("HybridCNN")
def _hybrid(node: Node, weights: Weights) -> Embed:
    layers = build(node["conv"], weights.child("conv"))
    head = build(node["head"], weights.child("head"))
    return lambda x, extra: head(_joined([layers(x), x], extra))


@twin("Ensemble")
def _ensemble(node: Node, weights: Weights) -> Embed:
    members = build(node["members"], weights.child("members"))
    return lambda x, extra: np.mean([member(x, extra) for member in members], axis=0)


def _check_counts(config: ModelConfig, weights: dict[str, np.ndarray]) -> None:
    """Refuse a config whose counts of repeated modules (ensemble members, flow transforms)
    differ from what the weights hold, before a tree of that many modules is built: an
    edited manifest's ``members = 1000000000`` would otherwise be a billion-entry loop."""
    counts = [("an ensemble of {} networks", "members.", config.members,
               config.members > 1),
              ("{} flow transforms", "flow.transform.transforms.", config.flow_transforms,
               config.head == "flow")]
    for words, prefix, declared, used in counts:
        held = len({key[len(prefix):].split(".")[0] for key in weights
                    if key.startswith(prefix)})
        if used and declared != held:
            raise ValueError(f"the config asks for {words.format(declared)} but the weights "
                             f"hold {held}")


class NumpyModel:
    """The network of a bundle and its head, in NumPy (see :func:`supports`).

    Parameters
    ----------
    config
        The bundle's model config.
    weights
        Its state dict, as read from ``model.safetensors`` (any float dtype).
    spread
        The flow's per-parameter recalibration factors (None: none).
    recalibration
        The flow's recalibration (:mod:`telescopeml.models.recalibration`; None: none).

    Raises
    ------
    ValueError
        If the config is not supported, or the weights do not fit it (a key missing, a
        shape that differs, a key the model has no place for).
    """

    def __init__(self, config: ModelConfig, weights: dict[str, np.ndarray],
                 spread: Sequence[float] | None = None,
                 recalibration: Recalibration | None = None) -> None:
        _check_counts(config, weights)  # before building anything
        #: The torch module tree this engine evaluates (:func:`structure`).
        self.tree = structure(config)
        missing = missing_twins(self.tree)
        if missing:
            raise ValueError(f"NumpyModel evaluates no {', '.join(missing)}: this "
                             f"{config.architecture} model with a {config.head} head runs "
                             "on torch")
        self.config = config
        w = Weights({k: (v.astype(np.float32) if v.dtype.kind == "f" else v)
                     for k, v in weights.items()})
        try:
            self._embed: Embed = build(self.tree, w)
            self.flow: SplineFlow | None = None
            if "flow" in dict(self.tree.children):
                self.flow = build(self.tree["flow"], w.child("flow"))
                self.flow.set_posterior(spread, recalibration)
        except KeyError as exc:
            raise ValueError(f"the weights lack {exc} for a {config.architecture} model") from exc
        unread = w.unread()
        if unread:
            raise ValueError(f"the weights hold {', '.join(unread[:5])}"
                             f"{' ...' if len(unread) > 5 else ''}, which a "
                             f"{config.architecture} model of this config does not have")

    def embed(self, x: np.ndarray, extra: np.ndarray | None = None) -> np.ndarray:
        """The network's output before the head, ``(batch, config.n_model_outputs)``."""
        cfg = self.config
        x = np.asarray(x, dtype=np.float32)
        if x.ndim != 3 or x.shape[1:] != (cfg.in_channels, cfg.n_wavelengths):
            raise ValueError(f"x has shape {x.shape}, expected (batch, {cfg.in_channels}, "
                             f"{cfg.n_wavelengths})")
        if not cfg.n_extra:
            return self._embed(x, None)
        extra = None if extra is None else np.asarray(extra, dtype=np.float32)
        if extra is None or extra.shape != (len(x), cfg.n_extra):
            got = None if extra is None else extra.shape
            raise ValueError(f"extra has shape {got}, expected ({len(x)}, {cfg.n_extra})")
        return self._embed(x, extra)

    def sample(self, x: np.ndarray, extra: np.ndarray | None, n: int,
               rng: np.random.Generator, snr: np.ndarray | None = None) -> np.ndarray:
        """Flow head: ``(n, batch, d)`` posterior samples in standardized units, recalibrated
        for spectra of S/N ``snr`` (one per spectrum; None: S/N 30)."""
        if self.flow is None:
            raise ValueError(f"sample() needs head='flow', this model has "
                             f"head={self.config.head!r}")
        context = self.embed(x, extra)
        z = rng.standard_normal((n, len(context), self.config.n_outputs), dtype=np.float32)
        return self.flow.sample(context, z, snr)
