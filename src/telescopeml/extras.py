"""Optional dependencies: which extra installs each, and one clear error when one is missing.

``pip install telescopeml`` predicts with the shipped models (they run on a NumPy engine);
training, tuning, evaluation and the demo need ``pip install "telescopeml[train]"``.
"""

from __future__ import annotations

from importlib.util import find_spec

from telescopeml.errors import MissingExtraError

#: Top-level module -> (the distribution that provides it, the extra that installs it).
EXTRAS: dict[str, tuple[str, str]] = {
    "torch": ("torch", "train"),
    "zuko": ("zuko", "train"),
    "optuna": ("optuna", "train"),
    "sklearn": ("scikit-learn", "train"),
    "corner": ("corner", "plots"),
}


def requires(*modules: str) -> None:
    """Raise :class:`~telescopeml.errors.MissingExtraError` for the first of ``modules``
    (keys of :data:`EXTRAS`) that is not installed."""
    for module in modules:
        if find_spec(module) is None:
            raise MissingExtraError(*EXTRAS[module])


def missing_extra(exc: ImportError) -> MissingExtraError | None:
    """The :class:`~telescopeml.errors.MissingExtraError` that a failed import means, or None
    when no extra installs the missing module."""
    root = (exc.name or "").partition(".")[0]
    return MissingExtraError(*EXTRAS[root]) if root in EXTRAS else None
