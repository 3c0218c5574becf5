"""(b) Phase circles: each neuron of one orbit as a point on the unit circle, per layer."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyqtgraph as pg
from PyQt6.QtWidgets import QComboBox, QHBoxLayout, QLabel

from gui import theme
from gui.panels.base import Panel, fix_text_width
from gui.run_context import RunContext

DEFINITION = (
    "For the neurons whose dominant orbit is the chosen one (one-dimensional irreps): "
    "φ¹ = arg â[ρ], φ² = arg b̂[ρ], ψ = arg ĉ[ρ] for a fixed representative ρ of the orbit, "
    "each drawn at angle φ on the unit circle.\n"
    "The fourth circle shows the alignment phasor z = tr(ĉ† b̂ â) / (‖b̂ â‖_F ‖ĉ‖_F) at the "
    "dominant irrep (any dimension); theory: z → 1.\n"
    "Haar statistics R_ι = |mean_m exp(iιφ_m)| for ι = 1..4; theory (Abelian, one-hot): → 0."
)
AUTO = "most populated"  # among the orbits with phases (one-dimensional), when any
CIRCLE_POINTS = 121


class PhaseCirclesPanel(Panel):
    """Four unit circles (φ¹, φ², ψ, z) for the neurons of one orbit, with R₁…R₄."""

    title = "Phases and alignment"
    definition = DEFINITION

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        bar = QHBoxLayout()
        bar.addWidget(QLabel("Orbit"))
        self.orbit_box = QComboBox()
        self.orbit_box.setToolTip("Which orbit's neurons to draw.")
        self.orbit_box.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.orbit_box.setMinimumContentsLength(14)
        self.orbit_box.currentIndexChanged.connect(self._redraw)
        bar.addWidget(self.orbit_box)
        self.haar_label = QLabel("")
        self.haar_label.setToolTip("Haar statistics R_ι = |mean_m e^{iιφ_m}|, ι = 1..4, "
                                   "of the chosen orbit (0 for Haar-uniform phases).")
        fix_text_width(self.haar_label)
        bar.addWidget(self.haar_label, 1)
        self.layout_.addLayout(bar)

        self.canvas = pg.GraphicsLayoutWidget()
        self.canvas.setToolTip(DEFINITION)
        self.layout_.addWidget(self.canvas, 1)
        angle = np.linspace(0, 2 * np.pi, CIRCLE_POINTS)
        self.scatters: list[pg.ScatterPlotItem] = []
        names = ("φ¹ (a)", "φ² (b)", "ψ (c)", "z")
        colours = (*theme.LAYER_COLOURS, theme.GOOD)
        for column, (name, colour) in enumerate(zip(names, colours, strict=True)):
            plot = self.canvas.addPlot(row=0, col=column)
            plot.setTitle(theme.plot_title(name))
            plot.setMenuEnabled(False)
            plot.hideButtons()
            plot.setMouseEnabled(x=False, y=False)
            plot.setAspectLocked(True)
            plot.hideAxis("left")
            plot.hideAxis("bottom")
            plot.setRange(xRange=(-1.15, 1.15), yRange=(-1.15, 1.15), padding=0)
            plot.addItem(pg.PlotCurveItem(np.cos(angle), np.sin(angle),
                                          pen=pg.mkPen(theme.MUTED, width=1)))
            plot.addItem(pg.PlotCurveItem([-1, 1], [0, 0], pen=pg.mkPen(theme.MUTED, width=0.5)))
            plot.addItem(pg.PlotCurveItem([0, 0], [-1, 1], pen=pg.mkPen(theme.MUTED, width=0.5)))
            qcolour = pg.mkColor(colour)
            qcolour.setAlpha(170)
            scatter = pg.ScatterPlotItem(size=6, pen=None, brush=pg.mkBrush(qcolour),
                                         pxMode=True, hoverable=False)
            plot.addItem(scatter)
            self.scatters.append(scatter)
        self.note = pg.TextItem("", color=theme.MUTED, anchor=(0.5, 0.5))
        self.canvas.getItem(0, 0).addItem(self.note)
        self.note.setPos(0, 0)
        self._one_dimensional: list[int] = []

    def set_context(self, context: RunContext) -> None:
        super().set_context(context)
        self.orbit_box.blockSignals(True)
        self.orbit_box.clear()
        self.orbit_box.addItem(AUTO, -1)
        for index, label in enumerate(context.orbit_labels):
            if not context.orbit_trivial[index]:
                dim = int(context.orbit_dims[index])
                suffix = "" if dim == 1 else f"  ({dim}-dim: z only)"
                self.orbit_box.addItem(f"{label}{suffix}", index)
        self.orbit_box.blockSignals(False)
        for scatter in self.scatters:
            scatter.clear()

    def show_snapshot(self, snapshot: Any) -> None:
        super().show_snapshot(snapshot)
        self._redraw()

    def chosen_orbit(self) -> int | None:
        """The orbit drawn now (resolving "most populated" from the snapshot's counts)."""
        if self.context is None or self.snapshot is None:
            return None
        chosen = self.orbit_box.currentData()
        if chosen is None or chosen < 0:
            counts = np.asarray(self.snapshot.orbit_counts, dtype=float).copy()
            counts[self.context.orbit_trivial] = -1
            with_phases = counts * (self.context.orbit_dims == 1)
            if with_phases.max(initial=0) > 0:  # phases exist on one-dimensional orbits only
                counts = np.where(self.context.orbit_dims == 1, counts, -1)
            return int(np.argmax(counts)) if len(counts) else None
        return int(chosen)

    def _redraw(self, *_args) -> None:
        snapshot = self.snapshot
        orbit = self.chosen_orbit()
        if snapshot is None or orbit is None:
            return
        members = np.asarray(snapshot.dominant_orbit) == orbit
        phases = np.asarray(snapshot.phases)[:, members]
        for layer in range(3):
            angles = phases[layer]
            angles = angles[np.isfinite(angles)]
            self.scatters[layer].setData(np.cos(angles), np.sin(angles))
        z = np.asarray(snapshot.alignment)[members]
        z = z[np.isfinite(z)]
        self.scatters[3].setData(z.real, z.imag)
        label = self.context.orbit_labels[orbit]
        dim = int(self.context.orbit_dims[orbit])
        count = int(members.sum())
        self.note.setText("" if dim == 1 else "phases need a\n1-dim irrep")
        haar = np.asarray(snapshot.haar)[orbit] if len(np.asarray(snapshot.haar)) else []
        if dim == 1 and len(haar) and np.all(np.isfinite(haar)):
            stats = "  ".join(f"R{i + 1}={value:.2f}" for i, value in enumerate(haar))
        else:
            stats = "R: n/a"
        self.haar_label.setText(f"{label}: {count} neurons   {stats}")
