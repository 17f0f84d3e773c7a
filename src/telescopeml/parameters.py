"""Every parameter the package reads or reports, in one registry.

A :class:`Parameter` holds what is known about a name such as ``"logg"``: its unit as shown
after a number and as astropy spells it, its plain-text and mathtext labels, the finest
decimal place worth showing, its colour map and the physical range its samples are kept in.
Tables, plots, summaries, the report and the command line all read it here, so that a unit
or label is written once. A new output column is one entry in :data:`PARAMETERS` plus the
code that computes it.

A name that is not registered still works: :func:`parameter` gives a neutral entry (no unit,
the name as label, three decimals, ``viridis``).

This module is at the base of the package: it imports nothing else of it, and astropy only
when a unit object is asked for.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from astropy.units import UnitBase


@dataclass(frozen=True)
class Parameter:
    """What the package knows about one parameter.

    Attributes
    ----------
    name
        The canonical name, as in grids, bundles and table columns (``"teff"``).
    unit
        The unit shown after a number (``"K"``, ``"dex"``; ``""``: none). Log quantities are
        in dex: log g is log10 of g in cm s^-2.
    text
        Plain-text symbol (``"T_eff"``), for HTML, JSON and terminal output.
    symbol
        Matplotlib mathtext symbol (``r"$T_\\mathrm{eff}$"``).
    note
        A few words after the label (``"0 = cloud-free"``).
    meaning
        What the number is, for documentation (``"log10 of g in cm s^-2"``).
    precision
        Finest decimal place shown to a person (0: whole numbers; -1 would be tens).
    colormap
        The matplotlib colour map of this parameter in every figure.
    bounds
        Samples are kept inside these physical bounds (a huge model term must not give a
        negative Teff).
    astropy
        The unit as astropy spells it, when that differs from :attr:`unit`.
    unit_symbol
        The unit in mathtext, when that differs from :attr:`unit`.
    """

    name: str
    unit: str = ""
    text: str = ""
    symbol: str = ""
    note: str = ""
    meaning: str = ""
    precision: int = 3
    colormap: str = "viridis"
    bounds: tuple[float, float] = (-math.inf, math.inf)
    astropy: str | None = None
    unit_symbol: str | None = None

    @property
    def label(self) -> str:
        """Plain-text label with unit and note: ``T_eff [K]``, ``1/f_sed (0 = cloud-free)``."""
        return _label(self.text or self.name, self.unit, self.note)

    @property
    def axis_label(self) -> str:
        """Mathtext axis label with unit and note: ``$T_\\mathrm{eff}$ [K]``."""
        return _label(self.symbol or self.name, self.math_unit, self.note)

    @property
    def math_unit(self) -> str:
        """The unit in mathtext (``""`` when there is none)."""
        return self.unit if self.unit_symbol is None else self.unit_symbol

    @property
    def suffix(self) -> str:
        """The unit after a number in running text: ``" K"``, or ``""``."""
        return f" {self.unit}" if self.unit else ""

    @property
    def astropy_unit(self) -> UnitBase:
        """The unit as an astropy object (dimensionless when there is none)."""
        import astropy.units as u

        return u.Unit(self.unit if self.astropy is None else self.astropy)


def _label(symbol: str, unit: str, note: str) -> str:
    return symbol + (f" [{unit}]" if unit else "") + (f" ({note})" if note else "")


_ENTRIES = (
    Parameter("teff", "K", "T_eff", r"$T_\mathrm{eff}$", meaning="effective temperature",
              precision=0, colormap="plasma", bounds=(100.0, 4000.0)),
    Parameter("logg", "dex", "log g", r"$\log\,g$",
              meaning="surface gravity: log10 of g in cm s^-2", precision=2,
              colormap="viridis", bounds=(2.5, 6.0)),
    Parameter("mh", "dex", "[M/H]", "[M/H]", meaning="metallicity: log10 of the metal "
              "abundance relative to solar", precision=2, colormap="cividis"),
    Parameter("co", "", "C/O", "C/O", meaning="carbon-to-oxygen ratio (relative to solar in "
              "the Sonora grids)"),
    Parameter("fsed", "", "f_sed", r"$f_\mathrm{sed}$",
              meaning="cloud sedimentation efficiency", colormap="Blues_r"),
    Parameter("inv_fsed", "", "1/f_sed", r"$1/f_\mathrm{sed}$", note="0 = cloud-free",
              meaning="1 / cloud sedimentation efficiency (0 for cloud-free models)",
              precision=2, colormap="Blues"),
    Parameter("kzz", "dex", "log K_zz", r"$\log\,K_{zz}$",
              meaning="vertical mixing: log10 of K_zz in cm^2 s^-1"),
    Parameter("alpha", "dex", "[alpha/M]", r"[$\alpha$/M]",
              meaning="alpha-element enhancement relative to the metallicity"),
    Parameter("cloudy", "", "cloudy", "cloudy", note="1 = cloudy, 0 = clear",
              meaning="1 for the cloudy models of a grid, 0 for the clear ones"),
    Parameter("radius_rjup", "R_Jup", "R", "$R$", meaning="radius from the flux scale and "
              "the distance", precision=2, astropy="R_jup",
              unit_symbol=r"$R_\mathrm{Jup}$"),
    Parameter("mass_mjup", "M_Jup", "M", "$M$", meaning="mass from log g and the radius",
              precision=2, astropy="M_jup", unit_symbol=r"$M_\mathrm{Jup}$"),
)
#: Name -> :class:`Parameter`, read-only.
PARAMETERS: Mapping[str, Parameter] = MappingProxyType({p.name: p for p in _ENTRIES})


def parameter(name: str) -> Parameter:
    """The registered :class:`Parameter` ``name``, or a neutral one for an unknown name
    (no unit, the name as its label and symbol, three decimals, ``viridis``)."""
    found = PARAMETERS.get(name)
    return found if found is not None else Parameter(name)


class FieldView(Mapping[str, Any]):
    """A read-only ``{name: field}`` view of :data:`PARAMETERS` (``UNITS["teff"] == "K"``),
    for code that wants one field of every registered parameter as a dict."""

    def __init__(self, field: str) -> None:
        self.field = field

    def __getitem__(self, name: str) -> Any:
        return getattr(PARAMETERS[name], self.field)

    def __iter__(self) -> Iterator[str]:
        return iter(PARAMETERS)

    def __len__(self) -> int:
        return len(PARAMETERS)

    def __repr__(self) -> str:
        return f"FieldView({self.field!r}: {dict(self)!r})"


#: ``{name: unit}`` of every registered parameter (a view of :data:`PARAMETERS`).
UNITS: Mapping[str, str] = FieldView("unit")

__all__ = ["PARAMETERS", "UNITS", "FieldView", "Parameter", "parameter"]
