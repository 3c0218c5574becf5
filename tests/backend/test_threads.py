"""The thread policy: a fixed count when asked, else the fastest count measured."""

from __future__ import annotations

import pytest
import torch

from backend.errors import UserError
from backend.threads import (
    HOLD_SECONDS,
    PROBE_SECONDS,
    ThreadTuner,
    candidate_counts,
    requested_threads,
)


def feed(tuner: ThreadTuner, speeds: dict[int, float], seconds: float) -> None:
    """Train ``seconds`` in chunks of 0.01 s at ``speeds[count]`` steps/s."""
    for _ in range(round(seconds / 0.01)):
        tuner.note(max(1, round(speeds[tuner.current] * 0.01)), 0.01)


def test_candidates_cover_powers_of_two_and_every_core():
    assert candidate_counts(1) == [1]
    assert candidate_counts(2) == [1, 2]
    assert candidate_counts(6) == [1, 2, 4, 6]
    assert candidate_counts(8) == [1, 2, 4, 8]


@pytest.mark.parametrize("speeds, best", [({1: 1000.0, 2: 300.0}, 1),
                                          ({1: 1000.0, 2: 1700.0}, 2)])
def test_the_tuner_keeps_the_faster_count_and_measures_again_later(speeds, best):
    before = torch.get_num_threads()
    try:
        tuner = ThreadTuner(cores=2)
        assert tuner.current == 1
        feed(tuner, speeds, 2 * PROBE_SECONDS + 0.05)
        assert tuner.current == best and torch.get_num_threads() == best
        # the load changes: the next measurement follows it
        changed = {1: speeds[2], 2: speeds[1]}
        feed(tuner, changed, HOLD_SECONDS + 2 * PROBE_SECONDS + 0.1)
        assert tuner.current == 3 - best
    finally:
        torch.set_num_threads(before)


def test_a_requested_count_turns_the_tuning_off(monkeypatch):
    before = torch.get_num_threads()
    try:
        tuner = ThreadTuner(threads=1, cores=8)
        feed(tuner, {1: 10.0}, 1.0)
        assert tuner.counts == [1] and not tuner.tuning
    finally:
        torch.set_num_threads(before)
    monkeypatch.setenv("IRREP_STUDIO_THREADS", "3")
    assert requested_threads() == 3
    monkeypatch.setenv("IRREP_STUDIO_THREADS", "many")
    with pytest.raises(UserError, match="IRREP_STUDIO_THREADS"):
        requested_threads()


def test_thread_policy_holds_for_a_block_and_restores_the_count(monkeypatch):
    """Work without a tuner (the AGF simulation) runs on one thread, or on the count
    asked for, and leaves the calling thread's count as it found it."""
    from backend.agf import simulation
    from backend.presets import load_preset
    from backend.threads import thread_policy

    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        monkeypatch.delenv("IRREP_STUDIO_THREADS", raising=False)
        with thread_policy() as count:
            assert count == 1 and torch.get_num_threads() == 1
        assert torch.get_num_threads() == 2
        monkeypatch.setenv("IRREP_STUDIO_THREADS", "3")
        with thread_policy() as count:
            assert count == 3 and torch.get_num_threads() == 3
        assert torch.get_num_threads() == 2

        seen = []
        monkeypatch.delenv("IRREP_STUDIO_THREADS")
        real = simulation._run_agf
        monkeypatch.setattr(simulation, "_run_agf",
                            lambda *args: seen.append(torch.get_num_threads()) or real(*args))
        simulation.run_agf(load_preset("d3-agf-onehot"), max_rounds=1)
        assert seen == [1] and torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
