"""Plateau and drop detection on synthetic staircases with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from backend.agf.staircase import detect_drops, find_plateaus, flattest_level, left_drop
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


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_creeping_plateaus_of_a_small_initialisation_staircase_all_have_levels(seed):
    """Drops that come later and later (short early plateaus, long late ones), plateaus
    that creep down by up to 3 % of their level, multiplicative noise: every plateau is
    found with its level, and every drop with its step."""
    rng = np.random.default_rng(seed)
    steps = np.arange(0, 16000, dtype=np.float64)
    levels = [3.41, 2.27, 1.36, 0.68, 0.227, 0.0]
    jumps = [900, 1270, 1970, 7050, 12800]
    widths = [15, 20, 30, 250, 300]
    curve = np.full(steps.shape, levels[0])
    for jump, width, before, after in zip(jumps, widths, levels[:-1], levels[1:], strict=True):
        curve += (after - before) / (1.0 + np.exp(np.clip(-(steps - jump) / width, -50, 50)))
    creep = 1.0 - 0.03 * rng.uniform(0.5, 1.0) * (steps / steps[-1])
    noisy = curve * creep * (1.0 + rng.normal(0.0, 2e-4, steps.size))
    plateaus = find_plateaus(steps, noisy)
    assert len(plateaus) == len(levels)
    for plateau, level in zip(plateaus, levels, strict=True):
        assert np.isfinite(plateau.level)
        assert plateau.level == pytest.approx(level, rel=0.035, abs=5e-3)
    drops = detect_drops(steps, noisy)
    assert [round(d.step, -2) for d in drops] == pytest.approx(jumps, abs=200)


def test_a_plateau_that_creeps_to_a_second_rest_reads_the_rest():
    """D5 seed 13's shape: after a drop the loss rests near 0.034, then creeps over 6000
    steps to 0.008, where it stays; every window of the creep changes by less than the
    flatness, so it is one flat stretch. Its level is the value it rests at (0.008), not
    its median, a loss the curve only passes through (independent: the median itself)."""
    steps = np.arange(0, 12001, dtype=np.float64)
    rest = 0.034 - 2e-7 * np.clip(steps - 1400, 0, None)  # a slightly tilted first rest
    creep = 0.026 * np.clip((steps - 3500) / 6500, 0, 1)
    curve = np.where(steps < 200, 1.0, 0.0) + np.where(steps < 200, 0.0, rest - creep)
    curve = np.where((steps >= 200) & (steps < 1400),
                     0.034 + (1.0 - 0.034) * np.exp(-(steps - 200) / 100), curve)
    curve = np.maximum(curve, 0.008)
    (last,) = [p for p in find_plateaus(steps, curve) if p.start < 3500 < p.end]
    assert last.end == pytest.approx(12000)
    assert last.level == pytest.approx(0.008, rel=1e-3)
    inside = (steps >= last.start) & (steps <= last.end)
    assert np.median(curve[inside]) > 1.5 * last.level


def test_two_stretches_closer_than_min_drop_merge_with_the_later_level():
    """A bump of 0.05·L(0) splits a plateau into stretches at 0.300 and 0.295 (closer than
    min_drop = 0.02·L(0)): they merge into one plateau spanning both, whose level is the
    later stretch's, where the curve rests before its next drop."""
    steps = np.arange(0, 20001, dtype=np.float64)
    curve = np.where(steps < 200, 1.0, 0.300)
    curve = np.where(steps >= 4000, 0.295, curve)
    curve = curve + 0.05 * np.exp(-(((steps - 3000) / 150) ** 2))
    curve = np.where(steps >= 15000, 0.1, curve)
    plateaus = find_plateaus(steps, curve)
    (middle,) = [p for p in plateaus if p.start < 3000 < p.end or p.start < 5000 < p.end]
    assert middle.start < 2500 and middle.end > 10000
    assert middle.level == pytest.approx(0.295, rel=1e-3)


def test_a_sparsely_recorded_curve_gives_every_plateau_a_level():
    """17 readings spread evenly in log-steps over 1…1e5 and one drop: a stretch that
    lies between two readings (5 800–9 800) is read from the resampled curve, where
    flattest_level has no reading inside it (it gave NaN, and a drop with a NaN level)."""
    steps = np.r_[0.0, np.geomspace(1.0, 1e5, 17)]
    losses = 1.0 - 0.5 / (1.0 + np.exp(-(steps - 3000.0) / 1000.0))
    plateaus = find_plateaus(steps, losses)
    assert len(plateaus) >= 2 and all(np.isfinite(p.level) for p in plateaus)
    assert plateaus[-1].level == pytest.approx(0.5, abs=1e-3)
    assert all(np.isfinite(d.level_before) and np.isfinite(d.level_after)
               for d in detect_drops(steps, losses))


def test_flattest_level_reads_a_plateau_too_short_for_detection():
    steps = np.arange(0, 3000, dtype=np.float64)
    curve = 2.0 - sum(0.5 / (1 + np.exp(-(steps - jump) / 10)) for jump in (1000, 1150))
    assert flattest_level(steps, curve, 1000, 1150) == pytest.approx(1.5, rel=1e-3)
    assert np.isnan(flattest_level(steps, curve, 5000, 6000))


def test_flattest_level_reads_two_curves_that_agree_alike():
    """A tail that creeps on to the end of the run, nearly as flat at steps 6000 and
    10 000: a second curve within 0.05 % of the first is flattest at the other place,
    where the loss is 10 % lower, yet the two readings agree within 0.3 %."""
    steps = np.arange(3000, 12001, dtype=np.float64)
    near, far = (np.exp(-((steps - centre) / 800) ** 2) for centre in (6000, 10000))
    first = 0.4 - np.cumsum(1e-5 * (1.2 - near - 0.998 * far))
    second = first + np.cumsum(4e-8 * far)  # a little flatter at 10 000
    assert np.max(np.abs(second / first - 1)) < 5e-4
    flattest = [int(np.argmin(np.abs(np.gradient(c)))) for c in (first, second)]
    assert steps[flattest] == pytest.approx([6000, 10000], abs=50)  # one point jumps
    assert first[flattest[1]] < 0.92 * first[flattest[0]]
    levels = [flattest_level(steps, c, 3000, 12000) for c in (first, second)]
    assert levels[0] == pytest.approx(levels[1], rel=3e-3)
    assert first[flattest[1]] < levels[0] < first[flattest[0]]


def test_left_drop_reads_whether_the_fall_has_slowed_to_a_tenth():
    """A drop L = 1 − ½(1 + tanh((s − 5000)/500)) falls fastest at 5000, and after it at
    ½·sech²((s − 5000)/500)/500: a tenth of its peak at s = 5000 + 500 arccosh(√10) ≈
    5909. Read from its middle, it has left the drop by 6100, not by 5750."""
    steps = np.arange(0, 12000, dtype=np.float64)
    curve = 1.0 - 0.5 * (1.0 + np.tanh((steps - 5000.0) / 500.0))
    crossing = 5000.0 + 500.0 * np.arccosh(np.sqrt(10.0))
    assert crossing == pytest.approx(5909, abs=1)
    assert not left_drop(steps, curve, 5000.0, 5750.0)
    assert left_drop(steps, curve, 5000.0, 6100.0)
