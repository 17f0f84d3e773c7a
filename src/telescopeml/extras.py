"""Optional dependencies: which extra installs each, and one clear error when one is missing.

``pip install .`` predicts with the shipped models (they run on a NumPy engine); training,
tuning, evaluation and the demo need the ``train`` extra, installed from the source folder
after the CPU build of PyTorch (:func:`install_commands`). The package is installed from its
source tree, never by name from an index: ``telescopeml`` on PyPI is another project.
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


#: The CPU build of PyTorch that README installs before the ``train`` extra (pip would
#: otherwise take the default CUDA build, several GB of ``nvidia-*`` packages).
CPU_TORCH = "torch==2.13.0"


def install_commands(extra: str) -> str:
    """The commands that install ``extra`` from the source folder, CPU PyTorch first where
    the extra needs PyTorch: ``pip install torch==2.13.0 && pip install ".[train]"``."""
    torch_first = EXTRAS["torch"][1] == extra
    return (f"pip install {CPU_TORCH} && " if torch_first else "") + f'pip install ".[{extra}]"'


def _missing(module: str) -> MissingExtraError:
    package, extra = EXTRAS[module]
    return MissingExtraError(package, extra, install_commands(extra))


def requires(*modules: str) -> None:
    """Raise :class:`~telescopeml.errors.MissingExtraError` for the first of ``modules``
    (keys of :data:`EXTRAS`) that is not installed."""
    for module in modules:
        if find_spec(module) is None:
            raise _missing(module)


def missing_extra(exc: ImportError) -> MissingExtraError | None:
    """The :class:`~telescopeml.errors.MissingExtraError` that a failed import means, or None
    when no extra installs the missing module."""
    root = (exc.name or "").partition(".")[0]
    return _missing(root) if root in EXTRAS else None
