"""Exceptions raised for bad input, named so that the CLI can print one clear line."""

from __future__ import annotations

from pathlib import Path


class TelescopeMLError(Exception):
    """Base class: every error the package raises on purpose."""


class DataError(TelescopeMLError, ValueError):
    """A file or array is unusable: missing, corrupt, NaN, non-positive, wrong units...

    Parameters
    ----------
    problem
        What is wrong, in words.
    source
        The file (or other origin) the problem was found in; named first in the message.
    """

    def __init__(self, problem: str, source: str | Path | None = None) -> None:
        self.problem = problem
        self.source = None if source is None else str(source)
        super().__init__(f"{self.source}: {problem}" if self.source else problem)


class ChecksumError(DataError):
    """A download or cached file does not match its pinned SHA-256."""


class OutOfGridError(TelescopeMLError, ValueError):
    """Parameters or wavelengths that lie outside what a grid covers."""


class TrainingError(TelescopeMLError, ValueError):
    """Training cannot go on (a loss that is not finite); nothing was written as a model."""


class UnknownNameError(TelescopeMLError, KeyError):
    """A name (grid, format, strategy, spectrum) that is not registered."""

    def __init__(self, kind: str, name: str, valid: list[str] | tuple[str, ...]) -> None:
        self.kind, self.name, self.valid = kind, name, list(valid)
        super().__init__(f"unknown {kind} {name!r}; valid: {', '.join(self.valid)}")

    def __str__(self) -> str:
        return str(self.args[0])


class MissingExtraError(TelescopeMLError, ImportError):
    """An optional dependency is not installed; the message names the extra that installs it.

    Parameters
    ----------
    package
        The missing distribution, e.g. ``torch``.
    extra
        The telescopeml extra that installs it, e.g. ``train``.
    install
        The commands that install it (:func:`telescopeml.extras.install_commands`).
    """

    def __init__(self, package: str, extra: str, install: str) -> None:
        self.package, self.extra, self.install = package, extra, install
        super().__init__(f"{package} is not installed; the {extra!r} extra installs it: "
                         f"in the telescopeml source folder, run {install}")


class BatchInterrupted(KeyboardInterrupt):
    """Ctrl-C (or SIGTERM) during a batch, carrying what was finished so that it is kept.

    Attributes
    ----------
    done, failed
        The predictions finished, and ``(source, error)`` of the inputs that failed, before
        the interrupt.
    total
        How many inputs the batch had.
    """

    def __init__(self, done: list, failed: list, total: int) -> None:
        self.done, self.failed, self.total = done, failed, total
        super().__init__(f"interrupted after {len(done) + len(failed)} of {total} spectra")
