"""From what a user asks for to predictions: ``telescopeml.predict(...)``.

``telescopeml.predict`` calls :func:`predict`, and ``telescopeml predict`` only parses its
arguments and calls it too, so Python gets the command's answers: a request is read
(:func:`resolve`: spectrum files or library names, a model given before them, a table of
targets with distances, the SpeX library), the predictor is chosen
(:func:`telescopeml.pretrained.predictor`), and the spectra are predicted a batch at a time
(:func:`~telescopeml.inference.batch.predict_files`). The answer, :class:`Predictions`,
holds the predictions and the inputs that failed, and writes either.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, overload

from telescopeml.errors import DataError
from telescopeml.inference.protocol import SpectrumPredictor

if TYPE_CHECKING:
    from astropy.table import QTable

    from telescopeml.prediction import Prediction

#: Posterior samples per spectrum: for a few spectra (read one by one), and for batches.
SAMPLES_FEW, SAMPLES_MANY = 10000, 2000
#: How many spectra are "a few" (:data:`SAMPLES_FEW` samples each).
FEW_SPECTRA = 5
#: The most posterior samples per spectrum (``--samples``): a million already pins a 0.1%
#: quantile, and more would hold gigabytes per spectrum for minutes before any answer.
MAX_SAMPLES = 1_000_000
#: The instrument of the library spectra that ``library=True`` (``--library``) predicts: the
#: SpeX prism, which the shipped SpeX models and the empirical scale are made for.
LIBRARY_INSTRUMENT = "SPEX-PRISM"

#: An input: a spectrum file, a library name, an ``ObservedSpectrum`` or a specutils spectrum.
Input = Any
Distance = tuple[float, float]


def samples_for(n_spectra: int, requested: int | None = None) -> int:
    """``requested`` (1 to :data:`MAX_SAMPLES`), else :data:`SAMPLES_FEW` for up to
    :data:`FEW_SPECTRA` spectra, else :data:`SAMPLES_MANY`."""
    if requested is not None and not 1 <= requested <= MAX_SAMPLES:
        raise DataError(f"n_samples must be 1 to {MAX_SAMPLES:,} per spectrum, got "
                        f"{requested:,}")
    return requested or (SAMPLES_FEW if n_spectra <= FEW_SPECTRA else SAMPLES_MANY)


@dataclass
class Request:
    """What to predict: the model (None: the shipped ones), the inputs and each one's
    distance (``(pc, error)``, or None)."""

    model: str | Path | SpectrumPredictor | None
    inputs: list[Input]
    distances: list[Distance | None]


def is_model(item: Any) -> bool:
    """Whether ``item`` names a model rather than a spectrum: a bundle directory (with a
    ``manifest.json``) or a shipped model's name."""
    if not isinstance(item, str | Path):
        return False
    from telescopeml import pretrained

    return (Path(item) / "manifest.json").is_file() or str(item) in pretrained.available()


def library_spectra(spectral_type: str | None = None, instrument: str = LIBRARY_INSTRUMENT,
                    quiet: bool = False) -> list[str]:
    """The library's spectra from ``instrument`` (file names, which are read by name so that
    each row is keyed by its object); ``spectral_type``: only this class or type prefix
    (``"L"``, ``"T"``, ``"L4"``)."""
    from telescopeml.data.library import is_type, library_index

    entries = [e for e in library_index(quiet=quiet) if e.instrument == instrument]
    if spectral_type:
        entries = [e for e in entries if is_type(e.spectral_type, spectral_type)]
    return [e.data_file for e in entries]


