"""The comparison's reading of a gradient-descent run, on curves built by hand."""

from __future__ import annotations

import numpy as np
import pytest

from backend.agf import comparison
from backend.agf.orbit_fit import explained_fraction, powered
from backend.agf.simulation import AgfRound
from backend.agf.staircase import find_plateaus


def staircase(levels, drops, total):
    """A loss curve of steps 0..total-1 holding levels[i] between drops[i-1] and drops[i],
    each drop a short smooth ramp."""
    steps = np.arange(total, dtype=np.float64)
    losses = np.full(total, levels[0])
    for drop, before, after in zip(drops, levels, levels[1:], strict=False):
        ramp = 0.5 * (1 + np.tanh((steps - drop) / 20.0))
        losses = np.where(steps >= drop - 200, before + (after - before) * ramp, losses)
    return steps, losses


def run_of(steps, losses, checkpoints, explained, power):
    return comparison.GradientDescentRun(
        steps=steps, losses=losses, checkpoint_steps=np.asarray(checkpoints, float),
        explained=np.asarray(explained, float), orbit_labels=["trivial", "k=1", "k=2"],
        orbit_dims=[1, 2, 2], template_power=np.asarray(power, float), seconds=1.0)


def k2_after_k1(steps, losses, second_at, second_share):
    """The drops read from a run whose k=1 is learned at step 2000 and whose k=2 is
    explained ``second_share`` at ``second_at`` (piecewise linear), on 121 checkpoints."""
    checkpoints = np.linspace(0, 11999, 121)
    second = np.interp(checkpoints, second_at, second_share)
    explained = np.stack([np.full_like(checkpoints, np.nan),
                          (checkpoints > 2000).astype(float), second], axis=1)
    return comparison.measured_drops(run_of(steps, losses, checkpoints, explained,
                                            [0.0, 5.0, 1.0]))


def test_an_orbit_without_power_is_never_learned():
    """The trivial orbit of a mean-centred template holds round-off power (1e-30): its
    explained fraction means nothing and must not count as learned at step 0."""
    power = np.array([1e-30, 2.0, 1.0])
    assert powered(power).tolist() == [False, True, True]
    fraction = explained_fraction(np.array([0.0, 1.0, 1.0]), power)
    assert np.isnan(fraction[0]) and fraction[1:] == pytest.approx([0.5, 0.0])
    steps, losses = staircase([1.0, 0.4, 0.1], [3000, 7000], 10000)
    checkpoints = np.linspace(0, 9999, 101)
    explained = np.stack([np.ones_like(checkpoints),
                          (checkpoints > 3000).astype(float),
                          (checkpoints > 7000).astype(float)], axis=1)
    drops = comparison.measured_drops(run_of(steps, losses, checkpoints, explained, power))
    assert [d.orbit for d in drops] == ["k=1", "k=2"]
    assert drops[0].step == pytest.approx(3000, abs=100)
    assert drops[0].level == pytest.approx(0.4, rel=1e-3)


def test_the_level_is_not_read_from_a_plateau_that_holds_part_of_the_next_orbit():
    """After k=1 the loss rests at 0.15625; later it creeps to a second plateau at 0.1313
    where k=2 is already 30 % fitted, before k=2 passes one half: the level is 0.15625."""
    steps, losses = staircase([1.0, 0.15625, 0.1313, 0.02], [2000, 6000, 9000], 12000)
    drops = k2_after_k1(steps, losses, [0, 5800, 6200, 8800, 9200, 12000],
                        [0, 0, 0.3, 0.3, 1.0, 1.0])
    assert [d.orbit for d in drops] == ["k=1", "k=2"]
    assert drops[0].level == pytest.approx(0.15625, rel=1e-3)
    assert drops[1].level == pytest.approx(0.02, rel=1e-3)


def test_a_plateau_merged_with_a_partial_fit_is_read_before_that_fit():
    """After k=1 the loss rests at 0.0313, then k=2's first neurons take it to 0.0235
    (k=2 a quarter fitted) before k=2 passes one half. The two levels differ by less than
    find_plateaus' min_drop, so they form one plateau whose level is the later one; the
    level of k=1 is read on its part before k=2 is fitted to PURE_FRACTION."""
    steps, losses = staircase([0.65, 0.0313, 0.0235, 0.0085], [2000, 6000, 9000], 12000)
    plateaus = [p for p in find_plateaus(steps, losses) if p.start < 6000 < p.end]
    assert plateaus and plateaus[0].level == pytest.approx(0.0235, rel=1e-3)  # merged
    drops = k2_after_k1(steps, losses, [0, 5800, 6200, 8800, 9200, 12000],
                        [0, 0, 0.25, 0.25, 1.0, 1.0])
    assert [d.orbit for d in drops] == ["k=1", "k=2"]
    assert drops[0].level == pytest.approx(0.0313, rel=1e-3)
    assert drops[1].level == pytest.approx(0.0085, rel=1e-3)


