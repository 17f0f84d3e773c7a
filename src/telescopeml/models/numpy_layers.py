"""NumPy twins of the torch layers the networks are made of, registered by torch class name.

The NumPy engine (:mod:`telescopeml.models.numpy_model`) describes a network as the tree of
its torch modules, a :class:`Node` per module: the module's class name (``kind``), the
hyperparameters it was built with, named as the module's attributes (``args``), and its named
children. :func:`build` walks such a tree and applies the twin registered in :data:`TWINS`
for each node's kind, reading the node's weights under the node's dotted name, as in the
torch state dict. A twin is a factory ``(node, weights) -> what the parent calls``: a
function of the activations for a layer, of ``(x, extra)`` for a network.

Because a node's name, kind and arguments are those of the torch module, the tests compare
the tree with the torch model's ``named_modules()`` for every registered architecture and
head; a layer added to a torch network without its twin fails them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Node:
    """One torch module of a network: class name, hyperparameters, named children.

    ``args`` holds the values of the torch module's attributes of those names (a 1-tuple is
    its value), so that the tests can compare them with the module itself.
    """

    kind: str
    args: Mapping[str, Any] = field(default_factory=dict)
    children: tuple[tuple[str, Node], ...] = ()

    def __getitem__(self, name: str) -> Node:
        for key, child in self.children:
            if key == name:
                return child
        raise KeyError(f"{self.kind} has no child {name!r}")

    def walk(self, prefix: str = "") -> list[tuple[str, Node]]:
        """``(dotted name, node)`` of this node and every node below it, in the order
        ``torch.nn.Module.named_modules`` lists them (one list: no generator per level)."""
        found: list[tuple[str, Node]] = []
        stack = [(prefix, self)]
        while stack:
            name, node = stack.pop()
            found.append((name, node))
            for key, child in reversed(node.children):
                stack.append((f"{name}.{key}" if name else key, child))
        return found


def sequential(*layers: Node) -> Node:
    """``nn.Sequential(*layers)``."""
    return Node("Sequential", children=tuple((str(i), layer) for i, layer in enumerate(layers)))


def module_list(nodes: Sequence[Node]) -> Node:
    """``nn.ModuleList(nodes)``."""
    return Node("ModuleList", children=tuple((str(i), node) for i, node in enumerate(nodes)))


class Weights:
    """A state dict seen from one module: ``weights["bias"]`` is ``"<prefix>bias"``.

    Every key read is recorded (:meth:`unread`), so that weights the tree has no place for
    are refused as torch's ``load_state_dict`` refuses them.
    """

    def __init__(self, arrays: Mapping[str, np.ndarray], prefix: str = "",
                 read: set[str] | None = None) -> None:
        self.arrays = arrays
        self.prefix = prefix
        self.read: set[str] = set() if read is None else read

    def __getitem__(self, key: str) -> np.ndarray:
        name = self.prefix + key
        if name not in self.arrays:
            raise KeyError(name)
        self.read.add(name)
        return self.arrays[name]

    def child(self, name: str) -> Weights:
        """The weights of the child module ``name``."""
        return Weights(self.arrays, f"{self.prefix}{name}.", self.read)

    def unread(self) -> list[str]:
        """Keys of the whole state dict that no twin has read."""
        return sorted(set(self.arrays) - self.read)


#: torch class name -> its NumPy twin: ``factory(node, weights)``.
TWINS: dict[str, Callable[[Node, Weights], Any]] = {}


def twin(kind: str) -> Callable[[Callable[[Node, Weights], Any]],
                                Callable[[Node, Weights], Any]]:
    """Register the decorated factory as the NumPy twin of the torch module class ``kind``."""
    def register(factory: Callable[[Node, Weights], Any]) -> Callable[[Node, Weights], Any]:
        TWINS[kind] = factory
        return factory
    return register


def missing_twins(tree: Node) -> list[str]:
    """Kinds in ``tree`` that have no registered twin (none: the engine can evaluate it)."""
    return sorted({node.kind for _, node in tree.walk() if node.kind not in TWINS})


def build(node: Node, weights: Weights) -> Any:
    """What the twin registered for ``node.kind`` makes of ``node`` and its weights."""
    if node.kind not in TWINS:
        raise ValueError(f"the NumPy engine has no twin of torch's {node.kind}")
    return TWINS[node.kind](node, weights)


# --- the layer functions ---------------------------------------------------------------------
def gelu(x: np.ndarray) -> np.ndarray:
    """Exact (erf) GELU, ``x Φ(x)``, as ``torch.nn.GELU()``, to 3e-7 absolute.

    ``Φ`` comes from erfc (Abramowitz & Stegun 7.1.26, error below 1.5e-7) in float64, so
    the negative tail, where ``1 + erf`` would cancel, keeps its precision; numpy has no erf.
    """
    a = np.abs(x.astype(np.float64)) / math.sqrt(2.0)
    t = 1.0 / (1.0 + 0.3275911 * a)
    half_erfc = 0.5 * t * (0.254829592 + t * (-0.284496736 + t * (
        1.421413741 + t * (-1.453152027 + t * 1.061405429)))) * np.exp(-a * a)
    phi = np.where(x < 0, half_erfc, 1.0 - half_erfc)
    return (x * phi).astype(x.dtype, copy=False)


def relu(x: np.ndarray) -> np.ndarray:
    """``torch.nn.ReLU()``."""
    return np.maximum(x, np.float32(0.0))


def conv1d(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, stride: int,
           padding: int | tuple[int, int]) -> np.ndarray:
    """``torch.nn.functional.conv1d``: ``(B, C, L)`` -> ``(B, O, L_out)``; ``padding`` is
    zeros on both sides, or ``(left, right)``."""
    out_channels, channels, kernel = weight.shape
    left, right = (padding, padding) if isinstance(padding, int) else padding
    padded = np.pad(x, ((0, 0), (0, 0), (left, right))) if left or right else x
    windows = np.lib.stride_tricks.sliding_window_view(padded, kernel, axis=2)[:, :, ::stride]
    # (B, C, L_out, K) -> (B, L_out, C*K) @ (C*K, O)
    cols = windows.transpose(0, 2, 1, 3).reshape(len(x), -1, channels * kernel)
    return (cols @ weight.reshape(out_channels, -1).T + bias).transpose(0, 2, 1)


def max_pool1d(x: np.ndarray, size: int) -> np.ndarray:
    """``torch.nn.MaxPool1d(size)``: a trailing partial window is dropped."""
    length = x.shape[-1] // size * size
    return x[..., :length].reshape(*x.shape[:-1], -1, size).max(axis=-1)


# --- nodes as the torch layers are built -----------------------------------------------------
def linear(n_in: int, n_out: int) -> Node:
    """``nn.Linear(n_in, n_out)``."""
    return Node("Linear", {"in_features": n_in, "out_features": n_out})


def conv(c_in: int, c_out: int, kernel: int, stride: int = 1, padding: int = 0) -> Node:
    """``nn.Conv1d(c_in, c_out, kernel, stride, padding)``."""
    return Node("Conv1d", {"in_channels": c_in, "out_channels": c_out, "kernel_size": kernel,
                           "stride": stride, "padding": padding, "dilation": 1, "groups": 1,
                           "padding_mode": "zeros"})


def pad(left: int, right: int) -> Node:
    """``nn.ConstantPad1d((left, right), 0.0)``."""
    return Node("ConstantPad1d", {"padding": (left, right), "value": 0.0})


def max_pool(size: int) -> Node:
    """``nn.MaxPool1d(size)``."""
    return Node("MaxPool1d", {"kernel_size": size, "stride": size, "padding": 0, "dilation": 1,
                              "ceil_mode": False, "return_indices": False})


def activation(kind: str) -> Node:
    """``nn.GELU()`` (exact) or ``nn.ReLU()``."""
    return Node(kind, {"approximate": "none"} if kind == "GELU" else {"inplace": False})


def dropout(p: float) -> Node:
    """``nn.Dropout(p)``: the identity at inference."""
    return Node("Dropout", {"p": p})


def flatten() -> Node:
    """``nn.Flatten()``."""
    return Node("Flatten", {"start_dim": 1, "end_dim": -1})


# --- their twins -----------------------------------------------------------------------------
def parameter(node: Node, weights: Weights, name: str, shape: tuple[int, ...]) -> np.ndarray:
    """The weight ``name`` of ``node``, refused unless it has ``shape``."""
    value = weights[name]
    if value.shape != shape:
        raise ValueError(f"{weights.prefix}{name} has shape {value.shape}, a {node.kind} of "
                         f"this config needs {shape}")
    return value


@twin("Linear")
def _linear(node: Node, weights: Weights) -> Callable[[np.ndarray], np.ndarray]:
    n_in, n_out = node.args["in_features"], node.args["out_features"]
    weight = parameter(node, weights, "weight", (n_out, n_in))
    bias = parameter(node, weights, "bias", (n_out,))
    return lambda h: h @ weight.T + bias


@twin("Conv1d")
def _conv1d(node: Node, weights: Weights) -> Callable[[np.ndarray], np.ndarray]:
    a = node.args
    if (a["dilation"], a["groups"], a["padding_mode"]) != (1, 1, "zeros"):
        raise ValueError(f"the NumPy Conv1d has no dilation, groups or {a['padding_mode']} "
                         "padding")
    weight = parameter(node, weights, "weight",
                        (a["out_channels"], a["in_channels"], a["kernel_size"]))
    bias = parameter(node, weights, "bias", (a["out_channels"],))
    return lambda h: conv1d(h, weight, bias, a["stride"], a["padding"])


@twin("ConstantPad1d")
def _constant_pad(node: Node, weights: Weights) -> Callable[[np.ndarray], np.ndarray]:
    (left, right), value = node.args["padding"], node.args["value"]
    return lambda h: np.pad(h, ((0, 0), (0, 0), (left, right)), constant_values=value)


@twin("MaxPool1d")
def _max_pool(node: Node, weights: Weights) -> Callable[[np.ndarray], np.ndarray]:
    a = node.args
    if (a["stride"], a["padding"], a["dilation"], a["ceil_mode"]) != (a["kernel_size"], 0, 1,
                                                                       False):
        raise ValueError("the NumPy MaxPool1d pools adjacent windows only")
    return lambda h: max_pool1d(h, a["kernel_size"])


@twin("GELU")
def _gelu(node: Node, weights: Weights) -> Callable[[np.ndarray], np.ndarray]:
    if node.args["approximate"] != "none":
        raise ValueError("the NumPy GELU is the exact (erf) one")
    return gelu


@twin("ReLU")
def _relu(node: Node, weights: Weights) -> Callable[[np.ndarray], np.ndarray]:
    return relu


@twin("Dropout")
def _dropout(node: Node, weights: Weights) -> Callable[[np.ndarray], np.ndarray]:
    return lambda h: h


@twin("Flatten")
def _flatten(node: Node, weights: Weights) -> Callable[[np.ndarray], np.ndarray]:
    if (node.args["start_dim"], node.args["end_dim"]) != (1, -1):
        raise ValueError("the NumPy Flatten keeps the batch axis and flattens the rest")
    return lambda h: h.reshape(len(h), -1)


@twin("Sequential")
def _sequential(node: Node, weights: Weights) -> Callable[[np.ndarray], np.ndarray]:
    layers = [build(child, weights.child(name)) for name, child in node.children]

    def forward(h: np.ndarray) -> np.ndarray:
        for layer in layers:
            h = layer(h)
        return h
    return forward


@twin("ModuleList")
def _module_list(node: Node, weights: Weights) -> list[Any]:
    return [build(child, weights.child(name)) for name, child in node.children]
