"""Lazy package exports (PEP 562), so that importing a package costs only what is used.

``import telescopeml`` must not pull in PyTorch, h5py or astropy's tables: the command line
reads one spectrum in well under a second only if nothing it does not need is imported.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any


def lazy_exports(package: str, exports: dict[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` importing ``exports[name]`` (a module) on first access."""

    def __getattr__(name: str) -> Any:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(module), name)

    return __getattr__
