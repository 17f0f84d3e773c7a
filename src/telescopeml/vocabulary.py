"""Words every output shares: the two scales of an answer and the prefixes of its flags.

They were in :mod:`telescopeml.empirical`, which made every module that names a scale import
the empirical layer (and the prediction modules import it back for types). They sit at the
base of the package now: this module imports nothing else of it. Parameter units, labels and
precision are in :mod:`telescopeml.parameters`.
"""

from __future__ import annotations

#: The two scales every output names.
SCALE_GRID = "atmosphere grid"
SCALE_EMPIRICAL = "empirical"
#: What ``telescopeml predict --scale`` accepts: ``auto`` is whichever of the two was more
#: accurate on the dev benchmark.
SCALES = ("auto", "empirical", "grid")
SCALE_DESCRIPTION = {
    SCALE_GRID: "atmosphere-grid parameters (what the model spectra need to fit the data)",
    SCALE_EMPIRICAL: "empirical scale (Teff from bolometric luminosity and evolutionary "
                     "radius, log g from evolutionary models; learned on real SpeX spectra)",
}
#: Start of a grid model's flag about the instrument (see ``predict.instrument_flags``); it
#: stays a flag on the empirical scale, where other grid flags become notes.
INSTRUMENT_FLAG = "another instrument?"
#: Start of a note about the input spectrum itself (masked pixels...), kept on every scale.
INPUT_NOTE = "input: "


def describe(scale: str) -> str:
    """One line naming a scale for terminal output."""
    return SCALE_DESCRIPTION.get(scale, scale)


__all__ = ["INPUT_NOTE", "INSTRUMENT_FLAG", "SCALES", "SCALE_DESCRIPTION", "SCALE_EMPIRICAL",
           "SCALE_GRID", "describe"]