def test_the_level_is_not_read_where_an_orbit_never_learned_is_partly_fitted():
    """k=2 is fitted to 0.45 of its power (one of its singular components) and never
    passes one half: the plateau at 0.13 holds that part, so k=1's level is the plateau
    before it, as it is for a run whose k=2 reaches one half a little later."""
    steps, losses = staircase([1.0, 0.19, 0.13], [2000, 6000], 12000)
    checkpoints = np.linspace(0, 11999, 121)
    stalled = np.interp(checkpoints, [0, 5800, 6200, 12000], [0, 0, 0.45, 0.45])
    explained = np.stack([np.full_like(checkpoints, np.nan),
                          (checkpoints > 2000).astype(float), stalled], axis=1)
    drops = comparison.measured_drops(run_of(steps, losses, checkpoints, explained,
                                             [0.0, 5.0, 1.0]))
    assert [d.orbit for d in drops] == ["k=1"]
    assert drops[0].level == pytest.approx(0.19, rel=1e-3)


def test_without_a_plateau_the_level_is_read_before_the_next_orbit_comes_in():
    """After k=1 the loss never rests: a shoulder at step 2300, then a fall as k=2 comes
    in, slowest near step 7000 where k=2 is already 30 % fitted. The level of k=1 is the
    shoulder's, not the flatter stretch that holds part of k=2."""
    steps = np.arange(12000, dtype=np.float64)
    slope = np.where((steps > 2000) & (steps < 9000),
                     6e-5 - 3e-5 * np.exp(-((steps - 2300) / 100) ** 2)
                     - 5e-5 * np.exp(-((steps - 7000) / 300) ** 2), 0.0)
    losses = (1.0 - 0.25 * (1 + np.tanh((steps - 2000) / 20.0)) - np.cumsum(slope)
              - 0.05 * (1 + np.tanh((steps - 9000) / 20.0)))
    assert not [p for p in find_plateaus(steps, losses) if 2000 < p.end and p.start < 9000]
    drops = k2_after_k1(steps, losses, [0, 2400, 3000, 8900, 9100, 12000],
                        [0, 0, 0.3, 0.4, 1.0, 1.0])
    assert [d.orbit for d in drops] == ["k=1", "k=2"]
    assert drops[0].level == pytest.approx(losses[2300], rel=0.01)
    assert drops[0].level > losses[7000] + 0.2


