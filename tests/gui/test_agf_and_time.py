"""AGF in the window against the real backend, and views of a scrubbed moment."""

from __future__ import annotations

import time
from dataclasses import replace
from types import SimpleNamespace

import numpy as np
import pytest

from backend.agf import detect_drops, predict_staircase
from backend.agf.simulation import LossSpike
from backend.presets import load_preset
from tests.gui.conftest import wait_idle


@pytest.fixture
def agf_window(qtbot):
    """The window on the one-hot D3 AGF preset (σ = z², MSE, tiny initialisation)."""
    from gui.main_window import MainWindow

    main = MainWindow(load_preset("d3-agf-onehot"))
    qtbot.addWidget(main)
    main.show()
    qtbot.waitUntil(lambda: main.context is not None and len(main.record) > 0, timeout=20000)
    yield main
    main.worker.shutdown(2000)


def test_loss_panel_overlays_the_predicted_staircase(agf_window):
    predicted = predict_staircase(agf_window.context.config)
    assert [d.label for d in agf_window.context.predicted_drops] == [d.label for d in predicted]
    panel = agf_window.loss_panel
    timed = [d.step for d in predicted if d.timed]
    assert len(timed) == 1  # scaled SGD: the closed-form time of the first drop only
    assert [line.value() for line in panel.jumps] == pytest.approx(timed)
    x, y = panel.plateaus.getData()
    positive = [d.level for d in predicted if d.level > 0]
    assert len(x) == 2 * len(positive)
    assert 10 ** np.asarray(y)[::2] == pytest.approx(positive)
    assert x[0] == pytest.approx(timed[0]) and x[2] == 0.0  # untimed levels span the axis
    legend = panel.plot.getPlotItem().legend
    names = [label.text for _, label in legend.items]
    assert "AGF (closed form)" in names and "AGF (simulated)" not in names  # not computed yet
    rounds = [SimpleNamespace(step=500.0, loss_before=1.0, loss_after=0.5)]
    panel.show_simulated(rounds)
    assert "AGF (simulated)" in [label.text for _, label in legend.items]
    assert len(panel.simulated.getData()[0]) > 0


def test_agf_rounds_step_beside_gradient_descent(qtbot, agf_window):
    """Cost-minimised rounds (the loss plot draws them as jumps; drops by the optimiser
    draw the optimiser's curve: test_agf_drops_by_the_optimiser_from_the_window)."""
    window, panel = agf_window, agf_window.agf_panel
    window.docks["agf"].raise_()
    panel.drops_choice.setCurrentIndex(panel.drops_choice.findData("cost"))
    window.simulate_agf()
    qtbot.waitUntil(lambda: bool(panel.rounds), timeout=60000)
    assert len(panel.round_states) == len(panel.rounds) >= 2
    first = panel.rounds[0]
    state = panel.round_snapshot()
    assert state.step == round(first.step)
    assert state.loss == pytest.approx(first.loss_after, rel=0.05)
    assert panel.maps[0].image.shape == (window.context.width, window.context.num_orbits)
    assert panel.maps[1].image is None  # gradient descent is still at step 0
    assert "not reached" in panel.details.text()
    assert "Active neurons per orbit" in panel.details.text()
    assert not panel.previous_button.isEnabled()

    panel.next_button.click()
    assert panel.current == 1
    assert panel.round_snapshot() is panel.round_states[1]
    assert panel.round_label.text().startswith("round 2/")
    assert panel.round_label.toolTip() == panel.round_label.text()  # elided, not cut
    panel.previous_button.click()
    assert panel.current == 0

    target = int(np.ceil(first.step)) + 10
    window.step_count_spin.setValue(target)
    window.step_many()
    qtbot.waitUntil(lambda: window.last_report.snapshot.step == target
                    and not window.last_report.running, timeout=60000)
    qtbot.waitUntil(lambda: panel.maps[1].image is not None, timeout=5000)
    assert "Gradient descent at step" in panel.details.text()
    assert panel.gd_snapshot().step <= target
    table = panel.comparison  # the comparison, per position, with gradient descent's
    assert table.table.rowCount() >= 2 and table.table.horizontalHeaderItem(1).text() == (
        "orbit\nsim.")
    assert [table.cell_text(i, "orbit sim.") for i in range(2)] == ["trivial", "sign"]
    assert table.cell_text(0, "step sim.") == f"{first.step:,.0f}"
    assert "half learned" in table.note.text()  # under the simulated prediction's table
    table.prediction_choice.setCurrentIndex(table.prediction_choice.findData("closed_form"))
    assert "first drop only" in table.note.text()  # where the closed form's times hold
    table.prediction_choice.setCurrentIndex(table.prediction_choice.findData("simulated"))
    x, y = window.loss_panel.simulated.getData()  # AGF (simulated) on the loss plot
    assert x[1] == pytest.approx(first.step)
    assert 10 ** y[2] == pytest.approx(first.loss_after)


