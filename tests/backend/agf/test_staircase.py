"""Plateau and drop detection on synthetic staircases with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from backend.agf.staircase import detect_drops, find_plateaus
from backend.errors import UserError


def staircase(steps, jumps, levels, width):
    """Smooth steps: level_i → level_{i+1} around jumps[i] (logistic of the given width)."""
    curve = np.full(steps.shape, levels[0], dtype=np.float64)
    for jump, before, after in zip(jumps, levels, levels[1:], strict=False):
        curve += (after - before) / (1.0 + np.exp(np.clip(-(steps - jump) / width, -50, 50)))
    return curve


@pytest.mark.parametrize("width", [5.0, 40.0])
def test_detects_the_known_drops(width):
    steps = np.arange(0, 20000, dtype=np.float64)
    levels = [3.4, 2.27, 1.36, 0.68]
    jumps = [3000, 7000, 13000]
    noise = np.random.default_rng(0).normal(0, 1e-4, steps.size)
    drops = detect_drops(steps, staircase(steps, jumps, levels, width) + noise)
    assert len(drops) == 3
    for drop, jump, before, after in zip(drops, jumps, levels[:-1], levels[1:], strict=True):
        assert drop.step == pytest.approx(jump, abs=3 * width + 2)
        assert drop.level_before == pytest.approx(before, rel=0.01)
        assert drop.level_after == pytest.approx(after, rel=0.01)


def test_a_smooth_decay_has_no_drop():
    steps = np.linspace(0, 1000, 500)
    assert detect_drops(steps, np.full_like(steps, 2.0)) == []
    plateaus = find_plateaus(steps, 2.0 - 1e-5 * steps)
    assert len(plateaus) == 1


def test_bad_curves_are_refused():
    with pytest.raises(UserError, match="at least 3"):
        detect_drops([0, 1], [1, 1])
    with pytest.raises(UserError, match="increase"):
        detect_drops([0, 2, 1], [1, 1, 1])
