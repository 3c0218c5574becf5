"""(g) One neuron up close: its per-orbit power race, its functions a, b, c, its phases."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyqtgraph as pg
from PyQt6.QtWidgets import QComboBox, QHBoxLayout, QLabel

from gui import theme
from gui.panels.base import (
    ElidedLabel,
    LegendAbove,
    Panel,
    SteadyRange,
    fit_axis_label,
    fix_text_height,
    fix_text_width,
    nice_ceiling,
    set_step_axis_log,
    step_coordinates,
)
from gui.panels.line_widths import thin_in_window
from gui.panels.orbit_axis import ColumnAxis
from gui.panels.spaced_axis import SpacedAxis
from gui.run_context import RunContext
from gui.worker_commands import NeuronFunctions

DEFINITION = (
    "The selected neuron (click a row of the heat maps). Left: its normalised orbit power "
    "p(m, O) over time for the chosen layer — the race between orbits that one of them "
    "wins. Right: its effective functions on G, a(g) = ⟨θ¹, x_g⟩, b(g) = ⟨θ², x_g⟩, "
    "c(g) = ⟨ξ, x_g⟩ — known for the live weights only, since the history records metrics, "
    "not weights. Below: dominant orbit, sparsity = max_O p, IPR = Σ_O p², norms, "
    "phases φ¹, φ², ψ and the alignment phasor z at the moment shown."
)
LIVE_ONLY = "a, b, c on G are known\nfor the live weights only:\npress Live (End)"
MAX_LEGEND = 8


class NeuronInspectorPanel(Panel):
    """Power race, functions on G and phase figures of one neuron."""

    title = "Neuron inspector"
    definition = DEFINITION

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        bar = QHBoxLayout()
        self.heading = ElidedLabel("Click a heat-map row to inspect a neuron.")
        bar.addWidget(self.heading, 1)
        bar.addWidget(QLabel("layer"))
        self.layer_box = QComboBox()
        for name in theme.LAYER_NAMES:
            self.layer_box.addItem(name)
        self.layer_box.setToolTip("Which layer's orbit power the race shows.")
        self.layer_box.currentIndexChanged.connect(self._redraw_race)
        bar.addWidget(self.layer_box)
        self.layout_.addLayout(bar)
        self.canvas = pg.GraphicsLayoutWidget()
        self.canvas.setToolTip(DEFINITION)
        self.layout_.addWidget(self.canvas, 1)
        self.race_plot = self.canvas.addPlot(row=0, col=0,
                                             axisItems={"bottom": SpacedAxis("bottom"),
                                                        "left": SpacedAxis("left")})
        fit_axis_label(self.race_plot.getAxis("left"), ["orbit power", "power"])  # the
        # title row holds its legend
        self.race_legend = LegendAbove(self.race_plot)
        self.race_plot.setLabel("bottom", "step")
        self.race_plot.setYRange(0, 1.02, padding=0)
        # three ticks: six run together in a plot a few lines high
        self.race_plot.getAxis("left").setTicks([[(0.0, "0"), (0.5, "0.5"), (1.0, "1")], []])
        self.function_plot = self.canvas.addPlot(row=0, col=1,
                                                 axisItems={"bottom": ColumnAxis(),
                                                            "left": SpacedAxis("left")})
        # the letters in their curves' colours stand for a legend, which would sit on
        # the curves of a plot this small
        self.function_plot.setTitle(theme.plot_title(
            " ".join(f"<span style='color:{colour}'>{letter}</span>"
                     for letter, colour in zip("abc", theme.LAYER_COLOURS, strict=True))
            + " on G"))
        self.race_x_range = SteadyRange(self.race_plot, "x")
        self.function_y_range = SteadyRange(self.function_plot, "y", padding=0.05)
        for plot in (self.race_plot, self.function_plot):
            plot.setMenuEnabled(False)
            plot.hideButtons()
        self.function_curves = []
        for colour in theme.LAYER_COLOURS:
            curve = self.function_plot.plot(pen=pg.mkPen(colour, width=1.4), symbol="o",
                                            symbolSize=4, symbolBrush=colour, symbolPen=None)
            self.function_curves.append(curve)
        self.live_only_note = pg.TextItem(LIVE_ONLY, color=theme.MUTED, anchor=(0.5, 0.5))
        self.live_only_note.setVisible(False)
        self.function_plot.addItem(self.live_only_note, ignoreBounds=True)
        self.race_curves: list[pg.PlotDataItem] = []
        self.details = QLabel("")
        self.details.setObjectName("muted")
        self.details.setWordWrap(True)
        fix_text_height(self.details, 3)
        fix_text_width(self.heading)
        self.layout_.addWidget(self.details)
        self.neuron: int | None = None
        self._history: Any = None
        self._history_step: int | None = None
        self._functions: NeuronFunctions | None = None
        self.scrubbed = False  # True while the moment shown is not the live one

    def set_context(self, context: RunContext) -> None:
        super().set_context(context)
        self.race_plot.clear()
        if self.race_plot.legend is not None:
            self.race_plot.legend.scene().removeItem(self.race_plot.legend)
            self.race_plot.legend = None
        legend = (self.race_plot.addLegend(offset=(-6, 6), labelTextSize="8pt")
                  if context.num_orbits <= MAX_LEGEND else None)
        self.race_legend.attach(legend)
        self.race_curves = []
        for orbit, label in enumerate(context.orbit_labels):
            colour = theme.orbit_colour(orbit, context.num_orbits)
            curve = thin_in_window(self.race_plot.plot(skipFiniteCheck=True),
                                   pg.mkPen(colour, width=1.5))
            if legend is not None:  # the orbit alone: its dimension is in the heading
                legend.addItem(curve, label.split(" (")[0])
            self.race_curves.append(curve)
        self.race_legend.fit()
        self.race_x_range.reset()
        self.function_y_range.reset()
        n = context.order
        self.function_plot.setXRange(0, n, padding=0)
        self.function_plot.getAxis("bottom").set_labels(list(context.element_names))
        if self.neuron is not None and self.neuron >= context.width:
            self.neuron = None
        self.live_only_note.setPos(n / 2, 0.0)
        self._functions = None
        self.scrubbed = False
        self._draw_functions()

    def set_neuron(self, neuron: int | None) -> None:
        """Inspect ``neuron`` (None: nobody)."""
        self.neuron = neuron
        self._draw_functions()
        self._describe()
        self._redraw_race()

    def set_log_steps(self, on: bool) -> None:
        super().set_log_steps(on)
        set_step_axis_log(self.race_plot, on)
        self.race_x_range.log = bool(on)
        self.race_x_range.reset()

    def show_snapshot(self, snapshot: Any) -> None:
        super().show_snapshot(snapshot)
        self._describe()

    def show_history(self, history: Any, step: int | None = None) -> None:
        self._history, self._history_step = history, step
        scrubbed = step is not None and len(history) > 0 and (
            int(history.snapshot_at(step).step) < int(history.snapshot_steps[-1]))
        if scrubbed != self.scrubbed:
            self.scrubbed = scrubbed
            self._draw_functions()
            self._describe()
        self._redraw_race()

    def show_functions(self, functions: NeuronFunctions | None) -> None:
        """Keep and draw a, b, c of the inspected neuron (sent by the worker with live
        snapshots); while a past moment is shown they wait for the return to live."""
        if functions is None or functions.neuron != self.neuron:
            return
        self._functions = functions
        self._draw_functions()

    def _draw_functions(self) -> None:
        functions = self._functions
        live = functions is not None and functions.neuron == self.neuron
        self.live_only_note.setVisible(self.scrubbed and self.neuron is not None)
        if self.scrubbed or not live:
            for curve in self.function_curves:
                curve.setData([], [])
            return
        x = np.arange(functions.functions.shape[1]) + 0.5  # column i spans [i, i + 1)
        for curve, values in zip(self.function_curves, functions.functions, strict=True):
            curve.setData(x, values)
        extent = float(np.nanmax(np.abs(functions.functions))) if functions.functions.size else 1.0
        extent = nice_ceiling(extent)
        self.function_y_range.set(-extent, extent)
        self.live_only_note.setPos(self.live_only_note.pos().x(), 0.0)

    def _redraw_race(self, *_args) -> None:
        if self.neuron is None or self._history is None or len(self._history) == 0:
            for curve in self.race_curves:
                curve.setData([], [])
            return
        steps, power = self._history.neuron_power(self.neuron, self._history_step)
        layer = self.layer_box.currentIndex()
        x, kept = step_coordinates(steps, self.log_steps)
        for orbit, curve in enumerate(self.race_curves):
            if orbit < power.shape[2]:
                curve.setData(x, power[kept, layer, orbit])
        last = float(self._history.snapshot_steps[-1])
        self.race_x_range.follow(last)

    def _describe(self) -> None:
        snapshot, context, m = self.snapshot, self.context, self.neuron
        if m is None or snapshot is None or context is None:
            self.heading.setText("Click a heat-map row to inspect a neuron.")
            self.details.setText("")
            return
        orbit = int(np.asarray(snapshot.dominant_orbit)[m])
        moment = f"step {int(snapshot.step):,}" + (" (scrubbed)" if self.scrubbed else "")
        self.heading.setText(f"Neuron {m} → {context.short_orbit_labels(16)[orbit]} "
                             f"(dim {int(context.orbit_dims[orbit])}), {moment}")
        norms = np.asarray(snapshot.norms)[:, m]
        phases = np.asarray(snapshot.phases)[:, m]
        z = complex(np.asarray(snapshot.alignment)[m])
        phase_text = ", ".join(
            f"{name} = {value:+.2f}" if np.isfinite(value) else f"{name} = n/a"
            for name, value in zip(("φ¹", "φ²", "ψ"), phases, strict=True))
        self.details.setText(
            f"sparsity {float(np.asarray(snapshot.sparsity)[m]):.3f}   "
            f"IPR {float(np.asarray(snapshot.ipr)[m]):.3f}   "
            f"norms ‖θ¹‖ {norms[0]:.3g}, ‖θ²‖ {norms[1]:.3g}, ‖ξ‖ {norms[2]:.3g}   "
            f"{phase_text}   |z| = {abs(z):.3f}, arg z = {np.angle(z):+.2f}")
