"""telescopeml: atmospheric parameters of brown dwarfs and exoplanets from their spectra.

``telescopeml.predict("spectrum.fits")`` predicts as ``telescopeml predict`` does
(:func:`telescopeml.inference.request.predict`); :class:`~telescopeml.predict.Predictor` is
one trained model; ``telescopeml.classify("spectrum.fits")`` gives the spectral type,
gravity, metallicity class and spectral binarity as ``telescopeml classify`` does
(:func:`telescopeml.data.classification.classify`). Importing the package imports none of
its parts: each name below is imported on first use.
"""

import importlib
import sys
from types import ModuleType
from typing import Any

from telescopeml.lazy import lazy_exports
from telescopeml.version import __version__  # noqa: F401 (in __all__)

_EXPORTS = {
    "read_grid": "telescopeml.data.formats",
    "SpectralGrid": "telescopeml.data.grid",
    "list_grids": "telescopeml.data.sources",
    "load_grid": "telescopeml.data.sources",
    "ObservedSpectrum": "telescopeml.data.spectrum",
    "Predictor": "telescopeml.predict",
    "classify": "telescopeml.data.classification",
    "Classification": "telescopeml.data.classification",
    **{name: "telescopeml.errors" for name in (
        "ChecksumError", "DataError", "OutOfGridError", "TelescopeMLError", "UnknownNameError")},
}
_lazy = lazy_exports(__name__, _EXPORTS)


def __getattr__(name: str) -> Any:
    if name == "predict":  # the module telescopeml.predict, callable (see _Package)
        return importlib.import_module("telescopeml.predict")
    return _lazy(name)


class _Package(ModuleType):
    """This package's class. ``telescopeml.predict`` is both a module (``Predictor`` and the
    pipeline's stages are in it) and the function :func:`telescopeml.inference.request.
    predict`: when the module is imported and set as this package's attribute, it is made
    callable (``telescopeml.inference.request._CallableModule``), so that
    ``telescopeml.predict(...)``, ``from telescopeml import predict`` and
    ``from telescopeml.predict import Predictor`` all work, in any order."""

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "predict" and isinstance(value, ModuleType):
            from telescopeml.inference.request import _CallableModule

            value.__class__ = _CallableModule
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
__all__ = sorted([*_EXPORTS, "__version__", "predict"])
