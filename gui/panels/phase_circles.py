"""(b) Phase circles: each neuron of one orbit as a point on the unit circle, per layer."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyqtgraph as pg
from PyQt6.QtWidgets import QComboBox, QHBoxLayout, QLabel

from gui import theme
from gui.panels.base import Panel, fix_text_height
from gui.run_context import RunContext

DEFINITION = (
    "One point per neuron whose dominant orbit is the chosen one.\n"
    "One-dimensional irreps: φ¹ = arg â[ρ], φ² = arg b̂[ρ], ψ = arg ĉ[ρ] for a fixed "
    "representative ρ of the orbit, each drawn at angle φ on the unit circle; Haar "
    "statistics R_ι = |mean_m exp(iιφ_m)| for ι = 1..4 (theory, Abelian, one-hot: → 0).\n"
    "Matrix irreps (dimension ≥ 2), quantities that do not depend on the basis of ρ: "
    "r₁ = σ₁²/‖·‖_F² of â, b̂, ĉ, and the overlap |⟨v₁(b̂), u₁(â)⟩| of b̂'s top right and "
    "â's top left singular vectors (top two for quaternionic irreps), each drawn as a "
    "radius (neurons spread around the circle); theory: all → 1, the points reach the "
    "circle.\n"
    "Both: the alignment phasor z = tr(ĉ† b̂ â) / (‖b̂ â‖_F ‖ĉ‖_F); theory: z → 1."
)
AUTO = "most populated"  # the orbit with the most neurons, of any dimension
PHASE_TITLES = ("φ¹ (a)", "φ² (b)", "ψ (c)", "z")
MATRIX_TITLES = ("r₁(â)", "r₁(b̂)", "r₁(ĉ)", "z", "overlap")
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
        # on a line of its own, wrapped: beside the orbit box it lost its end
        self.haar_label.setWordWrap(True)
        fix_text_height(self.haar_label, 2)
        bar.addStretch(1)
        self.layout_.addLayout(bar)
        self.layout_.addWidget(self.haar_label)

        self.canvas = pg.GraphicsLayoutWidget()
        self.canvas.setToolTip(DEFINITION)
        self.layout_.addWidget(self.canvas, 1)
        angle = np.linspace(0, 2 * np.pi, CIRCLE_POINTS)
        self.scatters: list[pg.ScatterPlotItem] = []
        self.circle_plots: list[pg.PlotItem] = []
        colours = (*theme.LAYER_COLOURS, theme.GOOD, theme.ACCENT)
        titles = (*PHASE_TITLES, MATRIX_TITLES[4])
        for column, (name, colour) in enumerate(zip(titles, colours, strict=True)):
            plot = pg.PlotItem() if column == 4 else self.canvas.addPlot(row=0, col=column)
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
            self.circle_plots.append(plot)
        self.matrix_mode = False
        self.shown_orbit: int | None = None

    def set_context(self, context: RunContext) -> None:
        super().set_context(context)
        self.orbit_box.blockSignals(True)
        self.orbit_box.clear()
        self.orbit_box.addItem(AUTO, -1)
        for index, label in enumerate(context.orbit_labels):
            if not context.orbit_trivial[index]:
                self.orbit_box.addItem(label, index)
        self.orbit_box.blockSignals(False)
        self.shown_orbit = None
        for scatter in self.scatters:
            scatter.clear()
        self.haar_label.setText("")

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
            if len(counts) != self.context.num_orbits:
                return None
            counts[self.context.orbit_trivial] = -1
            return int(np.argmax(counts)) if len(counts) else None
        return int(chosen)

    def _set_matrix_mode(self, matrix: bool) -> None:
        """Titles and the fifth circle for matrix irreps (overlap), or the phases."""
        if matrix == self.matrix_mode:
            return
        self.matrix_mode = matrix
        titles = MATRIX_TITLES if matrix else PHASE_TITLES
        for plot, title in zip(self.circle_plots, titles, strict=False):
            plot.setTitle(theme.plot_title(title))
        extra = self.circle_plots[4]
        if matrix:
            self.canvas.addItem(extra, row=0, col=4)
        else:
            self.canvas.removeItem(extra)
        layout = self.canvas.ci.layout
        for column in range(5):
            layout.setColumnStretchFactor(column, 1 if matrix or column < 4 else 0)
            layout.setColumnPreferredWidth(column, 10)

    def _redraw(self, *_args) -> None:
        snapshot = self.snapshot
        orbit = self.chosen_orbit()
        self.shown_orbit = orbit
        if snapshot is None or orbit is None:
            for scatter in self.scatters:  # never a point of another orbit or run
                scatter.clear()
            self.haar_label.setText("")
            return
        members = np.asarray(snapshot.dominant_orbit) == orbit
        dim = int(self.context.orbit_dims[orbit])
        self._set_matrix_mode(dim >= 2)
        z = np.asarray(snapshot.alignment)[members]
        z = z[np.isfinite(z)]
        self.scatters[3].setData(z.real, z.imag)
        label = self.context.orbit_labels[orbit]
        count = int(members.sum())
        if dim >= 2:
            self._draw_matrix_neurons(snapshot, members)  # sets the four other circles
            stats = f"mean r₁ {np.nanmean(np.asarray(snapshot.rank_one)[:, members]):.2f}" \
                if count else ""
            self.haar_label.setText(f"{label}: {count} neurons   {stats}")
            return
        self.scatters[4].clear()  # the overlap belongs to matrix irreps
        phases = np.asarray(snapshot.phases)[:, members]
        for layer in range(3):
            angles = phases[layer]
            angles = angles[np.isfinite(angles)]
            self.scatters[layer].setData(np.cos(angles), np.sin(angles))
        haar = np.asarray(snapshot.haar)[orbit] if len(np.asarray(snapshot.haar)) else []
        if len(haar) and np.all(np.isfinite(haar)):
            stats = "  ".join(f"R{i + 1}={value:.2f}" for i, value in enumerate(haar))
        else:
            stats = "R: n/a"
        self.haar_label.setText(f"{label}: {count} neurons   {stats}")

    def _draw_matrix_neurons(self, snapshot: Any, members: np.ndarray) -> None:
        """r₁ of â, b̂, ĉ and the singular-vector overlap as radii, one angle per neuron."""
        count = int(members.sum())
        angles = 2 * np.pi * np.arange(count) / max(count, 1)
        radii = [np.asarray(snapshot.rank_one)[layer, members] for layer in range(3)]
        overlap = getattr(snapshot, "singular_overlap", None)
        radii.append(np.asarray(overlap)[members] if overlap is not None else np.zeros(0))
        for scatter, radius in zip((*self.scatters[:3], self.scatters[4]), radii, strict=True):
            if radius.size != count:
                scatter.clear()
                continue
            finite = np.isfinite(radius)
            scatter.setData(radius[finite] * np.cos(angles[finite]),
                            radius[finite] * np.sin(angles[finite]))
