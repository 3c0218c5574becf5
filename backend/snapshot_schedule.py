"""The steps at which a live run measures a full MetricSnapshot: a schedule of steps, not
of seconds, so a configuration records the same steps on a slow and on a fast machine.

The spacing between snapshots around step s is the power of two

    Δ(s) = clamp(2^⌊log₂(s / k)⌋, 1, R),

and step s is recorded when s is a multiple of Δ(s). Below 2k every step is recorded;
from there on each octave [2^j, 2^(j+1)) holds k snapshots (log-spaced: dense early),
until the spacing reaches R, the regular spacing of the run's later part. R is the
largest power of two at most (configured steps) / ``REGULAR_COUNT``, so a run of S
configured steps records about 2k + k·log₂(R) + (S − kR)/R snapshots whatever its speed
(87 for the default 1500 steps, 111 for 16,000, 145 for 100,000). A run continued past
its configured length keeps the spacing R (the history decimates what it keeps, so
memory stays bounded).

Every boundary of an octave, k·2^j, is a multiple of every smaller spacing, so the next
recorded step after s is always ⌈(s + 1) / Δ(s + 1)⌉ · Δ(s + 1).
"""

from __future__ import annotations

from dataclasses import dataclass

PER_OCTAVE = 8
"""k: snapshots per doubling of the step count in the early, log-spaced part."""
REGULAR_COUNT = 32
"""About this many evenly spaced snapshots over a run's configured length."""


@dataclass(frozen=True)
class SnapshotSchedule:
    """Which steps get a snapshot (see the module docstring for the formula)."""

    per_octave: int = PER_OCTAVE
    regular_spacing: int = 1 << 62

    @classmethod
    def for_steps(cls, configured_steps: int) -> SnapshotSchedule:
        """The schedule of a run configured for ``configured_steps`` steps."""
        target = max(1, int(configured_steps) // REGULAR_COUNT)
        return cls(PER_OCTAVE, 1 << (target.bit_length() - 1))

    def spacing(self, step: int) -> int:
        """Δ(step): the distance between recorded steps around ``step``."""
        octave = (max(int(step), 0) // self.per_octave).bit_length() - 1
        return int(min(max(1 << max(octave, 0), 1), self.regular_spacing))

    def is_due(self, step: int) -> bool:
        """Whether ``step`` is recorded."""
        return int(step) % self.spacing(step) == 0

    def next_due(self, step: int) -> int:
        """The first recorded step after ``step``."""
        candidate = int(step) + 1
        spacing = self.spacing(candidate)
        return -(-candidate // spacing) * spacing

    def steps_until(self, end: int, start: int = 0) -> list[int]:
        """Every recorded step in [start, end)."""
        steps = []
        step = int(start) if self.is_due(start) else self.next_due(start)
        while step < end:
            steps.append(step)
            step = self.next_due(step)
        return steps