class Record:
    """A recorded run of gradient descent (steps 0–20), as the panel reads it."""

    def __init__(self, losses) -> None:
        self.losses = np.asarray(losses, dtype=float)

    def __len__(self) -> int:
        return self.losses.size

    def loss_curve(self, upto=None):
        return np.arange(float(self.losses.size)), self.losses


STAIRCASE = [1.0] * 5 + [0.2] * 16
CLIMBING = [1.0] * 5 + [0.2] * 7 + [0.6] + [0.2] * 8  # climbs at step 12


def test_agf_drops_by_the_optimiser_from_the_window(qtbot, agf_window, monkeypatch):
    """The panel's drop mode reaches the simulation; a caution shows only when the
    simulation reports one."""
    import backend.agf.rounds as rounds

    window, panel = agf_window, agf_window.agf_panel
    simulated = []
    simulate = rounds.simulate_agf

    def recorded(config, drops="optimiser", progress=None):  # the real one, its result kept
        simulated.append(simulate(config, drops, progress))
        return simulated[-1]

    monkeypatch.setattr(rounds, "simulate_agf", recorded)
    assert panel.drops_mode() == "optimiser"  # the default: the mode validated against GD
    panel.drops_choice.setCurrentIndex(panel.drops_choice.findData("cost"))
    assert panel.drops_mode() == "cost"
    panel.drops_choice.setCurrentIndex(panel.drops_choice.findData("optimiser"))
    window.simulate_agf()
    assert not panel.drops_choice.isEnabled()  # fixed while it simulates
    qtbot.waitUntil(lambda: bool(panel.rounds), timeout=60000)
    assert panel.drops_choice.isEnabled()
    assert [r.orbits for r in panel.rounds][:2] == [["trivial"], ["sign"]]
    assert simulated[-1].optimiser_steps > 0  # the drops were the optimiser's
    assert panel.caution_label.isHidden()
    climbed = "the loss climbs inside a drop (0.1 → 0.5 at step 9)"
    panel.set_states(rounds.AgfStates(caution=climbed))
    assert not panel.caution_label.isHidden()
    assert "climbs inside a drop" in panel.caution_label.text()
    why = climbed + ": the drop began with neuron 6, whose layers lie on k=±1, k=±1, k=±3"
    panel.set_states(rounds.AgfStates(caution=why, caution_headline=climbed))
    assert "neuron 6" not in panel.caution_label.text()  # the dock is small
    assert climbed in panel.caution_label.text() and why in panel.caution_label.toolTip()
    # beside a simulated climb: whether gradient descent's record climbs too, once it has
    # run past the climb's step
    spike = LossSpike(step=9.0, low=0.1, high=0.5)
    panel._history = Record(STAIRCASE)
    panel.set_states(rounds.AgfStates(caution=climbed, spike=spike))
    assert "gradient descent does not" in panel.caution_label.text()
    assert "never climbs" in panel.caution_label.toolTip()
    panel.set_states(rounds.AgfStates(caution=climbed, spike=replace(spike, step=50.0)))
    assert "gradient descent" not in panel.caution_label.text()  # not yet at step 50
    panel._history = Record(CLIMBING)
    panel._show_caution()
    assert "gradient descent climbs too, at step 12" in panel.caution_label.text()
    assert "climbs too (0.2 → 0.6 at step 12)" in panel.caution_label.toolTip()
    panel.set_states(rounds.AgfStates(caution=climbed))
    assert "gradient descent" not in panel.caution_label.text()  # no simulated climb
    assert simulated[-1].regime.inside and panel.regime_label.isHidden()
    curve = simulated[-1].curve  # the loss plot draws the drops as the optimiser took them
    x, _ = window.loss_panel.simulated.getData()
    assert curve is not None and x.size > 2 * len(panel.rounds) + 2


