"""From the network's answer to the grid's posterior: find the mode, then sample.

The network proposes where to look; the grid's likelihood (:class:`~telescopeml.inference.
likelihood.GridLikelihood`) decides:

1. **Starts**: the network's samples and the best grid nodes by χ² (:meth:`node_scan`).
2. **Mode**: bounded quasi-Newton (L-BFGS-B) from the best few starts, in the unit box.
3. **Importance sampling** with a mixture of Student-t distributions (ν = 4) around the
   modes, adapted over a few rounds by weighted EM (population Monte Carlo, Cappé et al.
   2004), its first covariance the network's spread. The answer is taken when the last
   round's effective sample size (Kish) reaches :data:`MIN_ESS`.
4. **Otherwise an ensemble MCMC** (emcee, Foreman-Mackey et al. 2013) started from the
   importance draws, run until the chain is :data:`TAU_FACTOR` integrated autocorrelation
   times long (or :data:`MAX_STEPS`, and then it says so).

Everything happens in the unit box ``u = (θ - low) / (high - low)``, so that one step size
suits Teff and log g alike.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize
from scipy.special import gammaln, logsumexp

from telescopeml.inference.likelihood import GridLikelihood

#: Effective sample size of the final round above which importance sampling answers.
MIN_ESS = 400
#: Draws per adaptation round and in the final round of importance sampling (at least as
#: many as the samples asked for).
ROUND_DRAWS = 1500
FINAL_DRAWS = 4000
#: Most adaptation rounds before the final one; adaptation stops early once a round's
#: effective sample size is this fraction of its draws.
ROUNDS = 6
ADAPTED = 0.3
#: A draw whose log posterior beats the best mode by this much starts a new mode there.
DISCOVERY = 2.0
#: Rounds of drawing from the proposal that it takes at most to get its draws inside the box.
TRUNCATION_TRIES = 20
#: Finite-difference step (unit box) of the Laplace covariance at a mode.
LAPLACE_STEP = 0.01
#: Degrees of freedom of the Student-t proposal components (heavy tails).
NU = 4.0
#: Network samples and grid nodes tried as starts.
N_START_SAMPLES = 400
N_START_NODES = 10
#: Optimiser runs from the best distinct starts; modes more than this below the best (in
#: log posterior) are dropped.
N_OPTIMISE = 3
MODE_DROP = 10.0
#: Bounds on a proposal component's standard deviation in the unit box.
MIN_WIDTH = 2e-4
MAX_WIDTH = 0.5
#: Starting width of the model-error column (in the unit box: 0.15 of ln 0.005..ln 0.5).
MODEL_ERROR_WIDTH = 0.15
#: MCMC: walkers, steps per check, the most steps, and chain length in autocorrelation times.
WALKERS = 32
CHECK_STEPS = 500
MAX_STEPS = 10000
TAU_FACTOR = 50
METHODS = ("auto", "importance", "mcmc")


@dataclass
class GridPosterior:
    """Samples of the grid's posterior for one spectrum, and how they were drawn.

    Attributes
    ----------
    samples
        ``(n, dim)`` equally weighted samples, columns :attr:`names` (physical units;
        the model error as ``ln f``).
    method
        ``"importance"`` or ``"mcmc"``.
    ess
        Effective sample size: Kish's of the importance weights, or the chain's
        ``walkers × steps / τ``.
    tau
        The MCMC chain's largest integrated autocorrelation time (steps; NaN for importance
        sampling).
    converged
        Importance sampling: ESS ≥ :data:`MIN_ESS`; MCMC: the chain is at least
        :data:`TAU_FACTOR` τ long.
    mode
        The highest log posterior found, ``(dim,)``.
    """

    samples: np.ndarray
    names: list[str]
    method: str
    ess: float
    tau: float
    converged: bool
    mode: np.ndarray
    evaluations: int = 0

    def describe(self) -> str:
        """The method and its diagnostic, in words."""
        if self.method == "importance":
            return (f"grid posterior by importance sampling around the network's answer "
                    f"(effective sample size {self.ess:.0f})")
        state = ("converged" if self.converged else
                 f"NOT converged: shorter than {TAU_FACTOR} autocorrelation times")
        return (f"grid posterior by MCMC (emcee, {WALKERS} walkers, τ = {self.tau:.0f} steps, "
                f"{state})")


class _Box:
    """The map between physical parameters and the unit box."""

    def __init__(self, bounds: np.ndarray) -> None:
        self.low = bounds[:, 0]
        self.span = np.where(bounds[:, 1] > bounds[:, 0], bounds[:, 1] - bounds[:, 0], 1.0)

    def to_unit(self, theta: np.ndarray) -> np.ndarray:
        return (theta - self.low) / self.span

    def to_theta(self, u: np.ndarray) -> np.ndarray:
        return self.low + u * self.span


def sample_grid_posterior(like: GridLikelihood, starts: np.ndarray | None, n_samples: int,
                          seed: int = 0, method: str = "auto", rounds: int = ROUNDS,
                          min_width: float = MIN_WIDTH, tau_factor: float = TAU_FACTOR,
                          max_steps: int = MAX_STEPS) -> GridPosterior:
    """The grid's posterior of one spectrum, started from ``starts``.

    Parameters
    ----------
    like
        The spectrum's grid likelihood.
    starts
        ``(k, len(like.axes))`` proposals (the network's samples) in the grid's axes, or
        None for the node scan alone.
    n_samples
        Equally weighted samples returned.
    method
        ``"auto"`` (importance sampling, MCMC when its ESS is below :data:`MIN_ESS`),
        ``"importance"`` or ``"mcmc"``.
    rounds, min_width
        Adaptation rounds and the narrowest proposal component (unit box); the defaults
        suit real spectra, the tests shrink them to make the proposal poor on purpose.
    tau_factor, max_steps
        MCMC: the chain's length target in autocorrelation times, and its cap.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    rng = np.random.default_rng(seed)
    box = _Box(like.bounds)
    counter = _Counter(like, box)
    candidates = _starts(like, starts, rng)
    modes = _modes(counter, box.to_unit(candidates))
    spread = _spread(like, box, starts, min_width)
    mixture = _mixture_at(counter, modes, spread, min_width)
    if method != "mcmc":
        for _ in range(rounds):
            u, log_w, log_p = _importance(counter, mixture, ROUND_DRAWS, rng)
            top = int(np.argmax(log_p))
            if log_p[top] > modes[0][1] + DISCOVERY:
                # a draw beat every mode found: a basin the optimiser missed
                found = _optimise(counter, u[top])
                modes = [found] + [m for m in modes if m[1] >= found[1] - MODE_DROP]
                mixture = _mixture_at(counter, modes, spread, min_width)
                continue
            mixture = mixture.refit(u, log_w, min_width)
            if _ess(log_w) >= ADAPTED * ROUND_DRAWS:
                break
        u, log_w, _ = _importance(counter, mixture, max(FINAL_DRAWS, n_samples), rng)
        weights = np.exp(log_w - logsumexp(log_w)) if np.isfinite(log_w).any() else \
            np.full(len(log_w), 1.0 / len(log_w))
        ess = _ess(log_w)
        if ess >= MIN_ESS or method == "importance":
            picks = rng.choice(len(u), size=n_samples, p=weights) if ess > 0 else \
                np.zeros(n_samples, dtype=int)
            return GridPosterior(box.to_theta(u[picks]), like.names, "importance", ess,
                                 np.nan, ess >= MIN_ESS, box.to_theta(modes[0][0]),
                                 counter.count)
        start = u[rng.choice(len(u), size=WALKERS, p=weights)]
    else:
        start = mixture.draw(WALKERS, rng)
    return _mcmc(counter, box, start, n_samples, rng, modes[0][0], tau_factor, max_steps)


class _Counter:
    """The log posterior in the unit box, counting evaluations."""

    def __init__(self, like: GridLikelihood, box: _Box) -> None:
        self.like, self.box, self.count = like, box, 0

    def __call__(self, u: np.ndarray) -> np.ndarray:
        u = np.atleast_2d(u)
        self.count += len(u)
        return self.like.log_posterior(self.box.to_theta(u))


def _starts(like: GridLikelihood, starts: np.ndarray | None,
            rng: np.random.Generator) -> np.ndarray:
    """Candidate points (physical, all columns): network samples and the best nodes, each
    with the model error at its best of a few values."""
    nodes, _ = like.node_scan(N_START_NODES)
    points = [nodes]
    if starts is not None and len(starts):
        take = rng.choice(len(starts), size=min(N_START_SAMPLES, len(starts)), replace=False)
        points.append(np.clip(starts[take], like.bounds[:len(like.axes), 0],
                              like.bounds[:len(like.axes), 1]))
    points = np.concatenate(points)
    if not like.model_error:
        return points
    levels = np.linspace(*like.bounds[-1], 6)[1:-1]
    trial = np.concatenate([np.column_stack([points, np.full(len(points), v)])
                            for v in levels])
    value = like.log_posterior(trial).reshape(len(levels), len(points))
    return np.column_stack([points, levels[np.argmax(value, axis=0)]])


def _modes(log_post: _Counter, candidates: np.ndarray) -> list[tuple[np.ndarray, float]]:
    """Local maxima of the log posterior from the best distinct candidates, best first."""
    value = log_post(candidates)
    order = np.argsort(value)[::-1]
    chosen: list[np.ndarray] = []
    for i in order:
        if not np.isfinite(value[i]):
            break
        if all(np.max(np.abs(candidates[i] - c)) > 0.05 for c in chosen):
            chosen.append(candidates[i])
        if len(chosen) == N_OPTIMISE:
            break
    if not chosen:
        chosen = [np.full(candidates.shape[1], 0.5)]
    found = sorted((_optimise(log_post, x0) for x0 in chosen), key=lambda m: -m[1])
    distinct: list[tuple[np.ndarray, float]] = []
    for mode, value_at in found:
        if value_at >= found[0][1] - MODE_DROP and all(
                np.max(np.abs(mode - d)) > 0.02 for d, _ in distinct):
            distinct.append((mode, value_at))
    return distinct


def _optimise(log_post: _Counter, x0: np.ndarray) -> tuple[np.ndarray, float]:
    """The local maximum (unit box) uphill of ``x0`` and its log posterior."""
    result = minimize(_with_gradient(log_post), x0, jac=True, method="L-BFGS-B",
                      bounds=[(0.0, 1.0)] * len(x0), options={"maxiter": 60})
    best = result.x if np.isfinite(result.fun) and result.fun <= -log_post(x0)[0] else x0
    return best, float(log_post(best)[0])


def _mixture_at(log_post: _Counter, modes: list[tuple[np.ndarray, float]],
                spread: np.ndarray, min_width: float) -> _Mixture:
    """A proposal component at each mode, its covariance the Laplace one (``spread`` where
    that fails), equally weighted."""
    covs = [_laplace(log_post, m, min_width) for m, _ in modes]
    return _Mixture(np.array([m for m, _ in modes]),
                    np.array([spread if c is None else c for c in covs]),
                    np.full(len(modes), 1.0 / len(modes)))


def _with_gradient(log_post: _Counter, step: float = 1e-4):
    """``u -> (-log p, -gradient)`` by forward differences, the ``dim + 1`` points in one
    vectorised call (backward at the box's upper edge); a large finite value outside."""

    def negative(u: np.ndarray) -> tuple[float, np.ndarray]:
        steps = np.where(u + step <= 1.0, step, -step)
        values = log_post(np.vstack([u, u + np.diag(steps)]))
        if not np.all(np.isfinite(values)):
            return (1e10 if not np.isfinite(values[0]) else -float(values[0])), \
                np.zeros_like(u)
        return -float(values[0]), -(values[1:] - values[0]) / steps

    return negative


def _ess(log_w: np.ndarray) -> float:
    """Kish's effective sample size of importance weights given as logs."""
    if not np.isfinite(log_w).any():
        return 0.0
    w = np.exp(log_w - logsumexp(log_w))
    return float(1.0 / np.sum(w**2))


def _laplace(log_post: _Counter, mode: np.ndarray, min_width: float) -> np.ndarray | None:
    """The Laplace covariance at ``mode`` (unit box) from central differences, evaluated in
    one call; the stencil is moved inside the box at its edges. A parameter whose mode is
    on an edge with the slope pointing out (a posterior piled there) gets the width of
    that exponential fall, ``1 / slope``. None where the stencil leaves the posterior."""
    d, h = len(mode), LAPLACE_STEP
    x = np.clip(mode, h, 1 - h)
    eye = np.eye(d) * h
    pairs = [(i, j) for i in range(d) for j in range(i + 1, d)]
    points = [x, *(x + eye[i] for i in range(d)), *(x - eye[i] for i in range(d))]
    for i, j in pairs:
        points += [x + eye[i] + eye[j], x + eye[i] - eye[j], x - eye[i] + eye[j],
                   x - eye[i] - eye[j]]
    values = log_post(np.array(points))
    if not np.all(np.isfinite(values)):
        return None
    plus, minus = values[1:d + 1], values[d + 1:2 * d + 1]
    hessian = np.diag((plus - 2 * values[0] + minus) / h**2)
    for k, (i, j) in enumerate(pairs):
        pp, pm, mp, mm = values[2 * d + 1 + 4 * k: 2 * d + 5 + 4 * k]
        hessian[i, j] = hessian[j, i] = (pp - pm - mp + mm) / (4 * h**2)
    eigenvalues, vectors = np.linalg.eigh(-hessian)
    eigenvalues = np.clip(eigenvalues, 1.0 / MAX_WIDTH**2, 1.0 / min_width**2)
    cov = (vectors / eigenvalues) @ vectors.T
    slope = (plus - minus) / (2 * h)
    for i in range(d):
        outward = (mode[i] < h and slope[i] < 0) or (mode[i] > 1 - h and slope[i] > 0)
        if outward:
            width = min(np.sqrt(cov[i, i]), 1.0 / abs(slope[i]))
            cov[i, :] = cov[:, i] = 0.0
            cov[i, i] = width**2
    return _bounded(cov, min_width)


def _spread(like: GridLikelihood, box: _Box, starts: np.ndarray | None,
            min_width: float) -> np.ndarray:
    """The first proposal covariance (unit box): the network's spread, bounded."""
    k = len(like.axes)
    cov = np.eye(like.dim) * MODEL_ERROR_WIDTH**2
    if starts is not None and len(starts) > k + 1:
        unit = box.to_unit(np.column_stack([starts, np.zeros((len(starts), like.dim - k))]))
        cov[:k, :k] = np.cov(unit[:, :k], rowvar=False).reshape(k, k)
    else:
        cov[:k, :k] = np.eye(k) * 0.05**2
    return _bounded(cov, min_width)


def _bounded(cov: np.ndarray, min_width: float) -> np.ndarray:
    values, vectors = np.linalg.eigh((cov + cov.T) / 2)
    values = np.clip(values, min_width**2, MAX_WIDTH**2)
    return (vectors * values) @ vectors.T


class _Mixture:
    """A mixture of multivariate Student-t distributions (ν = :data:`NU`)."""

    def __init__(self, means: np.ndarray, covs: np.ndarray, weights: np.ndarray) -> None:
        self.means, self.covs, self.weights = means, covs, weights / weights.sum()
        self.chol = np.linalg.cholesky(covs)

    def draw(self, n: int, rng: np.random.Generator) -> np.ndarray:
        d = self.means.shape[1]
        which = rng.choice(len(self.weights), size=n, p=self.weights)
        z = rng.standard_normal((n, d))
        g = rng.chisquare(NU, size=n) / NU
        return self.means[which] + np.einsum("nij,nj->ni", self.chol[which], z) / \
            np.sqrt(g)[:, None]

    def component_log_pdf(self, x: np.ndarray) -> np.ndarray:
        """``(n, n_components)`` log density of each component (weights included)."""
        d = self.means.shape[1]
        out = np.empty((len(x), len(self.weights)))
        for c in range(len(self.weights)):
            r = np.linalg.solve(self.chol[c], (x - self.means[c]).T)
            maha = np.sum(r**2, axis=0)
            log_det = 2 * np.sum(np.log(np.diag(self.chol[c])))
            out[:, c] = (np.log(self.weights[c]) + gammaln((NU + d) / 2) - gammaln(NU / 2)
                         - 0.5 * d * np.log(NU * np.pi) - 0.5 * log_det
                         - 0.5 * (NU + d) * np.log1p(maha / NU))
        return out

    def log_pdf(self, x: np.ndarray) -> np.ndarray:
        return logsumexp(self.component_log_pdf(x), axis=1)

    def refit(self, x: np.ndarray, log_w: np.ndarray, min_width: float) -> _Mixture:
        """One weighted EM step on importance draws ``x`` with log weights ``log_w``."""
        if not np.isfinite(log_w).any():
            return self
        w = np.exp(log_w - logsumexp(log_w))
        parts = self.component_log_pdf(x)
        resp = np.exp(parts - logsumexp(parts, axis=1, keepdims=True)) * w[:, None]
        means, covs, weights = [], [], []
        for c in range(len(self.weights)):
            total = resp[:, c].sum()
            if total < 1e-3:
                continue
            mean = resp[:, c] @ x / total
            diff = x - mean
            covs.append(_bounded((resp[:, c, None] * diff).T @ diff / total, min_width))
            means.append(mean)
            weights.append(total)
        if not means:
            return self
        return _Mixture(np.array(means), np.array(covs), np.array(weights))


def _importance(log_post: _Counter, mixture: _Mixture, n: int, rng: np.random.Generator
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``n`` draws inside the box from the mixture truncated to it, their log weights and
    their log posterior.

    The truncated mixture's density is the mixture's over one constant (its mass inside),
    which self-normalised weights do not see; so a posterior piled in a corner of the box
    gets as many useful draws as one in its middle.
    """
    kept, total = [np.empty((0, mixture.means.shape[1]))], 0
    for _ in range(TRUNCATION_TRIES):
        u = mixture.draw(2 * (n - total) + 16, rng)
        u = u[np.all((u >= 0.0) & (u <= 1.0), axis=1)][:n - total]
        kept.append(u)
        total += len(u)
        if total >= n:
            break
    u = np.concatenate(kept)
    if not len(u):
        return mixture.means[:1], np.array([-np.inf]), np.array([-np.inf])
    log_p = log_post(u)
    return u, log_p - mixture.log_pdf(u), log_p


def _mcmc(log_post: _Counter, box: _Box, start: np.ndarray, n_samples: int,
          rng: np.random.Generator, mode: np.ndarray, tau_factor: float,
          max_steps: int) -> GridPosterior:
    """emcee from ``start`` ``(WALKERS, dim)`` until ``tau_factor`` τ or ``max_steps``."""
    import emcee

    start = np.clip(start + 1e-4 * rng.standard_normal(start.shape), 0.0, 1.0)
    sampler = emcee.EnsembleSampler(len(start), start.shape[1], log_post, vectorize=True)
    sampler.random_state = np.random.RandomState(int(rng.integers(2**31))).get_state()
    state, tau, converged = start, np.inf, False
    while sampler.iteration < max_steps:
        state = sampler.run_mcmc(state, CHECK_STEPS, progress=False)
        tau = float(np.max(sampler.get_autocorr_time(tol=0)))
        if np.isfinite(tau) and sampler.iteration >= tau_factor * tau:
            converged = True
            break
    burn = int(min(5 * tau, sampler.iteration // 2)) if np.isfinite(tau) else \
        sampler.iteration // 2
    chain = sampler.get_chain(discard=burn, flat=True)
    picks = rng.choice(len(chain), size=n_samples, replace=len(chain) < n_samples)
    ess = float(len(chain) / tau) if np.isfinite(tau) and tau > 0 else 0.0
    return GridPosterior(box.to_theta(chain[picks]), log_post.like.names, "mcmc", ess, tau,
                         converged, box.to_theta(mode), log_post.count)
