"""Prediction: the posterior for one spectrum, the grid fit, and what to make of them."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from telescopeml.parameters import parameter
from telescopeml.vocabulary import SCALE_GRID, describe

if TYPE_CHECKING:  # astropy.table takes ~0.3 s to import: only when a table is made
    import astropy.units as u
    from astropy.table import QTable

    from telescopeml.data.classification import Classification

#: Quantiles reported for every parameter (fractions).
QUANTILES = (0.025, 0.16, 0.5, 0.84, 0.975)
#: Table columns named for these quantiles: ``teff_p50`` is the median of ``teff``.
QUANTILE_COLUMNS = (("p50", 2), ("p16", 1), ("p84", 3), ("p2.5", 0), ("p97.5", 4))
#: Columns of text in a prediction table (besides ``PARAM_limit`` and ``PARAM_scale``); every
#: other column is a number with a unit.
TEXT_COLUMNS = ("source", "scale", "model", "method", "flag", "note", "name", "spectral_type",
                "file", "spt", "gravity_class", "metallicity_class", "binary_candidate")
#: The columns of the classification (:mod:`telescopeml.data.classification`) in a row.
CLASS_COLUMNS = ("spt", "spt_err", "gravity_class", "metallicity_class", "binary_candidate")


def parameter_unit(name: str) -> u.UnitBase:
    """The astropy unit of parameter ``name`` (:mod:`telescopeml.parameters`; dimensionless
    when it has none)."""
    return parameter(name).astropy_unit


def column_unit(column: str) -> u.UnitBase | None:
    """The unit of a prediction-table column (``teff_p50``: K), None for a text column."""
    if column in TEXT_COLUMNS or column.endswith(("_limit", "_scale")):
        return None
    return parameter_unit(column.rpartition("_")[0])


def table_from_rows(rows: list[dict[str, Any]]) -> QTable:
    """A QTable of :meth:`Prediction.row` dictionaries, units on every number.

    Columns are the union of the rows' keys, in order of appearance; a missing number is NaN,
    a missing text ``""`` (failed inputs have only ``source``, ``file`` and ``flag``).
    """
    from astropy.table import QTable

    table = QTable()
    for column in dict.fromkeys(k for row in rows for k in row):
        unit = column_unit(column)
        if unit is None:
            table[column] = [str(row.get(column, "")) for row in rows]
        else:
            table[column] = np.array([row.get(column, math.nan) for row in rows],
                                     dtype=np.float64) * unit
    return table


def decimals(name: str, error: float) -> int:
    """Decimal places for a value of ``name`` whose 68% half-width is ``error``: two
    significant figures of the error, never finer than the parameter's ``precision`` in
    :mod:`telescopeml.parameters` (negative: tens...)."""
    finest = parameter(name).precision
    if not (math.isfinite(error) and error > 0):
        return finest
    return min(finest, 1 - math.floor(math.log10(error)))


def _number(value: float, places: int) -> str:
    """``value`` to ``places`` decimals (no "-0.00")."""
    return f"{round(value, places) + 0.0:.{max(places, 0)}f}"


@dataclass
class Prediction:
    """The posterior for one spectrum, and how well the grid fits it.

    Attributes
    ----------
    samples
        ``(n_samples, n_params)`` posterior samples in physical units.
    names
        Parameter names, one per column.
    chi2_red
        Reduced χ² of the grid spectrum at the posterior median against the observation,
        with a :data:`~telescopeml.inference.diagnostics.MODEL_SYSTEMATIC` model uncertainty
        added to the observed one.
    flags
        Reasons to believe the object lies outside the grid, so that the numbers should not
        be taken at face value: Teff piling at a grid edge, a poor fit, no grid spectrum
        to compare with (empty when fine).
    notes
        Things to know that do not make the answer wrong: a non-Teff parameter at the
        grid's edge (the true value may lie beyond it), uncertainties estimated from the
        data.
    scale
        What the numbers mean: ``"atmosphere grid"`` (the grid's parameters) or
        ``"empirical"`` (luminosity-based Teff, evolutionary log g; see
        :mod:`telescopeml.empirical`).
    parameter_scales
        ``{param: scale}`` for each parameter on another scale than :attr:`scale` (on the
        empirical scale, [M/H] and clouds are the grid's: no real labels exist for them).
    model
        The model that produced the numbers.
    errors
        ``{param: {"statistical", "systematic"}}`` 68% half-widths of the two parts, where
        they are known separately (the empirical scale).
    limits
        ``{param: "> 5.41"}`` for parameters whose posterior piles at a grid edge: the
        value is a limit, not a measurement.
    scores
        Misspecification scores (``typicality``: 0 like the labeled training spectra,
        1 unlike all of them).
    fit_parameters
        Grid parameters of :attr:`best_fit` (atmosphere-grid scale, whatever :attr:`scale`).
    name, file, spectral_type
        The object's name, the file it was read from and its spectral type, where known
        (``""`` otherwise).
    model_fraction
        The model term in the variance of :attr:`chi2_red`: ``σ_tot² = σ_obs² +
        (model_fraction * best_fit)²``.
    sampling
        How :attr:`samples` were drawn: ``method`` (``"importance"`` or ``"mcmc"`` for the
        grid's posterior, ``"network"`` for the network's answer alone), ``describe`` (in
        words) and, for the grid's posterior, ``ess``, ``tau``, ``converged`` and the fitted
        ``model_error`` fraction.
    classification
        The spectral type, gravity, metallicity class and spectral binarity by the published
        methods (:func:`telescopeml.data.classification.classify_spectrum`), or None.
    """

    source: str
    names: list[str]
    samples: np.ndarray
    wavelength: np.ndarray
    observed: np.ndarray
    uncertainty: np.ndarray
    best_fit: np.ndarray | None = None
    band: np.ndarray | None = None
    chi2_red: float = math.nan
    flags: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    derived: dict[str, np.ndarray] = field(default_factory=dict)
    scale: str = SCALE_GRID
    model: str = ""
    errors: dict[str, dict[str, float]] = field(default_factory=dict)
    limits: dict[str, str] = field(default_factory=dict)
    scores: dict[str, float] = field(default_factory=dict)
    fit_parameters: dict[str, float] = field(default_factory=dict)
    name: str = ""
    file: str = ""
    spectral_type: str = ""
    model_fraction: float = 0.0
    sampling: dict[str, Any] = field(default_factory=dict)
    parameter_scales: dict[str, str] = field(default_factory=dict)
    classification: Classification | None = None

    def scale_of(self, name: str) -> str:
        """The scale parameter ``name`` is on (:attr:`scale` unless
        :attr:`parameter_scales` says otherwise)."""
        return self.parameter_scales.get(name, self.scale)

    def quantiles(self, q: float | tuple[float, ...]) -> np.ndarray:
        """Quantiles ``q`` (fractions, as :meth:`Posterior.quantile
        <telescopeml.models.posterior.Posterior.quantile>` and :func:`numpy.quantile` take
        them) of each parameter: shape ``(len(q), n_params)`` or ``(n_params,)``."""
        if np.any(np.asarray(q) > 1) or np.any(np.asarray(q) < 0):
            raise ValueError(f"quantiles are fractions between 0 and 1 (0.16, not 16); got {q}")
        return np.quantile(self.samples, q, axis=0)

    @property
    def median(self) -> dict[str, float]:
        """Posterior median of each parameter."""
        return dict(zip(self.names, np.median(self.samples, axis=0).tolist(), strict=True))

    @property
    def mean(self) -> dict[str, float]:
        """Posterior mean of each parameter."""
        return dict(zip(self.names, self.samples.mean(axis=0).tolist(), strict=True))

    @property
    def flag(self) -> str:
        """All flags in one string (``""`` when fine)."""
        return "; ".join(self.flags)

    @property
    def note(self) -> str:
        """All notes in one string."""
        return "; ".join(self.notes)

    def row(self) -> dict[str, Any]:
        """One table row of plain values: source, scale, model, PARAM_p50/p16/p84/p2.5/p97.5
        (with PARAM_stat/PARAM_sys where known, PARAM_limit where the value is a limit,
        PARAM_scale for a parameter on another scale than the row's),
        derived, chi2_red, typicality, flag, note, name, spectral_type, file; the units are
        :func:`column_unit`'s (see :meth:`to_table`)."""
        out: dict[str, Any] = {"source": self.source, "scale": self.scale, "model": self.model}
        quantiles = self.quantiles(QUANTILES)
        derived = {k: np.quantile(v, QUANTILES) for k, v in self.derived.items()}
        for j, name in enumerate(self.names):
            for p, q in QUANTILE_COLUMNS:
                out[f"{name}_{p}"] = float(quantiles[q, j])
            if name in self.errors:
                out[f"{name}_stat"] = self.errors[name]["statistical"]
                out[f"{name}_sys"] = self.errors[name]["systematic"]
            out[f"{name}_limit"] = self.limits.get(name, "")
            if name in self.parameter_scales:
                out[f"{name}_scale"] = self.parameter_scales[name]
        for name, values in derived.items():
            for p, q in (("p50", 2), ("p16", 1), ("p84", 3)):
                out[f"{name}_{p}"] = float(values[q])
        out["chi2_red"] = self.chi2_red
        out["method"] = self.sampling.get("method", "")
        out["ess"] = float(self.sampling.get("ess", math.nan))
        for key, value in self.scores.items():
            out[key] = value
        out["flag"] = self.flag
        out["note"] = self.note
        out.update(name=self.name, spectral_type=self.spectral_type, file=self.file)
        if self.classification is not None:
            row = self.classification.row()
            out.update({k: row[k] for k in CLASS_COLUMNS})
        return out

    def to_table(self) -> QTable:
        """:meth:`row` as a one-row QTable with units (Teff in K, log g and [M/H] in dex,
        radius in R_jup, mass in M_jup, the rest dimensionless)."""
        return table_from_rows([self.row()])

    @property
    def chi2_meaning(self) -> str:
        """What :attr:`chi2_red` measures, in words."""
        if self.model_fraction <= 0:
            return "observed sigma"
        return f"observed sigma + {self.model_fraction:.0%} model uncertainty"

    def to_json(self) -> dict[str, Any]:
        """The ``predictions/*.json`` record that ``telescopeml report`` renders."""
        q = self.quantiles((0.16, 0.5, 0.84))
        return {
            "name": self.source,
            "scale": self.scale,
            "model": self.model,
            "parameters": {n: {"median": float(q[1, j]), "low": float(q[0, j]),
                               "high": float(q[2, j]), "level": 0.68,
                               "unit": parameter(n).unit, "limit": self.limits.get(n, ""),
                               "scale": self.scale_of(n),
                               **self.errors.get(n, {})}
                           for j, n in enumerate(self.names)},
            "spectrum": {"wavelength": self.wavelength.tolist(),
                         "flux": self.observed.tolist(),
                         "uncertainty": self.uncertainty.tolist(), "flux_unit": ""},
            "best_fit": None if self.best_fit is None else {
                "flux": self.best_fit.tolist(),
                "parameters": self.fit_parameters or self.median,
                "reduced_chi2": self.chi2_red, "model_fraction": self.model_fraction},
            "derived": {k: np.quantile(v, (0.16, 0.5, 0.84)).tolist()
                        for k, v in self.derived.items()},
            "sampling": {k: v for k, v in self.sampling.items()
                         if not isinstance(v, float) or math.isfinite(v)},
            "warnings": [*self.flags, *self.notes],
            "classification": None if self.classification is None else {
                **{k: v for k, v in self.classification.row().items()
                   if not isinstance(v, float) or math.isfinite(v)},
                "methods": self.classification.methods},
        }

    def summary(self) -> str:
        """A small table: median and 68%/95% intervals per parameter with units, to two
        significant figures of the 68% half-width (:func:`decimals`), then χ² and flags."""
        q = self.quantiles(QUANTILES)
        lines = [f"{self.source}", f"  scale: {describe(self.scale)}"]
        if self.model:
            lines.append(f"  model: {self.model}")
        if self.sampling:
            lines.append(f"  method: {self.sampling['describe']}")
        for j, name in enumerate(self.names):
            unit = parameter(name).unit
            other = (f"  [{self.parameter_scales[name]} scale]"
                     if name in self.parameter_scales else "")
            if name in self.limits:
                lines.append(f"  {name:9s} {self.limits[name]:>8s} {unit:5s} (a limit, not a "
                             f"measurement: the posterior piles at the grid's edge){other}")
                continue
            lines.append(self._line(name, q[:, j], unit) + other)
        for name, values in self.derived.items():
            lines.append(self._line(name, np.quantile(values, QUANTILES), parameter(name).unit))
        if math.isnan(self.chi2_red):
            lines.append("  reduced chi2: none (no grid spectrum to compare with)")
        else:
            lines.append(f"  reduced chi2 of the best-fit grid spectrum: {self.chi2_red:.2g} "
                         f"({self.chi2_meaning})")
        for key, value in self.scores.items():
            lines.append(f"  {key}: {value:.2f}")
        if self.classification is not None:
            lines.append(f"  classification: {self.classification.brief()}")
        lines += [f"  FLAG: {f}" for f in self.flags]
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)

    def _line(self, name: str, q: np.ndarray, unit: str) -> str:
        """One parameter's summary line from its :data:`QUANTILES` ``q``."""
        places = decimals(name, (q[3] - q[1]) / 2)
        a, b, c, d, e = (_number(v, places) for v in q)
        suffix = f" {unit}" if unit else ""
        line = f"  {name:9s} {c:>8s} {unit:5s} 68%: {b}..{d}{suffix}  95%: {a}..{e}{suffix}"
        if name in self.errors:
            stat, sys = (self.errors[name][k] for k in ("statistical", "systematic"))
            line += (f"  (±{_number(stat, decimals(name, stat))}{suffix} statistical, "
                     f"±{_number(sys, decimals(name, sys))}{suffix} systematic)")
        return line