def test_agf_panel_says_which_prediction_is_outside_its_regime(agf_window):
    """A random S4 template: outside the regime of the closed form and of cost-minimised
    rounds (red, with the reasons); with drops by the optimiser only the closed form is
    outside (a muted note), and nothing shows inside the regime."""
    from backend.agf import rounds
    from backend.agf.regime import regime_report
    from backend.presets import load_preset

    panel = agf_window.agf_panel
    config = load_preset("a5-agf").replace(group="S4", encoding="random_fourier",
                                           data_seed=0, seed=0)
    panel.set_states(rounds.AgfStates(regime=regime_report(config)))
    assert not panel.caution_label.isHidden() and panel.regime_label.isHidden()
    assert "OUTSIDE AGF's regime (separated rounds, whole orbits)" in panel.caution_label.text()
    assert "singular values" in panel.caution_label.toolTip()  # the measured reasons
    panel.set_states(rounds.AgfStates(regime=regime_report(config, drops="optimiser")))
    assert panel.caution_label.isHidden() and not panel.regime_label.isHidden()
    assert "closed form) is outside" in panel.regime_label.text()
    panel.set_states(rounds.AgfStates(regime=regime_report(load_preset("d3-agf-onehot"))))
    assert panel.caution_label.isHidden() and panel.regime_label.isHidden()


def test_run_to_next_drop_pauses_after_a_drop(qtbot, agf_window):
    window = agf_window
    window.run_to_next_drop()
    qtbot.waitUntil(lambda: window.mode == "to next drop", timeout=5000)
    qtbot.waitUntil(lambda: "loss drop" in window.last_message, timeout=90000)
    wait_idle(qtbot, window)
    steps, losses = window.record.loss_curve()
    drops = detect_drops(steps, losses)
    assert len(drops) == 1  # it stopped after the first drop, not a later one
    assert drops[0].level_after < drops[0].level_before
    stopped = int(window.last_report.snapshot.step)
    assert drops[0].step < stopped < window.context.predicted_drops[1].step


def test_agf_refusal_is_a_message(qtbot, window):
    window.simulate_agf()  # the default small run uses Adam and ReLU: AGF does not apply
    qtbot.waitUntil(lambda: not window.agf_panel.busy, timeout=20000)
    assert window.agf_panel.rounds == []
    assert window.last_message and "Traceback" not in window.last_message


def test_inspector_of_a_scrubbed_moment(qtbot, window):
    window.select_neurons([4])
    qtbot.waitUntil(lambda: window.last_report.neuron_functions is not None
                    and window.last_report.neuron_functions.neuron == 4, timeout=5000)
    window.step_count_spin.setValue(30)
    window.step_many()
    qtbot.waitUntil(lambda: window.last_report.snapshot.step == 30
                    and not window.last_report.running, timeout=10000)
    inspector = window.inspector
    assert len(inspector.function_curves[0].getData()[0]) == window.context.order
    assert not inspector.live_only_note.isVisible()

    window.timeline.setValue(0)
    assert inspector.scrubbed
    assert inspector.live_only_note.isVisible()
    assert inspector.function_curves[0].getData()[0] is None or \
        len(inspector.function_curves[0].getData()[0]) == 0
    steps, _power = window.record.neuron_power(4, 0)
    x, _y = inspector.race_curves[0].getData()
    assert list(x) == list(steps) == [0]
    first = window.record.snapshots[0]
    assert "step 0 (scrubbed)" in inspector.heading.text()
    assert f"{np.asarray(first.sparsity)[4]:.3f}" in inspector.details.text()

    window.go_live()
    assert not inspector.scrubbed and not inspector.live_only_note.isVisible()
    assert len(inspector.function_curves[0].getData()[0]) == window.context.order


