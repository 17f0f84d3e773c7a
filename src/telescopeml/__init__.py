"""telescopeml: atmospheric parameters of brown dwarfs and exoplanets from their spectra."""

from telescopeml.data.grid import SpectralGrid
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
    "OutOfGridError",
    "SpectralGrid",
    "TelescopeMLError",
    "UnknownNameError",
    "__version__",
]
