"""Predictor: a trained bundle applied to observed spectra, with posteriors and fit checks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from telescopeml.bundle import (
    load_bundle,
    model_config,
    posterior_recalibration,
    posterior_spread,
    read_manifest,
    read_weights,
)
from telescopeml.data.checks import clean_spectrum, source_of, with_distance
from telescopeml.data.grid import SpectralGrid
from telescopeml.data.inputs import InputEncoder
from telescopeml.data.instruments import manifest_instrument
from telescopeml.data.scatter import node_scatter
from telescopeml.data.spectrum import ObservedSpectrum
from telescopeml.data.transforms import ParameterScaler
from telescopeml.errors import DataError, OutOfGridError, TelescopeMLError
from telescopeml.inference.correct import correct
from telescopeml.inference.diagnostics import (
    GridFit,
    edge_limit,
    edge_message,
    edges,
    featureless,
    grid_contrast,
    grid_fit,
    physical_size,
)
from telescopeml.inference.prepare import (
    ModelPixels,
    Prepared,
    instrument_flags,
    on_model_pixels,
    prepare,
    ready,
)
from telescopeml.mismatch import add_mismatch
from telescopeml.models import numpy_model
from telescopeml.models.recalibration import spectrum_snr
from telescopeml.models.torch_network import TorchNetwork
from telescopeml.prediction import Prediction
from telescopeml.vocabulary import INPUT_NOTE

#: How a Predictor runs the network: ``numpy`` (no PyTorch import; hybrid and MLP models),
#: ``torch``, or ``auto`` (numpy where it can).
ENGINES = ("auto", "numpy", "torch")


class Predictor:
    """A trained model bundle, ready to read observed spectra.

    Parameters
    ----------
    bundle
        A model directory (``manifest.json`` + ``model.safetensors``).
    grid
        The grid used for the goodness-of-fit check; by default the bundle's own grid,
        loaded from the cache and resampled to the model's wavelengths. ``False`` skips
        the check.
    engine
        One of :data:`ENGINES`. The NumPy engine computes the same posterior as the torch
        model without importing PyTorch, which alone takes longer than a whole prediction.
    smooth
        Smooth spectra sharper than the model's resolution to it (:meth:`ready`); the
        default of :meth:`predict` and :meth:`predict_many`.
    fast
        Keep the network's answer (for surveys). By default the network's samples only
        propose: the answer is the grid's own posterior (:mod:`telescopeml.inference.
        correct`), wherever the grid is at hand.
    """

    def __init__(self, bundle: str | Path, grid: SpectralGrid | bool | None = None,
                 engine: str = "auto", smooth: bool = True, fast: bool = False) -> None:
        if engine not in ENGINES:
            raise ValueError(f"engine must be one of {ENGINES}, got {engine!r}")
        self.path = Path(bundle)
        self.manifest = read_manifest(self.path)
        self.config = model_config(self.manifest, self.path)
        self._model: Any = None
        self.smooth = smooth
        self.fast = fast
        self._scatter: np.ndarray | bool | None = False
        try:
            self._read_bundle(engine)
        except TelescopeMLError:
            raise
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise DataError(f"inconsistent bundle: the manifest does not fit the weights or "
                            f"itself ({type(exc).__name__}: {exc})", self.path) from None
        self._grid = grid if isinstance(grid, SpectralGrid) else None
        self._use_grid = grid is not False
        #: Why the bundle's grid was not loaded for the fit check ("" when it was).
        self.grid_problem = ""
        self._contrast: float | None = None

    def _read_bundle(self, engine: str) -> None:
        """Network, transforms, names and ranges from the bundle, checked against each other
        and against the weights (one tiny forward pass), for every engine."""
        if engine == "torch" or (engine == "auto" and not numpy_model.supports(self.config)):
            self.network: numpy_model.NumpyModel | TorchNetwork = TorchNetwork(self.model)
        else:
            numpy_model.check_zuko(self.manifest, self.path)
            self.network = numpy_model.NumpyModel(
                self.config, read_weights(self.path, self.manifest),
                posterior_spread(self.manifest, self.path),
                posterior_recalibration(self.manifest, self.path))
        self.wavelength = np.asarray(self.manifest["wavelength"], dtype=np.float64)
        transforms = self.manifest["transforms"]
        self.encoder = InputEncoder.from_dict(transforms["encoder"], self.wavelength)
        self.scaler = ParameterScaler.from_dict(transforms["parameters"])
        self.names: list[str] = list(self.manifest["parameters"]["names"])
        self.ranges = {k: tuple(v) for k, v in self.manifest["parameters"]["ranges"].items()}
        #: What the grid covers (a single model's ranges; the protocol's ``grid_ranges``).
        self.grid_ranges = self.ranges
        self.flux_unit: str = self.manifest.get("flux_unit", "")
        #: The instrument the model was trained for (:func:`~telescopeml.data.instruments.
        #: instrument_record`), derived for bundles that do not record it.
        self.instrument = manifest_instrument(self.manifest)
        #: What the model expects of a spectrum (:mod:`telescopeml.inference.prepare`).
        self.pixels = ModelPixels(self.wavelength, self.instrument, self.flux_unit)
        problems = []
        if self.wavelength.ndim != 1 or self.wavelength.size != self.config.n_wavelengths:
            problems.append(f"{self.wavelength.size} wavelengths for a network of "
                            f"{self.config.n_wavelengths}")
        if not self.names or len(self.names) != self.config.n_outputs:
            problems.append(f"{len(self.names)} parameter names for a network of "
                            f"{self.config.n_outputs} outputs")
        missing = [n for n in self.names if len(self.ranges.get(n, ())) != 2]
        if missing:
            problems.append(f"no range for {', '.join(missing)}")
        if problems:
            raise DataError("inconsistent bundle: " + "; ".join(problems), self.path)
        flux = np.ones((1, self.wavelength.size))
        x, extra = self.encoder.encode(flux, 0.01 * flux)
        extra = extra if self.config.n_extra else None
        if self.config.head == "flow":
            self.network.sample(x, extra, 2, np.random.default_rng(0),
                                spectrum_snr(flux, 0.01 * flux))
        else:
            self.network.embed(x, extra)

    @property
    def model(self) -> Any:
        """The bundle's torch model (loaded on first use; the NumPy engine does not need it)."""
        if self._model is None:
            self._model = load_bundle(self.path).model
        return self._model

    @property
    def grid(self) -> SpectralGrid | None:
        """The model grid on the model's wavelengths (loaded on first use)."""
        if self._grid is None and self._use_grid:
            from telescopeml.data.prepared import config_grid

            data = self.manifest["training"]["config"]["data"]
            refused = _unsafe_grid_name(data["grid"])
            if refused:
                self._use_grid, self.grid_problem = False, refused
                return None
            grid = config_grid(data, quiet=True)
            same = grid.n_wavelengths == self.wavelength.size and np.allclose(
                grid.wavelength, self.wavelength)
            self._grid = grid if same else grid.resample(self.wavelength)
        return self._grid

    # --- the stages, one call each -------------------------------------------------------
    def ready(self, spectrum: ObservedSpectrum | str | Path | Any,
              smooth: bool | None = None) -> ObservedSpectrum:
        """``spectrum`` read, cleaned and in the model's flux unit and resolution
        (:func:`telescopeml.inference.prepare.ready`; ``smooth`` defaults to
        :attr:`smooth`)."""
        return ready(spectrum, self.pixels, self.smooth if smooth is None else smooth)

    def prepare(self, spectrum: ObservedSpectrum) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Flux, uncertainty and measured pixels of a :meth:`ready` spectrum on the model's
        wavelengths (:func:`telescopeml.inference.prepare.on_model_pixels`)."""
        return on_model_pixels(clean_spectrum(spectrum), self.pixels)

    def prepare_spectrum(self, spectrum: ObservedSpectrum) -> tuple[np.ndarray, np.ndarray]:
        """Flux and uncertainty of ``spectrum`` on the model's wavelengths (:meth:`prepare`)."""
        return self.prepare(spectrum)[:2]

    def instrument_flags(self, spectrum: ObservedSpectrum) -> list[str]:
        """A flag when ``spectrum`` is not from the instrument the model was made for."""
        return instrument_flags(spectrum, self.pixels)

    def sample_posterior(self, flux: np.ndarray, sigma: np.ndarray, n_samples: int = 10000,
                         seed: int = 0) -> np.ndarray:
        """The network's ``(n_samples, n_spectra, n_params)`` posterior samples in physical
        units (samples first, as :class:`~telescopeml.models.posterior.Posterior` and the
        calibration diagnostics have them)."""
        flux, sigma = np.atleast_2d(flux), np.atleast_2d(sigma)
        if self.encoder.extra != "absolute-fnu":  # the network reads shapes: any flux scale
            level = np.median(np.abs(flux), axis=1, keepdims=True)
            level = np.where(level > 0, level, 1.0)
            flux, sigma = flux / level, sigma / level
        x, extra = self.encoder.encode(flux, sigma)
        extra = extra if self.config.n_extra else None
        rng = np.random.default_rng(seed)
        if self.config.head == "flow":
            snr = spectrum_snr(flux, sigma)
            scaled = self.network.sample(x, extra, n_samples, rng, snr)
        elif self.config.head == "gaussian":
            out = self.network.embed(x, extra)
            k = len(self.names)
            mean, log_sigma = out[:, :k], out[:, k:2 * k]
            noise = rng.standard_normal((len(x), n_samples, k), dtype=np.float32)
            scaled = (mean[:, None] + noise * np.exp(log_sigma)[:, None]).transpose(1, 0, 2)
        else:
            scaled = self._noise_resampled(flux, sigma, n_samples, rng).transpose(1, 0, 2)
        physical = self.scaler.inverse_transform(scaled.reshape(-1, scaled.shape[-1]))
        return physical.reshape(n_samples, len(x), -1)

    def _noise_resampled(self, flux: np.ndarray, sigma: np.ndarray, n_samples: int,
                         rng: np.random.Generator) -> np.ndarray:
        """Point-estimate models: the spread of predictions over noisy copies of the input
        (TelescopeML's approach; not a calibrated posterior)."""
        draws = min(n_samples, 500)
        out = []
        for f, s in zip(flux, sigma, strict=True):
            noisy = f + rng.standard_normal((draws, f.size)) * s
            x, extra = self.encoder.encode(noisy, np.broadcast_to(s, noisy.shape))
            pred = self.network.embed(x, extra if self.config.n_extra else None)
            out.append(pred[rng.integers(0, draws, n_samples)])
        return np.stack(out)

    def physical_size(self, prediction: Prediction, spectrum: ObservedSpectrum,
                      scales: np.ndarray | None, distance_pc: float,
                      distance_err_pc: float = 0.0, seed: int = 0) -> None:
        """Radius (R_Jup) and mass (M_Jup) into ``prediction.derived`` from the grid fit's
        flux ``scales`` (``(R / d)^2``: ``spectrum`` is in the model's flux unit) and the
        distance; a note says why there is none (not flux-calibrated, no fit, no log g)."""
        why = ("the spectrum has no flux unit (not flux-calibrated)"
               if not spectrum.flux_calibrated else
               "the flux is normalized (no absolute scale)"
               if spectrum.meta.get("flux_normalized") else
               "the model records no flux unit" if not self.flux_unit else
               "no grid fit" if scales is None else
               "the model has no log g" if "logg" not in self.names else "")
        if why:
            prediction.notes.append(f"no radius or mass from the distance: {why}")
            return
        logg = prediction.samples[:, self.names.index("logg")]
        radius, mass = physical_size(scales, logg, distance_pc, distance_err_pc, seed)
        prediction.derived["radius_rjup"], prediction.derived["mass_mjup"] = radius, mass
        prediction.notes.append(
            f"radius from the grid fit's flux scale at {distance_pc:g} ± {distance_err_pc:g} pc; "
            "mass from log g and that radius")

    # --- the whole path ------------------------------------------------------------------
    def predict(self, spectrum: ObservedSpectrum | str | Path, n_samples: int = 10000,
                distance_pc: float | None = None, distance_err_pc: float = 0.0,
                seed: int = 0, smooth: bool | None = None) -> Prediction:
        """The :class:`~telescopeml.prediction.Prediction` of one spectrum (a spectrum, a
        path or a library name): prepared (``smooth``, default :attr:`smooth`: see
        :meth:`ready`), the network's samples, the grid's posterior (unless :attr:`fast`),
        the diagnostics; with ``distance_pc`` (or a ``meta["distance"]`` on the spectrum, see
        :func:`~telescopeml.data.checks.with_distance`) also the radius and mass."""
        prepared = prepare(spectrum, self.pixels, self.smooth if smooth is None else smooth)
        if distance_pc:
            prepared.spectrum = with_distance(prepared.spectrum, distance_pc, distance_err_pc)
        samples = self.sample_posterior(prepared.flux, prepared.sigma, n_samples, seed)[:, 0]
        return self._finish(prepared, samples, seed)

    def predict_many(self, spectra: list[ObservedSpectrum | str | Path], n_samples: int = 2000,
                     seed: int = 0, smooth: bool | None = None
                     ) -> list[Prediction | TelescopeMLError]:
        """:meth:`predict` for many spectra, the network run once for all of them.

        Returns one entry per spectrum, in order: its Prediction, or the error that stopped
        it (unreadable file, too little coverage, ...), so that one bad file costs nothing
        but itself.
        """
        return self.finish_many(self.prepare_many(spectra, smooth), n_samples, seed)

    def prepare_many(self, spectra: list[ObservedSpectrum | str | Path],
                     smooth: bool | None = None) -> list[Prepared | TelescopeMLError]:
        """Each spectrum prepared for this model (:func:`~telescopeml.inference.prepare.
        prepare`), or the error that stopped it."""
        smooth = self.smooth if smooth is None else smooth
        out: list[Prepared | TelescopeMLError] = []
        for spectrum in spectra:
            try:
                out.append(prepare(spectrum, self.pixels, smooth))
            except TelescopeMLError as exc:
                out.append(exc)
            except (ValueError, ArithmeticError, IndexError, OSError) as exc:
                out.append(DataError(f"cannot be prepared ({type(exc).__name__}: {exc})",
                                     source_of(spectrum)))
        return out

    def finish_many(self, prepared: list[Prepared | TelescopeMLError], n_samples: int = 2000,
                    seed: int = 0) -> list[Prediction | TelescopeMLError]:
        """The Prediction of each :meth:`prepare_many` result (errors pass through): the
        network run once for all, then the later stages per spectrum."""
        results: list[Prediction | TelescopeMLError] = list(prepared)
        ready = [(i, p) for i, p in enumerate(prepared) if isinstance(p, Prepared)]
        if ready:
            samples = self.sample_posterior(np.stack([p.flux for _, p in ready]),
                                            np.stack([p.sigma for _, p in ready]),
                                            n_samples, seed)
            for (index, item), draws in zip(ready, samples.transpose(1, 0, 2), strict=True):
                try:
                    results[index] = self._finish(item, draws, seed)
                except TelescopeMLError as exc:
                    results[index] = exc
        return results

    def _finish(self, prepared: Prepared, samples: np.ndarray, seed: int) -> Prediction:
        """The Prediction of one prepared spectrum from the network's samples: the grid's
        posterior (unless :attr:`fast`), then each diagnostic once."""
        spectrum = prepared.spectrum
        if not np.all(np.isfinite(samples)):
            raise DataError("the network gave non-finite values for this spectrum (extreme "
                            "or unusual input); no answer", spectrum.name or str(spectrum.source))
        samples, sampling, notes, flags = self._correct(prepared, samples, seed)
        prediction = Prediction(
            source=spectrum.name or str(spectrum.source),
            names=self.names,
            samples=samples,
            wavelength=self.wavelength,
            observed=prepared.flux,
            uncertainty=prepared.sigma,
            name=spectrum.name,
            file=str(spectrum.meta.get("library_file") or spectrum.meta.get("path") or ""),
            spectral_type=str(spectrum.meta.get("spectral_type") or ""),
        )
        prediction.sampling = sampling
        prediction.notes += [f"{INPUT_NOTE}{n}" for n in spectrum.meta.get("input_notes", [])]
        prediction.notes += notes
        prediction.flags += flags
        if spectrum.uncertainty is None and not any("DER_SNR" in n for n in prediction.notes):
            prediction.notes.append("no uncertainties in the file; estimated from the "
                                    "pixel-to-pixel scatter (DER_SNR)")
        # Teff at an edge means the object is likely outside the grid; log g, [M/H] or
        # clouds at an edge are common for real objects whose Teff is well inside it.
        piled = edges(samples, self.names, self.ranges)
        for name, side in piled.items():
            message = edge_message(name, side, self.ranges)
            (prediction.flags if name == "teff" else prediction.notes).append(message)
        prediction.limits = {name: edge_limit(samples[:, self.names.index(name)], side)
                             for name, side in piled.items()}
        if self.encoder.extra == "absolute-fnu":
            prediction.notes.append(
                "this model also reads the absolute flux level (TelescopeML's preprocessing): "
                "its answer assumes the spectrum is a surface flux in the grid's units, i.e. "
                "already scaled by (distance / radius)^2")
        prediction.flags += prepared.flags
        prediction.model = self.path.name
        from telescopeml.data.classification import classify_observed

        prediction.classification = classify_observed(spectrum)
        fit = self._grid_fit(prediction, seed)
        if spectrum.meta.get("distance"):
            self.physical_size(prediction, spectrum, None if fit is None else fit.scales,
                               *spectrum.meta["distance"], seed=seed)
        add_mismatch(prediction, self.manifest.get("mismatch"), seed)
        return prediction

    def _correct(self, prepared: Prepared, samples: np.ndarray, seed: int
                 ) -> tuple[np.ndarray, dict, list[str], list[str]]:
        """The grid's posterior proposed by the network's ``samples`` (:mod:`telescopeml.
        inference.correct`), or (``fast``, or no grid) the network's samples clipped to
        the grid's box: no answer lies outside it."""
        low, high = (np.array([self.ranges[n][i] for n in self.names]) for i in (0, 1))
        network_median = np.median(samples, axis=0).tolist()
        samples = np.clip(samples, low, high)
        grid = None if self.fast else self.grid
        if grid is None:
            why = "--fast" if self.fast else (self.grid_problem or "no grid")
            # the unclipped medians: empirical layers fitted on network answers read them
            return samples, {"method": "network", "describe": f"network only ({why})",
                             "network_median": network_median}, [], []
        if self._scatter is False:
            self._scatter = node_scatter(grid)
        result = correct(grid, self.names, prepared.flux, prepared.sigma, prepared.good,
                         samples, self._scatter, len(samples), seed)
        if result.samples is None:
            return samples, result.sampling(), [result.reason], []
        return result.samples, result.sampling(), result.notes, result.flags

    def _grid_fit(self, prediction: Prediction, seed: int) -> GridFit | None:
        """The best-fit grid spectrum, predictive band and reduced χ² into ``prediction``
        (:func:`~telescopeml.inference.diagnostics.grid_fit`), with the featureless and
        poor-fit flags; None (and a flag saying why) without a grid spectrum."""
        grid = self.grid
        if grid is None:
            if self.grid_problem:
                prediction.flags.append(f"no grid spectrum to compare with: {self.grid_problem}")
            return None
        if self._contrast is None:
            self._contrast = grid_contrast(grid)
        flag = featureless(prediction.observed, self._contrast)
        prediction.flags += [flag] if flag else []
        try:
            fit = grid_fit(grid, self.names, prediction.samples, prediction.observed,
                           prediction.uncertainty, seed)
        except OutOfGridError as exc:
            prediction.flags.append(f"no grid spectrum to compare with: {exc}")
            return None
        prediction.best_fit, prediction.fit_parameters = fit.model, fit.point
        prediction.chi2_red, prediction.model_fraction = fit.chi2_red, fit.model_fraction
        prediction.band = fit.band
        prediction.flags += [fit.poor] if fit.poor else []
        return fit


def _unsafe_grid_name(name: str) -> str:
    """Why a bundle's grid name must not be opened ("" when it may): only registered grids,
    grid directories and files that a registered grid format claims by name
    (:func:`~telescopeml.data.formats.is_grid_path`; a manifest is not trusted to name any
    local file)."""
    from telescopeml.data.formats import grid_patterns, grid_suffixes, is_grid_path
    from telescopeml.data.sources import REGISTRY

    if name in REGISTRY or is_grid_path(name):
        return ""
    names = ", ".join([*grid_suffixes(), *grid_patterns()])
    return (f"the bundle names its grid {name!r}, neither a registered grid nor a grid file "
            f"({names} or a directory); pass the grid explicitly")