def test_the_closed_form_says_when_it_is_outside_its_regime_before_any_simulation():
    """The run context's prediction note names the failed checks of the closed form
    (shown in the AGF panel before AGF is simulated); inside the regime it is empty."""
    from backend.presets import load_preset
    from gui.run_context import _predicted_drops

    config = load_preset("a5-agf").replace(group="S4", encoding="random_fourier",
                                           data_seed=0, seed=0)
    predicted, note = _predicted_drops(config)
    assert predicted and "outside its regime (separated rounds, whole orbits)" in note
    assert _predicted_drops(load_preset("c11-agf"))[1] == ""


def test_a_round_that_fits_part_of_an_orbit_is_not_called_learned(agf_window):
    from backend.agf.simulation import AgfRound

    panel = agf_window.agf_panel
    weights = (np.zeros((agf_window.context.width, agf_window.context.order)),) * 3
    part = AgfRound(1, 100.0, ["sign"], [0], 0.2, 0.15, weights, partial=True)
    whole = AgfRound(2, 200.0, ["sign"], [1], 0.15, 0.1, weights)
    panel.set_rounds([part, whole])
    assert "fitted part of sign" in panel.details.text()
    panel.select_round(1)
    assert "learned sign" in panel.details.text()


def test_comparison_table_marks_errors_beyond_the_targets(qtbot):
    """A step error over 15 % or a level error over 2 % shows in the error colour, an
    error within the target does not; rows beyond the room of three scroll; the
    table shows either prediction beside gradient descent."""
    from gui import theme
    from gui.panels.agf_table import SHOWN_ROWS, ComparisonTable

    def row(position, step_error, level_error):
        both = {"closed_form": None, "simulated": None, "gradient_descent": None}
        return {"position": position,
                "orbit": {**both, "simulated": "k=±1 (2-dim)", "gradient_descent": "k=±1"},
                "step": {**both, "simulated": 1100.0, "gradient_descent": 1000.0},
                "level": {**both, "simulated": 0.5, "gradient_descent": 0.5},
                "step_error": {"closed_form": None, "simulated": step_error},
                "level_error": {"closed_form": None, "simulated": level_error}}

    table = ComparisonTable()
    qtbot.addWidget(table)
    table.show_rows([row(1, 0.10, 0.03), *(row(p, 0.2, 0.0) for p in range(2, 7))], "note")
    red = theme.ERROR.lower()

    def colour(i, name):
        column = [table.table.horizontalHeaderItem(j).text().replace("\n", " ")
                  for j in range(table.table.columnCount())].index(name)
        return table.table.item(i, column).foreground().color().name()

    assert table.cell_text(0, "orbit sim.") == "k=±1" and table.cell_text(0, "step GD") == "1,000"
    assert table.note.text().startswith("Steps: where each orbit is half learned")
    assert table.cell_text(0, "step error") == "+10.0%" and colour(0, "step error") != red
    assert colour(0, "level error") == red and colour(1, "step error") == red
    table.prediction_choice.setCurrentIndex(table.prediction_choice.findData("closed_form"))
    assert table.table.horizontalHeaderItem(3).text() == "step\nclosed"
    assert table.cell_text(0, "step error") == "—" and table.cell_text(0, "step GD") == "1,000"
    # gradient descent's step read between snapshots 256 steps apart: ±128
    table.show_rows([{**row(1, 0.0, 0.0), "gd_step_spacing": 256.0}], "note")
    assert table.cell_text(0, "step GD") == "1,000 ±128"
    table.show_rows([row(1, 0.10, 0.03), *(row(p, 0.2, 0.0) for p in range(2, 7))], "note")
    assert table.table.rowCount() == 6 > SHOWN_ROWS
    assert table.note.text() == "note"


