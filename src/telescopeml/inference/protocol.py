"""What every predictor is: one model, the shipped models' chooser, the empirical scale.

:class:`SpectrumPredictor` is the one interface that :func:`telescopeml.predict`,
:func:`~telescopeml.inference.batch.predict_files` and the real-spectrum benchmark
(:func:`~telescopeml.evaluation.benchmark.run_benchmark`) are written against;
:class:`~telescopeml.predict.Predictor`, :class:`~telescopeml.pretrained.ModelChooser` and
:class:`~telescopeml.pretrained.EmpiricalPredictor` all satisfy it. This module imports
nothing at run time beyond :mod:`typing`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from telescopeml.data.spectrum import ObservedSpectrum
    from telescopeml.errors import TelescopeMLError
    from telescopeml.prediction import Prediction


@runtime_checkable
class SpectrumPredictor(Protocol):
    """A predictor: spectra in, :class:`~telescopeml.prediction.Prediction` out.

    ``isinstance(obj, SpectrumPredictor)`` checks that ``obj`` has every member below (not
    their types).
    """

    @property
    def names(self) -> list[str]:
        """The parameters it predicts, in the order of a prediction's samples."""

    @property
    def ranges(self) -> dict[str, tuple[float, float]]:
        """``{parameter: (low, high)}`` on the scale of its answers (the labeled range, for
        the empirical scale; at least Teff)."""

    @property
    def grid_ranges(self) -> dict[str, tuple[float, float]]:
        """``{parameter: (low, high)}`` that the atmosphere grids behind it cover (at least
        Teff): which objects it can be expected to answer (the benchmark's "in range")."""

    @property
    def path(self) -> str | Path:
        """Where its model is, in words or as a directory (for provenance)."""

    def predict(self, spectrum: ObservedSpectrum | str | Path,
                n_samples: int = 10000, seed: int = 0) -> Prediction:
        """The prediction of one spectrum (a file, a library name, an
        :class:`~telescopeml.data.spectrum.ObservedSpectrum` or a ``specutils`` spectrum); a
        spectrum it cannot read raises :class:`~telescopeml.errors.DataError`."""

    def predict_many(self, spectra: list[ObservedSpectrum | str | Path],
                     n_samples: int = 2000, seed: int = 0
                     ) -> list[Prediction | TelescopeMLError]:
        """The prediction of each spectrum in order, or the error that stopped it."""


__all__ = ["SpectrumPredictor"]
