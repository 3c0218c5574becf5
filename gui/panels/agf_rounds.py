"""AGF rounds beside gradient descent: step through the simulated rounds one by one."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyqtgraph as pg
from PyQt6.QtCore import Qt, pyqtSignal
from PyQt6.QtWidgets import QHBoxLayout, QLabel, QPushButton

from gui import theme
from gui.panels.base import Panel
from gui.run_context import RunContext

DEFINITION = (
    "Alternating Gradient Flows, simulated for this configuration: each round the dormant "
    "neuron(s) of largest accumulated utility U(θ̄) = (1/N) Σ_pairs ⟨f_θ̄, r⟩ activate and "
    "the active neurons are trained to convergence. Gold: AGF's loss after each round, "
    "placed at the round's step (t = η · steps). White: gradient descent's measured loss.\n"
    "◀ / ▶ step through the rounds; the text compares AGF's state after the round with "
    "gradient descent at the same step."
)


class AgfRoundsPanel(Panel):
    """Round stepper, AGF staircase against the GD loss, and a per-round comparison."""

    title = "AGF rounds"
    definition = DEFINITION
    compute_requested = pyqtSignal()
    round_changed = pyqtSignal(int)  # the step of the round now shown

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        bar = QHBoxLayout()
        self.compute_button = QPushButton("Simulate AGF")
        self.compute_button.setToolTip("Run the AGF simulation for the current configuration "
                                       "(in the background).")
        self.compute_button.clicked.connect(self.compute_requested)
        self.previous_button = QPushButton("◀ Round")
        self.previous_button.setToolTip("Previous AGF round")
        self.previous_button.clicked.connect(lambda: self.select_round(self.current - 1))
        self.next_button = QPushButton("Round ▶")
        self.next_button.setToolTip("Next AGF round")
        self.next_button.clicked.connect(lambda: self.select_round(self.current + 1))
        self.round_label = QLabel("no rounds yet")
        bar.addWidget(self.compute_button)
        bar.addWidget(self.previous_button)
        bar.addWidget(self.next_button)
        bar.addWidget(self.round_label, 1)
        self.layout_.addLayout(bar)
        self.plot = self.new_plot(tooltip=DEFINITION)
        item = self.plot.getPlotItem()
        item.setLogMode(x=False, y=True)
        item.setLabel("bottom", "step")
        item.setLabel("left", "loss")
        item.vb.setLimits(minYRange=0.3)
        self.gd_curve = item.plot(pen=pg.mkPen(theme.LOSS_COLOUR, width=1.2), skipFiniteCheck=True)
        self.gd_curve.setDownsampling(auto=True, method="peak")
        self.agf_curve = item.plot(pen=pg.mkPen(theme.PREDICTION_COLOUR, width=2),
                                   stepMode=None, skipFiniteCheck=True)
        self.round_marker = pg.ScatterPlotItem(size=11, brush=pg.mkBrush(theme.CURSOR_COLOUR),
                                               pen=pg.mkPen("w", width=1))
        item.addItem(self.round_marker)
        self.layout_.addWidget(self.plot, 1)
        self.details = QLabel("")
        self.details.setWordWrap(True)
        self.details.setObjectName("muted")
        self.details.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.layout_.addWidget(self.details)
        self.rounds: list = []
        self.current = -1
        self._history: Any = None
        self._update_buttons()

    def set_context(self, context: RunContext) -> None:
        super().set_context(context)
        self.set_rounds([], note=context.prediction_note)

    def set_busy(self, busy: bool) -> None:
        """Show that a simulation is running."""
        self.compute_button.setEnabled(not busy)
        if busy:
            self.round_label.setText("simulating AGF…")

    def set_rounds(self, rounds: list, note: str = "") -> None:
        """Adopt the rounds of an AGF simulation (AgfRound objects, in order)."""
        self.rounds = list(rounds)
        self.current = -1
        if self.rounds:
            steps = [0.0] + [float(r.step) for r in self.rounds]
            losses = [float(self.rounds[0].loss_before)]
            losses += [float(r.loss_after) for r in self.rounds]
            x = np.repeat(np.asarray(steps), 2)[1:]
            y = np.repeat(np.asarray(losses), 2)[:-1]
            keep = y > 0
            self.agf_curve.setData(x[keep], y[keep])
            self.select_round(0)
        else:
            self.agf_curve.setData([], [])
            self.round_marker.setData([], [])
            self.round_label.setText("no rounds yet")
            self.details.setText(note)
        self._update_buttons()

    def select_round(self, index: int) -> None:
        """Show the AGF state after round ``index`` beside gradient descent."""
        if not self.rounds:
            return
        index = int(np.clip(index, 0, len(self.rounds) - 1))
        self.current = index
        agf_round = self.rounds[index]
        self.round_label.setText(f"round {index + 1} of {len(self.rounds)}  ·  step "
                                 f"{float(agf_round.step):.0f}")
        if float(agf_round.loss_after) > 0:
            self.round_marker.setData([float(agf_round.step)],
                                      [np.log10(float(agf_round.loss_after))])
        self._describe_round()
        self._update_buttons()
        self.round_changed.emit(int(round(float(agf_round.step))))

    def _describe_round(self) -> None:
        if self.current < 0:
            return
        agf_round = self.rounds[self.current]
        orbits = ", ".join(str(label) for label in agf_round.orbits) or "—"
        neurons = list(agf_round.neurons)
        shown = ", ".join(str(int(m)) for m in neurons[:8]) + ("…" if len(neurons) > 8 else "")
        text = (f"<b>AGF after round {int(agf_round.round)}</b>: learned {orbits} "
                f"(neurons {shown or '—'}); loss {float(agf_round.loss_before):.4g} → "
                f"{float(agf_round.loss_after):.4g}.")
        if self._history is not None and len(self._history):
            steps, losses = self._history.loss_curve()
            step = float(agf_round.step)
            if len(steps) and steps[-1] >= step:
                at = int(np.searchsorted(steps, step, side="right")) - 1
                text += (f"<br><b>Gradient descent at step {int(steps[max(at, 0)])}</b>: "
                         f"loss {float(losses[max(at, 0)]):.4g}")
                snapshot = self._history.snapshot_at(int(step))
                if snapshot is not None and self.context is not None:
                    counts = np.asarray(snapshot.orbit_counts)
                    top = np.argsort(counts)[::-1][:3]
                    text += "; most neurons on " + ", ".join(
                        f"{self.context.orbit_labels[k]} ({int(counts[k])})" for k in top)
            else:
                text += "<br>Gradient descent has not reached this step yet."
        self.details.setText(text)

    def _update_buttons(self) -> None:
        self.previous_button.setEnabled(self.current > 0)
        self.next_button.setEnabled(0 <= self.current < len(self.rounds) - 1)

    def show_history(self, history: Any, step: int | None = None) -> None:
        self._history = history
        steps, losses = history.loss_curve(step)
        positive = losses > 0
        self.gd_curve.setData(steps[positive], losses[positive])
