"""Posterior head: a conditional neural spline flow (zuko) confined to the prior box.

The flow models an unconstrained variable ``u`` in R^d; parameters (standardized units) are
``y = low + (high - low) * sigmoid(u)``, so every sample lies inside the box ``[low, high]``
by construction, with no rejection step, and the density of ``y`` includes the map's
log-Jacobian ``log(high - low) + log t + log(1 - t)`` with ``t = (y - low) / (high - low)``.
Values outside the box have log-probability ``-inf``.

A posterior can be recalibrated after training by a per-parameter ``spread`` ``s``: ``u`` is
stretched about the flow's centre ``c`` (the image of the base distribution's origin, the
vector of conditional medians) as ``c + s (u - c)``; the density includes ``-sum log s``.
Models trained now carry a level- and S/N-dependent recalibration instead
(:mod:`telescopeml.models.recalibration`), applied to samples drawn with :meth:`sample`;
:meth:`Posterior.log_prob` is then the flow's own density, before recalibration.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import zuko
from torch import nn
from zuko.transforms import Transform

from telescopeml.models.recalibration import Recalibration

#: ``t`` is clamped to ``[EPS, 1 - EPS]`` before the logit so that targets on the box's edge
#: keep a finite density; give the box a margin around the training targets (see
#: :func:`box_bounds`).
EPS = 1e-6
_LOG_2PI = float(np.log(2.0 * np.pi))
#: Base draws go through the flow's inverse at most this many rows (draw x spectrum) at a
#: time: the inverse spline pass holds a few KB of temporaries per row, and 500 draws of 256
#: spectra at once (calibration) took the demo from 0.7 to 3 GB (16384 rows: 1.2 GB).
FLOW_CHUNK_ROWS = 4096


def box_bounds(y: np.ndarray, margin: float = 0.05) -> tuple[tuple[float, float], ...]:
    """Per-column ``(low, high)`` of ``y`` (``(n, d)``), widened by ``margin`` of the range.

    Use it on the standardized training targets to get a flow head's ``bounds``.
    """
    y = np.asarray(y, dtype=np.float64)
    low, high = y.min(axis=0), y.max(axis=0)
    pad = margin * np.where(high > low, high - low, 1.0)
    return tuple((float(lo), float(hi)) for lo, hi in zip(low - pad, high + pad, strict=True))


class Posterior:
    """``p(y | x)`` for a batch of spectra: samples, log-density and summaries.

    Parameters
    ----------
    transform
        The flow conditioned on the batch: maps ``u`` (unconstrained) to the standard normal.
    low, high
        The box, ``(d,)`` tensors in standardized units.
    batch_size
        Number of spectra the flow is conditioned on.
    spread
        ``(d,)`` recalibration factors (see the module docstring); None = 1.
    recalibration
        Applied by :meth:`sample` (:mod:`telescopeml.models.recalibration`); None = none.
    """

    def __init__(self, transform: Transform, low: torch.Tensor, high: torch.Tensor,
                 batch_size: int, spread: torch.Tensor | None = None,
                 recalibration: Recalibration | None = None) -> None:
        self.transform = transform
        self.low, self.high = low, high
        self.batch_size = batch_size
        self.spread = spread
        self.recalibration = recalibration

    @property
    def n_outputs(self) -> int:
        """Number of parameters ``d``."""
        return self.low.numel()

    def center(self) -> torch.Tensor:
        """``(batch, d)`` the flow's centre in the unconstrained space (base origin mapped)."""
        return self.transform.inv(torch.zeros((self.batch_size, self.n_outputs),
                                              device=self.low.device, dtype=self.low.dtype))

    def unconstrained(self, z: torch.Tensor) -> torch.Tensor:
        """Map standard-normal draws ``(..., batch, d)`` to ``u``, without the spread
        (:data:`FLOW_CHUNK_ROWS` rows at a time along the first axis)."""
        step = max(1, FLOW_CHUNK_ROWS * z.shape[-1] // max(z[0].numel(), 1))
        if z.ndim < 3 or step >= len(z):
            return self.transform.inv(z)
        return torch.cat([self.transform.inv(z[i : i + step]) for i in range(0, len(z), step)])

    def _fraction(self, y: torch.Tensor) -> torch.Tensor:
        """Where ``y`` lies in the box, in [EPS, 1 - EPS]."""
        return ((y - self.low) / (self.high - self.low)).clamp(EPS, 1.0 - EPS)

    def to_unconstrained(self, y: torch.Tensor) -> torch.Tensor:
        """Inverse of :meth:`to_box`: ``u = logit((y - low) / (high - low))``."""
        t = self._fraction(y)
        return torch.log(t) - torch.log1p(-t)

    def to_box(self, u: torch.Tensor) -> torch.Tensor:
        """Map ``u`` to parameters inside the box."""
        y = self.low + (self.high - self.low) * torch.sigmoid(u)
        return torch.minimum(torch.maximum(y, self.low), self.high)  # rounding only

    def from_base(self, z: torch.Tensor) -> torch.Tensor:
        """Map standard-normal draws ``(..., batch, d)`` to parameter samples (differentiable;
        without the level-dependent ``stretch``, which only :meth:`sample` applies)."""
        return self.to_box(self._spread(self.unconstrained(z)))

    def _spread(self, u: torch.Tensor) -> torch.Tensor:
        if self.spread is None:
            return u
        center = self.center()
        return center + self.spread * (u - center)

    def _base_draws(self, n: int, generator: torch.Generator | None) -> torch.Tensor:
        return torch.randn((n, self.batch_size, self.n_outputs), generator=generator,
                           device=self.low.device, dtype=self.low.dtype)

    def rsample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``(n, batch, d)`` samples, differentiable with respect to the network."""
        return self.from_base(self._base_draws(n, generator))

    def sample(self, n: int, generator: torch.Generator | None = None,
               snr: np.ndarray | float | None = None) -> torch.Tensor:
        """``(n, batch, d)`` samples (no gradient), recalibrated if the flow has a
        recalibration, for spectra of S/N ``snr`` (one per spectrum; None: S/N 30)."""
        with torch.no_grad():
            if self.recalibration is None:
                return self.rsample(n, generator)
            u = self._spread(self.unconstrained(self._base_draws(n, generator))).cpu().numpy()
            stretched = torch.from_numpy(self.recalibration.apply(u, snr))
            return self.to_box(stretched.to(self.low.device))

    def log_prob(self, y: torch.Tensor) -> torch.Tensor:
        """Log-density of ``y`` (``(..., batch, d)``, standardized units): ``(..., batch)``."""
        width = self.high - self.low
        t = self._fraction(y)
        u = torch.log(t) - torch.log1p(-t)
        log_spread = 0.0
        if self.spread is not None:
            center = self.center()
            u = center + (u - center) / self.spread
            log_spread = torch.log(self.spread).sum()
        z, ladj = self.transform.call_and_ladj(u)
        log_base = -0.5 * (z.square() + _LOG_2PI).sum(-1)
        log_box = (torch.log(width) + torch.log(t) + torch.log1p(-t)).sum(-1)
        inside = ((y >= self.low) & (y <= self.high)).all(-1)
        return torch.where(inside, log_base + ladj - log_box - log_spread, -torch.inf)

    def mean(self, n: int = 1000, generator: torch.Generator | None = None) -> torch.Tensor:
        """``(batch, d)`` posterior mean from ``n`` samples."""
        return self.sample(n, generator).mean(0)

    def median(self, n: int = 1000, generator: torch.Generator | None = None) -> torch.Tensor:
        """``(batch, d)`` posterior median from ``n`` samples."""
        return self.quantile(0.5, n, generator)

    def quantile(self, q: float | Sequence[float], n: int = 1000,
                 generator: torch.Generator | None = None) -> torch.Tensor:
        """Quantiles from ``n`` samples: ``(batch, d)``, or ``(len(q), batch, d)`` for a list."""
        samples = self.sample(n, generator)
        levels = torch.as_tensor(q, dtype=samples.dtype, device=samples.device)
        return torch.quantile(samples, levels, dim=0)


class BoundedFlow(nn.Module):
    """Conditional NSF over ``d = len(bounds)`` parameters; ``flow(context) -> Posterior``.

    Parameters
    ----------
    bounds
        ``((low, high), ...)`` per parameter, standardized units.
    context
        Width of the conditioning vector.
    transforms, hidden, bins
        Spline transforms, MADE hidden widths, spline bins (see ``zuko.flows.NSF``).
    """

    def __init__(self, bounds: Sequence[tuple[float, float]], context: int, transforms: int = 3,
                 hidden: Sequence[int] = (64, 64), bins: int = 8) -> None:
        super().__init__()
        box = torch.tensor(bounds, dtype=torch.float32)
        # Not persistent: the box belongs to the config, not to the weights.
        self.register_buffer("low", box[:, 0].contiguous(), persistent=False)
        self.register_buffer("high", box[:, 1].contiguous(), persistent=False)
        nsf = zuko.flows.NSF(features=len(box), context=context, transforms=transforms,
                             hidden_features=tuple(hidden), bins=bins)
        self.transform = nsf.transform  # the base is the standard normal, drawn in Posterior
        #: Per-parameter recalibration factors of bundles from earlier versions; kept in
        #: the bundle's manifest, not in the weights.
        self.spread: torch.Tensor | None = None
        #: Level- and S/N-dependent recalibration of samples
        #: (:mod:`telescopeml.models.recalibration`), also kept in the manifest.
        self.recalibration: Recalibration | None = None

    def set_recalibration(self, recalibration: Recalibration | None) -> None:
        """Recalibrate samples with ``recalibration`` (None: off)."""
        if recalibration is not None and recalibration.factors.shape[-1] != self.low.numel():
            raise ValueError(f"the recalibration has {recalibration.factors.shape[-1]} "
                             f"parameters, the flow {self.low.numel()}")
        self.recalibration = recalibration

    def set_spread(self, spread: Sequence[float] | None) -> None:
        """Stretch every posterior by ``spread`` per parameter (None or ones: off)."""
        if spread is None or np.allclose(spread, 1.0):
            self.spread = None
            return
        if len(spread) != self.low.numel() or min(spread) <= 0:
            raise ValueError(f"spread needs {self.low.numel()} positive factors, got {spread}")
        self.spread = torch.tensor(spread, dtype=self.low.dtype, device=self.low.device)

    def forward(self, context: torch.Tensor) -> Posterior:
        spread = None if self.spread is None else self.spread.to(context.device)
        return Posterior(self.transform(context), self.low, self.high, len(context), spread,
                         self.recalibration)
