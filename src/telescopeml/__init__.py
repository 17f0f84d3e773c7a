"""telescopeml: atmospheric parameters of brown dwarfs and exoplanets from their spectra."""

from telescopeml.lazy import lazy_exports

__version__ = "0.1.0"

_EXPORTS = {
    "read_grid": "telescopeml.data.formats",
    "SpectralGrid": "telescopeml.data.grid",
    "list_grids": "telescopeml.data.sources",
    "load_grid": "telescopeml.data.sources",
    "ObservedSpectrum": "telescopeml.data.spectrum",
    **{name: "telescopeml.errors" for name in (
        "ChecksumError", "DataError", "OutOfGridError", "TelescopeMLError", "UnknownNameError")},
}
__getattr__ = lazy_exports(__name__, _EXPORTS)
__all__ = sorted([*_EXPORTS, "__version__"])
