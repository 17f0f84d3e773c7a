"""Small regressors evaluated with NumPy alone: a Gaussian process and a tree ensemble.

They carry the empirical (real-label) layer of prediction. Fitting uses scikit-learn (in
``telescopeml.training.empirical``); what is stored is plain arrays, so that a saved model is
safetensors + JSON and prediction needs neither scikit-learn nor pickle.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class GaussianProcess:
    """GP regression with an anisotropic RBF kernel plus white noise, on standardized inputs.

    Attributes
    ----------
    x_train
        ``(n, d)`` training inputs (already standardized).
    alpha
        ``(n,)`` weights ``(K + noise I)^-1 y`` of the fitted GP.
    length_scale
        ``(d,)`` RBF length scales.
    amplitude
        Kernel variance (the prior variance of the latent function).
    noise
        White-noise variance.
    """

    x_train: np.ndarray
    alpha: np.ndarray
    length_scale: np.ndarray
    amplitude: float
    noise: float

    def __post_init__(self) -> None:
        self._inverse: np.ndarray | None = None

    def _kernel(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        a = a / self.length_scale
        b = b / self.length_scale
        sq = (a**2).sum(1)[:, None] + (b**2).sum(1)[None, :] - 2 * a @ b.T
        return self.amplitude * np.exp(-0.5 * np.clip(sq, 0, None))

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Posterior mean of the latent function at ``x`` ``(m, d)``."""
        return self._kernel(np.atleast_2d(x), self.x_train) @ self.alpha

    def typicality(self, x: np.ndarray) -> np.ndarray:
        """Latent posterior std over the prior std, in [0, 1]: near 0 where the training
        set is dense, 1 where ``x`` is unlike every training input."""
        if self._inverse is None:
            k = self._kernel(self.x_train, self.x_train)
            k[np.diag_indices_from(k)] += self.noise
            self._inverse = np.linalg.inv(k)
        ks = self._kernel(np.atleast_2d(x), self.x_train)
        var = self.amplitude - np.einsum("ij,jk,ik->i", ks, self._inverse, ks)
        return np.sqrt(np.clip(var, 0, None) / self.amplitude)

    def arrays(self, prefix: str) -> dict[str, np.ndarray]:
        """The arrays to store, keys prefixed."""
        return {f"{prefix}.x_train": self.x_train, f"{prefix}.alpha": self.alpha,
                f"{prefix}.length_scale": self.length_scale,
                f"{prefix}.hyper": np.array([self.amplitude, self.noise])}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], prefix: str) -> GaussianProcess:
        """Inverse of :meth:`arrays`."""
        hyper = arrays[f"{prefix}.hyper"]
        return cls(np.asarray(arrays[f"{prefix}.x_train"], dtype=np.float64),
                   np.asarray(arrays[f"{prefix}.alpha"], dtype=np.float64),
                   np.asarray(arrays[f"{prefix}.length_scale"], dtype=np.float64),
                   float(hyper[0]), float(hyper[1]))


@dataclass
class TreeEnsemble:
    """A sum of binary regression trees (gradient boosting): ``base + rate * sum(trees)``.

    Node arrays are ``(n_trees, n_nodes)``, padded; a leaf has ``left == -1``. A sample goes
    left when ``x[feature] <= threshold``.
    """

    feature: np.ndarray
    threshold: np.ndarray
    left: np.ndarray
    right: np.ndarray
    value: np.ndarray
    base: float
    rate: float

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Prediction at ``x`` ``(m, d)``."""
        x = np.atleast_2d(x)
        n_trees = self.feature.shape[0]
        trees = np.arange(n_trees)[None, :]
        node = np.zeros((len(x), n_trees), dtype=np.int64)
        rows = np.arange(len(x))[:, None]
        for _ in range(self.feature.shape[1]):
            left = self.left[trees, node]
            leaf = left < 0
            if leaf.all():
                break
            goes_left = x[rows, self.feature[trees, node]] <= self.threshold[trees, node]
            step = np.where(goes_left, left, self.right[trees, node])
            node = np.where(leaf, node, step)
        return self.base + self.rate * self.value[trees, node].sum(axis=1)

    def arrays(self, prefix: str) -> dict[str, np.ndarray]:
        """The arrays to store, keys prefixed."""
        return {f"{prefix}.feature": self.feature, f"{prefix}.threshold": self.threshold,
                f"{prefix}.left": self.left, f"{prefix}.right": self.right,
                f"{prefix}.value": self.value,
                f"{prefix}.hyper": np.array([self.base, self.rate])}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], prefix: str) -> TreeEnsemble:
        """Inverse of :meth:`arrays`."""
        hyper = arrays[f"{prefix}.hyper"]
        return cls(*(np.asarray(arrays[f"{prefix}.{k}"], dtype=dtype) for k, dtype in (
            ("feature", np.int64), ("threshold", np.float64), ("left", np.int64),
            ("right", np.int64), ("value", np.float64))), float(hyper[0]), float(hyper[1]))
