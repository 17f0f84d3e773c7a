"""Spectrum readers registered by format, as in the astropy and specutils I/O registries.

Adding an instrument means adding one function decorated with
:func:`~telescopeml.data.readers.registry.register_reader` (the registry is
:mod:`~telescopeml.data.readers.registry`; its names are importable from here too);
:meth:`ObservedSpectrum.read <telescopeml.data.spectrum.ObservedSpectrum.read>` picks the
reader by ``format=``, else by file extension (``.gz`` ignored) and the readers'
``identify`` functions, else by asking specutils' loaders (if specutils is installed).

Built-in formats: ``spex-fits`` and ``fits-table`` (:mod:`~telescopeml.data.readers.fits`),
``ecsv`` and ``text`` (:mod:`~telescopeml.data.readers.text`) and ``specutils``
(:mod:`~telescopeml.data.readers.specutils_io`).
"""

from __future__ import annotations

import importlib

# The registry's names, importable from the package as they were before it had a module of
# its own (the readers import them from there).
from telescopeml.data.readers.registry import (  # noqa: F401
    FLUX_NAMES,
    READ_ERRORS,
    READERS,
    UNCERTAINTY_NAMES,
    WAVELENGTH_NAMES,
    Reader,
    choose_reader,
    column_roles,
    file_head,
    is_gzip,
    plain,
    read_spectrum,
    register_reader,
    stem,
)

# The built-in readers register themselves on import, in this order (the order in which
# choose_reader tries their identify functions).
for _module in ("fits", "text", "specutils_io"):
    importlib.import_module(f"{__name__}.{_module}")
