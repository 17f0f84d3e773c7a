"""The search space of a hyperparameter study: which config fields vary, over what.

A search space is a TOML file with one table per hyperparameter, ``[space.SECTION.KEY]``,
where ``SECTION`` is a section of :class:`~telescopeml.training.experiment.ExperimentConfig`
(``data``, ``augment``, ``model``, ``train``) and ``KEY`` one of its fields::

    [space.train.lr]                  # float: low, high, optional log (bool) or step
    type = "float"
    low = 1e-4
    high = 1e-2
    log = true

    [space.model.architecture]        # categorical: a list of choices
    type = "categorical"
    choices = ["hybrid", "resnet"]

    [space.model.dense]               # a tuple field as a categorical of lists ...
    type = "categorical"
    choices = [[256], [512, 256]]

    [space.model.filters_0]           # ... or element by element: KEY_0, KEY_1, ... set the
    type = "int"                      # whole tuple (indices 0..n-1, all of them)
    low = 16
    high = 64
    log = true

``int`` takes ``low``, ``high`` and an optional ``log`` or ``step``. Fields that define the
split, the validation set or the loss (so that validation losses of different trials
compare) cannot be searched: see :data:`FIXED`. Every other value comes from the base
config (a ``telescopeml train --config`` file and preset).
"""

from __future__ import annotations

import dataclasses
import json
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from telescopeml import tomlio
from telescopeml.errors import DataError

if TYPE_CHECKING:
    from telescopeml.training.experiment import ExperimentConfig

#: Fields that a search may not change: they define the split, the validation set, the loss
#: or the machine, and validation losses of trials must compare.
FIXED: dict[str, frozenset[str]] = {
    "data": frozenset({"grid", "targets", "fractions", "split_seed", "val_snr"}),
    "augment": frozenset(),
    "model": frozenset({"head", "n_wavelengths", "n_outputs", "in_channels", "bounds"}),
    "train": frozenset({"loss", "huber_delta", "checkpoint_every", "num_threads", "device",
                        "deterministic"}),
}
SECTIONS = ("data", "augment", "model", "train")
TYPES = ("float", "int", "categorical")
DEFAULT_SPACE = "tune_space.toml"
_ELEMENT = re.compile(r"^(?P<field>.+)_(?P<index>\d+)$")


@dataclass(frozen=True)
class Param:
    """One searched hyperparameter.

    Parameters
    ----------
    section, key
        Where its value goes: ``config.<section>.<key>``; for an element key
        (``dense_0``) the element of the tuple field (``dense``).
    type
        ``float``, ``int`` or ``categorical``.
    low, high, log, step
        Range of a ``float`` or ``int`` (log-uniform when ``log``; ``step`` = grid spacing).
    choices
        Values of a ``categorical``: scalars or lists (lists for tuple fields).
    """

    section: str
    key: str
    type: str
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = None
    choices: tuple[Any, ...] = ()

    @property
    def name(self) -> str:
        """The Optuna parameter name, ``section.key``."""
        return f"{self.section}.{self.key}"

    def suggest(self, trial: Any) -> Any:
        """Draw this parameter's value for ``trial`` (an ``optuna.Trial``)."""
        if self.type == "categorical":
            # Optuna stores scalar choices only: lists travel as JSON text.
            encoded = [json.dumps(c) if isinstance(c, list) else c for c in self.choices]
            return self.choices[encoded.index(trial.suggest_categorical(self.name, encoded))]
        if self.type == "int":
            return trial.suggest_int(self.name, int(self.low), int(self.high), log=self.log,
                                     step=int(self.step or 1))
        return trial.suggest_float(self.name, self.low, self.high, log=self.log, step=self.step)

    def to_dict(self) -> dict[str, Any]:
        """The TOML table of this parameter."""
        if self.type == "categorical":
            return {"type": self.type, "choices": list(self.choices)}
        spec: dict[str, Any] = {"type": self.type, "low": self.low, "high": self.high}
        if self.log:
            spec["log"] = True
        if self.step is not None:
            spec["step"] = self.step
        return spec


