"""A trained network and its spline flow evaluated with NumPy, for prediction without PyTorch.

Importing PyTorch alone takes over a second on a laptop, longer than the whole prediction of
one spectrum; :class:`NumpyModel` reads the same ``model.safetensors`` and computes the same
function as the torch modules of :mod:`telescopeml.models.cnn` and
:mod:`telescopeml.models.posterior` (float32, agreement to rounding is tested), for the
``hybrid``, ``mlp`` and ``telescopeml`` architectures with any head. ``resnet`` (batch
normalization, residual stages) goes through torch.

The flow is zuko's neural spline flow (``zuko.flows.NSF``, fully autoregressive masked MADE
conditioners, monotonic rational-quadratic splines on [-5, 5], Durkan et al. 2019); sampling
inverts its transforms in reverse order, each by ``features`` autoregressive passes, exactly
as zuko does. Its spline internals are zuko's, so a flow bundle written with a zuko release
outside :data:`TESTED_ZUKO` is refused (:func:`check_zuko`).
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from telescopeml.errors import DataError
from telescopeml.models.config import ModelConfig
from telescopeml.models.recalibration import Recalibration

#: Architectures :class:`NumpyModel` evaluates.
ARCHITECTURES = ("hybrid", "mlp", "telescopeml")
#: zuko's NSF defaults that the shipped models use: spline domain and minimum slope.
SPLINE_BOUND = 5.0
SPLINE_SLOPE = 1e-3
#: zuko releases (major.minor) whose flows this engine reproduces, checked by the tests that
#: compare it with zuko; pyproject.toml caps zuko to them.
TESTED_ZUKO = ("1.6",)
_FLOW_KEY = re.compile(r"flow\.transform\.transforms\.(\d+)\.hyper\.(\d+)\.weight")


def supports(config: ModelConfig) -> bool:
    """Whether :class:`NumpyModel` can evaluate a model of this config."""
    return config.architecture in ARCHITECTURES


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
    padded = np.pad(x, ((0, 0), (0, 0), (left, right)))
    windows = np.lib.stride_tricks.sliding_window_view(padded, kernel, axis=2)[:, :, ::stride]
    # (B, C, L_out, K) -> (B, L_out, C*K) @ (C*K, O)
    cols = windows.transpose(0, 2, 1, 3).reshape(len(x), -1, channels * kernel)
    return (cols @ weight.reshape(out_channels, -1).T + bias).transpose(0, 2, 1)


def max_pool1d(x: np.ndarray, size: int) -> np.ndarray:
    """``torch.nn.MaxPool1d(size)``: a trailing partial window is dropped."""
    length = x.shape[-1] // size * size
    return x[..., :length].reshape(*x.shape[:-1], -1, size).max(axis=-1)


class NumpyModel:
    """The network of a bundle (see :data:`ARCHITECTURES`) and its head, in NumPy.

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
    """

    def __init__(self, config: ModelConfig, weights: dict[str, np.ndarray],
                 spread: Sequence[float] | None = None,
                 recalibration: Recalibration | None = None) -> None:
        if not supports(config):
            raise ValueError(f"NumpyModel evaluates {ARCHITECTURES}, not "
                             f"{config.architecture!r}")
        self.config = config
        w = {k: (v.astype(np.float32) if v.dtype.kind == "f" else v) for k, v in weights.items()}
        self.feature_dense: list[tuple[np.ndarray, np.ndarray]] = []
        self.members: list[NumpyModel] = []
        self.flow = None
        if config.members > 1:  # models.cnn.Ensemble: members.{i}.<a single network's keys>
            single = dataclasses.replace(config, members=1)
            self.members = [NumpyModel(single, {k[len(f"members.{i}."):]: v for k, v in w.items()
                                                if k.startswith(f"members.{i}.")})
                            for i in range(config.members)]
            return
        try:
            if config.architecture == "telescopeml":
                # features: pad, conv, ReLU (, max-pool) ..., flatten, FC1 linear, ReLU ...
                layers = [(w[f"features.{i}.weight"], w[f"features.{i}.bias"])
                          for i in _indices(w, "features")]
                self.convs = [layer for layer in layers if layer[0].ndim == 3]
                self.feature_dense = [layer for layer in layers if layer[0].ndim == 2]
                self.dense = [(w[f"head.{i}.weight"], w[f"head.{i}.bias"])
                              for i in _indices(w, "head")]
            elif config.architecture == "hybrid":
                self.convs = [(w[f"conv.{i}.weight"], w[f"conv.{i}.bias"])
                              for i in _indices(w, "conv")]
                self.dense = [(w[f"head.{i}.weight"], w[f"head.{i}.bias"])
                              for i in _indices(w, "head")]
            else:
                self.convs = []
                self.dense = [(w[f"net.{i}.weight"], w[f"net.{i}.bias"])
                              for i in _indices(w, "net")]
            self.flow = (_SplineFlow(config, w, spread, recalibration)
                         if config.head == "flow" else None)
        except KeyError as exc:
            raise ValueError(f"the weights lack {exc} for a {config.architecture} model") from exc

    def embed(self, x: np.ndarray, extra: np.ndarray | None = None) -> np.ndarray:
        """The network's output before the head, ``(batch, config.n_model_outputs)``."""
        if self.members:
            return np.mean([member.embed(x, extra) for member in self.members], axis=0)
        cfg = self.config
        x = np.asarray(x, dtype=np.float32)
        if x.ndim != 3 or x.shape[1:] != (cfg.in_channels, cfg.n_wavelengths):
            raise ValueError(f"x has shape {x.shape}, expected (batch, {cfg.in_channels}, "
                             f"{cfg.n_wavelengths})")
        if cfg.architecture == "telescopeml":
            parts = [self._telescopeml_features(x)]
            act = relu
        else:
            parts = []
            if self.convs:
                h = x
                for weight, bias in self.convs:
                    h = gelu(conv1d(h, weight, bias, cfg.pool, weight.shape[-1] // 2))
                parts.append(h.reshape(len(x), -1))
            parts.append(x.reshape(len(x), -1))
            act = gelu
        if cfg.n_extra:
            parts.append(np.asarray(extra, dtype=np.float32))
        h = np.concatenate(parts, axis=1)
        for i, (weight, bias) in enumerate(self.dense):
            h = h @ weight.T + bias
            if i < len(self.dense) - 1:
                h = act(h)
        return h

    def _telescopeml_features(self, x: np.ndarray) -> np.ndarray:
        """TelescopeMLCNN.features: Keras-``same`` ReLU convs, each block closed by a max-pool,
        flatten, the FC1 ReLU stack."""
        h = x
        for j, (weight, bias) in enumerate(self.convs):
            kernel = weight.shape[-1]
            h = relu(conv1d(h, weight, bias, 1, ((kernel - 1) // 2, kernel // 2)))
            if (j + 1) % self.config.layers_per_block == 0:
                h = max_pool1d(h, self.config.pool)
        h = h.reshape(len(x), -1)
        for weight, bias in self.feature_dense:
            h = relu(h @ weight.T + bias)
        return h

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


def _indices(weights: dict[str, np.ndarray], prefix: str) -> list[int]:
    """Sorted layer indices ``i`` of the ``{prefix}.{i}.weight`` entries."""
    found = (re.fullmatch(rf"{prefix}\.(\d+)\.weight", k) for k in weights)
    return sorted(int(m.group(1)) for m in found if m)


class _SplineFlow:
    """zuko's conditional NSF (masked autoregressive splines) inverted for sampling, then the
    recalibration stretch and the box map of :class:`~telescopeml.models.posterior.Posterior`.
    """

    def __init__(self, config: ModelConfig, w: dict[str, np.ndarray],
                 spread: Sequence[float] | None,
                 recalibration: Recalibration | None) -> None:
        self.d = config.n_outputs
        self.recalibration = recalibration
        self.bins = config.flow_bins
        box = np.asarray(config.bounds, dtype=np.float32)
        self.low, self.high = box[:, 0], box[:, 1]
        self.spread = None if spread is None else np.asarray(spread, dtype=np.float32)
        layers: dict[int, list[int]] = {}
        for key in w:
            match = _FLOW_KEY.fullmatch(key)
            if match:
                layers.setdefault(int(match.group(1)), []).append(int(match.group(2)))
        if len(layers) != config.flow_transforms:
            raise KeyError(f"flow.transform.transforms.* ({config.flow_transforms} transforms)")
        width = 3 * self.bins - 1  # spline parameters per feature
        self.transforms = []
        for t in sorted(layers):
            # masked, transposed and contiguous: 2-D row-major products are the fast ones
            stack = []
            for i in sorted(layers[t]):
                key = f"flow.transform.transforms.{t}.hyper.{i}"
                masked = w[f"{key}.weight"] * w[f"{key}.mask"]
                stack.append((np.ascontiguousarray(masked.T), w[f"{key}.bias"]))
            (w0, b0), w_out, b_out = stack[0], stack[-1][0], stack[-1][1]
            outputs = [(np.ascontiguousarray(w_out[:, f * width:(f + 1) * width]),
                        b_out[f * width:(f + 1) * width]) for f in range(self.d)]
            # the feature each autoregressive pass settles, in order
            order = w[f"flow.transform.transforms.{t}.order"]
            self.transforms.append({
                "u": np.ascontiguousarray(w0[:self.d]), "context": w0[self.d:], "bias": b0,
                "hidden": stack[1:-1], "outputs": outputs,
                "settle": [int(f) for f in np.argsort(order, kind="stable")],
            })

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
                u[:, feature] = self._spline_inverse(phi, y[:, feature])
        return u.reshape(z.shape)

    def _spline_inverse(self, phi: np.ndarray, y: np.ndarray) -> np.ndarray:
        """zuko's ``MonotonicRQSTransform`` inverse of ``y`` ``(rows,)`` given its parameters
        ``phi`` ``(rows, 3 bins - 1)``; identity outside [-bound, bound]."""
        rows, k_bins, bound = len(y), self.bins, SPLINE_BOUND
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
