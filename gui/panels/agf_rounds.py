"""AGF rounds beside gradient descent: step through the simulated rounds one by one."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyqtgraph as pg
from PyQt6.QtCore import Qt, pyqtSignal
from PyQt6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QPushButton,
    QSizePolicy,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from backend.agf.comparison import climb_sentence, loss_climb
from backend.agf.theory import timing_scope
from gui import theme
from gui.panels.agf_table import ComparisonTable, comparison_rows
from gui.panels.base import (
    ElidedLabel,
    HeatMapImage,
    Panel,
    SteadyRange,
    WrappedLabel,
    decade_range,
    nice_ceiling,
)
from gui.panels.line_widths import thin_in_window
from gui.panels.log_axis import DecadeAxis
from gui.panels.orbit_axis import ColumnAxis
from gui.panels.spaced_axis import SpacedAxis
from gui.run_context import RunContext

DEFINITION = (
    "AGF (simulated): Alternating Gradient Flows integrated numerically for this "
    "configuration: each round the dormant "
    "neuron(s) of largest accumulated utility U(θ̄) = (1/N) Σ_pairs ⟨f_θ̄, r⟩ activate and "
    "the active neurons are trained to convergence. Gold: AGF (simulated)'s loss after "
    "each round, placed at the round's optimiser step. White: gradient descent's measured "
    "loss. A round whose loss does not fall (by 1 %) says so: its neurons activated on "
    "orbits already fitted.\n"
    "The page 'Comparison with gradient descent' compares, position by position, the "
    "orbit, drop step and plateau level of AGF (closed form), AGF (simulated) and "
    "gradient descent (an orbit counts as learned once half of its power is fitted), with "
    "each prediction's relative error, in red beyond the validation's targets (step 15 %, "
    "level 2 %); closed-form steps only where valid for the optimiser. A level shows '—' "
    "while the run is still inside that orbit's drop: it has no level yet.\n"
    "Drops: by cost minimisation (each drop a jump to the fitted network) or by the "
    "optimiser (the configuration's own steps through each drop: closer to gradient "
    "descent, slower; it says when a drop's loss climbs).\n"
    "◀ / ▶ step through the rounds. Right: the normalised orbit power of θ¹ per neuron "
    "(rows grouped by dominant orbit) for AGF after the round and for gradient descent at "
    "the same step; the text gives the neurons per dominant orbit of each."
)
SIMULATE = "Simulate AGF"
SIMULATE_TIP = "Run the AGF simulation for the current configuration (in the background)."
STOP = "Stop AGF"
STOP_TIP = "Stop the AGF simulation that is running (the rounds shown before stay)."
MAP_LAYER = 0  # the heat maps show θ¹
COMPACT_HEIGHT = 150  # pixels of loss plot below which it drops its axis titles


def _neurons(count: int) -> str:
    return f"{count} neuron" + ("" if count == 1 else "s")


class AgfRoundsPanel(Panel):
    """Round stepper, AGF staircase against the GD loss, and AGF's state after the round
    beside gradient descent's at the same step."""

    title = "AGF rounds"
    definition = DEFINITION
    compute_requested = pyqtSignal()
    stop_requested = pyqtSignal()
    round_changed = pyqtSignal(int)  # the step of the round now shown

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        bar = QHBoxLayout()
        self.compute_button = QPushButton(SIMULATE)
        self.compute_button.setToolTip(SIMULATE_TIP)
        self.compute_button.clicked.connect(self._compute_clicked)
        # as wide as its longer text needs (the style's padding included), whichever it shows
        self.compute_button.setMinimumWidth(self.compute_button.sizeHint().width())
        self.busy = False
        self.drops_choice = QComboBox()
        self.drops_choice.addItem("drops: optimiser", "optimiser")
        self.drops_choice.addItem("drops: cost", "cost")
        self.drops_choice.setToolTip(
            "How AGF (simulated) resolves each drop: by the optimiser (the configuration's "
            "own steps through the drop, the mode validated against gradient descent) or "
            "by cost minimisation (a jump to the fitted network, AGF as first formulated: "
            "off on later orbits).")
        self.previous_button = QPushButton("◀")
        self.previous_button.setToolTip("Previous AGF round")
        self.previous_button.clicked.connect(lambda: self.select_round(self.current - 1))
        self.next_button = QPushButton("▶")
        self.next_button.setToolTip("Next AGF round")
        self.next_button.clicked.connect(lambda: self.select_round(self.current + 1))
        self.round_label = ElidedLabel("no rounds yet")  # "round 1 o" would read as a value
        self.round_label.setMinimumWidth(1)  # it shortens before the window has to widen
        self.round_label.setSizePolicy(QSizePolicy.Policy.Ignored,
                                       QSizePolicy.Policy.Preferred)
        for arrow in (self.previous_button, self.next_button):
            arrow.setMaximumWidth(3 * arrow.fontMetrics().height())
        bar.addWidget(self.compute_button)
        bar.addWidget(self.drops_choice)
        bar.addWidget(self.previous_button)
        bar.addWidget(self.next_button)
        bar.addWidget(self.round_label, 1)
        self.layout_.addLayout(bar)
        # why the rounds are not to be trusted, when seen: at most three lines in a small
        # dock (the whole text and the measured reasons in its tooltip)
        self.caution_label = WrappedLabel(1, 3)
        self.caution_label.setObjectName("error")
        self.caution_label.setVisible(False)
        self.layout_.addWidget(self.caution_label)
        # two pages, each with the dock's whole height: the rounds, and the comparison
        self.pages = QTabWidget()
        self.pages.setDocumentMode(True)
        rounds_page = QWidget()
        rounds_layout = QVBoxLayout(rounds_page)
        rounds_layout.setContentsMargins(0, 2, 0, 0)
        comparison_page = QWidget()
        comparison_layout = QVBoxLayout(comparison_page)
        comparison_layout.setContentsMargins(0, 2, 0, 0)
        self.pages.addTab(rounds_page, "Rounds")
        self.pages.addTab(comparison_page, "Comparison with gradient descent")
        self.layout_.addWidget(self.pages, 1)

        self.canvas = pg.GraphicsLayoutWidget()
        self.canvas.setToolTip(DEFINITION)
        rounds_layout.addWidget(self.canvas, 1)
        self.plot = self.canvas.addPlot(row=0, col=0, axisItems={"left": DecadeAxis("left"),
                                                                 "bottom": SpacedAxis("bottom")})
        self.plot.setMenuEnabled(False)
        self.plot.hideButtons()
        self.plot.setLogMode(x=False, y=True)
        self.plot.setLabel("bottom", "step")
        self.plot.setLabel("left", "loss")
        self.canvas.ci.layout.setColumnStretchFactor(0, 3)
        self.x_range = SteadyRange(self.plot, "x")
        self.y_range = SteadyRange(self.plot, "y")
        self.gd_curve = thin_in_window(self.plot.plot(skipFiniteCheck=True),
                                       pg.mkPen(theme.LOSS_COLOUR, width=1.2))
        self.gd_curve.setDownsampling(auto=True, method="peak")
        self.gd_curve.setClipToView(True)
        self.agf_curve = self.plot.plot(pen=pg.mkPen(theme.PREDICTION_COLOUR, width=2),
                                        skipFiniteCheck=True)
        self.round_marker = pg.ScatterPlotItem(size=11, brush=pg.mkBrush(theme.CURSOR_COLOUR),
                                               pen=pg.mkPen("w", width=1))
        self.plot.addItem(self.round_marker)

        self.maps: list[pg.ImageItem] = []
        self.map_plots: list[pg.PlotItem] = []
        lut = theme.lookup_table("viridis")
        for column, name in enumerate(("AGF", "gradient descent"), start=1):
            plot = self.canvas.addPlot(row=0, col=column,
                                       axisItems={"bottom": ColumnAxis(level_only=True)})
            plot.setTitle(theme.plot_title(f"{name}: θ¹ power"))
            plot.setMenuEnabled(False)
            plot.hideButtons()
            plot.setMouseEnabled(x=False, y=False)
            plot.invertY(True)
            plot.getAxis("left").setStyle(showValues=False)
            image = HeatMapImage(axisOrder="row-major")
            image.setLookupTable(lut)
            image.setLevels((0.0, 1.0))
            plot.addItem(image)
            self.canvas.ci.layout.setColumnStretchFactor(column, 1)
            self.maps.append(image)
            self.map_plots.append(plot)
        self.map_plots[0].getAxis("bottom").share_layout(
            [plot.getAxis("bottom") for plot in self.map_plots])
        self.plot.geometryChanged.connect(self._fit_to_height)

        self.details = WrappedLabel(3, 4)
        self.details.setObjectName("muted")
        self.details.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        rounds_layout.addWidget(self.details)
        self.regime_label = ElidedLabel("")  # the closed form outside its regime, not the
        self.regime_label.setObjectName("muted")  # rounds: one line, the reasons as tooltip
        self.regime_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        self.regime_label.setVisible(False)
        comparison_layout.addWidget(self.regime_label)
        self.comparison = ComparisonTable(DEFINITION)
        comparison_layout.addWidget(self.comparison, 1)
        self._table_key: tuple = ()
        self.simulated_drops: list | None = None
        self.rounds: list = []
        self.round_states: list = []
        self.current = -1
        self._history: Any = None
        self._states: Any = None  # the AgfStates shown (its regime, caution and climb)
        self._note = ""
        self._update_buttons()

    def _fit_to_height(self) -> None:
        """Below COMPACT_HEIGHT pixels the loss plot drops its axis titles ("step",
        "loss"; the canvas's tooltip says what is drawn) to give its curve the room."""
        titled = self.plot.geometry().height() >= COMPACT_HEIGHT
        if titled != self.plot.getAxis("bottom").label.isVisible():
            self.plot.showLabel("bottom", titled)
            self.plot.showLabel("left", titled)

    def set_context(self, context: RunContext) -> None:
        super().set_context(context)
        k = context.num_orbits
        for plot in self.map_plots:
            plot.getAxis("bottom").set_labels(list(context.orbit_labels))
            plot.setXRange(0, k, padding=0)
            plot.setYRange(0, context.width, padding=0)
        self.x_range.reset()
        self.y_range.reset()
        self._history = None
        self.gd_curve.setData([], [])
        self.set_states(None, note=context.prediction_note)

    def drops_mode(self) -> str:
        """The drop mode chosen for the next simulation ("cost" or "optimiser")."""
        return str(self.drops_choice.currentData())

    def _compute_clicked(self) -> None:
        (self.stop_requested if self.busy else self.compute_requested).emit()

    def set_busy(self, busy: bool) -> None:
        """Show that a simulation is running; its button stops it meanwhile."""
        self.busy = busy
        self.compute_button.setEnabled(True)
        self.compute_button.setText(STOP if busy else SIMULATE)
        self.compute_button.setToolTip(STOP_TIP if busy else SIMULATE_TIP)
        self.drops_choice.setEnabled(not busy)
        if busy:
            self.round_label.setText("simulating AGF…")

    def set_progress(self, step: float, horizon: float) -> None:
        """Show how far the running simulation has come (optimiser steps): the step in a
        few characters beside the buttons (the dock may be narrow; the button says it is
        running), the whole sentence in its tooltip and in the text under the plots."""
        if self.busy:
            whole = (f"Simulating AGF: optimiser step {step:,.0f} of at most {horizon:,.0f} "
                     "(past the run's steps it stops once every orbit is learned).")
            self.round_label.setText(f"at step {step:,.0f}")
            self.round_label.setToolTip(whole)
            self.details.setText(whole)

    def set_stopping(self) -> None:
        """The running simulation has been told to stop and has not yet left."""
        self.compute_button.setEnabled(False)
        self.round_label.setText("stopping…")

    def set_stopped(self) -> None:
        """The running simulation was stopped: the rounds shown before stay (or, with
        none, the configuration's note)."""
        self.set_busy(False)
        if self.rounds:
            self.select_round(self.current)
        else:
            self.round_label.setText("AGF simulation stopped")
            self.details.setText(self._note)

    def set_states(self, states: Any, note: str = "") -> None:
        """Adopt an AGF simulation (backend.agf.rounds.AgfStates; None: none)."""
        rounds = list(states.rounds) if states is not None else []
        snapshots = list(states.snapshots) if states is not None else []
        self.simulated_drops = list(states.drops) if states is not None else None
        regime = states.regime if states is not None else None
        outside = regime is not None and not regime.inside
        self._states = states
        self._show_caution()
        closed_only = regime is not None and not outside and not regime.closed_form_inside
        self.regime_label.setText(
            f"{regime.closed_form_note()}; drops by the optimiser follow those as gradient "
            "descent does." if closed_only else "")
        self.regime_label.setToolTip("\n".join(regime.lines()) if closed_only else "")
        self.regime_label.setVisible(closed_only)
        self.set_rounds(rounds, note=note, snapshots=snapshots)

    def set_rounds(self, rounds: list, note: str = "", snapshots: list | None = None) -> None:
        """Adopt the rounds of an AGF simulation (AgfRound objects, in order) and the
        backend's snapshot of the network after each (optional)."""
        self.rounds = list(rounds)
        self.round_states = list(snapshots or [])
        self.current = -1
        if self.rounds:
            steps = [0.0] + [float(r.step) for r in self.rounds]
            losses = [float(self.rounds[0].loss_before)]
            losses += [float(r.loss_after) for r in self.rounds]
            x = np.repeat(np.asarray(steps), 2)[1:]
            y = np.repeat(np.asarray(losses), 2)[:-1]
            keep = y > 0
            self.agf_curve.setData(x[keep], y[keep])
            self._fit_ranges()
            self.select_round(0)
            self._update_table()
        else:
            self.agf_curve.setData([], [])
            self.round_marker.setData([], [])
            for image in self.maps:
                image.clear()
            self.round_label.setText("no rounds yet")
            self._note = note  # the configuration's note, shown again after a stop
            self.details.setText(note)
            self.comparison.clear()
            self._table_key = ()
        self._update_buttons()

    def select_round(self, index: int) -> None:
        """Show the AGF state after round ``index`` beside gradient descent."""
        if not self.rounds:
            return
        index = int(np.clip(index, 0, len(self.rounds) - 1))
        self.current = index
        agf_round = self.rounds[index]
        self.round_label.setText(f"round {index + 1}/{len(self.rounds)} · step "
                                 f"{float(agf_round.step):,.0f}")  # short: the dock is narrow
        if float(agf_round.loss_after) > 0:
            self.round_marker.setData([float(agf_round.step)],
                                      [np.log10(float(agf_round.loss_after))])
        self._show_maps()
        self._describe_round()
        self._update_buttons()
        self.round_changed.emit(int(round(float(agf_round.step))))

    def round_snapshot(self) -> Any:
        """The backend's snapshot of AGF's network after the round shown (None: none)."""
        if 0 <= self.current < len(self.round_states):
            return self.round_states[self.current]
        return None

    def gd_snapshot(self) -> Any:
        """Gradient descent's recorded snapshot where the round's network stands (its
        level, after the drop: ``AgfRound.weights_step``), None where not reached."""
        if self.current < 0 or self._history is None or not len(self._history):
            return None
        step = self.rounds[self.current].weights_step
        if float(self._history.snapshot_steps[-1]) < step:
            return None
        return self._history.snapshot_at(int(round(step)))

    def _show_maps(self) -> None:
        for image, snapshot in zip(self.maps, (self.round_snapshot(), self.gd_snapshot()),
                                   strict=True):
            if snapshot is None:
                image.clear()
                continue
            rows = np.argsort(np.asarray(snapshot.dominant_orbit), kind="stable")
            power = np.asarray(snapshot.power)[MAP_LAYER][rows]
            image.setImage(np.ascontiguousarray(power, dtype=np.float32), autoLevels=False,
                           levels=(0.0, 1.0))

    def _counts_text(self, snapshot: Any, neurons: np.ndarray | None = None) -> str:
        dominant = np.asarray(snapshot.dominant_orbit)
        if neurons is not None:
            dominant = dominant[neurons]
        labels = self.context.short_orbit_labels(10) if self.context else []
        counts = np.bincount(dominant, minlength=len(labels))
        shown = [f"{labels[k]} {int(counts[k])}" for k in np.argsort(-counts, kind="stable")
                 if counts[k] > 0]
        return ", ".join(shown[:6]) or "—"

    def _describe_round(self) -> None:
        if self.current < 0:
            return
        agf_round = self.rounds[self.current]
        orbits = ", ".join(str(label) for label in agf_round.orbits) or "—"
        verb = ("activated, no drop on" if not agf_round.dropped
                else "fitted part of" if getattr(agf_round, "partial", False) else "learned")
        text = (f"<b>AGF (simulated) round {int(agf_round.round)}</b>: {verb} {orbits} "
                f"({_neurons(len(agf_round.neurons))}); loss "
                f"{float(agf_round.loss_before):.4g} → {float(agf_round.loss_after):.4g}")
        level_step = agf_round.weights_step
        if abs(level_step - float(agf_round.step)) >= 1.0:  # read on its level, later
            text += f" at step {level_step:,.0f}"
        state = self.round_snapshot()
        if state is not None:
            active = np.unique(np.concatenate(
                [np.asarray(r.neurons, dtype=np.int64) for r in self.rounds[:self.current + 1]]))
            text += f". Active neurons per orbit: {self._counts_text(state, active)}"
        gd = self.gd_snapshot()
        if gd is not None:
            text += (f"<br><b>Gradient descent at step {int(gd.step):,}</b>: loss "
                     f"{float(gd.loss):.4g}; neurons per orbit: {self._counts_text(gd)}")
        else:
            text += "<br>Gradient descent has not reached this step yet."
        self.details.setText(text)

    def _update_buttons(self) -> None:
        self.previous_button.setEnabled(self.current > 0)
        self.next_button.setEnabled(0 <= self.current < len(self.rounds) - 1)

    def _fit_ranges(self, losses: np.ndarray | None = None) -> None:
        end = 1.0
        if self._history is not None and len(self._history):
            end = float(self._history.snapshot_steps[-1])
        if self.rounds:
            end = max(end, float(self.rounds[-1].step))
        self.x_range.set(0.0, nice_ceiling(max(end, 1.0)))
        values = [np.asarray(losses if losses is not None else [], dtype=float)]
        values += [np.array([float(r.loss_before), float(r.loss_after)]) for r in self.rounds]
        decades = decade_range(np.concatenate(values))
        if decades is not None:
            self.y_range.set(*decades)

    def show_history(self, history: Any, step: int | None = None) -> None:
        self._history = history
        steps, losses = history.loss_curve(step)
        positive = losses > 0
        self.gd_curve.setData(steps[positive], losses[positive])
        self._fit_ranges(losses[positive])
        if self.current >= 0:
            self._show_maps()
            self._describe_round()
            self._update_table()

    def _show_caution(self) -> None:
        """The simulation's warnings in short (the dock is small; the measured reasons in
        full in the tooltip), and beside a simulated climb whether gradient descent's
        record climbs too (backend.agf.comparison.loss_climb) once it has run past the
        simulated climb's step."""
        states, history = self._states, self._history
        regime = states.regime if states is not None else None
        outside = regime is not None and not regime.inside
        warnings = ([f"OUTSIDE AGF's regime ({', '.join(regime.failed_checks(True))})"]
                    if outside else [])
        details = regime.lines() if outside else []
        if states is not None and states.caution:
            warnings.append(states.caution_headline or states.caution)
            details.append(states.caution)
        spike = getattr(states, "spike", None)
        if spike is not None and history is not None and len(history) >= 2:
            steps, losses = history.loss_curve()
            climb = loss_climb(steps, losses)
            if climb is not None or float(steps[-1]) > spike.step:
                details.append(climb_sentence(climb))
                warnings.append(f"gradient descent climbs too, at step {climb.step:.0f}"
                                if climb is not None else "gradient descent does not")
        caution = "; ".join(warnings)
        self.caution_label.setText(f"AGF (simulated): {caution}." if caution else "")
        self.caution_label.set_tip("\n".join(details))
        self.caution_label.setVisible(bool(caution))

    def _update_table(self) -> None:
        """The per-position comparison (backend.agf.comparison) of AGF (closed form),
        AGF (simulated) and gradient descent's record, redone when either changes."""
        history = self._history
        count = len(history) if history is not None else 0
        key = (id(self.rounds), len(self.rounds), count,
               getattr(history, "version", count))
        if not self.rounds or key == self._table_key:
            return
        self._table_key = key
        self._show_caution()
        config = self.context.config if self.context is not None else None
        self.comparison.show_rows(
            comparison_rows(self.context, self.rounds, history, self.simulated_drops),
            note=timing_scope(config)[1] if config is not None else "")