def resolve(spectra: Input | Sequence[Input] = (), model: str | Path | SpectrumPredictor |
            None = None, distance: float | Distance | None = None,
            targets: str | Path | None = None, library: bool = False,
            spectral_type: str | None = None, quiet: bool = False) -> Request:
    """Read a request as ``telescopeml predict`` does.

    ``spectra``: one input or a list; without ``model``, a first item that :func:`is_model`
    is the model (the form ``predict MODEL FILE...``). ``distance``: pc, or ``(pc, error)``,
    of every spectrum given (a ``targets`` row's own distance wins). ``targets``: a CSV
    table of files or names with optional distances
    (:func:`~telescopeml.data.objects.read_target_list`). ``library``: add every library
    spectrum from :data:`LIBRARY_INSTRUMENT` (``spectral_type``: of this class or type).
    Raises :class:`~telescopeml.errors.DataError` when nothing is asked for.
    """
    inputs: list[Input] = (list(spectra) if isinstance(spectra, list | tuple)
                           else [spectra])
    if model is None and inputs and is_model(inputs[0]):
        model = inputs.pop(0)
    elif (model is None and inputs and isinstance(inputs[0], str | Path)
          and Path(inputs[0]).is_dir()):
        raise DataError("a folder without manifest.json: not a model bundle (nor a spectrum "
                        "file); nothing was predicted", inputs[0])
    if distance is not None and not isinstance(distance, tuple | list):
        distance = (float(distance), 0.0)
    one: Distance | None = None if distance is None else (float(distance[0]),
                                                          float(distance[1]))
    distances: list[Distance | None] = [one] * len(inputs)
    if targets:
        from telescopeml.data.objects import read_target_list

        for target, row_distance in read_target_list(targets):
            inputs.append(target)
            distances.append(row_distance or one)
    if library:
        names = library_spectra(spectral_type, quiet=quiet)
        inputs += names
        distances += [one] * len(names)
    if not inputs:
        raise DataError("give spectrum files or library names, a table of targets (--list) "
                        "or the library (--library)")
    return Request(model, inputs, distances)


@dataclass
class Predictions(Sequence["Prediction"]):
    """The answer of :func:`predict`: the predictions in input order, without the inputs that
    failed, which are in :attr:`failed` as ``(input, error)``. Indexing, ``len`` and
    iteration are over the predictions."""

    done: list[Prediction] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)

    @overload
    def __getitem__(self, index: int) -> Prediction: ...

    @overload
    def __getitem__(self, index: slice) -> list[Prediction]: ...

    def __getitem__(self, index: int | slice) -> Prediction | list[Prediction]:
        try:
            return self.done[index]
        except IndexError:
            if not self.failed:
                raise
            raise IndexError(f"prediction {index} of {len(self.done)}; failed: "
                             + "; ".join(f"{error}" for _, error in self.failed)) from None

    def __len__(self) -> int:
        return len(self.done)

    def __iter__(self) -> Iterator[Prediction]:
        return iter(self.done)

    def __repr__(self) -> str:
        failed = f", {len(self.failed)} failed" if self.failed else ""
        n = len(self.done)
        return f"<Predictions: {n} prediction{'' if n == 1 else 's'}{failed}>"

    def summary(self) -> str:
        """Each prediction's summary, then one line per input that failed."""
        parts = [p.summary() for p in self.done]
        parts += [f"failed: {error}" for _, error in self.failed]
        return "\n\n".join(parts)

    def table(self) -> QTable:
        """One row per prediction, then one per failed input whose ``flag`` starts with
        ``"error:"`` (:func:`~telescopeml.tables.predictions_table`)."""
        from telescopeml.tables import predictions_table

        return predictions_table(self.done, self.failed)

    def write(self, path: str | Path, overwrite: bool = False) -> Path:
        """Write :meth:`table` by the name's suffix (:func:`~telescopeml.tables.write_table`:
        .ecsv, .fits, .parquet, else CSV)."""
        from telescopeml.tables import write_table

        return write_table(path, self.table(), overwrite)

    def write_samples(self, path: str | Path, overwrite: bool = False) -> Path:
        """Write every prediction's posterior samples (.h5/.hdf5 or .fits:
        :func:`~telescopeml.tables.write_samples`)."""
        from telescopeml.tables import write_samples

        return write_samples(path, self.done, overwrite)