def test_function_power_shows_the_trivial_orbit_a_one_hot_target_has(agf_window):
    """d3-agf-onehot learns its trivial orbit first (the one-hot target's mean): the
    learned-function panel draws it with the others; a mean-centred template has no
    power there and no curve."""
    panel = agf_window.panels["function_power"]
    labels = [agf_window.context.orbit_labels[i] for i in panel.orbits]
    assert labels == ["trivial", "sign", "2-dim k=1"]
    context = replace(agf_window.context,
                      template_power=np.array([0.0, 1.0, 2.0]))
    panel.set_context(context)
    assert [context.orbit_labels[i] for i in panel.orbits] == ["sign", "2-dim k=1"]
    # cross-entropy is blind to the logits' mean: no trivial curve (the default preset)
    blind = replace(agf_window.context,
                    config=agf_window.context.config.replace(loss="cross_entropy"))
    panel.set_context(blind)
    assert [blind.orbit_labels[i] for i in panel.orbits] == ["sign", "2-dim k=1"]



def test_a_running_agf_simulation_shows_its_progress_and_stops(qtbot, agf_window,
                                                               monkeypatch):
    """While it simulates, the panel says how far the simulation has come and its button
    stops it: the simulation ends at its next step, and the panel is ready again once its
    thread has left."""
    import threading

    import backend.agf.rounds as rounds

    window, panel = agf_window, agf_window.agf_panel
    ended = threading.Event()

    def endless(config, drops="optimiser", progress=None):  # a simulation that never ends
        step = 0.0
        try:
            while True:
                progress(step, 12000.0)
                step += 10.0
                time.sleep(0.005)
        finally:
            ended.set()

    monkeypatch.setattr(rounds, "simulate_agf", endless)
    window.simulate_agf()
    assert panel.busy and panel.compute_button.text() == "Stop AGF"
    qtbot.waitUntil(lambda: panel.round_label.text().startswith("at step "), timeout=5000)
    assert "of at most 12,000" in panel.round_label.toolTip()
    assert "of at most 12,000" in panel.details.text()
    panel.compute_button.click()
    # until its thread has left, the panel says so and offers no second simulation
    assert panel.round_label.text() == "stopping…" and not panel.compute_button.isEnabled()
    assert ended.wait(5.0)  # the thread left the simulation
    qtbot.waitUntil(lambda: not panel.busy, timeout=5000)
    assert panel.compute_button.isEnabled() and panel.compute_button.text() == "Simulate AGF"
    assert panel.round_label.text() == "AGF simulation stopped"
    assert panel.details.text() == window.context.prediction_note  # as before it ran
    qtbot.wait(300)
    assert panel.round_label.text() == "AGF simulation stopped"  # no late progress shown

    # with rounds shown from before, they stay, and the status bar says they are old
    from backend.agf.simulation import AgfRound

    weights = tuple(np.zeros((window.context.width, 6)) for _ in range(3))
    panel.set_rounds([AgfRound(1, 10.0, ["sign"], [0], 1.0, 0.5, weights)])
    ended.clear()
    window.simulate_agf()
    qtbot.waitUntil(lambda: panel.round_label.text().startswith("at step "), timeout=5000)
    panel.compute_button.click()
    assert ended.wait(5.0)
    qtbot.waitUntil(lambda: not panel.busy, timeout=5000)
    assert panel.round_label.text() == "round 1/1 · step 10"
    assert "rounds shown are those of the simulation before" in (
        window.statusBar().currentMessage())


def test_snapshot_spacing_is_the_gap_that_brackets_a_step():
    """Gradient descent's orbit steps are interpolated between snapshots: the gap around
    the step (the last gap past the record's end, the first at its start), None without
    a step."""
    from gui.panels.agf_table import snapshot_spacing

    recorded = np.array([0.0, 10.0, 20.0, 40.0, 80.0])
    assert snapshot_spacing(recorded, 25.0) == 20.0
    assert snapshot_spacing(recorded, 40.0) == 20.0  # on a snapshot: the gap before it
    assert snapshot_spacing(recorded, 0.0) == 10.0
    assert snapshot_spacing(recorded, 200.0) == 40.0
    assert snapshot_spacing(recorded, None) is None
    assert snapshot_spacing(recorded[:1], 5.0) is None