@dataclass(frozen=True)
class SearchSpace:
    """The hyperparameters a study searches; see the module docstring for the TOML format."""

    params: tuple[Param, ...]

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SearchSpace:
        """Build from ``{"space": {section: {key: spec}}}``; errors name the bad entry."""
        unknown = sorted(set(data) - {"space"})
        if unknown or not isinstance(data.get("space"), dict) or not data["space"]:
            raise ValueError(f"a search space holds [space.SECTION.KEY] tables only, got "
                             f"{unknown or 'none'}")
        params = []
        for section, table in data["space"].items():
            if section not in SECTIONS:
                raise ValueError(f"unknown section space.{section}; valid: "
                                 f"{', '.join(SECTIONS)}")
            for key, spec in table.items():
                params.append(_param(section, key, spec))
        space = cls(tuple(params))
        space.overrides({p.name: _example(p) for p in params})  # checks element keys
        return space

    @classmethod
    def from_toml(cls, path: str | Path) -> SearchSpace:
        """Read a search-space TOML file."""
        try:
            return cls.from_dict(tomlio.read(path))
        except (TypeError, ValueError) as exc:
            if isinstance(exc, DataError):
                raise
            raise DataError(str(exc), path) from None

    @classmethod
    def default(cls) -> SearchSpace:
        """The search space shipped with the package (``telescopeml/data/tune_space.toml``)."""
        with resources.as_file(resources.files("telescopeml.data") / DEFAULT_SPACE) as path:
            return cls.from_toml(path)

    def to_dict(self) -> dict[str, Any]:
        """Inverse of :meth:`from_dict`."""
        space: dict[str, dict[str, Any]] = {}
        for p in self.params:
            space.setdefault(p.section, {})[p.key] = p.to_dict()
        return {"space": space}

    def suggest(self, trial: Any) -> dict[str, Any]:
        """Draw every parameter for ``trial``: ``{name: value}``."""
        return {p.name: p.suggest(trial) for p in self.params}

    def overrides(self, values: dict[str, Any]) -> dict[str, dict[str, Any]]:
        """Config sections from drawn values, element keys joined into tuples."""
        sections: dict[str, dict[str, Any]] = {}
        elements: dict[tuple[str, str], dict[int, Any]] = {}
        for p in self.params:
            match = _ELEMENT.match(p.key)
            if match and match["field"] in _tuple_fields(p.section):
                elements.setdefault((p.section, match["field"]), {})[int(match["index"])] = (
                    values[p.name])
            else:
                sections.setdefault(p.section, {})[p.key] = values[p.name]
        for (section, name), items in elements.items():
            if sorted(items) != list(range(len(items))):
                raise ValueError(f"space.{section}.{name}_N: indices must be 0..n-1, got "
                                 f"{sorted(items)}")
            if name in sections.get(section, {}):
                raise ValueError(f"space.{section}: give {name} or {name}_0, {name}_1, ..., "
                                 "not both")
            sections.setdefault(section, {})[name] = [items[i] for i in range(len(items))]
        return sections

    def values_of(self, config: ExperimentConfig) -> dict[str, Any] | None:
        """``config``'s own values of the searched parameters, or None when one lies outside
        the space (then the config cannot be a trial of this study)."""
        from telescopeml.models.config import ModelConfig

        sections = config.to_dict()
        # ModelConfig fills what the section leaves out from the architecture's preset; the
        # head changes no searchable field, and a flow head's bounds exist only once the
        # data are prepared, so resolve with a point head
        sections["model"] = ModelConfig.from_dict(
            {**sections["model"], "head": "point", "bounds": None}).to_dict()
        values: dict[str, Any] = {}
        for p in self.params:
            match = _ELEMENT.match(p.key)
            if match and match["field"] in _tuple_fields(p.section):
                items = list(sections[p.section][match["field"]])
                index = int(match["index"])
                if index >= len(items):
                    return None
                value = items[index]
            else:
                value = sections[p.section][p.key]
            if p.type == "categorical":
                if isinstance(value, tuple):
                    value = list(value)
                if value not in p.choices:
                    return None
                value = json.dumps(value) if isinstance(value, list) else value
            elif not (p.low <= value <= p.high):
                return None
            values[p.name] = value
        return values

    def apply(self, base: ExperimentConfig, values: dict[str, Any]) -> ExperimentConfig:
        """``base`` with the drawn ``values``; ValueError when they do not form a valid
        config."""
        from telescopeml.training.experiment import ExperimentConfig

        sections = base.to_dict()
        for section, items in self.overrides(values).items():
            sections[section].update(items)
        return ExperimentConfig.from_dict(sections)



def _fields(section: str) -> list[dataclasses.Field]:
    """The dataclass fields of a config section."""
    from telescopeml.data.augment import AugmentConfig
    from telescopeml.models.config import ModelConfig
    from telescopeml.training.config import TrainConfig
    from telescopeml.training.experiment import DataConfig

    classes = {"data": DataConfig, "augment": AugmentConfig, "model": ModelConfig,
               "train": TrainConfig}
    return list(dataclasses.fields(classes[section]))


def _tuple_fields(section: str) -> set[str]:
    return {f.name for f in _fields(section) if str(f.type).startswith("tuple")}


def _param(section: str, key: str, spec: Any) -> Param:
    where = f"space.{section}.{key}"
    if not isinstance(spec, dict):
        raise ValueError(f"{where} must be a table with a type")
    fields = {f.name for f in _fields(section)}
    match = _ELEMENT.match(key)
    field = match["field"] if match and key not in fields else key
    if field not in fields or (field != key and field not in _tuple_fields(section)):
        raise ValueError(f"{where}: unknown key; valid: {', '.join(sorted(fields))} (or "
                         "NAME_0, NAME_1, ... for the elements of a tuple field)")
    if field in FIXED[section]:
        raise ValueError(f"{where} cannot be searched: it must be the same in every trial")
    kind = spec.get("type")
    if kind not in TYPES:
        raise ValueError(f"{where}: type {kind!r} is not valid; valid: {', '.join(TYPES)}")
    allowed = {"type", "choices"} if kind == "categorical" else {"type", "low", "high", "log",
                                                                 "step"}
    extra = sorted(set(spec) - allowed)
    if extra:
        raise ValueError(f"{where}: unknown keys {extra} for type {kind!r}; valid: "
                         f"{', '.join(sorted(allowed))}")
    if kind == "categorical":
        choices = spec.get("choices")
        if not isinstance(choices, list) or not choices:
            raise ValueError(f"{where}: choices must be a non-empty list")
        return Param(section, key, kind, choices=tuple(choices))
    low, high = spec.get("low"), spec.get("high")
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in (low, high)):
        raise ValueError(f"{where}: low and high must be numbers")
    if kind == "int" and not all(isinstance(v, int) for v in (low, high)):
        raise ValueError(f"{where}: low and high of an int must be integers")
    log, step = bool(spec.get("log", False)), spec.get("step")
    if not low < high or (log and low <= 0):
        raise ValueError(f"{where}: need low < high (and low > 0 with log), got {low}, {high}")
    if log and step is not None:
        raise ValueError(f"{where}: give log or step, not both")
    return Param(section, key, kind, float(low) if kind == "float" else low,
                 float(high) if kind == "float" else high, log, step)


def _example(param: Param) -> Any:
    return param.choices[0] if param.type == "categorical" else param.low
