"""What a long job tells its user: one line per stage as it starts, and how long each took.

A stage longer than a couple of seconds that has no progress bar of its own runs inside
:func:`stage`, which prints ``"<what it does> ..."`` to stderr when it starts. Inside
:func:`record_stages` every stage also records its duration, nested stages under the stage
that runs them, for :func:`stage_summary` (the demo prints it at the end).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

__all__ = ["Stage", "record_stages", "stage", "stage_summary"]


@dataclass
class Stage:
    """A finished stage: what it did, its nesting depth (0 at the top) and its seconds."""

    what: str
    depth: int
    seconds: float


#: The stages recorded by the innermost :func:`record_stages`, or None outside one.
_RECORD: ContextVar[list[Stage] | None] = ContextVar("telescopeml_stages", default=None)
_DEPTH: ContextVar[int] = ContextVar("telescopeml_stage_depth", default=0)


@contextmanager
def stage(what: str, show: bool = True) -> Iterator[None]:
    """Run a stage: print ``what ...`` to stderr if ``show``, record its duration.

    ``what`` names what the stage does, in the words a user reads ("fitting the
    random-forest baseline on 5760 spectra").
    """
    if show:
        print(f"{what} ...", file=sys.stderr, flush=True)
    depth = _DEPTH.get()
    record = _RECORD.get()
    entry = Stage(what, depth, 0.0)
    if record is not None:
        record.append(entry)  # in starting order: a stage is listed before those it runs
    token = _DEPTH.set(depth + 1)
    start = time.perf_counter()
    try:
        yield
    finally:
        entry.seconds = time.perf_counter() - start
        _DEPTH.reset(token)


@contextmanager
def record_stages() -> Iterator[list[Stage]]:
    """Collect the :class:`Stage` of every :func:`stage` run inside the block, in order."""
    record: list[Stage] = []
    token = _RECORD.set(record)
    depth = _DEPTH.set(0)
    try:
        yield record
    finally:
        _DEPTH.reset(depth)
        _RECORD.reset(token)


def stage_summary(stages: list[Stage], total: float | None = None) -> str:
    """The stages' durations as an indented table, with the total if given."""
    lines = ["time per stage:"]
    lines += [f"  {_seconds(s.seconds):>11s}  {'  ' * s.depth}{s.what}" for s in stages]
    if total is not None:
        lines.append(f"  {_seconds(total):>11s}  in all")
    return "\n".join(lines)


def _seconds(seconds: float) -> str:
    if seconds < 59.95:
        return f"{seconds:.1f} s"
    whole = round(seconds)  # 239.7 s is 4 min 00 s, not 3 min 60 s
    return f"{whole // 60} min {whole % 60:02d} s"
