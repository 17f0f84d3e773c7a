"""The package's version, in a module of its own.

Bundles, checkpoints, empirical layers and reports record it; they import it from here rather
than from the package's ``__init__``, whose lazy exports name modules that import them (a
cycle). ``telescopeml.__version__`` is this value.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