def test_a_run_that_ends_inside_the_last_drop_has_no_level_for_it():
    """k=2 passes one half of its power at step ~11 950, in the middle of a drop of width
    20 steps, and the run ends 15 steps later, its loss still falling at the drop's pace:
    there is no level to read (NaN), and the row leaves its level error out. The same run
    2 000 steps longer reads 0.1."""
    for total, expected in ((11965, None), (14000, 0.1)):
        steps, losses = staircase([1.0, 0.4, 0.1], [2000, 11950], total)
        checkpoints = np.linspace(0, total - 1, total // 100 + 1)
        explained = np.stack([np.full_like(checkpoints, np.nan),
                              (checkpoints > 2000).astype(float),
                              np.clip((checkpoints - 11850) / 200, 0, 1)], axis=1)
        drops = comparison.measured_drops(run_of(steps, losses, checkpoints, explained,
                                                 [0.0, 5.0, 1.0]))
        assert [d.orbit for d in drops] == ["k=1", "k=2"]
        assert drops[1].step == pytest.approx(11950, abs=10)
        assert drops[0].level == pytest.approx(0.4, rel=1e-3)
        if expected is None:
            assert np.isnan(drops[1].level)
            row = comparison.compare([], drops, 1.0, drops)[1]
            assert np.isnan(row.simulated_level_error)
            assert row.as_dict()["level"]["gradient_descent"] is None
        else:
            assert drops[1].level == pytest.approx(expected, rel=1e-3)


def test_a_round_without_a_loss_drop_is_not_a_learned_round():
    weights = (np.zeros((1, 2)),) * 3
    flat = AgfRound(6, 100.0, ["k=±3"], [4], 0.1818, 0.1818, weights)
    fallen = AgfRound(7, 200.0, ["k=±4"], [5], 0.1818, 0.0909, weights)
    assert not flat.dropped and fallen.dropped


def test_a_run_read_from_snapshots_uses_the_fitted_share_of_each_orbit():
    """From P_O(f) = a² P_O(t): explained = 1 − (1 − a)², so a = 1 − 1/√2 is one half."""
    from types import SimpleNamespace

    power = np.array([0.0, 4.0, 1.0])
    a = 1 - 1 / np.sqrt(2)
    snapshots = [SimpleNamespace(step=s, template_power=power,
                                 function_power=np.array([0.0, f1, f2]) * power)
                 for s, f1, f2 in [(0, 0, 0), (10, a**2, 0), (20, 1, 0.25)]]
    run = comparison.run_from_snapshots(np.arange(30.0), np.linspace(1, 0, 30), snapshots,
                                        ["trivial", "k=1", "k=2"], [1, 2, 2])
    assert np.isnan(run.explained[:, 0]).all()
    np.testing.assert_allclose(run.explained[:, 1], [0, 0.5, 1])
    np.testing.assert_allclose(run.explained[:, 2], [0, 0, 0.75])


def test_a_live_record_reads_the_residual_power_as_gradient_descent_does():
    """A random S4 template part-way through its first orbit (learned in parts): the
    snapshots' residual power gives each orbit's explained share 1 − P_O(y − f)/P_O(t)
    equal to the direct one from the trainer's outputs (``orbit_explained``), where the
    formula from the function power alone reads it differently."""
    from backend.presets import load_preset
    from backend.training.trainer import Trainer

    config = load_preset("a5-agf").replace(group="S4", encoding="random_fourier",
                                           data_seed=0, seed=0, precision="float64")
    trainer = Trainer(config)
    trainer.step(600)
    snapshot = trainer.metrics()
    direct = comparison.orbit_explained(trainer)
    run = comparison.run_from_snapshots(np.arange(3.0), np.ones(3), [snapshot],
                                        ["o"] * direct.size, [1] * direct.size)
    np.testing.assert_allclose(run.explained[0], direct, rtol=1e-9, atol=1e-12)
    assert 0.05 < np.nanmax(direct) < 0.95  # part-way, where the two readings differ
    from types import SimpleNamespace

    old = comparison.run_from_snapshots(
        np.arange(3.0), np.ones(3), [SimpleNamespace(**{**vars(snapshot),
                                                        "residual_power": None})],
        ["o"] * direct.size, [1] * direct.size)
    assert np.nanmax(np.abs(old.explained[0] - direct)) > 0.02


def test_rows_pair_three_staircases_and_give_signed_errors():
    from backend.agf.theory import PredictedDrop

    closed = [PredictedDrop(1, "k=1", 1, 1.0, 90.0, 0.5, timed=True),
              PredictedDrop(2, "k=2", 1, 0.5, 150.0, 0.0, timed=False)]
    simulated = [comparison.MeasuredDrop("k=1", 1, 110.0, 0.51),
                 comparison.MeasuredDrop("k=2", 1, 240.0, 0.0)]
    measured = [comparison.MeasuredDrop("k=1", 1, 100.0, 0.5),
                comparison.MeasuredDrop("k=2", 1, 200.0, 0.01)]
    rows = comparison.compare(closed, measured, 1.0, simulated)
    assert rows[0].closed_form_step_error == pytest.approx(-0.1)
    assert rows[0].simulated_step_error == pytest.approx(0.1)
    assert rows[0].simulated_level_error == pytest.approx(0.02)
    assert np.isnan(rows[1].closed_form_step)  # not valid for the optimiser: not shown
    assert rows[1].simulated_step_error == pytest.approx(0.2)
    # after the last drop the level error is relative to the measured drop (0.49)
    assert rows[1].closed_form_level_error == pytest.approx(-0.01 / 0.49)
    table = rows[1].as_dict()
    assert table["step"] == {"closed_form": None, "simulated": 240.0, "gradient_descent": 200.0}
    assert comparison.order_matches(simulated, measured)
    assert not comparison.order_matches(simulated[:1], measured)


def test_simulated_level_skips_a_round_holding_part_of_the_next_orbit():
    """Rounds: k=1 learned (loss 0.156), then a round fitting 30 % of k=3 (0.131), then
    k=3 learned. k=1's level is the round on which k=3 is fitted below 10 %, as for
    gradient descent's plateaus; k=3's the loss after its own round."""
    from backend.agf.simulation import AgfResult

    weights = (np.zeros((1, 2)),) * 3
    rounds = [AgfRound(1, 100.0, ["k=1"], [0], 0.65, 0.156, weights),
              AgfRound(2, 800.0, ["k=3"], [1], 0.156, 0.131, weights),
              AgfRound(3, 1600.0, ["k=3"], [2], 0.131, 0.031, weights)]
    explained = [np.array([np.nan, 0.99, 0.0]), np.array([np.nan, 0.99, 0.3]),
                 np.array([np.nan, 0.99, 0.98])]
    result = AgfResult(rounds=rounds, initial_loss=0.65, stop_reason="", final_step=2000.0,
                       orbit_labels=["trivial", "k=1", "k=3"], orbit_dims=[1, 2, 2],
                       explained=explained)
    drops = comparison.agf_orbit_drops(result)
    assert [(d.orbit, d.step) for d in drops] == [("k=1", 100.0), ("k=3", 1600.0)]
    assert [d.level for d in drops] == [0.156, 0.031]


def test_pure_until_stops_at_the_first_reading_that_fits_a_later_orbit():
    """One rule for the comparison and for rounds inside a drop (orbit_fit.pure_until)."""
    from backend.agf.orbit_fit import pure_until

    steps = np.array([0.0, 10.0, 20.0, 30.0, 40.0])
    nan = np.nan
    shares = np.array([[0.6, 0.0], [nan, 0.02], [nan, 0.05], [nan, 0.12], [1.0, 0.6]])
    assert pure_until(steps, shares, 0.0, 40.0, [1]) == 30.0
    assert pure_until(steps, shares, 0.0, 25.0, [1]) == 25.0  # not fitted before stop
    assert pure_until(steps, shares, 20.0, 40.0, [1]) == 40.0  # fitted at the first reading
    assert pure_until(steps, shares, 0.0, 40.0, []) == 40.0
    assert pure_until(steps, shares, 0.0, 45.0, [0]) == 40.0  # NaN (not read) is unfitted


def test_a_simulated_curve_cut_at_a_step_ends_there():
    """SimulatedCurve.until keeps the points and explained readings up to the step and
    ends the curve at it, with the loss interpolated there."""
    from backend.agf.simulation import SimulatedCurve

    curve = SimulatedCurve(np.array([0.0, 100.0, 200.0, 300.0]),
                           np.array([1.0, 1.0, 0.5, 0.25]), np.array([50.0, 150.0, 250.0]),
                           np.arange(6.0).reshape(3, 2), np.array([1.0, 2.0]))
    cut = curve.until(250.0)
    assert list(cut.steps) == [0.0, 100.0, 200.0, 250.0]
    assert list(cut.losses) == [1.0, 1.0, 0.5, 0.375]
    assert list(cut.checkpoint_steps) == [50.0, 150.0, 250.0]
    assert curve.until(200.0).steps[-1] == 200.0 and len(curve.until(200.0).steps) == 3
    assert len(curve.until(1e9).steps) == 4


def test_simulated_staircase_read_over_the_runs_steps_is_the_clis():
    """The window simulates to 3× the run's steps (HORIZON_FACTOR); read over the run's
    steps it gives the staircase of `agf --compare`, whose simulation stops there: the
    same orbits and steps, levels within 0.2 % (the last drop, cut by the horizon in one,
    settles in the other). Read whole, it adds k=±4, learned after the run's end, and
    k=±3's level from the longer tail (0.8 % off)."""
    from backend.agf import simulation
    from backend.config import RunConfig

    config = RunConfig(group="C11", encoding="template",
                       template_powers=[12.5, 10.0, 7.5, 5.0, 2.5], parameterisation="free",
                       loss="mse", activation="square", width=32, precision="float64",
                       device="cpu", optimiser="scaled_gd", learning_rate=0.02,
                       init_scale=1e-5, steps=2500).validate()
    cli = comparison.agf_orbit_drops(
        simulation.run_agf(config, horizon=2500.0, drops="optimiser"))
    longer = simulation.run_agf(config, drops="optimiser")
    window = comparison.agf_orbit_drops(longer, until=2500.0)
    assert [d.orbit for d in window] == [d.orbit for d in cli] == ["k=±1", "k=±2", "k=±3"]
    for ours, theirs in zip(window, cli, strict=True):
        assert ours.step == pytest.approx(theirs.step, rel=1e-9)
        assert ours.level == pytest.approx(theirs.level, rel=2e-3)
    assert [d.orbit for d in comparison.agf_orbit_drops(longer)][-1] == "k=±4"


def test_a_recorded_loss_climbs_where_it_rises_a_tenth_above_its_lowest():
    """loss_climb: the largest L_t / min_{s≤t} L_s − 1, where above CLIMB_RISE; a
    staircase (flat, then falling) never climbs, a rise of 9 % is not a climb, and
    non-finite losses are left out."""
    steps = np.arange(8.0)
    staircase = np.array([1.0, 1.0, 0.5, 0.5, 0.25, 0.25, 0.1, 0.1])
    assert comparison.loss_climb(steps, staircase) is None
    assert comparison.loss_climb(steps, staircase * np.array([1, 1, 1, 1.09, 1, 1, 1, 1]))\
        is None
    spiky = np.array([1.0, 0.5, 0.4, 0.9, 0.3, np.nan, 0.6, 0.1])
    climb = comparison.loss_climb(steps, spiky)
    assert (climb.step, climb.low, climb.high) == (3.0, 0.4, 0.9)  # 125 % above 0.4
    assert comparison.loss_climb(steps[:1], spiky[:1]) is None
