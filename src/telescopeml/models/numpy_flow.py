"""The flow head in NumPy: zuko's neural spline flow, inverted for sampling, in the box.

:func:`flow_tree` is the torch module tree of :class:`~telescopeml.models.posterior.
BoundedFlow` (``zuko.flows.NSF``: fully autoregressive transforms, each a masked MADE
conditioner of ``MaskedLinear`` and ``ReLU`` layers feeding monotonic rational-quadratic
splines on [-5, 5], Durkan et al. 2019), and :class:`SplineFlow` its registered twin.
Sampling inverts the transforms in reverse order, each by ``features`` autoregressive passes,
exactly as zuko does; the spline internals are zuko's, so a flow bundle from a zuko release
that the engine was not tested against is refused
(:func:`telescopeml.models.numpy_model.check_zuko`).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from telescopeml.models.config import ModelConfig
from telescopeml.models.numpy_layers import (
    Node,
    Weights,
    activation,
    build,
    module_list,
    parameter,
    twin,
)
from telescopeml.models.recalibration import Recalibration

#: zuko's NSF defaults that the shipped models use: spline domain and minimum slope.
SPLINE_BOUND = 5.0
SPLINE_SLOPE = 1e-3


def flow_tree(config: ModelConfig) -> Node:
    """The modules of ``BoundedFlow`` for ``config`` (a flow head), as torch builds them.

    A one-parameter flow is zuko's ``ElementWiseTransform``, which has no twin: such a
    model runs on torch.
    """
    d, bins = config.n_outputs, config.flow_bins
    transforms = []
    for _ in range(config.flow_transforms):
        if d == 1:
            transforms.append(Node("ElementWiseTransform"))
            continue
        widths = (d + config.flow_context, *config.flow_hidden, d * (3 * bins - 1))
        layers: list[Node] = []
        for n_in, n_out in itertools.pairwise(widths):
            if layers:
                layers.append(activation("ReLU"))
            layers.append(Node("MaskedLinear", {"in_features": n_in, "out_features": n_out}))
        hyper = Node("MaskedMLP", children=tuple((str(i), x) for i, x in enumerate(layers)))
        transforms.append(Node("MaskedAutoregressiveTransform", {
            "passes": d, "shapes": ((bins,), (bins,), (bins - 1,)),
            "univariate": ("MonotonicRQSTransform", {"slope": SPLINE_SLOPE}),
        }, (("hyper", hyper),)))
    low, high = zip(*config.bounds, strict=True)
    return Node("BoundedFlow", {"low": low, "high": high}, (
        ("transform", Node("LazyComposedTransform",
                           children=(("transforms", module_list(transforms)),))),))


@twin("MaskedLinear")
def _masked_linear(node: Node, weights: Weights) -> tuple[np.ndarray, np.ndarray]:
    """The masked weight, transposed and contiguous (2-D row-major products are the fast
    ones), and the bias."""
    shape = (node.args["out_features"], node.args["in_features"])
    masked = parameter(node, weights, "weight", shape) * parameter(node, weights, "mask", shape)
    return np.ascontiguousarray(masked.T), parameter(node, weights, "bias", shape[:1])


@twin("MaskedMLP")
def _masked_mlp(node: Node, weights: Weights) -> list[tuple[np.ndarray, np.ndarray]]:
    """Its masked linear layers, in order; a ReLU between each two is applied by
    :meth:`SplineFlow.unconstrained`."""
    layers = [(child.kind, build(child, weights.child(name))) for name, child in node.children]
    kinds = [kind for kind, _ in layers]
    if kinds != ["MaskedLinear", "ReLU"] * (len(kinds) // 2) + ["MaskedLinear"]:
        raise ValueError(f"the NumPy flow's MADE alternates MaskedLinear and ReLU, not {kinds}")
    return [layer for _, layer in layers[::2]]


@twin("MaskedAutoregressiveTransform")
def _autoregressive(node: Node, weights: Weights) -> dict[str, Any]:
    """One transform: its MADE's layers, split as the inverse passes use them."""
    args, rqs = node.args, ("MonotonicRQSTransform", {"slope": SPLINE_SLOPE})
    if args["univariate"] != rqs:
        raise ValueError(f"the NumPy flow inverts {rqs[0]}s of slope {SPLINE_SLOPE}, not "
                         f"{args['univariate']}")
    d, bins = args["passes"], args["shapes"][0][0]  # fully autoregressive: one pass a feature
    stack = build(node["hyper"], weights.child("hyper"))
    (w0, b0), (w_out, b_out) = stack[0], stack[-1]
    width = 3 * bins - 1  # spline parameters per feature
    outputs = [(np.ascontiguousarray(w_out[:, f * width:(f + 1) * width]),
                b_out[f * width:(f + 1) * width]) for f in range(d)]
    return {
        "u": np.ascontiguousarray(w0[:d]), "context": w0[d:], "bias": b0,
        "hidden": stack[1:-1], "outputs": outputs, "bins": bins,
        # the feature each autoregressive pass settles, in order
        "settle": [int(f) for f in np.argsort(weights["order"], kind="stable")],
    }


@twin("LazyComposedTransform")
def _composed(node: Node, weights: Weights) -> list[dict[str, Any]]:
    return build(node["transforms"], weights.child("transforms"))


@twin("BoundedFlow")
def _bounded_flow(node: Node, weights: Weights) -> SplineFlow:
    return SplineFlow(node.args["low"], node.args["high"],
                      build(node["transform"], weights.child("transform")))


