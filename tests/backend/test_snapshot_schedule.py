"""The snapshot schedule: a set of steps fixed by the configuration, dense early."""

from __future__ import annotations

from backend.presets import DEFAULT_PRESET, load_preset
from backend.snapshot_schedule import PER_OCTAVE, SnapshotSchedule


def brute_force(schedule: SnapshotSchedule, end: int) -> list[int]:
    """Every step s < end with s a multiple of Δ(s), Δ recomputed from its definition."""
    steps = []
    for s in range(end):
        spacing = 1
        while 2 * spacing * schedule.per_octave <= s and 2 * spacing <= schedule.regular_spacing:
            spacing *= 2
        if s % spacing == 0:
            steps.append(s)
    return steps


def test_next_due_walks_exactly_the_steps_the_formula_records():
    for configured in (1, 100, 1500, 16000):
        schedule = SnapshotSchedule.for_steps(configured)
        expected = brute_force(schedule, 5000)
        assert schedule.steps_until(5000) == expected
        assert [schedule.is_due(s) for s in range(5000)] == [s in set(expected)
                                                              for s in range(5000)]


def test_dense_early_log_spaced_then_regular():
    schedule = SnapshotSchedule.for_steps(16000)
    steps = schedule.steps_until(16000)
    assert steps[: 2 * PER_OCTAVE] == list(range(2 * PER_OCTAVE))  # every early step
    for octave in range(1, 6):  # PER_OCTAVE snapshots per doubling, while below R
        low, high = PER_OCTAVE * 2**octave, PER_OCTAVE * 2 ** (octave + 1)
        assert sum(low <= s < high for s in steps) == PER_OCTAVE
    regular = schedule.regular_spacing
    late = [s for s in steps if s >= PER_OCTAVE * regular]
    assert set(int(d) for d in (late[i + 1] - late[i] for i in range(len(late) - 1))) == {regular}
    assert 64 <= len(steps) <= 200  # bounded, whatever the machine


def test_default_preset_records_at_least_50_snapshots_in_1500_steps():
    config = load_preset(DEFAULT_PRESET)
    assert len(SnapshotSchedule.for_steps(config.steps).steps_until(1500)) >= 50
