"""Many spectra through one predictor, a batch at a time; one bad file costs only itself."""

from __future__ import annotations

import warnings
from pathlib import Path

from telescopeml.data.checks import as_spectrum, source_of, with_distance
from telescopeml.data.spectrum import ObservedSpectrum
from telescopeml.errors import BatchInterrupted, DataError, TelescopeMLError
from telescopeml.inference.protocol import SpectrumPredictor
from telescopeml.prediction import Prediction


def _predict_alone(predictor: SpectrumPredictor, item: str | Path | ObservedSpectrum,
                   n_samples: int) -> Prediction | TelescopeMLError:
    try:
        return predictor.predict_many([item], n_samples=n_samples)[0]
    except (ValueError, ArithmeticError, IndexError) as exc:
        return DataError(f"cannot be predicted ({type(exc).__name__}: {exc})",
                         source_of(item))


def predict_files(predictor: SpectrumPredictor, files: list[str | Path | ObservedSpectrum],
                  n_samples: int = 2000, progress: bool = True, batch: int = 64,
                  distances: list[tuple[float, float] | None] | None = None,
                  ) -> tuple[list[Prediction], list[tuple[str, str]]]:
    """Predict many spectra (files, library names or spectra), ``batch`` at a time; one
    that fails is reported and skipped. ``distances``: ``(pc, error)`` or None per input,
    for the radius and mass. Ctrl-C (or SIGTERM) raises :class:`~telescopeml.errors.
    BatchInterrupted`, which carries the predictions finished so far."""
    done: list[Prediction] = []
    failed: list[tuple[str, str]] = []
    try:
        _run_batches(predictor, files, n_samples, progress, batch, distances, done, failed)
    except KeyboardInterrupt as exc:
        raise BatchInterrupted(done, failed, len(files)) from exc
    return done, failed


def _run_batches(predictor: SpectrumPredictor, files: list[str | Path | ObservedSpectrum],
                 n_samples: int, progress: bool, batch: int,
                 distances: list[tuple[float, float] | None] | None,
                 done: list[Prediction], failed: list[tuple[str, str]]) -> None:
    """:func:`predict_files`' loop, appending to ``done`` and ``failed`` as it goes."""
    from tqdm.auto import tqdm

    with tqdm(total=len(files), desc="predicting", unit="spectrum",
              disable=not progress) as bar:
        for start in range(0, len(files), batch):
            chunk = []
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                for i in range(start, min(start + batch, len(files))):
                    try:
                        chunk.append(_with_distance(files[i],
                                                    distances[i] if distances else None))
                    except TelescopeMLError as exc:
                        failed.append((source_of(files[i]), str(exc)))
                try:
                    results = predictor.predict_many(chunk, n_samples=n_samples)
                except (ValueError, ArithmeticError, IndexError):
                    # one spectrum broke the batched network call: answer the others alone
                    results = [_predict_alone(predictor, item, n_samples) for item in chunk]
            for item, result in zip(chunk, results, strict=True):
                if isinstance(result, Prediction):
                    done.append(result)
                else:
                    failed.append((source_of(item), str(result)))
            bar.update(min(batch, len(files) - start))


def _with_distance(item: str | Path | ObservedSpectrum,
                   distance: tuple[float, float] | None) -> str | Path | ObservedSpectrum:
    return item if distance is None else with_distance(as_spectrum(item), *distance)