class SplineFlow:
    """zuko's conditional NSF (masked autoregressive splines) inverted for sampling, then the
    recalibration stretch and the box map of :class:`~telescopeml.models.posterior.Posterior`.

    Parameters
    ----------
    low, high
        The box, standardized units.
    transforms
        The twins of its ``MaskedAutoregressiveTransform``, first to last.
    """

    def __init__(self, low: Sequence[float], high: Sequence[float],
                 transforms: list[dict[str, Any]]) -> None:
        self.low = np.asarray(low, dtype=np.float32)
        self.high = np.asarray(high, dtype=np.float32)
        self.d = len(self.low)
        self.transforms = transforms
        self.spread: np.ndarray | None = None
        self.recalibration: Recalibration | None = None

    def set_posterior(self, spread: Sequence[float] | None,
                      recalibration: Recalibration | None) -> None:
        """The bundle's per-parameter ``spread`` (None: none) and recalibration of samples
        (:mod:`telescopeml.models.recalibration`; None: none)."""
        self.spread = None if spread is None else np.asarray(spread, dtype=np.float32)
        self.recalibration = recalibration

    def sample(self, context: np.ndarray, z: np.ndarray,
               snr: np.ndarray | None = None) -> np.ndarray:
        """Map base draws ``z`` ``(n, batch, d)`` to parameters inside the box."""
        u = self.unconstrained(context, z)
        if self.spread is not None:
            center = self.unconstrained(context, np.zeros((1, *z.shape[1:]), np.float32))
            u = center + self.spread * (u - center)
        if self.recalibration is not None:
            u = self.recalibration.apply(u, snr)
        y = self.low + (self.high - self.low) * (0.5 + 0.5 * np.tanh(0.5 * u))
        return np.clip(y, self.low, self.high)

    def unconstrained(self, context: np.ndarray, z: np.ndarray) -> np.ndarray:
        """The composed transform's inverse: the last transform is undone first.

        Each masked autoregressive transform is inverted in ``d`` passes, as zuko does; pass
        ``p`` settles the feature of order ``p`` (later ones are not yet meaningful), so only
        that feature's spline is evaluated. Samples are rows of one 2-D array, ``n`` blocks
        of ``batch`` rows.
        """
        batch = len(context)
        u = np.ascontiguousarray(z, dtype=np.float32).reshape(-1, self.d)
        for t in reversed(self.transforms):
            # the context's share of the first layer is the same for every sample
            hidden_context = context @ t["context"] + t["bias"]
            y, u = u, np.zeros_like(u)
            for feature in t["settle"]:
                h = u @ t["u"]
                blocks = h.reshape(-1, batch, h.shape[-1])
                blocks += hidden_context
                np.maximum(h, 0.0, out=h)
                for weight, bias in t["hidden"]:
                    h = h @ weight
                    h += bias
                    np.maximum(h, 0.0, out=h)
                weight, bias = t["outputs"][feature]
                phi = h @ weight
                phi += bias
                u[:, feature] = _spline_inverse(phi, y[:, feature], t["bins"])
        return u.reshape(z.shape)


def _spline_inverse(phi: np.ndarray, y: np.ndarray, k_bins: int) -> np.ndarray:
    """zuko's ``MonotonicRQSTransform`` inverse of ``y`` ``(rows,)`` given its parameters
    ``phi`` ``(rows, 3 bins - 1)``; identity outside [-bound, bound]."""
    rows, bound = len(y), SPLINE_BOUND
    limit = -math.log(SPLINE_SLOPE)
    logits = phi[:, :2 * k_bins]
    # squashed into (-limit/2, limit/2): exp cannot overflow, softmax needs no shift
    e = np.exp(logits / (1 + np.abs(logits) * (2 / limit))).reshape(rows, 2, k_bins)
    cum = np.cumsum(e, axis=-1)
    knots = np.full((rows, 2, k_bins + 1), -bound, np.float32)
    knots[..., 1:] = bound * (2 * cum / cum[..., -1:] - 1)
    derivs = phi[:, 2 * k_bins:]
    slopes = np.ones((rows, k_bins + 1), np.float32)
    slopes[:, 1:-1] = np.exp(derivs / (1 + np.abs(derivs) / limit))
    knots_x, knots_y = knots[:, 0], knots[:, 1]
    k = np.count_nonzero(knots_y < y[:, None], axis=-1) - 1
    inside = (k >= 0) & (k < k_bins)
    at = np.arange(rows) * (k_bins + 1) + k % k_bins  # flat index of each row's bin
    x0, x1 = knots_x.ravel()[at], knots_x.ravel()[at + 1]
    y0, y1 = knots_y.ravel()[at], knots_y.ravel()[at + 1]
    d0, d1 = slopes.ravel()[at], slopes.ravel()[at + 1]
    s = (y1 - y0) / (x1 - x0)
    dy = np.where(inside, y - y0, 0.0)
    a = (y1 - y0) * (s - d0) + dy * (d0 + d1 - 2 * s)
    b = (y1 - y0) * d0 - dy * (d0 + d1 - 2 * s)
    c = -s * dy
    root = 2 * c / (-b - np.sqrt(np.maximum(b * b - 4 * a * c, 0.0)))
    return np.where(inside, x0 + root * (x1 - x0), y).astype(np.float32, copy=False)
