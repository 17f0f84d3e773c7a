"""The prediction pipeline's stages, in the order a spectrum takes them.

:mod:`~telescopeml.inference.request` (what a user asks for) → :mod:`~telescopeml.inference.
prepare` (read, check and clean once, onto the model's pixels) → the network's samples
(:meth:`telescopeml.predict.Predictor.sample_posterior`) → :mod:`~telescopeml.inference.
correct` (the grid's own posterior: :mod:`~telescopeml.inference.likelihood`,
:mod:`~telescopeml.inference.sampling`) → :mod:`~telescopeml.inference.diagnostics` (edges,
grid fit, radius) → :class:`~telescopeml.prediction.Prediction`;
:mod:`~telescopeml.inference.batch` runs it over files and
:mod:`~telescopeml.inference.protocol` is what every predictor satisfies.
"""
