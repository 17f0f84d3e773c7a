"""telescopeml: atmospheric parameters of brown dwarfs and exoplanets from their spectra."""

from telescopeml.data.formats import read_grid
from telescopeml.data.grid import SpectralGrid
from telescopeml.data.sources import list_grids, load_grid
from telescopeml.data.spectrum import ObservedSpectrum
from telescopeml.errors import (
    ChecksumError,
    DataError,
    OutOfGridError,
    TelescopeMLError,
    UnknownNameError,
)

__version__ = "0.1.0"

__all__ = [
    "ChecksumError",
    "DataError",
    "ObservedSpectrum",
    "OutOfGridError",
    "SpectralGrid",
    "TelescopeMLError",
    "UnknownNameError",
    "__version__",
    "list_grids",
    "load_grid",
    "read_grid",
]
