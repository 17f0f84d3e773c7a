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
from telescopeml.data.checks import (
    as_spectrum,
    clean_spectrum,
    contrast,
    der_snr_noise,
    source_of,
    with_distance,
)
from telescopeml.data.chi2 import chi2_fit
from telescopeml.data.grid import SpectralGrid
from telescopeml.data.inputs import InputEncoder
from telescopeml.data.instruments import (
    describe,
    expects,
    gap_notes,
    gaps,
    manifest_instrument,
    mismatch,
    to_resolution,
)
from telescopeml.data.scatter import node_scatter
from telescopeml.data.spectrum import ObservedSpectrum
from telescopeml.data.transforms import ParameterScaler
from telescopeml.data.units import mass_mjup, radius_rjup
from telescopeml.errors import DataError, OutOfGridError, TelescopeMLError
from telescopeml.inference.correct import correct
from telescopeml.mismatch import add_mismatch
from telescopeml.models import numpy_model
from telescopeml.models.recalibration import spectrum_snr
from telescopeml.models.torch_network import TorchNetwork
from telescopeml.prediction import Prediction
from telescopeml.vocabulary import INPUT_NOTE, INSTRUMENT_FLAG

#: Minimum fraction of the model's wavelengths an observed spectrum must cover.
MIN_COVERAGE = 0.95
#: Every flag about the instrument starts with ``empirical.INSTRUMENT_FLAG`` (it stays a flag
#: on the empirical scale, where other grid flags become notes); the tests that raise it are
#: in :mod:`telescopeml.data.instruments`.
#: Posterior mass within the outer 5% of a parameter's range that flags an edge pile-up.
EDGE_MASS = 0.5
EDGE_FRACTION = 0.05
#: Fractional per-pixel model uncertainty added in quadrature in the fit check: atmosphere
#: models do not reproduce real brown-dwarf spectra to better than a few percent, so at
#: high S/N a plain χ² would call every object a poor fit.
MODEL_SYSTEMATIC = 0.05
#: A spectrum whose log flux contrast (95th over 5th percentile) is below this fraction of
#: the least-contrasted grid spectrum's is flagged as featureless.
FEATURELESS = 0.5
#: Reduced χ² (with the model term) above which the grid spectrum is judged a poor match.
CHI2_LIMIT = 10.0
#: Samples used to draw the posterior-predictive band and the radius.
N_PREDICTIVE = 100

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

    # --- input preparation -------------------------------------------------------------
    def prepare_spectrum(self, spectrum: ObservedSpectrum) -> tuple[np.ndarray, np.ndarray]:
        """Flux and uncertainty of ``spectrum`` on the model's wavelengths (see
        :meth:`prepare`)."""
        return self.prepare(spectrum)[:2]

    def prepare(self, spectrum: ObservedSpectrum) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Flux and uncertainty of ``spectrum`` on the model's wavelengths.

        Masks absurd pixels (:func:`clean_spectrum`), checks coverage (the refusal names
        the spectrum's instrument and the model's), resamples flux-conservingly
        (uncertainties propagated), and estimates a constant uncertainty (DER_SNR, Stoehr et
        al. 2008) when none is given. Model pixels just beyond the observed edges, or inside
        a gap of the spectrum (:func:`~telescopeml.data.instruments.gaps`, which the
        resampling would bridge), take the nearest usable value with a 10x larger
        uncertainty. Smoothing to the model's resolution is :meth:`ready`'s. Returns flux,
        uncertainty and the pixels that were measured (the grid's likelihood uses only them).
        """
        spectrum = clean_spectrum(spectrum)
        covered = spectrum.coverage(self.wavelength)
        if covered < MIN_COVERAGE:
            raise DataError(
                f"the spectrum covers {covered:.0%} of the model's wavelengths, at least "
                f"{MIN_COVERAGE:.0%} is needed: this is {describe(spectrum.wavelength)}; "
                f"{expects(self.instrument)}",
                spectrum.source or spectrum.name,
            )
        if spectrum.uncertainty is None:
            noise = der_snr_noise(spectrum.flux)
            spectrum = spectrum._derive(uncertainty=np.full_like(spectrum.flux, noise))
        resampled = spectrum.resample(self.wavelength, fill=np.nan)
        flux, sigma = resampled.flux.copy(), resampled.uncertainty.copy()
        bad = ~np.isfinite(flux) | ~np.isfinite(sigma) | (sigma <= 0)
        for low, high in gaps(spectrum.wavelength):
            bad |= (self.wavelength > low) & (self.wavelength < high)
        if bad.all():
            raise DataError("no usable pixel on the model's wavelengths",
                            spectrum.source or spectrum.name)
        if bad.any():
            good = np.flatnonzero(~bad)
            nearest = good[np.abs(good[None, :] - np.flatnonzero(bad)[:, None]).argmin(axis=1)]
            flux[bad] = flux[nearest]
            sigma[bad] = 10 * np.nanmax(np.abs(sigma[good]))
        return flux, sigma, ~bad

    # --- posterior ---------------------------------------------------------------------
    def sample_posterior(self, flux: np.ndarray, sigma: np.ndarray, n_samples: int = 10000,
                         seed: int = 0) -> np.ndarray:
        """``(n_samples, n_spectra, n_params)`` posterior samples in physical units (samples
        first, as :class:`~telescopeml.models.posterior.Posterior` and the calibration
        diagnostics have them)."""
        flux, sigma = np.atleast_2d(flux), np.atleast_2d(sigma)
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

    # --- checks ------------------------------------------------------------------------
    def edge_flags(self, samples: np.ndarray) -> list[tuple[str, str]]:
        """``(parameter, message)`` for each parameter whose posterior mass piles at an edge
        of the training range."""
        flags = []
        for j, name in enumerate(self.names):
            low, high = self.ranges[name]
            span = high - low
            if span <= 0:
                continue
            at_low = np.mean(samples[:, j] <= low + EDGE_FRACTION * span)
            at_high = np.mean(samples[:, j] >= high - EDGE_FRACTION * span)
            if at_low > EDGE_MASS:
                flags.append((name, f"{name} piles at the grid's lower edge ({low:g}): "
                                    f"{_edge_hint(name, 'low')}"))
            if at_high > EDGE_MASS:
                flags.append((name, f"{name} piles at the grid's upper edge ({high:g}): "
                                    f"{_edge_hint(name, 'high')}"))
        return flags

    def instrument_flags(self, spectrum: ObservedSpectrum) -> list[str]:
        """Flags for a spectrum that is not from the instrument the model was trained for
        (:func:`~telescopeml.data.instruments.mismatch`: both are named)."""
        problem = mismatch(spectrum.wavelength, self.instrument, self.wavelength)
        return [f"{INSTRUMENT_FLAG} {problem}"] if problem else []

    def edge_limits(self, samples: np.ndarray) -> dict[str, str]:
        """``{param: "> 5.41"}`` for each parameter piling at an edge of the training range:
        the 5th percentile as a lower limit at the upper edge, the 95th as an upper limit at
        the lower edge."""
        limits = {}
        for j, name in enumerate(self.names):
            low, high = self.ranges[name]
            span = high - low
            if span <= 0:
                continue
            column = samples[:, j]
            if np.mean(column >= high - EDGE_FRACTION * span) > EDGE_MASS:
                limits[name] = f"> {np.percentile(column, 5):.4g}"
            elif np.mean(column <= low + EDGE_FRACTION * span) > EDGE_MASS:
                limits[name] = f"< {np.percentile(column, 95):.4g}"
        return limits

    def featureless(self, flux: np.ndarray, grid: SpectralGrid) -> str:
        """A flag when ``flux`` varies far less over the model's wavelengths than any grid
        spectrum does (a flat or nearly flat spectrum is no brown dwarf, whatever the
        network answers); ``""`` otherwise."""
        if self._contrast is None:
            grid_flux = np.asarray(grid.flux_array(), dtype=np.float64)
            self._contrast = float(np.min(contrast(grid_flux)))
        observed = float(contrast(np.atleast_2d(flux))[0])
        if np.log(max(observed, 1.0)) < FEATURELESS * np.log(self._contrast):
            return (f"featureless spectrum: its flux varies by a factor {observed:.2f} over the "
                    f"model's wavelengths, every grid spectrum by at least "
                    f"{self._contrast:.2f}; not a spectrum the model can describe")
        return ""

    def grid_fit(self, prediction: Prediction, seed: int = 0) -> None:
        """Fill in the best-fit grid spectrum, the predictive band and the reduced χ²."""
        grid = self.grid
        if grid is None:
            if self.grid_problem:
                prediction.flags.append(f"no grid spectrum to compare with: {self.grid_problem}")
            return
        featureless = self.featureless(prediction.observed, grid)
        if featureless:
            prediction.flags.append(featureless)
        point = _grid_point(grid, self.names, np.median(prediction.samples, axis=0))
        rng = np.random.default_rng(seed)
        picks = prediction.samples[rng.integers(0, len(prediction.samples), N_PREDICTIVE)]
        try:
            model = grid.interpolate_points(point[None])[0].astype(np.float64)
            draws = grid.interpolate_points(
                np.array([_grid_point(grid, self.names, p) for p in picks])
            ).astype(np.float64)
        except OutOfGridError as exc:
            prediction.flags.append(f"no grid spectrum to compare with: {exc}")
            return
        f, s = prediction.observed, prediction.uncertainty
        fit = chi2_fit(f, model, s, free_scale=True, model_fraction=MODEL_SYSTEMATIC)
        prediction.best_fit = fit.scale * model
        prediction.fit_parameters = dict(zip(grid.axes, point.tolist(), strict=True))
        prediction.chi2_red = float(fit.reduced_chi2)
        prediction.model_fraction = fit.model_fraction
        scales = chi2_fit(f, draws, s, free_scale=True, model_fraction=MODEL_SYSTEMATIC).scale
        prediction.band = np.percentile(draws * scales[:, None], (16, 84), axis=0)
        prediction.derived["_scale"] = scales
        if prediction.chi2_red > CHI2_LIMIT:
            prediction.flags.append(
                f"poor fit: reduced chi2 {prediction.chi2_red:.3g} > {CHI2_LIMIT:g}; the "
                "object is unlike the grid's spectra (peculiar, young, binary, or outside "
                "the grid)")

    def physical_size(self, prediction: Prediction, spectrum: ObservedSpectrum,
                      distance_pc: float, distance_err_pc: float = 0.0, seed: int = 0) -> None:
        """Radius (R_Jup) from the flux scale and distance, mass (M_Jup) from log g and radius.

        ``spectrum`` is in the model's flux unit (:meth:`ready`), so the fitted scale is
        ``(R / d)^2``. Needs a flux-calibrated spectrum; otherwise a note says why there is
        no radius.
        """
        scales = prediction.derived.get("_scale")
        why = ("the spectrum has no flux unit (not flux-calibrated)"
               if not spectrum.flux_calibrated else
               "the model records no flux unit" if not self.flux_unit else
               "no grid fit" if scales is None else
               "the model has no log g" if "logg" not in self.names else "")
        if why:
            prediction.notes.append(f"no radius or mass from the distance: {why}")
            return
        rng = np.random.default_rng(seed)
        distance = distance_pc + distance_err_pc * rng.standard_normal(scales.size)
        radius = radius_rjup(scales, distance)
        logg = prediction.samples[rng.integers(0, len(prediction.samples), scales.size),
                                  self.names.index("logg")]
        prediction.derived["radius_rjup"] = radius
        prediction.derived["mass_mjup"] = mass_mjup(logg, radius)
        prediction.notes.append(
            f"radius from the grid fit's flux scale at {distance_pc:g} ± {distance_err_pc:g} pc; "
            "mass from log g and that radius")


    # --- the whole path ------------------------------------------------------------------
    def predict(self, spectrum: ObservedSpectrum | str | Path, n_samples: int = 10000,
                distance_pc: float | None = None, distance_err_pc: float = 0.0,
                seed: int = 0, smooth: bool | None = None) -> Prediction:
        """Read (if a path or a library name), check, convert to the model's flux unit and
        resolution (``smooth``, default :attr:`smooth`: see :meth:`ready`), resample,
        sample the posterior and check the fit; with ``distance_pc`` (or a
        ``meta["distance"]`` on the spectrum, see :func:`~telescopeml.data.checks.with_distance`)
        also the radius and mass."""
        spectrum = self.ready(spectrum, smooth)
        if distance_pc:
            spectrum = with_distance(spectrum, distance_pc, distance_err_pc)
        flux, sigma, good = self.prepare(spectrum)
        samples = self.sample_posterior(flux, sigma, n_samples, seed)[:, 0]
        prediction = self._finish(spectrum, flux, sigma, good, samples, seed)
        prediction.derived.pop("_scale", None)
        return prediction

    def predict_many(self, spectra: list[ObservedSpectrum | str | Path], n_samples: int = 2000,
                     seed: int = 0, smooth: bool | None = None
                     ) -> list[Prediction | TelescopeMLError]:
        """:meth:`predict` for many spectra, the network run once for all of them.

        Returns one entry per spectrum, in order: its Prediction, or the error that stopped
        it (unreadable file, too little coverage, ...), so that one bad file costs nothing
        but itself.
        """
        results: list[Prediction | TelescopeMLError | None] = []
        ready: list[tuple[int, ObservedSpectrum, np.ndarray, np.ndarray, np.ndarray]] = []
        for spectrum in spectra:
            try:
                spectrum = self.ready(spectrum, smooth)
                ready.append((len(results), spectrum, *self.prepare(spectrum)))
                results.append(None)  # filled in below
            except TelescopeMLError as exc:
                results.append(exc)
            except (ValueError, ArithmeticError, IndexError, OSError) as exc:
                results.append(DataError(f"cannot be prepared ({type(exc).__name__}: {exc})",
                                         source_of(spectrum)))
        if ready:
            samples = self.sample_posterior(np.stack([r[2] for r in ready]),
                                            np.stack([r[3] for r in ready]), n_samples, seed)
            for (index, spectrum, flux, sigma, good), draws in zip(
                    ready, samples.transpose(1, 0, 2), strict=True):
                try:
                    prediction = self._finish(spectrum, flux, sigma, good, draws, seed)
                except TelescopeMLError as exc:
                    results[index] = exc
                    continue
                prediction.derived.pop("_scale", None)
                results[index] = prediction
        return results

    def _finish(self, spectrum: ObservedSpectrum, flux: np.ndarray, sigma: np.ndarray,
                good: np.ndarray, samples: np.ndarray, seed: int) -> Prediction:
        """The Prediction of one spectrum from the network's samples: the grid's posterior
        (unless :attr:`fast`), flags, notes, fit."""
        if not np.all(np.isfinite(samples)):
            raise DataError("the network gave non-finite values for this spectrum (extreme "
                            "or unusual input); no answer", spectrum.name or str(spectrum.source))
        samples, sampling, notes, flags = self._correct(flux, sigma, good, samples, seed)
        prediction = Prediction(
            source=spectrum.name or str(spectrum.source),
            names=self.names,
            samples=samples,
            wavelength=self.wavelength,
            observed=flux,
            uncertainty=sigma,
            name=spectrum.name,
            file=str(spectrum.meta.get("library_file") or spectrum.meta.get("path") or ""),
            spectral_type=str(spectrum.meta.get("spectral_type") or ""),
        )
        prediction.sampling = sampling
        prediction.notes += [f"{INPUT_NOTE}{n}" for n in spectrum.meta.get("input_notes", [])]
        prediction.notes += notes
        prediction.flags += flags
        if spectrum.uncertainty is None and not spectrum.meta.get("input_notes"):
            prediction.notes.append("no uncertainties in the file; estimated from the "
                                    "pixel-to-pixel scatter (DER_SNR)")
        # Teff at an edge means the object is likely outside the grid; log g, [M/H] or
        # clouds at an edge are common for real objects whose Teff is well inside it.
        for name, message in self.edge_flags(samples):
            (prediction.flags if name == "teff" else prediction.notes).append(message)
        prediction.limits = self.edge_limits(samples)
        if self.encoder.extra == "absolute-fnu":
            prediction.notes.append(
                "this model also reads the absolute flux level (TelescopeML's preprocessing): "
                "its answer assumes the spectrum is a surface flux in the grid's units, i.e. "
                "already scaled by (distance / radius)^2")
        prediction.flags += self.instrument_flags(spectrum)
        prediction.model = self.path.name
        self.grid_fit(prediction, seed)
        if spectrum.meta.get("distance"):
            self.physical_size(prediction, spectrum, *spectrum.meta["distance"], seed=seed)
        add_mismatch(prediction, self.manifest.get("mismatch"), seed)
        return prediction

    def _correct(self, flux: np.ndarray, sigma: np.ndarray, good: np.ndarray,
                 samples: np.ndarray, seed: int
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
        result = correct(grid, self.names, flux, sigma, good, samples, self._scatter,
                         len(samples), seed)
        if result.samples is None:
            return samples, result.sampling(), [result.reason], []
        return result.samples, result.sampling(), result.notes, result.flags

    def ready(self, spectrum: ObservedSpectrum | str | Path | Any,
              smooth: bool | None = None) -> ObservedSpectrum:
        """``spectrum`` read, cleaned (:func:`~telescopeml.data.checks.clean_spectrum`) and
        in the model's flux unit and resolution, what was done said in
        ``meta["input_notes"]``.

        The flux is converted pixel by pixel (astropy's ``spectral_density``) when it has
        a flux unit, and taken to be in the model's unit, with a note, when it has none.
        With ``smooth`` (default :attr:`smooth`) a spectrum clearly sharper than the model
        is convolved to its resolution, uncertainties unchanged
        (:func:`~telescopeml.data.instruments.to_resolution` says why). Gaps of the
        spectrum inside the model's wavelengths get a note (:meth:`prepare_spectrum`
        masks them).
        """
        spectrum = clean_spectrum(as_spectrum(spectrum))
        notes = list(spectrum.meta.get("input_notes", []))
        if self.flux_unit and spectrum.flux_calibrated:
            spectrum = spectrum.in_flux_unit(self.flux_unit)
        elif self.flux_unit:
            notes.append(f"no flux unit: the flux is taken to be a flux density per wavelength "
                         f"(F_lambda, as the model's {self.flux_unit}); give the unit of F_nu "
                         "data (e.g. Jy), or the spectrum's shape is misread")
        if self.smooth if smooth is None else smooth:
            spectrum, note = to_resolution(spectrum, self.instrument, self.wavelength)
            notes += [note] if note else []
        notes += gap_notes(spectrum.wavelength, self.wavelength)
        notes = list(dict.fromkeys(notes))  # ready() twice adds nothing
        return spectrum._derive(meta={**spectrum.meta, "input_notes": notes})


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


def _grid_point(grid: SpectralGrid, names: list[str], values: np.ndarray) -> np.ndarray:
    """A point in the grid's axes: targets from ``values`` (clipped to the grid), other
    axes at their median node."""
    point = []
    for axis in grid.axes:
        nodes = grid.axis_values(axis)
        if axis in names:
            point.append(float(np.clip(values[names.index(axis)], nodes[0], nodes[-1])))
        else:
            point.append(float(nodes[len(nodes) // 2]))
    return np.array(point)


def _edge_hint(name: str, side: str) -> str:
    hints = {
        ("teff", "low"): "the object is likely colder than the grid",
        ("teff", "high"): "the object is likely hotter than the grid",
        ("logg", "low"): "low surface gravity: possibly young, or outside the grid",
        ("logg", "high"): "surface gravity at the grid's maximum: possibly old or "
                          "metal-poor, or outside the grid",
    }
    return hints.get((name, side), "the true value may lie outside the grid")
