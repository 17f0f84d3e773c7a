"""Sky positions read from ``J``-coordinate names (``2MASS J05395200-0059019``).

A designation truncates the object's position to the digits it shows, so
``J0539-0059`` stands for a box (RA 05h39m-05h40m, Dec -00°59'..-01°00'), and
``J05395199-00590189`` for a box 0.01 s by 0.01" wide. Two positions are the same object
when their boxes lie within :data:`TOLERANCE_ARCSEC` of each other; anything further apart
is a different object, however alike the names look.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

#: How far apart (arcsec) two designations' boxes may be and still name one object: the
#: astrometry of different surveys (2MASS, SDSS, DENIS) agrees to about an arcsecond.
TOLERANCE_ARCSEC = 2.0

_PATTERN = re.compile(r"J(\d{4,}(?:\.\d+)?)\s*([+-])(\d{4,}(?:\.\d+)?)")


@dataclass(frozen=True)
class Position:
    """The box a designation stands for: RA in seconds of time, Dec in arcsec (signed);
    ``ra_step`` and ``dec_step`` are the widths its last digits give."""

    ra: float
    dec: float
    ra_step: float
    dec_step: float

    @property
    def center(self) -> tuple[float, float]:
        """RA (s) and Dec (arcsec) of the box's centre."""
        return self.ra + self.ra_step / 2, self.dec + self.dec_step / 2

    def gap(self, other: Position) -> float:
        """Angular distance (arcsec) between the two boxes, 0 where they overlap."""
        cos_dec = math.cos(math.radians(self.center[1] / 3600))
        ra_gap = min(_interval_gap(self.ra, self.ra_step, other.ra + shift, other.ra_step)
                     for shift in (-86400.0, 0.0, 86400.0))
        dec_gap = _interval_gap(self.dec, self.dec_step, other.dec, other.dec_step)
        return math.hypot(15.0 * ra_gap * cos_dec, dec_gap)

    def distance(self, other: Position) -> float:
        """Angular distance (arcsec) between the boxes' centres."""
        (ra1, dec1), (ra2, dec2) = self.center, other.center
        ra_diff = (ra1 - ra2 + 43200.0) % 86400.0 - 43200.0
        return math.hypot(15.0 * ra_diff * math.cos(math.radians(dec1 / 3600)), dec1 - dec2)

    def matches(self, other: Position) -> bool:
        """Whether the two can be one object (boxes within :data:`TOLERANCE_ARCSEC`)."""
        return self.gap(other) <= TOLERANCE_ARCSEC


def _interval_gap(start1: float, width1: float, start2: float, width2: float) -> float:
    return max(0.0, start2 - (start1 + width1), start1 - (start2 + width2))


def _sexagesimal(digits: str, top: float) -> tuple[float, float] | None:
    """``hhmmss.ss`` (or ``ddmmss.s``, ``hhmm.m``) as units of the smallest place
    (seconds) and the width of its last digit; None if out of range."""
    whole, _, fraction = digits.partition(".")
    if len(whole) not in (4, 5, 6) and not (len(whole) > 6 and not fraction):
        return None
    if len(whole) > 6:  # splat writes J05395199-00590189: the decimals without a point
        whole, fraction = whole[:6], whole[6:]
    big, minutes = int(whole[:2]), int(whole[2:4])
    if big >= top or minutes >= 60:
        return None
    if len(whole) == 4:  # hhmm[.m]: the fraction is of a minute
        step = 60.0 * 10.0 ** -len(fraction)
        value = 3600.0 * big + 60.0 * minutes + (60.0 * int(fraction) * 10.0 ** -len(fraction)
                                                 if fraction else 0.0)
        return value, step
    seconds_text = whole[4:]
    if len(seconds_text) == 1:  # hhmm + tens of seconds
        return 3600.0 * big + 60.0 * minutes + 10.0 * int(seconds_text), 10.0
    seconds = float(f"{seconds_text}.{fraction}" if fraction else seconds_text)
    if seconds >= 60:
        return None
    return 3600.0 * big + 60.0 * minutes + seconds, 10.0 ** -len(fraction)


def position(text: str) -> Position | None:
    """The position a name's ``J``-coordinates give, or None (no coordinates, digits out of
    range, or the placeholder ``J0000000+000000`` that some catalogues give objects without
    a position, such as Saturn)."""
    match = _PATTERN.search(text.upper())
    if not match:
        return None
    ra = _sexagesimal(match.group(1), 24)
    dec = _sexagesimal(match.group(3), 90)
    if ra is None or dec is None or (ra[0] == 0 and dec[0] == 0):
        return None
    sign = -1.0 if match.group(2) == "-" else 1.0
    dec_low = dec[0] if sign > 0 else -(dec[0] + dec[1])
    return Position(ra=ra[0], dec=dec_low, ra_step=ra[1], dec_step=dec[1])


def describe_distance(arcsec: float) -> str:
    """``0.4"``, ``12"``, ``3.1'`` or ``2.0°``: a separation for a message."""
    if arcsec < 10:
        return f'{arcsec:.1f}"'
    if arcsec < 600:
        return f'{arcsec:.0f}"'
    if arcsec < 36000:
        return f"{arcsec / 60:.1f}'"
    return f"{arcsec / 3600:.1f}°"