def predict(spectra: Input | Sequence[Input] = (), model: str | Path | SpectrumPredictor |
            None = None, scale: str = "auto", fast: bool = False,
            distance: float | Distance | None = None, n_samples: int | None = None, *,
            targets: str | Path | None = None, library: bool = False,
            spectral_type: str | None = None, empirical: str | Path | None = None,
            smooth: bool = True, quiet: bool = False) -> Predictions:
    """Parameters of observed spectra, with posteriors: what ``telescopeml predict`` computes.

    Parameters
    ----------
    spectra
        A spectrum file (SpeX FITS, JWST x1d, text/CSV, ECSV, anything specutils reads), a
        library name (an object such as ``"2MASS J15031961+2525196"`` or a file that
        ``telescopeml data spectra`` lists), an
        :class:`~telescopeml.data.spectrum.ObservedSpectrum` or specutils spectrum, or a
        list of them. Without ``model``, a list's first item may be the model.
    model
        A model directory, a shipped model's name, a predictor
        (:class:`~telescopeml.inference.protocol.SpectrumPredictor`, used as it is), or None:
        the shipped model whose grid covers each object.
    scale
        With the shipped models: ``"empirical"``, ``"grid"`` or ``"auto"`` (the more
        accurate on the dev benchmark); see :func:`telescopeml.pretrained.predictor`.
    fast
        The network's answer alone (milliseconds per spectrum) instead of the grid's
        posterior on the atmosphere-grid scale.
    distance
        Distance in pc, or ``(pc, error)``, of every spectrum given: adds radius and mass
        for flux-calibrated spectra.
    n_samples
        Posterior samples per spectrum (default :data:`SAMPLES_FEW` for up to
        :data:`FEW_SPECTRA` spectra, else :data:`SAMPLES_MANY`).
    targets, library, spectral_type
        More inputs: a CSV table of targets, the SpeX library (of one class); see
        :func:`resolve`.
    empirical
        An empirical scale fitted by ``telescopeml calibrate`` instead of the shipped one.
    smooth
        Smooth a spectrum sharper than the model to its resolution (with a note).
    quiet
        No progress bar and no download messages.

    Returns
    -------
    Predictions
        The predictions in input order and the inputs that failed, with their errors (one
        failing input costs only itself). ``telescopeml.predict(file)[0]`` is the
        :class:`~telescopeml.prediction.Prediction` of one file.

    Raises
    ------
    DataError
        When nothing is asked for, or the model or the options are unusable.
    """
    request = resolve(spectra, model, distance, targets, library, spectral_type, quiet)
    predictor = (_predictor(request.model, scale, empirical, smooth, fast)
                 if request.model is None or isinstance(request.model, str | Path)
                 else request.model)
    return run(predictor, request, n_samples, progress=not quiet)


def _predictor(model: str | Path | None, scale: str, empirical: str | Path | None,
               smooth: bool, fast: bool) -> SpectrumPredictor:
    from telescopeml import pretrained

    return pretrained.predictor(model, scale, empirical, smooth=smooth, fast=fast)


def run(predictor: SpectrumPredictor, request: Request, n_samples: int | None = None,
        progress: bool = True) -> Predictions:
    """Predict ``request``'s inputs with ``predictor``, a batch at a time (``n_samples``:
    see :func:`predict`)."""
    from telescopeml.inference.batch import predict_files

    done, failed = predict_files(
        predictor, request.inputs, n_samples=samples_for(len(request.inputs), n_samples),
        progress=progress,
        distances=request.distances if any(request.distances) else None)
    return Predictions(done, failed)


class _CallableModule(ModuleType):
    """The class of the module :mod:`telescopeml.predict`, whose name is also the function
    :func:`telescopeml.predict`: calling the module calls :func:`predict`, and its
    attributes (``telescopeml.predict.Predictor``...) stay as they are."""

    def __call__(self, *args: Any, **kwargs: Any) -> Predictions:
        return predict(*args, **kwargs)

    @property
    def __signature__(self) -> Any:
        import inspect

        return inspect.signature(predict)


__all__ = ["FEW_SPECTRA", "LIBRARY_INSTRUMENT", "SAMPLES_FEW", "SAMPLES_MANY",
           "Predictions", "Request", "is_model", "library_spectra",
           "predict", "resolve", "run", "samples_for"]
